"""Training entry point of the bundle: SageMaker runs ``python train.py --<hyperparameter> <value> ...``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("workloads.training.train", run_name="__main__", alter_sys=True)

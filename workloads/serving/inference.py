"""``SAGEMAKER_PROGRAM=inference.py``: the handler functions where SageMaker's framework containers look.

A framework container (scikit-learn's, or any built on the SageMaker inference toolkit) imports this
file from the code bundle's root and calls these four functions; ``serve`` calls the very same ones.
"""

from workloads.serving.handler import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]

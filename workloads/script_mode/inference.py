"""Serving entry of the bundle: the scikit-learn container imports model_fn/input_fn/predict_fn/output_fn here."""

from workloads.serving.handler import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]

"""Inference: the SageMaker handler functions and a small, fast HTTP server for the container contract."""

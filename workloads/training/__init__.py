"""Training, evaluation and registration, following SageMaker's training and processing script contracts."""

"""Entry files placed at the top of the SageMaker script-mode bundle (``sourcedir.tar.gz``).

SageMaker's framework containers run ``train.py`` for training and import ``inference.py`` for serving
from the bundle's root; these files only hand over to the real workloads, so the same code runs in the
container, in the sandbox and in tests.
"""

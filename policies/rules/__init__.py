"""The rules, one module per service (``s3``, ``kms``, ``iam``, ``glue``, ``sagemaker``, ``cloudwatch``, ``tagging``,
``cost``, ``kubernetes``), and what they share to read properties (``props``) and to find the resources that
belong together (``links``).

They live in this subpackage, not beside ``policies/__main__.py``: the Pulumi CLI runs the pack's folder as a
script, with that folder first on the import path, where modules named ``s3``, ``sagemaker`` or ``kubernetes`` would
shadow installed packages of those names. Inside ``policies.rules`` they are only ever imported by their full names.
"""

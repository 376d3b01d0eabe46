"""The realizer: the real program from ``infra/``, each registration created in the emulator.

- ``commands``: ``up`` / ``destroy`` / ``status`` against the sandbox's emulator and state file.
- ``mocks``: the realizing Pulumi mock the runner is given instead of the recording one.
- ``registry``: the one table, resource type -> handler, and the declared-only types with their reasons.
- ``base``: ``Context`` and ``Handler`` (which input fields a handler carries or records).
- one module per service (``s3``, ``kms``, ``iam``, ``glue``, ``cloudwatch``, ``sns``, ``events``,
  ``sagemaker``, ``autoscaling``, ``ecr``, ``sqs``, ``codebuild``) with its handlers.
"""

from prodline.sandbox.realizer.base import Context, Handler, UnaccountedInput
from prodline.sandbox.realizer.commands import destroy, emulator_environment, forget, region_of, status, up
from prodline.sandbox.realizer.mocks import RealizingMocks, UpResult
from prodline.sandbox.realizer.registry import DECLARED_ONLY, HANDLERS, declared_only_reason, is_declared_only

__all__ = [
    "DECLARED_ONLY",
    "HANDLERS",
    "Context",
    "Handler",
    "RealizingMocks",
    "UnaccountedInput",
    "UpResult",
    "declared_only_reason",
    "destroy",
    "emulator_environment",
    "forget",
    "is_declared_only",
    "region_of",
    "status",
    "up",
]

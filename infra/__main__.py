"""Entry point `pulumi up` runs (Pulumi.yaml: ``main: infra/``)."""

import pulumi

from infra.config import ConfigError, from_pulumi
from infra.stack import build_stack

try:
    config = from_pulumi()
except ConfigError as err:
    # RunError: Pulumi prints the message without a Python traceback.
    raise pulumi.RunError(str(err)) from None

build_stack(config)

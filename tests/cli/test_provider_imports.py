"""The provider service packages loaded one module at a time export what their real ``__init__`` exports."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from prodline.provider_imports import snake_case, star_imported_modules
from tests.helpers import run_python

SERVICES = ("appautoscaling", "budgets", "cloudwatch", "codebuild", "ecr", "eks", "glue", "iam", "kinesis", "kms",
            "s3", "sagemaker", "sns", "sqs")
"""The pulumi_aws services the program declares resources of or calls functions from."""
DESCRIBE = """
import importlib, json, sys
from prodline import provider_imports
if sys.argv[1] == "lazy":
    provider_imports.install()
names = json.load(sys.stdin)
def described(value):
    if isinstance(value, type(sys)):
        return value.__name__
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
found = {}
for service, exported in names.items():
    package = importlib.import_module(f"pulumi_aws.{service}")
    package._utilities  # the top package imports its services lazily: the first attribute loads one
    exported = exported or [n for n in dir(package) if not n.startswith("__")]
    found[service] = {name: described(getattr(package, name)) for name in exported}
print(json.dumps({"found": found, "fully_loaded": provider_imports.FULLY_LOADED}))
"""


def _describe(mode: str, names: dict[str, list[str]]) -> dict:
    return json.loads(run_python("-c", DESCRIBE, mode, stdin=json.dumps(names)).stdout)


def test_every_name_resolves_as_the_real_init_exports_it_without_loading_the_whole_service():
    real = _describe("real", {service: [] for service in SERVICES})["found"]
    lazy = _describe("lazy", {service: sorted(found) for service, found in real.items()})
    assert lazy["found"] == real
    assert lazy["fully_loaded"] == [], "these services needed their real __init__: teach _candidates their names"
    assert sum(len(found) for found in real.values()) > 1000


def test_a_name_no_submodule_exports_runs_the_real_init_and_is_still_missing():
    script = ("import pulumi_aws as aws, sys\nfrom prodline import provider_imports\nprovider_imports.install()\n"
              "print(hasattr(aws.sqs, 'NoSuchResource'), provider_imports.FULLY_LOADED,\n"
              "      'pulumi_aws.sqs.queue_policy' in sys.modules)\n")
    done = run_python("-c", script, timeout=120)
    assert done.stdout.split() == ["False", "['pulumi_aws.sqs']", "True"]


def test_only_generated_star_import_packages_are_taken_over():
    package = Path(importlib.util.find_spec("pulumi_aws").submodule_search_locations[0])
    assert star_imported_modules(package / "config" / "__init__.py") is None  # it swaps its module class
    modules = star_imported_modules(package / "sagemaker" / "__init__.py")
    assert {"model", "endpoint_configuration", "_inputs"} <= set(modules)
    assert star_imported_modules(package / "no-such-service" / "__init__.py") is None


def test_snake_case_is_the_generators_module_name():
    assert [snake_case(n) for n in ("EndpointConfiguration", "BucketV2", "MetricAlarm", "SSLPolicy", "Queue")] == [
        "endpoint_configuration", "bucket_v2", "metric_alarm", "ssl_policy", "queue"]

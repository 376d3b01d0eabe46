"""`prodline preview` and `prodline policy` import what the program declares and nothing more: the provider's
resource modules of the declared types, no SageMaker SDK, no AWS client, no Kubernetes provider for a stack
serving on SageMaker. Each gain of docs/benchmarks.md ("Preview and policy") fails one of these when lost."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import run_python

RUN = """
import contextlib, io, json, sys
from prodline import cli, provider_imports
with contextlib.redirect_stdout(io.StringIO()):
    code = cli.main(sys.argv[1:])
inputs = {name: [type(module).__name__, sum(n.endswith("Args") for n in vars(module)),
                 sum(n.endswith("Args") for n in module.__all__)]
          for name, module in sys.modules.items() if name.startswith("pulumi_aws.") and name.count(".") == 2
          and name.endswith("._inputs")}
print(json.dumps({"code": code, "modules": sorted(sys.modules), "fully_loaded": provider_imports.FULLY_LOADED,
                  "inputs": inputs}))
"""
NOT_IMPORTED = ("sagemaker", "botocore", "boto3", "pulumi_kubernetes")
SHARED = ("_inputs", "_enums", "outputs")
_CAMEL_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _imports(*argv: str) -> dict:
    """What a fresh interpreter has imported after running the command (stdout swallowed)."""
    return json.loads(run_python("-c", RUN, *argv).stdout)


def declared_modules(preview: list[dict]) -> set[str]:
    """``aws:sagemaker/endpointConfiguration:EndpointConfiguration`` ->
    ``pulumi_aws.sagemaker.endpoint_configuration``: the generated module of each declared type."""
    modules = set()
    for resource in preview:
        provider, _, rest = resource["type"].partition(":")
        if provider == "aws":
            service, _, module = rest.split(":")[0].partition("/")
            modules.add(f"pulumi_aws.{service}.{_CAMEL_BREAK.sub('_', module).lower()}")
    return modules


@pytest.fixture(scope="module")
def prod_preview() -> list[dict]:
    return json.loads(run_python("-m", "prodline.cli", "preview", "--stack", "prod", "--json").stdout)


@pytest.mark.parametrize("argv", [("preview", "--stack", "prod", "--json"), ("policy", "--stack", "prod")])
def test_the_command_imports_only_the_resource_modules_of_the_declared_types(argv, prod_preview):
    run = _imports(*argv)
    assert run["code"] == 0
    assert [m for m in run["modules"] if m.split(".")[0] in NOT_IMPORTED] == []
    resource_modules = {m for m in run["modules"]
                        if m.startswith("pulumi_aws.") and m.count(".") == 2 and m.rsplit(".", 1)[1] not in SHARED}
    assert resource_modules == declared_modules(prod_preview)
    assert run["fully_loaded"] == []
    # The services' argument types are built one class at a time: the declared resources need about a third
    # (SageMaker's 53 of 410; Kinesis's firehose names nearly all of its own).
    kinds = {kind for kind, _, _ in run["inputs"].values()}
    built, exported = (sum(counts) for counts in zip(*((b, n) for _, b, n in run["inputs"].values()), strict=True))
    assert kinds == {"ClassModule"} and len(run["inputs"]) >= 10
    assert built < exported / 2, f"{built} of {exported} argument types built"


def test_declared_modules_names_each_type_s_module():
    preview = [{"type": "aws:sagemaker/endpointConfiguration:EndpointConfiguration"}, {"type": "aws:s3/bucket:Bucket"},
               {"type": "prodline:data:DataLake"}, {"type": "kubernetes:apps/v1:Deployment"}]
    assert declared_modules(preview) == {"pulumi_aws.sagemaker.endpoint_configuration", "pulumi_aws.s3.bucket"}

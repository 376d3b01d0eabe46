"""The Pulumi engine: its preflight and config without the CLI; the Automation API itself only where it exists."""

from __future__ import annotations

import shutil
import uuid

import pytest

from prodline import automation
from prodline.delivery.engines import Engine, EngineUnavailable, PulumiEngine, model_config
from tests.delivery.conftest import FakeEngine

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prodline-dev-churn/4"


def test_the_pinned_version_is_the_stacks_model_config():
    assert model_config(ARN) == {"prodline:modelPackageArn": ARN}
    assert model_config(None) == {"prodline:modelPackageArn": "none"}


def test_both_engines_satisfy_the_protocol():
    assert isinstance(PulumiEngine(), Engine) and isinstance(FakeEngine(), Engine)


def test_without_the_cli_the_engine_says_what_to_install_before_doing_anything(monkeypatch):
    monkeypatch.setattr("prodline.automation.shutil.which", lambda name: None)

    with pytest.raises(EngineUnavailable, match="install the Pulumi CLI") as raised:
        PulumiEngine().up("dev", ARN)
    assert "\n" not in str(raised.value)


def test_the_workspace_gets_the_backend_and_secrets_provider_from_the_environment():
    env = {"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_SECRETS_PROVIDER": "awskms://alias/prodline-pulumi-secrets",
           "HOME": "/home/someone"}

    assert automation.backend_env(env) == {"PULUMI_BACKEND_URL": "s3://state-bucket",
                                           "PULUMI_SECRETS_PROVIDER": "awskms://alias/prodline-pulumi-secrets"}
    assert automation.backend_env({}) == {}


@pytest.mark.skipif(shutil.which("pulumi") is None,
                    reason="the Pulumi CLI is not installed here (its installer downloads a binary); with it, this "
                           "selects a throwaway stack in a local file backend and pins a model version on it")
def test_the_engine_pins_the_version_on_a_stack_in_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")
    monkeypatch.setenv("PULUMI_SECRETS_PROVIDER", "passphrase")
    name = f"delivery-test-{uuid.uuid4().hex[:8]}"
    stack_file = automation.ROOT / f"Pulumi.{name}.yaml"
    try:
        workspace_stack = automation.select_stack(name)
        automation.set_configs(workspace_stack, model_config(ARN))
        assert workspace_stack.get_config("prodline:modelPackageArn").value == ARN
        workspace_stack.workspace.remove_stack(name)
    finally:
        stack_file.unlink(missing_ok=True)

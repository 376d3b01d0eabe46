"""The Automation API path (real CLI, pulumilocal-style settings); skipped where the Pulumi CLI is absent."""

from __future__ import annotations

import shutil

import pytest

from prodline.automation import EMULATED_SERVICES, emulator_provider_config


def test_every_service_points_at_the_emulator():
    config = emulator_provider_config("http://127.0.0.1:4566")
    (endpoints,) = config["aws:endpoints"]
    assert set(endpoints) == set(EMULATED_SERVICES)
    assert set(endpoints.values()) == {"http://127.0.0.1:4566"}
    assert config["aws:skipCredentialsValidation"] == "true"


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("pulumi") is None,
                    reason="the Pulumi CLI is not installed here (its installer downloads a binary); "
                           "with it and the AWS plugin, this deploys the dev stack into the emulator")
def test_pulumi_up_against_the_emulator(emulator_url):
    from prodline.automation import up_against_emulator

    result = up_against_emulator("dev", emulator_url, on_output=lambda line: None)
    assert result.summary.result == "succeeded"

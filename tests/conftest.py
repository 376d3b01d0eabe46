"""Test-wide settings: no test may reach a real AWS account."""

import os

import pytest


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """Dummy credentials and a fixed region, so a stray boto3 call can never use a developer's account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": os.environ.get("PRODLINE_TEST_REGION", "eu-west-1"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


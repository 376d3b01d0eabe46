"""An emulator for the sandbox tests: AWS_ENDPOINT_URL when set, else a moto server on a free loopback port."""

from __future__ import annotations

import os

import pytest

from tests.helpers import moto_server


@pytest.fixture(scope="session")
def emulator_url():
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield os.environ["AWS_ENDPOINT_URL"]
        return
    with moto_server() as url:
        yield url

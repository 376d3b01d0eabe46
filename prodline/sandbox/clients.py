"""boto3 clients bound to the emulator: dummy credentials, one attempt (unimplemented calls fail fast)."""

from __future__ import annotations

import threading
from functools import cache

import boto3
from botocore.config import Config

from prodline.sandbox.emulator import DUMMY_CREDENTIALS

_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60)
_CREATING = threading.Lock()
"""boto3's default session is not safe to create clients from in two threads at once (a stack realized in the
background while another runs its workloads); using the clients is."""


class Clients:
    """A cache of clients for one emulator endpoint and region."""

    def __init__(self, endpoint_url: str, region: str):
        self.endpoint_url = endpoint_url
        self.region = region

    @cache  # noqa: B019 - one Clients per sandbox run; the cache dies with it
    def __call__(self, service: str):
        with _CREATING:
            return boto3.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region, config=_CONFIG,
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"])

"""The embedded moto server's slowest first answers, asked for while nobody waits for them.

moto builds a service's backend on the first request that reaches it: 1.3 s for SSM (which the deploy path
first reads in the first deploy, minutes later), 0.4 s for API Gateway, 0.2 s for Glue, 0.1 s for SageMaker
(measured on a fresh server; every other service the sandbox uses answers its first call in under 0.1 s).
Right after the server starts, one read-only request per service goes out from a background thread: the
server, another process on another core, builds them while this process imports and runs the program.
Requests stay on the server's loopback URL; any answer (even an error) has done the work, and a failure is
ignored: the warm-up only moves time, the first real call would pay it otherwise. Not all of it is moved off
the caller's path: moto holds its dispatcher's lock while it builds a service, so a request that arrives
meanwhile waits (measured: the first ``GetCallerIdentity`` 0.9 s instead of 0.1 s, with SSM being built).
"""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.request

from prodline.net import LOOPBACK_OPENER, is_loopback_url

REGION = "us-east-1"
"""moto builds a service's module once for every region; the per-region backend is built in milliseconds."""
WARMED = (
    ("ssm", "POST", "/", "AmazonSSM.DescribeParameters"),
    ("apigateway", "GET", "/restapis", None),
    ("glue", "POST", "/", "AWSGlue.GetDatabases"),
    ("sagemaker", "POST", "/", "SageMaker.ListEndpoints"),
)
"""(service, method, path, X-Amz-Target): a read that names nothing, for each service worth it."""


def request_for(url: str, service: str, method: str, path: str, target: str | None) -> urllib.request.Request:
    """What moto routes to ``service``: the credential scope of the (unchecked) signature names it."""
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    data = None
    if target:
        headers |= {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        data = b"{}"
    return urllib.request.Request(url + path, data=data, headers=headers, method=method)


def warm_up(url: str, timeout: float = 30.0) -> dict[str, int]:
    """Send the requests, one after another (the server builds one service at a time anyway); the HTTP status
    each service answered with, until the server stops answering."""
    if not is_loopback_url(url):
        raise ValueError(f"the warm-up only talks to a loopback emulator, not {url}")
    answered: dict[str, int] = {}
    for warmed in WARMED:
        try:
            with LOOPBACK_OPENER.open(request_for(url, *warmed), timeout=timeout) as answer:
                answer.read()  # the whole answer: the server has built the service and is done with it
                answered[warmed[0]] = answer.status
        except urllib.error.HTTPError as err:
            answered[warmed[0]] = err.code  # an answer: the service is built
        except (OSError, http.client.HTTPException):
            break  # the server is gone or cut the answer short (stopped early): nothing left to warm
    return answered


def start_warm_up(url: str) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(url,), name="emulator-warm-up", daemon=True)
    thread.start()
    return thread

"""The demo's front-door step: the sample rows scored through ``POST /v1/predict`` as an application would, then a
request without a key (refused) and a burst past the client's declared rate (throttled), all through the
sandbox gateway's front door, which serves the REST API the dev stack declared.
"""

from __future__ import annotations

from prodline.front_door_client import resolve
from workloads.client.front_door import API_KEY_HEADER, PREDICT, http_post, predict
from workloads.client.invoke import JSON, Batch, predictions

BURST_CAP = 200
"""Requests the throttling check sends at most; the dev client's burst (frontDoorClientBurstLimit) is far below."""


def front_door_sample(sandbox, rows: list[str]) -> tuple[list[str], str]:
    """(predictions, one-line result): scored through the front door, one refused without a key, one throttled."""
    target = resolve(sandbox.clients("apigateway"), sandbox.stack, gateway_url=sandbox.gateway_url,
                     region=sandbox.region)
    body = "\n".join(rows).encode()
    scores = [f"{float(p):.3f}" for p in predictions(predict(target.url, target.api_key, Batch(body, len(rows)),
                                                             "text/csv", JSON, max_attempts=3))]
    refused = http_post(target.url + PREDICT, body, {"Content-Type": "text/csv"})
    keyed = {API_KEY_HEADER: target.api_key}
    health = target.url + "/v1/health"
    sent = 0
    while sent < BURST_CAP:  # GET /v1/health spends the same tokens without scoring anything
        sent += 1
        answer = http_post(health, None, keyed, method="GET")
        if answer.status == 429:
            break
    else:
        raise RuntimeError(f"{BURST_CAP} requests in a burst were never throttled: is the stage's throttling read?")
    if refused.status not in (401, 403):
        raise RuntimeError(f"a request without an API key got {refused.status}, not 401/403")
    return scores, (f"predictions {', '.join(scores)} via POST /v1/predict; no key: {refused.status}; "
                    f"request {sent} of a burst: 429, Retry-After {answer.retry_after:g} s")


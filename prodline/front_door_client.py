"""Where a stack's front door answers and with which key: what ``prodline invoke --via front-door`` needs.

The API is found by its name (``prodline-<env>-front-door``, ``infra/front_door.py``) through API Gateway's own
API, as a team with access to the account would find it: in AWS its execute-api URL, in the sandbox (when the
emulator is the API Gateway endpoint and the gateway runs) the gateway's loopback form of the same URL. The key is
the named client's API key of the stage's usage plan (``GetApiKeys`` with values), unless one is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodline.sandbox.gateway.front_door import invoke_url


class NoFrontDoor(RuntimeError):
    """The stack declares no front door in the account (or emulator) the client reaches."""


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str
    api_id: str
    stage: str


def resolve(apigateway, environment: str, *, client: str = "app", api_key: str | None = None,
            region: str = "eu-west-1", gateway_url: str | None = None) -> Target:
    """The stage URL and the client's key of the front door of ``environment``'s stack."""
    name = f"prodline-{environment}-front-door"
    found = [api for api in apigateway.get_rest_apis(limit=500)["items"] if api["name"] == name]
    if not found:
        raise NoFrontDoor(f"no REST API named {name}: is the stack up, with prodline:frontDoorEnabled=true?")
    api_id = found[-1]["id"]
    stages = [s["stageName"] for s in apigateway.get_stages(restApiId=api_id)["item"]]
    stage = environment if environment in stages else (stages[0] if stages else None)
    if stage is None:
        raise NoFrontDoor(f"{name} ({api_id}) has no stage yet")
    if api_key is None:
        key_name = f"{name}-{client}"
        keys = [k for k in apigateway.get_api_keys(nameQuery=key_name, includeValues=True, limit=500)["items"]
                if k["name"] == key_name]
        if not keys:
            raise NoFrontDoor(f"{name} has no API key named {key_name}: clients are prodline:frontDoorClients")
        api_key = keys[0]["value"]
    url = invoke_url(gateway_url, api_id, stage) if gateway_url else \
        f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"
    return Target(url, api_key, api_id, stage)

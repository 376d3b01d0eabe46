"""The HTTP front: SageMaker Runtime's InvokeEndpoint for boto3, and the loopback-only control API.

  POST /endpoints/{EndpointName}/invocations     wire-compatible with boto3's InvokeEndpoint
  *    /restapis/{api-id}/{stage}/_user_request_/{path}   the front door (``front_door``)
  GET  /_prodline/status, POST /_prodline/{reload,deploy,promote,rollback,flush}

The control API answers a loopback client that sends the sandbox's token (``Authorization: Bearer <token>``,
the token ``prodline.sandbox.hosting`` wrote, mode 0600, beside the gateway's record); anything else gets 401.
A request body needs one plain ``Content-Length``: a missing body is empty, a malformed, negative, repeated or
oversized length is a 400 and the connection is closed.

The handler only parses and answers: it turns a request into a call on ``Gateway`` and a ``GatewayError`` into
a response through the two mappings in ``errors``, so the wire format is decided in one place.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from prodline.net import is_loopback_address
from prodline.sandbox.gateway.app import Gateway
from prodline.sandbox.gateway.errors import (
    ControlError,
    GatewayError,
    ValidationError,
    control_error_response,
    runtime_error_response,
)
from prodline.sandbox.gateway.front_door import Call, parse_path
from prodline.sandbox.gateway.servers import CUSTOM_ATTRIBUTES, Invocation

LOG = logging.getLogger(__name__)

CONTROL_PREFIX = "/_prodline/"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # SageMaker's real-time payload limit
FLEET_HEADER = "X-Prodline-Fleet"
ROLE_HEADER = "X-Prodline-Fleet-Role"
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
TOKEN_SCHEME = "Bearer"
_LENGTH = re.compile(r"[0-9]{1,16}")


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway, token: str):
        if not token:
            raise ValueError("the control API needs a token")
        super().__init__(address, GatewayHandler)
        self.gateway = gateway
        self.token = token


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle + delayed ACK would add 40 ms
    server: GatewayServer

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith(CONTROL_PREFIX):
            self._control(method, path[len(CONTROL_PREFIX):])
            return
        door = parse_path(path)
        if door is not None:
            self._front_door(method, *door)
            return
        parts = path.split("/")
        if method == "POST" and len(parts) == 4 and parts[1] == "endpoints" and parts[3] == "invocations":
            self._invoke(unquote(parts[2]))
            return
        with contextlib.suppress(GatewayError):
            self._read_body()
        self._send(404, {"x-amzn-ErrorType": "UnknownOperationException"},
                   json.dumps({"message": f"no operation {method} {path}"}).encode(), "application/json")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ValidationError("chunked request bodies are not supported; send Content-Length")
        length = self._content_length()
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            raise ValidationError(f"the request body of {length} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        return self.rfile.read(length) if length else b""

    def _content_length(self) -> int:
        """The one Content-Length, as digits only; where the body ends is unknown otherwise, so the connection
        is closed with the 400."""
        values = self.headers.get_all("Content-Length") or []
        if len(values) > 1:
            self.close_connection = True
            raise ValidationError(f"{len(values)} Content-Length headers; send one")
        text = values[0].strip() if values else "0"
        if not _LENGTH.fullmatch(text):
            self.close_connection = True
            raise ValidationError(f"Content-Length {text[:20]!r} is not a number of bytes")
        return int(text)

    def _invoke(self, endpoint: str) -> None:
        gateway = self.server.gateway
        try:
            request = Invocation(endpoint=endpoint, body=self._read_body(),
                                 content_type=self.headers.get("Content-Type", ""),
                                 accept=self.headers.get("Accept", ""),
                                 target_variant=self.headers.get("X-Amzn-SageMaker-Target-Variant"),
                                 custom_attributes=self.headers.get(CUSTOM_ATTRIBUTES),
                                 inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"))
            result = gateway.invoke(request)
        except GatewayError as error:
            status, headers, body = runtime_error_response(error, gateway.account)
            self._send(status, headers, body, "application/json")
            return
        except Exception as error:
            LOG.exception("invocation of %s failed", endpoint)
            status, headers, body = runtime_error_response(GatewayError(f"internal failure: {error}"), gateway.account)
            self._send(status, headers, body, "application/json")
            return
        headers = {VARIANT_HEADER: result.variant, FLEET_HEADER: result.fleet, ROLE_HEADER: result.role}
        if result.answer.custom_attributes:
            headers[CUSTOM_ATTRIBUTES] = result.answer.custom_attributes
        self._send(200, headers, result.answer.body, result.answer.content_type)

    def _front_door(self, method: str, api_id: str, stage: str, resource_path: str) -> None:
        try:
            body = self._read_body()
        except GatewayError as error:
            self._send(400, {}, json.dumps({"error": "Bad Request", "message": error.message}).encode(),
                       "application/json")
            return
        call = Call(method, resource_path, {k.lower(): v for k, v in self.headers.items()}, body,
                    self.client_address[0])
        answer = self.server.gateway.front_door.handle(api_id, stage, call)
        self._send(answer.status, answer.headers, answer.body, answer.content_type)

    def _control(self, method: str, action: str) -> None:
        try:
            self._authorize()
            payload = self._json_body()
            answer = self._control_action(method, action, payload)
            self._send(200, {}, json.dumps(answer, default=str).encode(), "application/json")
        except GatewayError as error:
            status, body = control_error_response(error)
            self._send(status, {}, body, "application/json")
        except (ClientError, BotoCoreError) as error:
            status, body = control_error_response(GatewayError(f"the emulator refused a call: {error}"))
            self._send(status, {}, body, "application/json")

    def _control_action(self, method: str, action: str, payload: dict[str, Any]) -> Any:
        gateway = self.server.gateway
        if method == "GET" and action == "status":
            return gateway.status()
        if method != "POST":
            raise ControlError(405 if action in CONTROL_ACTIONS else 404, f"no control action {method} {action}")
        if action == "reload":
            return gateway.reload()
        if action == "flush":
            return gateway.flush()
        if action == "deploy":
            return gateway.deploy(_field(payload, "endpoint"), _field(payload, "endpoint_config"),
                                  payload.get("canary_percent"))
        if action == "promote":
            return gateway.promote(_field(payload, "endpoint"))
        if action == "rollback":
            return gateway.rollback(_field(payload, "endpoint"))
        raise ControlError(404, f"no control action {action!r}; actions: {', '.join(CONTROL_ACTIONS)}")

    def _json_body(self) -> dict[str, Any]:
        raw = self._read_body()
        if not raw.strip():
            return {}
        try:
            payload = json.loads(raw)
        except ValueError as error:
            raise ControlError(400, f"the body is not JSON: {error}") from None
        if not isinstance(payload, dict):
            raise ControlError(400, "the body must be a JSON object")
        return payload

    def _authorize(self) -> None:
        """A loopback client with the sandbox's token, or a ControlError (the body is left unread: the connection
        closes after the answer)."""
        if not is_loopback_address(self.client_address[0]):
            self.close_connection = True
            raise ControlError(403, "the control API answers loopback clients only")
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme != TOKEN_SCHEME or not hmac.compare_digest(token.strip().encode(), self.server.token.encode()):
            self.close_connection = True
            raise ControlError(401, f"the control API needs the sandbox's token: send 'Authorization: {TOKEN_SCHEME} "
                                    "<token>', the token in gateway.token beside the gateway's gateway.json")

    def _send(self, status: int, headers: Mapping[str, str], body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


CONTROL_ACTIONS = ("status", "reload", "deploy", "promote", "rollback", "flush")


def _field(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(400, f"{name} must be a non-empty string, got {value!r}")
    return value

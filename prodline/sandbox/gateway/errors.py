"""The gateway's failures and their two mappings to HTTP, kept in one place so no handler invents a status.

Every failure the gateway can explain is a ``GatewayError`` with a status and a code. The runtime API answers
it in the SageMaker Runtime wire format (botocore picks the exception class from ``x-amzn-ErrorType``), the
control API as ``{"error", "message"}`` JSON; nothing else turns an error into a response.
"""

from __future__ import annotations

import json
from typing import Any


class GatewayError(Exception):
    """A failure the gateway answers with a typed status and message, never a traceback."""

    status = 500
    code = "InternalFailure"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationError(GatewayError):
    """The request is invalid (unknown endpoint or variant, bad body): botocore raises ``ValidationError``."""

    status, code = 400, "ValidationError"


class ServiceUnavailable(GatewayError):
    """The endpoint exists in the emulator but has no healthy fleet (its start failed), or we are stopping."""

    status, code = 503, "ServiceUnavailable"


class ModelError(GatewayError):
    """The container answered 4xx/5xx (or not at all): SageMaker's 424 with the container's status and body."""

    status, code = 424, "ModelError"

    def __init__(self, message: str, original_status: int, original_message: str):
        super().__init__(message)
        self.original_status = original_status
        self.original_message = original_message


class ControlError(GatewayError):
    """A control-API request that cannot be done; ``status`` says why (400 bad input, 404, 409 conflict)."""

    code = "ControlError"

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class FleetStartError(GatewayError):
    """A fleet could not start (model missing or broken, ``serve`` exited or never answered /ping)."""

    code = "FleetStartError"


class EndpointMissing(GatewayError):
    """The emulator has no such endpoint or endpoint configuration."""

    status, code = 404, "NotFound"


def runtime_error_response(error: GatewayError, account: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) in the SageMaker Runtime wire format: botocore picks the class from the header."""
    body: dict[str, Any] = {"message": error.message}
    if isinstance(error, ModelError):
        body.update(ErrorCode="CLIENT_ERROR_FROM_MODEL" if 400 <= error.original_status < 500
                    else "SERVER_ERROR_FROM_MODEL", OriginalStatusCode=error.original_status,
                    OriginalMessage=error.original_message,
                    LogStreamArn=f"arn:aws:logs:sandbox:{account}:log-group:/aws/sagemaker/Endpoints")
    return error.status, {"x-amzn-ErrorType": error.code}, json.dumps(body).encode()


def control_error_response(error: GatewayError) -> tuple[int, bytes]:
    return error.status, json.dumps({"error": error.code, "message": error.message}).encode()

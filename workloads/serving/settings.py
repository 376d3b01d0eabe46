"""``serve``'s settings: read once from the environment (or the matching option), checked, then frozen.

Every bound the server enforces on a client is here, with a default that is safe for SageMaker hosting:

  variable                                     default   bound
  SAGEMAKER_MAX_PAYLOAD_IN_MB                  6         request body (413 above it); SageMaker's real-time limit
  PRODLINE_SERVER_MAX_HEADER_BYTES             16384     request line + headers (431 above it)
  PRODLINE_SERVER_HEADER_TIMEOUT_SECONDS       10        a request head must arrive within this (408 after it)
  PRODLINE_SERVER_BODY_TIMEOUT_SECONDS         30        a body must arrive within this once its head has (408)
  PRODLINE_SERVER_KEEPALIVE_TIMEOUT_SECONDS    60        an idle keep-alive connection is closed after this
  PRODLINE_SERVER_MAX_CONNECTIONS              1024      open connections per worker (then idle ones are closed
                                                         to make room, or new ones get 503 with Retry-After)
  PRODLINE_SERVER_MAX_PIPELINED                16        requests read ahead on one connection before its answers

Request metrics (PRODLINE_METRICS_*) and data capture (PRODLINE_CAPTURE_*) are read by their own modules
(``metrics``, ``capture``); both are off unless set.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from workloads.serving.capture import CaptureSettings
from workloads.serving.metrics import MetricsSettings

MB = 1024 * 1024
T = TypeVar("T", int, float)
MODEL_VERSION_ENV = "PRODLINE_MODEL_VERSION"


@dataclass(frozen=True)
class ServerSettings:
    model_dir: str
    host: str
    port: int
    workers: int
    threads: int = 1
    max_body_bytes: int = 6 * MB
    grace_seconds: float = 20.0
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 60.0
    max_connections: int = 1024
    max_pipelined: int = 16
    metrics: MetricsSettings | None = None
    """Request metrics as EMF lines on stdout (workloads/serving/metrics.py); None on SageMaker, which measures."""
    capture: CaptureSettings | None = None
    """Data capture to the lake (workloads/serving/capture.py); None on SageMaker, which captures itself."""
    model_version: str | None = None
    """The model package version this container serves (the endpoint's model sets it): JSON answers carry it,
    so data capture records which version scored each request."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], argv: Sequence[str] = ()) -> ServerSettings:
        parser = argparse.ArgumentParser(prog="serve", description="Serve the churn model (SageMaker contract).")
        parser.add_argument("--model-dir", default=env.get("SM_MODEL_DIR", "/opt/ml/model"))
        # A container listens on all its interfaces; tests and benchmarks pass 127.0.0.1.
        parser.add_argument("--host", default=env.get("PRODLINE_SERVER_HOST", "0.0.0.0"))
        parser.add_argument("--port", type=int, default=_read(env, "SAGEMAKER_BIND_TO_PORT", int, 8080))
        parser.add_argument("--workers", type=int,
                            default=_read(env, "SAGEMAKER_MODEL_SERVER_WORKERS", int, os.cpu_count() or 1))
        args = parser.parse_args(list(argv))
        settings = cls(
            model_dir=args.model_dir, host=args.host, port=args.port, workers=args.workers,
            threads=_read(env, "PRODLINE_SERVER_THREADS", int, 1),
            max_body_bytes=int(_read(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", float, 6) * MB),
            grace_seconds=_read(env, "PRODLINE_SHUTDOWN_GRACE_SECONDS", float, 20.0),
            max_header_bytes=_read(env, "PRODLINE_SERVER_MAX_HEADER_BYTES", int, 16 * 1024),
            header_timeout=_read(env, "PRODLINE_SERVER_HEADER_TIMEOUT_SECONDS", float, 10.0),
            body_timeout=_read(env, "PRODLINE_SERVER_BODY_TIMEOUT_SECONDS", float, 30.0),
            keepalive_timeout=_read(env, "PRODLINE_SERVER_KEEPALIVE_TIMEOUT_SECONDS", float, 60.0),
            max_connections=_read(env, "PRODLINE_SERVER_MAX_CONNECTIONS", int, 1024),
            max_pipelined=_read(env, "PRODLINE_SERVER_MAX_PIPELINED", int, 16),
            metrics=MetricsSettings.from_env(env), capture=CaptureSettings.from_env(env),
            model_version=env.get(MODEL_VERSION_ENV) or None)
        settings.check()
        return settings

    def check(self) -> None:
        """ValueError naming the first setting out of range."""
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, got {self.port}")
        at_least = {"threads": (self.threads, 1), "max_body_bytes": (self.max_body_bytes, 1),
                    "max_header_bytes": (self.max_header_bytes, 256), "max_connections": (self.max_connections, 1),
                    "max_pipelined": (self.max_pipelined, 1), "grace_seconds": (self.grace_seconds, 0)}
        for name, (value, low) in at_least.items():
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")


def _read(env: Mapping[str, str], name: str, kind: Callable[[str], T], default: T) -> T:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None

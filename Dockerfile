# syntax=docker/dockerfile:1
# The inference image: one image for SageMaker hosting (bring your own container: `docker run IMAGE serve`,
# port 8080, GET /ping, POST /invocations) and for the Kubernetes Deployment of components/k8s_serving.py.
# Build and push: docs/container-image.md.
#
# Base, in both stages: the newest patch of the Python line the test suite runs (3.11), on Debian bookworm (the
# release tini's pin below is for), by exact tag and by the digest of its multi-platform index. The digest is
# what gets pulled; the tag says what it is. Refresh the two together, never one alone:
#   docker buildx imagetools inspect python:3.11-slim-bookworm         # "Digest:" is the index to pin
#   docker run --rm python:3.11-slim-bookworm@<that digest> python -V  # its patch, for the tag
# This digest was taken from public pins of python:3.11.17-slim-bookworm made in October 2026, with no
# registry reachable from where it was written: run the first command once before relying on it.

# --- builder: a venv with the server's pinned packages and the workloads package ----------------------------
FROM python:3.11.17-slim-bookworm@sha256:0a310eeecf4e1f5a0743f9a6520c90c88d089c903ca5fd283f501e3a805f5f89 AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# tini becomes PID 1 in the final image: it forwards SIGTERM to the server (a Python PID 1 would ignore it,
# and Kubernetes and SageMaker would wait out their grace period before SIGKILL) and reaps zombies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY docker/requirements-serving.txt ./
# Wheels only: every pinned package ships one for linux, so nothing is compiled and no compiler is needed.
RUN pip install --no-cache-dir --only-binary=:all: -r requirements-serving.txt

COPY pyproject.toml README.md ./
COPY workloads ./workloads
# The project without its IaC dependencies: this installs the workloads package and the `serve` script.
# `prodline` (the CLI) needs pulumi, which the image leaves out, so its script goes too.
RUN pip install --no-cache-dir --no-deps . \
    && rm -f /opt/venv/bin/prodline

# --- final: the venv, tini, the entry point, a non-root user; no compilers, no apt, no pip ----------------
FROM python:3.11.17-slim-bookworm@sha256:0a310eeecf4e1f5a0743f9a6520c90c88d089c903ca5fd283f501e3a805f5f89

LABEL org.opencontainers.image.title="prodline-serving" \
      org.opencontainers.image.description="prodline inference server (SageMaker BYOC and Kubernetes)" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed UID/GID: Kubernetes' runAsNonRoot can only verify a numeric user (components/k8s_serving.py).
RUN groupadd --system --gid 10001 prodline \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin prodline \
    && mkdir -p /opt/ml/model \
    && chown 10001:10001 /opt/ml/model

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /usr/bin/tini-static /usr/bin/tini
COPY --chmod=0755 docker/entrypoint.sh /opt/prodline/entrypoint.sh
COPY --chmod=0644 docker/fetch_model.py /opt/prodline/fetch_model.py

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SM_MODEL_DIR=/opt/ml/model

WORKDIR /opt/prodline
USER 10001:10001
EXPOSE 8080

# slim has no curl: the standard library asks the server itself. Non-2xx or no answer -> unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ping', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--", "/opt/prodline/entrypoint.sh"]
CMD ["serve"]

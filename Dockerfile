# syntax=docker/dockerfile:1
#
# One image for every role of the bridge:
#   docker run IMAGE                                 the REST API on 8080 (the default command)
#   docker run -e BRIDGE_HEALTH_PORT=9100 IMAGE worker   poller and webhook dispatcher, probes on 9100
#   docker run IMAGE sandbox --host 0.0.0.0          the Calypso simulator (development only)
# Build from the repository root:  docker build -t calypso-bridge:0.1.0 .
# See deploy/README.md for compose and Kubernetes.

# --- builder: the locked runtime dependencies and the bridge itself, into /opt/venv ----------
FROM python:3.11-slim AS builder

# The uv release the Makefile uses too. UV_PROJECT_ENVIRONMENT makes `uv sync` fill /opt/venv;
# bytecode is compiled here because the final stage's files are read-only for the service user.
ARG UV_VERSION=0.13.8
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

RUN python -m pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /src

# First the dependencies, exactly as uv.lock pins them (hashes checked), without the dev groups:
# this layer is rebuilt only when the lock changes. --locked stops the build if uv.lock no
# longer matches pyproject.toml. Every dependency ships manylinux wheels: no compiler needed.
# uv's cache lives in a BuildKit cache mount: rebuilds are quick and it never reaches a layer.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups --no-install-project --no-editable

# Then the bridge, built as a wheel and installed (not editable) beside them.
COPY README.md ./
COPY bridge ./bridge
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups --no-editable \
 && /opt/venv/bin/bridge --help > /dev/null

# --- runtime: the interpreter, the virtualenv and nothing else -------------------------------
FROM python:3.11-slim AS runtime

ARG VERSION=0.1.0
ARG SOURCE_URL=https://git.example.invalid/calypso-bridge

LABEL org.opencontainers.image.title="calypso-bridge" \
      org.opencontainers.image.description="REST API, Redis event stream and signed webhooks in front of Calypso's Customer Purse API" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed numeric UID/GID so Kubernetes can check runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/bridge --create-home \
        --shell /usr/sbin/nologin bridge

# Owned by root and read-only for the service user; bytecode was compiled in the builder.
COPY --from=builder /opt/venv /opt/venv

WORKDIR /home/bridge
USER 10001:10001

# 8080: the API (bridge api); 9100: the worker's /health/* and /metrics (bridge worker).
EXPOSE 8080 9100

# Works for api and worker alike: worker containers set BRIDGE_HEALTH_PORT=9100. The sandbox
# has no /health/live; its compose service overrides this check. Kubernetes ignores it and
# uses the probes in deploy/k8s.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('BRIDGE_HEALTH_PORT', '8080'), timeout=3)"]

ENTRYPOINT ["bridge"]
CMD ["api"]

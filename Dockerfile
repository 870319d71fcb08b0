# syntax=docker/dockerfile:1
# One image for every service and the gateway; the command picks the role:
#   swarm serve memory | assignment | consensus | telemetry, swarm gateway, swarm up (all in one)
# Build: docker build -t swarm-intelligence-server:0.1.0 .

# ---- build: a virtualenv with the project and its wheels (no compiler needed: all deps ship wheels)
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/swarm
COPY pyproject.toml README.md ./
COPY app ./app
COPY common ./common
COPY services ./services
COPY gateway ./gateway
COPY swarm ./swarm
RUN /opt/swarm/bin/pip install --no-cache-dir . \
    && /opt/swarm/bin/python -m compileall -q /opt/swarm/lib

# ---- runtime: the virtualenv only, a non-root user, a read-only-friendly layout
FROM python:3.11.14-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="swarm-intelligence-server" \
      org.opencontainers.image.description="MCP server for AI-agent swarms: gRPC services behind an MCP gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 swarm \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin swarm \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/swarm /opt/swarm
ENV PATH=/opt/swarm/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWARM_DATA_DIR=/data \
    SWARM_HTTP_HOST=0.0.0.0
WORKDIR /data
USER 10001:10001
EXPOSE 8080 50051 50052 50053 50054
# `swarm serve NAME`: grpc.health.v1 on SWARM_LISTEN_ADDR; `swarm gateway`/`swarm up`: an MCP ping on /mcp.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-m", "common.healthprobe"]
ENTRYPOINT ["swarm"]
CMD ["up"]

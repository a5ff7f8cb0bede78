# Dockyard as a container image.
#
#   docker build -t dockyard .
#   docker run -d --name dockyard -p 127.0.0.1:8700:8700 \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v dockyard-data:/data dockyard
#
# Three stages: the web UI is built with Node.js, the Python environment with uv, and the
# runtime stage holds only Python 3.11 from Debian, the virtual environment (/opt/dockyard)
# and the built UI. The server runs as the non-root user `dockyard` (uid 10001); it reaches
# the Docker socket through the socket's group, added at run time (`--group-add <gid>` or
# compose `group_add`), because that group id differs from host to host.
#
# Build arguments (all optional):
#   BASE_IMAGE   Debian bookworm base of the build and runtime stages (debian:bookworm-slim)
#   NODE_IMAGE   Node.js >= 20.19 image for the UI stage (node:20-bookworm-slim)
#   UV_VERSION   uv used to install the locked Python dependencies (from PyPI)
# Without registry access, scripts/build-base-images.sh makes both base images locally.
ARG BASE_IMAGE=debian:bookworm-slim
ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------- UI
FROM ${NODE_IMAGE} AS ui
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
# vite writes the bundle to ../src/dockyard/static (frontend/vite.config.ts)
RUN npm run build

# ---------------------------------------------------------------- Python environment
FROM ${BASE_IMAGE} AS python-build
ARG UV_VERSION=0.13.9
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
# The environment is created at its final path with Debian's python3, which the runtime
# stage installs too, so it is copied over as is.
ENV UV_PROJECT_ENVIRONMENT=/opt/dockyard \
    UV_PYTHON=/usr/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# Dependencies first (cached until uv.lock changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project
COPY src/ src/
COPY --from=ui /src/src/dockyard/static/ src/dockyard/static/
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable \
 && /opt/dockyard/bin/dockyard version \
 && test -f /opt/dockyard/lib/python3.11/site-packages/dockyard/static/index.html

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# python3: the interpreter the environment was built with; tini: PID 1 that forwards
# SIGTERM to the server and reaps children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dockyard \
 && useradd --system --uid 10001 --gid dockyard --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin dockyard \
 && install -d -o dockyard -g dockyard -m 0750 /data
COPY --from=python-build /opt/dockyard /opt/dockyard
COPY deploy/container/entrypoint.sh /usr/local/bin/dockyard-entrypoint
COPY deploy/container/healthcheck.py /usr/local/bin/dockyard-healthcheck
RUN chmod 0755 /usr/local/bin/dockyard-entrypoint /usr/local/bin/dockyard-healthcheck \
 && /opt/dockyard/bin/dockyard version
ENV PATH=/opt/dockyard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DOCKYARD_DATA_DIR=/data \
    DOCKYARD_HOST=0.0.0.0 \
    DOCKYARD_PORT=8700 \
    DOCKYARD_LOG_FORMAT=json
USER dockyard
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8700
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "/usr/local/bin/dockyard-healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/dockyard-entrypoint"]
CMD ["serve"]
LABEL org.opencontainers.image.title="Dockyard" \
      org.opencontainers.image.description="A self-hosted command center for Docker fleets." \
      org.opencontainers.image.licenses="Apache-2.0"

# The relay host as an image: only relay-server (with relay-core), installed from uv.lock.
#
#   docker build -t agent-relay-server:local .
#   docker run --rm -v agent-relay:/var/lib/agent-relay agent-relay-server:local init --host 0.0.0.0 --data-dir /var/lib/agent-relay
#   docker run -d --name agent-relay -p 7878:7878 -v agent-relay:/var/lib/agent-relay \
#       -e RELAY_ALLOWED_HOSTS=relay.lan,10.0.0.5 agent-relay-server:local
#
# The image and the test that builds its environment outside docker
# (tests/plugin/test_dockerfile.py) both follow these lines: keep the build stage to
# FROM/COPY/ENV/WORKDIR/RUN.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/agent-relay
WORKDIR /src
# Third-party dependencies first, in a layer of their own: they change less often than the code.
COPY pyproject.toml uv.lock README.md ./
COPY packages/relay-core/pyproject.toml packages/relay-core/README.md packages/relay-core/
COPY packages/relay-server/pyproject.toml packages/relay-server/README.md packages/relay-server/
RUN uv sync --frozen --package relay-server --no-dev --no-install-workspace
COPY packages/relay-core/src packages/relay-core/src
COPY packages/relay-server/src packages/relay-server/src
# Not editable: the final stage copies the environment without the sources.
RUN uv sync --frozen --package relay-server --no-dev --no-editable

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 7878 --home-dir /var/lib/agent-relay --shell /usr/sbin/nologin agent-relay \
    && install -d -o agent-relay -g agent-relay -m 0750 /var/lib/agent-relay
COPY --from=build /opt/agent-relay /opt/agent-relay
ENV PATH=/opt/agent-relay/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER agent-relay
WORKDIR /var/lib/agent-relay
VOLUME /var/lib/agent-relay
EXPOSE 7878
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7878/healthz', timeout=4)"]
ENTRYPOINT ["agent-relay-server"]
CMD ["serve", "--data-dir", "/var/lib/agent-relay", "--host", "0.0.0.0"]

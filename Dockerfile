# syntax=docker/dockerfile:1.7
# One image for every Kinobill process: kinobill serve|worker|migrate, python -m kinobill_admin,
# python -m kinobill_operator. Built by skaffold (skaffold.yaml) or `docker build -t kinobill .`.
# (Not built on the development machine: it has no Docker engine.)

FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first (cached while only the code changes), then the project itself, non-editable.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3.11
COPY services ./services
COPY admin ./admin
COPY operator ./operator
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --python /usr/local/bin/python3.11

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --gid 10001 kinobill && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp kinobill
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp KINOBILL_HOME=/tmp/kinobill
WORKDIR /app
USER 10001:10001
EXPOSE 8000 8001 8002
CMD ["kinobill", "--help"]

# syntax=docker/dockerfile:1
# meterbill image: one image for every long-running service (api, gateway) and one-shot
# commands (db upgrade, broker export-auth, bill ...); docker-compose.yml picks the command.
#
#   docker build -t meterbill .
#   docker run --rm meterbill meterbill --help

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the project and its dependencies into a self-contained virtualenv -------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# .dockerignore keeps the context to what the wheel needs (no .venv, .git, tests, data).
COPY . .
# A regular (non-editable) install: the runtime stage needs the venv only, not /src.
# Every dependency (numpy, numba, psycopg[binary]) ships manylinux wheels, so no compiler.
RUN pip install .

# --- runtime: the venv, a non-root user, nothing else ----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# site-packages is read-only for the service user, so Numba's on-disk kernel cache goes to /app.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/app/.cache/numba

# Fixed numeric ids, so orchestrators can check runAsNonRoot and volumes can be chowned ahead.
RUN groupadd --system --gid 10001 meterbill \
 && useradd --system --uid 10001 --gid meterbill --home-dir /app --shell /usr/sbin/nologin meterbill \
 && mkdir -p /app/.cache/numba /app/meterbill-data \
 && chown -R meterbill:meterbill /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Exec form: the process gets signals directly (compose also sets `init: true` so SIGTERM is
# forwarded by a real init, not ignored by a PID-1 Python).
CMD ["meterbill", "api", "run", "--host", "0.0.0.0", "--port", "8000"]

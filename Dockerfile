# CDS Hooks service image.
#
# Build:  docker build -t cds-service .
# Run:    docker run -p 8000:8000 cds-service
#
# BASE_IMAGE must be a Debian-based image with Python 3.11 (with venv) and `useradd`;
# scripts/container/build-run-check.sh passes a locally built stand-in where no
# registry can be reached. The default is pinned by digest; to move it to a newer build:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (the index digest)
# The dependencies are pinned with hashes in requirements.lock (scripts/lock writes it from
# pyproject.toml; tests/unit/test_supply_chain.py checks that the two agree).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---- deps: a virtualenv with the dependencies (rebuilt only when requirements.lock changes) ----
FROM ${BASE_IMAGE} AS deps

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.lock ./
# The project's dependencies and its build requirements, exactly as locked: every file's hash checked.
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock

# ---- build: the project itself, laid out under /overlay as it goes into the image ----
FROM deps AS build

COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation --no-compile --no-warn-script-location --root /overlay . \
    && /opt/venv/bin/python -m compileall -q -s /overlay -p / /overlay/opt/venv

# ---- runtime ----
FROM ${BASE_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_CONTENT_DIR=/app/cards \
    CDS_FIXTURES_DIR=/app/fhir_fixtures \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8000

RUN groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid cds --home-dir /var/lib/cds-service --create-home \
        --shell /usr/sbin/nologin cds

COPY --from=deps /opt/venv /opt/venv
COPY --from=build /overlay/ /
COPY cards /app/cards
COPY fhir_fixtures /app/fhir_fixtures

# The working directory is the only writable place (e.g. the default SQLite feedback store).
WORKDIR /var/lib/cds-service
USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CDS_PORT', '8000'), timeout=4)"]

CMD ["cds-service", "serve"]

# syntax=docker/dockerfile:1
# The payout engine's image: `serve` by default; `worker`, `migrate`, `mock-provider`,
# `keys create ...` by command (the entrypoint is `payout-engine`).
#
#   docker build -t payout-engine .
#   docker run --rm -p 8000:8000 payout-engine          # SQLite + demo data, in /data
#
# BASE_IMAGE: any Debian-like image with Python >= 3.11 as `python3` and `useradd`.
# UV_IMAGE: where the uv binary comes from (/uv); CI passes images made on the machine.
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# Build: the virtual environment, from the lock file only, without the dev tools.
FROM ${BASE_IMAGE} AS build
# binutils' strip: some wheels ship their extensions with debug symbols (uvloop's: 13 MB).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_NO_CACHE=1
WORKDIR /app
# Bytecode only for what the commands import (few of pygments' lexers or holidays'
# countries): their imports take 1.1 s instead of 3.3 s, for 23 MB of .pyc, not 44 MB.
ARG WARM_IMPORTS="import service.cli, service.bootstrap, service.demo, graph.app, persistence.migrate, \
jobs.scheduler, providers.mock.server, alembic.command, uvicorn.main, uvicorn.loops.uvloop, \
uvicorn.protocols.http.httptools_impl, uvicorn.protocols.websockets.auto, \
uvicorn.lifespan.on, sqlalchemy.dialects.postgresql.psycopg, sqlalchemy.dialects.sqlite.aiosqlite, \
rich.table, rich.progress"
# Removed after the sync, as nothing at run time reads them: the dependencies' test suites
# and test helpers, C/Cython sources, symbols that linking does not need, the lock file (the
# venv is built), and package data: holiday-name translations (read only when a calendar is
# given a language or LANG names one; the code uses the dates, never the names), pycountry's
# databases but countries' (domain.routing and schwifty use no other), python-stdnum's MAC
# vendor, IMSI and Chinese region tables (only stdnum.nz and stdnum.us are imported).
# DATA_CHECK fails the build if what the code uses stopped working; it also leaves bytecode
# for the ~300 modules `holidays` imports at a process's first calendar (0.5 s saved there).
ARG DATA_CHECK="import datetime, holidays, pycountry, schwifty; \
from stdnum.nz import bankaccount; from stdnum.us import rtn; \
assert pycountry.countries.get(alpha_2='DE').name == 'Germany'; \
assert datetime.date(2025, 12, 25) in holidays.country_holidays('DE', years=2025); \
assert datetime.date(2025, 4, 18) in holidays.financial_holidays('XECB', years=2025); \
assert schwifty.IBAN('DE89 3704 0044 0532 0130 00').bic is not None; \
assert bankaccount.is_valid('01-0902-0068389-00') and rtn.is_valid('111000025')"
# Dependencies first: this layer is rebuilt only when the lock file changes.
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never stored):
#   docker build --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt .
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=ca_bundle,target=/run/secrets/ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi \
 && uv sync --locked --no-dev --no-install-project
COPY alembic.ini README.md ./
COPY migrations ./migrations
COPY domain ./domain
COPY persistence ./persistence
COPY providers ./providers
COPY jobs ./jobs
COPY graph ./graph
COPY service ./service
# The project itself, editable: settings and migrations find alembic.ini next to the code.
RUN --mount=type=secret,id=ca_bundle,target=/run/secrets/ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi \
 && uv sync --locked --no-dev \
 && site="$(echo .venv/lib/python3*/site-packages)" \
 && rm -rf "$site"/pycountry/locales "$site"/holidays/locale \
 && find "$site"/pycountry/databases -type f ! -name iso3166-1.json -delete \
 && rm -f "$site"/stdnum/oui.dat "$site"/stdnum/imsi.dat "$site"/stdnum/cn/loc.dat \
 && rm -rf "$site"/sqlalchemy/testing "$site"/alembic/testing "$site"/mako/testing \
      "$site"/greenlet/tests "$site"/aiosqlite/tests "$site"/pycountry/tests \
      "$site"/certifi/tests "$site"/importlib_resources/tests .venv/include uv.lock \
 && find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.cpp' \
      -o -name '*.h' \) -delete \
 && find .venv -name '*.so*' -type f -exec strip --strip-unneeded {} + \
 && .venv/bin/python -m compileall -q domain persistence providers jobs graph service migrations \
 && .venv/bin/python -c "$WARM_IMPORTS" \
 && .venv/bin/python -c "$DATA_CHECK"

# Run: the environment and the code, nothing else; no secret, no database.
FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /data app \
 && mkdir /data && chown app:app /data
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite+aiosqlite:////data/payout-engine.db
USER app
EXPOSE 8000
# /health answers 200 when the database answers. Only `serve` has it: compose turns
# it off (or points it elsewhere) for the worker and the mock banks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=2)"]
ENTRYPOINT ["payout-engine"]
CMD ["serve"]

# Everyday commands; each one installs what it needs from the lock file.
UV := UV_PYTHON_DOWNLOADS=never python3 -m uv

.PHONY: install run test test-sqlite lint typecheck schema migration check bench bench-full console

install:
	python3 -m pip install --quiet uv && $(UV) sync --locked

run: install
	$(UV) run --locked payout-engine serve

test: install
	$(UV) run --locked pytest

test-sqlite: install
	PAYOUT_TEST_BACKENDS=sqlite $(UV) run --locked pytest

lint: install
	$(UV) run --locked ruff check . && $(UV) run --locked ruff format --check . && $(UV) run --locked lint-imports

typecheck: install
	$(UV) run --locked mypy

schema: install
	$(UV) run --locked python -m graph.export > schema.graphql

migration: install  # make migration m="what changed"
	$(UV) run --locked alembic revision --autogenerate -m "$(m)"

# Fast variants, a few minutes in all; PostgreSQL at PAYOUT_BENCH_PG_URL for the PG ones.
bench: install
	$(UV) run --locked python -m bench.engine_run
	$(UV) run --locked python -m bench.provider_run
	$(UV) run --locked python -m bench.merchant_payouts
	$(UV) run --locked python -m bench.graphql_reads
	$(UV) run --locked python -m bench.reconciliation
	$(UV) run --locked python -m bench.mixed_load --seconds 15
	$(UV) run --locked python -m bench.webhooks
	$(UV) run --locked python -m bench.report_export --sizes 10000
	$(UV) run --locked python -m bench.csv_import --rows 10000
	$(UV) run --locked python -m bench.scaling

# The issue's full scale (10k provider-bound, 100k GraphQL reads, 1M reconciliation): ~20 min.
bench-full: install
	$(UV) run --locked python -m bench.engine_run --payouts 10000
	$(UV) run --locked python -m bench.provider_run --full
	$(UV) run --locked python -m bench.merchant_payouts --full
	$(UV) run --locked python -m bench.graphql_reads --full
	$(UV) run --locked python -m bench.reconciliation --full
	$(UV) run --locked python -m bench.mixed_load
	$(UV) run --locked python -m bench.report_export
	$(UV) run --locked python -m bench.csv_import

check: lint typecheck test

# The web console, rebuilt from console/package-lock.json into graph/static/console
# (committed, so `serve` needs no Node.js); needs Node.js 20.19+ and npm.
console:
	cd console && npm ci --no-audit --no-fund && npm run build

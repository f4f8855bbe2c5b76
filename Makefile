# Everyday commands; each one installs what it needs from the lock file.
UV := UV_PYTHON_DOWNLOADS=never python3 -m uv

.PHONY: install run test test-sqlite lint schema migration check bench

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

schema: install
	$(UV) run --locked python -m graph.export > schema.graphql

migration: install  # make migration m="what changed"
	$(UV) run --locked alembic revision --autogenerate -m "$(m)"

bench: install
	$(UV) run --locked python -m bench.engine_run

check: lint test

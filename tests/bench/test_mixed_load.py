"""A short run of the mixed-load benchmark in the default suite: concurrent reads and
merchant payouts through real uvicorn on PostgreSQL get no 5xx and break no invariant.
(The published figures come from the 50-client, 60 s run: ``python -m bench.mixed_load``.)"""

from __future__ import annotations

import pytest

from bench import mixed_load
from tests.conftest import BACKENDS


@pytest.mark.slow
@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL is not tested here")
def test_mixed_load_gets_no_server_error_and_keeps_the_books(
    pg_template: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pg_template is None:
        pytest.skip("PostgreSQL not reachable (set PAYOUT_TEST_PG_URL)")
    from tests.conftest import PG_ADMIN_URL

    monkeypatch.setenv("PAYOUT_BENCH_PG_URL", PG_ADMIN_URL)
    options = mixed_load.parser().parse_args(["--seconds", "4", "--clients", "12"])
    options.merchants = 6
    ceiling, mixed = mixed_load.main(options)
    assert ceiling["requests"] > 0
    assert mixed["requests"] > 0 and mixed["payouts_created"] > 0, mixed
    assert mixed["server_errors"] == 0, mixed["outcomes"]
    assert mixed["ledger_findings"] == 0
    assert mixed["overdrawn_merchants"] == 0
    assert mixed["stored_eq_answered"] and mixed["replay_mismatches"] == 0

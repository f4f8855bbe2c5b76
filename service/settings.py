"""Settings from the environment (and an optional .env file); see .env.example."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{ROOT / 'var' / 'payout-engine.db'}",
        description="sqlite+aiosqlite:///path or postgresql+psycopg://user@host/db",
    )
    # PostgreSQL: a connection not made by then fails (a request answers 503), instead of
    # holding the request for as long as an unreachable server takes. 2 s at least.
    database_connect_timeout_s: int = 5
    host: str = "127.0.0.1"
    port: int = 8000
    # `serve`'s processes on that port (`serve --workers`; WEB_CONCURRENCY is uvicorn's
    # and gunicorn's name for it). More than 1 needs PostgreSQL and served providers.
    web_concurrency: int = Field(default=1, ge=1)
    # Providers: empty URL = the in-process mock bank of that kind.
    ach_provider_url: str = ""
    wire_provider_url: str = ""
    cross_border_provider_url: str = ""
    provider_rate_limit_per_s: float = 200.0
    provider_concurrency: int = 64
    provider_timeout_s: float = 10.0
    provider_max_attempts: int = 6
    # Knobs of the in-process mock banks (the demo and tests).
    mock_seed: int = 7
    mock_latency_ms: float = 0.0
    mock_transient_error_rate: float = 0.0
    # Simulated seconds per real second on the mock banks' clocks: 1440 = a day a minute,
    # so demo payouts settle, fail or come back by themselves. 0 stands still.
    mock_clock_speed: float = 1440.0
    mock_return_rate: float = 0.02  # settled orders returned a day later (R01/R03)
    mock_failure_rate: float = 0.02  # accepted orders failing at settlement (AC01/AC04/AM04)
    # Start the engine's clock (and the in-process mock banks') at this instant instead of
    # now; time then runs on from it. `serve` with demo data defaults it to the demo's date.
    clock_start: AwareDatetime | None = None
    # GraphQL guards.
    max_page_size: int = 100
    max_query_depth: int = 8
    max_query_tokens: int = 2000
    max_aliases: int = 15
    max_request_bytes: int = 1 << 20  # a larger /graphql body is refused with 413
    # API requests served at once, each holding one read connection while it runs;
    # more wait for a connection, and a wait costs them a whole request's time.
    read_pool_size: int = 25
    graphiql: bool = True
    run_batch_size: int = 500
    # Scheduled jobs (run inside serve, or alone in `payout-engine worker`).
    scheduler_enabled: bool = Field(default=True, description="run the jobs inside serve")
    poll_interval_s: float = 10.0
    dispatch_interval_s: float = 5.0
    stale_submitting_after_s: float = 120.0  # then the poller re-asks with the payout's key
    poll_lease_s: float = 120.0  # a killed poller's feed and stuck-payout claims last this long
    reconciliation_time: time = time(1, 30)  # local time of the nightly reconciliation
    reconciliation_timezone: str = "UTC"  # IANA zone, e.g. Europe/London
    job_runs_retention_days: int = 7
    # Webhooks: outgoing requests to private, loopback (and, always refused, link-local,
    # multicast, reserved) addresses are refused unless this allows private and loopback
    # ones; it also allows http:// URLs (otherwise https is required).
    webhook_allow_private_networks: bool = False
    webhook_timeout_s: float = 10.0
    webhook_interval_s: float = 5.0
    webhook_lease_s: float = 300.0  # a killed sender's deliveries are sent again after this

    # Payout runs in the background, behind four eyes.
    # A run waits for an approver when its total in some currency reaches this amount
    # (major units of that currency); 0: every run; "off": none.
    run_approval_min_total: str = "0"
    approval_ttl_h: float = 72.0  # a pending approval expires after this
    run_lease_s: float = 30.0  # a killed process's run is resumed by another after this
    run_check_interval_s: float = 1.0  # how often serve/worker look for a queued run

    # Operating it (README "Operating it: metrics and logs").
    metrics_token: str = ""  # set: /metrics wants "Authorization: Bearer <token>"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line
    access_log: bool = True  # one line per HTTP request (serve --no-access-log)
    # Requests a second per API key, by the key's role, in this process (a token bucket
    # per key holding rate_limit_burst_s seconds' worth); 0 = no limit for that role.
    rate_limit_ops: float = 200.0
    rate_limit_approver: float = 100.0
    rate_limit_auditor: float = 100.0
    rate_limit_payee: float = 50.0
    rate_limit_burst_s: float = 2.0

"""``payout-engine``: serve, migrate, seed, run, mock-provider."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.errors import PayoutEngineError
from domain.ports import ProviderKind, RunSummary
from persistence.migrate import upgrade
from service.bootstrap import Container, build, build_app
from service.settings import Settings

app = typer.Typer(
    help="Payout orchestration engine.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
console = Console()


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema (alembic upgrade head)."""
    settings = Settings()
    upgrade(settings.database_url)
    console.print(f"migrated {settings.database_url}")


async def _seed(container: Container, large_event_size: int) -> dict[str, int]:
    from service.demo import seed as load_demo

    try:
        return await load_demo(container.sessions, container.clock.now(), large_event_size)
    finally:
        await container.aclose()


@app.command()
def seed(
    large_event_size: Annotated[int, typer.Option(help="investors in LIQ-2024-002")] = 500,
) -> None:
    """Load the demo payees, merchants and events (safe to repeat)."""
    settings = Settings()
    upgrade(settings.database_url)
    counts = asyncio.run(_seed(build(settings), large_event_size))
    console.print(f"demo data ready: {counts['payees']} payees, {counts['events']} events")
    from service.demo import demo_keys_text

    console.print(demo_keys_text(), markup=False, soft_wrap=True)


@app.command()
def serve(
    demo: Annotated[
        bool | None, typer.Option(help="load demo data (default: on for SQLite)")
    ] = None,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql) with in-process mock providers."""
    settings = Settings()
    upgrade(settings.database_url)
    load_demo = demo if demo is not None else settings.database_url.startswith("sqlite")
    if load_demo:
        asyncio.run(_seed(build(settings), 500))
    container = build(settings)
    console.print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql")
    if load_demo:
        from service.demo import demo_keys_text

        console.print("Demo API keys (add the header in GraphiQL's Headers tab):", markup=False)
        console.print(demo_keys_text(), markup=False, soft_wrap=True)
    uvicorn.run(
        build_app(container, migrate=False),
        host=settings.host,
        port=settings.port,
        log_level="info",
    )


async def _run(event: str, key: str) -> RunSummary:
    container = build(Settings())
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks = {
                "evaluate": bar.add_task("evaluate", total=None),
                "submit": bar.add_task("submit", total=None),
            }

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(tasks[phase], completed=done, total=total)

            return await container.runner.run(event, key, progress)
    finally:
        await container.aclose()


@app.command()
def run(
    event: Annotated[str, typer.Argument(help="the event's code, e.g. LIQ-2024-001")],
    idempotency_key: Annotated[str | None, typer.Option(help="resume or replay this run")] = None,
) -> None:
    """Run an event's payouts and print the summary. Re-running pays nobody twice."""
    upgrade(Settings().database_url)
    key = idempotency_key or f"cli-{uuid.uuid4().hex}"
    try:
        summary = asyncio.run(_run(event, key))
    except PayoutEngineError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None
    print_summary(summary, key)


def print_summary(summary: RunSummary, key: str) -> None:
    table = Table(title=f"run {summary.run_id} of {summary.event_code} ({summary.status})")
    table.add_column("outcome")
    table.add_column("payouts", justify="right")
    for label, value in [
        ("created (new payment orders)", summary.created),
        ("skipped", summary.skipped),
        ("failed", summary.failed),
        ("in flight (provider unreachable)", summary.in_flight),
        ("total", summary.total),
    ]:
        table.add_row(label, str(value))
    console.print(table)
    if summary.skip_breakdown:
        reasons = Table(title="skip breakdown")
        reasons.add_column("reason")
        reasons.add_column("count", justify="right")
        for reason, count in summary.skip_breakdown:
            reasons.add_row(reason, str(count))
        console.print(reasons)
    console.print(f"idempotency key: {key}")


@app.command("mock-provider")
def mock_provider(
    kind: Annotated[ProviderKind, typer.Option(help="which bank to simulate")] = ProviderKind.ACH,
    host: str = "127.0.0.1",
    port: int = 9101,
    seed: int = 7,
    latency_ms: float = 0.0,
    transient_error_rate: float = 0.0,
    rate_limit_per_s: Annotated[float | None, typer.Option(help="answer 429 above it")] = None,
) -> None:
    """Serve one mock bank over HTTP; point the engine at it with *_PROVIDER_URL."""
    from providers.mock.config import MockBankConfig
    from providers.mock.server import serve as serve_bank

    config = MockBankConfig(
        seed=seed,
        latency_ms=latency_ms,
        transient_error_rate=transient_error_rate,
        rate_limit_per_s=rate_limit_per_s,
    )
    serve_bank(kind, host, port, config)


if __name__ == "__main__":
    app()

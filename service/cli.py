"""``payout-engine``: serve, worker, migrate, seed, run, reconcile, keys, import, report,
mock-provider.

A command imports what it needs when it runs: the web stack, SQLAlchemy, Alembic and
the engine's wiring take seconds to import, and ``--help`` needs none of them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from domain.auth import Role
from domain.errors import PayoutEngineError
from domain.ports import ProviderKind

if TYPE_CHECKING:
    from domain.csv_import import ImportRequest
    from domain.ports import RunSummary
    from jobs.reconciliation import ReconciliationResult
    from persistence.api_keys import SqlApiKeys
    from persistence.import_store import ImportOutcome
    from service.bootstrap import Container
    from service.settings import Settings

T = TypeVar("T")
app = typer.Typer(
    help="Payout orchestration engine.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys, name="keys")
report = typer.Typer(help="Export CSV reports (stdout, or --output FILE).", no_args_is_help=True)
app.add_typer(report, name="report")
console = Console()
FIRST_KEY_HINT = (
    "no API key yet: create one with  payout-engine keys create --role ops --owner you@example.com"
)


def _settings() -> Settings:
    from service.settings import Settings

    return Settings()


def _migrated(settings: Settings) -> None:
    """Upgrade the database; one line, and exit 1, when it cannot be opened."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from persistence.migrate import upgrade
    from service.database import why_unopenable

    try:
        upgrade(settings.database_url)
    except (OperationalError, InterfaceError, OSError) as exc:
        console.print(why_unopenable(settings.database_url, exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema (alembic upgrade head)."""
    settings = _settings()
    _migrated(settings)
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
    from service.bootstrap import build

    settings = _settings()
    _migrated(settings)
    counts = asyncio.run(_seed(build(settings), large_event_size))
    console.print(f"demo data ready: {counts['payees']} payees, {counts['events']} events")
    from service.demo import demo_keys_text

    console.print(demo_keys_text(), markup=False, soft_wrap=True)


@app.command()
def serve(
    demo: Annotated[
        bool | None, typer.Option(help="load demo data (default: on for SQLite)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default: HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: PORT)")] = None,
    access_log: Annotated[
        bool | None, typer.Option(help="a line per request (default: ACCESS_LOG)")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="server processes on the port (default: WEB_CONCURRENCY, else 1); more"
            " than 1 needs PostgreSQL and served providers",
        ),
    ] = None,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql) with in-process mock providers."""
    import uvicorn

    from service import demo as demo_data
    from service.bootstrap import build, build_app, clock_for, server_limits

    given = {"host": host, "port": port, "access_log": access_log, "web_concurrency": workers}
    flags: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    settings = _settings().model_copy(update=flags)
    if settings.web_concurrency > 1:
        _require_shareable(settings)
    _migrated(settings)
    _configure_logging(settings)
    load_demo = demo if demo is not None else settings.database_url.startswith("sqlite")
    if load_demo and settings.clock_start is None:
        settings = settings.model_copy(update={"clock_start": demo_data.DEMO_CLOCK_START})
        flags["clock_start"] = settings.clock_start
    clock = clock_for(settings)
    if load_demo:
        asyncio.run(_seed(build(settings, clock=clock), 500))
    container = build(settings, clock=clock) if settings.web_concurrency == 1 else None
    if load_demo and container is not None:
        demo_data.plant_unknown_order(container.banks)
    console.print(f"Web console: http://{settings.host}:{settings.port}/", markup=False)
    console.print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql")
    if not asyncio.run(_has_usable_key(settings)):
        console.print(FIRST_KEY_HINT, markup=False, soft_wrap=True)
    if load_demo:
        console.print(
            "Demo API keys (sign in to the console with one, or add the header in"
            " GraphiQL's Headers tab):",
            markup=False,
        )
        console.print(demo_data.demo_keys_text(), markup=False, soft_wrap=True)
        console.print(
            f"Demo clock: runs from {clock.now():%Y-%m-%d %H:%M} UTC (CLOCK_START sets another"
            " start); the wire bank holds one order no payout made, for reconciliation to find.",
            markup=False,
            soft_wrap=True,
        )
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "log_config": None,  # uvicorn's lines go through _configure_logging's handler
        "access_log": False,  # the app writes its own, with the request id and key name
        **server_limits(settings),
    }
    if container is not None:
        uvicorn.run(build_app(container, migrate=False, server_gc=True), **options)
        return
    os.environ.update(_environment(flags))  # each process builds its app from these
    _serve_processes(settings.web_concurrency, options)


def _serve_processes(workers: int, options: dict[str, Any]) -> None:
    """uvicorn's supervisor: ``workers`` processes accepting on one socket, each building
    its app with ``app_from_environment``; one that dies is replaced, SIGTERM or SIGINT
    stops them all (each finishes its requests and running jobs first). Exits 3 when a
    process could not start (its app's start-up failed), as one process would."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "service.bootstrap:app_from_environment", factory=True, workers=workers, **options
    )
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise typer.Exit(STARTUP_FAILURE)


def _require_shareable(settings: Settings) -> None:
    """Several server processes share what they keep in the database, so the database
    and the providers must be ones that several processes can share."""
    from persistence.db import is_sqlite

    if is_sqlite(settings.database_url):
        Console(stderr=True).print(
            f"serve --workers {settings.web_concurrency} needs PostgreSQL: SQLite lets one"
            " process write at a time, so more processes would queue for its lock instead of"
            " serving more. Use --workers 1 with SQLite.",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    _require_served_providers(settings, f"serve --workers {settings.web_concurrency}")


def _environment(settings: dict[str, object]) -> dict[str, str]:
    """Settings as the environment variables ``Settings`` reads them from."""

    def text(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return {name.upper(): text(value) for name, value in settings.items()}


def _configure_logging(settings: Settings) -> None:
    from service.logging_setup import configure

    configure(settings.log_format)


async def _has_usable_key(settings: Settings) -> bool:
    """On an engine of its own: the server's runs in another event loop."""
    from persistence.api_keys import SqlApiKeys
    from persistence.db import create_engine, sessionmaker

    engine = create_engine(settings.database_url, reads_only=True)
    try:
        return await SqlApiKeys(sessionmaker(engine)).usable() > 0
    finally:
        await engine.dispose()


async def _with_keys(settings: Settings, use: Callable[[SqlApiKeys, datetime], Awaitable[T]]) -> T:
    from service.bootstrap import build

    container = build(settings)
    try:
        return await use(container.app_deps().api_keys, container.clock.now())
    finally:
        await container.aclose()


@keys.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="ops, approver, auditor or payee")],
    owner: Annotated[str, typer.Option(help="who holds it, e.g. an e-mail")],
    name: Annotated[str | None, typer.Option(help="what it is for")] = None,
    payee_id: Annotated[int | None, typer.Option(help="a payee key's payee")] = None,
) -> None:
    """Create a key and print it, once: only its hash is stored."""
    from persistence.api_keys import NewKey

    settings = _settings()
    _migrated(settings)
    request = NewKey(role, name if name is not None else f"{role.value} key", owner, payee_id)
    issued = asyncio.run(
        _with_keys(settings, lambda keys, now: keys.create(request, now, actor="cli"))
    )
    if isinstance(issued, list):
        for problem in issued:
            console.print(f"{problem.field}: {problem.code}: {problem.message}", markup=False)
        raise typer.Exit(1)
    console.print(f"API key {issued.id} ({role.value}, {issued.secret[:12]}), shown only now:")
    console.print(issued.secret, markup=False, soft_wrap=True)
    console.print(
        f"send it as  Authorization: Api-Key {issued.secret}", markup=False, soft_wrap=True
    )


@keys.command("list")
def keys_list(
    first: Annotated[int, typer.Option(help="how many, newest first")] = 100,
) -> None:
    """List the keys (never their secrets)."""
    from rich.table import Table

    settings = _settings()
    _migrated(settings)
    page = asyncio.run(_with_keys(settings, lambda keys, now: keys.page(first, None)))
    table = Table()
    for column in ("id", "prefix", "role", "name", "owner", "payee", "last used", "revoked"):
        table.add_column(column)
    for row in page.rows:
        table.add_row(
            str(row.id),
            row.prefix,
            row.role,
            row.name,
            row.owner,
            str(row.payee_id or ""),
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    console.print(table)


@keys.command("revoke")
def keys_revoke(ident: Annotated[int, typer.Argument(metavar="ID", help="the key's id")]) -> None:
    """Revoke a key: it stops working at the next request."""
    settings = _settings()
    _migrated(settings)
    problems = asyncio.run(
        _with_keys(settings, lambda keys, now: keys.revoke_id(ident, now, actor="cli"))
    )
    for problem in problems:
        console.print(f"{problem.code}: {problem.message}", markup=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"revoked API key {ident}")


class NeedsApproval(Exception):
    """A new run that the four-eyes rule (``RUN_APPROVAL_MIN_TOTAL``) puts behind an
    approval, which this command cannot give: it has nobody to ask."""


async def _four_eyes(container: Container, event: str, key: str) -> str | None:
    """Why this command may not start a run of ``event`` with ``key``, or None.

    The rule is the API's (``startRun``): a new run whose preview reaches the threshold
    waits for an approver of another owner. A run this key already has is the run store's
    to judge (one awaiting its approval, or queued for the job runner, is refused there;
    one that this command started is resumed or replayed)."""
    from sqlalchemy import select

    from domain.run_workflow import approval_required, parse_threshold
    from persistence.tables import LiquidationEvent, PayoutRun

    threshold = parse_threshold(container.settings.run_approval_min_total)
    if threshold is None:
        return None
    async with container.sessions() as session:
        event_id = await session.scalar(
            select(LiquidationEvent.id).where(LiquidationEvent.code == event)
        )
        if event_id is None:
            return None  # the run says so, as before
        existing = await session.scalar(
            select(PayoutRun.id).where(
                PayoutRun.event_id == event_id, PayoutRun.idempotency_key == key
            )
        )
    if existing is not None:
        return None
    # Every run needs one at 0: no need to evaluate the event to know.
    if threshold != 0 and not approval_required(
        await container.runner.preview(event_id), threshold
    ):
        return None
    return (
        f"a run of {event} needs an approval (RUN_APPROVAL_MIN_TOTAL="
        f"{container.settings.run_approval_min_total}), and this command cannot give one."
        " Start it with the startRun mutation (an ops key); an approver key of another owner"
        " decides it with decideApproval, and `serve` or a `worker` executes it. On a"
        " development database, RUN_APPROVAL_MIN_TOTAL=off lets this command run it."
    )


async def _run(event: str, key: str) -> RunSummary:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from service.bootstrap import build

    container = build(_settings())
    try:
        refusal = await _four_eyes(container, event, key)
        if refusal is not None:
            raise NeedsApproval(refusal)
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
    """Run an event's payouts and print the summary. Re-running pays nobody twice.

    A new run that needs an approval (RUN_APPROVAL_MIN_TOTAL, as for startRun) is refused:
    start it through the API, where an approver decides it."""
    from service.bootstrap import provider_urls

    settings = _settings()
    _migrated(settings)
    if any(not url for url in provider_urls(settings).values()):
        console.print(
            "[yellow]note[/yellow]: in-process mock banks live only in this command's process;"
            " the orders it creates are not seen by `serve`'s poller. Use the startRun mutation,"
            " or served mock banks (*_PROVIDER_URL), to follow them afterwards.",
            soft_wrap=True,
        )
    key = idempotency_key or f"cli-{uuid.uuid4().hex}"
    try:
        summary = asyncio.run(_run(event, key))
    except PayoutEngineError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None
    except NeedsApproval as refused:
        console.print(f"[red]APPROVAL_REQUIRED[/red]: {refused}", soft_wrap=True)
        raise typer.Exit(3) from None
    print_summary(summary, key)


def print_summary(summary: RunSummary, key: str) -> None:
    from rich.table import Table

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


async def _worker(settings: Settings) -> None:
    from domain import calendars
    from domain.rails import RAILS
    from jobs.scheduler import JobScheduler
    from service.bootstrap import build

    container = build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    scheduler = JobScheduler(container.jobs)
    calendars.warm(RAILS, container.clock.now().date())  # not inside the first run
    try:
        recovered = await container.runner.recover()
        console.print(f"worker {container.jobs.worker}: {recovered} interrupted submission(s)")
        scheduler.start()
        console.print(f"jobs: {', '.join(scheduler.job_ids())}; stop with Ctrl-C or SIGTERM")
        await stop.wait()
        console.print("stopping: waiting for running jobs")
        await scheduler.stop()
    finally:
        await container.aclose()
    console.print("worker stopped")


def _require_served_providers(settings: Settings, command: str) -> None:
    """In-process mock banks live and die with one process: a worker or a reconciliation
    in a process of its own would see empty banks and call every payout missing, and
    so would each of several server processes."""
    from service.bootstrap import provider_urls

    in_process = [kind.value for kind, url in provider_urls(settings).items() if not url]
    if in_process:
        instead = (
            "or serve with --workers 1"
            if command.startswith("serve")
            else "or use the jobs that run inside `serve` (and the runReconciliation mutation)"
        )
        console.print(
            f"[red]{command} needs providers its processes share[/red]: {', '.join(in_process)}"
            " use in-process mock banks, which exist only inside one process. Serve them with"
            " `payout-engine mock-provider --kind <kind> --port <port>` and set"
            f" ACH_PROVIDER_URL, WIRE_PROVIDER_URL and CROSS_BORDER_PROVIDER_URL, {instead}.",
            soft_wrap=True,
        )
        raise typer.Exit(2)


@app.command()
def worker() -> None:
    """Run the scheduled jobs without the API (any number of workers may share a database)."""
    settings = _settings()
    _require_served_providers(settings, "worker")
    # After the imports above: Alembic logs its plugins at INFO as it is imported.
    _configure_logging(settings)
    _migrated(settings)
    asyncio.run(_worker(settings))


async def _reconcile(day: date | None) -> ReconciliationResult:
    from service.bootstrap import build

    container = build(_settings())
    try:
        return await container.jobs.reconcile(day or container.jobs.due_business_date())
    finally:
        await container.aclose()


@app.command()
def reconcile(
    day: Annotated[
        datetime | None,
        typer.Option(
            "--date", formats=["%Y-%m-%d"], help="business date (default: the last one due)"
        ),
    ] = None,
) -> None:
    """Reconcile payouts, provider records and the ledger for a business date, now."""
    settings = _settings()
    _require_served_providers(settings, "reconcile")
    _migrated(settings)
    try:
        result = asyncio.run(_reconcile(day.date() if day else None))
    except PayoutEngineError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None
    print_reconciliation(result)


def print_reconciliation(result: ReconciliationResult) -> None:
    from rich.table import Table

    counts = result.counts
    table = Table(title=f"reconciliation of {result.business_date} (run {result.run_id})")
    table.add_column("")
    table.add_column("count", justify="right")
    for label in ("provider_orders", "breaks_found", "auto_resolved", "open", "new", "vanished"):
        table.add_row(label.replace("_", " "), str(counts.get(label, 0)))
    for kind, n in counts.get("by_kind", {}).items():
        table.add_row(f"  {kind}", str(n))
    console.print(table)
    for found in result.open:
        console.print(f"[yellow]{found.kind}[/yellow] {found.detail}", soft_wrap=True)


@app.command("mock-provider")
def mock_provider(
    kind: Annotated[ProviderKind, typer.Option(help="which bank to simulate")] = ProviderKind.ACH,
    host: str = "127.0.0.1",
    port: int = 9101,
    seed: int = 7,
    latency_ms: float = 0.0,
    transient_error_rate: float = 0.0,
    rate_limit_per_s: Annotated[float | None, typer.Option(help="answer 429 above it")] = None,
    clock_speed: Annotated[
        float, typer.Option(help="simulated seconds per real second; 0 stands still")
    ] = 0.0,
    return_rate: Annotated[float, typer.Option(help="settled orders returned later")] = 0.0,
    failure_rate: Annotated[float, typer.Option(help="orders failing at settlement")] = 0.0,
) -> None:
    """Serve one mock bank over HTTP; point the engine at it with *_PROVIDER_URL."""
    from providers.mock.config import MockBankConfig
    from providers.mock.server import serve as serve_bank

    config = MockBankConfig(
        seed=seed,
        latency_ms=latency_ms,
        transient_error_rate=transient_error_rate,
        rate_limit_per_s=rate_limit_per_s,
        return_rate=return_rate,
        failure_rate=failure_rate,
    )
    serve_bank(kind, host, port, config, clock_speed=clock_speed)


async def _export(
    settings: Settings, output: Path | None, run_id: int | None, status: str | None
) -> bool:
    """Write the run report (``run_id``) or the breaks report; False: no such run."""
    from persistence import report_store
    from persistence.db import create_engine, sessionmaker

    engine = create_engine(settings.database_url, reads_only=True)
    sessions = sessionmaker(engine)
    try:
        if run_id is not None and not await report_store.run_exists(sessions, run_id):
            return False
        chunks = (
            report_store.run_csv(sessions, run_id)
            if run_id is not None
            else report_store.breaks_csv(sessions, status)
        )
        with (
            open(output, "w", newline="", encoding="utf-8") if output else nullcontext(sys.stdout)
        ) as out:
            async for chunk in chunks:
                out.write(chunk)
        return True
    finally:
        await engine.dispose()


OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
]


@report.command("run")
def report_run(
    ident: Annotated[int, typer.Argument(metavar="ID", help="the run's id")],
    output: OutputOption = None,
) -> None:
    """One row per payout of the run: payee, route, amounts, status, failure code."""
    settings = _settings()
    _migrated(settings)
    if not asyncio.run(_export(settings, output, ident, None)):
        Console(stderr=True).print(f"no payout run {ident}", markup=False)
        raise typer.Exit(1)


@report.command("breaks")
def report_breaks(
    status: Annotated[
        str | None, typer.Option(help="open, resolved or auto_resolved (default: all)")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Every reconciliation break, oldest first, with the evidence on both sides."""
    if status is not None and status not in ("open", "resolved", "auto_resolved"):
        Console(stderr=True).print("--status is open, resolved or auto_resolved", markup=False)
        raise typer.Exit(2)
    settings = _settings()
    _migrated(settings)
    asyncio.run(_export(settings, output, None, status))


async def _import(path: Path, request: ImportRequest) -> ImportOutcome:
    from service.bootstrap import build

    container = build(_settings())
    try:
        with path.open("rb") as source:
            deps = container.app_deps()
            return await deps.imports.run(source, request, container.clock.now(), actor="cli")
    finally:
        await container.aclose()


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="the CSV file", exists=True, dir_okay=False)],
    event: Annotated[str, typer.Option(help="the new event's code, e.g. LIQ-2026-007")],
    dry_run: Annotated[bool, typer.Option(help="only check and preview; write nothing")] = False,
    name: Annotated[str | None, typer.Option(help="the event's name (default: its code)")] = None,
    currency: Annotated[str, typer.Option(help="the amounts' currency")] = "USD",
    total: Annotated[str | None, typer.Option(help="with a weight column: the total")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="re-running replays")] = None,
) -> None:
    """Import a liquidation event from a CSV (payees, accounts, amounts); all or nothing."""
    import hashlib

    from domain.csv_import import ImportRequest

    settings = _settings()
    _migrated(settings)
    request = ImportRequest(
        event_code=event.strip(),
        name=name or event,
        fund_name=name or event,
        currency=currency.strip().upper(),
        total=total,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
        file_sha256=hashlib.sha256(file.read_bytes()).hexdigest(),
    )
    outcome = asyncio.run(_import(file, request))
    print_import(outcome, dry_run)
    if outcome.problems or outcome.preview.error_count:
        raise typer.Exit(1)


def print_import(outcome: ImportOutcome, dry_run: bool) -> None:
    from rich.table import Table

    preview = outcome.preview
    title = "dry run: nothing written" if dry_run else "import"
    if outcome.event_id is not None:
        title = f"imported as event {outcome.event_id}" + (
            " (replayed)" if outcome.replayed else ""
        )
    table = Table(title=title)
    table.add_column("rows")
    table.add_column("count", justify="right")
    for label, value in [
        ("read", preview.rows_read),
        ("payees new", preview.payees_new),
        ("payees changed", preview.payees_changed),
        ("payees unchanged", preview.payees_unchanged),
        ("accounts new", preview.accounts_new),
        ("accounts changed", preview.accounts_changed),
        ("errors", preview.error_count),
    ]:
        table.add_row(label, str(value))
    console.print(table)
    console.print(f"total: {preview.total}", markup=False)
    if preview.rails:
        rails = ", ".join(f"{rail} {n}" for rail, n in sorted(preview.rails.items()))
        console.print(f"predicted rails: {rails}", markup=False, soft_wrap=True)
    if preview.skips:
        skips = ", ".join(f"{reason} {n}" for reason, n in sorted(preview.skips.items()))
        console.print(f"a run would skip: {skips}", markup=False, soft_wrap=True)
    for error in preview.errors:
        where = f"row {error.row}" + (f", {error.column}" if error.column else "")
        console.print(f"{where}: {error.code}: {error.message}", markup=False, soft_wrap=True)
    if preview.error_count > len(preview.errors):
        console.print(f"... and {preview.error_count - len(preview.errors)} more row errors")
    for problem in outcome.problems:
        console.print(f"{problem.field}: {problem.code}: {problem.message}", markup=False)


if __name__ == "__main__":
    app()

"""The ``optagent`` command line (typer + rich)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.clock import Clock
from agent.config import AgentSettings, effective_items, load_settings, value_sources
from agent.errors import ConfigError
from agent.ports import Store

if TYPE_CHECKING:
    from agent.risk import RiskService

app = typer.Typer(
    name="optagent",
    help="Automated options-trading agent for US equity/ETF options on Alpaca.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (default: ./config.yaml if present)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a setting: section.key=value (repeatable)."),
]


@dataclass
class CliState:
    config_file: Path | None = None
    overrides: list[str] = field(default_factory=list)

    def settings(self) -> AgentSettings:
        try:
            return load_settings(self.config_file, self.overrides)
        except ConfigError as exc:
            fail(str(exc))


STATE = CliState()


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def main_callback(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Global options apply to every command."""
    STATE.config_file = config
    STATE.overrides = list(set_ or [])


# --------------------------------------------------------------------------- config


@config_app.command("check")
def config_check(
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Validate the configuration and print every effective value with its source."""
    config_file = config or STATE.config_file
    overrides = [*STATE.overrides, *(set_ or [])]
    try:
        settings = load_settings(config_file, overrides)
        sources = value_sources(config_file, overrides)
    except ConfigError as exc:
        fail(str(exc))
    table = Table(title="optagent effective configuration", show_lines=False)
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("source")
    for key, value in effective_items(settings):
        source = sources.get(key) or next(
            (src for k, src in sources.items() if key.startswith(k + ".")), "default"
        )
        table.add_row(key, value, source)
    console.print(table)
    console.print(f"[green]configuration OK[/] (mode {settings.mode.value})")


# --------------------------------------------------------------------------- commands


@app.command()
def scan(
    once: Annotated[
        bool, typer.Option("--once", help="Run one scan cycle now (the only mode).")
    ] = True,
    explain: Annotated[
        str | None, typer.Option(help="Print every decision record of this symbol.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Record scan decisions only: no risk check, no orders."),
    ] = False,
) -> None:
    """Run one scan cycle now (simulator by default; any mode) and print the ranked
    candidates, what risk said, and a per-symbol summary of rejections."""
    import asyncio
    from collections import Counter
    from datetime import timedelta

    from agent.clock import SimClock
    from agent.engine import Engine
    from agent.factories import build_world
    from agent.local import LocalServices
    from agent.signals import EXPLAIN_COLUMNS
    from agent.signals import explain as explain_rows

    settings = STATE.settings()
    world = build_world(settings)
    clock = world.clock
    if isinstance(clock, SimClock) and not world.calendar.is_open(clock.now()):
        # The simulated market is closed at the saved time: scan 30 minutes after the next open.
        clock.set(world.calendar.next_open(clock.now()) + timedelta(minutes=30))
    services = LocalServices(world)
    engine = Engine(services)
    report = asyncio.run(engine.scan_cycle(world.symbols, clock.now(), evaluate=not dry_run))
    world.save()

    console.print(
        f"scan {report.scan_id} at {report.at:%Y-%m-%d %H:%M} UTC: {report.symbols} symbols, "
        f"{report.candidates} candidates, {len(report.selected)} selected, "
        f"{sum(d.approved for d in report.decisions)} approved, {len(report.opened)} opened "
        f"({report.elapsed_s:.2f} s; trading state {report.state.value})"
    )
    table = Table(title="ranked candidates")
    columns = (
        "#",
        "symbol",
        "strategy",
        "expiry",
        "strikes",
        "credit $",
        "max loss $",
        "PoP",
        "EV $",
        "risk",
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    decisions = {d.candidate_id: d for d in report.decisions}
    for rank, c in enumerate(report.selected, start=1):
        decision = decisions.get(c.candidate_id)
        verdict = "not checked (dry run)" if decision is None else decision.summary()
        strikes = "/".join(
            f"{'+' if leg.side.value == 'buy' else '-'}{leg.contract.right.occ_letter}{leg.contract.strike}"
            for leg in c.legs
        )
        table.add_row(
            str(rank), c.underlying, c.strategy.value, str(c.expiry), strikes,
            f"{c.credit_usd:,.2f}", f"{c.max_loss_usd:,.2f}", f"{c.pop:.0%}",
            f"{c.expected_value_usd:,.2f}", verdict,
        )  # fmt: skip
    console.print(table)
    rejected: Counter[str] = Counter()
    for s in report.scans:
        if not s.candidates:
            failed = [r.rule for d in s.decisions for r in d.failed_reasons]
            rejected[failed[0] if failed else "no candidate"] += 1
    if rejected:
        console.print("symbols without a candidate, by first failed rule:")
        for rule, count in rejected.most_common():
            console.print(f"  {rule}: {count}", highlight=False)
    if explain:
        symbol = explain.upper()
        with world.store.transaction() as tx:
            records = tx.decisions.list(underlying=symbol, scan_id=report.scan_id)
        why = Table(
            title=f"why: {symbol} at {report.at:%Y-%m-%d %H:%M} UTC ({len(records)} records)"
        )
        for column in EXPLAIN_COLUMNS:
            why.add_column(column, overflow="fold")
        for row in explain_rows(records):
            why.add_row(*row)
        console.print(why)
    del once


@app.command()
def backtest(
    days: Annotated[int, typer.Option(help="Trading sessions to simulate.", min=1)] = 5,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--resume", help="Start a new backtest (default) or continue the last one."
        ),
    ] = True,
) -> None:
    """Run the real engine and services over the simulator with a stepped clock, as fast as
    possible (its own database and exchange state under var/backtest/)."""
    import shutil
    from pathlib import Path

    from agent.backtest import Backtest
    from agent.domain import Mode

    base = Path("var/backtest")
    if fresh and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        STATE.config_file,
        [
            f"database_url=sqlite:///{base / 'backtest.db'}",
            f"sim.state_file={base / 'sim_exchange.json'}",
            *STATE.overrides,
        ],
    )
    if settings.mode is not Mode.SIM:
        fail("backtest runs on the simulator: set mode=sim")
    result = Backtest(settings, days=days).run()
    table = Table(
        title=f"backtest {result.sessions[0]} .. {result.sessions[-1]} ({len(result.sessions)} sessions)"
    )
    table.add_column("figure")
    table.add_column("value")
    for name, value in (
        ("symbols", result.symbols),
        ("scans", result.scans),
        ("trades opened", result.trades_opened),
        ("trades closed", result.trades_closed),
        ("trades open at end", result.trades_open_at_end),
        (
            "by strategy",
            ", ".join(f"{k} {v}" for k, v in sorted(result.by_strategy.items())) or "-",
        ),
        ("orders / rejected", f"{result.orders} / {result.rejected_orders}"),
        ("fills", result.fills),
        ("realised P&L $", f"{result.realized_pnl_usd:,.2f}"),
        ("equity $", f"{result.equity_start_usd:,.2f} → {result.equity_end_usd:,.2f}"),
        ("step errors", result.step_errors),
        ("wall time s", f"{result.elapsed_s:.1f}"),
    ):
        table.add_row(name, str(value))
    console.print(table)


def _operator_context(settings: AgentSettings) -> tuple[Store, Clock]:
    """The store and the agent's notion of "now" for commands run beside (or without) a
    running agent: simulated time in sim mode (from the running clock's anchor, else where
    the saved simulation stopped), wall time otherwise."""
    from agent.calendar import market_calendar
    from agent.clock import SimClock, SystemClock
    from agent.domain import Mode
    from agent.factories import (
        CLOCK_ANCHOR_KEY,
        ClockAnchor,
        accelerated_clock,
        build_store,
        saved_sim_time,
        sim_start,
    )
    from agent.schedule import Schedule

    store = build_store(settings)
    if settings.mode is not Mode.SIM:
        return store, SystemClock()
    with store.transaction() as tx:
        anchor = tx.state.get(CLOCK_ANCHOR_KEY)
    calendar = market_calendar()
    if anchor is not None:
        running = accelerated_clock(
            ClockAnchor.from_json(dict(anchor)), Schedule(settings.schedule, calendar)
        )
        return store, SimClock(running.now())
    return store, SimClock(saved_sim_time(settings) or sim_start(settings, calendar))


def _risk_service(settings: AgentSettings, store: Store, clock: Clock) -> RiskService:
    from agent.adapters.alerts import ConsoleAlerts
    from agent.calendar import market_calendar
    from agent.risk import RiskService

    return RiskService(
        store=store,
        clock=clock,
        settings=settings,
        alerts=ConsoleAlerts(),
        calendar=market_calendar(),
    )


def _risk(settings: AgentSettings) -> RiskService:
    return _risk_service(settings, *_operator_context(settings))


@app.command()
def status() -> None:
    """Show trading state, limits used, open trades, loop health and recent events."""
    from agent.domain import TradeStatus
    from agent.runner import HEALTH_KEY

    settings = STATE.settings()
    store, clock = _operator_context(settings)
    view = _risk_service(settings, store, clock).view()
    console.print(
        f"[bold]optagent[/] mode {settings.mode.value}, clock {clock.now():%Y-%m-%d %H:%M} UTC"
    )
    for line in view.lines():
        console.print(line, highlight=False)
    with store.transaction() as tx:
        open_trades = tx.trades.list(
            statuses=[TradeStatus.PENDING, TradeStatus.OPEN, TradeStatus.CLOSING]
        )
        health = tx.state.get(HEALTH_KEY)
        events = tx.events.list(limit=10)
    table = Table(title=f"open trades ({len(open_trades)})")
    for column in (
        "trade",
        "underlying",
        "strategy",
        "status",
        "qty",
        "entry net",
        "max loss",
        "opened",
    ):
        table.add_column(column)
    for t in open_trades:
        table.add_row(
            t.trade_id[:12], t.underlying, t.strategy.value, t.status.value, str(t.qty),
            str(t.entry_net_price or ""), f"{t.max_loss_usd:,.0f}", f"{t.opened_at:%m-%d %H:%M}",
        )  # fmt: skip
    console.print(table)
    if health:
        loops = Table(title=f"loop health (as of {health.get('at', '?')})")
        for column in ("loop", "runs", "errors", "skipped", "last latency s", "last success"):
            loops.add_column(column)
        for name, h in dict(health.get("loops", {})).items():
            loops.add_row(
                name, str(h["runs"]), str(h["errors"]), str(h["skipped"]),
                str(h["last_latency_s"]), str(h["last_success_at"] or "-"),
            )  # fmt: skip
        console.print(loops)
    for event in events:
        console.print(
            f"{event.occurred_at:%m-%d %H:%M} {event.level.value:8} {event.kind}: {event.message}",
            highlight=False,
        )


@app.command()
def report() -> None:
    """Performance from closed trades: the latest all-time and daily metrics."""
    settings = STATE.settings()
    store, _ = _operator_context(settings)
    with store.transaction() as tx:
        metrics = tx.metrics.list()
    if not metrics:
        console.print("no metrics yet: the daily analysis runs at 17:00 ET after a trading day")
        return
    table = Table(title="performance")
    for column in (
        "period",
        "start",
        "end",
        "trades",
        "P&L",
        "win rate",
        "profit factor",
        "Sharpe",
        "max DD",
    ):
        table.add_column(column)

    def num(value: float | None, fmt: str = ".2f") -> str:
        return "-" if value is None else format(value, fmt)

    for m in metrics[-15:]:
        table.add_row(
            m.period_type, str(m.period_start), str(m.period_end), str(m.trades), f"{m.total_pnl:,.2f}",
            num(m.win_rate, ".0%"), num(m.profit_factor), num(m.sharpe), f"{m.max_drawdown_usd:,.2f}",
        )  # fmt: skip
    console.print(table)


@app.command()
def reconcile() -> None:
    """Compare the database with the broker now and record the differences (sim mode: with
    the saved simulated exchange, so run it while the agent is stopped)."""
    from agent.adapters.alerts import ConsoleAlerts
    from agent.execution import ExecutionService
    from agent.factories import build_world
    from agent.marketdata.service import MarketDataService

    settings = STATE.settings()
    world = build_world(settings)
    market = MarketDataService(
        market_data=world.market_data,
        store=world.store,
        clock=world.clock,
        settings=world.settings,
        calendar=world.calendar,
    )
    execution = ExecutionService(
        broker=world.broker, store=world.store, clock=world.clock, settings=world.settings,
        alerts=ConsoleAlerts(), quotes=market.quotes, calendar=world.calendar,
    )  # fmt: skip
    result = execution.reconcile()
    console.print(
        f"activities {result.activities}, unknown orders resolved {result.resolved_unknown}, "
        f"external orders {result.external_orders}, differences {len(result.differences)}"
    )
    for difference in result.differences:
        console.print(f"  {difference}", highlight=False)


@app.command()
def halt(
    reason: Annotated[str, typer.Option(help="Why (recorded and alerted).")] = "manual halt",
) -> None:
    """Stop opening new trades (exits still run). Takes effect in a running agent at once."""
    _risk(STATE.settings()).halt(reason)
    console.print("trading HALTED: no new trades; exits still run")


@app.command()
def resume(reason: Annotated[str, typer.Option(help="Why (recorded).")] = "manual resume") -> None:
    """Return to the ACTIVE trading state (breakers that clear by themselves stay in force)."""
    risk = _risk(STATE.settings())
    risk.resume(reason)
    console.print(f"trading state now {risk.trading_state().value.upper()}")


@app.command()
def flatten(
    reason: Annotated[str, typer.Option(help="Why (recorded and alerted).")] = "manual flatten",
) -> None:
    """Halt and close every position with multi-leg limit orders (the running agent does it at
    its next monitor cycle)."""
    _risk(STATE.settings()).request_flatten(reason)
    console.print("flatten requested: the agent closes every trade at its next monitor cycle")


@app.command()
def learn(
    approve: Annotated[str | None, typer.Option(help="Apply this proposal.")] = None,
    reject: Annotated[str | None, typer.Option(help="Reject this proposal.")] = None,
    run_now: Annotated[bool, typer.Option("--run", help="Run the weekly learner now.")] = False,
) -> None:
    """Show the learner's proposals; approve or reject one; or run the learner now."""
    from agent.calendar import ET
    from agent.learning import LearningService

    settings = STATE.settings()
    store, clock = _operator_context(settings)
    service = LearningService(store=store, clock=clock, settings=settings)
    if approve or reject:
        log = service.decide(approve or reject or "", approve=approve is not None)
        console.print(
            f"proposal {log.log_id}: {log.status} ({log.strategy} {dict(log.new_params)})"
        )
        return
    if run_now:
        service.weekly_learning(clock.now().astimezone(ET).date())
    with store.transaction() as tx:
        logs = tx.learning.list()
    if not logs:
        console.print(
            f"no proposals yet (the learner needs {settings.learning.min_closed_trades} closed trades per strategy)"
        )
        return
    table = Table(title="learning proposals")
    for column in ("id", "when", "strategy", "change", "confidence", "trades", "status", "reason"):
        table.add_column(column, overflow="fold")
    for log in logs:
        change = ", ".join(f"{k}: {log.old_params.get(k)} → {v}" for k, v in log.new_params.items())
        table.add_row(
            log.log_id[:12], f"{log.logged_at:%Y-%m-%d}", log.strategy, change, f"{log.confidence:.2f}",
            str(log.trades_analyzed), log.status, log.reason,
        )  # fmt: skip
    console.print(table)


@app.command()
def close(
    trade_id: Annotated[str, typer.Argument(help="The trade to close (see optagent status).")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "manual close",
) -> None:
    """Close one trade through the normal execution path (multi-leg limit order, walker,
    records): the running agent picks the request up at its next monitor cycle."""
    from agent.monitor import request_manual_close

    settings = STATE.settings()
    store, clock = _operator_context(settings)
    with store.transaction() as tx:
        matches = [t.trade_id for t in tx.trades.list() if t.trade_id.startswith(trade_id)]
    if len(matches) != 1:
        fail(
            f"{len(matches)} trades match {trade_id!r}: give more of the id (optagent status lists them)"
        )
    if not request_manual_close(store, matches[0], reason, at=clock.now()):
        fail(f"trade {matches[0]} is not open")
    console.print(
        f"close requested for {matches[0]}: the agent closes it at its next monitor cycle"
    )


@app.command("sim-server")
def sim_server(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default sim.server_host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default sim.server_port).")] = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Accelerate simulated time by this factor from sim.start_date."),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Simulate the market at wall-clock time, so an agent in paper mode agrees with it.",
        ),
    ] = False,
) -> None:
    """Serve the simulator as an Alpaca-compatible HTTP API (trading v2, stock data v2,
    options data v1beta1) on loopback; point ALPACA_BASE_URL/ALPACA_DATA_URL at it.

    The clock is stepped by ``POST /_admin/advance`` unless ``--speed`` or ``--realtime``."""
    from agent.adapters.sim.server import serve
    from agent.calendar import market_calendar
    from agent.clock import SystemClock
    from agent.factories import accelerated_clock, new_anchor, sim_start
    from agent.schedule import Schedule

    if speed is not None and realtime:
        fail("choose --speed or --realtime, not both")
    settings = STATE.settings()
    clock: Clock | None = SystemClock() if realtime else None
    if speed is not None:
        calendar = market_calendar()
        anchor = new_anchor(sim_start(settings, calendar), speed)
        clock = accelerated_clock(anchor, Schedule(settings.schedule, calendar))
    bind_host = host or settings.sim.server_host
    bind_port = port if port is not None else settings.sim.server_port
    console.print(f"Alpaca-compatible simulator on http://{bind_host}:{bind_port} (Ctrl-C to stop)")
    serve(settings, bind_host, bind_port, clock=clock)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: the newest).")
    ] = "head",
) -> None:
    """Apply database migrations (start-up applies them too)."""
    from agent.adapters.persistence import current_revision, upgrade

    settings = STATE.settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at revision {current_revision(settings.database_url)}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

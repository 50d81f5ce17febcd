"""The ``optagent`` console script: ``agent.cli``'s app plus the commands that need Ray.

``agent/cli.py`` must not import ``actors`` (layering), so the console script points here:
this module takes ``agent.cli.app``, adds ``run`` (the actor system) and ``health`` (loop
and actor health from the supervisor's snapshot), and runs it.

``optagent run`` starts a local Ray instance (or joins ``--address``/``RAY_ADDRESS``),
creates the actors, shows a live panel (plain log lines when stdout is not a terminal), and
with ``--days N`` stops after N simulated trading days, prints a summary and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from actors.system import AgentSystem, connect, disconnect, run_summary
from agent.calendar import ET
from agent.cli import STATE, app, console, err_console, fail
from agent.clock import monotonic_s
from agent.config import AgentSettings, load_settings
from agent.domain import Mode
from agent.errors import ConfigError
from agent.factories import build_store
from agent.logging import configure_logging, logger
from agent.runner import HEALTH_KEY

PLAIN_EVERY_S = 10.0
STATUS_EVERY_S = 1.0


def _settings(extra: list[str]) -> AgentSettings:
    try:
        return load_settings(STATE.config_file, [*STATE.overrides, *extra])
    except ConfigError as exc:
        fail(str(exc))


# --------------------------------------------------------------------------- rendering


def _loop_table(loops: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="loops", expand=False)
    for column in ("loop", "runs", "errors", "skipped", "last s", "max s", "lag s", "last error"):
        table.add_column(column)
    for name, h in loops.items():
        table.add_row(
            name,
            str(h.get("runs", 0)),
            str(h.get("errors", 0)),
            str(h.get("skipped", 0)),
            f"{h.get('last_latency_s', 0.0):.3f}",
            f"{h.get('max_latency_s', 0.0):.3f}",
            f"{h.get('lag_s', 0.0):.1f}",
            escape(str(h.get("last_error") or ""))[:60],
        )
    return table


def _et(value: str | None) -> str:
    if not value:
        return "-"
    return f"{datetime.fromisoformat(value).astimezone(ET):%a %Y-%m-%d %H:%M} ET"


def _panel(summary: dict[str, Any]) -> Panel:
    actors = summary.get("actors", {})
    up = sum(1 for a in actors.values() if a.get("up"))
    restarts = sum(int(a.get("restarts_seen", 0)) for a in actors.values())
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"clock [bold]{_et(summary.get('sim_now'))}[/]",
        f"state [bold]{summary.get('trading_state') or '-'}[/]",
        f"actors up {up}/{len(actors)} (restarts {restarts})",
    )
    head.add_row(
        f"scans {summary['scans']}",
        f"trades {summary['trades_opened']} (open {summary['trades_open']}, "
        f"closed {summary['trades_closed']})",
        f"equity {summary.get('equity_usd') or '-'}  P&L {summary.get('pnl_usd') or '-'}",
    )
    head.add_row(
        f"orders {summary['orders']}", f"fills {summary['fills']}", f"rejects {summary['rejects']}"
    )
    return Panel(Group(head, _loop_table(summary.get("loops", {}))), title="optagent")


def _plain_line(summary: dict[str, Any]) -> str:
    loops = summary.get("loops", {})
    errors = sum(int(h.get("errors", 0)) for h in loops.values())
    return (
        f"{_et(summary.get('sim_now'))} | state {summary.get('trading_state') or '-'} | "
        f"scans {summary['scans']} | trades {summary['trades_opened']} "
        f"(open {summary['trades_open']}) | fills {summary['fills']} | "
        f"P&L {summary.get('pnl_usd') or '-'} | loop errors {errors}"
    )


def print_summary(summary: dict[str, Any]) -> None:
    console.print(_panel(summary))
    console.print(
        f"run finished at {_et(summary.get('sim_now'))}: sessions "
        f"{', '.join(summary.get('sessions', [])) or '-'}; {summary['trades_opened']} trades, "
        f"P&L {summary.get('pnl_usd') or '-'} USD, {summary['fills']} fills, "
        f"{summary['rejects']} rejects",
        highlight=False,
    )


# --------------------------------------------------------------------------- run


async def _watch(system: AgentSystem, *, live: bool) -> dict[str, Any]:
    """Follow the supervisor until its loops are done; returns the last summary."""
    last_plain = -PLAIN_EVERY_S
    summary: dict[str, Any] = {}
    view = Live(console=console, refresh_per_second=2, transient=False) if live else None
    with view or contextlib.nullcontext():
        while True:
            status = system.status()
            summary = await asyncio.to_thread(run_summary, system.settings, system.store, status)
            if view is not None:
                view.update(_panel(summary))
            elif monotonic_s() - last_plain >= PLAIN_EVERY_S:
                last_plain = monotonic_s()
                console.print(_plain_line(summary), highlight=False, soft_wrap=True)
            if status.get("done"):
                return summary
            await asyncio.sleep(STATUS_EVERY_S)


@contextlib.contextmanager
def _graceful(system: AgentSystem) -> Iterator[None]:
    """SIGINT/SIGTERM ask the supervisor to stop (final reconcile, exchange save)."""

    def handler(signum: int, _frame: object) -> None:
        logger.warning("signal {}: stopping the loops", signum)
        with contextlib.suppress(Exception):
            system.stop_soon()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(
    *,
    mode: Annotated[
        Mode | None, typer.Option(help="sim (default), paper or live (overrides `mode`).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after N trading days (after their daily analysis)."),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Simulated seconds per wall second (default sim.speed, 600)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Join this Ray cluster (host:port or auto; default RAY_ADDRESS or ray.address); "
            "without it a local Ray instance is started."
        ),
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Ray namespace (ray.namespace).")] = None,
    dashboard: Annotated[
        bool | None,
        typer.Option("--dashboard/--no-dashboard", help="Start the Ray dashboard (port 8265)."),
    ] = None,
    temp_dir: Annotated[
        Path | None, typer.Option(help="Ray's temp/session directory for a local instance.")
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option(help="CPUs of the local Ray instance (default: all).")
    ] = None,
    actor_logs: Annotated[
        bool, typer.Option(help="Also stream every actor's log lines to this terminal.")
    ] = False,
) -> None:
    """Run the agent as Ray actors (simulator by default) until stopped or for --days N."""
    extra: list[str] = []
    if mode is not None:
        extra.append(f"mode={mode.value}")
    if speed is not None:
        extra.append(f"sim.speed={speed}")
    if namespace is not None:
        extra.append(f"ray.namespace={namespace}")
    settings = _settings(extra)
    configure_logging(settings, component="driver", console=not sys.stdout.isatty())
    info = connect(
        settings,
        address=address,
        num_cpus=num_cpus,
        include_dashboard=dashboard,
        temp_dir=str(temp_dir) if temp_dir else None,
        log_to_driver=actor_logs,
    )
    if info.get("dashboard_url"):
        console.print(
            f"Ray dashboard: {info['dashboard_url']} (token auth: the token is in "
            "~/.ray/auth_token; see docs/actors.md)",
            highlight=False,
        )
    system = AgentSystem.start(settings, days=days)
    console.print(
        f"optagent {system.settings.mode.value}: {len(system.plan.symbols) if system.plan else '?'}"
        f" symbols, namespace {system.namespace}"
        + (
            f", until the daily analysis of {system.plan.last_session}"
            if system.plan and system.plan.last_session
            else ""
        ),
        highlight=False,
    )
    summary: dict[str, Any] = {}
    try:
        with _graceful(system):
            summary = asyncio.run(_watch(system, live=sys.stdout.isatty()))
    finally:
        detached = system.settings.ray.detached
        with contextlib.suppress(Exception):
            summary = system.summary()
        system.shutdown(kill=not detached)
        disconnect()
    print_summary(summary)
    if not sys.stdout.isatty():
        console.print(
            "summary "
            + json.dumps({k: v for k, v in summary.items() if k not in ("loops", "actors")}),
            highlight=False,
            soft_wrap=True,
        )


# --------------------------------------------------------------------------- health


def health() -> None:
    """Loop and actor health of the actor system (the Supervisor's snapshot in the store)."""
    settings = _settings([])
    store = build_store(settings)
    with store.transaction() as tx:
        raw = tx.state.get(HEALTH_KEY)
    if not raw:
        err_console.print("no health snapshot yet: start the agent with `optagent run`")
        raise typer.Exit(1)
    health = dict(raw)
    summary = run_summary(settings, store, health)
    console.print(_panel(summary))
    table = Table(title="actors")
    columns = ("actor", "up", "pid", "restarts", "calls", "errors", "ping ms", "libraries", "error")
    for column in columns:
        table.add_column(column)
    for name, a in sorted(health.get("actors", {}).items()):
        table.add_row(
            name,
            "yes" if a.get("up") else "NO",
            str(a.get("pid", "-")),
            str(a.get("restarts_seen", 0)),
            str(a.get("calls", "-")),
            str(a.get("errors", "-")),
            str(a.get("latency_ms", "-")),
            " ".join(a.get("libraries") or ()),
            escape(str(a.get("error") or ""))[:60],
        )
    console.print(table)
    console.print(
        f"snapshot of run {health.get('run_id')} ({'done' if health.get('done') else 'running'})",
        highlight=False,
    )


app.command("run")(run)
app.command("health")(health)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

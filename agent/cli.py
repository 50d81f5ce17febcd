"""The ``optagent`` command line (typer + rich)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.config import AgentSettings, effective_items, load_settings, value_sources
from agent.errors import ConfigError

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


def not_built(command: str, issue: str) -> NoReturn:
    """Commands the product will have but that are not built yet say so and exit 2."""
    err_console.print(
        f"optagent {command}: not built yet ({issue}); nothing was done.", highlight=False
    )
    raise typer.Exit(2)


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
def run() -> None:
    """Run the agent (simulator by default) until stopped or for --days simulated days."""
    not_built("run", "the actor system, issue 11")


@app.command()
def scan() -> None:
    """Run one scan cycle now and print the ranked candidates."""
    not_built("scan", "signals, issue 7")


@app.command()
def backtest() -> None:
    """Replay the decision core over simulated days with a stepped clock."""
    not_built("backtest", "the embedded market, issue 5")


@app.command()
def status() -> None:
    """Show trading state, positions, P&L, limits used and loop health."""
    not_built("status", "risk view, issue 8")


@app.command()
def report() -> None:
    """Print performance reports from closed trades."""
    not_built("report", "learning, issue 10")


@app.command()
def reconcile() -> None:
    """Compare the database with the broker and record the differences."""
    not_built("reconcile", "execution, issue 9")


@app.command()
def halt() -> None:
    """Stop opening new trades (exits still run)."""
    not_built("halt", "risk breakers, issue 8")


@app.command()
def resume() -> None:
    """Return to the ACTIVE trading state."""
    not_built("resume", "risk breakers, issue 8")


@app.command()
def flatten() -> None:
    """Close every position with multi-leg limit orders."""
    not_built("flatten", "risk breakers, issue 8")


@app.command()
def close() -> None:
    """Close one trade through the normal execution path."""
    not_built("close", "monitoring, issue 10")


@app.command()
def learn() -> None:
    """Run the learner over closed trades and show its proposals."""
    not_built("learn", "learning")


@app.command("sim-server")
def sim_server(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default sim.server_host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default sim.server_port).")] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            help="Run the simulated clock at this speed (default: stepped by /_admin/advance)."
        ),
    ] = None,
) -> None:
    """Serve the simulator as an Alpaca-compatible HTTP API (trading v2, stock data v2,
    options data v1beta1) on loopback; point ALPACA_BASE_URL/ALPACA_DATA_URL at it."""
    from agent.adapters.sim.server import serve
    from agent.calendar import market_calendar
    from agent.factories import accelerated_clock, new_anchor, sim_start
    from agent.schedule import Schedule

    settings = STATE.settings()
    clock = None
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

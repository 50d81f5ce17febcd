"""The operator commands end to end on the simulator (real files in a temp directory)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner(env={"COLUMNS": "240"})  # wide tables: no wrapped cells
SMALL = [
    "--set", "sim.n_underlyings=6",
    "--set", "universe.watchlist=[SPY, QQQ, IWM, KO, BAC, XOM]",
    "--set", "alerts.console=false",
]  # fmt: skip


def test_scan_once_dry_run_explains_a_symbol(isolated_dir: Path) -> None:
    result = runner.invoke(
        app,
        [
            *SMALL,
            "--set",
            "universe.min_iv_rank=0",
            "scan",
            "--once",
            "--dry-run",
            "--explain",
            "KO",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "6 symbols" in result.output and "0 opened" in result.output
    selected = int(re.search(r"(\d+) selected", result.output).group(1))  # type: ignore[union-attr]
    assert selected > 0 and result.output.count("not checked (dry run)") == selected
    assert "why: KO" in result.output and "universe" in result.output
    # Scan decisions were recorded; risk judged nothing and nothing was sent.
    from agent.adapters.persistence import open_store
    from agent.domain import DecisionStage

    store = open_store(f"sqlite:///{isolated_dir / 'var' / 'optagent.db'}")
    with store.transaction() as tx:
        stages = {record.stage for record in tx.decisions.list()}
    assert DecisionStage.UNIVERSE in stages and DecisionStage.RISK not in stages
    status = runner.invoke(app, [*SMALL, "status"])
    assert "open trades (0)" in status.output


def test_scan_once_places_orders_that_status_shows(isolated_dir: Path) -> None:
    result = runner.invoke(app, [*SMALL, "--set", "universe.min_iv_rank=0", "scan", "--once"])
    assert result.exit_code == 0, result.output
    opened = int(result.output.split(" opened")[0].rsplit(" ", 1)[-1])
    assert opened > 0
    status = runner.invoke(app, [*SMALL, "status"])
    assert f"open trades ({opened})" in status.output


def test_backtest_prints_a_summary(isolated_dir: Path) -> None:
    result = runner.invoke(
        app, [*SMALL, "--set", "universe.min_iv_rank=0", "backtest", "--days", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "backtest 2026-03-02 .. 2026-03-02 (1 sessions)" in result.output
    assert "trades opened" in result.output


def test_close_requests_a_manual_close_of_an_open_trade(isolated_dir: Path) -> None:
    scanned = runner.invoke(app, [*SMALL, "--set", "universe.min_iv_rank=0", "scan", "--once"])
    assert scanned.exit_code == 0, scanned.output
    from agent.adapters.persistence import open_store

    store = open_store(f"sqlite:///{isolated_dir / 'var' / 'optagent.db'}")
    with store.transaction() as tx:
        trade_id = tx.trades.list()[0].trade_id
    result = runner.invoke(app, [*SMALL, "close", trade_id[:10]])
    assert result.exit_code == 0, result.output
    assert f"close requested for {trade_id}" in result.output
    missing = runner.invoke(app, [*SMALL, "close", "no-such-trade"])
    assert missing.exit_code == 1 and "0 trades match" in missing.output

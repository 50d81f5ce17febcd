"""The command line: real commands in a temporary directory."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()


def test_help_lists_every_product_command() -> None:
    from actors.cli import app as console_app  # the console script: agent.cli plus run/health

    result = runner.invoke(console_app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "run", "scan", "backtest", "status", "report", "config", "db", "reconcile",
        "halt", "resume", "flatten", "close", "learn", "sim-server",
    ):  # fmt: skip
        assert command in result.output


def test_config_check_shows_sources_and_masks_secrets(isolated_dir: Path) -> None:
    (isolated_dir / "config.yaml").write_text("risk:\n  max_trades_per_day: 7\n")
    result = runner.invoke(
        app,
        ["config", "check", "--set", "sim.seed=9"],
        env={"ALPACA_API_KEY": "PK-cli-secret-99", "ALPACA_SECRET_KEY": "SK-cli-secret-99"},
    )
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert "PK-cli-secret-99" not in result.output
    lines = {
        line.split("│")[1].strip(): line
        for line in result.output.splitlines()
        if line.count("│") >= 3
    }
    assert "config.yaml" in lines["risk.max_trades_per_day"]
    assert "cli" in lines["sim.seed"]


def test_config_check_fails_with_the_key_on_a_bad_file(isolated_dir: Path) -> None:
    bad = isolated_dir / "bad.yaml"
    bad.write_text("risk:\n  max_trade_per_day: 3\n")
    result = runner.invoke(app, ["config", "check", "--config", str(bad)])
    assert result.exit_code == 1
    assert "risk.max_trade_per_day" in result.output and "did you mean" in result.output


def test_db_upgrade_creates_the_database(isolated_dir: Path) -> None:
    result = runner.invoke(
        app, ["--set", f"database_url=sqlite:///{isolated_dir / 'a.db'}", "db", "upgrade"]
    )
    assert result.exit_code == 0, result.output
    assert "revision 0001" in result.output and (isolated_dir / "a.db").exists()


def test_halt_status_resume_round_trip(isolated_dir: Path) -> None:
    base = [
        "--set",
        f"database_url=sqlite:///{isolated_dir / 'ops.db'}",
        "--set",
        f"risk.kill_switch_file={isolated_dir / 'KILL'}",
    ]
    assert runner.invoke(app, [*base, "halt", "--reason", "earnings week"]).exit_code == 0
    shown = runner.invoke(app, [*base, "status"])
    assert shown.exit_code == 0, shown.output
    assert "HALTED" in shown.output and "earnings week" in shown.output
    assert runner.invoke(app, [*base, "resume"]).exit_code == 0
    assert "ACTIVE" in runner.invoke(app, [*base, "status"]).output
    flattened = runner.invoke(app, [*base, "flatten"])
    assert flattened.exit_code == 0 and "flatten requested" in flattened.output
    assert "FLATTEN REQUESTED" in runner.invoke(app, [*base, "status"]).output


def test_report_and_learn_on_an_empty_database(isolated_dir: Path) -> None:
    base = ["--set", f"database_url=sqlite:///{isolated_dir / 'ops.db'}"]
    assert "no metrics yet" in runner.invoke(app, [*base, "report"]).output
    assert "no proposals yet" in runner.invoke(app, [*base, "learn"]).output

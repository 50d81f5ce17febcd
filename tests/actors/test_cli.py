"""The console script: agent.cli's app with the actor system's run, plus health."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from actors.cli import app
from agent.config import load_settings
from agent.factories import build_store
from agent.runner import HEALTH_KEY

runner = CliRunner()


def _config(tmp: Path) -> Path:
    path = tmp / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{tmp / 'o.db'}",
                "logging": {"dir": str(tmp / "log"), "journal_file": str(tmp / "j.jsonl")},
                "sim": {"state_file": str(tmp / "sim.json")},
            }
        ),
        encoding="utf-8",
    )
    return path


def test_run_is_the_actor_systems() -> None:
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--days", "--speed", "--address", "--mode", "--dashboard", "--temp-dir"):
        assert option in result.output
    assert "not built" not in result.output
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert names.count("run") == 1 and names.count("health") == 1
    # agent.cli's own status stays (it reads the same health snapshot).
    status = next(c for c in app.registered_commands if (c.name or c.callback.__name__) == "status")  # type: ignore[union-attr]
    assert status.callback is not None and status.callback.__module__ == "agent.cli"


def test_agent_cli_does_not_import_actors_or_ray() -> None:
    code = (
        "import sys, agent.cli; "
        "bad = [m for m in sys.modules if m == 'ray' or m.startswith(('actors', 'ray.'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_driver_does_not_load_the_kernels() -> None:
    """The process that starts the system (``optagent run``) creates the actors and reads the
    simulated universe; numba and the pricing kernels load only in the actors that price."""
    code = (
        "import os, sys; from actors.cli import app; from actors.system import AgentSystem; "
        "from agent.config import load_settings; "
        "from agent.adapters.sim.market_config import market_config_from_settings; "
        "u = market_config_from_settings(load_settings(os.devnull, [], env_file=None, "
        "environ={})).universe(); assert len(u.symbols) >= 20; "
        "bad = [m for m in ('numba', 'agent.pricing', 'agent.adapters.sim.market') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_health_without_a_snapshot(isolated_dir: Path) -> None:
    result = runner.invoke(app, ["-c", str(_config(isolated_dir)), "health"])
    assert result.exit_code == 1
    assert "optagent run" in result.output


def test_health_shows_loops_and_actors(isolated_dir: Path) -> None:
    config = _config(isolated_dir)
    store = build_store(load_settings(config, env_file=None, environ={}))
    with store.transaction() as tx:
        tx.state.put(
            HEALTH_KEY,
            {
                "run_id": "r1",
                "done": False,
                "sim_now": "2026-03-02T15:00:00+00:00",
                "trading_state": "active",
                "scans": 12,
                "loops": {"scan": {"runs": 12, "errors": 1, "last_error": "DataError: x"}},
                "actors": {
                    "risk": {
                        "up": True,
                        "pid": 99,
                        "restarts_seen": 2,
                        "calls": 5,
                        "libraries": ["numba", "sqlalchemy"],
                    }
                },
            },
        )
    # A wide terminal (rich reads COLUMNS when it prints): no cell is cut.
    result = runner.invoke(app, ["-c", str(config), "health"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2026-03-02" in result.output and "10:00 ET" in result.output
    assert "DataError: x" in result.output
    assert "risk" in result.output and "99" in result.output
    assert "numba sqlalchemy" in result.output
    assert "run r1 (running)" in result.output

"""Kill the process: ``optagent run`` in a subprocess (its own Ray instance and temp
directories) is SIGKILLed mid-session together with every Ray process it started, then run
again. The second run resumes the simulated exchange from its state file and simulated time
from where the first stopped, reconciles, finishes the day, and the same invariants hold: no
duplicate orders, no orphans, no lost fills, positions equal the exchange's, no limit
breached."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import yaml

from agent.config import load_settings
from agent.factories import build_store, saved_sim_time
from agent.runner import HEALTH_KEY
from tests.actors.raykit import invariant_problems, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.chaos, pytest.mark.timeout(600)]

OPTAGENT = str(Path(sys.executable).with_name("optagent"))


def _config(tmp: Path) -> Path:
    config = {
        "database_url": f"sqlite:///{tmp / 'optagent.db'}",
        "sim": {"n_underlyings": 16, "speed": 1200, "state_file": str(tmp / "sim.json")},
        "universe": {"min_iv_rank": 0},
        "ray": {"include_dashboard": False, "num_scanners": 1, "namespace": "killtest"},
        "logging": {
            "dir": str(tmp / "log"),
            "journal_file": str(tmp / "log" / "journal.jsonl"),
            "level": "WARNING",
        },
        "risk": {"kill_switch_file": str(tmp / "KILL")},
        "learning": {"overrides_file": str(tmp / "learned.yaml")},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _start(tmp: Path, ray_tmp: Path, days: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "OPTAGENT_"))}
    env["RAY_TMPDIR"] = str(ray_tmp)
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                OPTAGENT,
                "-c",
                str(tmp / "config.yaml"),
                "run",
                "--days",
                str(days),
                "--temp-dir",
                str(ray_tmp),
                "--no-dashboard",
            ],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _session_processes(sid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def _kill_session(sid: int) -> int:
    """SIGKILL every process of the session we started (driver, GCS, raylet, workers):
    Ray's workers sit in their own process groups, so the session is the unit."""
    victims = _session_processes(sid)
    for proc in victims:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            continue
    psutil.wait_procs(victims, timeout=30)
    return len(victims)


def _snapshot(settings_path: Path) -> dict[str, object] | None:
    settings = load_settings(settings_path, env_file=None, environ={})
    store = build_store(settings)
    try:
        with store.transaction() as tx:
            health = tx.state.get(HEALTH_KEY)
            trades = len(tx.trades.list())
    finally:
        store.close()
    return {**health, "trades": trades} if health else None


def test_sigkill_everything_then_resume(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = load_settings(config, env_file=None, environ={})
    ray_tmp = Path(tempfile.mkdtemp(prefix="okp", dir="/tmp"))  # short: socket paths
    first = _start(tmp_path, ray_tmp, days=2, log=tmp_path / "run1.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        # Mid-session of the first day, once trades exist (from 10:00 ET: at 1200x the six
        # hours to the close leave ~18 wall seconds to see them and kill before it).
        def mid_session() -> bool:
            snap = _snapshot(config)
            return bool(
                snap
                and str(snap.get("sim_now", "")) >= "2026-03-02T15:00"
                and int(snap["trades"]) > 0  # type: ignore[call-overload]
            )

        assert wait_for(mid_session, timeout_s=240, poll_s=0.5), (tmp_path / "run1.log").read_text()
        assert first.poll() is None, "the first run ended before it was killed"
        killed = _kill_session(first.pid)
        assert killed >= 5, f"only {killed} processes in the session"
        assert _session_processes(first.pid) == []
        before = _snapshot(config)
        assert before is not None
        stopped_at = saved_sim_time(settings)
        assert stopped_at is not None and stopped_at < datetime.fromisoformat(
            "2026-03-02T21:00:00+00:00"
        )

        second = _start(tmp_path, ray_tmp, days=1, log=tmp_path / "run2.log")
        assert second.wait(timeout=300) == 0, (tmp_path / "run2.log").read_text()
        output = (tmp_path / "run2.log").read_text()
        assert "run finished at Mon 2026-03-02 17:00 ET" in output, output
        after = _snapshot(config)
        assert after is not None and after["done"]
        assert int(after["trades"]) >= int(before["trades"])  # type: ignore[call-overload]
        assert after["sessions"] == ["2026-03-02"]
    finally:
        for proc in (first, second):
            if proc is not None:
                _kill_session(proc.pid)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert invariant_problems(settings) == []

"""``connect`` / ``disconnect``: the local Ray instance ``optagent run`` starts, in its own
process (the test session's shared instance would make ``connect`` a no-op)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time, urllib.error, urllib.request
    from pathlib import Path

    import psutil
    import ray

    from actors.system import connect, disconnect
    from agent.config import load_settings

    port, temp_dir, dashboard = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "on"
    settings = load_settings(
        os.devnull,
        ["ray.namespace=connect-test", f"ray.dashboard_port={port}"],
        env_file=None,
        environ={},
    )
    info = connect(settings, num_cpus=1, include_dashboard=dashboard, temp_dir=temp_dir,
                   log_to_driver=False)
    assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42
    me = psutil.Process()
    commands = [" ".join(p.cmdline()) for p in me.children(recursive=True)]
    def status(headers):
        url = info["dashboard_url"] + "/api/version"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    token = (Path.home() / ".ray" / "auth_token").read_text().strip()
    statuses = [status({}), status({"Authorization": f"Bearer {token}"})] if dashboard else []
    pids = [p.pid for p in me.children(recursive=True)]
    disconnect()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in pids):
        time.sleep(0.5)
    left = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    print(json.dumps({"info": info, "commands": commands, "statuses": statuses, "left": left}))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("dashboard", ["on", "off"])
def test_local_instance_without_the_optional_daemons(tmp_path: Path, dashboard: str) -> None:
    """The local head runs without the autoscaler monitor and the log monitor (and, with the
    dashboard off, without the dashboard process), keeps the dashboard behind Ray's token
    auth on loopback, and ``disconnect`` stops every process."""
    ray_tmp = Path(f"/tmp/oc{os.getpid()}")  # short: Ray's socket paths are length-limited
    port = _free_port()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(port), str(ray_tmp), dashboard],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    commands = report["commands"]
    assert any("gcs_server" in c for c in commands)
    assert any("raylet" in c for c in commands)
    assert any("ray::DashboardAgent" in c for c in commands)  # metrics export
    assert not any("log_monitor.py" in c for c in commands), commands
    assert not any("autoscaler/_private/monitor.py" in c for c in commands), commands
    if dashboard == "on":
        assert any("dashboard/dashboard.py" in c for c in commands), commands
        assert report["info"]["dashboard_url"] == f"http://127.0.0.1:{port}"
        assert report["statuses"] == [401, 200]
    else:
        assert not any("dashboard/dashboard.py" in c for c in commands), commands
        assert not report["info"]["dashboard_url"]
    assert report["left"] == []

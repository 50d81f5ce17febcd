"""Multi-node: a head and two worker nodes (``ray.cluster_utils.Cluster``, one CPU each) in a
separate process with its own Ray temp directory; one full scan cycle fans out over scanners
on all three nodes and every decision lands in the shared database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def test_scan_across_three_nodes(tmp_path: Path) -> None:
    ray_tmp = tempfile.mkdtemp(prefix="omn", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "OPTAGENT_"))}
    env["RAY_TMPDIR"] = ray_tmp
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.actors.multinode_run", str(tmp_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert not report["address"].endswith(":6379")
    assert len(report["nodes"]) == 3
    assert sorted(report["scanner_nodes"]) == sorted(report["nodes"])  # one scanner per node
    assert sum(report["scanned_per_scanner"]) == report["symbols"] == report["scans"] == 30
    assert min(report["scanned_per_scanner"]) > 0
    assert report["candidates"] > 0
    assert report["decisions_stored"] >= report["symbols"]

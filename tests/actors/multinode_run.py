"""Run by test_multinode.py in its own process: a head and two worker nodes from
``ray.cluster_utils.Cluster`` (one CPU each), the service actors spread over them, one full
scan cycle with the shared database; prints a JSON report on the last line."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from actors.handles import get
from actors.system import AgentSystem
from agent.calendar import et_datetime
from agent.engine import Engine
from tests.actors.raykit import sim_settings


def main(tmp: Path) -> dict[str, object]:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        settings = sim_settings(tmp, "ray.num_scanners=3", "sim.n_underlyings=30")
        system = AgentSystem.start(
            settings, loops=False, start_at=et_datetime(date(2026, 3, 2), time(10, 0))
        )
        try:
            engine = Engine(system.services())
            report = asyncio.run(
                engine.scan_cycle(system.symbols, system.clock.now(), submit=False)
            )
            scanner_nodes = [
                get(ref, timeout_s=30)["node_id"] for ref in system.handles.scanners.pings()
            ]
            scanned = [get(ref, timeout_s=30)["scanned"] for ref in system.handles.scanners.pings()]
            with system.store.transaction() as tx:
                stored = len(tx.decisions.list(scan_id=report.scan_id))
        finally:
            system.shutdown()
        return {
            "address": cluster.address,
            "nodes": nodes,
            "scanner_nodes": scanner_nodes,
            "scanned_per_scanner": scanned,
            "symbols": report.symbols,
            "scans": len(report.scans),
            "candidates": report.candidates,
            "decisions_stored": stored,
            "elapsed_s": report.elapsed_s,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))

"""End to end on a local Ray instance: the agent in sim mode through two simulated trading
days, then the database must match the simulated exchange."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import ray

from actors.handles import get
from actors.system import AgentSystem
from agent.domain import OrderPurpose, TradeStatus
from agent.factories import build_store
from tests.actors.raykit import invariant_problems, load_exchange, sim_settings, wait_for


def exported_metrics() -> set[str]:
    port = ray.nodes()[0]["MetricsExportPort"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode()
    except OSError:
        return set()
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("ray_optagent_")
    }


pytestmark = [pytest.mark.ray, pytest.mark.timeout(420)]


def test_two_simulated_days(ray_local: None, tmp_path: Path) -> None:
    settings = sim_settings(tmp_path)
    system = AgentSystem.start(settings, days=2, heartbeat_s=2.0)
    try:
        # On the second morning, ask for a flatten through the Risk actor (the operator's
        # path): whatever the monitor decided, every open trade then gets a closing order.
        assert wait_for(lambda: system.status()["sessions"] == ["2026-03-02"], timeout_s=150)
        assert wait_for(lambda: system.status()["sim_now"] >= "2026-03-03T15:00", timeout_s=60)
        get(system.handles.risk.request_flatten("e2e: operator flatten"), timeout_s=30)
        assert system.wait(timeout_s=200), "the run did not finish two sessions in time"
        status = system.status()
        summary = system.summary(status)
        # Custom metrics reach the node's Prometheus endpoint (Ray prefixes them "ray_").
        wanted = {
            "ray_optagent_scan_latency_s_count",
            "ray_optagent_symbols_scanned_total",
            "ray_optagent_orders_total",
            "ray_optagent_fills_total",
            "ray_optagent_trading_state",
            "ray_optagent_actor_up",
        }
        assert wait_for(lambda: wanted <= exported_metrics(), timeout_s=60), exported_metrics()
    finally:
        system.shutdown()

    assert status["done"]
    assert status["sessions"] == ["2026-03-02", "2026-03-03"]
    loops = status["loops"]
    assert loops["scan"]["runs"] >= 8
    assert loops["monitor"]["runs"] >= 40
    assert loops["reconcile"]["runs"] >= 2
    assert loops["daily_analysis"]["runs"] == 2
    assert {name: h["errors"] for name, h in loops.items()} == dict.fromkeys(loops, 0)
    # Every actor answered the heartbeat and none restarted.
    assert status["actors"], "no heartbeat recorded"
    assert all(a["up"] and a["restarts_seen"] == 0 for a in status["actors"].values())
    # Memory: numba and the kernels load only in the scanners (the simulated market, Risk's
    # stress test and the Monitor's marks price in numpy; the Monitor's roll searches have a
    # scanner enrich their chain), and the pure scanners open no database.
    libraries = {name: set(a["libraries"]) for name, a in status["actors"].items()}
    kernels = {"scanner-0", "scanner-1"}
    assert {name for name, libs in libraries.items() if "numba" in libs} == kernels
    assert {name for name, libs in libraries.items() if "sqlalchemy" not in libs} == {
        "scanner-0",
        "scanner-1",
    }
    assert not any(libs & {"pandas", "alpaca"} for libs in libraries.values()), libraries

    store = build_store(system.settings)
    with store.transaction() as tx:
        trades = tx.trades.list()
        intents = tx.orders.list_intents()
        daily = tx.metrics.list(period_type="daily")
        fills = tx.fills.list()
    assert summary["trades_opened"] == len(trades) > 0
    assert any(
        t.status in (TradeStatus.OPEN, TradeStatus.CLOSING, TradeStatus.CLOSED) for t in trades
    )
    assert fills, "no fills booked"
    purposes = {i.purpose for i in intents}
    assert OrderPurpose.OPEN in purposes
    assert OrderPurpose.CLOSE in purposes, "no exit was sent in two days"
    assert {m.period_start.isoformat()[:10] for m in daily} >= {"2026-03-02", "2026-03-03"}

    exchange = load_exchange(system.settings)
    assert exchange.list_orders(status="all", limit=100_000), "no order reached the exchange"
    assert invariant_problems(system.settings) == []

"""The shared request budget on Ray: every process's limiter draws from one Governor actor,
priorities keep headroom for exits, and a request over budget waits in the actor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import ray

from actors.governor import DATA, TRADING, GovernorActor
from actors.handles import GovernorHandle, GovernorLimiter, get, spawn
from actors.options import ActorName
from actors.runtime import write_anchor
from agent.factories import build_store, new_anchor
from agent.marketdata.governor import Priority
from tests.actors.raykit import sim_settings

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def test_one_budget_for_everyone_with_exit_headroom(ray_local: None, tmp_path: Path) -> None:
    settings = sim_settings(tmp_path, "market_data.rate_limit_per_min=3")
    # Every actor of a sim system reads its clock from the stored anchor.
    write_anchor(build_store(settings), new_anchor(datetime(2026, 3, 2, 15, tzinfo=UTC), 1.0))
    governor = GovernorHandle(
        spawn(
            GovernorActor,
            ActorName.GOVERNOR,
            settings,
            namespace=f"gov-{uuid.uuid4().hex[:8]}",
            detached=False,
        )
    )
    try:
        first, second = GovernorLimiter(governor, DATA), GovernorLimiter(governor, DATA)
        first.acquire(Priority.SCAN)
        second.acquire(Priority.SCAN)  # 3 per minute, 30 % kept from scans: 2 scan slots
        assert first.waited_s == second.waited_s == 0.0
        blocked = governor.acquire(DATA, Priority.SCAN)
        ready, _ = ray.wait([blocked], timeout=1.5)
        assert ready == [], "a third scan request went through a 3/min budget"
        # An exit still has its reserved slot while the scan waits.
        assert get(governor.acquire(DATA, Priority.EXIT), timeout_s=10) == 0.0
        # The trading budget is separate.
        assert get(governor.acquire(TRADING, Priority.SCAN), timeout_s=10) == 0.0
        stats = get(governor.stats(), timeout_s=10)
        assert stats[DATA]["granted"] == 3 and stats[DATA]["in_window"] == 3
        assert stats[DATA]["waits"] >= 1
        assert stats[TRADING]["granted"] == 1
    finally:
        ray.kill(governor.actor, no_restart=True)

"""Chaos: while the agent runs two simulated days on Ray, every actor type except the
simulated exchange is killed (and restarted by Ray) at random moments, several times. After
the run: no duplicate orders, no orphan orders, positions equal the exchange's, no risk
limit breached, and the daily analysis ran for both days."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import ray

from actors.handles import get
from actors.options import ActorName, actor_name
from actors.system import AgentSystem
from agent.factories import build_store
from tests.actors.raykit import invariant_problems, ray_local, sim_settings, wait_for

__all__ = ["ray_local"]

pytestmark = [pytest.mark.ray, pytest.mark.chaos, pytest.mark.timeout(600)]

KILLS_PER_TYPE = 2
VICTIMS = (
    ActorName.SUPERVISOR,
    ActorName.MARKET_DATA,
    ActorName.SCANNER,
    ActorName.RISK,
    ActorName.EXECUTION,
    ActorName.MONITOR,
    ActorName.LEARNING,
)


def _done(system: AgentSystem) -> bool:
    try:
        return bool(system.status(timeout_s=10)["done"])
    except Exception:
        return False  # the supervisor is restarting


def _pids(system: AgentSystem) -> dict[str, int]:
    """Every actor's pid, once all answer (an actor may still be restarting)."""
    pids: dict[str, int] = {}

    def answered() -> bool:
        assert system.supervisor is not None
        refs = {**system.handles.pings(), "supervisor": system.supervisor.ping()}
        try:
            pids.update({name: int(get(ref, timeout_s=30)["pid"]) for name, ref in refs.items()})
        except Exception:
            return False
        return True

    assert wait_for(answered, timeout_s=120, poll_s=1.0)
    return pids


def test_kill_every_actor_type_repeatedly(ray_local: None, tmp_path: Path) -> None:
    rng = random.Random(20260302)
    settings = sim_settings(tmp_path, "ray.num_scanners=2")
    system = AgentSystem.start(settings, days=2, heartbeat_s=2.0)
    actors = {
        **system.handles.service_actors(),
        actor_name(ActorName.SUPERVISOR): system.supervisor.actor if system.supervisor else None,
    }
    # Random moments over the first ~45 wall seconds (two sessions take ~40 s at 1200x).
    plan = sorted(
        (rng.uniform(1.0, 45.0), victim) for victim in VICTIMS for _ in range(KILLS_PER_TYPE)
    )
    pids_before = _pids(system)
    started = time.monotonic()
    killed: list[str] = []
    try:
        for at, victim in plan:
            time.sleep(max(0.0, started + at - time.monotonic()))
            if victim is ActorName.SCANNER:
                name = actor_name(victim, rng.randrange(settings.ray.num_scanners))
            else:
                name = actor_name(victim)
            handle = actors[name]
            assert handle is not None
            ray.kill(handle, no_restart=False)
            killed.append(name)
        assert wait_for(lambda: _done(system), timeout_s=300, poll_s=1.0), "run did not finish"
        status = system.status()
        pids_after = _pids(system)
        get(system.handles.exchange.save(), timeout_s=60)  # type: ignore[union-attr]
    finally:
        system.shutdown()

    assert len(killed) == KILLS_PER_TYPE * len(VICTIMS)
    # Every killed actor came back in a new process; the exchange was never touched.
    assert all(pids_after[name] != pids_before[name] for name in killed)
    assert pids_after["sim_exchange"] == pids_before["sim_exchange"]
    assert {k.split("-")[0] for k in killed} == {v.value for v in VICTIMS}
    assert invariant_problems(system.settings) == []
    store = build_store(system.settings)
    with store.transaction() as tx:
        daily = {m.period_start.isoformat() for m in tx.metrics.list(period_type="daily")}
        trades = tx.trades.list()
    assert {"2026-03-02", "2026-03-03"} <= daily
    assert trades, "no trade was opened while the actors were being killed"
    assert status["done"]

"""Detached actors: a second ``AgentSystem.start`` in the same namespace attaches to the
running Supervisor instead of re-anchoring the clock or creating actors."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray

from actors.runtime import read_anchor
from actors.system import AgentSystem
from tests.actors.raykit import sim_settings, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


def test_attach_to_a_running_detached_system(ray_local: None, tmp_path: Path) -> None:
    settings = sim_settings(tmp_path, "ray.detached=true", "ray.num_scanners=1")
    first = AgentSystem.start(settings, heartbeat_s=1.0)
    actors = [first.supervisor.actor, *first.handles.service_actors().values()]  # type: ignore[union-attr]
    try:
        anchor = read_anchor(first.store)
        assert wait_for(lambda: first.status()["scans"] > 0, timeout_s=90)
        second = AgentSystem.start(settings)
        assert second.attached and second.plan is None
        assert read_anchor(second.store) == anchor  # not re-anchored
        assert second.status()["run_id"] == first.status()["run_id"]
        assert set(second.handles.service_actors()) == set(first.handles.service_actors())
        second.shutdown()  # detached: the actors stay
        assert first.status()["done"] is False
        assert second.stop(timeout_s=60)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)

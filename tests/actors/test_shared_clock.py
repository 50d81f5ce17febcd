"""The shared clock: simulated time stands still on a provisional anchor and starts for
every process once the final anchor is in the store."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest

import actors.runtime as rt
from actors.runtime import SharedClock, clock_for, provisional_anchor, write_anchor
from agent.calendar import et_datetime, market_calendar
from agent.errors import ConfigError
from agent.factories import ClockAnchor, build_store
from agent.schedule import Schedule
from tests.actors.raykit import sim_settings

START = et_datetime(date(2026, 3, 2), time(10, 0))


def test_frozen_until_the_final_anchor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = sim_settings(tmp_path)
    store = build_store(settings)
    schedule = Schedule(settings.schedule, market_calendar())
    ticks = iter(float(i) for i in range(1000))
    monkeypatch.setattr(rt, "monotonic_s", lambda: next(ticks))
    write_anchor(store, provisional_anchor(START, 600.0))
    clock = clock_for(settings, store, schedule)
    assert isinstance(clock, SharedClock) and clock.provisional
    assert clock.now() == START
    assert clock.now() == START  # still frozen: no final anchor yet
    assert 0 < clock.real_seconds_until(START + timedelta(minutes=5)) <= 0.25
    # The system stores the final anchor: 10 wall seconds ago at 60x.
    write_anchor(store, ClockAnchor(sim_at=START, wall_s=rt.wall_time_s() - 10.0, speed=60.0))
    now = clock.now()
    assert not clock.provisional
    assert START + timedelta(minutes=10) <= now < START + timedelta(minutes=11)
    # A restarted actor builds the same clock straight from the store.
    again = clock_for(settings, store, schedule)
    assert abs((again.now() - clock.now()).total_seconds()) < 60.0


def test_sim_without_an_anchor_refuses(tmp_path: Path) -> None:
    settings = sim_settings(tmp_path)
    with pytest.raises(ConfigError, match="optagent run"):
        clock_for(settings, build_store(settings), Schedule(settings.schedule, market_calendar()))

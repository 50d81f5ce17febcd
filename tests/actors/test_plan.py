"""Run planning and where simulated time starts: pure functions of the calendar and the
store (no Ray)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from actors.system import last_session_for, plan_run, resume_time
from agent.calendar import et_datetime, market_calendar
from agent.factories import build_store, sim_start
from agent.runner import HEALTH_KEY
from agent.schedule import Schedule
from tests.actors.raykit import sim_settings

CAL = market_calendar()


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return sim_settings(tmp_path)


def test_days_count_sessions_whose_daily_analysis_is_ahead(settings) -> None:  # type: ignore[no-untyped-def]
    schedule = Schedule(settings.schedule, CAL)
    monday_open = et_datetime(date(2026, 3, 2), time(9, 25))
    assert last_session_for(monday_open, 1, CAL, schedule) == date(2026, 3, 2)
    assert last_session_for(monday_open, 2, CAL, schedule) == date(2026, 3, 3)
    after_analysis = et_datetime(date(2026, 3, 2), time(17, 1))
    assert last_session_for(after_analysis, 1, CAL, schedule) == date(2026, 3, 3)
    # Good Friday 2026 (April 3) is a holiday: Thursday evening + 1 day is Monday.
    thursday_evening = et_datetime(date(2026, 4, 2), time(18, 0))
    assert last_session_for(thursday_evening, 1, CAL, schedule) == date(2026, 4, 6)
    # A Saturday start counts from Monday.
    assert last_session_for(et_datetime(date(2026, 3, 7), time(12, 0)), 1, CAL, schedule) == date(
        2026, 3, 9
    )
    with pytest.raises(ValueError):
        last_session_for(monday_open, 0, CAL, schedule)


def test_plan_stops_just_after_the_last_daily_analysis(settings) -> None:  # type: ignore[no-untyped-def]
    plan = plan_run(
        settings,
        symbols=("SPY",),
        num_scanners=2,
        start_at=et_datetime(date(2026, 3, 2), time(9, 25)),
        days=2,
        calendar=CAL,
        heartbeat_s=5.0,
    )
    assert plan.last_session == date(2026, 3, 3)
    assert plan.stop_at == et_datetime(date(2026, 3, 3), time(17, 2))
    forever = plan_run(
        settings, symbols=("SPY",), num_scanners=1, start_at=plan.stop_at, days=None, calendar=CAL
    )
    assert forever.stop_at is None and forever.last_session is None
    assert forever.run_id != plan.run_id


def test_resume_time_is_the_later_of_exchange_and_health(settings) -> None:  # type: ignore[no-untyped-def]
    store = build_store(settings)
    assert resume_time(settings, store, CAL) == sim_start(settings, CAL)
    exchange_at = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    Path(settings.sim.state_file).write_text(
        f'{{"processed_until": "{exchange_at.isoformat()}"}}', encoding="utf-8"
    )
    assert resume_time(settings, store, CAL) == exchange_at
    health_at = datetime(2026, 3, 2, 16, 7, tzinfo=UTC)
    with store.transaction() as tx:
        tx.state.put(HEALTH_KEY, {"sim_now": health_at.isoformat()})
    assert resume_time(settings, store, CAL) == health_at
    with store.transaction() as tx:
        tx.state.put(HEALTH_KEY, {"sim_now": "2026-03-02T15:00:00+00:00"})
    assert resume_time(settings, store, CAL) == exchange_at

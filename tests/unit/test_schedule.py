from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from agent.calendar import et_datetime, market_calendar
from agent.clock import AcceleratedClock
from agent.config import ScheduleSettings
from agent.schedule import Loop, Schedule


def schedule() -> Schedule:
    return Schedule(ScheduleSettings(), market_calendar())


def runs_on(s: Schedule, loop: Loop, day: date) -> list[datetime]:
    start = et_datetime(day, time(0, 0)) - timedelta(seconds=1)
    out: list[datetime] = []
    at = start
    while True:
        at = s.next_run(loop, at)
        if at.date() > day + timedelta(days=1) or at >= et_datetime(
            day + timedelta(days=1), time(0, 0)
        ):
            return out
        out.append(at)


def test_scan_every_five_minutes_in_the_regular_session() -> None:
    runs = runs_on(schedule(), Loop.SCAN, date(2026, 3, 2))
    assert runs[0] == et_datetime(date(2026, 3, 2), time(9, 30))
    assert runs[-1] == et_datetime(date(2026, 3, 2), time(15, 55))
    assert len(runs) == 78


def test_no_scans_on_holidays_and_weekends() -> None:
    assert runs_on(schedule(), Loop.SCAN, date(2026, 11, 26)) == []  # Thanksgiving
    assert runs_on(schedule(), Loop.MONITOR, date(2026, 3, 7)) == []  # Saturday


def test_early_close_clips_scans_and_moves_cleanup() -> None:
    s = schedule()
    day = date(2026, 11, 27)  # closes 13:00 ET
    scans = runs_on(s, Loop.SCAN, day)
    assert scans[-1] == et_datetime(day, time(12, 55))
    assert runs_on(s, Loop.EOD_CLEANUP, day) == [et_datetime(day, time(12, 55))]


def test_daily_analysis_on_sessions_and_weekly_learning_on_sunday() -> None:
    s = schedule()
    friday = et_datetime(date(2026, 3, 6), time(17, 30))
    assert s.next_run(Loop.DAILY_ANALYSIS, friday) == et_datetime(date(2026, 3, 9), time(17, 0))
    assert s.next_run(Loop.WEEKLY_LEARNING, friday) == et_datetime(date(2026, 3, 8), time(20, 0))


def test_missed_runs_collapse_into_the_latest() -> None:
    s = schedule()
    day = date(2026, 3, 2)
    last = et_datetime(day, time(10, 0))
    now = et_datetime(day, time(10, 17))
    assert s.due(Loop.SCAN, last_run=last, now=now) == et_datetime(day, time(10, 15))
    assert s.due(Loop.SCAN, last_run=et_datetime(day, time(10, 15)), now=now) is None


def test_accelerated_clock_skips_nights_but_stops_for_the_daily_job() -> None:
    s = schedule()
    start = et_datetime(date(2026, 3, 2), time(15, 50))
    wall = [0.0]
    clock = AcceleratedClock(
        anchor_sim=start,
        anchor_wall_s=0.0,
        speed=60.0,
        windows=s.active_window,
        wall_clock=lambda: wall[0],
    )
    # 15 simulated minutes: 15:50 -> 16:05 (session window end) then into the 16:59 window.
    wall[0] = 15.0
    assert clock.now() == et_datetime(date(2026, 3, 2), time(16, 59))
    # 4 more minutes spend the 16:59-17:03 window and land at the next session's 09:25.
    wall[0] = 19.0
    assert clock.now() == et_datetime(date(2026, 3, 3), time(9, 25))
    assert clock.now().tzinfo is not None and clock.now().astimezone(UTC).hour == 14

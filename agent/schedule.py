"""Loop schedules evaluated against any clock, in the exchange time zone.

A :class:`Schedule` answers two questions for each loop: when is it next due after a given
time, and is a run due now given when it last ran (missed runs collapse into one). It also
describes the spans of simulated time worth living through, for the accelerated clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from agent.calendar import ET, MarketCalendar, et_datetime
from agent.clock import ActiveWindow
from agent.config import ScheduleSettings


class Loop(StrEnum):
    SCAN = "scan"
    MONITOR = "monitor"
    RECONCILE = "reconcile"
    EOD_CLEANUP = "eod_cleanup"
    DAILY_ANALYSIS = "daily_analysis"
    WEEKLY_LEARNING = "weekly_learning"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopSpec:
    loop: Loop
    interval: timedelta | None = None
    """For loops repeating inside sessions."""
    at: time | None = None
    """For loops at a fixed ET time (daily on sessions, or weekly)."""
    weekday: int | None = None
    """Monday = 0; set for weekly loops."""
    window_start: time | None = None
    window_end: time | None = None


_MAX_SEARCH_DAYS = 30


class Schedule:
    """The loops of DESIGN.md section 3 for one :class:`ScheduleSettings`."""

    def __init__(self, settings: ScheduleSettings, calendar: MarketCalendar) -> None:
        self.settings = settings
        self.calendar = calendar
        self.specs: dict[Loop, LoopSpec] = {
            Loop.SCAN: LoopSpec(
                loop=Loop.SCAN,
                interval=timedelta(minutes=settings.scan_interval_min),
                window_start=settings.scan_window_start,
                window_end=settings.scan_window_end,
            ),
            Loop.MONITOR: LoopSpec(
                loop=Loop.MONITOR, interval=timedelta(minutes=settings.monitor_interval_min)
            ),
            Loop.RECONCILE: LoopSpec(
                loop=Loop.RECONCILE, interval=timedelta(minutes=settings.reconcile_interval_min)
            ),
            Loop.EOD_CLEANUP: LoopSpec(loop=Loop.EOD_CLEANUP, at=settings.end_of_day_cleanup_time),
            Loop.DAILY_ANALYSIS: LoopSpec(
                loop=Loop.DAILY_ANALYSIS, at=settings.daily_analysis_time
            ),
            Loop.WEEKLY_LEARNING: LoopSpec(
                loop=Loop.WEEKLY_LEARNING,
                at=settings.weekly_learning_time,
                weekday=settings.weekly_learning_day.weekday_number,
            ),
        }

    # ------------------------------------------------------------------ run times

    def _runs_on(self, spec: LoopSpec, day: date) -> list[datetime]:
        """Every scheduled run of ``spec`` on calendar day ``day`` (ET), ascending."""
        if spec.weekday is not None:
            assert spec.at is not None
            return [et_datetime(day, spec.at)] if day.weekday() == spec.weekday else []
        session = self.calendar.session(day)
        if session is None:
            return []
        if spec.at is not None:
            at = et_datetime(day, spec.at)
            if spec.loop is Loop.EOD_CLEANUP:
                # On an early close, clean up the same distance before the actual close.
                regular_close = et_datetime(day, time(16, 0))
                at = min(at, session.close_at - (regular_close - at))
            return [at]
        assert spec.interval is not None
        start = session.open_at
        end = session.close_at
        if spec.window_start is not None:
            start = max(start, et_datetime(day, spec.window_start))
        if spec.window_end is not None:
            end = min(end, et_datetime(day, spec.window_end))
        runs: list[datetime] = []
        at = start
        while at < end:
            runs.append(at)
            at += spec.interval
        return runs

    def next_run(self, loop: Loop, after: datetime) -> datetime:
        """The first scheduled run strictly after ``after``."""
        spec = self.specs[loop]
        day = after.astimezone(ET).date()
        for offset in range(_MAX_SEARCH_DAYS):
            for run in self._runs_on(spec, day + timedelta(days=offset)):
                if run > after:
                    return run
        raise ValueError(f"no {loop} run within {_MAX_SEARCH_DAYS} days after {after}")

    def latest_run(self, loop: Loop, at_or_before: datetime) -> datetime | None:
        """The last scheduled run at or before ``at_or_before`` (within the search span)."""
        spec = self.specs[loop]
        day = at_or_before.astimezone(ET).date()
        for offset in range(_MAX_SEARCH_DAYS):
            runs = [
                r for r in self._runs_on(spec, day - timedelta(days=offset)) if r <= at_or_before
            ]
            if runs:
                return runs[-1]
        return None

    def due(self, loop: Loop, *, last_run: datetime | None, now: datetime) -> datetime | None:
        """The scheduled time to run now, if a run is due (several missed runs collapse into the
        latest one); None if nothing is due. ``last_run`` is the scheduled time of the last run."""
        latest = self.latest_run(loop, now)
        if latest is None or (last_run is not None and latest <= last_run):
            return None
        return latest

    # ------------------------------------------------------------------ accelerated time

    def active_window(
        self, cursor: datetime, *, margin: timedelta = timedelta(minutes=5)
    ) -> ActiveWindow:
        """The next span of simulated time worth living through at or after ``cursor``:
        each session (with ``margin`` on both sides) and a few minutes around each daily
        and weekly job. Time between spans is skipped by the accelerated clock."""
        day = cursor.astimezone(ET).date()
        for offset in range(_MAX_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            windows: list[ActiveWindow] = []
            session = self.calendar.session(current)
            if session is not None:
                windows.append(
                    ActiveWindow(start=session.open_at - margin, end=session.close_at + margin)
                )
            for loop in (Loop.DAILY_ANALYSIS, Loop.WEEKLY_LEARNING):
                for run in self._runs_on(self.specs[loop], current):
                    windows.append(
                        ActiveWindow(
                            start=run - timedelta(minutes=1), end=run + timedelta(minutes=3)
                        )
                    )
            for window in sorted(windows, key=lambda w: w.start):
                if cursor < window.end:
                    return window
        raise ValueError(f"no active window within {_MAX_SEARCH_DAYS} days after {cursor}")

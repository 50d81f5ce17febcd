"""The US equity options calendar: NYSE sessions (exchange_calendars XNYS), expiries, cut-offs.

Sessions, holidays and early closes come from exchange_calendars and are loaded once into
plain Python structures, so every lookup afterwards is a dict or bisect operation. The
session table is cached as a small JSON file (``$OPTAGENT_CACHE_DIR``, default
``~/.cache/optagent``), keyed by the exchange_calendars version: the first process builds it,
the others (every Ray actor) read it without importing exchange_calendars and pandas, which
saves about 60 MiB per process.

Expiries: standard monthly options expire on the third Friday; weeklies on every Friday.
When that Friday is not a session (e.g. Good Friday, Juneteenth on a Friday), the expiry
moves to the previous session, as the OCC does.

Same-day-expiry cut-offs (Alpaca): new orders in options expiring today are rejected after
15:15 ET, or 15:30 ET for broad ETFs. On an early-close day the cut-offs move earlier by the
same distance from the close (45 and 30 minutes before it); this is our conservative reading.
"""

from __future__ import annotations

import bisect
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")
REGULAR_OPEN_ET = time(9, 30)
REGULAR_CLOSE_ET = time(16, 0)
BROAD_ETFS: frozenset[str] = frozenset({"SPY", "QQQ", "IWM", "DIA"})
"""Broad ETFs with the later same-day-expiry cut-off (and daily expiries)."""
CUTOFF_BEFORE_CLOSE = timedelta(minutes=45)
CUTOFF_BEFORE_CLOSE_BROAD_ETF = timedelta(minutes=30)

_CALENDAR_START = date(2015, 1, 1)
_CALENDAR_END = date(2036, 12, 31)


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day: its open and close as aware UTC datetimes."""

    day: date
    open_at: datetime
    close_at: datetime

    @property
    def is_early_close(self) -> bool:
        return self.close_at.astimezone(ET).time() < REGULAR_CLOSE_ET


class MarketCalendar:
    """NYSE sessions between 2015 and 2036, and the option expiries they imply."""

    def __init__(self, start: date = _CALENDAR_START, end: date = _CALENDAR_END) -> None:
        self._days: list[date] = []
        self._sessions: dict[date, Session] = {}
        for day, open_at, close_at in _session_table(start, end):
            self._days.append(day)
            self._sessions[day] = Session(day, open_at, close_at)
        self.first_day = self._days[0]
        self.last_day = self._days[-1]

    # ------------------------------------------------------------------ sessions

    def _check_range(self, day: date) -> None:
        if not self.first_day - timedelta(days=7) <= day <= self.last_day + timedelta(days=7):
            raise ValueError(
                f"{day} is outside the loaded calendar ({self.first_day}..{self.last_day})"
            )

    def is_session(self, day: date) -> bool:
        self._check_range(day)
        return day in self._sessions

    def session(self, day: date) -> Session | None:
        return self._sessions.get(day)

    def is_open(self, at: datetime) -> bool:
        """Whether the regular session is open at ``at`` (aware)."""
        session = self._sessions.get(at.astimezone(ET).date())
        return session is not None and session.open_at <= at < session.close_at

    def next_session(self, day: date, *, inclusive: bool = False) -> date:
        self._check_range(day)
        index = (
            bisect.bisect_left(self._days, day)
            if inclusive
            else bisect.bisect_right(self._days, day)
        )
        return self._days[index]

    def previous_session(self, day: date, *, inclusive: bool = False) -> date:
        self._check_range(day)
        index = (
            bisect.bisect_right(self._days, day)
            if inclusive
            else bisect.bisect_left(self._days, day)
        )
        return self._days[index - 1]

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Sessions with ``start <= day <= end``."""
        lo = bisect.bisect_left(self._days, start)
        hi = bisect.bisect_right(self._days, end)
        return self._days[lo:hi]

    def trading_days_between(self, start: date, end: date) -> int:
        """Sessions strictly after ``start`` up to and including ``end``."""
        return bisect.bisect_right(self._days, end) - bisect.bisect_right(self._days, start)

    def next_open(self, at: datetime) -> datetime:
        """The next session open strictly after ``at`` (or now if ``at`` is exactly an open)."""
        day = at.astimezone(ET).date()
        session = self._sessions.get(day)
        if session is not None and at <= session.open_at:
            return session.open_at
        return self._sessions[self.next_session(day)].open_at

    def next_close(self, at: datetime) -> datetime:
        day = at.astimezone(ET).date()
        session = self._sessions.get(day)
        if session is not None and at < session.close_at:
            return session.close_at
        return self._sessions[self.next_session(day)].close_at

    def current_or_next_session(self, at: datetime) -> Session:
        """The session in progress at ``at``, or the next one to open."""
        day = at.astimezone(ET).date()
        session = self._sessions.get(day)
        if session is not None and at < session.close_at:
            return session
        return self._sessions[self.next_session(day)]

    # ------------------------------------------------------------------ expiries

    def _on_or_before_session(self, day: date) -> date:
        return day if day in self._sessions else self.previous_session(day)

    def monthly_expiry(self, year: int, month: int) -> date:
        """Standard monthly expiry: the third Friday, or the session before it if a holiday."""
        first = date(year, month, 1)
        first_friday = first + timedelta(days=(4 - first.weekday()) % 7)
        return self._on_or_before_session(first_friday + timedelta(days=14))

    def is_monthly_expiry(self, day: date) -> bool:
        return self.monthly_expiry(day.year, day.month) == day

    def weekly_expiries(self, start: date, end: date) -> list[date]:
        """Friday expiries (holiday-shifted) with ``start <= expiry <= end``."""
        out: list[date] = []
        friday = start + timedelta(days=(4 - start.weekday()) % 7)
        while friday <= end + timedelta(days=4):
            expiry = self._on_or_before_session(friday)
            if start <= expiry <= end:
                out.append(expiry)
            friday += timedelta(days=7)
        return out

    def monthly_expiries(self, start: date, end: date) -> list[date]:
        out: list[date] = []
        year, month = start.year, start.month
        while date(year, month, 1) <= end:
            expiry = self.monthly_expiry(year, month)
            if start <= expiry <= end:
                out.append(expiry)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def expiry_close(self, expiry: date) -> datetime:
        """When options expiring on ``expiry`` stop trading (that session's close)."""
        session = self._sessions.get(expiry)
        if session is None:
            raise ValueError(f"{expiry} is not a session, so not an expiry")
        return session.close_at

    # ------------------------------------------------------------------ cut-offs

    def same_day_expiry_cutoff(self, underlying: str, day: date) -> datetime | None:
        """Latest time (UTC) a new order in an option expiring on ``day`` is accepted."""
        session = self._sessions.get(day)
        if session is None:
            return None
        before = CUTOFF_BEFORE_CLOSE_BROAD_ETF if underlying in BROAD_ETFS else CUTOFF_BEFORE_CLOSE
        return session.close_at - before

    def time_to_expiry_years(self, at: datetime, expiry: date) -> float:
        """Calendar time from ``at`` to 16:00 ET on ``expiry``, in years of 365 days (≥ 0).

        The pricing convention everywhere (see :mod:`agent.pricing`): options are valued to
        16:00 New York time on the expiry date, even on an early-close day.
        """
        end = datetime.combine(expiry, REGULAR_CLOSE_ET, ET)
        return max(0.0, (end - at).total_seconds()) / (365.0 * 86400.0)


SessionRow = tuple[date, datetime, datetime]


def _cache_dir() -> Path:
    configured = os.environ.get("OPTAGENT_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "optagent"


def _from_exchange_calendars(start: date, end: date) -> list[SessionRow]:
    import exchange_calendars  # noqa: PLC0415 - heavy (pandas): only when the cache is cold

    schedule = exchange_calendars.get_calendar(
        "XNYS", start=start.isoformat(), end=end.isoformat()
    ).schedule
    return [
        (ts.date(), open_.to_pydatetime(), close.to_pydatetime())
        for ts, open_, close in zip(
            schedule.index, schedule["open"], schedule["close"], strict=True
        )
    ]


def _session_table(start: date, end: date) -> list[SessionRow]:
    """The XNYS sessions from the JSON cache, building the cache on a miss."""
    version = metadata.version("exchange_calendars")
    path = _cache_dir() / f"xnys-{start}-{end}-ec{version}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [
            (date.fromisoformat(d), datetime.fromisoformat(o), datetime.fromisoformat(c))
            for d, o, c in raw
        ]
    except (OSError, ValueError, TypeError):
        pass
    rows = _from_exchange_calendars(start, end)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, delete=False, encoding="utf-8"
        ) as tmp:
            json.dump([(d.isoformat(), o.isoformat(), c.isoformat()) for d, o, c in rows], tmp)
        Path(tmp.name).replace(path)
    except OSError:
        pass  # a read-only home only costs the next process the slow path
    return rows


@cache
def market_calendar() -> MarketCalendar:
    """The process-wide calendar (built once, about half a second)."""
    return MarketCalendar()


def et_datetime(day: date, at: time) -> datetime:
    """An aware UTC datetime for a wall-clock time in New York on ``day``."""
    return datetime.combine(day, at, ET).astimezone(UTC)

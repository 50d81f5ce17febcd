"""Market-wide scheduled events of the simulated market: FOMC announcement days.

2024 to 2027 are the Federal Reserve's published meeting schedules (the announcement is at
14:00 ET on the second day of each meeting; these are those second days). Outside those
years the simulator uses a rule with the same rhythm: eight Wednesdays a year, in late
January, mid March, early May, mid June, late July, mid September, late October/early
November and mid December.
"""

from __future__ import annotations

from datetime import date, timedelta

PUBLISHED_FOMC_DAYS: tuple[date, ...] = (
    # 2024
    date(2024, 1, 31),
    date(2024, 3, 20),
    date(2024, 5, 1),
    date(2024, 6, 12),
    date(2024, 7, 31),
    date(2024, 9, 18),
    date(2024, 11, 7),
    date(2024, 12, 18),
    # 2025
    date(2025, 1, 29),
    date(2025, 3, 19),
    date(2025, 5, 7),
    date(2025, 6, 18),
    date(2025, 7, 30),
    date(2025, 9, 17),
    date(2025, 10, 29),
    date(2025, 12, 10),
    # 2026
    date(2026, 1, 28),
    date(2026, 3, 18),
    date(2026, 4, 29),
    date(2026, 6, 17),
    date(2026, 7, 29),
    date(2026, 9, 16),
    date(2026, 10, 28),
    date(2026, 12, 9),
    # 2027 (tentative schedule published in September 2025)
    date(2027, 1, 27),
    date(2027, 3, 17),
    date(2027, 4, 28),
    date(2027, 6, 9),
    date(2027, 7, 28),
    date(2027, 9, 15),
    date(2027, 10, 27),
    date(2027, 12, 8),
)
_PUBLISHED_YEARS = frozenset(d.year for d in PUBLISHED_FOMC_DAYS)

# (month, day) anchors of the rule; each moves to the Wednesday of its week.
_RULE_ANCHORS: tuple[tuple[int, int], ...] = (
    (1, 29),
    (3, 18),
    (5, 3),
    (6, 15),
    (7, 29),
    (9, 17),
    (10, 30),
    (12, 12),
)

FOMC_ANNOUNCEMENT_MINUTE = 270
"""Minutes after the 09:30 open of the 14:00 ET statement."""


def _rule_days(year: int) -> list[date]:
    out = []
    for month, day in _RULE_ANCHORS:
        anchor = date(year, month, day)
        out.append(anchor + timedelta(days=2 - anchor.weekday()))  # Wednesday of that week
    return out


def fomc_days(start: date, end: date) -> list[date]:
    """FOMC announcement days with ``start <= day <= end``, ascending."""
    out: list[date] = []
    for year in range(start.year, end.year + 1):
        days = (
            [d for d in PUBLISHED_FOMC_DAYS if d.year == year]
            if year in _PUBLISHED_YEARS
            else _rule_days(year)
        )
        out.extend(d for d in days if start <= d <= end)
    return out

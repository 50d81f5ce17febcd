from __future__ import annotations

from datetime import UTC, date, datetime, time

from agent.calendar import ET, et_datetime, market_calendar


def test_sessions_holidays_and_early_closes() -> None:
    cal = market_calendar()
    assert cal.is_session(date(2026, 3, 2))
    assert not cal.is_session(date(2026, 3, 1))  # Sunday
    assert not cal.is_session(date(2026, 4, 3))  # Good Friday 2026
    assert not cal.is_session(date(2026, 11, 26))  # Thanksgiving
    friday_after = cal.session(date(2026, 11, 27))
    assert friday_after is not None and friday_after.is_early_close
    assert friday_after.close_at.astimezone(ET).time() == time(13, 0)
    regular = cal.session(date(2026, 3, 2))
    assert regular is not None and not regular.is_early_close


def test_is_open_and_next_open() -> None:
    cal = market_calendar()
    assert cal.is_open(et_datetime(date(2026, 3, 2), time(10, 0)))
    assert not cal.is_open(et_datetime(date(2026, 3, 2), time(16, 0)))
    friday_night = et_datetime(date(2026, 4, 2), time(18, 0))  # Thursday before Good Friday
    assert cal.next_open(friday_night) == et_datetime(date(2026, 4, 6), time(9, 30))


def test_monthly_expiry_shifts_for_holidays() -> None:
    cal = market_calendar()
    assert cal.monthly_expiry(2026, 3) == date(2026, 3, 20)
    # Juneteenth 2026 falls on Friday June 19, the third Friday: expiry moves to Thursday.
    assert cal.monthly_expiry(2026, 6) == date(2026, 6, 18)


def test_weekly_expiries_shift_for_good_friday() -> None:
    cal = market_calendar()
    weeklies = cal.weekly_expiries(date(2026, 3, 30), date(2026, 4, 17))
    assert weeklies == [date(2026, 4, 2), date(2026, 4, 10), date(2026, 4, 17)]


def test_same_day_expiry_cutoffs_as_data() -> None:
    cal = market_calendar()
    day = date(2026, 3, 20)
    assert cal.same_day_expiry_cutoff("AAPL", day) == et_datetime(day, time(15, 15))
    assert cal.same_day_expiry_cutoff("SPY", day) == et_datetime(day, time(15, 30))
    assert cal.same_day_expiry_cutoff("SPY", date(2026, 3, 21)) is None


def test_time_to_expiry_in_years() -> None:
    cal = market_calendar()
    at = datetime(2026, 3, 19, 20, 0, tzinfo=UTC)  # Thursday 16:00 ET
    assert abs(cal.time_to_expiry_years(at, date(2026, 3, 20)) - 1 / 365) < 1e-12
    assert cal.time_to_expiry_years(at, date(2026, 3, 19)) == 0.0


def test_session_table_is_cached_as_json_and_read_back_identically(tmp_path, monkeypatch) -> None:
    from agent.calendar import MarketCalendar

    monkeypatch.setenv("OPTAGENT_CACHE_DIR", str(tmp_path))
    built = MarketCalendar(date(2026, 1, 1), date(2026, 12, 31))
    (cached,) = tmp_path.glob("xnys-2026-01-01-2026-12-31-ec*.json")
    assert cached.stat().st_size > 0
    read = MarketCalendar(date(2026, 1, 1), date(2026, 12, 31))
    assert read._sessions == built._sessions and len(read._days) == 251
    cached.write_text("not json")  # a corrupt cache is rebuilt, never trusted
    assert MarketCalendar(date(2026, 1, 1), date(2026, 12, 31))._sessions == built._sessions

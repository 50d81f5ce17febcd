"""SimMarketData: built from settings, driven by the clock, no look-ahead, one market for all."""

from __future__ import annotations

from datetime import date, time, timedelta

import numpy as np
import pytest

from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.marketdata import SimMarketData
from agent.calendar import et_datetime
from agent.clock import SimClock
from agent.config import AgentSettings
from agent.domain.market import MarketEventKind
from agent.errors import DataError

DAY = date(2026, 3, 2)


@pytest.fixture
def settings(settings_factory) -> AgentSettings:  # type: ignore[no-untyped-def]
    return settings_factory("sim.n_underlyings=26", "sim.bad_quote_rate=0.02")  # type: ignore[no-any-return]


def make(
    settings: AgentSettings, hh: int = 10, mm: int = 0, day: date = DAY
) -> tuple[SimMarketData, SimClock]:
    clock = SimClock(et_datetime(day, time(hh, mm)))
    return SimMarketData.from_settings(settings, clock), clock


def test_two_processes_with_the_same_settings_see_the_same_market(settings: AgentSettings) -> None:
    a, _ = make(settings)
    b, _ = make(settings)
    for symbol in ("SPY", "NVDA", "SIM004"):
        ca = a.get_option_chain(symbol, min_expiry=DAY, max_expiry=DAY + timedelta(days=60))
        cb = b.get_option_chain(symbol, min_expiry=DAY, max_expiry=DAY + timedelta(days=60))
        for name in ("symbol", "strike", "bid", "ask", "bid_size", "volume", "open_interest"):
            assert np.array_equal(getattr(ca, name), getattr(cb, name)), name
        assert np.array_equal(ca.vendor_delta, cb.vendor_delta, equal_nan=True)
    assert a.get_underlying_snapshots(["SPY", "TSLA"]) == b.get_underlying_snapshots(
        ["SPY", "TSLA"]
    )


def test_a_different_seed_is_a_different_market(settings_factory) -> None:  # type: ignore[no-untyped-def]
    a, _ = make(settings_factory("sim.n_underlyings=21", "sim.seed=1"))
    b, _ = make(settings_factory("sim.n_underlyings=21", "sim.seed=2"))
    pa = a.get_underlying_snapshots(["AAPL"])["AAPL"].price
    pb = b.get_underlying_snapshots(["AAPL"])["AAPL"].price
    assert pa != pb


def test_the_model_follows_the_settings(settings_factory) -> None:  # type: ignore[no-untyped-def]
    s = settings_factory(
        "sim.n_underlyings=22",
        "universe.watchlist=[SPY, KO, ZED]",
        "market_data.dividend_yields={KO: 0.05}",
        "market_data.risk_free_rate=0.03",
    )
    model = MarketModel.from_settings(s)
    assert model.symbols[:3] == ("SPY", "KO", "ZED") and len(model.symbols) == 22
    assert model.spec("KO").dividend_yield == 0.05
    assert model.config.risk_free_rate == 0.03
    assert model.spec("ZED").price_usd > 0  # an unknown watchlist name gets a generated spec


def test_bars_never_include_the_future(settings: AgentSettings) -> None:
    data, clock = make(settings, 11, 30)
    bars = data.get_daily_bars("AAPL", start=DAY - timedelta(days=40), end=DAY + timedelta(days=40))
    assert bars[-1].start_at.date() == DAY  # today's partial bar, nothing later
    today = bars[-1]
    snap = data.get_underlying_snapshots(["AAPL"])["AAPL"]
    assert today.close == snap.price and today.volume == snap.day_volume
    assert bars[-2].close == snap.prev_close
    clock.set(et_datetime(DAY, time(16, 30)))
    final = data.get_daily_bars("AAPL", start=DAY, end=DAY)[0]
    assert final.volume > today.volume and final.high >= today.high and final.low <= today.low
    # before the open the current day has no bar
    early, _ = make(settings, 8, 0, DAY + timedelta(days=1))
    assert (
        early.get_daily_bars("AAPL", start=DAY, end=DAY + timedelta(days=1))[-1].start_at.date()
        == DAY
    )


def test_history_is_long_enough_for_warm_up(settings: AgentSettings) -> None:
    data, _ = make(settings)
    bars = data.get_daily_bars("SPY", start=DAY - timedelta(days=500), end=DAY)
    assert len(bars) >= 300
    iv = data.get_iv_history("SPY", start=DAY - timedelta(days=400), end=DAY)
    assert len(iv) >= 252


def test_iv_history_is_the_surface_atm_30_day_vol_of_closed_sessions(
    settings: AgentSettings,
) -> None:
    data, clock = make(settings, 12, 0)
    history = data.get_iv_history(
        "MSFT", start=DAY - timedelta(days=10), end=DAY + timedelta(days=5)
    )
    assert history[-1][0] == data.model.calendar.previous_session(DAY)  # today not closed yet
    last_day, last_iv = history[-1]
    close = data.model.calendar.session(last_day)
    assert close is not None
    assert last_iv == pytest.approx(data.model.atm_iv("MSFT", close.close_at, 30), rel=1e-12)
    clock.set(et_datetime(DAY, time(16, 0)))
    assert data.get_iv_history("MSFT", start=DAY, end=DAY)[0][0] == DAY


def test_unknown_symbols(settings: AgentSettings) -> None:
    data, _ = make(settings)
    with pytest.raises(DataError):
        data.get_option_chain("NOPE", min_expiry=DAY, max_expiry=DAY + timedelta(days=30))
    with pytest.raises(DataError):
        data.get_daily_bars("NOPE", start=DAY, end=DAY)
    with pytest.raises(DataError):
        data.get_iv_history("NOPE", start=DAY, end=DAY)
    assert data.get_underlying_snapshots(["NOPE"]) == {}
    assert data.get_option_quotes(["SPY", "NOPE260320C00010000"]) == {}


def test_market_context_has_the_vol_index_and_events(settings: AgentSettings) -> None:
    data, _ = make(settings)
    context = data.get_market_context(start=DAY, end=DAY + timedelta(days=45))
    assert context.vol_index == pytest.approx(data.model.vol_index(et_datetime(DAY, time(10))))
    fomc = [e.on for e in context.events if e.kind is MarketEventKind.FOMC]
    assert fomc == [date(2026, 3, 18)]
    earnings = {e.symbol for e in context.events if e.kind is MarketEventKind.EARNINGS}
    assert earnings and all(not data.model.spec(s).is_etf for s in earnings if s)
    spy_events = context.events_for("SPY")
    assert all(e.symbol is None for e in spy_events)


def test_snapshots_through_a_session(settings: AgentSettings) -> None:
    data, clock = make(settings, 9, 0)
    before = data.get_underlying_snapshots(["QQQ"])["QQQ"]
    clock.set(et_datetime(DAY, time(9, 30)))
    opening = data.get_underlying_snapshots(["QQQ"])["QQQ"]
    clock.set(et_datetime(DAY, time(15, 0)))
    late = data.get_underlying_snapshots(["QQQ"])["QQQ"]
    assert before.price == opening.prev_close  # pre-open shows the last close
    assert opening.day_volume == 0 and late.day_volume > 0
    assert late.avg_daily_volume == pytest.approx(opening.avg_daily_volume)
    assert late.as_of == et_datetime(DAY, time(15, 0))


def test_option_quotes_match_the_chain(settings: AgentSettings) -> None:
    data, _ = make(settings, 14, 45)
    chain = data.get_option_chain("SPY", min_expiry=DAY, max_expiry=DAY + timedelta(days=20))
    symbols = [str(s) for s in chain.symbol[::50]]
    quotes = data.get_option_quotes(symbols)
    for k, symbol in zip(range(0, len(chain), 50), symbols, strict=True):
        assert (quotes[symbol].bid, quotes[symbol].ask) == (chain.bid[k], chain.ask[k])

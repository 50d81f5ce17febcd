"""Listing conventions: expiries (weekly, monthly, daily, holiday shifts) and strikes."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from agent.adapters.sim.listings import (
    ExpiryKind,
    listed_expiries,
    strike_increments,
)
from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.market_config import MarketConfig
from agent.adapters.sim.universe import KNOWN_SPECS, LiquidityTier
from agent.calendar import market_calendar
from agent.domain.contracts import parse_occ
from agent.domain.enums import OptionRight

DAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def model() -> MarketModel:
    return MarketModel(MarketConfig(seed=5, n_underlyings=40))


def _expiries(model: MarketModel, symbol: str, day: date = DAY) -> list[date]:
    return [s.expiry for s in model.day_book(symbol, day).listing.expiries]


def test_strike_increment_table() -> None:
    spy, aapl, ko, intc, meta, nvda = (
        KNOWN_SPECS[s] for s in ("SPY", "AAPL", "KO", "INTC", "META", "NVDA")
    )
    assert strike_increments(spy, 560.0) == (1.0, 5.0)  # broad ETF
    assert strike_increments(intc, 22.0) == (0.5, 1.0)  # under $25
    assert strike_increments(ko, 65.0) == (1.0, 2.5)  # $25-$100
    assert strike_increments(nvda, 120.0) == (2.5, 5.0)  # $100-$200
    assert strike_increments(aapl, 230.0) == (2.5, 10.0)  # liquid $200-$500
    assert strike_increments(meta, 560.0) == (5.0, 10.0)  # $500 and up


@pytest.mark.parametrize("symbol", ["SPY", "AAPL", "KO", "INTC", "META", "SIM001", "SIM002"])
def test_strikes_near_the_money_use_the_fine_increment(model: MarketModel, symbol: str) -> None:
    listing = model.day_book(symbol, DAY).listing
    i = model.universe.index_of[symbol]
    spot = model.paths.prev_close(model.paths.row(DAY), i)
    for e, series in enumerate(listing.expiries):
        # the increments follow the price on the day the expiry was listed
        listed = max(series.listed_on, model.paths.origin)
        reference = model.paths.prev_close(model.paths.row(listed), i)
        inner, outer = strike_increments(model.spec(symbol), reference)
        rows = slice(int(listing.expiry_start[e]), int(listing.expiry_start[e + 1]))
        strikes = np.unique(listing.strike[rows])
        near = strikes[np.abs(strikes - spot) <= 3.01 * inner]
        assert len(near) >= 5
        assert np.allclose(np.diff(near), inner)
        # every strike is on the fine or the coarse grid, and the range surrounds the spot
        assert strikes.min() < spot < strikes.max()
        on_grid = np.isclose(np.round(strikes / inner) * inner, strikes) | np.isclose(
            np.round(strikes / outer) * outer, strikes
        )
        assert on_grid.all()


def test_good_friday_and_juneteenth_move_expiries_to_thursday() -> None:
    cal = market_calendar()
    spec = KNOWN_SPECS["AAPL"]
    april = [s.expiry for s in listed_expiries(spec, date(2026, 3, 23), cal)]
    assert date(2026, 4, 2) in april and date(2026, 4, 3) not in april
    june = {s.expiry: s.kind for s in listed_expiries(spec, date(2026, 5, 20), cal)}
    assert june.get(date(2026, 6, 18)) is ExpiryKind.MONTHLY
    assert date(2026, 6, 19) not in june
    # SPY dailies skip the holiday too
    spy = [s.expiry for s in listed_expiries(KNOWN_SPECS["SPY"], date(2026, 3, 30), cal)]
    assert date(2026, 4, 3) not in spy and date(2026, 4, 2) in spy and date(2026, 4, 6) in spy


def test_weeklies_only_for_liquid_names_and_dailies_only_for_index_etfs(
    model: MarketModel,
) -> None:
    cal = model.calendar
    fridays = cal.weekly_expiries(DAY, DAY + timedelta(days=60))
    for spec in model.universe.specs:
        kinds = {s.kind for s in model.day_book(spec.symbol, DAY).listing.expiries}
        expiries = set(_expiries(model, spec.symbol))
        assert ExpiryKind.MONTHLY in kinds
        if spec.tier <= LiquidityTier.HIGH:
            assert set(fridays) <= expiries, spec.symbol  # every Friday within 60 days
        else:
            assert ExpiryKind.WEEKLY not in kinds, spec.symbol
        assert (ExpiryKind.DAILY in kinds) == (spec.symbol in {"SPY", "QQQ", "IWM"})
        # and some longer monthlies
        assert max(expiries) > DAY + timedelta(days=150)


def test_spy_has_every_session_as_an_expiry_in_the_next_two_weeks(model: MarketModel) -> None:
    sessions = model.calendar.sessions_between(DAY, DAY + timedelta(days=14))
    assert set(sessions) <= set(_expiries(model, "SPY"))


def test_once_listed_a_contract_stays_listed_until_expiry(model: MarketModel) -> None:
    for symbol in ("SPY", "TSLA", "SIM003"):
        days = model.calendar.sessions_between(DAY, DAY + timedelta(days=45))
        previous: set[str] = set()
        for day in days:
            listing = model.day_book(symbol, day).listing
            current = set(listing.symbol.tolist())
            still_alive = {s for s in previous if parse_occ(s).expiry >= day}
            assert still_alive <= current, (symbol, day, sorted(still_alive - current)[:3])
            previous = current


def test_occ_symbols_match_the_columns(model: MarketModel) -> None:
    listing = model.day_book("INTC", DAY).listing
    for k in range(0, len(listing), 7):
        contract = parse_occ(str(listing.symbol[k]))
        assert contract.underlying == "INTC"
        assert contract.expiry == listing.expiry[k].astype(date)
        assert float(contract.strike) == listing.strike[k]
        assert (contract.right is OptionRight.CALL) == bool(listing.is_call[k])
    assert list(listing.symbol) == sorted(listing.symbol)  # OCC order
    assert len(set(listing.symbol.tolist())) == len(listing)


def test_chain_sizes_are_realistic(model: MarketModel) -> None:
    limit = DAY + timedelta(days=60)
    spy = model.day_book("SPY", DAY).listing
    n_spy = spy.rows_between(DAY, limit).stop
    assert 1500 <= n_spy <= 4500
    for symbol in ("AAPL", "KO", "SIM003"):
        listing = model.day_book(symbol, DAY).listing
        rows = listing.rows_between(DAY, limit)
        assert 100 <= rows.stop - rows.start <= 2500, symbol

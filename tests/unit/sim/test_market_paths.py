"""Statistical and determinism tests of the simulated price paths (seeded, no wall clock)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.market_config import MarketConfig
from agent.adapters.sim.market_paths import (
    OVERNIGHT_VARIANCE_SHARE,
    SESSIONS_PER_YEAR,
    Regime,
    market_correlation,
    regime_vol,
)
from agent.calendar import et_datetime

N_ROWS = 2400  # about 9.5 years of sessions: every regime is visited many times


@pytest.fixture(scope="module")
def model() -> MarketModel:
    m = MarketModel(MarketConfig(seed=7, n_underlyings=30))
    m.paths.ensure(N_ROWS)
    return m


def _daily(model: MarketModel) -> dict[str, np.ndarray]:
    p = model.paths
    returns = np.diff(np.log(p.close[:N_ROWS]), axis=0)
    return {
        "r": returns,
        "regime": p.regime[1:N_ROWS],
        "gap": p.earnings_gap[1:N_ROWS],
        "quiet": ~p.market_shock[1:N_ROWS] & ~p.is_fomc[1:N_ROWS],
        "market": (p.market_overnight + p.market_intraday)[1:N_ROWS],
    }


def test_every_regime_is_visited(model: MarketModel) -> None:
    counts = np.bincount(model.paths.regime[:N_ROWS], minlength=3)
    assert all(c > 150 for c in counts), counts


def test_realised_daily_vol_matches_the_regime(model: MarketModel) -> None:
    d = _daily(model)
    ratios = []
    for i, spec in enumerate(model.universe.specs):
        for g in Regime:
            sel = (d["regime"] == g) & ~d["gap"][:, i] & d["quiet"]
            realised = d["r"][sel, i].std() * math.sqrt(SESSIONS_PER_YEAR)
            ratio = realised / regime_vol(spec, g)
            ratios.append(ratio)
            assert 0.85 < ratio < 1.15, (spec.symbol, g, ratio)
    assert 0.97 < float(np.mean(ratios)) < 1.05


def test_stressed_regime_is_more_volatile_than_calm(model: MarketModel) -> None:
    d = _daily(model)
    spy = model.universe.index_of["SPY"]
    calm = d["r"][(d["regime"] == Regime.CALM) & d["quiet"], spy].std()
    stressed = d["r"][(d["regime"] == Regime.STRESSED) & d["quiet"], spy].std()
    assert stressed > 2.0 * calm


def test_correlation_to_the_market_factor_is_as_configured(model: MarketModel) -> None:
    d = _daily(model)
    for i, spec in enumerate(model.universe.specs):
        sel = (d["regime"] == Regime.NORMAL) & ~d["gap"][:, i] & d["quiet"]
        measured = np.corrcoef(d["r"][sel, i], d["market"][sel])[0, 1]
        assert abs(measured - market_correlation(spec)) < 0.08, (spec.symbol, measured)


def test_earnings_gaps_happen_at_the_open_after_the_report(model: MarketModel) -> None:
    p = model.paths
    stocks = [i for i, s in enumerate(model.universe.specs) if not s.is_etf]
    assert stocks
    standardised = []
    for i in stocks:
        spec = model.universe.specs[i]
        gap_rows = np.flatnonzero(p.earnings_gap[1:N_ROWS, i]) + 1
        assert len(gap_rows) > 30
        # each gap row is the session after a report day
        reports = set(p.earnings[i])
        assert all(p.sessions[j - 1] in reports for j in gap_rows)
        overnight = p.overnight_return[1:N_ROWS, i]
        normal = np.delete(overnight, gap_rows - 1)
        gaps = overnight[gap_rows - 1]
        # the jump is in the overnight return, far larger than an ordinary night's
        assert np.median(np.abs(gaps)) > 3.0 * np.median(np.abs(normal)), spec.symbol
        standardised.extend(gaps / spec.earnings_move)
    # sized like the specs' earnings moves (plus a night's diffusion)
    assert 0.9 < float(np.std(standardised)) < 1.2


def test_etfs_have_no_earnings(model: MarketModel) -> None:
    for i, spec in enumerate(model.universe.specs):
        if spec.is_etf:
            assert not p_any(model.paths.earnings_gap[:, i])
            assert model.earnings_dates(spec.symbol, date(2020, 1, 1), date(2030, 1, 1)) == []


def p_any(values: np.ndarray) -> bool:
    return bool(np.any(values))


def test_earnings_dates_are_quarterly_weekday_sessions(model: MarketModel) -> None:
    days = model.earnings_dates("AAPL", date(2025, 1, 1), date(2027, 12, 31))
    assert 11 <= len(days) <= 13
    assert all(model.calendar.is_session(d) and d.weekday() < 5 for d in days)
    gaps = np.diff([d.toordinal() for d in days])
    assert gaps.min() >= 75 and gaps.max() <= 105


def test_a_market_shock_puts_the_market_in_stress(model: MarketModel) -> None:
    p = model.paths
    shocks = np.flatnonzero(p.market_shock[: N_ROWS - 1])
    assert len(shocks) >= 3
    assert all(p.regime[j + 1] == Regime.STRESSED for j in shocks)
    assert float(np.mean(p.market_overnight[shocks])) < -0.02


def test_intraday_paths_join_the_daily_bars_and_have_the_regime_vol(model: MarketModel) -> None:
    p = model.paths
    i = model.universe.index_of["AAPL"]
    spec = model.universe.specs[i]
    ratios = []
    for j in range(300, 420):
        path = p.intraday(j, i)
        assert path.prices[0] == p.open[j, i] and path.prices[-1] == p.close[j, i]
        assert path.low <= min(p.open[j, i], p.close[j, i]) <= path.high
        minute_var = float(np.sum(np.diff(np.log(path.prices)) ** 2))
        regime = Regime(int(p.regime[j]))
        expected = (
            regime_vol(spec, regime) ** 2 * (1.0 - OVERNIGHT_VARIANCE_SHARE) / SESSIONS_PER_YEAR
        )
        if not p.is_fomc[j]:
            ratios.append(minute_var / expected)
    assert 0.85 < float(np.mean(ratios)) < 1.15


def test_daily_bar_backfill_keeps_two_sessions_of_minute_paths() -> None:
    """The daily-bar backfill walks months of minute paths; only two sessions' worth stay
    cached (memory), and an evicted path comes back identical (it is a pure function)."""
    model = MarketModel(MarketConfig(seed=7, n_underlyings=130))
    p = model.paths
    first = p.intraday(p.anchor_index - 60, 0)
    at = et_datetime(date(2026, 3, 2), time(10, 0))
    for symbol in model.symbols:
        bars = model.daily_bars(symbol, date(2025, 12, 1), date(2026, 3, 1), as_of=at)
        assert len(bars) > 55
    assert len(p._intraday_cache) == 2 * p.n_symbols
    again = p.intraday(p.anchor_index - 60, 0)
    assert again is not first
    np.testing.assert_array_equal(again.prices, first.prices)
    np.testing.assert_array_equal(again.iv_shock, first.iv_shock)


def test_minute_prices_are_the_bar_containing_the_time(model: MarketModel) -> None:
    day = date(2026, 3, 3)
    j = model.paths.row(day)
    i = model.universe.index_of["MSFT"]
    path = model.paths.intraday(j, i)
    open_at = et_datetime(day, time(9, 30))
    assert model.spot("MSFT", open_at) == path.prices[0]
    assert model.spot("MSFT", open_at + timedelta(seconds=59)) == path.prices[0]
    assert model.spot("MSFT", open_at + timedelta(minutes=61, seconds=5)) == path.prices[61]
    assert model.spot("MSFT", et_datetime(day, time(16, 0))) == model.paths.close[j, i]
    assert model.spot("MSFT", et_datetime(day, time(20, 0))) == model.paths.close[j, i]
    # before the open: the previous close; weekends: Friday's close
    assert model.spot("MSFT", et_datetime(day, time(8, 0))) == model.paths.close[j - 1, i]
    saturday = et_datetime(date(2026, 3, 7), time(12, 0))
    friday_row = model.paths.row(date(2026, 3, 6))
    assert model.spot("MSFT", saturday) == model.paths.close[friday_row, i]


def test_prices_are_anchored_at_the_spec_level_before_the_start(model: MarketModel) -> None:
    anchor = model.paths.anchor_index
    for i, spec in enumerate(model.universe.specs):
        assert model.paths.close[anchor, i] == pytest.approx(spec.price_usd, abs=0.006)
    start = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 ET, before the first open
    assert model.spot("SPY", start) == pytest.approx(560.0, abs=0.006)


def test_the_vol_index_rises_with_stress(model: MarketModel) -> None:
    p = model.paths
    rows = range(0, N_ROWS, 4)
    by_regime: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for j in rows:
        by_regime[int(p.regime[j])].append(model.vol_index_close(p.sessions[j]))
    calm, normal, stressed = (float(np.mean(by_regime[g])) for g in range(3))
    assert calm < normal < stressed
    assert 10.0 < calm < 16.0 and 14.0 < normal < 22.0 and stressed > 28.0


def test_the_variance_risk_premium_is_positive_on_average(model: MarketModel) -> None:
    p = model.paths
    i = model.universe.index_of["SPY"]
    implied, realised = [], []
    for j in range(100, N_ROWS - 30, 5):
        day = p.sessions[j]
        implied.append(model.iv_history("SPY", day, day)[0][1] ** 2)
        ahead = np.diff(np.log(p.close[j : j + 22, i]))
        realised.append(float(np.sum(ahead**2)) * SESSIONS_PER_YEAR / 21.0)
    ratio = math.sqrt(np.mean(implied) / np.mean(realised))
    assert 1.05 < ratio < 1.5, ratio


def test_same_seed_same_paths_and_different_seed_differs() -> None:
    a = MarketModel(MarketConfig(seed=11, n_underlyings=24))
    b = MarketModel(MarketConfig(seed=11, n_underlyings=24))
    c = MarketModel(MarketConfig(seed=12, n_underlyings=24))
    b.paths.ensure(700)  # extending in a different order must not change anything
    a.paths.ensure(520)
    a.paths.ensure(700)
    assert np.array_equal(a.paths.close[:700], b.paths.close[:700])
    assert np.array_equal(a.paths.regime[:700], b.paths.regime[:700])
    assert np.array_equal(a.paths.intraday(650, 3).prices, b.paths.intraday(650, 3).prices)
    assert list(a.universe.specs) == list(b.universe.specs)
    assert not np.array_equal(a.paths.close[:700], c.paths.close[:700])


def test_adding_names_does_not_change_existing_ones() -> None:
    small = MarketModel(MarketConfig(seed=3, n_underlyings=22))
    large = MarketModel(MarketConfig(seed=3, n_underlyings=40))
    assert large.universe.specs[:22] == small.universe.specs
    assert np.array_equal(
        small.paths.close[:, :22], large.paths.close[: small.paths.n_generated, :22]
    )


def test_fomc_statements_move_the_market_at_two_pm(model: MarketModel) -> None:
    from agent.adapters.sim.market_events import FOMC_ANNOUNCEMENT_MINUTE

    p = model.paths
    fomc_rows = [j for j in range(1, 1200) if p.is_fomc[j]]
    assert len(fomc_rows) >= 30  # eight a year
    assert all(p.sessions[j].weekday() in (2, 3) for j in fomc_rows)  # Wed (Thu in Nov 2024)
    at_statement, elsewhere = [], []
    for j in fomc_rows:
        path, _ = p._market_minutes(j)
        steps = np.abs(np.diff(path))
        at_statement.append(steps[FOMC_ANNOUNCEMENT_MINUTE])
        elsewhere.append(np.median(steps))
    assert np.median(at_statement) > 5 * np.median(elsewhere)

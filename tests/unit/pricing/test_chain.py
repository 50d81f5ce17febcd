"""enrich_chain: T convention, NaN policy, flags, vendor cross-check, take/reasons_for."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from agent.calendar import ET, market_calendar
from agent.domain import OptionChain
from agent.errors import DataError
from agent.pricing.bsm import IvStatus, bs_greeks, bs_price, implied_vol
from agent.pricing.chain import ChainFlag, enrich_chain, time_to_expiry_years
from agent.pricing.liquidity import liquidity_score

AS_OF = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 ET
SPOT, RATE, YIELD = 100.0, 0.04, 0.01


def _chain(**overrides: object) -> OptionChain:
    expiry = np.array(["2026-03-20"] * 6, dtype="datetime64[D]")
    strike = np.array([95.0, 100.0, 105.0, 95.0, 100.0, 105.0])
    is_call = np.array([True, True, True, False, False, False])
    T = time_to_expiry_years(AS_OF, date(2026, 3, 20))
    fair = bs_price(SPOT, strike, T, RATE, YIELD, 0.25, is_call)
    columns: dict[str, object] = {
        "symbol": [f"C{i}" for i in range(6)],
        "expiry": expiry,
        "strike": strike,
        "is_call": is_call,
        "bid": fair - 0.05,
        "ask": fair + 0.05,
        "last": fair,
        "bid_size": np.full(6, 10.0),
        "ask_size": np.full(6, 10.0),
        "volume": np.full(6, 250.0),
        "open_interest": np.full(6, 1500.0),
        "quote_time_s": np.full(6, AS_OF.timestamp() - 2.0),
    }
    columns.update(overrides)
    return OptionChain.from_columns(underlying="XYZ", as_of=AS_OF, **columns)


def test_time_to_expiry_matches_the_market_calendar_including_dst() -> None:
    cal = market_calendar()
    # 2026-03-08 is the US DST switch: an expiry after it is one hour closer in UTC terms.
    for expiry in (
        date(2026, 3, 2),
        date(2026, 3, 6),
        date(2026, 3, 13),
        date(2026, 11, 6),
        date(2027, 1, 15),
    ):
        assert time_to_expiry_years(AS_OF, expiry) == cal.time_to_expiry_years(AS_OF, expiry)
    before = time_to_expiry_years(AS_OF, date(2026, 3, 6))
    after = time_to_expiry_years(AS_OF, date(2026, 3, 13))
    assert (after - before) * 365 * 24 == pytest.approx(7 * 24 - 1)
    assert (
        time_to_expiry_years(datetime.combine(date(2026, 3, 2), time(16, 30), ET), date(2026, 3, 2))
        == 0.0
    )


def test_clean_chain_recovers_vol_and_greeks() -> None:
    enriched = enrich_chain(_chain(), SPOT, RATE, YIELD, AS_OF)
    assert len(enriched) == 6
    np.testing.assert_allclose(enriched.iv, 0.25, atol=1e-12)
    assert np.all(enriched.iv_status == IvStatus.OK)
    assert np.all(enriched.flags == 0)
    T = enriched.time_to_expiry_years
    greeks = bs_greeks(
        SPOT, enriched.chain.strike, T, RATE, YIELD, enriched.iv, enriched.chain.is_call
    )
    np.testing.assert_array_equal(enriched.delta, greeks.delta)
    np.testing.assert_array_equal(enriched.theta, greeks.theta)
    assert np.all(enriched.iv_bid < enriched.iv) and np.all(enriched.iv < enriched.iv_ask)
    np.testing.assert_allclose(
        enriched.iv_ask,
        implied_vol(
            enriched.chain.ask, SPOT, enriched.chain.strike, T, RATE, YIELD, enriched.chain.is_call
        ),
        rtol=0,
        atol=1e-13,
    )
    assert np.all(enriched.dte_days == 18)
    np.testing.assert_allclose(enriched.quote_age_s, 2.0)
    np.testing.assert_allclose(enriched.spread_pct, 0.1 / enriched.mid * 100)
    np.testing.assert_allclose(
        enriched.liquidity,
        liquidity_score(enriched.spread_pct, 1500.0, 250.0, 2.0),
    )
    assert enriched.reasons_for(0) == []


def test_nan_policy_per_quote_condition() -> None:
    chain = _chain(
        bid=np.array([np.nan, 3.0, 0.0, 0.10, 2.0, 8.0]),
        ask=np.array([1.0, 2.0, 0.20, 0.0, 2.5, 8.2]),
        quote_time_s=np.array([AS_OF.timestamp()] * 4 + [np.nan, AS_OF.timestamp() - 1000.0]),
    )
    enriched = enrich_chain(chain, SPOT, RATE, YIELD, AS_OF)
    no_quote, crossed, zero_bid, no_ask, undated, stale = range(6)
    for i in (no_quote, no_ask):
        assert enriched.flags[i] & ChainFlag.NO_QUOTE
        assert (
            math.isnan(enriched.mid[i])
            and math.isnan(enriched.iv[i])
            and math.isnan(enriched.delta[i])
        )
        assert enriched.iv_status[i] == IvStatus.INVALID_INPUT
    assert enriched.flags[crossed] & ChainFlag.CROSSED
    assert all(
        math.isnan(getattr(enriched, f)[crossed])
        for f in ("mid", "iv", "iv_bid", "iv_ask", "gamma")
    )
    # Zero bid: mid from the ask alone, an ask-side IV, no bid IV.
    assert enriched.flags[zero_bid] & ChainFlag.ZERO_BID
    assert enriched.mid[zero_bid] == pytest.approx(0.10)
    assert enriched.spread_pct[zero_bid] == pytest.approx(200.0)
    assert math.isfinite(enriched.iv[zero_bid]) and math.isfinite(enriched.iv_ask[zero_bid])
    assert math.isnan(enriched.iv_bid[zero_bid])
    assert math.isfinite(enriched.delta[zero_bid])
    # Unknown quote time and old quotes are stale, but still priced.
    assert enriched.flags[undated] & ChainFlag.STALE and enriched.flags[stale] & ChainFlag.STALE
    assert math.isnan(enriched.quote_age_s[undated])
    assert enriched.quote_age_s[stale] == pytest.approx(1000.0)
    assert math.isfinite(enriched.iv[stale])
    assert not enriched.flags[zero_bid] & ChainFlag.STALE
    assert "crossed quote (bid > ask)" in enriched.reasons_for(crossed)
    assert "no implied vol" in enriched.reasons_for(crossed)


def test_below_intrinsic_and_expired_contracts() -> None:
    # Deep ITM call quoted below its forward intrinsic value; a same-day expiry after 16:00 ET.
    chain = _chain(
        strike=np.array([50.0, 100.0, 105.0, 95.0, 100.0, 105.0]),
        bid=np.array([40.0, 2.0, 1.0, 1.0, 2.0, 6.0]),
        ask=np.array([40.2, 2.2, 1.2, 1.2, 2.2, 6.3]),
        expiry=np.array(
            ["2026-03-20"] + ["2026-03-02"] + ["2026-03-20"] * 4, dtype="datetime64[D]"
        ),
    )
    after_close = datetime.combine(date(2026, 3, 2), time(16, 5), ET)
    enriched = enrich_chain(chain, SPOT, RATE, YIELD, after_close, max_quote_age_s=math.inf)
    assert enriched.flags[0] & ChainFlag.BELOW_INTRINSIC and enriched.flags[0] & ChainFlag.NO_IV
    assert enriched.iv_status[0] == IvStatus.BELOW_INTRINSIC
    assert enriched.flags[1] & ChainFlag.EXPIRED and enriched.iv_status[1] == IvStatus.EXPIRED
    assert enriched.time_to_expiry_years[1] == 0.0 and enriched.dte_days[1] == 0
    assert math.isnan(enriched.iv[1]) and math.isnan(enriched.delta[1])
    assert not enriched.flags[2] & (ChainFlag.EXPIRED | ChainFlag.NO_IV)


def test_vendor_cross_check() -> None:
    clean = enrich_chain(_chain(), SPOT, RATE, YIELD, AS_OF)
    vendor_iv = clean.iv + np.array([0.0, 0.01, 0.05, np.nan, -0.03, 0.0])
    vendor_delta = clean.delta + np.array([0.0, 0.0, 0.0, 0.2, np.nan, 0.01])
    enriched = enrich_chain(
        _chain(vendor_iv=vendor_iv, vendor_delta=vendor_delta), SPOT, RATE, YIELD, AS_OF
    )
    np.testing.assert_allclose(
        enriched.vendor_iv_diff, [0.0, 0.01, 0.05, np.nan, -0.03, 0.0], atol=1e-12
    )
    mismatch = enriched.has_flag(ChainFlag.VENDOR_IV_MISMATCH)
    assert list(mismatch) == [False, False, True, False, True, False]
    assert list(enriched.has_flag(ChainFlag.VENDOR_DELTA_MISMATCH)) == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert math.isnan(enriched.vendor_delta_diff[4])
    # Vendor numbers are recorded, never substituted.
    np.testing.assert_array_equal(enriched.iv, clean.iv)
    loose = enrich_chain(
        _chain(vendor_iv=vendor_iv), SPOT, RATE, YIELD, AS_OF, vendor_iv_tolerance=0.1
    )
    assert not loose.has_flag(ChainFlag.VENDOR_IV_MISMATCH).any()


def test_take_and_boundaries() -> None:
    enriched = enrich_chain(_chain(), SPOT, RATE, YIELD, AS_OF)
    calls = enriched.take(enriched.chain.is_call)
    assert len(calls) == 3 and np.all(calls.chain.is_call)
    np.testing.assert_array_equal(calls.iv, enriched.iv[:3])
    picked = enriched.take(np.array([5, 0]))
    assert list(picked.chain.symbol) == ["C5", "C0"] and picked.delta[1] == enriched.delta[0]
    empty = enrich_chain(_chain().take(np.zeros(6, dtype=bool)), SPOT, RATE, YIELD, AS_OF)
    assert len(empty) == 0 and empty.iv.shape == (0,)
    with pytest.raises(DataError):
        enrich_chain(_chain(), math.nan, RATE, YIELD, AS_OF)
    no_expiry = _chain(expiry=np.array(["2026-03-20"] * 5 + ["NaT"], dtype="datetime64[D]"))
    with pytest.raises(DataError, match="expiry"):
        enrich_chain(no_expiry, SPOT, RATE, YIELD, AS_OF)
    with pytest.raises(ValueError, match="aware"):
        enrich_chain(_chain(), SPOT, RATE, YIELD, AS_OF.replace(tzinfo=None))


def test_large_chain_uses_threaded_kernel_with_same_results() -> None:
    rng = np.random.default_rng(11)
    n = 6000
    expiries = np.datetime64("2026-03-06") + rng.integers(0, 400, n).astype("timedelta64[D]")
    strike = rng.uniform(60, 140, n)
    is_call = rng.random(n) < 0.5
    T = np.array([time_to_expiry_years(AS_OF, d.item()) for d in expiries])
    fair = bs_price(SPOT, strike, T, RATE, YIELD, rng.uniform(0.1, 0.6, n), is_call)
    chain = OptionChain.from_columns(
        underlying="XYZ",
        as_of=AS_OF,
        symbol=[f"S{i}" for i in range(n)],
        expiry=expiries,
        strike=strike,
        is_call=is_call,
        bid=fair * 0.98,
        ask=fair * 1.02 + 0.01,
        quote_time_s=np.full(n, AS_OF.timestamp()),
    )
    big = enrich_chain(chain, SPOT, RATE, YIELD, AS_OF)
    head = enrich_chain(chain.take(np.arange(500)), SPOT, RATE, YIELD, AS_OF)
    np.testing.assert_array_equal(big.iv[:500], head.iv)
    np.testing.assert_array_equal(big.flags[:500], head.flags)
    serial = enrich_chain(chain, SPOT, RATE, YIELD, AS_OF, parallel=False)
    for name in ("iv", "iv_bid", "iv_ask", "delta", "theta", "liquidity", "flags"):
        np.testing.assert_array_equal(getattr(serial, name), getattr(big, name))
    assert (AS_OF + timedelta(days=1)).tzinfo is UTC

"""Marks: every number checked against our own kernels, and the garbage-quote policy."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from agent.domain import OptionRight, Side, StructureKind
from agent.monitor.marks import (
    MarkInput,
    StockQuote,
    extrinsic_value,
    mark_trades,
    prob_touch,
    quote_problem,
    units_of,
)
from agent.pricing.bsm import bs_greeks, implied_vol
from agent.pricing.chain import time_to_expiry_years
from agent.pricing.units import theta_per_day, vega_per_vol_point
from tests.unit.monitor.helpers import (
    EXPIRY,
    NOW,
    RATE,
    SYMBOL,
    leg,
    model_quote,
    occ,
    quote,
    trade,
)

SPOT = StockQuote(price=100.0, bid=99.99, ask=100.01)


def spread_input(qty: int = 2) -> MarkInput:
    t = trade(qty=qty)
    return MarkInput(
        trade=t,
        legs=(
            leg(t.trade_id, 95.0, Side.SELL, qty=qty, entry="1.50"),
            leg(t.trade_id, 90.0, Side.BUY, qty=qty, entry="0.50"),
        ),
        spot=SPOT,
    )


def test_spread_mark_matches_the_kernels() -> None:
    item = spread_input(qty=2)
    quotes = {occ(95): quote(occ(95), 1.20, 1.30), occ(90): quote(occ(90), 0.40, 0.46)}
    (result,) = mark_trades([item], quotes, as_of=NOW, rate=RATE, max_quote_age_s=300)
    mark = result.mark

    years = time_to_expiry_years(NOW, EXPIRY)
    mids = np.array([1.25, 0.43])
    strikes = np.array([95.0, 90.0])
    ivs = implied_vol(mids, 100.0, strikes, years, RATE, 0.0, False)
    g = bs_greeks(100.0, strikes, years, RATE, 0.0, ivs, False)
    by_symbol = {lm.symbol: lm for lm in mark.legs}
    short, long_ = by_symbol[occ(95)], by_symbol[occ(90)]
    assert short.iv == pytest.approx(ivs[0]) and long_.iv == pytest.approx(ivs[1])
    assert short.delta == pytest.approx(g.delta[0]) and long_.gamma == pytest.approx(g.gamma[1])

    assert mark.qty == 2 and mark.dte == (EXPIRY - NOW.date()).days and mark.expiry == EXPIRY
    assert mark.entry_credit_usd == Decimal(200)  # (1.50 − 0.50) × 100 × 2
    assert mark.close_net_mid == Decimal("0.82")  # 1.25 − 0.43 per unit
    assert mark.close_net_natural == Decimal("0.90")  # buy 95 at 1.30, sell 90 at 0.40
    assert mark.unrealized_pnl_usd == Decimal(200) - Decimal("0.82") * 200
    assert mark.captured_pct == pytest.approx(18.0)
    # position greeks: share equivalents, short negative, ×100 × 2 contracts
    q = np.array([-200.0, 200.0])
    assert mark.greeks.delta == pytest.approx(float((g.delta * q).sum()))
    assert mark.greeks.gamma == pytest.approx(float((g.gamma * q).sum()))
    assert mark.greeks.theta == pytest.approx(float((theta_per_day(g.theta) * q).sum()))
    assert mark.greeks.vega == pytest.approx(float((vega_per_vol_point(g.vega) * q).sum()))
    assert mark.short_put_strike == 95.0 and mark.short_call_strike is None
    assert mark.breached is None
    assert mark.short_distance_pct == pytest.approx(5.0)
    assert mark.max_abs_short_delta == pytest.approx(abs(g.delta[0]))
    assert mark.prob_touch == pytest.approx(
        prob_touch(
            spot=100.0,
            barrier=95.0,
            years=years,
            sigma=float(ivs[0]),
            rate=RATE,
            dividend_yield=0.0,
        )
    )
    assert math.isnan(mark.min_short_put_extrinsic)  # no short put in the money
    assert mark.quote_problems == ()
    # Each leg's marks are written (delta per share, P&L of the leg).
    assert result.leg_marks[f"{item.trade.trade_id}:{occ(95)}"] == (
        pytest.approx(g.delta[0]),
        (Decimal("1.25") - Decimal("1.50")) * -1 * 200,
    )


def test_itm_short_put_breach_distance_and_extrinsic() -> None:
    item = spread_input(qty=1)
    spot = StockQuote(price=93.0, bid=92.99, ask=93.01)
    item = MarkInput(trade=item.trade, legs=item.legs, spot=spot)
    quotes = {occ(95): quote(occ(95), 2.60, 2.70), occ(90): quote(occ(90), 0.80, 0.86)}
    (result,) = mark_trades([item], quotes, as_of=NOW, rate=RATE, max_quote_age_s=300)
    mark = result.mark
    assert mark.breached is OptionRight.PUT
    assert mark.short_distance_pct == pytest.approx((93.0 - 95.0) / 93.0 * 100)
    assert mark.prob_touch == 1.0
    assert mark.min_short_put_extrinsic == pytest.approx(
        extrinsic_value(OptionRight.PUT, 95, 93, 2.65)
    )


def test_condor_nearest_short_and_call_breach() -> None:
    t = trade(StructureKind.IRON_CONDOR)
    legs = (
        leg(t.trade_id, 90.0, Side.SELL, entry="0.80"),
        leg(t.trade_id, 85.0, Side.BUY, entry="0.30"),
        leg(t.trade_id, 104.0, Side.SELL, entry="0.90", right=OptionRight.CALL),
        leg(t.trade_id, 109.0, Side.BUY, entry="0.30", right=OptionRight.CALL),
    )
    spot = StockQuote(price=105.0, bid=104.99, ask=105.01)
    quotes = {}
    for lg in legs:
        assert lg.right is not None
        bid, ask = model_quote(float(lg.strike or 0), lg.right, spot=105.0, iv=0.25)
        quotes[lg.symbol] = quote(lg.symbol, bid, ask)
    (result,) = mark_trades(
        [MarkInput(trade=t, legs=legs, spot=spot)],
        quotes,
        as_of=NOW,
        rate=RATE,
        max_quote_age_s=300,
    )
    mark = result.mark
    assert mark.short_put_strike == 90.0 and mark.short_call_strike == 104.0
    assert mark.breached is OptionRight.CALL
    assert mark.short_distance_pct == pytest.approx((104.0 - 105.0) / 105.0 * 100)
    assert mark.entry_credit_usd == Decimal("110.00")


def test_missing_and_crossed_quotes_are_problems_marked_with_what_is_known() -> None:
    item = spread_input(qty=1)
    bid, ask = model_quote(95.0, OptionRight.PUT, spot=100.0, iv=0.30)
    quotes = {occ(95): quote(occ(95), bid, ask), occ(90): quote(occ(90), 0.60, 0.50)}
    (result,) = mark_trades([item], quotes, as_of=NOW, rate=RATE, max_quote_age_s=300)
    mark = result.mark
    assert len(mark.quote_problems) == 1 and "crossed" in mark.quote_problems[0]
    long_ = next(lm for lm in mark.legs if lm.symbol == occ(90))
    assert math.isnan(long_.bid) and math.isnan(long_.ask)
    # the long leg is priced by the model at the short leg's IV
    short = next(lm for lm in mark.legs if lm.symbol == occ(95))
    assert long_.iv == pytest.approx(short.iv)
    years = time_to_expiry_years(NOW, EXPIRY)
    model = bs_greeks(100.0, 90.0, years, RATE, 0.0, short.iv, False).price
    assert long_.mid == pytest.approx(float(model))
    # only the good leg's marks are written; the bad one keeps its last stored mark
    assert set(result.leg_marks) == {f"{item.trade.trade_id}:{occ(95)}"}

    (nothing,) = mark_trades([item], {}, as_of=NOW, rate=RATE, max_quote_age_s=300)
    assert len(nothing.mark.quote_problems) == 2 and nothing.leg_marks == {}
    assert all(lm.mid >= 0.0 for lm in nothing.mark.legs)  # intrinsic, not garbage


def test_quote_problem_edges() -> None:
    s = occ(95)
    ok = quote(s, 1.0, 1.1)
    assert quote_problem(ok, now=NOW, max_quote_age_s=300) is None
    assert quote_problem(None, now=NOW, max_quote_age_s=300) == "no quote"
    assert "crossed" in (quote_problem(quote(s, 1.2, 1.1), now=NOW, max_quote_age_s=300) or "")
    assert "no ask" in (quote_problem(quote(s, 0.0, 0.0), now=NOW, max_quote_age_s=300) or "")
    assert quote_problem(quote(s, 0.0, 0.05), now=NOW, max_quote_age_s=300) is None  # worthless
    assert "one-sided" in (quote_problem(quote(s, 0.0, 0.50), now=NOW, max_quote_age_s=300) or "")
    old = quote(s, 1.0, 1.1, at=NOW - timedelta(seconds=300))
    assert quote_problem(old, now=NOW, max_quote_age_s=300) is None  # at the limit
    older = quote(s, 1.0, 1.1, at=NOW - timedelta(seconds=301))
    assert "stale" in (quote_problem(older, now=NOW, max_quote_age_s=300) or "")


def test_stock_leg_marked_at_the_snapshot() -> None:
    t = trade(StructureKind.CASH_SECURED_PUT, entry_net="-0.50")
    legs = (leg(t.trade_id, None, Side.BUY, qty=100, entry="95.00", right=None),)
    (result,) = mark_trades(
        [MarkInput(trade=t, legs=legs, spot=SPOT)], {}, as_of=NOW, rate=RATE, max_quote_age_s=300
    )
    mark = result.mark
    (stock,) = mark.legs
    assert stock.symbol == SYMBOL and stock.right is None and stock.mid == pytest.approx(100.0)
    assert mark.greeks.delta == 100.0 and mark.greeks.gamma == 0.0
    assert mark.unrealized_pnl_usd == Decimal("500.00")  # (100 − 95) × 100
    assert mark.close_net_natural == Decimal("-99.99")  # sold at the bid, per 100 shares
    assert mark.expiry is None and mark.dte is None and mark.quote_problems == ()


def test_units_are_the_gcd_of_option_legs() -> None:
    t = trade(qty=3)
    legs = (
        leg(t.trade_id, 95.0, Side.SELL, qty=4),
        leg(t.trade_id, 90.0, Side.BUY, qty=6),
    )
    assert units_of(legs, t) == 2
    assert units_of((leg(t.trade_id, None, Side.BUY, qty=100, right=None),), t) == 3


def test_prob_touch_against_the_driftless_reflection_formula() -> None:
    # With r = q and σ²/2 → the drift m = −σ²/2 is small; at zero drift the first-passage
    # probability is exactly 2·N(−|b|/s) (the reflection principle).
    sigma, years = 0.2, 0.25
    b = math.log(95 / 100)
    s = sigma * math.sqrt(years)
    exact = 2 * 0.5 * math.erfc(abs(b) / s / math.sqrt(2))
    got = prob_touch(
        spot=100, barrier=95, years=years, sigma=sigma, rate=sigma**2 / 2, dividend_yield=0.0
    )
    assert got == pytest.approx(exact, rel=1e-12)
    up = prob_touch(
        spot=100, barrier=105, years=years, sigma=sigma, rate=sigma**2 / 2, dividend_yield=0.0
    )
    assert up == pytest.approx(2 * 0.5 * math.erfc(math.log(1.05) / s / math.sqrt(2)), rel=1e-12)
    assert (
        prob_touch(spot=100, barrier=100, years=years, sigma=sigma, rate=0, dividend_yield=0) == 1
    )
    assert math.isnan(
        prob_touch(spot=100, barrier=95, years=years, sigma=math.nan, rate=0, dividend_yield=0)
    )
    assert prob_touch(spot=100, barrier=95, years=0.0, sigma=sigma, rate=0, dividend_yield=0) == 0.0


def test_prob_touch_against_a_simulation() -> None:
    rng = np.random.default_rng(7)
    sigma, years, rate, q = 0.3, 30 / 365, 0.04, 0.01
    steps, paths = 500, 5000
    dt = years / steps
    z = rng.standard_normal((paths, steps))
    log_paths = np.cumsum((rate - q - 0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * z, axis=1)
    touched = (log_paths.min(axis=1) <= math.log(0.93)).mean()
    model = prob_touch(spot=100, barrier=93, years=years, sigma=sigma, rate=rate, dividend_yield=q)
    # discrete monitoring misses a few touches: the simulation sits just under the formula
    assert model - 0.04 < touched <= model + 0.02


def test_marks_load_no_numba() -> None:
    """The Monitor's process marks with the numpy closed form: importing marks (and the
    monitor package) and marking a spread must not load numba (~45 MiB a process)."""
    code = textwrap.dedent(
        """
        import sys
        from datetime import UTC, date, datetime, timedelta
        from decimal import Decimal

        from agent.domain import (
            OptionRight, PositionLeg, Quote, Side, StructureKind, Trade, TradeStatus, format_occ,
        )
        from agent.monitor.marks import MarkInput, StockQuote, mark_trades

        now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
        expiry = date(2026, 3, 20)
        trade = Trade(
            trade_id="t1", underlying="XYZ", strategy=StructureKind.BULL_PUT_SPREAD,
            status=TradeStatus.OPEN, qty=1, opened_at=now - timedelta(days=3),
            entry_net_price=Decimal("-1.00"), max_loss_usd=Decimal(400),
            capital_usd=Decimal(400),
        )
        legs, quotes = [], {}
        for strike, side, bid, ask in ((95, Side.SELL, 1.20, 1.30), (90, Side.BUY, 0.40, 0.46)):
            symbol = format_occ("XYZ", expiry, OptionRight.PUT, Decimal(strike))
            legs.append(PositionLeg(
                position_id=f"t1:{symbol}", trade_id="t1", symbol=symbol, underlying="XYZ",
                right=OptionRight.PUT, strike=Decimal(strike), expiry=expiry, side=side, qty=1,
                entry_price=Decimal("1.00"), opened_at=now - timedelta(days=3),
            ))
            quotes[symbol] = Quote(
                symbol=symbol, bid=bid, ask=ask, bid_size=10, ask_size=10, quoted_at=now
            )
        item = MarkInput(
            trade=trade, legs=tuple(legs), spot=StockQuote(price=100.0, bid=99.99, ask=100.01)
        )
        (result,) = mark_trades([item], quotes, as_of=now, rate=0.04, max_quote_age_s=300)
        assert all(0.05 < leg.iv < 2.0 for leg in result.mark.legs), result.mark.legs
        print(sorted(m for m in ("numba", "scipy") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stderr

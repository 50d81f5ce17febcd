"""The price walker as pure functions: anchors, steps, ticks and the bound."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.config import ExecutionSettings
from agent.domain import OrderLeg, PositionIntent, Quote, Side
from agent.execution.walker import (
    NetQuote,
    bound_price,
    exit_bound,
    net_quote,
    plan_price,
    step_index,
    step_toward,
)

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TICK = Decimal("0.01")


def q(symbol: str, bid: float, ask: float) -> Quote:
    return Quote(symbol=symbol, bid=bid, ask=ask, quoted_at=AT)


def leg(symbol: str, intent: PositionIntent, ratio: int = 1) -> OrderLeg:
    return OrderLeg(symbol=symbol, side=intent.side, position_intent=intent, ratio_qty=ratio)


SPREAD = (leg("P95", PositionIntent.SELL_TO_OPEN), leg("P90", PositionIntent.BUY_TO_OPEN))
SETTINGS = ExecutionSettings(walk_steps=5, walk_interval_s=30, fill_timeout_s=300)


def test_net_quote_of_a_credit_spread() -> None:
    net = net_quote(SPREAD, {"P95": q("P95", 1.50, 1.60), "P90": q("P90", 0.40, 0.50)}, SETTINGS)
    assert net is not None
    assert net.mid == Decimal("-1.10")
    assert net.natural == Decimal("-1.00")  # sell at the bid, buy at the ask
    assert net.spread_width == Decimal("0.10")
    assert net.touch is None


def test_net_quote_needs_every_leg_with_a_sane_book() -> None:
    assert net_quote(SPREAD, {"P95": q("P95", 1.5, 1.6)}, SETTINGS) is None
    crossed = {"P95": q("P95", 1.7, 1.6), "P90": q("P90", 0.4, 0.5)}
    assert net_quote(SPREAD, crossed, SETTINGS) is None
    no_ask = {"P95": q("P95", 0.0, 0.0), "P90": q("P90", 0.4, 0.5)}
    assert net_quote(SPREAD, no_ask, SETTINGS) is None


def test_ratios_weigh_the_legs() -> None:
    legs = (leg("A", PositionIntent.SELL_TO_OPEN, 2), leg("B", PositionIntent.BUY_TO_OPEN, 1))
    net = net_quote(legs, {"A": q("A", 1.0, 1.2), "B": q("B", 0.5, 0.7)}, SETTINGS)
    assert net is not None
    assert net.natural == Decimal("-2.0") + Decimal("0.7")
    assert net.mid == Decimal("-2.2") + Decimal("0.6")


def test_single_leg_touch_is_a_protected_marketable_price() -> None:
    sell = (leg("P50", PositionIntent.SELL_TO_OPEN),)
    net = net_quote(sell, {"P50": q("P50", 1.00, 1.10)}, SETTINGS)
    assert net is not None and net.touch == Decimal("-0.95")  # 95 % of the bid
    buy = (leg("P50", PositionIntent.BUY_TO_CLOSE),)
    net = net_quote(buy, {"P50": q("P50", 1.00, 1.20)}, SETTINGS)
    assert net is not None and net.touch == Decimal("1.26")  # 105 % of the ask
    # An exit's bound for a touch-priced single leg is the touch price (past the natural).
    assert exit_bound(net, SETTINGS, single_leg=True) == Decimal("1.26")


def test_step_schedule() -> None:
    assert step_index(0, interval_s=30, steps=5) == 0
    assert step_index(29.9, interval_s=30, steps=5) == 0
    assert step_index(30, interval_s=30, steps=5) == 1
    assert step_index(95, interval_s=30, steps=5) == 3
    assert step_index(10_000, interval_s=30, steps=5) == 5
    assert step_index(10_000, interval_s=30, steps=0) == 0
    assert step_toward(Decimal("-1.10"), Decimal("-1.00"), 0, 5) == Decimal("-1.10")
    assert step_toward(Decimal("-1.10"), Decimal("-1.00"), 2, 5) == Decimal("-1.06")
    assert step_toward(Decimal("-1.10"), Decimal("-1.00"), 9, 5) == Decimal("-1.00")


def test_bound_is_a_ceiling_that_rounding_never_crosses() -> None:
    # A credit floor of 1.205 is a ceiling of -1.205: the price may not round up past it.
    assert bound_price(Decimal("-1.2"), bound=Decimal("-1.205"), tick=TICK, side=None) == (
        Decimal("-1.21"),
        True,
    )
    assert bound_price(Decimal("-1.234"), bound=Decimal("-1.20"), tick=TICK, side=None) == (
        Decimal("-1.23"),
        False,
    )
    # A debit ceiling of 2.50 caps a buy.
    assert bound_price(Decimal("2.7"), bound=Decimal("2.50"), tick=TICK, side=Side.BUY) == (
        Decimal("2.50"),
        True,
    )


def test_single_leg_limits_keep_their_sign() -> None:
    assert bound_price(Decimal("0"), bound=Decimal("-0.5"), tick=TICK, side=Side.SELL) == (
        Decimal("-0.5"),
        True,
    )
    assert bound_price(Decimal("0"), bound=Decimal("1"), tick=TICK, side=Side.SELL) == (
        Decimal("-0.01"),
        False,
    )
    assert bound_price(Decimal("0.001"), bound=Decimal("1"), tick=TICK, side=Side.BUY) == (
        Decimal("0.01"),
        False,
    )
    # No buy price at or under a bound below one tick.
    assert bound_price(Decimal("0.5"), bound=Decimal("0.004"), tick=TICK, side=Side.BUY) is None


def test_plan_walks_from_mid_to_natural_and_stops_at_the_floor() -> None:
    wide = NetQuote(mid=Decimal("-1.50"), natural=Decimal("-0.50"))
    floor = Decimal("-1.20")
    limits = [
        plan_price(net=wide, bound=floor, elapsed_s=s, settings=SETTINGS, side=None)
        for s in (0, 30, 60, 90, 120, 150, 300)
    ]
    assert [p.limit for p in limits if p] == [
        Decimal("-1.50"),
        Decimal("-1.30"),
        Decimal("-1.20"),
        Decimal("-1.20"),
        Decimal("-1.20"),
        Decimal("-1.20"),
        Decimal("-1.20"),
    ]
    assert [p.clamped for p in limits if p] == [False, False, True, True, True, True, True]


def test_natural_anchor_starts_at_the_natural() -> None:
    settings = ExecutionSettings(multi_leg_anchor="natural")
    net = NetQuote(mid=Decimal("-1.10"), natural=Decimal("-1.00"))
    plan = plan_price(net=net, bound=Decimal("-0.9"), elapsed_s=0, settings=settings, side=None)
    assert plan is not None and plan.limit == Decimal("-1.00")


prices = st.decimals(min_value=Decimal("-20"), max_value=Decimal("20"), places=4)


@given(
    mid=prices,
    width=st.decimals(min_value=0, max_value=5, places=4),
    bound=prices,
    elapsed=st.floats(min_value=0, max_value=3600),
    side=st.sampled_from([None, Side.BUY, Side.SELL]),
)
def test_the_limit_never_passes_the_bound_and_sits_on_a_tick(
    mid: Decimal, width: Decimal, bound: Decimal, elapsed: float, side: Side | None
) -> None:
    net = NetQuote(mid=mid, natural=mid + width, touch=mid + width if side else None)
    plan = plan_price(net=net, bound=bound, elapsed_s=elapsed, settings=SETTINGS, side=side)
    if plan is None:
        assert side is Side.BUY and bound < TICK
        return
    assert plan.limit <= bound
    assert plan.limit == plan.limit.quantize(TICK)
    if side is Side.SELL:
        assert plan.limit < 0
    if side is Side.BUY:
        assert plan.limit > 0


@pytest.mark.parametrize("steps", [1, 3, 5, 10])
def test_walk_is_monotone_toward_natural(steps: int) -> None:
    settings = ExecutionSettings(walk_steps=steps, walk_interval_s=30, fill_timeout_s=600)
    net = NetQuote(mid=Decimal("-2.00"), natural=Decimal("-1.40"))
    limits = [
        p.limit
        for s in range(0, 600, 15)
        if (p := plan_price(net=net, bound=Decimal("0"), elapsed_s=s, settings=settings, side=None))
    ]
    assert limits == sorted(limits)
    assert limits[0] == Decimal("-2.00") and limits[-1] == Decimal("-1.40")

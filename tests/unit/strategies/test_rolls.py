"""Roll candidates: the opening side of a roll, later expiry, same structure, scored."""

from __future__ import annotations

from datetime import timedelta

from agent.domain import (
    MarketEvent,
    MarketEventKind,
    OptionRight,
    OrderPurpose,
    PositionIntent,
    Side,
    StructureKind,
)
from agent.strategies import strategy_for
from tests.unit.strategies.chains import (
    TODAY,
    build_chain,
    context_for,
    expiry_for,
    leg_mark,
    make_settings,
    mark,
    trade,
)

DTES = (5, 24, 31, 38, 45, 52)


def rolls(kind: StructureKind, *overrides: str, events=(), trade_id="t-1", **mark_kw):  # type: ignore[no-untyped-def]
    settings = make_settings(*overrides)
    strategy = strategy_for(kind, settings)
    enriched, ctx = context_for(build_chain(dtes=DTES), settings, events=events)
    m = mark(**{"dte": 5, **mark_kw})
    return strategy.roll_candidates(trade(kind, trade_id=trade_id), m, enriched, ctx)


def test_bull_put_roll_opens_the_same_structure_at_later_expiries_in_the_window() -> None:
    out = rolls(StructureKind.BULL_PUT_SPREAD)
    assert sorted(c.dte for c in out) == [31, 38, 45]  # window [25, 45], after the 5-DTE expiry
    for c in out:
        assert c.purpose is OrderPurpose.ROLL
        assert c.strategy is StructureKind.BULL_PUT_SPREAD
        assert [leg.position_intent for leg in c.legs] == [
            PositionIntent.SELL_TO_OPEN,
            PositionIntent.BUY_TO_OPEN,
        ]
        assert -0.30 <= c.legs[0].delta <= -0.20
        assert c.net_price_natural < 0
    scores = [c.score for c in out]
    assert scores == sorted(scores, reverse=True)


def test_roll_ignores_the_entry_credit_minimum_but_needs_a_credit() -> None:
    strict = rolls(StructureKind.BULL_PUT_SPREAD, "strategies.bull_put_spread.min_credit_usd=4")
    assert len(strict) == 3
    assert all(c.credit_usd > 0 for c in strict)
    assert all(any(r.rule == "positive_credit" for r in c.reasons) for c in strict)


def test_roll_only_to_strictly_later_expiries() -> None:
    out = rolls(StructureKind.BULL_PUT_SPREAD, dte=38, expiry=expiry_for(38))
    assert [c.dte for c in out] == [45]


def test_roll_respects_the_earnings_blackout() -> None:
    events = (
        MarketEvent(kind=MarketEventKind.EARNINGS, on=TODAY + timedelta(days=40), symbol="XYZ"),
    )
    out = rolls(StructureKind.BULL_PUT_SPREAD, events=events)
    assert sorted(c.dte for c in out) == [31, 38]


def test_roll_candidate_ids_are_tied_to_the_trade() -> None:
    a = {c.dte: c.candidate_id for c in rolls(StructureKind.BULL_PUT_SPREAD, trade_id="t-1")}
    b = {c.dte: c.candidate_id for c in rolls(StructureKind.BULL_PUT_SPREAD, trade_id="t-2")}
    assert a.keys() == b.keys() and all(a[d] != b[d] for d in a)


def test_condor_rolls_only_the_tested_side() -> None:
    put_rolls = rolls(
        StructureKind.IRON_CONDOR,
        spot=94.0,
        short_put=95.0,
        short_call=110.0,
        breached=OptionRight.PUT,
    )
    assert sorted(c.dte for c in put_rolls) == [31, 38, 45]  # window [30, 45]
    for c in put_rolls:
        assert c.strategy is StructureKind.IRON_CONDOR and c.purpose is OrderPurpose.ROLL
        assert [leg.contract.right for leg in c.legs] == [OptionRight.PUT, OptionRight.PUT]
        assert [leg.side for leg in c.legs] == [Side.SELL, Side.BUY]
        short, long_ = c.legs
        assert short.contract.strike - long_.contract.strike == 5
        assert -0.20 <= short.delta <= -0.15
    call_rolls = rolls(StructureKind.IRON_CONDOR, spot=111.0, short_put=95.0, short_call=110.0)
    for c in call_rolls:
        assert [leg.contract.right for leg in c.legs] == [OptionRight.CALL, OptionRight.CALL]
        assert 0.15 <= c.legs[0].delta <= 0.20
        assert c.legs[1].contract.strike - c.legs[0].contract.strike == 5


def test_condor_tested_side_by_delta_when_nothing_is_breached() -> None:
    legs = (
        leg_mark(OptionRight.PUT, 95.0, Side.SELL, -0.15, dte=5),
        leg_mark(OptionRight.CALL, 110.0, Side.SELL, 0.42, dte=5),
    )
    out = rolls(StructureKind.IRON_CONDOR, short_put=95.0, short_call=110.0, legs=legs)
    assert out and all(leg.contract.right is OptionRight.CALL for c in out for leg in c.legs)


def test_csp_roll_is_one_put() -> None:
    out = rolls(StructureKind.CASH_SECURED_PUT, 'strategies.cash_secured_put.symbols=["XYZ"]')
    assert sorted(c.dte for c in out) == [31, 38, 45]
    assert all(len(c.legs) == 1 and c.legs[0].side is Side.SELL for c in out)

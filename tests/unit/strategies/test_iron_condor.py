"""Iron condor: both sides on one expiry, exact listed wings, total credit, max loss, PoP."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from agent.domain import DecisionOutcome, OptionRight, Side, StructureKind
from agent.strategies import strategy_for
from agent.strategies.model import norm_cdf
from tests.unit.strategies.chains import (
    RATE,
    build_chain,
    context_for,
    expiry_for,
    iv_for_delta,
    make_settings,
    years_for,
)

STEP5 = np.arange(70.0, 131.0, 5.0)


def condor_chain(put90: float = -0.18, call110: float = 0.18, dte: int = 38, **changes: object):  # type: ignore[no-untyped-def]
    """5-USD strikes, one expiry; the 90 put and 110 call pinned, every other short candidate
    far outside its band."""
    ivs = {
        (dte, 90.0, False): iv_for_delta(100.0, 90.0, dte, put90, False),
        (dte, 110.0, True): iv_for_delta(100.0, 110.0, dte, call110, True),
        (dte, 95.0, False): iv_for_delta(100.0, 95.0, dte, -0.30, False),
        (dte, 105.0, True): iv_for_delta(100.0, 105.0, dte, 0.30, True),
    }
    params: dict[str, object] = {"dtes": (dte,), "strikes": STEP5, "ivs": ivs}
    params.update(changes)
    return build_chain(**params)


def run(chain, *overrides: str):  # type: ignore[no-untyped-def]
    settings = make_settings(*overrides)
    strategy = strategy_for(StructureKind.IRON_CONDOR, settings)
    enriched, ctx = context_for(chain, settings)
    return strategy.generate(enriched, ctx)


def legs_by(candidate):  # type: ignore[no-untyped-def]
    return {(leg.contract.right, leg.side): float(leg.contract.strike) for leg in candidate.legs}


def test_condor_has_four_legs_on_one_expiry_with_both_wings() -> None:
    candidates, records = run(condor_chain())
    (c,) = candidates
    assert len(c.legs) == 4
    assert {leg.contract.expiry for leg in c.legs} == {expiry_for(38)}
    assert legs_by(c) == {
        (OptionRight.PUT, Side.SELL): 90.0,
        (OptionRight.PUT, Side.BUY): 85.0,
        (OptionRight.CALL, Side.SELL): 110.0,
        (OptionRight.CALL, Side.BUY): 115.0,
    }
    assert len(set(c.symbols)) == 4
    assert c.width == Decimal("5.0")
    total = -c.net_price_natural
    sp, lp, sc, lc = c.legs
    put_credit = Decimal(repr(sp.bid)).quantize(Decimal("0.01"), "ROUND_FLOOR") - Decimal(
        repr(lp.ask)
    ).quantize(Decimal("0.01"), "ROUND_CEILING")
    call_credit = Decimal(repr(sc.bid)).quantize(Decimal("0.01"), "ROUND_FLOOR") - Decimal(
        repr(lc.ask)
    ).quantize(Decimal("0.01"), "ROUND_CEILING")
    assert total == put_credit + call_credit
    assert c.credit_usd == total * 100
    assert c.max_loss_usd == (Decimal(5) - total) * 100 == c.capital_usd
    lower, upper = c.breakevens
    assert lower == pytest.approx(90.0 - float(total))
    assert upper == pytest.approx(110.0 + float(total))
    assert 85.0 < lower < 90.0 and 110.0 < upper < 115.0
    side_rules = {r.rule: r for r in c.reasons}
    assert side_rules["put_side"].value == float(put_credit)
    assert side_rules["call_side"].value == float(call_credit)
    assert f"max loss alone {(Decimal(5) - put_credit) * 100} USD" in side_rules["put_side"].message
    assert records[-1].outcome is DecisionOutcome.ACCEPTED
    # a condor is close to delta-neutral and short vega
    assert abs(c.greeks.delta) < 10 and c.greeks.vega < 0 and c.greeks.theta > 0


def test_condor_pop_is_between_the_breakevens_at_their_own_vols() -> None:
    candidates, _ = run(build_chain(dtes=(38,), iv=0.30))  # 1-USD strikes, flat vol
    (c,) = candidates
    lower, upper = c.breakevens
    T = years_for(38)
    forward = 100.0 * math.exp(RATE * T)

    def above(level: float) -> float:
        vt = 0.30 * math.sqrt(T)
        return norm_cdf((math.log(forward / level) - 0.5 * vt * vt) / vt)

    assert c.pop == pytest.approx(above(lower) - above(upper), abs=1e-6)


@pytest.mark.parametrize(
    ("put90", "call110", "ok"),
    [
        (-0.2001, 0.18, False),
        (-0.1999, 0.18, True),
        (-0.1499, 0.18, False),
        (-0.1501, 0.18, True),
        (-0.18, 0.1499, False),
        (-0.18, 0.1501, True),
        (-0.18, 0.2001, False),
        (-0.18, 0.1999, True),
    ],
)
def test_both_delta_bands_have_inclusive_edges(put90: float, call110: float, ok: bool) -> None:
    candidates, records = run(condor_chain(put90, call110))
    if ok:
        assert len(candidates) == 1
    else:
        assert candidates == []
        rules = {r.rule for rec in records for r in rec.failed_reasons}
        assert rules == {"short_delta_band"}


def test_call_wing_must_be_listed_at_exactly_the_wing_width() -> None:
    candidates, records = run(condor_chain(drop=[(38, 115.0, True)]))
    assert candidates == []  # the listed 120 call (10 wide) is not a substitute
    (reason,) = records[0].failed_reasons
    assert reason.rule == "long_strike_listed"
    assert reason.value == 110.0
    assert "no listed call 5-5 USD above the 110 short" in reason.message


def test_put_wing_must_be_listed_too() -> None:
    candidates, records = run(condor_chain(drop=[(38, 85.0, False)]))
    assert candidates == []
    assert [r.rule for r in records[0].failed_reasons] == ["long_strike_listed"]


def test_sides_are_never_combined_across_expiries() -> None:
    # 31 DTE: only the call side can be built; 38 DTE: only the put side.
    ivs = {
        (38, 90.0, False): iv_for_delta(100.0, 90.0, 38, -0.18, False),
        (38, 110.0, True): iv_for_delta(100.0, 110.0, 38, 0.10, True),
        (38, 105.0, True): iv_for_delta(100.0, 105.0, 38, 0.30, True),
        (38, 95.0, False): iv_for_delta(100.0, 95.0, 38, -0.30, False),
        (31, 90.0, False): iv_for_delta(100.0, 90.0, 31, -0.10, False),
        (31, 95.0, False): iv_for_delta(100.0, 95.0, 31, -0.30, False),
        (31, 110.0, True): iv_for_delta(100.0, 110.0, 31, 0.18, True),
        (31, 105.0, True): iv_for_delta(100.0, 105.0, 31, 0.30, True),
    }
    chain = build_chain(dtes=(31, 38), strikes=STEP5, ivs=ivs)
    candidates, records = run(chain)
    assert candidates == []
    assert [r.metrics["dte"] for r in records] == [38, 31]
    assert all(r.outcome is DecisionOutcome.REJECTED for r in records)


def test_total_credit_minimum() -> None:
    candidates, records = run(condor_chain(), "strategies.iron_condor.min_credit_usd=4.5")
    assert candidates == []
    (reason,) = records[0].failed_reasons
    assert reason.rule == "min_credit"
    assert reason.limit == 4.5
    assert isinstance(reason.value, float) and reason.value < 4.5


def test_wing_width_is_configurable() -> None:
    candidates, _ = run(condor_chain(), "strategies.iron_condor.wing_width_usd=10")
    legs = legs_by(candidates[0])
    assert legs[(OptionRight.PUT, Side.BUY)] == 80.0
    assert legs[(OptionRight.CALL, Side.BUY)] == 120.0
    assert candidates[0].width == Decimal("10.0")

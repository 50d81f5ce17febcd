"""Bull put spread rules pinned on hand-built chains (deltas exact from our kernels)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from agent.domain import (
    DecisionOutcome,
    DecisionStage,
    MarketEvent,
    MarketEventKind,
    OrderPurpose,
    PositionIntent,
    Side,
    StructureKind,
)
from agent.pricing.bsm import bs_price
from agent.strategies import BullPutSpread, strategy_for
from agent.strategies.model import norm_cdf
from tests.unit.strategies.chains import (
    AS_OF,
    RATE,
    TODAY,
    build_chain,
    context_for,
    expiry_for,
    iv_for_delta,
    leg_delta,
    make_settings,
    years_for,
)

STEP5 = np.arange(70.0, 131.0, 5.0)


def band_chain(d90: float, d95: float = -0.3501, **changes: object):  # type: ignore[no-untyped-def]
    """One 35-DTE expiry, 5-USD strikes; the 90 and 95 puts pinned to the given deltas
    (every other put is far outside the [-0.30, -0.20] band)."""
    ivs = {
        (35, 90.0, False): iv_for_delta(100.0, 90.0, 35, d90, False),
        (35, 95.0, False): iv_for_delta(100.0, 95.0, 35, d95, False),
    }
    params: dict[str, object] = {"dtes": (35,), "strikes": STEP5, "ivs": ivs}
    params.update(changes)
    return build_chain(**params)


def run(chain, *overrides: str, **ctx_kw: object):  # type: ignore[no-untyped-def]
    settings = make_settings(*overrides)
    strategy = strategy_for(StructureKind.BULL_PUT_SPREAD, settings)
    enriched, ctx = context_for(chain, settings, **ctx_kw)  # type: ignore[arg-type]
    candidates, records = strategy.generate(enriched, ctx)
    return enriched, candidates, records


def short_strike(candidate) -> float:  # type: ignore[no-untyped-def]
    return float(next(leg for leg in candidate.legs if leg.side is Side.SELL).contract.strike)


def long_strike(candidate) -> float:  # type: ignore[no-untyped-def]
    return float(next(leg for leg in candidate.legs if leg.side is Side.BUY).contract.strike)


def failed_rules(records) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.rule for rec in records for r in rec.failed_reasons}


# --------------------------------------------------------------------------- delta band


def test_short_delta_just_inside_the_band_is_used() -> None:
    enriched, candidates, records = run(band_chain(-0.2001))
    assert len(candidates) == 1
    (candidate,) = candidates
    assert short_strike(candidate) == 90.0
    assert long_strike(candidate) == 85.0
    assert leg_delta(enriched, candidate.legs[0].symbol) == pytest.approx(-0.2001, abs=1e-7)
    assert records[-1].outcome is DecisionOutcome.ACCEPTED
    assert records[-1].candidate_id == candidate.candidate_id


def test_short_delta_just_outside_the_band_is_rejected_with_the_numbers() -> None:
    _, candidates, records = run(band_chain(-0.1999))
    assert candidates == []
    (rec,) = records
    assert rec.stage is DecisionStage.STRATEGY
    assert rec.strategy is StructureKind.BULL_PUT_SPREAD
    assert rec.outcome is DecisionOutcome.REJECTED
    (reason,) = rec.failed_reasons
    assert reason.rule == "short_delta_band"
    assert reason.limit == "[-0.3, -0.2]"
    assert reason.value in (-0.1999, -0.3501)
    assert "no eligible puts with delta in [-0.3, -0.2]" in reason.message


def test_far_edge_of_the_band_is_inclusive_and_beyond_it_is_not() -> None:
    _, inside, _ = run(band_chain(-0.1, d95=-0.2999))
    assert [short_strike(c) for c in inside] == [95.0]
    _, outside, records = run(band_chain(-0.1, d95=-0.3001))
    assert outside == []
    assert failed_rules(records) == {"short_delta_band"}


def test_short_closest_to_the_target_delta_wins() -> None:
    _, candidates, _ = run(band_chain(-0.21, d95=-0.26))
    assert short_strike(candidates[0]) == 95.0
    _, candidates, _ = run(band_chain(-0.24, d95=-0.29))
    assert short_strike(candidates[0]) == 90.0


def test_short_in_band_that_fails_contract_filters_is_not_used() -> None:
    chain = band_chain(-0.25, extra={(35, 90.0, False): {"open_interest": 10.0}})
    _, candidates, records = run(chain)
    assert candidates == []
    (reason,) = records[0].failed_reasons
    assert "1 puts in the band failed the contract filters" in reason.message


# --------------------------------------------------------------------------- DTE window


@pytest.mark.parametrize(
    ("dtes", "expected"),
    [
        ((24, 46), None),
        ((25,), 25),
        ((45,), 45),
        ((24, 25, 46), 25),
        ((31, 38), 38),
        ((33, 37), 33),
    ],
)
def test_dte_window_edges_and_preference(dtes: tuple[int, ...], expected: int | None) -> None:
    # default window [25, 45], target 35; a tie goes to the earlier expiry
    _, candidates, records = run(build_chain(dtes=dtes))
    if expected is None:
        assert candidates == []
        (rec,) = records
        (reason,) = rec.failed_reasons
        assert reason.rule == "dte_window"
        assert reason.value == ",".join(str(d) for d in dtes)
        assert reason.limit == "[25, 45]"
    else:
        assert [c.dte for c in candidates] == [expected]
        assert candidates[0].expiry == expiry_for(expected)


def test_next_preferred_expiry_is_tried_when_the_first_fails() -> None:
    # 38 DTE has no put in the band (all far OTM at a tiny vol); 31 DTE is normal.
    chain = build_chain(dtes=(31, 38), iv=lambda k, dte, c: 0.05 if dte == 38 else 0.30)
    _, candidates, records = run(chain)
    assert [c.dte for c in candidates] == [31]
    assert [r.outcome for r in records] == [DecisionOutcome.REJECTED, DecisionOutcome.ACCEPTED]
    assert records[0].metrics["dte"] == 38


# --------------------------------------------------------------------------- width


def test_width_uses_listed_strikes_only() -> None:
    # 1-USD strikes: the narrowest listed width within [5, 10] is exactly 5.
    _, candidates, _ = run(build_chain(dtes=(35,)))
    (candidate,) = candidates
    assert candidate.width == Decimal("5.0")
    assert short_strike(candidate) - long_strike(candidate) == 5.0


def test_missing_long_strike_falls_back_to_the_next_listed_width() -> None:
    chain = band_chain(-0.25, drop=[(35, 85.0, False)])
    _, candidates, _ = run(chain)
    assert long_strike(candidates[0]) == 80.0
    assert candidates[0].width == Decimal("10.0")


def test_no_listed_long_strike_in_the_width_band_is_a_rejection() -> None:
    chain = band_chain(-0.25, drop=[(35, 85.0, False), (35, 80.0, False)])
    _, candidates, records = run(chain)
    assert candidates == []
    reasons = records[0].failed_reasons
    assert [r.rule for r in reasons] == ["long_strike_listed"]
    assert reasons[0].value == 90.0
    assert reasons[0].limit == "[5, 10]"
    assert "no listed put 5-10 USD below the 90 short" in reasons[0].message


def test_width_band_is_configurable() -> None:
    chain = band_chain(-0.25)
    _, candidates, _ = run(
        chain,
        "strategies.bull_put_spread.width_min_usd=10",
        "strategies.bull_put_spread.width_max_usd=10",
    )
    assert long_strike(candidates[0]) == 80.0


def test_long_wing_needs_a_valid_quote_but_not_liquidity() -> None:
    thin = band_chain(-0.25, extra={(35, 85.0, False): {"open_interest": 0.0, "volume": 0.0}})
    _, candidates, _ = run(thin)
    assert long_strike(candidates[0]) == 85.0

    crossed = band_chain(-0.25, quotes={(35, 85.0, False): (0.60, 0.50)})
    _, candidates, _ = run(crossed)
    assert long_strike(candidates[0]) == 80.0  # skipped the crossed wing

    both = band_chain(
        -0.25, quotes={(35, 85.0, False): (0.60, 0.50), (35, 80.0, False): (0.0, 0.0)}
    )
    _, candidates, records = run(both)
    assert candidates == []
    assert failed_rules(records) == {"long_leg_quote"}
    messages = " ".join(r.message for r in records[0].failed_reasons)
    assert "crossed quote" in messages and "no usable quote" in messages


# --------------------------------------------------------------------------- credit


def cent_quotes(natural_credit: str, *, short_half_spread: float = 0.05) -> dict:  # type: ignore[type-arg]
    """Cent quotes on the 90/85 puts giving exactly ``natural_credit`` (short bid − long ask),
    with the 90 put's mid at the model price of a -0.25 delta put."""
    years = years_for(35)
    iv = iv_for_delta(100.0, 90.0, 35, -0.25, False)
    price = float(bs_price(100.0, 90.0, years, RATE, 0.0, iv, False))
    short_bid = round(price - short_half_spread, 2)
    short_ask = round(price + short_half_spread, 2)
    long_ask = float(Decimal(str(short_bid)) - Decimal(natural_credit))
    return {
        (35, 90.0, False): (short_bid, short_ask),
        (35, 85.0, False): (long_ask - 0.04, long_ask),
    }


def test_minimum_credit_is_met_exactly_at_the_natural_price() -> None:
    chain = band_chain(-0.25, quotes=cent_quotes("0.30"), drop=[(35, 80.0, False)])
    _, candidates, _ = run(chain)
    (candidate,) = candidates
    assert candidate.net_price_natural == Decimal("-0.30")
    assert candidate.credit_usd == Decimal("30.00")
    assert candidate.max_loss_usd == Decimal("470.00")


def test_credit_rule_uses_the_natural_price_not_the_mid() -> None:
    chain = band_chain(-0.25, quotes=cent_quotes("0.29"), drop=[(35, 80.0, False)])
    _, candidates, records = run(chain)
    assert candidates == []
    (reason,) = records[0].failed_reasons
    assert reason.rule == "min_credit"
    assert reason.value == 0.29
    assert reason.limit == 0.30
    # the mid credit would have passed: it is quoted in the reason for the record
    mid_credit = Decimal(reason.message.split("(mid ")[1].rstrip(")"))
    assert mid_credit >= Decimal("0.30")


def test_narrowest_width_meeting_the_credit_is_chosen() -> None:
    chain = band_chain(-0.25, quotes=cent_quotes("0.29"))
    _, candidates, _records = run(chain)
    (candidate,) = candidates
    assert long_strike(candidate) == 80.0  # the 85 wing gave 0.29
    assert candidate.net_price_natural <= Decimal("-0.30")


def test_credit_at_or_above_the_width_is_rejected() -> None:
    # a nonsense quote: a deep 90 put bid above the width plus the wing's ask
    quotes = {(35, 90.0, False): (5.05, 5.15), (35, 85.0, False): (0.00, 0.01)}
    chain = band_chain(-0.25, quotes=quotes, drop=[(35, 80.0, False)])
    _, candidates, records = run(chain)
    assert candidates == []
    (reason,) = records[0].failed_reasons
    assert reason.rule == "credit_below_width"
    assert (reason.value, reason.limit) == (5.04, 5.0)


# --------------------------------------------------------------------------- earnings


def earnings(days: int) -> tuple[MarketEvent, ...]:
    return (
        MarketEvent(kind=MarketEventKind.EARNINGS, on=TODAY + timedelta(days=days), symbol="XYZ"),
    )


def test_earnings_inside_the_trade_life_blocks_that_expiry_only() -> None:
    chain = build_chain(dtes=(31, 38))
    _, candidates, records = run(chain, events=earnings(35))
    assert [c.dte for c in candidates] == [31]
    (blocked,) = [r for r in records if r.outcome is DecisionOutcome.REJECTED]
    (reason,) = blocked.failed_reasons
    assert reason.rule == "earnings_blackout"
    assert reason.value == (TODAY + timedelta(days=35)).isoformat()
    assert reason.limit == expiry_for(38).isoformat()


def test_earnings_on_the_expiry_day_counts_and_after_it_does_not() -> None:
    chain = build_chain(dtes=(38,))
    assert run(chain, events=earnings(38))[1] == []
    assert len(run(chain, events=earnings(39))[1]) == 1
    assert len(run(chain, events=earnings(-1))[1]) == 1


def test_other_symbols_earnings_are_ignored_and_the_blackout_can_be_disabled() -> None:
    chain = build_chain(dtes=(38,))
    other = (
        MarketEvent(kind=MarketEventKind.EARNINGS, on=TODAY + timedelta(days=5), symbol="ABC"),
    )
    assert len(run(chain, events=other)[1]) == 1
    assert len(run(chain, "universe.earnings_blackout=false", events=earnings(5))[1]) == 1


# --------------------------------------------------------------------------- the candidate


def test_candidate_fields() -> None:
    _enriched, candidates, _ = run(band_chain(-0.25))
    (c,) = candidates
    short, long_ = c.legs
    assert (short.side, short.position_intent) == (Side.SELL, PositionIntent.SELL_TO_OPEN)
    assert (long_.side, long_.position_intent) == (Side.BUY, PositionIntent.BUY_TO_OPEN)
    assert short.symbol == f"XYZ{expiry_for(35):%y%m%d}P00090000"
    assert long_.symbol == f"XYZ{expiry_for(35):%y%m%d}P00085000"
    natural = Decimal(str(round(long_.ask, 2))) - Decimal(str(round(short.bid, 2)))
    assert abs(c.net_price_natural - natural) <= Decimal("0.01")
    assert c.net_price_mid < c.net_price_natural < 0
    credit = -c.net_price_natural
    assert c.credit_usd == credit * 100 == c.max_profit_usd
    assert c.max_loss_usd == (Decimal(5) - credit) * 100 == c.capital_usd
    assert c.breakevens == (pytest.approx(90.0 - float(credit)),)
    assert c.return_on_risk == pytest.approx(float(c.credit_usd / c.max_loss_usd))
    assert c.purpose is OrderPurpose.OPEN
    assert c.sector == "technology" and c.iv_rank == 50.0
    assert c.spot == 100.0 and c.as_of == AS_OF and c.dte == 35
    # greeks per unit: short a -0.25 put, long a smaller one -> long delta, short vega
    assert c.greeks.delta == pytest.approx((-short.delta + long_.delta) * 100)
    assert c.greeks.delta > 0 and c.greeks.theta > 0 and c.greeks.vega < 0
    assert c.greeks.vega == pytest.approx(-short.vega + long_.vega)  # per vol point ×100
    assert c.liquidity_score == min(short.liquidity_score, long_.liquidity_score)
    assert {r.rule for r in c.reasons} >= {
        "dte_window",
        "earnings_blackout",
        "short_delta_band",
        "width",
        "min_credit",
        "expected_value",
    }
    assert all(r.passed for r in c.reasons)


def test_probability_of_profit_uses_the_iv_at_the_breakeven() -> None:
    _enriched, candidates, _ = run(build_chain(dtes=(35,)))  # flat 30 % vol
    (c,) = candidates
    be = c.breakevens[0]
    T = years_for(35)
    forward = 100.0 * math.exp(RATE * T)
    d2 = (math.log(forward / be) - 0.5 * 0.09 * T) / (0.30 * math.sqrt(T))
    assert c.pop == pytest.approx(norm_cdf(d2), abs=1e-6)


def test_expected_value_uses_realized_vol_and_falls_back_to_atm_iv() -> None:
    chain = build_chain(dtes=(35,))
    calm = run(chain, realized_vol=0.15)[1][0]
    wild = run(chain, realized_vol=0.45)[1][0]
    assert calm.expected_value_usd > 0 > wild.expected_value_usd
    fallback = run(chain, realized_vol=float("nan"))[1][0]
    (ev_reason,) = [r for r in fallback.reasons if r.rule == "expected_value"]
    assert "atm_iv" in ev_reason.message
    # at the market's own vol the natural price makes the trade slightly negative EV
    assert fallback.expected_value_usd < calm.expected_value_usd


def test_candidate_id_is_deterministic() -> None:
    chain = build_chain(dtes=(35,))
    first = run(chain)[1][0]
    again = run(chain)[1][0]
    assert first.candidate_id == again.candidate_id
    later = build_chain(dtes=(35,), as_of=AS_OF + timedelta(minutes=5))
    settings = make_settings()
    from agent.pricing.chain import enrich_chain
    from agent.signals import strategy_context

    enriched = enrich_chain(later, 100.0, RATE, 0.0, AS_OF + timedelta(minutes=5))
    ctx = strategy_context(enriched, settings, scan_id="scan-2")
    moved = BullPutSpread(settings.strategies.bull_put_spread).generate(enriched, ctx)[0][0]
    assert moved.symbols == first.symbols
    assert moved.candidate_id != first.candidate_id


def test_disabled_strategy_is_not_built_but_still_resolvable() -> None:
    from agent.strategies import build_strategies

    settings = make_settings("strategies.bull_put_spread.enabled=false")
    kinds = [s.kind for s in build_strategies(settings)]
    assert kinds == [StructureKind.CASH_SECURED_PUT, StructureKind.IRON_CONDOR]
    assert (
        strategy_for(StructureKind.BULL_PUT_SPREAD, settings).kind is StructureKind.BULL_PUT_SPREAD
    )
    with pytest.raises(ValueError, match="not a strategy"):
        strategy_for(StructureKind.STOCK, settings)


def test_context_masks_must_match_the_chain() -> None:
    from agent.strategies import make_context

    enriched, ctx = context_for(build_chain(dtes=(35,)))
    with pytest.raises(ValueError, match="masks"):
        make_context(enriched, scan_id="s", eligible=ctx.eligible[:-1], quotable=ctx.quotable)
    assert replace(ctx, purpose=OrderPurpose.ROLL).today == TODAY


def test_band_limits_themselves_are_inside() -> None:
    # Deltas exactly on the limits (set directly: no vol gives a float delta of exactly -0.2).
    from agent.strategies.common import short_rows_in_band

    enriched, ctx = context_for(band_chain(-0.25))
    (slice_,) = ctx.index.slices
    rows = slice_.puts
    for limit in (-0.30, -0.20):
        delta = np.full(len(enriched), -0.5)
        delta[rows[slice_.put_strikes == 90.0]] = limit
        pinned = replace(enriched, delta=delta)
        chosen, reason = short_rows_in_band(
            pinned, ctx, slice_, is_call=False, delta_min=-0.30, delta_max=-0.20, delta_target=-0.25
        )
        assert reason.passed and [float(pinned.chain.strike[i]) for i in chosen] == [90.0]

"""Cash-secured put: configured symbols only, premium at the bid, capital and breakeven."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from agent.domain import DecisionOutcome, PositionIntent, Side, StructureKind
from agent.pricing.bsm import bs_price
from agent.strategies import strategy_for
from tests.unit.strategies.chains import (
    RATE,
    build_chain,
    context_for,
    iv_for_delta,
    make_settings,
    years_for,
)


def run(chain, *overrides: str):  # type: ignore[no-untyped-def]
    settings = make_settings('strategies.cash_secured_put.symbols=["XYZ", "KO"]', *overrides)
    strategy = strategy_for(StructureKind.CASH_SECURED_PUT, settings)
    enriched, ctx = context_for(chain, settings)
    return strategy.generate(enriched, ctx)


def test_only_on_configured_symbols() -> None:
    settings = make_settings()  # default list: KO, PFE, BAC, INTC, XLF, IWM
    strategy = strategy_for(StructureKind.CASH_SECURED_PUT, settings)
    enriched, ctx = context_for(build_chain(dtes=(35,)), settings)
    candidates, records = strategy.generate(enriched, ctx)
    assert candidates == []
    (rec,) = records
    assert rec.outcome is DecisionOutcome.REJECTED
    (reason,) = rec.failed_reasons
    assert reason.rule == "csp_symbol_allowed"
    assert reason.value == "XYZ"
    assert "KO" in str(reason.limit)

    ko = build_chain(dtes=(35,), underlying="KO")
    enriched, ctx = context_for(ko, settings)
    candidates, _ = strategy.generate(enriched, ctx)
    assert len(candidates) == 1


def test_candidate_numbers() -> None:
    candidates, records = run(build_chain(dtes=(35,)))
    (c,) = candidates
    (leg,) = c.legs
    assert (leg.side, leg.position_intent) == (Side.SELL, PositionIntent.SELL_TO_OPEN)
    assert -0.30 <= leg.delta <= -0.20
    premium = Decimal(repr(leg.bid)).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
    assert c.net_price_natural == -premium
    assert c.credit_usd == premium * 100
    strike = leg.contract.strike
    assert c.capital_usd == (strike - premium) * 100 == c.max_loss_usd
    assert c.width == 0
    assert c.breakevens == (pytest.approx(float(strike - premium)),)
    assert 0.5 < c.pop < 1.0
    assert records[-1].candidate_id == c.candidate_id


@pytest.mark.parametrize(("premium", "ok"), [("1.30", True), ("1.29", False)])
def test_minimum_premium_at_the_bid(premium: str, ok: bool) -> None:
    # the 95 put pinned at -0.25 delta (model price 1.36), quoted with bid = premium
    iv = iv_for_delta(100.0, 95.0, 35, -0.25, False)
    price = float(bs_price(100.0, 95.0, years_for(35), RATE, 0.0, iv, False))
    bid = float(premium)
    ask = round(bid + 0.12, 2)  # mid within 2 cents of the model price
    assert abs((bid + ask) / 2 - price) < 0.02
    chain = build_chain(
        dtes=(35,),
        strikes=np.arange(70.0, 131.0, 5.0),
        ivs={(35, 95.0, False): iv},
        quotes={(35, 95.0, False): (bid, ask)},
    )
    candidates, records = run(
        chain,
        "strategies.cash_secured_put.min_premium_usd=1.30",
    )
    if ok:
        assert candidates[0].net_price_natural == Decimal("-1.30")
    else:
        assert candidates == []
        (reason,) = records[0].failed_reasons
        assert reason.rule == "min_premium"
        assert (reason.value, reason.limit) == (1.29, 1.3)

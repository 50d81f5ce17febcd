"""Properties of every candidate the strategies build, over random (seeded) chains.

No candidate violates a configured band; max loss > 0; credit < width; breakevens lie
between the strikes; legs are unique, listed in the chain, shorts pass every contract
filter and wings have a valid quote.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from agent.calendar import ET
from agent.config import AgentSettings
from agent.domain import (
    Candidate,
    DecisionOutcome,
    DecisionStage,
    OptionChain,
    OptionRight,
    Side,
    StructureKind,
    format_occ,
)
from agent.pricing.bsm import bs_price
from agent.pricing.chain import enrich_chain, time_to_expiry_years
from agent.signals import scan_symbol, screen_contracts
from tests.unit.strategies.chains import AS_OF, RATE, make_settings, scan_input, snapshot

TOL = 1e-6


@st.composite
def random_chains(draw: st.DrawFn) -> tuple[OptionChain, float]:
    spot = draw(st.floats(25.0, 450.0))
    step = next(s for s in (0.5, 1.0, 2.5, 5.0, 10.0) if 0.7 * spot / s <= 120)
    lo = max(step, np.floor(0.65 * spot / step) * step)
    strikes = np.arange(lo, 1.35 * spot, step)
    dtes = draw(st.lists(st.integers(1, 60), min_size=1, max_size=6, unique=True))
    atm_vol = draw(st.floats(0.10, 0.90))
    skew = draw(st.floats(0.0, 0.6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    today = AS_OF.astimezone(ET).date()
    k, d, c = np.meshgrid(strikes, np.array(dtes), np.array([False, True]), indexing="ij")
    k, d, c = k.ravel(), d.ravel(), c.ravel()
    keep = rng.random(len(k)) >= rng.uniform(0.0, 0.3)  # unlisted strikes
    k, d, c = k[keep], d[keep], c[keep]
    expiries = [today + timedelta(days=int(x)) for x in d]
    years = np.array([time_to_expiry_years(AS_OF, e) for e in expiries])
    vol = np.maximum(atm_vol * (1.0 + skew * (spot / k - 1.0)), 0.05)
    price = bs_price(spot, k, years, RATE, 0.0, vol, c)
    half = rng.uniform(0.002, rng.choice([0.03, 0.08]), len(k))
    bid = np.round(price * (1 - half), 2)
    ask = np.maximum(np.round(price * (1 + half), 2), bid + 0.01)
    bad = rng.random(len(k)) < 0.03  # a few crossed quotes
    bid[bad], ask[bad] = ask[bad] + 0.05, bid[bad]
    symbols = [
        format_occ("XYZ", e, OptionRight.CALL if call else OptionRight.PUT, Decimal(str(strike)))
        for e, call, strike in zip(expiries, c, k, strict=True)
    ]
    chain = OptionChain.from_columns(
        underlying="XYZ",
        as_of=AS_OF,
        symbol=symbols,
        expiry=np.array(expiries, dtype="datetime64[D]"),
        strike=k,
        is_call=c,
        bid=bid,
        ask=ask,
        volume=rng.integers(0, 2000, len(k)).astype(float),
        open_interest=rng.integers(0, 5000, len(k)).astype(float),
        quote_time_s=AS_OF.timestamp() - rng.uniform(0, 400, len(k)),
    )
    return chain, spot


SETTINGS_POOL = [
    make_settings(
        'strategies.cash_secured_put.symbols=["XYZ"]',
        f"strategies.bull_put_spread.min_credit_usd={credit}",
        f"strategies.iron_condor.min_credit_usd={credit}",
        f"strategies.iron_condor.wing_width_usd={wing}",
        f"strategies.bull_put_spread.width_max_usd={width}",
        "strategies.max_candidates_per_symbol=3",
        "universe.min_option_volume=10",
        "universe.min_iv_rank=0",
    )
    for credit, wing, width in [(0.05, 1, 5), (0.3, 2.5, 10), (1.0, 5, 20), (0.1, 10, 10)]
]


def check_candidate(c: Candidate, chain: OptionChain, settings: AgentSettings, spot: float) -> None:
    enriched = enrich_chain(chain, spot, RATE, 0.0, AS_OF)
    screen = screen_contracts(enriched, settings.universe)
    row_of = {str(s): i for i, s in enumerate(chain.symbol)}
    symbols = [leg.symbol for leg in c.legs]
    assert len(set(symbols)) == len(symbols)
    assert all(s in row_of for s in symbols)
    assert {leg.contract.expiry for leg in c.legs} == {c.expiry}
    for leg in c.legs:
        i = row_of[leg.symbol]
        assert leg.delta == float(enriched.delta[i])
        if leg.side is Side.SELL:
            assert screen.eligible[i]
        else:
            assert screen.quotable[i]
    assert c.net_price_mid <= c.net_price_natural < 0
    assert c.credit_usd == -c.net_price_natural * 100 > 0
    assert c.max_loss_usd > 0
    assert 0.0 <= c.pop <= 1.0
    shorts = {leg.contract.right: leg for leg in c.legs if leg.side is Side.SELL}
    longs = {leg.contract.right: leg for leg in c.legs if leg.side is Side.BUY}
    credit = -c.net_price_natural
    s = settings.strategies
    if c.strategy is StructureKind.BULL_PUT_SPREAD:
        p = s.bull_put_spread
        assert p.dte_min <= c.dte <= p.dte_max
        assert p.short_delta_min <= shorts[OptionRight.PUT].delta <= p.short_delta_max
        width = shorts[OptionRight.PUT].contract.strike - longs[OptionRight.PUT].contract.strike
        assert p.width_min_usd - TOL <= float(width) <= p.width_max_usd + TOL
        assert width == c.width
        assert credit >= Decimal(str(p.min_credit_usd))
        assert credit < width
        assert c.max_loss_usd == (width - credit) * 100
        (be,) = c.breakevens
        assert (
            float(longs[OptionRight.PUT].contract.strike)
            < be
            < float(shorts[OptionRight.PUT].contract.strike)
        )
    elif c.strategy is StructureKind.CASH_SECURED_PUT:
        p2 = s.cash_secured_put
        assert c.underlying in p2.symbols
        assert p2.dte_min <= c.dte <= p2.dte_max
        (leg,) = c.legs
        assert p2.short_delta_min <= leg.delta <= p2.short_delta_max
        assert credit >= Decimal(str(p2.min_premium_usd))
        assert c.capital_usd == (leg.contract.strike - credit) * 100 == c.max_loss_usd
        (be,) = c.breakevens
        assert 0 < be < float(leg.contract.strike)
    else:
        p3 = s.iron_condor
        assert c.strategy is StructureKind.IRON_CONDOR
        assert p3.dte_min <= c.dte <= p3.dte_max
        assert len(c.legs) == 4
        sp, sc = shorts[OptionRight.PUT], shorts[OptionRight.CALL]
        lp, lc = longs[OptionRight.PUT], longs[OptionRight.CALL]
        assert p3.put_delta_min <= sp.delta <= p3.put_delta_max
        assert p3.call_delta_min <= sc.delta <= p3.call_delta_max
        wing = Decimal(str(p3.wing_width_usd))
        assert sp.contract.strike - lp.contract.strike == wing
        assert lc.contract.strike - sc.contract.strike == wing
        assert credit >= Decimal(str(p3.min_credit_usd))
        assert credit < c.width
        lower, upper = c.breakevens
        assert float(lp.contract.strike) < lower < float(sp.contract.strike)
        assert float(sc.contract.strike) < upper < float(lc.contract.strike)


@settings(max_examples=120)
@given(random_chains(), st.sampled_from(range(len(SETTINGS_POOL))), st.floats(0.05, 0.8))
def test_every_candidate_respects_every_rule(
    chain_spot: tuple[OptionChain, float], which: int, realized_vol: float
) -> None:
    chain, spot = chain_spot
    settings = SETTINGS_POOL[which]
    inp = scan_input(
        chain,
        underlying=snapshot("XYZ", price=spot, spread=0.01 * spot / 100),
        realized_vol=realized_vol,
    )
    scan = scan_symbol(inp, settings)
    assert len(scan.candidates) <= settings.strategies.max_candidates_per_symbol
    accepted = {
        d.candidate_id
        for d in scan.decisions
        if d.stage is DecisionStage.STRATEGY and d.outcome is DecisionOutcome.ACCEPTED
    }
    for c in scan.candidates:
        assert c.candidate_id in accepted
        check_candidate(c, chain, settings, spot)
        event(c.strategy.value)
    scores = [c.score for c in scan.candidates]
    assert scores == sorted(scores, reverse=True)

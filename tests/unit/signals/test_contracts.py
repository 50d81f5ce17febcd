"""Contract filters: per-rule counts, short-leg eligibility and long-wing quotability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.domain import DecisionOutcome, DecisionStage
from agent.signals import scan_symbol, screen_contracts
from tests.unit.strategies.chains import AS_OF, build_chain, enrich, make_settings, scan_input

U = make_settings().universe
STALE = AS_OF.timestamp() - 301.0

# One broken contract per rule, all on the 38-DTE expiry (puts).
BROKEN = {
    "quote_present": {"quotes": (math.nan, 1.0)},
    "quote_not_crossed": {"quotes": (1.10, 1.00)},
    "bid_present": {"quotes": (0.0, 0.05)},
    "iv_available": {"quotes": (0.01, 0.02)},  # a deep ITM put below intrinsic value
    "quote_age": {"extra": {"quote_time_s": STALE}},
    "spread_pct_of_mid": {"quotes": (1.00, 1.25)},
    "open_interest": {"extra": {"open_interest": 99.0}},
    "option_volume": {"extra": {"volume": math.nan}},
}
STRIKES = {
    "quote_present": 90.0,
    "quote_not_crossed": 91.0,
    "bid_present": 70.0,
    "iv_available": 130.0,
    "quote_age": 92.0,
    "spread_pct_of_mid": 93.0,
    "open_interest": 94.0,
    "option_volume": 96.0,
}


def broken_chain():  # type: ignore[no-untyped-def]
    quotes, extra = {}, {}
    for rule, change in BROKEN.items():
        key = (38, STRIKES[rule], False)
        if "quotes" in change:
            quotes[key] = change["quotes"]
        if "extra" in change:
            extra[key] = change["extra"]
    return build_chain(dtes=(38,), quotes=quotes, extra=extra)


def row(chain, strike: float) -> int:  # type: ignore[no-untyped-def]
    (i,) = np.flatnonzero((chain.strike == strike) & ~chain.is_call)
    return int(i)


def test_each_rule_counts_its_contract() -> None:
    chain = broken_chain()
    screen = screen_contracts(enrich(chain), U)
    assert screen.total == len(chain)
    for rule, strike in STRIKES.items():
        assert screen.failed[rule] >= 1, rule
        assert not screen.eligible[row(chain, strike)], rule
    # a no-quote contract has no IV either: a contract may fail several rules
    assert screen.failed["iv_available"] >= 2
    by_rule = {r.rule: r for r in screen.reasons}
    assert by_rule["open_interest"].limit == 100
    assert by_rule["spread_pct_of_mid"].limit == 10.0
    assert by_rule["quote_age"].limit == 300.0
    assert by_rule["open_interest"].value == screen.failed["open_interest"]
    assert "of 162 contracts" in by_rule["open_interest"].message
    assert screen.eligible_count == len(chain) - len(STRIKES)


def test_wings_need_only_a_valid_fresh_quote_with_iv() -> None:
    chain = broken_chain()
    screen = screen_contracts(enrich(chain), U)
    quotable = {rule: bool(screen.quotable[row(chain, k)]) for rule, k in STRIKES.items()}
    assert quotable == {
        "quote_present": False,
        "quote_not_crossed": False,
        "bid_present": True,
        "iv_available": False,
        "quote_age": False,
        "spread_pct_of_mid": True,
        "open_interest": True,
        "option_volume": True,
    }


@pytest.mark.parametrize(("oi", "ok"), [(100.0, True), (99.0, False), (math.nan, False)])
def test_open_interest_edge(oi: float, ok: bool) -> None:
    chain = build_chain(dtes=(38,), extra={(38, 95.0, False): {"open_interest": oi}})
    screen = screen_contracts(enrich(chain), U)
    assert bool(screen.eligible[row(chain, 95.0)]) is ok


def test_spread_edge_is_inclusive() -> None:
    # bid 0.95 ask 1.05: exactly 10 % of the 1.00 mid
    chain = build_chain(dtes=(38,), quotes={(38, 93.0, False): (0.95, 1.05)})
    screen = screen_contracts(enrich(chain), U)
    assert screen.eligible[row(chain, 93.0)]


def test_a_zero_limit_disables_the_rule_even_for_unknown_values() -> None:
    settings = make_settings("universe.min_option_open_interest=0", "universe.min_option_volume=0")
    chain = build_chain(dtes=(38,), open_interest=math.nan, volume=math.nan)
    screen = screen_contracts(enrich(chain), settings.universe)
    assert screen.failed["open_interest"] == screen.failed["option_volume"] == 0
    assert screen.eligible.all()


def test_contract_record_in_the_scan() -> None:
    scan = scan_symbol(scan_input(broken_chain()), make_settings())
    (rec,) = [d for d in scan.decisions if d.stage is DecisionStage.CONTRACT]
    assert rec.outcome is DecisionOutcome.ACCEPTED
    assert rec.metrics["contracts"] == 162
    assert rec.metrics["eligible"] == 162 - len(STRIKES)
    assert {r.rule for r in rec.failed_reasons} == set(STRIKES)


def test_no_eligible_contract_stops_the_scan_with_a_rejection() -> None:
    chain = build_chain(dtes=(38,), open_interest=5.0)
    scan = scan_symbol(scan_input(chain), make_settings())
    assert scan.candidates == ()
    stages = [(d.stage, d.outcome) for d in scan.decisions]
    assert stages == [
        (DecisionStage.UNIVERSE, DecisionOutcome.ACCEPTED),
        (DecisionStage.CONTRACT, DecisionOutcome.REJECTED),
    ]

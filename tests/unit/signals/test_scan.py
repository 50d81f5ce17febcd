"""``scan_symbol`` end to end: stages, records, per-symbol cap, bad data, explanations."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from agent.domain import (
    DecisionOutcome,
    DecisionStage,
    MarketEvent,
    MarketEventKind,
    OptionChain,
    StructureKind,
)
from agent.errors import DataError
from agent.signals import EXPLAIN_COLUMNS, data_rejection, explain, scan_symbol
from tests.unit.strategies.chains import (
    AS_OF,
    TODAY,
    build_chain,
    make_settings,
    scan_input,
    snapshot,
)

CSP_XYZ = 'strategies.cash_secured_put.symbols=["XYZ"]'


def test_a_full_scan_records_every_stage() -> None:
    scan = scan_symbol(scan_input(), make_settings(CSP_XYZ))
    assert scan.underlying == "XYZ" and scan.scan_id == "scan-1" and scan.as_of == AS_OF
    assert scan.contracts == len(scan_input().chain)
    assert scan.atm_iv == pytest.approx(0.30, abs=1e-3)
    assert scan.iv_rank == pytest.approx(50.0, abs=1.0)
    stages = [(d.stage, d.strategy, d.outcome) for d in scan.decisions]
    assert stages[:2] == [
        (DecisionStage.UNIVERSE, None, DecisionOutcome.ACCEPTED),
        (DecisionStage.CONTRACT, None, DecisionOutcome.ACCEPTED),
    ]
    built = {
        d.strategy for d in scan.decisions if d.stage is DecisionStage.STRATEGY and d.candidate_id
    }
    assert built == {
        StructureKind.BULL_PUT_SPREAD,
        StructureKind.CASH_SECURED_PUT,
        StructureKind.IRON_CONDOR,
    }
    # three candidates, the per-symbol cap of two keeps the best two
    assert len(scan.candidates) == 2
    assert scan.candidates[0].score >= scan.candidates[1].score
    (cut,) = [d for d in scan.decisions if d.stage is DecisionStage.RANKING]
    assert cut.outcome is DecisionOutcome.REJECTED
    assert cut.candidate_id not in {c.candidate_id for c in scan.candidates}
    (why,) = cut.failed_reasons
    assert (why.rule, why.value, why.limit) == ("symbol_rank", 3, 2)
    assert all(d.scan_id == "scan-1" and d.decided_at == AS_OF for d in scan.decisions)
    assert all(c.scan_id == "scan-1" for c in scan.candidates)
    assert len({d.decision_id for d in scan.decisions}) == len(scan.decisions)


def test_per_symbol_cap_is_configurable() -> None:
    scan = scan_symbol(
        scan_input(), make_settings(CSP_XYZ, "strategies.max_candidates_per_symbol=1")
    )
    assert len(scan.candidates) == 1
    cut = [d for d in scan.decisions if d.stage is DecisionStage.RANKING]
    assert [d.failed_reasons[0].value for d in cut] == [2, 3]


def test_scans_are_deterministic() -> None:
    settings = make_settings(CSP_XYZ)
    a = scan_symbol(scan_input(), settings)
    b = scan_symbol(scan_input(), settings)
    assert [d.decision_id for d in a.decisions] == [d.decision_id for d in b.decisions]
    assert a.candidates == b.candidates


def test_disabled_strategies_produce_nothing() -> None:
    settings = make_settings(
        "strategies.bull_put_spread.enabled=false",
        "strategies.iron_condor.enabled=false",
        "strategies.cash_secured_put.enabled=false",
    )
    scan = scan_symbol(scan_input(), settings)
    assert scan.candidates == ()
    assert [d.stage for d in scan.decisions] == [DecisionStage.UNIVERSE, DecisionStage.CONTRACT]


def test_earnings_block_every_strategy_per_expiry() -> None:
    events = (
        MarketEvent(kind=MarketEventKind.EARNINGS, on=TODAY + timedelta(days=2), symbol="XYZ"),
    )
    scan = scan_symbol(scan_input(events=events), make_settings(CSP_XYZ))
    assert scan.candidates == ()
    strategy_records = [d for d in scan.decisions if d.stage is DecisionStage.STRATEGY]
    assert strategy_records and all(
        {r.rule for r in d.failed_reasons} == {"earnings_blackout"} for d in strategy_records
    )


# --------------------------------------------------------------------------- bad data


def test_unusable_spot_is_a_universe_rejection_not_an_exception() -> None:
    bad = replace(snapshot(), price=math.nan, bid=math.nan, ask=math.nan)
    scan = scan_symbol(scan_input(underlying=bad), make_settings())
    assert scan.candidates == ()
    (rec,) = scan.decisions
    assert "price_band" in {r.rule for r in rec.failed_reasons}
    assert math.isnan(scan.atm_iv)


def test_spot_falls_back_to_the_quote_mid() -> None:
    no_last = replace(snapshot(), price=math.nan)
    scan = scan_symbol(scan_input(underlying=no_last), make_settings())
    assert scan.candidates
    assert scan.decisions[0].metrics["spot"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda inp: replace(inp, rate=math.nan), id="nan-rate"),
        pytest.param(lambda inp: replace(inp, underlying=snapshot("ABC")), id="wrong-chain"),
    ],
)
def test_bad_inputs_give_a_rejection_record(mutate) -> None:  # type: ignore[no-untyped-def]
    scan = scan_symbol(mutate(scan_input()), make_settings())
    assert scan.candidates == ()
    (rec,) = scan.decisions
    assert rec.stage is DecisionStage.UNIVERSE and rec.outcome is DecisionOutcome.REJECTED
    (reason,) = rec.failed_reasons
    assert reason.rule == "scan_data" and "DataError" in reason.message


def test_a_chain_of_garbage_quotes_is_recorded_and_survives() -> None:
    rng = np.random.default_rng(7)
    chain = build_chain(dtes=(31, 38))
    n = len(chain)
    garbage = OptionChain.from_columns(
        underlying="XYZ",
        as_of=AS_OF,
        symbol=chain.symbol,
        expiry=chain.expiry,
        strike=chain.strike,
        is_call=chain.is_call,
        bid=rng.choice([math.nan, -1.0, 0.0, 5.0, math.inf], n),
        ask=rng.choice([math.nan, 0.0, 1.0, 3.0, math.inf], n),
        volume=rng.choice([math.nan, 1e9, -5.0], n),
        open_interest=rng.choice([math.nan, 1e9, -5.0], n),
        quote_time_s=rng.choice([math.nan, AS_OF.timestamp(), 0.0], n),
    )
    scan = scan_symbol(scan_input(garbage), make_settings("universe.iv_rank_unknown=allow"))
    assert scan.decisions  # recorded, whatever it concluded
    for c in scan.candidates:
        assert c.max_loss_usd > 0


def test_data_rejection() -> None:
    scan = data_rejection(
        "NVDA", "scan-9", AS_OF, DataError("no snapshot from the market data source")
    )
    assert (scan.underlying, scan.scan_id, scan.as_of, scan.contracts) == (
        "NVDA",
        "scan-9",
        AS_OF,
        0,
    )
    assert scan.candidates == () and scan.iv_rank is None and math.isnan(scan.atm_iv)
    (rec,) = scan.decisions
    assert rec.stage is DecisionStage.UNIVERSE and rec.outcome is DecisionOutcome.REJECTED
    (reason,) = rec.reasons
    assert reason.rule == "market_data" and not reason.passed
    assert reason.message == "DataError: no snapshot from the market data source"
    assert (
        data_rejection("NVDA", "scan-9", AS_OF, "timeout").decisions[0].reasons[0].message
        == "timeout"
    )


# --------------------------------------------------------------------------- explain


def test_explain_rows_answer_why_not() -> None:
    inp = scan_input(vol_index=41.5)
    rows = explain(scan_symbol(inp, make_settings()).decisions)
    assert EXPLAIN_COLUMNS == ("stage", "strategy", "outcome", "detail")
    (row,) = rows
    assert row[:3] == ("universe", "-", "rejected")
    assert row[3] == "vol_index: 41.5 vs 35 (volatility index 41.50)"


def test_explain_lists_all_stages_in_pipeline_order() -> None:
    scan = scan_symbol(scan_input(), make_settings())  # no CSP on XYZ
    rows = explain(list(reversed(scan.decisions)))
    assert [r[0] for r in rows] == ["universe", "contract", "strategy", "strategy", "strategy"]
    by_strategy = {r[1]: r for r in rows if r[0] == "strategy"}
    csp = by_strategy["cash_secured_put"]
    assert csp[2] == "rejected" and csp[3].startswith("csp_symbol_allowed: XYZ vs ")
    accepted = by_strategy["bull_put_spread"]
    assert (
        accepted[2] == "accepted" and accepted[3].startswith("c-") and "credit_usd=" in accepted[3]
    )

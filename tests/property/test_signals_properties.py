"""Properties of the scan over hostile inputs: it never raises, every record is well formed,
explanations always render, and cycle ranking keeps the best M."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.domain import DecisionOutcome, OptionChain, SymbolScan
from agent.signals import explain, rank_candidates, scan_symbol
from tests.unit.strategies.chains import AS_OF, build_chain, make_settings, scan_input, snapshot

SETTINGS = make_settings(
    'strategies.cash_secured_put.symbols=["XYZ"]',
    "universe.iv_rank_unknown=allow",
    "strategies.max_candidates_per_symbol=3",
)
BASE = build_chain(dtes=(10, 31, 38, 45), strikes=np.arange(70.0, 131.0, 2.5))
NASTY = [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-300, 1e300]


@st.composite
def hostile_chains(draw: st.DrawFn) -> OptionChain:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    share = draw(st.floats(0.0, 1.0))
    columns = {}
    for name in ("bid", "ask", "volume", "open_interest", "quote_time_s"):
        values = getattr(BASE, name).copy()
        hit = rng.random(len(values)) < share
        values[hit] = rng.choice(NASTY, int(hit.sum()))
        columns[name] = values
    return OptionChain.from_columns(
        underlying="XYZ",
        as_of=AS_OF,
        symbol=BASE.symbol,
        expiry=BASE.expiry,
        strike=BASE.strike,
        is_call=BASE.is_call,
        **columns,
    )


@settings(max_examples=80)
@given(
    hostile_chains(),
    st.sampled_from([100.0, math.nan, 0.0, -5.0, 1e9]),
    st.sampled_from([18.0, math.nan, 99.0]),
    st.sampled_from([0.22, math.nan, 0.0]),
    st.sampled_from([(), (0.3,) * 5, (math.nan,) * 30, tuple(np.linspace(0.2, 0.4, 60))]),
)
def test_scan_never_raises_and_records_are_well_formed(
    chain: OptionChain,
    price: float,
    vol_index: float,
    realized_vol: float,
    history: tuple[float, ...],
) -> None:
    inp = scan_input(
        chain,
        underlying=replace(snapshot(), price=price),
        vol_index=vol_index,
        realized_vol=realized_vol,
        iv_history=history,
    )
    scan = scan_symbol(inp, SETTINGS)
    assert scan.decisions
    assert len({d.decision_id for d in scan.decisions}) == len(scan.decisions)
    for d in scan.decisions:
        assert d.reasons
        if d.outcome is DecisionOutcome.REJECTED:
            assert d.failed_reasons
    rows = explain(scan.decisions)
    assert len(rows) == len(scan.decisions)
    assert all(len(r) == 4 and all(isinstance(x, str) for x in r) for r in rows)
    for c in scan.candidates:
        assert c.max_loss_usd > 0 and 0 <= c.pop <= 1
        assert math.isfinite(c.breakevens[0])


@settings(max_examples=60)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 30), st.floats(-1.0, 1.0)), max_size=4),
        max_size=8,
    ),
    st.integers(1, 6),
)
def test_cycle_ranking_keeps_the_best_m(layout: list[list[tuple[int, float]]], cap: int) -> None:
    template = scan_symbol(scan_input(), SETTINGS).candidates[0]
    scans = []
    for n, entries in enumerate(layout):
        candidates = tuple(
            replace(template, candidate_id=f"c-{n}-{i}-{tag}", score=score)
            for i, (tag, score) in enumerate(entries)
        )
        scans.append(
            SymbolScan(
                scan_id="s",
                underlying=f"S{n}",
                as_of=AS_OF,
                candidates=candidates,
                decisions=(),
                atm_iv=0.3,
                iv_rank=None,
                contracts=1,
            )
        )
    settings_m = make_settings(f"strategies.max_candidates_per_cycle={cap}")
    selected, records = rank_candidates(scans, settings_m)
    everything = [c for s in scans for c in s.candidates]
    assert len(selected) == min(cap, len(everything))
    assert len(records) == len(everything)
    kept = {r.candidate_id for r in records if r.outcome is DecisionOutcome.ACCEPTED}
    assert kept == {c.candidate_id for c in selected}
    if selected:
        worst_kept = min(c.score for c in selected)
        assert all(c.score <= worst_kept for c in everything if c.candidate_id not in kept)
    keys = [(-c.score, c.candidate_id) for c in selected]
    assert keys == sorted(keys)

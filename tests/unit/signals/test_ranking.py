"""Cycle ranking: top M overall, ties by candidate id, records for kept and cut."""

from __future__ import annotations

from dataclasses import replace

from agent.domain import Candidate, DecisionOutcome, DecisionStage, SymbolScan
from agent.signals import cap_symbol, rank_candidates, scan_symbol
from tests.unit.strategies.chains import AS_OF, make_settings, scan_input


def base_candidate() -> Candidate:
    return scan_symbol(scan_input(), make_settings()).candidates[0]


def symbol_scan(symbol: str, *candidates: Candidate, scan_id: str = "scan-1") -> SymbolScan:
    return SymbolScan(
        scan_id=scan_id,
        underlying=symbol,
        as_of=AS_OF,
        candidates=candidates,
        decisions=(),
        atm_iv=0.3,
        iv_rank=50.0,
        contracts=100,
    )


def variant(c: Candidate, cid: str, score: float, symbol: str = "XYZ") -> Candidate:
    return replace(c, candidate_id=cid, score=score, underlying=symbol)


def test_top_m_per_cycle_with_records() -> None:
    c = base_candidate()
    scans = [
        symbol_scan("AAA", variant(c, "c-a1", 0.05, "AAA"), variant(c, "c-a2", 0.01, "AAA")),
        symbol_scan("BBB", variant(c, "c-b1", 0.09, "BBB")),
        symbol_scan("CCC", variant(c, "c-c1", -0.02, "CCC"), variant(c, "c-c2", 0.07, "CCC")),
        symbol_scan("DDD"),
    ]
    selected, records = rank_candidates(scans, make_settings())  # M = 3
    assert [s.candidate_id for s in selected] == ["c-b1", "c-c2", "c-a1"]
    assert all(r.stage is DecisionStage.RANKING for r in records)
    outcome = {r.candidate_id: (r.outcome, r.reasons[0].value) for r in records}
    assert outcome == {
        "c-b1": (DecisionOutcome.ACCEPTED, 1),
        "c-c2": (DecisionOutcome.ACCEPTED, 2),
        "c-a1": (DecisionOutcome.ACCEPTED, 3),
        "c-a2": (DecisionOutcome.REJECTED, 4),
        "c-c1": (DecisionOutcome.REJECTED, 5),
    }
    cut = next(r for r in records if r.candidate_id == "c-a2")
    assert cut.underlying == "AAA" and cut.scan_id == "scan-1"
    (reason,) = cut.failed_reasons
    assert (reason.rule, reason.limit) == ("cycle_rank", 3)
    assert "only the top 3 go on" in reason.message


def test_ties_are_broken_by_candidate_id() -> None:
    c = base_candidate()
    scans = [
        symbol_scan("X", variant(c, "c-2", 0.05), variant(c, "c-1", 0.05), variant(c, "c-3", 0.05))
    ]
    settings = make_settings("strategies.max_candidates_per_cycle=2")
    selected, _ = rank_candidates(scans, settings)
    assert [s.candidate_id for s in selected] == ["c-1", "c-2"]
    again, _ = rank_candidates(list(reversed(scans)), settings)
    assert [s.candidate_id for s in again] == ["c-1", "c-2"]


def test_a_candidate_listed_twice_is_ranked_once() -> None:
    c = base_candidate()
    dup = variant(c, "c-1", 0.05)
    selected, records = rank_candidates(
        [symbol_scan("X", dup), symbol_scan("X", dup)], make_settings()
    )
    assert [s.candidate_id for s in selected] == ["c-1"]
    assert len(records) == 1


def test_empty_scan_ranks_nothing() -> None:
    assert rank_candidates([], make_settings()) == ([], [])


def test_cap_symbol_keeps_the_best() -> None:
    c = base_candidate()
    kept, cut = cap_symbol(
        [variant(c, "c-1", 0.01), variant(c, "c-2", 0.03), variant(c, "c-3", 0.02)],
        make_settings(),
        scan_id="s",
        as_of=AS_OF,
    )
    assert [k.candidate_id for k in kept] == ["c-2", "c-3"]
    assert [r.candidate_id for r in cut] == ["c-1"]
    assert cut[0].outcome is DecisionOutcome.REJECTED

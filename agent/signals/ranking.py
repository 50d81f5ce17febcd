"""Ranking: best ``max_candidates_per_symbol`` per symbol, best ``max_candidates_per_cycle``
per scan, by the one score of :mod:`agent.strategies.scoring` (ties: candidate id).

Candidates cut get a RANKING-stage REJECTED record with their rank and the cap; the ones
selected for the cycle get an ACCEPTED record, so a decision trail ends at ranking either
way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from agent.config import AgentSettings
from agent.domain import (
    Candidate,
    DecisionOutcome,
    DecisionRecord,
    DecisionStage,
    Reason,
    SymbolScan,
)
from agent.strategies.records import record
from agent.strategies.scoring import ranked


def _ranking_record(
    candidate: Candidate,
    *,
    scan_id: str,
    as_of: datetime,
    rule: str,
    rank: int,
    of: int,
    cap: int,
    scope: str,
) -> DecisionRecord:
    kept = rank <= cap
    score = candidate.score if math.isfinite(candidate.score) else None
    return record(
        scan_id=scan_id,
        as_of=as_of,
        underlying=candidate.underlying,
        stage=DecisionStage.RANKING,
        strategy=candidate.strategy,
        candidate_id=candidate.candidate_id,
        key=f"{rule}:{candidate.candidate_id}",
        reasons=(
            Reason(
                rule=rule,
                passed=kept,
                value=rank,
                limit=cap,
                message=(
                    f"ranked {rank} of {of} {scope} (score {candidate.score:.5f}); "
                    + ("kept" if kept else f"only the top {cap} go on")
                ),
            ),
        ),
        metrics={"rank": rank, "of": of, "score": score},
        outcome=DecisionOutcome.ACCEPTED if kept else DecisionOutcome.REJECTED,
    )


def cap_symbol(
    candidates: Sequence[Candidate], settings: AgentSettings, *, scan_id: str, as_of: datetime
) -> tuple[list[Candidate], list[DecisionRecord]]:
    """The best ``max_candidates_per_symbol`` of one symbol, and REJECTED records for the rest."""
    cap = settings.strategies.max_candidates_per_symbol
    order = ranked(candidates)
    records = [
        _ranking_record(
            c,
            scan_id=scan_id,
            as_of=as_of,
            rule="symbol_rank",
            rank=i,
            of=len(order),
            cap=cap,
            scope=f"for {c.underlying}",
        )
        for i, c in enumerate(order, start=1)
        if i > cap
    ]
    return order[:cap], records


def rank_candidates(
    scans: Sequence[SymbolScan], settings: AgentSettings
) -> tuple[list[Candidate], list[DecisionRecord]]:
    """The top ``max_candidates_per_cycle`` candidates of a scan, best first, with RANKING
    records: ACCEPTED for those selected, REJECTED for those cut."""
    cap = settings.strategies.max_candidates_per_cycle
    origin: dict[str, SymbolScan] = {}
    for scan in scans:
        for candidate in scan.candidates:
            origin.setdefault(candidate.candidate_id, scan)
    order = ranked(c for scan in scans for c in scan.candidates)
    # A candidate listed twice (a retried task) is ranked once.
    seen: set[str] = set()
    unique: list[Candidate] = []
    for candidate in order:
        if candidate.candidate_id not in seen:
            seen.add(candidate.candidate_id)
            unique.append(candidate)
    records = []
    for i, candidate in enumerate(unique, start=1):
        scan = origin[candidate.candidate_id]
        records.append(
            _ranking_record(
                candidate,
                scan_id=scan.scan_id,
                as_of=scan.as_of,
                rule="cycle_rank",
                rank=i,
                of=len(unique),
                cap=cap,
                scope="this cycle",
            )
        )
    return unique[:cap], records

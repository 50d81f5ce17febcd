"""Deterministic ids and small helpers for decision records and their reasons.

Ids are SHA-1 digests of what identifies the subject, so a retried scan task produces the
same ids (and the store can upsert) and nothing depends on randomness or the clock.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime

from agent.domain import (
    DecisionOutcome,
    DecisionRecord,
    DecisionStage,
    Reason,
    StructureKind,
)
from agent.domain.decisions import Scalar


def digest(*parts: object) -> str:
    """24 hex characters of the SHA-1 of the ``|``-joined parts."""
    text = "|".join(str(p) for p in parts)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:24]


def decision_id(
    scan_id: str, underlying: str, stage: DecisionStage, strategy: StructureKind | None, key: str
) -> str:
    return "d-" + digest(scan_id, underlying, stage.value, strategy or "", key)


def record(
    *,
    scan_id: str,
    as_of: datetime,
    underlying: str,
    stage: DecisionStage,
    reasons: tuple[Reason, ...],
    strategy: StructureKind | None = None,
    candidate_id: str | None = None,
    key: str = "",
    metrics: Mapping[str, Scalar] | None = None,
    outcome: DecisionOutcome | None = None,
) -> DecisionRecord:
    """A decision record; the outcome defaults to ACCEPTED iff every reason passed."""
    if outcome is None:
        passed = all(r.passed for r in reasons)
        outcome = DecisionOutcome.ACCEPTED if passed else DecisionOutcome.REJECTED
    return DecisionRecord(
        decision_id=decision_id(scan_id, underlying, stage, strategy, key or candidate_id or ""),
        scan_id=scan_id,
        decided_at=as_of,
        underlying=underlying,
        stage=stage,
        outcome=outcome,
        strategy=strategy,
        candidate_id=candidate_id,
        reasons=reasons,
        metrics=dict(metrics or {}),
    )


def band(low: float, high: float) -> str:
    """A closed interval as text, e.g. ``[-0.3, -0.2]``."""
    return f"[{fmt(low)}, {fmt(high)}]"


def fmt(value: float) -> str:
    """A number for a reason's text: up to 4 decimals, no trailing zeros."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def finite_or_none(value: float) -> float | None:
    """A float for a record (None instead of NaN/inf, which JSON and SQL do not carry)."""
    return value if math.isfinite(value) else None


def rounded(value: float, digits: int = 4) -> float | None:
    return round(value, digits) if math.isfinite(value) else None

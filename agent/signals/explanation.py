"""Rows for ``optagent scan --once --explain SYMBOL``: why each stage accepted or rejected.

One row per decision record, in pipeline order (universe, contract, strategy, ranking, risk,
execution): ``(stage, strategy, outcome, detail)``. A rejection's detail lists its failed
rules as ``rule: value vs limit (message)``; an acceptance's detail shows its key numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.domain import DecisionOutcome, DecisionRecord, DecisionStage, Reason
from agent.domain.decisions import Scalar

EXPLAIN_COLUMNS: tuple[str, str, str, str] = ("stage", "strategy", "outcome", "detail")
_STAGE_ORDER = {stage: i for i, stage in enumerate(DecisionStage)}
_SUMMARY_KEYS = (
    "spot",
    "atm_iv",
    "iv_rank",
    "vol_index",
    "contracts",
    "eligible",
    "expiry",
    "legs",
    "credit_usd",
    "max_loss_usd",
    "pop",
    "expected_value_usd",
    "score",
    "rank",
    "of",
)


def _shown(value: Scalar) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_reason(reason: Reason) -> str:
    """``rule: value vs limit (message)``, omitting the parts a reason does not have."""
    text = reason.rule
    if reason.value is not None or reason.limit is not None:
        text += f": {_shown(reason.value)}"
        if reason.limit is not None:
            text += f" vs {_shown(reason.limit)}"
    if reason.message:
        text += f" ({reason.message})"
    return text


def _summary(metrics: Mapping[str, Scalar], candidate_id: str | None) -> str:
    parts = [f"{key}={_shown(metrics[key])}" for key in _SUMMARY_KEYS if key in metrics]
    if candidate_id:
        parts.insert(0, candidate_id)
    return " ".join(parts)


def explain(records: Sequence[DecisionRecord]) -> list[tuple[str, ...]]:
    """Table rows ``(stage, strategy, outcome, detail)`` for the records, pipeline order."""
    indexed = sorted(
        enumerate(records),
        key=lambda item: (_STAGE_ORDER.get(item[1].stage, len(_STAGE_ORDER)), item[0]),
    )
    rows: list[tuple[str, ...]] = []
    for _, rec in indexed:
        if rec.outcome is DecisionOutcome.REJECTED:
            failed = rec.failed_reasons
            detail = "; ".join(format_reason(r) for r in failed) if failed else "rejected"
        else:
            detail = _summary(rec.metrics, rec.candidate_id)
        rows.append(
            (
                rec.stage.value,
                rec.strategy.value if rec.strategy is not None else "-",
                rec.outcome.value,
                detail,
            )
        )
    return rows

"""The learner: bounded, evidence-backed parameter proposals per strategy.

Rules (each needs at least ``learning.min_closed_trades`` closed trades of the strategy):

- **Too many stop-outs**: the stop-loss rate is compared with the rate the model expected at
  entry (1 − mean probability of profit; 25% when unknown) with a one-sided binomial test.
  If it is higher, the short-delta target moves away from the money by
  ``max_param_step_pct`` of its value (clamped inside the configured band).
- **Leaving premium**: with no stop-outs and a win rate above 90% that beats the expected
  rate, the target moves toward the money by the same bounded step.
- **Thin credits lose**: if losses concentrate on trades whose credit was below 1.5× the
  minimum (Fisher's exact test), the minimum credit rises by the bounded step.

Confidence is 1 − p-value. Validation: the effect must point the same way in both
chronological halves of the sample, otherwise confidence is halved and the reason says so.
Expected improvement is the estimated change in the stop-loss (or loss) rate, a heuristic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.config import AgentSettings
from agent.domain import StructureKind, Trade, TradeStatus
from agent.learning.analyzer import analyze_trade

DEFAULT_EXPECTED_STOP_RATE = 0.25
PREMIUM_WIN_RATE = 0.90
THIN_CREDIT_MULTIPLE = 1.5

_DELTA_FIELDS: Mapping[StructureKind, tuple[str, str, str]] = {
    StructureKind.BULL_PUT_SPREAD: ("short_delta_target", "short_delta_min", "short_delta_max"),
    StructureKind.CASH_SECURED_PUT: ("short_delta_target", "short_delta_min", "short_delta_max"),
}
_CREDIT_FIELDS: Mapping[StructureKind, str] = {
    StructureKind.BULL_PUT_SPREAD: "min_credit_usd",
    StructureKind.CASH_SECURED_PUT: "min_premium_usd",
    StructureKind.IRON_CONDOR: "min_credit_usd",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    strategy: StructureKind
    update_type: str
    parameter: str
    old_value: float
    new_value: float
    reason: str
    confidence: float
    trades_analyzed: int
    expected_improvement: float


def _strategy_settings(settings: AgentSettings, kind: StructureKind) -> object:
    return getattr(settings.strategies, kind.value)


def _stop_rate(trades: Sequence[Trade]) -> float:
    return (
        sum("stop_loss" in analyze_trade(t).tags for t in trades) / len(trades) if trades else 0.0
    )


def _expected_stop_rate(trades: Sequence[Trade]) -> float:
    pops = [float(p) for t in trades if isinstance(p := t.market_snapshot.get("pop"), int | float)]
    return 1.0 - sum(pops) / len(pops) if pops else DEFAULT_EXPECTED_STOP_RATE


def _halves_agree(trades: Sequence[Trade], expected: float, higher: bool) -> bool:
    mid = len(trades) // 2
    rates = (_stop_rate(trades[:mid]), _stop_rate(trades[mid:]))
    return all((r > expected) if higher else (r <= expected) for r in rates)


def _bounded_step(value: float, step_pct: float, toward_zero: bool, lo: float, hi: float) -> float:
    factor = 1.0 - step_pct / 100.0 if toward_zero else 1.0 + step_pct / 100.0
    return round(min(max(value * factor, lo), hi), 4)


def _delta_proposal(
    kind: StructureKind, trades: Sequence[Trade], settings: AgentSettings
) -> Proposal | None:
    fields = _DELTA_FIELDS.get(kind)
    if fields is None:
        return None
    params = _strategy_settings(settings, kind)
    target, lo, hi = (float(getattr(params, f)) for f in fields)
    n = len(trades)
    stops = round(_stop_rate(trades) * n)
    expected = _expected_stop_rate(trades)
    step = settings.learning.max_param_step_pct
    from scipy import stats  # noqa: PLC0415 - weekly only; keeps scipy out of every process

    if stops / n > expected:
        p_value = stats.binomtest(stops, n, expected, alternative="greater").pvalue
        new = _bounded_step(target, step, toward_zero=True, lo=lo, hi=hi)
        direction, higher = "away from the money", True
    elif stops == 0 and sum(t.realized_pnl > 0 for t in trades) / n >= PREMIUM_WIN_RATE:
        wins = sum(t.realized_pnl > 0 for t in trades)
        p_value = stats.binomtest(wins, n, 1.0 - expected, alternative="greater").pvalue
        new = _bounded_step(target, step, toward_zero=False, lo=lo, hi=hi)
        direction, higher = "toward the money", False
    else:
        return None
    if new == target:
        return None
    confidence = 1.0 - float(p_value)
    reason = (
        f"stop-loss rate {stops / n:.0%} vs {expected:.0%} expected over {n} trades: "
        f"move the short-delta target {direction}"
    )
    if not _halves_agree(trades, expected, higher):
        confidence /= 2.0
        reason += " (not confirmed in both halves of the sample: confidence halved)"
    return Proposal(
        strategy=kind,
        update_type="short_delta_target",
        parameter=fields[0],
        old_value=target,
        new_value=new,
        reason=reason,
        confidence=confidence,
        trades_analyzed=n,
        expected_improvement=round(abs(stops / n - expected) * step / 100.0, 4),
    )


def _credit_proposal(
    kind: StructureKind, trades: Sequence[Trade], settings: AgentSettings
) -> Proposal | None:
    name = _CREDIT_FIELDS.get(kind)
    if name is None:
        return None
    minimum = float(getattr(_strategy_settings(settings, kind), name))
    thin: list[Trade] = []
    thick: list[Trade] = []
    for trade in trades:
        credit = -float(trade.entry_net_price or 0)
        (thin if credit < THIN_CREDIT_MULTIPLE * minimum else thick).append(trade)
    if not thin or not thick:
        return None
    thin_losses = sum(t.realized_pnl < 0 for t in thin)
    thick_losses = sum(t.realized_pnl < 0 for t in thick)
    if thin_losses / len(thin) <= thick_losses / len(thick):
        return None
    from scipy import stats  # noqa: PLC0415 - weekly only; keeps scipy out of every process

    table = [[thin_losses, len(thin) - thin_losses], [thick_losses, len(thick) - thick_losses]]
    p_value = float(stats.fisher_exact(table, alternative="greater").pvalue)
    new = round(minimum * (1.0 + settings.learning.max_param_step_pct / 100.0), 2)
    return Proposal(
        strategy=kind,
        update_type="min_credit",
        parameter=name,
        old_value=minimum,
        new_value=new,
        reason=(
            f"loss rate {thin_losses / len(thin):.0%} on credits below {THIN_CREDIT_MULTIPLE}× the minimum "
            f"vs {thick_losses / len(thick):.0%} above: raise the minimum"
        ),
        confidence=1.0 - p_value,
        trades_analyzed=len(trades),
        expected_improvement=round(thin_losses / len(thin) - thick_losses / len(thick), 4),
    )


def propose_changes(trades: Sequence[Trade], settings: AgentSettings) -> list[Proposal]:
    """Proposals for every strategy with enough closed trades (chronological order matters)."""
    proposals: list[Proposal] = []
    closed = sorted(
        (t for t in trades if t.status is TradeStatus.CLOSED and t.closed_at is not None),
        key=lambda t: (t.closed_at, t.trade_id),
    )
    for kind in (
        StructureKind.BULL_PUT_SPREAD,
        StructureKind.CASH_SECURED_PUT,
        StructureKind.IRON_CONDOR,
    ):
        mine = [t for t in closed if t.strategy is kind]
        if len(mine) < settings.learning.min_closed_trades:
            continue
        for rule in (_delta_proposal, _credit_proposal):
            proposal = rule(kind, mine, settings)
            if proposal is not None:
                proposals.append(proposal)
    return proposals

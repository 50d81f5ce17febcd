"""Reports of the execution, reconciliation and monitoring passes."""

from __future__ import annotations

from dataclasses import dataclass

from agent.domain.portfolio import ExitAction, RollAction, SingleLegAction, TradeMark


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkReport:
    """What one pass over working orders did."""

    working: int = 0
    fills: int = 0
    steps: int = 0
    canceled: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileReport:
    activities: int = 0
    differences: tuple[str, ...] = ()
    resolved_unknown: int = 0
    external_orders: int = 0
    adopted_positions: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorReport:
    marks: tuple[TradeMark, ...] = ()
    exits: tuple[ExitAction, ...] = ()
    rolls: tuple[RollAction, ...] = ()
    single_legs: tuple[SingleLegAction, ...] = ()
    problems: tuple[str, ...] = ()

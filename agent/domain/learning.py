"""Performance metrics and learning log entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceMetrics:
    """Metrics over closed trades in one period. Money in USD; rates 0-1."""

    period_type: str
    """``daily``, ``weekly``, ``monthly`` or ``all``."""
    period_start: date
    period_end: date
    computed_at: datetime
    trades: int
    total_pnl: Decimal
    win_rate: float | None
    profit_factor: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown_usd: Decimal
    per_strategy: Mapping[str, Mapping[str, float | int | None]] = field(default_factory=dict)
    error_counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LearningLog:
    """A parameter change the learner proposed (and whether it was applied)."""

    log_id: str
    logged_at: datetime
    update_type: str
    strategy: str
    old_params: Mapping[str, object]
    new_params: Mapping[str, object]
    reason: str
    confidence: float
    trades_analyzed: int
    expected_improvement: float
    status: str = "proposed"
    """``proposed``, ``applied``, ``rejected`` or ``rolled_back``."""

"""LearningService: the daily analysis (17:00 ET) and the weekly learning run (Sunday 20:00 ET)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from agent.calendar import ET, et_datetime
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain import LearningLog, PerformanceMetrics, TradeStatus
from agent.learning.analyzer import analyze_trade
from agent.learning.learner import Proposal, propose_changes
from agent.learning.metrics import compute_metrics
from agent.logging import journal, logger
from agent.ports import Store

LEARNING_LOOKBACK_DAYS = 180


class LearningService:
    def __init__(self, *, store: Store, clock: Clock, settings: AgentSettings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings

    def _equity_base(self) -> float:
        with self.store.transaction() as tx:
            latest = tx.account_snapshots.latest()
        return float(latest.equity) if latest is not None else self.settings.sim.initial_cash_usd

    def daily_analysis(self, day: date) -> PerformanceMetrics:
        """Tag the trades closed on ``day`` and store daily and all-time metrics."""
        start = et_datetime(day, datetime.min.time())
        with self.store.transaction() as tx:
            closed = tx.trades.list(statuses=[TradeStatus.CLOSED])
            for trade in closed:
                if trade.closed_at is None or trade.closed_at < start:
                    continue
                analysis = analyze_trade(trade)
                if set(analysis.tags) != set(trade.reason_tags):
                    tx.trades.update(replace(trade, reason_tags=analysis.tags))
            errors = Counter(
                e.kind
                for e in tx.events.list(since=start)
                if e.kind.startswith(("broker.", "loop."))
            )
        base = self._equity_base()
        now = self.clock.now()
        daily = compute_metrics(
            closed,
            period_type="daily",
            period_start=day,
            period_end=day,
            computed_at=now,
            equity_base_usd=base,
            error_counts=dict(errors),
        )
        first = min((t.closed_at.astimezone(ET).date() for t in closed if t.closed_at), default=day)
        overall = compute_metrics(
            closed,
            period_type="all",
            period_start=first,
            period_end=day,
            computed_at=now,
            equity_base_usd=base,
        )
        with self.store.transaction() as tx:
            tx.metrics.add(daily)
            tx.metrics.add(overall)
        journal(
            "daily_analysis",
            day=day,
            trades=daily.trades,
            pnl=daily.total_pnl,
            win_rate=daily.win_rate,
        )
        logger.info(
            "daily analysis {}: {} trades closed, P&L {}", day, daily.trades, daily.total_pnl
        )
        return daily

    def weekly_learning(self, day: date) -> list[LearningLog]:
        """Propose bounded parameter changes; apply them in ``auto`` mode when confident."""
        since = et_datetime(day - timedelta(days=LEARNING_LOOKBACK_DAYS), datetime.min.time())
        with self.store.transaction() as tx:
            trades = tx.trades.list(statuses=[TradeStatus.CLOSED], closed_since=since)
        proposals = propose_changes(trades, self.settings)
        auto = self.settings.learning.approval_mode == "auto"
        logs = [
            self._log(
                p, applied=auto and p.confidence >= self.settings.learning.confidence_threshold
            )
            for p in proposals
        ]
        with self.store.transaction() as tx:
            for log in logs:
                tx.learning.add(log)
        for log in logs:
            if log.status == "applied":
                self._write_override(log)
            journal(
                "learning",
                log_id=log.log_id,
                strategy=log.strategy,
                status=log.status,
                reason=log.reason,
            )
        logger.info(
            "weekly learning {}: {} proposals over {} closed trades", day, len(logs), len(trades)
        )
        return logs

    def _log(self, proposal: Proposal, *, applied: bool) -> LearningLog:
        return LearningLog(
            log_id=uuid.uuid4().hex,
            logged_at=self.clock.now(),
            update_type=proposal.update_type,
            strategy=proposal.strategy.value,
            old_params={proposal.parameter: proposal.old_value},
            new_params={proposal.parameter: proposal.new_value},
            reason=proposal.reason,
            confidence=round(proposal.confidence, 4),
            trades_analyzed=proposal.trades_analyzed,
            expected_improvement=proposal.expected_improvement,
            status="applied" if applied else "proposed",
        )

    def decide(self, log_id: str, *, approve: bool) -> LearningLog:
        """A human's verdict on a proposal (``optagent learn --approve/--reject``)."""
        with self.store.transaction() as tx:
            log = next((entry for entry in tx.learning.list() if entry.log_id == log_id), None)
            if log is None:
                raise KeyError(f"no learning proposal {log_id}")
            if log.status != "proposed":
                raise ValueError(f"proposal {log_id} is already {log.status}")
            decided = replace(log, status="applied" if approve else "rejected")
            tx.learning.update(decided)
        if approve:
            self._write_override(decided)
        return decided

    def _write_override(self, log: LearningLog) -> None:
        """Merge an applied change into the learned-overrides file (read at start-up)."""
        path = Path(self.settings.learning.overrides_file)
        data: dict[str, Any] = {}
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        section = data.setdefault("strategies", {}).setdefault(log.strategy, {})
        section.update(log.new_params)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
        tmp.replace(path)

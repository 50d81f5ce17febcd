"""The learning service against a real SQLite store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import yaml

from agent.adapters.persistence import open_store
from agent.clock import SimClock
from agent.config import load_settings
from agent.domain import ExitReason
from agent.learning import LearningService
from tests.unit.learning.test_learning import closed_trade


def test_daily_analysis_tags_trades_and_stores_metrics(settings_factory) -> None:
    settings = settings_factory()
    store = open_store(settings.database_url)
    day = date(2026, 3, 12)
    with store.transaction() as tx:
        tx.trades.add(closed_trade(0, 120.0))  # closed 2026-03-12
        tx.trades.add(closed_trade(1, -390.0, reason=ExitReason.STOP_LOSS))  # closed 2026-03-13
    clock = SimClock(datetime(2026, 3, 12, 22, 0, tzinfo=UTC))
    metrics = LearningService(store=store, clock=clock, settings=settings).daily_analysis(day)
    assert metrics.trades == 1 and metrics.total_pnl == Decimal(120)
    with store.transaction() as tx:
        stored = {m.period_type: m for m in tx.metrics.list()}
        tagged = tx.trades.get("t000")
    # Metrics up to the analysed day: the trade closed the next day is not counted yet.
    assert set(stored) == {"daily", "all"} and stored["all"].trades == 1
    assert tagged is not None and "take_profit" in tagged.reason_tags


def test_weekly_learning_records_proposals_and_auto_applies_confident_ones(
    settings_factory, tmp_path
) -> None:
    settings = settings_factory("learning.approval_mode=auto")
    store = open_store(settings.database_url)
    with store.transaction() as tx:
        for i in range(40):
            stop = i % 2 == 1
            tx.trades.add(
                closed_trade(
                    i,
                    -300.0 if stop else 80.0,
                    reason=ExitReason.STOP_LOSS if stop else ExitReason.TAKE_PROFIT,
                )
            )
    clock = SimClock(datetime(2026, 4, 26, 0, 0, tzinfo=UTC))
    logs = LearningService(store=store, clock=clock, settings=settings).weekly_learning(
        date(2026, 4, 26)
    )
    applied = [log for log in logs if log.status == "applied"]
    assert applied and applied[0].new_params == {"short_delta_target": -0.225}
    learned = yaml.safe_load((tmp_path / "learned.yaml").read_text())
    assert learned == {"strategies": {"bull_put_spread": {"short_delta_target": -0.225}}}
    # The next start-up sees the learned value (above config.yaml, below --set).
    reloaded = load_settings(
        None, [f"learning.overrides_file={tmp_path / 'learned.yaml'}"], env_file=None, environ={}
    )
    assert reloaded.strategies.bull_put_spread.short_delta_target == -0.225
    with store.transaction() as tx:
        assert len(tx.learning.list(status="applied")) == len(applied)


def test_manual_mode_only_proposes_until_approved(settings_factory, tmp_path) -> None:
    settings = settings_factory()
    store = open_store(settings.database_url)
    with store.transaction() as tx:
        for i in range(40):
            tx.trades.add(closed_trade(i, -300.0, reason=ExitReason.STOP_LOSS))
    service = LearningService(
        store=store, clock=SimClock(datetime(2026, 5, 1, tzinfo=UTC)), settings=settings
    )
    logs = service.weekly_learning(date(2026, 5, 1))
    assert logs and all(log.status == "proposed" for log in logs)
    assert not (tmp_path / "learned.yaml").exists()
    decided = service.decide(logs[0].log_id, approve=True)
    assert decided.status == "applied" and (tmp_path / "learned.yaml").exists()

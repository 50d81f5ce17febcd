"""Trade analysis, metrics and the learner's bounded, evidence-backed proposals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import load_settings
from agent.domain import ExitReason, StructureKind, Trade, TradeStatus
from agent.learning import analyze_trade, compute_metrics, propose_changes
from agent.learning.metrics import max_drawdown_usd, sharpe_and_sortino

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def closed_trade(
    i: int,
    pnl: float,
    *,
    reason: ExitReason = ExitReason.TAKE_PROFIT,
    strategy: StructureKind = StructureKind.BULL_PUT_SPREAD,
    credit: float = 1.0,
    pop: float | None = 0.8,
    days: float = 10.0,
) -> Trade:
    opened = T0 + timedelta(days=i)
    return Trade(
        trade_id=f"t{i:03d}",
        underlying="SPY",
        strategy=strategy,
        status=TradeStatus.CLOSED,
        qty=1,
        opened_at=opened,
        closed_at=opened + timedelta(days=days),
        days_held=days,
        entry_net_price=Decimal(str(-credit)),
        max_loss_usd=Decimal(400),
        realized_pnl=Decimal(str(pnl)),
        exit_reason=reason,
        market_snapshot={"pop": pop} if pop is not None else {},
    )


def test_analysis_tags_outcome_exit_and_max_loss() -> None:
    tags = analyze_trade(closed_trade(1, -380.0, reason=ExitReason.STOP_LOSS)).tags
    assert tags == ("loss", "stop_loss", "max_loss")
    assert analyze_trade(closed_trade(2, 50.0, days=3)).tags == ("win", "take_profit", "quick_win")


def test_metrics_on_known_numbers() -> None:
    trades = [
        closed_trade(0, 100.0),
        closed_trade(1, -50.0),
        closed_trade(2, 100.0),
        closed_trade(3, -150.0),
    ]
    m = compute_metrics(
        trades,
        period_type="all",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31),
        computed_at=T0,
        equity_base_usd=100_000.0,
    )
    assert m.trades == 4 and m.total_pnl == Decimal(0)
    assert m.win_rate == 0.5 and m.profit_factor == pytest.approx(200 / 200)
    assert m.max_drawdown_usd == Decimal(150)
    assert m.per_strategy["bull_put_spread"]["trades"] == 4


def test_drawdown_and_ratios() -> None:
    assert max_drawdown_usd([100, -30, -40, 50, -100]) == 120
    sharpe, sortino = sharpe_and_sortino([0.01, -0.005, 0.002, 0.004])
    assert sharpe is not None and sharpe > 0 and sortino is not None and sortino > sharpe
    assert sharpe_and_sortino([0.01]) == (None, None)


def settings(tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_settings(
        None,
        [f"learning.overrides_file={tmp_path / 'learned.yaml'}", *extra],
        env_file=None,
        environ={},
    )


def test_too_many_stop_outs_moves_delta_away_from_the_money_by_a_bounded_step(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    trades = [
        closed_trade(
            i,
            -300.0 if i % 2 else 80.0,
            reason=ExitReason.STOP_LOSS if i % 2 else ExitReason.TAKE_PROFIT,
        )
        for i in range(40)
    ]
    proposals = propose_changes(trades, s)
    delta = next(p for p in proposals if p.parameter == "short_delta_target")
    assert delta.old_value == -0.25
    assert delta.new_value == pytest.approx(-0.225)  # 10% step toward zero (further OTM)
    assert delta.confidence > 0.99 and delta.trades_analyzed == 40


def test_no_proposal_below_the_minimum_sample(tmp_path: Path) -> None:
    s = settings(tmp_path)
    trades = [closed_trade(i, -300.0, reason=ExitReason.STOP_LOSS) for i in range(29)]
    assert propose_changes(trades, s) == []


def test_step_is_clamped_to_the_band(tmp_path: Path) -> None:
    s = settings(tmp_path, "strategies.bull_put_spread.short_delta_target=-0.20")
    trades = [closed_trade(i, -300.0, reason=ExitReason.STOP_LOSS) for i in range(40)]
    # The target already sits at the band edge (-0.20): no change is proposed.
    assert [p for p in propose_changes(trades, s) if p.parameter == "short_delta_target"] == []

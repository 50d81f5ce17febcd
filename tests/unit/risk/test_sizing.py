"""Sizing: the worked numbers of the docstrings, Kelly's fall-back, and the cap by limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.clock import SimClock
from agent.config import RiskSettings, SizingMethod
from agent.domain import StructureKind, TradeStatus
from agent.risk.sizing import (
    fixed_fractional_qty,
    kelly_estimate,
    kelly_qty,
    sizing_target,
)
from tests.unit.risk.helpers import (
    NOW,
    WIDE,
    account,
    add_trades,
    candidate,
    failed_rules,
    make_service,
    make_settings,
    memory_store,
    trade,
)

D = Decimal


@pytest.mark.parametrize(
    ("max_loss", "qty"),
    [(D(400), 2), (D(1000), 1), (D(1001), 0), (D(250), 4), (D(0), 0)],
)
def test_fixed_fractional_worked_numbers(max_loss: Decimal, qty: int) -> None:
    # equity $100,000 at 1 % → $1,000 at risk per trade.
    assert (
        fixed_fractional_qty(
            equity_usd=D(100_000), risk_per_trade_pct=1.0, max_loss_per_unit_usd=max_loss
        )
        == qty
    )


def test_kelly_worked_numbers() -> None:
    # Seven wins of $100 and three losses of $200: p = 0.7, b = 0.5, f* = 0.1.
    pnls = [D(100)] * 7 + [D(-200)] * 3
    estimate = kelly_estimate(pnls, kelly_fraction=0.25)
    assert estimate.win_rate == D("0.7")
    assert estimate.payoff_ratio == D("0.5")
    assert estimate.full_kelly == D("0.1")
    assert estimate.fraction == D("0.025")
    # $100,000 × 0.025 = $2,500 at risk / $400 per unit → 6 units; exactly 5 at $500.
    assert kelly_qty(equity_usd=D(100_000), fraction=D("0.025"), max_loss_per_unit_usd=D(400)) == 6
    assert kelly_qty(equity_usd=D(100_000), fraction=D("0.025"), max_loss_per_unit_usd=D(500)) == 5


def test_kelly_never_negative() -> None:
    # p = 0.3, b = 1 → f* = 0.3 − 0.7 = −0.4: no edge, no size.
    estimate = kelly_estimate([D(100)] * 3 + [D(-100)] * 7, kelly_fraction=0.25)
    assert estimate.full_kelly == D("-0.4")
    assert estimate.fraction == 0
    assert kelly_qty(equity_usd=D(100_000), fraction=D("-0.4"), max_loss_per_unit_usd=D(400)) == 0
    no_wins = kelly_estimate([D(-50)] * 5, kelly_fraction=0.25)
    assert no_wins.fraction == 0.0 and no_wins.win_rate == 0.0
    assert kelly_estimate([], kelly_fraction=0.25).fraction == 0.0


def test_kelly_without_losses_and_with_break_evens() -> None:
    all_wins = kelly_estimate([D(10)] * 4, kelly_fraction=0.25)
    assert all_wins.payoff_ratio is None and all_wins.full_kelly == 1.0
    assert all_wins.fraction == D("0.25")
    # A break-even trade lowers the win rate but adds nothing to the average loss.
    mixed = kelly_estimate([D(100), D(100), D(0), D(-100)], kelly_fraction=1.0)
    assert mixed.win_rate == D("0.5")
    assert mixed.payoff_ratio == 2  # average loss over {0, 100} = 50
    assert mixed.full_kelly == D("0.25")


def test_sizing_target_falls_back_to_fixed_fractional_during_kelly_warm_up() -> None:
    settings = RiskSettings(sizing_method=SizingMethod.QUARTER_KELLY, kelly_min_trades=10)
    pnls = [D(100)] * 7 + [D(-200)] * 2
    warm = sizing_target(
        settings=settings,
        equity_usd=D(100_000),
        max_loss_per_unit_usd=D(400),
        strategy_pnls_usd=pnls,
    )
    assert (warm.qty, warm.method) == (2, "fixed_fractional")
    assert "warm-up (9 of 10" in warm.detail
    ready = sizing_target(
        settings=settings,
        equity_usd=D(100_000),
        max_loss_per_unit_usd=D(400),
        strategy_pnls_usd=[*pnls, D(-200)],
    )
    assert (ready.qty, ready.method) == (6, "quarter_kelly")
    assert ready.risk_budget_usd == D(2500)


# --------------------------------------------------------------------------- through the service


def test_service_sizes_fixed_fractional_worked_example(tmp_path: Path) -> None:
    service = make_service(memory_store(), SimClock(NOW), make_settings(tmp_path, *WIDE))
    decision = service.evaluate(candidate(), account(100_000))
    assert decision.approved and decision.qty == 2
    assert decision.sizing_method == "fixed_fractional"
    sizing = next(r for r in decision.checks if r.rule == "sizing")
    assert (sizing.value, sizing.limit) == (2, 2)


def test_service_kelly_from_the_strategys_closed_trades(tmp_path: Path) -> None:
    store = memory_store()
    closed = [
        trade(
            f"c{i}",
            status=TradeStatus.CLOSED,
            closed_at=NOW,
            realized_pnl=100 if i < 7 else -200,
            opened_at=NOW.replace(day=1),
        )
        for i in range(10)
    ]
    # Another strategy's trades do not count toward this one's Kelly.
    other = trade(
        "other",
        status=TradeStatus.CLOSED,
        closed_at=NOW,
        realized_pnl=-5000,
        strategy=StructureKind.IRON_CONDOR,
        opened_at=NOW.replace(day=1),
    )
    add_trades(store, *closed, other)
    settings = make_settings(
        tmp_path, *WIDE, "risk.sizing_method=quarter_kelly", "risk.kelly_min_trades=10"
    )
    decision = make_service(store, SimClock(NOW), settings).evaluate(candidate(), account())
    assert decision.approved and decision.qty == 6
    assert decision.sizing_method == "quarter_kelly"


def test_limits_cap_the_size_below_the_target(tmp_path: Path) -> None:
    store = memory_store()
    # 5 % per trade → target floor($5,000 / $400) = 12 units; heat leaves room for 5.
    add_trades(store, trade("t1", underlying="AAA", max_loss_usd=28_000))
    settings = make_settings(
        tmp_path, *WIDE, "risk.risk_per_trade_pct=5", "risk.max_symbol_concentration_pct=100"
    )
    service = make_service(store, SimClock(NOW), settings)
    service.update(account=account(), marks=[_mark("t1", "AAA")], data_age_s=1.0)
    decision = service.evaluate(candidate(), account())
    assert decision.approved and decision.qty == 5
    sizing = next(r for r in decision.checks if r.rule == "sizing")
    assert sizing.limit == 12
    assert "capped by max_portfolio_heat_pct" in sizing.message


def test_zero_contracts_is_a_denial_with_the_reason(tmp_path: Path) -> None:
    service = make_service(memory_store(), SimClock(NOW), make_settings(tmp_path, *WIDE))
    # $1,001 max loss per unit against a $1,000 risk budget.
    decision = service.evaluate(candidate(max_loss_usd=D(1001)), account(100_000))
    assert not decision.approved and decision.qty == 0
    assert failed_rules(decision) == {"sizing"}
    assert "zero contracts" in decision.summary()


def _mark(trade_id: str, underlying: str):  # type: ignore[no-untyped-def]
    from tests.unit.risk.helpers import mark

    return mark(trade_id, underlying=underlying)


def test_kelly_sees_trades_closed_after_the_service_started(tmp_path: Path) -> None:
    store = memory_store()

    def closed(i: int, pnl: int):  # type: ignore[no-untyped-def]
        return trade(
            f"c{i}",
            status=TradeStatus.CLOSED,
            opened_at=NOW.replace(day=1),
            closed_at=NOW.replace(day=1) + timedelta(minutes=i),
            realized_pnl=pnl,
        )

    add_trades(store, *(closed(i, 100 if i < 7 else -200) for i in range(9)))
    settings = make_settings(
        tmp_path, *WIDE, "risk.sizing_method=quarter_kelly", "risk.kelly_min_trades=10"
    )
    service = make_service(store, SimClock(NOW), settings)
    warm = service.evaluate(candidate(underlying="AAA"), account())
    assert (warm.qty, warm.sizing_method) == (2, "fixed_fractional")
    add_trades(store, closed(9, -200))
    ready = service.evaluate(candidate(underlying="BBB"), account())
    assert (ready.qty, ready.sizing_method) == (6, "quarter_kelly")

"""Walk state read back from walk-step rows, and exit reasons of intents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agent.domain import ExitReason, OrderIntent, OrderPurpose, StructureKind, WalkStep
from agent.execution import walklog as wl
from agent.execution.records import FIXED_BOUND_PREFIX, exit_reason_of

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def steps(*outcomes: str) -> wl.WalkLog:
    return wl.WalkLog.of(
        [
            WalkStep(
                intent_id="i",
                step=n,
                at=T0 + timedelta(seconds=30 * n),
                limit_price=Decimal(n),
                natural_price=None,
                mid_price=None,
                spread_width=None,
                client_order_id=f"c{n}",
                outcome=outcome,
            )
            for n, outcome in enumerate(outcomes)
        ]
    )


def test_rounds_and_round_start() -> None:
    log = steps(wl.SUBMITTED, wl.REPLACED, wl.TIMEOUT, wl.CANCELED, wl.SUBMITTED, wl.PARTIAL)
    assert log.rounds == 2
    assert log.round_started_at == T0 + timedelta(seconds=120)
    assert log.last_price_step is not None and log.last_price_step.step == 4
    assert log.pending_control is None
    assert log.first_limit == Decimal(0)
    assert log.next_step == 6
    assert log.price_steps == 3


def test_pending_control_is_the_last_cancel_asked_for() -> None:
    assert steps(wl.SUBMITTED, wl.CANCEL_FOR_STEP).pending_control == wl.CANCEL_FOR_STEP
    assert steps(wl.SUBMITTED, wl.TIMEOUT, wl.PARTIAL).pending_control == wl.TIMEOUT
    assert steps(wl.SUBMITTED, wl.CANCEL_FOR_STEP, wl.RESUBMITTED).pending_control is None
    assert steps().pending_control is None and steps().next_step == 0


def test_floor_is_noted_once_per_round() -> None:
    assert steps(wl.SUBMITTED, wl.FLOOR_REACHED).floor_noted
    assert not steps(wl.SUBMITTED, wl.FLOOR_REACHED, wl.TIMEOUT, wl.SUBMITTED).floor_noted
    assert steps(wl.SUBMITTED, wl.ATTEMPTS_EXHAUSTED).exhausted


def intent(purpose: OrderPurpose, reason: str) -> OrderIntent:
    return OrderIntent(
        intent_id="i",
        trade_id="t",
        purpose=purpose,
        structure=StructureKind.BULL_PUT_SPREAD,
        legs=(),
        qty=1,
        start_price=Decimal(0),
        limit_bound=Decimal(0),
        natural_price=Decimal(0),
        mid_price=Decimal(0),
        reason=reason,
        created_at=T0,
    )


def test_exit_reasons() -> None:
    assert exit_reason_of(intent(OrderPurpose.CLOSE, "take_profit: 50%")) is ExitReason.TAKE_PROFIT
    assert exit_reason_of(intent(OrderPurpose.ROLL, "breach: x")) is ExitReason.ROLLED
    single = intent(OrderPurpose.CLOSE, f"{FIXED_BOUND_PREFIX}sell assigned stock")
    assert exit_reason_of(single) is ExitReason.MANUAL
    assert exit_reason_of(single, assigned=True) is ExitReason.ASSIGNED

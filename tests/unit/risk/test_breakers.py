"""Breakers: each trigger, each clear rule, manual controls, the kill switch, and a halt
written by a second RiskService on the same database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.adapters.persistence import open_store
from agent.clock import SimClock
from agent.domain import AlertLevel, OrderPurpose, TradeStatus, TradingState
from agent.risk import STATE_KEY
from agent.risk import breakers as br
from tests.unit.risk.helpers import (
    NOW,
    WIDE,
    RecordingAlerts,
    account,
    add_trades,
    candidate,
    failed_rules,
    make_service,
    make_settings,
    mark,
    memory_store,
    trade,
)

TUESDAY_OPEN = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
SATURDAY = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)


@pytest.fixture
def alerts() -> RecordingAlerts:
    return RecordingAlerts()


@pytest.fixture
def env(tmp_path: Path, alerts: RecordingAlerts):  # type: ignore[no-untyped-def]
    store = memory_store()
    clock = SimClock(NOW)
    settings = make_settings(tmp_path, *WIDE)
    service = make_service(store, clock, settings, alerts)
    return store, clock, settings, service


def _events(store, prefix: str = "risk."):  # type: ignore[no-untyped-def]
    with store.transaction() as tx:
        return tx.events.list(kind_prefix=prefix)


# --------------------------------------------------------------------------- pure transitions


def test_effective_state_is_the_most_severe_breaker() -> None:
    control = br.Control(since=NOW)
    control = br.trip(control, br.BreakerName.STALE_DATA, reason="old", at=NOW)
    assert control.effective()[0] is TradingState.REDUCING
    control = br.trip(control, br.BreakerName.MANUAL, reason="ops", at=NOW + timedelta(1))
    state, reason = control.effective()
    assert state is TradingState.HALTED and reason == "manual: ops"
    assert br.clear(control, br.BreakerName.MANUAL).effective()[0] is TradingState.REDUCING


def test_trip_keeps_the_first_reason_and_settle_lists_changes() -> None:
    before = br.Control(since=NOW)
    tripped = br.trip(before, br.BreakerName.MANUAL, reason="first", at=NOW)
    again = br.trip(tripped, br.BreakerName.MANUAL, reason="second", at=NOW)
    assert again is tripped
    later = NOW + timedelta(minutes=1)
    settled, changes = br.settle(before, tripped, now=later)
    assert settled.state is TradingState.HALTED and settled.since == later
    assert [c.kind for c in changes] == ["risk.breaker_tripped", "risk.state_changed"]
    state_change = changes[-1]
    assert state_change.level is AlertLevel.CRITICAL and state_change.alert
    assert not changes[0].alert  # the state change carries it
    unchanged, none = br.settle(settled, settled, now=later + timedelta(minutes=1))
    assert unchanged == settled and none == []


def test_control_document_round_trips() -> None:
    control = br.Control(since=NOW, peak_equity_usd=Decimal("123456.78"), peak_at=NOW)
    control = br.trip(
        control, br.BreakerName.DAILY_LOSS, reason="x", at=NOW, clear_at=TUESDAY_OPEN, value=1.5
    )
    control = br.settle(br.Control(since=NOW), control, now=NOW)[0]
    assert br.Control.decode(control.encode()) == control


def test_loss_streak_counts_each_trade_once_in_close_order() -> None:
    def closed(trade_id: str, minutes: int, pnl: int):  # type: ignore[no-untyped-def]
        return trade(
            trade_id,
            status=TradeStatus.CLOSED,
            closed_at=NOW + timedelta(minutes=minutes),
            realized_pnl=pnl,
        )

    streak = br.LossStreak().advance([closed("a", 1, -10), closed("b", 2, -10)])
    assert streak.count == 2
    assert streak.advance([closed("a", 1, -10), closed("b", 2, -10)]).count == 2
    streak = streak.advance([closed("c", 3, 5)])
    assert streak.count == 0  # a win ends the streak
    # A close recorded late (before the cursor) is still counted, once.
    streak = streak.advance([closed("late", 0, -1), closed("d", 4, -1)])
    assert streak.count == 2
    assert br.LossStreak.decode(streak.encode()) == streak


# --------------------------------------------------------------------------- automatic triggers


@pytest.mark.parametrize(
    ("equity", "halted"),
    [("95000.01", False), ("95000", True), ("94999.99", True)],
    ids=["under", "at", "over"],
)
def test_daily_loss_trips_at_the_limit(env, equity: str, halted: bool) -> None:  # type: ignore[no-untyped-def]
    _, _, _, service = env
    state = service.update(
        account=account(Decimal(equity), last_equity=100_000), marks=[], data_age_s=1.0
    )
    assert (state is TradingState.HALTED) is halted


def test_daily_loss_halts_until_the_next_session(env, alerts: RecordingAlerts) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, service = env
    assert (
        service.update(account=account(94_000, last_equity=100_000), marks=[], data_age_s=1.0)
        is TradingState.HALTED
    )
    assert alerts.sent[-1][:2] == (AlertLevel.CRITICAL, "trading state active → halted")
    breaker = service.view().breakers[0]
    assert breaker.name == "daily_loss" and breaker.clear_at == TUESDAY_OPEN
    clock.set(NOW + timedelta(hours=5))  # 15:00 ET: still halted
    assert service.trading_state() is TradingState.HALTED
    assert not service.evaluate(candidate(), account(94_000, last_equity=100_000)).approved
    clock.set(TUESDAY_OPEN)
    assert service.trading_state() is TradingState.ACTIVE
    kinds = [e.kind for e in _events(store)]
    assert kinds.count("risk.state_changed") == 2 and "risk.breaker_cleared" in kinds


@pytest.mark.parametrize(
    ("equity", "halted"),
    [(102_001, False), (102_000, True), (101_999, True)],
    ids=["under", "at", "over"],
)
def test_drawdown_trips_at_the_limit(env, equity: int, halted: bool) -> None:  # type: ignore[no-untyped-def]
    _, clock, _, service = env
    service.update(account=account(120_000), marks=[], data_age_s=1.0)
    clock.advance(timedelta(days=1))
    state = service.update(account=account(equity), marks=[], data_age_s=1.0)  # no daily loss
    assert (state is TradingState.HALTED) is halted


def test_drawdown_stays_until_resume_which_restarts_the_peak(env) -> None:  # type: ignore[no-untyped-def]
    _, clock, _, service = env
    service.update(account=account(120_000), marks=[], data_age_s=1.0)
    clock.advance(timedelta(days=1))
    service.update(account=account(100_000), marks=[], data_age_s=1.0)
    clock.advance(timedelta(days=3))
    assert service.trading_state() is TradingState.HALTED
    service.resume("drawdown reviewed")
    assert service.trading_state() is TradingState.ACTIVE
    assert service.view().peak_equity_usd == Decimal(100_000)
    assert service.update(account=account(100_000), marks=[], data_age_s=1.0) is TradingState.ACTIVE


def test_peak_equity_comes_back_from_account_snapshots(tmp_path: Path) -> None:
    store = memory_store()
    with store.transaction() as tx:
        tx.account_snapshots.add(account(130_000, as_of=NOW - timedelta(days=2)))
        tx.account_snapshots.add(account(125_000, as_of=NOW - timedelta(days=1)))
    service = make_service(store, SimClock(NOW), make_settings(tmp_path, *WIDE))
    assert service.view().peak_equity_usd == Decimal(130_000)
    # 110,000 is 15.4 % below 130,000.
    assert service.update(account=account(110_000), marks=[], data_age_s=1.0) is TradingState.HALTED


def _losses(store, n: int, start: int = 0, pnl: int = -100) -> None:  # type: ignore[no-untyped-def]
    add_trades(
        store,
        *(
            trade(
                f"loss{start + i}",
                status=TradeStatus.CLOSED,
                opened_at=NOW - timedelta(days=3),
                closed_at=NOW - timedelta(hours=10) + timedelta(minutes=start + i),
                realized_pnl=pnl,
            )
            for i in range(n)
        ),
    )


def test_consecutive_losses_reduce_and_need_a_resume(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, service = env
    _losses(store, 4)
    assert service.update(account=account(), marks=[], data_age_s=1.0) is TradingState.ACTIVE
    _losses(store, 1, start=4)
    assert service.update(account=account(), marks=[], data_age_s=1.0) is TradingState.REDUCING
    assert service.view().consecutive_losses == 5
    # REDUCING: no openings, rolls still allowed.
    opening = service.evaluate(candidate(underlying="ABC"), account())
    assert failed_rules(opening) == {"trading_state"}
    add_trades(store, trade("t1", qty=1))
    service.update(account=account(), marks=[mark("t1")], data_age_s=1.0)
    roll = service.evaluate(
        candidate(purpose=OrderPurpose.ROLL, rolled_from_trade_id="t1"), account()
    )
    assert roll.approved
    clock.advance(timedelta(days=2))
    assert service.trading_state() is TradingState.REDUCING
    service.resume()
    assert service.trading_state() is TradingState.ACTIVE
    assert service.view().consecutive_losses == 0
    _losses(store, 1, start=100)
    assert (
        service.update(account=account(), marks=[mark("t1", as_of=clock.now())], data_age_s=1.0)
        is TradingState.ACTIVE
    )
    assert service.view().consecutive_losses == 1


def test_a_win_resets_the_loss_streak(env) -> None:  # type: ignore[no-untyped-def]
    store, _, _, service = env
    _losses(store, 4)
    _losses(store, 1, start=4, pnl=50)
    _losses(store, 4, start=5)
    assert service.update(account=account(), marks=[], data_age_s=1.0) is TradingState.ACTIVE
    assert service.view().consecutive_losses == 4


def test_broker_errors_halt_at_the_limit_until_resume(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, service = env
    for _ in range(9):
        assert service.record_broker_error(kind="reject", message="x") is TradingState.ACTIVE
    assert service.record_broker_error(kind="5xx", message="y") is TradingState.HALTED
    assert service.view().broker_errors_today == 10
    clock.set(TUESDAY_OPEN)
    assert service.trading_state() is TradingState.HALTED  # manual clear only
    service.resume()
    assert service.record_broker_error(kind="reject", message="z") is TradingState.ACTIVE
    assert service.view().broker_errors_today == 1
    assert len(_events(store, "risk.broker_error")) == 11


def test_auth_failure_halts_until_resume(env, alerts: RecordingAlerts) -> None:  # type: ignore[no-untyped-def]
    _, clock, _, service = env
    assert service.record_auth_failure("401 from broker") is TradingState.HALTED
    assert alerts.sent[-1][0] is AlertLevel.CRITICAL and "401" in alerts.sent[-1][2]
    clock.set(TUESDAY_OPEN)
    assert service.trading_state() is TradingState.HALTED
    service.resume()
    assert service.trading_state() is TradingState.ACTIVE


@pytest.mark.parametrize(
    ("age_s", "reducing"),
    [(899.0, False), (900.0, False), (900.5, True)],
    ids=["under", "at", "over"],
)
def test_stale_data_trips_only_when_older_than_the_limit(env, age_s: float, reducing: bool) -> None:  # type: ignore[no-untyped-def]
    _, _, _, service = env
    state = service.update(account=account(), marks=[], data_age_s=age_s)
    assert (state is TradingState.REDUCING) is reducing


def test_stale_data_clears_when_fresh_or_when_the_market_closes(
    env, alerts: RecordingAlerts
) -> None:  # type: ignore[no-untyped-def]
    _, clock, _, service = env
    assert service.update(account=account(), marks=[], data_age_s=5000.0) is TradingState.REDUCING
    assert alerts.sent[-1][0] is AlertLevel.WARNING
    assert service.update(account=account(), marks=[], data_age_s=None) is TradingState.REDUCING
    assert service.update(account=account(), marks=[], data_age_s=3.0) is TradingState.ACTIVE
    assert service.update(account=account(), marks=[], data_age_s=5000.0) is TradingState.REDUCING
    clock.set(SATURDAY)
    assert service.update(account=account(), marks=[], data_age_s=99_999.0) is TradingState.ACTIVE


# --------------------------------------------------------------------------- manual controls


def test_kill_switch_halts_while_the_file_exists(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, settings, service = env
    kill = settings.risk.kill_switch_file
    assert kill.parent == tmp_path
    kill.touch()
    assert service.trading_state() is TradingState.HALTED
    decision = service.evaluate(candidate(), account())
    assert failed_rules(decision) == {"trading_state"}
    assert "kill-switch" in next(r for r in decision.checks if r.rule == "trading_state").message
    service.resume()
    assert service.trading_state() is TradingState.HALTED  # the file is still there
    kill.unlink()
    assert service.trading_state() is TradingState.ACTIVE
    assert service.evaluate(candidate(), account()).approved


def test_halt_and_resume(env, alerts: RecordingAlerts) -> None:  # type: ignore[no-untyped-def]
    store, _, _, service = env
    service.halt("maintenance")
    assert service.trading_state() is TradingState.HALTED
    assert not service.flatten_requested()
    view = service.view()
    assert view.state_reason == "manual: maintenance"
    roll = service.evaluate(candidate(purpose=OrderPurpose.ROLL), account())
    assert "trading_state" in failed_rules(roll)  # HALTED blocks rolls too
    service.resume("done")
    assert service.trading_state() is TradingState.ACTIVE
    kinds = [e.kind for e in _events(store)]
    assert "risk.resumed" in kinds and kinds.count("risk.state_changed") == 2
    assert [level for level, _, _ in alerts.sent] == [AlertLevel.CRITICAL, AlertLevel.WARNING]


def test_flatten_flag(env, alerts: RecordingAlerts) -> None:  # type: ignore[no-untyped-def]
    _, _, _, service = env
    service.request_flatten("risk off")
    assert service.flatten_requested() and service.trading_state() is TradingState.HALTED
    assert any(title == "flatten requested" for title in alerts.titles())
    service.clear_flatten()
    assert not service.flatten_requested()
    assert service.trading_state() is TradingState.HALTED  # the halt stays until resume
    service.halt("again", flatten=True)
    assert service.flatten_requested()
    service.resume()
    assert not service.flatten_requested() and service.trading_state() is TradingState.ACTIVE


def test_halt_from_a_second_service_is_seen_by_the_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = make_settings(tmp_path, *WIDE)
    agent_store, cli_store = open_store(url), open_store(url)
    clock = SimClock(NOW)
    try:
        running = make_service(agent_store, clock, settings)
        assert running.evaluate(candidate(), account()).approved
        cli = make_service(cli_store, clock, settings)
        cli.halt("from the CLI", flatten=True)
        assert running.trading_state() is TradingState.HALTED
        assert running.flatten_requested()
        denied = running.evaluate(candidate(underlying="ABC"), account())
        assert failed_rules(denied) == {"trading_state"}
        cli.resume()
        assert running.trading_state() is TradingState.ACTIVE
    finally:
        agent_store.close()
        cli_store.close()


def test_state_survives_a_restart(tmp_path: Path) -> None:
    store = memory_store()
    clock = SimClock(NOW)
    settings = make_settings(tmp_path, *WIDE)
    first = make_service(store, clock, settings)
    first.update(account=account(), marks=[], data_age_s=5000.0)
    first.halt("ops", flatten=True)
    clock.advance(timedelta(minutes=5))
    second = make_service(store, clock, settings)
    assert second.trading_state() is TradingState.HALTED and second.flatten_requested()
    assert {b.name for b in second.view().breakers} == {"stale_data", "manual"}
    with store.transaction() as tx:
        document = tx.state.get(STATE_KEY)
    assert document is not None and document["state"] == "halted"


def test_an_alert_channel_failure_does_not_undo_a_halt(tmp_path: Path) -> None:
    class Broken:
        def send(self, *, level: AlertLevel, title: str, body: str) -> None:
            raise RuntimeError("smtp down")

    store = memory_store()
    from agent.calendar import market_calendar
    from agent.risk import RiskService

    service = RiskService(
        store=store,
        clock=SimClock(NOW),
        settings=make_settings(tmp_path, *WIDE),
        alerts=Broken(),
        calendar=market_calendar(),
    )
    service.halt("x")
    assert service.trading_state() is TradingState.HALTED

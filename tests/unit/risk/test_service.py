"""RiskService end to end on a real store: decisions as records, reservations between
approvals, every limit reachable through ``evaluate``, and the view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.clock import SimClock
from agent.domain import (
    DecisionOutcome,
    DecisionStage,
    OrderPurpose,
    StructureKind,
    TradeStatus,
    TradingState,
)
from agent.risk import APPROVALS_KEY, MARKS_KEY
from tests.unit.risk.helpers import (
    NOW,
    WIDE,
    account,
    add_trades,
    candidate,
    failed_rules,
    make_service,
    make_settings,
    mark,
    memory_store,
    trade,
    update_trades,
)

D = Decimal


def _service(tmp_path: Path, *overrides: str, store=None, clock=None):  # type: ignore[no-untyped-def]
    store = store or memory_store()
    clock = clock or SimClock(NOW)
    return store, clock, make_service(store, clock, make_settings(tmp_path, *WIDE, *overrides))


def test_a_decision_and_its_record_are_stored_together(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path)
    cand = candidate()
    decision = service.evaluate(cand, account())
    assert decision.approved and decision.qty == 2
    assert decision.limit_bound == cand.net_price_natural
    assert all(r.passed for r in decision.checks)
    with store.transaction() as tx:
        stored = tx.risk_decisions.get(decision.decision_id)
        records = tx.decisions.list(scan_id="scan-1")
        approvals = tx.state.get(APPROVALS_KEY)
    assert stored == decision
    assert len(records) == 1
    record = records[0]
    assert record.stage is DecisionStage.RISK and record.outcome is DecisionOutcome.ACCEPTED
    assert record.candidate_id == cand.candidate_id and record.reasons == decision.checks
    assert record.metrics["qty"] == 2 and record.metrics["heat_after_usd"] == 800.0
    assert (
        approvals is not None and approvals["approvals"][0]["decision_id"] == decision.decision_id
    )


def test_a_denial_is_a_value_with_reasons_and_a_record(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path, "risk.max_trades_per_day=1")
    service.evaluate(candidate(), account())
    denied = service.evaluate(candidate(underlying="ABC"), account())
    assert not denied.approved and denied.qty == 0
    (reason,) = denied.denials
    assert (reason.rule, reason.value, reason.limit) == ("max_trades_per_day", 2, 1)
    assert denied.summary().startswith("denied: trades today incl. this one 2 > limit 1")
    with store.transaction() as tx:
        outcomes = [r.outcome for r in tx.decisions.list()]
    assert outcomes == [DecisionOutcome.ACCEPTED, DecisionOutcome.REJECTED]


def test_closing_orders_are_not_risk_checked(tmp_path: Path) -> None:
    _, _, service = _service(tmp_path)
    decision = service.evaluate(candidate(purpose=OrderPurpose.CLOSE), account())
    assert not decision.approved and failed_rules(decision) == {"purpose"}


# --------------------------------------------------------------------------- reservations


def test_two_approvals_in_one_cycle_cannot_together_breach_heat(tmp_path: Path) -> None:
    # 20 % risk per trade → each candidate wants 50 units ($20,000); heat allows $30,000.
    _, _, service = _service(
        tmp_path,
        "risk.risk_per_trade_pct=20",
        "risk.max_symbol_concentration_pct=100",
        "risk.max_sector_concentration_pct=100",
    )
    first = service.evaluate(candidate(underlying="AAA"), account())
    second = service.evaluate(candidate(underlying="BBB"), account())
    third = service.evaluate(candidate(underlying="CCC"), account())
    assert (first.qty, second.qty) == (50, 25)
    assert not third.approved and "max_portfolio_heat_pct" in failed_rules(third)


def test_reservation_ends_when_the_trade_appears(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path, "risk.max_trades_per_day=2")
    decision = service.evaluate(candidate(), account())
    view = service.view()
    assert (view.trades_today, view.approvals_in_flight, view.heat_usd) == (1, 1, D(800))
    # Execution writes the trade with the decision id: counted once, not twice.
    add_trades(
        store,
        trade(
            "t1",
            qty=decision.qty,
            max_loss_usd=800,
            status=TradeStatus.PENDING,
            risk_decision_id=decision.decision_id,
        ),
    )
    view = service.view()
    assert (view.trades_today, view.approvals_in_flight, view.heat_usd) == (1, 0, D(800))
    assert view.stale_trade_ids == ()  # priced by its approval until the first mark
    assert service.evaluate(candidate(underlying="ABC"), account()).approved


def test_reservation_is_released_after_the_timeout(tmp_path: Path) -> None:
    _, clock, service = _service(tmp_path, "risk.max_trades_per_day=1")
    assert service.evaluate(candidate(), account()).approved
    assert not service.evaluate(candidate(underlying="ABC"), account()).approved
    # fill_timeout_s (300) + 60 s grace without the trade appearing: released.
    clock.advance(timedelta(seconds=361))
    assert service.evaluate(candidate(underlying="ABC"), account()).approved


def test_reservations_survive_a_restart(tmp_path: Path) -> None:
    store, clock, service = _service(tmp_path, "risk.max_trades_per_day=1")
    assert service.evaluate(candidate(), account()).approved
    restarted = make_service(
        store, clock, make_settings(tmp_path, *WIDE, "risk.max_trades_per_day=1")
    )
    assert failed_rules(restarted.evaluate(candidate(underlying="ABC"), account())) == {
        "max_trades_per_day"
    }


def test_buying_power_counts_capital_reserved_by_approvals(tmp_path: Path) -> None:
    _, _, service = _service(tmp_path, "risk.risk_per_trade_pct=5")
    acct = account(100_000, options_buying_power=5_000)
    first = service.evaluate(candidate(), acct)  # target 12 units of $400; $5,000 allows 12
    assert first.qty == 12
    second = service.evaluate(candidate(underlying="ABC"), acct)  # $200 left → none
    assert not second.approved and "buying_power" in failed_rules(second)
    bp = next(r for r in second.checks if r.rule == "buying_power")
    assert bp.limit == 200.0


# --------------------------------------------------------------------------- limits through evaluate


def test_trades_per_day_counts_the_et_day_from_the_store(tmp_path: Path) -> None:
    store, _clock, service = _service(tmp_path, "risk.max_trades_per_day=2")
    yesterday_evening = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 23:00 ET on Sunday
    add_trades(
        store,
        trade("old", underlying="OLD", opened_at=yesterday_evening, status=TradeStatus.CLOSED),
        trade("canceled", underlying="CXL", status=TradeStatus.CANCELED),
        trade("t1", underlying="AAA", status=TradeStatus.CLOSED),
    )
    assert service.evaluate(candidate(), account()).approved  # t1 + this = 2
    assert failed_rules(service.evaluate(candidate(underlying="ABC"), account())) == {
        "max_trades_per_day"
    }


def test_positions_per_symbol_and_rolls(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path)
    add_trades(store, trade("t1"), trade("t2", opened_at=NOW - timedelta(days=1)))
    service.update(account=account(), marks=[mark("t1"), mark("t2")], data_age_s=1.0)
    denied = service.evaluate(candidate(), account())
    assert failed_rules(denied) == {"max_positions_per_symbol"}
    assert service.evaluate(candidate(underlying="ABC"), account()).approved
    # A roll replaces a position: it does not count as another one.
    roll = service.evaluate(
        candidate(purpose=OrderPurpose.ROLL, rolled_from_trade_id="t1"), account()
    )
    assert roll.approved and roll.qty == 1


def test_max_risk_per_trade_denies_one_unit_above_it(tmp_path: Path) -> None:
    _, _, service = _service(tmp_path, "risk.risk_per_trade_pct=100")
    # A cash-secured put with $25,000 capital/max loss per unit, 20 % of $100,000 = $20,000.
    decision = service.evaluate(
        candidate(
            strategy=StructureKind.CASH_SECURED_PUT,
            max_loss_usd=D(25_000),
            capital_usd=D(25_000),
        ),
        account(),
    )
    assert "max_risk_per_trade_pct" in failed_rules(decision)


def test_daily_loss_denies_openings_before_the_breaker_runs(tmp_path: Path) -> None:
    _, _, service = _service(tmp_path)
    decision = service.evaluate(candidate(), account(95_000, last_equity=100_000))
    assert failed_rules(decision) == {"max_daily_loss_pct"}
    assert service.trading_state() is TradingState.ACTIVE


def test_symbol_and_sector_concentration(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path, "risk.risk_per_trade_pct=10")
    # Sector technology: AAPL and MSFT (settings.universe.sectors). Limit $9,000.
    add_trades(store, trade("t1", underlying="AAPL", max_loss_usd=8_000))
    service.update(account=account(), marks=[mark("t1", underlying="AAPL")], data_age_s=1.0)
    msft = service.evaluate(candidate(underlying="MSFT"), account())
    assert msft.approved and msft.qty == 2  # $800 more → $8,800 ≤ $9,000
    sizing = next(r for r in msft.checks if r.rule == "sizing")
    assert "capped by max_sector_concentration_pct" in sizing.message
    # An unknown symbol is its own sector.
    other = service.evaluate(candidate(underlying="ZZZ"), account())
    assert other.qty == 22  # symbol/sector limit $9,000 / $400
    sector = next(r for r in other.checks if r.rule == "max_sector_concentration_pct")
    assert "sector ZZZ" in sector.message


def test_pdt_awareness_under_25k(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path, "risk.max_day_trades_5d_under_threshold=1")
    small = account(20_000)
    friday = datetime(2026, 2, 27, 15, 0, tzinfo=UTC)
    add_trades(
        store,
        trade(
            "dt1",
            underlying="AAA",
            opened_at=friday,
            closed_at=friday + timedelta(hours=2),
            status=TradeStatus.CLOSED,
        ),
    )
    decision = service.evaluate(candidate(underlying="ABC", max_loss_usd=D(100)), small)
    assert failed_rules(decision) == {"pdt_day_trades"}
    assert service.evaluate(
        candidate(underlying="ABC", max_loss_usd=D(100)), account(25_000)
    ).approved


def test_pdt_window_is_five_sessions(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path, "risk.max_day_trades_5d_under_threshold=1")
    # Monday 23 Feb is the 6th session back from Monday 2 March: outside the window.
    monday_before = datetime(2026, 2, 23, 15, 0, tzinfo=UTC)
    add_trades(
        store,
        trade(
            "dt-old",
            underlying="AAA",
            opened_at=monday_before,
            closed_at=monday_before + timedelta(hours=1),
            status=TradeStatus.CLOSED,
        ),
    )
    assert service.evaluate(candidate(max_loss_usd=D(100)), account(20_000)).approved


# --------------------------------------------------------------------------- marks and the view


def test_marks_are_persisted_and_pruned_to_live_trades(tmp_path: Path) -> None:
    store, clock, service = _service(tmp_path)
    add_trades(store, trade("t1"), trade("t2", underlying="SPY"))
    service.update(
        account=account(),
        marks=[mark("t1"), mark("t2", underlying="SPY", spot=500.0, legs=None)],
        data_age_s=2.0,
    )
    update_trades(store, trade("t1", status=TradeStatus.CLOSED, closed_at=NOW))
    clock.advance(timedelta(minutes=1))
    service.update(account=account(), marks=[], data_age_s=2.0)
    assert [m.trade_id for m in service.latest_marks()] == ["t2"]
    with store.transaction() as tx:
        document = tx.state.get(MARKS_KEY)
    assert document is not None and [m["trade_id"] for m in document["marks"]] == ["t2"]
    assert document["reference_spot"] == 500.0


def test_view_reports_exposure_limits_greeks_and_stress(tmp_path: Path) -> None:
    store, _, service = _service(tmp_path)
    add_trades(
        store,
        trade("t1", underlying="AAPL", qty=5, max_loss_usd=2_000),
        trade("t2", underlying="KO", qty=2, max_loss_usd=800),
    )
    service.update(
        account=account(99_000, last_equity=100_000),
        marks=[mark("t1", underlying="AAPL", qty=5), mark("t2", underlying="KO", qty=2)],
        data_age_s=2.0,
    )
    service.evaluate(candidate(underlying="MSFT"), account(99_000, last_equity=100_000))
    view = service.view()
    assert view.state is TradingState.ACTIVE and not view.flatten_requested
    assert view.equity_usd == D(99_000) and view.daily_pnl_usd == D(-1000)
    assert view.daily_loss_limit_usd == D(5000) and view.daily_loss_used_pct == pytest.approx(20.0)
    assert view.heat_usd == D(3_600)  # 2,000 + 800 + MSFT approval 2 × 400
    assert view.heat_pct_of_equity == pytest.approx(3600 / 99_000 * 100)
    assert [line.name for line in view.by_symbol] == ["AAPL", "KO", "MSFT"]
    tech = next(line for line in view.by_sector if line.name == "technology")
    assert tech.max_loss_usd == D(2_800) and tech.positions == 2
    limits = {u.rule: u for u in view.limits}
    assert limits["max_trades_per_day"].value == 3
    assert limits["max_portfolio_heat_pct"].used_pct == pytest.approx(3600 / 29_700 * 100)
    assert {g.name for g in view.greeks} == {
        "max_abs_beta_delta_shares",
        "max_abs_gamma_shares",
        "max_abs_vega_usd",
        "min_theta_usd",
    }
    assert len(view.stress) == 5 and view.worst_stress_loss_usd > 0
    assert view.worst_stress_scenario.startswith("spot -10%")
    assert view.stress_limit_usd == pytest.approx(99_000 * 1.0)  # WIDE: 100 %
    text = "\n".join(view.lines())
    assert "trading state: ACTIVE" in text and "stress: worst loss" in text

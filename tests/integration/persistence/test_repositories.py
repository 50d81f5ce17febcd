"""Every repository method round-trips domain values exactly and filters correctly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from agent.adapters.persistence import SqlStore
from agent.domain import (
    DecisionOutcome,
    OrderPurpose,
    OrderStatus,
    PositionStatus,
    Side,
    StructureKind,
    TradeStatus,
    client_order_id_for,
)
from agent.errors import InvariantViolation

from . import builders as b


def _assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is UTC


# --------------------------------------------------------------------------- trades


def test_trade_round_trips_every_field(store: SqlStore) -> None:
    original = b.trade()
    with store.transaction() as tx:
        tx.trades.add(original)
    with store.transaction() as tx:
        stored = tx.trades.get("T-1")
    assert stored == original
    assert stored is not None
    _assert_utc(stored.opened_at)
    assert stored.strategy is StructureKind.BULL_PUT_SPREAD
    assert stored.reason_tags == ("iv_rich", "trend_up")
    assert isinstance(stored.reason_tags, tuple)
    assert stored.entry_net_price == Decimal("-1.234567")
    assert str(stored.capital_usd) == "1129.630001"
    assert stored.params["nested"] == {"$weird key": None, "expiry": date(2026, 4, 17)}
    assert isinstance(stored.params["width"], Decimal)


def test_trade_update_closes_it(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.trades.update(b.closed_trade())
    with store.transaction() as tx:
        stored = tx.trades.get("T-1")
    assert stored == b.closed_trade()
    assert stored is not None
    _assert_utc(stored.closed_at)
    assert stored.exit_reason is not None and stored.exit_reason.value == "take_profit"


def test_trade_get_unknown_is_none_and_update_unknown_is_an_invariant_violation(
    store: SqlStore,
) -> None:
    with store.transaction() as tx:
        assert tx.trades.get("nope") is None
    with pytest.raises(InvariantViolation, match="never stored"), store.transaction() as tx:
        tx.trades.update(b.trade("nope"))


def test_trade_added_twice_is_an_invariant_violation(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.trades.add(b.trade())
    with pytest.raises(InvariantViolation, match="T-1"), store.transaction() as tx:
        tx.trades.add(b.trade())


def test_trade_list_filters(store: SqlStore) -> None:
    spy_open = b.trade("T-1")
    qqq_pending = b.trade("T-2", underlying="QQQ", status=TradeStatus.PENDING, opened_at=b.at(5))
    spy_closed = b.closed_trade("T-3", opened_at=b.at(-60 * 24 * 20))
    rolled = b.trade("T-4", opened_at=b.at(10), rolled_from_trade_id="T-3")
    with store.transaction() as tx:
        for trade in (spy_open, qqq_pending, spy_closed, rolled):
            tx.trades.add(trade)
    with store.transaction(read_only=True) as tx:
        assert [t.trade_id for t in tx.trades.list()] == ["T-3", "T-1", "T-2", "T-4"]
        open_ids = [t.trade_id for t in tx.trades.list(statuses=[TradeStatus.OPEN])]
        assert open_ids == ["T-1", "T-4"]
        live = tx.trades.list(statuses={TradeStatus.OPEN, TradeStatus.PENDING}, underlying="QQQ")
        assert live == [qqq_pending]
        assert tx.trades.list(statuses=[]) == []
        assert [t.trade_id for t in tx.trades.list(underlying="SPY")] == ["T-3", "T-1", "T-4"]
        # T-3 closed at T0 + 9 days (written in +05:30; compared as an instant)
        assert tx.trades.list(closed_since=b.at(60 * 24 * 9)) == [spy_closed]
        assert tx.trades.list(closed_since=b.at(60 * 24 * 9 + 1)) == []
        # opened_since is inclusive and compares instants, whatever the time zone
        later = [t.trade_id for t in tx.trades.list(opened_since=b.at(5).astimezone(b.PLUS_0530))]
        assert later == ["T-2", "T-4"]
        assert tx.trades.get("T-4") == rolled


def test_trade_rolled_from_unknown_trade_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.trades.add(b.trade("T-9", rolled_from_trade_id="missing"))


# --------------------------------------------------------------------------- positions


def test_position_upsert_inserts_then_replaces(store: SqlStore) -> None:
    first = b.leg()
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.positions.upsert(first)
        tx.positions.upsert(b.stock_leg())
    with store.transaction() as tx:
        assert tx.positions.get("P-1") == first
        assert tx.positions.get("P-stock") == b.stock_leg()
        closed = replace(
            first,
            status=PositionStatus.CLOSED,
            exit_price=Decimal("0.4"),
            realized_pnl=Decimal("525"),
            unrealized_pnl=Decimal(0),
            current_delta=None,
            closed_at=b.at(600),
        )
        tx.positions.upsert(closed)
    with store.transaction() as tx:
        stored = tx.positions.get("P-1")
        assert stored == closed
        assert stored is not None
        _assert_utc(stored.closed_at)
        # replacing keeps the leg's place in the listing
        assert [p.position_id for p in tx.positions.list()] == ["P-1", "P-stock"]
        assert tx.positions.get("P-unknown") is None


def test_position_update_marks_touches_only_the_mark_columns(store: SqlStore) -> None:
    leg = b.leg()
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.positions.upsert(leg)
    with store.transaction() as tx:
        tx.positions.update_marks("P-1", current_delta=-0.42, unrealized_pnl=Decimal("-37.5"))
    with store.transaction() as tx:
        assert tx.positions.get("P-1") == replace(
            leg, current_delta=-0.42, unrealized_pnl=Decimal("-37.5")
        )
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.positions.update_marks("P-unknown", current_delta=None, unrealized_pnl=Decimal(0))


def test_position_list_filters(store: SqlStore) -> None:
    legs = [
        b.leg("P-1"),
        b.leg("P-2", symbol="SPY260417P00495000", side=Side.BUY, strike=Decimal("495")),
        b.leg("P-3", trade_id="T-2", status=PositionStatus.CLOSED),
    ]
    with store.transaction() as tx:
        tx.trades.add(b.trade("T-1"))
        tx.trades.add(b.trade("T-2"))
        for value in legs:
            tx.positions.upsert(value)
    with store.transaction() as tx:
        assert tx.positions.list() == legs
        assert tx.positions.list(trade_id="T-1") == legs[:2]
        assert tx.positions.list(status=PositionStatus.OPEN) == legs[:2]
        assert tx.positions.list(status=PositionStatus.CLOSED) == [legs[2]]
        assert tx.positions.list(symbol="SPY260417P00500000") == [legs[0], legs[2]]
        assert tx.positions.list(trade_id="T-2", status=PositionStatus.OPEN) == []


def test_position_needs_its_trade(store: SqlStore) -> None:
    with pytest.raises(InvariantViolation, match="P-1"), store.transaction() as tx:
        tx.positions.upsert(b.leg(trade_id="no-such-trade"))


# --------------------------------------------------------------------------- orders


def test_intent_round_trip_update_and_list(store: SqlStore) -> None:
    first = b.intent("I-1")
    close = b.intent(
        "I-2",
        trade_id="T-2",
        purpose=OrderPurpose.ROLL,
        closes_trade_id="T-1",
        created_at=b.at(30),
        status=OrderStatus.NEW,
    )
    with store.transaction() as tx:
        tx.trades.add(b.trade("T-1"))
        tx.trades.add(b.trade("T-2"))
        tx.orders.add_intent(first)
        tx.orders.add_intent(close)
    with store.transaction() as tx:
        stored = tx.orders.get_intent("I-1")
        assert stored == first
        assert stored is not None
        assert stored.legs == b.order_legs()
        assert stored.client_order_id == client_order_id_for("I-1", 0)
        assert tx.orders.get_intent("I-x") is None
        retried = replace(first, attempt=1, status=OrderStatus.UNKNOWN)
        tx.orders.update_intent(retried)
    with store.transaction() as tx:
        assert tx.orders.get_intent("I-1") == retried
        assert tx.orders.list_intents() == [retried, close]
        assert tx.orders.list_intents(statuses=[OrderStatus.UNKNOWN]) == [retried]
        assert tx.orders.list_intents(statuses=[OrderStatus.NEW, OrderStatus.UNKNOWN]) == [
            retried,
            close,
        ]
        assert tx.orders.list_intents(trade_id="T-2") == [close]
        assert tx.orders.list_intents(trade_id="T-2", statuses=[OrderStatus.PENDING]) == []


def test_intent_update_of_unknown_intent_is_refused(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.trades.add(b.trade())
    with pytest.raises(InvariantViolation, match="I-1"), store.transaction() as tx:
        tx.orders.update_intent(b.intent())


def test_intent_needs_its_trade(store: SqlStore) -> None:
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.orders.add_intent(b.intent(trade_id="missing"))


def test_order_upsert_by_client_order_id(store: SqlStore) -> None:
    attempt0 = b.order(client_order_id_for("I-1", 0), status=OrderStatus.UNKNOWN, order_id=None)
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.orders.add_intent(b.intent())
        tx.orders.upsert_order(attempt0)
    with store.transaction() as tx:
        assert tx.orders.get_order_by_client_id(attempt0.client_order_id) == attempt0
        assert tx.orders.get_order("broker-1") is None
        resolved = replace(attempt0, status=OrderStatus.FILLED, order_id="broker-1", filled_qty=3)
        tx.orders.upsert_order(resolved)
        replacement = b.order(
            client_order_id_for("I-1", 1),
            order_id="broker-2",
            replaces_order_id="broker-1",
            status=OrderStatus.NEW,
            filled_qty=0,
            filled_avg_price=None,
            legs_filled=(),
        )
        tx.orders.upsert_order(replacement)
    with store.transaction() as tx:
        orders = tx.orders.list_orders()
        assert orders == [resolved, replacement]  # one row per client id, first-stored order
        assert tx.orders.get_order_by_client_id(attempt0.client_order_id) == resolved
        assert tx.orders.get_order("broker-1") == resolved
        assert tx.orders.get_order("broker-2") == replacement
        assert tx.orders.get_order_by_client_id("unknown") is None
        assert tx.orders.list_orders(intent_id="I-1") == [resolved, replacement]
        assert tx.orders.list_orders(statuses=[OrderStatus.NEW]) == [replacement]
        assert tx.orders.list_orders(intent_id="other") == []
        stored = tx.orders.get_order("broker-1")
        assert stored is not None
        assert stored.legs_filled == (
            ("SPY260417P00500000", 1, Decimal("2.15")),
            ("SPY260417P00495000", 1, None),
        )
        _assert_utc(stored.updated_at)


def test_external_order_has_no_intent(store: SqlStore) -> None:
    external = b.order("ext-1", intent_id=None, external=True, reject_reason=None)
    with store.transaction() as tx:
        tx.orders.upsert_order(external)
    with store.transaction() as tx:
        assert tx.orders.list_orders() == [external]
        assert tx.orders.list_orders(intent_id="I-1") == []


def test_walk_steps_by_step_number(store: SqlStore) -> None:
    steps = [b.walk_step(step=2), b.walk_step(step=0), b.walk_step(step=1)]
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.orders.add_intent(b.intent())
        tx.orders.add_intent(b.intent("I-2", created_at=b.at(3)))
        for step in steps:
            tx.orders.add_walk_step(step)
        tx.orders.add_walk_step(b.walk_step("I-2", 0))
    with store.transaction() as tx:
        stored = tx.orders.list_walk_steps("I-1")
        assert stored == sorted(steps, key=lambda s: s.step)
        assert stored[0].mid_price is None
        _assert_utc(stored[0].at)
        assert tx.orders.list_walk_steps("I-2") == [b.walk_step("I-2", 0)]
        assert tx.orders.list_walk_steps("none") == []


# --------------------------------------------------------------------------- fills


def test_fill_add_is_idempotent(store: SqlStore) -> None:
    first = b.fill("F-1")
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        assert tx.fills.add(first, trade_id="T-1") is True
        assert tx.fills.add(first, trade_id="T-1") is False
    with store.transaction() as tx:
        # a different payload under the same id changes nothing
        assert tx.fills.add(replace(first, qty=99), trade_id=None) is False
        assert tx.fills.list() == [first]


def test_fill_list_filters(store: SqlStore) -> None:
    f1 = b.fill("F-1")
    f2 = b.fill("F-2", symbol="SPY260417P00495000", side=Side.BUY, filled_at=b.at(0.7))
    f3 = b.fill("F-3", order_id="broker-9", position_intent=None, fee_usd=Decimal(0))
    with store.transaction() as tx:
        tx.trades.add(b.trade())
        tx.fills.add(f1, trade_id="T-1")
        tx.fills.add(f2, trade_id="T-1")
        tx.fills.add(f3, trade_id=None)
    with store.transaction() as tx:
        assert tx.fills.list() == [f2, f1, f3]  # by execution time
        assert tx.fills.list(trade_id="T-1") == [f2, f1]
        assert tx.fills.list(order_id="broker-9") == [f3]
        assert tx.fills.list(trade_id="T-1", order_id="broker-9") == []
        _assert_utc(tx.fills.list()[0].filled_at)


def test_fill_for_unknown_trade_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.fills.add(b.fill(), trade_id="missing")


# --------------------------------------------------------------------------- decisions


def test_decisions_round_trip_and_filters(store: SqlStore) -> None:
    records = [
        b.decision("D-1", underlying="SPY", scan_id="S-1", decided_at=b.at(0)),
        b.decision("D-2", underlying="QQQ", scan_id="S-1", decided_at=b.at(0)),
        b.decision(
            "D-3",
            underlying="SPY",
            scan_id="S-2",
            decided_at=b.at(5),
            outcome=DecisionOutcome.ACCEPTED,
            strategy=None,
            candidate_id=None,
            reasons=(),
            metrics={},
        ),
        b.decision("D-4", underlying="SPY", scan_id="S-3", decided_at=b.at(10)),
    ]
    with store.transaction() as tx:
        tx.decisions.add_many(records)
        tx.decisions.add_many([])
    with store.transaction(read_only=True) as tx:
        assert tx.decisions.list() == records
        stored = tx.decisions.list(scan_id="S-1")
        assert stored == records[:2]
        assert stored[0].reasons == b.reasons()
        assert stored[0].failed_reasons[0].rule == "earnings_blackout"
        assert isinstance(stored[0].reasons[2].value, int)
        assert stored[0].reasons[3].value is True
        assert tx.decisions.list(underlying="SPY") == [records[0], records[2], records[3]]
        assert tx.decisions.list(underlying="SPY", since=b.at(5)) == records[2:]
        assert tx.decisions.list(until=b.at(5)) == records[:2]
        assert tx.decisions.list(since=b.at(0), until=b.at(10)) == records[:3]
        # limit keeps the most recent rows, still oldest first
        assert tx.decisions.list(limit=2) == records[2:]
        assert tx.decisions.list(underlying="SPY", limit=1) == [records[3]]
        assert tx.decisions.list(limit=0) == []


def test_duplicate_decision_id_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.decisions.add_many([b.decision("D-1"), b.decision("D-1")])
    with store.transaction() as tx:
        assert tx.decisions.list() == []


# --------------------------------------------------------------------------- risk decisions


def test_risk_decision_round_trip(store: SqlStore) -> None:
    denied = b.risk_decision("R-1")
    approved = b.risk_decision("R-2", approved=True, qty=2, checks=(), limit_bound=None)
    with store.transaction() as tx:
        tx.risk_decisions.add(denied)
        tx.risk_decisions.add(approved)
    with store.transaction() as tx:
        stored = tx.risk_decisions.get("R-1")
        assert stored == denied
        assert stored is not None
        assert stored.summary() == "denied: earnings"
        assert tx.risk_decisions.get("R-2") == approved
        assert tx.risk_decisions.get("R-3") is None


# --------------------------------------------------------------------------- IV history


def test_iv_history_one_row_per_symbol_and_day_latest_wins(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.iv_history.upsert("SPY", date(2026, 3, 3), 0.18)
        tx.iv_history.upsert("SPY", date(2026, 3, 2), 0.2)
        tx.iv_history.upsert("QQQ", date(2026, 3, 2), 0.25)
    with store.transaction() as tx:
        tx.iv_history.upsert("SPY", date(2026, 3, 2), 0.2123456789)
    with store.transaction() as tx:
        assert tx.iv_history.series("SPY") == [
            (date(2026, 3, 2), 0.2123456789),
            (date(2026, 3, 3), 0.18),
        ]
        assert tx.iv_history.series("SPY", since=date(2026, 3, 3)) == [(date(2026, 3, 3), 0.18)]
        assert tx.iv_history.series("QQQ") == [(date(2026, 3, 2), 0.25)]
        assert tx.iv_history.series("IWM") == []


def test_iv_history_upsert_many_in_chunks_latest_wins(store: SqlStore) -> None:
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(700)]  # > two statements
    with store.transaction() as tx:
        tx.iv_history.upsert("SPY", days[5], 0.5)
        tx.iv_history.upsert_many("SPY", [(d, 0.1 + i / 10_000) for i, d in enumerate(days)])
        tx.iv_history.upsert_many("SPY", [(days[0], 0.3), (days[0], 0.31)])
        tx.iv_history.upsert_many("SPY", [])
    with store.transaction() as tx:
        series = tx.iv_history.series("SPY")
    assert [d for d, _ in series] == days
    assert series[0] == (days[0], 0.31) and series[5] == (days[5], 0.1005)
    assert series[-1] == (days[-1], 0.1 + 699 / 10_000)
    with pytest.raises(ValueError, match="finite"), store.transaction() as tx:
        tx.iv_history.upsert_many("QQQ", [(days[0], 0.2), (days[1], float("inf"))])
    with store.transaction() as tx:
        assert tx.iv_history.series("QQQ") == []  # nothing of a refused batch is written


def test_iv_history_refuses_nan_and_datetimes(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="finite"), store.transaction() as tx:
        tx.iv_history.upsert("SPY", date(2026, 3, 2), float("nan"))
    with pytest.raises(TypeError, match="date"), store.transaction() as tx:
        tx.iv_history.upsert("SPY", datetime(2026, 3, 2, tzinfo=UTC), 0.2)


# --------------------------------------------------------------------------- account snapshots


def test_account_snapshots_latest_and_since(store: SqlStore) -> None:
    with store.transaction() as tx:
        assert tx.account_snapshots.latest() is None
        tx.account_snapshots.add(b.snapshot(10))
        tx.account_snapshots.add(b.snapshot(0))
        tx.account_snapshots.add(b.snapshot(20, equity=Decimal("-0.000001")))
    with store.transaction() as tx:
        latest = tx.account_snapshots.latest()
        assert latest == b.snapshot(20, equity=Decimal("-0.000001"))
        assert latest is not None
        _assert_utc(latest.as_of)
        assert [s.as_of for s in tx.account_snapshots.list()] == [b.at(0), b.at(10), b.at(20)]
        assert tx.account_snapshots.list(since=b.at(10)) == [
            b.snapshot(10),
            b.snapshot(20, equity=Decimal("-0.000001")),
        ]


# --------------------------------------------------------------------------- events


def test_events_round_trip_and_filters(store: SqlStore) -> None:
    events = [
        b.event("E-1", "order.rejected", occurred_at=b.at(0)),
        b.event("E-2", "risk.state_changed", occurred_at=b.at(1), subject=None, payload={}),
        b.event("E-3", "order.filled", occurred_at=b.at(2)),
        b.event("E-4", "order_book.odd", occurred_at=b.at(3)),
        b.event("E-5", "reconcile.difference", occurred_at=b.at(3)),
    ]
    with store.transaction() as tx:
        for value in events:
            tx.events.add(value)
    with store.transaction() as tx:
        assert tx.events.list() == events
        stored = tx.events.list()[0]
        assert stored.payload["limit"] == Decimal("-1.30")
        _assert_utc(stored.occurred_at)
        assert tx.events.list(kind_prefix="order.") == [events[0], events[2]]
        # "_" is matched literally, not as a LIKE wildcard
        assert tx.events.list(kind_prefix="order_") == [events[3]]
        assert tx.events.list(kind_prefix="order") == [events[0], events[2], events[3]]
        assert tx.events.list(since=b.at(2)) == events[2:]
        assert tx.events.list(limit=2) == events[3:]  # same timestamp: storage order
        assert tx.events.list(kind_prefix="order", limit=1) == [events[3]]
        with pytest.raises(ValueError, match="limit"):
            tx.events.list(limit=-1)


# --------------------------------------------------------------------------- metrics


def test_metrics_round_trip_and_recompute_replaces(store: SqlStore) -> None:
    daily = b.metrics("daily", date(2026, 3, 2))
    weekly = b.metrics("weekly", date(2026, 3, 2), period_end=date(2026, 3, 6), sharpe=None)
    earlier = b.metrics("daily", date(2026, 2, 27), win_rate=None, profit_factor=None)
    with store.transaction() as tx:
        tx.metrics.add(daily)
        tx.metrics.add(weekly)
        tx.metrics.add(earlier)
    with store.transaction() as tx:
        assert tx.metrics.list() == [earlier, daily, weekly]
        assert tx.metrics.list(period_type="weekly") == [weekly]
        stored = tx.metrics.list(period_type="daily")[1]
        assert stored.profit_factor == float("inf")
        assert stored.per_strategy["iron_condor"]["win_rate"] is None
        recomputed = replace(daily, computed_at=b.at(60 * 8), trades=5, total_pnl=Decimal("400"))
        tx.metrics.add(recomputed)
    with store.transaction() as tx:
        assert tx.metrics.list(period_type="daily") == [earlier, recomputed]


def test_metrics_nan_is_stored_as_none(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.metrics.add(b.metrics(sharpe=float("nan")))
    with store.transaction() as tx:
        (stored,) = tx.metrics.list()
    assert stored.sharpe is None


# --------------------------------------------------------------------------- learning


def test_learning_logs_round_trip_update_and_status_filter(store: SqlStore) -> None:
    proposed = b.learning_log("L-1")
    other = b.learning_log("L-2", logged_at=b.at(60 * 24 * 7), status="rejected")
    with store.transaction() as tx:
        tx.learning.add(proposed)
        tx.learning.add(other)
    with store.transaction() as tx:
        assert tx.learning.list() == [proposed, other]
        assert tx.learning.list(status="proposed") == [proposed]
        applied = replace(proposed, status="applied")
        tx.learning.update(applied)
    with store.transaction() as tx:
        assert tx.learning.list(status="applied") == [applied]
        assert tx.learning.list(status="proposed") == []
        _assert_utc(tx.learning.list()[0].logged_at)
    with pytest.raises(InvariantViolation), store.transaction() as tx:
        tx.learning.update(b.learning_log("L-404"))


# --------------------------------------------------------------------------- state


def test_state_documents_round_trip_and_replace(store: SqlStore) -> None:
    risk_state = {
        "trading_state": "halted",
        "daily_loss_usd": Decimal("-812.55"),
        "halted_at": b.at(45),
        "breakers": {"consecutive_losses": 3, "tripped": ["daily_loss"]},
        "$ref": "kept apart from the tags",
    }
    with store.transaction() as tx:
        assert tx.state.get("risk") is None
        tx.state.put("risk", risk_state)
        tx.state.put("reconcile.activities_cursor", {"after_id": "20260302::abc"})
    with store.transaction() as tx:
        assert tx.state.get("risk") == risk_state
        stored = tx.state.get("risk")
        assert stored is not None
        assert stored["halted_at"].tzinfo is UTC
        tx.state.put("risk", {"trading_state": "active"})
    with store.transaction() as tx:
        assert tx.state.get("risk") == {"trading_state": "active"}
        assert tx.state.get("reconcile.activities_cursor") == {"after_id": "20260302::abc"}


def test_listing_a_trade_with_a_bad_enum_value_is_an_invariant_violation(
    store: SqlStore,
) -> None:
    with store.transaction() as tx:
        tx.trades.add(b.trade())
    from sqlalchemy import text

    with store.engine.begin() as connection:
        connection.execute(text("UPDATE trades SET status = 'bogus'"))
    with pytest.raises(InvariantViolation, match="bogus"), store.transaction() as tx:
        tx.trades.list()


def test_values_are_compared_as_instants_across_time_zones(store: SqlStore) -> None:
    utc_trade = b.trade("T-utc", opened_at=datetime(2026, 3, 2, 15, 0, 0, 123456, tzinfo=UTC))
    with store.transaction() as tx:
        tx.trades.add(utc_trade)
        tx.trades.add(b.trade("T-ny"))  # 10:00:00.123456 New York = the same instant
    with store.transaction() as tx:
        both = tx.trades.list(opened_since=b.T0)
        assert {t.trade_id for t in both} == {"T-utc", "T-ny"}
        assert both[0].opened_at == both[1].opened_at
        assert tx.trades.list(opened_since=b.T0 + timedelta(microseconds=1)) == []

"""Execution under faults: exceptions, timeouts and process kills around every broker call.

A "kill" raises :class:`Killed` (a BaseException) out of the service at the chosen point; the
test drops the service and builds a new one on the same database, as a restarted actor would,
then ``reconcile()`` + ``work()``. After every scenario:

- every intent ends in exactly one known broker order per attempt or a confirmed
  non-submission (no PENDING/UNKNOWN left; every exchange order is one of ours, recorded
  with its broker id; at most one order per client id at the exchange);
- no intent filled more than it asked for;
- positions equal the broker's, and every trade's P&L is the sum of its fills.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.domain import (
    ExitAction,
    ExitReason,
    OrderStatus,
    TradeStatus,
    client_order_id_for,
)
from tests.integration.execution.faults import (
    FaultyBroker,
    Killed,
    ambiguous,
    killed,
    timeout,
)
from tests.integration.execution.harness import (
    P90,
    P95,
    World,
    approve,
    assert_book_consistent,
    csp,
    make_world,
    put_spread,
)

RESTART_AFTER_S = 60.0


def faulty_world(tmp_path: Path, *overrides: str, **knobs: float) -> tuple[World, FaultyBroker]:
    world = make_world(tmp_path, *overrides, **knobs)  # type: ignore[arg-type]
    broker = FaultyBroker(world.exchange)
    world.new_service(broker)
    return world, broker


def survive(world: World, action: Callable[[], object]) -> object:
    """Run ``action``; if the process is killed, restart (reconciling, killed or not, until a
    start-up reconcile completes) and return None."""
    try:
        return action()
    except Killed:
        pass
    while True:
        world.new_service()
        world.advance(RESTART_AFTER_S)
        try:
            world.service.reconcile()
            return None
        except Killed:
            continue


def drive(world: World, done: Callable[[], bool], *, limit_s: float = 3 * 3600) -> None:
    elapsed = 0.0
    while not done():
        assert elapsed < limit_s, "not done in time"
        world.advance(30)
        elapsed += 30
        survive(world, world.service.work)


def settle(world: World, broker: FaultyBroker) -> None:
    """Faults off; reconcile and work until no intent is active; then check the book."""
    broker.disarm()
    world.advance(RESTART_AFTER_S)
    world.service.reconcile()
    drive(world, lambda: all(i.status.is_terminal for i in world.intents()))
    world.service.reconcile()
    assert_book_consistent(world)


def attempt0_orders(world: World, intent_id: str) -> int:
    cid = client_order_id_for(intent_id, 0)
    return sum(1 for o in world.exchange_orders() if o.client_order_id == cid)


# --------------------------------------------------------------------------- kills

ENTRY_KILLS = [
    pytest.param("submit_order", "before", 0, id="intent-committed-not-sent"),
    pytest.param("submit_order", "after", 0, id="submitted-answer-lost"),
    pytest.param("get_order_by_client_id", "after", 0, id="during-look-up"),
    pytest.param("get_order", "after", 0, id="accepted-first-poll"),
    pytest.param("get_order", "after", 3, id="filled-before-recorded"),
    pytest.param("replace_order", "before", 0, id="walk-step-not-sent"),
    pytest.param("replace_order", "after", 0, id="walk-step-answer-lost"),
]


@pytest.mark.parametrize(("method", "where", "skip"), ENTRY_KILLS)
def test_entry_survives_a_kill(tmp_path: Path, method: str, where: str, skip: int) -> None:
    world, broker = faulty_world(tmp_path)
    if method == "get_order_by_client_id":
        broker.arm("submit_order", "after", ambiguous)  # so that a look-up happens
    broker.arm(method, where, killed, skip=skip)  # type: ignore[arg-type]
    cand = put_spread()
    decision = approve(cand, qty=2, bound="-0.95")
    trade_id = survive(world, lambda: world.service.open_trade(cand, decision))
    [intent] = world.intents()
    drive(world, lambda: world.trade(intent.trade_id).status is not TradeStatus.PENDING)
    assert any(f[2] == "Killed" for f in broker.fired), "the kill never happened"
    assert trade_id in (None, intent.trade_id)
    assert world.trade(intent.trade_id).status is TradeStatus.OPEN
    assert attempt0_orders(world, intent.intent_id) == 1
    settle(world, broker)
    assert world.our_positions() == {P95: -2, P90: 2}


EXIT_KILLS = [
    pytest.param("submit_order", "before", id="exit-intent-committed-not-sent"),
    pytest.param("submit_order", "after", id="exit-submitted-answer-lost"),
    pytest.param("get_order", "after", id="exit-first-poll"),
    pytest.param("replace_order", "after", id="exit-step-answer-lost"),
]


@pytest.mark.parametrize(("method", "where"), EXIT_KILLS)
def test_exit_survives_a_kill(tmp_path: Path, method: str, where: str) -> None:
    world, broker = faulty_world(tmp_path)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    drive(world, lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    broker.arm(method, where, killed)  # type: ignore[arg-type]
    action = ExitAction(trade_id=trade_id, reason=ExitReason.STOP_LOSS, detail="test")
    survive(world, lambda: world.service.close_trade(action))
    drive(world, lambda: world.trade(trade_id).status is TradeStatus.CLOSED)
    assert any(f[2] == "Killed" for f in broker.fired)
    assert world.trade(trade_id).exit_reason is ExitReason.STOP_LOSS
    settle(world, broker)
    assert world.our_positions() == {}


def test_a_kill_after_the_timeout_cancel_still_cancels_the_trade(tmp_path: Path) -> None:
    world, broker = faulty_world(tmp_path, fill_rate_per_min=0.0)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-1.30"))
    assert trade_id is not None
    broker.arm("cancel_order", "after", killed)
    drive(world, lambda: world.trade(trade_id).status is not TradeStatus.PENDING)
    assert ("cancel_order", "after", "Killed") in broker.fired
    assert world.trade(trade_id).status is TradeStatus.CANCELED
    settle(world, broker)


# --------------------------------------------------------------------------- ambiguity


def test_an_ambiguous_submit_that_landed_is_adopted_not_resent(tmp_path: Path) -> None:
    world, broker = faulty_world(tmp_path)
    broker.arm("submit_order", "after", ambiguous)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    [intent] = world.intents()
    [record] = world.records(intent.intent_id)
    assert record.status is OrderStatus.NEW and record.order_id is not None
    assert broker.calls["submit_order"] == 1
    assert "unknown" in [s.outcome for s in world.steps(intent.intent_id)]
    settle(world, broker)


def test_an_ambiguous_submit_that_never_landed_is_resent_with_the_same_client_id(
    tmp_path: Path,
) -> None:
    world, broker = faulty_world(tmp_path)
    broker.arm("submit_order", "before", ambiguous)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None  # it may be at the broker: not a refusal
    [intent] = world.intents()
    [record] = world.records(intent.intent_id)
    assert record.status is OrderStatus.UNKNOWN
    # Within the grace period nothing is resent, however often work() runs.
    world.service.work()
    assert broker.calls["submit_order"] == 1
    world.advance(10)
    world.service.work()
    [record] = world.records(intent.intent_id)
    assert record.status is not OrderStatus.UNKNOWN
    assert broker.calls["submit_order"] == 2
    assert record.client_order_id == client_order_id_for(intent.intent_id, 0)
    assert attempt0_orders(world, intent.intent_id) == 1
    settle(world, broker)


def test_look_ups_that_time_out_keep_the_order_unknown_without_resending(
    tmp_path: Path,
) -> None:
    world, broker = faulty_world(tmp_path)
    broker.arm("submit_order", "after", ambiguous)
    broker.arm("get_order_by_client_id", "before", timeout, times=12)
    cand = put_spread()
    world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    [intent] = world.intents()
    for _ in range(3):
        world.advance(30)
        world.service.work()
        [record] = world.records(intent.intent_id)
        assert record.status is OrderStatus.UNKNOWN
    assert broker.calls["submit_order"] == 1  # never resent blindly
    drive(world, lambda: world.records(intent.intent_id)[0].status is not OrderStatus.UNKNOWN)
    assert attempt0_orders(world, intent.intent_id) == 1
    settle(world, broker)


def test_an_ambiguous_replace_is_resolved_by_look_up(tmp_path: Path) -> None:
    world, broker = faulty_world(tmp_path)
    broker.arm("replace_order", "after", ambiguous)
    broker.arm("replace_order", "before", ambiguous, skip=1)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    drive(world, lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    statuses = [r.status for r in world.records()]
    assert OrderStatus.NOT_SUBMITTED in statuses  # the replace that never landed
    assert statuses[-1] is OrderStatus.FILLED
    settle(world, broker)


def test_transient_poll_failures_are_counted_and_retried(tmp_path: Path) -> None:
    world, broker = faulty_world(tmp_path)
    cand = csp()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.90"))
    assert trade_id is not None
    broker.arm("get_order", "before", timeout, times=3)  # the retrier gives up once
    world.advance(60)
    report = world.service.work()
    assert report.errors == 1
    assert world.sleeps, "retries wait through the injected sleep"
    drive(world, lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    settle(world, broker)


def test_a_rejected_replace_keeps_the_working_order(tmp_path: Path) -> None:
    from agent.errors import OrderRejected

    world, broker = faulty_world(tmp_path)
    broker.arm("replace_order", "before", lambda: OrderRejected("order is not replaceable"))
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    drive(world, lambda: world.trade(trade_id).status is TradeStatus.OPEN)
    [intent] = world.intents()
    assert "replace_rejected" in [s.outcome for s in world.steps(intent.intent_id)]
    settle(world, broker)


# --------------------------------------------------------------------------- chaos


@pytest.mark.chaos
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_random_faults_never_lose_or_duplicate_an_order(tmp_path: Path, seed: int) -> None:
    world, broker = faulty_world(tmp_path, partial_fill_prob=0.3, seed=seed)
    broker.rng = random.Random(seed)
    broker.chaos_kinds = (killed, timeout, ambiguous)
    broker.chaos_rate = 0.12
    for cand, qty, bound in ((put_spread(), 2, "-0.95"), (csp(), 1, "-0.90")):
        decision = approve(cand, qty=qty, bound=bound)
        result = survive(world, lambda c=cand, d=decision: world.service.open_trade(c, d))
        assert result is None or isinstance(result, str)
    trades = [i.trade_id for i in world.intents()]
    drive(world, lambda: all(i.status.is_terminal for i in world.intents()))
    for trade_id in trades:
        action = ExitAction(trade_id=trade_id, reason=ExitReason.MANUAL, detail="chaos")
        survive(world, lambda a=action: world.service.close_trade(a))
    drive(world, lambda: all(i.status.is_terminal for i in world.intents()))
    assert broker.fired, "no fault was injected"
    settle(world, broker)
    # Whatever happened, each trade is either closed, canceled or open with a real position.
    for trade_id in trades:
        status = world.trade(trade_id).status
        assert status in (TradeStatus.CLOSED, TradeStatus.CANCELED, TradeStatus.OPEN)
        if status is TradeStatus.OPEN:
            with world.store.transaction() as tx:
                assert tx.positions.list(trade_id=trade_id)
    for record in world.records():
        if record.order_id is not None:
            assert world.exchange.get_order(record.order_id).client_order_id == (
                record.client_order_id
            )


# --------------------------------------------------------------------------- races


class RacingBroker(FaultyBroker):
    """On the first replace, the old order trades first (time passes inside the call)."""

    def __init__(self, world: World) -> None:
        super().__init__(world.exchange)
        self.world = world
        self.raced = False

    def replace_order(self, order_id, *, limit_price, client_order_id, qty=None):  # type: ignore[no-untyped-def]
        if not self.raced:
            self.raced = True
            world = self.world
            world.quotes.set_quote(P95, 1.30, 1.40, at=world.clock.now())
            world.quotes.set_quote(P90, 0.10, 0.15, at=world.clock.now())
            world.advance(60)  # the old order's limit is now through the natural: it trades
        return super().replace_order(
            order_id, limit_price=limit_price, client_order_id=client_order_id, qty=qty
        )


@pytest.mark.parametrize("partial", [False, True])
def test_an_order_that_trades_while_being_replaced_is_accounted_for(
    tmp_path: Path, partial: bool
) -> None:
    world = make_world(tmp_path, partial_fill_prob=1.0 if partial else 0.0)
    broker = RacingBroker(world)
    world.new_service(broker)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=3, bound="-0.95"))
    assert trade_id is not None
    drive(world, lambda: all(i.status.is_terminal for i in world.intents()))
    assert broker.raced
    [intent] = world.intents()
    records = world.records(intent.intent_id)
    first = records[0]
    assert first.filled_qty > 0  # the old order's fills are on the book
    if partial:
        assert first.status is OrderStatus.REPLACED
    else:
        assert first.status is OrderStatus.FILLED
        assert records[1].status is OrderStatus.REJECTED  # the replace lost the race
    assert sum(r.filled_qty for r in records) == 3
    assert world.our_positions() == {P95: -3, P90: 3}
    settle(world, broker)


def test_an_intent_found_unsent_after_its_timeout_is_not_submitted(tmp_path: Path) -> None:
    world, broker = faulty_world(tmp_path)
    broker.arm("submit_order", "before", killed)
    cand = put_spread()
    decision = approve(cand, qty=1, bound="-0.95")
    with pytest.raises(Killed):
        world.service.open_trade(cand, decision)
    world.advance(900)  # down for longer than the fill timeout
    world.new_service()
    world.service.reconcile()
    [intent] = world.intents()
    assert intent.status is OrderStatus.NOT_SUBMITTED
    assert world.trade(intent.trade_id).status is TradeStatus.CANCELED
    assert world.exchange_orders() == []
    # A repeated call of the engine finds the decision was handled and places nothing.
    assert world.service.open_trade(cand, decision) is None
    assert world.exchange_orders() == []
    settle(world, broker)


class TradesThenDropsReplace(RacingBroker):
    """The old order trades, then the replace request is lost before reaching the broker."""

    def replace_order(self, order_id, *, limit_price, client_order_id, qty=None):  # type: ignore[no-untyped-def]
        if not self.raced:
            self.raced = True
            world = self.world
            world.quotes.set_quote(P95, 1.30, 1.40, at=world.clock.now())
            world.quotes.set_quote(P90, 0.10, 0.15, at=world.clock.now())
            world.advance(60)
            raise ambiguous()
        return self.inner.replace_order(
            order_id, limit_price=limit_price, client_order_id=client_order_id, qty=qty
        )


def test_a_lost_replace_is_never_resent_as_a_new_order(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    broker = TradesThenDropsReplace(world)
    world.new_service(broker)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=2, bound="-0.95"))
    assert trade_id is not None
    drive(world, lambda: all(i.status.is_terminal for i in world.intents()))
    assert broker.raced
    [intent] = world.intents()
    statuses = [r.status for r in world.records(intent.intent_id)]
    assert statuses == [OrderStatus.FILLED, OrderStatus.NOT_SUBMITTED]
    assert intent.status is OrderStatus.FILLED
    assert len(world.exchange_orders()) == 1
    assert world.our_positions() == {P95: -2, P90: 2}
    settle(world, broker)


def test_end_of_day_stops_an_intent_whose_submit_was_ambiguous(tmp_path: Path) -> None:
    world, broker = faulty_world(tmp_path)
    broker.arm("submit_order", "before", ambiguous)
    broker.arm("get_order_by_client_id", "before", timeout, times=3)
    cand = put_spread()
    trade_id = world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    assert trade_id is not None
    world.service.end_of_day()
    [intent] = world.intents()
    assert intent.status is OrderStatus.UNKNOWN  # not settled yet: it may exist
    world.advance(60)
    world.service.reconcile()
    [intent] = world.intents()
    assert intent.status is OrderStatus.NOT_SUBMITTED  # absent, and no longer wanted
    assert world.trade(trade_id).status is TradeStatus.CANCELED
    assert world.exchange_orders() == []
    settle(world, broker)


# --------------------------------------------------------------------------- errors that stop


def test_refused_credentials_propagate_and_the_intent_survives(tmp_path: Path) -> None:
    from agent.errors import BrokerAuthError

    world, broker = faulty_world(tmp_path)
    broker.arm("submit_order", "before", lambda: BrokerAuthError("401 unauthorized"))
    cand = put_spread()
    with pytest.raises(BrokerAuthError):
        world.service.open_trade(cand, approve(cand, qty=1, bound="-0.95"))
    [intent] = world.intents()
    assert intent.status is OrderStatus.PENDING  # committed before the attempt
    world.advance(30)
    broker.arm("get_order_by_client_id", "before", lambda: BrokerAuthError("401"))
    with pytest.raises(BrokerAuthError):
        world.service.work()  # the pass stops: the engine halts trading
    # Credentials fixed: the start-up reconcile finds nothing at the broker and sends it.
    broker.disarm()
    world.service.reconcile()
    drive(world, lambda: world.trade(intent.trade_id).status is TradeStatus.OPEN)
    assert attempt0_orders(world, intent.intent_id) == 1
    settle(world, broker)

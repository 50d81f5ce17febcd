"""Fault tests of the Alpaca adapters against the loopback server (real HTTP, alpaca-py).

Under injected 429s, 5xx (some with HTML bodies), hung requests, timeouts and connections
dropped after the order was accepted, no order is ever duplicated (the server counts the
orders it created per client order id), every order is known to the caller, and the rate
governor keeps the server's observed request rate within its budget over a 100-symbol scan.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from agent.adapters.alpaca import RetryPolicy
from agent.adapters.sim.server import FaultPlan, RateLimit
from agent.adapters.sim.server_faults import FaultAction, FaultRule
from agent.domain import OrderLeg, OrderRequest, OrderStatus, PositionIntent
from agent.errors import TransientBrokerError
from agent.marketdata.governor import LocalLimiter, RateGovernor
from tests.integration.alpaca.harness import (
    START,
    LoopbackServer,
    make_broker,
    make_market_data,
    market,
    start_server,
)

HTML_502 = "<html><body>502 Bad Gateway</body></html>"
ORDERS = "/v2/orders"
LOOKUP = "/v2/orders:by_client_order_id"
STORM_POLICY = RetryPolicy(
    read_attempts=8,
    submit_attempts=8,
    base_delay_s=0.005,
    max_delay_s=0.02,
    max_retry_after_s=0.02,
    lookup_grace_s=0.01,
    connect_timeout_s=1.0,
    read_timeout_s=0.25,
)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server()
    yield running
    running.stop()


def _puts() -> list[str]:
    today = START.date()
    chain = market().option_chain(
        "SPY", START, min_expiry=today + timedelta(days=25), max_expiry=today + timedelta(days=40)
    )
    expiry = chain.expiry[0]
    mask = (~chain.is_call) & (chain.expiry == expiry) & (chain.bid >= 0.05)
    return [str(s) for s in chain.symbol[np.flatnonzero(mask)]]


def _requests(n: int) -> list[OrderRequest]:
    """Resting orders (they never fill): single-leg buys and put credit spreads, alternating."""
    puts = _puts()
    out = []
    for i in range(n):
        cid = f"storm-{i:03d}"
        if i % 2 == 0:
            leg = OrderLeg(symbol=puts[i % 10], side=PositionIntent.BUY_TO_OPEN.side,
                           position_intent=PositionIntent.BUY_TO_OPEN)  # fmt: skip
            out.append(OrderRequest(client_order_id=cid, legs=(leg,), qty=1,
                                    limit_price=Decimal("0.01")))  # fmt: skip
        else:
            short, long = puts[-1 - (i % 10)], puts[-6 - (i % 10)]
            legs = (
                OrderLeg(symbol=short, side=PositionIntent.SELL_TO_OPEN.side,
                         position_intent=PositionIntent.SELL_TO_OPEN),
                OrderLeg(symbol=long, side=PositionIntent.BUY_TO_OPEN.side,
                         position_intent=PositionIntent.BUY_TO_OPEN),
            )  # fmt: skip
            out.append(OrderRequest(client_order_id=cid, legs=legs, qty=1,
                                    limit_price=Decimal("-9.99")))  # fmt: skip
    return out


def _storm(seed: int) -> FaultPlan:
    """Every kind of failure on submits, replaces, cancels and look-ups, seeded."""

    def on(
        action: FaultAction, path: str, p: float, method: str | None = None, **kw: object
    ) -> FaultRule:
        return FaultRule(action=action, path=path, method=method, probability=p, times=None, **kw)  # type: ignore[arg-type]

    return FaultPlan(
        seed=seed,
        rules=(
            on(FaultAction.DROP_AFTER, ORDERS, 0.15, "POST"),
            on(FaultAction.STATUS_AFTER, ORDERS, 0.10, "POST", status=504),
            on(FaultAction.HANG_AFTER, ORDERS, 0.08, "POST", delay_s=0.4),
            on(FaultAction.HANG, ORDERS, 0.05, "POST", delay_s=0.4),
            on(FaultAction.STATUS, ORDERS, 0.08, "POST", status=502, body=HTML_502),
            on(FaultAction.STATUS, ORDERS, 0.05, "POST", status=500),
            on(FaultAction.RATE_LIMIT, ORDERS, 0.08, "POST"),
            on(FaultAction.DROP, ORDERS, 0.05, "POST"),
            on(FaultAction.DROP_AFTER, ORDERS + "/", 0.15, "PATCH"),
            on(FaultAction.STATUS_AFTER, ORDERS + "/", 0.10, "PATCH", status=503),
            on(FaultAction.DROP_AFTER, ORDERS + "/", 0.15, "DELETE"),
            on(FaultAction.STATUS, ORDERS + "/", 0.10, "DELETE", status=503),
            on(FaultAction.STATUS, LOOKUP, 0.15, status=503),
            on(FaultAction.RATE_LIMIT, LOOKUP, 0.05),
            on(FaultAction.STATUS, "/v2/orders/", 0.10, "GET", status=500),
        ),
    )


@pytest.mark.chaos
@pytest.mark.parametrize("seed", [1, 2])
def test_no_duplicate_and_every_order_known_under_faults(server: LoopbackServer, seed: int) -> None:
    server.reset(START)
    server.faults(_storm(seed))
    broker = make_broker(server, policy=STORM_POLICY, sleep=lambda _s: None)
    requests_ = _requests(24)
    placed: dict[str, str] = {}
    unknown: list[str] = []
    for request in requests_:
        try:
            order = broker.submit_order(request)
        except TransientBrokerError as err:
            assert err.ambiguous or err.retry_after_s is not None
            unknown.append(request.client_order_id)
            continue
        assert order.client_order_id == request.client_order_id
        assert order.status in (OrderStatus.NEW, OrderStatus.ACCEPTED)
        placed[request.client_order_id] = order.order_id
    # Walk half of them one cent and cancel the rest, still under faults.
    replaced: dict[str, str] = {}
    for i, (cid, order_id) in enumerate(sorted(placed.items())):
        if i % 2 == 0:
            old = broker.get_order(order_id)
            new = broker.replace_order(
                order_id,
                limit_price=(old.limit_price or Decimal(0)) + Decimal("0.01"),
                client_order_id=f"{cid}-r1",
            )
            assert new.replaces == order_id and new.client_order_id == f"{cid}-r1"
            replaced[f"{cid}-r1"] = new.order_id
        else:
            broker.cancel_order(order_id)
    stats = server.stats()
    applied = sum(stats["faults"].values())
    server.admin("DELETE", "faults")

    # No order was ever created twice for one client order id...
    assert stats["orders_per_client_id"], "no order reached the server"
    assert max(stats["orders_per_client_id"].values()) == 1
    # ...although the faults forced many retries and look-ups.
    assert applied >= 20
    assert stats["requests"][f"POST {ORDERS}"] > len(requests_)  # some submits were resent
    assert stats["requests"].get(f"GET {LOOKUP}", 0) >= 10
    # Every submit returned the order that exists (none left unknown with these budgets).
    assert unknown == []
    assert set(placed) == {r.client_order_id for r in requests_}
    for cid, order_id in itertools.chain(placed.items(), replaced.items()):
        found = broker.get_order_by_client_id(cid)
        assert found is not None and found.order_id == order_id
    # Cancels and replaces took effect exactly once.
    statuses = {cid: broker.get_order(oid).status for cid, oid in placed.items()}
    assert sorted(set(statuses.values())) == sorted({OrderStatus.CANCELED, OrderStatus.REPLACED})
    every = broker.list_orders(status="all")
    assert len(every) == len(placed) + len(replaced)
    assert len({o.client_order_id for o in every}) == len(every)


def test_ambiguous_submit_is_looked_up_before_any_retry(server: LoopbackServer) -> None:
    """The order was accepted, the connection dropped: the adapter adopts the accepted order
    and never sends the submit again."""
    server.reset(START)
    server.faults(FaultPlan(rules=(
        FaultRule(action=FaultAction.DROP_AFTER, method="POST", path=ORDERS, times=1),
    )))  # fmt: skip
    broker = make_broker(server, policy=STORM_POLICY, sleep=lambda _s: None)
    request = _requests(1)[0]
    order = broker.submit_order(request)
    stats = server.stats()
    assert stats["faults"] == {"drop_after": 1}
    assert stats["submits_per_client_id"] == {request.client_order_id: 1}
    assert stats["orders_per_client_id"] == {request.client_order_id: 1}
    assert stats["requests"][f"GET {LOOKUP}"] == 1
    assert broker.get_order(order.order_id).client_order_id == request.client_order_id


def test_confirmed_absence_resubmits_with_the_same_client_id(server: LoopbackServer) -> None:
    server.reset(START)
    server.faults(FaultPlan(rules=(
        FaultRule(action=FaultAction.DROP, method="POST", path=ORDERS, times=1),
    )))  # fmt: skip
    sleeps: list[float] = []
    broker = make_broker(server, policy=STORM_POLICY, sleep=sleeps.append)
    request = _requests(1)[0]
    order = broker.submit_order(request)
    stats = server.stats()
    assert stats["submits_per_client_id"] == {request.client_order_id: 1}  # the drop ate one
    assert stats["requests"][f"POST {ORDERS}"] == 2
    assert stats["requests"][f"GET {LOOKUP}"] == 1
    assert sleeps == [STORM_POLICY.lookup_grace_s]
    assert order.client_order_id == request.client_order_id


def test_partial_fills_and_stale_quotes() -> None:
    running = start_server(partial_fill_prob=1.0, seed=5)
    try:
        broker = make_broker(running)
        puts = _puts()
        request = OrderRequest(
            client_order_id="partial",
            legs=(OrderLeg(symbol=puts[-8], side=PositionIntent.BUY_TO_OPEN.side,
                           position_intent=PositionIntent.BUY_TO_OPEN),),
            qty=6,
            limit_price=Decimal("60.00"),
        )  # fmt: skip
        order = broker.submit_order(request)
        running.advance(1)
        partial = broker.get_order(order.order_id)
        assert partial.status is OrderStatus.PARTIALLY_FILLED and 0 < partial.filled_qty < 6
        fills = broker.get_activities()
        assert [a.description for a in fills] == ["partial_fill"]
        assert fills[0].qty == partial.filled_qty and fills[0].order_id == order.order_id
        data = make_market_data(running)
        fresh = data.get_option_quotes([puts[0]])[puts[0]]
        running.faults(FaultPlan(stale_quotes_min=30))
        stale = data.get_option_quotes([puts[0]])[puts[0]]
        assert fresh.quoted_at - stale.quoted_at >= timedelta(minutes=30)
    finally:
        running.stop()


# --------------------------------------------------------------------------- the governor

SERVER_LIMIT = 20
SERVER_WINDOW_S = 1.0
GOVERNOR_MARGIN = 1.05
"""The client's window is 5 % longer than the server's: request latency jitter (a request
granted at t reaches the server a little later) must not push one over the server's count."""


def _scan(server: LoopbackServer, data_limiter: LocalLimiter | None, trading_limiter: LocalLimiter | None, symbols: list[str]) -> int:  # fmt: skip
    data = make_market_data(
        server,
        limiter=data_limiter,
        trading_limiter=trading_limiter,
        policy=RetryPolicy(read_attempts=2, base_delay_s=0.001, max_delay_s=0.001,
                           max_retry_after_s=0.001),
    )  # fmt: skip
    today = START.date()
    failures = 0
    data.get_underlying_snapshots(symbols)
    for symbol in symbols:
        try:
            data.get_option_chain(symbol, min_expiry=today, max_expiry=today + timedelta(days=21))
        except TransientBrokerError:
            failures += 1
    return failures


@pytest.mark.chaos
def test_governor_keeps_a_100_symbol_scan_within_the_servers_budget() -> None:
    model = market(n_underlyings=100)
    running = start_server(
        model=model, rate_limit=RateLimit(limit=SERVER_LIMIT, window_s=SERVER_WINDOW_S)
    )
    try:
        symbols = list(model.symbols)
        assert len(symbols) == 100

        def limiter() -> LocalLimiter:
            return LocalLimiter(
                RateGovernor(SERVER_LIMIT, window_s=SERVER_WINDOW_S * GOVERNOR_MARGIN)
            )

        data_limiter, trading_limiter = limiter(), limiter()
        failures = _scan(running, data_limiter, trading_limiter, symbols)
        stats = running.stats()

        # Control: the same scan again without the governor is refused with 429s.
        running.admin("POST", "stats/reset")
        _scan(running, None, None, symbols)
        control = running.stats()
    finally:
        running.stop()
    assert failures == 0
    assert stats["rate_limited"] == 0
    assert stats["max_in_window"]["data"] <= SERVER_LIMIT
    assert stats["max_in_window"]["trading"] <= SERVER_LIMIT
    # The budgets were actually exercised: more requests than one window allows.
    assert stats["arrivals"]["trading"] == 100 and stats["arrivals"]["data"] > 100
    assert data_limiter.waited_s > 0 and trading_limiter.waited_s > 0
    assert control["rate_limited"] > 0
    assert max(control["max_in_window"].values()) > SERVER_LIMIT

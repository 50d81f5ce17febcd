"""AlpacaBroker / AlpacaMarketData: error mapping, the single retry layer and timeouts.

Faults are injected by the server (``POST /_admin/faults``); sleeps are recorded, not slept,
so the retry schedule is checked exactly and the tests stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from agent.adapters.alpaca import AlpacaBroker, RetryPolicy
from agent.adapters.alpaca.transport import Domain, map_error
from agent.adapters.sim.server import FaultPlan
from agent.adapters.sim.server_faults import FaultAction, FaultRule
from agent.domain import OrderLeg, OrderRequest, PositionIntent
from agent.errors import (
    BrokerAuthError,
    DataError,
    DuplicateClientOrderId,
    OrderNotFound,
    OrderRejected,
    TransientBrokerError,
)
from tests.integration.alpaca.harness import (
    FAST_POLICY,
    START,
    LoopbackServer,
    make_broker,
    make_market_data,
    market,
    settings_for,
    start_server,
    unlimited,
)

HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server()
    yield running
    running.stop()


@pytest.fixture
def fresh(server: LoopbackServer) -> LoopbackServer:
    server.reset(START)
    return server


def _far_put() -> str:
    chain = market().option_chain(
        "SPY", START, min_expiry=START.date() + timedelta(days=25),
        max_expiry=START.date() + timedelta(days=40),
    )  # fmt: skip
    puts = [str(s) for s, call, bid in zip(chain.symbol, chain.is_call, chain.bid, strict=True)
            if not call and bid >= 0.05]  # fmt: skip
    return puts[0]  # lowest strike with a bid


def _buy(cid: str, qty: int = 1, price: str = "0.01") -> OrderRequest:
    symbol = _far_put()
    return OrderRequest(
        client_order_id=cid,
        legs=(OrderLeg(symbol=symbol, side=PositionIntent.BUY_TO_OPEN.side,
                       position_intent=PositionIntent.BUY_TO_OPEN),),
        qty=qty,
        limit_price=Decimal(price),
    )  # fmt: skip


def _recording(
    server: LoopbackServer, policy: RetryPolicy = FAST_POLICY
) -> tuple[AlpacaBroker, list[float]]:
    sleeps: list[float] = []
    return make_broker(server, policy=policy, sleep=sleeps.append), sleeps


# --------------------------------------------------------------------------- mapping


def test_refused_keys_are_an_auth_error(fresh: LoopbackServer) -> None:
    from agent.adapters.alpaca import AlpacaMarketData

    broker = AlpacaBroker.from_settings(
        settings_for(fresh.url, api_key="someone-else"), unlimited()
    )
    with pytest.raises(BrokerAuthError):
        broker.get_account()
    with pytest.raises(BrokerAuthError):
        broker.submit_order(_buy("auth"))
    data = AlpacaMarketData.from_settings(settings_for(fresh.url, api_key="x"), unlimited())
    with pytest.raises(BrokerAuthError):
        data.get_underlying_snapshots(["SPY"])


def test_rejections_carry_alpaca_message_and_code(fresh: LoopbackServer) -> None:
    broker = make_broker(fresh)
    with pytest.raises(OrderRejected) as buying_power:
        broker.submit_order(_buy("huge", qty=5000, price="20.00"))
    assert buying_power.value.code == "40310000" and "buying power" in str(buying_power.value)
    assert not isinstance(buying_power.value, DuplicateClientOrderId)
    symbol = _far_put()
    closing = OrderRequest(
        client_order_id="close-nothing",
        legs=(OrderLeg(symbol=symbol, side=PositionIntent.SELL_TO_CLOSE.side,
                       position_intent=PositionIntent.SELL_TO_CLOSE),),
        qty=1, limit_price=Decimal("-0.05"),
    )  # fmt: skip
    with pytest.raises(OrderRejected) as mismatch:
        broker.submit_order(closing)
    assert mismatch.value.code == "42210000" and "position intent mismatch" in str(mismatch.value)
    broker.submit_order(_buy("twice"))
    with pytest.raises(DuplicateClientOrderId) as duplicate:
        broker.submit_order(_buy("twice"))
    assert duplicate.value.code == "40010001"


def test_unknown_and_malformed_ids_are_not_found(fresh: LoopbackServer) -> None:
    broker = make_broker(fresh)
    for order_id in ("00000000-0000-4000-8000-000000000001", "not-a-uuid"):
        with pytest.raises(OrderNotFound):
            broker.get_order(order_id)
        with pytest.raises(OrderNotFound):
            broker.cancel_order(order_id)
    assert broker.get_order_by_client_id("never") is None


def test_a_status_error_without_a_json_body_is_mapped() -> None:
    import requests
    from alpaca.common.exceptions import APIError

    response = requests.Response()
    response.status_code = 502
    response._content = HTML_502.encode()
    error = APIError(HTML_502, requests.HTTPError(response=response))
    with pytest.raises(ValueError):
        _ = error.code  # the SDK's own property fails on a non-JSON body
    mapped = map_error(error, what="submit", domain=Domain.ORDER_WRITE, ambiguous=True)
    assert isinstance(mapped, TransientBrokerError) and mapped.ambiguous
    assert "502 Bad Gateway" in str(mapped)
    read = map_error(error, what="account", domain=Domain.BROKER_READ, ambiguous=False)
    assert isinstance(read, TransientBrokerError) and not read.ambiguous


# --------------------------------------------------------------------------- retries


def test_reads_retry_5xx_with_backoff_and_no_sdk_retry(fresh: LoopbackServer) -> None:
    fresh.faults(FaultPlan(rules=(
        FaultRule(action=FaultAction.STATUS, path="/v2/account", status=502, body=HTML_502, times=1),
        FaultRule(action=FaultAction.STATUS, path="/v2/account", status=503, times=1),
        FaultRule(action=FaultAction.STATUS, path="/v2/account", status=504, times=1),
    )))  # fmt: skip
    broker, sleeps = _recording(fresh)
    assert broker.get_account().equity == Decimal(100_000)
    assert fresh.stats()["requests"]["GET /v2/account"] == 4  # 3 faults + 1 success, no more
    assert len(sleeps) == 3 and sleeps == sorted(sleeps)  # exponential backoff
    assert FAST_POLICY.base_delay_s <= sleeps[0] <= FAST_POLICY.base_delay_s * 1.5


def test_429_honours_retry_after_and_gives_up_bounded(fresh: LoopbackServer) -> None:
    fresh.faults(FaultPlan(rules=(
        FaultRule(action=FaultAction.RATE_LIMIT, path="/v2/positions", times=None, retry_after_s=7),
    )))  # fmt: skip
    policy = RetryPolicy(read_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
    broker, sleeps = _recording(fresh, policy)
    with pytest.raises(TransientBrokerError) as raised:
        broker.get_positions()
    assert raised.value.retry_after_s == 7 and not raised.value.ambiguous
    assert fresh.stats()["requests"]["GET /v2/positions"] == 3
    assert len(sleeps) == 2 and all(7 <= s <= 7 * 1.5 for s in sleeps)


def test_every_call_has_a_read_timeout(fresh: LoopbackServer) -> None:
    fresh.faults(FaultPlan(rules=(
        FaultRule(action=FaultAction.HANG, path="/v2/clock", delay_s=2.0, times=1),
        FaultRule(action=FaultAction.HANG, path="/v2/positions", delay_s=2.0, times=1),
    )))  # fmt: skip
    policy = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02, read_timeout_s=0.3)
    broker, sleeps = _recording(fresh, policy)
    assert broker.get_positions() == []  # first attempt timed out after 0.3 s, second answered
    assert len(sleeps) == 1
    assert broker.transport.stats.http_s < 1.5


def test_market_data_errors(fresh: LoopbackServer) -> None:
    fresh.faults(FaultPlan(rules=(
        FaultRule(action=FaultAction.STATUS, path="/v1beta1/options/quotes", status=500, times=1),
        FaultRule(action=FaultAction.STATUS, path="/v2/stocks/bars", status=400, times=1),
    )))  # fmt: skip
    data = make_market_data(fresh)
    symbols = [_far_put()]
    assert set(data.get_option_quotes(symbols)) == set(symbols)  # 500 retried
    with pytest.raises(DataError):
        data.get_daily_bars("SPY", start=START.date() - timedelta(days=5), end=START.date())
    assert data.get_underlying_snapshots(["NOSUCH"]) == {}

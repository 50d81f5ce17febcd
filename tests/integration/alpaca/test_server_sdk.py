"""The loopback server speaks Alpaca: alpaca-py's own pydantic models parse every payload.

These tests use the SDK clients *without* ``raw_data`` (strict models), so a missing field,
a wrong type or an unknown enum value in a server payload fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed, OptionsFeed
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    OptionChainRequest,
    OptionLatestQuoteRequest,
    OptionSnapshotRequest,
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    OrderClass,
    OrderSide,
    OrderStatus,
    PositionIntent,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetCalendarRequest,
    GetOptionContractsRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    OptionLegRequest,
    ReplaceOrderRequest,
)

from tests.integration.alpaca.harness import (
    API_KEY,
    SECRET_KEY,
    START,
    LoopbackServer,
    start_server,
)

TODAY = START.date()


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    running = start_server()
    yield running
    running.stop()


@pytest.fixture
def trading(server: LoopbackServer) -> TradingClient:
    server.reset(START)
    client = TradingClient(API_KEY, SECRET_KEY, url_override=server.url)
    client._retry = 0
    return client


@pytest.fixture
def stocks(server: LoopbackServer) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=server.url)


@pytest.fixture
def options(server: LoopbackServer) -> OptionHistoricalDataClient:
    return OptionHistoricalDataClient(API_KEY, SECRET_KEY, url_override=server.url)


def _puts(trading: TradingClient) -> list[str]:
    """Puts of SPY expiring 3-6 weeks out, below 95 % of spot, sorted by strike descending."""
    response = trading.get_option_contracts(
        GetOptionContractsRequest(
            underlying_symbols=["SPY"],
            expiration_date_gte=TODAY + timedelta(days=21),
            expiration_date_lte=TODAY + timedelta(days=45),
            type="put",
            strike_price_lte="530",
            limit=10_000,
        )
    )
    contracts = response.option_contracts or []
    first_expiry = min(c.expiration_date for c in contracts)
    chosen = [c for c in contracts if c.expiration_date == first_expiry]
    return [c.symbol for c in sorted(chosen, key=lambda c: -c.strike_price)]


def test_account_clock_calendar_and_assets_parse(trading: TradingClient) -> None:
    account = trading.get_account()
    assert account.status == "ACTIVE" and float(account.equity or 0) == 100_000
    assert account.options_trading_level == 3
    clock = trading.get_clock()
    assert clock.is_open and clock.timestamp.utcoffset() == timedelta(hours=-5)
    assert clock.next_open.date() == TODAY + timedelta(days=1)
    assert clock.next_close.date() == TODAY and clock.next_close.hour == 16
    days = trading.get_calendar(GetCalendarRequest(start=TODAY, end=TODAY + timedelta(days=7)))
    assert [d.date for d in days][:2] == [TODAY, TODAY + timedelta(days=1)]
    assert days[0].open.hour == 9 and days[0].open.minute == 30
    assets = trading.get_all_assets()
    spy = next(a for a in assets if a.symbol == "SPY")
    assert spy.asset_class is AssetClass.US_EQUITY and "options_enabled" in (spy.attributes or [])
    assert trading.get_asset("SPY").id == spy.id


def test_option_contracts_are_paged_with_a_token(trading: TradingClient) -> None:
    request = {
        "underlying_symbols": ["SPY"],
        "expiration_date_gte": TODAY,
        "expiration_date_lte": TODAY + timedelta(days=10),
    }
    everything = trading.get_option_contracts(GetOptionContractsRequest(**request, limit=10_000))
    total = len(everything.option_contracts or [])
    assert total > 250 and everything.next_page_token is None
    seen: list[str] = []
    token = None
    while True:
        page = trading.get_option_contracts(
            GetOptionContractsRequest(**request, limit=100, page_token=token)
        )
        seen += [c.symbol for c in page.option_contracts or []]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == total == len(set(seen))
    contract = (everything.option_contracts or [])[0]
    assert contract.size == "100" and contract.underlying_symbol == "SPY"
    assert isinstance(contract.underlying_asset_id, uuid.UUID)
    assert trading.get_option_contract(contract.symbol).symbol == contract.symbol


def test_the_default_contract_window_ends_next_weekend(trading: TradingClient) -> None:
    page = trading.get_option_contracts(GetOptionContractsRequest(underlying_symbols=["SPY"]))
    expiries = {c.expiration_date for c in page.option_contracts or []}
    assert expiries and max(expiries) <= TODAY + timedelta(days=6)


def test_orders_single_and_mleg_parse_with_legs_as_orders(
    trading: TradingClient, server: LoopbackServer
) -> None:
    puts = _puts(trading)
    single = trading.submit_order(
        LimitOrderRequest(
            symbol=puts[-1],
            qty=1,
            side=OrderSide.BUY,
            position_intent=PositionIntent.BUY_TO_OPEN,
            time_in_force=TimeInForce.DAY,
            limit_price=0.01,
            client_order_id="sdk-single",
        )
    )
    assert single.status is OrderStatus.NEW and single.order_class is OrderClass.SIMPLE
    assert single.qty == "1" and single.limit_price == "0.01" and single.symbol == puts[-1]
    spread = trading.submit_order(
        LimitOrderRequest(
            qty=2,
            order_class=OrderClass.MLEG,
            time_in_force=TimeInForce.DAY,
            limit_price=-9.5,
            client_order_id="sdk-mleg",
            legs=[
                OptionLegRequest(symbol=puts[0], ratio_qty=1, side=OrderSide.SELL,
                                 position_intent=PositionIntent.SELL_TO_OPEN),
                OptionLegRequest(symbol=puts[3], ratio_qty=1, side=OrderSide.BUY,
                                 position_intent=PositionIntent.BUY_TO_OPEN),
            ],
        )
    )  # fmt: skip
    assert spread.order_class is OrderClass.MLEG and spread.limit_price == "-9.5"
    assert spread.symbol is None and spread.asset_class is None  # "" becomes None
    legs = spread.legs or []
    assert [(leg.symbol, leg.side, leg.ratio_qty, leg.qty) for leg in legs] == [
        (puts[0], OrderSide.SELL, "1", "2"),
        (puts[3], OrderSide.BUY, "1", "2"),
    ]
    assert all(isinstance(leg.id, uuid.UUID) and leg.id != spread.id for leg in legs)
    by_id = trading.get_order_by_id(spread.id, GetOrderByIdRequest(nested=True))
    assert by_id.client_order_id == "sdk-mleg"
    assert trading.get_order_by_client_id("sdk-single").id == single.id
    listed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True))
    assert [o.id for o in listed] == [spread.id, single.id]  # newest first
    replaced = trading.replace_order_by_id(
        spread.id, ReplaceOrderRequest(limit_price=-9.4, client_order_id="sdk-mleg-2")
    )
    assert replaced.replaces == spread.id and replaced.limit_price == "-9.4"
    old = trading.get_order_by_id(spread.id)
    assert old.status is OrderStatus.REPLACED and old.replaced_by == replaced.id
    results = trading.cancel_orders()
    assert sorted(str(r.id) for r in results) == sorted([str(single.id), str(replaced.id)])
    assert {r.status for r in results} == {200}
    assert trading.get_order_by_id(single.id).status is OrderStatus.CANCELED
    stats = server.stats()
    assert stats["requests"]["DELETE /v2/orders"] == 1
    assert stats["statuses"]["207"] == 1
    assert stats["orders_per_client_id"] == {"sdk-single": 1, "sdk-mleg": 1, "sdk-mleg-2": 1}


def test_fills_positions_and_activities(trading: TradingClient, server: LoopbackServer) -> None:
    puts = _puts(trading)
    trading.submit_order(
        LimitOrderRequest(
            symbol=puts[5], qty=2, side=OrderSide.BUY, position_intent=PositionIntent.BUY_TO_OPEN,
            time_in_force=TimeInForce.DAY, limit_price=50.0, client_order_id="sdk-fill",
        )
    )  # fmt: skip
    server.advance(2)
    order = trading.get_order_by_client_id("sdk-fill")
    assert order.status is OrderStatus.FILLED and order.filled_qty == "2"
    assert float(order.filled_avg_price or 0) > 0
    positions = trading.get_all_positions()
    assert [(p.symbol, p.qty, p.side) for p in positions] == [(puts[5], "2", "long")]
    assert positions[0].asset_class is AssetClass.US_OPTION
    assert trading.get_open_position(puts[5]).qty == "2"
    activities = trading.get("/account/activities", {"activity_types": "FILL", "direction": "asc"})
    assert isinstance(activities, list) and len(activities) == 1
    fill = activities[0]
    assert fill["activity_type"] == "FILL" and fill["order_id"] == str(order.id)
    assert fill["qty"] == "2" and fill["cum_qty"] == "2" and fill["leaves_qty"] == "0"
    assert "::" in fill["id"] and "net_amount" not in fill
    same = trading.get("/account/activities/FILL", {"direction": "asc"})
    assert same == activities


def test_stock_data_parse(stocks: StockHistoricalDataClient) -> None:
    snapshots = stocks.get_stock_snapshot(
        StockSnapshotRequest(symbol_or_symbols=["SPY", "QQQ", "NOTLISTED"], feed=DataFeed.IEX)
    )
    assert set(snapshots) == {"SPY", "QQQ"}
    spy = snapshots["SPY"]
    assert spy.latest_quote is not None and spy.latest_quote.bid_price < spy.latest_quote.ask_price
    assert spy.daily_bar is not None and spy.previous_daily_bar is not None
    assert spy.previous_daily_bar.timestamp < spy.daily_bar.timestamp
    bars = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["SPY", "QQQ"],
            timeframe=TimeFrame.Day,
            start=START - timedelta(days=60),
            end=START,
            limit=None,
        )
    )
    assert len(bars["SPY"]) > 35 and len(bars["QQQ"]) == len(bars["SPY"])
    assert bars["SPY"][-1].timestamp.date() == TODAY
    quotes = stocks.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))
    assert quotes["SPY"].ask_price >= quotes["SPY"].bid_price > 0


def test_stock_bars_pages_are_followed_by_the_sdk(server: LoopbackServer) -> None:
    params = {"symbols": "SPY,QQQ", "timeframe": "1Day", "start": "2026-01-02", "limit": 7}
    headers = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
    first = requests.get(f"{server.url}/v2/stocks/bars", params=params, headers=headers, timeout=10)
    body = first.json()
    assert sum(len(v) for v in body["bars"].values()) == 7 and body["next_page_token"]
    assert all(set(bar) == {"t", "o", "h", "l", "c", "v", "n", "vw"} for bar in body["bars"]["QQQ"])


def test_option_data_parse(options: OptionHistoricalDataClient) -> None:
    chain = options.get_option_chain(
        OptionChainRequest(
            underlying_symbol="SPY",
            feed=OptionsFeed.INDICATIVE,
            expiration_date_gte=TODAY,
            expiration_date_lte=TODAY + timedelta(days=40),
        )
    )
    assert len(chain) > 1000  # more than one page of 1000: the SDK followed the token
    with_greeks = [s for s in chain.values() if s.greeks is not None]
    assert with_greeks and all(-1.0 <= s.greeks.delta <= 1.0 for s in with_greeks)  # type: ignore[union-attr]
    some = sorted(chain)[:3]
    snaps = options.get_option_snapshot(OptionSnapshotRequest(symbol_or_symbols=some))
    assert sorted(snaps) == some
    quotes = options.get_option_latest_quote(OptionLatestQuoteRequest(symbol_or_symbols=some))
    assert sorted(quotes) == some
    assert all(q.ask_price >= q.bid_price for q in quotes.values())


def _raw(server: LoopbackServer, method: str, path: str, **kwargs: object) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.request(method, f"{server.url}{path}", **kwargs)  # type: ignore[arg-type]


def test_authentication_like_alpaca(server: LoopbackServer) -> None:
    missing = _raw(server, "GET", "/v2/account")
    assert missing.status_code == 401 and missing.json()["code"] == 40110000
    wrong = _raw(
        server, "GET", "/v2/account",
        headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": "nope"},
    )  # fmt: skip
    assert wrong.status_code == 403 and wrong.json()["message"] == "forbidden."
    client = StockHistoricalDataClient(API_KEY, "wrong", url_override=server.url)
    with pytest.raises(APIError) as raised:
        client.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))
    assert raised.value.status_code == 403


def test_errors_have_alpaca_bodies(trading: TradingClient) -> None:
    with pytest.raises(APIError) as not_found:
        trading.get_order_by_id(uuid.UUID(int=1))
    assert not_found.value.status_code == 404 and not_found.value.code == 40410000
    puts = _puts(trading)
    request = LimitOrderRequest(
        symbol=puts[-1], qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        limit_price=0.01, client_order_id="dup",
    )  # fmt: skip
    trading.submit_order(request)
    with pytest.raises(APIError) as duplicate:
        trading.submit_order(request)
    assert duplicate.value.status_code == 422 and duplicate.value.code == 40010001
    assert duplicate.value.message == "client_order_id must be unique"
    too_big = LimitOrderRequest(
        symbol=puts[0], qty=5000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        limit_price=20.0, client_order_id="too-big",
    )  # fmt: skip
    with pytest.raises(APIError) as forbidden:
        trading.submit_order(too_big)
    assert forbidden.value.status_code == 403 and forbidden.value.code == 40310000
    assert "buying power" in forbidden.value.message


def test_fractional_and_string_quantities(server: LoopbackServer, trading: TradingClient) -> None:
    puts = _puts(trading)
    headers = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
    base = {"symbol": puts[-1], "side": "buy", "type": "limit", "time_in_force": "day",
            "limit_price": "0.01"}  # fmt: skip
    text = _raw(server, "POST", "/v2/orders", json={**base, "qty": "1", "client_order_id": "q1"},
                headers=headers)  # fmt: skip
    assert text.status_code == 200 and text.json()["qty"] == "1"
    fraction = _raw(server, "POST", "/v2/orders",
                    json={**base, "qty": 1.5, "client_order_id": "q2"}, headers=headers)  # fmt: skip
    assert fraction.status_code == 422
    assert fraction.json()["message"] == "qty must be integer for options trading"


def test_rate_limit_headers_and_429(server: LoopbackServer) -> None:
    headers = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
    server.admin("POST", "rate_limit", {"limit": 3, "window_s": 30.0})
    try:
        server.admin("POST", "stats/reset")
        answers = [_raw(server, "GET", "/v2/clock", headers=headers) for _ in range(4)]
        data = _raw(server, "GET", "/v2/stocks/quotes/latest", params={"symbols": "SPY"},
                    headers=headers)  # fmt: skip
    finally:
        server.admin("POST", "rate_limit", {"limit": 100_000, "window_s": 60.0})
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-Ratelimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json()["code"] == 42910000
    assert data.status_code == 200  # the data budget is separate
    stats = server.stats()
    assert stats["rate_limited"] == 1 and stats["max_in_window"]["trading"] == 4


def test_calendar_covers_holidays(trading: TradingClient) -> None:
    days = trading.get_calendar(GetCalendarRequest(start=date(2026, 4, 1), end=date(2026, 4, 7)))
    assert date(2026, 4, 3) not in [d.date for d in days]  # Good Friday


def test_the_server_optagent_sim_server_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``app_from_settings`` (what ``serve`` runs): the settings' market, cash and keys."""
    from agent.adapters.sim.server import (
        DEFAULT_API_KEY,
        DEFAULT_SECRET_KEY,
        ServerThread,
        app_from_settings,
    )
    from agent.config import load_settings

    config = tmp_path / "c.yaml"
    config.touch()
    settings = load_settings(
        config, ["sim.n_underlyings=21", "sim.initial_cash_usd=50000"], env_file=None, environ={}
    )
    thread = ServerThread(app_from_settings(settings)).start()
    try:
        client = TradingClient(DEFAULT_API_KEY, DEFAULT_SECRET_KEY, url_override=thread.url)
        assert float(client.get_account().equity or 0) == 50_000
        clock = client.get_clock()
        assert clock.is_open and clock.timestamp.hour == 9 and clock.timestamp.minute == 30
        assert len(client.get_all_assets()) == 21
    finally:
        thread.stop()
    keyed = load_settings(
        config, [], env_file=None, environ={"ALPACA_API_KEY": "mine", "ALPACA_SECRET_KEY": "s"}
    )
    app = app_from_settings(keyed)
    assert (app.gate.api_key, app.gate.secret_key) == ("mine", "s")
    assert app.gate.rate.limit == 200


def test_reset_waits_for_hung_requests(server: LoopbackServer, trading: TradingClient) -> None:
    """A request hung by a fault must not land in the fresh account of the next test."""
    from agent.adapters.sim.server import FaultPlan
    from agent.adapters.sim.server_faults import FaultAction, FaultRule

    puts = _puts(trading)
    server.faults(
        FaultPlan(
            rules=(
                FaultRule(action=FaultAction.HANG, method="POST", path="/v2/orders", delay_s=0.6),
            )
        )
    )
    headers = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
    body = {"symbol": puts[-1], "side": "buy", "type": "limit", "time_in_force": "day",
            "limit_price": "0.01", "qty": 1, "client_order_id": "late"}  # fmt: skip
    with pytest.raises(requests.Timeout):
        _raw(server, "POST", "/v2/orders", json=body, headers=headers, timeout=0.1)
    assert server.app.gate.inflight == 1
    server.reset(START)  # returns only once the hung submit has been handled (and discarded)
    assert server.app.gate.inflight == 0
    assert trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL)) == []
    assert server.stats()["orders_per_client_id"] == {}

"""An Alpaca-compatible HTTP server on loopback, backed by the simulator.

The real alpaca-py client (TradingClient, StockHistoricalDataClient,
OptionHistoricalDataClient) works against it unchanged with ``url_override`` set to the
server's root URL: it serves the trading API (``/v2/…``), stock data (``/v2/stocks/…``) and
option data (``/v1beta1/options/…``) that optagent uses, with Alpaca's field names, types
(money as strings), paging tokens, error bodies and status codes (docs/alpaca.md lists the
endpoints and the known differences).

Behind it: a :class:`SimExchange` (the account, orders and fills) and the seeded
:class:`MarketModel` (quotes, chains, bars), both read at one :class:`Clock`. With a stepped
``SimClock``, time moves only through ``POST /_admin/advance``, so tests are deterministic.
In front of it: header-key authentication, Alpaca's 200 requests/minute per budget (429
beyond), request counters and a :class:`FaultPlan` (:mod:`.server_faults`).

Entry points: :func:`build_app` (an ASGI app), :class:`ServerThread` (uvicorn in a thread,
port 0 in tests) and :func:`serve` (``optagent sim-server``).
"""

from __future__ import annotations

import base64
import math
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import uvicorn
from fastapi import Body, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger

from agent.adapters.sim.exchange import (
    CODE_FORBIDDEN,
    CODE_NOT_FOUND,
    CODE_UNPROCESSABLE,
    CODE_VALIDATION,
    SimExchange,
)
from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.server_faults import (
    ASGIApp,
    FaultPlan,
    FaultState,
    Gate,
    RateLimit,
    Receive,
    Scope,
    Send,
    ServerStats,
)
from agent.adapters.sim.server_payloads import (
    account_json,
    activity_json,
    asset_json,
    bar_json,
    calendar_json,
    clock_json,
    contract_json,
    next_weekend,
    option_quote_json,
    option_snapshot_json,
    order_json,
    position_json,
    stock_quote_json,
    stock_snapshot_json,
)
from agent.calendar import ET, MarketCalendar, et_datetime
from agent.clock import Clock, SimClock
from agent.config import AgentSettings
from agent.domain import (
    Activity,
    ActivityType,
    BrokerOrder,
    OptionChain,
    OrderClass,
    OrderLeg,
    OrderRequest,
    PositionIntent,
    Side,
    TimeInForce,
    is_option_symbol,
    parse_occ,
)
from agent.errors import DataError, DuplicateClientOrderId, OrderNotFound, OrderRejected

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_SECRET_KEY",
    "AlpacaSimApp",
    "FaultPlan",
    "RateLimit",
    "ServerThread",
    "SimBackend",
    "build_app",
    "build_backend",
    "serve",
]

DEFAULT_API_KEY = "optagent-sim-key"
DEFAULT_SECRET_KEY = "optagent-sim-secret"
ACCOUNT_NUMBER = "PA0SIM000001"
MAX_CHAIN_YEARS = 3
RESET_DRAIN_S = 30.0
"""How long ``POST /_admin/reset`` waits for in-flight (e.g. hung) requests to finish."""
_HTTP_STATUS_OF_CODE = {
    CODE_VALIDATION: 422,
    CODE_FORBIDDEN: 403,
    CODE_NOT_FOUND: 404,
    CODE_UNPROCESSABLE: 422,
}


class ApiError(Exception):
    """An Alpaca-style error response."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _unprocessable(message: str, code: int = int(CODE_UNPROCESSABLE)) -> ApiError:
    return ApiError(422, code, message)


# --------------------------------------------------------------------------- paging tokens


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, _, value = base64.urlsafe_b64decode(padded).decode().partition(":")
        if kind != "o":
            raise ValueError(kind)
        return max(0, int(value))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, 40010000, "invalid page_token") from exc


def _page(items: list[Any], token: str | None, limit: int) -> tuple[list[Any], str | None]:
    start = _decode_token(token)
    end = start + limit
    return items[start:end], (_encode_token(end) if end < len(items) else None)


# --------------------------------------------------------------------------- parameters


def _limit(raw: str | None, *, default: int, maximum: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, 40010000, f"invalid limit: {raw!r}") from exc
    if value < 1:
        raise ApiError(400, 40010000, "limit must be > 0")
    return min(value, maximum)


def _date_param(raw: str | None, name: str) -> date | None:
    if raw in (None, ""):
        return None
    assert raw is not None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise ApiError(400, 40010000, f"invalid {name}: {raw!r}") from exc


def _time_param(raw: str | None, name: str) -> datetime | None:
    if raw in (None, ""):
        return None
    assert raw is not None
    text = raw.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=ET)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(400, 40010000, f"invalid {name}: {raw!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _symbols(raw: str | None) -> list[str]:
    return [s.strip().upper() for s in (raw or "").split(",") if s.strip()]


def _float_param(raw: str | None, name: str) -> float | None:
    if raw in (None, ""):
        return None
    assert raw is not None
    try:
        return float(raw)
    except ValueError as exc:
        raise ApiError(400, 40010000, f"invalid {name}: {raw!r}") from exc


def _decimal_field(body: Mapping[str, Any], key: str) -> Decimal | None:
    raw = body.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise _unprocessable(f"invalid {key}", int(CODE_VALIDATION)) from exc
    if not value.is_finite():
        raise _unprocessable(f"invalid {key}", int(CODE_VALIDATION))
    return value


def _whole_qty(raw: Any, what: str = "qty") -> int:
    """Alpaca takes ``1``, ``1.0`` and ``"1"``; options need whole numbers."""
    if raw is None or raw == "":
        raise _unprocessable(f"{what} is required", int(CODE_VALIDATION))
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise _unprocessable(f"invalid {what}", int(CODE_VALIDATION)) from exc
    if not value.is_finite() or value != value.to_integral_value():
        raise _unprocessable(f"{what} must be integer for options trading", int(CODE_VALIDATION))
    if value < 1:
        raise _unprocessable(f"{what} must be > 0", int(CODE_VALIDATION))
    return int(value)


# --------------------------------------------------------------------------- the backend


class SimBackend:
    """The simulator behind the server. ``reset`` gives a fresh account (and clock)."""

    def __init__(
        self,
        *,
        market: MarketModel,
        clock: Clock,
        exchange_factory: Callable[[Clock], SimExchange],
    ) -> None:
        self.market = market
        self.calendar: MarketCalendar = market.calendar
        self.lock = threading.RLock()
        self._exchange_factory = exchange_factory
        self.clock = clock
        self.exchange = exchange_factory(clock)
        self.stale_quotes_min = 0

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def data_time(self) -> datetime:
        """When market data is read: now, or ``stale_quotes_min`` earlier (a fault)."""
        return self.clock.now() - timedelta(minutes=self.stale_quotes_min)

    def advance(self, delta: timedelta) -> datetime:
        with self.lock:
            if not isinstance(self.clock, SimClock):
                raise ApiError(409, 40910000, "the server's clock is not a stepped SimClock")
            now = self.clock.advance(delta)
            self.exchange.advance_to(now)
            return now

    def reset(self, start: datetime | None = None) -> None:
        """A fresh exchange (empty account); with ``start``, a new stepped clock there."""
        with self.lock:
            if start is not None:
                self.clock = SimClock(start)
            self.exchange = self._exchange_factory(self.clock)

    def chain(
        self, underlying: str, *, min_expiry: date, max_expiry: date, at: datetime
    ) -> OptionChain | None:
        if underlying not in self.market.universe:
            return None
        try:
            return self.market.option_chain(
                underlying, at, min_expiry=min_expiry, max_expiry=max_expiry
            )
        except DataError:
            return None


# --------------------------------------------------------------------------- order bodies


def _infer_intent(side: Side, position_qty: int) -> PositionIntent:
    if side is Side.BUY:
        return PositionIntent.BUY_TO_CLOSE if position_qty < 0 else PositionIntent.BUY_TO_OPEN
    return PositionIntent.SELL_TO_CLOSE if position_qty > 0 else PositionIntent.SELL_TO_OPEN


def _side(raw: Any, where: str) -> Side | None:
    if raw in (None, ""):
        return None
    try:
        return Side(str(raw).lower())
    except ValueError as exc:
        raise _unprocessable(f"{where}invalid side: {raw!r}", int(CODE_VALIDATION)) from exc


def _intent(raw: Any, where: str) -> PositionIntent | None:
    if raw in (None, ""):
        return None
    try:
        return PositionIntent(str(raw).lower())
    except ValueError as exc:
        raise _unprocessable(f"{where}invalid position_intent: {raw!r}") from exc


def _leg(  # noqa: PLR0917
    symbol: Any, side_raw: Any, intent_raw: Any, ratio: int, holdings: Mapping[str, int], where: str
) -> OrderLeg:
    if not symbol or not isinstance(symbol, str):
        raise _unprocessable(f"{where}symbol is required", int(CODE_VALIDATION))
    side = _side(side_raw, where)
    intent = _intent(intent_raw, where)
    if side is None and intent is None:
        raise _unprocessable(f"{where}side is required", int(CODE_VALIDATION))
    if intent is None:
        assert side is not None
        intent = _infer_intent(side, holdings.get(symbol, 0))
    if side is None:
        side = intent.side
    if intent.side is not side:
        raise _unprocessable(f"{where}position intent mismatch, inferred: {side.value}")
    return OrderLeg(symbol=symbol, side=side, position_intent=intent, ratio_qty=ratio)


def order_request_from_body(
    body: Mapping[str, Any], holdings: Mapping[str, int], client_order_id: str
) -> OrderRequest:
    """The JSON of ``POST /v2/orders`` as a domain request (raises ApiError like Alpaca)."""
    kind = str(body.get("type") or body.get("order_type") or "").lower()
    if kind != "limit":
        raise _unprocessable(
            f"order type {kind or 'market'!r} is not supported by the simulator (limit only)"
        )
    if body.get("extended_hours"):
        raise _unprocessable("extended hours is not supported for options trading")
    if body.get("notional") not in (None, ""):
        raise _unprocessable("notional is not allowed for options trading")
    tif_raw = str(body.get("time_in_force") or "").lower()
    try:
        tif = TimeInForce(tif_raw)
    except ValueError as exc:
        raise _unprocessable("invalid option time_in_force") from exc
    qty = _whole_qty(body.get("qty"))
    limit = _decimal_field(body, "limit_price")
    if limit is None:
        raise _unprocessable("limit price is required for limit orders")
    order_class = str(body.get("order_class") or "simple").lower()
    if order_class == OrderClass.MLEG.value:
        raw_legs = body.get("legs")
        if not isinstance(raw_legs, list) or not raw_legs:
            raise _unprocessable("legs are required for mleg orders")
        legs = tuple(
            _leg(
                leg.get("symbol") if isinstance(leg, dict) else None,
                leg.get("side") if isinstance(leg, dict) else None,
                leg.get("position_intent") if isinstance(leg, dict) else None,
                _whole_qty(leg.get("ratio_qty") if isinstance(leg, dict) else None, "ratio_qty"),
                holdings,
                f"leg.{i} ",
            )
            for i, leg in enumerate(raw_legs)
        )
        signed = limit
    elif order_class == OrderClass.SIMPLE.value:
        leg = _leg(
            body.get("symbol"), body.get("side"), body.get("position_intent"), 1, holdings, ""
        )
        if body.get("side") in (None, ""):
            raise _unprocessable("side is required", int(CODE_VALIDATION))
        if limit <= 0:
            raise _unprocessable("invalid limit price")
        legs = (leg,)
        signed = limit if leg.side is Side.BUY else -limit
    else:
        raise _unprocessable(f"order_class {order_class!r} is not supported by the simulator")
    try:
        return OrderRequest(
            client_order_id=client_order_id,
            legs=legs,
            qty=qty,
            limit_price=signed,
            time_in_force=tif,
        )
    except DataError as exc:
        raise _unprocessable(str(exc)) from exc


def _rejection(exc: Exception) -> ApiError:
    if isinstance(exc, DuplicateClientOrderId):
        return ApiError(422, int(CODE_VALIDATION), "client_order_id must be unique")
    if isinstance(exc, OrderNotFound):
        return ApiError(404, int(CODE_NOT_FOUND), "order not found")
    if isinstance(exc, OrderRejected):
        code = exc.code or CODE_UNPROCESSABLE
        return ApiError(_HTTP_STATUS_OF_CODE.get(code, 422), int(code), str(exc))
    return _unprocessable(str(exc))


# --------------------------------------------------------------------------- the app


class AlpacaSimApp:
    """The ASGI application (gate + FastAPI routes) and handles on its state."""

    def __init__(self, asgi: ASGIApp, *, backend: SimBackend, stats: ServerStats,
                 faults: FaultState, gate: Gate) -> None:  # fmt: skip
        self._asgi = asgi
        self.backend = backend
        self.stats = stats
        self.faults = faults
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults.set(plan)
        self.backend.stale_quotes_min = plan.stale_quotes_min

    def set_rate_limit(self, rate: RateLimit) -> None:
        self.gate.rate = rate


def build_app(
    backend: SimBackend,
    *,
    api_key: str = DEFAULT_API_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    faults: FaultPlan | None = None,
    rate_limit: RateLimit | None = None,
) -> AlpacaSimApp:
    """The Alpaca-compatible ASGI app over ``backend`` (see the module docstring)."""
    stats = ServerStats()
    fault_state = FaultState()
    api = FastAPI(title="optagent Alpaca-compatible simulator", docs_url=None, redoc_url=None)
    gate = Gate(
        api,
        api_key=api_key,
        secret_key=secret_key,
        faults=fault_state,
        stats=stats,
        rate=rate_limit or RateLimit(),
    )
    app = AlpacaSimApp(gate, backend=backend, stats=stats, faults=fault_state, gate=gate)
    app.set_faults(faults or FaultPlan())
    b = backend

    @api.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"code": 40010000, "message": f"request body format is invalid: {exc.errors()[:1]}"},
            status_code=400,
        )

    # ------------------------------------------------------------------ admin

    @api.get("/_admin/stats")
    def admin_stats() -> dict[str, Any]:
        return stats.snapshot(gate.rate)

    @api.post("/_admin/stats/reset")
    def admin_stats_reset() -> dict[str, Any]:
        stats.reset()
        return {"ok": True}

    @api.get("/_admin/faults")
    def admin_faults() -> dict[str, Any]:
        return fault_state.plan.model_dump(mode="json")

    @api.post("/_admin/faults")
    def admin_set_faults(plan: FaultPlan) -> dict[str, Any]:
        app.set_faults(plan)
        return plan.model_dump(mode="json")

    @api.delete("/_admin/faults")
    def admin_clear_faults() -> dict[str, Any]:
        app.set_faults(FaultPlan())
        return {"ok": True}

    @api.post("/_admin/rate_limit")
    def admin_rate_limit(rate: RateLimit) -> dict[str, Any]:
        app.set_rate_limit(rate)
        return rate.model_dump()

    @api.get("/_admin/time")
    def admin_time() -> dict[str, Any]:
        with b.lock:
            return {"now": b.now.isoformat(), "is_open": b.calendar.is_open(b.now)}

    @api.post("/_admin/advance")
    def admin_advance(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        minutes = float(body.get("minutes", 0) or 0)
        seconds = float(body.get("seconds", 0) or 0)
        if minutes < 0 or seconds < 0:
            raise ApiError(400, 40010000, "time only moves forward")
        now = b.advance(timedelta(minutes=minutes, seconds=seconds))
        return {"now": now.isoformat(), "is_open": b.calendar.is_open(now)}

    @api.post("/_admin/reset")
    def admin_reset(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        start = _time_param(body.get("start"), "start")
        app.set_faults(FaultPlan())
        if not gate.wait_idle(RESET_DRAIN_S):
            raise ApiError(409, 40910000, "requests still in flight; try the reset again")
        b.reset(start)
        stats.reset()
        app.set_faults(FaultPlan())
        return {"now": b.now.isoformat()}

    # ------------------------------------------------------------------ account

    @api.get("/v2/account")
    def account() -> dict[str, Any]:
        with b.lock:
            snapshot = b.exchange.get_account()
            positions = b.exchange.get_positions()
        return account_json(snapshot, positions, account_number=ACCOUNT_NUMBER)

    @api.get("/v2/clock")
    def clock() -> dict[str, Any]:
        with b.lock:
            return clock_json(b.now, b.calendar)

    @api.get("/v2/calendar")
    def calendar(request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        with b.lock:
            today = b.now.astimezone(ET).date()
            start = _date_param(q.get("start"), "start") or today
            end = _date_param(q.get("end"), "end") or start + timedelta(days=30)
            return [
                calendar_json(day, b.calendar) for day in b.calendar.sessions_between(start, end)
            ]

    @api.get("/v2/assets")
    def assets(request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        if q.get("asset_class") not in (None, "", "us_equity"):
            return []
        if q.get("status") not in (None, "", "active"):
            return []
        return [asset_json(s, name=f"{s} (simulated)") for s in b.market.symbols]

    @api.get("/v2/assets/{symbol_or_id}")
    def asset(symbol_or_id: str) -> dict[str, Any]:
        for symbol in b.market.symbols:
            payload = asset_json(symbol, name=f"{symbol} (simulated)")
            if symbol_or_id.upper() == symbol or symbol_or_id == payload["id"]:
                return payload
        raise ApiError(404, int(CODE_NOT_FOUND), "asset not found")

    # ------------------------------------------------------------------ option contracts

    def _contracts(request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        with b.lock:
            now = b.now
            today = now.astimezone(ET).date()
            exact = _date_param(q.get("expiration_date"), "expiration_date")
            gte = _date_param(q.get("expiration_date_gte"), "expiration_date_gte")
            lte = _date_param(q.get("expiration_date_lte"), "expiration_date_lte")
            if exact is None and gte is None and lte is None:
                lte = next_weekend(today)
            lo = max(today, exact or gte or today)
            hi = exact or lte or today + timedelta(days=366 * MAX_CHAIN_YEARS)
            if q.get("status") not in (None, "", "active"):
                return []
            underlyings = _symbols(q.get("underlying_symbols")) or list(b.market.symbols)
            root = (q.get("root_symbol") or "").upper() or None
            kind = (q.get("type") or "").lower() or None
            style = (q.get("style") or "").lower() or None
            strike_lo = _float_param(q.get("strike_price_gte"), "strike_price_gte")
            strike_hi = _float_param(q.get("strike_price_lte"), "strike_price_lte")
            if style not in (None, "american"):
                return []
            out: list[dict[str, Any]] = []
            for underlying in underlyings:
                if root is not None and root != underlying:
                    continue
                chain = b.chain(underlying, min_expiry=lo, max_expiry=hi, at=now)
                if chain is None:
                    continue
                for i in range(len(chain)):
                    strike = float(chain.strike[i])
                    if kind is not None and (kind == "call") != bool(chain.is_call[i]):
                        continue
                    if strike_lo is not None and strike < strike_lo:
                        continue
                    if strike_hi is not None and strike > strike_hi:
                        continue
                    out.append(
                        contract_json(
                            str(chain.symbol[i]),
                            open_interest=float(chain.open_interest[i]),
                            close_price=float(chain.last[i]),
                            as_of=today,
                        )
                    )
            return out

    @api.get("/v2/options/contracts")
    def option_contracts(request: Request) -> dict[str, Any]:
        limit = _limit(request.query_params.get("limit"), default=100, maximum=10_000)
        items = _contracts(request)
        page, token = _page(items, request.query_params.get("page_token"), limit)
        return {"option_contracts": page, "next_page_token": token}

    @api.get("/v2/options/contracts/{symbol_or_id}")
    def option_contract(symbol_or_id: str) -> dict[str, Any]:
        with b.lock:
            now = b.now
            symbol = symbol_or_id.upper()
            if is_option_symbol(symbol):
                contract = parse_occ(symbol)
                chain = b.chain(
                    contract.underlying,
                    min_expiry=contract.expiry,
                    max_expiry=contract.expiry,
                    at=now,
                )
                if chain is not None:
                    for i in range(len(chain)):
                        if chain.symbol[i] == symbol:
                            return contract_json(
                                symbol,
                                open_interest=float(chain.open_interest[i]),
                                close_price=float(chain.last[i]),
                                as_of=now.astimezone(ET).date(),
                            )
        raise ApiError(404, int(CODE_NOT_FOUND), "option contract not found")

    # ------------------------------------------------------------------ orders

    def _new_client_order_id() -> str:
        return str(uuid.uuid4())

    @api.post("/v2/orders")
    def submit(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        cid_raw = body.get("client_order_id")
        cid = str(cid_raw) if cid_raw not in (None, "") else _new_client_order_id()
        if len(cid) > 128:
            raise _unprocessable(
                "client_order_id must be at most 128 characters", int(CODE_VALIDATION)
            )
        stats.count_submit(cid)
        with b.lock:
            holdings = {p.symbol: p.qty for p in b.exchange.get_positions()}
            request = order_request_from_body(body, holdings, cid)
            try:
                order = b.exchange.submit_order(request)
            except (OrderRejected, OrderNotFound) as exc:
                raise _rejection(exc) from exc
        stats.count_order(cid)
        return order_json(order)

    def _order_filters(request: Request) -> list[BrokerOrder]:
        q = request.query_params
        status = (q.get("status") or "open").lower()
        if status not in ("open", "closed", "all"):
            raise ApiError(400, 40010000, f"invalid status: {status!r}")
        limit = _limit(q.get("limit"), default=50, maximum=500)
        after = _time_param(q.get("after"), "after")
        until = _time_param(q.get("until"), "until")
        direction = (q.get("direction") or "desc").lower()
        symbols = set(_symbols(q.get("symbols")))
        side = (q.get("side") or "").lower() or None
        with b.lock:
            orders = b.exchange.list_orders(status=status, after=after, limit=1_000_000)  # type: ignore[arg-type]
        selected = [
            o
            for o in orders
            if (until is None or o.created_at < until)
            and (not symbols or any(leg.symbol in symbols for leg in o.legs))
            and (
                side is None
                or (o.order_class is OrderClass.SIMPLE and o.legs[0].side.value == side)
            )
        ]
        if direction == "asc":
            selected.reverse()
            return selected[:limit]
        return selected[:limit]

    @api.get("/v2/orders")
    def list_orders(request: Request) -> list[dict[str, Any]]:
        return [order_json(o) for o in _order_filters(request)]

    @api.get("/v2/orders:by_client_order_id")
    def order_by_client_id(request: Request) -> dict[str, Any]:
        cid = request.query_params.get("client_order_id") or ""
        with b.lock:
            order = b.exchange.get_order_by_client_id(cid)
        if order is None:
            raise ApiError(404, int(CODE_NOT_FOUND), "order not found")
        return order_json(order)

    def _valid_order_id(order_id: str) -> str:
        try:
            return str(uuid.UUID(order_id))
        except ValueError as exc:
            raise ApiError(404, int(CODE_NOT_FOUND), "order not found") from exc

    @api.get("/v2/orders/{order_id}")
    def get_order(order_id: str) -> dict[str, Any]:
        with b.lock:
            try:
                order = b.exchange.get_order(_valid_order_id(order_id))
            except OrderNotFound as exc:
                raise _rejection(exc) from exc
        return order_json(order)

    @api.patch("/v2/orders/{order_id}")
    def replace(order_id: str, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        cid_raw = body.get("client_order_id")
        cid = str(cid_raw) if cid_raw not in (None, "") else _new_client_order_id()
        qty = None if body.get("qty") in (None, "") else _whole_qty(body.get("qty"))
        if body.get("time_in_force") not in (None, "", "day"):
            raise _unprocessable("invalid option time_in_force")
        stats.count_submit(cid)
        with b.lock:
            try:
                old = b.exchange.get_order(_valid_order_id(order_id))
                limit = _decimal_field(body, "limit_price")
                if limit is None:
                    limit = old.limit_price or Decimal(0)
                elif old.order_class is OrderClass.SIMPLE:
                    if limit <= 0:
                        raise _unprocessable("invalid limit price")
                    limit = limit if old.legs[0].side is Side.BUY else -limit
                new = b.exchange.replace_order(
                    old.order_id, limit_price=limit, client_order_id=cid, qty=qty
                )
            except (OrderRejected, OrderNotFound) as exc:
                raise _rejection(exc) from exc
        stats.count_order(cid)
        return order_json(new)

    @api.delete("/v2/orders/{order_id}", status_code=204)
    def cancel(order_id: str) -> Response:
        with b.lock:
            try:
                b.exchange.cancel_order(_valid_order_id(order_id))
            except (OrderRejected, OrderNotFound) as exc:
                raise _rejection(exc) from exc
        return Response(status_code=204)

    @api.delete("/v2/orders")
    def cancel_all() -> JSONResponse:
        results: list[dict[str, Any]] = []
        with b.lock:
            for order in b.exchange.list_orders(status="open", limit=1_000_000):
                try:
                    b.exchange.cancel_order(order.order_id)
                    results.append({"id": order.order_id, "status": 200})
                except (OrderRejected, OrderNotFound) as exc:
                    error = _rejection(exc)
                    results.append(
                        {
                            "id": order.order_id,
                            "status": error.status,
                            "body": {"code": error.code, "message": error.message},
                        }
                    )
        return JSONResponse(results, status_code=207)

    # ------------------------------------------------------------------ positions

    @api.get("/v2/positions")
    def positions() -> list[dict[str, Any]]:
        with b.lock:
            return [position_json(p) for p in b.exchange.get_positions() if p.qty != 0]

    @api.get("/v2/positions/{symbol_or_asset_id}")
    def position(symbol_or_asset_id: str) -> dict[str, Any]:
        with b.lock:
            for p in b.exchange.get_positions():
                payload = position_json(p)
                if p.qty != 0 and symbol_or_asset_id in (p.symbol, payload["asset_id"]):
                    return payload
        raise ApiError(404, int(CODE_NOT_FOUND), "position does not exist")

    # ------------------------------------------------------------------ activities

    def _activities(request: Request, types: Iterable[str] | None) -> list[dict[str, Any]]:
        q = request.query_params
        wanted: set[ActivityType] | None = None
        if types is not None:
            wanted = set()
            for raw in types:
                code = "OPEXC" if raw.upper() == "OPXRC" else raw.upper()
                try:
                    wanted.add(ActivityType(code))
                except ValueError:
                    continue  # a type the simulator never produces (DIV, JNLC, …)
        direction = (q.get("direction") or "desc").lower()
        on = _date_param(q.get("date"), "date")
        after = _time_param(q.get("after"), "after")
        until = _time_param(q.get("until"), "until")
        page_size = _limit(q.get("page_size"), default=100, maximum=1000 if on else 100)
        token = q.get("page_token") or None
        with b.lock:
            every = b.exchange.get_activities()
            account_id = b.exchange.account_id
            orders: dict[str, BrokerOrder | None] = {}
            for a in every:
                if a.order_id and a.order_id not in orders:
                    try:
                        orders[a.order_id] = b.exchange.get_order(a.order_id)
                    except OrderNotFound:
                        orders[a.order_id] = None
        cumulative: dict[str, int] = {}
        running: dict[tuple[str, str], int] = {}
        for a in every:
            if a.activity_type is ActivityType.FILL and a.order_id:
                key = (a.order_id, a.symbol)
                running[key] = running.get(key, 0) + int(a.qty)
                cumulative[a.activity_id] = running[key]

        def keep(a: Activity) -> bool:
            if wanted is not None and a.activity_type not in wanted:
                return False
            if on is not None and a.occurred_on != on:
                return False
            stamp = a.occurred_at or datetime(
                a.occurred_on.year, a.occurred_on.month, a.occurred_on.day, tzinfo=ET
            )
            if after is not None and stamp <= after:
                return False
            return not (until is not None and stamp > until)

        selected = [a for a in every if keep(a)]
        if direction == "asc":
            if token:
                selected = [a for a in selected if a.activity_id > token]
        else:
            selected.reverse()
            if token:
                selected = [a for a in selected if a.activity_id < token]
        return [
            activity_json(
                a,
                account_id=account_id,
                order=orders.get(a.order_id) if a.order_id else None,
                cumulative=cumulative,
            )
            for a in selected[:page_size]
        ]

    @api.get("/v2/account/activities")
    def activities(request: Request) -> list[dict[str, Any]]:
        if request.query_params.get("activity_types") and request.query_params.get("category"):
            raise ApiError(400, 40010000, "activity_types and category cannot be combined")
        types = _symbols(request.query_params.get("activity_types")) or None
        category = request.query_params.get("category")
        if category == "trade_activity":
            types = ["FILL"]
        elif category == "non_trade_activity":
            types = ["OPASN", "OPEXC", "OPEXP", "OPTRD"]
        return _activities(request, types)

    @api.get("/v2/account/activities/{activity_type}")
    def activities_of_type(activity_type: str, request: Request) -> list[dict[str, Any]]:
        return _activities(request, [activity_type])

    # ------------------------------------------------------------------ stock data

    def _check_feed(raw: str | None, allowed: tuple[str, ...]) -> None:
        if raw not in (None, "") and raw not in allowed:
            raise ApiError(400, 40010000, f"invalid feed: {raw!r}")

    @api.get("/v2/stocks/snapshots")
    def stock_snapshots(request: Request) -> dict[str, Any]:
        q = request.query_params
        _check_feed(q.get("feed"), ("iex", "sip", "delayed_sip", "otc"))
        symbols = _symbols(q.get("symbols"))
        if not symbols:
            raise ApiError(400, 40010000, "symbols is required")
        out: dict[str, Any] = {}
        with b.lock:
            at = b.data_time()
            for symbol in symbols:
                if symbol not in b.market.universe:
                    continue
                snapshot = b.market.underlying_snapshot(symbol, at)
                session_day = b.market.locate(at).day
                bars = b.market.daily_bars(
                    symbol, session_day - timedelta(days=10), session_day, as_of=at
                )
                top = b.market.top_of_book([symbol], at).get(symbol)
                out[symbol] = stock_snapshot_json(
                    snapshot,
                    daily=bars[-1] if bars else None,
                    prev_daily=bars[-2] if len(bars) > 1 else None,
                    size=top.bid_size if top is not None else 100.0,
                )
        return out

    @api.get("/v2/stocks/bars")
    def stock_bars(request: Request) -> dict[str, Any]:
        q = request.query_params
        _check_feed(q.get("feed"), ("iex", "sip", "delayed_sip", "otc"))
        symbols = sorted(set(_symbols(q.get("symbols"))))
        if not symbols:
            raise ApiError(400, 40010000, "symbols is required")
        timeframe = q.get("timeframe") or ""
        if timeframe not in ("1Day", "1D", "1day"):
            raise ApiError(
                422, 42210000, f"timeframe {timeframe!r} is not supported by the simulator (1Day)"
            )
        limit = _limit(q.get("limit"), default=1000, maximum=10_000)
        sort = (q.get("sort") or "asc").lower()
        with b.lock:
            at = b.data_time()
            start = _time_param(q.get("start"), "start") or datetime.combine(
                at.astimezone(ET).date(), time(0), tzinfo=ET
            )
            end = _time_param(q.get("end"), "end") or at
            flat: list[tuple[str, dict[str, Any]]] = []
            for symbol in symbols:
                if symbol not in b.market.universe:
                    continue
                bars = b.market.daily_bars(
                    symbol,
                    start.astimezone(ET).date() - timedelta(days=1),
                    end.astimezone(ET).date(),
                    as_of=min(at, end) if end > start else at,
                )
                payloads = [bar_json(bar, daily=True) for bar in bars]
                payloads = [
                    p for p in payloads if start <= _require(_time_param(p["t"], "t")) <= end
                ]
                if sort == "desc":
                    payloads.reverse()
                flat.extend((symbol, p) for p in payloads)
        page, token = _page(flat, q.get("page_token"), limit)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for symbol, payload in page:
            grouped.setdefault(symbol, []).append(payload)
        return {"bars": grouped, "next_page_token": token}

    @api.get("/v2/stocks/quotes/latest")
    def stock_latest_quotes(request: Request) -> dict[str, Any]:
        q = request.query_params
        _check_feed(q.get("feed"), ("iex", "sip", "delayed_sip", "otc"))
        symbols = _symbols(q.get("symbols"))
        with b.lock:
            at = b.data_time()
            books = b.market.top_of_book([s for s in symbols if s in b.market.universe], at)
        return {
            "quotes": {
                s: stock_quote_json(top.bid, top.ask, top.bid_size, top.quoted_at)
                for s, top in books.items()
            }
        }

    # ------------------------------------------------------------------ option data

    def _option_rows(chain: OptionChain, rows: Iterable[int], at: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in rows:
            quote_time = float(chain.quote_time_s[i])
            quoted_at = (
                datetime.fromtimestamp(quote_time, tz=UTC) if math.isfinite(quote_time) else at
            )
            quote = option_quote_json(
                bid=float(chain.bid[i]),
                ask=float(chain.ask[i]),
                bid_size=float(chain.bid_size[i]),
                ask_size=float(chain.ask_size[i]),
                at=quoted_at,
            )
            out[str(chain.symbol[i])] = option_snapshot_json(
                quote=quote,
                last=float(chain.last[i]),
                volume=float(chain.volume[i]),
                iv=float(chain.vendor_iv[i]),
                greeks=(
                    float(chain.vendor_delta[i]),
                    float(chain.vendor_gamma[i]),
                    float(chain.vendor_theta[i]),
                    float(chain.vendor_vega[i]),
                ),
                at=at,
            )
        return out

    def _check_option_feed(raw: str | None) -> None:
        _check_feed(raw, ("indicative", "opra"))

    @api.get("/v1beta1/options/snapshots/{underlying}")
    def option_chain(underlying: str, request: Request) -> dict[str, Any]:
        q = request.query_params
        _check_option_feed(q.get("feed"))
        limit = _limit(q.get("limit"), default=100, maximum=1000)
        with b.lock:
            at = b.data_time()
            today = at.astimezone(ET).date()
            exact = _date_param(q.get("expiration_date"), "expiration_date")
            gte = exact or _date_param(q.get("expiration_date_gte"), "expiration_date_gte")
            lte = exact or _date_param(q.get("expiration_date_lte"), "expiration_date_lte")
            chain = b.chain(
                underlying.upper(),
                min_expiry=max(today, gte or today),
                max_expiry=lte or today + timedelta(days=366 * MAX_CHAIN_YEARS),
                at=at,
            )
            if chain is None:
                return {"snapshots": {}, "next_page_token": None}
            kind = (q.get("type") or "").lower() or None
            root = (q.get("root_symbol") or "").upper() or None
            strike_lo = _float_param(q.get("strike_price_gte"), "strike_price_gte")
            strike_hi = _float_param(q.get("strike_price_lte"), "strike_price_lte")
            rows = [
                i
                for i in range(len(chain))
                if (kind is None or (kind == "call") == bool(chain.is_call[i]))
                and (root is None or root == chain.underlying)
                and (strike_lo is None or float(chain.strike[i]) >= strike_lo)
                and (strike_hi is None or float(chain.strike[i]) <= strike_hi)
            ]
            rows.sort(key=lambda i: str(chain.symbol[i]))
            page, token = _page(rows, q.get("page_token"), limit)
            return {"snapshots": _option_rows(chain, page, at), "next_page_token": token}

    @api.get("/v1beta1/options/snapshots")
    def option_snapshots(request: Request) -> dict[str, Any]:
        q = request.query_params
        _check_option_feed(q.get("feed"))
        symbols = _symbols(q.get("symbols"))
        if not symbols:
            raise ApiError(400, 40010000, "symbols is required")
        limit = _limit(q.get("limit"), default=100, maximum=1000)
        page_symbols, token = _page(sorted(set(symbols)), q.get("page_token"), limit)
        out: dict[str, Any] = {}
        with b.lock:
            at = b.data_time()
            for symbol in page_symbols:
                if not is_option_symbol(symbol):
                    continue
                contract = parse_occ(symbol)
                chain = b.chain(
                    contract.underlying,
                    min_expiry=contract.expiry,
                    max_expiry=contract.expiry,
                    at=at,
                )
                if chain is None:
                    continue
                rows = [i for i in range(len(chain)) if chain.symbol[i] == symbol]
                out.update(_option_rows(chain, rows, at))
        return {"snapshots": out, "next_page_token": token}

    @api.get("/v1beta1/options/quotes/latest")
    def option_latest_quotes(request: Request) -> dict[str, Any]:
        q = request.query_params
        _check_option_feed(q.get("feed"))
        symbols = [s for s in _symbols(q.get("symbols")) if is_option_symbol(s)]
        with b.lock:
            books = b.market.top_of_book(symbols, b.data_time())
        return {
            "quotes": {
                s: option_quote_json(
                    bid=top.bid,
                    ask=top.ask,
                    bid_size=top.bid_size,
                    ask_size=top.ask_size,
                    at=top.quoted_at,
                )
                for s, top in books.items()
            }
        }

    return app


def _require(value: datetime | None) -> datetime:
    assert value is not None
    return value


# --------------------------------------------------------------------------- construction


def build_backend(
    market: MarketModel,
    *,
    clock: Clock,
    initial_cash_usd: Decimal | float = 100_000,
    seed: int = 42,
    fill_rate_per_min: float = 0.6,
    partial_fill_prob: float = 0.2,
    options_level: int = 3,
) -> SimBackend:
    """A backend whose exchange trades ``market`` (partial fills: the exchange's fill model)."""

    def make_exchange(at_clock: Clock) -> SimExchange:
        return SimExchange(
            quotes=market,
            clock=at_clock,
            calendar=market.calendar,
            initial_cash_usd=initial_cash_usd,
            seed=seed,
            fill_rate_per_min=fill_rate_per_min,
            partial_fill_prob=partial_fill_prob,
            options_level=options_level,
        )

    return SimBackend(market=market, clock=clock, exchange_factory=make_exchange)


def session_start_clock(settings: AgentSettings, market: MarketModel) -> SimClock:
    """A stepped clock at 09:30 ET on the first session on or after ``sim.start_date``."""
    day = market.calendar.next_session(settings.sim.start_date, inclusive=True)
    return SimClock(et_datetime(day, time(9, 30)))


def _keys(settings: AgentSettings) -> tuple[str, str]:
    key, secret = settings.alpaca_api_key, settings.alpaca_secret_key
    if key is not None and secret is not None and key.get_secret_value():
        return key.get_secret_value(), secret.get_secret_value()
    return DEFAULT_API_KEY, DEFAULT_SECRET_KEY


def app_from_settings(
    settings: AgentSettings,
    *,
    clock: Clock | None = None,
    faults: FaultPlan | None = None,
    rate_limit: RateLimit | None = None,
) -> AlpacaSimApp:
    """The server ``optagent sim-server`` runs: the simulated market of these settings, a
    fresh account with ``sim.initial_cash_usd``, Alpaca's budget from
    ``market_data.rate_limit_per_min``, and the keys from the environment (ALPACA_API_KEY /
    ALPACA_SECRET_KEY) or, when unset, :data:`DEFAULT_API_KEY` / :data:`DEFAULT_SECRET_KEY`."""
    market = MarketModel.from_settings(settings)
    backend = build_backend(
        market,
        clock=clock or session_start_clock(settings, market),
        initial_cash_usd=settings.sim.initial_cash_usd,
        seed=settings.sim.seed,
        fill_rate_per_min=settings.sim.fill_rate_per_min,
        partial_fill_prob=settings.sim.partial_fill_prob,
    )
    key, secret = _keys(settings)
    return build_app(
        backend,
        api_key=key,
        secret_key=secret,
        faults=faults,
        rate_limit=rate_limit or RateLimit(limit=settings.market_data.rate_limit_per_min),
    )


def serve(
    settings: AgentSettings,
    host: str | None = None,
    port: int | None = None,
    *,
    clock: Clock | None = None,
    faults: FaultPlan | None = None,
) -> None:
    """Run the server in the foreground (blocks) on ``sim.server_host:sim.server_port``."""
    app = app_from_settings(settings, clock=clock, faults=faults)
    bind_host = host or settings.sim.server_host
    bind_port = settings.sim.server_port if port is None else port
    logger.info(
        "Alpaca-compatible simulator on http://{}:{} (clock {}; set ALPACA_BASE_URL and "
        "ALPACA_DATA_URL to this URL)",
        bind_host,
        bind_port,
        app.backend.now.isoformat(),
    )
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", lifespan="off", ws="none")


class ServerThread:
    """uvicorn serving an app in a daemon thread (tests: port 0 = an ephemeral port)."""

    def __init__(self, app: AlpacaSimApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="error",
            lifespan="off",
            access_log=False,
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sim-server", daemon=True)
        self.host = host
        self.port = port

    def start(self, *, timeout_s: float = 10.0) -> ServerThread:
        self._thread.start()
        ready = threading.Event()

        def wait() -> None:
            while not self._server.started and self._thread.is_alive():
                threading.Event().wait(0.01)
            ready.set()

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        if not ready.wait(timeout_s) or not self._server.started:
            raise RuntimeError("the simulator server did not start")
        servers = getattr(self._server, "servers", [])
        if servers and servers[0].sockets:
            self.port = int(servers[0].sockets[0].getsockname()[1])
        return self

    @property
    def url(self) -> str:
        """The root URL to give alpaca-py as ``url_override`` (no slash, no /v2)."""
        return f"http://{self.host}:{self.port}"

    def stop(self, *, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)

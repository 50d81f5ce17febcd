"""AlpacaBroker: the :class:`agent.ports.Broker` port on alpaca-py's TradingClient.

Every request goes through the trading governor (``RequestLimiter``) with a priority, has an
HTTP timeout, and is retried only by :class:`~agent.adapters.alpaca.transport.Transport`.
Submits and replaces are never retried blindly: after an ambiguous failure (timeout,
connection reset, 5xx) the order is looked up by its client order id first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    OrderClass as AlpacaOrderClass,
)
from alpaca.trading.enums import (
    OrderSide,
    QueryOrderStatus,
)
from alpaca.trading.enums import (
    PositionIntent as AlpacaPositionIntent,
)
from alpaca.trading.enums import (
    TimeInForce as AlpacaTimeInForce,
)
from alpaca.trading.requests import (
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    OptionLegRequest,
    ReplaceOrderRequest,
)
from loguru import logger

from agent.adapters.alpaca.parse import (
    WANTED_ACTIVITY_TYPES,
    Json,
    parse_account,
    parse_activity,
    parse_order,
    parse_position,
)
from agent.adapters.alpaca.transport import (
    Domain,
    RetryPolicy,
    Transport,
    harden_client,
)
from agent.clock import Clock, SystemClock
from agent.config import AgentSettings
from agent.domain import (
    AccountSnapshot,
    Activity,
    ActivityType,
    BrokerOrder,
    BrokerPosition,
    Mode,
    OrderClass,
    OrderRequest,
    OrderStatus,
    TimeInForce,
)
from agent.errors import (
    ConfigError,
    DataError,
    DuplicateClientOrderId,
    OrderNotFound,
    OrderRejected,
    TransientBrokerError,
)
from agent.marketdata.governor import Priority, RequestLimiter
from agent.ports import Broker, OrderQueryStatus

ACTIVITY_PAGE_SIZE = 100
MAX_ORDERS_PAGE = 500
_KNOWN_ORDERS = 10_000
"""Order ids whose class (and leg ids) the adapter remembers."""


def trading_client(settings: AgentSettings) -> TradingClient:
    """A raw-JSON TradingClient for the configured base URL (keys from settings only)."""
    key, secret = settings.alpaca_api_key, settings.alpaca_secret_key
    if key is None or secret is None or not key.get_secret_value():
        raise ConfigError("Alpaca keys are not set: ALPACA_API_KEY and ALPACA_SECRET_KEY")
    return TradingClient(
        api_key=key.get_secret_value(),
        secret_key=secret.get_secret_value(),
        paper=settings.mode is not Mode.LIVE,
        raw_data=True,
        url_override=settings.trading_url,
    )


def policy_from_settings(settings: AgentSettings) -> RetryPolicy:
    return RetryPolicy(
        connect_timeout_s=settings.market_data.http_connect_timeout_s,
        read_timeout_s=settings.market_data.http_read_timeout_s,
    )


def to_alpaca_order(request: OrderRequest) -> LimitOrderRequest:
    """The SDK request for a DAY limit order, single-leg or ``mleg``.

    Single-leg: Alpaca wants the unsigned price with the leg's side (and the intent).
    Multi-leg: the signed net price (positive = debit, negative = credit) and legs as
    ``OptionLegRequest`` objects with their ratios; ``side`` is not sent on the parent.
    """
    tif = (
        AlpacaTimeInForce.GTC if request.time_in_force is TimeInForce.GTC else AlpacaTimeInForce.DAY
    )
    if request.order_class is OrderClass.SIMPLE:
        leg = request.legs[0]
        return LimitOrderRequest(
            symbol=leg.symbol,
            qty=request.qty,
            side=OrderSide(leg.side.value),
            position_intent=AlpacaPositionIntent(leg.position_intent.value),
            time_in_force=tif,
            limit_price=float(abs(request.limit_price)),
            client_order_id=request.client_order_id,
        )
    return LimitOrderRequest(
        qty=request.qty,
        order_class=AlpacaOrderClass.MLEG,
        time_in_force=tif,
        limit_price=float(request.limit_price),
        client_order_id=request.client_order_id,
        legs=[
            OptionLegRequest(
                symbol=leg.symbol,
                ratio_qty=leg.ratio_qty,
                side=OrderSide(leg.side.value),
                position_intent=AlpacaPositionIntent(leg.position_intent.value),
            )
            for leg in request.legs
        ],
    )


def _priority_of(request: OrderRequest) -> Priority:
    """Closing orders go first (EXIT); anything that opens is an ORDER."""
    if all(not leg.position_intent.opens for leg in request.legs):
        return Priority.EXIT
    return Priority.ORDER


class AlpacaBroker:
    """Implements :class:`agent.ports.Broker` over Alpaca's trading API (v2)."""

    def __init__(
        self,
        *,
        client: TradingClient,
        limiter: RequestLimiter,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.transport = Transport(policy=self.policy, sleep=sleep, seed=seed)
        harden_client(client, limiter=limiter, policy=self.policy, stats=self.transport.stats)
        self._client = client
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._order_class: OrderedDict[str, OrderClass] = OrderedDict()
        self._leg_parent: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_settings(
        cls,
        settings: AgentSettings,
        limiter: RequestLimiter,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> AlpacaBroker:
        """The broker for ``settings.trading_url`` with the keys from the environment/.env.

        ``limiter`` is the *trading* budget (200/min at Alpaca), shared with every other user
        of the trading API (pass the same one to ``AlpacaMarketData(trading_limiter=…)``).
        """
        return cls(
            client=trading_client(settings),
            limiter=limiter,
            policy=policy or policy_from_settings(settings),
            clock=clock,
            sleep=sleep,
            seed=settings.sim.seed,
        )

    # ------------------------------------------------------------------ helpers

    def _remember(self, order: BrokerOrder) -> BrokerOrder:
        with self._lock:
            self._order_class[order.order_id] = order.order_class
            self._order_class.move_to_end(order.order_id)
            for leg in order.legs:
                if leg.leg_order_id and leg.leg_order_id != order.order_id:
                    self._leg_parent[leg.leg_order_id] = order.order_id
            while len(self._order_class) > _KNOWN_ORDERS:
                self._order_class.popitem(last=False)
            while len(self._leg_parent) > _KNOWN_ORDERS:
                self._leg_parent.popitem(last=False)
        return order

    def _order(self, raw: Any, what: str) -> BrokerOrder:
        if not isinstance(raw, dict):
            raise DataError(f"{what}: expected an order object, got {type(raw).__name__}")
        return self._remember(parse_order(raw))

    def _read(self, call: Callable[[], Any], *, priority: Priority, what: str) -> Any:
        return self.transport.read(call, priority=priority, what=what)

    # ------------------------------------------------------------------ account and positions

    def get_account(self) -> AccountSnapshot:
        raw = self._read(self._client.get_account, priority=Priority.RECONCILE, what="account")
        return parse_account(cast(Json, raw), as_of=self._clock.now())

    def get_positions(self) -> list[BrokerPosition]:
        raw = self._read(
            self._client.get_all_positions, priority=Priority.RECONCILE, what="positions"
        )
        return [parse_position(item) for item in cast(list[Json], raw or [])]

    # ------------------------------------------------------------------ orders

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Submit; after an ambiguous failure look the client order id up, and resubmit (same
        id, after a grace period) only when the broker confirms it has no such order."""
        body = to_alpaca_order(request)
        cid = request.client_order_id
        priority = _priority_of(request)
        what = f"submit {cid}"
        attempts = self.policy.submit_attempts
        last: TransientBrokerError | None = None
        for attempt in range(1, attempts + 1):
            try:
                raw = self.transport.once(
                    lambda: self._client.submit_order(body),
                    priority=priority,
                    what=what,
                    domain=Domain.ORDER_WRITE,
                    ambiguous=True,
                )
                return self._order(raw, what)
            except DuplicateClientOrderId:
                if attempt == 1:
                    raise  # the caller reused a client order id
                # Our earlier attempt did land after all: adopt it.
                found = self._lookup_cid(cid, priority)
                if found is not None:
                    return found
                raise
            except TransientBrokerError as err:
                last = err
                if err.ambiguous:
                    found = self._lookup_cid(cid, priority)
                    if found is not None:
                        logger.info("submit {}: adopted the order found after {}", cid, err)
                        return found
                    delay = self.policy.lookup_grace_s
                else:
                    delay = self.transport.backoff(attempt, err.retry_after_s)
                if attempt == attempts:
                    break
                logger.warning("submit {}: {}; retrying in {:.2f}s", cid, err, delay)
                self.transport.stats.retries += 1
                self.transport.pause(delay)
        assert last is not None
        raise TransientBrokerError(
            f"{what}: outcome unknown after {attempts} attempts ({last})",
            ambiguous=last.ambiguous,
            retry_after_s=last.retry_after_s,
        )

    def _lookup_cid(self, client_order_id: str, priority: Priority) -> BrokerOrder | None:
        """The order with this client id (None if the broker confirms there is none).

        Transient failures of the look-up itself are retried; if it still fails, the
        outcome stays unknown and a TransientBrokerError(ambiguous=True) is raised.
        """
        try:
            raw = self.transport.read(
                lambda: self._client.get_order_by_client_id(client_order_id),
                priority=priority,
                what=f"look up {client_order_id}",
            )
        except OrderNotFound:
            return None
        except TransientBrokerError as err:
            raise TransientBrokerError(
                f"look-up of {client_order_id} failed ({err}); outcome unknown", ambiguous=True
            ) from err
        return self._order(raw, f"order {client_order_id}")

    def get_order(self, order_id: str) -> BrokerOrder:
        try:
            raw = self._read(
                lambda: self._client.get_order_by_id(order_id, GetOrderByIdRequest(nested=True)),
                priority=Priority.ORDER,
                what=f"order {order_id}",
            )
        except DataError as err:  # the SDK refuses a non-UUID id before sending anything
            raise OrderNotFound(f"order not found: {order_id} ({err})") from err
        return self._order(raw, f"order {order_id}")

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            raw = self._read(
                lambda: self._client.get_order_by_client_id(client_order_id),
                priority=Priority.ORDER,
                what=f"order {client_order_id}",
            )
        except OrderNotFound:
            return None
        return self._order(raw, f"order {client_order_id}")

    def list_orders(
        self,
        *,
        status: OrderQueryStatus = "open",
        after: datetime | None = None,
        limit: int = 500,
    ) -> list[BrokerOrder]:
        """Newest first; pages of 500 (Alpaca's maximum) walked back with ``until``."""
        if status not in ("open", "closed", "all"):
            raise ValueError(f"status must be open, closed or all (got {status!r})")
        orders: list[BrokerOrder] = []
        seen: set[str] = set()
        until: datetime | None = None
        while len(orders) < limit:
            page_size = min(MAX_ORDERS_PAGE, limit - len(orders))
            query = GetOrdersRequest(
                status=QueryOrderStatus(status),
                limit=page_size,
                after=after,
                until=until,
                direction=Sort.DESC,
                nested=True,
            )
            raw = self._read(
                lambda q=query: self._client.get_orders(q),  # type: ignore[misc]
                priority=Priority.RECONCILE,
                what="list orders",
            )
            page = [self._order(item, "list orders") for item in cast(list[Json], raw or [])]
            fresh = [o for o in page if o.order_id not in seen]
            for order in fresh:
                seen.add(order.order_id)
            orders.extend(fresh)
            if len(page) < page_size or not fresh:
                break
            until = min(o.created_at for o in page)
        return orders[:limit]

    def cancel_order(self, order_id: str) -> None:
        """Cancel (priority EXIT). A cancel whose outcome was unknown is checked by reading the
        order: canceled means done, still working means cancel again."""
        attempts = self.policy.submit_attempts
        for attempt in range(1, attempts + 1):
            try:
                self.transport.once(
                    lambda: self._client.cancel_order_by_id(order_id),
                    priority=Priority.EXIT,
                    what=f"cancel {order_id}",
                    domain=Domain.ORDER_WRITE,
                    ambiguous=True,
                )
                return
            except DataError as err:  # non-UUID id refused by the SDK
                raise OrderNotFound(f"order not found: {order_id} ({err})") from err
            except OrderRejected:
                if attempt > 1 and self._status(order_id) in (
                    OrderStatus.CANCELED,
                    OrderStatus.PENDING_CANCEL,
                ):
                    return  # our earlier, ambiguous attempt did it
                raise
            except TransientBrokerError as err:
                if attempt == attempts:
                    raise
                if err.ambiguous and self._status(order_id) in (
                    OrderStatus.CANCELED,
                    OrderStatus.PENDING_CANCEL,
                ):
                    return
                self.transport.stats.retries += 1
                self.transport.pause(self.transport.backoff(attempt, err.retry_after_s))

    def _status(self, order_id: str) -> OrderStatus | None:
        try:
            return self.get_order(order_id).status
        except TransientBrokerError:
            return None

    def replace_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal,
        client_order_id: str,
        qty: int | None = None,
    ) -> BrokerOrder:
        """Replace price (and qty): a new order with a new id. Single-leg prices go out
        unsigned; multi-leg net prices signed. Ambiguous failures are resolved by looking up
        the new client order id before trying again."""
        with self._lock:
            known = self._order_class.get(order_id)
        if known is None:
            known = self.get_order(order_id).order_class
        price = abs(limit_price) if known is OrderClass.SIMPLE else limit_price
        body = ReplaceOrderRequest(
            qty=qty,
            limit_price=float(price),
            client_order_id=client_order_id,
        )
        what = f"replace {order_id} -> {client_order_id}"
        attempts = self.policy.submit_attempts
        last: TransientBrokerError | None = None
        for attempt in range(1, attempts + 1):
            try:
                raw = self.transport.once(
                    lambda: self._client.replace_order_by_id(order_id, body),
                    priority=Priority.ORDER,
                    what=what,
                    domain=Domain.ORDER_WRITE,
                    ambiguous=True,
                )
                return self._order(raw, what)
            except DataError as err:
                raise OrderNotFound(f"order not found: {order_id} ({err})") from err
            except DuplicateClientOrderId:
                found = self._lookup_cid(client_order_id, Priority.ORDER) if attempt > 1 else None
                if found is not None:
                    return found
                raise
            except OrderRejected:
                if attempt > 1:
                    found = self._lookup_cid(client_order_id, Priority.ORDER)
                    if found is not None:
                        return found
                raise
            except TransientBrokerError as err:
                last = err
                if err.ambiguous:
                    found = self._lookup_cid(client_order_id, Priority.ORDER)
                    if found is not None:
                        return found
                    delay = self.policy.lookup_grace_s
                else:
                    delay = self.transport.backoff(attempt, err.retry_after_s)
                if attempt == attempts:
                    break
                self.transport.stats.retries += 1
                self.transport.pause(delay)
        assert last is not None
        raise TransientBrokerError(
            f"{what}: outcome unknown after {attempts} attempts ({last})",
            ambiguous=last.ambiguous,
        )

    # ------------------------------------------------------------------ activities

    def get_activities(
        self,
        *,
        after_id: str | None = None,
        types: Sequence[ActivityType] | None = None,
    ) -> list[Activity]:
        """Activities strictly after ``after_id``, ascending, all pages (``page_token`` = the
        last id seen). alpaca-py's TradingClient has no method for this endpoint."""
        wanted = [t.value for t in types] if types is not None else list(WANTED_ACTIVITY_TYPES)
        if types is not None and ActivityType.OPTION_EXERCISE in types:
            wanted.append("OPXRC")
        params: dict[str, Any] = {
            "activity_types": ",".join(wanted),
            "direction": "asc",
            "page_size": ACTIVITY_PAGE_SIZE,
        }
        with self._lock:
            parents = dict(self._leg_parent)
        out: list[Activity] = []
        cursor = after_id
        while True:
            query = dict(params)
            if cursor is not None:
                query["page_token"] = cursor
            raw = self._read(
                lambda q=query: self._client.get("/account/activities", q),  # type: ignore[misc]
                priority=Priority.RECONCILE,
                what="activities",
            )
            page = cast(list[Json], raw or [])
            for item in page:
                activity = parse_activity(item, parent_of=parents)
                if activity is None:
                    continue
                if after_id is not None and activity.activity_id <= after_id:
                    continue
                if types is not None and activity.activity_type not in types:
                    continue
                out.append(activity)
            if len(page) < ACTIVITY_PAGE_SIZE:
                break
            last_id = page[-1].get("id")
            if not last_id or last_id == cursor:
                break
            cursor = str(last_id)
        out.sort(key=lambda a: a.activity_id)
        return out


def as_broker(broker: AlpacaBroker) -> Broker:
    """The adapter seen through the port (and a static check that it implements it)."""
    return broker

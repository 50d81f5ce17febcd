"""SimExchange: the embedded simulated broker (implements :class:`agent.ports.Broker`).

It behaves like Alpaca for what optagent uses (see ``docs/simulator-exchange.md``):
DAY limit orders, single-leg and multi-leg (``mleg``, 2-4 legs) with Alpaca's validation
messages and codes; fills against the NBBO of a :class:`QuoteSource`, minute by minute,
during regular sessions only; a level-3 account margined with the universal spread rule;
DAY expiry, option expiry (exercise / assignment / OPEXP) and early assignment at each
close; FILL / OPASN / OPEXC / OPEXP / OPTRD activities with sortable ids.

Time: every public method first processes simulated time up to ``clock.now()``
(:meth:`SimExchange.advance_to` does it explicitly for a stepped clock). Minutes are walked
only inside sessions and only while orders are working; nights, weekends, holidays and idle
minutes cost nothing. Randomness is a hash of (seed, order id, minute, purpose), and ids come
from (seed, sequence), so the same seed and the same calls give the same orders, fills and
activities, whether or not the exchange was saved and restored in between.

Money is USD ``Decimal``; prices are USD per share; option quantities are contracts (× 100
shares), stock quantities shares.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import uuid
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import reduce
from pathlib import Path
from typing import Any

from agent.adapters.sim.exchange_fill import (
    LegQuote,
    LegSpec,
    allocate_leg_prices,
    fill_probability_per_min,
    hashed_uniform,
    net_mid,
    net_natural,
    to_price,
)
from agent.adapters.sim.interfaces import QuoteSource, TopOfBook
from agent.adapters.sim.margin import (
    UnderlyingExposure,
    exposures_by_underlying,
    underlying_and_contract,
)
from agent.adapters.sim.sim_state import (
    AVG_PRICE_QUANTUM,
    BookState,
    ExchangeConfig,
    LegState,
    OrderState,
    PositionState,
    book_from_json,
    book_to_json,
)
from agent.calendar import ET, MarketCalendar, Session
from agent.clock import Clock
from agent.domain import (
    CONTRACT_MULTIPLIER,
    AccountSnapshot,
    Activity,
    ActivityType,
    AssetClass,
    BrokerOrder,
    BrokerPosition,
    Fill,
    OptionRight,
    OrderClass,
    OrderLeg,
    OrderRequest,
    OrderStatus,
    PositionIntent,
    Side,
    TimeInForce,
)
from agent.domain.orders import MAX_LEGS
from agent.errors import DataError, DuplicateClientOrderId, OrderNotFound, OrderRejected
from agent.ports import Broker, OrderQueryStatus

__all__ = [
    "CODE_FORBIDDEN",
    "CODE_NOT_FOUND",
    "CODE_UNPROCESSABLE",
    "CODE_VALIDATION",
    "SimExchange",
    "as_broker",
]

# Alpaca's error codes (ALPACA_NOTES §2), carried on OrderRejected.code.
CODE_VALIDATION = "40010001"
CODE_FORBIDDEN = "40310000"
CODE_NOT_FOUND = "40410000"
CODE_UNPROCESSABLE = "42210000"

MINUTE = timedelta(minutes=1)
ITM_THRESHOLD_USD = Decimal("0.01")
"""OCC exercise-by-exception: in the money by at least a cent at expiry."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_MULT = Decimal(CONTRACT_MULTIPLIER)
_ACCOUNT_NAMESPACE = "account"


def _floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _det_uuid(seed: int, kind: str, n: object) -> str:
    """A UUID (v4 layout) derived from (seed, kind, n): same inputs, same id."""
    digest = hashlib.sha256(f"optagent-sim|{seed}|{kind}|{n}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def _is_option(symbol: str) -> bool:
    return underlying_and_contract(symbol)[1] is not None


def _multiplier(symbol: str) -> Decimal:
    return _MULT if _is_option(symbol) else Decimal(1)


def _money(value: Decimal | float | int) -> Decimal:
    """USD as Decimal; a float (e.g. from settings) by its shortest repr, so 0.1 stays 0.1."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _reject(message: str, code: str) -> OrderRejected:
    return OrderRejected(message, code=code)


class SimExchange:
    """The simulated broker. Thread-safe: every public method holds one re-entrant lock."""

    def __init__(
        self,
        *,
        quotes: QuoteSource,
        clock: Clock,
        calendar: MarketCalendar,
        initial_cash_usd: Decimal | float,
        seed: int,
        fill_rate_per_min: float = 0.6,
        partial_fill_prob: float = 0.2,
        early_assignment_prob: float = 0.3,
        early_assignment_max_extrinsic_usd: float = 0.05,
        options_level: int = 3,
        fee_per_contract_usd: Decimal | float = _ZERO,
    ) -> None:
        """``fee_per_contract_usd`` is the fee hook: Alpaca charges no commission, so 0 by
        default (regulatory pass-through fees are not modelled)."""
        initial_cash_usd = _money(initial_cash_usd)
        if initial_cash_usd < 0:
            raise ValueError(f"initial_cash_usd must be ≥ 0 (got {initial_cash_usd})")
        for name, value in (
            ("fill_rate_per_min", fill_rate_per_min),
            ("partial_fill_prob", partial_fill_prob),
            ("early_assignment_prob", early_assignment_prob),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1] (got {value})")
        if not 0 <= options_level <= 3:
            raise ValueError(f"options_level must be 0-3 (got {options_level})")
        config = ExchangeConfig(
            seed=seed,
            initial_cash_usd=initial_cash_usd,
            fill_rate_per_min=fill_rate_per_min,
            partial_fill_prob=partial_fill_prob,
            early_assignment_prob=early_assignment_prob,
            early_assignment_max_extrinsic_usd=early_assignment_max_extrinsic_usd,
            options_level=options_level,
            fee_per_contract_usd=_money(fee_per_contract_usd),
        )
        book = BookState(
            config=config,
            cash_usd=initial_cash_usd,
            last_equity_usd=initial_cash_usd,
            processed_until=clock.now(),
        )
        self._attach(quotes=quotes, clock=clock, calendar=calendar, book=book)

    def _attach(
        self, *, quotes: QuoteSource, clock: Clock, calendar: MarketCalendar, book: BookState
    ) -> None:
        self._quotes = quotes
        self._clock = clock
        self._calendar = calendar
        self._book = book
        self._cfg = book.config
        self._lock = threading.RLock()
        self._by_id: dict[str, OrderState] = {o.order_id: o for o in book.orders}
        self._by_cid: dict[str, OrderState] = {o.client_order_id: o for o in book.orders}
        # Working orders in submission order (dicts keep insertion order): fills are tried in
        # this order every minute, which keeps runs reproducible.
        self._working: dict[str, OrderState] = {
            o.order_id: o for o in sorted(book.orders, key=lambda o: o.seq) if o.is_working
        }
        self._activity_ids: list[str] = [a.activity_id for a in book.activities]
        self.account_id = _det_uuid(self._cfg.seed, _ACCOUNT_NAMESPACE, 0)

    # ================================================================== state

    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly here, as JSON-serialisable data."""
        with self._lock:
            return book_to_json(self._book)

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        quotes: QuoteSource,
        clock: Clock,
        calendar: MarketCalendar,
    ) -> SimExchange:
        """An exchange that continues from ``state`` (see :meth:`to_state`)."""
        exchange = cls.__new__(cls)
        exchange._attach(
            quotes=quotes, clock=clock, calendar=calendar, book=book_from_json(dict(state))
        )
        return exchange

    def save(self, path: Path | str) -> None:
        """Write the state to ``path`` atomically (temporary file, fsync, rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(self.to_state(), separators=(",", ":"), sort_keys=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(
        cls,
        path: Path | str,
        *,
        quotes: QuoteSource,
        clock: Clock,
        calendar: MarketCalendar,
    ) -> SimExchange:
        """The exchange saved at ``path`` by :meth:`save`."""
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_state(state, quotes=quotes, clock=clock, calendar=calendar)

    @property
    def journal_length(self) -> int:
        """Fills plus account activities recorded so far: it grows with every execution,
        expiry and assignment (a saver compares it to know the book changed)."""
        with self._lock:
            return len(self._book.fills) + len(self._book.activities)

    @property
    def processed_until(self) -> datetime:
        """Simulated time up to which fills and end-of-day work have been applied."""
        with self._lock:
            return self._book.processed_until

    @property
    def seed(self) -> int:
        return self._cfg.seed

    # ================================================================== Broker port

    def get_account(self) -> AccountSnapshot:
        with self._lock:
            now = self._sync()
            mark_at = self._mark_time(now)
            buying_power = self._buying_power_usd(mark_at)
            return AccountSnapshot(
                equity=self._equity_usd(mark_at),
                cash=self._book.cash_usd,
                buying_power=buying_power,
                options_buying_power=buying_power,
                last_equity=self._book.last_equity_usd,
                options_level=self._cfg.options_level,
                as_of=now,
                account_id=self.account_id,
            )

    def get_positions(self) -> list[BrokerPosition]:
        with self._lock:
            now = self._sync()
            marks = self._marks(self._mark_time(now))
            return [
                BrokerPosition(
                    symbol=p.symbol,
                    qty=p.qty,
                    avg_entry_price=p.avg_entry_price,
                    asset_class=p.asset_class,
                    market_value=p.qty * marks[p.symbol] * _multiplier(p.symbol),
                )
                for p in sorted(self._book.positions.values(), key=lambda p: p.symbol)
            ]

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        with self._lock:
            now = self._sync()
            self._check_new_client_order_id(request.client_order_id)
            self._validate(request, now, replacing=None)
            order = self._create_order(request, now, replaces=None)
            return order.to_broker_order()

    def get_order(self, order_id: str) -> BrokerOrder:
        with self._lock:
            self._sync()
            return self._order(order_id).to_broker_order()

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        with self._lock:
            self._sync()
            order = self._by_cid.get(client_order_id)
            return None if order is None else order.to_broker_order()

    def list_orders(
        self,
        *,
        status: OrderQueryStatus = "open",
        after: datetime | None = None,
        limit: int = 500,
    ) -> list[BrokerOrder]:
        """Orders newest first (Alpaca's default direction), at most ``limit``.

        ``open`` = working (new, partially filled); ``closed`` = terminal; ``after`` keeps
        orders created strictly after it.
        """
        if status not in ("open", "closed", "all"):
            raise ValueError(f"status must be open, closed or all (got {status!r})")
        with self._lock:
            self._sync()
            selected = [
                o
                for o in self._book.orders
                if (
                    status == "all"
                    or (status == "open" and o.is_working)
                    or (status == "closed" and not o.is_working)
                )
                and (after is None or o.created_at > after)
            ]
            selected.sort(key=lambda o: (o.created_at, o.seq), reverse=True)
            return [o.to_broker_order() for o in selected[: max(0, limit)]]

    def cancel_order(self, order_id: str) -> None:
        with self._lock:
            now = self._sync()
            order = self._order(order_id)
            if not order.is_working:
                raise _reject(
                    f'order is already in "{order.status.value}" state', CODE_UNPROCESSABLE
                )
            order.status = OrderStatus.CANCELED
            order.updated_at = now
            del self._working[order.order_id]

    def replace_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal,
        client_order_id: str,
        qty: int | None = None,
    ) -> BrokerOrder:
        """A new order (new id, ``replaces`` = old id) for the old one's legs at ``limit_price``.

        ``qty`` is the new order's quantity (default: what is left of the old one). The old
        order becomes ``replaced``. If the new order fails validation the old one keeps working.
        """
        with self._lock:
            now = self._sync()
            old = self._order(order_id)
            if not old.is_working:
                raise _reject(f'order is already in "{old.status.value}" state', CODE_UNPROCESSABLE)
            self._check_new_client_order_id(client_order_id)
            new_qty = old.remaining_qty if qty is None else qty
            if isinstance(new_qty, bool) or not isinstance(new_qty, int) or new_qty < 1:
                raise _reject(f"qty must be a whole number ≥ 1 (got {qty})", CODE_VALIDATION)
            try:
                request = OrderRequest(
                    client_order_id=client_order_id,
                    legs=tuple(leg.to_order_leg() for leg in old.legs),
                    qty=new_qty,
                    limit_price=Decimal(limit_price),
                    time_in_force=old.time_in_force,
                )
            except DataError as exc:  # e.g. a single-leg limit signed against its side
                raise _reject(str(exc), CODE_UNPROCESSABLE) from exc
            self._validate(request, now, replacing=old)
            old.status = OrderStatus.REPLACED
            old.updated_at = now
            del self._working[old.order_id]
            new = self._create_order(request, now, replaces=old.order_id)
            old.replaced_by = new.order_id
            return new.to_broker_order()

    def get_activities(
        self,
        *,
        after_id: str | None = None,
        types: Sequence[ActivityType] | None = None,
    ) -> list[Activity]:
        with self._lock:
            self._sync()
            start = 0 if after_id is None else bisect_right(self._activity_ids, after_id)
            wanted = None if types is None else frozenset(types)
            return [
                a
                for a in self._book.activities[start:]
                if wanted is None or a.activity_type in wanted
            ]

    # ================================================================== beyond the port

    def advance_to(self, at: datetime) -> None:
        """Process simulated time up to ``at`` (fills, then end-of-day work at each close).

        ``at`` must not be ahead of the clock; earlier than what is processed is a no-op.
        """
        with self._lock:
            if at > self._clock.now():
                raise ValueError(f"cannot process beyond the clock ({at} > {self._clock.now()})")
            self._advance(at)

    def fills(self, *, order_id: str | None = None) -> list[Fill]:
        """Per-leg executions in the order they happened (``fill_id`` = FILL activity id)."""
        with self._lock:
            self._sync()
            return [f for f in self._book.fills if order_id is None or f.order_id == order_id]

    # ================================================================== time

    def _sync(self) -> datetime:
        now = self._clock.now()
        self._advance(now)
        return now

    def _advance(self, target: datetime) -> None:
        cursor = self._book.processed_until
        while cursor < target:
            session = self._calendar.current_or_next_session(cursor)
            if session.open_at > target:
                cursor = target
                break
            if self._working:
                minute = max(session.open_at, _floor_minute(cursor) + MINUTE)
                last = min(_floor_minute(target), session.close_at - MINUTE)
                while minute <= last and self._working:
                    self._process_minute(minute)
                    minute += MINUTE
            if target >= session.close_at:
                self._end_of_session(session)
                cursor = session.close_at
            else:
                cursor = target
        self._book.processed_until = max(self._book.processed_until, cursor)

    def _mark_time(self, at: datetime) -> datetime:
        """The minute whose quotes value positions at ``at``: the current minute in a
        session, else the last minute of the latest session that closed."""
        if self._calendar.is_open(at):
            return _floor_minute(at)
        day = at.astimezone(ET).date()
        session = self._calendar.session(day)
        if session is None or at < session.open_at:
            previous = self._calendar.session(self._calendar.previous_session(day))
            assert previous is not None
            session = previous
        return session.close_at - MINUTE

    # ================================================================== fills

    def _process_minute(self, minute: datetime) -> None:
        orders = list(self._working.values())
        books = self._quotes.top_of_book(_symbols_of(orders), minute)
        for order in orders:
            self._try_fill(order, books, minute)

    def _try_fill(
        self, order: OrderState, books: Mapping[str, TopOfBook], minute: datetime
    ) -> None:
        quotes: list[LegQuote] = []
        for leg in order.legs:
            book = books.get(leg.symbol)
            if book is None:
                return  # unlisted this minute: no fill
            quote = LegQuote(bid=to_price(book.bid), ask=to_price(book.ask))
            if not quote.is_tradable:
                return  # crossed or empty book: wait for a sane quote
            quotes.append(quote)
        specs = [LegSpec(sign=leg.side.sign, ratio=leg.ratio_qty) for leg in order.legs]
        natural = net_natural(specs, quotes)
        limit = order.limit_price
        seed = self._cfg.seed
        stamp = minute.isoformat()
        if limit >= natural:
            price = natural
        else:
            probability = fill_probability_per_min(
                limit=limit,
                mid=net_mid(specs, quotes),
                natural=natural,
                n_legs=len(specs),
                fill_rate_per_min=self._cfg.fill_rate_per_min,
            )
            if (
                probability <= 0.0
                or hashed_uniform(seed, "fill", order.order_id, stamp) >= probability
            ):
                return
            price = limit
        units = order.remaining_qty
        if units > 1 and (
            hashed_uniform(seed, "partial", order.order_id, stamp) < self._cfg.partial_fill_prob
        ):
            units = 1 + int(hashed_uniform(seed, "part-size", order.order_id, stamp) * (units - 1))
        leg_prices = allocate_leg_prices(specs, quotes, price)
        self._apply_fill(order, units, leg_prices, minute)

    def _apply_fill(
        self, order: OrderState, units: int, leg_prices: Sequence[Decimal], at: datetime
    ) -> None:
        order.filled_qty += units
        order.updated_at = at
        done = order.remaining_qty == 0
        if done:
            order.status = OrderStatus.FILLED
            order.filled_at = at
            del self._working[order.order_id]
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        for leg, price in zip(order.legs, leg_prices, strict=True):
            qty = units * leg.ratio_qty
            option = _is_option(leg.symbol)
            fee = self._cfg.fee_per_contract_usd * qty if option else _ZERO
            cash_delta = -leg.side.sign * qty * price * _multiplier(leg.symbol) - fee
            self._book.cash_usd += cash_delta
            leg.filled_qty += qty
            leg.filled_notional += qty * price
            self._apply_position(
                leg.symbol,
                leg.side.sign * qty,
                price,
                AssetClass.OPTION if option else AssetClass.EQUITY,
            )
            activity_id = self._next_activity_id(at)
            self._record(
                Activity(
                    activity_id=activity_id,
                    activity_type=ActivityType.FILL,
                    symbol=leg.symbol,
                    qty=Decimal(qty),
                    price=price,
                    net_amount=cash_delta,
                    occurred_on=at.astimezone(ET).date(),
                    occurred_at=at,
                    order_id=order.order_id,
                    side=leg.side,
                    description="fill" if done else "partial_fill",
                )
            )
            self._book.fills.append(
                Fill(
                    fill_id=activity_id,
                    order_id=order.order_id,
                    client_order_id=order.client_order_id,
                    symbol=leg.symbol,
                    side=leg.side,
                    qty=qty,
                    price=price,
                    filled_at=at,
                    position_intent=leg.position_intent,
                    fee_usd=fee,
                )
            )

    def _apply_position(
        self, symbol: str, delta: int, price: Decimal, asset_class: AssetClass
    ) -> None:
        """Add ``delta`` (signed) at ``price`` to a position; the average entry price moves only
        when the position grows (or flips, when it restarts at ``price``)."""
        position = self._book.positions.get(symbol)
        if position is None:
            self._book.positions[symbol] = PositionState(
                symbol=symbol, qty=delta, avg_entry_price=price, asset_class=asset_class
            )
            return
        old = position.qty
        new = old + delta
        if new == 0:
            del self._book.positions[symbol]
        elif old * delta > 0:
            total = abs(old) * position.avg_entry_price + abs(delta) * price
            position.avg_entry_price = (total / abs(new)).quantize(AVG_PRICE_QUANTUM)
        elif old * new < 0:
            position.avg_entry_price = price
        position.qty = new

    # ================================================================== end of session

    def _end_of_session(self, session: Session) -> None:
        close = session.close_at
        for order in self._working.values():
            order.status = OrderStatus.EXPIRED
            order.updated_at = close
        self._working.clear()
        self._expire_options(session)
        self._early_assignments(session)
        self._book.last_equity_usd = self._equity_usd(close - MINUTE)

    def _expire_options(self, session: Session) -> None:
        expiring = sorted(
            symbol
            for symbol in self._book.positions
            if (c := underlying_and_contract(symbol)[1]) is not None and c.expiry <= session.day
        )
        for symbol in expiring:
            underlying, contract = underlying_and_contract(symbol)
            assert contract is not None
            close_price = self._underlying_price(underlying, session.close_at)
            if close_price is None:
                itm_by = -ITM_THRESHOLD_USD  # no price: nothing to deliver against
            elif contract.right is OptionRight.CALL:
                itm_by = close_price - contract.strike
            else:
                itm_by = contract.strike - close_price
            if itm_by >= ITM_THRESHOLD_USD:
                self._exercise_or_assign(symbol, session.close_at, description="expiry")
            else:
                qty = self._book.positions.pop(symbol).qty
                self._record(
                    Activity(
                        activity_id=self._next_activity_id(session.close_at),
                        activity_type=ActivityType.OPTION_EXPIRY,
                        symbol=symbol,
                        qty=Decimal(qty),
                        price=None,
                        net_amount=_ZERO,
                        occurred_on=session.day,
                        occurred_at=session.close_at,
                        description="Option Expiry",
                    )
                )

    def _early_assignments(self, session: Session) -> None:
        candidates = sorted(
            p.symbol
            for p in self._book.positions.values()
            if p.qty < 0
            and (c := underlying_and_contract(p.symbol)[1]) is not None
            and c.right is OptionRight.PUT
            and c.expiry > session.day
        )
        if not candidates or self._cfg.early_assignment_prob <= 0:
            return
        mark_at = session.close_at - MINUTE
        books = self._quotes.top_of_book(candidates, mark_at)
        threshold = Decimal(repr(self._cfg.early_assignment_max_extrinsic_usd))
        for symbol in candidates:
            underlying, contract = underlying_and_contract(symbol)
            assert contract is not None
            spot = self._underlying_price(underlying, mark_at)
            book = books.get(symbol)
            if spot is None or book is None:
                continue
            intrinsic = contract.strike - spot
            if intrinsic < ITM_THRESHOLD_USD:
                continue
            extrinsic = (to_price(book.bid) + to_price(book.ask)) / 2 - intrinsic
            if extrinsic >= threshold:
                continue
            draw = hashed_uniform(self._cfg.seed, "early-assignment", symbol, session.day)
            if draw < self._cfg.early_assignment_prob:
                self._exercise_or_assign(symbol, session.close_at, description="early assignment")

    def _exercise_or_assign(self, symbol: str, at: datetime, *, description: str) -> None:
        """Deliver the stock of a whole option position at its strike (OPEXC/OPASN + OPTRD)."""
        underlying, contract = underlying_and_contract(symbol)
        assert contract is not None
        position = self._book.positions.pop(symbol)
        contracts = abs(position.qty)
        long = position.qty > 0
        # Long call / short put take delivery (buy); long put / short call deliver (sell).
        buys_stock = (contract.right is OptionRight.CALL) == long
        shares = contracts * CONTRACT_MULTIPLIER * (1 if buys_stock else -1)
        cash_delta = -shares * contract.strike
        day = at.astimezone(ET).date()
        self._record(
            Activity(
                activity_id=self._next_activity_id(at),
                activity_type=ActivityType.OPTION_EXERCISE
                if long
                else ActivityType.OPTION_ASSIGNMENT,
                symbol=symbol,
                qty=Decimal(contracts),
                price=None,
                net_amount=_ZERO,
                occurred_on=day,
                occurred_at=at,
                description=f"Option {'Exercise' if long else 'Assignment'} ({description})",
            )
        )
        self._book.cash_usd += cash_delta
        self._apply_position(underlying, shares, contract.strike, AssetClass.EQUITY)
        self._record(
            Activity(
                activity_id=self._next_activity_id(at),
                activity_type=ActivityType.OPTION_TRADE,
                symbol=underlying,
                qty=Decimal(shares),
                price=contract.strike,
                net_amount=cash_delta,
                occurred_on=day,
                occurred_at=at,
                side=Side.BUY if buys_stock else Side.SELL,
                description=f"Option Trade ({symbol})",
            )
        )

    # ================================================================== marks and margin

    def _underlying_price(self, underlying: str, at: datetime) -> Decimal | None:
        try:
            price = self._quotes.underlying_price(underlying, at)
        except (LookupError, ValueError, DataError):
            return None
        if not math.isfinite(price) or price < 0:
            return None
        return to_price(price)

    def _marks(self, mark_at: datetime) -> dict[str, Decimal]:
        """Mark price (USD/share) of every position: the NBBO mid, else intrinsic value at the
        underlying price (options) or the price (stock), else the average entry price."""
        symbols = sorted(self._book.positions)
        books = self._quotes.top_of_book(symbols, mark_at) if symbols else {}
        marks: dict[str, Decimal] = {}
        for symbol in symbols:
            book = books.get(symbol)
            if book is not None:
                quote = LegQuote(bid=to_price(book.bid), ask=to_price(book.ask))
                if quote.is_tradable:
                    marks[symbol] = quote.mid
                    continue
            underlying, contract = underlying_and_contract(symbol)
            spot = self._underlying_price(underlying, mark_at)
            if spot is None:
                marks[symbol] = self._book.positions[symbol].avg_entry_price
            elif contract is None:
                marks[symbol] = spot
            elif contract.right is OptionRight.CALL:
                marks[symbol] = max(_ZERO, spot - contract.strike)
            else:
                marks[symbol] = max(_ZERO, contract.strike - spot)
        return marks

    def _equity_usd(self, mark_at: datetime) -> Decimal:
        marks = self._marks(mark_at)
        value = sum(
            (
                p.qty * marks[p.symbol] * _multiplier(p.symbol)
                for p in self._book.positions.values()
            ),
            _ZERO,
        )
        return self._book.cash_usd + value

    def _holdings(self) -> dict[str, int]:
        return {symbol: p.qty for symbol, p in self._book.positions.items()}

    def _requirement_usd(
        self, exposure: UnderlyingExposure, underlying: str, at: datetime
    ) -> Decimal:
        spot = None if exposure.is_bounded else self._underlying_price(underlying, at)
        return exposure.requirement_usd(spot_usd=spot)

    def _order_cost_usd(
        self,
        legs: Sequence[OrderLeg],
        units: int,
        limit_price: Decimal,
        holdings: Mapping[str, int],
        at: datetime,
    ) -> Decimal:
        """Buying power the order consumes if it fills ``units`` at its limit: its cash cost
        plus the change of the margin requirement on its underlying (may be negative)."""
        underlying = underlying_and_contract(legs[0].symbol)[0]
        touched = {s: q for s, q in holdings.items() if underlying_and_contract(s)[0] == underlying}
        after = dict(touched)
        for leg in legs:
            after[leg.symbol] = after.get(leg.symbol, 0) + leg.side.sign * leg.ratio_qty * units
        before_exp = exposures_by_underlying(touched).get(underlying, UnderlyingExposure())
        after_exp = exposures_by_underlying(after).get(underlying, UnderlyingExposure())
        cash_cost = units * limit_price * _multiplier(legs[0].symbol)
        return cash_cost + (
            self._requirement_usd(after_exp, underlying, at)
            - self._requirement_usd(before_exp, underlying, at)
        )

    def _buying_power_usd(self, at: datetime, *, excluding: OrderState | None = None) -> Decimal:
        """cash − Σ requirements − what working orders reserve (at their limits)."""
        holdings = self._holdings()
        requirement = sum(
            (
                self._requirement_usd(exposure, underlying, at)
                for underlying, exposure in exposures_by_underlying(holdings).items()
            ),
            _ZERO,
        )
        reserved = _ZERO
        for order in self._working.values():
            if order is excluding:
                continue
            cost = self._order_cost_usd(
                [leg.to_order_leg() for leg in order.legs],
                order.remaining_qty,
                order.limit_price,
                holdings,
                at,
            )
            reserved += max(_ZERO, cost)
        return self._book.cash_usd - requirement - reserved

    # ================================================================== orders

    def _order(self, order_id: str) -> OrderState:
        order = self._by_id.get(order_id)
        if order is None:
            raise OrderNotFound(f"order not found: {order_id}")
        return order

    def _check_new_client_order_id(self, client_order_id: str) -> None:
        if client_order_id in self._by_cid:
            raise DuplicateClientOrderId("client_order_id must be unique", code=CODE_VALIDATION)

    def _create_order(
        self, request: OrderRequest, now: datetime, *, replaces: str | None
    ) -> OrderState:
        self._book.order_seq += 1
        seq = self._book.order_seq
        seed = self._cfg.seed
        order = OrderState(
            seq=seq,
            order_id=_det_uuid(seed, "order", seq),
            client_order_id=request.client_order_id,
            order_class=OrderClass.MLEG if len(request.legs) > 1 else OrderClass.SIMPLE,
            legs=[
                LegState(
                    symbol=leg.symbol,
                    side=leg.side,
                    position_intent=leg.position_intent,
                    ratio_qty=leg.ratio_qty,
                    leg_order_id=_det_uuid(seed, "order-leg", f"{seq}/{i}"),
                )
                for i, leg in enumerate(request.legs)
            ],
            qty=request.qty,
            limit_price=request.limit_price,
            time_in_force=request.time_in_force,
            status=OrderStatus.NEW,
            created_at=now,
            updated_at=now,
            replaces=replaces,
        )
        self._book.orders.append(order)
        self._by_id[order.order_id] = order
        self._by_cid[order.client_order_id] = order
        self._working[order.order_id] = order
        return order

    def _validate(
        self, request: OrderRequest, now: datetime, *, replacing: OrderState | None
    ) -> None:
        """Alpaca's checks, in roughly Alpaca's order; raises OrderRejected on the first."""
        legs = request.legs
        self._validate_structure(request)
        if request.time_in_force is not TimeInForce.DAY:
            raise _reject("invalid option time_in_force", CODE_UNPROCESSABLE)
        # The simulator takes orders only while the regular session is open (Alpaca would queue
        # a stock order for the open; options orders outside hours gain nothing here).
        if not self._calendar.is_open(now):
            raise _reject(
                "market is closed: orders are accepted during regular hours only",
                CODE_UNPROCESSABLE,
            )
        today = now.astimezone(ET).date()
        listed = self._quotes.top_of_book([leg.symbol for leg in legs], _floor_minute(now))
        for leg in legs:
            contract = underlying_and_contract(leg.symbol)[1]
            if contract is not None and contract.expiry < today:
                raise _reject(f"option contract {leg.symbol} has expired", CODE_UNPROCESSABLE)
            if leg.symbol not in listed:
                raise _reject(f'asset "{leg.symbol}" not found', CODE_VALIDATION)
        required_level = self._required_level(legs)
        if self._cfg.options_level < required_level:
            raise _reject(
                f"account not eligible for level{required_level} options trading", CODE_FORBIDDEN
            )
        self._validate_intents(request, replacing=replacing)
        self._validate_same_day_cutoff(legs, now, today)
        holdings = self._holdings()
        self._validate_risk(request, holdings, replacing=replacing)
        cost = self._order_cost_usd(legs, request.qty, request.limit_price, holdings, now)
        if cost > 0:
            available = self._buying_power_usd(now, excluding=replacing)
            if cost > available:
                kind = "options buying power" if _is_option(legs[0].symbol) else "buying power"
                raise _reject(
                    f"insufficient {kind} (required: {cost:.2f}, available: {available:.2f})",
                    CODE_FORBIDDEN,
                )

    def _validate_structure(self, request: OrderRequest) -> None:
        # OrderRequest enforces most of this on construction; checked again because requests
        # also arrive from outside (the HTTP server) and the rejection must be Alpaca-shaped.
        legs = request.legs
        qty = request.qty
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise _reject(f"qty must be a whole number ≥ 1 (got {qty})", CODE_VALIDATION)
        if not 1 <= len(legs) <= MAX_LEGS:
            raise _reject(
                f"an order has 1 to {MAX_LEGS} legs (got {len(legs)})", CODE_UNPROCESSABLE
            )
        symbols = [leg.symbol for leg in legs]
        if len(set(symbols)) != len(symbols):
            raise _reject("legs must have unique symbols", CODE_UNPROCESSABLE)
        if len(legs) == 1:
            leg = legs[0]
            if leg.ratio_qty != 1:
                raise _reject("ratio_qty of a single-leg order must be 1", CODE_UNPROCESSABLE)
            if request.limit_price == 0 or (request.limit_price > 0) != (leg.side is Side.BUY):
                raise _reject("invalid limit price", CODE_UNPROCESSABLE)
        else:
            if any(not _is_option(s) for s in symbols):
                raise _reject("equity legs are not supported in mleg orders", CODE_UNPROCESSABLE)
            if reduce(math.gcd, (leg.ratio_qty for leg in legs)) != 1:
                raise _reject(
                    "the greatest common divisor of leg ratios must be 1", CODE_UNPROCESSABLE
                )
            if len({underlying_and_contract(s)[0] for s in symbols}) != 1:
                raise _reject("underlying asset mismatch", CODE_UNPROCESSABLE)
        places = (
            Decimal("0.0001")
            if not _is_option(symbols[0]) and abs(request.limit_price) < 1
            else _CENT
        )
        if request.limit_price != request.limit_price.quantize(places):
            raise _reject(
                "sub-penny increment does not fulfill minimum pricing criteria", CODE_UNPROCESSABLE
            )

    @staticmethod
    def _required_level(legs: Sequence[OrderLeg]) -> int:
        """Alpaca's levels: 1 covered calls / cash-secured puts (and closing), 2 buying
        options, 3 multi-leg. Stock needs no options level."""
        if not any(_is_option(leg.symbol) for leg in legs):
            return 0
        if len(legs) > 1:
            return 3
        return 2 if legs[0].position_intent is PositionIntent.BUY_TO_OPEN else 1

    def _validate_intents(self, request: OrderRequest, *, replacing: OrderState | None) -> None:
        """Opening legs must not trade against a position; closing legs need enough of one
        that other working closing orders have not already claimed."""
        claimed: dict[str, int] = {}
        for order in self._working.values():
            if order is replacing:
                continue
            for working_leg in order.legs:
                if not working_leg.position_intent.opens:
                    claimed[working_leg.symbol] = (
                        claimed.get(working_leg.symbol, 0)
                        + order.remaining_qty * working_leg.ratio_qty
                    )
        for leg in request.legs:
            held = self._book.positions.get(leg.symbol)
            position = 0 if held is None else held.qty
            qty = request.qty * leg.ratio_qty
            intent = leg.position_intent
            if intent is PositionIntent.BUY_TO_OPEN and position < 0:
                raise _reject(
                    "position intent mismatch, inferred: buy_to_close", CODE_UNPROCESSABLE
                )
            if intent is PositionIntent.SELL_TO_OPEN and position > 0:
                raise _reject(
                    "position intent mismatch, inferred: sell_to_close", CODE_UNPROCESSABLE
                )
            if intent is PositionIntent.BUY_TO_CLOSE and position >= 0:
                raise _reject("position intent mismatch, inferred: buy_to_open", CODE_UNPROCESSABLE)
            if intent is PositionIntent.SELL_TO_CLOSE and position <= 0:
                raise _reject(
                    "position intent mismatch, inferred: sell_to_open", CODE_UNPROCESSABLE
                )
            if not intent.opens:
                available = abs(position) - claimed.get(leg.symbol, 0)
                if qty > available:
                    raise _reject(
                        f"insufficient qty available for order (requested: {qty}, "
                        f"available: {max(0, available)})",
                        CODE_FORBIDDEN,
                    )

    def _validate_same_day_cutoff(
        self, legs: Sequence[OrderLeg], now: datetime, today: date
    ) -> None:
        for leg in legs:
            underlying, contract = underlying_and_contract(leg.symbol)
            if contract is None or contract.expiry != today or not leg.position_intent.opens:
                continue
            cutoff = self._calendar.same_day_expiry_cutoff(underlying, today)
            if cutoff is not None and now > cutoff:
                raise _reject(
                    f"options expiring today cannot be opened after "
                    f"{cutoff.astimezone(ET):%H:%M} ET",
                    CODE_UNPROCESSABLE,
                )

    def _validate_risk(
        self,
        request: OrderRequest,
        holdings: Mapping[str, int],
        *,
        replacing: OrderState | None,
    ) -> None:
        legs = request.legs
        if len(legs) > 1:
            # Alpaca: every short leg of a multi-leg order must be covered inside the order,
            # i.e. the order's opening legs on their own have a bounded loss.
            opening = {
                leg.symbol: leg.side.sign * leg.ratio_qty
                for leg in legs
                if leg.position_intent.opens
            }
            for exposure in exposures_by_underlying(opening).values():
                if not exposure.is_bounded:
                    raise _reject(
                        "uncovered short legs are not allowed in a multi-leg order",
                        CODE_UNPROCESSABLE,
                    )
        # Judged as if every working order filled too, so two orders that are each fine
        # (a covered call and the sale of its shares) cannot together leave a naked call.
        underlying = underlying_and_contract(legs[0].symbol)[0]
        projected = dict(holdings)
        for order in self._working.values():
            if order is replacing:
                continue
            for working_leg in order.legs:
                projected[working_leg.symbol] = (
                    projected.get(working_leg.symbol, 0)
                    + working_leg.side.sign * working_leg.ratio_qty * order.remaining_qty
                )
        before = _exposure_on(underlying, projected)
        after_holdings = dict(projected)
        for leg in legs:
            after_holdings[leg.symbol] = (
                after_holdings.get(leg.symbol, 0) + leg.side.sign * leg.ratio_qty * request.qty
            )
        after = _exposure_on(underlying, after_holdings)
        if not after.is_bounded and after.slope_at_infinity < before.slope_at_infinity:
            raise _reject(
                "order would leave an uncovered short call or short stock position "
                "(unbounded risk is not allowed)",
                CODE_FORBIDDEN,
            )

    # ================================================================== activities

    def _next_activity_id(self, at: datetime) -> str:
        """``YYYYMMDDHHMMSSmmm::<uuid>`` in UTC; the time part is bumped by a millisecond when
        needed so ids are strictly increasing in creation order."""
        ms = (at - _EPOCH) // timedelta(milliseconds=1)
        ms = max(ms, self._book.last_activity_ms + 1)
        self._book.last_activity_ms = ms
        self._book.activity_seq += 1
        stamp = _EPOCH + timedelta(milliseconds=ms)
        uid = _det_uuid(self._cfg.seed, "activity", self._book.activity_seq)
        return f"{stamp:%Y%m%d%H%M%S}{ms % 1000:03d}::{uid}"

    def _record(self, activity: Activity) -> None:
        self._book.activities.append(activity)
        self._activity_ids.append(activity.activity_id)


def _exposure_on(underlying: str, holdings: Mapping[str, int]) -> UnderlyingExposure:
    return exposures_by_underlying(
        {s: q for s, q in holdings.items() if underlying_and_contract(s)[0] == underlying}
    ).get(underlying, UnderlyingExposure())


def _symbols_of(orders: Iterable[OrderState]) -> list[str]:
    return sorted({leg.symbol for order in orders for leg in order.legs})


def as_broker(exchange: SimExchange) -> Broker:
    """The exchange seen through the port (and a static check that it implements it)."""
    return exchange

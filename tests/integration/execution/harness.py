"""A trading desk in a box: SimExchange over scripted quotes, a stepped clock, a real SQLite
store and the ExecutionService, plus builders for candidates and decisions.

Used by the execution integration tests and the execution fault tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.adapters.persistence import SqlStore, open_store
from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.exchange_scripted import ScriptedQuotes
from agent.calendar import et_datetime, market_calendar
from agent.clock import SimClock
from agent.config import AgentSettings, load_settings
from agent.domain import (
    AlertLevel,
    Candidate,
    CandidateLeg,
    Greeks,
    OptionContract,
    OrderPurpose,
    OrderStatus,
    PositionIntent,
    PositionStatus,
    Quote,
    RiskDecision,
    StructureKind,
    Trade,
    parse_occ,
)
from agent.execution import ExecutionService
from agent.ports import Broker

MONDAY = date(2026, 3, 2)
EXPIRY = date(2026, 3, 20)
XYZ = "XYZ"
P95 = "XYZ260320P00095000"
P90 = "XYZ260320P00090000"
P85 = "XYZ260320P00085000"
P80 = "XYZ260320P00080000"
C105 = "XYZ260320C00105000"
C110 = "XYZ260320C00110000"
APR_P90 = "XYZ260417P00090000"
APR_P85 = "XYZ260417P00085000"
ABC = "ABC"
ABC_P50 = "ABC260320P00050000"
ABC_C55 = "ABC260417C00055000"


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return et_datetime(day, time(hour, minute))


def default_market(quotes: ScriptedQuotes) -> None:
    """XYZ at 100 with a few puts and calls; ABC at 55 with a put for a CSP."""
    quotes.set_underlying(XYZ, 100.0)
    quotes.set_quote(XYZ, 99.99, 100.01)
    quotes.set_quote(P95, 1.50, 1.60)
    quotes.set_quote(P90, 0.40, 0.50)
    quotes.set_quote(P85, 0.15, 0.20)
    quotes.set_quote(P80, 0.05, 0.10)
    quotes.set_quote(C105, 1.20, 1.30)
    quotes.set_quote(C110, 0.30, 0.40)
    quotes.set_quote(APR_P90, 1.40, 1.50)
    quotes.set_quote(APR_P85, 0.70, 0.80)
    quotes.set_underlying(ABC, 55.0)
    quotes.set_quote(ABC, 54.99, 55.01)
    quotes.set_quote(ABC_P50, 1.00, 1.10)
    quotes.set_quote(ABC_C55, 0.80, 0.90)


class RecordingAlerts:
    def __init__(self) -> None:
        self.sent: list[tuple[AlertLevel, str, str]] = []

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        self.sent.append((level, title, body))

    def titles(self, level: AlertLevel | None = None) -> list[str]:
        return [t for lvl, t, _ in self.sent if level is None or lvl is level]


def make_settings(tmp_path: Path, *overrides: str) -> AgentSettings:
    empty = tmp_path / "empty-config.yaml"
    empty.touch()
    base = [
        f"database_url=sqlite:///{tmp_path / 'optagent.db'}",
        f"logging.dir={tmp_path / 'log'}",
        f"logging.journal_file={tmp_path / 'log' / 'journal.jsonl'}",
        f"sim.state_file={tmp_path / 'sim.json'}",
        f"risk.kill_switch_file={tmp_path / 'KILL'}",
        "execution.walk_interval_s=30",
        "execution.fill_timeout_s=300",
        "execution.walk_steps=5",
    ]
    return load_settings(empty, [*base, *overrides], env_file=None, environ={})


@dataclass
class World:
    """Everything a test drives: market, clock, exchange, store, service."""

    tmp_path: Path
    quotes: ScriptedQuotes
    clock: SimClock
    exchange: SimExchange
    store: SqlStore
    settings: AgentSettings
    alerts: RecordingAlerts
    broker: Broker
    service: ExecutionService
    sleeps: list[float] = field(default_factory=list)
    quote_calls: int = 0
    fixed_quotes: dict[str, tuple[float, float]] | None = None
    """When set, what the service's quote provider sees (the exchange keeps its own book)."""

    # ------------------------------------------------------------------ wiring

    def quote_provider(self, symbols: Sequence[str]) -> Mapping[str, Quote]:
        self.quote_calls += 1
        now = self.clock.now()
        if self.fixed_quotes is not None:
            return {
                s: Quote(symbol=s, bid=b, ask=a, quoted_at=now)
                for s, (b, a) in self.fixed_quotes.items()
                if s in symbols
            }
        return {
            symbol: Quote(
                symbol=symbol,
                bid=book.bid,
                ask=book.ask,
                bid_size=book.bid_size,
                ask_size=book.ask_size,
                quoted_at=now,
            )
            for symbol, book in self.quotes.top_of_book(list(symbols), now).items()
        }

    def new_service(self, broker: Broker | None = None) -> ExecutionService:
        """A fresh service on the same database (what a restarted actor builds)."""
        if broker is not None:
            self.broker = broker
        self.service = ExecutionService(
            broker=self.broker,
            store=self.store,
            clock=self.clock,
            settings=self.settings,
            alerts=self.alerts,
            quotes=self.quote_provider,
            calendar=market_calendar(),
            sleep=self.sleeps.append,
            seed=7,
        )
        return self.service

    # ------------------------------------------------------------------ time

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.exchange.advance_to(self.clock.now())

    def run(self, seconds: float, *, every_s: float = 30.0) -> None:
        """Advance time, calling ``work()`` every ``every_s``."""
        steps = int(seconds // every_s)
        for _ in range(steps):
            self.advance(every_s)
            self.service.work()

    def run_until(
        self, done: Callable[[], bool], *, limit_s: float = 3600, every_s: float = 30.0
    ) -> None:
        elapsed = 0.0
        while not done():
            if elapsed >= limit_s:
                raise AssertionError(f"not done after {limit_s}s of simulated time")
            self.advance(every_s)
            self.service.work()
            elapsed += every_s

    # ------------------------------------------------------------------ looking

    def trade(self, trade_id: str) -> Trade:
        with self.store.transaction() as tx:
            trade = tx.trades.get(trade_id)
        assert trade is not None
        return trade

    def intents(self, trade_id: str | None = None) -> list[Any]:
        with self.store.transaction() as tx:
            return tx.orders.list_intents(trade_id=trade_id)

    def records(self, intent_id: str | None = None) -> list[Any]:
        with self.store.transaction() as tx:
            return tx.orders.list_orders(intent_id=intent_id)

    def steps(self, intent_id: str) -> list[Any]:
        with self.store.transaction() as tx:
            return tx.orders.list_walk_steps(intent_id)

    def fills(self, trade_id: str | None = None) -> list[Any]:
        with self.store.transaction() as tx:
            return tx.fills.list(trade_id=trade_id)

    def events(self, prefix: str | None = None) -> list[Any]:
        with self.store.transaction() as tx:
            return tx.events.list(kind_prefix=prefix)

    def our_positions(self) -> dict[str, int]:
        with self.store.transaction() as tx:
            legs = tx.positions.list(status=PositionStatus.OPEN)
        out: Counter[str] = Counter()
        for leg in legs:
            out[leg.symbol] += leg.signed_qty
        return {s: q for s, q in out.items() if q}

    def broker_positions(self) -> dict[str, int]:
        return {p.symbol: p.qty for p in self.exchange.get_positions() if p.qty}

    def exchange_orders(self) -> list[Any]:
        return self.exchange.list_orders(status="all", limit=10_000)


def make_world(
    tmp_path: Path,
    *overrides: str,
    start: datetime | None = None,
    seed: int = 11,
    fill_rate_per_min: float = 0.6,
    partial_fill_prob: float = 0.0,
    early_assignment_prob: float = 0.0,
    quotes: ScriptedQuotes | None = None,
) -> World:
    if quotes is None:
        quotes = ScriptedQuotes()
        default_market(quotes)
    clock = SimClock(start or et(MONDAY, 10))
    exchange = SimExchange(
        quotes=quotes,
        clock=clock,
        calendar=market_calendar(),
        initial_cash_usd=Decimal(100_000),
        seed=seed,
        fill_rate_per_min=fill_rate_per_min,
        partial_fill_prob=partial_fill_prob,
        early_assignment_prob=early_assignment_prob,
    )
    settings = make_settings(tmp_path, *overrides)
    store = open_store(settings.database_url)
    alerts = RecordingAlerts()
    world = World(
        tmp_path=tmp_path,
        quotes=quotes,
        clock=clock,
        exchange=exchange,
        store=store,
        settings=settings,
        alerts=alerts,
        broker=exchange,
        service=None,  # type: ignore[arg-type]
    )
    world.new_service()
    return world


# --------------------------------------------------------------------------- builders

_counter = {"n": 0}


def _next(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}-{_counter['n']}"


def cleg(
    symbol: str, intent: PositionIntent, bid: float, ask: float, *, delta: float = -0.2
) -> CandidateLeg:
    contract: OptionContract = parse_occ(symbol)
    return CandidateLeg(
        contract=contract,
        side=intent.side,
        position_intent=intent,
        bid=bid,
        ask=ask,
        mid=(bid + ask) / 2,
        iv=0.3,
        delta=delta,
        gamma=0.01,
        theta=-0.05,
        vega=0.1,
    )


def candidate(
    legs: Iterable[CandidateLeg],
    *,
    strategy: StructureKind = StructureKind.BULL_PUT_SPREAD,
    underlying: str = XYZ,
    as_of: datetime | None = None,
    max_loss_usd: Decimal = Decimal(400),
    capital_usd: Decimal | None = None,
) -> Candidate:
    legs = tuple(legs)
    natural = sum(
        (Decimal(repr(leg.ask if leg.side.sign > 0 else leg.bid)) * leg.side.sign for leg in legs),
        Decimal(0),
    )
    mid = sum(
        ((Decimal(repr(leg.bid)) + Decimal(repr(leg.ask))) / 2 * leg.side.sign for leg in legs),
        Decimal(0),
    )
    expiry = legs[0].contract.expiry
    return Candidate(
        candidate_id=_next("cand"),
        underlying=underlying,
        strategy=strategy,
        as_of=as_of or et(MONDAY, 10),
        expiry=expiry,
        dte=18,
        legs=legs,
        spot=100.0,
        net_price_natural=natural,
        net_price_mid=mid,
        credit_usd=-natural * 100,
        width=Decimal(5),
        max_loss_usd=max_loss_usd,
        max_profit_usd=-natural * 100,
        capital_usd=capital_usd if capital_usd is not None else max_loss_usd,
        breakevens=(94.0,),
        pop=0.7,
        expected_value_usd=10.0,
        return_on_risk=0.25,
        greeks=Greeks(),
        liquidity_score=80.0,
        iv_rank=40.0,
    )


def approve(cand: Candidate, *, qty: int = 1, bound: Decimal | str | None) -> RiskDecision:
    return RiskDecision(
        decision_id=_next("dec"),
        candidate_id=cand.candidate_id,
        approved=True,
        qty=qty,
        checks=(),
        decided_at=cand.as_of,
        limit_bound=None if bound is None else Decimal(bound),
    )


def put_spread(
    short: str = P95,
    long: str = P90,
    *,
    short_quote: tuple[float, float] = (1.50, 1.60),
    long_quote: tuple[float, float] = (0.40, 0.50),
) -> Candidate:
    return candidate(
        [
            cleg(short, PositionIntent.SELL_TO_OPEN, *short_quote, delta=-0.3),
            cleg(long, PositionIntent.BUY_TO_OPEN, *long_quote, delta=-0.15),
        ]
    )


def csp(symbol: str = ABC_P50, quote: tuple[float, float] = (1.00, 1.10)) -> Candidate:
    return candidate(
        [cleg(symbol, PositionIntent.SELL_TO_OPEN, *quote, delta=-0.25)],
        strategy=StructureKind.CASH_SECURED_PUT,
        underlying=ABC,
        max_loss_usd=Decimal(4900),
    )


def iron_condor() -> Candidate:
    return candidate(
        [
            cleg(P90, PositionIntent.SELL_TO_OPEN, 0.40, 0.50, delta=-0.15),
            cleg(P85, PositionIntent.BUY_TO_OPEN, 0.15, 0.20, delta=-0.08),
            cleg(C105, PositionIntent.SELL_TO_OPEN, 1.20, 1.30, delta=0.3),
            cleg(C110, PositionIntent.BUY_TO_OPEN, 0.30, 0.40, delta=0.15),
        ],
        strategy=StructureKind.IRON_CONDOR,
    )


# --------------------------------------------------------------------------- invariants


def assert_book_consistent(world: World) -> None:
    """The invariants every test ends with."""
    store = world.store
    with store.transaction() as tx:
        intents = tx.orders.list_intents()
        records = tx.orders.list_orders()
        trades = tx.trades.list()
        fills_by_trade = {t.trade_id: tx.fills.list(trade_id=t.trade_id) for t in trades}
    # Every exchange order is one of ours, once, with the same broker id.
    ours = {r.client_order_id: r for r in records}
    per_cid = Counter(o.client_order_id for o in world.exchange_orders())
    assert all(n == 1 for n in per_cid.values())
    for order in world.exchange_orders():
        record = ours.get(order.client_order_id)
        assert record is not None, f"exchange order {order.order_id} unknown to us"
        assert record.order_id == order.order_id
    # No intent is left unresolved and none filled more than it asked for.
    for intent in intents:
        mine = [r for r in records if r.intent_id == intent.intent_id]
        assert all(r.status not in (OrderStatus.PENDING, OrderStatus.UNKNOWN) for r in mine), (
            intent.intent_id,
            [(r.client_order_id, r.status) for r in mine],
        )
        assert sum(r.filled_qty for r in mine) <= intent.qty
        working = [r for r in mine if r.status.is_working]
        assert len(working) <= 1
        if intent.purpose is not OrderPurpose.CLOSE:
            # Entries and rolls never go past the bound risk approved.
            assert all(
                r.limit_price is None or r.limit_price <= intent.limit_bound for r in mine
            ), (intent.limit_bound, [r.limit_price for r in mine])
    # P&L of each trade = the sum of its fills.
    for trade in trades:
        total = sum(
            (
                -f.side.sign * f.qty * f.price * (100 if len(f.symbol) > 6 else 1) - f.fee_usd
                for f in fills_by_trade[trade.trade_id]
            ),
            Decimal(0),
        )
        assert trade.realized_pnl == total, (trade.trade_id, trade.realized_pnl, total)
    # Positions equal the broker's.
    assert world.our_positions() == world.broker_positions()

"""Typed handles over the actors: the only module that calls ``.remote()``.

- :func:`spawn` creates (or finds) a named actor with the options of ``actors/options.py``.
- One small class per actor turns method calls into typed ``ObjectRef``s (awaitable in async
  code; passed as arguments to other actors without being fetched).
- :class:`ExchangeBroker`, :class:`ExchangeMarketData` and :class:`GovernorLimiter` are the
  port proxies other actors use to reach the simulated exchange and market, and the shared
  request budgets.
- :class:`SystemHandles` gathers the handles of one system (``actors/services.py`` builds
  the ``Services`` facade over them).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import ray
from ray import ObjectRef
from ray.actor import ActorHandle
from ray.exceptions import RayTaskError

from actors.options import ActorName, actor_name, options_for
from agent.domain import (
    AccountSnapshot,
    Activity,
    ActivityType,
    Bar,
    BrokerOrder,
    BrokerPosition,
    Candidate,
    ExitAction,
    Fill,
    MarketContext,
    Mode,
    MonitorReport,
    OptionChain,
    OrderRequest,
    Quote,
    ReconcileReport,
    RiskDecision,
    RollAction,
    ScanInput,
    SingleLegAction,
    SymbolScan,
    TradeMark,
    TradingState,
    UnderlyingSnapshot,
    WorkReport,
)
from agent.errors import DataError
from agent.marketdata.governor import Priority
from agent.ports import OrderQueryStatus

if TYPE_CHECKING:
    from agent.pricing.enriched import EnrichedChain

T = TypeVar("T")


# --------------------------------------------------------------------------- creation


def spawn(
    actor_cls: Any,
    name: ActorName,
    *args: Any,
    namespace: str,
    detached: bool,
    index: int | None = None,
) -> ActorHandle[Any]:
    """Create the named actor, or return the live one of that name in ``namespace``."""
    opts = options_for(name).ray_options()
    if detached:
        opts["lifetime"] = "detached"
    handle: ActorHandle[Any] = actor_cls.options(
        name=actor_name(name, index), namespace=namespace, get_if_exists=True, **opts
    ).remote(*args)
    return handle


def lookup(name: ActorName, namespace: str, index: int | None = None) -> ActorHandle[Any]:
    return ray.get_actor(actor_name(name, index), namespace=namespace)


def exists(name: ActorName, namespace: str, index: int | None = None) -> bool:
    try:
        lookup(name, namespace, index)
    except ValueError:
        return False
    return True


def ready(actors: Sequence[ActorHandle[Any]], *, timeout_s: float) -> None:
    """Block until every actor's constructor has finished (one batched wait, bounded)."""
    ray.get([actor.ping.remote() for actor in actors], timeout=timeout_s)


def unwrap(exc: BaseException) -> BaseException:
    """The application error inside a Ray task error (attributes intact), else ``exc``."""
    if isinstance(exc, RayTaskError):
        cause = exc.cause
        if isinstance(cause, BaseException):
            return cause
    return exc


def get(ref: ObjectRef[T], *, timeout_s: float | None = None) -> T:
    """Blocking fetch for synchronous callers (port proxies, the driver, tests); raises the
    application error itself, not Ray's wrapper."""
    try:
        value: T = ray.get(ref, timeout=timeout_s)
    except RayTaskError as exc:
        raise unwrap(exc) from None
    return value


class _Handle:
    def __init__(self, actor: ActorHandle[Any]) -> None:
        self.actor = actor

    def ping(self) -> ObjectRef[dict[str, Any]]:
        return self.actor.ping.remote()


# --------------------------------------------------------------------------- sim exchange

BROKER_METHODS = frozenset(
    {
        "get_account",
        "get_positions",
        "submit_order",
        "get_order",
        "get_order_by_client_id",
        "list_orders",
        "cancel_order",
        "replace_order",
        "get_activities",
        "fills",
    }
)
MARKET_METHODS = frozenset(
    {
        "get_underlying_snapshots",
        "get_daily_bars",
        "get_option_chain",
        "get_option_quotes",
        "get_iv_history",
        "get_market_context",
    }
)


class SimExchangeHandle(_Handle):
    def call(self, method: str, *args: Any, **kwargs: Any) -> ObjectRef[Any]:
        return self.actor.call.remote(method, args, kwargs)

    def market_data(self, method: str, *args: Any, **kwargs: Any) -> ObjectRef[Any]:
        return self.actor.market_data.remote(method, args, kwargs)

    def save(self) -> ObjectRef[str]:
        return self.actor.save.remote()

    def processed_until(self) -> ObjectRef[datetime]:
        return self.actor.processed_until.remote()


class MarketQuotes:
    """Fresh quotes from the ``MarketData`` actor (an execution ``QuoteProvider``), so the
    execution process needs neither the market model nor the pricing kernels."""

    def __init__(self, market: MarketDataHandle, *, timeout_s: float = 30.0) -> None:
        self._market = market
        self._timeout_s = timeout_s

    def __call__(self, symbols: Sequence[str]) -> dict[str, Quote]:
        return get(self._market.quotes(symbols), timeout_s=self._timeout_s)


class ExchangeBroker:
    """The :class:`agent.ports.Broker` port over the ``SimExchange`` actor (blocking calls,
    for the synchronous services that use a broker)."""

    def __init__(self, exchange: SimExchangeHandle, *, timeout_s: float = 60.0) -> None:
        self._exchange = exchange
        self._timeout_s = timeout_s

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return get(self._exchange.call(method, *args, **kwargs), timeout_s=self._timeout_s)

    def get_account(self) -> AccountSnapshot:
        result: AccountSnapshot = self._call("get_account")
        return result

    def get_positions(self) -> list[BrokerPosition]:
        result: list[BrokerPosition] = self._call("get_positions")
        return result

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        result: BrokerOrder = self._call("submit_order", request)
        return result

    def get_order(self, order_id: str) -> BrokerOrder:
        result: BrokerOrder = self._call("get_order", order_id)
        return result

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        result: BrokerOrder | None = self._call("get_order_by_client_id", client_order_id)
        return result

    def list_orders(
        self,
        *,
        status: OrderQueryStatus = "open",
        after: datetime | None = None,
        limit: int = 500,
    ) -> list[BrokerOrder]:
        result: list[BrokerOrder] = self._call(
            "list_orders", status=status, after=after, limit=limit
        )
        return result

    def cancel_order(self, order_id: str) -> None:
        self._call("cancel_order", order_id)

    def replace_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal,
        client_order_id: str,
        qty: int | None = None,
    ) -> BrokerOrder:
        result: BrokerOrder = self._call(
            "replace_order",
            order_id,
            limit_price=limit_price,
            client_order_id=client_order_id,
            qty=qty,
        )
        return result

    def get_activities(
        self,
        *,
        after_id: str | None = None,
        types: Sequence[ActivityType] | None = None,
    ) -> list[Activity]:
        result: list[Activity] = self._call("get_activities", after_id=after_id, types=types)
        return result

    def fills(self, *, order_id: str | None = None) -> list[Fill]:
        result: list[Fill] = self._call("fills", order_id=order_id)
        return result


class ExchangeMarketData:
    """The :class:`agent.ports.MarketData` port over the ``SimExchange`` actor (blocking
    calls, made from the Monitor's worker thread): the Monitor holds no market model of its
    own. The exchange is looked up at the first call, so the actor starts alongside it."""

    def __init__(self, namespace: str, *, timeout_s: float = 60.0) -> None:
        self._namespace = namespace
        self._exchange: SimExchangeHandle | None = None
        self._timeout_s = timeout_s

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._exchange is None:
            self._exchange = SimExchangeHandle(lookup(ActorName.SIM_EXCHANGE, self._namespace))
        return get(self._exchange.market_data(method, *args, **kwargs), timeout_s=self._timeout_s)

    def get_underlying_snapshots(self, symbols: Sequence[str]) -> dict[str, UnderlyingSnapshot]:
        result: dict[str, UnderlyingSnapshot] = self._call(
            "get_underlying_snapshots", list(symbols)
        )
        return result

    def get_daily_bars(self, symbol: str, *, start: date, end: date) -> list[Bar]:
        result: list[Bar] = self._call("get_daily_bars", symbol, start=start, end=end)
        return result

    def get_option_chain(
        self, underlying: str, *, min_expiry: date, max_expiry: date
    ) -> OptionChain:
        result: OptionChain = self._call(
            "get_option_chain", underlying, min_expiry=min_expiry, max_expiry=max_expiry
        )
        return result

    def get_option_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        result: dict[str, Quote] = self._call("get_option_quotes", list(symbols))
        return result

    def get_iv_history(self, symbol: str, *, start: date, end: date) -> list[tuple[date, float]]:
        result: list[tuple[date, float]] = self._call(
            "get_iv_history", symbol, start=start, end=end
        )
        return result

    def get_market_context(self, *, start: date, end: date) -> MarketContext:
        result: MarketContext = self._call("get_market_context", start=start, end=end)
        return result


class ScannerEnricher:
    """The :class:`agent.ports.ChainEnricher` over the scanner actors (blocking calls, made
    from the Monitor's worker thread): roll and covered-call searches have their chain
    enriched where the kernels already live, so the Monitor never loads numba. Scanners are
    looked up at the first call and used in turn; one that fails (e.g. restarting after a
    crash) hands the chain to the next, and when none answers the search gets a
    ``DataError`` (it is tried again on the next pass). A scanner busy with a scan answers
    after it (a full 100-symbol fan-out takes under a second)."""

    def __init__(self, namespace: str, *, timeout_s: float = 30.0) -> None:
        self._namespace = namespace
        self._timeout_s = timeout_s
        self._actors: list[ActorHandle[Any]] = []
        self._next = 0

    def _scanners(self) -> list[ActorHandle[Any]]:
        if not self._actors:
            while exists(ActorName.SCANNER, self._namespace, len(self._actors)):
                self._actors.append(lookup(ActorName.SCANNER, self._namespace, len(self._actors)))
        return self._actors

    def __call__(
        self,
        chain: OptionChain,
        spot: float,
        rate: float,
        dividend_yield: float,
        as_of: datetime,
        *,
        max_quote_age_s: float = 300.0,
        vendor_iv_tolerance: float = 0.02,
    ) -> EnrichedChain:
        actors = self._scanners()
        failures: list[str] = []
        for _ in actors:
            actor = actors[self._next % len(actors)]
            self._next += 1
            ref: ObjectRef[EnrichedChain] = actor.enrich.remote(
                chain, spot, rate, dividend_yield, as_of, max_quote_age_s, vendor_iv_tolerance
            )
            try:
                result: EnrichedChain = get(ref, timeout_s=self._timeout_s)
            except DataError:
                raise
            except Exception as exc:  # a dead, restarting or slow scanner: try the next
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            return result
        raise DataError(
            f"no scanner enriched the chain of {chain.underlying}: "
            + ("; ".join(failures) or f"no scanner in namespace {self._namespace}")
        )


# --------------------------------------------------------------------------- governor


class GovernorHandle(_Handle):
    def acquire(self, budget: str, priority: Priority) -> ObjectRef[float]:
        return self.actor.acquire.remote(budget, int(priority))

    def stats(self) -> ObjectRef[dict[str, dict[str, float]]]:
        return self.actor.stats.remote()


class GovernorLimiter:
    """A :class:`agent.marketdata.governor.RequestLimiter` over the shared ``Governor`` actor:
    one blocking call per request; the actor holds the caller until the budget has room."""

    def __init__(self, governor: GovernorHandle, budget: str) -> None:
        self._governor = governor
        self._budget = budget
        self.waited_s = 0.0

    def acquire(self, priority: Priority) -> None:
        self.waited_s += get(self._governor.acquire(self._budget, priority))


# --------------------------------------------------------------------------- services


class MarketDataHandle(_Handle):
    def quotes(self, symbols: Sequence[str]) -> ObjectRef[dict[str, Quote]]:
        return self.actor.quotes.remote(list(symbols))

    def warm(self, symbols: Sequence[str]) -> ObjectRef[int]:
        return self.actor.warm.remote(list(symbols))

    def prepare(self, symbols: Sequence[str]) -> ObjectRef[int]:
        return self.actor.prepare.remote(list(symbols))

    def clear_cache(self, *, keep_daily: bool = False) -> ObjectRef[None]:
        return self.actor.clear_cache.remote(keep_daily)

    def scan_input(self, symbol: str, scan_id: str) -> ObjectRef[ScanInput | SymbolScan]:
        """A ref to the symbol's scan input (or its data rejection); never fetched by the
        caller: pass it straight to a scanner."""
        return self.actor.scan_input.remote(symbol, scan_id)

    def record_atm_ivs(self, observations: Sequence[tuple[str, date, float]]) -> ObjectRef[int]:
        return self.actor.record_atm_ivs.remote(list(observations))

    def data_age_s(self) -> ObjectRef[float | None]:
        return self.actor.data_age_s.remote()


class ScannerPool:
    """The scanner actors; per-symbol scans are spread round-robin."""

    def __init__(self, actors: Sequence[ActorHandle[Any]]) -> None:
        if not actors:
            raise ValueError("the scanner pool needs at least one scanner")
        self.actors = list(actors)
        self._next = itertools.cycle(range(len(self.actors)))

    def scan(self, scan_input: ObjectRef[ScanInput | SymbolScan]) -> ObjectRef[SymbolScan]:
        return self.actors[next(self._next)].scan.remote(scan_input)

    def pings(self) -> list[ObjectRef[dict[str, Any]]]:
        return [actor.ping.remote() for actor in self.actors]


class RiskHandle(_Handle):
    def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> ObjectRef[RiskDecision]:
        return self.actor.evaluate.remote(candidate, account)

    def trading_state(self) -> ObjectRef[TradingState]:
        return self.actor.trading_state.remote()

    def flatten_requested(self) -> ObjectRef[bool]:
        return self.actor.flatten_requested.remote()

    def update(
        self, account: AccountSnapshot, marks: Sequence[TradeMark], data_age_s: float | None
    ) -> ObjectRef[TradingState]:
        return self.actor.update.remote(account, list(marks), data_age_s)

    def record_broker_error(self, kind: str, message: str) -> ObjectRef[TradingState]:
        return self.actor.record_broker_error.remote(kind, message)

    def record_auth_failure(self, message: str) -> ObjectRef[TradingState]:
        return self.actor.record_auth_failure.remote(message)

    def request_flatten(self, reason: str) -> ObjectRef[None]:
        return self.actor.request_flatten.remote(reason)

    def clear_flatten(self) -> ObjectRef[None]:
        return self.actor.clear_flatten.remote()

    def halt(self, reason: str, flatten: bool = False) -> ObjectRef[None]:
        return self.actor.halt.remote(reason, flatten)

    def resume(self, reason: str) -> ObjectRef[None]:
        return self.actor.resume.remote(reason)


class ExecutionHandle(_Handle):
    def open_trade(self, candidate: Candidate, decision: RiskDecision) -> ObjectRef[str | None]:
        return self.actor.open_trade.remote(candidate, decision)

    def close_trade(self, action: ExitAction) -> ObjectRef[str | None]:
        return self.actor.close_trade.remote(action)

    def roll_trade(self, roll: RollAction, decision: RiskDecision) -> ObjectRef[str | None]:
        return self.actor.roll_trade.remote(roll, decision)

    def submit_single_leg(self, action: SingleLegAction) -> ObjectRef[str | None]:
        return self.actor.submit_single_leg.remote(action)

    def flatten(self) -> ObjectRef[int]:
        return self.actor.flatten.remote()

    def work(self) -> ObjectRef[WorkReport]:
        return self.actor.work.remote()

    def reconcile(self) -> ObjectRef[ReconcileReport]:
        return self.actor.reconcile.remote()

    def end_of_day(self) -> ObjectRef[int]:
        return self.actor.end_of_day.remote()

    def account(self) -> ObjectRef[AccountSnapshot]:
        return self.actor.account.remote()


class MonitorHandle(_Handle):
    def run(self, state: TradingState) -> ObjectRef[MonitorReport]:
        return self.actor.run.remote(state)

    def data_age_s(self) -> ObjectRef[float | None]:
        return self.actor.data_age_s.remote()


class LearningHandle(_Handle):
    def daily_analysis(self, day: date) -> ObjectRef[None]:
        return self.actor.daily_analysis.remote(day)

    def weekly_learning(self, day: date) -> ObjectRef[None]:
        return self.actor.weekly_learning.remote(day)


class SupervisorHandle(_Handle):
    def status(self) -> ObjectRef[dict[str, Any]]:
        return self.actor.status.remote()

    def stop(self) -> ObjectRef[bool]:
        return self.actor.stop.remote()

    def wait_done(self, timeout_s: float) -> ObjectRef[bool]:
        return self.actor.wait_done.remote(timeout_s)

    def heartbeat_now(self) -> ObjectRef[dict[str, dict[str, Any]]]:
        return self.actor.heartbeat_now.remote()


@dataclass(slots=True, kw_only=True)
class SystemHandles:
    """Every service actor of one system (the supervisor's view of the others)."""

    namespace: str
    market: MarketDataHandle
    scanners: ScannerPool
    risk: RiskHandle
    execution: ExecutionHandle
    monitor: MonitorHandle
    learning: LearningHandle
    exchange: SimExchangeHandle | None = None
    governor: GovernorHandle | None = None
    supervisor: SupervisorHandle | None = None
    extra: dict[str, ActorHandle[Any]] = field(default_factory=dict)

    @classmethod
    def lookup(cls, namespace: str, *, mode: Mode, num_scanners: int) -> SystemHandles:
        """Find the named actors of the system in ``namespace``."""
        return cls(
            namespace=namespace,
            market=MarketDataHandle(lookup(ActorName.MARKET_DATA, namespace)),
            scanners=ScannerPool(
                [lookup(ActorName.SCANNER, namespace, i) for i in range(num_scanners)]
            ),
            risk=RiskHandle(lookup(ActorName.RISK, namespace)),
            execution=ExecutionHandle(lookup(ActorName.EXECUTION, namespace)),
            monitor=MonitorHandle(lookup(ActorName.MONITOR, namespace)),
            learning=LearningHandle(lookup(ActorName.LEARNING, namespace)),
            exchange=(
                SimExchangeHandle(lookup(ActorName.SIM_EXCHANGE, namespace))
                if mode is Mode.SIM
                else None
            ),
            governor=(
                GovernorHandle(lookup(ActorName.GOVERNOR, namespace))
                if mode is not Mode.SIM
                else None
            ),
            supervisor=(
                SupervisorHandle(lookup(ActorName.SUPERVISOR, namespace))
                if exists(ActorName.SUPERVISOR, namespace)
                else None
            ),
        )

    def service_actors(self) -> dict[str, ActorHandle[Any]]:
        """Every actor but the supervisor, by registered name (for heartbeats and chaos)."""
        actors: dict[str, ActorHandle[Any]] = {
            actor_name(ActorName.MARKET_DATA): self.market.actor,
            actor_name(ActorName.RISK): self.risk.actor,
            actor_name(ActorName.EXECUTION): self.execution.actor,
            actor_name(ActorName.MONITOR): self.monitor.actor,
            actor_name(ActorName.LEARNING): self.learning.actor,
        }
        for i, scanner in enumerate(self.scanners.actors):
            actors[actor_name(ActorName.SCANNER, i)] = scanner
        if self.exchange is not None:
            actors[actor_name(ActorName.SIM_EXCHANGE)] = self.exchange.actor
        if self.governor is not None:
            actors[actor_name(ActorName.GOVERNOR)] = self.governor.actor
        return actors

    def pings(self) -> dict[str, ObjectRef[dict[str, Any]]]:
        return {name: actor.ping.remote() for name, actor in self.service_actors().items()}

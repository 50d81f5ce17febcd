"""Shared helpers of the Ray tests: one local Ray instance per test session, settings in a
temporary directory, and the invariants that must hold between the database and the
simulated exchange after any run (clean, chaotic or killed)."""

from __future__ import annotations

import atexit
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import ray

from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.market import MarketModel
from agent.calendar import ET, market_calendar
from agent.clock import SimClock
from agent.config import AgentSettings, load_settings
from agent.domain import BrokerOrder, StructureKind, Trade, TradeStatus
from agent.factories import build_store, saved_sim_time

TEST_CPUS = 2


def ensure_local_ray() -> None:
    """One local Ray instance for the whole test session (never an existing cluster: the
    address is ``local``), shut down when the interpreter exits."""
    if ray.is_initialized():
        return
    ray.init(
        address="local",
        num_cpus=TEST_CPUS,
        include_dashboard=False,
        namespace=f"optagent-tests-{uuid.uuid4().hex[:8]}",
        log_to_driver=False,
    )
    atexit.register(ray.shutdown)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    ensure_local_ray()
    yield


def wait_for(condition: Callable[[], bool], *, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` wall seconds pass (Ray tests only)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()


def sim_settings(tmp: Path, *overrides: str, namespace: str | None = None) -> AgentSettings:
    """Sim settings with every file under ``tmp``, a unique namespace, no config.yaml and no
    environment; a small universe where the IV-rank floor does not hide every name."""
    base = [
        f"database_url=sqlite:///{tmp / 'optagent.db'}",
        f"logging.dir={tmp / 'log'}",
        f"logging.journal_file={tmp / 'log' / 'journal.jsonl'}",
        f"sim.state_file={tmp / 'sim_exchange.json'}",
        f"risk.kill_switch_file={tmp / 'KILL'}",
        f"learning.overrides_file={tmp / 'learned.yaml'}",
        f"ray.namespace={namespace or 'test-' + uuid.uuid4().hex[:10]}",
        "ray.include_dashboard=false",
        "ray.num_scanners=2",
        "sim.n_underlyings=24",
        "sim.speed=1200",
        "universe.min_iv_rank=0",
        "logging.level=WARNING",
    ]
    return load_settings(os.devnull, [*base, *overrides], env_file=None, environ={})


def load_exchange(settings: AgentSettings) -> SimExchange:
    """The exchange as saved in ``sim.state_file``, frozen at its processed time."""
    at = saved_sim_time(settings)
    assert at is not None, "no saved exchange state"
    return SimExchange.load(
        settings.sim.state_file,
        quotes=MarketModel.from_settings(settings),
        clock=SimClock(at),
        calendar=market_calendar(),
    )


def exchange_orders(exchange: SimExchange) -> list[BrokerOrder]:
    return exchange.list_orders(status="all", limit=1_000_000)


def _is_new(trade: Trade) -> bool:
    return (
        trade.status is not TradeStatus.CANCELED
        and trade.rolled_from_trade_id is None
        and trade.strategy not in (StructureKind.STOCK, StructureKind.SINGLE_OPTION)
    )


def invariant_problems(settings: AgentSettings) -> list[str]:
    """Every way the database and the saved exchange disagree, or a risk limit was broken.

    - no duplicate orders: each client order id at most once at the exchange;
    - no orphans: every exchange order is known to the DB and belongs to an intent;
    - no lost fills: the quantity executed per order and leg at the exchange is booked;
    - positions: the exchange's signed quantity per symbol equals our open legs';
    - limits (from the settings the risk actor used): trades per ET day, live trades per
      underlying at every entry, portfolio heat at the end.
    """
    problems: list[str] = []
    exchange = load_exchange(settings)
    orders = exchange_orders(exchange)
    per_cid = Counter(o.client_order_id for o in orders)
    problems += [f"duplicate client order id {c} ({n} orders)" for c, n in per_cid.items() if n > 1]
    store = build_store(settings)
    try:
        with store.transaction() as tx:
            for order in orders:
                record = tx.orders.get_order_by_client_id(order.client_order_id)
                if record is None:
                    problems.append(f"orphan order {order.order_id} ({order.client_order_id})")
                elif record.intent_id is None or tx.orders.get_intent(record.intent_id) is None:
                    problems.append(f"order {order.client_order_id} has no intent")
            legs = tx.positions.list()
            trades = tx.trades.list()
            latest = tx.account_snapshots.latest()
            booked: Counter[tuple[str, str]] = Counter()
            for fill in tx.fills.list():
                booked[(fill.order_id, fill.symbol)] += fill.qty
        executed: Counter[tuple[str, str]] = Counter()
        for fill in exchange.fills():
            executed[(fill.order_id, fill.symbol)] += fill.qty
        problems += [
            f"order {order_id} {symbol}: {qty} executed at the exchange, "
            f"{booked.get((order_id, symbol), 0)} booked"
            for (order_id, symbol), qty in executed.items()
            if booked.get((order_id, symbol), 0) != qty
        ]
        ours: dict[str, int] = defaultdict(int)
        for leg in legs:
            if leg.status.value == "open":
                ours[leg.symbol] += leg.signed_qty
        broker = {p.symbol: p.qty for p in exchange.get_positions()}
        for symbol in sorted(set(ours) | set(broker)):
            if ours.get(symbol, 0) != broker.get(symbol, 0):
                problems.append(
                    f"position {symbol}: exchange {broker.get(symbol, 0)}, db {ours.get(symbol, 0)}"
                )
        risk = settings.risk
        new = [t for t in trades if _is_new(t)]
        per_day: Counter[date] = Counter(t.opened_at.astimezone(ET).date() for t in new)
        problems += [
            f"{n} trades on {day} > {risk.max_trades_per_day}"
            for day, n in per_day.items()
            if n > risk.max_trades_per_day
        ]
        for trade in new:
            live = [
                u
                for u in new
                if u.underlying == trade.underlying
                and u.opened_at <= trade.opened_at
                and (u.closed_at is None or u.closed_at > trade.opened_at)
            ]
            if len(live) > risk.max_positions_per_symbol:
                problems.append(
                    f"{len(live)} live trades in {trade.underlying} at {trade.opened_at}"
                )
        heat = sum(
            (t.max_loss_usd for t in trades if t.status in (TradeStatus.OPEN, TradeStatus.CLOSING)),
            Decimal(0),
        )
        if latest is not None:
            limit = latest.equity * Decimal(str(risk.max_portfolio_heat_pct)) / 100
            if heat > limit:
                problems.append(f"portfolio heat {heat} > {limit}")
    finally:
        store.close()
    return problems

"""A whole agent on the simulator, driven minute by minute: the scenario tests' harness.

The world is the real sim world (:func:`agent.factories.build_world`: ``MarketModel``,
``SimMarketData``, ``SimExchange``, SQLite store) on a stepped :class:`SimClock`; the
services are :class:`agent.local.LocalServices` and the cycles the real :class:`Engine`. A
:class:`ScriptedSpot` installed on the one market model backs both the data feed and the
exchange, so a scenario can move an underlying on cue while every quote and fill stays real.

Positions are opened the way the agent opens them: a candidate built by the real strategy
from the real (enriched) chain, approved and sized by ``RiskService.evaluate`` and placed by
``ExecutionService.open_trade``; never by writing rows.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from agent.adapters.sim.exchange import SimExchange
from agent.adapters.sim.scenario import ScriptedSpot
from agent.calendar import et_datetime
from agent.clock import SimClock
from agent.config import AgentSettings, load_settings
from agent.domain import (
    AlertLevel,
    Candidate,
    Event,
    Fill,
    MonitorReport,
    OrderIntent,
    PositionLeg,
    PositionStatus,
    ReconcileReport,
    StructureKind,
    Trade,
    TradeStatus,
)
from agent.engine import Engine
from agent.factories import World, build_world
from agent.local import LocalServices
from agent.pricing.chain import enrich_chain
from agent.signals import strategy_context
from agent.strategies import strategy_for

T = TypeVar("T")

MONDAY = date(2026, 3, 2)
"""The simulator's default start date (a Monday)."""


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return et_datetime(day, time(hour, minute))


class RecordingAlerts:
    def __init__(self) -> None:
        self.sent: list[tuple[AlertLevel, str, str]] = []

    def send(self, *, level: AlertLevel, title: str, body: str) -> None:
        self.sent.append((level, title, body))

    def titles(self) -> list[str]:
        return [title for _, title, _ in self.sent]

    def matching(self, text: str) -> list[tuple[AlertLevel, str, str]]:
        return [a for a in self.sent if text in a[1] or text in a[2]]


BASE_OVERRIDES = (
    # The scenarios were tuned on this seed's market (its history and surfaces).
    "sim.seed=42",
    "sim.n_underlyings=20",
    "sim.bad_quote_rate=0",
    "sim.partial_fill_prob=0",
    "alerts.console=false",
    # entries take the first spread that meets the minimum credit
    "strategies.bull_put_spread.min_credit_usd=0.30",
)


def make_settings(tmp_path: Path, *overrides: str) -> AgentSettings:
    empty = tmp_path / "empty-config.yaml"
    empty.touch()
    base = [
        f"database_url=sqlite:///{tmp_path / 'optagent.db'}",
        f"logging.dir={tmp_path / 'log'}",
        f"logging.journal_file={tmp_path / 'log' / 'journal.jsonl'}",
        f"sim.state_file={tmp_path / 'sim.json'}",
        f"risk.kill_switch_file={tmp_path / 'KILL'}",
        f"learning.overrides_file={tmp_path / 'learned.yaml'}",
        *BASE_OVERRIDES,
    ]
    return load_settings(empty, [*base, *overrides], env_file=None, environ={})


@dataclass
class Scenario:
    """One agent on one simulated market, and the verbs a scenario needs."""

    settings: AgentSettings
    world: World
    clock: SimClock
    exchange: SimExchange
    services: LocalServices
    engine: Engine
    alerts: RecordingAlerts
    script: ScriptedSpot
    loop: asyncio.AbstractEventLoop
    reports: list[MonitorReport]

    # ------------------------------------------------------------------ time

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def now(self) -> datetime:
        return self.clock.now()

    def monitor(self) -> MonitorReport:
        report = self.run(self.engine.monitor_cycle())
        self.reports.append(report)
        return report

    def reconcile(self) -> ReconcileReport:
        return self.run(self.engine.reconcile())

    def at(self, when: datetime, *, monitor: bool = True) -> MonitorReport | None:
        """Move the clock to ``when`` and (by default) run one monitor cycle there."""
        self.clock.set(when)
        return self.monitor() if monitor else None

    def minutes(self, n: int, *, every: int = 1) -> None:
        """``n`` minutes of monitor cycles, one every ``every`` minutes."""
        for _ in range(n // every):
            self.clock.advance(timedelta(minutes=every))
            self.monitor()

    def until(self, done: Callable[[], bool], *, limit_minutes: int = 120, every: int = 1) -> int:
        """Monitor cycles every ``every`` minutes until ``done()``; returns minutes used."""
        used = 0
        while not done():
            if used >= limit_minutes:
                raise AssertionError(f"not done after {limit_minutes} simulated minutes")
            self.clock.advance(timedelta(minutes=every))
            self.monitor()
            used += every
        return used

    def next_session_open(self, *, minutes_after: int = 5) -> datetime:
        """The next session's open (plus a few minutes, past the wide opening quotes)."""
        return self.world.calendar.next_open(self.now()) + timedelta(minutes=minutes_after)

    def close_of(self, day: date) -> datetime:
        session = self.world.calendar.session(day)
        assert session is not None
        return session.close_at

    def after_close(self, day: date) -> ReconcileReport:
        """Step past ``day``'s close so the exchange settles it, then reconcile."""
        self.clock.set(self.close_of(day) + timedelta(minutes=5))
        return self.reconcile()

    # ------------------------------------------------------------------ opening

    def candidate(self, kind: StructureKind, symbol: str) -> Candidate:
        """The best candidate the real strategy builds on ``symbol``'s real chain now."""
        market = self.services.market
        inp = market.scan_input(symbol, f"scenario-{self.now():%H%M}")
        md = self.settings.market_data
        enriched = enrich_chain(
            inp.chain,
            inp.underlying.price,
            md.risk_free_rate,
            md.dividend_yields.get(symbol, 0.0),
            self.now(),
            max_quote_age_s=self.settings.universe.max_quote_age_s,
            vendor_iv_tolerance=md.vendor_iv_tolerance,
        )
        ctx = strategy_context(
            enriched,
            self.settings,
            scan_id=inp.scan_id,
            snapshot=inp.underlying,
            realized_vol=inp.realized_vol,
            sector=inp.sector,
            events=inp.context.events_for(symbol),
        )
        built, records = strategy_for(kind, self.settings).generate(enriched, ctx)
        assert built, [(r.stage, [(x.rule, x.message) for x in r.failed_reasons]) for r in records]
        return built[0]

    def open(self, kind: StructureKind, symbol: str, *, limit_minutes: int = 60) -> str:
        """Open ``kind`` on ``symbol`` through risk and execution; wait for the entry fill."""
        candidate = self.candidate(kind, symbol)
        account = self.services.execution.account()
        decision = self.services.risk.evaluate(candidate, account)
        assert decision.approved, decision.summary()
        trade_id = self.services.execution.open_trade(candidate, decision)
        assert trade_id is not None

        def filled() -> bool:
            trade = self.trade(trade_id)
            return trade.status is TradeStatus.OPEN and not self.active_intents(trade_id)

        self.until(filled, limit_minutes=limit_minutes)
        return trade_id

    # ------------------------------------------------------------------ looking

    def trade(self, trade_id: str) -> Trade:
        with self.world.store.transaction() as tx:
            trade = tx.trades.get(trade_id)
        assert trade is not None
        return trade

    def trades(self) -> list[Trade]:
        with self.world.store.transaction() as tx:
            return tx.trades.list()

    def legs(self, trade_id: str, *, open_only: bool = True) -> list[PositionLeg]:
        with self.world.store.transaction() as tx:
            return tx.positions.list(
                trade_id=trade_id, status=PositionStatus.OPEN if open_only else None
            )

    def intents(self, trade_id: str | None = None) -> list[OrderIntent]:
        with self.world.store.transaction() as tx:
            return tx.orders.list_intents(trade_id=trade_id)

    def active_intents(self, trade_id: str) -> list[OrderIntent]:
        return [
            i
            for i in self.intents()
            if not i.status.is_terminal and trade_id in (i.trade_id, i.closes_trade_id)
        ]

    def fills(self, trade_id: str) -> list[Fill]:
        with self.world.store.transaction() as tx:
            return tx.fills.list(trade_id=trade_id)

    def events(self, prefix: str) -> list[Event]:
        with self.world.store.transaction() as tx:
            return tx.events.list(kind_prefix=prefix)

    def spot(self, symbol: str) -> float:
        assert self.world.model is not None
        return self.world.model.spot(symbol, self.now())

    def short_strike(self, trade_id: str, right: str = "put") -> float:
        shorts = [
            leg
            for leg in self.legs(trade_id)
            if leg.side.value == "sell" and leg.right is not None and leg.right.value == right
        ]
        assert shorts, f"no short {right} in {trade_id}"
        return float(shorts[0].strike or 0)

    def glide(self, symbol: str, to: Iterable[tuple[datetime, float]]) -> None:
        """Move ``symbol`` from where it is now through ``to`` (scripted spot)."""
        assert self.world.model is not None
        self.script.glide(self.world.model, symbol, start=self.now(), to=list(to))

    def exits_of(self, trade_id: str) -> list[Any]:
        return [e for r in self.reports for e in r.exits if e.trade_id == trade_id]

    def rolls_of(self, trade_id: str) -> list[Any]:
        return [e for r in self.reports for e in r.rolls if e.trade_id == trade_id]

    # ------------------------------------------------------------------ invariants

    def our_positions(self) -> dict[str, int]:
        with self.world.store.transaction() as tx:
            legs = tx.positions.list(status=PositionStatus.OPEN)
        out: Counter[str] = Counter()
        for leg in legs:
            out[leg.symbol] += leg.signed_qty
        return {s: q for s, q in out.items() if q}

    def broker_positions(self) -> dict[str, int]:
        return {p.symbol: p.qty for p in self.exchange.get_positions() if p.qty}

    def assert_book_matches_broker(self) -> None:
        """Trades and positions equal the simulated broker's; each trade's P&L is the sum of
        its fills (sells +, buys −, ×100 for options, shares for stock)."""
        assert self.our_positions() == self.broker_positions()
        with self.world.store.transaction() as tx:
            trades = tx.trades.list()
            for trade in trades:
                fills = tx.fills.list(trade_id=trade.trade_id)
                total = sum(
                    (
                        -f.side.sign * f.qty * f.price * (100 if len(f.symbol) > 6 else 1)
                        - f.fee_usd
                        for f in fills
                    ),
                    Decimal(0),
                )
                assert trade.realized_pnl == total, (trade.trade_id, trade.realized_pnl, total)
                open_legs = [
                    leg
                    for leg in tx.positions.list(trade_id=trade.trade_id)
                    if leg.status is PositionStatus.OPEN and leg.qty > 0
                ]
                if trade.status is TradeStatus.CLOSED:
                    assert not open_legs, (trade.trade_id, open_legs)
                if trade.status in (TradeStatus.OPEN, TradeStatus.CLOSING):
                    assert open_legs, trade.trade_id

    def close(self) -> None:
        self.loop.close()
        self.world.store.close()


def make_scenario(
    tmp_path: Path,
    *overrides: str,
    start: datetime | None = None,
    early_assignment_prob: float = 0.0,
) -> Scenario:
    """The agent on the simulator, its clock at ``start`` (Monday 10:00 ET by default).

    ``early_assignment_prob`` is the simulated exchange's chance to assign an eligible deep
    ITM short put at a close (0 unless a scenario wants one)."""
    settings = make_settings(tmp_path, *overrides)
    clock = SimClock(start or et(MONDAY, 10))
    world = build_world(settings, clock=clock)
    assert world.model is not None and world.exchange is not None
    exchange = SimExchange(
        quotes=world.model,
        clock=clock,
        calendar=world.calendar,
        initial_cash_usd=Decimal(str(settings.sim.initial_cash_usd)),
        seed=settings.sim.seed,
        fill_rate_per_min=settings.sim.fill_rate_per_min,
        partial_fill_prob=settings.sim.partial_fill_prob,
        early_assignment_prob=early_assignment_prob,
        early_assignment_max_extrinsic_usd=settings.monitor.early_assignment_max_extrinsic_usd,
    )
    world.exchange = exchange
    world.broker = exchange
    alerts = RecordingAlerts()
    services = LocalServices(world, alerts=alerts)
    script = ScriptedSpot()
    world.model.set_spot_override(script)
    return Scenario(
        settings=world.settings,
        world=world,
        clock=clock,
        exchange=exchange,
        services=services,
        engine=Engine(services),
        alerts=alerts,
        script=script,
        loop=asyncio.new_event_loop(),
        reports=[],
    )


def fill_cash(fills: Iterable[Fill]) -> Decimal:
    """Σ cash flows of fills (sells +, buys −; ×100 options, shares for stock)."""
    return sum(
        (
            -f.side.sign * f.qty * f.price * (100 if len(f.symbol) > 6 else 1) - f.fee_usd
            for f in fills
        ),
        Decimal(0),
    )


__all__ = ["MONDAY", "RecordingAlerts", "Scenario", "et", "fill_cash", "make_scenario"]

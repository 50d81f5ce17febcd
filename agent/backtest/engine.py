"""The backtest: the real engine and services, the simulated market and broker, and a
stepped :class:`SimClock` that jumps from one scheduled step to the next as fast as the
machine allows. No ``if backtest:`` anywhere else: only the clock differs from a live run.
"""

from __future__ import annotations

import asyncio
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from agent.calendar import ET, market_calendar
from agent.clock import SimClock
from agent.config import AgentSettings
from agent.domain import OrderStatus, TradeStatus
from agent.engine import Engine
from agent.factories import build_world, saved_sim_time, sim_start
from agent.local import LocalServices
from agent.runner import LoopRunner
from agent.schedule import Loop, Schedule

# Steps due at the same minute run in this order: reconcile, work/monitor, scan, then the
# end-of-day and learning jobs.
_ORDER = {
    Loop.RECONCILE: 0,
    Loop.MONITOR: 1,
    Loop.SCAN: 2,
    Loop.EOD_CLEANUP: 3,
    Loop.DAILY_ANALYSIS: 4,
    Loop.WEEKLY_LEARNING: 5,
}


def scheduled_events(
    schedule: Schedule, start: datetime, end: datetime
) -> list[tuple[datetime, Loop]]:
    """Every scheduled step in ``[start, end)``, in execution order."""
    events: list[tuple[datetime, Loop]] = []
    for loop in Loop:
        at = schedule.next_run(loop, start - timedelta(microseconds=1))
        while at < end:
            events.append((at, loop))
            at = schedule.next_run(loop, at)
    events.sort(key=lambda e: (e[0], _ORDER[e[1]]))
    return events


@dataclass(slots=True, kw_only=True)
class BacktestResult:
    start: datetime
    end: datetime
    sessions: list[date]
    symbols: int
    scans: int = 0
    trades_opened: int = 0
    trades_closed: int = 0
    trades_open_at_end: int = 0
    realized_pnl_usd: Decimal = Decimal(0)
    fills: int = 0
    orders: int = 0
    rejected_orders: int = 0
    equity_start_usd: Decimal = Decimal(0)
    equity_end_usd: Decimal = Decimal(0)
    step_errors: int = 0
    elapsed_s: float = 0.0
    by_strategy: dict[str, int] = field(default_factory=dict)


class Backtest:
    """Run ``days`` trading sessions from ``sim.start_date`` (or where the sim state stopped)."""

    def __init__(self, settings: AgentSettings, *, days: int) -> None:
        if days < 1:
            raise ValueError(f"days must be ≥ 1 (got {days})")
        self.settings = settings
        self.days = days
        self.clock = SimClock(saved_sim_time(settings) or sim_start(settings, market_calendar()))
        self.world = build_world(settings, self.clock)
        self.services = LocalServices(self.world)
        self.engine = Engine(self.services)
        self.schedule = Schedule(self.world.settings.schedule, self.world.calendar)
        self.runner = LoopRunner(
            engine=self.engine, schedule=self.schedule, clock=self.clock, symbols=self.world.symbols
        )

    def _window(self) -> tuple[datetime, datetime, list[date]]:
        calendar = self.world.calendar
        start = self.clock.now()
        first = calendar.current_or_next_session(start).day
        sessions = [first]
        while len(sessions) < self.days:
            sessions.append(calendar.next_session(sessions[-1]))
        # Run through the evening jobs of the last session (daily analysis at 17:00 ET).
        last = sessions[-1]
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ET)
        return start, end, sessions

    def run(self) -> BacktestResult:
        started = _time.perf_counter()
        start, end, sessions = self._window()
        equity_start = self.world.broker.get_account().equity
        events = scheduled_events(self.schedule, start, end)
        asyncio.run(self._drive(events))
        self.clock.set(max(self.clock.now(), end))
        self.world.save()
        result = self._result(start, end, sessions, equity_start)
        result.elapsed_s = _time.perf_counter() - started
        return result

    async def _drive(self, events: list[tuple[datetime, Loop]]) -> None:
        await self.runner.run_step(Loop.RECONCILE, self.clock.now())
        for at, loop in events:
            self.clock.set(max(at, self.clock.now()))
            await self.runner.run_step(loop, at)

    def _result(
        self, start: datetime, end: datetime, sessions: list[date], equity_start: Decimal
    ) -> BacktestResult:
        with self.world.store.transaction() as tx:
            trades = tx.trades.list(opened_since=start)
            fills = tx.fills.list()
            orders = tx.orders.list_orders()
        closed = [t for t in trades if t.status is TradeStatus.CLOSED]
        by_strategy: dict[str, int] = {}
        for trade in trades:
            if trade.status is not TradeStatus.CANCELED:
                by_strategy[trade.strategy.value] = by_strategy.get(trade.strategy.value, 0) + 1
        return BacktestResult(
            start=start,
            end=end,
            sessions=sessions,
            symbols=len(self.world.symbols),
            scans=self.runner.summary.scans,
            trades_opened=sum(by_strategy.values()),
            trades_closed=len(closed),
            trades_open_at_end=sum(
                t.status in (TradeStatus.OPEN, TradeStatus.CLOSING) for t in trades
            ),
            realized_pnl_usd=sum((t.realized_pnl for t in closed), Decimal(0)),
            fills=len(fills),
            orders=len(orders),
            rejected_orders=sum(o.status is OrderStatus.REJECTED for o in orders),
            equity_start_usd=equity_start,
            equity_end_usd=self.world.broker.get_account().equity,
            step_errors=sum(h.errors for h in self.runner.health.values()),
            by_strategy=by_strategy,
        )

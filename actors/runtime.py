"""What every actor process builds in its constructor: logging, store, calendar, clock, and
the adapters of its mode.

Crash-only: nothing here is remembered between restarts. The simulated clock of every actor
comes from the one anchor the system stored before creating any actor
(:data:`agent.factories.CLOCK_ANCHOR_KEY`), so all processes agree on "now" and a restarted
actor rejoins the same simulated time.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actors.handles import (
    ExchangeMarketData,
    GovernorHandle,
    GovernorLimiter,
    lookup,
)
from actors.options import ActorName
from agent.calendar import MarketCalendar, market_calendar
from agent.clock import Clock, SystemClock, monotonic_s, wall_time_s
from agent.config import AgentSettings
from agent.domain import Mode
from agent.errors import ConfigError
from agent.factories import CLOCK_ANCHOR_KEY, ClockAnchor, accelerated_clock, build_store
from agent.logging import configure_logging, logger
from agent.ports import Alerts, MarketData, Store
from agent.schedule import Schedule


def read_anchor(store: Store) -> ClockAnchor | None:
    with store.transaction() as tx:
        raw = tx.state.get(CLOCK_ANCHOR_KEY)
    return ClockAnchor.from_json(dict(raw)) if raw else None


def write_anchor(store: Store, anchor: ClockAnchor) -> None:
    with store.transaction() as tx:
        tx.state.put(CLOCK_ANCHOR_KEY, anchor.to_json())


PROVISIONAL_WALL_S = 10 * 365 * 86400.0
"""A provisional anchor's wall time lies this far ahead: simulated time stands still at the
start until the system, once every actor is up, stores the final anchor."""
_ANCHOR_POLL_S = 0.25


def provisional_anchor(sim_at: datetime, speed: float) -> ClockAnchor:
    return ClockAnchor(sim_at=sim_at, wall_s=wall_time_s() + PROVISIONAL_WALL_S, speed=speed)


def is_provisional(anchor: ClockAnchor) -> bool:
    return anchor.wall_s > wall_time_s() + PROVISIONAL_WALL_S / 2


class SharedClock:
    """The accelerated clock of the anchor in the store.

    Starting a system takes tens of wall seconds (one process per actor), hours of simulated
    time at 600x. So the system first stores a *provisional* anchor: every actor's clock
    stands still at the start time and looks for the final anchor in the store (every
    0.25 wall s) until the system stores it, once every actor is up. After that this is a
    plain :class:`AcceleratedClock`, a pure function of wall time shared by all processes.
    """

    def __init__(self, store: Store, schedule: Schedule, anchor: ClockAnchor) -> None:
        self._store = store
        self._schedule = schedule
        self._lock = threading.Lock()
        self._checked_s = monotonic_s()
        self._use(anchor)

    def _use(self, anchor: ClockAnchor) -> None:
        self.anchor = anchor
        self._clock = accelerated_clock(anchor, self._schedule)
        self.provisional = is_provisional(anchor)

    def _refresh(self) -> None:
        if not self.provisional:
            return
        with self._lock:
            if monotonic_s() - self._checked_s < _ANCHOR_POLL_S:
                return
            self._checked_s = monotonic_s()
            anchor = read_anchor(self._store)
            if anchor is not None and anchor != self.anchor:
                self._use(anchor)

    def now(self) -> datetime:
        self._refresh()
        return self._clock.now()

    def real_seconds_until(self, target: datetime) -> float:
        self._refresh()
        wait = self._clock.real_seconds_until(target)
        return min(wait, _ANCHOR_POLL_S) if self.provisional else wait


def clock_for(settings: AgentSettings, store: Store, schedule: Schedule) -> Clock:
    """Sim: the shared accelerated clock of the stored anchor; paper/live: the system clock."""
    if settings.mode is not Mode.SIM:
        return SystemClock()
    anchor = read_anchor(store)
    if anchor is None:
        raise ConfigError(
            f"no simulated clock anchor in the store ({CLOCK_ANCHOR_KEY}): the system stores "
            "it before creating actors; start the agent with `optagent run`"
        )
    return SharedClock(store, schedule, anchor)


@dataclass(slots=True, kw_only=True)
class ActorRuntime:
    """The per-process collaborators of one actor."""

    component: str
    settings: AgentSettings
    store: Store
    calendar: MarketCalendar
    schedule: Schedule
    clock: Clock
    started_wall_s: float
    pid: int

    @property
    def sim(self) -> bool:
        return self.settings.mode is Mode.SIM

    def alerts(self) -> Alerts:
        from agent.adapters.alerts import build_alerts  # noqa: PLC0415  (httpx, smtplib)

        return build_alerts(self.settings.alerts)

    def market_source(self, namespace: str, *, own_model: bool = False) -> MarketData:
        """The market data port of this mode. Sim: the ``SimExchange`` actor's market, or
        with ``own_model`` a copy of the model in this process (the same pure function of
        time, for the scan's heavy reads: the exchange's process would be their bottleneck).
        Paper/live: Alpaca behind the shared request budgets."""
        if self.sim and own_model:
            from agent.adapters.sim.marketdata import SimMarketData  # noqa: PLC0415

            return SimMarketData.from_settings(self.settings, self.clock)
        if self.sim:
            return ExchangeMarketData(namespace)
        # Imported where it is built: each actor process loads only its mode's adapter.
        from agent.adapters.alpaca import AlpacaMarketData  # noqa: PLC0415

        governor = GovernorHandle(lookup(ActorName.GOVERNOR, namespace))
        return AlpacaMarketData.from_settings(
            self.settings,
            GovernorLimiter(governor, "data"),
            trading_limiter=GovernorLimiter(governor, "trading"),
            clock=self.clock,
        )

    def describe(self) -> dict[str, Any]:
        return describe(self.component, self.settings, started_wall_s=self.started_wall_s)


def describe(
    component: str, settings: AgentSettings, *, started_wall_s: float | None = None
) -> dict[str, Any]:
    """Who answers a heartbeat: component, process, start time and mode."""
    return {
        "component": component,
        "pid": os.getpid(),
        "started_wall_s": wall_time_s() if started_wall_s is None else started_wall_s,
        "mode": settings.mode.value,
    }


def boot(settings: AgentSettings, component: str) -> ActorRuntime:
    """Configure logging and open the store, calendar and clock for one actor process."""
    configure_logging(settings, component=component)
    store = build_store(settings)
    calendar = market_calendar()
    schedule = Schedule(settings.schedule, calendar)
    clock = clock_for(settings, store, schedule)
    runtime = ActorRuntime(
        component=component,
        settings=settings,
        store=store,
        calendar=calendar,
        schedule=schedule,
        clock=clock,
        started_wall_s=wall_time_s(),
        pid=os.getpid(),
    )
    logger.info("{} starting (pid {}, mode {})", component, runtime.pid, settings.mode.value)
    return runtime

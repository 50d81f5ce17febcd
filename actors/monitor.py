"""The ``Monitor`` actor: exits, rolls, assignment/expiry and pin risk over open trades.

Async shell; the service runs on one worker thread with this process's own market data
service (quotes are never cached, so nothing is lost by not sharing MarketData's cache). It
rebuilds from the store on every pass: a restart loses nothing. Marks price with
:mod:`agent.pricing.closed_form` (numpy); roll and covered-call searches have their chains
enriched by a scanner (:class:`~actors.handles.ScannerEnricher`): the process never loads
numba."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ray

from actors.base import AsyncShell
from actors.handles import ScannerEnricher
from agent.config import AgentSettings
from agent.domain import MonitorReport, TradingState
from agent.marketdata.service import MarketDataService

if TYPE_CHECKING:
    from agent.monitor import MonitorService


class MonitorShell(AsyncShell):
    def __init__(self, settings: AgentSettings, namespace: str) -> None:
        runtime = self._boot(settings, "monitor")
        self._start_worker("monitor")
        self.market = MarketDataService(
            market_data=runtime.market_source(namespace),
            store=runtime.store,
            clock=runtime.clock,
            settings=settings,
            calendar=runtime.calendar,
        )
        # Imported here: the driver creating this actor never loads the kernels.
        from agent.monitor import MonitorService  # noqa: PLC0415

        self.service: MonitorService = MonitorService(
            market=self.market,
            alerts=runtime.alerts(),
            calendar=runtime.calendar,
            store=runtime.store,
            clock=runtime.clock,
            settings=settings,
            enrich=ScannerEnricher(namespace),
        )

    async def run(self, state: TradingState) -> MonitorReport:
        return await self._off(self.service.run, state)

    async def data_age_s(self) -> float | None:
        return self.market.data_age_s()

    async def ping(self) -> dict[str, Any]:
        return self._ping()


MonitorActor = ray.remote(MonitorShell)

"""The ``MarketData`` actor: wraps :class:`MarketDataService` (TTL cache on the clock, IV
history, scan inputs). Its results stay in the object store: a scan input is returned as a
ref that the supervisor hands to a scanner without fetching it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Any

import ray

from actors.base import AsyncShell
from actors.options import CONTROL_GROUP, ActorName, options_for
from agent.config import AgentSettings
from agent.domain import Quote, ScanInput, SymbolScan
from agent.errors import DataError
from agent.marketdata.service import MarketDataService
from agent.signals import data_rejection


class MarketDataShell(AsyncShell):
    def __init__(self, settings: AgentSettings, namespace: str) -> None:
        runtime = self._boot(settings, "market_data")
        self._start_worker("market-data")
        self.service = MarketDataService(
            market_data=runtime.market_source(namespace, own_model=True),
            store=runtime.store,
            clock=runtime.clock,
            settings=settings,
            calendar=runtime.calendar,
        )

    async def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Fresh quotes (never cached) for execution's price walker. Off the scan worker, so a
        walk step never waits behind a 100-symbol scan."""
        return await asyncio.to_thread(self.service.quotes, list(symbols))

    async def warm(self, symbols: Sequence[str]) -> int:
        """One batched snapshot request for the whole watchlist, and the market context."""
        snapshots = await self._off(self.service.snapshots, list(symbols))
        await self._off(self.service.context)
        return len(snapshots)

    async def prepare(self, symbols: Sequence[str]) -> int:
        """Backfill IV history and daily bars for every symbol (run by the system while the
        simulated clock still stands at the start); returns how many symbols have data."""

        def load() -> int:
            ready = 0
            for symbol in symbols:
                try:
                    self.service.iv_history(symbol)
                    self.service.bars_summary(symbol)
                    ready += 1
                except DataError:
                    continue
            return ready

        return await self._off(load)

    async def clear_cache(self, keep_daily: bool = False) -> None:
        """Drop every cached value, or only the short-lived ones (benchmarks time cycles as
        a scan finds the cache 5 minutes after the last)."""
        self.service.cache.clear(keep_daily=keep_daily)

    async def scan_input(self, symbol: str, scan_id: str) -> ScanInput | SymbolScan:
        """The symbol's scan input, or its recorded rejection when it has no usable data."""
        try:
            return await self._off(self.service.scan_input, symbol, scan_id)
        except DataError as exc:
            return data_rejection(symbol, scan_id, self.runtime.clock.now(), exc)

    async def record_atm_ivs(self, observations: Sequence[tuple[str, date, float]]) -> int:
        def write() -> int:
            for symbol, on, atm_iv in observations:
                self.service.record_atm_iv(symbol, on, atm_iv)
            return len(observations)

        return await self._off(write)

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def data_age_s(self) -> float | None:
        return self.service.data_age_s()

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def ping(self) -> dict[str, Any]:
        return {
            **self._ping(),
            "cache_hits": self.service.cache.hits,
            "cache_misses": self.service.cache.misses,
        }


MarketDataActor = ray.remote(**options_for(ActorName.MARKET_DATA).class_options())(MarketDataShell)

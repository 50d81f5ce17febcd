"""The ``Governor`` actor (paper/live): the request budgets every process shares.

Alpaca allows 200 requests per minute per account for trading and, separately, for market
data. Each budget is one :class:`RateGovernor` (sliding window with priorities) living here;
every adapter in every actor calls :class:`actors.handles.GovernorLimiter`, which waits here
(asynchronously, without holding a thread) until its request may go.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from actors import metrics
from actors.base import Shell
from agent.config import AgentSettings
from agent.marketdata.governor import Priority, RateGovernor

TRADING = "trading"
DATA = "data"


class GovernorShell(Shell):
    def __init__(self, settings: AgentSettings) -> None:
        self._boot(settings, "governor")
        rate = settings.market_data.rate_limit_per_min
        self.budgets = {TRADING: RateGovernor(rate), DATA: RateGovernor(rate)}
        self.waited_s = {TRADING: 0.0, DATA: 0.0}

    async def acquire(self, budget: str, priority: int) -> float:
        """Return once a request of ``priority`` may go on ``budget``; the seconds waited."""
        governor = self.budgets[budget]
        waited = 0.0
        self.calls += 1
        while (wait := governor.try_acquire(Priority(priority))) > 0.0:
            metrics.inc("rate_limit_waits", budget=budget)
            metrics.inc("rate_limit_wait_s", wait, budget=budget)
            waited += wait
            await asyncio.sleep(wait)
        self.waited_s[budget] += waited
        return waited

    async def stats(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "granted": g.granted,
                "waits": g.waits,
                "in_window": g.in_window(),
                "waited_s": round(self.waited_s[name], 3),
            }
            for name, g in self.budgets.items()
        }

    async def ping(self) -> dict[str, Any]:
        return self._ping()


GovernorActor = ray.remote(GovernorShell)

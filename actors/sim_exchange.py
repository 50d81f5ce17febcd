"""The ``SimExchange`` actor (sim mode): holds the one simulated exchange of the system, and
the simulated market the Monitor reads.

Other actors reach it through :class:`actors.handles.ExchangeBroker` (the Broker port) and
:class:`actors.handles.ExchangeMarketData` (the MarketData port, for the Monitor; MarketData
keeps its own copy of the model, a pure function of time, so a scan's hundred chains never
queue behind this process's single interpreter). Its
state goes to ``sim.state_file`` before the call that changed it answers: after submit,
cancel and replace, after any call that processed an execution or an activity (a fill, an
expiry, an assignment), whenever processed time crosses a session close, at least every few
wall seconds while calls come in, and on :meth:`save` (the system's shutdown). So no caller
ever knows of a fill that a SIGKILL and a restore would lose; what processing a restore
repeats is deterministic (the exchange's randomness and ids are hashes of (seed, order,
minute), and the market model is a pure function of time).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import ray

from actors.base import Shell
from actors.handles import BROKER_METHODS, MARKET_METHODS
from actors.options import MARKET_GROUP, ActorName, options_for
from agent.adapters.sim.exchange import SimExchange
from agent.calendar import ET
from agent.clock import monotonic_s
from agent.config import AgentSettings
from agent.factories import build_sim_exchange
from agent.logging import logger

MUTATING = frozenset({"submit_order", "cancel_order", "replace_order"})
PERIODIC_SAVE_S = 2.0


class SimExchangeShell(Shell):
    def __init__(self, settings: AgentSettings) -> None:
        runtime = self._boot(settings, "sim_exchange")
        self.path = Path(settings.sim.state_file)
        # Imported here: the driver creating this actor never loads the quote engine (numba).
        from agent.adapters.sim.market import MarketModel  # noqa: PLC0415
        from agent.adapters.sim.marketdata import SimMarketData  # noqa: PLC0415

        model = MarketModel.from_settings(settings)
        self.exchange: SimExchange = build_sim_exchange(
            settings, runtime.clock, model, runtime.calendar
        )
        self.market = SimMarketData(model, runtime.clock)
        self.market_calls = 0
        self._saved_phase = self._phase()
        self._saved_at = monotonic_s()
        self.saves = 0
        logger.info(
            "sim exchange {} at {} ({})",
            "resumed" if self.path.exists() else "created",
            self.exchange.processed_until,
            self.path,
        )
        self.save()

    def _phase(self) -> tuple[str, bool, int]:
        """(ET date, open?) of processed time and the exchange's journal length: a change
        means a close (or a new day) or an execution was processed. Saving then, before the
        call answers, means nobody ever learns of a fill that a restore would lose."""
        at = self.exchange.processed_until
        return (
            at.astimezone(ET).date().isoformat(),
            self.runtime.calendar.is_open(at),
            self.exchange.journal_length,
        )

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method not in BROKER_METHODS:
            raise AttributeError(f"SimExchange has no broker method {method!r}")
        self.calls += 1
        try:
            return getattr(self.exchange, method)(*args, **kwargs)
        except Exception:
            self.errors += 1
            raise
        finally:
            self._after(method)

    @ray.method(concurrency_group=MARKET_GROUP)
    def market_data(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A MarketData port call, read at this process's clock (the shared simulated time),
        on the market thread: the model guards its caches; the market is a pure function of
        time, so there is nothing to save."""
        if method not in MARKET_METHODS:
            raise AttributeError(f"SimExchange has no market data method {method!r}")
        self.market_calls += 1
        return getattr(self.market, method)(*args, **kwargs)

    def _after(self, method: str) -> None:
        if (
            method in MUTATING
            or self._phase() != self._saved_phase
            or monotonic_s() - self._saved_at >= PERIODIC_SAVE_S
        ):
            self.save()

    def save(self) -> str:
        """Write the state file now (atomically); returns its path."""
        self.exchange.save(self.path)
        self._saved_phase = self._phase()
        self._saved_at = monotonic_s()
        self.saves += 1
        return str(self.path)

    def processed_until(self) -> datetime:
        return self.exchange.processed_until

    def ping(self) -> dict[str, Any]:
        return {**self._ping(), "saves": self.saves, "market_calls": self.market_calls}


SimExchangeActor = ray.remote(**options_for(ActorName.SIM_EXCHANGE).class_options())(
    SimExchangeShell
)

"""RayServices: the :class:`agent.engine.Services` facade over the actors' typed handles,
method by method the twin of the in-process :class:`agent.local.LocalServices`.

It runs in the Supervisor (and in a driver that runs cycles itself: the benchmark, the
multi-node test). It never calls ``.remote()`` itself: every actor call goes through a
handle of ``actors/handles.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TypeVar

from ray.exceptions import RayTaskError

from actors import metrics
from actors.handles import SystemHandles, unwrap
from agent.calendar import ET
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain import (
    AccountSnapshot,
    Candidate,
    DecisionRecord,
    ExitAction,
    MonitorReport,
    ReconcileReport,
    RiskDecision,
    RollAction,
    SingleLegAction,
    SymbolScan,
    TradeMark,
    TradingState,
    WorkReport,
)
from agent.engine import journal_decisions
from agent.errors import BrokerAuthError, DataError, TransientBrokerError
from agent.logging import logger
from agent.ports import Store
from agent.signals import data_rejection, rank_candidates

T = TypeVar("T")


class RayServices:
    """:class:`agent.engine.Services` over the actors (used inside the async Supervisor).

    Data flow of a scan: one batched snapshot request warms MarketData's cache, then for
    every symbol MarketData's ``scan_input`` ref goes straight into a scanner's ``scan`` (Ray
    resolves it on the scanner's node); only the small ``SymbolScan`` results come back here.
    Nothing in this class blocks the event loop: actor calls are awaited and the store writes
    of decision records run on a worker thread.
    """

    def __init__(
        self,
        handles: SystemHandles,
        *,
        settings: AgentSettings,
        store: Store,
        clock: Clock,
        call_timeout_s: float = 300.0,
    ) -> None:
        self.h = handles
        self.settings = settings
        self.store = store
        self.clock = clock
        self.call_timeout_s = call_timeout_s

    async def _await(self, ref: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(ref, self.call_timeout_s)
        except RayTaskError as exc:
            raise unwrap(exc) from None

    async def _broker(self, call: Callable[[], Awaitable[T]]) -> T:
        """Feed broker trouble to the risk breakers, then let the loop boundary handle it."""
        try:
            return await self._await(call())
        except BrokerAuthError as exc:
            metrics.inc("broker_errors", kind=type(exc).__name__)
            await self._await(self.h.risk.record_auth_failure(str(exc)))
            raise
        except TransientBrokerError as exc:
            metrics.inc("broker_errors", kind=type(exc).__name__)
            if "429" in str(exc):
                metrics.inc("http_429")
            await self._await(self.h.risk.record_broker_error(type(exc).__name__, str(exc)))
            raise

    # ------------------------------------------------------------------ scanning

    async def scan(self, symbols: Sequence[str], scan_id: str) -> list[SymbolScan]:
        await self._await(self.h.market.warm(symbols))
        refs = [self.h.scanners.scan(self.h.market.scan_input(s, scan_id)) for s in symbols]
        results = await asyncio.gather(*refs, return_exceptions=True)
        scans: list[SymbolScan] = []
        for symbol, result in zip(symbols, results, strict=True):
            if isinstance(result, SymbolScan):
                scans.append(result)
                continue
            error = unwrap(result) if isinstance(result, BaseException) else result
            if isinstance(error, asyncio.CancelledError):
                raise error
            logger.warning("scan of {} failed: {}", symbol, error)
            scans.append(
                data_rejection(
                    symbol,
                    scan_id,
                    self.clock.now(),
                    DataError(f"scan failed: {type(error).__name__}: {error}"),
                )
            )
        metrics.inc("symbols_scanned", len(symbols))
        metrics.inc("candidates", sum(len(s.candidates) for s in scans))
        return scans

    async def record_decisions(self, records: Sequence[DecisionRecord]) -> None:
        if not records:
            return

        def write() -> None:
            with self.store.transaction() as tx:
                tx.decisions.add_many(records)
            journal_decisions(records)

        await asyncio.to_thread(write)

    async def record_atm_ivs(self, scans: Sequence[SymbolScan]) -> None:
        observations = [
            (scan.underlying, scan.as_of.astimezone(ET).date(), scan.atm_iv) for scan in scans
        ]
        await self._await(self.h.market.record_atm_ivs(observations))

    async def rank(
        self, scans: Sequence[SymbolScan]
    ) -> tuple[list[Candidate], list[DecisionRecord]]:
        return await asyncio.to_thread(rank_candidates, scans, self.settings)

    # ------------------------------------------------------------------ risk

    async def account(self) -> AccountSnapshot:
        return await self._broker(self.h.execution.account)

    async def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> RiskDecision:
        decision = await self._await(self.h.risk.evaluate(candidate, account))
        if not decision.approved:
            metrics.inc("rejects", by="risk")
        return decision

    async def trading_state(self) -> TradingState:
        state = await self._await(self.h.risk.trading_state())
        metrics.set_gauge("trading_state", _STATE_LEVEL.get(state, 2))
        return state

    async def flatten_requested(self) -> bool:
        return await self._await(self.h.risk.flatten_requested())

    async def update_risk(
        self, account: AccountSnapshot, marks: Sequence[TradeMark], data_age_s: float | None
    ) -> TradingState:
        state = await self._await(self.h.risk.update(account, marks, data_age_s))
        metrics.set_gauge("trading_state", _STATE_LEVEL.get(state, 2))
        return state

    # ------------------------------------------------------------------ execution

    async def _order(self, kind: str, call: Callable[[], Awaitable[str | None]]) -> str | None:
        result = await self._broker(call)
        if result is not None:
            metrics.inc("orders", kind=kind)
        return result

    async def open_trade(self, candidate: Candidate, decision: RiskDecision) -> str | None:
        return await self._order("open", lambda: self.h.execution.open_trade(candidate, decision))

    async def close_trade(self, action: ExitAction) -> str | None:
        return await self._order("close", lambda: self.h.execution.close_trade(action))

    async def roll_trade(self, roll: RollAction, decision: RiskDecision) -> str | None:
        return await self._order("roll", lambda: self.h.execution.roll_trade(roll, decision))

    async def submit_single_leg(self, action: SingleLegAction) -> str | None:
        return await self._order("single_leg", lambda: self.h.execution.submit_single_leg(action))

    async def flatten(self) -> int:
        closed = await self._broker(self.h.execution.flatten)
        await self._await(self.h.risk.clear_flatten())
        return closed

    async def work_orders(self) -> WorkReport:
        report = await self._broker(self.h.execution.work)
        metrics.inc("fills", report.fills)
        return report

    async def reconcile(self) -> ReconcileReport:
        return await self._broker(self.h.execution.reconcile)

    async def end_of_day(self) -> None:
        await self._broker(self.h.execution.end_of_day)
        if self.h.exchange is not None:
            await self._await(self.h.exchange.save())

    # ------------------------------------------------------------------ monitoring, learning

    async def monitor(self, state: TradingState) -> MonitorReport:
        return await self._await(self.h.monitor.run(state))

    async def data_age_s(self) -> float | None:
        ages = await asyncio.gather(
            self._await(self.h.monitor.data_age_s()), self._await(self.h.market.data_age_s())
        )
        known = [age for age in ages if age is not None]
        return min(known) if known else None

    async def daily_analysis(self, day: date) -> None:
        await self._await(self.h.learning.daily_analysis(day))

    async def weekly_learning(self, day: date) -> None:
        await self._await(self.h.learning.weekly_learning(day))


_STATE_LEVEL = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}

"""In-process services: the :class:`agent.engine.Services` facade over plain objects.

Used by ``optagent scan --once``, the backtest and in-process runs. The Ray system
implements the same facade with actor handles (``actors/handles.py``), so the engine's cycles
are one code path everywhere.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, TypeVar

from agent.adapters.alerts import build_alerts
from agent.calendar import ET
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
from agent.execution import ExecutionService
from agent.factories import World
from agent.learning import LearningService
from agent.marketdata.service import MarketDataService
from agent.monitor import MonitorService
from agent.ports import Alerts
from agent.risk import RiskService
from agent.signals import data_rejection, rank_candidates, scan_symbol

T = TypeVar("T")


def timed_scan(market: MarketDataService, symbol: str, scan_id: str) -> SymbolScan:
    """Fetch one symbol's inputs and scan it; a data problem becomes a recorded rejection."""
    started = _time.perf_counter()
    try:
        inp = market.scan_input(symbol, scan_id)
    except DataError as exc:
        return data_rejection(symbol, scan_id, market.clock.now(), exc)
    scan = scan_symbol(inp, market.settings)
    return replace(scan, elapsed_ms=(_time.perf_counter() - started) * 1000.0)


class LocalServices:
    """Every service as a plain object in this process."""

    def __init__(self, world: World, *, alerts: Alerts | None = None) -> None:
        settings = world.settings
        self.world = world
        self.settings = settings
        self.alerts = alerts or build_alerts(settings.alerts)
        common: dict[str, Any] = {"store": world.store, "clock": world.clock, "settings": settings}
        self.market = MarketDataService(
            market_data=world.market_data, calendar=world.calendar, **common
        )
        self.risk = RiskService(alerts=self.alerts, calendar=world.calendar, **common)
        self.execution = ExecutionService(
            broker=world.broker,
            alerts=self.alerts,
            quotes=self.market.quotes,
            calendar=world.calendar,
            **common,
        )
        self.monitor_service = MonitorService(
            market=self.market, alerts=self.alerts, calendar=world.calendar, **common
        )
        self.learning = LearningService(**common)

    def _broker(self, call: Callable[[], T]) -> T:
        """Feed broker trouble to the risk breakers, then let the loop boundary handle it."""
        try:
            return call()
        except BrokerAuthError as exc:
            self.risk.record_auth_failure(str(exc))
            raise
        except TransientBrokerError as exc:
            self.risk.record_broker_error(kind=type(exc).__name__, message=str(exc))
            raise

    # ------------------------------------------------------------------ scanning

    async def scan(self, symbols: Sequence[str], scan_id: str) -> list[SymbolScan]:
        self.market.snapshots(symbols)  # one batched request warms the cache for every symbol
        return [timed_scan(self.market, symbol, scan_id) for symbol in symbols]

    async def record_decisions(self, records: Sequence[DecisionRecord]) -> None:
        if records:
            with self.world.store.transaction() as tx:
                tx.decisions.add_many(records)
            journal_decisions(records)

    async def record_atm_ivs(self, scans: Sequence[SymbolScan]) -> None:
        for scan in scans:
            self.market.record_atm_iv(
                scan.underlying, scan.as_of.astimezone(ET).date(), scan.atm_iv
            )

    async def rank(
        self, scans: Sequence[SymbolScan]
    ) -> tuple[list[Candidate], list[DecisionRecord]]:
        return rank_candidates(scans, self.settings)

    # ------------------------------------------------------------------ risk

    async def account(self) -> AccountSnapshot:
        return self._broker(self.execution.account)

    async def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> RiskDecision:
        return self.risk.evaluate(candidate, account)

    async def trading_state(self) -> TradingState:
        return self.risk.trading_state()

    async def flatten_requested(self) -> bool:
        return self.risk.flatten_requested()

    async def update_risk(
        self, account: AccountSnapshot, marks: Sequence[TradeMark], data_age_s: float | None
    ) -> TradingState:
        return self.risk.update(account=account, marks=marks, data_age_s=data_age_s)

    # ------------------------------------------------------------------ execution

    async def open_trade(self, candidate: Candidate, decision: RiskDecision) -> str | None:
        return self._broker(lambda: self.execution.open_trade(candidate, decision))

    async def close_trade(self, action: ExitAction) -> str | None:
        return self._broker(lambda: self.execution.close_trade(action))

    async def roll_trade(self, roll: RollAction, decision: RiskDecision) -> str | None:
        return self._broker(lambda: self.execution.roll_trade(roll, decision))

    async def submit_single_leg(self, action: SingleLegAction) -> str | None:
        return self._broker(
            lambda: self.execution.submit_single_leg(
                trade_id=action.trade_id,
                symbol=action.symbol,
                side=action.side,
                intent=action.position_intent,
                qty=action.qty,
                limit_bound=action.limit_bound,
                reason=action.detail,
            )
        )

    async def flatten(self) -> int:
        closed = self._broker(self.execution.flatten)
        self.risk.clear_flatten()
        return closed

    async def work_orders(self) -> WorkReport:
        return self._broker(self.execution.work)

    async def reconcile(self) -> ReconcileReport:
        return self._broker(self.execution.reconcile)

    async def end_of_day(self) -> None:
        self._broker(self.execution.end_of_day)
        self.world.save()

    # ------------------------------------------------------------------ monitoring, learning

    async def monitor(self, state: TradingState) -> MonitorReport:
        return self.monitor_service.run(state)

    async def data_age_s(self) -> float | None:
        return self.market.data_age_s()

    async def daily_analysis(self, day: date) -> None:
        self.learning.daily_analysis(day)

    async def weekly_learning(self, day: date) -> None:
        self.learning.weekly_learning(day)

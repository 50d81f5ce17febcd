"""The ``Execution`` actor: intents, orders, the price walker, fills and reconciliation.

``max_concurrency=1`` and no task retries (a submit is not idempotent). The constructor
rebuilds from the store and reconciles with the broker (orders resolved by client id,
positions compared, activities booked from the stored cursor), so a restart comes back to the
broker's truth before any new order goes out.
"""

from __future__ import annotations

from typing import Any

import ray

from actors.base import Shell
from actors.handles import (
    ExchangeBroker,
    GovernorHandle,
    GovernorLimiter,
    MarketDataHandle,
    MarketQuotes,
    SimExchangeHandle,
    lookup,
)
from actors.options import ActorName
from agent.config import AgentSettings
from agent.domain import (
    AccountSnapshot,
    Candidate,
    ExitAction,
    ReconcileReport,
    RiskDecision,
    RollAction,
    SingleLegAction,
    WorkReport,
)
from agent.execution import ExecutionService
from agent.logging import logger
from agent.ports import Broker


class ExecutionShell(Shell):
    def __init__(self, settings: AgentSettings, namespace: str) -> None:
        runtime = self._boot(settings, "execution")
        broker: Broker
        if runtime.sim:
            broker = ExchangeBroker(SimExchangeHandle(lookup(ActorName.SIM_EXCHANGE, namespace)))
        else:
            from agent.adapters.alpaca import AlpacaBroker  # noqa: PLC0415

            governor = GovernorHandle(lookup(ActorName.GOVERNOR, namespace))
            trading = GovernorLimiter(governor, "trading")
            broker = AlpacaBroker.from_settings(settings, trading, clock=runtime.clock)
        # Quotes for walking prices come from the MarketData actor: this process needs no
        # market model and no pricing kernels.
        quotes = MarketQuotes(MarketDataHandle(lookup(ActorName.MARKET_DATA, namespace)))
        self.service = ExecutionService(
            broker=broker,
            store=runtime.store,
            clock=runtime.clock,
            settings=settings,
            alerts=runtime.alerts(),
            quotes=quotes,
            calendar=runtime.calendar,
        )
        self.last_reconcile: ReconcileReport | None = None
        try:
            self.last_reconcile = self.service.reconcile()
            logger.info("start-up reconcile: {}", self.last_reconcile)
        except Exception:
            # The reconcile loop retries; a constructor that raised would leave no actor.
            self.errors += 1
            logger.exception("start-up reconcile failed")

    def _count(self) -> None:
        self.calls += 1

    def open_trade(self, candidate: Candidate, decision: RiskDecision) -> str | None:
        self._count()
        return self.service.open_trade(candidate, decision)

    def close_trade(self, action: ExitAction) -> str | None:
        self._count()
        return self.service.close_trade(action)

    def roll_trade(self, roll: RollAction, decision: RiskDecision) -> str | None:
        self._count()
        return self.service.roll_trade(roll, decision)

    def submit_single_leg(self, action: SingleLegAction) -> str | None:
        self._count()
        return self.service.submit_single_leg(
            trade_id=action.trade_id,
            symbol=action.symbol,
            side=action.side,
            intent=action.position_intent,
            qty=action.qty,
            limit_bound=action.limit_bound,
            reason=action.detail,
        )

    def flatten(self) -> int:
        self._count()
        return self.service.flatten()

    def work(self) -> WorkReport:
        self._count()
        return self.service.work()

    def reconcile(self) -> ReconcileReport:
        self._count()
        self.last_reconcile = self.service.reconcile()
        return self.last_reconcile

    def end_of_day(self) -> int:
        self._count()
        return self.service.end_of_day()

    def account(self) -> AccountSnapshot:
        return self.service.account()

    def ping(self) -> dict[str, Any]:
        return {
            **self._ping(),
            "errors_total": self.service.errors_total,
            "last_reconcile_differences": (
                list(self.last_reconcile.differences) if self.last_reconcile else []
            ),
        }


ExecutionActor = ray.remote(ExecutionShell)

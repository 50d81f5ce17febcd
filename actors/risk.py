"""The ``Risk`` actor: the single writer of risk state (``max_concurrency=1``). Its
constructor is the service's: trading state, breakers, marks and approvals reload from the
store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ray

from actors.base import Shell
from agent.config import AgentSettings
from agent.domain import AccountSnapshot, Candidate, RiskDecision, TradeMark, TradingState

if TYPE_CHECKING:
    from agent.risk.view import RiskView


class RiskShell(Shell):
    def __init__(self, settings: AgentSettings) -> None:
        runtime = self._boot(settings, "risk")
        # Imported here: the driver creating this actor never loads the kernels.
        from agent.risk import RiskService  # noqa: PLC0415

        self.service = RiskService(
            store=runtime.store,
            clock=runtime.clock,
            settings=settings,
            alerts=runtime.alerts(),
            calendar=runtime.calendar,
        )

    def evaluate(self, candidate: Candidate, account: AccountSnapshot) -> RiskDecision:
        self.calls += 1
        return self.service.evaluate(candidate, account)

    def update(
        self, account: AccountSnapshot, marks: Sequence[TradeMark], data_age_s: float | None
    ) -> TradingState:
        self.calls += 1
        return self.service.update(account=account, marks=marks, data_age_s=data_age_s)

    def trading_state(self) -> TradingState:
        return self.service.trading_state()

    def flatten_requested(self) -> bool:
        return self.service.flatten_requested()

    def record_broker_error(self, kind: str, message: str) -> TradingState:
        self.errors += 1
        return self.service.record_broker_error(kind=kind, message=message)

    def record_auth_failure(self, message: str) -> TradingState:
        self.errors += 1
        return self.service.record_auth_failure(message)

    def request_flatten(self, reason: str) -> None:
        self.service.request_flatten(reason)

    def clear_flatten(self) -> None:
        self.service.clear_flatten()

    def halt(self, reason: str, flatten: bool = False) -> None:
        self.service.halt(reason, flatten=flatten)

    def resume(self, reason: str) -> None:
        self.service.resume(reason)

    def view(self) -> RiskView:
        return self.service.view()

    def ping(self) -> dict[str, Any]:
        return {**self._ping(), "trading_state": self.service.trading_state().value}


RiskActor = ray.remote(RiskShell)

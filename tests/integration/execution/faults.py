"""A Broker wrapper that injects faults around the real SimExchange.

A fault is armed for a method and fires on a later call: ``before`` raises without calling
the exchange (the request never arrived), ``after`` calls the exchange and then raises (the
request was applied, the answer was lost). A :class:`Killed` error stands for the process
dying at that point: it is a ``BaseException``, so no ``except Exception`` in the service
swallows it, and the test then drops the service and builds a new one on the same database.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from agent.domain import (
    AccountSnapshot,
    Activity,
    ActivityType,
    BrokerOrder,
    BrokerPosition,
    OrderRequest,
)
from agent.errors import TransientBrokerError
from agent.ports import Broker, OrderQueryStatus

Where = Literal["before", "after"]
METHODS = (
    "get_account",
    "get_positions",
    "submit_order",
    "get_order",
    "get_order_by_client_id",
    "list_orders",
    "cancel_order",
    "replace_order",
    "get_activities",
)
MUTATING = frozenset({"submit_order", "cancel_order", "replace_order"})


class Killed(BaseException):
    """The process died here."""


@dataclass
class Fault:
    method: str
    where: Where
    make: Callable[[], BaseException]
    skip: int = 0
    """Calls of ``method`` to let through first."""
    times: int = 1


def ambiguous() -> TransientBrokerError:
    return TransientBrokerError("connection dropped (injected)", ambiguous=True)


def timeout() -> TransientBrokerError:
    return TransientBrokerError("read timed out (injected)")


def killed() -> Killed:
    return Killed("process killed (injected)")


class FaultyBroker:
    """Implements :class:`agent.ports.Broker` by forwarding to ``inner`` with faults."""

    def __init__(self, inner: Broker, *, rng: random.Random | None = None) -> None:
        self.inner = inner
        self.faults: list[Fault] = []
        self.calls: dict[str, int] = {}
        self.fired: list[tuple[str, str, str]] = []
        self.rng = rng
        self.chaos_rate = 0.0
        self.chaos_kinds: Sequence[Callable[[], BaseException]] = ()

    def arm(
        self,
        method: str,
        where: Where,
        make: Callable[[], BaseException],
        *,
        skip: int = 0,
        times: int = 1,
    ) -> None:
        assert method in METHODS, method
        self.faults.append(Fault(method, where, make, skip, times))

    def disarm(self) -> None:
        self.faults.clear()
        self.chaos_rate = 0.0

    def _call(self, method: str, forward: Callable[[], Any]) -> Any:
        self.calls[method] = self.calls.get(method, 0) + 1
        fault = self._due(method)
        if (
            fault is None
            and self.rng is not None
            and self.chaos_rate > 0
            and self.rng.random() < self.chaos_rate
        ):
            where: Where = "after" if self.rng.random() < 0.5 else "before"
            make = self.rng.choice(list(self.chaos_kinds))
            fault = Fault(method, where, make)
        if fault is None:
            return forward()
        error = fault.make()
        if isinstance(error, TransientBrokerError) and fault.where == "after":
            # Applied but unanswered: only a mutating call can have been applied.
            error.ambiguous = method in MUTATING
        self.fired.append((method, fault.where, type(error).__name__))
        if fault.where == "after":
            forward()
        raise error

    def _due(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method != method:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
            return fault
        return None

    # ------------------------------------------------------------------ the port

    def get_account(self) -> AccountSnapshot:
        return self._call("get_account", self.inner.get_account)

    def get_positions(self) -> list[BrokerPosition]:
        return self._call("get_positions", self.inner.get_positions)

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        return self._call("submit_order", lambda: self.inner.submit_order(request))

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._call("get_order", lambda: self.inner.get_order(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        return self._call(
            "get_order_by_client_id", lambda: self.inner.get_order_by_client_id(client_order_id)
        )

    def list_orders(
        self,
        *,
        status: OrderQueryStatus = "open",
        after: datetime | None = None,
        limit: int = 500,
    ) -> list[BrokerOrder]:
        return self._call(
            "list_orders", lambda: self.inner.list_orders(status=status, after=after, limit=limit)
        )

    def cancel_order(self, order_id: str) -> None:
        self._call("cancel_order", lambda: self.inner.cancel_order(order_id))

    def replace_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal,
        client_order_id: str,
        qty: int | None = None,
    ) -> BrokerOrder:
        return self._call(
            "replace_order",
            lambda: self.inner.replace_order(
                order_id, limit_price=limit_price, client_order_id=client_order_id, qty=qty
            ),
        )

    def get_activities(
        self,
        *,
        after_id: str | None = None,
        types: Sequence[ActivityType] | None = None,
    ) -> list[Activity]:
        return self._call(
            "get_activities", lambda: self.inner.get_activities(after_id=after_id, types=types)
        )


def as_broker(broker: FaultyBroker) -> Broker:
    return broker

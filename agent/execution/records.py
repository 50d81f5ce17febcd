"""What the desk reads and writes besides the domain values: an intent's stored view, the
activity cursor document, pass counters, and the conventions of intent reasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.domain import ExitReason, OrderIntent, OrderPurpose, OrderRecord, OrderStatus, Quote
from agent.execution import walklog as wl
from agent.execution.state import UNRESOLVED_STATUSES, WORKING_STATUSES
from agent.ports import StoreSession

__all__ = [
    "ACTIVE_INTENT_STATUSES",
    "ACTIVITY_STATE_KEY",
    "DRY_RUN_REASON",
    "FIXED_BOUND_PREFIX",
    "ActivityState",
    "IntentView",
    "PassCounters",
    "QuoteProvider",
    "exit_reason_of",
]

QuoteProvider = Callable[[Sequence[str]], Mapping[str, Quote]]
"""Fresh quotes for leg symbols (``MarketDataService.quotes``)."""

ACTIVE_INTENT_STATUSES = frozenset(
    {
        OrderStatus.PENDING,
        OrderStatus.UNKNOWN,
        OrderStatus.NEW,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_REPLACE,
    }
)
FIXED_BOUND_PREFIX = "limit: "
"""Reason prefix of a closing intent whose bound the caller fixed (``submit_single_leg``);
other closing intents follow the current natural price."""
ACTIVITY_STATE_KEY = "execution.activities"
DRY_RUN_REASON = "dry_run"


def exit_reason_of(intent: OrderIntent, *, assigned: bool = False) -> ExitReason:
    """The exit reason a closing intent carries (its reason starts with an ExitReason)."""
    if intent.purpose is OrderPurpose.ROLL:
        return ExitReason.ROLLED
    text = intent.reason.removeprefix(FIXED_BOUND_PREFIX)
    head = text.split(":", 1)[0].strip()
    try:
        return ExitReason(head)
    except ValueError:
        return ExitReason.ASSIGNED if assigned else ExitReason.MANUAL


@dataclass(slots=True)
class PassCounters:
    """What a pass did (reset by the service for each ``work``/``reconcile``)."""

    fills: int = 0
    steps: int = 0
    canceled: int = 0
    resolved: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class IntentView:
    """An intent with its order records (attempt order) and walk log, as stored."""

    intent: OrderIntent
    records: tuple[OrderRecord, ...]
    log: wl.WalkLog

    @property
    def filled_units(self) -> int:
        return sum(r.filled_qty for r in self.records)

    @property
    def remaining(self) -> int:
        return max(0, self.intent.qty - self.filled_units)

    @property
    def working(self) -> list[OrderRecord]:
        return [r for r in self.records if r.status in WORKING_STATUSES]

    @property
    def unresolved(self) -> list[OrderRecord]:
        return [r for r in self.records if r.status in UNRESOLVED_STATUSES]

    def record(self, client_order_id: str) -> OrderRecord | None:
        for r in self.records:
            if r.client_order_id == client_order_id:
                return r
        return None

    def by_order_id(self, order_id: str) -> OrderRecord | None:
        for r in self.records:
            if r.order_id == order_id:
                return r
        return None


@dataclass(slots=True)
class ActivityState:
    """The activity cursor and the stock deliveries still due (stored as one document)."""

    after_id: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, tx: StoreSession) -> ActivityState:
        doc = tx.state.get(ACTIVITY_STATE_KEY) or {}
        deliveries = doc.get("deliveries") or []
        return cls(after_id=doc.get("after_id"), deliveries=[dict(d) for d in deliveries])

    def save(self, tx: StoreSession) -> None:
        tx.state.put(ACTIVITY_STATE_KEY, {"after_id": self.after_id, "deliveries": self.deliveries})

    @property
    def trades_due(self) -> set[str]:
        return {str(a[0]) for d in self.deliveries for a in d.get("allocations", [])}

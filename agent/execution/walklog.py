"""The walk log: an intent's :class:`~agent.domain.WalkStep` rows, read back as walk state.

The walker keeps no state in memory. Every submission, price step, cancel request and
outcome is a walk-step row written in the same transaction as the order record it concerns,
so a restarted process knows where each walk stands from the database alone:

- a round starts with a ``submitted`` row (the first order of a round);
- ``replaced`` / ``resubmitted`` rows are price steps (by replace, or by cancel and new);
- ``cancel_requested``, ``timeout``, ``eod_cancel`` and ``flatten_cancel`` are *control*
  rows: a cancel we asked for, and why (what to do once the order is gone);
- the other rows are observations and notes (``partial``, ``filled``, ``canceled``,
  ``expired``, ``rejected``, ``unknown``, ``not_submitted``, ``floor_reached``,
  ``replace_rejected``, ``attempts_exhausted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agent.domain import WalkStep

__all__ = [
    "ATTEMPTS_EXHAUSTED",
    "CANCELED",
    "CANCEL_FOR_STEP",
    "CONTROL_OUTCOMES",
    "EOD_CANCEL",
    "EXPIRED",
    "FILLED",
    "FLATTEN_CANCEL",
    "FLOOR_REACHED",
    "NOT_SUBMITTED",
    "PARTIAL",
    "PRICE_OUTCOMES",
    "REJECTED",
    "REPLACED",
    "REPLACE_REJECTED",
    "RESUBMITTED",
    "SUBMITTED",
    "TIMEOUT",
    "UNKNOWN",
    "WalkLog",
]

SUBMITTED = "submitted"
REPLACED = "replaced"
RESUBMITTED = "resubmitted"
CANCEL_FOR_STEP = "cancel_requested"
TIMEOUT = "timeout"
EOD_CANCEL = "eod_cancel"
FLATTEN_CANCEL = "flatten_cancel"
FLOOR_REACHED = "floor_reached"
PARTIAL = "partial"
FILLED = "filled"
CANCELED = "canceled"
EXPIRED = "expired"
REJECTED = "rejected"
UNKNOWN = "unknown"
NOT_SUBMITTED = "not_submitted"
REPLACE_REJECTED = "replace_rejected"
ATTEMPTS_EXHAUSTED = "attempts_exhausted"

PRICE_OUTCOMES = frozenset({SUBMITTED, REPLACED, RESUBMITTED})
CONTROL_OUTCOMES = frozenset({CANCEL_FOR_STEP, TIMEOUT, EOD_CANCEL, FLATTEN_CANCEL})


@dataclass(frozen=True, slots=True)
class WalkLog:
    steps: tuple[WalkStep, ...]

    @classmethod
    def of(cls, steps: Sequence[WalkStep]) -> WalkLog:
        return cls(tuple(sorted(steps, key=lambda s: s.step)))

    @property
    def next_step(self) -> int:
        return self.steps[-1].step + 1 if self.steps else 0

    @property
    def rounds(self) -> int:
        return sum(1 for s in self.steps if s.outcome == SUBMITTED)

    def _last(self, outcomes: frozenset[str]) -> WalkStep | None:
        for step in reversed(self.steps):
            if step.outcome in outcomes:
                return step
        return None

    @property
    def round_started_at(self) -> datetime | None:
        last = self._last(frozenset({SUBMITTED}))
        return None if last is None else last.at

    @property
    def last_price_step(self) -> WalkStep | None:
        return self._last(PRICE_OUTCOMES)

    @property
    def pending_control(self) -> str | None:
        """The last control row written after the last price step, if any."""
        for step in reversed(self.steps):
            if step.outcome in PRICE_OUTCOMES:
                return None
            if step.outcome in CONTROL_OUTCOMES:
                return step.outcome
        return None

    @property
    def floor_noted(self) -> bool:
        """Whether this round already noted that the bound holds the price."""
        for step in reversed(self.steps):
            if step.outcome == FLOOR_REACHED:
                return True
            if step.outcome == SUBMITTED:
                return False
        return False

    @property
    def exhausted(self) -> bool:
        return any(s.outcome == ATTEMPTS_EXHAUSTED for s in self.steps)

    @property
    def first_limit(self) -> Decimal | None:
        first = self._first(PRICE_OUTCOMES)
        return None if first is None else first.limit_price

    def _first(self, outcomes: frozenset[str]) -> WalkStep | None:
        for step in self.steps:
            if step.outcome in outcomes:
                return step
        return None

    def has_price_step_for(self, client_order_id: str) -> bool:
        return any(
            s.client_order_id == client_order_id and s.outcome in PRICE_OUTCOMES for s in self.steps
        )

    @property
    def price_steps(self) -> int:
        return sum(1 for s in self.steps if s.outcome in PRICE_OUTCOMES)

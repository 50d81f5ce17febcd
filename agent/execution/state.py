"""The order state machine: which status may follow which, and what the fills must say.

An order (one submission attempt, one client order id) moves through these statuses:

- ``PENDING``: the intent and its client order id are committed; nothing is known to be at
  the broker. Either not sent yet, or sent by a process that died before it heard back.
- ``UNKNOWN``: a submit (or replace) failed ambiguously (timeout, dropped connection, 5xx):
  the broker may or may not hold the order. Only a look-up by client order id resolves it.
- broker statuses: ``NEW``/``ACCEPTED`` → ``PARTIALLY_FILLED`` → ``FILLED``, or ``CANCELED``,
  ``EXPIRED``, ``REJECTED``, ``REPLACED``; ``PENDING_CANCEL``/``PENDING_REPLACE`` while a
  request is in flight.
- ``NOT_SUBMITTED``: confirmed never placed (confirmed absence, or a dry run).

Polling sees snapshots, so any later status may be observed directly (``NEW`` → ``FILLED``).
Internal statuses are reached only through their own functions: :func:`mark_unknown`,
:func:`confirm_absent` (UNKNOWN → PENDING, the only way back to a state that may send) and
:func:`mark_not_submitted` (from PENDING only: an UNKNOWN order must be looked up first).
Anything else raises :class:`~agent.errors.InvariantViolation`.

Fill rules: ``filled_qty`` never decreases nor exceeds ``qty``; ``FILLED`` means all of it;
``PARTIALLY_FILLED`` some but not all; statuses before any execution (and ``REJECTED``) none;
``CANCELED``/``EXPIRED``/``REPLACED``/pending requests keep what filled (less than ``qty``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from agent.domain import OrderStatus
from agent.errors import InvariantViolation

__all__ = [
    "BROKER_STATUSES",
    "LEGAL_TRANSITIONS",
    "WORKING_STATUSES",
    "OrderState",
    "check_fills",
    "confirm_absent",
    "is_legal",
    "mark_not_submitted",
    "mark_unknown",
    "normalize_broker_status",
    "observe",
]

S = OrderStatus

WORKING_STATUSES = frozenset(
    {S.NEW, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE}
)
"""At the broker and able to fill."""
BROKER_STATUSES = WORKING_STATUSES | frozenset(
    {S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.REPLACED}
)
"""Statuses a broker can report."""
UNRESOLVED_STATUSES = frozenset({S.PENDING, S.UNKNOWN})
"""Not known to be at the broker: resolved by a look-up by client order id."""

_AFTER_NEW = frozenset(
    {
        S.NEW,
        S.ACCEPTED,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.PENDING_CANCEL,
        S.PENDING_REPLACE,
        S.CANCELED,
        S.EXPIRED,
        S.REJECTED,
        S.REPLACED,
    }
)

LEGAL_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    # A look-up may find the order in any broker status.
    S.PENDING: BROKER_STATUSES | {S.UNKNOWN, S.NOT_SUBMITTED},
    S.UNKNOWN: BROKER_STATUSES | {S.PENDING},
    S.NEW: _AFTER_NEW,
    S.ACCEPTED: _AFTER_NEW,
    S.PARTIALLY_FILLED: frozenset(
        {S.FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.CANCELED, S.EXPIRED, S.REPLACED}
    ),
    # A rejected cancel or replace puts the order back where it was.
    S.PENDING_CANCEL: frozenset(
        {S.NEW, S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}
    ),
    S.PENDING_REPLACE: frozenset(
        {S.NEW, S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REPLACED}
    ),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
    S.REJECTED: frozenset(),
    S.REPLACED: frozenset(),
    S.NOT_SUBMITTED: frozenset(),
}


def is_legal(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether ``current`` may become ``new`` (a repeated status is always legal)."""
    return new is current or new in LEGAL_TRANSITIONS[current]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderState:
    """One order's status and quantities (structure units for multi-leg orders)."""

    status: OrderStatus
    qty: int
    filled_qty: int = 0

    def __post_init__(self) -> None:
        if self.qty < 1:
            raise InvariantViolation(f"an order has qty ≥ 1 (got {self.qty})")
        check_fills(self.status, self.qty, self.filled_qty)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def remaining_qty(self) -> int:
        return self.qty - self.filled_qty


def check_fills(status: OrderStatus, qty: int, filled_qty: int) -> None:
    """Raise InvariantViolation if ``filled_qty`` contradicts ``status``."""
    if not 0 <= filled_qty <= qty:
        raise InvariantViolation(f"filled qty {filled_qty} outside 0..{qty} ({status})")
    if status is S.FILLED and filled_qty != qty:
        raise InvariantViolation(f"a filled order has filled {filled_qty} of {qty}")
    if status is S.PARTIALLY_FILLED and not 0 < filled_qty < qty:
        raise InvariantViolation(f"a partially filled order has filled {filled_qty} of {qty}")
    if (
        status in (S.PENDING, S.UNKNOWN, S.NOT_SUBMITTED, S.NEW, S.ACCEPTED, S.REJECTED)
        and filled_qty
    ):
        raise InvariantViolation(f"a {status} order cannot have fills (got {filled_qty})")
    if status in (S.CANCELED, S.EXPIRED, S.REPLACED, S.PENDING_CANCEL, S.PENDING_REPLACE) and (
        filled_qty >= qty
    ):
        raise InvariantViolation(f"a {status} order cannot be completely filled")


def _move(state: OrderState, status: OrderStatus, filled_qty: int) -> OrderState:
    if not is_legal(state.status, status):
        raise InvariantViolation(f"illegal order transition {state.status} → {status}")
    if filled_qty < state.filled_qty:
        raise InvariantViolation(
            f"filled qty cannot decrease ({state.filled_qty} → {filled_qty}, {status})"
        )
    return replace(state, status=status, filled_qty=filled_qty)


def observe(state: OrderState, status: OrderStatus, filled_qty: int) -> OrderState:
    """A broker report (submit response, poll, look-up) of ``status`` with ``filled_qty``."""
    if status not in BROKER_STATUSES:
        raise InvariantViolation(f"{status} is not a broker status")
    return _move(state, status, filled_qty)


def mark_unknown(state: OrderState) -> OrderState:
    """An ambiguous submit: the broker may hold the order."""
    if state.status not in UNRESOLVED_STATUSES:
        raise InvariantViolation(f"only a pending order can become unknown (was {state.status})")
    return _move(state, S.UNKNOWN, state.filled_qty)


def confirm_absent(state: OrderState) -> OrderState:
    """A look-up by client order id found nothing: the same client id may be sent again."""
    if state.status not in UNRESOLVED_STATUSES:
        raise InvariantViolation(f"absence only resolves pending/unknown (was {state.status})")
    return _move(state, S.PENDING, state.filled_qty)


def mark_not_submitted(state: OrderState) -> OrderState:
    """Confirmed never placed (and no longer wanted), or a dry run."""
    if state.status is not S.PENDING:
        raise InvariantViolation(
            f"only a pending order can be marked not submitted (was {state.status}); "
            "look an unknown order up by client order id first"
        )
    return _move(state, S.NOT_SUBMITTED, state.filled_qty)


def normalize_broker_status(status: OrderStatus, qty: int, filled_qty: int) -> OrderStatus:
    """Brokers may report ``new``/``accepted`` for an order that has fills: call it partial."""
    if status in (S.NEW, S.ACCEPTED) and 0 < filled_qty < qty:
        return S.PARTIALLY_FILLED
    return status

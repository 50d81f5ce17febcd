"""Exception hierarchy, grouped by the action each error calls for (DESIGN.md section 5).

- ``ConfigError``: stop at start-up with a clear message naming the key and the fix.
- ``DataError``: skip this symbol (or contract) this cycle and record why.
- ``TransientBrokerError``: retry with backoff and jitter, but only for idempotent calls.
- ``OrderRejected``: final for that order; it becomes an event.
- ``BrokerAuthError``: halt trading and alert.
- ``InvariantViolation``: a bug or corrupted state; let the actor crash and rebuild.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error optagent raises on purpose."""


class ConfigError(AgentError):
    """The configuration is invalid; start-up must stop with this message."""


class DataError(AgentError):
    """Market data for a symbol is missing or unusable this cycle."""


class BrokerError(AgentError):
    """A call to the broker failed."""


class TransientBrokerError(BrokerError):
    """Rate limit, 5xx, timeout or dropped connection: the outcome may be unknown.

    ``ambiguous`` is True when a request that changes state (a submit) may have been
    applied by the broker before the failure; the caller must look the order up by its
    client order id before doing anything else.
    """

    def __init__(
        self, message: str, *, ambiguous: bool = False, retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.ambiguous = ambiguous
        self.retry_after_s = retry_after_s


class OrderRejected(BrokerError):
    """The broker refused the order (final for that order)."""

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.code = code


class OrderNotFound(BrokerError):
    """The broker has no order with that id or client order id."""


class DuplicateClientOrderId(OrderRejected):
    """An order with this client order id already exists at the broker: look it up."""


class BrokerAuthError(BrokerError):
    """The broker refused our credentials: halt trading and alert."""


class InvariantViolation(AgentError):
    """Internal state broke a rule that must always hold (illegal transition, corrupt row)."""

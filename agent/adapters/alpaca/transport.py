"""HTTP plumbing of the Alpaca adapters: one retry layer, timeouts, the governor, error mapping.

alpaca-py has no request timeout and its own fixed-sleep retry on 429/504 (ALPACA_NOTES §2);
:func:`harden_client` switches that retry off and puts a ``(connect, read)`` timeout and the
request-rate governor on every HTTP request the client makes (including the pages the SDK
fetches on its own). :class:`Transport` is then the only retry layer: idempotent reads are
retried with exponential backoff and jitter, bounded; writes are tried once and their
failures classified so the adapter can look the order up before anything else.
"""

from __future__ import annotations

import contextvars
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError

from agent.clock import monotonic_s, wall_time_s
from agent.errors import (
    BrokerAuthError,
    BrokerError,
    DataError,
    DuplicateClientOrderId,
    OrderNotFound,
    OrderRejected,
    TransientBrokerError,
)
from agent.marketdata.governor import Priority, RequestLimiter

T = TypeVar("T")

DUPLICATE_CID_MESSAGE = "client_order_id must be unique"
_AUTH_MESSAGES = frozenset(
    {"forbidden", "forbidden.", "unauthorized", "unauthorized.", "request is not authorized"}
)
_current_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "optagent_alpaca_priority", default=Priority.SCAN
)


class Domain(Enum):
    """What kind of call failed, which decides how a 4xx is reported."""

    ORDER_WRITE = "order_write"
    """submit / replace / cancel: 403 and 422 are order rejections."""
    BROKER_READ = "broker_read"
    """account, positions, orders, activities."""
    MARKET_DATA = "market_data"
    """4xx other than auth are data problems (DataError)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """The adapters' only retry layer. Times in seconds."""

    read_attempts: int = 4
    """Total attempts of an idempotent request (the first one included)."""
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter_fraction: float = 0.5
    """Each delay is stretched by a uniform factor in [1, 1 + jitter_fraction]."""
    max_retry_after_s: float = 60.0
    """A server's Retry-After is honoured up to this."""
    submit_attempts: int = 3
    """Submissions (and replaces) of one client order id, each preceded by a look-up."""
    lookup_grace_s: float = 1.0
    """Wait after a confirmed absence before resubmitting (visibility lag)."""
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 10.0

    def backoff_s(self, attempt: int, rng: random.Random, retry_after_s: float | None) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_retry_after_s))
        return delay * (1.0 + self.jitter_fraction * rng.random())


@dataclass(slots=True)
class TransportStats:
    """What went over the wire (for logs, tests and the benchmark)."""

    requests: int = 0
    limiter_wait_s: float = 0.0
    """Time spent blocked in the governor (deliberate rate-limit waits)."""
    http_s: float = 0.0
    """Time spent in HTTP requests."""
    retries: int = 0
    retry_sleep_s: float = 0.0


# --------------------------------------------------------------------------- the client hook


def harden_client(
    client: Any, *, limiter: RequestLimiter, policy: RetryPolicy, stats: TransportStats
) -> None:
    """Disable the SDK's retry and route every request through the governor with a timeout.

    ``client`` is any alpaca-py REST client (it keeps a ``requests.Session`` in ``_session``).
    """
    client._retry = 0
    client._retry_wait = 0
    client._retry_codes = []
    session: requests.Session = client._session
    send = session.request
    lock = threading.Lock()
    timeout = (policy.connect_timeout_s, policy.read_timeout_s)

    def governed_request(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        started = monotonic_s()
        limiter.acquire(_current_priority.get())
        granted = monotonic_s()
        try:
            return send(method, url, **kwargs)
        finally:
            done = monotonic_s()
            with lock:
                stats.requests += 1
                stats.limiter_wait_s += granted - started
                stats.http_s += done - granted

    setattr(session, "request", governed_request)  # noqa: B010  (a method slot on an instance)


@contextmanager
def priority_scope(priority: Priority) -> Iterator[None]:
    token = _current_priority.set(priority)
    try:
        yield
    finally:
        _current_priority.reset(token)


# --------------------------------------------------------------------------- error mapping


def error_body(exc: APIError) -> tuple[str | None, str]:
    """(code, message) of an Alpaca error; tolerant of non-JSON bodies (an HTML 502)."""
    text = str(exc)
    try:
        body = json.loads(text)
    except (TypeError, ValueError):
        return None, text.strip()[:300] or "empty error body"
    if not isinstance(body, dict):
        return None, text.strip()[:300]
    code = body.get("code")
    message = body.get("message")
    return (
        None if code is None else str(code),
        str(message) if message is not None else text.strip()[:300],
    )


def _retry_after_s(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    raw = response.headers.get("Retry-After")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    reset = response.headers.get("X-Ratelimit-Reset")
    if reset is not None:
        try:
            # Epoch seconds at the server; compare with the server's own Date would be exact,
            # but a bounded guess is enough for a backoff.
            return max(0.0, min(60.0, float(reset) - wall_time_s()))
        except ValueError:
            pass
    return None


def map_error(exc: BaseException, *, what: str, domain: Domain, ambiguous: bool) -> Exception:
    """Translate an SDK/HTTP failure into the agent's errors (see docs/alpaca.md)."""
    if isinstance(exc, APIError):
        status = exc.status_code or 0
        code, message = error_body(exc)
        text = f"{what}: HTTP {status} {message}" + (f" (code {code})" if code else "")
        if status == 0:
            return BrokerError(text)  # no HTTP status known: nothing more can be said
        if status == 401:
            return BrokerAuthError(text)
        if status == 403:
            if domain is Domain.ORDER_WRITE and message.strip().lower() not in _AUTH_MESSAGES:
                return OrderRejected(message, code=code)
            return BrokerAuthError(text)
        if status == 404:
            if domain is Domain.MARKET_DATA:
                return DataError(text)
            return OrderNotFound(text)
        if status == 429:
            return TransientBrokerError(
                text, ambiguous=False, retry_after_s=_retry_after_s(exc.response)
            )
        if status >= 500 or status == 408:
            return TransientBrokerError(text, ambiguous=ambiguous)
        duplicate = status == 409 or (status == 422 and DUPLICATE_CID_MESSAGE in message.lower())
        if duplicate and domain is Domain.ORDER_WRITE:
            return DuplicateClientOrderId(message, code=code)
        if domain is Domain.MARKET_DATA:
            return DataError(text)
        if domain is Domain.ORDER_WRITE:
            return OrderRejected(message, code=code)
        return BrokerError(text)
    if isinstance(exc, requests.ConnectTimeout):
        # Never reached the server: nothing can have been applied.
        return TransientBrokerError(f"{what}: connect timeout", ambiguous=False)
    if isinstance(exc, requests.Timeout):
        return TransientBrokerError(f"{what}: read timeout", ambiguous=ambiguous)
    if isinstance(exc, requests.RequestException):
        return TransientBrokerError(
            f"{what}: connection error ({type(exc).__name__})", ambiguous=ambiguous
        )
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return DataError(f"{what}: unusable response ({type(exc).__name__}: {exc})")
    return BrokerError(f"{what}: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- the retry layer


class Transport:
    """Runs SDK calls under a priority, maps their errors, retries idempotent ones."""

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        self.policy = policy
        self.stats = TransportStats()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        self.stats.retry_sleep_s += seconds
        self._sleep(seconds)

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        with self._rng_lock:
            return self.policy.backoff_s(attempt, self._rng, retry_after_s)

    def once(
        self,
        call: Callable[[], T],
        *,
        priority: Priority,
        what: str,
        domain: Domain,
        ambiguous: bool = False,
    ) -> T:
        """One attempt; failures mapped (``ambiguous`` marks writes that may have applied)."""
        with priority_scope(priority):
            try:
                return call()
            except (APIError, requests.RequestException, ValueError, KeyError, TypeError) as exc:
                raise map_error(exc, what=what, domain=domain, ambiguous=ambiguous) from exc

    def read(
        self,
        call: Callable[[], T],
        *,
        priority: Priority,
        what: str,
        domain: Domain = Domain.BROKER_READ,
        attempts: int | None = None,
    ) -> T:
        """An idempotent request, retried on transient failures with backoff and jitter."""
        total = attempts or self.policy.read_attempts
        for attempt in range(1, total + 1):
            try:
                return self.once(call, priority=priority, what=what, domain=domain)
            except TransientBrokerError as err:
                if attempt == total:
                    raise
                self.stats.retries += 1
                self.pause(self.backoff(attempt, err.retry_after_s))
        raise AssertionError("unreachable")  # pragma: no cover

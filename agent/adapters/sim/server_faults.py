"""Fault injection, the request-rate limit and the counters of the Alpaca-compatible server.

Everything here sits in one ASGI middleware in front of the FastAPI app (see
:mod:`agent.adapters.sim.server`): it counts each request, applies the :class:`FaultPlan`,
enforces Alpaca's per-minute budgets (trading and data counted separately) and adds the
``X-Ratelimit-*`` headers. A fault plan is set at start-up or through ``POST /_admin/faults``.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.clock import monotonic_s, wall_time_s

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_PREFIX = "/_admin"
CODE_RATE_LIMIT = 42910000
_STATUS_MESSAGES = {
    429: "too many requests.",
    500: "internal server error occurred",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


class FaultAction(StrEnum):
    STATUS = "status"
    """Answer ``status`` (with an Alpaca error body, or ``body``) without handling the request."""
    RATE_LIMIT = "rate_limit"
    """Answer 429 with ``Retry-After`` and ``X-Ratelimit-*`` headers."""
    SLOW = "slow"
    """Wait ``delay_s``, then handle the request normally."""
    HANG = "hang"
    """Wait ``delay_s`` before handling it (a client with a shorter read timeout gives up;
    the request is then handled all the same, as a slow server would)."""
    DROP = "drop"
    """Close the connection without handling the request."""
    DROP_AFTER = "drop_after"
    """Handle the request (e.g. accept the order), then close the connection unanswered."""
    STATUS_AFTER = "status_after"
    """Handle the request, then answer ``status`` (e.g. a 504 after the order was accepted)."""
    HANG_AFTER = "hang_after"
    """Handle the request, then wait ``delay_s`` before answering (a timeout after accept)."""


class FaultRule(BaseModel):
    """One fault: which requests it hits and what it does to them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: FaultAction
    method: str | None = None
    """HTTP method to match (any if None)."""
    path: str | None = None
    """Path prefix to match, e.g. ``/v2/orders`` (any if None)."""
    status: int = 503
    delay_s: float = Field(default=0.0, ge=0.0, le=120.0)
    skip: int = Field(default=0, ge=0)
    """Let this many matching requests through first."""
    times: int | None = Field(default=1, ge=0)
    """Hit this many matching requests (after ``skip``); None = every one."""
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    """Chance that a matching request is hit (seeded by the plan)."""
    retry_after_s: int = Field(default=1, ge=0)
    body: str | None = None
    """A raw body for STATUS/STATUS_AFTER (e.g. an HTML page, to test non-JSON errors)."""

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


class FaultPlan(BaseModel):
    """The faults of one run. Rules are tried in order; the first that fires wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0
    stale_quotes_min: int = Field(default=0, ge=0)
    """Market data is served as of this many minutes ago (stale quotes and snapshots)."""


class RateLimit(BaseModel):
    """Alpaca's request budget: ``limit`` requests per ``window_s``, per budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=200, ge=1)
    window_s: float = Field(default=60.0, gt=0.0)
    enforce: bool = True


def budget_of(path: str) -> str | None:
    """Which of Alpaca's budgets a path counts against (None for admin paths)."""
    if path.startswith(ADMIN_PREFIX):
        return None
    if path.startswith(("/v1beta1/", "/v2/stocks/")):
        return "data"
    return "trading"


def error_body(status: int, message: str | None = None, code: int | None = None) -> bytes:
    """Alpaca's error body: ``{"code": <8 digits>, "message": ...}``."""
    payload = {
        "code": code if code is not None else status * 100_000,
        "message": message or _STATUS_MESSAGES.get(status, "error"),
    }
    return json.dumps(payload).encode()


@dataclass(slots=True)
class _Budget:
    served: deque[float] = field(default_factory=deque)
    arrivals: list[float] = field(default_factory=list)


class ServerStats:
    """Counters the admin endpoint exposes (thread-safe)."""

    MAX_ARRIVALS = 200_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.rate_limited = 0
        self.submits_per_client_id: Counter[str] = Counter()
        self.orders_per_client_id: Counter[str] = Counter()
        self._budgets: dict[str, _Budget] = {"trading": _Budget(), "data": _Budget()}

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.faults.clear()
            self.rate_limited = 0
            self.submits_per_client_id.clear()
            self.orders_per_client_id.clear()
            self._budgets = {"trading": _Budget(), "data": _Budget()}

    def count_route(self, route: str, status: int) -> None:
        with self._lock:
            self.requests[route] += 1
            self.statuses[status] += 1

    def count_fault(self, action: str) -> None:
        with self._lock:
            self.faults[action] += 1

    def count_submit(self, client_order_id: str) -> None:
        with self._lock:
            self.submits_per_client_id[client_order_id] += 1

    def count_order(self, client_order_id: str) -> None:
        with self._lock:
            self.orders_per_client_id[client_order_id] += 1

    # ------------------------------------------------------------------ the budgets

    def arrive(self, budget: str, now: float) -> None:
        with self._lock:
            arrivals = self._budgets[budget].arrivals
            if len(arrivals) < self.MAX_ARRIVALS:
                arrivals.append(now)

    def admit(self, budget: str, now: float, rate: RateLimit) -> tuple[bool, int, float]:
        """(admitted, remaining, reset epoch delay s): count a served request if room."""
        with self._lock:
            served = self._budgets[budget].served
            while served and served[0] <= now - rate.window_s:
                served.popleft()
            if rate.enforce and len(served) >= rate.limit:
                self.rate_limited += 1
                return False, 0, served[0] + rate.window_s - now
            served.append(now)
            reset = served[0] + rate.window_s - now
            return True, max(0, rate.limit - len(served)), reset

    def max_in_window(self, budget: str, window_s: float) -> int:
        """The most requests that arrived within any ``window_s`` span (sliding)."""
        with self._lock:
            times = list(self._budgets[budget].arrivals)
        best = 0
        for i, t in enumerate(times):
            j = bisect_left(times, t + window_s, lo=i)
            best = max(best, j - i)
        return best

    def snapshot(self, rate: RateLimit) -> dict[str, Any]:
        with self._lock:
            data = {
                "requests": dict(self.requests),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "faults": dict(self.faults),
                "rate_limited": self.rate_limited,
                "submits_per_client_id": dict(self.submits_per_client_id),
                "orders_per_client_id": dict(self.orders_per_client_id),
                "arrivals": {name: len(b.arrivals) for name, b in self._budgets.items()},
            }
        data["rate_limit"] = rate.model_dump()
        data["max_in_window"] = {
            name: self.max_in_window(name, rate.window_s) for name in ("trading", "data")
        }
        return data


class FaultState:
    """The active plan and how often each rule has matched (thread-safe)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.set(plan or FaultPlan())

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._matched = [0] * len(plan.rules)
            self._rng = random.Random(plan.seed)

    def decide(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for index, rule in enumerate(self.plan.rules):
                if not rule.matches(method, path):
                    continue
                self._matched[index] += 1
                n = self._matched[index]
                if n <= rule.skip:
                    continue
                if rule.times is not None and n > rule.skip + rule.times:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                return rule
            return None


# --------------------------------------------------------------------------- the middleware


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    content_type = b"application/json" if body[:1] in (b"{", b"[") else b"text/html"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _abort(send: Send) -> bool:
    """Drop the client's connection without a response. uvicorn hands the app a bound
    ``send`` of its request cycle, whose ``transport`` can be aborted."""
    owner = getattr(send, "__self__", None)
    transport = getattr(owner, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    await asyncio.sleep(0)
    return True


class Gate:
    """ASGI middleware: counters, faults, the rate limit, and header-key authentication."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str,
        secret_key: str,
        faults: FaultState,
        stats: ServerStats,
        rate: RateLimit,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.secret_key = secret_key
        self.faults = faults
        self.stats = stats
        self.rate = rate
        self._inflight = 0
        self._idle = threading.Condition()

    @property
    def inflight(self) -> int:
        """API requests being handled now (hung ones included)."""
        with self._idle:
            return self._inflight

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no API request is in flight (e.g. a hung one from a fault); False on
        timeout. Admin resets call it so a late request never lands in the next test."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        budget = budget_of(path)
        if budget is None:
            await self.app(scope, receive, send)
            return
        self.stats.arrive(budget, monotonic_s())
        with self._idle:
            self._inflight += 1
        status_seen: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(int(message["status"]))
            await send(message)

        try:
            await self._handle(scope, receive, send, counting_send, budget, method, path)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or path
            self.stats.count_route(f"{method} {template}", status_seen[0] if status_seen else 0)
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    async def _handle(  # noqa: PLR0917
        self,
        scope: Scope,
        receive: Receive,
        raw_send: Send,
        send: Send,
        budget: str,
        method: str,
        path: str,
    ) -> None:
        rule = self.faults.decide(method, path)
        if rule is not None:
            self.stats.count_fault(rule.action.value)
            if rule.action is FaultAction.STATUS:
                body = rule.body.encode() if rule.body is not None else error_body(rule.status)
                await _respond(send, rule.status, body)
                return
            if rule.action is FaultAction.RATE_LIMIT:
                reset = int(wall_time_s()) + rule.retry_after_s
                await _respond(
                    send,
                    429,
                    error_body(429, code=CODE_RATE_LIMIT),
                    [
                        (b"retry-after", str(rule.retry_after_s).encode()),
                        (b"x-ratelimit-limit", str(self.rate.limit).encode()),
                        (b"x-ratelimit-remaining", b"0"),
                        (b"x-ratelimit-reset", str(reset).encode()),
                    ],
                )
                return
            if rule.action is FaultAction.DROP:
                if not await _abort(raw_send):
                    await _respond(send, 504, error_body(504))
                return
            if rule.action in (FaultAction.SLOW, FaultAction.HANG):
                await asyncio.sleep(rule.delay_s)
        admitted, remaining, reset_in_s = self.stats.admit(budget, monotonic_s(), self.rate)
        rate_headers = [
            (b"x-ratelimit-limit", str(self.rate.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(int(wall_time_s() + reset_in_s) + 1).encode()),
        ]
        if not admitted:
            retry_after = max(1, int(reset_in_s + 0.999))
            await _respond(
                send,
                429,
                error_body(429, code=CODE_RATE_LIMIT),
                [*rate_headers, (b"retry-after", str(retry_after).encode())],
            )
            return
        if not self._authorized(scope):
            missing = not self._header(scope, b"apca-api-key-id")
            if missing:
                body = error_body(401, "request is not authorized", 40110000)
                await _respond(send, 401, body, rate_headers)
            else:
                await _respond(send, 403, error_body(403, "forbidden.", 40310000), rate_headers)
            return
        after = rule.action if rule is not None else None
        if after in (FaultAction.DROP_AFTER, FaultAction.STATUS_AFTER, FaultAction.HANG_AFTER):
            assert rule is not None
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)  # the request takes effect
            if after is FaultAction.DROP_AFTER:
                if await _abort(raw_send):
                    return
                await _respond(send, 504, error_body(504))
                return
            if after is FaultAction.STATUS_AFTER:
                body = rule.body.encode() if rule.body is not None else error_body(rule.status)
                await _respond(send, rule.status, body)
                return
            await asyncio.sleep(rule.delay_s)
            for message in captured:
                await send(message)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *rate_headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _header(scope: Scope, name: bytes) -> str:
        for key, value in scope.get("headers", []):
            if key.lower() == name:
                return bytes(value).decode("latin-1")
        return ""

    def _authorized(self, scope: Scope) -> bool:
        return (
            self._header(scope, b"apca-api-key-id") == self.api_key
            and self._header(scope, b"apca-api-secret-key") == self.secret_key
        )

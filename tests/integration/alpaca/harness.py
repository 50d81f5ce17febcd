"""Shared pieces of the Alpaca tests: the loopback server, settings and adapters over it.

The server runs in a uvicorn thread on an ephemeral port (one per test module); the tests
talk to it only through the real alpaca-py clients (the adapters) and the admin endpoints.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from agent.adapters.alpaca import AlpacaBroker, AlpacaMarketData, RetryPolicy
from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.market_config import MarketConfig
from agent.adapters.sim.server import (
    AlpacaSimApp,
    FaultPlan,
    RateLimit,
    ServerThread,
    build_app,
    build_backend,
)
from agent.calendar import et_datetime
from agent.clock import Clock, SimClock
from agent.config import AgentSettings, load_settings
from agent.marketdata.governor import LocalLimiter, RateGovernor

API_KEY = "test-key-id"
SECRET_KEY = "test-secret-key"
START = et_datetime(date(2026, 3, 2), time(10, 0))
"""Monday 10:00 ET: six hours of session ahead."""
FAST_POLICY = RetryPolicy(
    base_delay_s=0.01,
    max_delay_s=0.05,
    max_retry_after_s=0.05,
    lookup_grace_s=0.01,
    connect_timeout_s=2.0,
    read_timeout_s=5.0,
)
"""Real HTTP, short waits: retries and grace periods of milliseconds."""


@functools.cache
def market(n_underlyings: int = 20, seed: int = 7, bad_quote_rate: float = 0.0) -> MarketModel:
    """A simulated market, by default without bad quotes (shared by the tests of a process:
    its caches make chains cheap the second time)."""
    return MarketModel(
        MarketConfig(seed=seed, n_underlyings=n_underlyings, bad_quote_rate=bad_quote_rate)
    )


@dataclass
class LoopbackServer:
    thread: ServerThread
    app: AlpacaSimApp

    @property
    def url(self) -> str:
        return self.thread.url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_admin/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def advance(self, minutes: float) -> None:
        self.admin("POST", "advance", {"minutes": minutes})

    def reset(self, start: datetime = START) -> None:
        self.admin("POST", "reset", {"start": start.isoformat()})

    def faults(self, plan: FaultPlan) -> None:
        self.admin("POST", "faults", plan.model_dump(mode="json"))

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "stats")
        return result

    def now(self) -> datetime:
        return self.app.backend.now

    def stop(self) -> None:
        self.thread.stop()


def start_server(
    *,
    model: MarketModel | None = None,
    rate_limit: RateLimit | None = None,
    faults: FaultPlan | None = None,
    partial_fill_prob: float = 0.0,
    seed: int = 11,
) -> LoopbackServer:
    model = model or market()
    backend = build_backend(
        model,
        clock=SimClock(START),
        initial_cash_usd=Decimal(100_000),
        seed=seed,
        partial_fill_prob=partial_fill_prob,
    )
    app = build_app(
        backend,
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        faults=faults,
        rate_limit=rate_limit or RateLimit(limit=100_000, window_s=60.0),
    )
    return LoopbackServer(thread=ServerThread(app).start(), app=app)


class ServerClock:
    """The server's clock as the adapters see it (it follows a reset to a new clock)."""

    def __init__(self, server: LoopbackServer) -> None:
        self._server = server

    def now(self) -> datetime:
        return self._server.app.backend.clock.now()

    def real_seconds_until(self, target: datetime) -> float:
        return 0.0


def settings_for(url: str, *overrides: str, api_key: str = API_KEY) -> AgentSettings:
    """Paper-mode settings pointing both Alpaca URLs at ``url`` (keys from 'the environment')."""
    folder = Path(tempfile.mkdtemp(prefix="optagent-alpaca-"))
    config = folder / "config.yaml"
    config.touch()
    return load_settings(
        config,
        [f"database_url=sqlite:///{folder / 'db.sqlite'}", *overrides],
        env_file=None,
        environ={
            "OPTAGENT_MODE": "paper",
            "ALPACA_API_KEY": api_key,
            "ALPACA_SECRET_KEY": SECRET_KEY,
            "ALPACA_BASE_URL": url,
            "ALPACA_DATA_URL": url + "/",
        },
    )


def unlimited() -> LocalLimiter:
    return LocalLimiter(RateGovernor(1_000_000))


def make_broker(
    server: LoopbackServer,
    *,
    limiter: LocalLimiter | None = None,
    policy: RetryPolicy = FAST_POLICY,
    sleep: Callable[[float], None] | None = None,
    clock: Clock | None = None,
) -> AlpacaBroker:
    settings = settings_for(server.url)
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return AlpacaBroker.from_settings(
        settings,
        limiter or unlimited(),
        clock=clock or ServerClock(server),
        policy=policy,
        **kwargs,
    )


def make_market_data(
    server: LoopbackServer,
    *,
    limiter: LocalLimiter | None = None,
    trading_limiter: LocalLimiter | None = None,
    policy: RetryPolicy = FAST_POLICY,
    settings: AgentSettings | None = None,
) -> AlpacaMarketData:
    return AlpacaMarketData.from_settings(
        settings or settings_for(server.url),
        limiter or unlimited(),
        trading_limiter=trading_limiter,
        clock=ServerClock(server),
        policy=policy,
    )


def trading_day(server: LoopbackServer) -> date:
    return server.now().date()


def window(days: int) -> timedelta:
    return timedelta(days=days)

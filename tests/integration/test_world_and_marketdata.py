"""The sim world from settings, and the market data service over it (real store, real sim)."""

from __future__ import annotations

import math
from datetime import timedelta

from agent.calendar import market_calendar
from agent.clock import SimClock
from agent.factories import build_world, saved_sim_time, sim_start
from agent.marketdata.service import MarketDataService


def test_sim_world_starts_before_the_first_open_and_resumes_from_saved_state(
    settings_factory,
) -> None:
    settings = settings_factory("sim.n_underlyings=25")
    world = build_world(settings)
    start = sim_start(settings, market_calendar())
    assert world.clock.now() == start
    assert len(world.symbols) == 25 and world.symbols[:3] == ("SPY", "QQQ", "IWM")
    # The agent prices with the simulator's dividend yields unless configured otherwise.
    assert world.settings.market_data.dividend_yields["KO"] > 0
    account = world.broker.get_account()
    assert account.equity == account.cash == 100_000
    assert isinstance(world.clock, SimClock)
    world.clock.advance(timedelta(minutes=30))
    world.broker.get_positions()  # processes time up to now
    world.save()
    assert saved_sim_time(settings) == start + timedelta(minutes=30)
    resumed = build_world(settings)
    assert resumed.clock.now() == start + timedelta(minutes=30)


def test_scan_input_has_chain_history_context_and_caches(settings_factory) -> None:
    settings = settings_factory("sim.n_underlyings=20")
    world = build_world(settings)
    assert isinstance(world.clock, SimClock)
    world.clock.advance(timedelta(minutes=35))  # 10:00 ET
    service = MarketDataService(
        market_data=world.market_data,
        store=world.store,
        clock=world.clock,
        settings=world.settings,
        calendar=world.calendar,
    )
    first = service.scan_input("SPY", "scan-1")
    assert first.underlying.symbol == "SPY" and len(first.chain) > 500
    assert first.history_days >= 200
    assert len(first.iv_history) == settings.market_data.iv_history_days  # backfilled from the sim
    assert math.isfinite(first.context.vol_index) and math.isfinite(first.realized_vol)
    assert first.beta == 1.0 and first.sector == "index"
    misses = service.cache.misses
    again = service.scan_input("SPY", "scan-2")
    assert again.chain is first.chain and service.cache.misses == misses  # served from cache
    world.clock.advance(timedelta(seconds=settings.market_data.cache_ttl_s + 1))
    assert service.scan_input("SPY", "scan-3").chain is not first.chain
    aapl = service.scan_input("AAPL", "scan-3")
    assert 0.3 < aapl.beta < 3.0
    # What a scan 5 minutes later finds: chains and snapshots gone, daily values kept.
    service.cache.clear(keep_daily=True)
    misses = service.cache.misses
    later = service.scan_input("AAPL", "scan-4")
    assert later.chain is not aapl.chain and later.iv_history == aapl.iv_history
    assert service.cache.misses - misses == 2  # the chain and the market context
    service.cache.clear()
    misses = service.cache.misses
    service.scan_input("AAPL", "scan-5")
    assert service.cache.misses - misses > 2  # daily bars and IV history loaded again


class _NoVolIndex:
    """The simulator's market data with the volatility index removed, as Alpaca serves it."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def get_market_context(self, *, start, end):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        return replace(self._inner.get_market_context(start=start, end=end), vol_index=float("nan"))  # type: ignore[attr-defined]


def test_missing_vol_index_is_derived_from_spy_atm_iv(settings_factory) -> None:
    settings = settings_factory("sim.n_underlyings=20")
    world = build_world(settings)
    assert isinstance(world.clock, SimClock)
    world.clock.advance(timedelta(minutes=35))
    common = {
        "store": world.store,
        "clock": world.clock,
        "settings": world.settings,
        "calendar": world.calendar,
    }
    with_index = MarketDataService(market_data=world.market_data, **common).context().vol_index
    derived = (
        MarketDataService(market_data=_NoVolIndex(world.market_data), **common).context().vol_index
    )  # type: ignore[arg-type]
    assert math.isfinite(derived) and 5.0 < derived < 80.0
    # The proxy (SPY ATM 30-day IV) tracks the simulator's own index closely.
    assert abs(derived - with_index) < 0.35 * with_index

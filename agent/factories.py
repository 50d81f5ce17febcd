"""Settings → adapters, per mode. The only place that knows which adapter backs which port.

- ``sim``: :class:`SimMarketData` + :class:`SimExchange` over one deterministic
  :class:`MarketModel` (every process building them from the same settings sees the same
  market); the exchange's state is saved to ``sim.state_file`` so a run can resume.
- ``paper`` / ``live``: the Alpaca adapters (trading and data budgets each behind a
  request limiter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.calendar import MarketCalendar, market_calendar
from agent.clock import AcceleratedClock, Clock, SimClock, SystemClock, wall_time_s
from agent.config import AgentSettings
from agent.domain import Mode
from agent.marketdata.governor import LocalLimiter, RateGovernor, RequestLimiter
from agent.ports import Broker, MarketData, Store
from agent.schedule import Schedule

if TYPE_CHECKING:
    # The adapters are imported where they are built: every Ray actor process imports this
    # module, and most need neither alpaca-py nor the simulated market (memory per process).
    from agent.adapters.sim.exchange import SimExchange
    from agent.adapters.sim.market import MarketModel
    from agent.adapters.sim.marketdata import SimMarketData
    from agent.adapters.sim.universe import Universe

SIM_OPEN_LEAD = timedelta(minutes=5)
CLOCK_ANCHOR_KEY = "sim.clock_anchor"


def sim_settings(settings: AgentSettings, universe: Universe) -> AgentSettings:
    """Settings as the agent should see the simulated market: the universe's dividend yields
    and sectors fill in what the configuration does not say (configured values win)."""
    yields = {
        **{s.symbol: s.dividend_yield for s in universe.specs},
        **settings.market_data.dividend_yields,
    }
    sectors = {s.symbol: s.sector for s in universe.specs}
    sectors.update(settings.universe.sectors)
    return settings.model_copy(
        update={
            "market_data": settings.market_data.model_copy(update={"dividend_yields": yields}),
            "universe": settings.universe.model_copy(update={"sectors": sectors}),
        }
    )


def sim_start(settings: AgentSettings, calendar: MarketCalendar) -> datetime:
    """Five minutes before the first session open on or after ``sim.start_date``."""
    day = calendar.next_session(settings.sim.start_date, inclusive=True)
    session = calendar.session(day)
    assert session is not None
    return session.open_at - SIM_OPEN_LEAD


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockAnchor:
    """Where simulated time stood at a wall time; every process derives "now" from it."""

    sim_at: datetime
    wall_s: float
    speed: float

    def to_json(self) -> dict[str, Any]:
        return {"sim_at": self.sim_at.isoformat(), "wall_s": self.wall_s, "speed": self.speed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClockAnchor:
        return cls(
            sim_at=datetime.fromisoformat(data["sim_at"]),
            wall_s=float(data["wall_s"]),
            speed=float(data["speed"]),
        )


def accelerated_clock(anchor: ClockAnchor, schedule: Schedule) -> AcceleratedClock:
    return AcceleratedClock(
        anchor_sim=anchor.sim_at,
        anchor_wall_s=anchor.wall_s,
        speed=anchor.speed,
        windows=schedule.active_window,
    )


def new_anchor(sim_at: datetime, speed: float) -> ClockAnchor:
    return ClockAnchor(sim_at=sim_at, wall_s=wall_time_s(), speed=speed)


def build_store(settings: AgentSettings) -> Store:
    """The store for ``database_url``, migrated to the newest schema."""
    if settings.database_url.startswith("sqlite:///") and ":memory:" not in settings.database_url:
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    # SQLAlchemy is imported by the processes that open a store (a scanner never does).
    from agent.adapters.persistence import open_store  # noqa: PLC0415

    return open_store(settings.database_url)


def build_sim_market(settings: AgentSettings, clock: Clock) -> SimMarketData:
    from agent.adapters.sim.market import MarketModel  # noqa: PLC0415
    from agent.adapters.sim.marketdata import SimMarketData  # noqa: PLC0415

    return SimMarketData(MarketModel.from_settings(settings), clock)


def build_sim_exchange(
    settings: AgentSettings,
    clock: Clock,
    model: MarketModel,
    calendar: MarketCalendar | None = None,
) -> SimExchange:
    """The simulated broker, resumed from ``sim.state_file`` when it exists."""
    from agent.adapters.sim.exchange import SimExchange  # noqa: PLC0415

    calendar = calendar or market_calendar()
    path = Path(settings.sim.state_file)
    if path.exists():
        return SimExchange.load(path, quotes=model, clock=clock, calendar=calendar)
    return SimExchange(
        quotes=model,
        clock=clock,
        calendar=calendar,
        initial_cash_usd=Decimal(str(settings.sim.initial_cash_usd)),
        seed=settings.sim.seed,
        fill_rate_per_min=settings.sim.fill_rate_per_min,
        partial_fill_prob=settings.sim.partial_fill_prob,
        early_assignment_max_extrinsic_usd=settings.monitor.early_assignment_max_extrinsic_usd,
    )


def saved_sim_time(settings: AgentSettings) -> datetime | None:
    """Where a previous simulated run stopped (from the exchange's saved state), if any."""
    path = Path(settings.sim.state_file)
    if not path.exists():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    raw = state.get("processed_until")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


@dataclass(slots=True, kw_only=True)
class World:
    """The adapters of one process for one mode."""

    settings: AgentSettings
    clock: Clock
    calendar: MarketCalendar
    store: Store
    market_data: MarketData
    broker: Broker
    symbols: tuple[str, ...]
    exchange: SimExchange | None = None
    model: MarketModel | None = None

    def save(self) -> None:
        """Persist what lives outside the database (the simulated exchange)."""
        if self.exchange is not None:
            path = Path(self.settings.sim.state_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.exchange.save(path)


def build_world(settings: AgentSettings, clock: Clock | None = None) -> World:
    """Adapters for ``settings.mode``. Sim defaults to a stepped clock at the start (or resume)
    time; paper/live use the system clock."""
    calendar = market_calendar()
    if settings.mode is Mode.SIM:
        from agent.adapters.sim.market import MarketModel  # noqa: PLC0415
        from agent.adapters.sim.marketdata import SimMarketData  # noqa: PLC0415

        model = MarketModel.from_settings(settings)
        if clock is None:
            clock = SimClock(saved_sim_time(settings) or sim_start(settings, calendar))
        effective = sim_settings(settings, model.universe)
        exchange = build_sim_exchange(effective, clock, model, calendar)
        return World(
            settings=effective,
            clock=clock,
            calendar=calendar,
            store=build_store(effective),
            market_data=SimMarketData(model, clock),
            broker=exchange,
            symbols=model.symbols,
            exchange=exchange,
            model=model,
        )
    return build_alpaca_world(settings, clock or SystemClock(), calendar)


def build_alpaca_world(
    settings: AgentSettings,
    clock: Clock,
    calendar: MarketCalendar,
    *,
    trading_limiter: RequestLimiter | None = None,
    data_limiter: RequestLimiter | None = None,
) -> World:
    """Paper/live: the Alpaca adapters (or any Alpaca-compatible server at the URLs).

    Trading and market data are separate 200/min budgets at Alpaca; each has its limiter
    (in-process ones by default; the Ray system passes proxies to one shared governor)."""
    from agent.adapters.alpaca import AlpacaBroker, AlpacaMarketData  # noqa: PLC0415

    rate = settings.market_data.rate_limit_per_min
    trading = trading_limiter or LocalLimiter(RateGovernor(rate))
    data = data_limiter or LocalLimiter(RateGovernor(rate))
    broker = AlpacaBroker.from_settings(settings, trading, clock=clock)
    market_data = AlpacaMarketData.from_settings(
        settings, data, trading_limiter=trading, clock=clock
    )
    return World(
        settings=settings,
        clock=clock,
        calendar=calendar,
        store=build_store(settings),
        market_data=market_data,
        broker=broker,
        symbols=tuple(settings.universe.watchlist),
    )

"""What determines the simulated market (:class:`MarketConfig`) and the universe it lists.

Light on purpose: a process that only needs the symbols and specs of the simulated market
(the driver of ``optagent run``, the CLI) builds them from here without loading the
quote engine (minute paths, listings, the surface, quotes and the numpy closed-form pricing)
that :mod:`agent.adapters.sim.market` needs. The simulator itself never loads numba.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from agent.adapters.sim.universe import Universe
from agent.config import DEFAULT_WATCHLIST, AgentSettings

DEFAULT_HISTORY_SESSIONS = 400


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketConfig:
    """Everything that determines the simulated market."""

    seed: int = 42
    n_underlyings: int = 100
    start_date: date = date(2026, 3, 2)
    watchlist: tuple[str, ...] = DEFAULT_WATCHLIST
    sectors: Mapping[str, str] = field(default_factory=dict)
    dividend_yields: Mapping[str, float] = field(default_factory=dict)
    """Overrides of the universe's dividend yields (the agent's configured ones)."""
    risk_free_rate: float = 0.04
    bad_quote_rate: float = 0.01
    chain_max_dte: int = 60
    """Expiries up to this many days ahead form the 'near' quote block (what scans ask)."""
    history_sessions: int = DEFAULT_HISTORY_SESSIONS

    def universe(self) -> Universe:
        """The underlyings this market lists, in order, with their specs."""
        return Universe.build(
            seed=self.seed,
            n_underlyings=self.n_underlyings,
            watchlist=self.watchlist,
            sectors=self.sectors,
            dividend_yields=self.dividend_yields,
        )


def market_config_from_settings(settings: AgentSettings) -> MarketConfig:
    """The :class:`MarketConfig` that settings imply (the same in every process)."""
    sim = settings.sim
    return MarketConfig(
        seed=sim.seed,
        n_underlyings=sim.n_underlyings,
        start_date=sim.start_date,
        watchlist=tuple(settings.universe.watchlist),
        sectors=dict(settings.universe.sectors),
        dividend_yields=dict(settings.market_data.dividend_yields),
        risk_free_rate=settings.market_data.risk_free_rate,
        bad_quote_rate=sim.bad_quote_rate,
        chain_max_dte=settings.market_data.chain_max_dte,
    )

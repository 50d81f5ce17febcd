"""Strategies: bull put spread, cash-secured put, iron condor, and their exit/roll rules.

Every parameter comes from :class:`agent.config.StrategiesSettings` (and the universe's
earnings blackout switch). Strategies are pure: no I/O, no clock reads (time is ``as_of``).
See docs/signals.md for the rules, the PoP/EV model and the score.
"""

from __future__ import annotations

from agent.config import AgentSettings
from agent.domain import StructureKind
from agent.strategies.base import (
    ChainIndex,
    ExpirySlice,
    Strategy,
    StrategyContext,
    make_context,
)
from agent.strategies.bull_put_spread import BullPutSpread
from agent.strategies.cash_secured_put import CashSecuredPut
from agent.strategies.credit import CreditStrategy
from agent.strategies.iron_condor import IronCondor
from agent.strategies.scoring import rank_key, ranked, score

_ORDER = (StructureKind.BULL_PUT_SPREAD, StructureKind.CASH_SECURED_PUT, StructureKind.IRON_CONDOR)


def strategy_for(kind: StructureKind, settings: AgentSettings) -> Strategy:
    """The strategy for ``kind``, enabled or not (open trades keep their exit rules after a
    strategy is switched off). ValueError for kinds that are not strategies (stock, single
    options)."""
    universe = settings.universe
    s = settings.strategies
    if kind is StructureKind.BULL_PUT_SPREAD:
        return BullPutSpread(s.bull_put_spread, universe)
    if kind is StructureKind.CASH_SECURED_PUT:
        return CashSecuredPut(s.cash_secured_put, universe)
    if kind is StructureKind.IRON_CONDOR:
        return IronCondor(s.iron_condor, universe)
    raise ValueError(
        f"{kind.value} is not a strategy (expected one of {[k.value for k in _ORDER]})"
    )


def build_strategies(settings: AgentSettings) -> list[Strategy]:
    """The enabled strategies, in a fixed order."""
    s = settings.strategies
    enabled = {
        StructureKind.BULL_PUT_SPREAD: s.bull_put_spread.enabled,
        StructureKind.CASH_SECURED_PUT: s.cash_secured_put.enabled,
        StructureKind.IRON_CONDOR: s.iron_condor.enabled,
    }
    return [strategy_for(kind, settings) for kind in _ORDER if enabled[kind]]


__all__ = [
    "BullPutSpread",
    "CashSecuredPut",
    "ChainIndex",
    "CreditStrategy",
    "ExpirySlice",
    "IronCondor",
    "Strategy",
    "StrategyContext",
    "build_strategies",
    "make_context",
    "rank_key",
    "ranked",
    "score",
    "strategy_for",
]

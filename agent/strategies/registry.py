"""The strategy registry: which strategy serves which structure, and the enabled set."""

from __future__ import annotations

from agent.config import AgentSettings
from agent.domain import StructureKind
from agent.strategies.base import Strategy
from agent.strategies.bull_put_spread import BullPutSpread
from agent.strategies.cash_secured_put import CashSecuredPut
from agent.strategies.iron_condor import IronCondor

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

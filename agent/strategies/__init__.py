"""Strategies: bull put spread, cash-secured put, iron condor, and their exit/roll rules.

Every parameter comes from :class:`agent.config.StrategiesSettings` (and the universe's
earnings blackout switch). Strategies are pure: no I/O, no clock reads (time is ``as_of``).
See docs/signals.md for the rules, the PoP/EV model and the score.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from agent.strategies.registry import build_strategies, strategy_for
    from agent.strategies.scoring import rank_key, ranked, score

# Names resolve on first use (PEP 562), so light submodules (scoring, records) can be imported
# without loading the numba-based strategy code into processes that only rank or record.
_EXPORTS = {
    "BullPutSpread": "agent.strategies.bull_put_spread",
    "CashSecuredPut": "agent.strategies.cash_secured_put",
    "ChainIndex": "agent.strategies.base",
    "CreditStrategy": "agent.strategies.credit",
    "ExpirySlice": "agent.strategies.base",
    "IronCondor": "agent.strategies.iron_condor",
    "Strategy": "agent.strategies.base",
    "StrategyContext": "agent.strategies.base",
    "build_strategies": "agent.strategies.registry",
    "make_context": "agent.strategies.base",
    "rank_key": "agent.strategies.scoring",
    "ranked": "agent.strategies.scoring",
    "score": "agent.strategies.scoring",
    "strategy_for": "agent.strategies.registry",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agent.strategies' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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

"""Signals: universe and contract filters, the per-symbol scan, ranking and explanations.

Public API (the engine and the Ray scanner actors call these):

- :func:`scan_symbol` ``(inp, settings) -> SymbolScan``
- :func:`data_rejection` ``(symbol, scan_id, as_of, error) -> SymbolScan``
- :func:`rank_candidates` ``(scans, settings) -> (selected, ranking records)``
- :func:`explain` ``(records) -> rows`` for ``scan --once --explain SYMBOL``
- :func:`strategy_context` ``(enriched, settings, ...)`` for the monitor's roll search

Pure: no I/O, no clock reads. See docs/signals.md. Names resolve on first use (PEP 562):
ranking and rejections stay light for processes that never scan.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.signals.contracts import ContractScreen, screen_contracts
    from agent.signals.explanation import EXPLAIN_COLUMNS, explain, format_reason
    from agent.signals.ranking import cap_symbol, rank_candidates
    from agent.signals.rejections import data_rejection
    from agent.signals.scan import scan_symbol, strategy_context

_EXPORTS = {
    "EXPLAIN_COLUMNS": "agent.signals.explanation",
    "ContractScreen": "agent.signals.contracts",
    "cap_symbol": "agent.signals.ranking",
    "data_rejection": "agent.signals.rejections",
    "explain": "agent.signals.explanation",
    "format_reason": "agent.signals.explanation",
    "rank_candidates": "agent.signals.ranking",
    "scan_symbol": "agent.signals.scan",
    "screen_contracts": "agent.signals.contracts",
    "strategy_context": "agent.signals.scan",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agent.signals' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "EXPLAIN_COLUMNS",
    "ContractScreen",
    "cap_symbol",
    "data_rejection",
    "explain",
    "format_reason",
    "rank_candidates",
    "scan_symbol",
    "screen_contracts",
    "strategy_context",
]

"""Signals: universe and contract filters, the per-symbol scan, ranking and explanations.

Public API (the engine and the Ray scanner actors call these):

- :func:`scan_symbol` ``(inp, settings) -> SymbolScan``
- :func:`data_rejection` ``(symbol, scan_id, as_of, error) -> SymbolScan``
- :func:`rank_candidates` ``(scans, settings) -> (selected, ranking records)``
- :func:`explain` ``(records) -> rows`` for ``scan --once --explain SYMBOL``
- :func:`strategy_context` ``(enriched, settings, ...)`` for the monitor's roll search

Pure: no I/O, no clock reads. See docs/signals.md.
"""

from agent.signals.contracts import ContractScreen, screen_contracts
from agent.signals.explain import EXPLAIN_COLUMNS, explain, format_reason
from agent.signals.ranking import cap_symbol, rank_candidates
from agent.signals.scan import data_rejection, scan_symbol, strategy_context

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

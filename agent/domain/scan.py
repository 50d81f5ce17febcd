"""The inputs and outputs of a per-symbol scan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.domain.decisions import Candidate, DecisionRecord
from agent.domain.market import MarketContext, OptionChain, UnderlyingSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanInput:
    """Everything a scan of one underlying needs; no I/O happens after this is built."""

    scan_id: str
    as_of: datetime
    underlying: UnderlyingSnapshot
    chain: OptionChain
    context: MarketContext
    iv_history: tuple[float, ...]
    """Daily ATM 30-day IVs, oldest first (at most the configured window)."""
    history_days: int
    """Daily price bars available for the underlying."""
    rate: float
    """Continuously compounded risk-free rate."""
    dividend_yield: float
    realized_vol: float = float("nan")
    """Annualised close-to-close vol of the last 20 sessions (NaN if unknown)."""
    sector: str | None = None
    beta: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolScan:
    """The outcome of scanning one underlying."""

    scan_id: str
    underlying: str
    as_of: datetime
    candidates: tuple[Candidate, ...]
    decisions: tuple[DecisionRecord, ...]
    atm_iv: float
    """ATM 30-day IV from this chain (NaN if not computable)."""
    iv_rank: float | None
    contracts: int
    elapsed_ms: float = 0.0

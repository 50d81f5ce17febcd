"""Rejections of a whole symbol (light: no pricing imports, used by every actor)."""

from __future__ import annotations

import math
from datetime import datetime

from agent.domain import DecisionStage, Reason, SymbolScan
from agent.strategies.records import record


def data_rejection(
    symbol: str, scan_id: str, as_of: datetime, error: Exception | str
) -> SymbolScan:
    """The scan of a symbol whose inputs could not be fetched: one UNIVERSE rejection."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return rejected(symbol, scan_id, as_of, rule="market_data", message=message)


def rejected(
    symbol: str,
    scan_id: str,
    as_of: datetime,
    *,
    rule: str,
    message: str,
    contracts: int = 0,
) -> SymbolScan:
    rec = record(
        scan_id=scan_id,
        as_of=as_of,
        underlying=symbol,
        stage=DecisionStage.UNIVERSE,
        key=rule,
        reasons=(Reason(rule=rule, passed=False, message=message),),
    )
    return SymbolScan(
        scan_id=scan_id,
        underlying=symbol,
        as_of=as_of,
        candidates=(),
        decisions=(rec,),
        atm_iv=math.nan,
        iv_rank=None,
        contracts=contracts,
    )

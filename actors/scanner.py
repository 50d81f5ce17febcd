"""A ``Scanner`` actor of the pool: the per-symbol scan (chain enrichment with the numba
kernels, filters, strategies, decision records). Pure: a retried scan gives the same result,
and the process opens no store and reads no clock (the scan input carries its time).

The scanners are the only processes that load numba: they also enrich single chains for
the Monitor's roll and covered-call searches (:meth:`ScannerShell.enrich`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ray

from actors.base import Shell
from agent.clock import monotonic_s
from agent.config import AgentSettings
from agent.domain import ScanInput, SymbolScan

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from agent.domain import OptionChain
    from agent.ports import ChainEnricher
    from agent.pricing.enriched import EnrichedChain


class ScannerShell(Shell):
    def __init__(self, settings: AgentSettings, index: int) -> None:
        self._boot_pure(settings, f"scanner-{index}")
        # Imported here, not at module level: the driver that creates this actor never
        # loads the scan (numba and the kernels), each scanner loads it as it starts.
        from agent.pricing.chain import enrich_chain  # noqa: PLC0415
        from agent.signals import scan_symbol  # noqa: PLC0415

        self._scan_symbol: Callable[[ScanInput, AgentSettings], SymbolScan] = scan_symbol
        self._enrich_chain: ChainEnricher = enrich_chain
        self.settings = settings
        self.index = index
        self.scanned = 0

    def scan(self, item: ScanInput | SymbolScan) -> SymbolScan:
        """Scan one symbol's input (a data rejection passes through unchanged)."""
        if isinstance(item, SymbolScan):
            return item
        self.calls += 1
        started = monotonic_s()
        try:
            result = self._scan_symbol(item, self.settings)
        except Exception:
            self.errors += 1
            raise
        self.scanned += 1
        return replace(result, elapsed_ms=(monotonic_s() - started) * 1000.0)

    def enrich(  # noqa: PLR0917
        self,
        chain: OptionChain,
        spot: float,
        rate: float,
        dividend_yield: float,
        as_of: datetime,
        max_quote_age_s: float,
        vendor_iv_tolerance: float,
    ) -> EnrichedChain:
        """One chain enriched for another actor (the Monitor's roll and covered-call
        searches), so that only the scanners load the kernels."""
        self.calls += 1
        try:
            return self._enrich_chain(
                chain,
                spot,
                rate,
                dividend_yield,
                as_of,
                max_quote_age_s=max_quote_age_s,
                vendor_iv_tolerance=vendor_iv_tolerance,
            )
        except Exception:
            self.errors += 1
            raise

    def ping(self) -> dict[str, Any]:
        return {**self._ping(), "index": self.index, "scanned": self.scanned}


ScannerActor = ray.remote(ScannerShell)

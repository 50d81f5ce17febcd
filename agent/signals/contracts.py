"""Contract filters, vectorised over the whole chain, aggregated into counts per rule.

Short legs must pass every rule. Long wings (the protective legs we buy) need only a
*valid quote*: quoted, not crossed, fresh, with an implied vol — they may fail the open
interest, volume and spread-% rules and may have a zero bid. A far-OTM wing is usually thin,
we pay its ask (the natural price already charges its spread), and it only has to be
bought, never sold under pressure; but without a valid fresh ask the credit, the max loss
and the greeks would be guesses.

One CONTRACT record per symbol per scan carries the counts (a per-contract record would
be thousands of rows per symbol per scan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.config import UniverseSettings
from agent.domain import Reason
from agent.pricing.enriched import ChainFlag, EnrichedChain
from agent.strategies.base import BoolArray
from agent.strategies.records import fmt

_INVALID_QUOTE = ChainFlag.NO_QUOTE | ChainFlag.CROSSED
_NO_IV = ChainFlag.NO_IV | ChainFlag.EXPIRED
SPREAD_TOLERANCE_PCT = 1e-9
"""Float rounding allowance on the spread-% rule (percentage points)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractScreen:
    """The outcome of the contract filters for one chain (masks aligned to its rows)."""

    eligible: BoolArray
    """Passed every rule: usable as a short leg."""
    quotable: BoolArray
    """Valid, fresh quote with an IV: usable as a long wing."""
    failed: dict[str, int]
    """Contracts failing each rule (a contract may fail several)."""
    reasons: tuple[Reason, ...]
    total: int

    @property
    def eligible_count(self) -> int:
        return int(np.count_nonzero(self.eligible))

    @property
    def quotable_count(self) -> int:
        return int(np.count_nonzero(self.quotable))


def screen_contracts(chain: EnrichedChain, settings: UniverseSettings) -> ContractScreen:
    """Apply the contract filters (see the module docstring)."""
    raw = chain.chain
    flags = chain.flags
    n = len(chain)

    def flagged(flag: ChainFlag) -> BoolArray:
        mask: BoolArray = (flags & np.uint32(flag)) != 0
        return mask

    no_quote = flagged(ChainFlag.NO_QUOTE)
    crossed = flagged(ChainFlag.CROSSED)
    zero_bid = flagged(ChainFlag.ZERO_BID)
    no_iv = flagged(_NO_IV)
    stale = flagged(ChainFlag.STALE)
    # A limit of 0 disables the rule (an unknown value then passes as well).
    min_oi, min_vol = settings.min_option_open_interest, settings.min_option_volume
    low_oi = ~(raw.open_interest >= min_oi) if min_oi > 0 else np.zeros(n, dtype=np.bool_)
    low_volume = ~(raw.volume >= min_vol) if min_vol > 0 else np.zeros(n, dtype=np.bool_)
    max_spread = settings.max_option_spread_pct_of_mid
    # NaN (no usable quote) is counted by its own flag; the tolerance keeps a spread of
    # exactly the limit (0.95/1.05 is 10.000000000000009 % in floats) inside it.
    wide = chain.spread_pct > max_spread + SPREAD_TOLERANCE_PCT

    rules: tuple[tuple[str, BoolArray, float | str | None, str], ...] = (
        ("quote_present", no_quote, None, "no usable quote"),
        ("quote_not_crossed", crossed, None, "crossed quote (bid > ask)"),
        ("bid_present", zero_bid, None, "zero bid"),
        ("iv_available", no_iv, None, "no implied vol (below intrinsic, above bound or expired)"),
        (
            "quote_age",
            stale,
            settings.max_quote_age_s,
            f"quote older than {fmt(settings.max_quote_age_s)} s or undated",
        ),
        ("spread_pct_of_mid", wide, max_spread, f"bid-ask wider than {fmt(max_spread)}% of mid"),
        ("open_interest", low_oi, min_oi, f"open interest below {fmt(min_oi)} or unknown"),
        ("option_volume", low_volume, min_vol, f"volume below {fmt(min_vol)} or unknown"),
    )
    any_failed = np.zeros(n, dtype=np.bool_)
    failed: dict[str, int] = {}
    reasons: list[Reason] = []
    for rule, mask, limit, text in rules:
        count = int(np.count_nonzero(mask))
        any_failed |= mask
        failed[rule] = count
        reasons.append(
            Reason(
                rule=rule,
                passed=count == 0,
                value=count,
                limit=limit,
                message=f"{count} of {n} contracts: {text}",
            )
        )
    eligible = ~any_failed
    quotable = ~(no_quote | crossed | no_iv | stale)
    return ContractScreen(
        eligible=eligible,
        quotable=quotable,
        failed=failed,
        reasons=tuple(reasons),
        total=n,
    )


def vendor_mismatches(chain: EnrichedChain) -> dict[str, int]:
    """Counts of vendor IV / delta disagreements (recorded, never used to filter)."""
    flags = chain.flags
    return {
        "vendor_iv_mismatch": int(
            np.count_nonzero(flags & np.uint32(ChainFlag.VENDOR_IV_MISMATCH))
        ),
        "vendor_delta_mismatch": int(
            np.count_nonzero(flags & np.uint32(ChainFlag.VENDOR_DELTA_MISMATCH))
        ),
    }

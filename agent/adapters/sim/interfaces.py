"""What the simulated exchange needs from the simulated market.

The market model (:mod:`agent.adapters.sim.market`) implements :class:`QuoteSource`; the
exchange (:mod:`agent.adapters.sim.exchange`) depends only on this protocol, so both can be
built and tested separately and the model stays a pure function of (seed, time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class TopOfBook:
    """National best bid and offer of one instrument at one minute (USD per share)."""

    bid: float
    ask: float
    bid_size: float
    ask_size: float
    quoted_at: datetime


class QuoteSource(Protocol):
    """Deterministic quotes of the simulated market at any minute."""

    def top_of_book(self, symbols: Sequence[str], at: datetime) -> dict[str, TopOfBook]:
        """Quotes for stock and OCC option symbols at ``at`` (floored to the minute).

        A symbol that is not listed at ``at`` (unknown stock, option strike or expiry not
        listed, option already expired) is absent from the result.
        """
        ...

    def underlying_price(self, symbol: str, at: datetime) -> float:
        """The underlying's last trade price at ``at`` (floored to the minute), USD."""
        ...

"""The :class:`Strategy` protocol, the :class:`StrategyContext` a strategy reads, and the
:class:`ChainIndex` that lets strategies find contracts without scanning the whole chain.

Strategies are pure: no I/O and no clock reads; time is ``ctx.as_of``.

Exit/roll contract with the monitor: :meth:`Strategy.should_exit` returns the rule that
requires action on a trade (take-profit, stop-loss, breach, expiry approaching) or None;
:meth:`Strategy.should_roll` returns True when that action should be a roll rather than a
close. The monitor asks :meth:`Strategy.roll_candidates` for the opening side of the roll
and closes the trade with the exit signal's reason when no roll is acceptable.
``should_roll`` is never True unless ``should_exit`` fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from agent.calendar import ET
from agent.domain import (
    Candidate,
    DecisionRecord,
    ExitSignal,
    MarketEvent,
    MarketEventKind,
    OrderPurpose,
    StructureKind,
    Trade,
    TradeMark,
    UnderlyingSnapshot,
)
from agent.pricing.enriched import EnrichedChain

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpirySlice:
    """The rows of one expiry, split by right, each sorted by strike (ascending)."""

    expiry: date
    dte: int
    """Calendar days from the New York date of ``as_of`` to the expiry."""
    years: float
    """Time to 16:00 ET on the expiry, years of 365 days (the pricing convention)."""
    puts: IntArray
    calls: IntArray
    put_strikes: FloatArray
    call_strikes: FloatArray

    def rows(self, is_call: bool) -> IntArray:
        return self.calls if is_call else self.puts

    def strikes(self, is_call: bool) -> FloatArray:
        return self.call_strikes if is_call else self.put_strikes


STRIKE_TOLERANCE_USD = 5e-4
"""Strike differences within this are equal (OCC strikes have three decimals; floats don't)."""


class ChainIndex:
    """Row indices of a chain grouped by expiry and right, sorted by strike.

    Built once per scan with one ``lexsort``; an :class:`ExpirySlice` is materialised only
    when a strategy asks for that expiry (a chain with daily expiries has dozens, a strategy
    looks at the few inside its DTE window).
    """

    __slots__ = ("_cache", "_calls", "_chain", "_dtes", "_ends", "_order", "_starts")

    def __init__(self, chain: EnrichedChain) -> None:
        raw = chain.chain
        n = len(raw)
        self._chain = chain
        self._cache: dict[int, ExpirySlice] = {}
        if n == 0:
            empty = np.zeros(0, dtype=np.intp)
            self._order = self._starts = self._ends = empty
            self._calls = np.zeros(0, dtype=np.bool_)
            self._dtes: list[int] = []
            return
        expiry = raw.expiry.astype("datetime64[D]")
        self._order = np.lexsort((raw.strike, raw.is_call, expiry)).astype(np.intp)
        sorted_expiry = expiry[self._order]
        change = np.flatnonzero(sorted_expiry[1:] != sorted_expiry[:-1]) + 1
        self._starts = np.concatenate(([0], change)).astype(np.intp)
        self._ends = np.concatenate((change, [n])).astype(np.intp)
        self._calls = raw.is_call[self._order]
        self._dtes = chain.dte_days[self._order[self._starts]].tolist()

    def __len__(self) -> int:
        return len(self._dtes)

    def slice_at(self, k: int) -> ExpirySlice:
        """The ``k``-th expiry in date order."""
        cached = self._cache.get(k)
        if cached is not None:
            return cached
        start, end = int(self._starts[k]), int(self._ends[k])
        first_call = start + int(np.searchsorted(self._calls[start:end], True))
        puts = self._order[start:first_call]
        calls = self._order[first_call:end]
        row = int(self._order[start])
        raw = self._chain.chain
        built = ExpirySlice(
            expiry=raw.expiry[row].astype("datetime64[D]").item(),
            dte=self._dtes[k],
            years=float(self._chain.time_to_expiry_years[row]),
            puts=puts,
            calls=calls,
            put_strikes=raw.strike[puts],
            call_strikes=raw.strike[calls],
        )
        self._cache[k] = built
        return built

    @property
    def slices(self) -> tuple[ExpirySlice, ...]:
        """Every expiry, in date order."""
        return tuple(self.slice_at(k) for k in range(len(self._dtes)))

    def in_window(self, dte_min: int, dte_max: int) -> list[ExpirySlice]:
        """Expiries with ``dte_min <= dte <= dte_max``, in date order."""
        return [self.slice_at(k) for k, d in enumerate(self._dtes) if dte_min <= d <= dte_max]

    def dtes(self) -> list[int]:
        return list(self._dtes)


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyContext:
    """What a strategy knows besides the enriched chain (all of it fixed at ``as_of``).

    ``eligible`` marks the contracts that passed every contract filter (short legs may only
    use these); ``quotable`` marks those with a valid, fresh, IV-bearing quote (long wings may
    use these, see docs/signals.md). Both are aligned to the chain's rows.
    """

    scan_id: str
    as_of: datetime
    underlying: str
    spot: float
    """USD per share (the price the chain was enriched with)."""
    eligible: BoolArray
    quotable: BoolArray
    index: ChainIndex
    snapshot: UnderlyingSnapshot | None = None
    atm_iv: float = float("nan")
    """ATM 30-day implied vol of this chain (per sqrt(year))."""
    iv_rank: float | None = None
    """IV rank 0-100; None while unknown."""
    realized_vol: float = float("nan")
    """20-session close-to-close vol, annualised (NaN if unknown)."""
    sector: str | None = None
    events: tuple[MarketEvent, ...] = ()
    """Scheduled events for this symbol (its earnings) and market-wide ones (FOMC)."""
    purpose: OrderPurpose = OrderPurpose.OPEN
    trade_id: str | None = None
    """The trade being rolled (purpose ROLL), part of the candidate id."""
    earnings_dates: tuple[date, ...] = field(init=False)
    today: date = field(init=False)
    """The New York date of ``as_of``."""

    def __post_init__(self) -> None:
        earnings = sorted(
            {
                e.on
                for e in self.events
                if e.kind is MarketEventKind.EARNINGS and e.symbol == self.underlying
            }
        )
        object.__setattr__(self, "earnings_dates", tuple(earnings))
        object.__setattr__(self, "today", self.as_of.astimezone(ET).date())

    def earnings_within(self, expiry: date) -> date | None:
        """The first earnings date from today through ``expiry`` (inclusive), or None."""
        for day in self.earnings_dates:
            if self.today <= day <= expiry:
                return day
        return None


def make_context(
    chain: EnrichedChain,
    *,
    scan_id: str,
    eligible: BoolArray,
    quotable: BoolArray,
    snapshot: UnderlyingSnapshot | None = None,
    atm_iv: float = float("nan"),
    iv_rank: float | None = None,
    realized_vol: float = float("nan"),
    sector: str | None = None,
    events: tuple[MarketEvent, ...] = (),
    purpose: OrderPurpose = OrderPurpose.OPEN,
    trade_id: str | None = None,
) -> StrategyContext:
    """A context for ``chain`` (index built here). Masks must be aligned to the chain's rows."""
    n = len(chain)
    if len(eligible) != n or len(quotable) != n:
        raise ValueError(
            f"masks have {len(eligible)}/{len(quotable)} rows, the chain {n} "
            f"({chain.chain.underlying})"
        )
    return StrategyContext(
        scan_id=scan_id,
        as_of=chain.as_of,
        underlying=chain.chain.underlying,
        spot=chain.spot,
        eligible=np.asarray(eligible, dtype=np.bool_),
        quotable=np.asarray(quotable, dtype=np.bool_),
        index=ChainIndex(chain),
        snapshot=snapshot,
        atm_iv=atm_iv,
        iv_rank=iv_rank,
        realized_vol=realized_vol,
        sector=sector,
        events=events,
        purpose=purpose,
        trade_id=trade_id,
    )


class Strategy(Protocol):
    """One credit structure: candidate generation plus its exit and roll rules."""

    @property
    def kind(self) -> StructureKind: ...

    def generate(
        self, chain: EnrichedChain, ctx: StrategyContext
    ) -> tuple[list[Candidate], list[DecisionRecord]]:
        """Candidates for this underlying (scored, purpose OPEN) and STRATEGY-stage records
        for each candidate built and each rule that rejected an expiry or a strike."""
        ...

    def should_exit(self, trade: Trade, mark: TradeMark, as_of: datetime) -> ExitSignal | None:
        """The exit rule that fires for this trade at ``as_of``, or None."""
        ...

    def should_roll(self, trade: Trade, mark: TradeMark, as_of: datetime) -> bool:
        """True when the action :meth:`should_exit` calls for should be a roll."""
        ...

    def roll_candidates(
        self, trade: Trade, mark: TradeMark, chain: EnrichedChain, ctx: StrategyContext
    ) -> list[Candidate]:
        """The opening side of a roll (purpose ROLL), best first."""
        ...

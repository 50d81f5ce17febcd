"""``SimMarketData``: the :class:`~agent.ports.MarketData` port over the simulated market.

Time comes from a :class:`~agent.clock.Clock`: every answer is what a feed would show at the
clock's "now" (floored to the minute; outside sessions, the last close). Nothing from the
future leaks: bars stop at the current session (a partial bar while it trades), IV history
includes a session only once it has closed. Scheduled events (earnings, FOMC) are known in
advance, as they are in reality.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from agent.adapters.sim.market import MarketModel
from agent.clock import Clock
from agent.config import AgentSettings
from agent.domain.contracts import is_option_symbol
from agent.domain.market import Bar, MarketContext, OptionChain, Quote, UnderlyingSnapshot
from agent.errors import DataError


class SimMarketData:
    """Market data of the embedded simulator (implements ``agent.ports.MarketData``)."""

    def __init__(self, model: MarketModel, clock: Clock) -> None:
        self.model = model
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: AgentSettings, clock: Clock) -> SimMarketData:
        """Build the model these settings imply (identical in every process) and read it at
        the clock's time."""
        return cls(MarketModel.from_settings(settings), clock)

    def symbols(self) -> tuple[str, ...]:
        """The underlyings of the simulated universe."""
        return self.model.symbols

    # ------------------------------------------------------------------ MarketData

    def get_underlying_snapshots(self, symbols: Sequence[str]) -> dict[str, UnderlyingSnapshot]:
        now = self.clock.now()
        out: dict[str, UnderlyingSnapshot] = {}
        for symbol in symbols:
            if symbol in self.model.universe:
                out[symbol] = self.model.underlying_snapshot(symbol, now)
        return out

    def get_daily_bars(self, symbol: str, *, start: date, end: date) -> list[Bar]:
        self.model.spec(symbol)  # DataError for an unknown symbol
        return self.model.daily_bars(symbol, start, end, as_of=self.clock.now())

    def get_option_chain(
        self, underlying: str, *, min_expiry: date, max_expiry: date
    ) -> OptionChain:
        self.model.spec(underlying)
        return self.model.option_chain(
            underlying, self.clock.now(), min_expiry=min_expiry, max_expiry=max_expiry
        )

    def get_option_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        now = self.clock.now()
        books = self.model.top_of_book([s for s in symbols if is_option_symbol(s)], now)
        return {
            symbol: Quote(
                symbol=symbol,
                bid=top.bid,
                ask=top.ask,
                bid_size=top.bid_size,
                ask_size=top.ask_size,
                quoted_at=top.quoted_at,
            )
            for symbol, top in books.items()
        }

    def get_iv_history(self, symbol: str, *, start: date, end: date) -> list[tuple[date, float]]:
        self.model.spec(symbol)
        now = self.model.locate(self.clock.now())
        closed = now.minute >= now.n_minutes  # at or after that session's close
        last_closed = now.day if closed else self.model.calendar.previous_session(now.day)
        return self.model.iv_history(symbol, start, min(end, last_closed))

    def get_market_context(self, *, start: date, end: date) -> MarketContext:
        now = self.clock.now()
        try:
            at = self.model.locate(now)
            vol_index = self.model.vol_index(now)
        except DataError:
            return MarketContext(as_of=now, vol_index=float("nan"), events=())
        return MarketContext(
            as_of=at.quote_at, vol_index=vol_index, events=tuple(self.model.events(start, end))
        )

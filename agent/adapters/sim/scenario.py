"""Scripted underlying prices for scenario tests: a :data:`SpotOverride` for the market model.

A scenario needs the underlying to do something on cue — crash through a short strike,
rally, sit on a strike on expiry day — while everything else stays real: option quotes still
come from the model's surface and quote engine (at the scripted spot), the exchange fills
against them and settles expiries at the scripted close. Install one :class:`ScriptedSpot`
on the :class:`~agent.adapters.sim.market.MarketModel` that backs both ``SimMarketData`` and
``SimExchange``::

    script = ScriptedSpot()
    world.model.set_spot_override(script)
    script.glide(world.model, "SPY", start=t0, to=[(t0 + timedelta(hours=2), 520.0)])

Each symbol's path is piecewise linear in time between its points, rounded to the cent, held
at the last point afterwards; before its first point (and for symbols without a path) the
model's own price applies. ``glide`` anchors the first point at the model's price at
``start``, so the script continues the market without a jump.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime

from agent.adapters.sim.market import MarketModel

__all__ = ["ScriptedSpot"]


class ScriptedSpot:
    """Piecewise-linear scripted prices per symbol (callable as a ``SpotOverride``)."""

    def __init__(self) -> None:
        self._times: dict[str, list[float]] = {}
        self._prices: dict[str, list[float]] = {}

    def set_path(self, symbol: str, points: Sequence[tuple[datetime, float]]) -> None:
        """Script ``symbol`` through ``points`` (aware times, USD); replaces its old path."""
        ordered = sorted((at.astimezone(UTC).timestamp(), float(p)) for at, p in points)
        if any(p <= 0.0 for _, p in ordered):
            raise ValueError(f"{symbol}: scripted prices must be positive")
        self._times[symbol] = [t for t, _ in ordered]
        self._prices[symbol] = [p for _, p in ordered]

    def clear(self, symbol: str | None = None) -> None:
        """Forget one symbol's path (or all): the model's own prices apply again."""
        if symbol is None:
            self._times.clear()
            self._prices.clear()
        else:
            self._times.pop(symbol, None)
            self._prices.pop(symbol, None)

    def glide(
        self,
        model: MarketModel,
        symbol: str,
        *,
        start: datetime,
        to: Sequence[tuple[datetime, float]],
    ) -> None:
        """From ``start`` on, move ``symbol`` from where it is through the points ``to``,
        and install this script on ``model``.

        "Where it is" is this script's price at ``start`` if it already scripts the symbol
        then, else the model's own; points before ``start`` are kept (quotes of the past stay
        what they were)."""
        anchor = self(symbol, start)
        if anchor is None:
            saved = model.spot_override
            model.set_spot_override(None)
            try:
                anchor = model.spot(symbol, start)
            finally:
                model.set_spot_override(saved)
        t0 = start.astimezone(UTC).timestamp()
        kept = [
            (datetime.fromtimestamp(t, tz=UTC), p)
            for t, p in zip(self._times.get(symbol, []), self._prices.get(symbol, []), strict=True)
            if t < t0
        ]
        self.set_path(symbol, [*kept, (start, anchor), *to])
        model.set_spot_override(self)

    def __call__(self, symbol: str, at: datetime) -> float | None:
        times = self._times.get(symbol)
        if not times:
            return None
        t = at.astimezone(UTC).timestamp()
        if t < times[0]:
            return None
        prices = self._prices[symbol]
        k = bisect.bisect_right(times, t)
        if k >= len(times):
            return round(prices[-1], 2)
        t0, t1 = times[k - 1], times[k]
        p0, p1 = prices[k - 1], prices[k]
        weight = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        return round(p0 + (p1 - p0) * weight, 2)

"""The simulated universe: which underlyings exist and how each one behaves.

The configured watchlist comes first, with hand-set specs close to the real names (price
level, volatility, beta, sector, dividend yield, liquidity); then generated names
``SIM001``, ``SIM002``, … up to ``n_underlyings``, drawn from the seed with a deliberate
spread: some priced above $500 and some below $20, low to very high volatility, and every
liquidity tier (the illiquid ones fail the scanner's open-interest and volume filters).

Each spec depends only on (seed, symbol, position among the generated names), so adding
names never changes the existing ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum, StrEnum

from agent.adapters.sim.market_rng import stream
from agent.calendar import BROAD_ETFS, MarketCalendar


class LiquidityTier(IntEnum):
    """How actively a name's options trade. Lower is more liquid."""

    TOP = 1
    """Broad index ETFs: daily expiries, penny ticks, very tight spreads, huge open interest."""
    HIGH = 2
    """Large caps and big sector ETFs: weeklies, penny ticks, tight spreads."""
    MID = 3
    """Monthlies only, nickel ticks above $3, moderate spreads and open interest."""
    LOW = 4
    """Monthlies only, wide spreads, little open interest or volume (fails liquidity filters)."""


class AssetKind(StrEnum):
    STOCK = "stock"
    ETF = "etf"


DAILY_EXPIRY_ETFS: frozenset[str] = frozenset({"SPY", "QQQ", "IWM"})
"""Underlyings with Monday-to-Friday expiries in the near term."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingSpec:
    """How one simulated underlying behaves.

    Vols are annualised (trading-day convention, 252 sessions a year) and describe the
    *normal* market regime; the regime scales them.
    """

    symbol: str
    kind: AssetKind
    sector: str
    price_usd: float
    """Close of the last session before the simulation's start date."""
    vol: float
    """Total annualised volatility in the normal regime (e.g. 0.25)."""
    beta: float
    """Loading on the market factor."""
    dividend_yield: float
    """Continuous dividend yield, per year."""
    tier: LiquidityTier
    avg_daily_volume_shares: float
    earnings_move: float
    """Standard deviation of the log gap at the open after earnings (0 for ETFs)."""
    skew: float
    """Implied-vol slope per standard deviation of moneyness on the put side (0.25 = +25 %
    of ATM vol one standard deviation below the forward)."""
    smile: float
    """Implied-vol curvature per squared standard deviation."""
    vrp: float
    """Implied over realised vol in the normal regime (variance risk premium, > 1)."""

    @property
    def is_etf(self) -> bool:
        return self.kind is AssetKind.ETF

    @property
    def has_weeklies(self) -> bool:
        return self.tier <= LiquidityTier.HIGH

    @property
    def has_dailies(self) -> bool:
        return self.symbol in DAILY_EXPIRY_ETFS

    @property
    def is_broad_etf(self) -> bool:
        return self.symbol in BROAD_ETFS


def _spec(  # noqa: PLR0917 (a compact table of known names)
    symbol: str,
    kind: AssetKind,
    sector: str,
    price: float,
    vol: float,
    beta: float,
    div: float,
    tier: LiquidityTier,
    adv_m: float,
    earnings: float,
    skew: float = 0.14,
    smile: float = 0.03,
    vrp: float = 1.15,
) -> UnderlyingSpec:
    return UnderlyingSpec(
        symbol=symbol,
        kind=kind,
        sector=sector,
        price_usd=price,
        vol=vol,
        beta=beta,
        dividend_yield=div,
        tier=tier,
        avg_daily_volume_shares=adv_m * 1e6,
        earnings_move=earnings,
        skew=skew,
        smile=smile,
        vrp=vrp,
    )


_E, _S = AssetKind.ETF, AssetKind.STOCK
_T1, _T2 = LiquidityTier.TOP, LiquidityTier.HIGH

KNOWN_SPECS: Mapping[str, UnderlyingSpec] = {
    s.symbol: s
    for s in (
        _spec("SPY", _E, "index", 560, 0.15, 1.00, 0.013, _T1, 60, 0, 0.26, 0.03, 1.22),
        _spec("QQQ", _E, "index", 480, 0.19, 1.15, 0.006, _T1, 40, 0, 0.24, 0.03, 1.20),
        _spec("IWM", _E, "index", 210, 0.22, 1.20, 0.012, _T1, 30, 0, 0.20, 0.03, 1.18),
        _spec("DIA", _E, "index", 420, 0.14, 0.90, 0.016, _T2, 3, 0, 0.24, 0.03, 1.20),
        _spec("AAPL", _S, "technology", 230, 0.26, 1.10, 0.005, _T2, 55, 0.040),
        _spec("MSFT", _S, "technology", 420, 0.24, 1.00, 0.008, _T2, 22, 0.045),
        _spec("NVDA", _S, "technology", 120, 0.50, 1.70, 0.0003, _T2, 250, 0.075, 0.08, 0.05),
        _spec("AMZN", _S, "consumer", 190, 0.32, 1.20, 0.0, _T2, 40, 0.060),
        _spec("GOOGL", _S, "communication", 170, 0.30, 1.10, 0.005, _T2, 25, 0.055),
        _spec("META", _S, "communication", 560, 0.36, 1.30, 0.004, _T2, 15, 0.080),
        _spec("TSLA", _S, "consumer", 250, 0.58, 1.60, 0.0, _T2, 90, 0.085, 0.04, 0.07, 1.12),
        _spec("AMD", _S, "technology", 150, 0.48, 1.60, 0.0, _T2, 45, 0.070, 0.08, 0.05),
        _spec("JPM", _S, "financials", 220, 0.22, 1.00, 0.022, _T2, 9, 0.030),
        _spec("BAC", _S, "financials", 40, 0.26, 1.10, 0.025, _T2, 35, 0.035),
        _spec("XOM", _S, "energy", 115, 0.24, 0.60, 0.034, _T2, 15, 0.025),
        _spec("KO", _S, "staples", 65, 0.15, 0.50, 0.030, _T2, 13, 0.025, 0.16),
        _spec("PFE", _S, "health", 28, 0.24, 0.60, 0.060, _T2, 35, 0.035),
        _spec("DIS", _S, "communication", 100, 0.28, 1.00, 0.010, _T2, 10, 0.050),
        _spec("INTC", _S, "technology", 22, 0.45, 1.20, 0.0, _T2, 60, 0.080, 0.06, 0.05),
        _spec("XLF", _E, "financials", 45, 0.18, 1.05, 0.015, _T2, 40, 0, 0.20, 0.03),
    )
}

GENERATED_SECTORS: tuple[str, ...] = (
    "technology",
    "communication",
    "consumer",
    "staples",
    "financials",
    "energy",
    "health",
    "industrials",
    "materials",
    "utilities",
    "real_estate",
)


def generated_symbol(index: int) -> str:
    """``SIM001`` for the first generated name (``index`` 0)."""
    return f"SIM{index + 1:03d}"


def _generated_spec(seed: int, symbol: str, index: int, sector: str | None) -> UnderlyingSpec:
    """A plausible name from the seed. ``index`` stratifies the draw so every universe of
    reasonable size holds expensive, cheap and illiquid names."""
    rng = stream(seed, "universe", symbol)
    u = [float(x) for x in rng.random(12)]
    is_etf = u[0] < 0.12
    stratum = index % 8
    if stratum == 0:
        price = 520.0 + 380.0 * u[1]  # above $500
    elif stratum == 1:
        price = 6.0 + 13.0 * u[1]  # below $20
    else:
        price = math.exp(math.log(20.0) + (math.log(400.0) - math.log(20.0)) * u[1])
    if is_etf:
        vol = 0.15 + 0.15 * u[2]
        beta = 0.7 + 0.5 * u[3]
    else:
        # cheaper names tend to be more volatile
        cheapness = max(0.0, min(1.0, (math.log(400.0) - math.log(price)) / 4.0))
        vol = 0.20 + 0.35 * u[2] + 0.25 * cheapness * u[4]
        beta = 0.5 + 1.3 * u[3]
    if index % 5 == 2:
        tier = LiquidityTier.LOW
    else:
        tier = (
            LiquidityTier.HIGH
            if u[5] < 0.3
            else LiquidityTier.MID
            if u[5] < 0.8
            else LiquidityTier.LOW
        )
    adv_range = {
        LiquidityTier.HIGH: (5e6, 30e6),
        LiquidityTier.MID: (0.8e6, 5e6),
        LiquidityTier.LOW: (0.1e6, 1.5e6),
    }[tier]
    adv = math.exp(math.log(adv_range[0]) + math.log(adv_range[1] / adv_range[0]) * u[6])
    smile_name = not is_etf and index % 7 == 3  # a few "smile" names: calls bid too
    skew = 0.04 if smile_name else (0.18 + 0.08 * u[7] if is_etf else 0.08 + 0.10 * u[7])
    smile = 0.08 if smile_name else 0.01 + 0.04 * u[8]
    return UnderlyingSpec(
        symbol=symbol,
        kind=AssetKind.ETF if is_etf else AssetKind.STOCK,
        sector=sector
        or ("index" if is_etf and u[9] < 0.3 else GENERATED_SECTORS[int(u[9] * 11) % 11]),
        price_usd=round(price, 2),
        vol=round(vol, 4),
        beta=round(beta, 3),
        dividend_yield=0.0 if u[10] < 0.35 else round(0.035 * u[11], 4),
        tier=tier,
        avg_daily_volume_shares=round(adv, -3),
        earnings_move=0.0 if is_etf else round(vol * (0.12 + 0.10 * u[4]), 4),
        skew=round(skew, 4),
        smile=round(smile, 4),
        vrp=round(1.08 + 0.17 * u[10], 4),
    )


class Universe:
    """The ordered underlyings of the simulated market and their specs."""

    def __init__(self, specs: Sequence[UnderlyingSpec]) -> None:
        self.specs: tuple[UnderlyingSpec, ...] = tuple(specs)
        self._by_symbol = {s.symbol: s for s in self.specs}
        if len(self._by_symbol) != len(self.specs):
            raise ValueError("duplicate symbols in the universe")
        self.symbols: tuple[str, ...] = tuple(s.symbol for s in self.specs)
        self.index_of: Mapping[str, int] = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def build(
        cls,
        *,
        seed: int,
        n_underlyings: int,
        watchlist: Sequence[str],
        sectors: Mapping[str, str] | None = None,
        dividend_yields: Mapping[str, float] | None = None,
    ) -> Universe:
        """Watchlist names first (known specs, or generated ones under the real ticker), then
        ``SIM001``… until ``n_underlyings`` names (never fewer than the watchlist)."""
        sectors = dict(sectors or {})
        dividend_yields = dict(dividend_yields or {})
        specs: list[UnderlyingSpec] = []
        for position, symbol in enumerate(watchlist):
            spec = KNOWN_SPECS.get(symbol) or _generated_spec(
                seed, symbol, position, sectors.get(symbol)
            )
            specs.append(spec)
        index = 0
        taken = {s.symbol for s in specs}
        while len(specs) < n_underlyings:
            symbol = generated_symbol(index)
            if symbol not in taken:
                specs.append(_generated_spec(seed, symbol, index, sectors.get(symbol)))
            index += 1
        specs = [_with_overrides(s, sectors, dividend_yields) for s in specs]
        return cls(specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def spec(self, symbol: str) -> UnderlyingSpec:
        """The spec of ``symbol``; KeyError if it is not in the universe."""
        return self._by_symbol[symbol]

    def get(self, symbol: str) -> UnderlyingSpec | None:
        return self._by_symbol.get(symbol)


def _with_overrides(
    spec: UnderlyingSpec, sectors: Mapping[str, str], dividend_yields: Mapping[str, float]
) -> UnderlyingSpec:
    sector = sectors.get(spec.symbol, spec.sector)
    div = dividend_yields.get(spec.symbol, spec.dividend_yield)
    if sector == spec.sector and div == spec.dividend_yield:
        return spec
    return UnderlyingSpec(
        symbol=spec.symbol,
        kind=spec.kind,
        sector=sector,
        price_usd=spec.price_usd,
        vol=spec.vol,
        beta=spec.beta,
        dividend_yield=div,
        tier=spec.tier,
        avg_daily_volume_shares=spec.avg_daily_volume_shares,
        earnings_move=spec.earnings_move,
        skew=spec.skew,
        smile=spec.smile,
        vrp=spec.vrp,
    )


# --------------------------------------------------------------------------- earnings

EARNINGS_PERIOD_DAYS = 91
"""Quarterly reporting cycle, in calendar days."""
_EARNINGS_EPOCH = date(2015, 1, 12)
_EARNINGS_JITTER_DAYS = 4


def earnings_dates(
    seed: int, spec: UnderlyingSpec, calendar: MarketCalendar, start: date, end: date
) -> list[date]:
    """The symbol's earnings dates in ``[start, end]`` (sessions; ETFs have none).

    The company reports after that session's close, so the price gaps at the next open.
    Dates follow a quarterly cycle with a per-symbol phase and a per-quarter jitter of a few
    days, moved to the next session when they land on a weekend or holiday.
    """
    if spec.is_etf or spec.earnings_move <= 0.0:
        return []
    phase_days = int(stream(seed, "earnings-phase", spec.symbol).integers(0, EARNINGS_PERIOD_DAYS))
    first_quarter = max(0, (start - _EARNINGS_EPOCH).days // EARNINGS_PERIOD_DAYS - 1)
    last_quarter = (end - _EARNINGS_EPOCH).days // EARNINGS_PERIOD_DAYS + 1
    out: list[date] = []
    for quarter in range(first_quarter, last_quarter + 1):
        jitter = int(
            stream(seed, "earnings-jitter", spec.symbol, quarter).integers(
                -_EARNINGS_JITTER_DAYS, _EARNINGS_JITTER_DAYS + 1
            )
        )
        day = _EARNINGS_EPOCH + timedelta(days=quarter * EARNINGS_PERIOD_DAYS + phase_days + jitter)
        if not calendar.first_day <= day <= calendar.last_day:
            continue
        day = calendar.next_session(day, inclusive=True)
        if start <= day <= end:
            out.append(day)
    return out

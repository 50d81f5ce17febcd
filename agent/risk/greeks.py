"""Portfolio greeks (beta-weighted) and the stress test, re-priced with our own closed form.

Greeks of the book
    Every trade's greeks are in share-equivalents (:class:`agent.domain.Greeks`: delta in
    shares, gamma in shares per USD, theta in USD/day, vega in USD per vol point). Delta and
    gamma of different underlyings are put on one scale, SPY shares, by beta-weighting::

        factor_i          = beta_i × S_i / S_SPY
        beta_delta_shares = Σ delta_i × factor_i
        gamma_shares      = Σ gamma_i × factor_i²

    (a 1 USD move of SPY moves underlying i by factor_i USD, hence factor² for gamma).
    Example: 100 delta shares of KO at $60 with beta 0.6, SPY at $500 →
    100 × 0.6 × 60 / 500 = 7.2 SPY shares. Vega and theta are USD and simply add up.
    Betas come from ``risk.betas`` (1.0 where unknown). While no SPY price has been seen
    (no SPY mark or candidate yet) the price ratio is taken as 1, which overstates the
    weighted delta of every underlying cheaper than SPY (nearly the whole universe, whose
    price cap is below SPY's price) — the conservative side.

Stress test
    Each scenario moves every underlying's spot by ``beta × shock`` (floored at 1 % of spot)
    and multiplies every implied vol by ``1 + vol shock`` (a relative shock: +50 % turns 20 %
    vol into 30 %); the default grid is spot −10 % / +10 %, vol +50 %, and both combined.
    Every option leg is re-priced with :func:`agent.pricing.closed_form.bs_price` (plain
    numpy: a stress test prices a handful of legs, not worth numba's ~55 MiB in the Risk
    process; same values as the kernels to rounding) at its strike, expiry
    (time to 16:00 ET on expiry) and IV, before and after the shock, with the configured
    rate and dividend yield; stock legs move linearly. The P&L of a scenario is the sum over
    legs of (shocked − base) × signed contracts × 100 — model against model, so a mark's
    bid/ask does not leak into the shock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from agent.calendar import MarketCalendar
from agent.config import RiskSettings
from agent.domain import (
    CONTRACT_MULTIPLIER,
    Candidate,
    Greeks,
    LegMark,
    OptionRight,
)
from agent.pricing.closed_form import bs_price
from agent.pricing.units import theta_per_day, vega_per_vol_point

__all__ = [
    "REFERENCE_SYMBOL",
    "BookGreeks",
    "ExposureLeg",
    "Scenario",
    "StressPosition",
    "beta_weighted",
    "candidate_legs",
    "leg_from_mark",
    "stress_pnl_usd",
    "stress_scenarios",
]

REFERENCE_SYMBOL = "SPY"
"""Beta-weighted greeks are in shares of this ETF."""
MIN_SHOCKED_SPOT_FRACTION = 0.01
"""A shocked spot never goes below this share of spot (a beta-3 name and a −40 % shock)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureLeg:
    """One leg as the stress test sees it.

    ``signed_qty``: contracts for an option, shares for stock (``right`` None); positive long,
    negative short. ``iv`` per sqrt(year). Per-share greeks in kernel units (theta per year,
    vega per 1.00 of vol), used to take closed legs out of a trade's greeks on a roll.
    """

    symbol: str
    right: OptionRight | None
    strike: float | None
    expiry: date | None
    signed_qty: int
    iv: float
    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0

    @property
    def is_stock(self) -> bool:
        return self.right is None

    def share_greeks(self) -> Greeks:
        """Share-equivalent greeks of the whole leg (see :class:`agent.domain.Greeks`)."""
        if self.is_stock:
            return Greeks(delta=float(self.signed_qty))
        shares = float(self.signed_qty * CONTRACT_MULTIPLIER)
        return Greeks(
            delta=self.delta * shares,
            gamma=self.gamma * shares,
            theta=theta_per_day(self.theta) * shares,
            vega=vega_per_vol_point(self.vega) * shares,
        )

    def scaled(self, units: int) -> ExposureLeg:
        return ExposureLeg(
            symbol=self.symbol,
            right=self.right,
            strike=self.strike,
            expiry=self.expiry,
            signed_qty=self.signed_qty * units,
            iv=self.iv,
            delta=self.delta,
            gamma=self.gamma,
            theta=self.theta,
            vega=self.vega,
        )


def _usable_iv(iv: float) -> bool:
    return math.isfinite(iv) and iv > 0.0


def leg_from_mark(leg: LegMark, *, fallback_iv: float | None) -> ExposureLeg | None:
    """The stress leg of a marked leg; None if an option leg has no usable IV and no fallback."""
    iv = leg.iv
    if leg.right is not None and not _usable_iv(iv):
        if fallback_iv is None:
            return None
        iv = fallback_iv
    return ExposureLeg(
        symbol=leg.symbol,
        right=leg.right,
        strike=leg.strike,
        expiry=leg.expiry,
        signed_qty=leg.qty * leg.side.sign,
        iv=iv if leg.right is not None else 0.0,
        delta=leg.delta if math.isfinite(leg.delta) else 0.0,
        gamma=leg.gamma if math.isfinite(leg.gamma) else 0.0,
        theta=leg.theta if math.isfinite(leg.theta) else 0.0,
        vega=leg.vega if math.isfinite(leg.vega) else 0.0,
    )


def mark_legs(legs: Sequence[LegMark]) -> tuple[ExposureLeg, ...] | None:
    """Stress legs of a trade's marked legs. A leg without a usable IV borrows the mean IV of
    the trade's other legs (same underlying, same expiry cycle); None if none has one."""
    ivs = [leg.iv for leg in legs if leg.right is not None and _usable_iv(leg.iv)]
    fallback = sum(ivs) / len(ivs) if ivs else None
    out: list[ExposureLeg] = []
    for leg in legs:
        converted = leg_from_mark(leg, fallback_iv=fallback)
        if converted is None:
            return None
        out.append(converted)
    return tuple(out)


def candidate_legs(candidate: Candidate) -> tuple[ExposureLeg, ...] | None:
    """Stress legs of ONE unit of a candidate; None if an option leg has no usable IV."""
    ivs = [leg.iv for leg in candidate.legs if _usable_iv(leg.iv)]
    fallback = sum(ivs) / len(ivs) if ivs else None
    out: list[ExposureLeg] = []
    for leg in candidate.legs:
        iv = leg.iv if _usable_iv(leg.iv) else fallback
        if iv is None:
            return None
        out.append(
            ExposureLeg(
                symbol=leg.symbol,
                right=leg.contract.right,
                strike=float(leg.contract.strike),
                expiry=leg.contract.expiry,
                signed_qty=leg.ratio * leg.side.sign,
                iv=iv,
                delta=leg.delta if math.isfinite(leg.delta) else 0.0,
                gamma=leg.gamma if math.isfinite(leg.gamma) else 0.0,
                theta=leg.theta if math.isfinite(leg.theta) else 0.0,
                vega=leg.vega if math.isfinite(leg.vega) else 0.0,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookGreeks:
    """Greeks on the book's common scale: delta and gamma in SPY share-equivalents
    (beta-weighted), theta USD per day, vega USD per vol point."""

    beta_delta_shares: float = 0.0
    gamma_shares: float = 0.0
    theta_usd: float = 0.0
    vega_usd: float = 0.0

    def __add__(self, other: BookGreeks) -> BookGreeks:
        return BookGreeks(
            beta_delta_shares=self.beta_delta_shares + other.beta_delta_shares,
            gamma_shares=self.gamma_shares + other.gamma_shares,
            theta_usd=self.theta_usd + other.theta_usd,
            vega_usd=self.vega_usd + other.vega_usd,
        )

    def __sub__(self, other: BookGreeks) -> BookGreeks:
        return self + other.scaled(-1.0)

    def scaled(self, factor: float) -> BookGreeks:
        return BookGreeks(
            beta_delta_shares=self.beta_delta_shares * factor,
            gamma_shares=self.gamma_shares * factor,
            theta_usd=self.theta_usd * factor,
            vega_usd=self.vega_usd * factor,
        )


def beta_weighted(
    greeks: Greeks, *, beta: float, spot: float, reference_spot: float | None
) -> BookGreeks:
    """One trade's greeks on the book scale (see the module docstring).

    Example: delta 100 shares, gamma 10 shares/USD of an underlying at $250 with beta 1.2,
    SPY at $500: factor = 1.2 × 250 / 500 = 0.6 → 60 SPY delta shares, 3.6 SPY gamma shares.
    """
    if reference_spot is not None and reference_spot > 0 and math.isfinite(spot) and spot > 0:
        factor = beta * spot / reference_spot
    else:
        factor = beta
    return BookGreeks(
        beta_delta_shares=_finite(greeks.delta) * factor,
        gamma_shares=_finite(greeks.gamma) * factor * factor,
        theta_usd=_finite(greeks.theta),
        vega_usd=_finite(greeks.vega),
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One stress scenario: spot move and relative vol move, in percent."""

    spot_shock_pct: float
    vol_shock_pct: float

    @property
    def name(self) -> str:
        return f"spot {self.spot_shock_pct:+g}% vol {self.vol_shock_pct:+g}%"


def stress_scenarios(settings: RiskSettings) -> tuple[Scenario, ...]:
    """Every spot shock and the vol shock alone and combined (the unshocked state excluded).

    Defaults: spot −10 % and +10 %, vol +50 % → five scenarios: each spot shock alone,
    the vol shock alone, and each spot shock with the vol shock.
    """
    spot_shocks = [0.0, *sorted({float(s) for s in settings.stress_spot_shocks_pct if s != 0})]
    vol_shocks = [0.0] + ([settings.stress_vol_shock_pct] if settings.stress_vol_shock_pct else [])
    return tuple(
        Scenario(spot_shock_pct=spot, vol_shock_pct=vol)
        for vol in vol_shocks
        for spot in spot_shocks
        if not (spot == 0.0 and vol == 0.0)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StressPosition:
    """Legs on one underlying at one spot, moved by ``beta`` × the scenario's spot shock."""

    underlying: str
    spot: float
    beta: float
    legs: tuple[ExposureLeg, ...]


def stress_pnl_usd(
    positions: Sequence[StressPosition],
    scenarios: Sequence[Scenario],
    *,
    at: datetime,
    calendar: MarketCalendar,
    rate: float,
    dividend_yields: Mapping[str, float],
) -> tuple[float, ...]:
    """P&L in USD of ``positions`` in each scenario (negative = loss), in scenario order.

    Worked example: short one 100-strike put at spot 100, 30 days, IV 20 %, r 4 %, no
    dividend: base price ≈ $2.12; at spot 90 it is ≈ $9.75, so the "spot −10 %" P&L is
    ≈ −(9.75 − 2.12) × 100 ≈ −$763 for that contract.
    """
    if not scenarios:
        return ()
    spot_shock = np.array([s.spot_shock_pct / 100.0 for s in scenarios])
    vol_mult = np.array([1.0 + s.vol_shock_pct / 100.0 for s in scenarios])
    pnl = np.zeros(len(scenarios))

    spots: list[float] = []
    strikes: list[float] = []
    years: list[float] = []
    yields: list[float] = []
    vols: list[float] = []
    calls: list[bool] = []
    betas: list[float] = []
    multipliers: list[float] = []
    for position in positions:
        for leg in position.legs:
            if leg.is_stock:
                moved = np.maximum(position.beta * spot_shock, MIN_SHOCKED_SPOT_FRACTION - 1.0)
                pnl += leg.signed_qty * position.spot * moved
                continue
            if leg.strike is None or leg.expiry is None:
                continue
            spots.append(position.spot)
            strikes.append(leg.strike)
            years.append(calendar.time_to_expiry_years(at, leg.expiry))
            yields.append(dividend_yields.get(position.underlying, 0.0))
            vols.append(leg.iv)
            calls.append(leg.right is OptionRight.CALL)
            betas.append(position.beta)
            multipliers.append(float(leg.signed_qty * CONTRACT_MULTIPLIER))
    if spots:
        spot = np.array(spots)
        strike = np.array(strikes)
        t_years = np.array(years)
        div = np.array(yields)
        vol = np.array(vols)
        is_call = np.array(calls)
        beta = np.array(betas)
        base = bs_price(spot, strike, t_years, rate, div, vol, is_call)
        move = np.maximum(1.0 + beta[None, :] * spot_shock[:, None], MIN_SHOCKED_SPOT_FRACTION)
        shocked = bs_price(
            spot[None, :] * move,
            strike[None, :],
            t_years[None, :],
            rate,
            div[None, :],
            vol[None, :] * vol_mult[:, None],
            is_call[None, :],
        )
        pnl += ((shocked - base[None, :]) * np.array(multipliers)[None, :]).sum(axis=1)
    return tuple(float(x) for x in pnl)

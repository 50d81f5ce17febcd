"""Selection and candidate assembly shared by the strategies.

Prices: a leg sold is valued at its bid rounded down to the cent, a leg bought at its ask
rounded up (the natural, conservative price); the mid net price is computed exactly from
the cent quotes and rounded toward less credit. Net prices are signed per share (negative =
a credit); USD amounts are per structure unit (×100).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from agent.domain import (
    CONTRACT_MULTIPLIER,
    Candidate,
    CandidateLeg,
    Greeks,
    OptionContract,
    OrderPurpose,
    PositionIntent,
    Reason,
    Side,
    StructureKind,
    parse_occ,
)
from agent.pricing.enriched import EnrichedChain
from agent.pricing.units import theta_per_day, vega_per_vol_point
from agent.strategies import model, scoring
from agent.strategies.base import STRIKE_TOLERANCE_USD, ExpirySlice, IntArray, StrategyContext
from agent.strategies.records import band, digest, fmt

CENT = Decimal("0.01")
MULTIPLIER = Decimal(CONTRACT_MULTIPLIER)


def to_decimal(value: float) -> Decimal:
    """The shortest decimal that round-trips the float (1.05 -> Decimal('1.05'))."""
    return Decimal(repr(float(value)))


def leg_price(price: float, side: Side) -> Decimal:
    """A quote in cents: what we receive rounds down, what we pay rounds up."""
    return to_decimal(price).quantize(
        CENT, rounding=ROUND_FLOOR if side is Side.SELL else ROUND_CEILING
    )


@dataclass(frozen=True, slots=True)
class LegPick:
    """A chain row chosen as a leg, bought or sold (one contract per unit)."""

    row: int
    side: Side


def net_prices(chain: EnrichedChain, picks: Sequence[LegPick]) -> tuple[Decimal, Decimal]:
    """(natural, mid) signed net prices per share of opening ``picks`` (negative = credit)."""
    bid, ask = chain.chain.bid, chain.chain.ask
    natural = Decimal(0)
    mid = Decimal(0)
    for pick in picks:
        b, a = float(bid[pick.row]), float(ask[pick.row])
        if pick.side is Side.BUY:
            natural += leg_price(a, Side.BUY)
        else:
            natural -= leg_price(b, Side.SELL)
        mid += pick.side.sign * (to_decimal(b) + to_decimal(a)) / 2
    return natural, mid.quantize(CENT, rounding=ROUND_CEILING)


def short_rows_in_band(
    chain: EnrichedChain,
    ctx: StrategyContext,
    slice_: ExpirySlice,
    *,
    is_call: bool,
    delta_min: float,
    delta_max: float,
    delta_target: float,
) -> tuple[IntArray, Reason]:
    """Eligible rows of this expiry whose delta lies in [delta_min, delta_max], best first
    (closest to the target; ties go further out of the money), and the reason describing it."""
    rows = slice_.rows(is_call)
    right = "calls" if is_call else "puts"
    limit = band(delta_min, delta_max)
    if len(rows) == 0:
        return rows, Reason(
            rule="short_delta_band",
            passed=False,
            limit=limit,
            message=f"no {right} listed in {slice_.expiry}",
        )
    deltas = chain.delta[rows]
    eligible = ctx.eligible[rows]
    in_band = (deltas >= delta_min) & (deltas <= delta_max)
    chosen = rows[in_band & eligible]
    if len(chosen) == 0:
        ineligible = int(np.count_nonzero(in_band & ~eligible))
        usable = eligible & np.isfinite(deltas)
        closest: float | None = None
        if usable.any():
            candidates = deltas[usable]
            closest = float(candidates[np.argmin(np.abs(candidates - delta_target))])
        detail = (
            f"; {ineligible} {right} in the band failed the contract filters" if ineligible else ""
        )
        shown = "none eligible" if closest is None else f"closest eligible delta {fmt(closest)}"
        return chosen, Reason(
            rule="short_delta_band",
            passed=False,
            value=None if closest is None else round(closest, 4),
            limit=limit,
            message=f"no eligible {right} with delta in {limit} on {slice_.expiry} ({shown}){detail}",
        )
    strikes = chain.chain.strike[chosen]
    distance = np.abs(chain.delta[chosen] - delta_target)
    order = np.lexsort((-strikes if is_call else strikes, distance))
    best = chosen[order]
    return best, Reason(
        rule="short_delta_band",
        passed=True,
        value=round(float(chain.delta[best[0]]), 4),
        limit=limit,
        message=f"{len(best)} eligible {right} in the band",
    )


def wing_rows(
    slice_: ExpirySlice, *, is_call: bool, short_strike: float, width_min: float, width_max: float
) -> list[tuple[int, float]]:
    """Listed contracts ``width_min``..``width_max`` USD further out of the money than the
    short strike (below it for puts, above for calls): ``(row, width)`` narrowest first."""
    strikes = slice_.strikes(is_call)
    rows = slice_.rows(is_call)
    widths = (strikes - short_strike) if is_call else (short_strike - strikes)
    tol = STRIKE_TOLERANCE_USD
    ok = (widths >= width_min - tol) & (widths <= width_max + tol)
    picked = np.flatnonzero(ok)
    order = picked[np.argsort(widths[picked], kind="stable")]
    return [(int(rows[i]), float(widths[i])) for i in order]


@dataclass(frozen=True, slots=True, kw_only=True)
class Vertical:
    """A credit vertical (short closer to the money, long further out): per-share values."""

    short_row: int
    long_row: int
    short_strike: float
    long_strike: float
    width: Decimal
    natural: Decimal
    """Signed net price (negative = credit)."""
    mid: Decimal

    @property
    def credit(self) -> Decimal:
        """Natural credit per share."""
        return -self.natural

    @property
    def picks(self) -> tuple[LegPick, LegPick]:
        return (LegPick(self.short_row, Side.SELL), LegPick(self.long_row, Side.BUY))


def first_vertical(
    chain: EnrichedChain,
    ctx: StrategyContext,
    slice_: ExpirySlice,
    *,
    is_call: bool,
    short_row: int,
    width_min: float,
    width_max: float,
    min_credit: Decimal | None = None,
    min_credit_usd: float = 0.0,
) -> tuple[Vertical | None, list[Reason]]:
    """The narrowest valid vertical for this short leg, and why narrower ones failed.

    Valid: the wing is listed, has a valid quote, 0 < natural credit < width (mid too), and
    the natural credit reaches ``min_credit`` when one is given (``min_credit_usd`` is the
    configured value, for the reason's limit).
    """
    strike = float(chain.chain.strike[short_row])
    right = "call" if is_call else "put"
    wings = wing_rows(
        slice_, is_call=is_call, short_strike=strike, width_min=width_min, width_max=width_max
    )
    if not wings:
        where = "above" if is_call else "below"
        return None, [
            Reason(
                rule="long_strike_listed",
                passed=False,
                value=strike,
                limit=band(width_min, width_max),
                message=(
                    f"no listed {right} {fmt(width_min)}-{fmt(width_max)} USD {where} the "
                    f"{fmt(strike)} short on {slice_.expiry}"
                ),
            )
        ]
    failures: list[Reason] = []
    short_dec = to_decimal(strike)
    for long_row, _width in wings:
        long_strike = float(chain.chain.strike[long_row])
        if not ctx.quotable[long_row]:
            problems = ", ".join(chain.reasons_for(long_row)) or "filtered"
            failures.append(
                Reason(
                    rule="long_leg_quote",
                    passed=False,
                    value=long_strike,
                    message=(
                        f"{_label(strike, long_strike, right)}: the long leg has no valid "
                        f"quote ({problems})"
                    ),
                )
            )
            continue
        natural, mid = net_prices(
            chain, (LegPick(short_row, Side.SELL), LegPick(long_row, Side.BUY))
        )
        width = abs(short_dec - to_decimal(long_strike))
        credit = -natural
        if credit <= 0:
            failures.append(
                Reason(
                    rule="positive_credit",
                    passed=False,
                    value=float(credit),
                    limit=0.0,
                    message=(
                        f"{_label(strike, long_strike, right)}: natural credit {credit} is not "
                        f"positive (mid {-mid})"
                    ),
                )
            )
            continue
        if credit >= width or -mid >= width:
            failures.append(
                Reason(
                    rule="credit_below_width",
                    passed=False,
                    value=float(credit),
                    limit=float(width),
                    message=(
                        f"{_label(strike, long_strike, right)}: credit {credit} (mid {-mid}) "
                        f"is not below the width {width}"
                    ),
                )
            )
            continue
        if min_credit is not None and credit < min_credit:
            failures.append(
                Reason(
                    rule="min_credit",
                    passed=False,
                    value=float(credit),
                    limit=min_credit_usd,
                    message=(
                        f"{_label(strike, long_strike, right)}: natural credit {credit} < "
                        f"{fmt(min_credit_usd)} (mid {-mid})"
                    ),
                )
            )
            continue
        return Vertical(
            short_row=short_row,
            long_row=long_row,
            short_strike=strike,
            long_strike=long_strike,
            width=width,
            natural=natural,
            mid=mid,
        ), failures
    return None, failures


def _label(short_strike: float, long_strike: float, right: str) -> str:
    return f"{fmt(short_strike)}/{fmt(long_strike)} {right} spread"


def ev_sigma(ctx: StrategyContext, leg_ivs: Sequence[float]) -> tuple[float, str]:
    """The vol for expected value: realized vol when known, else ATM IV, else the legs' IV."""
    if math.isfinite(ctx.realized_vol) and ctx.realized_vol > 0.0:
        return ctx.realized_vol, "realized_vol"
    if math.isfinite(ctx.atm_iv) and ctx.atm_iv > 0.0:
        return ctx.atm_iv, "atm_iv"
    finite = [v for v in leg_ivs if math.isfinite(v) and v > 0.0]
    return (sum(finite) / len(finite), "leg_iv") if finite else (math.nan, "none")


@functools.lru_cache(maxsize=8192)
def occ_symbol(contract: OptionContract) -> str:
    """``contract.symbol`` (formatted on every access), memoised for the hot path."""
    return contract.symbol


@functools.lru_cache(maxsize=8192)
def contract_of(symbol: str) -> OptionContract:
    """The contract of an OCC symbol (memoised; DataError when malformed, not cached)."""
    return parse_occ(symbol)


def make_leg(chain: EnrichedChain, pick: LegPick) -> CandidateLeg:
    """A candidate leg from a chain row (quotes, IV and greeks in kernel units)."""
    i = pick.row
    raw = chain.chain
    bid, ask = float(raw.bid[i]), float(raw.ask[i])
    return CandidateLeg(
        contract=contract_of(str(raw.symbol[i])),
        side=pick.side,
        position_intent=(
            PositionIntent.BUY_TO_OPEN if pick.side is Side.BUY else PositionIntent.SELL_TO_OPEN
        ),
        bid=bid,
        ask=ask,
        mid=float(chain.mid[i]),
        iv=float(chain.iv[i]),
        delta=float(chain.delta[i]),
        gamma=float(chain.gamma[i]),
        theta=float(chain.theta[i]),
        vega=float(chain.vega[i]),
        open_interest=float(raw.open_interest[i]),
        volume=float(raw.volume[i]),
        liquidity_score=float(chain.liquidity[i]),
    )


def position_greeks(legs: Sequence[CandidateLeg]) -> Greeks:
    """Share-equivalent greeks of one unit: delta shares, gamma shares/USD, theta USD/day,
    vega USD per vol point (×100 multiplier, short legs negative)."""
    delta = gamma = theta = vega = 0.0
    for leg in legs:
        q = -leg.ratio if leg.side is Side.SELL else leg.ratio
        delta += q * leg.delta
        gamma += q * leg.gamma
        theta += q * theta_per_day(leg.theta)
        vega += q * vega_per_vol_point(leg.vega)
    m = float(CONTRACT_MULTIPLIER)
    return Greeks(delta=delta * m, gamma=gamma * m, theta=theta * m, vega=vega * m)


def candidate_id(
    *,
    underlying: str,
    kind: StructureKind,
    purpose: OrderPurpose,
    legs: Sequence[CandidateLeg],
    ctx: StrategyContext,
) -> str:
    leg_text = ",".join(f"{leg.side.value}:{occ_symbol(leg.contract)}" for leg in legs)
    return "c-" + digest(
        underlying, kind.value, purpose.value, ctx.trade_id or "", leg_text, ctx.as_of.isoformat()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Economics:
    """Structure-specific numbers a strategy computes before assembly (per unit, USD)."""

    width: Decimal
    max_loss_usd: Decimal
    capital_usd: Decimal
    breakevens: tuple[float, ...]
    pop: float
    payoff_legs: tuple[model.PayoffLeg, ...]


def assemble(
    *,
    kind: StructureKind,
    chain: EnrichedChain,
    ctx: StrategyContext,
    slice_: ExpirySlice,
    picks: Sequence[LegPick],
    natural: Decimal,
    mid: Decimal,
    economics: Economics,
    reasons: Sequence[Reason],
) -> Candidate:
    """Build the scored candidate: legs, prices, EV, greeks, liquidity, id."""
    legs = tuple(make_leg(chain, p) for p in picks)
    credit = -natural
    sigma, sigma_source = ev_sigma(ctx, [leg.iv for leg in legs])
    ev_per_share = model.expected_value_per_share(
        economics.payoff_legs,
        credit=float(credit),
        spot=chain.spot,
        years=slice_.years,
        rate=chain.rate,
        dividend_yield=chain.dividend_yield,
        sigma=sigma,
    )
    ev_usd = ev_per_share * CONTRACT_MULTIPLIER
    liquidity = min(leg.liquidity_score for leg in legs)
    max_loss = economics.max_loss_usd
    credit_usd = credit * MULTIPLIER
    all_reasons = (
        *reasons,
        Reason(
            rule="expected_value",
            passed=True,
            value=round(ev_usd, 2) if math.isfinite(ev_usd) else None,
            message=f"EV {ev_usd:.2f} USD at {sigma_source} {fmt(sigma)}",
        ),
    )
    purpose = ctx.purpose
    cid = candidate_id(underlying=ctx.underlying, kind=kind, purpose=purpose, legs=legs, ctx=ctx)
    return Candidate(
        candidate_id=cid,
        underlying=ctx.underlying,
        strategy=kind,
        as_of=ctx.as_of,
        expiry=slice_.expiry,
        dte=slice_.dte,
        legs=legs,
        spot=chain.spot,
        net_price_natural=natural,
        net_price_mid=mid,
        credit_usd=credit_usd,
        width=economics.width,
        max_loss_usd=max_loss,
        max_profit_usd=credit_usd,
        capital_usd=economics.capital_usd,
        breakevens=economics.breakevens,
        pop=economics.pop,
        expected_value_usd=ev_usd,
        return_on_risk=float(credit_usd / max_loss) if max_loss > 0 else math.inf,
        greeks=position_greeks(legs),
        liquidity_score=liquidity,
        iv_rank=ctx.iv_rank,
        score=scoring.score(
            expected_value_usd=ev_usd,
            max_loss_usd=max_loss,
            liquidity=liquidity,
            iv_rank=ctx.iv_rank,
        ),
        reasons=all_reasons,
        purpose=purpose,
        sector=ctx.sector,
    )


def candidate_metrics(candidate: Candidate) -> dict[str, float | int | str | bool | None]:
    """Key numbers of a candidate for its STRATEGY-stage record."""
    return {
        "expiry": candidate.expiry.isoformat(),
        "dte": candidate.dte,
        "legs": " ".join(f"{leg.side.value}:{occ_symbol(leg.contract)}" for leg in candidate.legs),
        "net_price_natural": str(candidate.net_price_natural),
        "net_price_mid": str(candidate.net_price_mid),
        "credit_usd": str(candidate.credit_usd),
        "max_loss_usd": str(candidate.max_loss_usd),
        "capital_usd": str(candidate.capital_usd),
        "pop": round(candidate.pop, 4),
        "expected_value_usd": round(candidate.expected_value_usd, 2)
        if math.isfinite(candidate.expected_value_usd)
        else None,
        "return_on_risk": round(candidate.return_on_risk, 4),
        "liquidity": round(candidate.liquidity_score, 2),
        "score": round(candidate.score, 6) if math.isfinite(candidate.score) else None,
        "delta_shares": round(candidate.greeks.delta, 2),
        "theta_usd_day": round(candidate.greeks.theta, 2),
        "vega_usd_pt": round(candidate.greeks.vega, 2),
    }

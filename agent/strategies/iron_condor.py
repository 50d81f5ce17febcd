"""Iron condor: a put credit spread and a call credit spread on the same expiry.

Short put delta in [put_delta_min, put_delta_max], short call delta in [call_delta_min,
call_delta_max] (each side aims at the middle of its band), wings exactly
``wing_width_usd`` further out (listed strikes only). Total natural credit must reach
``min_credit_usd`` and each side must be a credit. Max loss = (max(put width, call width) −
total credit) × 100 (only one side can finish in the money); breakevens = short put −
credit and short call + credit.

Exits add the breach rule (``close_on_breach`` / ``roll_tested_side``); a roll re-opens
only the tested side (a put or call credit spread at a later expiry).
"""

from __future__ import annotations

import math

from agent.config import IronCondorSettings, UniverseSettings
from agent.domain import (
    Candidate,
    ExitReason,
    ExitSignal,
    OptionRight,
    Reason,
    Side,
    StructureKind,
    Trade,
    TradeMark,
)
from agent.pricing.enriched import EnrichedChain
from agent.strategies import model
from agent.strategies.base import ExpirySlice, StrategyContext
from agent.strategies.bull_put_spread import vertical_economics
from agent.strategies.common import (
    MULTIPLIER,
    Economics,
    Vertical,
    assemble,
    first_vertical,
    net_prices,
    short_rows_in_band,
    to_decimal,
)
from agent.strategies.credit import CreditStrategy, short_itm_side
from agent.strategies.records import band, fmt


class IronCondor(CreditStrategy):
    kind = StructureKind.IRON_CONDOR

    def __init__(
        self, settings: IronCondorSettings, universe: UniverseSettings | None = None
    ) -> None:
        super().__init__(
            settings,
            dte_min=settings.dte_min,
            dte_max=settings.dte_max,
            dte_target=settings.dte_target,
            earnings_blackout=True if universe is None else universe.earnings_blackout,
        )
        self.settings = settings
        self.min_credit = to_decimal(settings.min_credit_usd)

    def _band(self, is_call: bool) -> tuple[float, float, float]:
        s = self.settings
        lo, hi = (
            (s.call_delta_min, s.call_delta_max) if is_call else (s.put_delta_min, s.put_delta_max)
        )
        return lo, hi, (lo + hi) / 2.0

    def _side(
        self, chain: EnrichedChain, ctx: StrategyContext, slice_: ExpirySlice, *, is_call: bool
    ) -> _Side:
        lo, hi, target = self._band(is_call)
        return _Side(
            chain,
            ctx,
            slice_,
            is_call=is_call,
            delta_band=(lo, hi, target),
            wing_usd=self.settings.wing_width_usd,
        )

    def _build(
        self,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
        *,
        opening: bool,
    ) -> tuple[Candidate | None, list[Reason]]:
        puts = self._side(chain, ctx, slice_, is_call=False)
        calls = self._side(chain, ctx, slice_, is_call=True)
        if puts.get(0) is None or calls.get(0) is None:
            return None, puts.reasons() + calls.reasons()
        best_total = None
        tried = 0
        inverted = 0
        # Pairs in order of preference: the sum of the two shorts' ranks, then the put's.
        for rank_sum in range(len(puts.shorts) + len(calls.shorts) - 1):
            for i in range(rank_sum + 1):
                put_side, call_side = puts.get(i), calls.get(rank_sum - i)
                if put_side is None or call_side is None:
                    continue
                if put_side.short_strike >= call_side.short_strike:
                    inverted += 1
                    continue
                tried += 1
                total = put_side.credit + call_side.credit
                if total >= max(put_side.width, call_side.width):
                    continue  # not with valid sides of equal width; guards max loss > 0
                if opening and total < self.min_credit:
                    best_total = total if best_total is None else max(best_total, total)
                    continue
                candidate = self._candidate(
                    chain, ctx, slice_, put_side, call_side, opening=opening
                )
                return candidate, []
        reasons = puts.reasons() + calls.reasons()
        if best_total is not None:
            reasons.append(
                Reason(
                    rule="min_credit",
                    passed=False,
                    value=float(best_total),
                    limit=self.settings.min_credit_usd,
                    message=(
                        f"best total natural credit {best_total} < "
                        f"{fmt(self.settings.min_credit_usd)} ({tried} put/call pairs tried)"
                    ),
                )
            )
        if inverted:
            reasons.append(
                Reason(
                    rule="strikes_ordered",
                    passed=False,
                    value=inverted,
                    message=f"{inverted} pairs had the short put at or above the short call",
                )
            )
        return None, reasons

    def _candidate(
        self,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
        put_side: Vertical,
        call_side: Vertical,
        *,
        opening: bool,
    ) -> Candidate:
        s = self.settings
        picks = (*put_side.picks, *call_side.picks)
        natural, mid = net_prices(chain, picks)
        total = -natural
        width = max(put_side.width, call_side.width)
        max_loss = (width - total) * MULTIPLIER
        lower = put_side.short_strike - float(total)
        upper = call_side.short_strike + float(total)
        put_ivs = [
            (put_side.short_strike, float(chain.iv[put_side.short_row])),
            (put_side.long_strike, float(chain.iv[put_side.long_row])),
        ]
        call_ivs = [
            (call_side.short_strike, float(chain.iv[call_side.short_row])),
            (call_side.long_strike, float(chain.iv[call_side.long_row])),
        ]
        pop = model.prob_profit_between(
            lower,
            upper,
            spot=chain.spot,
            years=slice_.years,
            rate=chain.rate,
            dividend_yield=chain.dividend_yield,
            iv_lower=model.interpolate_iv(put_ivs, lower),
            iv_upper=model.interpolate_iv(call_ivs, upper),
        )
        economics = Economics(
            width=width,
            max_loss_usd=max_loss,
            capital_usd=max_loss,
            breakevens=(lower, upper),
            pop=pop,
            payoff_legs=(
                model.PayoffLeg(strike=put_side.short_strike, is_call=False, quantity=-1),
                model.PayoffLeg(strike=put_side.long_strike, is_call=False, quantity=1),
                model.PayoffLeg(strike=call_side.short_strike, is_call=True, quantity=-1),
                model.PayoffLeg(strike=call_side.long_strike, is_call=True, quantity=1),
            ),
        )
        put_lo, put_hi, _ = self._band(False)
        call_lo, call_hi, _ = self._band(True)
        reasons = [
            self._dte_reason(slice_),
            self._earnings_reason(ctx, slice_),
            Reason(
                rule="put_delta_band",
                passed=True,
                value=round(float(chain.delta[put_side.short_row]), 4),
                limit=band(put_lo, put_hi),
                message=f"short {fmt(put_side.short_strike)} put, long {fmt(put_side.long_strike)}",
            ),
            Reason(
                rule="call_delta_band",
                passed=True,
                value=round(float(chain.delta[call_side.short_row]), 4),
                limit=band(call_lo, call_hi),
                message=f"short {fmt(call_side.short_strike)} call, long {fmt(call_side.long_strike)}",
            ),
            Reason(
                rule="wing_width",
                passed=True,
                value=float(width),
                limit=s.wing_width_usd,
                message="both wings listed at the configured width, same expiry",
            ),
            Reason(
                rule="put_side",
                passed=True,
                value=float(put_side.credit),
                message=(
                    f"put side credit {put_side.credit}, max loss alone "
                    f"{(put_side.width - put_side.credit) * MULTIPLIER} USD"
                ),
            ),
            Reason(
                rule="call_side",
                passed=True,
                value=float(call_side.credit),
                message=(
                    f"call side credit {call_side.credit}, max loss alone "
                    f"{(call_side.width - call_side.credit) * MULTIPLIER} USD"
                ),
            ),
            Reason(
                rule="min_credit" if opening else "positive_credit",
                passed=True,
                value=float(total),
                limit=s.min_credit_usd if opening else 0.0,
                message=f"total natural credit {total}, mid {-mid}",
            ),
        ]
        return assemble(
            kind=self.kind,
            chain=chain,
            ctx=ctx,
            slice_=slice_,
            picks=picks,
            natural=natural,
            mid=mid,
            economics=economics,
            reasons=reasons,
        )

    # ------------------------------------------------------------------ exits and rolls

    def _breach_rule(
        self, mark: TradeMark, dte: int | None, itm: OptionRight | None
    ) -> tuple[ExitSignal | None, bool] | None:
        s = self.settings
        if itm is None or not (s.close_on_breach or s.roll_tested_side):
            return None
        if dte is not None and dte < s.roll_dte:
            return None  # inside the expiry window: the expiry rule decides (roll if threatened)
        strike = mark.short_put_strike if itm is OptionRight.PUT else mark.short_call_strike
        roll = s.roll_tested_side and (dte is None or dte >= 0)
        action = "roll the tested side" if roll else "close"
        return ExitSignal(
            reason=ExitReason.BREACH,
            detail=(
                f"spot {fmt(mark.spot)} breached the short {itm.value} strike "
                f"{fmt(strike if strike is not None else math.nan)}; {action}"
            ),
        ), roll

    def _roll_try(
        self,
        trade: Trade,
        mark: TradeMark,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
    ) -> tuple[Candidate | None, list[Reason]]:
        reasons = [self._dte_reason(slice_)]
        earnings = self._earnings_reason(ctx, slice_)
        if not earnings.passed:
            return None, [*reasons, earnings]
        is_call = tested_side(mark) is OptionRight.CALL
        side = self._side(chain, ctx, slice_, is_call=is_call)
        vertical = side.get(0)
        if vertical is None:
            return None, reasons + side.reasons()
        lo, hi, _ = self._band(is_call)
        right = "call" if is_call else "put"
        candidate = assemble(
            kind=self.kind,
            chain=chain,
            ctx=ctx,
            slice_=slice_,
            picks=vertical.picks,
            natural=vertical.natural,
            mid=vertical.mid,
            economics=vertical_economics(chain, slice_, vertical, is_call=is_call),
            reasons=[
                *reasons,
                earnings,
                Reason(
                    rule=f"{right}_delta_band",
                    passed=True,
                    value=round(float(chain.delta[vertical.short_row]), 4),
                    limit=band(lo, hi),
                    message=f"tested {right} side re-opened at {fmt(vertical.short_strike)}/{fmt(vertical.long_strike)}",
                ),
                Reason(
                    rule="positive_credit",
                    passed=True,
                    value=float(vertical.credit),
                    limit=0.0,
                    message=f"natural credit {vertical.credit}, mid {-vertical.mid}",
                ),
            ],
        )
        return candidate, []


class _Side:
    """The valid verticals of one side of a condor, built on demand, best short first
    (the first pair usually passes, so most shorts in the band are never priced)."""

    def __init__(
        self,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
        *,
        is_call: bool,
        delta_band: tuple[float, float, float],
        wing_usd: float,
    ) -> None:
        lo, hi, target = delta_band
        self.shorts, self.band_reason = short_rows_in_band(
            chain, ctx, slice_, is_call=is_call, delta_min=lo, delta_max=hi, delta_target=target
        )
        self._args = (chain, ctx, slice_)
        self._is_call = is_call
        self._wing = wing_usd
        self._next = 0
        self.valid: list[Vertical] = []
        self.failures: list[Reason] = []

    def get(self, i: int) -> Vertical | None:
        """The ``i``-th valid vertical (None when there are fewer)."""
        chain, ctx, slice_ = self._args
        while len(self.valid) <= i and self._next < len(self.shorts):
            row = int(self.shorts[self._next])
            self._next += 1
            vertical, why = first_vertical(
                chain,
                ctx,
                slice_,
                is_call=self._is_call,
                short_row=row,
                width_min=self._wing,
                width_max=self._wing,
            )
            self.failures.extend(why)
            if vertical is not None:
                self.valid.append(vertical)
        return self.valid[i] if i < len(self.valid) else None

    def reasons(self) -> list[Reason]:
        if self.valid or not self.band_reason.passed:
            return [self.band_reason]
        return [self.band_reason, *self.failures]


def tested_side(mark: TradeMark) -> OptionRight:
    """The side under pressure: the breached one, else the short with the larger |delta|."""
    itm = short_itm_side(mark)
    if itm is not None:
        return itm
    worst = OptionRight.PUT
    worst_delta = -1.0
    for leg in mark.legs:
        if (
            leg.side is Side.SELL
            and leg.right is not None
            and math.isfinite(leg.delta)
            and abs(leg.delta) > worst_delta
        ):
            worst, worst_delta = leg.right, abs(leg.delta)
    return worst

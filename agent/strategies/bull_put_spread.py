"""Bull put spread: sell a put at the delta band, buy a listed put 5-10 USD lower.

Per expiry (nearest the DTE target first): short puts in [short_delta_min, short_delta_max]
closest to ``short_delta_target``; for each, the narrowest listed long strike within
[width_min_usd, width_max_usd] below it whose natural credit (short bid − long ask) reaches
``min_credit_usd``. Max loss = (width − credit) × 100; breakeven = short strike − credit.
"""

from __future__ import annotations

from agent.config import BullPutSpreadSettings, UniverseSettings
from agent.domain import Candidate, Reason, StructureKind
from agent.pricing.enriched import EnrichedChain
from agent.strategies import model
from agent.strategies.base import ExpirySlice, StrategyContext
from agent.strategies.common import (
    MULTIPLIER,
    Economics,
    Vertical,
    assemble,
    first_vertical,
    short_rows_in_band,
    to_decimal,
)
from agent.strategies.credit import CreditStrategy
from agent.strategies.records import band, fmt


def vertical_economics(
    chain: EnrichedChain, slice_: ExpirySlice, vertical: Vertical, *, is_call: bool
) -> Economics:
    """Max loss, breakeven and PoP of one credit vertical (put or call side)."""
    credit = vertical.credit
    max_loss = (vertical.width - credit) * MULTIPLIER
    short_k, long_k = vertical.short_strike, vertical.long_strike
    iv_points = [
        (short_k, float(chain.iv[vertical.short_row])),
        (long_k, float(chain.iv[vertical.long_row])),
    ]
    if is_call:
        breakeven = short_k + float(credit)
        pop = 1.0 - model.prob_profit_above(
            breakeven,
            spot=chain.spot,
            years=slice_.years,
            rate=chain.rate,
            dividend_yield=chain.dividend_yield,
            iv=model.interpolate_iv(iv_points, breakeven),
        )
    else:
        breakeven = short_k - float(credit)
        pop = model.prob_profit_above(
            breakeven,
            spot=chain.spot,
            years=slice_.years,
            rate=chain.rate,
            dividend_yield=chain.dividend_yield,
            iv=model.interpolate_iv(iv_points, breakeven),
        )
    return Economics(
        width=vertical.width,
        max_loss_usd=max_loss,
        capital_usd=max_loss,
        breakevens=(breakeven,),
        pop=pop,
        payoff_legs=(
            model.PayoffLeg(strike=short_k, is_call=is_call, quantity=-1),
            model.PayoffLeg(strike=long_k, is_call=is_call, quantity=1),
        ),
    )


class BullPutSpread(CreditStrategy):
    kind = StructureKind.BULL_PUT_SPREAD

    def __init__(
        self, settings: BullPutSpreadSettings, universe: UniverseSettings | None = None
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

    def _build(
        self,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
        *,
        opening: bool,
    ) -> tuple[Candidate | None, list[Reason]]:
        s = self.settings
        shorts, band_reason = short_rows_in_band(
            chain,
            ctx,
            slice_,
            is_call=False,
            delta_min=s.short_delta_min,
            delta_max=s.short_delta_max,
            delta_target=s.short_delta_target,
        )
        reasons: list[Reason] = [band_reason]
        if not band_reason.passed:
            return None, reasons
        failures: list[Reason] = []
        for short_row in shorts.tolist():
            vertical, why = first_vertical(
                chain,
                ctx,
                slice_,
                is_call=False,
                short_row=short_row,
                width_min=s.width_min_usd,
                width_max=s.width_max_usd,
                min_credit=self.min_credit if opening else None,
                min_credit_usd=s.min_credit_usd,
            )
            failures.extend(why)
            if vertical is not None:
                return self._candidate(chain, ctx, slice_, vertical, opening=opening), reasons
        return None, reasons + failures

    def _candidate(
        self,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
        vertical: Vertical,
        *,
        opening: bool,
    ) -> Candidate:
        s = self.settings
        economics = vertical_economics(chain, slice_, vertical, is_call=False)
        reasons = [
            self._dte_reason(slice_),
            self._earnings_reason(ctx, slice_),
            Reason(
                rule="short_delta_band",
                passed=True,
                value=round(float(chain.delta[vertical.short_row]), 4),
                limit=band(s.short_delta_min, s.short_delta_max),
                message=f"short {fmt(vertical.short_strike)} put (target {fmt(s.short_delta_target)})",
            ),
            Reason(
                rule="width",
                passed=True,
                value=float(vertical.width),
                limit=band(s.width_min_usd, s.width_max_usd),
                message=f"long {fmt(vertical.long_strike)} put, listed",
            ),
            Reason(
                rule="min_credit" if opening else "positive_credit",
                passed=True,
                value=float(vertical.credit),
                limit=s.min_credit_usd if opening else 0.0,
                message=f"natural credit {vertical.credit}, mid {-vertical.mid}",
            ),
        ]
        return assemble(
            kind=self.kind,
            chain=chain,
            ctx=ctx,
            slice_=slice_,
            picks=vertical.picks,
            natural=vertical.natural,
            mid=vertical.mid,
            economics=economics,
            reasons=reasons,
        )


__all__ = ["BullPutSpread", "vertical_economics"]

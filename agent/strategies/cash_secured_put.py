"""Cash-secured put: sell one put at the delta band on a symbol we are willing to own.

Only the symbols in ``cash_secured_put.symbols``. Premium is the bid (rounded down to the
cent) and must reach ``min_premium_usd``. Capital held = strike × 100 − premium × 100, which
is also the max loss (the stock going to zero); breakeven = strike − premium. Assignment is
an accepted outcome (``accept_assignment``), see the exit rules in docs/signals.md.
"""

from __future__ import annotations

from agent.config import CashSecuredPutSettings, UniverseSettings
from agent.domain import (
    Candidate,
    DecisionRecord,
    ExitSignal,
    OptionRight,
    Reason,
    Side,
    StructureKind,
    TradeMark,
)
from agent.pricing.enriched import EnrichedChain
from agent.strategies import model
from agent.strategies.base import ExpirySlice, StrategyContext
from agent.strategies.common import (
    MULTIPLIER,
    Economics,
    LegPick,
    assemble,
    net_prices,
    short_rows_in_band,
    to_decimal,
)
from agent.strategies.credit import CreditStrategy
from agent.strategies.records import band, fmt


class CashSecuredPut(CreditStrategy):
    kind = StructureKind.CASH_SECURED_PUT

    def __init__(
        self, settings: CashSecuredPutSettings, universe: UniverseSettings | None = None
    ) -> None:
        super().__init__(
            settings,
            dte_min=settings.dte_min,
            dte_max=settings.dte_max,
            dte_target=settings.dte_target,
            earnings_blackout=True if universe is None else universe.earnings_blackout,
        )
        self.settings = settings
        self.symbols = frozenset(settings.symbols)
        self.min_premium = to_decimal(settings.min_premium_usd)

    def generate(
        self, chain: EnrichedChain, ctx: StrategyContext
    ) -> tuple[list[Candidate], list[DecisionRecord]]:
        if ctx.underlying not in self.symbols:
            reason = Reason(
                rule="csp_symbol_allowed",
                passed=False,
                value=ctx.underlying,
                limit=",".join(sorted(self.symbols)),
                message=f"{ctx.underlying} is not in cash_secured_put.symbols (symbols we are willing to own)",
            )
            return [], [self._record(ctx, (reason,), key="symbol")]
        return super().generate(chain, ctx)

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
        if not band_reason.passed:
            return None, [band_reason]
        failures: list[Reason] = []
        minimum = self.min_premium if opening else to_decimal(0.01)
        for row in shorts.tolist():
            pick = LegPick(row, Side.SELL)
            natural, mid = net_prices(chain, (pick,))
            premium = -natural
            strike = float(chain.chain.strike[row])
            if premium < minimum:
                failures.append(
                    Reason(
                        rule="min_premium" if opening else "positive_credit",
                        passed=False,
                        value=float(premium),
                        limit=float(minimum),
                        message=f"{fmt(strike)} put: premium at the bid {premium} < {minimum} (mid {-mid})",
                    )
                )
                continue
            strike_dec = to_decimal(strike)
            capital = (strike_dec - premium) * MULTIPLIER
            breakeven = strike - float(premium)
            pop = model.prob_profit_above(
                breakeven,
                spot=chain.spot,
                years=slice_.years,
                rate=chain.rate,
                dividend_yield=chain.dividend_yield,
                iv=float(chain.iv[row]),
            )
            economics = Economics(
                width=to_decimal(0),
                max_loss_usd=capital,
                capital_usd=capital,
                breakevens=(breakeven,),
                pop=pop,
                payoff_legs=(model.PayoffLeg(strike=strike, is_call=False, quantity=-1),),
            )
            reasons = [
                self._dte_reason(slice_),
                self._earnings_reason(ctx, slice_),
                Reason(
                    rule="csp_symbol_allowed",
                    passed=True,
                    value=ctx.underlying,
                    message="willing to own",
                ),
                Reason(
                    rule="short_delta_band",
                    passed=True,
                    value=round(float(chain.delta[row]), 4),
                    limit=band(s.short_delta_min, s.short_delta_max),
                    message=f"short {fmt(strike)} put (target {fmt(s.short_delta_target)})",
                ),
                Reason(
                    rule="min_premium" if opening else "positive_credit",
                    passed=True,
                    value=float(premium),
                    limit=float(minimum),
                    message=f"premium at the bid {premium}, mid {-mid}; capital {capital} USD",
                ),
            ]
            candidate = assemble(
                kind=self.kind,
                chain=chain,
                ctx=ctx,
                slice_=slice_,
                picks=(pick,),
                natural=natural,
                mid=mid,
                economics=economics,
                reasons=reasons,
            )
            return candidate, [band_reason]
        return None, [band_reason, *failures]

    # ------------------------------------------------------------------ exits

    def _expiry_rule(
        self, mark: TradeMark, dte: int | None, itm: OptionRight | None
    ) -> tuple[ExitSignal | None, bool]:
        # Willing owners let the put expire worthless or be assigned: closing an OTM put
        # near expiry only pays the spread, and assignment is the outcome we signed up for.
        if self.settings.accept_assignment:
            return None, False
        return super()._expiry_rule(mark, dte, itm)

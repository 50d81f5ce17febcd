"""The shared shape of the three credit strategies: expiry walk, records, exits and rolls.

A concrete strategy supplies :meth:`CreditStrategy._build`, which tries one expiry and
returns a candidate or the reasons it could not build one; everything else (DTE window,
expiry preference, the earnings blackout, the decision records and the exit/roll rules) is
here so the three behave the same way.

Exit rules, first that fires (see docs/signals.md):

1. take-profit: ``mark.captured_pct >= take_profit_pct``;
2. stop-loss: cost to close at **mid** ``>= stop_loss_multiple × credit`` (mid, because the
   natural price of a multi-leg close spikes whenever one leg's ask gaps, and a stop must not
   fire on a quote flicker; the closing order itself walks from mid toward natural);
3. breach (iron condor): spot beyond a short strike with ``dte >= roll_dte`` → BREACH when
   ``close_on_breach`` or ``roll_tested_side``; rolled when ``roll_tested_side``;
4. expiry approaching: ``dte < roll_dte`` (or expiry day with a short leg in the money) →
   roll when threatened (|short delta| >= ``threatened_delta`` or spot beyond a short
   strike), else close; a spread whose short is ITM is held instead when
   ``hold_short_itm_into_expiry``; a cash-secured put with ``accept_assignment`` is left to
   expire or be assigned.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from agent.calendar import ET
from agent.config import ExitSettings
from agent.domain import (
    Candidate,
    DecisionRecord,
    DecisionStage,
    ExitReason,
    ExitSignal,
    OptionRight,
    OrderPurpose,
    Reason,
    Side,
    StructureKind,
    Trade,
    TradeMark,
)
from agent.errors import DataError
from agent.pricing.enriched import EnrichedChain
from agent.strategies import scoring
from agent.strategies.base import ExpirySlice, StrategyContext
from agent.strategies.common import candidate_metrics
from agent.strategies.records import band, fmt, record


class CreditStrategy(ABC):
    """Base of the credit strategies; subclasses set ``kind`` and implement ``_build``."""

    kind: ClassVar[StructureKind]

    def __init__(
        self,
        exits: ExitSettings,
        *,
        dte_min: int,
        dte_max: int,
        dte_target: int,
        earnings_blackout: bool = True,
    ) -> None:
        self.exits = exits
        self.dte_min = dte_min
        self.dte_max = dte_max
        self.dte_target = dte_target
        self.earnings_blackout = earnings_blackout

    # ------------------------------------------------------------------ to implement

    @abstractmethod
    def _build(
        self,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
        *,
        opening: bool,
    ) -> tuple[Candidate | None, list[Reason]]:
        """Try one expiry. ``opening`` False builds the opening side of a roll (the entry
        credit minimum does not apply; the monitor judges the roll's net credit)."""

    # ------------------------------------------------------------------ generation

    def _preferred(self, slices: list[ExpirySlice]) -> list[ExpirySlice]:
        """Nearest the DTE target first; the earlier expiry on a tie."""
        return sorted(slices, key=lambda s: (abs(s.dte - self.dte_target), s.dte))

    def _dte_reason(self, slice_: ExpirySlice) -> Reason:
        return Reason(
            rule="dte_window",
            passed=True,
            value=slice_.dte,
            limit=band(self.dte_min, self.dte_max),
            message=f"expiry {slice_.expiry} ({slice_.dte} DTE, target {self.dte_target})",
        )

    def _earnings_reason(self, ctx: StrategyContext, slice_: ExpirySlice) -> Reason:
        day = ctx.earnings_within(slice_.expiry)
        if day is None:
            return Reason(
                rule="earnings_blackout",
                passed=True,
                message=f"no earnings through {slice_.expiry}",
            )
        return Reason(
            rule="earnings_blackout",
            passed=not self.earnings_blackout,
            value=day.isoformat(),
            limit=slice_.expiry.isoformat(),
            message=(
                f"earnings on {day} fall inside the trade's life (expiry {slice_.expiry})"
                + ("" if self.earnings_blackout else "; blackout disabled")
            ),
        )

    def _try(
        self, chain: EnrichedChain, ctx: StrategyContext, slice_: ExpirySlice, *, opening: bool
    ) -> tuple[Candidate | None, list[Reason]]:
        reasons = [self._dte_reason(slice_)]
        earnings = self._earnings_reason(ctx, slice_)
        reasons.append(earnings)
        if not earnings.passed:
            return None, reasons
        try:
            candidate, more = self._build(chain, ctx, slice_, opening=opening)
        except DataError as exc:  # a malformed OCC symbol in the chain: this expiry only
            return None, [*reasons, Reason(rule="occ_symbol", passed=False, message=str(exc))]
        return candidate, reasons + more

    def generate(
        self, chain: EnrichedChain, ctx: StrategyContext
    ) -> tuple[list[Candidate], list[DecisionRecord]]:
        """The first expiry (in order of preference) that yields a candidate, with one
        STRATEGY record per expiry tried."""
        records: list[DecisionRecord] = []
        window = ctx.index.in_window(self.dte_min, self.dte_max)
        if not window:
            dtes = ",".join(str(d) for d in ctx.index.dtes()) or "none"
            records.append(
                self._record(
                    ctx,
                    (
                        Reason(
                            rule="dte_window",
                            passed=False,
                            value=dtes,
                            limit=band(self.dte_min, self.dte_max),
                            message=f"no expiry in the DTE window (listed DTEs: {dtes})",
                        ),
                    ),
                    key="no-expiry",
                )
            )
            return [], records
        for slice_ in self._preferred(window):
            candidate, reasons = self._try(chain, ctx, slice_, opening=True)
            if candidate is None:
                records.append(
                    self._record(
                        ctx,
                        tuple(reasons),
                        key=slice_.expiry.isoformat(),
                        metrics={"expiry": slice_.expiry.isoformat(), "dte": slice_.dte},
                    )
                )
                continue
            records.append(
                self._record(
                    ctx,
                    candidate.reasons,
                    candidate_id=candidate.candidate_id,
                    metrics=candidate_metrics(candidate),
                )
            )
            return [candidate], records
        return [], records

    def _record(
        self,
        ctx: StrategyContext,
        reasons: tuple[Reason, ...],
        *,
        key: str = "",
        candidate_id: str | None = None,
        metrics: dict[str, float | int | str | bool | None] | None = None,
    ) -> DecisionRecord:
        return record(
            scan_id=ctx.scan_id,
            as_of=ctx.as_of,
            underlying=ctx.underlying,
            stage=DecisionStage.STRATEGY,
            strategy=self.kind,
            reasons=reasons,
            key=key,
            candidate_id=candidate_id,
            metrics=metrics,
        )

    # ------------------------------------------------------------------ rolls

    def roll_candidates(
        self, trade: Trade, mark: TradeMark, chain: EnrichedChain, ctx: StrategyContext
    ) -> list[Candidate]:
        """The opening side of a roll: the same structure at each later expiry in the DTE
        window (earnings blackout applies), short at the delta band, scored, best first."""
        roll_ctx = replace(ctx, purpose=OrderPurpose.ROLL, trade_id=trade.trade_id)
        current = mark.expiry
        out: list[Candidate] = []
        for slice_ in self._preferred(ctx.index.in_window(self.dte_min, self.dte_max)):
            if current is not None and slice_.expiry <= current:
                continue
            candidate, _ = self._roll_try(trade, mark, chain, roll_ctx, slice_)
            if candidate is not None:
                out.append(candidate)
        return scoring.ranked(out)

    def _roll_try(
        self,
        trade: Trade,
        mark: TradeMark,
        chain: EnrichedChain,
        ctx: StrategyContext,
        slice_: ExpirySlice,
    ) -> tuple[Candidate | None, list[Reason]]:
        return self._try(chain, ctx, slice_, opening=False)

    # ------------------------------------------------------------------ exits

    def should_exit(self, trade: Trade, mark: TradeMark, as_of: datetime) -> ExitSignal | None:
        return self._evaluate(trade, mark, as_of)[0]

    def should_roll(self, trade: Trade, mark: TradeMark, as_of: datetime) -> bool:
        return self._evaluate(trade, mark, as_of)[1]

    def _evaluate(
        self, trade: Trade, mark: TradeMark, as_of: datetime
    ) -> tuple[ExitSignal | None, bool]:
        s = self.exits
        captured = mark.captured_pct
        if math.isfinite(captured) and captured >= s.take_profit_pct:
            return ExitSignal(
                reason=ExitReason.TAKE_PROFIT,
                detail=f"captured {captured:.1f}% of the credit (take-profit at {fmt(s.take_profit_pct)}%)",
            ), False
        credit = entry_credit_per_share(trade, mark)
        cost = mark.close_net_mid
        if credit is not None and credit > 0 and cost.is_finite():
            stop = to_multiple(s.stop_loss_multiple) * credit
            if cost >= stop:
                return ExitSignal(
                    reason=ExitReason.STOP_LOSS,
                    detail=(
                        f"cost to close at mid {cost} >= {fmt(s.stop_loss_multiple)}× the "
                        f"credit {credit} ({stop})"
                    ),
                ), False
        dte = days_to_expiry(mark, as_of)
        itm = short_itm_side(mark)
        breach = self._breach_rule(mark, dte, itm)
        if breach is not None:
            return breach
        return self._expiry_rule(mark, dte, itm)

    def _breach_rule(
        self, mark: TradeMark, dte: int | None, itm: OptionRight | None
    ) -> tuple[ExitSignal | None, bool] | None:
        """A strategy-specific rule between the stop-loss and the expiry rule (None: none)."""
        return None

    def _threatened(self, mark: TradeMark, itm: OptionRight | None) -> tuple[bool, str]:
        if itm is not None:
            strike = mark.short_put_strike if itm is OptionRight.PUT else mark.short_call_strike
            return (
                True,
                f"spot {fmt(mark.spot)} beyond the short {itm.value} strike {fmt(strike or math.nan)}",
            )
        delta = mark.max_abs_short_delta
        if math.isfinite(delta) and delta >= self.exits.threatened_delta:
            return True, f"|short delta| {fmt(delta)} >= {fmt(self.exits.threatened_delta)}"
        return False, f"|short delta| {fmt(delta)} < {fmt(self.exits.threatened_delta)}, short OTM"

    def _expiry_rule(
        self, mark: TradeMark, dte: int | None, itm: OptionRight | None
    ) -> tuple[ExitSignal | None, bool]:
        if dte is None:
            return None, False
        near = dte < self.exits.roll_dte
        expiry_day_itm = dte <= 0 and itm is not None
        if not (near or expiry_day_itm):
            return None, False
        if itm is not None and self.exits.hold_short_itm_into_expiry:
            return None, False
        threatened, why = self._threatened(mark, itm)
        action = "roll" if threatened else "close"
        return ExitSignal(
            reason=ExitReason.EXPIRY_APPROACHING,
            detail=f"{dte} DTE < roll_dte {self.exits.roll_dte}: {why}; {action}",
        ), threatened


def entry_credit_per_share(trade: Trade, mark: TradeMark) -> Decimal | None:
    """The credit received per share per unit (None when unknown)."""
    if trade.entry_net_price is not None:
        return -trade.entry_net_price
    qty = mark.qty or trade.qty
    if qty > 0:
        return mark.entry_credit_usd / (qty * 100)
    return None


def to_multiple(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def days_to_expiry(mark: TradeMark, as_of: datetime) -> int | None:
    if mark.dte is not None:
        return mark.dte
    if mark.expiry is None:
        return None
    return (mark.expiry - as_of.astimezone(ET).date()).days


def short_itm_side(mark: TradeMark) -> OptionRight | None:
    """The side whose short strike spot has crossed (the mark's own verdict first)."""
    if mark.breached is not None:
        return mark.breached
    if mark.short_put_strike is not None and mark.spot < mark.short_put_strike:
        return OptionRight.PUT
    if mark.short_call_strike is not None and mark.spot > mark.short_call_strike:
        return OptionRight.CALL
    for leg in mark.legs:
        if leg.side is not Side.SELL or leg.strike is None or leg.right is None:
            continue
        if leg.right is OptionRight.PUT and mark.spot < leg.strike:
            return OptionRight.PUT
        if leg.right is OptionRight.CALL and mark.spot > leg.strike:
            return OptionRight.CALL
    return None

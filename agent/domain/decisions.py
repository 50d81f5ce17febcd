"""Candidates, the reasons behind every decision, and risk decisions as values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from agent.domain.contracts import OptionContract
from agent.domain.enums import (
    DecisionOutcome,
    DecisionStage,
    OrderPurpose,
    PositionIntent,
    Side,
    StructureKind,
)

Scalar = float | int | str | bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """One rule applied to one subject: did it pass, with the value and the limit."""

    rule: str
    passed: bool
    value: Scalar = None
    limit: Scalar = None
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeks:
    """Position greeks in share-equivalents for one structure unit (×100 multiplier applied).

    delta: shares; gamma: shares per USD; theta: USD per day; vega: USD per vol point (0.01).
    """

    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0

    def __add__(self, other: Greeks) -> Greeks:
        return Greeks(
            delta=self.delta + other.delta,
            gamma=self.gamma + other.gamma,
            theta=self.theta + other.theta,
            vega=self.vega + other.vega,
        )

    def scaled(self, factor: float) -> Greeks:
        return Greeks(
            delta=self.delta * factor,
            gamma=self.gamma * factor,
            theta=self.theta * factor,
            vega=self.vega * factor,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateLeg:
    """One leg of a candidate, with its quote and model values (per share, per contract)."""

    contract: OptionContract
    side: Side
    position_intent: PositionIntent
    ratio: int = 1
    bid: float
    ask: float
    mid: float
    iv: float
    delta: float
    gamma: float
    theta: float
    """Per year (kernel units)."""
    vega: float
    """Per 1.00 of vol (kernel units)."""
    open_interest: float = float("nan")
    volume: float = float("nan")
    liquidity_score: float = float("nan")

    @property
    def symbol(self) -> str:
        return self.contract.symbol


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A trade the scanner proposes for one structure unit (qty is set by risk).

    Prices are signed net prices per share (negative = credit); USD amounts are per unit
    (×100 multiplier applied).
    """

    candidate_id: str
    underlying: str
    strategy: StructureKind
    as_of: datetime
    expiry: date
    dte: int
    legs: tuple[CandidateLeg, ...]
    spot: float
    net_price_natural: Decimal
    """Conservative: sells at the bid, buys at the ask."""
    net_price_mid: Decimal
    credit_usd: Decimal
    """Credit received per unit at the conservative price (USD)."""
    width: Decimal
    """Strike width of the widest side (USD per share); 0 for a CSP."""
    max_loss_usd: Decimal
    max_profit_usd: Decimal
    capital_usd: Decimal
    """Capital the broker will hold per unit (max loss for spreads; strike×100 − premium for a CSP)."""
    breakevens: tuple[float, ...]
    pop: float
    """Model probability of profit at expiry (0-1)."""
    expected_value_usd: float
    return_on_risk: float
    greeks: Greeks
    liquidity_score: float
    iv_rank: float | None
    score: float = 0.0
    reasons: tuple[Reason, ...] = ()
    purpose: OrderPurpose = OrderPurpose.OPEN
    sector: str | None = None
    scan_id: str = ""
    """The scan that produced the candidate (copied into risk's decision record)."""
    rolled_from_trade_id: str | None = None
    """For ``purpose=ROLL``: the open trade this roll replaces. ``max_loss_usd`` and
    ``capital_usd`` then describe the whole structure held after the roll, per unit."""
    close_symbols: tuple[str, ...] = ()
    """For ``purpose=ROLL``: the legs of ``rolled_from_trade_id`` the roll closes (empty = all)."""

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(leg.symbol for leg in self.legs)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionRecord:
    """Why something was accepted or rejected, at which stage, with the numbers."""

    decision_id: str
    scan_id: str
    decided_at: datetime
    underlying: str
    stage: DecisionStage
    outcome: DecisionOutcome
    strategy: StructureKind | None = None
    candidate_id: str | None = None
    reasons: tuple[Reason, ...] = ()
    metrics: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def failed_reasons(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.passed)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskDecision:
    """Risk's answer for one candidate: approve with a size, or deny with the failed rules."""

    decision_id: str
    candidate_id: str
    approved: bool
    qty: int
    checks: tuple[Reason, ...]
    decided_at: datetime
    limit_bound: Decimal | None = None
    """Worst signed net price execution may accept per unit (the floor for a credit)."""
    sizing_method: str = ""

    @property
    def denials(self) -> tuple[Reason, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def summary(self) -> str:
        if self.approved:
            return f"approved {self.qty} unit(s)"
        return "denied: " + "; ".join(d.message or d.rule for d in self.denials)

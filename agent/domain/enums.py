"""Enumerations shared across the agent (string-valued so they serialise as themselves)."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    SIM = "sim"
    PAPER = "paper"
    LIVE = "live"


class OptionRight(StrEnum):
    CALL = "call"
    PUT = "put"

    @property
    def occ_letter(self) -> str:
        return "C" if self is OptionRight.CALL else "P"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy (we pay), −1 for a sell (we receive)."""
        return 1 if self is Side.BUY else -1

    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class PositionIntent(StrEnum):
    BUY_TO_OPEN = "buy_to_open"
    BUY_TO_CLOSE = "buy_to_close"
    SELL_TO_OPEN = "sell_to_open"
    SELL_TO_CLOSE = "sell_to_close"

    @property
    def side(self) -> Side:
        return Side.BUY if self.value.startswith("buy") else Side.SELL

    @property
    def opens(self) -> bool:
        return self.value.endswith("open")


class AssetClass(StrEnum):
    OPTION = "us_option"
    EQUITY = "us_equity"


class OrderClass(StrEnum):
    SIMPLE = "simple"
    MLEG = "mleg"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"


class OrderStatus(StrEnum):
    """Order lifecycle as optagent tracks it (a subset of Alpaca's, plus PENDING and UNKNOWN).

    PENDING: intent committed, not yet sent. UNKNOWN: sent, outcome not known (timeout,
    dropped connection, 5xx); resolved only by looking the order up by client order id.
    """

    PENDING = "pending"
    UNKNOWN = "unknown"
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"
    NOT_SUBMITTED = "not_submitted"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_ORDER_STATUSES

    @property
    def is_working(self) -> bool:
        return self in _WORKING_ORDER_STATUSES


_TERMINAL_ORDER_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
        OrderStatus.NOT_SUBMITTED,
    }
)
_WORKING_ORDER_STATUSES = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PENDING_REPLACE,
    }
)


class StructureKind(StrEnum):
    BULL_PUT_SPREAD = "bull_put_spread"
    CASH_SECURED_PUT = "cash_secured_put"
    IRON_CONDOR = "iron_condor"
    STOCK = "stock"
    """Shares received by assignment (or adopted); handled per config."""
    SINGLE_OPTION = "single_option"
    """An option position that belongs to no known structure (adopted or external)."""


class OrderPurpose(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    ROLL = "roll"


class TradeStatus(StrEnum):
    PENDING = "pending"
    """Entry order working; nothing filled yet."""
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    CANCELED = "canceled"
    """The entry never filled."""


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ExitReason(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    EXPIRY_APPROACHING = "expiry_approaching"
    BREACH = "breach"
    ROLLED = "rolled"
    PIN_RISK = "pin_risk"
    EARLY_ASSIGNMENT_RISK = "early_assignment_risk"
    EXPIRED_WORTHLESS = "expired_worthless"
    ASSIGNED = "assigned"
    EXERCISED = "exercised"
    MANUAL = "manual"
    FLATTEN = "flatten"
    RECONCILED = "reconciled"


class ActivityType(StrEnum):
    """Broker account activities used for reconciliation (Alpaca's codes)."""

    FILL = "FILL"
    OPTION_ASSIGNMENT = "OPASN"
    OPTION_EXERCISE = "OPEXC"
    OPTION_EXPIRY = "OPEXP"
    OPTION_TRADE = "OPTRD"
    """The stock leg of an assignment or exercise (qty in shares, price = strike)."""


class ActivityStatus(StrEnum):
    EXECUTED = "executed"
    CORRECT = "correct"
    CANCELED = "canceled"


class DecisionStage(StrEnum):
    """Where in the pipeline a candidate (or an underlying) was decided."""

    UNIVERSE = "universe"
    CONTRACT = "contract"
    STRATEGY = "strategy"
    RANKING = "ranking"
    RISK = "risk"
    EXECUTION = "execution"


class DecisionOutcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    """Only closing and rolling orders."""
    HALTED = "halted"
    """Nothing new; exits still allowed unless flatten is requested."""


class AlertLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

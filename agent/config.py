"""Settings: one :class:`AgentSettings`, every parameter the product uses.

Precedence, lowest to highest: built-in defaults < ``config.yaml`` < ``.env`` < environment
(``OPTAGENT_`` prefix, nested with ``__``, e.g. ``OPTAGENT_RISK__MAX_TRADES_PER_DAY=5``) <
CLI ``--set section.key=value``. Alpaca keys come only from the environment or ``.env``
(``ALPACA_API_KEY``/``APCA_API_KEY_ID`` and friends) and are held as ``SecretStr``.

Use :func:`load_settings`; it turns every validation problem into one :class:`ConfigError`
whose lines name the full key path (and the closest valid key for a typo).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from agent.domain.enums import Mode
from agent.errors import ConfigError

ENV_PREFIX = "OPTAGENT_"
DEFAULT_CONFIG_FILE = Path("config.yaml")

Pct = Annotated[float, Field(ge=0.0, le=100.0)]
"""A percentage, 0-100."""
PositiveFloat = Annotated[float, Field(gt=0.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def weekday_number(self) -> int:
        """Monday = 0, as :meth:`datetime.date.weekday`."""
        return list(Weekday).index(self)


class Section(BaseModel):
    """A settings section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _check_band(model: BaseModel, lo: str, hi: str) -> None:
    low, high = getattr(model, lo), getattr(model, hi)
    if low > high:
        raise ValueError(f"{lo} ({low}) is greater than {hi} ({high}); swap them")


def _check_target(model: BaseModel, lo: str, target: str, hi: str) -> None:
    low, value, high = getattr(model, lo), getattr(model, target), getattr(model, hi)
    if not low <= value <= high:
        raise ValueError(f"{target} ({value}) must lie between {lo} ({low}) and {hi} ({high})")


# --------------------------------------------------------------------------- schedule


class ScheduleSettings(Section):
    """When the loops run, in the exchange time zone, only in the right sessions."""

    timezone: str = "America/New_York"
    scan_interval_min: PositiveInt = 5
    scan_window_start: time = time(9, 30)
    scan_window_end: time = time(16, 0)
    """Clipped to the session's actual close (early closes come from the exchange calendar)."""
    monitor_interval_min: PositiveInt = 1
    reconcile_interval_min: PositiveInt = 15
    heartbeat_interval_s: PositiveInt = 30
    daily_analysis_time: time = time(17, 0)
    weekly_learning_day: Weekday = Weekday.SUN
    weekly_learning_time: time = time(20, 0)
    end_of_day_cleanup_time: time = time(15, 55)
    """Cancel optagent's working day orders before the close."""

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.scan_window_start >= self.scan_window_end:
            raise ValueError(
                f"scan_window_start {self.scan_window_start} must be before "
                f"scan_window_end {self.scan_window_end}"
            )
        return self


# --------------------------------------------------------------------------- universe

DEFAULT_WATCHLIST = (
    "SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META",
    "TSLA", "AMD", "JPM", "BAC", "XOM", "KO", "PFE", "DIS", "INTC", "XLF",
)  # fmt: skip


class UniverseSettings(Section):
    """Which underlyings are scanned and the per-underlying and per-contract filters."""

    watchlist: list[str] = Field(default_factory=lambda: list(DEFAULT_WATCHLIST))
    min_underlying_price_usd: PositiveFloat = 20.0
    max_underlying_price_usd: PositiveFloat = 500.0
    price_cap_exempt: list[str] = Field(default_factory=lambda: ["SPY", "QQQ"])
    """Symbols allowed above ``max_underlying_price_usd`` (e.g. broad ETFs)."""
    min_stock_volume: NonNegFloat = 1_000_000
    """Average daily share volume."""
    max_underlying_spread_pct: Pct = 1.0
    min_iv_rank: Pct = 25.0
    iv_rank_unknown: Literal["reject", "allow"] = "reject"
    """What the IV-rank filter does while a symbol's IV history is still warming up."""
    min_option_open_interest: NonNegFloat = 100
    min_option_volume: NonNegFloat = 50
    max_option_spread_pct_of_mid: Pct = 10.0
    max_quote_age_s: PositiveFloat = 300.0
    earnings_blackout: bool = True
    """No new entry whose life spans the symbol's next earnings date."""
    fomc_blackout: bool = True
    """No new entries on an FOMC announcement day."""
    max_vol_index: PositiveFloat = 35.0
    """Volatility-regime cutoff: no new entries while the VIX proxy is above this."""
    min_history_days: PositiveInt = 20
    """Daily bars of price history an underlying needs before it is traded."""
    sectors: dict[str, str] = Field(
        default_factory=lambda: {
            "SPY": "index",
            "QQQ": "index",
            "IWM": "index",
            "DIA": "index",
            "AAPL": "technology",
            "MSFT": "technology",
            "NVDA": "technology",
            "AMD": "technology",
            "INTC": "technology",
            "GOOGL": "communication",
            "META": "communication",
            "DIS": "communication",
            "AMZN": "consumer",
            "TSLA": "consumer",
            "KO": "staples",
            "JPM": "financials",
            "BAC": "financials",
            "XLF": "financials",
            "XOM": "energy",
            "PFE": "health",
        }
    )
    """Sector per symbol, for concentration limits; unknown symbols are their own sector."""
    events_file: Path | None = None
    """YAML of scheduled events for paper/live (``earnings: {SYM: [dates]}``, ``fomc: [dates]``)."""

    @field_validator("watchlist", "price_cap_exempt")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        cleaned = [s.strip().upper() for s in value]
        bad = [s for s in cleaned if not s or not s.replace(".", "").isalnum() or len(s) > 6]
        if bad:
            raise ValueError(f"not ticker symbols: {bad}")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("symbols are listed twice")
        return cleaned

    @field_validator("sectors")
    @classmethod
    def _sector_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.strip().upper(): v for k, v in value.items()}

    @model_validator(mode="after")
    def _bands(self) -> Self:
        _check_band(self, "min_underlying_price_usd", "max_underlying_price_usd")
        return self


# --------------------------------------------------------------------------- strategies


class ExitSettings(Section):
    take_profit_pct: Annotated[float, Field(gt=0.0, le=100.0)] = 50.0
    """Close when this share of the credit has been captured."""
    stop_loss_multiple: Annotated[float, Field(gt=1.0)] = 2.0
    """Close when the cost to close reaches this multiple of the credit received."""
    roll_dte: Annotated[int, Field(ge=0)] = 7
    """Within this many days to expiry: roll if threatened, else close."""
    threatened_delta: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.40
    """A short leg whose |delta| reaches this is threatened."""
    hold_short_itm_into_expiry: bool = False
    roll_min_net_credit_usd: float = 0.0
    """A roll must collect at least this net credit per share (0 = credit-neutral or better)."""


class BullPutSpreadSettings(ExitSettings):
    enabled: bool = True
    dte_min: PositiveInt = 25
    dte_max: PositiveInt = 45
    dte_target: PositiveInt = 35
    short_delta_min: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.30
    short_delta_max: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.20
    short_delta_target: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.25
    width_min_usd: PositiveFloat = 5.0
    width_max_usd: PositiveFloat = 10.0
    min_credit_usd: PositiveFloat = 0.30
    """Per share, at the conservative price (short bid − long ask)."""

    @model_validator(mode="after")
    def _bands(self) -> Self:
        _check_band(self, "dte_min", "dte_max")
        _check_target(self, "dte_min", "dte_target", "dte_max")
        _check_band(self, "short_delta_min", "short_delta_max")
        _check_target(self, "short_delta_min", "short_delta_target", "short_delta_max")
        _check_band(self, "width_min_usd", "width_max_usd")
        return self


class AssignedStockAction(StrEnum):
    HOLD = "hold"
    SELL_LIMIT = "sell_limit"
    COVERED_CALL = "covered_call"


class CashSecuredPutSettings(ExitSettings):
    enabled: bool = True
    symbols: list[str] = Field(default_factory=lambda: ["KO", "PFE", "BAC", "INTC", "XLF", "IWM"])
    """Only symbols you are willing to own."""
    dte_min: PositiveInt = 30
    dte_max: PositiveInt = 45
    dte_target: PositiveInt = 35
    short_delta_min: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.30
    short_delta_max: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.20
    short_delta_target: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.25
    min_premium_usd: PositiveFloat = 0.50
    accept_assignment: bool = True
    assigned_stock_action: AssignedStockAction = AssignedStockAction.SELL_LIMIT
    covered_call_delta: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.30
    covered_call_dte: PositiveInt = 30

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        return [s.strip().upper() for s in value]

    @model_validator(mode="after")
    def _bands(self) -> Self:
        _check_band(self, "dte_min", "dte_max")
        _check_target(self, "dte_min", "dte_target", "dte_max")
        _check_band(self, "short_delta_min", "short_delta_max")
        _check_target(self, "short_delta_min", "short_delta_target", "short_delta_max")
        return self


class IronCondorSettings(ExitSettings):
    enabled: bool = True
    dte_min: PositiveInt = 30
    dte_max: PositiveInt = 45
    dte_target: PositiveInt = 38
    put_delta_min: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.20
    put_delta_max: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.15
    call_delta_min: Annotated[float, Field(ge=0.0, le=1.0)] = 0.15
    call_delta_max: Annotated[float, Field(ge=0.0, le=1.0)] = 0.20
    wing_width_usd: PositiveFloat = 5.0
    min_credit_usd: PositiveFloat = 0.50
    """Total credit per share for both sides, at the conservative price."""
    close_on_breach: bool = True
    roll_tested_side: bool = True
    """On a breach with time left, roll the tested side as one 4-leg order instead of closing."""

    @model_validator(mode="after")
    def _bands(self) -> Self:
        _check_band(self, "dte_min", "dte_max")
        _check_target(self, "dte_min", "dte_target", "dte_max")
        _check_band(self, "put_delta_min", "put_delta_max")
        _check_band(self, "call_delta_min", "call_delta_max")
        return self


class StrategiesSettings(Section):
    bull_put_spread: BullPutSpreadSettings = BullPutSpreadSettings()
    cash_secured_put: CashSecuredPutSettings = CashSecuredPutSettings()
    iron_condor: IronCondorSettings = IronCondorSettings()
    max_candidates_per_symbol: PositiveInt = 2
    max_candidates_per_cycle: PositiveInt = 3
    """At most this many top-ranked candidates per scan go on to risk."""


# --------------------------------------------------------------------------- risk


class SizingMethod(StrEnum):
    FIXED_FRACTIONAL = "fixed_fractional"
    QUARTER_KELLY = "quarter_kelly"


class RiskSettings(Section):
    max_trades_per_day: PositiveInt = 10
    max_daily_loss_pct: Pct = 5.0
    """Of start-of-day equity, realised + unrealised."""
    max_risk_per_trade_pct: Pct = 20.0
    max_positions_per_symbol: PositiveInt = 2
    max_portfolio_heat_pct: Pct = 30.0
    """Total max loss of open trades as a share of equity."""
    max_symbol_concentration_pct: Pct = 30.0
    max_sector_concentration_pct: Pct = 30.0
    sizing_method: SizingMethod = SizingMethod.FIXED_FRACTIONAL
    risk_per_trade_pct: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    kelly_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    kelly_min_trades: PositiveInt = 30
    """Closed trades of a strategy needed before Kelly sizing replaces fixed-fractional."""
    max_drawdown_pct: Pct = 15.0
    max_consecutive_losses: PositiveInt = 5
    max_broker_errors_per_day: PositiveInt = 10
    max_market_data_age_s: PositiveFloat = 900.0
    """Market data older than this (while the market is open) trips the stale-data breaker."""
    max_abs_beta_delta_shares: PositiveFloat = 2000.0
    """Budget for |beta-weighted delta| of the book, in SPY share-equivalents."""
    max_abs_gamma_shares: PositiveFloat = 400.0
    max_abs_vega_usd: PositiveFloat = 5000.0
    """Budget for |vega|, USD per vol point."""
    min_theta_usd: float = -500.0
    """Lower bound for book theta, USD/day (credit books are usually theta-positive)."""
    stress_spot_shocks_pct: list[float] = Field(default_factory=lambda: [-10.0, 10.0])
    stress_vol_shock_pct: NonNegFloat = 50.0
    max_stress_loss_pct: Pct = 25.0
    """The worst stress scenario may lose at most this share of equity."""
    pdt_equity_threshold_usd: NonNegFloat = 25_000.0
    max_day_trades_5d_under_threshold: Annotated[int, Field(ge=0)] = 3
    kill_switch_file: Path = Path("var/KILL")
    """If this file exists, trading halts."""
    betas: dict[str, float] = Field(default_factory=dict)
    """Beta to SPY per underlying for beta-weighted delta and the stress test (default 1.0)."""

    @field_validator("betas")
    @classmethod
    def _beta_keys(cls, value: dict[str, float]) -> dict[str, float]:
        return {k.strip().upper(): v for k, v in value.items()}


# --------------------------------------------------------------------------- execution


class ExecutionSettings(Section):
    multi_leg_anchor: Literal["mid", "natural"] = "mid"
    single_leg_anchor: Literal["mid", "touch_pct"] = "touch_pct"
    """``touch_pct``: sell at ``single_leg_sell_pct_of_bid`` of the bid, buy at
    ``single_leg_buy_pct_of_ask`` of the ask (a protected marketable limit)."""
    single_leg_sell_pct_of_bid: Annotated[float, Field(gt=50.0, le=100.0)] = 95.0
    single_leg_buy_pct_of_ask: Annotated[float, Field(ge=100.0, lt=150.0)] = 105.0
    walk_steps: Annotated[int, Field(ge=0, le=50)] = 5
    """Steps from the anchor to the natural price."""
    walk_interval_s: PositiveFloat = 30.0
    fill_timeout_s: PositiveFloat = 300.0
    cancel_on_timeout: bool = True
    use_replace: bool = True
    """Walk by replacing the order; otherwise cancel and resubmit."""
    max_submit_attempts: PositiveInt = 3
    tick_size_usd: PositiveFloat = 0.01
    record_slippage: bool = True
    external_orders: Literal["flag", "adopt"] = "flag"
    """Orders found at the broker that optagent did not place."""

    @model_validator(mode="after")
    def _timeouts(self) -> Self:
        if self.fill_timeout_s < self.walk_interval_s:
            raise ValueError(
                f"fill_timeout_s {self.fill_timeout_s} is shorter than walk_interval_s "
                f"{self.walk_interval_s}; the walker could never step"
            )
        return self


# --------------------------------------------------------------------------- monitor


class MonitorSettings(Section):
    pin_risk_distance_pct: PositiveFloat = 1.0
    """On expiry day, a short strike within this % of spot is pinned."""
    early_assignment_max_extrinsic_usd: NonNegFloat = 0.05
    """A deep-ITM short put with less extrinsic value than this (per share) is at risk."""
    close_expiring_before: time = time(15, 0)
    """Flatten positions expiring today before this time (ET), ahead of the broker cut-offs."""
    external_positions: Literal["flag", "adopt"] = "flag"
    """A broker position no trade holds: ``flag`` raises an event and alert; ``adopt`` also
    books it as a single-leg trade at the broker's entry price (reconciliation)."""


# --------------------------------------------------------------------------- learning


class LearningSettings(Section):
    min_closed_trades: PositiveInt = 30
    max_param_step_pct: Annotated[float, Field(gt=0.0, le=50.0)] = 10.0
    """A learned change moves a parameter by at most this share of its value."""
    confidence_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8
    approval_mode: Literal["manual", "auto"] = "manual"
    """manual: proposals are recorded for a human; auto: applied when confident."""
    overrides_file: Path = Path("var/learned.yaml")
    """Applied learned changes; loaded above config.yaml and below .env/env/CLI."""


# --------------------------------------------------------------------------- alerts


class AlertSettings(Section):
    console: bool = True
    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(gt=0, lt=65536)] = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = None
    email_to: list[str] = Field(default_factory=list)
    min_level: Literal["info", "warning", "critical"] = "info"

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must start with http:// or https:// (got {value!r})")
        return value

    @model_validator(mode="after")
    def _email(self) -> Self:
        if self.smtp_host and not (self.email_from and self.email_to):
            raise ValueError("smtp_host is set: set email_from and email_to too")
        return self


# --------------------------------------------------------------------------- market data


class MarketDataSettings(Section):
    cache_ttl_s: PositiveFloat = 60.0
    rate_limit_per_min: PositiveInt = 200
    """Requests per minute shared by the whole system (Alpaca's default budget)."""
    chain_max_dte: PositiveInt = 60
    iv_history_days: PositiveInt = 252
    iv_rank_min_history_days: PositiveInt = 20
    """Warm-up: with fewer daily IV observations, IV rank is unknown."""
    risk_free_rate: Annotated[float, Field(ge=-0.05, le=0.25)] = 0.04
    dividend_yields: dict[str, Annotated[float, Field(ge=0.0, le=0.25)]] = Field(
        default_factory=dict
    )
    """Continuous dividend yield per symbol (default 0)."""

    @field_validator("dividend_yields")
    @classmethod
    def _yield_keys(cls, value: dict[str, float]) -> dict[str, float]:
        return {k.strip().upper(): v for k, v in value.items()}

    vendor_iv_tolerance: PositiveFloat = 0.02
    """Vendor IV differing from ours by more than this (absolute vol) is recorded."""
    http_connect_timeout_s: PositiveFloat = 3.05
    http_read_timeout_s: PositiveFloat = 10.0
    option_feed: Literal["indicative", "opra"] = "indicative"
    stock_feed: Literal["iex", "sip"] = "iex"


# --------------------------------------------------------------------------- simulator


class SimSettings(Section):
    seed: int = 47
    n_underlyings: PositiveInt = 100
    """The simulated universe (the watchlist's names first, then generated ones)."""
    start_date: date = date(2026, 3, 2)
    speed: PositiveFloat = 600.0
    """Simulated seconds per wall second for the accelerated clock."""
    initial_cash_usd: PositiveFloat = 100_000.0
    bad_quote_rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.01
    """Share of contracts quoted stale, crossed or with a zero bid."""
    fill_rate_per_min: Annotated[float, Field(gt=0.0, le=1.0)] = 0.6
    partial_fill_prob: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    state_file: Path = Path("var/sim_exchange.json")
    server_host: str = "127.0.0.1"
    server_port: Annotated[int, Field(ge=0, lt=65536)] = 8787


# --------------------------------------------------------------------------- ray


class RaySettings(Section):
    address: str | None = None
    """Join this cluster (``auto`` or ``host:port``); None starts a local instance."""
    namespace: str = "optagent"
    num_scanners: Annotated[int, Field(ge=0)] = 0
    """Scanner actors; 0 = one per CPU."""
    include_dashboard: bool = True
    dashboard_port: Annotated[int, Field(gt=0, lt=65536)] = 8265
    detached: bool = False


# --------------------------------------------------------------------------- logging


class LoggingSettings(Section):
    level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    dir: Path = Path("var/log")
    rotation: str = "20 MB"
    retention: str = "14 days"
    journal_file: Path = Path("var/log/journal.jsonl")
    console_json: bool = False


# --------------------------------------------------------------------------- top level

_SECRET_FIELDS = ("alpaca_api_key", "alpaca_secret_key")
PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
LIVE_TRADING_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"


class AgentSettings(BaseSettings):
    """Every setting of optagent (see the module docstring for precedence)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        validate_default=True,
        populate_by_name=True,
    )

    mode: Mode = Mode.SIM
    dry_run: bool = False
    """Decide and record everything, submit nothing."""
    live_trading_confirmed: bool = False
    """Must be true (with live keys) for mode ``live``."""
    database_url: str = Field(
        default="sqlite:///var/optagent.db",
        validation_alias=AliasChoices("database_url", "DATABASE_URL", "OPTAGENT_DATABASE_URL"),
    )
    alpaca_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ALPACA_API_KEY", "APCA_API_KEY_ID")
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ALPACA_SECRET_KEY", "APCA_API_SECRET_KEY")
    )
    alpaca_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("alpaca_base_url", "ALPACA_BASE_URL", "APCA_API_BASE_URL"),
    )
    alpaca_data_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("alpaca_data_url", "ALPACA_DATA_URL", "APCA_API_DATA_URL"),
    )

    schedule: ScheduleSettings = ScheduleSettings()
    universe: UniverseSettings = UniverseSettings()
    strategies: StrategiesSettings = StrategiesSettings()
    risk: RiskSettings = RiskSettings()
    execution: ExecutionSettings = ExecutionSettings()
    monitor: MonitorSettings = MonitorSettings()
    learning: LearningSettings = LearningSettings()
    alerts: AlertSettings = AlertSettings()
    market_data: MarketDataSettings = MarketDataSettings()
    sim: SimSettings = SimSettings()
    ray: RaySettings = RaySettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("alpaca_base_url", "alpaca_data_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        # alpaca-py appends "/v2" itself: a trailing slash or version breaks every path.
        value = value.rstrip("/")
        for suffix in ("/v2", "/v1beta1"):
            value = value.removesuffix(suffix)
        return value

    @model_validator(mode="after")
    def _mode_guards(self) -> Self:
        if self.mode in (Mode.PAPER, Mode.LIVE):
            missing = [
                env
                for env, value in (
                    ("ALPACA_API_KEY", self.alpaca_api_key),
                    ("ALPACA_SECRET_KEY", self.alpaca_secret_key),
                )
                if value is None or not value.get_secret_value()
            ]
            if missing:
                raise ValueError(
                    f"mode {self.mode} needs Alpaca keys: set {' and '.join(missing)} in the "
                    "environment or .env (never in config.yaml)"
                )
        if self.mode is Mode.LIVE:
            if not self.live_trading_confirmed:
                raise ValueError(
                    "mode live refuses to start without live_trading_confirmed: true "
                    "(OPTAGENT_LIVE_TRADING_CONFIRMED=true); use mode paper to try first"
                )
            if self.alpaca_base_url and "paper-api" in self.alpaca_base_url:
                raise ValueError("mode live with a paper ALPACA_BASE_URL: pick one")
        return self

    @property
    def trading_url(self) -> str:
        if self.alpaca_base_url:
            return self.alpaca_base_url
        return LIVE_TRADING_URL if self.mode is Mode.LIVE else PAPER_TRADING_URL

    @property
    def data_url(self) -> str:
        return self.alpaca_data_url or DATA_URL

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest priority first: CLI overrides (init) > env > .env > config.yaml > defaults.
        return init_settings, env_settings, dotenv_settings, _YamlSource(settings_cls)


class _YamlSource(PydanticBaseSettingsSource):
    """The values of the YAML file being loaded by :func:`load_settings` (via a context var)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_values.get() or {})


_yaml_values: ContextVar[Mapping[str, Any] | None] = ContextVar("optagent_yaml", default=None)


# --------------------------------------------------------------------------- loading


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn CLI ``section.key=value`` pairs into a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected section.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({exc})") from exc
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is set both as a value and a section")
            node = child
        node[parts[-1]] = value
    return nested


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for secret in (*_SECRET_FIELDS, "ALPACA_API_KEY", "ALPACA_SECRET_KEY"):
        if secret in data:
            raise ConfigError(
                f"{path}: {secret} must not be in a config file; put it in the environment or .env"
            )
    return data


def _valid_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _valid_keys(annotation, f"{path}.")


def _mapping_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Dotted keys of dict-valued settings (whose env names may carry a sub-key)."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _mapping_keys(annotation, f"{prefix}{name}.")
        elif getattr(annotation, "__origin__", None) is dict:
            yield f"{prefix}{name}"


def _explain(error: Mapping[str, Any], source_hint: str) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        candidates = list(_valid_keys(AgentSettings))
        close = difflib.get_close_matches(loc, candidates, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"{loc}: unknown key{source_hint}{hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if loc:
        given = error.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
        return f"{loc}: {message}{shown}"
    return message


def _unknown_env_vars(environ: Mapping[str, str]) -> list[str]:
    """OPTAGENT_* variables that name no setting (pydantic-settings would ignore them)."""
    valid = {key.replace(".", "__").upper() for key in _valid_keys(AgentSettings)}
    mappings = {key.replace(".", "__").upper() for key in _mapping_keys(AgentSettings)}
    problems = []
    for name in environ:
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].upper()
        if key in valid:
            continue
        # A nested dict value such as OPTAGENT_MARKET_DATA__DIVIDEND_YIELDS__KO is fine.
        if any(key.startswith(m + "__") for m in mappings):
            continue
        dotted = key.lower().replace("__", ".")
        close = difflib.get_close_matches(dotted, list(_valid_keys(AgentSettings)), n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{close[0].replace('.', '__').upper()}?" if close else ""
        problems.append(f"{name}: environment variable names no setting{hint}")
    return problems


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _learned_overrides(
    yaml_values: Mapping[str, Any], cli_values: Mapping[str, Any]
) -> dict[str, Any]:
    """Applied learning changes (strategy parameters only), if the overrides file exists."""
    path = Path(
        cli_values.get("learning", {}).get("overrides_file")
        or yaml_values.get("learning", {}).get("overrides_file")
        or LearningSettings.model_fields["overrides_file"].default
    )
    if not path.exists():
        return {}
    data = _read_yaml(path)
    return {"strategies": data["strategies"]} if isinstance(data.get("strategies"), dict) else {}


def _format_problems(lines: list[str]) -> str:
    if len(lines) == 1:
        return f"invalid configuration: {lines[0]}"
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(
    config_file: Path | str | None = None,
    overrides: list[str] | None = None,
    *,
    env_file: Path | str | None = ".env",
    environ: Mapping[str, str] | None = None,
) -> AgentSettings:
    """Build the effective settings or raise :class:`ConfigError` listing every problem.

    ``config_file`` defaults to ``config.yaml`` when it exists; ``environ`` defaults to
    ``os.environ`` (tests pass their own).
    """
    path = Path(config_file) if config_file is not None else DEFAULT_CONFIG_FILE
    if config_file is not None and not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    yaml_values = _read_yaml(path) if path.exists() else {}
    cli_values = parse_overrides(overrides or [])
    learned = _learned_overrides(yaml_values, cli_values)
    if learned:
        yaml_values = _deep_merge(yaml_values, learned)
    env = dict(os.environ if environ is None else environ)
    problems = _unknown_env_vars(env)
    if problems:
        raise ConfigError(_format_problems(problems))
    token = _yaml_values.set(yaml_values)
    saved = dict(os.environ)
    try:
        if environ is not None:
            os.environ.clear()
            os.environ.update(env)
        return AgentSettings(_env_file=env_file, **cli_values)
    except ValidationError as exc:
        hint = f" in {path}" if path.exists() else ""
        raise ConfigError(_format_problems([_explain(err, hint) for err in exc.errors()])) from None
    finally:
        _yaml_values.reset(token)
        if environ is not None:
            os.environ.clear()
            os.environ.update(saved)


# --------------------------------------------------------------------------- introspection


def value_sources(
    config_file: Path | str | None = None,
    overrides: list[str] | None = None,
    *,
    env_file: Path | str | None = ".env",
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """For every leaf key, which layer set it: default, config.yaml, .env, env or cli."""
    path = Path(config_file) if config_file is not None else DEFAULT_CONFIG_FILE
    env = dict(os.environ if environ is None else environ)
    layers: list[tuple[str, dict[str, Any]]] = [
        (
            "config.yaml" if config_file is None else str(path),
            _read_yaml(path) if path.exists() else {},
        ),
    ]
    dotenv: dict[str, Any] = {}
    if env_file is not None and Path(env_file).exists():
        source = DotEnvSettingsSource(AgentSettings, env_file=env_file)
        dotenv = source()
    layers.append((".env", dotenv))
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        layers.append(("env", EnvSettingsSource(AgentSettings)()))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    layers.append(("cli", InitSettingsSource(AgentSettings, parse_overrides(overrides or []))()))

    sections = _section_paths(AgentSettings)
    sources: dict[str, str] = {}

    def walk(tree: Mapping[str, Any], prefix: str, label: str) -> None:
        for key, value in tree.items():
            dotted = f"{prefix}{_ALIASES.get(key, key)}"
            if isinstance(value, Mapping) and dotted in sections:
                walk(value, f"{dotted}.", label)
            else:
                sources[dotted] = label

    for label, tree in layers:
        walk(tree, "", label)
    return sources


def _section_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.add(f"{prefix}{name}")
            paths |= _section_paths(annotation, f"{prefix}{name}.")
    return paths


_ALIASES = {
    "ALPACA_API_KEY": "alpaca_api_key",
    "APCA_API_KEY_ID": "alpaca_api_key",
    "ALPACA_SECRET_KEY": "alpaca_secret_key",
    "APCA_API_SECRET_KEY": "alpaca_secret_key",
    "ALPACA_BASE_URL": "alpaca_base_url",
    "APCA_API_BASE_URL": "alpaca_base_url",
    "ALPACA_DATA_URL": "alpaca_data_url",
    "APCA_API_DATA_URL": "alpaca_data_url",
    "DATABASE_URL": "database_url",
    "OPTAGENT_DATABASE_URL": "database_url",
}


def effective_items(settings: AgentSettings) -> list[tuple[str, str]]:
    """Flattened ``(dotted key, shown value)`` pairs with secrets masked."""
    items: list[tuple[str, str]] = []

    def walk(model: BaseModel, prefix: str) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            dotted = f"{prefix}{name}"
            if isinstance(value, BaseModel):
                walk(value, f"{dotted}.")
            elif isinstance(value, SecretStr):
                items.append((dotted, "********" if value.get_secret_value() else "(empty)"))
            else:
                shown = value.value if isinstance(value, StrEnum) else value
                items.append((dotted, str(shown)))

    walk(settings, "")
    return items


def secret_values(settings: AgentSettings) -> list[str]:
    """Every secret in the settings, for log redaction."""
    secrets: list[str] = []
    for value in (
        settings.alpaca_api_key,
        settings.alpaca_secret_key,
        settings.alerts.smtp_password,
    ):
        if value is not None and value.get_secret_value():
            secrets.append(value.get_secret_value())
    return secrets

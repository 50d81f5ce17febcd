"""Configuration: precedence level by level, validation messages, secrets handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentSettings, effective_items, load_settings, value_sources
from agent.domain import Mode
from agent.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_product_spec(isolated_dir: Path) -> None:
    s = load_settings(environ={}, env_file=None)
    assert s.mode is Mode.SIM and s.dry_run is False
    assert s.schedule.scan_interval_min == 5 and s.schedule.monitor_interval_min == 1
    assert s.schedule.reconcile_interval_min == 15
    assert (s.schedule.daily_analysis_time.hour, s.schedule.weekly_learning_day.value) == (
        17,
        "sun",
    )
    assert len(s.universe.watchlist) == 20 and {"SPY", "QQQ", "IWM"} <= set(s.universe.watchlist)
    assert s.universe.min_iv_rank == 25 and s.universe.max_vol_index == 35
    bps = s.strategies.bull_put_spread
    assert (bps.dte_min, bps.dte_max, bps.short_delta_min, bps.short_delta_max) == (
        25,
        45,
        -0.30,
        -0.20,
    )
    assert (bps.min_credit_usd, bps.take_profit_pct, bps.stop_loss_multiple, bps.roll_dte) == (
        0.30,
        50,
        2.0,
        7,
    )
    ic = s.strategies.iron_condor
    assert (ic.put_delta_min, ic.put_delta_max, ic.call_delta_min, ic.call_delta_max) == (
        -0.20,
        -0.15,
        0.15,
        0.20,
    )
    assert s.strategies.cash_secured_put.min_premium_usd == 0.50
    r = s.risk
    assert (r.max_trades_per_day, r.max_daily_loss_pct, r.max_risk_per_trade_pct) == (10, 5, 20)
    assert (r.max_positions_per_symbol, r.max_portfolio_heat_pct, r.risk_per_trade_pct) == (
        2,
        30,
        1.0,
    )
    assert (
        s.execution.single_leg_sell_pct_of_bid == 95
        and s.execution.single_leg_buy_pct_of_ask == 105
    )
    assert s.learning.min_closed_trades == 30 and s.market_data.rate_limit_per_min == 200


def test_precedence_level_by_level(isolated_dir: Path) -> None:
    key_env = "OPTAGENT_RISK__MAX_TRADES_PER_DAY"
    # 1. built-in default
    assert load_settings(environ={}, env_file=None).risk.max_trades_per_day == 10
    # 2. config.yaml beats the default
    write(isolated_dir / "config.yaml", "risk:\n  max_trades_per_day: 7\n")
    assert load_settings(environ={}, env_file=None).risk.max_trades_per_day == 7
    # 3. .env beats config.yaml
    write(isolated_dir / ".env", f"{key_env}=6\n")
    assert load_settings(environ={}).risk.max_trades_per_day == 6
    # 4. the environment beats .env
    assert load_settings(environ={key_env: "5"}).risk.max_trades_per_day == 5
    # 5. --set beats everything
    s = load_settings(overrides=["risk.max_trades_per_day=4"], environ={key_env: "5"})
    assert s.risk.max_trades_per_day == 4


def test_layers_merge_rather_than_replace_sections(isolated_dir: Path) -> None:
    write(isolated_dir / "config.yaml", "risk:\n  max_trades_per_day: 7\n")
    s = load_settings(environ={"OPTAGENT_RISK__MAX_DAILY_LOSS_PCT": "3"}, env_file=None)
    assert (s.risk.max_trades_per_day, s.risk.max_daily_loss_pct) == (7, 3)
    assert s.risk.max_positions_per_symbol == 2  # untouched default survives


def test_value_sources_name_each_layer(isolated_dir: Path) -> None:
    write(isolated_dir / "config.yaml", "risk:\n  max_trades_per_day: 7\nsim:\n  seed: 1\n")
    write(isolated_dir / ".env", "OPTAGENT_SIM__SPEED=100\n")
    sources = value_sources(
        overrides=["execution.walk_steps=3"], environ={"OPTAGENT_SIM__SEED": "9"}
    )
    assert sources["risk.max_trades_per_day"] == "config.yaml"
    assert sources["sim.speed"] == ".env"
    assert sources["sim.seed"] == "env"
    assert sources["execution.walk_steps"] == "cli"


BAD_CONFIGS = [
    ("risk:\n  max_trade_per_day: 3\n", "risk.max_trade_per_day", "risk.max_trades_per_day"),
    (
        "strategies:\n  bull_put_spread:\n    short_delta_min: -0.1\n",
        "strategies.bull_put_spread",
        "short_delta_min",
    ),
    (
        "strategies:\n  iron_condor:\n    call_delta_min: -0.15\n",
        "strategies.iron_condor.call_delta_min",
        "greater than or equal to 0",
    ),
    (
        "strategies:\n  iron_condor:\n    put_delta_max: 0.2\n",
        "strategies.iron_condor.put_delta_max",
        "less than or equal to 0",
    ),
    ("risk:\n  max_daily_loss_pct: 150\n", "risk.max_daily_loss_pct", "100"),
    ("universe:\n  min_underlying_price_usd: 600\n", "universe", "min_underlying_price_usd"),
    ("mode: backtest\n", "mode", "sim"),
    ("schedule:\n  scan_interval_min: 0\n", "schedule.scan_interval_min", "greater than 0"),
    (
        "strategies:\n  cash_secured_put:\n    dte_min: 50\n",
        "strategies.cash_secured_put",
        "dte_min",
    ),
    ("alerts:\n  webhook_url: hooks.example.com\n", "alerts.webhook_url", "http"),
    ("execution:\n  fill_timeout_s: 10\n  walk_interval_s: 30\n", "execution", "fill_timeout_s"),
    ("sim:\n  sped: 10\n", "sim.sped", "sim.speed"),
]


@pytest.mark.parametrize(("text", "key", "hint"), BAD_CONFIGS)
def test_bad_configs_fail_with_one_line_naming_the_key(
    isolated_dir: Path, text: str, key: str, hint: str
) -> None:
    path = write(isolated_dir / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={}, env_file=None)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert key in message and hint in message, message


def test_unknown_environment_variable_is_rejected_with_a_suggestion(isolated_dir: Path) -> None:
    with pytest.raises(ConfigError, match="OPTAGENT_RISK__MAX_TRADES_PER_DAY"):
        load_settings(environ={"OPTAGENT_RISK__MAX_TRADES_PERDAY": "3"}, env_file=None)


def test_secrets_are_refused_in_the_config_file(isolated_dir: Path) -> None:
    path = write(isolated_dir / "c.yaml", "alpaca_api_key: AKXXXX\n")
    with pytest.raises(ConfigError, match=r"environment or \.env"):
        load_settings(path, environ={}, env_file=None)


def test_live_needs_keys_and_confirmation(isolated_dir: Path) -> None:
    keys = {"ALPACA_API_KEY": "AKLIVE123", "ALPACA_SECRET_KEY": "SECRETLIVE456"}
    with pytest.raises(ConfigError, match="needs Alpaca keys"):
        load_settings(overrides=["mode=live"], environ={}, env_file=None)
    with pytest.raises(ConfigError, match="live_trading_confirmed"):
        load_settings(overrides=["mode=live"], environ=keys, env_file=None)
    s = load_settings(
        overrides=["mode=live"],
        environ={**keys, "OPTAGENT_LIVE_TRADING_CONFIRMED": "true"},
        env_file=None,
    )
    assert s.mode is Mode.LIVE and s.trading_url == "https://api.alpaca.markets"


def test_alpaca_conventional_names_are_aliases(isolated_dir: Path) -> None:
    s = load_settings(
        overrides=["mode=paper"],
        environ={
            "APCA_API_KEY_ID": "PKTEST",
            "APCA_API_SECRET_KEY": "SKTEST",
            "APCA_API_BASE_URL": "http://127.0.0.1:8787/v2/",
            "APCA_API_DATA_URL": "http://127.0.0.1:8787",
        },
        env_file=None,
    )
    assert s.alpaca_api_key is not None and s.alpaca_api_key.get_secret_value() == "PKTEST"
    assert s.trading_url == "http://127.0.0.1:8787"  # trailing /v2/ stripped for alpaca-py
    assert s.data_url == "http://127.0.0.1:8787"


def test_effective_items_mask_secrets(isolated_dir: Path) -> None:
    s = AgentSettings(_env_file=None, ALPACA_API_KEY="PKSECRET", ALPACA_SECRET_KEY="SKSECRET")  # type: ignore[call-arg]
    shown = dict(effective_items(s))
    assert shown["alpaca_api_key"] == "********"
    assert "PKSECRET" not in repr(s) and "PKSECRET" not in str(shown)


def test_cli_set_values_are_parsed_as_yaml(isolated_dir: Path) -> None:
    s = load_settings(
        overrides=["universe.watchlist=[SPY, qqq]", "dry_run=true", "sim.speed=1200"],
        environ={},
        env_file=None,
    )
    assert s.universe.watchlist == ["SPY", "QQQ"] and s.dry_run is True and s.sim.speed == 1200
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_settings(overrides=["risk.max_trades_per_day"], environ={}, env_file=None)

"""The universal spread rule, buying power and equity (worked numbers from the brief)."""

from __future__ import annotations

from decimal import Decimal

from agent.adapters.sim.margin import (
    OptionExposure,
    UnderlyingExposure,
    exposures_by_underlying,
)
from agent.domain import OptionRight, PositionIntent
from tests.unit.sim.conftest import (
    ABC,
    ABC_P50,
    XYZ_C105,
    XYZ_C110,
    XYZ_P90,
    XYZ_P95,
    World,
    put_spread,
    single,
)

CALL, PUT = OptionRight.CALL, OptionRight.PUT


def opt(right: OptionRight, strike: int, contracts: int) -> OptionExposure:
    return OptionExposure(right=right, strike_usd=Decimal(strike), contracts=contracts)


def test_put_credit_spread_worked_example(world: World) -> None:
    before = world.exchange.get_account()
    assert before.cash == before.buying_power == before.equity == Decimal(100_000)
    world.exchange.submit_order(put_spread("c", limit="-1.00"))
    world.step()
    account = world.exchange.get_account()
    assert account.cash == Decimal(100_100)
    assert account.buying_power == account.options_buying_power == Decimal(99_600)
    assert before.buying_power - account.buying_power == Decimal(400)  # width − credit
    # Equity marks at mid: −1 × 1.55 + 1 × 0.45 per share.
    assert account.equity == Decimal(100_100) - Decimal(110)
    assert account.options_level == 3 and account.last_equity == Decimal(100_000)


def test_cash_secured_put_worked_example(world: World) -> None:
    world.exchange.submit_order(single("c", ABC_P50, PositionIntent.SELL_TO_OPEN, "-1.00"))
    world.step()
    account = world.exchange.get_account()
    assert account.cash == Decimal(100_100)
    assert Decimal(100_000) - account.buying_power == Decimal(4_900)  # strike × 100 − premium


def test_long_stock_and_long_options_cost_their_price(world: World) -> None:
    world.exchange.submit_order(single("s", ABC, PositionIntent.BUY_TO_OPEN, "55.01", 100))
    world.exchange.submit_order(single("o", XYZ_C105, PositionIntent.BUY_TO_OPEN, "1.30"))
    world.step()
    account = world.exchange.get_account()
    assert Decimal(100_000) - account.buying_power == Decimal("5501") + Decimal(130)
    assert account.buying_power == account.cash


def test_iron_condor_requires_one_wing() -> None:
    condor = UnderlyingExposure(
        options=(opt(PUT, 95, -1), opt(PUT, 90, 1), opt(CALL, 105, -1), opt(CALL, 110, 1))
    )
    assert condor.is_bounded
    assert condor.requirement_usd(spot_usd=Decimal(100)) == Decimal(500)


def test_requirement_is_the_worst_value_over_all_prices() -> None:
    # Put back-spread: short 1 × 100P, long 2 × 95P. Worst at the 95 strike, not at S = 0.
    exposure = UnderlyingExposure(options=(opt(PUT, 100, -1), opt(PUT, 95, 2)))
    assert exposure.value_at_expiry_usd(Decimal(0)) == Decimal(9_000)
    assert exposure.value_at_expiry_usd(Decimal(95)) == Decimal(-500)
    assert exposure.requirement_usd(spot_usd=None) == Decimal(500)


def test_covered_call_and_long_positions_need_nothing() -> None:
    covered = UnderlyingExposure(shares=100, options=(opt(CALL, 60, -1),))
    assert covered.is_bounded and covered.requirement_usd(spot_usd=None) == 0
    assert UnderlyingExposure(options=(opt(PUT, 50, 3),)).requirement_usd(spot_usd=None) == 0


def test_naked_call_is_unbounded_and_stressed_when_held() -> None:
    naked = UnderlyingExposure(options=(opt(CALL, 105, -1),))
    assert not naked.is_bounded and naked.worst_value_usd() is None
    # Held anyway (e.g. after the shares were assigned away): charged at 1.5 × max(spot, K).
    assert naked.requirement_usd(spot_usd=Decimal(100)) == (Decimal("157.5") - 105) * 100
    short_stock = UnderlyingExposure(shares=-100)
    assert short_stock.requirement_usd(spot_usd=Decimal(50)) == Decimal(7_500)  # Reg-T 150 %


def test_exposures_are_grouped_per_underlying() -> None:
    grouped = exposures_by_underlying({XYZ_P95: -1, XYZ_P90: 1, ABC: 100, XYZ_C110: 0})
    assert sorted(grouped) == [ABC, "XYZ"]
    assert grouped[ABC].shares == 100 and grouped["XYZ"].requirement_usd(spot_usd=None) == 500


def test_positions_report_signed_qty_and_market_value(world: World) -> None:
    world.exchange.submit_order(put_spread("c", limit="-1.00", qty=2))
    world.step()
    positions = {p.symbol: p for p in world.exchange.get_positions()}
    assert positions[XYZ_P95].qty == -2 and positions[XYZ_P90].qty == 2
    assert positions[XYZ_P95].avg_entry_price == Decimal("1.50")
    assert positions[XYZ_P95].market_value == Decimal(-310)
    assert positions[XYZ_P90].market_value == Decimal(90)

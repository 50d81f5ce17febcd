"""Exit and roll rules at their edges (take-profit, stop-loss, expiry, breach, assignment)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from agent.domain import ExitReason, OptionRight, StructureKind
from agent.strategies import strategy_for
from tests.unit.strategies.chains import AS_OF, make_settings, mark, trade

BPS = StructureKind.BULL_PUT_SPREAD
CSP = StructureKind.CASH_SECURED_PUT
IC = StructureKind.IRON_CONDOR


def verdict(kind: StructureKind, *overrides: str, **mark_kw: object):  # type: ignore[no-untyped-def]
    strategy = strategy_for(kind, make_settings(*overrides))
    t = trade(kind)
    m = mark(**mark_kw)  # type: ignore[arg-type]
    return strategy.should_exit(t, m, AS_OF), strategy.should_roll(t, m, AS_OF)


# --------------------------------------------------------------------------- take-profit


@pytest.mark.parametrize("kind", [BPS, CSP, IC])
def test_take_profit_fires_at_exactly_half_the_credit(kind: StructureKind) -> None:
    signal, roll = verdict(kind, close_mid=Decimal("0.50"))
    assert signal is not None and signal.reason is ExitReason.TAKE_PROFIT
    assert "captured 50.0%" in signal.detail
    assert roll is False
    assert verdict(kind, close_mid=Decimal("0.51"))[0] is None


def test_take_profit_level_is_configurable_per_strategy() -> None:
    over = "strategies.bull_put_spread.take_profit_pct=75"
    assert verdict(BPS, over, close_mid=Decimal("0.50"))[0] is None
    signal, _ = verdict(BPS, over, close_mid=Decimal("0.25"))
    assert signal is not None and signal.reason is ExitReason.TAKE_PROFIT
    # other strategies keep their own setting
    assert verdict(IC, over, close_mid=Decimal("0.50"))[0] is not None


def test_take_profit_needs_a_credit() -> None:
    signal, _ = verdict(BPS, credit=Decimal("0"), close_mid=Decimal("-0.50"))
    assert signal is None


# --------------------------------------------------------------------------- stop-loss


@pytest.mark.parametrize("kind", [BPS, CSP, IC])
def test_stop_loss_at_twice_the_credit_at_mid(kind: StructureKind) -> None:
    signal, roll = verdict(kind, close_mid=Decimal("2.00"))
    assert signal is not None and signal.reason is ExitReason.STOP_LOSS
    assert "2× the credit 1.00" in signal.detail
    assert roll is False
    assert verdict(kind, close_mid=Decimal("1.99"))[0] is None


def test_stop_loss_ignores_the_natural_price() -> None:
    # one leg's ask gapped: the natural close is 3.00 but the mid is still 1.99
    signal, _ = verdict(BPS, close_mid=Decimal("1.99"), close_natural=Decimal("3.00"))
    assert signal is None


def test_stop_loss_multiple_is_configurable() -> None:
    over = "strategies.iron_condor.stop_loss_multiple=3"
    assert verdict(IC, over, close_mid=Decimal("2.50"))[0] is None
    signal, _ = verdict(IC, over, close_mid=Decimal("3.00"))
    assert signal is not None and signal.reason is ExitReason.STOP_LOSS


def test_stop_uses_the_per_share_credit_for_several_units() -> None:
    strategy = strategy_for(BPS, make_settings())
    t = trade(BPS, qty=3)
    m = mark(qty=3, close_mid=Decimal("2.00"))
    signal = strategy.should_exit(t, m, AS_OF)
    assert signal is not None and signal.reason is ExitReason.STOP_LOSS


# --------------------------------------------------------------------------- expiry approaching


def test_not_yet_inside_roll_dte() -> None:
    assert verdict(BPS, dte=7) == (None, False)


def test_inside_roll_dte_and_not_threatened_closes() -> None:
    signal, roll = verdict(BPS, dte=6, max_abs_short_delta=0.3999)
    assert signal is not None and signal.reason is ExitReason.EXPIRY_APPROACHING
    assert "6 DTE < roll_dte 7" in signal.detail and signal.detail.endswith("close")
    assert roll is False


def test_inside_roll_dte_and_threatened_by_delta_rolls() -> None:
    signal, roll = verdict(BPS, dte=6, max_abs_short_delta=0.40)
    assert signal is not None and signal.reason is ExitReason.EXPIRY_APPROACHING
    assert "|short delta| 0.4 >= 0.4" in signal.detail
    assert roll is True


def test_inside_roll_dte_and_spot_beyond_the_short_strike_rolls() -> None:
    signal, roll = verdict(BPS, dte=6, spot=94.0, short_put=95.0, max_abs_short_delta=0.35)
    assert signal is not None and signal.reason is ExitReason.EXPIRY_APPROACHING
    assert "beyond the short put strike 95" in signal.detail
    assert roll is True


def test_threatened_delta_and_roll_dte_are_configurable() -> None:
    over = (
        "strategies.bull_put_spread.threatened_delta=0.3",
        "strategies.bull_put_spread.roll_dte=10",
    )
    signal, roll = verdict(BPS, *over, dte=9, max_abs_short_delta=0.31)
    assert signal is not None and roll is True


def test_short_itm_is_held_into_expiry_only_when_configured() -> None:
    held = verdict(
        BPS, "strategies.bull_put_spread.hold_short_itm_into_expiry=true", dte=3, spot=90.0
    )
    assert held == (None, False)
    closed, _ = verdict(BPS, "strategies.bull_put_spread.hold_short_itm_into_expiry=true", dte=3)
    assert closed is not None and closed.reason is ExitReason.EXPIRY_APPROACHING


def test_expiry_day_with_short_itm_exits_even_with_roll_dte_zero() -> None:
    over = "strategies.bull_put_spread.roll_dte=0"
    signal, roll = verdict(BPS, over, dte=0, spot=94.0)
    assert signal is not None and signal.reason is ExitReason.EXPIRY_APPROACHING and roll
    assert verdict(BPS, over, dte=0, spot=99.0) == (None, False)


def test_take_profit_wins_over_the_expiry_rule() -> None:
    signal, roll = verdict(BPS, dte=3, close_mid=Decimal("0.20"), max_abs_short_delta=0.45)
    assert signal is not None and signal.reason is ExitReason.TAKE_PROFIT and roll is False


# --------------------------------------------------------------------------- iron condor breach


def test_condor_breach_rolls_the_tested_side_by_default() -> None:
    signal, roll = verdict(IC, spot=94.0, short_put=95.0, short_call=110.0, dte=20)
    assert signal is not None and signal.reason is ExitReason.BREACH
    assert "breached the short put strike 95" in signal.detail
    assert roll is True


def test_condor_breach_closes_when_rolling_is_off() -> None:
    signal, roll = verdict(
        IC, "strategies.iron_condor.roll_tested_side=false", spot=111.0, short_call=110.0, dte=20
    )
    assert signal is not None and signal.reason is ExitReason.BREACH
    assert "call strike 110" in signal.detail and signal.detail.endswith("close")
    assert roll is False


def test_condor_breach_ignored_when_both_switches_are_off() -> None:
    over = (
        "strategies.iron_condor.roll_tested_side=false",
        "strategies.iron_condor.close_on_breach=false",
    )
    assert verdict(IC, *over, spot=94.0, short_put=95.0, dte=20) == (None, False)


def test_condor_breach_uses_the_marks_verdict() -> None:
    signal, _ = verdict(IC, spot=95.5, short_put=95.0, breached=OptionRight.PUT, dte=20)
    assert signal is not None and signal.reason is ExitReason.BREACH


def test_condor_unbreached_is_left_alone_and_inside_roll_dte_expiry_rules_apply() -> None:
    assert verdict(IC, spot=100.0, short_put=95.0, short_call=110.0, dte=20) == (None, False)
    signal, roll = verdict(IC, spot=94.0, short_put=95.0, short_call=110.0, dte=5)
    assert signal is not None and signal.reason is ExitReason.EXPIRY_APPROACHING and roll


def test_bull_put_breach_mid_life_is_left_to_the_stop() -> None:
    assert verdict(BPS, spot=94.0, short_put=95.0, dte=20) == (None, False)


# --------------------------------------------------------------------------- cash-secured put


def test_csp_accepting_assignment_rides_to_expiry() -> None:
    assert verdict(CSP, dte=3, spot=90.0) == (None, False)
    assert verdict(CSP, dte=3, spot=110.0) == (None, False)
    assert verdict(CSP, dte=0, spot=90.0) == (None, False)


def test_csp_not_accepting_assignment_closes_or_rolls_near_expiry() -> None:
    over = "strategies.cash_secured_put.accept_assignment=false"
    signal, roll = verdict(CSP, over, dte=3, spot=110.0, max_abs_short_delta=0.05)
    assert signal is not None and signal.reason is ExitReason.EXPIRY_APPROACHING and not roll
    signal, roll = verdict(CSP, over, dte=3, spot=90.0)
    assert signal is not None and roll


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("kind", [BPS, CSP, IC])
def test_should_roll_implies_should_exit(kind: StructureKind) -> None:
    grid = itertools.product(
        (Decimal("0.3"), Decimal("1.2"), Decimal("2.5")),  # close mid
        (0, 3, 6, 7, 20),  # dte
        (90.0, 96.0, 100.0, 112.0),  # spot
        (0.1, 0.45),  # |short delta|
    )
    for close_mid, dte, spot, delta in grid:
        signal, roll = verdict(
            kind,
            close_mid=close_mid,
            dte=dte,
            spot=spot,
            short_call=110.0 if kind is IC else None,
            max_abs_short_delta=delta,
        )
        assert not roll or signal is not None, (close_mid, dte, spot, delta)

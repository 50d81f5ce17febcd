"""The ranking score: EV per USD at risk, weighted by liquidity and IV rank, monotone."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from agent.strategies import scoring


def s(ev: float, *, loss: str = "400", liq: float = 80.0, ivr: float | None = 50.0) -> float:
    return scoring.score(
        expected_value_usd=ev, max_loss_usd=Decimal(loss), liquidity=liq, iv_rank=ivr
    )


def test_formula() -> None:
    # edge 40/400 = 0.1; liquidity 80 -> 0.9; IV rank 50 -> 1.0
    assert s(40.0) == pytest.approx(0.1 * 0.9 * 1.0)
    assert s(40.0, ivr=100.0) == pytest.approx(0.1 * 0.9 * 1.25)
    assert s(40.0, ivr=None) == pytest.approx(0.1 * 0.9)
    assert s(-40.0) == pytest.approx(-0.1 / 0.9)


@pytest.mark.parametrize("ev", [40.0, -40.0, 0.0])
def test_more_liquidity_and_iv_rank_never_lower_the_score(ev: float) -> None:
    assert s(ev, liq=90.0) >= s(ev, liq=60.0)
    assert s(ev, ivr=80.0) >= s(ev, ivr=30.0)
    assert s(ev, liq=90.0) != s(ev, liq=60.0) or ev == 0.0


def test_more_ev_per_risk_scores_higher() -> None:
    assert s(40.0, loss="300") > s(40.0, loss="400") > s(30.0, loss="400")


def test_unscorable_is_minus_infinity() -> None:
    assert s(40.0, loss="0") == -math.inf
    assert s(math.nan) == -math.inf


def test_quality_factor_clamps() -> None:
    assert scoring.quality_factor(150.0, 150.0) == pytest.approx(1.25)
    assert scoring.quality_factor(-5.0, -5.0) == pytest.approx(0.5 * 0.75)
    assert scoring.quality_factor(math.nan, math.nan) == pytest.approx(0.5)

"""PoP / EV model: closed forms against numerical integration and pricing identities."""

from __future__ import annotations

import math

import pytest
from scipy import integrate

from agent.pricing.bsm import bs_price
from agent.strategies import model


def lognormal_pdf(x: float, forward: float, years: float, sigma: float) -> float:
    s = sigma * math.sqrt(years)
    mu = math.log(forward) - 0.5 * s * s
    return math.exp(-((math.log(x) - mu) ** 2) / (2 * s * s)) / (x * s * math.sqrt(2 * math.pi))


@pytest.mark.parametrize(
    ("strike", "is_call"), [(90.0, False), (105.0, False), (110.0, True), (95.0, True)]
)
def test_expected_payoff_matches_numerical_integration(strike: float, is_call: bool) -> None:
    forward, years, sigma = 101.0, 0.1, 0.35

    def integrand(x: float) -> float:
        payoff = max(x - strike, 0.0) if is_call else max(strike - x, 0.0)
        return payoff * lognormal_pdf(x, forward, years, sigma)

    numeric, _ = integrate.quad(integrand, 1e-6, 400.0, points=[strike], limit=200)
    closed = model.expected_option_payoff(strike, is_call, forward, years, sigma)
    assert closed == pytest.approx(numeric, rel=1e-7, abs=1e-10)


def test_prob_above_matches_numerical_integration() -> None:
    forward, years, sigma, level = 100.5, 0.12, 0.28, 93.0
    numeric, _ = integrate.quad(lambda x: lognormal_pdf(x, forward, years, sigma), level, 500.0)
    assert model.prob_above(level, forward, years, sigma) == pytest.approx(numeric, rel=1e-8)


def test_ev_is_zero_when_the_credit_is_the_model_price_at_the_same_vol() -> None:
    # Selling a put at its Black-Scholes price and integrating at the same vol: no edge.
    spot, strike, years, rate, q, sigma = 100.0, 95.0, 0.1, 0.04, 0.01, 0.3
    price = float(bs_price(spot, strike, years, rate, q, sigma, False))
    ev = model.expected_value_per_share(
        [model.PayoffLeg(strike=strike, is_call=False, quantity=-1)],
        credit=price,
        spot=spot,
        years=years,
        rate=rate,
        dividend_yield=q,
        sigma=sigma,
    )
    assert ev == pytest.approx(0.0, abs=1e-12)
    # a lower realized vol than implied is the premium a seller earns
    richer = model.expected_value_per_share(
        [model.PayoffLeg(strike=strike, is_call=False, quantity=-1)],
        credit=price,
        spot=spot,
        years=years,
        rate=rate,
        dividend_yield=q,
        sigma=0.2,
    )
    assert richer > 0


def test_degenerate_inputs() -> None:
    assert model.prob_above(0.0, 100.0, 0.1, 0.2) == 1.0
    assert model.prob_above(90.0, 100.0, 0.0, 0.2) == 1.0
    assert model.prob_above(110.0, 100.0, 0.1, 0.0) == 0.0
    assert model.expected_option_payoff(90.0, False, 80.0, 0.0, 0.3) == 10.0
    assert (
        model.prob_profit_between(
            110.0,
            90.0,
            spot=100.0,
            years=0.1,
            rate=0.0,
            dividend_yield=0.0,
            iv_lower=0.2,
            iv_upper=0.2,
        )
        == 0.0
    )


def test_prob_between_is_the_difference_of_the_tails() -> None:
    kw = {"spot": 100.0, "years": 0.1, "rate": 0.03, "dividend_yield": 0.0}
    p = model.prob_profit_between(92.0, 108.0, iv_lower=0.35, iv_upper=0.25, **kw)
    lower = model.prob_profit_above(92.0, iv=0.35, **kw)
    upper = model.prob_profit_above(108.0, iv=0.25, **kw)
    assert p == pytest.approx(lower - upper)
    assert 0.0 < p < 1.0


def test_interpolate_iv() -> None:
    points = [(90.0, 0.40), (100.0, 0.30)]
    assert model.interpolate_iv(points, 95.0) == pytest.approx(0.35)
    assert model.interpolate_iv(points, 80.0) == 0.40  # flat beyond the ends
    assert model.interpolate_iv(points, 120.0) == 0.30
    assert model.interpolate_iv([(90.0, math.nan), (100.0, 0.3)], 95.0) == 0.3
    assert math.isnan(model.interpolate_iv([], 95.0))
    assert model.interpolate_iv([(100.0, 0.3), (100.0, 0.5)], 100.0) in (0.3, 0.5)

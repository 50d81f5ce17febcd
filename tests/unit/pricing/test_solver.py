"""Implied-vol solver internals: start quality, iteration counts, lockstep == one by one."""

from __future__ import annotations

import math

import numpy as np

from agent.pricing import _kernels
from tests.unit.pricing.ivguess_fit import correction, log_b, model_s


def _normalized_price(x: float, s: float) -> float:
    return math.exp(log_b(x, s))


def _problems(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, s, beta) over |x| up to 3 and s from 1 % of s_c to 5 (both regions)."""
    rng = np.random.default_rng(seed)
    x = -(rng.uniform(0.0, 3.0, n) ** 2) / 3.0
    s_c = np.sqrt(-2.0 * x)
    s = np.where(
        rng.random(n) < 0.6,
        s_c * rng.uniform(0.01, 1.0, n),  # below the inflection point
        rng.uniform(0.01, 5.0, n),
    )
    beta = np.empty(n)
    for i in range(n):
        ex = math.exp(0.5 * x[i])
        a, t = -x[i] / s[i], 0.5 * s[i]
        vega = math.exp(-0.5 * (a * a + t * t)) / math.sqrt(2 * math.pi)
        if a >= t:
            beta[i] = vega * (_kernels.mills_ratio(a - t) - _kernels.mills_ratio(a + t))
        else:
            beta[i] = ex - vega * (_kernels.mills_ratio(t - a) + _kernels.mills_ratio(a + t))
    return x, s, beta


def test_table_reproduces_its_generator() -> None:
    for root_x, zeta in ((0.3, 0.5), (1.0, 0.2), (1.7, 0.9)):
        x = -root_x * root_x
        s_c = math.sqrt(-2.0 * x)
        exact = correction(x, zeta)
        assert abs(_kernels._start_correction(s_c, zeta) / exact - 1.0) < 0.01


def test_corrected_start_is_close_below_the_inflection_point() -> None:
    rng = np.random.default_rng(5)
    errors, raw_errors = [], []
    for _ in range(2000):
        x = -rng.uniform(0.05, 4.0)
        s_c = math.sqrt(-2.0 * x)
        s = s_c * rng.uniform(0.05, 1.0)
        beta = _normalized_price(x, s)
        start, lower, _ = _kernels._start(beta, x, math.exp(0.5 * x), 0.0)
        assert lower
        errors.append(abs(start / s - 1.0))
        raw_errors.append(abs(model_s(x, math.log(beta)) / s - 1.0))
    assert np.percentile(errors, 95) < 0.03
    assert np.percentile(raw_errors, 75) > 0.1  # what the table corrects


def test_solver_converges_in_few_steps_and_lockstep_matches() -> None:
    x, s, beta = _problems(seed=9, n=3000)
    ex = np.exp(0.5 * x)
    ok = (beta > 1e-250) & (beta < ex)
    x, s, beta, ex = x[ok], s[ok], beta[ok], ex[ok]
    steps = []
    one_by_one = np.empty(len(x))
    starts = np.empty(len(x))
    lower = np.empty(len(x), dtype=bool)
    target = np.empty(len(x))
    for i in range(len(x)):
        one_by_one[i], status = _kernels.solve_normalized(beta[i], x[i], ex[i], 0.0)
        assert status == _kernels.STATUS_OK
        starts[i], lower[i], target[i] = _kernels._start(beta[i], x[i], ex[i], 0.0)
        s_i, lo, hi, count = starts[i], 0.0, math.inf, 0
        while True:
            count += 1
            s_i, lo, hi, done = _kernels._householder_step(
                s_i, lo, hi, x[i], ex[i], lower[i], target[i]
            )
            if done:
                break
        steps.append(count)
    assert np.max(np.abs(one_by_one - s) / s) < 1e-11
    assert np.mean(steps) < 3.0 and np.max(steps) <= 8
    result = np.empty(len(x))
    _kernels.solve_lockstep(x, ex, starts.copy(), lower, target, len(x), result)
    np.testing.assert_array_equal(result, one_by_one)

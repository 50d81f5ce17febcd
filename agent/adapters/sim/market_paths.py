"""Price paths of the simulated market: daily closes with regimes, jumps and a market factor,
and 1-minute intraday paths generated on demand.

Daily model (one row per session, log returns, 252 sessions a year):

- a market-wide volatility regime (calm / normal / stressed), a Markov chain with daily
  transitions; a rare market shock (a gap down at the open) forces the stressed regime;
- the market factor's return of session ``j`` is split into an overnight part (at the open,
  ``OVERNIGHT_VARIANCE_SHARE`` of the day's variance) and an intraday part;
- each underlying returns ``beta × market + idiosyncratic``, its idiosyncratic vol scaled by
  the regime; after an earnings date it gaps at the next open (a fat-tailed jump);
- implied-vol level shocks ``x`` (log multipliers, AR(1) with a spot-vol reaction: the level
  rises when prices fall), one market-wide and one per underlying;
- daily share volume around the average, higher in stress, on earnings and FOMC days.

Rows are generated forward in chunks of ``CHUNK_SESSIONS`` from an origin
``history_sessions`` before the start date, each chunk from its own Philox stream (the market
one, and one per symbol named by the ticker), so a path never depends on how far it has been
extended, on the other names or on call order. Prices are anchored so that the close before
the start date equals the spec's price level.

Intraday model: for a session, the market factor and each underlying follow Brownian bridges
at 1-minute resolution from the open (previous close × overnight gap) to the day's close, with
a U-shaped variance profile (busier at the open and the close) and, on FOMC days, a burst of
market variance at the 14:00 ET statement. The paths are exact at both ends, so minute paths
and daily bars always agree.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from agent.adapters.sim.market_events import FOMC_ANNOUNCEMENT_MINUTE, fomc_days
from agent.adapters.sim.market_rng import stream
from agent.adapters.sim.universe import UnderlyingSpec, Universe, earnings_dates
from agent.calendar import MarketCalendar

FloatArray = npt.NDArray[np.float64]


class Regime(IntEnum):
    """Market-wide volatility regime."""

    CALM = 0
    NORMAL = 1
    STRESSED = 2


SESSIONS_PER_YEAR = 252
MARKET_VOL_BY_REGIME: tuple[float, float, float] = (0.10, 0.14, 0.30)
"""Annualised vol of the market factor in each regime."""
IDIO_VOL_MULT_BY_REGIME: tuple[float, float, float] = (0.85, 1.0, 1.6)
VOLUME_MULT_BY_REGIME: tuple[float, float, float] = (0.8, 1.0, 1.7)
REGIME_TRANSITIONS = np.array(
    [
        [0.975, 0.025, 0.000],
        [0.020, 0.970, 0.010],
        [0.000, 0.060, 0.940],
    ]
)
"""Daily transition probabilities (row: today, column: tomorrow). Mean stays: calm 40
sessions, normal 33, stressed 17; stationary shares about 41 % / 51 % / 8 %, before market
shocks push extra time into stress (over long runs about 30 % / 55 % / 15 %)."""
MARKET_DRIFT = 0.07
"""Annual expected return of the market factor."""
OVERNIGHT_VARIANCE_SHARE = 0.2
MARKET_SHOCK_PROB = 0.003
"""Per session: a market-wide gap down at the open (about 0.75 a year)."""
MARKET_SHOCK_MEAN = -0.045
MARKET_SHOCK_SD = 0.015
FOMC_MARKET_VARIANCE_MULT = 1.5
"""The market's intraday variance on an FOMC day, relative to a normal day."""
FOMC_STATEMENT_VARIANCE_SHARE = 0.25
"""Share of an FOMC day's intraday market variance released at the 14:00 ET statement."""
EARNINGS_JUMP_MIX = ((0.8, 0.85), (0.2, 1.5))
"""Earnings gap: a scale mixture of normals (probability, sd multiple); unit variance."""
IV_LEVEL_PHI = 0.94
"""Daily persistence of implied-vol level shocks."""
IV_LEVEL_SD_MARKET = 0.08
IV_LEVEL_SD_STOCK = 0.07
IV_LEVEL_SD_ETF = 0.04
SPOT_VOL_MARKET = 3.0
"""Market IV log-change per unit log return of the market (down 1 % → IV up about 3 %)."""
SPOT_VOL_IDIO = 1.0
CHUNK_SESSIONS = 64
MIN_IDIO_SHARE = 0.25
"""Idiosyncratic vol is at least this share of the total (even for an index ETF)."""


def idio_vol(spec: UnderlyingSpec) -> float:
    """Annualised idiosyncratic vol in the normal regime."""
    market = MARKET_VOL_BY_REGIME[Regime.NORMAL]
    return math.sqrt(max(spec.vol**2 - (spec.beta * market) ** 2, (MIN_IDIO_SHARE * spec.vol) ** 2))


def regime_vol(spec: UnderlyingSpec, regime: Regime) -> float:
    """Annualised total diffusive vol of an underlying in a regime (no jumps)."""
    market = MARKET_VOL_BY_REGIME[regime]
    idio = idio_vol(spec) * IDIO_VOL_MULT_BY_REGIME[regime]
    return math.sqrt((spec.beta * market) ** 2 + idio**2)


def market_correlation(spec: UnderlyingSpec, regime: Regime = Regime.NORMAL) -> float:
    """Correlation of the underlying's diffusive returns with the market factor."""
    return spec.beta * MARKET_VOL_BY_REGIME[regime] / regime_vol(spec, regime)


def _u_shape(n_minutes: int) -> FloatArray:
    """Per-minute variance weights, busier at both ends of the session, summing to 1."""
    u = (np.arange(n_minutes, dtype=np.float64) + 0.5) / n_minutes
    weights = 1.0 + 2.0 * (2.0 * u - 1.0) ** 2
    return np.asarray(weights / weights.sum(), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class IntradayPath:
    """One underlying's session at 1-minute resolution.

    ``prices[k]`` is the last price at minute ``k`` after the open (``prices[0]`` the open,
    ``prices[-1]`` the close), USD rounded to cents; ``iv_shock[k]`` the implied-vol level
    shock (log multiplier) at that minute; ``cum_variance[k]`` the share of the session's
    intraday variance (and volume) already elapsed.
    """

    prices: FloatArray
    iv_shock: FloatArray
    cum_variance: FloatArray
    high: float
    low: float


class MarketPaths:
    """Daily state of every underlying from the history origin forward, grown on demand."""

    def __init__(
        self,
        *,
        seed: int,
        universe: Universe,
        calendar: MarketCalendar,
        start_date: date,
        history_sessions: int,
        intraday_cache_size: int | None = None,
    ) -> None:
        self.seed = seed
        self.universe = universe
        self.calendar = calendar
        self.n_symbols = len(universe)
        anchor_day = calendar.previous_session(start_date)
        all_sessions = calendar.sessions_between(calendar.first_day, calendar.last_day)
        anchor_pos = bisect.bisect_left(all_sessions, anchor_day)
        if anchor_pos < history_sessions:
            raise ValueError(
                f"start date {start_date} leaves fewer than {history_sessions} sessions of "
                "calendar before it"
            )
        self.sessions: list[date] = all_sessions[anchor_pos - history_sessions :]
        self.session_index: dict[date, int] = {d: j for j, d in enumerate(self.sessions)}
        self.anchor_index = history_sessions
        self.origin = self.sessions[0]

        specs = universe.specs
        self._beta = np.array([s.beta for s in specs])
        self._idio = np.array([idio_vol(s) for s in specs])
        self._adv = np.array([s.avg_daily_volume_shares for s in specs])
        self._earn_move = np.array([s.earnings_move for s in specs])
        self._xe_sd = np.array([IV_LEVEL_SD_ETF if s.is_etf else IV_LEVEL_SD_STOCK for s in specs])
        self._total_normal = np.array([regime_vol(s, Regime.NORMAL) for s in specs])
        self._fomc = set(fomc_days(self.sessions[0], self.sessions[-1]))
        # earnings: per symbol, the sorted report days over the whole model span
        self.earnings: list[list[date]] = [
            earnings_dates(seed, s, calendar, self.sessions[0], self.sessions[-1]) for s in specs
        ]
        self._earnings_sets = [set(days) for days in self.earnings]

        # generated rows (grown by chunks)
        self._n = 0
        self.regime = np.zeros(0, dtype=np.int8)
        self.market_overnight = np.zeros(0)
        self.market_intraday = np.zeros(0)
        self.market_shock = np.zeros(0, dtype=np.bool_)
        self.market_iv_open = np.zeros(0)
        self.is_fomc = np.zeros(0, dtype=np.bool_)
        self.overnight_return = np.zeros((0, self.n_symbols))
        self.intraday_return = np.zeros((0, self.n_symbols))
        self.idio_intraday = np.zeros((0, self.n_symbols))
        self.idio_iv_open = np.zeros((0, self.n_symbols))
        self.earnings_gap = np.zeros((0, self.n_symbols), dtype=np.bool_)
        self.volume = np.zeros((0, self.n_symbols))
        self._log_close_rel = np.zeros((0, self.n_symbols))
        self.log_close = np.zeros((0, self.n_symbols))
        self.close = np.zeros((0, self.n_symbols))
        self.open = np.zeros((0, self.n_symbols))
        self._level = np.zeros(self.n_symbols)
        self._state_regime = -1
        self._state_xm = 0.0
        self._state_xe = np.zeros(self.n_symbols)
        self._state_log = np.zeros(self.n_symbols)
        self._market_intraday_cache: OrderedDict[int, tuple[FloatArray, FloatArray]] = OrderedDict()
        self._intraday_cache: OrderedDict[tuple[int, int], IntradayPath] = OrderedDict()
        # Minute paths in use are the current session's (quotes, fills, settlement) and the
        # previous one's; older sessions only feed daily high/low, memoized in ``_high_low``.
        # So two sessions of the universe are kept (~10 KB a path), not the daily-bar
        # backfill's year of paths that is never read again.
        self._intraday_cache_size = intraday_cache_size or max(256, 2 * self.n_symbols)
        self._high_low: dict[tuple[int, int], tuple[float, float]] = {}
        # several threads may query one model (actors): guard generation and the caches
        self._lock = threading.RLock()
        self.ensure(self.anchor_index + 1)
        self._level = (
            np.log(np.array([s.price_usd for s in specs])) - self._log_close_rel[self.anchor_index]
        )
        self._refresh_levels()

    # ------------------------------------------------------------------ daily rows

    @property
    def n_generated(self) -> int:
        return self._n

    def ensure(self, n_rows: int) -> None:
        """Generate daily rows until at least ``n_rows`` exist (whole chunks)."""
        if n_rows <= self._n:
            return
        with self._lock:
            self._ensure_locked(n_rows)

    def _ensure_locked(self, n_rows: int) -> None:
        if n_rows > len(self.sessions):
            raise ValueError(f"the simulated market ends on {self.sessions[-1]} (calendar limit)")
        if n_rows <= self._n:
            return
        first_new = self._n
        while self._n < n_rows:
            self._generate_chunk(self._n // CHUNK_SESSIONS)
        if first_new > 0:
            self._refresh_levels()

    def _refresh_levels(self) -> None:
        """Absolute closes and opens from the relative log path and the anchor level."""
        log_close = self._log_close_rel + self._level
        self.log_close = log_close
        self.close = np.asarray(np.round(np.exp(log_close), 2), dtype=np.float64)
        prev = np.vstack([self._level[None, :], log_close[:-1]])
        self.open = np.asarray(np.round(np.exp(prev + self.overnight_return), 2), dtype=np.float64)

    def _generate_chunk(self, chunk: int) -> None:
        j0 = chunk * CHUNK_SESSIONS
        j1 = min(j0 + CHUNK_SESSIONS, len(self.sessions))
        length = j1 - j0
        n = self.n_symbols
        days = self.sessions[j0:j1]
        f_on = OVERNIGHT_VARIANCE_SHARE
        per_day = 1.0 / SESSIONS_PER_YEAR

        mrng = stream(self.seed, "market-daily", chunk)
        u_regime = mrng.random(length)
        z_on = mrng.standard_normal(length)
        z_id = mrng.standard_normal(length)
        u_shock = mrng.random(length)
        z_shock = mrng.standard_normal(length)
        z_x = mrng.standard_normal(length)

        regime = np.empty(length, dtype=np.int8)
        m_on = np.empty(length)
        m_id = np.empty(length)
        shock = u_shock < MARKET_SHOCK_PROB
        xm_open = np.empty(length)
        fomc = np.array([d in self._fomc for d in days], dtype=np.bool_)
        state = self._state_regime
        prev_shock = bool(self.market_shock[-1]) if self._n else False
        xm = self._state_xm
        x_innov = IV_LEVEL_SD_MARKET * math.sqrt(1.0 - IV_LEVEL_PHI**2)
        for t in range(length):
            if state < 0:
                stationary = np.array([0.41, 0.51, 0.08])
                state = int(np.searchsorted(np.cumsum(stationary), u_regime[t]))
                xm = IV_LEVEL_SD_MARKET * z_x[t]
            elif prev_shock:
                state = Regime.STRESSED
            else:
                state = int(np.searchsorted(np.cumsum(REGIME_TRANSITIONS[state]), u_regime[t]))
            state = min(state, 2)
            regime[t] = state
            sigma = MARKET_VOL_BY_REGIME[state]
            var_on = sigma * sigma * f_on * per_day
            var_id = sigma * sigma * (1.0 - f_on) * per_day
            if fomc[t]:
                var_id *= FOMC_MARKET_VARIANCE_MULT
            m_on[t] = MARKET_DRIFT * f_on * per_day - 0.5 * var_on + math.sqrt(var_on) * z_on[t]
            if shock[t]:
                m_on[t] += MARKET_SHOCK_MEAN + MARKET_SHOCK_SD * z_shock[t]
            m_id[t] = (
                MARKET_DRIFT * (1.0 - f_on) * per_day - 0.5 * var_id + math.sqrt(var_id) * z_id[t]
            )
            if t > 0 or self._n > 0:
                xm = IV_LEVEL_PHI * xm + x_innov * z_x[t]
            xm_open[t] = xm - SPOT_VOL_MARKET * m_on[t]
            xm = xm_open[t] - SPOT_VOL_MARKET * m_id[t]
            prev_shock = bool(shock[t])
        self._state_regime = state
        self._state_xm = xm

        # per-symbol draws, one stream per (symbol, chunk)
        draws = np.empty((5, length, n))
        e_u_jump = np.empty((length, n))
        for i, spec in enumerate(self.universe.specs):
            srng = stream(self.seed, "symbol-daily", spec.symbol, chunk)
            draws[:, :, i] = srng.standard_normal((5, length))
            e_u_jump[:, i] = srng.random(length)
        e_z_on, e_z_id, e_z_x, e_z_vol, e_z_jump = draws

        idio_mult = np.array(IDIO_VOL_MULT_BY_REGIME)[regime][:, None]
        sigma_e = self._idio[None, :] * idio_mult
        var_e_on = sigma_e**2 * f_on * per_day
        var_e_id = sigma_e**2 * (1.0 - f_on) * per_day
        e_on = -0.5 * var_e_on + np.sqrt(var_e_on) * e_z_on
        e_id = -0.5 * var_e_id + np.sqrt(var_e_id) * e_z_id

        gap = np.zeros((length, n), dtype=np.bool_)
        for t in range(length):
            j = j0 + t
            if j == 0:
                continue
            previous = self.sessions[j - 1]
            for i in range(n):
                if previous in self._earnings_sets[i]:
                    gap[t, i] = True
        (p_small, sd_small), (_, sd_big) = EARNINGS_JUMP_MIX
        jump_scale = np.where(e_u_jump < p_small, sd_small, sd_big) * self._earn_move[None, :]
        jump = np.where(gap, -0.5 * self._earn_move[None, :] ** 2 + jump_scale * e_z_jump, 0.0)

        r_on = self._beta[None, :] * m_on[:, None] + e_on + jump
        r_id = self._beta[None, :] * m_id[:, None] + e_id

        xe_open = np.empty((length, n))
        xe = self._state_xe
        xe_innov = self._xe_sd * math.sqrt(1.0 - IV_LEVEL_PHI**2)
        for t in range(length):
            if self._n == 0 and t == 0:
                xe = self._xe_sd * e_z_x[t]
            else:
                xe = IV_LEVEL_PHI * xe + xe_innov * e_z_x[t]
            xe_open[t] = xe - SPOT_VOL_IDIO * e_on[t]
            xe = xe_open[t] - SPOT_VOL_IDIO * e_id[t]
        self._state_xe = xe

        daily_sd = self._total_normal * math.sqrt(per_day)
        move = np.minimum(np.abs(r_on + r_id) / daily_sd[None, :], 6.0)
        vol_mult = np.array(VOLUME_MULT_BY_REGIME)[regime][:, None]
        volume = (
            self._adv[None, :]
            * vol_mult
            * np.exp(0.3 * e_z_vol - 0.045)
            * (1.0 + 0.2 * move)
            / 1.16
            * np.where(gap, 2.5, 1.0)
            * np.where(fomc, 1.3, 1.0)[:, None]
        )
        volume = np.round(volume, -2)

        log_rel = self._state_log + np.cumsum(r_on + r_id, axis=0)
        self._state_log = log_rel[-1].copy()

        self.regime = np.concatenate([self.regime, regime])
        self.market_overnight = np.concatenate([self.market_overnight, m_on])
        self.market_intraday = np.concatenate([self.market_intraday, m_id])
        self.market_shock = np.concatenate([self.market_shock, shock])
        self.market_iv_open = np.concatenate([self.market_iv_open, xm_open])
        self.is_fomc = np.concatenate([self.is_fomc, fomc])
        self.overnight_return = np.vstack([self.overnight_return, r_on])
        self.intraday_return = np.vstack([self.intraday_return, r_id])
        self.idio_intraday = np.vstack([self.idio_intraday, e_id])
        self.idio_iv_open = np.vstack([self.idio_iv_open, xe_open])
        self.earnings_gap = np.vstack([self.earnings_gap, gap])
        self.volume = np.vstack([self.volume, volume])
        self._log_close_rel = np.vstack([self._log_close_rel, log_rel])
        self._n = j0 + length

    def row(self, day: date) -> int:
        """The row of session ``day`` (generating up to it); KeyError if not a session."""
        j = self.session_index[day]
        self.ensure(j + 1)
        return j

    def prev_close(self, j: int, i: int) -> float:
        """Close of the session before row ``j`` (the anchor-scaled level before the origin)."""
        if j == 0:
            return float(np.round(math.exp(self._level[i]), 2))
        return float(self.close[j - 1, i])

    def market_iv_close(self, j: int) -> float:
        return float(self.market_iv_open[j] - SPOT_VOL_MARKET * self.market_intraday[j])

    def idio_iv_close(self, j: int, i: int) -> float:
        return float(self.idio_iv_open[j, i] - SPOT_VOL_IDIO * self.idio_intraday[j, i])

    # ------------------------------------------------------------------ intraday

    def session_minutes(self, j: int) -> int:
        session = self.calendar.session(self.sessions[j])
        assert session is not None
        return int((session.close_at - session.open_at).total_seconds() // 60)

    def _market_minutes(self, j: int) -> tuple[FloatArray, FloatArray]:
        """The market factor's intraday log path (from 0 at the open) and its cumulative
        variance share, for row ``j``."""
        with self._lock:
            return self._market_minutes_locked(j)

    def _market_minutes_locked(self, j: int) -> tuple[FloatArray, FloatArray]:
        cached = self._market_intraday_cache.get(j)
        if cached is not None:
            self._market_intraday_cache.move_to_end(j)
            return cached
        n_min = self.session_minutes(j)
        weights = _u_shape(n_min)
        if self.is_fomc[j] and n_min > FOMC_ANNOUNCEMENT_MINUTE:
            weights = weights * (1.0 - FOMC_STATEMENT_VARIANCE_SHARE)
            weights[FOMC_ANNOUNCEMENT_MINUTE] += FOMC_STATEMENT_VARIANCE_SHARE
        sigma = MARKET_VOL_BY_REGIME[int(self.regime[j])]
        var_id = sigma * sigma * (1.0 - OVERNIGHT_VARIANCE_SHARE) / SESSIONS_PER_YEAR
        if self.is_fomc[j]:
            var_id *= FOMC_MARKET_VARIANCE_MULT
        z = stream(self.seed, "market-minute", self.sessions[j].isoformat()).standard_normal(n_min)
        path = _bridge(z, weights, math.sqrt(var_id), float(self.market_intraday[j]))
        result = (path, np.concatenate([[0.0], np.cumsum(weights)]))
        self._market_intraday_cache[j] = result
        if len(self._market_intraday_cache) > 64:
            self._market_intraday_cache.popitem(last=False)
        return result

    def intraday(self, j: int, i: int) -> IntradayPath:
        """The minute path of underlying ``i`` in session row ``j`` (cached, LRU)."""
        with self._lock:
            return self._intraday_locked(j, i)

    def _intraday_locked(self, j: int, i: int) -> IntradayPath:
        key = (j, i)
        cached = self._intraday_cache.get(key)
        if cached is not None:
            self._intraday_cache.move_to_end(key)
            return cached
        self.ensure(j + 1)
        market_path, _ = self._market_minutes(j)
        n_min = len(market_path) - 1
        weights = _u_shape(n_min)
        spec = self.universe.specs[i]
        sigma_e = self._idio[i] * IDIO_VOL_MULT_BY_REGIME[int(self.regime[j])]
        sd_id = sigma_e * math.sqrt((1.0 - OVERNIGHT_VARIANCE_SHARE) / SESSIONS_PER_YEAR)
        z = stream(
            self.seed, "symbol-minute", spec.symbol, self.sessions[j].isoformat()
        ).standard_normal(n_min)
        idio_path = _bridge(z, weights, sd_id, float(self.idio_intraday[j, i]))
        log_open = math.log(self.prev_close_unrounded(j, i)) + float(self.overnight_return[j, i])
        log_prices = log_open + self._beta[i] * market_path + idio_path
        prices = np.round(np.exp(log_prices), 2)
        prices[0] = self.open[j, i]
        prices[-1] = self.close[j, i]
        iv_shock = (
            self.market_iv_open[j]
            - SPOT_VOL_MARKET * market_path
            + self.idio_iv_open[j, i]
            - SPOT_VOL_IDIO * idio_path
        )
        path = IntradayPath(
            prices=prices,
            iv_shock=iv_shock,
            cum_variance=np.concatenate([[0.0], np.cumsum(weights)]),
            high=float(prices.max()),
            low=float(prices.min()),
        )
        self._intraday_cache[key] = path
        self._high_low[key] = (path.high, path.low)
        if len(self._intraday_cache) > self._intraday_cache_size:
            self._intraday_cache.popitem(last=False)
        return path

    def high_low(self, j: int, i: int) -> tuple[float, float]:
        """The session's high and low (from its minute path)."""
        cached = self._high_low.get((j, i))
        if cached is None:
            path = self.intraday(j, i)
            cached = (path.high, path.low)
        return cached

    def prev_close_unrounded(self, j: int, i: int) -> float:
        if j == 0:
            return math.exp(float(self._level[i]))
        return math.exp(float(self.log_close[j - 1, i]))

    # ------------------------------------------------------------------ queries

    def earnings_between(self, i: int, start: date, end: date) -> list[date]:
        days = self.earnings[i]
        return days[bisect.bisect_left(days, start) : bisect.bisect_right(days, end)]


def _bridge(z: FloatArray, weights: FloatArray, sd_total: float, end_value: float) -> FloatArray:
    """A Brownian bridge from 0 to ``end_value`` with per-step variance ``weights × sd²``
    (weights sum to 1); returns len(z) + 1 points."""
    increments = z * np.sqrt(weights)
    walk = np.concatenate([[0.0], np.cumsum(increments)])
    share = np.concatenate([[0.0], np.cumsum(weights)])
    share[-1] = 1.0
    return np.asarray(sd_total * (walk - share * walk[-1]) + share * end_value, dtype=np.float64)

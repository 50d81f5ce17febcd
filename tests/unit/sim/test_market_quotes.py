"""Option quotes of the simulated market: no-arbitrage bounds, bad quotes, spreads, ticks,
open interest and volume, consistency between chains and top of book, determinism."""

from __future__ import annotations

import itertools
import math
from datetime import date, time, timedelta

import numpy as np
import pytest

from agent.adapters.sim.market import MarketModel
from agent.adapters.sim.market_config import MarketConfig
from agent.adapters.sim.market_paths import Regime
from agent.adapters.sim.quotes import (
    BAD_CROSSED,
    BAD_NONE,
    BAD_STALE,
    BAD_ZERO_BID,
    TIER_QUOTING,
    make_quotes,
)
from agent.adapters.sim.universe import LiquidityTier
from agent.calendar import et_datetime
from agent.domain.contracts import parse_occ
from agent.domain.market import OptionChain
from agent.pricing.bsm import implied_vol

DAY = date(2026, 3, 2)
FAR = DAY + timedelta(days=60)
SEED = 5
SYMBOLS = ("SPY", "QQQ", "AAPL", "TSLA", "KO", "INTC", "PFE", "SIM001", "SIM002", "SIM003")


@pytest.fixture(scope="module")
def clean() -> MarketModel:
    return MarketModel(MarketConfig(seed=SEED, n_underlyings=30, bad_quote_rate=0.0))


@pytest.fixture(scope="module")
def faulty() -> MarketModel:
    return MarketModel(MarketConfig(seed=SEED, n_underlyings=30, bad_quote_rate=0.05))


def at(day: date, hh: int, mm: int = 0):  # type: ignore[no-untyped-def]
    return et_datetime(day, time(hh, mm))


def chain(model: MarketModel, symbol: str, when, max_expiry: date = FAR) -> OptionChain:  # type: ignore[no-untyped-def]
    return model.option_chain(symbol, when, min_expiry=date(2000, 1, 1), max_expiry=max_expiry)


def _violations(model: MarketModel, c: OptionChain, when, exempt=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per row: does the quote break a no-arbitrage bound? A vertical pair counts only when
    neither row is ``exempt`` (a known bad quote)."""
    exempt = np.zeros(len(c), dtype=bool) if exempt is None else exempt
    spot = model.spot(c.underlying, when)
    intrinsic = np.maximum(np.where(c.is_call, spot - c.strike, c.strike - spot), 0.0)
    upper = np.where(c.is_call, spot, c.strike)
    bad = (c.bid < 0) | (c.bid > c.ask) | (c.ask < intrinsic - 1e-9) | (c.bid > upper)
    # vertical spreads: a higher-strike call cannot be sold above a lower-strike call's ask
    for expiry in np.unique(c.expiry):
        for is_call in (True, False):
            rows = np.flatnonzero((c.expiry == expiry) & (c.is_call == is_call))
            rows = rows[np.argsort(c.strike[rows])]
            if is_call:
                broken = c.bid[rows[1:]] > c.ask[rows[:-1]] + 1e-9
            else:
                broken = c.bid[rows[:-1]] > c.ask[rows[1:]] + 1e-9
            broken &= ~exempt[rows[1:]] & ~exempt[rows[:-1]]
            bad[rows[1:][broken]] = True
    return bad


def test_clean_quotes_never_break_no_arbitrage_bounds(clean: MarketModel) -> None:
    checked = 0
    for day in (DAY, date(2026, 3, 20), date(2026, 4, 2)):
        for hh, mm in ((9, 30), (11, 17), (15, 59), (17, 0)):
            when = at(day, hh, mm)
            for symbol in SYMBOLS:
                c = chain(clean, symbol, when)
                assert not _violations(clean, c, when).any(), (symbol, when)
                checked += len(c)
    assert checked > 50_000


def test_bad_quotes_come_at_the_configured_rate_and_are_the_only_violations(
    clean: MarketModel, faulty: MarketModel
) -> None:
    kinds, total = np.zeros(4, dtype=np.int64), 0
    for hh in (10, 12, 14):
        when = at(DAY, hh, 7)
        for symbol in SYMBOLS:
            good, bad = chain(clean, symbol, when), chain(faulty, symbol, when)
            _, block = faulty.quote_block(symbol, when)
            flagged = block.bad_kind[: len(bad)] != BAD_NONE
            assert np.array_equal(good.symbol, bad.symbol)
            changed = (good.bid != bad.bid) | (good.ask != bad.ask)
            changed |= good.quote_time_s != bad.quote_time_s
            assert not (changed & ~flagged).any()  # nothing else is touched
            assert not (_violations(faulty, bad, when, flagged) & ~flagged).any()
            crossed = block.bad_kind[: len(bad)] == BAD_CROSSED
            assert (bad.bid[crossed] > bad.ask[crossed]).all()
            stale = block.bad_kind[: len(bad)] == BAD_STALE
            assert (bad.quote_time_s[stale] < when.timestamp()).all()
            assert (bad.bid[block.bad_kind[: len(bad)] == BAD_ZERO_BID] == 0).all()
            kinds += np.bincount(block.bad_kind[: len(bad)], minlength=4)
            total += len(bad)
    share = 1.0 - kinds[BAD_NONE] / total
    assert 0.045 < share < 0.055, share
    assert kinds[BAD_STALE] > kinds[BAD_CROSSED] > 0 and kinds[BAD_ZERO_BID] > 0


def test_bad_quotes_are_deterministic_per_contract_and_minute(faulty: MarketModel) -> None:
    other = MarketModel(MarketConfig(seed=SEED, n_underlyings=30, bad_quote_rate=0.05))
    when = at(DAY, 13, 3)
    _, a = faulty.quote_block("SPY", when)
    _, b = other.quote_block("SPY", when)
    _, later = faulty.quote_block("SPY", when + timedelta(minutes=1))
    assert np.array_equal(a.bad_kind, b.bad_kind)
    assert not np.array_equal(a.bad_kind, later.bad_kind)


def _rel_spread(c: OptionChain, rows: np.ndarray) -> np.ndarray:
    mid = (c.bid[rows] + c.ask[rows]) / 2
    return (c.ask[rows] - c.bid[rows]) / mid


def _nearest_expiry(c: OptionChain, day: date, dte: int) -> np.datetime64:
    expiries = np.unique(c.expiry)
    target = np.datetime64(day + timedelta(days=dte))
    return expiries[np.argmin(np.abs(expiries - target))]


def _atm_row(c: OptionChain, spot: float, expiry: np.datetime64, is_call: bool) -> int:
    rows = np.flatnonzero((c.expiry == expiry) & (c.is_call == is_call))
    return int(rows[np.argmin(np.abs(c.strike[rows] - spot))])


def test_spreads_widen_away_from_the_money(clean: MarketModel) -> None:
    when = at(DAY, 12)
    c = chain(clean, "AAPL", when)
    spot = clean.spot("AAPL", when)
    expiry = _nearest_expiry(c, DAY, 30)
    puts = np.flatnonzero((c.expiry == expiry) & ~c.is_call & (c.strike <= spot) & (c.bid > 0))
    puts = puts[np.argsort(-c.strike[puts])]  # from the money outwards
    rel = _rel_spread(c, puts)
    assert rel[-1] > 3 * rel[0]
    quarters = [float(np.mean(q)) for q in np.array_split(rel, 4)]  # ticks make it jagged
    assert quarters == sorted(quarters)


def test_spreads_widen_for_shorter_expiries(clean: MarketModel) -> None:
    when = at(DAY, 12)
    c = chain(clean, "AAPL", when)
    spot = clean.spot("AAPL", when)
    rels = [
        _rel_spread(c, np.array([_atm_row(c, spot, _nearest_expiry(c, DAY, d), False)]))[0]
        for d in (4, 11, 25, 46)
    ]
    assert rels == sorted(rels, reverse=True)


def test_spreads_widen_for_less_liquid_names(clean: MarketModel) -> None:
    when = at(DAY, 12)
    by_tier: dict[LiquidityTier, list[float]] = {}
    for spec in clean.universe.specs:
        c = chain(clean, spec.symbol, when)
        spot = clean.spot(spec.symbol, when)
        row = _atm_row(c, spot, _nearest_expiry(c, DAY, 30), False)
        by_tier.setdefault(spec.tier, []).append(float(_rel_spread(c, np.array([row]))[0]))
    medians = [np.median(by_tier[t]) for t in sorted(by_tier)]
    assert medians == sorted(medians) and len(medians) == 4


def test_spreads_widen_in_the_stressed_regime(clean: MarketModel) -> None:
    paths = clean.paths
    rows = range(30, paths.anchor_index)
    stressed = next(j for j in rows if paths.regime[j] == Regime.STRESSED)
    calm = next(j for j in rows if paths.regime[j] == Regime.CALM)
    rel = []
    for j in (calm, stressed):
        day = paths.sessions[j]
        when = at(day, 12)
        c = chain(clean, "SPY", when, day + timedelta(days=60))
        spot = clean.spot("SPY", when)
        row = _atm_row(c, spot, _nearest_expiry(c, day, 30), False)
        rel.append(float(_rel_spread(c, np.array([row]))[0]))
    assert rel[1] > 1.5 * rel[0]


def test_deep_otm_is_zero_bid_and_minimum_ask(clean: MarketModel) -> None:
    when = at(DAY, 12)
    for symbol, min_ask in (("AAPL", 0.05), ("SIM003", 0.05), ("SPY", 0.01)):
        book, block = clean.quote_block(symbol, when)
        far = np.flatnonzero(block.fair < 0.001)
        assert len(far) > 10, symbol
        assert (block.bid[far] == 0).all() and np.allclose(block.ask[far], min_ask), symbol
        assert (block.bid_size[far] == 0).all()
        del book


def test_ticks_follow_the_tier_table(clean: MarketModel) -> None:
    when = at(DAY, 12)
    for spec in clean.universe.specs:
        c = chain(clean, spec.symbol, when)
        cents = np.round(np.concatenate([c.bid, c.ask]) * 100).astype(np.int64)
        prices = np.concatenate([c.bid, c.ask])
        assert np.allclose(cents / 100, prices)
        if spec.tier is LiquidityTier.MID:
            assert (cents[prices >= 3.0] % 5 == 0).all(), spec.symbol
        if spec.tier is LiquidityTier.LOW:
            assert (cents[prices >= 3.0] % 10 == 0).all(), spec.symbol
            assert (cents[prices < 3.0] % 5 == 0).all(), spec.symbol


def test_open_interest_peaks_near_the_money_and_at_monthlies(clean: MarketModel) -> None:
    book = clean.day_book("AAPL", DAY)
    listing = book.listing
    spot = clean.paths.prev_close(clean.paths.row(DAY), clean.universe.index_of["AAPL"])
    near = np.abs(np.log(listing.strike / spot)) < 0.03
    far = np.abs(np.log(listing.strike / spot)) > 0.15
    assert np.median(book.open_interest[near]) > 5 * np.median(book.open_interest[far])
    monthly = listing.expiry_is_monthly[listing.row_expiry]
    assert np.mean(book.open_interest[near & monthly]) > np.mean(
        book.open_interest[near & ~monthly]
    )


def test_illiquid_names_fail_and_liquid_names_pass_oi_and_volume_filters(
    clean: MarketModel,
) -> None:
    close = at(DAY, 15, 59)
    for spec in clean.universe.specs:
        c = chain(clean, spec.symbol, close)
        spot = clean.spot(spec.symbol, close)
        dte = (c.expiry - np.datetime64(DAY)).astype(int)
        rows = np.flatnonzero((dte >= 20) & (dte <= 50) & (np.abs(np.log(c.strike / spot)) < 0.08))
        oi, volume = np.median(c.open_interest[rows]), np.median(c.volume[rows])
        if spec.tier is LiquidityTier.LOW:
            assert oi < 100 and volume < 50, spec.symbol
        if spec.tier <= LiquidityTier.HIGH:
            assert oi >= 100 and volume >= 50, spec.symbol


def test_volume_grows_through_the_session(clean: MarketModel) -> None:
    volumes = [
        chain(clean, "QQQ", at(DAY, hh, mm)).volume
        for hh, mm in ((9, 30), (10, 0), (12, 0), (15, 59))
    ]
    assert volumes[0].sum() == 0
    for earlier, later in itertools.pairwise(volumes):
        assert (later >= earlier).all() and later.sum() > earlier.sum()
    assert np.isnan(chain(clean, "QQQ", at(DAY, 9, 30)).last).all()


def test_top_of_book_matches_the_chain(faulty: MarketModel) -> None:
    when = at(DAY, 11, 42)
    c = chain(faulty, "TSLA", when, DAY + timedelta(days=200))
    picks = list(range(0, len(c), 11))
    books = faulty.top_of_book(
        [str(c.symbol[k]) for k in picks] + ["TSLA", "NOPE", "TSLA260302C09990000"], when
    )
    assert "NOPE" not in books and "TSLA260302C09990000" not in books
    assert books["TSLA"].bid < faulty.spot("TSLA", when) < books["TSLA"].ask
    for k in picks:
        top = books[str(c.symbol[k])]
        assert (top.bid, top.ask, top.bid_size, top.ask_size) == (
            c.bid[k],
            c.ask[k],
            c.bid_size[k],
            c.ask_size[k],
        )
        assert top.quoted_at.timestamp() == c.quote_time_s[k]


def test_contracts_disappear_when_they_expire(clean: MarketModel) -> None:
    expiry = date(2026, 3, 6)
    before = chain(clean, "SPY", at(expiry, 15, 59), expiry)
    after = chain(clean, "SPY", at(expiry, 16, 0), expiry)
    expiring = before.symbol[before.expiry == np.datetime64(expiry)]
    assert len(expiring) > 50
    assert not np.isin(expiring, after.symbol).any()
    assert clean.top_of_book([str(expiring[0])], at(expiry, 16, 1)) == {}
    assert str(expiring[0]) in clean.top_of_book([str(expiring[0])], at(expiry, 15, 59))


def test_quotes_are_priced_from_the_surface_with_bsm(clean: MarketModel) -> None:
    when = at(DAY, 12)
    book, block = clean.quote_block("AAPL", when)
    listing = book.listing
    spot = clean.spot("AAPL", when)
    rows = np.arange(len(block.fair))
    years = (listing.expiry_value_epoch_s[listing.row_expiry[rows]] - when.timestamp()) / (
        365 * 86400
    )
    spec = clean.spec("AAPL")
    iv = implied_vol(
        block.fair,
        spot,
        listing.strike[rows],
        years,
        0.04,
        spec.dividend_yield,
        listing.is_call[rows],
    )
    intrinsic = np.maximum(
        np.where(listing.is_call[rows], spot - listing.strike[rows], listing.strike[rows] - spot), 0
    )
    moderate = np.abs(np.log(listing.strike[rows] / spot)) < 0.15
    ok = np.isfinite(iv) & (block.fair > intrinsic + 0.05) & moderate & (years > 2 / 365)
    assert ok.sum() > 100
    assert np.allclose(iv[ok], block.iv[ok], atol=1e-6)
    # vendor columns: Alpaca units, with a few missing
    c = chain(clean, "AAPL", when)
    assert np.isnan(c.vendor_iv).any() and np.isfinite(c.vendor_iv).mean() > 0.5
    finite = np.isfinite(c.vendor_theta)
    assert (c.vendor_theta[finite] <= 1e-9).mean() > 0.9  # long options lose value per day
    assert np.nanmax(np.abs(c.vendor_delta)) <= 1.0


def test_put_skew_and_term_structure_by_regime(clean: MarketModel) -> None:
    paths = clean.paths
    i = clean.universe.index_of["SPY"]
    slopes = {Regime.CALM: [], Regime.STRESSED: []}  # type: ignore[var-annotated]
    for j in range(30, paths.anchor_index, 3):
        regime = Regime(int(paths.regime[j]))
        if regime in slopes:
            day = paths.sessions[j]
            close = at(day, 15, 59)
            slopes[regime].append(clean.atm_iv("SPY", close, 90) - clean.atm_iv("SPY", close, 7))
    assert np.mean(np.array(slopes[Regime.CALM]) > 0) > 0.9  # contango
    assert np.mean(np.array(slopes[Regime.STRESSED]) < 0) > 0.9  # inverted
    _, block = clean.quote_block("SPY", at(DAY, 12))
    listing = clean.day_book("SPY", DAY).listing
    spot = clean.spot("SPY", at(DAY, 12))
    e = int(np.argmin(np.abs([(s.expiry - DAY).days - 30 for s in listing.expiries])))
    rows = np.flatnonzero(
        (listing.row_expiry[: len(block.iv)] == e) & ~listing.is_call[: len(block.iv)]
    )
    low = rows[np.argmin(np.abs(listing.strike[rows] - 0.93 * spot))]
    atm = rows[np.argmin(np.abs(listing.strike[rows] - spot))]
    assert block.iv[low] > block.iv[atm] + 0.02  # put skew
    del i


def test_earnings_bump_and_crush(clean: MarketModel) -> None:
    report = next(d for d in clean.earnings_dates("AAPL", DAY, DAY + timedelta(days=120)))
    before = clean.calendar.previous_session(report, inclusive=False)
    after = clean.calendar.next_session(report)
    book = clean.day_book("AAPL", before)
    expiries = [s.expiry for s in book.listing.expiries]
    spanning = min(e for e in expiries if e > report)
    ending = max(e for e in expiries if e <= report)
    when = at(before, 15, 30)
    _, block = clean.quote_block("AAPL", when)
    spot = clean.spot("AAPL", when)

    def atm_iv(expiry: date, b=block, listing=book.listing) -> float:  # type: ignore[no-untyped-def]
        e = expiries.index(expiry)
        rows = np.flatnonzero(listing.row_expiry[: len(b.iv)] == e)
        return float(b.iv[rows[np.argmin(np.abs(listing.strike[rows] - spot))]])

    later = min(e for e in expiries if e > spanning)
    # the event's variance is concentrated in the nearest expiry that spans it
    assert atm_iv(spanning) > 1.1 * atm_iv(later)
    # and gone once the report is out (crush)
    after_book, after_block = clean.quote_block("AAPL", at(after, 12))
    spot_after = clean.spot("AAPL", at(after, 12))
    e = [s.expiry for s in after_book.listing.expiries].index(spanning)
    rows = np.flatnonzero(after_book.listing.row_expiry[: len(after_block.iv)] == e)
    k = rows[np.argmin(np.abs(after_book.listing.strike[rows] - spot_after))]
    assert after_block.iv[k] < 0.85 * atm_iv(spanning)
    assert clean.atm_iv("AAPL", at(after, 10)) < clean.atm_iv("AAPL", at(report, 15, 30))
    del ending


def test_same_seed_same_chain_different_seed_differs(clean: MarketModel) -> None:
    when = at(date(2026, 3, 11), 14, 21)
    twin = MarketModel(MarketConfig(seed=SEED, n_underlyings=30, bad_quote_rate=0.0))
    other = MarketModel(MarketConfig(seed=SEED + 1, n_underlyings=30, bad_quote_rate=0.0))
    a, b, c = (chain(m, "IWM", when) for m in (clean, twin, other))
    for name in (
        "symbol",
        "expiry",
        "strike",
        "is_call",
        "bid",
        "ask",
        "volume",
        "open_interest",
        "vendor_iv",
    ):
        assert np.array_equal(
            getattr(a, name),
            getattr(b, name),
            equal_nan=name not in ("symbol", "expiry", "is_call"),
        ), name
    assert not np.array_equal(a.bid[: min(len(a), len(c))], c.bid[: min(len(a), len(c))])


def test_occ_symbols_of_the_chain_parse(clean: MarketModel) -> None:
    c = chain(clean, "SIM002", at(DAY, 12))
    for k in range(0, len(c), 5):
        contract = parse_occ(str(c.symbol[k]))
        assert (contract.underlying, contract.expiry, float(contract.strike)) == (
            "SIM002",
            c.expiry[k].astype(date),
            c.strike[k],
        )


def test_the_grouped_surface_matches_the_reference_formula() -> None:
    from agent.adapters.sim.market_surface import strike_vols, strike_vols_grouped

    rng = np.random.default_rng(3)
    strikes = rng.uniform(50, 150, 400)
    group = rng.integers(0, 5, 400)
    group_years = np.array([0.001, 0.02, 0.1, 0.5, 1.5])
    group_var = np.array([0.0002, 0.003, 0.02, 0.06, 0.2])
    years, sigma, z = strike_vols_grouped(
        spot_usd=np.array([100.0]),
        strike_usd=strikes,
        row_group=group,
        group_years=group_years,
        group_total_var=group_var,
        rate=0.04,
        dividend_yield=0.01,
        skew=0.2,
        smile=0.04,
    )
    ref_sigma, ref_z = strike_vols(
        spot_usd=100.0,
        strike_usd=strikes,
        years=group_years[group],
        total_var=group_var[group],
        rate=0.04,
        dividend_yield=0.01,
        skew=0.2,
        smile=0.04,
    )
    assert np.allclose(years, group_years[group])
    assert np.allclose(sigma, ref_sigma, rtol=1e-12) and np.allclose(z, ref_z, rtol=1e-12)
    # skew: lower strikes carry higher vol within an expiry
    rows = np.flatnonzero(group == 2)
    order = np.argsort(strikes[rows])
    assert sigma[rows][order][0] > sigma[rows][order][len(rows) // 2]


def _reference_quote(  # noqa: PLR0917
    price: float,
    spot: float,
    strike: float,
    is_call: bool,
    z: float,
    years: float,
    contract_id: int,
    minute_key: int,
    tier: LiquidityTier,
    width_mult: float,
    bad_rate: float,
) -> tuple[float, float, float, float, int, int]:
    """One contract's quote, written out per element (the formulas of the quotes module
    docstring; the simulator's former compiled kernel): the vectorised engine must give
    exactly these numbers."""
    mask = (1 << 64) - 1

    def mix(x: int) -> int:
        z_ = (x + 0x9E3779B97F4A7C15) & mask
        z_ = ((z_ ^ (z_ >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z_ = ((z_ ^ (z_ >> 27)) * 0x94D049BB133111EB) & mask
        return z_ ^ (z_ >> 31)

    q = TIER_QUOTING[tier]
    small, large = float(q.tick_small_cents), float(q.tick_large_cents)
    fair = max(price, max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0))
    pct = q.base_pct * (1.0 + 0.35 * abs(z)) * (1.0 + 0.6 / math.sqrt(years * 365.0 + 0.25))
    width = max(pct * width_mult * fair, q.min_width)
    lo, hi = (fair - 0.5 * width) * 100.0, (fair + 0.5 * width) * 100.0
    tick_b = small if lo < 300.0 else large
    bid_c = max(math.floor(lo / tick_b + 1e-7) * tick_b, 0.0)
    tick_a = small if hi < 300.0 else large
    ask_c = math.ceil(hi / tick_a - 1e-7) * tick_a
    if bid_c <= 0.0:
        ask_c = math.ceil(2.0 * fair * 100.0 / tick_a - 1e-7) * tick_a
    ask_c = max(ask_c, q.min_ask * 100.0)
    if ask_c <= bid_c:
        ask_c = bid_c + tick_a
    h = mix(contract_id ^ mix(minute_key & mask))
    h_size = mix(h ^ 0x5151)
    span = q.size_hi - q.size_lo + 1
    bid_size = 0.0 if bid_c <= 0.0 else float(q.size_lo + h_size % span)
    ask_size = float(q.size_lo + mix(h_size) % span)
    kind, lag = BAD_NONE, 0
    u = (h >> 11) / 9007199254740992.0
    if u < bad_rate:
        v = u / bad_rate
        if v < 0.4:
            kind, lag = BAD_STALE, 1 + mix(h ^ 0x7171) % 15
        elif v < 0.7:
            kind, bid_c, bid_size = BAD_CROSSED, ask_c + tick_a, max(bid_size, 1.0)
        else:
            kind, bid_c, bid_size = BAD_ZERO_BID, 0.0, 0.0
    return bid_c / 100.0, ask_c / 100.0, bid_size, ask_size, kind, lag


@pytest.mark.parametrize("tier", list(LiquidityTier))
def test_the_quote_engine_matches_the_per_contract_formulas_exactly(tier: LiquidityTier) -> None:
    rng = np.random.default_rng(int(tier))
    n = 3000
    spot = float(rng.lognormal(np.log(100.0), 0.8))
    strike = np.round(spot * rng.lognormal(0.0, 0.3, n), 1)
    price = rng.lognormal(-1.0, 2.0, n) * (rng.random(n) > 0.1)
    is_call = rng.random(n) < 0.5
    z = rng.normal(0.0, 2.0, n)
    years = rng.uniform(1e-6, 2.0, n)
    contract_id = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    minute_key = int(rng.integers(0, 2**62)) * 4 + 3
    for width_mult, bad_rate in ((1.0, 0.0), (1.5, 0.05), (2.0, 1.0)):
        quotes = make_quotes(
            price=price,
            spot_usd=spot,
            strike_usd=strike,
            is_call=is_call,
            z=z,
            years=years,
            contract_id=contract_id,
            minute_key=minute_key,
            tier=tier,
            width_mult=width_mult,
            bad_quote_rate=bad_rate,
        )
        for i in range(n):
            want = _reference_quote(
                float(price[i]),
                spot,
                float(strike[i]),
                bool(is_call[i]),
                float(z[i]),
                float(years[i]),
                int(contract_id[i]),
                minute_key,
                tier,
                width_mult,
                bad_rate,
            )
            got = (
                quotes.bid[i],
                quotes.ask[i],
                quotes.bid_size[i],
                quotes.ask_size[i],
                int(quotes.bad_kind[i]),
                int(quotes.stale_lag_min[i]),
            )
            assert got == want, (i, got, want)
        assert np.array_equal(
            quotes.fair,
            np.maximum(price, np.where(is_call, spot - strike, strike - spot).clip(0.0)),
        )


def test_concurrent_callers_see_the_same_quotes() -> None:
    from concurrent.futures import ThreadPoolExecutor

    shared = MarketModel(MarketConfig(seed=SEED, n_underlyings=24, bad_quote_rate=0.02))
    serial = MarketModel(MarketConfig(seed=SEED, n_underlyings=24, bad_quote_rate=0.02))
    jobs = [(s, at(DAY, 10 + k % 5, k)) for k, s in enumerate(SYMBOLS * 3)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: chain(shared, *job), jobs))
    for (symbol, when), got in zip(jobs, results, strict=True):
        want = chain(serial, symbol, when)
        assert np.array_equal(got.bid, want.bid) and np.array_equal(got.ask, want.ask)


def test_dividend_yields_are_exposed_for_the_agent(clean: MarketModel) -> None:
    yields = clean.dividend_yields()
    assert set(yields) == set(clean.symbols)
    assert yields["KO"] == clean.spec("KO").dividend_yield > 0


def test_fair_values_are_free_of_butterfly_arbitrage(clean: MarketModel) -> None:
    checked = 0
    for day in (DAY, date(2026, 3, 27)):
        for symbol in SYMBOLS:
            book, block = clean.quote_block(symbol, at(day, 12))
            listing = book.listing
            n = len(block.fair)
            for e in range(len(listing.expiries)):
                for is_call in (True, False):
                    rows = np.flatnonzero(
                        (listing.row_expiry[:n] == e) & (listing.is_call[:n] == is_call)
                    )
                    slopes = np.diff(block.fair[rows]) / np.diff(listing.strike[rows])
                    assert (np.diff(slopes) >= -1e-7).all(), (symbol, day, e, is_call)
                    checked += len(rows)
    assert checked > 10_000

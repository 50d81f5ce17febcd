"""Universe filters: each rule at its edge, alone and through ``scan_symbol``."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from agent.domain import DecisionOutcome, DecisionStage, MarketEvent, MarketEventKind
from agent.pricing.ivrank import IvRankResult, IvRankStatus
from agent.signals import scan_symbol, universe
from tests.unit.strategies.chains import (
    TODAY,
    build_chain,
    make_settings,
    scan_input,
    snapshot,
)

U = make_settings().universe


def universe_record(scan):  # type: ignore[no-untyped-def]
    (rec,) = [d for d in scan.decisions if d.stage is DecisionStage.UNIVERSE]
    return rec


def reason(rec, rule: str):  # type: ignore[no-untyped-def]
    (r,) = [r for r in rec.reasons if r.rule == rule]
    return r


# --------------------------------------------------------------------------- price band


@pytest.mark.parametrize(
    ("symbol", "price", "ok"),
    [("XYZ", 19.99, False), ("XYZ", 20.0, True), ("XYZ", 500.0, True), ("XYZ", 500.01, False)],
)
def test_price_band_edges(symbol: str, price: float, ok: bool) -> None:
    r = universe.price_band(symbol, price, U)
    assert r.passed is ok
    assert r.value == price and r.limit == "[20, 500]"


def test_price_cap_exemption() -> None:
    spy = universe.price_band("SPY", 650.0, U)
    assert spy.passed and "exempt" in spy.message
    assert not universe.price_band("NVDA", 650.0, U).passed
    # exemption lifts only the cap, never the floor
    assert not universe.price_band("SPY", 10.0, U).passed


def test_unusable_price_fails() -> None:
    assert not universe.price_band("XYZ", math.nan, U).passed
    assert not universe.price_band("XYZ", 0.0, U).passed


# --------------------------------------------------------------------------- volume, spread


def test_stock_volume_uses_the_average_then_todays_volume() -> None:
    assert universe.stock_volume(snapshot(avg_volume=1_000_000), U).passed
    low = universe.stock_volume(snapshot(avg_volume=999_999), U)
    assert not low.passed and low.value == 999_999 and low.limit == 1_000_000
    fallback = universe.stock_volume(snapshot(avg_volume=math.nan, day_volume=1_200_000), U)
    assert fallback.passed and "today's volume" in fallback.message
    unknown = universe.stock_volume(snapshot(avg_volume=math.nan, day_volume=math.nan), U)
    assert not unknown.passed


def test_underlying_spread_edge() -> None:
    at_limit = universe.underlying_spread(snapshot(price=100.0, spread=1.0), U)
    assert at_limit.passed and at_limit.value == pytest.approx(1.0)
    assert not universe.underlying_spread(snapshot(price=100.0, spread=1.01), U).passed
    no_quote = universe.underlying_spread(snapshot(price=100.0, spread=math.nan), U)
    assert not no_quote.passed and "no usable" in no_quote.message


# --------------------------------------------------------------------------- IV rank


def rank(
    value: float | None, status: IvRankStatus = IvRankStatus.OK, days: int = 60
) -> IvRankResult:
    return IvRankResult(rank=value, percentile=value, days=days, status=status, current=0.3)


def test_iv_rank_edge() -> None:
    assert universe.iv_rank_filter(rank(25.0), U, 20).passed
    low = universe.iv_rank_filter(rank(24.99), U, 20)
    assert not low.passed and (low.value, low.limit) == (24.99, 25.0)


def test_iv_rank_unknown_rejects_by_default_and_allows_when_configured() -> None:
    warming = rank(None, IvRankStatus.WARMING_UP, days=12)
    rejected = universe.iv_rank_filter(warming, U, 20)
    assert not rejected.passed and rejected.value is None
    assert "warming up: 12 of 20 days" in rejected.message
    assert "iv_rank_unknown=reject" in rejected.message
    allow = make_settings("universe.iv_rank_unknown=allow").universe
    allowed = universe.iv_rank_filter(warming, allow, 20)
    assert allowed.passed and "iv_rank_unknown=allow" in allowed.message
    no_iv = universe.iv_rank_filter(rank(None, IvRankStatus.NO_CURRENT_IV), U, 20)
    assert not no_iv.passed and "no current ATM IV" in no_iv.message


def test_iv_rank_warm_up_through_the_scan() -> None:
    short_history = scan_input(iv_history=(0.25,) * 12)
    rejected = scan_symbol(short_history, make_settings())
    assert rejected.candidates == ()
    assert rejected.iv_rank is None
    assert math.isfinite(rejected.atm_iv)  # still reported, for the IV history
    rec = universe_record(rejected)
    assert rec.outcome is DecisionOutcome.REJECTED
    assert [r.rule for r in rec.failed_reasons] == ["iv_rank"]
    assert rec.metrics["iv_rank_status"] == "warming_up"

    allowed = scan_symbol(short_history, make_settings("universe.iv_rank_unknown=allow"))
    assert allowed.candidates
    assert all(c.iv_rank is None for c in allowed.candidates)


# --------------------------------------------------------------------------- events, regime


def fomc(days: int) -> tuple[MarketEvent, ...]:
    return (MarketEvent(kind=MarketEventKind.FOMC, on=TODAY + timedelta(days=days)),)


def test_fomc_day_blocks_new_entries() -> None:
    today = universe.fomc_blackout(fomc(0), TODAY, U)
    assert not today.passed and today.value == TODAY.isoformat()
    assert universe.fomc_blackout(fomc(1), TODAY, U).passed
    off = make_settings("universe.fomc_blackout=false").universe
    assert universe.fomc_blackout(fomc(0), TODAY, off).passed

    scan = scan_symbol(scan_input(events=fomc(0)), make_settings())
    assert scan.candidates == ()
    assert [r.rule for r in universe_record(scan).failed_reasons] == ["fomc_blackout"]


def test_earnings_are_reported_not_filtered_at_universe_level() -> None:
    events = (
        MarketEvent(kind=MarketEventKind.EARNINGS, on=TODAY + timedelta(days=3), symbol="XYZ"),
    )
    r = universe.earnings_notice(events, "XYZ", TODAY)
    assert r.passed and r.value == (TODAY + timedelta(days=3)).isoformat()
    assert universe.earnings_notice(events, "ABC", TODAY).value is None


@pytest.mark.parametrize(("vix", "ok"), [(35.0, True), (35.01, False), (math.nan, False)])
def test_vol_index_cutoff(vix: float, ok: bool) -> None:
    r = universe.vol_regime(vix, U)
    assert r.passed is ok
    if math.isnan(vix):
        assert r.value is None and "unknown" in r.message
    scan = scan_symbol(scan_input(vol_index=vix), make_settings())
    assert bool(scan.candidates) is ok


@pytest.mark.parametrize(("days", "ok"), [(19, False), (20, True)])
def test_minimum_history(days: int, ok: bool) -> None:
    r = universe.history(days, U)
    assert (r.passed, r.value, r.limit) == (ok, days, 20)


def test_empty_chain_is_rejected() -> None:
    empty = build_chain(dtes=())
    scan = scan_symbol(scan_input(empty), make_settings())
    assert scan.candidates == () and scan.contracts == 0
    assert "option_chain" in {r.rule for r in universe_record(scan).failed_reasons}


def test_universe_record_has_every_rule_and_the_key_metrics() -> None:
    scan = scan_symbol(scan_input(), make_settings())
    rec = universe_record(scan)
    assert rec.outcome is DecisionOutcome.ACCEPTED
    assert [r.rule for r in rec.reasons] == [
        "option_chain",
        "price_band",
        "stock_volume",
        "underlying_spread",
        "iv_rank",
        "fomc_blackout",
        "vol_index",
        "min_history",
        "earnings_blackout",
    ]
    m = rec.metrics
    assert m["spot"] == 100.0 and m["vol_index"] == 18.0 and m["history_days"] == 300
    assert m["atm_iv"] == pytest.approx(0.30, abs=1e-3)
    assert m["iv_rank"] == pytest.approx(50.0, abs=1.0)
    assert m["contracts"] == len(scan_input().chain)


def test_all_failures_are_recorded_together() -> None:
    cheap = build_chain(spot=15.0, strikes=[10.0 + 0.5 * i for i in range(21)])
    inp = scan_input(
        cheap,
        underlying=snapshot(price=15.0, avg_volume=10.0, spread=1.0),
        vol_index=50.0,
        history_days=5,
    )
    rec = universe_record(scan_symbol(inp, make_settings()))
    assert {r.rule for r in rec.failed_reasons} == {
        "price_band",
        "stock_volume",
        "underlying_spread",
        "vol_index",
        "min_history",
    }

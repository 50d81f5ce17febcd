"""Benchmark of the per-symbol scan: enrich + ATM IV / IV rank + filters + strategies + rank.

Target: a realistic 2,000-contract chain scanned in < 5 ms once warm (median), everything
included (``agent.signals.scan_symbol`` end to end). The universe filters are set to pass
(IV-rank floor 0, CSP allowed on the symbol) so that every stage runs: a rejected symbol
would stop after the universe stage and flatter the numbers.

Chains:
- a synthetic chain of exactly 2,000 contracts (20 expiries × 50 strikes × put/call, a
  skewed smile priced with our kernels, cent quotes, realistic sizes);
- simulator chains (``SimMarketData``) of several underlyings at 10:00 ET.

Run: ``python bench/scan.py`` (``make bench``); writes bench/results/scan.md.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.adapters.sim.marketdata import SimMarketData  # noqa: E402
from agent.calendar import ET, et_datetime  # noqa: E402
from agent.clock import SimClock  # noqa: E402
from agent.config import AgentSettings, load_settings  # noqa: E402
from agent.domain import (  # noqa: E402
    MarketContext,
    OptionChain,
    OptionRight,
    ScanInput,
    UnderlyingSnapshot,
    format_occ,
)
from agent.marketdata.service import realized_vol  # noqa: E402
from agent.pricing.bsm import bs_price  # noqa: E402
from agent.pricing.chain import enrich_chain, time_to_expiry_years  # noqa: E402
from agent.pricing.ivrank import atm_iv  # noqa: E402
from agent.signals import scan_symbol  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scan.md"
DAY = date(2026, 3, 2)
AS_OF = et_datetime(DAY, dtime(10, 0))
SIM_SYMBOLS = ("SPY", "QQQ", "IWM", "TSLA", "AAPL", "NVDA", "KO")
WARMUP = 30
ROUNDS = 8
SAMPLES = 400
"""Timed scans per chain, in ``ROUNDS`` rounds of equal size."""
TARGET_MS = 5.0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_after() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def bench_settings(symbols: tuple[str, ...]) -> AgentSettings:
    listed = ", ".join(symbols)
    return load_settings(
        os.devnull,
        [
            "universe.min_iv_rank=0",
            f"strategies.cash_secured_put.symbols=[{listed}]",
            f"universe.price_cap_exempt=[{listed}]",
            "universe.min_stock_volume=0",
            "universe.earnings_blackout=false",
        ],
        env_file=None,
        environ={},
    )


def synthetic_input() -> ScanInput:
    """2,000 contracts: 20 weekly expiries (3-136 DTE) × 50 strikes (2.5 USD apart) × 2."""
    rng = np.random.default_rng(42)
    spot = 180.0
    today = AS_OF.astimezone(ET).date()
    dtes = [3 + 7 * i for i in range(20)]
    strikes = 120.0 + 2.5 * np.arange(50)
    rows: dict[str, list[object]] = {
        k: []
        for k in ("symbol", "expiry", "strike", "is_call", "bid", "ask", "volume", "open_interest")
    }
    for dte in dtes:
        expiry = today + timedelta(days=dte)
        years = time_to_expiry_years(AS_OF, expiry)
        moneyness = np.log(strikes / spot)
        vol = 0.32 - 0.35 * moneyness + 0.6 * moneyness**2
        for is_call in (False, True):
            price = bs_price(spot, strikes, years, 0.04, 0.005, vol, is_call)
            half = np.maximum(0.01, np.round(price * rng.uniform(0.01, 0.05, len(strikes)), 2))
            mid = np.round(price, 2)
            right = OptionRight.CALL if is_call else OptionRight.PUT
            for k, m, h in zip(strikes, mid, half, strict=True):
                rows["symbol"].append(format_occ("BENCH", expiry, right, Decimal(str(k))))
                rows["expiry"].append(np.datetime64(expiry, "D"))
                rows["strike"].append(float(k))
                rows["is_call"].append(is_call)
                rows["bid"].append(max(0.0, round(float(m - h), 2)))
                rows["ask"].append(round(float(m + h), 2))
                rows["volume"].append(float(rng.integers(0, 3000)))
                rows["open_interest"].append(float(rng.integers(0, 20000)))
    n = len(rows["symbol"])
    chain = OptionChain.from_columns(
        underlying="BENCH",
        as_of=AS_OF,
        quote_time_s=np.full(n, AS_OF.timestamp() - 2.0),
        **rows,  # type: ignore[arg-type]
    )
    snapshot = UnderlyingSnapshot(
        symbol="BENCH",
        price=spot,
        bid=spot - 0.01,
        ask=spot + 0.01,
        day_volume=2e6,
        prev_close=spot,
        avg_daily_volume=2e7,
        as_of=AS_OF,
    )
    return ScanInput(
        scan_id="bench",
        as_of=AS_OF,
        underlying=snapshot,
        chain=chain,
        context=MarketContext(as_of=AS_OF, vol_index=18.0),
        iv_history=tuple(np.linspace(0.2, 0.45, 252)),
        history_days=400,
        rate=0.04,
        dividend_yield=0.005,
        realized_vol=0.26,
        sector="technology",
    )


def sim_inputs(settings: AgentSettings) -> dict[str, ScanInput]:
    clock = SimClock(AS_OF)
    md = SimMarketData.from_settings(settings, clock)
    context = md.get_market_context(start=DAY - timedelta(days=7), end=DAY + timedelta(days=120))
    out = {}
    for symbol in SIM_SYMBOLS:
        snapshot = md.get_underlying_snapshots([symbol])[symbol]
        chain = md.get_option_chain(symbol, min_expiry=DAY, max_expiry=DAY + timedelta(days=60))
        bars = md.get_daily_bars(symbol, start=DAY - timedelta(days=400), end=DAY)
        history = md.get_iv_history(symbol, start=DAY - timedelta(days=400), end=DAY)
        out[symbol] = ScanInput(
            scan_id="bench",
            as_of=AS_OF,
            underlying=snapshot,
            chain=chain,
            context=context,
            iv_history=tuple(iv for _, iv in history)[-252:],
            history_days=len(bars),
            rate=settings.market_data.risk_free_rate,
            dividend_yield=md.model.dividend_yields().get(symbol, 0.0),
            realized_vol=realized_vol([b.close for b in bars]),
        )
    return out


def timed(fn: Callable[[], object], samples: int = SAMPLES) -> tuple[list[float], list[float]]:
    """Wall-clock and thread-CPU milliseconds per call (CPU time excludes the time this
    process waited for a core on a loaded machine)."""
    for _ in range(WARMUP):
        fn()
    wall, cpu = [], []
    for _ in range(samples):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
    return wall, cpu


def stats(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), float(np.percentile(values, 95))


def row(name: str, inp: ScanInput, settings: AgentSettings) -> tuple[str, ...]:
    scan = scan_symbol(inp, settings)
    stages = {d.stage.value for d in scan.decisions}
    full = scan_symbol(inp, settings)
    assert full.candidates == scan.candidates  # deterministic
    total, total_cpu = timed(lambda: scan_symbol(inp, settings))
    spot = inp.underlying.price
    _, enrich = timed(
        lambda: enrich_chain(
            inp.chain,
            spot,
            inp.rate,
            inp.dividend_yield,
            inp.as_of,
            max_quote_age_s=settings.universe.max_quote_age_s,
        ),
        samples=200,
    )
    enriched = enrich_chain(inp.chain, spot, inp.rate, inp.dividend_yield, inp.as_of)
    _, atm = timed(lambda: atm_iv(enriched, 30.0), samples=200)
    lo, med, p95 = stats(total)
    per_round = len(total) // ROUNDS
    quiet = min(
        statistics.median(total[k * per_round : (k + 1) * per_round]) for k in range(ROUNDS)
    )
    kinds = ",".join(sorted(c.strategy.value.split("_")[0] for c in scan.candidates)) or "-"
    return (
        name,
        str(len(inp.chain)),
        f"{lo:.2f}",
        f"{med:.2f}",
        f"{p95:.2f}",
        f"{quiet:.2f}",
        f"{statistics.median(total_cpu):.2f}",
        f"{statistics.median(enrich):.2f}",
        f"{statistics.median(atm):.2f}",
        f"{statistics.median(total_cpu) - statistics.median(enrich) - statistics.median(atm):.2f}",
        str(len(scan.decisions)),
        kinds,
        "yes" if {"universe", "contract", "strategy"} <= stages else "no",
    )


def main() -> None:
    started = datetime.now(UTC)
    load_before = load_after()
    gc.collect()
    t0 = time.perf_counter()
    synthetic = synthetic_input()
    settings = bench_settings(("BENCH", *SIM_SYMBOLS))
    first = time.perf_counter()
    scan_symbol(synthetic, settings)  # numba cache load / compile, first calls
    first_ms = (time.perf_counter() - first) * 1e3
    rows = [row("synthetic (BENCH)", synthetic, settings)]
    sims = sim_inputs(settings)
    rows += [row(f"sim {symbol}", inp, settings) for symbol, inp in sims.items()]
    headline = rows[0]
    median_ms = float(headline[3])
    quiet_ms = float(headline[5])
    cpu_ms = float(headline[6])
    verdict = "met" if max(quiet_ms, cpu_ms) < TARGET_MS else "NOT met"
    header = (
        "| chain | contracts | min ms | median ms | p95 ms | quietest-round median ms | "
        "CPU median ms | of which enrich | atm_iv | the rest | records | candidates | "
        "all stages |"
    )
    lines = [
        "# Per-symbol scan benchmark",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores (shared with other work)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}",
        f"- first scan in this process (numba cache load, first calls): {first_ms:.0f} ms",
        f"- samples: {SAMPLES} timed scans after {WARMUP} warm-up scans, one thread, GC on;",
        f"  min/median/p95 over all of them, and the median of the quietest of {ROUNDS} equal",
        "  rounds (the timeit convention: interference only ever adds time)",
        "- what is timed: `scan_symbol` end to end (enrich_chain, ATM IV, IV rank, universe and",
        "  contract filters, the three strategies, per-symbol ranking, decision records). Wall",
        "  clock min/median/p95, and the median thread CPU time split into `enrich_chain` and",
        "  `atm_iv` (pricing, timed alone) and the rest (signals and strategies)",
        f"- set-up of the inputs (not timed): {(first - t0) * 1e3:.0f} ms",
        "",
        header,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        f"Target < {TARGET_MS:.0f} ms once warm for the 2,000-contract chain (judged on the",
        f"quietest-round median and the CPU median): **{verdict}** ({quiet_ms:.2f} ms wall,",
        f"{cpu_ms:.2f} ms CPU; {median_ms:.2f} ms median over all samples on this loaded box).",
        "",
        f"Load average while running: {load_before} before, {load_after()} after (the box is",
        "shared; p95 and the median grow with the load, the minimum and CPU time do not).",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

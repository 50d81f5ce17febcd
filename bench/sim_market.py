"""Benchmark of the simulated market: one full chain snapshot, and a 100-symbol scan.

Targets (the simulator's performance contract): a full chain snapshot (every listed strike
and expiry within 60 days) for one underlying at one minute in < 2 ms, so the market data of
a 100-symbol scan (snapshots + chains) costs < 0.2 s.

What is timed: quotes at a *new* minute (nothing cached for that minute), with the day's
listings already built (they are cached per day, as in a run). Listing builds (once per
symbol and day) and the first call in a process are reported separately. The simulator
prices in plain numpy (no numba).

Run: ``python bench/sim_market.py`` (``make bench``); writes bench/results/sim_market.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.adapters.sim.market import MarketModel  # noqa: E402
from agent.adapters.sim.market_config import MarketConfig  # noqa: E402
from agent.adapters.sim.marketdata import SimMarketData  # noqa: E402
from agent.calendar import et_datetime  # noqa: E402
from agent.clock import SimClock  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sim_market.md"
DAY = date(2026, 3, 2)
CHAIN_SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "TSLA", "NVDA", "KO", "SIM001", "SIM002")
SAMPLES = 120
CHAIN_TARGET_MS = 2.0
SCAN_TARGET_S = 0.2


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def bench_chains(model: MarketModel) -> list[tuple[str, int, float, float, float]]:
    start = et_datetime(DAY, datetime.min.time().replace(hour=10))
    rows = []
    for symbol in CHAIN_SYMBOLS:
        # warm up: listing for the day, the minute path
        chain = model.option_chain(
            symbol, start, min_expiry=DAY, max_expiry=DAY + timedelta(days=60)
        )
        times_ms = []
        for k in range(1, SAMPLES + 1):
            at = start + timedelta(minutes=k)
            t0 = time.perf_counter()
            chain = model.option_chain(
                symbol, at, min_expiry=DAY, max_expiry=DAY + timedelta(days=60)
            )
            times_ms.append((time.perf_counter() - t0) * 1e3)
        rows.append(
            (
                symbol,
                len(chain),
                min(times_ms),
                statistics.median(times_ms),
                percentile(times_ms, 95),
            )
        )
    return rows


def bench_scan(model: MarketModel) -> tuple[int, int, list[float], float]:
    """Snapshots and 60-day chains for every underlying, at successive 5-minute scans."""
    clock = SimClock(et_datetime(DAY, datetime.min.time().replace(hour=10)))
    data = SimMarketData(model, clock)
    symbols = list(model.symbols)
    # first scan of the day builds every listing (once per symbol and day)
    t0 = time.perf_counter()
    data.get_underlying_snapshots(symbols)
    for s in symbols:
        data.get_option_chain(s, min_expiry=DAY, max_expiry=DAY + timedelta(days=60))
    first_s = time.perf_counter() - t0
    scans_s = []
    contracts = 0
    for _ in range(8):
        clock.advance(timedelta(minutes=5))
        t0 = time.perf_counter()
        data.get_underlying_snapshots(symbols)
        contracts = 0
        for s in symbols:
            chain = data.get_option_chain(s, min_expiry=DAY, max_expiry=DAY + timedelta(days=60))
            contracts += len(chain)
        scans_s.append(time.perf_counter() - t0)
    return len(symbols), contracts, scans_s, first_s


def main() -> int:
    t0 = time.perf_counter()
    model = MarketModel(MarketConfig(n_underlyings=100))
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.option_chain(
        "KO", datetime(2026, 3, 2, 15, 0, tzinfo=UTC), min_expiry=DAY, max_expiry=DAY
    )
    first_call_s = time.perf_counter() - t0

    chains = bench_chains(model)
    n_symbols, contracts, scans_s, first_scan_s = bench_scan(model)
    worst_chain_median = max(r[3] for r in chains)
    scan_median = statistics.median(scans_s)
    chain_ok = worst_chain_median < CHAIN_TARGET_MS
    scan_ok = scan_median < SCAN_TARGET_S

    lines = [
        "# Simulated market benchmark",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores",
        f"- Python {platform.python_version()}, numpy {np.__version__} (the simulator does not use numba)",
        f"- model build (100 underlyings, 400 sessions of history): {build_s * 1e3:.0f} ms",
        f"- first quote call in this process (imports, listing, minute path): "
        f"{first_call_s * 1e3:.0f} ms",
        "",
        "## One full chain snapshot (all strikes, expiries within 60 days, a new minute)",
        "",
        "| underlying | contracts | min ms | median ms | p95 ms |",
        "|---|---:|---:|---:|---:|",
        *(f"| {s} | {n} | {lo:.3f} | {med:.3f} | {p95:.3f} |" for s, n, lo, med, p95 in chains),
        "",
        f"Target < {CHAIN_TARGET_MS} ms per chain (median, largest chain "
        f"{worst_chain_median:.3f} ms): **{'met' if chain_ok else 'NOT met'}**.",
        "",
        f"## A {n_symbols}-symbol scan (snapshots + 60-day chains of every underlying)",
        "",
        f"- contracts per scan: {contracts}",
        f"- scan at a new minute, listings cached (8 scans): median {scan_median * 1e3:.1f} ms, "
        f"min {min(scans_s) * 1e3:.1f} ms, max {max(scans_s) * 1e3:.1f} ms",
        f"- first scan of a day (builds every listing once): {first_scan_s * 1e3:.0f} ms",
        "",
        f"Target < {SCAN_TARGET_S * 1e3:.0f} ms per scan: **{'met' if scan_ok else 'NOT met'}**.",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: a 100-symbol market-data scan through the Alpaca adapter and the loopback server.

Run standalone (``.venv/bin/python bench/alpaca_scan.py [--quick]``) or via ``make bench``.
Writes ``bench/results/alpaca_scan.md`` with the machine description.

The scan is what the market-data actor does every 5 minutes: stock snapshots of the 100
underlyings (one request per 100 symbols, plus one daily-bars request per day for average
volumes) and every underlying's option chain out to 60 days (the contracts listing for open
interest on the trading API, then the snapshot pages of the chain on the data API), all with
the real alpaca-py clients over HTTP on 127.0.0.1.

Three passes on one server (uvicorn in a thread of this process, so client and server share
the CPU and the GIL: the HTTP figures are an upper bound for a remote server's client side):

1. unthrottled, cold: the server computes every chain for the first time;
2. unthrottled, warm: the same minute again, server-side chains cached;
3. governed at Alpaca's real budget: 200 requests/min per API (trading and data each have a
   RateGovernor; a SCAN may use 70 % of a window, the rest is kept for orders and exits),
   against a server enforcing 200/min: one scan, then a second one right after it through
   the same governors, which must wait for the window. Wall time is split into deliberate
   rate-limit waits (time blocked in the governor) and the rest. ``--quick`` skips these
   passes (they take about a minute).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import alpaca  # noqa: E402
import fastapi  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402

from agent.adapters.alpaca import AlpacaMarketData, RetryPolicy  # noqa: E402
from agent.adapters.sim.market import MarketModel  # noqa: E402
from agent.adapters.sim.market_config import MarketConfig  # noqa: E402
from agent.adapters.sim.server import (  # noqa: E402
    RateLimit,
    ServerThread,
    build_app,
    build_backend,
)
from agent.clock import SimClock  # noqa: E402
from agent.config import load_settings  # noqa: E402
from agent.marketdata.governor import LocalLimiter, RateGovernor  # noqa: E402

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
CHAIN_DAYS = 60
KEY, SECRET = "bench-key", "bench-secret"
RESULTS = ROOT / "bench" / "results" / "alpaca_scan.md"


@dataclass
class Pass:
    name: str
    wall_s: float
    requests: int
    trading_requests: int
    data_requests: int
    limiter_wait_s: float
    http_s: float
    contracts: int
    rate_limited: int
    max_in_window: dict[str, int]

    @property
    def working_s(self) -> float:
        return self.wall_s - self.limiter_wait_s


def _settings(url: str, folder: Path):  # type: ignore[no-untyped-def]
    config = folder / "config.yaml"
    config.touch()
    return load_settings(
        config,
        [f"database_url=sqlite:///{folder / 'db.sqlite'}"],
        env_file=None,
        environ={
            "OPTAGENT_MODE": "paper",
            "ALPACA_API_KEY": KEY,
            "ALPACA_SECRET_KEY": SECRET,
            "ALPACA_BASE_URL": url,
            "ALPACA_DATA_URL": url,
        },
    )


def scan(
    server: ServerThread,
    symbols: list[str],
    name: str,
    *,
    limiters: tuple[LocalLimiter, LocalLimiter],
    folder: Path,
    repeats: int = 1,
) -> Pass:
    """``repeats`` scans back to back through (data, trading) limiters."""
    app = server.app
    app.stats.reset()
    data_limiter, trading_limiter = limiters
    waited_before = data_limiter.waited_s + trading_limiter.waited_s
    source = AlpacaMarketData.from_settings(
        _settings(server.url, folder),
        data_limiter,
        trading_limiter=trading_limiter,
        clock=app.backend.clock,
        policy=RetryPolicy(),
    )
    today = START.date()
    started = time.perf_counter()
    contracts = 0
    for _ in range(repeats):
        source.get_underlying_snapshots(symbols)
        for symbol in symbols:
            chain = source.get_option_chain(
                symbol, min_expiry=today, max_expiry=today + timedelta(days=CHAIN_DAYS)
            )
            contracts += len(chain)
    wall = time.perf_counter() - started
    stats = app.stats.snapshot(app.gate.rate)
    transport = source.transport.stats
    return Pass(
        name=name,
        wall_s=wall,
        requests=transport.requests,
        trading_requests=stats["arrivals"]["trading"],
        data_requests=stats["arrivals"]["data"],
        limiter_wait_s=data_limiter.waited_s + trading_limiter.waited_s - waited_before,
        http_s=transport.http_s,
        contracts=contracts,
        rate_limited=stats["rate_limited"],
        max_in_window=stats["max_in_window"],
    )


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores",
        f"- Python {platform.python_version()}, alpaca-py {alpaca.__version__}, "
        f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, numpy {np.__version__}",
        "- client and server in one process on 127.0.0.1 (uvicorn in a thread)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="skip the governed passes (about a minute)"
    )
    args = parser.parse_args()
    model = MarketModel(MarketConfig(seed=42, n_underlyings=100))
    symbols = list(model.symbols)
    backend = build_backend(model, clock=SimClock(START), initial_cash_usd=Decimal(100_000))
    app = build_app(backend, api_key=KEY, secret_key=SECRET, rate_limit=RateLimit(limit=10**9))
    server = ServerThread(app).start()
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"optagent-bench-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    passes: list[Pass] = []
    try:
        free = (LocalLimiter(RateGovernor(10**9)), LocalLimiter(RateGovernor(10**9)))
        for name in ("unthrottled, cold server", "unthrottled, warm server"):
            passes.append(scan(server, symbols, name, limiters=free, folder=folder))
        if not args.quick:
            # The server enforces Alpaca's budget from here on; the governors live as long as
            # the process, like the market-data actor's.
            app.set_rate_limit(RateLimit(limit=200, window_s=60.0))
            governed = (
                LocalLimiter(RateGovernor(200, window_s=60.0)),
                LocalLimiter(RateGovernor(200, window_s=60.0)),
            )
            passes.append(
                scan(server, symbols, "governed 200/min per API: a scan", limiters=governed,
                     folder=folder)
            )  # fmt: skip
            passes.append(
                scan(server, symbols, "governed: the next scan right after it",
                     limiters=governed, folder=folder)
            )  # fmt: skip
    finally:
        server.stop()
    lines = [
        "# Alpaca adapter scan benchmark",
        "",
        *machine(),
        "",
        f"A scan of {len(symbols)} underlyings: stock snapshots (+ one daily-bars request for "
        f"average volumes) and every option chain to {CHAIN_DAYS} days (contracts listing on "
        "the trading API, snapshot pages of 1,000 on the data API), through AlpacaMarketData "
        "and the real alpaca-py clients over HTTP.",
        "",
        "| pass | requests (trading + data) | contracts | wall s | rate-limit waits s | "
        "wall − waits s | HTTP s | ms/request | 429s | max requests in any 60 s (trading, data) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in passes:
        lines.append(
            f"| {p.name} | {p.requests} ({p.trading_requests} + {p.data_requests}) | "
            f"{p.contracts} | {p.wall_s:.2f} | {p.limiter_wait_s:.2f} | {p.working_s:.2f} | "
            f"{p.http_s:.2f} | {1000 * p.http_s / max(1, p.requests):.1f} | {p.rate_limited} | "
            f"{p.max_in_window['trading']}, {p.max_in_window['data']} |"
        )
    lines += [
        "",
        "Reading it: a scan needs about two requests per underlying (one contracts listing on "
        "the trading API, one or more snapshot pages on the data API; the largest chains, SPY "
        "and QQQ with about 3,500 contracts, need four). One scan fits in the share of a minute a SCAN may use (140 of 200 "
        "per API; the governor keeps 30 % for orders, exits and reconciliation), so it runs "
        "without waiting; a second scan within the same minute waits for the window instead "
        "of drawing 429s. With the scan every 5 minutes both budgets keep ample headroom.",
        "",
        'Notes: the "max requests in any 60 s" column counts each pass on its own (the '
        "server's counters are reset between passes); across the two governed passes together "
        "the server saw no 429. The second governed pass's HTTP time per request is higher "
        "than the first's because the waits let keep-alive connections expire (new TCP "
        'connections) and the 2-core machine is shared; "wall − waits" is the figure to '
        "compare with the unthrottled passes.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

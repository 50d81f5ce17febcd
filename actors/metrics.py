"""Custom metrics through ``ray.util.metrics`` (exported by every node's metrics agent,
scraped by Prometheus, shown on the dashboard's Metrics view when Grafana is set up).

Each process creates the metric objects it uses on first use; names are prefixed
``optagent_``. Recording never raises: a metrics hiccup must not fail a trading step.
"""

from __future__ import annotations

from typing import Any

from ray.util import metrics as ray_metrics

from agent.logging import logger

_LATENCY_BOUNDARIES_S = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]

_SPECS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (kind, description, tag keys)
    "scan_latency_s": ("histogram", "Wall seconds of a full scan cycle", ()),
    "loop_latency_s": ("histogram", "Wall seconds of one loop step", ("loop",)),
    "loop_lag_s": (
        "gauge",
        "Clock seconds a loop step started after its scheduled time",
        ("loop",),
    ),
    "loop_errors": ("counter", "Failed loop steps", ("loop",)),
    "loop_skipped": ("counter", "Loop runs skipped because a step was slow", ("loop",)),
    "symbols_scanned": ("counter", "Symbols scanned", ()),
    "candidates": ("counter", "Candidates found by scans", ()),
    "orders": ("counter", "Orders sent (entries, exits, rolls, single legs)", ("kind",)),
    "fills": ("counter", "Fills booked", ()),
    "rejects": ("counter", "Orders refused by the broker or denied by risk", ("by",)),
    "rate_limit_waits": ("counter", "Requests that waited for the shared budget", ("budget",)),
    "rate_limit_wait_s": ("counter", "Seconds spent waiting for the shared budget", ("budget",)),
    "http_429": ("counter", "HTTP 429 answers from the broker or data API", ()),
    "broker_errors": ("counter", "Broker errors fed to the risk breakers", ("kind",)),
    "trading_state": ("gauge", "Breaker state: 0 active, 1 reducing, 2 halted", ()),
    "actor_up": ("gauge", "1 when the actor answered the last heartbeat", ("actor",)),
    "actor_restarts": ("counter", "Actor restarts seen by the supervisor", ("actor",)),
}

_made: dict[str, Any] = {}


def _metric(name: str) -> Any:
    metric = _made.get(name)
    if metric is None:
        kind, description, tags = _SPECS[name]
        full = f"optagent_{name}"
        if kind == "counter":
            metric = ray_metrics.Counter(full, description=description, tag_keys=tags)
        elif kind == "gauge":
            metric = ray_metrics.Gauge(full, description=description, tag_keys=tags)
        else:
            metric = ray_metrics.Histogram(
                full, description=description, boundaries=_LATENCY_BOUNDARIES_S, tag_keys=tags
            )
        _made[name] = metric
    return metric


def inc(name: str, value: float = 1.0, **tags: str) -> None:
    if value <= 0:
        return
    try:
        _metric(name).inc(value, tags=tags or None)
    except Exception:
        logger.opt(exception=True).debug("metric {} not recorded", name)


def set_gauge(name: str, value: float, **tags: str) -> None:
    try:
        _metric(name).set(value, tags=tags or None)
    except Exception:
        logger.opt(exception=True).debug("metric {} not recorded", name)


def observe(name: str, value: float, **tags: str) -> None:
    try:
        _metric(name).observe(value, tags=tags or None)
    except Exception:
        logger.opt(exception=True).debug("metric {} not recorded", name)


def metric_names() -> list[str]:
    return [f"optagent_{name}" for name in _SPECS]

"""The monitor's own rules (the strategies own take-profit, stop-loss, breach and expiry).

Pure functions of a :class:`TradeMark`, the time and :class:`MonitorSettings`:

- **Early-assignment risk** (``EARLY_ASSIGNMENT_RISK``): a short put in the money (spot below
  the strike by at least $0.01, the exchanges' auto-exercise threshold), **not** expiring
  today, whose extrinsic value (mid − intrinsic, USD per share) is *below*
  ``early_assignment_max_extrinsic_usd`` — the holder loses nothing by exercising it now, so
  an assignment tonight is likely. The leg needs a usable quote (no rule fires on garbage).
  Expiring legs are the expiry's business (pin risk and the strategies' expiry rule).
- **Pin risk** (``PIN_RISK``): on the expiry day of a short leg, spot within
  ``pin_risk_distance_pct`` % of its strike (either side, the edge included). Whether it is
  assigned is decided after the close by a price we cannot trade against any more, so it is
  closed while the session lets us: the rule fires at every monitor pass of the expiry day,
  which makes it act before ``close_expiring_before`` (15:00 ET) whenever the position is
  pinned by then, ahead of the broker's same-day cut-offs (15:15 ET, 15:30 ET for broad
  ETFs); a position that only becomes pinned later is still closed (the detail says it is
  past the deadline).

Which trades each rule applies to is the service's choice (see docs/monitoring.md): neither
applies to a cash-secured put whose assignment is accepted, nor to a short call covered by
shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time

from agent.calendar import ET
from agent.config import MonitorSettings
from agent.domain import ExitReason, LegMark, OptionRight, Side, TradeMark
from agent.monitor.marks import extrinsic_value

__all__ = ["ITM_THRESHOLD_USD", "RuleHit", "early_assignment_risk", "pin_risk"]

ITM_THRESHOLD_USD = 0.01
"""In the money by at least a cent: what the OCC auto-exercises and the simulator assigns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleHit:
    reason: ExitReason
    detail: str
    symbol: str


def _usable(leg: LegMark) -> bool:
    return math.isfinite(leg.bid) and math.isfinite(leg.ask) and math.isfinite(leg.mid)


def early_assignment_risk(
    mark: TradeMark, as_of: datetime, settings: MonitorSettings
) -> RuleHit | None:
    """The short put most at risk of an early assignment, if any (see the module doc)."""
    today = as_of.astimezone(ET).date()
    threshold = settings.early_assignment_max_extrinsic_usd
    worst: tuple[float, LegMark] | None = None
    for leg in mark.legs:
        if (
            leg.side is not Side.SELL
            or leg.right is not OptionRight.PUT
            or leg.strike is None
            or leg.expiry is None
            or leg.expiry <= today
            or not _usable(leg)
        ):
            continue
        strike = leg.strike
        if strike - mark.spot < ITM_THRESHOLD_USD - 1e-9:
            continue
        extrinsic = extrinsic_value(leg.right, strike, mark.spot, leg.mid)
        if extrinsic < threshold and (worst is None or extrinsic < worst[0]):
            worst = (extrinsic, leg)
    if worst is None:
        return None
    extrinsic, leg = worst
    itm_by = (leg.strike or 0.0) - mark.spot
    return RuleHit(
        reason=ExitReason.EARLY_ASSIGNMENT_RISK,
        symbol=leg.symbol,
        detail=(
            f"short put {leg.symbol} is {itm_by:.2f} in the money with "
            f"{extrinsic:.4f} of extrinsic value left (< {threshold:g}); assignment is likely"
        ),
    )


def pin_risk(
    mark: TradeMark, as_of: datetime, settings: MonitorSettings, *, legs: tuple[LegMark, ...]
) -> RuleHit | None:
    """The expiring short leg of ``legs`` nearest to spot, if within the pin distance today."""
    local = as_of.astimezone(ET)
    today = local.date()
    limit = settings.pin_risk_distance_pct
    nearest: tuple[float, LegMark] | None = None
    for leg in legs:
        if leg.side is not Side.SELL or leg.strike is None or leg.expiry != today:
            continue
        distance = abs(mark.spot - leg.strike) / mark.spot * 100.0
        if distance <= limit + 1e-12 and (nearest is None or distance < nearest[0]):
            nearest = (distance, leg)
    if nearest is None:
        return None
    distance, leg = nearest
    deadline: time = settings.close_expiring_before
    late = local.timetz().replace(tzinfo=None) >= deadline
    when = (
        f"past the {deadline:%H:%M} ET deadline, closing now"
        if late
        else f"closing before {deadline:%H:%M} ET"
    )
    return RuleHit(
        reason=ExitReason.PIN_RISK,
        symbol=leg.symbol,
        detail=(
            f"{leg.symbol} expires today with spot {mark.spot:.2f} {distance:.2f}% from the "
            f"{leg.strike:g} strike (pin distance {limit:g}%); {when}"
        ),
    )

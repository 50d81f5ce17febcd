"""The one ranking score of a candidate (also used to order roll candidates).

::

    edge    = expected_value_usd / max_loss_usd          # EV per USD at risk
    quality = (0.5 + 0.5 * liquidity / 100)              # 0.5 .. 1.0
            * (0.75 + 0.5 * iv_rank / 100)                # 0.75 .. 1.25 (1.0 when unknown)
    score   = edge * quality    if edge >= 0
              edge / quality    if edge < 0

Dividing a negative edge by the quality keeps the score monotone: more liquidity or a
higher IV rank always raises the score, whatever the sign of the expected value. Ties are
broken by ``candidate_id`` (ascending) wherever candidates are ranked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

from agent.domain import Candidate

LIQUIDITY_FLOOR = 0.5
"""Quality weight of a contract with liquidity score 0 (1.0 at score 100)."""
IV_RANK_FLOOR = 0.75
"""Quality weight at IV rank 0 (1.25 at IV rank 100)."""
IV_RANK_UNKNOWN_WEIGHT = 1.0
"""Quality weight while the IV rank is unknown (neither rewarded nor punished)."""


def quality_factor(liquidity: float, iv_rank: float | None) -> float:
    """Liquidity (0-100) and IV rank (0-100) weights, multiplied (0.375 .. 1.25)."""
    liq = min(max(liquidity, 0.0), 100.0) if math.isfinite(liquidity) else 0.0
    liq_weight = LIQUIDITY_FLOOR + (1.0 - LIQUIDITY_FLOOR) * liq / 100.0
    if iv_rank is None or not math.isfinite(iv_rank):
        ivr_weight = IV_RANK_UNKNOWN_WEIGHT
    else:
        ivr = min(max(iv_rank, 0.0), 100.0)
        ivr_weight = IV_RANK_FLOOR + 0.5 * ivr / 100.0
    return liq_weight * ivr_weight


def score(
    *, expected_value_usd: float, max_loss_usd: Decimal, liquidity: float, iv_rank: float | None
) -> float:
    """The ranking score (see the module docstring); -inf when it cannot be computed."""
    risk = float(max_loss_usd)
    if not (risk > 0.0 and math.isfinite(expected_value_usd)):
        return -math.inf
    edge = expected_value_usd / risk
    quality = quality_factor(liquidity, iv_rank)
    return edge * quality if edge >= 0.0 else edge / quality


def rank_key(candidate: Candidate) -> tuple[float, str]:
    """Sort key: best score first, then candidate id ascending."""
    return (-candidate.score, candidate.candidate_id)


def ranked(candidates: Iterable[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=rank_key)

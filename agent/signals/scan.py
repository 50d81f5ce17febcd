"""The per-symbol scan: enrich → ATM IV and IV rank → universe filters → contract filters →
strategies → per-symbol ranking, with a decision record at every stage.

Pure: no I/O and no clock reads (``SymbolScan.elapsed_ms`` is left for the caller to set).
Bad data never raises: the symbol gets a rejection record instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from agent.calendar import ET
from agent.config import AgentSettings
from agent.domain import (
    Candidate,
    DecisionOutcome,
    DecisionRecord,
    DecisionStage,
    MarketEvent,
    OrderPurpose,
    ScanInput,
    SymbolScan,
    UnderlyingSnapshot,
)
from agent.errors import DataError
from agent.pricing.enriched import EnrichedChain
from agent.pricing.ivrank import IvRankResult, atm_iv, iv_rank
from agent.signals import universe
from agent.signals.contracts import ContractScreen, screen_contracts, vendor_mismatches
from agent.signals.ranking import cap_symbol
from agent.signals.rejections import rejected
from agent.strategies import build_strategies
from agent.strategies.base import StrategyContext, make_context
from agent.strategies.records import finite_or_none, record, rounded

ATM_IV_TARGET_DAYS = 30.0
"""The constant maturity of the ATM IV used for IV rank (days)."""

_BAD_DATA = (DataError, ValueError, ArithmeticError, IndexError, KeyError)
"""What bad inputs raise on their way through numpy, Decimal and the domain types."""


def scan_symbol(inp: ScanInput, settings: AgentSettings) -> SymbolScan:
    """Scan one underlying: at most ``strategies.max_candidates_per_symbol`` candidates
    (best first) and the decision records of every stage. Never raises on bad data."""
    symbol = inp.underlying.symbol
    try:
        return _scan(inp, settings)
    except _BAD_DATA as exc:
        return rejected(
            symbol,
            inp.scan_id,
            inp.as_of,
            rule="scan_data",
            message=f"unusable scan input: {type(exc).__name__}: {exc}",
            contracts=len(inp.chain),
        )


@dataclass(frozen=True, slots=True)
class _Vol:
    atm_iv: float
    rank: IvRankResult


def _volatility(enriched: EnrichedChain, inp: ScanInput, settings: AgentSettings) -> _Vol:
    md = settings.market_data
    atm = atm_iv(enriched, ATM_IV_TARGET_DAYS) if len(enriched) else math.nan
    result = iv_rank(
        inp.iv_history, atm, min_days=md.iv_rank_min_history_days, window=md.iv_history_days
    )
    return _Vol(atm_iv=atm, rank=result)


def _spot(snapshot: UnderlyingSnapshot) -> float:
    """Last price, or the quote mid when the last price is unusable (NaN if neither)."""
    if math.isfinite(snapshot.price) and snapshot.price > 0.0:
        return snapshot.price
    mid = (snapshot.bid + snapshot.ask) / 2.0
    if math.isfinite(mid) and mid > 0.0 and snapshot.ask >= snapshot.bid > 0.0:
        return mid
    return math.nan


def _scan(inp: ScanInput, settings: AgentSettings) -> SymbolScan:
    # Imported here: the kernels load numba, which the Monitor (strategy_context only) skips.
    from agent.pricing.chain import enrich_chain  # noqa: PLC0415

    u = settings.universe
    snapshot = inp.underlying
    symbol = snapshot.symbol
    chain = inp.chain
    if len(chain) and chain.underlying != symbol:
        raise DataError(f"chain of {chain.underlying} given for {symbol}")
    spot = _spot(snapshot)
    today = inp.as_of.astimezone(ET).date()
    events = inp.context.events_for(symbol)

    enriched: EnrichedChain | None = None
    vol = _Vol(atm_iv=math.nan, rank=iv_rank((), math.nan))
    if math.isfinite(spot):
        enriched = enrich_chain(
            chain,
            spot,
            inp.rate,
            inp.dividend_yield,
            inp.as_of,
            max_quote_age_s=u.max_quote_age_s,
            vendor_iv_tolerance=settings.market_data.vendor_iv_tolerance,
        )
        vol = _volatility(enriched, inp, settings)

    reasons = (
        universe.option_chain(len(chain)),
        universe.price_band(symbol, spot, u),
        universe.stock_volume(snapshot, u),
        universe.underlying_spread(snapshot, u),
        universe.iv_rank_filter(vol.rank, u, settings.market_data.iv_rank_min_history_days),
        universe.fomc_blackout(events, today, u),
        universe.vol_regime(inp.context.vol_index, u),
        universe.history(inp.history_days, u),
        universe.earnings_notice(events, symbol, today),
    )
    rank = vol.rank
    universe_record = record(
        scan_id=inp.scan_id,
        as_of=inp.as_of,
        underlying=symbol,
        stage=DecisionStage.UNIVERSE,
        key="universe",
        reasons=reasons,
        metrics={
            "spot": finite_or_none(spot),
            "underlying_spread_pct": rounded(snapshot.spread_pct),
            "atm_iv": rounded(vol.atm_iv),
            "iv_rank": None if rank.rank is None else round(rank.rank, 2),
            "iv_percentile": None if rank.percentile is None else round(rank.percentile, 2),
            "iv_history_days": rank.days,
            "iv_rank_status": rank.status.value,
            "vol_index": rounded(inp.context.vol_index),
            "realized_vol": rounded(inp.realized_vol),
            "history_days": inp.history_days,
            "contracts": len(chain),
            "sector": inp.sector,
        },
    )

    def done(decisions: list[DecisionRecord], candidates: tuple[Candidate, ...] = ()) -> SymbolScan:
        return SymbolScan(
            scan_id=inp.scan_id,
            underlying=symbol,
            as_of=inp.as_of,
            candidates=candidates,
            decisions=tuple(decisions),
            atm_iv=vol.atm_iv,
            iv_rank=rank.rank,
            contracts=len(chain),
        )

    if universe_record.outcome is DecisionOutcome.REJECTED or enriched is None:
        return done([universe_record])

    screen = screen_contracts(enriched, u)
    contract_record = record(
        scan_id=inp.scan_id,
        as_of=inp.as_of,
        underlying=symbol,
        stage=DecisionStage.CONTRACT,
        key="contracts",
        reasons=screen.reasons,
        metrics={
            "contracts": screen.total,
            "eligible": screen.eligible_count,
            "wing_quotable": screen.quotable_count,
            **vendor_mismatches(enriched),
        },
        outcome=(DecisionOutcome.ACCEPTED if screen.eligible_count else DecisionOutcome.REJECTED),
    )
    if not screen.eligible_count:
        return done([universe_record, contract_record])

    ctx = _context(
        enriched,
        screen,
        scan_id=inp.scan_id,
        snapshot=snapshot,
        atm=vol.atm_iv,
        rank=rank.rank,
        realized_vol=inp.realized_vol,
        sector=inp.sector,
        events=events,
    )
    decisions = [universe_record, contract_record]
    candidates: list[Candidate] = []
    for strategy in build_strategies(settings):
        built, records = strategy.generate(enriched, ctx)
        candidates.extend(replace(c, scan_id=inp.scan_id) for c in built)
        decisions.extend(records)
    kept, cut = cap_symbol(candidates, settings, scan_id=inp.scan_id, as_of=inp.as_of)
    decisions.extend(cut)
    return done(decisions, tuple(kept))


def _context(
    enriched: EnrichedChain,
    screen: ContractScreen,
    *,
    scan_id: str,
    snapshot: UnderlyingSnapshot | None,
    atm: float,
    rank: float | None,
    realized_vol: float,
    sector: str | None,
    events: tuple[MarketEvent, ...],
    purpose: OrderPurpose = OrderPurpose.OPEN,
    trade_id: str | None = None,
) -> StrategyContext:
    return make_context(
        enriched,
        scan_id=scan_id,
        eligible=screen.eligible,
        quotable=screen.quotable,
        snapshot=snapshot,
        atm_iv=atm,
        iv_rank=rank,
        realized_vol=realized_vol,
        sector=sector,
        events=events,
        purpose=purpose,
        trade_id=trade_id,
    )


def strategy_context(
    enriched: EnrichedChain,
    settings: AgentSettings,
    *,
    scan_id: str,
    snapshot: UnderlyingSnapshot | None = None,
    iv_rank: float | None = None,
    realized_vol: float = math.nan,
    sector: str | None = None,
    events: tuple[MarketEvent, ...] = (),
    purpose: OrderPurpose = OrderPurpose.OPEN,
    trade_id: str | None = None,
) -> StrategyContext:
    """A strategy context for an already enriched chain with the configured contract filters
    applied (for the monitor's :meth:`~agent.strategies.Strategy.roll_candidates`)."""
    screen = screen_contracts(enriched, settings.universe)
    atm = atm_iv(enriched, ATM_IV_TARGET_DAYS) if len(enriched) else math.nan
    return _context(
        enriched,
        screen,
        scan_id=scan_id,
        snapshot=snapshot,
        atm=atm,
        rank=iv_rank,
        realized_vol=realized_vol,
        sector=sector,
        events=events,
        purpose=purpose,
        trade_id=trade_id,
    )

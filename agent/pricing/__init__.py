"""Pricing core: Black-Scholes-Merton kernels (numba), a numpy closed form, the array boundary.

The package itself imports nothing: import what you need from its modules, so that a process
loads numba (~55 MiB per process) only if it uses the kernels.

Float64 arrays, numpy broadcasting, never raises on bad numbers:

- numba kernels, the bulk path (chain enrichment in the scanners): :func:`bs_price`,
  :func:`bs_greeks` (:class:`Greeks`), :func:`implied_vol`, :func:`implied_vol_with_status`
  (:class:`IvStatus`) in :mod:`agent.pricing.bsm`; :func:`enrich_chain`
  (:class:`EnrichedChain`, :class:`ChainFlag`), :func:`time_to_expiry_years` in
  :mod:`agent.pricing.chain`; :func:`liquidity_score` in :mod:`agent.pricing.liquidity`;
  :func:`atm_iv`, :func:`iv_rank` (:class:`IvRankResult`) in :mod:`agent.pricing.ivrank`
  (which needs :mod:`agent.pricing.chain`);
- without numba: :func:`bs_price`, :func:`bs_greeks` (same semantics, plain numpy) in
  :mod:`agent.pricing.closed_form`, for processes that price a few contracts (Risk's stress
  test) or the simulated market; unit conversions in :mod:`agent.pricing.units`.

Conventions, units and the NaN policy: docs/pricing.md. numba caches compiled kernels in
``__pycache__`` next to the modules; set ``NUMBA_CACHE_DIR`` to put them elsewhere (e.g. a
read-only install).
"""

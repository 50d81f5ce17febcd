"""ScannerEnricher: the Monitor's chains enriched by the scanner actors (real local Ray)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import ray

from actors.handles import ScannerEnricher, spawn
from actors.options import ActorName
from actors.scanner import ScannerActor
from agent.adapters.sim.market import MarketModel
from agent.errors import DataError
from agent.pricing.chain import enrich_chain
from agent.pricing.enriched import ARRAY_COLUMNS
from tests.actors.raykit import sim_settings

pytestmark = pytest.mark.ray

AT = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


def test_scanners_enrich_a_chain_like_the_local_kernels(ray_local: None, tmp_path: Path) -> None:
    settings = sim_settings(tmp_path)
    namespace = settings.ray.namespace
    scanners = [
        spawn(
            ScannerActor,
            ActorName.SCANNER,
            settings,
            i,
            namespace=namespace,
            detached=False,
            index=i,
        )
        for i in range(2)
    ]
    market = MarketModel.from_settings(settings)
    symbol = market.symbols[0]
    chain = market.option_chain(
        symbol, AT, min_expiry=AT.date(), max_expiry=AT.date() + timedelta(days=60)
    )
    spot = market.spot(symbol, AT)
    args = (chain, spot, 0.04, 0.01, AT)
    kwargs = {"max_quote_age_s": 600.0, "vendor_iv_tolerance": 0.03}
    expected = enrich_chain(*args, **kwargs)
    enricher = ScannerEnricher(namespace)
    try:
        for _ in range(2):  # both scanners, in turn
            got = enricher(*args, **kwargs)
            assert len(got) == len(expected) > 0
            for name in ARRAY_COLUMNS:
                np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
        # A dead scanner hands the chain to the next one.
        ray.kill(scanners[0], no_restart=True)
        for _ in range(2):
            np.testing.assert_array_equal(enricher(*args, **kwargs).iv, expected.iv)
        # The kernels' own data errors pass through unchanged.
        with pytest.raises(DataError, match="unusable spot"):
            enricher(chain, float("nan"), 0.04, 0.01, AT)
        ray.kill(scanners[1], no_restart=True)
        with pytest.raises(DataError, match="no scanner enriched the chain"):
            enricher(*args, **kwargs)
        with pytest.raises(DataError, match="no scanner in namespace nobody-here"):
            ScannerEnricher("nobody-here")(*args, **kwargs)
    finally:
        for scanner in scanners:
            ray.kill(scanner, no_restart=True)

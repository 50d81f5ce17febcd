"""Shared fixtures: a fake clock, seeded randomness, isolated settings."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from agent.clock import SimClock
from agent.config import AgentSettings, load_settings

settings.register_profile(
    "optagent", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("optagent")

# A Monday during the regular session (10:00 ET).
SESSION_MONDAY_10ET = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(SESSION_MONDAY_10ET)


@pytest.fixture
def rng() -> np.random.Generator:
    random.seed(1234)
    return np.random.default_rng(1234)


@pytest.fixture
def isolated_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty directory so no config.yaml or .env of the checkout leaks in."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def make_settings(directory: Path, *overrides: str) -> AgentSettings:
    """Settings with every file under ``directory``, no config.yaml and no environment."""
    empty = directory / "empty-config.yaml"
    empty.touch()
    base = [
        f"database_url=sqlite:///{directory / 'optagent.db'}",
        f"logging.dir={directory / 'log'}",
        f"logging.journal_file={directory / 'log' / 'journal.jsonl'}",
        f"sim.state_file={directory / 'sim.json'}",
        f"risk.kill_switch_file={directory / 'KILL'}",
        f"learning.overrides_file={directory / 'learned.yaml'}",
    ]
    return load_settings(empty, [*base, *overrides], env_file=None, environ={})


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., AgentSettings]:
    """Settings with files under tmp_path, no config.yaml and no environment."""

    def make(*overrides: str) -> AgentSettings:
        return make_settings(tmp_path, *overrides)

    return make

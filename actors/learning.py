"""The ``Learning`` actor: the daily analysis (17:00 ET) and the weekly learning run."""

from __future__ import annotations

from datetime import date
from typing import Any

import ray

from actors.base import Shell
from agent.config import AgentSettings
from agent.learning import LearningService


class LearningShell(Shell):
    def __init__(self, settings: AgentSettings) -> None:
        runtime = self._boot(settings, "learning")
        self.service = LearningService(store=runtime.store, clock=runtime.clock, settings=settings)

    def daily_analysis(self, day: date) -> None:
        self.calls += 1
        self.service.daily_analysis(day)

    def weekly_learning(self, day: date) -> None:
        self.calls += 1
        self.service.weekly_learning(day)

    def ping(self) -> dict[str, Any]:
        return self._ping()


LearningActor = ray.remote(LearningShell)

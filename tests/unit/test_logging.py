"""Secrets never reach any sink, including tracebacks and the journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.logging import add_journal_sink, add_sink, configure_logging, journal, logger


def test_secret_from_environment_never_appears_in_any_log_output(
    settings_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "SK-very-secret-123456"
    monkeypatch.setenv("ALPACA_SECRET_KEY", secret)
    settings = settings_factory()
    configure_logging(settings, component="test", console=True, files=True)
    captured: list[str] = []
    add_sink(captured.append)
    add_sink(captured.append, json_lines=True)

    logger.info("connecting with {}", secret)
    try:
        raise RuntimeError(f"auth failed for key {secret}")
    except RuntimeError:
        logger.exception("broker call failed")
    journal("order", client_order_id="abc", note=f"key={secret}")
    logger.complete()

    texts = list(captured)
    for path in (tmp_path / "log").rglob("*"):
        if path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
    joined = "\n".join(texts)
    assert "broker call failed" in joined and "RuntimeError" in joined
    assert secret not in joined
    assert "********" in joined


def test_journal_writes_one_json_object_per_line(settings_factory, tmp_path: Path) -> None:
    settings = settings_factory()
    configure_logging(settings, console=False, files=False)
    path = tmp_path / "journal.jsonl"
    add_journal_sink(path)
    journal("decision", underlying="SPY", outcome="accepted", score=1.5)
    journal("fill", symbol="SPY260417P00500000", qty=1, price="1.25")
    logger.complete()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [entry["kind"] for entry in lines] == ["decision", "fill"]
    assert lines[0]["underlying"] == "SPY" and lines[1]["price"] == "1.25"

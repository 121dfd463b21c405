"""Log lines are JSON objects carrying the ids that tie a complaint's story together."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tousu_common.logs import configure_logging, event_context


@pytest.fixture
def json_lines():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("demo", "INFO")
    buffer = io.StringIO()
    ours = root.handlers[0]
    assert isinstance(ours, logging.StreamHandler)
    ours.setStream(buffer)

    def read() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield read
    root.handlers[:], level = saved
    root.setLevel(level)


def test_lines_inside_an_event_context_carry_complaint_and_event_ids(json_lines) -> None:
    log = logging.getLogger("tousu.demo")
    with event_context(complaint_id="c-1", event_id="e-1"):
        log.info("event applied", extra={"event_type": "complaint.received"})
    log.info("outside")
    inside, outside = json_lines()
    assert inside["message"] == "event applied"
    assert inside["complaint_id"] == "c-1" and inside["event_id"] == "e-1"
    assert inside["service"] == "demo" and inside["level"] == "INFO"
    assert inside["event_type"] == "complaint.received"
    assert "complaint_id" not in outside

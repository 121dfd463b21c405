"""A stack whose service finds its port taken between the check and its bind starts
again on a new port, instead of failing the tests that wanted it (r43: another
worker's stack took a port chosen free a moment before)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tousu_common import devstack
from tousu_common.devstack import SERVICES, Stack, free_port

pytestmark = pytest.mark.integration

ROUTING = next(spec for spec in SERVICES if spec.name == "routing")


def test_a_service_whose_port_is_taken_at_bind_time_starts_on_a_new_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = free_port()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", taken))
    squatter.listen(1)
    # the port looks free when checked, as it did in r43 (taken just after the check)
    monkeypatch.setattr(devstack, "check_ports_free", lambda ports: None)
    stack = Stack(
        var_dir=tmp_path,
        services=(ROUTING,),
        ports={"routing": taken},
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": "1"},
    )
    try:
        stack.start(timeout=90)
        assert stack.port("routing") != taken
        assert httpx.get(f"{stack.url('routing')}/readyz", timeout=10).status_code == 200
        clash_logs = list(tmp_path.glob("routing.port-clash-*.log"))
        assert len(clash_logs) == 1
        assert "address already in use" in clash_logs[0].read_text().lower()
    finally:
        stack.stop()
        squatter.close()

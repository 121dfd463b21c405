"""`make run` (that is, `tousu run`): everything starts, works, and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import free_port, logs_tail
from tousu_common.testing.wait import ProcessOutput, eventually

from .conftest import complaint_body

pytestmark = pytest.mark.integration


def four_free_ports() -> int:
    """A base port for `tousu run`: it listens on base..base+3, base+9 for the dev
    OpenID provider, and base+24 and base+25 for mail. ``free_port`` picks below the
    ephemeral range, where no outgoing connection of the parallel test workers can
    take one of them."""
    for _ in range(200):
        base = free_port()
        if all(_is_free(base + n) for n in (1, 2, 3, 9, 24, 25)):
            return base
    raise RuntimeError("no free base port for tousu run")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_run(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[str], int, ProcessOutput]:
    """`tousu run` (with ``options``) on free ports in ``tmp_path``; returns once it
    says it is ready, with its output (still being read)."""
    base = four_free_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUSU_")}
    runner = subprocess.Popen(
        [sys.executable, "-m", "tousu_common.cli", "run", "--base-port", str(base), *options],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert runner.stdout is not None
    output = ProcessOutput(runner.stdout)
    # A hang guard, not a speed check: `tousu run` itself gives the services 90 s
    # once the broker, the provider and the migrations are up, and on a loaded
    # two-core machine each of those steps can take tens of seconds.
    try:
        eventually(
            lambda: runner.poll() is not None or "Ctrl-C stops everything" in output.text,
            timeout=150,
            interval=0.2,
            what=lambda: (
                "tousu run says it is ready; it printed:\n"
                + output.text
                + logs_tail(tmp_path / "var")
            ),
        )
    except AssertionError:
        runner.kill()
        raise
    if runner.poll() is not None:
        raise AssertionError(
            "tousu run stopped before it was ready:\n"
            + output.finish()
            + logs_tail(tmp_path / "var")
        )
    return runner, base, output


def test_run_starts_everything_prints_a_working_token_and_ctrl_c_stops_it_all(
    tmp_path: Path,
) -> None:
    runner, base, output = start_run(tmp_path)
    try:
        text = output.text
        token = re.search(r"dev token[^\n]*\n(\S+)", text)
        assert token, text
        for n in range(4):
            assert f"http://127.0.0.1:{base + n}" in text
        broker = re.search(r"broker\s+127\.0\.0\.1:(\d+)", text)
        assert broker, text
        broker_port = int(broker.group(1))

        # Wired to the dev OpenID provider: the token is one it signed, a user per
        # role and department is printed with a password, HS256 is refused.
        assert f"identity       http://127.0.0.1:{base + 9}" in text, text
        assert jwt.get_unverified_header(token.group(1))["alg"] == "RS256"
        for user in ("agent", "csc", "logistics", "quality", "supply", "manager", "admin"):
            assert re.search(rf"^  {user}\s+\S+\s+", text, re.MULTILINE), (user, text)
        shared = mint_token(
            (tmp_path / "var" / "dev-secret").read_text().strip(), subject="x", roles=["admin"]
        )
        refused = httpx.get(
            f"http://127.0.0.1:{base}/v1/complaints",
            headers={"Authorization": f"Bearer {shared}"},
            timeout=10,
        )
        assert refused.status_code == 401, refused.text

        headers = {"Authorization": f"Bearer {token.group(1)}"}
        with httpx.Client(timeout=10) as client:
            created = client.post(
                f"http://127.0.0.1:{base}/v1/complaints", json=complaint_body(), headers=headers
            )
            assert created.status_code == 201, created.text
            complaint_id = created.json()["id"]
            case_url = f"http://127.0.0.1:{base + 2}/v1/cases/{complaint_id}"
            eventually(lambda: client.get(case_url, headers=headers).status_code == 200)

        secret = tmp_path / "var" / "dev-secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "var" / "intake.db").exists()
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
        assert runner.returncode == 0, output.finish()
    assert all(_is_free(base + n) for n in range(4)), "a service outlived Ctrl-C"
    assert _is_free(base + 9), "the OpenID provider outlived Ctrl-C"
    assert _is_free(broker_port), "the broker outlived Ctrl-C"


def test_services_do_not_outlive_a_runner_that_is_killed_outright(tmp_path: Path) -> None:
    runner, base, _ = start_run(tmp_path)
    runner.kill()  # SIGKILL: no handler, no cleanup of its own
    runner.wait(10)
    eventually(lambda: all(_is_free(base + n) for n in (0, 1, 2, 3, 9)), timeout=30)

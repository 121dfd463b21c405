"""notify's outgoing mail: CPU and time per message, beside a bare ceiling measured in
the same run.

    python bench/bench_smtp.py [--messages 300] [--rounds 2] [--write]

Starts an SMTP server (aiosmtpd, 127.0.0.1, in its own thread) twice: plain, and
requiring STARTTLS with a throwaway self-signed certificate made for the run.
Against each it sends the same messages, one after another, in rounds that
alternate (A B A B, so a noisy machine hurts both alike):

- **bare**: aiosmtplib on one connection, nothing else (the ceiling);
- **kept**: notify's :class:`~tousu_notify.adapters.clients.Mailer` with its
  connections kept (the default);
- **per message**: the same Mailer with ``smtp_keepalive_s=0``, a connection per
  message (what notify did before 2026-12-07).

CPU is the sending thread's own (the server's thread is not counted); the
messages are built once, before the clock starts, so only the sending is timed.
Every loop is bounded by ``--messages``. Prints a Markdown table; ``--write``
appends it to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import ssl
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from common import ROOT

from tousu_common.devstack import free_port
from tousu_common.testing.tls import self_signed
from tousu_notify.adapters.clients import Mailer
from tousu_notify.config import Settings


class _Accept:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _messages(count: int) -> list[EmailMessage]:
    messages = []
    for n in range(count):
        mail = EmailMessage()
        mail["Subject"] = f"您的投诉 TS-2026-{n:06d} 已受理"
        mail["From"] = "Tousu 投诉服务 <noreply@tousu.example>"
        mail["To"] = f"customer-{n}@example.com"
        mail.set_content("尊敬的客户：您的投诉已受理，我们将尽快处理。\n" * 8)
        messages.append(mail)
    return messages


def _thread_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


async def _bare(port: int, tls: ssl.SSLContext | None, messages: list[EmailMessage]) -> None:
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        local_hostname="bench.tousu.test",
        start_tls=tls is not None,
        tls_context=tls,
    )
    await client.connect()
    for message in messages:
        await client.send_message(message)
    await client.quit()


async def _mailer(mailer: Mailer, messages: list[EmailMessage]) -> None:
    for message in messages:
        await mailer.send(message)
    await mailer.close()


async def measure(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    rows: dict[tuple[str, str], list[tuple[float, float]]] = {}
    messages = _messages(args.messages)
    with tempfile.TemporaryDirectory(prefix="tousu-bench-smtp-") as tmp:
        cert, key = self_signed(Path(tmp))
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        client_tls = ssl.create_default_context(cafile=str(cert))
        for transport in ("plain", "STARTTLS"):
            port = free_port()
            tls = transport == "STARTTLS"
            controller = Controller(
                _Accept(),
                hostname="127.0.0.1",
                port=port,
                tls_context=server_tls if tls else None,
                require_starttls=tls,
            )
            controller.start()
            try:
                for _ in range(args.rounds):
                    for mode in ("bare", "kept", "per message"):
                        settings = Settings(
                            jwt_secret="bench-" + "x" * 40,
                            smtp_host="127.0.0.1",
                            smtp_port=port,
                            smtp_starttls=tls,
                            smtp_ca_file=cert if tls else None,
                            smtp_local_hostname="bench.tousu.test",
                            smtp_keepalive_s=30 if mode == "kept" else 0,
                        )
                        cpu, wall = _thread_cpu(), time.perf_counter()
                        if mode == "bare":
                            await _bare(port, client_tls if tls else None, messages)
                        else:
                            await _mailer(Mailer(settings), messages)
                        per = len(messages)
                        rows.setdefault((transport, mode), []).append(
                            (
                                (_thread_cpu() - cpu) / per * 1e6,
                                (time.perf_counter() - wall) / per * 1e3,
                            )
                        )
            finally:
                controller.stop()
    return [
        (transport, mode, min(c for c, _ in values), min(w for _, w in values))
        for (transport, mode), values in rows.items()
    ]


def report(rows: list[tuple[str, str, float, float]], args: argparse.Namespace) -> str:
    bare = {transport: cpu for transport, mode, cpu, _ in rows if mode == "bare"}
    lines = [
        f"### {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — notify's outgoing mail",
        "",
        f"`python bench/bench_smtp.py --messages {args.messages} --rounds {args.rounds}` "
        "(best of the rounds; CPU of the sending thread):",
        "",
        "| transport | sender | CPU µs / message | × bare | ms / message |",
        "|---|---|---|---|---|",
    ]
    for transport, mode, cpu, wall in rows:
        lines.append(
            f"| {transport} | {mode} | {cpu:.0f} | {cpu / bare[transport]:.2f} | {wall:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="per round and sender (≤ 5000)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (≤ 10)")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    args.messages = max(1, min(args.messages, 5000))
    args.rounds = max(1, min(args.rounds, 10))
    text = report(asyncio.run(measure(args)), args)
    print(text)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a") as results:
            results.write("\n" + text)


if __name__ == "__main__":
    main()

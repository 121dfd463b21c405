"""The ``otlp`` exporter really sends spans: a child process configured with
``tracing_exporter=otlp`` posts them to an OTLP/HTTP receiver on loopback.
(A process has one tracer provider, so this runs in its own process.)"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SCRIPT = """
import sys
from tousu_common.settings import ServiceSettings
from tousu_common import tracing
settings = ServiceSettings(
    service_name="exported", environment="test", jwt_secret="s" * 40,
    tracing_exporter="otlp", tracing_otlp_endpoint=sys.argv[1],
)
tracing.configure_tracing(settings)
with tracing.tracer().start_as_current_span("complaint received") as span:
    print(format(span.get_span_context().trace_id, "032x"))
tracing.shutdown_tracing()
"""


class Receiver(ThreadingHTTPServer):
    bodies: list[tuple[str, str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        assert isinstance(self.server, Receiver)
        self.server.bodies.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_otlp_exporter_posts_spans_to_the_configured_endpoint(receiver: Receiver) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, endpoint], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    trace_id = bytes.fromhex(done.stdout.strip())
    assert receiver.bodies, "no spans were exported"
    path, content_type, body = receiver.bodies[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    # the protobuf carries the span's raw 16-byte trace id, its name and the service
    assert trace_id in body and b"complaint received" in body and b"tousu-exported" in body

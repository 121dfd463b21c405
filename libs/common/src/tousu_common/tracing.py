"""W3C trace context with OpenTelemetry: one trace id from the HTTP request
through every event it causes, in every service's logs.

The SDK tracer provider always creates real trace and span ids, even with the
``none`` exporter, so propagation (``traceparent`` on HTTP, ``ce_traceparent``
on events) and log correlation work whether or not spans are exported. The
provider is configured once per process, from the first app's settings (the
lifespan), or with defaults on first use — never at import time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from tousu_common.events import Event
    from tousu_common.settings import ServiceSettings

log = logging.getLogger(__name__)

PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None


def configure_tracing(settings: ServiceSettings) -> None:
    """Install the process's tracer provider from ``settings`` (first call wins)."""
    _configure(
        settings.tracing_exporter,
        settings.tracing_otlp_endpoint,
        settings.tracing_sample_ratio,
        settings.service_name,
    )


def _configure(exporter: str, endpoint: str | None, ratio: float, service: str) -> None:
    global _provider, _tracer
    with _lock:
        if _provider is not None:
            return
        from opentelemetry.sdk.resources import Resource

        provider = TracerProvider(
            resource=Resource.create({"service.name": f"tousu-{service}"}),
            sampler=ParentBased(TraceIdRatioBased(ratio)),
        )
        if exporter == "console":
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            # The exporter is the optional ``otlp`` extra: imported only when asked for.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _provider = provider
        _tracer = provider.get_tracer("tousu")
        trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    """The process's tracer; configures a non-exporting provider if nothing did yet."""
    if _tracer is None:
        _configure("none", None, 1.0, "tousu")
    if _tracer is None:
        raise RuntimeError("_tracer is not set")
    return _tracer


def shutdown_tracing() -> None:
    """Flush spans still buffered for export (at process exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, or None outside any span."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def traceparent_of(span: Span) -> str:
    """The W3C ``traceparent`` naming ``span`` ("" for an invalid span); cheaper than
    running the propagator on the hot path."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def trace_headers() -> dict[str, str]:
    """``{"traceparent": ...}`` for a call to another Tousu service (empty outside a span)."""
    traceparent = current_traceparent()
    return {"traceparent": traceparent} if traceparent else {}


def extract(traceparent: str | None) -> otel_context.Context | None:
    """The remote parent context a ``traceparent`` value names (None if absent or invalid)."""
    if not traceparent:
        return None
    ctx = PROPAGATOR.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def extract_headers(headers: Mapping[str, str]) -> otel_context.Context | None:
    return extract(headers.get("traceparent"))


@contextmanager
def consumer_span(event: Event, consumer: str) -> Iterator[Span]:
    """A consumer span for one event, child of the span that staged it, so the
    events its handler stages carry the same trace id onward."""
    parent = extract(event.extensions.get("traceparent"))
    with tracer().start_as_current_span(
        f"{event.type} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": event.id,
            "cloudevents.event_type": event.type,
        },
    ) as span:
        yield span


@contextmanager
def child_span(name: str, traceparent: str | None) -> Iterator[Span]:
    """A span continuing the trace ``traceparent`` names (work done later on behalf of
    a request or event, e.g. a queued delivery); a new trace if there is none."""
    with tracer().start_as_current_span(name, context=extract(traceparent)) as span:
        yield span


@contextmanager
def event_trace(event: Event) -> Iterator[None]:
    """Make the event's own trace current (no new span), for log lines about it."""
    parent = extract(event.extensions.get("traceparent"))
    if parent is None:
        yield
        return
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)


def log_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span as hex, or None outside any."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")

"""Every Prometheus metric Tousu exposes, defined once at import.

prometheus-client's default registry is process-global, so metrics are module
constants (never created per app: tests build many apps in one process) and
every one carries a ``service`` label instead. Label values come only from
bounded sets — route templates, event types from the catalog, consumer groups,
channels — never from raw paths, ids or personal data.

``child(metric, *labels)`` caches the labelled child so the hot paths (every
request, every event) pay one dict lookup instead of prometheus-client's
label validation each time.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tousu_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "tousu_http_request_duration_seconds",
    "Time from request start to the end of the response body.",
    ["service", "route", "method"],
    buckets=_LATENCY_BUCKETS,
)

EVENTS_PRODUCED = Counter(
    "tousu_events_produced",
    "Outbox rows the relay published to the broker (a republish counts again).",
    ["service", "event_type"],
)
EVENTS_CONSUMED = Counter(
    "tousu_events_consumed",
    "Records a consumer group finished with, by event type and outcome "
    "(applied, duplicate, dead_lettered, skipped).",
    ["service", "consumer", "event_type", "outcome"],
)
CONSUMER_TRANSACTION_SECONDS = Histogram(
    "tousu_consumer_transaction_duration_seconds",
    "One consumer transaction (a group commit of events, or one event alone), "
    "handlers and commit included.",
    ["service", "consumer"],
    buckets=_LATENCY_BUCKETS,
)
INBOX_DUPLICATES = Counter(
    "tousu_inbox_duplicates",
    "Events skipped because the inbox already had them (redelivery).",
    ["service", "consumer"],
)
DEAD_LETTERED = Counter(
    "tousu_dead_lettered",
    "Records sent to the consumer group's dead-letter topic.",
    ["service", "consumer"],
)
CONSUMER_RETRIES = Counter(
    "tousu_consumer_retries",
    "Handler attempts that failed and were retried.",
    ["service", "consumer"],
)

OUTBOX_PENDING = Gauge(
    "tousu_outbox_pending",
    "Outbox rows not yet published (read from the database at scrape time).",
    ["service"],
)
OUTBOX_OLDEST_PENDING_AGE = Gauge(
    "tousu_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox row; 0 when none is pending.",
    ["service"],
)

SQLITE_WAITING = Gauge(
    "tousu_sqlite_statements_waiting",
    "SQLite statements waiting, without blocking the event loop, for a write lock "
    "another process holds; by database file name (one per service).",
    ["database"],
)

SLA_EVENTS = Counter(
    "tousu_sla_events",
    "SLA events routing raised and committed, by kind (warning, breached).",
    ["service", "kind"],
)
CALENDAR_YEARS_UNCOVERED = Gauge(
    "tousu_calendar_years_uncovered",
    "Years whose public holidays must be known now (this one; from 1 December the next "
    "one too) for which the business calendar has no State Council notice.",
    ["service"],
)
NOTIFICATIONS = Counter(
    "tousu_notifications",
    "Notification deliveries notify recorded, by channel and outcome (sent, failed).",
    ["service", "channel", "outcome"],
)

_children: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """The labelled child of ``metric``, cached (label values must come from bounded sets)."""
    key = (metric, *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def exposition() -> bytes:
    """The text exposition of every metric in the process."""
    return generate_latest(REGISTRY)

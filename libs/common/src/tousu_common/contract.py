"""Generating the published event contract from the catalog.

``docs/events/<type>.v<N>.schema.json`` (JSON Schema per event type) and
``docs/asyncapi.yaml`` (AsyncAPI 3.0 for the topics) are checked in; a test
regenerates them and fails when they differ, so the documents never drift
from the code. Run ``tousu contract --write`` after changing a payload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tousu_common.events import CATALOG, TOPICS, EventSpec

CE_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 context attributes, Kafka protocol binding (binary mode).",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique event id; consumers deduplicate on it."},
        "ce_source": {"type": "string", "examples": ["tousu/intake"]},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "format": "uuid", "description": "The complaint id."},
        "ce_dataschema": {"type": "string"},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_traceparent": {
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": (
                "CloudEvents distributed tracing extension: the W3C traceparent of the "
                "request or event that caused this one. Optional."
            ),
        },
    },
}


def schema_filename(spec: EventSpec) -> str:
    return f"{spec.type}.v{spec.version}.schema.json"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": spec.dataschema,
        "title": spec.type,
        **{key: value for key, value in schema.items() if key != "title"},
    }


def asyncapi_document() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEventHeaders": CE_HEADERS_SCHEMA}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, description in TOPICS.items():
        specs = [spec for spec in CATALOG.values() if spec.topic == topic]
        channel_id = topic.replace(".", "_")
        channels[channel_id] = {
            "address": topic,
            "description": f"{description} Key: the complaint id (per-complaint order).",
            "messages": {
                _message_id(spec): {"$ref": f"#/components/messages/{_message_id(spec)}"}
                for spec in specs
            },
        }
        producers = sorted({spec.producer for spec in specs})
        if specs:
            operations[f"publish_{channel_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"Published by {', '.join(producers)} through its transactional outbox.",
                "messages": [
                    {"$ref": f"#/channels/{channel_id}/messages/{_message_id(spec)}"}
                    for spec in specs
                ],
            }
    for spec in CATALOG.values():
        schema = event_schema(spec)
        schema.pop("$schema", None)
        schemas[_message_id(spec)] = schema
        messages[_message_id(spec)] = {
            "name": spec.type,
            "title": spec.type,
            "summary": (spec.model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": f"#/components/schemas/{_message_id(spec)}"},
            "bindings": {"kafka": {"key": {"type": "string", "format": "uuid"}}},
            "x-ce-type": spec.type,
            "x-ce-dataschema": spec.dataschema,
            "x-schema-version": spec.version,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tousu events",
            "version": "1.0.0",
            "description": (
                "Every state change in Tousu as a CloudEvents 1.0 event on Kafka. Payloads carry "
                "no personal data: in free text (fields marked x-personal-data) phone numbers, "
                "e-mail addresses and resident ID numbers are masked (138****5678, z***@163.com, "
                "110105********002X). Consumers must deduplicate on ce_id (delivery is at least "
                "once)."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message_id(spec: EventSpec) -> str:
    return spec.type.replace(".", "_")


def render() -> dict[str, str]:
    """Relative path → file content, for every contract document."""
    files = {
        f"events/{schema_filename(spec)}": json.dumps(
            event_schema(spec), indent=2, ensure_ascii=False
        )
        + "\n"
        for spec in CATALOG.values()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(
        asyncapi_document(), sort_keys=False, allow_unicode=True, width=100
    )
    return files


def write(docs_dir: Path) -> list[Path]:
    written = []
    for relative, content in render().items():
        path = docs_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def stale(docs_dir: Path) -> list[str]:
    """Files that are missing or differ from what the catalog generates."""
    return [
        relative
        for relative, content in render().items()
        if not (docs_dir / relative).is_file()
        or (docs_dir / relative).read_text(encoding="utf-8") != content
    ]

"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

The document says which media types a file part may be (``encoding.contentType``);
the services sniff the bytes, so a schema-valid upload has to *be* such a file.
Schemathesis cannot draw a TIFF from a media type name, and its generator for
parts with an ``encoding`` drops required fields and sends a list of files as one
nameless part (4.32.5). So the hooks take ``encoding`` out of the schema it loads,
remember it, and put in place of each generated file's bytes (just before the
call) a small well-formed file of one of the part's media types: a blank page
(OCR reads nothing and files the complaint as awaiting transcription), some plain
text, or a CSV file with the header the customer import needs.
"""

from __future__ import annotations

import csv
import io

import schemathesis
from PIL import Image
from schemathesis.transport.serialization import Binary


def _picture(fmt: str, mode: str = "L", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (64, 32), 255 if mode != "1" else 1).save(buffer, fmt, **options)
    return buffer.getvalue()


FILES: dict[str, bytes] = {
    "application/pdf": _picture("PDF"),
    "image/png": _picture("PNG"),
    "image/jpeg": _picture("JPEG"),
    "image/tiff": _picture("TIFF", mode="1", compression="group4"),
    "image/gif": _picture("GIF"),
    "image/webp": _picture("WEBP"),
}

FILES["text/plain"] = "发动机漏油 oil leak\n".encode()


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "name", "phone"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


#: "POST /v1/channels/fax" -> {"document": ["application/pdf", ...]}
ENCODINGS: dict[str, dict[str, list[str]]] = {}


@schemathesis.hook
def before_load_schema(context: schemathesis.HookContext, raw_schema: dict) -> None:
    for path, operations in raw_schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                encoding = media.pop("encoding", None) or {}
                parts = {
                    name: [t.strip() for t in spec.get("contentType", "").split(",")]
                    for name, spec in encoding.items()
                }
                if parts:
                    ENCODINGS[f"{method.upper()} {path}"] = parts


def _is_file(value: object) -> bool:
    return isinstance(value, bytes | str | Binary)


def _real_file(media_types: list[str], value: object) -> bytes:
    """A well-formed file of one of ``media_types``, picked by the generated value."""
    raw = value.data if isinstance(value, Binary) else value
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if "text/csv" in media_types:
        return _csv([("C" + str(len(data)), data.decode("utf-8", "replace")[:40] or "x", "")])
    choices = [FILES[t] for t in media_types if t in FILES]
    return choices[len(data) % len(choices)]


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict) -> None:
    """Every phase's cases pass here (generation hooks miss the coverage phase);
    schema-valid ones get real files, negative ones are sent as generated."""
    parts = ENCODINGS.get(case.operation.label)
    meta = case.meta
    if meta is not None and not meta.generation.mode.is_positive:
        return  # a negative case keeps its files: one of them may be what it broke
    if not parts or not isinstance(case.body, dict):
        return
    body = dict(case.body)
    for name, media_types in parts.items():
        value = body.get(name)
        if _is_file(value):
            body[name] = _real_file(media_types, value)
        elif isinstance(value, list) and value and all(_is_file(item) for item in value):
            body[name] = [_real_file(media_types, item) for item in value]
    case.body = body
    # The generated body was schema-valid and still is (a file for a file); but
    # schemathesis 4.32.5 revalidates a body a hook changed, and calls any body
    # holding bytes invalid, which relabels the case negative. Not an edit to judge.
    case._sync_validated_hashes()

"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

The document says which media types a file part may be (``encoding.contentType``);
the services sniff the bytes, so a schema-valid upload has to *be* such a file.
Schemathesis cannot draw a TIFF from a media type name, and its generator for
parts with an ``encoding`` drops required fields and sends a list of files as one
nameless part (4.32.5). So the hooks take ``encoding`` out of the schema it loads,
remember it, and put in place of each generated file's bytes a small well-formed
file of one of the part's media types: a blank page (OCR reads nothing and files
the complaint as awaiting transcription), some plain text, or a CSV file with the
header the customer import needs and any rows (bad rows are reported, not refused).
"""

from __future__ import annotations

import csv
import io

import schemathesis
from hypothesis import strategies as st
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

_CELL = st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), max_size=40)


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "name", "phone"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _file_of(media_types: list[str]) -> st.SearchStrategy[bytes]:
    choices = [FILES[t] for t in media_types if t in FILES]
    strategies = [st.sampled_from(choices)] if choices else []
    if "text/csv" in media_types:
        strategies.append(st.lists(st.tuples(_CELL, _CELL, _CELL), max_size=20).map(_csv))
    return st.one_of(*strategies)


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


@schemathesis.hook
def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy:
    """Schema-valid cases only: a negative case keeps the part it made invalid."""
    parts = ENCODINGS.get(case.operation.label)
    meta = case.meta
    negative = meta is not None and not meta.generation.mode.is_positive
    if not parts or negative or not isinstance(case.body, dict):
        return st.just(case)
    body = case.body
    drawn: dict[str, st.SearchStrategy] = {}
    for name, media_types in parts.items():
        value = body.get(name)
        if _is_file(value):
            drawn[name] = _file_of(media_types)
        elif isinstance(value, list) and value and all(_is_file(item) for item in value):
            drawn[name] = st.lists(_file_of(media_types), min_size=len(value), max_size=len(value))
    if not drawn:
        return st.just(case)

    def with_files(files: dict) -> schemathesis.Case:
        case.body = {**body, **files}
        return case

    return st.fixed_dictionaries(drawn).map(with_files)

"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

The document says which media types a file part may be (``encoding.contentType``);
the services sniff the bytes, so a schema-valid upload has to *be* such a file.
Schemathesis cannot draw a TIFF from a media type name, and its generator for
parts with an ``encoding`` drops required fields and sends a list of files as one
nameless part (4.32.5). So the hooks take ``encoding`` out of the schema it loads,
remember it, and put in place of each generated file's bytes (just before the
call) a small well-formed file of one of the part's media types, as text: a blank
one-page PDF (OCR reads nothing and files the complaint as awaiting transcription),
some plain text, or a CSV file with the header the customer import needs.
"""

from __future__ import annotations

import csv
import io

import schemathesis
from schemathesis.transport.serialization import Binary


def _ascii_pdf() -> str:
    """A blank one-page PDF in ASCII only: a body schemathesis holds as text, not
    bytes (it calls any body with bytes invalid when it revalidates a changed case)."""
    objects = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R/Resources<<>>>>",
        "<</Length 0>>\nstream\n\nendstream",
    ]
    out, offsets = "%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += f"trailer\n<</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n"
    return out


#: Files as text, for the schema-valid cases (see _ascii_pdf).
TEXT_FILES = {"application/pdf": _ascii_pdf(), "text/plain": "发动机漏油 oil leak\n"}


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


def _real_file(media_types: list[str], value: object) -> str:
    """A well-formed file of one of ``media_types``, picked by the generated value."""
    raw = value.data if isinstance(value, Binary) else value
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if "text/csv" in media_types:
        text = "".join(c for c in data.decode("utf-8", "replace") if c.isprintable())
        rows = [("C" + str(len(data)), text[:40] or "x", "")]
        return _csv(rows).decode()
    choices = [TEXT_FILES[t] for t in media_types if t in TEXT_FILES]
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

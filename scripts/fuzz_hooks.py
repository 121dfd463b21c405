"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

The document says which media types a file part may be (``encoding.contentType``);
the services sniff the bytes, so a schema-valid upload has to *be* such a file.
Schemathesis cannot draw a TIFF from a media type name: these strategies give it
one small well-formed file per type (a blank page, which OCR reads as nothing and
files as awaiting transcription), some plain text, and CSV files with the header
the customer import needs and any rows (bad rows are reported, not refused).
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

for media_type, data in FILES.items():
    schemathesis.openapi.media_type(media_type, st.just(data))

_WORDS = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=200
).filter(str.strip)

schemathesis.openapi.media_type("text/plain", _WORDS.map(lambda text: text.encode()))


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "name", "phone"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


_CELL = st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), max_size=40)
schemathesis.openapi.media_type(
    "text/csv", st.lists(st.tuples(_CELL, _CELL, _CELL), max_size=20).map(_csv)
)


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: object) -> object:
    """A media type strategy draws one file even for a list of files (``files``):
    sent bare, the part had no file name and read as a form field. One file is
    a list of one, as the schema says."""
    if isinstance(body, dict) and isinstance(body.get("files"), (bytes, Binary)):
        return {**body, "files": [body["files"]]}
    return body

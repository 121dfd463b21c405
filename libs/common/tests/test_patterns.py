"""Patterns mean the same in the document (ECMA-262, as schemathesis and gateways
validate it), in pydantic (Rust regex) and in Python (issue 19: the fuzzer found
e-mail addresses and reasons the document allowed and the services refused)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI, File, UploadFile
from pydantic import StringConstraints, TypeAdapter, ValidationError

from tousu_common.openapi import multipart_encoding
from tousu_common.ops import DiscardRequest
from tousu_common.patterns import EMAIL_PATTERN, NON_SPACE, WHITE_SPACE, IsoDate

#: Every code point some engine calls white space, and their neighbours.
TRICKY = [chr(c) for c in [*range(0x00, 0x21), *range(0x7F, 0xA1), 0x1680, *range(0x2000, 0x200C)]]
TRICKY += ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "a", "漏"]


def engines(pattern: str) -> list:
    """(name, matcher) for the document's validator, pydantic's and Python's."""
    document = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    rust = TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])

    def pydantic_ok(value: str) -> bool:
        try:
            rust.validate_python(value)
        except ValidationError:
            return False
        return True

    compiled = re.compile(pattern)
    return [document.is_valid, pydantic_ok, lambda value: compiled.search(value) is not None]


@pytest.mark.parametrize("character", TRICKY, ids=lambda c: f"U+{ord(c):04X}")
def test_white_space_is_what_python_strips_in_every_engine(character: str) -> None:
    expected = not character.isspace()
    assert [ok(character) for ok in engines(NON_SPACE)] == [expected] * 3
    assert (character.strip() == "") == character.isspace()
    email = f"a{character}b@example.cn"
    assert [ok(email) for ok in engines(EMAIL_PATTERN)] == [expected and character != "@"] * 3


def test_the_spelled_out_class_is_exactly_pythons_white_space() -> None:
    python = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    spelled = {chr(c) for c in range(0x110000) if re.fullmatch(f"[{WHITE_SPACE}]", chr(c))}
    assert spelled == python


def test_a_discard_reason_needs_a_character_that_is_not_white_space() -> None:
    pattern = DiscardRequest.model_json_schema()["properties"]["reason"]["pattern"]
    document = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    for reason in (" ", "\x1c", "\u3000 ", "a\x00"):
        assert not document.is_valid(reason), repr(reason)
        with pytest.raises(ValidationError):
            DiscardRequest(reason=reason)
    assert document.is_valid(" fixed upstream ")
    assert DiscardRequest(reason=" fixed upstream ").reason == "fixed upstream"


def test_a_date_is_only_the_string_the_document_describes() -> None:
    adapter = TypeAdapter(IsoDate)
    assert adapter.json_schema() == {"type": "string", "format": "date"}
    assert adapter.validate_python("2027-03-01") == date(2027, 3, 1)
    assert adapter.validate_python(date(2027, 3, 1)) == date(2027, 3, 1)
    # pydantic alone takes a number (or a string of one) as a Unix time.
    for value in (0, "0", 1.5, True, "2027-03-01T00:00:00", "２０２７-03-01"):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


async def test_file_parts_say_their_media_types() -> None:
    app = FastAPI()

    @app.post("/upload", openapi_extra=multipart_encoding(scan=["image/png", "application/pdf"]))
    async def upload(scan: Annotated[UploadFile, File()]) -> dict[str, int]:
        return {"size": len(await scan.read())}

    body = app.openapi()["paths"]["/upload"]["post"]["requestBody"]["content"]
    form = body["multipart/form-data"]
    assert form["encoding"] == {"scan": {"contentType": "image/png, application/pdf"}}
    assert form["schema"]["$ref"]  # FastAPI's own schema is kept beside it
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post("/upload", files={"scan": ("a.png", b"\x89PNG", "image/png")})
    assert answer.json() == {"size": 4}

"""The OpenAPI document as the services serve it, made to say what they do.

Two things FastAPI's generated document leaves out or gets wrong:

* An optional query or header parameter is declared ``anyOf: [X, null]``; there is
  no null on the wire (a client sending it writes the text ``null``), so the
  parameter's schema is ``X`` and leaving the parameter out is how a client says
  "none".
* OpenAPI links: which operation's answer holds the id another operation takes.
  Each service names them in a table of :class:`Link` (and every service gets the
  operator router's); a link goes from the operation that returns an id to every
  operation with a path parameter of that name, so a client (and schemathesis'
  stateful phase) can follow a complaint from the post that created it to every
  call about it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

_PARAMETER = re.compile(r"{([^}]+)}")
_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Link:
    """``source`` ("POST /v1/complaints") answering ``status`` gives the values of
    ``parameters`` (path parameter → runtime expression, e.g. ``$response.body#/id``)."""

    source: str
    status: str
    parameters: Mapping[str, str]

    def targets(self, document: dict[str, Any]) -> list[tuple[str, str]]:
        """``(method, path)`` of every operation whose path takes all the parameters."""
        wanted = set(self.parameters)
        found = []
        for path, operations in document.get("paths", {}).items():
            if not wanted <= set(_PARAMETER.findall(path)):
                continue
            for method in operations:
                if method in _METHODS and f"{method.upper()} {path}" != self.source:
                    found.append((method, path))
        return found


#: Every service has the operator router: its dead-letter list names the ids.
OPS_LINKS = (
    Link("GET /v1/ops/dead-letters", "200", {"dead_letter_id": "$response.body#/items/0/id"}),
)


def without_null_parameters(document: dict[str, Any]) -> None:
    """``anyOf: [X, {"type": "null"}]`` → ``X`` for query, header, path and cookie
    parameters (in place)."""
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = _without_null(parameter["schema"])


def without_null_form_fields(document: dict[str, Any]) -> None:
    """The same for the fields of multipart and url-encoded forms: a form has no
    null either, an optional field is left out; and a single file field says it
    takes at least one byte (in place)."""
    schemas = document.get("components", {}).get("schemas", {})
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            for media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                ref = content.get(media_type, {}).get("schema", {}).get("$ref", "")
                form = schemas.get(ref.rsplit("/", 1)[-1]) if ref else None
                required = set((form or {}).get("required", []))
                for name, schema in (form or {}).get("properties", {}).items():
                    schema = _without_null(schema)
                    if "contentMediaType" in schema and schema.get("type") == "string":
                        # A form's one file: every service refuses it empty.
                        schema = {**schema, "minLength": 1}
                    elif name not in required and _refuses_empty(schema):
                        # FastAPI reads an empty optional field as left out (issue 19).
                        schema = _or_empty(schema)
                    form["properties"][name] = schema


def _refuses_empty(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        return False  # a list of files or values: an empty part is not "left out"
    constrained = {"minLength", "pattern", "enum", "const", "format"} & schema.keys()
    return schema.get("type") != "string" or bool(constrained) or "anyOf" in schema


def _or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    outer = {k: schema[k] for k in ("title", "description", "default") if k in schema}
    inner = {k: v for k, v in schema.items() if k not in outer}
    empty = {"type": "string", "maxLength": 0, "description": "empty: as if left out"}
    return {**outer, "anyOf": [inner, empty]}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    variants = schema.get("anyOf")
    if not variants:
        return schema
    kept = [v for v in variants if v != {"type": "null"}]
    if len(kept) == len(variants):
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def add_links(document: dict[str, Any], links: Iterable[Link]) -> None:
    """Put each link on its source operation's response (in place); an unknown
    source is a mistake in the table, so it raises."""
    paths = document.get("paths", {})
    for link in links:
        method, path = link.source.split(" ", 1)
        operation = paths.get(path, {}).get(method.lower())
        if operation is None:
            raise KeyError(f"no operation {link.source} for an OpenAPI link")
        response = operation.get("responses", {}).get(link.status)
        if response is None:
            raise KeyError(f"{link.source} has no {link.status} response for an OpenAPI link")
        for target_method, target_path in link.targets(document):
            target = paths[target_path][target_method]
            name = target.get("operationId") or f"{target_method}{target_path}"
            response.setdefault("links", {})[name] = {
                "operationId": target["operationId"],
                "parameters": dict(link.parameters),
            }


def install_openapi(app: FastAPI, links: Iterable[Link] = ()) -> None:
    """Serve the document with parameters without null and with ``links``."""
    table = tuple(links)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            without_null_parameters(document)
            without_null_form_fields(document)
            add_links(document, table)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def multipart_encoding(**parts: Iterable[str]) -> dict[str, Any]:
    """``openapi_extra`` for a multipart operation: the media types each file part may
    be (OpenAPI ``encoding.contentType``), which ``File()`` cannot say. The service
    sniffs the bytes, so a client (or a fuzzer) must send a file of one of them."""
    encoding = {name: {"contentType": ", ".join(types)} for name, types in parts.items()}
    return {"requestBody": {"content": {"multipart/form-data": {"encoding": encoding}}}}


def file_responses(media_types: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    """``responses`` for a download whose media type is the stored file's own."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"content": {media_type: binary for media_type in media_types}}}

"""The served OpenAPI document: no null where the wire has none, links where ids
come from, and a 405 that names every method of the path (issue 19)."""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
import pytest
from fastapi import FastAPI, Form, Header, Query

from tousu_common.errors import install_error_handlers
from tousu_common.openapi import Link, install_openapi


def small_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/things", status_code=201)
    async def create_thing() -> dict[str, str]:
        return {"id": "t1"}

    @app.get("/v1/things/{thing_id}")
    async def get_thing(
        thing_id: str,
        q: Annotated[str | None, Query(max_length=5)] = None,
        if_match: Annotated[str | None, Header(alias="If-Match", pattern="^[0-9]+$")] = None,
    ) -> dict[str, str | None]:
        return {"id": thing_id, "q": q}

    @app.delete("/v1/things/{thing_id}")
    async def delete_thing(thing_id: str) -> None:
        return None

    install_openapi(app, [Link("POST /v1/things", "201", {"thing_id": "$response.body#/id"})])
    return app


def test_optional_parameters_are_declared_without_null() -> None:
    document = small_app().openapi()
    parameters = {
        p["name"]: p["schema"]
        for p in document["paths"]["/v1/things/{thing_id}"]["get"]["parameters"]
    }
    assert parameters["q"]["type"] == "string" and parameters["q"]["maxLength"] == 5
    assert parameters["If-Match"] == {
        "type": "string",
        "pattern": "^[0-9]+$",
        "title": "If-Match",
    }
    assert "anyOf" not in parameters["q"]


def test_a_link_goes_to_every_operation_that_takes_the_id() -> None:
    document = small_app().openapi()
    links = document["paths"]["/v1/things"]["post"]["responses"]["201"]["links"]
    operation_ids = {
        op["operationId"]
        for path, operations in document["paths"].items()
        for op in operations.values()
        if "{thing_id}" in path
    }
    assert {link["operationId"] for link in links.values()} == operation_ids
    assert len(operation_ids) == 2
    assert all(link["parameters"] == {"thing_id": "$response.body#/id"} for link in links.values())


def test_a_link_from_an_unknown_operation_is_a_mistake() -> None:
    app = FastAPI()
    install_openapi(app, [Link("POST /v1/nothing", "201", {"x": "$response.body#/id"})])
    with pytest.raises(KeyError):
        app.openapi()


async def test_405_allow_names_every_method_of_the_path() -> None:
    transport = httpx.ASGITransport(app=small_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.request("PATCH", "/v1/things/t1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_an_empty_optional_form_field_is_documented_as_left_out() -> None:
    """FastAPI reads an empty optional form field as absent, so "" is taken even
    where the field's own schema refuses it (the fuzzer: "schema-violating request
    accepted"); the document says so. A required field's "" is refused."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/forms")
    async def post_form(
        text: Annotated[str, Form(min_length=1)],
        kind: Annotated[Literal["note", "call"], Form()] = "note",
    ) -> dict[str, str]:
        return {"text": text, "kind": kind}

    install_openapi(app, [])
    ref = app.openapi()["paths"]["/v1/forms"]["post"]["requestBody"]["content"]
    name = ref["application/x-www-form-urlencoded"]["schema"]["$ref"].rsplit("/", 1)[-1]
    form = app.openapi()["components"]["schemas"][name]["properties"]
    assert form["text"]["minLength"] == 1 and "anyOf" not in form["text"]
    assert form["kind"]["anyOf"][1]["maxLength"] == 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        empty_kind = await client.post("/v1/forms", data={"text": "x", "kind": ""})
        empty_text = await client.post("/v1/forms", data={"text": ""})
    assert empty_kind.json() == {"text": "x", "kind": "note"}
    assert empty_text.status_code == 422

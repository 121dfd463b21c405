"""Every integer query parameter of every service takes digits only, as its
document's ``type: integer`` says: ``1.0``, ``+0.0`` and `` 5`` are a 422 naming
the parameter (pydantic alone accepted them; make fuzz found ``offset=+0.0``
answered 200 on the operator API). Found from the OpenAPI documents, so a new
list endpoint is covered without being named here."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import httpx
import pytest

from tousu_common.auth import ROLES, mint_token
from tousu_common.db import Database
from tousu_common.devstack import ALL_SERVICES
from tousu_common.migrations import upgrade


def integer_query_params(app) -> list[tuple[str, str]]:
    found = []
    for path, operations in app.openapi()["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for parameter in get.get("parameters", []):
            if parameter["in"] == "query" and parameter["schema"].get("type") == "integer":
                found.append((path, parameter["name"]))
    return found


@pytest.mark.parametrize("service", [spec.name for spec in ALL_SERVICES])
async def test_integer_query_parameters_refuse_what_is_not_digits(
    service: str, tmp_path: Path
) -> None:
    package = f"tousu_{service}"
    settings = importlib.import_module(f"{package}.config").Settings(
        jwt_secret="x" * 48,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'test.db'}",
        environment="test",
    )
    app = importlib.import_module(f"{package}.main").create_app(settings)
    # Some dependencies read the database before the parameters are checked.
    await asyncio.to_thread(upgrade, package, settings.database_url)
    app.state.db = Database(settings.database_url)
    params = integer_query_params(app)
    assert params, f"{service} documents no integer query parameter"
    token = mint_token("x" * 48, subject="t", roles=sorted(ROLES), department="csc")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        for path, name in params:
            for value in ("1.0", "+0.0", " 5"):
                response = await client.get(
                    path, params={name: value}, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 422, (path, name, value, response.text)
                fields = [f["field"] for f in response.json()["error"]["fields"]]
                assert f"query.{name}" in fields, (path, name, value, response.text)
    await app.state.db.dispose()

"""No route of any service runs a plain ``def`` on the thread pool.

FastAPI runs a ``def`` endpoint or dependency (a class used as a dependency
included) in anyio's worker threads: a thread hop and a GIL hand-over per call,
for functions that only read a header or ``app.state``. It was 7% of
rectification's CPU at saturation for one such dependency (issue 17). Blocking
work that truly needs a thread says so with ``asyncio.to_thread`` inside an
``async def``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

SERVICES = ("intake", "routing", "rectification", "notify", "console")


def _runs_on_the_loop(call: Any) -> bool:
    function = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
    if inspect.isclass(call):
        return False  # FastAPI calls a class (its constructor) on the thread pool
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _routes(container: Any) -> Iterator[APIRoute]:
    for route in getattr(container, "routes", None) or []:
        if isinstance(route, APIRoute):
            yield route
            continue
        # FastAPI's included routers keep theirs as ``original_router``; a mount as ``app``.
        for attribute in ("original_router", "router", "app"):
            inner = getattr(route, attribute, None)
            if inner is not None and inner is not container and hasattr(inner, "routes"):
                yield from _routes(inner)
                break
        else:
            if hasattr(route, "routes"):
                yield from _routes(route)


def _off_the_loop(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None and not _runs_on_the_loop(sub.call):
            yield f"{sub.call.__module__}.{sub.call.__qualname__}"
        yield from _off_the_loop(sub)


def _app(service: str) -> FastAPI:
    app = importlib.import_module(f"tousu_{service}.main").create_app()
    assert isinstance(app, FastAPI)
    return app


@pytest.mark.parametrize("service", SERVICES)
def test_every_endpoint_and_dependency_is_async(
    service: str, jwt_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOUSU_JWT_SECRET", jwt_secret)
    routes = {id(route): route for route in _routes(_app(service).router)}.values()
    assert len(routes) >= 10, "the walk found too few routes to mean anything"
    offenders = sorted(
        {
            f"{route.path}: {name}"
            for route in routes
            for name in [
                *_off_the_loop(route.dependant),
                *(
                    []
                    if _runs_on_the_loop(route.endpoint)
                    else [f"{route.endpoint.__module__}.{route.endpoint.__qualname__}"]
                ),
            ]
        }
    )
    assert offenders == []


def _plain() -> int:
    return 1


class _Paging:
    def __init__(self, limit: int = 10) -> None:
        self.limit = limit


async def _fine() -> int:
    return 1


def test_the_check_sees_a_plain_def_and_a_class_dependency() -> None:
    app = FastAPI()

    @app.get("/x")
    async def endpoint(
        a: Annotated[int, Depends(_plain)],
        b: Annotated[_Paging, Depends()],
        c: Annotated[int, Depends(_fine)],
    ) -> int:
        return a

    [route] = [r for r in _routes(app.router) if r.path == "/x"]
    assert [name.rsplit(".", 1)[-1] for name in _off_the_loop(route.dependant)] == [
        "_plain",
        "_Paging",
    ]

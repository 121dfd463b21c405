"""The whole system as processes: a broker and the four services, on each backend."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tousu_common.auth import mint_token
from tousu_common.devstack import SERVICES, Stack, free_port
from tousu_common.mailsink import MailSink

# The one poll-until helper lives in tousu_common.testing.wait; kept importable from
# here for stack tests written before it moved.
from tousu_common.testing.wait import eventually  # noqa: F401


def _ports() -> dict[str, int]:
    return {spec.name: free_port() for spec in SERVICES}


#: the xdist group of every test that uses the shared :func:`stack` (see the plugin)
SHARED_STACK_GROUP = "shared-stack"


def _start_stack(request: pytest.FixtureRequest, backend: str) -> Stack:
    database_urls: dict[str, str] = {}
    if backend == "postgresql":
        cluster = request.getfixturevalue("postgres")
        suffix = secrets.token_hex(4)
        database_urls = {
            spec.name: cluster.create_database(f"{spec.name}_{suffix}") for spec in SERVICES
        }
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    mail_sink: MailSink = request.getfixturevalue("mail_sink")
    running = Stack(
        var_dir=tmp_path_factory.mktemp(f"stack-{backend}"),
        database_urls=database_urls,
        ports=_ports(),
        mail_port=mail_sink.port,
        extra_env={"TOUSU_KAFKA_TOPIC_PARTITIONS": "3"},
    )
    running.start(timeout=90)
    return running


# One stack per backend, shared by every module that asks for ``stack`` (each
# starting its own cost two stack starts per module: the slowest part of those
# modules on a loaded machine). The tests already isolate themselves: their own
# complaints, addresses and before/after counts. The plugin sends all of them to
# one xdist worker, one after the other; when the last of them is done the stacks
# stop (a later one would start them again), so they do not idle beside the rest.
_shared_stacks: dict[str, Stack] = {}


@pytest.fixture(scope="session")
def _stop_shared_stacks() -> Iterator[None]:
    yield
    _stop_shared()


def _stop_shared() -> None:
    while _shared_stacks:
        _, running = _shared_stacks.popitem()
        running.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, _stop_shared_stacks: None) -> Stack:
    """The whole system as processes on one backend, shared with other modules."""
    backend = request.param
    if backend not in _shared_stacks:
        _shared_stacks[backend] = _start_stack(request, backend)
    return _shared_stacks[backend]


def _on_shared_stack(item: pytest.Item | None) -> bool:
    return item is not None and any(
        mark.args[:1] == (SHARED_STACK_GROUP,) for mark in item.iter_markers("xdist_group")
    )


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # Only on an xdist worker, where the plugin runs the group as one block; in one
    # process the files come in any order, and the stacks live to the session's end.
    worker = hasattr(item.config, "workerinput")
    if worker and _on_shared_stack(item) and not _on_shared_stack(nextitem):
        _stop_shared()


_SHARED_STACK_CODE = getattr(stack, "_get_wrapped_function", lambda: stack)().__code__


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the shared stack form one xdist group: one worker, one stack per backend."""
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        chain = definitions.name2fixturedefs.get("stack", ()) if definitions else ()
        if chain and getattr(chain[-1].func, "__code__", None) is _SHARED_STACK_CODE:
            item.add_marker(pytest.mark.xdist_group(SHARED_STACK_GROUP))


@pytest.fixture
def auth(stack: Stack) -> Callable[..., dict[str, str]]:
    def headers(
        *roles: str, sub: str = "agent-007", department: str | None = "csc"
    ) -> dict[str, str]:
        token = mint_token(stack.jwt_secret, subject=sub, roles=list(roles), department=department)
        return {"Authorization": f"Bearer {token}"}

    return headers


def get_json_if(client: httpx.Client, url: str, headers: dict[str, str]) -> Any:
    response = client.get(url, headers=headers)
    return response.json() if response.status_code == 200 else None


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A realistic hotline complaint. Each call names a different engine serial so
    that routing's duplicate detection (same customer, same serial, similar text)
    treats repeated test complaints as new work; pass ``serial_number`` to test
    duplicates."""
    body = {
        "title": "发动机漏油，车辆停在高速上",
        "description": "客户的卡车在高速上发动机漏油，已经停机，急需处理。",
        "customer_name": "王建国",
        "customer_phone": "+86 138 0013 8000",
        "product_model": "YC6L-280",
        "serial_number": f"SN-2026-{secrets.token_hex(4).upper()}",
    }
    body.update(overrides)
    return body


def stack_path(stack: Stack, name: str) -> Path:
    return stack.var_dir / f"{name}.log"

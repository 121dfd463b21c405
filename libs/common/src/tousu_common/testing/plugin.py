"""pytest plugin (loaded with ``-p tousu_common.testing.plugin``).

Session-scoped real infrastructure: one Tansu broker, one PostgreSQL cluster.
Tests isolate themselves with their own topics, consumer groups and
databases instead of restarting these.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tousu_common.auth import mint_token
from tousu_common.db import Database
from tousu_common.devstack import Broker
from tousu_common.mailsink import MailSink
from tousu_common.migrations import upgrade
from tousu_common.testing.postgres import PostgresCluster, postgres_bin_dir

BACKENDS = ("sqlite", "postgresql")

# Hypothesis keeps its example database and constants cache in the temp directory,
# not in .hypothesis/ under whatever directory pytest was started from (the repo).
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "tousu-hypothesis")


def postgres_required() -> bool:
    return os.environ.get("TOUSU_REQUIRE_POSTGRES", "") == "1" or os.environ.get("CI", "") == "true"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    instance = Broker(log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    if postgres_bin_dir() is None:
        if postgres_required():
            pytest.fail("PostgreSQL is required here (CI) but its binaries are not installed")
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    # Not under pytest's tmp dir: its 0700 parents keep the 'postgres' user out.
    base = Path(tempfile.mkdtemp(prefix="tousu-pg-"))
    cluster = PostgresCluster(base).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return secrets.token_urlsafe(48)


def oidc_tokens() -> bool:
    """``TOUSU_TEST_TOKENS=oidc``: the same tests with tokens the dev OpenID provider
    issues, the services trusting only it (keys by JWKS) — the token factory below
    switches, the tests stay as they are."""
    return os.environ.get("TOUSU_TEST_TOKENS", "hs256") == "oidc"


@pytest.fixture(scope="session", autouse=True)
def _oidc_test_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not oidc_tokens():
        yield None
        return
    from tousu_common.oidc_dev import DevIdentityProvider

    state = tmp_path_factory.mktemp("oidc-tokens")
    provider = DevIdentityProvider(state, test_issuance=True, log_path=state / "provider.log")
    provider.start()
    # Every settings object built from now on (the shared TOUSU_ prefix) trusts it.
    saved = {key: os.environ.get(key) for key in provider.shared_env()}
    os.environ.update(provider.shared_env())
    yield provider
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    provider.stop()


@pytest.fixture(scope="session")
def token_for(jwt_secret: str, _oidc_test_provider: Any) -> Callable[..., str]:
    """``token_for("csc", sub=..., department=...)``: HS256 with the test secret, or
    (``TOUSU_TEST_TOKENS=oidc``) an access token the dev OpenID provider signed."""
    if _oidc_test_provider is not None:
        provider = _oidc_test_provider

        def issued(*roles: str, sub: str = "tester", department: str | None = None) -> str:
            # A `service` caller is notify's client, the one intake lets read contacts.
            client = "tousu-notify" if "service" in roles else "tousu-tests"
            return provider.test_token(sub, list(roles), department, client_id=client)

        return issued

    def make(*roles: str, sub: str = "tester", department: str | None = None) -> str:
        return mint_token(jwt_secret, subject=sub, roles=list(roles), department=department)

    return make


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names that no other test uses (topics, groups)."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def service_package() -> str:
    """Overridden in each service's conftest: which ``tousu_<name>`` package is under test."""
    raise pytest.UsageError("define a `service_package` fixture in the service's tests/conftest.py")


@pytest.fixture
async def db(database_url: str, service_package: str) -> AsyncIterator[Database]:
    """The service's database, migrated to head, on each backend."""
    await asyncio.to_thread(upgrade, service_package, database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def client(
    db: Database, jwt_secret: str, service_package: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app on that database, called in-process without its lifespan
    (no broker needed to call a route)."""
    settings_cls = importlib.import_module(f"{service_package}.config").Settings
    create_app = importlib.import_module(f"{service_package}.main").create_app
    app = create_app(settings_cls(jwt_secret=jwt_secret, database_url=db.url, environment="test"))
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


@pytest.fixture
def headers_for(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``headers_for("csc")``: an Authorization header for a caller with those roles."""
    return lambda *roles: {"Authorization": f"Bearer {token_for(*roles)}"}


@pytest.fixture(scope="session")
def mail_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    """A real SMTP server on loopback that keeps what it receives (``.messages``,
    ``.wait_for(predicate)``). Shared by the session: filter by recipient or subject."""
    sink = MailSink(directory=tmp_path_factory.mktemp("mail")).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never downloads a browser)."""
    from playwright.async_api import async_playwright

    from tousu_common.browser import launch_options

    try:
        options = launch_options()
    except RuntimeError as missing:
        if postgres_required():
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(**options)
        yield instance
        await instance.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context and page per test (no cookies shared between tests)."""
    context = await browser.new_context(locale="zh-CN")
    yield await context.new_page()
    await context.close()


# -- xdist: one file per worker, except groups that share something expensive ---------


def pytest_configure(config: pytest.Config) -> None:
    # xdist registers it too, but tests also run without xdist (-p no:xdist)
    config.addinivalue_line(
        "markers", "xdist_group(name): run on the same xdist worker as the rest of the group"
    )


def _dist(config: pytest.Config) -> str | None:
    try:
        return config.getvalue("dist")
    except ValueError:  # xdist not loaded (-p no:xdist)
        return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` that also honours ``xdist_group``: a test file runs on one
    worker (its module-scoped fixtures start once), and every test marked
    ``xdist_group(name)`` runs on the same worker as the rest of its group (a
    session-scoped stack then starts once for all of them, not once per file)."""
    if _dist(config) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    # xdist would hand out the files with the most tests first: many quick ones (the
    # compose file checks) before the single slow ones (a SIGKILL scenario), which
    # then run last, one per worker, and make the tail of the run. Keep the order of
    # the collection instead, which the workers put heaviest first (below).
    config.option.loadscopereorder = False

    class FileOrGroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return nodeid.rsplit("@", 1)[-1]
            return super()._split_scope(nodeid)

    return FileOrGroupScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: name each grouped test's group in its node id, as xdist
    itself does under ``--dist loadgroup``, for the scheduler above. (A worker does
    not know the controller's ``--dist``; other schedulers ignore the suffix.)"""
    if not hasattr(config, "workerinput") or config.getvalue("loadgroup"):
        return
    # Heaviest first: the group sharing a stack, then the other whole-stack files
    # (tests/, each starting processes), then the in-process tests. Stable: each
    # file keeps its own order.
    items.sort(
        key=lambda item: (
            0
            if any(item.iter_markers("xdist_group"))
            else 1
            if item.nodeid.startswith("tests/")
            else 2
        )
    )
    for item in items:
        groups = sorted(
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        )
        if groups:
            _rename(item, f"{item.nodeid}@{'_'.join(groups)}")


def _rename(item: pytest.Item, nodeid: str) -> None:
    """Set an item's node id (pytest ≥ 9.1 keeps it as ``_id``, before as ``_nodeid``;
    xdist's own ``loadgroup`` still sets ``_nodeid``, which 9.1 no longer reads)."""
    if hasattr(item, "_id"):
        from _pytest.nodeid import coerce_node_id

        item._id = coerce_node_id(nodeid)
    else:
        item._nodeid = nodeid

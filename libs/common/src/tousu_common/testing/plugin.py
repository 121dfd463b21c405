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

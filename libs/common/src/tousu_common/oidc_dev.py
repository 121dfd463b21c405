"""The development OpenID provider as a process (``deploy/oidc-dev/provider.mjs``).

``tousu run`` and the tests start it on loopback so that dev signs people in the
way production does: authorization code + PKCE, client credentials for the
services, RP-initiated logout, JWT access tokens checked by JWKS. The provider
is panva's ``oidc-provider`` (OpenID Certified) on the machine's Node; its
package lock lives beside the script and ``scripts/ensure-oidc-dev.sh`` runs
``npm ci``.

State (signing keys, users' passwords, client secrets) lives in one directory,
mode 700, so a restart keeps them: tokens issued before a restart stay valid.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tousu_common.devstack import free_port, wait_for_port

#: Where the provider's script and package lock live.
PROVIDER_DIR = Path(
    os.environ.get("TOUSU_OIDC_DEV_DIR")
    or Path(__file__).resolve().parents[4] / "deploy" / "oidc-dev"
)
AUDIENCE = "tousu"
RESOURCE = "urn:tousu:api"
SERVICES = ("intake", "routing", "rectification", "notify")
#: Departments a functional-department user can belong to (routing's list).
FUNCTIONAL_DEPARTMENTS = ("sales", "logistics", "technical", "production", "design", "after_sales")
#: The public client people sign in with (the workbench), and the CLI's.
WORKBENCH_CLIENT = "tousu-workbench"
CLI_CLIENT = "tousu-cli"
#: A confidential client whose tokens hold every role: the dev token `tousu run` prints.
DEV_CLIENT = "tousu-dev"


def new_signing_key() -> dict[str, Any]:
    """A fresh RS256 signing key as a private JWK with a random ``kid``.

    Made here, not by the provider: the provider used to generate its key with
    Node's ``generateKeyPairSync`` as it started, and twice in CI a provider hung
    there (main thread in a futex wait, no key file written, never listening).
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8 or 1, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    public = numbers.public_numbers
    return {
        "kty": "RSA",
        "n": b64(public.n),
        "e": b64(public.e),
        "d": b64(numbers.d),
        "p": b64(numbers.p),
        "q": b64(numbers.q),
        "dp": b64(numbers.dmp1),
        "dq": b64(numbers.dmq1),
        "qi": b64(numbers.iqmp),
        "kid": secrets.token_hex(8),
        "alg": "RS256",
        "use": "sig",
    }


@dataclass(frozen=True)
class SeedUser:
    username: str
    roles: tuple[str, ...]
    department: str | None
    name: str


def seed_users() -> list[SeedUser]:
    """One user per role and per department."""
    users = [
        SeedUser("agent", ("agent",), "csc", "Call-centre agent"),
        SeedUser("csc", ("csc",), "csc", "Customer Service Centre"),
    ]
    users += [
        SeedUser(dept, ("department",), dept, f"{dept.replace('_', '-').title()} department")
        for dept in FUNCTIONAL_DEPARTMENTS
    ]
    users += [
        SeedUser("quality", ("quality",), "quality", "Quality department"),
        SeedUser("supply", ("supply",), "supply", "Supply department"),
        SeedUser("manager", ("manager",), "csc", "Manager"),
        SeedUser("admin", ("admin",), None, "Administrator"),
    ]
    return users


def node_binary() -> str | None:
    return shutil.which("node")


def provider_installed() -> bool:
    return (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file()


@dataclass
class DevIdentityProvider:
    """The provider process on ``127.0.0.1:<port>``, state under ``state_dir``."""

    state_dir: Path
    port: int = 0
    #: Where people's browsers come back to (the workbench, tests' relying parties).
    redirect_uris: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    access_token_ttl: int = 600
    #: Tests only: POST /_test/token signs an access token for any claims.
    test_issuance: bool = False
    #: `tousu run` only: POST /_dev/token signs one for `tousu token`, for the caller
    #: that authenticates as DEV_CLIENT (see ``issue_dev_token``).
    dev_issuance: bool = False
    log_path: Path | None = None
    process: subprocess.Popen | None = None
    _state: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys_file(self) -> Path:
        return self.state_dir / "jwks.json"

    # -- state ------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        path = self.state_dir / "state.json"
        state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        state.setdefault("cookie_key", secrets.token_urlsafe(32))
        passwords = state.setdefault("passwords", {})
        for user in seed_users():
            passwords.setdefault(user.username, secrets.token_urlsafe(9))
        client_secrets = state.setdefault("client_secrets", {})
        for client in [*(f"tousu-{s}" for s in SERVICES), DEV_CLIENT]:
            client_secrets.setdefault(client, secrets.token_urlsafe(32))
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)
        return state

    def password(self, username: str) -> str:
        return self._state["passwords"][username]

    def client_secret(self, client_id: str) -> str:
        return self._state["client_secrets"][client_id]

    def service_client(self, service: str) -> tuple[str, str]:
        client_id = f"tousu-{service}"
        return client_id, self.client_secret(client_id)

    def _config(self) -> dict[str, Any]:
        users = [
            {
                "username": u.username,
                "password": self.password(u.username),
                "name": u.name,
                "roles": list(u.roles),
                "department": u.department,
            }
            for u in seed_users()
        ]
        clients: list[dict[str, Any]] = [
            {
                "client_id": f"tousu-{service}",
                "client_secret": self.client_secret(f"tousu-{service}"),
                "grant_types": ["client_credentials"],
                "roles": ["service"],
            }
            for service in SERVICES
        ]
        clients += [
            {
                "client_id": DEV_CLIENT,
                "client_secret": self.client_secret(DEV_CLIENT),
                "grant_types": ["client_credentials"],
                "roles": ["admin"],
                "dev_issuer": True,
            },
            {
                "client_id": WORKBENCH_CLIENT,
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": list(self.redirect_uris)
                or ["http://127.0.0.1:8005/auth/callback"],
                "post_logout_redirect_uris": list(self.post_logout_redirect_uris)
                or ["http://127.0.0.1:8005/auth/signed-out"],
            },
            {
                "client_id": CLI_CLIENT,
                "grant_types": ["authorization_code"],
                # RFC 8252 loopback redirect: `tousu login` listens on a free port
                # and registers each one it may use (see tousu_common.login).
                "redirect_uris": [f"http://127.0.0.1:{p}/callback" for p in CLI_PORTS],
            },
        ]
        return {
            "issuer": self.issuer,
            "port": self.port,
            "audience": AUDIENCE,
            "resource": RESOURCE,
            "keys_file": str(self.keys_file),
            "cookie_key": self._state["cookie_key"],
            "access_token_ttl": self.access_token_ttl,
            "users": users,
            "clients": clients,
            "test_issuance": self.test_issuance,
            "dev_issuance": self.dev_issuance,
        }

    # -- process ----------------------------------------------------------------------

    def start(
        self, timeout: float = 90, popen_options: dict[str, Any] | None = None
    ) -> DevIdentityProvider:
        """Start the process (``popen_options``: a stack's process group, else a
        session of its own); return once it serves its discovery document."""
        node = node_binary()
        if node is None or not provider_installed():
            raise RuntimeError(
                "the dev OpenID provider needs Node and `npm ci` in deploy/oidc-dev "
                "(scripts/ensure-oidc-dev.sh does both)"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        self.port = self.port or free_port()
        self._state = self._load_state()
        if not self.keys_file.exists():
            self._save_keys([new_signing_key()])
        config_path = self.state_dir / "config.json"
        config_path.write_text(json.dumps(self._config()))
        config_path.chmod(0o600)
        from tousu_common.devstack import die_with_parent

        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            die_with_parent([node, str(PROVIDER_DIR / "provider.mjs"), str(config_path)]),
            cwd=PROVIDER_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env={**os.environ, "NODE_ENV": "production"},
            **(popen_options or {"start_new_session": True}),
        )
        wait_for_port(self.port, timeout, self.process, self.log_path)
        self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if response.status_code == 200:
                    return response.json()
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the OpenID provider did not serve {self.issuer}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    # -- keys -------------------------------------------------------------------------

    def published_kids(self) -> list[str]:
        response = httpx.get(f"{self.issuer}/jwks", timeout=5)
        response.raise_for_status()
        return [key["kid"] for key in response.json()["keys"]]

    def private_keys(self) -> list[dict[str, Any]]:
        """The signing keys as the provider holds them (newest first)."""
        return json.loads(self.keys_file.read_text())["keys"]

    def _signal_and_wait(self, signum: int, done: Any, timeout: float = 15) -> list[str]:
        if self.process is None:
            raise RuntimeError("self.process is not set")
        self.process.send_signal(signum)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                kids = self.published_kids()
                if done(kids):
                    return kids
            if time.monotonic() > deadline:
                raise TimeoutError("the provider did not change its keys")
            time.sleep(0.05)

    def rotate(self) -> str:
        """A new key signs from now on; the old ones stay published. Returns the new kid."""
        key = new_signing_key()
        self._save_keys([key, *self.private_keys()])
        self._signal_and_wait(signal.SIGUSR1, lambda kids: kids[:1] == [key["kid"]])
        return str(key["kid"])

    def _save_keys(self, keys: list[dict[str, Any]]) -> None:
        """Write the key file the provider reads (private JWKs, mode 600, atomically)."""
        temporary = self.keys_file.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.chmod(0o600)
        temporary.write_text(json.dumps({"keys": keys}, indent=2))
        temporary.replace(self.keys_file)

    def retire_old_keys(self) -> list[str]:
        """Only the current signing key stays published."""
        self._save_keys(self.private_keys()[:1])
        return self._signal_and_wait(signal.SIGUSR1, lambda kids: len(kids) == 1)

    # -- tokens -----------------------------------------------------------------------

    def client_credentials_token(self, client_id: str, client_secret: str | None = None) -> str:
        response = httpx.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": RESOURCE},
            auth=(client_id, client_secret or self.client_secret(client_id)),
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def test_token(
        self,
        sub: str,
        roles: Sequence[str],
        department: str | None = None,
        client_id: str = "tousu-tests",
        ttl: int | None = None,
    ) -> str:
        """An access token for any claims (only with ``test_issuance``)."""
        body: dict[str, Any] = {
            "sub": sub,
            "roles": list(roles),
            "department": department,
            "client_id": client_id,
        }
        if ttl is not None:
            body["ttl"] = ttl
        response = httpx.post(f"{self.issuer}/_test/token", json=body, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def dev_token(
        self, sub: str, roles: Sequence[str], department: str | None = None, ttl: int = 3600
    ) -> str:
        """What `tousu token` gets from this provider (only with ``dev_issuance``)."""
        running = RunningDevProvider(self.issuer, DEV_CLIENT, self.client_secret(DEV_CLIENT))
        return issue_dev_token(running, sub, roles, department, ttl)

    def service_env(self, service: str) -> dict[str, str]:
        """What a service needs to trust this provider and get its own service token."""
        client_id, client_secret = self.service_client(service)
        prefix = f"TOUSU_{service.upper()}_"
        return {
            f"{prefix}OIDC_CLIENT_ID": client_id,
            f"{prefix}OIDC_CLIENT_SECRET": client_secret,
            **self.shared_env(),
        }

    def shared_env(self) -> dict[str, str]:
        return {
            "TOUSU_OIDC_ISSUER": self.issuer,
            "TOUSU_OIDC_AUDIENCE": AUDIENCE,
            "TOUSU_OIDC_RESOURCE": RESOURCE,
        }


#: Loopback ports `tousu login` may listen on (registered as the CLI's redirect URIs).
CLI_PORTS = tuple(range(8765, 8775))


# -- `tousu token` against `tousu run`'s provider ------------------------------------
#
# `tousu run` starts its provider with ``dev_issuance``: POST /_dev/token signs an
# access token for any subject, roles and department, as the provider's own tokens
# look, for a caller that authenticates (HTTP Basic, like at /token) as DEV_CLIENT.
# That client's secret is only in the provider's state (directory mode 700, files
# mode 600), and the client can already get an admin token by client credentials,
# so this lets nobody do what they could not do before; a stranger on loopback
# gets 401 and no token. Production never runs this provider (compose has
# Keycloak; a company has its own), and ``dev_issuance`` is off unless asked for.

DEV_ISSUANCE_PATH = "/_dev/token"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class DevIssuanceError(RuntimeError):
    """The dev provider is there but gave no token (the reason is the message)."""


class NoDevProvider(DevIssuanceError):
    """No dev provider answers where its state says it listens."""


@dataclass(frozen=True)
class RunningDevProvider:
    """What `tousu token` needs of `tousu run`'s provider: where, and who to be."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)


def _owner_only(path: Path) -> None:
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DevIssuanceError(
            f"{path} is not private to you (mode {info.st_mode & 0o777:o}, owner uid "
            f"{info.st_uid}): its client secret may be known to others; "
            "stop `tousu run`, remove it and start again"
        )


def find_dev_provider(state_dir: Path) -> RunningDevProvider | None:
    """`tousu run`'s provider as its state in ``state_dir`` describes it, or None if
    there is no state. Whether it is running is only known by asking it."""
    config_path, state_path = state_dir / "config.json", state_dir / "state.json"
    if not config_path.exists() or not state_path.exists():
        return None
    for path in (state_dir, config_path, state_path):
        _owner_only(path)
    issuer = str(json.loads(config_path.read_text())["issuer"])
    parts = urlsplit(issuer)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
        raise DevIssuanceError(
            f"{config_path} names {issuer!r}, not a loopback address: "
            "the dev client's secret is not sent there"
        )
    secret = json.loads(state_path.read_text())["client_secrets"][DEV_CLIENT]
    return RunningDevProvider(issuer, DEV_CLIENT, str(secret))


def issue_dev_token(
    provider: RunningDevProvider,
    sub: str,
    roles: Sequence[str],
    department: str | None = None,
    ttl: int = 3600,
    timeout: float = 15,
) -> str:
    """An access token from ``provider``'s /_dev/token (see above)."""
    try:
        response = httpx.post(
            provider.issuer + DEV_ISSUANCE_PATH,
            json={"sub": sub, "roles": list(roles), "department": department, "ttl": ttl},
            auth=(provider.client_id, provider.client_secret),
            timeout=httpx.Timeout(timeout, connect=3),
        )
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise NoDevProvider(f"no dev OpenID provider answers at {provider.issuer}") from exc
    except httpx.HTTPError as exc:
        raise DevIssuanceError(f"{provider.issuer}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 200:
        return str(response.json()["access_token"])
    if response.status_code == 404:
        raise DevIssuanceError(
            f"the provider at {provider.issuer} does not issue dev tokens "
            "(not one `tousu run` started, or started before `tousu token` could use it: "
            "restart `tousu run`)"
        )
    try:
        reason = response.json().get("error_description") or response.text
    except ValueError:
        reason = response.text
    raise DevIssuanceError(f"the provider at {provider.issuer} refused: {reason}")

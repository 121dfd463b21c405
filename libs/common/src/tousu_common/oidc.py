"""OpenID Connect: tokens the company's identity provider signed, keys by JWKS.

With ``oidc_issuer`` set, a service accepts only access tokens that provider
signed with an asymmetric key (RS256, ES256, PS256, …; never ``none``, never
HS*), for ``oidc_audience``, from that issuer. Keys come from the provider's
JWKS (``oidc_jwks_url``, or ``jwks_uri`` of the issuer's
``/.well-known/openid-configuration``) and are cached:

- a token signed by a key not in the cache makes the cache refresh once, at
  most every ``oidc_jwks_min_refresh_s`` (so rotation works with no restart,
  and a stream of forged ``kid`` values cannot make us hammer the provider);
- readiness refreshes on the same schedule, so a key the provider removed is
  forgotten and a provider that went away is reported;
- the provider being unreachable never fails a request whose key is cached:
  the keys stay until the provider answers with others.

Where roles and the department live differs by provider (Keycloak's
``realm_access.roles``, ``resource_access.<client>.roles``, Entra's
``roles``, a ``groups`` list): :class:`ClaimMapping` reads them as configured,
and roles Tousu does not know are ignored.

The verification itself is PyJWT's (``jwt.decode`` with a ``PyJWK``); nothing
here does cryptography by hand. Without ``oidc_issuer`` the services accept
HS256 tokens signed with ``jwt_secret`` (dev and tests; refused in prod by the
settings).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import httpx
import jwt

from tousu_common.auth import ROLES, Principal, decode_token, mint_token
from tousu_common.errors import Unauthenticated
from tousu_common.settings import OIDC_ALGORITHMS, ServiceSettings

log = logging.getLogger(__name__)

#: Signature algorithms an identity provider may use; symmetric ones never.
ASYMMETRIC_ALGORITHMS = frozenset(OIDC_ALGORITHMS)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_FIVE_MINUTES = timedelta(minutes=5)


class TokenVerifier(Protocol):
    """Turns a bearer token into a :class:`Principal` or raises :class:`Unauthenticated`."""

    async def verify(self, token: str) -> Principal: ...

    async def readiness(self) -> tuple[bool, str] | None:
        """(ready, what to show in ``/readyz``), or None when there is nothing to report."""
        ...


class SharedSecretVerifier:
    """HS256 with ``jwt_secret``: dev and tests only (settings refuse it in prod)."""

    def __init__(self, secret: str, issuer: str) -> None:
        self.secret = secret
        self.issuer = issuer

    async def verify(self, token: str) -> Principal:
        return decode_token(token, self.secret, self.issuer)

    async def readiness(self) -> tuple[bool, str] | None:
        return None


def _path(claims: Mapping[str, Any], dotted: str) -> Any:
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


@dataclass(frozen=True)
class ClaimMapping:
    """Where a provider's tokens carry roles and the department."""

    #: Dotted paths of claims holding role names (lists or single strings).
    role_claims: Sequence[str] = ("roles", "realm_access.roles")
    #: A claim holding group names or ids, mapped to roles by ``group_roles``.
    groups_claim: str | None = "groups"
    group_roles: Mapping[str, str] = field(default_factory=dict)
    department_claim: str = "department"

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ClaimMapping:
        return cls(
            role_claims=tuple(settings.oidc_role_claims),
            groups_claim=settings.oidc_groups_claim or None,
            group_roles=dict(settings.oidc_group_roles),
            department_claim=settings.oidc_department_claim,
        )

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        found: set[str] = set()
        for path in self.role_claims:
            found.update(_strings(_path(claims, path)))
        if self.groups_claim:
            for group in _strings(_path(claims, self.groups_claim)):
                role = self.group_roles.get(group)
                if role:
                    found.add(role)
        department = _path(claims, self.department_claim)
        if isinstance(department, list) and len(department) == 1:  # Keycloak user attributes
            department = department[0]
        client = claims.get("azp") or claims.get("client_id")
        return Principal(
            subject=str(claims["sub"]),
            # Roles the provider knows and Tousu does not are ignored, not fatal.
            roles=frozenset(found & ROLES),
            department=department if isinstance(department, str) and department else None,
            client_id=client if isinstance(client, str) else None,
        )


class JwksCache:
    """The provider's public keys by ``kid``, refreshed on a rate-limited schedule."""

    def __init__(
        self,
        issuer: str,
        jwks_url: str | None = None,
        *,
        min_refresh_s: float = 30,
        max_age_s: float = 300,
        timeout_s: float = 3,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.jwks_url = jwks_url
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._algorithms: dict[str, str | None] = {}  # the "alg" each key declares
        self.loaded_at: float | None = None  # monotonic time of the last successful load
        self.last_attempt: float | None = None
        self.last_error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def declared_algorithm(self, kid: str) -> str | None:
        return self._algorithms.get(kid)

    def due(self) -> bool:
        return (
            self.last_attempt is None or time.monotonic() - self.last_attempt >= self.min_refresh_s
        )

    def stale(self) -> bool:
        return self.loaded_at is None or time.monotonic() - self.loaded_at >= self.max_age_s

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id. A key not cached, or keys older than ``max_age_s``,
        make one refresh if one is due (requests arriving meanwhile wait for that
        one instead of starting their own); a failed refresh keeps the cached keys."""
        key = self._keys.get(kid)
        if key is not None and not self.stale():
            return key
        if self._lock.locked():
            async with self._lock:  # a refresh is under way: its answer is ours too
                pass
        elif self.due():
            await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetch the JWKS (rate-limited); on failure keep the keys we have."""
        attempt_before = self.last_attempt
        async with self._lock:
            if self.last_attempt != attempt_before:  # someone refreshed while we waited
                return
            self.last_attempt = time.monotonic()
            try:
                keys = await self._fetch()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning(
                    "identity provider keys not refreshed",
                    extra={"issuer": self.issuer, "error": self.last_error},
                )
                return
            if set(keys) != set(self._keys):
                log.info("identity provider keys changed", extra={"kids": sorted(keys)})
            self._keys = {kid: key for kid, (key, _) in keys.items()}
            self._algorithms = {kid: declared for kid, (_, declared) in keys.items()}
            self.loaded_at = time.monotonic()
            self.last_error = None

    async def _fetch(self) -> dict[str, tuple[jwt.PyJWK, str | None]]:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as http:
            url = self.jwks_url or await self._discover(http)
            response = await http.get(url)
            response.raise_for_status()
            document = response.json()
        keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}
        for item in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(item, dict) or item.get("use", "sig") != "sig" or not item.get("kid"):
                continue
            if item.get("alg") and item["alg"] not in ASYMMETRIC_ALGORITHMS:
                continue
            if item.get("kty") not in ("RSA", "EC"):
                continue  # never a symmetric ("oct") key from a JWKS
            try:
                keys[str(item["kid"])] = (jwt.PyJWK(item), item.get("alg"))
            except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
                log.warning(
                    "unusable key in the JWKS", extra={"kid": item.get("kid"), "error": str(exc)}
                )
        if not keys:
            raise ValueError("the JWKS holds no usable signing key")
        return keys

    async def _discover(self, http: httpx.AsyncClient) -> str:
        response = await http.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        metadata = response.json()
        if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            raise ValueError(
                f"discovery names issuer {metadata.get('issuer')!r}, not {self.issuer!r}"
            )
        self.jwks_url = str(metadata["jwks_uri"])
        return self.jwks_url

    def status(self) -> tuple[bool, str]:
        if self.loaded_at is None:
            return False, f"no keys loaded from {self.issuer}: {self.last_error or 'not tried yet'}"
        age = time.monotonic() - self.loaded_at
        if self.last_error:
            return True, (  # "degraded": still in rotation (tousu_common.web)
                f"degraded: provider unreachable ({self.last_error}); "
                f"{len(self._keys)} cached keys from {age:.0f}s ago in use"
            )
        return True, f"ok: {len(self._keys)} keys"


class OidcVerifier:
    """Access tokens the configured provider signed, for the configured audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: JwksCache,
        algorithms: Sequence[str] = ("RS256", "ES256", "PS256"),
        leeway_s: float = 30,
        claims: ClaimMapping | None = None,
    ) -> None:
        refused = set(algorithms) - ASYMMETRIC_ALGORITHMS
        if refused:
            raise ValueError(f"algorithms not allowed with an identity provider: {sorted(refused)}")
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.algorithms = tuple(algorithms)
        self.leeway_s = leeway_s
        self.claims = claims or ClaimMapping()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> OidcVerifier:
        if not settings.oidc_issuer:
            raise ValueError("oidc_issuer is not set")
        return cls(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            keys=JwksCache(
                settings.oidc_issuer,
                settings.oidc_jwks_url,
                min_refresh_s=settings.oidc_jwks_min_refresh_s,
                max_age_s=settings.oidc_jwks_max_age_s,
                timeout_s=settings.oidc_http_timeout_s,
            ),
            algorithms=settings.oidc_algorithms,
            leeway_s=settings.oidc_leeway_s,
            claims=ClaimMapping.from_settings(settings),
        )

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("token is not a signed JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise Unauthenticated(
                f"token algorithm {algorithm!r} is not accepted "
                f"(accepted: {', '.join(self.algorithms)})"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("token header names no key ('kid')")
        key = await self.keys.key(kid)
        if key is None:
            raise Unauthenticated("token is signed by a key the identity provider does not publish")
        declared = self.keys.declared_algorithm(kid)
        if (declared and declared != algorithm) or _KEY_TYPE[algorithm[:2]] != key.key_type:
            raise Unauthenticated(f"token algorithm {algorithm!r} does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated("token is not yet valid") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("token is from another issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("token is meant for another audience") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("token signature is invalid") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"token is invalid: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthenticated("token lacks the 'sub' claim")
        return self.claims.principal(claims)

    async def readiness(self) -> tuple[bool, str] | None:
        if self.keys.due():
            await self.keys.refresh()
        return self.keys.status()


def build_verifier(settings: ServiceSettings) -> TokenVerifier:
    if settings.oidc_issuer:
        return OidcVerifier.from_settings(settings)
    return SharedSecretVerifier(settings.jwt_secret.get_secret_value(), settings.jwt_issuer)


class ServiceTokens:
    """This service's own ``service`` token for calling another service's API.

    With an identity provider: the OAuth 2.0 client-credentials grant as
    ``oidc_client_id`` (default ``tousu-<service>``), cached until
    ``oidc_token_renew_s`` before it expires. Without one (dev, tests): a
    token minted with ``jwt_secret`` as before.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_url = settings.oidc_token_url
        self._lock = asyncio.Lock()

    @property
    def client_id(self) -> str:
        return self.settings.oidc_client_id or f"tousu-{self.settings.service_name}"

    async def get(self) -> str:
        settings = self.settings
        if not settings.oidc_issuer:
            return mint_token(
                settings.jwt_secret.get_secret_value(),
                subject=f"service:{settings.service_name}",
                roles=["service"],
                issuer=settings.jwt_issuer,
                ttl=_FIVE_MINUTES,
            )
        if self._token and time.time() < self._expires_at - settings.oidc_token_renew_s:
            return self._token
        async with self._lock:
            if self._token and time.time() < self._expires_at - settings.oidc_token_renew_s:
                return self._token
            self._token, self._expires_at = await self._fetch()
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the other side refused it): the next get() fetches one."""
        self._token = None

    async def _fetch(self) -> tuple[str, float]:
        settings = self.settings
        if settings.oidc_client_secret is None:
            raise RuntimeError(
                f"oidc_client_secret is not set: {settings.service_name} cannot obtain its "
                "service token from the identity provider"
            )
        async with httpx.AsyncClient(timeout=settings.oidc_http_timeout_s) as http:
            if self._token_url is None:
                response = await http.get(
                    f"{str(settings.oidc_issuer).rstrip('/')}/.well-known/openid-configuration"
                )
                response.raise_for_status()
                self._token_url = str(response.json()["token_endpoint"])
            form = {"grant_type": "client_credentials"}
            if settings.oidc_resource:
                form["resource"] = settings.oidc_resource  # RFC 8707
            # RFC 6749 2.3.1 client_secret_basic: what every provider supports.
            response = await http.post(
                self._token_url,
                data=form,
                auth=(self.client_id, settings.oidc_client_secret.get_secret_value()),
            )
            response.raise_for_status()
            token = response.json()
        expires_at = time.time() + float(token.get("expires_in") or 60)
        return str(token["access_token"]), expires_at

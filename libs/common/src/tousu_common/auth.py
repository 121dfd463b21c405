"""Bearer-token authentication (JWT) and role checks.

A token carries ``sub`` (user id), roles and a department. Every route depends
on :func:`require_roles` (or on :data:`CurrentPrincipal` where any
authenticated caller may read), so no endpoint is reachable anonymously by
accident. Which tokens are accepted is the app's verifier's business
(``app.state.token_verifier``, see :mod:`tousu_common.oidc`): the company's
identity provider by JWKS, or in dev and tests HS256 with the secret from
settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tousu_common.errors import Forbidden, Unauthenticated

# Principal lives apart so that domain code can take one without importing
# FastAPI (issue 16); re-exported here.
from tousu_common.principal import Principal

ROLES = frozenset(
    {
        "agent",  # call-centre agent
        "csc",  # Customer Service Centre staff
        "department",  # functional department staff
        "quality",  # Quality department
        "supply",  # Supply department
        "manager",
        "admin",
        "service",  # another Tousu service or integration
        "gateway",  # fax / SMS / mail gateway
    }
)

#: Everyone inside the company who may read complaints, cases and worklists.
STAFF_ROLES = ("agent", "csc", "department", "quality", "supply", "manager", "service")


def mint_token(
    secret: str,
    *,
    subject: str,
    roles: list[str],
    department: str | None = None,
    issuer: str = "tousu",
    ttl: timedelta = timedelta(hours=12),
) -> str:
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "roles": sorted(roles),
        "department": department,
        "iss": issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(token: str, secret: str, issuer: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=issuer,
            options={"require": ["sub", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"token is invalid: {exc}") from exc
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("token claim 'roles' must be a list of strings")
    department = claims.get("department")
    if department is not None and not isinstance(department, str):
        raise Unauthenticated("token claim 'department' must be a string")
    return Principal(subject=str(claims["sub"]), roles=frozenset(roles), department=department)


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
    return await token_verifier(request.app).verify(credentials.credentials)


def token_verifier(app: Any) -> Any:
    """The app's :class:`tousu_common.oidc.TokenVerifier`, built from its settings once."""
    verifier = getattr(app.state, "token_verifier", None)
    if verifier is None:
        from tousu_common.oidc import build_verifier

        verifier = app.state.token_verifier = build_verifier(app.state.settings)
    return verifier


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str):
    """Dependency: the caller must hold one of ``roles`` (admin holds all)."""
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise Forbidden(f"requires one of the roles: {', '.join(sorted(roles))}")
        return principal

    return Depends(dependency)


#: A route parameter for "any member of staff" (see :data:`STAFF_ROLES`).
Staff = Annotated[Principal, require_roles(*STAFF_ROLES)]


def service_token(secret: str, service_name: str, *, ttl: timedelta = timedelta(minutes=5)) -> str:
    """A short-lived token one Tousu service presents to another's API.

    Services read each other only through public APIs; this is the identity
    they do it with (role ``service``, subject ``service:<name>``). With an
    identity provider, services use :class:`tousu_common.oidc.ServiceTokens`
    (client credentials) instead; this is the dev and test path.
    """
    return mint_token(secret, subject=f"service:{service_name}", roles=["service"], ttl=ttl)

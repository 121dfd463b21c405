"""The company's OpenID provider, as the console's sign-in uses it.

Authorization code + PKCE (:mod:`tousu_common.signin` builds and checks every
step); this adds what a server needs: the provider's metadata fetched once
and kept, the blocking calls off the event loop, and refreshing an access
token before it runs out.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from tousu_common import signin
from tousu_common.signin import AuthorizationRequest, Provider, SignInError, Tokens


@dataclass(frozen=True)
class Renewed:
    access_token: str
    expires_at: datetime
    refresh_token: str | None


#: How long a finished renewal answers for its refresh token (requests that read the
#: session before the renewed tokens were saved).
RENEWAL_KEPT_S = 60.0


class Identity:
    def __init__(
        self,
        issuer: str | None,
        client_id: str,
        *,
        client_secret: str | None = None,
        resource: str | None = None,
        scope: str = signin.DEFAULT_SCOPE,
        timeout: float = 10,
        discovery_url: str | None = None,
        token_url: str | None = None,
        jwks_url: str | None = None,
    ) -> None:
        self.issuer = issuer
        # Back-channel addresses (the server's own way to the provider); the
        # authorization and end-session endpoints stay the browsers' ones.
        self.discovery_url = discovery_url
        self.token_url = token_url
        self.jwks_url = jwks_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.resource = resource
        self.scope = scope
        self.timeout = timeout
        self._provider: Provider | None = None
        self._lock = asyncio.Lock()
        # Renewals by refresh token, kept a while after they finish: providers rotate
        # refresh tokens and refuse (Keycloak's revokeRefreshToken; oidc-provider for
        # public clients) or revoke the grant on a second use, so the page's panels
        # asking at once — or a request that read the session before the new token
        # was saved — share one renewal instead of each spending the same token.
        self._renewals: dict[str, asyncio.Task[Renewed]] = {}

    @property
    def configured(self) -> bool:
        return bool(self.issuer)

    async def provider(self) -> Provider:
        if self.issuer is None:
            raise SignInError("no OpenID provider is configured (TOUSU_OIDC_ISSUER)")
        async with self._lock:
            if self._provider is None:
                discovered = await asyncio.to_thread(
                    Provider.discover, self.issuer, timeout=self.timeout, at=self.discovery_url
                )
                self._provider = dataclasses.replace(
                    discovered,
                    token_endpoint=self.token_url or discovered.token_endpoint,
                    jwks_uri=self.jwks_url or discovered.jwks_uri,
                )
            return self._provider

    async def start(self, redirect_uri: str) -> AuthorizationRequest:
        provider = await self.provider()
        return signin.start(
            provider, self.client_id, redirect_uri, scope=self.scope, resource=self.resource
        )

    async def finish(self, request: AuthorizationRequest, callback_url: str) -> Tokens:
        provider = await self.provider()
        return await asyncio.to_thread(
            signin.finish,
            provider,
            self.client_id,
            request,
            callback_url,
            client_secret=self.client_secret,
            resource=self.resource,
            timeout=self.timeout,
        )

    async def renew(self, refresh_token: str) -> Renewed:
        """A new access token from the refresh token (the provider may rotate it);
        one call to the provider per refresh token in this process."""
        task = self._renewals.get(refresh_token)
        if task is None:
            task = asyncio.ensure_future(self._renew(refresh_token))
            self._renewals[refresh_token] = task
            task.add_done_callback(lambda done: self._forget(refresh_token, done))
        return await asyncio.shield(task)

    def _forget(self, refresh_token: str, task: asyncio.Task[Renewed]) -> None:
        if task.cancelled() or task.exception() is not None:
            self._renewals.pop(refresh_token, None)  # a failure is not remembered
            return
        asyncio.get_running_loop().call_later(
            RENEWAL_KEPT_S, self._renewals.pop, refresh_token, None
        )

    async def _renew(self, refresh_token: str) -> Renewed:
        provider = await self.provider()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self.resource:
            form["resource"] = self.resource
        auth = (self.client_id, self.client_secret) if self.client_secret else None
        if auth is None:
            form["client_id"] = self.client_id
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(provider.token_endpoint, data=form, auth=auth)
        if response.status_code != 200:
            raise SignInError(f"the token endpoint answered {response.status_code}")
        body = response.json()
        return Renewed(
            access_token=str(body["access_token"]),
            expires_at=expires_at(body.get("expires_in")),
            refresh_token=body.get("refresh_token"),
        )

    async def logout_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        provider = await self.provider()
        if not provider.end_session_endpoint:
            return None
        return signin.logout_url(provider, self.client_id, id_token, post_logout_redirect_uri)


def expires_at(expires_in: int | float | None, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now + timedelta(seconds=float(expires_in or 300))

"""Wires the console: settings → session store, the services' client, the provider,
the live hub. The only place that builds real adapters."""

from __future__ import annotations

from dataclasses import dataclass, field

from tousu_common.db import Database
from tousu_console.adapters.identity import Identity
from tousu_console.adapters.live_hub import LiveHub
from tousu_console.adapters.repository import SessionStore
from tousu_console.adapters.services import ServiceApi
from tousu_console.config import Settings
from tousu_console.domain.i18n import Language, parse_language


@dataclass
class Console:
    settings: Settings
    sessions: SessionStore
    api: ServiceApi
    identity: Identity
    hub: LiveHub = field(default_factory=LiveHub)

    @property
    def default_language(self) -> Language:
        return parse_language(self.settings.default_language)


def build_console(settings: Settings, db: Database, hub: LiveHub) -> Console:
    secret = settings.signin_client_secret
    return Console(
        settings=settings,
        sessions=SessionStore(db),
        api=ServiceApi(
            {
                "intake": settings.intake_url,
                "routing": settings.routing_url,
                "rectification": settings.rectification_url,
                "notify": settings.notify_url,
            },
            timeout=settings.api_timeout_s,
        ),
        identity=Identity(
            settings.oidc_issuer,
            settings.signin_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            resource=settings.oidc_resource,
            scope=settings.signin_scope,
            timeout=settings.oidc_http_timeout_s,
            discovery_url=settings.oidc_discovery_url,
            token_url=settings.oidc_token_url,
            jwks_url=settings.oidc_jwks_url,
        ),
        hub=hub,
    )

"""The delivery worker: the loop only. Each turn claims what is due, then for each
delivery resolves the recipient, renders, sends (the channel's sender) and
records the outcome — the steps are in :mod:`tousu_notify.handlers.deliver`,
the senders in :mod:`tousu_notify.adapters.senders`, the state machine in
:mod:`tousu_notify.domain.delivery`.

It sends due deliveries, retries with backoff, gives up with
``notification.failed``, and emits ``notification.sent`` on success (both via
the outbox). A commit that added deliveries wakes it at once; otherwise it
polls every ``delivery_poll_interval_s``.

The at-least-once window runs from the far side's answer to the commit of the
batch's outcomes (one transaction, once every attempt of the batch has
returned: at most the channel timeouts, usually tens of milliseconds); a worker
that is merely slow does not reach it as long as an attempt is shorter than
``delivery_stale_after_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import httpx

from tousu_common.db import Database
from tousu_notify.adapters.clients import (
    ContactDirectory,
    CustomerContact,
    DeliveryError,
    Mailer,
    SmsGateway,
)
from tousu_notify.adapters.repository import deliveries_added
from tousu_notify.adapters.senders import Sender, build_senders
from tousu_notify.adapters.templates import Templates
from tousu_notify.config import Settings
from tousu_notify.domain.delivery import Claim, Outcome
from tousu_notify.domain.model import DeliveryChannel
from tousu_notify.handlers.deliver import DeliverySteps

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        templates: Templates | None = None,
        senders: Mapping[DeliveryChannel, Sender] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(follow_redirects=False)
        self.contacts = ContactDirectory(settings, self.http)
        self.mailer = Mailer(settings)
        self.sms = SmsGateway(settings, self.http)
        self.steps = DeliverySteps(
            db,
            settings,
            templates=templates or Templates(settings.timezone),
            contacts=self.contacts,
            senders=senders
            or build_senders(
                settings, self.http, mailer=self.mailer, sms=self.sms, contacts=self.contacts
            ),
            sms_configured=lambda: self.sms.configured,
        )
        self._wake = asyncio.Event()
        db.on_commit(self._wake_if_added)
        # httpx logs every request URL at INFO; a webhook URL may embed the
        # receiver's own secret, so only its warnings reach notify's log.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))

    def _wake_if_added(self, session: Any) -> None:
        if deliveries_added(session):
            self._wake.set()

    async def close(self) -> None:
        await self.mailer.close()
        if self._own_http:
            await self.http.aclose()

    async def run(self) -> None:
        """Send forever; a database hiccup is logged and retried, never fatal."""
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery worker failed, retrying", extra={"error": repr(exc)})
                done = 0
            if done < self.settings.delivery_batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), self.settings.delivery_poll_interval_s
                    )
                self._wake.clear()

    async def run_once(self) -> int:
        """Claim what is due and attempt it; returns how many rows were attempted."""
        claims = await self.claim()
        if claims:
            contacts = await self.steps.prefetch_customers(claims)
            results = await asyncio.gather(*(self.attempt(claim, contacts) for claim in claims))
            await self.record(list(zip(claims, results, strict=True)))
        return len(claims)

    async def claim(self) -> list[Claim]:
        return await self.steps.claim()

    async def attempt(
        self, claim: Claim, contacts: Mapping[UUID, CustomerContact] | None = None
    ) -> Outcome | DeliveryError:
        return await self.steps.attempt(claim, contacts)

    async def record(self, results: list[tuple[Claim, Outcome | DeliveryError]]) -> None:
        await self.steps.record(results)

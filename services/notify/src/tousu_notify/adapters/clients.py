"""Outgoing calls: contacts from intake and rectification, SMTP, the SMS gateway,
webhook receivers. Each raises :class:`DeliveryError` with a message that names
no address (it ends up in the delivery log and in ``notification.failed``)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit
from uuid import UUID

import aiosmtplib
import httpx

from tousu_common.oidc import ServiceTokens
from tousu_common.tracing import trace_headers
from tousu_notify.adapters.mime import ComposedMail
from tousu_notify.config import Settings
from tousu_notify.domain.signing import (
    DELIVERY_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    sign,
)


class DeliveryError(Exception):
    """An attempt failed. ``permanent``: trying again cannot help."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True)
class CustomerContact:
    reference: str | None
    customer_name: str | None
    email: str | None
    phone: str | None
    language: str | None
    tracking_url: str | None
    #: The Message-ID of the customer's mail that filed the complaint (if mailed):
    #: our mails answer it, so the customer's mail program shows one conversation.
    email_message_id: str | None = None


#: intake's batch read takes at most this many complaint ids.
CONTACTS_PER_REQUEST = 100


def _customer_contact(body: dict) -> CustomerContact:
    return CustomerContact(
        reference=body.get("reference"),
        customer_name=body.get("customer_name"),
        email=body.get("email"),
        phone=body.get("phone"),
        language=body.get("language"),
        tracking_url=body.get("tracking_url"),
        email_message_id=body.get("email_message_id"),
    )


@dataclass(frozen=True)
class SupplierContact:
    supplier_name: str | None
    email: str | None
    language: str | None
    response_url: str | None


class ContactDirectory:
    """Contacts are not in events; intake and rectification serve them to services."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        # Minted with jwt_secret in dev; from the identity provider (client
        # credentials, cached until shortly before expiry) when one is set.
        self.tokens = ServiceTokens(settings)

    async def _headers(self) -> dict[str, str]:
        try:
            token = await self.tokens.get()
        except Exception as exc:  # the provider unreachable: retried like any delivery
            raise DeliveryError(f"no service token: {type(exc).__name__}") from exc
        return {"Authorization": f"Bearer {token}", **trace_headers()}

    async def _get(self, url: str, what: str, *, json: dict | None = None) -> dict:
        """GET ``url`` (POST when a ``json`` body is given) with the service token.

        A 401 drops the cached token and tries once more with a new one: the
        provider may have retired the key that signed it."""
        for attempt in (1, 2):
            try:
                if json is None:
                    response = await self.http.get(url, headers=await self._headers(), timeout=10)
                else:
                    response = await self.http.post(
                        url, json=json, headers=await self._headers(), timeout=10
                    )
            except httpx.HTTPError as exc:
                raise DeliveryError(f"{what} unreachable: {type(exc).__name__}") from exc
            if response.status_code != 401 or attempt == 2:
                break
            self.tokens.forget()
        if response.status_code != 200:
            raise DeliveryError(f"{what} answered {response.status_code}", status=None)
        try:
            return response.json()
        except ValueError as exc:
            raise DeliveryError(f"{what} answered with something that is not JSON") from exc

    async def customer(self, complaint_id: UUID) -> CustomerContact:
        body = await self._get(
            f"{self.settings.intake_url.rstrip('/')}/v1/complaints/{complaint_id}/contact",
            "intake's contact API",
        )
        return _customer_contact(body)

    async def customers(self, complaint_ids: list[UUID]) -> dict[UUID, CustomerContact]:
        """The contacts of several complaints, one request per 100 (intake's batch read).

        Complaints intake does not know are missing from the answer; the caller
        falls back to :meth:`customer` for them, which reports the 404."""
        found: dict[UUID, CustomerContact] = {}
        url = f"{self.settings.intake_url.rstrip('/')}/v1/complaints/contacts"
        for start in range(0, len(complaint_ids), CONTACTS_PER_REQUEST):
            chunk = complaint_ids[start : start + CONTACTS_PER_REQUEST]
            body = await self._get(
                url, "intake's contact API", json={"ids": [str(i) for i in chunk]}
            )
            for item in body.get("contacts", []):
                complaint_id = UUID(str(item.get("complaint_id")))
                if complaint_id in chunk:  # only what was asked for
                    found[complaint_id] = _customer_contact(item)
        return found

    async def supplier(self, rectification_id: str) -> SupplierContact:
        body = await self._get(
            f"{self.settings.rectification_url.rstrip('/')}"
            f"/v1/rectifications/{rectification_id}/supplier-contact",
            "rectification's supplier-contact API",
        )
        return SupplierContact(
            supplier_name=body.get("supplier_name"),
            email=body.get("email"),
            language=body.get("language"),
            response_url=body.get("response_url"),
        )

    async def fetch_report(self, url: str) -> bytes:
        """A digest's HTML report (notify's own, or wherever its url points)."""
        try:
            response = await self.http.get(url, headers=await self._headers(), timeout=30)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"report unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise DeliveryError(f"report answered {response.status_code}")
        return response.content


@dataclass(eq=False)
class _Connection:
    smtp: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = 0.0


#: A kept connection unused for longer than this is asked NOOP before a message: a
#: server may have closed it meanwhile, and finding out from a failed MAIL would cost
#: the message a retry. Under traffic connections are never this idle.
_CHECK_AFTER_IDLE_S = 1.0


class Mailer:
    """Sends mail over a few SMTP connections kept open between messages.

    A connection per message cost a TCP connect, the greeting, EHLO (and STARTTLS
    and AUTH where configured) and QUIT every time: on loopback without TLS about
    0.55 ms of CPU per message, as much as the message itself (issue 17). At most
    ``smtp_pool_size`` messages are under way at once, one per connection (what a
    mail server expects of a client, too). A kept connection is closed after
    ``smtp_keepalive_s`` unused or ``smtp_messages_per_connection`` messages; one
    that failed is dropped, never reused.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local_hostname = settings.smtp_local_hostname
        self._idle: list[_Connection] = []
        #: One slot per connection: a batch of 50 sent side by side opened 50 and kept
        #: 4, so under load nearly every message paid for its own connection again.
        self._slots = asyncio.Semaphore(settings.smtp_pool_size)
        self._reaper: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def local_hostname(self) -> str:
        """The EHLO name. aiosmtplib would otherwise resolve ``socket.getfqdn()`` in a
        worker thread for every message (a DNS lookup each time, where one is slow)."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def send(self, message: ComposedMail | EmailMessage) -> None:
        try:
            await self._send(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({error.code for error in exc.recipients})
            raise DeliveryError(
                f"SMTP server refused the recipient ({', '.join(map(str, codes))})",
                status=codes[0] if codes else None,
                # 4xx is "try later" (greylisting, a full mailbox, a busy server):
                # only a 5xx refusal is final.
                permanent=bool(codes) and codes[0] >= 500,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP server answered {exc.code}", status=exc.code, permanent=exc.code >= 550
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP server unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Say QUIT on every kept connection (the worker's shutdown)."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(connection) for connection in idle))
        await asyncio.gather(*self._closing)

    @property
    def open_connections(self) -> int:
        """Kept connections, for tests and the curious."""
        return len(self._idle)

    async def _send(self, message: ComposedMail | EmailMessage) -> None:
        async with self._slots:
            connection = await self._checkout()
            try:
                if isinstance(message, ComposedMail):
                    await connection.smtp.sendmail(message.sender, message.recipients, message.data)
                else:
                    await connection.smtp.send_message(message)
            except BaseException:
                connection.smtp.close()
                raise
            connection.sent += 1
            await self._checkin(connection)

    async def _checkout(self) -> _Connection:
        """The most recently used kept connection that still works, or a new one."""
        while self._idle:
            connection = self._idle.pop()
            # (Past the keepalive the reaper has closed it; the NOOP covers a late timer.)
            if not connection.smtp.is_connected:
                continue
            if time.monotonic() - connection.idle_since > _CHECK_AFTER_IDLE_S:
                try:
                    await connection.smtp.noop()
                except (aiosmtplib.SMTPException, OSError):
                    connection.smtp.close()
                    continue
            return connection
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            local_hostname=await self.local_hostname(),
            port=s.smtp_port,
            start_tls=s.smtp_starttls,
            cert_bundle=str(s.smtp_ca_file) if s.smtp_ca_file else None,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            timeout=s.smtp_timeout_s,
        )
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        return _Connection(smtp)

    async def _checkin(self, connection: _Connection) -> None:
        # No check of the pool's size: the slots already bound the connections to it.
        s = self.settings
        if s.smtp_keepalive_s == 0 or connection.sent >= s.smtp_messages_per_connection:
            await self._quit(connection)
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().call_later(s.smtp_keepalive_s, self._reap)

    def _reap(self) -> None:
        """Close the connections unused for ``smtp_keepalive_s`` (a timer, so a quiet
        notify does not hold the server's connections until the server drops them)."""
        self._reaper = None
        now = time.monotonic()
        stale = [c for c in self._idle if now - c.idle_since >= self.settings.smtp_keepalive_s]
        self._idle = [c for c in self._idle if c not in stale]
        for connection in stale:
            task = asyncio.create_task(self._quit(connection))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if self._idle:
            oldest = min(c.idle_since for c in self._idle)
            self._reaper = asyncio.get_running_loop().call_later(
                max(oldest + self.settings.smtp_keepalive_s - now, 0.01), self._reap
            )

    async def _quit(self, connection: _Connection) -> None:
        """QUIT politely; a connection that cannot is simply closed."""
        try:
            if connection.smtp.is_connected:
                await asyncio.wait_for(connection.smtp.quit(), 5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            connection.smtp.close()


class SmsGateway:
    """An HTTP SMS gateway: ``POST <url>`` with JSON ``{"to", "text"}``, bearer API key."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    @property
    def configured(self) -> bool:
        return bool(self.settings.sms_gateway_url)

    async def send(self, to: str, text: str, *, idempotency_key: str) -> int:
        if not self.settings.sms_gateway_url:
            raise DeliveryError("no SMS gateway configured (sms_gateway_url)", permanent=True)
        headers = {"Idempotency-Key": idempotency_key}
        if self.settings.sms_api_key:
            headers["Authorization"] = f"Bearer {self.settings.sms_api_key.get_secret_value()}"
        try:
            response = await self.http.post(
                self.settings.sms_gateway_url,
                json={"to": to, "text": text},
                headers=headers,
                timeout=self.settings.sms_timeout_s,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS gateway unreachable: {type(exc).__name__}") from exc
        if not response.is_success:
            raise DeliveryError(
                f"SMS gateway answered {response.status_code}", status=response.status_code
            )
        return response.status_code


class TargetRefused(ValueError):
    """A webhook URL notify will not call."""


async def check_webhook_target(url: str, *, allow_private: bool) -> None:
    """http(s) only, a host that resolves, and — unless allowed — no loopback, private,
    link-local or otherwise internal address (no requests into our own network)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("must be an http or https URL")
    if not parts.hostname:
        raise TargetRefused("has no host")
    if parts.username or parts.password:
        raise TargetRefused("must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused("has an invalid port") from exc
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise TargetRefused("host does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise TargetRefused(f"resolves to a non-public address ({address})")


class WebhookClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def post(
        self, url: str, body: bytes, *, secret: str, delivery_id: str, event_type: str
    ) -> int:
        try:
            await check_webhook_target(
                url, allow_private=self.settings.webhook_allow_private_targets
            )
        except TargetRefused as exc:
            raise DeliveryError(f"webhook target refused: {exc}", permanent=True) from exc
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret, body),
            DELIVERY_ID_HEADER: delivery_id,
            EVENT_TYPE_HEADER: event_type,
            "User-Agent": "tousu-notify-webhooks/1",
        }
        try:
            response = await self.http.post(
                url, content=body, headers=headers, timeout=self.settings.webhook_timeout_s
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from exc
        if not response.is_success:
            raise DeliveryError(
                f"webhook answered {response.status_code}", status=response.status_code
            )
        return response.status_code

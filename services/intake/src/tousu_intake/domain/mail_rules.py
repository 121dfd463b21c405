"""What to do with an inbound mail, decided from its headers and text alone (pure).

- :func:`ignore_reason`: auto-replies, bounces and mail loops are never filed
  (RFC 3834 ``Auto-Submitted``, ``Precedence``, the headers mail providers put
  on their own automatic replies — QQ's ``X-QQ-AUTO-REPLY``, Exchange's and
  many webmails' ``X-Autoreply``, ``X-Autorespond``, Outlook's
  ``X-Auto-Response-Suppress: All`` … —, an auto-reply subject prefix
  (``自动回复:``, ``Automatic reply:``, ``Out of Office:``), null / MAILER-DAEMON
  return paths, ``multipart/report`` DSNs, mail from our own addresses or
  carrying our own Message-ID domain). Only headers and the *start* of the
  subject count: a complaint that quotes an auto-reply in its text, or says
  "your automatic reply …" in its subject, is filed.
- :func:`thread_keys`: the complaint references a mail points at — in its
  subject, or embedded in the Message-IDs it replies to (notify sends
  ``Message-ID: <TS-2026-000123.<uuid>@<domain>>``).
- :func:`customer_decision`: does a reply clearly accept or reject a proposed
  resolution (first line starting with 同意/接受/accept or 不同意/拒绝/reject)?
- :func:`strip_quoted`: the new text of a reply, without the quoted original.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tousu_common.events.catalog import CustomerDecision
from tousu_intake.domain.mime import ParsedMail

_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}

#: Headers providers put on their own automatic replies, whatever the value
#: (except an explicit "no"/"false").
_AUTO_REPLY_HEADERS = (
    "x-autoreply",  # Exchange inbox-rule replies, many webmails
    "x-autorespond",
    "x-auto-reply",
    "x-qq-auto-reply",  # QQ Mail / Foxmail server vacation replies ("true")
    "x-autoreply-from",
    "x-mail-autoreply",
    "x-fc-machinegenerated",
)
_FALSE = {"no", "false", "0", "off"}

#: Outlook / Exchange: the sender asks for no automatic answers because it is one
#: (All, OOF, AutoReply). "DR, RN" (no delivery or read receipts) is ordinary mail.
_SUPPRESS_AUTO = {"all", "oof", "autoreply"}

#: An automatic reply's subject starts with its provider's prefix and a colon.
_AUTO_SUBJECT = re.compile(
    r"^\s*(自动回复|自動回覆|自動回復|自动答复|自動答覆|假期自动回复|休假自动回复|"
    r"automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|out of (the )?office"
    r"( reply| autoreply)?|abwesenheitsnotiz|réponse automatique|respuesta automática)"
    r"\s*[:：]",
    re.IGNORECASE,
)
#: Mailers that only ever send automatic answers.
_AUTO_MAILER = re.compile(r"\b(vacation|autorespond(er)?|auto-?reply|out of office)\b", re.I)
_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


@dataclass(frozen=True)
class OwnIdentity:
    """Addresses and the domain the system itself sends from (for loop detection)."""

    addresses: frozenset[str]
    domain: str

    def is_own_address(self, address: str | None) -> bool:
        if not address:
            return False
        address = address.lower()
        return address in self.addresses or _domain(address) == self.domain.lower()


def _domain(address_or_id: str) -> str:
    return address_or_id.rsplit("@", 1)[-1].strip("<> ").lower()


def ignore_reason(mail: ParsedMail, envelope_from: str, own: OwnIdentity) -> str | None:
    """Why this mail must not be filed (a short reason for the record), or None."""
    sender = (envelope_from or "").strip().strip("<>").lower()
    if not sender:
        return "bounce: null return path"
    if sender.split("@", 1)[0] in _DAEMONS:
        return f"bounce: return path {sender.split('@', 1)[0]}"
    if mail.content_type == "multipart/report":
        return "bounce: delivery or disposition report (multipart/report)"
    from_local = (mail.from_address or "").split("@", 1)[0]
    if from_local in _DAEMONS:
        return f"bounce: from {from_local}"
    auto_submitted = (mail.header("auto-submitted") or "").strip().lower()
    if auto_submitted and auto_submitted.split(";", 1)[0].strip() != "no":
        return f"auto-reply: Auto-Submitted: {auto_submitted[:50]}"
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"auto-reply: Precedence: {precedence}"
    reason = _provider_auto_reply(mail)
    if reason is not None:
        return f"auto-reply: {reason}"[:200]
    if own.is_own_address(mail.from_address) or own.is_own_address(sender):
        return "loop: sent from our own address"
    if mail.message_id and _domain(mail.message_id) == own.domain.lower():
        return "loop: carries our own Message-ID"
    return None


def _provider_auto_reply(mail: ParsedMail) -> str | None:
    """Why a provider's own markings say this is an automatic answer, or None."""
    for header in _AUTO_REPLY_HEADERS:
        value = mail.header(header)
        if value is not None and value.strip().lower() not in _FALSE:
            return f"{header}: {value.strip()[:40]}"
    # X-AutoGenerated: Reply is an answer; Forward (a rule passing a customer's mail
    # on to us) is a complaint like any other.
    generated = (mail.header("x-autogenerated") or "").strip().lower()
    if generated.startswith("reply"):
        return f"x-autogenerated: {generated[:40]}"
    suppress = (mail.header("x-auto-response-suppress") or "").lower()
    if _SUPPRESS_AUTO & {token.strip() for token in re.split(r"[,;\s]+", suppress)}:
        return f"x-auto-response-suppress: {suppress[:40]}"
    mailer = mail.header("x-mailer") or ""
    if _AUTO_MAILER.search(mailer):
        return f"x-mailer: {mailer[:40]}"
    if _AUTO_SUBJECT.match(mail.subject):
        return f"subject: {mail.subject[:40]}"
    return None


def reference_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}-(\d{{4}})-(\d{{6,9}})(?!\d)")


def references_in(text: str, prefix: str) -> list[str]:
    """Complaint references in ``text`` (``TS-2026-000123``), in order, unique."""
    found = [
        f"{prefix}-{year}-{serial}" for year, serial in reference_pattern(prefix).findall(text)
    ]
    return list(dict.fromkeys(found))


def references_in_message_ids(ids: Iterable[str], prefix: str) -> list[str]:
    """References embedded in our own Message-IDs: ``<TS-2026-000123.<uuid>@domain>``."""
    pattern = re.compile(rf"^<({re.escape(prefix)}-\d{{4}}-\d{{6,9}})\.[^@<>]+@[^@<>]+>$")
    found = [match.group(1) for id_ in ids if (match := pattern.match(id_.strip()))]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class ThreadKeys:
    """Where a mail may belong: references by strength of evidence, and the raw ids."""

    references: list[str]
    replied_to_ids: list[str]


def thread_keys(mail: ParsedMail, prefix: str) -> ThreadKeys:
    replied = [*mail.in_reply_to, *reversed(mail.references)]
    replied = list(dict.fromkeys(replied))
    references = references_in_message_ids(replied, prefix) + references_in(mail.subject, prefix)
    return ThreadKeys(list(dict.fromkeys(references)), replied)


_QUOTE_STARTS = (
    re.compile(r"^-{2,}\s*(original message|原始邮件|原邮件|forwarded message)", re.I),
    re.compile(r"^on .{1,200} wrote:?$", re.I),
    re.compile(r"^在 ?.{1,200}(写道|寫道)[:：]?$"),
    re.compile(r"^(from|发件人|發件人)\s*[:：]", re.I),
    re.compile(r"^_{5,}$"),
)


def strip_quoted(text: str) -> str:
    """The new part of a reply: stop at the quoted original, drop ``>`` lines."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if any(pattern.match(stripped) for pattern in _QUOTE_STARTS):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    new = "\n".join(kept).strip()
    return new or text.strip()


_ACCEPT = ("同意", "接受", "accept")
_REJECT = ("不同意", "拒绝", "拒絕", "不接受", "reject")


@dataclass(frozen=True)
class Decision:
    decision: CustomerDecision
    comment: str | None


def customer_decision(text: str) -> Decision | None:
    """Accept / reject if the reply's first line clearly says so; None otherwise."""
    new = strip_quoted(text)
    lines = [line.strip() for line in new.splitlines() if line.strip()]
    if not lines:
        return None
    first = lines[0].lstrip("*#-—:：>「『【[( ")
    lowered = first.lower()
    for words, decision in ((_REJECT, CustomerDecision.reject), (_ACCEPT, CustomerDecision.accept)):
        for word in words:
            if lowered.startswith(word):
                rest = first[len(word) :]
                if word.isascii():  # "accepted", "rejecting": drop the rest of the word
                    rest = re.sub(r"^[a-z]+", "", rest, flags=re.IGNORECASE)
                rest = rest.strip(" ,，。.:：;；!！-—–")
                comment = "\n".join(line for line in (rest, *lines[1:]) if line).strip()
                return Decision(decision, comment[:5000] or None)
    return None


def looks_chinese(text: str) -> bool:
    """Enough CJK characters to answer in Chinese."""
    sample = text[:2000]
    cjk = sum(1 for ch in sample if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    return cjk >= 2 or (cjk >= 1 and len(sample) < 20)

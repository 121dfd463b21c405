"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

The document says which media types a file part may be (``encoding.contentType``);
the services sniff the bytes, so a schema-valid upload has to *be* such a file.
Schemathesis cannot draw a TIFF from a media type name, and its generator for
parts with an ``encoding`` drops required fields and sends a list of files as one
nameless part (4.32.5). So the hooks take ``encoding`` out of the schema it loads,
remember it, and put in place of each generated file's bytes (just before the
call) a small well-formed file of one of the part's media types, as text: a blank
one-page PDF (OCR reads nothing and files the complaint as awaiting transcription),
some plain text, or a CSV file with the header the customer import needs.

Some refusals depend on today's date or on how one request's values relate, which
no JSON Schema can state (scripts/fuzz_config/ lists those operations). For their
schema-valid cases the hooks move the generated dates to where the service takes
them — a due date to today or one of the next days in the company's time zone, a fax's
receipt time into the last 30 days, a
holiday notice's days into the path's year with no day both a holiday and a make-up
working day — so that schemathesis sees the service accept schema-valid data
there too. Every change keeps the case schema-valid (schemathesis revalidates a
changed case); negative cases are sent as generated.
"""

from __future__ import annotations

import ast
import csv
import io
import os
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import schemathesis
from schemathesis.transport.serialization import Binary

# CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per
# thread: two schemathesis workers turning source into an AST at once (Hypothesis
# does, to describe a filter's lambda) trip "SystemError: AST constructor recursion
# depth mismatch" (python/cpython#106905) and the operation errors. One at a time.
_ast_parse = ast.parse
_AST_PARSING = threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):  # type: ignore[no-untyped-def]
    with _AST_PARSING:
        return _ast_parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


def _ascii_pdf() -> str:
    """A blank one-page PDF in ASCII only: a body schemathesis holds as text, not
    bytes (it calls any body with bytes invalid when it revalidates a changed case)."""
    objects = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R/Resources<<>>>>",
        "<</Length 0>>\nstream\n\nendstream",
    ]
    out, offsets = "%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += f"trailer\n<</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n"
    return out


#: Files as text, for the schema-valid cases (see _ascii_pdf).
TEXT_FILES = {"application/pdf": _ascii_pdf(), "text/plain": "发动机漏油 oil leak\n"}


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "name", "phone"])
    writer.writerows(rows)
    return buffer.getvalue().encode()


#: "POST /v1/channels/fax" -> {"document": ["application/pdf", ...]}
ENCODINGS: dict[str, dict[str, list[str]]] = {}


@schemathesis.hook
def before_load_schema(context: schemathesis.HookContext, raw_schema: dict) -> None:
    for path, operations in raw_schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                encoding = media.pop("encoding", None) or {}
                parts = {
                    name: [t.strip() for t in spec.get("contentType", "").split(",")]
                    for name, spec in encoding.items()
                }
                if parts:
                    ENCODINGS[f"{method.upper()} {path}"] = parts


def _is_file(value: object) -> bool:
    return isinstance(value, bytes | str | Binary)


def _real_file(media_types: list[str], value: object) -> str:
    """A well-formed file of one of ``media_types``, picked by the generated value."""
    raw = value.data if isinstance(value, Binary) else value
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if "text/csv" in media_types:
        text = "".join(c for c in data.decode("utf-8", "replace") if c.isprintable())
        rows = [("C" + str(len(data)), text[:40] or "x", "")]
        return _csv(rows).decode()
    choices = [TEXT_FILES[t] for t in media_types if t in TEXT_FILES]
    return choices[len(data) % len(choices)]


#: Due dates land on today .. today + DUE_DAYS (the company's time zone).
DUE_DAYS = 60


def _company_today() -> date:
    """Today where the company is: rectification's ``timezone`` setting (its
    default, unless the environment the stack shares with us overrides it)."""
    from tousu_common.settings import ServiceSettings

    name = (
        os.environ.get("TOUSU_RECTIFICATION_TIMEZONE")
        or os.environ.get("TOUSU_TIMEZONE")
        or ServiceSettings.model_fields["timezone"].default
    )
    return datetime.now(ZoneInfo(name)).date()


def _as_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def _due_from_today(value: object) -> object:
    """A generated due date moved to today or one of the next DUE_DAYS days (which
    one follows from the generated date, so seeds still differ)."""
    day = _as_date(value)
    if day is None:
        return value
    return (_company_today() + timedelta(days=day.toordinal() % (DUE_DAYS + 1))).isoformat()


def _future_due_dates(case: schemathesis.Case) -> None:
    """Every ``due_date`` in the body (an instruction's, a notice's, each action's of
    a plan) today or later."""

    def walk(value: object) -> object:
        if isinstance(value, dict):
            return {
                key: _due_from_today(item) if key == "due_date" else walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    if isinstance(case.body, dict):
        case.body = walk(case.body)


def _in_year(value: object, year: int) -> object:
    """A day moved into ``year`` (29 February to the 28th where the year has none)."""
    day = _as_date(value)
    if day is None:
        return value
    try:
        return day.replace(year=year).isoformat()
    except ValueError:
        return day.replace(year=year, day=28).isoformat()


def _notice_in_year(notice: dict, year: int) -> dict:
    """A holiday notice whose days all lie in ``year``; a day that became both a
    holiday and a make-up working day stays a holiday (the notice needs one)."""
    notice = dict(notice)
    holidays = notice.get("holidays")
    if isinstance(holidays, list):
        notice["holidays"] = [_in_year(day, year) for day in holidays]
    makeup = notice.get("makeup_working_days")
    if isinstance(makeup, list):
        taken = set(notice.get("holidays") or [])
        notice["makeup_working_days"] = [
            day for day in (_in_year(item, year) for item in makeup) if day not in taken
        ]
    return notice


def _year_of(value: object) -> int | None:
    """A path's year as generated: an integer, or (coverage phase) its digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _notice_for_path_year(case: schemathesis.Case) -> None:
    """PUT /v1/calendar/notices/{year}: the body is the path's year's notice."""
    year = _year_of((case.path_parameters or {}).get("year"))
    if isinstance(case.body, dict) and year is not None and 2000 <= year <= 2100:
        case.body = {**_notice_in_year(case.body, year), "year": year}


def _first_of_each(items: list, key: Callable[[dict], object]) -> list:
    """The list without a later entry whose ``key`` an earlier one has."""
    seen: set = set()
    kept = []
    for item in items:
        mark = key(item) if isinstance(item, dict) else None
        if mark is not None and not isinstance(mark, list | dict):
            if mark in seen:
                continue
            seen.add(mark)
        kept.append(item)
    return kept


def _calendar_consistent(case: schemathesis.Case) -> None:
    """PUT /v1/calendar: each day listed once, one notice per year, each notice's
    days in its own year."""
    if not isinstance(case.body, dict):
        return
    body = dict(case.body)
    if isinstance(body.get("days"), list):
        body["days"] = _first_of_each(body["days"], lambda day: day.get("date"))
    if isinstance(body.get("notices"), list):
        notices = _first_of_each(body["notices"], lambda notice: notice.get("year"))
        body["notices"] = [
            _notice_in_year(n, year)
            if isinstance(n, dict) and (year := _year_of(n.get("year"))) is not None
            else n
            for n in notices
        ]
    case.body = body


def _plain_term(term: object, groups: object) -> object:
    """A keyword naming a synonym group the rule set lacks, as a plain word (same
    length: ``@brake`` becomes ``_brake``)."""
    if isinstance(term, str) and term.startswith("@"):
        if not (isinstance(groups, dict) and term[1:] in groups):
            return "_" + term[1:]
    return term


def _rule_terms(item: object, groups: object) -> object:
    if not isinstance(item, dict) or not isinstance(item.get("when"), dict):
        return item
    when = dict(item["when"])
    for name in ("any", "all", "none"):
        if isinstance(when.get(name), list):
            when[name] = [_plain_term(term, groups) for term in when[name]]
    return {**item, "when": when}


def _rule_set_consistent(case: schemathesis.Case) -> None:
    """PUT /v1/rules: rule and escalation ids unique within the set, and every
    ``@group`` a condition names one of the set's synonym groups."""
    if not isinstance(case.body, dict):
        return
    body = dict(case.body)
    groups = body.get("synonyms", {})
    taken: set[str] = set()
    for name in ("rules", "escalations"):
        if not isinstance(body.get(name), list):
            continue
        items = []
        for item in body[name]:
            item = _rule_terms(item, groups)
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                rule_id, number = item["id"], 0
                while rule_id in taken:
                    number += 1
                    rule_id = f"{item['id'][: 63 - len(str(number))]}-{number}"
                taken.add(rule_id)
                item = {**item, "id": rule_id}
            items.append(item)
        body[name] = items
    case.body = body


def _rule_fits(case: schemathesis.Case) -> None:
    """POST /v1/rules, PUT /v1/rules/{rule_id}: a single rule names no synonym group
    (which ones the rule set in force has is not the generator's to know), and a PUT
    body is the path's rule."""
    if not isinstance(case.body, dict):
        return
    body = _rule_terms(case.body, None)
    rule_id = (case.path_parameters or {}).get("rule_id")
    if isinstance(rule_id, str) and isinstance(body, dict):
        body = {**body, "id": rule_id}
    case.body = body


def _received_lately(case: schemathesis.Case) -> None:
    """POST /v1/channels/fax: ``received_at`` within the last 30 days (a generated
    one is moved to some minutes before now, in UTC, as the document spells it)."""
    if not isinstance(case.body, dict):
        return
    value = case.body.get("received_at")
    if isinstance(value, str) and value:
        minutes = sum(map(ord, value)) % (29 * 24 * 60)
        when = datetime.now(UTC) - timedelta(minutes=minutes)
        case.body = {**case.body, "received_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


#: Schema-valid data made to meet what no schema can state, by operation.
RULES: dict[str, Callable[[schemathesis.Case], None]] = {
    "POST /v1/channels/fax": _received_lately,
    "POST /v1/cases/{complaint_id}/resolution": _future_due_dates,
    "POST /v1/cases/{complaint_id}/instructions": _future_due_dates,
    "POST /v1/quality-reports/{report_id}/notices": _future_due_dates,
    "PUT /v1/calendar/notices/{year}": _notice_for_path_year,
    "PUT /v1/calendar": _calendar_consistent,
    "PUT /v1/rules": _rule_set_consistent,
    "POST /v1/rules": _rule_fits,
    "PUT /v1/rules/{rule_id}": _rule_fits,
}


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict) -> None:
    """Every phase's cases pass here (generation hooks miss the coverage phase);
    schema-valid ones get real files and dates the service takes, negative ones
    are sent as generated."""
    label = case.operation.label
    parts = ENCODINGS.get(label)
    meta = case.meta
    if meta is not None and not meta.generation.mode.is_positive:
        return  # a negative case keeps its files and dates: one may be what it broke
    rule = RULES.get(label)
    if rule is not None:
        rule(case)
    if not parts or not isinstance(case.body, dict):
        return
    body = dict(case.body)
    for name, media_types in parts.items():
        value = body.get(name)
        if _is_file(value):
            body[name] = _real_file(media_types, value)
        elif isinstance(value, list) and value and all(_is_file(item) for item in value):
            body[name] = [_real_file(media_types, item) for item in value]
    case.body = body

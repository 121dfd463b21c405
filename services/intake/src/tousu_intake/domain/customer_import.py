"""Reading a customer CSV export (ERP/CRM) into customer records, row by row.

Format (documented in the service README):

- encoding UTF-8 (with or without BOM) or GBK/GB18030 — detected: a BOM means
  UTF-8, else strict UTF-8 is tried, else GB18030 (a superset of GBK/GB2312);
- comma-separated (tab-separated is recognised too), first line the header,
  in English or Chinese, any column order, unknown columns ignored;
- one row per customer; several phones / e-mails / faxes / products in one
  cell are separated by ``;`` (or the full-width ``；``); a product is
  ``MODEL:SERIAL`` or just ``SERIAL``.

A row with any problem is rejected as a whole (it changes nothing); each
problem is reported with its line number and column.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

from tousu_common.events.catalog import CustomerSegment, CustomerTier
from tousu_intake.domain.customers import (
    Contact,
    ContactKind,
    Product,
    normalise_contact,
    normalise_serial,
)

#: Canonical column → the header names accepted for it (compared case-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "customer_code", "external_code", "客户编码", "客户代码", "客户编号"),
    "name": ("name", "customer_name", "客户名称", "名称", "客户"),
    "segment": ("segment", "客户类型", "客户类别", "类型"),
    "tier": ("tier", "客户等级", "等级", "级别"),
    "phones": ("phones", "phone", "telephone", "电话", "联系电话", "手机"),
    "emails": ("emails", "email", "e-mail", "邮箱", "电子邮箱", "电子邮件"),
    "faxes": ("faxes", "fax", "传真"),
    "products": ("products", "serials", "serial_numbers", "产品", "产品序列号", "序列号"),
    "language": ("language", "lang", "语言"),
}
REQUIRED = ("code", "name")

SEGMENTS = {
    "oem": CustomerSegment.oem,
    "主机厂": CustomerSegment.oem,
    "直接客户": CustomerSegment.oem,
    "dealer": CustomerSegment.dealer,
    "经销商": CustomerSegment.dealer,
    "中间客户": CustomerSegment.dealer,
    "end_customer": CustomerSegment.end_customer,
    "end customer": CustomerSegment.end_customer,
    "终端客户": CustomerSegment.end_customer,
    "最终客户": CustomerSegment.end_customer,
    "终端用户": CustomerSegment.end_customer,
}
TIERS = {
    "strategic": CustomerTier.strategic,
    "战略": CustomerTier.strategic,
    "战略客户": CustomerTier.strategic,
    "key": CustomerTier.key,
    "重要": CustomerTier.key,
    "重要客户": CustomerTier.key,
    "重点客户": CustomerTier.key,
    "general": CustomerTier.general,
    "一般": CustomerTier.general,
    "一般客户": CustomerTier.general,
    "普通": CustomerTier.general,
}
LANGUAGES = {"zh": "zh", "中文": "zh", "chinese": "zh", "en": "en", "英文": "en", "english": "en"}

_SEPARATORS = re.compile(r"[;；]")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, header)."""


@dataclass(frozen=True)
class Problem:
    row: int
    field: str
    problem: str


@dataclass
class ImportedRow:
    row: int
    code: str
    name: str
    segment: CustomerSegment | None
    tier: CustomerTier
    language: str
    contacts: list[Contact]
    products: list[Product]


@dataclass
class ParsedFile:
    encoding: str
    rows: list[ImportedRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ImportFileError("the file starts with a UTF-8 BOM but is not UTF-8") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ImportFileError("the file is neither UTF-8 nor GBK/GB18030 text") from exc


def _split(cell: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(cell) if part.strip()]


def parse(data: bytes, *, default_country_code: str = "86", max_rows: int = 50_000) -> ParsedFile:
    text, encoding = decode(data)
    if "\x00" in text:
        raise ImportFileError("the file contains NUL bytes: not a CSV text file")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise ImportFileError("the file is empty") from exc
    except csv.Error as exc:
        raise ImportFileError(f"the header line is not valid CSV: {exc}") from exc
    aliases = {alias.casefold(): name for name, names in COLUMNS.items() for alias in names}
    positions: dict[str, int] = {}
    parsed = ParsedFile(encoding=encoding)
    for index, title in enumerate(header):
        canonical = aliases.get(title.strip().casefold())
        if canonical is None or canonical in positions:
            if title.strip():
                parsed.ignored_columns.append(title.strip())
            continue
        positions[canonical] = index
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        raise ImportFileError(
            "the header lacks the column(s) "
            + ", ".join(f"{name} ({' / '.join(COLUMNS[name])})" for name in missing)
        )
    seen_codes: dict[str, int] = {}
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.problems.append(Problem(reader.line_num, "row", f"not valid CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in cells):
            continue
        count += 1
        if count > max_rows:
            raise ImportFileError(f"more than {max_rows} rows: split the file")
        line = reader.line_num

        def cell(name: str, cells: list[str] = cells) -> str:
            index = positions.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        row, problems = _row(line, cell, default_country_code)
        if row is not None and row.code in seen_codes:
            problems.append(
                Problem(line, "code", f"the same code is on line {seen_codes[row.code]} too")
            )
        if problems:
            parsed.problems.extend(problems)
        elif row is not None:
            seen_codes[row.code] = line
            parsed.rows.append(row)
    return parsed


def _row(line: int, cell, default_country_code: str) -> tuple[ImportedRow | None, list[Problem]]:  # type: ignore[no-untyped-def]
    problems: list[Problem] = []
    code, name = cell("code"), cell("name")
    if not code:
        problems.append(Problem(line, "code", "missing"))
    elif len(code) > 64:
        problems.append(Problem(line, "code", "longer than 64 characters"))
    if not name:
        problems.append(Problem(line, "name", "missing"))
    elif len(name) > 200:
        problems.append(Problem(line, "name", "longer than 200 characters"))
    segment = None
    if cell("segment"):
        segment = SEGMENTS.get(cell("segment").casefold())
        if segment is None:
            problems.append(
                Problem(line, "segment", "must be oem/dealer/end_customer (主机厂/经销商/终端客户)")
            )
    tier = CustomerTier.general
    if cell("tier"):
        found_tier = TIERS.get(cell("tier").casefold())
        if found_tier is None:
            problems.append(Problem(line, "tier", "must be strategic/key/general (战略/重要/一般)"))
        else:
            tier = found_tier
    language = "zh"
    if cell("language"):
        found_language = LANGUAGES.get(cell("language").casefold())
        if found_language is None:
            problems.append(Problem(line, "language", "must be zh or en"))
        else:
            language = found_language
    contacts: list[Contact] = []
    for column, kind in (
        ("phones", ContactKind.phone),
        ("emails", ContactKind.email),
        ("faxes", ContactKind.fax),
    ):
        for raw in _split(cell(column)):
            try:
                contacts.append(
                    Contact(kind, normalise_contact(kind, raw, default_country_code), raw)
                )
            except ValueError as exc:
                problems.append(Problem(line, column, f"{raw!r}: {exc}"))
    products: list[Product] = []
    for raw in _split(cell("products")):
        model, _, serial = raw.replace("：", ":").rpartition(":")
        serial = normalise_serial(serial)
        if not serial or len(serial) > 100 or len(model) > 100:
            problems.append(Problem(line, "products", f"{raw!r}: expected MODEL:SERIAL or SERIAL"))
            continue
        products.append(Product(serial, model.strip() or None))
    if problems:
        return None, problems
    return (
        ImportedRow(line, code, name, segment, tier, language, contacts, products),
        problems,
    )

"""Contact normalisation and the CSV format, without any I/O."""

from __future__ import annotations

import pytest

from tousu_common.events.catalog import CustomerSegment, CustomerTier
from tousu_intake.domain.customer_import import ImportFileError, decode, parse
from tousu_intake.domain.customers import ContactKind, normalise_email, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "8613800138000"),
        ("+86 138-0013-8000", "8613800138000"),
        ("0086 138 0013 8000", "8613800138000"),
        ("8613800138000", "8613800138000"),
        ("010-8888 6666", "861088886666"),
        ("(0536) 229.7001", "865362297001"),
        ("+49 30 1234567", "49301234567"),
    ],
)
def test_phone_numbers_become_digits_with_country_code(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "call me", "12", "+1 234 567 890 123 456 7", "138@00"])
def test_implausible_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_phone(raw)


def test_emails_compare_lower_case() -> None:
    assert normalise_email("  Wang.Li@Example.COM ") == "wang.li@example.com"
    with pytest.raises(ValueError):
        normalise_email("wang at example")


def test_encoding_is_detected() -> None:
    text = "客户编码,客户名称\n"
    assert decode(b"\xef\xbb\xbf" + text.encode()) == (text, "utf-8-sig")
    assert decode(text.encode()) == (text, "utf-8")
    assert decode(text.encode("gbk")) == (text, "gb18030")
    assert decode("𠀀,丂\n".encode("gb18030")) == ("𠀀,丂\n", "gb18030")


def test_tab_separated_export_with_full_width_separators_and_extra_columns() -> None:
    data = (
        "客户编码\t客户名称\t客户等级\t客户类型\t手机\t传真\t产品\t备注\n"
        "A1\t徐工\t重点客户\t最终客户\t13800000001；13800000002\t0516-1234567\tXG:S1；S2\t老客户\n"
    ).encode("gb18030")
    parsed = parse(data)
    assert parsed.problems == [] and parsed.ignored_columns == ["备注"]
    [row] = parsed.rows
    assert (row.code, row.name, row.tier, row.segment) == (
        "A1",
        "徐工",
        CustomerTier.key,
        CustomerSegment.end_customer,
    )
    assert [(c.kind, c.value) for c in row.contacts] == [
        (ContactKind.phone, "8613800000001"),
        (ContactKind.phone, "8613800000002"),
        (ContactKind.fax, "865161234567"),
    ]
    assert [(p.model, p.serial_number) for p in row.products] == [("XG", "S1"), (None, "S2")]


def test_quoted_cells_and_blank_lines() -> None:
    data = b'code,name,phones\n"Q1","Acme, Inc.","13800000001; 13800000002"\n\n,,\n'
    parsed = parse(data)
    [row] = parsed.rows
    assert row.name == "Acme, Inc." and len(row.contacts) == 2


def test_file_level_problems() -> None:
    with pytest.raises(ImportFileError, match="code"):
        parse(b"name\nA\n")
    with pytest.raises(ImportFileError, match="empty"):
        parse(b"")
    with pytest.raises(ImportFileError, match="rows"):
        parse(b"code,name\n" + b"c,n\n" * 3, max_rows=2)

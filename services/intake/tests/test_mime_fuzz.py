"""More malformed mail for the MIME parser (test_mime.py has arbitrary bytes and
broken structures): real multiparts cut anywhere or corrupted, huge and
numerous headers, bad charsets in encoded words. ``parse_mail`` raises only
``MailParseError``, and what it returns stays bounded."""

from __future__ import annotations

import base64
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tousu_intake.domain.mime import (
    MAX_PARTS,
    MAX_TEXT_CHARS,
    MailParseError,
    ParsedMail,
    decode_bytes,
    decode_header_value,
    parse_mail,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_PDF = base64.encodebytes(b"%PDF-1.4\n" + bytes(range(256)) * 4).decode()
REAL = (
    "From: =?gb2312?B?zfW9qLn6?= <wang@example.cn>\r\n"
    "To: complaints@tousu.example\r\n"
    "Subject: =?utf-8?B?5oqV6K+J77ya5Y+R5Yqo5py65ryP5rK5?=\r\n"
    "Message-ID: <abc.123@example.cn>\r\n"
    "Date: Mon, 23 Nov 2026 09:00:00 +0800\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    "--outer\r\n"
    'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    "--inner\r\n"
    "Content-Type: text/plain; charset=gbk\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode("发动机漏油，车辆已停机。".encode("gbk")).decode()
    + "\r\n--inner\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "<p>=E5=8F=91=E5=8A=A8=E6=9C=BA</p><script>x()</script>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    'Content-Type: application/pdf; name="report.pdf"\r\n'
    'Content-Disposition: attachment; filename="report.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n" + _PDF + "--outer--\r\n"
).encode()


def parse_bounded(raw: bytes) -> ParsedMail | None:
    started = time.monotonic()
    try:
        mail = parse_mail(raw)
    except MailParseError:
        return None
    assert time.monotonic() - started < 30
    assert len(mail.text) <= MAX_TEXT_CHARS
    assert len(mail.subject) <= 998
    assert len(mail.attachments) <= MAX_PARTS
    # Decoding never makes files out of nothing: base64 shrinks, the rest is copied.
    assert sum(len(a.data) for a in mail.attachments) <= len(raw)
    return mail


def test_the_real_mail_parses() -> None:
    mail = parse_bounded(REAL)
    assert mail is not None and "发动机漏油" in mail.text
    assert [a.filename for a in mail.attachments] == ["report.pdf"]


@FUZZ
@given(
    cut=st.integers(min_value=1, max_value=len(REAL)),
    edits=st.lists(
        st.tuples(st.integers(0, len(REAL) - 1), st.sampled_from(b'\x00\r\n-=?"\xff\x80;:')),
        max_size=6,
    ),
)
def test_a_real_multipart_cut_anywhere_or_corrupted_parses_or_is_a_parse_error(
    cut: int, edits: list[tuple[int, int]]
) -> None:
    raw = bytearray(REAL[:cut])
    for position, value in edits:
        if position < len(raw):
            raw[position] = value
    parse_bounded(bytes(raw))


@settings(FUZZ, max_examples=30)
@given(
    length=st.integers(min_value=1_000, max_value=400_000),
    count=st.integers(min_value=1, max_value=3_000),
    folded=st.booleans(),
    name=st.sampled_from(["Subject", "From", "To", "References", "X-Junk", "Content-Type"]),
)
def test_huge_and_numerous_headers_parse_or_are_a_parse_error_with_bounded_results(
    length: int, count: int, folded: bool, name: str
) -> None:
    value = ("=?utf-8?B?5ryP5rK5?= " * (length // 21 + 1))[:length]
    if folded:
        value = "\r\n ".join(value[i : i + 70] for i in range(0, len(value), 70))
    extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(count))
    raw = f"From: a@example.com\r\n{name}: {value}\r\n{extra}\r\nbody\r\n".encode()
    parse_bounded(raw)


LABELS = st.text(max_size=20) | st.sampled_from(
    ["gb2312", "GBK", "gb18030", "big5", "utf-7", "utf-16", "x-unknown", "iso-2022-jp", "cp936"]
)


@FUZZ
@given(
    label=LABELS,
    encoding=st.sampled_from(["B", "Q", "b", "q", "X", ""]),
    payload=st.text(max_size=60),
    data=st.binary(max_size=200),
)
def test_encoded_words_and_bodies_in_any_charset_decode_to_text(
    label: str, encoding: str, payload: str, data: bytes
) -> None:
    assert isinstance(decode_header_value(f"=?{label}?{encoding}?{payload}?= tail"), str)
    assert isinstance(decode_bytes(data, label), str)
    mail = parse_bounded(
        b"From: a@example.com\r\nSubject: =?"
        + label.encode("utf-8", "replace")
        + b"?B?"
        + base64.b64encode(data)
        + b'?=\r\nContent-Type: text/plain; charset="'
        + label.encode("utf-8", "replace")
        + b'"\r\n\r\n'
        + data
    )
    assert mail is None or isinstance(mail.text, str)


def test_a_charset_label_with_a_nul_falls_back_instead_of_refusing_the_mail() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: =?gb\x00k?B?"
        + base64.b64encode("漏油".encode("gbk"))
        + b'?=\r\nContent-Type: text/plain; charset="utf\x008"\r\n\r\n'
        + "发动机漏油".encode()
    )
    mail = parse_bounded(raw)
    assert mail is not None and mail.text.strip() == "发动机漏油"


def test_a_charset_naming_a_codec_that_cannot_decode_falls_back_to_readable_text() -> None:
    for label in ("undefined", "rot13", "base64", "zlib"):
        raw = (
            b"From: a@example.com\r\nSubject: =?"
            + label.encode()
            + b"?B?"
            + base64.b64encode("漏油".encode())
            + b"?=\r\nContent-Type: text/plain; charset="
            + label.encode()
            + b"\r\n\r\n"
            + "发动机漏油".encode()
        )
        mail = parse_bounded(raw)
        assert mail is not None and mail.text.strip() == "发动机漏油", label
        assert mail.subject == "漏油", label


@FUZZ
@given(
    params=st.binary(max_size=300),
    tnef_tail=st.binary(max_size=600),
    no_boundary=st.booleans(),
)
def test_arbitrary_parameters_tnef_blobs_and_lost_boundaries_never_raise(
    params: bytes, tnef_tail: bytes, no_boundary: bool
) -> None:
    """The new paths: raw Content-Disposition parameters (RFC 2231 read by hand),
    TNEF blobs (tnefparse on hostile bytes), boundaries guessed from the body."""
    blob = b"\x78\x9f\x3e\x22\x01\x00" + tnef_tail
    content_type = b"multipart/mixed" if no_boundary else b'multipart/mixed; boundary="b"'
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: " + content_type + b"\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        + params.replace(b"\r", b" ").replace(b"\n", b" ")
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"%PDF-1.4\n")
        + b"--b\r\nContent-Type: application/ms-tnef\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(blob)
        + b"--b--\r\n"
    )
    mail = parse_bounded(raw)
    assert mail is not None
    assert all(a.data for a in mail.attachments)

"""The MIME parser on the mail Chinese customers really send (no I/O)."""

from __future__ import annotations

import base64
import quopri

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tousu_intake.domain.mime import (
    MAX_PARTS,
    MailParseError,
    codec_for,
    decode_bytes,
    decode_header_value,
    html_to_text,
    parse_mail,
)

from .tnef import TnefFile, tnef_blob

# 𠮷 (U+20BB7) exists only in GB18030 (four bytes); 镕 is GBK, not GB2312.
GB18030_ONLY = "𠮷"
BODY_ZH = f"发动机漏油，车辆已停机。联系人：{GB18030_ONLY}先生，零件：镕铸件。"


def b64_word(text: str, charset: str, codec: str | None = None) -> str:
    data = text.encode(codec or charset)
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")  # 8bit parts are UTF-8 here


def test_gbk_mail_labelled_gb2312_keeps_gb18030_only_characters_in_subject_and_body() -> None:
    subject = b64_word(f"投诉：{GB18030_ONLY}的发动机漏油", "gb2312", "gb18030")
    body = base64.b64encode(BODY_ZH.encode("gb18030")).decode()
    pdf = base64.b64encode(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n").decode()
    raw = crlf(
        f"""From: {b64_word("王建国", "gb2312")} <wang@example.cn>
To: complaints@tousu.example
Subject: {subject}
Message-ID: <abc.123@example.cn>
Date: Mon, 23 Nov 2026 09:00:00 +0800
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset="gb2312"
Content-Transfer-Encoding: base64

{body}
--b1
Content-Type: application/pdf; name="{b64_word("质量报告.pdf", "gbk")}"
Content-Disposition: attachment; filename="{b64_word("质量报告.pdf", "gbk")}"
Content-Transfer-Encoding: base64

{pdf}
--b1--
"""
    )
    mail = parse_mail(raw)
    assert mail.subject == f"投诉：{GB18030_ONLY}的发动机漏油"
    assert mail.text == BODY_ZH
    assert mail.from_name == "王建国" and mail.from_address == "wang@example.cn"
    assert mail.message_id == "<abc.123@example.cn>"
    [attachment] = mail.attachments
    assert attachment.filename == "质量报告.pdf"
    assert attachment.data.startswith(b"%PDF-1.4")
    assert mail.date is not None and mail.date.utcoffset() is not None


def test_a_character_split_across_two_encoded_words_survives() -> None:
    data = "漏油严重".encode("gbk")
    first, second = data[:3], data[3:]  # cuts the second character in half
    header = (
        f"=?gbk?B?{base64.b64encode(first).decode()}?=\r\n "
        f"=?gbk?B?{base64.b64encode(second).decode()}?="
    )
    assert decode_header_value(header) == "漏油严重"


def test_big5_body_and_q_encoded_big5_subject() -> None:
    subject_bytes = "引擎漏油".encode("big5")
    q = "".join(f"={byte:02X}" for byte in subject_bytes)
    raw = crlf(
        f"""From: chen@example.tw
Subject: =?big5?Q?{q}?=
Content-Type: text/plain; charset=big5
Content-Transfer-Encoding: base64

{base64.b64encode("貨車在高速公路上引擎漏油，請儘快處理。".encode("big5")).decode()}
"""
    )
    mail = parse_mail(raw)
    assert mail.subject == "引擎漏油"
    assert mail.text == "貨車在高速公路上引擎漏油，請儘快處理。"


def test_html_only_mail_becomes_readable_text() -> None:
    html = (
        "<html><head><title>x</title><style>p{color:red}</style></head><body>"
        "<p>您好，</p><p>发动机&nbsp;漏油&amp;冒烟<br>请尽快处理。</p>"
        "<script>alert(1)</script><ul><li>型号 YC6L</li><li>序列号 SN-1</li></ul>"
        "</body></html>"
    )
    raw = crlf(
        f"""From: li@example.com
Subject: html
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{quopri.encodestring(html.encode()).decode()}
"""
    )
    text = parse_mail(raw).text
    assert "发动机 漏油&冒烟\n请尽快处理。" in text
    assert "- 型号 YC6L" in text and "- 序列号 SN-1" in text
    assert "alert" not in text and "color" not in text and "<" not in text


def test_nested_multipart_prefers_plain_text_and_collects_every_file() -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20).decode()
    raw = crlf(
        f"""From: a@example.com
Subject: nested
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

纯文本版本
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>HTML 版本</p>
--rel
Content-Type: image/png
Content-ID: <logo>

{png}
--rel--
--alt--
--outer
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename*=utf-8''%E6%97%A5%E5%BF%97.txt

log line
--outer--
"""
    )
    mail = parse_mail(raw)
    assert mail.text == "纯文本版本"
    assert [a.filename for a in mail.attachments] == ["日志.txt"]
    assert mail.attachments[0].data.strip() == b"log line"


def test_html_alternative_is_used_when_the_plain_part_is_empty() -> None:
    raw = crlf(
        """From: a@example.com
Subject: x
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8


--alt
Content-Type: text/html; charset=utf-8

<div>只有 HTML</div>
--alt--
"""
    )
    assert parse_mail(raw).text == "只有 HTML"


@pytest.mark.parametrize(
    ("label", "data", "expected"),
    [
        ("x-unknown-charset", "漏油".encode(), "漏油"),  # unknown label: UTF-8 fits
        ("utf-8", "漏油".encode("gbk"), "漏油"),  # lying label: GB18030 fits
        ("us-ascii", "漏油".encode(), "漏油"),  # ASCII label on UTF-8 bytes
        ("gb2312", GB18030_ONLY.encode("gb18030"), GB18030_ONLY),
        (None, "漏油".encode("gbk"), "漏油"),  # no label: UTF-8, then GB18030
    ],
)
def test_broken_or_missing_charset_labels_fall_back_sensibly(
    label: str | None, data: bytes, expected: str
) -> None:
    assert decode_bytes(data, label) == expected


def test_charset_aliases() -> None:
    assert codec_for("GB2312") == codec_for("gbk") == codec_for("cp936") == "gb18030"
    assert codec_for("big5") == "big5hkscs"
    assert codec_for("no-such-charset") is None


def test_raw_8bit_utf8_headers_and_threading_headers() -> None:
    raw = (
        "From: 张三 <zhang@example.com>\r\n"
        "Subject: 回复：TS-2026-000123 漏油\r\n"
        "Message-ID: <reply-1@example.com>\r\n"
        "In-Reply-To: <TS-2026-000123.5f2c@tousu.example>\r\n"
        "References: <orig@example.com>\r\n <TS-2026-000123.5f2c@tousu.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n已收到\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.subject == "回复：TS-2026-000123 漏油"
    assert mail.from_name == "张三"
    assert mail.in_reply_to == ("<TS-2026-000123.5f2c@tousu.example>",)
    assert mail.references == ("<orig@example.com>", "<TS-2026-000123.5f2c@tousu.example>")


def test_html_to_text_copes_with_broken_markup() -> None:
    assert html_to_text("<p>未闭合<div>标签<b>粗体") == "未闭合\n标签粗体"
    assert html_to_text("<<<>>>&#xZZ;") is not None


def test_empty_input_and_too_many_parts_are_parse_errors() -> None:
    with pytest.raises(MailParseError):
        parse_mail(b"")
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(MAX_PARTS + 5)
    )
    raw = (
        "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + parts
        + "--b--\r\n"
    ).encode()
    with pytest.raises(MailParseError, match="parts"):
        parse_mail(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise_anything_but_a_parse_error(raw: bytes) -> None:
    try:
        parse_mail(raw)
    except MailParseError:
        pass


_CHARSETS = st.sampled_from(
    ["utf-8", "gb2312", "gbk", "gb18030", "big5", "iso-8859-1", "bogus", "utf-16", ""]
)
_ENCODINGS = st.sampled_from(["base64", "quoted-printable", "8bit", "7bit", "x-bogus", ""])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.text(max_size=80),
    charset=_CHARSETS,
    encoding=_ENCODINGS,
    body=st.binary(max_size=500),
    nested=st.integers(min_value=0, max_value=4),
    boundary_broken=st.booleans(),
)
def test_malformed_mail_structures_never_raise_anything_but_a_parse_error(
    subject: str, charset: str, encoding: str, body: bytes, nested: int, boundary_broken: bool
) -> None:
    head = (
        f"From: =?{charset}?B?{base64.b64encode(subject.encode('utf-8', 'replace')).decode()}?="
        f" <x@example.com>\r\nSubject: =?{charset}?Q?{subject[:20]}?=\r\n"
    ).encode("utf-8", "surrogatepass")
    part = (
        f"Content-Type: text/plain; charset={charset}\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode() + body
    for level in range(nested):
        boundary = f"b{level}"
        closing = b"" if boundary_broken else f"\r\n--{boundary}--\r\n".encode()
        part = (
            f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n--{boundary}\r\n".encode()
            + part
            + closing
        )
    try:
        mail = parse_mail(head + part)
    except MailParseError:
        return
    assert isinstance(mail.text, str) and isinstance(mail.subject, str)


# --- the classes the real-world corpus found broken (issue 13 §3) -------------------


def multipart(*parts: bytes, headers: bytes = b"From: a@example.com\r\nSubject: x\r\n") -> bytes:
    body = b"".join(b"--b\r\n" + part + b"\r\n" for part in parts)
    return (
        headers
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + body
        + b"--b--\r\n"
    )


PDF = b"%PDF-1.4\n%%EOF\n"
PDF_B64 = base64.b64encode(PDF)
TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee attachment"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        # quoted extended value, as Lotus Notes / Domino and some Java mailers send it
        (b"attachment; filename*=\"ISO-8859-1''Pr%FCfbericht_M%E4rz.pdf\"", "Prüfbericht_März.pdf"),
        # a plain name with '?' for what it could not encode, then the real one: RFC 6266
        (
            b'attachment; filename="Pr?fbericht.pdf"; filename*="ISO-8859-1\'\'Pr%FCfbericht.pdf"',
            "Prüfbericht.pdf",
        ),
        # quoted continuations
        (
            b"attachment; filename*0*=\"UTF-8''%E6%A3%80%E6%B5%8B\";"
            b' filename*1*="%E6%8A%A5%E5%91%8A.pdf"',
            "检测报告.pdf",
        ),
        # a charset Python does not know: the bytes are detected (GBK here)
        (b"attachment; filename*=\"x-gbk-zh''%BC%EC%B2%E2%B1%A8%B8%E6.pdf\"", "检测报告.pdf"),
        # labelled us-ascii, but 8-bit: no replacement characters
        (b"attachment; filename*=us-ascii''%E6%A3%80%E6%B5%8B.pdf", "检测.pdf"),
    ],
)
def test_rfc2231_file_names_quoted_continued_or_mislabelled_are_read(
    disposition: bytes, expected: str
) -> None:
    raw = multipart(
        TEXT_PART,
        b"Content-Type: application/pdf\r\nContent-Disposition: "
        + disposition
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + PDF_B64,
    )
    [attachment] = parse_mail(raw).attachments
    assert (attachment.filename, attachment.data) == (expected, PDF)


@pytest.mark.parametrize(
    ("codec", "name", "subject", "filename"),
    [
        ("gbk", "王建国", "发动机漏油，要求更换", "检测报告.pdf"),
        ("big5", "陳志明", "貨車引擎漏油問題", "檢測報告.pdf"),
        ("utf-8", "赵磊", "变速箱换挡冲击", "照片.pdf"),
        ("latin-1", "Jürgen Müller", "Beschädigte Lieferung", "Prüfbericht.pdf"),
    ],
)
def test_raw_8bit_headers_and_file_names_without_any_charset_are_detected(
    codec: str, name: str, subject: str, filename: str
) -> None:
    headers = (
        b"From: "
        + name.encode(codec)
        + b" <c@example.com>\r\nSubject: "
        + subject.encode(codec)
        + b"\r\n"
    )
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nsee attachment",
        b'Content-Type: application/pdf; name="'
        + filename.encode(codec)
        + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + PDF_B64,
        headers=headers,
    )
    mail = parse_mail(raw)
    assert (mail.from_name, mail.subject) == (name, subject)
    assert [a.filename for a in mail.attachments] == [filename]


def test_raw_headers_are_read_in_the_charset_the_mail_declares_for_its_text() -> None:
    """'漏油' alone is valid GBK and valid Big5; the text's declared charset decides."""
    for codec, label in (("gbk", "gb2312"), ("big5", "big5")):
        raw = (
            b"From: c@example.com\r\nSubject: "
            + "漏油".encode(codec)
            + b"\r\nContent-Type: text/plain; charset="
            + label.encode()
            + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode("漏油".encode(codec))
            + b"\r\n"
        )
        assert parse_mail(raw).subject == "漏油"


@pytest.mark.parametrize(
    ("label", "text", "codec"),
    [
        ("us-ascii", "貨車在高速公路上引擎漏油，請儘快處理。", "big5"),
        ("x-gbk-zh", "配件到货型号错误，要求退换并承担运费。", "gbk"),
        ("iso-8859-1", "发动机漏油，车辆已经停机三天了。", "gbk"),  # a Western label on GBK
        ("iso-8859-1", "Die Lieferung kam beschädigt an, Grüße", "latin-1"),  # and on Latin-1
        ("unicode-2-0-utf-7", "空调压缩机异响", "utf-7"),
        # a Chinese label on the other Chinese charset, or on UTF-8 (PHP mailers)
        ("gb2312", "你們的維修中心把我的發動機拆開後就不管了，已經等了三個星期。", "big5"),
        ("big5", "我公司于2027年1月购买的发动机运行300小时后出现漏油。", "gbk"),
        ("gb2312", "刹车异响，4S店说正常。", "utf-8"),
    ],
)
def test_parts_with_a_wrong_or_unknown_charset_label_are_read(
    label: str, text: str, codec: str
) -> None:
    raw = (
        f"From: c@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset={label}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + text.encode(codec)
    assert parse_mail(raw).text == text


@pytest.mark.parametrize(
    "label", ["utf-7", "UTF7", "unicode-1-1-utf-7", "x-unicode-2-0-utf-7", "unicode-2-0-utf-7"]
)
def test_utf7_encoded_words_under_every_name_mailers_give_it(label: str) -> None:
    word = "".join(
        ch if ch.isalnum() or ch in "+-/" else f"={ord(ch):02X}"
        for ch in "何先生：空调异响".encode("utf-7").decode()
    )
    assert decode_header_value(f"=?{label}?Q?{word}?=") == "何先生：空调异响"


def test_a_multipart_without_a_boundary_parameter_keeps_its_body_and_files() -> None:
    raw = (
        b"From: service@dealer.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n"
        b"------=_Part_42\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        + "刹车有金属摩擦异响".encode()
        + b"\r\n------=_Part_42\r\nContent-Type: application/pdf; name=record.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + PDF_B64 + b"\r\n------=_Part_42--\r\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "刹车有金属摩擦异响"
    assert [(a.filename, a.data) for a in mail.attachments] == [("record.pdf", PDF)]


def test_a_multipart_with_a_boundary_its_body_never_uses_keeps_the_body_as_text() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: x\r\n"
        b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\n'
        + "只有正文，没有分隔线。".encode()
        + b"\r\n"
    )
    assert parse_mail(raw).text == "只有正文，没有分隔线。"


def test_a_truncated_attachment_in_a_malformed_part_is_kept_with_what_arrived() -> None:
    data = bytes(range(256)) * 8
    encoded = base64.b64encode(data)[:-7]  # cut mid-quantum: length % 4 == 1
    assert len(encoded) % 4 == 1
    lines = b"\r\n".join(encoded[i : i + 72] + b" \t" for i in range(0, len(encoded), 72))
    raw = (
        b"From: a@example.com\r\nSubject: x\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: application/zip; name="photos.zip"\r\n'
        b"Content-Transfer-Encoding: Base-64\r\n\r\n" + lines + b"\r\n"  # no closing boundary
    )
    [attachment] = parse_mail(raw).attachments
    assert attachment.filename == "photos.zip"
    assert attachment.data == base64.b64decode(encoded[:-1])


def test_the_files_inside_a_winmail_dat_become_attachments() -> None:
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 32
    blob = tnef_blob(
        [
            TnefFile(PDF, "QUALIT~1.PDF", "质量问题说明-2027年2月.pdf"),
            TnefFile(photo, "漏油照片.jpg"),  # only the 8-bit title, in code page 936
        ],
        body="您好，附件是说明和照片。",
    )
    raw = multipart(
        b"Content-Type: application/ms-tnef; name=winmail.dat\r\n"
        b"Content-Disposition: attachment; filename=winmail.dat\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(blob)
    )
    mail = parse_mail(raw)
    assert [(a.filename, a.data) for a in mail.attachments] == [
        ("质量问题说明-2027年2月.pdf", PDF),
        ("漏油照片.jpg", photo),
    ]
    assert mail.text == "您好，附件是说明和照片。"  # the TNEF body, as the mail had no text


def test_a_winmail_dat_that_cannot_be_read_is_kept_as_it_is() -> None:
    broken = b"\x78\x9f\x3e\x22\x01\x00" + b"\x01\x06\x90\x08\x00\xff\xff\xff\x7f"
    raw = multipart(
        TEXT_PART,
        b"Content-Type: application/ms-tnef\r\nContent-Disposition: attachment; "
        b"filename=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(broken),
    )
    [attachment] = parse_mail(raw).attachments
    assert (attachment.filename, attachment.data) == ("winmail.dat", broken)


def test_raw_utf8_headers_win_over_a_gbk_text_label() -> None:
    """SMTPUTF8 headers on a GBK body: GB18030 reads these UTF-8 bytes without an
    error — as 鐜嬬帇 and 鍒硅溅寮傚搷."""
    raw = (
        "From: 王王 <x@example.cn>\r\nSubject: 刹车异响\r\n".encode()
        + b"Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("换挡冲击".encode("gbk"))
        + b"\r\n"
    )
    mail = parse_mail(raw)
    assert (mail.from_name, mail.subject, mail.text) == ("王王", "刹车异响", "换挡冲击")

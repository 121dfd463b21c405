"""Every message of the corpus (``mail_corpus/``: mailers and servers of China and
elsewhere, auto-replies, a bounce, broken MIME) decodes to what its manifest says:
subject, sender, text, each attachment byte for byte — and nothing attached is lost
on the way to storage. No I/O beyond reading the files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tousu_intake.config import Settings
from tousu_intake.domain.files import IncomingFile
from tousu_intake.domain.mail_rules import OwnIdentity, ignore_reason
from tousu_intake.domain.mime import ParsedMail, parse_mail
from tousu_intake.handlers.channel_filing import acceptable_files

CORPUS = Path(__file__).parent / "mail_corpus"
MANIFEST: list[dict[str, Any]] = yaml.safe_load((CORPUS / "manifest.yaml").read_text("utf-8"))
OWN = OwnIdentity(frozenset({"complaints@tousu.example", "notify@tousu.example"}), "tousu.example")


def by_file(entry: dict[str, Any]) -> str:
    return entry["file"]


def decoded_text(mail: ParsedMail) -> list[str]:
    return [mail.subject, mail.from_name, mail.text, *(a.filename for a in mail.attachments)]


def test_the_corpus_covers_the_mailers_and_failure_classes_it_claims() -> None:
    files = {path.name for path in CORPUS.glob("*.eml")}
    assert files == {entry["file"] for entry in MANIFEST}
    assert len(files) >= 20
    assert {entry["ignored"] for entry in MANIFEST} == {None, "auto-reply", "bounce"}


@pytest.mark.parametrize("entry", MANIFEST, ids=by_file)
def test_message_decodes_to_its_manifest(entry: dict[str, Any]) -> None:
    mail = parse_mail((CORPUS / entry["file"]).read_bytes())
    assert mail.subject == entry["subject"]
    assert mail.from_address == entry["from_address"]
    assert mail.from_name == entry["from_name"]
    for fragment in entry["text_contains"]:
        assert fragment in mail.text, (fragment, mail.text)
    found = [
        {"filename": a.filename, "size": len(a.data), "sha256": hashlib.sha256(a.data).hexdigest()}
        for a in mail.attachments
    ]
    expected = [{k: a[k] for k in ("filename", "size", "sha256")} for a in entry["attachments"]]
    assert found == expected
    # Nothing was guessed into replacement characters.
    assert not any("\ufffd" in text for text in decoded_text(mail))


@pytest.mark.parametrize("entry", MANIFEST, ids=by_file)
def test_auto_replies_and_bounces_are_told_from_complaints(entry: dict[str, Any]) -> None:
    mail = parse_mail((CORPUS / entry["file"]).read_bytes())
    reason = ignore_reason(mail, entry["envelope_from"], OWN)
    if entry["ignored"] is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(entry["ignored"]), reason


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["attachments"]], ids=by_file)
def test_every_attachment_is_one_intake_keeps(entry: dict[str, Any], tmp_path: Path) -> None:
    settings = Settings(jwt_secret="x" * 40, database_url="sqlite+aiosqlite://", data_dir=tmp_path)
    mail = parse_mail((CORPUS / entry["file"]).read_bytes())
    files = [IncomingFile(a.filename, a.data, a.content_type) for a in mail.attachments]
    kept, refused = acceptable_files(settings, files)
    assert refused == []
    assert [f.filename for f in kept] == [a["filename"] for a in entry["attachments"] if a["kept"]]

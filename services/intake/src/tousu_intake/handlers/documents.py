"""Faxes and scanned letters: OCR first, then the ordinary receive path.

Nothing is stored until the document has been read: a broken file or a
decompression bomb is refused (4xx naming the field) before any row, file
or event exists. A poor read (see :func:`transcription_reasons`) files the
complaint anyway, with status ``needs_transcription``; an agent types the
text later.
"""

from __future__ import annotations

import dataclasses

from tousu_common.db import Database
from tousu_common.errors import InvalidInput
from tousu_common.events import Channel
from tousu_intake.adapters.ocr import OCR_TYPES, OcrResult, ocr_document
from tousu_intake.config import Settings
from tousu_intake.domain.commands import ReceiveFromChannel
from tousu_intake.domain.fax import letter_title
from tousu_intake.domain.files import IncomingFile, check_files
from tousu_intake.domain.model import first_line
from tousu_intake.handlers.receive import Idempotency, Receipt, receive

#: Titles of complaints whose text a person still has to type (no personal data).
AWAITING_TITLE = {
    Channel.fax: "传真投诉（待转录） / Fax complaint (awaiting transcription)",
    Channel.letter: "来信投诉（待转录） / Letter (awaiting transcription)",
    Channel.visit: "来访投诉（待转录） / Walk-in (awaiting transcription)",
}


async def read_scan(settings: Settings, document: IncomingFile) -> OcrResult:
    """OCR ``document`` after checking its size and sniffed type."""
    [content_type] = check_files(settings, [document])
    if content_type not in OCR_TYPES:
        raise InvalidInput(
            f"{document.field}: {content_type} is not a scan (send TIFF, PDF, PNG or JPEG)",
            fields=[{"field": document.field, "problem": f"unsupported type {content_type}"}],
        )
    return await ocr_document(document.data, content_type, settings, field=document.field)


def transcription_reasons(settings: Settings, result: OcrResult) -> list[str]:
    """Why a person must type this document; empty when the read can be filed.

    Calibrated on the fax corpus (``bench/bench_fax.py --calibrate``): a read goes
    to the transcription queue when more than ``ocr_max_doubtful_share`` of its
    characters come from words Tesseract is less than 60 % sure of, when a key
    field (part or serial number, phone, amount) does not have its shape, or when
    the mean confidence is below ``ocr_min_confidence``.
    """
    if result.quality is None:
        return ["nothing read"]
    reasons = result.quality.reasons(settings.ocr_max_doubtful_share)
    if result.quality.characters and result.confidence < settings.ocr_min_confidence:
        reasons.append(
            f"mean confidence {result.confidence:.0f} below {settings.ocr_min_confidence:.0f}"
        )
    return reasons


async def receive_document(
    db: Database,
    settings: Settings,
    command: ReceiveFromChannel,
    document: IncomingFile,
    *,
    received_by: str,
    idempotency: Idempotency | None = None,
) -> tuple[Receipt, OcrResult]:
    """OCR the scan, then file the complaint with the scan stored as its first attachment.

    Typed text in ``command.description`` (a letter an agent typed in) comes first;
    the OCR text follows it. The complaint needs transcription only when there is no
    typed text and the read fails :func:`transcription_reasons`. The fax machine's
    header line is kept on the attachment (``document_info``), never in the title.
    """
    result = await read_scan(settings, document)
    typed = command.description.strip()
    reasons = transcription_reasons(settings, result)
    needs_transcription = bool(reasons) and not typed
    description = "\n\n".join(part for part in (typed, result.text.strip()) if part)[:20_000]
    title = command.title
    if not title:
        title = (
            AWAITING_TITLE.get(command.channel, "待转录 / awaiting transcription")
            if needs_transcription
            else first_line(typed) or letter_title(result.text)
        )
    info = {**result.metadata(), "transcription_reasons": reasons}
    full = dataclasses.replace(
        command,
        title=title,
        description=description,
        files=(dataclasses.replace(document, document_info=info), *command.files),
        needs_transcription=needs_transcription,
        ocr_confidence=result.confidence,
    )
    receipt = await receive(db, settings, full, received_by=received_by, idempotency=idempotency)
    return receipt, result

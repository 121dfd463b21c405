"""Fax OCR: plain Tesseract on the file against intake's pipeline, on a generated corpus.

    python bench/bench_fax.py [--count 24] [--ablate] [--calibrate] [--write]

The corpus (``services/intake/tests/fax_corpus.py``, seeded, cached under
``$TMPDIR/tousu-fax-corpus``): Chinese+English complaint letters at fine
(204×196) and standard (204×98) resolution, G3 and G4 TIFF, multi-page, skewed
1–3°, specks, streaks, faded lines, lost scan lines, a handwriting-style font,
image-only PDFs and PDFs with a text layer, each page under a fax header line.

For every document:

- **plain**: ``pytesseract.image_to_string(page, lang="chi_sim+eng")`` on each
  page as decoded (TIFF frames as they are; PDF pages rendered at 200 dpi), no
  preprocessing;
- **pipeline**: ``tousu_intake.adapters.ocr.read_document`` as intake runs it;
- with ``--ablate``: the pipeline without each step in turn (aspect, despeckle,
  deskew, text layer, key fields read again), and with Otsu binarization (off by default: measured
  worse, since Tesseract's LSTM reads the grey edges of a corrected page).

Measured: character error rate (edit distance / characters printed, both
NFKC-normalised with whitespace removed; the fax header is not part of the
letter), recall of the key fields (part and serial number, phone, amount: the
value found verbatim in the read text), and CPU seconds per page (this
process plus the Tesseract processes it started). ``--calibrate`` prints each
read's doubtful-character share, key-field problems and CER, and the
threshold that separates reads at ≥ 20 % CER from reads at ≤ 10 %.

Bounded: one document at a time, ``OMP_THREAD_LIMIT=1``. Prints Markdown;
``--write`` appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/intake/tests"))

import fax_corpus  # noqa: E402
import pypdfium2 as pdfium  # noqa: E402
import pytesseract  # noqa: E402
from PIL import Image, ImageSequence  # noqa: E402

from tousu_intake.adapters.ocr import Preprocess, read_document  # noqa: E402
from tousu_intake.config import Settings  # noqa: E402
from tousu_intake.domain.fax import read_quality  # noqa: E402

VARIANTS: dict[str, Preprocess] = {
    "pipeline": Preprocess(),
    "no aspect": Preprocess(aspect=False),
    "no despeckle": Preprocess(despeckle=False),
    "no deskew": Preprocess(deskew=False),
    "with binarize": Preprocess(binarize=True),
    "no text layer": Preprocess(text_layer=False),
    "no reread": Preprocess(reread=False),
}


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain(fax: fax_corpus.Fax) -> tuple[str, int]:
    """What running Tesseract on the file gives: each page as decoded."""
    if fax.content_type == "application/pdf":
        document = pdfium.PdfDocument(fax.data)
        pages = [document[i].render(scale=200 / 72).to_pil() for i in range(len(document))]
        document.close()
    else:
        pages = [p.copy() for p in ImageSequence.Iterator(Image.open(io.BytesIO(fax.data)))]
    texts = [pytesseract.image_to_string(page, lang="chi_sim+eng") for page in pages]
    return "\n".join(texts), len(pages)


@dataclasses.dataclass
class Row:
    name: str
    variant: str
    pages: int
    cer: float
    found: int
    fields: int
    cpu: float
    doubtful: float = 0.0
    problems: int = 0
    routed: bool = False


def measure(fax: fax_corpus.Fax, variant: str, settings: Settings) -> Row:
    start = cpu()
    if variant == "plain":
        text, pages = plain(fax)
        spent = cpu() - start
        words = [(w, 0.0) for w in text.split()]
        quality = read_quality(words, text)
        routed = False
    else:
        result = read_document(
            fax.data, fax.content_type, settings, "document", steps=VARIANTS[variant]
        )
        spent = cpu() - start
        text, pages, quality = result.text, result.pages, result.quality
        assert quality is not None
        routed = bool(quality.reasons(settings.ocr_max_doubtful_share))
    found, total = fax_corpus.field_recall(fax.fields, text)
    return Row(
        fax.spec.name,
        variant,
        pages,
        fax_corpus.cer(fax.text, text),
        found,
        total,
        spent,
        quality.doubtful_share,
        len(quality.field_problems),
        routed,
    )


def summary(rows: list[Row], variant: str) -> dict[str, float]:
    mine = [r for r in rows if r.variant == variant]
    pages = sum(r.pages for r in mine)
    chars = [(r.cer, r.pages) for r in mine]
    return {
        "documents": len(mine),
        "pages": pages,
        "cer": sum(c * p for c, p in chars) / pages if pages else float("nan"),
        "recall": sum(r.found for r in mine) / max(1, sum(r.fields for r in mine)),
        "cpu": sum(r.cpu for r in mine) / pages if pages else float("nan"),
        "routed": sum(r.routed for r in mine),
    }


def calibrate(rows: list[Row]) -> list[str]:
    """Each read's doubtful share against its CER, and the cut that separates bad
    reads (CER ≥ 20 %) from good ones (CER ≤ 10 %)."""
    reads = [r for r in rows if r.variant != "plain"]
    out = [
        "| document | variant | CER | doubtful share | key-field problems |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(reads, key=lambda r: r.doubtful):
        out.append(f"| {r.name} | {r.variant} | {r.cer:.3f} | {r.doubtful:.3f} | {r.problems} |")
    bad = [r for r in reads if r.cer >= 0.20]
    good = [r for r in reads if r.cer <= 0.10]
    best = None
    for cut in sorted({round(r.doubtful, 3) for r in reads} | {0.0}):
        missed = sum(1 for r in bad if r.doubtful <= cut and r.problems == 0)
        held = sum(1 for r in good if r.doubtful > cut)
        if best is None or (missed, held) < best[1:]:
            best = (cut, missed, held)
    if best:
        out.append("")
        out.append(
            f"Best cut on the doubtful share: {best[0]:.3f} — bad reads (CER ≥ 20 %, "
            f"{len(bad)}) let through: {best[1]}; good reads (CER ≤ 10 %, {len(good)}) "
            f"held back: {best[2]}."
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=24, help="documents in the corpus")
    parser.add_argument("--ablate", action="store_true", help="also without each step")
    parser.add_argument("--calibrate", action="store_true", help="print the threshold table")
    parser.add_argument("--only", nargs="*", help="variants to run (plain, pipeline, …)")
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()

    secret = "bench-only-" + "0" * 32  # the bench mints no tokens
    settings = Settings(jwt_secret=secret)  # type: ignore[call-arg]
    cache = Path(tempfile.gettempdir()) / "tousu-fax-corpus"
    specs = [*fax_corpus.bench_corpus(args.count), fax_corpus.HOPELESS]
    variants = ["plain", "pipeline"]
    if args.ablate:
        variants += [v for v in VARIANTS if v != "pipeline"]
    if args.only:
        variants = [v for v in variants if v in args.only]
    started = time.time()
    rows: list[Row] = []
    for spec in specs:
        fax = fax_corpus.cached(spec, cache)
        for variant in variants:
            if variant == "no text layer" and spec.kind != "pdf-text":
                continue
            row = measure(fax, variant, settings)
            rows.append(row)
            print(
                f"{spec.name:24} {variant:14} CER {row.cer:.3f} fields {row.found}/{row.fields}"
                f" cpu {row.cpu:.2f}s doubtful {row.doubtful:.2f} routed {row.routed}",
                file=sys.stderr,
            )
    hopeless = [r for r in rows if r.name == fax_corpus.HOPELESS.name]
    rows = [r for r in rows if r.name != fax_corpus.HOPELESS.name]

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/bench_fax.py " + " ".join(sys.argv[1:])
    lines = [
        f"## {now} — fax OCR (issue 13 §2)",
        "",
        f"Command: `{command.strip()}` ({time.time() - started:.0f} s). "
        f"Corpus: {len(specs) - 1} generated faxes, "
        f"{summary(rows, variants[0])['pages']} pages; Tesseract "
        f"{pytesseract.get_tesseract_version()}, `chi_sim+eng`, OMP_THREAD_LIMIT=1.",
        "",
        "| reader | pages | CER | key-field recall | CPU s/page | routed to transcription |",
        "|---|---|---|---|---|---|",
    ]
    base = summary(rows, "plain") if "plain" in variants else None
    for variant in variants:
        s = summary(rows, variant)
        lines.append(
            f"| {variant} | {s['pages']} | {s['cer']:.3f} | {s['recall']:.1%} | "
            f"{s['cpu']:.2f} | {s['routed']} |"
        )
    if base and "pipeline" in variants:
        s = summary(rows, "pipeline")
        lines += [
            "",
            f"Pipeline / plain: CER {s['cer'] / base['cer']:.2f}× (goal ≤ 0.5×), "
            f"key-field recall {s['recall']:.1%} (goal ≥ 95 %), "
            f"CPU per page {s['cpu'] / base['cpu']:.2f}× (goal ≤ 1.5×).",
        ]
    by_kind: dict[str, list[str]] = {}
    for spec in specs[:-1]:
        by_kind.setdefault(
            f"{spec.kind} {spec.resolution}{' handwriting' if spec.handwriting else ''}", []
        ).append(spec.name)
    if base and "pipeline" in variants:
        lines += ["", "| kind | documents | plain CER | pipeline CER |", "|---|---|---|---|"]
        for kind, names in sorted(by_kind.items()):

            def cer_of(variant: str, names: list[str] = names) -> float:
                mine = [r for r in rows if r.variant == variant and r.name in names]
                return sum(r.cer * r.pages for r in mine) / max(1, sum(r.pages for r in mine))

            lines.append(
                f"| {kind} | {len(names)} | {cer_of('plain'):.3f} | {cer_of('pipeline'):.3f} |"
            )
    for row in hopeless:
        lines.append("")
        lines.append(
            f"Hopeless fax (7 pt type, standard resolution, heavy noise), {row.variant}: "
            f"CER {row.cer:.3f}, routed to transcription: {row.routed}."
        )
    if args.calibrate:
        lines += ["", *calibrate(rows + hopeless)]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        with (ROOT / "bench/RESULTS.md").open("a", encoding="utf-8") as out:
            out.write("\n" + report)


if __name__ == "__main__":
    main()

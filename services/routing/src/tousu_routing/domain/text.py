"""Text as the rules and the duplicate check see it.

Chinese is written without spaces, so keywords are matched as substrings of
the text as written — no tokenizer. Both sides are normalised the same way:
NFKC (full-width Ｅｎｇｉｎｅ and ０-９ become ASCII, compatibility forms fold)
and case-folded. CJK keywords are matched against the text with all
whitespace removed, because OCR of a fax often puts spaces between Chinese
characters ("漏 油"); Latin keywords must start a word, so "leak" finds
"leaking" but "late" does not fire inside "plate".
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, case-folded, whitespace runs collapsed to one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@cache
def _is_latin_keyword(keyword: str) -> bool:
    return keyword[:1].isascii()


class MatchText:
    """A complaint's text prepared once for many keyword look-ups."""

    def __init__(self, *parts: str | None) -> None:
        self.spaced = normalise(" ".join(part for part in parts if part))
        self.compact = self.spaced.replace(" ", "")

    def contains(self, keyword: str) -> bool:
        """``keyword`` must already be normalised (see :func:`normalise`)."""
        if _is_latin_keyword(keyword):
            return _latin_pattern(keyword).search(self.spaced) is not None
        return keyword.replace(" ", "") in self.compact


@cache
def _latin_pattern(keyword: str) -> re.Pattern[str]:
    # Must not follow a Latin letter or digit; may follow Chinese ("发动机noise").
    return re.compile(rf"(?<![a-z0-9]){re.escape(keyword)}")


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of the normalised text without spaces and punctuation."""
    letters = "".join(ch for ch in normalise(text) if ch.isalnum())
    if len(letters) < 2:
        return frozenset({letters}) if letters else frozenset()
    return frozenset(letters[i : i + 2] for i in range(len(letters) - 1))


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of character bigrams (0 … 1): language-neutral and works on
    Chinese without word segmentation."""
    left, right = bigrams(a), bigrams(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)

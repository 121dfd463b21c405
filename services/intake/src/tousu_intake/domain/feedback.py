"""Does a customer's text ask to be told the internal rectification plan and its
result (SPEC §2.4, "if the customer asked for it")? (pure)

Used on mail: a new complaint that asks for it is filed with ``feedback_requested``;
a reply on an existing complaint that asks for it becomes
``complaint.feedback_requested``. Deliberately narrow: a sentence must ask (请 /
希望 / please / would like …), name the rectification (整改 / 纠正措施 / 8D /
corrective action / root cause …) and a way of being told (反馈 / 告知 / send /
let us know …) — and not say it is not needed. A complaint that only mentions
rectification, or asks for a repair, does not count.
"""

from __future__ import annotations

import re

_SENTENCES = re.compile(r"[。！？!?；;\n]+|(?<=[a-z0-9])\.\s+", re.IGNORECASE)

_ZH_ASK = re.compile(r"请|希望|要求|麻烦|烦请|务必|需要|盼")
_ZH_TOPIC = re.compile(r"整改|纠正措施|改进措施|预防措施|8D|８Ｄ|原因分析", re.IGNORECASE)
_ZH_TELL = re.compile(r"反馈|告知|告诉|通报|回复|提供|发给|发送|说明|了解|看到|知道")
_ZH_NOT = re.compile(r"不需要|无需|不必|不用|不要")

_EN_ASK = re.compile(
    r"\b(please|kindly|would like|'d like|want|wish|request|ask|expect|need)\b", re.IGNORECASE
)
_EN_TOPIC = re.compile(
    r"\b(corrective|rectification|root cause|preventive|8d|what you (have )?"
    r"(changed|fixed|done|did|improved))\b",
    re.IGNORECASE,
)
_EN_TELL = re.compile(
    r"\b(send|share|tell|inform|let (me|us) know|report|feedback|provide|update|receive|"
    r"see|hear|know)\b",
    re.IGNORECASE,
)
_EN_NOT = re.compile(r"\b(no need|(do not|don't|not) need|not necessary|unnecessary)\b", re.I)


def asks_for_feedback(text: str) -> bool:
    """True if some sentence of ``text`` asks for the rectification plan and result."""
    for sentence in _SENTENCES.split(text[:20_000]):
        if _ZH_ASK.search(sentence) and _ZH_TOPIC.search(sentence):
            if _ZH_TELL.search(sentence) and not _ZH_NOT.search(sentence):
                return True
        if _EN_ASK.search(sentence) and _EN_TOPIC.search(sentence):
            if _EN_TELL.search(sentence) and not _EN_NOT.search(sentence):
                return True
    return False

"""False premises: the question's person and predicate checked against the evidence.

"When did Marco run his first 10k?" when it was Nadia who ran it: the sentences that
carry the question's predicate (its words other than the names) are about someone else,
and nothing about Marco carries it. Then the answer says so, citing the source: "That was
Nadia, not Marco [1]." When nothing about the asked person supports the predicate and no
one else clearly does either, the evidence counts as weak (``unsupported``: its strength
is halved, and the abstention threshold decides).

Attribution (who a sentence is about) is :func:`.reader.attribute`: the speaker of a
message that says "I"/"my", the other participant of a two-person chat when it says
"you", and anyone named.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .qtypes import QuestionSpec
from .reader import Sent

#: the other person's sentence must carry at least this share of the predicate …
WRONG_PERSON_MIN = 0.5
#: … and the asked person's best sentence less than this fraction of it
WRONG_PERSON_RATIO = 0.6
#: below this, nothing about the asked person supports the question
UNSUPPORTED_MAX = 0.3
#: … and the evidence strength is multiplied by this (so the abstention threshold, a
#: setting, still decides)
UNSUPPORTED_DISCOUNT = 0.7


@dataclass
class Premise:
    """The verdict: ``ok``, ``wrong_person`` (``actual`` did it, see ``sent``) or
    ``unsupported``."""

    verdict: str
    actual: str = ""
    sent: Optional[Sent] = None
    asked: str = ""


def check_premise(spec: QuestionSpec, sents: list[Sent]) -> Premise:
    """Check ``spec``'s person against the scored sentences (see the module docstring).

    Only questions naming a known person are checked; questions whose answer is a
    person ("who …") are about the answer, not the named one, and are left alone when
    the named person is their object ("who taught Petra …" is still checked: Petra must
    be involved).
    """
    asked = set(spec.names)
    if not asked or not sents or not spec.terms:
        return Premise("ok")
    # (the asked person's own messages without a subject, "went to the beach today", are
    # theirs: reader.attribute)
    own = max((s.match for s in sents if s.involves is True), default=0.0)
    # someone else in a conversation with the asked person (not a stranger in another one),
    # saying the predicate's own words (not only related ones)
    others = [s for s in sents if s.involves is False and s.about and s.hits
              and set(getattr(s.src, "participants", None) or []) & asked]
    best_other = max(others, key=lambda s: (s.match, s.score), default=None)
    if best_other is not None and best_other.match >= WRONG_PERSON_MIN and \
            own < WRONG_PERSON_RATIO * best_other.match:
        actual = _who(best_other, asked)
        if actual:
            return Premise("wrong_person", actual, best_other, sorted(asked)[0])
    neutral = max((s.match for s in sents if s.involves is None), default=0.0)
    if own < UNSUPPORTED_MAX and neutral < UNSUPPORTED_MAX and (
            best_other is None or best_other.match < WRONG_PERSON_MIN):
        return Premise("unsupported")
    return Premise("ok")


def _who(s: Sent, asked: set[str]) -> str:
    about = [p for p in s.about if p not in asked]
    if not about:
        return ""
    speaker = getattr(s.src, "speaker", None)
    if speaker in about:
        return speaker
    return sorted(about)[0]


def correction(p: Premise) -> str:
    """The answer for a wrong person: "That was Nadia, not Marco [3]."."""
    return f"That was {p.actual}, not {p.asked} [{p.sent.src.n}]."

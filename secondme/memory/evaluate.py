"""Measuring fact extraction against a labelled set.

A labelled file (``tests/fixtures/memory/labelled/{tune,heldout,fresh,fresh2}/*.json``) holds
conversations in the generic import format plus ``facts``: what a careful person would
note, each with the export ids of the messages it rests on and, when it has one, its
resolved ``date`` (YYYY, YYYY-MM or YYYY-MM-DD); ``me`` names the person whose memory it
is. A file may also hold ``documents`` (``{"id", "title", "date", "text"}``) whose
paragraphs start with a ``¶N`` label; facts cite those labels, and a note cites a
paragraph when the chunk it cites contains that paragraph.

Matching rule (issue 15): a formed note matches a gold fact when their content-token F1
(:func:`secondme.memory.text.token_f1`) is ≥ 0.3 AND the note cites at least one of the
gold fact's messages. Matching is one-to-one, best F1 first. Precision = matched notes /
notes; recall = matched gold facts / gold facts; date accuracy = matched gold facts with
a date whose note's ``valid_from`` or text carries that date / matched gold facts with a
date. :func:`echo_facts` is the baseline every extractor must beat: one note per message,
its text verbatim.
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from .text import token_f1

MATCH_F1 = 0.3
_PARA = re.compile(r"^¶(\d+) ", re.M)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


@dataclass
class PredictedFact:
    text: str
    sources: list[str]           # export message ids
    valid_from: Optional[str] = None


@dataclass
class Score:
    predicted: int = 0
    gold: int = 0
    matched: int = 0
    dated: int = 0
    dates_right: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 0.0

    @property
    def date_accuracy(self) -> float:
        return self.dates_right / self.dated if self.dated else 0.0

    def add(self, other: "Score") -> None:
        for k in ("predicted", "gold", "matched", "dated", "dates_right"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.misses += other.misses
        self.extras += other.extras

    def as_dict(self) -> dict:
        return {"predicted": self.predicted, "gold": self.gold, "matched": self.matched,
                "precision": round(self.precision, 3), "recall": round(self.recall, 3),
                "date_accuracy": round(self.date_accuracy, 3), "dated": self.dated}


def date_carried(gold_date: str, pred: PredictedFact) -> bool:
    """Whether ``pred`` states ``gold_date`` (in valid_from or in words in its text)."""
    if pred.valid_from and pred.valid_from.startswith(gold_date):
        return True
    parts = gold_date.split("-")
    y = parts[0]
    if len(parts) == 1:
        return y in pred.text
    m = MONTHS[int(parts[1]) - 1]
    if len(parts) == 2:
        return f"{m} {y}" in pred.text
    return f"{int(parts[2])} {m} {y}" in pred.text


def score(pred: list[PredictedFact], gold: list[dict]) -> Score:
    """Match ``pred`` against ``gold`` facts by the rule in the module docstring."""
    pairs = []
    for i, p in enumerate(pred):
        for j, g in enumerate(gold):
            if not set(p.sources) & set(g["sources"]):
                continue
            f1 = token_f1(p.text, g["text"])
            if f1 >= MATCH_F1:
                pairs.append((f1, i, j))
    pairs.sort(reverse=True)
    used_p, used_g = set(), set()
    s = Score(predicted=len(pred), gold=len(gold))
    for _f1, i, j in pairs:
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        s.matched += 1
        g = gold[j]
        if g.get("date"):
            s.dated += 1
            s.dates_right += date_carried(g["date"], pred[i])
    s.misses = [g["text"] for j, g in enumerate(gold) if j not in used_g]
    s.extras = [p.text for i, p in enumerate(pred) if i not in used_p]
    return s


def predicted_facts(sm, paragraphs: Optional[dict[str, str]] = None) -> list[PredictedFact]:
    """Every fact note of ``sm`` with the export ids of the messages it cites (and the
    ``¶N`` labels of the document paragraphs inside the chunks it cites)."""
    conn = sm.store.conn
    out = []
    for nid, text, valid_from in conn.execute(
            "select id, text, valid_from from notes where kind = 'fact' order by id"):
        srcs: list[str] = []
        for ext, chunk_text in conn.execute(
                "select m.external_id, c.text from note_sources s left join messages m on "
                "m.id = s.message_id left join chunks c on c.id = s.chunk_id "
                "where s.note_id = ?", [nid]):
            if ext is not None:
                srcs.append(ext)
            elif chunk_text is not None:
                flat = " ".join(chunk_text.split())
                srcs += [label for label, para in (paragraphs or {}).items() if para in flat]
        out.append(PredictedFact(text=text, valid_from=valid_from, sources=srcs))
    return out


def echo_facts(data: dict) -> list[PredictedFact]:
    """The echo baseline: every message of a person (not an assistant) as one note."""
    from .deterministic import ASSISTANT_SPEAKERS

    out = [PredictedFact(text=m["text"], sources=[m["id"]])
           for c in data["conversations"] for m in c["messages"]
           if m["speaker"].strip().lower() not in ASSISTANT_SPEAKERS]
    for d in data.get("documents", []):
        out += [PredictedFact(text=t, sources=[label])
                for label, t in _paragraphs(d["text"]).items()]
    return out


def is_casual_chat(data: dict) -> bool:
    """A labelled file of two-person chats between people (no assistant, no document):
    the kind of chat the issue's "one note per 2–4 messages" is about."""
    from .deterministic import ASSISTANT_SPEAKERS

    convs = data.get("conversations") or []
    return bool(convs) and not data.get("documents") and all(
        len(c["participants"]) == 2 for c in convs) and not any(
        m["speaker"].strip().lower() in ASSISTANT_SPEAKERS for c in convs
        for m in c["messages"])


def _paragraphs(text: str) -> dict[str, str]:
    """``{"¶N": paragraph text}`` of a labelled document."""
    out = {}
    for block in re.split(r"\n\s*\n", text):
        m = _PARA.match(block.strip())
        if m:
            out["¶" + m.group(1)] = " ".join(block.strip()[m.end():].split())
    return out


def _document_text(text: str) -> str:
    return _PARA.sub("", text)


def labelled_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).glob("*.json"))


def evaluate_file(path: Path, make_service: Callable[[Path, dict], Any]) -> tuple[Score, dict]:
    """Import one labelled file into a fresh store, form memories, score them.

    ``make_service(home, labelled)`` returns a SecondMe (with whatever models the caller
    wants). Returns (score, extraction summary).
    """
    data = json.loads(Path(path).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths, paragraphs = [], {}
        if data["conversations"]:
            chat = tmp / "chat.json"
            chat.write_text(json.dumps({"conversations": data["conversations"]}))
            paths.append(chat)
        for d in data.get("documents", []):
            doc = tmp / f"{d['id']}.md"
            doc.write_text(_document_text(d["text"]), encoding="utf-8")
            paths.append(doc)
            paragraphs.update(_paragraphs(d["text"]))
        sm = make_service(tmp / "home", data)
        try:
            me = [data["me"]] if data.get("me") else []
            if me:
                sm.update_settings(me_name=data["me"])
                # generic labels for the person ("user") also mean me
                me += [m["speaker"] for c in data["conversations"] for m in c["messages"]
                       if m["speaker"].lower() in ("user", "me", "you")]
            sm.import_paths(paths, me=sorted(set(me)) or None)
            summary = sm.run_extract()
            return score(predicted_facts(sm, paragraphs), data["facts"]), summary
        finally:
            sm.close()


def gold_like_responder(files: Iterable[Path], *, bad_fact: bool = True) -> Callable[[str], Any]:
    """A ScriptedLLM function that answers extraction prompts with the labelled facts
    whose sources are in the prompt's window (mapped to its small ids), plus one invalid
    fact (an id outside the window) that the extractor must reject; reconcile prompts
    get ADD. Tests the LLM path's mechanics, not a model's skill."""
    by_text: dict[str, list[dict]] = {}
    paragraphs: list[tuple[str, str, list[dict]]] = []
    for p in files:
        data = json.loads(Path(p).read_text())
        for c in data["conversations"]:
            for m in c["messages"]:
                by_text.setdefault(" ".join(m["text"].split())[:600], []).append(
                    {"id": m["id"], "facts": data["facts"]})
        for d in data.get("documents", []):
            paragraphs += [(label, para, data["facts"])
                           for label, para in _paragraphs(d["text"]).items()]

    def respond(prompt: str) -> Any:
        if "Existing memories" in prompt:
            return {"event": "ADD", "id": -1}
        small: dict[str, int] = {}
        facts: list[dict] = []
        for n, text in re.findall(r"^\[(\d+)\] [^\n]*?: (.*)$", prompt, flags=re.M):
            for hit in by_text.get(text, []):
                small[hit["id"]] = int(n)
                facts = hit["facts"]
        for n, text in re.findall(r"^\[(\d+)\](?: \([^)\n]*\))? (.*)$", prompt, flags=re.M):
            for label, para, doc_facts in paragraphs:
                if para[:200] in text:
                    small[label] = int(n)
                    facts = doc_facts
        out = []
        for f in facts:
            ids = [small[s] for s in f["sources"] if s in small]
            if ids and all(s in small for s in f["sources"][:1]):
                out.append({"text": f["text"], "type": "other", "sources": ids,
                            "confidence": 0.9})
        if bad_fact:
            out.append({"text": "An invented fact.", "type": "other",
                        "sources": [len(small) + 5], "confidence": 0.5})
        return {"facts": out, "summary": "(scripted)"}

    return respond

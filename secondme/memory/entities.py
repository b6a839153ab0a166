"""Entities: people, places and organisations named in facts, resolved to one row each.

Finding names is gazetteer-free: runs of capitalised words that are not sentence-initial
function words, known speakers, and ``@mentions``; the kind comes from the words around
the name ("my sister Lena", "moved to Lisbon", "works at Acme", "Acme Inc").

Resolution (Zep/Graphiti order): the normalised name or an alias matches exactly → that
entity; else a fuzzy match (character-trigram Jaccard ≥ 0.9, or a single first name
equal to the first token of exactly one known person) → that entity, and the new
spelling becomes an alias; else, when a capable model is configured, the model picks
among a few small-integer candidates; else a new entity. The person's own name and
aliases (settings ``me_name``/``me_aliases`` and speakers of messages marked is_me) map
to the single ``is_me`` entity.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable, Optional

from .text import STOPWORDS, norm_name, trigram_jaccard

log = logging.getLogger(__name__)

ENTITY_KINDS = ("person", "place", "organisation", "other")

_RELATION = re.compile(
    r"\b(sister|brother|mom|mum|mother|dad|father|friend|boss|colleague|coworker|wife|"
    r"husband|partner|boyfriend|girlfriend|son|daughter|cousin|aunt|uncle|grandma|grandpa|"
    r"grandmother|grandfather|neighbou?r|roommate|flatmate|niece|nephew|fiancée?|named|"
    r"called|with|met|meet|meeting|told|texted|married|dating)\s*$", re.I)
_PLACE_BEFORE = re.compile(
    r"\b(in|to|from|near|visit|visited|visiting|around|across|towards|through|"
    r"live in|lives in|living in|moved to|moving to|trip to|flew to|flying to|born in|"
    r"grew up in)\s*$", re.I)
_ORG_BEFORE = re.compile(
    r"\b(works? at|working at|worked at|works? for|working for|worked for|job at|joined|"
    r"hired by|intern(?:ship)? at|studies at|studying at|studied at|position at|role at|"
    r"offer from|employed by|quit|left|leaving|leave)\s*$", re.I)
_ORG_SUFFIX = {"inc", "ltd", "gmbh", "llc", "corp", "corporation", "company", "co",
               "university", "college", "school", "bank", "hospital", "institute", "group",
               "labs", "lab", "ag", "sa", "plc", "foundation", "agency", "studio",
               "studios", "academy", "clinic", "church", "club", "team", "fc"}
_PLACE_SUFFIX = {"street", "st", "road", "avenue", "park", "lake", "mountain", "mountains",
                 "river", "city", "airport", "beach", "island", "islands", "valley",
                 "county", "station", "square", "bay", "coast", "alps"}
_NOT_NAMES = STOPWORDS | {
    "i", "im", "ive", "ill", "id", "okay", "ok", "lol", "haha", "yes", "no", "hey", "hi",
    "hello", "thanks", "sorry", "please", "omg", "btw", "dear", "mr", "mrs", "ms", "dr",
    "christmas", "easter", "covid", "internet", "tv", "english", "german", "french",
    "spanish", "italian", "chinese", "japanese", "god", "wow", "hahaha", "aww", "ugh",
    "yay", "congrats", "happy", "birthday", "new", "old", "anyway", "also",
}
_CAP_RUN = re.compile(
    r"@[\w.\-]+|(?:[A-ZÀ-ÖØ-Þ][\w'’\-]*\.?)(?:\s+(?:(?:of|de|van|von|der|la|le|del|da|di|the|&)\s+)?"
    r"[A-ZÀ-ÖØ-Þ][\w'’\-]*\.?)*")


_COMMON_START = frozenset("""
glad appreciate appreciated thanks thank sorry problem love loved miss missed hope wish
congrats congratulations amazing awesome great nice cool wow yay ugh ok okay yes yeah no
still just also really so well anyway honestly totally definitely absolutely luckily
sadly inspiring proud happy excited good bad fun funny lovely beautiful perfect sure
true same right exactly agreed deal stop wait look listen seriously literally basically
apparently hopefully maybe perhaps guess imagine remember sounds looks seems feels
""".split())


def window_names(texts: Iterable[str]) -> set[str]:
    """Capitalised words written mid-sentence somewhere in ``texts`` (not after a full
    stop): the words this conversation treats as names ("Paris", "Priya", "Zalando")."""
    out: set[str] = set()
    for text in texts:
        for m in re.finditer(r"(?<=[A-Za-z0-9,;:'’)\]] )([A-ZÀ-ÖØ-Þ][\w’'\-]+)", text):
            w = re.sub(r"[’']s$", "", m.group(1))
            if w.lower() not in _NOT_NAMES and w.lower() not in _COMMON_START \
                    and not w.isupper():
                out.add(w)
    return out


#: what people do: a capitalised word at a sentence start followed by one of these is a
#: name ("Mateo had an asthma attack", "Nani moved in with my parents")
_PERSON_DOES = re.compile(
    r"^([A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+)\s+(?:had|has|is|was|went|got|said|says|told|called|came|"
    r"moved|started|left|turned|loves|likes|hates|wants|needs|thinks|lives|works|asked|"
    r"cried|laughed|won|lost|passed|finished|married|made|bought|visited|texted|sent|took|"
    r"gave|found|met|saw|broke|fell|became|joined|quit|graduated|arrived|teaches|taught|"
    r"plays|played|just|finally|also|still|never|always)\b")


def sentence_start_names(sentences: Iterable[str], common: Iterable[str] = ()) -> set[str]:
    """Capitalised words that open a sentence and are followed by something people do
    ("Mateo had …", "Nani moved in …") — names that :func:`window_names` misses when a
    chat only ever writes them first. Never a stop word, an ordinary sentence-initial
    word, a word of ``common`` (a lexicon of ordinary nouns: "Work was …") or a word
    ending like a verb or an adverb."""
    common = {c.lower() for c in common}
    out: set[str] = set()
    for sent in sentences:
        m = _PERSON_DOES.match(sent.strip())
        if not m:
            continue
        w = m.group(1)
        low = w.lower()
        if low in _NOT_NAMES or low in _COMMON_START or low in common or \
                low.endswith(("ing", "ly", "ed")):
            continue
        out.add(w)
    return out


def _common_start(word: str, known: dict, names: set[str]) -> bool:
    """A capitalised word at a sentence start that is an ordinary word, not a name."""
    if norm_name(word) in known or word in names:
        return False
    low = word.lower()
    return low in _NOT_NAMES or low in _COMMON_START or low.endswith(("ing", "ly")) or \
        (low.endswith("ed") and len(low) > 4)


def find_entities(text: str, *, people: Iterable[str] = (), names: Iterable[str] = (),
                  sentence_start_ok: bool = False) -> list[tuple[str, str]]:
    """Names in ``text`` as (name, kind), first occurrence order, without duplicates.

    ``people`` are names known to be people (the conversation's speakers, the person's
    own names); ``names`` are words the conversation writes capitalised mid-sentence
    (:func:`window_names`). A capitalised word at the start of a sentence counts only
    when it is a known person or name, or (``sentence_start_ok``) not an ordinary word;
    ordinary words leading a run at a sentence start are dropped ("Glad Tom" → "Tom").
    """
    known = {norm_name(p): p for p in people if p}
    names = set(names)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for m in _CAP_RUN.finditer(text):
        raw = m.group(0).rstrip(".")
        if raw.startswith("@"):
            name, kind = raw, "person"
        else:
            name = re.sub(r"[’']s$", "", raw)
            parts = name.split()
            # drop leading function words ("The Alps" keeps "The"? no: leading "The" goes)
            while parts and parts[0].lower() in ("the", "my", "our", "a", "an", "and"):
                parts = parts[1:]
            if not parts:
                continue
            name = " ".join(parts)
            key = norm_name(name)
            if not key or key in _NOT_NAMES or all(p.lower() in _NOT_NAMES for p in parts):
                continue
            start = m.start()
            at_sentence_start = start == 0 or re.search(r"[.!?\n]\s*$", text[:start]) is not None
            if at_sentence_start:
                while parts and _common_start(parts[0], known, names):
                    parts = parts[1:]
                if not parts:
                    continue
                name = " ".join(parts)
                key = norm_name(name)
                if not sentence_start_ok and key not in known and name not in names \
                        and len(parts) == 1:
                    continue
            if re.fullmatch(r"\d+", key):
                continue
            before = text[:start]
            last = parts[-1].lower().rstrip(".")
            if key in known or any(key == k.split()[0] for k in known if k):
                kind = "person"
            elif last in _ORG_SUFFIX:
                kind = "organisation"
            elif last in _PLACE_SUFFIX:
                kind = "place"
            elif _ORG_BEFORE.search(before):
                kind = "organisation"
            elif _PLACE_BEFORE.search(before):
                kind = "place"
            elif _RELATION.search(before):
                kind = "person"
            elif re.match(r"\s+(said|says|told|is|was|has|had|got|and I|will|wants|thinks|"
                          r"loves|likes|hates|just|called|texted|came|went)\b",
                          text[m.end():]):
                kind = "person"
            else:
                kind = "other"
        k = norm_name(name)
        if k in seen:
            continue
        seen.add(k)
        out.append((name, kind))
    return out


class EntityResolver:
    """Resolves names to entity rows of one store; caches the table for a formation run.

    Not thread-safe: one resolver per run, used inside that run's write transactions.
    """

    def __init__(self, conn, *, me_names: Iterable[str] = (), llm: Any = None):
        self.conn = conn
        self.llm = llm if llm is not None and llm.capable else None
        self.by_norm: dict[str, int] = {}
        self.rows: dict[int, dict] = {}
        self.first_tokens: dict[str, set[int]] = {}
        # fuzzy matching (Jaccard ≥ 0.9) only ever pairs near-identical spellings, which
        # share their first letters: bucketing by them keeps resolution O(bucket), not O(E)
        self.buckets: dict[str, set[str]] = {}
        self.model_answers: dict[str, Optional[int]] = {}
        for eid, kind, name, aliases, is_me in conn.execute(
                "select id, kind, name, aliases, is_me from entities"):
            self._remember(eid, kind, name, json.loads(aliases or "[]"), bool(is_me))
        self.me_id = self._ensure_me([n for n in me_names if n and n.strip()])

    def _remember(self, eid: int, kind: str, name: str, aliases: list[str], is_me: bool) -> None:
        self.rows[eid] = {"kind": kind, "name": name, "aliases": list(aliases), "is_me": is_me}
        for n in [name, *aliases]:
            k = norm_name(n)
            if k:
                self.by_norm.setdefault(k, eid)
                self.buckets.setdefault(k[:2], set()).add(k)
                if kind == "person":
                    self.first_tokens.setdefault(k.split()[0], set()).add(eid)

    def _ensure_me(self, names: list[str]) -> Optional[int]:
        me = [eid for eid, r in self.rows.items() if r["is_me"]]
        if me:
            eid = me[0]
            for n in names:
                self._add_alias(eid, n)
            return eid
        if not names:
            return None
        # a plain person entity already named like me becomes "me"
        for n in names:
            eid = self.by_norm.get(norm_name(n))
            if eid is not None and self.rows[eid]["kind"] == "person":
                self.conn.execute("update entities set is_me = 1 where id = ?", [eid])
                self.rows[eid]["is_me"] = True
                for other in names:
                    self._add_alias(eid, other)
                return eid
        return self._create("person", names[0], names[1:], is_me=True)

    def _create(self, kind: str, name: str, aliases: list[str], is_me: bool = False) -> int:
        norm = norm_name(name)
        row = self.conn.execute("select id from entities where kind = ? and norm_name = ?",
                                [kind, norm]).fetchone()
        if row:
            eid = row[0]
        else:
            eid = self.conn.execute(
                "insert into entities (kind, name, norm_name, aliases, is_me) values (?,?,?,?,?)",
                [kind, name, norm, json.dumps(aliases), int(is_me)]).lastrowid
        self._remember(eid, kind, name, aliases, is_me)
        return eid

    def _add_alias(self, eid: int, alias: str) -> None:
        row = self.rows[eid]
        k = norm_name(alias)
        if not k or k == norm_name(row["name"]) or any(norm_name(a) == k for a in row["aliases"]):
            self.by_norm.setdefault(k, eid)
            return
        row["aliases"].append(alias)
        self.conn.execute("update entities set aliases = ? where id = ?",
                          [json.dumps(row["aliases"]), eid])
        self.by_norm.setdefault(k, eid)
        self.buckets.setdefault(k[:2], set()).add(k)
        if row["kind"] == "person":
            self.first_tokens.setdefault(k.split()[0], set()).add(eid)

    def add_me_alias(self, name: str) -> None:
        """Record another name the person goes by (a speaker marked is_me)."""
        if self.me_id is None:
            self.me_id = self._create("person", name, [], is_me=True)
        else:
            self._add_alias(self.me_id, name)

    def match(self, name: str, kind: str = "other") -> Optional[int]:
        """The entity the rules resolve ``name`` to (exact, fuzzy, first name), or None.
        Read-only."""
        k = norm_name(name)
        if not k:
            return None
        eid = self.by_norm.get(k)
        if eid is not None:
            return eid
        # fuzzy: near-identical spelling
        best, best_sim = None, 0.0
        for other_k in self.buckets.get(k[:2], ()):
            other_id = self.by_norm[other_k]
            if abs(len(other_k) - len(k)) > max(3, len(k) // 3):
                continue
            sim = trigram_jaccard(k, other_k)
            if sim > best_sim:
                best, best_sim = other_id, sim
        if best is not None and best_sim >= 0.9:
            return best
        toks = k.split()
        # a lone first name that belongs to exactly one known person
        if kind in ("person", "other") and len(toks) == 1:
            cands = self.first_tokens.get(toks[0], set())
            if len(cands) == 1:
                return next(iter(cands))
        # a full name whose first token is a known lone first name ("Lena" then "Lena Vogel")
        if kind in ("person", "other") and len(toks) > 1:
            eid = self.by_norm.get(toks[0])
            if eid is not None and self.rows[eid]["kind"] == "person" \
                    and len(norm_name(self.rows[eid]["name"]).split()) == 1:
                return eid
        return None

    def ask_model_first(self, names: Iterable[tuple[str, str]]) -> None:
        """Ask the model (when capable) about the names the rules cannot resolve, and
        remember its answers. Call this OUTSIDE any transaction; :meth:`resolve` then
        uses the answers without calling the model."""
        if self.llm is None:
            return
        for name, kind in names:
            k = norm_name(name)
            if k and k not in self.model_answers and self.match(name, kind) is None:
                self.model_answers[k] = self._ask_model(name, kind)

    def resolve(self, name: str, kind: str = "other") -> int:
        """The entity id for ``name`` (creating the entity when nothing matches).

        Never calls the model itself (it may run inside a write transaction): answers
        gathered by :meth:`ask_model_first` are used."""
        k = norm_name(name)
        if not k:
            raise ValueError("empty entity name")
        eid = self.match(name, kind)
        if eid is None:
            eid = self.model_answers.get(k)
            if eid is not None and eid not in self.rows:
                eid = None
        if eid is not None:
            self._add_alias(eid, name)
            return eid
        return self._create(kind if kind in ENTITY_KINDS else "other", name, [])

    def _ask_model(self, name: str, kind: str) -> Optional[int]:
        """Let a capable model say whether ``name`` is one of a few similar entities."""
        k = norm_name(name)
        scored = sorted(((trigram_jaccard(k, ok), eid) for ok, eid in self.by_norm.items()),
                        reverse=True)
        cands: list[int] = []
        for sim, eid in scored:
            if sim < 0.3 or len(cands) >= 5:
                break
            if eid not in cands:
                cands.append(eid)
        if not cands:
            return None
        lines = [f"{i}: {self.rows[eid]['name']} ({self.rows[eid]['kind']}; also "
                 f"{', '.join(self.rows[eid]['aliases'][:3]) or '-'})"
                 for i, eid in enumerate(cands)]
        prompt = ("Decide whether a newly mentioned name refers to one of the known entities.\n"
                  f"New name: {name} ({kind})\nKnown entities:\n" + "\n".join(lines) +
                  "\nAnswer with the number of the same entity, or -1 if none is the same.")
        schema = {"type": "object", "properties": {"match": {"type": "integer"}},
                  "required": ["match"]}
        try:
            out = json.loads(self.llm.complete(prompt, max_tokens=16, json_schema=schema))
            i = int(out["match"])
        except Exception as e:  # malformed output → no match, never a wrong merge
            log.info("entity resolution output rejected: %s", e)
            return None
        if 0 <= i < len(cands):
            return cands[i]
        return None

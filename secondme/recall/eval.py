"""``secondme eval DATASET.json``: evidence recall@k, answer F1, abstention, latency.

The dataset's conversations are imported into a *temporary* data directory through the
real importer, embedded, and every question is searched and (unless ``answers=False``)
answered. Per question:

- evidence recall@k: share of its evidence message ids found among the message ids the
  top-k results stand for (a message result stands for itself, a note for the messages
  it was formed from). When a question names its ``conversation``, only messages of
  that conversation count (ids may repeat across conversations);
- answer token-F1 against the reference answer (citation markers removed); an
  unanswerable question scores 1 when secondme abstained, else 0;
- abstention accuracy: abstained exactly when the category is ``unanswerable``;
- invalid citations: markers in an answer that point at no given source (must be 0);
- latency of search and ask (and ask's time to first token), p50/p95.

Figures are reported overall and per category.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from ..api import Answer, EvalReport, SearchResult
from ..progress import CancelToken, ProgressFn, check, report
from .answer import cited_numbers, token_f1
from .dataset import read_dataset


def _pct(values: list[float]) -> Optional[float]:
    return round(100.0 * sum(values) / len(values), 1) if values else None


def _quantile(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return round(s[i], 1)


def retrieved_ids(results, conversation: Optional[str] = None) -> list[str]:
    """Message external ids the results stand for, in rank order, without repeats."""
    out: list[str] = []
    for r in results:
        for s in r.sources:
            mid = s.get("message_id")
            if not mid:
                continue
            if conversation is not None and str(s.get("conversation_id")) != str(conversation):
                continue
            if mid not in out:
                out.append(mid)
    return out


def evidence_recall(results, evidence: list[str], conversation: Optional[str] = None) -> float:
    """Share of ``evidence`` ids among the ids ``results`` stand for."""
    if not evidence:
        return 1.0
    got = set(retrieved_ids(results, conversation))
    return sum(1 for e in evidence if str(e) in got) / len(evidence)


def build_eval_store(open_service: Callable[[Path], Any], data: dict, home: Path,
                     progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None) -> Any:
    """A service opened by ``open_service(home)`` holding the dataset's conversations,
    imported through the real importer (``import_paths``, generic format) and embedded.

    The caller closes it. An import that fails raises (an evaluation must measure the
    app's own import path, never a stand-in).
    """
    ev = open_service(home)
    try:
        report(progress, "importing the dataset", 0, None)
        f = home / "dataset-conversations.json"
        f.write_text(json.dumps({"conversations": data["conversations"]}), encoding="utf-8")
        ev.import_paths([f], format="generic", cancel=cancel)
        check(cancel)
        ev.index_pending(progress=progress, cancel=cancel)
    except BaseException:
        ev.close()
        raise
    return ev


def evaluate_dataset(open_service: Callable[[Path], Any], path, *, k: int = 10,
                     answers: bool = True, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None,
                     keep_home: Optional[Path] = None) -> EvalReport:
    """Run the evaluation (see the module docstring) on a service ``open_service(home)``
    opens on a temporary data dir (``keep_home`` instead: kept afterwards). The service
    method :meth:`~secondme.recall.ops.RecallOps.evaluate` passes one that shares its
    models and clock. Raises InvalidInput, Cancelled."""
    data = read_dataset(path)
    tmp = Path(tempfile.mkdtemp(prefix="secondme-eval-")) if keep_home is None else keep_home
    try:
        ev = build_eval_store(open_service, data, tmp, progress, cancel)
        try:
            # answered as `secondme ask --batch` answers them (each on its own, no chat)
            return run_questions(ev.search, lambda q: ev.ask_many([q], cancel=cancel)[0],
                                 data["questions"], k=k, answers=answers,
                                 progress=progress, cancel=cancel)
        finally:
            ev.close()
    finally:
        if keep_home is None:
            shutil.rmtree(tmp, ignore_errors=True)


def run_questions(search: Callable[..., list[SearchResult]], ask: Callable[[str], Answer],
                  questions: list[dict], *, k: int = 10, answers: bool = True,
                  progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> EvalReport:
    """Search (and, with ``answers``, answer) every question with ``search(question,
    k=k)`` and ``ask(question)`` (a loaded service's methods) and sum up the figures."""
    rows = []
    invalid = 0
    total = len(questions)
    for i, q in enumerate(questions):
        check(cancel)
        report(progress, "evaluating", i, total)
        cat = q.get("category", "single")
        conv = q.get("conversation")
        t = time.perf_counter()
        res = search(q["question"], k=k)
        search_ms = (time.perf_counter() - t) * 1000
        ev_ids = [str(e) for e in q.get("evidence", [])]
        row = {"question": q["question"], "category": cat, "search_ms": search_ms,
               "retrieved": retrieved_ids(res, conv)[:k * 3]}
        if cat != "unanswerable" and ev_ids:
            row["recall"] = evidence_recall(res, ev_ids, conv)
        if answers:
            t = time.perf_counter()
            a = ask(q["question"])
            row["ask_ms"] = (time.perf_counter() - t) * 1000
            row["first_token_ms"] = a.timings.get("first_token_ms")
            row["answer"] = a.answer
            row["abstained"] = a.abstained
            given = {c.n for c in a.citations}
            bad = [n for n in cited_numbers(a.answer) if n not in given]
            invalid += len(bad)
            row["invalid_citations"] = len(bad)
            if cat == "unanswerable":
                row["f1"] = 1.0 if a.abstained else 0.0
            else:
                row["f1"] = token_f1(a.answer, str(q.get("answer", "")))
            row["abstention_ok"] = a.abstained == (cat == "unanswerable")
        rows.append(row)
    report(progress, "evaluating", total, total)

    def summarize(rs: list[dict]) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(rs)}
        out["recall@k"] = _pct([r["recall"] for r in rs if "recall" in r])
        out["f1"] = _pct([r["f1"] for r in rs if "f1" in r])
        out["abstention_acc"] = _pct([float(r["abstention_ok"]) for r in rs
                                      if "abstention_ok" in r])
        out["search_p50_ms"] = _quantile([r["search_ms"] for r in rs], 0.5)
        out["search_p95_ms"] = _quantile([r["search_ms"] for r in rs], 0.95)
        out["ask_p50_ms"] = _quantile([r["ask_ms"] for r in rs if "ask_ms" in r], 0.5)
        out["ask_p95_ms"] = _quantile([r["ask_ms"] for r in rs if "ask_ms" in r], 0.95)
        out["first_token_p95_ms"] = _quantile([r["first_token_ms"] for r in rs
                                               if r.get("first_token_ms") is not None], 0.95)
        return out

    cats = sorted({r["category"] for r in rows})
    return EvalReport(questions=len(rows), k=k, overall=summarize(rows),
                      per_category={c: summarize([r for r in rows if r["category"] == c])
                                    for c in cats},
                      invalid_citations=invalid, details=rows)

"""The ``consolidate`` job: the steps of :mod:`secondme.lifecycle.consolidate` in order."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any, Callable, Iterable, Optional

from ...hooks import Hooks
from ...progress import CancelToken, ProgressFn, check, report
from ...store.db import Store
from ...store.vectors import VectorIndex
from ..profile import build_profile
from .common import Built, load_facts
from .contradictions import resolve_contradictions
from .duplicates import merge_duplicates
from .summaries import build_day_summaries, build_topic_summaries, build_week_summaries
from .write import upsert

log = logging.getLogger(__name__)

MAX_MODEL_CALLS = 40


def capable_llm(load_llm: Callable[[], Any]) -> Any:
    """The model ``load_llm()`` returns when it is capable, else None (never raises: with
    no usable model, consolidation writes its templates)."""
    try:
        llm = load_llm()
    except Exception as e:  # noqa: BLE001 - no model configured: deterministic path
        log.info("no LLM for consolidation (%s); using templates", e)
        return None
    return llm if llm.capable else None


def run_consolidate(store: Store, *, clock: Callable[[], datetime], me_name: str,
                    me_aliases: Iterable[str], llm: Any, hooks: Hooks,
                    vectors: Optional[VectorIndex] = None,
                    index_new: Optional[Callable[[Optional[CancelToken]], Any]] = None,
                    progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> dict:
    """Merge duplicates, settle contradictions, write day/week/topic summaries and the
    profile (see the package doc). Returns counts per step.

    ``clock``: now (aware datetime); ``me_name`` / ``me_aliases``: the user's names;
    ``llm``: a capable model, or None for the deterministic templates (at most
    ``MAX_MODEL_CALLS`` calls); ``vectors``: the loaded vector index, if any (changed
    summaries drop their vectors); ``index_new(cancel)``: embeds new and changed summaries
    right away (a failure is logged: the extract job embeds them later). Announces
    ``notes_did_change`` with actions ``merge``, ``invalidate`` and ``consolidate``.
    Raises Cancelled between units of work.
    """
    stages = 6
    report(progress, "consolidate", 0, stages, "merging duplicates")
    merged = merge_duplicates(store, clock=clock, hooks=hooks, cancel=cancel)
    report(progress, "consolidate", 1, stages, "contradictions")
    contra = resolve_contradictions(store, clock=clock, hooks=hooks, cancel=cancel)
    budget = [MAX_MODEL_CALLS]
    conn = store.conn
    facts = load_facts(conn)
    counts: Counter = Counter()
    changed: list[int] = []

    def write(items: list[Built]) -> dict[str, int]:
        ids = {}
        for b in items:
            check(cancel)
            action, nid = upsert(store, b, capable=llm is not None, vectors=vectors,
                                 now=clock().isoformat(timespec="seconds"))
            counts[f"{b.fact_type}_{action}"] += 1
            if action in ("created", "updated"):
                changed.append(nid)
            ids[b.key] = nid
        return ids

    report(progress, "consolidate", 2, stages, "day summaries")
    days = build_day_summaries(conn, facts, me_name, llm, budget, cancel)
    day_ids = write(days)
    report(progress, "consolidate", 3, stages, "week summaries")
    write(build_week_summaries(days, day_ids, facts, llm, budget, cancel))
    report(progress, "consolidate", 4, stages, "topic summaries")
    write(build_topic_summaries(conn, facts, llm, budget, cancel))
    report(progress, "consolidate", 5, stages, "profile")
    profile = build_profile(conn, facts, me_name, me_aliases, llm, budget, cancel)
    profile_id = None
    if profile is not None:
        profile_id = write([profile])[profile.key]
    if changed:
        hooks.emit("notes_did_change", ids=changed, action="consolidate")
        if index_new is not None:
            try:
                index_new(cancel)
            except Exception as e:  # noqa: BLE001 - the extract job indexes them later
                log.info("indexing summaries deferred: %s", e)
    report(progress, "consolidate", stages, stages)
    return {"merged": merged["merged"], "merge_groups": merged["groups"],
            "invalidated": contra["invalidated"], "facts": len(facts),
            "summaries": dict(sorted(counts.items())), "profile_id": profile_id,
            "model_calls": MAX_MODEL_CALLS - budget[0], "method": "model" if llm else "template"}

"""``secondme search``, ``ask``, ``eval`` and ``index``: recall from the command line.

JSON formats are documented in docs/recall.md and are stable. Only click is imported at
module import time; the service and models load inside the commands.
"""
from __future__ import annotations

import json
import sys

import click

from .base import CliState, echo_json, terminal_progress


def _result_json(r) -> dict:
    """The stable JSON of one search result."""
    return {"id": r.id, "kind": r.kind, "text": r.text, "score": r.score,
            "timestamp": r.timestamp, "date": r.date,
            "sources": [{k: v for k, v in s.items() if k != "item_id"} for s in r.sources]}


def _answer_json(a) -> dict:
    """The stable JSON of one answer."""
    return {"question": a.question, "answer": a.answer, "abstained": a.abstained,
            "chat_id": a.chat_id, "method": a.method,
            "citations": [{"n": c.n, "id": c.id, "kind": c.kind, "text": c.text,
                           "quote": c.quote, "date": c.date,
                           "sources": [{k: v for k, v in s.items() if k != "item_id"}
                                       for s in c.sources]} for c in a.citations],
            "closest": [_result_json(r) for r in a.closest],
            "timings": {k: round(v, 2) for k, v in a.timings.items()}}


def _print_result(i: int, r) -> None:
    src = r.sources[0] if r.sources else {}
    if r.kind == "message":
        where = f"{r.date or '?'} · {src.get('speaker') or '?'} · {src.get('conversation')}"
    elif r.kind == "chunk":
        page = f" p.{src.get('page')}" if src.get("page") else ""
        where = f"{src.get('document')}{page}"
    else:
        where = f"memory note{' · ' + r.date if r.date else ''} · {len(r.sources)} source(s)"
    click.echo(f"{i:>2}. [{r.kind}] {where}")
    text = " ".join(r.text.split())
    click.echo(f"    {text[:300]}{'…' if len(text) > 300 else ''}")


def _catch_up(sm, enabled: bool) -> None:
    """Embed what was imported but not indexed yet, so that a search straight after
    ``secondme import`` also finds by meaning (the desktop app does this in the
    background; the command line has no background)."""
    if not enabled:
        return
    from ..indexing import count_pending

    if count_pending(sm.store) == 0:
        return
    progress, done = terminal_progress()
    try:
        sm.index_pending(progress=progress)
    finally:
        done()


@click.command("index")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def index(state: CliState, as_json: bool) -> None:
    """Embed everything imported that is not in the vector index yet."""
    progress, done = terminal_progress()
    try:
        rep = state.service().index_pending(progress=progress)
    finally:
        done()
    if as_json:
        echo_json(rep)
    else:
        click.echo(f"{rep.items} items indexed ({rep.embedded} embedded, {rep.reused} reused)")


@click.command("search")
@click.argument("query", required=False)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many results.")
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["message", "chunk", "note"]), help="Only these kinds.")
@click.option("--batch", "batch", type=click.File("r", encoding="utf-8"),
              help="Read one query per line from FILE (- for stdin); one JSON line out "
                   "per query, in order.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--no-index", is_flag=True,
              help="Do not embed newly imported items first (keyword search only for them).")
@click.pass_obj
def search(state: CliState, query, k, kinds, batch, as_json, no_index) -> None:
    """Search messages, documents and memories (hybrid keyword + meaning + links)."""
    if batch is None and not query:
        raise click.UsageError("give a QUERY or --batch FILE")
    sm = state.service()
    _catch_up(sm, not no_index)
    if batch is not None:
        for line in batch:
            q = line.rstrip("\n")
            if not q.strip():
                continue
            res = sm.search(q, k=k, kinds=list(kinds) or None)
            click.echo(json.dumps({"query": q, "results": [_result_json(r) for r in res]},
                                  ensure_ascii=False))
            sys.stdout.flush()
        return
    res = sm.search(query, k=k, kinds=list(kinds) or None)
    if as_json:
        click.echo(json.dumps({"query": query, "results": [_result_json(r) for r in res]},
                              ensure_ascii=False))
        return
    if not res:
        click.echo("Nothing found.")
    for i, r in enumerate(res, 1):
        _print_result(i, r)


@click.command("ask")
@click.argument("question", required=False)
@click.option("--chat", "chat_id", type=int, default=None,
              help="Continue chat N (follow-up questions use its history).")
@click.option("--batch", "batch", type=click.File("r", encoding="utf-8"),
              help="Read one question per line from FILE (- for stdin); one JSON line out "
                   "per question, in order (the --json format). No chat is kept.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--no-index", is_flag=True,
              help="Do not embed newly imported items first.")
@click.pass_obj
def ask(state: CliState, question, chat_id, batch, as_json, no_index) -> None:
    """Ask your memory a question; the answer cites the messages it came from."""
    if batch is None and not question:
        raise click.UsageError("give a QUESTION or --batch FILE")
    if batch is not None and (question or chat_id is not None):
        raise click.UsageError("--batch reads the questions from FILE: give no QUESTION "
                               "or --chat with it")
    sm = state.service()
    _catch_up(sm, not no_index)
    if batch is not None:
        _ask_batch(sm, batch)
        return

    def show(piece: str) -> None:
        click.echo(piece, nl=False)
        sys.stdout.flush()

    on_token = None if as_json else show
    a = sm.ask(question, chat_id=chat_id, on_token=on_token)
    if as_json:
        click.echo(json.dumps(_answer_json(a), ensure_ascii=False))
        return
    click.echo("")
    if a.draft_rejected:
        click.echo("(the model's draft was not supported by the sources; instead:)")
        click.echo(a.answer)
    for c in a.citations:
        src = c.sources[0] if c.sources else {}
        if c.kind == "chunk":
            where = f"{src.get('document')}" + (f" p.{src['page']}" if src.get("page") else "")
        else:
            where = f"{c.date or ''} {src.get('speaker') or ''} · {src.get('conversation') or ''}"
        shown = c.quote or c.text
        click.echo(f"  [{c.n}] {where.strip()}: {' '.join(shown.split())[:200]}")
    if a.abstained and a.closest:
        click.echo("Closest memories:")
        for i, r in enumerate(a.closest, 1):
            _print_result(i, r)
    click.echo(f"(chat {a.chat_id})", err=True)


def _ask_batch(sm, batch) -> None:
    """One JSON line per non-empty line of ``batch``, in order, as each is answered."""
    questions = [line.rstrip("\n") for line in batch]
    questions = [q for q in questions if q.strip()]

    def out(_i: int, a) -> None:
        click.echo(json.dumps(_answer_json(a), ensure_ascii=False))
        sys.stdout.flush()

    sm.ask_many(questions, on_answer=out)


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False))
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--no-answers", is_flag=True, help="Only measure retrieval.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def eval_cmd(state: CliState, dataset, k, no_answers, as_json) -> None:
    """Measure recall@k, answer F1, abstention and latency on DATASET.json
    (in a temporary data directory: your memory is not touched)."""
    progress, done = terminal_progress()
    try:
        rep = state.service().evaluate(dataset, k=k, answers=not no_answers,
                                       progress=progress)
    finally:
        done()
    if as_json:
        echo_json(rep)
        return
    click.echo(rep.format_table())

"""How fast are chat exports imported? Messages/s for every chat format, and the
headline: a generated 100,000-message WhatsApp export parsed, stored and keyword-
searchable (target ≤ 15 s on 2 cores).

Each format gets a generated export (WhatsApp 100k messages by default, the others
20k), imported through the service (``SecondMe.import_paths``: detect, parse, store one
transaction per conversation, FTS5 triggers, then the context windows that keyword
search ranks by) into a fresh data directory; the clock
stops after a keyword query over the new messages returns its hits. A baseline is
measured in the same run: inserting the same number of ready-made rows into
``messages`` with multi-row INSERTs (FTS triggers included) — the floor of storing,
without any parsing — and every timing is also given as a ratio to it. The same rows
stored with a naive ``executemany`` are timed too (FTS5 flushes its index after every
statement, so one row per statement is several times slower: why the importer batches).

Writes benchmarks/results/ingest_chats.json.

    python benchmarks/bench_ingest_chats.py [--whatsapp 100000] [--others 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "ingest_chats.json"

WORDS = ("apple river meeting train dinner weekend garden project budget holiday photo "
         "concert birthday coffee museum lisbon rome tickets doctor gym book movie recipe "
         "deadline invoice keys party beach mountain").split()


_PAD = " ".join(WORDS) * 200


def _text(rng: random.Random, i: int) -> str:
    n = rng.randint(3, 18)
    s = " ".join(rng.choice(WORDS) for _ in range(n))
    if i % 50 == 0:
        s += "\n" + " ".join(rng.choice(WORDS) for _ in range(6))   # multi-line
    if i % 97 == 0:
        s += " 🎉"
    return s


def gen_whatsapp(path: Path, n: int, seed: int = 1) -> None:
    """An Android-style export of ``n`` messages over ~3 years, 4 speakers."""
    rng = random.Random(seed)
    t = datetime(2021, 1, 1, 8, 0)
    people = ["Anna", "Ben", "Chloé", "Sam"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("01/01/2021, 08:00 - Messages and calls are end-to-end encrypted. No one "
                "outside of this chat, not even WhatsApp, can read or listen to them.\n")
        for i in range(n - 1):
            t += timedelta(seconds=rng.randint(5, 1800))
            who = rng.choice(people)
            body = "<Media omitted>" if i % 40 == 0 else _text(rng, i)
            f.write(f"{t:%d/%m/%Y, %H:%M} - {who}: {body}\n")


def gen_generic(path: Path, n: int, per: int = 200) -> None:
    rng = random.Random(2)
    t0 = datetime(2022, 1, 1, tzinfo=timezone.utc)
    with open(path, "w", encoding="utf-8") as f:
        for c in range(n // per):
            msgs = [{"id": f"{c}-{i}", "speaker": rng.choice(["Ana", "Ben"]),
                     "timestamp": (t0 + timedelta(minutes=c * per + i)).isoformat(),
                     "text": _text(rng, i)} for i in range(per)]
            f.write(json.dumps({"id": f"conv-{c}", "title": f"Chat {c}",
                                "messages": msgs}) + "\n")


def chatgpt_conversation(c: int, per: int, rng: random.Random, pad: int = 0) -> dict:
    mapping = {"root": {"id": "root", "message": None, "parent": None, "children": ["n0"]}}
    t = 1.7e9 + c * 3600
    prev = "root"
    for i in range(per):
        nid = f"c{c}-n{i}"
        role = "user" if i % 2 == 0 else "assistant"
        text = _text(rng, i)
        if pad and role == "assistant":
            o = rng.randrange(len(_PAD) - pad)
            text += " " + _PAD[o:o + pad]
        mapping[nid] = {"id": nid, "parent": prev, "children": [], "message": {
            "id": nid, "author": {"role": role, "name": None, "metadata": {}},
            "create_time": t + i, "update_time": None,
            "content": {"content_type": "text", "parts": [text]}, "status":
            "finished_successfully", "end_turn": True, "weight": 1.0,
            "metadata": {"model_slug": "gpt-4o"}, "recipient": "all", "channel": None}}
        mapping[prev]["children"].append(nid)
        prev = nid
    return {"title": f"Conversation {c}", "create_time": t, "update_time": t + per,
            "mapping": mapping, "moderation_results": [], "current_node": prev,
            "plugin_ids": None, "conversation_id": f"conv-{c}", "id": f"conv-{c}",
            "default_model_slug": "gpt-4o", "is_archived": False}


def gen_chatgpt(path: Path, n: int, per: int = 40, pad: int = 0, target_bytes: int = 0) -> int:
    """conversations.json with ``n`` messages (or until ``target_bytes``); returns messages."""
    rng = random.Random(3)
    written = msgs = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        c = 0
        while (target_bytes and written < target_bytes) or (not target_bytes and msgs < n):
            s = json.dumps(chatgpt_conversation(c, per, rng, pad), ensure_ascii=False)
            f.write(("," if c else "") + s)
            written += len(s) + 1
            msgs += per
            c += 1
        f.write("]")
    return msgs


def gen_claude(path: Path, n: int, per: int = 40) -> None:
    rng = random.Random(4)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    convs = []
    for c in range(n // per):
        convs.append({"uuid": f"c-{c}", "name": f"Chat {c}", "created_at": t0.isoformat(),
                      "updated_at": t0.isoformat(), "chat_messages": [
                          {"uuid": f"c-{c}-{i}", "text": _text(rng, i),
                           "sender": "human" if i % 2 == 0 else "assistant", "index": i,
                           "created_at": (t0 + timedelta(minutes=c * per + i)).isoformat(),
                           "attachments": [], "files": []} for i in range(per)]})
    path.write_text(json.dumps(convs), encoding="utf-8")


def gen_telegram(path: Path, n: int) -> None:
    rng = random.Random(5)
    t = 1.6e9
    msgs = []
    for i in range(n):
        t += rng.randint(5, 900)
        who = rng.choice([("Olga", "user1"), ("Sam", "user2")])
        text = _text(rng, i) if i % 3 else ["see ", {"type": "link", "text": "https://x.org"},
                                            " " + _text(rng, i)]
        msgs.append({"id": i + 1, "type": "message", "date": "2020-01-01T00:00:00",
                     "date_unixtime": str(int(t)), "from": who[0], "from_id": who[1],
                     "text": text, "text_entities": []})
    path.write_text(json.dumps({"name": "Olga", "type": "personal_chat", "id": 42,
                                "messages": msgs}), encoding="utf-8")


def gen_discord(path: Path, n: int) -> None:
    rng = random.Random(6)
    t0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
    msgs = [{"id": str(10**17 + i), "type": "Default",
             "timestamp": (t0 + timedelta(seconds=37 * i)).isoformat(),
             "content": _text(rng, i), "author": {"id": str(i % 5), "name": f"user{i % 5}",
                                                  "nickname": f"User {i % 5}", "isBot": False},
             "attachments": [], "embeds": [], "stickers": [], "reactions": [],
             "mentions": []} for i in range(n)]
    path.write_text(json.dumps({"guild": {"id": "1", "name": "Guild"},
                                "channel": {"id": "2", "type": "GuildTextChat",
                                            "name": "general"},
                                "dateRange": {}, "messages": msgs, "messageCount": n}),
                    encoding="utf-8")


def gen_slack(path: Path, n: int) -> None:
    rng = random.Random(7)
    users = [{"id": f"U{i}", "name": f"u{i}", "profile": {"display_name": f"User {i}"}}
             for i in range(5)]
    chans = [{"id": f"C{i}", "name": f"chan{i}", "members": ["U0", "U1"]} for i in range(4)]
    per_day = 250
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("users.json", json.dumps(users))
        z.writestr("channels.json", json.dumps(chans))
        t = 1.7e9
        for d in range(n // per_day):
            day = []
            for i in range(per_day):
                t += 30
                day.append({"type": "message", "user": f"U{rng.randint(0, 4)}",
                            "text": f"<@U{i % 5}> " + _text(rng, i), "ts": f"{t:.6f}"})
            day_name = (datetime(2023, 1, 1) + timedelta(days=d)).strftime("%Y-%m-%d")
            z.writestr(f"chan{d % 4}/{day_name}.json", json.dumps(day))


def gen_signal(path: Path, n: int) -> None:
    rng = random.Random(8)
    t = datetime(2022, 1, 1, 8, 0)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "chat.md", "w", encoding="utf-8") as f:
        for i in range(n):
            t += timedelta(seconds=rng.randint(5, 900))
            f.write(f"[{t:%Y-%m-%d %H:%M:%S}] {rng.choice(['Me', 'Jonas'])}: {_text(rng, i)}  \n")


def baseline_seconds(n: int, tmp: Path) -> tuple[float, float]:
    """Insert ``n`` ready-made rows into a fresh store (FTS triggers included), as
    (best, naive): best = multi-row INSERTs (what the importer uses), naive = one
    ``executemany`` (one FTS flush per row)."""
    from secondme.ingest.pipeline import insert_message_rows
    from secondme.store.db import Store

    out = []
    for how in ("best", "naive"):
        store = Store.open(tmp / f"baseline-{how}.db")
        rows = [(1, f"b{i}", i, "Anna", 0, "message", "2024-01-01T00:00:00+00:00", 1.7e9 + i,
                 f"baseline message {i} apple river", None, "[]", f"h{i}") for i in range(n)]
        t0 = time.perf_counter()
        with store.write() as db:
            db.conn.execute("insert into conversations (format, external_id) values ('b', 'b')")
            if how == "best":
                insert_message_rows(db.conn, rows)
            else:
                db.conn.executemany(
                    "insert into messages (conversation_id, external_id, position, speaker, "
                    "is_me, kind, timestamp, ts, text, reply_to, attachments, content_hash) "
                    "values (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        out.append(time.perf_counter() - t0)
        store.close()
    return out[0], out[1]


def import_and_search(path: Path, home: Path) -> dict:
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe

    with SecondMe(home, embedder=HashEmbedder()) as sm:
        t0, c0 = time.perf_counter(), time.process_time()
        rep = sm.import_paths([path], timezone="UTC")
        found = sm.search("apple", k=10, kinds=["message"])  # the app's keyword search
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert found, "the import must be searchable"
        hits = sm.store.conn.execute("select count(*) from messages_fts where messages_fts "
                                     "match 'apple'").fetchone()[0]
    s = rep.sources[0]
    return {"format": s.format, "messages": s.messages_added, "conversations": s.conversations,
            "errors": len(s.errors), "seconds": round(dt, 3), "search_hits": hits,
            "cpu_seconds": round(cpu, 3), "load_average_1min": round(os.getloadavg()[0], 1),
            "messages_per_s": round(s.messages_added / dt)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--whatsapp", type=int, default=100_000)
    ap.add_argument("--others", type=int, default=20_000)
    ap.add_argument("--only", nargs="*", help="formats to run (default: all)")
    args = ap.parse_args()
    out: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "platform": platform.platform()},
                 "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "formats": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        gens = {
            "whatsapp": (lambda p: gen_whatsapp(p, args.whatsapp), "WhatsApp Chat with Team.txt",
                         args.whatsapp),
            "generic": (lambda p: gen_generic(p, args.others), "chats.jsonl", args.others),
            "chatgpt": (lambda p: gen_chatgpt(p, args.others), "conversations.json", args.others),
            "claude": (lambda p: gen_claude(p, args.others), "claude.json", args.others),
            "telegram": (lambda p: gen_telegram(p, args.others), "result.json", args.others),
            "discord": (lambda p: gen_discord(p, args.others), "dce.json", args.others),
            "slack": (lambda p: gen_slack(p, args.others), "slack.zip", args.others),
            "signal": (lambda p: gen_signal(p, args.others), "Jonas", args.others),
        }
        for name, (gen, fname, n) in gens.items():
            if args.only and name not in args.only:
                continue
            p = tmp / name / fname
            p.parent.mkdir(parents=True, exist_ok=True)
            gen(p)
            base, naive = baseline_seconds(n, tmp / name)
            r = import_and_search(p, tmp / name / "home")
            r["baseline_store_seconds"] = round(base, 3)
            r["naive_executemany_store_seconds"] = round(naive, 3)
            r["ratio_to_baseline"] = round(r["seconds"] / base, 2) if base else None
            out["formats"][name] = r
            print(f"{name:9s} {r['messages']:>7d} msgs  {r['seconds']:6.2f} s "
                  f"(cpu {r['cpu_seconds']:.2f} s, load {r['load_average_1min']})  "
                  f"{r['messages_per_s']:>7d} msg/s  (store floor {base:.2f} s, "
                  f"x{r['ratio_to_baseline']}; naive executemany {naive:.2f} s)", flush=True)
    if args.only:  # a partial run never overwrites the full results
        print(json.dumps(out, indent=2))
        return
    wa = out["formats"]["whatsapp"]
    out["headline"] = {"whatsapp_messages": wa["messages"], "seconds": wa["seconds"],
                       "cpu_seconds": wa["cpu_seconds"],
                       "load_average_1min": wa["load_average_1min"],
                       "target_seconds": 15.0, "met": wa["seconds"] <= 15.0}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"WhatsApp {wa['messages']} messages searchable in {wa['seconds']} s "
          f"(target 15 s: {'met' if wa['seconds'] <= 15 else 'NOT met'}) -> {RESULTS}")


if __name__ == "__main__":
    main()

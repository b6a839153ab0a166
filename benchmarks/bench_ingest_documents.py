"""How fast are documents parsed? Markdown notes/s on a generated Obsidian vault of
2,000 notes, PDF pages/s on a generated 200-page PDF, and DOCX/HTML documents/s.

Each timing comes with a baseline measured in the same run on the same input, because
the machine is shared and noisy:

* Markdown: reading and UTF-8-decoding every note (the I/O floor), ratio = parse / read;
* PDF: bare ``pypdf`` text extraction of every page, ratio = ours / pypdf (ours adds
  outline headings, chunking and offsets on top);
* HTML: BeautifulSoup parse + ``get_text()`` of each page, ratio = ours / that;
* DOCX: ``python-docx`` open + every paragraph's ``.text``, ratio = ours / that.

Only the parsers are timed (``secondme.ingest.documents``); storing is the pipeline's.
Writes benchmarks/results/ingest_documents.json.

    python benchmarks/bench_ingest_documents.py [--notes 2000] [--pages 200]
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "ingest_documents.json"

from secondme.ingest.documents import is_document, is_vault, parse_document  # noqa: E402
from secondme.ingest.tree import DirTree, FileTree  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "doc_fixtures", ROOT / "tests" / "fixtures" / "ingest" / "documents" / "make_fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

WORDS = ("garden tomato seed harvest Lyon meeting budget climbing chillies neighbour "
         "recipe bread starter flour water weekend train Zürich project deadline report "
         "idea book chapter friend birthday dinner coffee walk river bike repair").split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"])


def make_vault(folder: Path, n: int, rng: random.Random) -> int:
    (folder / ".obsidian").mkdir(parents=True)
    (folder / ".obsidian" / "app.json").write_text("{}")
    names = [f"Note {i:04d}" for i in range(n)]
    total = 0
    for i, name in enumerate(names):
        sub = folder / f"area{i % 10}"
        sub.mkdir(exist_ok=True)
        parts = [
            "---",
            f"tags: [{rng.choice(WORDS)}, area/{i % 10}]",
            f"aliases: [N{i}]",
            f"created: 2023-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+01:00",
            "---",
            f"# {name}",
            "",
        ]
        for h in range(rng.randint(1, 4)):
            parts.append(f"## Section {h}")
            parts.append("")
            for _ in range(rng.randint(1, 4)):
                para = " ".join(sentence(rng) for _ in range(rng.randint(1, 6)))
                para += f" See [[{rng.choice(names)}]] and [[{rng.choice(names)}|this]]."
                para += f" #{rng.choice(WORDS)} #nested/{rng.choice(WORDS)}"
                parts.append(para)
                parts.append("")
            if rng.random() < 0.2:
                parts += ["```python", "# code #notatag [[notalink]]", "print(1)", "```", ""]
        data = "\n".join(parts).encode("utf-8")
        total += len(data)
        (sub / f"{name}.md").write_bytes(data)
    return total


def bench_markdown(n: int, rng: random.Random) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "vault"
        size = make_vault(folder, n, rng)
        tree = DirTree(folder)
        files = tree.files()

        t0 = time.perf_counter()
        for rel in files:
            tree.read_bytes(rel).decode("utf-8")
        read_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        vault = is_vault(tree)
        docs = [parse_document(tree, rel) for rel in files if is_document(tree, rel)]
        parse_s = time.perf_counter() - t0
    chunks = sum(len(d.chunks) for d in docs)
    links = sum(len(d.links) for d in docs)
    return {"notes": len(docs), "bytes": size, "is_vault": vault, "chunks": chunks,
            "links": links, "seconds": round(parse_s, 3),
            "notes_per_s": round(len(docs) / parse_s, 1),
            "mb_per_s": round(size / parse_s / 1e6, 2),
            "baseline_read_decode_s": round(read_s, 3),
            "ratio_to_read_decode": round(parse_s / read_s, 1)}


def bench_pdf(pages: int, rng: random.Random) -> dict:
    page_lines = []
    for i in range(pages):
        lines = [f"Chapter {i // 10 + 1}, page {i + 1}", ""]
        for _ in range(40):
            lines.append(" ".join(rng.choice(WORDS) for _ in range(11)))
            if rng.random() < 0.15:
                lines.append("")
        page_lines.append(lines)
    raw = fixtures.pdf_bytes(page_lines, title="Benchmark book")
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "book.pdf"
        p.write_bytes(raw)

        from pypdf import PdfReader

        def baseline():
            for page in PdfReader(io.BytesIO(raw)).pages:
                page.extract_text()

        # best of two runs each, interleaved, so warm-up and neighbours' load even out
        base_s, ours_s = float("inf"), float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            baseline()
            base_s = min(base_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            doc = parse_document(FileTree(p), p.name)
            ours_s = min(ours_s, time.perf_counter() - t0)
    assert doc.metadata["pages"] == pages
    return {"pages": pages, "bytes": len(raw), "chunks": len(doc.chunks),
            "seconds": round(ours_s, 3), "pages_per_s": round(pages / ours_s, 1),
            "baseline_pypdf_extract_s": round(base_s, 3),
            "baseline_pages_per_s": round(pages / base_s, 1),
            "ratio_to_pypdf": round(ours_s / base_s, 2)}


def bench_html(n: int, rng: random.Random) -> dict:
    pages = []
    for i in range(n):
        body = [f"<nav>{' '.join('<a href=#>x</a>' for _ in range(30))}</nav><main>",
                f"<h1>Article {i}</h1>"]
        for h in range(5):
            body.append(f"<h2>Part {h}</h2>")
            for _ in range(4):
                body.append("<p>" + " ".join(sentence(rng) for _ in range(4)) + "</p>")
            body.append("<ul>" + "".join(f"<li>{sentence(rng)}</li>" for _ in range(5)) + "</ul>")
        body.append("</main><script>var x = 1;</script>")
        pages.append(("<html><head><meta charset=utf-8><title>Page</title></head><body>"
                      + "".join(body) + "</body></html>").encode())
    from bs4 import BeautifulSoup

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, raw in enumerate(pages):
            (folder / f"p{i}.html").write_bytes(raw)
        t0 = time.perf_counter()
        for raw in pages:
            BeautifulSoup(raw.decode(), "html.parser").get_text()
        base_s = time.perf_counter() - t0
        tree = DirTree(folder)
        t0 = time.perf_counter()
        docs = [parse_document(tree, rel) for rel in tree.files()]
        ours_s = time.perf_counter() - t0
    return {"documents": len(docs), "chunks": sum(len(d.chunks) for d in docs),
            "seconds": round(ours_s, 3), "documents_per_s": round(len(docs) / ours_s, 1),
            "baseline_bs4_get_text_s": round(base_s, 3),
            "ratio_to_bs4_get_text": round(ours_s / base_s, 2)}


def bench_docx(n: int, rng: random.Random) -> dict:
    import docx

    d = docx.Document()
    for h in range(20):
        d.add_heading(f"Heading {h}", level=1 + h % 3)
        for _ in range(10):
            d.add_paragraph(" ".join(sentence(rng) for _ in range(3)))
        t = d.add_table(rows=5, cols=4)
        for row in t.rows:
            for cell in row.cells:
                cell.text = rng.choice(WORDS)
    buf = io.BytesIO()
    d.save(buf)
    raw = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "doc.docx"
        p.write_bytes(raw)
        t0 = time.perf_counter()
        for _ in range(n):
            [para.text for para in docx.Document(io.BytesIO(raw)).paragraphs]
        base_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n):
            doc = parse_document(FileTree(p), p.name)
        ours_s = time.perf_counter() - t0
    return {"documents": n, "paragraphs_each": 220, "chunks_each": len(doc.chunks),
            "seconds": round(ours_s, 3), "documents_per_s": round(n / ours_s, 1),
            "baseline_python_docx_text_s": round(base_s, 3),
            "ratio_to_python_docx_text": round(ours_s / base_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notes", type=int, default=2000)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--html", type=int, default=200)
    ap.add_argument("--docx", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(42)
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "markdown_vault": bench_markdown(args.notes, rng),
        "pdf": bench_pdf(args.pages, rng),
        "html": bench_html(args.html, rng),
        "docx": bench_docx(args.docx, rng),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    md, pdf, html, dx = (result[k] for k in ("markdown_vault", "pdf", "html", "docx"))
    print(f"markdown: {md['notes']} notes in {md['seconds']} s = {md['notes_per_s']} notes/s "
          f"({md['mb_per_s']} MB/s, {md['chunks']} chunks, {md['links']} links; "
          f"{md['ratio_to_read_decode']}x reading+decoding)")
    print(f"pdf:      {pdf['pages']} pages in {pdf['seconds']} s = {pdf['pages_per_s']} pages/s "
          f"({pdf['ratio_to_pypdf']}x bare pypdf extraction)")
    print(f"html:     {html['documents']} pages in {html['seconds']} s = "
          f"{html['documents_per_s']} documents/s ({html['ratio_to_bs4_get_text']}x bs4 get_text)")
    print(f"docx:     {dx['documents']} documents in {dx['seconds']} s = "
          f"{dx['documents_per_s']} documents/s ({dx['ratio_to_python_docx_text']}x python-docx)")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

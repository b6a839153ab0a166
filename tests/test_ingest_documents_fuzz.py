"""Property-based fuzzing of the document parsers: whatever the bytes, a parser returns
a Document that keeps the offset contract, or raises a SecondMeError — nothing else."""
from __future__ import annotations

import io
import os
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secondme.errors import SecondMeError
from secondme.ingest.documents import is_document, looks_like_chat_export, parse_document
from secondme.ingest.model import Document
from secondme.ingest.text import MAX_CHUNK_CHARS, Block, chunk_blocks, normalize_text, split_span
from secondme.ingest.tree import Tree

# SECONDME_FUZZ_EXAMPLES=5000 for a long run; the default keeps the suite quick.
FUZZ = settings(max_examples=int(os.environ.get("SECONDME_FUZZ_EXAMPLES", "150")),
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class MemTree(Tree):
    """One file in memory."""

    def __init__(self, name: str, raw: bytes):
        self.name, self.raw, self.label = name, raw, "mem"

    def files(self):
        return [self.name]

    def open(self, rel):
        return io.BytesIO(self.raw)

    def size(self, rel):
        return len(self.raw)

    def display(self, rel):
        return f"mem/{rel}"


def parse(name: str, raw: bytes):
    tree = MemTree(name, raw)
    is_document(tree, name)  # must not raise either
    try:
        doc = parse_document(tree, name)
    except SecondMeError as e:
        assert e.path == f"mem/{name}"
        return None
    assert isinstance(doc, Document)
    last = 0
    for c in doc.chunks:
        assert doc.text[c.char_start:c.char_end] == c.text
        assert c.text and len(c.text) <= MAX_CHUNK_CHARS
        assert c.char_start >= last
        last = c.char_end
    for link in doc.links:
        assert link.target
    if doc.format == "markdown":
        assert isinstance(doc.metadata["tags"], list)
        assert all(isinstance(t, str) and t for t in doc.metadata["tags"])
        import json

        json.dumps(doc.metadata)  # front matter must be JSON-safe
    return doc


# Markdown made of the pieces that matter to the parser, so the fuzzer reaches the
# interesting states (front matter, fences, headings, links, tags) quickly.
PIECES = st.sampled_from([
    "---\n", "title: x\n", "tags: [a, '#b/c']\n", "aliases: q, r\n", "date: 2024-02-30\n",
    "created: 1700000000\n", "a: &x [*x]\n", "- 1\n", ": : :\n", "...\n",
    "# ", "## ", "###### ", "#tag ", "#a/b/ ", "#123 ", "C# ", "x#y ", "\n", "\n\n", "\r\n",
    "```\n", "```py\n", "~~~\n", "`code #t [[l]]`", "[[", "]]", "[[Note|alias]]",
    "[[Note#Head]]", "![[img.png]]", "[[#Local]]", "[[\\|]]", "|", "[t](a%20b.md#h)",
    "[t](<x y.md>)", "[u](https://x.md)", "===\n", "---", "- item\n", "> quote\n",
    "<!-- c -->", "%% c %%", "é", "😀", "\u200f", "\u2028", "\x00", "\x0c", "\t",
    "word ", "Sentence one. ", "Another? ", "。", " " * 5, "A" * 700,
])
markdown_text = st.lists(PIECES, max_size=60).map("".join)


@FUZZ
@given(markdown_text)
def test_markdown_pieces(text):
    parse("note.md", text.encode("utf-8"))


@FUZZ
@given(st.text(max_size=3000))
def test_markdown_any_text(text):
    parse("note.md", text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=3000))
def test_markdown_and_text_any_bytes(raw):
    parse("note.md", raw)
    parse("note.txt", raw)
    looks_like_chat_export(raw)


@FUZZ
@given(st.text(max_size=3000), st.sampled_from(["utf-8", "utf-16", "utf-16-le", "cp1252",
                                                "latin-1", "utf-32"]))
def test_text_in_any_encoding(text, encoding):
    raw = text.encode(encoding, "replace")
    doc = parse("note.txt", raw)
    if encoding in ("utf-8", "utf-16", "utf-32") and "\x00" not in text:
        # with a BOM, or valid UTF-8, the text comes back exactly (newlines normalised)
        assert doc is not None and doc.text == normalize_text(text)


HTML_PIECES = st.sampled_from([
    "<html>", "</html>", "<head>", "<title>", "</title>", "<body>", "<p>", "</p>", "<br>",
    "<h1>", "</h1>", "<h3>", "</h3>", "<table>", "<tr>", "<td>", "</td>", "</table>", "<pre>",
    "</pre>", "<script>", "</script>", "<style>", "<nav>", "</nav>", "<main>", "</main>",
    "<div hidden>", "</div>", "<ul><li>", "<!--", "-->", "<![CDATA[", "]]>", "<?xml ?>",
    "<!DOCTYPE html>", "<meta charset='latin-1'>", "<meta charset=bogus>", "&amp;", "&#0;",
    "&#xD800;", "<a href='#x'>", "text ", "é", "\x00", "<", ">", "\"", "'", "<<<",
    "<p style='display:none'>", "<svg><text>", "</svg>", "<math>", "<form>",
])
html_text = st.lists(HTML_PIECES, max_size=80).map("".join)


@FUZZ
@given(html_text)
def test_html_pieces(text):
    parse("page.html", text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=2000))
def test_html_any_bytes(raw):
    parse("page.html", raw)


def test_deeply_nested_html_and_markdown():
    parse("deep.html", ("<div>" * 5000 + "deep text" + "</div>" * 5000).encode())
    parse("deep.html", ("<table><tr><td>" * 400 + "cell").encode())
    parse("deep.md", ("> " * 3000 + "quote\n" + "[" * 5000 + "]" * 5000).encode())
    parse("deep.md", ("---\na: " + "[" * 3000 + "\n---\nbody\n").encode())


@FUZZ
@given(st.binary(max_size=1500))
def test_pdf_and_docx_any_bytes(raw):
    parse("file.pdf", b"%PDF-1.4\n" + raw)
    parse("file.pdf", raw)
    parse("file.docx", raw)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=400), st.integers(min_value=0, max_value=10**6))
def test_docx_with_damaged_parts(junk, where):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.'
                   'org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
                   'schemas.openxmlformats.org/officeDocument/2006/relationships/'
                   'officeDocument" Target="word/document.xml"/></Relationships>')
        body = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
                b'2006/main"><w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body>'
                b'</w:document>')
        cut = where % (len(body) + 1)
        z.writestr("word/document.xml", body[:cut] + junk + body[cut:])
    parse("file.docx", buf.getvalue())


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab .!?\n\t。」x")), max_size=4000),
       st.integers(min_value=5, max_value=300))
def test_split_and_chunk_invariants(text, max_chars):
    for s, e in split_span(text, 0, len(text), max_chars):
        assert 0 < e - s <= max_chars
        assert text[s:e] == text[s:e].strip()
    blocks = [Block(0, len(text) // 2), Block(len(text) // 2, len(text), heading="H")]
    chunks = chunk_blocks(text, blocks, max_chars)
    assert "".join(text.split()) == "".join("".join(c.text for c in chunks).split())
    for c in chunks:
        assert text[c.char_start:c.char_end] == c.text and len(c.text) <= max_chars

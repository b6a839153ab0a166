"""Document import: Markdown/Obsidian vaults, text, PDF, DOCX, HTML → Documents whose
chunks carry page, heading path and offsets a citation can highlight."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from secondme.errors import ImportFormatError, SecondMeError
from secondme.ingest.documents import (
    DOCUMENT_EXTENSIONS,
    is_document,
    is_vault,
    looks_like_chat_export,
    parse_document,
)
from secondme.ingest.obsidian import resolve_link
from secondme.ingest.text import MAX_CHUNK_CHARS, decode_bytes
from secondme.ingest.tree import DirTree, FileTree, SubTree, ZipTree, open_tree

DOCS = Path(__file__).resolve().parent / "fixtures" / "ingest" / "documents"
VAULT = DOCS / "vault"

_spec = importlib.util.spec_from_file_location("doc_fixtures", DOCS / "make_fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


def parse_file(path: Path):
    return parse_document(FileTree(path), path.name)


def check_offsets(doc):
    """The contract every parser keeps: chunk text is the document text sliced by the
    chunk's offsets; chunks are in order, do not overlap, and are of reader size."""
    last_end = 0
    for c in doc.chunks:
        assert doc.text[c.char_start:c.char_end] == c.text
        assert c.text == c.text.strip() and c.text
        assert c.char_start >= last_end
        assert len(c.text) <= MAX_CHUNK_CHARS
        last_end = c.char_end


def chunk_with(doc, needle):
    found = [c for c in doc.chunks if needle in c.text]
    assert found, f"{needle!r} not in any chunk of {doc.path}"
    return found[0]


# --------------------------------------------------------------------------- interface

def test_document_extensions():
    assert {".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm"} <= DOCUMENT_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in DOCUMENT_EXTENSIONS)
    assert ".json" not in DOCUMENT_EXTENSIONS


def test_is_document_by_extension_and_content():
    tree = DirTree(DOCS)
    assert is_document(tree, "report.pdf")
    assert is_document(tree, "notes.docx")
    assert is_document(tree, "page.html")
    assert is_document(tree, "journal.txt")      # starts with a date, but not chat lines
    assert is_document(tree, "latin1.txt")
    assert is_document(tree, "utf16.txt")
    assert is_document(tree, "empty.txt")
    assert not is_document(tree, "make_fixtures.py")
    assert not is_document(tree, "vault/attachments/bed-7.png")
    # chat exports named .txt/.md belong to the chat parsers
    assert not is_document(tree, "whatsapp_chat.txt")
    assert not is_document(tree, "whatsapp_android.txt")
    assert not is_document(tree, "signal_chat.md")


@pytest.mark.parametrize("head", [
    "\u200e[12/31/23, 9:41:05\u202fPM] Amélie: Happy new year\n"
    "[12/31/23, 9:42:00\u202fPM] Jo: ok\n",
    "[31.12.23, 21:41:05] Amélie: Frohes neues Jahr\n[31.12.23, 21:42:05] Jo: Danke\n",
    "12/31/23, 21:41 - Amélie: hi\n12/31/23, 21:42 - Jo: hey\n",
    "31/12/2023, 21:41 - Messages and calls are end-to-end encrypted.\n"
    "31/12/2023, 21:41 - Amélie: hi\n",
    "[2024-01-02 10:00] Amélie: hi\n[2024-01-02 10:01] Me: hello\n",
    "\n\n[2024-01-02 10:00:59] Amélie: hi\n",
])
def test_chat_export_heads_are_recognised(head):
    assert looks_like_chat_export(head.encode("utf-8"))
    assert looks_like_chat_export(head.encode("utf-16"))


@pytest.mark.parametrize("head", [
    "# Meeting 2024-01-02 10:00\n\nAlice: said hi\n",
    "2024-01-02\n\nWent to the garden at 3pm. Note: bring seeds.\n",
    "Shopping list:\n- eggs\n- milk\n",
    "[2024-01-02 10:00]\nno name here\n",
    "",
])
def test_ordinary_text_is_not_a_chat_export(head):
    assert not looks_like_chat_export(head.encode("utf-8"))


def test_unsupported_extension_is_refused(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ImportFormatError) as e:
        parse_file(p)
    assert str(p) in str(e.value) and "not a supported document type" in str(e.value)


# --------------------------------------------------------------------------- Obsidian

def test_vault_detection_folder_zip_and_heuristic(tmp_path):
    assert is_vault(DirTree(VAULT))
    assert not is_vault(DirTree(DOCS))                  # mixed files, no .obsidian
    assert not is_vault(FileTree(VAULT / "Home.md"))

    # a ZIP of the vault folder (top folder inside), and of its contents
    z1 = tmp_path / "vault.zip"
    with zipfile.ZipFile(z1, "w") as z:
        for f in sorted(VAULT.rglob("*")):
            if f.is_file():
                z.write(f, "MyVault/" + f.relative_to(VAULT).as_posix())
    with ZipTree(z1) as tree:
        assert is_vault(tree)
        assert is_vault(SubTree(tree, "MyVault"))
        assert not any(".obsidian" in n or ".trash" in n for n in tree.files())

    # no .obsidian, but mostly notes that link to each other
    plain = tmp_path / "notes"
    plain.mkdir()
    for i in range(6):
        (plain / f"n{i}.md").write_text(f"# N{i}\n\nSee [[n{(i + 1) % 6}]].\n")
    assert is_vault(DirTree(plain))
    unlinked = tmp_path / "unlinked"
    unlinked.mkdir()
    for i in range(6):
        (unlinked / f"n{i}.md").write_text(f"# N{i}\n\nJust text.\n")
    assert not is_vault(DirTree(unlinked))


def test_vault_notes_trash_and_config_are_skipped():
    tree = DirTree(VAULT)
    docs = [rel for rel in tree.files() if is_document(tree, rel)]
    assert "Home.md" in docs and "People/Amélie Durand.md" in docs
    assert not any(r.startswith((".obsidian", ".trash")) for r in docs)
    assert "attachments/bed-7.png" not in docs


def test_wikilinks_of_all_four_kinds():
    doc = parse_document(DirTree(VAULT), "Home.md")
    links = [(l.target, l.heading, l.alias, l.embed) for l in doc.links]
    assert ("Projects/Garden", "", "", False) in links           # [[Note]] (with folder)
    assert ("Amélie Durand", "", "Amélie", False) in links       # [[Note|alias]]
    assert ("Garden", "Harvest 2023", "", False) in links         # [[Note#Heading]]
    assert ("Garden", "Bed plan", "", True) in links              # ![[embed#Heading]]
    assert doc.format == "markdown" and doc.title == "Home"
    assert doc.metadata["tags"] == ["index", "meta/dashboard"]
    check_offsets(doc)


def test_links_and_tags_not_taken_from_code_urls_or_numbers():
    doc = parse_document(DirTree(VAULT), "Projects/Garden.md")
    targets = [l.target for l in doc.links]
    assert "Not a link" not in targets
    assert ("Amélie Durand", "Amélie") in [(l.target, l.alias) for l in doc.links]  # \| in a table
    assert ("attachments/bed-7.png", True) in [(l.target, l.embed) for l in doc.links]
    tags = doc.metadata["tags"]
    assert tags == ["project", "garden/vegetables", "harvest"]
    for bad in ("not-a-tag", "also-not-a-tag", "watering", "42"):
        assert bad not in tags
    # the fenced code block is still text (searchable), just not a heading
    bed = chunk_with(doc, "crontab -e")
    assert bed.heading == "Bed plan"
    assert "# watering schedule" in bed.text


def test_front_matter_title_tags_aliases_and_dates():
    tree = DirTree(VAULT)
    garden = parse_document(tree, "Projects/Garden.md")
    assert garden.title == "Community garden"          # front matter beats the file name
    assert garden.metadata["front_matter"]["status"] == "active"
    assert "title:" not in " ".join(c.text for c in garden.chunks)  # front matter not chunked

    amelie = parse_document(tree, "People/Amélie Durand.md")
    assert amelie.title == "Amélie Durand"
    assert amelie.metadata["aliases"] == ["Amélie", "Amy"]
    assert amelie.metadata["tags"] == ["person", "friends/lyon", "food/dislikes"]
    assert amelie.created_at == datetime(2023, 5, 14, 18, 20, tzinfo=timezone(timedelta(hours=2)))
    assert amelie.created_at.tzinfo is not None
    assert amelie.modified_at.date().isoformat() == "2024-03-02"
    assert amelie.modified_at.tzinfo is not None
    assert amelie.metadata["front_matter"]["birthday"] == "1991-07-08"  # JSON-safe

    jonas = parse_document(tree, "Jonas Weber.md")
    assert jonas.metadata["aliases"] == ["Jonas", "J.W."]     # comma separated string
    assert jonas.metadata["tags"] == ["person", "friends"]
    assert jonas.title == "Jonas Weber"                       # no title, no H1: file stem


def test_heading_paths_and_title_from_first_h1():
    doc = parse_document(DirTree(VAULT), "Daily/2024-03-02.md")
    assert doc.title == "Saturday 2 March 2024"
    garden = chunk_with(doc, "Sowed tomatoes")
    assert garden.heading == "Saturday 2 March 2024 > Garden"
    assert garden.text.startswith("# Saturday 2 March 2024\n\n## Garden")  # headings travel
    evening = chunk_with(doc, "moving to Zürich")
    assert evening.heading == "Saturday 2 March 2024 > Evening"
    assert doc.metadata["tags"] == ["daily", "garden/vegetables", "seeds", "people/jonas"]
    assert doc.created_at.date().isoformat() == "2024-03-02"
    check_offsets(doc)


def test_links_in_front_matter_properties(tmp_path):
    p = tmp_path / "Child.md"
    p.write_text('---\nup: "[[Parent note]]"\npeople: ["[[Amélie Durand|Amy]]"]\n---\n'
                 "Body with [[Other]].\n", encoding="utf-8")
    doc = parse_file(p)
    assert [(l.target, l.alias) for l in doc.links] == [
        ("Parent note", ""), ("Amélie Durand", "Amy"), ("Other", "")]
    assert doc.metadata["front_matter"]["up"] == "[[Parent note]]"


def test_pdf_ligatures_become_letters(tmp_path):
    from secondme.ingest.pdf import _TYPOGRAPHY

    assert "\ufb01nd the o\ufb03ce".translate(_TYPOGRAPHY) == "find the office"
    assert "co\u00adoperate".translate(_TYPOGRAPHY) == "cooperate"


def test_markdown_links_to_notes_are_links_too():
    doc = parse_document(DirTree(VAULT), "Reading/Books.md")
    links = [(l.target, l.heading, l.alias) for l in doc.links]
    assert ("Projects/Garden", "Harvest 2023", "garden notes") in links
    assert ("Home", "", "home page") in links
    assert not any("example.com" in t for t, _, _ in links)


def test_broken_front_matter_keeps_the_note_and_reports_it():
    doc = parse_document(DirTree(VAULT), "Inbox/Broken properties.md")
    assert doc.metadata["problems"][0]["position"] == "line 3"
    assert "not valid YAML" in doc.metadata["problems"][0]["problem"]
    assert "\r" not in doc.text                              # CRLF normalised
    assert chunk_with(doc, "The chain was replaced on Sunday.").heading == ""
    check_offsets(doc)


def test_empty_note_is_a_document_without_chunks():
    doc = parse_document(DirTree(VAULT), "Inbox/Untitled.md")
    assert doc.title == "Untitled" and doc.chunks == [] and doc.text == ""
    assert doc.content_hash == hashlib.sha256(b"").hexdigest()


def test_every_vault_note_keeps_the_offset_contract():
    tree = DirTree(VAULT)
    for rel in tree.files():
        if is_document(tree, rel):
            check_offsets(parse_document(tree, rel))


def test_resolve_link_like_obsidian():
    paths = ["Home.md", "Projects/Garden.md", "Archive/2022/Garden.md", "People/Amélie Durand.md",
             "attachments/bed-7.png"]
    assert resolve_link("Garden", paths) == "Projects/Garden.md"          # shortest path
    assert resolve_link("Archive/2022/Garden", paths) == "Archive/2022/Garden.md"
    assert resolve_link("amélie durand", paths) == "People/Amélie Durand.md"
    assert resolve_link("Home.md", paths) == "Home.md"
    assert resolve_link("bed-7.png", paths) == "attachments/bed-7.png"
    assert resolve_link("Missing", paths) is None
    assert resolve_link("", paths) is None


def test_markdown_syntax_details(tmp_path):
    p = tmp_path / "syntax.md"
    p.write_text(
        "Title Here\n==========\n\nIntro text.\n\n"
        "Second level\n------------\n\nMore text.\n\n"
        "### Third ###\n\nDeep text with #tag/sub and C# and a#b.\n\n"
        "- item one\n---\n\n"
        "~~~\n# fenced\n[[no]]\n~~~\n\n"
        "<!-- [[hidden]] #hidden -->\n%% #obsidian-comment %%\n"
        "#Heading-like-tag at line start\n\n"
        "# \n\nAfter an empty heading.\n", encoding="utf-8")
    doc = parse_file(p)
    assert doc.title == "Title Here"
    assert chunk_with(doc, "Intro text.").heading == "Title Here"
    assert chunk_with(doc, "More text.").heading == "Title Here > Second level"
    assert chunk_with(doc, "Deep text").heading == "Title Here > Second level > Third"
    assert chunk_with(doc, "# fenced").heading == "Title Here > Second level > Third"
    assert doc.metadata["tags"] == ["tag/sub", "Heading-like-tag"]
    assert [l.target for l in doc.links] == []
    check_offsets(doc)


def test_long_sections_split_at_paragraphs_and_sentences_never_mid_word(tmp_path):
    sentence = "The committee discussed the allotment rules for a long time. "
    paras = [f"Paragraph {i}. " + sentence * (3 + i % 9) for i in range(40)]
    body = "# Minutes\n\n## Discussion\n\n" + "\n\n".join(paras) + "\n"
    p = tmp_path / "minutes.md"
    p.write_text(body, encoding="utf-8")
    doc = parse_file(p)
    check_offsets(doc)
    assert len(doc.chunks) > 5
    for c in doc.chunks:
        assert c.heading == "Minutes > Discussion"
        before = doc.text[c.char_start - 1] if c.char_start else " "
        after = doc.text[c.char_end] if c.char_end < len(doc.text) else " "
        assert before.isspace() and after.isspace()              # never mid-word
        assert c.text.endswith(".")                               # ends at a sentence end
    # small paragraphs are packed together, not one chunk each
    assert len(doc.chunks) < len(paras)
    # all the words are there, in order
    assert " ".join(" ".join(c.text for c in doc.chunks).split()).count("Paragraph") == 40


def test_huge_single_paragraph_file(tmp_path):
    words = [f"word{i}" for i in range(300_000)]
    text = " ".join(words)                                   # ~2.7 MB, no newline at all
    p = tmp_path / "huge.txt"
    p.write_text(text)
    t0 = time.perf_counter()
    doc = parse_file(p)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20
    check_offsets(doc)
    assert " ".join(c.text for c in doc.chunks).split() == words   # nothing lost or cut
    assert len(doc.chunks) >= len(text) // MAX_CHUNK_CHARS


def test_a_word_longer_than_a_chunk_is_cut(tmp_path):
    blob = "A" * 5000
    p = tmp_path / "blob.md"
    p.write_text(f"# Key\n\nkey: {blob} end\n")
    doc = parse_file(p)
    check_offsets(doc)
    assert "".join(c.text for c in doc.chunks).count("A") == 5000


# --------------------------------------------------------------------------- text

def test_latin1_and_utf16_text_files():
    latin = parse_file(DOCS / "latin1.txt")
    assert latin.format == "text"
    assert latin.metadata["encoding"] == "cp1252"
    assert latin.chunks[0].text.startswith("Café au lait à Genève")
    assert "3,50 €" in latin.text and "crêpes" in latin.text
    utf16 = parse_file(DOCS / "utf16.txt")
    assert utf16.metadata["encoding"].startswith("utf-16")
    assert utf16.text.startswith("Grüße aus München")
    check_offsets(latin)
    check_offsets(utf16)


def test_encodings_without_bom_and_legacy(tmp_path):
    cases = {
        "bom8.txt": "\ufeffÉté à Paris\n".encode("utf-8"),
        "le.txt": "Grüße aus Köln, schöne Stadt.\n".encode("utf-16-le"),
        "be.txt": "Grüße aus Köln, schöne Stadt.\n".encode("utf-16-be"),
        "ru.txt": "Привет, как дела? Это тестовый файл на русском языке.\n".encode("cp1251"),
        "pl.txt": "Zażółć gęślą jaźń. Wszystko w porządku, dziękuję bardzo.\n".encode("cp1250"),
    }
    expect = {"bom8.txt": "Été à Paris", "le.txt": "Grüße aus Köln",
              "be.txt": "Grüße aus Köln", "ru.txt": "Привет, как дела?",
              "pl.txt": "Zażółć gęślą jaźń."}
    for name, raw in cases.items():
        p = tmp_path / name
        p.write_bytes(raw)
        doc = parse_file(p)
        assert doc.text.startswith(expect[name]), (name, doc.text[:40])


def test_binary_file_named_txt_is_refused_with_position(tmp_path):
    p = tmp_path / "photo.txt"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 3)
    with pytest.raises(ImportFormatError) as e:
        parse_file(p)
    assert e.value.path == str(p)
    assert e.value.position == "byte 8"
    assert "binary" in str(e.value)


def test_bad_utf16_bom_file(tmp_path):
    p = tmp_path / "odd.txt"
    p.write_bytes(b"\xff\xfeA\x00\x00\xd8")  # BOM, 'A', then a lone surrogate
    with pytest.raises(ImportFormatError) as e:
        parse_file(p)
    assert e.value.position.startswith("byte")


def test_empty_text_file():
    doc = parse_file(DOCS / "empty.txt")
    assert doc.chunks == [] and doc.title == "empty"


def test_decode_bytes_prefers_western_for_latin1():
    text, enc = decode_bytes("Le garçon a payé. Noël à Genève.".encode("latin-1"), "x")
    assert text == "Le garçon a payé. Noël à Genève." and enc == "cp1252"


# --------------------------------------------------------------------------- PDF

def test_pdf_pages_headings_and_offsets():
    doc = parse_file(DOCS / "report.pdf")
    assert doc.format == "pdf"
    assert doc.title == "Annual Garden Report 2023"
    assert doc.metadata["pages"] == 3
    assert doc.created_at == datetime(2023, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    check_offsets(doc)
    intro = chunk_with(doc, "community garden in Lyon")
    assert intro.page == 1 and intro.heading == "Introduction"
    assert "Amélie" in chunk_with(doc, "tomatoes were planted").text     # WinAnsi accents
    harvest = chunk_with(doc, "212 kilograms")
    assert harvest.page == 2 and harvest.heading == "Harvest"
    pests = chunk_with(doc, "Slugs ate most of the lettuce")
    assert pests.page == 2 and pests.heading == "Harvest > Pests"         # mid-page section
    money = chunk_with(doc, "Crédit Agricole grant")
    assert money.page == 3 and money.heading == "Finances"
    # a chunk never spans pages: each page's text lies between its chunks' offsets
    for c in doc.chunks:
        assert "\n\n" not in c.text or c.page is not None
    pages = {c.page for c in doc.chunks}
    assert pages == {1, 2, 3}


def test_pdf_many_pages_without_outline(tmp_path):
    pages = [[f"Page marker {i + 1} zebra{i + 1}", "",
              "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6] for i in range(12)]
    p = tmp_path / "long.pdf"
    p.write_bytes(fixtures.pdf_bytes(pages))
    doc = parse_file(p)
    check_offsets(doc)
    for i in range(12):
        c = next(c for c in doc.chunks if f"zebra{i + 1}" in c.text.split())
        assert c.page == i + 1 and c.heading == ""
    assert doc.title == "long"


def test_scanned_pdf_says_no_text_layer():
    with pytest.raises(ImportFormatError) as e:
        parse_file(DOCS / "scanned.pdf")
    msg = str(e.value)
    assert e.value.position == "pages 1-2"
    assert str(DOCS / "scanned.pdf") in msg
    assert "no text layer" in msg and "OCR is not supported" in msg


def test_partly_scanned_pdf_imports_text_pages_and_lists_the_scans(tmp_path):
    p = tmp_path / "mixed.pdf"
    p.write_bytes(fixtures.pdf_bytes([["Typed cover letter about the lease."], ["scan"],
                                      ["Typed appendix with the rent table."]],
                                     image_pages=(1,)))
    doc = parse_file(p)
    assert {c.page for c in doc.chunks} == {1, 3}
    assert doc.metadata["problems"] == [{
        "position": "page 2",
        "problem": "no text layer (scanned?); OCR is not supported, so these pages are "
                   "not searchable"}]


def test_encrypted_pdf_is_refused_and_owner_only_pdf_imports():
    with pytest.raises(ImportFormatError) as e:
        parse_file(DOCS / "encrypted.pdf")
    assert "password-protected" in str(e.value) and "encrypted.pdf" in str(e.value)
    doc = parse_file(DOCS / "owner_only.pdf")
    assert "treasure is buried" in doc.chunks[0].text


@pytest.mark.parametrize("name", ["truncated.pdf", "garbage.pdf"])
def test_broken_pdf_names_the_file(name):
    with pytest.raises(ImportFormatError) as e:
        parse_file(DOCS / name)
    assert str(DOCS / name) in str(e.value)
    assert "PDF" in str(e.value)


def test_truncated_pdf_says_so_and_where_it_ends():
    size = (DOCS / "truncated.pdf").stat().st_size
    with pytest.raises(ImportFormatError) as e:
        parse_file(DOCS / "truncated.pdf")
    assert "truncated PDF" in str(e.value)
    assert e.value.position == f"byte {size}"


def test_damaged_pdf_with_an_end_marker(tmp_path):
    p = tmp_path / "damaged.pdf"
    p.write_bytes(b"%PDF-1.4\n" + b"garbage " * 200 + b"\n%%EOF\n")
    with pytest.raises(ImportFormatError, match="damaged PDF"):
        parse_file(p)


def test_pdf_cut_anywhere_gives_a_document_or_an_import_error(tmp_path):
    raw = (DOCS / "report.pdf").read_bytes()
    p = tmp_path / "cut.pdf"
    outcomes = set()
    for cut in range(0, len(raw), max(1, len(raw) // 60)):
        p.write_bytes(raw[:cut])
        try:
            doc = parse_file(p)
        except ImportFormatError as e:
            assert str(p) in str(e)
            outcomes.add("error")
        else:
            check_offsets(doc)
            outcomes.add("doc")
    assert "error" in outcomes


def test_empty_and_fake_pdf(tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(ImportFormatError, match="empty file"):
        parse_file(empty)
    fake = tmp_path / "fake.pdf"
    fake.write_text("<html>not a pdf</html>")
    with pytest.raises(ImportFormatError, match="not a PDF") as e:
        parse_file(fake)
    assert e.value.position == "byte 0"


def test_pdf_noise_is_not_printed(tmp_path, capfd):
    p = tmp_path / "noeof.pdf"
    raw = (DOCS / "report.pdf").read_bytes()
    p.write_bytes(raw[: raw.rindex(b"%%EOF")])          # only the EOF marker missing
    doc = parse_file(p)
    assert doc.metadata["pages"] == 3
    out, err = capfd.readouterr()
    assert "EOF marker" not in err and "EOF marker" not in out


# --------------------------------------------------------------------------- DOCX

def test_docx_headings_table_and_properties():
    doc = parse_file(DOCS / "notes.docx")
    assert doc.format == "docx"
    assert doc.title == "Project Falcon notes"
    assert doc.created_at == datetime(2024, 2, 3, 9, 30, tzinfo=timezone.utc)
    assert doc.modified_at == datetime(2024, 2, 10, 17, 45, tzinfo=timezone.utc)
    assert doc.metadata["author"] == "Jonas Weber"
    check_offsets(doc)
    assert all(c.page is None for c in doc.chunks)
    assert chunk_with(doc, "kick-off meeting in Zürich").heading == ""
    assert chunk_with(doc, "first prototype").heading == "Goals"
    table = chunk_with(doc, "Motors | Priya | 4,200")
    assert table.heading == "Goals > Budget"
    assert "Item | Owner | Cost\nMotors | Priya | 4,200\nCamera | Jonas | 2,750" in table.text
    risks = chunk_with(doc, "Priya will talk to two other vendors.")  # bold run joined
    assert risks.heading == "Risks"
    assert "Battery supply is the main risk. Priya will" in risks.text


def test_docx_custom_heading_styles_and_outline_levels(tmp_path):
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document()
    custom = d.styles.add_style("Chapter Heading", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = d.styles["Heading 1"]
    d.add_paragraph("Chapter One", style="Chapter Heading")
    d.add_paragraph("It was a dark and stormy night.")
    p = d.add_paragraph("Outlined section")
    ppr = p._p.get_or_add_pPr()
    lvl = OxmlElement("w:outlineLvl")
    lvl.set(qn("w:val"), "1")
    ppr.append(lvl)
    d.add_paragraph("Text under an outline-level paragraph.")
    out = tmp_path / "styles.docx"
    d.save(out)
    doc = parse_file(out)
    assert doc.title == "Chapter One"
    assert chunk_with(doc, "dark and stormy").heading == "Chapter One"
    assert chunk_with(doc, "outline-level paragraph").heading == "Chapter One > Outlined section"


def test_docx_localised_heading_style_with_outline_level(tmp_path):
    """A style named in another language ("Überschrift 1") whose definition carries an
    outline level is a heading too."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document()
    style = d.styles.add_style("Überschrift 1", WD_STYLE_TYPE.PARAGRAPH)
    lvl = OxmlElement("w:outlineLvl")
    lvl.set(qn("w:val"), "0")
    style.element.get_or_add_pPr().append(lvl)
    d.add_paragraph("Einleitung", style="Überschrift 1")
    d.add_paragraph("Dies ist der erste Absatz.")
    out = tmp_path / "de.docx"
    d.save(out)
    doc = parse_file(out)
    assert chunk_with(doc, "erste Absatz").heading == "Einleitung"
    assert doc.title == "Einleitung"


@pytest.mark.parametrize("raw,expect", [
    (b"", "empty file"),
    (b"plain text", "not a Word .docx file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "password-protected"),
])
def test_bad_docx(tmp_path, raw, expect):
    p = tmp_path / "bad.docx"
    p.write_bytes(raw)
    with pytest.raises(ImportFormatError, match=expect) as e:
        parse_file(p)
    assert str(p) in str(e.value)


def test_docx_that_is_another_zip_or_truncated(tmp_path):
    other = tmp_path / "other.docx"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ImportFormatError) as e:
        parse_file(other)
    assert str(other) in str(e.value)
    raw = (DOCS / "notes.docx").read_bytes()
    cut = tmp_path / "cut.docx"
    for n in (100, len(raw) // 2, len(raw) - 30):
        cut.write_bytes(raw[:n])
        with pytest.raises(ImportFormatError):
            parse_file(cut)


# --------------------------------------------------------------------------- HTML

def test_html_content_title_headings_and_boilerplate_dropped():
    doc = parse_file(DOCS / "page.html")
    assert doc.format == "html"
    assert doc.title == "Sourdough starter – a field guide"
    assert doc.created_at == datetime(2023, 9, 14, 8, 15, tzinfo=timezone(timedelta(hours=2)))
    assert doc.metadata["author"] == "Mira Okafor"
    check_offsets(doc)
    for gone in ("tracking-token", "font-family", "Buy premium", "Recipes", "Enable JavaScript",
                 "not content"):
        assert gone not in doc.text
    intro = chunk_with(doc, "Mine is called Gerald")
    assert intro.heading == "Sourdough starter"
    assert "bacteria have colonised" in intro.text          # source line breaks are spaces
    feeding = chunk_with(doc, "Feed it every day")
    assert feeding.heading == "Sourdough starter > Feeding"
    assert "temperature:\n50 g flour\n50 g water" in feeding.text   # <br> keeps lines
    table = chunk_with(doc, "Day | Flour | Water")
    assert table.heading == "Sourdough starter > Feeding > Ratios"
    assert "2 | 100 g | 100 g" in table.text
    baking = chunk_with(doc, "bake 25 min uncovered")
    assert baking.heading == "Sourdough starter > Baking"


def test_html_charset_main_element_and_layout_tables(tmp_path):
    p = tmp_path / "old.htm"
    p.write_bytes(
        b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        b"</head><body><div class='menu'>Menu Accueil Contact</div><main><h1>R\xe9sum\xe9</h1>"
        b"<table><tr><td><h2>Exp\xe9rience</h2><p>Ing\xe9nieur \xe0 Lyon</p></td></tr></table>"
        b"</main><footer>\xa9 2010</footer></body></html>")
    doc = parse_file(p)
    assert doc.title == "Résumé"                                   # no <title>: first h1
    assert "Menu Accueil" not in doc.text and "2010" not in doc.text   # outside <main>
    assert chunk_with(doc, "Ingénieur à Lyon").heading == "Résumé > Expérience"


def test_chatgpt_chat_html_is_not_a_document(tmp_path):
    p = tmp_path / "chat.html"
    p.write_text("<html><head><title>ChatGPT Data Export</title></head><body>"
                 "<script>var jsonData = [];</script></body></html>")
    assert not is_document(FileTree(p), "chat.html")


def test_empty_html(tmp_path):
    p = tmp_path / "blank.html"
    p.write_text("<html><body><script>x()</script></body></html>")
    doc = parse_file(p)
    assert doc.chunks == [] and doc.title == "blank"


# --------------------------------------------------------------------------- common

def test_content_hash_and_file_times(tmp_path):
    p = tmp_path / "note.md"
    p.write_text("# Note\n\nBody.\n")
    stamp = datetime(2022, 6, 1, 12, 0, tzinfo=timezone.utc).timestamp()
    os.utime(p, (stamp, stamp))
    doc = parse_file(p)
    assert doc.content_hash == hashlib.sha256(p.read_bytes()).hexdigest()
    assert doc.modified_at == datetime(2022, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert doc.created_at is not None and doc.created_at.tzinfo is not None
    assert doc.path == str(p)
    p.write_text("# Note\n\nBody changed.\n")
    assert parse_file(p).content_hash != doc.content_hash


def test_documents_inside_a_zip(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("Notes/Home.md", date_time=(2021, 3, 4, 5, 6, 8))
        zf.writestr(info, (VAULT / "Home.md").read_bytes())
        zf.writestr("Notes/report.pdf", (DOCS / "report.pdf").read_bytes())
        zf.writestr("Notes/notes.docx", (DOCS / "notes.docx").read_bytes())
    tree = open_tree(z)
    assert isinstance(tree, ZipTree)
    with tree:
        home = parse_document(tree, "Notes/Home.md")
        assert home.path == f"{z}!Notes/Home.md"
        assert home.modified_at == datetime(2021, 3, 4, 5, 6, 8).astimezone()
        pdf = parse_document(tree, "Notes/report.pdf")
        assert chunk_with(pdf, "212 kilograms").page == 2
        sub = SubTree(tree, "Notes")
        assert parse_document(sub, "notes.docx").title == "Project Falcon notes"


def test_too_large_file_is_refused(tmp_path, monkeypatch):
    import secondme.ingest.documents as documents

    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 10)
    p = tmp_path / "big.txt"
    p.write_text("x" * 100)
    with pytest.raises(ImportFormatError, match="too large"):
        parse_file(p)


def test_errors_are_secondme_errors_with_path():
    for name in ("scanned.pdf", "encrypted.pdf", "truncated.pdf", "not_a_docx.docx"):
        with pytest.raises(SecondMeError) as e:
            parse_file(DOCS / name)
        assert e.value.path == str(DOCS / name)


def test_fixture_pdf_writer_is_deterministic():
    a = fixtures.pdf_bytes(fixtures.REPORT_PAGES, title="x")
    b = fixtures.pdf_bytes(fixtures.REPORT_PAGES, title="x")
    assert a == b
    assert fixtures.report_pdf() == (DOCS / "report.pdf").read_bytes()

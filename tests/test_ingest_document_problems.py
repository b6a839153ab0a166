"""Problems found inside a document that still imports reach the import report."""
from __future__ import annotations

import shutil
from pathlib import Path

FIX = Path(__file__).resolve().parent / "fixtures" / "ingest" / "documents"


def test_broken_front_matter_is_reported_but_the_note_imports(sm, tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "trip.md").write_text("---\ntitle: [unclosed\ntags: travel\n---\n# Lisbon\n"
                               "We took the tram up to the castle.\n", encoding="utf-8")
    rep = sm.import_paths([d])
    src = rep.sources[0]
    assert src.documents == 1
    assert any("trip.md" in (e.get("file") or "") for e in src.errors), src.errors
    hits = sm.store.conn.execute(
        "select count(*) from chunks_fts where chunks_fts match 'tram'").fetchone()[0]
    assert hits == 1


def test_scanned_pdf_pages_are_reported(sm, tmp_path):
    pdf = tmp_path / "scan.pdf"
    shutil.copy(FIX / "scanned.pdf", pdf)
    from secondme.errors import SecondMeError

    # a fully scanned PDF is refused as a whole; either way the person reads why
    try:
        rep = sm.import_paths([pdf])
    except SecondMeError as e:
        assert "OCR" in str(e) and "scan.pdf" in str(e)
    else:
        errs = [e for s in rep.sources for e in s.errors]
        assert any("OCR" in e["problem"] for e in errs), errs

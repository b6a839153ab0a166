"""Chat pane: streamed, escaped Markdown answers; citations open the source; stop;
follow-ups; copy; history."""
from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication
from ui_helpers import wait_idle


@pytest.fixture
def chat(qtbot, demo_sm, ctx_factory):
    from secondme_ui.panes.chat import ChatPanel

    ctx = ctx_factory(demo_sm)
    pane = ChatPanel(ctx)
    qtbot.addWidget(pane)
    pane.show()
    return pane


def ask(qtbot, pane, question):
    with qtbot.waitSignal(pane.answer_finished, timeout=30000):
        pane.ask(question)


def test_answer_cites_and_a_citation_opens_its_message(qtbot, chat):
    ask(qtbot, chat, "When did I adopt Biscuit?")
    turn = chat.turns[-1]
    assert turn.state == "done" and turn.citations
    html = chat.transcript.toHtml()
    n = turn.citations[0].n
    assert f'href="cite:{turn.prefix}:{n}"' in html
    chat._anchor_clicked(QUrl(f"cite:{turn.prefix}:{n}"))
    kind, ident = chat.ctx.opened_sources[-1]
    assert kind in ("message", "chunk")
    # the opened id is an internal id the service can open
    view = chat.ctx.sm.open_source(kind, ident)
    assert view.text


def test_html_in_memories_is_never_rendered(qtbot, demo_sm, ctx_factory, tmp_path):
    from secondme_ui.panes.chat import ChatPanel

    evil = {"conversations": [{"id": "evil", "title": "Evil", "participants": ["Mallory"],
                               "messages": [{"id": "e1", "speaker": "Mallory",
                                             "timestamp": "2024-05-01T10:00:00+00:00",
                                             "text": "Zanzibar trip <img src=x onerror=alert(1)>"
                                                     " <b>bold</b> <script>x()</script>"}]}]}
    p = tmp_path / "evil.json"
    p.write_text(json.dumps(evil))
    demo_sm.import_paths([str(p)])
    ctx = ctx_factory(demo_sm)
    pane = ChatPanel(ctx)
    qtbot.addWidget(pane)
    ask(qtbot, pane, "What about the Zanzibar trip?")
    html = pane.transcript.toHtml()
    text = pane.transcript.toPlainText()
    assert "Zanzibar" in text
    assert "<img" not in html and "<b>" not in html and "<script" not in html
    assert "<img src=x onerror=alert(1)>" in text  # shown as text, not as HTML
    # the source view escapes too
    from secondme_ui.dialogs.source import SourceDialog
    dlg = SourceDialog(ctx)
    qtbot.addWidget(dlg)
    c = pane.turns[-1].citations[0]
    dlg.show_view(demo_sm.open_source(c.kind, c.id))
    assert "<img" not in dlg.browser.toHtml()
    assert "onerror" in dlg.browser.toPlainText()


def test_answer_streams_and_stop_cancels(qtbot, demo_home, ctx_factory):
    from secondme.models.embed import HashEmbedder
    from secondme.service import SecondMe
    from secondme_ui.panes.chat import ChatPanel

    class SlowLLM:
        model_id = "slow"
        capable = True

        def complete(self, prompt, *, on_token=None, cancel=None, **kw):
            out = []
            for i in range(400):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                piece = f"word{i} "
                out.append(piece)
                if on_token:
                    on_token(piece)
                time.sleep(0.01)
            return "".join(out)

        def chat(self, messages, **kw):
            return self.complete("", **kw)

    sm = SecondMe(demo_home, embedder=HashEmbedder(), llm=SlowLLM())
    try:
        ctx = ctx_factory(sm)
        pane = ChatPanel(ctx)
        qtbot.addWidget(pane)
        pane.ask("When did I adopt Biscuit?")
        assert pane.stop_button.isEnabled()
        qtbot.waitUntil(lambda: "word3" in pane.transcript.toPlainText(), timeout=20000)
        pane.stop()
        qtbot.waitUntil(lambda: pane.turns[-1].state in ("stopped", "done"), timeout=10000)
        assert pane.turns[-1].state == "stopped"
        assert "(stopped)" in pane.transcript.toPlainText()
        assert "word399" not in pane.transcript.toPlainText()
        wait_idle(qtbot, ctx.runner)
        assert not pane.stop_button.isEnabled()
    finally:
        sm.close()


def test_follow_up_copy_and_history(qtbot, chat):
    ask(qtbot, chat, "Where did I move last year?")
    cid = chat.chat_id
    assert cid is not None
    ask(qtbot, chat, "And who is the landlady there?")
    assert chat.chat_id == cid and len(chat.turns) == 2
    chat.copy_last()
    assert QGuiApplication.clipboard().text() == chat.turns[-1].answer
    qtbot.waitUntil(lambda: chat.history.count() >= 1, timeout=10000)
    chat.new_chat()
    assert chat.chat_id is None and chat.turns == []
    item = chat.history.item(0)
    chat._history_activated(item)
    qtbot.waitUntil(lambda: len(chat.turns) == 2, timeout=10000)
    assert chat.chat_id == cid
    assert "landlady" in chat.transcript.toPlainText()


def _source_lines(pane):
    text = pane.transcript.toPlainText()
    return [ln for ln in text.split("Sources", 1)[-1].splitlines() if ln.strip()]


def test_sources_are_numbered_as_their_markers(qtbot, chat):
    """The answer cites [3] and [1]: the sources read "[1] …" and "[3] …" (a Markdown
    list numbered them 1., 2. — the issue saw "[3]" above a source numbered "2.");
    a source the answer does not cite is not listed; each [n] opens its own source."""
    from secondme.api import Answer, Citation

    def cite(n, text, mid):
        return Citation(n=n, id=mid, kind="message", text=text,
                        sources=[{"speaker": "Anna Rivera", "conversation": "Anna Rivera",
                                  "timestamp": "2023-09-03T10:00:00+00:00",
                                  "message_id": "x", "item_id": mid}])

    chat.turns = []
    from secondme_ui.panes.chat import _Turn
    t = _Turn("When did I adopt Biscuit?", "7")
    chat.turns.append(t)
    answer = Answer(answer="On 3 September 2023 [3], a beagle mix [1].", abstained=False,
                    citations=[cite(1, "A beagle mix, two years old.", 11),
                               cite(2, "Unrelated message.", 12),
                               cite(3, "We picked Biscuit up today!", 13)])
    chat._answered(t, answer)
    lines = _source_lines(chat)
    assert lines[0].startswith("[1] ") and "beagle" in lines[0]
    assert lines[1].startswith("[3] ") and "picked Biscuit" in lines[1]
    assert not any("Unrelated" in ln for ln in lines)
    assert not any(ln.lstrip().startswith(("1.", "2.", "3.")) for ln in lines)
    # the speaker is not repeated as the conversation's name; no ids
    assert "Anna Rivera · Anna Rivera" not in lines[0] and " x" not in lines[0]
    chat._anchor_clicked(QUrl("cite:7:3"))
    assert chat.ctx.opened_sources[-1] == ("message", 13)


def test_real_answer_markers_match_their_sources(qtbot, chat):
    ask(qtbot, chat, "When is Anna getting married?")
    t = chat.turns[-1]
    import re
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", t.answer)}
    labels = {int(m) for m in re.findall(r"^\[(\d+)\]", "\n".join(_source_lines(chat)), re.M)}
    assert markers and labels == markers, (t.answer, _source_lines(chat))

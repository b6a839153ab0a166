"""secondme.memory.text: the token measures formation compares facts with (cached)."""
from __future__ import annotations

from secondme.memory.text import containment, content_tokens, token_f1, tokens


def test_tokens_and_measures():
    assert tokens("Anna's flat in Berlin—it's NEW") == ["anna", "flat", "in", "berlin",
                                                       "it", "new"]
    assert content_tokens("Anna moved to Berlin in 2021") == ["anna", "moved", "berlin",
                                                             "2021"]
    assert token_f1("Anna moved to Berlin", "Anna moved to Berlin") == 1.0
    assert token_f1("Anna moved to Berlin", "the a of") == 0.0
    assert abs(token_f1("Anna moved to Berlin", "Anna lives in Berlin") - 2 / 3) < 1e-9
    assert containment("Anna Berlin", "Anna moved to Berlin last year") == 1.0
    assert containment("Anna Lisbon", "Anna moved to Berlin") == 0.5
    assert containment("the", "anything") == 0.0


def test_a_caller_changing_its_list_does_not_change_the_next_answer():
    """The token lists are cached per text; each caller gets its own list."""
    first = content_tokens("Ben bought the red bike")
    first.append("poison")
    tokens("Ben bought the red bike").clear()
    assert content_tokens("Ben bought the red bike") == ["ben", "bought", "red", "bike"]
    assert tokens("Ben bought the red bike") == ["ben", "bought", "the", "red", "bike"]
    assert token_f1("Ben bought the red bike", "Ben bought the red bike") == 1.0

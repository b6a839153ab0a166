"""The deterministic extractor: third-person facts, dates resolved, noise filtered."""
from __future__ import annotations

import pytest

from secondme.memory.deterministic import DeterministicExtractor, read_slot
from secondme.memory.facts import Window, WindowItem

TS = "2023-05-10T14:00:00+02:00"


def window(*msgs, participants=("Anna", "Ben"), me_name="", is_me=()):
    items = [WindowItem(kind="message", id=i + 1, speaker=sp, text=text, timestamp=ts or TS,
                        external_id=f"m{i + 1}", is_me=sp in is_me)
             for i, (sp, text, ts) in enumerate((m + (None,))[:3] for m in msgs)]
    return Window(items=items, participants=list(participants), me_name=me_name)


def texts(w):
    return [f.text for f in DeterministicExtractor().extract(w).facts]


def test_first_person_becomes_third_person_with_resolved_date():
    facts = DeterministicExtractor().extract(
        window(("Anna", "Oh and I moved to Berlin last month!"))).facts
    assert [f.text for f in facts] == ["Anna moved to Berlin in April 2023."]
    f = facts[0]
    assert f.sources == [1] and f.valid_from == "2023-04-01"
    assert f.slot == ("anna", "residence", "berlin")
    assert ("Berlin", "place") in f.entities


@pytest.mark.parametrize("said,expected", [
    ("i work at Siemens as a data analyst", "Anna works at Siemens as a data analyst."),
    ("I'm allergic to peanuts", "Anna is allergic to peanuts."),
    ("I've been learning Spanish since March", "Anna has been learning Spanish since March 2023."),
    ("My sister Lena is getting married in June",
     "Anna's sister Lena is getting married in June 2023."),
    ("I really enjoy climbing with my brother", "Anna really enjoys climbing with Anna's brother."),
    ("I don't eat meat anymore", "Anna doesn't eat meat anymore."),
    ("I met your brother at the gym on Saturday",
     "Anna met Ben's brother at the gym on Saturday, 6 May 2023."),
    ("Tom got a promotion yesterday", "Tom got a promotion on Tuesday, 9 May 2023."),
])
def test_rewrites(said, expected):
    assert texts(window(("Anna", said))) == [expected]


def test_compound_sentences_become_separate_facts():
    assert texts(window(("Anna", "I love sushi and I hate olives, but my brother loves them"))) \
        == ["Anna loves sushi.", "Anna hates olives.", "Anna's brother loves them."]


@pytest.mark.parametrize("said", [
    "Hey Ben! How are you?", "Good thanks!", "Did you get the job?", "haha same",
    "I'm so tired", "I know right", "Let's meet next week.", "Thanks so much!",
    "Can you send me the photos?", "If I win the lottery I'll buy a boat.",
    "Good morning my loves!", "He's been here longer than me anyway.", "Works for me!",
    "I'll let you know", "ok see you tomorrow", "What time is it?",
])
def test_small_talk_questions_and_requests_are_not_facts(said):
    assert texts(window(("Anna", said))) == []


def test_assistant_messages_are_never_sources():
    w = window(("user", "I'm vegetarian and I live in Lyon. Suggest a recipe?"),
               ("ChatGPT", "Certainly! As an AI I love cooking. I recommend ratatouille."),
               participants=("user", "ChatGPT"), me_name="Claire", is_me=("user",))
    facts = DeterministicExtractor().extract(w).facts
    assert [f.text for f in facts] == ["Claire is vegetarian.", "Claire lives in Lyon."]
    assert {s for f in facts for s in f.sources} == {1}


def test_unknown_own_name_keeps_first_person():
    w = window(("user", "I moved to Lyon last month."), participants=("user", "assistant"),
               is_me=("user",))
    assert texts(w) == ["I moved to Lyon in April 2023."]


def test_dates_resolve_against_each_messages_own_timestamp():
    w = window(("Anna", "I ran a marathon yesterday", "2023-01-01T00:30:00+01:00"),
               ("Ben", "I bought a bike yesterday", "2023-03-15T12:00:00-07:00"))
    assert texts(w) == ["Anna ran a marathon on Saturday, 31 December 2022.",
                        "Ben bought a bike on Tuesday, 14 March 2023."]


def test_every_fact_cites_its_message():
    w = window(("Anna", "hi!"), ("Ben", "I adopted a dog named Rex."), ("Anna", "I love dogs."))
    facts = DeterministicExtractor().extract(w).facts
    assert [(f.sources, f.text) for f in facts] == [
        ([2], "Ben adopted a dog named Rex."), ([3], "Anna loves dogs.")]


@pytest.mark.parametrize("text,subject,slot", [
    ("Anna lives in Berlin.", "Anna", ("anna", "residence", "berlin")),
    ("Anna moved to New York in May 2023.", "Anna", ("anna", "residence", "new york")),
    ("Anna works at Acme Corp as a designer.", "Anna", ("anna", "employer", "acme corp")),
    ("Anna's favourite band is Radiohead.", "Anna", ("anna", "favourite band", "radiohead")),
    ("Anna is 34 years old.", "Anna", ("anna", "age", "34")),
    ("Anna no longer lives in Berlin.", "Anna", None),
    ("Anna used to work at Acme.", "Anna", None),
])
def test_slots(text, subject, slot):
    assert read_slot(text, subject) == slot


def test_markup_is_cleaned_and_labels_without_verbs_dropped():
    w = Window(items=[WindowItem(kind="chunk", id=9, text=(
        "Welcome to my vault. My [home page](../Home.md).\n"
        "Our plot is bed 7 at the [[Croix-Rousse garden|community garden]].\n"
        "Docs are at the wiki <https://x.example|here>.\n"
        "Neighbour and gardening partner."))], document_id=1, me_name="Ines",
        ref_date="2024-03-02")
    assert [f.text for f in DeterministicExtractor().extract(w).facts] == [
        "Ines's plot is bed 7 at the community garden."]


def test_each_clause_keeps_its_own_tense_for_dates():
    # written on Sunday 1 January 2023: "on Friday" is in the past clause
    w = window(("Emma", "I handed in my notice on Friday, I'm going freelance.",
                "2023-01-01T08:10:00+00:00"), participants=("Tom", "Emma"))
    assert texts(w) == ["Emma handed in Emma's notice on Friday, 30 December 2022.",
                        "Emma is going freelance."]


def test_names_alone_are_not_facts_and_need_is_conjugated():
    assert texts(window(("Ben", "Haha Kevin will."))) == []
    assert texts(window(("Noor", "I need a new laptop for university."))) == [
        "Noor needs a new laptop for university."]


@pytest.mark.parametrize("said,expected", [
    # a statement before a short trailing question stands on its own
    ("I'm coming to Berlin on the 27th for a wedding, let's meet?",
     ["Anna is coming to Berlin on Saturday, 27 May 2023 for a wedding."]),
    ("I'm coming to Berlin on the 27th for a wedding?", []),        # a real question
    # "I'll ask/check …" is a plan when it names someone, talk about the talk otherwise
    ("I'll ask my cousin Amir if he wants the room",
     ["Anna will ask Anna's cousin Amir if he wants the room."]),
    ("I'll check if Clara wants to come too", ["Anna will check if Clara wants to come too."]),
    ("I'll check and let you know", []),
    # a new subject after a comma is a new clause
    ("I'm getting married in spring! Her name is Nadia, she's a pharmacist",
     ["Anna is getting married in spring.", "Nadia is a pharmacist."]),
    ("I'm moving to the payments team in April, Dana approved it yesterday",
     ["Anna is moving to the payments team in April 2024.",
      "Dana approved it on Tuesday, 9 May 2023."]),
    # a participle after a comma shares the speaker as subject
    ("I start my new job at Boeing next month, finally leaving Amazon",
     ["Anna starts Anna's new job at Boeing in June 2023.", "Anna is finally leaving Amazon."]),
    ("I have tons of photos from the 80s, sending tonight",
     ["Anna has tons of photos from the 80s, sending on Wednesday, 10 May 2023."]),
    # a bare noun as subject is news when it carries a number
    ("rent is 50 quid higher from July", ["Rent is 50 quid higher from July 2023."]),
    ("work was long and boring today", []),
])
def test_clauses_a_careful_reader_keeps(said, expected):
    assert texts(window(("Anna", said))) == expected


@pytest.mark.parametrize("answer,expected", [
    ("Levantine street food. We got a great review last month.",
     ["Anna's food is Levantine street food.", "Anna got a great review in April 2023."]),
    ("Sourdough and pastries, like my grandmother made in Lisbon.",
     ["Anna's food is Sourdough and pastries, like Anna's grandmother made in Lisbon."]),
    ("No idea yet", []),
    ("Not sure, something cheap", []),
    ("Good stuff!", []),
])
def test_short_answers_to_what_kind_of_questions(answer, expected):
    assert texts(window(("Ben", "Wow! What kind of food?"), ("Anna", answer))) == expected
    # the same words with no question before them are no fact
    assert texts(window(("Anna", answer.split(".")[0] + "."))) == []


@pytest.mark.parametrize("said,expected", [
    # "please" after "yes" is politeness, not a request
    ("yes please, my wife makes a great broad bean falafel",
     ["Anna's wife makes a great broad bean falafel."]),
    # an opinion of a thing judged against others is the speaker's, a compliment is not
    ("Pink Fir Apple are the best potatoes, don't let anyone tell you otherwise",
     ["Anna thinks Pink Fir Apple are the best potatoes."]),
    ("The sequel is way better than the first one",
     ["Anna thinks the sequel is way better than the first one."]),
    ("Your cake is the best", []), ("that is the best news", []),
    # someone unnamed did something, with a date: news
    ("bad news, someone broke into the shared shed last night",
     ["Someone broke into the shared shed on Tuesday, 9 May 2023."]),
    ("someone broke into the shared shed", []),
])
def test_opinions_politeness_and_unnamed_doers(said, expected):
    assert texts(window(("Anna", said))) == expected


def _reply(question, answer):
    w = window(("Bea", question), ("Femi", answer), participants=("Bea", "Femi"))
    return [(f.text, f.sources) for f in DeterministicExtractor().extract(w).facts]


@pytest.mark.parametrize("question,answer,expected", [
    # an answer without a subject keeps its question, and cites both messages
    ("how did you even break it?", "five-a-side. tackle from a 50 year old",
     "Asked how did Femi even break it, Femi said five-a-side, tackle from a 50 year old."),
    ("did you finish the marathon in the end?", "4:22!",
     "Asked did Femi finish the marathon in the end, Femi said 4:22."),
    ("the one in Walthamstow?", "that one. 2 bed terrace with the tiny garden",
     "Asked about the one in Walthamstow, Femi said 2 bed terrace with the tiny garden."),
    ("who's teaching u", "my dad", "Asked who's teaching Femi, Femi said Femi's dad."),
    ("how long is the project now?", "they extended it by three months",
     "Asked how long is the project now, Femi said they extended it by three months."),
])
def test_short_answers_keep_their_question(question, answer, expected):
    assert _reply(question, answer) == [(expected, [1, 2])]


@pytest.mark.parametrize("question,answer", [
    ("how are you?", "five-a-side"),                        # an idle question
    ("how's the job going?", "You've talked about that boat for years."),   # about the other
    ("any plans?", "no idea yet"),                          # no answer
    ("what should I bring?", "bring wine"),                 # an imperative
    ("how was it?", "That's lovely to hear."),              # a reaction
    ("five-a-side?", "five-a-side."),                       # "five-a-side" asked by nobody
])
def test_replies_that_answer_nothing_are_not_facts(question, answer):
    assert _reply(question, answer) == []


def test_here_in_a_place_is_where_the_speaker_is_and_hes_been_is_has_been():
    assert texts(window(("Emma", "Happy new year!! It's already morning here in London"))) == [
        "Emma is in London."]
    assert texts(window(("Emma", "Is it cold where you are? Over here in Oslo it's snowing."))
                 ) == ["Emma is in Oslo."]
    assert texts(window(("Emma", "Is it nice there in Oslo?"))) == []
    assert texts(window(("Raj", "Haha Kevin will. He's been here longer than me anyway."))) == [
        "Kevin has been here longer than Raj anyway."]


@pytest.mark.parametrize("said,expected", [
    ("There's an old pony there called Biscuit who follows me everywhere.",
     ["There is an old pony there called Biscuit who follows Anna everywhere."]),
    ("There are two cats in my flat.", ["There are two cats in Anna's flat."]),
    ("There's a new guy at work named Oskar", ["There is a new guy at work named Oskar."]),
    ("There's a great bakery near the station", []),        # nobody's, unnamed
    ("There's so much going on in my life", []),
])
def test_what_exists_near_the_speaker_or_has_a_name(said, expected):
    assert texts(window(("Anna", said))) == expected


@pytest.mark.parametrize("said,expected", [
    # a subject pronoun is followed by a verb even when the verb list does not know it
    ("We sort donations and pack boxes for about 200 families.",
     ["Anna sorts donations and pack boxes for about 200 families."]),
    ("I too", []),
    # "this time" leads like "last week"; "and now my …" is a new clause
    ("This time we're doing Skye and Glencoe.", ["This time Anna is doing Skye and Glencoe."]),
    ("I took up photography after watching a documentary, and now my photos are in an "
     "exhibition at the library!",
     ["Anna took up photography after watching a documentary.",
      "Anna's photos are in an exhibition at the library."]),
    # greetings from a place say where the speaker is
    ("Greetings from Bolivia! The salt flats were unreal.", ["Anna is in Bolivia."]),
])
def test_more_clauses_a_careful_reader_keeps(said, expected):
    assert texts(window(("Anna", said))) == expected


def test_a_persons_notes_keep_their_labels_and_plain_statements():
    w = Window(items=[WindowItem(kind="chunk", id=9, text=(
        "- floors: sanding in April, quote from Parquet & Co is £1,150\n"
        "- kitchen: Mikko wants to do it himself\n"
        "The garden is north-facing and full of brambles.\n"
        "Welcome to my notes."))], document_id=1, me_name="Oona", ref_date="2024-02-10")
    assert [f.text for f in DeterministicExtractor().extract(w).facts] == [
        "Floors: sanding in April 2024, quote from Parquet & Co is £1,150.",
        "Kitchen: Mikko wants to do it himself.",
        "The garden is north-facing and full of brambles."]
    # the same plain statement in a chat is nobody's news
    assert texts(window(("Anna", "The garden is north-facing and full of brambles."))) == []


def test_short_questions_about_the_news_just_given_and_elided_plans():
    w = window(("Jun", "got into uni!!!!"), ("Nico", "WHICH ONE"),
               ("Jun", "tu delft. aerospace engineering"), participants=("Jun", "Nico"))
    assert texts(w)[-1] == "Asked which one, Jun said tu delft, aerospace engineering."
    assert texts(window(("Jun", "also quitting the cinema end of july"))) == [
        "Jun is quitting the cinema end of July 2023."]


@pytest.mark.parametrize("said,expected", [
    # a name said first, then its pronoun: the name is the subject (not when it is the
    # person spoken to)
    ("found a drummer! Ines, she played in a punk band in Porto for years",
     ["Anna found a drummer.", "Ines played in a punk band in Porto for years."]),
    ("Ines, she's been to Peru", ["Ines has been to Peru."]),
    ("Ben, she moved to Rome", []),
    # congratulations and thanks about something are reactions
    ("noooo. congrats on the job but noooo", []),
    ("thanks for the soup, it was lovely", []),
    # "i …, moving end of november": lower-case "i" shares the participle too
    ("i got the job in Gdansk, moving end of november",
     ["Anna got the job in Gdansk.", "Anna is moving end of November 2023."]),
    ("my amp died mid-song tonight", ["Anna's amp died mid-song on Wednesday, 10 May 2023."]),
])
def test_dislocated_names_congratulations_and_lower_case_i(said, expected):
    assert texts(window(("Anna", said))) == expected

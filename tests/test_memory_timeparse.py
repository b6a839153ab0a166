"""Relative dates resolved against the message's own timestamp (and its time zone)."""
from __future__ import annotations

from datetime import date

import pytest

from secondme.memory.timeparse import find_dates, rewrite_dates, tense

WED = "2023-05-10T14:00:00+02:00"        # a Wednesday

CASES = [
    # (sentence, message timestamp, expected start, granularity)
    ("I moved to Berlin last month", WED, date(2023, 4, 1), "month"),
    ("We went hiking last Saturday", WED, date(2023, 5, 6), "day"),
    ("I start the new job next Monday", WED, date(2023, 5, 15), "day"),
    ("I'll see her this Friday", WED, date(2023, 5, 12), "day"),
    ("Last Wednesday was chaos", WED, date(2023, 5, 3), "day"),       # same weekday → a week back
    ("Next Wednesday I fly", WED, date(2023, 5, 17), "day"),
    ("I met him on Saturday", WED, date(2023, 5, 6), "day"),          # past tense → before
    ("I will meet him on Saturday", WED, date(2023, 5, 13), "day"),   # future → after
    ("I saw her yesterday", WED, date(2023, 5, 9), "day"),
    ("I fly tomorrow", WED, date(2023, 5, 11), "day"),
    ("It happened the day before yesterday", WED, date(2023, 5, 8), "day"),
    ("I quit two weeks ago", WED, date(2023, 4, 24), "week"),
    ("We adopted a cat 3 days ago", WED, date(2023, 5, 7), "day"),
    ("I quit my job a couple of months ago", WED, date(2023, 3, 1), "month"),
    ("I graduated two years ago", WED, date(2021, 1, 1), "year"),
    ("I'm moving in two weeks", WED, date(2023, 5, 22), "week"),
    ("We are flying to Rome in March", WED, date(2024, 3, 1), "month"),  # future → next March
    ("I was in Rome in March", WED, date(2023, 3, 1), "month"),          # past → this March
    ("Her wedding was on 3 June", WED, date(2022, 6, 3), "day"),         # past → a year back
    ("The party is on June 3rd", WED, date(2023, 6, 3), "day"),
    ("We married on June 5th, 2019", WED, date(2019, 6, 5), "day"),
    ("I was born in 1990", WED, date(1990, 1, 1), "year"),
    ("last summer we went to Spain", WED, date(2022, 6, 1), "season"),
    ("I will see you this weekend", WED, date(2023, 5, 13), "weekend"),
    ("We were at the lake last weekend", WED, date(2023, 5, 6), "weekend"),
    ("I was sick last week", WED, date(2023, 5, 1), "week"),
    ("I start next year", WED, date(2024, 1, 1), "year"),
    ("It was 2023-02-14 when we met", WED, date(2023, 2, 14), "day"),
    # a bare day of the month after a preposition: this month's, or the next one's
    ("I'm coming to Berlin on the 27th", WED, date(2023, 5, 27), "day"),
    ("I need the build by the 5th", WED, date(2023, 6, 5), "day"),
    ("We met on the 30th", WED, date(2023, 4, 30), "day"),            # past → the last one
    ("The party is on the 10th", WED, date(2023, 5, 10), "day"),      # today counts
    ("I'm away from the 31st", "2023-04-10T09:00:00+02:00", date(2023, 5, 31), "day"),
    # across year ends
    ("I moved last month", "2023-01-15T10:00:00+00:00", date(2022, 12, 1), "month"),
    ("I'm moving next month", "2022-12-15T10:00:00-05:00", date(2023, 1, 1), "month"),
    ("I was sick last week", "2023-01-02T10:00:00-05:00", date(2022, 12, 26), "week"),
    ("We fly in January", "2022-12-20T10:00:00+01:00", date(2023, 1, 1), "month"),
    ("We were in Lisbon in December", "2023-01-03T10:00:00+01:00", date(2022, 12, 1), "month"),
    ("I left last year", "2023-01-01T09:00:00+01:00", date(2022, 1, 1), "year"),
    # time zones: the writer's calendar day counts, not UTC's
    ("I ran yesterday", "2023-01-01T00:30:00+01:00", date(2022, 12, 31), "day"),
    ("I ran yesterday", "2022-12-31T23:30:00+00:00", date(2022, 12, 30), "day"),
    ("I ran today", "2023-03-01T23:30:00-08:00", date(2023, 3, 1), "day"),
    ("I ran last Monday", "2023-01-01T01:00:00+09:00", date(2022, 12, 26), "day"),
]


@pytest.mark.parametrize("sentence,ts,start,granularity", CASES)
def test_relative_date_table(sentence, ts, start, granularity):
    found = find_dates(sentence, ts)
    assert found, f"no date found in {sentence!r}"
    assert (found[0].start, found[0].granularity) == (start, granularity)


@pytest.mark.parametrize("sentence,expected", [
    ("I moved to Berlin last month", "I moved to Berlin in April 2023"),
    ("since March I have been running", "since March 2023 I have been running"),
    ("We went hiking last Saturday", "We went hiking on Saturday, 6 May 2023"),
    ("in three days I leave", "on Saturday, 13 May 2023 I leave"),
    ("We married on June 5th, 2019", "We married on June 5th, 2019"),
    # ranges of days stay ranges (the demo read "Coming to Lisbon 22–on Tuesday, 26 March")
    ("Coming to Lisbon 22–26 March.", "Coming to Lisbon from 22 to 26 March 2023."),
    ("They paint the stairwell from 10 to 14 June", "They paint the stairwell from 10 to 14 "
     "June 2023"),
    ("We are away on the 3rd-5th of June", "We are away from 3 to 5 June 2023"),
    ("I need the build by the 5th", "I need the build by Monday, 5 June 2023"),
    # "the Friday" is the one the chat talks about, not the next one
    ("Perfect, I'll take the Friday off.", "Perfect, I'll take the Friday off."),
])
def test_rewrite_keeps_prepositions_and_absolute_dates(sentence, expected):
    assert rewrite_dates(sentence, WED)[0] == expected


@pytest.mark.parametrize("sentence", [
    "I go swimming on Saturdays",      # a habit
    "I may come by",                   # a verb, not the month
    "we should march on",
    "Let me know",
])
def test_no_false_dates(sentence):
    assert find_dates(sentence, WED) == []


def test_without_a_timestamp_only_absolute_dates_resolve():
    assert find_dates("I moved last month", None) == []
    assert find_dates("I moved in March 2021", None)[0].start == date(2021, 3, 1)


@pytest.mark.parametrize("sentence,expected", [
    ("I moved to Berlin", "past"),
    ("I will move to Berlin", "future"),
    ("My sister is getting married in June", "future"),
    ("I booked a flight for next Friday", "future"),
    ("I like tea", "unknown"),
])
def test_tense(sentence, expected):
    assert tense(sentence) == expected

"""The deterministic extractor: facts from chat messages and documents without any LLM.

It carries the app on the embedded tiny model, so it aims for precision: it keeps
declarative statements a speaker makes about themselves (or about named people) and
rewrites each as a self-contained third-person fact:

    Anna, 2023-05-10: "Oh and I moved to Berlin last month!"
    → "Anna moved to Berlin in April 2023."   (event, valid_from 2023-04-01)

Steps per sentence: drop interjections; skip questions, greetings, small talk,
requests, conditionals and assistant boilerplate; require a subject the reader can
identify (first person, or a capitalised name at the start); rewrite first-person
pronouns and possessives with the speaker's name (conjugating the verb: "I love" →
"Anna loves", "I'm" → "Anna is"), "you" with the addressee when the sentence is also
about the speaker; resolve relative dates against the message's own timestamp
(:mod:`.timeparse`); classify the type; read a (subject, attribute, value) slot for
contradiction checks; find entities.

Messages by an assistant (ChatGPT, Claude, …) are never a source of facts about the
person. When the person's own name is unknown (no ``me_name`` and a generic speaker
label such as "user"), their statements keep the first person ("I moved to Berlin in
April 2023"), which reads naturally in their own memory.
"""
from __future__ import annotations

import re
from typing import Optional

from .entities import find_entities, sentence_start_names, window_names
from .facts import ExtractResult, Fact, Window, WindowItem
from .salience import (
    HABIT,
    elided_state,
    is_reaction,
    pronoun_evidence,
    reflexive,
    resolve_it,
    resolve_pronoun,
    resolve_they,
    resolve_we,
    strip_lead,
    subject_of,
    substantive,
)
from .text import STOPWORDS, TOPICS, content_tokens, norm_name, topic_tags
from .timeparse import find_dates, local_date, rewrite_dates, tense

NAME = "deterministic"

ASSISTANT_SPEAKERS = {"assistant", "chatgpt", "gpt", "gpt-4", "gpt-4o", "claude", "bot", "ai",
                      "gemini", "bard", "copilot", "system", "model", "llama", "mistral"}
GENERIC_ME = {"user", "you", "me", "human", "i", "myself", ""}

_ABBREV = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Prof|Jr|Sr|Mt|vs|etc|approx|e\.g|i\.e)\.", re.I)
_SUBORDINATE = re.compile(r"^(when|after|before|since|because|while|once|as soon as|now that)"
                          r"\s+([^,]{8,}?),\s+(.{8,})$", re.I)
_SENT_SPLIT = re.compile(r"(?<=[.!?…])\s+(?=[^\s])|\s*\n+\s*|(?<=[.!?])(?=[A-Z][a-z])")
_INTERJ = re.compile(
    r"^(?:(?:(?:no way|of course|oh no|oh well|omg|for real|tbh|honestly|oh|ah|aw+|well|so|"
    r"yeah|yea|yes|yep|no|nope|nah|ok|okay|haha+|hehe+|lol|lmao|"
    r"omg|btw|by the way|guess what|anyway|anyways|actually|honestly|tbh|also|and|but|"
    r"hey|hi|hello|wow|ugh|hmm+|um+|uh+|fun fact|update|news|oh my god|oh my gosh|my god|"
    r"my gosh|oh my|my goodness|gosh|geez|jeez|damn|dang|whoa|woah|yay|yikes|phew|"
    r"ha+|ah+|aww+|ooh+|oo+f|lmao+|rofl|xd|ikr|idk|smh|ngl|fr|tho|"
    r"congrats|congratulations|thanks|thank you|thx|ty)\b[\s,!.:;\-–—]*)|"
    # words that are interjections only when punctuation follows ("Stop, I love him")
    r"(?:(?:stop|deal|wait|look|listen|dude|man|girl|bro|sis|babe|hun|love|honey|true|same|"
    r"guys|chicos|chicas|folks|everyone|all|y'all|mate|mates|fam|"
    r"right|totally|exactly|absolutely|definitely|sure|cool|nice|great|awesome|amazing|"
    r"perfect|wonderful|lovely|brilliant|fantastic|incredible|beautiful|inspiring|"
    r"seriously|really|wild|crazy|glad|good|fair|noted|gotcha|got it|ofc|please|pls|plz)"
    r"(?: \w+)?\s*[,!.:;\-–—]+\s*))+", re.I)
#: a name said to someone at the start ("Lena, the boiler …", "Tom, I moved …"); not a list
#: of names ("Anna, Ben and I …")
_VOCATIVE = re.compile(r"^([A-Z][\w\-]+),\s+(?=[a-z]|I\b)")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]+")
_GREETING = re.compile(
    r"^(hi|hey|hello|yo|hiya|heya|morning|good (morning|night|evening|afternoon)|gn|night|"
    r"bye|cya|see (you|ya|u)( (later|soon|tomorrow|then))?|talk (to you )?(later|soon)|ttyl|"
    r"thanks?( (you|so much|a lot))?|thx|ty|ok(ay)?|k+|sure|cool|nice|great|awesome|lol|"
    r"lmao|haha+|hehe+|yes|yeah|yep|no|nope|nah|omg|wow|congrats|congratulations|"
    r"happy birthday|np|no worries|sounds (good|great)|of course|same|me too|true|exactly|"
    r"right|love (you|u)|miss (you|u)|take care|have fun|good luck|enjoy|cheers)\b[\s!.,:)(]*"
    r"(\w+)?[\s!.,:)(]*$", re.I)
_SMALL_TALK = re.compile(
    r"^(i'?m|i am) (fine|good|ok|okay|great|alright|well|doing (well|good|fine|great|ok)|"
    r"tired|so tired|bored|busy|so busy|here|home|back|on my way|sorry|so sorry|glad|"
    r"happy for you|kidding|joking|not sure|just kidding|in|down|up for it|excited)\b"
    r"[\s!.,]*(\w+[\s!.,]*)?$|"
    r"^i (agree|know|see|guess|mean|understand|hope so|think so|don'?t know|dunno|forgot|"
    r"feel you|get it|miss you|love you|love it|like it|can'?t wait|can'?t believe it|"
    r"was (joking|kidding)|will|would|did|do|have|am)\b[\s!.,]*(\w+[\s!.,]*)?$|"
    # "I'll check" is talk about the talk; "I'll ask my cousin Amir if …" is a plan
    r"^i'?ll (let you know|call you|text you|check|see|think about it|be there|try|"
    r"tell you|send it|ask|do it|be right back|brb)\b(?!(?-i:.*\b(?:[A-Z][a-z]+|my \w+)\b))|"
    r"^(how are you|how's it going|what'?s up|sup|how was|how about you)\b|"
    r"^(works|sounds good|fine|ok|okay|good) (for|to|by) (me|us)\b", re.I)
_GREETING_START = re.compile(r"^(hi|hey|hello|hiya|good (morning|night|evening|afternoon)|"
                             r"happy (new year|birthday|holidays|easter|christmas)|merry|"
                             r"congrats|congratulations|thanks|thank you|dear|welcome)\b", re.I)
_UNRESOLVED = re.compile(r"^(he|she|they|it|this|that|these|those|there|him|her|them)\b", re.I)
_NAME_VERB = (r"[A-Z][a-z]+\s+(?:is|was|has|had|does|doesn't|did|didn't|will|won't|loves|"
              r"likes|hates|works|lives|got|went|can't|can|isn't|wasn't|approved|said|says|"
              r"told|thinks|wants|needs)\b")
_CLAUSE_SPLIT = re.compile(r",?\s+(?:but|and|so|though|although|because)\s+"
                           r"(?:(?:now|then|also|still|today|recently)\s+)?"
                           rf"(?=(?:I|i|I'm|i'm|I've|I'll|my|My|we|We)\b|{_NAME_VERB})|;\s+|"
                           r",\s+(?=(?:I|I'm|i'm|I've|I'll|I'd|we|We|we're|We're)\s)|"
                           # "Her name is Nadia, she's a pharmacist", "…in April, Dana
                           # approved it yesterday": a new subject after a comma
                           rf",\s+(?=(?:he|she)(?:'s|\s+(?:is|was|has|had|will|works|lives))\b|"
                           rf"{_NAME_VERB})|"
                           # "…the best potatoes, don't let anyone tell you otherwise"
                           r",\s+(?=(?:don'?t|do not) (?:let|worry|forget|tell|ask)\b)")
#: "I start at Boeing next month, finally leaving Amazon": a participle after a comma
#: shares the subject of a first-person clause
_SHARED_PARTICIPLE = re.compile(r"^(?P<head>(?:[Ii]|[Ii]'m|[Ii]'ve|[Ii]'ll)\b.{8,}?),\s+"
                                r"(?P<tail>(?:(?:finally|also|just|now|still|then|so)\s+)?"
                                r"(?P<ing>[a-z]+ing)\s+(?:\S+\s+\S+|[A-Z]\S+).*)$")
_ASSISTANT_BOILER = re.compile(
    r"\b(as an ai|language model|i'?m an ai|i hope this helps|let me know if|i'?d be happy "
    r"to|i can help|here'?s|here is|here are|feel free to|i'?m sorry, but|certainly|"
    r"great question|as of my|knowledge cutoff)\b", re.I)
_QUESTION_START = re.compile(
    r"^(how|what|when|where|why|who|whom|which|whose|do|does|did|are|is|was|were|can|could|"
    r"would|will|should|have|has|shall|may|might|am|isn't|aren't|don't|didn't|won't|"
    r"wanna|want to)\b", re.I)
#: "What kind of food?", "what sort of dog is it?" — the answer names the kind
_KIND_QUESTION = re.compile(r"\bwhat (?:kind|type|sort) of ([a-z]+(?: [a-z]+)?)"
                            r"(?: (?:is (?:it|that|this|he|she)|are (?:they|those)))?\?+$", re.I)
#: "I'm coming to Berlin on the 27th, let's meet?": a statement, then a short question
#: (a tag, a proposal); the statement stands on its own
_STATEMENT_THEN_QUESTION = re.compile(r"^([^?]{12,}?),\s*((?:\S+\s+){0,3}\S+)\?+$")
_REQUEST_START = re.compile(
    r"^(let'?s|lets|please|pls|don'?t|do not|remember to|call|text|tell|check|look|come|"
    r"send|bring|make sure|try|imagine|suppose|say|give|write|help|explain|can you|could "
    r"you|would you|if|unless|in case|hope|maybe|perhaps|wish me|thank|thanks)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'll|i'd|im|ive|me|my|mine|myself|we|we're|"
                           r"we've|we'll|we'd|us|our|ours|ourselves)\b", re.I)

# words that may sit between a subject and its verb
_ADVERBS = {"also", "really", "just", "still", "never", "always", "usually", "often",
            "finally", "actually", "already", "recently", "sometimes", "totally",
            "absolutely", "definitely", "probably", "only", "even", "literally",
            "basically", "honestly", "seriously", "officially", "now", "both", "all",
            "ever", "mostly", "barely", "hardly", "rarely", "kinda", "sorta", "secretly",
            "somehow", "then", "too", "so"}
_MODALS = {"can", "can't", "cannot", "could", "couldn't", "will", "won't", "would",
           "wouldn't", "should", "shouldn't", "must", "mustn't", "might", "may", "shall",
           "was", "wasn't", "were", "weren't", "had", "hadn't", "did", "didn't", "used",
           "ought"}
_IRREGULAR_PAST = set("""
went got had was were saw met bought took made began left came found gave ate drank ran
wrote thought told said became broke felt flew forgot heard kept knew lost paid put sold
sent spent sat slept spoke stood swam taught won wore built caught chose drove fell fought
grew hid held hurt led lent rode rang rose shut sang sank stole struck threw understood
woke did brought meant set cut let quit read split spread hit cost beat bet bit bled
blew bred burnt dealt dug dreamt fed fled forgave froze hung laid lit overslept
""".split())
_BASE_EED = {"need", "feed", "bleed", "breed", "speed", "succeed", "proceed", "exceed",
             "heed", "seed", "weed", "embed", "shed", "wed", "bed"}
_CONJ_IRREG = {"have": "has", "do": "does", "go": "goes", "am": "is", "are": "is",
               "don't": "doesn't", "haven't": "hasn't", "aren't": "isn't", "'m": "is",
               "be": "is"}
#: a bare noun as subject, chat style ("rent is 50 quid higher", "tickets go on sale monday
#: at 10"); kept only with a number in the clause
_BARE_THING = re.compile(r"^([a-z]+)(?:\s+[a-z]+)?\s+(?:is|are|was|were|goes|go|went|costs?|"
                         r"starts?|opens?|closes?|ends?)\b")
#: a bare noun with an event verb, kept only with a date ("hip op went well yesterday",
#: "Baby girl arrived on Sunday", "offer accepted yesterday")
_BARE_EVENT = re.compile(r"^([a-z]+)(?:\s+[a-z]+)?\s+(?:went|arrived|came|happened|started|"
                         r"ended|finished|opened|closed|accepted|approved|confirmed|extended|"
                         r"cancelled|canceled|postponed|(?:was|got|is|were|has been) "
                         r"(?:accepted|approved|born|cancelled|canceled|postponed|delayed|"
                         r"confirmed|booked|extended|moved|sold|signed))\b", re.I)
#: a thing judged against others — "X is the best Y", "overrated", "better than" — is an
#: opinion worth keeping, unlike "that sounds amazing" (a reaction)
_OPINION_OF_THING = re.compile(
    r"^(?!(?:it|this|that|these|those|there|he|she|they|you|u|your|ur|yours|everything|"
    r"everyone|nothing)"
    r"\b)(?:(?:the|this|that|these|those) )?[\w\-']+(?: [\w\-']+){0,3}? (?:is|are|was|were)"
    r"(?: (?:honestly|really|just|still|totally|so|way|by far|definitely))? (?:the (?:best|worst|"
    r"greatest)|overrated|underrated|(?:much |way |so )?(?:better|worse) than)\b", re.I)
#: "There's a pony called Biscuit …", "There are two cats in my flat": something that exists
_EXISTENTIAL = re.compile(r"^there(?:'s| is| are| was| were)\s+(?!(?:no|nothing|something|"
                          r"so much|a lot|lots|too much|always|never)\b)\S", re.I)
#: someone unnamed did something, with a date: news ("someone broke into the shed")
_SOMEONE_EVENT = re.compile(r"^(?:someone|somebody)\s+(?:\w+ed|broke|stole|took|hit|stole|"
                            r"left|sent|bought|sold|found|came)\b", re.I)
_STATIVE_NOISE = re.compile(r"^\W*$")

_VERB_BASES = """
be have do go get make take come see know think say tell give find work live love like hate
prefer enjoy want need plan start begin finish move buy sell pay visit meet call text play
run walk swim ride drive fly travel study learn teach read write cook eat drink sleep wake
leave join quit stay rent own adopt marry date break fall feel try hope wish decide agree
open close build grow keep lose win watch listen sing dance paint draw climb hike bake
celebrate graduate retire train practise practice volunteer apply hire fire promote earn
save spend book cancel return arrive land change switch miss use wear turn become seem
look sound bring send show help follow lead manage run host organise organize attend
finish complete pass fail speak smell taste hurt injure recover sign retrain expect cost
die cry fix mix pack sort lend borrow film record sell order deliver repair replace
""".split()
_IRREG_FORMS = {"is", "am", "are", "was", "were", "been", "being", "has", "had", "does",
                "did", "done", "goes", "went", "gone", "got", "gotten", "made", "took",
                "taken", "came", "saw", "seen", "knew", "known", "thought", "said", "told",
                "gave", "given", "found", "met", "bought", "sold", "paid", "began", "begun",
                "left", "ran", "swam", "rode", "drove", "flew", "flown", "read", "wrote",
                "written", "ate", "eaten", "drank", "slept", "woke", "broke", "broken",
                "fell", "felt", "won", "lost", "kept", "grew", "built", "brought", "sent",
                "spent", "wore", "became", "led", "spoke", "taught", "will", "would", "can",
                "can't", "could", "should", "must", "might", "may", "won't", "doesn't",
                "don't", "didn't", "isn't", "aren't", "wasn't", "haven't", "hasn't"}
_VERBS = set(_IRREG_FORMS)
for _b in _VERB_BASES:
    _VERBS |= {_b, _b + "s", _b + "es", _b + "ing", _b.rstrip("e") + "ing", _b + "d", _b + "ed",
               _b[:-1] + "ies" if _b.endswith("y") else _b,
               _b[:-1] + "ied" if _b.endswith("y") else _b}
    # quit → quitting, plan → planned
    if re.search(r"(?:^|[^aeiou]|qu)[aeiou][bdgklmnprt]$", _b):
        _VERBS |= {_b + _b[-1] + "ing", _b + _b[-1] + "ed"}


def has_verb(text: str) -> bool:
    """Whether a sentence has a verb (a cheap check: known verb forms, "-ed" words,
    contracted auxiliaries). Headings and labels ("My home page.") have none."""
    for w in re.findall(r"[A-Za-z']+", text):
        lw = w.lower()
        if lw in _VERBS or "'" in lw and lw.split("'")[1] in ("s", "m", "re", "ve", "ll", "d") \
                or (lw.endswith("ed") and len(lw) > 4):
            return True
    return False


_PREF = re.compile(r"\b(love|loves|like|likes|hate|hates|prefer|prefers|favou?rite|enjoy|"
                   r"enjoys|can't stand|into|obsessed|adore|adores|dislike|dislikes|fan of|"
                   r"allergic|vegetarian|vegan)\b", re.I)
_PLAN = re.compile(r"\b(will|going to|gonna|plan|plans|planning|intend|intends|want to|"
                   r"wants to|hope to|hopes to|would like to|thinking (of|about)|about to|"
                   r"booked|scheduled|leaving|applying|'ll)\b", re.I)
_REL = re.compile(r"\b(sister|brother|mom|mum|mother|dad|father|wife|husband|partner|"
                  r"boyfriend|girlfriend|son|daughter|kids?|children|cousin|aunt|uncle|"
                  r"grand(ma|pa|mother|father)|married|engaged|dating|divorced|fianc[ée]+|"
                  r"best friend|roommate|flatmate|neighbou?r|broke up)\b", re.I)
_BIO = re.compile(r"\b(born|grew up|lives?|living|lived|moved|from|years old|turned|"
                  r"name is|nationality|speaks?|degree|graduated|studies|studying|studied|"
                  r"university|college|school)\b", re.I)
_WORK = re.compile(r"\b(job|works?|working|worked|office|boss|colleague|promot\w*|hired|"
                   r"fired|quit|interview|salary|career|company|startup|team lead|manager|"
                   r"engineer|freelanc\w*|intern\w*|contract)\b", re.I)
_HEALTH = re.compile(r"\b(doctor|hospital|sick|ill|surgery|allerg\w*|injur\w*|broke (my|"
                     r"his|her) \w+|pain|therap\w*|diagnos\w*|medication|pregnant|"
                     r"covid|flu|migraine|physio\w*|dentist)\b", re.I)
_OPINION = re.compile(r"\b(think|thinks|believe|believes|feel that|feels that|in my opinion|"
                      r"overrated|underrated|worth it|the best|the worst|should be)\b", re.I)
_PAST_EVENT = re.compile(r"\b(went|visited|met|attended|saw|moved|started|finished|won|lost|"
                         r"bought|sold|got|had|ran|climbed|travel+ed|flew|watched|adopted|"
                         r"graduated|married|celebrated|quit|joined|left|\w+ed)\b", re.I)


def is_assistant(item: WindowItem) -> bool:
    """True when the item was written by an AI assistant (never a source of facts)."""
    return item.speaker.strip().lower() in ASSISTANT_SPEAKERS


def speaker_name(item: WindowItem, window: Window) -> Optional[str]:
    """The name facts use for the item's speaker, or None to keep the first person."""
    if item.kind == "chunk":
        return window.me_name or None
    sp = item.speaker.strip()
    if item.is_me:
        if window.me_name:
            return window.me_name
        return None if sp.lower() in GENERIC_ME else sp
    if sp.lower() in GENERIC_ME:
        return None
    return sp


def split_sentences(text: str) -> list[str]:
    """Sentences of a chat message or paragraph (newlines also separate; so does an emoji
    before a capital: "I did 😅 It's on 2 April")."""
    text = _EMOJI.sub(lambda m: "\n" if re.match(r"\s*[A-Z]", text[m.end():]) else " ", text)
    # a line wrapped inside a sentence ("…and to hold a\nsign at km 19") is one sentence
    text = re.sub(r"(?<=[a-zà-ÿ,;])[ \t]*\n[ \t]*(?=[a-zà-ÿ])", " ", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)          # [label](url) → label
    text = re.sub(r"!?\[\[([^\]|#]*)(?:#[^\]|]*)?(?:\|([^\]]*))?\]\]",
                  lambda m: m.group(2) or m.group(1), text)          # [[page|alias]] → alias
    text = re.sub(r"<(?:https?://|mailto:)[^>|]*\|([^>]*)>", r"\1", text)  # Slack <url|label>
    text = re.sub(r"<[@#!][^>]*>|<https?://[^>]*>", " ", text)
    text = re.sub(r"https?://\S+", " ", text)
    text = _ABBREV.sub(lambda m: m.group(1) + "\u2024", text)   # "Mrs. Okafor" is one sentence
    # "Sam and I got the house" is one subject, not two clauses
    text = re.sub(r"\b([A-Z][a-zà-ÿ]+|[Mm]e|[Mm]y \w+) and (I|me)\b", "\\1\u2060and\u2060\\2", text)
    # "Ines, she played in a punk band": a name said first, then its pronoun, is one clause
    text = re.sub(r"(^|[.!?]\s+)([A-Z][a-zà-ÿ]+), (?=(?:she|he)\b)", "\\1\\2\u2061 ", text)
    parts = []
    for p in _SENT_SPLIT.split(text):
        # "I'm still at the bakery but I'm thinking about a café" → two statements
        for c in (_CLAUSE_SPLIT.split(p) if p else []):
            # "When my dad was in hospital, the nurses were kind" → both clauses
            m = _SUBORDINATE.match(c.strip()) if c else None
            if m:
                parts += [m.group(2), m.group(3)]
                continue
            m = _SHARED_PARTICIPLE.match(c.strip()) if c else None
            if m and m.group("ing") in _VERBS:
                parts += [m.group("head"), "I'm " + m.group("tail")]
                continue
            parts.append(c)
    out = [p.replace("\u2024", ".").replace("\u2060", " ").replace("\u2061", ",")
           .strip(" \t-–—*•>,")
           for p in parts if p]
    return [p for p in out if p]


#: congratulations, thanks and wishes about something: "congrats on the job", "thanks for
#: the soup", "good luck with the move"
_CONGRATS = re.compile(r"^\W*(?:\w+[.!,]+\s+)?(?:congrats|congratulations|thanks|thank you|thx|"
                       r"good luck|well done|cheers|happy \w+|best of luck)\s+(?:\w+\s+)?"
                       r"(?:on|for|with|about)\b", re.I)
#: "kitchen: Mikko wants to do it himself" — a label before a colon in a note's line
_DOC_LABEL = re.compile(r"^[-*•]?\s*([A-Za-z][\w'&/ ]{0,24}?):\s+(?=\S)")
#: "We sort donations and pack boxes": after a subject pronoun comes a verb, known or not
_SUBJECT_THEN_WORD = re.compile(r"^(?:I|[Ww]e|[Tt]hey|[Hh]e|[Ss]he)\s+(?:(?:also|just|still|"
                                r"usually|often|always|never|now)\s+)?[a-z]{3,}\b(?!\s*$)")
#: "here in London", "Greetings from Bolivia!": where the speaker is
_GREETINGS_FROM = re.compile(r"\b(?:[Gg]reetings|[Hh]ello|[Hh]i|[Hh]ey|[Ll]ove|[Pp]ostcard) "
                             r"from (?:sunny |rainy |snowy |beautiful )?"
                             r"([A-Z][\w\-]+(?: [A-Z][\w\-]+)?)")
_HERE_IN = re.compile(r"\b(?:here|over here|out here|back here) in "
                      r"([A-Z][\w\-]+(?: [A-Z][\w\-]+)?)")
#: questions that ask after nothing in particular ("how are you?", "you ok?", "right?")
_IDLE_QUESTION = re.compile(r"^(?:how (?:are|r) (?:you|u)|how(?:'s| is) it going|what'?s up|"
                            r"wyd|sup|(?:are )?(?:you|u) (?:ok|okay|good|alright|there|up)|"
                            r"r u (?:ok|okay|up)|right|really|seriously|why|what|huh|and you|"
                            r"you|u|how about you)\W*$", re.I)
#: short questions about what was just said: their answer is the news
_SHORT_WH = re.compile(r"^(?:which one|when|where|who|how long|how much|how many|what time|"
                       r"since when|how old|for how long|where to|with who(?:m)?|which)\W*$",
                       re.I)
#: a reply that answers nothing ("no idea", "not sure", "maybe", "haha")
_NOT_AN_ANSWER = re.compile(r"^(?:no|not|nope|nah|idk|dunno|maybe|perhaps|sure|yes|yeah|yep|"
                            r"ok|okay|haha\w*|lol|thanks|thank|same|good|fine|never mind)\b"
                            r"(?!\s+\w+\s+\w+)", re.I)


def _question_before(item: WindowItem, idx: int, window: Window
                     ) -> Optional[tuple[WindowItem, str]]:
    """(the message, its question) when the message just before ``item`` is someone
    else's question about something ("how's the leg?", "what did they take?"); None for
    idle questions ("how are you?") and for a first message."""
    if idx == 0 or item.kind != "message":
        return None
    prev = window.items[idx - 1]
    if prev.kind != "message" or prev.speaker == item.speaker or is_assistant(prev):
        return None
    sents = split_sentences(prev.text)
    q = _clean(sents[-1]) if sents else ""
    if not q or not sents[-1].rstrip().endswith("?") and not _QUESTION_START.match(q):
        return None
    q = q.rstrip("?!. ")
    if _IDLE_QUESTION.match(q) or not (_SHORT_WH.match(q) or [
            t for t in content_tokens(q) if t not in ("ok", "okay", "u", "ur", "r")]):
        return None     # "which one?", "since when?" ask after the news just given
    return prev, q


def _third_person(verb: str) -> str:
    v = verb
    low = v.lower()
    if low in _CONJ_IRREG:
        return _CONJ_IRREG[low]
    if low in _MODALS or low in _IRREGULAR_PAST or "'" in low:
        return v
    if low.endswith("ed") and low not in _BASE_EED:
        return v
    if low.endswith("ing") or not low.isalpha():
        return v
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return v + "es"
    if re.search(r"[^aeiou]y$", low):
        return v[:-1] + "ies"
    return v + "s"


def _reflexive_rules(pattern: str, pronoun: Optional[str]) -> list[tuple[str, str]]:
    """Rules rewriting the reflexive ``pattern`` ("myself", "yourself") for a person whose
    pronoun is ``pronoun`` (None: unknown, and "by myself" reads "alone" rather than "by
    themselves")."""
    if pronoun:
        return [(pattern, reflexive(pronoun))]
    return [(r"\bby " + pattern, "alone"), (pattern, reflexive(None))]


def _replace_first_person(s: str, name: str, pronoun: Optional[str] = None) -> str:
    """Rewrite the speaker's first person as ``name`` (third person singular); "myself"
    agrees with ``pronoun`` ("she"/"he", None when unknown)."""
    poss = name + "'s"
    rules = [
        (r"\b[Ii]'m\b|\b[Ii] am\b|\b[Ii]m\b", name + " is"),
        (r"\b[Ii]'ve\b|\bIve\b", name + " has"),
        (r"\b[Ii]'ll\b", name + " will"),
        (r"\b[Ii]'d\b", name + " would"),
        *_reflexive_rules(r"\b[Mm]yself\b", pronoun),
        (r"\b[Mm]y\b", poss), (r"\b[Mm]ine\b", poss), (r"\b[Mm]e\b", name),
    ]
    for rx, rep in rules:
        s = re.sub(rx, rep, s)
    # "I" + adverbs + verb → name + adverbs + verb-s
    out = []
    toks = re.split(r"(\s+)", s)
    i = 0
    while i < len(toks):
        t = toks[i]
        if t in ("I", "i"):
            out.append(name)
            j = i + 1
            if "".join(out[:-1]).rstrip().endswith(" and"):
                i = j           # "Sam and I are": the verb stays plural
                continue
            # copy whitespace/adverbs, conjugate the first verb
            while j < len(toks):
                w = toks[j]
                if not w.strip():
                    out.append(w)
                    j += 1
                    continue
                lw = w.lower().strip(",")
                if lw in _ADVERBS or lw.endswith("ly"):
                    out.append(w)
                    j += 1
                    continue
                m = re.match(r"^([A-Za-z']+)(.*)$", w)
                if m:
                    out.append(_third_person(m.group(1)) + m.group(2))
                else:
                    out.append(w)
                j += 1
                break
            i = j
            continue
        out.append(t)
        i += 1
    return "".join(out)


def _replace_you(s: str, addressee: str, pronoun: Optional[str] = None) -> str:
    poss = addressee + "'s"
    rules = [
        (r"\byourselves\b", "themselves"),
        *_reflexive_rules(r"\byourself\b", pronoun),
        (r"\byou'?re\b|\byou are\b", addressee + " is"),
        (r"\byou'?ve\b", addressee + " has"), (r"\byou'?ll\b", addressee + " will"),
        (r"\byou'?d\b", addressee + " would"),
        (r"\byou (\w+ )?were\b", addressee + r" \1was"),
        (r"\byou have\b", addressee + " has"),
        (r"\byour\b", poss), (r"\byours\b", poss),
        (r"\bur\b", poss), (r"\bu\b", addressee),
        (r"\byou\b", addressee),
    ]
    for rx, rep in rules:
        s = re.sub(rx, rep, s, flags=re.I)
    return s


def _addressee(item: WindowItem, window: Window, idx: int) -> Optional[str]:
    """Who a message talks to: the replied-to speaker, else the last other speaker, else
    the only other participant."""
    by_ext = {it.external_id: it for it in window.items}
    if item.reply_to and item.reply_to in by_ext:
        sp = by_ext[item.reply_to].speaker
        if sp and sp != item.speaker:
            return sp
    for prev in reversed(window.items[:idx]):
        if prev.speaker and prev.speaker != item.speaker and not is_assistant(prev):
            return prev.speaker
    others = [p for p in window.participants if p and p != item.speaker]
    if len(others) == 1:
        return others[0]
    return None


def classify(text: str, when: str) -> str:
    """The fact type of a rewritten sentence (first matching rule wins)."""
    if _HEALTH.search(text):
        return "health"
    if _PREF.search(text):
        return "preference"
    if _REL.search(text):
        return "relationship"
    if when == "future" or _PLAN.search(text):
        return "plan"
    if _WORK.search(text):
        return "work"
    if _BIO.search(text):
        return "biography"
    if _OPINION.search(text):
        return "opinion"
    if _PAST_EVENT.search(text):
        return "event"
    return "other"


_SLOT_RULES: list[tuple[str, re.Pattern]] = [
    ("residence", re.compile(r"^(?P<s>.+?) (?:now )?(?:lives|is living|has been living|is based|"
                             r"moved|has moved|is moving|just moved|relocated) (?:in|to) "
                             r"(?P<v>(?:[A-Z][\w\-]+)(?: [A-Z][\w\-]+)*)")),
    ("employer", re.compile(r"^(?P<s>.+?) (?:now )?(?:works|is working|has been working|started "
                            r"(?:a new job|working|work)|got a (?:new )?job|joined|is employed|"
                            r"has a (?:new )?job|accepted an offer|started) ?(?:at|for|with)? "
                            r"(?P<v>(?:[A-Z][\w&\-]+)(?: [A-Z][\w&\-]+)*)")),
    ("occupation", re.compile(r"^(?P<s>.+?) (?:now )?(?:works|is working) as (?:a |an )?"
                              r"(?P<v>[a-z][a-z \-]+?)(?: at| for| in|[.,]|$)")),
    ("age", re.compile(r"^(?P<s>.+?) (?:is|turned|just turned) (?P<v>\d{1,3})(?: years old|\b)")),
    ("partner", re.compile(r"^(?P<s>.+?) (?:is married to|is dating|is engaged to|married) "
                           r"(?P<v>[A-Z][\w\-]+(?: [A-Z][\w\-]+)?)")),
    ("diet", re.compile(r"^(?P<s>.+?) (?:is|became|has become|went|is now) (?:a )?"
                        r"(?P<v>vegetarian|vegan|pescatarian|carnivore)")),
]
_FAV = re.compile(r"^(?P<s>.+?)'s (?:all[- ]time )?favou?rite (?P<a>[a-z]+(?: [a-z]+)?) is "
                  r"(?:now )?(?P<v>[^,.;]+)")


def read_slot(text: str, subject: str) -> Optional[tuple[str, str, str]]:
    """(subject, attribute, value), normalised, when ``text`` states a single-valued
    attribute of ``subject``: where they live, who employs them, their job, age, partner,
    diet or a favourite thing. None otherwise (also for negations and past states)."""
    if not subject or not text.startswith(subject):
        return None
    if re.search(r"\b(not|n't|never|no longer|used to|anymore|before|until)\b", text, re.I):
        return None
    for attr, rx in _SLOT_RULES:
        m = rx.match(text)
        if m and norm_name(m.group("s")) == norm_name(subject):
            return norm_name(subject), attr, norm_name(m.group("v"))
    m = _FAV.match(text)
    if m and norm_name(m.group("s")) == norm_name(subject):
        return norm_name(subject), "favourite " + m.group("a").lower(), norm_name(m.group("v"))
    return None


def _clean(s: str) -> str:
    s = s.replace("’", "'").replace("‘", "'")
    s = _INTERJ.sub("", s.strip())
    s = re.sub(r"^[A-Z]{2,}[!?.]*\s+(?=(?:I|I'm|My|We)\b)", "", s)   # "WHAT I'm going to…"
    s = re.sub(r"^(?:big |good |bad |great |sad |some |exciting )?(?:news|update|fyi|psa|"
               r"guess what|fun fact|so yeah)\s*[:!,\-–—]+\s*", "", s, flags=re.I)
    s = re.sub(r",?\s+if (?:you|u) (?:want|like|'d like|would like|need)\b", "", s, flags=re.I)
    # a short label before a colon: "Different question: I teach…", "ok tldr: me and…"
    s = re.sub(r"^[A-Za-z][\w' ]{0,24}:\s+(?=\S)", "", s)
    s = re.sub(r"\s*\b(lol|haha+|hehe+|lmao|xd|btw|tbh|imo|imho|omg)\b\s*|:\)|:\(|:D|;\)", " ",
               s, flags=re.I)
    s = re.sub(r"\s+", " ", s).strip(" ,;:-–—")
    return s


def _finish(s: str) -> str:
    s = re.sub(r"[!?.…]+$", "", s.strip()).strip(" ,;:")
    s = re.sub(r"\s+", " ", s)
    if not s:
        return s
    return s[0].upper() + s[1:] + "."


def _informative(text: str, subject_names: set[str], n_dates: int, n_entities: int,
                 entity_tokens: set[str] = frozenset()) -> bool:
    toks = [t for t in content_tokens(text) if t not in subject_names and t != "others"]
    if not toks or (not [t for t in toks if t not in entity_tokens] and len(text.split()) < 4):
        return False        # only names: "Kevin will."
    # one telling word is enough when it names a life topic ("Anna is vegetarian")
    return len(toks) >= 2 or (len(toks) >= 1 and (n_dates or n_entities or topic_tags(toks[0])
                                                  or HABIT.search(text)))


def _third_person_subject(s: str, people: set[str]) -> bool:
    """A sentence starting with a capitalised name (or a known person) and a verb."""
    m = re.match(r"^([A-Z][\w\-]+(?:\s+[A-Z][\w\-]+)?)(?:'s\s+\w+)?\s+([a-z']+)", s)
    if not m:
        return False
    first = m.group(1).split()[0].lower()
    if first in STOPWORDS or first in ("i", "it", "this", "that", "there", "he", "she", "they"):
        return False
    verb = m.group(2)
    if norm_name(m.group(1)) in people or norm_name(m.group(1)).split()[0] in people:
        return True
    if len(m.group(1).split()) > 1:     # "Aunt Rosa is bringing …", "Raj Patel is …",
        # "Atlântico Labs offered me the job"
        return verb in _KNOWN_PERSON_VERBS or verb in _VERBS or (
            verb.endswith("ed") and len(verb) > 4)
    # an unknown capitalised word may be a common noun ("Docs are …", "Work was long
    # today"): only verbs people do, never a copula or an auxiliary
    return verb in _PERSON_VERBS or (verb.endswith("ed") and len(verb) > 4)


_EVENT_VERBS = {"got", "gets", "moved", "started", "married", "bought", "passed", "won",
                "lost", "quit", "joined", "left", "broke", "became", "turned", "found", "just",
                "finally", "said", "told", "works", "lives", "loves", "hates", "likes",
                "wants", "needs", "went", "had", "has", "was", "is", "will", "never", "always",
                "still"}
_PERSON_VERBS = _EVENT_VERBS - {"is", "was", "has", "had", "will", "never", "always", "still",
                                "just", "finally", "became", "turned", "broke", "found", "left",
                                "lost", "won"}
_KNOWN_PERSON_VERBS = _EVENT_VERBS | {"is", "are", "can", "can't", "also", "would",
                                      "should", "does", "doesn't", "isn't", "wasn't"}


_WE_AS_I = [(r"\b([Ww]e(?:'re| are| were| have|'ve|'ll| will)?) both\b", r"\1"),
            (r"\b[Ww]e're\b", "I'm"), (r"\b[Ww]e've\b", "I've"), (r"\b[Ww]e'll\b", "I'll"),
            (r"\b[Ww]e'd\b", "I'd"), (r"\b[Ww]e are\b", "I am"), (r"\b[Ww]e were\b", "I was"),
            (r"\b[Ww]e\b", "I"), (r"\b[Oo]urselves\b", "myself"), (r"\b[Oo]urs\b", "mine"),
            (r"\b[Oo]ur\b", "my"), (r"\bus\b", "me")]


def _we_as(text: str, group: str) -> str:
    """Rewrite "we" forms as ``group`` ("Sam and Maya"; plural verbs stay plural)."""
    rules = [(r"\b[Ww]e're\b", group + " are"), (r"\b[Ww]e've\b", group + " have"),
             (r"\b[Ww]e'll\b", group + " will"), (r"\b[Ww]e'd\b", group + " would"),
             (r"\b[Oo]urselves\b", "themselves"), (r"\b[Oo]urs\b", group + "'s"),
             (r"\b[Oo]ur\b", group + "'s"), (r"\bus\b", group), (r"\b[Ww]e\b", group)]
    for rx, rep in rules:
        text = re.sub(rx, rep, text)
    return text


def _we_as_i(text: str) -> str:
    for rx, rep in _WE_AS_I:
        text = re.sub(rx, rep, text)
    return text


_THE_EVENT_PAST = re.compile(r"\b(?:broke|burned|flooded|crashed|died|closed|opened|launched|"
                             r"sold out|got cancelled|was cancelled)\b")
_WE_ANY = re.compile(r"\b(?:[Ww]e|[Ww]e're|[Ww]e've|[Ww]e'll|[Ww]e'd|us|[Oo]ur|[Oo]urs|"
                     r"[Oo]urselves)\b")
_PRONOUN_START = re.compile(r"^(?P<lead>.*?)\b(?P<p>[Hh]e|[Ss]he)(?P<c>'s|'d|'ll)?\b")
_CONTRACTION = {"'s": " is", "'d": " would", "'ll": " will", None: ""}


#: ordinary nouns that open chat sentences ("Work was long", "Dinner was great"): never
#: taken for names
_ORDINARY_NOUNS = {w for ws in TOPICS.values() for w in ws} | set(_VERB_BASES)


class _Context:
    """What the rules need to know about a window (computed once per window)."""

    def __init__(self, window: Window):
        self.people = {norm_name(p) for p in window.participants if p}
        self.people |= {norm_name(it.speaker) for it in window.items if it.speaker}
        if window.me_name:
            self.people.add(norm_name(window.me_name))
        self.speakers = [it.speaker for it in window.items if it.speaker] + \
            list(window.participants)
        if window.me_name:
            self.speakers.append(window.me_name)
        # each name once: entity finding normalises them for every fact
        self.speakers = list(dict.fromkeys(self.speakers))
        self.names = window_names(it.text for it in window.items)
        self.names |= sentence_start_names(
            (sent for it in window.items if not is_assistant(it)
             for sent in split_sentences(it.text)), _ORDINARY_NOUNS)
        # names written after "in/to/from …" are places, never who "she" is
        self.places = {m.group(1) for it in window.items for m in re.finditer(
            r"\b(?:in|to|from|at|near|around|visit(?:ed|ing)?|via)\s+([A-Z][\w\-]+)", it.text)}
        humans = {p for p in window.participants if p and p.strip().lower()
                  not in ASSISTANT_SPEAKERS}
        humans |= {it.speaker for it in window.items if it.speaker and not is_assistant(it)}
        self.two_person = len(humans) == 2
        self.pronouns = pronoun_evidence([(it.speaker, it.text) for it in window.items
                                          if it.kind == "message"], self.people, norm_name)

    def is_name(self, word: str) -> bool:
        k = norm_name(word)
        return bool(k) and (k in self.people or word in self.names)

    def is_person(self, word: str) -> bool:
        if norm_name(word) in self.people:
            return True
        return word in self.names and word not in self.places and \
            word.lower() not in STOPWORDS


class DeterministicExtractor:
    """Rule-based extraction; see the module docstring. Stateless and thread-safe."""

    name = NAME

    def extract(self, window: Window, cancel=None) -> ExtractResult:
        """Facts from ``window``; every fact cites the message or chunk it came from."""
        facts: list[Fact] = []
        ctx = _Context(window)
        seen: set[str] = set()
        for idx, item in enumerate(window.items):
            if item.kind == "message" and is_assistant(item):
                continue
            name = speaker_name(item, window)
            ref = item.timestamp if item.kind == "message" else window.ref_date
            sents = split_sentences(item.text)
            answer = self._answer_fact(sents[0] if sents else "", item, idx, window, name,
                                       ref, ctx)
            here = _HERE_IN.search(item.text) or _GREETINGS_FROM.search(item.text) \
                if name and item.kind == "message" else None
            if here and not re.search(r"\b(?:you|your|u|ur)\b",
                                      re.split(r"[.!?]", item.text[:here.start()])[-1], re.I):
                # "It's already morning here in London": where the speaker is
                fact = self._fact(f"{name} is in {here.group(1)}.", [], item, window, name,
                                  ref, ctx, "present", name, None, True)
                if fact is not None and norm_name(fact.text) not in seen:
                    seen.add(norm_name(fact.text))
                    facts.append(fact)
            asked = _question_before(item, idx, window)
            skip = -1
            for n, sent in enumerate(sents):
                if n == skip:
                    continue
                fact = answer or self._sentence_fact(sent, item, idx, window, name, ref, ctx)
                answer = None
                if fact is None and asked and n < 2:
                    fact, used = self._reply_fact(sents[n:n + 2], asked, item, window, name,
                                                  ref, ctx)
                    asked = None if fact else asked     # one reply fact per message
                    skip = n + 1 if used > 1 else skip
                if fact is None:
                    continue
                key = norm_name(fact.text)
                if key in seen:
                    continue
                seen.add(key)
                facts.append(fact)
        return ExtractResult(facts=facts)

    def _answer_fact(self, sent: str, item: WindowItem, idx: int, window: Window,
                     name: Optional[str], ref, ctx: _Context) -> Optional[Fact]:
        """A short answer without a verb to "what kind of X?" asked by someone else just
        before ("What kind of food?" — "Levantine street food.") as "<name>'s X is …"."""
        if not name or idx == 0 or item.kind != "message":
            return None
        prev = window.items[idx - 1]
        if prev.kind != "message" or prev.speaker == item.speaker or is_assistant(prev):
            return None
        q = _KIND_QUESTION.search(prev.text.strip())
        frag = _clean(sent)
        if not q or not frag or has_verb(frag.split(",")[0]) or len(frag.split()) > 14 or \
                _GREETING.match(frag) or frag.endswith("?") or \
                re.match(r"(?:no|not|idk|dunno|any|some|depends|whatever)\b", sent.strip(), re.I) \
                or not substantive(frag, set(), _VERBS):
            return None                 # "No idea yet", "Not sure", "Anything cheap"
        frag = _replace_first_person(frag, name, ctx.pronouns.get(norm_name(name)))
        # the answer keeps its capital: "Levantine", "Nata & Crumb" are names more often
        # than a lower-cased word reads wrong
        text, dates = rewrite_dates(f"{name}'s {q.group(1).lower()} is {frag}", ref, "unknown")
        return self._fact(_finish(text), dates, item, window, name, ref, ctx, "unknown", name,
                          None, True)

    def _reply_fact(self, sents: list[str], asked: tuple[WindowItem, str], item: WindowItem,
                    window: Window, name: Optional[str], ref, ctx: _Context
                    ) -> tuple[Optional[Fact], int]:
        """A short reply with no subject of its own to a question someone else asked just
        before ("how did you even break it?" — "five-a-side. tackle from a 50 year old")
        as "Asked how did Femi even break it, Femi said five-a-side, tackle from a 50 year
        old": the answer means nothing without its question, and a careful reader keeps the
        two together. Takes the first of ``sents`` and the next when it is a fragment too;
        returns (the fact citing both messages or None, how many sentences it used)."""
        if not name:
            return None, 0
        frags = []
        for sent in sents:
            frag = self._answer_fragment(sent, ctx)
            if frag is None:
                break
            frags.append(frag)
        question, q = asked
        if not frags or set(content_tokens(" ".join(frags))) <= set(content_tokens(q)):
            return None, 0          # "five-a-side?" — "five-a-side": an echo adds nothing
        asker = speaker_name(question, window) or question.speaker
        q = _replace_you(_replace_first_person(q, asker), name)
        q = re.sub(rf"\b(are|were|have|do)\s+{re.escape(name)}\b",
                   lambda m: {"are": "is", "were": "was", "have": "has", "do": "does"}[
                       m.group(1).lower()] + " " + name, q, flags=re.I)
        q = re.sub(rf"\b(does|did|do) {re.escape(name)} has\b", rf"\1 {name} have", q)
        q = re.sub(r",?\s+(?:right|yeah|no|or not)$", "", q, flags=re.I)
        if q[:2].isupper():
            q = q.lower()
        q = q[0].lower() + q[1:]
        # "what's it called?" reads as asked; "the one in Walthamstow?" asks about a thing
        q = q if _QUESTION_START.match(q) else "about " + q
        frag = _replace_you(_replace_first_person(", ".join(frags), name), asker)
        first = frag.split()[0]
        if first.lower() in STOPWORDS or first.lower() in _VERBS or \
                first.lower().endswith(("ing", "ed", "ly")):
            frag = frag[0].lower() + frag[1:]
        when = tense(frag)
        text, dates = rewrite_dates(f"Asked {q}, {name} said {frag}", ref, when)
        fact = self._fact(_finish(text), dates, item, window, name, ref, ctx, when, name, asker,
                          True)
        if fact is None:
            return None, 0
        fact.sources = [question.id, item.id]
        return fact, len(frags)

    def _answer_fragment(self, sent: str, ctx: _Context) -> Optional[str]:
        """``sent`` cleaned when it can answer a question on its own words: short, no
        subject of its own (or only "my …" with no verb), not a reaction, an imperative,
        talk about the other person or a non-answer ("no idea"); else None."""
        frag = _clean(sent)
        if not frag or frag.endswith("?") or len(frag.split()) > 14 or \
                _GREETING.match(frag) or _SMALL_TALK.match(frag) or is_reaction(frag) or \
                _REQUEST_START.match(frag) or _NOT_AN_ANSWER.match(frag) or \
                _UNRESOLVED.match(frag) and not re.match(r"they\b", frag, re.I) or \
                re.search(r"\b(?:you|your|u|ur)\b", frag, re.I) or \
                frag.split()[0].lower() in _VERB_BASES or \
                subject_of(frag, ctx.is_name) not in (None, "it", "they", "first") or \
                subject_of(frag, ctx.is_name) == "first" and has_verb(frag) or \
                not substantive(frag, set(), _VERBS):
            return None     # no answer: talk about the other, an imperative, a reaction
        return frag.rstrip("!.… ")

    def _gate(self, raw: str) -> Optional[str]:
        """The cleaned clause when it may state a fact (not a question, greeting, small
        talk, request, reaction or assistant boilerplate), else None."""
        if raw.endswith("?"):
            m = _STATEMENT_THEN_QUESTION.match(raw)
            raw = m.group(1) if m else ""
        if len(raw) < 8 or raw.endswith(":") or _CONGRATS.match(raw):
            return None                 # "congrats on the job but noooo": a reaction
        s = _clean(raw)
        if len(s.split()) < 2:
            return None
        if _GREETING.match(s) or _SMALL_TALK.match(s) or _ASSISTANT_BOILER.search(s):
            return None
        if _GREETING_START.match(s) and len(s.split()) <= 6:
            return None
        if not (has_verb(s) or elided_state(s) or _SUBJECT_THEN_WORD.match(s)) or \
                is_reaction(s):
            return None
        if _QUESTION_START.match(s) and not re.match(r"^\w+\s+(I|we|my)\b", s, re.I):
            return None
        if _REQUEST_START.match(s):
            return None
        return s

    def _resolve_subject(self, s: str, kind: str, item: WindowItem, idx: int, window: Window,
                         name: Optional[str], ctx: _Context) -> Optional[str]:
        """``s`` with "we", a "he/she" and an "it" subject resolved, or None when they
        cannot be."""
        if kind == "it":
            cut = item.text.find(s[:12])
            thing = resolve_it(item.text[:cut] if cut > 0 else "", _VERBS)
            if not thing and cut <= 0 and idx > 0 and \
                    window.items[idx - 1].speaker == item.speaker:
                # "We bought a house!" / "It has a huge garden": the speaker's last line
                thing = resolve_it(window.items[idx - 1].text, _VERBS)
            if not thing:
                return None
            s = re.sub(r"^(.*?)\b[Ii]t(?:'s\b|\b)", lambda m: m.group(1) + thing + (
                " is" if m.group(0).endswith("'s") else ""), s, count=1)
        if kind == "they":
            cut = item.text.find(s[:12])
            own = [it.text for it in window.items[max(0, idx - 4):idx]
                   if it.speaker == item.speaker]
            group = resolve_they(own + [item.text[:cut] if cut > 0 else ""])
            if not group:
                return None
            thing, one = group
            m = re.match(r"^(?P<lead>.*?)\b[Tt]hey(?P<c>'re|'ve)?\b", s)
            lead, rest = m.group("lead"), s[m.end():]
            if m.group("c"):
                verb = {"'re": " is" if one else " are", "'ve": " has" if one else " have"}[
                    m.group("c")]
                s = lead + thing + verb + rest
            elif one:   # "They make batteries" → "the climate tech startup makes batteries"
                w = re.match(r"(\s+)([\w']+)(.*)$", rest, re.S)
                verb = w.group(2) if w else ""
                verb = {"were": "was"}.get(verb.lower()) or _third_person(verb)
                s = lead + thing + (w.group(1) + verb + w.group(3) if w else rest)
            else:
                s = lead + thing + rest
        if name and _WE_ANY.search(s):
            addressee = _addressee(item, window, idx) if item.kind == "message" else None
            speaker = item.speaker if item.kind == "message" and item.speaker else name
            history = [(it.speaker if it.kind == "message" else speaker, it.text)
                       for it in window.items[:idx + 1]]
            group = resolve_we(s, speaker, history, addressee, ctx.two_person)
            if group == speaker:
                s = _we_as_i(s)
            else:
                s = _we_as(s, name + group[len(speaker):])
        if kind == "pronoun":
            history = []
            for j in range(max(0, idx - 3), idx):
                it = window.items[j]
                history.append((speaker_name(it, window) or it.speaker,
                                _addressee(it, window, j) if it.kind == "message" else None,
                                it.text))
            cut = item.text.find(s[:12])
            # a name said to the addressee ("Hi Dev! … she's settling in") is not "she"
            history.append((name or item.speaker,
                            _addressee(item, window, idx) if item.kind == "message" else None,
                            item.text[:cut] if cut > 0 else ""))
            who = resolve_pronoun(history, ctx.is_person)
            m = _PRONOUN_START.match(s)
            if not who or not m:
                return None
            c = _CONTRACTION[m.group("c")]
            if m.group("c") == "'s" and re.match(r"\s+(?:been|got|gotten|had)\b", s[m.end():]):
                c = " has"                  # "He's been here longer" → "Kevin has been …"
            s = s[:m.start("p")] + who + c + s[m.end():]
        return s

    def _sentence_fact(self, sent: str, item: WindowItem, idx: int, window: Window,
                       name: Optional[str], ref, ctx: _Context) -> Optional[Fact]:
        # a note's bullet label ("- floors: sanding in April") names what the line is about
        label = _DOC_LABEL.match(sent.strip()) if item.kind == "chunk" else None
        label = label.group(1).strip() if label else None
        s = self._gate(sent.strip())
        if s is None:
            return None
        voc = _VOCATIVE.match(s)
        dislocated = voc and re.match(r"(?:she|he)\b", s[voc.end():], re.I) and \
            voc.group(1).lower() not in STOPWORDS and not voc.group(1).lower().endswith("ly")
        if voc and (ctx.is_name(voc.group(1)) or dislocated):
            s = s[voc.end():]                       # "Lena, the boiler stopped working"
            pron = re.match(r"(?:she|he)(?:'s(?=\s+(?:been|got|had)\b)|('s))?\b", s, re.I)
            if pron and norm_name(voc.group(1)) not in ctx.people:
                # "Ines, she played in a punk band": the name said first is who "she" is
                s = voc.group(1) + (" has" if pron.group(0).endswith("'s") and not
                                    pron.group(1) else " is" if pron.group(1) else "") + \
                    s[pron.end():]
            else:
                dislocated = False
        kind = "name" if voc and dislocated else subject_of(s, ctx.is_name)
        s, kind = self._other_subject(s, kind, item, ref, ctx, label)
        if kind is None:
            return None
        if kind == "elided-plan":
            kind = "elided" if find_dates(s, ref) else None
            if kind is None:
                return None
            lead, rest = strip_lead(s)
            verb = rest.split()[0].lower()
            s = lead + ("I'm " if verb.endswith("ing") or verb in ("back", "off") else "I ") \
                + rest[0].lower() + rest[1:]
            kind = "first"
        if kind == "elided-doing":
            lead, rest = strip_lead(s)
            s = lead + ("I've " if rest.lower().startswith("been") else "I'm ") + \
                rest[0].lower() + rest[1:]
            kind = "first"
        if kind == "elided-state":
            if has_verb(s):
                return None             # "in Berlin we found a flat": not a bare state
            lead, rest = strip_lead(s)
            if re.fullmatch(r"(?:(?:just|finally|still|now|already|also|so|and)[\s,]+)+", lead,
                            re.I):      # "finally out of the cast" → "I'm finally out of …"
                lead, rest = "", lead.lower().strip(" ,") + " " + rest[0].lower() + rest[1:]
                s = "I'm " + rest
            else:
                s = lead + "I'm " + rest[0].lower() + rest[1:]
            kind = "first"
        if kind == "elided":
            lead, rest = strip_lead(s)
            if re.fullmatch(r"(?:(?:just|finally|also|recently|already|so|and)[\s,]+)+", lead,
                            re.I):
                lead, rest = "", lead.lower().strip(" ,") + " " + rest
            s, kind = lead + "I " + rest[0].lower() + rest[1:], "first"
        s = self._resolve_subject(s, kind, item, idx, window, name, ctx)
        if s is None:
            return None
        first_person = bool(_FIRST_PERSON.search(s))
        when = tense(s)
        text, dates = rewrite_dates(s, ref, when)
        addressee = None
        if re.search(r"\b(you|your|yours|yourself|u|ur)\b", text, re.I):
            addressee = _addressee(item, window, idx) if item.kind == "message" else None
            if not addressee or not (first_person or kind in ("first", "yours")):
                return None
            text = _replace_you(text, addressee, ctx.pronouns.get(norm_name(addressee)))
        if first_person and name:
            text = _replace_first_person(text, name, ctx.pronouns.get(norm_name(name)))
        if kind == "thing" and not (dates or re.search(r"\d", text) or first_person
                                    or _THE_EVENT_PAST.search(text) or
                                    re.search(r"\b(?:called|named)\s+[A-Z]", text)):
            return None         # a thing as subject: with a date, number, the speaker or news
        if kind in ("first", "we") and name:
            subject = name
        elif kind in ("first", "we"):
            subject = "I"
        elif kind == "it":
            # the thing is the subject: its own words say nothing ("The concert was
            # amazing" is an evaluation, "The sailboat is in a barn near Whitstable" a fact)
            subject = re.split(r"\s+(?:is|was|has|had|needs|needed|looks|sits|lives|cost|"
                               r"costs|took|takes|belonged|came|comes|used|will|should)\b",
                               text, maxsplit=1)[0]
        else:
            m = re.match(r"^(?:.*?\b)?([A-Z][\w\-]+(?:\s+[A-Z][\w\-]+)?)", strip_lead(text)[1])
            subject = m.group(1) if m else ""
        if label and not text.lower().startswith(label.lower()):
            first = text.split()[0]
            text = f"{label[0].upper() + label[1:]}: " + (
                text if ctx.is_name(first) or first == name else text[0].lower() + text[1:])
        text = _finish(text)
        return self._fact(text, dates, item, window, name, ref, ctx, when, subject, addressee,
                          first_person)

    def _other_subject(self, s: str, kind: Optional[str], item: WindowItem, ref,
                       ctx: _Context, label: Optional[str]) -> tuple[str, Optional[str]]:
        """(clause, kind) when ``subject_of`` found no speaker, pronoun or name: a named
        person, a thing with a number or date, an opinion, what exists, a parent said
        alone, a line of a note; the kind stays None when nobody can be named."""
        if kind is None and _third_person_subject(strip_lead(s)[1], ctx.people):
            kind = "name"
        if kind is None and re.search(r"\d", s):
            m = _BARE_THING.match(strip_lead(s)[1])
            if m and m.group(1).lower() not in STOPWORDS:
                kind = "thing"      # "rent is 50 quid higher from July": news with a number
        if kind is None:
            m = _BARE_EVENT.match(strip_lead(s)[1])
            if m and m.group(1).lower() not in STOPWORDS and find_dates(s, ref):
                # "hip op went well yesterday": the speaker's own news, with a date
                lead, rest = strip_lead(s)
                s, kind = lead + "my " + rest[0].lower() + rest[1:], "first"
        if kind is None and _OPINION_OF_THING.match(strip_lead(s)[1]):
            # "Pink Fir Apple are the best potatoes": the speaker's opinion of a thing
            lead, rest = strip_lead(s)
            s, kind = lead + "I think " + rest[0].lower() + rest[1:] if re.match(
                r"(?:The|This|That|These|Those)\b", rest) else lead + "I think " + rest, "first"
        if kind is None and _EXISTENTIAL.match(strip_lead(s)[1]) and (
                _FIRST_PERSON.search(s) or re.search(r"\b(?:called|named)\s+[A-Z]", s)):
            kind = "thing"          # "There's an old pony there called Biscuit who follows me"
            s = re.sub(r"^(.*?)\b[Tt]here's\b", r"\1There is", s, count=1)
        if kind is None and _SOMEONE_EVENT.match(strip_lead(s)[1]) and find_dates(s, ref):
            kind = "thing"          # "someone broke into the shed last night"
        if kind == "kin":
            lead, rest = strip_lead(s)
            s, kind = lead + "my " + rest[0].lower() + rest[1:], "first"
        if kind is None and item.kind == "chunk" and (label or re.search(r"\d", s) or
                                                      find_dates(s, ref) or re.match(
                                                          r"(?:the|my|our)\s", strip_lead(s)[1],
                                                          re.I)):
            # a person's own notes hold facts in every line: "The garden is north-facing",
            # "- floors: sanding in April, quote is £1,150"
            kind = "note"
        return s, kind

    def _fact(self, text: str, dates: list, item: WindowItem, window: Window,
              name: Optional[str], ref, ctx: _Context, when: str, subject: str,
              addressee: Optional[str], first_person: bool) -> Optional[Fact]:
        ents = find_entities(text, people=ctx.speakers, names=ctx.names, sentence_start_ok=True)
        subj_tokens = set(norm_name(name).split()) if name else {"i"}
        subj_tokens |= set(norm_name(subject).split()) if subject else set()
        ent_tokens = {t for n, _k in ents for t in norm_name(n).split()}
        if not _informative(text, subj_tokens, len(dates), len(ents), ent_tokens):
            return None
        around = subj_tokens | set(norm_name(addressee or "").split())
        others = [n for n, _k in ents if not set(norm_name(n).split()) <= around]
        if not substantive(text, around | {"others"}, _VERBS, len(dates), len(others), subject):
            return None
        fact_type = classify(text, when)
        valid_from = None
        msg_day = None
        if ref:
            d = local_date(ref) if isinstance(ref, str) else ref
            msg_day = d.isoformat() if d else None
        past_dates = [d for d in dates if msg_day is None or d.start.isoformat() <= msg_day]
        if past_dates and fact_type not in ("plan",):
            valid_from = past_dates[0].iso()
        else:
            valid_from = msg_day
        confidence = 0.8 if first_person else 0.6
        if item.kind == "chunk":
            confidence -= 0.1
        slot = read_slot(text, subject) if subject and subject != "I" else None
        return Fact(text=text, sources=[item.id], fact_type=fact_type, confidence=confidence,
                    valid_from=valid_from, subject=subject, entities=ents, slot=slot)

"""What a careful reader keeps, and who a sentence is about — the deterministic rules.

Chat is mostly talk *about the talk*: reactions ("I'm so proud of you", "I love that"),
encouragement ("I'm sure you'll make it"), hopes and wishes, evaluations of what the
other said ("Diego is so talented"), and sentences whose subject is left out
("Appreciate the support of my friends") or is a pronoun nobody resolves ("He sleeps on
her side"). A careful reader keeps none of that; they keep what happened, what someone
has, is, plans, prefers — each about someone they can name. The rules here decide:

- :func:`is_reaction` — the clause is a reaction, a wish or an evaluation, not a fact;
- :func:`subject_of` — who the clause is about: the speaker (``I``, ``my X``, ``X and
  I``), a group with the speaker (``we``), a named person, a pronoun, or nobody;
- :func:`resolve_we` — "we" is the speaker and the partner they named ("Sam and I"), or
  both people of a two-person chat when it proposes something to the other ("we should
  go camping"), else the speaker;
- :func:`resolve_pronoun` — "he"/"she" at the start of a clause is the person most
  recently named (or "my sister" → "Anna's sister") in the last messages, else nobody;
- :func:`pronoun_evidence` — how the others refer to a person ("Tom said *she* …" after
  "Priya"), so that "myself" becomes "herself" or "himself", never "Priya accepts Priya";
- :func:`substantive` — after rewriting, the fact says something beyond its subject and a
  verb ("Kai fixed it" and "Nina loves him already" say nothing a reader could use).

Pure functions over strings; no model, no database.
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

from .text import STOPWORDS, content_tokens

# -- reactions ---------------------------------------------------------------------------
_INTENS = r"(?:(?:so|really|very|super|just|totally|truly|absolutely|genuinely|incredibly|" \
          r"already|still|soo+|sooo+|kinda|honestly|all|quite|pretty|beyond|also|always)\s+)*"
_FEEL_ADJ = (r"proud|happy|glad|sorry|sure|excited|thrilled|jealous|obsessed|hooked|"
             r"honou?red|grateful|thankful|touched|impressed|speechless|amazed|curious|"
             r"crying|dying|screaming|relieved|rooting|in awe|all ears|confident|positive|"
             r"certain|shook|blessed|lucky|flattered|moved|inspired|here for (?:you|it)|"
             r"rooting for you|with you|on board|(?:down|in|game)(?=\s*(?:$|[!.,;:)?]|for\b|"
             r"too\b|lol\b|haha\b))|stoked|psyched|pumped|"
             r"delighted|overjoyed|ecstatic|sad to hear|heartbroken for you|intrigued|"
             r"interested|a fan|a big fan|jealous|envious|amazed|shocked|surprised|"
             r"not surprised|in love with (?:it|that|this|them|him|her)")
_REACTIONS = [
    # I'm so proud of you / I'm sure you'll make it / we're so happy for you
    re.compile(rf"^(?:i'?m|i am|im|i was|i feel|i felt|i'?m feeling|we'?re|we are|we were)\s+"
               rf"{_INTENS}(?:{_FEEL_ADJ})\b", re.I),
    # I love that / I love it / I adore him / I really like the name
    re.compile(rf"^i\s+{_INTENS}(?:love|loved|adore|like|liked|enjoyed|dig|appreciate|"
               rf"appreciated|admire|respect|support|miss|missed)\s+(?:it|that|this|him|her|"
               rf"them|you|u|ya|those|these|the name|the idea|the sound of|the vibe|how|what|"
               rf"your|ur|hearing|seeing|reading|talking|chatting|our chats|it when|when you|"
               rf"the way|every)\b", re.I),
    # hopes, wishes, bets, certainty and empathy
    re.compile(rf"^(?:i|we|[A-Z][\w\-]+ and i|me and [A-Z][\w\-]+)\s+{_INTENS}(?:hope|hoped|"
               rf"wish|wished|bet|knew|know|guess|suppose|"
               rf"imagine|believe in|can'?t wait|cannot wait|can'?t believe|couldn'?t believe|"
               rf"can'?t imagine|agree|understand|get it|get that|feel you|feel for you|"
               rf"feel like|mean|totally get|relate|see why|see what you mean|think so|"
               rf"think you|think that'?s|thought you|am sure|'?m sure|trust you|owe you|"
               rf"need to see|want to see|wanna see|gotta see|would love to see|"
               rf"would love to hear|'?d love to hear|love to hear|love hearing|admire)\b",
               re.I),
    re.compile(r"^(?:i|we)\s+(?:can|could|should|must|need to|gotta|have to)\s+"
               r"(?:totally\s+|so\s+|only\s+)?(?:relate|imagine|tell|see why|understand)\b",
               re.I),
    re.compile(r"^(?:i'?ll|i will|we'?ll|we will)\s+(?:definitely\s+|totally\s+|so\s+)?"
               r"(?:miss (?:you|u|ya|it|this|that|them|him|her|y'?all|everyone)|"
               r"keep (?:that|it|you|this) in mind|remember that|take (?:it|that)|"
               r"drink to that|hold you to (?:it|that)|be rooting|be there for you|"
               r"keep you posted|keep you updated|let you know|think about it)\b", re.I),
    # platitudes: "We can tackle life's challenges together!", "you'll get through this"
    re.compile(r"^(?:we|you|u)\s+(?:can|will|'ll|could|are going to|got this|got it)\s*"
               r"(?:\w+\s+)?(?:tackle|get through|handle|face|overcome|do|conquer|make it|"
               r"figure|beat|survive)?\s*(?:this|it|anything|everything|life|life's|"
               r"whatever|all|together)?\b.*\b(?:together|this|it|anything|challenges?)\W*$",
               re.I),
    # evaluations: "X is so talented", "that sounds amazing"
    re.compile(r"^(?:what|how|such|sounds?|looks?|seems?)\b", re.I),
    # "He sounded like such a sweetheart", "your trip looks amazing": how something seems
    # to the speaker (not "she looks after my cat")
    re.compile(r"^(?:[\w']+\s+){1,3}?(?:really\s+|just\s+|so\s+)?(?:sounds?|sounded|seems?|seemed|"
               r"looks?|looked)(?!\s+(?:after|for|into|forward|up|at|through)\b)\b", re.I),
]
_EVAL_ADJ = frozenset("""
amazing awesome great cool nice beautiful proud happy glad sure talented hooked wonderful
incredible lovely perfect best worst fun funny hilarious sad tough hard brutal crazy busy
tired excited adorable gorgeous stunning fantastic fabulous brilliant smart sweet cute
kind inspiring inspirational special meaningful powerful important huge big awful
terrible horrible scary exhausting exhausted overwhelmed overwhelming insane wild
unreal epic legendary iconic dope sick lit rad neat impressive impressed interesting
boring lucky blessed thankful grateful jealous ok okay alright fine good bad better
worse lovely hooked obsessed healing therapeutic relaxing rewarding fulfilling valuable
helpful strong brave courageous resilient proud true real honest genuine thrilled
stressful stressed nervous anxious worried emotional touching heartwarming wholesome
terrifying frightening surreal intense chaotic magical lighter heavier harder easier weird
strange odd bittersweet unforgettable slow quick nerve-wracking
""".split())
_VAGUE_NOUNS = frozenset("""
news advice question questions plan plans idea ideas thing things stuff something anything
everything nothing lot lots bit way ways kind sort part moment moments story stories
experience experiences feeling feelings memory memories journey chat chats talk talks
time times life world people everyone someone anyone support passion vibe vibes name
forever again anymore sometime someday soon later already too ever once twice mind
""".split())
_AUX = re.compile(r"^\s*(?:(?:will|would|can|could|should|must|might|may|did|does|do|has|have|"
                  r"had|not|never|also|just|still|already|really|always|finally|n't|"
                  r"(?P<cop>is|was|are|were|'s|'re|been|be))\s+)*(?P<verb>[\w'’\-]+)", re.I)


def is_reaction(clause: str) -> bool:
    """True when the clause reacts to what was said (feelings about it, hopes, wishes,
    encouragement, evaluation) rather than stating a fact about someone's life."""
    s = clause.strip()
    m = _REACTIONS[0].match(s)
    if m and _FEELING_ABOUT_NEWS.match(s[m.end():]):
        return False    # "I'm so excited to start my new job on Monday": news with a feeling
    return any(rx.match(s) for rx in _REACTIONS)


#: what follows a feeling when the feeling is about the speaker's own news: "to start my
#: new job on Monday", "about the move to Leeds" — not "for you", "about it", "to hear that"
_FEELING_ABOUT_NEWS = re.compile(
    r"^\s+(?:to\s+(?!(?:hear|see|read|know|meet you|have you|help)\b)|about\s+|for\s+|"
    r"that\s+(?:i|my|we|our)\b)(?!.*\b(?:you|your|u|ur|ya|yours)\b)"
    r"(?=(?:\S+\s+){2,})(?!(?:it|that|this|them|him|her)\W*$).*\b(?:my|our|i|we|i'm|"
    r"[A-Z][a-z]+|\d+|next|tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|january|february|march|april|may|june|july|august|september|"
    r"october|november|december)\b", re.I)


# -- subjects ----------------------------------------------------------------------------
_LEAD = re.compile(
    r"^(?:(?:also|really|just|still|finally|actually|now|then|so|and|but|plus|oh|well|"
    r"btw|honestly|anyway|basically|literally|recently|lately|luckily|sadly|unfortunately|"
    r"fortunately|yesterday|today|tonight|tomorrow|(?:this|last|next) (?:morning|"
    r"afternoon|evening|night|week|weekend|month|year|spring|summer|autumn|fall|winter|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)|on (?:monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday)|in (?:january|february|march|april|may|"
    r"june|july|august|september|october|november|december|\d{4})|(?:a|one|two|three|"
    r"few|couple of|\d+) (?:days?|weeks?|months?|years?) ago|over the weekend|"
    r"at the weekend|the other day|earlier today|this past \w+|some days|most days|"
    r"this time|next time|last time|for now|right now|"
    r"these days|nowadays|usually|sometimes|often|on weekends|at weekends|every (?:day|"
    r"morning|evening|night|week|weekend|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday))[\s,]+)+", re.I)
_FIRST = re.compile(r"^(?:i|i'm|im|i've|ive|i'll|i'd|my|mine)\b", re.I)
_WE = re.compile(r"^(?:we|we're|we've|we'll|we'd|our)\b", re.I)
_COMPOUND_ME = re.compile(r"^(?:[A-Z][\w\-]+|my \w+|[a-z]+) and (?:i|me)\b|^me and \S+",
                          re.I)
# "mum's staying with me", "abuela cried at the slideshow": a parent or grandparent named
# by the word alone is the speaker's own
_PARENT_WORDS = (r"mum|mom|mummy|mommy|mam|dad|daddy|papa|papà|papá|mama|mamma|mamá|grandma|"
                 r"granny|grandpa|grandad|granddad|nan|nana|nonna|nonno|abuela|abuelo|oma|opa")
_BARE_KIN = re.compile(rf"^(?:{_PARENT_WORDS})(?:\s+[A-Z][a-zà-ÿ]+)?(?='s\b|\s+(?:is|was|has|"
                       r"had|will|can|says|"
                       r"said|told|came|went|got|loves|likes|hates|cried|called|made|"
                       r"[a-z]+ed|[a-z]+s)\b)", re.I)
_PRONOUN = re.compile(r"^(?:he|she|he's|she's|he'd|she'd|he'll|she'll)\b", re.I)
# "It pushed me to open my own bakery", "The support group has made me feel accepted":
# a thing as subject, the speaker in the predicate
_IT_ME = re.compile(r"^(?:it|this|that|the [\w\-]+(?: [\w\-]+){0,3}?|[a-z]+ing(?: [\w\-]+){0,3}?)"
                    r"(?:'s| is| was| has| have| had| really| totally| just| also)*\s+"
                    r"(?!\w+ly\b)(?:\w+\s+){0,2}?"
                    r"(?:made|make|makes|pushed|helped|helps|help|gave|given|gives|got|taught|"
                    r"teaches|led|inspired|inspires|took|brought|cost|reminded|reminds|"
                    r"changed)\s+(?:me|us|my)\b", re.I)
# "Painting's a fun way to express my feelings": an activity as subject, the speaker after
_ACTIVITY_ME = re.compile(r"^[a-z]+ing(?:'s| is| was| has been| became| gives| keeps)\b"
                          r".*\b(?:me|my|myself)\b", re.I)
# "The boiler broke again", "The rent goes up by 50 pounds from July": a thing that happened;
# "The doctor says my blood pressure is better": someone unnamed said something of the speaker
_THE_EVENT = re.compile(
    r"^(?:the|his|her|their)\s+(?:[a-z]+\s+){0,2}?(?:broke|burned|flooded|crashed|died|"
    r"stopped working|broke down|leaks|leaked|(?:says|said|told me) (?:that )?(?:my|i'?m|i)\b|"
    r"closed|opened|launched|moved|goes up|went up|went down|got cancelled|was cancelled|"
    r"got postponed|was postponed|sold out|starts|started|ends|ended|comes|came|arrives|"
    r"arrived|is due|was due|got delayed|was delayed|is on|opens|closes|launches)\b", re.I)
# casual chat drops the "I": "Started running in October", "Just booked my flight"
_ELIDED = re.compile(r"^(?:just |finally |also |recently |already )?(?:went|got|started|"
                     r"finished|moved|bought|booked|sold|quit|joined|left|adopted|visited|"
                     r"met|passed|failed|signed|lost|won|ran|made|built|found|broke|"
                     r"graduated|married|applied|landed|started|spent|took|had|saw|"
                     r"decided|finished|launched|opened|closed|fixed|painted|cooked|baked|"
                     r"learned|learnt|tried|picked up|signed up|headed|flew|drove)"
                     r"\s+\S+", re.I)
_ELIDED_NOT = re.compile(r"^(?:loved|liked|enjoyed|hated|missed|needed|wanted|wished|hoped|"
                         r"guessed|agreed|noted|added|checked|confused|tired|excited|"
                         r"bored|stressed|used|supposed|obsessed|blessed|married to you|"
                         r"[a-z]+ed (?:it|that|this|you|u)\b)", re.I)
# … and "I'm"/"I've" before what the speaker is doing these days: "Watching Severance",
# "Been learning to knit", "Saving up for a car" (never "thinking of you", "reading it")
_NOT_A_THING = r"(?:you|u|ya|it|that|this|them|him|her|ur|your)\b"
_ELIDED_DOING = re.compile(
    rf"^(?:been\s+(?!(?:there|so|too|really|very|a bit|kinda|super)\b|\w+ing\s+(?:about\s+|"
    rf"of\s+|on\s+)?{_NOT_A_THING})|(?:planning|thinking (?:about|of)|hoping|learning|"
    rf"working on|training for|saving (?:up )?for|studying|looking (?:for|into)|considering|"
    rf"reading|watching|writing|building|renovating|practi[cs]ing|volunteering|teaching|"
    rf"taking)\s+(?!{_NOT_A_THING}))\S", re.I)
_ELIDED_PLAN = re.compile(r"^(?:start|starting|leaving|moving|flying|landing|heading|going|"
                          r"coming|visiting|back|off|arriving|driving|travelling|traveling|"
                          r"quitting|joining|selling|buying|getting|finishing|graduating)"
                          r"\s+\S+", re.I)
# casual chat also drops "I'm": "Finally out of the cast!", "back in Munich since Monday",
# "still at the hospital" — where or how the speaker is, said without any verb
_ELIDED_STATE = re.compile(
    r"^(?:out of |back (?:in|at|from|to|on) |back home\b|home (?:from|since|again|now)\b|"
    r"(?:in|at|on|off|away|stuck) (?!(?:my|the|your|our) way\b|\d|least\b|all\b|last\b|"
    r"first\b|once\b|case\b|general\b|fact\b|the end\b|a (?:bit|sec|minute|moment|while|few|"
    r"couple|row)\b|it\b|that\b|this\b|you\b|u\b|love\b|time\b|my mind\b))\s*\S", re.I)
_YOUR_KIN = re.compile(r"^your (?:little |big |older |younger )?(?:sister|brother|mom|mum|mother|"
                       r"dad|father|grandma|grandpa|cousin|aunt|uncle|son|daughter|wife|"
                       r"husband|partner|boyfriend|girlfriend)\b", re.I)
# "Your harbour painting sold in the first hour!": news of the other's thing (an event,
# never a compliment: "your painting is beautiful")
_YOUR_THING = re.compile(r"^(?:your|ur) (?:[a-z]+ ){0,2}[a-z]+ (?:sold|won|arrived|came|passed|"
                         r"got (?:in|accepted|approved|picked|chosen|published|sold|delivered)|"
                         r"(?:was|has been|got) (?:sold|accepted|chosen|picked|published|"
                         r"approved|delivered|shortlisted|shared|featured))\b", re.I)
_GERUND_ME = re.compile(r"^[a-z]+ing\b.*\b(?:helped|helps|made|makes|gave|gives|taught|"
                        r"teaches|got|gets|let|lets)\s+(?:me|us)\b", re.I)


def strip_lead(clause: str) -> tuple[str, str]:
    """(leading adverbials such as "Also", "Last week,", rest of the clause)."""
    m = _LEAD.match(clause)
    if not m:
        return "", clause
    return clause[:m.end()], clause[m.end():]


def subject_of(clause: str, is_name) -> Optional[str]:
    """Who ``clause`` is about: ``"first"`` (the speaker: I, my X, X and I, a gerund that
    helped me), ``"we"``, ``"pronoun"`` (he/she), ``"yours"`` (your brother …), ``"name"``
    (a person ``is_name`` accepts as a name at the start), ``"thing"`` (something that
    happened, or did something to the speaker), ``"elided"``/``"elided-plan"`` (casual
    chat's unsaid "I"), ``"elided-doing"`` (an unsaid "I'm"/"I've" before what the
    speaker is doing: "been learning to knit"), ``"elided-state"`` (an unsaid "I'm":
    "back home since Monday"; the caller checks there is no verb), ``"it"`` ("it"/"it's"
    first: a thing said before), ``"kin"`` ("mum", "abuela" alone: the speaker's own), or
    None (no subject, an imperative, an unresolvable one)."""
    _lead, rest = strip_lead(clause)
    if not rest:
        return None
    if _COMPOUND_ME.match(rest) or _FIRST.match(rest):
        return "first"
    if _WE.match(rest):
        return "we"
    if _BARE_KIN.match(rest):
        return "kin"            # "mum's staying with me": the speaker's mum
    if _PRONOUN.match(rest):
        return "pronoun"
    if _YOUR_KIN.match(rest) or _YOUR_THING.match(rest):
        return "yours"          # "Your brother Luca called" → the addressee's brother
    if _GERUND_ME.match(rest):
        return "first"
    first = re.match(r"^([A-Za-zÀ-ÿ][\w\-'’]*)", rest)
    if first and is_name(first.group(1)[0].upper() + first.group(1)[1:]):
        return "name"           # also "giulia got a puppy" when Giulia is a name here
    if _IT_ME.match(rest) or _THE_EVENT.match(rest) or _ACTIVITY_ME.match(rest):
        return "thing"
    if _IT.match(rest):
        return "it"             # "It's in a barn near Whitstable": see resolve_it
    if re.match(r"^they\b", rest, re.I):
        return "they"           # "They make batteries": see resolve_they
    if _ELIDED.match(rest) and not _ELIDED_NOT.match(rest):
        return "elided"         # "Started a new job today!" — the speaker, unsaid
    if _ELIDED_DOING.match(rest):
        return "elided-doing"   # "Been learning to knit", "watching Severance"
    if _ELIDED_PLAN.match(rest):
        return "elided-plan"    # "start may 2", "landing the 22nd": only with a date
    if _ELIDED_STATE.match(rest):
        return "elided-state"   # "finally out of the cast": the speaker, no verb at all
    return None


def elided_state(clause: str) -> bool:
    """Whether ``clause`` (no verb of its own) says where or how the speaker is with the
    "I'm" left out: "Finally out of Hamburg", "back home since Tuesday"."""
    return bool(_ELIDED_STATE.match(strip_lead(clause)[1]))


# -- "it" ----------------------------------------------------------------------------
_IT = re.compile(r"^it(?:'s|\s+(?:is|was|has|had|needs|needed|needs|looks|sits|lives|"
                 r"cost|costs|took|takes|belonged|came|comes|used to|will|should))\b", re.I)
_NP_DET = re.compile(r"\b(a|an|the|that|this|my|our)\s+", re.I)
_NP_STOP = frozenset("""
from in at on with for to near of by into onto over under about after before since until
till during across through around and or but so because which who whom whose that this
these those my his her our their your its it me him them us you i we they he she
""".split())
_NOT_THING = frozenset("""
time times day days week weeks month months year years morning evening night afternoon
weekend moment bit lot thing things stuff way idea news something anything everything
nothing one ones kind sort type part rest end start beginning same other others
""".split())


def resolve_it(before: str, verbs: frozenset = frozenset()) -> Optional[str]:
    """The thing a clause-initial "it" most likely means: the first noun phrase with a
    determiner ("that old wooden sailboat", "a cat", "my new flat") in the sentence just
    before it in the same message, never a person, a pet, a time or a vague word (nor a
    word of ``verbs``, after its first). Returned with "the" for "a/an/that/this" ("the
    old wooden sailboat") and its own possessive otherwise ("my new flat"); None when
    there is none."""
    sents = [x for x in re.split(r"(?<=[.!?])\s+|\n+", before.strip()) if x.strip()]
    if not sents:
        return None
    last = sents[-1]
    for m in _NP_DET.finditer(last):
        words = []
        for w in re.findall(r"[\w'\-]+|[^\w\s]", last[m.end():])[:5]:
            lw = w.lower()
            if not re.fullmatch(r"[a-z][a-z\-]*", w) or lw in _NP_STOP or lw in STOPWORDS \
                    or lw.endswith("ly") or lw in verbs and words:
                break
            words.append(w)
        if not words or len(words) > 4:
            continue
        head = words[-1].lower()
        if head in _NOT_THING or any(_KIN_WORD.match(w) for w in words) or len(head) < 3 or \
                head.endswith(("ing", "ed")):
            continue
        det = m.group(1).lower()
        det = det if det in ("my", "our", "the") else "the"
        return det + " " + " ".join(words)
    return None


_ORG_NOUNS = (r"company|startup|start-up|firm|bank|school|university|college|hospital|clinic|"
              r"team|band|club|shop|store|bakery|restaurant|cafe|café|gym|office|agency|"
              r"studio|council|church|charity|landlord|airline|publisher|label|lab")
_GROUP_NOUNS = (_ORG_NOUNS + r"|parents|kids|children|grandparents|neighbou?rs|friends|"
                r"colleagues|flatmates|roommates|in-laws|twins|boys|girls|cats|dogs|puppies|"
                r"kittens")
_GROUP_NP = re.compile(rf"\b([Aa]n?|[Tt]he|[Tt]hat|[Tt]his|[Mm]y|[Oo]ur)\s+((?:[a-z][\w\-]*\s+)"
                       rf"{{0,3}}?(?:{_GROUP_NOUNS}))\b")
_SINGULAR_GROUP = re.compile(rf"(?:{_ORG_NOUNS})$")


def resolve_they(texts: Sequence[str]) -> Optional[tuple[str, bool]]:
    """(the group a clause-initial "they" most likely means, whether it is one body): the
    last organisation or group named with a determiner in ``texts`` (the same speaker's
    words before the clause, most recent last) — "a climate tech startup" → ("the climate
    tech startup", True), "my parents" → ("my parents", False); None when none was."""
    for text in reversed(texts):
        found = list(_GROUP_NP.finditer(text))
        for m in reversed(found):
            words = m.group(2).split()
            if any(w.lower() in STOPWORDS for w in words):
                continue
            det = m.group(1).lower()
            det = det if det in ("my", "our", "the") else "the"
            return det + " " + m.group(2), bool(_SINGULAR_GROUP.search(words[-1].lower()))
    return None


# -- "we" --------------------------------------------------------------------------------
_PARTNER = re.compile(
    r"\b([A-Z][a-zà-ÿ]+) and I\b|\b(?:[Mm]e|I) and ([A-Z][a-zà-ÿ]+)\b|\b[Mm]y (?:husband|wife|"
    r"partner|boyfriend|girlfriend|fianc[ée]e?|bf|gf|hubby) ([A-Z][a-zà-ÿ]+)\b")
_PROPOSAL = re.compile(r"^(?:we)\s+(?:should|could|can|must|need to|have to|gotta|"
                       r"ought to|might|may|'ll|will)\b|^we'll\b|^we'd\b|^let'?s\b", re.I)


def resolve_we(clause: str, speaker: str, history: Sequence[tuple[str, str]],
               addressee: Optional[str], two_person: bool) -> str:
    """Who "we" is in ``clause`` said by ``speaker``: "Sam and Maya" when the speaker named a
    partner ("Sam and I", "my husband Marc") in ``history`` (earlier (speaker, text) pairs of
    the window, this message last); "Maya and Jordan" when a two-person chat proposes
    something to the addressee; else the speaker alone."""
    for sp, text in reversed(history):
        if sp != speaker:
            continue
        m = _PARTNER.search(text)
        if m:
            partner = next(g for g in m.groups() if g)
            if partner != speaker:
                return f"{speaker} and {partner}"
    _lead, rest = strip_lead(clause)
    if two_person and addressee and _PROPOSAL.match(rest):
        return f"{speaker} and {addressee}"
    return speaker


# -- "he" / "she" ------------------------------------------------------------------------
_KIN = (r"sister|brother|mom|mum|mother|dad|father|wife|husband|partner|boyfriend|"
        r"girlfriend|son|daughter|cousin|aunt|uncle|grandma|grandpa|grandmother|grandfather|"
        r"niece|nephew|boss|friend|best friend|roommate|flatmate|neighbou?r|colleague|"
        r"coworker|teacher|therapist|doctor|fianc[ée]e?|baby|kid|manager")
_PETS = r"cat|dog|puppy|kitten|pup|horse|pony|rabbit|bunny|hamster|parrot|tortoise|bird"
_MENTION = re.compile(rf"\b([Mm]y|[Yy]our|[Hh]is|[Hh]er) ((?:little |big |older |younger |best |"
                      rf"new |old )?(?:{_KIN}|{_PETS}))(?: ([A-Z][a-zà-ÿ]+))?\b|"
                      rf"\b([A-Z][a-zà-ÿ]+)\b|"
                      # "we adopted a cat … She's a one-eyed tabby", "I'm seeing a
                      # therapist … She's teaching me …": an animal or a role said just
                      # before is who "she" is
                      rf"\b(?:[Aa]n?|[Tt]he|[Oo]ur) (?:(?:little|new|old|tiny|rescue|young|"
                      rf"[a-z]+-[a-z]+) )?((?:{_PETS}|{_KIN}))\b|"
                      rf"(?<![Mm]y )(?<![Yy]our )(?<![Hh]is )(?<![Hh]er )\b({_PARENT_WORDS})\b")
_KIN_WORD = re.compile(rf"^(?:{_KIN}|{_PETS}|people|person|guy|girl|boy|man|woman|lady|"
                       rf"family|parents|folks|everyone|team|friends|kids|children)$", re.I)


def resolve_pronoun(history: Sequence[tuple[str, str, str]], is_person) -> Optional[str]:
    """The person a clause-initial he/she most likely means: the last one named in
    ``history`` ((speaker, addressee, text) of the last messages, the current text up to
    the clause last) — "Priya", or "my sister" said by Anna → "Anna's sister". None when
    nobody was named."""
    for speaker, addressee, text in reversed(history):
        best = None
        for m in _MENTION.finditer(text):
            if m.group(2):
                if m.group(3):
                    best = m.group(3)
                elif m.group(1).lower() == "my" and speaker:
                    best = f"{speaker}'s {m.group(2)}"
                elif m.group(1).lower() == "your" and addressee:
                    best = f"{addressee}'s {m.group(2)}"
            elif m.group(4) and is_person(m.group(4)) and m.group(4) not in (speaker,
                                                                              addressee):
                best = m.group(4)
            elif m.group(5):
                best = "the " + m.group(5)
            elif m.group(6) and speaker:
                # "abuela cried at the slideshow … she danced": the speaker's grandmother
                best = f"{speaker}'s {m.group(6).lower()}"
        if best:
            return best
    return None


# -- she / he: what the others call a person ------------------------------------------
_GENDERED = re.compile(r"\b(?:(she|her|hers|herself)|(he|him|his|himself))\b", re.I)
_CAP_WORD = re.compile(r"\b([A-Z][\w\-]+)\b")


def pronoun_evidence(messages: Sequence[tuple[str, str]], people: set[str],
                     norm=lambda s: s.strip().lower()) -> dict[str, str]:
    """``{norm(name): "she" | "he"}`` for the people of ``people`` (normalised names) whom
    the *other* speakers of ``messages`` ((speaker, text) pairs) refer to with a gendered
    pronoun: the first she/her/he/him/his after their name in the same message, before any
    other person is named. A name said to its bearer ("Priya, did you …") is no evidence;
    neither is what someone says of themselves. A person whose evidence is split (less than
    two thirds one way) is left out: nothing is known of them."""
    votes: dict[str, list[int]] = {}
    for speaker, text in messages:
        mentions = [m for m in _CAP_WORD.finditer(text) if norm(m.group(1)) in people
                    and norm(m.group(1)) != norm(speaker or "")]
        for i, m in enumerate(mentions):
            if not text[:m.start()].strip(" \t\"'(") and re.match(r"\s*[,!:]", text[m.end():]):
                continue                    # "Priya, did you …": said to her
            end = mentions[i + 1].start() if i + 1 < len(mentions) else len(text)
            g = _GENDERED.search(text, m.end(), min(end, m.end() + 160))
            if g:
                votes.setdefault(norm(m.group(1)), [0, 0])[0 if g.group(1) else 1] += 1
    out = {}
    for who, (she, he) in votes.items():
        if 3 * max(she, he) >= 2 * (she + he):
            out[who] = "she" if she > he else "he"
    return out


def reflexive(pronoun: Optional[str]) -> str:
    """"herself", "himself", or "themselves" when nothing is known of the person."""
    return {"she": "herself", "he": "himself"}.get(pronoun or "", "themselves")


# -- saying something --------------------------------------------------------------------
_LIFE_WORDS = frozenset("""
married engaged divorced pregnant retired promoted fired hired graduated born separated
widowed vegetarian vegan sober single dating moved quit adopted injured sick recovered
""".split())


HABIT = re.compile(r"\bevery (?:single )?(?:day|morning|evening|night|week|weekend|month|"
                    r"year|monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b|"
                    r"\b(?:once|twice|\w+ times) a (?:day|week|month|year)\b", re.I)


def substantive(text: str, subject_tokens: set[str], verbs: set[str],
                n_dates: int = 0, other_names: int = 0, subject: str = "") -> bool:
    """Whether a rewritten fact says something beyond who and a verb: a thing, place,
    time, number, named other or life event — not only evaluations and pronouns. The
    main verb after ``subject`` ("Sam will *survive*") says nothing on its own."""
    if n_dates or other_names or HABIT.search(text):
        return True             # "… every Saturday", "physio twice a week": a routine
    skip = ""
    if subject and text.startswith(subject):
        m = _AUX.match(text[len(subject):])
        # "Sam will survive." — a modal and a verb alone; "is learning to drive" keeps
        # its infinitive, "is vegetarian" its predicate
        if m and not m.group("cop") and text[len(subject):].count(" ") <= 3:
            skip = m.group("verb").lower()
    for t in content_tokens(text):
        if t == skip:
            skip = ""
            continue
        if t in subject_tokens or t in STOPWORDS:
            continue
        if t in _LIFE_WORDS or t.isdigit():
            return True
        if t in _EVAL_ADJ or t in _VAGUE_NOUNS:
            continue
        if t.endswith("ly") or (t in verbs and not t.endswith("ing")):
            continue
        if t.endswith("ing") and re.search(rf"\b{re.escape(t)}\s+(?:it|that|this|them|him|her)"
                                           r"\W*$", text, re.I):
            continue        # "Dev is keeping it": a verb and a pronoun say nothing
        if t.endswith("ed") and len(t) > 4:
            continue
        return True
    return False

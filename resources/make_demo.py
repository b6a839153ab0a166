"""Writes the bundled demo export: the life of Sam Rivera, Jan 2023 – Oct 2024.

    python resources/make_demo.py

Output (deterministic): ``resources/demo/`` and the identical package copy
``ui/resources/demo/`` —
- ``chats.json``: secondme's generic chat format, four conversations (sister Anna,
  friend Marco, Dad, the book club) with hand-written story lines and everyday chatter;
- ``WhatsApp Chat with Lena.txt``: an Android WhatsApp export (the Lisbon landlady);
- ``notes/*.md``: Markdown notes with front matter, tags and wikilinks.
"""
from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

ME = "Sam Rivera"
BERLIN = timezone(timedelta(hours=1))
LISBON = timezone(timedelta(hours=0))

# (date, conversation, [(speaker, text), ...]) — the facts a person would ask about
STORY = [
    ("2023-01-08 19:12", "anna", [
        ("Anna", "Happy new year again! Did you sign up for the Berlin half marathon in the end?"),
        (ME, "I did 😅 It's on 2 April. Training plan starts Monday, four runs a week."),
        ("Anna", "You're mad. I'll come and cheer with a sign."),
        (ME, "Deal. Make it embarrassing."),
    ]),
    ("2023-02-14 20:40", "marco", [
        ("Marco", "Still on for ramen on Friday? Cocolo at 8?"),
        (ME, "Yes! But no peanuts anywhere near me please, last time the sauce had some."),
        ("Marco", "Right, your peanut allergy. I'll ask them."),
        (ME, "Thanks. The EpiPen is in my bag anyway."),
    ]),
    ("2023-03-05 10:03", "dad", [
        ("Dad", "How is the running going? Your mother says you ran 18 km yesterday."),
        (ME, "18.5! Knee is fine. Two more long runs before the race."),
        ("Dad", "Proud of you. Eat properly."),
    ]),
    ("2023-04-02 14:55", "anna", [
        (ME, "FINISHED. 1:52:40 at the Berlin half!"),
        ("Anna", "Sub 1:55!!! I screamed so loud at km 19 a child cried"),
        (ME, "I saw the sign. 'Run Sam, the pretzels are waiting' 😂"),
    ]),
    ("2023-05-20 18:30", "bookclub", [
        ("Priya", "Next book: Klara and the Sun by Kazuo Ishiguro. Meeting 17 June at my place."),
        (ME, "Love it. I'll bring the pastéis de nata again."),
        ("Jonas", "The ones from the Portuguese bakery in Kreuzberg? Yes please."),
    ]),
    ("2023-06-17 23:10", "bookclub", [
        ("Priya", "Great discussion tonight. Sam, your point about Klara's faith in the Sun was the best."),
        (ME, "Thanks! July pick is mine: Tomorrow, and Tomorrow, and Tomorrow."),
    ]),
    ("2023-07-11 09:15", "marco", [
        ("Marco", "How was the job interview at Atlântico Labs?"),
        (ME, "Really good. It's a product design role in Lisbon, hybrid. Final round next week."),
        ("Marco", "Lisbon! You'd finally live by the sea."),
        (ME, "Don't jinx it 🙈"),
    ]),
    ("2023-07-21 17:48", "anna", [
        (ME, "I GOT IT. Atlântico Labs offered me the senior product designer job!"),
        ("Anna", "NO WAY. When do you start?"),
        (ME, "1 February 2024, so I have time to move. I'm going to tell Fernweh Studio on Monday."),
        ("Anna", "Mum is going to cry. Happy cry."),
    ]),
    ("2023-09-03 12:20", "anna", [
        (ME, "Meet Biscuit! Adopted him from the Tierheim this morning 🐶"),
        ("Anna", "OH MY GOD that face. What is he?"),
        (ME, "A beagle mix, two years old. Scared of bicycles, loves cheese."),
        ("Anna", "Biscuit is the best name in history."),
    ]),
    ("2023-09-30 08:50", "dad", [
        ("Dad", "Don't forget my birthday lunch on 14 October, Restaurant Lindenhof, 1pm."),
        (ME, "Wouldn't miss it. Can I bring Biscuit?"),
        ("Dad", "If he behaves."),
    ]),
    ("2023-10-14 16:02", "dad", [
        ("Dad", "Thank you for the book and for coming. 65 feels fine with you all around."),
        (ME, "Happy birthday again Dad ❤️ Biscuit says thanks for the sausage."),
    ]),
    ("2023-11-18 21:33", "marco", [
        ("Marco", "Did you find a flat in Lisbon yet?"),
        (ME, "Yes! Two bedrooms in Graça, near the 28 tram. Landlady is called Lena, very kind."),
        ("Marco", "Graça is beautiful. Rent?"),
        (ME, "1,350 a month, which is a lot for Lisbon but there's a balcony with a river view."),
    ]),
    ("2023-12-23 15:10", "anna", [
        ("Anna", "Big news: Tomás proposed!! We're getting married on 15 June 2024 in Sintra."),
        (ME, "AAAAH congratulations!!! I'm so happy for you two."),
        ("Anna", "Will you be my maid of honour? Well, person of honour 😄"),
        (ME, "Obviously yes. I'll start planning the speech today."),
    ]),
    ("2024-01-27 11:45", "anna", [
        (ME, "Moving truck left Berlin. Biscuit and I fly to Lisbon tomorrow at 7."),
        ("Anna", "Text me when you land. Is he in the cabin?"),
        (ME, "Yes, under the seat, he's small enough. Vet gave him something calming."),
    ]),
    ("2024-02-01 19:02", "dad", [
        ("Dad", "First day at Atlântico Labs! How was it?"),
        (ME, "Great team. My manager Inês is lovely. I'll be working on their health app."),
        ("Dad", "Wonderful. Send photos of the flat."),
    ]),
    ("2024-03-09 10:30", "marco", [
        ("Marco", "I booked flights! Coming to Lisbon 22–26 March."),
        (ME, "Yay! You can stay in the second bedroom. We're doing a day trip to Porto."),
        ("Marco", "Francesinha in Porto, finally."),
    ]),
    ("2024-03-24 22:15", "marco", [
        ("Marco", "Porto was the highlight. That bookshop, Livraria Lello, and the sunset at the Ribeira."),
        (ME, "And you ate two francesinhas in one day. Legendary."),
    ]),
    ("2024-04-20 09:05", "anna", [
        ("Anna", "How's Portuguese going?"),
        (ME, "Lessons twice a week with a teacher called Rui. I can order coffee and argue about football."),
        ("Anna", "So the important things."),
    ]),
    ("2024-06-15 23:50", "anna", [
        ("Anna", "Best day of my life. Your speech made Dad cry. Thank you Sam."),
        (ME, "You looked so happy. Sintra was magical. Love you both."),
        ("Anna", "Honeymoon in the Azores starts Tuesday!"),
    ]),
    ("2024-07-08 18:20", "dad", [
        ("Dad", "The doctor says my blood pressure is better. I'm walking every morning now."),
        (ME, "That's great news Dad. Keep it up, I'll call on Sunday."),
    ]),
    ("2024-08-02 20:00", "marco", [
        ("Marco", "Are you running again?"),
        (ME, "Signed up for the Lisbon half marathon in March 2025. Training along the river is stunning."),
        ("Marco", "Target time?"),
        (ME, "Sub 1:50. Biscuit comes on the short runs."),
    ]),
    ("2024-09-14 13:40", "bookclub", [
        ("Priya", "We miss you Sam! Can you join the September meeting by video?"),
        (ME, "Yes! I finished Demon Copperhead on the train to Cascais. Loved it."),
        ("Jonas", "Great, 28 September at 7pm Berlin time."),
    ]),
    ("2024-10-05 17:25", "anna", [
        ("Anna", "Tomás and I are thinking of visiting Lisbon in November. Is 8–12 November ok?"),
        (ME, "Perfect, I'll take the Friday off. We can take the ferry to Cacilhas for fish."),
    ]),
]

CHATTER = {
    "anna": [("Anna", "Did you watch the new episode?"), (ME, "Not yet, no spoilers!"),
             ("Anna", "Mum sent a photo of her garden again"), (ME, "The tomatoes look huge"),
             ("Anna", "Call later?"), (ME, "Sure, after 8"), ("Anna", "How's Biscuit?"),
             (ME, "Asleep on my feet as usual"), ("Anna", "Work was long today"),
             (ME, "Same. Pizza and sofa tonight")],
    "marco": [("Marco", "Football on Saturday?"), (ME, "If it doesn't rain"),
              ("Marco", "Sent you the playlist"), (ME, "Track 3 is great"),
              ("Marco", "Coffee this week?"), (ME, "Thursday works"),
              ("Marco", "Look at this meme"), (ME, "😂😂")],
    "dad": [("Dad", "Did you eat?"), (ME, "Yes Dad"), ("Dad", "Call your grandmother"),
            (ME, "Did it yesterday"), ("Dad", "Weather is terrible here"),
            (ME, "Sunny here, sorry!")],
    "bookclub": [("Priya", "Halfway through, no spoilers"), ("Jonas", "This chapter is slow"),
                 (ME, "It picks up, trust me"), ("Priya", "Snacks list is in the doc")],
}
TITLES = {"anna": ("Anna Rivera", ["Anna Rivera", ME]),
          "marco": ("Marco Bianchi", ["Marco Bianchi", ME]),
          "dad": ("Dad", ["Luis Rivera", ME]),
          "bookclub": ("Book club 📚", ["Priya Shah", "Jonas Weber", ME])}
FULL = {"Anna": "Anna Rivera", "Marco": "Marco Bianchi", "Dad": "Luis Rivera",
        "Priya": "Priya Shah", "Jonas": "Jonas Weber", ME: ME}


def tz_for(dt: datetime):
    return LISBON if dt >= datetime(2024, 1, 28) else BERLIN


def build_chats(rng: random.Random) -> dict:
    msgs: dict[str, list[tuple[datetime, str, str]]] = {k: [] for k in TITLES}
    for when, conv, lines in STORY:
        t = datetime.strptime(when, "%Y-%m-%d %H:%M")
        for speaker, text in lines:
            msgs[conv].append((t, speaker, text))
            t += timedelta(minutes=rng.randint(1, 9))
    # everyday chatter: a few short exchanges a month per conversation
    day = datetime(2023, 1, 2)
    while day < datetime(2024, 10, 20):
        for conv, pool in CHATTER.items():
            if rng.random() < {"anna": 0.22, "marco": 0.12, "dad": 0.08, "bookclub": 0.04}[conv]:
                t = day.replace(hour=rng.randint(8, 22), minute=rng.randint(0, 59))
                start = rng.randrange(0, len(pool) - 1, 2)
                for speaker, text in pool[start:start + 2]:
                    msgs[conv].append((t, speaker, text))
                    t += timedelta(minutes=rng.randint(1, 30))
        day += timedelta(days=1)
    out = []
    for conv, (title, participants) in TITLES.items():
        rows = sorted(msgs[conv], key=lambda r: r[0])
        messages = []
        for i, (t, speaker, text) in enumerate(rows, 1):
            messages.append({"id": f"{conv}-{i:04d}", "speaker": FULL[speaker],
                             "timestamp": t.replace(tzinfo=tz_for(t)).isoformat(),
                             "text": text, "is_me": speaker == ME})
        out.append({"id": f"demo-{conv}", "title": title, "participants": participants,
                    "messages": messages})
    return {"format": "secondme-chat", "version": 1, "conversations": out}


LENA = [
    ("18/11/2023, 10:02", "Lena Costa", "Olá Sam! The apartment in Graça is yours from 20 January. Contract attached."),
    ("18/11/2023, 10:15", ME, "Obrigada Lena! Is it ok that I have a small dog?"),
    ("18/11/2023, 10:21", "Lena Costa", "Of course, as long as he doesn't bark at night 😊"),
    ("18/11/2023, 10:22", "Lena Costa", "<Media omitted>"),
    ("20/01/2024, 16:40", "Lena Costa", "Keys are with the neighbour on the 2nd floor, Dona Fátima."),
    ("20/01/2024, 16:45", ME, "Perfect, I'll pick them up on the 28th when I arrive."),
    ("05/03/2024, 09:12", ME, "Hi Lena, the boiler stopped working this morning, no hot water."),
    ("05/03/2024, 09:30", "Lena Costa", "Sorry! The plumber Sr. Paulo will come tomorrow between 10 and 12."),
    ("06/03/2024, 12:10", ME, "Fixed! Thank you so much."),
    ("01/06/2024, 18:02", "Lena Costa", "The building will paint the stairwell from 10 to 14 June."),
    ("01/06/2024, 18:05", ME, "No problem, I'm in Sintra for my sister's wedding that week anyway."),
    ("12/09/2024, 11:00", "Lena Costa", "Rent goes up to 1,400 from January, sorry, the new law allows 2%."),
    ("12/09/2024, 11:20", ME, "Understood, thanks for telling me early."),
]

NOTES = {
    "Lisbon apartment.md": """---
tags: [home, lisbon]
aliases: [flat, Graça flat]
---
# Lisbon apartment

Two bedrooms in Graça, second floor, balcony with a view of the Tagus.

- Landlady: Lena Costa (see [[Contacts]])
- Rent: €1,350 a month, €1,400 from January 2025
- Moved in: 28 January 2024 with Biscuit
- Plumber: Sr. Paulo (fixed the boiler in March 2024)

The 28 tram stops at Largo da Graça, two minutes away.
""",
    "Biscuit.md": """---
tags: [biscuit, pets]
---
# Biscuit 🐶

Beagle mix adopted from the Berlin Tierheim on 3 September 2023, about two years old then.

## Likes
Cheese, the river walk, sleeping on feet.

## Dislikes
Bicycles, thunder, the vacuum cleaner.

## Health
Vet in Lisbon: Dr. Marta Sousa, Clínica Veterinária da Graça. Vaccinations due every April.
""",
    "Reading list.md": """---
tags: [books]
---
# Reading list

Read with the book club (#books):
1. Klara and the Sun — Kazuo Ishiguro (June 2023)
2. Tomorrow, and Tomorrow, and Tomorrow — Gabrielle Zevin (July 2023, my pick)
3. Demon Copperhead — Barbara Kingsolver (September 2024)

Next: *The Book of Disquiet* by Fernando Pessoa, to read in Lisbon cafés.
""",
    "Contacts.md": """# Contacts

- Anna Rivera — sister, married Tomás in Sintra on 15 June 2024
- Luis Rivera — Dad, birthday 14 October
- Marco Bianchi — best friend from Berlin
- Lena Costa — landlady in Lisbon
- Inês — my manager at Atlântico Labs
- Rui — Portuguese teacher, Tuesdays and Thursdays
""",
    "Anna wedding speech.md": """---
tags: [anna, wedding]
---
# Speech for Anna and Tomás

Anna taught me to ride a bike, to lie convincingly to our parents, and to hold a
sign at km 19 of a half marathon. Tomás, you are getting the best person I know.

To Anna and Tomás — to Sintra, to the Azores, and to everything after.
""",
}


def write(dest: Path) -> None:
    rng = random.Random(2024)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "notes").mkdir(parents=True)
    (dest / "chats.json").write_text(json.dumps(build_chats(rng), ensure_ascii=False, indent=1)
                                     + "\n", encoding="utf-8")
    lines = [f"{d} - Messages and calls are end-to-end encrypted. No one outside of this chat, "
             "not even WhatsApp, can read or listen to them." for d in ["18/11/2023, 10:01"]]
    lines += [f"{d} - {who}: {text}" for d, who, text in LENA]
    (dest / "WhatsApp Chat with Lena Costa.txt").write_text("\n".join(lines) + "\n",
                                                            encoding="utf-8")
    for name, text in NOTES.items():
        (dest / "notes" / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for d in (root / "resources" / "demo", root / "ui" / "resources" / "demo"):
        write(d)
        print("wrote", d)

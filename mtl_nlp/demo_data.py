"""A seeded generator of a small SYNTHETIC corpus for the three task types, so the demo runs with no download.

People, organisations and places fill sentence templates: CoNLL-style NER, JSONL relations (works_for,
located_in, lives_in, no_relation, direction-aware) and TSV sentiment. Dev sentences use names, organisations,
places, items and adjectives that never occur in train, so dev scores measure generalisation, not recall of names.
Real benchmarks live elsewhere.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FIRST = (
    "Anna Ben Carla David Elena Farid Grace Hiro Ines Jonas Kofi Lena Marco Nadia Omar Priya Quentin Rosa Sven Tara "
    "Umar Vera Wei Yusuf Zoe Aiko Bruno Chloe Dmitri Esther Felix Gita Hugo Isla Jamal Kira Luis Maya Nils Olga"
).split()
LAST = (
    "Smith Okafor Tanaka Novak Garcia Jensen Rossi Kumar Dubois Silva Becker Ivanova Chen Haddad Moreau Larsen "
    "Mensah Kowalski Nguyen Schmidt Costa Fischer Andersen Petrov Yilmaz Santos Murphy Ortiz Lindqvist Reyes Abe Varga"
).split()
# Organisations are a stem and a suffix: dev stems are held out, suffixes are shared, as with real company names.
ORG_STEMS = "Acme Northwind Globex Initech Blue Stark Umbrella Vertex Orion Summit Helios Nimbus Redwood Cobalt Lighthouse Quantum Falcon Granite Silverline Maple Harbor Crescent Pioneer Atlas".split()
ORG_SUFFIXES = "Corp Bank Labs Industries Health Energy Airlines Foods Media Software Partners Motors Press Freight Group".split()
PLACES = [
    "Paris", "Lagos", "Osaka", "Prague", "Lima", "Oslo", "Nairobi", "Lisbon", "Toronto", "Hanoi", "Cairo", "Denver",
    "Quito", "Dublin", "Mumbai", "Seoul", "Porto", "Austin",
]
NER_TEMPLATES = [
    "{PER} joined {ORG} last year .", "{ORG} opened a new office in {LOC} .", "{PER} flew from {LOC} to {LOC} on Monday .",
    "Shares of {ORG} rose after {PER} spoke .", "{PER} and {PER} met in {LOC} .", "The mayor of {LOC} praised {ORG} .",
    "According to {PER} , {ORG} will hire more staff .", "{ORG} signed a deal with {ORG} in {LOC} .",
    "Fans in {LOC} cheered for {PER} .", "{PER} said the weather in {LOC} was mild .", "A spokesman for {ORG} declined to comment .",
    "{PER} , a lawyer from {LOC} , sued {ORG} .", "Talks between {ORG} and {PER} ended early .", "It rained all week in {LOC} .",
]
RELATION_TEMPLATES = {
    "works_for": ["{PER} works for {ORG} .", "{ORG} hired {PER} as an engineer .", "{PER} is the chief executive of {ORG} .",
                  "{ORG} employs {PER} in its sales team ."],
    "located_in": ["{ORG} is based in {LOC} .", "The headquarters of {ORG} are in {LOC} .", "{LOC} is home to {ORG} ."],
    "lives_in": ["{PER} lives in {LOC} .", "{PER} has lived in {LOC} for ten years .", "{LOC} resident {PER} spoke to reporters ."],
    "no_relation": ["{PER} read an article about {ORG} .", "{PER} once visited {LOC} on holiday .",
                    "{ORG} bought adverts on a billboard near {LOC} airport .", "{PER} never heard of {ORG} ."],
}
# head and tail slot types per relation; for no_relation the pair is drawn from the template's own slots.
RELATION_ARGS = {"works_for": ("PER", "ORG"), "located_in": ("ORG", "LOC"), "lives_in": ("PER", "LOC")}
ITEMS = "film meal hotel phone book concert service laptop game album".split()
POSITIVE = "wonderful excellent delightful superb brilliant charming great lovely enjoyable fantastic".split()
NEGATIVE = "terrible awful boring dreadful poor disappointing bland annoying mediocre horrible".split()
SENTIMENT_TEMPLATES = ["The {item} was {adj} .", "What a {adj} {item} !", "I found the {item} {adj} overall .",
                       "Honestly , a {adj} {item} .", "Our {item} turned out {adj} ."]
NEGATED = ["The {item} was not {adj} .", "I would not call the {item} {adj} ."]


def held_out(words: list[str], split: str) -> list[str]:
    """Train draws from the first three quarters of a word list, dev from the last quarter."""
    cut = len(words) * 3 // 4
    return words[:cut] if split == "train" else words[cut:]


def _fill(template: str, rng: random.Random, split: str) -> tuple[list[str], list[str], list[tuple[str, int, int]]]:
    """Tokens, IOB2 tags and (type, start, end) spans of one filled template."""
    tokens, tags, spans = [], [], []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            kind = word[1:-1]
            name = {
                "PER": lambda: f"{rng.choice(held_out(FIRST, split))} {rng.choice(held_out(LAST, split))}",
                "ORG": lambda: f"{rng.choice(held_out(ORG_STEMS, split))} {rng.choice(ORG_SUFFIXES)}",
                "LOC": lambda: rng.choice(held_out(PLACES, split)),
            }[kind]().split()
            spans.append((kind, len(tokens), len(tokens) + len(name)))
            tokens += name
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
        else:
            tokens.append(word)
            tags.append("O")
    return tokens, tags, spans


def ner_rows(n: int, rng: random.Random, split: str) -> list[tuple[list[str], list[str]]]:
    return [_fill(rng.choice(NER_TEMPLATES), rng, split)[:2] for _ in range(n)]


def relation_rows(n: int, rng: random.Random, split: str) -> list[dict]:
    rows = []
    for _ in range(n):
        label = rng.choice(list(RELATION_TEMPLATES))
        tokens, _, spans = _fill(rng.choice(RELATION_TEMPLATES[label]), rng, split)
        by_type = {kind: (kind, s, e) for kind, s, e in spans}
        head, tail = spans[0], spans[1]
        if label != "no_relation":
            head, tail = (by_type[k] for k in RELATION_ARGS[label])
            if rng.random() < 0.25:  # the same pair read backwards is not the relation: direction matters
                head, tail, label = tail, head, "no_relation"
        rows.append({"tokens": tokens, "head": _span(head), "tail": _span(tail), "label": label})
    return rows


def _span(span: tuple[str, int, int]) -> dict:
    return {"type": span[0], "start": span[1], "end": span[2]}


def sentiment_rows(n: int, rng: random.Random, split: str) -> list[tuple[str, str]]:
    rows = []
    items, good, bad = (held_out(words, split) for words in (ITEMS, POSITIVE, NEGATIVE))
    for _ in range(n):
        positive = rng.random() < 0.5
        if rng.random() < 0.2:  # negation flips the adjective's polarity
            text = rng.choice(NEGATED).format(item=rng.choice(items), adj=rng.choice(bad if positive else good))
        else:
            text = rng.choice(SENTIMENT_TEMPLATES).format(item=rng.choice(items), adj=rng.choice(good if positive else bad))
        rows.append((text, "positive" if positive else "negative"))
    return rows


def write_demo_data(out_dir: str | Path, *, seed: int = 0, train_size: int = 1200, dev_size: int = 300) -> Path:
    """Write ner/, relation/ and sentiment/ train and dev files under ``out_dir``."""
    out = Path(out_dir)
    for folder in ("ner", "relation", "sentiment"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for split, size, offset in (("train", train_size, 0), ("dev", dev_size, 1)):
        rng = random.Random(seed * 1000 + offset)
        blocks = ["\n".join(f"{t} {g}" for t, g in zip(tokens, tags)) for tokens, tags in ner_rows(size, rng, split)]
        (out / "ner" / f"{split}.txt").write_text("-DOCSTART- O\n\n" + "\n\n".join(blocks) + "\n")
        rel = relation_rows(size, rng, split)
        (out / "relation" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rel))
        sent = sentiment_rows(size, rng, split)
        (out / "sentiment" / f"{split}.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sent))
    return out

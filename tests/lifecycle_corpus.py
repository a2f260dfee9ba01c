"""A small deterministic corpus for the lifecycle tests, and what those tests share to run and compare stores.

The corpus: 42 short English documents (people, organisations, places, events, reports, letters) of a made-up
nineteenth-century Scottish and North Sea scientific community. The same people, institutions and cities recur
across documents (full names first, surnames and acronyms later), so linking across documents matters; the
reports run past one chunk. ``write_corpus`` writes the files into a folder; the texts depend only on ``seed``.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from store.fingerprint import differences, fingerprint

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Person:
    name: str
    born: int
    died: int
    birthplace: str
    field: str
    org: str
    peer: str  # full name of a collaborator
    event: str  # an event they took part in


@dataclass(frozen=True)
class Org:
    name: str
    short: str | None
    founded: int
    city: str
    founder: str
    kind: str
    members: tuple[str, ...]


PEOPLE = (
    Person("Margaret Holloway", 1851, 1923, "Edinburgh", "marine biology", "University of Edinburgh",
           "Thomas Reid", "Forth Estuary Survey"),
    Person("Thomas Reid", 1848, 1919, "Glasgow", "marine engineering", "Clyde Shipbuilding Company",
           "William Fraser", "Bell Rock Refit"),
    Person("Anna Lindqvist", 1860, 1938, "Gothenburg", "chemistry", "Bergen Marine Station",
           "Margaret Holloway", "North Sea Fisheries Conference"),
    Person("Jonas Eriksen", 1855, 1930, "Bergen", "meteorology", "Bergen Marine Station",
           "Anna Lindqvist", "Great Gale of 1894"),
    Person("Clara Bennett", 1867, 1944, "London", "medicine", "Royal Infirmary of Edinburgh",
           "Margaret Holloway", "Leith Cholera Inquiry"),
    Person("Samuel Adeyemi", 1872, 1941, "Lagos", "hydrographic surveying", "University of Glasgow",
           "Pieter de Vries", "Forth Estuary Survey"),
    Person("Henry Caldwell", 1840, 1910, "Leith", "shipping", "Caldwell Line",
           "Thomas Reid", "Great Gale of 1894"),
    Person("Eleanor Marsh", 1875, 1952, "Dundee", "journalism", "The Scotsman",
           "Clara Bennett", "Leith Cholera Inquiry"),
    Person("Pieter de Vries", 1858, 1927, "Rotterdam", "hydrography", "Rotterdam Harbour Authority",
           "Samuel Adeyemi", "North Sea Fisheries Conference"),
    Person("William Fraser", 1845, 1915, "Aberdeen", "lighthouse engineering", "Northern Lighthouse Board",
           "Thomas Reid", "Bell Rock Refit"),
)

ORGS = (
    Org("University of Edinburgh", None, 1583, "Edinburgh", "James Lawson", "university",
        ("Margaret Holloway", "Clara Bennett")),
    Org("University of Glasgow", None, 1451, "Glasgow", "William Turnbull", "university",
        ("Samuel Adeyemi", "Thomas Reid")),
    Org("Northern Lighthouse Board", "NLB", 1786, "Edinburgh", "Thomas Smith", "public body",
        ("William Fraser", "Thomas Reid")),
    Org("Clyde Shipbuilding Company", None, 1868, "Glasgow", "Thomas Reid", "shipbuilder",
        ("Thomas Reid", "Henry Caldwell")),
    Org("Caldwell Line", None, 1871, "Leith", "Henry Caldwell", "shipping company",
        ("Henry Caldwell", "Eleanor Marsh")),
    Org("Bergen Marine Station", None, 1892, "Bergen", "Jonas Eriksen", "research station",
        ("Jonas Eriksen", "Anna Lindqvist")),
    Org("Royal Society of Edinburgh", "RSE", 1783, "Edinburgh", "William Robertson", "learned society",
        ("Margaret Holloway", "William Fraser", "Anna Lindqvist")),
    Org("Rotterdam Harbour Authority", None, 1873, "Rotterdam", "Pieter Caland", "port authority",
        ("Pieter de Vries",)),
)

PLACES = {
    "Edinburgh": ("the capital of Scotland", "Leith", ("University of Edinburgh", "Royal Society of Edinburgh",
                                                       "Northern Lighthouse Board")),
    "Glasgow": ("the largest city in Scotland", "the River Clyde", ("University of Glasgow",
                                                                    "Clyde Shipbuilding Company")),
    "Leith": ("the port of Edinburgh", "the Firth of Forth", ("Caldwell Line",)),
    "Bergen": ("a port city on the west coast of Norway", "the North Sea", ("Bergen Marine Station",)),
    "Rotterdam": ("a port city in the Netherlands", "the Nieuwe Maas", ("Rotterdam Harbour Authority",)),
    "Gothenburg": ("a port city in Sweden", "the Kattegat", ()),
}

EVENTS = {
    "Forth Estuary Survey": (1889, "Leith", "University of Edinburgh", ("Margaret Holloway", "Samuel Adeyemi",
                                                                       "Thomas Reid"),
                             "mapped the tides, the silt and the fish stocks of the Firth of Forth"),
    "Bell Rock Refit": (1902, "Edinburgh", "Northern Lighthouse Board", ("William Fraser", "Thomas Reid"),
                        "replaced the lantern and the lenses of the Bell Rock lighthouse"),
    "North Sea Fisheries Conference": (1899, "Bergen", "Bergen Marine Station",
                                       ("Anna Lindqvist", "Pieter de Vries", "Jonas Eriksen",
                                        "Margaret Holloway"),
                                       "agreed on shared methods for counting herring in the North Sea"),
    "Great Gale of 1894": (1894, "Leith", "Caldwell Line", ("Henry Caldwell", "Jonas Eriksen"),
                           "wrecked eleven ships along the east coast of Scotland"),
    "Leith Cholera Inquiry": (1908, "Leith", "Royal Infirmary of Edinburgh", ("Clara Bennett", "Eleanor Marsh"),
                              "traced an outbreak of cholera to a broken sewer near the docks"),
}

REPORTS = (  # (title, year, author, organisation, place, subject)
    ("Tidal Observations at Leith", 1887, "Margaret Holloway", "Royal Society of Edinburgh", "Leith",
     "the height of the spring tides"),
    ("On the Strength of Riveted Hulls", 1883, "Thomas Reid", "University of Glasgow", "Glasgow",
     "the fatigue of iron plates"),
    ("Salinity of the Norwegian Fjords", 1896, "Anna Lindqvist", "Bergen Marine Station", "Bergen",
     "the salt content of deep water"),
    ("Storm Warnings for the North Sea", 1897, "Jonas Eriksen", "Bergen Marine Station", "Bergen",
     "telegraphed pressure readings"),
    ("Sanitation in the Port of Leith", 1909, "Clara Bennett", "Royal Infirmary of Edinburgh", "Leith",
     "the water supply of the dock workers"),
    ("Soundings of the Clyde Channel", 1898, "Samuel Adeyemi", "University of Glasgow", "Glasgow",
     "the depth of the shipping channel"),
    ("A Century of Lights", 1911, "William Fraser", "Northern Lighthouse Board", "Edinburgh",
     "the history of the Scottish lighthouses"),
    ("Dredging the Nieuwe Waterweg", 1895, "Pieter de Vries", "Rotterdam Harbour Authority", "Rotterdam",
     "the new waterway to the sea"),
)

LETTERS = (  # (writer, recipient, year, place, topic)
    ("Margaret Holloway", "Anna Lindqvist", 1898, "Edinburgh", "samples of plankton from the Firth of Forth"),
    ("Thomas Reid", "William Fraser", 1901, "Glasgow", "the cost of new lenses for the Bell Rock"),
    ("Jonas Eriksen", "Henry Caldwell", 1895, "Bergen", "the storm signals after the Great Gale"),
    ("Pieter de Vries", "Samuel Adeyemi", 1900, "Rotterdam", "methods for sounding a river channel"),
    ("Eleanor Marsh", "Clara Bennett", 1908, "Leith", "an article on the cholera outbreak"),
)


def _person(name: str) -> Person:
    return next(p for p in PEOPLE if p.name == name)


def _surname(name: str) -> str:
    return name.split()[-1]


def _pronoun(name: str) -> str:
    return "he" if name.split()[0] in ("Thomas", "Jonas", "Samuel", "Henry", "Pieter", "William") else "she"


def _bio(p: Person, rng: random.Random) -> str:
    sur, he = _surname(p.name), _pronoun(p.name)
    peer = _person(p.peer)
    opening = rng.choice([
        f"{p.name} ({p.born}-{p.died}) was a pioneer of {p.field} born in {p.birthplace}.",
        f"{p.name} was born in {p.birthplace} in {p.born} and became known for work in {p.field}.",
    ])
    middle = (
        f" {he.capitalize()} joined the {p.org} as a young researcher and remained connected to it for most "
        f"of {'his' if he == 'he' else 'her'} career. {sur} worked closely with {p.peer}, who was based in "
        f"{peer.birthplace}, and the two corresponded for many years."
    )
    event = EVENTS[p.event]
    later = (
        f"\n\nIn {event[0]} {sur} took part in the {p.event}, organised by the {event[2]} in {event[1]}, which "
        f"{event[4]}. Colleagues remembered {sur} as patient and exact."
    )
    reports = [r for r in REPORTS if r[2] == p.name]
    if reports:
        r = reports[0]
        later += (f" {he.capitalize()} published \"{r[0]}\" in {r[1]}, a study of {r[5]} written for the {r[3]}.")
    end = f" {p.name} died in {p.died}."
    return opening + middle + later + end


def _org(o: Org, rng: random.Random) -> str:
    short = f" ({o.short})" if o.short else ""
    ref = o.short or "It"
    members = ", ".join(o.members[:-1]) + (" and " if len(o.members) > 1 else "") + o.members[-1]
    text = (
        f"The {o.name}{short} is a {o.kind} founded in {o.founded} in {o.city} by {o.founder}. "
        f"{ref} grew quickly during the nineteenth century. Among the people associated with it were {members}."
    )
    events = [e for e, v in EVENTS.items() if v[2] == o.name]
    for e in events:
        year, place, _, who, what = EVENTS[e]
        text += f"\n\nIn {year} the {o.name} organised the {e} near {place}, which {what}."
        text += f" {who[0]} led the work" + (f" together with {who[1]}." if len(who) > 1 else ".")
    text += rng.choice([
        f" Today the archives of the {o.name} are kept in {o.city}.",
        f" Its records, letters and instruments survive in a collection in {o.city}.",
    ])
    return text


def _place(name: str, rng: random.Random) -> str:
    what, water, orgs = PLACES[name]
    text = f"{name} is {what}, on {water}."
    if orgs:
        text += " It is home to the " + ", the ".join(orgs) + "."
    born = [p.name for p in PEOPLE if p.birthplace == name]
    if born:
        text += f" {' and '.join(born)} {'was' if len(born) == 1 else 'were'} born in {name}."
    events = [e for e, v in EVENTS.items() if v[1] == name]
    for e in events:
        text += f" The {e} of {EVENTS[e][0]} took place there."
    text += rng.choice([
        f"\n\nVisitors to {name} in the 1890s described busy quays and the smell of coal smoke.",
        f"\n\nBy 1900 {name} was linked by regular steamers to Leith, Bergen and Rotterdam.",
    ])
    return text


def _event(name: str, rng: random.Random) -> str:
    year, place, org, who, what = EVENTS[name]
    text = f"# {name}\n\nThe {name} took place in {year} near {place}. It {what}."
    text += f"\n\nThe {org} organised the work. The participants included {', '.join(who[:-1])} and {who[-1]}."
    for w in who:
        p = _person(w)
        text += f" {_surname(w)} came from the {p.org} and brought experience in {p.field}."
    text += rng.choice([
        f"\n\nNewspapers in Edinburgh and Glasgow reported on the {name} for weeks.",
        f"\n\nEleanor Marsh later wrote about the {name} in The Scotsman.",
    ])
    return text


def _report(r: tuple, rng: random.Random) -> str:
    title, year, author, org, place, subject = r
    sur = _surname(author)
    peer = _person(author).peer
    paras = [
        f"{title} is a report written by {author} in {year} for the {org}. It describes {subject} at {place}.",
        f"{sur} collected the measurements over several seasons, often working from small boats in poor weather. "
        f"The report thanks {peer} for advice on the instruments and the {org} for paying for the boats.",
        f"The results were read before the Royal Society of Edinburgh and later reprinted in {place}. "
        f"Critics in London questioned some of the figures, but later surveys by the {org} confirmed them.",
    ]
    rest = paras[1:]
    rng.shuffle(rest)
    paras[1:] = rest
    # Long reports: a method section with many numbers, which pushes them past one chunk.
    seasons = [f"In {year - k} the work at {place} produced {rng.randint(20, 90)} readings, checked by "
               f"{sur} against the records of the {org}." for k in range(1, 7)]
    paras.append("Method. " + " ".join(seasons))
    return "\n\n".join(paras)


def _letter(letter: tuple, rng: random.Random) -> str:
    writer, recipient, year, place, topic = letter
    return (
        f"# Letter from {writer} to {recipient}\n\n"
        f"Written in {place} in {year}, this letter from {writer} to {recipient} concerns {topic}. "
        f"{_surname(writer)} writes that the {_person(writer).org} has agreed to share its results, and asks "
        f"{_surname(recipient)} to send news from {_person(recipient).birthplace}.\n\n"
        f"{rng.choice(['The letter ends with greetings to', 'A postscript sends regards to'])} the staff of "
        f"the {_person(recipient).org}."
    )


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def corpus(seed: int = 0) -> dict[str, str]:
    """Relative file name -> text, 36 documents; the same for the same seed."""
    rng = random.Random(seed)
    docs: dict[str, str] = {}
    for p in PEOPLE:
        docs[f"people/{_slug(p.name)}.txt"] = f"{p.name}\n\n{_bio(p, rng)}\n"
    for o in ORGS:
        docs[f"organisations/{_slug(o.name)}.txt"] = f"{o.name}\n\n{_org(o, rng)}\n"
    for name in PLACES:
        docs[f"places/{_slug(name)}.txt"] = f"{name}\n\n{_place(name, rng)}\n"
    for name in EVENTS:
        docs[f"events/{_slug(name)}.md"] = _event(name, rng) + "\n"
    for r in REPORTS:
        docs[f"reports/{_slug(r[0])}.txt"] = f"{r[0]}\n\n{_report(r, rng)}\n"
    for letter in LETTERS:
        docs[f"letters/{_slug(letter[0])}_{letter[2]}.md"] = _letter(letter, rng) + "\n"
    return docs


def write_corpus(folder: Path, seed: int = 0) -> list[Path]:
    """Write the corpus under ``folder``; returns the files in a fixed order."""
    out = []
    for rel, text in sorted(corpus(seed).items()):
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        out.append(p)
    return out


def revised(text: str) -> str:
    """A changed version of a document: one sentence more, naming people and places of the corpus."""
    return text.rstrip("\n") + (
        "\n\nA later note adds that Margaret Holloway and Jonas Eriksen met in Bergen in 1900 to compare "
        "their records.\n"
    )


# -- running the project in other processes, comparing stores ------------------------------------------------------
def child_env() -> dict[str, str]:
    """The environment for a process that runs this checkout (not whatever ``kg`` is installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("KG_DB", None)
    return env


def fingerprint_of(db: Path, vectors: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """``store.fingerprint`` of a database file, read on a plain engine."""
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return fingerprint(conn, vectors)
    finally:
        engine.dispose()


def compact(value: Any, folder: Path) -> Any:
    """A fingerprint (or a part) for messages: vectors as short hashes, sources relative to the corpus."""
    if isinstance(value, bytes):
        return "#" + hashlib.sha1(value).hexdigest()[:10]
    if isinstance(value, str):
        return value.replace(f"{folder}{os.sep}", "")
    if isinstance(value, (list, tuple)):
        return type(value)(compact(v, folder) for v in value)
    if isinstance(value, dict):
        return {k: compact(v, folder) for k, v in value.items()}
    return value


def describe(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]], folder: Path) -> list[str]:
    """``differences`` with vectors shown as hashes and sources relative to the corpus folder."""
    return differences(compact(a, folder), compact(b, folder))

"""Named relations: which schema predicate a sentence's dependency phrase and its two entities' types express.

``relations.phrase_between`` reads a phrase off the parse ('born_in', 'founded_by', 'daughter_of'); here
the phrase's words and the types of its two ends choose one predicate of a small schema, in the direction the
schema reads ('Radium Institute —founded_by→ Marie Curie' whichever came first in the sentence). Anything the
schema does not name is ``related_to``. Each predicate maps to the Wikidata properties it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

RELATED_TO = "related_to"

PERSON = frozenset({"PERSON"})
PLACE = frozenset({"GPE", "LOC", "FAC"})
ORG = frozenset({"ORG"})
ORG_OR_PLACE = ORG | PLACE
AGENT = PERSON | ORG
WORK = frozenset({"WORK_OF_ART", "PRODUCT", "LAW"})
ANY: frozenset[str] = frozenset()  # no constraint

# The Wikidata properties a predicate corresponds to: (head -P-> tail, tail -P-> head). `kg bench extract` scores
# the labelled predicates against Re-DocRED's relations with them.
WIKIDATA: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "born_in": (frozenset({"P19"}), frozenset()),
    "died_in": (frozenset({"P20"}), frozenset()),
    "spouse_of": (frozenset({"P26"}), frozenset({"P26"})),
    "child_of": (frozenset({"P22", "P25"}), frozenset({"P40"})),
    "educated_at": (frozenset({"P69"}), frozenset()),
    "director_of": (frozenset(), frozenset({"P488", "P1037", "P169"})),
    "founded_by": (frozenset({"P112"}), frozenset()),
    "member_of": (frozenset({"P463", "P102", "P54"}), frozenset({"P527"})),
    "employed_by": (frozenset({"P108"}), frozenset()),
    "award_received": (frozenset({"P166"}), frozenset()),
    "author_of": (frozenset({"P800"}), frozenset({"P50", "P86", "P170"})),
    "located_in": (frozenset({"P131", "P17", "P276", "P159", "P706"}), frozenset({"P150"})),
    "part_of": (frozenset({"P361"}), frozenset({"P527"})),
    "citizen_of": (frozenset({"P27"}), frozenset()),
}


@dataclass(frozen=True)
class Rule:
    predicate: str
    words: frozenset[str]  # the phrase's main word (verb, or the noun after a copula)
    preps: frozenset[str] | None  # its preposition; None: any or none
    head: frozenset[str]  # the types the first entity in the sentence may have (empty: any)
    tail: frozenset[str]  # and the second
    flip: bool = False  # the schema reads the other way: 'X founded Y' is 'Y founded_by X'


def _w(*words: str) -> frozenset[str]:
    return frozenset(words)


RULES: tuple[Rule, ...] = (
    Rule("born_in", _w("born"), None, PERSON, PLACE),
    Rule("died_in", _w("died", "dies", "die", "killed"), None, PERSON, PLACE),
    Rule("spouse_of", _w("married", "marries", "marry", "wed", "wife", "husband", "spouse", "widow", "widower"),
         None, PERSON, PERSON),
    Rule("child_of", _w("daughter", "son", "child", "born"), _w("of", "to"), PERSON, PERSON),
    Rule("child_of", _w("father", "mother", "parent"), _w("of"), PERSON, PERSON, flip=True),
    Rule("educated_at", _w("studied", "studies", "study", "graduated", "graduates", "educated", "enrolled",
                           "student", "alumnus", "alumna", "doctorate", "trained"),
         _w("at", "from", "in"), PERSON, ORG | frozenset({"FAC"})),
    Rule("director_of", _w("directed", "directs", "director", "headed", "heads", "head", "led", "leads", "chaired",
                           "chairs", "chairman", "president", "chair"), None, PERSON, ORG),
    Rule("founded_by", _w("founded", "established", "created", "co-founded", "cofounded", "started", "set"),
         _w("by"), ORG | WORK, AGENT),
    Rule("founded_by", _w("founded", "established", "co-founded", "cofounded", "created", "founder",
                          "co-founder"), None, AGENT, ORG, flip=True),
    Rule("member_of", _w("member", "joined", "joins", "join", "elected", "fellow"), None, AGENT, ORG),
    Rule("employed_by", _w("worked", "works", "work", "working", "employed", "taught", "teaches", "professor",
                           "lecturer", "researcher", "appointed", "hired", "served"),
         _w("at", "for", "by", "in", "with"), PERSON, ORG | frozenset({"FAC"})),
    Rule("award_received", _w("received", "receives", "won", "wins", "awarded", "earned", "shared", "laureate",
                              "winner", "recipient"), None, AGENT, ANY),  # a prize, whatever NER called it
    Rule("author_of", _w("wrote", "writes", "written", "authored", "published", "composed", "author"), _w("by"),
         WORK, PERSON, flip=True),
    Rule("author_of", _w("wrote", "writes", "authored", "published", "composed", "author"), None, PERSON, WORK),
    Rule("located_in", _w("located", "based", "headquartered", "situated", "lies", "lie", "sits", "housed"),
         _w("in", "at", "on", "near"), ORG_OR_PLACE, PLACE),
    Rule("part_of", _w("part", "division", "branch", "department", "faculty", "subsidiary", "member"),
         _w("of"), ORG_OR_PLACE, ORG_OR_PLACE),
    Rule("citizen_of", _w("citizen", "national", "naturalised", "naturalized"), None, PERSON, PLACE),
)

_AWARD_WORDS = ("prize", "award", "medal", "order of", "fellowship")


def _fits(types: frozenset[str], t: str) -> bool:
    return not types or t in types


def name(phrase: str, head_type: str, tail_type: str, tail_name: str = "", subject: bool = True
         ) -> tuple[str, bool]:
    """(schema predicate, whether head and tail swap) for a phrase between two mentions in text order;
    ``subject``: whether the first mention is the subject of the phrase's verb (if not, the phrase is about
    something else in the sentence: 'Pierre married Marie, who was born in Warsaw' says nothing of Pierre's
    birthplace)."""
    if not phrase or phrase == RELATED_TO or not subject:
        return RELATED_TO, False
    parts = phrase.split("_")
    word, prep = parts[0], (parts[-1] if len(parts) > 1 else None)
    for r in RULES:
        if word not in r.words or (r.preps is not None and prep not in r.preps):
            continue
        if r.predicate == "award_received" and not any(w in tail_name.casefold() for w in _AWARD_WORDS):
            continue  # 'won the election', 'shared a laboratory'
        if _fits(r.head, head_type) and _fits(r.tail, tail_type):
            return r.predicate, r.flip
    return RELATED_TO, False

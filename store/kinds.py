"""Entity types: the groups spaCy's NER confuses, and how compatible two types are. Plain data, so that the
extraction side can use it without loading the store."""

from __future__ import annotations

UNKNOWN = "MISC"
# Types that spaCy's NER confuses with each other get partial credit; PERSON against a place gets almost none.
TYPE_GROUPS = {
    "PERSON": "person", "NORP": "group", "ORG": "org", "FAC": "place", "GPE": "place", "LOC": "place",
    "PRODUCT": "work", "EVENT": "event", "WORK_OF_ART": "work", "LAW": "work", "LANGUAGE": "group",
}
_PAIR = {
    frozenset({"place", "org"}): 0.5, frozenset({"group", "place"}): 0.5, frozenset({"group", "org"}): 0.5,
    frozenset({"work", "event"}): 0.6, frozenset({"work", "org"}): 0.5, frozenset({"event", "org"}): 0.4,
    frozenset({"person", "org"}): 0.25, frozenset({"person", "work"}): 0.25,
}
KB_TYPES = frozenset([*TYPE_GROUPS, UNKNOWN])  # the types a knowledge-base entity may have
MIN_TYPE = 0.3  # below this, same-name entities of different types never share an entity


def type_compat(a: str, b: str) -> float:
    """1.0 for the same type, partial for types the tagger confuses, ~0 for person versus place."""
    if a == b:
        return 1.0
    if UNKNOWN in (a, b):
        return 0.7
    ga, gb = TYPE_GROUPS.get(a, a), TYPE_GROUPS.get(b, b)
    if ga == gb:
        return 0.85
    return _PAIR.get(frozenset({ga, gb}), 0.1)


# Last words that make a "PERSON" span a place, building or organisation named after someone ('Wayne Gretzky
# Drive', 'Osaka Bay'): such names do not lend their words to short forms.
NON_PERSON_HEADS = frozenset({
    "bay", "drive", "street", "road", "avenue", "boulevard", "square", "river", "lake", "creek", "mountain",
    "island", "park", "bridge", "school", "university", "college", "academy", "company", "corporation", "inc",
    "ltd", "group", "city", "county", "colony", "province", "district", "church", "cathedral", "hospital",
    "airport", "station", "stadium", "arena", "hall", "house", "tower", "castle", "palace", "museum", "institute",
    "foundation", "society", "association", "club", "team", "party", "award", "prize", "cup", "league", "festival",
    "war", "battle", "centre", "center", "prison", "library", "theatre", "theater", "building", "records", "band",
    "orchestra",
})

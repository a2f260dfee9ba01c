"""One type per entity: a weighted vote of its mentions' NER labels, its name's head word and what the document's
first sentence says its subject is.

NER labels each mention on its own, and the small model often calls a lone surname ORG or a valley PERSON. Its
label for a full name counts for more than for a short form; a name whose head word says what it is ('Sacramento
Valley', 'University of Paris', 'Battle of Hastings') has that word's vote; and a document that opens 'X is an
American rock band' says what X is. Mention labels stay on the mentions, as the evidence they are.
"""

from __future__ import annotations

import re
from collections import Counter

from store.kinds import UNKNOWN
from store.records import MentionRecord, NewEntity

_HEADS: dict[str, tuple[str, ...]] = {
    "LOC": ("river", "lake", "mountain", "mountains", "mount", "valley", "island", "islands", "bay", "sea", "ocean",
            "peninsula", "desert", "forest", "creek", "canyon", "glacier", "falls", "hill", "hills", "coast", "gulf",
            "strait", "plateau", "basin", "volcano", "cape", "reef", "lagoon", "delta", "crater"),
    "GPE": ("city", "county", "province", "district", "municipality", "prefecture", "region", "village", "town",
            "kingdom", "republic", "commune", "parish", "township", "governorate", "oblast", "canton", "emirate",
            "principality", "duchy", "empire"),
    "FAC": ("street", "road", "avenue", "square", "bridge", "airport", "station", "stadium", "arena", "tower",
            "palace", "castle", "cathedral", "church", "chiesa", "temple", "mosque", "abbey", "monastery", "museum",
            "hospital", "park", "building", "highway", "motorway", "railway", "dam", "canal", "piazza", "via",
            "boulevard", "lighthouse", "fort", "fortress", "prison", "theatre", "theater"),
    "ORG": ("university", "college", "school", "academy", "institute", "company", "corporation", "inc", "ltd",
            "llc", "plc", "bank", "club", "fc", "team", "party", "association", "society", "council", "committee",
            "agency", "ministry", "department", "foundation", "records", "airlines", "airways", "army", "navy",
            "police", "league", "union", "federation", "orchestra", "band", "parliament", "senate", "government",
            "commission", "board", "studios", "laboratory", "laboratories", "conservatory", "seminary", "brigade",
            "regiment", "division", "church of"),
    "EVENT": ("war", "battle", "festival", "championship", "championships", "olympics", "cup", "tournament",
              "election", "revolution", "games", "rebellion", "uprising", "crisis", "siege", "massacre", "expedition",
              "campaign", "conference", "summit", "grand prix"),
    "WORK_OF_ART": ("album", "film", "song", "novel", "opera", "symphony", "sonata", "concerto", "ep", "single"),
}
HEAD_TYPE = {w: label for label, words in _HEADS.items() for w in words}
# Names whose first word says what they are: 'Lake Michigan', 'Mount Kenya', 'Piazza Navona', 'Rue de Rivoli'.
LEADING_TYPE = {**dict.fromkeys(("lake", "mount", "monte", "lago", "isla", "isle", "cape", "río", "rio", "loch"),
                                "LOC"),
                **dict.fromkeys(("piazza", "via", "rue", "plaza", "calle", "avenida", "boulevard"), "FAC")}
# Words after 'X is a(n)' that say what X is: the nearest one decides ('an American rock band' -> ORG).
_KINDS: dict[str, tuple[str, ...]] = {
    "PERSON": ("actor", "actress", "singer", "politician", "footballer", "player", "writer", "author", "poet",
               "musician", "painter", "artist", "scientist", "physicist", "chemist", "mathematician", "engineer",
               "composer", "director", "producer", "journalist", "lawyer", "judge", "soldier", "officer",
               "general", "bishop", "priest", "king", "queen", "prince", "princess", "emperor", "businessman",
               "businesswoman", "philosopher", "historian", "economist", "architect", "photographer", "model",
               "rapper", "drummer", "guitarist", "pianist", "dancer", "athlete", "cyclist", "boxer", "wrestler",
               "coach", "manager", "diplomat", "statesman", "activist", "novelist", "playwright", "screenwriter",
               "comedian", "presenter", "entrepreneur", "inventor", "explorer", "astronaut", "professor", "teacher",
               "physician", "surgeon", "nurse", "linguist", "sculptor", "cartoonist", "illustrator",
               "designer", "chef", "monk", "nun", "saint", "pope", "cardinal", "lord", "duke", "count", "countess",
               "baron", "member", "leader", "founder", "man", "woman", "person", "son", "daughter"),
    "ORG": ("band", "group", "company", "corporation", "organisation", "organization", "party", "club", "team",
            "university", "college", "school", "institute", "agency", "newspaper", "magazine", "publisher",
            "label", "airline", "bank", "brand", "manufacturer", "network", "channel", "station", "broadcaster",
            "charity", "foundation", "association", "society", "union", "league", "federation", "orchestra",
            "choir", "duo", "trio", "quartet", "ensemble", "firm", "studio", "retailer", "chain", "conglomerate",
            "subsidiary", "council", "committee", "ministry", "department", "army", "navy", "regiment"),
    "GPE": ("city", "town", "village", "country", "state", "county", "province", "municipality", "commune",
            "capital", "suburb", "hamlet", "district", "region", "neighbourhood", "neighborhood", "borough",
            "parish", "township", "prefecture", "territory", "kingdom", "nation", "republic", "settlement"),
    "LOC": ("river", "mountain", "lake", "island", "valley", "crater", "desert", "peninsula", "bay", "sea",
            "volcano", "glacier", "forest", "hill", "archipelago", "strait", "waterfall", "beach", "cave"),
    "FAC": ("building", "bridge", "stadium", "airport", "church", "cathedral", "castle", "palace", "museum",
            "hospital", "tower", "railway", "road", "highway", "street", "square", "park", "temple", "mosque",
            "theatre", "theater", "arena", "dam", "canal", "lighthouse", "monument", "mansion", "house"),
    "EVENT": ("war", "battle", "festival", "tournament", "championship", "election", "competition", "race",
              "season", "conflict", "revolution", "uprising", "campaign", "expedition", "event", "ceremony",
              "olympics", "contest", "edition", "conference"),
    "WORK_OF_ART": ("film", "album", "song", "novel", "book", "play", "series", "opera", "poem", "single",
                    "painting", "musical", "episode", "sitcom", "drama", "comedy", "documentary", "ep",
                    "soundtrack", "video", "anime", "manga", "comic", "story", "symphony", "show"),
    "PRODUCT": ("aircraft", "car", "locomotive", "ship", "vessel", "submarine", "missile", "rifle", "gun", "tank",
                "engine", "software", "console", "smartphone", "computer", "vehicle", "satellite", "rocket",
                "language"),
}
KIND_TYPE = {w: label for label, words in _KINDS.items() for w in words}
_IS_A = re.compile(r"\b(?:is|was|are|were)\s+(?:a|an|the|one of the)\s+((?:[\w'’-]+\s+){0,7}?[\w'’-]+)"
                   r"(?=\s+(?:of|in|from|by|for|with|who|which|that|based|located|founded|directed|written)\b|[,.;(]|$)")
_WORD = re.compile(r"[\w'’-]+")

# Votes: a mention counts one per word of its surface; the head word and the document's opening sentence more.
HEAD_VOTE = 3
OPENING_VOTE = 5


def head_type(name: str) -> str | None:
    """The type a name's head word says: the last word, the word before 'of' ('University of Paris'), or a
    first word that names a kind of place ('Lake Michigan')."""
    words = [w.casefold() for w in _WORD.findall(name)]
    if len(words) < 2:
        return None
    if "of" in words[1:-1]:
        before = words[: words.index("of", 1)]
        if len(before) == 1 and before[0] + " of" in HEAD_TYPE:
            return HEAD_TYPE[before[0] + " of"]
        head = HEAD_TYPE.get(before[-1])
    elif len(words) > 2 and " ".join(words[-2:]) in HEAD_TYPE:
        head = HEAD_TYPE[" ".join(words[-2:])]
    else:
        head = HEAD_TYPE.get(words[-1])
    return head or LEADING_TYPE.get(words[0])


def opening_type(sentence: str) -> str | None:
    """What 'X is an American rock band ...' says X is: the last kind-word of the noun phrase after 'is a'."""
    m = _IS_A.search(sentence)
    if m is None:
        return None
    for w in reversed(_WORD.findall(m.group(1).casefold())):
        if w in KIND_TYPE:
            return KIND_TYPE[w]
    return None


def vote_types(mentions: list[MentionRecord], new: dict[int, NewEntity], firm: set[int],
               opening: tuple[int, str] | None = None) -> None:
    """Each new entity's type by a weighted vote: its mentions' NER labels (a full name's label outweighs a lone
    surname's), its head word, and ``opening`` (the entity a document is about, and the sentence that first
    names it). A type a description, title or KB gave (``firm``) stands; ties keep the first mention's label."""
    votes: dict[int, Counter[str]] = {}
    for m in mentions:
        if m.entity in new and m.entity not in firm and m.label != UNKNOWN:
            votes.setdefault(m.entity, Counter())[m.label] += len(m.surface.split())
    for ref, e in new.items():
        if ref in firm:
            continue
        head = head_type(e.name)
        if head is not None:
            votes.setdefault(ref, Counter())[head] += HEAD_VOTE
    if opening is not None and opening[0] in new and opening[0] not in firm:
        said = opening_type(opening[1])
        if said is not None:
            votes.setdefault(opening[0], Counter())[said] += OPENING_VOTE
    for ref, count in votes.items():
        e = new[ref]
        e.type = max(count, key=lambda t: (count[t], t == e.type))

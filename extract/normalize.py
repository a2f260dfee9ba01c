"""Name normalisation and acronyms: the keys of the alias index."""

from __future__ import annotations

import re
import unicodedata

_ARTICLES = re.compile(r"^(the|a|an)\s+")
_LOWER_ARTICLE = re.compile(r"^(?:the|a|an|The)\s+(?=\S)")  # 'a Nobel Prize'; 'A Tribe Called Quest' keeps its A
_POSSESSIVE = re.compile(r"['’]s$")
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")
ACRONYM_SKIP = frozenset({
    "of", "and", "the", "for", "in", "on", "at", "&",
    "de", "du", "des", "la", "le", "les", "et", "à", "au", "aux", "d", "l",  # French
    "für", "und", "der", "die", "das",  # German
    "di", "da", "del", "della", "e", "y", "el",  # Italian, Spanish, Portuguese
})


def normalize(name: str) -> str:
    """Casefold, NFKC, no punctuation, no leading article, no trailing possessive: 'The U.S.' -> 'us'."""
    s = _SPACES.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()
    s = _ARTICLES.sub("", s)  # before punctuation goes, so the initial of 'A. Einstein' stays
    s = _POSSESSIVE.sub("", s)
    s = _NON_WORD.sub(lambda m: "" if m.group(0) in {".", "'", "’"} else " ", s)
    return _SPACES.sub(" ", s).strip()


def fold_accents(norm: str) -> str:
    """'skłodowska' -> 'skodowska'-style ASCII folding for a second, looser key."""
    decomposed = unicodedata.normalize("NFKD", norm)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def acronym(name: str) -> str | None:
    """Initials of the capitalised words: 'National Aeronautics and Space Administration' -> 'nasa'."""
    words = [w for w in re.split(r"[\s\-]+", unicodedata.normalize("NFKC", name)) if w]
    words = [w for w in words if w.casefold() not in ACRONYM_SKIP]
    if len(words) < 2 or not all(w[0].isupper() for w in words if w[0].isalpha()):
        return None
    initials = fold_accents("".join(w[0] for w in words if w[0].isalpha()).casefold())
    return initials if len(initials) >= 2 else None


def _long_form(long: str) -> tuple[str, list[str], list[str]]:
    lng = fold_accents(long.casefold())
    raw = [w for w in re.split(r"[\s\-]+", lng) if w]
    return lng, raw, [w for w in raw if w not in ACRONYM_SKIP]


def abbreviation_keys(long: str) -> frozenset[str]:
    """The letters a short form of ``long`` may start with (``abbreviates`` wants one of them first)."""
    _, raw, words = _long_form(long)
    return frozenset((words[0][0], raw[0][0])) if len(words) >= 2 else frozenset()


def abbreviation_key(short: str) -> str:
    """The letter ``short`` starts with, as ``abbreviation_keys`` spells it."""
    return next((c for c in fold_accents(short.casefold()) if c.isalnum()), "")


def abbreviates(short: str, long: str) -> bool:
    """Whether ``short`` can abbreviate ``long`` (Schwartz & Hearst 2003): its letters appear in order, the
    first at the start of a word, so 'ASEAN' fits 'Association of Southeast Asian Nations'."""
    s = [c for c in fold_accents(short.casefold()) if c.isalnum()]
    lng, raw, words = _long_form(long)
    # The long form starts with the first letter ('TMF': 'The Music Factory'), and has no more words than the
    # short form has letters (plus one): 'CNRS' does not abbreviate any long phrase with c, n, r and s in it.
    if len(s) < 2 or len(words) < 2 or len(words) > len(s) + 1 or s[0] not in (words[0][0], raw[0][0]):
        return False
    i, j = len(s) - 1, len(lng) - 1
    while i >= 0:
        c = s[i]
        while j >= 0 and (lng[j] != c or (i == 0 and j > 0 and lng[j - 1].isalnum())):
            j -= 1
        if j < 0:
            return False
        i, j = i - 1, j - 1
    return True


def looks_like_acronym(surface: str) -> bool:
    """'NASA', 'U.S.', 'CNRS' but not 'Paris'."""
    letters = surface.replace(".", "").replace("&", "")
    return 2 <= len(letters) <= 8 and letters.isalpha() and letters.isupper()


def split_title(title: str) -> tuple[str, str | None]:
    """'Willi Schneider (skeleton racer)' -> ('Willi Schneider', 'skeleton racer')."""
    m = _PAREN.search(title)
    if m and m.start() > 0:
        return title[: m.start()].strip(), m.group(1).strip() or None
    return title.strip(), None


def display_name(surface: str) -> str:
    """A mention's surface as an entity name: trimmed, without a leading 'the' or trailing possessive."""
    s = _SPACES.sub(" ", surface).strip()
    s = _POSSESSIVE.sub("", s)
    return _LOWER_ARTICLE.sub("", s) or s

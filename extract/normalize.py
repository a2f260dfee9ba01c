"""Name normalisation and acronyms: the keys of the alias index."""

from __future__ import annotations

import re
import unicodedata

_ARTICLES = re.compile(r"^(the|a|an)\s+")
_POSSESSIVE = re.compile(r"['’]s$")
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_PAREN = re.compile(r"\s*\(([^()]*)\)\s*$")
ACRONYM_SKIP = frozenset({"of", "and", "the", "for", "in", "on", "at", "de", "du", "des", "la", "le", "für", "und", "&"})


def normalize(name: str) -> str:
    """Casefold, NFKC, no punctuation, no leading article, no trailing possessive: 'The U.S.' -> 'us'."""
    s = unicodedata.normalize("NFKC", name).casefold().strip()
    s = _POSSESSIVE.sub("", s)
    s = _NON_WORD.sub(lambda m: "" if m.group(0) in {".", "'", "’"} else " ", s)
    s = _SPACES.sub(" ", s).strip()
    return _ARTICLES.sub("", s)


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
    initials = "".join(w[0] for w in words if w[0].isalpha()).casefold()
    return initials if len(initials) >= 2 else None


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
    if s[:4].casefold() == "the " and len(s) > 4:
        s = s[4:]
    return s

"""In-document linking: which entity each mention of one document names. The document's own rules come first
(the same name, a short form of a person named earlier, the same person with initials, an acronym of a longer
name), then the scorer weighs catalog candidates on type, name, context and popularity, or a new entity is made.
Linking across documents is the store's (``store.resolve`` and ``store.fusion``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from extract.catalog import Candidate, EntityCatalog
from extract.config import LinkConfig
from extract.normalize import abbreviates, abbreviation_key, abbreviation_keys, acronym, looks_like_acronym, normalize
from store.kinds import NON_PERSON_HEADS, UNKNOWN, type_compat

__all__ = ["NON_PERSON_HEADS", "UNKNOWN", "Decision", "DocumentLinks", "LinkConfig", "Linker", "same_person",
           "type_compat"]



def same_person(a: list[str], b: list[str]) -> bool:
    """Same surname and given names that agree where written out and by initial elsewhere."""
    if a == b or len(a) < 2 or len(b) < 2 or a[-1] != b[-1] or len(a) != len(b):
        return False
    abbreviated = False
    for x, y in zip(a[:-1], b[:-1]):
        if x == y:
            continue
        if (len(x) == 1 or len(y) == 1) and x[0] == y[0]:
            abbreviated = True
            continue
        return False
    return abbreviated


# How far back among the names that share a key a short form, initials or an abbreviation looks: they refer to
# someone named lately, and a document with thousands of names (a table) must not scan them all for each.
RECENT = 64

_Entry = tuple[int, tuple[str, ...]]  # (ref, name tokens)


def _touch(posting: dict, key: object) -> None:
    """Move ``key`` to the end of an insertion-ordered posting: the most recently mentioned comes last."""
    posting.pop(key, None)
    posting[key] = None


@dataclass
class DocumentLinks:
    """What one document has linked so far: its names, person names by token and by initials, and acronyms."""

    by_norm: dict[str, int] = field(default_factory=dict)
    persons: dict[str, dict[_Entry, None]] = field(default_factory=dict)  # name token -> person names, latest last
    initials: dict[tuple, dict[_Entry, None]] = field(default_factory=dict)  # (surname, first letters) -> same
    person_names: dict[int, set[tuple[str, ...]]] = field(default_factory=dict)  # ref -> its person names
    by_acronym: dict[str, int] = field(default_factory=dict)
    context: set[int] = field(default_factory=set)
    firm: set[int] = field(default_factory=set)  # refs whose type is known, not guessed by NER (KB, title)
    about: int | None = None  # the entity the document's title names
    long_names: dict[str, dict[tuple[str, int], None]] = field(default_factory=dict)  # first letter -> multi-word

    def remember(self, norm: str, surface: str, ref: int, label: str) -> None:
        self.by_norm.setdefault(norm, ref)
        self.context.add(ref)
        words = tuple(norm.split())
        if label == "PERSON" and len(words) > 1 and words[-1] not in NON_PERSON_HEADS:
            for w in set(words):
                _touch(self.persons.setdefault(w, {}), (ref, words))
            _touch(self.initials.setdefault(_initials(words), {}), (ref, words))
            self.person_names.setdefault(ref, set()).add(words)
        acr = acronym(surface)
        if acr:
            self.by_acronym.setdefault(acr, ref)
        if len(words) > 1:
            for k in abbreviation_keys(surface):
                _touch(self.long_names.setdefault(k, {}), (surface, ref))

    def short_form(self, toks: set[str]) -> int | None:
        """The person a short form names ('Schneider' after 'Willi Schneider'): the one the document is about,
        else the latest whose name holds its words."""
        if self.about is not None and any(toks < set(n) for n in self.person_names.get(self.about, ())):
            return self.about
        postings = [self.persons.get(t, {}) for t in toks]
        rarest = min(postings, key=len)
        return next((r for r, name in islice(reversed(rarest), RECENT) if toks < set(name)), None)

    def same_person(self, words: list[str]) -> int | None:
        """The latest person ``words`` names with initials where they wrote names out, or the other way round."""
        posting = self.initials.get(_initials(tuple(words)), {})
        return next((r for r, name in islice(reversed(posting), RECENT) if same_person(words, list(name))), None)

    def abbreviated(self, short: str) -> int | None:
        """The latest multi-word name in this document that ``short`` abbreviates."""
        strict = self.by_acronym.get(normalize(short).replace(" ", ""))
        if strict is not None:
            return strict
        posting = self.long_names.get(abbreviation_key(short), {})
        return next((ref for name, ref in islice(reversed(posting), RECENT) if abbreviates(short, name)), None)

    def rule(self, surface: str, norm: str, label: str, fits: Callable[[int], bool]) -> tuple[int, float] | None:
        """The entity this document's rules give a mention, with their confidence, or None to ask the scorer:
        the same name, a short form, the same person with initials, an acronym; each only where ``fits``."""
        ref = self.by_norm.get(norm)
        if ref is not None and fits(ref):
            return ref, 0.95
        toks = set(norm.split())
        if toks:
            # A short form ("Schneider" after "Willi Schneider") names the latest person whose name contains it;
            # NER often mislabels a lone surname, so its label is not trusted here.
            # In a document about a person, their surname means them ("Curie" in "Marie Curie" after "Pierre Curie").
            ref = self.short_form(toks)
            if ref is not None and fits(ref):
                return ref, 0.9
        if len(toks) > 1 and label in ("PERSON", UNKNOWN):
            # The same person with initials: 'J. H. Dearle' and 'John Henry Dearle'.
            ref = self.same_person(norm.split())
            if ref is not None and fits(ref):
                return ref, 0.85
        if looks_like_acronym(surface):
            ref = self.abbreviated(surface)
            if ref is not None and fits(ref):
                return ref, 0.9
        return None


def _initials(words: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    return words[-1], tuple(w[0] for w in words[:-1])


@dataclass
class Decision:
    ref: int | None  # None: create a new entity
    confidence: float
    candidate: Candidate | None = None


def _shared(a: set[int], b: set[int], most: int) -> int:
    """How many elements two sets share, counted up to ``most``: both grow with a long document."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    n = 0
    for x in small:
        if x in large:
            n += 1
            if n == most:
                break
    return n


class Linker:
    """Chooses among catalog candidates for a mention, given the entities already linked nearby."""

    def __init__(self, catalog: EntityCatalog, config: LinkConfig | None = None):
        self.catalog = catalog
        self.config = config or LinkConfig()

    def score(self, cand: Candidate, label: str, context: set[int], max_mentions: int) -> float:
        cfg, info = self.config, self.catalog.entities[cand.ref]
        tc = type_compat(label, info.type)
        if tc < cfg.min_type:
            return 0.0
        ctx = _shared(info.neighbours, context, 2) / 2.0 if context else 0.0
        prior = math.log1p(info.mentions) / math.log1p(max_mentions) if max_mentions > 0 else 0.0
        return (cfg.w_name * cand.name_sim + cfg.w_type * tc + cfg.w_context * ctx + cfg.w_prior * prior
                + cfg.w_kb * info.kb)

    def link(self, surface: str, label: str, context: set[int]) -> Decision:
        cands = self.catalog.candidates(surface, self.config.fuzzy_cutoff)
        if not cands:
            return Decision(None, 1.0)
        max_m = max(self.catalog.entities[c.ref].mentions for c in cands)
        best, best_score = None, 0.0
        for c in cands:
            s = self.score(c, label, context, max_m)
            if s > best_score:
                best, best_score = c, s
        if best is None or best_score < self.config.threshold:
            # Confidence of "new": how far the best candidate fell short.
            return Decision(None, round(1.0 - best_score / 2, 4))
        return Decision(best.ref, round(min(1.0, best_score), 4), best)

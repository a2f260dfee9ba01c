"""The in-memory view of the graph's entities that linking needs, with a sub-quadratic candidate index.

Blocking keys: the normalised alias (exact), its accent-folded form, acronyms in both directions, and for fuzzy
matching, rare name tokens and 4-character token prefixes whose posting lists stay short.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import count

from rapidfuzz import fuzz, process

from extract.normalize import acronym, fold_accents, looks_like_acronym, normalize

MAX_POSTING = 2000  # the graph's catalog; a posting longer than this is too common a key to block on
DOC_POSTING = 100  # one document's catalog: bounds the work per mention in a document with thousands of names


@dataclass
class EntityInfo:
    ref: int
    name: str
    type: str
    description: str | None = None
    kb: bool = False
    mentions: int = 0
    neighbours: set[int] = field(default_factory=set)


@dataclass
class Candidate:
    ref: int
    kind: str  # exact | acronym | fuzzy
    name_sim: float


class EntityCatalog:
    """Entities by ref (a store id, or a negative key for one created but not yet written)."""

    def __init__(self, max_posting: int = MAX_POSTING) -> None:
        self.max_posting = max_posting
        self.entities: dict[int, EntityInfo] = {}
        self._by_norm: dict[str, set[int]] = defaultdict(set)
        self._by_folded: dict[str, set[int]] = defaultdict(set)
        self._by_acronym: dict[str, set[int]] = defaultdict(set)
        self._blocks: dict[str, set[str]] = defaultdict(set)
        self._temp = count(-1, -1)

    # -- building ---------------------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, entities: list[tuple], aliases: list[tuple], pairs: list[tuple]) -> EntityCatalog:
        """A catalog from store rows: (id, name, type, description, is_kb, mentions), (id, alias), (id, id)."""
        catalog = cls()
        for i, name, typ, desc, kb, n in entities:
            catalog.add_entity(i, name, typ, description=desc, kb=kb, mentions=n)
        for eid, alias in aliases:
            if eid in catalog.entities:
                catalog.add_alias(eid, alias)
        for h, t in pairs:
            if h in catalog.entities and t in catalog.entities:
                catalog.add_cooccurrence(h, t)
        return catalog

    def add_entity(self, ref: int | None, name: str, type: str, *, description: str | None = None,
                   kb: bool = False, mentions: int = 0) -> EntityInfo:
        ref = next(self._temp) if ref is None else ref
        info = EntityInfo(ref, name, type, description, kb, mentions)
        self.entities[ref] = info
        self.add_alias(ref, name)
        return info

    def add_alias(self, ref: int, alias: str) -> None:
        norm = normalize(alias)
        if not norm or ref in self._by_norm.get(norm, ()):
            return
        self._by_norm[norm].add(ref)
        self._by_folded[fold_accents(norm)].add(ref)  # both ways: 'Malmö' finds 'Malmo' and back
        acr = acronym(alias)
        if acr:
            self._by_acronym[acr].add(ref)
        for tok in norm.split():
            if len(tok) >= 3:
                self._blocks[tok].add(norm)
                self._blocks["~" + tok[:4]].add(norm)

    def add_cooccurrence(self, a: int, b: int) -> None:
        if a != b:
            self.entities[a].neighbours.add(b)
            self.entities[b].neighbours.add(a)

    # -- lookup -----------------------------------------------------------------------------------------------
    def candidates(self, surface: str, fuzzy_cutoff: float | None = 88.0, limit: int = 8) -> list[Candidate]:
        """Entities this surface may name; ``fuzzy_cutoff=None`` turns off spelling-variant matching."""
        norm = normalize(surface)
        if not norm:
            return []
        found: dict[int, Candidate] = {}

        def put(ref: int, kind: str, sim: float) -> None:
            if ref in self.entities and (ref not in found or found[ref].name_sim < sim):
                found[ref] = Candidate(ref, kind, sim)

        for ref in self._by_norm.get(norm, ()):
            put(ref, "exact", 1.0)
        for ref in self._by_folded.get(fold_accents(norm), ()):
            put(ref, "exact", 0.97)
        if looks_like_acronym(surface):
            for ref in self._short(self._by_acronym.get(norm.replace(" ", ""), ())):
                put(ref, "acronym", 0.9)
        else:
            acr = acronym(surface)
            if acr:
                for ref in self._short(self._by_norm.get(acr, ())):
                    if looks_like_acronym(self.entities[ref].name):
                        put(ref, "acronym", 0.9)
        if fuzzy_cutoff is not None and len(found) < limit:
            pool: set[str] = set()
            for tok in norm.split():
                if len(tok) >= 3:
                    for key in (tok, "~" + tok[:4]):
                        posting = self._blocks.get(key)
                        if posting and len(posting) <= self.max_posting:
                            pool |= posting
            pool.discard(norm)
            # Spelling variants keep their word count; extra words ("Marie Curie UK") are not variants, and
            # neither are extensions ("Angola"/"Angolan", "Catholic"/"Catholics").
            n_tok = len(norm.split())
            pool = {p for p in pool if len(p.split()) == n_tok and (n_tok > 1 or len(norm) >= 5)
                    and not (p.startswith(norm) or norm.startswith(p))}
            if pool:
                # One-word names need a closer match: 'Austrian' is not a variant of 'Australian'.
                cutoff = fuzzy_cutoff if n_tok > 1 else max(fuzzy_cutoff, 90.0)
                for other, score, _ in process.extract(norm, list(pool), scorer=fuzz.ratio,
                                                       score_cutoff=cutoff, limit=limit):
                    for ref in self._by_norm[other]:
                        put(ref, "fuzzy", score / 100.0)
        return sorted(found.values(), key=lambda c: -c.name_sim)[: limit * 2]

    def _short(self, posting: set[int] | tuple) -> set[int] | tuple:
        """A posting, unless it is too long to be worth a look: two letters are the initials of many names."""
        return posting if len(posting) <= self.max_posting else ()

    def refs_for_norm(self, norm: str) -> list[int]:
        return [r for r in self._by_norm.get(norm, ()) if r in self.entities]

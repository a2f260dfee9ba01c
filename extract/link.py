"""Entity linking: score each candidate on type, name, context and popularity, then link or create."""

from __future__ import annotations

import math
from dataclasses import dataclass

from extract.catalog import Candidate, EntityCatalog
from extract.config import LinkConfig
from store.kinds import UNKNOWN, type_compat

__all__ = ["UNKNOWN", "Decision", "LinkConfig", "Linker", "type_compat"]

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

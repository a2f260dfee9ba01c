"""Query entities: which graph entities a question is about, and how strongly.

Three sources, as DyVo found that linking alone misses relevant entities:
- spaCy NER spans, linked through the catalog's alias index (exact, accent-folded, acronym, fuzzy);
- gazetteer matches: word n-grams of the question that are a known entity name or alias;
- entity retrieval: the entities whose name embeddings are nearest the question embedding.
Each entity's query weight is its match score times its specificity in the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from spacy.language import Language

from extract.catalog import EntityCatalog
from extract.normalize import normalize
from retrieve.catalog_index import CatalogIndex
from retrieve.config import QueryConfig
from retrieve.index import Index

MAX_NGRAM = 8


@dataclass
class QueryEntity:
    entity_id: int
    column: int  # index column among the entities
    name: str
    surface: str | None  # the question's words that named it; None when only retrieval found it
    how: str  # ner | gazetteer | retrieved
    score: float  # match confidence in (0, 1]
    weight: float = 0.0  # score x specificity: the query's weight on this entity's dimension


class QueryAnalyzer:
    def __init__(self, nlp: Language, catalog: EntityCatalog | CatalogIndex, index: Index,
                 config: QueryConfig | None = None):
        self.nlp, self.catalog, self.index = nlp, catalog, index
        self.config = config or QueryConfig()
        self._idf = index.entity_idf()

    def entities(self, question: str, question_vector: np.ndarray | None = None) -> list[QueryEntity]:
        cfg = self.config
        found: dict[int, QueryEntity] = {}

        def put(ref: int, surface: str | None, how: str, score: float) -> None:
            col = self.index.entity_col.get(ref)
            if col is None or (ref in found and found[ref].score >= score):
                return
            found[ref] = QueryEntity(ref, col, self.index.entity_names[col], surface, how, score)

        doc = self.nlp(question)
        for ent in doc.ents:
            cands = [c for c in self.catalog.candidates(ent.text) if c.name_sim >= cfg.fuzzy_floor]
            # An ambiguous name spreads its confidence over its readings; acronym readings count for less.
            share = 1.0 / np.sqrt(len(cands)) if cands else 0.0
            for cand in cands:
                put(cand.ref, ent.text, "ner", share * cand.name_sim * (0.5 if cand.kind == "acronym" else 1.0))
        for start, end, refs in self._gazetteer(doc):
            for ref in refs:
                put(ref, doc[start:end].text, "gazetteer", 1.0 / np.sqrt(len(refs)))
        if question_vector is not None and self.index.entity_vectors is not None and self.index.n_entities:
            sims = self.index.entity_vectors @ question_vector
            k = min(cfg.retrieved, len(sims))
            for j in np.argpartition(-sims, k - 1)[:k]:
                s = float(sims[j])
                if s >= cfg.similarity_floor:  # rescaled so that the floor counts as nothing
                    put(int(self.index.entity_ids[j]), None, "retrieved", (s - cfg.similarity_floor)
                        / (1.0 - cfg.similarity_floor))
        out = list(found.values())
        for qe in out:
            qe.weight = qe.score * float(self._idf[qe.column])
        return sorted(out, key=lambda q: -q.weight)

    def _gazetteer(self, doc) -> list[tuple[int, int, list[int]]]:  # type: ignore[no-untyped-def]
        """Longest n-grams that are a known name, not made only of stop words, lower-case single words or
        punctuation; shorter matches inside a longer one are dropped."""
        hits: list[tuple[int, int, list[int]]] = []
        n = len(doc)
        for i in range(n):
            if doc[i].is_punct or doc[i].is_space:
                continue
            for j in range(min(n, i + MAX_NGRAM), i, -1):
                span = doc[i:j]
                if span[-1].is_punct or all(t.is_stop or t.is_punct for t in span):
                    continue
                if len(span) == 1 and (span[0].is_lower or span[0].is_stop or len(span[0].text) < 3):
                    continue
                norm = normalize(span.text)
                refs = self.catalog.refs_for_norm(norm)
                if len(span) == 1:  # a single word must be the entity's own name, not one of its short forms
                    refs = [r for r in refs if normalize(self.catalog.entities[r].name) == norm]
                if refs:
                    hits.append((i, j, refs))
                    break
        hits.sort(key=lambda h: (-(h[1] - h[0]), h[0]))
        taken = np.zeros(n, dtype=bool)
        out = []
        for i, j, refs in hits:
            if taken[i:j].any():
                continue
            taken[i:j] = True
            out.append((i, j, refs))
        return out

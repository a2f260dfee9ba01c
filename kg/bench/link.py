"""``kg bench link``: whether mentions of one global entity, across documents, land on one graph entity.

Every document of a jsonl gold set (mentions with character offsets, linked to global ids such as Wikidata QIDs)
is ingested as one record through the normal pipeline, and the store's mentions are read back with their graph
entity ids. The peer in the same run merges names as GraphRAG and LightRAG do: a bare spaCy NER pass whose
mentions are grouped, across all documents, by their normalised surface string.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from extract.normalize import normalize
from kg.api import KGConfig, KGError, KnowledgeGraph
from kg.bench.common import bare_entities, find_file, read_jsonl
from kg.loaders import clean
from store.schema import Chunk, Document, Mention

DATA_FILE = "docs.jsonl"
PEER = "peer_exact_name_merge"


@dataclass
class LinkDoc:
    key: str  # the record id in the ingested corpus: d0, d1, ...
    id: str
    title: str
    text: str
    mentions: list[tuple[int, int, str]]  # start, end, global entity id


def load_gold(path: Path, limit: int | None = None) -> list[LinkDoc]:
    """The documents of a docs.jsonl file; a mention whose offsets do not fit its text is a user error."""
    docs: list[LinkDoc] = []
    for n, row in enumerate(read_jsonl(path, limit), 1):
        where = f"{path}: document {n}" + (f" ({row['id']})" if isinstance(row.get("id"), (str, int)) else "")
        entities = row.get("entities")
        if not isinstance(entities, list):
            raise KGError(f'{where}: expected "entities", a list of {{"id", "start", "end"}} mentions')
        text, mentions = row["text"], []
        for m in entities:
            ok = (isinstance(m, dict) and isinstance(m.get("id"), (str, int)) and str(m["id"])
                  and all(isinstance(m.get(k), int) and not isinstance(m.get(k), bool) for k in ("start", "end")))
            if not ok:
                raise KGError(f'{where}: each entity needs a global "id" and integer "start" and "end"; '
                              f"got {repr(m)[:80]}")
            if not 0 <= m["start"] < m["end"] <= len(text):
                raise KGError(f"{where}: entity {m['id']!r} at {m['start']}:{m['end']} is outside the text "
                              f"({len(text)} characters); offsets count characters from 0, end excluded")
            mentions.append((m["start"], m["end"], str(m["id"])))
        text, mentions = _as_loaded(text, mentions, where)
        docs.append(LinkDoc(f"d{len(docs)}", str(row.get("id", n)), str(row.get("title") or ""), text, mentions))
    if not docs:
        raise KGError(f"{path}: no documents")
    return docs


def _as_loaded(text: str, mentions: list[tuple[int, int, str]],
               where: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The text as the jsonl loader stores it (no \\r, soft hyphen, zero-width or control characters; stripped),
    with the gold offsets moved to match, so that the graph's offsets and the gold ones count the same text."""
    if (cleaned := clean(text)) != text:
        cuts = sorted({0, len(text), *(x for a, b, _ in mentions for x in (a, b))})
        at, parts = {0: 0}, []
        for a, b in itertools.pairwise(cuts):
            parts.append(clean(text[a:b]))
            at[b] = at[a] + len(parts[-1])
        if "".join(parts) != cleaned:  # a character whose cleaning depends on its neighbours sits on a boundary
            raise KGError(f"{where}: the loader's cleaning of this text (line breaks, zero-width and control "
                          "characters) cannot be followed through the entity offsets; clean the text first")
        text, mentions = cleaned, [(at[a], at[b], g) for a, b, g in mentions]
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    moved = [(max(a - lead, 0), min(b - lead, len(text)), g) for a, b, g in mentions]
    return text, [(a, b, g) for a, b, g in moved if a < b]  # one of removed characters only is dropped


class Spans:
    """Predicted mentions of one document, matched to gold spans by exact span or by containment."""

    def __init__(self, spans: Iterable[tuple[int, int, Hashable]]):
        self.spans = sorted(spans, key=lambda s: (s[0], s[1]))
        self.starts = [a for a, _, _ in self.spans]
        self.longest = max((b - a for a, b, _ in self.spans), default=0)

    def match(self, a: int, b: int) -> tuple[Hashable | None, Hashable | None]:
        """The group of the mention with exactly the span (a, b), and of the one that contains it or lies inside
        it with the largest overlap."""
        relaxed, best = None, 0
        # A mention containing (a, b) starts at b - longest or later; one inside it starts at a or later.
        for s, e, ref in self.spans[bisect_left(self.starts, min(a, b - self.longest)):bisect_left(self.starts, b)]:
            if (s, e) == (a, b):
                return ref, ref
            if ((s <= a and e >= b) or (s >= a and e <= b)) and min(e, b) - max(s, a) > best:
                best, relaxed = min(e, b) - max(s, a), ref
        return None, relaxed


def _pairs(counts: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


@dataclass
class PairCounts:
    """Pairs of found gold mentions: of one gold entity, in one predicted group, and both."""

    same_gold: int = 0
    same_pred: int = 0
    both: int = 0

    def scores(self) -> dict[str, float]:
        p = self.both / self.same_pred if self.same_pred else 0.0
        r = self.both / self.same_gold if self.same_gold else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4)}


def pair_counts(found: list[tuple[int, str, Hashable]]) -> tuple[PairCounts, PairCounts]:
    """(across documents, within documents) from (document, gold id, predicted group) of each found mention,
    counted by group sizes, n * (n - 1) / 2, so that tens of thousands of mentions cost no more than a sort."""
    def count(key: Any) -> int:
        return _pairs(Counter(map(key, found)).values())

    within = PairCounts(count(lambda f: (f[0], f[1])), count(lambda f: (f[0], f[2])), count(lambda f: f))
    every = PairCounts(count(lambda f: f[1]), count(lambda f: f[2]), count(lambda f: (f[1], f[2])))
    across = PairCounts(every.same_gold - within.same_gold, every.same_pred - within.same_pred,
                        every.both - within.both)
    return across, within


def score(docs: list[LinkDoc], predicted: list[Spans]) -> dict[str, Any]:
    """Mention recall, merge pairs across and within documents, and the duplicate and conflated rates."""
    found: list[tuple[int, str, Hashable]] = []
    exact = 0
    for i, (d, spans) in enumerate(zip(docs, predicted, strict=True)):
        for a, b, gold in d.mentions:
            ex, rel = spans.match(a, b)
            exact += ex is not None
            if rel is not None:
                found.append((i, gold, rel))
    n_gold = sum(len(d.mentions) for d in docs)
    across, within = pair_counts(found)
    preds_of: dict[str, set[Hashable]] = defaultdict(set)
    golds_of: dict[Hashable, set[str]] = defaultdict(set)
    for _, gold, pred in found:
        preds_of[gold].add(pred)
        golds_of[pred].add(gold)
    cross, inside = across.scores(), within.scores()
    return {
        "mention_recall_exact": round(exact / n_gold, 4) if n_gold else 0.0,
        "mention_recall_relaxed": round(len(found) / n_gold, 4) if n_gold else 0.0,
        "cross_doc_merge_precision": cross["precision"],
        "cross_doc_merge_recall": cross["recall"],
        "cross_doc_merge_f1": cross["f1"],
        "within_doc_merge_precision": inside["precision"],
        "within_doc_merge_recall": inside["recall"],
        "within_doc_merge_f1": inside["f1"],
        "found_entities": len(preds_of),
        "duplicate_rate": round(sum(len(p) > 1 for p in preds_of.values()) / len(preds_of), 4) if preds_of else 0.0,
        "conflated_rate": round(sum(len(g) > 1 for g in golds_of.values()) / len(golds_of), 4) if golds_of else 0.0,
        "pairs": {"cross_document": asdict(across), "within_document": asdict(within)},
    }


def run_link_bench(dataset: str | Path, limit: int | None = None, processes: int = 2,
                   progress: Console | None = None) -> dict[str, Any]:
    """kg's figures and the exact-name peer's over the same documents, timed in the same run."""
    path = find_file(dataset, DATA_FILE)
    docs = load_gold(path, limit)
    config = KGConfig.from_env()
    config.extract.n_process = processes
    say = (lambda m: progress.print(f"[dim]{m}[/dim]")) if progress is not None else (lambda m: None)

    say(f"bare spaCy NER over {len(docs)} documents, names merged by their normalised string…")
    import spacy  # noqa: F401  (imported before either clock starts: each run pays only for its model)

    t0 = time.perf_counter()
    bare = [Spans((a, b, normalize(text)) for a, b, text, _ in ents)
            for ents in bare_entities((d.text for d in docs), config.extract.model, config.extract.labels, processes)]
    bare_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="kg-bench-") as tmp:
        corpus = Path(tmp) / "link.jsonl"
        corpus.write_text("".join(json.dumps({"id": d.key, "title": d.title, "text": d.text}, ensure_ascii=False)
                                  + "\n" for d in docs), encoding="utf-8")
        say(f"kg ingest of the same {len(docs)} documents…")
        t0 = time.perf_counter()
        with KnowledgeGraph(Path(tmp) / "bench.db", config) as g:
            report = g.ingest([corpus], index=False)  # linking never reads the search vectors
            kg_s = time.perf_counter() - t0
            mentions = _read_mentions(g)
            n_entities = g.stats().entities

    gold_docs: dict[str, set[int]] = defaultdict(set)
    for i, d in enumerate(docs):
        for _, _, gold in d.mentions:
            gold_docs[gold].add(i)
    return {
        "dataset": str(path),
        "documents": len(docs),
        "gold_mentions": sum(len(d.mentions) for d in docs),
        "gold_entities": len(gold_docs),
        "gold_entities_in_several_documents": sum(len(v) > 1 for v in gold_docs.values()),
        "kg": {**score(docs, [Spans(mentions.get(d.key, [])) for d in docs]), "seconds": round(kg_s, 2),
               "graph_entities": n_entities},
        PEER: {**score(docs, bare), "seconds": round(bare_s, 2),
               "graph_entities": len({ref for spans in bare for _, _, ref in spans.spans})},
        "errors": len(report.errors),
    }


def _read_mentions(g: KnowledgeGraph) -> dict[str, list[tuple[int, int, int]]]:
    """Each document's mentions as (start, end, graph entity id), offsets in the document's text."""
    mentions: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    with g.db.read() as s:
        key_of = {doc_id: src.rsplit("#", 1)[-1] for doc_id, src in s.execute(select(Document.id, Document.source))}
        q = (select(Chunk.document_id, Chunk.start_char, Mention.start, Mention.end, Mention.entity_id)
             .join(Mention, Mention.chunk_id == Chunk.id))
        for doc_id, off, a, b, eid in s.execute(q):
            mentions[key_of[doc_id]].append((off + a, off + b, eid))
    return mentions


def print_link_bench(r: dict[str, Any], console: Console) -> None:
    t = Table(title=f"link: {r['documents']} documents, {r['gold_mentions']} gold mentions of {r['gold_entities']} "
                    f"entities ({r['gold_entities_in_several_documents']} in several documents)",
              title_justify="left")
    t.add_column("metric")
    t.add_column("kg", justify="right")
    t.add_column("peer: NER + exact-name merge", justify="right")
    ours, peer = r["kg"], r[PEER]
    for key, label in [("mention_recall_exact", "mention recall, exact span"),
                       ("mention_recall_relaxed", "mention recall, containment"),
                       ("cross_doc_merge_recall", "cross-doc merge recall"),
                       ("cross_doc_merge_precision", "cross-doc merge precision"),
                       ("cross_doc_merge_f1", "cross-doc merge F1"),
                       ("within_doc_merge_recall", "within-doc merge recall"),
                       ("within_doc_merge_precision", "within-doc merge precision"),
                       ("within_doc_merge_f1", "within-doc merge F1"),
                       ("duplicate_rate", "duplicate rate"), ("conflated_rate", "conflated rate")]:
        t.add_row(label, f"{ours[key]:.3f}", f"{peer[key]:.3f}")
    t.add_row("graph entities (peer: names)", str(ours["graph_entities"]), str(peer["graph_entities"]))
    t.add_row("seconds", f"{ours['seconds']:.1f}", f"{peer['seconds']:.1f}")
    console.print(t)
    console.print("[dim]merge scores count pairs of gold mentions found (containment match), in two documents or in "
                  "one, merged when both land on one graph entity (for the peer, one normalised name); the "
                  "duplicate rate is the share of found gold entities split over several graph entities, the "
                  "conflated rate the share of graph entities holding found mentions of several gold ones.[/dim]")

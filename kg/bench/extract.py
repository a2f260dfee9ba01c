"""``kg bench extract``: mention recall, entity merging and relation pairs against Re-DocRED gold clusters.

Every Re-DocRED document is ingested as one jsonl record through the normal pipeline, then the store is read
back and compared with the gold within-document entity clusters. The peer in the same run is a bare spaCy NER
pass over the same texts, and for merging, grouping the same mentions by their normalised surface string.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from extract.normalize import normalize
from extract.schema import WIKIDATA
from kg.api import KGConfig, KGError, KnowledgeGraph
from kg.bench.common import bare_entities, find_file
from store.schema import Chunk, Document, Entity, Mention, RelationEvidence

GOLD_TYPES = ("PER", "ORG", "LOC", "MISC")
# spaCy's labels in Re-DocRED's types; the graph's MISC (no label) stays MISC. Re-DocRED types a nationality
# ('German', 'American': spaCy's NORP) as the place it names, LOC, and a language as MISC.
TYPE_OF_LABEL = {
    "PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "LOC", "PRODUCT": "MISC",
    "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC", "MISC": "MISC", "DATE": "TIME",
    "TIME": "TIME", "CARDINAL": "NUM", "QUANTITY": "NUM", "MONEY": "NUM", "PERCENT": "NUM", "ORDINAL": "NUM",
}
_NO_SPACE_BEFORE = {",", ".", ";", ":", ")", "]", "}", "%", "?", "!", "'s", "n't", "'re", "'ve", "'ll", "'d", "'m"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "#"}


@dataclass
class GoldDoc:
    key: str
    title: str
    text: str
    mentions: list[tuple[int, int, int, str]]  # start, end, gold entity index, type
    relations: set[tuple[int, int]]  # unordered gold entity pairs with a labelled relation
    labelled: set[tuple[int, int, str]] = field(default_factory=set)  # (head, tail, Wikidata property)


def detokenize(sents: list[list[str]]) -> tuple[str, list[list[tuple[int, int]]]]:
    """Join tokens into readable text (no space before commas and the like) with each token's char span."""
    parts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    pos, prev = 0, None
    for sent in sents:
        offs = []
        for tok in sent:
            if prev is not None and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
                parts.append(" ")
                pos += 1
            offs.append((pos, pos + len(tok)))
            parts.append(tok)
            pos += len(tok)
            prev = tok
        spans.append(offs)
    return "".join(parts), spans


def load_gold(path: Path, limit: int | None = None) -> list[GoldDoc]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KGError(f"{path}: not a readable Re-DocRED JSON file ({e})") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) and "sents" in d and "vertexSet" in d for d in data):
        raise KGError(f"{path}: expected a JSON list of documents with 'sents' and 'vertexSet'")
    docs = []
    for i, d in enumerate(data[:limit] if limit else data):
        text, spans = detokenize(d["sents"])
        mentions = []
        for ent_idx, cluster in enumerate(d["vertexSet"]):
            for m in cluster:
                if m["type"] in GOLD_TYPES:
                    a, b = m["pos"]
                    s = spans[m["sent_id"]]
                    mentions.append((s[a][0], s[b - 1][1], ent_idx, m["type"]))
        rels = {tuple(sorted((r["h"], r["t"]))) for r in d.get("labels", []) if r["h"] != r["t"]}
        labelled = {(r["h"], r["t"], r.get("r", "")) for r in d.get("labels", []) if r["h"] != r["t"]}
        docs.append(GoldDoc(f"d{i}", d["title"], text, mentions, rels, labelled))  # type: ignore[arg-type]
    return docs


def _match(gold: tuple[int, int], pred: list[tuple[int, int, Any]]) -> tuple[Any, Any]:
    """The predicted mention with exactly the gold span, and the best overlapping one (containment)."""
    exact = relaxed = None
    best = 0
    for a, b, ref in pred:
        if (a, b) == gold:
            exact = relaxed = ref
            break
        inter = min(b, gold[1]) - max(a, gold[0])
        if inter > 0 and ((a <= gold[0] and b >= gold[1]) or (a >= gold[0] and b <= gold[1])) and inter > best:
            best, relaxed = inter, ref
    return exact, relaxed


def _pairs(assign: list[tuple[int, Any]]) -> tuple[int, int, int]:
    """(pairs in one gold entity, pairs in one predicted group, pairs in both) over one document."""
    same_gold = same_pred = both = 0
    for (g1, p1), (g2, p2) in combinations(assign, 2):
        same_gold += g1 == g2
        same_pred += p1 == p2
        both += g1 == g2 and p1 == p2
    return same_gold, same_pred, both


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


class _Tally:
    def __init__(self) -> None:
        self.gold = self.exact = self.relaxed = 0
        self.same_gold = self.same_pred = self.both = 0
        self.gold_entities = self.split_entities = 0
        self.typed = self.typed_right = 0
        self.confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # gold -> predicted

    def mentions(self, n_gold: int, n_exact: int, n_relaxed: int) -> None:
        self.gold += n_gold
        self.exact += n_exact
        self.relaxed += n_relaxed

    def merging(self, assign: list[tuple[int, Any]]) -> None:
        g, p, b = _pairs(assign)
        self.same_gold += g
        self.same_pred += p
        self.both += b
        groups: dict[int, set[Any]] = defaultdict(set)
        for gold_ent, pred in assign:
            groups[gold_ent].add(pred)
        self.gold_entities += len(groups)
        self.split_entities += sum(len(v) > 1 for v in groups.values())

    def types(self, gold: str, predicted: list[str]) -> None:
        """One found gold entity: its gold type against the type most of its found mentions' predictions have."""
        if predicted:
            guess = max(sorted(set(predicted)), key=predicted.count)
            self.typed += 1
            self.typed_right += guess == gold
            self.confusion[gold][guess] += 1

    def result(self) -> dict[str, Any]:
        recall = self.both / self.same_gold if self.same_gold else 0.0
        precision = self.both / self.same_pred if self.same_pred else 0.0
        return {
            "mention_recall_exact": round(self.exact / self.gold, 4) if self.gold else 0.0,
            "mention_recall_relaxed": round(self.relaxed / self.gold, 4) if self.gold else 0.0,
            "merge_recall": round(recall, 4),
            "merge_precision": round(precision, 4),
            "merge_f1": round(_f1(precision, recall), 4),
            "duplicate_entity_rate": round(self.split_entities / self.gold_entities, 4) if self.gold_entities else 0.0,
            "type_accuracy": round(self.typed_right / self.typed, 4) if self.typed else 0.0,
            "type_confusion": {g: dict(sorted(p.items())) for g, p in sorted(self.confusion.items())},
        }


def run_extract_bench(dataset: str | Path, limit: int | None = None, processes: int = 2,
                      progress: Console | None = None) -> dict[str, Any]:
    path = find_file(dataset, "dev_revised.json", "dev.json")
    docs = load_gold(path, limit)
    config = KGConfig.from_env()
    config.extract.n_process = processes
    say = (lambda m: progress.print(f"[dim]{m}[/dim]")) if progress is not None else (lambda m: None)

    say(f"bare spaCy NER over {len(docs)} documents…")
    t0 = time.perf_counter()
    bare_docs = [[(a, b, normalize(text), label) for a, b, text, label in ents]
                 for ents in bare_entities((d.text for d in docs), config.extract.model, config.extract.labels,
                                           processes)]
    bare = [[(a, b, norm) for a, b, norm, _ in ents] for ents in bare_docs]
    bare_label = [{(a, b): TYPE_OF_LABEL.get(label, "MISC") for a, b, _, label in ents} for ents in bare_docs]
    bare_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="kg-bench-") as tmp:
        corpus = Path(tmp) / "redocred.jsonl"
        corpus.write_text("".join(json.dumps({"id": d.key, "title": d.title, "text": d.text}, ensure_ascii=False)
                                  + "\n" for d in docs), encoding="utf-8")
        say(f"kg ingest of the same {len(docs)} documents…")
        t0 = time.perf_counter()
        with KnowledgeGraph(Path(tmp) / "bench.db", config) as g:
            report = g.ingest([corpus])
            kg_s = time.perf_counter() - t0
            pred, pairs, entity_types, labels = _read_predictions(g)
            n_entities = g.stats().entities

    ours, peer = _Tally(), _Tally()
    rel_gold = rel_hit = rel_pred = rel_pred_ok = 0
    named: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # schema predicate -> [scored, right]
    for d in docs:
        p_mentions = pred.get(d.key, [])
        b_mentions = bare[int(d.key[1:])]
        assign_ours, assign_peer = [], []
        ent_of_gold: dict[int, set[int]] = defaultdict(set)
        gold_types: dict[int, list[str]] = defaultdict(list)
        our_types: dict[int, list[str]] = defaultdict(list)
        peer_types: dict[int, list[str]] = defaultdict(list)
        b_spans = [(a, b, (a, b)) for a, b, _ in b_mentions]
        n_ex = n_rel = b_ex = b_rel = 0
        for a, b, ent, gold_type in d.mentions:
            gold_types[ent].append(gold_type)
            ex, rel = _match((a, b), p_mentions)
            n_ex += ex is not None
            n_rel += rel is not None
            if rel is not None:
                assign_ours.append((ent, rel))
                ent_of_gold[ent].add(rel)
                our_types[ent].append(TYPE_OF_LABEL.get(entity_types.get(rel, "MISC"), "MISC"))
            bex, brel = _match((a, b), b_mentions)
            b_ex += bex is not None
            b_rel += brel is not None
            if brel is not None:
                assign_peer.append((ent, brel))  # grouped by normalised surface string
                peer_types[ent].append(bare_label[int(d.key[1:])][_match((a, b), b_spans)[1]])
        for ent, found in our_types.items():  # the entities both found, so that the two are compared alike
            if ent in peer_types:
                gold = max(sorted(set(gold_types[ent])), key=gold_types[ent].count)
                ours.types(gold, found)
                peer.types(gold, peer_types[ent])
        ours.mentions(len(d.mentions), n_ex, n_rel)
        peer.mentions(len(d.mentions), b_ex, b_rel)
        ours.merging(assign_ours)
        peer.merging(assign_peer)
        # Unlabelled relation pairs, counted over gold entities both of which were found.
        doc_pairs = pairs.get(d.key, set())
        gold_of_pred: dict[int, set[int]] = defaultdict(set)
        for ent, refs in ent_of_gold.items():
            for r in refs:
                gold_of_pred[r].add(ent)
        for h, t in d.relations:
            if ent_of_gold.get(h) and ent_of_gold.get(t):
                rel_gold += 1
                rel_hit += any(tuple(sorted((x, y))) in doc_pairs for x in ent_of_gold[h] for y in ent_of_gold[t])
        for x, pred_name, y in labels.get(d.key, set()):  # named edges whose two ends are found gold entities
            if gold_of_pred.get(x) and gold_of_pred.get(y):
                direct, inverse = WIKIDATA[pred_name]
                named[pred_name][0] += 1
                named[pred_name][1] += any((gx, gy, r) in d.labelled and r in direct
                                           or (gy, gx, r) in d.labelled and r in inverse
                                           for gx in gold_of_pred[x] for gy in gold_of_pred[y]
                                           for r in direct | inverse)
        for x, y in doc_pairs:
            if gold_of_pred.get(x) and gold_of_pred.get(y):
                rel_pred += 1
                rel_pred_ok += any(tuple(sorted((gx, gy))) in d.relations
                                   for gx in gold_of_pred[x] for gy in gold_of_pred[y])
    return {
        "dataset": str(path),
        "documents": len(docs),
        "gold_mentions": ours.gold,
        "kg": {**ours.result(), "seconds": round(kg_s, 2), "graph_entities": n_entities,
               "relation_pair_recall": round(rel_hit / rel_gold, 4) if rel_gold else 0.0,
               "relation_pair_precision": round(rel_pred_ok / rel_pred, 4) if rel_pred else 0.0,
               "named_relations": sum(n for n, _ in named.values()),
               "named_relation_precision": (round(sum(ok for _, ok in named.values())
                                                  / sum(n for n, _ in named.values()), 4)
                                            if any(n for n, _ in named.values()) else 0.0),
               "named_by_predicate": {k: {"scored": n, "right": ok} for k, (n, ok) in sorted(named.items())}},
        "peer_spacy_ner_surface_match": {**peer.result(), "seconds": round(bare_s, 2)},
        "errors": len(report.errors),
    }


def _read_predictions(g: KnowledgeGraph) -> tuple[dict[str, list[tuple[int, int, int]]], dict[str, set],
                                                  dict[int, str], dict[str, set]]:
    """Each document's mentions as (doc start, doc end, entity id), its related entity pairs, the type of every
    entity, and each document's named edges (head, schema predicate, tail)."""
    labels: dict[str, set[tuple[int, str, int]]] = defaultdict(set)
    mentions: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    pairs: dict[str, set[tuple[int, int]]] = defaultdict(set)
    with g.db.read() as s:
        types = dict(s.execute(select(Entity.id, Entity.type)).tuples().all())
        key_of = {doc_id: src.rsplit("#", 1)[-1] for doc_id, src in s.execute(select(Document.id, Document.source))}
        q = (select(Chunk.document_id, Chunk.start_char, Mention.id, Mention.start, Mention.end, Mention.entity_id)
             .join(Mention, Mention.chunk_id == Chunk.id))
        ent_of_mention = {}
        for doc_id, off, mid, a, b, eid in s.execute(q):
            mentions[key_of[doc_id]].append((off + a, off + b, eid))
            ent_of_mention[mid] = eid
        q2 = (select(Chunk.document_id, RelationEvidence.head_mention_id, RelationEvidence.tail_mention_id,
                     RelationEvidence.predicate)
              .join(RelationEvidence, RelationEvidence.chunk_id == Chunk.id))
        for doc_id, h, t, predicate in s.execute(q2):
            x, y = ent_of_mention[h], ent_of_mention[t]
            if x != y:
                pairs[key_of[doc_id]].add((min(x, y), max(x, y)))
                if predicate in WIKIDATA:
                    labels[key_of[doc_id]].add((x, predicate, y))
    return mentions, pairs, types, labels


def print_extract_bench(r: dict[str, Any], console: Console) -> None:
    t = Table(title=f"extract: {r['documents']} documents, {r['gold_mentions']} gold PER/ORG/LOC/MISC mentions",
              title_justify="left")
    t.add_column("metric")
    t.add_column("kg", justify="right")
    t.add_column("peer: spaCy NER + surface match", justify="right")
    ours, peer = r["kg"], r["peer_spacy_ner_surface_match"]
    for key, label in [("mention_recall_exact", "mention recall (exact span)"),
                       ("mention_recall_relaxed", "mention recall (containment)"),
                       ("merge_recall", "merge recall (pairs)"), ("merge_precision", "merge precision (pairs)"),
                       ("merge_f1", "merge F1"), ("duplicate_entity_rate", "duplicate-entity rate"),
                       ("type_accuracy", "type accuracy (PER/ORG/LOC/MISC)"),
                       ("seconds", "seconds")]:
        t.add_row(label, f"{ours[key]:.3f}" if key != "seconds" else f"{ours[key]:.1f}",
                  f"{peer[key]:.3f}" if key != "seconds" else f"{peer[key]:.1f}")
    t.add_row("relation pairs recall / precision",
              f"{ours['relation_pair_recall']:.3f} / {ours['relation_pair_precision']:.3f}", "")
    t.add_row("named relations (schema) precision", f"{ours['named_relation_precision']:.3f} "
              f"of {ours['named_relations']}", "")
    t.add_row("graph entities (cross-document)", str(ours["graph_entities"]), "")
    console.print(t)
    console.print("[dim]merge scores are over gold mentions found (containment match), pairs within a document; "
                  "the duplicate-entity rate is the share of found gold entities split over several graph entities; "
                  "type accuracy is over the gold entities both found, each typed by most of its found mentions."
                  "[/dim]")

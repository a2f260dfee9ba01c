"""A store's content modulo row ids: two stores with equal fingerprints hold the same graph.

Ids depend on the order things were written in, so every reference is replaced by what it names: a chunk by its
document's source and its position, an entity by its name, type, description and KB id, a mention by its chunk
and offsets. Incremental updates are checked against a from-scratch build with this.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, text

EntityKey = tuple[str, str, str | None, str | None]


def _entity_keys(conn: Connection) -> dict[int, EntityKey]:
    return {i: (n, t, d, kb) for i, n, t, d, kb in conn.execute(
        text("SELECT id, name, type, description, kb_id FROM entities"))}


def _ends(head: EntityKey, tail: EntityKey, predicate: str) -> tuple[EntityKey, EntityKey]:
    """Undirected relations are stored with the smaller id first; compare them by content instead."""
    if predicate == "related_to" and repr(tail) < repr(head):
        return tail, head
    return head, tail


def fingerprint(conn: Connection, vectors: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows with ids replaced by content keys, sorted; ``vectors`` adds the stored encodings."""
    ent = _entity_keys(conn)
    chunk = {i: (src, o) for i, src, o in conn.execute(
        text("SELECT c.id, d.source, c.ord FROM chunks c JOIN documents d ON d.id = c.document_id"))}
    mention = {i: (chunk[c], s, e) for i, c, s, e in conn.execute(
        text('SELECT id, chunk_id, start, "end" FROM mentions'))}
    counts = Counter(e for (e,) in conn.execute(text("SELECT entity_id FROM mentions")))
    out: dict[str, list[tuple[Any, ...]]] = {
        "documents": [(src, title, h, meta, n, ent.get(about)) for src, title, h, meta, n, about in conn.execute(
            text("SELECT source, title, content_hash, metadata, n_chars, about_entity_id FROM documents"))],
        "chunks": [(chunk[i], t, s, e) for i, t, s, e in conn.execute(
            text("SELECT id, text, start_char, end_char FROM chunks"))],
        "entities": [(key, counts.get(i, 0), ent.get(into)) for i, key, into in (
            (i, ent[i], into) for i, into in conn.execute(text("SELECT id, merged_into_id FROM entities")))],
        "aliases": [(ent[e], a, n, s, chunk.get(c)) for e, a, n, s, c in conn.execute(
            text("SELECT entity_id, alias, norm, source, chunk_id FROM aliases"))],
        "mentions": [(mention[i], ent[e], surf, lab, src, round(conf, 4), ss, se)
                     for i, e, surf, lab, src, conf, ss, se in conn.execute(text(
                         "SELECT id, entity_id, surface, label, source, confidence, sent_start, sent_end "
                         "FROM mentions"))],
        "relations": [(*_ends(ent[h], ent[t], p), p, w) for h, t, p, w in conn.execute(
            text("SELECT head_id, tail_id, predicate, weight FROM relations"))],
        "evidence": [(*_ends(ent[h], ent[t], rp), rp, chunk[c], mention[hm], mention[tm], p, ss, se)
                     for h, t, rp, c, hm, tm, p, ss, se in conn.execute(text(
                         "SELECT r.head_id, r.tail_id, r.predicate, v.chunk_id, v.head_mention_id, "
                         "v.tail_mention_id, v.predicate, v.sent_start, v.sent_end "
                         "FROM relation_evidence v JOIN relations r ON r.id = v.relation_id"))],
        "merges": [(a, kn, mn, u) for a, kn, mn, u in conn.execute(
            text("SELECT action, kept_name, merged_name, undone FROM merge_log"))],
        "name_redirects": [tuple(r) for r in conn.execute(
            text("SELECT norm, target, rule, candidates FROM name_redirects"))],
        "name_keys": [tuple(r) for r in conn.execute(text("SELECT part, kind, norm FROM name_keys"))],
        "fusion_vetoes": [tuple(r) for r in conn.execute(text("SELECT norm, target FROM fusion_vetoes"))],
        "fusion_pins": [tuple(r) for r in conn.execute(text("SELECT norm, target, source FROM fusion_pins"))],
    }
    if vectors:
        out["chunk_vectors"] = [(chunk[c], enc, bytes(t), bytes(w)) for c, enc, t, w in conn.execute(
            text("SELECT chunk_id, encoder, terms, weights FROM chunk_vectors"))]
        out["chunk_embeddings"] = [(chunk[c], enc, bytes(v)) for c, enc, v in conn.execute(
            text("SELECT chunk_id, encoder, vector FROM chunk_embeddings"))]
        out["entity_embeddings"] = [(ent[e], enc, t, bytes(v)) for e, enc, t, v in conn.execute(
            text("SELECT entity_id, encoder, text, vector FROM entity_embeddings"))]
    return {k: sorted(v, key=repr) for k, v in out.items()}


def differences(a: dict[str, list[tuple]], b: dict[str, list[tuple]], limit: int = 5) -> list[str]:
    """What differs between two fingerprints, table by table: rows only in ``a`` (-) and only in ``b`` (+)."""
    out = []
    for table in sorted(set(a) | set(b)):
        ca, cb = Counter(map(repr, a.get(table, []))), Counter(map(repr, b.get(table, [])))
        only_a, only_b = list((ca - cb).elements()), list((cb - ca).elements())
        if only_a or only_b:
            out.append(f"{table}: {len(only_a)} rows only in the first, {len(only_b)} only in the second")
            out += [f"  - {r}" for r in only_a[:limit]] + [f"  + {r}" for r in only_b[:limit]]
    return out

"""Writing and removing documents: each call is one transaction, so a failure leaves nothing behind."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, bindparam, delete, exists, insert, select, tuple_, update
from sqlalchemy.orm import Session

from store.records import DocumentRecord, KBEntity, WriteResult
from store.schema import Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence, _now

RELATED_TO = "related_to"
_T = {m: m.__table__ for m in (Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence)}


def _insert_returning_ids(conn: Connection, model: type, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    table = _T[model]
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [r[0] for r in conn.execute(stmt, rows)]


def relation_key(head: int, tail: int, predicate: str) -> tuple[int, int, str]:
    """Undirected predicates are stored once, with the smaller id as head."""
    if predicate == RELATED_TO and tail < head:
        head, tail = tail, head
    return head, tail, predicate


def upsert_relations(conn: Connection, counts: Counter[tuple[int, int, str]]) -> tuple[dict, int]:
    """Add weight to existing relations and create missing ones; returns key -> id and how many are new."""
    if not counts:
        return {}, 0
    rel = _T[Relation]
    keys = list(counts)
    ids: dict[tuple[int, int, str], int] = {}
    for i in range(0, len(keys), 300):  # stay well under SQLite's bound-parameter limit
        part = keys[i : i + 300]
        q = select(rel.c.id, rel.c.head_id, rel.c.tail_id, rel.c.predicate).where(
            tuple_(rel.c.head_id, rel.c.tail_id, rel.c.predicate).in_(part)
        )
        ids.update({(h, t, p): rid for rid, h, t, p in conn.execute(q)})
    missing = [k for k in keys if k not in ids]
    new_ids = _insert_returning_ids(
        conn, Relation, [{"head_id": h, "tail_id": t, "predicate": p, "weight": counts[(h, t, p)]} for h, t, p in missing]
    )
    ids.update(zip(missing, new_ids))
    fresh = set(missing)
    existing = [{"rid": ids[k], "w": counts[k]} for k in keys if k not in fresh]
    if existing:
        conn.execute(
            update(rel).where(rel.c.id == bindparam("rid")).values(weight=rel.c.weight + bindparam("w")), existing
        )
    return ids, len(missing)


def write_document(session: Session, rec: DocumentRecord) -> WriteResult:
    """Insert one document with its chunks, new entities, mentions, aliases and relation evidence."""
    conn = session.connection()
    (doc_id,) = _insert_returning_ids(
        conn,
        Document,
        [{"source": rec.source, "title": rec.title, "content_hash": rec.content_hash, "metadata": rec.meta,
          "n_chars": rec.n_chars, "about_entity_id": None, "created_at": _now()}],
    )
    chunk_ids = _insert_returning_ids(
        conn,
        Chunk,
        [{"document_id": doc_id, "ord": c.ord, "text": c.text, "start_char": c.start_char, "end_char": c.end_char}
         for c in rec.chunks],
    )
    new_ids = _insert_returning_ids(
        conn,
        Entity,
        [{"name": e.name, "type": e.type, "description": e.description, "kb_id": None, "merged_into_id": None,
          "created_at": _now()} for e in rec.new_entities],
    )
    key_to_id = {e.key: i for e, i in zip(rec.new_entities, new_ids)}

    def eid(ref: int) -> int:
        return ref if ref > 0 else key_to_id[ref]

    mention_ids = _insert_returning_ids(
        conn,
        Mention,
        [{"chunk_id": chunk_ids[m.chunk_ord], "entity_id": eid(m.entity), "start": m.start, "end": m.end,
          "surface": m.surface, "label": m.label, "source": m.source, "confidence": m.confidence,
          "sent_start": m.sent_start, "sent_end": m.sent_end} for m in rec.mentions],
    )
    alias_rows = {
        (eid(a.entity), a.alias, a.source, None if a.chunk_ord is None else chunk_ids[a.chunk_ord]): a.norm
        for a in rec.aliases
    }
    if alias_rows:
        conn.execute(
            insert(_T[Alias]),
            [{"entity_id": e, "alias": al, "norm": norm, "source": src, "chunk_id": cid}
             for (e, al, src, cid), norm in alias_rows.items()],
        )
    ev_keys = []
    for ev in rec.evidence:
        h = eid(rec.mentions[ev.head_mention].entity)
        t = eid(rec.mentions[ev.tail_mention].entity)
        ev_keys.append(relation_key(h, t, ev.predicate) if h != t else None)
    rel_ids, n_new = upsert_relations(conn, Counter(k for k in ev_keys if k is not None))
    ev_rows = [
        {"relation_id": rel_ids[k], "chunk_id": chunk_ids[ev.chunk_ord],
         "head_mention_id": mention_ids[ev.head_mention], "tail_mention_id": mention_ids[ev.tail_mention],
         "predicate": ev.predicate, "sent_start": ev.sent_start, "sent_end": ev.sent_end}
        for ev, k in zip(rec.evidence, ev_keys) if k is not None
    ]
    if ev_rows:
        conn.execute(insert(_T[RelationEvidence]), ev_rows)
    if rec.about_entity is not None:
        conn.execute(update(_T[Document]).where(_T[Document].c.id == doc_id).values(about_entity_id=eid(rec.about_entity)))
    return WriteResult(doc_id, key_to_id, len(chunk_ids), len(mention_ids), n_new)


def delete_document(session: Session, doc_id: int) -> None:
    """Remove a document and everything it contributed, then drop what nothing refers to any more."""
    conn = session.connection()
    ev, rel = _T[RelationEvidence], _T[Relation]
    chunk_ids = select(_T[Chunk].c.id).where(_T[Chunk].c.document_id == doc_id)
    counts = Counter(
        r.relation_id for r in conn.execute(select(ev.c.relation_id).where(ev.c.chunk_id.in_(chunk_ids)))
    )
    conn.execute(delete(_T[Document]).where(_T[Document].c.id == doc_id))
    for rid, n in counts.items():
        conn.execute(update(rel).where(rel.c.id == rid).values(weight=rel.c.weight - n))
    prune(session)


def prune(session: Session) -> None:
    """Drop relations without evidence and entities nothing refers to (KB entities stay)."""
    conn = session.connection()
    ev, rel, ent, men, doc = _T[RelationEvidence], _T[Relation], _T[Entity], _T[Mention], _T[Document]
    conn.execute(delete(rel).where(~exists().where(ev.c.relation_id == rel.c.id)))
    conn.execute(
        delete(ent).where(
            ent.c.kb_id.is_(None),
            ent.c.merged_into_id.is_(None),
            ~exists().where(men.c.entity_id == ent.c.id),
            ~exists().where(doc.c.about_entity_id == ent.c.id),
            ~exists().where(_T[Alias].c.entity_id == ent.c.id, _T[Alias].c.source == "user"),
        )
    )


def import_kb(session: Session, entities: list[KBEntity], normalize) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Create or update KB entities by kb_id with their aliases; returns (created, updated)."""
    conn = session.connection()
    ent, al = _T[Entity], _T[Alias]
    known = dict(conn.execute(select(ent.c.kb_id, ent.c.id).where(ent.c.kb_id.in_([e.kb_id for e in entities]))).all())
    created = updated = 0
    for e in entities:
        if e.kb_id in known:
            eid = known[e.kb_id]
            conn.execute(update(ent).where(ent.c.id == eid).values(name=e.name, type=e.type, description=e.description))
            conn.execute(delete(al).where(al.c.entity_id == eid, al.c.source == "kb"))
            updated += 1
        else:
            (eid,) = _insert_returning_ids(
                conn, Entity, [{"name": e.name, "type": e.type, "description": e.description, "kb_id": e.kb_id,
                                "merged_into_id": None, "created_at": _now()}]
            )
            created += 1
        names = dict.fromkeys([e.name, *e.aliases])
        conn.execute(
            insert(al), [{"entity_id": eid, "alias": n, "norm": normalize(n), "source": "kb", "chunk_id": None}
                         for n in names if normalize(n)]
        )
    return created, updated

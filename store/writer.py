"""Writing and removing documents: each call is one transaction, so a failure leaves nothing behind."""

from __future__ import annotations

from collections import Counter
from typing import cast

from sqlalchemy import Connection, Table, delete, exists, select, update
from sqlalchemy.orm import Session

from store.records import DocumentRecord, KBEntity, WriteResult
from store.schema import Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence, _now

RELATED_TO = "related_to"
_MODELS = (Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence)
_T: dict[type, Table] = {m: cast(Table, m.__table__) for m in _MODELS}


class _Ids:
    """Row ids handed out inside one write transaction.

    Writes run under SQLite's IMMEDIATE lock, so no other writer can take an id between reading the current
    maxima and inserting; explicit ids let every table go in with one ``executemany`` and no RETURNING.
    """

    def __init__(self, conn: Connection, models: tuple[type, ...]):
        sql = "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {_T[m].name})" for m in models)
        self.next = {m: n + 1 for m, n in zip(models, conn.exec_driver_sql(sql).one())}

    def take(self, model: type, n: int) -> list[int]:
        start = self.next[model]
        self.next[model] = start + n
        return list(range(start, start + n))


# Inserts go straight to the driver's executemany, with each column's SQLAlchemy bind processor (JSON,
# timestamps) applied by hand: the Core insert construct costs more per call than the rows themselves.
def _plain_insert(table_name: str, cols: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in cols)
    return f"INSERT INTO {table_name} ({quoted}) VALUES ({', '.join('?' * len(cols))})"


_COLUMNS = {m: [c.name for c in _T[m].columns] for m in _MODELS}
_SQL: dict[type, tuple[list[str], str]] = {m: (cols, _plain_insert(_T[m].name, cols)) for m, cols in _COLUMNS.items()}
_PROCESSORS: dict[tuple[type, str], list] = {}


def _insert(conn: Connection, model: type, rows: list[dict]) -> None:
    if not rows:
        return
    cols, sql = _SQL[model]
    key = (model, conn.dialect.name)
    if key not in _PROCESSORS:
        dialect = conn.dialect
        _PROCESSORS[key] = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in _T[model].columns]
    procs = _PROCESSORS[key]
    conn.exec_driver_sql(sql, [tuple(v if p is None or v is None else p(v)
                                     for p, v in zip(procs, (r.get(c) for c in cols))) for r in rows])


def relation_key(head: int, tail: int, predicate: str) -> tuple[int, int, str]:
    """Undirected predicates are stored once, with the smaller id as head."""
    if predicate == RELATED_TO and tail < head:
        head, tail = tail, head
    return head, tail, predicate


def upsert_relations(conn: Connection, counts: Counter[tuple[int, int, str]], ids_: _Ids | None = None
                     ) -> tuple[dict, int]:
    """Add weight to existing relations and create missing ones; returns key -> id and how many are new."""
    if not counts:
        return {}, 0
    keys = list(counts)
    ids: dict[tuple[int, int, str], int] = {}
    wanted = set(keys)
    heads = sorted({h for h, _, _ in keys})
    tails = sorted({t for _, t, _ in keys})
    for i in range(0, len(heads), 400):  # indexed lookups (a row-value IN would scan the table)
        part = heads[i : i + 400]
        sql = f"SELECT id, head_id, tail_id, predicate FROM relations WHERE head_id IN ({','.join('?' * len(part))})"
        params: list[int] = list(part)
        if len(tails) <= 400:
            sql += f" AND tail_id IN ({','.join('?' * len(tails))})"
            params += tails
        ids.update({k: rid for rid, *key in conn.exec_driver_sql(sql, tuple(params)) if (k := tuple(key)) in wanted})
    missing = [k for k in keys if k not in ids]
    new_ids = (ids_ or _Ids(conn, (Relation,))).take(Relation, len(missing))
    _insert(conn, Relation, [{"id": i, "head_id": h, "tail_id": t, "predicate": p, "weight": counts[(h, t, p)]}
                             for i, (h, t, p) in zip(new_ids, missing)])
    ids.update(zip(missing, new_ids))
    fresh = set(missing)
    existing = [(counts[k], ids[k]) for k in keys if k not in fresh]
    if existing:
        conn.exec_driver_sql("UPDATE relations SET weight = weight + ? WHERE id = ?", existing)
    return ids, len(missing)


def write_document(session: Session, rec: DocumentRecord, earlier: dict[int, int] | None = None) -> WriteResult:
    """Insert one document with its chunks, new entities, mentions, aliases and relation evidence.

    Entity refs are store ids (> 0) or temporary keys (< 0): this record's new entities, or ones an earlier
    record of the same ingest created, whose ids ``earlier`` gives.
    """
    conn = session.connection()
    ids = _Ids(conn, (Document, Chunk, Entity, Mention, Relation))
    (doc_id,) = ids.take(Document, 1)
    chunk_ids = ids.take(Chunk, len(rec.chunks))
    new_ids = ids.take(Entity, len(rec.new_entities))
    mention_ids = ids.take(Mention, len(rec.mentions))
    key_to_id = {e.key: i for e, i in zip(rec.new_entities, new_ids)}
    earlier = earlier or {}

    def eid(ref: int) -> int:
        return ref if ref > 0 else key_to_id.get(ref) or earlier[ref]

    now = _now()
    _insert(conn, Entity, [{"id": i, "name": e.name, "type": e.type, "description": e.description, "kb_id": None,
                            "merged_into_id": None, "created_at": now} for i, e in zip(new_ids, rec.new_entities)])
    about = None if rec.about_entity is None else eid(rec.about_entity)
    _insert(conn, Document, [{"id": doc_id, "source": rec.source, "title": rec.title,
                              "content_hash": rec.content_hash, "metadata": rec.meta, "n_chars": rec.n_chars,
                              "about_entity_id": about, "created_at": now}])
    _insert(conn, Chunk, [{"id": i, "document_id": doc_id, "ord": c.ord, "text": c.text,
                           "start_char": c.start_char, "end_char": c.end_char} for i, c in zip(chunk_ids, rec.chunks)])
    _insert(conn, Mention, [
        {"id": i, "chunk_id": chunk_ids[m.chunk_ord], "entity_id": eid(m.entity), "start": m.start, "end": m.end,
         "surface": m.surface, "label": m.label, "source": m.source, "confidence": m.confidence,
         "sent_start": m.sent_start, "sent_end": m.sent_end} for i, m in zip(mention_ids, rec.mentions)])
    alias_rows = {
        (eid(a.entity), a.alias, a.source, None if a.chunk_ord is None else chunk_ids[a.chunk_ord]): a.norm
        for a in rec.aliases
    }
    _insert(conn, Alias, [{"entity_id": e, "alias": al, "norm": norm, "source": src, "chunk_id": cid}
                          for (e, al, src, cid), norm in alias_rows.items()])
    ev_keys = []
    for ev in rec.evidence:
        h = eid(rec.mentions[ev.head_mention].entity)
        t = eid(rec.mentions[ev.tail_mention].entity)
        ev_keys.append(relation_key(h, t, ev.predicate) if h != t else None)
    rel_ids, n_new = upsert_relations(conn, Counter(k for k in ev_keys if k is not None), ids)
    _insert(conn, RelationEvidence, [
        {"relation_id": rel_ids[k], "chunk_id": chunk_ids[ev.chunk_ord],
         "head_mention_id": mention_ids[ev.head_mention], "tail_mention_id": mention_ids[ev.tail_mention],
         "predicate": ev.predicate, "sent_start": ev.sent_start, "sent_end": ev.sent_end}
        for ev, k in zip(rec.evidence, ev_keys) if k is not None])
    return WriteResult(doc_id, key_to_id, len(chunk_ids), len(mention_ids), n_new)


def delete_document(session: Session, doc_id: int, prune_orphans: bool = True) -> None:
    """Remove a document and everything it contributed, then drop what nothing refers to any more.

    With ``prune_orphans=False`` that last step is the caller's: replacing a document writes the new version,
    whose records may refer to entities that only the old version mentioned, and then calls ``prune``.
    """
    conn = session.connection()
    ev, rel = _T[RelationEvidence], _T[Relation]
    chunk_ids = select(_T[Chunk].c.id).where(_T[Chunk].c.document_id == doc_id)
    counts = Counter(
        r.relation_id for r in conn.execute(select(ev.c.relation_id).where(ev.c.chunk_id.in_(chunk_ids)))
    )
    conn.execute(delete(_T[Document]).where(_T[Document].c.id == doc_id))
    for rid, n in counts.items():
        conn.execute(update(rel).where(rel.c.id == rid).values(weight=rel.c.weight - n))
    if prune_orphans:
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
    known: dict[str, int] = {}
    kb_ids = list(dict.fromkeys(e.kb_id for e in entities))
    for i in range(0, len(kb_ids), 500):
        rows = conn.execute(select(ent.c.kb_id, ent.c.id).where(ent.c.kb_id.in_(kb_ids[i : i + 500])))
        known.update({kb: eid for kb, eid in rows})
    ids = _Ids(conn, (Entity,))
    new_rows: dict[int, dict] = {}
    alias_rows: dict[int, list[dict]] = {}  # entity id -> its kb aliases: a later line with the same id wins
    created = updated = 0
    now = _now()
    for e in entities:
        if e.kb_id in known:
            eid = known[e.kb_id]
            if eid in new_rows:  # created earlier in this same import, not inserted yet
                new_rows[eid].update(name=e.name, type=e.type, description=e.description)
            else:
                conn.execute(update(ent).where(ent.c.id == eid)
                             .values(name=e.name, type=e.type, description=e.description))
                conn.execute(delete(al).where(al.c.entity_id == eid, al.c.source == "kb"))
            updated += 1
        else:
            (eid,) = ids.take(Entity, 1)
            known[e.kb_id] = eid
            new_rows[eid] = {"id": eid, "name": e.name, "type": e.type, "description": e.description,
                             "kb_id": e.kb_id, "merged_into_id": None, "created_at": now}
            created += 1
        alias_rows[eid] = [{"entity_id": eid, "alias": n, "norm": normalize(n), "source": "kb", "chunk_id": None}
                           for n in dict.fromkeys([e.name, *e.aliases]) if normalize(n)]
    _insert(conn, Entity, list(new_rows.values()))
    _insert(conn, Alias, [r for rs in alias_rows.values() for r in rs])
    return created, updated

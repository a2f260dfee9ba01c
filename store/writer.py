"""Writing and removing documents: each call is one transaction, so a failure leaves nothing behind."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.orm import Session

from store.merge import effective_map
from store.records import DocumentRecord, KBEntity, WriteResult
from store.relations import relation_key, unweigh, upsert_relations
from store.resolve import resolve_blocks
from store.rows import TABLES, Ids, batched, insert_rows, marks, raw_cursor
from store.schema import Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence, _now


def gazetteer_names(conn: Connection) -> list[str]:
    """Every name some document's NER found, and every KB name and alias: what the gazetteer matches."""
    return [n for (n,) in raw_cursor(conn).execute(
        "SELECT name FROM document_names UNION SELECT alias FROM aliases WHERE source = 'kb'").fetchall()]


def known_names(conn: Connection, names: list[str], besides: int | None = None) -> set[str]:
    """The names another document or a KB entry has: an index probe each, however many documents share one."""
    known: set[str] = set()
    cur = raw_cursor(conn)
    for part in batched(sorted(set(names)), 400):
        known.update(n for (n,) in cur.execute(
            f"WITH q(name) AS (VALUES {','.join(['(?)'] * len(part))}) SELECT name FROM q WHERE EXISTS "
            "(SELECT 1 FROM document_names d WHERE d.name = q.name AND d.document_id != ?) OR EXISTS "
            "(SELECT 1 FROM aliases a WHERE a.source = 'kb' AND a.alias = q.name)",
            (*part, -1 if besides is None else besides)))
    return known


_WORDS = re.compile(r"[^\W_]+")


def enqueue_documents_with(conn: Connection, names: Iterable[str], besides: int | None = None) -> int:
    """Queue for re-linking the stored documents whose text holds one of these names (full-text index)."""
    queued = 0
    cur = raw_cursor(conn)
    for name in sorted(set(names)):
        words = _WORDS.findall(name)
        if not words:
            continue
        phrase = '"' + " ".join(words) + '"'
        queued += cur.execute(
            "INSERT OR IGNORE INTO relink_queue (document_id) SELECT DISTINCT c.document_id FROM chunks_fts f "
            "JOIN chunks c ON c.id = f.rowid WHERE chunks_fts MATCH ? AND c.document_id != ?",
            (phrase, -1 if besides is None else besides)).rowcount
    return queued


def clear_extraction(conn: Connection, doc_id: int) -> tuple[set[str], dict[int, str], int, int]:
    """Remove a document's local entities with their mentions, aliases and evidence (its chunks stay);
    returns the blocks they were in and their entities (with the block of each), which the caller
    re-resolves, and how many mentions and relations went."""
    rows = conn.exec_driver_sql(
        "SELECT DISTINCT norm, entity_id FROM local_entities WHERE document_id = ?", (doc_id,)).all()
    norms = {n for n, _ in rows}
    released = {e: n for n, e in sorted(rows) if e is not None}
    rels = [(r, n) for r, n in conn.exec_driver_sql(
        "SELECT v.relation_id, count(*) FROM relation_evidence v JOIN chunks c ON c.id = v.chunk_id "
        "WHERE c.document_id = ? GROUP BY v.relation_id", (doc_id,))]
    conn.exec_driver_sql("DELETE FROM relation_evidence WHERE chunk_id IN "
                         "(SELECT id FROM chunks WHERE document_id = ?)", (doc_id,))
    conn.exec_driver_sql("DELETE FROM aliases WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id = ?)",
                         (doc_id,))
    mentions = conn.exec_driver_sql("DELETE FROM mentions WHERE chunk_id IN (SELECT id FROM chunks WHERE "
                                    "document_id = ?)", (doc_id,)).rowcount
    conn.exec_driver_sql("UPDATE documents SET about_entity_id = NULL WHERE id = ?", (doc_id,))
    conn.exec_driver_sql("DELETE FROM local_entities WHERE document_id = ?", (doc_id,))
    return norms, released, mentions, unweigh(conn, rels)


def write_extraction(conn: Connection, doc_id: int, chunk_ids: list[int], rec: DocumentRecord,
                     also_resolve: Iterable[str] = (), released: Mapping[int, str] | None = None
                     ) -> tuple[int, int, int]:
    """Insert a document's local entities, mentions, aliases and evidence, and link its locals across
    documents (with the blocks in ``also_resolve``). Returns (entities the graph gained: created less those
    folded into another, mentions, relations gained)."""
    first_local = conn.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM local_entities").scalar_one()
    local_ids = {e.key: first_local + i for i, e in enumerate(rec.new_entities)}
    if rec.new_entities:
        conn.exec_driver_sql(
            "INSERT INTO local_entities (id, document_id, name, norm, type, description, is_title, entity_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            [(local_ids[e.key], doc_id, e.name, e.norm, e.type, e.description, e.is_title)
             for e in rec.new_entities])
    resolution = resolve_blocks(conn, {e.norm for e in rec.new_entities} | set(also_resolve), released)
    resolved: dict[int, int] = {}
    if local_ids:
        rows = conn.exec_driver_sql("SELECT id, entity_id FROM local_entities WHERE document_id = ?", (doc_id,)).all()
        target = effective_map(conn, {e for _, e in rows})
        resolved = {lid: target[e] for lid, e in rows}

    def eid(ref: int) -> int:
        return resolved[local_ids[ref]]

    ids = Ids(conn, (Mention, Relation))
    mention_ids = ids.take(Mention, len(rec.mentions))
    insert_rows(conn, Mention, [
        {"id": i, "chunk_id": chunk_ids[m.chunk_ord], "entity_id": eid(m.entity), "start": m.start, "end": m.end,
         "surface": m.surface, "label": m.label, "source": m.source, "confidence": m.confidence,
         "sent_start": m.sent_start, "sent_end": m.sent_end, "local_id": local_ids[m.entity]}
        for i, m in zip(mention_ids, rec.mentions)])
    alias_rows = {
        (a.entity, a.alias, a.source, None if a.chunk_ord is None else chunk_ids[a.chunk_ord]): a.norm
        for a in rec.aliases
    }
    insert_rows(conn, Alias, [{"entity_id": eid(ref), "alias": al, "norm": norm, "source": src, "chunk_id": cid,
                           "local_id": local_ids[ref]} for (ref, al, src, cid), norm in alias_rows.items()])
    if rec.about_entity is not None:
        conn.exec_driver_sql("UPDATE documents SET about_entity_id = ? WHERE id = ?", (eid(rec.about_entity), doc_id))
    ev_keys = []
    for ev in rec.evidence:
        h = eid(rec.mentions[ev.head_mention].entity)
        t = eid(rec.mentions[ev.tail_mention].entity)
        ev_keys.append(relation_key(h, t, ev.predicate) if h != t else None)
    rel_ids, n_new = upsert_relations(conn, Counter(k for k in ev_keys if k is not None), ids)
    insert_rows(conn, RelationEvidence, [
        {"relation_id": rel_ids[k], "chunk_id": chunk_ids[ev.chunk_ord],
         "head_mention_id": mention_ids[ev.head_mention], "tail_mention_id": mention_ids[ev.tail_mention],
         "predicate": ev.predicate, "sent_start": ev.sent_start, "sent_end": ev.sent_end}
        for ev, k in zip(rec.evidence, ev_keys) if k is not None])
    return resolution.created - resolution.deleted, len(mention_ids), n_new + resolution.relations


def write_document(session: Session, rec: DocumentRecord, replaces: int | None = None) -> WriteResult:
    """Insert one document with its chunks, names and extraction, linked across documents; with ``replaces``,
    the old version of the document goes in the same transaction. Documents whose text holds a name that is
    new to the store are queued for re-linking."""
    conn = session.connection()
    old_norms: set[str] = set()
    released: dict[int, str] = {}
    vanished: list[str] = []
    if replaces is not None:
        old_norms, released, vanished = _remove_document(conn, replaces)
    ids = Ids(conn, (Document, Chunk))
    (doc_id,) = ids.take(Document, 1)
    chunk_ids = ids.take(Chunk, len(rec.chunks))
    insert_rows(conn, Document, [{"id": doc_id, "source": rec.source, "title": rec.title,
                              "content_hash": rec.content_hash, "metadata": rec.meta, "n_chars": rec.n_chars,
                              "about_entity_id": None, "title_names_entity": rec.title_names_entity,
                              "created_at": _now()}])
    insert_rows(conn, Chunk, [{"id": i, "document_id": doc_id, "ord": c.ord, "text": c.text,
                           "start_char": c.start_char, "end_char": c.end_char} for i, c in zip(chunk_ids, rec.chunks)])
    names = sorted(set(rec.names))
    if names:
        conn.exec_driver_sql("INSERT INTO document_names (document_id, name) VALUES (?, ?)",
                             [(doc_id, n) for n in names])
    new_entities, n_mentions, n_relations = write_extraction(conn, doc_id, chunk_ids, rec, old_norms, released)
    known = known_names(conn, names, doc_id)
    fresh = [n for n in names if n not in known]
    enqueue_documents_with(conn, fresh, besides=doc_id)
    enqueue_documents_with(conn, [n for n in vanished if n not in names])
    return WriteResult(doc_id, new_entities, len(chunk_ids), n_mentions, n_relations)


def _remove_document(conn: Connection, doc_id: int) -> tuple[set[str], dict[int, str], list[str]]:
    """Delete a document's rows; returns its blocks, their entities, and the names no other document or KB
    entry has."""
    names = [n for (n,) in conn.exec_driver_sql("SELECT name FROM document_names WHERE document_id = ?", (doc_id,))]
    norms, released, _, _ = clear_extraction(conn, doc_id)
    conn.exec_driver_sql("DELETE FROM documents WHERE id = ?", (doc_id,))
    known = known_names(conn, names, None)
    return norms, released, [n for n in names if n not in known]


def delete_document(session: Session, doc_id: int) -> tuple[int, int]:
    """Remove a document and everything it contributed: chunks, vectors, mentions, evidence, and the entities,
    aliases and relations nothing else supports; returns how many entities and relations went with it. Links
    other documents had only because of it are redone: its blocks are re-resolved here, and documents holding a
    name that only it knew are queued for re-linking."""
    conn = session.connection()
    rels = [r for (r,) in conn.exec_driver_sql(
        "SELECT DISTINCT v.relation_id FROM relation_evidence v JOIN chunks c ON c.id = v.chunk_id "
        "WHERE c.document_id = ?", (doc_id,))]
    norms, released, vanished = _remove_document(conn, doc_id)
    resolution = resolve_blocks(conn, norms, released)
    enqueue_documents_with(conn, vanished)
    left = sum(conn.exec_driver_sql(f"SELECT count(*) FROM relations WHERE id IN ({marks(len(part))})",
                                    tuple(part)).scalar_one() for part in batched(rels))
    return resolution.deleted, len(rels) - left


def relink_document(session: Session, doc_id: int, rec: DocumentRecord) -> tuple[int, int, int]:
    """Replace a stored document's extraction (its chunks, vectors and names stay) with ``rec``'s; returns
    what the graph gained by it: (entities, mentions, relations), each possibly negative."""
    conn = session.connection()
    chunk_ids = [i for (i,) in conn.exec_driver_sql(
        "SELECT id FROM chunks WHERE document_id = ? ORDER BY ord", (doc_id,))]
    norms, released, mentions, relations = clear_extraction(conn, doc_id)
    conn.exec_driver_sql("DELETE FROM relink_queue WHERE document_id = ?", (doc_id,))
    e, m, r = write_extraction(conn, doc_id, chunk_ids, rec, norms, released)
    return e, m - mentions, r - relations


def import_kb(session: Session, entities: list[KBEntity], normalize) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Create or update KB entities by kb_id with their aliases; returns (created, updated)."""
    conn = session.connection()
    ent, al = TABLES[Entity], TABLES[Alias]
    names_before = set(gazetteer_names(conn))
    norms_before = {n for (n,) in conn.exec_driver_sql("SELECT norm FROM aliases WHERE source = 'kb'")}
    known: dict[str, int] = {}
    kb_ids = list(dict.fromkeys(e.kb_id for e in entities))
    for i in range(0, len(kb_ids), 500):
        rows = conn.execute(select(ent.c.kb_id, ent.c.id).where(ent.c.kb_id.in_(kb_ids[i : i + 500])))
        known.update({kb: eid for kb, eid in rows})
    ids = Ids(conn, (Entity,))
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
    insert_rows(conn, Entity, list(new_rows.values()))
    insert_rows(conn, Alias, [r for rs in alias_rows.values() for r in rs])
    # Documents' entities that go by a KB name now resolve to the KB entity; text holding a name the
    # gazetteer did not know is queued for re-linking, and so is text matching a KB name that went away.
    norms_after = {n for (n,) in conn.exec_driver_sql("SELECT norm FROM aliases WHERE source = 'kb'")}
    resolve_blocks(conn, (norms_before | norms_after) & {n for (n,) in conn.exec_driver_sql(
        "SELECT DISTINCT norm FROM local_entities")})
    names_after = set(gazetteer_names(conn))
    enqueue_documents_with(conn, names_after ^ names_before)
    return created, updated

"""Read queries over the store: what linking needs to start, and what inspection shows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, aliased

from store.relations import RELATED_TO
from store.schema import Alias, Chunk, Document, Entity, Mention, MergeLog, Relation, RelationEvidence

LIVE = Entity.merged_into_id.is_(None)


def document_index(session: Session) -> dict[str, tuple[int, str]]:
    """source -> (document id, content hash)."""
    return {s: (i, h) for i, s, h in session.execute(select(Document.id, Document.source, Document.content_hash))}


def mention_counts(session: Session) -> dict[int, int]:
    rows = session.execute(select(Mention.entity_id, func.count()).group_by(Mention.entity_id))
    return {eid: n for eid, n in rows}


def catalog_rows(session: Session):  # type: ignore[no-untyped-def]
    """(entities, aliases, neighbour pairs) for building a linking catalog."""
    counts = mention_counts(session)
    ents = [
        (i, n, t, d, kb is not None, counts.get(i, 0))
        for i, n, t, d, kb in session.execute(
            select(Entity.id, Entity.name, Entity.type, Entity.description, Entity.kb_id).where(LIVE)
        )
    ]
    aliases = session.execute(select(Alias.entity_id, Alias.alias).distinct()).all()
    pairs = session.execute(select(Relation.head_id, Relation.tail_id)).all()
    return ents, aliases, pairs


def stats(session: Session) -> dict[str, int]:
    def n(q) -> int:  # type: ignore[no-untyped-def]
        return session.scalar(q) or 0

    return {
        "documents": n(select(func.count()).select_from(Document)),
        "chunks": n(select(func.count()).select_from(Chunk)),
        "mentions": n(select(func.count()).select_from(Mention)),
        "entities": n(select(func.count()).select_from(Entity).where(LIVE)),
        "aliases": n(select(func.count(distinct(Alias.norm)))),
        "relations": n(select(func.count()).select_from(Relation).where(Relation.head_id != Relation.tail_id)),
        "evidence": n(select(func.count()).select_from(RelationEvidence)),
        "merges": n(select(func.count()).select_from(MergeLog).where(MergeLog.action == "merge",
                                                                      MergeLog.undone.is_(False))),
    }


def documents(session: Session) -> list[tuple]:
    """(id, source, title, n_chars, chunks, mentions, about entity name) per document."""
    chunks = select(Chunk.document_id, func.count().label("n")).group_by(Chunk.document_id).subquery()
    ments = (select(Chunk.document_id, func.count().label("n")).join(Mention, Mention.chunk_id == Chunk.id)
             .group_by(Chunk.document_id).subquery())
    q = (
        select(Document.id, Document.source, Document.title, Document.n_chars,
               func.coalesce(chunks.c.n, 0), func.coalesce(ments.c.n, 0), Entity.name)
        .outerjoin(chunks, chunks.c.document_id == Document.id)
        .outerjoin(ments, ments.c.document_id == Document.id)
        .outerjoin(Entity, Entity.id == Document.about_entity_id)
        .order_by(Document.id)
    )
    return [tuple(r) for r in session.execute(q)]


def entities(session: Session, type: str | None = None, top: int | None = None) -> list[tuple]:
    """(id, name, type, mentions, documents, kb_id) ordered by mention count."""
    n_docs = func.count(distinct(Chunk.document_id))
    q = (
        select(Entity.id, Entity.name, Entity.type, func.count(Mention.id), n_docs, Entity.kb_id)
        .outerjoin(Mention, Mention.entity_id == Entity.id)
        .outerjoin(Chunk, Chunk.id == Mention.chunk_id)
        .where(LIVE)
        .group_by(Entity.id)
        .order_by(func.count(Mention.id).desc(), Entity.name)
    )
    if type:
        q = q.where(Entity.type == type)
    if top:
        q = q.limit(top)
    return [tuple(r) for r in session.execute(q)]


def mention_counts_of(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """Mentions of just these entities (an index lookup each, not a scan of every mention)."""
    wanted = sorted(set(ids))
    out: dict[int, int] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i : i + 500]
        out.update((e, n) for e, n in session.execute(
            select(Mention.entity_id, func.count()).where(Mention.entity_id.in_(part)).group_by(Mention.entity_id)))
    return out


def entity_ids_by_norm(session: Session, norm: str) -> list[int]:
    """Live entities with this normalised alias, most mentioned first."""
    ids = set(session.scalars(select(Alias.entity_id).where(Alias.norm == norm)))
    live = set(session.scalars(select(Entity.id).where(Entity.id.in_(ids), LIVE)))
    counts = mention_counts_of(session, live)
    return sorted(live, key=lambda i: (-counts.get(i, 0), i))


def neighborhood(session: Session, entity_id: int, hops: int, limit: int | None = None
                 ) -> tuple[dict[int, tuple[int, str]], list[tuple[int, str, int, float]]]:
    """Entities within ``hops`` relation edges (either direction), found breadth-first with one indexed query
    per hop: {entity id: (hops, predicate of the strongest edge that reached it)}, and the relations among them
    (head, predicate, tail, weight). ``limit`` caps the entities, nearest and most connected first."""
    found: dict[int, tuple[int, str]] = {entity_id: (0, "")}
    frontier = [entity_id]
    for hop in range(1, hops + 1):
        best: dict[int, tuple[float, str]] = {}
        for i in range(0, len(frontier), 400):
            part = frontier[i : i + 400]
            for h, t, p, w in session.execute(
                    select(Relation.head_id, Relation.tail_id, Relation.predicate, Relation.weight)
                    .where(Relation.head_id != Relation.tail_id)
                    .where((Relation.head_id.in_(part)) | (Relation.tail_id.in_(part)))):
                for other in (h, t):
                    if other not in found and (other not in best or w > best[other][0]):
                        best[other] = (float(w), p)
        live = set(session.scalars(select(Entity.id).where(Entity.id.in_(list(best)), LIVE))) if best else set()
        frontier = sorted(e for e in best if e in live)
        if limit is not None:
            frontier = sorted(frontier, key=lambda e: -best[e][0])[: max(0, limit - len(found) + 1)]
        found.update((e, (hop, best[e][1])) for e in frontier)
        if not frontier:
            break
    ids = sorted(found)
    edges = []
    for i in range(0, len(ids), 400):
        part = ids[i : i + 400]
        edges += [(h, p, t, float(w)) for h, t, p, w in session.execute(
            select(Relation.head_id, Relation.tail_id, Relation.predicate, Relation.weight)
            .where(Relation.head_id != Relation.tail_id, Relation.head_id.in_(part), Relation.tail_id.in_(ids)))]
    return found, edges


def entity_names(session: Session, type: str | None = None) -> list[tuple[int, str]]:
    q = select(Entity.id, Entity.name).where(LIVE)
    if type:
        q = q.where(Entity.type == type)
    return [tuple(r) for r in session.execute(q)]  # type: ignore[misc]


def aliases_of(session: Session, entity_id: int) -> list[tuple[str, str, int]]:
    """(alias, source, times seen)."""
    q = (select(Alias.alias, func.min(Alias.source), func.count()).where(Alias.entity_id == entity_id)
         .group_by(Alias.alias).order_by(func.count().desc()))
    return [tuple(r) for r in session.execute(q)]  # type: ignore[misc]


def mentions_of(session: Session, entity_id: int, limit: int = 20) -> list[tuple]:
    """(surface, label, source, confidence, chunk text, start, end, document title, chunk id, document id,
    chunk's start in the document)."""
    q = (
        select(Mention.surface, Mention.label, Mention.source, Mention.confidence, Chunk.text, Mention.start,
               Mention.end, Document.title, Chunk.id, Document.id, Chunk.start_char)
        .join(Chunk, Chunk.id == Mention.chunk_id).join(Document, Document.id == Chunk.document_id)
        .where(Mention.entity_id == entity_id).order_by(Mention.id).limit(limit)
    )
    return [tuple(r) for r in session.execute(q)]


def relations_of(session: Session, entity_id: int, evidence_per_relation: int = 2) -> list[dict]:
    """Relations touching the entity, strongest first, each with a few evidence sentences."""
    other = select(Relation).where(
        (Relation.head_id == entity_id) | (Relation.tail_id == entity_id), Relation.head_id != Relation.tail_id
    ).order_by(Relation.weight.desc(), Relation.id)
    out = []
    names = {}
    for rel in session.scalars(other):
        for eid in (rel.head_id, rel.tail_id):
            if eid not in names:
                names[eid] = session.get(Entity, eid).name  # type: ignore[union-attr]
        ev = session.execute(
            select(Chunk.text, RelationEvidence.sent_start, RelationEvidence.sent_end, Document.title, Chunk.id,
                   Document.id, Chunk.start_char)
            .join(Chunk, Chunk.id == RelationEvidence.chunk_id).join(Document, Document.id == Chunk.document_id)
            .where(RelationEvidence.relation_id == rel.id).order_by(RelationEvidence.id).limit(evidence_per_relation)
        ).all()
        out.append({
            "id": rel.id, "head_id": rel.head_id, "head": names[rel.head_id], "predicate": rel.predicate,
            "tail_id": rel.tail_id, "tail": names[rel.tail_id], "weight": rel.weight,
            "evidence": [{"sentence": text[s:e], "document": title, "chunk_id": cid, "document_id": did,
                          "start": at + s, "end": at + e} for text, s, e, title, cid, did, at in ev],
        })
    return out


def documents_of(session: Session, entity_id: int) -> list[tuple[int, str, str, int]]:
    """(document id, title, source, mentions) where the entity is mentioned or is the subject."""
    q = (
        select(Document.id, Document.title, Document.source, func.count(Mention.id))
        .join(Chunk, Chunk.document_id == Document.id).join(Mention, Mention.chunk_id == Chunk.id)
        .where(Mention.entity_id == entity_id).group_by(Document.id).order_by(func.count(Mention.id).desc())
    )
    rows = [tuple(r) for r in session.execute(q)]
    have = {r[0] for r in rows}
    for i, t, s in session.execute(select(Document.id, Document.title, Document.source)
                                   .where(Document.about_entity_id == entity_id)):
        if i not in have:
            rows.append((i, t, s, 0))
    return rows  # type: ignore[return-value]


def merge_log(session: Session) -> list[MergeLog]:
    return list(session.scalars(select(MergeLog).order_by(MergeLog.id)))


def chunks_by_id(session: Session, ids: list[int]) -> dict[int, tuple]:
    """chunk id -> (document id, ord, text, start_char, end_char, source, title)."""
    q = (select(Chunk.id, Chunk.document_id, Chunk.ord, Chunk.text, Chunk.start_char, Chunk.end_char,
                Document.source, Document.title)
         .join(Document, Document.id == Chunk.document_id).where(Chunk.id.in_(ids)))
    return {r[0]: tuple(r[1:]) for r in session.execute(q)}


def facts_about(session: Session, entity_ids: list[int], chunk_ids: list[int], limit: int = 12) -> list[dict]:
    """Relations between two of ``entity_ids``, or touching one of them with evidence in ``chunk_ids``; named
    ones before ``related_to``, strongest first, each with one evidence sentence, taken from ``chunk_ids`` where
    the relation has evidence there."""
    if not entity_ids:
        return []
    head, tail = aliased(Entity), aliased(Entity)
    ents, chunks = set(entity_ids), set(chunk_ids)
    both = Relation.head_id.in_(ents) & Relation.tail_id.in_(ents)
    one = (Relation.head_id.in_(ents) | Relation.tail_id.in_(ents)) & RelationEvidence.chunk_id.in_(chunks)
    q = (
        select(Relation.id, head.name, Relation.predicate, tail.name, Relation.weight, RelationEvidence.chunk_id,
               func.substr(Chunk.text, RelationEvidence.sent_start + 1,
                           RelationEvidence.sent_end - RelationEvidence.sent_start),
               Document.title, Document.id, Document.source)
        .join(RelationEvidence, RelationEvidence.relation_id == Relation.id)
        .join(head, head.id == Relation.head_id).join(tail, tail.id == Relation.tail_id)
        .join(Chunk, Chunk.id == RelationEvidence.chunk_id).join(Document, Document.id == Chunk.document_id)
        .where(both | one, Relation.head_id != Relation.tail_id)
        .order_by((Relation.predicate == RELATED_TO).asc(), Relation.weight.desc(), Relation.id,
                  RelationEvidence.id)
    )
    best: dict[int, dict] = {}
    for rid, h, pred, t, w, cid, sentence, title, doc_id, source in session.execute(q):
        if rid not in best and len(best) >= limit:  # rows come grouped by relation, strongest first
            break
        row = {"relation_id": rid, "head": h, "predicate": pred, "tail": t, "weight": w, "chunk_id": cid,
               "sentence": sentence.strip(), "title": title, "document_id": doc_id, "source": source}
        if rid not in best or (cid in chunks and best[rid]["chunk_id"] not in chunks):
            best[rid] = row
    return list(best.values())


_FOLD = ("SELECT r.norm, r.target, r.rule, r.candidates, "
         "(SELECT name FROM local_entity_counts c WHERE c.norm = r.norm ORDER BY n DESC, name LIMIT 1), "
         "(SELECT sum(n) FROM local_entity_counts c WHERE c.norm = r.norm), "
         "(SELECT e.id FROM local_entities l JOIN entities e ON e.id = l.entity_id WHERE l.norm = r.norm "
         "ORDER BY l.id LIMIT 1), (SELECT source FROM fusion_pins p WHERE p.norm = r.norm) FROM name_redirects r")


def folds(session: Session, entity_id: int | None = None) -> list[tuple]:
    """Names folded across documents into a longer one (all, or those whose locals belong to ``entity_id``):
    (norm, target norm, rule, candidates weighed, name, documents, entity id, judge or None), by name."""
    conn = session.connection()
    if entity_id is None:
        rows = conn.exec_driver_sql(_FOLD).all()
    else:
        rows = conn.exec_driver_sql(
            _FOLD + " WHERE r.norm IN (SELECT DISTINCT norm FROM local_entities WHERE entity_id = ?)", (entity_id,)
        ).all()
    return sorted((tuple(r) for r in rows), key=lambda r: (r[4] or r[0], r[0]))


def vetoed_folds(session: Session) -> list[tuple[str, str]]:
    """(norm, target norm) of every fold a user undid."""
    return [tuple(r) for r in session.connection().exec_driver_sql(
        "SELECT norm, target FROM fusion_vetoes ORDER BY norm, target").all()]


ALIAS_SOURCES = ("mention", "title", "kb", "user")


def by_prefix(session: Session, prefix_norm: str, type: str | None = None, limit: int = 10) -> list[int]:
    """Live entities with an alias whose normalised form starts with ``prefix_norm``, most mentioned first: an
    index range per alias source, not a scan."""
    if not prefix_norm:
        return []
    conn = session.connection()
    hits: dict[int, None] = {}
    for src in ALIAS_SOURCES:
        for (eid,) in conn.exec_driver_sql(
                "SELECT DISTINCT a.entity_id FROM aliases a INDEXED BY ix_aliases_source_norm JOIN entities e ON "
                "e.id = a.entity_id WHERE a.source = ? AND a.norm >= ? AND a.norm < ? AND e.merged_into_id IS NULL"
                + (" AND e.type = ?" if type else "") + " LIMIT ?",
                (src, prefix_norm, prefix_norm + "\U0010ffff", *((type,) if type else ()), 20 * limit)):
            hits[eid] = None
    counts = mention_counts_of(session, hits)
    return sorted(hits, key=lambda e: (-counts.get(e, 0), e))[:limit]


def document_view(session: Session, doc_id: int) -> tuple[tuple, str, list[tuple]] | None:
    """A document's (id, source, title, about entity id), its text put back together from its chunks' exact
    offsets (a gap between two chunks as line breaks), and its mentions with offsets into that text: (start, end,
    surface, label, entity id, entity name, entity type), in text order."""
    doc = session.execute(select(Document.id, Document.source, Document.title, Document.about_entity_id)
                          .where(Document.id == doc_id)).first()
    if doc is None:
        return None
    text, parts = "", session.execute(select(Chunk.id, Chunk.text, Chunk.start_char).where(
        Chunk.document_id == doc_id).order_by(Chunk.ord)).all()
    for _, chunk_text, start in parts:
        if start > len(text):  # what lies between two chunks is layout (a paragraph break): no chunk keeps it
            text += "\n" * (start - len(text))
        if start + len(chunk_text) > len(text):
            text += chunk_text[len(text) - start:]
    offset = {cid: start for cid, _, start in parts}
    seen: dict[tuple[int, int], tuple] = {}
    for cid, a, b, surface, label, eid, name, etype in session.execute(
            select(Mention.chunk_id, Mention.start, Mention.end, Mention.surface, Mention.label, Entity.id,
                   Entity.name, Entity.type).join(Entity, Entity.id == Mention.entity_id)
            .where(Mention.chunk_id.in_(list(offset)))):
        key = (offset[cid] + a, offset[cid] + b)
        seen.setdefault(key, (*key, surface, label, eid, name, etype))
    return tuple(doc), text, sorted(seen.values())

"""User merges and unmerges of entities, recorded in the merge log so that each can be undone exactly."""

from __future__ import annotations

from collections import Counter
from typing import cast

from sqlalchemy import Connection, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from store.schema import Alias, Document, Entity, Mention, MergeLog, Relation, RelationEvidence
from store.writer import relation_key, upsert_relations


class MergeError(ValueError):
    """A merge or unmerge that cannot be done as asked."""


def refresh_relations(conn: Connection, entity_ids: list[int]) -> None:
    """Re-point evidence touching these entities to the relation their mentions now imply, then re-weigh."""
    ev, rel = cast(Table, RelationEvidence.__table__), cast(Table, Relation.__table__)
    hm, tm = aliased(Mention), aliased(Mention)
    touching = select(rel.c.id).where(or_(rel.c.head_id.in_(entity_ids), rel.c.tail_id.in_(entity_ids)))
    rows = conn.execute(
        select(ev.c.id, ev.c.relation_id, hm.entity_id, tm.entity_id, ev.c.predicate)
        .join(hm, hm.id == ev.c.head_mention_id)
        .join(tm, tm.id == ev.c.tail_mention_id)
        .where(or_(hm.entity_id.in_(entity_ids), tm.entity_id.in_(entity_ids), ev.c.relation_id.in_(touching)))
    ).all()
    keyed = [(ev_id, old, relation_key(h, t, p)) for ev_id, old, h, t, p in rows]
    ids, _ = upsert_relations(conn, Counter({k: 0 for _, _, k in keyed}))
    moves = [{"i": ev_id, "r": ids[k]} for ev_id, old, k in keyed if ids[k] != old]
    if moves:
        conn.execute(update(ev).where(ev.c.id == bindparam("i")).values(relation_id=bindparam("r")), moves)
    touched = {old for _, old, _ in keyed} | set(ids.values())
    counts = select(func.count()).where(ev.c.relation_id == rel.c.id).scalar_subquery()
    conn.execute(update(rel).where(rel.c.id.in_(touched)).values(weight=counts))
    conn.execute(delete(rel).where(rel.c.id.in_(touched), rel.c.weight == 0))


def merge(session: Session, keep: Entity, other: Entity) -> MergeLog:
    """Fold ``other`` into ``keep``: its mentions, aliases and "about" links move; it stays as a tombstone."""
    if keep.id == other.id:
        raise MergeError(f"cannot merge {keep.name!r} with itself")
    for e in (keep, other):
        if e.merged_into_id is not None:
            raise MergeError(f"{e.name!r} was already merged into entity {e.merged_into_id}; unmerge it first")
    conn = session.connection()
    moved = {
        "mentions": list(session.scalars(select(Mention.id).where(Mention.entity_id == other.id))),
        "aliases": list(session.scalars(select(Alias.id).where(Alias.entity_id == other.id))),
        "documents": list(session.scalars(select(Document.id).where(Document.about_entity_id == other.id))),
    }
    conn.execute(update(Mention).where(Mention.id.in_(moved["mentions"])).values(entity_id=keep.id))
    conn.execute(update(Alias).where(Alias.id.in_(moved["aliases"])).values(entity_id=keep.id))
    conn.execute(update(Document).where(Document.id.in_(moved["documents"])).values(about_entity_id=keep.id))
    refresh_relations(conn, [keep.id, other.id])
    other.merged_into_id = keep.id
    log = MergeLog(action="merge", kept_id=keep.id, merged_id=other.id, kept_name=keep.name,
                   merged_name=other.name, moved=moved, undone=False)
    session.add(log)
    session.flush()
    return log


def unmerge(session: Session, entity: Entity) -> MergeLog:
    """Undo the latest live merge that involved ``entity`` (as the kept or the merged side)."""
    log = session.scalars(
        select(MergeLog)
        .where(MergeLog.action == "merge", MergeLog.undone.is_(False),
               or_(MergeLog.kept_id == entity.id, MergeLog.merged_id == entity.id))
        .order_by(MergeLog.id.desc())
        .limit(1)
    ).first()
    if log is None:
        raise MergeError(f"{entity.name!r} has no merge to undo")
    conn = session.connection()
    back, kept = log.merged_id, log.kept_id
    m = log.moved
    conn.execute(update(Mention).where(Mention.id.in_(m["mentions"]), Mention.entity_id == kept)
                 .values(entity_id=back))
    conn.execute(update(Alias).where(Alias.id.in_(m["aliases"]), Alias.entity_id == kept)
                 .values(entity_id=back))
    conn.execute(update(Document).where(Document.id.in_(m["documents"]), Document.about_entity_id == kept)
                 .values(about_entity_id=back))
    refresh_relations(conn, [kept, back])
    conn.execute(update(Entity).where(Entity.id == back).values(merged_into_id=None))
    log.undone = True
    undo = MergeLog(action="unmerge", kept_id=kept, merged_id=back, kept_name=log.kept_name,
                    merged_name=log.merged_name, moved=m, undone=False)
    session.add(undo)
    session.flush()
    return undo

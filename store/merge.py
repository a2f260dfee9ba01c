"""User merges and unmerges of entities, recorded in the merge log so that each can be undone exactly."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.orm import Session

from store.resolve import batched, raw_cursor, repoint
from store.schema import Alias, Document, Entity, Mention, MergeLog, _now
from store.writer import relation_key, upsert_relations


class MergeError(ValueError):
    """A merge or unmerge that cannot be done as asked."""


def rekey_evidence(conn: Connection, mention_ids: list[int]) -> int:
    """File the evidence of these (moved) mentions under the relation their entities now imply. A relation's
    weight stays its number of evidence rows, adjusted by what moved, and one left with none goes. Returns how
    many relations the graph gained (created less those gone)."""
    cur = raw_cursor(conn)
    rows: dict[int, tuple] = {}
    for part in batched(sorted(set(mention_ids))):
        marks = ",".join("?" * len(part))
        for side in ("head_mention_id", "tail_mention_id"):
            rows.update((r[0], r[1:]) for r in cur.execute(
                f"SELECT v.id, v.relation_id, h.entity_id, t.entity_id, v.predicate FROM relation_evidence v "
                f"JOIN mentions h ON h.id = v.head_mention_id JOIN mentions t ON t.id = v.tail_mention_id "
                f"WHERE v.{side} IN ({marks})", part).fetchall())
    keyed = {ev: (old, relation_key(h, t, p)) for ev, (old, h, t, p) in rows.items()}
    ids, created = upsert_relations(conn, Counter({k: 0 for _, k in keyed.values()}))
    delta: Counter[int] = Counter()
    moves = []
    for ev, (old, k) in sorted(keyed.items()):
        if ids[k] != old:
            moves.append((ids[k], ev))
            delta[old] -= 1
            delta[ids[k]] += 1
    cur.executemany("UPDATE relation_evidence SET relation_id = ? WHERE id = ?", moves)
    cur.executemany("UPDATE relations SET weight = weight + ? WHERE id = ?", [(d, r) for r, d in delta.items() if d])
    gone = 0
    for part in batched(sorted(r for r, d in delta.items() if d < 0)):
        cur.execute(f"DELETE FROM relations WHERE id IN ({','.join('?' * len(part))}) AND weight = 0", part)
        gone += cur.rowcount
    return created - gone


def _descendants(conn: Connection, entity_id: int) -> list[int]:
    """The entity and every entity merged into it, directly or through others."""
    out, frontier = [entity_id], [entity_id]
    while frontier:
        marks = ",".join("?" * len(frontier))
        frontier = [i for (i,) in conn.exec_driver_sql(
            f"SELECT id FROM entities WHERE merged_into_id IN ({marks})", tuple(frontier)) if i not in out]
        out += frontier
    return out


def _locals_of(conn: Connection, entity_ids: list[int]) -> list[int]:
    marks = ",".join("?" * len(entity_ids))
    return [i for (i,) in conn.exec_driver_sql(
        f"SELECT id FROM local_entities WHERE entity_id IN ({marks})", tuple(entity_ids))]


def merge(session: Session, keep: Entity, other: Entity) -> MergeLog:
    """Fold ``other`` into ``keep``: its mentions, aliases and "about" links move; it stays as a tombstone.

    The merge holds for as long as both entities exist: re-linking after later ingests and deletes keeps
    resolving ``other``'s mentions to ``keep``, and a delete that leaves either side without mentions
    dissolves it.
    """
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
    other.merged_into_id = keep.id
    session.flush()
    rekey_evidence(conn, repoint(conn, _locals_of(conn, _descendants(conn, other.id))))
    conn.execute(update(Alias).where(Alias.entity_id == other.id, Alias.local_id.is_(None)).values(entity_id=keep.id))
    log = MergeLog(action="merge", kept_id=keep.id, merged_id=other.id, kept_name=keep.name,
                   merged_name=other.name, moved=moved, undone=False)
    session.add(log)
    session.flush()
    return log


def _live_merge(session: Session, entity_id: int) -> MergeLog | None:
    return session.scalars(
        select(MergeLog)
        .where(MergeLog.action == "merge", MergeLog.undone.is_(False),
               or_(MergeLog.kept_id == entity_id, MergeLog.merged_id == entity_id))
        .order_by(MergeLog.id.desc())
        .limit(1)
    ).first()


def _split(conn: Connection, log_moved: dict, kept: int, back: int) -> None:
    conn.execute(update(Entity).where(Entity.id == back).values(merged_into_id=None))
    conn.execute(update(Alias).where(Alias.id.in_(log_moved.get("aliases", [])), Alias.entity_id == kept,
                                     Alias.local_id.is_(None)).values(entity_id=back))
    rekey_evidence(conn, repoint(conn, _locals_of(conn, _descendants(conn, back))))


def unmerge(session: Session, entity: Entity) -> MergeLog:
    """Undo the latest live merge that involved ``entity`` (as the kept or the merged side)."""
    log = _live_merge(session, entity.id)
    if log is None:
        raise MergeError(f"{entity.name!r} has no merge to undo")
    conn = session.connection()
    back, kept = log.merged_id, log.kept_id
    _split(conn, log.moved, kept, back)
    log.undone = True
    undo = MergeLog(action="unmerge", kept_id=kept, merged_id=back, kept_name=log.kept_name,
                    merged_name=log.merged_name, moved=log.moved, undone=False)
    session.add(undo)
    session.flush()
    return undo


def dissolve_merges(conn: Connection, gone: set[int]) -> list[int]:
    """End the live merges that have an entity about to be deleted on either side; returns the merged-side
    entities that exist on and are their own again (the caller re-points their locals)."""
    marks = ",".join("?" * len(gone))
    params = tuple(sorted(gone))
    logs = conn.exec_driver_sql(
        f"SELECT id, kept_id, merged_id, kept_name, merged_name, moved FROM merge_log WHERE action = 'merge' "
        f"AND undone = 0 AND (kept_id IN ({marks}) OR merged_id IN ({marks}))", params + params).all()
    freed = []
    for log_id, kept, back, kept_name, merged_name, moved in logs:
        conn.execute(update(MergeLog).where(MergeLog.id == log_id).values(undone=True))
        conn.execute(MergeLog.__table__.insert().values(  # type: ignore[attr-defined]
            action="dissolved", kept_id=kept, merged_id=back, kept_name=kept_name, merged_name=merged_name,
            moved={}, undone=False, created_at=_now()))
        if back not in gone:
            conn.execute(update(Entity).where(Entity.id == back).values(merged_into_id=None))
            data = json.loads(moved) if isinstance(moved, str) else moved
            conn.execute(update(Alias).where(Alias.id.in_(data.get("aliases", [])), Alias.local_id.is_(None))
                         .values(entity_id=back))
            freed.append(back)
    return freed

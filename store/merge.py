"""User merges and unmerges of entities, recorded in the merge log so that each can be undone exactly, and the
entity a merged one resolves to."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.orm import Session

from store.relations import rekey_evidence
from store.rows import batched, raw_cursor
from store.schema import Alias, Document, Entity, Mention, MergeLog, _now


class MergeError(ValueError):
    """A merge or unmerge that cannot be done as asked."""


def effective(conn: Connection, entity_id: int, cache: dict[int, int] | None = None) -> int:
    """The entity that user merges fold ``entity_id`` into (itself when it was never merged)."""
    if cache is not None and entity_id in cache:
        return cache[entity_id]
    seen, cur = [entity_id], entity_id
    while True:
        nxt = conn.exec_driver_sql("SELECT merged_into_id FROM entities WHERE id = ?", (cur,)).scalar()
        if nxt is None or nxt in seen:
            break
        seen.append(nxt)
        cur = nxt
    if cache is not None:
        cache[entity_id] = cur
    return cur


def effective_map(conn: Connection, entity_ids: set[int]) -> dict[int, int]:
    """entity id -> the entity user merges fold it into, for these ids (one query unless merges exist)."""
    out = {e: e for e in entity_ids}
    cache: dict[int, int] = {}
    cur = raw_cursor(conn)
    for part in batched(sorted(entity_ids)):
        for (eid,) in cur.execute(f"SELECT id FROM entities WHERE id IN ({','.join('?' * len(part))}) "
                                  "AND merged_into_id IS NOT NULL", part).fetchall():
            out[eid] = effective(conn, eid, cache)
    return out


def repoint(conn: Connection, local_ids: Iterable[int]) -> list[int]:
    """Give the mentions, aliases and "about" link of these locals the entity their cluster resolves to.
    Returns the mentions that moved, whose evidence ``rekey_evidence`` re-files."""
    ids = sorted(set(local_ids))
    moved: list[int] = []
    cur = raw_cursor(conn)
    for part in batched(ids):
        marks = ",".join("?" * len(part))
        rows = cur.execute(f"SELECT id, entity_id, is_title, document_id FROM local_entities WHERE id IN ({marks})",
                           part).fetchall()
        target = effective_map(conn, {e for _, e, _, _ in rows if e is not None})
        want = {lid: target[e] for lid, e, _, _ in rows if e is not None}
        moves = [(want[lid], mid) for mid, lid, have in cur.execute(
            f"SELECT id, local_id, entity_id FROM mentions WHERE local_id IN ({marks})", part).fetchall()
            if lid in want and want[lid] != have]
        cur.executemany("UPDATE mentions SET entity_id = ? WHERE id = ?", moves)
        moved += [mid for _, mid in moves]
        pairs = [(t, lid, t) for lid, t in want.items()]
        cur.executemany("UPDATE aliases SET entity_id = ? WHERE local_id = ? AND entity_id != ?", pairs)
        cur.executemany("UPDATE documents SET about_entity_id = ? WHERE id = ? AND about_entity_id IS NOT ?",
                        [(want[lid], doc, want[lid]) for lid, e, is_title, doc in rows if is_title and e is not None])
    return moved


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

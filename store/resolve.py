"""Linking across documents, as a function of the set of document-local entities.

Each document links its own mentions to *local* entities (``local_entities``). Across documents, locals whose
names normalise alike form a block; ``clusters`` splits a block by type group and description, and each
cluster is one entity, attached to a KB entity when one goes by that name with a compatible type. Nothing here
depends on the order documents arrived in, so adding, deleting or replacing a document and re-resolving the
blocks it touched gives the graph a from-scratch build of the same documents would have; only row ids differ.
A block is read grouped (one row per name, type, description and entity, with a count) and only the locals
whose entity changes are touched, so a document that mentions a common name costs what a rare one does.

User merges sit on top: ``local_entities.entity_id`` is the cluster's entity, while mentions, aliases and
``documents.about_entity_id`` carry the entity it resolves to after following ``merged_into_id``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

UNKNOWN = "MISC"
# Types that spaCy's NER confuses with each other get partial credit; PERSON against a place gets almost none.
TYPE_GROUPS = {
    "PERSON": "person", "NORP": "group", "ORG": "org", "FAC": "place", "GPE": "place", "LOC": "place",
    "PRODUCT": "work", "EVENT": "event", "WORK_OF_ART": "work", "LAW": "work", "LANGUAGE": "group",
}
_PAIR = {
    frozenset({"place", "org"}): 0.5, frozenset({"group", "place"}): 0.5, frozenset({"group", "org"}): 0.5,
    frozenset({"work", "event"}): 0.6, frozenset({"work", "org"}): 0.5, frozenset({"event", "org"}): 0.4,
    frozenset({"person", "org"}): 0.25, frozenset({"person", "work"}): 0.25,
}
KB_TYPES = frozenset([*TYPE_GROUPS, UNKNOWN])  # the types a knowledge-base entity may have
MAJORITY = 2  # an undescribed type cluster this many times larger than another absorbs it
CONFUSED = 0.25  # ... when their types are at least this compatible: the pairs NER confuses (person and org)
MIN_TYPE = 0.3  # below this, same-name entities of different types never share an entity


def type_compat(a: str, b: str) -> float:
    """1.0 for the same type, partial for types the tagger confuses, ~0 for person versus place."""
    if a == b:
        return 1.0
    if UNKNOWN in (a, b):
        return 0.7
    ga, gb = TYPE_GROUPS.get(a, a), TYPE_GROUPS.get(b, b)
    if ga == gb:
        return 0.85
    return _PAIR.get(frozenset({ga, gb}), 0.1)


@dataclass(frozen=True)
class Local:
    """``n`` document-local entities alike in name, type, description and entity: the store reads a block grouped,
    so its cost follows the block's variety, not its size."""

    id: int
    document_id: int
    name: str
    type: str
    description: str | None
    is_title: bool
    entity_id: int | None
    n: int = 1


@dataclass
class Cluster:
    key: tuple[str, str]  # (type group, description or "")
    members: list[Local] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(m.n for m in self.members)

    @property
    def name(self) -> str:
        counts: Counter[str] = Counter()
        for m in self.members:
            counts[m.name] += m.n
        return min(counts, key=lambda n: (-counts[n], n))

    @property
    def type(self) -> str:
        counts: Counter[str] = Counter()
        for m in self.members:
            if m.type != UNKNOWN:
                counts[m.type] += m.n
        return min(counts, key=lambda t: (-counts[t], t)) if counts else UNKNOWN

    @property
    def description(self) -> str | None:
        return self.key[1] or None

    def rank(self) -> tuple[int, tuple[str, str]]:
        return -self.size, self.key


def _titled(c: Cluster) -> bool:
    return any(m.is_title for m in c.members)


def clusters(block: Iterable[Local]) -> list[Cluster]:
    """One block's locals split into entities, largest first; a pure function of the set of locals.

    Typed locals cluster by type group and description. An undescribed cluster joins the group's only
    described one ('Paris' the band with 'Paris (band)'), or the block's largest undescribed cluster when that
    has ``MAJORITY`` times its documents and a type NER confuses with its own. Untyped locals (gazetteer
    matches, titles NER never labelled) join the described cluster they match, or else the block's largest
    cluster, or stand alone.
    """
    typed: dict[tuple[str, str], Cluster] = {}
    untyped = []
    for m in block:
        if m.type == UNKNOWN:
            untyped.append(m)
            continue
        key = (TYPE_GROUPS.get(m.type, m.type), m.description or "")
        typed.setdefault(key, Cluster(key)).members.append(m)
    for group in {g for g, _ in typed}:
        described = [k for k in typed if k[0] == group and k[1]]
        if (group, "") in typed and len(described) == 1:
            typed[described[0]].members += typed.pop((group, "")).members
    # One type per entity: an undescribed cluster that only a minority of the block's documents typed so folds
    # into the block's largest undescribed one when NER confuses the two types (one person PERSON in most
    # documents, ORG in a few); a person and a place, clusters of like size, or two that each have a document
    # about them stay apart.
    plain = sorted((c for k, c in typed.items() if not k[1]), key=Cluster.rank)
    for c in plain[1:]:
        top = plain[0]
        if (c.size * MAJORITY <= top.size and type_compat(top.type, c.type) >= CONFUSED
                and not (_titled(top) and _titled(c))):
            top.members += typed.pop(c.key).members
    ranked = sorted(typed.values(), key=Cluster.rank)
    extra: dict[tuple[str, str], Cluster] = {}
    for m in untyped:
        target = next((c for c in ranked if not m.description or c.key[1] == m.description), None)
        if target is None:
            key = (UNKNOWN, m.description or "")
            target = extra.setdefault(key, Cluster(key))
        target.members.append(m)
    return sorted([*ranked, *extra.values()], key=Cluster.rank)


@dataclass(frozen=True)
class KBEntry:
    id: int
    kb_id: str
    type: str
    description: str | None


def pick_kb(cluster: Cluster, kb: list[KBEntry]) -> KBEntry | None:
    """The KB entity a cluster is: same name (as a KB alias), compatible type, the closest type first."""
    typ = cluster.type
    fits = [k for k in kb if type_compat(typ, k.type) >= MIN_TYPE]
    return min(fits, key=lambda k: (-type_compat(typ, k.type), k.description != cluster.description, k.kb_id),
               default=None)


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


def raw_cursor(conn: Connection):  # type: ignore[no-untyped-def]
    """The sqlite3 cursor of this connection's transaction: the hot paths skip SQLAlchemy's per-statement cost."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def batched(ids: list, size: int = 500) -> Iterable[list]:
    """Slices of at most ``size`` ids: SQLite takes a bounded number of parameters per statement."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


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


@dataclass
class Resolution:
    created: int = 0
    deleted: int = 0
    relations: int = 0  # relations gained as evidence moved with its mentions (less those left with none)


# Counts of alike locals per block, kept by triggers in the transaction that changes ``local_entities``
# (migration 0005): with them a block costs its variety to read, not its size.
_COUNTED = "SELECT norm, type, description, name, entity_id, n FROM local_entity_counts WHERE norm IN ({})"


def _read_blocks(cur, norms: list[str]) -> tuple[dict[str, list[Local]], dict[str, list[KBEntry]]]:  # type: ignore[no-untyped-def]
    """Each block's locals, grouped (one row per name, type, description and entity), and its KB entities."""
    blocks: dict[str, list[Local]] = {n: [] for n in norms}
    kbs: dict[str, list[KBEntry]] = {n: [] for n in norms}
    for part in batched(norms):
        marks = ",".join("?" * len(part))
        for norm, typ, desc, name, eid, n in cur.execute(_COUNTED.format(marks), part):
            blocks[norm].append(Local(0, 0, name, typ, desc or None, False, eid or None, n))
        for norm, *row in cur.execute(
                "SELECT DISTINCT a.norm, e.id, e.kb_id, e.type, e.description FROM aliases a JOIN entities e "
                f"ON e.id = a.entity_id WHERE a.norm IN ({marks}) AND a.source = 'kb' AND e.kb_id IS NOT NULL",
                part).fetchall():
            kbs[norm].append(KBEntry(*row))
    return blocks, kbs


def _members(cur, norm: str, group: Local) -> list[int]:  # type: ignore[no-untyped-def]
    """The ids of the locals a group stands for, found through their entity: only groups that move are read."""
    same = "entity_id IS NULL" if group.entity_id is None else "entity_id = ?"
    key = () if group.entity_id is None else (group.entity_id,)
    return [i for (i,) in cur.execute(
        f"SELECT id FROM local_entities INDEXED BY ix_local_entities_entity_id WHERE {same} AND norm = ? "
        "AND type = ? AND coalesce(description, '') = ? AND name = ?",
        (*key, norm, group.type, group.description or "", group.name)).fetchall()]


def resolve_blocks(conn: Connection, norms: Iterable[str], released: Mapping[int, str] | None = None) -> Resolution:
    """Re-cluster these blocks and bring entities, mentions, aliases and merges in line with the result.

    Entity rows are reused: each cluster keeps the entity most of its locals already had. An entity left
    without a cluster is deleted (unless it is a KB entity or has user aliases), and a user merge with it on
    either side is dissolved. Relations follow the mentions. ``released`` are entities whose locals were just
    removed (entity -> the block they were in): a new cluster of that block and a compatible type takes one
    over, so an edited document keeps its entities and the user merges on them; the others go.
    """
    from store.merge import dissolve_merges, rekey_evidence

    changed_locals: list[int] = []
    result = Resolution()
    released = dict(released or {})
    gone: set[int] = set(released)
    freed_in: dict[str, list[int]] = {}
    for eid, norm in sorted(released.items()):
        freed_in.setdefault(norm, []).append(eid)
    cur = raw_cursor(conn)
    norms = sorted(set(norms))
    blocks, kbs = _read_blocks(cur, norms)
    kb_ids = {k.id for ks in kbs.values() for k in ks}
    referenced = sorted(({m.entity_id for b in blocks.values() for m in b if m.entity_id is not None}
                         | set(released)) - kb_ids)
    current: dict[int, tuple] = {}
    for part in batched(referenced):
        current.update((i, (n, t, d)) for i, n, t, d in cur.execute(
            f"SELECT id, name, type, description FROM entities WHERE id IN ({','.join('?' * len(part))})", part))
    next_id = int(cur.execute("SELECT coalesce(max(id), 0) + 1 FROM entities").fetchone()[0])
    now = cur.execute("SELECT datetime('now')").fetchone()[0]
    inserts: list[tuple] = []
    renames: list[tuple] = []
    moves: list[tuple[int, int]] = []
    for norm in norms:
        block, kb = blocks[norm], kbs[norm]
        old = {m.entity_id for m in block if m.entity_id in current}
        claimed: set[int] = set()
        for c in clusters(block):
            k = pick_kb(c, kb)
            if k is not None:
                eid = k.id
            else:
                votes: Counter[int] = Counter()
                for m in c.members:
                    if m.entity_id in old and m.entity_id not in claimed:
                        votes[m.entity_id] += m.n
                attrs = (c.name, c.type, c.description)
                heir = next((e for e in freed_in.get(norm, []) if e in current and e not in claimed
                             and type_compat(current[e][1], c.type) >= MIN_TYPE), None)
                if votes or heir is not None:
                    eid = min(votes, key=lambda e: (-votes[e], e)) if votes else heir  # type: ignore[assignment]
                    if current[eid] != attrs:
                        renames.append((*attrs, eid))
                else:
                    eid, next_id = next_id, next_id + 1
                    inserts.append((eid, *attrs, now))
                claimed.add(eid)
            for m in c.members:
                if m.entity_id != eid:
                    ids = _members(cur, norm, m)
                    moves += [(eid, i) for i in ids]
                    changed_locals += ids
        gone |= old - claimed
        gone -= claimed
    result.created = len(inserts)
    cur.executemany("INSERT INTO entities (id, name, type, description, kb_id, merged_into_id, created_at) "
                    "VALUES (?, ?, ?, ?, NULL, NULL, ?)", inserts)
    cur.executemany("UPDATE entities SET name = ?, type = ?, description = ? WHERE id = ?", renames)
    cur.executemany("UPDATE local_entities SET entity_id = ? WHERE id = ?", moves)
    freed = dissolve_merges(conn, gone) if gone else []
    if freed:
        changed_locals += [lid for (lid,) in conn.exec_driver_sql(
            f"SELECT id FROM local_entities WHERE entity_id IN ({','.join('?' * len(freed))})", tuple(freed))]
    result.relations += rekey_evidence(conn, repoint(conn, changed_locals))
    for eid in sorted(gone):
        keep = conn.exec_driver_sql(
            "SELECT kb_id IS NOT NULL OR EXISTS (SELECT 1 FROM aliases WHERE entity_id = ? AND source = 'user') "
            "OR EXISTS (SELECT 1 FROM local_entities WHERE entity_id = ?) FROM entities WHERE id = ?",
            (eid, eid, eid)).scalar()
        if keep == 0:
            conn.exec_driver_sql("UPDATE documents SET about_entity_id = NULL WHERE about_entity_id = ?", (eid,))
            conn.exec_driver_sql("DELETE FROM entities WHERE id = ?", (eid,))
            result.deleted += 1
    return result

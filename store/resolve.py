"""Linking across documents, as a function of the set of document-local entities.

Each document links its own mentions to *local* entities (``local_entities``). Across documents, locals whose
names normalise alike form a block, and a short name that ``store.fusion`` folds into a longer one ("Frédéric
Joliot" into "Frédéric Joliot-Curie", "U.S." into "United States") joins that name's block; ``clusters`` splits
a block by type group and description, and each cluster is one entity, attached to a KB entity when one goes
by that name with a compatible type. Nothing here depends on the order documents arrived in, so adding,
deleting or replacing a document and re-resolving the blocks it touched gives the graph a from-scratch build
of the same documents would have; only row ids differ.
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

from store import fusion
from store.kinds import MIN_TYPE, TYPE_GROUPS, UNKNOWN, type_compat
from store.merge import dissolve_merges, repoint
from store.relations import rekey_evidence
from store.rows import batched, raw_cursor

if TYPE_CHECKING:
    from sqlalchemy import Connection

MAJORITY = 2  # an undescribed type cluster this many times larger than another absorbs it
CONFUSED = 0.25  # ... when their types are at least this compatible: the pairs NER confuses (person and org)


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
    norm: str = ""


@dataclass
class Cluster:
    key: tuple[str, str]  # (type group, description or "")
    members: list[Local] = field(default_factory=list)
    root: str = ""  # the block's own name: its names come first when names are fused into it

    @property
    def size(self) -> int:
        return sum(m.n for m in self.members)

    @property
    def name(self) -> str:
        counts: Counter[str] = Counter()
        rooted = set()
        for m in self.members:
            counts[m.name] += m.n
            if m.norm == self.root:
                rooted.add(m.name)
        return min(counts, key=lambda n: (bool(rooted) and n not in rooted, -counts[n], n))

    @property
    def type(self) -> str:
        """The type most of its locals have; those of the documents about it first, whose opening sentence
        says what it is."""
        counts: Counter[str] = Counter()
        titled: Counter[str] = Counter()
        for m in self.members:
            if m.type != UNKNOWN:
                counts[m.type] += m.n
                if m.is_title:
                    titled[m.type] += m.n
        pick = titled or counts
        return min(pick, key=lambda t: (-pick[t], t)) if pick else UNKNOWN

    @property
    def description(self) -> str | None:
        return self.key[1] or None

    def rank(self) -> tuple[int, tuple[str, str]]:
        return -self.size, self.key


def _titled(c: Cluster) -> bool:
    return any(m.is_title for m in c.members)


def clusters(block: Iterable[Local], root: str = "") -> list[Cluster]:
    """One block's locals split into entities, largest first; a pure function of the set of locals.

    Typed locals cluster by type group and description. An undescribed cluster joins the group's only
    described one ('Paris' the band with 'Paris (band)'); or the one undescribed cluster with a document about
    it, when their types are ones NER confuses; or the block's largest undescribed cluster when that has
    ``MAJORITY`` times its documents and such a type. Untyped locals (gazetteer
    matches, titles NER never labelled) join the described cluster they match, or else the block's largest
    cluster, or stand alone. ``root`` is the block's own name, which its entities are named by first.
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
    # One type per entity. When one undescribed cluster has a document about it, the clusters of types NER
    # confuses with its own fold into it, whatever their size: that document's opening sentence says what it is
    # (a physicist NER calls ORG in most other documents).
    plain = sorted((c for k, c in typed.items() if not k[1]), key=Cluster.rank)
    about = [c for c in plain if _titled(c)]
    if len(about) == 1:
        for c in plain:
            if c is not about[0] and type_compat(about[0].type, c.type) >= CONFUSED:
                about[0].members += typed.pop(c.key).members
        plain = sorted((c for k, c in typed.items() if not k[1]), key=Cluster.rank)
    # Otherwise an undescribed cluster that only a minority of the block's documents typed so folds into the
    # block's largest undescribed one when NER confuses the two types (one person PERSON in most documents, ORG
    # in a few); a person and a place, clusters of like size, or two that each have a document about them stay
    # apart.
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
    out = sorted([*ranked, *extra.values()], key=Cluster.rank)
    for c in out:
        c.root = root
    return out


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


@dataclass
class Resolution:
    created: int = 0
    deleted: int = 0
    relations: int = 0  # relations gained as evidence moved with its mentions (less those left with none)


# Counts of alike locals per block, kept by triggers in the transaction that changes ``local_entities``
# (migration 0005): with them a block costs its variety to read, not its size.
_COUNTED = ("SELECT norm, type, description, name, entity_id, is_title, n FROM local_entity_counts "
            "WHERE norm IN ({})")


def _read_blocks(cur, roots: list[str]) -> tuple[dict[str, list[Local]], dict[str, list[KBEntry]]]:  # type: ignore[no-untyped-def]
    """Each root's block: the locals of its name and of the names fused into it, grouped (one row per name,
    type, description and entity), and the KB entities going by one of those names."""
    names = fusion.members(cur, roots)
    block_of = {n: r for r, ns in names.items() for n in ns}
    norms = sorted(block_of)
    blocks: dict[str, list[Local]] = {r: [] for r in roots}
    kbs: dict[str, list[KBEntry]] = {r: [] for r in roots}
    for part in batched(norms):
        marks = ",".join("?" * len(part))
        for norm, typ, desc, name, eid, title, n in cur.execute(_COUNTED.format(marks), part):
            blocks[block_of[norm]].append(Local(0, 0, name, typ, desc or None, bool(title), eid or None, n, norm))
        for norm, *row in cur.execute(
                "SELECT DISTINCT a.norm, e.id, e.kb_id, e.type, e.description FROM aliases a JOIN entities e "
                f"ON e.id = a.entity_id WHERE a.norm IN ({marks}) AND a.source = 'kb' AND e.kb_id IS NOT NULL",
                part).fetchall():
            entry = KBEntry(*row)
            if entry not in kbs[block_of[norm]]:
                kbs[block_of[norm]].append(entry)
    return blocks, kbs


def _members(cur, group: Local) -> list[int]:  # type: ignore[no-untyped-def]
    """The ids of the locals a group stands for, found through their entity: only groups that move are read."""
    same = "entity_id IS NULL" if group.entity_id is None else "entity_id = ?"
    key = () if group.entity_id is None else (group.entity_id,)
    return [i for (i,) in cur.execute(
        f"SELECT id FROM local_entities INDEXED BY ix_local_entities_entity_id WHERE {same} AND norm = ? "
        "AND type = ? AND coalesce(description, '') = ? AND name = ? AND is_title = ?",
        (*key, group.norm, group.type, group.description or "", group.name, group.is_title)).fetchall()]


def resolve_blocks(conn: Connection, norms: Iterable[str], released: Mapping[int, str] | None = None) -> Resolution:
    """Re-cluster these blocks and bring entities, mentions, aliases and merges in line with the result.

    Names fused across documents (``store.fusion``) are re-decided first, and each block is resolved under its
    root name with the names fused into it. Entity rows are reused: each cluster keeps the entity most of its
    locals already had. An entity left without a cluster is deleted (unless it is a KB entity or has user
    aliases), and a user merge with it on either side is dissolved. Relations follow the mentions. ``released``
    are entities whose locals were just removed (entity -> the block they were in): a new cluster of that block
    and a compatible type takes one over, so an edited document keeps its entities and the user merges on them;
    the others go.
    """
    changed_locals: list[int] = []
    result = Resolution()
    released = dict(released or {})
    cur = raw_cursor(conn)
    touched = set(norms) | set(released.values())
    moved = fusion.refresh(cur, touched)
    names = touched | {n for pair in moved.values() for n in pair}
    root = fusion.redirects(cur, names)
    norms = sorted({root.get(n, n) for n in names})  # each block under its root, once
    freed_in: dict[str, list[int]] = {}
    for eid, norm in sorted(released.items()):
        freed_in.setdefault(root.get(norm, norm), []).append(eid)
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
    claimed: set[int] = set()  # across blocks: while names fuse or part, one entity's locals span two blocks
    held: set[int] = set(released)
    for norm in norms:
        block, kb = blocks[norm], kbs[norm]
        old = {m.entity_id for m in block if m.entity_id in current}
        held |= old
        for c in clusters(block, norm):
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
                    ids = _members(cur, m)
                    moves += [(eid, i) for i in ids]
                    changed_locals += ids
    gone = held - claimed
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


class FoldError(ValueError):
    """A fold to undo or allow that is not there."""


def undo_fold(conn: Connection, norm: str) -> tuple[str, str]:
    """Undo the fold of the name ``norm`` into its longer name, for good: the name stays its own entity,
    whatever documents come. Returns (name, the name it was folded into) and records it in the merge log."""
    cur = raw_cursor(conn)
    row = cur.execute("SELECT target FROM name_redirects WHERE norm = ?", (norm,)).fetchone()
    if row is None:
        raise FoldError(f"{norm!r} is not folded into another name")
    cur.execute("INSERT OR IGNORE INTO fusion_vetoes (norm, target, created_at) VALUES (?, ?, datetime('now'))",
                (norm, row[0]))
    cur.execute("DELETE FROM fusion_pins WHERE norm = ?", (norm,))
    resolve_blocks(conn, [norm])
    return _log_fold(conn, "unfuse", norm, row[0])


def allow_fold(conn: Connection, norm: str) -> list[tuple[str, str]]:
    """Lift the user's vetoes on folding the name ``norm``; returns the (name, target) pairs lifted."""
    cur = raw_cursor(conn)
    targets = [t for (t,) in cur.execute("SELECT target FROM fusion_vetoes WHERE norm = ? ORDER BY target", (norm,))]
    if not targets:
        raise FoldError(f"no fold of {norm!r} was undone")
    cur.execute("DELETE FROM fusion_vetoes WHERE norm = ?", (norm,))
    resolve_blocks(conn, [norm])
    return [_log_fold(conn, "allow", norm, t) for t in targets]


def pin_fold(conn: Connection, norm: str, target: str, source: str) -> tuple[str, str] | None:
    """Fold the name ``norm``, which the rules left apart, into ``target`` (one of its options) as a judge
    decided; recorded in the merge log as ``source``'s and undone by ``undo_fold``. None if it did not fold."""
    cur = raw_cursor(conn)
    cur.execute("INSERT OR REPLACE INTO fusion_pins (norm, target, source, created_at) "
                "VALUES (?, ?, ?, datetime('now'))", (norm, target, source))
    resolve_blocks(conn, [norm])
    if fusion.redirects(cur, [norm]).get(norm) is None:
        cur.execute("DELETE FROM fusion_pins WHERE norm = ?", (norm,))
        return None
    return _log_fold(conn, "fuse", norm, target)


def _log_fold(conn: Connection, action: str, norm: str, target: str) -> tuple[str, str]:
    cur = raw_cursor(conn)
    names = fusion.display_name(cur, norm), fusion.display_name(cur, target)
    ids = [conn.exec_driver_sql("SELECT coalesce((SELECT entity_id FROM local_entities WHERE norm = ? AND entity_id "
                                "IS NOT NULL ORDER BY id LIMIT 1), 0)", (n,)).scalar_one() for n in (target, norm)]
    conn.exec_driver_sql("INSERT INTO merge_log (action, kept_id, merged_id, kept_name, merged_name, moved, undone, "
                         "created_at) VALUES (?, ?, ?, ?, ?, '{}', 0, datetime('now'))",
                         (action, ids[0], ids[1], names[1], names[0]))
    return names

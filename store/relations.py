"""Relations and their evidence: undirected keys, upserts, and weights that follow the evidence rows."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection

from store.rows import Ids, batched, insert_rows, marks, raw_cursor
from store.schema import Relation

RELATED_TO = "related_to"


def relation_key(head: int, tail: int, predicate: str) -> tuple[int, int, str]:
    """Undirected predicates are stored once, with the smaller id as head."""
    if predicate == RELATED_TO and tail < head:
        head, tail = tail, head
    return head, tail, predicate


def upsert_relations(conn: Connection, counts: Counter[tuple[int, int, str]], ids_: Ids | None = None
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
    new_ids = (ids_ or Ids(conn, (Relation,))).take(Relation, len(missing))
    insert_rows(conn, Relation, [{"id": i, "head_id": h, "tail_id": t, "predicate": p, "weight": counts[(h, t, p)]}
                             for i, (h, t, p) in zip(new_ids, missing)])
    ids.update(zip(missing, new_ids))
    fresh = set(missing)
    existing = [(counts[k], ids[k]) for k in keys if k not in fresh and counts[k]]
    if existing:
        conn.exec_driver_sql("UPDATE relations SET weight = weight + ? WHERE id = ?", existing)
    return ids, len(missing)


def unweigh(conn: Connection, removed: list[tuple[int, int]]) -> int:
    """Take removed evidence (relation id, rows) off the relations' weights and drop those left without any. A
    weight is its relation's number of evidence rows, so nothing needs counting again."""
    cur = raw_cursor(conn)
    cur.executemany("UPDATE relations SET weight = weight - ? WHERE id = ?", [(n, r) for r, n in removed])
    gone = 0
    for part in batched(sorted(r for r, _ in removed)):
        cur.execute(f"DELETE FROM relations WHERE id IN ({marks(len(part))}) AND weight = 0", part)
        gone += cur.rowcount
    return gone


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

"""Stored index data: chunk word-piece vectors, dense embeddings, and the rows the retrieval index is built from.

Vectors are plain little-endian arrays in BLOBs, tagged with the encoder that made them; a row whose tag differs
from the configured encoder counts as missing. Everything here is keyed by chunk or entity with ON DELETE
CASCADE, so deleting a document drops its vectors with it.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from store.read import LIVE
from store.rows import batched
from store.schema import (
    Chunk,
    ChunkEmbedding,
    ChunkVector,
    Document,
    Entity,
    EntityEmbedding,
    Mention,
    Relation,
)


def chunks_without(session: Session, table: type[ChunkVector] | type[ChunkEmbedding],
                   encoder: str) -> list[tuple[int, str, str]]:
    """(chunk id, document title, chunk text) of chunks with no row from ``encoder``, by id."""
    q = (
        select(Chunk.id, Document.title, Chunk.text)
        .join(Document, Document.id == Chunk.document_id)
        .outerjoin(table, (table.chunk_id == Chunk.id) & (table.encoder == encoder))
        .where(table.chunk_id.is_(None))
        .order_by(Chunk.id)
    )
    return [(i, t, x) for i, t, x in session.execute(q)]


def count_without(session: Session, table: type[ChunkVector] | type[ChunkEmbedding], encoder: str) -> int:
    """How many chunks have no row from ``encoder``."""
    q = (select(func.count()).select_from(Chunk)
         .outerjoin(table, (table.chunk_id == Chunk.id) & (table.encoder == encoder)).where(table.chunk_id.is_(None)))
    return int(session.scalar(q) or 0)


def _replace(session: Session, model: type, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Delete the rows keyed by each tuple's first value, then insert the tuples."""
    t = cast(Table, model.__table__)  # type: ignore[attr-defined]
    conn = session.connection()
    conn.execute(delete(t).where(t.c[columns[0]].in_([r[0] for r in rows])))
    conn.exec_driver_sql(f"INSERT INTO {t.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         rows)


def put_chunk_vectors(session: Session, encoder: str, rows: list[tuple[int, bytes, bytes]]) -> None:
    """Replace the word-piece vectors of these chunks: (chunk id, int32 terms, float32 weights)."""
    _replace(session, ChunkVector, ("chunk_id", "encoder", "terms", "weights"),
             [(i, encoder, terms, weights) for i, terms, weights in rows])


def put_chunk_embeddings(session: Session, encoder: str, rows: list[tuple[int, bytes]]) -> None:
    _replace(session, ChunkEmbedding, ("chunk_id", "encoder", "vector"), [(i, encoder, v) for i, v in rows])


def put_entity_embeddings(session: Session, encoder: str, rows: list[tuple[int, str, bytes]]) -> None:
    _replace(session, EntityEmbedding, ("entity_id", "encoder", "text", "vector"),
             [(i, encoder, text, v) for i, text, v in rows])


def has_chunk_embeddings(session: Session, encoder: str) -> bool:
    q = select(ChunkEmbedding.chunk_id).where(ChunkEmbedding.encoder == encoder).limit(1)
    return session.execute(q).first() is not None


def chunk_vectors(session: Session, encoder: str) -> list[tuple[int, bytes, bytes]]:
    q = select(ChunkVector.chunk_id, ChunkVector.terms, ChunkVector.weights).where(ChunkVector.encoder == encoder)
    return [(i, t, w) for i, t, w in session.execute(q.order_by(ChunkVector.chunk_id))]


def chunk_embeddings(session: Session, encoder: str) -> list[tuple[int, bytes]]:
    q = select(ChunkEmbedding.chunk_id, ChunkEmbedding.vector).where(ChunkEmbedding.encoder == encoder)
    return [(i, v) for i, v in session.execute(q.order_by(ChunkEmbedding.chunk_id))]


def entity_embeddings(session: Session, encoder: str) -> dict[int, tuple[str, bytes]]:
    q = select(EntityEmbedding.entity_id, EntityEmbedding.text, EntityEmbedding.vector).where(
        EntityEmbedding.encoder == encoder)
    return {i: (t, v) for i, t, v in session.execute(q)}


def entities_without_embedding(session: Session, encoder: str) -> list[tuple[int, str]]:
    """(id, name) of the live entities with no embedding of their current name by ``encoder``, by id: one
    join in SQLite, not a pass over every entity in Python."""
    x = EntityEmbedding
    q = (select(Entity.id, Entity.name).outerjoin(x, x.entity_id == Entity.id)
         .where(LIVE, (x.entity_id.is_(None)) | (x.encoder != encoder) | (x.text != Entity.name))
         .order_by(Entity.id))
    return [(i, n) for i, n in session.execute(q)]


def chunk_rows(session: Session) -> list[tuple[int, int]]:
    """(chunk id, document id) for every chunk, by id."""
    return [(i, d) for i, d in session.execute(select(Chunk.id, Chunk.document_id).order_by(Chunk.id))]


def chunk_entities(session: Session) -> list[tuple[int, int, int, float, int]]:
    """(chunk id, live entity id, mentions, best link confidence, characters of the first mention) per pair.

    A merged entity's mentions count for the entity it was merged into.
    """
    target = func.coalesce(Entity.merged_into_id, Entity.id)
    q = (
        select(Mention.chunk_id, target, func.count(), func.max(Mention.confidence), func.min(Mention.start))
        .join(Entity, Entity.id == Mention.entity_id)
        .group_by(Mention.chunk_id, target)
    )
    return [(c, e, n, conf, first) for c, e, n, conf, first in session.execute(q)]


def about_entities(session: Session) -> list[tuple[int, int]]:
    """(chunk id, entity id) for each chunk of a document that is about an entity (its title names it)."""
    target = func.coalesce(Entity.merged_into_id, Entity.id)
    q = (select(Chunk.id, target).join(Document, Document.id == Chunk.document_id)
         .join(Entity, Entity.id == Document.about_entity_id))
    return [(c, e) for c, e in session.execute(q)]


def relation_edges(session: Session) -> list[tuple[int, int, float]]:
    """(head, tail, weight) summed over predicates, self-loops left out."""
    q = (select(Relation.head_id, Relation.tail_id, func.sum(Relation.weight))
         .where(Relation.head_id != Relation.tail_id).group_by(Relation.head_id, Relation.tail_id))
    return [(h, t, float(w)) for h, t, w in session.execute(q)]



def existing(session: Session, table: str, ids: list[int]) -> set[int]:
    """Which of these row ids ``table`` (chunks or entities) still has."""
    assert table in ("chunks", "entities")
    out: set[int] = set()
    for batch in batched(ids):
        part = tuple(batch)
        out.update(r for (r,) in session.connection().exec_driver_sql(
            f"SELECT id FROM {table} WHERE id IN ({','.join('?' * len(part))})", part))
    return out

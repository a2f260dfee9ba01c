"""index change log: what the persisted search index must re-read since it was built

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:20:00.000000

Triggers record, in the transaction that makes the change, every chunk and entity whose index data changed
(vectors, mentions, document "about" links, names, types, merges, relations, aliases, embeddings) and bump a
version counter, so a reader knows at once whether its index is current and re-reads only what changed.
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

CHUNK, ENTITY = 1, 2


def _mark(kind: int, ref: str) -> str:
    return (f"INSERT OR IGNORE INTO index_changes (kind, ref) VALUES ({kind}, {ref}); "
            "UPDATE index_state SET version = version + 1 WHERE id = 1;")


# (trigger name, event, table, statements)
TRIGGERS = [
    ("ix_chunks_ins", "AFTER INSERT", "chunks", _mark(CHUNK, "new.id")),
    ("ix_chunks_del", "AFTER DELETE", "chunks", _mark(CHUNK, "old.id")),
    ("ix_mentions_ins", "AFTER INSERT", "mentions", _mark(CHUNK, "new.chunk_id")),
    ("ix_mentions_del", "AFTER DELETE", "mentions", _mark(CHUNK, "old.chunk_id")),
    ("ix_mentions_upd", "AFTER UPDATE OF entity_id, confidence, start, chunk_id", "mentions",
     _mark(CHUNK, "old.chunk_id") + _mark(CHUNK, "new.chunk_id")),
    ("ix_documents_upd", "AFTER UPDATE OF about_entity_id, title", "documents",
     f"INSERT OR IGNORE INTO index_changes (kind, ref) SELECT {CHUNK}, id FROM chunks WHERE document_id = new.id; "
     "UPDATE index_state SET version = version + 1 WHERE id = 1;"),
    ("ix_chunk_vectors_ins", "AFTER INSERT", "chunk_vectors", _mark(CHUNK, "new.chunk_id")),
    ("ix_chunk_vectors_del", "AFTER DELETE", "chunk_vectors", _mark(CHUNK, "old.chunk_id")),
    ("ix_chunk_vectors_upd", "AFTER UPDATE", "chunk_vectors", _mark(CHUNK, "new.chunk_id")),
    ("ix_chunk_embeddings_ins", "AFTER INSERT", "chunk_embeddings", _mark(CHUNK, "new.chunk_id")),
    ("ix_chunk_embeddings_del", "AFTER DELETE", "chunk_embeddings", _mark(CHUNK, "old.chunk_id")),
    ("ix_chunk_embeddings_upd", "AFTER UPDATE", "chunk_embeddings", _mark(CHUNK, "new.chunk_id")),
    ("ix_entities_ins", "AFTER INSERT", "entities", _mark(ENTITY, "new.id")),
    ("ix_entities_del", "AFTER DELETE", "entities", _mark(ENTITY, "old.id")),
    ("ix_entities_upd", "AFTER UPDATE OF name, type, merged_into_id", "entities", _mark(ENTITY, "new.id")),
    ("ix_relations_ins", "AFTER INSERT", "relations", _mark(ENTITY, "new.head_id") + _mark(ENTITY, "new.tail_id")),
    ("ix_relations_del", "AFTER DELETE", "relations", _mark(ENTITY, "old.head_id") + _mark(ENTITY, "old.tail_id")),
    ("ix_relations_upd", "AFTER UPDATE OF weight, head_id, tail_id", "relations",
     _mark(ENTITY, "old.head_id") + _mark(ENTITY, "old.tail_id") + _mark(ENTITY, "new.head_id")
     + _mark(ENTITY, "new.tail_id")),
    ("ix_entity_embeddings_ins", "AFTER INSERT", "entity_embeddings", _mark(ENTITY, "new.entity_id")),
    ("ix_entity_embeddings_del", "AFTER DELETE", "entity_embeddings", _mark(ENTITY, "old.entity_id")),
    ("ix_entity_embeddings_upd", "AFTER UPDATE", "entity_embeddings", _mark(ENTITY, "new.entity_id")),
    ("ix_aliases_ins", "AFTER INSERT", "aliases", _mark(ENTITY, "new.entity_id")),
    ("ix_aliases_del", "AFTER DELETE", "aliases", _mark(ENTITY, "old.entity_id")),
    ("ix_aliases_upd", "AFTER UPDATE OF entity_id, norm, alias", "aliases",
     _mark(ENTITY, "old.entity_id") + _mark(ENTITY, "new.entity_id")),
]


def upgrade() -> None:
    op.execute("CREATE TABLE index_state (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, "
               "generation VARCHAR)")
    op.execute("INSERT INTO index_state (id, version, generation) VALUES (1, 0, NULL)")
    op.execute("CREATE TABLE index_changes (kind INTEGER NOT NULL, ref INTEGER NOT NULL, PRIMARY KEY (kind, ref)) "
               "WITHOUT ROWID")
    for name, event, table, body in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {event} ON {table} BEGIN {body} END")


def downgrade() -> None:
    for name, _, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE index_changes")
    op.execute("DROP TABLE index_state")

"""document-local entities, document names, relink queue, full-text index over chunks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:12:00.000000

Stores from before this revision get one local entity per (document, entity) pair that its mentions link,
named like the entity; re-ingesting such a store's files rebuilds them from the text.
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

FTS = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_table('local_entities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('norm', sa.String(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('is_title', sa.Boolean(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entity_id'], ['entities.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_local_entities_document_id', 'local_entities', ['document_id'])
    op.create_index('ix_local_entities_entity_id', 'local_entities', ['entity_id'])
    op.create_index('ix_local_entities_norm', 'local_entities', ['norm'])
    op.create_table('document_names',
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id', 'name')
    )
    op.create_index('ix_document_names_name', 'document_names', ['name'])
    op.create_index('ix_aliases_source_alias', 'aliases', ['source', 'alias'])
    op.create_table('relink_queue',
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id')
    )
    # Plain ALTER TABLE: a batch (copy and rename) of these tables would cascade deletes into their children.
    op.execute("ALTER TABLE documents ADD COLUMN title_names_entity BOOLEAN NOT NULL DEFAULT 1")
    for table in ("mentions", "aliases"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN local_id INTEGER "
                   "REFERENCES local_entities (id) ON DELETE CASCADE")
        op.create_index(f'ix_{table}_local_id', table, ['local_id'])
    op.execute(
        "INSERT INTO local_entities (document_id, name, norm, type, description, is_title, entity_id) "
        "SELECT c.document_id, e.name, coalesce((SELECT a.norm FROM aliases a WHERE a.entity_id = e.id "
        "AND a.alias = e.name LIMIT 1), lower(e.name)), e.type, e.description, 0, e.id "
        "FROM mentions m JOIN chunks c ON c.id = m.chunk_id JOIN entities e ON e.id = m.entity_id "
        "GROUP BY c.document_id, e.id")
    op.execute("UPDATE local_entities SET is_title = 1 WHERE EXISTS (SELECT 1 FROM documents d "
               "WHERE d.id = local_entities.document_id AND d.about_entity_id = local_entities.entity_id)")
    op.execute("UPDATE mentions SET local_id = (SELECT l.id FROM local_entities l JOIN chunks c "
               "ON c.document_id = l.document_id WHERE c.id = mentions.chunk_id AND l.entity_id = mentions.entity_id)")
    op.execute("UPDATE aliases SET local_id = (SELECT l.id FROM local_entities l JOIN chunks c "
               "ON c.document_id = l.document_id WHERE c.id = aliases.chunk_id AND l.entity_id = aliases.entity_id) "
               "WHERE chunk_id IS NOT NULL")
    op.execute("INSERT OR IGNORE INTO document_names (document_id, name) SELECT c.document_id, m.surface "
               "FROM mentions m JOIN chunks c ON c.id = m.chunk_id WHERE m.source = 'ner'")
    for sql in FTS:
        op.execute(sql)


def downgrade() -> None:
    for name in ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS chunks_fts")
    for table in ("mentions", "aliases"):
        op.drop_index(f'ix_{table}_local_id', table_name=table)
        op.execute(f"ALTER TABLE {table} DROP COLUMN local_id")
    op.execute("ALTER TABLE documents DROP COLUMN title_names_entity")
    op.drop_table('relink_queue')
    op.drop_index('ix_aliases_source_alias', table_name='aliases')
    op.drop_index('ix_document_names_name', table_name='document_names')
    op.drop_table('document_names')
    op.drop_index('ix_local_entities_norm', table_name='local_entities')
    op.drop_index('ix_local_entities_entity_id', table_name='local_entities')
    op.drop_index('ix_local_entities_document_id', table_name='local_entities')
    op.drop_table('local_entities')

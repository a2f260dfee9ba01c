"""block counts: local entities alike in name, type, description and entity, counted per name block

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:40:00.000000

Re-clustering a name block reads one row per kind of local in it, with a count kept by triggers in the
transaction that changes ``local_entities``, instead of one row per document that mentions the name: a document
that mentions a common name then costs what one with a rare name does. An index on ``aliases (source, norm)``
finds a block's KB entities without scanning its mention aliases.
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_KEY = ("norm = old.norm AND type = old.type AND description = coalesce(old.description, '') AND name = old.name "
        "AND entity_id = coalesce(old.entity_id, 0)")
_ADD = ("INSERT INTO local_entity_counts VALUES (new.norm, new.type, coalesce(new.description, ''), new.name, "
        "coalesce(new.entity_id, 0), 1) ON CONFLICT DO UPDATE SET n = n + 1;")
_TAKE = (f"UPDATE local_entity_counts SET n = n - 1 WHERE {_KEY}; "
         f"DELETE FROM local_entity_counts WHERE {_KEY} AND n = 0;")


def upgrade() -> None:
    op.execute("CREATE TABLE local_entity_counts (norm VARCHAR NOT NULL, type VARCHAR(32) NOT NULL, "
               "description TEXT NOT NULL, name VARCHAR NOT NULL, entity_id INTEGER NOT NULL, n INTEGER NOT NULL, "
               "PRIMARY KEY (norm, type, description, name, entity_id)) WITHOUT ROWID")
    op.execute(f"CREATE TRIGGER local_entity_counts_ins AFTER INSERT ON local_entities BEGIN {_ADD} END")
    op.execute(f"CREATE TRIGGER local_entity_counts_del AFTER DELETE ON local_entities BEGIN {_TAKE} END")
    op.execute("CREATE TRIGGER local_entity_counts_upd AFTER UPDATE OF norm, type, description, name, entity_id "
               f"ON local_entities BEGIN {_TAKE} {_ADD} END")
    op.execute("INSERT INTO local_entity_counts SELECT norm, type, coalesce(description, ''), name, "
               "coalesce(entity_id, 0), count(*) FROM local_entities GROUP BY 1, 2, 3, 4, 5")
    op.create_index('ix_aliases_source_norm', 'aliases', ['source', 'norm'])


def downgrade() -> None:
    op.drop_index('ix_aliases_source_norm', 'aliases')
    for event in ("ins", "del", "upd"):
        op.execute(f"DROP TRIGGER IF EXISTS local_entity_counts_{event}")
    op.execute("DROP TABLE local_entity_counts")

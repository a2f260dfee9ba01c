"""store settings: what the store's contents were made with

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:10:00.000000

The chunking, the spaCy model and the word-piece encoder a store's chunks, entities and vectors came from, so
that an ingest or a search with other settings is refused instead of silently mixing chunks or vectors. A store
made before this revision has none recorded; its next ingest records them.
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE store_settings (key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL) WITHOUT ROWID")


def downgrade() -> None:
    op.execute("DROP TABLE store_settings")

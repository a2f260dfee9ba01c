"""full-text index declared as other tools detect it: content="chunks"

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:00:00.000000

The FTS5 index over chunk text said ``content='chunks'``; tools that find a table's full-text index from its
declaration (``sqlite-utils search``, Datasette) look for ``content="chunks"`` or ``content=[chunks]``. The
index is re-declared with the double-quoted form and rebuilt from the chunks; the triggers that keep it in step
name it, not its declaration, and stay.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _declare(quote: str) -> None:
    op.execute("DROP TABLE IF EXISTS chunks_fts")
    op.execute(f"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content={quote}chunks{quote}, content_rowid='id')")
    op.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")


def upgrade() -> None:
    _declare('"')


def downgrade() -> None:
    _declare("'")

"""name fusion: names that differ but denote one entity across documents

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:00:00.000000

``name_keys`` files every name under each run of its words and under its acronym, so that the longer names
holding a short one are an index probe away; ``name_redirects`` holds each short name that folds into a longer
one with the rule that decided it; ``fusion_vetoes`` the folds a user undid, and ``fusion_pins`` the folds a
judge (an LLM, with ``kg fuse``) made where the rules found the name ambiguous. A store made before this revision
has its names filed and its blocks re-resolved here.

``local_entity_counts`` gains ``is_title`` in its key: whether the locals are their document's "about" entity,
whose type the document's opening sentence gives, so that the block's clustering can weigh it.
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


_KEY = ("norm = old.norm AND type = old.type AND description = coalesce(old.description, '') AND name = old.name "
        "AND entity_id = coalesce(old.entity_id, 0) AND is_title = old.is_title")
_ADD = ("INSERT INTO local_entity_counts VALUES (new.norm, new.type, coalesce(new.description, ''), new.name, "
        "coalesce(new.entity_id, 0), new.is_title, 1) ON CONFLICT DO UPDATE SET n = n + 1;")
_TAKE = (f"UPDATE local_entity_counts SET n = n - 1 WHERE {_KEY}; "
         f"DELETE FROM local_entity_counts WHERE {_KEY} AND n = 0;")


def _counts(with_title: bool) -> None:
    for event in ("ins", "del", "upd"):
        op.execute(f"DROP TRIGGER IF EXISTS local_entity_counts_{event}")
    op.execute("DROP TABLE local_entity_counts")
    title = ", is_title" if with_title else ""
    op.execute("CREATE TABLE local_entity_counts (norm VARCHAR NOT NULL, type VARCHAR(32) NOT NULL, "
               "description TEXT NOT NULL, name VARCHAR NOT NULL, entity_id INTEGER NOT NULL, "
               f"{'is_title BOOLEAN NOT NULL, ' if with_title else ''}n INTEGER NOT NULL, "
               f"PRIMARY KEY (norm, type, description, name, entity_id{title})) WITHOUT ROWID")
    key, add, take = (_KEY, _ADD, _TAKE) if with_title else (
        _KEY.replace(" AND is_title = old.is_title", ""), _ADD.replace(", new.is_title", ""),
        _TAKE.replace(" AND is_title = old.is_title", ""))
    op.execute(f"CREATE TRIGGER local_entity_counts_ins AFTER INSERT ON local_entities BEGIN {add} END")
    op.execute(f"CREATE TRIGGER local_entity_counts_del AFTER DELETE ON local_entities BEGIN {take} END")
    op.execute("CREATE TRIGGER local_entity_counts_upd AFTER UPDATE OF norm, type, description, name, entity_id, "
               f"is_title ON local_entities BEGIN {take} {add} END")
    group = "1, 2, 3, 4, 5, 6" if with_title else "1, 2, 3, 4, 5"
    op.execute(f"INSERT INTO local_entity_counts SELECT norm, type, coalesce(description, ''), name, "
               f"coalesce(entity_id, 0){title}, count(*) FROM local_entities GROUP BY {group}")


def upgrade() -> None:
    _counts(with_title=True)
    op.execute("CREATE TABLE name_keys (part VARCHAR NOT NULL, kind VARCHAR(1) NOT NULL, norm VARCHAR NOT NULL, "
               "PRIMARY KEY (part, kind, norm)) WITHOUT ROWID")
    op.execute("CREATE INDEX ix_name_keys_norm ON name_keys (norm)")
    op.execute("CREATE TABLE name_redirects (norm VARCHAR NOT NULL PRIMARY KEY, target VARCHAR NOT NULL, "
               "rule VARCHAR(16) NOT NULL, candidates INTEGER NOT NULL) WITHOUT ROWID")
    op.execute("CREATE INDEX ix_name_redirects_target ON name_redirects (target)")
    op.execute("CREATE TABLE fusion_vetoes (norm VARCHAR NOT NULL, target VARCHAR NOT NULL, "
               "created_at DATETIME NOT NULL, PRIMARY KEY (norm, target)) WITHOUT ROWID")
    op.execute("CREATE TABLE fusion_pins (norm VARCHAR NOT NULL PRIMARY KEY, target VARCHAR NOT NULL, "
               "source VARCHAR NOT NULL, created_at DATETIME NOT NULL) WITHOUT ROWID")
    from store.resolve import resolve_blocks

    conn = op.get_bind()
    norms = [n for (n,) in conn.exec_driver_sql("SELECT DISTINCT norm FROM local_entity_counts")]
    if norms:
        resolve_blocks(conn, norms)


def downgrade() -> None:
    _counts(with_title=False)
    op.execute("DROP TABLE fusion_pins")
    op.execute("DROP TABLE fusion_vetoes")
    op.execute("DROP TABLE name_redirects")
    op.execute("DROP TABLE name_keys")

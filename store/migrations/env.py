"""Alembic environment: runs on the connection that ``store.db.migrate`` hands over."""

from alembic import context

from store.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # command-line use: alembic -x db=path/to/kg.db upgrade head
    from store.db import make_engine

    db = context.get_x_argument(as_dictionary=True).get("db", "kg.db")
    connection = make_engine(db).connect()



def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """What autogenerate and ``alembic check`` compare: not the full-text index (an FTS5 virtual table and its
    shadow tables, made by migration 0003, not a model), and not the ``local_id`` foreign keys that migration
    0003 added with ALTER TABLE: SQLite keeps their ON DELETE CASCADE (``PRAGMA foreign_key_list`` shows it),
    but SQLAlchemy's reflection does not read it from a column constraint."""
    if type_ == "table" and name is not None and name.startswith("chunks_fts"):
        return False
    return not (type_ == "foreign_key_constraint" and [c.name for c in obj.columns] == ["local_id"])


context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  include_object=include_object)
with context.begin_transaction():
    context.run_migrations()

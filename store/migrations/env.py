"""Alembic environment: runs on the connection that ``store.db.migrate`` hands over."""

from alembic import context

from store.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # command-line use: alembic -x db=path/to/kg.db upgrade head
    from store.db import make_engine

    db = context.get_x_argument(as_dictionary=True).get("db", "kg.db")
    connection = make_engine(db).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

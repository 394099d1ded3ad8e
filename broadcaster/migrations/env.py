"""Alembic environment: the engine comes from ``broadcaster.db.migrate`` (or a URL for the CLI)."""

from alembic import context
from sqlmodel import SQLModel

import broadcaster.models  # noqa: F401 - registers the tables on SQLModel.metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from broadcaster.db import make_engine

    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise SystemExit("alembic: set sqlalchemy.url, or run migrations through broadcaster (db.migrate)")
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

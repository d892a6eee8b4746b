"""Alembic environment: migrations always run on a connection handed in by ``feedback.migrate``.

There is no alembic.ini: ``migrate.alembic_config`` builds the configuration in code and puts
the open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from cds_service.feedback.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run feedback migrations through `cds-service db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment: the URL comes from the caller (`backend.db.migrate`) or from ShakeLab's settings."""

from alembic import context
from sqlalchemy import text

from backend.db import make_engine
from backend.models import Base
from backend.settings import get_settings

# Any fixed number: PostgreSQL advisory lock that serialises concurrent upgrades (api and workers starting).
MIGRATION_LOCK = 5_417_001


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


run_migrations()

"""The database schema's revision: check it, upgrade it (Alembic), adopt pre-migration databases.

The migrations live in ``rubric_app/migrations/versions/`` and ship with the package; Alembic is
configured here in code (there is no alembic.ini). The app refuses to start unless
:func:`check` passes; ``flask --app rubric_app db upgrade`` brings a database to the head revision.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
INITIAL_REVISION = "0001_initial_schema"
UPGRADE_COMMAND = "flask --app rubric_app db upgrade"
BACKUP_COMMAND = "flask --app rubric_app db backup FILE"


class SchemaError(Exception):
    """A database rubric cannot migrate safely; the message tells the operator what to do."""


class Migration(NamedTuple):
    """What :func:`upgrade` or :func:`downgrade` did."""

    #: the revision before (None: empty, or made before migrations)
    before: str | None
    after: str | None
    #: the revision a database made before migrations was recognised as and stamped at, if any
    adopted: str | None = None


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for rubric's migrations, on an open connection (or a URL)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The migration scripts (read once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this version of rubric needs, e.g. ``0002_record_versions``."""
    return script_directory().get_current_head()


def known_revisions() -> list[str]:
    """Every revision of this code, oldest first."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def current_revision(engine: Engine | Connection) -> str | None:
    """The database's revision (None when it has no ``alembic_version`` row)."""
    if isinstance(engine, Connection):
        return MigrationContext.configure(engine).get_current_revision()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def app_tables() -> set[str]:
    """The names of every table some revision of rubric creates."""
    names: set[str] = set()
    for revision in known_revisions():
        names |= set(revision_columns(revision))
    return names


def _table_columns(conn: Connection, tables: set[str] | None = None) -> dict[str, set[str]]:
    inspector = inspect(conn)
    return {name: {col["name"] for col in inspector.get_columns(name)}
            for name in inspector.get_table_names() if tables is None or name in tables}


@functools.cache
def revision_columns(revision: str) -> dict[str, frozenset[str]]:
    """Table name -> column names of the schema at ``revision`` (built once in an in-memory SQLite)."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
            columns = _table_columns(conn)
    finally:
        engine.dispose()
    columns.pop(VERSION_TABLE, None)
    return {name: frozenset(cols) for name, cols in columns.items()}


def check(engine: Engine) -> str | None:
    """None when the database is at the head revision, else one line telling the operator what to run."""
    with engine.connect() as conn:
        current = current_revision(conn)
        present = set(inspect(conn).get_table_names()) & app_tables() if current is None else set()
    head = head_revision()
    if current == head:
        return None
    if current is None and not present:
        return f"The database has no tables yet: run '{UPGRADE_COMMAND}'."
    if current is None:
        return (f"The database has rubric's tables but no schema revision (it was made before migrations): "
                f"run '{UPGRADE_COMMAND}' to adopt it (back up first: '{BACKUP_COMMAND}').")
    if current not in known_revisions():
        return (f"The database schema is at revision {current}, which this version of rubric does not know "
                f"(it needs {head}): run the rubric version that made it, or restore a backup taken for this version.")
    return (f"The database schema is at revision {current} but this version of rubric needs {head}: "
            f"run '{UPGRADE_COMMAND}' (back up first: '{BACKUP_COMMAND}').")


@contextmanager
def _migration_connection(engine_or_url: Engine | str) -> Iterator[Connection]:
    """A connection whose work commits as one transaction (on SQLite too, with foreign keys off meanwhile).

    SQLite rebuilds a table to drop or change a column ("batch" mode); with foreign keys on,
    dropping the old table would cascade into the rows that reference it.
    """
    from . import _normalise_db_url

    owned = isinstance(engine_or_url, str)
    engine = create_engine(_normalise_db_url(engine_or_url)) if owned else engine_or_url
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    if sqlite:
                        conn.exec_driver_sql("BEGIN")  # pysqlite would otherwise run each DDL statement on its own
                    yield conn
            finally:
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
                    conn.commit()
    finally:
        if owned:
            engine.dispose()


def _adoptable_revision(conn: Connection) -> str:
    """The revision a database made by ``create_all`` (no ``alembic_version``) matches exactly.

    Raises :class:`SchemaError` naming what is missing or unexpected when it matches none.
    """
    found = _table_columns(conn, app_tables())
    for revision in reversed(known_revisions()):
        expected = revision_columns(revision)
        if found == expected:
            return revision
    expected = revision_columns(INITIAL_REVISION)
    missing = [f"table {t}" for t in sorted(set(expected) - set(found))]
    missing += [f"{t}.{c}" for t in sorted(set(expected) & set(found)) for c in sorted(expected[t] - found[t])]
    unexpected = [f"{t}.{c}" for t in sorted(found) for c in sorted(found[t] - expected.get(t, frozenset()))
                  if t in expected]
    unexpected += [f"table {t}" for t in sorted(set(found) - set(expected))]
    what = []
    if missing:
        what.append("missing " + ", ".join(missing))
    if unexpected:
        what.append("unexpected " + ", ".join(unexpected))
    raise SchemaError(
        f"The database has rubric's tables but no schema revision, and they do not match revision "
        f"{INITIAL_REVISION} ({'; '.join(what)}), so it cannot be upgraded safely. Back up its data "
        f"('{BACKUP_COMMAND}'), then start a new, empty database and run '{UPGRADE_COMMAND}'.")


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> Migration:
    """Upgrade the database to ``revision``; returns the revisions before and after.

    A database with rubric's tables but no ``alembic_version`` (made by ``create_all`` before
    migrations existed) is adopted when its tables and columns match a revision exactly: it is
    stamped at that revision, then upgraded. Otherwise :class:`SchemaError` explains what to do.
    """
    with _migration_connection(engine_or_url) as conn:
        before = current_revision(conn)
        adopted = None
        if before is None and set(inspect(conn).get_table_names()) & app_tables():
            adopted = _adoptable_revision(conn)
            command.stamp(alembic_config(conn), adopted)
        command.upgrade(alembic_config(conn), revision)
        after = current_revision(conn)
    return Migration(before, after, adopted)


def downgrade(engine_or_url: Engine | str, revision: str) -> Migration:
    """Downgrade the database to ``revision`` (what a revision cannot restore stays lost)."""
    with _migration_connection(engine_or_url) as conn:
        before = current_revision(conn)
        command.downgrade(alembic_config(conn), revision)
        after = current_revision(conn)
    return Migration(before, after)


def stamp(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Record ``revision`` as the database's revision without running any migration."""
    with _migration_connection(engine_or_url) as conn:
        command.stamp(alembic_config(conn), revision)


def is_empty(engine: Engine) -> bool:
    """True when the database has neither a revision nor any of rubric's tables."""
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    return VERSION_TABLE not in names and not names & app_tables()


def create_from_models(engine: Engine) -> None:
    """Create an empty database's tables straight from the models and stamp it at the head revision.

    For tests and throwaway databases: the autogenerate test guarantees that the models and the
    head revision agree. Refuses a database that is not empty.
    """
    from .models import Base

    if not is_empty(engine):
        raise SchemaError("create_from_models needs an empty database; upgrade existing ones with "
                          f"'{UPGRADE_COMMAND}'.")
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        MigrationContext.configure(conn).stamp(script_directory(), "head")


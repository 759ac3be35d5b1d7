"""Extensions, each wired to the app with ``init_app``."""
from __future__ import annotations

from flask import Flask, current_app, g
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()


class Database:
    """One engine per app (kept in ``app.extensions``) and one session per request."""

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        kwargs: dict = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
        app.extensions["rubric_db"] = (engine, sessionmaker(engine, expire_on_commit=False))
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["rubric_db"][0]

    def new_session(self) -> Session:
        """A session of its own (for commands and scripts); the caller closes it."""
        return current_app.extensions["rubric_db"][1]()

    @property
    def session(self) -> Session:
        """The request's session (created on first use, closed at teardown)."""
        if "db_session" not in g:
            g.db_session = self.new_session()
        return g.db_session

    def _close(self, exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    def create_all(self) -> None:
        """Create an EMPTY database's tables from the models, stamped at the head revision (tests only).

        Real databases are made and upgraded by migrations: ``flask --app rubric_app db upgrade``.
        """
        from .schema import create_from_models

        create_from_models(self.engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


db = Database()

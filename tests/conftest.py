"""Fixtures: an app per test on SQLite (or on PostgreSQL when DATABASE_URL names one), factories."""
from __future__ import annotations

import os
import re

import pytest

from rubric_app import create_app
from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.extensions import db
from rubric_app.models import Base

PG_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith(("postgresql", "postgres://"))
PASSWORD = "correct-horse-1"


def pytest_report_header(config):
    if ON_POSTGRES:
        return f"database: PostgreSQL ({re.sub(r'//[^@]*@', '//***@', PG_URL)})"
    return "database: SQLite (set DATABASE_URL=postgresql+psycopg://user@host/db to run the suite and the PostgreSQL tests on PostgreSQL)"


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="PostgreSQL-specific: set DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test to run it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Cheap password hashes for speed (scrypt costs ~0.1 s per hash and per check)."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from rubric_app.services import accounts

    monkeypatch.setattr(accounts, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1000"))


def make_app(tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": PG_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'test.db'}",
        "REPORTS_DIR": str(tmp_path / "reports"),
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
        # an empty database gets the tables from the models, stamped at the head revision
        "DATABASE_AUTO_CREATE": True,
        # messages (confirmation, reset and invitation links) land in app.extensions["mail_outbox"]
        "MAIL_BACKEND": "memory",
    }
    config.update(overrides)
    if ON_POSTGRES:
        drop_everything(config["DATABASE_URL"])
    return create_app(config)


def drop_everything(url):
    """Drop rubric's tables and alembic_version (PostgreSQL: the tests share one database)."""
    from sqlalchemy import create_engine, inspect, text

    from rubric_app.schema import app_tables

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
            for name in sorted(app_tables() & set(inspect(conn).get_table_names())):  # tables only older revisions have
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"{cascade}'))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()


def _stop_jobs(application):
    """Let job threads still running finish before the database goes away."""
    runner = application.extensions.get("jobs")
    if hasattr(runner, "shutdown"):
        runner.shutdown()


@pytest.fixture
def app(tmp_path):
    application = make_app(tmp_path)
    yield application
    _stop_jobs(application)
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def csrf_app(tmp_path):
    """An app with CSRF protection on, as in production."""
    application = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def registry(app):
    return app.extensions["instruments"]


@pytest.fixture
def rubric(registry):
    return registry.latest("ifp-migrant-inclusion")


class Factory:
    """Builds institutions, users and assessments through the service layer."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    def _session(self):
        return db.new_session()

    def institution(self, name=None, country="PE", **kw):
        from rubric_app.services import accounts

        self.count += 1
        with self.app.app_context():
            s = self._session()
            inst = accounts.create_institution(s, name=name or f"Institución {self.count}", country=country,
                                               city=kw.get("city", "Lima"), type=kw.get("type", "training_centre"),
                                               sector=kw.get("sector", "public"))
            s.commit()
            s.close()
        return inst

    def user(self, role="member", institution=None, email=None, country="PE"):
        from rubric_app.services import accounts

        self.count += 1
        if role == "member" and institution is None:
            institution = self.institution(country=country)
        with self.app.app_context():
            s = self._session()
            inst = s.merge(institution) if institution is not None else None
            user = accounts.create_user(s, email=email or f"{role}{self.count}@example.org", password=PASSWORD, role=role,
                                        institution=inst)
            s.commit()
            s.close()
        return user

    def token(self, user):
        from rubric_app.services import accounts

        with self.app.app_context():
            s = self._session()
            token = accounts.issue_token(s, s.merge(user))
            s.close()
        return token

    def assessment(self, user, levels=None, submit=False, language="es", na=()):
        """A draft (or submitted) assessment; ``levels`` is one level for all, or a dict by criterion."""
        from rubric_app.services import assessments as svc

        with self.app.app_context():
            s = self._session()
            registry = self.app.extensions["instruments"]
            u = s.merge(user)
            a = svc.start_assessment(s, registry, u, instrument_id="ifp-migrant-inclusion", language=language)
            if levels is not None:
                rubric = svc.rubric_for(registry, a)
                answers = []
                for crit in rubric.criteria:
                    if crit.id in na:
                        answers.append(CriterionAnswer(crit.id, None, True, "No aplica"))
                        continue
                    level = levels.get(crit.id) if isinstance(levels, dict) else levels
                    if level is not None:
                        answers.append(CriterionAnswer(crit.id, level, False, "", None, f"evidence {crit.id}"))
                svc.save_answers(s, registry, u, a, answers)
            if submit:
                svc.submit(s, registry, u, a)
            assessment_id = a.id
            s.close()
        return assessment_id


@pytest.fixture
def factory(app):
    return Factory(app)


def login(client, user_or_email, password=PASSWORD):
    email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.data[:500]
    return response


@pytest.fixture
def login_as(client):
    return lambda user: login(client, user)

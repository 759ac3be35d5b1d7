"""Schema migrations: data survives upgrades, models and head agree, stale schemas are refused,
pre-migration databases are adopted, and backups restore.

Tests that take ``db_url`` run on SQLite, or on PostgreSQL when DATABASE_URL names it.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, UniqueConstraint, create_engine, inspect, select, text

from rubric_app import PROJECT_ROOT, create_app, schema
from rubric_app.cli import db_cli
from rubric_app.extensions import db
from rubric_app.models import Assessment, Base, Institution, PlanEdit, Provider, SelectionRound
from tests.conftest import ON_POSTGRES, PG_URL, drop_everything

INITIAL, RECORD_VERSIONS, ACCOUNTS, LETTER_TERMS = "0001_initial_schema", "0002_record_versions", "0003_accounts_and_sessions", "0004_letter_terms"
PROVIDER_SEARCH, JOBS, PENDING_UPLOADS = "0005_provider_search_and_archive", "0006_jobs", "0007_pending_uploads"
HEAD = "0010_change_stamps"
LETTER_TERM_DEFAULTS = {"letter_months": 24, "courses_per_year": 4, "women_share": 60, "facilitators": 2}
VERSIONED = ("assessments", "answers", "plan_items", "providers", "selection_rounds")
UPGRADE_HINT = ("run 'flask --app rubric_app db upgrade' (back up first: 'flask --app rubric_app db backup FILE').")


@pytest.fixture
def db_url(tmp_path):
    """An empty database: a new SQLite file, or the shared PostgreSQL database emptied before and after."""
    if ON_POSTGRES:
        drop_everything(PG_URL)
        yield PG_URL
        drop_everything(PG_URL)
    else:
        yield f"sqlite:///{tmp_path / 'rubric.db'}"


@pytest.fixture
def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def app_config(url, tmp_path, **overrides):
    config = {"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": url, "REPORTS_DIR": str(tmp_path / "reports"),
              "WTF_CSRF_ENABLED": False}
    config.update(overrides)
    return config


def dispose(app):
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- data at revision 0001

T0 = datetime(2025, 3, 4, 10, 30, tzinfo=timezone.utc)
T1 = datetime(2025, 3, 5, 16, 45, 12, tzinfo=timezone.utc)
SCORES = {"policy": "2.67", "index": 41.7}

ROWS_0001 = {
    "institutions": [
        dict(id=1, name="CETPRO Ejemplo Lima", name_key="cetpro ejemplo lima", country="PE", city="Lima", type="training_centre",
             sector="public", synthetic=False, created_at=T0),
        dict(id=2, name="Instituto Técnico del Sur", name_key="instituto técnico del sur", country="AR", city="Rosario",
             type="technical_institute", sector="private", synthetic=True, created_at=T1),
    ],
    "users": [
        dict(id=1, email="ana@cetpro.example", name="Ana Quispe", password_hash="pbkdf2:sha256:1000$x$y", role="member",
             institution_id=1, locale="es", active=True, created_at=T0),
        dict(id=2, email="rev@cinterfor.example", name="Rita Revisora", password_hash="pbkdf2:sha256:1000$a$b", role="reviewer",
             institution_id=None, locale=None, active=True, created_at=T0),
        dict(id=3, email="staff@oit.example", name="", password_hash="h", role="staff", institution_id=None, locale="pt",
             active=False, created_at=T1),
    ],
    "api_tokens": [
        dict(id=1, user_id=1, name="cli", token_hash="f" * 64, prefix="rbk_abcd", created_at=T0, last_used_at=T1, revoked_at=None),
    ],
    "assessments": [
        dict(id=1, institution_id=1, instrument_id="ifp-migrant-inclusion", instrument_version="1.0", instrument_hash="a" * 64,
             language="es", status="validated", round_number=1, previous_id=None, created_by_id=1, created_at=T0, updated_at=T1,
             submitted_at=T1, self_scores=SCORES, validated_scores={"index": 40.0}, level_pairs={"policy": [[3, 2], [4, 4]]},
             reviewed_by_id=2, reviewed_at=T1),
        dict(id=2, institution_id=1, instrument_id="ifp-migrant-inclusion", instrument_version="1.0", instrument_hash="a" * 64,
             language="pt", status="draft", round_number=2, previous_id=1, created_by_id=1, created_at=T1, updated_at=T1,
             submitted_at=None, self_scores=None, validated_scores=None, level_pairs=None, reviewed_by_id=None, reviewed_at=None),
    ],
    "answers": [
        # level 3, target 4 = the default: becomes NULL
        dict(id=1, assessment_id=1, criterion_id="policy_target_population", level=3, not_applicable=False, na_reason="", target=4,
             evidence="Plan institucional 2024", validated_level=2, review_comment="Falta evidencia", updated_at=T0),
        # level 5, target 5 = the default (capped at 5): becomes NULL
        dict(id=2, assessment_id=1, criterion_id="policy_equal_treatment", level=5, not_applicable=False, na_reason="", target=5,
             evidence="", validated_level=5, review_comment="", updated_at=T0),
        # an explicit target: stays
        dict(id=3, assessment_id=1, criterion_id="access_outreach", level=2, not_applicable=False, na_reason="", target=5,
             evidence="Convenio con ACNUR", validated_level=None, review_comment="", updated_at=T1),
        # target equal to the level (no plan item): stays
        dict(id=4, assessment_id=2, criterion_id="policy_target_population", level=4, not_applicable=False, na_reason="", target=4,
             evidence="", validated_level=None, review_comment="", updated_at=T1),
        # not applicable: no level, no target
        dict(id=5, assessment_id=2, criterion_id="access_outreach", level=None, not_applicable=True, na_reason="No ofrecemos cursos",
             target=None, evidence="", validated_level=None, review_comment="", updated_at=T1),
        # no level yet but a target: stays
        dict(id=6, assessment_id=2, criterion_id="policy_equal_treatment", level=None, not_applicable=False, na_reason="", target=3,
             evidence="", validated_level=None, review_comment="", updated_at=T1),
    ],
    "review_events": [
        dict(id=1, assessment_id=1, user_id=1, action="submitted", comment="", at=T0),
        dict(id=2, assessment_id=1, user_id=2, action="validated", comment="Bien documentado", at=T1),
    ],
    "plan_items": [
        dict(id=1, assessment_id=1, criterion_id="policy_target_population", responsible="Dirección académica",
             due_date=date(2025, 12, 31), status="in_progress", note="Revisar reglamento"),
        dict(id=2, assessment_id=1, criterion_id="access_outreach", responsible="", due_date=None, status="todo", note=""),
    ],
    "audit_log": [
        dict(id=1, at=T0, user_id=1, assessment_id=1, criterion_id="policy_target_population", subject=None, field="level",
             old=None, new="3", comment=""),
        dict(id=2, at=T1, user_id=3, assessment_id=None, criterion_id=None, subject="round:1 provider:PE-001", field="selection",
             old="not selected", new="selected", comment="Única oferta en la región"),
    ],
    "providers": [
        dict(id=1, code="PE-001", name="Consultora Andina SAC", country="PE", city="Cusco", type="private_firm", contact_name="Luis",
             contact_email="luis@andina.example", contact_phone="+51 84 000000", facts={"legal_registration": "yes"},
             item_scores={"exp_1": 3, "exp_2": None}, synthetic=False, created_at=T0, updated_at=T1),
    ],
    "selection_rounds": [
        dict(id=1, name="Ronda 2025", instrument_id="sde-providers", instrument_version="1.0", instrument_hash="b" * 64,
             settings={"rule": "quota", "default_quota": 10, "draws": 1000, "seed": 7}, inputs=[{"code": "PE-001"}],
             results=[{"code": "PE-001", "selected": True}], status="frozen", created_by_id=3, created_at=T0, run_at=T1, frozen_at=T1),
    ],
    "selection_overrides": [
        dict(id=1, round_id=1, provider_code="PE-001", selected=True, rationale="Única oferta en la región", user_id=3, at=T1),
    ],
}
DEFAULT_TARGET_ANSWERS = {1, 2}


def reflected(conn) -> MetaData:
    meta = MetaData()
    meta.reflect(conn)
    return meta


def insert_rows(engine, rows=ROWS_0001):
    with engine.begin() as conn:
        tables = reflected(conn).tables
        for name, table_rows in rows.items():  # in foreign-key order
            conn.execute(tables[name].insert(), table_rows)
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for name in rows:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))


def all_rows(engine) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        tables = reflected(conn).tables
        return {name: [dict(row._mapping) for row in conn.execute(select(tables[name]).order_by(tables[name].c.id))]
                for name in ROWS_0001}


def test_upgrade_from_0001_keeps_every_row(engine, db_url, tmp_path):
    schema.upgrade(engine, INITIAL)
    assert schema.current_revision(engine) == INITIAL
    insert_rows(engine)
    before = all_rows(engine)
    assert all(len(before[name]) == len(rows) for name, rows in ROWS_0001.items())

    result = schema.upgrade(engine)
    assert (result.before, result.after, result.adopted) == (INITIAL, HEAD, None)
    after = all_rows(engine)
    assert {a["id"]: a["target"] for a in after["answers"]} == {1: None, 2: None, 3: 5, 4: 4, 5: None, 6: 3}
    for name, rows in before.items():
        for old, new in zip(rows, after[name], strict=True):
            if name in VERSIONED or name in ("users", "institutions"):
                assert new.pop("version") == 1, (name, new)
            if name == "institutions":  # 0010: their latest change is their creation
                assert new.pop("updated_at") == old["created_at"]
            if name == "users":  # 0003: sessions start at generation 0, no password change recorded yet
                assert (new.pop("session_generation"), new.pop("password_changed_at")) == (0, None)
            if name == "providers":  # 0004: no legal representative recorded yet; 0005: search key filled, not archived
                assert (new.pop("legal_representative"), new.pop("legal_representative_position")) == ("", "")
                assert new.pop("archived_at") is None and new.pop("search_key").startswith(old["code"].casefold())
            if name == "selection_rounds":  # 0004: the letters' default term and targets
                assert {k: new.pop(k) for k in LETTER_TERM_DEFAULTS} == LETTER_TERM_DEFAULTS
            if name == "answers" and old["id"] in DEFAULT_TARGET_ANSWERS:
                old = old | {"target": None}
            assert new == old, name

    # the app starts on the upgraded database and reads the rows through the models
    app = create_app(app_config(db_url, tmp_path))
    try:
        with app.app_context():
            s = db.new_session()
            assessment = s.get(Assessment, 1)
            assert assessment.version == 1 and assessment.self_scores == SCORES and assessment.institution.name == "CETPRO Ejemplo Lima"
            assert assessment.submitted_at.replace(tzinfo=timezone.utc) == T1
            assert [(a.criterion_id, a.level, a.target) for a in sorted(assessment.answers, key=lambda a: a.id)] == [
                ("policy_target_population", 3, None), ("policy_equal_treatment", 5, None), ("access_outreach", 2, 5)]
            assert s.get(PlanEdit, 1).due_date == date(2025, 12, 31)
            s.close()
    finally:
        dispose(app)


def test_downgrade_to_0001_puts_targets_and_columns_back(engine):
    schema.upgrade(engine, INITIAL)
    insert_rows(engine)
    before = all_rows(engine)
    schema.upgrade(engine)
    result = schema.downgrade(engine, INITIAL)
    assert (result.before, result.after) == (HEAD, INITIAL)
    with engine.connect() as conn:
        inspector = inspect(conn)
        for name in VERSIONED:
            assert "version" not in {c["name"] for c in inspector.get_columns(name)}
        # the rebuilt SQLite tables keep their indexes, unique constraints and foreign keys
        assert {i["name"] for i in inspector.get_indexes("answers")} >= {"ix_answers_assessment_id"}
        assert {fk["referred_table"] for fk in inspector.get_foreign_keys("answers")} == {"assessments"}
    assert all_rows(engine) == before
    schema.upgrade(engine)
    assert schema.current_revision(engine) == HEAD


def test_upgrade_from_0003_to_0004_keeps_data_and_adds_the_letter_terms(engine, db_url, tmp_path):
    schema.upgrade(engine, ACCOUNTS)
    insert_rows(engine)
    before = all_rows(engine)
    result = schema.upgrade(engine, LETTER_TERMS)
    assert (result.before, result.after) == (ACCOUNTS, LETTER_TERMS)
    after = all_rows(engine)
    for name, rows in before.items():
        for old, new in zip(rows, after[name], strict=True):
            if name == "providers":
                assert (new.pop("legal_representative"), new.pop("legal_representative_position")) == ("", "")
            if name == "selection_rounds":
                assert {k: new.pop(k) for k in LETTER_TERM_DEFAULTS} == LETTER_TERM_DEFAULTS
            assert new == old, name
    # the app reads and writes the new columns through the models, with the version counter working
    schema.upgrade(engine)
    app = create_app(app_config(db_url, tmp_path))
    try:
        with app.app_context():
            s = db.new_session()
            provider, rnd = s.get(Provider, 1), s.get(SelectionRound, 1)
            assert (provider.legal_representative, provider.version) == ("", 1)
            assert (rnd.letter_months, rnd.courses_per_year, rnd.women_share, rnd.facilitators, rnd.version) == (24, 4, 60, 2, 1)
            provider.legal_representative = "Rosa Huamán"
            s.commit()
            assert provider.version == 2
            s.close()
    finally:
        dispose(app)
    # and back: 0003 without the columns, every row as it was
    schema.downgrade(engine, ACCOUNTS)
    with engine.connect() as conn:
        assert "legal_representative" not in {c["name"] for c in inspect(conn).get_columns("providers")}
        assert "women_share" not in {c["name"] for c in inspect(conn).get_columns("selection_rounds")}


# --------------------------------------------------------------------------- models and head agree

def differences(engine, metadata=Base.metadata):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def test_upgrade_from_0005_to_0006_keeps_every_row_and_adds_an_empty_jobs_table(engine):
    schema.upgrade(engine, INITIAL)
    insert_rows(engine)
    schema.upgrade(engine, PROVIDER_SEARCH)
    before = all_rows(engine)
    result = schema.upgrade(engine, JOBS)
    assert (result.before, result.after) == (PROVIDER_SEARCH, JOBS)
    after = all_rows(engine)
    assert {name: rows for name, rows in after.items() if name in before} == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 0
    assert schema.downgrade(engine, PROVIDER_SEARCH).after == PROVIDER_SEARCH
    with engine.connect() as conn:
        assert "jobs" not in inspect(conn).get_table_names()
    assert all_rows(engine) == before


def test_upgrade_from_0006_to_0007_keeps_every_row_and_adds_an_empty_pending_uploads_table(engine):
    schema.upgrade(engine, INITIAL)
    insert_rows(engine)
    schema.upgrade(engine, JOBS)
    before = all_rows(engine)
    result = schema.upgrade(engine, PENDING_UPLOADS)
    assert (result.before, result.after) == (JOBS, PENDING_UPLOADS)
    after = all_rows(engine)
    assert {name: rows for name, rows in after.items() if name in before} == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pending_uploads")).scalar() == 0
    assert schema.downgrade(engine, JOBS).after == JOBS
    with engine.connect() as conn:
        assert "pending_uploads" not in inspect(conn).get_table_names()
    assert all_rows(engine) == before


def test_models_and_the_head_revision_agree(engine):
    schema.upgrade(engine)
    assert differences(engine) == []


def test_the_comparison_catches_missing_columns_tables_indexes_and_constraints(engine):
    schema.upgrade(engine)
    meta = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(meta)
    meta.tables["answers"].append_column(Column("confidence", Integer, nullable=True))
    Table("attachments", meta, Column("id", Integer, primary_key=True))
    Index("ix_answers_criterion_id", meta.tables["answers"].c.criterion_id)
    meta.tables["providers"].append_constraint(UniqueConstraint("name", "country", name="uq_provider_name_country"))
    meta.tables["plan_items"].c.responsible.type = String(300)
    kinds = {(diff[0] if isinstance(diff, tuple) else diff[0][0]) for diff in differences(engine, meta)}
    assert {"add_column", "add_table", "add_index", "add_constraint", "modify_type"} <= kinds


# --------------------------------------------------------------------------- the app refuses stale schemas

def test_create_app_refuses_a_database_at_0001(engine, db_url, tmp_path):
    schema.upgrade(engine, INITIAL)
    expected = (f"The database schema is at revision {INITIAL} but this version of rubric needs {HEAD}: " + UPGRADE_HINT)
    assert schema.check(engine) == expected
    with pytest.raises(RuntimeError) as info:
        create_app(app_config(db_url, tmp_path))
    assert str(info.value) == expected and "\n" not in str(info.value)
    with pytest.raises(RuntimeError, match=f"needs {HEAD}"):  # the test flag only creates empty databases
        create_app(app_config(db_url, tmp_path, DATABASE_AUTO_CREATE=True))


def test_create_app_refuses_an_empty_database_without_the_auto_create_flag(engine, db_url, tmp_path):
    with pytest.raises(RuntimeError) as info:
        create_app(app_config(db_url, tmp_path))
    assert str(info.value) == "The database has no tables yet: run 'flask --app rubric_app db upgrade'."
    assert inspect(engine).get_table_names() == []
    app = create_app(app_config(db_url, tmp_path, DATABASE_AUTO_CREATE=True))
    dispose(app)
    assert schema.current_revision(engine) == HEAD and schema.check(engine) is None


def test_create_app_without_the_check_starts_on_a_stale_schema(engine, db_url, tmp_path):
    schema.upgrade(engine, INITIAL)
    app = create_app(app_config(db_url, tmp_path), check_schema=False)
    dispose(app)


# --------------------------------------------------------------------------- databases made before migrations

def pre_migration_database(engine):
    """What create_all made before migrations existed: 0001's tables, no alembic_version."""
    schema.upgrade(engine, INITIAL)
    insert_rows(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


def test_upgrade_adopts_a_database_made_before_migrations(engine):
    pre_migration_database(engine)
    assert "no schema revision (it was made before migrations)" in schema.check(engine)
    result = schema.upgrade(engine)
    assert (result.before, result.after, result.adopted) == (None, HEAD, INITIAL)
    rows = all_rows(engine)
    assert len(rows["answers"]) == 6 and [r["version"] for r in rows["assessments"]] == [1, 1]
    assert differences(engine) == []


def test_adopting_refuses_a_database_that_does_not_match_0001(engine, db_url, tmp_path):
    pre_migration_database(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE answers DROP COLUMN evidence"))
        conn.execute(text("DROP TABLE selection_overrides"))
    with pytest.raises(schema.SchemaError) as info:
        schema.upgrade(engine)
    message = str(info.value)
    assert "missing table selection_overrides, answers.evidence" in message
    assert "db backup FILE" in message and "new, empty database" in message
    assert schema.current_revision(engine) is None
    assert "version" not in {c["name"] for c in inspect(engine).get_columns("assessments")}

    app = create_app(app_config(db_url, tmp_path), check_schema=False)
    try:
        result = app.test_cli_runner().invoke(db_cli, ["upgrade"])
    finally:
        dispose(app)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "answers.evidence" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- the db commands

def test_db_commands_on_a_stale_database(engine, db_url, tmp_path):
    schema.upgrade(engine, INITIAL)
    app = create_app(app_config(db_url, tmp_path), check_schema=False)
    runner = app.test_cli_runner()
    try:
        current = runner.invoke(db_cli, ["current"])
        assert current.exit_code == 0 and f"Revision: {INITIAL}\n" in current.output and f"needs {HEAD}" in current.output
        upgraded = runner.invoke(db_cli, ["upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert f"from {INITIAL} to {HEAD} (head)" in upgraded.output
        again = runner.invoke(db_cli, ["init"])
        assert again.exit_code == 0 and f"already at revision {HEAD} (head)" in again.output
        current = runner.invoke(db_cli, ["current"])
        assert f"Revision: {HEAD} (head)" in current.output and "The schema is current." in current.output
    finally:
        dispose(app)


def test_flask_resolves_db_without_loading_the_app(tmp_path):
    """`flask --app rubric_app db ...` works although the app itself refuses the empty database."""
    env = dict(os.environ, RUBRIC_INSTANCE_PATH=str(tmp_path / "instance"), DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    flask = [sys.executable, "-m", "flask", "--app", "rubric_app"]

    def run(*args):
        return subprocess.run([*flask, *args], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)

    refused = run("users", "token", "--email", "x@y.example")
    assert refused.returncode != 0 and "has no tables yet" in refused.stderr
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from an empty database to {HEAD} (head)" in upgraded.stdout
    assert f"Revision: {HEAD} (head)" in run("db", "current").stdout


# --------------------------------------------------------------------------- backup and restore

@pytest.fixture
def sqlite_app(tmp_path):
    """An app on a new SQLite file at head, whatever database the suite runs on."""
    app = create_app(app_config(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, DATABASE_AUTO_CREATE=True))
    yield app
    dispose(app)


def add_institution(app, name):
    with app.app_context():
        s = db.new_session()
        s.add(Institution(name=name, name_key=name.casefold(), country="PE", type="ngo", sector="private"))
        s.commit()
        s.close()


def institution_names(app):
    with app.app_context():
        s = db.new_session()
        names = sorted(s.scalars(select(Institution.name)))
        s.close()
    return names


def test_sqlite_backup_and_restore_round_trip(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    add_institution(sqlite_app, "Fundación Antes")
    backup = tmp_path / "backups" / "rubric-2025-03-04.db"
    backup.parent.mkdir()
    made = runner.invoke(db_cli, ["backup", str(backup)])
    assert made.exit_code == 0, made.output
    assert f"(revision {HEAD}) to {backup}" in made.output
    assert backup.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in backup.parent.iterdir()) == [backup.name]  # no -wal, no partial file left
    refused = runner.invoke(db_cli, ["backup", str(backup)])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert runner.invoke(db_cli, ["backup", "--force", str(backup)]).exit_code == 0

    add_institution(sqlite_app, "Fundación Después")
    assert institution_names(sqlite_app) == ["Fundación Antes", "Fundación Después"]
    unconfirmed = runner.invoke(db_cli, ["restore", str(backup)], input="n\n")
    assert unconfirmed.exit_code == 1 and institution_names(sqlite_app) == ["Fundación Antes", "Fundación Después"]
    restored = runner.invoke(db_cli, ["restore", str(backup), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "no upgrade needed" in restored.output
    assert institution_names(sqlite_app) == ["Fundación Antes"]
    add_institution(sqlite_app, "Fundación Nueva")  # the live database still works, foreign keys and all
    assert institution_names(sqlite_app) == ["Fundación Antes", "Fundación Nueva"]


def test_sqlite_restore_refuses_files_that_are_not_rubric_backups(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    add_institution(sqlite_app, "Queda")
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database\n" * 10)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    future = tmp_path / "future.db"
    with sqlite3.connect(future) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0099_from_the_future')")
    conn.close()
    for path, message in ((text_file, "is not an SQLite database"), (other, "has no schema revision"),
                          (future, "revision 0099_from_the_future, which this version of rubric does not know")):
        result = runner.invoke(db_cli, ["restore", str(path), "--yes"])
        assert result.exit_code == 1 and message in result.output and "nothing was restored" in result.output, result.output
    assert institution_names(sqlite_app) == ["Queda"]


def test_restoring_an_older_backup_says_to_upgrade(sqlite_app, tmp_path):
    old = tmp_path / "old.db"
    schema.upgrade(f"sqlite:///{old}", INITIAL)
    result = sqlite_app.test_cli_runner().invoke(db_cli, ["restore", str(old), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"(revision {INITIAL})" in result.output and "run 'flask --app rubric_app db upgrade'" in result.output


@pytest.mark.postgres
def test_postgresql_backup_and_restore_round_trip(app, tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed (apt-get install postgresql-client)")
    runner = app.test_cli_runner()
    add_institution(app, "Instituto Antes")
    backup = tmp_path / "rubric.dump"
    made = runner.invoke(db_cli, ["backup", str(backup)])
    assert made.exit_code == 0, made.output
    assert f"(revision {HEAD})" in made.output and backup.stat().st_mode & 0o777 == 0o600
    add_institution(app, "Instituto Después")
    (tmp_path / "junk.dump").write_text("junk")
    junk = runner.invoke(db_cli, ["restore", str(tmp_path / "junk.dump"), "--yes"])
    assert junk.exit_code == 1 and "not a pg_dump archive" in junk.output
    restored = runner.invoke(db_cli, ["restore", str(backup), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "no upgrade needed" in restored.output
    assert institution_names(app) == ["Instituto Antes"]
    add_institution(app, "Instituto Nuevo")  # sequences came back too
    assert institution_names(app) == ["Instituto Antes", "Instituto Nuevo"]
    with app.app_context():
        assert differences(db.engine) == []


def test_migrations_ship_with_the_package():
    setup = (PROJECT_ROOT / "setup.cfg").read_text()
    assert "migrations/versions/*.py" in setup and "alembic>=" in setup
    assert schema.known_revisions() == [INITIAL, RECORD_VERSIONS, ACCOUNTS, LETTER_TERMS, PROVIDER_SEARCH, JOBS, PENDING_UPLOADS,
                                        "0008_score_columns", "0009_score_tokens", HEAD]
    assert schema.head_revision() == HEAD
    assert (schema.MIGRATIONS / "env.py").exists()
    assert not (PROJECT_ROOT / "alembic.ini").exists()

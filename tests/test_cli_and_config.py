"""Commands, first-start configuration, and refusing broken definitions."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rubric_app import PROJECT_ROOT, create_app, schema
from rubric_app.cli import DEMO_ACCOUNTS, DEMO_PASSWORD, rubrics_cli
from rubric_app.domain.instruments import DefinitionError
from rubric_app.extensions import db
from rubric_app.models import Assessment, Institution, User

RUBRIC_FILE = PROJECT_ROOT / "rubric_defs" / "ifp_inclusion" / "1.0.yaml"


def broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "defs" / "ifp"
    folder.mkdir(parents=True)
    text = RUBRIC_FILE.read_text(encoding="utf-8")
    text = text.replace("id: policy_equal_treatment", "id: policy_target_population", 1)
    (folder / "1.0.yaml").write_text(text, encoding="utf-8")
    return folder / "1.0.yaml"


def test_validate_command_accepts_the_shipped_rubric():
    from click.testing import CliRunner

    result = CliRunner().invoke(rubrics_cli, ["validate"])
    assert result.exit_code == 0, result.output
    assert "ifp-migrant-inclusion 1.0" in result.output and "18 criteria" in result.output


def test_validate_command_reports_file_and_path_and_fails(tmp_path):
    from click.testing import CliRunner

    broken = broken_copy(tmp_path)
    result = CliRunner().invoke(rubrics_cli, ["validate", str(broken.parent)])
    assert result.exit_code == 1
    assert f"{broken}: /dimensions/0/criteria/1/id: duplicate criterion id 'policy_target_population'" in result.output


def test_app_refuses_a_broken_definition_with_the_same_message(tmp_path):
    broken = broken_copy(tmp_path)
    with pytest.raises(DefinitionError) as info:
        create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "RUBRIC_DEFS": str(broken.parent)})
    assert f"{broken}: /dimensions/0/criteria/1/id: duplicate criterion id" in str(info.value)


def test_first_start_writes_a_random_secret_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RUBRIC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/first.db")
    schema.upgrade(f"sqlite:///{tmp_path}/first.db")  # what 'flask --app rubric_app db upgrade' does
    app1 = create_app()
    config = (tmp_path / "instance" / "config.py").read_text()
    key = re.search(r"SECRET_KEY = '([0-9a-f]{64})'", config).group(1)
    assert app1.config["SECRET_KEY"] == key
    app2 = create_app()
    assert app2.config["SECRET_KEY"] == key
    assert (tmp_path / "instance" / "config.py").stat().st_mode & 0o077 == 0
    for app in (app1, app2):
        with app.app_context():
            db.engine.dispose()


def test_no_secret_no_start(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SECRET_KEY": "", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def count(app, model, *where):
    with app.app_context():
        s = db.new_session()
        n = s.scalar(select(func.count()).select_from(model).where(*where))
        s.close()
    return n


def test_users_create_makes_the_institution_once_and_refuses_bad_input(app):
    runner = app.test_cli_runner()
    args = ["users", "create", "--email", "ana@ifp.example", "--password", "long-enough-1", "--role", "member",
            "--institution", "SENA Demo", "--country", "co"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "Created institution SENA Demo (CO)" in result.output
    result = runner.invoke(args=args[:2] + ["--email", "luis@ifp.example"] + args[4:])
    assert result.exit_code == 0 and "Created institution" not in result.output
    assert count(app, Institution) == 1 and count(app, User) == 2
    assert runner.invoke(args=args).exit_code != 0  # duplicate e-mail
    bad_country = runner.invoke(args=["users", "create", "--email", "x@y.example", "--password", "long-enough-1", "--role", "member",
                                      "--institution", "Otra", "--country", "QQ"])
    assert bad_country.exit_code != 0 and "ISO 3166" in bad_country.output
    no_inst = runner.invoke(args=["users", "create", "--email", "m@y.example", "--password", "long-enough-1", "--role", "member"])
    assert no_inst.exit_code != 0
    short = runner.invoke(args=["users", "create", "--email", "r@y.example", "--password", "short", "--role", "reviewer"])
    assert short.exit_code != 0 and "at least 12" in short.output
    assert count(app, User) == 2


def test_users_token_prints_a_working_token(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "--email", "rev@x.example", "--password", "long-enough-1", "--role", "reviewer"])
    result = runner.invoke(args=["users", "token", "--email", "rev@x.example"])
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("rbk_")
    response = app.test_client().get("/api/v1/instruments", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert runner.invoke(args=["users", "token", "--email", "nobody@x.example"]).exit_code != 0


def test_demo_seed_is_idempotent_and_prints_the_accounts(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    for email, _role, _ in DEMO_ACCOUNTS:
        assert email in first.output
    assert DEMO_PASSWORD in first.output
    counts = (count(app, Institution), count(app, User), count(app, Assessment))
    assert counts[2] == 64 and count(app, Assessment, Assessment.status == "submitted") == 4
    assert {c for (c,) in _countries(app)} == {"AR", "CO", "PE", "DO"}
    assert count(app, Institution, Institution.synthetic.is_(False)) == 0
    second = runner.invoke(args=["demo", "seed"])
    assert second.exit_code == 0
    assert (count(app, Institution), count(app, User), count(app, Assessment)) == counts
    # every demo account can sign in
    client = app.test_client()
    for email, _role, _ in DEMO_ACCOUNTS:
        assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
        client.post("/logout")


def _countries(app):
    with app.app_context():
        s = db.new_session()
        rows = s.execute(select(Institution.country).distinct()).all()
        s.close()
    return rows


def test_translate_compile_command(app, tmp_path):
    # an entry-point group: translators need no app and no database
    from rubric_app.cli import translate_cli

    result = app.test_cli_runner().invoke(translate_cli, ["compile"])
    assert result.exit_code == 0, result.output
    for lang in ("es", "en", "pt"):
        assert (PROJECT_ROOT / "rubric_app" / "translations" / lang / "LC_MESSAGES" / "messages.mo").exists()


def test_shipped_definitions_folder_is_copied_intact(tmp_path):
    # Guard for the validate command's default path: the shipped tree validates as a folder too.
    target = tmp_path / "copy"
    shutil.copytree(PROJECT_ROOT / "rubric_defs", target)
    from rubric_app.domain.instruments import validate_path

    assert validate_path(target) == []


def test_rate_limit_counts_go_to_the_apps_redis_unless_another_store_is_named(tmp_path, monkeypatch):
    """With REDIS_URL (several processes or machines) the throttling counts are shared there; an explicit
    RATELIMIT_STORAGE_URI wins; without either they stay in memory. (No connection is made here.)"""
    from tests.conftest import make_app

    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)
    for name in "abc":
        (tmp_path / name).mkdir()
    def storage(name, **config):
        app = make_app(tmp_path / name, **config)
        app.extensions["rubric_db"][0].dispose()  # close its connections now (PostgreSQL), not at garbage collection
        return app.config["RATELIMIT_STORAGE_URI"]

    assert storage("a") == "memory://"
    assert storage("b", REDIS_URL="redis://127.0.0.1:6379/14") == "redis://127.0.0.1:6379/14"
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/13")
    assert storage("c", REDIS_URL="redis://127.0.0.1:6379/14") == "redis://127.0.0.1:6379/13"

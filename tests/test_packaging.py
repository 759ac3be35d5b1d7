"""Where an installed app finds its definitions and writes its files; gunicorn settings."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import rubric_app
from rubric_app import i18n


def test_a_source_checkout_reads_rubric_defs_and_writes_reports_beside_the_package():
    assert rubric_app.from_source_checkout()
    paths = rubric_app.default_paths("/srv/rubric/instance")
    assert paths["RUBRIC_DEFS"] == str(rubric_app.PROJECT_ROOT / "rubric_defs")
    assert paths["REPORTS_DIR"] == str(rubric_app.PROJECT_ROOT / "reports")


def test_an_installed_package_reads_its_own_definitions_and_writes_under_the_instance(monkeypatch):
    monkeypatch.setattr(rubric_app, "from_source_checkout", lambda: False)
    paths = rubric_app.default_paths("/srv/rubric/instance")
    assert paths["RUBRIC_DEFS"] == str(rubric_app.PACKAGED_DEFS)
    assert Path(paths["RUBRIC_DEFS"]).parent == Path(rubric_app.__file__).resolve().parent
    assert paths["REPORTS_DIR"] == os.path.join("/srv/rubric/instance", "reports")


def test_environment_overrides_the_instance_config(tmp_path, monkeypatch):
    defs = tmp_path / "defs"
    defs.mkdir()
    for sub in ("ifp_inclusion", "sde_providers", "letters", "schema"):
        src = rubric_app.PROJECT_ROOT / "rubric_defs" / sub
        for file in src.rglob("*"):
            if file.is_file():
                target = defs / sub / file.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(file.read_bytes())
    monkeypatch.setenv("RUBRIC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("RUBRIC_DEFS", f"  {defs}  ")
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "x.db"))
    app = rubric_app.create_app(check_schema=False)
    assert app.config["RUBRIC_DEFS"] == str(defs)
    assert app.config["REPORTS_DIR"] == str(tmp_path / "out")


def test_compiling_catalogs_in_a_read_only_folder_keeps_the_compiled_ones(tmp_path, monkeypatch):
    root = tmp_path / "translations"
    lc = root / "es" / "LC_MESSAGES"
    lc.mkdir(parents=True)
    (lc / "messages.po").write_bytes((i18n.TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po").read_bytes())
    assert i18n.compile_catalogs(root)  # written once
    mo = lc / "messages.mo"
    before = mo.read_bytes()
    os.utime(lc / "messages.po", ns=(mo.stat().st_mtime_ns + 10**9,) * 2)  # newer than the .mo: a recompile is due
    real_open = open

    def read_only_open(file, mode="r", *args, **kwargs):  # the folder refuses writes, as on a read-only install
        if "w" in mode and str(file).startswith(str(lc)):
            raise PermissionError(13, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", read_only_open)
    assert i18n.compile_catalogs(root) == []
    monkeypatch.undo()
    assert mo.read_bytes() == before
    (lc / "messages.mo").unlink()
    monkeypatch.setattr("builtins.open", read_only_open)
    with pytest.raises(PermissionError):  # nothing compiled at all: say so rather than run untranslated
        i18n.compile_catalogs(root)


@pytest.mark.parametrize("env, expected", [
    ({}, {"bind": "127.0.0.1:8000", "workers": 2, "threads": 4, "timeout": 60}),
    ({"PORT": "9001", "HOST": "0.0.0.0", "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "8"},
     {"bind": "0.0.0.0:9001", "workers": 3, "threads": 8}),
    ({"BIND": "unix:/run/rubric.sock"}, {"bind": "unix:/run/rubric.sock"}),
])
def test_gunicorn_settings_come_from_the_environment(monkeypatch, env, expected):
    for name in ("PORT", "HOST", "BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import rubric_app.gunicorn_conf as conf

    conf = importlib.reload(conf)
    for name, value in expected.items():
        assert getattr(conf, name) == value
    assert conf.wsgi_app == "rubric_app:create_app()"


@pytest.mark.parametrize("value", ["0", "65", "two", "³", "-1", "1e3"])
def test_gunicorn_refuses_a_worker_count_out_of_bounds(monkeypatch, value):
    monkeypatch.setenv("WEB_CONCURRENCY", value)
    import rubric_app.gunicorn_conf as conf

    with pytest.raises(SystemExit, match="WEB_CONCURRENCY must be a whole number from 1 to 64"):
        importlib.reload(conf)
    monkeypatch.delenv("WEB_CONCURRENCY")
    importlib.reload(conf)

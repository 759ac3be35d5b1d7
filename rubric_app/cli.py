"""Flask commands: rubrics, db, users, demo, providers, translate."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app, has_app_context
from flask.cli import AppGroup, ScriptInfo

from . import PROJECT_ROOT
from .domain.instruments import validate_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# --------------------------------------------------------------------------- rubrics
# Registered as a flask.commands entry point, so it runs without loading the app (and
# therefore also when the definitions the app would load are broken).


@click.group("rubrics", help="Instrument definitions.")
def rubrics_cli() -> None:
    pass


@rubrics_cli.command("validate")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
def validate_command(path: Path | None) -> None:
    """Check every definition under PATH (default: the app's definitions, RUBRIC_DEFS) against schema and rules."""
    if path is not None:
        root = path
    elif has_app_context():
        root = Path(current_app.config["RUBRIC_DEFS"])
    else:  # run outside `flask` (e.g. as a bare click command): the defaults an app would use
        from . import default_paths

        root = Path(os.environ.get("RUBRIC_DEFS", "").strip() or default_paths("instance")["RUBRIC_DEFS"])
    problems = validate_path(root)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(1)
    from .domain.instruments import definition_files, load_definition

    for file in definition_files(root):
        inst = load_definition(file)
        size = f"{len(inst.criteria)} criteria" if hasattr(inst, "criteria") else f"{len(inst.items)} items"
        click.echo(f"ok  {file}  {inst.id} {inst.version}  {size}  sha256:{inst.hash[:16]}")


# --------------------------------------------------------------------------- db
# Also an entry point: the db commands must run while the schema is out of date, so they build
# the app themselves without the schema check instead of letting Flask load it.


@click.group("db", help="Database schema (migrations), backup and restore.")
def db_cli() -> None:
    pass


def _db_app() -> Flask:
    info = click.get_current_context().find_object(ScriptInfo)
    if info is not None and info.create_app is not None:  # a test runner hands its app over
        return info.create_app()
    from . import create_app

    return create_app(check_schema=False)


@contextmanager
def _database() -> Iterator[Engine]:
    """The app's engine, outside the schema check; database errors become one-line messages."""
    from sqlalchemy.exc import OperationalError

    from .extensions import db

    app = _db_app()
    with app.app_context():
        try:
            yield db.engine
        except OperationalError as exc:
            raise click.ClickException(f"Cannot use the database {_shown(db.engine)}: {exc.orig}") from exc
        finally:
            db.engine.dispose()


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _head_note(revision: str | None) -> str:
    from .schema import head_revision

    return " (head)" if revision == head_revision() else ""


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="The revision to upgrade to.")
def upgrade_command(revision: str) -> None:
    """Bring the schema to the revision this version needs (adopts databases made before migrations)."""
    from alembic.util import CommandError

    from . import schema

    with _database() as engine:
        try:
            result = schema.upgrade(engine, revision)
        except schema.SchemaError as exc:
            raise click.ClickException(str(exc)) from exc
        except CommandError as exc:
            raise click.ClickException(f"Cannot upgrade {_shown(engine)} to {revision}: {exc}") from exc
        if result.adopted:
            click.echo(f"Adopted {_shown(engine)}, made before migrations, at revision {result.adopted}.")
        if result.before == result.after:
            click.echo(f"The database is already at revision {result.after}{_head_note(result.after)}.")
        else:
            click.echo(f"Upgraded {_shown(engine)} from {result.before or 'an empty database'} "
                       f"to {result.after}{_head_note(result.after)}.")


@db_cli.command("init")
@click.pass_context
def init_db_command(ctx: click.Context) -> None:
    """Alias of 'db upgrade'."""
    ctx.invoke(upgrade_command)


@db_cli.command("current")
def current_command() -> None:
    """Show the database's schema revision and whether it is the one this version needs."""
    from . import schema

    with _database() as engine:
        revision = schema.current_revision(engine)
        problem = schema.check(engine)
        click.echo(f"Database: {_shown(engine)}")
        click.echo(f"Revision: {revision or 'none'}{_head_note(revision)}")
        click.echo(problem or "The schema is current.")


def _new_private_file(path: Path) -> Path:
    """An empty file (mode 0600) next to ``path``, to be renamed over it when complete."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(temp, 0o600)
    return temp


def _sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise click.ClickException(f"Cannot back up or restore {_shown(engine)}: not an SQLite database file.")
    return Path(database)


def _libpq(engine: Engine, tool: str) -> tuple[str, str, dict]:
    """The tool's path, the URL in libpq's form (no password) and an environment with PGPASSWORD."""
    exe = shutil.which(tool)
    if exe is None:
        raise click.ClickException(f"{tool} is not installed (or not on PATH); install the PostgreSQL client tools, "
                                   f"e.g. 'apt-get install postgresql-client', matching the server's major version.")
    url = engine.url.set(drivername="postgresql", password=None)
    env = dict(os.environ)
    if engine.url.password:
        env["PGPASSWORD"] = str(engine.url.password)
    return exe, url.render_as_string(hide_password=False), env


@db_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def backup_command(path: Path, force: bool) -> None:
    """Copy the database to PATH (mode 0600); safe while the app serves.

    SQLite: SQLite's online backup; PostgreSQL: pg_dump --format=custom.
    """
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; choose another file or pass --force to overwrite it.")
    with _database() as engine:
        temp = _new_private_file(path)
        try:
            if engine.dialect.name == "sqlite":
                revision = _sqlite_backup(_sqlite_file(engine), temp)
            else:
                exe, url, env = _libpq(engine, "pg_dump")
                done = subprocess.run([exe, "--format=custom", "--file", str(temp), url], env=env, capture_output=True, text=True)
                if done.returncode:
                    raise click.ClickException(f"pg_dump failed: {done.stderr.strip()}")
                revision = _pg_archive_revision(temp)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        click.echo(f"Backed up {_shown(engine)} (revision {revision or 'none'}) to {path}.")


def _sqlite_backup(source: Path, target: Path) -> str | None:
    if not source.exists():
        raise click.ClickException(f"There is no database at {source}.")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        return _sqlite_revision(dst)
    finally:
        dst.close()
        src.close()


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        return None
    return rows[0][0] if len(rows) == 1 else None


def _pg_archive_revision(path: Path) -> str | None:
    """The revision stored in a pg_dump archive's alembic_version table (None when it has none)."""
    exe = shutil.which("pg_restore")
    if exe is None:
        return None
    done = subprocess.run([exe, "--data-only", "--table=alembic_version", "--file=-", str(path)], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and i + 1 < len(lines) and lines[i + 1] != "\\.":
            return lines[i + 1].strip()
    return None


@db_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace the database's content without asking.")
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database's content with the backup at PATH (made by 'db backup')."""
    from . import schema

    with _database() as engine:
        if not yes:
            click.confirm(f"Replace everything in {_shown(engine)} with {path}?", abort=True)
        if engine.dialect.name == "sqlite":
            _sqlite_restore(path, _sqlite_file(engine), engine)
        else:
            _pg_restore(path, engine)
        revision = schema.current_revision(engine)
        problem = schema.check(engine)
        click.echo(f"Restored {path} into {_shown(engine)} (revision {revision}).")
        click.echo(problem or "The schema is current; no upgrade needed.")


def _known_backup_revision(path: Path, revision: str | None) -> None:
    from .schema import known_revisions

    if revision is None:
        raise click.ClickException(f"{path} has no schema revision (no alembic_version row): it is not a backup made "
                                   f"by 'flask --app rubric_app db backup'; nothing was restored.")
    if revision not in known_revisions():
        raise click.ClickException(f"{path} is at revision {revision}, which this version of rubric does not know; "
                                   f"nothing was restored.")


def _sqlite_restore(path: Path, live: Path, engine: Engine) -> None:
    with path.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise click.ClickException(f"{path} is not an SQLite database; nothing was restored.")
    src = sqlite3.connect(path)
    try:
        _known_backup_revision(path, _sqlite_revision(src))
        engine.dispose()
        live.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(live, timeout=30)
        try:
            src.backup(dst)
        except sqlite3.Error as exc:
            raise click.ClickException(f"Restoring {path} into {live} failed: {exc}") from exc
        finally:
            dst.close()
    finally:
        src.close()


def _pg_restore(path: Path, engine: Engine) -> None:
    exe, url, env = _libpq(engine, "pg_restore")
    listed = subprocess.run([exe, "--list", str(path)], capture_output=True, text=True)
    if listed.returncode:
        raise click.ClickException(f"{path} is not a pg_dump archive (--format=custom): {listed.stderr.strip()}; "
                                   f"nothing was restored.")
    _known_backup_revision(path, _pg_archive_revision(path))
    engine.dispose()
    done = subprocess.run([exe, "--clean", "--if-exists", "--no-owner", "--single-transaction", "-d", url, str(path)],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise click.ClickException(f"pg_restore failed (the database is unchanged): {done.stderr.strip()}")


users_cli = AppGroup("users", help="Accounts and API tokens.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(["member", "reviewer", "staff", "admin"]))
@click.option("--name", default="")
@click.option("--institution", "institution_name", default=None, help="Institution name (members); created when missing.")
@click.option("--country", default=None, help="ISO 3166 alpha-2 code of the institution's country.")
@click.option("--city", default="")
@click.option("--type", "institution_type", default="other")
@click.option("--sector", default="public", type=click.Choice(["public", "private"]))
def create_user_command(email, password, role, name, institution_name, country, city, institution_type, sector) -> None:
    """Create a user (and the institution when it does not exist yet)."""
    from .extensions import db
    from .i18n import is_country
    from .services import ServiceError, accounts

    session = db.new_session()
    try:
        institution = None
        if institution_name:
            if not country or not is_country(country.upper()):
                raise click.UsageError("--country must be an ISO 3166 alpha-2 code (e.g. PE) when --institution is given.")
            institution = accounts.find_institution(session, institution_name, country)
            if institution is None:
                institution = accounts.create_institution(session, name=institution_name, country=country, city=city,
                                                          type=institution_type, sector=sector)
                click.echo(f"Created institution {institution.name} ({institution.country}).")
        elif role == "member":
            raise click.UsageError("A member needs --institution NAME --country CC.")
        user = accounts.create_user(session, email=email, password=password, role=role, name=name, institution=institution)
        session.commit()
        click.echo(f"Created {role} {user.email}.")
    except ServiceError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from exc
    finally:
        session.close()


@users_cli.command("token")
@click.option("--email", required=True)
@click.option("--name", default="cli")
def token_command(email, name) -> None:
    """Print a new personal API token for the user (only its hash is stored)."""
    from .extensions import db
    from .services import ServiceError, accounts

    session = db.new_session()
    try:
        user = accounts.user_by_email(session, email)
        click.echo(accounts.issue_token(session, user, name))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        session.close()


@users_cli.command("reset-link")
@click.option("--email", required=True)
@click.option("--base-url", default=None, help="The site's public address for the link (default: BASE_URL in the "
                                                 "instance config, else http://localhost:5000).")
def reset_link_command(email, base_url) -> None:
    """Print a single-use link (valid one hour) to choose a new password, for an admin to pass on when no mail server is set."""
    from flask import url_for

    from .extensions import db
    from .services import accounts

    base = base_url or current_app.config.get("BASE_URL") or "http://localhost:5000"
    session = db.new_session()
    try:
        found = accounts.request_password_reset(session, email)
        if found is None:
            raise click.ClickException(f"No active account with e-mail {email}.")
        with current_app.test_request_context(base_url=base):
            click.echo(url_for("auth.reset", token=found[1], _external=True))
    finally:
        session.close()


demo_cli = AppGroup("demo", help="Fictitious demo data.")

from .services.demo import DEMO_ACCOUNTS, DEMO_INSTITUTIONS, DEMO_PASSWORD  # the names the tests and README use


@demo_cli.command("seed")
@click.option("--seed", "seed_value", default=2026, show_default=True)
def seed_command(seed_value: int) -> None:
    """Demo accounts (one per role), fictitious institutions in AR, CO, PE and DO with two rounds of
    submitted and validated self-assessments, 209 synthetic SDE providers and a round. Idempotent."""
    import time

    from .extensions import db
    from .services.demo import seed_demo_assessments

    started = time.perf_counter()
    session = db.new_session()
    registry = current_app.extensions["instruments"]
    try:
        done = seed_demo_assessments(session, registry, seed_value)
        providers, rounds = _seed_demo_selection(session, registry, seed_value)
    finally:
        session.close()
    click.echo(f"Demo data ready (fictitious, labelled synthetic): {done.institutions} institutions, {done.assessments} assessments "
               f"({done.validated} validated, {done.submitted} awaiting review, {done.returned} returned for changes; "
               f"{done.seeded} institutions seeded now), {providers} SDE providers, {rounds} selection round(s) "
               f"in {time.perf_counter() - started:.1f} s.")
    click.echo(f"Demo accounts (password: {DEMO_PASSWORD}):")
    for email, role, _ in DEMO_ACCOUNTS:
        click.echo(f"  {role:<9} {email}")
    click.echo(f"  member    ifp1@demo.example ... ifp{len(DEMO_INSTITUTIONS)}@demo.example (one per demo institution)")


@demo_cli.command("providers")
@click.option("--count", default=209, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", "seed_value", default=2026, show_default=True)
def demo_providers_command(count: int, seed_value: int) -> None:
    """Deterministic synthetic SDE providers in AR, CO, PE and DO (codes SYN-..., labelled synthetic)."""
    from .extensions import db
    from .services.providers import provider_instrument, seed_synthetic_providers

    session = db.new_session()
    try:
        created, updated = seed_synthetic_providers(session, provider_instrument(current_app.extensions["instruments"]), count, seed_value)
    finally:
        session.close()
    click.echo(f"Synthetic providers (fictitious): {created} created, {updated} refreshed (seed {seed_value}).")


BULK_COUNTRIES = ("AR", "BO", "BR", "CL", "CO", "CR", "DO", "EC", "ES", "GT", "HN", "MX", "NI", "PA", "PE", "PT", "PY", "SV", "UY", "VE",
                  "CU", "HT", "JM", "TT", "BZ", "GY", "SR", "BS", "BB", "AD")


@demo_cli.command("bulk")
@click.option("--assessments", "count", default=10_000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--countries", "n_countries", default=20, show_default=True, type=click.IntRange(1, len(BULK_COUNTRIES)))
@click.option("--seed", "seed_value", default=2026, show_default=True)
def demo_bulk_command(count: int, n_countries: int, seed_value: int) -> None:
    """Fictitious institutions with submitted (some validated) assessments, for benchmarks (labelled synthetic)."""
    from .extensions import db
    from .services.bulk import bulk_assessments

    session = db.new_session()
    try:
        registry = current_app.extensions["instruments"]
        rubric = registry.latest("ifp-migrant-inclusion")
        with click.progressbar(length=count, label=f"{count} synthetic assessments in {n_countries} countries", show_pos=True) as bar:
            created = bulk_assessments(session, rubric, count, BULK_COUNTRIES[:n_countries], seed_value, progress=bar.update)
    finally:
        session.close()
    click.echo(f"Created {created} synthetic assessments (fictitious institutions, labelled synthetic).")


providers_cli = AppGroup("providers", help="SDE providers and selection rounds.")


@providers_cli.command("letters")
@click.argument("round_id", type=int)
@click.option("--lang", default="es", type=click.Choice(["es", "en", "pt"]), show_default=True)
def letters_command(round_id: int, lang: str) -> None:
    """Write the round's report and every selected provider's commitment letter, zipped, under reports/."""
    from .extensions import db
    from .models import ROUND_FROZEN, SelectionRound
    from .services.documents import round_documents_zip, selected_rows

    session = db.new_session()
    try:
        rnd = session.get(SelectionRound, round_id)
        if rnd is None:
            raise click.ClickException(f"No selection round {round_id}.")
        if rnd.status != ROUND_FROZEN:
            raise click.ClickException(f"Round {round_id} is open: commitment letters are issued only for frozen rounds. "
                                       "Freeze it first (its selection can then no longer change).")
        total = len(selected_rows(rnd)) + 1
        label = f"Round {round_id}: report ({lang}) and {total - 1} letters, each in its provider's language"
        with click.progressbar(length=total, label=label, show_pos=True) as bar:
            state = {"done": 0}

            def progress(done: int, _total: int) -> None:
                bar.update(done - state["done"])
                state["done"] = done

            path = round_documents_zip(current_app.extensions["instruments"], rnd, lang, current_app.config["REPORTS_DIR"], progress)
    finally:
        session.close()
    click.echo(f"Written: {path}")


def _seed_demo_selection(session, registry, seed_value: int) -> tuple[int, int]:
    """209 synthetic providers and one demo round, unless the database already has providers or rounds."""
    from sqlalchemy import func, select

    from .models import Provider, SelectionRound, User
    from .services.providers import provider_instrument, seed_synthetic_providers
    from .services.selection import create_round

    instrument = provider_instrument(registry)
    if not session.scalar(select(func.count(Provider.id))):
        seed_synthetic_providers(session, instrument, 209, seed_value)
    if not session.scalar(select(func.count(SelectionRound.id))):
        staff = session.scalar(select(User).where(User.email == "staff@demo.example"))
        create_round(session, registry, staff, "Ronda de demostración (datos sintéticos)",
                     {"knockouts": [f.id for f in instrument.eligibility], "rule": "quota", "default_quota": 10,
                      "draws": 1000, "seed": seed_value})
    return session.scalar(select(func.count(Provider.id))), session.scalar(select(func.count(SelectionRound.id)))


# Registered as a flask.commands entry point: translators need no database and no app.
translate_cli = click.Group("translate", help="Interface translations (pybabel wrapped).")
TRANSLATIONS = Path(__file__).parent / "translations"


def _extract(pot: Path) -> None:
    _pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "--no-location", "--sort-output", "-o", str(pot), ".")


def fill_source_language(lang: str = "en") -> int:
    """The interface is written in English: its catalog's empty entries take the message itself."""
    from babel.messages.pofile import read_po, write_po

    path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale=lang)
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, (list, tuple)):  # plural: singular and plural forms, in English's two slots
            if not any(message.string or ()):
                message.string = tuple(message.id)
                filled += 1
        elif not message.string:
            message.string = message.id
            filled += 1
    with open(path, "wb") as fh:
        write_po(fh, catalog, omit_header=False, sort_output=True, width=100)
    return filled


def _pybabel(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=PROJECT_ROOT)
    if result.returncode:
        raise click.ClickException(f"pybabel {' '.join(args)} failed")


@translate_cli.command("update")
def translate_update() -> None:
    """Extract the interface strings and merge them into every catalog."""
    pot = PROJECT_ROOT / "messages.pot"
    _extract(pot)
    _pybabel("update", "-i", str(pot), "-d", str(TRANSLATIONS), "--no-fuzzy-matching", "--ignore-obsolete", "-w", "100")
    pot.unlink()
    click.echo(f"en: {fill_source_language('en')} messages filled from the source text")


@translate_cli.command("init")
@click.argument("lang")
def translate_init(lang: str) -> None:
    """Start a catalog for a new language."""
    pot = PROJECT_ROOT / "messages.pot"
    _extract(pot)
    _pybabel("init", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", lang, "-w", "100")
    pot.unlink()


@translate_cli.command("compile")
def translate_compile() -> None:
    """Compile the catalogs (the app also does this at start when a .po is newer)."""
    from .i18n import compile_catalogs

    for path in compile_catalogs():
        click.echo(f"compiled {path}")


def register_commands(app: Flask) -> None:
    for group in (users_cli, demo_cli, providers_cli):
        app.cli.add_command(group)

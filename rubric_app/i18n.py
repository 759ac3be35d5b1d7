"""Interface languages: the locale selector and compiling catalogs at start-up."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import current_app, request, session
from flask_login import current_user

LANGUAGES = ("es", "en", "pt")
DEFAULT = "es"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

#: codes Babel knows as territories that are not ISO 3166-1 countries
#: two-letter codes CLDR names that are not officially assigned ISO 3166-1 alpha-2 countries (see
#: rubric_app/web/countries.py for each one); every country check and picker leaves them out
NOT_ISO_COUNTRIES: frozenset[str] = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "IC", "TA", "EU", "EZ", "UN", "QO", "XA", "XB", "XK", "ZZ"})


def select_locale() -> str:
    """?lang= for this request, then the user's choice, then the browser's, then Spanish."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    user = current_user._get_current_object()  # noqa: SLF001 - one look-up, not three through the proxy
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in LANGUAGES:
        return user.locale
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


@lru_cache(maxsize=4)
def _catalogs_hash(stamp: tuple) -> str:
    digest = hashlib.sha256()
    for name, _mtime, _size in stamp:
        digest.update(name.encode())
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()[:16]


def catalog_stamp(root: Path = TRANSLATIONS) -> str:
    """A short hash of the interface catalogs: part of every cached document's key, so a corrected
    translation redraws the PDFs instead of serving ones drawn with the old wording."""
    files = sorted(root.glob("*/LC_MESSAGES/messages.po"))
    return _catalogs_hash(tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))


def compile_catalogs(root: Path = TRANSLATIONS) -> list[Path]:
    """Compile every messages.po whose .mo is missing or older; returns the files written."""
    written = []
    for po_path in sorted(root.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with open(po_path, "rb") as fh:
            catalog = read_po(fh, locale=po_path.parts[-3])
        tmp = mo_path.with_suffix(".mo.tmp")
        try:
            with open(tmp, "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            tmp.replace(mo_path)
        except OSError:
            # a read-only install: its catalogs were compiled when the package was built
            if not mo_path.exists():
                raise
            continue
        written.append(mo_path)
    return written


def countries(locale: str) -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 codes with their names in ``locale``, sorted by name."""
    names = Locale.parse(locale).territories
    pairs = [(code, name) for code, name in names.items() if len(code) == 2 and code.isalpha() and code not in NOT_ISO_COUNTRIES]
    return sorted(pairs, key=lambda p: _sort_key(p[1]))


def country_name(code: str, locale: str) -> str:
    return Locale.parse(locale).territories.get(code, code)


def is_country(code: str) -> bool:
    return code in dict(countries("en"))


def _sort_key(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def current_language() -> str:
    from flask_babel import get_locale

    loc = get_locale()
    return loc.language if loc else current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT)

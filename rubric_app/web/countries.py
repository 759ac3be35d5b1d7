"""Countries for pickers: the project's countries first, then every ISO 3166-1 country by name.

Names come from Babel's CLDR territory names in the page's language. CLDR also names territories
that are not ISO 3166-1 countries; they are left out (``NOT_ISO_COUNTRIES``) so a picker offers
the 249 officially assigned ISO 3166-1 alpha-2 codes and nothing else.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

from babel import Locale

#: the project's countries (Argentina, Colombia, Perú, República Dominicana), then the countries
#: that showed interest (Chile: ChileValora, Ecuador: SECAP); shown first, in this order
PROJECT_COUNTRIES: tuple[str, ...] = ("AR", "CO", "PE", "DO", "CL", "EC")

#: two-letter codes CLDR names that are not officially assigned ISO 3166-1 alpha-2 countries:
#: AC Ascension Island, CP Clipperton Island, CQ Sark, DG Diego García, EA Ceuta and Melilla,
#: IC Canary Islands, TA Tristan da Cunha (ISO "exceptionally reserved" codes); EU European Union,
#: EZ Eurozone, UN United Nations (groupings, not countries); QO Outlying Oceania, XA/XB pseudo-locales,
#: XK Kosovo and ZZ Unknown Region (user-assigned codes outside ISO 3166-1).
from ..i18n import NOT_ISO_COUNTRIES  # noqa: E402 (one list for every check)


def sort_key(text: str) -> str:
    """Case- and accent-insensitive key, so "Perú" sorts with "Peru" and "Åland" with "A"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def _language(locale: str | None) -> str:
    lang = str(locale or "es").replace("-", "_").split("_")[0].lower()
    return lang if lang in ("es", "en", "pt") else "es"


@lru_cache(maxsize=8)
def _choices(lang: str) -> tuple[tuple[str, str], ...]:
    names = Locale.parse(lang).territories
    codes = [c for c in names if len(c) == 2 and c.isalpha() and c.isupper() and c not in NOT_ISO_COUNTRIES]
    others = sorted((c for c in codes if c not in PROJECT_COUNTRIES), key=lambda c: (sort_key(names[c]), c))
    return tuple((c, names[c]) for c in (*PROJECT_COUNTRIES, *others))


def country_choices(locale: str | None) -> list[tuple[str, str]]:
    """(ISO 3166-1 alpha-2 code, name in ``locale``): the project's countries first (in
    ``PROJECT_COUNTRIES`` order), then every other country sorted by its localized name."""
    return list(_choices(_language(locale)))


def grouped_country_choices(locale: str | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``country_choices`` split into (project countries, other countries)."""
    choices = country_choices(locale)
    return choices[:len(PROJECT_COUNTRIES)], choices[len(PROJECT_COUNTRIES):]


def is_country(code: str) -> bool:
    """True for an officially assigned ISO 3166-1 alpha-2 code (upper case)."""
    return code in dict(_choices("en"))


@lru_cache(maxsize=1)
def _by_name() -> dict[str, str]:
    table: dict[str, str] = {}
    for lang in ("en", "pt", "es"):
        for code, name in _choices(lang):
            table[sort_key(name)] = code
    return table


def resolve_country(text: str) -> str | None:
    """The ISO code for a typed country: a code ("co", "CO") or a name in es, en or pt, case- and
    accent-insensitive ("Colombia", "peru", "República Dominicana"); None when it is neither."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) == 2 and value.isalpha() and is_country(value.upper()):
        return value.upper()
    return _by_name().get(sort_key(value))

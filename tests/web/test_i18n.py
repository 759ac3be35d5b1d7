"""Interface catalogs (es, en, pt): complete, consistent with the source, and used by the pages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from .helpers import text, tr

ROOT = Path(__file__).resolve().parents[2]
LANGS = ("es", "en", "pt")


def load_catalog(lang: str):
    with open(ROOT / "rubric_app" / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


def msgid(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    """Message ids in the source, extracted as `pybabel extract -F babel.cfg -k _l -k N_` would."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(ROOT / "babel.cfg"))
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "N_": None, "lazy_gettext": None}
    ids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_extraction_finds_the_interface_strings(extracted):
    for known in ("Sign in", "My assessments", "Not applicable", "Assessment not found.",
                  "An account with this e-mail address already exists.", "Answered %(done)s of %(total)s criteria"):
        assert known in extracted
    assert len(extracted) > 100


def test_no_translation_call_hides_inside_an_f_string():
    """On Python 3.11 an f-string is one token: Babel cannot extract ``f"{_('text')}"``, so such a text
    would never reach the catalogs and would print in English on every page and PDF."""
    import io
    import tokenize

    hidden = []
    for path in sorted((ROOT / "rubric_app").rglob("*.py")):
        with open(path, "rb") as fh:
            for tok in tokenize.tokenize(fh.readline):
                if tok.type == tokenize.STRING and re.match(r"[rRbB]?[fF]", tok.string) and re.search(r"\{\s*(_|_l|N_|gettext|ngettext|pgettext)\(", tok.string):
                    hidden.append(f"{path.relative_to(ROOT)}:{tok.start[0]}")
    assert hidden == [], "translation calls inside f-strings (not extractable): " + ", ".join(hidden)


def test_every_message_is_translated_and_not_fuzzy():
    problems = {}
    for lang in LANGS:
        catalog = load_catalog(lang)
        untranslated = [msgid(m) for m in catalog if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
        fuzzy = [msgid(m) for m in catalog if m.id and m.fuzzy]
        if untranslated or fuzzy:
            problems[lang] = {"untranslated": (len(untranslated), untranslated[:10]), "fuzzy": (len(fuzzy), fuzzy[:10])}
    assert problems == {}


def test_catalogs_cover_every_extracted_message(extracted):
    missing = {}
    for lang in LANGS:
        absent = sorted(extracted - {msgid(m) for m in load_catalog(lang) if m.id})
        if absent:
            missing[lang] = (len(absent), absent[:10])
    assert missing == {}, f"source messages missing from the catalogs (run pybabel extract/update): {missing}"


def test_translations_keep_the_placeholders():
    problems = []
    for lang in LANGS:
        for message in load_catalog(lang):
            if not message.id or not message.string:
                continue
            source = message.id if isinstance(message.id, str) else message.id[0]
            targets = [message.string] if isinstance(message.string, str) else list(message.string)
            wanted = sorted(re.findall(r"%\([a-z_]+\)[sd]", source))
            for target in targets:
                if sorted(re.findall(r"%\([a-z_]+\)[sd]", target)) != wanted:
                    problems.append((lang, source, target))
    assert problems == []


def test_spanish_and_portuguese_differ_from_english():
    es, en, pt = (load_catalog(lang) for lang in ("es", "en", "pt"))
    for key in ("Sign in", "My assessments", "Scoring rules", "Results", "Not applicable", "Submit the self-assessment"):
        assert es[key].string != en[key].string and pt[key].string != en[key].string, key
    assert es["Sign in"].string != pt["Sign in"].string


def test_login_page_renders_in_each_language(client):
    titles = {}
    for lang in LANGS:
        page = client.get(f"/login?lang={lang}").get_data(as_text=True)
        assert f'<html lang="{lang}">' in page
        titles[lang] = re.search(r"<h1>([^<]+)</h1>", page).group(1)
        assert titles[lang] == tr(lang, "Sign in")
        assert tr(lang, "Register an institution") in text(client.get(f"/login?lang={lang}"))
    assert len(set(titles.values())) == 3, titles


def test_spanish_is_the_default_and_the_browser_language_is_honoured(client):
    assert '<html lang="es">' in client.get("/login").get_data(as_text=True)
    page = client.get("/login", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="pt">' in page and tr("pt", "Sign in") in page
    page = client.get("/login", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert '<html lang="es">' in page


def test_service_messages_are_translated_when_shown(client, factory):
    # a taken institution name in the country (a taken e-mail is, on purpose, not revealed)
    factory.institution(name="Centro Sul", country="BR")
    data = {"institution_name": "Centro Sul", "country": "BR", "city": "", "institution_type": "other", "sector": "private",
            "name": "", "email": "nova@example.org", "password": "long-enough-pass-1", "confirm": "long-enough-pass-1"}
    response = client.post("/register?lang=pt", data=data)
    assert response.status_code == 422
    source = "An institution with this name is already registered in this country."
    message = tr("pt", source)
    assert message != source and message in text(response)


def test_country_names_follow_the_interface_language(client):
    assert ">Perú<" in client.get("/register?lang=es").get_data(as_text=True)
    assert ">Peru<" in client.get("/register?lang=en").get_data(as_text=True)
    assert ">Alemanha<" in client.get("/register?lang=pt").get_data(as_text=True)


def test_error_pages_are_translated(member_client):
    page = text(member_client.get("/assessments/999999/results?lang=pt"))
    assert tr("pt", "Not found") in page and tr("pt", "Not found") != "Not found"

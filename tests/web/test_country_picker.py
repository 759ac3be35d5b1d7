"""The country picker: the project's countries first, only ISO 3166-1 countries, names in the page's
language, and the same widget on registration, the admin institution forms and the comparison."""
from __future__ import annotations

import re

import pytest

from rubric_app.web.countries import NOT_ISO_COUNTRIES, PROJECT_COUNTRIES, country_choices, resolve_country, sort_key
from tests.conftest import login

from .helpers import text

SELECT_RE = r'<select id="{id}"[^>]*>(.*?)</select>'


def select_html(page: str, select_id: str) -> str:
    match = re.search(SELECT_RE.format(id=re.escape(select_id)), page, re.S)
    assert match, select_id
    return match.group(1)


def option_values(html: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)"', html)


def selected_values(html: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)" selected', html)


@pytest.mark.parametrize("lang, project_names", [
    ("es", ["Argentina", "Colombia", "Perú", "República Dominicana", "Chile", "Ecuador"]),
    ("en", ["Argentina", "Colombia", "Peru", "Dominican Republic", "Chile", "Ecuador"]),
    ("pt", ["Argentina", "Colômbia", "Peru", "República Dominicana", "Chile", "Equador"]),
])
def test_project_countries_come_first_then_every_iso_country_by_localized_name(lang, project_names):
    choices = country_choices(lang)
    assert [c for c, _ in choices[:6]] == list(PROJECT_COUNTRIES) == ["AR", "CO", "PE", "DO", "CL", "EC"]
    assert [n for _, n in choices[:6]] == project_names
    codes = [c for c, _ in choices]
    # ISO 3166-1 has 249 officially assigned alpha-2 codes; none twice, no CLDR-only territory
    assert len(codes) == len(set(codes)) == 249
    assert not set(codes) & NOT_ISO_COUNTRIES
    for code in ("CP", "DG", "EA", "IC", "TA", "AC", "CQ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK", "ZZ"):
        assert code not in codes
    for code in ("UY", "BR", "ES", "PT", "VE", "HT", "TT", "AX", "EH", "PS", "TW"):
        assert code in codes
    rest = [n for _, n in choices[6:]]
    assert rest == sorted(rest, key=sort_key)


def test_names_sort_ignoring_accents_and_unknown_locales_fall_back_to_spanish():
    es = [n for _, n in country_choices("es")[6:]]
    # "Åland" sorts among the A's in English, "Islandia" after "Irlanda" in Spanish
    assert es.index("Irlanda") < es.index("Islandia")
    en = [n for _, n in country_choices("en")[6:]]
    assert en[:3] == ["Afghanistan", "Åland Islands", "Albania"]
    assert country_choices("fr") == country_choices("es") == country_choices("es_AR")


@pytest.mark.parametrize("typed, code", [
    ("Colombia", "CO"), ("colombia", "CO"), ("  COLOMBIA ", "CO"), ("Colômbia", "CO"), ("co", "CO"),
    ("peru", "PE"), ("Perú", "PE"), ("República Dominicana", "DO"), ("dominican republic", "DO"),
    ("Brasil", "BR"), ("Brazil", "BR"), ("uy", "UY"),
])
def test_typed_countries_resolve_by_code_or_name_in_any_language(typed, code):
    assert resolve_country(typed) == code


@pytest.mark.parametrize("typed", ["", "  ", "Narnia", "XK", "CP", "Clipperton Island", "1"])
def test_what_is_not_a_country_does_not_resolve(typed):
    assert resolve_country(typed) is None


def test_register_form_offers_the_grouped_picker(client):
    page = text(client.get("/register?lang=es"))
    html = select_html(page, "country")
    groups = re.findall(r'<optgroup label="([^"]+)"', html)
    assert len(groups) == 2
    values = option_values(html)
    assert values[:7] == ["", "AR", "CO", "PE", "DO", "CL", "EC"]
    assert "CP" not in values and "DG" not in values and len(values) == 250
    assert "Clipperton" not in page and "Diego García" not in page
    assert "data-country-picker" in page and "/static/picker.js" in page
    assert '<label for="country">' in page
    # no describedby pointing at a missing element
    assert 'aria-describedby="None"' not in page


def test_register_form_keeps_the_chosen_country_after_an_error(client):
    page = client.post("/register?lang=en", data={"institution_name": "", "country": "CO"})
    html = select_html(text(page), "country")
    assert selected_values(html) == ["CO"]


@pytest.fixture
def reviewer_client(app, factory):
    c = app.test_client()
    login(c, factory.user("reviewer"))
    return c


def test_comparison_takes_countries_by_name_and_shows_them_chosen(reviewer_client):
    response = reviewer_client.get("/compare?countries=Colombia&lang=es")
    assert response.status_code == 200
    page = text(response)
    html = select_html(page, "f-countries")
    assert selected_values(html) == ["CO"]
    assert 'multiple' in re.search(r'<select id="f-countries"[^>]*>', page).group(0)
    assert option_values(html)[:6] == ["AR", "CO", "PE", "DO", "CL", "EC"]
    assert "ISO" not in page


def test_comparison_takes_several_countries_from_the_picker(reviewer_client):
    page = text(reviewer_client.get("/compare?country=PE&country=AR&country=co&lang=en"))
    assert sorted(selected_values(select_html(page, "f-countries"))) == ["AR", "CO", "PE"]
    data = reviewer_client.get("/compare/export.json?country=PE&country=AR&countries=Colombia").get_json()
    assert data["filters"]["countries"] == "AR,CO,PE"


def test_an_unknown_country_is_a_message_at_the_field_not_an_error_page(reviewer_client):
    response = reviewer_client.get("/compare?countries=Narnia,Peru&lang=en")
    assert response.status_code == 200
    page = text(response)
    assert 'id="f-countries-err"' in page and "Narnia" in page
    assert 'aria-describedby="f-countries-hint f-countries-err"' in page
    assert selected_values(select_html(page, "f-countries")) == ["PE"]
    assert "<form" in page


def test_a_bad_round_is_shown_at_its_field_with_the_form(reviewer_client):
    response = reviewer_client.get("/compare?round=abc&lang=en")
    assert response.status_code == 422
    page = text(response)
    assert 'id="f-round-err"' in page and 'aria-invalid="true"' in page and 'id="f-countries"' in page


def test_comparison_exports_accept_country_names(reviewer_client):
    data = reviewer_client.get("/compare/export.json?countries=Colombia").get_json()
    assert data["filters"]["countries"] == "CO"


def test_admin_institution_forms_use_the_picker(app, factory):
    c = app.test_client()
    login(c, factory.user("admin"))
    inst = factory.institution(country="CL")
    page = text(c.get(f"/admin/institutions/{inst.id}?lang=pt"))
    html = select_html(page, "country")
    assert selected_values(html) == ["CL"]
    assert option_values(html)[:7] == ["", "AR", "CO", "PE", "DO", "CL", "EC"]
    assert "Colômbia" in html
    listing = text(c.get("/admin/institutions?country=CL&lang=es"))
    html = select_html(listing, "country")
    assert selected_values(html) == ["CL"] and option_values(html)[0] == ""


@pytest.mark.parametrize("code", ["CP", "DG", "EA", "IC", "TA", "AC", "CQ", "EU", "XK"])
def test_every_country_check_refuses_what_is_not_an_iso_country(code):
    from rubric_app import i18n
    from rubric_app.web import countries

    assert not i18n.is_country(code) and not countries.is_country(code)
    assert code not in dict(i18n.countries("es")) and code not in dict(countries.country_choices("es"))
    assert i18n.is_country("PE") and countries.is_country("PE")

"""Reviewers and staff in words, not ids: the comparison page (what is hidden and why, an empty
selection, labels), the review queue (search, returned), the audit log (labels, filters, paging)
and the staff home (counts)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from rubric_app.extensions import db
from rubric_app.models import AuditEntry, utcnow
from rubric_app.services import review as rsvc
from tests.conftest import login

from .helpers import text, tr


def client_for(app, user):
    c = app.test_client()
    login(c, user)
    return c


def visible(page: str) -> str:
    """The page's text as read on screen: no tags, no attribute values."""
    body = page.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def queue_ids(page: str) -> set[int]:
    return {int(x) for x in re.findall(r'href="/review/(\d+)"', page)}


@pytest.fixture
def reviewer(factory):
    return factory.user("reviewer", email="revisora@example.org")


@pytest.fixture
def rc(app, reviewer):
    return client_for(app, reviewer)


@pytest.fixture
def returned_case(app, factory, reviewer):
    """Three institutions: Córdoba (submitted), Educación Técnica (validated), Oficios (returned)."""
    cordoba = factory.user("member", institution=factory.institution(name="Centro de Formación Córdoba", country="AR"))
    tecnica = factory.user("member", institution=factory.institution(name="Instituto de EDUCACIÓN Técnica", country="CO"))
    oficios = factory.user("member", institution=factory.institution(name="Escuela de Oficios", country="PE"))
    ids = {"cordoba": factory.assessment(cordoba, levels=2, submit=True),
           "tecnica": factory.assessment(tecnica, levels=3, submit=True),
           "oficios": factory.assessment(oficios, levels=4, submit=True)}
    with app.app_context():
        s = db.new_session()
        user = s.merge(reviewer)
        registry = app.extensions["instruments"]
        from rubric_app.models import Assessment

        a = s.get(Assessment, ids["tecnica"])
        rsvc.save_review(s, registry, user, a, [rsvc.ReviewEntry(r.criterion_id, r.level) for r in a.answers], then_validate=True)
        rsvc.return_to_institution(s, user, ids["oficios"], "Adjunte el reglamento de admisión")
        s.close()
    return ids


# ----------------------------------------------------------------------------- review queue


@pytest.mark.parametrize("typed", ["cordoba", "CÓRDOBA", "Córdoba", "centro cord"])
def test_queue_search_ignores_case_and_accents(rc, returned_case, typed):
    page = text(rc.get(f"/review?q={typed}"))
    assert queue_ids(page) == {returned_case["cordoba"]}


def test_queue_search_finds_upper_case_accented_names_from_plain_text(rc, returned_case):
    assert queue_ids(text(rc.get("/review?q=educacion tecnica"))) == {returned_case["tecnica"]}
    page = text(rc.get("/review?q=nadie&lang=en"))
    assert queue_ids(page) == set() and "No assessment matches these filters." in page


def test_queue_has_a_returned_status_with_the_comment(rc, returned_case):
    page = text(rc.get("/review?status=returned&lang=en"))
    assert "Escuela de Oficios" in page and "Returned to the institution" in page
    assert "Adjunte el reglamento de admisión" in page
    assert "Centro de Formación Córdoba" not in page and "Instituto de EDUCACIÓN Técnica" not in page
    # a returned draft is with the institution: the queue links to its history, not the review form
    assert queue_ids(page) == set()
    assert f'href="/review/audit?assessment={returned_case["oficios"]}"' in page
    # without a status filter the queue holds the reviewers' work only
    assert queue_ids(text(rc.get("/review"))) == {returned_case["cordoba"], returned_case["tecnica"]}


@pytest.mark.parametrize("lang", ["es", "pt"])
def test_queue_status_labels_and_counts_are_translated(rc, returned_case, lang):
    page = text(rc.get(f"/review?lang={lang}"))
    words = visible(page)
    assert tr(lang, "To review") in words and tr(lang, "Validated") in words
    options = re.search(r'<select id="f-status"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert tr(lang, "Returned to the institution") in options or "Returned to the institution" in options
    assert 'value="returned"' in options
    cells = re.findall(r'<td data-label="[^"]*">\s*<span class="badge[^"]*">([^<]+)</span>', page)
    assert sorted(cells) == sorted([tr(lang, "To review"), tr(lang, "Validated")])
    table = visible("<main>" + page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] + "</main>")
    assert not {"submitted", "validated", "draft", "returned"} & set(table.split())
    count = re.search(r'id="queue-count"[^>]*>([^<]+)<', page).group(1)
    assert count.startswith("2 ")


def test_queue_country_filter_offers_country_names(rc, returned_case):
    page = text(rc.get("/review?lang=es"))
    options = re.search(r'<select id="f-country"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'value="([A-Z]*)"', options)[:4] == ["", "AR", "CO", "PE"]
    assert ">Perú<" in options


# ----------------------------------------------------------------------------- audit log


def test_audit_log_shows_titles_and_words_not_ids(app, rc, returned_case, rubric):
    for lang in ("es", "en", "pt"):
        page = text(rc.get(f"/review/audit?lang={lang}"))
        words = visible(page)
        for crit in rubric.criteria:
            assert crit.id not in words, (lang, crit.id)
        for code in ("validated_level", "submitted→draft", "submitted", "draft", "validated", "status", "n/a"):
            assert code not in words.split(), (lang, code)
        crit = rubric.criteria[0]
        assert crit.title(lang) in words
    en = visible(text(rc.get("/review/audit?lang=en")))
    assert "Returned to the institution" in en and "Validated" in en and "Submitted" in en
    assert "Validated level" in en and "Adjunte el reglamento de admisión" in en
    # a level is shown with its name
    assert f"3 · {rubric.level_name(3, 'en')}" in en


def test_audit_log_filters_by_kind_and_institution(rc, returned_case):
    returned = visible(text(rc.get("/review/audit?kind=returned&lang=en")))
    assert "Escuela de Oficios" in returned and "Centro de Formación Córdoba" not in returned
    assert re.search(r"1 entry", returned)
    by_name = text(rc.get("/review/audit?q=cordoba&lang=en"))
    words = visible(by_name)
    assert "Centro de Formación Córdoba" in words and "Escuela de Oficios" not in words and "EDUCACIÓN" not in words
    # the filters are kept in the form
    assert 'value="cordoba"' in by_name
    both = visible(text(rc.get("/review/audit?q=cordoba&kind=validated&lang=en")))
    assert "No entry matches these filters." in both
    # a kind the reviewer may not choose is ignored, not an error
    assert rc.get("/review/audit?kind=rounds").status_code == 200
    assert rc.get("/review/audit?kind=<script>").status_code == 200


def test_audit_log_pages_by_fifty_and_bounds_the_page(app, rc, returned_case):
    aid = returned_case["cordoba"]
    with app.app_context():
        s = db.new_session()
        start = utcnow() - timedelta(days=1)
        for i in range(120):
            s.add(AuditEntry(user_id=None, assessment_id=aid, field="level", old="1", new="2", comment=f"nota {i:03d}",
                             at=start + timedelta(seconds=i)))
        s.commit()
        total = s.query(AuditEntry).filter(AuditEntry.assessment_id.is_not(None)).count()
        s.close()
    pages = -(-total // 50)
    first = text(rc.get("/review/audit?lang=en"))
    assert first.count("<tr><td data-label") == 50
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert f"Page 1 of {pages}" in first and f"{total} entries" in first
    second = text(rc.get("/review/audit?page=2&lang=en"))
    assert second.count("<tr><td data-label") == 50 and 'rel="prev"' in second
    # beyond the last page: the last page (no error, no empty table)
    last = text(rc.get("/review/audit?page=9999&lang=en"))
    assert f"Page {pages} of {pages}" in last and 'rel="next"' not in last
    assert last.count("<tr><td data-label") == total - 50 * (pages - 1)
    # the filters ride along the page links
    filtered = text(rc.get("/review/audit?q=cordoba&kind=answers&lang=en"))
    assert re.search(r'href="/review/audit\?[^"]*page=2[^"]*"', filtered)
    link = re.search(r'href="(/review/audit\?[^"]*page=2[^"]*)"', filtered).group(1)
    assert "q=cordoba" in link and "kind=answers" in link
    # a page that is not a number is refused with a message, not a 500
    assert rc.get("/review/audit?page=abc").status_code == 400
    assert rc.get("/review/audit?page=0").status_code == 400


def test_reviewers_never_see_staff_only_round_entries(app, rc, factory, returned_case):
    with app.app_context():
        s = db.new_session()
        s.add(AuditEntry(user_id=None, subject="round:7 provider:AR-001", field="selection", old=None, new="selected",
                         comment="Justificación confidencial del equipo"))
        s.commit()
        s.close()
    for url in ("/review/audit?lang=en", "/review/audit?kind=rounds&lang=en", "/review/audit?page=2"):
        assert "Justificación confidencial" not in text(rc.get(url))
    admin = client_for(app, factory.user("admin"))
    page = visible(text(admin.get("/review/audit?kind=rounds&lang=en")))
    assert "Justificación confidencial" in page and "Round 7, provider AR-001" in page and "Selected" in page


# ----------------------------------------------------------------------------- comparison page


def test_comparison_of_no_institution_is_one_message(rc):
    response = rc.get("/compare?lang=en")
    assert response.status_code == 200
    page = text(response)
    assert "No institution matches these filters" in page
    assert "0 institutions" in page
    assert "fewer than" not in visible(page) and "<table" not in page


def test_comparison_labels_types_and_instruments(rc, rubric):
    for lang in ("es", "pt", "en"):
        page = text(rc.get(f"/compare?lang={lang}"))
        options = re.search(r'<select id="f-type"[^>]*>(.*?)</select>', page, re.S).group(1)
        labels = re.findall(r">([^<]+)</option>", options)
        assert "national_service" not in labels and "ngo" not in labels
        assert 'value="national_service"' in options
        version = re.search(r'<select id="f-version"[^>]*>(.*?)</select>', page, re.S).group(1)
        assert rubric.title(lang) in version and "ifp-migrant-inclusion" not in version


def test_comparison_counts_use_plurals_and_explain_what_is_hidden(app, rc, factory):
    member = factory.user("member", institution=factory.institution(name="Única", country="CO"))
    factory.assessment(member, levels=3, submit=True)
    page = text(rc.get("/compare?lang=en"))
    assert "1 institution (latest assessment of each)." in page
    assert "Cells with fewer than 5 institutions show “fewer than 5” and no figure." in page
    # reviewers are told why they still see each institution's scores below
    assert 'id="institution-level-why"' in page and "Below the aggregates you still see each institution’s scores." in page
    assert '<td class="country">Colombia</td>' in page
    staff = client_for(app, factory.user("staff"))
    staff_page = text(staff.get("/compare?lang=en"))
    assert "institution-level-why" not in staff_page and "Única" not in staff_page


# ----------------------------------------------------------------------------- staff home


def test_staff_home_counts_the_assessments_instead_of_saying_there_are_none(app, factory, returned_case):
    staff = client_for(app, factory.user("staff"))
    page = visible(text(staff.get("/?lang=en")))
    assert "There are no assessments yet." not in page and "No institution has submitted" not in page
    # Córdoba (submitted) and Técnica (validated); the returned one is a draft again
    assert "2 self-assessments submitted" in page and "1 waiting for review" in page and "1 validated" in page
    assert "from 2 institutions in 2 countries" in page
    assert "Centro de Formación Córdoba" not in page  # staff see counts, not institutions


def test_staff_home_with_nothing_submitted_says_so(app, factory):
    staff = client_for(app, factory.user("staff"))
    page = visible(text(staff.get("/?lang=en")))
    assert "No institution has submitted a self-assessment yet." in page


def test_reviewer_home_shows_counts_and_the_list(rc, returned_case):
    page = visible(text(rc.get("/?lang=en")))
    assert "2 self-assessments submitted" in page and "Centro de Formación Córdoba" in page


# ----------------------------------------------------------------------------- review page


def test_review_page_marks_instrument_wording_in_another_language(app, rc, factory, rubric):
    member = factory.user("member", institution=factory.institution(name="English Institute", country="PE"))
    aid = factory.assessment(member, levels=3, submit=True, language="en")
    crit = rubric.criteria[0]
    page = text(rc.get(f"/review/{aid}"))  # the reviewer's interface is in Spanish
    assert '<html lang="es">' in page
    assert f'<legend><span lang="en">{crit.title("en")}</span></legend>' in page
    assert f'<option value="3" selected lang="en">3 · {rubric.level_name(3, "en")}</option>' in page
    assert "<aside" not in page
    same = text(rc.get(f"/review/{aid}?lang=en"))
    assert f"<legend>{crit.title('en')}</legend>" in same and 'lang="en">' not in same.split("<main", 1)[1]


def test_mixing_versions_is_refused_in_words_without_ids(app, rc, factory, rubric):
    from datetime import UTC, datetime

    from rubric_app.models import Assessment

    member = factory.user("member", institution=factory.institution(name="Versión uno", country="AR"))
    factory.assessment(member, levels=3, submit=True)
    inst = factory.institution(name="Versión dos", country="AR")
    with app.app_context():
        s = db.new_session()
        s.add(Assessment(institution_id=inst.id, instrument_id=rubric.id, instrument_version="9.9", instrument_hash="f" * 64,
                         language="es", status="submitted", round_number=1, submitted_at=datetime.now(UTC),
                         self_scores={**{d.id: "3.00" for d in rubric.dimensions}, "index": "50.0"}))
        s.commit()
        s.close()
    response = rc.get(f"/compare?instrument={rubric.id}&countries=Argentina&lang=es")
    assert response.status_code == 422
    page = text(response)
    words = visible(page)
    assert rubric.id not in words
    assert rubric.title("es") in words and "9.9" in words
    assert 'id="f-countries"' in page  # the form is there to choose again

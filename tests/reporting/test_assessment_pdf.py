"""The PDF report: text read back out of the PDF, locale formatting, escaping, caching."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from rubric_app.extensions import db
from rubric_app.models import Assessment
from rubric_app.services import assessments as svc
from rubric_app.services.reports import assessment_report


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def submitted(app, factory):
    inst = factory.institution(name="<b>Instituto</b> & <font size=40>Sur</font>", country="AR", city="Rosario")
    user = factory.user(institution=inst)
    levels = {}
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    for i, crit in enumerate(rubric.criteria):
        levels[crit.id] = (2, 3, 3)[i % 3]  # every dimension: 2, 3, 3 -> 2.67
    assessment_id = factory.assessment(user, levels=levels, submit=True)
    return user, assessment_id, rubric


def render(app, assessment_id, lang):
    with app.app_context():
        s = db.new_session()
        assessment = s.get(Assessment, assessment_id)
        _ = assessment.answers, assessment.plan_items
        path = assessment_report(app.extensions["instruments"], assessment, lang, app.config["REPORTS_DIR"])
        s.close()
    return path


def test_spanish_report_has_cover_scores_plan_and_rules(app, submitted):
    _user, assessment_id, rubric = submitted
    text = pdf_text(render(app, assessment_id, "es").read_bytes())
    assert "<b>Instituto</b> & <font size=40>Sur</font>" in text  # markup printed literally
    assert "Argentina" in text and "Rosario" in text
    assert rubric.id in text and rubric.version in text and rubric.hash in text.replace("\n", "")
    assert "2,67" in text  # decimal comma
    assert "Índice general de inclusión" in text or "índice general de inclusión" in text
    assert "41,8" in text  # (2.67 - 1) / 4 * 100 = 41.75 -> 41.8 (half-up)
    assert "Plan de mejora" in text
    first = rubric.criteria[0]
    assert first.descriptors[2]("es")[:40] in text.replace("\n", " ")
    assert first.actions[3][0]("es")[:30] in text.replace("\n", " ")
    assert "redondeada" in text  # the appendix states the rounding rule


def test_english_and_portuguese_reports_use_their_language_and_numbers(app, submitted):
    _user, assessment_id, rubric = submitted
    en = pdf_text(render(app, assessment_id, "en").read_bytes())
    assert "Improvement plan" in en and "2.67" in en and "41.8" in en
    assert rubric.dimensions[0].name("en") in en
    pt = pdf_text(render(app, assessment_id, "pt").read_bytes())
    assert "Plano de melhoria" in pt and "2,67" in pt
    assert rubric.dimensions[0].name("pt") in pt


def test_report_is_redrawn_only_when_content_changes(app, submitted):
    user, assessment_id, rubric = submitted
    first = render(app, assessment_id, "es")
    mtime = first.stat().st_mtime_ns
    again = render(app, assessment_id, "es")
    assert again == first and again.stat().st_mtime_ns == mtime
    with app.app_context():
        s = db.new_session()
        assessment = s.get(Assessment, assessment_id)
        crit = svc.plan(app.extensions["instruments"], assessment)[0].criterion_id
        svc.update_plan_item(s, app.extensions["instruments"], s.merge(user), assessment.id, crit,
                             responsible="Coordinación <i>académica</i>", seen_version=0)
        s.close()
    changed = render(app, assessment_id, "es")
    assert changed != first
    assert not first.exists()  # the stale file is removed
    assert "Coordinación <i>académica</i>" in pdf_text(changed.read_bytes())


def test_draft_report_is_marked_draft(app, factory):
    user = factory.user()
    assessment_id = factory.assessment(user, levels={})
    text = pdf_text(render(app, assessment_id, "en").read_bytes())
    assert "Draft: self-assessment in progress, not submitted and not validated" in text

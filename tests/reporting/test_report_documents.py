"""The assessment report as a document people carry out: long texts, the one-page summary, the
validation status, the annex, wording and numbers (text read back out of the PDF)."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from pypdf import PdfReader

from rubric_app.extensions import db
from rubric_app.models import Answer, Assessment
from rubric_app.services import assessments as svc
from rubric_app.services.reports import assessment_report

LANGS = ("es", "en", "pt")


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]+", text))


def render(app, assessment_id, lang, *, with_session=False):
    with app.app_context():
        s = db.new_session()
        assessment = s.get(Assessment, assessment_id)
        _ = assessment.answers, assessment.plan_items
        path = assessment_report(app.extensions["instruments"], assessment, lang, app.config["REPORTS_DIR"],
                                 session=s if with_session else None)
        s.close()
    return path


def long_text(tag: str, length: int = 5000, paragraphs: bool = True) -> str:
    """``length`` characters of distinct tokens (tag + number), in paragraphs of about 600 characters."""
    tokens, size, n = [], 0, 0
    while size < length - 12:
        token = f"{tag}w{n:04d}"
        tokens.append(token)
        size += len(token) + 1
        n += 1
    if not paragraphs:
        return " ".join(tokens)[:length]
    out = []
    for i in range(0, len(tokens), 50):
        out.append(" ".join(tokens[i:i + 50]))
    return "\n\n".join(out)[:length]


@pytest.fixture
def heavy(app, factory):
    """A validated assessment with 18 evidence notes of 5,000 characters, long plan notes and long
    reviewer comments on every criterion."""
    inst = factory.institution(name="Instituto de Formación Técnica del Sur", country="PE", city="Arequipa")
    user = factory.user(institution=inst)
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    levels = {c.id: (2, 3, 3)[i % 3] for i, c in enumerate(rubric.criteria)}
    assessment_id = factory.assessment(user, levels=levels, submit=True)
    with app.app_context():
        s = db.new_session()
        registry = app.extensions["instruments"]
        texts = {}
        for i, row in enumerate(s.query(Answer).filter_by(assessment_id=assessment_id).all()):
            row.evidence = long_text(f"ev{i:02d}")
            row.validated_level = row.level
            row.review_comment = long_text(f"rc{i:02d}", 3000)
            texts[row.criterion_id] = (row.evidence, row.review_comment)
        s.commit()
        a = s.get(Assessment, assessment_id)
        for k, item in enumerate(svc.plan(registry, a)):
            svc.update_plan_item(s, registry, s.merge(user), assessment_id, item.criterion_id, responsible=f"Equipo {k}",
                                 due_date=date(2027, 3, 1 + k), status="in_progress" if k % 2 else "todo",
                                 note=long_text(f"pn{k:02d}"), seen_version=0)
        a = s.get(Assessment, assessment_id)
        a.status, a.reviewed_at = "validated", datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
        s.commit()
        s.close()
    return assessment_id, texts


@pytest.mark.parametrize("lang", LANGS)
def test_long_evidence_notes_and_comments_render_with_every_word_and_no_blank_page(app, heavy, lang):
    assessment_id, texts = heavy
    pages = pages_text(render(app, assessment_id, lang).read_bytes())
    found = set().union(*(words(p) for p in pages))
    expected = set()
    for evidence, comment in texts.values():
        expected |= words(evidence) | words(comment)
    expected |= {f"pn{k:02d}w0000" for k in range(18)} & words(" ".join(pages))  # plan notes: checked in full below
    missing = expected - found
    assert not missing, f"{len(missing)} words missing, e.g. {sorted(missing)[:5]}"
    for k in range(18):  # every plan item's note, every word
        note_words = words(long_text(f"pn{k:02d}"))
        assert note_words <= found, f"plan note {k}: {len(note_words - found)} words missing"
    for number, page in enumerate(pages, start=1):
        body = [line for line in page.splitlines() if line.strip() and "Ronda 1 ·" not in line and "Round 1 ·" not in line
                and not re.fullmatch(r"(Página|Page) \d+", line.strip())]
        assert len(body) >= 2, f"page {number} is (almost) blank: {body}"


def test_unbroken_and_odd_text_never_makes_the_pdf_fail(app, factory):
    user = factory.user()
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    assessment_id = factory.assessment(user, levels=3, submit=True)
    odd = ["x" * 5000, "😀" * 2000 + " إدماج المهاجرين " * 50, "a\u0301" * 2400, "<para>&amp;</para>" * 250, "\t \u00a0" * 1600 + "fin"]
    with app.app_context():
        s = db.new_session()
        for row, text in zip(s.query(Answer).filter_by(assessment_id=assessment_id).all(), odd * 4, strict=False):
            row.evidence = text[:5000]
        s.commit()
        s.close()
    for lang in LANGS:
        pages = pages_text(render(app, assessment_id, lang).read_bytes())
        joined = "".join(pages).replace("\n", "").replace("-", "")
        assert "x" * 300 in joined  # the unbroken word is wrapped, not cut off
        assert "<para>&amp;</para>" in "".join(pages)
    assert rubric.criteria


@pytest.mark.parametrize("lang,status_text,index_label", [
    ("es", "Validada por CINTERFOR el 20 de noviembre de 2026", "Índice general de inclusión (validado)"),
    ("en", "Validated by CINTERFOR on 20 November 2026", "Overall inclusion index (validated)"),
    ("pt", "Validada pelo CINTERFOR em 20 de novembro de 2026", "Índice geral de inclusão (validado)"),
])
def test_first_page_is_a_summary_with_status_levels_and_five_actions(app, heavy, lang, status_text, index_label):
    assessment_id, _texts = heavy
    registry = app.extensions["instruments"]
    pages = pages_text(render(app, assessment_id, lang).read_bytes())
    first = pages[0].replace("\n", " ")
    assert status_text in first
    assert index_label in first
    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, assessment_id)
        rubric = svc.rubric_for(registry, a)
        plan = svc.plan(registry, a)
        s.close()
    for dim in rubric.dimensions:
        assert dim.name(lang)[:25] in first
    # every plan item has priority 1 here: the five come from the weakest dimensions, lowest level first
    assert len({item.priority for item in plan}) == 1
    shown = [item for item in plan if rubric.criterion(item.criterion_id).title(lang)[:30] in first]
    assert len(shown) == 5
    assert all(item.current == 2 for item in shown)
    assert "Equipo" in first and "2027" in first
    # the instrument hash is in the annex, not on the first page
    assert rubric.hash[:16] not in first.replace(" ", "")
    assert rubric.hash in "".join(p.replace("\n", "") for p in pages[-3:])


def test_status_line_for_submitted_and_draft(app, factory):
    user = factory.user()
    submitted = factory.assessment(user, levels=3, submit=True)
    first = pages_text(render(app, submitted, "es").read_bytes())[0].replace("\n", " ")
    assert "Autoevaluada, aún no validada" in first
    draft = factory.assessment(factory.user(), levels={})
    first = pages_text(render(app, draft, "en").read_bytes())[0].replace("\n", " ")
    assert "Draft" in first and "not validated" in first


def test_english_documents_use_british_dates(app, heavy):
    assessment_id, _texts = heavy
    text = " ".join(pages_text(render(app, assessment_id, "en").read_bytes())).replace("\n", " ")
    assert "20 November 2026" in text
    assert not re.search(r"(January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2},", text)
    assert "1 Mar 2027" in text  # plan due dates, medium format


def test_change_column_is_the_noun_and_equal_gains_read_the_same(app, factory):
    registry = app.extensions["instruments"]
    rubric = registry.latest("ifp-migrant-inclusion")
    user = factory.user()
    # round 1: policy 1,1,2 (1.33) and access 1,2,2 (1.67); round 2: policy 2,3,3 (2.67), access 3,3,3 (3.00)
    first_levels, second_levels = {}, {}
    for dim, before, after in ((rubric.dimensions[0], (1, 1, 2), (2, 3, 3)), (rubric.dimensions[1], (1, 2, 2), (3, 3, 3))):
        for crit, b, a in zip(dim.criteria, before, after, strict=True):
            first_levels[crit.id], second_levels[crit.id] = b, a
    for dim in rubric.dimensions[2:]:
        for crit in dim.criteria:
            first_levels[crit.id] = second_levels[crit.id] = 3
    factory.assessment(user, levels=first_levels, submit=True)
    with app.app_context():
        s = db.new_session()
        u = s.merge(user)
        a = svc.start_assessment(s, registry, u, instrument_id="ifp-migrant-inclusion", language="es", from_previous=True)
        from rubric_app.domain.scoring import CriterionAnswer
        svc.save_answers(s, registry, u, a, [CriterionAnswer(cid, lvl, False, "", None, "") for cid, lvl in second_levels.items()])
        second = a.id
        s.close()
    for lang, word in (("es", "Cambio"), ("pt", "Variação"), ("en", "Change")):
        text = " ".join(pages_text(render(app, second, lang, with_session=True).read_bytes())).replace("\n", " ")
        assert word in text
        assert "Modificar" not in text and "Alterar" not in text
        sep = "." if lang == "en" else ","
        assert text.count(f"+1{sep}33") >= 2, "two equal gains of 4 levels over 3 criteria print the same"
        assert f"+1{sep}34" not in text


def test_score_change_rounds_the_unrounded_difference():
    from rubric_app.domain.instruments import Criterion, Dimension  # noqa: F401  (types only)
    from rubric_app.domain.scoring import CriterionAnswer, score_change

    class Dim:
        id = "d"
        weight = Decimal(1)
        criteria = [type("C", (), {"id": f"c{i}"})() for i in range(3)]

    def answers(levels):
        return {f"c{i}": CriterionAnswer(f"c{i}", lvl) for i, lvl in enumerate(levels)}

    assert score_change(Dim, answers((2, 3, 3)), answers((1, 1, 2))) == Decimal("1.33")
    assert score_change(Dim, answers((3, 3, 3)), answers((1, 2, 2))) == Decimal("1.33")
    assert score_change(Dim, answers((1, 1, 2)), answers((2, 3, 3))) == Decimal("-1.33")
    assert score_change(Dim, answers((3, 3, 3)), answers((3, 3, 3))) == Decimal("0.00")
    na = {"c0": CriterionAnswer("c0", None, True, "n/a"), "c1": CriterionAnswer("c1", None, True, "n/a"), "c2": CriterionAnswer("c2", 3)}
    assert score_change(Dim, na, answers((1, 1, 1))) is None  # insufficient evidence: no change published


def test_a_failed_document_does_not_claim_nothing_was_saved(app, client, factory, monkeypatch):
    """A GET that fails (here: drawing the PDF) says the document could not be produced, not "nothing was saved"."""
    from tests.conftest import login
    import rubric_app.services.reports as reports

    user = factory.user()
    assessment_id = factory.assessment(user, levels=3, submit=True)

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(reports, "build_assessment_pdf", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(client, user)
    response = client.get(f"/assessments/{assessment_id}/report.pdf?lang=en")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "could not be produced" in page and "Nothing was saved" not in page


def test_catalog_stamp_follows_the_translations(tmp_path):
    """Cached PDFs carry the catalogs' hash in their key: a corrected translation redraws them."""
    from rubric_app.i18n import catalog_stamp

    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid "Change"\nmsgstr "Modificar"\n', encoding="utf-8")
    before = catalog_stamp(tmp_path)
    assert catalog_stamp(tmp_path) == before
    po.write_text('msgid "Change"\nmsgstr "Cambio"\n', encoding="utf-8")
    assert catalog_stamp(tmp_path) != before

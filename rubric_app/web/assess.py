"""The self-assessment: start, one page per dimension, review, submit, results, plan, PDF."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..domain.scoring import CriterionAnswer, missing_criteria, progress
from ..extensions import db
from ..i18n import LANGUAGES, current_language
from ..models import DRAFT, VALIDATED
from ..reporting.charts import radar_svg
from ..services import Invalid
from ..services import assessments as svc
from ..services.reports import assessment_report
from . import registry, role_required
from .forms import EmptyForm, PlanItemForm, StartForm, dimension_form_class, options

bp = Blueprint("assess", __name__, url_prefix="/assessments")


@bp.route("/new", methods=["GET", "POST"])
@role_required("member")
def start():
    form = StartForm()
    rubrics = registry().rubrics()
    form.instrument.choices = options((f"{r.id}@{r.version}", f"{r.title(form.language.data or 'es')} — v{r.version}") for r in rubrics)
    if request.method == "GET":
        form.language.data = current_user.locale or "es"
    if form.validate_on_submit():
        instrument_id, _sep, version = form.instrument.data.partition("@")
        assessment = svc.start_assessment(db.session, registry(), current_user, instrument_id=instrument_id, version=version,
                                          language=form.language.data, from_previous=form.from_previous.data == "1")
        return redirect(url_for(".resume", assessment_id=assessment.id))
    has_previous = bool(svc.visible_assessments(db.session, current_user))
    return render_template("assess/start.html", form=form, has_previous=has_previous), 422 if form.errors else 200


@bp.get("/<int:assessment_id>")
@login_required
def resume(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    if assessment.status != DRAFT or current_user.role != "member":
        return redirect(url_for(".results", assessment_id=assessment.id))
    rubric = svc.rubric_for(registry(), assessment)
    missing = missing_criteria(rubric, svc.answer_map(assessment))
    if not missing:
        return redirect(url_for(".review", assessment_id=assessment.id))
    return redirect(url_for(".dimension", assessment_id=assessment.id, dimension_id=rubric.criterion(missing[0]).dimension_id))


def answer_error_message(field: str | None) -> str:
    """The interface's wording for a broken answer rule."""
    return {
        "na_reason": _("A reason is required when a criterion is not applicable."),
        "target": _("The target must be a level from 1 to 5, not below the current level."),
        "level": _("Choose a level from 1 to 5, or not applicable."),
        "evidence": _("The text is too long."),
    }.get(field or "", _("This answer is not valid."))


def _answers_from_form(form, dimension, stored: dict[str, CriterionAnswer]) -> list[CriterionAnswer]:
    answers = []
    for crit in dimension.criteria:
        choice = form[f"crit_{crit.id}"].data
        reason = form[f"na_reason_{crit.id}"].data or ""
        evidence = form[f"evidence_{crit.id}"].data or ""
        target = form[f"target_{crit.id}"].data or None
        if choice in (None, "", "None") and not (reason or evidence or target) and crit.id not in stored:
            continue
        level = int(choice) if choice and choice.isdigit() else None
        answers.append(CriterionAnswer(crit.id, level, choice == "na", reason, int(target) if target else None, evidence))
    return answers


def _form_data(dimension, stored: dict[str, CriterionAnswer]) -> dict:
    data = {}
    for crit in dimension.criteria:
        ans = stored.get(crit.id)
        if ans is None:
            continue
        data[f"crit_{crit.id}"] = "na" if ans.not_applicable else (str(ans.level) if ans.level else None)
        data[f"na_reason_{crit.id}"] = ans.na_reason
        data[f"evidence_{crit.id}"] = ans.evidence
        data[f"target_{crit.id}"] = str(ans.target) if ans.target and ans.level else ""
    return data


@bp.route("/<int:assessment_id>/d/<dimension_id>", methods=["GET", "POST"])
@role_required("member")
def dimension(assessment_id: int, dimension_id: str):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=request.method == "POST")
    if assessment.status != DRAFT:
        return redirect(url_for(".results", assessment_id=assessment.id))
    rubric = svc.rubric_for(registry(), assessment)
    ids = [d.id for d in rubric.dimensions]
    if dimension_id not in ids:
        return render_template("error.html", status=404, message=None), 404
    dim = rubric.dimension(dimension_id)
    stored = svc.answer_map(assessment)
    form_class = dimension_form_class(dim)
    errors: dict[str, str] = {}
    details: list[dict] = []
    status = 200
    if request.method == "POST":
        form = form_class()
        autosave = request.headers.get("X-Requested-With") == "fetch"
        if form.validate():
            try:
                svc.save_answers(db.session, registry(), current_user, assessment, _answers_from_form(form, dim, stored))
            except Invalid as exc:
                details = [{"criterion": d["criterion"], "field": d.get("field"), "message": answer_error_message(d.get("field"))}
                           for d in exc.details]
                status = 422
            else:
                done, total = progress(rubric, svc.answer_map(assessment))
                if autosave:
                    return jsonify({"saved": True, "answered": done, "total": total})
                go = request.form.get("go", "save")
                index = ids.index(dimension_id)
                if go == "next":
                    target = url_for(".dimension", assessment_id=assessment.id, dimension_id=ids[index + 1]) if index + 1 < len(ids) \
                        else url_for(".review", assessment_id=assessment.id)
                    return redirect(target)
                if go == "prev" and index > 0:
                    return redirect(url_for(".dimension", assessment_id=assessment.id, dimension_id=ids[index - 1]))
                if go == "review":
                    return redirect(url_for(".review", assessment_id=assessment.id))
                flash(_("Your answers were saved."), "success")
                return redirect(url_for(".dimension", assessment_id=assessment.id, dimension_id=dimension_id))
        else:
            fields = {"crit_": "level", "na_reason_": "na_reason", "evidence_": "evidence", "target_": "target"}
            for crit in dim.criteria:
                for prefix, field in fields.items():
                    for message in form[prefix + crit.id].errors:
                        details.append({"criterion": crit.id, "field": field, "message": str(message)})
            status = 422
        for detail in details:
            errors[detail["criterion"]] = " ".join(filter(None, (errors.get(detail["criterion"]), detail["message"])))
        if autosave and status == 422:
            return jsonify({"error": {"status": 422, "message": _("Some answers are not valid; nothing was saved."),
                                      "details": details}}), 422
    else:
        form = form_class(data=_form_data(dim, stored))
    done, total = progress(rubric, stored if status == 200 else svc.answer_map(assessment))
    lang = assessment.language
    return render_template("assess/dimension.html", assessment=assessment, rubric=rubric, dim=dim, form=form, lang=lang,
                           errors=errors, done=done, total=total, position=ids.index(dimension_id) + 1,
                           answers=svc.answer_map(assessment)), status


@bp.get("/<int:assessment_id>/review")
@login_required
def review(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    rubric = svc.rubric_for(registry(), assessment)
    answers = svc.answer_map(assessment)
    missing = [rubric.criterion(cid) for cid in missing_criteria(rubric, answers)]
    done, total = progress(rubric, answers)
    return render_template("assess/review.html", assessment=assessment, rubric=rubric, answers=answers, missing=missing,
                           done=done, total=total, lang=assessment.language, form=EmptyForm())


@bp.post("/<int:assessment_id>/submit")
@role_required("member")
def submit(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
    try:
        svc.submit(db.session, registry(), current_user, assessment)
    except Invalid as exc:
        flash(_("%(count)d criteria have no answer yet.", count=len(exc.details)), "error")
        return redirect(url_for(".review", assessment_id=assessment.id))
    flash(_("The self-assessment was submitted. Its answers are now locked."), "success")
    return redirect(url_for(".results", assessment_id=assessment.id))


@bp.get("/<int:assessment_id>/results")
@login_required
def results(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    rubric = svc.rubric_for(registry(), assessment)
    lang = request.args.get("lang") if request.args.get("lang") in LANGUAGES else assessment.language
    answers = svc.answer_map(assessment)
    scores = svc.scores(registry(), assessment)
    plan = svc.plan(registry(), assessment)
    edits = svc.plan_edits(assessment)
    forms = {}
    for item in plan:
        edit = edits.get(item.criterion_id)
        forms[item.criterion_id] = PlanItemForm(prefix=f"plan_{item.criterion_id}", formdata=None,
                                                data={"responsible": edit.responsible, "due_date": edit.due_date,
                                                      "status": edit.status, "note": edit.note} if edit else None)
    chart = radar_svg(rubric, answers, lang=lang)
    context = results_context(assessment, rubric, scores, lang)
    return render_template("assess/results.html", assessment=assessment, rubric=rubric, scores=scores, plan=plan, edits=edits,
                           forms=forms, chart=chart, lang=lang, answers=answers,
                           can_edit_plan=current_user.role == "member", **context)


def results_context(assessment, rubric, scores, lang: str) -> dict:
    """Reviewer levels, benchmark against country and region, and change since the previous round."""
    from ..reporting.charts import CURRENT_COLOUR, GREY, TARGET_COLOUR, grouped_bars_drawing, to_svg
    from ..services.comparison import benchmark

    validated = svc.scores(registry(), assessment, validated=True) if assessment.status == VALIDATED else None
    reviewed = {row.criterion_id: row for row in assessment.answers if row.validated_level is not None or row.review_comment}
    bench = benchmark(db.session, registry(), assessment)
    previous = svc.previous_scores(db.session, registry(), assessment)
    names = [d.name(lang) for d in rubric.dimensions]
    own = [scores.dimensions[d.id].score for d in rubric.dimensions]

    def median(group: str, dim_id: str):
        cell = bench[group].get(dim_id)
        return cell.median if cell is not None and not cell.suppressed else None

    bench_chart = to_svg(grouped_bars_drawing(names, [
        (_("This institution"), own, CURRENT_COLOUR),
        (_("Country median"), [median("country", d.id) for d in rubric.dimensions], TARGET_COLOUR),
        (_("Region median"), [median("region", d.id) for d in rubric.dimensions], GREY),
    ], lang=current_language()), _("Dimension scores against the country and region medians"))
    change_chart = None
    change = None
    if previous is not None:
        from ..domain.comparison import change_since

        change = change_since(previous[1], {**{d: r.score for d, r in scores.dimensions.items()}, "index": scores.index})
        change_chart = to_svg(grouped_bars_drawing(names, [
            (_("Round %(n)s", n=previous[0].round_number), [previous[1].get(d.id) for d in rubric.dimensions], GREY),
            (_("Round %(n)s", n=assessment.round_number), own, CURRENT_COLOUR),
        ], lang=current_language()), _("Change since the previous round"))
    return {"validated": validated, "reviewed": reviewed, "bench": bench, "bench_chart": bench_chart, "previous": previous,
            "change": change, "change_chart": change_chart,
            "returned": [e for e in assessment.events if e.action == "returned"]}


@bp.post("/<int:assessment_id>/plan/<criterion_id>")
@role_required("member")
def plan_item(assessment_id: int, criterion_id: str):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    form = PlanItemForm(prefix=f"plan_{criterion_id}")
    if not form.validate():
        flash(_("The plan item was not saved: check the date and the lengths of the texts."), "error")
    else:
        svc.update_plan_item(db.session, registry(), assessment, criterion_id, responsible=form.responsible.data or "",
                             due_date=form.due_date.data, status=form.status.data, note=form.note.data or "")
        flash(_("The plan item was saved."), "success")
    return redirect(url_for(".results", assessment_id=assessment.id) + f"#plan-{criterion_id}")


@bp.get("/<int:assessment_id>/report.pdf")
@login_required
def report(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    lang = request.args.get("lang") if request.args.get("lang") in LANGUAGES else assessment.language
    path = assessment_report(registry(), assessment, lang, current_app.config["REPORTS_DIR"], db.session)
    filename = f"plan-{assessment.id}-{lang}.pdf"
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=filename)

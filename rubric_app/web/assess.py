"""The self-assessment: start, one page per dimension, review, submit, results, plan, PDF."""
from __future__ import annotations

import threading
from datetime import date
from collections import OrderedDict
from typing import Any, Callable

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import get_locale, ngettext
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from flask_login import current_user, login_required

from ..domain.merging import ANSWER_FIELDS, answer_fields, fingerprints, parse_fingerprints
from ..domain.scoring import missing_criteria, progress
from ..extensions import db
from ..inputs import MAX_ID, ascii_int
from ..i18n import LANGUAGES, current_language
from ..models import DRAFT, VALIDATED
from ..reporting.charts import radar_svg
from ..services import Invalid, PreconditionFailed
from ..services import assessments as svc
from ..services.reports import assessment_report
from . import page_cache, registry, role_required
from .forms import PLAN_FIELD_LABELS, PLAN_STATUS_LABELS, EmptyForm, PlanItemForm, StartForm, VersionedForm, dimension_form_class, options

bp = Blueprint("assess", __name__, url_prefix="/assessments")


def _to_draft_in_progress(draft_id: int):
    """Send the person to the self-assessment their institution has in progress, saying why."""
    flash(_("Your institution already has a self-assessment in progress: continue it here, or discard it to start a new one."),
          "info")
    return redirect(url_for(".review", assessment_id=draft_id))


@bp.route("/new", methods=["GET", "POST"])
@role_required("member")
def start():
    draft = svc.draft_in_progress(db.session, current_user)
    if draft is not None:
        return _to_draft_in_progress(draft.id)
    form = StartForm()
    rubrics = registry().rubrics()
    lang = current_language()
    form.instrument.choices = options((f"{r.id}@{r.version}", r.title(lang) + " · " + _("version %(version)s", version=r.version))
                                      for r in rubrics)
    if request.method == "GET":
        form.language.data = current_user.locale or "es"
        # the newest version of the instrument is the one offered first (earlier ones stay for comparability)
        latest = registry().latest(rubrics[0].id) if rubrics else None
        if latest is not None:
            form.instrument.data = f"{latest.id}@{latest.version}"
    if form.validate_on_submit():
        instrument_id, _sep, version = form.instrument.data.partition("@")
        try:
            assessment = svc.start_assessment(db.session, registry(), current_user, instrument_id=instrument_id, version=version,
                                              language=form.language.data, from_previous=form.from_previous.data == "1",
                                              one_draft=True)
        except svc.DraftInProgress as exc:  # started meanwhile, e.g. by a colleague
            return _to_draft_in_progress(exc.draft_id)
        if assessment.answers:  # copied from the previous round: walk through it from the first dimension, not to the review
            flash(_("The answers of round %(n)s were copied in, with the targets chosen then. Go through each dimension and change "
                    "what is different now.", n=assessment.round_number - 1), "info")
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
    if missing:
        return redirect(url_for(".dimension", assessment_id=assessment.id, dimension_id=rubric.criterion(missing[0]).dimension_id))
    if assessment.version <= 1:  # answers copied from the previous round, not looked at yet: walk through them from the start
        return redirect(url_for(".dimension", assessment_id=assessment.id, dimension_id=rubric.dimensions[0].id))
    return redirect(url_for(".review", assessment_id=assessment.id))


def answer_error_message(field: str | None) -> str:
    """The interface's wording for a broken answer rule."""
    return {
        "na_reason": _("A reason is required when a criterion is not applicable."),
        "target": _("The target must be a level from 1 to 5, not below the current level."),
        "level": _("Choose a level from 1 to 5, or not applicable."),
        "choice": _("Choose a level from 1 to 5, or not applicable."),
        "not_applicable": _("This criterion applies to every institution: it cannot be marked not applicable. Choose a level from 1 to 5."),
        "evidence": _("The text is too long."),
    }.get(field or "", _("This answer is not valid."))


FORM_FIELDS = {"crit_": "choice", "na_reason_": "na_reason", "evidence_": "evidence", "target_": "target"}


def _posted_values(form, crit_id: str) -> dict:
    """One criterion's values as the page sent them (choice "na", 1..5 or None; target None: default)."""
    choice = form[f"crit_{crit_id}"].data
    target = form[f"target_{crit_id}"].data
    return {
        "choice": "na" if choice == "na" else ascii_int(choice, max_digits=2),
        "na_reason": form[f"na_reason_{crit_id}"].data or "",
        "evidence": form[f"evidence_{crit_id}"].data or "",
        "target": ascii_int(target, max_digits=2),
    }


def _changes_from_form(form, dimension) -> tuple[list[svc.AnswerChange], dict[str, dict]]:
    """The changes a posted dimension page asks for, and the problems of fields the form refused."""
    empty_base = parse_fingerprints(fingerprints(answer_fields(None), ANSWER_FIELDS), ANSWER_FIELDS)
    changes, problems = [], {}
    for crit in dimension.criteria:
        refused = [(field, message) for prefix, field in FORM_FIELDS.items() for message in form[prefix + crit.id].errors]
        if not crit.not_applicable_allowed and form[f"crit_{crit.id}"].data == "na":
            refused = [("not_applicable", "not applicable is not offered for this criterion")]  # a crafted or stale page
        if refused:
            problems[crit.id] = {"criterion": crit.id, "field": refused[0][0], "message": str(refused[0][1])}
            continue
        base = parse_fingerprints(form[f"base_{crit.id}"].data, ANSWER_FIELDS) or empty_base
        version = form[f"ver_{crit.id}"].data
        changes.append(svc.AnswerChange(crit.id, _posted_values(form, crit.id), seen_version=ascii_int(version, 0, MAX_ID),
                                        base=base))
    return changes, problems


def _form_data(dimension, states: dict[str, dict]) -> dict:
    """Form data for the criteria of a dimension from their states ({version, base, values})."""
    data = {}
    for crit in dimension.criteria:
        state = states[crit.id]
        values = state["values"]
        choice = values["choice"]
        data[f"crit_{crit.id}"] = "na" if choice == "na" else (str(choice) if choice else None)
        data[f"na_reason_{crit.id}"] = values["na_reason"]
        data[f"evidence_{crit.id}"] = values["evidence"]
        data[f"target_{crit.id}"] = str(values["target"]) if values["target"] and choice != "na" else ""
        data[f"ver_{crit.id}"] = str(state["version"])
        data[f"base_{crit.id}"] = state["base"]
    return data


def _shown_value(rubric, field: str, value, lang: str) -> str:
    """A field value as a person reads it in a conflict."""
    if field == "choice":
        if value == "na":
            return _("Not applicable")
        return f"{value} · {rubric.level_name(value, lang)}" if value else _("No answer")
    if field == "target":
        return f"{value} · {rubric.level_name(value, lang)}" if value else _("Default (current + 1)")
    return value or "—"


def _conflict_view(rubric, conflicts: list[dict], lang: str) -> dict[str, list[dict]]:
    labels = {"choice": _("Level"), "na_reason": _("Why it does not apply"), "evidence": _("Evidence"), "target": _("Target level")}
    shown: dict[str, list[dict]] = {}
    for c in conflicts:
        shown.setdefault(c["criterion"], []).append({
            "field": c["field"], "label": labels.get(c["field"], c["field"]),
            "mine": _shown_value(rubric, c["field"], c["mine"], lang), "theirs": _shown_value(rubric, c["field"], c["theirs"], lang),
            "theirs_raw": c["theirs"]})
    return shown


class BoundedCache:
    """A small thread-safe LRU mapping for fragments of pages (per process; entries are immutable strings)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, build: Callable[[], Any]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_SEP, _SLOT = "\x1e", "\x1f"


class CriterionStatic:
    """What a criterion's part of a dimension page shows whatever the answers: its heading and guidance (``head``) and
    its descriptor grid with the means of verification (``grid(choice)``, the chosen radio checked)."""

    __slots__ = ("head", "_grid", "_values")

    def __init__(self, head: str, grid: str, values: list[str]):
        self.head = Markup(head)
        self._grid = grid.split(_SLOT)
        self._values = values
        assert len(self._grid) == len(values) + 1

    def grid(self, choice: str | None) -> Markup:
        out = [self._grid[0]]
        for value, part in zip(self._values, self._grid[1:]):
            out.append("checked" if value == choice else "")
            out.append(part)
        return Markup("".join(out))


#: descriptor grids by (instrument id, version, hash, dimension, interface language, assessment language)
criteria_cache = BoundedCache(256)


def static_criteria(rubric, dim, position: int, lang: str) -> dict[str, CriterionStatic]:
    """The unchanging parts of a dimension page, drawn once per instrument version, dimension and pair of languages."""
    ui_lang = str(get_locale() or "es")

    def draw() -> dict[str, CriterionStatic]:
        text = render_template("assess/_criteria_static.html", rubric=rubric, dim=dim, position=position, lang=lang,
                               sep=Markup(_SEP), slot=Markup(_SLOT))
        parts = text.split(_SEP)
        drawn = {}
        for i, crit in enumerate(dim.criteria):
            values = [str(lvl.level) for lvl in rubric.levels] + (["na"] if crit.not_applicable_allowed else [])
            drawn[crit.id] = CriterionStatic(parts[2 * i], parts[2 * i + 1], values)
        return drawn

    return criteria_cache.get((rubric.id, rubric.version, rubric.hash, dim.id, position, ui_lang, lang), draw)


#: the unchanging parts of a plan's items by (instrument id, version, hash, interface language, assessment language, plan)
plan_cache = BoundedCache(256)


def plan_item_heads(rubric, plan, lang: str) -> list[Markup]:
    """Each plan item's heading, descriptors and actions, drawn once per instrument version, plan content and languages."""
    ui_lang = str(get_locale() or "es")
    content = tuple((item.criterion_id, item.dimension_id, item.current, item.target, str(item.priority)) for item in plan)

    def draw() -> list[Markup]:
        text = render_template("assess/_plan_static.html", rubric=rubric, plan=plan, lang=lang, sep=Markup(_SEP))
        return [Markup(part) for part in text.split(_SEP)[:len(plan)]]

    return plan_cache.get((rubric.id, rubric.version, rubric.hash, ui_lang, lang, content), draw)


def _hidden_inputs(dim, fields: dict) -> Markup:
    """The hidden inputs of a dimension form (versions and fingerprints per criterion, then the CSRF token), as
    ``FlaskForm.hidden_tag`` draws them."""
    tag = Markup('<input id="{0}" name="{0}" type="hidden" value="{1}">')
    inputs = []
    for crit in dim.criteria:
        for name in (f"ver_{crit.id}", f"base_{crit.id}"):
            value = fields.get(name)
            inputs.append(tag.format(name, "" if value is None else value))
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        inputs.append(tag.format("csrf_token", generate_csrf()))
    return Markup("\n").join(inputs)


@bp.route("/<int:assessment_id>/d/<dimension_id>", methods=["GET", "POST"])
@role_required("member")
def dimension(assessment_id: int, dimension_id: str):
    if request.method != "POST":
        stamp = svc.assessment_stamp(db.session, current_user, assessment_id)
        if stamp.status != DRAFT:
            return redirect(url_for(".results", assessment_id=assessment_id))
        return page_cache.page("dimension", stamp, lambda: _dimension(assessment_id, dimension_id))
    return _dimension(assessment_id, dimension_id)


def _dimension(assessment_id: int, dimension_id: str):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=request.method == "POST", with_plan=False)
    if assessment.status != DRAFT:
        return redirect(url_for(".results", assessment_id=assessment.id))
    rubric = svc.rubric_for(registry(), assessment)
    ids = [d.id for d in rubric.dimensions]
    if dimension_id not in ids:
        return render_template("error.html", status=404, message=None), 404
    dim = rubric.dimension(dimension_id)
    form_class = dimension_form_class(dim)
    lang = assessment.language
    errors: dict[str, str] = {}
    conflicts: dict[str, list[dict]] = {}
    status = 200
    if request.method == "POST":
        posted = form_class()
        posted.validate()
        autosave = request.headers.get("X-Requested-With") == "fetch"
        changes, refused = _changes_from_form(posted, dim)
        result = svc.write_answers(db.session, registry(), current_user, assessment.id, changes)
        assessment = result.assessment
        rows = {row.criterion_id: row for row in assessment.answers}
        problems = {**refused, **{p["criterion"]: p for p in result.problems}}
        conflicts = _conflict_view(rubric, result.conflicts, lang)
        errors = {cid: answer_error_message(p.get("field")) for cid, p in problems.items()}
        states = {}
        for crit in dim.criteria:
            stored = svc.answer_state(rows.get(crit.id))
            if crit.id in problems:  # keep what the person typed, and the base it started from
                raw_version = posted[f"ver_{crit.id}"].data or ""
                states[crit.id] = {"version": ascii_int(raw_version, 0, MAX_ID) or 0,
                                   "base": posted[f"base_{crit.id}"].data or "", "values": _posted_values(posted, crit.id)}
            elif crit.id in conflicts:  # show theirs beside mine; saving again keeps mine
                states[crit.id] = {**stored, "values": _posted_values(posted, crit.id)}
            else:
                states[crit.id] = stored
        done, total = progress(rubric, svc.answer_map(assessment))
        status = 409 if conflicts else (422 if problems else 200)
        if autosave:
            return jsonify({
                "saved": status == 200, "answered": done, "total": total,
                "message": _("Someone else changed an answer you also changed: choose which to keep.") if conflicts else
                (_("Some answers need attention; the others were saved.") if problems else ""),
                "criteria": {cid: {"version": states[cid]["version"], "base": states[cid]["base"], "values": states[cid]["values"],
                                   "error": errors.get(cid), "conflicts": conflicts.get(cid, [])} for cid in states},
            }), status
        if status == 200:
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
        fields = _form_data(dim, states)
    else:
        rows = {row.criterion_id: row for row in assessment.answers}
        fields = _form_data(dim, {crit.id: svc.answer_state(rows.get(crit.id)) for crit in dim.criteria})
    answers = svc.answer_map(assessment)
    done, total = progress(rubric, answers)
    country = assessment.institution.country if assessment.institution is not None else None
    notes = {crit.id: rubric.country_note(country, crit.id) for crit in dim.criteria}
    position = ids.index(dimension_id) + 1
    return render_template("assess/dimension.html", assessment=assessment, rubric=rubric, dim=dim, fields=fields, lang=lang,
                           hidden=_hidden_inputs(dim, fields), static=static_criteria(rubric, dim, position, lang),
                           errors=errors, conflicts=conflicts, done=done, total=total, position=position,
                           answers=answers, notes=notes, country=country), status


@bp.get("/<int:assessment_id>/review")
@login_required
def review(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    rubric = svc.rubric_for(registry(), assessment)
    answers = svc.answer_map(assessment)
    missing = [rubric.criterion(cid) for cid in missing_criteria(rubric, answers)]
    done, total = progress(rubric, answers)
    comments = {row.criterion_id: row.review_comment for row in assessment.answers if row.review_comment}
    return render_template("assess/review.html", assessment=assessment, rubric=rubric, answers=answers, missing=missing,
                           done=done, total=total, lang=assessment.language, form=VersionedForm(formdata=None, version=assessment.version),
                           returned=svc.return_note(assessment), comments=comments)


@bp.route("/<int:assessment_id>/discard", methods=["GET", "POST"])
@role_required("member")
def discard(assessment_id: int):
    """GET: the confirmation page (changes nothing); POST from it: delete the draft."""
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
    if request.method != "POST":  # GET and HEAD only show the page
        return _discard_page(assessment)
    form = VersionedForm()
    if not form.validate():
        return _discard_page(assessment, _("The form expired or was sent from elsewhere. Reload the page and try again."), 400)
    try:
        svc.discard_draft(db.session, current_user, assessment.id, expected_version=form.version.data)
    except PreconditionFailed:
        assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
        return _discard_page(assessment, _("Someone changed this draft after you opened this page. Check it, then confirm again."), 409)
    flash(_("The draft was discarded."), "success")
    return redirect(url_for("main.index"))


def _discard_page(assessment, problem: str | None = None, status: int = 200):
    rubric = svc.rubric_for(registry(), assessment)
    done, total = progress(rubric, svc.answer_map(assessment))
    return render_template("assess/discard.html", assessment=assessment, done=done, total=total, problem=problem,
                           returned=svc.return_note(assessment),
                           form=VersionedForm(formdata=None, version=assessment.version)), status


@bp.post("/<int:assessment_id>/submit")
@role_required("member")
def submit(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    form = VersionedForm()
    if not form.validate():
        flash(_("The form expired or was sent from elsewhere. Reload the page and try again."), "error")
        return redirect(url_for(".review", assessment_id=assessment.id))
    try:
        svc.submit(db.session, registry(), current_user, assessment.id, expected_version=form.version.data)
    except Invalid as exc:
        flash(ngettext("%(num)d criterion has no answer yet.", "%(num)d criteria have no answer yet.", len(exc.details)), "error")
        return redirect(url_for(".review", assessment_id=assessment.id))
    except PreconditionFailed:
        flash(_("Someone else changed the answers after you opened this page. Check them below, then submit again."), "error")
        return redirect(url_for(".review", assessment_id=assessment.id))
    flash(_("The self-assessment was submitted. Its answers are now locked."), "success")
    return redirect(url_for(".results", assessment_id=assessment.id))


@bp.get("/<int:assessment_id>/results")
@login_required
def results(assessment_id: int):
    # besides the assessment: the benchmark and the previous round (any assessment's change moves the data stamp),
    # the due-date bounds (today) and the comparison's threshold
    stamp, data = svc.assessment_stamp(db.session, current_user, assessment_id, with_data=True)
    return page_cache.page("results", (*stamp, data, date.today(), current_app.config.get("COMPARISON_MIN_CELL")),
                           lambda: _results_page(svc.get_assessment(db.session, current_user, assessment_id)))


def _results_page(assessment, plan_conflicts: dict[str, dict] | None = None, status: int = 200,
                  plan_problems: dict[str, dict] | None = None):
    """The results page.  ``plan_conflicts`` re-shows plan items with the person's values beside the stored ones
    ({criterion: {mine, theirs, current}}), ``plan_problems`` with the person's values and the message at the refused
    field ({criterion: {mine, version, base, field, message}})."""
    plan_conflicts, plan_problems = plan_conflicts or {}, plan_problems or {}
    rubric = svc.rubric_for(registry(), assessment)
    lang = request.args.get("lang") if request.args.get("lang") in LANGUAGES else assessment.language
    answers = svc.answer_map(assessment)
    scores = svc.scores(registry(), assessment)
    plan = svc.plan(registry(), assessment)
    edits = svc.plan_edits(assessment)
    forms = {}
    for item in plan:
        edit = edits.get(item.criterion_id)
        stored = svc.plan_values(edit)
        data = {**stored, "version": edit.version if edit else 0, "base": svc.plan_fingerprint(stored)}
        conflict = plan_conflicts.get(item.criterion_id)
        if conflict:  # saving again is a decision taken with theirs in view: it names their version
            data = {**conflict["mine"], "version": conflict["current"], "base": svc.plan_fingerprint(conflict["theirs"])}
        problem = plan_problems.get(item.criterion_id)
        if problem:
            data = {**problem["mine"], "version": problem["version"], "base": problem.get("base") or ""}
        forms[item.criterion_id] = data  # drawn by the template (the same markup PlanItemForm would draw, for ~15 items × 6 fields)
    earliest, latest = svc.due_date_bounds()
    # the date picker offers the allowed range, widened to a date an item already has (it stays as it is)
    due_limits = {cid: (min(earliest, edit.due_date) if edit.due_date else earliest, max(latest, edit.due_date) if edit.due_date else latest)
                  for cid, edit in edits.items()}
    chart = radar_svg(rubric, answers, lang=lang)
    plan_heads = plan_item_heads(rubric, plan, lang)
    context = results_context(assessment, rubric, scores, lang)
    return render_template("assess/results.html", assessment=assessment, rubric=rubric, scores=scores, plan=plan, edits=edits,
                           forms=forms, plan_heads=plan_heads, chart=chart, lang=lang, answers=answers, plan_conflicts=plan_conflicts,
                           status_labels={k: str(v) for k, v in PLAN_STATUS_LABELS.items()},
                           plan_labels={k: str(v) for k, v in PLAN_FIELD_LABELS.items()}, can_edit_plan=current_user.role == "member", plan_problems=plan_problems,
                           due_limits=due_limits, due_default=(earliest, latest), return_event=svc.return_note(assessment),
                           **context), status


def results_context(assessment, rubric, scores, lang: str) -> dict:
    """Reviewer levels, benchmark against country and region, and change since the previous round."""
    from ..reporting.charts import CURRENT_COLOUR, GREY, TARGET_COLOUR, grouped_bars_svg
    from ..services.comparison import benchmark

    validated = svc.scores(registry(), assessment, validated=True) if assessment.status == VALIDATED else None
    reviewed = {row.criterion_id: row for row in assessment.answers if row.validated_level is not None or row.review_comment}
    from ..domain.comparison import threshold

    configured = current_app.config.get("COMPARISON_MIN_CELL")
    bench_min_cell = threshold(int(configured) if configured not in (None, "") else None)
    # a cell is shown only when at least bench_min_cell *other* institutions are in it (docs/comparison.md)
    bench = benchmark(db.session, registry(), assessment, min_cell=bench_min_cell)
    previous = svc.previous_scores(db.session, registry(), assessment)
    names = [d.name(lang) for d in rubric.dimensions]
    own = [scores.dimensions[d.id].score for d in rubric.dimensions]

    def median(group: str, dim_id: str):
        cell = bench[group].get(dim_id)
        return cell.median if cell is not None and not cell.suppressed else None

    bench_chart = grouped_bars_svg(names, [
        (_("This institution"), own, CURRENT_COLOUR),
        (_("Country median"), [median("country", d.id) for d in rubric.dimensions], TARGET_COLOUR),
        (_("Region median"), [median("region", d.id) for d in rubric.dimensions], GREY),
    ], lang=current_language(), title=_("Dimension scores against the country and region medians"))
    change_chart = None
    change = None
    if previous is not None:
        from ..domain.comparison import change_since

        change = change_since(previous[1], {**{d: r.score for d, r in scores.dimensions.items()}, "index": scores.index})
        change_chart = grouped_bars_svg(names, [
            (_("Round %(n)s", n=previous[0].round_number), [previous[1].get(d.id) for d in rubric.dimensions], GREY),
            (_("Round %(n)s", n=assessment.round_number), own, CURRENT_COLOUR),
        ], lang=current_language(), title=_("Change since the previous round"))
    return {"validated": validated, "reviewed": reviewed, "bench": bench, "bench_chart": bench_chart, "bench_min_cell": bench_min_cell,
            "previous": previous,
            "change": change, "change_chart": change_chart,
            "returned": [e for e in assessment.events if e.action == "returned"]}


def _plan_item_not_saved() -> str:
    return _("The plan item was not saved: check the date and the lengths of the texts.")


def _plan_values(form) -> dict:
    return {"responsible": form.responsible.data or "", "due_date": form.due_date.data, "status": form.status.data,
            "note": form.note.data or ""}


def _plan_form_problem(form) -> tuple[str, str]:
    """The first refused field of a plan item's form and the message shown at it."""
    name = next(name for name in ("due_date", "responsible", "status", "note", "version", "base") if form[name].errors)
    if name == "due_date":
        return name, _("Enter a valid date, or choose it in the calendar.")
    if name in ("responsible", "note"):
        return name, _("The text is too long.")
    return "status" if name == "status" else "responsible", _plan_item_not_saved()


@bp.post("/<int:assessment_id>/plan")
@role_required("member")
def plan_save(assessment_id: int):
    """Save every item of the improvement plan at once; each item is checked against its own version."""
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    if not EmptyForm().validate():
        flash(_("The form expired or was sent from elsewhere. Reload the page and try again."), "error")
        return redirect(url_for(".results", assessment_id=assessment.id) + "#plan")
    problems: dict[str, dict] = {}
    changes: list[svc.PlanChange] = []
    posted: dict[str, dict] = {}
    for item in svc.plan(registry(), assessment):
        prefix = f"plan_{item.criterion_id}"
        if f"{prefix}-status" not in request.form:
            continue  # an item added to the plan after the page was loaded: nothing was typed in it
        form = PlanItemForm(prefix=prefix, meta={"csrf": False})
        mine = _plan_values(form) if form.validate() else None
        seen = form.version.data if form.version.data is not None and not form.version.errors else 0
        if mine is None:
            field, message = _plan_form_problem(form)
            raw = {"responsible": form.responsible.data or "", "due_date": None, "status": form.status.data if not form.status.errors
                   else "todo", "note": form.note.data or ""}
            problems[item.criterion_id] = {"mine": raw, "version": seen, "base": form.base.data or "", "field": field,
                                           "message": message}
            continue
        posted[item.criterion_id] = {"mine": mine, "version": seen, "base": form.base.data or ""}
        changes.append(svc.PlanChange(item.criterion_id, mine, seen_version=seen, base=form.base.data or None))
    result = svc.update_plan(db.session, registry(), current_user, assessment.id, changes)
    for cid, problem in result.problems.items():
        problems[cid] = {**posted[cid], "field": problem["field"], "message": _(problem["message"])}
    conflicts = {cid: {"mine": posted[cid]["mine"], "theirs": c["stored"], "current": c["current"]} for cid, c in result.conflicts.items()}
    if problems or conflicts:
        if result.saved:
            flash(ngettext("%(num)d plan item was saved.", "%(num)d plan items were saved.", len(result.saved)), "success")
        flash(_("Some plan items were not saved: see the message at each of them, change what is needed and save the plan again."),
              "error")
        assessment = svc.get_assessment(db.session, current_user, assessment_id)
        return _results_page(assessment, conflicts, 409 if conflicts else 422, problems)
    if result.saved:
        flash(ngettext("%(num)d plan item was saved.", "%(num)d plan items were saved.", len(result.saved)), "success")
    else:
        flash(_("Nothing to save: no plan item was changed."), "info")
    return redirect(url_for(".results", assessment_id=assessment.id) + "#plan")


@bp.post("/<int:assessment_id>/plan/<criterion_id>")
@role_required("member")
def plan_item(assessment_id: int, criterion_id: str):
    """Save one plan item (scripts and older pages; the page saves the whole plan)."""
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    form = PlanItemForm(prefix=f"plan_{criterion_id}")
    if not form.validate():
        flash(_plan_item_not_saved(), "error")
        return redirect(url_for(".results", assessment_id=assessment.id) + f"#plan-{criterion_id}")
    mine = _plan_values(form)
    seen_version = form.version.data if form.version.data is not None else 0
    try:
        svc.update_plan_item(db.session, registry(), current_user, assessment.id, criterion_id, **mine, seen_version=seen_version)
    except Invalid as exc:
        if not any(d.get("field") == "due_date" for d in exc.details):
            raise
        assessment = svc.get_assessment(db.session, current_user, assessment_id)
        flash(_plan_item_not_saved(), "error")
        return _results_page(assessment, status=422, plan_problems={criterion_id: {
            "mine": mine, "version": seen_version, "base": form.base.data or "", "field": "due_date", "message": _(exc.message)}})
    except PreconditionFailed as exc:
        detail = exc.details[0]
        assessment = svc.get_assessment(db.session, current_user, assessment_id)
        return _results_page(assessment, {criterion_id: {"mine": mine, "theirs": detail["stored"], "current": detail["current"]}}, 409)
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

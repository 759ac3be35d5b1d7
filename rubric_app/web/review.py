"""Reviewers: queue, review page (validated levels, validate or return), audit log."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..services import N_, Conflict, Invalid, PreconditionFailed
from ..services import review as svc
from ..services.assessments import rubric_for
from ..inputs import ascii_int
from . import registry, role_required
from .hardening import query_int
from .forms import VersionedForm

bp = Blueprint("review", __name__, url_prefix="/review")
reviewers_only = role_required(*svc.REVIEWER_ROLES)


@bp.get("")
@reviewers_only
def queue():
    country = (request.args.get("country") or "").upper() or None
    status = request.args.get("status") or None
    round_number = query_int("round")
    rows = svc.review_queue(db.session, current_user, country=country, status=status, round_number=round_number)
    from sqlalchemy import select

    from ..models import Institution

    countries = list(db.session.scalars(select(Institution.country).distinct().order_by(Institution.country)))
    return render_template("review/queue.html", rows=rows, country=country, status=status, round_number=round_number, countries=countries)


def _entries_from_form(assessment) -> list[svc.ReviewEntry]:
    entries = []
    for row in assessment.answers:
        if row.level is None and not row.not_applicable:
            continue
        level = ascii_int(request.form.get(f"level_{row.criterion_id}", ""), max_digits=2)
        entries.append(svc.ReviewEntry(row.criterion_id, level, request.form.get(f"comment_{row.criterion_id}", "")))
    return entries


@bp.route("/<int:assessment_id>", methods=["GET", "POST"])
@reviewers_only
def review(assessment_id: int):
    assessment = svc.get_for_review(db.session, current_user, assessment_id)
    rubric = rubric_for(registry(), assessment)
    errors: dict[str, str] = {}
    others: dict[str, dict] = {}
    status = 200
    form = VersionedForm(formdata=None, version=assessment.version)
    if request.method == "POST":
        form = VersionedForm()
        action = request.form.get("action", "save")
        try:
            if not form.validate():
                raise Invalid(N_("The form expired or was sent from elsewhere. Reload the page and try again."))
            version = form.version.data
            if action == "return":
                svc.return_to_institution(db.session, current_user, assessment.id, request.form.get("return_comment", ""),
                                          expected_version=version)
                flash(_("The assessment was returned to the institution as a draft."), "success")
                return redirect(url_for(".queue"))
            svc.save_review(db.session, registry(), current_user, assessment.id, _entries_from_form(assessment),
                            expected_version=version, then_validate=action == "validate",
                            validate_comment=request.form.get("validate_comment", ""))
            if action == "validate":
                flash(_("The assessment is validated."), "success")
                return redirect(url_for(".queue"))
            flash(_("The review was saved."), "success")
            return redirect(url_for(".review", assessment_id=assessment.id))
        except Conflict as exc:
            db.session.rollback()
            flash(_(exc.message), "error")
            return redirect(url_for(".review", assessment_id=assessment.id))
        except PreconditionFailed:
            db.session.rollback()
            assessment = svc.get_for_review(db.session, current_user, assessment_id)
            for row in assessment.answers:
                mine = ascii_int(request.form.get(f"level_{row.criterion_id}", ""), max_digits=1)
                if (row.validated_level, row.review_comment) != (mine, request.form.get(f"comment_{row.criterion_id}", "").strip()):
                    others[row.criterion_id] = {"level": row.validated_level, "comment": row.review_comment}
            errors[""] = _("Another reviewer saved this review after you opened it. Their levels are shown at each criterion; "
                           "the form still holds yours. Saving again replaces theirs.")
            form = VersionedForm(formdata=None, version=assessment.version)
            status = 409
        except Invalid as exc:
            db.session.rollback()
            assessment = svc.get_for_review(db.session, current_user, assessment_id)
            messages = {"comment": _("A comment is required where the validated level differs from the self-assessed one."),
                        "level": _("Choose a validated level from 1 to 5.")}
            errors = {d.get("criterion", ""): messages.get(d.get("field"), _("This answer is not valid.")) for d in exc.details}
            if not exc.details or "" in errors:
                errors[""] = _(exc.message)
            status = 422
    rows = {row.criterion_id: row for row in assessment.answers}
    country = assessment.institution.country if assessment.institution is not None else None
    notes = {crit.id: rubric.country_note(country, crit.id) for crit in rubric.criteria}
    return render_template("review/review.html", assessment=assessment, rubric=rubric, rows=rows, errors=errors, form=form,
                           others=others, notes=notes, country=country, lang=request.args.get("lang") or assessment.language,
                           posted=request.form if status in (409, 422) else None), status


@bp.get("/audit")
@reviewers_only
def audit():
    assessment_id = query_int("assessment")
    rows = svc.audit_entries(db.session, current_user, assessment_id=assessment_id)
    return render_template("review/audit.html", rows=rows, assessment_id=assessment_id)


@bp.get("/audit.csv")
@reviewers_only
def audit_csv():
    rows = svc.audit_entries(db.session, current_user, assessment_id=query_int("assessment"), limit=None)
    return current_app.response_class(svc.audit_csv(rows), mimetype="text/csv",
                                      headers={"Content-Disposition": "attachment; filename=audit-log.csv"})

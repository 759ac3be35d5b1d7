"""Home page and the language switcher."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session
from flask_login import current_user

from .. import i18n
from ..extensions import db
from ..services import accounts, comparison
from ..services.assessments import return_notes, visible_assessments
from . import registry
from .auth import _safe_next
from .countries import grouped_country_choices
from .forms import EmptyForm

bp = Blueprint("main", __name__)


@bp.app_context_processor
def country_picker_choices() -> dict:
    """``country_groups()`` for templates/_country_picker.html: (project countries, other countries)."""
    return {"country_groups": lambda: grouped_country_choices(i18n.current_language())}


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return render_template("landing.html", rubrics=registry().rubrics())
    assessments = visible_assessments(db.session, current_user)
    summary = comparison.overview(db.session, current_user) if current_user.role in comparison.COMPARE_ROLES else None
    return render_template("index.html", assessments=assessments, returns=return_notes(db.session, assessments),
                           registry=registry(), empty_form=EmptyForm(), overview=summary)


@bp.post("/language")
def set_language():
    """Remember the chosen interface language: on the account when signed in, else in the session."""
    lang = request.form.get("lang")
    if lang not in i18n.LANGUAGES:
        abort(400)
    session["lang"] = lang
    if current_user.is_authenticated:
        accounts.set_locale(db.session, current_user, lang)
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/rules")
def rules():
    from ..reporting.assessment_pdf import scoring_rules

    return render_template("rules.html", rules=scoring_rules())


@bp.get("/healthz")
def health():
    return {"status": "ok"}

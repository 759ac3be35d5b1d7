"""Home page and the language switcher."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session
from flask_login import current_user

from .. import i18n
from ..extensions import db
from ..services import accounts, comparison
from ..services.assessments import count_visible_assessments, return_notes, visible_assessments
from . import registry
from .auth import _safe_next
from .countries import grouped_country_choices
from .forms import EmptyForm
from .hardening import query_int

bp = Blueprint("main", __name__)

#: assessments listed per page on the home page
HOME_PAGE_SIZE = 50


@bp.app_context_processor
def country_picker_choices() -> dict:
    """``country_groups()`` for templates/_country_picker.html: (project countries, other countries)."""
    return {"country_groups": lambda: grouped_country_choices(i18n.current_language())}


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return render_template("landing.html", rubrics=registry().rubrics())
    total = count_visible_assessments(db.session, current_user)
    pages = max(1, -(-total // HOME_PAGE_SIZE))
    page = query_int("page", 1, maximum=100000) or 1
    page = min(page, pages)  # past the last page: the last page
    assessments = visible_assessments(db.session, current_user, limit=HOME_PAGE_SIZE, offset=(page - 1) * HOME_PAGE_SIZE)
    summary = comparison.overview(db.session, current_user) if current_user.role in comparison.COMPARE_ROLES else None
    return render_template("index.html", assessments=assessments, returns=return_notes(db.session, assessments),
                           registry=registry(), empty_form=EmptyForm(), overview=summary,
                           paging={"page": page, "pages": pages, "total": total, "per_page": HOME_PAGE_SIZE})


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

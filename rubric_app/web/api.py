"""JSON API v1 (personal token or session; session callers send the CSRF token on changes)."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, send_file, url_for
from flask_login import current_user

from ..domain.instruments import Rubric, Text
from ..domain.scoring import AnswerError, RubricScores
from ..extensions import csrf, db
from ..i18n import LANGUAGES
from ..services import Invalid, accounts
from ..services import assessments as svc
from ..services.reports import assessment_report
from . import registry
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def load_user_from_token(req):
    """Flask-Login request loader: ``Authorization: Bearer <token>``."""
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = accounts.user_for_token(db.session, header[7:].strip())
    if user is not None:
        g.api_token_auth = True
    return user


@bp.before_request
def authenticate():
    if request.endpoint in ("api.openapi",):
        return None
    if not current_user.is_authenticated:
        return _error(401, "Authentication required: send 'Authorization: Bearer <token>' or sign in.")
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not g.get("api_token_auth"):
        csrf.protect()
    return None


def _error(status: int, message: str, details: list | None = None):
    return jsonify({"error": {"status": status, "message": message, "details": details or []}}), status


def members_only(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.role != "member":
            return _error(403, "Only institution members can do this.")
        return view(*args, **kwargs)

    return wrapped


def _lang_arg() -> str | None:
    lang = request.args.get("lang")
    if lang is not None and lang not in LANGUAGES:
        raise Invalid(f"Unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}.", [{"field": "lang"}])
    return lang


def _t(text: Text | None, lang: str | None):
    if text is None:
        return None
    return text(lang) if lang else text.as_dict()


def instrument_summary(rubric: Rubric) -> dict:
    return {"id": rubric.id, "version": rubric.version, "kind": "rubric", "hash": rubric.hash, "languages": list(rubric.languages),
            "title": rubric.title.as_dict(),
            "url": url_for("api.instrument", instrument_id=rubric.id, version=rubric.version, _external=False)}


def instrument_document(rubric: Rubric, lang: str | None) -> dict:
    return {
        **instrument_summary(rubric),
        "title": _t(rubric.title, lang),
        "description": _t(rubric.description, lang),
        "language": lang,
        "levels": [{"level": lvl.level, "name": _t(lvl.name, lang), "summary": _t(lvl.summary, lang)} for lvl in rubric.levels],
        "dimensions": [
            {
                "id": dim.id,
                "weight": float(dim.weight),
                "name": _t(dim.name, lang),
                "description": _t(dim.description, lang),
                "criteria": [
                    {
                        "id": crit.id,
                        "title": _t(crit.title, lang),
                        "descriptors": {str(k): _t(v, lang) for k, v in crit.descriptors.items()},
                        "actions": {str(k): [_t(a, lang) for a in v] for k, v in crit.actions.items()},
                    }
                    for crit in dim.criteria
                ],
            }
            for dim in rubric.dimensions
        ],
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/instruments")
def instruments():
    return jsonify({"instruments": [instrument_summary(r) for r in registry().all()]})


@bp.get("/instruments/<instrument_id>/<version>")
def instrument(instrument_id: str, version: str):
    rubric = registry().get(instrument_id, version)
    if rubric is None:
        return _error(404, f"No instrument {instrument_id} version {version}.")
    return jsonify(instrument_document(rubric, _lang_arg()))


def _scores_json(scores: RubricScores) -> dict:
    return {
        "dimensions": {
            dim_id: {"score": float(r.score) if r.score is not None else None, "level": r.level, "status": r.status,
                     "answered": r.answered, "not_applicable": r.not_applicable, "missing": r.missing}
            for dim_id, r in scores.dimensions.items()
        },
        "index": float(scores.index) if scores.index is not None else None,
    }


def assessment_json(assessment) -> dict:
    rubric = svc.rubric_for(registry(), assessment)
    edits = svc.plan_edits(assessment)
    answers = svc.answer_map(assessment)
    order = {c.id: i for i, c in enumerate(rubric.criteria)}
    plan = []
    for item in svc.plan(registry(), assessment):
        edit = edits.get(item.criterion_id)
        plan.append({
            "criterion": item.criterion_id,
            "dimension": item.dimension_id,
            "current": item.current,
            "target": item.target,
            "priority": float(item.priority),
            "actions": [{"level": lvl, "actions": [a(assessment.language) for a in acts]} for lvl, acts in item.actions],
            "responsible": edit.responsible if edit else "",
            "due_date": edit.due_date.isoformat() if edit and edit.due_date else None,
            "status": edit.status if edit else "todo",
            "note": edit.note if edit else "",
        })
    return {
        "id": assessment.id,
        "institution": {"id": assessment.institution.id, "name": assessment.institution.name, "country": assessment.institution.country},
        "instrument": {"id": assessment.instrument_id, "version": assessment.instrument_version, "hash": assessment.instrument_hash},
        "language": assessment.language,
        "status": assessment.status,
        "round": assessment.round_number,
        "created_at": assessment.created_at.isoformat(),
        "submitted_at": assessment.submitted_at.isoformat() if assessment.submitted_at else None,
        "answers": [
            {"criterion": a.criterion_id, "level": a.level, "not_applicable": a.not_applicable, "na_reason": a.na_reason,
             "target": a.target, "evidence": a.evidence}
            for a in sorted(answers.values(), key=lambda a: order.get(a.criterion_id, 0))
        ],
        "scores": {"self": _scores_json(svc.scores(registry(), assessment))},
        "plan": plan,
        "links": {"report": url_for("api.report", assessment_id=assessment.id)},
    }


def _json_body() -> dict | list:
    data = request.get_json(silent=True)
    if data is None:
        raise Invalid("The request body must be JSON (Content-Type: application/json).")
    return data


@bp.get("/assessments")
def list_assessments():
    return jsonify({"assessments": [
        {"id": a.id, "status": a.status, "round": a.round_number, "institution": a.institution.name,
         "instrument": {"id": a.instrument_id, "version": a.instrument_version}}
        for a in svc.visible_assessments(db.session, current_user)
    ]})


@bp.post("/assessments")
@members_only
def create_assessment():
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("instrument"), str):
        raise Invalid("Send {\"instrument\": id, \"version\": v, \"language\": xx}.", [{"field": "instrument"}])
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise Invalid("version must be a string such as \"1.0\".", [{"field": "version"}])
    assessment = svc.start_assessment(db.session, registry(), current_user, instrument_id=body["instrument"], version=version,
                                      language=body.get("language") or "es", from_previous=bool(body.get("from_previous")))
    response = jsonify(assessment_json(assessment))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_assessment", assessment_id=assessment.id)
    return response


@bp.get("/assessments/<int:assessment_id>")
def get_assessment(assessment_id: int):
    return jsonify(assessment_json(svc.get_assessment(db.session, current_user, assessment_id)))


@bp.put("/assessments/<int:assessment_id>/answers")
@members_only
def put_answers(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
    body = _json_body()
    items = body.get("answers") if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Invalid("Send a list of answers: [{\"criterion\": id, \"level\": 1..5 or null, ...}].")
    parsed, problems = [], []
    for raw in items:
        try:
            parsed.append(svc.parse_answer(raw))
        except AnswerError as exc:
            problems.append({"criterion": exc.criterion_id, "field": exc.field, "message": str(exc)})
    if problems:
        raise Invalid("Some answers are not valid; nothing was saved.", problems)
    svc.save_answers(db.session, registry(), current_user, assessment, parsed)
    return jsonify(assessment_json(assessment))


@bp.post("/assessments/<int:assessment_id>/submit")
@members_only
def submit_assessment(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
    svc.submit(db.session, registry(), current_user, assessment)
    return jsonify(assessment_json(assessment))


@bp.get("/assessments/<int:assessment_id>/report.pdf")
def report(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    lang = _lang_arg() or assessment.language
    path = assessment_report(registry(), assessment, lang, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/pdf", download_name=f"plan-{assessment.id}-{lang}.pdf")

"""JSON API v1 (personal token or session; session callers send the CSRF token on changes)."""
from __future__ import annotations

import re
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, send_file, url_for
from flask_login import current_user

from ..domain.instruments import ProviderInstrument, Rubric, Text
from ..domain.scoring import AnswerError, RubricScores
from ..extensions import csrf, db
from ..i18n import LANGUAGES
from ..services import Invalid, PreconditionFailed, PreconditionRequired, ServiceError, accounts, provider_io
from ..services import providers as prov
from ..services import comparison as cmp
from ..services import documents
from ..services import selection as sel
from ..services import jobs as jobs_svc
from ..jobs import submit as run_job
from ..domain.comparison import MixedVersions
from ..services import assessments as svc
from ..services.reports import assessment_report
from . import page_cache, registry
from .hardening import query_int
from .openapi import openapi_document
from .paging import page_from_request, paged

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
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not g.get("api_token_auth") \
            and current_app.config.get("WTF_CSRF_ENABLED", True):
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


def instrument_summary(rubric: Rubric | ProviderInstrument) -> dict:
    kind = "rubric" if isinstance(rubric, Rubric) else "providers"
    return {"id": rubric.id, "version": rubric.version, "kind": kind, "hash": rubric.hash, "languages": list(rubric.languages),
            "title": rubric.title.as_dict(),
            "url": url_for("api.instrument", instrument_id=rubric.id, version=rubric.version, _external=False)}


def provider_instrument_document(inst: ProviderInstrument, lang: str | None) -> dict:
    return {
        **instrument_summary(inst),
        "title": _t(inst.title, lang),
        "description": _t(inst.description, lang),
        "language": lang,
        "scale": [{"value": p.value, "name": _t(p.name, lang), "description": _t(p.description, lang)} for p in inst.scale],
        "categories": [{"id": c.id, "weight": float(c.weight), "name": _t(c.name, lang), "description": _t(c.description, lang),
                        "items": [{"id": i.id, "text": _t(i.text, lang)} for i in c.items]} for c in inst.categories],
        "eligibility": [{"id": f.id, "text": _t(f.text, lang)} for f in inst.eligibility],
        "commitments": [{"id": f.id, "text": _t(f.text, lang)} for f in inst.commitments],
    }


def instrument_document(rubric: Rubric, lang: str | None) -> dict:
    if isinstance(rubric, ProviderInstrument):
        return provider_instrument_document(rubric, lang)
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
            "version": edit.version if edit else 0,
        })
    rows = {row.criterion_id: row for row in assessment.answers}
    return {
        "id": assessment.id,
        "version": assessment.version,
        "institution": {"id": assessment.institution.id, "name": assessment.institution.name, "country": assessment.institution.country},
        "instrument": {"id": assessment.instrument_id, "version": assessment.instrument_version, "hash": assessment.instrument_hash},
        "language": assessment.language,
        "status": assessment.status,
        "round": assessment.round_number,
        "created_at": assessment.created_at.isoformat(),
        "submitted_at": assessment.submitted_at.isoformat() if assessment.submitted_at else None,
        "answers": [
            {"criterion": a.criterion_id, "level": a.level, "not_applicable": a.not_applicable, "na_reason": a.na_reason,
             "target": a.effective_target, "target_is_default": a.target is None, "evidence": a.evidence,
             "version": rows[a.criterion_id].version}
            for a in sorted(answers.values(), key=lambda a: order.get(a.criterion_id, 0))
        ],
        "scores": {"self": _scores_json(svc.scores(registry(), assessment))},
        "plan": plan,
        "links": {"report": url_for("api.report", assessment_id=assessment.id)},
    }


def _json_body() -> dict | list:
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if data is None:
        raise Invalid("The request body must be JSON (Content-Type: application/json).")
    return data


_ETAG = re.compile(r'^"([0-9]{1,9})"$')  # ASCII digits only (\d also matches "٣")


def etag(version: int) -> str:
    """The strong ETag of a versioned record: its version in quotes."""
    return f'"{version}"'


def if_match_version(body_version=None, *, required: bool = True) -> int | None:
    """The version a write is based on: ``If-Match: "<version>"`` or, as its documented equivalent,
    ``"version"`` in the JSON body.  Missing (when required): 428; malformed: 412."""
    header = request.headers.get("If-Match")
    if header is not None:
        match = _ETAG.match(header.strip())
        if match is None:
            raise PreconditionFailed("If-Match must be one ETag as sent by GET, such as \"3\" (not * and not a weak ETag).",
                                     [{"field": "If-Match"}])
        return int(match.group(1))
    if body_version is not None:
        if isinstance(body_version, bool) or not isinstance(body_version, int) or not 0 <= body_version < 2**31:
            raise Invalid("version must be the record's version as read (a whole number).", [{"field": "version"}])
        return body_version
    if required:
        raise PreconditionRequired("Send If-Match with the ETag you read (or \"version\" in the body), so no one else's change "
                                   "is overwritten.", [{"field": "If-Match"}])
    return None


def _with_etag(response, version: int):
    response.headers["ETag"] = etag(version)
    return response


def _json_page(body: dict, page, total: int, endpoint: str, **values):
    body, headers = paged(body, page, total, endpoint, **values)
    response = jsonify(body)
    response.headers.update(headers)
    return response


@bp.get("/assessments")
def list_assessments():
    """The assessments the caller may see, newest first, one page at a time."""
    page = page_from_request()
    rows = svc.visible_assessments(db.session, current_user, limit=page.limit, offset=page.offset)
    return _json_page({"assessments": [
        {"id": a.id, "status": a.status, "round": a.round_number, "institution": a.institution.name,
         "instrument": {"id": a.instrument_id, "version": a.instrument_version}, "version": a.version}
        for a in rows
    ]}, page, svc.count_visible_assessments(db.session, current_user), "api.list_assessments")


def _queue_filters() -> dict:
    """The review queue's filters from the query string, each bounded where it is parsed."""
    from ..services import review as rev

    country = (request.args.get("country") or "").strip().upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise Invalid("country must be an ISO 3166-1 alpha-2 code such as \"CO\".", [{"field": "country"}])
    status = (request.args.get("status") or "").strip() or None
    if status is not None and status not in rev.QUEUE_STATUSES:
        raise Invalid(f"status must be one of {', '.join(rev.QUEUE_STATUSES)}.", [{"field": "status"}])
    search = (request.args.get("q") or "").strip()
    if len(search) > 200:
        raise Invalid("q: at most 200 characters.", [{"field": "q"}])
    return {"country": country or None, "status": status, "round_number": query_int("round", maximum=1000), "search": search or None}


@bp.get("/review-queue")
def review_queue():
    """The reviewers' queue (submitted and validated assessments, or one status), one page at a time."""
    from ..services import review as rev

    page = page_from_request()
    filters = _queue_filters()
    rows = rev.review_queue_rows(db.session, current_user, **filters, limit=page.limit, offset=page.offset)
    return _json_page({"assessments": [
        {"id": r.assessment.id, "status": r.status, "round": r.assessment.round_number, "institution": r.assessment.institution.name,
         "country": r.assessment.institution.country, "version": r.assessment.version,
         "submitted_at": r.assessment.submitted_at.isoformat() if r.assessment.submitted_at else None,
         "returned_at": r.returned.at.isoformat() if r.returned is not None else None}
        for r in rows
    ]}, page, rev.count_review_queue(db.session, current_user, **filters), "api.review_queue")


@bp.get("/audit-log")
def audit_log():
    """The audit log as the caller may read it (reviewers: assessments; staff: selection rounds;
    administrators: everything), newest first, one page at a time."""
    from ..services import review as rev

    page = page_from_request()
    kind = (request.args.get("kind") or "").strip() or None
    allowed = rev.audit_kinds(current_user)  # none for those who may not read the log: audit_page refuses them (403)
    if kind is not None and allowed and kind not in allowed:
        raise Invalid("kind: not a kind of entry you can filter on.", [{"field": "kind", "allowed": sorted(allowed)}])
    search = (request.args.get("q") or "").strip()
    if len(search) > 200:
        raise Invalid("q: at most 200 characters.", [{"field": "q"}])
    result = rev.audit_page(db.session, current_user, assessment_id=query_int("assessment"), kind=kind, search=search or None,
                            per_page=page.limit, offset=page.offset)
    return _json_page({"entries": [
        {"id": entry.id, "at": entry.at.isoformat(), "user": email, "institution": institution, "assessment": entry.assessment_id,
         "criterion": entry.criterion_id, "subject": entry.subject, "field": entry.field, "old": entry.old, "new": entry.new,
         "comment": entry.comment}
        for entry, email, institution, *_rest in result.rows
    ]}, page, result.total, "api.audit_log")


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
    response = _with_etag(jsonify(assessment_json(assessment)), assessment.version)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_assessment", assessment_id=assessment.id)
    return response


@bp.get("/assessments/<int:assessment_id>")
def get_assessment(assessment_id: int):
    stamp = svc.assessment_stamp(db.session, current_user, assessment_id)
    if etag(stamp.version) in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return _with_etag(current_app.response_class(status=304), stamp.version)
    # drawn once per version of the assessment and of its institution (page_cache); the version
    # sent is the one drawn, so the ETag always matches the body
    drawn: dict = {}

    def draw() -> tuple[bytes, bool]:
        assessment = svc.get_assessment(db.session, current_user, assessment_id)
        drawn["version"] = assessment.version
        # kept only when nobody changed it between the stamp and the drawing
        return jsonify(assessment_json(assessment)).get_data(), assessment.version == stamp.version

    data = page_cache.body("api-assessment", stamp, draw)
    return _with_etag(current_app.response_class(data, mimetype="application/json"), drawn.get("version", stamp.version))


@bp.put("/assessments/<int:assessment_id>/answers")
@members_only
def put_answers(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
    body = _json_body()
    items = body.get("answers") if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Invalid("Send a list of answers: [{\"criterion\": id, \"level\": 1..5 or null, ...}].")
    if len(items) > svc.MAX_ANSWERS_PER_REQUEST:
        raise Invalid(f"At most {svc.MAX_ANSWERS_PER_REQUEST} answers per request.", [{"field": "answers"}])
    expected = if_match_version(body.get("version") if isinstance(body, dict) else None, required=False)
    parsed, problems = [], []
    for raw in items:
        try:
            parsed.append(svc.parse_answer(raw))
        except AnswerError as exc:
            problems.append({"criterion": exc.criterion_id, "field": exc.field, "message": str(exc)})
    if problems:  # report the rule problems of the answers that did parse too, all in one answer
        checked = svc.write_answers(db.session, registry(), current_user, assessment.id, parsed, dry_run=True)
        raise Invalid("Some answers are not valid; nothing was saved.", problems + checked.problems)
    result = svc.write_answers(db.session, registry(), current_user, assessment.id, parsed, expected_version=expected,
                               all_or_nothing=True, require_precondition=True)
    return _with_etag(jsonify(assessment_json(result.assessment)), result.assessment.version)


@bp.post("/assessments/<int:assessment_id>/submit")
@members_only
def submit_assessment(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id, edit=True)
    body = _json_body() if request.content_length else None
    expected = if_match_version(body.get("version") if isinstance(body, dict) else None)
    assessment = svc.submit(db.session, registry(), current_user, assessment.id, expected_version=expected)
    return _with_etag(jsonify(assessment_json(assessment)), assessment.version)


@bp.get("/assessments/<int:assessment_id>/report.pdf")
def report(assessment_id: int):
    assessment = svc.get_assessment(db.session, current_user, assessment_id)
    lang = _lang_arg() or assessment.language
    path = assessment_report(registry(), assessment, lang, current_app.config["REPORTS_DIR"], db.session)
    return send_file(path, mimetype="application/pdf", download_name=f"plan-{assessment.id}-{lang}.pdf")


# --------------------------------------------------------------------------- providers and selection (staff)


def staff_only(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.role not in prov.STAFF_ROLES:
            return _error(403, "Only project staff can do this.")
        return view(*args, **kwargs)

    return wrapped


@bp.get("/providers/template.csv")
@staff_only
def providers_template():
    data = provider_io.template_csv(prov.provider_instrument(registry()))
    return current_app.response_class(data, mimetype="text/csv", headers={"Content-Disposition": "attachment; filename=providers-template.csv"})


def _import_request() -> tuple[bool, str, bytes, str | None]:
    """dry_run, file name, content and If-Match stamp of a provider import request (422 or 412 when malformed)."""
    dry_run = request.args.get("dry_run", "1")
    if dry_run not in ("0", "1"):
        raise Invalid("dry_run must be 0 or 1.", [{"field": "dry_run"}])
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        filename, data = upload.filename, upload.read()
    elif request.content_type and request.content_type.split(";")[0].strip() in ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"):
        filename = "upload.csv" if "csv" in request.content_type else "upload.xlsx"
        data = request.get_data()
    else:
        raise Invalid("Send the file as multipart field 'file', or as the body with Content-Type text/csv or the XLSX type.")
    stamp = None
    if request.headers.get("If-Match") is not None:
        stamp = request.headers["If-Match"].strip().strip('"')
        if not re.fullmatch(r"[0-9a-f]{20}", stamp):
            raise PreconditionFailed("If-Match must be the \"stamp\" of the dry run, in quotes.", [{"field": "If-Match"}])
    return dry_run == "1", filename, data, stamp


@bp.post("/providers/import")
@staff_only
def providers_import():
    dry_run, filename, data, stamp = _import_request()
    plan, problems = provider_io.import_providers(db.session, filename, data, prov.provider_instrument(registry()), dry_run=dry_run,
                                                  expected_stamp=stamp, require_precondition=True)
    if problems:
        return _error(422, "The file has problems; nothing was imported.",
                      [{"row": p.row, "column": p.column, "value": p.value, "message": p.message} for p in problems])
    return jsonify(provider_io.plan_json(plan, dry_run=dry_run))


@bp.post("/providers/import/jobs")
@staff_only
def providers_import_job():
    """Check (``dry_run=1``) or import a provider file as a job: 202 with the job's URL; its result is
    the body the direct import answers, with ``problems``."""
    dry_run, filename, data, stamp = _import_request()
    if not data:
        raise Invalid("The file is empty.", [{"field": "file"}])
    kept = provider_io.keep_upload(db.session, current_user, filename, data, stamp or "")
    upload_id = provider_io.pending_upload(db.session, current_user, kept).id
    try:
        if dry_run:
            job = jobs_svc.create_job(db.session, current_user, jobs_svc.IMPORT_CHECK_KIND, {"upload_id": upload_id})
        else:
            job = jobs_svc.create_job(db.session, current_user, jobs_svc.IMPORT_KIND,
                                      {"upload_id": upload_id, "stamp": stamp, "require_precondition": True})
    except ServiceError:  # no job: nothing is to read the kept file
        db.session.rollback()
        provider_io.forget_upload(db.session, current_user, kept)
        raise
    return _job_started(job)


def provider_json(p) -> dict:
    return {"id": p.id, "code": p.code, "name": p.name, "country": p.country, "city": p.city, "type": p.type,
            "contact": {"name": p.contact_name, "email": p.contact_email, "phone": p.contact_phone},
            "legal_representative": {"name": p.legal_representative or "", "position": p.legal_representative_position or ""},
            "facts": p.facts or {}, "item_scores": p.item_scores or {}, "synthetic": p.synthetic, "version": p.version}


@bp.get("/providers")
@staff_only
def providers_list():
    page = page_from_request()
    archived = {"0": False, "1": True, "all": None}.get(request.args.get("archived", "0"))
    if "archived" in request.args and request.args["archived"] not in ("0", "1", "all"):
        raise Invalid("archived must be 0 (active providers), 1 (archived ones) or all.", [{"field": "archived"}])
    rows, total = prov.list_providers(db.session, current_user, country=request.args.get("country") or None,
                                      type=request.args.get("type") or None, search=request.args.get("q") or None,
                                      limit=page.limit, offset=page.offset, archived=archived)
    return _json_page({"providers": [provider_json(p) for p in rows]}, page, total, "api.providers_list")


_PRIVATE_RESULT_FIELDS = ("contact_name", "contact_email", "contact_phone", "legal_representative", "legal_representative_position")


def round_summary(rnd) -> dict:
    """A round without its per-provider results: settings, state and counts."""
    rows = sel.final_results(rnd)
    countries: dict[str, dict[str, int]] = {}
    for row in rows:
        c = countries.setdefault(row["country"], {"providers": 0, "eligible": 0, "selected": 0})
        c["providers"] += 1
        c["eligible"] += bool(row.get("eligible"))
        c["selected"] += bool(row.get("selected"))
    return {
        "id": rnd.id, "version": rnd.version, "name": rnd.name, "status": rnd.status,
        "instrument": {"id": rnd.instrument_id, "version": rnd.instrument_version, "hash": rnd.instrument_hash},
        "settings": rnd.settings,
        "letter_terms": sel.letter_terms(rnd),
        "run_at": rnd.run_at.isoformat() if rnd.run_at else None,
        "frozen_at": rnd.frozen_at.isoformat() if rnd.frozen_at else None,
        "counts": {"providers": len(rows), "eligible": sum(c["eligible"] for c in countries.values()),
                   "selected": sum(c["selected"] for c in countries.values()), "by_country": countries},
    }


def round_results(rnd, page) -> tuple[list[dict], int]:
    rows = sel.final_results(rnd)
    return [{k: v for k, v in row.items() if k not in _PRIVATE_RESULT_FIELDS} for row in page.slice(rows)], len(rows)


def round_json(rnd, page) -> tuple[dict, int]:
    """The round's summary and one page of its results (``results``), with the results' total."""
    results, total = round_results(rnd, page)
    return {**round_summary(rnd), "results": results}, total


@bp.get("/selection-rounds")
@staff_only
def list_rounds():
    page = page_from_request()
    rounds = sel.list_rounds(db.session, current_user)
    return _json_page({"rounds": [
        {"id": r.id, "version": r.version, "name": r.name, "status": r.status,
         "run_at": r.run_at.isoformat() if r.run_at else None, "frozen_at": r.frozen_at.isoformat() if r.frozen_at else None,
         "url": url_for("api.get_round", round_id=r.id)}
        for r in page.slice(rounds)]}, page, len(rounds), "api.list_rounds")


def _round_response(rnd, status: int = 200):
    page = page_from_request()
    body, total = round_json(rnd, page)
    response = _json_page(body, page, total, "api.get_round", round_id=rnd.id)
    response.status_code = status
    return _with_etag(response, rnd.version)


@bp.post("/selection-rounds")
@staff_only
def create_round():
    body = _json_body()
    if not isinstance(body, dict):
        raise Invalid("Send the round as a JSON object: {name, weights, knockouts, min_scores, rule, quotas, default_quota, threshold, draws, "
                      "seed, countries, include_synthetic, letter_terms}.")
    known = {"name", "weights", "knockouts", "min_scores", "rule", "quotas", "default_quota", "threshold", "draws", "seed", "letter_terms",
             "countries", "include_synthetic"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(unknown)}.", [{"field": k, "message": "unknown field"} for k in unknown])
    settings = {k: v for k, v in body.items() if k not in ("name", "letter_terms")}
    rnd = sel.create_round(db.session, registry(), current_user, body.get("name") or "", settings, body.get("letter_terms"))
    response = _round_response(rnd, 201)
    response.headers["Location"] = url_for("api.get_round", round_id=rnd.id)
    return response


@bp.get("/selection-rounds/<int:round_id>")
@staff_only
def get_round(round_id: int):
    """The round's summary and one page of its results per provider."""
    rnd = sel.get_round(db.session, current_user, round_id)
    return _round_response(rnd)


@bp.post("/selection-rounds/<int:round_id>/rerun")
@staff_only
def rerun_round(round_id: int):
    """Open round: run again on the current registry. Frozen round: check that it reproduces."""
    rnd = sel.get_round(db.session, current_user, round_id)
    body = _json_body() if request.content_length else None
    expected = if_match_version(body.get("version") if isinstance(body, dict) else None)
    rnd = sel.rerun(db.session, registry(), current_user, rnd, expected_version=expected)
    return _round_response(rnd)


@bp.post("/selection-rounds/<int:round_id>/freeze")
@staff_only
def freeze_round(round_id: int):
    """Freeze the round: its inputs, seed, results and overrides stay as they are; letters can be issued."""
    rnd = sel.get_round(db.session, current_user, round_id)
    body = _json_body() if request.content_length else None
    expected = if_match_version(body.get("version") if isinstance(body, dict) else None)
    rnd = sel.freeze(db.session, current_user, rnd, expected_version=expected)
    return _round_response(rnd)


@bp.put("/selection-rounds/<int:round_id>/overrides/<code>")
@staff_only
def put_override(round_id: int, code: str):
    """Select (``selected: true``) or deselect (``false``) a provider against the rule, or remove the
    override (``null``); a rationale is required."""
    rnd = sel.get_round(db.session, current_user, round_id)
    body = _json_body()
    if not isinstance(body, dict) or "selected" not in body or body["selected"] not in (True, False, None):
        raise Invalid("Send {\"selected\": true, false or null, \"rationale\": text}.", [{"field": "selected"}])
    rationale = body.get("rationale")
    if not isinstance(rationale, str):
        raise Invalid("rationale must be a text explaining the override.", [{"field": "rationale"}])
    expected = if_match_version(body.get("version"))
    sel.set_override(db.session, current_user, rnd, code[:64], body["selected"], rationale, expected_version=expected)
    return _round_response(sel.get_round(db.session, current_user, round_id))


@bp.get("/selection-rounds/<int:round_id>/letters/<code>.pdf")
@staff_only
def round_letter(round_id: int, code: str):
    """A selected provider's commitment letter, in its country's language; 409 while the round is open."""
    rnd = sel.get_round(db.session, current_user, round_id)
    path = documents.commitment_letter(registry(), rnd, code, None, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/pdf", download_name=f"letter-{rnd.id}-{code}.pdf")


@bp.get("/selection-rounds/<int:round_id>/documents.zip")
@staff_only
def round_documents(round_id: int):
    """The round's report (``lang``) and every selected provider's letter; 409 while the round is open."""
    rnd = sel.get_round(db.session, current_user, round_id)
    lang = _lang_arg() or "es"
    path = documents.round_documents_zip(registry(), rnd, lang, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/zip", download_name=f"round-{rnd.id}-documents-{lang}.zip")


# --------------------------------------------------------------------------- jobs (long work)


def job_json(job) -> dict:
    status = jobs_svc.effective_status(job)
    return {"id": job.id, "kind": job.kind, "params": job.params, "status": status, "done": job.done, "total": job.total,
            "error": jobs_svc.error_message(job),
            "result": url_for("api.job_result", job_id=job.id) if status == "done" else None,
            "created_at": job.created_at.isoformat(), "finished_at": job.finished_at.isoformat() if job.finished_at else None}


@bp.post("/selection-rounds/<int:round_id>/jobs")
@staff_only
def start_round_job(round_id: int):
    """Prepare the round's documents (``round_documents``: report and letters, zipped) or its report
    (``round_report``) as a job: 202 with the job's URL, which shows progress and then the result."""
    body = _json_body() if request.content_length else {}
    if not isinstance(body, dict) or body.get("kind", "round_documents") not in jobs_svc.ROUND_KINDS:
        raise Invalid("kind must be round_documents or round_report.", [{"field": "kind"}])
    lang = body.get("lang", "es")
    job = jobs_svc.create_job(db.session, current_user, body.get("kind", "round_documents"), {"round_id": round_id, "lang": lang})
    return _job_started(job)


def _job_started(job):
    """Hand the job to the runner: 202 with the job, and its URL in Location."""
    run_job(job.id)
    response = jsonify(job_json(job))
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_job", job_id=job.id)
    return response


@bp.get("/jobs/<int:job_id>")
def get_job(job_id: int):
    """A job of the caller's: status (queued, running, done, failed), progress and, when done, the result's URL."""
    return jsonify(job_json(jobs_svc.get_job(db.session, current_user, job_id)))


@bp.get("/jobs/<int:job_id>/result")
def job_result(job_id: int):
    job = jobs_svc.get_job(db.session, current_user, job_id)
    path = jobs_svc.result_file(job, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype=jobs_svc.result_mimetype(path), as_attachment=True, download_name=job.result_name or path.name)


# --------------------------------------------------------------------------- comparison (reviewers, staff, admins)


@bp.get("/comparison")
def comparison():
    if current_user.role not in cmp.COMPARE_ROLES:
        return _error(403, "Only reviewers, project staff and administrators can compare institutions.")
    filters = cmp.parse_filters(request.args)
    try:
        result = cmp.compare(db.session, registry(), current_user, filters)
    except MixedVersions as exc:
        return _error(422, str(exc), [{"field": "version", "versions": [f"{i} {v}" for i, v in exc.versions]}])
    return jsonify(cmp.comparison_json(result))


@bp.post("/comparison/exports")
def comparison_export_job():
    """The comparison's CSV or XLSX export as a job, for the filters of GET /comparison: 202 with the
    job's URL. Reviewers and administrators get one row per institution, as in the page's export."""
    if current_user.role not in cmp.COMPARE_ROLES:
        return _error(403, "Only reviewers, project staff and administrators can compare institutions.")
    body = _json_body()
    if not isinstance(body, dict):
        raise Invalid("Send {\"format\": \"csv\" or \"xlsx\", and the filters of GET /comparison}.", [{"field": "format"}])
    unknown = sorted(set(body) - {"format", *jobs_svc.FILTER_KEYS})
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(unknown)[:200]}.", [{"field": k[:64], "message": "unknown field"} for k in unknown[:20]])
    filters = {}
    for key in jobs_svc.FILTER_KEYS:
        value = body.get(key)
        if key == "countries" and isinstance(value, list) and len(value) <= 300 and all(isinstance(v, str) and len(v) <= 3 for v in value):
            value = ",".join(value)
        elif key == "round" and isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**31 - 1:
            value = str(value)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > jobs_svc.MAX_FILTER_LENGTH:
            raise Invalid(f"{key} must be text of at most {jobs_svc.MAX_FILTER_LENGTH} characters.", [{"field": key}])
        filters[key] = value
    from .compare import _min_cell

    job = jobs_svc.create_job(db.session, current_user, jobs_svc.EXPORT_KIND,
                              {"format": body.get("format"), "filters": filters, "min_cell": _min_cell()})
    return _job_started(job)

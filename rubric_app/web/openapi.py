"""The OpenAPI 3.1 description of /api/v1."""
from __future__ import annotations

from .paging import DEFAULT_LIMIT, MAX_LIMIT



CONCURRENCY = (
    "Optimistic concurrency: every record that can be edited has a version. GET answers it as a strong ETag "
    "(`ETag: \"7\"`, also `version` in the body). A write to an existing record names the version it was based on "
    "with `If-Match: \"7\"` or, as the documented equivalent, `\"version\": 7` in the JSON body (per answer in PUT "
    "answers: the answer's own `version`, 0 for a criterion not answered yet). A stale version answers 412 with the "
    "current values in `details`, and nothing is written; a write to an existing record without any precondition "
    "answers 428. `If-Match: *` and weak ETags are refused (412). A change of state meanwhile (submitted, validated, "
    "returned, frozen) answers 409. Omitted fields keep their stored values."
)
ETAG_HEADER = {"ETag": {"description": "The record's version as a strong ETag; send it back as If-Match",
                        "schema": {"type": "string", "example": "\"7\""}}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
ROUND_ID = {"name": "round_id", "in": "path", "required": True, "schema": {"type": "integer"}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string", "example": "\"7\""},
            "description": "The ETag the write is based on (or `version` in the body). Stale: 412; none for an existing record: 428."}


PAGING = (
    f"Lists come one page at a time: `limit` (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}) and `cursor`, an opaque "
    "value taken from the `next` link of the previous page (send it back unchanged). The body holds `limit`, `total` "
    "and `next` (the next page's URL, null on the last page); the same URL comes as `Link: <...>; rel=\"next\"`."
)
PAGING_PARAMS = [
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 40},
     "description": "from the previous page's `next` link"},
]
PAGE_PROPERTIES = {"limit": {"type": "integer"}, "total": {"type": "integer"},
                   "next": {"type": ["string", "null"], "description": "the next page's URL, null on the last page"}}
LINK_HEADER = {"Link": {"description": "`<next page URL>; rel=\"next\"` when there is a next page", "schema": {"type": "string"}}}


def _error_responses(*codes: int) -> dict:
    text = {400: "Bad input", 401: "Not authenticated", 403: "Wrong role", 404: "Not found (or another institution's)",
            409: "The record's state no longer allows this (submitted, validated, returned or frozen meanwhile)",
            412: "Precondition failed: the record changed since the version named in If-Match; details hold the current values",
            422: "Invalid input; nothing was saved",
            428: "Precondition required: send If-Match with the ETag you read (or version in the body)"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _json(ref: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def openapi_document() -> dict:
    text_or_map = {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}]}
    lang_param = {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": ["es", "en", "pt"]}}
    id_param = {"name": "assessment_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "rubric API", "version": "1", "description": "rubric: IFP migrant-inclusion self-assessment. "
                 "Authenticate with 'Authorization: Bearer <token>' (flask --app rubric_app users token) or a browser "
                 "session; session callers send X-CSRFToken on POST and PUT. " + CONCURRENCY},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object", "properties": {
                        "criterion": {"type": "string"}, "field": {"type": "string"}, "message": {"type": "string"}}}}}}}},
                "InstrumentSummary": {"type": "object", "properties": {
                    "id": {"type": "string"}, "version": {"type": "string"}, "kind": {"type": "string"}, "hash": {"type": "string"},
                    "languages": {"type": "array", "items": {"type": "string"}}, "title": text_or_map, "url": {"type": "string"}}},
                "Instrument": {"allOf": [{"$ref": "#/components/schemas/InstrumentSummary"}, {"type": "object", "properties": {
                    "levels": {"type": "array", "items": {"type": "object", "properties": {
                        "level": {"type": "integer"}, "name": text_or_map, "summary": text_or_map}}},
                    "dimensions": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "weight": {"type": "number"}, "name": text_or_map,
                        "criteria": {"type": "array", "items": {"type": "object", "properties": {
                            "id": {"type": "string"}, "title": text_or_map,
                            "descriptors": {"type": "object", "description": "level (1..5) -> descriptor", "additionalProperties": text_or_map},
                            "actions": {"type": "object", "description": "level (2..5) -> actions to reach it",
                                        "additionalProperties": {"type": "array", "items": text_or_map}}}}}}}}}}]},
                "AnswerInput": {"type": "object", "required": ["criterion"], "properties": {
                    "criterion": {"type": "string"},
                    "level": {"type": ["integer", "null"], "minimum": 1, "maximum": 5, "description": "omitted: unchanged; null: unanswered"},
                    "not_applicable": {"type": "boolean", "description": "true: not applicable (level cleared); false without level: "
                                       "clears a not-applicable answer"},
                    "na_reason": {"type": "string", "maxLength": 5000, "description": "required when not_applicable"},
                    "target": {"type": ["integer", "null"], "minimum": 1, "maximum": 5,
                               "description": "null: the default, which follows the level (level + 1, at most 5); omitted: unchanged"},
                    "evidence": {"type": "string", "maxLength": 5000},
                    "version": {"type": "integer", "minimum": 0, "description": "the answer's version as read (0: not answered yet); "
                                "a per-answer alternative to If-Match"}},
                    "additionalProperties": False},
                "Answer": {"type": "object", "properties": {
                    "criterion": {"type": "string"}, "level": {"type": ["integer", "null"]}, "not_applicable": {"type": "boolean"},
                    "na_reason": {"type": "string"}, "evidence": {"type": "string"},
                    "target": {"type": ["integer", "null"], "description": "the effective target"},
                    "target_is_default": {"type": "boolean", "description": "true while the target follows the level"},
                    "version": {"type": "integer"}}},
                "DimensionScore": {"type": "object", "properties": {
                    "score": {"type": ["number", "null"]}, "level": {"type": ["integer", "null"]},
                    "status": {"type": "string", "enum": ["scored", "insufficient", "incomplete"]},
                    "answered": {"type": "integer"}, "not_applicable": {"type": "integer"}, "missing": {"type": "integer"}}},
                "Scores": {"type": "object", "properties": {
                    "dimensions": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/DimensionScore"}},
                    "index": {"type": ["number", "null"], "description": "0..100; null unless all six dimensions have a score"}}},
                "PlanItem": {"type": "object", "properties": {
                    "criterion": {"type": "string"}, "dimension": {"type": "string"}, "current": {"type": "integer"},
                    "target": {"type": "integer"}, "priority": {"type": "number"},
                    "actions": {"type": "array", "items": {"type": "object", "properties": {
                        "level": {"type": "integer"}, "actions": {"type": "array", "items": {"type": "string"}}}}},
                    "responsible": {"type": "string"}, "due_date": {"type": ["string", "null"], "format": "date"},
                    "status": {"type": "string"}, "note": {"type": "string"}, "version": {"type": "integer"}}},
                "Provider": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "code": {"type": "string"}, "name": {"type": "string"}, "country": {"type": "string"},
                    "city": {"type": "string"}, "type": {"type": "string"}, "contact": {"type": "object"},
                    "legal_representative": {"type": "object", "description": "who signs the commitment letter", "properties": {
                        "name": {"type": "string"}, "position": {"type": "string"}}},
                    "facts": {"type": "object", "additionalProperties": {"type": "boolean"}},
                    "item_scores": {"type": "object", "additionalProperties": {"type": ["integer", "null"], "minimum": 0, "maximum": 4}},
                    "synthetic": {"type": "boolean"}, "version": {"type": "integer"}}},
                "RoundSettings": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "weights": {"type": "object", "description": "category id -> weight (default: the instrument's)", "additionalProperties": {"type": "number"}},
                    "knockouts": {"type": "array", "items": {"type": "string"}, "description": "eligibility fact ids required"},
                    "min_scores": {"type": "object", "description": "category id -> minimum category score 0..100", "additionalProperties": {"type": "number"}},
                    "rule": {"type": "string", "enum": ["quota", "threshold"]},
                    "quotas": {"type": "object", "description": "country code -> number selected", "additionalProperties": {"type": "integer"}},
                    "default_quota": {"type": "integer"}, "threshold": {"type": ["number", "null"]},
                    "draws": {"type": "integer", "minimum": 0}, "seed": {"type": "integer"},
                    "countries": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"},
                                  "description": "ISO 3166 codes the round covers (default: every country of the providers taking part)"},
                    "include_synthetic": {"type": "boolean", "description": "whether synthetic (SYN-) providers take part; "
                                          "default: false when any real provider exists, else true"},
                    "letter_terms": {"$ref": "#/components/schemas/LetterTerms"}}},
                "LetterTerms": {"type": "object", "additionalProperties": False,
                                "description": "the commitment letters' term and quantified targets (defaults 24, 4, 60, 2)", "properties": {
                    "letter_months": {"type": "integer", "minimum": 1, "maximum": 120},
                    "courses_per_year": {"type": "integer", "minimum": 0, "maximum": 1000},
                    "women_share": {"type": "integer", "minimum": 0, "maximum": 100, "description": "percent of participants"},
                    "facilitators": {"type": "integer", "minimum": 0, "maximum": 1000}}},
                "RoundResult": {"type": "object", "properties": {
                    "code": {"type": "string"}, "country": {"type": "string"}, "name": {"type": "string"},
                    "category_scores": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                    "total": {"type": "string", "description": "weighted total, 2 decimals"},
                    "eligible": {"type": "boolean"},
                    "exclusions": {"type": "array", "items": {"type": "object", "properties": {
                        "kind": {"type": "string", "enum": ["knockout", "min_score", "missing_scores"]}, "subject": {"type": "string"},
                        "value": {"type": ["string", "null"]}, "required": {"type": ["string", "null"]}}}},
                    "rank": {"type": ["integer", "null"]}, "selected_by_rule": {"type": "boolean"}, "selected": {"type": "boolean"},
                    "frequency": {"type": ["string", "null"]}, "flag": {"type": ["string", "null"], "enum": ["robust", "borderline", None]},
                    "override": {"type": ["object", "null"]}}},
                "Round": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "version": {"type": "integer"}, "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["open", "frozen"]},
                    "instrument": {"type": "object"}, "settings": {"type": "object"},
                    "letter_terms": {"$ref": "#/components/schemas/LetterTerms"},
                    "run_at": {"type": ["string", "null"]}, "frozen_at": {"type": ["string", "null"]},
                    "counts": {"type": "object", "description": "providers, eligible and selected, in all and by_country"},
                    "results": {"type": "array", "description": "one page of the results (see limit, cursor, next)",
                                "items": {"$ref": "#/components/schemas/RoundResult"}},
                    **PAGE_PROPERTIES}},
                "Job": {"type": "object", "properties": {
                    "id": {"type": "integer"},
                    "kind": {"type": "string", "enum": ["round_documents", "round_report", "comparison_export", "provider_import_check",
                                                        "provider_import"]},
                    "params": {"type": "object"},
                    "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
                    "done": {"type": "integer"}, "total": {"type": "integer"}, "error": {"type": ["string", "null"]},
                    "result": {"type": ["string", "null"], "description": "the result's URL once done"},
                    "created_at": {"type": "string"}, "finished_at": {"type": ["string", "null"]}}},
                "Assessment": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "version": {"type": "integer", "description": "also the ETag"},
                    "status": {"type": "string", "enum": ["draft", "submitted", "validated"]},
                    "language": {"type": "string"}, "round": {"type": "integer"},
                    "instrument": {"type": "object", "properties": {"id": {"type": "string"}, "version": {"type": "string"}, "hash": {"type": "string"}}},
                    "institution": {"type": "object"},
                    "answers": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
                    "scores": {"type": "object", "properties": {"self": {"$ref": "#/components/schemas/Scores"}}},
                    "plan": {"type": "array", "items": {"$ref": "#/components/schemas/PlanItem"}}}},
            },
        },
        "paths": {
            "/instruments": {"get": {"summary": "List the loaded instruments", "responses": {
                "200": {"description": "Instruments", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "instruments": {"type": "array", "items": {"$ref": "#/components/schemas/InstrumentSummary"}}}}}}},
                **_error_responses(401)}}},
            "/instruments/{instrument_id}/{version}": {"get": {
                "summary": "One instrument definition; texts in one language with ?lang, else all languages",
                "parameters": [{"name": "instrument_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}, lang_param],
                "responses": {"200": {"description": "The definition", **_json("Instrument")}, **_error_responses(401, 404, 422)}}},
            "/assessments": {
                "get": {"summary": "Assessments visible to the caller, newest first, paged", "description": PAGING,
                        "parameters": PAGING_PARAMS,
                        "responses": {"200": {"description": "One page", "headers": LINK_HEADER, "content": {"application/json": {"schema": {
                            "type": "object", "properties": {"assessments": {"type": "array", "items": {"type": "object"}}, **PAGE_PROPERTIES}}}}},
                            **_error_responses(401, 422)}},
                "post": {"summary": "Start a draft for the caller's institution",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["instrument"], "properties": {
                             "instrument": {"type": "string"}, "version": {"type": "string"},
                             "language": {"type": "string", "enum": ["es", "en", "pt"]}, "from_previous": {"type": "boolean"}}}}}},
                         "responses": {"201": {"description": "Created", **_json("Assessment")}, **_error_responses(400, 401, 403, 422)}}},
            "/assessments/{assessment_id}": {"get": {
                "summary": "Answers, self-assessed scores and the improvement plan, with the ETag to write with",
                "parameters": [id_param, {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The assessment", "headers": ETAG_HEADER, **_json("Assessment")},
                              "304": {"description": "Not modified since the ETag in If-None-Match", "headers": ETAG_HEADER},
                              **_error_responses(401, 404)}}},
            "/assessments/{assessment_id}/answers": {"put": {
                "summary": "Change the listed answers, only the fields sent (others keep theirs); all or nothing",
                "description": CONCURRENCY + " A criterion listed twice is refused (422).",
                "parameters": [id_param, IF_MATCH],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    {"type": "array", "maxItems": 500, "items": {"$ref": "#/components/schemas/AnswerInput"}},
                    {"type": "object", "properties": {"answers": {"type": "array", "maxItems": 500, "items": {"$ref": "#/components/schemas/AnswerInput"}},
                                                      "version": {"type": "integer", "description": "the assessment's version (the ETag)"}}}]}}}},
                "responses": {"200": {"description": "Saved", "headers": ETAG_HEADER, **_json("Assessment")},
                              **_error_responses(400, 401, 403, 404, 409, 412, 422, 428)}}},
            "/assessments/{assessment_id}/submit": {"post": {
                "summary": "Lock the answers (every criterion must be answered); the scores are those of the version named",
                "description": "Needs If-Match with the ETag (or {\"version\": n} as the body): the caller submits the answers it has seen.",
                "parameters": [id_param, IF_MATCH],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "version": {"type": "integer"}}}}}},
                "responses": {"200": {"description": "Submitted", "headers": ETAG_HEADER, **_json("Assessment")},
                              **_error_responses(401, 403, 404, 409, 412, 422, 428)}}},
            "/review-queue": {"get": {
                "summary": "The reviewers' queue: submitted and validated assessments (to review first), or one status; paged",
                "description": PAGING + " Reviewers and administrators only.",
                "parameters": [*PAGING_PARAMS,
                               {"name": "status", "in": "query", "required": False, "schema": {"type": "string", "enum": ["submitted", "validated", "returned"]},
                                "description": "returned: drafts sent back to the institution, newest return first"},
                               {"name": "country", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[A-Za-z]{2}$"}},
                               {"name": "round", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                               {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200},
                                "description": "part of the institution's name; capitals and accents do not matter"}],
                "responses": {"200": {"description": "One page", "headers": LINK_HEADER, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"assessments": {"type": "array", "items": {"type": "object"}}, **PAGE_PROPERTIES}}}}},
                    **_error_responses(400, 401, 403, 422)}}},
            "/audit-log": {"get": {
                "summary": "The audit log as the caller may read it, newest first; paged",
                "description": PAGING + " Reviewers read the entries about assessments, project staff those about selection rounds "
                               "(freezes, overrides and their rationale), administrators every entry.",
                "parameters": [*PAGING_PARAMS,
                               {"name": "kind", "in": "query", "required": False, "schema": {"type": "string"},
                                "description": "a kind of entry the caller may filter on (the 422 answer lists them)"},
                               {"name": "assessment", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                               {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200}}],
                "responses": {"200": {"description": "One page", "headers": LINK_HEADER, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"entries": {"type": "array", "items": {"type": "object"}}, **PAGE_PROPERTIES}}}}},
                    **_error_responses(400, 401, 403, 422)}}},
            "/providers/template.csv": {"get": {
                "summary": "The provider import template (staff): one column per field, eligibility fact and item id",
                "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}, **_error_responses(401, 403)}}},
            "/providers/import": {"post": {
                "summary": "Import providers from CSV or XLSX (staff); upsert by code, all or nothing",
                "description": "A dry run answers a `stamp` (the versions of the file's providers). Applying a file that updates "
                               "existing providers needs `If-Match: \"<stamp>\"` (428 without; 412 when any of them changed since).",
                "parameters": [{"name": "dry_run", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"], "default": "1"}},
                               {**IF_MATCH, "description": "the dry run's stamp, in quotes"}],
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": {"description": "What was (or would be) created, updated and left unchanged", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"dry_run": {"type": "boolean"}, "created": {"type": "array", "items": {"type": "string"}},
                                                     "updated": {"type": "array", "items": {"type": "object"}},
                                                     "unchanged": {"type": "array", "items": {"type": "string"}},
                                                     "stamp": {"type": "string"}}}}}},
                              "422": {"description": "Problems with row, column, value and message; nothing imported",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                              **_error_responses(401, 403, 409, 412, 428)}}},
            "/providers": {"get": {
                "summary": "The provider registry (staff), in code order, paged",
                "description": PAGING + " `q` finds code, name or city ignoring case and accents.",
                "parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in ("country", "type", "q")]
                              + [{"name": "archived", "in": "query", "required": False,
                                  "schema": {"type": "string", "enum": ["0", "1", "all"], "default": "0"}}] + PAGING_PARAMS,
                "responses": {"200": {"description": "One page of providers", "headers": LINK_HEADER, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "providers": {"type": "array", "items": {"$ref": "#/components/schemas/Provider"}}, **PAGE_PROPERTIES}}}}},
                    **_error_responses(401, 403, 422)}}},
            "/selection-rounds": {"get": {
                "summary": "Selection rounds (staff), newest first, paged", "description": PAGING, "parameters": PAGING_PARAMS,
                "responses": {"200": {"description": "One page of rounds", "headers": LINK_HEADER, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"rounds": {"type": "array", "items": {"type": "object"}}, **PAGE_PROPERTIES}}}}},
                    **_error_responses(401, 403, 422)}}, "post": {
                "summary": "Create and run a selection round (staff); answers its summary and the first page of results",
                "parameters": PAGING_PARAMS,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RoundSettings"}}}},
                "responses": {"201": {"description": "The round with its results", "headers": ETAG_HEADER, **_json("Round")},
                              **_error_responses(401, 403, 422)}}},
            "/selection-rounds/{round_id}": {"get": {
                "summary": "A round's settings, state and counts, and one page of its results per provider (staff)",
                "description": PAGING,
                "parameters": [ROUND_ID] + PAGING_PARAMS,
                "responses": {"200": {"description": "The round", "headers": {**ETAG_HEADER, **LINK_HEADER}, **_json("Round")},
                              **_error_responses(401, 403, 404, 422)}}},
            "/selection-rounds/{round_id}/rerun": {"post": {
                "summary": "Run an open round again on the current registry; for a frozen round, check that it reproduces (staff)",
                "description": CONCURRENCY,
                "parameters": [ROUND_ID, IF_MATCH] + PAGING_PARAMS,
                "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "version": {"type": "integer"}}}}}},
                "responses": {"200": {"description": "The round", "headers": ETAG_HEADER, **_json("Round")},
                              **_error_responses(401, 403, 404, 409, 412, 422, 428)}}},
            "/selection-rounds/{round_id}/freeze": {"post": {
                "summary": "Freeze a round (staff): its inputs, results and overrides no longer change; letters can be issued",
                "description": CONCURRENCY + " An already frozen round answers 409.",
                "parameters": [ROUND_ID, IF_MATCH] + PAGING_PARAMS,
                "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "version": {"type": "integer"}}}}}},
                "responses": {"200": {"description": "The frozen round", "headers": ETAG_HEADER, **_json("Round")},
                              **_error_responses(401, 403, 404, 409, 412, 422, 428)}}},
            "/selection-rounds/{round_id}/overrides/{code}": {"put": {
                "summary": "Select or deselect a provider against the rule, or remove the override (staff); written to the audit log",
                "description": CONCURRENCY + " A frozen round answers 409; a provider not in the round 404.",
                "parameters": [ROUND_ID, {"name": "code", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},
                               IF_MATCH] + PAGING_PARAMS,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["selected", "rationale"], "properties": {
                        "selected": {"type": ["boolean", "null"], "description": "true, false, or null to remove the override"},
                        "rationale": {"type": "string", "minLength": 1, "maxLength": 5000},
                        "version": {"type": "integer", "description": "the round's version (the ETag)"}}}}}},
                "responses": {"200": {"description": "The round", "headers": ETAG_HEADER, **_json("Round")},
                              **_error_responses(401, 403, 404, 409, 412, 422, 428)}}},
            "/selection-rounds/{round_id}/letters/{code}.pdf": {"get": {
                "summary": "A selected provider's commitment letter (staff), in the language of the provider's country",
                "description": "Letters are issued only for frozen rounds: 409 while the round is open; 404 for a provider not selected.",
                "parameters": [{"name": "round_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                               {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}}, **_error_responses(401, 403, 404, 409)}}},
            "/selection-rounds/{round_id}/documents.zip": {"get": {
                "summary": "The round's report (in lang) and every selected provider's letter, zipped (staff)",
                "description": "Frozen rounds only: 409 while the round is open.",
                "parameters": [{"name": "round_id", "in": "path", "required": True, "schema": {"type": "integer"}}, lang_param],
                "responses": {"200": {"description": "zip", "content": {"application/zip": {}}}, **_error_responses(401, 403, 404, 409, 422)}}},
            "/selection-rounds/{round_id}/jobs": {"post": {
                "summary": "Prepare a frozen round's documents as a job (staff): 202 with the job's URL in Location",
                "description": "`round_documents`: the report in `lang` and every selected provider's letter, zipped; "
                               "`round_report`: the report only. The work runs outside the request (a worker thread, or RQ "
                               "workers when REDIS_URL is set); poll GET /jobs/{job_id} for progress. An open round answers 409; "
                               "more than 5 unfinished jobs of the caller's, 409.",
                "parameters": [ROUND_ID],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["round_documents", "round_report"], "default": "round_documents"},
                    "lang": {"type": "string", "enum": ["es", "en", "pt"], "default": "es"}}}}}},
                "responses": {"202": {"description": "Queued", "headers": {"Location": {"schema": {"type": "string"}}}, **_json("Job")},
                              **_error_responses(401, 403, 404, 409, 422)}}},
            "/jobs/{job_id}": {"get": {
                "summary": "One of the caller's jobs: status, progress (done of total) and, when done, the result's URL",
                "parameters": [JOB_ID],
                "responses": {"200": {"description": "The job", **_json("Job")}, **_error_responses(401, 404)}}},
            "/jobs/{job_id}/result": {"get": {
                "summary": "The file a finished job made (zip, PDF, CSV, XLSX, or JSON for a provider check or import)",
                "description": "The caller's access is checked again: a comparison export holding institution rows is refused (403) "
                               "once the caller's role no longer sees them.",
                "parameters": [JOB_ID],
                "responses": {"200": {"description": "The file", "content": {
                    "application/zip": {}, "application/pdf": {}, "text/csv": {},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}, "application/json": {}}},
                              **_error_responses(401, 403, 404, 409)}}},
            "/comparison": {"get": {
                "summary": "Aggregates per country and dimension (reviewers, staff, admins); cells under 3 institutions suppressed",
                "parameters": [
                    {"name": "instrument", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "version", "in": "query", "required": False, "schema": {"type": "string"},
                     "description": "one version; several (or none while several exist) is refused as mixing versions"},
                    {"name": "countries", "in": "query", "required": False, "schema": {"type": "string"}, "description": "e.g. AR,CO"},
                    {"name": "basis", "in": "query", "required": False, "schema": {"type": "string", "enum": ["self", "validated"]}},
                    {"name": "type", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "sector", "in": "query", "required": False, "schema": {"type": "string", "enum": ["public", "private"]}},
                    {"name": "round", "in": "query", "required": False, "schema": {"type": "integer"}},
                    {"name": "date_from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
                    {"name": "date_to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}}],
                "responses": {"200": {"description": "Aggregates", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "instrument": {"type": "object"}, "min_cell": {"type": "integer"}, "institutions": {"type": "integer"},
                    "groups": {"type": "object", "description": "country code or ALL -> dimension id or index -> {n, suppressed, median, q1, q3, mean}"},
                    "agreement": {"type": "array", "items": {"type": "object"}},
                    "index_histogram": {"type": "object"}}}}}},
                    **_error_responses(401, 403, 422)}}},
            "/comparison/exports": {"post": {
                "summary": "Prepare the comparison's CSV or XLSX export as a job (reviewers, staff, admins): 202 with the job's URL",
                "description": "The filters are those of GET /comparison. Reviewers and administrators get one row per institution, "
                               "as in the page's export; project staff the aggregates only. The result is downloaded from "
                               "GET /jobs/{job_id}/result (access checked again then). Mixed instrument versions make the job fail "
                               "with the reason in `error`; more than 5 unfinished jobs of the caller's answer 409.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["format"], "additionalProperties": False, "properties": {
                        "format": {"type": "string", "enum": ["csv", "xlsx"]},
                        "instrument": {"type": "string", "maxLength": 1000},
                        "version": {"type": "string", "maxLength": 1000, "description": "one version"},
                        "countries": {"oneOf": [{"type": "string", "maxLength": 1000, "description": "e.g. AR,CO"},
                                                {"type": "array", "maxItems": 300, "items": {"type": "string", "pattern": "^[A-Za-z]{2}$"}}]},
                        "basis": {"type": "string", "enum": ["self", "validated"]},
                        "type": {"type": "string", "maxLength": 1000},
                        "sector": {"type": "string", "enum": ["public", "private"]},
                        "round": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                        "date_from": {"type": "string", "format": "date"},
                        "date_to": {"type": "string", "format": "date"}}}}}},
                "responses": {"202": {"description": "Queued", "headers": {"Location": {"schema": {"type": "string"}}}, **_json("Job")},
                              **_error_responses(401, 403, 409, 422)}}},
            "/providers/import/jobs": {"post": {
                "summary": "Check (dry_run=1) or import (dry_run=0) a provider file as a job (staff): 202 with the job's URL",
                "description": "For large files. The file is kept in the database (one kept file per person: it replaces an earlier "
                               "one) until the job reads it. The result (GET /jobs/{job_id}/result, JSON) is the body POST "
                               "/providers/import answers, plus `problems` (row, column, value, message): when there are any, "
                               "nothing was imported. Applying a file that updates existing providers needs the dry run's "
                               "`If-Match: \"<stamp>\"`; without it, or when any of them changed since, the job fails with the "
                               "reason in `error` and nothing is imported.",
                "parameters": [{"name": "dry_run", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"], "default": "1"}},
                               {**IF_MATCH, "description": "the dry run's stamp, in quotes"}],
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {"202": {"description": "Queued", "headers": {"Location": {"schema": {"type": "string"}}}, **_json("Job")},
                              **_error_responses(401, 403, 409, 412, 422)}}},
            "/assessments/{assessment_id}/report.pdf": {"get": {
                "summary": "The report and improvement plan as PDF", "parameters": [id_param, lang_param],
                "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}}, **_error_responses(401, 404, 422)}}},
        },
    }

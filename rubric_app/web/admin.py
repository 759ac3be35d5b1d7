"""Administration pages (admins only): users and their roles, institutions."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..inputs import ascii_int
from ..i18n import countries, country_name, current_language
from ..models import Institution, User
from ..services import PreconditionFailed, ServiceError
from ..services import admin as svc
from . import role_required
from .admin_forms import (
    ACTIVE_LABELS,
    ROLE_LABELS,
    InstitutionFilterForm,
    InstitutionForm,
    RoleForm,
    UserFilterForm,
)
from .forms import INSTITUTION_TYPE_LABELS, SECTOR_LABELS, VersionedForm, options

bp = Blueprint("admin", __name__, url_prefix="/admin")
admins_only = role_required(svc.ADMIN)
FORM_EXPIRED = "The form expired or was sent from elsewhere. Reload the page and try again."


def _valid(field, default=None):
    """A filter's value, or ``default`` when it is empty or not valid (bad filters are ignored, not errors)."""
    return field.data if field.data not in (None, "") and not field.errors else default


def _page_number(field) -> int:
    """The page asked for: 1 when absent or not a number; beyond the last page, the last page."""
    raw = (field.raw_data or [""])[0].strip() if field.raw_data else ""
    if field.errors and ascii_int(raw[:12], 1, max_digits=12) is not None:
        return svc.MAX_ID
    return _valid(field, 1)


def _institution_id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return ascii_int(raw, 1, 2**31 - 1)


def _show_version(form, version: int) -> None:
    """Make a re-shown form carry the stored version (not the one it was posted with)."""
    form.version.data, form.version.raw_data = version, [str(version)]


def _institution_label(inst: Institution | None) -> str:
    return f"{inst.name} ({country_name(inst.country, current_language())})" if inst is not None else "—"


def _history_value(field: str, value: str | None) -> str:
    """A stored audit value in words: labels for codes, names for ids."""
    from .forms import INSTITUTION_TYPE_LABELS, SECTOR_LABELS
    from .review import AUDIT_VALUE_LABELS

    if value is None or value == "":
        return "—"
    if field == "institution":
        inst = db.session.get(Institution, int(value)) if value.isdigit() else None
        return _institution_label(inst) if inst is not None else value
    if field == "invitation":
        state = value.split(":", 1)[0]
        return str({"sent": _("Sent"), "accepted": _("Accepted"), "revoked": _("Revoked")}.get(state, state))
    if field == "country" and len(value) == 2:
        return country_name(value.upper(), current_language())
    if field == "type":
        return str(INSTITUTION_TYPE_LABELS.get(value, value))
    if field == "sector":
        return str(SECTOR_LABELS.get(value, value))
    if field == "api_tokens" and value.isdigit():
        return format_decimal(int(value))
    label = AUDIT_VALUE_LABELS.get(value)
    return str(label) if label is not None else value


def _history(subject: str) -> list[dict]:
    """The changes to an account or institution as rows of words (no field names or codes)."""
    from .review import AUDIT_FIELD_LABELS

    return [{"at": entry.at, "who": email or "—", "what": str(AUDIT_FIELD_LABELS.get(entry.field, entry.field)),
             "old": _history_value(entry.field, entry.old), "new": _history_value(entry.field, entry.new)}
            for entry, email in svc.history(db.session, current_user, subject)]


@bp.get("/")
@admins_only
def index():
    return redirect(url_for(".users"))


# --------------------------------------------------------------------------- users


@bp.get("/users")
@admins_only
def users():
    form = UserFilterForm(request.args)
    form.validate()
    active = {"1": True, "0": False}.get(_valid(form.active))
    result = svc.list_users(db.session, current_user, search=_valid(form.q), role=_valid(form.role), active=active,
                            page=_page_number(form.page))
    filters = {"q": _valid(form.q, ""), "role": _valid(form.role, ""), "active": _valid(form.active, "")}
    return render_template("admin/users.html", form=form, result=result, filters=filters, role_labels=ROLE_LABELS)


def _user_page(user: User, *, role_form: RoleForm | None = None, errors: dict | None = None,
               differences: list | None = None, status: int = 200):
    find = (request.args.get("find") or "").strip()[:200]
    if role_form is None:
        role_form = RoleForm(formdata=None, version=user.version, role=user.role,
                             institution=str(user.institution_id) if user.institution_id else "")
    posted_id = _institution_id(role_form.institution.data)
    choices = svc.institution_choices(db.session, current_user, search=find, include_id=posted_id or user.institution_id)
    role_form.institution.choices = options([("", _("No institution"))] + [(str(i.id), _institution_label(i)) for i in choices])
    active_form = VersionedForm(formdata=None, version=user.version)
    return render_template("admin/user.html", user=user, role_form=role_form, active_form=active_form, errors=errors or {},
                           differences=differences, find=find, role_labels=ROLE_LABELS, active_labels=ACTIVE_LABELS,
                           institution_label=_institution_label, is_self=user.id == current_user.id,
                           total_institutions=svc.count_institutions(db.session, current_user),
                           history=_history(f"user:{user.id}")), status


@bp.get("/users/<int:user_id>")
@admins_only
def user(user_id: int):
    return _user_page(svc.get_user(db.session, current_user, user_id))


def _user_differences(user: User, mine: dict) -> list[tuple[str, str, str]]:
    """(what, yours, stored) for the fields the admin's form was about."""
    rows = []
    if "role" in mine:
        rows.append((_("Role"), str(ROLE_LABELS.get(mine["role"], mine["role"])), str(ROLE_LABELS[user.role])))
        theirs = db.session.get(Institution, mine["institution"]) if mine.get("institution") else None
        rows.append((_("Institution"), _institution_label(theirs), _institution_label(user.institution)))
    if "active" in mine:
        rows.append((_("Status"), str(ACTIVE_LABELS["1" if mine["active"] else "0"]), str(ACTIVE_LABELS["1" if user.active else "0"])))
    return rows


def _conflict(user_id: int, exc: PreconditionFailed, mine: dict, role_form: RoleForm | None = None):
    """The 409 page: the stored values beside the admin's, the forms at the stored version."""
    db.session.rollback()
    user = svc.get_user(db.session, current_user, user_id)
    if role_form is not None:
        _show_version(role_form, user.version)
    return _user_page(user, role_form=role_form, errors={"": _(exc.message)}, differences=_user_differences(user, mine), status=409)


@bp.post("/users/<int:user_id>/role")
@admins_only
def change_role(user_id: int):
    user = svc.get_user(db.session, current_user, user_id)
    form = RoleForm()
    form.institution.choices = None  # checked by the service: any existing institution may be chosen
    form.institution.validate_choice = False
    if not form.validate():
        errors = {name: str(messages[0]) for name, messages in form.errors.items()}
        errors[""] = _(FORM_EXPIRED) if "version" in errors or "csrf_token" in errors else _("Check the fields marked.")
        return _user_page(user, role_form=form, errors=errors, status=422)
    institution_id = _institution_id(form.institution.data)
    try:
        svc.change_role(db.session, current_user, user.id, role=form.role.data, institution_id=institution_id,
                        expected_version=form.version.data)
    except PreconditionFailed as exc:
        return _conflict(user_id, exc, {"role": form.role.data, "institution": institution_id}, form)
    except ServiceError as exc:
        db.session.rollback()
        user = svc.get_user(db.session, current_user, user_id)
        _show_version(form, user.version)
        errors = {d["field"]: _(d["message"]) for d in exc.details if d.get("field") and d.get("message")}
        errors[""] = _(exc.message)
        if any(d.get("field") == "institution" for d in exc.details):
            errors.setdefault("institution", _(exc.message))
        return _user_page(user, role_form=form, errors=errors, status=exc.status if exc.status in (403, 404, 409) else 422)
    flash(_("The role was saved. The person's open sessions have ended."), "success")
    return redirect(url_for(".user", user_id=user_id))


def _set_active(user_id: int, active: bool):
    user = svc.get_user(db.session, current_user, user_id)
    form = VersionedForm()
    if not form.validate():
        return _user_page(user, errors={"": _(FORM_EXPIRED)}, status=422)
    try:
        svc.set_active(db.session, current_user, user.id, active=active, expected_version=form.version.data)
    except PreconditionFailed as exc:
        return _conflict(user_id, exc, {"active": active})
    except ServiceError as exc:
        db.session.rollback()
        user = svc.get_user(db.session, current_user, user_id)
        return _user_page(user, errors={"": _(exc.message)}, status=exc.status if exc.status in (403, 404, 409) else 422)
    if active:
        flash(_("The account is active again."), "success")
    else:
        flash(_("The account is deactivated. The person's open sessions have ended."), "success")
    return redirect(url_for(".user", user_id=user_id))


@bp.post("/users/<int:user_id>/deactivate")
@admins_only
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/reactivate")
@admins_only
def reactivate(user_id: int):
    return _set_active(user_id, True)


# --------------------------------------------------------------------------- institutions


def _country_choices(first: str) -> list:
    return options([("", first)] + countries(current_language()))


@bp.get("/institutions")
@admins_only
def institutions():
    form = InstitutionFilterForm(request.args)
    form.country.choices = _country_choices(_("All"))
    form.validate()
    result = svc.list_institutions(db.session, current_user, search=_valid(form.q), country=_valid(form.country),
                                   page=_page_number(form.page))
    filters = {"q": _valid(form.q, ""), "country": _valid(form.country, "")}
    return render_template("admin/institutions.html", form=form, result=result, filters=filters,
                           type_labels=INSTITUTION_TYPE_LABELS, sector_labels=SECTOR_LABELS)


def _institution_differences(mine: dict, inst: Institution) -> list[tuple[str, str, str]]:
    labels = {"name": _("Institution name"), "city": _("City"), "country": _("Country"), "type": _("Type of institution"),
              "sector": _("Public or private")}
    lang = current_language()

    def shown(field: str, value) -> str:
        value = "" if value is None else str(value).strip()
        if field == "country" and value:
            return country_name(value.upper(), lang)
        if field == "type":
            return str(INSTITUTION_TYPE_LABELS.get(value, value))
        if field == "sector":
            return str(SECTOR_LABELS.get(value, value))
        return value or "—"

    return [(labels[f], shown(f, mine.get(f)), shown(f, getattr(inst, f))) for f in svc.INSTITUTION_FIELDS]


@bp.route("/institutions/<int:institution_id>", methods=["GET", "POST"])
@admins_only
def institution(institution_id: int):
    inst = svc.get_institution(db.session, current_user, institution_id)
    errors: dict[str, str] = {}
    differences = None
    status = 200
    if request.method == "POST":
        form = InstitutionForm()
        form.country.choices = _country_choices(_("Choose a country"))
        if form.validate():
            mine = {f: getattr(form, f).data for f in svc.INSTITUTION_FIELDS}
            try:
                svc.update_institution(db.session, current_user, inst.id, mine, expected_version=form.version.data)
            except PreconditionFailed as exc:
                db.session.rollback()
                inst = svc.get_institution(db.session, current_user, institution_id)
                differences = _institution_differences(mine, inst)
                _show_version(form, inst.version)
                errors[""], status = _(exc.message), 409
            except ServiceError as exc:
                db.session.rollback()
                inst = svc.get_institution(db.session, current_user, institution_id)
                errors = {d["field"]: _(d["message"]) for d in exc.details if d.get("field") and d.get("message")}
                errors[""] = _(exc.message)
                status = 409 if exc.status == 409 else 422
            else:
                flash(_("The institution was saved."), "success")
                return redirect(url_for(".institution", institution_id=institution_id))
        else:
            errors = {name: str(messages[0]) for name, messages in form.errors.items()}
            errors[""] = _(FORM_EXPIRED) if "version" in errors or "csrf_token" in errors else _("Check the fields marked.")
            status = 422
    else:
        form = InstitutionForm(formdata=None, obj=inst)
        form.country.choices = _country_choices(_("Choose a country"))
    return render_template("admin/institution.html", institution=inst, form=form, errors=errors, differences=differences,
                           history=_history(f"institution:{inst.id}")), status


"""Registration, sign-in, the account page, API tokens, passwords, invitations and the institution's details."""
from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import i18n
from ..extensions import (
    db,
    failed_sign_in,
    init_limiter,
    limiter,
    rate,
    submitted_email,
)
from ..services import PreconditionFailed, ServiceError, accounts, mail
from . import role_required
from .forms import (
    INSTITUTION_TYPE_LABELS,
    PASSWORD_HINT,
    SECTOR_LABELS,
    AcceptInvitationForm,
    ChangePasswordForm,
    EmptyForm,
    ForgotPasswordForm,
    InstitutionForm,
    InviteForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    TokenForm,
    options,
)

bp = Blueprint("auth", __name__)
# the limiter comes with the blueprint that needs it: each app gets its own counts
bp.record_once(lambda state: init_limiter(state.app))

#: what survives the renewal of the session at sign-in (preferences, never authentication)
KEPT_ON_RENEWAL = ("lang",)


def _safe_next(target: str | None) -> str:
    """A local path to go back to, or the home page (never another site)."""
    from urllib.parse import urlsplit

    if not target or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target):
        return url_for("main.index")
    normalised = target.replace("\\", "/")
    parts = urlsplit(normalised)
    if parts.scheme or parts.netloc or not normalised.startswith("/") or normalised.startswith("//"):
        return url_for("main.index")
    return target


def start_session(user) -> None:
    """Sign ``user`` in with a new session (no fixation) carrying the account's session generation."""
    user = user._get_current_object() if hasattr(user, "_get_current_object") else user  # not the current_user proxy
    kept = {k: session[k] for k in KEPT_ON_RENEWAL if k in session}
    session.clear()
    session.update(kept)
    login_user(user)
    session["auth_gen"] = user.session_generation


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


def _field_errors(form, exc: ServiceError, fields: dict) -> None:
    """Put a service error on the form field it names (or flash it)."""
    placed = False
    for detail in exc.details or [{}]:
        target = fields.get(detail.get("field"))
        if target is not None:
            target.errors = list(target.errors) + [_(detail.get("message") or exc.message)]
            placed = True
    if not placed:
        flash(_(exc.message), "error")


def too_many_requests(exc):
    """The 429 answer: a page in the person's language, JSON for the API."""
    message = _("Too many attempts. Wait a few minutes, then try again.")
    if request.path.startswith("/api/") or request.headers.get("X-Requested-With") == "fetch":
        return jsonify({"error": {"status": 429, "message": message, "details": []}}), 429
    return render_template("auth/throttled.html", message=message), 429


# ----------------------------------------------------------------------------- registration


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(rate("RATELIMIT_REGISTER_ADDRESS"), methods=["POST"])
@limiter.limit(rate("RATELIMIT_REGISTER_ACCOUNT"), methods=["POST"], key_func=submitted_email,
               deduct_when=lambda response: response.status_code == 200)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    lang = i18n.current_language()
    form.country.choices = options([("", _("Choose a country"))] + i18n.countries(lang))
    if form.validate_on_submit():
        try:
            registration = accounts.register_institution(
                db.session,
                institution={"name": form.institution_name.data, "country": form.country.data, "city": form.city.data,
                             "type": form.institution_type.data, "sector": form.sector.data},
                email=form.email.data, password=form.password.data, name=form.name.data, locale=lang,
            )
        except ServiceError as exc:
            _field_errors(form, exc, {"name": form.institution_name, "email": form.email, "password": form.password})
        else:
            user = registration.user
            if registration.new or accounts.is_pending(user):
                token = accounts.confirmation_token(user, current_app.secret_key)
                message = mail.confirmation_message(user.email, user.locale or lang,
                                                    url_for("auth.confirm", token=token, _external=True))
            else:
                message = mail.already_registered_message(user.email, user.locale or lang, url_for("auth.forgot", _external=True))
            mail.send(message)
            return render_template("auth/check_email.html", email=accounts.normalise_email(form.email.data), purpose="register")
    return render_template("auth/register.html", form=form, password_hint=PASSWORD_HINT), \
        200 if request.method == "GET" or form.errors == {} else 422


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET shows a button (mail scanners that open links must not use the link up); POST confirms and signs in."""
    if request.method == "POST":  # the CSRF token is checked for every POST
        try:
            user = accounts.confirm_registration(db.session, token, current_app.secret_key)
        except ServiceError:
            db.session.rollback()
            return render_template("auth/link_invalid.html"), 404
        start_session(user)
        flash(_("Welcome! Your e-mail address is confirmed and your institution is registered."), "success")
        return redirect(url_for("main.index"))
    return render_template("auth/confirm.html", form=EmptyForm())


# ----------------------------------------------------------------------------- sign in and out


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(rate("RATELIMIT_LOGIN_ADDRESS"), methods=["POST"])
@limiter.limit(rate("RATELIMIT_LOGIN_FAILURES_ADDRESS"), methods=["POST"], deduct_when=failed_sign_in)
@limiter.limit(rate("RATELIMIT_LOGIN_FAILURES_ACCOUNT"), methods=["POST"], key_func=submitted_email, deduct_when=failed_sign_in)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            start_session(user)
            return redirect(_safe_next(request.args.get("next")))
        if accounts.password_matches_pending(db.session, form.email.data, form.password.data):
            form.email.errors = [_("Confirm your e-mail address first: follow the link we sent you when you registered.")]
        else:
            form.password.errors = [_("Wrong e-mail or password.")]
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    accounts.log_out(db.session, current_user)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


# ----------------------------------------------------------------------------- forgotten password


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(rate("RATELIMIT_FORGOT_ADDRESS"), methods=["POST"])
@limiter.limit(rate("RATELIMIT_FORGOT_ACCOUNT"), methods=["POST"], key_func=submitted_email)
def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        found = accounts.request_password_reset(db.session, form.email.data)
        if found is not None:
            user, token = found
            mail.send(mail.reset_message(user.email, user.locale or i18n.current_language(),
                                         url_for("auth.reset", token=token, _external=True)))
        return render_template("auth/check_email.html", email=accounts.normalise_email(form.email.data), purpose="reset")
    return render_template("auth/forgot.html", form=form), 422 if request.method == "POST" else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    row = accounts.reset_for_token(db.session, token)
    if row is None:
        return render_template("auth/link_invalid.html"), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(db.session, token, form.password.data)
        except ServiceError as exc:
            db.session.rollback()
            _field_errors(form, exc, {"password": form.password})
        else:
            logout_user()
            session.clear()
            flash(_("Your new password is set and every session of the account was ended. Sign in with it."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, password_hint=PASSWORD_HINT), 422 if request.method == "POST" else 200


# ----------------------------------------------------------------------------- account


def _account_page(**extra):
    user = current_user
    return render_template("auth/account.html", tokens=accounts.tokens_of(db.session, user), token_form=TokenForm(),
                           empty_form=EmptyForm(), invite_form=extra.pop("invite_form", None) or InviteForm(),
                           invitations=accounts.pending_invitations(db.session, user), **extra)


@bp.get("/account")
@login_required
def account():
    return _account_page()


@bp.post("/account/tokens")
@login_required
@limiter.limit(rate("RATELIMIT_TOKEN_ADDRESS"))
@limiter.limit(rate("RATELIMIT_TOKEN_ACCOUNT"), key_func=_user_key)
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("The token name is too long."), "error")
        return redirect(url_for("auth.account"))
    token = accounts.issue_token(db.session, current_user, form.name.data or "")
    # shown once, on this page only: never kept in the (client-side) session cookie
    response = current_app.make_response(_account_page(new_token=token))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    accounts.revoke_token(db.session, current_user, token_id)
    flash(_("The token was revoked."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.change_password(db.session, current_user, form.current.data, form.password.data)
        except ServiceError as exc:
            db.session.rollback()
            _field_errors(form, exc, {"current": form.current, "password": form.password})
        else:
            start_session(user)
            flash(_("Your password was changed. Every other session of your account was ended."), "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/password.html", form=form, password_hint=PASSWORD_HINT), \
        422 if request.method == "POST" else 200


# ----------------------------------------------------------------------------- invitations


@bp.post("/account/invitations")
@role_required("member")
@limiter.limit(rate("RATELIMIT_INVITE_ACCOUNT"), key_func=_user_key)
def invite():
    form = InviteForm()
    if not form.validate_on_submit():
        return _account_page(invite_form=form), 422
    try:
        invitation, token = accounts.invite(db.session, current_user, form.email.data)
    except ServiceError as exc:
        db.session.rollback()
        _field_errors(form, exc, {"email": form.email})
        return _account_page(invite_form=form), exc.status
    inviter = current_user.name or current_user.email
    mail.send(mail.invitation_message(invitation.email, i18n.current_language(), url_for("auth.accept", token=token, _external=True),
                                      invitation.institution.name, inviter))
    flash(_("The invitation was sent to %(email)s.", email=invitation.email), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/invitations/<int:invitation_id>/revoke")
@role_required("member")
def revoke_invitation(invitation_id: int):
    accounts.revoke_invitation(db.session, current_user, invitation_id)
    flash(_("The invitation was revoked."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept(token: str):
    invitation = accounts.invitation_for_token(db.session, token)
    if invitation is None:
        return render_template("auth/link_invalid.html"), 404
    if current_user.is_authenticated:
        flash(_("Sign out first to accept an invitation for another account."), "error")
        return redirect(url_for("main.index"))
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = accounts.accept_invitation(db.session, token, name=form.name.data, password=form.password.data,
                                              locale=i18n.current_language())
        except ServiceError as exc:
            db.session.rollback()
            _field_errors(form, exc, {"password": form.password, "name": form.name})
            return render_template("auth/accept.html", form=form, invitation=invitation, password_hint=PASSWORD_HINT), \
                exc.status if exc.status == 409 else 422
        else:
            start_session(user)
            flash(_("Welcome! You are now a member of %(institution)s.", institution=user.institution.name), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/accept.html", form=form, invitation=invitation, password_hint=PASSWORD_HINT), \
        422 if request.method == "POST" else 200


# ----------------------------------------------------------------------------- the institution


@bp.route("/account/institution", methods=["GET", "POST"])
@role_required("member")
def institution():
    inst = current_user.institution
    form = InstitutionForm(data={**accounts.institution_values(inst), "version": inst.version} if request.method == "GET" else None)
    status, differences = 200, None
    if request.method == "POST":
        if form.validate_on_submit():
            yours = {"name": form.name.data, "city": form.city.data or "", "type": form.type.data, "sector": form.sector.data}
            try:
                accounts.save_institution(db.session, current_user, yours, expected_version=form.version.data)
            except PreconditionFailed as exc:
                db.session.rollback()
                db.session.refresh(inst)
                stored = accounts.institution_values(inst)
                labels = {**INSTITUTION_TYPE_LABELS, **SECTOR_LABELS}
                differences = [(form[f].label.text, labels.get(yours[f], yours[f]), labels.get(stored[f], stored[f]))
                               for f in accounts.INSTITUTION_FIELDS if yours[f] != stored[f]]
                form.version.data, form.version.raw_data = inst.version, [str(inst.version)]
                flash(_(exc.message), "error")
                status = 409
            except ServiceError as exc:
                db.session.rollback()
                _field_errors(form, exc, {"name": form.name, "city": form.city, "type": form.type, "sector": form.sector})
                status = exc.status if exc.status == 409 else 422
            else:
                flash(_("The institution's details were saved."), "success")
                return redirect(url_for("auth.account"))
        else:
            status = 422
    return render_template("auth/institution.html", form=form, institution=inst, differences=differences), status

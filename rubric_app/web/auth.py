"""Registration, sign-in, the account page and API tokens."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import i18n
from ..extensions import db
from ..services import ServiceError, accounts
from .forms import EmptyForm, LoginForm, RegisterForm, TokenForm, options

bp = Blueprint("auth", __name__)


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


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    lang = i18n.current_language()
    form.country.choices = options([("", _("Choose a country"))] + i18n.countries(lang))
    if form.validate_on_submit():
        try:
            user = accounts.register_institution(
                db.session,
                institution={"name": form.institution_name.data, "country": form.country.data, "city": form.city.data,
                             "type": form.institution_type.data, "sector": form.sector.data},
                email=form.email.data, password=form.password.data, name=form.name.data, locale=lang,
            )
        except ServiceError as exc:
            field = exc.details[0].get("field") if exc.details else None
            target = {"name": form.institution_name, "email": form.email, "password": form.password}.get(field)
            if target is not None:
                target.errors = list(target.errors) + [_(exc.message)]
            else:
                flash(_(exc.message), "error")
        else:
            login_user(user)
            flash(_("Welcome! Your institution is registered."), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/register.html", form=form), 200 if request.method == "GET" or form.errors == {} else 422


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = [_("Wrong e-mail or password.")]
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html", tokens=accounts.tokens_of(db.session, current_user), token_form=TokenForm(),
                           empty_form=EmptyForm(), new_token=session.pop("new_token", None))


@bp.post("/account/tokens")
@login_required
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("The token name is too long."), "error")
        return redirect(url_for("auth.account"))
    session["new_token"] = accounts.issue_token(db.session, current_user, form.name.data or "")
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    accounts.revoke_token(db.session, current_user, token_id)
    flash(_("The token was revoked."), "success")
    return redirect(url_for("auth.account"))

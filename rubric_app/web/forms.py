"""WTForms forms. The per-dimension answer form is generated from the rubric definition."""
from __future__ import annotations

from functools import lru_cache

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import DateField, EmailField, HiddenField, IntegerField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.widgets import HiddenInput
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, Regexp

from ..domain.instruments import LEVELS, Dimension

INSTITUTION_TYPE_LABELS = {
    "national_service": _l("National vocational training service"),
    "training_centre": _l("Vocational training centre"),
    "technical_institute": _l("Technical or technological institute"),
    "university": _l("University"),
    "ngo": _l("Non-governmental organisation"),
    "other": _l("Other"),
}
SECTOR_LABELS = {"public": _l("Public"), "private": _l("Private")}
PLAN_STATUS_LABELS = {"todo": _l("Not started"), "in_progress": _l("In progress"), "done": _l("Done")}
#: the labels of a plan item's fields (the results page draws the fields itself; PlanItemForm checks what is posted)
PLAN_FIELD_LABELS = {"responsible": _l("Responsible"), "due_date": _l("Due date"), "status": _l("Status"), "note": _l("Note")}
LANGUAGE_LABELS = {"es": "Español", "en": "English", "pt": "Português"}


def options(pairs) -> list[SelectChoice]:
    """Choices for a select or radio field from (value, label) pairs or a mapping."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [SelectChoice(value, label) for value, label in items]


EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter a valid e-mail address."))


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EMAIL])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class RegisterForm(FlaskForm):
    institution_name = StringField(_l("Institution name"), validators=[DataRequired(), Length(max=200)])
    country = SelectField(_l("Country"), validators=[DataRequired()])
    city = StringField(_l("City"), validators=[Length(max=120)])
    institution_type = SelectField(_l("Type of institution"), choices=options(INSTITUTION_TYPE_LABELS))
    sector = SelectField(_l("Public or private"), choices=options(SECTOR_LABELS))
    name = StringField(_l("Your name"), validators=[Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EMAIL, Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])


#: what the new-password fields say about the rules (checked by services.accounts.check_password)
PASSWORD_HINT = _l("At least 12 characters; spaces and any letters allowed. Not a common password, nor your e-mail address or "
                   "the institution's name.")


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1000)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EMAIL, Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])


class InviteForm(FlaskForm):
    email = EmailField(_l("Colleague's e-mail"), validators=[DataRequired(), EMAIL, Length(max=254)])


class AcceptInvitationForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])


class InstitutionForm(FlaskForm):
    #: the institution's version when the page was loaded
    version = IntegerField(validators=[InputRequired(), NumberRange(min=0, max=2**31 - 1)], widget=HiddenInput())
    name = StringField(_l("Institution name"), validators=[DataRequired(), Length(max=200)])
    city = StringField(_l("City"), validators=[Length(max=120)])
    type = SelectField(_l("Type of institution"), choices=options(INSTITUTION_TYPE_LABELS))
    sector = SelectField(_l("Public or private"), choices=options(SECTOR_LABELS))


class StartForm(FlaskForm):
    language = SelectField(_l("Language of the assessment"), choices=options(LANGUAGE_LABELS))
    #: radio buttons: an instrument's title is long, and versions differ only at its end (a phone cuts a select short)
    instrument = RadioField(_l("Instrument"))
    from_previous = SelectField(_l("Start from"), choices=options([("0", _l("Blank answers")), ("1", _l("The answers of the previous round"))]), default="0")


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[Length(max=100)])


#: versions travel in forms as whole numbers in this range (a record's version never leaves it)
VERSION_RANGE = NumberRange(min=0, max=2**31 - 1)


class PlanItemForm(FlaskForm):
    #: the item's version when the page was loaded (0: nobody had edited it)
    version = IntegerField(validators=[Optional(), VERSION_RANGE], widget=HiddenInput())
    #: fingerprints of the values the page showed (services.assessments.plan_fingerprint): an item left as shown is not saved
    base = HiddenField(validators=[Length(max=200)])
    responsible = StringField(PLAN_FIELD_LABELS["responsible"], validators=[Length(max=200)])
    due_date = DateField(PLAN_FIELD_LABELS["due_date"], validators=[Optional()])
    status = SelectField(PLAN_FIELD_LABELS["status"], choices=options(PLAN_STATUS_LABELS))
    note = TextAreaField(PLAN_FIELD_LABELS["note"], validators=[Length(max=5000)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change state."""


class VersionedForm(FlaskForm):
    """A button that changes a record: the CSRF token and the record's version as the page showed it."""

    version = IntegerField(validators=[InputRequired(), VERSION_RANGE], widget=HiddenInput())


def dimension_form_class(dimension: Dimension) -> type[FlaskForm]:
    """The form class of one dimension (made once per dimension id and criteria; see ``_dimension_form_class``)."""
    return _dimension_form_class(dimension.id, tuple((crit.id, crit.not_applicable_allowed) for crit in dimension.criteria))


@lru_cache(maxsize=256)
def _dimension_form_class(dimension_id: str, criteria: tuple[tuple[str, bool], ...]) -> type[FlaskForm]:
    """A fresh form class for one dimension, with stable field names per criterion.

    ``crit_<id>`` holds the level (or ``na``, where the criterion allows it), ``na_reason_<id>``, ``evidence_<id>`` and
    ``target_<id>`` the rest.  Rules (reason required, target range) are checked by the domain.
    ``ver_<id>`` and ``base_<id>`` carry the answer's version and the fingerprints of the values
    the page showed, so a save changes only what this person changed.  The target select names its
    level field (``data-level-field``) for the page script.
    """
    attrs = {}
    level_choices = options([(str(level), str(level)) for level in LEVELS] + [("na", _l("Not applicable"))])
    # a criterion that always applies (not_applicable_allowed: false) offers no "not applicable"
    levels_only = options([(str(level), str(level)) for level in LEVELS])
    for crit_id, not_applicable_allowed in criteria:
        choices = level_choices if not_applicable_allowed else levels_only
        attrs[f"crit_{crit_id}"] = RadioField(choices=choices, validators=[Optional()], validate_choice=True)
        attrs[f"na_reason_{crit_id}"] = TextAreaField(_l("Why it does not apply"), validators=[Length(max=5000)])
        attrs[f"evidence_{crit_id}"] = TextAreaField(_l("Evidence"), validators=[Length(max=5000)])
        # every level stays in the HTML; the page script disables those below the level chosen (the domain refuses them)
        attrs[f"target_{crit_id}"] = SelectField(_l("Target level"), choices=options([("", _l("Default (current + 1)"))] + [(str(level), str(level)) for level in LEVELS]),
                                                 validators=[Optional()], render_kw={"data-level-field": f"crit_{crit_id}"})
        attrs[f"ver_{crit_id}"] = HiddenField()
        attrs[f"base_{crit_id}"] = HiddenField()
    return type(f"DimensionForm_{dimension_id}", (FlaskForm,), attrs)

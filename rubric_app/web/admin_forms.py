"""Forms of the administration pages: list filters (GET, no CSRF) and the forms that change records."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, IntegerField, SearchField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)
from wtforms.widgets import HiddenInput

from ..models import ROLES
from .forms import INSTITUTION_TYPE_LABELS, SECTOR_LABELS, VERSION_RANGE, options

ROLE_LABELS = {"member": _l("Institution member"), "reviewer": _l("Reviewer"), "staff": _l("Project staff"),
               "admin": _l("Administrator")}
ACTIVE_LABELS = {"1": _l("Active"), "0": _l("Deactivated")}
#: page numbers travel as whole numbers in this range; the service bounds them to the pages there are
PAGE_RANGE = NumberRange(min=1, max=2**31 - 1)


class UserFilterForm(Form):
    """Search and filters of the user list (read from the query string)."""

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=options([("", _l("All"))] + [(r, ROLE_LABELS[r]) for r in ROLES]), validators=[Optional()])
    active = SelectField(_l("Status"), choices=options([("", _l("All"))] + list(ACTIVE_LABELS.items())), validators=[Optional()])
    page = IntegerField(validators=[Optional(), PAGE_RANGE], widget=HiddenInput())


class InstitutionFilterForm(Form):
    """Search and country filter of the institution list (read from the query string); the
    country choices are set per request, in the page's language."""

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=200)])
    country = SelectField(_l("Country"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), PAGE_RANGE], widget=HiddenInput())


class RoleForm(FlaskForm):
    """A user's role and, for members, institution; the institution choices are set per request."""

    version = IntegerField(validators=[InputRequired(), VERSION_RANGE], widget=HiddenInput())
    role = SelectField(_l("Role"), choices=options(ROLE_LABELS))
    institution = SelectField(_l("Institution (members only)"), validators=[Optional()])


class InstitutionForm(FlaskForm):
    """An institution's details; the country choices are set per request, in the page's language."""

    version = IntegerField(validators=[InputRequired(), VERSION_RANGE], widget=HiddenInput())
    name = StringField(_l("Institution name"), validators=[DataRequired(), Length(max=200)])
    city = StringField(_l("City"), validators=[Length(max=120)])
    country = SelectField(_l("Country"), validators=[DataRequired()])
    type = SelectField(_l("Type of institution"), choices=options(INSTITUTION_TYPE_LABELS))
    sector = SelectField(_l("Public or private"), choices=options(SECTOR_LABELS))

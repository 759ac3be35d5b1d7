"""What identifies a state of the data, read in one small statement per request.

A page or an answer drawn once and kept (``rubric_app.web.page_cache``, the comparison's cache) is
kept under the stamp of what it shows; each request reads the stamp (one indexed lookup, on the
connection without the ORM's bookkeeping) and draws anew only when it moved.

* the *assessment stamp*: one assessment's id, version, status and institution, and its
  institution's version (any change to the assessment bumps its version; a change to its
  institution bumps the institution's);
* the *data stamp*: the latest change of any assessment and of any institution, and the highest
  ids (a new one). Each part is the last entry of an index (schema 0010), so the cost does not
  grow with the data. The only rows ever deleted are discarded drafts, which nothing stamped
  shows (comparisons and benchmarks read submitted and validated assessments; an assessment that
  followed on from the draft is updated, so its change moves the stamp).
"""
from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..models import Assessment, Institution

_A, _I = Assessment.__table__.c, Institution.__table__.c

#: id, version, status, institution id, institution version of one assessment
ASSESSMENT = (select(_A.id, _A.version, _A.status, _A.institution_id, _I.version)
              .join_from(Assessment.__table__, Institution.__table__, _I.id == _A.institution_id)
              .where(_A.id == bindparam("assessment_id")))

#: the data stamp's parts, as scalar subqueries
DATA_PARTS = tuple(select(part).scalar_subquery()
                   for part in (func.max(_A.updated_at), func.max(_A.id), func.max(_I.updated_at), func.max(_I.id)))
#: the data stamp alone
DATA = select(*DATA_PARTS)
#: one assessment's stamp followed by the data stamp, in one statement
ASSESSMENT_AND_DATA = ASSESSMENT.add_columns(*DATA_PARTS)


def data_stamp(session: Session) -> tuple:
    """Moves whenever an assessment or an institution is added or changes."""
    return tuple(session.connection().execute(DATA).one())


def assessment_row(session: Session, assessment_id: int, *, with_data: bool = False):
    """The assessment's stamp columns (followed by the data stamp's with ``with_data``), or None."""
    return session.connection().execute(ASSESSMENT_AND_DATA if with_data else ASSESSMENT,
                                        {"assessment_id": assessment_id}).one_or_none()

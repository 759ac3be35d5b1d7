"""Checks that only mean something on PostgreSQL (the production database)."""
from __future__ import annotations

from datetime import timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from rubric_app.extensions import db
from rubric_app.models import Answer, Assessment

pytestmark = pytest.mark.postgres


def test_runs_on_postgresql(app):
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        with db.engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1


def test_one_answer_per_criterion_is_enforced_by_the_database(app, factory):
    user = factory.user()
    assessment_id = factory.assessment(user, levels=3)
    with app.app_context():
        s = db.new_session()
        s.add(Answer(assessment_id=assessment_id, criterion_id="policy_target_population", level=2))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        s.close()


def test_timestamps_keep_their_time_zone(app, factory):
    user = factory.user()
    assessment_id = factory.assessment(user, levels=4, submit=True)
    with app.app_context():
        s = db.new_session()
        assessment = s.scalar(select(Assessment).where(Assessment.id == assessment_id))
        assert assessment.submitted_at.tzinfo is not None
        assert assessment.submitted_at.utcoffset() == timezone.utc.utcoffset(None)
        s.close()


def test_api_round_trip_on_postgresql(app, factory):
    user = factory.user()
    token = factory.token(user)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/assessments", json={"instrument": "ifp-migrant-inclusion", "version": "1.0", "language": "pt"}, headers=headers)
    assert created.status_code == 201
    rubric = app.extensions["instruments"].get("ifp-migrant-inclusion", "1.0")
    answers = [{"criterion": c.id, "level": 2} for c in rubric.criteria]
    saved = client.put(f"/api/v1/assessments/{created.json['id']}/answers", json=answers, headers=headers)
    assert saved.status_code == 200
    done = client.post(f"/api/v1/assessments/{created.json['id']}/submit", headers={**headers, "If-Match": saved.headers["ETag"]})
    assert done.status_code == 200
    assert done.json["scores"]["self"]["index"] == 25.0

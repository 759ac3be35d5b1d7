"""Fast insertion of many fictitious assessments for benchmarks (Core bulk inserts, scores precomputed)."""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Callable, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ..domain.instruments import Rubric
from ..domain.scoring import CriterionAnswer, score_rubric
from ..models import INSTITUTION_TYPES, SECTORS, SUBMITTED, VALIDATED, Answer, Assessment, Institution, utcnow
from .assessments import scores_record
from .score_rows import write_score_rows

BATCH = 1000


def bulk_assessments(session: Session, rubric: Rubric, count: int, countries: Sequence[str], seed: int,
                     progress: Callable[[int], None] | None = None) -> int:
    """``count`` synthetic institutions, each with one submitted assessment (a third validated).

    Institutions and assessments take ids after the highest of their own table (an institution may
    already have several rounds, so the two never coincide), and may be run again, or after
    ``demo seed``, any number of times.
    """
    rng = random.Random(seed)
    start = (session.scalar(select(func.max(Institution.id))) or 0) + 1
    first_assessment = (session.scalar(select(func.max(Assessment.id))) or 0) + 1
    now = utcnow()
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        institutions, assessments, answers = [], [], []
        for k in range(size):
            number = start + done + k
            assessment_id = first_assessment + done + k
            country = countries[rng.randrange(len(countries))]
            name = f"Institución sintética {number:06d}"
            institutions.append({"id": number, "name": name, "name_key": name.casefold(), "country": country, "city": "",
                                 "type": rng.choice(INSTITUTION_TYPES), "sector": rng.choice(SECTORS), "synthetic": True, "created_at": now})
            base = rng.uniform(1, 5)
            levels = {c.id: max(1, min(5, round(base + rng.gauss(0, 0.8)))) for c in rubric.criteria}
            own = {cid: CriterionAnswer(cid, lvl, False, "", min(lvl + 1, 5)) for cid, lvl in levels.items()}
            validated = rng.random() < 0.33
            record = {"id": assessment_id, "institution_id": number, "instrument_id": rubric.id, "instrument_version": rubric.version,
                      "instrument_hash": rubric.hash, "language": "es", "status": VALIDATED if validated else SUBMITTED, "round_number": 1,
                      "created_at": now, "updated_at": now, "submitted_at": now - timedelta(days=rng.randrange(700)),
                      "self_scores": scores_record(score_rubric(rubric, own)), "validated_scores": None, "level_pairs": None}
            checked = {}
            if validated:
                checked = {cid: max(1, min(5, lvl - rng.choice((0, 0, 1, 1, 2)) + rng.choice((0, 0, 0, 1)))) for cid, lvl in levels.items()}
                record["validated_scores"] = scores_record(score_rubric(rubric, {cid: CriterionAnswer(cid, lvl) for cid, lvl in checked.items()}))
                pairs: dict[str, list[list[int]]] = {}
                for crit in rubric.criteria:
                    pairs.setdefault(crit.dimension_id, []).append([levels[crit.id], checked[crit.id]])
                record["level_pairs"] = pairs
            assessments.append(record)
            for cid, lvl in levels.items():
                answers.append({"assessment_id": assessment_id, "criterion_id": cid, "level": lvl, "not_applicable": False, "na_reason": "",
                                "target": None, "evidence": "", "validated_level": checked.get(cid), "review_comment": "",
                                "updated_at": now})
        session.execute(insert(Institution), institutions)
        session.execute(insert(Assessment), assessments)
        write_score_rows(session, assessments)
        session.execute(insert(Answer), answers)
        session.commit()
        done += size
        if progress:
            progress(size)
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy import text

        for table in ("institutions", "assessments", "answers"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"))
        session.execute(text("ANALYZE institutions, assessments, assessment_scores, assessment_level_pairs, assessment_score_tokens"))  # the planner sees the new rows
        session.commit()
    return done

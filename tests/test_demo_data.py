"""`demo seed` gives every view content (comparison cells shown in four countries, agreement, change
since the previous round, a review queue); it is idempotent; `demo bulk` runs after it and twice."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta, timezone

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from rubric_app.domain.comparison import change_since
from rubric_app.extensions import db
from rubric_app.models import DRAFT, SUBMITTED, VALIDATED, Answer, Assessment, AuditEntry, Institution, ReviewEvent, User, utcnow
from rubric_app.services import assessments as svc
from rubric_app.services import comparison as cmp
from rubric_app.services.demo import (
    DEMO_INSTITUTIONS,
    DEMO_PASSWORD,
    ROUND2_RETURNED,
    ROUND2_SUBMITTED,
    ROUND2_VALIDATED,
    demo_levels,
    round2_outcome,
)
from tests.conftest import login

COUNTRIES = {"AR", "CO", "PE", "DO"}


def _seed(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    return result.output


def _counts(app) -> tuple[int, ...]:
    with app.app_context():
        s = db.new_session()
        try:
            return tuple(s.scalar(select(func.count()).select_from(table))
                         for table in (Institution, User, Assessment, Answer, ReviewEvent, AuditEntry))
        finally:
            s.close()


def _aware(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _web_filters(rubric, **args) -> cmp.Filters:
    """The filters the comparison page builds from its query (instrument and version filled in)."""
    filters = cmp.parse_filters(MultiDict(args))
    return cmp.Filters(**{**filters.__dict__, "instrument": rubric.id, "versions": filters.versions or (rubric.version,)})


def test_demo_seed_gives_the_comparison_agreement_and_change_views_content_and_is_idempotent(app, registry, rubric, factory):
    output = _seed(app)
    assert "32 institutions" in output and "32 institutions seeded now" in output
    dims = [d.id for d in rubric.dimensions]
    with app.app_context():
        s = db.new_session()
        reviewer = s.scalar(select(User).where(User.email == "reviewer@demo.example"))
        institutions = list(s.scalars(select(Institution)))
        assert len(institutions) == len(DEMO_INSTITUTIONS) == 32
        assert all(i.synthetic and "Demo" in i.name for i in institutions)
        assert Counter(i.country for i in institutions) == {c: 8 for c in COUNTRIES}

        # comparison as the page builds it: every country cell shown, for either basis and either round
        for args in ({}, {"basis": "validated"}, {"round": "1"}, {"round": "2"}, {"basis": "validated", "round": "2"}):
            result = cmp.compare(s, registry, reviewer, _web_filters(rubric, **args), with_institutions=True, use_cache=False)
            assert set(result.countries) == COUNTRIES, args
            for country in COUNTRIES:
                for key in [*dims, "index"]:
                    cell = result.table[country][key]
                    assert not cell.suppressed and cell.n >= result.min_cell and cell.median is not None, (args, country, key)
            assert result.table["ALL"]["index"].mean is not None  # no complementary suppression of the region
            assert result.index_histogram and sum(result.index_histogram) == result.institutions
            # agreement: every country and dimension shown, with a kappa; self-assessment runs high somewhere
            shown = {(c, d): a for (c, d), a in result.agreement.items() if c != "ALL"}
            assert set(shown) == {(c, d) for c in COUNTRIES for d in dims}, args
            assert all(not a.suppressed and a.kappa is not None for a in shown.values()), args
            assert any(a.mean_signed_difference > 0 for a in shown.values()), args
        # the countries differ (profiles per country), so the comparison says something
        result = cmp.compare(s, registry, reviewer, _web_filters(rubric), use_cache=False)
        assert len({result.table[c]["index"].median for c in COUNTRIES}) > 1

        # two rounds per institution, a year apart; round 2 validated, awaiting review or returned
        by_institution = defaultdict(dict)
        for a in s.scalars(select(Assessment)):
            by_institution[a.institution_id][a.round_number] = a
        positions = defaultdict(list)
        for i, (name, country, *_rest) in enumerate(DEMO_INSTITUTIONS):
            positions[country].append(name)
        now = utcnow()
        outcomes = Counter()
        for inst in institutions:
            rounds = by_institution[inst.id]
            assert set(rounds) == {1, 2}
            first, second = rounds[1], rounds[2]
            assert first.status == VALIDATED and second.previous_id == first.id
            assert first.instrument_version == second.instrument_version == rubric.version
            assert _aware(second.submitted_at) - _aware(first.submitted_at) == timedelta(days=365)
            assert _aware(first.created_at) < _aware(first.submitted_at) < _aware(first.reviewed_at) < _aware(second.created_at)
            assert _aware(second.submitted_at) <= now
            outcome = round2_outcome(positions[inst.country].index(inst.name), 8)
            outcomes[outcome] += 1
            expected = {ROUND2_VALIDATED: VALIDATED, ROUND2_SUBMITTED: SUBMITTED, ROUND2_RETURNED: DRAFT}[outcome]
            assert second.status == expected
            if outcome == ROUND2_RETURNED:
                assert svc.return_note(second) is not None
            # stored levels are the generator's, stored scores are the scoring rules' own
            own1, checked1, own2 = demo_levels(rubric, inst.country, inst.name, 2026)
            assert {r.criterion_id: r.level for r in first.answers} == own1
            assert {r.criterion_id: r.level for r in second.answers} == own2
            assert {r.criterion_id: r.validated_level for r in first.answers} == checked1
            for a in (first, second):
                if a.status != DRAFT:
                    assert a.self_scores == svc.scores_record(svc.scores(registry, a))
                if a.status == VALIDATED:
                    assert a.validated_scores == svc.scores_record(svc.scores(registry, a, validated=True))
                    assert all(r.review_comment for r in a.answers if r.validated_level != r.level and r.level is not None)
            # change since the previous round, as the results page computes it
            if second.status != DRAFT:
                previous = svc.previous_scores(s, registry, second)
                assert previous is not None and previous[0].id == first.id
                change = change_since(previous[1], {**{d: r.score for d, r in svc.scores(registry, second).dimensions.items()},
                                                    "index": svc.scores(registry, second).index})
                assert change["index"] is not None and all(v >= 0 for v in change.values() if v is not None)
        assert outcomes == {ROUND2_VALIDATED: 24, ROUND2_SUBMITTED: 4, ROUND2_RETURNED: 4}
        assert any(first.validated_scores != first.self_scores for first in (r[1] for r in by_institution.values()))
        member = s.scalar(select(User).where(User.email == "member@demo.example"))
        member_latest = by_institution[member.institution_id][2]
        s.close()

    # through the web: the reviewer's JSON export shows the four countries; the member sees the change
    client = app.test_client()
    login(client, "reviewer@demo.example", DEMO_PASSWORD)
    body = client.get("/compare/export.json").get_json()
    for country in COUNTRIES:
        assert not any(cell["suppressed"] for cell in body["groups"][country].values())
    assert all(not row["suppressed"] for row in body["agreement"])
    assert body["synthetic_institutions"] == 32
    assert client.get("/compare?lang=en").status_code == 200
    queue = client.get("/review?lang=en")
    assert queue.status_code == 200
    client.post("/logout")
    login(client, "member@demo.example", DEMO_PASSWORD)
    page = client.get(f"/assessments/{member_latest.id}/results?lang=en")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Change since round 1" in text and "fewer than 5 others" not in text

    # idempotent: a second run adds nothing, and leaves an institution's newer work (a third round) alone
    with app.app_context():
        s = db.new_session()
        member = s.scalar(select(User).where(User.email == "member@demo.example"))
        draft_id = svc.start_assessment(s, registry, member, instrument_id=rubric.id, from_previous=True).id
        s.close()
    counts = _counts(app)
    again = _seed(app)
    assert "0 institutions seeded now" in again and _counts(app) == counts
    with app.app_context():
        s = db.new_session()
        draft = s.get(Assessment, draft_id)
        assert draft.status == DRAFT and draft.round_number == 3 and len(draft.answers) == len(rubric.criteria)
        s.close()

    # `demo bulk` after the seed (institutions with two rounds: assessment ids run ahead of institution ids), twice
    _bulk_twice(app, registry, factory)


def _bulk_twice(app, registry, factory) -> None:
    """`demo bulk` twice on the database as it is: 60 new institutions, each with one assessment
    whose stored scores are the scoring rules'; afterwards the services still create rows."""
    before = _counts(app)
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["demo", "bulk", "--assessments", "30", "--countries", "4"])
        assert result.exit_code == 0, result.output
        assert "Created 30 synthetic assessments" in result.output
    after = _counts(app)
    assert after[0] == before[0] + 60 and after[2] == before[2] + 60
    with app.app_context():
        s = db.new_session()
        bulk = list(s.scalars(select(Assessment).join(Institution).where(Institution.name.startswith("Institución sintética"))))
        assert len(bulk) == 60 and len({a.institution_id for a in bulk}) == 60
        assert all(a.self_scores == svc.scores_record(svc.scores(registry, a)) for a in bulk)
        assert all(a.validated_scores == svc.scores_record(svc.scores(registry, a, validated=True)) for a in bulk if a.status == VALIDATED)
        s.close()
    # the id sequences moved past the inserted rows (PostgreSQL): the services still create rows
    member = factory.user("member")
    assert factory.assessment(member, levels=3, submit=True)


def test_demo_bulk_runs_twice_on_an_empty_database(app, registry, factory):
    _bulk_twice(app, registry, factory)

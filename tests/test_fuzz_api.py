"""Schemathesis over /api/v1/openapi.json as every role: no 5xx, no request slower than 2 s.

The cases are generated from the OpenAPI document (bodies, path and query parameters, If-Match
and If-None-Match headers), deterministically (``derandomize``), against an app holding a draft,
a submitted assessment, providers and a round.  ``RUBRIC_FUZZ_EXAMPLES`` sets the cases per
operation and role (the suite's default keeps it quick; ``.ci/run`` runs thousands).  Run with
``-s`` to see the figures.
"""
from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from .conftest import make_app

pytestmark = [
    pytest.mark.fuzz,
    # Schemathesis's WSGI transport does not close streamed file responses (PDFs): its leak, not the app's
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (the test extra) to fuzz the API")
hypothesis = pytest.importorskip("hypothesis")

EXAMPLES = int(os.environ.get("RUBRIC_FUZZ_EXAMPLES", "8"))
SLOWEST_ALLOWED = 2.0
ROLES = ("anonymous", "member", "reviewer", "staff", "admin")


def seeded_app(tmp_path):
    """An app with something to find: a draft and a submitted assessment, providers, a round."""
    from rubric_app.extensions import db
    from rubric_app.services import providers as prov
    from rubric_app.services import selection as sel

    from .conftest import Factory

    app = make_app(tmp_path, PROPAGATE_EXCEPTIONS=False)  # a crash must come back as the 500 it would be
    factory = Factory(app)
    member = factory.user()
    factory.assessment(member, levels=3)
    factory.assessment(member, levels=2, submit=True)
    staff = factory.user("staff")
    tokens = {"member": factory.token(member), "staff": factory.token(staff),
              "reviewer": factory.token(factory.user("reviewer")), "admin": factory.token(factory.user("admin"))}
    with app.app_context():
        s = db.new_session()
        registry = app.extensions["instruments"]
        prov.seed_synthetic_providers(s, prov.provider_instrument(registry), 24, 11)
        s.commit()
        sel.create_round(s, registry, s.merge(staff), "Ronda de prueba", {"draws": 50, "seed": 3, "default_quota": 2})
        s.close()
    return app, tokens


@pytest.mark.parametrize("role", ROLES)
def test_api_never_answers_5xx_nor_hangs(tmp_path, role):
    from hypothesis import HealthCheck, Phase, given, settings

    app, tokens = seeded_app(tmp_path)
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    statuses: Counter = Counter()
    failures: list[str] = []
    slowest = (0.0, "")
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, print_blob=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def call(case):
            nonlocal slowest, cases
            start = time.perf_counter()
            try:
                response = case.call(headers={**(case.headers or {}), **headers})
            except Exception as exc:  # noqa: BLE001 - an exception escaping the app is a failure to report
                failures.append(f"exception {exc!r} {operation.label} path={case.path_parameters} query={case.query}")
                return
            elapsed = time.perf_counter() - start
            cases += 1
            statuses[f"{response.status_code // 100}xx"] += 1
            if elapsed > slowest[0]:
                slowest = (elapsed, operation.label)
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {operation.label} path={case.path_parameters} query={case.query} "
                                f"headers={ {k: v for k, v in (case.headers or {}).items()} } body={str(case.body)[:300]}")

        call()
    with app.app_context():
        from rubric_app.extensions import db

        db.engine.dispose()
    print(f"\n[fuzz] {role}: {cases} cases, statuses {dict(sorted(statuses.items()))}, slowest {slowest[0]:.3f} s ({slowest[1]})")
    assert failures == [], "\n".join(failures[:20])
    assert slowest[0] < SLOWEST_ALLOWED, slowest
    assert cases >= EXAMPLES  # it ran

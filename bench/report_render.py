"""Median render time of a full assessment report (all 18 criteria answered, 18 plan items).

    python bench/report_render.py [--runs 15]

Prints the median, min and max in milliseconds per language, and the size of the PDF.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rubric_app import create_app, schema  # noqa: E402
from rubric_app.domain.scoring import CriterionAnswer  # noqa: E402
from rubric_app.extensions import db  # noqa: E402
from rubric_app.reporting.assessment_pdf import build_assessment_pdf  # noqa: E402
from rubric_app.services import accounts, reports  # noqa: E402
from rubric_app.services import assessments as svc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema.upgrade(f"sqlite:///{tmp}/bench.db")
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REPORTS_DIR": f"{tmp}/reports"})
        with app.app_context():
            s = db.new_session()
            registry = app.extensions["instruments"]
            inst = accounts.create_institution(s, name="Instituto de referencia", country="CO", city="Bogotá", type="national_service")
            user = accounts.create_user(s, email="bench@example.org", password="bench-password", role="member", institution=inst)
            s.commit()
            a = svc.start_assessment(s, registry, user, instrument_id="ifp-migrant-inclusion")
            rubric = svc.rubric_for(registry, a)
            answers = [CriterionAnswer(c.id, 1 + i % 3, False, "", 5, "Evidencia: actas, registros y protocolos firmados " * 3)
                       for i, c in enumerate(rubric.criteria)]
            svc.save_answers(s, registry, user, a, answers)
            svc.submit(s, registry, user, a)
            print(f"report: {len(svc.plan(registry, a))} plan items, {len(rubric.criteria)} criteria; {args.runs} runs per language")
            for lang in ("es", "en", "pt"):
                data = reports.report_input(registry, a, lang)
                times = []
                size = 0
                for _ in range(args.runs):
                    buf = io.BytesIO()
                    start = time.perf_counter()
                    build_assessment_pdf(data, lang, buf)
                    times.append((time.perf_counter() - start) * 1000)
                    size = buf.tell()
                print(f"{lang}: median {statistics.median(times):7.1f} ms   min {min(times):7.1f}   max {max(times):7.1f}   {size / 1024:.0f} KiB")
            start = time.perf_counter()
            reports.assessment_report(registry, a, "es", app.config["REPORTS_DIR"])
            first = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            reports.assessment_report(registry, a, "es", app.config["REPORTS_DIR"])
            cached = (time.perf_counter() - start) * 1000
            print(f"cached lookup (content unchanged): {cached:.1f} ms vs first render {first:.1f} ms (ratio {first / cached:.0f}x)")
            s.close()
            db.engine.dispose()


if __name__ == "__main__":
    main()

"""Time to write every document of a selection round over 209 synthetic providers.

    python bench/round_documents.py [--providers 209] [--quota 12]

Prints the number of letters, the time for the report, the letters and the zip (cold, nothing
cached under reports/), and the time of a second call (everything cached). Target: <= 10 s.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rubric_app import create_app, schema  # noqa: E402
from rubric_app.extensions import db  # noqa: E402
from rubric_app.services import accounts  # noqa: E402
from rubric_app.services.documents import round_documents_zip, selected_rows  # noqa: E402
from rubric_app.services.providers import provider_instrument, seed_synthetic_providers  # noqa: E402
from rubric_app.services.selection import create_round  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=209)
    parser.add_argument("--quota", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema.upgrade(f"sqlite:///{tmp}/b.db")
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{tmp}/b.db", "REPORTS_DIR": f"{tmp}/reports"})
        with app.app_context():
            s = db.new_session()
            registry = app.extensions["instruments"]
            staff = accounts.create_user(s, email="staff@bench.example", password="bench-password", role="staff")
            s.commit()
            instrument = provider_instrument(registry)
            seed_synthetic_providers(s, instrument, args.providers, 2026)
            rnd = create_round(s, registry, staff, "Bench", {"knockouts": [f.id for f in instrument.eligibility], "rule": "quota",
                                                             "default_quota": args.quota, "draws": 1000, "seed": 1})
            letters = len(selected_rows(rnd))
            for lang in ("es",):
                start = time.perf_counter()
                path = round_documents_zip(registry, rnd, lang, app.config["REPORTS_DIR"])
                cold = time.perf_counter() - start
                start = time.perf_counter()
                round_documents_zip(registry, rnd, lang, app.config["REPORTS_DIR"])
                warm = time.perf_counter() - start
                print(f"{args.providers} providers, {letters} letters + report ({lang}): cold {cold:.2f} s, cached {warm:.3f} s, "
                      f"zip {path.stat().st_size / 1024:.0f} KiB; target 10 s (ratio {cold / 10:.2f})")
            s.close()
            db.engine.dispose()


if __name__ == "__main__":
    main()

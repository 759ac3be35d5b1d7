"""Flask commands for instrument 2: `demo providers` (synthetic registry) and `providers letters` (round documents zip)."""
from __future__ import annotations

import re
import zipfile
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import Provider, SelectionRound
from rubric_app.services import providers as prov
from rubric_app.services import selection as sel

PROVIDER_INSTRUMENT = "sde-provider-assessment"



def registry_rows(app) -> dict:
    with app.app_context():
        s = db.new_session()
        try:
            return {p.code: {"name": p.name, "country": p.country, "city": p.city, "type": p.type, "facts": p.facts,
                             "item_scores": p.item_scores, "synthetic": p.synthetic} for p in s.scalars(select(Provider))}
        finally:
            s.close()


def test_demo_providers_is_deterministic_and_labelled_synthetic(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "providers", "--count", "30", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "30 created, 0 refreshed (seed 5)" in result.output and "fictitious" in result.output
    first = registry_rows(app)
    assert len(first) == 30
    assert all(code.startswith("SYN-") for code in first)
    assert all(row["synthetic"] is True and "(sintético)" in row["name"] for row in first.values())
    countries = Counter(row["country"] for row in first.values())
    assert set(countries) == {"AR", "CO", "PE", "DO"} and sum(countries.values()) == 30
    assert all(code.startswith(f"SYN-{row['country']}-") for code, row in first.items())
    inst = app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)
    items = {item.id for item in inst.items}
    for row in first.values():
        assert set(row["item_scores"]) == items
        assert all(v is None or v in (0, 1, 2, 3, 4) for v in row["item_scores"].values())
        assert set(row["facts"]) == {f.id for f in inst.eligibility}

    again = runner.invoke(args=["demo", "providers", "--count", "30", "--seed", "5"])
    assert again.exit_code == 0 and "0 created, 30 refreshed (seed 5)" in again.output
    assert registry_rows(app) == first

    # the generator itself: same seed, same providers; another seed, other data
    with app.app_context():
        assert prov.synthetic_providers(inst, 30, 5) == prov.synthetic_providers(inst, 30, 5)
        assert prov.synthetic_providers(inst, 30, 5) != prov.synthetic_providers(inst, 30, 6)


def test_demo_providers_leaves_real_providers_alone(app, factory):
    staff = factory.user("staff")
    inst = app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)
    with app.app_context():
        s = db.new_session()
        prov.save_provider(s, s.merge(staff), inst, {"code": "SYN-AR-001", "name": "Real, con código raro", "country": "AR",
                                                     "type": "ngo", "facts": {}, "item_scores": {}})
        s.close()
    result = app.test_cli_runner().invoke(args=["demo", "providers", "--count", "10", "--seed", "5"])
    assert result.exit_code == 0, result.output
    rows = registry_rows(app)
    assert rows["SYN-AR-001"]["name"] == "Real, con código raro" and rows["SYN-AR-001"]["synthetic"] is False
    assert len(rows) == 10 and sum(1 for r in rows.values() if r["synthetic"]) == 9
    assert app.test_cli_runner().invoke(args=["demo", "providers", "--count", "0"]).exit_code != 0


def test_providers_letters_writes_the_zip(app, factory):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "providers", "--count", "12", "--seed", "3"]).exit_code == 0
    staff = factory.user("staff")
    with app.app_context():
        s = db.new_session()
        rnd = sel.create_round(s, app.extensions["instruments"], s.merge(staff), "Ronda CLI",
                               {"knockouts": [], "rule": "quota", "default_quota": 1, "draws": 0})
        rid = rnd.id
        selected = sorted(r["code"] for r in rnd.results if r["selected_by_rule"])
        s.close()
    assert len(selected) == 4  # one per country

    refused = runner.invoke(args=["providers", "letters", str(rid), "--lang", "en"])
    assert refused.exit_code != 0 and "issued only for frozen rounds" in refused.output  # an open round can still change
    with app.app_context():
        s = db.new_session()
        sel.freeze(s, s.merge(staff), s.get(SelectionRound, rid))
        s.close()
    result = runner.invoke(args=["providers", "letters", str(rid), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert f"Round {rid}: report (en) and 4 letters, each in its provider's language" in result.output  # the progress bar's label
    match = re.search(r"Written: (\S+\.zip)", result.output)
    assert match, result.output
    path = Path(match.group(1))
    assert path.exists() and path.parent == Path(app.config["REPORTS_DIR"])
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        assert all(zf.read(n).startswith(b"%PDF") for n in names)
    # the report in the language asked for; each letter in its provider's country's language
    language = {"BR": "pt", "PT": "pt"}
    assert names == sorted(["report-en.pdf"] + [f"letters/{c.split('-')[1]}/{c}-{language.get(c.split('-')[1], 'es')}.pdf" for c in selected])

    second = runner.invoke(args=["providers", "letters", str(rid), "--lang", "en"])
    assert second.exit_code == 0 and f"Written: {path}" in second.output  # cached


def test_providers_letters_refuses_an_unknown_round_or_language(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["providers", "letters", "999"])
    assert result.exit_code != 0 and "No selection round 999" in result.output
    assert runner.invoke(args=["providers", "letters", "1", "--lang", "fr"]).exit_code != 0
    assert runner.invoke(args=["providers", "letters", "uno"]).exit_code != 0
    reports = Path(app.config["REPORTS_DIR"])
    assert not reports.exists() or not list(reports.glob("*.zip"))

"""Cross-country comparison (page, exports, API), agreement, privacy, and the results-page benchmark.

Every expected figure below is computed by hand in the comments: dimension scores are the stored
2-decimal scores, quartiles use the inclusive method (position h = (n - 1) * p), everything is
rounded half-up to 2 decimals.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import update

from rubric_app.extensions import db
from rubric_app.models import Answer, Assessment
from tests.conftest import login

from .helpers import INSTRUMENT, bearer, text, tr

API = "/api/v1/comparison"
DIMS = ("policy", "access", "relevance", "recognition", "people", "articulation")
EXPORTS = ("csv", "xlsx", "json")


# ----------------------------------------------------------------------------- helpers


def client_for(app, user):
    c = app.test_client()
    login(c, user)
    return c


def levels(rubric, base: int, **by_dimension) -> dict:
    """Every criterion at ``base``; ``by_dimension`` gives a dimension's three levels."""
    result = {}
    for dim in rubric.dimensions:
        chosen = by_dimension.get(dim.id, (base,) * len(dim.criteria))
        for crit, level in zip(dim.criteria, chosen, strict=False):
            result[crit.id] = level
    return result


def D(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def cell(data: dict, group: str, key: str) -> dict:
    return data["groups"][group][key]


def stats(data: dict, group: str, key: str) -> tuple:
    c = cell(data, group, key)
    return (c["n"], D(c["median"]), D(c["q1"]), D(c["q3"]), D(c["mean"]) if c["mean"] is not None else None)


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def xlsx_sheets(data: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


def xlsx_strings(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return " ".join(z.read(name).decode("utf-8", "replace") for name in z.namelist() if name.endswith(".xml"))


def get_body(c, url: str) -> bytes:
    with c.get(url) as response:
        assert response.status_code == 200, (url, response.status_code)
        return response.data


def validate_lowering(app, reviewer, assessment_id: int, by: int = 1) -> None:
    """A reviewer validates the assessment with every level lowered by ``by`` (with comments)."""
    from rubric_app.services import review as rsvc

    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, assessment_id)
        user = s.merge(reviewer)
        entries = [rsvc.ReviewEntry(r.criterion_id, r.level - by if r.level is not None else None, "Evidence supports one level less")
                   for r in a.answers]
        rsvc.save_review(s, app.extensions["instruments"], user, a, entries)
        rsvc.validate(s, app.extensions["instruments"], user, a)
        s.close()


def set_submitted_at(app, assessment_id: int, when: datetime) -> None:
    with app.app_context():
        s = db.new_session()
        s.execute(update(Assessment).where(Assessment.id == assessment_id).values(submitted_at=when))
        s.commit()
        s.close()


# ----------------------------------------------------------------------------- the nine institutions

NAMES = {
    "AR1": "Escuela Zorzal AR-1", "AR2": "Centro Hornero AR-2", "AR3": "Instituto Tero AR-3", "AR4": "Colegio Ñandú AR-4",
    "CO1": "Centro Cóndor CO-1", "CO2": "Instituto Colibrí CO-2", "CO3": "Escuela Tucán CO-3",
    "PE1": "Cetpro Vicuña PE-1", "PE2": "Instituto Alpaca PE-2",
}


@pytest.fixture
def nine(app, factory, rubric):
    """AR 4 institutions, CO 3, PE 2, each with one submitted self-assessment.

    dimension scores (every dimension but access is the base level):
      AR1 base 1                      -> all 1.00, index 0.0       national_service, public
      AR2 base 2                      -> all 2.00, index 25.0      training_centre, public
      AR3 base 3                      -> all 3.00, index 50.0      training_centre, private
      AR4 base 4, access 5,5,4 = 4.67 -> index (20 + 4.67)/6 = 4.1117 -> 77.79 -> 77.8   technical_institute, private
      CO1 base 2                      -> index 25.0                training_centre, public
      CO2 base 2, access 2,2,3 = 2.33 -> index 12.33/6 = 2.055 -> 26.375 -> 26.4          training_centre, private
      CO3 base 3                      -> index 50.0                training_centre, public
      PE1 base 4 -> 75.0; PE2 base 5 -> 100.0                      university, public
    """
    plan = {
        "AR1": ("AR", "national_service", "public", levels(rubric, 1)),
        "AR2": ("AR", "training_centre", "public", levels(rubric, 2)),
        "AR3": ("AR", "training_centre", "private", levels(rubric, 3)),
        "AR4": ("AR", "technical_institute", "private", levels(rubric, 4, access=(5, 5, 4))),
        "CO1": ("CO", "training_centre", "public", levels(rubric, 2)),
        "CO2": ("CO", "training_centre", "private", levels(rubric, 2, access=(2, 2, 3))),
        "CO3": ("CO", "training_centre", "public", levels(rubric, 3)),
        "PE1": ("PE", "university", "public", levels(rubric, 4)),
        "PE2": ("PE", "university", "public", levels(rubric, 5)),
    }
    out = {}
    for key, (country, kind, sector, answers) in plan.items():
        inst = factory.institution(name=NAMES[key], country=country, type=kind, sector=sector)
        member = factory.user("member", institution=inst)
        out[key] = {"member": member, "id": factory.assessment(member, levels=answers, submit=True), "institution": inst}
    return out


@pytest.fixture
def reviewer(factory):
    return factory.user("reviewer")


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def rc(app, reviewer):
    return client_for(app, reviewer)


@pytest.fixture
def sc(app, staff):
    return client_for(app, staff)


def api(c, query: str = "countries=AR,CO,PE"):
    response = c.get(f"{API}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


# ----------------------------------------------------------------------------- aggregates


def test_api_aggregates_match_the_hand_computation(rc, nine):
    data = api(rc)
    assert data["instrument"] == {"id": INSTRUMENT, "version": "1.0"}
    assert data["min_cell"] == 3 and data["institutions"] == 9
    # AR policy 1, 2, 3, 4: q1 h=0.75 -> 1.75, median 2.5, q3 h=2.25 -> 3.25, mean 2.5
    assert stats(data, "AR", "policy") == (4, D("2.50"), D("1.75"), D("3.25"), D("2.50"))
    # AR access 1, 2, 3, 4.67: q3 = 3 + 0.25 * 1.67 = 3.4175 -> 3.42; mean 10.67 / 4 = 2.6675 -> 2.67
    assert stats(data, "AR", "access") == (4, D("2.50"), D("1.75"), D("3.42"), D("2.67"))
    # AR index 0, 25, 50, 77.8: q1 18.75, median 37.5, q3 50 + 0.25 * 27.8 = 56.95, mean 152.8 / 4 = 38.2
    assert stats(data, "AR", "index") == (4, D("37.50"), D("18.75"), D("56.95"), D("38.20"))
    # CO policy 2, 2, 3: q3 h=1.5 -> 2.5; mean 7/3 -> 2.33
    assert stats(data, "CO", "policy") == (3, D("2.00"), D("2.00"), D("2.50"), D("2.33"))
    # CO access 2, 2.33, 3: q1 = 2.165 -> 2.17 and q3 = 2.665 -> 2.67 (exact halves, rounded up); mean 7.33/3 -> 2.44
    assert stats(data, "CO", "access") == (3, D("2.33"), D("2.17"), D("2.67"), D("2.44"))
    # CO index 25, 26.4, 50: q1 25.7, q3 26.4 + 0.5 * 23.6 = 38.2, mean 101.4 / 3 = 33.8
    assert stats(data, "CO", "index") == (3, D("26.40"), D("25.70"), D("38.20"), D("33.80"))
    # region: policy 1,2,2,2,3,3,4,4,5 -> median 3, q1 2, q3 4; the mean (26/9 = 2.89) is withheld because
    # the suppressed PE cell holds 2 institutions (complementary suppression)
    assert stats(data, "ALL", "policy") == (9, D("3.00"), D("2.00"), D("4.00"), None)
    # region access 1,2,2,2.33,3,3,4,4.67,5 (mean 27/9 = 3, withheld as above)
    assert stats(data, "ALL", "access") == (9, D("3.00"), D("2.00"), D("4.00"), None)
    # region index 0,25,25,26.4,50,50,75,77.8,100 (mean 47.69, withheld as above)
    assert stats(data, "ALL", "index") == (9, D("50.00"), D("25.00"), D("75.00"), None)
    for dim in ("relevance", "recognition", "people", "articulation"):
        assert stats(data, "AR", dim) == stats(data, "AR", "policy")
        assert stats(data, "ALL", dim) == stats(data, "ALL", "policy")
    assert set(data["groups"]) == {"AR", "CO", "PE", "ALL"}


def test_a_country_with_fewer_than_three_institutions_is_suppressed(rc, nine):
    data = api(rc)
    for key in (*DIMS, "index"):
        pe = cell(data, "PE", key)
        assert pe["n"] == 2 and pe["suppressed"] is True
        assert not {"median", "q1", "q3", "mean"} & set(pe), pe
        assert cell(data, "ALL", key)["n"] == 9 and cell(data, "ALL", key)["suppressed"] is False


def test_minimum_and_maximum_are_never_published(app, rc, sc, nine):
    for c in (rc, sc):
        data = api(c)
        for group in data["groups"].values():
            for summary in group.values():
                assert set(summary) <= {"n", "suppressed", "median", "q1", "q3", "mean"}
        body = json.dumps(data)
        assert "min" not in body.replace("min_cell", "") and "max" not in body
    staff_json = get_body(sc, "/compare/export.json?countries=AR,CO,PE").decode()
    staff_csv = get_body(sc, "/compare/export.csv?countries=AR,CO,PE").decode("utf-8-sig")
    staff_xlsx = xlsx_sheets(get_body(sc, "/compare/export.xlsx?countries=AR,CO,PE"))
    header = next(csv.reader(io.StringIO(staff_csv)))
    assert header == ["group", "measure", "n", "suppressed", "median", "q1", "q3", "mean"]
    assert staff_xlsx["aggregates"][0] == ("group", "measure", "n", "suppressed", "median", "q1", "q3", "mean")
    # AR4's access 4.67 is the maximum of AR and of the region: no aggregate equals it
    for body in (staff_json, staff_csv):
        assert "4.67" not in body and "minimum" not in body and "maximum" not in body
    assert all(4.67 not in row for row in staff_xlsx["aggregates"])


def test_page_shows_suppression_text_and_an_inline_heatmap(rc, nine):
    response = rc.get("/compare?countries=AR,CO,PE&lang=en")
    assert response.status_code == 200
    page = text(response)
    heading = page.index("Median by country and dimension")
    box = page[heading:page.index("</div>", heading)]
    assert "<svg" in box and "Peru" in box and "<3" in box and "2.50" in box
    rows = [r for r in page.split("<tr>") if "<td>Peru</td>" in r]
    assert len(rows) == 7 and all("fewer than 3" in r for r in rows)
    assert "9 institutions (latest assessment of each)." in page
    argentina = [r for r in page.split("<tr>") if r.startswith("<td>Argentina</td>")]
    assert any("3.42" in r and "2.67" in r for r in argentina)  # access: q3 3.42, mean 2.67


def test_page_in_spanish_uses_decimal_commas(rc, nine):
    page = text(rc.get("/compare?countries=AR,CO,PE&lang=es"))
    argentina = [r for r in page.split("<tr>") if r.startswith("<td>Argentina</td>")]
    assert any("3,42" in r and "2,67" in r for r in argentina)
    assert "Perú" in page


def test_page_in_spanish_shows_the_suppression_text_in_spanish(rc, nine):
    spanish = tr("es", "fewer than 3")
    assert spanish != "fewer than 3", "no Spanish translation in the catalog"
    page = text(rc.get("/compare?countries=AR,CO,PE&lang=es"))
    rows = [r for r in page.split("<tr>") if "<td>Perú</td>" in r]
    assert rows and all(spanish in r for r in rows)


# ----------------------------------------------------------------------------- basis, latest, filters


def test_validated_basis_uses_only_validated_assessments_and_their_levels(app, rc, reviewer, nine):
    for key in ("CO1", "CO2", "CO3", "AR2", "AR3"):
        validate_lowering(app, reviewer, nine[key]["id"])
    data = api(rc, "countries=AR,CO,PE&basis=validated")
    assert data["institutions"] == 5
    assert data["filters"]["basis"] == "validated"
    # CO policy validated 1, 1, 2: median 1, q1 1, q3 1.5, mean 4/3 = 1.33
    assert stats(data, "CO", "policy") == (3, D("1.00"), D("1.00"), D("1.50"), D("1.33"))
    # CO access validated 1, 1.33 (1,1,2), 2: q1 1.165 -> 1.17, q3 1.665 -> 1.67, mean 4.33/3 -> 1.44
    assert stats(data, "CO", "access") == (3, D("1.33"), D("1.17"), D("1.67"), D("1.44"))
    assert cell(data, "AR", "policy") == {"n": 2, "suppressed": True}
    assert "PE" not in data["groups"]
    # region policy 1, 1, 2 (CO) + 1, 2 (AR2, AR3 lowered): median 1; the mean (7/5) is withheld since the
    # suppressed AR cell holds 2 institutions
    assert stats(data, "ALL", "policy") == (5, D("1.00"), D("1.00"), D("2.00"), None)
    # the self basis still counts all nine, with their self-assessed scores
    self_basis = api(rc)
    assert self_basis["institutions"] == 9
    assert stats(self_basis, "CO", "policy") == (3, D("2.00"), D("2.00"), D("2.50"), D("2.33"))


def test_the_latest_assessment_of_each_institution_is_used(app, factory, rc, rubric):
    members = [factory.user("member", institution=factory.institution(name=f"Ronda AR {i}", country="AR")) for i in range(3)]
    for m in members:
        factory.assessment(m, levels=2, submit=True)
    factory.assessment(members[0], levels=5, submit=True)  # round 2 replaces round 1
    data = api(rc, "countries=AR")
    # policy 5, 2, 2: median 2, mean 3
    assert stats(data, "AR", "policy") == (3, D("2.00"), D("2.00"), D("3.50"), D("3.00"))
    assert data["institutions"] == 3
    # a draft third round does not count
    factory.assessment(members[0], levels=1, submit=False)
    assert stats(api(rc, "countries=AR"), "AR", "policy")[1:] == (D("2.00"), D("2.00"), D("3.50"), D("3.00"))
    # filtering on the round narrows to that round's assessments
    assert stats(api(rc, "countries=AR&round=1"), "AR", "policy") == (3, D("2.00"), D("2.00"), D("2.00"), D("2.00"))
    assert cell(api(rc, "countries=AR&round=2"), "AR", "policy") == {"n": 1, "suppressed": True}


def test_filters_by_type_sector_and_dates_narrow_n(app, rc, nine):
    def n(query):
        data = api(rc, query)
        return {g: cells["policy"]["n"] for g, cells in data["groups"].items()}

    assert n("countries=AR,CO,PE&type=training_centre") == {"AR": 2, "CO": 3, "ALL": 5}
    assert n("countries=AR,CO,PE&sector=private") == {"AR": 2, "CO": 1, "ALL": 3}
    assert n("countries=AR,CO,PE&type=training_centre&sector=public") == {"AR": 1, "CO": 2, "ALL": 3}
    assert n("countries=CO,PE") == {"CO": 3, "PE": 2, "ALL": 5}
    assert n("country=PE") == {"PE": 2, "ALL": 2}
    set_submitted_at(app, nine["AR1"]["id"], datetime(2020, 1, 10, 15, 0, tzinfo=UTC))
    set_submitted_at(app, nine["CO1"]["id"], datetime(2020, 1, 31, 23, 0, tzinfo=UTC))
    assert n("countries=AR,CO,PE&date_to=2020-01-31") == {"AR": 1, "CO": 1, "ALL": 2}
    assert n("countries=AR,CO,PE&date_from=2020-01-11&date_to=2020-01-31") == {"CO": 1, "ALL": 1}
    assert n("countries=AR,CO,PE&date_from=2020-02-01") == {"AR": 3, "CO": 2, "PE": 2, "ALL": 7}
    # with the filters the aggregates change accordingly: private AR = AR3, AR4 -> suppressed; region 3, 4, 2 -> median 3
    data = api(rc, "countries=AR,CO,PE&sector=private")
    assert stats(data, "ALL", "policy") == (3, D("3.00"), D("2.50"), D("3.50"), D("3.00"))


def test_invalid_filters_are_422(rc, nine):
    for query in ("countries=ARG", "basis=both", "round=two", "date_from=31/01/2020"):
        response = rc.get(f"{API}?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["error"]["details"]


@pytest.fixture
def second_version(app, factory, nine):
    """An assessment on a version 2.0 of the rubric, inserted directly (status submitted, scores stored)."""
    inst = factory.institution(name="Instituto Versión Dos", country="CO")
    with app.app_context():
        s = db.new_session()
        s.add(Assessment(institution_id=inst.id, instrument_id=INSTRUMENT, instrument_version="2.0", instrument_hash="f" * 64,
                         language="es", status="submitted", round_number=1, submitted_at=datetime.now(UTC),
                         self_scores={**{d: "3.00" for d in DIMS}, "index": "50.0"}))
        s.commit()
        s.close()
    return inst


def test_mixing_versions_is_refused_with_a_message_naming_both(rc, second_version):
    response = rc.get(f"{API}?countries=AR,CO,PE")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert f"{INSTRUMENT} 1.0" in error["message"] and f"{INSTRUMENT} 2.0" in error["message"]
    assert error["details"][0]["versions"] == [f"{INSTRUMENT} 1.0", f"{INSTRUMENT} 2.0"]
    # the page says the same when the instrument is chosen without a version
    page = rc.get(f"/compare?instrument={INSTRUMENT}&countries=AR,CO,PE&lang=en")
    assert page.status_code == 422
    body = text(page)
    assert "cannot be compared" in body and f"{INSTRUMENT} 1.0" in body and f"{INSTRUMENT} 2.0" in body


def test_choosing_one_version_avoids_the_mix(rc, second_version):
    data = api(rc, "countries=AR,CO,PE&version=1.0")
    assert data["institutions"] == 9 and cell(data, "CO", "policy")["n"] == 3
    # the page's form always sends one version; by default the latest
    response = rc.get("/compare?countries=AR,CO,PE&lang=en")
    assert response.status_code == 200 and "9 institutions" in text(response)
    response = rc.get(f"/compare?instrument={INSTRUMENT}&version=1.0&countries=AR,CO,PE&lang=en")
    assert response.status_code == 200 and "9 institutions" in text(response)


def test_exports_refuse_mixed_versions_with_422(app, rc, second_version):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for url in ("/compare/export.csv", "/compare/export.json", "/compare/export.xlsx", "/compare/report.pdf"):
        with rc.get(f"{url}?countries=AR,CO,PE") as response:
            assert response.status_code == 422, url


# ----------------------------------------------------------------------------- agreement


def test_agreement_when_the_reviewer_lowers_every_level_by_one(app, rc, reviewer, nine):
    for key in ("CO1", "CO2", "CO3", "AR2", "AR3"):
        validate_lowering(app, reviewer, nine[key]["id"])
    data = api(rc)
    agreement = {(a["country"], a["dimension"]): a for a in data["agreement"]}
    for dim in DIMS:
        co = agreement[("CO", dim)]
        assert (co["institutions"], co["pairs"], co["suppressed"]) == (3, 9, False)
        assert D(co["mean_signed_difference"]) == D("1.00")
        assert D(co["kappa"]) < 1
        ar = agreement[("AR", dim)]
        assert (ar["institutions"], ar["suppressed"], ar["kappa"], ar["mean_signed_difference"]) == (2, True, None, None)
        region = agreement[("ALL", dim)]
        assert (region["institutions"], region["pairs"], region["suppressed"]) == (5, 15, False)
        assert D(region["mean_signed_difference"]) == D("1.00")
    # kappa by hand, CO policy: pairs (2,1) x6 and (3,2) x3; observed sum w = 9;
    # expected = [1*6*6 + 4*3*6 + 1*3*3] / 9 = 117 / 9 = 13 -> kappa = 1 - 9/13 = 0.3077 -> 0.308
    assert D(agreement[("CO", "policy")]["kappa"]) == D("0.308")
    # CO access: (2,1) x5 and (3,2) x4; expected = (25 + 80 + 16) / 9 = 121/9 -> 1 - 81/121 = 0.3306 -> 0.331
    assert D(agreement[("CO", "access")]["kappa"]) == D("0.331")
    assert not any(a["country"] == "PE" for a in data["agreement"])


def test_agreement_table_on_the_page(app, rc, reviewer, nine):
    for key in ("CO1", "CO2", "CO3", "AR2", "AR3"):
        validate_lowering(app, reviewer, nine[key]["id"])
    page = text(rc.get("/compare?countries=AR,CO,PE&lang=en"))
    start = page.index("Agreement between self-assessed and validated levels")
    table = page[start:page.index("</table>", start)]
    colombia = [r for r in table.split("<tr>") if r.startswith("<td>Colombia</td>")]
    assert len(colombia) == 6 and all("1.00" in r for r in colombia)
    assert any("0.308" in r for r in colombia)
    argentina = [r for r in table.split("<tr>") if r.startswith("<td>Argentina</td>")]
    assert len(argentina) == 6 and all("fewer than 3" in r for r in argentina)


# ----------------------------------------------------------------------------- exports and roles


def test_exports_carry_the_same_aggregates_as_the_api(rc, nine):
    query = "countries=AR,CO,PE"
    data = api(rc, query)
    exported = json.loads(get_body(rc, f"/compare/export.json?{query}"))
    assert exported["groups"] == data["groups"] and exported["agreement"] == data["agreement"]

    raw = get_body(rc, f"/compare/export.csv?{query}").decode("utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw.lstrip("\ufeff"))))
    aggregates = {}
    for row in rows[1:]:
        if not row:
            break
        aggregates[(row[0], row[1])] = row
    assert len(aggregates) == 4 * 7
    for (group, key), row in aggregates.items():
        c = cell(data, group, key)
        assert int(row[2]) == c["n"] and row[3] == str(c["suppressed"])
        assert tuple(D(v) if v else None for v in row[4:8]) == tuple(D(c.get(k)) for k in ("median", "q1", "q3", "mean"))
    assert aggregates[("CO", "access")][4:8] == ["2.33", "2.17", "2.67", "2.44"]
    assert aggregates[("PE", "people")][4:8] == ["", "", "", ""]

    sheets = xlsx_sheets(get_body(rc, f"/compare/export.xlsx?{query}"))
    xrows = {(r[0], r[1]): r for r in sheets["aggregates"][1:]}
    assert set(xrows) == set(aggregates)
    for (group, key), row in xrows.items():
        c = cell(data, group, key)
        assert row[2] == c["n"] and row[3] == c["suppressed"]
        assert tuple(row[4:8]) == tuple(float(c[k]) if c.get(k) is not None else None for k in ("median", "q1", "q3", "mean"))


def test_reviewers_get_institution_scores_in_the_exports_and_page(rc, nine):
    query = "countries=AR,CO,PE"
    exported = json.loads(get_body(rc, f"/compare/export.json?{query}"))
    rows = {r["institution"]: r for r in exported["institution_scores"]}
    assert set(rows) == set(NAMES.values())
    ar4 = rows[NAMES["AR4"]]
    assert (ar4["country"], D(ar4["access"]), D(ar4["policy"]), D(ar4["index"])) == ("AR", D("4.67"), D("4.00"), D("77.8"))
    csv_text = get_body(rc, f"/compare/export.csv?{query}").decode("utf-8-sig")
    assert all(name in csv_text for name in NAMES.values())
    line = next(r for r in csv.reader(io.StringIO(csv_text)) if r and r[0] == NAMES["CO2"])
    assert line[1] == "CO" and D(line[5]) == D("2.33") and D(line[-1]) == D("26.4")
    sheets = xlsx_sheets(get_body(rc, f"/compare/export.xlsx?{query}"))
    assert {r[0] for r in sheets["institutions"][1:]} == set(NAMES.values())
    page = text(rc.get(f"/compare?{query}"))
    assert all(name in page for name in NAMES.values())


def test_staff_never_see_institution_names_or_scores(app, sc, staff, factory, nine):
    query = "countries=AR,CO,PE"
    bodies = {
        "page": text(sc.get(f"/compare?{query}")),
        "page-en": text(sc.get(f"/compare?{query}&lang=en")),
        "api": sc.get(f"{API}?{query}").get_data(as_text=True),
        "api-token": app.test_client().get(f"{API}?{query}", headers=bearer(factory.token(staff))).get_data(as_text=True),
        "csv": get_body(sc, f"/compare/export.csv?{query}").decode("utf-8-sig"),
        "json": get_body(sc, f"/compare/export.json?{query}").decode(),
        "xlsx": xlsx_strings(get_body(sc, f"/compare/export.xlsx?{query}")),
        "pdf": pdf_text(get_body(sc, f"/compare/report.pdf?{query}&lang=es")),
    }
    for where, body in bodies.items():
        assert "2.67" in body or "2,67" in body, where  # the aggregates are there (AR access mean)
        for name in NAMES.values():
            assert name not in body, (where, name)
        assert "institution_scores" not in body, where
    assert "institutions" not in xlsx_sheets(get_body(sc, f"/compare/export.xlsx?{query}"))


def test_members_get_403_on_every_comparison_page_export_pdf_and_api(app, factory, nine):
    member = nine["AR1"]["member"]
    c = client_for(app, member)
    urls = ["/compare", "/compare?countries=AR,CO,PE", "/compare/export.csv", "/compare/export.xlsx", "/compare/export.json",
            "/compare/report.pdf", "/compare/report.pdf?lang=en", API, f"{API}?countries=AR"]
    for url in urls:
        response = c.get(url)
        assert response.status_code == 403, url
        assert NAMES["AR2"] not in response.get_data(as_text=True)
    token_client = app.test_client()
    response = token_client.get(API, headers=bearer(factory.token(member)))
    assert response.status_code == 403 and response.get_json()["error"]["status"] == 403
    anonymous = app.test_client()
    assert anonymous.get(API).status_code == 401
    for url in urls[:6]:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


@pytest.mark.parametrize("role", ["reviewer", "staff", "admin"])
def test_reviewers_staff_and_admins_may_compare(app, factory, nine, role):
    c = client_for(app, factory.user(role))
    assert c.get("/compare").status_code == 200
    assert api(c)["institutions"] == 9
    for fmt in EXPORTS:
        assert get_body(c, f"/compare/export.{fmt}?countries=AR")
    assert get_body(c, "/compare/report.pdf?countries=AR").startswith(b"%PDF")


# ----------------------------------------------------------------------------- the results page benchmark


def bench_rows(page: str) -> str:
    start = page.index(tr("es", "Where the institution stands"))
    return page[start:page.index("</table>", start)]


def row_of(table: str, dimension_name: str) -> str:
    return next(r for r in table.split("<tr>") if r.startswith(f"<td>{dimension_name}</td>"))


@pytest.fixture
def small_region(app, factory, rubric):
    """AR: three institutions at 2, 3 and 4 everywhere; PE: one at 5."""
    out = {}
    for key, country, level in (("A", "AR", 2), ("B", "AR", 3), ("C", "AR", 4), ("P", "PE", 5)):
        member = factory.user("member", institution=factory.institution(name=f"Banco {key}", country=country))
        out[key] = {"member": member, "id": factory.assessment(member, levels=level, submit=True)}
    return out


def test_results_page_shows_country_and_region_medians(app, small_region, dims):
    a = small_region["A"]
    page = text(client_for(app, a["member"]).get(f"/assessments/{a['id']}/results"))
    table = bench_rows(page)
    policy = row_of(table, dims["policy"].name("es"))
    # own 2.00; AR median of 2, 3, 4 = 3.00; region 2, 3, 4, 5 -> 3.50
    assert ["2,00", "3,00", "3,50"] == [x.split("<")[0] for x in policy.split('class="num">')[1:]]
    assert "<svg" in page[page.index(tr("es", "Where the institution stands")):]


def test_results_page_says_fewer_than_three_for_a_small_country(app, small_region, dims):
    p = small_region["P"]
    page = text(client_for(app, p["member"]).get(f"/assessments/{p['id']}/results"))
    table = bench_rows(page)
    for dim in dims.values():
        row = row_of(table, dim.name("es"))
        cells = [x.split("</td>")[0] for x in row.split('class="num">')[1:]]
        assert cells[0] == "5,00" and tr("es", "fewer than 3") in cells[1] and "3,50" in cells[2]


def test_results_page_change_since_the_previous_round(app, small_region, rubric, dims):
    a = small_region["A"]
    # round 2: policy 3,3,4 -> 3.33 (+1.33); access 1,1,1 -> 1.00 (-1.00); others 2.00 (0.00)
    # index: (3.33 + 1 + 4 * 2) / 6 = 2.055 -> 26.375 -> 26.4; round 1 was 25.0 -> +1.4
    second = factory_second_round(app, a["member"], rubric, language="es")
    page = text(client_for(app, a["member"]).get(f"/assessments/{second}/results"))
    start = page.index(tr("es", "Change since round %(n)s") % {"n": 1})
    table = page[start:page.index("</table>", start)]

    def figures(row):
        return [x.split("</td>")[0] for x in row.split('class="num">')[1:]]

    assert figures(row_of(table, dims["policy"].name("es"))) == ["2,00", "3,33", "+1,33"]
    assert figures(row_of(table, dims["access"].name("es"))) == ["2,00", "1,00", "-1,00"]
    assert figures(row_of(table, dims["people"].name("es"))) == ["2,00", "2,00", "0,00"]
    index_row = next(r for r in table.split("<tr>") if r.startswith(f"<th>{tr('es', 'Overall inclusion index')}</th>"))
    assert [x.split("</td>")[0] for x in index_row.split('class="num">')[1:]] == ["25,0", "26,4", "+1,4"]
    # the first round has no change table
    first = text(client_for(app, a["member"]).get(f"/assessments/{a['id']}/results"))
    assert (tr("es", "Change since round %(n)s") % {"n": 1}) not in first


def factory_second_round(app, member, rubric, language):
    from tests.conftest import Factory

    return Factory(app).assessment(member, levels=levels(rubric, 2, policy=(3, 3, 4), access=(1, 1, 1)), submit=True,
                                   language=language)


def test_report_pdf_shows_both_rounds_in_the_assessment_language(app, small_region, rubric):
    a = small_region["A"]
    second = factory_second_round(app, a["member"], rubric, language="en")
    body = pdf_text(get_body(client_for(app, a["member"]), f"/assessments/{second}/report.pdf"))
    assert "Change since round 1" in body and "Round 1" in body and "Round 2" in body
    change = body[body.index("Change since round 1"):]
    assert "+1.33" in change and "-1.00" in change and "0.00" in change
    # benchmark in the PDF: AR policy now 3.33, 3, 4 -> median 3.33; region 3, 3.33, 4, 5 -> 3.67 (3.665 half-up)
    assert "Where the institution stands" in body and "3.67" in body


def test_report_pdf_shows_the_change_of_the_overall_index(app, small_region, rubric):
    a = small_region["A"]
    second = factory_second_round(app, a["member"], rubric, language="en")
    body = pdf_text(get_body(client_for(app, a["member"]), f"/assessments/{second}/report.pdf"))
    assert "+1.4" in body[body.index("Change since round 1"):]


def test_spanish_report_pdf_shows_the_rounds_in_spanish(app, small_region, rubric):
    a = small_region["A"]
    second = factory_second_round(app, a["member"], rubric, language="es")
    body = pdf_text(get_body(client_for(app, a["member"]), f"/assessments/{second}/report.pdf"))
    round1, round2 = (tr("es", "Round %(n)s") % {"n": n} for n in (1, 2))
    assert round1 != "Round 1", "no Spanish translation in the catalog"
    heading = tr("es", "Change since round %(n)s") % {"n": 1}
    change = body[body.index(heading):]
    assert round1 in change and round2 in change and "Round 1" not in body
    assert "+1,33" in change and "-1,00" in change and "2,00" in change


# ----------------------------------------------------------------------------- isolation between institutions


def test_an_institution_never_sees_another_institutions_levels_or_evidence(app, factory, rubric):
    from rubric_app.services import assessments as svc

    a_member = factory.user("member", institution=factory.institution(name="Instituto Alfa Visible", country="AR"))
    b_member = factory.user("member", institution=factory.institution(name="Instituto Beta Reservado", country="AR"))
    a_id = factory.assessment(a_member, levels=2, submit=True)
    b_id = factory.assessment(b_member, levels=levels(rubric, 5, policy=(5, 5, 4)), submit=False)
    secret = "EVID-B-7Q2-confidencial"
    with app.app_context():
        s = db.new_session()
        s.execute(update(Answer).where(Answer.assessment_id == b_id).values(evidence=secret))
        s.commit()
        svc.submit(s, app.extensions["instruments"], s.merge(b_member), s.get(Assessment, b_id))
        s.close()
    c = client_for(app, a_member)
    api_client = app.test_client()
    headers = bearer(factory.token(a_member))
    seen = {
        "results": text(c.get(f"/assessments/{a_id}/results")),
        "results-en": text(c.get(f"/assessments/{a_id}/results?lang=en")),
        "pdf": pdf_text(get_body(c, f"/assessments/{a_id}/report.pdf")),
        "api": api_client.get(f"/api/v1/assessments/{a_id}", headers=headers).get_data(as_text=True),
        "api-list": api_client.get("/api/v1/assessments", headers=headers).get_data(as_text=True),
        "index": text(c.get("/")),
    }
    assert "Instituto Alfa Visible" in seen["results"]
    for where, body in seen.items():
        assert secret not in body, where
        assert "Instituto Beta Reservado" not in body, where
        assert "4,67" not in body and "4.67" not in body, where  # B's policy score
        assert "5,00" not in body and "5.00" not in body, where  # B's other scores
    # two institutions only: the benchmark is suppressed, nothing of B leaks through a median
    assert tr("es", "fewer than 3") in bench_rows(seen["results"])
    # B's own records are "not found" for A, on every route
    for url in (f"/api/v1/assessments/{b_id}", f"/api/v1/assessments/{b_id}/report.pdf"):
        assert api_client.get(url, headers=headers).status_code == 404, url
    for url in (f"/assessments/{b_id}", f"/assessments/{b_id}/results", f"/assessments/{b_id}/review", f"/assessments/{b_id}/report.pdf",
                f"/assessments/{b_id}/d/policy"):
        response = c.get(url)
        assert response.status_code == 404, url
        assert secret not in response.get_data(as_text=True)
    for url in ("/compare/export.csv", "/compare/export.json", "/compare/export.xlsx", "/compare/report.pdf", "/compare",
                "/review/audit.csv", f"/review/{b_id}"):
        response = c.get(url)
        assert response.status_code == 403, url
        assert secret not in response.get_data(as_text=True)

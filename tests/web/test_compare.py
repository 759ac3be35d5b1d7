"""Cross-country comparison (page, exports, API), agreement, privacy, and the results-page benchmark.

Every expected figure below is computed by hand in the comments, under the disclosure rule of
docs/comparison.md ("Disclosure control"):

* dimension scores are the stored 2-decimal scores, the index the stored 1-decimal index;
* quartiles use the inclusive method: position h = (n - 1) * p over the sorted values (0-based),
  x[floor(h)] + frac(h) * (x[floor(h) + 1] - x[floor(h)]);
* every figure needs at least 5 institutions (a cell of fewer shows its n and "fewer than 5");
* each statistic is computed exactly, then rounded half-up ONCE to its grid: median, q1 and q3 to
  0.5 of a level (10 index points), the mean to 0.25 of a level (5 index points), kappa to 0.05,
  the mean signed difference to 0.25.  Written "exact -> exact / grid -> rounded units -> figure",
  e.g. 2.25 -> 2.25 / 0.5 = 4.5 -> 5 -> 2.50;
* the region ("ALL") covers every country with the instrument version (the other filters apply,
  the country filter does not); its mean is withheld when the suppressed countries hold 1 to 4
  institutions in that column (complementary suppression).
"""
from __future__ import annotations

import re

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
from rubric_app.services.comparison import INSTITUTION_LEVEL_NOTICE
from tests.conftest import login

from .helpers import INSTRUMENT, bearer, text, tr

API = "/api/v1/comparison"
DIMS = ("policy", "access", "relevance", "recognition", "people", "articulation")
EXPORTS = ("csv", "xlsx", "json")
MIN_CELL = 5
#: published grids (docs/comparison.md): medians/quartiles, means
QUANTILE_GRID = {"level": Decimal("0.5"), "index": Decimal(10)}
MEAN_GRID = {"level": Decimal("0.25"), "index": Decimal(5)}
LABEL = "Institution-level data"
CSV_MARKER = "INSTITUTION-LEVEL DATA"
XLSX_NOTICE_SHEET = "institution-level data"


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


def fewer(lang: str = "en") -> str:
    """The suppression text of a comparison cell, in ``lang``."""
    return tr(lang, "fewer than %(n)s") % {"n": MIN_CELL}


def fewer_others(lang: str = "es") -> str:
    """The suppression text of a member's benchmark cell, in ``lang``."""
    return tr(lang, "fewer than %(n)s others") % {"n": MIN_CELL}


def assert_published_on_the_grid(data: dict) -> None:
    """Every published cell: n >= 5, median/q1/q3 on the quantile grid, the mean (if given) on the mean grid,
    no minimum or maximum; every suppressed cell: n < 5 and nothing else."""
    for group, cells in data["groups"].items():
        for key, c in cells.items():
            scale = "index" if key == "index" else "level"
            if c["suppressed"]:
                assert c["n"] < MIN_CELL and set(c) == {"n", "suppressed"}, (group, key, c)
                continue
            assert c["n"] >= MIN_CELL, (group, key, c)
            assert set(c) == {"n", "suppressed", "median", "q1", "q3", "mean"}, (group, key, c)
            for q in ("median", "q1", "q3"):
                assert D(c[q]) % QUANTILE_GRID[scale] == 0, (group, key, q, c[q])
            if c["mean"] is not None:
                assert D(c["mean"]) % MEAN_GRID[scale] == 0, (group, key, c["mean"])
    for a in data["agreement"]:
        if a["suppressed"]:
            assert a["institutions"] < MIN_CELL and a["kappa"] is None and a["mean_signed_difference"] is None, a
        else:
            assert a["institutions"] >= MIN_CELL, a
            assert a["kappa"] is None or D(a["kappa"]) % Decimal("0.05") == 0, a
            assert D(a["mean_signed_difference"]) % MEAN_GRID["level"] == 0, a


def nums(row: str) -> list[str]:
    """The numeric cells of one HTML table row, as shown."""
    return [x.split("<")[0] for x in row.split('class="num">')[1:]]


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


# ----------------------------------------------------------------------------- the thirteen institutions

NAMES = {
    "AR1": "Escuela Zorzal AR-1", "AR2": "Centro Hornero AR-2", "AR3": "Instituto Tero AR-3", "AR4": "Colegio Ñandú AR-4",
    "AR5": "=Instituto Carancho AR-5", "AR6": "Universidad Yaguareté AR-6",
    "CO1": "Centro Cóndor CO-1", "CO2": "Instituto Colibrí CO-2", "CO3": "Escuela Tucán CO-3", "CO4": "Colegio Guacamaya CO-4",
    "CO5": "Politécnico Turpial CO-5",
    "PE1": "Cetpro Vicuña PE-1", "PE2": "Instituto Alpaca PE-2",
}
#: institutions validated (every level lowered by one) in the validated-basis and agreement tests
VALIDATED = ("CO1", "CO2", "CO3", "CO4", "CO5", "AR2", "AR3")


@pytest.fixture
def thirteen(app, factory, rubric):
    """AR 6 institutions (published), CO 5 (published, exactly the threshold), PE 2 (suppressed).

    Each has one submitted self-assessment; every dimension but access is the base level.  The index
    is (mean of the six 2-decimal scores - 1) * 25, rounded half-up to 1 decimal.
      AR1 base 1                        -> all 1.00, index 0.0                                    national_service, public
      AR2 base 2                        -> all 2.00, index 25.0                                   training_centre, public
      AR3 base 3                        -> all 3.00, index 50.0                                   training_centre, private
      AR4 base 4, access 5,5,4 = 4.67   -> index (20 + 4.67)/6 = 4.1117 -> 77.79 -> 77.8          technical_institute, private
      AR5 base 3, access 3,3,4 = 3.33   -> index (15 + 3.33)/6 = 3.055 -> 51.375 -> 51.4          training_centre, public
      AR6 base 4, access 5,5,5 = 5.00   -> index (20 + 5)/6 = 4.1667 -> 79.17 -> 79.2             university, private
      CO1 base 2                        -> index 25.0                                             training_centre, public
      CO2 base 2, access 2,2,3 = 2.33   -> index (10 + 2.33)/6 = 2.055 -> 26.375 -> 26.4          training_centre, private
      CO3 base 3                        -> index 50.0                                             training_centre, public
      CO4 base 3, access 3,4,4 = 3.67   -> index (15 + 3.67)/6 = 3.1117 -> 52.79 -> 52.8          training_centre, public
      CO5 base 4                        -> index 75.0                                             technical_institute, private
      PE1 base 4 -> 75.0; PE2 base 5 -> 100.0                                                     university, public
    AR5's name starts with "=" (a spreadsheet formula), so the exports' escaping is exercised.
    """
    plan = {
        "AR1": ("AR", "national_service", "public", levels(rubric, 1)),
        "AR2": ("AR", "training_centre", "public", levels(rubric, 2)),
        "AR3": ("AR", "training_centre", "private", levels(rubric, 3)),
        "AR4": ("AR", "technical_institute", "private", levels(rubric, 4, access=(5, 5, 4))),
        "AR5": ("AR", "training_centre", "public", levels(rubric, 3, access=(3, 3, 4))),
        "AR6": ("AR", "university", "private", levels(rubric, 4, access=(5, 5, 5))),
        "CO1": ("CO", "training_centre", "public", levels(rubric, 2)),
        "CO2": ("CO", "training_centre", "private", levels(rubric, 2, access=(2, 2, 3))),
        "CO3": ("CO", "training_centre", "public", levels(rubric, 3)),
        "CO4": ("CO", "training_centre", "public", levels(rubric, 3, access=(3, 4, 4))),
        "CO5": ("CO", "technical_institute", "private", levels(rubric, 4)),
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


def test_api_aggregates_match_the_hand_computation(rc, thirteen):
    data = api(rc)
    assert data["instrument"] == {"id": INSTRUMENT, "version": "1.1"}  # new assessments are on the latest version
    assert data["min_cell"] == 5 and data["institutions"] == 13 and data["region_institutions"] == 13
    assert data["disclosure"]["min_cell"] == 5
    assert data["disclosure"]["quantile_grid"] == {"level": "0.5", "index": "10"}
    assert data["disclosure"]["mean_grid"] == {"level": "0.25", "index": "5"} and data["disclosure"]["kappa_grid"] == "0.05"
    # AR policy 1, 2, 3, 3, 4, 4 (n = 6):
    #   median h=2.5 -> (3 + 3)/2 = 3          -> 3 / 0.5 = 6 -> 3.00
    #   q1 h=1.25 -> 2 + 0.25 * 1 = 2.25       -> 4.5 -> 5 (half-up) -> 2.50
    #   q3 h=3.75 -> 3 + 0.75 * 1 = 3.75       -> 7.5 -> 8 (half-up) -> 4.00
    #   mean 17/6 = 2.8333                     -> / 0.25 = 11.33 -> 11 -> 2.75
    assert stats(data, "AR", "policy") == (6, D("3.00"), D("2.50"), D("4.00"), D("2.75"))
    # AR access 1, 2, 3, 3.33, 4.67, 5 (n = 6):
    #   median (3 + 3.33)/2 = 3.165            -> 6.33 -> 6 -> 3.00
    #   q1 h=1.25 -> 2 + 0.25 * 1 = 2.25       -> 4.5 -> 5 -> 2.50
    #   q3 h=3.75 -> 3.33 + 0.75 * 1.34 = 4.335 -> 8.67 -> 9 -> 4.50
    #   mean 19.00/6 = 3.1667                  -> 12.67 -> 13 -> 3.25
    assert stats(data, "AR", "access") == (6, D("3.00"), D("2.50"), D("4.50"), D("3.25"))
    # AR index 0, 25, 50, 51.4, 77.8, 79.2 (n = 6):
    #   median (50 + 51.4)/2 = 50.7            -> / 10 = 5.07 -> 5 -> 50
    #   q1 h=1.25 -> 25 + 0.25 * 25 = 31.25    -> 3.125 -> 3 -> 30
    #   q3 h=3.75 -> 51.4 + 0.75 * 26.4 = 71.2 -> 7.12 -> 7 -> 70
    #   mean 283.4/6 = 47.233                  -> / 5 = 9.447 -> 9 -> 45
    assert stats(data, "AR", "index") == (6, D("50"), D("30"), D("70"), D("45"))
    # CO policy 2, 2, 3, 3, 4 (n = 5, quartiles are order statistics x2, x3, x4):
    #   median 3 -> 3.00; q1 2 -> 2.00; q3 3 -> 3.00; mean 14/5 = 2.8 -> 11.2 -> 11 -> 2.75
    assert stats(data, "CO", "policy") == (5, D("3.00"), D("2.00"), D("3.00"), D("2.75"))
    # CO access 2, 2.33, 3, 3.67, 4:
    #   median 3 -> 3.00; q1 2.33 -> 4.66 -> 5 -> 2.50; q3 3.67 -> 7.34 -> 7 -> 3.50; mean 15.00/5 = 3 -> 3.00
    assert stats(data, "CO", "access") == (5, D("3.00"), D("2.50"), D("3.50"), D("3.00"))
    # CO index 25, 26.4, 50, 52.8, 75:
    #   median 50 -> 50; q1 26.4 -> 2.64 -> 3 -> 30; q3 52.8 -> 5.28 -> 5 -> 50; mean 229.2/5 = 45.84 -> 9.17 -> 9 -> 45
    assert stats(data, "CO", "index") == (5, D("50"), D("30"), D("50"), D("45"))
    # region (all 13): policy 1,2,2,2,3,3,3,3,4,4,4,4,5: median h=6 -> 3.00, q1 h=3 -> 2.00, q3 h=9 -> 4.00;
    # the mean (40/13 = 3.08) is withheld because the suppressed PE cell holds 2 institutions (complementary suppression)
    assert stats(data, "ALL", "policy") == (13, D("3.00"), D("2.00"), D("4.00"), None)
    # region access 1, 2, 2, 2.33, 3, 3, 3.33, 3.67, 4, 4, 4.67, 5, 5:
    #   median x[6] = 3.33 -> 6.66 -> 7 -> 3.50; q1 x[3] = 2.33 -> 4.66 -> 5 -> 2.50; q3 x[9] = 4 -> 4.00; mean withheld
    assert stats(data, "ALL", "access") == (13, D("3.50"), D("2.50"), D("4.00"), None)
    # region index 0, 25, 25, 26.4, 50, 50, 51.4, 52.8, 75, 75, 77.8, 79.2, 100:
    #   median x[6] = 51.4 -> 5.14 -> 5 -> 50; q1 x[3] = 26.4 -> 2.64 -> 3 -> 30; q3 x[9] = 75 -> 7.5 -> 8 (half-up) -> 80
    assert stats(data, "ALL", "index") == (13, D("50"), D("30"), D("80"), None)
    for dim in ("relevance", "recognition", "people", "articulation"):
        assert stats(data, "AR", dim) == stats(data, "AR", "policy")
        assert stats(data, "CO", dim) == stats(data, "CO", "policy")
        assert stats(data, "ALL", dim) == stats(data, "ALL", "policy")
    assert set(data["groups"]) == {"AR", "CO", "PE", "ALL"}
    assert_published_on_the_grid(data)


def test_a_country_with_fewer_than_five_institutions_is_suppressed(rc, thirteen):
    data = api(rc)
    for key in (*DIMS, "index"):
        pe = cell(data, "PE", key)
        assert pe["n"] == 2 and pe["suppressed"] is True
        assert not {"median", "q1", "q3", "mean"} & set(pe), pe
        assert cell(data, "ALL", key)["n"] == 13 and cell(data, "ALL", key)["suppressed"] is False
        # five is enough (CO), and the region's mean is withheld because of the two hidden in PE
        assert cell(data, "CO", key)["n"] == 5 and cell(data, "CO", key)["suppressed"] is False
        assert cell(data, "ALL", key)["mean"] is None and cell(data, "AR", key)["mean"] is not None


def test_minimum_and_maximum_are_never_published(app, rc, sc, thirteen):
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
    # no aggregate is an exact institution score: the off-grid access scores of AR4 (4.67, the second highest
    # in AR), AR5 (3.33), CO2 (2.33), CO4 (3.67) and the indexes that are off the 10- and 5-point grids
    exact_scores = ("4.67", "3.33", "2.33", "3.67", "77.8", "79.2", "51.4", "26.4", "52.8")
    for body in (staff_json, staff_csv):
        assert "minimum" not in body and "maximum" not in body
        for value in exact_scores:
            assert value not in body, value
    for row in staff_xlsx["aggregates"]:
        for value in exact_scores:
            assert float(value) not in row, (value, row)


def test_page_shows_suppression_text_and_an_inline_heatmap(rc, thirteen, dims):
    response = rc.get("/compare?countries=AR,CO,PE&lang=en")
    assert response.status_code == 200
    page = text(response)
    heading = page.index("Median by country and dimension")
    box = page[heading:page.index("</div>", heading)]
    # Peru's suppressed cells, and Argentina's published medians (3.00) on the half-level grid
    assert "<svg" in box and "Peru" in box and "<5" in box and "3.00" in box
    assert "<3" not in box
    rows = [r for r in page.split("<tr>") if "<td>Peru</td>" in r]
    assert len(rows) == 7 and all(fewer("en") in r for r in rows)
    assert all(nums(r) == ["2"] for r in rows)  # n is shown, no figure
    assert "13 institutions (latest assessment of each)." in page
    assert "Every figure covers at least 5 institutions" in page
    argentina = {r.split("</td>")[1].strip().removeprefix("<td>"): r for r in page.split("<tr>") if r.startswith("<td>Argentina</td>")}
    # access: n 6, median 3.00, q1 2.50, q3 4.50, mean 3.25 (exact 3.1667); the index on whole points
    assert nums(argentina[dims["access"].name("en")]) == ["6", "3.00", "2.50", "4.50", "3.25"]
    assert nums(argentina["Overall index"]) == ["6", "50.0", "30.0", "70.0", "45.0"]  # one decimal, as in the PDF and the results page
    region = [r for r in page.split("<tr>") if r.startswith("<td>Region (all countries)</td>")]
    # the region's mean is withheld (PE's two are hidden): a dash, explained
    assert any(nums(r)[:4] == ["13", "3.50", "2.50", "4.00"] and "—" in r for r in region)
    assert fewer("en") in page and "fewer than 3" not in page


@pytest.mark.parametrize("lang", ["es", "pt"])
def test_page_in_spanish_and_portuguese_uses_decimal_commas(rc, thirteen, dims, lang):
    page = text(rc.get(f"/compare?countries=AR,CO,PE&lang={lang}"))
    argentina = [r for r in page.split("<tr>") if r.startswith("<td>Argentina</td>")]
    access = next(r for r in argentina if f"<td>{dims['access'].name(lang)}</td>" in r)
    assert nums(access) == ["6", "3,00", "2,50", "4,50", "3,25"]
    assert {"es": "Perú", "pt": "Peru"}[lang] in page


@pytest.mark.parametrize("lang", ["es", "pt"])
def test_page_in_spanish_and_portuguese_shows_the_suppression_text_translated(rc, thirteen, lang):
    translated = fewer(lang)
    assert translated != fewer("en"), f"no {lang} translation of 'fewer than %(n)s' in the catalog"
    page = text(rc.get(f"/compare?countries=AR,CO,PE&lang={lang}"))
    rows = [r for r in page.split("<tr>") if f"<td>{ {'es': 'Perú', 'pt': 'Peru'}[lang]}</td>" in r]
    assert len(rows) == 7 and all(translated in r for r in rows)


# ----------------------------------------------------------------------------- basis, latest, filters


def test_validated_basis_uses_only_validated_assessments_and_their_levels(app, rc, reviewer, thirteen):
    for key in VALIDATED:
        validate_lowering(app, reviewer, thirteen[key]["id"])
    data = api(rc, "countries=AR,CO,PE&basis=validated")
    assert data["institutions"] == 7 and data["region_institutions"] == 7
    assert data["filters"]["basis"] == "validated"
    # CO policy validated 1, 1, 2, 2, 3: median 2 -> 2.00, q1 1 -> 1.00, q3 2 -> 2.00, mean 9/5 = 1.8 -> 7.2 -> 7 -> 1.75
    assert stats(data, "CO", "policy") == (5, D("2.00"), D("1.00"), D("2.00"), D("1.75"))
    # CO access validated 1 (1,1,1), 1.33 (1,1,2), 2 (2,2,2), 2.67 (2,3,3), 3 (3,3,3):
    #   median 2 -> 2.00; q1 1.33 -> 2.66 -> 3 -> 1.50; q3 2.67 -> 5.34 -> 5 -> 2.50; mean 10.00/5 = 2 -> 2.00
    assert stats(data, "CO", "access") == (5, D("2.00"), D("1.50"), D("2.50"), D("2.00"))
    assert cell(data, "AR", "policy") == {"n": 2, "suppressed": True}
    assert "PE" not in data["groups"]
    # region policy 1, 1, 2, 2, 3 (CO) + 1, 2 (AR2, AR3 lowered) = 1,1,1,2,2,2,3: median x[3] = 2 -> 2.00,
    # q1 h=1.5 -> 1 -> 1.00, q3 h=4.5 -> 2 -> 2.00; the mean (12/7) is withheld since the suppressed AR cell holds 2
    assert stats(data, "ALL", "policy") == (7, D("2.00"), D("1.00"), D("2.00"), None)
    assert_published_on_the_grid(data)
    # the self basis still counts all thirteen, with their self-assessed scores
    self_basis = api(rc)
    assert self_basis["institutions"] == 13
    assert stats(self_basis, "CO", "policy") == (5, D("3.00"), D("2.00"), D("3.00"), D("2.75"))


def test_the_latest_assessment_of_each_institution_is_used(app, factory, rc, rubric):
    members = [factory.user("member", institution=factory.institution(name=f"Ronda AR {i}", country="AR")) for i in range(5)]
    for m, level in zip(members, (2, 2, 3, 3, 4), strict=True):
        factory.assessment(m, levels=level, submit=True)
    factory.assessment(members[0], levels=5, submit=True)  # round 2 replaces round 1 (2 -> 5)
    data = api(rc, "countries=AR")
    # policy 5, 2, 3, 3, 4 -> 2, 3, 3, 4, 5: median 3 -> 3.00, q1 3 -> 3.00, q3 4 -> 4.00, mean 17/5 = 3.4 -> 13.6 -> 14 -> 3.50
    # (with round 1 instead it would be 2, 2, 3, 3, 4: q1 2.00, q3 3.00, mean 2.75)
    assert stats(data, "AR", "policy") == (5, D("3.00"), D("3.00"), D("4.00"), D("3.50"))
    assert data["institutions"] == 5
    # a draft third round does not count
    factory.assessment(members[0], levels=1, submit=False)
    assert stats(api(rc, "countries=AR"), "AR", "policy") == (5, D("3.00"), D("3.00"), D("4.00"), D("3.50"))
    # filtering on the round narrows to that round's assessments: round 1 is 2, 2, 3, 3, 4 ->
    # median 3.00, q1 2.00, q3 3.00, mean 14/5 = 2.8 -> 11.2 -> 11 -> 2.75
    assert stats(api(rc, "countries=AR&round=1"), "AR", "policy") == (5, D("3.00"), D("2.00"), D("3.00"), D("2.75"))
    assert cell(api(rc, "countries=AR&round=2"), "AR", "policy") == {"n": 1, "suppressed": True}


def test_filters_by_type_sector_and_dates_narrow_n(app, rc, thirteen):
    def n(query):
        data = api(rc, query)
        return {g: cells["policy"]["n"] for g, cells in data["groups"].items()}

    # training centres: AR2, AR3, AR5 | CO1-CO4; the region covers every country with the other filters
    assert n("countries=AR,CO,PE&type=training_centre") == {"AR": 3, "CO": 4, "ALL": 7}
    # private: AR3, AR4, AR6 | CO2, CO5
    assert n("countries=AR,CO,PE&sector=private") == {"AR": 3, "CO": 2, "ALL": 5}
    # public training centres: AR2, AR5 | CO1, CO3, CO4
    assert n("countries=AR,CO,PE&type=training_centre&sector=public") == {"AR": 2, "CO": 3, "ALL": 5}
    # universities: AR6 | PE1, PE2 (a type filter applies to the region too)
    assert n("countries=AR,CO,PE&type=university") == {"AR": 1, "PE": 2, "ALL": 3}
    # the country filter chooses the rows shown; the region still covers all thirteen (fixed region)
    assert n("countries=CO,PE") == {"CO": 5, "PE": 2, "ALL": 13}
    assert n("country=PE") == {"PE": 2, "ALL": 13}
    assert api(rc, "country=PE")["groups"]["ALL"] == api(rc, "countries=AR,CO,PE")["groups"]["ALL"]
    assert (api(rc, "country=PE")["institutions"], api(rc, "country=PE")["region_institutions"]) == (2, 13)
    set_submitted_at(app, thirteen["AR1"]["id"], datetime(2020, 1, 10, 15, 0, tzinfo=UTC))
    set_submitted_at(app, thirteen["CO1"]["id"], datetime(2020, 1, 31, 23, 0, tzinfo=UTC))
    assert n("countries=AR,CO,PE&date_to=2020-01-31") == {"AR": 1, "CO": 1, "ALL": 2}
    assert n("countries=AR,CO,PE&date_from=2020-01-11&date_to=2020-01-31") == {"CO": 1, "ALL": 1}
    assert n("countries=AR,CO,PE&date_from=2020-02-01") == {"AR": 5, "CO": 4, "PE": 2, "ALL": 11}
    assert n("countries=AR&date_from=2020-02-01") == {"AR": 5, "ALL": 11}
    # the dates reach the aggregates: without AR1 (policy 1), AR policy is 2, 3, 3, 4, 4 ->
    # median 3.00, q1 3.00, q3 4.00, mean 16/5 = 3.2 -> 12.8 -> 13 -> 3.25
    assert stats(api(rc, "countries=AR&date_from=2020-02-01"), "AR", "policy") == (5, D("3.00"), D("3.00"), D("4.00"), D("3.25"))
    # with the filters the aggregates change accordingly: private AR (3) and CO (2) are suppressed; the region
    # AR3 3, AR4 4, AR6 4, CO2 2, CO5 4 -> 2, 3, 4, 4, 4: median 4.00, q1 3.00, q3 4.00, mean 17/5 = 3.4 -> 13.6 -> 14 -> 3.50.
    # The suppressed countries hide 3 + 2 = 5 institutions (not 1 to 4), so the region's mean is published.
    data = api(rc, "countries=AR,CO,PE&sector=private")
    assert cell(data, "AR", "policy") == {"n": 3, "suppressed": True} and cell(data, "CO", "policy") == {"n": 2, "suppressed": True}
    assert stats(data, "ALL", "policy") == (5, D("4.00"), D("3.00"), D("4.00"), D("3.50"))
    # private universities: AR6 alone, region 1 < 5: every cell, the region included, is suppressed
    assert all(c["suppressed"] for g in api(rc, "countries=AR&sector=private&type=university")["groups"].values() for c in g.values())
    assert_published_on_the_grid(data)


def test_invalid_filters_are_422(rc, thirteen):
    for query in ("countries=ARG", "basis=both", "round=two", "date_from=31/01/2020"):
        response = rc.get(f"{API}?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["error"]["details"]


@pytest.fixture
def second_version(app, factory, thirteen):
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
    assert f"{INSTRUMENT} 1.1" in error["message"] and f"{INSTRUMENT} 2.0" in error["message"]
    assert error["details"][0]["versions"] == [f"{INSTRUMENT} 1.1", f"{INSTRUMENT} 2.0"]
    # the page says the same when the instrument is chosen without a version
    page = rc.get(f"/compare?instrument={INSTRUMENT}&countries=AR,CO,PE&lang=en")
    assert page.status_code == 422
    body = text(page)
    assert "cannot be compared" in body and "version 1.1" in body and "2.0" in body
    assert INSTRUMENT not in re.sub(r"<[^>]+>", " ", body)  # the instrument by its title, never its id


def test_choosing_one_version_avoids_the_mix(rc, second_version):
    data = api(rc, "countries=AR,CO,PE&version=1.1")
    assert data["institutions"] == 13 and cell(data, "CO", "policy")["n"] == 5
    assert data["region_institutions"] == 13  # the version 2.0 institution is not in the region either
    # the page's form always sends one version; by default the latest
    response = rc.get("/compare?countries=AR,CO,PE&lang=en")
    assert response.status_code == 200 and "13 institutions" in text(response)
    response = rc.get(f"/compare?instrument={INSTRUMENT}&version=1.1&countries=AR,CO,PE&lang=en")
    assert response.status_code == 200 and "13 institutions" in text(response)


def test_exports_refuse_mixed_versions_with_422(app, rc, second_version):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for url in ("/compare/export.csv", "/compare/export.json", "/compare/export.xlsx", "/compare/report.pdf"):
        with rc.get(f"{url}?countries=AR,CO,PE") as response:
            assert response.status_code == 422, url


# ----------------------------------------------------------------------------- agreement


def test_agreement_when_the_reviewer_lowers_every_level_by_one(app, rc, reviewer, thirteen):
    for key in VALIDATED:
        validate_lowering(app, reviewer, thirteen[key]["id"])
    data = api(rc)
    agreement = {(a["country"], a["dimension"]): a for a in data["agreement"]}
    for dim in DIMS:
        co = agreement[("CO", dim)]
        assert (co["institutions"], co["pairs"], co["suppressed"]) == (5, 15, False)
        # every pair is self - validated = 1: mean 1 -> 1 / 0.25 = 4 -> 1.00
        assert D(co["mean_signed_difference"]) == D("1.00")
        assert D(co["kappa"]) < 1
        ar = agreement[("AR", dim)]
        assert (ar["institutions"], ar["pairs"], ar["suppressed"], ar["kappa"], ar["mean_signed_difference"]) == (2, 6, True, None, None)
        region = agreement[("ALL", dim)]
        assert (region["institutions"], region["pairs"], region["suppressed"]) == (7, 21, False)
        assert D(region["mean_signed_difference"]) == D("1.00")
    # kappa by hand (quadratic weights; the common factor 1/(k-1)^2 cancels), then to the 0.05 grid.
    # CO policy: pairs (2,1) x6 (CO1, CO2), (3,2) x6 (CO3, CO4), (4,3) x3 (CO5); N = 15; observed sum (a-b)^2 = 15.
    #   self marginals 2:6, 3:6, 4:3; validated 1:6, 2:6, 3:3
    #   expected = sum row_a col_b (a-b)^2 / N: a=2: 36 + 0 + 18 = 54; a=3: 144 + 36 + 0 = 180; a=4: 162 + 72 + 9 = 243
    #            = 477 / 15 = 31.8 -> kappa = 1 - 15/31.8 = 0.5283 -> / 0.05 = 10.57 -> 11 -> 0.55
    assert D(agreement[("CO", "policy")]["kappa"]) == D("0.55")
    # CO access: CO1 (2,1)x3; CO2 levels 2,2,3 -> (2,1)x2, (3,2)x1; CO3 (3,2)x3; CO4 levels 3,4,4 -> (3,2)x1, (4,3)x2;
    # CO5 (4,3)x3 -> (2,1) x5, (3,2) x5, (4,3) x5; observed 15; expected = 25 * [(1+0+1) + (4+1+0) + (9+4+1)] / 15
    #            = 25 * 21 / 15 = 35 -> kappa = 1 - 15/35 = 0.5714 -> 11.43 -> 11 -> 0.55
    assert D(agreement[("CO", "access")]["kappa"]) == D("0.55")
    # region policy: CO's pairs + AR2 (2,1)x3 + AR3 (3,2)x3 -> (2,1) x9, (3,2) x9, (4,3) x3; N = 21; observed 21
    #   expected: a=2: 81 + 0 + 27 = 108; a=3: 324 + 81 + 0 = 405; a=4: 243 + 108 + 9 = 360 -> 873 / 21
    #   kappa = 1 - 21 * 21 / 873 = 1 - 441/873 = 0.4948 -> 9.90 -> 10 -> 0.50
    assert D(agreement[("ALL", "policy")]["kappa"]) == D("0.50")
    assert not any(a["country"] == "PE" for a in data["agreement"])
    assert_published_on_the_grid(data)


def test_agreement_table_on_the_page(app, rc, reviewer, thirteen, dims):
    for key in VALIDATED:
        validate_lowering(app, reviewer, thirteen[key]["id"])
    page = text(rc.get("/compare?countries=AR,CO,PE&lang=en"))
    start = page.index("Agreement between self-assessed and validated levels")
    table = page[start:page.index("</table>", start)]
    colombia = [r for r in table.split("<tr>") if r.startswith("<td>Colombia</td>")]
    assert len(colombia) == 6 and all(nums(r)[0] == "5" and nums(r)[2] == "1.00" for r in colombia)
    assert all(nums(r)[1] == "0.55" for r in colombia)  # kappa on the 0.05 grid (exact 0.528 / 0.571)
    assert "0.528" not in table and "0.571" not in table
    argentina = [r for r in table.split("<tr>") if r.startswith("<td>Argentina</td>")]
    assert len(argentina) == 6 and all(fewer("en") in r and nums(r) == ["2"] for r in argentina)
    region = next(r for r in table.split("<tr>") if r.startswith("<td>Region (all countries)</td>")
                  and f"<td>{dims['policy'].name('en')}</td>" in r)
    assert nums(region) == ["7", "0.50", "1.00"]


def validate_with(app, reviewer, assessment_id: int, validated: dict[str, int]) -> None:
    """A reviewer validates the assessment with the given level per criterion (the others as self-assessed)."""
    from rubric_app.services import review as rsvc

    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, assessment_id)
        user = s.merge(reviewer)
        entries = [rsvc.ReviewEntry(r.criterion_id, validated.get(r.criterion_id, r.level), "Checked against the evidence")
                   for r in a.answers]
        rsvc.save_review(s, app.extensions["instruments"], user, a, entries)
        rsvc.validate(s, app.extensions["instruments"], user, a)
        s.close()


def test_kappa_is_rounded_to_the_grid_once_from_the_exact_value(app, factory, rc, reviewer, rubric):
    # five institutions of Uruguay, policy criteria (self, validated):
    #   U1 (4,3) (3,2) (5,4); U2 (3,2) (4,4) (2,2); U3 (5,5) (4,4) (4,4); U4 (3,3) (4,3) (5,4); U5 (4,3) (4,3) (5,4)
    # counts (4,3) 4, (3,2) 2, (5,4) 3, (4,4) 3, (2,2) 1, (5,5) 1, (3,3) 1; N = 15; observed sum (a-b)^2 = 4 + 2 + 3 = 9
    # self marginals 2:1, 3:3, 4:7, 5:4; validated 2:3, 3:5, 4:6, 5:1
    # expected = [1*(0 + 5 + 24 + 9) + 3*(3 + 0 + 6 + 4) + 7*(12 + 5 + 0 + 1) + 4*(27 + 20 + 6 + 0)] / 15
    #          = (38 + 39 + 126 + 212) / 15 = 415/15 = 83/3
    # kappa = 1 - 9 / (83/3) = 1 - 27/83 = 56/83 = 0.67470 -> / 0.05 = 13.494 -> 13 -> 0.65
    # (rounded first to 3 decimals, 0.675, it would become 13.5 -> 14 -> 0.70: the double rounding the rule forbids)
    # mean self - validated = 9/15 = 0.6 -> / 0.25 = 2.4 -> 2 -> 0.50
    plan = (((4, 3), (3, 2), (5, 4)), ((3, 2), (4, 4), (2, 2)), ((5, 5), (4, 4), (4, 4)), ((3, 3), (4, 3), (5, 4)),
            ((4, 3), (4, 3), (5, 4)))
    policy = [c.id for c in rubric.dimension("policy").criteria]
    for i, pairs in enumerate(plan):
        member = factory.user("member", institution=factory.institution(name=f"Acuerdo UY {i}", country="UY"))
        own = levels(rubric, 3, policy=tuple(a for a, _ in pairs))
        assessment = factory.assessment(member, levels=own, submit=True)
        validate_with(app, reviewer, assessment, {crit: b for crit, (_, b) in zip(policy, pairs, strict=True)})
    agreement = {(a["country"], a["dimension"]): a for a in api(rc, "countries=UY")["agreement"]}
    uy = agreement[("UY", "policy")]
    assert (uy["institutions"], uy["pairs"], uy["suppressed"]) == (5, 15, False)
    assert D(uy["mean_signed_difference"]) == D("0.50")
    assert D(uy["kappa"]) == D("0.65")


# ----------------------------------------------------------------------------- exports and roles


def test_exports_carry_the_same_aggregates_as_the_api(rc, thirteen):
    query = "countries=AR,CO,PE"
    data = api(rc, query)
    exported = json.loads(get_body(rc, f"/compare/export.json?{query}"))
    assert exported["groups"] == data["groups"] and exported["agreement"] == data["agreement"]
    assert exported["disclosure"] == data["disclosure"] and exported["min_cell"] == 5

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
    # the grid figures as written (see the hand computation above)
    assert aggregates[("AR", "access")][4:8] == ["3.00", "2.50", "4.50", "3.25"]
    assert aggregates[("CO", "access")][4:8] == ["3.00", "2.50", "3.50", "3.00"]
    assert aggregates[("AR", "index")][4:8] == ["50", "30", "70", "45"]
    assert aggregates[("ALL", "index")][2:8] == ["13", "False", "50", "30", "80", ""]  # the region's mean withheld
    assert aggregates[("PE", "people")][2:8] == ["2", "True", "", "", "", ""]

    sheets = xlsx_sheets(get_body(rc, f"/compare/export.xlsx?{query}"))
    xrows = {(r[0], r[1]): r for r in sheets["aggregates"][1:]}
    assert set(xrows) == set(aggregates)
    for (group, key), row in xrows.items():
        c = cell(data, group, key)
        assert row[2] == c["n"] and row[3] == c["suppressed"]
        assert tuple(row[4:8]) == tuple(float(c[k]) if c.get(k) is not None else None for k in ("median", "q1", "q3", "mean"))
    assert xrows[("AR", "access")][4:8] == (3.0, 2.5, 4.5, 3.25)


def test_reviewers_get_institution_scores_in_the_exports_and_page(rc, thirteen):
    query = "countries=AR,CO,PE"
    exported = json.loads(get_body(rc, f"/compare/export.json?{query}"))
    rows = {r["institution"]: r for r in exported["institution_scores"]}
    assert set(rows) == set(NAMES.values())
    ar4 = rows[NAMES["AR4"]]
    assert (ar4["country"], D(ar4["access"]), D(ar4["policy"]), D(ar4["index"])) == ("AR", D("4.67"), D("4.00"), D("77.8"))
    csv_text = get_body(rc, f"/compare/export.csv?{query}").decode("utf-8-sig")
    csv_rows = list(csv.reader(io.StringIO(csv_text)))
    line = next(r for r in csv_rows if r and r[0] == NAMES["CO2"])
    assert line[1] == "CO" and D(line[5]) == D("2.33") and D(line[-1]) == D("26.4")
    # a name that starts like a formula is escaped in the spreadsheets, not in JSON
    assert any(r and r[0] == "'" + NAMES["AR5"] for r in csv_rows)
    assert not any(r and r[0] == NAMES["AR5"] for r in csv_rows)
    assert all(name in csv_text for name in NAMES.values())
    sheets = xlsx_sheets(get_body(rc, f"/compare/export.xlsx?{query}"))
    expected_cells = {("'" + n if n.startswith("=") else n) for n in NAMES.values()}
    assert {r[0] for r in sheets["institutions"][1:]} == expected_cells
    page = text(rc.get(f"/compare?{query}"))
    assert all(name in page for name in NAMES.values())


def assert_labelled_institution_level(c, query: str) -> None:
    """Page, CSV, XLSX and JSON say that they hold institution-level data (reviewers and admins)."""
    page = text(c.get(f"/compare?{query}&lang=en"))
    section = page[page.index('class="institution-level"'):]
    assert f'<span class="badge draft">{LABEL}</span>' in section  # the badge by the heading
    assert f'<p class="notice" role="note"><strong>{LABEL}.</strong> {INSTITUTION_LEVEL_NOTICE}</p>' in section
    assert section.index(LABEL) < section.index(NAMES["AR1"])  # labelled before the first row
    spanish = text(c.get(f"/compare?{query}&lang=es"))
    assert f'<span class="badge draft">{tr("es", LABEL)}</span>' in spanish

    rows = list(csv.reader(io.StringIO(get_body(c, f"/compare/export.csv?{query}").decode("utf-8-sig"))))
    marker = rows.index([CSV_MARKER, str(INSTITUTION_LEVEL_NOTICE)])
    assert rows[marker - 1] == [] and rows[marker + 1][:4] == ["institution", "country", "assessment", "round"]
    assert all(NAMES["AR1"] not in r for r in rows[:marker])  # no institution above the marker

    wb = load_workbook(io.BytesIO(get_body(c, f"/compare/export.xlsx?{query}")), read_only=True)
    try:
        assert wb.sheetnames == [XLSX_NOTICE_SHEET, "aggregates", "agreement", "institutions"]
        notice = [row for row in wb.worksheets[0].iter_rows(values_only=True)]
        assert notice[0] == (CSV_MARKER,) and notice[1] == (str(INSTITUTION_LEVEL_NOTICE),)
        assert wb.active.title == XLSX_NOTICE_SHEET or wb.worksheets[0].title == XLSX_NOTICE_SHEET
    finally:
        wb.close()

    exported = json.loads(get_body(c, f"/compare/export.json?{query}"))
    assert exported["institution_level_data"] == str(INSTITUTION_LEVEL_NOTICE)
    assert LABEL in exported["institution_level_data"] and len(exported["institution_scores"]) == 13


def assert_not_labelled(c, query: str) -> None:
    """Staff get aggregates only: no institution-level label anywhere (there is nothing to label)."""
    page = text(c.get(f"/compare?{query}&lang=en"))
    assert LABEL not in page and str(INSTITUTION_LEVEL_NOTICE) not in page and 'class="institution-level"' not in page
    csv_text = get_body(c, f"/compare/export.csv?{query}").decode("utf-8-sig")
    assert CSV_MARKER not in csv_text and LABEL not in csv_text
    assert list(xlsx_sheets(get_body(c, f"/compare/export.xlsx?{query}"))) == ["aggregates", "agreement"]
    exported = json.loads(get_body(c, f"/compare/export.json?{query}"))
    assert "institution_level_data" not in exported and "institution_scores" not in exported


def test_reviewer_tables_are_labelled_as_institution_level_data(rc, thirteen):
    assert_labelled_institution_level(rc, "countries=AR,CO,PE")


def test_staff_never_see_institution_names_or_scores(app, sc, staff, factory, thirteen):
    query = "countries=AR,CO,PE"
    bodies = {
        "page": text(sc.get(f"/compare?{query}")),
        "page-en": text(sc.get(f"/compare?{query}&lang=en")),
        "page-pt": text(sc.get(f"/compare?{query}&lang=pt")),
        "api": sc.get(f"{API}?{query}").get_data(as_text=True),
        "api-token": app.test_client().get(f"{API}?{query}", headers=bearer(factory.token(staff))).get_data(as_text=True),
        "csv": get_body(sc, f"/compare/export.csv?{query}").decode("utf-8-sig"),
        "json": get_body(sc, f"/compare/export.json?{query}").decode(),
        "xlsx": xlsx_strings(get_body(sc, f"/compare/export.xlsx?{query}")),
        "pdf": pdf_text(get_body(sc, f"/compare/report.pdf?{query}&lang=es")),
    }
    for where, body in bodies.items():
        assert "3.25" in body or "3,25" in body, where  # the aggregates are there (AR access mean, exact 3.1667)
        for name in NAMES.values():
            assert name not in body, (where, name)
            assert name.lstrip("=") not in body, (where, name)
        assert "institution_scores" not in body and "institution_level_data" not in body, where
        if not where.startswith("page"):  # (the pages' SVG coordinates hold any digits)
            assert "4.67" not in body and "4,67" not in body, where  # AR4's access score
    assert "institutions" not in xlsx_sheets(get_body(sc, f"/compare/export.xlsx?{query}"))
    assert_not_labelled(sc, query)


def test_members_get_403_on_every_comparison_page_export_pdf_and_api(app, factory, thirteen):
    member = thirteen["AR1"]["member"]
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
def test_reviewers_staff_and_admins_may_compare(app, factory, thirteen, role):
    c = client_for(app, factory.user(role))
    assert c.get("/compare").status_code == 200
    data = api(c)
    assert data["institutions"] == 13
    # the API gives aggregates only, to every role
    assert "institution_scores" not in data and "institution_level_data" not in data
    for fmt in EXPORTS:
        assert get_body(c, f"/compare/export.{fmt}?countries=AR")
    pdf = get_body(c, "/compare/report.pdf?countries=AR&lang=en")
    assert pdf.startswith(b"%PDF")
    body = pdf_text(pdf)
    # the PDF never holds institution rows, whoever asks, and says so on its first page
    assert "Aggregates only: no institution-level data." in body and not any(name in body for name in NAMES.values())
    if role == "staff":
        assert_not_labelled(c, "countries=AR,CO,PE")
    else:
        assert_labelled_institution_level(c, "countries=AR,CO,PE")


# ----------------------------------------------------------------------------- the results page benchmark


def bench_rows(page: str) -> str:
    start = page.index(tr("es", "Where the institution stands"))
    return page[start:page.index("</table>", start)]


def row_of(table: str, dimension_name: str) -> str:
    return next(r for r in table.split("<tr>") if r.startswith(f"<td>{dimension_name}</td>"))


@pytest.fixture
def small_region(app, factory, rubric):
    """AR: six institutions at 2, 3, 4, 2, 4 and 4 everywhere (A is the one at 2); PE: one at 5.

    A sees its country from 5 others, the region from 6 others; P (alone in Peru) has no country median.
    """
    out = {}
    for key, country, level in (("A", "AR", 2), ("B", "AR", 3), ("C", "AR", 4), ("D", "AR", 2), ("E", "AR", 4), ("F", "AR", 4),
                                ("P", "PE", 5)):
        member = factory.user("member", institution=factory.institution(name=f"Banco {key}", country=country))
        out[key] = {"member": member, "id": factory.assessment(member, levels=level, submit=True)}
    return out


def test_results_page_shows_country_and_region_medians(app, small_region, dims):
    a = small_region["A"]
    page = text(client_for(app, a["member"]).get(f"/assessments/{a['id']}/results"))
    table = bench_rows(page)
    for dim in dims.values():
        row = row_of(table, dim.name("es"))
        # own 2.00; AR 2, 2, 3, 4, 4, 4 (A and 5 others): median (3 + 4)/2 = 3.5 -> 7 -> 3.50;
        # region + PE 5 = 2, 2, 3, 4, 4, 4, 5: median x[3] = 4 -> 4.00
        assert nums(row) == ["2,00", "3,50", "4,00"]
    assert "<svg" in page[page.index(tr("es", "Where the institution stands")):]


def test_results_page_says_fewer_than_five_others_for_a_small_country(app, small_region, dims):
    p = small_region["P"]
    page = text(client_for(app, p["member"]).get(f"/assessments/{p['id']}/results"))
    table = bench_rows(page)
    for dim in dims.values():
        row = row_of(table, dim.name("es"))
        cells = [x.split("</td>")[0] for x in row.split('class="num">')[1:]]
        # own 5.00; Peru has no other institution; the region has six others: 2, 2, 3, 4, 4, 4, 5 -> 4.00
        assert cells[0] == "5,00" and fewer_others("es") in cells[1] and "4,00" in cells[2]
        assert "fewer than 3" not in row


def test_member_benchmark_needs_five_others_not_five_in_all(app, factory, small_region, dims):
    # drop to five in Argentina (F's assessment goes back to draft) and A sees 4 others: no country median,
    # though the cell holds five; the region (A + 5 others) is still shown: 2, 2, 3, 4, 4, 5 -> (3 + 4)/2 = 3.5 -> 3.50
    with app.app_context():
        s = db.new_session()
        s.execute(update(Assessment).where(Assessment.id == small_region["F"]["id"]).values(status="draft", submitted_at=None))
        s.commit()
        s.close()
    a = small_region["A"]
    table = bench_rows(text(client_for(app, a["member"]).get(f"/assessments/{a['id']}/results")))
    row = row_of(table, dims["policy"].name("es"))
    cells = [x.split("</td>")[0] for x in row.split('class="num">')[1:]]
    assert cells[0] == "2,00" and fewer_others("es") in cells[1] and cells[2] == "3,50"


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


def test_report_pdf_shows_both_rounds_in_the_assessment_language(app, small_region, rubric, dims):
    a = small_region["A"]
    second = factory_second_round(app, a["member"], rubric, language="en")
    body = pdf_text(get_body(client_for(app, a["member"]), f"/assessments/{second}/report.pdf"))
    assert "Change since round 1" in body and "Round 1" in body and "Round 2" in body
    change = body[body.index("Change since round 1"):]
    assert "+1.33" in change and "-1.00" in change and "0.00" in change
    # benchmark in the PDF (A's latest round counts): AR policy now 2, 3, 3.33, 4, 4, 4 -> median (3.33 + 4)/2 = 3.665
    # -> 7.33 -> 7 -> 3.50 (the exact 3.67 is not published); region + PE 5 = 2, 3, 3.33, 4, 4, 4, 5 -> x[3] = 4 -> 4.00
    bench = body[body.index("Where the institution stands"):body.index("A median is shown only")]
    assert f"{dims['policy'].name('en')} 3.33 3.50 4.00" in bench
    assert "3.67" not in bench


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
    # two institutions only (A sees 1 other, fewer than 5): the benchmark is suppressed, nothing of B leaks through a median
    assert fewer_others("es") in bench_rows(seen["results"])
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

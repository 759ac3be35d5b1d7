"""Statistical disclosure control, attacked through the real app (docs/comparison.md, "Disclosure control").

Each test plays one attack an outsider (staff), a reviewer or a member can mount with the published
figures only, and checks that it leaves the target institution's score uncertain: the values the
published figures allow for it span more than 0.5 of a level (dimension scores) or 10 index points
(the index), i.e. no estimate is guaranteed within 0.25 / 5 of the truth.  An attacker knows the
published grid (docs and JSON say it), so a figure published as m on grid g means "somewhere in
[m - g/2, m + g/2]".

Every institution below answers the same three levels in every dimension, so all six dimension
scores are equal (one of 1.00, 1.33, ..., 5.00) and the index is (score - 1) * 25.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import update

from rubric_app.extensions import db
from rubric_app.models import Assessment
from tests.conftest import login

from .helpers import set_language, tr


def pdf_text(client, url: str) -> str:
    import io

    from pypdf import PdfReader

    with client.get(url) as response:
        assert response.status_code == 200, url
        data = response.data
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def fewer_others(lang: str = "es") -> str:
    return tr(lang, "fewer than %(n)s others") % {"n": 5}

API = "/api/v1/comparison"
LEVEL_TOLERANCE = Fraction(1, 4)
INDEX_TOLERANCE = Fraction(5)
#: published grids (docs/comparison.md): medians/quartiles and means
QUANTILE = {"level": Fraction(1, 2), "index": Fraction(10)}
MEAN = {"level": Fraction(1, 4), "index": Fraction(5)}


def score(triplet) -> Fraction:
    return Fraction(sum(triplet), 3)


def index_of(triplet) -> Fraction:
    return (score(triplet) - 1) * 25


class World:
    """Institutions with one submitted assessment each, built through the service layer."""

    def __init__(self, app, factory, rubric):
        self.app, self.factory, self.rubric = app, factory, rubric
        self.truth: dict[str, tuple] = {}
        self.members: dict[str, object] = {}
        self.assessments: dict[str, int] = {}

    def add(self, key: str, country: str, triplet=(3, 3, 3), **kw) -> int:
        inst = self.factory.institution(name=f"Institución {key}", country=country, type=kw.get("type", "training_centre"),
                                        sector=kw.get("sector", "public"))
        member = self.factory.user("member", institution=inst)
        answers = {c.id: triplet[i] for d in self.rubric.dimensions for i, c in enumerate(d.criteria)}
        self.assessments[key] = self.factory.assessment(member, levels=answers, submit=True)
        self.truth[key] = triplet
        self.members[key] = member
        return self.assessments[key]

    def set(self, key: str, **values) -> None:
        with self.app.app_context():
            s = db.new_session()
            s.execute(update(Assessment).where(Assessment.id == self.assessments[key]).values(**values))
            s.commit()
            s.close()


@pytest.fixture
def world(app, factory, rubric):
    return World(app, factory, rubric)


@pytest.fixture
def staff_client(app, factory):
    c = app.test_client()
    login(c, factory.user("staff"))
    set_language(c, "en")
    return c


def api(c, query: str) -> dict:
    response = c.get(f"{API}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def F(value) -> Fraction | None:
    return None if value is None else Fraction(Decimal(value))


def scale_of(key: str) -> str:
    return "index" if key == "index" else "level"


def assert_uncertain(low: Fraction, high: Fraction, truth: Fraction, key: str, what: str) -> None:
    """The interval the attack leaves holds the truth and is wider than twice the tolerance."""
    tolerance = INDEX_TOLERANCE if key == "index" else LEVEL_TOLERANCE
    assert low <= truth <= high, f"{what}: the attack model is wrong ({truth} outside [{low}, {high}])"
    assert high - low > 2 * tolerance, f"{what}: {key} pinned to [{float(low)}, {float(high)}] (truth {float(truth)})"


def mean_differencing(cell_a: dict, cell_b: dict, key: str) -> tuple[Fraction, Fraction] | None:
    """x = n_b * mean_b - n_a * mean_a, with each mean known to +- half its grid; None if a mean is not published."""
    if cell_a.get("suppressed") or cell_b.get("suppressed") or cell_a.get("mean") is None or cell_b.get("mean") is None:
        return None
    half = MEAN[scale_of(key)] / 2
    na, nb, ma, mb = cell_a["n"], cell_b["n"], F(cell_a["mean"]), F(cell_b["mean"])
    centre = nb * mb - na * ma
    return centre - (na + nb) * half, centre + (na + nb) * half


def median_differencing(cell_a: dict, cell_b: dict, key: str) -> tuple[Fraction, Fraction] | None:
    """x = 2 * median_b - median_a (x lands between the two middle values of b), each median +- half its grid."""
    if cell_a.get("suppressed") or cell_b.get("suppressed"):
        return None
    half = QUANTILE[scale_of(key)] / 2
    centre = 2 * F(cell_b["median"]) - F(cell_a["median"])
    return centre - 3 * half, centre + 3 * half


def attack_pair(small: dict, large: dict, group: str, target: tuple, what: str, middle: bool = True) -> int:
    """Difference two API answers whose ``group`` differs by the target institution; return how many attacks ran."""
    ran = 0
    for key in ("policy", "access", "relevance", "recognition", "people", "articulation", "index"):
        a, b = small["groups"].get(group, {}).get(key, {"suppressed": True}), large["groups"][group][key]
        truth = index_of(target) if key == "index" else score(target)
        for attack in (mean_differencing, median_differencing):
            interval = attack(a, b, key)
            if interval is None:
                continue
            if attack is median_differencing and not (a["n"] % 2 == 1 and middle):
                continue  # the formula holds only when x lands next to the middle of an odd cell
            assert_uncertain(*interval, truth, key, f"{what} ({attack.__name__}, {group})")
            ran += 1
    return ran


FIVE = ((1, 1, 1), (2, 2, 3), (3, 3, 3), (3, 4, 4), (5, 5, 5))  # 1.00 2.33 3.00 3.67 5.00


# ----------------------------------------------------------------------------- set differencing by country


def test_set_differencing_with_and_without_a_one_institution_country(world, staff_client):
    for i, t in enumerate(FIVE):
        world.add(f"AR{i}", "AR", t)
    for i, t in enumerate(((2, 2, 2), (4, 4, 4), (3, 3, 4), (2, 3, 3), (4, 4, 5))):
        world.add(f"CO{i}", "CO", t)
    world.add("UY", "UY", (5, 5, 4))  # the target: the only institution of Uruguay
    without = api(staff_client, "countries=AR,CO")
    with_uy = api(staff_client, "countries=AR,CO,UY")
    # the region is the same whatever countries are chosen: differencing it gives nothing
    assert without["groups"]["ALL"] == with_uy["groups"]["ALL"]
    assert without["region_institutions"] == with_uy["region_institutions"] == 11
    assert (without["institutions"], with_uy["institutions"]) == (10, 11)
    # the target's own country is suppressed
    assert all(c == {"n": 1, "suppressed": True} for c in with_uy["groups"]["UY"].values())
    # and a region over the chosen countries only (what the attacker would want) does not exist
    only_uy = api(staff_client, "countries=UY")
    assert only_uy["groups"]["ALL"] == with_uy["groups"]["ALL"]
    assert only_uy["index_histogram"] == {"edges": [], "counts": []}


def test_the_page_and_pdf_show_the_same_region_whatever_countries_are_chosen(world, staff_client):
    for i, t in enumerate(FIVE):
        world.add(f"AR{i}", "AR", t)
    world.add("UY", "UY", (5, 5, 4))
    pages = [staff_client.get(f"/compare?version=1.1&countries={c}&lang=en").get_data(as_text=True) for c in ("AR", "AR,UY")]
    regions = [p[p.index("Region (all countries)"):].split("</tr>")[0] for p in pages]
    assert regions[0] == regions[1]


# ----------------------------------------------------------------------------- quartile inversion


@pytest.mark.parametrize("n", [3, 4, 5])
def test_quartile_inversion(world, staff_client, n):
    values = {3: ((1, 1, 1), (3, 3, 3), (5, 5, 5)), 4: ((1, 1, 1), (2, 2, 3), (3, 4, 4), (5, 5, 5)), 5: FIVE}[n]
    for i, t in enumerate(values):
        world.add(f"PE{i}", "PE", t)
    data = api(staff_client, "countries=PE")
    for key, c in data["groups"]["PE"].items():
        if n < 5:
            assert c == {"n": n, "suppressed": True}, (n, key)
            continue
        assert set(c) == {"n", "suppressed", "median", "q1", "q3", "mean"}
        # x1 = 2 q1 - median and x_n = 2 q3 - median (exact for n = 3), each quartile +- half the grid
        half = QUANTILE[scale_of(key)] / 2
        truths = sorted(index_of(t) if key == "index" else score(t) for t in values)
        for estimate, truth in ((2 * F(c["q1"]) - F(c["median"]), truths[0]), (2 * F(c["q3"]) - F(c["median"]), truths[-1])):
            tolerance = INDEX_TOLERANCE if key == "index" else LEVEL_TOLERANCE
            assert abs(estimate - truth) >= tolerance, (key, estimate, truth)
        # the quartiles of five are order statistics (x2, x3, x4): published only to the half level / 10 points
        for q in ("q1", "median", "q3"):
            assert F(c[q]) % QUANTILE[scale_of(key)] == 0
            assert 3 * half > (INDEX_TOLERANCE if key == "index" else LEVEL_TOLERANCE)


# ----------------------------------------------------------------------------- the histogram of one


def test_no_histogram_for_a_group_of_one(world, staff_client):
    world.add("UY", "UY", (4, 4, 4))
    data = api(staff_client, "countries=UY")
    assert data["index_histogram"] == {"edges": [], "counts": []}
    page = staff_client.get("/compare?version=1.1&countries=UY&lang=en").get_data(as_text=True)
    assert "Distribution of the overall index" not in page
    pdf = pdf_text(staff_client, "/compare/report.pdf?version=1.1&countries=UY&lang=en")
    assert "Distribution of the overall index" not in pdf and "Aggregates only" in pdf


def test_histogram_bars_hold_at_least_five_and_differ_by_one_only_in_a_wide_bar(world, staff_client):
    for i, t in enumerate(FIVE):
        world.add(f"AR{i}", "AR", t)
    world.add("AR5", "AR", (4, 4, 4))
    world.set("AR5", submitted_at=datetime(2031, 1, 2, tzinfo=UTC))
    before = api(staff_client, "countries=AR&date_to=2031-01-01")["index_histogram"]
    after = api(staff_client, "countries=AR")["index_histogram"]
    for h in (before, after):
        assert all(count >= 5 for count in h["counts"])
        widths = [F(b) - F(a) for a, b in zip(h["edges"], h["edges"][1:], strict=False)]
        assert all(w >= 20 for w in widths)  # one more institution can only be placed within >= 20 points


# ----------------------------------------------------------------------------- the member's benchmark


def test_member_benchmark_in_a_country_of_three(app, world):
    for i, t in enumerate(((2, 2, 2), (3, 3, 3), (5, 5, 5))):
        world.add(f"PE{i}", "PE", t)
    c = app.test_client()
    login(c, world.members["PE0"])
    set_language(c, "en")
    response = c.get(f"/assessments/{world.assessments['PE0']}/results")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    stands = page[page.index("Where the institution stands"):]
    stands = stands[:stands.index("</table>")]
    rows = stands.split("<tr>")[2:]
    assert len(rows) == 6
    for row in rows:
        cells = [x.split("</td>")[0] for x in row.split('class="num">')[1:]]
        # own 2.00, then the country and the region: no median of the member and two others
        assert cells[0] == "2.00" and fewer_others("en") in cells[1] and fewer_others("en") in cells[2], row
    pdf = pdf_text(c, f"/assessments/{world.assessments['PE0']}/report.pdf")
    assert tr("es", "—: not shown, because fewer than %(n)s other institutions have a score there.") % {"n": 5} in pdf and "3,00" not in pdf.split(tr("es", "Where the institution stands"))[1].split("Plan")[0]


def test_member_benchmark_shown_from_five_others_on_the_half_level(app, world):
    for i, t in enumerate(((2, 2, 2), *FIVE)):
        world.add(f"PE{i}", "PE", t)
    c = app.test_client()
    login(c, world.members["PE0"])
    set_language(c, "en")
    page = c.get(f"/assessments/{world.assessments['PE0']}/results").get_data(as_text=True)
    stands = page[page.index("Where the institution stands"):]
    stands = stands[:stands.index("</table>")]
    # 1 2 2.33 3 3.67 5 -> median (2.33 + 3) / 2 = 2.67 -> 2.50 on the half level
    assert "2.50" in stands and "2.67" not in stands


# ----------------------------------------------------------------------------- differencing through the other filters


@pytest.mark.parametrize("how", ["date", "type", "sector", "round"])
def test_differencing_through_filters_by_one_institution(world, staff_client, app, how):
    # 1.33 2.33 3.00 3.67 4.67; the target 3.67 lands next to the middle, where the exact medians would give
    # it back as 2 * median(6) - median(5)
    base = ((1, 1, 2), (2, 2, 3), (3, 3, 3), (3, 4, 4), (4, 5, 5))
    for i, t in enumerate(base):
        world.add(f"AR{i}", "AR", t, type="training_centre", sector="public")
    target = (4, 4, 3)
    world.add("X", "AR", target, type="university" if how == "type" else "training_centre",
              sector="private" if how == "sector" else "public")
    if how == "date":
        for key in world.assessments:
            world.set(key, submitted_at=datetime(2031, 1, 1, tzinfo=UTC))
        world.set("X", submitted_at=datetime(2031, 1, 2, tzinfo=UTC))
        small, large = "date_to=2031-01-01", "date_to=2031-01-02"
    elif how == "type":
        small, large = "type=training_centre", ""
    elif how == "sector":
        small, large = "sector=public", ""
    else:
        for key in world.assessments:
            world.set(key, round_number=1)
        world.set("X", round_number=2)
        small, large = "round=1", ""
    a = api(staff_client, f"countries=AR&{small}")
    b = api(staff_client, f"countries=AR&{large}")
    assert b["groups"]["AR"]["policy"]["n"] == a["groups"]["AR"]["policy"]["n"] + 1 == 6
    ran = attack_pair(a, b, "AR", target, how) + attack_pair(a, b, "ALL", target, how)
    assert ran >= 14  # the attacks did run on published figures (and failed)


def test_reviewer_gets_the_same_published_aggregates_and_labelled_institution_rows(app, world, factory):
    for i, t in enumerate(FIVE):
        world.add(f"AR{i}", "AR", t)
    c = app.test_client()
    login(c, factory.user("reviewer"))
    set_language(c, "en")
    data = api(c, "countries=AR")
    assert all(F(v) % QUANTILE["level"] == 0 for k, cell in data["groups"]["AR"].items() if k != "index"
               for v in (cell["median"], cell["q1"], cell["q3"]))
    exported = c.get("/compare/export.json?countries=AR&version=1.1").get_json()
    assert "Institution-level data" in exported["institution_level_data"] and len(exported["institution_scores"]) == 5
    csv_text = c.get("/compare/export.csv?countries=AR&version=1.1").get_data(as_text=True)
    assert "INSTITUTION-LEVEL DATA" in csv_text
    page = c.get("/compare?version=1.1&countries=AR&lang=en").get_data(as_text=True)
    assert page.count("Institution-level data") >= 2

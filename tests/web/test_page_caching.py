"""Member pages drawn from cached parts: few SQL statements per page, and cached parts that never show stale, mixed-language
or unescaped content (issue 10, "Pages")."""
from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager
from xml.etree import ElementTree

import pytest
from sqlalchemy import event

from rubric_app.domain.instruments import Text
from rubric_app.extensions import db
from rubric_app.reporting import charts
from rubric_app.web import assess
from tests.conftest import login
from tests.web.helpers import INSTRUMENT, form_fields, set_language, tr

RADIO_CHECKED = re.compile(r'<input type="radio" name="crit_(\w+)" value="(\w+)" checked>')


@contextmanager
def statements(app):
    """The SQL statements the app sends while the block runs."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def checked(page: str) -> dict[str, str]:
    return dict(RADIO_CHECKED.findall(page))


def svgs(page: str) -> list[str]:
    """The page's charts, with the per-page element ids taken out."""
    return [re.sub(r'(clip|group)\d+', r"\1", s) for s in re.findall(r"<svg.*?</svg>", page, flags=re.S)]


@pytest.fixture(autouse=True)
def empty_caches():
    assess.criteria_cache.clear()
    charts.svg_cache.clear()
    yield


# -- statements per page -----------------------------------------------------------------------------------------------

def test_a_dimension_page_costs_five_statements_drawn_and_two_kept(app, member_client, member, factory, rubric):
    blank = factory.assessment(member)
    path = f"/assessments/{blank}/d/{rubric.dimensions[0].id}"
    with statements(app) as drawn:
        assert member_client.get(path).status_code == 200
    with statements(app) as kept:
        assert member_client.get(path).status_code == 200
    member_client.post(f"/assessments/{blank}/discard", data={"version": 1})
    answered = factory.assessment(member, levels=3, na=())
    with statements(app) as full:
        page = member_client.get(f"/assessments/{answered}/d/{rubric.dimensions[0].id}")
    assert page.status_code == 200
    # drawn: the user, the assessment's stamp, the assessment (with its institution), its answers and its events;
    # plan items are not loaded, and many answers cost no more statements than none
    assert len(drawn) <= 5, drawn
    assert len(full) == len(drawn), full
    assert not any("plan_items" in s for s in full)
    # kept (page_cache): the user and the stamp that names the page's state
    assert len(kept) == 2, kept


def test_a_results_page_costs_a_bounded_number_of_statements(app, member_client, member, factory, rubric):
    for _ in range(3):  # peers, so the benchmark has figures
        factory.assessment(factory.user("member"), levels=2, submit=True)
    levels = {c.id: (i % 4) + 1 for i, c in enumerate(rubric.criteria)}
    aid = factory.assessment(member, levels=levels, submit=True)
    with statements(app) as drawn:
        page = member_client.get(f"/assessments/{aid}/results")
    with statements(app) as kept:
        again = member_client.get(f"/assessments/{aid}/results")
        assert no_csrf(again.get_data(as_text=True)) == no_csrf(page.get_data(as_text=True))
    assert page.status_code == 200
    # a kept page is sent as the bytes kept: the same type and character set as a drawn one
    assert again.headers["Content-Type"] == page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.get_data(as_text=True).count('class="plan-item"') >= 10  # a plan of many items costs no more statements
    # user, stamp (with the comparison's freshness check), assessment, events, plan items, answers, the peers' scores,
    # and the previous round
    assert len(drawn) <= 10, drawn
    # kept: the user, and the stamp with the comparison's freshness check in the same statement
    assert len(kept) == 2, kept


# -- the dimension page's cached grid --------------------------------------------------------------------------------

def test_a_changed_answer_shows_at_once(member_client, member, factory, rubric):
    dim = rubric.dimensions[0]
    aid = factory.assessment(member, levels=2)
    path = f"/assessments/{aid}/d/{dim.id}"
    first = member_client.get(path).get_data(as_text=True)
    assert set(checked(first).values()) == {"2"}
    data = form_fields(member_client, path)
    crit = dim.criteria[0]
    data.update({f"crit_{crit.id}": "4", f"evidence_{crit.id}": 'Acta <b>"firmada"</b> & sellada', "go": "save"})
    assert member_client.post(path, data=data).status_code == 302
    again = member_client.get(path).get_data(as_text=True)
    assert checked(again)[crit.id] == "4"
    assert checked(again)[dim.criteria[1].id] == "2"
    # what the person typed is escaped (the cached grid is joined with markup drawn per request)
    assert "Acta &lt;b&gt;&#34;firmada&#34;&lt;/b&gt; &amp; sellada</textarea>" in again
    assert "<b>\"firmada\"</b>" not in again
    version = re.search(rf'name="ver_{crit.id}" type="hidden" value="(\d+)"', again).group(1)
    assert int(version) > int(re.search(rf'name="ver_{crit.id}" type="hidden" value="(\d+)"', first).group(1))


def test_two_languages_never_share_a_grid(app, member_client, member, factory, rubric):
    dim = rubric.dimensions[0]
    crit = dim.criteria[0]
    in_spanish = factory.assessment(member, levels=3, language="es")
    page_es = member_client.get(f"/assessments/{in_spanish}/d/{dim.id}").get_data(as_text=True)
    assert crit.descriptors[3]("es") in page_es and crit.descriptors[3]("pt") not in page_es
    set_language(member_client, "pt")  # the interface in Portuguese, the instrument still in Spanish
    page_pt_ui = member_client.get(f"/assessments/{in_spanish}/d/{dim.id}").get_data(as_text=True)
    assert tr("pt", "Not applicable") in page_pt_ui and tr("es", "Not applicable") not in page_pt_ui
    assert f'<span class="desc" lang="es">{crit.descriptors[3]("es")}' in page_pt_ui  # marked: it differs from the interface
    set_language(member_client, "es")
    assert '<span class="desc" lang="es">' not in member_client.get(f"/assessments/{in_spanish}/d/{dim.id}").get_data(as_text=True)
    # another institution's draft in Portuguese, same dimension, same interface language
    other = factory.user("member")
    in_portuguese = factory.assessment(other, levels=3, language="pt")
    client = app.test_client()
    login(client, other)
    set_language(client, "es")
    page_pt = client.get(f"/assessments/{in_portuguese}/d/{dim.id}").get_data(as_text=True)
    assert crit.descriptors[3]("pt") in page_pt and crit.descriptors[3]("es") not in page_pt
    assert len(assess.criteria_cache) == 3  # es/es, pt interface/es, es interface/pt


def test_each_version_of_the_instrument_has_its_own_grid(app, member, registry):
    versions = [r for r in registry.rubrics() if r.id == INSTRUMENT]
    assert len(versions) >= 2
    with app.test_request_context("/"):
        drawn = {r.version: assess.static_criteria(r, r.dimensions[0], 1, "es") for r in versions}
    for r in versions:
        crit = r.dimensions[0].criteria[0]
        assert crit.title("es") in drawn[r.version][crit.id].head
    assert len(assess.criteria_cache) == len(versions)


def test_instrument_text_stays_escaped_in_the_cached_grid(app, rubric):
    dim = rubric.dimensions[0]
    crit = dim.criteria[0]
    hostile = Text({"es": '<script>alert("x")</script> & más'})
    changed = dataclasses.replace(crit, descriptors={**crit.descriptors, 3: hostile}, guidance=hostile)
    dim2 = dataclasses.replace(dim, criteria=(changed, *dim.criteria[1:]))
    rubric2 = dataclasses.replace(rubric, hash="0" * 64)
    with app.test_request_context("/"):
        drawn = assess.static_criteria(rubric2, dim2, 1, "es")[crit.id]
        grid = str(drawn.grid("3"))
        again = str(assess.static_criteria(rubric2, dim2, 1, "es")[crit.id].grid("3"))  # from the cache
    for html in (grid, str(drawn.head), again):
        assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; más" in grid
    assert "&lt;script&gt;" in str(drawn.head)
    assert 'value="3" checked>' in grid and grid.count("checked") == 1
    assert grid == again


# -- charts -----------------------------------------------------------------------------------------------------------

def test_charts_are_drawn_once_per_content_and_redrawn_when_a_score_changes(app, member_client, member, factory, rubric):
    app.config["PAGE_CACHE"] = False  # every load draws the page: the charts' own cache is what is measured
    aid = factory.assessment(member, levels=2)
    results = f"/assessments/{aid}/results"
    first = svgs(member_client.get(results).get_data(as_text=True))
    assert len(first) == 2  # the radar and the benchmark
    misses = charts.svg_cache.misses
    assert svgs(member_client.get(results).get_data(as_text=True)) == first
    assert charts.svg_cache.misses == misses and charts.svg_cache.hits >= 2
    dim = rubric.dimensions[0]
    path = f"/assessments/{aid}/d/{dim.id}"
    data = form_fields(member_client, path)
    data.update({f"crit_{c.id}": "5" for c in dim.criteria})
    data["go"] = "save"
    assert member_client.post(path, data=data).status_code == 302
    changed = svgs(member_client.get(results).get_data(as_text=True))
    assert changed[0] != first[0] and changed[1] != first[1]
    assert "5,00" in changed[1]  # the new score, written for the interface's language


def test_chart_languages_never_mix(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=3)
    es = svgs(member_client.get(f"/assessments/{aid}/results").get_data(as_text=True))
    pt = svgs(member_client.get(f"/assessments/{aid}/results?lang=pt").get_data(as_text=True))
    set_language(member_client, "en")
    en_ui = svgs(member_client.get(f"/assessments/{aid}/results").get_data(as_text=True))
    assert rubric.dimensions[1].name("es") in es[0] and rubric.dimensions[1].name("pt") in pt[0]
    assert rubric.dimensions[1].name("pt") not in es[0] and rubric.dimensions[1].name("es") not in pt[0]
    assert tr("es", "Current") in es[0] and "Current" in en_ui[0] and es[0] != en_ui[0]
    assert "3,00" in es[1] and "3.00" in en_ui[1]


def test_chart_ids_stay_unique_on_a_page_when_drawn_from_the_cache(member_client, member, factory):
    aid = factory.assessment(member, levels=3)
    member_client.get(f"/assessments/{aid}/results")
    page = member_client.get(f"/assessments/{aid}/results").get_data(as_text=True)
    ids = re.findall(r' id="((?:clip|group)\d+)"', page)
    assert ids and len(ids) == len(set(ids))


def test_cached_chart_labels_are_escaped():
    series = [('<b>"yo" & tú</b>', (1.0, 2.0), charts.CURRENT_COLOUR)]
    svg = charts.grouped_bars_svg(["<script>x</script>", "b"], series, lang="es", title="<i>t</i>")
    again = charts.grouped_bars_svg(["<script>x</script>", "b"], series, lang="es", title="<i>t</i>")
    for markup in (svg, again):
        assert "<script>" not in markup and "<b>" not in markup and "<i>" not in markup
        ElementTree.fromstring(markup)
    assert charts.svg_cache.hits == 1


@pytest.mark.parametrize("draw", ["radar", "bars"])
def test_page_charts_keep_text_at_12_px_on_a_phone(rubric, draw):
    """At 360 px the chart box is 312 px wide (main's padding is 24 px each side): a chart drawn at most that many units
    wide with text of at least 12 units shows its text at 12 px or more (tests/e2e checks it in a browser)."""
    names = [d.name("es") for d in rubric.dimensions]
    series = [("Esta institución", [2.5, 3, None, 4.25, 1, 5], charts.CURRENT_COLOUR),
              ("Mediana del país", [3, 3, 3, None, 2, 4], charts.TARGET_COLOUR)]
    drawing = charts.web_radar_drawing(names, series) if draw == "radar" else charts.web_grouped_bars_drawing(names, series, lang="es")
    svg = ElementTree.fromstring(charts.to_svg(drawing))
    width = float(svg.get("width"))
    sizes = [float(re.search(r"font-size: *([\d.]+)", el.get("style", "")).group(1))
             for el in svg.iter() if el.tag.endswith("text")]
    assert sizes and width <= 312
    assert min(sizes) * 312 / width >= 12
    texts = " ".join(el.text or "" for el in svg.iter() if el.tag.endswith("text"))
    assert names[0].split()[0] in texts


# -- whole pages kept per state (page_cache) ------------------------------------------------------------------------------

def no_csrf(page: str) -> str:
    """The page without its CSRF tokens (signed with the second they were made in)."""
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1"', page)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_a_kept_page_carries_each_session_its_own_csrf_token(app, member, factory, rubric):
    aid = factory.assessment(member, levels=2)
    path = f"/assessments/{aid}/d/{rubric.dimensions[0].id}"
    one, two = app.test_client(), app.test_client()
    login(one, member)
    login(two, member)
    app.config["WTF_CSRF_ENABLED"] = True
    first, second = one.get(path).get_data(as_text=True), two.get(path).get_data(as_text=True)
    assert csrf_of(first) != csrf_of(second)
    assert "csrf-token\x1e" not in second and "\x1e" not in second
    # the kept page's form posts with the token it carries
    data = form_fields(two, path)
    crit = rubric.dimensions[0].criteria[0]
    data.update({f"crit_{crit.id}": "5", "go": "save"})
    assert two.post(path, data=data).status_code == 302


def test_a_kept_page_is_never_shown_to_someone_who_may_not_see_it(app, member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=2)
    path = f"/assessments/{aid}/d/{rubric.dimensions[0].id}"
    assert member_client.get(path).status_code == 200
    other = app.test_client()
    login(other, factory.user("member"))
    assert other.get(path).status_code == 404
    assert other.get(f"/assessments/{aid}/results").status_code == 404
    reader = app.test_client()
    login(reader, factory.user("reviewer"))
    assert reader.get(f"/assessments/{aid}/results").status_code == 404  # a draft is not the reviewers' yet


def test_a_message_is_shown_once_and_the_page_after_it_is_kept_without_it(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=2)
    path = f"/assessments/{aid}/d/{rubric.dimensions[0].id}"
    data = form_fields(member_client, path)
    data.update({"go": "save"})
    assert member_client.post(path, data=data).status_code == 302
    saved = tr("es", "Your answers were saved.")
    assert saved in member_client.get(path).get_data(as_text=True)
    assert saved not in member_client.get(path).get_data(as_text=True)
    assert saved not in member_client.get(path).get_data(as_text=True)


def test_a_kept_results_page_follows_a_peer_submission(app, member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=2, submit=True)
    results = f"/assessments/{aid}/results"
    before = no_csrf(member_client.get(results).get_data(as_text=True))
    assert before == no_csrf(member_client.get(results).get_data(as_text=True))
    for _ in range(3):  # peers in the country: the benchmark gets figures, so the page must change
        factory.assessment(factory.user("member"), levels=4, submit=True)
    after = no_csrf(member_client.get(results).get_data(as_text=True))
    assert after != before
    # (a saved plan item shows at once: tests/web/test_assess.py::test_plan_item_edit_is_saved_and_shown)


def test_the_api_answer_is_kept_per_version_with_its_etag(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=2)
    first = member_client.get(f"/api/v1/assessments/{aid}")
    again = member_client.get(f"/api/v1/assessments/{aid}")
    assert again.get_data() == first.get_data() and again.headers["ETag"] == first.headers["ETag"]
    assert again.get_json()["version"] == int(first.headers["ETag"].strip('W/"'))
    crit = rubric.dimensions[0].criteria[0]
    put = member_client.put(f"/api/v1/assessments/{aid}/answers", json=[{"criterion": crit.id, "level": 4}],
                            headers={"If-Match": first.headers["ETag"]})
    assert put.status_code == 200, put.get_data(as_text=True)
    now = member_client.get(f"/api/v1/assessments/{aid}")
    assert now.headers["ETag"] != first.headers["ETag"]
    assert {a["criterion"]: a["level"] for a in now.get_json()["answers"]}[crit.id] == 4
    assert now.get_json()["version"] == int(now.headers["ETag"].strip('W/"'))


def test_a_session_keeps_one_signed_csrf_token_and_sessions_never_share_one(app, member, factory, rubric, monkeypatch):
    import itertools

    from itsdangerous.timed import TimestampSigner

    from rubric_app.web import page_cache
    page_cache._SIGNED.clear()
    ticks = itertools.count(1_800_000_000)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: next(ticks))  # every signature differs
    aid = factory.assessment(member, levels=2)
    path = f"/assessments/{aid}/d/{rubric.dimensions[0].id}"
    one, two = app.test_client(), app.test_client()
    login(one, member)
    login(two, member)
    app.config["WTF_CSRF_ENABLED"] = True
    tokens_one = {csrf_of(one.get(path).get_data(as_text=True)) for _ in range(3)}
    tokens_two = {csrf_of(two.get(path).get_data(as_text=True)) for _ in range(3)}
    assert len(tokens_one) == 1 and len(tokens_two) == 1 and tokens_one != tokens_two
    assert len(page_cache._SIGNED) == 2
    # a new secret key signs anew: a token signed with the old key is never handed out
    app.secret_key = "another-secret-key-for-this-test"
    app.config.update(SECRET_KEY=app.secret_key, WTF_CSRF_ENABLED=False)
    login(one, member)  # the old key's session cookie no longer holds
    app.config["WTF_CSRF_ENABLED"] = True
    fresh = csrf_of(one.get(path).get_data(as_text=True))
    assert fresh not in tokens_one
    data = form_fields(one, path)
    data.update({"go": "save"})
    assert one.post(path, data=data).status_code == 302


def test_csrf_tokens_with_a_time_limit_are_signed_on_every_request(app, member, factory, rubric):
    from rubric_app.web import page_cache
    page_cache._SIGNED.clear()
    aid = factory.assessment(member, levels=2)
    path = f"/assessments/{aid}/d/{rubric.dimensions[0].id}"
    login(member_client := app.test_client(), member)
    app.config.update(WTF_CSRF_ENABLED=True, WTF_CSRF_TIME_LIMIT=3600)
    member_client.get(path)
    member_client.get(path)
    assert page_cache._SIGNED == {}

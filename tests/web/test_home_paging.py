"""The home page lists the visible self-assessments one page at a time."""
from __future__ import annotations

import re

import pytest

from rubric_app.web import main
from tests.conftest import login


@pytest.fixture
def five_submitted(factory):
    return [factory.assessment(factory.user("member"), levels=3, submit=True) for _ in range(5)]


def listed(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/assessments/(\d+)/results"', page)]


def test_reviewer_home_pages_through_every_assessment_once(app, factory, five_submitted, monkeypatch):
    monkeypatch.setattr(main, "HOME_PAGE_SIZE", 2)
    client = app.test_client()
    login(client, factory.user("reviewer"))
    pages = [client.get("/", query_string={"page": n, "lang": "es"}).get_data(as_text=True) for n in (1, 2, 3)]
    assert [len(listed(p)) for p in pages] == [2, 2, 1]
    assert sorted(i for p in pages for i in listed(p)) == sorted(five_submitted)
    assert listed(pages[0]) == sorted(five_submitted, reverse=True)[:2]  # newest first
    assert "Página 1 de 3" in pages[0] and 'rel="next"' in pages[0] and 'rel="prev"' not in pages[0]
    assert "5 autoevaluaciones" in pages[0] and "del 1 al 2" in pages[0]
    assert 'rel="prev"' in pages[2] and 'rel="next"' not in pages[2]
    # past the last page: the last page; a page number that is not one: refused at the argument
    assert listed(client.get("/?page=99").get_data(as_text=True)) == listed(pages[2])
    for bad in ("0", "abc", "³", "1e3", "99999999999999999999"):
        assert client.get("/", query_string={"page": bad}).status_code == 400


def test_a_member_sees_only_its_own_institution_and_no_pager_for_one_page(app, factory, five_submitted):
    member = factory.user("member")
    own = factory.assessment(member, levels=2, submit=True)
    client = app.test_client()
    login(client, member)
    page = client.get("/").get_data(as_text=True)
    assert listed(page) == [own] and "pager" not in page

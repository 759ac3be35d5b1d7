"""Fixtures for the web tests: a signed-in member and the rubric's dimensions."""
from __future__ import annotations

import pytest

from tests.conftest import login


@pytest.fixture
def member(factory):
    return factory.user("member")


@pytest.fixture
def member_client(client, member):
    login(client, member)
    return client


@pytest.fixture
def dims(rubric):
    """Dimensions by id."""
    return {d.id: d for d in rubric.dimensions}


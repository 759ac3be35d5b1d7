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


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Cheap password hashes for speed (scrypt costs ~0.1 s per hash and per check)."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from rubric_app.services import accounts

    monkeypatch.setattr(accounts, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1000"))

"""Every page each role can reach, rendered in Spanish and in Portuguese, shows neither English
left untranslated nor internal ids.

The pages come from the app's url_map (every GET endpoint that answers with HTML), filled in with
the ids of a seeded world: institutions in two countries, assessments in every state (draft,
submitted, validated with changed levels, returned, a second round), an edited plan, providers,
an open and a frozen selection round with an override, an invitation. A few forms are also sent
with mistakes, since their error messages are pages too.

What a page shows is its text outside <script>/<style> plus the attributes people meet (alt,
title, aria-label, placeholder, the value of buttons). It fails on
  (a) an English msgid of the catalogs whose Spanish (Portuguese) translation differs from it or
      is missing: a whole text node for one-word msgids, anywhere in the text for longer ones;
  (b) an internal id: ids of the instrument files (instrument, dimension, criterion, category,
      item, eligibility and commitment ids), snake_case codes (``validated_level``,
      ``national_service``) and status codes shown alone (``submitted→draft``).
Text inside <code> (file layouts people must type) and inside an element whose ``lang`` differs
from the page's (instrument wording in the assessment's language) is left out of (a); <code> is
also left out of (b).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from html.parser import HTMLParser
from itertools import product
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po

from rubric_app.extensions import db
from tests.conftest import PASSWORD, Factory, make_app

TRANSLATIONS = Path(__file__).resolve().parents[2] / "rubric_app" / "translations"
RUBRIC_DEFS = Path(__file__).resolve().parents[2] / "rubric_defs"
LANGS = ("es", "pt")
ROLES = ("anonymous", "member", "reviewer", "staff", "admin")
INSTRUMENT = "ifp-migrant-inclusion"
PROVIDERS = "sde-provider-assessment"
#: shown in their own language on purpose (the language switcher)
ENDONYMS = {"English", "Español", "Português", "ES", "EN", "PT"}
#: GET endpoints that answer with a file, JSON or a redirect only
NOT_PAGES = {"static", "main.health", "main.set_language", "auth.logout"}
FILE_RULE = re.compile(r"\.(pdf|zip|csv|xlsx|json|<fmt>)$")
STATUS_CODES = {"draft", "submitted", "validated", "returned", "open", "frozen", "todo", "in_progress", "done"}


# ----------------------------------------------------------------------------- visible text


@dataclass
class Segment:
    text: str
    #: inside <code>/<kbd>/<samp>
    code: bool
    #: inside an element whose lang differs from the page's
    other_lang: bool
    #: a data-* attribute (messages scripts show), looked at for English only
    data: bool = False


class _Visible(HTMLParser):
    SKIP = {"script", "style", "template"}
    CODE = {"code", "kbd", "samp"}
    SHOWN_ATTRS = {"alt", "title", "aria-label", "placeholder"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, page_lang: str):
        super().__init__(convert_charrefs=True)
        self.page_lang = page_lang
        self.stack: list[tuple[str, str | None]] = []  # (tag, lang)
        self.segments: list[Segment] = []

    def _state(self) -> tuple[bool, bool, bool]:
        skip = any(tag in self.SKIP for tag, _ in self.stack)
        code = any(tag in self.CODE for tag, _ in self.stack)
        langs = [lang for _, lang in self.stack if lang is not None]
        other = bool(langs) and not langs[-1].lower().startswith(self.page_lang)
        return skip, code, other

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.page_lang = (attrs.get("lang") or self.page_lang)[:2]
        if tag not in self.VOID:
            self.stack.append((tag, attrs.get("lang")))
        skip, code, other = self._state()
        if tag in self.VOID:  # not on the stack: its own lang counts for its attributes
            other = other or bool(attrs.get("lang") and not attrs["lang"].lower().startswith(self.page_lang))
        if skip:
            return
        for name, value in attrs.items():
            if not value:
                continue
            if name in self.SHOWN_ATTRS or (name == "value" and tag in ("input", "button")
                                            and (attrs.get("type") or "").lower() in ("submit", "button", "reset")):
                self.segments.append(Segment(value, code, other))
            elif name.startswith("data-") and re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}", value):
                self.segments.append(Segment(value, code, other, data=True))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        skip, code, other = self._state()
        if not skip and data.strip():
            self.segments.append(Segment(data, code, other))


def visible_segments(html: str, page_lang: str) -> list[Segment]:
    parser = _Visible(page_lang)
    parser.feed(html)
    parser.close()
    for s in parser.segments:
        s.text = re.sub(r"\s+", " ", s.text).strip()
    return [s for s in parser.segments if s.text]


# ----------------------------------------------------------------------------- what must not show


@lru_cache(maxsize=None)
def _catalog(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdfi]|%[sdfi]|\{[a-z_]+\}")


def _pattern(msgid: str) -> re.Pattern | None:
    parts = PLACEHOLDER.split(msgid)
    literal = "".join(parts)
    if len(re.findall(r"[A-Za-z]{2,}", literal)) < 2:
        return None
    body = r".{1,80}?".join(r"\s+".join(re.escape(w) for w in part.split()) if part.strip() else "" for part in parts)
    return re.compile(r"(?<![A-Za-z])" + body + r"(?![A-Za-z])")


@lru_cache(maxsize=None)
def english_msgids(lang: str) -> tuple[frozenset[str], tuple[tuple[str, str, re.Pattern], ...]]:
    """(one-word msgids, (msgid, its longest literal part, pattern) of longer ones) whose ``lang``
    translation is missing, fuzzy or different."""
    translations: dict[str, set[str]] = {}
    for message in _catalog(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        for msgid in ids:
            translations.setdefault(msgid, set()).update(s for s in strings if s)
    words, phrases = set(), []
    for msgid, strings in translations.items():
        # the same in the language under some context ("Status" in Portuguese): shown as is, it may be right
        if msgid in strings or len(msgid.strip()) <= 2 or not re.search(r"[A-Za-z]{3,}", msgid):
            continue
        core = msgid.strip(" .:·…→←")
        if core in ENDONYMS:
            continue
        pattern = _pattern(msgid)
        if pattern is not None:
            key = max((" ".join(part.split()) for part in PLACEHOLDER.split(msgid)), key=len)
            phrases.append((msgid, key, pattern))
        elif not PLACEHOLDER.search(msgid):
            words.add(core)
    return frozenset(words), tuple(phrases)


@lru_cache(maxsize=None)
def language_words(lang: str) -> frozenset[str]:
    """Words of the language (from its catalog and the instruments' wording): ids that are words
    of the language (``legal``, ``digital``) cannot be told from prose."""
    texts = [" ".join(m.string) if isinstance(m.string, (tuple, list)) else (m.string or "") for m in _catalog(lang)]

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get(lang), str):
                texts.append(node[lang])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(RUBRIC_DEFS.rglob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return frozenset(w.lower() for w in re.findall(r"[^\W\d_]+", " ".join(texts)))


def instrument_ids(registry) -> tuple[set[str], set[str]]:
    """(ids with - or _ , single-word ids) of every instrument file."""
    ids = set()
    for inst in registry.all():
        ids.add(inst.id)
        for name in ("dimensions", "criteria", "categories", "items", "eligibility", "commitments"):
            ids.update(x.id for x in getattr(inst, name, ()) or ())
    joined = {i for i in ids if re.search(r"[-_]", i)}
    return joined, ids - joined


@lru_cache(maxsize=None)
def code_words() -> frozenset[str]:
    """Stored codes that are single words (roles, types, sectors, plan states, audit field names):
    shown alone in a cell, they are a code, not a label."""
    from rubric_app.models import PROVIDER_TYPES, ROLES
    from rubric_app.web import review
    from rubric_app.web.forms import INSTITUTION_TYPE_LABELS, PLAN_STATUS_LABELS, SECTOR_LABELS

    fields = getattr(review, "AUDIT_FIELD_LABELS", {})
    return frozenset({*ROLES, *PROVIDER_TYPES, *INSTITUTION_TYPE_LABELS, *SECTOR_LABELS, *PLAN_STATUS_LABELS, *fields,
                      *STATUS_CODES, "yes"})


SNAKE = re.compile(r"(?<![\w@./-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@/-]|\.[a-z]{2,4}\b)")
TRANSITION = re.compile(r"\b([a-z_]+)\s*(?:→|->)\s*([a-z_]+)\b")
STRIP = re.compile(r"\S+@\S+|https?://\S+")


def problems_on_page(html: str, lang: str, joined_ids: set[str], word_ids: set[str]) -> list[str]:
    """What a page in ``lang`` shows that it should not: English msgids and internal ids, sorted."""
    found = []
    words, phrases = english_msgids(lang)
    segments = visible_segments(html, lang)
    prose = [s for s in segments if not s.code and not s.other_lang]
    for s in prose:
        if s.text.strip(" .:·…→←()*") in words:
            found.append(f"English {s.text!r}")
    joined = "\n".join(s.text for s in prose)
    matches = [(m.start(), m.end(), msgid) for msgid, key, pattern in phrases if key in joined for m in pattern.finditer(joined)]
    spans = {}
    for start, end, msgid in matches:  # one msgid per stretch of text, the literal one first
        if (start, end) not in spans or msgid == joined[start:end]:
            spans[(start, end)] = msgid
    for (start, end), msgid in spans.items():
        # "To review" inside an untranslated "To review and validated" is the longer msgid's fault
        if not any(a <= start and end <= b and (a, b) != (start, end) for a, b in spans):
            found.append(f"English {msgid!r} (shown: {joined[start:end][:100]!r})")
    lang_words = language_words(lang)
    for s in segments:
        if s.code or s.data:
            continue
        text = STRIP.sub(" ", s.text)
        for token in SNAKE.findall(text):
            found.append(f"internal id {token!r} in {s.text[:100]!r}")
        for token in re.findall(r"[\w-]+", text):
            if "-" in token and token in joined_ids:
                found.append(f"internal id {token!r} in {s.text[:100]!r}")
        bare = text.strip(" .:·…()")
        if bare in word_ids and bare.lower() not in lang_words:
            found.append(f"internal id {bare!r}")
        if bare in code_words() and bare.lower() not in lang_words:
            found.append(f"code {bare!r}")
        for a, b in TRANSITION.findall(text):
            if a in STATUS_CODES or b in STATUS_CODES:
                found.append(f"status codes {a}→{b}")
    return sorted(set(found))


# ----------------------------------------------------------------------------- the seeded world


@dataclass
class World:
    app: object
    emails: dict[str, str]
    values: dict[str, list] = field(default_factory=dict)


def _in_session(app, fn):
    with app.app_context():
        s = db.new_session()
        try:
            result = fn(s)
            s.commit()
            return result
        finally:
            s.close()


def _assessment(app, user, levels: dict, submit=False, na=()) -> int:
    """An assessment answered in Spanish (the test factory writes criterion ids as evidence)."""
    from rubric_app.domain.scoring import CriterionAnswer
    from rubric_app.services import assessments as svc

    def build(s):
        registry = app.extensions["instruments"]
        u = s.merge(user)
        a = svc.start_assessment(s, registry, u, instrument_id=INSTRUMENT, language="es")
        answers = [CriterionAnswer(c, None, True, "No ofrecemos ese servicio") if c in na
                   else CriterionAnswer(c, level, False, "", None, "Acta del comité de admisión")
                   for c, level in levels.items()]
        svc.save_answers(s, registry, u, a, answers)
        if submit:
            svc.submit(s, registry, u, a)
        return a.id

    return _in_session(app, build)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from werkzeug.security import generate_password_hash

    from rubric_app.services import accounts

    with pytest.MonkeyPatch.context() as mp:  # cheap password hashes, as tests/conftest.py's autouse fixture does per test
        mp.setattr(accounts, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1000"))
        yield from _world(tmp_path_factory)


def _world(tmp_path_factory):
    from rubric_app.models import Institution, User
    from rubric_app.services import accounts
    from rubric_app.services import assessments as asvc
    from rubric_app.services import review as rsvc
    from rubric_app.services import selection as sel
    from rubric_app.services.providers import provider_instrument, save_provider, seed_synthetic_providers

    app = make_app(tmp_path_factory.mktemp("every-page"))
    registry = app.extensions["instruments"]
    rubric = registry.latest(INSTRUMENT)
    factory = Factory(app)
    crits = [c.id for c in rubric.criteria]

    members, assessments = [], []
    for i, (country, itype) in enumerate([("PE", "national_service"), ("PE", "training_centre"), ("PE", "ngo"),
                                          ("CO", "technical_institute"), ("CO", "national_service"), ("CO", "other")]):
        inst = factory.institution(name=f"Instituto {country} {i + 1}", country=country, type=itype)
        member = factory.user(institution=inst, email=f"ifp{i + 1}@example.org")
        members.append(member)
        levels = {c: ((i + j) % 4) + 1 for j, c in enumerate(crits)}
        assessments.append(_assessment(app, member, levels, submit=True, na=(crits[2],) if i == 0 else ()))
    reviewer = factory.user("reviewer", email="reviewer@example.org")
    staff = factory.user("staff", email="staff@example.org")
    admin = factory.user("admin", email="admin@example.org")

    def review(s):
        r = s.merge(reviewer)
        entries = [rsvc.ReviewEntry(c, None if (c == crits[2]) else ((j % 4) + 1 if j != 0 else 5),
                                    "Sin acta que lo respalde" if j == 0 else "") for j, c in enumerate(crits)]
        rsvc.save_review(s, registry, r, assessments[0], entries, then_validate=True, validate_comment="Validada")
        rsvc.return_to_institution(s, r, assessments[1], "Adjunte el convenio con el servicio público de empleo.")

    _in_session(app, review)
    # the first institution's second round (a draft copied from the first), with an edited plan on the first
    second = _in_session(app, lambda s: asvc.start_assessment(s, registry, s.merge(members[0]), instrument_id=INSTRUMENT,
                                                              language="es", from_previous=True).id)
    draft_member = factory.user(institution=factory.institution(name="CETPRO Borrador", country="PE"), email="draft@example.org")
    draft = _assessment(app, draft_member, {crits[0]: 2, crits[1]: 3})

    def plan_edit(s):
        items = asvc.plan(registry, asvc.get_assessment(s, s.merge(members[2]), assessments[2]))
        if items:
            asvc.update_plan_item(s, registry, s.merge(members[2]), assessments[2], items[0].criterion_id,
                                  responsible="Jefa de admisión", due_date=date(date.today().year + 1, 6, 30),
                                  status="in_progress", note="Con la SPE", seen_version=0)

    _in_session(app, plan_edit)
    invitation_token = _in_session(app, lambda s: accounts.invite(s, s.merge(members[3]), "colega@example.org")[1])
    role_changed = factory.user("reviewer", email="antes-revisora@example.org")

    def administer(s):  # the history tables of the admin pages get a row of each kind
        from rubric_app.services import admin as adm

        a = s.merge(admin)
        target = s.get(User, role_changed.id)
        adm.change_role(s, a, target.id, role="staff", institution_id=None, expected_version=target.version)
        s.commit()
        adm.set_active(s, a, target.id, active=False, expected_version=s.get(User, target.id).version)
        s.commit()
        inst = s.get(Institution, members[0].institution_id)
        adm.update_institution(s, a, inst.id, {"name": inst.name, "city": "Cusco", "country": "PE", "type": "ngo",
                                               "sector": "private"}, expected_version=inst.version)

    _in_session(app, administer)

    instrument = provider_instrument(registry)

    def providers(s):
        seed_synthetic_providers(s, instrument, 16, 2026)
        p = save_provider(s, s.merge(staff), instrument, {
            "code": "PE-901", "name": "Cámara de Comercio de Lima Norte", "country": "PE", "city": "Lima", "type": "chamber",
            "contact_name": "Ana Pérez", "contact_email": "ana@example.org", "contact_phone": "+51 1 555 0101",
            "facts": {f.id: True for f in instrument.eligibility},
            "item_scores": {item.id: 3 for cat in instrument.categories for item in cat.items}})
        return p.id

    provider_id = _in_session(app, providers)
    settings = {"knockouts": [f.id for f in instrument.eligibility], "rule": "quota", "default_quota": 2, "draws": 20, "seed": 7,
                "include_synthetic": True}

    def rounds(s):
        st = s.merge(staff)
        open_round = sel.create_round(s, registry, st, "Ronda abierta", settings)
        frozen = sel.create_round(s, registry, st, "Ronda congelada", settings)
        results = sel.final_results(frozen)
        chosen = next((r for r in results if not r.get("selected")), results[0])  # an override against the rule
        sel.set_override(s, st, frozen, chosen["code"], not chosen.get("selected"), "Conflicto de interés resuelto")
        sel.freeze(s, st, frozen)
        return open_round.id, frozen.id, [r["code"] for r in sel.final_results(frozen) if r.get("selected")][:2]

    open_round, frozen_round, codes = _in_session(app, rounds)

    w = World(app, {"member": members[0].email, "reviewer": reviewer.email, "staff": staff.email, "admin": admin.email})
    w.values = {
        "assessment_id": [*assessments, second, draft],
        "dimension_id": [d.id for d in rubric.dimensions],
        "provider_id": [provider_id],
        "round_id": [open_round, frozen_round],
        "code": codes,
        "user_id": [members[0].id, members[3].id, reviewer.id, staff.id, role_changed.id],
        "institution_id": [members[0].institution_id],
        "token": [invitation_token, "not-a-token"],
    }
    w.member_ids = {"draft_member": draft_member.email}
    yield w
    with app.app_context():
        db.engine.dispose()


def page_urls(app, values: dict) -> list[str]:
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.endpoint.startswith("api.") \
                    or FILE_RULE.search(rule.rule):
                continue
            args = sorted(rule.arguments)
            if any(a not in values for a in args):
                continue
            for combo in product(*(values[a] for a in args)):
                urls.append(url_for(rule.endpoint, **dict(zip(args, combo))))
    return urls


# Forms sent with mistakes: their answers are pages too (role, url, data).
MISTAKES = [
    ("anonymous", "/register", {"institution_name": "", "country": "", "email": "no-es-un-correo", "password": "corta",
                                "confirm": "otra"}),
    ("anonymous", "/login", {"email": "nadie@example.org", "password": "equivocada-123"}),
    ("anonymous", "/forgot", {"email": "no-es-un-correo"}),
    ("member", "/account/password", {"current": "equivocada", "password": "corta", "confirm": "otra"}),
    ("staff", "/providers/new", {"code": "", "name": "", "country": "", "contact_email": "not-an-email", "contact_phone": "abc"}),
    ("staff", "/rounds/new", {"name": "", "weight_marketing": "abc", "rule": "quota", "default_quota": "-1", "draws": "x"}),
    ("staff", "/providers/import", {"dry_run": "1"}),
]


def _client(world, role, lang):
    client = world.app.test_client()
    if role != "anonymous":
        response = client.post("/login", data={"email": world.emails[role], "password": PASSWORD})
        assert response.status_code == 302, (role, response.status_code)
    response = client.post("/language", data={"lang": lang})
    assert response.status_code == 302
    return client


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_is_translated(world, role, lang):
    registry = world.app.extensions["instruments"]
    joined_ids, word_ids = instrument_ids(registry)
    client = _client(world, role, lang)
    checked, failures, crashes = 0, {}, []
    for url in page_urls(world.app, world.values):
        response = client.get(url)
        if response.status_code >= 500:
            crashes.append(f"{url}: {response.status_code}")
            continue
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        checked += 1
        found = problems_on_page(response.get_data(as_text=True), lang, joined_ids, word_ids)
        if found:
            failures[url] = found
    for who, url, data in MISTAKES:
        if who != role:
            continue
        response = client.post(url, data=data)
        if response.status_code >= 500:
            crashes.append(f"POST {url}: {response.status_code}")
        elif response.mimetype == "text/html" and response.status_code != 302:
            checked += 1
            found = problems_on_page(response.get_data(as_text=True), lang, joined_ids, word_ids)
            if found:
                failures[f"POST {url}"] = found
    assert checked >= (4 if role == "anonymous" else 8), f"only {checked} pages rendered for {role}"
    report = [f"{url}:\n      " + "\n      ".join(found) for url, found in failures.items()]
    assert not crashes and not failures, (f"{role} in {lang}: {len(failures)} of {checked} pages show English or internal ids"
                                          + "".join(f"\n  {c}" for c in crashes) + "".join(f"\n  {r}" for r in report))


def test_the_checks_see_english_and_ids():
    """The detector itself: English msgids, snake_case codes and instrument ids are found; prose,
    <code>, e-mail addresses and text marked in another language are not."""
    words, phrases = english_msgids("es")
    assert words and phrases
    one_word = sorted(words)[0]
    page = (f'<html lang="es"><body><p>{one_word}</p><p>Estado: validated_level</p>'
            '<p>ifp-migrant-inclusion v1.0</p><p>submitted→draft</p>'
            '<code>entrepreneurship_training</code><p>rosa_q@example.org</p>'
            '<p lang="en">Institution name</p><script>var x_y = 1;</script></body></html>')
    found = problems_on_page(page, "es", {"ifp-migrant-inclusion"}, {"policy"})
    assert f"English {one_word!r}" in found
    assert any("validated_level" in f for f in found)
    assert any("ifp-migrant-inclusion" in f for f in found)
    assert any("submitted→draft" in f for f in found)
    assert "code 'reviewer'" in problems_on_page('<html lang="es"><body><td>reviewer</td></body></html>', "es", set(), set())
    assert not any("entrepreneurship_training" in f or "rosa_q" in f or "x_y" in f for f in found), found
    assert problems_on_page('<html lang="es"><body><p>Política institucional</p></body></html>', "es", set(), {"policy"}) == []

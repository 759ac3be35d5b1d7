"""Provider import/export (rubric_app.services.provider_io): templates, round trips, upsert, errors."""
from __future__ import annotations

import codecs
import csv
import io
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event, func, select

from rubric_app.domain.instruments import PROVIDER_SCALE, load_definition
from rubric_app.extensions import db
from rubric_app.models import PROVIDER_TYPES, Provider
from rubric_app.services import provider_io as pio

MINI_PATH = Path(__file__).resolve().parents[1] / "data" / "import" / "mini_providers.yaml"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def instrument(app):
    """The registry's provider instrument (rubric_defs/sde_providers), else the mini fixture."""
    found = app.extensions["instruments"].provider_instruments()
    return found[-1] if found else load_definition(MINI_PATH)


@pytest.fixture(scope="module")
def mini():
    return load_definition(MINI_PATH)


@pytest.fixture
def session(app):
    with app.app_context():
        s = db.new_session()
        yield s
        s.close()


@pytest.fixture
def fresh(app):
    """Open a new session (to see what is really in the database, not the identity map)."""
    opened = []

    def make():
        s = db.new_session()
        opened.append(s)
        return s

    with app.app_context():
        yield make
        for s in opened:
            s.close()


@pytest.fixture
def writes(app):
    """The INSERT/UPDATE/DELETE statements the engine runs during the test."""
    seen: list[str] = []

    def listener(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", listener)
        yield seen
        event.remove(engine, "before_cursor_execute", listener)


def row(instrument, code="PE-001", **overrides) -> dict:
    """One valid file row as {column: text}; overrides by column name."""
    values = {
        "code": code, "name": f"Proveedor {code}", "country": "PE", "city": "Lima", "type": "ngo",
        "contact_name": "Ana Pérez", "contact_email": "ana@example.org", "contact_phone": "+51 1 234 5678",
    }
    for i, fact in enumerate(instrument.eligibility):
        values[fact.id] = "yes" if i % 2 == 0 else "no"
    for i, item in enumerate(instrument.items):
        values[item.id] = str(i % 5)
    values.update(overrides)
    return values


def csv_file(instrument, rows, *, columns=None, delimiter=",", encoding="utf-8-sig") -> bytes:
    cols = columns or pio.columns(instrument)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(cols)
    for r in rows:
        writer.writerow([r.get(c, "") for c in cols] if isinstance(r, dict) else r)
    return buf.getvalue().encode(encoding)


def xlsx_file(rows_of_cells, *, sheet="providers") -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for cells in rows_of_cells:
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def where(problems) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.value) for p in problems]


def count_providers(session) -> int:
    return session.scalar(select(func.count()).select_from(Provider))


def add_provider(session, instrument, code="PE-001", **kw) -> Provider:
    values = dict(
        code=code, name=f"Proveedor {code}", country="PE", city="Lima", type="ngo",
        contact_name="Ana Pérez", contact_email="ana@example.org", contact_phone="+51 1 234 5678",
        facts={f.id: i % 2 == 0 for i, f in enumerate(instrument.eligibility)},
        item_scores={item.id: i % 5 for i, item in enumerate(instrument.items)},
    )
    values.update(kw)
    p = Provider(**values)
    session.add(p)
    session.commit()
    return p


# --------------------------------------------------------------------------- layout and templates


def test_columns_are_fixed_then_facts_then_items_in_instrument_order(instrument):
    cols = pio.columns(instrument)
    n_facts = len(instrument.eligibility)
    assert cols[:8] == ["code", "name", "country", "city", "type", "contact_name", "contact_email", "contact_phone"]
    assert cols[8:8 + n_facts] == [f.id for f in instrument.eligibility]
    assert cols[8 + n_facts:] == [i.id for cat in instrument.categories for i in cat.items]
    assert len(cols) == len(set(cols))


def test_template_csv_is_bom_and_header_only(instrument):
    data = pio.template_csv(instrument)
    assert data.startswith(codecs.BOM_UTF8)
    lines = data[len(codecs.BOM_UTF8):].decode("utf-8").splitlines()
    assert lines == [",".join(pio.columns(instrument))]


def test_template_xlsx_header_sheets_and_aids(instrument):
    wb = load_workbook(io.BytesIO(pio.template_xlsx(instrument)))
    assert wb.sheetnames == ["providers", "legend"]
    ws = wb["providers"]
    cols = pio.columns(instrument)
    header = [c.value for c in ws[1]]
    assert header == cols
    assert ws.max_row == 1
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "B2"
    assert ws.column_dimensions["B"].width == 40  # name
    assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[1])

    letter = {c.value: c.column_letter for c in ws[1]}
    validations = ws.data_validations.dataValidation
    by_kind = {}
    for dv in validations:
        by_kind.setdefault((dv.type, dv.formula1), []).append(str(dv.sqref))
    type_ranges = by_kind[("list", '"' + ",".join(PROVIDER_TYPES) + '"')]
    assert any(r.startswith(f"{letter['type']}2:") for r in type_ranges)
    yes_no = " ".join(by_kind[("list", '"yes,no"')])
    for fact in instrument.eligibility:
        assert f"{letter[fact.id]}2:" in yes_no
    (score_dv,) = [dv for dv in validations if dv.type == "whole"]
    assert (score_dv.operator, score_dv.formula1, score_dv.formula2) == ("between", "0", "4")
    for item in instrument.items:
        assert f"{letter[item.id]}2:" in str(score_dv.sqref)

    legend = wb["legend"]
    rows = [[c.value for c in r] for r in legend.iter_rows()]
    assert rows[0][:4] == ["column", "es", "en", "pt"]
    by_id = {r[0]: r for r in rows if r and r[0] is not None}
    for col in cols:
        assert col in by_id, col
    fact = instrument.eligibility[0]
    assert by_id[fact.id][1:4] == [fact.text("es"), fact.text("en"), fact.text("pt")]
    item = instrument.items[0]
    assert item.text("pt") in by_id[item.id][3]
    scale_rows = {r[0]: r[1:4] for r in rows if isinstance(r[0], int)}
    assert sorted(scale_rows) == list(PROVIDER_SCALE)
    for point in instrument.scale:
        assert scale_rows[point.value] == [point.name("es"), point.name("en"), point.name("pt")]


def test_templates_follow_the_instrument(mini):
    assert pio.template_csv(mini).decode("utf-8-sig").strip() == (
        "code,name,country,city,type,contact_name,contact_email,contact_phone,trains,signs,alpha_one,alpha_two,beta_one"
    )
    ws = load_workbook(io.BytesIO(pio.template_xlsx(mini)))["providers"]
    assert [c.value for c in ws[1]][-3:] == ["alpha_one", "alpha_two", "beta_one"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_templates_import_as_empty(instrument, kind):
    data = pio.template_csv(instrument) if kind == "csv" else pio.template_xlsx(instrument)
    assert pio.parse_file(f"template.{kind}", data, instrument) == ([], [])


# --------------------------------------------------------------------------- parsing good files


def test_parse_normalises_values(mini):
    data = csv_file(mini, [row(mini, "AR-7", country=" ar ", type="University", name="  Fundación Ñandú  ",
                               trains="Sí", signs="", alpha_one=" 3 ", alpha_two="", beta_one="4.0",
                               contact_phone="'+54 11 5555", city="'@home", contact_name="'plain")])
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert problems == []
    (r,) = rows
    assert (r.code, r.country, r.type, r.name) == ("AR-7", "AR", "university", "Fundación Ñandú")
    assert r.facts == {"trains": True, "signs": False}
    assert r.item_scores == {"alpha_one": 3, "alpha_two": None, "beta_one": 4}
    # one apostrophe before = + - @ is the export's escape and comes off; other apostrophes stay
    assert (r.contact_phone, r.city, r.contact_name) == ("+54 11 5555", "@home", "'plain")


@pytest.mark.parametrize("text,expected", [
    ("yes", True), ("YES", True), ("sí", True), ("SI", True), ("Sim", True), ("true", True), ("1", True),
    ("no", False), ("NÃO", False), ("nao", False), ("False", False), ("0", False), ("", False),
])
def test_fact_values_accepted(mini, text, expected):
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, trains=text)]), mini)
    assert problems == []
    assert rows[0].facts["trains"] is expected


def test_columns_in_another_order_are_fine(mini):
    cols = list(reversed(pio.columns(mini)))
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, alpha_two="2")], columns=cols), mini)
    assert problems == []
    assert rows[0].item_scores["alpha_two"] == 2 and rows[0].code == "PE-001"


def test_semicolon_csv(mini):
    data = csv_file(mini, [row(mini, "CO-1", name="Cámara; Norte"), row(mini, "CO-2")], delimiter=";")
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert problems == []
    assert [r.code for r in rows] == ["CO-1", "CO-2"]
    assert rows[0].name == "Cámara; Norte"


def test_cp1252_csv(mini):
    data = csv_file(mini, [row(mini, "DO-1", name="Asociación Peñón", city="São Tomé")], delimiter=";", encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    rows, problems = pio.parse_file("p.CSV", data, mini)
    assert problems == []
    assert (rows[0].name, rows[0].city) == ("Asociación Peñón", "São Tomé")


def test_blank_rows_are_skipped_and_row_numbers_stay_true(mini):
    cols = pio.columns(mini)
    data = csv_file(mini, [row(mini, "A"), [""] * len(cols), [], row(mini, "B", country="Peru")])
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert [r.code for r in rows] == ["A"]
    assert where(problems) == [(5, "country", "Peru")]


def test_short_csv_rows_read_missing_cells_as_blank(mini):
    cols = pio.columns(mini)
    data = (",".join(cols) + "\r\nPE-9,Proveedor,PE,,other\r\n").encode()
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert problems == []
    assert rows[0].facts == {"trains": False, "signs": False}
    assert rows[0].item_scores == {"alpha_one": None, "alpha_two": None, "beta_one": None}
    assert rows[0].contact_email == ""


def test_xlsx_numbers_and_booleans(mini):
    cols = pio.columns(mini)
    values = row(mini, "PE-5", contact_phone=51987654321, trains=True, signs=0, alpha_one=3, alpha_two=3.0, beta_one=None)
    rows, problems = pio.parse_file("p.xlsx", xlsx_file([cols, [values[c] for c in cols]]), mini)
    assert problems == []
    r = rows[0]
    assert r.contact_phone == "51987654321"
    assert r.facts == {"trains": True, "signs": False}
    assert r.item_scores == {"alpha_one": 3, "alpha_two": 3, "beta_one": None}


# --------------------------------------------------------------------------- errors


def test_header_missing_unknown_and_duplicated_columns(mini):
    cols = pio.columns(mini)
    bad = [c for c in cols if c not in ("signs", "beta_one")] + ["notes", "city", "Beta_Two"]
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini)], columns=bad), mini)
    assert rows == []
    assert sorted((p.row, p.column, p.value, p.message) for p in problems) == sorted([
        (1, "notes", "notes", "Unknown column."),
        (1, "beta_two", "Beta_Two", "Unknown column."),
        (1, "city", "city", "Duplicated column."),
        (1, "signs", "", "Missing column."),
        (1, "beta_one", "", "Missing column."),
    ])


def test_header_of_an_xlsx_is_checked_too(mini):
    cols = pio.columns(mini)
    rows, problems = pio.parse_file("p.xlsx", xlsx_file([cols[:-1] + ["extra"]]), mini)
    assert rows == []
    assert sorted(where(problems)) == [(1, "beta_one", ""), (1, "extra", "extra")]


def test_blank_required_cells(mini):
    data = csv_file(mini, [row(mini, "OK-1"), row(mini, "", name=" ", country="", type="")])
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert [r.code for r in rows] == ["OK-1"]
    assert where(problems) == [(3, "code", ""), (3, "name", ""), (3, "country", ""), (3, "type", "")]
    assert {p.message for p in problems} == {"A value is required."}


@pytest.mark.parametrize("value", ["5", "-1", "2.5", "abc", "3,0", "1e0", "true"])
def test_scores_out_of_range_or_not_whole(mini, value):
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, alpha_two=value)]), mini)
    assert rows == []
    assert where(problems) == [(2, "alpha_two", value)]
    assert problems[0].message == "The score must be a whole number from 0 to 4."


@pytest.mark.parametrize("value,shown", [(5, "5"), (-1, "-1"), (2.5, "2.5"), (True, "true")])
def test_xlsx_scores_out_of_range(mini, value, shown):
    cols = pio.columns(mini)
    cells = row(mini, beta_one=value)
    rows, problems = pio.parse_file("p.xlsx", xlsx_file([cols, [cells[c] for c in cols]]), mini)
    assert rows == []
    assert where(problems) == [(2, "beta_one", shown)]


def test_bad_fact_value(mini):
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, signs="maybe")]), mini)
    assert rows == []
    assert where(problems) == [(2, "signs", "maybe")]
    assert problems[0].message == "Expected yes or no."


def test_duplicate_codes_point_to_the_first_row(mini):
    data = csv_file(mini, [row(mini, "A"), row(mini, "B"), row(mini, "A"), row(mini, "C"), row(mini, "B"), row(mini, "A")])
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert [r.code for r in rows] == ["A", "B", "C"]
    assert where(problems) == [(4, "code", "A"), (6, "code", "B"), (7, "code", "A")]
    assert [p.params["first_row"] for p in problems] == [2, 3, 2]
    assert problems[1].message == "Duplicate code: it is already used in row 3."


@pytest.mark.parametrize("value", ["Peru", "XX", "P", "PER", "EU"])
def test_unknown_country(mini, value):
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, country=value)]), mini)
    assert rows == []
    assert where(problems) == [(2, "country", value)]


def test_bad_type(mini):
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, type="ONG")]), mini)
    assert rows == []
    assert where(problems) == [(2, "type", "ONG")]
    assert "public_body" in problems[0].message


@pytest.mark.parametrize("column,value", [
    ("code", "-starts-with-dash"), ("code", "has space"), ("code", "x" * 41), ("code", "PE/014"),
    ("contact_email", "ana.example.org"), ("contact_email", "ana@example"), ("contact_email", "a b@example.org"),
])
def test_bad_code_or_email(mini, column, value):
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, **{column: value})]), mini)
    assert rows == []
    assert where(problems) == [(2, column, value)]


@pytest.mark.parametrize("column,limit", [("name", 200), ("city", 120), ("contact_name", 200), ("contact_phone", 60)])
def test_text_length_caps(mini, column, limit):
    ok, _ = pio.parse_file("p.csv", csv_file(mini, [row(mini, **{column: "a" * limit})]), mini)
    assert getattr(ok[0], column) == "a" * limit
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, **{column: "a" * (limit + 1)})]), mini)
    assert rows == []
    assert [(p.row, p.column, p.params) for p in problems] == [(2, column, {"limit": limit})]
    assert problems[0].value.startswith("aaaa")


def test_email_length_cap(mini):
    email = "a" * 250 + "@x.org"
    rows, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, contact_email=email)]), mini)
    assert rows == []
    assert [(p.row, p.column, p.params) for p in problems] == [(2, "contact_email", {"limit": 254})]


def test_value_in_a_column_without_header(mini):
    cols = pio.columns(mini)
    cells = row(mini)
    data = xlsx_file([cols, [cells[c] for c in cols] + [None, "stray"]])
    rows, problems = pio.parse_file("p.xlsx", data, mini)
    assert rows == []
    assert where(problems) == [(2, "", "stray")]
    assert problems[0].params == {"position": len(cols) + 2}


def test_formula_cells_in_xlsx_are_refused(mini):
    cols = pio.columns(mini)
    good = row(mini, "A")
    bad = row(mini, "B", name="=HYPERLINK(\"http://evil\")", alpha_one="=SUM(1,2)")
    data = xlsx_file([cols, [good[c] for c in cols], [bad[c] for c in cols]])
    # openpyxl really stored formulas
    ws = load_workbook(io.BytesIO(data))["providers"]
    assert ws.cell(3, cols.index("alpha_one") + 1).data_type == "f"
    rows, problems = pio.parse_file("p.xlsx", data, mini)
    assert [r.code for r in rows] == ["A"]
    assert where(problems) == [(3, "name", '=HYPERLINK("http://evil")'), (3, "alpha_one", "=SUM(1,2)")]
    assert problems[1].message == "Formulas are not allowed; type the value instead."


def test_formula_in_xlsx_header_is_refused(mini):
    cols = pio.columns(mini)
    rows, problems = pio.parse_file("p.xlsx", xlsx_file([cols + ["=1+1"]]), mini)
    assert rows == []
    assert where(problems) == [(1, "", "=1+1")]


def _zip_with(member: str, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr(member, bytes(size))
    return buf.getvalue()


def test_huge_xlsx_is_refused_before_loading(mini, monkeypatch):
    started = time.perf_counter()
    data = _zip_with("xl/worksheets/sheet1.xml", 51 * 1024 * 1024)
    assert len(data) < 200_000
    import openpyxl

    def boom(*a, **k):  # the workbook must never reach openpyxl
        raise AssertionError("load_workbook called")

    monkeypatch.setattr(openpyxl, "load_workbook", boom)
    rows, problems = pio.parse_file("bomb.xlsx", data, mini)
    assert rows == []
    assert [(p.row, p.column) for p in problems] == [(0, "")]
    assert int(problems[0].value) > 50 * 1024 * 1024
    assert "too large" in problems[0].message
    assert time.perf_counter() - started < 5


def test_absurdly_compressed_xlsx_member_is_refused(mini):
    data = _zip_with("xl/sharedStrings.xml", 2 * 1024 * 1024)
    rows, problems = pio.parse_file("ratio.xlsx", data, mini)
    assert rows == []
    assert where(problems) == [(0, "", "xl/sharedStrings.xml")]
    assert "100 times" in problems[0].message


def test_xlsx_that_is_not_a_workbook(mini):
    for data in (b"code,name\nA,B\n", _zip_with("hello.txt", 10)):
        rows, problems = pio.parse_file("fake.xlsx", data, mini)
        assert rows == []
        assert [(p.row, p.column, p.message) for p in problems] == [(0, "", "The file is not a valid Excel (.xlsx) workbook.")]


@pytest.mark.parametrize("filename", ["providers.xls", "providers.txt", "providers.json", "providers", "providers.xlsm"])
def test_unsupported_extension(mini, filename):
    rows, problems = pio.parse_file(filename, b"code,name\n", mini)
    assert rows == []
    assert where(problems) == [(0, "", filename)]
    assert problems[0].message == "Unsupported file type; upload a .csv or .xlsx file."


def test_empty_and_headerless_files(mini):
    assert where(pio.parse_file("p.csv", b"", mini)[1]) == [(0, "", "p.csv")]
    rows, problems = pio.parse_file("p.csv", b"\r\n ; \r\n", mini)
    assert rows == [] and [(p.row, p.message) for p in problems] == [(0, "The file has no header row.")]


def test_undecodable_csv(mini):
    data = pio.template_csv(mini) + b"A,\x81\x8d\x90,PE\r\n"  # not UTF-8, and undefined in cp1252
    rows, problems = pio.parse_file("p.csv", data, mini)
    assert rows == []
    assert [(p.row, p.column) for p in problems] == [(0, "")]


def test_too_many_rows(mini):
    data = csv_file(mini, [row(mini, f"P-{i}") for i in range(4)])
    assert len(pio.parse_file("p.csv", data, mini, max_rows=4)[0]) == 4
    rows, problems = pio.parse_file("p.csv", data, mini, max_rows=3)
    assert rows == []
    assert [(p.row, p.column, p.params) for p in problems] == [(0, "", {"limit": 3})]


def test_too_many_rows_in_xlsx_stops_reading(mini):
    cols = pio.columns(mini)
    body = [[row(mini, f"P-{i}")[c] for c in cols] for i in range(5)]
    rows, problems = pio.parse_file("p.xlsx", xlsx_file([cols] + body), mini, max_rows=2)
    assert rows == [] and [(p.row, p.params) for p in problems] == [(0, {"limit": 2})]


# --------------------------------------------------------------------------- import into the database


def test_dry_run_reports_but_writes_nothing(instrument, session, fresh, writes):
    add_provider(session, instrument, "PE-001")
    add_provider(session, instrument, "PE-002")
    writes.clear()
    data = csv_file(instrument, [row(instrument, "PE-001"), row(instrument, "PE-002", city="Cusco"),
                                 row(instrument, "PE-003"), row(instrument, "CO-001", country="CO")])
    plan, problems = pio.import_providers(session, "p.csv", data, instrument, dry_run=True)
    assert problems == []
    assert [r.code for r in plan.creates] == ["PE-003", "CO-001"]
    assert [(r.code, changes) for r, changes in plan.updates] == [("PE-002", {"city": ("Lima", "Cusco")})]
    assert plan.unchanged == ["PE-001"]
    assert writes == []
    s = fresh()
    assert count_providers(s) == 2
    assert s.scalar(select(Provider.city).where(Provider.code == "PE-002")) == "Lima"


def test_apply_creates_then_the_same_file_changes_nothing(instrument, session, fresh, writes):
    data = csv_file(instrument, [
        row(instrument, "PE-001", country="pe", type="Private_Firm"),
        row(instrument, "AR-001", country="AR", **{instrument.items[0].id: "", instrument.eligibility[0].id: "no"}),
    ])
    plan, problems = pio.import_providers(session, "p.csv", data, instrument, dry_run=False)
    assert problems == []
    assert [r.code for r in plan.creates] == ["PE-001", "AR-001"] and plan.updates == [] and plan.unchanged == []

    s = fresh()
    stored = {p.code: p for p in s.scalars(select(Provider))}
    assert set(stored) == {"PE-001", "AR-001"}
    pe = stored["PE-001"]
    assert (pe.country, pe.type, pe.contact_phone, pe.synthetic) == ("PE", "private_firm", "+51 1 234 5678", False)
    assert pe.facts == {f.id: i % 2 == 0 for i, f in enumerate(instrument.eligibility)}
    assert pe.item_scores == {item.id: i % 5 for i, item in enumerate(instrument.items)}
    ar = stored["AR-001"]
    assert ar.item_scores[instrument.items[0].id] is None
    assert ar.facts[instrument.eligibility[0].id] is False
    stamps = {p.code: p.updated_at for p in stored.values()}

    writes.clear()
    again, problems = pio.import_providers(session, "p.csv", data, instrument, dry_run=False)
    assert problems == []
    assert again.creates == [] and again.updates == []
    assert sorted(again.unchanged) == ["AR-001", "PE-001"]
    assert writes == []
    s2 = fresh()
    assert {p.code: p.updated_at for p in s2.scalars(select(Provider))} == stamps


def test_update_detection_and_apply(instrument, session, fresh):
    fact, other_fact = instrument.eligibility[0].id, instrument.eligibility[-1].id
    item, item2 = instrument.items[0].id, instrument.items[1].id
    scores = {it.id: 2 for it in instrument.items}
    scores["retired_item"] = 3  # a key the file does not speak about
    add_provider(session, instrument, "PE-001", facts={fact: True}, item_scores=scores, synthetic=True, contact_email="")
    data = csv_file(instrument, [row(
        instrument, "PE-001", name="Nuevo nombre", contact_email="new@example.org",
        **{fact: "no", other_fact: "no", item: "", item2: "2"}, **{it.id: "2" for it in instrument.items[2:]},
    )])
    plan, problems = pio.import_providers(session, "p.csv", data, instrument, dry_run=False)
    assert problems == []
    assert plan.creates == [] and plan.unchanged == []
    (upd_row, changes), = plan.updates
    assert upd_row.code == "PE-001"
    expected_facts_new = {f.id: False for f in instrument.eligibility}
    assert changes.pop("name") == ("Proveedor PE-001", "Nuevo nombre")
    assert changes.pop("contact_email") == ("", "new@example.org")
    old_facts, new_facts = changes.pop("facts")
    assert old_facts == {fact: True} and new_facts == {fact: False}  # missing facts count as "no"
    assert changes.pop("item_scores") == ({item: 2}, {item: None})
    assert changes == {}

    s = fresh()
    p = s.scalar(select(Provider).where(Provider.code == "PE-001"))
    assert p.name == "Nuevo nombre" and p.contact_email == "new@example.org"
    assert {k: p.facts[k] for k in expected_facts_new} == expected_facts_new
    assert p.item_scores[item] is None and p.item_scores[item2] == 2
    assert p.item_scores["retired_item"] == 3
    assert p.synthetic is True


def test_any_problem_means_nothing_is_written(instrument, session, fresh, writes):
    add_provider(session, instrument, "PE-001")
    writes.clear()
    data = csv_file(instrument, [row(instrument, "PE-001", name="Changed"), row(instrument, "PE-002"),
                                 row(instrument, "PE-003", country="Peru"), row(instrument, "PE-004")])
    plan, problems = pio.import_providers(session, "p.csv", data, instrument, dry_run=False)
    assert plan is None
    assert where(problems) == [(4, "country", "Peru")]
    assert writes == []
    s = fresh()
    assert count_providers(s) == 1
    assert s.scalar(select(Provider.name).where(Provider.code == "PE-001")) == "Proveedor PE-001"


def test_file_level_problem_writes_nothing(instrument, session, fresh):
    plan, problems = pio.import_providers(session, "p.xlsx", b"not a zip", instrument, dry_run=False)
    assert plan is None and [(p.row, p.column) for p in problems] == [(0, "")]
    assert count_providers(fresh()) == 0


def test_failure_while_applying_rolls_everything_back(instrument, session, fresh, monkeypatch):
    data = csv_file(instrument, [row(instrument, f"PE-{i}") for i in range(3)])

    def failing_commit():
        session.flush()  # the rows reach the database inside the transaction...
        raise RuntimeError("disk full")

    monkeypatch.setattr(session, "commit", failing_commit)
    with pytest.raises(RuntimeError, match="disk full"):
        pio.import_providers(session, "p.csv", data, instrument, dry_run=False)
    assert count_providers(fresh()) == 0  # ...and are rolled back
    assert count_providers(session) == 0


def test_plan_refuses_repeated_codes(instrument, session):
    from rubric_app.services import Invalid

    rows, _ = pio.parse_file("p.csv", csv_file(instrument, [row(instrument, "A")]), instrument)
    with pytest.raises(Invalid):
        pio.plan_import(session, rows + rows)


# --------------------------------------------------------------------------- export and round trips


TRICKY = dict(
    name="=HYPERLINK(\"http://evil\",\"click\")", city="@SUM(A1)", contact_name="-Ana, \"la jefa\"",
    contact_phone="+51 (1) 234-5678", contact_email="ana@example.org",
)


def _tricky_providers(session, instrument):
    add_provider(session, instrument, "PE-001", **TRICKY)
    add_provider(session, instrument, "CO.2_b", name="Fundación Ñandú; São Paulo", country="CO", city="", type="chamber",
                 contact_name="", contact_email="", contact_phone="", facts={}, item_scores={})
    add_provider(session, instrument, "AR-3", name="Half", country="AR", type="university",
                 item_scores={it.id: (None if i % 2 else 4) for i, it in enumerate(instrument.items)})
    return list(session.scalars(select(Provider).order_by(Provider.code)))


def test_export_csv_layout_and_escaping(instrument, session):
    providers = _tricky_providers(session, instrument)
    data = pio.export_csv(providers, instrument)
    assert data.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    cols = pio.columns(instrument)
    assert table[0] == cols
    assert [r[0] for r in table[1:]] == ["AR-3", "CO.2_b", "PE-001"]
    pe = dict(zip(cols, table[3], strict=False))
    assert pe["name"] == "'" + TRICKY["name"]
    assert pe["city"] == "'@SUM(A1)"
    assert pe["contact_name"] == "'-Ana, \"la jefa\""
    assert pe["contact_phone"] == "'+51 (1) 234-5678"
    assert pe["contact_email"] == "ana@example.org"
    co = dict(zip(cols, table[2], strict=False))
    assert all(co[f.id] == "no" for f in instrument.eligibility)  # no facts recorded -> "no"
    assert all(co[i.id] == "" for i in instrument.items)
    assert {pe[f.id] for f in instrument.eligibility} <= {"yes", "no"}
    assert pe[instrument.eligibility[0].id] == "yes"


def test_export_xlsx_layout_and_escaping(instrument, session):
    providers = _tricky_providers(session, instrument)
    wb = load_workbook(io.BytesIO(pio.export_xlsx(providers, instrument)))
    assert wb.sheetnames[0] == "providers"
    ws = wb["providers"]
    cols = pio.columns(instrument)
    assert [c.value for c in ws[1]] == cols
    pe = {col: ws.cell(4, j + 1) for j, col in enumerate(cols)}
    assert pe["code"].value == "PE-001"
    assert pe["name"].value == "'" + TRICKY["name"] and pe["name"].data_type == "s"
    assert pe["city"].value == "'@SUM(A1)"
    assert pe["contact_phone"].value == "'+51 (1) 234-5678"
    assert not any(c.data_type == "f" for r in ws.iter_rows() for c in r)
    item = instrument.items[0].id
    assert pe[item].value == 0 and isinstance(pe[item].value, int)
    ar = {col: ws.cell(2, j + 1).value for j, col in enumerate(cols)}
    assert ar[instrument.items[0].id] == 4 and ar[instrument.items[1].id] is None


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_round_trip_export_import_changes_nothing(instrument, session, fresh, writes, kind):
    providers = _tricky_providers(session, instrument)
    data = pio.export_csv(providers, instrument) if kind == "csv" else pio.export_xlsx(providers, instrument)
    rows, problems = pio.parse_file(f"export.{kind}", data, instrument)
    assert problems == []
    by_code = {r.code: r for r in rows}
    assert by_code["PE-001"].name == TRICKY["name"] and by_code["PE-001"].contact_phone == TRICKY["contact_phone"]
    assert by_code["CO.2_b"].name == "Fundación Ñandú; São Paulo"
    writes.clear()
    plan, problems = pio.import_providers(session, f"export.{kind}", data, instrument, dry_run=False)
    assert problems == []
    assert plan.creates == [] and plan.updates == []
    assert sorted(plan.unchanged) == ["AR-3", "CO.2_b", "PE-001"]
    assert writes == []


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_export_into_an_empty_registry_recreates_it(instrument, session, fresh, kind):
    providers = _tricky_providers(session, instrument)
    data = pio.export_csv(providers, instrument) if kind == "csv" else pio.export_xlsx(providers, instrument)
    before = {p.code: (p.name, p.country, p.city, p.type, p.contact_name, p.contact_phone) for p in providers}
    for p in providers:
        session.delete(p)
    session.commit()
    plan, problems = pio.import_providers(session, f"export.{kind}", data, instrument, dry_run=False)
    assert problems == [] and len(plan.creates) == 3
    after = {p.code: (p.name, p.country, p.city, p.type, p.contact_name, p.contact_phone) for p in fresh().scalars(select(Provider))}
    assert after == before


def test_problem_text_for_people(mini):
    _, problems = pio.parse_file("p.csv", csv_file(mini, [row(mini, country="Peru")]), mini)
    assert str(problems[0]) == "row 2, column country ('Peru'): Unknown country: use the two-letter ISO 3166 code, e.g. PE."
    assert problems[0].as_dict() == {"row": 2, "column": "country", "value": "Peru",
                                     "message": "Unknown country: use the two-letter ISO 3166 code, e.g. PE."}
    assert problems[0].msgid == problems[0].message  # no parameters: the message is the catalog id


def test_code_taken_meanwhile_is_a_conflict_and_nothing_is_written(instrument, session, fresh, monkeypatch):
    from rubric_app.services import Conflict

    real_plan = pio.plan_import

    def plan_then_someone_else_adds(s, rows):
        plan = real_plan(s, rows)
        add_provider(fresh(), instrument, "PE-002", name="Added meanwhile")
        return plan

    monkeypatch.setattr(pio, "plan_import", plan_then_someone_else_adds)
    data = csv_file(instrument, [row(instrument, "PE-001"), row(instrument, "PE-002")])
    with pytest.raises(Conflict):
        pio.import_providers(session, "p.csv", data, instrument, dry_run=False)
    s = fresh()
    assert list(s.scalars(select(Provider.code))) == ["PE-002"]
    assert s.scalar(select(Provider.name)) == "Added meanwhile"

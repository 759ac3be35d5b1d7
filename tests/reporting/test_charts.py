"""The radar chart: one drawing, rendered as SVG for pages and embedded in PDFs."""
from __future__ import annotations

from xml.etree import ElementTree

from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.reporting.charts import assessment_radar, radar_drawing, to_svg


def test_svg_is_well_formed_with_title_and_labels(rubric):
    answers = {c.id: CriterionAnswer(c.id, 3, target=4) for c in rubric.criteria}
    svg = to_svg(assessment_radar(rubric, answers, "pt", ("Atual", "Meta")), "Radar <atual & meta>")
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "Radar &lt;atual &amp; meta&gt;" in svg
    texts = " ".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert "Atual" in texts and "Meta" in texts
    assert rubric.dimensions[0].name("pt").split()[0] in texts


def test_label_markup_is_escaped_in_svg():
    drawing = radar_drawing(["<script>x</script>", "b", "c"], [("s & t", [1, 2, 3], __import__("reportlab.lib.colors").lib.colors.red)])
    svg = to_svg(drawing)
    assert "<script>" not in svg
    ElementTree.fromstring(svg)


def test_missing_scores_are_drawn_at_the_centre(rubric):
    # Nothing answered: the chart still renders (polygons collapse to the centre).
    svg = to_svg(assessment_radar(rubric, {}, "es", ("Actual", "Meta")))
    assert svg.count("<polygon") == 5 + 2  # five level rings, current and target
    assert svg.count("<circle") == 0  # no score, no marker

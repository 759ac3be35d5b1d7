"""The improvement plan: which criteria get an item, what it carries, and in which order.

mini.yaml texts name criterion and level ("a1 level 4", "a1 action to 3 (i)"), so the carried
descriptors and actions can be checked literally. alpha = a1, a2, a3; beta = b1, b2.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from rubric_app.domain.instruments import load_definition
from rubric_app.domain.planning import PlanItem, improvement_plan
from rubric_app.domain.scoring import CriterionAnswer, validate_answer

from ._support import answers

D = Decimal


def en_actions(item: PlanItem) -> list[tuple[int, list[str]]]:
    return [(lvl, [text("en") for text in texts]) for lvl, texts in item.actions]


def test_items_only_where_target_above_current(mini):
    spec = answers(a1=(1, 4), a2=(3, 3), a3=(5, 5), b1=(2, 3), b2="na")
    plan = improvement_plan(mini, spec)
    # a2 and a3 are at their target; b2 is N/A
    assert [item.criterion_id for item in plan] == ["a1", "b1"]


def test_not_applicable_and_unanswered_have_no_item(mini):
    spec = answers(a1="na", a2=None, b1=(2, 4))  # a3, b2 absent
    spec["a2"] = CriterionAnswer("a2", target=5)  # a target without a level is no plan item either
    plan = improvement_plan(mini, spec)
    assert [item.criterion_id for item in plan] == ["b1"]
    assert improvement_plan(mini, {}) == []
    # a level without a chosen target follows the default target (current + 1)
    (item,) = improvement_plan(mini, {"a1": CriterionAnswer("a1", level=2)})
    assert (item.current, item.target) == (2, 3)
    # the default follows the level: raising it raises the target; at level 5 there is no item
    (item,) = improvement_plan(mini, {"a1": CriterionAnswer("a1", level=4)})
    assert (item.current, item.target) == (4, 5)
    assert improvement_plan(mini, {"a1": CriterionAnswer("a1", level=5)}) == []


def test_item_carries_descriptors_actions_and_priority(mini):
    (item,) = improvement_plan(mini, answers(a1=(1, 4)))
    assert (item.criterion_id, item.dimension_id, item.current, item.target) == ("a1", "alpha", 1, 4)
    # priority = (4 - 1) * weight 1 = 3
    assert item.priority == D(3)
    assert item.current_descriptor("en") == "a1 level 1"
    assert item.target_descriptor("en") == "a1 level 4"
    assert item.current_descriptor("pt") == "a1 nível 1"
    assert item.target_descriptor() == "a1 nivel 4"  # Spanish by default
    assert item.current_descriptor is mini.criterion("a1").descriptors[1]
    # actions for every level current+1 .. target: 2, 3, 4 (level 3 has two actions, in file order)
    assert en_actions(item) == [
        (2, ["a1 action to 2"]),
        (3, ["a1 action to 3 (i)", "a1 action to 3 (ii)"]),
        (4, ["a1 action to 4"]),
    ]
    assert item.order == 1


@pytest.mark.parametrize(
    "current, target, levels",
    [(1, 2, [2]), (1, 5, [2, 3, 4, 5]), (2, 4, [3, 4]), (4, 5, [5]), (3, 5, [4, 5])],
)
def test_action_levels_span_current_plus_one_to_target(mini, current, target, levels):
    (item,) = improvement_plan(mini, answers(b2=(current, target)))
    assert [lvl for lvl, _ in item.actions] == levels
    assert [texts[0]("en") for _, texts in item.actions] == [f"b2 action to {lvl}" for lvl in levels]
    assert item.target_descriptor("en") == f"b2 level {target}"
    assert item.current_descriptor("en") == f"b2 level {current}"
    assert item.priority == D(target - current)


def test_order_priority_desc_then_rubric_order(mini):
    # gaps: a1 1, a2 2, a3 1, b1 2, b2 1 (weights 1) -> priorities 1, 2, 1, 2, 1
    spec = answers(a1=(1, 2), a2=(2, 4), a3=(4, 5), b1=(1, 3), b2=(3, 4))
    plan = improvement_plan(mini, spec)
    assert [(i.criterion_id, i.priority) for i in plan] == [
        ("a2", D(2)), ("b1", D(2)),  # tie at 2: rubric order
        ("a1", D(1)), ("a3", D(1)), ("b2", D(1)),  # tie at 1: rubric order
    ]
    assert [i.order for i in plan] == [2, 4, 1, 3, 5]


def test_order_does_not_depend_on_answer_insertion_order(mini):
    spec = answers(b2=(3, 4), b1=(1, 3), a3=(4, 5), a2=(2, 4), a1=(1, 2))
    assert [i.criterion_id for i in improvement_plan(mini, spec)] == ["a2", "b1", "a1", "a3", "b2"]


def _weights(alpha, beta):
    def edit(data):
        data["dimensions"][0]["weight"] = alpha
        data["dimensions"][1]["weight"] = beta

    return edit


def test_priority_uses_dimension_weight(mini_variant):
    rubric = load_definition(mini_variant(_weights(3, 1)))
    spec = answers(a1=(2, 3), a2="na", a3=(4, 5), b1=(1, 4), b2=(1, 3))
    # a1 (3-2)*3 = 3; a3 (5-4)*3 = 3; b1 (4-1)*1 = 3; b2 (3-1)*1 = 2
    plan = improvement_plan(rubric, spec)
    assert [(i.criterion_id, i.priority) for i in plan] == [("a1", D(3)), ("a3", D(3)), ("b1", D(3)), ("b2", D(2))]


def test_heavier_later_dimension_comes_first(mini_variant):
    rubric = load_definition(mini_variant(_weights(1, 2.5)))
    spec = answers(a1=(1, 3), b1=(2, 3))
    # a1 (3-1)*1 = 2; b1 (3-2)*2.5 = 2.5 -> b1 first although later in the rubric
    plan = improvement_plan(rubric, spec)
    assert [(i.criterion_id, i.priority) for i in plan] == [("b1", D("2.5")), ("a1", D(2))]


def test_plan_from_validated_answers_uses_default_targets(mini):
    raw = answers(a1=2, a2=5, a3="na", b1=4)
    spec = {cid: validate_answer(mini, a) for cid, a in raw.items()}
    plan = improvement_plan(mini, spec)
    # a1 2 -> 3, b1 4 -> 5; a2 stays 5 -> 5 (no item), a3 N/A
    assert [(i.criterion_id, i.current, i.target) for i in plan] == [("a1", 2, 3), ("b1", 4, 5)]
    assert en_actions(plan[0]) == [(3, ["a1 action to 3 (i)", "a1 action to 3 (ii)"])]


def test_real_rubric_plan(real_rubric):
    ids = [c.id for c in real_rubric.criteria]
    spec = {cid: validate_answer(real_rubric, CriterionAnswer(cid, level=3)) for cid in ids}
    spec["access_documents"] = validate_answer(real_rubric, CriterionAnswer("access_documents", level=1, target=5))
    spec["people_outreach_migrants"] = validate_answer(real_rubric, CriterionAnswer("people_outreach_migrants", level=5))
    spec["policy_equal_treatment"] = validate_answer(
        real_rubric, CriterionAnswer("policy_equal_treatment", not_applicable=True, na_reason="x"))

    plan = improvement_plan(real_rubric, spec)

    # 18 criteria - one at 5/5 - one N/A = 16 items; access_documents (gap 4) first, then rubric order
    assert len(plan) == 16
    assert plan[0].criterion_id == "access_documents" and plan[0].priority == D(4)
    rest = [i.criterion_id for i in plan[1:]]
    assert rest == [c for c in ids if c not in ("access_documents", "people_outreach_migrants", "policy_equal_treatment")]
    assert all(i.priority == D(1) and (i.current, i.target) == (3, 4) for i in plan[1:])

    crit = real_rubric.criterion("access_documents")
    first = plan[0]
    assert first.current_descriptor == crit.descriptors[1]
    assert first.target_descriptor == crit.descriptors[5]
    assert [lvl for lvl, _ in first.actions] == [2, 3, 4, 5]
    assert [texts for _, texts in first.actions] == [crit.actions[lvl] for lvl in (2, 3, 4, 5)]
    assert all(len(texts) >= 1 for _, texts in first.actions)


def test_plan_item_is_frozen(mini):
    (item,) = improvement_plan(mini, answers(a1=(1, 2)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.target = 5  # type: ignore[misc]


def test_priority_actions_break_equal_priorities_by_weaker_dimension_then_lower_level(mini):
    from rubric_app.domain.planning import priority_actions
    from rubric_app.domain.scoring import score_rubric

    # every item one level up: all priorities equal the dimension weight (1)
    spec = answers(a1=(3, 4), a2=(4, 5), a3=(2, 3), b1=(1, 2), b2=(2, 3))
    plan = improvement_plan(mini, spec)
    assert len({item.priority for item in plan}) == 1
    assert [item.criterion_id for item in plan] == ["a1", "a2", "a3", "b1", "b2"]  # the plan keeps rubric order
    scores = {d: r.score for d, r in score_rubric(mini, spec).dimensions.items()}  # alpha 3.00, beta 1.50
    chosen = priority_actions(plan, scores, limit=5)
    assert [item.criterion_id for item in chosen] == ["b1", "b2", "a3", "a1", "a2"]
    assert [item.criterion_id for item in priority_actions(plan, scores, done=["b1"], limit=2)] == ["b2", "a3"]
    assert priority_actions(plan, scores, limit=0) == []
    # a dimension without a score counts as the weakest
    assert priority_actions(plan, {"alpha": scores["alpha"], "beta": None}, limit=1)[0].criterion_id == "b1"
    assert priority_actions(plan, {"alpha": None, "beta": scores["beta"]}, limit=1)[0].criterion_id == "a3"


def test_priority_actions_put_higher_priority_first_whatever_the_dimension(mini):
    from rubric_app.domain.planning import priority_actions

    spec = answers(a1=(3, 5), b1=(1, 2))
    plan = improvement_plan(mini, spec)
    assert [i.criterion_id for i in priority_actions(plan, {"alpha": Decimal("4.5"), "beta": Decimal("1")})] == ["a1", "b1"]

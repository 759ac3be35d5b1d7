"""The improvement plan: one item per criterion whose target is above its current level."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from .instruments import Rubric, Text
from .scoring import CriterionAnswer


@dataclass(frozen=True)
class PlanItem:
    criterion_id: str
    dimension_id: str
    current: int
    target: int
    #: (target - current) * dimension weight; higher comes first
    priority: Decimal
    current_descriptor: Text
    target_descriptor: Text
    #: (level, actions recommended to reach that level) for every level current+1..target
    actions: tuple[tuple[int, tuple[Text, ...]], ...]
    #: position of the criterion in the rubric (the tie-breaker)
    order: int


def improvement_plan(rubric: Rubric, answers: Mapping[str, CriterionAnswer]) -> list[PlanItem]:
    """Plan items ordered by priority (higher first), ties in rubric order.

    Not-applicable and unanswered criteria have no item; nor does a criterion whose target equals
    its current level.  An unset target follows the level (current + 1, at most 5).
    """
    items: list[PlanItem] = []
    order = 0
    for dim in rubric.dimensions:
        for crit in dim.criteria:
            order += 1
            ans = answers.get(crit.id)
            target = ans.effective_target if ans is not None else None
            if target is None or target <= ans.level:
                continue
            items.append(
                PlanItem(
                    criterion_id=crit.id,
                    dimension_id=dim.id,
                    current=ans.level,
                    target=target,
                    priority=(target - ans.level) * dim.weight,
                    current_descriptor=crit.descriptors[ans.level],
                    target_descriptor=crit.descriptors[target],
                    actions=tuple((lvl, crit.actions.get(lvl, ())) for lvl in range(ans.level + 1, target + 1)),
                    order=order,
                )
            )
    items.sort(key=lambda item: (-item.priority, item.order))
    return items

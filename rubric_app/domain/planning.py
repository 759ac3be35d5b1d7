"""The improvement plan: one item per criterion whose target is above its current level."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

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


#: how many plan items the report's one-page summary lists
SUMMARY_ACTIONS = 5


def priority_actions(items: Sequence[PlanItem], scores: Mapping[str, Decimal | None], done: Iterable[str] = (),
                     limit: int = SUMMARY_ACTIONS) -> list[PlanItem]:
    """The plan items a summary puts first (published in docs/scoring.md).

    Items marked done are left out.  Higher priority comes first, as in the plan; among equal
    priorities (in a first round every default target is one level up, so every priority is the
    dimension weight) the item in the weaker dimension comes first (lower dimension score; a
    dimension without a score counts as the weakest), then the item with the lower current level,
    then rubric order.  ``scores`` maps dimension id to its score.
    """
    finished = set(done)

    def weakness(item: PlanItem) -> Decimal:
        value = scores.get(item.dimension_id)
        return value if value is not None else Decimal(-1)

    open_items = [item for item in items if item.criterion_id not in finished]
    open_items.sort(key=lambda item: (-item.priority, weakness(item), item.current, item.order))
    return open_items[:max(0, limit)]

"""Median time of one SDE provider selection round (quota rule, 1000 sensitivity draws).

    python bench/selection_round.py [--runs 5] [--draws 1000]

Providers are SYNTHETIC (deterministic, seeded): four countries (AR, CO, PE, DO), every item of
the instrument scored 0..4 around a per-provider capacity, about 2 % of items left blank, each
eligibility fact true for about 90 %.  The instrument is rubric_defs/sde_providers/1.0.yaml when
it exists, otherwise an equivalent synthetic one built here (7 categories x 4 items = 28 items).

Targets: 209 providers <= 1 s; 20,000 providers <= 20 s (on 2 cores).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rubric_app.domain.instruments import (  # noqa: E402
    Category,
    Fact,
    Item,
    ProviderInstrument,
    ScalePoint,
    Text,
    content_hash,
    load_definition,
)
from rubric_app.domain.selection import ProviderInput, RoundSettings, run_round  # noqa: E402

REAL_PATH = ROOT / "rubric_defs" / "sde_providers" / "1.0.yaml"
CATEGORIES = ("marketing", "legal", "finance", "inclusion", "infrastructure", "management", "digital")
FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")
COUNTRIES = ("AR", "CO", "PE", "DO")
COUNTRY_SHARE = (0.25, 0.30, 0.30, 0.15)
TARGETS = {209: 1.0, 20_000: 20.0}


def _text(value: str) -> Text:
    return Text(MappingProxyType({"es": value, "en": value, "pt": value}))


def synthetic_instrument(items_per_category: int = 4) -> ProviderInstrument:
    """Seven categories of four items each, scale 0..4, the three eligibility facts (synthetic texts)."""
    categories = tuple(
        Category(cid, Decimal(1), _text(cid), None,
                 tuple(Item(f"{cid}_{i}", cid, _text(f"{cid} item {i}")) for i in range(1, items_per_category + 1)))
        for cid in CATEGORIES
    )
    shape = {"categories": {c.id: [i.id for i in c.items] for c in categories}, "eligibility": FACTS}
    return ProviderInstrument(
        id="sde-providers-synthetic", version="1.0", title=_text("Synthetic SDE provider assessment"), description=None,
        languages=("es", "en", "pt"), scale=tuple(ScalePoint(v, _text(str(v)), None) for v in range(5)),
        categories=categories, eligibility=tuple(Fact(f, _text(f)) for f in FACTS),
        commitments=(Fact("integrate_imesun", _text("integrate IMESUN")),),
        hash=content_hash(shape), source="<synthetic>",
    )


def synthetic_providers(instrument: ProviderInstrument, n: int, seed: int = 20240633) -> list[ProviderInput]:
    """``n`` deterministic synthetic providers (clearly not real data)."""
    rnd = random.Random(seed)
    facts = [f.id for f in instrument.eligibility]
    out = []
    for i in range(n):
        country = rnd.choices(COUNTRIES, COUNTRY_SHARE)[0]
        capacity = rnd.uniform(0.3, 3.7)
        strengths = {c.id: rnd.gauss(0, 0.6) for c in instrument.categories}
        scores: dict[str, int | None] = {}
        for cat in instrument.categories:
            for item in cat.items:
                if rnd.random() < 0.02:
                    scores[item.id] = None
                else:
                    scores[item.id] = max(0, min(4, round(capacity + strengths[cat.id] + rnd.gauss(0, 0.7))))
        out.append(ProviderInput(f"SYN-{country}-{i:05d}", country, scores, {f: rnd.random() < 0.9 for f in facts}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    if REAL_PATH.exists():
        instrument, origin = load_definition(REAL_PATH), str(REAL_PATH.relative_to(ROOT))
    else:
        instrument, origin = synthetic_instrument(), "synthetic instrument (rubric_defs/sde_providers/1.0.yaml not found)"
    print(f"instrument: {origin}: {len(instrument.categories)} categories, {len(instrument.items)} items")
    print(f"SYNTHETIC providers; quota rule; {args.draws} draws; median of {args.runs} runs; cpus: {os.cpu_count()}")
    for n, target in TARGETS.items():
        providers = synthetic_providers(instrument, n)
        # select about a tenth of each country
        quotas = {c: max(1, sum(1 for p in providers if p.country == c) // 10) for c in COUNTRIES}
        settings = RoundSettings(knockouts=tuple(f.id for f in instrument.eligibility), quotas=quotas,
                                 draws=args.draws, seed=1)
        times = []
        result = None
        for _ in range(args.runs):
            start = time.perf_counter()
            result = run_round(instrument, providers, settings)
            times.append(time.perf_counter() - start)
        eligible = sum(r.eligible for r in result.results)
        borderline = sum(r.flag == "borderline" for r in result.results)
        median = statistics.median(times)
        print(f"{n:>6} providers ({eligible} eligible, {len(result.selected())} selected, {borderline} borderline): "
              f"median {median:7.3f} s   min {min(times):7.3f}   max {max(times):7.3f}   "
              f"target {target:g} s   ratio {median / target:.3f}")


if __name__ == "__main__":
    main()

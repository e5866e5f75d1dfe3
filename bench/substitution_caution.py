"""How much of the plan's miss on the simulator with substitution is its optimism about an offer's
effect. The stored interactions runs of bench/substitution.py are decided again with the nested
logit's utility slopes taken from a quantile of each pair's posterior instead of its mean, λ and the
retention guard's ends left as calibrated at the mean:

* asymmetric (default): pessimistic about the change from the status quo in both directions, the
  Q quantile where an offer rises (o > k), 1 − Q where it falls (o < k): the library's
  optimize.response_caution = "change" (it began here as a diagnosis; its rows are the same);
* --symmetric (a diagnosis, not a route): the Q quantile in both directions, monkeypatched here (the
  library's response_caution = "slope" moves λ and the guard's ends with the quantile).

Each run's plan at the posterior mean (`mean_*`: response_quantile 0.5, the default before the change
caution became it) is decided again beside it and both are scored jointly (bench/substitution.measure).

    python bench/substitution_caution.py [--quantile 0.25] [--symmetric] [--labels q2-41-45 ...] [--suffix NAME]

Results: bench/results/substitution-caution-<asymmetric|symmetric>-<Q>[-NAME].json and a line per run.
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import substitution
from scipy.stats import norm

from offerwise.config import Config
from offerwise.optimize import choice_model, consumer_category

RESULTS = Path(__file__).parent / "results"
LABELS = ["q2-41-45", "q2-fresh-51-53", "q2-fresh-61-63", "fresh-64-65", "fresh-66-68"]
KEPT = ("joint_score", "retention_ratio", "categories_below_status_quo_retention", "no_offer_share")
SLOPES, WITH_NESTED_LOGIT = consumer_category.slopes, consumer_category.with_nested_logit
LOCAL = threading.local()  # the decision solves a second problem in a thread: each thread's pairs
STATE = {"active": False, "quantile": 0.25}
MEAN = {"response_quantile": 0.5, "response_caution": "slope"}  # plain slopes at the mean (the monkeypatch replaces them)


def _slopes(pairs, kind, **options):
    mean = pairs.get_column("dml_slope").fill_null(0.0).to_numpy().astype(float)
    sd = pairs.get_column("dml_slope_sd").fill_null(0.0).to_numpy().astype(float)
    LOCAL.low = np.maximum(mean + norm.ppf(STATE["quantile"]) * sd, 0.0)
    return SLOPES(pairs, kind, **options)


def _with_nested_logit(p, units):
    """--symmetric: the nested logit's utility slopes at the low quantile, λ and the guard as at the mean."""
    q = WITH_NESTED_LOGIT(p, units)
    if q.nested is None or not STATE["active"]:
        return q
    _, ends, lam, n0 = q.nested
    return replace(q, nested=(choice_model.utility_slopes(p.f, LOCAL.low, n0, lam), ends, lam, n0))


def summarised(rows: list[dict]) -> dict:
    """The plan at the mean against the cautious one over the runs: joint scores, and the truth's retention."""
    both = lambda key: (np.array([r[f"mean_{key}"] for r in rows]), np.array([r[key] for r in rows]))  # noqa: E731
    before, after = both("joint_score")
    retention, below = both("retention_ratio"), both("categories_below_status_quo_retention")
    return {
        "median": [float(np.median(before)), float(np.median(after))],
        "mean": [float(before.mean()), float(after.mean())],
        "better": int((after > before).sum()),
        "runs": len(rows),
        "at_least_0.6": [int((before >= 0.6).sum()), int((after >= 0.6).sum())],
        "retention_ratio_mean": [float(r.mean()) for r in retention],
        "categories_below_status_quo_retention": [int(b.sum()) for b in below],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quantile", type=float, default=0.25)
    parser.add_argument("--symmetric", action="store_true")
    parser.add_argument("--suffix", default=None, help="results in substitution-caution-<side>-<Q>-<suffix>.json")
    parser.add_argument(
        "--labels", nargs="+", default=LABELS, help="bench/substitution.py labels whose interactions runs are decided again"
    )
    args = parser.parse_args()
    STATE.update(quantile=args.quantile)
    name = f"{'symmetric' if args.symmetric else 'asymmetric'}-{args.quantile:g}"
    if args.symmetric:
        consumer_category.slopes, consumer_category.with_nested_logit = _slopes, _with_nested_logit
        substitution.VARIANTS |= {name: MEAN, "at the mean": MEAN}
    else:
        substitution.VARIANTS |= {name: {"response_quantile": args.quantile, "response_caution": "change"}, "at the mean": MEAN}
    rows = []
    for label in args.labels:
        for out in sorted((substitution.WORK / label).glob("*-interactions")):
            cfg = Config.model_validate_json((out / "config.json").read_text())
            STATE["active"] = False
            mean = substitution.measure(out, *substitution.decide(out, cfg, "at the mean"))
            STATE["active"] = True
            cautious = substitution.measure(out, *substitution.decide(out, cfg, name))
            rows.append({"label": label, "run": out.name, **{f"mean_{k}": mean[k] for k in KEPT}, **{k: cautious[k] for k in KEPT}})
            print(
                f"{label:15} {out.name:26} mean {mean['joint_score']:.3f} (retention {mean['retention_ratio']:.3f}) "
                f"{name} {cautious['joint_score']:.3f} (retention {cautious['retention_ratio']:.3f})",
                flush=True,
            )
    summary = summarised(rows)
    (RESULTS / f"substitution-caution-{name}{'' if args.suffix is None else '-' + args.suffix}.json").write_text(
        json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

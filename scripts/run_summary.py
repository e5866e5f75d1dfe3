"""Markdown summary of one `offerwise run` folder: test ROC-AUC and F1 per category, stage times.

    python scripts/run_summary.py offerwise-out/complete-journey-<timestamp>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import markdown  # noqa: E402


def summary(run: Path) -> str:
    metrics = pl.read_csv(run / "evaluation" / "metrics.csv").filter(pl.col("split") == "test")
    auc = metrics.pivot(on="model", index=["category", "rows", "positives"], values="roc_auc")
    auc = auc.rename({m: f"roc_auc_{m}" for m in ("tcn", "lightgbm", "recency_frequency")})
    f1 = pl.read_csv(run / "evaluation" / "f1.csv")
    f1 = f1.filter(pl.col("model").is_in(["tcn", "rule"]) | ((pl.col("model") == "lightgbm") & (pl.col("rule") == "category_cutoff")))
    f1 = f1.with_columns(column="f1_" + pl.col("rule") + "_" + pl.col("model")).pivot(on="column", index="category", values="f1")
    table = auc.join(f1, on="category").sort("rows", descending=True)
    stages = [json.loads(p.read_text()) for p in sorted((run / ".stages").glob("*.json"), key=lambda p: p.stat().st_mtime)]
    times = pl.DataFrame([{"stage": s["stage"], "seconds": s.get("seconds")} for s in stages])
    return "### Test metrics per category\n\n" + markdown(table, 3) + "\n\n### Stage times\n\n" + markdown(times, 1) + "\n"


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))

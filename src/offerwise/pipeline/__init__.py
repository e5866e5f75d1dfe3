"""The one place that sequences stages (the hub), one idea per file:

* api.py: `run` (every stage, resumable), its `preflight` checks, the `Pipeline` notebook API;
* resume.py: stage records, input fingerprints, why a stage reruns;
* folders.py: the run folder's contract (what each stage writes; reading it back, checked);
* one runner per stage group, each reading its inputs once, calling its stage and writing its
  outputs: prepare.py, models.py (train, evaluate, thresholds), decide.py (elasticity, optimize,
  recommend), report.py, measure.py (the planned fortnight, once it has run; several pooled).

Stages (data/, features/, model/, elasticity/, thresholds/, optimize/, experiment/, report/) never import it;
the CLI parses options, calls these functions and prints what they return.
"""

from offerwise.pipeline.api import Pipeline, preflight, run
from offerwise.pipeline.decide import decision_inputs, elasticity, offer_response, optimize, recommend
from offerwise.pipeline.folders import Prepared, period_dates, read_levels, read_prepared, training_entries
from offerwise.pipeline.measure import measure, pool
from offerwise.pipeline.models import check_device, evaluate, thresholds, train
from offerwise.pipeline.prepare import check_panel_options, prepare
from offerwise.pipeline.report import policy_scores, report, summary
from offerwise.pipeline.resume import data_fingerprint

__all__ = [
    "Pipeline",
    "Prepared",
    "check_device",
    "check_panel_options",
    "data_fingerprint",
    "decision_inputs",
    "elasticity",
    "evaluate",
    "measure",
    "offer_response",
    "optimize",
    "period_dates",
    "policy_scores",
    "pool",
    "preflight",
    "prepare",
    "read_levels",
    "read_prepared",
    "recommend",
    "report",
    "run",
    "summary",
    "thresholds",
    "train",
    "training_entries",
]

"""Offer response from observational promotion data: double/debiased ML (R-learner) with groups,
intervals and hierarchical empirical-Bayes shrinkage. A pure package: panel rows in, slopes out.
docs/response.md has the estimator in a page and its measured accuracy.

Model, per row i (consumer-item pair x period) of a category c:

    Y_i = m_Y(X_i) + a(X_i) · q_i · (T_i − m_T(X_i)) + noise,    q_i = m_Y(X_i) (1 − m_Y(X_i))

Y = target (bought), T = offer_pct, X = every panel feature except the offer, the ids and text,
plus derived item-history controls (`item_history`). The nuisances m_Y = E[Y | X] (LightGBM
classifier) and m_T = E[T | X] (LightGBM regressor) are cross-fitted by EconML's LinearDML, with the
folds grouped by item: an item's offer is shared by all its consumers, so a fold must not learn an
item-period's offer from the same item-period's other rows.

The final stage is the residual-on-residual regression Y − m_Y on q · (T − m_T) (times group
indicators), by hand. A logistic response has dP/dT = a · p(1 − p), so with q from the outcome
nuisance the coefficients are the optimiser's *logit* slopes per offer point
(logit p(o) = logit f + slope · (o − k)). With one group this is the probability-scale DML effect
divided by the group's mean p(1 − p) (weighted as the regression weights rows); q is treated as
fixed in the standard errors, and since it depends on X only the moment stays orthogonal.

Written here because the libraries lack it: the final stage (EconML's linear final stage offers only
HC0/HC1 covariances, but the offer varies by item x period and an item's rows share its demand
shocks, so the intervals need a covariance clustered by item; the logit conversion needs q inside
the regression) and the empirical-Bayes shrinkage. EconML does the cross-fitting; its own
probability-scale effect of the whole sample is kept in `info` as a cross-check.

Heterogeneity (additive on the logit scale, a stated assumption):

    a(X) = slope_c + δ_c,age(X) + δ_c,price(X) + δ_c,past_response(X) + δ_c,share(X)

age: demo_age_range / demo_age ("missing" a level of its own); price: tercile of i_regular_price
within the category; past_response: quintile within the category of the consumer's past response
to offers (`_past_response`); share: tercile within the category of the pair's share of the
consumer's category purchases (`ci_category_share`, where the panel has the interaction features). Deviations are effects-coded, so they average to 0 over the
category's rows and slope_c is the category's mean slope over its rows. Shrinkage, per level, two
steps, each with τ² by the method of moments from raw estimates and their SEs, floored at 0:
1. shared relative effects r_g (one per group, all categories: a(X) = slope_c (1 + Σ r_g)) are shrunk
   toward 0;
2. each category's deviation δ_cg is shrunk toward slope_c · r*_g, its share of the shared effect.
A category with little data thus follows the groups' common pattern; with no evidence of a
pattern anywhere, deviations are 0.

Identification: a category is identified when both its residual offer SD (T − m_T) and its offer SD
within items (T − the item's mean offer in the window) are at least MIN_RESID_SD points, and it has
at least MIN_OFFER_ROWS rows and MIN_OFFER_ITEMS items with a non-zero offer. The second SD guards
against an offer model that misses a category's fixed offers: its errors would pass for variation.
Otherwise (and for a category not in the estimation rows) it gets the pooled slope of the
identified categories with SE √(se_pooled² + τ²_categories): the uncertainty of a category drawn
from the others.

The package, by step: design.py (the rows, controls and item history), groups.py (the groups'
labels), nuisances.py (cross-fitting), final.py (the final stage, its clustered covariance, the
logistic stage's fallback, de-attenuation), shrinkage.py (effects coding, τ², shrinkage, combining
the repetitions), estimate.py (`OfferResponse` and its `ResponseEstimate`), placebo.py.
"""

from offerwise.elasticity.dml.design import OUTCOME, Design, control_columns, design, item_history
from offerwise.elasticity.dml.estimate import CATEGORY_COLUMNS, OfferResponse, ResponseEstimate
from offerwise.elasticity.dml.final import MIN_OFFER_RELIABILITY, offer_noise_variance, offer_reliability
from offerwise.elasticity.dml.groups import LEVELS
from offerwise.elasticity.dml.nuisances import (
    REPEATS,
    OfferRegressor,
    cross_fit,
    item_period_columns,
    logistic_nuisances,
    outcome_mean,
    reused_logistic_nuisances,
)
from offerwise.elasticity.dml.placebo import permute_offers, placebo
from offerwise.elasticity.dml.shrinkage import GROUP_SCHEMA, SHARED_SCHEMA

__all__ = [
    "CATEGORY_COLUMNS",
    "GROUP_SCHEMA",
    "LEVELS",
    "MIN_OFFER_RELIABILITY",
    "OUTCOME",
    "REPEATS",
    "SHARED_SCHEMA",
    "Design",
    "OfferRegressor",
    "OfferResponse",
    "ResponseEstimate",
    "control_columns",
    "cross_fit",
    "design",
    "item_history",
    "item_period_columns",
    "logistic_nuisances",
    "offer_noise_variance",
    "offer_reliability",
    "outcome_mean",
    "permute_offers",
    "placebo",
    "reused_logistic_nuisances",
]

"""The feature manifest: name, family, group, dtype and how each feature is computed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Group = Literal["static_categorical", "temporal_categorical", "static_continuous", "temporal_continuous"]
Family = Literal["datetime", "profile", "price_offer", "lag", "attribute", "target_encoding", "interaction"]


@dataclass(frozen=True)
class Feature:
    name: str
    family: Family
    group: Group
    dtype: str
    how: str
    known_in_advance: bool = False  # retailer-set for period t itself (offer, display, mailer, coupons)
    is_id: bool = False  # consumer / item identifiers: embeddings only, not for tree baselines

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def by_group(features: list[Feature], group: Group) -> list[str]:
    return [f.name for f in features if f.group == group]

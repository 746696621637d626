"""Which result columns a model reads, in what role, and how each becomes a number
(``ColumnSelection``): chosen by the query step, used by loading, recorded with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .encoding import Encoding, FeatureEncoding, Kind, LabelEncoding


@dataclass(frozen=True)
class ColumnSelection:
    """The result columns the model reads, in the order of the feature matrix, and how each
    becomes a number (``encoding``; by default every feature and the label are numbers)."""

    features: tuple[str, ...]
    label: str
    weight: str | None = None
    query_group: str | None = None
    encoding: Encoding = None  # type: ignore[assignment]  # set in __post_init__ when None
    # More label columns (numbers): a multi-output model, one output per label in this order.
    extra_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.encoding is None:
            numbers = tuple(FeatureEncoding(name, Kind.NUMBER) for name in self.features)
            object.__setattr__(self, "encoding", Encoding(numbers, LabelEncoding(self.label)))

    def to_metadata(self) -> dict[str, Any]:
        """The columns as ``metadata.json`` and the data snapshot record hold them. Category
        lists and label classes live in ``encoding``, not in the model: XGBoost 3.2 drops a
        model's category table when it is sliced (early stopping), and 1.7 cannot read it."""
        return {
            "feature_names": list(self.features),
            "feature_types": self.encoding.feature_types,
            "label": self.label,
            "labels": list(self.labels),
            "weight": self.weight,
            "group": self.query_group,
            "encoding": self.encoding.to_metadata(),
        }

    @classmethod
    def from_metadata(cls, document: Mapping[str, Any]) -> ColumnSelection:
        labels = document.get("labels") or [document["label"]]
        return cls(
            tuple(str(name) for name in document["feature_names"]),
            str(labels[0]),
            document.get("weight"),
            document.get("group"),
            Encoding.from_metadata(document["encoding"]),
            tuple(str(name) for name in labels[1:]),
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label column: one, or one per output of a multi-output model."""
        return (self.label, *self.extra_labels)

    @property
    def all(self) -> tuple[str, ...]:
        extra = tuple(name for name in (self.weight, self.query_group) if name is not None)
        return (*self.features, *self.labels, *extra)

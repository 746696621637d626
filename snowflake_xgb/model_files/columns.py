"""Which result columns a model reads, in what role, and how each becomes a number
(``ColumnSelection``): chosen by the query step, used by loading, recorded with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from .encoding import Encoding, FeatureEncoding, Kind, LabelEncoding


@dataclass(frozen=True)
class ColumnSelection:
    """The result columns the model reads, in the order of the feature matrix, and how each
    becomes a number (``encoding``; by default every feature and the label are numbers)."""

    features: tuple[str, ...]
    label: str
    weight: str | None = None
    group: str | None = None
    encoding: Encoding = None  # type: ignore[assignment]  # set in __post_init__ when None

    def __post_init__(self) -> None:
        if self.encoding is None:
            numbers = tuple(FeatureEncoding(name, Kind.NUMBER) for name in self.features)
            object.__setattr__(self, "encoding", Encoding(numbers, LabelEncoding(self.label)))

    @property
    def all(self) -> tuple[str, ...]:
        extra = tuple(name for name in (self.weight, self.group) if name is not None)
        return (*self.features, self.label, *extra)

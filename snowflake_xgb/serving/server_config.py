"""The serving environment SageMaker sets, read once and validated.

SageMaker hosting and batch transform configure a model server through environment variables
(``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_MODEL_SERVER_WORKERS``, ...); this image adds
``SNOWFLAKE_XGB_EXPLAIN`` (explanations for every request). This module owns their names,
defaults and checks; nothing else reads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..booleans import parse_boolean
from ..sagemaker_layout import MODEL_DIR, base_dir

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT_SECONDS = 60
CLASSIFICATION_OUTPUTS = ("predicted_label", "probability", "probabilities", "raw_score")
DEFAULT_MAX_PAYLOAD_MB = 6  # SageMaker's limit for a real-time request and MaxPayloadInMB's default
EXPLAIN_ENV = "SNOWFLAKE_XGB_EXPLAIN"  # this image's own: explanations for every request
NO_EXPLANATION = "none"  # what asks for no explanation, in the environment or a request


class ExplanationKind(StrEnum):
    """What an explanation gives per row: each feature's share of the margin (SHAP values), or
    each pair of features' (SHAP interaction values)."""

    CONTRIBUTIONS = "contributions"
    INTERACTIONS = "interactions"


class ServerConfigError(ValueError):
    """A serving environment variable with a value the server cannot use."""


@dataclass(frozen=True)
class ServerConfig:
    model_dir: Path
    port: int
    workers: int
    timeout_seconds: int
    batch: bool
    max_payload_mb: int
    outputs: tuple[str, ...]  # SAGEMAKER_INFERENCE_OUTPUT; empty: what Booster.predict returns
    explain: ExplanationKind | None = None  # SNOWFLAKE_XGB_EXPLAIN; None: none

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * 1024 * 1024

    @property
    def threads_per_worker(self) -> int:
        """XGBoost threads per worker, so that all workers together use each core once."""
        return max(1, (os.cpu_count() or 1) // self.workers)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ServerConfig:
        return cls(
            model_dir=base_dir(environ) / MODEL_DIR,
            port=_integer(environ, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, 1, 65535),
            workers=_integer(
                environ, "SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1, 1, 1024
            ),
            timeout_seconds=_integer(
                environ, "SAGEMAKER_MODEL_SERVER_TIMEOUT", DEFAULT_TIMEOUT_SECONDS, 1, 3600
            ),
            batch=_flag(environ, "SAGEMAKER_BATCH"),
            max_payload_mb=_integer(
                environ, "SAGEMAKER_MAX_PAYLOAD_IN_MB", DEFAULT_MAX_PAYLOAD_MB, 1, 100
            ),
            outputs=_outputs(environ.get("SAGEMAKER_INFERENCE_OUTPUT", "")),
            explain=_explain(environ.get(EXPLAIN_ENV, "")),
        )


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ServerConfigError(f"{name}={text!r} is not a whole number.") from None
    if not low <= value <= high:
        raise ServerConfigError(f"{name}={value} is out of range: use {low} to {high}.")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "")
    parsed = parse_boolean(text) if text.strip() else False  # unset or empty: off
    if parsed is None:
        raise ServerConfigError(f"{name}={text.strip()!r} must be true or false.")
    return parsed


def _outputs(text: str) -> tuple[str, ...]:
    outputs = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [name for name in outputs if name not in CLASSIFICATION_OUTPUTS]
    if unknown:
        raise ServerConfigError(
            f"SAGEMAKER_INFERENCE_OUTPUT names {', '.join(unknown)}: use a comma-separated "
            f"choice of {', '.join(CLASSIFICATION_OUTPUTS)}."
        )
    if len(set(outputs)) != len(outputs):
        raise ServerConfigError("SAGEMAKER_INFERENCE_OUTPUT names an output twice.")
    return outputs


def _explain(text: str) -> ExplanationKind | None:
    kind = text.strip().lower()
    if kind in ("", NO_EXPLANATION):
        return None
    if kind not in tuple(ExplanationKind):
        raise ServerConfigError(
            f"{EXPLAIN_ENV}={text.strip()!r}: use {', '.join(ExplanationKind)} or {NO_EXPLANATION}."
        )
    return ExplanationKind(kind)

"""The example user script (``examples/script_mode/train.py``) as a job: the hyperparameters
the SageMaker SDK sends for ``entry_point="train.py", source_dir=examples/script_mode``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .standins import HOUSING_TABLE

EXAMPLE_CODE = Path(__file__).resolve().parents[2] / "examples" / "script_mode"


def example_script_job(**settings: str | float) -> dict[str, str]:
    """The example script training on the demo table, with ``settings`` added.

    As the SDK sends them: the script's name, its folder (here a local folder stands in for
    the S3 ``sourcedir.tar.gz``) and text values JSON-encoded, numbers as they are.
    """
    values = {
        "query": f"SELECT * FROM {HOUSING_TABLE}",
        "label": "MEDHOUSEVAL",
        "validation_fraction": 0.2,
        **settings,
    }
    return {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(str(EXAMPLE_CODE)),
        **{
            name: json.dumps(value) if isinstance(value, str) else str(value)
            for name, value in values.items()
        },
    }

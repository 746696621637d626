"""The spellings of true and false that a setting or an environment variable may take.

A job's hyperparameters (``config.settings``) and the model server's environment
(``serving.server_config``) read yes/no values by this one rule; each says in its own error
which value it refused.
"""

from __future__ import annotations

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


def parse_boolean(value: object) -> bool | None:
    """``value`` as a boolean: a bool as it is, ``true``/``1``/``yes`` or ``false``/``0``/``no``
    in any case and with spaces around; None for anything else."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None

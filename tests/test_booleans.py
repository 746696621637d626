"""The one rule for yes/no values: settings and the server's environment read it alike."""

from __future__ import annotations

import pytest

from snowflake_xgb.booleans import parse_boolean
from snowflake_xgb.config.settings import parse
from snowflake_xgb.errors import UserError
from snowflake_xgb.serving.server_config import ServerConfig, ServerConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), (" YES ", True), ("1", True),
     ("False", False), ("no", False), ("0", False), ("maybe", None), ("", None), ("t", None)],
)  # fmt: skip
def test_true_and_false_are_spelled_three_ways_each(value, expected) -> None:
    assert parse_boolean(value) is expected


@pytest.mark.parametrize("text", ["Yes", "no", "1", "FALSE"])
def test_a_setting_and_the_servers_environment_read_a_word_alike(text) -> None:
    assert (
        parse("external_memory", text) is ServerConfig.from_environ({"SAGEMAKER_BATCH": text}).batch
    )


def test_both_refuse_what_is_neither_and_the_server_reads_unset_as_false() -> None:
    with pytest.raises(UserError, match="must be true or false"):
        parse("external_memory", "on")
    with pytest.raises(ServerConfigError, match="must be true or false"):
        ServerConfig.from_environ({"SAGEMAKER_BATCH": "on"})
    assert ServerConfig.from_environ({"SAGEMAKER_BATCH": " "}).batch is False

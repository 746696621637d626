"""Run by Python at the start of every process whose PYTHONPATH holds this folder: when
SNOWFLAKE_XGB_OUTBOUND_LOG is set, the tests' outbound-call guard (tests/support/outbound.py)
is installed before anything else runs. Only the tests put this folder on a PYTHONPATH.
"""

import os
import sys

if os.environ.get("SNOWFLAKE_XGB_OUTBOUND_LOG"):
    _tests = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, _tests)
    try:
        from support.outbound import install_guard
    finally:
        sys.path.remove(_tests)
    install_guard(os.environ["SNOWFLAKE_XGB_OUTBOUND_LOG"])
    sys.modules.pop("support.outbound", None)
    sys.modules.pop("support", None)

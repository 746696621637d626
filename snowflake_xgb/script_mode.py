"""Script mode: run the team's own training script, the way SageMaker framework containers do.

A job that names a user entry point, with the ``sagemaker_program`` hyperparameter (what the
SageMaker Python SDK sets from ``entry_point=``) or the ``SAGEMAKER_PROGRAM`` environment
variable (what an image built on ours sets), runs that script instead of the built-in
training. The code is in ``/opt/ml/code`` (``<SAGEMAKER_BASE_DIR>/code``), or wherever the
``sagemaker_submit_directory`` hyperparameter points (the SDK's ``sourcedir.tar.gz`` on S3,
or a local folder or tarball).

Order, on every host:

1. Hyperparameters whose names look like credentials are refused, as in algorithm mode:
   sagemaker-training logs every hyperparameter when it starts a script.
2. The secrets bootstrap fetches the Snowflake credentials and exports them as ``SNOWFLAKE_*``
   environment variables; the script inherits them (``snowflake_xgb.api`` reads them there).
   A hyperparameter whose value contains a credential is refused as well.
3. sagemaker-training's own machinery runs the script (``entry_point.run``): ``requirements.txt``
   in the code folder is installed, the remaining hyperparameters are passed as
   ``--name value`` arguments and ``SM_HP_<NAME>`` variables, and the usual ``SM_*`` variables
   (``SM_MODEL_DIR``, ``SM_HOSTS``, ``SM_CURRENT_HOST``...) are set. sagemaker-training logs
   those ``SM_*`` variables and the command line, never the process environment, so the
   ``SNOWFLAKE_*`` values reach no log (and a filter on its logger and ours would mask them).

When the script fails with a :class:`UserError` from ``snowflake_xgb.api``, that message is
the job's failure reason; otherwise it is sagemaker-training's summary of the script's error.
Either way the job exits non-zero (``failure``).
SIGTERM (spot interruption, StopTrainingJob), which SageMaker sends to ``train`` only, is passed
on to the script, so that a script that handles it can checkpoint and stop in time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

import psutil

from . import redaction
from .credentials.bootstrap import bootstrap_credentials
from .errors import UserError
from .sagemaker import failure
from .sagemaker.job_environment import JobEnvironment, sdk_string

logger = logging.getLogger(__name__)

PROGRAM_HYPERPARAMETER = "sagemaker_program"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"


def user_entry_point(job: JobEnvironment) -> str | None:
    """The user's script (relative to the code folder), or ``None`` for algorithm mode."""
    value = os.environ.get(PROGRAM_ENV) or job.raw_hyperparameters.get(PROGRAM_HYPERPARAMETER)
    program = sdk_string(value).strip() if value else ""
    return program or None


def _pass_on_signal(signum: int, frame: object) -> None:
    logger.warning("%s received: passing it on to the training script", signal.Signals(signum).name)
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess):
            child.send_signal(signum)


def run_user_script(job: JobEnvironment) -> None:
    """Bootstrap the credentials, then run the user's entry point to the end on this host."""
    program = user_entry_point(job)
    if program is None:
        raise ValueError("run_user_script needs a job that names a user entry point")
    redaction.refuse_credential_names(job.raw_hyperparameters)
    bootstrap_credentials()
    redaction.refuse_credential_values(job.raw_hyperparameters)

    # Imported here: importing sagemaker_training.environment outside a job creates folders.
    from sagemaker_training import entry_point, environment
    from sagemaker_training import errors as sagemaker_errors

    # sagemaker-training's view of the same /opt/ml: arguments, SM_* variables, code location.
    training_env = environment.Environment()
    module_dir = training_env.module_dir
    code_dir = Path(environment.code_dir)
    if Path(module_dir) == code_dir and not (code_dir / program).is_file():
        raise UserError(
            f"Script mode: no training script {program} in {code_dir}. Put it there (COPY it "
            "into /opt/ml/code in your image, or pass source_dir/entry_point to the SageMaker "
            f"Estimator) or fix {PROGRAM_HYPERPARAMETER} / {PROGRAM_ENV}."
        )
    logger.info(
        "Script mode: running %s from %s on host %s (%d of %d hosts)",
        program,
        module_dir,
        job.current_host,
        job.rank + 1,
        len(job.hosts),
    )
    signal.signal(signal.SIGTERM, _pass_on_signal)
    try:
        entry_point.run(
            uri=module_dir,
            user_entry_point=program,
            args=training_env.to_cmd_args(),
            env_vars=training_env.to_env_vars(),
            capture_error=True,
        )
    except sagemaker_errors.ExecuteUserScriptError as error:
        # The script's own UserError (snowflake_xgb.api records it) is short and actionable:
        # keep it as the reason; otherwise sagemaker-training's summary of the script's error.
        raise UserError(failure.recorded_reason() or str(error)) from None

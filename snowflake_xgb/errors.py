"""The two kinds of failure a job can end with.

A :class:`UserError` is something the person who configured the job can fix (a missing secret,
an unknown column, a bad hyperparameter). Its message is one short, actionable paragraph that
ends up in ``/opt/ml/output/failure`` (SageMaker shows its first 1024 characters as the job's
FailureReason) without a traceback. Anything else is an internal error and keeps its traceback.

Messages are written by this package, never copied from secrets: no credential may reach one.
"""

from sagemaker_training.errors import ClientError

FAILURE_REASON_LIMIT = 1024


class UserError(ClientError):
    """A failure caused by the job's configuration or data, with a message saying how to fix it.

    Subclassing sagemaker-training's ``ClientError`` makes its ``train`` command write the message
    (not a traceback) to the failure file and exit non-zero.
    """

    def __init__(self, message: str) -> None:
        message = " ".join(message.split())
        if len(message) > FAILURE_REASON_LIMIT - 1:
            message = message[: FAILURE_REASON_LIMIT - 4] + "..."
        super().__init__(message)

"""The failure a person can fix: :class:`UserError`.

A :class:`UserError` is something the person who configured the job can fix (a missing secret,
an unknown column, a bad hyperparameter). Its message is one short, actionable paragraph that
becomes the job's failure reason (``failure`` writes it to ``/opt/ml/output/failure``, which
SageMaker shows as FailureReason) without a traceback. Anything else is an internal error.

Messages are written by this package, never copied from secrets: no credential may reach one.
"""

FAILURE_REASON_LIMIT = 1024


class UserError(Exception):
    """A failure caused by the job's configuration or data, with a message saying how to fix it."""

    def __init__(self, message: str) -> None:
        message = " ".join(message.split())
        if len(message) > FAILURE_REASON_LIMIT - 1:
            message = message[: FAILURE_REASON_LIMIT - 4] + "..."
        super().__init__(message)

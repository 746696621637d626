"""The life cycle of the statements the stand-in front answers, as Snowflake reports it.

fakesnow runs every statement at once and knows no statuses. This module times the statements
a test asks to be slow (and every asynchronous one): QUEUED, then RUNNING, then done; what
``/monitoring/queries/{id}`` reports meanwhile (statuses before SUCCESS, nothing in a query's
first moments); the session's statement timeout; cancels (by id, by the request that submitted
it, by the session logging out); and statements that another session runs between two of the
job's (``table_changes``). It never sees rows: the results are ``result_store``'s. Standard
library only: it runs in the stand-ins' own environment.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# Statuses after which a query is over without a result (connector ``is_an_error``).
ERROR_STATUSES = (
    "ABORTING", "FAILED_WITH_ERROR", "ABORTED", "FAILED_WITH_INCIDENT", "DISCONNECTED",
)  # fmt: skip
# Snowflake ends a statement at the session's STATEMENT_TIMEOUT_IN_SECONDS with this error
# (status FAILED_WITH_ERROR), as users quote it (docs/snowflake-contract.md, row 8).
STATEMENT_TIMED_OUT = {
    "code": "000630",
    "sqlState": "57014",
    "message": "Statement reached its statement or warehouse timeout of {} second(s) and was "
    "canceled.",
}
NO_STATUS_ANSWERS = ("EMPTY", "NO_DATA")  # an empty query list, or the status NO_DATA


@dataclass
class Submission:
    """A query the front times: asynchronous, or a statement matched by ``slow_statements``.

    It is QUEUED for ``queued_seconds`` after ``at``, then RUNNING for ``running_seconds``;
    ``timeout_seconds`` (the session's STATEMENT_TIMEOUT_IN_SECONDS, 0: none) ends it earlier
    with Snowflake's timeout error.
    """

    session: str  # the submitting session's token
    at: float = field(default_factory=time.monotonic)
    queued_seconds: float = 0.0
    running_seconds: float = 0.0
    timeout_seconds: float = 0.0
    synchronous: bool = False

    def phase(self, now: float) -> str | None:
        """QUEUED, RUNNING or None (done) at monotonic time ``now``."""
        elapsed = now - self.at
        if elapsed < self.queued_seconds:
            return "QUEUED"
        if elapsed < self.queued_seconds + self.running_seconds:
            return "RUNNING"
        return None

    def times_out(self) -> bool:
        """Whether the statement timeout ends it before it is done."""
        return bool(self.timeout_seconds) and (
            self.queued_seconds + self.running_seconds > self.timeout_seconds
        )


@dataclass(frozen=True)
class SlowStatement:
    """Statements whose text matches ``match`` (a regular expression, searched, ignoring case):
    QUEUED for ``queued_seconds``, then RUNNING for ``running_seconds``, synchronous or not."""

    match: str
    queued_seconds: float = 0.0
    running_seconds: float = 0.0

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> SlowStatement:
        try:
            re.compile(str(document["match"]))  # a bad pattern is refused when it is set
        except re.error as error:
            raise ValueError(f"slow_statements: {document['match']!r}: {error}") from None
        return cls(
            str(document["match"]),
            float(document.get("queued_seconds", 0)),
            float(document.get("running_seconds", 0)),
        )

    def matches(self, sql: str) -> bool:
        return re.search(self.match, sql, re.IGNORECASE | re.DOTALL) is not None


@dataclass(frozen=True)
class TableChange:
    """A statement another session runs once, just before the ``nth`` statement of the job
    whose text contains ``before`` (case-insensitive)."""

    before: str
    sql: str
    nth: int = 1

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TableChange:
        return cls(str(document["before"]), str(document["sql"]), int(document.get("nth", 1)))


@dataclass(frozen=True)
class LifecycleSettings:
    """How statements run, as Snowflake reports them; changed through the front's control route.

    statuses_before_success: the statuses ``/monitoring/queries/{id}`` reports for a query, one
        per call, before SUCCESS (e.g. QUEUED, RESUMING_WAREHOUSE, RESTARTED, or a status the
        connector does not know). An error status (FAILED_WITH_ERROR, ABORTED, ...) ends the
        query: it stays so, and reading its result answers the error.
    running_seconds: an asynchronous submission reports RUNNING this long after it was
        submitted (fakesnow has run it already; 0: done at once).
    slow_statements: statements chosen by their text that take a while, synchronous or
        asynchronous (``SlowStatement``; the first that matches counts). Their status is
        QUEUED, then RUNNING; reading the result by id answers "in progress" (333333 for a
        synchronous statement, 333334 for an asynchronous one) until it is done; a synchronous
        submission is answered when the statement is done or after ``in_progress_hold_seconds``,
        whichever comes first, with 333333 and the URL to poll, as Snowflake answers a long
        statement (the connector then polls ``getResultUrl``). The session's
        STATEMENT_TIMEOUT_IN_SECONDS (sent at login) ends a statement that runs longer with
        Snowflake's error 000630.
    in_progress_hold_seconds: how long the front holds a submission or a read by id of a
        statement still running before answering "in progress" (Snowflake: about 45 s).
    no_status_seconds: for this long after a timed query is submitted, ``/monitoring/queries``
        knows nothing of it, as Snowflake in a query's first moments; ``no_status_answer`` says
        how: ``EMPTY`` (an empty query list) or ``NO_DATA`` (that status).
    cancel_on_logout: a session's logout (``POST /session?delete=true``) cancels every
        asynchronous query it submitted that has not finished, as Snowflake does: its status
        becomes ABORTED and reading its result answers 000604 "SQL execution canceled".
    table_changes: statements run just before a statement of the job, as another session
        changing a table between two statements would (``TableChange``).
    """

    statuses_before_success: tuple[str, ...] = ()
    running_seconds: float = 0.0
    slow_statements: tuple[SlowStatement, ...] = ()
    in_progress_hold_seconds: float = 45.0
    no_status_seconds: float = 0.0
    no_status_answer: str = "EMPTY"
    cancel_on_logout: bool = True
    table_changes: tuple[TableChange, ...] = ()

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> LifecycleSettings:
        """The settings a control request names (JSON values); the rest at their defaults."""
        settings = cls(**document)
        no_status_answer = str(settings.no_status_answer).upper()
        if no_status_answer not in NO_STATUS_ANSWERS:
            raise ValueError(f"no_status_answer must be one of {NO_STATUS_ANSWERS}")
        return cls(
            statuses_before_success=tuple(str(s) for s in settings.statuses_before_success),
            running_seconds=float(settings.running_seconds),
            slow_statements=tuple(
                SlowStatement.from_json(dict(s)) if isinstance(s, dict) else s
                for s in settings.slow_statements
            ),
            in_progress_hold_seconds=float(settings.in_progress_hold_seconds),
            no_status_seconds=float(settings.no_status_seconds),
            no_status_answer=no_status_answer,
            cancel_on_logout=bool(settings.cancel_on_logout),
            table_changes=tuple(
                TableChange.from_json(dict(c)) if isinstance(c, dict) else c
                for c in settings.table_changes
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def slow_statement(self, sql: str) -> SlowStatement | None:
        """The first ``slow_statements`` entry whose pattern ``sql`` matches."""
        return next((slow for slow in self.slow_statements if slow.matches(sql)), None)


class QueryLifecycle:
    """The timed queries: their status, end (timeout, cancel, error) and who waits on them."""

    def __init__(self, settings: LifecycleSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.reset_counters()

    def reset_counters(self) -> None:
        with self._lock:
            self.status_calls: dict[str, int] = {}
            self.submissions: dict[str, Submission] = {}
            self.ended: dict[str, str] = {}  # query id -> the error status it ended with
            self.failures: dict[str, dict[str, str]] = {}  # query id -> its own error
            self.request_ids: dict[str, str] = {}  # request id -> the timed query it submitted
            self.cancelled: list[str] = []  # queries a logout or a cancel request cancelled
            self.in_progress_answers: dict[str, int] = {}  # "in progress" answers, by code
            self.logouts = 0
            self.matches: dict[int, int] = {}  # table change -> statements it matched

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "cancelled": list(self.cancelled),
                "in_progress_answers": dict(self.in_progress_answers),
                "logouts": self.logouts,
                "status_calls": dict(self.status_calls),
                "submissions": len(self.submissions),
            }

    def close(self) -> None:
        self._stopping.set()

    # -- statements --------------------------------------------------------------------------
    def table_changes_before(self, sql: str) -> list[str]:
        """The table changes due before statement ``sql`` (each is handed out once)."""
        due = []
        with self._lock:
            for number, change in enumerate(self.settings.table_changes):
                if change.before.lower() in sql.lower():
                    self.matches[number] = self.matches.get(number, 0) + 1
                    if self.matches[number] == change.nth:
                        due.append(change.sql)
        return due

    def submitted(
        self,
        query_id: str,
        session: str,
        sql: str = "",
        synchronous: bool = False,
        timeout_seconds: float = 0.0,
        request_id: str | None = None,
    ) -> Submission | None:
        """Record a submission by the session with token ``session``: every asynchronous one,
        and a synchronous one that ``slow_statements`` matches (None: not timed)."""
        settings = self.settings
        slow = settings.slow_statement(sql)
        if slow is None and synchronous:
            return None
        submission = Submission(
            session,
            queued_seconds=slow.queued_seconds if slow else 0.0,
            running_seconds=slow.running_seconds if slow else settings.running_seconds,
            timeout_seconds=timeout_seconds,
            synchronous=synchronous,
        )
        with self._lock:
            self.submissions[query_id] = submission
            if request_id:
                self.request_ids[request_id] = query_id
        return submission

    # -- status ------------------------------------------------------------------------------
    def status(self, query_id: str) -> str | None:
        """What ``/monitoring/queries/{id}`` reports now: the error it ended with, else the
        next configured status, else nothing (None) or NO_DATA in its first moments, else
        QUEUED or RUNNING while it is due to, else SUCCESS."""
        settings = self.settings
        now = time.monotonic()
        with self._lock:
            self._expire(query_id, now)
            if query_id in self.ended:
                return self.ended[query_id]
            calls = self.status_calls[query_id] = self.status_calls.get(query_id, 0) + 1
            if calls <= len(settings.statuses_before_success):
                status = settings.statuses_before_success[calls - 1]
                if status in ERROR_STATUSES:
                    self.ended[query_id] = status
                return status
            submission = self.submissions.get(query_id)
        if submission is None:
            return "SUCCESS"
        if now < submission.at + settings.no_status_seconds:
            return None if settings.no_status_answer == "EMPTY" else "NO_DATA"
        return submission.phase(now) or "SUCCESS"

    def ended_with(self, query_id: str) -> str | None:
        """The error status a query ended with (None: it did not fail)."""
        with self._lock:
            self._expire(query_id, time.monotonic())
            return self.ended.get(query_id)

    def failure(self, query_id: str) -> dict[str, str] | None:
        """Snowflake's error for a query that ended with one it says itself (a timeout)."""
        with self._lock:
            return self.failures.get(query_id)

    def _expire(self, query_id: str, now: float) -> None:
        """End a statement its session's timeout has run out on (called with the lock held)."""
        submission = self.submissions.get(query_id)
        if (
            submission is None
            or query_id in self.ended
            or not submission.times_out()
            or now < submission.at + submission.timeout_seconds
        ):
            return
        self.ended[query_id] = "FAILED_WITH_ERROR"
        seconds = f"{submission.timeout_seconds:g}"
        message = STATEMENT_TIMED_OUT["message"].format(seconds)
        self.failures[query_id] = {**STATEMENT_TIMED_OUT, "message": message}

    def _finished(self, query_id: str) -> bool:
        """Whether a query is over (called with the lock held)."""
        now = time.monotonic()
        self._expire(query_id, now)
        if query_id in self.ended:
            return True
        statuses_left = self.status_calls.get(query_id, 0) < len(
            self.settings.statuses_before_success
        )
        return not (statuses_left or self.submissions[query_id].phase(now))

    def running(self, query_id: str) -> bool:
        """Whether a timed query has not finished yet."""
        with self._lock:
            return query_id in self.submissions and not self._finished(query_id)

    def is_synchronous(self, query_id: str) -> bool:
        with self._lock:
            submission = self.submissions.get(query_id)
        return submission is not None and submission.synchronous

    def wait_while_running(self, query_id: str, hold_seconds: float) -> bool:
        """Hold until a timed query is over, at most ``hold_seconds``; whether it is over."""
        deadline = time.monotonic() + hold_seconds
        while self.running(query_id):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._stopping.wait(min(left, 0.05))
        return True

    def answered_in_progress(self, code: str) -> None:
        with self._lock:
            self.in_progress_answers[code] = self.in_progress_answers.get(code, 0) + 1

    # -- ends --------------------------------------------------------------------------------
    def cancel(self, query_id: str | None = None, request_id: str | None = None) -> str | None:
        """Cancel a timed query that is still running (by id, or by the request id that
        submitted it), as ``SYSTEM$CANCEL_QUERY`` and the abort requests do; its id, or None
        when no such query was running."""
        with self._lock:
            if query_id is None:
                query_id = self.request_ids.get(request_id or "")
            if query_id is None or query_id not in self.submissions or self._finished(query_id):
                return None
            self.ended[query_id] = "ABORTED"
            self.cancelled.append(query_id)
        return query_id

    def logged_out(self, session: str) -> list[str]:
        """A session logged out: cancel its unfinished asynchronous queries (when set to)."""
        with self._lock:
            self.logouts += 1
            if not self.settings.cancel_on_logout:
                return []
            cancelled = [
                query_id
                for query_id, submission in self.submissions.items()
                if submission.session == session and not self._finished(query_id)
            ]
            for query_id in cancelled:
                self.ended[query_id] = "ABORTED"
            self.cancelled.extend(cancelled)
        return cancelled

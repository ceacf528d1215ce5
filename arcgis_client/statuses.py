"""Job statuses as the Administrator and REST APIs name them, and the one word the portal shows for each."""

from __future__ import annotations

NEW = "esriJobNew"
SUBMITTED = "esriJobSubmitted"
WAITING = "esriJobWaiting"
EXECUTING = "esriJobExecuting"
SUCCEEDED = "esriJobSucceeded"
FAILED = "esriJobFailed"
CANCELLING = "esriJobCancelling"
CANCELLED = "esriJobCancelled"
TIMED_OUT = "esriJobTimedOut"
DELETING = "esriJobDeleting"
DELETED = "esriJobDeleted"

# The statuses query accepts, in lifecycle order; the last three only appear when reading.
QUERYABLE_STATUSES = (NEW, SUBMITTED, WAITING, EXECUTING, SUCCEEDED, FAILED, CANCELLING, CANCELLED)
STATUSES = (*QUERYABLE_STATUSES, TIMED_OUT, DELETING, DELETED)
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, DELETED})
# Only these can be cancelled (the contract: SUBMITTED or EXECUTING).
CANCELLABLE_STATUSES = frozenset({SUBMITTED, EXECUTING})


# Jobs that may still change: the fleet view's default filter.
ACTIVE_STATUSES = (NEW, SUBMITTED, WAITING, EXECUTING, CANCELLING)
QUEUED_STATUSES = frozenset({NEW, SUBMITTED, WAITING})

# One word per status, everywhere the portal names one (badges, filters, messages, audit).
STATUS_LABELS = {
    NEW: "New",
    SUBMITTED: "Submitted",
    WAITING: "Waiting",
    EXECUTING: "Executing",
    SUCCEEDED: "Succeeded",
    FAILED: "Failed",
    CANCELLING: "Cancelling",
    CANCELLED: "Cancelled",
    TIMED_OUT: "Timed out",
    DELETING: "Deleting",
    DELETED: "Deleted",
}


def status_label(status: str) -> str:
    """esriJobExecuting -> Executing; unknown values are shown as they came."""
    return STATUS_LABELS.get(status) or status.removeprefix("esriJob") or status or "Unknown"

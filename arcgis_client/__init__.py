"""Client for the ArcGIS Server Administrator API (10.6.1+): GP services and their jobs.

The only code of the portal that talks to ArcGIS. It imports requests and never Django, so it can be used and
tested on its own. Callers see the small error hierarchy of `errors`, never a requests exception, and every
error's text can be shown to an operator as is. Neither tokens nor passwords appear in a repr, a log line or an
exception.

Bottom up: `statuses` and `names` (what may enter a URL), `errors`, `results` (typed answers), `rest_job` (a
job's Services Directory page), `concurrency`, `connection` (one pooled site connection), `admin_api` (the calls).
Everything public is importable from the package itself.
"""

from arcgis_client.admin_api import AdminClient
from arcgis_client.concurrency import as_completed, in_batches, run_concurrently
from arcgis_client.connection import CallGuard, Observer, SiteConnection, same_origin
from arcgis_client.errors import (
    ArcGISError,
    Forbidden,
    InvalidName,
    MalformedResponse,
    NoJobPage,
    NotFound,
    OperationRefused,
    ResponseTooLarge,
    SiteUnavailable,
    TLSFailure,
    TokenInvalid,
    TokenRejected,
    TokenRequired,
    UnsafeJobURL,
    UntrustedTokenService,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from arcgis_client.names import (
    JOB_ID_PATTERN,
    NAME_PATTERN,
    ServiceRef,
    is_job_id,
    is_name,
    validate_job_id,
    validate_name,
)
from arcgis_client.rest_job import (
    ABORT_MESSAGE,
    ERROR_MESSAGE,
    INFORMATIVE_MESSAGE,
    MAX_DESCRIPTION_CHARS,
    MAX_JOB_PAGE_BYTES,
    MAX_JOB_URL_CHARS,
    MAX_MESSAGES_HEAD,
    MAX_MESSAGES_TAIL,
    MAX_PARAMETER_BYTES,
    MAX_PARAMETERS,
    MAX_VALUE_DEPTH,
    PARAMETER_KINDS,
    WARNING_MESSAGE,
    JobMessage,
    JobParameter,
    JobProgress,
    RestJob,
)
from arcgis_client.results import Job, JobStatistics, QueryPage, Service, Token
from arcgis_client.statuses import (
    ACTIVE_STATUSES,
    CANCELLABLE_STATUSES,
    CANCELLED,
    CANCELLING,
    DELETED,
    DELETING,
    EXECUTING,
    FAILED,
    NEW,
    QUERYABLE_STATUSES,
    QUEUED_STATUSES,
    STATUS_LABELS,
    STATUSES,
    SUBMITTED,
    SUCCEEDED,
    TERMINAL_STATUSES,
    TIMED_OUT,
    WAITING,
    status_label,
)

__all__ = [name for name in dir() if not name.startswith("_")]

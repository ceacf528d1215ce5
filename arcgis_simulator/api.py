"""The ArcGIS Server endpoints: which path is which operation, and what each one answers.

Nothing here knows about sockets or faults; `server.py` feeds requests in and writes answers out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import gp
from . import state as s
from .requestlog import Headers
from .token_store import Token, TokenRejected, TokenStore

log = logging.getLogger("arcgis_simulator")

CURRENT_VERSION = 11.3
FULL_VERSION = "11.3.0"
ADMIN_RESOURCES = [
    "machines",
    "clusters",
    "system",
    "services",
    "security",
    "data",
    "uploads",
    "logs",
    "mode",
    "usagereports",
]
TOKEN_REQUIRED = "Unauthorized access.Token not found. You can generate a token using the 'generateToken' operation."
FORBIDDEN = "You do not have permissions to access this resource or perform this operation."
POST_ONLY = {"cancel", "delete", "purgeQueue"}
ADMIN_ONLY = {"cancel", "delete", "purgeQueue"}
ADMIN, REST = "admin", "rest"
REST_JOB, REST_JOB_PARAM, REST_JOB_CANCEL = "restJob", "restJobParam", "restJobCancel"


class ArcGISError(Exception):
    """An error ArcGIS reports in the body of an HTTP 200 answer."""

    def __init__(self, code: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []

    def to_json(self, style: str) -> dict:
        if style == REST:
            # The REST API words a missing token differently from the Administrator API.
            message = "Token Required" if self.code == 499 else self.message
            return {"error": {"code": self.code, "message": message, "details": self.details}}
        return {"status": "error", "messages": [self.message, *self.details], "code": self.code}


def not_found(name: str) -> ArcGISError:
    return ArcGISError(404, f"Could not find resource or operation '{name}' on the system.")


def invalid_url() -> ArcGISError:
    """How the REST API answers for a job, task, service or parameter it does not know."""
    return ArcGISError(400, "Unable to complete operation.", ["Invalid URL"])


@dataclass(frozen=True)
class Route:
    """What a request path names. `operation` is None when the path names nothing known."""

    operation: str | None
    style: str  # the error shape this endpoint uses
    folder: str = ""
    service: s.Service | None = None
    service_key: str | None = None  # as named in the path, even when no such service exists
    job_id: str | None = None
    missing: str | None = None  # the path segment that names nothing on this site
    task: str | None = None  # a REST job's GP task
    param: tuple[str, str] | None = None  # a REST job's ("inputs" or "results", parameter name)


def resolve(path: str, site: str, state: s.SiteState) -> Route:
    """Match a percent-decoded path against the site's resources."""
    segments = [seg for seg in path.split("/") if seg]
    if not segments or segments[0] != site:
        return Route(None, REST, missing=segments[-1] if segments else "/")
    rest = segments[1:]
    if rest == ["rest", "info"]:
        return Route("info", REST)
    if rest == ["tokens", "generateToken"]:
        return Route("generateToken", REST)
    if rest[:2] == ["rest", "services"]:
        return _resolve_rest_job(rest[2:], state)
    if not rest or rest[0] != "admin":
        return Route(None, REST, missing=rest[-1] if rest else site)
    admin = rest[1:]
    if not admin:
        return Route("root", ADMIN)
    if admin == ["generateToken"]:
        return Route("generateToken", ADMIN)
    if admin[0] == "services":
        return _resolve_services(admin[1:], state)
    return Route(None, ADMIN, missing=admin[-1])


def _resolve_services(parts: list[str], state: s.SiteState) -> Route:
    at = next((i for i, part in enumerate(parts) if "." in part), None)
    if at is None:
        if not parts:
            return Route("services", ADMIN)
        if len(parts) == 1:
            return Route("services", ADMIN, folder=parts[0], missing=None if state.has_folder(parts[0]) else parts[0])
        return Route(None, ADMIN, missing=parts[-1])
    if at > 1:
        return Route(None, ADMIN, missing=parts[-1])
    folder = parts[0] if at == 1 else ""
    name, _, type_ = parts[at].rpartition(".")
    service = state.find_service(folder, name, type_)
    key = service.key if service else (f"{folder}/{name}" if folder else name)  # the service's own spelling
    missing = None if service else parts[at]
    tail = parts[at + 1 :]
    if not tail:
        return Route("service", ADMIN, folder, service, key, missing=missing)
    if tail[0] != "jobs":
        return Route(None, ADMIN, folder, service, key, missing=parts[-1])
    if service is not None and service.type != "GPServer":
        missing = "jobs"
    jobs = tail[1:]
    if not jobs:
        return Route("jobs", ADMIN, folder, service, key, missing=missing)
    if len(jobs) == 1 and jobs[0] in ("query", "statistics", "purgeQueue"):
        return Route(jobs[0], ADMIN, folder, service, key, missing=missing)
    if len(jobs) == 1:
        return Route("job", ADMIN, folder, service, key, job_id=jobs[0], missing=missing)
    if len(jobs) == 2 and jobs[1] in ("cancel", "delete"):
        return Route(jobs[1], ADMIN, folder, service, key, job_id=jobs[0], missing=missing)
    return Route(None, ADMIN, folder, service, key, missing=parts[-1])


def _resolve_rest_job(parts: list[str], state: s.SiteState) -> Route:
    """[<folder>/]<name>/GPServer/<task>/jobs/<jobId>[/inputs/<name> | /results/<name> | /cancel]"""
    at = next((i for i, part in enumerate(parts[:3]) if part == "GPServer"), None)
    tail = parts[at + 1 :] if at is not None else []
    if at not in (1, 2) or len(tail) < 3 or tail[1] != "jobs":
        return Route(None, REST, missing=parts[-1] if parts else "services")
    folder = parts[0] if at == 2 else ""
    service = state.find_service(folder, parts[at - 1], "GPServer")
    key = service.key if service else (f"{folder}/{parts[at - 1]}" if folder else parts[at - 1])
    task, job_id, extra = tail[0], tail[2], tail[3:]
    # The job itself is looked up by the operation; an unknown service or task is known now.
    missing = None if service is not None and task in service.tasks else parts[at - 1]

    def found(operation: str, param: tuple[str, str] | None = None) -> Route:
        return Route(operation, REST, folder, service, key, job_id=job_id, missing=missing, task=task, param=param)

    if not extra:
        return found(REST_JOB)
    if len(extra) == 2 and extra[0] in ("inputs", "results"):
        return found(REST_JOB_PARAM, param=(extra[0], extra[1]))
    if extra == ["cancel"]:
        return found(REST_JOB_CANCEL)
    return Route(None, REST, folder, service, key, missing=parts[-1])


@dataclass(frozen=True)
class Call:
    """One ArcGIS request as the endpoints see it."""

    method: str
    route: Route
    query: dict[str, str]
    form: dict[str, str]
    headers: Headers
    client_ip: str
    base_url: str  # scheme://host:port/site, as the client addressed it
    expire_tokens: bool = False
    params: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # A POST's parameters come from its body; its query string may add others, but never the token.
        query = self.query if self.method == "GET" else {k: v for k, v in self.query.items() if k != "token"}
        object.__setattr__(self, "params", {**query, **self.form})


class Api:
    def __init__(self, state: s.SiteState, tokens: TokenStore) -> None:
        self.state = state
        self.tokens = tokens

    def handle(self, call: Call) -> dict:
        route = call.route
        if route.operation is None:
            raise not_found(route.missing or "")
        if route.operation == "info":
            return self._info(call)
        if route.operation == "generateToken":
            return self._generate_token(call)
        token = self._authenticate(call)
        if route.operation in POST_ONLY and call.method != "POST":
            raise ArcGISError(405, f"The '{route.operation}' operation is only supported via HTTP POST.")
        if route.operation in ADMIN_ONLY and not token.user.admin:
            raise ArcGISError(403, FORBIDDEN)
        if route.missing is not None:
            raise invalid_url() if route.style == REST else not_found(route.missing)
        if route.operation == REST_JOB_CANCEL:
            return self._rest_job_cancel(call, token)
        answer = getattr(self, "_" + route.operation)(call)
        if route.operation in ADMIN_ONLY:
            # The server's own log names whoever acted: the portal's users each act with their own account.
            target = f"{route.service_key}/{route.job_id}" if route.job_id else route.service_key
            log.info("%s: %s by %s", route.operation, target, token.user.name)
        return answer

    # -- tokens -------------------------------------------------------------------------------------

    def _authenticate(self, call: Call) -> Token:
        bearer = call.headers.get("X-Esri-Authorization", "")
        value = (
            call.form.get("token")
            or (bearer[7:].strip() if bearer[:7].lower() == "bearer " else "")
            or (call.query.get("token") if call.method == "GET" else "")
        )
        if not value:
            raise ArcGISError(499, TOKEN_REQUIRED)
        if call.expire_tokens:
            raise ArcGISError(498, "Invalid token.")
        try:
            return self.tokens.check(value, call.headers.get("Referer"), call.client_ip)
        except TokenRejected as rejected:
            raise ArcGISError(498, rejected.message) from None

    def _generate_token(self, call: Call) -> dict:
        rest = call.route.style == REST
        if rest and call.method != "POST":
            raise ArcGISError(405, "Unable to generate token.", ["Token generation via HTTP GET is disabled."])
        params = call.params
        username, password = params.get("username", ""), params.get("password", "")
        if not username or not password:
            raise ArcGISError(400, "Unable to generate token.", ["'username' and 'password' must be specified."])
        user = self.tokens.authenticate(username, password)
        if user is None:
            raise ArcGISError(400, "Unable to generate token.", ["Invalid username or password."])
        client = params.get("client") or "requestip"
        referer = ip = None
        if client == "referer":
            referer = params.get("referer")
            if not referer:
                raise ArcGISError(400, "Unable to generate token.", ["'referer' must be specified."])
        elif client == "ip":
            ip = params.get("ip")
            if not ip:
                raise ArcGISError(400, "Unable to generate token.", ["'ip' must be specified."])
        elif client == "requestip":
            ip = call.client_ip
        else:
            raise ArcGISError(400, "Unable to generate token.", [f"Invalid client type '{client}'."])
        expiration = params.get("expiration") or "60"
        try:
            minutes = int(expiration)
        except ValueError:
            raise ArcGISError(400, "Unable to generate token.", [f"Invalid expiration '{expiration}'."]) from None
        token = self.tokens.issue(user, minutes, referer=referer, ip=ip)
        if rest:
            return {"token": token.value, "expires": token.expires, "ssl": True}
        return {"token": token.value, "expires": str(token.expires)}

    # -- site -------------------------------------------------------------------------------------

    def _info(self, call: Call) -> dict:
        return {
            "currentVersion": CURRENT_VERSION,
            "fullVersion": FULL_VERSION,
            "authInfo": {
                "isTokenBasedSecurity": True,
                "tokenServicesUrl": call.base_url + "/tokens/generateToken",
                "shortLivedTokenValidity": 60,
            },
        }

    def _root(self, call: Call) -> dict:
        return {"resources": ADMIN_RESOURCES, "currentVersion": CURRENT_VERSION, "fullVersion": FULL_VERSION}

    def _services(self, call: Call) -> dict:
        folder = call.route.folder
        services = [service.to_json() for service in self.state.services(folder)]
        if folder:
            return {"folderName": folder, "description": "", "services": services}
        return {"folderName": "/", "description": "Root folder", "folders": self.state.folders(), "services": services}

    def _service(self, call: Call) -> dict:
        service = call.route.service
        assert service is not None
        answer = {
            "serviceName": service.name,
            "type": service.type,
            "description": service.description,
            "capabilities": "",
            "provider": "ArcObjects11",
            "clusterName": "default",
            "minInstancesPerNode": 1,
            "maxInstancesPerNode": 2,
            "maxWaitTime": 60,
            "maxStartupTime": 300,
            "maxIdleTime": 1800,
            "maxUsageTime": 600,
            "loadBalancing": "ROUND_ROBIN",
            "isolationLevel": "HIGH",
            "configuredState": "STARTED",
            "recycleInterval": 24,
            "recycleStartTime": "00:00",
            "keepAliveInterval": 1800,
            "private": False,
            "isDefault": False,
            "maxUploadFileSize": 0,
            "allowedUploadFileTypes": "",
            "properties": {},
            "extensions": [],
            "datasets": [],
        }
        if service.type == "GPServer":
            answer["properties"] = {
                "executionType": "Asynchronous",
                "maximumRecords": "1000",
                "jobsDirectory": "/arcgis/server/directories/arcgisjobs",
                "outputDir": "/arcgis/server/directories/arcgisoutput",
            }
        return answer

    # -- jobs -------------------------------------------------------------------------------------

    def _jobs(self, call: Call) -> dict:
        return {"resources": ["statistics"]}

    def _query(self, call: Call) -> dict:
        params = call.params
        key = call.route.service_key
        assert key is not None and call.route.service is not None
        status = params.get("jobStatus") or params.get("status") or ""
        where = _filter(params, status)
        start = _int_param(params, "start", 1)
        number = _int_param(params, "number", 10)
        total, page = self.state.query(key, where, start, number, base_url=call.base_url)
        following = start + len(page)
        return {
            "total": total,
            "num": len(page),
            "start": start,
            "nextStart": following if following <= total else -1,
            "query": {
                "serviceName": call.route.service.name,
                "jobStatus": status,
                "userName": params.get("userName", ""),
                "machineName": params.get("machineName", ""),
                "startTime": params.get("startTime", ""),
                "endTime": params.get("endTime", ""),
            },
            "results": {job["jobId"]: job for job in page},
        }

    def _statistics(self, call: Call) -> dict:
        assert call.route.service_key is not None
        return self.state.statistics(call.route.service_key, _filter(call.params, ""))

    def _job(self, call: Call) -> dict:
        route = call.route
        assert route.service_key is not None and route.job_id is not None
        job = self.state.get_job(route.service_key, route.job_id, base_url=call.base_url)
        if job is None:
            raise not_found(route.job_id)
        return job

    def _cancel(self, call: Call) -> dict:
        route = call.route
        assert route.service_key is not None and route.job_id is not None
        if not self.state.cancel(route.service_key, route.job_id):
            raise ArcGISError(500, f"Unable to cancel job :[{route.job_id}]")
        return {"status": "success"}

    def _delete(self, call: Call) -> dict:
        route = call.route
        assert route.service_key is not None and route.job_id is not None
        if not self.state.delete(route.service_key, route.job_id):
            raise ArcGISError(400, f"Unable to delete job :[{route.job_id}]")
        return {"status": "success"}

    def _purgeQueue(self, call: Call) -> dict:
        assert call.route.service_key is not None
        self.state.purge_queue(call.route.service_key)
        return {"status": "success"}

    # -- a job's page in the Services Directory (the REST API) ------------------------------------------
    # returnMessages=true is accepted and changes nothing: messages are always listed.

    def _rest_job(self, call: Call) -> tuple[s.Job, int, str]:
        """(the job, now in epoch ms, its page's URL); a job is only found under the task that ran it."""
        route = call.route
        assert route.service_key is not None and route.job_id is not None
        found = self.state.job_record(route.service_key, route.job_id)
        if found is None or found[0].task != route.task:
            raise invalid_url()
        job, now = found
        return job, now, job.rest_url(call.base_url)

    def _restJob(self, call: Call) -> dict:
        return gp.resource(*self._rest_job(call))

    def _restJobParam(self, call: Call) -> dict:
        job, _, url = self._rest_job(call)
        assert call.route.param is not None
        kind, name = call.route.param
        params = gp.inputs(job, url) if kind == "inputs" else gp.results(job, url)
        if name not in params:
            raise invalid_url()
        return {"paramName": name, "dataType": params[name]["dataType"], "value": params[name]["value"]}

    def _rest_job_cancel(self, call: Call, token: Token) -> dict:
        """The REST API's own cancel (GET or POST): the job's owner or an administrator may cancel a
        WAITING or EXECUTING job; anything else is refused and the job goes on."""
        job, _, _ = self._rest_job(call)
        if not token.user.admin and token.user.name != job.username:
            raise ArcGISError(403, FORBIDDEN)
        assert call.route.service_key is not None
        if not self.state.cancel(call.route.service_key, job.job_id, allowed=s.REST_CANCELLABLE):
            raise ArcGISError(400, "Invalid or missing input parameters.")
        return {"jobId": job.job_id, "jobStatus": s.CANCELLING}


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ArcGISError(400, f"Invalid value '{raw}' for parameter '{name}'.")
    return value


def _time_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise ArcGISError(400, f"Invalid value '{raw}' for parameter '{name}'.") from None


def _filter(params: dict[str, str], status: str) -> s.JobFilter:
    return s.JobFilter(
        status=status or None,
        username=params.get("userName") or None,
        machinename=params.get("machineName") or None,
        start_ms=_time_param(params, "startTime"),
        end_ms=_time_param(params, "endTime"),
    )

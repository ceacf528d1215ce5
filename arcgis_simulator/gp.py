"""What a GP job's page in the Services Directory shows: its messages, inputs and results.

Everything is derived from the job's lifecycle and the clock, with a random generator seeded by
the job ID, so a job reads the same on every request and its messages grow while it executes.
A test can fix any part of it per job (add_job's messages=, inputs=, results=).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from . import state as s

INFORMATIVE = "esriJobMessageTypeInformative"
PROCESS_DEFINITION = "esriJobMessageTypeProcessDefinition"
PROCESS_START = "esriJobMessageTypeProcessStart"
PROCESS_STOP = "esriJobMessageTypeProcessStop"
WARNING = "esriJobMessageTypeWarning"
ERROR = "esriJobMessageTypeError"
EMPTY = "esriJobMessageTypeEmpty"
ABORT = "esriJobMessageTypeAbort"
MESSAGE_TYPES = (INFORMATIVE, PROCESS_DEFINITION, PROCESS_START, PROCESS_STOP, WARNING, ERROR, EMPTY, ABORT)

STEP_SECONDS = (3, 8)  # a running job logs its next progress line this many seconds after the last
PARTS = (3, 40)  # how many "Processing part i of n" lines a job has: growth is bounded
WARNINGS = (
    "WARNING 000117: Warning empty output generated.",
    "WARNING 001003: Datum conflict between input and output.",
    "WARNING 000594: Input feature 17: Falls outside of output geometry domains.",
)
ERRORS = (
    "ERROR 000735: {param}: Value is required",
    "ERROR 000732: {param}: Dataset in_memory\\scratch does not exist or is not supported",
    "ERROR 999999: Error executing function.",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def resource(job: s.Job, now: int, job_url: str) -> dict:
    """`GET <job url>?f=json`. Inputs are listed for every job, results only once it has succeeded."""
    logged = messages(job, now)
    answer: dict = {"jobId": job.job_id, "jobStatus": job.status}
    if job.status == s.EXECUTING:  # newer servers say where a running job is
        answer["progress"] = {"type": "default", "message": _progress(logged)}
    answer["messages"] = logged
    answer["inputs"] = {name: {"paramUrl": f"inputs/{name}"} for name in inputs(job, job_url)}
    answer["results"] = {name: {"paramUrl": f"results/{name}"} for name in results(job, job_url)}
    return answer


def messages(job: s.Job, now: int) -> list[dict]:
    if job.messages is not None:
        return [dict(message) for message in job.messages]
    if job.status == s.NEW:
        return []
    out = [_message(INFORMATIVE, "Submitted.")]
    started = job.started
    if started is None:  # still queued, or cancelled before it ran (the state sets `started` once it runs)
        if job.status == s.CANCELLED:
            out.append(_message(ABORT, "Cancelled by user."))
        return out
    plan = _Plan(job)
    out += [
        _message(INFORMATIVE, "Executing..."),
        _message(INFORMATIVE, f"Start Time: {format_time(started)}"),
        _message(INFORMATIVE, f"Running script {job.task}..."),
    ]
    stopped = now if job.end is None else job.end
    # A job that succeeded did all its work, however quickly; any other one got as far as the clock allows.
    done = len(plan.steps) if job.status == s.SUCCEEDED else min(len(plan.steps), (stopped - started) // plan.step_ms)
    for step in range(max(0, done)):
        out.append(_message(INFORMATIVE, plan.steps[step]))
        if plan.warning is not None and plan.warning[0] == step:
            out.append(_message(WARNING, plan.warning[1]))
    elapsed = f"(Elapsed Time: {format_elapsed(stopped - started)})"
    if job.status == s.SUCCEEDED:
        out.append(_message(INFORMATIVE, "Writing outputs..."))
        out.append(_message(INFORMATIVE, f"Completed script {job.task}..."))
        out.append(_message(INFORMATIVE, f"Succeeded at {format_time(stopped)} {elapsed}"))
    elif job.status in (s.FAILED, s.TIMED_OUT):
        reason = plan.error if job.status == s.FAILED else "The job exceeded the service's maximum usage time."
        out.append(_message(ERROR, reason))
        out.append(_message(ERROR, f"Failed to execute ({job.task})."))
        out.append(_message(INFORMATIVE, f"Failed at {format_time(stopped)} {elapsed}"))
    elif job.status == s.CANCELLED:
        out.append(_message(ABORT, "Cancelled by user."))
    return out


def inputs(job: s.Job, job_url: str) -> dict[str, dict]:
    """{name: {"dataType", "value"}}: what the job was submitted with."""
    if job.inputs is not None:
        return job.inputs
    rng = random.Random(job.job_id + ":inputs")
    features = rng.randint(1, 4)
    return {
        "Input_Features": _param("GPFeatureRecordSetLayer", _feature_set(rng, features, "esriGeometryPoint")),
        "Distance": _param("GPLinearUnit", {"distance": rng.choice((50, 100, 250, 500)), "units": "esriMeters"}),
        "Output_Name": _param("GPString", f"{job.task.lower()}_{job.job_id[1:9]}"),
        "Max_Iterations": _param("GPLong", rng.randint(1, 50)),
        "Tolerance": _param("GPDouble", round(rng.uniform(0.001, 1.0), 3)),
        "Dissolve_Output": _param("GPBoolean", rng.random() < 0.5),
        "Reference_Date": _param(
            "GPDate", job.submitted - job.submitted % 86_400_000 - rng.randint(0, 30) * 86_400_000
        ),
    }


def results(job: s.Job, job_url: str) -> dict[str, dict]:
    """{name: {"dataType", "value"}}: empty until the job has succeeded."""
    if job.status != s.SUCCEEDED:
        return {}
    if job.results is not None:
        return job.results
    rng = random.Random(job.job_id + ":results")
    features = rng.randint(1, 5)
    return {
        "Output_Features": _param("GPFeatureRecordSetLayer", _feature_set(rng, features, "esriGeometryPolygon")),
        "Output_File": _param("GPDataFile", {"url": f"{job_url}/scratch/out.zip"}),
        "Output_Raster": _param("GPRasterDataLayer", {"url": f"{job_url}/scratch/out.tif", "format": "tif"}),
        "Feature_Count": _param("GPLong", features),
    }


def format_time(ms: int) -> str:
    """As ArcGIS writes times in messages: "Monday, April 2, 2018 4:57:04 PM" (the simulator's zone is UTC)."""
    t = datetime.fromtimestamp(ms / 1000, UTC)
    hour = t.hour % 12 or 12
    return (
        f"{_DAYS[t.weekday()]}, {_MONTHS[t.month - 1]} {t.day}, {t.year} "
        f"{hour}:{t.minute:02d}:{t.second:02d} {'PM' if t.hour >= 12 else 'AM'}"
    )


def format_elapsed(ms: int) -> str:
    """ "2.03 seconds", "1 minutes 5 seconds", "2 hours 0 minutes 7 seconds" (ArcGIS's own plurals)."""
    ms = max(0, ms)
    if ms < 60_000:
        return f"{ms / 1000:.2f} seconds"
    hours, rest = divmod(ms // 1000, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} hours {minutes} minutes {seconds} seconds"
    return f"{minutes} minutes {seconds} seconds"


class _Plan:
    """How one job's run reads: its progress lines, how fast they come, its warning and its error."""

    def __init__(self, job: s.Job) -> None:
        rng = random.Random(job.job_id + ":messages")
        self.step_ms = rng.randint(*STEP_SECONDS) * 1000
        parts = rng.randint(*PARTS)
        self.steps = [
            "Validating input parameters...",
            f"Reading Input_Features ({rng.randint(10, 5000):,} features)...",
            *(f"Processing part {i} of {parts}..." for i in range(1, parts + 1)),
        ]
        self.warning = (rng.randrange(len(self.steps)), rng.choice(WARNINGS)) if rng.random() < 0.3 else None
        self.error = rng.choice(ERRORS).format(param=rng.choice(("Input Features", "Distance")))


def _progress(logged: list[dict]) -> str:
    """The latest informative line, as a running job's progress."""
    last = next((m.get("description") for m in reversed(logged) if m.get("type") == INFORMATIVE), None)
    return last if isinstance(last, str) else "Executing..."


def _message(type_: str, description: str) -> dict:
    return {"type": type_, "description": description}


def _param(data_type: str, value: object) -> dict:
    return {"dataType": data_type, "value": value}


def _feature_set(rng: random.Random, count: int, geometry_type: str) -> dict:
    """A small feature set in WGS 84, around Portland, Oregon."""
    features = []
    for oid in range(1, count + 1):
        x, y = round(rng.uniform(-122.8, -122.5), 5), round(rng.uniform(45.4, 45.6), 5)
        if geometry_type == "esriGeometryPolygon":
            d = 0.005
            geometry: dict = {"rings": [[[x, y], [x, y + d], [x + d, y + d], [x + d, y], [x, y]]]}
            attributes: dict[str, object] = {"OBJECTID": oid, "Depth_m": round(rng.uniform(0.1, 3.0), 2)}
        else:
            geometry = {"x": x, "y": y}
            attributes = {"OBJECTID": oid, "Name": f"Site {oid}"}
        features.append({"attributes": attributes, "geometry": geometry})
    extra_field: dict[str, object] = (
        {"name": "Depth_m", "type": "esriFieldTypeDouble", "alias": "Depth (m)"}
        if geometry_type == "esriGeometryPolygon"
        else {"name": "Name", "type": "esriFieldTypeString", "alias": "Name", "length": 50}
    )
    return {
        "displayFieldName": "",
        "geometryType": geometry_type,
        "spatialReference": {"wkid": 4326, "latestWkid": 4326},
        "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID"}, extra_field],
        "features": features,
        "exceededTransferLimit": False,
    }

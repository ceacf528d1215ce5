"""The client reads a job's Services Directory page (its `url`) over real HTTP against the simulator:
only at the checked address on the site's own origin, never where a server points it; with the token in
the header; and keeping what a huge or hostile answer holds within bounds."""

from __future__ import annotations

import pytest

import arcgis_client
import arcgis_client.admin_api
from arcgis_client import AdminClient, ServiceRef, SiteConnection
from arcgis_simulator import ManualClock, Simulator
from tests.arcgis_client.conftest import GP, WATERSHED

REST_OPERATIONS = ("restJob", "restJobParam", "restJobCancel")
ERROR = "esriJobMessageTypeError"
INFO = "esriJobMessageTypeInformative"


@pytest.fixture
def gis(simulator):
    simulator.state.add_service("Watershed", folder="Hydrology", tasks=("RunModel", "Prepare"))
    simulator.state.add_service("Other", folder="Hydrology")
    simulator.state.add_service("Watershed")  # the same name at the root
    return simulator


@pytest.fixture
def admin(gis, token, open_connection):
    """Short budgets: a read the portal must never make would otherwise hold the test."""
    return AdminClient(open_connection(gis, timeout=(1.0, 1.0)), token)


@pytest.fixture
def elsewhere():
    """Another server, for addresses that must never be called."""
    with Simulator("empty", clock=ManualClock()) as other:
        other.state.add_service("Watershed", folder="Hydrology", tasks=("RunModel",))
        yield other


def rest_requests(sim) -> list:
    return [r for r in sim.requests if r.operation in REST_OPERATIONS]


def job_claiming(gis, job_id: str, url) -> arcgis_client.Job:
    """The job as the admin API describes it when it answers with this `url` (an odd or malicious server)."""
    body = {"jobId": job_id, "status": "esriJobFailed", "submittedTime": 1, "url": url}
    gis.faults.set("answer", operation="job", count=1, body=body)
    return body


def page_url(gis, job_id: str, task: str = "RunModel") -> str:
    return f"{gis.base_url}/rest/services/Hydrology/Watershed/GPServer/{task}/jobs/{job_id}"


# --- addresses that are refused, with nothing sent ----------------------------------------------


def hostile_urls(gis, elsewhere, job_id: str, other_job: str) -> dict[str, object]:
    host_port = gis.base_url.split("//", 1)[1].split("/", 1)[0]
    port = host_port.rsplit(":", 1)[1]
    good_path = f"/arcgis/rest/services/Hydrology/Watershed/GPServer/RunModel/jobs/{job_id}"
    good = f"http://{host_port}{good_path}"
    return {
        "another host (same server)": f"http://localhost:{port}{good_path}",
        "another host": f"http://evil.example.com:{port}{good_path}",
        "another port": f"{elsewhere.base_url.rsplit('/', 1)[0]}{good_path}",
        "https instead of http": f"https://{host_port}{good_path}",
        "no port": f"http://127.0.0.1{good_path}",
        "scheme-relative": f"//{host_port}{good_path}",
        "a relative path": good_path,
        "javascript": "javascript:alert(1)",
        "ftp": f"ftp://{host_port}{good_path}",
        "another job": good.replace(job_id, other_job),
        "another service": good.replace("/Hydrology/Watershed/", "/Hydrology/Other/"),
        "the root service of that name": good.replace("/Hydrology/Watershed/", "/Watershed/"),
        "another folder": good.replace("/Hydrology/", "/Elsewhere/"),
        "dot-dot": good.replace("/Hydrology/Watershed/", "/Hydrology/Other/../Watershed/"),
        "dot-dot at the end": f"{good}/../../Other/GPServer/RunModel/jobs/{job_id}",
        "a dot segment": good.replace("/GPServer/", "/./GPServer/"),
        "encoded slash": good.replace("/Hydrology/Watershed/", "/Hydrology%2FWatershed/"),
        "encoded dots": good.replace("/Hydrology/Watershed/", "/Hydrology/Other/%2e%2e/Watershed/"),
        "encoded letter": good.replace("/Watershed/", "/W%61tershed/"),
        "a query": f"{good}?token=stolen",
        "an empty query": f"{good}?",
        "a fragment": f"{good}#messages",
        "userinfo": f"http://user:secret@{host_port}{good_path}",
        "userinfo hiding the host": f"http://{host_port}@evil.example.com{good_path}",
        "backslash": f"http://{host_port}\\@evil.example.com{good_path}",
        "a different instance": good.replace("/arcgis/", "/server/"),
        "no instance": good.replace("/arcgis/", "/"),
        "the admin API": f"http://{host_port}/arcgis/admin/services/Hydrology/Watershed.GPServer/jobs/{job_id}",
        "the job's cancel": f"{good}/cancel",
        "a parameter": f"{good}/results/Output",
        "a trailing slash": f"{good}/",
        "a double slash": good.replace("/Hydrology/", "//Hydrology/"),
        "an odd task": good.replace("/RunModel/", "/Run.Model/"),
        "no task": good.replace("/RunModel/", "/"),
        "a MapServer": good.replace("/GPServer/", "/MapServer/"),
        "a newline": f"{good}\n",
        "a space": good.replace("/jobs/", "/jobs /"),
        "a tab in the host": f"http://127.0.0.1\t:{port}{good_path}",
        "too long": good + "/x" * 2000,
        "a broken IPv6 host": f"http://[::1{good_path}",
        "an IPv6 host": f"http://[::1]:{port}{good_path}",
        "not a string": {"href": good},
        "a number": 42,
        "a list": [good],
    }


HOSTILE = [
    "another host (same server)",
    "another host",
    "another port",
    "https instead of http",
    "no port",
    "scheme-relative",
    "a relative path",
    "javascript",
    "ftp",
    "another job",
    "another service",
    "the root service of that name",
    "another folder",
    "dot-dot",
    "dot-dot at the end",
    "a dot segment",
    "encoded slash",
    "encoded dots",
    "encoded letter",
    "a query",
    "an empty query",
    "a fragment",
    "userinfo",
    "userinfo hiding the host",
    "backslash",
    "a different instance",
    "no instance",
    "the admin API",
    "the job's cancel",
    "a parameter",
    "a trailing slash",
    "a double slash",
    "an odd task",
    "no task",
    "a MapServer",
    "a newline",
    "a space",
    "a tab in the host",
    "too long",
    "a broken IPv6 host",
    "an IPv6 host",
    "not a string",
    "a number",
    "a list",
]


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_job_url_is_refused_and_nothing_is_sent(gis, elsewhere, admin, case):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    other_job = gis.state.add_job(GP, status="esriJobFailed")
    url = hostile_urls(gis, elsewhere, job_id, other_job)[case]
    job_claiming(gis, job_id, url)
    job = admin.get_job(WATERSHED, job_id)
    sent_before = len(gis.requests)

    for read in (
        lambda: admin.job_page_url(WATERSHED, job),
        lambda: admin.rest_job(WATERSHED, job),
        lambda: admin.job_parameter(WATERSHED, job, "inputs", "Distance"),
        lambda: admin.job_parameter(WATERSHED, job, "results", "Output_Features"),
    ):
        with pytest.raises(arcgis_client.UnsafeJobURL) as caught:
            read()
        assert "sent nothing" in caught.value.message
        assert not caught.value.reconnect

    assert len(gis.requests) == sent_before
    assert rest_requests(gis) == []
    assert len(elsewhere.requests) == 0


def test_the_refusal_names_the_other_address_but_never_echoes_odd_text(gis, elsewhere, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    job_claiming(gis, job_id, page_url(gis, job_id).replace("127.0.0.1", "evil.example.com"))
    with pytest.raises(arcgis_client.UnsafeJobURL) as caught:
        admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    assert "another address (http://evil.example.com:" in caught.value.message
    assert "the site's own (http://127.0.0.1:" in caught.value.message

    job_claiming(gis, job_id, page_url(gis, job_id) + "?<script>alert(1)</script>")
    with pytest.raises(arcgis_client.UnsafeJobURL) as caught:
        admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    assert "<script>" not in caught.value.message


def test_a_job_without_a_url_has_no_page_and_nothing_is_sent(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    job_claiming(gis, job_id, None)
    job = admin.get_job(WATERSHED, job_id)
    sent_before = len(gis.requests)
    with pytest.raises(arcgis_client.NoJobPage, match="names no Services Directory page"):
        admin.rest_job(WATERSHED, job)
    assert len(gis.requests) == sent_before


def test_a_job_id_that_must_not_enter_a_path_is_refused_before_the_url_is_looked_at(gis, admin):
    job = arcgis_client.Job("../x", "esriJobFailed", url=page_url(gis, "x"))
    with pytest.raises(arcgis_client.InvalidName):
        admin.rest_job(WATERSHED, job)
    assert rest_requests(gis) == []


@pytest.mark.parametrize(
    ("kind", "name"),
    [("inputs", "../x"), ("inputs", "a/b"), ("inputs", "a%2Fb"), ("inputs", ""), ("inputs", "x?y"), ("cancel", "x")],
)
def test_an_unsafe_parameter_kind_or_name_is_refused(gis, admin, kind, name):
    job_id = gis.state.add_job(GP, status="esriJobSucceeded")
    job = admin.get_job(WATERSHED, job_id)
    with pytest.raises(arcgis_client.InvalidName):
        admin.job_parameter(WATERSHED, job, kind, name)
    assert rest_requests(gis) == []


# --- a good address -------------------------------------------------------------------------------


def test_a_good_url_is_read_on_the_sites_origin_with_the_token_in_the_header(gis, admin, token):
    job_id = gis.state.add_job(GP, status="esriJobFailed", task="Prepare")  # another task than the first is fine
    job = admin.get_job(WATERSHED, job_id)
    assert job.url == page_url(gis, job_id, "Prepare")

    details = admin.rest_job(WATERSHED, job)

    (sent,) = rest_requests(gis)
    assert sent.operation == "restJob" and sent.method == "GET"
    assert sent.path == f"/arcgis/rest/services/Hydrology/Watershed/GPServer/Prepare/jobs/{job_id}"
    assert sent.headers["X-Esri-Authorization"] == f"Bearer {token}"
    assert sent.query == {"returnMessages": "true", "f": "json"}
    assert "token" not in sent.query and "token" not in sent.form
    assert details.job_id == job_id and details.status == "esriJobFailed"
    assert details.url == job.url
    assert details.is_terminal


def test_the_request_goes_to_the_sites_own_origin_not_the_urls_spelling(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    url = page_url(gis, job_id).replace("http://", "HTTP://")
    job_claiming(gis, job_id, url)
    job = admin.get_job(WATERSHED, job_id)
    assert admin.job_page_url(WATERSHED, job) == page_url(gis, job_id)


def test_names_are_matched_as_arcgis_does_case_insensitively_but_not_the_job_id(elsewhere):
    admin = AdminClient(SiteConnection("https://gis.example.com/server/admin"), "t")
    url = "https://gis.example.com/Server/rest/services/hydrology/WATERSHED/GPServer/Run/jobs/j1abc"
    assert admin.job_page_url(WATERSHED, arcgis_client.Job("j1abc", "esriJobFailed", url=url)) == url
    with pytest.raises(arcgis_client.UnsafeJobURL):
        admin.job_page_url(WATERSHED, arcgis_client.Job("j1abc", "esriJobFailed", url=url.replace("j1abc", "J1ABC")))


def test_a_site_behind_a_web_adaptor_uses_its_own_instance_name(elsewhere):
    connection = SiteConnection("https://gis.example.com/server/admin")
    admin = AdminClient(connection, "t")
    url = "https://gis.example.com/server/rest/services/Hydrology/Watershed/GPServer/Run/jobs/j1"
    assert admin.job_page_url(WATERSHED, arcgis_client.Job("j1", "esriJobFailed", url=url)) == url
    # the default port of the scheme is the same origin
    spelled = "https://gis.example.com:443/server/rest/services/Hydrology/Watershed/GPServer/Run/jobs/j1"
    assert admin.job_page_url(WATERSHED, arcgis_client.Job("j1", "esriJobFailed", url=spelled)) == url
    for other in (url.replace("/server/", "/arcgis/"), url.replace("https://gis.", "https://gis2.")):
        with pytest.raises(arcgis_client.UnsafeJobURL):
            admin.job_page_url(WATERSHED, arcgis_client.Job("j1", "esriJobFailed", url=other))
    root = url.replace("/Hydrology/Watershed/", "/Watershed/")
    assert admin.job_page_url(ServiceRef("", "Watershed"), arcgis_client.Job("j1", "esriJobFailed", url=root)) == root


def test_failed_job_messages_and_parameters(gis, admin):
    messages = [
        {"type": INFO, "description": "Start Time: Monday, April 2, 2018 4:57:04 PM"},
        {"type": ERROR, "description": "ERROR 000735: Input Features: Value is required"},
        {"type": ERROR, "description": "Failed to execute (RunModel)."},
        {"type": INFO, "description": "Failed at Monday, April 2, 2018 4:57:06 PM (Elapsed Time: 2.03 seconds)"},
    ]
    inputs = {"Distance": {"dataType": "GPLinearUnit", "value": {"distance": 100, "units": "esriMeters"}}}
    job_id = gis.state.add_job(GP, status="esriJobFailed", messages=messages, inputs=inputs)
    job = admin.get_job(WATERSHED, job_id)

    details = admin.rest_job(WATERSHED, job)
    assert [(m.type, m.description) for m in details.messages] == [(m["type"], m["description"]) for m in messages]
    assert [m.index for m in details.messages] == [0, 1, 2, 3]
    assert details.message_count == 4 and details.messages_omitted == 0
    assert details.last_error.description == "ERROR 000735: Input Features: Value is required"
    assert details.inputs == ("Distance",) and details.results == ()
    assert [m.index for m in details.messages_after(2)] == [2, 3]

    parameter = admin.job_parameter(WATERSHED, job, "inputs", "Distance")
    distance = {"distance": 100, "units": "esriMeters"}
    assert parameter == arcgis_client.JobParameter("inputs", "Distance", "GPLinearUnit", distance)
    sent = rest_requests(gis)[-1]
    assert sent.operation == "restJobParam"
    assert sent.path.endswith(f"/jobs/{job_id}/inputs/Distance")


def test_the_generic_failure_line_is_the_last_error_only_when_alone(gis, admin):
    messages = [{"type": ERROR, "description": "Failed to execute (RunModel)."}]
    job_id = gis.state.add_job(GP, status="esriJobFailed", messages=messages)
    details = admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    assert details.last_error.description == "Failed to execute (RunModel)."


def test_succeeded_job_lists_results_and_their_values(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobSucceeded")
    job = admin.get_job(WATERSHED, job_id)
    details = admin.rest_job(WATERSHED, job)
    assert details.last_error is None
    assert "Output_Features" in details.results and "Output_File" in details.results
    output = admin.job_parameter(WATERSHED, job, "results", "Output_File")
    assert output.data_type == "GPDataFile" and output.value["url"].startswith(job.url)


def test_executing_job_has_progress_and_messages_grow(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobExecuting")
    job = admin.get_job(WATERSHED, job_id)
    first = admin.rest_job(WATERSHED, job)
    assert not first.is_terminal and first.progress is not None and first.progress.message
    gis.clock.advance(60)
    later = admin.rest_job(WATERSHED, job)
    assert later.message_count > first.message_count
    assert [m.index for m in later.messages_after(first.message_count)] == list(
        range(first.message_count, later.message_count)
    )


def test_an_unknown_parameter_or_deleted_job_is_the_rest_error(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    job = admin.get_job(WATERSHED, job_id)
    with pytest.raises(arcgis_client.OperationRefused) as caught:
        admin.job_parameter(WATERSHED, job, "results", "Nothing")
    assert caught.value.code == 400 and "Invalid URL" in caught.value.message
    admin.delete_job(WATERSHED, job_id)
    with pytest.raises(arcgis_client.OperationRefused):
        admin.rest_job(WATERSHED, job)


# --- bounds ---------------------------------------------------------------------------------------


def test_of_a_huge_list_the_first_and_last_messages_are_kept(gis, admin):
    messages = [{"type": INFO, "description": f"line {i}"} for i in range(10_000)]
    job_id = gis.state.add_job(GP, status="esriJobFailed", messages=messages)
    details = admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    assert details.message_count == 10_000
    assert len(details.messages) == arcgis_client.MAX_MESSAGES_HEAD + arcgis_client.MAX_MESSAGES_TAIL == 5000
    assert details.messages_omitted == 5000
    indexes = [m.index for m in details.messages]
    assert indexes == [*range(500), *range(5500, 10_000)]
    assert all(m.description == f"line {m.index}" for m in details.messages)


def test_long_descriptions_are_truncated_and_odd_entries_skipped(gis, admin):
    messages = [
        {"type": ERROR, "description": "E" * 50_000},
        {"type": "x" * 1000, "description": "odd type"},
        {"type": INFO, "description": 42},
        {"type": INFO, "description": {"nested": "object"}},
    ]
    job_id = gis.state.add_job(GP, status="esriJobFailed", messages=messages)
    gis.faults.set(
        "answer",
        operation="restJob",
        count=1,
        body={"jobId": job_id, "jobStatus": "esriJobFailed", "messages": [*messages, "a string", None, 7]},
    )
    details = admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    first = details.messages[0]
    assert len(first.description) == arcgis_client.MAX_DESCRIPTION_CHARS and first.truncated
    assert len(details.messages[1].type) == 100
    assert details.messages[2].description == "42"
    assert details.messages[3].description == ""
    assert len(details.messages) == 4 and details.message_count == 7


def test_parameter_names_are_capped_and_must_be_addressable(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    inputs = {f"P{i}": {"paramUrl": f"inputs/P{i}"} for i in range(60)}
    inputs |= {"../x": {}, "a b": {}, "a%2Fb": {}}
    gis.faults.set("answer", operation="restJob", count=1, body={"jobId": job_id, "inputs": inputs, "results": []})
    details = admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    assert details.inputs == tuple(f"P{i}" for i in range(arcgis_client.MAX_PARAMETERS))
    assert details.results == ()
    assert details.parameters_omitted == 13
    assert details.status == "unknown" and details.messages == ()


def test_a_page_larger_than_the_bound_is_refused(gis, admin, monkeypatch):
    monkeypatch.setattr(arcgis_client.admin_api, "MAX_JOB_PAGE_BYTES", 50_000)
    messages = [{"type": INFO, "description": "x" * 1000} for _ in range(100)]
    job_id = gis.state.add_job(GP, status="esriJobFailed", messages=messages)
    with pytest.raises(arcgis_client.ResponseTooLarge, match="more than 48 KiB"):
        admin.rest_job(WATERSHED, admin.get_job(WATERSHED, job_id))
    # the connection is usable afterwards
    assert admin.get_job(WATERSHED, job_id).job_id == job_id


def test_a_parameter_value_larger_than_the_bound_is_refused(gis, admin):
    huge = {"features": [{"attributes": {"Name": "x" * 1000}} for _ in range(2000)]}
    inputs = {"Input_Features": {"dataType": "GPFeatureRecordSetLayer", "value": huge}}
    job_id = gis.state.add_job(GP, status="esriJobFailed", inputs=inputs)
    job = admin.get_job(WATERSHED, job_id)
    with pytest.raises(arcgis_client.ResponseTooLarge):
        admin.job_parameter(WATERSHED, job, "inputs", "Input_Features")


def test_a_deeply_nested_value_is_refused(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    job = admin.get_job(WATERSHED, job_id)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    gis.faults.set("answer", operation="restJobParam", count=1, body={"paramName": "Distance", "value": deep})
    with pytest.raises(arcgis_client.MalformedResponse, match="nested too deeply"):
        admin.job_parameter(WATERSHED, job, "inputs", "Distance")


def test_an_answer_for_another_job_or_parameter_is_refused(gis, admin):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    job = admin.get_job(WATERSHED, job_id)
    gis.faults.set("answer", operation="restJob", count=1, body={"jobId": "jOther", "messages": []})
    with pytest.raises(arcgis_client.MalformedResponse, match="another job"):
        admin.rest_job(WATERSHED, job)
    gis.faults.set("answer", operation="restJobParam", count=1, body={"paramName": "Other", "value": 1})
    with pytest.raises(arcgis_client.MalformedResponse, match="another parameter"):
        admin.job_parameter(WATERSHED, job, "inputs", "Distance")


# --- upstream failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("html_502", arcgis_client.UpstreamUnavailable),
        ("stall", arcgis_client.UpstreamTimeout),
        ("reset", arcgis_client.UpstreamUnavailable),
        ("malformed_json", arcgis_client.MalformedResponse),
        ("expire_tokens", arcgis_client.TokenInvalid),
    ],
)
def test_failures_of_the_job_page_are_typed_errors(gis, admin, fault, error):
    job_id = gis.state.add_job(GP, status="esriJobFailed")
    job = admin.get_job(WATERSHED, job_id)
    gis.faults.set(fault, operation="restJob")
    with pytest.raises(error):
        admin.rest_job(WATERSHED, job)
    gis.faults.set(fault, operation="restJobParam")
    with pytest.raises(error):
        admin.job_parameter(WATERSHED, job, "inputs", "Distance")

"""The errors the client raises: every one has `.message` (fit to show an operator as is) and `.reconnect`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from arcgis_client._json import as_int, texts


class ArcGISError(Exception):
    """Base of every error the client raises; str() is fit to show an operator.

    Like every error a page shows, it has `.message` and `.reconnect` (the operator must
    connect again before anything can work)."""

    code: int | None = None
    reconnect = False

    def __init__(
        self, message: str, *, code: int | None = None, messages: Iterable[str] = (), ambiguous: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.code
        self.messages = list(messages) or [message]
        # True when a POST may have reached the server although no answer came back.
        self.ambiguous = ambiguous


class InvalidName(ArcGISError, ValueError):
    """A folder, service or job ID that must not enter a URL. Nothing was sent."""


class TokenRejected(ArcGISError):
    """The server will not act on this token: the operator must reconnect."""

    reconnect = True


class TokenInvalid(TokenRejected):
    """498: the token is invalid, expired, or bound to another referer."""

    code = 498


class TokenRequired(TokenRejected):
    """499: no token was sent, or the server wants one."""

    code = 499


class Forbidden(ArcGISError):
    """403: the token's user lacks the privilege."""

    code = 403


class NotFound(ArcGISError):
    """404: no such folder, service or job."""

    code = 404


class OperationRefused(ArcGISError):
    """The server refused the operation; messages hold its words verbatim."""


class UpstreamUnavailable(ArcGISError):
    """No ArcGIS answer: connection refused or reset, 5xx, or an HTML page from a proxy."""


class UpstreamTimeout(UpstreamUnavailable):
    """The server did not connect or answer within the site's timeouts."""


class TLSFailure(UpstreamUnavailable):
    """The server's certificate could not be verified."""


class SiteUnavailable(UpstreamUnavailable):
    """Not even tried: the site stopped answering recently, or too many calls to it are in flight."""


class MalformedResponse(ArcGISError):
    """An answer that is not the JSON ArcGIS sends."""


class UntrustedTokenService(ArcGISError):
    """/rest/info names a token service off the site's own origin: no password is sent there."""


class ResponseTooLarge(MalformedResponse):
    """An answer larger than the portal reads for that kind of request; the rest was not read."""


class NoJobPage(ArcGISError):
    """ArcGIS names no Services Directory page for the job (its `url` is missing). Nothing was sent."""


class UnsafeJobURL(ArcGISError):
    """The job's `url` is not the Services Directory page of this service and job on the site's own
    address (another host, port or scheme, another job, encoded or extra characters). Nothing was sent."""


_ERRORS_BY_CODE: dict[int, type[ArcGISError]] = {498: TokenInvalid, 499: TokenRequired, 403: Forbidden, 404: NotFound}


def error_from_body(body: Any) -> ArcGISError | None:
    """The error in an ArcGIS answer, in either of its two shapes, or None."""
    if not isinstance(body, dict):
        return None
    if body.get("status") == "error":  # Administrator style
        code = as_int(body.get("code"))
        messages = texts(body.get("messages")) or ["The server reported an error."]
    elif isinstance(body.get("error"), dict):  # REST style
        error = body["error"]
        code = as_int(error.get("code"))
        messages = [str(error.get("message") or "The server reported an error.")]
        messages += texts(error.get("details"))
    else:
        return None
    kind = _ERRORS_BY_CODE.get(code, OperationRefused) if code is not None else OperationRefused
    return kind(_sentences(messages), code=code, messages=messages)


def _sentences(messages: list[str]) -> str:
    """ArcGIS's messages as one text: a lone message verbatim, several as sentences."""
    if len(messages) == 1:
        return messages[0]
    return " ".join(m if m.rstrip().endswith((".", "!", "?", "]", ":")) else f"{m}." for m in messages)

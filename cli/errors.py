"""Every failure the CLI and the console can meet, as one sentence on-call can act on.

`explain(error)` maps an exception to (sentence, exit code) with the documented codes: 0 ok,
1 refused or failed, 2 bad arguments or configuration, 3 rollforward not deployed there or AWS /
the emulator unreachable. The sentence never carries a stack trace, a web page or a file path;
`--debug` prints the details after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import requests
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# Credentials AWS does not accept: the target cannot be used, whatever the command.
AUTH_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
ACCESS_ERRORS = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
DEBUG_HINT = " (run with --debug for details)"
MAX_MESSAGE = 300


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def looks_like_a_web_page(text: str) -> bool:
    return bool(re.match(r"\s*<(!doctype|html|\?xml[^>]*>\s*<html)", text, re.IGNORECASE))


def clean(text: str) -> str:
    """One line, no web page, no file path, bounded."""
    if looks_like_a_web_page(text):
        parser = _Text()
        parser.feed(text)
        text = f"a web page ({parser.title.strip() or 'untitled'})"
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"(/[\w.@-]+){2,}\.py\b(:\d+)?", "<file>", text)  # no source paths
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def explain(error: BaseException) -> tuple[str, int]:
    """(sentence, exit code) for any exception a command let escape."""
    if isinstance(error, ProfileNotFound):
        return f"The AWS profile {error.kwargs.get('profile')!r} is not configured.", EXIT_USAGE
    if isinstance(error, NoRegionError):
        return "No AWS region is configured: pass --region or set AWS_REGION.", EXIT_USAGE
    if isinstance(error, NoCredentialsError):
        return (
            "No AWS credentials: configure a profile (--profile), or use --emulator.",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, SSLError):
        endpoint = error.kwargs.get("endpoint_url", "the endpoint")
        hint = (
            " It answers plain HTTP: use an http:// URL."
            if "WRONG_VERSION_NUMBER" in str(error)
            else ""
        )
        return f"Cannot reach {endpoint}: the TLS handshake failed.{hint}", EXIT_UNREACHABLE
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError, BotoConnectionError)):
        endpoint = error.kwargs.get("endpoint_url", "AWS")
        return (
            f"Cannot reach {endpoint}: check --endpoint-url and --region, or start the "
            "emulator (`rollforward emulator`).",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, requests.exceptions.SSLError):
        return "Cannot reach the endpoint: the TLS handshake failed.", EXIT_UNREACHABLE
    if isinstance(error, requests.ConnectionError):
        return "Cannot reach the endpoint: the connection failed.", EXIT_UNREACHABLE
    if isinstance(error, (HTTPClientError, requests.Timeout)):
        return "The endpoint stopped answering mid-request; try again.", EXIT_UNREACHABLE
    if isinstance(error, ClientError):
        return _explain_client_error(error)
    if isinstance(error, BotoCoreError):
        return f"The AWS client failed: {clean(str(error))}.", EXIT_FAILED
    return (
        f"rollforward failed unexpectedly ({type(error).__name__}){DEBUG_HINT}.",
        EXIT_FAILED,
    )


def _explain_client_error(error: ClientError) -> tuple[str, int]:
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    message = str(details.get("Message", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    operation = error.operation_name
    if looks_like_a_web_page(message) or (code.isdigit() and not message.strip().startswith("{")):
        # Not an AWS error document: a proxy, a wrong endpoint, a region the endpoint does not
        # serve, or the emulator failing.
        return (
            f"The endpoint did not answer {operation} like AWS (HTTP {status or code}, "
            f"{clean(message) or 'no body'}): check --endpoint-url and --region.",
            EXIT_UNREACHABLE,
        )
    if code in AUTH_ERRORS and "scoped to" in message and "region" in message:
        # AWS's answer to a request signed for a region its endpoint does not serve.
        return (
            f"The endpoint does not serve this region ({code}: {clean(message)}): "
            "check --endpoint-url and --region.",
            EXIT_UNREACHABLE,
        )
    if code in AUTH_ERRORS:
        return (
            f"AWS did not accept these credentials ({code}): refresh them or pick another profile.",
            EXIT_UNREACHABLE,
        )
    if code in ACCESS_ERRORS:
        return (
            f"Your IAM identity may not call {operation} ({code}): see the README's "
            "'IAM on-call needs'.",
            EXIT_FAILED,
        )
    sentence = f"AWS refused {operation} ({code})"
    if message:
        sentence += f": {clean(message)}"
    return sentence.rstrip(".") + ".", EXIT_FAILED


# ------------------------------------------------------------------------ the decision API


@dataclass(frozen=True)
class DecisionAnswer:
    """What the decision API said to one decision, read the same way by the CLI and the
    console. `status` is the HTTP status, 0 when no answer came."""

    status: int
    body: dict[str, Any]
    no_answer: str = ""  # why there was no answer ("" when there was one)
    unreachable: bool = False  # the API could not be reached at all (exit 3)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def kind(self) -> str:
        """`decided`, `refused` (4xx: nothing changed), `failed` (5xx), or `unknown` (no
        answer: the decision may or may not have been recorded)."""
        if self.no_answer:
            return "unknown"
        if self.ok:
            return "decided"
        return "refused" if 400 <= self.status < 500 else "failed"

    @property
    def reason(self) -> str:
        """One sentence: why it was refused or failed ("" when decided)."""
        if self.no_answer:
            return self.no_answer
        if self.ok:
            return ""
        text = self.body.get("refused") or self.body.get("message") or self.body
        return clean(str(text or "no reason given"))

    @property
    def http_status(self) -> int:
        """The status a web page about this answer carries: the API's own for a refusal,
        502 for a failure or no answer."""
        if self.ok:
            return 200
        return self.status if self.kind == "refused" else 502


def post_decision(client: Any, **fields: Any) -> DecisionAnswer:
    """POST one decision through `client` (`aws.DecisionClient`) and read the answer."""
    try:
        status, body = client.post(**fields)
    except requests.Timeout:
        return DecisionAnswer(
            0,
            {},
            f"the decision API did not answer in time; the {fields.get('action', 'decision')} "
            "may or may not have been recorded: check the pin's timeline (`rollforward show` "
            "or its console page)",
        )
    except requests.ConnectionError:
        return DecisionAnswer(
            0, {}, f"cannot reach the decision API at {client.url}", unreachable=True
        )
    return DecisionAnswer(int(status), dict(body))

"""The console's web application: routes, pages, the decision flow, and how it is served.

Nothing acts on a GET (mail scanners and link previews prefetch links). A decision takes two
POSTs: the form, then a confirmation page that restates function, decision and reason and
carries `confirm=yes`. The reason is required on the server, whatever the browser checked.
"""

from __future__ import annotations

import logging
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from rollforward.approvals import MAX_REASON
from rollforward.model import PinKey
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ..aws import NotDeployed, Target
from ..commands.base import ensure_reachable
from ..errors import explain
from ..render import jsonable
from .backend import Backend
from .posture import posture_page
from .security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    Sessions,
    host_and_port,
    is_loopback,
    require_loopback,
    same_origin,
    secure,
    url_host,
)
from .views import (
    HOLD_ACTIONS,
    DecisionForm,
    Refusal,
    Subject,
    read_decision,
)

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_FILES = {"console.css": "text/css; charset=utf-8"}

logger = logging.getLogger("rollforward.console")


# ------------------------------------------------------------------------ entry points


def serve(
    target: Target, port: int = 8080, host: str = "127.0.0.1", open_browser: bool = False
) -> None:
    """Serve the console until Ctrl-C (KeyboardInterrupt propagates to the caller).

    Reads the deployment first, so "not deployed" (`NotDeployed`) or an unreachable endpoint
    is reported before anything listens. Raises ValueError for a non-loopback `host`, OSError
    when the port is taken.
    """
    require_loopback(host)
    if target.endpoint_url:
        ensure_reachable(target.endpoint_url, emulator=target.is_emulator)
    app = make_app(target)
    app.backend.check_deployed()
    server = make_server(host, port, app, threaded=True)
    url = f"http://{url_host(host)}:{server.server_port}/"
    print(f"rollforward console on {url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    print(
        "Decisions are signed with your AWS credentials: you are the approver on record.",
        file=sys.stderr,
        flush=True,
    )
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def make_app(target: Target) -> ConsoleApp:
    """The console as a WSGI application (tests serve it on a free port in a thread)."""
    return ConsoleApp(Backend(target))


class ConsoleApp:
    """The WSGI application: routes, sessions, security headers, templates."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.sessions = Sessions()
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["max_reason"] = MAX_REASON  # the decision API's own limit
        self.routes = Map(
            [
                Rule("/", endpoint="fleet", methods=["GET"]),
                Rule("/pin", endpoint="pin", methods=["GET"]),
                Rule("/posture", endpoint="posture", methods=["GET"]),
                Rule("/decide", endpoint="decide", methods=["POST"]),
                Rule("/static/<name>", endpoint="static", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        session = request.cookies.get(CSRF_COOKIE, "")
        new_session = None if self.sessions.known(session) else self.sessions.issue()
        token = new_session or session
        try:
            if not is_loopback(host_and_port(request)[0]):
                raise Refusal(
                    400,
                    "Not this host",
                    "The console answers only requests addressed to 127.0.0.1 or localhost.",
                )
            adapter = self.routes.bind_to_environ(request.environ)
            endpoint, arguments = adapter.match()
            handler = getattr(self, f"on_{endpoint}")
            response: Response = handler(request, token, **arguments)
        except Refusal as refusal:
            response = self.page(
                "message.html", token, refusal.status, title=refusal.title, message=refusal.message
            )
        except NotDeployed as error:
            response = self.page(
                "message.html", token, 503, title="Not deployed", message=str(error)
            )
        except (ClientError, BotoCoreError, requests.RequestException) as error:
            logger.warning("AWS call failed: %s", error)
            sentence, _ = explain(error)  # one sentence: no web page, trace or file path
            response = self.page(
                "message.html", token, 502, title="AWS did not answer", message=sentence
            )
        except HTTPException as error:
            response = self.page(
                "message.html",
                token,
                error.code or 500,
                title=error.name,
                message=error.description or "",
                headers={"Allow": ", ".join(error.valid_methods or [])}
                if isinstance(error, MethodNotAllowed)
                else None,
            )
        secure(response)
        if new_session:
            response.set_cookie(
                CSRF_COOKIE, new_session, httponly=True, samesite="Strict", path="/"
            )
        return response

    def page(
        self,
        template: str,
        token: str,
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> Response:
        values.setdefault("identity", "")
        html = self.templates.get_template(template).render(csrf_token=token, **values)
        return Response(html, status=status, mimetype="text/html", headers=headers)

    # -------------------------------------------------------------------- pages

    def on_fleet(self, request: Request, token: str) -> Response:
        include_closed = request.args.get("all") == "1"
        fleet = self.backend.fleet(include_closed=include_closed)
        return self.page("fleet.html", token, fleet=fleet, identity=self.backend.identity())

    def on_pin(self, request: Request, token: str) -> Response:
        pin_id = request.args.get("id", "")
        try:
            view = self.backend.pin(pin_id)
        except ValueError:
            raise Refusal(
                400, "Not a pin id", f"{pin_id!r} is not a pin id (ARN#QUALIFIER)."
            ) from None
        if view is None:
            raise Refusal(404, "No such pin", f"rollforward has no ledger item for {pin_id}.")
        return self.page("pin.html", token, view=view, identity=self.backend.identity())

    def on_posture(self, request: Request, token: str) -> Response:
        return posture_page(self, request, token)

    def on_static(self, request: Request, token: str, name: str) -> Response:
        if name not in STATIC_FILES:
            raise NotFound()
        response = Response((STATIC_DIR / name).read_bytes(), mimetype=STATIC_FILES[name])
        response.headers["Cache-Control"] = "no-cache"
        return response

    def on_decide(self, request: Request, token: str) -> Response:
        form = request.form
        if not same_origin(request) or not self.sessions.valid(
            request.cookies.get(CSRF_COOKIE, ""), form.get(CSRF_FIELD, "")
        ):
            raise Refusal(
                403,
                "Form expired",
                "This form was not sent from this console session (missing or stale CSRF "
                "token). Nothing was sent. Reload the console and try again.",
            )
        decision = read_decision(form)
        subject = self._subject(decision)
        if form.get("confirm") != "yes":
            return self.page(
                "confirm.html",
                token,
                decision=decision,
                subject=subject,
                identity=self.backend.identity(),
            )
        answer = self.backend.decide(decision.fields)
        logger.info("%s %s: API answered %s", decision.action, decision.target_id, answer.status)
        return self.page(
            "result.html",
            token,
            answer.http_status,
            decision=decision,
            subject=subject,
            identity=self.backend.identity(),
            api_status=answer.status or answer.http_status,
            body=jsonable(answer.body),
            refusal=answer.reason,
            unknown=answer.kind == "unknown",  # no answer: it may have been recorded
        )

    def _subject(self, decision: DecisionForm) -> Subject:
        """What the decision is about, restated on the confirmation and result pages."""
        if decision.action in HOLD_ACTIONS:
            key = PinKey.from_id(decision.target_id)
            return Subject(key.function_name, key.qualifier, decision.target_id, "", "")
        record = self.backend.approval_subject(decision.target_id)
        if record is None:
            raise Refusal(404, "No such approval", f"There is no approval {decision.target_id}.")
        pin_id = str(record.get("pin_id", ""))
        try:
            key = PinKey.from_id(pin_id)
            name, qualifier = key.function_name, key.qualifier
        except ValueError:
            name, qualifier = pin_id, ""
        status = str(record.get("status", ""))
        note = ""
        if status != "pending":
            by = record.get("decided_by")
            note = f"This approval is {status}" + (f" (by {by})" if by else "") + "."
        return Subject(name, qualifier, pin_id, str(record.get("expires_at", "")), note)

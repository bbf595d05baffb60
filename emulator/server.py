"""`rollforward emulator`: the embedded AWS as a server on 127.0.0.1.

moto's server, with rollforward's additions installed in the same process: boto3, the AWS CLI
or the rollforward CLI talk to it through `AWS_ENDPOINT_URL`/`--endpoint-url` as they would to
AWS. Throttling is on by default here, as in AWS.
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from emulator import endpoint, iam, install
from emulator.inprocess import MOTO_CONFIG
from emulator.routes import dispatch
from emulator.state import STATE, reset


class RollforwardMiddleware:
    """Our endpoints first, everything else to moto."""

    def __init__(self, moto_app: Any) -> None:
        self._moto = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        request = Request(environ)
        # The URL as it came over the wire: SigV4 signs the percent-encoded path.
        raw_url = f"http://{request.host}{environ.get('RAW_URI') or request.full_path}"
        if request.path.startswith("/_rollforward/") or "/_user_request_/" in request.path:
            answered = dispatch(request.method, raw_url, dict(request.headers), body)
            if answered is not None:
                status, headers, body = answered
                return Response(body, status=status, headers=headers)(environ, start_response)
        if (
            iam.ENFORCEMENT.enabled
            and not request.path.startswith("/moto-api")
            and "/_user_request_/" not in request.path  # the decision API answers itself
        ):
            # The endpoint refuses what names no service or another one, as AWS's do.
            refused = endpoint.refusal(request.method, raw_url, dict(request.headers), body)
            if refused is not None:
                return Response(refused.body, status=refused.status, headers=refused.headers)(
                    environ, start_response
                )
        identity = iam.wsgi_identity(environ, dict(request.headers), body)
        if identity is None:
            return self._moto(environ, start_response)
        with iam.request_identity(identity):
            # moto answers within this call (the response body is built before it returns).
            return self._moto(environ, start_response)


class EmulatorServer:
    def __init__(
        self,
        port: int = 4566,
        host: str = "127.0.0.1",
        throttling: bool = True,
        validation: bool = True,
        iam_enforced: bool = True,
        region: str = "us-east-1",
    ) -> None:
        self.host, self.port, self.throttling = host, port, throttling
        self.validation = validation
        # SigV4 verification and IAM enforcement (emulator.iam); off only with --lenient.
        self.iam_enforced, self.region = iam_enforced, region
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        from moto.core.base_backend import BackendDict
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        install.install_all()
        reset()
        # A fresh account, as `EmbeddedAws` starts one: moto's backends are process-wide, and a
        # server started after another (or after an in-process embedded AWS) must not see what
        # that one left (its stack, users, trail: EntityAlreadyExists on the next deploy).
        BackendDict.reset()
        default_user_config.update(MOTO_CONFIG)
        # The emulator's own calls (deploy, traffic, controls) act as the account root.
        for key, value in {
            "AWS_ACCESS_KEY_ID": iam.ROOT_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": iam.ROOT_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
        }.items():
            os.environ.setdefault(key, value)
        iam.ENFORCEMENT.enabled = self.iam_enforced
        iam.reset()  # no role session or cached policy of an earlier embedded AWS
        # One regional endpoint: a request scoped to another region is refused, as AWS does.
        iam.SERVER_REGION.value = self.region
        self._server = make_server(
            self.host,
            self.port,
            RollforwardMiddleware(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self.port = self._server.server_address[1]
        # The Step Functions interpreter and in-process handlers reach AWS through this server.
        os.environ["MOTO_PORT"] = str(self.port)
        STATE.endpoint_url = self.endpoint_url
        STATE.throttle.enabled = self.throttling
        STATE.validation = self.validation
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
        if self._thread:
            self._thread.join(timeout=5)
        STATE.endpoint_url = None

    def serve_forever(self) -> None:
        if self._thread:
            self._thread.join()

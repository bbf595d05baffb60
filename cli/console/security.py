"""What keeps the console, which acts with your AWS credentials, yours alone.

- It listens on a loopback address only (`require_loopback`) and answers only requests whose
  `Host` is a loopback name (`is_loopback`): a DNS-rebinding page cannot read it.
- Every POST carries this browser session's CSRF token twice, in a `SameSite=Strict`, HttpOnly
  cookie and in a hidden form field (`Sessions`), and, when the browser says where it comes
  from (`Origin`, `Sec-Fetch-Site`), comes from the console itself (`same_origin`).
- Every response carries headers that allow no script, no framing and no cross-origin reads
  (`secure`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

CSRF_COOKIE = "rollforward_console_csrf"
CSRF_FIELD = "csrf_token"
MAX_SESSIONS = 1000  # CSRF tokens remembered; the oldest are forgotten first
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def require_loopback(host: str) -> None:
    """The console acts with your credentials: anyone who can reach it can act as you."""
    if not is_loopback(host):
        raise ValueError(
            f"the console only listens on a loopback address (127.0.0.1, ::1, localhost), "
            f"not {host!r}: it acts with your AWS credentials"
        )


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Sessions:
    """CSRF tokens this console issued, one per browser session (cookie).

    A POST must carry the same token in its cookie and its form, and the token must be one this
    process issued: a cookie planted by someone else is not enough.
    """

    def __init__(self, capacity: int = MAX_SESSIONS) -> None:
        self._issued: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = None
            while len(self._issued) > self._capacity:
                self._issued.popitem(last=False)
        return token

    def known(self, token: str) -> bool:
        with self._lock:
            return bool(token) and token in self._issued

    def valid(self, cookie: str, field: str) -> bool:
        return bool(cookie and field) and hmac.compare_digest(cookie, field) and self.known(cookie)


def same_origin(request: Request) -> bool:
    """What the browser says about where a POST comes from, when it says anything.

    Browsers send `Origin` on every form POST (with the `same-origin` referrer policy set
    here; `no-referrer` would make them send `Origin: null`), and `Sec-Fetch-Site`.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
        claimed = (parts.hostname or "", parts.port or 80)
    except ValueError:
        return False
    return parts.scheme == "http" and claimed == host_and_port(request)


def host_and_port(request: Request) -> tuple[str, int]:
    """The `Host` the request was addressed to; ("", 0) when it is not a host[:port]."""
    try:
        parts = urlsplit(f"//{request.host}")
        return (parts.hostname or "", parts.port or 80)
    except ValueError:
        return ("", 0)


def secure(response: Response) -> Response:
    """The headers every answer carries: no caching of pages that show pins and approvals, no
    script at all (the pages need none), no framing, no MIME sniffing, no cross-origin reads."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response

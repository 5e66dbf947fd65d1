"""Webhook transport for alerts: POST a JSON body to a Slack or Teams incoming webhook.

Webhook URLs are secrets (the path carries the token), so no error message, log line or
exception chain from here shows more of the URL than its host.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from cxdata.errors import CxError
from cxdata.notify.mail import is_loopback

log = logging.getLogger(__name__)


class WebhookError(CxError):
    """A webhook URL refused or a POST that failed; names the host, never the full URL."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET and could lead to a plain http:// host.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "an unnamed host"
    except ValueError:
        return "an unparsable URL"


def post_json(url: str, payload: Mapping, timeout: float = 10) -> None:
    """POST `payload` as application/json (UTF-8) to `url`, waiting at most `timeout`
    seconds per socket operation.

    Only https:// URLs are allowed, or http:// to a loopback host (local tests). Raises
    WebhookError for any other URL (before any request), a reply other than 2xx (redirects
    are not followed), or a network/TLS failure; its message names the host only."""
    host = _host(url)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise WebhookError(f"webhook URL for {host} cannot be parsed") from None
    if not parts.hostname:
        raise WebhookError("webhook URL has no host; it must start with https://")
    if not (scheme == "https" or (scheme == "http" and is_loopback(parts.hostname))):
        raise WebhookError(
            f"webhook URL for {host} refused: only https:// is allowed "
            "(http:// only to this machine)"
        )
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "cxdata"},
    )
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if is_loopback(parts.hostname):
        # A proxy from the environment cannot reach this machine's loopback address.
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        detail = _reply_text(exc, parts.path)
        exc.close()
        raise WebhookError(
            f"webhook at {host} answered HTTP {exc.code}" + (f": {detail}" if detail else "")
        ) from None
    except urllib.error.URLError as exc:
        raise WebhookError(f"webhook at {host} could not be reached: {_why(exc.reason)}") from None
    except TimeoutError:
        raise WebhookError(f"webhook at {host} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise WebhookError(f"webhook at {host} failed: {_why(exc)}") from None
    log.info("webhook posted to %s (HTTP %s)", host, status)


def _why(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(reason) or type(reason).__name__


def _reply_text(exc: urllib.error.HTTPError, path: str) -> str:
    """The first 200 characters of an error reply (Slack says e.g. "invalid_payload"),
    on one line, with the URL path (the token) removed should the server echo it."""
    try:
        text = exc.read(2000).decode("utf-8", "replace")
    except OSError:
        return ""
    text = " ".join(text.split())
    if path and path != "/":
        text = text.replace(path, "…")
    return text[:200]


def _escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>); & < > must be escaped so a
    # title typed by a user is shown as typed.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_payload(title: str, lines: Sequence[str], link: str) -> dict:
    """A body Slack incoming webhooks and Teams webhooks both accept:
    {"text": "title\\n- line\\n- line\\nOpen: link"} (plain text, the link as a bare URL
    both turn into a link; & < > escaped as Slack requires). An empty `link` is left out.
    """
    rows = [_escape(" ".join(title.split()))]
    rows += [f"- {_escape(' '.join(line.split()))}" for line in lines]
    if link:
        rows.append(f"Open: {link}")
    return {"text": "\n".join(rows)}

"""E-mail transport for subscriptions and alerts: SMTP settings, messages, sending.

Only the standard library is used (smtplib, ssl, email). Settings come from one URL,
`CX_SMTP_URL` in the environment or `url` in the `[smtp]` table of the secrets:

    smtps://user:pass@host:465?from=cx@example.com        implicit TLS
    smtp://user:pass@host:587?from=cx@example.com         STARTTLS, required
    smtp://127.0.0.1:25?from=cx@example.com&tls=off       plain, loopback hosts only

Optional query parameters: `cafile=/path` (the only CA bundle trusted, for an internal
relay) and `timeout=` seconds (default 30). Errors never show the password.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import smtplib
import ssl
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from cxdata.errors import CxError

log = logging.getLogger(__name__)

ENV_VAR = "CX_SMTP_URL"
DEFAULT_TIMEOUT = 30.0
_DEFAULT_PORTS = {"tls": 465, "starttls": 587, "plain": 25}
_QUERY_KEYS = {"from", "tls", "cafile", "timeout"}
_CID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


class MailConfigError(CxError):
    """The SMTP URL is unusable; the message names the wrong part, never the password."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail.

    `security` is "tls" (implicit TLS, smtps), "starttls" (required upgrade) or "plain"
    (loopback hosts only). `sender` is the From address as given (may carry a display
    name); `timeout` is seconds per socket operation."""

    host: str
    port: int
    sender: str
    security: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def envelope_from(self) -> str:
        """The bare address of `sender` (the SMTP MAIL FROM)."""
        return parseaddr(self.sender)[1]


@dataclass(frozen=True)
class SendResult:
    """The outcome for one message: `ok`, or `error` saying why it was not sent."""

    to: str
    subject: str
    ok: bool
    error: str | None = None


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def smtp_settings(
    env: Mapping[str, str] | None = None, secrets: Mapping | None = None
) -> SmtpSettings | None:
    """The SMTP settings from `env[CX_SMTP_URL]` (default os.environ; it wins) or
    `secrets["smtp"]["url"]` (default: the app's `.streamlit/secrets.toml` in the working
    directory, the file the dashboard reads); None when neither is set.

    Raises MailConfigError for an unusable URL or an unreadable secrets file."""
    env = os.environ if env is None else env
    url = (env.get(ENV_VAR) or "").strip()
    if not url and secrets is None:
        secrets = _app_secrets()
    if not url and secrets is not None:
        table = secrets.get("smtp")
        if isinstance(table, Mapping):
            url = str(table.get("url") or "").strip()
    return parse_smtp_url(url) if url else None


SECRETS_FILE = Path(".streamlit") / "secrets.toml"


def _app_secrets() -> Mapping | None:
    """The dashboard's secrets file, read as TOML (None when there is none)."""
    if not SECRETS_FILE.is_file():
        return None
    try:
        return tomllib.loads(SECRETS_FILE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MailConfigError(f"{SECRETS_FILE} cannot be read: {type(exc).__name__}") from None


def parse_smtp_url(url: str) -> SmtpSettings:
    """SmtpSettings from one smtp:// or smtps:// URL (forms in the module docstring).

    Raises MailConfigError naming the wrong part; the message never contains the
    password (nor, for safety, anything else taken from before the "@")."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise MailConfigError("SMTP URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise MailConfigError("SMTP URL scheme must be smtp:// or smtps://")
    host = parts.hostname
    if not host:
        raise MailConfigError("SMTP URL has no host")
    try:
        port = parts.port
    except ValueError:
        # urllib's message quotes the port text, which may be a piece of the password.
        raise MailConfigError("SMTP URL port is not a number from 1 to 65535") from None
    if port == 0:
        raise MailConfigError("SMTP URL port is not a number from 1 to 65535")
    if parts.path not in ("", "/"):
        raise MailConfigError(
            "SMTP URL has a path; percent-encode '/', '?', '#' and '@' in the user name "
            "and password"
        )
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise MailConfigError("SMTP URL query cannot be parsed") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key not in _QUERY_KEYS:
            raise MailConfigError(
                f"SMTP URL has an unknown parameter {key!r}; allowed: "
                + ", ".join(sorted(_QUERY_KEYS))
            )
        if key in query:
            raise MailConfigError(f"SMTP URL repeats the parameter {key!r}")
        query[key] = value

    sender = query.get("from", "").strip()
    if not sender:
        raise MailConfigError("SMTP URL needs from=ADDRESS (the sender address)")
    address = parseaddr(sender)[1]
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise MailConfigError(f"SMTP URL from={sender!r} is not an e-mail address")

    tls = query.get("tls", "").lower()
    if tls not in ("", "on", "off"):
        raise MailConfigError("SMTP URL tls= must be 'on' or 'off'")
    if scheme == "smtps":
        if tls == "off":
            raise MailConfigError("SMTP URL: tls=off contradicts smtps:// (implicit TLS)")
        security = "tls"
    elif tls == "off":
        if not is_loopback(host):
            raise MailConfigError(
                f"SMTP URL: tls=off (plain text) is allowed only to a loopback host, "
                f"not {host!r}; use smtps:// or smtp:// with STARTTLS"
            )
        security = "plain"
    else:
        security = "starttls"

    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 3600:
            raise MailConfigError("SMTP URL timeout= must be seconds between 0 and 3600")

    cafile = query.get("cafile") or None
    if cafile is not None and security == "plain":
        raise MailConfigError("SMTP URL: cafile= has no use with tls=off")

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise MailConfigError("SMTP URL has a password but no user name")
    return SmtpSettings(
        host=host,
        port=port or _DEFAULT_PORTS[security],
        sender=sender,
        security=security,
        username=username,
        password=password,
        cafile=cafile,
        timeout=timeout,
    )


def build_message(
    sender: str,
    to: str,
    subject: str,
    html: str,
    text: str,
    images: Mapping[str, bytes] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """One e-mail: multipart/alternative of `text` and `html`; the html part is
    multipart/related carrying each PNG of `images` (name → bytes) inline with
    Content-ID <name>, which the html refers to as `cid:name`. `attachments` are
    (file name, mime type such as "application/pdf", bytes). Sets Date, Message-ID
    (domain from the sender) and Auto-Submitted: auto-generated.

    Raises ValueError for an image name unusable as a Content-ID or a bad mime type."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    # A title typed by a user may hold line breaks, which are not allowed in a header.
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = formatdate(localtime=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    # Keeps Exchange from answering with out-of-office and similar automatic replies.
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if images:
        html_part = msg.get_payload()[1]
        for name, png in images.items():
            if not _CID.fullmatch(name):
                raise ValueError(f"image name {name!r} cannot be a Content-ID")
            html_part.add_related(
                png,
                maintype="image",
                subtype="png",
                cid=f"<{name}>",
                disposition="inline",
                filename=f"{name}.png",
            )
    for filename, mime, data in attachments:
        maintype, slash, subtype = mime.partition("/")
        if not slash or not maintype or not subtype:
            raise ValueError(f"mime type {mime!r} is not of the form type/subtype")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    # With cafile only that bundle is trusted (an internal relay's CA); else the system's.
    return ssl.create_default_context(cafile=settings.cafile)


def _reason(exc: BaseException) -> str:
    """A short line saying why the connection failed (never the password)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"sign-in refused by the server ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"server answered {exc.smtp_code}: {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"cannot read {exc.filename}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    """An open, secured and signed-in connection; raises OSError/SMTPException."""
    if settings.security == "tls":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=_tls_context(settings)
        )
    else:
        conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        conn.ehlo()
        if settings.security == "starttls":
            if not conn.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer STARTTLS, which smtp:// requires "
                    "(use smtps://, or tls=off for a loopback relay)"
                )
            conn.starttls(context=_tls_context(settings))
            conn.ehlo()
        if settings.username:
            conn.login(settings.username, settings.password or "")
    except BaseException:
        conn.close()
        raise
    return conn


def send_messages(settings: SmtpSettings, messages: Sequence[EmailMessage]) -> list[SendResult]:
    """Send `messages` over ONE connection; one SendResult per message, in order.

    A recipient the server refuses fails only that message. A connection, TLS or sign-in
    failure fails every message (not yet sent) with the reason; no exception escapes
    except programming errors. Logs one line per message (recipient and subject)."""
    results: list[SendResult] = []
    pending = list(messages)
    if not pending:
        return results
    try:
        conn = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        reason = f"cannot connect to {settings.host}:{settings.port}: {_reason(exc)}"
        return [_failed(m, reason) for m in pending]
    try:
        for index, msg in enumerate(pending):
            try:
                refused = conn.send_message(msg, from_addr=settings.envelope_from)
            except smtplib.SMTPRecipientsRefused as exc:
                refusals = "; ".join(
                    f"{rcpt} refused ({code} {_text(text)})"
                    for rcpt, (code, text) in exc.recipients.items()
                )
                results.append(_failed(msg, refusals or "the message has no recipient"))
            except smtplib.SMTPNotSupportedError as exc:
                # Raised before any command (e.g. a non-ASCII address without SMTPUTF8):
                # the connection is still good for the next message.
                results.append(_failed(msg, str(exc)))
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                results.append(_failed(msg, _reason(exc)))
            except (OSError, smtplib.SMTPException) as exc:
                # The connection is gone: this and every later message fail.
                reason = f"connection lost: {_reason(exc)}"
                results.extend(_failed(m, reason) for m in pending[index:])
                break
            else:
                if refused:
                    results.append(
                        _failed(
                            msg,
                            "sent to the other recipients, refused for "
                            + ", ".join(sorted(refused)),
                        )
                    )
                else:
                    results.append(_ok(msg))
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
    return results


def _ok(msg: EmailMessage) -> SendResult:
    result = SendResult(str(msg["To"] or ""), str(msg["Subject"] or ""), True)
    log.info("mail sent to %s: %s", result.to, result.subject)
    return result


def _failed(msg: EmailMessage, reason: str) -> SendResult:
    result = SendResult(str(msg["To"] or ""), str(msg["Subject"] or ""), False, reason)
    log.warning("mail to %s not sent (%s): %s", result.to, reason, result.subject)
    return result


def _safe_name(text: str, limit: int) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9@._-]+", "-", text).strip("-.")
    return text[:limit].strip("-.") or "x"


def write_eml(message: EmailMessage, folder: Path) -> Path:
    """The dry run: write `message` to `<folder>/<n>-<recipient>-<subject slug>.eml`
    (n = 1 + the highest number already there; the name holds only [A-Za-z0-9@._-])
    and return the path. Creates `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recipient = _safe_name(parseaddr(str(message["To"] or ""))[1] or "nobody", 60)
    slug = _safe_name(str(message["Subject"] or "").lower(), 60)
    taken = [int(m.group(1)) for p in folder.glob("*.eml") if (m := re.match(r"(\d+)-", p.name))]
    number = max(taken, default=0) + 1
    data = bytes(message)
    while True:
        path = folder / f"{number}-{recipient}-{slug}.eml"
        try:
            # "x": never overwrite a file another dry run wrote meanwhile.
            with open(path, "xb") as out:
                out.write(data)
            return path
        except FileExistsError:
            number += 1

"""E-mail and webhook transport (cxdata.notify.mail / .webhook) against real local servers:
aiosmtpd for SMTP (plain, STARTTLS with a self-signed certificate, implicit TLS) and
http.server for webhooks."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from notify_servers import Collector, Server, free_port, hook_receiver

from cxdata.errors import CxError
from cxdata.notify import mail, webhook
from cxdata.notify.mail import (
    MailConfigError,
    SmtpSettings,
    build_message,
    parse_smtp_url,
    send_messages,
    smtp_settings,
    write_eml,
)
from cxdata.notify.webhook import WebhookError, alert_payload, post_json

SENDER = "CX Dashboard <cx@example.com>"
PNG_A = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
PNG_B = b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 5
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


# --- a local SMTP server -------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed; cannot make a test certificate")
    folder = tmp_path_factory.mktemp("cert")
    crt, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    return context


def three_messages(to=("ann@example.com", "bob@example.com", "cy@example.com")):
    return [
        build_message(
            SENDER,
            address,
            f"Weekly digest {i}",
            f'<p>Hello {i}</p><img src="cid:trend"><img src="cid:matrix">',
            f"Hello {i}",
            images={"trend": PNG_A, "matrix": PNG_B},
            attachments=[("digest.pdf", "application/pdf", PDF)],
        )
        for i, address in enumerate(to)
    ]


def plain_settings(port: int) -> SmtpSettings:
    return parse_smtp_url(f"smtp://127.0.0.1:{port}?from=cx@example.com&tls=off&timeout=20")


def check_parsed(raw: bytes, to: str, subject: str) -> None:
    """The message as received: cid images inline in the html's related part, PDF intact."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == to and msg["Subject"] == subject
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@example.com>") and msg["Date"]
    assert msg.get_content_type() == "multipart/mixed"
    alternative, pdf = msg.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, related = alternative.get_payload()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    body = html.get_content()
    cids = {part["Content-ID"]: part for part in images}
    assert set(cids) == {"<trend>", "<matrix>"}
    for cid, data in (("trend", PNG_A), ("matrix", PNG_B)):
        assert f"cid:{cid}" in body
        part = cids[f"<{cid}>"]
        assert part.get_content_type() == "image/png"
        assert part.get_content_disposition() == "inline"
        assert part.get_content() == data
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_filename() == "digest.pdf" and pdf.get_content_type() == "application/pdf"
    assert pdf.get_content() == PDF


# --- sending -------------------------------------------------------------------------


def test_three_messages_over_one_plain_loopback_connection(caplog):
    caplog.set_level(logging.INFO, logger=mail.__name__)
    with Server(Collector()) as server:
        results = send_messages(plain_settings(server.port), three_messages())
    assert [(r.to, r.ok, r.error) for r in results] == [
        ("ann@example.com", True, None),
        ("bob@example.com", True, None),
        ("cy@example.com", True, None),
    ]
    envelopes = server.handler.envelopes
    assert [(frm, rcpt) for frm, rcpt, _ in envelopes] == [
        ("cx@example.com", ["ann@example.com"]),
        ("cx@example.com", ["bob@example.com"]),
        ("cx@example.com", ["cy@example.com"]),
    ]
    for i, (_, rcpt, raw) in enumerate(envelopes):
        check_parsed(raw, rcpt[0], f"Weekly digest {i}")
    lines = [r.getMessage() for r in caplog.records if r.name == mail.__name__]
    assert lines == [
        f"mail sent to {to}: Weekly digest {i}"
        for i, to in enumerate(["ann@example.com", "bob@example.com", "cy@example.com"])
    ]
    assert not any("Hello" in line for line in lines)  # never the body


def test_a_refused_recipient_fails_only_its_message():
    to = ("ann@example.com", "gone@example.com", "cy@example.com")
    with Server(Collector(refuse={"gone@example.com"})) as server:
        results = send_messages(plain_settings(server.port), three_messages(to))
    assert [r.ok for r in results] == [True, False, True]
    assert "gone@example.com refused (550" in results[1].error
    assert [rcpt for _, rcpt, _ in server.handler.envelopes] == [
        ["ann@example.com"],
        ["cy@example.com"],
    ]


def test_a_message_the_server_cannot_take_fails_alone():
    to = ("ann@example.com", "zoë@example.com", "cy@example.com")
    with Server(Collector(), enable_SMTPUTF8=False) as server:
        messages = three_messages(to)
        del messages[2]["To"]
        results = send_messages(plain_settings(server.port), messages)
    assert [r.ok for r in results] == [True, False, False]
    assert "SMTPUTF8" in results[1].error
    assert results[2].error == "the message has no recipient"
    assert [rcpt for _, rcpt, _ in server.handler.envelopes] == [["ann@example.com"]]


def test_starttls_with_cafile_and_sign_in(cert):
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"p@ss:w/rd%")

    with Server(
        Collector(),
        tls_context=server_tls(cert),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    ) as server:
        base = f"smtp://cx%40example.com:p%40ss%3Aw%2Frd%25@127.0.0.1:{server.port}"
        settings = parse_smtp_url(f"{base}?from=cx@example.com&cafile={cert[0]}")
        assert settings.security == "starttls"
        results = send_messages(settings, three_messages())
        assert [r.ok for r in results] == [True, True, True], results
        assert seen == [(b"cx@example.com", b"p@ss:w/rd%")]
        assert len(server.handler.envelopes) == 3
        check_parsed(server.handler.envelopes[2][2], "cy@example.com", "Weekly digest 2")

        # Without the CA file the self-signed certificate is not trusted: nothing is sent.
        untrusted = parse_smtp_url(f"{base}?from=cx@example.com")
        results = send_messages(untrusted, three_messages())
        assert [r.ok for r in results] == [False, False, False]
        for r in results:
            assert "certificate" in r.error, r.error
            assert "p@ss" not in r.error
        assert len(server.handler.envelopes) == 3
        assert len(seen) == 1


def test_implicit_tls(cert):
    with Server(Collector(), ssl_context=server_tls(cert)) as server:
        settings = parse_smtp_url(
            f"smtps://127.0.0.1:{server.port}?from=cx@example.com&cafile={cert[0]}"
        )
        results = send_messages(settings, three_messages()[:1])
    assert [r.ok for r in results] == [True]
    check_parsed(server.handler.envelopes[0][2], "ann@example.com", "Weekly digest 0")


def test_starttls_required_when_the_server_does_not_offer_it():
    with Server(Collector()) as server:
        settings = parse_smtp_url(f"smtp://127.0.0.1:{server.port}?from=cx@example.com")
        results = send_messages(settings, three_messages())
    assert [r.ok for r in results] == [False, False, False]
    assert all("does not offer STARTTLS" in r.error for r in results)
    assert server.handler.envelopes == []


def test_no_server_fails_every_message_without_raising():
    results = send_messages(plain_settings(free_port()), three_messages())
    assert [r.ok for r in results] == [False, False, False]
    assert all(r.error.startswith("cannot connect to 127.0.0.1:") for r in results)
    assert send_messages(plain_settings(free_port()), []) == []


# --- settings ------------------------------------------------------------------------


def test_settings_from_env_or_secrets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    secrets = {"smtp": {"url": "smtps://relay.example.com?from=a@example.com"}}
    env = {"CX_SMTP_URL": "smtp://u:pw-Secret@mail.example.com:2525?from=b@example.com"}
    assert smtp_settings({}, None) is None
    assert smtp_settings({}, {"other": {}}) is None
    from_secrets = smtp_settings({}, secrets)
    assert (from_secrets.host, from_secrets.port, from_secrets.security) == (
        "relay.example.com",
        465,
        "tls",
    )
    from_env = smtp_settings(env, secrets)  # the environment wins
    assert (from_env.host, from_env.port, from_env.security, from_env.sender) == (
        "mail.example.com",
        2525,
        "starttls",
        "b@example.com",
    )
    assert from_env.password == "pw-Secret" and "pw-Secret" not in repr(from_env)


def test_settings_from_the_apps_secrets_file(tmp_path, monkeypatch):
    # the command line reads the same [smtp] table the dashboard's secrets file has
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[smtp]\nurl = "smtps://relay.example.com?from=a@example.com"\n')
    assert smtp_settings({}).host == "relay.example.com"
    (tmp_path / ".streamlit" / "secrets.toml").write_text("[smtp\nurl = ")
    with pytest.raises(MailConfigError, match="cannot be read"):
        smtp_settings({})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtps://cx%40example.com:s%3Ac%2Fr%40t@mail.example.com:465?from=cx@example.com",
            ("mail.example.com", 465, "tls", "cx@example.com", "s:c/r@t", None, 30.0),
        ),
        (
            "smtp://user:pw@mail.example.com?from=Ann%20B%20%3Cab@example.com%3E&timeout=5",
            ("mail.example.com", 587, "starttls", "user", "pw", None, 5.0),
        ),
        (
            "smtp://localhost?from=cx@example.com&tls=off",
            ("localhost", 25, "plain", None, None, None, 30.0),
        ),
        (
            "smtp://[::1]:2525?from=cx@example.com&tls=off",
            ("::1", 2525, "plain", None, None, None, 30.0),
        ),
        (
            "SMTP://relay.corp.example.com:587?from=cx@example.com&cafile=/etc/corp-ca.pem",
            ("relay.corp.example.com", 587, "starttls", None, None, "/etc/corp-ca.pem", 30.0),
        ),
    ],
)
def test_smtp_url_parses(url, expected):
    s = parse_smtp_url(url)
    assert (s.host, s.port, s.security, s.username, s.password, s.cafile, s.timeout) == expected


def test_sender_keeps_the_display_name():
    s = parse_smtp_url("smtp://h.example.com?from=Ann%20B%20%3Cab@example.com%3E")
    assert (s.sender, s.envelope_from) == ("Ann B <ab@example.com>", "ab@example.com")


SECRET = "Hunter2Secret"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"smtp://u:{SECRET}@mail.example.com:587", "needs from="),
        (f"smtp://u:{SECRET}@mail.example.com:587?from=", "needs from="),
        (f"smtp://u:{SECRET}@mail.example.com:587?from=nobody", "not an e-mail address"),
        (f"http://u:{SECRET}@mail.example.com?from=a@example.com", "scheme"),
        (f"smtp://u:{SECRET}@?from=a@example.com", "no host"),
        (f"smtp://u:{SECRET}@mail.example.com:99999?from=a@example.com", "port"),
        (f"smtp://u:{SECRET}@mail.example.com:x?from=a@example.com", "port"),
        (f"smtp://u:{SECRET[:4]}/{SECRET[4:]}@mail.example.com?from=a@example.com", "port"),
        (f"smtp://u:{SECRET}@mail.example.com/x?from=a@example.com", "path"),
        (f"smtp://u:{SECRET}@mail.example.com?from=a@example.com&tls=off", "loopback"),
        (f"smtp://u:{SECRET}@10.0.0.5?from=a@example.com&tls=off", "loopback"),
        (f"smtps://u:{SECRET}@mail.example.com?from=a@example.com&tls=off", "contradicts"),
        (f"smtp://u:{SECRET}@mail.example.com?from=a@example.com&tls=maybe", "tls="),
        (f"smtp://u:{SECRET}@mail.example.com?from=a@example.com&timeout=soon", "timeout="),
        (f"smtp://u:{SECRET}@mail.example.com?from=a@example.com&timeout=0", "timeout="),
        (f"smtp://u:{SECRET}@mail.example.com?from=a@example.com&pw={SECRET}", "unknown"),
        (f"smtp://u:{SECRET}@mail.example.com?from=a@example.com&from=b@example.com", "repeats"),
        (f"smtp://:{SECRET}@mail.example.com?from=a@example.com", "no user name"),
    ],
)
def test_bad_smtp_url_names_the_part_never_the_password(url, message):
    with pytest.raises(MailConfigError) as caught:
        parse_smtp_url(url)
    text = str(caught.value)
    assert message in text
    assert SECRET not in text and SECRET[:4] not in text and SECRET[4:] not in text
    assert isinstance(caught.value, CxError)
    with pytest.raises(MailConfigError) as again:
        smtp_settings({"CX_SMTP_URL": url})
    assert SECRET not in str(again.value)


def test_plain_to_a_remote_host_is_refused_at_settings_time():
    with pytest.raises(MailConfigError, match="loopback"):
        smtp_settings({"CX_SMTP_URL": "smtp://mail.example.com:25?from=a@example.com&tls=off"})
    assert smtp_settings({"CX_SMTP_URL": "smtp://127.0.0.2?from=a@example.com&tls=off"})


# --- messages and the dry run --------------------------------------------------------


def test_build_message_headers_and_validation():
    msg = build_message(SENDER, "ann@example.com", "Alert:\nNPS fell", "<p>x</p>", "x")
    assert msg["Subject"] == "Alert: NPS fell"  # a line break cannot enter a header
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.get_payload()] == ["text/plain", "text/html"]
    with pytest.raises(ValueError, match="Content-ID"):
        build_message(SENDER, "a@example.com", "s", "h", "t", images={"a b": PNG_A})
    with pytest.raises(ValueError, match="mime type"):
        build_message(SENDER, "a@example.com", "s", "h", "t", attachments=[("f", "pdf", PDF)])


def test_write_eml_parses_back_to_an_equal_message(tmp_path):
    first, second = three_messages(("ann@example.com", "bob/../x@example.com"))[:2]
    second.replace_header("Subject", "Ünïcode / ../ digest: NPS 40%")
    folder = tmp_path / "outbox"
    path = write_eml(first, folder)
    assert path == folder / "1-ann@example.com-weekly-digest-0.eml"
    back = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert bytes(back) == bytes(first)
    check_parsed(path.read_bytes(), "ann@example.com", "Weekly digest 0")

    path2 = write_eml(second, folder)
    assert path2.parent == folder
    assert path2.name == "2-bob-..-x@example.com-unicode-..-digest-nps-40.eml"
    assert write_eml(first, folder).name.startswith("3-")
    back2 = email.message_from_bytes(path2.read_bytes(), policy=email.policy.default)
    assert back2["Subject"] == "Ünïcode / ../ digest: NPS 40%"
    assert bytes(back2) == bytes(second)


# --- webhooks ------------------------------------------------------------------------

TOKEN_PATH = "/services/T000/B000/SeCrEtToKeN"


@pytest.fixture
def hook_server():
    with hook_receiver() as server:
        yield server


def test_webhook_posts_json(hook_server):
    url = f"http://127.0.0.1:{hook_server.server_address[1]}{TOKEN_PATH}"
    payload = alert_payload("NPS fell to 21 (< 30)", ["Touchpoint: Billing", "Base: 412"], "")
    post_json(url, payload)
    [(path, content_type, body)] = hook_server.received
    assert path == TOKEN_PATH
    assert content_type == "application/json; charset=utf-8"
    assert json.loads(body) == {
        "text": "NPS fell to 21 (&lt; 30)\n- Touchpoint: Billing\n- Base: 412"
    }


@pytest.mark.parametrize(
    ("status", "shown"), [(500, "HTTP 500: invalid_token for …"), (302, "HTTP 302")]
)
def test_webhook_error_reply_names_the_host_not_the_token(hook_server, status, shown):
    hook_server.status = status
    url = f"http://127.0.0.1:{hook_server.server_address[1]}{TOKEN_PATH}"
    with pytest.raises(WebhookError) as caught:
        post_json(url, {"text": "x"})
    text = str(caught.value)
    assert "127.0.0.1" in text and shown in text, text
    assert "SeCrEtToKeN" not in text and "/services" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(hook_server.received) == 1  # the redirect was not followed


@pytest.mark.parametrize(
    "url",
    [
        f"http://example.com{TOKEN_PATH}",
        f"ftp://example.com{TOKEN_PATH}",
        f"http://10.1.2.3{TOKEN_PATH}",
        f"example.com{TOKEN_PATH}",
    ],
)
def test_webhook_refuses_non_https_without_a_request(monkeypatch, url):
    def no_request(*args, **kwargs):
        raise AssertionError("a request was attempted")

    monkeypatch.setattr(urllib.request, "build_opener", no_request)
    with pytest.raises(WebhookError) as caught:
        post_json(url, {"text": "x"})
    assert "SeCrEtToKeN" not in str(caught.value) and "/services" not in str(caught.value)


def test_webhook_unreachable_names_the_host():
    with pytest.raises(WebhookError, match=r"127\.0\.0\.1 could not be reached") as caught:
        post_json(f"http://127.0.0.1:{free_port()}{TOKEN_PATH}", {"text": "x"}, timeout=5)
    assert "SeCrEtToKeN" not in str(caught.value)


def test_alert_payload_is_plain_text():
    assert alert_payload(
        "NPS alert: Billing", ["NPS 21 (was 38)", "Base 412 answers"], "https://cx.example.com/x"
    ) == {
        "text": "NPS alert: Billing\n- NPS 21 (was 38)\n- Base 412 answers\n"
        "Open: https://cx.example.com/x"
    }
    # A user's title cannot mention @channel in Slack nor break the lines.
    assert alert_payload("<!channel> a\nb & c", [], "")["text"] == "&lt;!channel&gt; a b &amp; c"


def test_webhook_module_uses_the_mail_loopback_rule():
    assert webhook.is_loopback("127.0.0.1") and webhook.is_loopback("::1")
    assert webhook.is_loopback("localhost") and not webhook.is_loopback("example.com")

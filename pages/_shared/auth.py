"""Sign-in and access: who is using this session, and what they may see and do.

With an `[auth]` section in `.streamlit/secrets.toml`, everyone signs in through OIDC
(`st.login`) first; the access file ($CX_ACCESS_FILE, see cxdata.access) then gives the
signed-in e-mail a role and a row restriction, which the engine applies to every query.
Only an e-mail address the provider has verified counts (`email_verified` true); an
optional `[identity]` section names other claims and pins the accepted issuers:

```toml
[identity]
email_claim = "email"                       # the claim looked up in the access file
verified_claim = "email_verified"           # must be true, else no access
issuers = ["https://accounts.google.com"]   # accept only tokens from these (`iss`)
```

Without `[auth]` the app is open, for local use, and says so on every page: read-only
unless CX_OPEN_ADMIN=1, and nothing at all on a network address unless CX_ALLOW_PUBLIC=1
(cxdata.access.open_grant). With `[auth]` but no access file, every signed-in user with a
verified e-mail is a viewer unless CX_DEFAULT_ROLE says otherwise.
"""

from __future__ import annotations

import streamlit as st

from cxdata.access import (
    LOOPBACK_ADDRESSES,
    AccessDenied,
    AccessPolicy,
    Grant,
    IdentityClaims,
    identity_claims,
    load_policy,
    open_grant,
    proxied,
    signed_in_default_role,
    verified_email,
)
from cxdata.errors import CxError
from cxdata.fmt import md_escape


def auth_configured() -> bool:
    """Whether sign-in is configured (an `[auth]` section in the app's secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises on access
        return False


def _policy() -> AccessPolicy | None:
    try:
        return load_policy()
    except CxError as exc:
        # A broken access file must not open the dashboard to everyone.
        st.error(f"Access is closed until the access file is fixed: {exc}",
                 icon=":material/lock:")
        st.stop()
    return None  # unreachable; st.stop() raises


def _identity_claims() -> IdentityClaims:
    """The claims that identify a user (`[identity]` in the app's secrets)."""
    try:
        raw = st.secrets.get("identity")
    except Exception:  # no secrets file at all: Streamlit raises on access
        raw = None
    try:
        return identity_claims(raw, "secrets [identity]")
    except CxError as exc:  # str(exc) is generic; the detail is in the server log
        st.error(f"Access is closed until the sign-in settings are fixed: {exc}",
                 icon=":material/lock:")
        st.stop()
    return IdentityClaims()  # unreachable; st.stop() raises


_GRANT = "_cx_grant"


def current_grant() -> Grant | None:
    """The grant session_grant() found for this session in this run (None: nobody)."""
    return st.session_state.get(_GRANT)


def _via_proxy() -> bool:
    """Whether this session's request came through a reverse proxy (access.proxied)."""
    try:
        return proxied(st.context.headers)
    except Exception:  # no request (a page run on its own, as in AppTest): not proxied
        return False


def _open_grant() -> Grant:
    """Open mode's grant for this server's address and request (AccessDenied when it is
    public or proxied)."""
    return open_grant(str(st.get_option("server.address") or ""), via_proxy=_via_proxy())


def effective_grant() -> Grant | None:
    """The signed-in grant; open access when sign-in is not configured (also for a page
    run on its own, as in AppTest); None when sign-in is configured and nobody is in, or
    when open access is refused on a public address."""
    grant = current_grant()
    if grant is None and not auth_configured():
        try:
            return _open_grant()
        except AccessDenied:
            return None
    return grant


def open_mode_hint(grant: Grant | None) -> str:
    """How to get write rights in open mode ("" when signed in), to end a message."""
    if grant is None or grant.email or auth_configured():
        return ""
    return "; this open dashboard is read-only: start it with CX_OPEN_ADMIN=1 to import"


def may_import(grant: Grant) -> bool:
    """Imports need the analyst role and unrestricted rows: an import can carry any
    region, and the Data page shows row counts of whole datasets."""
    return grant.can("import") and not grant.restrict


def session_grant() -> Grant | None:
    """This session's grant, or None after drawing the sign-in / no-access screen."""
    policy = _policy()
    st.session_state.pop(_GRANT, None)
    if not auth_configured():
        try:
            grant = _open_grant()
        except AccessDenied as exc:  # fail closed: an open dashboard on a network address
            st.title("Not available")
            st.error(f"Open access refused: {exc}.", icon=":material/lock:")
            return None
        _open_mode_banner(grant)
        st.session_state[_GRANT] = grant
        return grant
    if not st.user.is_logged_in:
        _sign_in_screen()
        return None
    contact = policy.admin_contact if policy is not None else "your CX dashboard admin"
    try:
        email = verified_email(st.user.to_dict(), _identity_claims())
    except AccessDenied as exc:  # no verified e-mail: no grant, whatever the file says
        _unverified_screen(str(exc), contact)
        return None
    if policy is None:  # no access file: everyone signed in is a viewer unless configured
        try:
            grant = Grant(email=email, role=signed_in_default_role())
        except CxError as exc:
            st.error(f"Access is closed until the settings are fixed: {exc}",
                     icon=":material/lock:")
            return None
    else:
        grant = policy.grant_for(email)
        if grant is None:
            _no_access_screen(email, policy.admin_contact)
            return None
    _signed_in_panel(grant)
    st.session_state[_GRANT] = grant
    return grant


def _open_mode_banner(grant: Grant) -> None:
    """Say on every page that nobody signed in, and what that allows."""
    what = ("anyone who opens this address can import, replace and delete data"
            if grant.can("manage") else "read-only (CX_OPEN_ADMIN=1 allows imports)")
    text = (f"**Open access**: sign-in is not configured, so {what}. For local use; "
            "see the README to host it.")
    if str(st.get_option("server.address") or "") not in LOOPBACK_ADDRESSES or _via_proxy():
        st.warning(text, icon=":material/public:")  # served to a network: on every page
    else:
        st.sidebar.warning(text, icon=":material/lock_open:")


def _sign_in_screen() -> None:
    st.title("CX dashboard")
    st.write("Sign in to see the customer-experience data you have access to.")
    st.button("Sign in", icon=":material/login:", type="primary", on_click=st.login,
              key="cx_sign_in")


def _no_access_screen(email: str, contact: str) -> None:
    st.title("No access yet")
    st.warning(f"{md_escape(email)} is signed in but has no access to this dashboard. "
               f"Ask {md_escape(contact)} to add you.", icon=":material/lock:")
    st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="cx_sign_out")


def _unverified_screen(reason: str, contact: str) -> None:
    st.title("No access")
    st.warning(f"You are signed in, but {md_escape(reason)}. Sign in with an account whose "
               "e-mail address your sign-in provider has verified, or ask "
               f"{md_escape(contact)} for help.", icon=":material/lock:")
    st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="cx_sign_out")


def _signed_in_panel(grant: Grant) -> None:
    with st.sidebar:
        st.caption(f":material/person: {md_escape(grant.email)} · {grant.describe()}")
        st.button("Sign out", icon=":material/logout:", on_click=st.logout,
                  key="cx_sign_out", type="tertiary")

"""Who may see and do what: the access file (TOML) → role and row restriction per user.

```toml
admin_contact = "cx-admins@example.com"      # shown to people who are not in the file
dimensions = ["country", "region", "channel"]  # optional: the only keys `restrict` may use

[users."ola@example.com"]
role = "viewer"                              # viewer | analyst | admin
[users."ola@example.com".restrict]
country = ["Norway"]

[users."per@example.com"]
restrict = { region = ["Oslo"] }
# The metrics dataset has no `region`: it is hidden from per unless it gets its own
# restriction, on columns it does have.
[users."per@example.com".datasets.metrics]
restrict = { country = ["Norway"] }

[groups.nordic_leads]
members = ["kari@example.com", "sven@example.com"]
role = "analyst"
restrict = { country = ["Norway", "Sweden"] }
```

A user listed directly wins over their groups; a user in several groups gets the first
group in file order. The restriction is applied inside the engine (Store.restricted /
Store.table), so filters and URL parameters can only narrow it.

Fail closed (DESIGN §10): any mistake in the file — an unknown key at any level, a value
of the wrong type, an unknown role, a user listed twice, a restriction on a dimension not
in the file's `dimensions` list — is an AccessConfigError, and nobody gets a grant until
it is fixed. Where a grant is applied with Grant.scoped, every entry is also checked
against the dimensions of the stored responses (AccessPolicy.check_store), for every
user. Its str() is a generic line safe for anyone; `detail` names the file, the entry and
the key, and goes to the server log. Whatever gets through, the engine hides a table the
restriction cannot reach (Store.table), never shows it whole.

Identity: a signed-in user's e-mail counts only when the sign-in provider says it is
verified (`verified_email`; which claims are read is `IdentityClaims`).
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cxdata import schema
from cxdata.errors import CxError, did_you_mean, unknown_key
from cxdata.roles import ACTIONS, ROLES, AccessDenied, role_allows  # noqa: F401 (re-exported)
from cxdata.store import Store

# Datasets that may carry their own restriction, standing in for the dimensions they lack
# (rows that belong to a response, like touchpoint ratings, are restricted through it).
OWN_RESTRICTION_DATASETS: tuple[str, ...] = (schema.METRICS,)
# "<dataset>:<dimension>" in Grant.restrict / Store.restrict is a dataset's own restriction.
DATASET_SEP = ":"

_TOP_KEYS = ("admin_contact", "dimensions", "users", "groups")
_USER_KEYS = ("role", "restrict", "datasets")
_GROUP_KEYS = ("members", *_USER_KEYS)
_DATASET_KEYS = ("restrict",)
_IDENTITY_KEYS = ("email_claim", "verified_claim", "issuers")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

VISITOR_MESSAGE = (
    "the access configuration has an error; an administrator has been told (see the server log)"
)

log = logging.getLogger(__name__)


class AccessConfigError(CxError):
    """The access configuration is wrong, so access is closed for everyone.

    str(error) is VISITOR_MESSAGE (no path, no parse detail: safe for anyone); `detail`
    names the file, the entry and the key for administrators and is written to the
    server log when the error is made.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(VISITOR_MESSAGE)
        self.detail = detail
        log.error("access is closed for everyone: %s", detail)


@dataclass(frozen=True)
class Grant:
    """A user's role and row restriction (dimension → allowed values; empty = all rows).

    A key "<dataset>:<dimension>" restricts only that dataset and stands in for the
    dimensions it lacks (see the module docstring).
    """

    email: str
    role: str
    restrict: tuple[tuple[str, tuple[str, ...]], ...] = ()  # hashable: a cache key part
    # The policy the grant came from: checked against the store where the grant is applied.
    policy: AccessPolicy | None = field(default=None, compare=False, repr=False)

    def can(self, action: str) -> bool:
        """Whether this grant allows `action` (view, import, manage)."""
        return role_allows(self.role, action)

    def scoped(self, store: Store) -> Store:
        """`store` narrowed to the rows this grant may see; AccessConfigError when the
        policy names a dimension the store does not have (for every user, not only this one)."""
        if self.policy is not None:
            self.policy.check_store(store)
        scoped = store.restricted(dict(self.restrict)) if self.restrict else store
        return scoped.acting_as(self.role)

    def describe(self) -> str:
        """One line: the role and the scope, for the UI."""
        parts = []
        for key, values in self.restrict:
            dataset, _, dim = key.rpartition(DATASET_SEP)
            prefix = f"{dataset}: " if dataset else ""
            parts.append(f"{prefix}{dim} = {', '.join(values)}")
        return f"{self.role} · {'; '.join(parts) or 'all data'}"


# --- without an access file ---------------------------------------------------------------

LOOPBACK_ADDRESSES: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip() == "1"


# Request headers a reverse proxy adds: a request carrying one came from the network through
# a proxy, even when the server itself listens on loopback only.
PROXY_HEADERS: frozenset[str] = frozenset(
    {"x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host"}
)


def proxied(headers: Mapping[str, str]) -> bool:
    """Whether a request's `headers` (any case) show it came through a reverse proxy."""
    return any(str(name).lower() in PROXY_HEADERS for name in headers)


def open_grant(
    server_address: str, env: Mapping[str, str] | None = None, *, via_proxy: bool = False
) -> Grant:
    """The grant of a visitor when sign-in is not configured (open mode, for local use).

    Read-only (viewer) unless CX_OPEN_ADMIN=1; AccessDenied when the server listens
    beyond loopback (`server_address` is Streamlit's server.address; "" means every
    interface) or the request came through a reverse proxy (`via_proxy`, see proxied: a
    loopback server behind a proxy serves the network) unless CX_ALLOW_PUBLIC=1 — an open
    dashboard on a network shows the data to anyone who finds it.
    """
    env = os.environ if env is None else env
    public = server_address.strip() not in LOOPBACK_ADDRESSES or via_proxy
    if public and not _flag(env, "CX_ALLOW_PUBLIC"):
        where = "is reached through a proxy" if via_proxy else "listens on a network address"
        raise AccessDenied(
            f"this dashboard has no sign-in and {where}, so it shows "
            "nothing: configure sign-in (see the README), run it on 127.0.0.1, or set "
            "CX_ALLOW_PUBLIC=1 to serve the data to anyone who can reach it"
        )
    return Grant(email="", role="admin" if _flag(env, "CX_OPEN_ADMIN") else "viewer")


def signed_in_default_role(env: Mapping[str, str] | None = None) -> str:
    """The role of every signed-in user when there is no access file: viewer, unless
    CX_DEFAULT_ROLE names another; an unknown role closes access (AccessConfigError)."""
    env = os.environ if env is None else env
    role = env.get("CX_DEFAULT_ROLE", "").strip() or "viewer"
    if role not in ROLES:
        raise AccessConfigError(f"CX_DEFAULT_ROLE={role!r} is not one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class AccessPolicy:
    """The parsed access file."""

    users: dict[str, Grant]
    groups: tuple[tuple[frozenset[str], Grant], ...]
    admin_contact: str
    source: str
    dimensions: tuple[str, ...] | None = None  # the file's own list, when it has one
    entries: tuple[tuple[str, Grant], ...] = ()  # (where in the file, grant) of each entry

    def grant_for(self, email: str) -> Grant | None:
        """The grant of `email` (case-insensitive), or None when the file does not list it."""
        key = email.strip().lower()
        if key in self.users:
            return replace(self.users[key], policy=self)
        for members, grant in self.groups:
            if key in members:
                return Grant(email=key, role=grant.role, restrict=grant.restrict, policy=self)
        return None

    def require(self, email: str) -> Grant:
        """The grant of `email`, or AccessDenied saying whom to ask."""
        grant = self.grant_for(email)
        if grant is None:
            raise AccessDenied(
                f"{email} has no access to this dashboard; ask {self.admin_contact} to add you"
            )
        return grant

    def check_store(self, store: Store) -> None:
        """AccessConfigError when any entry restricts on a dimension the store's responses
        do not have, or a dataset's own restriction on a column that dataset does not
        have. Without responses there is nothing to check (and nothing to see)."""
        if not store.has(schema.RESPONSES):
            return
        known = {schema.RESPONSES: store.dimensions(schema.RESPONSES)}
        for where, grant in self.entries:
            for key, _ in grant.restrict:
                dataset, _, dim = key.rpartition(DATASET_SEP)
                name = dataset or schema.RESPONSES
                if not store.has(name):
                    continue  # nothing stored yet: Store.table hides it if it lacks `dim`
                dims = known.setdefault(name, store.dimensions(name))
                if dim not in dims:
                    key_path = f"datasets.{dataset}.restrict" if dataset else "restrict"
                    raise AccessConfigError(
                        f"{where}: {key_path}.{dim} is not a dimension of the {name} "
                        f"dataset in {store.location}; its dimensions: "
                        f"{', '.join(sorted(dims)) or 'none'}"
                    )


# --- parsing -------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    """A key from the file as TOML writes it (bare or "quoted"), escaped when it is not
    printable: the detail goes to the server log."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return text
    return f'"{text}"' if text.isprintable() and '"' not in text else repr(text)


def _table(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AccessConfigError(
            f"{where}: {what} must be a table, not {type(value).__name__} {value!r}"
        )
    return value


def _known_keys(raw: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    message = unknown_key(raw, allowed, where)
    if message:
        raise AccessConfigError(message)


def _email(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not _EMAIL.match(raw.strip()):
        raise AccessConfigError(f"{where}: {raw!r} is not an e-mail address")
    return raw.strip().lower()


def _restrict(
    raw: Any, where: str, dimensions: tuple[str, ...] | None
) -> dict[str, tuple[str, ...]]:
    table = _table(raw, where, "restrict")
    if not table:
        raise AccessConfigError(
            f"{where}: restrict is empty; leave it out for all data, or name dimension = [values]"
        )
    out: dict[str, tuple[str, ...]] = {}
    for dim, values in table.items():
        if not _NAME.match(dim):
            raise AccessConfigError(f"{where}: restrict.{dim!r} is not a dimension name")
        if dimensions is not None and dim not in dimensions:
            raise AccessConfigError(
                f"{where}: restrict.{dim} is not one of the file's dimensions"
                f"{did_you_mean(dim, dimensions)}: {', '.join(dimensions) or 'none'}"
            )
        if not isinstance(values, list) or not values:
            raise AccessConfigError(
                f"{where}: restrict.{dim} must be a non-empty list of strings, e.g. "
                f'{dim} = ["value"], not {values!r}'
            )
        bad = [v for v in values if not isinstance(v, str) or not v.strip()]
        if bad:
            raise AccessConfigError(
                f"{where}: restrict.{dim} must hold only non-empty strings, not {bad[0]!r}"
            )
        out[dim] = tuple(values)
    return out


def _grant(
    email: str, raw: Any, where: str, keys: tuple[str, ...], dimensions: tuple[str, ...] | None
) -> Grant:
    entry = _table(raw, where, "the entry")
    _known_keys(entry, keys, where)
    role = entry.get("role", "viewer")
    if role not in ROLES:
        raise AccessConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    restrict = _restrict(entry["restrict"], where, dimensions) if "restrict" in entry else {}
    own: dict[str, tuple[str, ...]] = {}
    for dataset, ds_raw in _table(entry.get("datasets", {}), where, "datasets").items():
        ds_where = f"{where}.datasets.{dataset}"
        if dataset not in OWN_RESTRICTION_DATASETS:
            raise AccessConfigError(
                f"{where}: datasets.{dataset!r} cannot have its own restriction; "
                f"allowed: {', '.join(OWN_RESTRICTION_DATASETS)}"
            )
        ds_entry = _table(ds_raw, ds_where, "the entry")
        _known_keys(ds_entry, _DATASET_KEYS, ds_where)
        if "restrict" not in ds_entry:
            raise AccessConfigError(f"{ds_where}: restrict is missing")
        if not restrict:
            raise AccessConfigError(
                f"{ds_where}: a dataset's own restriction stands in for dimensions it lacks; "
                "this entry has no restrict, so it sees all data"
            )
        for dim, values in _restrict(ds_entry["restrict"], ds_where, None).items():
            own[f"{dataset}{DATASET_SEP}{dim}"] = values
    return Grant(email=email, role=role, restrict=tuple(sorted({**restrict, **own}.items())))


def parse_policy(text: str, source: str = "access file") -> AccessPolicy:
    """An AccessPolicy from TOML text; any mistake raises AccessConfigError naming the entry
    and the key (in `detail`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # also: the same [users."…"] table twice
        raise AccessConfigError(f"{source}: not valid TOML: {exc}") from exc
    _known_keys(data, _TOP_KEYS, source)
    dimensions: tuple[str, ...] | None = None
    if "dimensions" in data:
        dims = data["dimensions"]
        if not isinstance(dims, list) or not all(
            isinstance(d, str) and _NAME.match(d) for d in dims
        ):
            raise AccessConfigError(
                f"{source}: dimensions must be a list of dimension names, not {dims!r}"
            )
        dimensions = tuple(dims)
    contact = data.get("admin_contact", "your CX dashboard admin")
    if not isinstance(contact, str) or not contact.strip():
        raise AccessConfigError(f"{source}: admin_contact must be a non-empty string")
    users: dict[str, Grant] = {}
    spelled: dict[str, str] = {}
    entries: list[tuple[str, Grant]] = []
    for raw_email, raw in _table(data.get("users", {}), source, "users").items():
        where = f"{source}: users.{_quoted(raw_email)}"
        email = _email(raw_email, where)
        if email in users:
            raise AccessConfigError(
                f"{where}: the same user as users.{_quoted(spelled[email])} (e-mail addresses "
                "are compared without case and spaces); list each user once"
            )
        users[email] = _grant(email, raw, where, _USER_KEYS, dimensions)
        spelled[email] = raw_email
        entries.append((where, users[email]))
    groups = []
    for name, raw in _table(data.get("groups", {}), source, "groups").items():
        where = f"{source}: groups.{_quoted(name)}"
        entry = _table(raw, where, "the entry")
        members_raw = entry.get("members")
        if not isinstance(members_raw, list) or not members_raw:
            raise AccessConfigError(
                f"{where}: members must be a non-empty list of e-mail addresses"
            )
        members = frozenset(_email(m, f"{where}: members") for m in members_raw)
        grant = _grant("", entry, where, _GROUP_KEYS, dimensions)
        groups.append((members, grant))
        entries.append((where, grant))
    return AccessPolicy(
        users=users,
        groups=tuple(groups),
        admin_contact=contact.strip(),
        source=source,
        dimensions=dimensions,
        entries=tuple(entries),
    )


def load_policy(path: str | Path | None = None) -> AccessPolicy | None:
    """The policy in `path` / $CX_ACCESS_FILE, or None when no access file is configured.
    A file that cannot be read or has any mistake raises AccessConfigError."""
    raw = path or os.environ.get("CX_ACCESS_FILE", "").strip()
    if not raw:
        return None
    file = Path(raw)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AccessConfigError(f"cannot read access file {_quoted(str(file))}: {reason}") from exc
    return parse_policy(text, f"access file {_quoted(str(file))}")


# --- identity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityClaims:
    """Which claims of the sign-in provider's ID token identify a user.

    Set in the app's secrets (`[identity]`: email_claim, verified_claim, issuers); the
    defaults are the standard OIDC claims and any issuer the `[auth]` provider returns.
    """

    email: str = "email"
    verified: str = "email_verified"
    issuers: tuple[str, ...] = ()  # when set, the `iss` claim must be one of these


def identity_claims(raw: Mapping[str, Any] | None, source: str = "[identity]") -> IdentityClaims:
    """IdentityClaims from a settings table; a mistake raises AccessConfigError."""
    if not raw:
        return IdentityClaims()
    settings = dict(raw)
    _known_keys(settings, _IDENTITY_KEYS, source)
    out = IdentityClaims()
    for key, attr in (("email_claim", "email"), ("verified_claim", "verified")):
        if key in settings:
            value = settings[key]
            if not isinstance(value, str) or not value.strip():
                raise AccessConfigError(f"{source}: {key} must be a claim name, not {value!r}")
            out = replace(out, **{attr: value.strip()})
    if "issuers" in settings:
        issuers = settings["issuers"]
        if (
            not isinstance(issuers, list | tuple)
            or not issuers
            or not all(isinstance(i, str) and i.strip() for i in issuers)
        ):
            raise AccessConfigError(
                f"{source}: issuers must be a non-empty list of issuer URLs, not {issuers!r}"
            )
        out = replace(out, issuers=tuple(i.strip() for i in issuers))
    return out


def verified_email(claims: Mapping[str, Any], keys: IdentityClaims | None = None) -> str:
    """The signed-in user's e-mail address, when the sign-in provider vouches for it (the
    verified claim is true, and the issuer is accepted); otherwise AccessDenied saying why.
    Only a verified address may be looked up in the access file."""
    keys = keys or IdentityClaims()
    if keys.issuers and claims.get("iss") not in keys.issuers:
        raise AccessDenied(
            "this sign-in comes from an identity provider the dashboard does not accept"
        )
    email = claims.get(keys.email)
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise AccessDenied("the sign-in provider did not share an e-mail address")
    verified = claims.get(keys.verified)
    if not (verified is True or (isinstance(verified, str) and verified.lower() == "true")):
        raise AccessDenied(
            f"the sign-in provider has not verified the e-mail address {email.strip()} "
            f"(claim {keys.verified} is not true), so it gets no access"
        )
    return email.strip()

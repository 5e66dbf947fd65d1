"""Who may see and do what: the access file (TOML) → role and row restriction per user.

```toml
admin_contact = "cx-admins@example.com"      # shown to people who are not in the file

[users."ola@example.com"]
role = "viewer"                              # viewer | analyst | admin
[users."ola@example.com".restrict]
country = ["Norway"]

[groups.nordic_leads]
members = ["kari@example.com", "sven@example.com"]
role = "analyst"
restrict = { country = ["Norway", "Sweden"] }
```

A user listed directly wins over their groups; a user in several groups gets the first
group in file order. The restriction is applied inside the engine (Store.restricted), so
filters and URL parameters can only narrow it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxdata.errors import CxError
from cxdata.store import Store

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")
# What each action needs, at least.
ACTIONS: dict[str, str] = {"view": "viewer", "import": "analyst", "manage": "admin"}


class AccessDenied(CxError):
    """The user may not see the data or do the action."""


@dataclass(frozen=True)
class Grant:
    """A user's role and row restriction (dimension → allowed values; empty = all rows)."""

    email: str
    role: str
    restrict: tuple[tuple[str, tuple[str, ...]], ...] = ()  # hashable: a cache key part

    def can(self, action: str) -> bool:
        """Whether this grant allows `action` (view, import, manage)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
        return ROLES.index(self.role) >= ROLES.index(ACTIONS[action])

    def scoped(self, store: Store) -> Store:
        """`store` narrowed to the rows this grant may see."""
        return store.restricted(dict(self.restrict)) if self.restrict else store

    def describe(self) -> str:
        """One line: the role and the scope, for the UI."""
        scope = "; ".join(f"{d} = {', '.join(v)}" for d, v in self.restrict) or "all data"
        return f"{self.role} · {scope}"


OPEN = Grant(email="", role="admin")  # local use without an access file


@dataclass(frozen=True)
class AccessPolicy:
    """The parsed access file."""

    users: dict[str, Grant]
    groups: tuple[tuple[frozenset[str], Grant], ...]
    admin_contact: str
    source: str

    def grant_for(self, email: str) -> Grant | None:
        """The grant of `email` (case-insensitive), or None when the file does not list it."""
        key = email.strip().lower()
        if key in self.users:
            return self.users[key]
        for members, grant in self.groups:
            if key in members:
                return Grant(email=key, role=grant.role, restrict=grant.restrict)
        return None

    def require(self, email: str) -> Grant:
        """The grant of `email`, or AccessDenied saying whom to ask."""
        grant = self.grant_for(email)
        if grant is None:
            raise AccessDenied(f"{email} has no access to this dashboard; "
                               f"ask {self.admin_contact} to add you")
        return grant


def _grant(email: str, raw: dict[str, Any], where: str) -> Grant:
    role = raw.get("role", "viewer")
    if role not in ROLES:
        raise CxError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    restrict_raw = raw.get("restrict", {})
    if not isinstance(restrict_raw, dict):
        raise CxError(f"{where}: restrict must be a table of dimension = [values]")
    restrict: dict[str, tuple[str, ...]] = {}
    for dim, values in restrict_raw.items():
        vals = [values] if isinstance(values, str) else values
        if not isinstance(vals, list) or not vals or not all(isinstance(v, str) for v in vals):
            raise CxError(f"{where}: restrict.{dim} must be a non-empty list of strings")
        restrict[str(dim)] = tuple(vals)
    return Grant(email=email, role=role, restrict=tuple(sorted(restrict.items())))


def parse_policy(text: str, source: str = "access file") -> AccessPolicy:
    """An AccessPolicy from TOML text; a malformed file raises CxError naming the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CxError(f"{source}: not valid TOML: {exc}") from exc
    users = {
        email.strip().lower(): _grant(email.strip().lower(), raw, f'{source}: users."{email}"')
        for email, raw in data.get("users", {}).items()
    }
    groups = []
    for name, raw in data.get("groups", {}).items():
        members = frozenset(m.strip().lower() for m in raw.get("members", []))
        groups.append((members, _grant("", raw, f"{source}: groups.{name}")))
    return AccessPolicy(users=users, groups=tuple(groups),
                        admin_contact=str(data.get("admin_contact", "your CX dashboard admin")),
                        source=source)


def load_policy(path: str | Path | None = None) -> AccessPolicy | None:
    """The policy in `path` / $CX_ACCESS_FILE, or None when no access file is configured."""
    raw = path or os.environ.get("CX_ACCESS_FILE", "").strip()
    if not raw:
        return None
    file = Path(raw)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CxError(f"cannot read access file {file}: {exc.strerror}") from exc
    return parse_policy(text, str(file))

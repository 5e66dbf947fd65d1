"""Roles and what each may do: one definition, used by the access file (cxdata.access) and
by the engine's writers (Store.require), so a page cannot grant what the engine refuses.

| role    | view | import (append, themes, taxonomy) | manage (replace, delete, demo) |
|---------|------|-----------------------------------|--------------------------------|
| viewer  | yes  | no                                | no                             |
| analyst | yes  | yes                               | no                             |
| admin   | yes  | yes                               | yes                            |
"""

from __future__ import annotations

from cxdata.errors import CxError

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")
# What each action needs, at least.
ACTIONS: dict[str, str] = {"view": "viewer", "import": "analyst", "manage": "admin"}


class AccessDenied(CxError):
    """The user may not see the data or do the action."""


def role_allows(role: str, action: str) -> bool:
    """Whether `role` may do `action` (view, import, manage); ValueError for an unknown
    action, False for an unknown role (fail closed)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(ACTIONS[action])


def require_role(role: str | None, action: str) -> None:
    """AccessDenied unless `role` may do `action`. None is the local process itself (the
    CLI, scripts, tests: whoever runs it owns the data directory), which may do anything."""
    if role is not None and not role_allows(role, action):
        raise AccessDenied(f"a {role} may not {action} data; ask an administrator")

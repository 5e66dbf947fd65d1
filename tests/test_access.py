"""The access file: parsing, roles, and the CLI's --as-user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cxdata.access import VISITOR_MESSAGE, AccessConfigError, load_policy, parse_policy
from cxdata.errors import CxError

ROOT = Path(__file__).resolve().parent.parent

POLICY = """
admin_contact = "cx-admins@example.com"

[users."ola@example.com"]
role = "viewer"
[users."ola@example.com".restrict]
country = ["Norway"]

[users."boss@example.com"]
role = "admin"

[groups.nordic]
members = ["kari@example.com", "ola@example.com"]
role = "analyst"
restrict = { country = ["Norway", "Sweden"], channel = ["web"] }
"""


def test_users_groups_and_roles() -> None:
    policy = parse_policy(POLICY)
    ola = policy.require("OLA@example.com")
    assert ola.role == "viewer" and dict(ola.restrict) == {"country": ("Norway",)}
    assert ola.can("view") and not ola.can("import") and not ola.can("manage")
    kari = policy.require("kari@example.com")
    assert kari.role == "analyst" and kari.can("import") and not kari.can("manage")
    assert dict(kari.restrict) == {"channel": ("web",), "country": ("Norway", "Sweden")}
    boss = policy.require("boss@example.com")
    assert boss.can("manage") and boss.restrict == () and boss.describe() == "admin · all data"
    assert policy.grant_for("stranger@example.com") is None
    with pytest.raises(CxError, match=re.escape("ask cx-admins@example.com")):
        policy.require("stranger@example.com")


@pytest.mark.parametrize("text,needle", [
    ('[users."a@b.c"]\nrole = "owner"', "role 'owner' is not one of"),
    ('[users."a@b.c"]\nrestrict = { country = [] }', "restrict.country must be a non-empty"),
    ("[users", "not valid TOML"),
])
def test_bad_policy_names_the_entry(text: str, needle: str) -> None:
    with pytest.raises(AccessConfigError) as caught:
        parse_policy(text, "access.toml")
    assert needle in caught.value.detail and caught.value.detail.startswith("access.toml")
    assert str(caught.value) == VISITOR_MESSAGE  # what anyone may see: no path, no detail


def test_no_access_file_means_open(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CX_ACCESS_FILE", raising=False)
    assert load_policy() is None
    monkeypatch.setenv("CX_ACCESS_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(AccessConfigError) as caught:
        load_policy()
    assert "cannot read access file" in caught.value.detail
    assert "missing.toml" in caught.value.detail and "missing.toml" not in str(caught.value)


def cx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cxdata", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("access")
    (path / "access.toml").write_text(POLICY)
    env = {"CX_DATA_DIR": str(path / "data"), "CX_ACCESS_FILE": str(path / "access.toml")}
    done = cx(env, "demo", "--rows", "20000", "--skip-themes")  # no test reads the themes
    assert done.returncode == 0, done.stderr
    return env


def test_as_user_applies_the_restriction(env: dict[str, str]) -> None:
    scoped = json.loads(cx(env, "--as-user", "ola@example.com", "kpis", "--json",
                           "--by", "country").stdout)
    assert set(scoped["by"]) == {"Norway"}
    direct = json.loads(cx(env, "kpis", "--json", "--where", "country=Norway").stdout)
    assert scoped["responses"] == direct["responses"] > 0
    widened = json.loads(cx(env, "--as-user", "ola@example.com", "kpis", "--json",
                            "--where", "country=Sweden").stdout)
    assert widened["responses"] == 0


def test_as_unknown_user_fails_with_one_line(env: dict[str, str]) -> None:
    done = cx(env, "--as-user", "mallory@example.com", "kpis")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().endswith("ask cx-admins@example.com to add you")
    assert len(done.stderr.strip().splitlines()) == 1


def test_viewer_cannot_replace_data(env: dict[str, str]) -> None:
    done = cx(env, "--as-user", "ola@example.com", "demo", "--rows", "100")
    assert done.returncode == 1 and "may not manage data" in done.stderr

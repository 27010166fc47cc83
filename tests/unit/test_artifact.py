# SPDX-License-Identifier: GPL-3.0-or-later
"""The built collection: `ansible-galaxy collection build` from this working tree, as a release
would be made, holds exactly what users need (galaxy.yml build_ignore) and its licence."""
import fnmatch
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

# What may be in the tarball, by top-level name (MANIFEST.json and FILES.json are made by the build).
ALLOWED_TOP = {
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "requirements.yml", "requirements-controller.txt",
    "meta", "plugins", "roles", "playbooks", "changelogs", "examples",
}
# What must never be in it: development, CI and test tooling, the simulator and its golden files,
# unreleased changelog fragments, the simulator demo's variables, local environments and caches.
DENIED = [
    "Makefile", "requirements.txt", "ansible.cfg", ".ansible-lint", ".gitignore", "galaxy.yml",
    ".ci/*", "bench/*", "extensions/*", "tests/*", "changelogs/fragments/*", "playbooks/vars/demo.yml",
    "meta/execution-environment.yml",
    ".venv*", ".build/*", ".ansible/*", ".pytest_cache/*", "*.pyc", "*/__pycache__/*", "*.tar.gz",
]
# Files users are told about (README.md): if build_ignore ever drops one of them, this fails.
REQUIRED = [
    "LICENSE", "README.md", "requirements.yml", "requirements-controller.txt", "meta/runtime.yml",
    "examples/inventory.yml", "playbooks/site.yml", "plugins/modules/uci.py", "roles/container/tasks/main.yml",
]


def denied(path):
    return [pattern for pattern in DENIED if fnmatch.fnmatch(path, pattern)]


def files_git_knows():
    proc = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=str(ROOT),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip("not a git checkout (%s): the expected file list comes from git ls-files; "
                    "run from a clone" % proc.stderr.decode().strip())
    return {p for p in proc.stdout.decode().split("\0") if p and (ROOT / p).is_file()}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact")
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    proc = subprocess.run([str(galaxy), "collection", "build", "--output-path", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = list(out.glob("turris-containers-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    with tarfile.open(str(tarballs[0])) as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        license_text = tar.extractfile("LICENSE").read().decode()
    return {"members": members, "manifest": manifest, "license": license_text}


def test_exact_file_list(artifact):
    files = {name for name, m in artifact["members"].items() if not m.isdir()}
    expected = {p for p in files_git_knows() if p.split("/")[0] in ALLOWED_TOP and not denied(p)}
    expected |= {"MANIFEST.json", "FILES.json"}
    assert sorted(files - expected) == [], "in the tarball but not expected"
    assert sorted(expected - files) == [], "expected but not in the tarball"


def test_allow_and_deny_lists(artifact):
    names = sorted(artifact["members"])
    assert sorted({n.split("/")[0] for n in names} - ALLOWED_TOP) == []
    assert [(n, denied(n)) for n in names if denied(n)] == []
    assert [p for p in REQUIRED if p not in artifact["members"]] == []
    assert not any(m.issym() or m.islnk() for m in artifact["members"].values())


def test_metadata_and_license(artifact):
    info = artifact["manifest"]["collection_info"]
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert (info["namespace"], info["name"], info["version"]) == (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert info["license"] == ["GPL-3.0-or-later"]
    assert "GNU GENERAL PUBLIC LICENSE" in artifact["license"] and "Version 3, 29 June 2007" in artifact["license"]
    # no placeholder addresses: a URL is either real or absent
    for key in ("repository", "documentation", "homepage", "issues"):
        assert not info.get(key) or ".invalid" not in info[key] and "example." not in info[key], (key, info[key])
    assert set(info["dependencies"]) == {"community.general", "ansible.utils"}
    requirements = yaml.safe_load((ROOT / "requirements.yml").read_text())
    assert {c["name"]: c["version"] for c in requirements["collections"]} == info["dependencies"]


def test_controller_requirements_are_what_ci_pins():
    """Every package users are told to install is pinned for the tests, at a version inside the range."""
    users = {r.name.lower(): r for r in map(Requirement, lines("requirements-controller.txt"))}
    pinned = {r.name.lower(): r for r in map(Requirement, lines("requirements.txt"))}
    assert sorted(users) == ["ansible-core", "netaddr", "passlib"]
    for name, wanted in users.items():
        pin = str(pinned[name].specifier).replace("==", "")
        assert wanted.specifier.contains(pin), (name, str(wanted.specifier), pin)


def lines(path):
    return [line.split("#", 1)[0].strip() for line in (ROOT / path).read_text().splitlines()
            if line.split("#", 1)[0].strip()]

# SPDX-License-Identifier: GPL-3.0-or-later
"""meta/execution-environment.yml, the image definition for AWX/AAP users: `ansible-builder create`
(the pinned ansible-builder of requirements.txt) makes a build context from it, and that context
holds what the collection's users install by hand, the collection itself and a Containerfile that
installs them. Building the image needs a container registry (the base image), which tests cannot
reach: that step is the user's (README.md)."""
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EE = ROOT / "meta" / "execution-environment.yml"
BUILDER = Path(sys.executable).parent / "ansible-builder"
GALAXY = Path(sys.executable).parent / "ansible-galaxy"


def pin(name):
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith(name + "=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("%s is not pinned in requirements.txt" % name)


def create(definition, context):
    if not BUILDER.exists():
        pytest.skip("ansible-builder is not installed next to %s: requirements.txt pins it for the main "
                    "ansible-core line's venv (make deps); the other lines' venvs (make compat) leave it out"
                    % sys.executable)
    proc = subprocess.run([str(BUILDER), "create", "-f", str(definition), "-c", str(context),
                           "--output-filename", "Containerfile"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A clone's layout (the definition, the requirement files, dist/ with the built collection) and
    the context ansible-builder makes from it."""
    base = tmp_path_factory.mktemp("ee")
    clone = base / "clone"
    (clone / "meta").mkdir(parents=True)
    shutil.copyfile(EE, clone / "meta" / "execution-environment.yml")
    for name in ("requirements-controller.txt", "requirements.yml"):
        shutil.copyfile(ROOT / name, clone / name)
    build = subprocess.run([str(GALAXY), "collection", "build", "--output-path", str(clone / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    out = create(clone / "meta" / "execution-environment.yml", base / "context")
    return {"dir": base / "context", "clone": clone, "output": out}


def test_definition_is_version_3_and_pins_what_ci_tests():
    ee = yaml.safe_load(EE.read_text())
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % pin("ansible-core")
    assert deps["python"] == "../requirements-controller.txt" and deps["galaxy"] == "../requirements.yml"
    assert pin("ansible-builder")


def test_context_holds_the_users_requirements(context):
    built = context["dir"] / "_build"
    assert (built / "requirements.txt").read_text() == (ROOT / "requirements-controller.txt").read_text()
    assert (built / "requirements.yml").read_text() == (ROOT / "requirements.yml").read_text()
    assert "openssh-clients" in (built / "bindep.txt").read_text()
    for script in ("assemble", "introspect.py", "install-from-bindep", "check_galaxy", "entrypoint"):
        assert (built / "scripts" / script).is_file(), script


def test_context_holds_the_built_collection(context):
    tarballs = sorted((context["dir"] / "_build" / "collections").glob("turris-containers-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    with tarfile.open(str(tarballs[0])) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        names = tar.getnames()
    assert (info["namespace"], info["name"], info["version"]) == ("turris", "containers", version)
    assert "plugins/inventory/fleet.py" in names and "meta/execution-environment.yml" not in names


def test_containerfile_installs_dependencies_then_the_collection(context):
    text = (context["dir"] / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="%s"' % yaml.safe_load(EE.read_text())["images"]["base_image"]["name"] in text
    assert "ansible-core==%s" % pin("ansible-core") in text
    galaxy = text.index("FROM base AS galaxy")
    deps = text.index("ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml", galaxy)
    own = text.index("/build/collections/turris-containers-*.tar.gz", deps)
    assert galaxy < deps < own < text.index("FROM base AS builder")
    assert "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in text
    assert "ENV ANSIBLE_SCP_EXTRA_ARGS=-O ANSIBLE_SSH_TRANSFER_METHOD=scp ANSIBLE_PIPELINING=True" in text


def test_create_in_place_from_the_repository(tmp_path):
    """As a user runs it in a clone. Without a built tarball in dist/ ansible-builder only warns; the
    Containerfile's step then stops the build with a message saying to build the collection first."""
    out = create(EE, tmp_path / "context")
    text = (tmp_path / "context" / "Containerfile").read_text()
    assert (tmp_path / "context" / "_build" / "requirements.txt").read_text() == \
        (ROOT / "requirements-controller.txt").read_text()
    if not list((ROOT / "dist").glob("turris-containers-*.tar.gz")):
        assert "No matches for '../dist/turris-containers-*.tar.gz'" in out
    assert "ansible-galaxy collection build --output-path dist ." in text


def test_definition_stays_out_of_the_artifact():
    """An installed collection's meta/execution-environment.yml is read by ansible-builder as that
    collection's dependency list (paths relative to the collection): shipping this one would break
    every image that installs turris.containers."""
    ignore = yaml.safe_load((ROOT / "galaxy.yml").read_text())["build_ignore"]
    assert "meta/execution-environment.yml" in ignore

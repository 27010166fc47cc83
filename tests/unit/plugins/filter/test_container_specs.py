# SPDX-License-Identifier: GPL-3.0-or-later
"""The container_specs filter: the role's one call. Password hashes are the ones the role wrote
before (Ansible's password_hash through Jinja, the same salt), the image index comes as the images
part of lxc_image_info's result (read from a real HTTPS server on loopback in the role's own
check), and nothing it raises or returns holds a password."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from passlib.hash import sha512_crypt

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.turris.containers.plugins.filter.container_specs import container_specs, ifname_problem, password_salt

try:  # ansible-core 2.19 templates only trusted strings
    from ansible.template import trust_as_template
except ImportError:  # 2.17, 2.18
    def trust_as_template(text):
        return text

ROOT = Path(__file__).resolve().parents[4]
FLAVORS = yaml.safe_load((ROOT / "roles" / "container" / "vars" / "main.yml").read_text())["__container_flavors"]
PLAN = {"subnet": "10.0.3.0/24", "address": "10.0.3.1", "prefix": 24, "bridge": "lxcbr0",
        "image_server": "repo.turris.cz/lxc"}
INDEX = "Debian;Bookworm;armv7l;default;20261201_00:00;/images/Debian/Bookworm/armv7l/default/20261201_00:00/\n"
SECRET = "correct horse battery staple \u017e"


def specs(items, **kw):
    kw.setdefault("host", "omnia.example.net")
    kw.setdefault("lxc_arch", "armv7l")
    return container_specs(items, PLAN, FLAVORS, **kw)


def jinja(expression, **variables):
    """What the role computed before, through Ansible's own Jinja (password_hash, hash)."""
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.mark.parametrize("name, host", [("web", "omnia.example.net"), ("pbx", "192.168.1.1"), ("a.b_c-1", "t\u00fdr")])
def test_the_hash_is_the_one_the_role_wrote_before(name, host):
    out = specs([{"name": name, "flavor": "debian", "root_password": SECRET}], host=host, index=INDEX)
    assert out["problems"] == []
    got = out["specs"][0]["root_password_hash"]
    before = jinja("{{ password | password_hash('sha512', ((name ~ inventory_hostname) | hash('sha256'))[:16]) }}",
                   password=SECRET, name=name, inventory_hostname=host)
    assert got == before
    assert got.startswith("$6$") and sha512_crypt.verify(SECRET, got) and not sha512_crypt.verify("other", got)
    assert password_salt(name, host) in got
    assert SECRET not in json.dumps(out)


def test_the_hash_is_stable_per_container_and_router():
    one = specs([{"name": "w", "flavor": "busybox", "root_password": SECRET}])["specs"][0]["root_password_hash"]
    assert one == specs([{"name": "w", "flavor": "busybox", "root_password": SECRET}])["specs"][0]["root_password_hash"]
    other = specs([{"name": "w", "flavor": "busybox", "root_password": SECRET}], host="mox")
    assert other["specs"][0]["root_password_hash"] != one


def images(index=None, error=None, status=200):
    """The images part of lxc_image_info's result, as it reads repo.turris.cz/lxc."""
    return {"url": "https://repo.turris.cz/lxc/meta/1.0/index-system", "status": status, "index": index,
            "error": error}


def test_the_index_as_lxc_image_info_returns_it():
    items = [{"name": "d", "flavor": "debian"}]
    got = specs(items, index=images(INDEX))
    assert got["problems"] == [] and got["specs"][0]["image"]["arch"] == "armv7l"
    # the module's whole registered result holds the same part
    whole = {"changed": False, "images": images(INDEX)}
    assert specs(items, index=whole) == got
    assert "not on the image server" in specs(items, index=images(""))["problems"][0]


@pytest.mark.parametrize("error, status", [
    ("HTTP status 404 Not Found", 404),
    ("[Errno 111] Connection refused", None),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)", None),
])
def test_an_index_that_could_not_be_read_keeps_the_refusal(error, status):
    out = specs([{"name": "d", "flavor": "debian"}], index=images(error=error, status=status))
    assert out["specs"] == [] and out["index_wanted"] is False
    assert out["problems"] == ["could not read the image list https://repo.turris.cz/lxc/meta/1.0/index-system "
                               "(%s): is the image server reachable from the router?" % error]
    # a container the router has needs no list: nothing to refuse
    assert specs([{"name": "d", "flavor": "debian"}], index=images(error=error, status=status),
                 existing=["d"])["problems"] == []


@pytest.mark.parametrize("index, shown", [
    (["x"], "not list"),
    # the uri task's result is no longer taken: it would read the index in four round trips
    ({"status": 200, "content": INDEX, "changed": False}, "keys ['changed', 'content', 'status']"),
    ({"rc": 0, "stdout": INDEX}, "keys ['rc', 'stdout']"),
    ({"skipped": True, "changed": False}, "keys ['changed', 'skipped']"),
    (5, "not int"),
])
def test_other_index_shapes_are_refused_by_name(index, shown):
    with pytest.raises(AnsibleFilterError) as err:
        specs([{"name": "d", "flavor": "debian"}], index=index)
    msg = str(err.value)
    assert "index must be the index text, the images part of turris.containers.lxc_image_info's result" in msg
    assert shown in msg
    assert INDEX not in msg


@pytest.mark.parametrize("value", ["false", "no", False, 0])
def test_check_images_off(value):
    out = specs([{"name": "d", "flavor": "debian"}], check_images=value)
    assert out["problems"] == [] and out["index_wanted"] is False


def test_what_the_filter_needs():
    with pytest.raises(AnsibleFilterError, match="needs host"):
        container_specs([], PLAN, FLAVORS)
    with pytest.raises(AnsibleFilterError, match="needs flavors"):
        container_specs([], PLAN, None, host="r")
    assert container_specs([], PLAN, FLAVORS, host="r") == {"problems": [], "specs": [], "index_wanted": False}


def test_refusals_never_hold_the_password():
    out = specs([{"name": "w\n", "flavor": "debian", "root_password": SECRET, "memory_limit": SECRET}])
    text = json.dumps(out)
    assert out["problems"] and "memory_limit" in text
    # the memory_limit holds the secret by mistake: a value is shown, a key named password never is
    assert text.count(SECRET[:20]) == 1
    assert "root_password" not in text


# --------------------------------------------------------------------------- the role's check, run by Ansible
NO_SERVER = "127.0.0.1:9"  # the discard port: nothing listens, a read fails at once


def run_validate(tmp_path, containers, turris_host=None, check_images=True, server=NO_SERVER, environ=None):
    """roles/container/tasks/validate.yml as site.yml's check runs it, on the controller alone:
    the plan and the kernel's readiness given as lxc_host and namespaces would publish them.
    ``environ`` is added to ansible-playbook's environment (the local connection passes it on to
    the modules, as a router's own trust store would be)."""
    check = {"name": "turris.containers.container", "tasks_from": "validate"}
    write = {"dest": str(tmp_path / "specs.json"), "mode": "0600", "content": "{{ container_specs | to_json }}"}
    playbook = [{"hosts": "r1", "gather_facts": False, "tasks": [
        {"name": "Check", "ansible.builtin.include_role": check},
        {"name": "Write", "ansible.builtin.copy": write}]}]
    (tmp_path / "check.yml").write_text(yaml.safe_dump(playbook))
    (tmp_path / "hosts").write_text("r1 ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    extra = {"containers": containers, "lxc_host_plan": dict(PLAN, image_server=server),
             "turris_lxc_arch": "armv7l", "turris_board": "omnia", "container_check_images": check_images,
             "namespaces_readiness": {"ready": {"lxc": True, "lxc_userns": True, "lxc_debian": True}, "missing": {}}}
    if turris_host is not None:
        extra["turris_host"] = turris_host
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), **(environ or {}))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-v", "-i", str(tmp_path / "hosts"),
                           str(tmp_path / "check.yml"), "-e", json.dumps(extra)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600, check=False)
    out = tmp_path / "specs.json"
    return proc, proc.stdout + proc.stderr, json.loads(out.read_text()) if out.exists() else None


def test_the_role_reads_no_index_for_containers_the_router_has(tmp_path):
    have = {"containers": {"web": {"state": "running", "config": {"lxc.net.0.ipv4.address": ["10.0.3.200/24"]}}}}
    proc, output, got = run_validate(tmp_path, [{"name": "web", "flavor": "debian", "root_password": SECRET}], have)
    assert proc.returncode == 0, output[-3000:]
    assert got[0]["address"] == "10.0.3.200" and sha512_crypt.verify(SECRET, got[0]["root_password_hash"])
    assert re.search(r"Read the images the server offers\]\s*\**\s*skipping: \[r1\]", output), output[-3000:]
    assert "could not read" not in output
    assert SECRET not in output


def test_the_role_refuses_a_new_container_whose_image_it_cannot_check(tmp_path):
    proc, output, got = run_validate(tmp_path, [{"name": "web", "flavor": "debian", "root_password": SECRET}],
                                     {"containers": {}})
    assert proc.returncode != 0 and got is None
    assert "Refuse a list the role cannot act on" in output
    assert "could not read the image list https://%s/meta/1.0/index-system" % NO_SERVER in output
    assert SECRET not in output
    # container_check_images: false reads nothing and refuses nothing
    proc, output, got = run_validate(tmp_path, [{"name": "web", "flavor": "debian"}], {"containers": {}},
                                     check_images=False)
    assert proc.returncode == 0, output[-3000:]
    assert got[0]["image"]["dist"] == "Debian"


@pytest.fixture(name="image_server", scope="module")
def image_server_on_loopback(tmp_path_factory):
    """The simulator's HTTPS image server (tests/sim/images.py, its private CA) on 127.0.0.1,
    serving an index in repo.turris.cz/lxc's names under /lxc."""
    sys.path.insert(0, str(ROOT / "tests" / "sim"))
    import images  # pylint: disable=import-outside-toplevel
    www = tmp_path_factory.mktemp("www")
    (www / "lxc" / "meta" / "1.0").mkdir(parents=True)
    (www / "lxc" / "meta" / "1.0" / "index-system").write_text(INDEX)
    server = images.ImageServer(str(www), "127.0.0.1").start()
    try:
        yield {"server": server.server + "/lxc",
               "environ": {"SSL_CERT_FILE": server.tls["ca"], "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}}
    finally:
        server.stop()


def test_the_role_checks_new_containers_against_the_server_s_list(tmp_path, image_server):
    (tmp_path / "offered").mkdir()
    (tmp_path / "missing").mkdir()
    proc, output, got = run_validate(tmp_path / "offered", [{"name": "web", "flavor": "debian", "root_password": SECRET}],
                                     {"containers": {}}, server=image_server["server"],
                                     environ=image_server["environ"])
    assert proc.returncode == 0, output[-3000:]
    assert got[0]["image"] == {"dist": "Debian", "release": "Bookworm", "variant": "default", "arch": "armv7l",
                               "server": image_server["server"]}
    assert SECRET not in output
    # an image the list does not hold is refused before any change, naming what the server has
    trixie = [{"name": "web", "flavor": "debian", "image": {"dist": "Debian", "release": "Trixie"}}]
    proc, output, got = run_validate(tmp_path / "missing", trixie, {"containers": {}}, server=image_server["server"],
                                     environ=image_server["environ"])
    assert proc.returncode != 0 and got is None
    assert "Refuse a list the role cannot act on" in output
    # the callback folds long messages: compare the words
    assert ("image Debian/Trixie/default for armv7l is not on the image server %s: the server offers Debian as "
            "release/arch/variant: Bookworm/armv7l/default" % image_server["server"]) in " ".join(output.split())


def test_the_role_refuses_when_the_server_s_certificate_does_not_verify(tmp_path, image_server):
    # the same server, but the router does not trust its CA: the check refuses, it never skips the check
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(other_ca), "-days", "1", "-subj", "/CN=another CA"], check=True, capture_output=True)
    proc, output, got = run_validate(tmp_path, [{"name": "web", "flavor": "debian"}], {"containers": {}},
                                     server=image_server["server"],
                                     environ=dict(image_server["environ"], SSL_CERT_FILE=str(other_ca)))
    assert proc.returncode != 0 and got is None
    words = " ".join(output.split())
    assert "could not read the image list https://%s/meta/1.0/index-system ([SSL: CERTIFICATE_VERIFY_FAILED]" \
        % image_server["server"] in words


def test_the_role_never_prints_a_password_of_a_refused_list(tmp_path):
    proc, output, got = run_validate(tmp_path, [{"name": "pw", "flavor": "busybox", "cpu_shares": 1,
                                                 "root_password": SECRET}, {"root_password": SECRET}])
    assert proc.returncode != 0 and got is None
    assert 'container "pw" (flavor busybox): cpu_shares 1 is outside 2-262144' in output
    assert "containers[1] needs at least name and flavor" in output
    assert SECRET not in output and SECRET.split()[0] + " horse" not in output


@pytest.mark.parametrize("value", ["br-lxc", "lxcbr0", "a", "x" * 15, "br.10"])
def test_ifname_problem_accepts_interface_names(value):
    assert ifname_problem(value, "lxc_host_bridge") == ""


@pytest.mark.parametrize("value", ["", "x" * 16, "br lxc", "br/0", "br0\n", "br0\nlxc.hook.pre-start = x", ".", "..",
                                   None, 5, "x" * 5000])
def test_ifname_problem_refuses_and_names_the_field(value):
    msg = ifname_problem(value, "lxc_host_bridge")
    assert msg.startswith("invalid lxc_host_bridge ") and "interface name" in msg
    assert len(msg) < 400

# SPDX-License-Identifier: GPL-3.0-or-later
"""The container_specs filter: the role's one call. Password hashes are the ones the role wrote
before (Ansible's password_hash through Jinja, the same salt), the image index comes as the uri
task's result, and nothing it raises or returns holds a password."""
import json
from pathlib import Path

import pytest
import yaml
from passlib.hash import sha512_crypt

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.turris.containers.plugins.filter.container_specs import container_specs, password_salt

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


def test_the_index_as_the_uri_task_returns_it():
    items = [{"name": "d", "flavor": "debian"}]
    assert specs(items, index={"status": 200, "content": INDEX})["specs"][0]["image"]["arch"] == "armv7l"
    assert specs(items, index={"skipped": True, "changed": False})["index_wanted"] is True
    out = specs(items, index={"status": -1, "msg": "Status code was -1 and not [200]: Request failed: timed out"})
    assert out["problems"] == ["could not read the image list https://repo.turris.cz/lxc/meta/1.0/index-system "
                               "(Status code was -1 and not [200]: Request failed: timed out): is the image server "
                               "reachable from the router?"]
    assert "HTTP status 404" in specs(items, index={"status": 404, "content": "x"})["problems"][0]
    assert "not on the image server" in specs(items, index="")["problems"][0]
    with pytest.raises(AnsibleFilterError, match="index must be"):
        specs(items, index=["x"])


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

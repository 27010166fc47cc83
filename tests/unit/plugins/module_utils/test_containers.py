# SPDX-License-Identifier: GPL-3.0-or-later
"""The container role's rules (_containers.resolve): every rule and every refusal, hostile values
per field, passwords never in a message, addresses stable.

The flavors are the role's own (roles/container/vars/main.yml, read at test time); the indexes are
in the formats the two kinds of image server publish (see test_lxc_image.py)."""
import json
from pathlib import Path

import pytest
import yaml
from passlib.hash import sha512_crypt

from ansible_collections.turris.containers.plugins.module_utils import _containers as c
from ansible_collections.turris.containers.plugins.module_utils import _lxc

ROOT = Path(__file__).resolve().parents[4]
FLAVORS = yaml.safe_load((ROOT / "roles" / "container" / "vars" / "main.yml").read_text())["__container_flavors"]
GOLDEN = json.loads((Path(__file__).parent / "data" / "containers_allocation.json").read_text())
PLAN = {"subnet": "10.0.3.0/24", "address": "10.0.3.1", "prefix": 24, "bridge": "lxcbr0",
        "image_server": "repo.turris.cz/lxc"}
READY = {"ready": {"lxc": True, "lxc_userns": True, "lxc_debian": True}, "missing": {}}
NOT_DEBIAN = {"ready": {"lxc": True, "lxc_userns": True, "lxc_debian": False},
              "missing": {"lxc_debian": ["MATH_EMULATION"]}}
TURRIS = """Turris_OS;stable;armv7l;default;20261201_00:00;/images/Turris_OS/stable/armv7l/default/20261201_00:00/
Turris_OS;stable;ppc;default;20261201_00:00;/images/Turris_OS/stable/ppc/default/20261201_00:00/
Debian;Bookworm;armv7l;default;20261201_00:00;/images/Debian/Bookworm/armv7l/default/20261201_00:00/
Debian;Bookworm;aarch64;default;20261201_00:00;/images/Debian/Bookworm/aarch64/default/20261201_00:00/
"""
LXC_ORG = """debian;bookworm;armhf;default;20261201_05:24;/images/debian/bookworm/armhf/default/20261201_05:24/
debian;bookworm;arm64;default;20261201_05:24;/images/debian/bookworm/arm64/default/20261201_05:24/
"""
SECRET = "Zq8-very-secret-pw"
SPEC_KEYS = {"name", "flavor", "requires", "template", "image", "network", "address", "memory_limit", "cpu_shares",
             "autostart", "packages", "package_manager", "commands", "root_password_hash"}


def fake_hash(name, password):
    """A real SHA-512 crypt (the filter uses Ansible's password_hash; test_container_specs.py checks that)."""
    return sha512_crypt.using(salt=("%s0000000000000000" % name)[:16].replace("-", "x").replace("_", "x")
                              .replace(".", "x"), rounds=5000).hash(password)


def run(items, plan=None, readiness="ready", index=TURRIS, arch="armv7l", **kw):
    kw.setdefault("hash_password", fake_hash)
    return c.resolve(items, plan or PLAN, FLAVORS, readiness=READY if readiness == "ready" else readiness, index=index,
                     lxc_arch=arch, board="omnia", **kw)


def problems(items, **kw):
    out = run(items, **kw)
    assert out["specs"] == [], "problems must leave no specs"
    return " | ".join(out["problems"])


def one(item, **kw):
    out = run([item], **kw)
    assert out["problems"] == [], out["problems"]
    return out["specs"][0]


# --------------------------------------------------------------------------- good lists
def test_the_flavors_resolve_with_exactly_the_keys_the_role_uses():
    out = run([{"name": "web", "flavor": "debian", "root_password": SECRET}, {"name": "pbx", "flavor": "asterisk"},
               {"name": "tools", "flavor": "busybox", "network": "10.0.3.50"}, {"name": "os", "flavor": "turrisos"}])
    assert out["problems"] == [] and out["index_wanted"] is False
    web, pbx, tools, os_ = out["specs"]
    for spec in out["specs"]:
        assert set(spec) == SPEC_KEYS
        assert set(spec["network"]) == {"link", "ipv4", "ipv4_gateway", "hwaddr"}
    assert web["image"] == {"dist": "Debian", "release": "Bookworm", "variant": "default", "arch": "armv7l",
                            "server": "repo.turris.cz/lxc"}
    assert (web["requires"], web["template"], web["package_manager"], web["memory_limit"], web["cpu_shares"]) == (
        "lxc_debian", "download", "apt", "256M", 1024)
    assert sha512_crypt.verify(SECRET, web["root_password_hash"])
    assert pbx["packages"] == FLAVORS["asterisk"]["packages"] and pbx["package_manager"] == "opkg"
    assert pbx["image"]["dist"] == "Turris_OS" and os_["image"]["release"] == "stable"
    assert tools["image"] is None and tools["template"] == "busybox"
    assert tools["network"] == {"link": "lxcbr0", "ipv4": "10.0.3.50/24", "ipv4_gateway": "10.0.3.1", "hwaddr": None}
    assert tools["address"] == "10.0.3.50" and tools["root_password_hash"] is None
    assert (tools["memory_limit"], tools["cpu_shares"], tools["autostart"]) == ("64M", 512, True)


def test_the_users_keys_win_over_the_flavor():
    spec = one({"name": "w", "flavor": "debian", "memory_limit": "1G", "cpu_shares": 100, "autostart": False,
                "packages": ["vim", "curl=7.88.1-10", "libc6:armhf"], "commands": ["echo a", "if true; then\n  x=1\nfi"],
                "network": {"address": "10.0.3.9", "hwaddr": "00:16:3e:aa:bb:cc", "gateway": "10.0.3.254"}})
    assert (spec["memory_limit"], spec["cpu_shares"], spec["autostart"]) == ("1G", 100, False)
    assert spec["packages"] == ["vim", "curl=7.88.1-10", "libc6:armhf"]
    assert spec["commands"][1] == "if true; then\n  x=1\nfi"
    assert spec["network"] == {"link": "lxcbr0", "ipv4": "10.0.3.9/24", "ipv4_gateway": "10.0.3.254",
                               "hwaddr": "00:16:3e:aa:bb:cc"}


@pytest.mark.parametrize("memory", ["256M", "256MiB", "1g", "268435456", 268435456, "512 k"])
def test_memory_sizes_lxc_container_takes(memory):
    assert one({"name": "m", "flavor": "busybox", "memory_limit": memory})["memory_limit"] == str(memory).strip()


@pytest.mark.parametrize("empty", [None, "", 0])
def test_empty_limits_take_the_flavors(empty):
    spec = one({"name": "m", "flavor": "busybox", "memory_limit": empty, "cpu_shares": empty, "packages": None,
                "commands": None, "image": None, "network": None, "root_password": ""})
    assert (spec["memory_limit"], spec["cpu_shares"], spec["packages"], spec["commands"]) == ("64M", 512, [], [])


@pytest.mark.parametrize("shares", [2, 262144, "1024"])
def test_cpu_share_bounds(shares):
    assert one({"name": "s", "flavor": "busybox", "cpu_shares": shares})["cpu_shares"] == int(shares)


def test_a_name_yaml_made_a_number_is_a_name():
    assert one({"name": 1234, "flavor": "busybox"})["name"] == "1234"


def test_another_link_keeps_its_own_address_and_no_default_gateway():
    spec = one({"name": "lan", "flavor": "busybox", "network": {"link": "br-lan", "address": "192.168.1.20/24"}})
    assert spec["network"] == {"link": "br-lan", "ipv4": "192.168.1.20/24", "ipv4_gateway": None, "hwaddr": None}
    spec = one({"name": "dhcp", "flavor": "busybox", "network": {"link": "br-lan"}})
    assert spec["network"]["ipv4"] is None and spec["address"] is None


# --------------------------------------------------------------------------- flavors
def test_overrides_merge_recursively_and_add_flavors():
    overrides = {"turrisos": {"image": {"release": "hbk"}}, "tiny": {"template": "busybox", "memory_limit": "32M"}}
    index = TURRIS + "Turris_OS;hbk;armv7l;default;1;/x/\n"
    out = run([{"name": "t", "flavor": "turrisos"}, {"name": "y", "flavor": "tiny"}], overrides=overrides, index=index)
    assert out["problems"] == []
    assert out["specs"][0]["image"]["dist"] == "Turris_OS" and out["specs"][0]["image"]["release"] == "hbk"
    assert out["specs"][1]["memory_limit"] == "32M" and out["specs"][1]["template"] == "busybox"
    assert out["specs"][1]["requires"] == "lxc" and out["specs"][1]["package_manager"] == "none"


@pytest.mark.parametrize("overrides, words", [
    ("x", ["container_flavor_overrides", '"x"', "mapping"]),
    ({"debian": ["a"]}, ["container_flavor_overrides.debian", "mapping"]),
    ({"debian": {"template": "local"}}, ["flavor debian template", '"local"', "download, busybox"]),
    ({"debian": {"package_manager": "yum"}}, ["package_manager", '"yum"', "apt, opkg, none"]),
    ({"debian": {"requires": "docker\n"}}, ["requires", '"docker\\n"', "lxc"]),
    ({"debian": {"colour": "red"}}, ["unknown keys", '"colour"', "template"]),
    ({"debian": {"image": "Debian"}}, ["flavor debian image", "mapping"]),
    ({"debian": {"image": {"dist": "../../etc"}}}, ["image.dist (from flavor debian)", "'../../etc'"]),
    ({"debian": {"memory_limit": "lots"}}, ["memory_limit (from flavor debian)", "'lots'", "256M"]),
    ({"debian": {"cpu_shares": 1}}, ["cpu_shares (from flavor debian)", "2-262144"]),
    ({"debian": {"packages": ["a b"]}}, ["packages (from flavor debian)[0]", "'a b'", "package name"]),
])
def test_bad_overrides_are_refused(overrides, words):
    text = problems([{"name": "d", "flavor": "debian"}], overrides=overrides)
    for word in words:
        assert word in text, text


# --------------------------------------------------------------------------- refusals, per field
HOSTILE_TEXT = ["a\nb", "a\rb", "a\x00b", "a\x1b[31mb", "a\x85b", "a\tb"]


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", ".x", "x" * 64, "a b", "web\n", "a\x00",
                                  "a;reboot", "ä", ["web"], {"n": 1}, True, 2 ** 80, 1.5]
                         + HOSTILE_TEXT)
def test_bad_names(name):
    text = problems([{"name": name, "flavor": "busybox"}])
    assert "name" in text
    if name not in ("", True):  # a falsy name is "no name"
        assert "container" in text


@pytest.mark.parametrize("flavor, words", [
    ("gentoo", ['flavor "gentoo" is unknown', "asterisk, busybox, debian, turrisos"]),
    (["debian"], ["invalid flavor", "a string"]),
    ("debian\n", ["invalid flavor", "'debian\\n'", "control characters"]),
])
def test_bad_flavors(flavor, words):
    text = problems([{"name": "f", "flavor": flavor}])
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("field", ["dist", "release", "variant", "arch"])
@pytest.mark.parametrize("value", ["../../../../etc", "..", "a/b", "/", "x\n", "a b", "", "x" * 65, "-rf", ["x"],
                                   1.5, {"a": 1}] + HOSTILE_TEXT)
def test_bad_image_fields(field, value):
    image = {"dist": "Debian", "release": "Bookworm", field: value}
    out = run([{"name": "i", "flavor": "debian", "image": image}])
    if value == "" and field in ("variant", "arch"):
        assert out["problems"] == []  # empty means the default
        return
    text = " | ".join(out["problems"])
    assert out["specs"] == [] and 'container "i"' in text
    assert ("image.%s" % field in text) or ("image needs dist and release" in text), text


@pytest.mark.parametrize("image, words", [
    ("Debian", ["invalid image", '"Debian"', "mapping"]),
    ({"dist": "Debian", "release": ""}, ["image needs dist and release"]),
    ({"dist": "Debian", "release": "Bookworm", "server": "evil.example"}, ["image has unknown keys", '"server"']),
    ({"dist": "Debian", "release": 7}, ["not on the image server"]),
])
def test_bad_images(image, words):
    text = problems([{"name": "i", "flavor": "debian", "image": image}])
    for word in words:
        assert word in text, text


def test_no_image_for_the_busybox_template():
    text = problems([{"name": "bb", "flavor": "busybox", "image": {"dist": "busybox", "release": "1.35"}}])
    assert 'container "bb" (flavor busybox)' in text and "busybox template" in text and "cannot be used" in text


@pytest.mark.parametrize("network, words", [
    ("192.168.7.7", ["192.168.7.7", "outside", "lxcbr0", "10.0.3.0/24"]),
    ("10.0.3.0", ["outside"]),
    ("10.0.3.255", ["outside"]),
    ("10.0.3.1", ["bridge lxcbr0's own"]),
    ("10.0.3.7/16", ["another prefix length", "10.0.3.0/24"]),
    ("web", ["invalid network.address", '"web"', "IPv4"]),
    ("10.0.3.7\n", ["network.address", "control characters"]),
    ("10.0.3.300", ["invalid network.address"]),
    (["10.0.3.7"], ["invalid network", "IPv4 address or {address"]),
    (7, ["invalid network"]),
    ({"adress": "10.0.3.7"}, ["network has unknown keys", '"adress"']),
    ({"link": "br-lan\nlxc.hook.pre-start = /bin/evil"}, ["network.link", "control characters"]),
    ({"link": "../../etc"}, ["network.link", "interface name"]),
    ({"link": "averyveryverylongname"}, ["network.link", "1 to 15"]),
    ({"link": ".."}, ["network.link"]),
    ({"link": "br lan"}, ["network.link"]),
    ({"link": "br-lan", "address": "192.168.1.20"}, ["needs its prefix length", "192.168.1.20/24"]),
    ({"link": "br-lan", "address": "192.168.1.0/24"}, ["network or broadcast"]),
    ({"link": "br-lan", "gateway": "192.168.1.1"}, ["ipv4_gateway", "needs network.ipv4"]),
    ({"gateway": "10.9.9.9"}, ["ipv4_gateway", "not another host in 10.0.3.0/24"]),
    ({"gateway": "gw"}, ["invalid network.gateway", '"gw"']),
    ({"gateway": "10.0.3.1\r"}, ["network.gateway", "control characters"]),
    ({"hwaddr": "01:16:3e:00:00:01"}, ["hwaddr", "multicast"]),
    ({"hwaddr": "00:16:3e:00:00"}, ["hwaddr", "MAC address"]),
    ({"hwaddr": "00:16:3e:00:00:01\nlxc.init.cmd = /x"}, ["network.hwaddr", "control characters"]),
])
def test_bad_networks(network, words):
    text = problems([{"name": "n", "flavor": "busybox", "network": network}])
    assert 'container "n"' in text
    for word in words:
        assert word in text, text


def test_one_address_given_twice():
    text = problems([{"name": "a", "flavor": "busybox", "network": "10.0.3.7"},
                     {"name": "b", "flavor": "busybox", "network": "10.0.3.7/24"}])
    assert text.count("given to more than one container") == 2


@pytest.mark.parametrize("memory, words", [
    ("12X", ["memory_limit", "'12X'", "256M"]),
    ("0", ["must be more than 0"]),
    ("-1M", ["'-1M'", "not a size"]),
    ("256M\n", ["memory_limit", "control characters"]),
    ("256\nM", ["memory_limit", "control characters"]),
    ("9" * 40, ["at most 32 characters"]),
    ("99999999999T", ["at most 9223372036854775807 bytes"]),
    (2 ** 70, ["an integer of 71 bits"]),
    (["256M"], ["invalid memory_limit", "a string"]),
    (1.5, ["quote it"]),
    (True, ["invalid memory_limit"]),
])
def test_bad_memory_limits(memory, words):
    text = problems([{"name": "m", "flavor": "busybox", "memory_limit": memory}])
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("shares, words", [
    (1, ["cpu_shares 1 is outside 2-262144"]),
    (262145, ["outside 2-262144"]),
    (-5, ["outside 2-262144"]),
    ("abc", ["invalid cpu_shares", '"abc"', "2 to 262144"]),
    ("²", ["invalid cpu_shares"]),
    ("12\n", ["invalid cpu_shares"]),
    (True, ["invalid cpu_shares"]),
    (1.5, ["invalid cpu_shares"]),
    (2 ** 100, ["an integer of 101 bits"]),
    pytest.param(10 ** 5000, ["an integer of"], id="10**5000"),
])
def test_bad_cpu_shares(shares, words):
    text = problems([{"name": "s", "flavor": "busybox", "cpu_shares": shares}])
    for word in words:
        assert word in text, text
    assert len(text) < 1000


@pytest.mark.parametrize("autostart", ["yes", 1, "true", [True]])
def test_autostart_is_a_boolean(autostart):
    assert "invalid autostart" in problems([{"name": "a", "flavor": "busybox", "autostart": autostart}])


@pytest.mark.parametrize("packages, words", [
    ("vim", ["invalid packages", '"vim"', "a list of strings"]),
    ({"vim": 1}, ["invalid packages"]),
    (["--allow-unauthenticated"], ["packages[0]", "package name"]),
    (["vim curl"], ["'vim curl'"]),
    (["x;reboot"], ["'x;reboot'"]),
    (["$(reboot)"], ["package name"]),
    (["*"], ["package name"]),
    (["../x"], ["package name"]),
    (["pkg/bookworm"], ["package name"]),
    (["vim", "x\n"], ["packages[1]", "package name"]),
    (["x" * 129], ["packages[0]"]),
    ([1], ["packages[0]", "a string"]),
    ([None], ["packages[0]"]),
])
def test_bad_packages(packages, words):
    text = problems([{"name": "p", "flavor": "debian", "packages": packages}])
    for word in words:
        assert word in text, text


def test_no_packages_without_a_package_manager():
    text = problems([{"name": "p", "flavor": "busybox", "packages": ["vim"]}])
    assert "flavor busybox has no package manager" in text and '["vim"]' in text


@pytest.mark.parametrize("commands, words", [
    ("echo hi", ["invalid commands", '"echo hi"', "a list of strings"]),
    (["echo\r"], ["commands[0]", "no control characters but newline and tab"]),
    (["echo\x00x"], ["commands[0]"]),
    (["printf '\x1b[2J'"], ["commands[0]"]),
    (["a", "b\x0b"], ["commands[1]"]),
    ([{"shell": "x"}], ["commands[0]", "a string"]),
    (["x" * 40000, "y" * 40000], ["at most 65536 bytes in all"]),
])
def test_bad_commands(commands, words):
    text = problems([{"name": "c", "flavor": "debian", "commands": commands}])
    for word in words:
        assert word in text, text
    assert len(text) < 2000


@pytest.mark.parametrize("password", [["pw"], 1234, {"p": SECRET}, SECRET + "\x00"])
def test_bad_passwords_are_refused_without_showing_them(password):
    text = problems([{"name": "p", "flavor": "busybox", "root_password": password}])
    assert "invalid root_password (value not shown)" in text
    assert SECRET not in text and "1234" not in text and "pw" not in text.replace("password", "")


def test_unknown_keys():
    text = problems([{"name": "u", "flavor": "busybox", "memory": "1G", "root_pasword": SECRET}])
    assert '["memory", "root_pasword"]' in text and "known: name, flavor" in text
    assert SECRET not in text


@pytest.mark.parametrize("items, words", [
    ({"name": "web", "flavor": "debian", "root_password": SECRET}, ["must be a list", "(hidden)"]),
    ("web", ["must be a list", '"web"']),
    (None, ["must be a list"]),
    ([{"name": "web", "root_password": SECRET}], ["containers[0] needs at least name and flavor",
                                                  '["name", "root_password"]']),
    (["web"], ["containers[0] needs at least name and flavor", '"web"']),
    ([{"name": "ok", "flavor": "busybox"}, None], ["containers[1]"]),
])
def test_lists_that_are_not_lists_of_items(items, words):
    text = problems(items)
    for word in words:
        assert word in text, text
    assert SECRET not in text


def test_the_same_name_twice():
    text = problems([{"name": "twin", "flavor": "busybox"}, {"name": "twin", "flavor": "busybox"}])
    assert 'container "twin" (flavor busybox): the name is used twice in containers' in text


def test_every_problem_of_the_list_at_once():
    out = run([{"name": "a b", "flavor": "busybox", "cpu_shares": 1, "autostart": "no"},
               {"name": "ok", "flavor": "gentoo"}, {"name": "x", "flavor": "debian", "memory_limit": "1X"}])
    assert len(out["problems"]) == 3 and out["specs"] == []
    assert "invalid container name 'a b'" in out["problems"][0] and "cpu_shares 1" in out["problems"][0]
    assert "invalid autostart" in out["problems"][0]


def test_messages_cut_huge_values():
    text = problems([{"name": "x" * 100000, "flavor": "busybox", "network": "y" * 100000}])
    # each huge value is cut where it is shown (_validate.shown), or the whole message in its middle
    assert ("characters in all" in text or "characters cut" in text) and len(text) < 2000
    assert "starting with a letter or digit" in text  # what is allowed stays readable
    assert "an IPv4 address" in text


# --------------------------------------------------------------------------- secrets
SECRET_CASES = [
    [{"name": "s", "flavor": "busybox", "root_password": SECRET, "cpu_shares": 1}],
    [{"name": "s", "flavor": "gentoo", "root_password": SECRET}],
    [{"name": "s", "root_password": SECRET}],
    [{"name": "s\n", "flavor": "busybox", "root_password": SECRET}],
    [{"name": "s", "flavor": "busybox", "root_password": SECRET, "image": {"dist": "x", "release": "y"}}],
    [{"name": "s", "flavor": "busybox", "root_password": SECRET, "secret_key": SECRET}],
    [{"name": "s", "flavor": "busybox", "root_password": SECRET}, {"name": "s", "flavor": "busybox",
                                                                   "root_password": SECRET}],
    {"web": {"name": "s", "root_password": SECRET}},
    [{"name": "s", "flavor": "debian", "root_password": SECRET, "network": {"password": SECRET}}],
]


@pytest.mark.parametrize("items", SECRET_CASES)
def test_no_problem_ever_shows_a_password(items):
    out = run(items)
    assert out["problems"] and out["specs"] == []
    assert SECRET not in json.dumps(out) and SECRET[:8] not in json.dumps(out)


def test_a_good_spec_holds_only_the_hash():
    out = run([{"name": "s", "flavor": "debian", "root_password": SECRET}])
    assert SECRET not in json.dumps(out)
    assert out["specs"][0]["root_password_hash"].startswith("$6$")


def test_hashing_needs_a_hasher():
    with pytest.raises(TypeError):
        c.resolve([{"name": "s", "flavor": "busybox", "root_password": SECRET}], PLAN, FLAVORS)


# --------------------------------------------------------------------------- kernel
def test_a_flavor_the_kernel_is_not_ready_for():
    text = problems([{"name": "deb", "flavor": "debian"}], readiness=NOT_DEBIAN)
    assert 'container "deb" (flavor debian)' in text and "lxc_debian" in text and "MATH_EMULATION" in text
    assert "omnia's kernel" in text
    assert run([{"name": "tiny", "flavor": "busybox"}], readiness=NOT_DEBIAN)["problems"] == []


def test_without_a_readiness_report_the_kernel_is_not_judged():
    assert run([{"name": "deb", "flavor": "debian"}], readiness=None)["problems"] == []


# --------------------------------------------------------------------------- images
@pytest.mark.parametrize("index, arch, want", [
    (TURRIS, "armv7l", ("Debian", "Bookworm", "armv7l")),
    (TURRIS, "aarch64", ("Debian", "Bookworm", "aarch64")),
    (LXC_ORG, "armv7l", ("debian", "bookworm", "armhf")),
    (LXC_ORG, "aarch64", ("debian", "bookworm", "arm64")),
])
def test_images_in_the_servers_spelling(index, arch, want):
    image = one({"name": "d", "flavor": "debian"}, index=index, arch=arch)["image"]
    assert (image["dist"], image["release"], image["arch"]) == want


def test_an_image_the_server_lacks_names_what_it_offers():
    text = problems([{"name": "old", "flavor": "debian", "image": {"dist": "Debian", "release": "Woody"}}])
    assert ('container "old" (flavor debian): image Debian/Woody/default for armv7l is not on the image server '
            'repo.turris.cz/lxc: the server offers Debian as release/arch/variant: Bookworm/aarch64/default, '
            'Bookworm/armv7l/default') in text
    text = problems([{"name": "a", "flavor": "debian", "image": {"dist": "Alpine", "release": "3.19"}}], index=LXC_ORG)
    assert "the server has no Alpine; for armhf it offers: debian bookworm" in text
    text = problems([{"name": "t", "flavor": "turrisos"}], arch="aarch64")
    assert "Turris_OS/stable/default for aarch64" in text and "ppc" in text


def test_no_index_read_means_images_are_unchecked_not_missing():
    # container_check_images: false must not make containers fail (it once said "it offers nothing")
    out = run([{"name": "d", "flavor": "debian"}], index=None, check_images=False)
    assert out["problems"] == [] and out["index_wanted"] is False
    assert out["specs"][0]["image"] == {"dist": "Debian", "release": "Bookworm", "variant": "default",
                                        "arch": "armv7l", "server": "repo.turris.cz/lxc"}
    # on another server the arch is the one lxc_container would pick for it
    plan = dict(PLAN, image_server="images.linuxcontainers.org")
    assert run([{"name": "d", "flavor": "debian"}], plan=plan, index=None,
               check_images=False)["specs"][0]["image"]["arch"] == "armhf"


def test_an_empty_index_is_an_empty_server():
    assert "it offers: nothing" in problems([{"name": "d", "flavor": "debian"}], index="")


def test_the_index_is_wanted_only_for_new_containers_that_download():
    assert run([{"name": "b", "flavor": "busybox"}], index=None)["index_wanted"] is False
    assert run([{"name": "d", "flavor": "debian"}], index=None)["index_wanted"] is True
    assert run([{"name": "d", "flavor": "debian"}], index=None, existing=["d"])["index_wanted"] is False
    assert run([{"name": "d", "flavor": "debian"}, {"name": "e", "flavor": "debian"}], index=None,
               existing={"d": {}})["index_wanted"] is True
    assert run([{"name": "d", "flavor": "debian"}], index=None, existing=None)["index_wanted"] is True


def test_existing_containers_are_not_looked_up_and_keep_their_image():
    # the server no longer has the image: the container exists, nothing to download
    out = run([{"name": "d", "flavor": "debian", "image": {"dist": "debian", "release": "buster"}}],
              existing={"d": {"image": {"dist": "Debian", "release": "Buster", "arch": "armv7l"}}})
    assert out["problems"] == []
    assert out["specs"][0]["image"] == {"dist": "Debian", "release": "Buster", "variant": "default", "arch": "armv7l",
                                        "server": "repo.turris.cz/lxc"}
    out = run([{"name": "d", "flavor": "debian", "image": {"dist": "Debian", "release": "Buster"}}],
              existing={"d": {"state": "running"}})
    assert out["problems"] == [] and out["specs"][0]["image"]["release"] == "Buster"


def test_an_unreadable_index_is_a_problem_for_new_containers_only():
    out = run([{"name": "d", "flavor": "debian"}], index=None, index_error="Status code was -1: timed out")
    assert out["index_wanted"] is False
    assert out["problems"] == ["could not read the image list https://repo.turris.cz/lxc/meta/1.0/index-system "
                               "(Status code was -1: timed out): is the image server reachable from the router?"]
    assert run([{"name": "d", "flavor": "debian"}], index=None, index_error="x", existing=["d"])["problems"] == []
    assert run([{"name": "d", "flavor": "debian"}], index=None, index_error="x", check_images=False)["problems"] == []


@pytest.mark.parametrize("server", ["repo.turris.cz/lxc\nevil", "", None, "http://repo.turris.cz/lxc", "a b",
                                    "repo\x00.cz"])
def test_a_bad_image_server_is_refused_when_an_image_is_downloaded(server):
    plan = dict(PLAN, image_server=server)
    text = problems([{"name": "d", "flavor": "debian"}], plan=plan, index=None, check_images=False)
    assert "server" in text
    assert run([{"name": "b", "flavor": "busybox"}], plan=plan)["problems"] == []


@pytest.mark.parametrize("server", ["repo.turris.cz/lxc\nevil", "", None, "http://repo.turris.cz/lxc", "a b"])
def test_no_index_is_wanted_from_a_refused_server(server):
    # validate.yml reads the index only when it is wanted: never from a server the list is refused for
    out = run([{"name": "d", "flavor": "debian"}], plan=dict(PLAN, image_server=server), index=None)
    assert out["index_wanted"] is False
    assert out["problems"] and "server" in out["problems"][0]
    assert run([{"name": "d", "flavor": "debian"}], index=None)["index_wanted"] is True


def test_the_index_url_is_the_one_the_refusal_names():
    assert _lxc.index_url("repo.turris.cz/lxc") == "https://repo.turris.cz/lxc/meta/1.0/index-system"
    assert _lxc.index_url("10.0.0.1:8443") == "https://10.0.0.1:8443/meta/1.0/index-system"
    out = run([{"name": "d", "flavor": "debian"}], plan=dict(PLAN, image_server="10.0.0.1:8443"), index=None,
              index_error="HTTP status 404 Not Found")
    assert out["problems"] == ["could not read the image list https://10.0.0.1:8443/meta/1.0/index-system "
                               "(HTTP status 404 Not Found): is the image server reachable from the router?"]


def test_a_bad_plan_is_one_problem():
    assert "subnet" in problems([{"name": "b", "flavor": "busybox"}], plan={"bridge": "lxcbr0"})
    assert "lxc_host_plan.bridge" in problems([{"name": "b", "flavor": "busybox"}], plan=dict(PLAN, bridge="a\nb"))


# --------------------------------------------------------------------------- addresses
@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: "%d-containers-%s" % (
    len(case["items"]), case["plan"]["subnet"]))
def test_allocation_gives_what_the_jinja_allocator_gave(case):
    out = c.resolve(case["items"], case["plan"], FLAVORS, readiness=READY, lxc_arch="armv7l", check_images=False)
    assert out["problems"] == []
    assert {s["name"]: s["network"]["ipv4"] for s in out["specs"]} == case["addresses"]


def test_an_address_depends_on_the_name_only_while_its_slot_is_free():
    alone = one({"name": "web", "flavor": "busybox"}, index=None)["address"]
    assert alone == one({"name": "web", "flavor": "busybox"}, index=None)["address"]
    slot = c.hash_slot("web", 254) + 1
    assert alone == "10.0.3.%d" % slot
    out = run([{"name": "first", "flavor": "busybox", "network": alone}, {"name": "web", "flavor": "busybox"}])
    assert out["specs"][1]["address"] == "10.0.3.%d" % (slot % 254 + 1)


def test_existing_containers_keep_their_addresses_when_one_is_added_before_them():
    names = ["c%d" % i for i in range(20)]
    plan = dict(PLAN, subnet="10.0.3.0/27")  # 30 slots: collisions happen
    first = run([{"name": n, "flavor": "busybox"} for n in names], plan=plan)["specs"]
    have = {s["name"]: {"config": {"lxc.net.0.ipv4.address": [s["network"]["ipv4"]]}} for s in first}
    newcomers = [{"name": "n%d" % i, "flavor": "busybox"} for i in range(8)]
    again = run(newcomers + [{"name": n, "flavor": "busybox"} for n in names], plan=plan, existing=have)["specs"]
    got = {s["name"]: s["address"] for s in again}
    assert all(got[s["name"]] == s["address"] for s in first)
    assert len(set(got.values())) == len(got) == 28
    # without knowing what exists, the newcomers could take the slots of the old ones
    blind = run(newcomers + [{"name": n, "flavor": "busybox"} for n in names], plan=plan)["specs"]
    assert any(s["address"] != got[s["name"]] for s in blind if s["name"] in have)


def test_an_existing_address_outside_the_subnet_or_taken_is_not_kept():
    have = {"a": {"address": "192.168.9.9"}, "b": {"address": "10.0.3.7/24"}, "c": {"address": "10.0.3.255"}}
    specs = run([{"name": "a", "flavor": "busybox"}, {"name": "x", "flavor": "busybox", "network": "10.0.3.7"},
                 {"name": "b", "flavor": "busybox"}, {"name": "c", "flavor": "busybox"}], existing=have)["specs"]
    got = {s["name"]: s["address"] for s in specs}
    assert got["x"] == "10.0.3.7" and got["b"] != "10.0.3.7" and got["a"].startswith("10.0.3.")
    assert got["c"] != "10.0.3.255"


def test_a_full_subnet():
    plan = dict(PLAN, subnet="10.0.3.0/29")  # 6 hosts, one the bridge's
    items = [{"name": "c%d" % i, "flavor": "busybox"} for i in range(6)]
    text = problems(items, plan=plan)
    assert text.count("no free address left in 10.0.3.0/29") == 1
    assert run(items[:5], plan=plan)["problems"] == []
    assert "no free address left" in problems(items[:1], plan=dict(PLAN, subnet="10.0.3.0/31"))

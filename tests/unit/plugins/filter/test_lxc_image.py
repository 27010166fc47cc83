"""The lxc_image filter: one flavor spec finds its image on both kinds of server, in each
server's own spelling, and says what a server offers when it has no such image.

The two indexes are in the formats the servers publish: repo.turris.cz/lxc capitalizes names and
uses the kernel's arch names (Turris's own generator script in CZ-NIC/turris-misc writes
``Turris_OS;stable;ppc`` and ``Debian;<release>;armv7l``; turris-cz/user-docs documents
``-d Debian -r Bullseye -a armv7l``), images.linuxcontainers.org uses lowercase names and Debian's
arch names (``-d debian -r bookworm -a armhf``)."""
import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.turris.containers.plugins.filter.lxc_image import lxc_image
from ansible_collections.turris.containers.plugins.module_utils._lxc import arch_names, parse_image_list, resolve_image

TURRIS = """Turris_OS;stable;armv7l;default;20261201_00:00;/images/Turris_OS/stable/armv7l/default/20261201_00:00/
Turris_OS;stable;aarch64;default;20261201_00:00;/images/Turris_OS/stable/aarch64/default/20261201_00:00/
Turris_OS;stable;ppc;default;20261201_00:00;/images/Turris_OS/stable/ppc/default/20261201_00:00/
Debian;Bookworm;armv7l;default;20261201_00:00;/images/Debian/Bookworm/armv7l/default/20261201_00:00/
Debian;Bookworm;aarch64;default;20261201_00:00;/images/Debian/Bookworm/aarch64/default/20261201_00:00/
Ubuntu;Focal;armv7l;default;20261201_00:00;/images/Ubuntu/Focal/armv7l/default/20261201_00:00/
"""
LXC_ORG = """debian;bookworm;armhf;default;20261201_05:24;/images/debian/bookworm/armhf/default/20261201_05:24/
debian;bookworm;arm64;default;20261201_05:24;/images/debian/bookworm/arm64/default/20261201_05:24/
debian;bookworm;arm64;cloud;20261201_05:24;/images/debian/bookworm/arm64/cloud/20261201_05:24/
openwrt;23.05;armhf;default;20261201_11:57;/images/openwrt/23.05/armhf/default/20261201_11:57/
"""
DEBIAN = {"dist": "Debian", "release": "Bookworm"}
TURRIS_OS = {"dist": "Turris_OS", "release": "stable", "variant": "default"}


@pytest.mark.parametrize("machine, arch", [("armv7l", "armv7l"), ("aarch64", "aarch64")])
def test_turris_server_names_as_they_are(machine, arch):
    assert lxc_image(TURRIS, DEBIAN, machine) == {
        "image": {"dist": "Debian", "release": "Bookworm", "arch": arch, "variant": "default"}, "offer": ""}


@pytest.mark.parametrize("machine, arch", [("armv7l", "armhf"), ("aarch64", "arm64")])
def test_linuxcontainers_server_lowercase_and_debian_arches(machine, arch):
    assert lxc_image(LXC_ORG, DEBIAN, machine)["image"] == {
        "dist": "debian", "release": "bookworm", "arch": arch, "variant": "default"}


def test_turris_os_on_every_board_of_turris_server_including_the_turris_1x():
    for machine in ("armv7l", "aarch64", "ppc"):
        assert lxc_image(TURRIS, TURRIS_OS, machine)["image"]["arch"] == machine
    assert lxc_image(TURRIS, {"dist": "turris os", "release": "Stable"}, "ppc")["image"]["dist"] == "Turris_OS"


def test_no_debian_for_the_turris_1x_and_what_is_offered_instead():
    got = lxc_image(TURRIS, DEBIAN, "ppc")
    assert got["image"] is None
    assert "Debian" in got["offer"] and "Bookworm/armv7l/default" in got["offer"]


def test_no_turris_os_on_linuxcontainers():
    got = lxc_image(LXC_ORG, TURRIS_OS, "armv7l")
    assert got["image"] is None
    assert got["offer"] == "the server has no Turris_OS; for armhf it offers: debian bookworm, openwrt 23.05"


def test_variant_must_match():
    assert lxc_image(LXC_ORG, dict(DEBIAN, variant="cloud"), "aarch64")["image"]["variant"] == "cloud"
    assert lxc_image(LXC_ORG, dict(DEBIAN, variant="cloud"), "armv7l")["image"] is None


def test_exact_spelling_wins_over_a_loose_match():
    rows = parse_image_list("debian;bookworm;armv7l;default;1;/a/\nDebian;Bookworm;armv7l;default;2;/b/\n")
    assert resolve_image(rows, "Debian", "Bookworm", "default", "armv7l")["build"] == "2"
    assert resolve_image(rows, "DEBIAN", "BOOKWORM", "default", "armv7l")["build"] == "1"


def test_kernel_arch_name_preferred_over_debians():
    rows = parse_image_list("debian;bookworm;armhf;default;1;/a/\ndebian;bookworm;armv7l;default;2;/b/\n")
    assert resolve_image(rows, "Debian", "Bookworm", "default", "armv7l")["build"] == "2"
    assert arch_names("armv7l") == ["armv7l", "armhf"] and arch_names("ppc") == ["ppc", "powerpc"]
    assert arch_names("aarch64") == ["aarch64", "arm64"]


@pytest.mark.parametrize("index, image, machine, words", [
    (None, DEBIAN, "armv7l", "index-system"),
    (TURRIS, {"dist": "Debian"}, "armv7l", "dist, release"),
    (TURRIS, "Debian", "armv7l", "dist, release"),
    (TURRIS, DEBIAN, "", "uname -m"),
])
def test_bad_input_names_the_value(index, image, machine, words):
    with pytest.raises(AnsibleFilterError, match=words):
        lxc_image(index, image, machine)

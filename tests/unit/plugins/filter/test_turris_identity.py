import pytest

from ansible_collections.turris.containers.plugins.module_utils._turris import identity, opkg_arch
from ansible_collections.turris.containers.plugins.filter.turris_identity import turris_identity
from ansible.errors import AnsibleFilterError


def read(files):
    return "".join("==> %s\n%s\n" % (k, v) for k, v in files.items())


OMNIA = {
    "/tmp/sysinfo/board_name": "cznic,turris-omnia",
    "/tmp/sysinfo/model": "Turris Omnia",
    "/etc/turris-version": "7.2.3",
    "/etc/openwrt_release": "DISTRIB_ID='TurrisOS'\nDISTRIB_ARCH='arm_cortex-a9_vfpv3-d16'\nDISTRIB_TARGET='mvebu/cortexa9'",
    "/etc/opkg.conf": "dest root /\narch all 1\narch noarch 1\narch arm_cortex-a9_vfpv3-d16 10\n",
}


def test_omnia():
    got = identity(read(OMNIA))
    assert (got["board"], got["arch"], got["lxc_arch"], got["opkg_arch"], got["os_version"]) == (
        "omnia", "armv7", "armv7l", "arm_cortex-a9_vfpv3-d16", "7.2.3")


def test_mox_board_name_only():
    files = dict(OMNIA)
    files["/tmp/sysinfo/board_name"] = "cznic,turris-mox"
    files["/tmp/sysinfo/model"] = "CZ.NIC Turris Mox Board"
    files["/etc/opkg.conf"] = "arch all 1\narch aarch64_cortex-a53 10\n"
    got = identity(read(files))
    assert (got["board"], got["lxc_arch"], got["opkg_arch"]) == ("mox", "aarch64", "aarch64_cortex-a53")


def test_old_turris1x_without_sysinfo_recognised_by_target():
    files = {
        "/etc/turris-version": "3.11.23",
        "/etc/openwrt_release": "DISTRIB_TARGET='mpc85xx/p2020-nand'\nDISTRIB_ARCH='mpc85xx'",
        "/etc/opkg.conf": "arch all 100\narch mpc85xx 200\n",
    }
    got = identity(read(files))
    assert (got["board"], got["opkg_arch"], got["os_version"]) == ("turris1x", "mpc85xx", "3.11.23")


def test_unknown_board_is_none_and_keeps_what_was_found():
    files = {"/tmp/sysinfo/board_name": "glinet,gl-mt6000", "/tmp/sysinfo/model": "GL.iNet GL-MT6000",
             "/etc/openwrt_release": "DISTRIB_TARGET='mediatek/filogic'", "/etc/opkg.conf": "arch aarch64_cortex-a53 10"}
    got = identity(read(files))
    assert got["board"] is None
    assert got["board_name"] == "glinet,gl-mt6000"


@pytest.mark.parametrize("conf,expected", [
    ("arch all 1\narch noarch 1\narch x 10\narch y 5\n", "x"),
    ("# nothing\n", None),
    ("arch all 1\n", None),
])
def test_opkg_arch(conf, expected):
    assert opkg_arch(conf) == expected


def test_filter_rejects_non_text():
    with pytest.raises(AnsibleFilterError, match="expects the text output"):
        turris_identity({"stdout": ""})

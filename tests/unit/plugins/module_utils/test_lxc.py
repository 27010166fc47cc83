# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure helpers of lxc_container: config files, names, network, cgroup limits, the
download template's details and lxc-* output."""
import os

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _lxc as lxc
from ansible_collections.turris.containers.plugins.module_utils import _uci as uci

DOWNLOAD_TEMPLATE = "/usr/share/lxc/templates/lxc-download"

BUSYBOX_CONFIG = """\
# Template used to create this container: /usr/share/lxc/templates/lxc-busybox
lxc.net.0.type = veth
lxc.net.0.link = lxcbr0
lxc.net.0.flags = up
lxc.rootfs.path = dir:/srv/lxc/c1/rootfs
lxc.uts.name = "c1"
lxc.cap.drop = sys_module mac_admin
#lxc.apparmor.profile = unconfined
lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0
lxc.mount.entry = /lib lib none ro,bind 0 0
"""


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["c1", "debian-12", "a", "web.1_x", "A" * 63])
def test_good_names(name):
    assert lxc.check_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", ".hidden", "a/b", "a b", "x" * 64, "dé", "a;rm"])
def test_bad_names_say_what_is_allowed(name):
    with pytest.raises(lxc.LxcError) as e:
        lxc.check_name(name)
    assert repr(name) in str(e.value) and "A-Z a-z 0-9 _ . -" in str(e.value)


# --------------------------------------------------------------------------- config files
def test_parse_config_keeps_comments_and_reads_values():
    values = lxc.config_values(BUSYBOX_CONFIG)
    assert values["lxc.mount.entry"] == ["shm dev/shm tmpfs defaults,create=dir 0 0", "/lib lib none ro,bind 0 0"]
    assert "lxc.apparmor.profile" not in values  # commented out
    assert values["lxc.uts.name"] == ['"c1"']


def test_update_scalar_in_place_and_no_duplicates():
    text = BUSYBOX_CONFIG + "lxc.net.0.link = br-old\n"
    new = lxc.update_config(text, {"lxc.net.0.link": ["br-lan"]})
    lines = new.splitlines()
    assert [l for l in lines if l.startswith("lxc.net.0.link")] == ["lxc.net.0.link = br-lan"]
    # written where the first one was
    assert lines.index("lxc.net.0.link = br-lan") == BUSYBOX_CONFIG.splitlines().index("lxc.net.0.link = lxcbr0")
    # everything else untouched, comments included
    assert new.replace("lxc.net.0.link = br-lan\n", "lxc.net.0.link = lxcbr0\n", 1) == BUSYBOX_CONFIG


def test_update_is_idempotent_and_keeps_formatting_of_equal_values():
    text = "lxc.uts.name=c1\nlxc.mount.entry = a\nlxc.mount.entry = b\n"
    desired = {"lxc.uts.name": ["c1"], "lxc.mount.entry": ["a", "b"]}
    assert lxc.update_config(text, desired) == text


def test_update_list_and_new_keys_and_removal():
    desired = {"lxc.mount.entry": ["/srv srv none bind,create=dir 0 0"], "lxc.cap.drop": [],
               "lxc.start.auto": ["1"], "lxc.environment": ["A=1", "B=2"]}
    new = lxc.update_config(BUSYBOX_CONFIG, desired)
    values = lxc.config_values(new)
    assert values["lxc.mount.entry"] == ["/srv srv none bind,create=dir 0 0"]
    assert "lxc.cap.drop" not in values
    assert values["lxc.start.auto"] == ["1"] and values["lxc.environment"] == ["A=1", "B=2"]
    assert new.endswith("lxc.start.auto = 1\nlxc.environment = A=1\nlxc.environment = B=2\n")
    assert lxc.update_config(new, desired) == new


def test_empty_value_is_kept_as_an_empty_key():
    new = lxc.update_config("lxc.cap.drop = sys_module\n", {"lxc.cap.drop": [""]})
    assert new == "lxc.cap.drop =\n"
    assert lxc.config_values(new)["lxc.cap.drop"] == [""]
    assert lxc.update_config(new, {"lxc.cap.drop": [""]}) == new


def test_replace_drops_unnamed_keys_but_keeps_structure():
    new = lxc.update_config(BUSYBOX_CONFIG, {"lxc.net.0.link": ["br-lan"]}, replace=True)
    assert sorted(lxc.config_values(new)) == ["lxc.net.0.link", "lxc.rootfs.path", "lxc.uts.name"]
    assert "#lxc.apparmor.profile = unconfined" in new  # comments stay
    assert lxc.update_config(new, {"lxc.net.0.link": ["br-lan"]}, replace=True) == new


def test_normalize_config_values_and_bad_keys():
    assert lxc.normalize_config({"lxc.start.auto": True, "lxc.start.delay": 5, "lxc.mount.entry": ["a", "b"],
                                 "lxc.cap.drop": []}) == {
        "lxc.start.auto": ["1"], "lxc.start.delay": ["5"], "lxc.mount.entry": ["a", "b"], "lxc.cap.drop": []}
    for bad in ("net.0.link", "lxc.net 0", "lxc.a=b"):
        with pytest.raises(lxc.LxcError) as e:
            lxc.normalize_config({bad: "x"})
        assert repr(bad) in str(e.value)
    with pytest.raises(lxc.LxcError):
        lxc.normalize_config({"lxc.environment": "A=1\nlxc.cap.drop = all"})
    with pytest.raises(lxc.LxcError):
        lxc.normalize_config({"lxc.environment": {"A": 1}})


def test_rootfs_path():
    assert lxc.rootfs_path(BUSYBOX_CONFIG) == "/srv/lxc/c1/rootfs"
    assert lxc.rootfs_path("lxc.rootfs.path = /x/y\n") == "/x/y"
    assert lxc.rootfs_path("") is None


# --------------------------------------------------------------------------- network
def test_network_keys_defaults_and_removal_of_unset_keys():
    keys = lxc.network_keys({"link": "br-lan", "ipv4": "192.168.1.10/24", "ipv4_gateway": "192.168.1.1"})
    assert keys == {
        "lxc.net.0.type": ["veth"], "lxc.net.0.link": ["br-lan"], "lxc.net.0.flags": ["up"],
        "lxc.net.0.name": ["eth0"], "lxc.net.0.hwaddr": [], "lxc.net.0.mtu": [],
        "lxc.net.0.ipv4.address": ["192.168.1.10/24"], "lxc.net.0.ipv4.gateway": ["192.168.1.1"]}
    assert lxc.network_keys({"type": "empty"})["lxc.net.0.flags"] == []
    assert lxc.network_keys({"link": "br-lan", "ipv4": "10.0.0.2/24", "ipv4_gateway": "auto",
                             "hwaddr": "00:16:3E:xx:xx:xx"})["lxc.net.0.hwaddr"] == ["00:16:3e:xx:xx:xx"]


@pytest.mark.parametrize("spec, words", [
    ({"ipv4": "192.168.1.10"}, ["'192.168.1.10'", "prefix"]),
    ({"ipv4": "192.168.1.300/24"}, ["'192.168.1.300/24'", "IPv4"]),
    ({"ipv4": "192.168.1.0/24"}, ["network or broadcast"]),
    ({"ipv4": "192.168.1.255/24"}, ["network or broadcast"]),
    ({"ipv4": "192.168.1.10/24", "ipv4_gateway": "10.0.0.1"}, ["10.0.0.1", "192.168.1.0/24"]),
    ({"ipv4": "192.168.1.10/24", "ipv4_gateway": "192.168.1.10"}, ["another host"]),
    ({"ipv4_gateway": "192.168.1.1"}, ["needs network.ipv4"]),
    ({"ipv4": "192.168.1.10/24", "ipv4_gateway": "gw"}, ["'gw'"]),
    ({"hwaddr": "00:16:3e:12:34"}, ["'00:16:3e:12:34'", "MAC"]),
    ({"hwaddr": "01:16:3e:12:34:56"}, ["multicast"]),
    ({"type": "macvlan"}, ["needs network.link"]),
    ({"type": "empty", "ipv4": "10.0.0.2/24"}, ["takes no ipv4"]),
    ({"mtu": 20}, ["mtu"]),
])
def test_network_errors_name_the_value(spec, words):
    with pytest.raises(lxc.LxcError) as e:
        lxc.network_keys(spec)
    for word in words:
        assert word in str(e.value)


# --------------------------------------------------------------------------- cgroups
V1_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
V2_MOUNTS = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"


def test_cgroup_version():
    assert lxc.cgroup_version(V1_MOUNTS) == 1
    assert lxc.cgroup_version(V2_MOUNTS) == 2
    assert lxc.cgroup_version("proc /proc proc rw 0 0\n") is None
    with open("/proc/self/mounts") as f:
        here = f.read()
    assert lxc.cgroup_version(here) in (1, 2)


def test_limit_keys_v1_and_v2():
    limits = {"memory_limit": "256M", "memory_swap_limit": "1G", "cpu_shares": 512, "cpus": "0-1", "pids_limit": 100}
    v1 = lxc.limit_keys(limits, 1)
    assert v1["lxc.cgroup.memory.limit_in_bytes"] == [str(256 * 1024 ** 2)]
    assert v1["lxc.cgroup.memory.memsw.limit_in_bytes"] == [str(1024 ** 3)]
    assert v1["lxc.cgroup.cpu.shares"] == ["512"] and v1["lxc.cgroup.cpuset.cpus"] == ["0-1"]
    assert v1["lxc.cgroup2.memory.max"] == [] and v1["lxc.cgroup2.cpu.weight"] == []
    v2 = lxc.limit_keys(limits, 2)
    assert v2["lxc.cgroup2.memory.max"] == [str(256 * 1024 ** 2)]
    assert v2["lxc.cgroup2.memory.swap.max"] == [str(1024 ** 3 - 256 * 1024 ** 2)]
    assert v2["lxc.cgroup2.cpu.weight"] == [str(lxc.shares_to_weight(512))]
    assert v2["lxc.cgroup.memory.limit_in_bytes"] == [] and v2["lxc.cgroup2.pids.max"] == ["100"]


def test_shares_to_weight_matches_the_defaults_and_ends():
    assert lxc.shares_to_weight(2) == 1
    assert lxc.shares_to_weight(262144) == 10000
    assert lxc.shares_to_weight(1024) == 39  # systemd's mapping of the v1 default


@pytest.mark.parametrize("limits, words", [
    ({"memory_limit": "lots"}, ["'lots'", "K, M, G"]),
    ({"memory_limit": "0"}, ["more than 0"]),
    ({"memory_swap_limit": "1G"}, ["needs memory_limit"]),
    ({"memory_limit": "1G", "memory_swap_limit": "512M"}, ["less than memory_limit"]),
    ({"cpu_shares": 1}, ["2-262144"]),
    ({"cpus": "0-a"}, ["'0-a'"]),
    ({"pids_limit": 0}, ["at least 1"]),
])
def test_limit_errors(limits, words):
    with pytest.raises(lxc.LxcError) as e:
        lxc.limit_keys(limits, 1)
    for word in words:
        assert word in str(e.value)


def test_limits_without_cgroups_fail():
    with pytest.raises(lxc.LxcError) as e:
        lxc.limit_keys({"cpu_shares": 100}, None)
    assert "cpu_shares" in str(e.value)
    assert lxc.limit_keys({}, None) == {}


def test_parse_memory_units():
    assert lxc.parse_memory("1048576", "m") == 1048576
    assert lxc.parse_memory("64k", "m") == 65536
    assert lxc.parse_memory("2GiB", "m") == 2 * 1024 ** 3


# --------------------------------------------------------------------------- download template
def test_image_arch_per_server():
    assert lxc.image_arch("armv7l", "repo.turris.cz/lxc") == "armv7l"
    assert lxc.image_arch("armv7l", "images.linuxcontainers.org") == "armhf"
    assert lxc.image_arch("aarch64", "mirror.example") == "arm64"
    assert lxc.image_arch("x86_64") == "amd64"
    assert lxc.image_arch("ppc", "repo.turris.cz/lxc") == "ppc"
    assert lxc.image_arch("weird") == "weird"


def test_server_argument():
    assert lxc.server_argument("https://repo.turris.cz/lxc/", True) == "repo.turris.cz/lxc"
    assert lxc.server_argument("127.0.0.1:8443", True) == "127.0.0.1:8443"
    assert lxc.server_argument("http://x/y", False) == "http://x/y"
    with pytest.raises(lxc.LxcError) as e:
        lxc.server_argument("http://mirror.local", True)
    assert "'http://mirror.local'" in str(e.value) and "HTTPS" in str(e.value)
    with pytest.raises(lxc.LxcError):
        lxc.server_argument("a b", True)


@pytest.mark.skipif(not os.path.isfile(DOWNLOAD_TEMPLATE),
                    reason="needs LXC's download template at %s (apt-get install lxc)" % DOWNLOAD_TEMPLATE)
def test_template_details_of_the_installed_download_template():
    with open(DOWNLOAD_TEMPLATE) as f:
        text = f.read()
    features = lxc.template_features(text)
    server = lxc.template_default_server(text)
    assert server and "/" not in server.split(".", 1)[0]
    # the template really prefixes https:// to what it is given
    assert features["https_only"] == ('"https://${DOWNLOAD_SERVER}/' in text)
    assert features["no_validate"] == ("no-validate" in text)


def test_template_default_server_of_a_patched_template():
    assert lxc.template_default_server('X=1\nDOWNLOAD_SERVER="repo.turris.cz/lxc"\n') == "repo.turris.cz/lxc"
    assert lxc.template_default_server("nothing here\n") is None
    assert lxc.template_features('DOWNLOAD_VALIDATE="true"\n--no-validate) x\n') == {
        "https_only": False, "no_validate": True}


LIST_OUTPUT = """
---
DIST\tRELEASE\tARCH\tVARIANT\tBUILD
---
busybox\t1.35\tamd64\tdefault\t20261128_12:31
debian\tbookworm\tamd64\tdefault\t20261128_12:31
debian\tbookworm\tarmhf\tdefault\t20261128_12:31
---
"""


def test_parse_image_list_and_describe_offer():
    rows = lxc.parse_image_list(LIST_OUTPUT)
    assert [(r["dist"], r["arch"]) for r in rows] == [("busybox", "amd64"), ("debian", "amd64"), ("debian", "armhf")]
    index = "debian;bookworm;amd64;default;20261128_12:31;/images/debian/bookworm/amd64/default/x/\n"
    assert lxc.parse_image_list(index)[0]["release"] == "bookworm"
    assert "bookworm/amd64/default, bookworm/armhf/default" in lxc.describe_offer(rows, "debian", "ppc")
    assert "for amd64 it offers: busybox 1.35, debian bookworm" in lxc.describe_offer(rows, "alpine", "amd64")
    assert "no alpine; it offers" in lxc.describe_offer(rows, "alpine", "ppc")


# --------------------------------------------------------------------------- lxc-info
def test_parse_info():
    text = "State:          RUNNING\nPID:            7347\nIP:             10.213.0.60\nIP:   fd00::2\n"
    assert lxc.parse_info(text) == {"state": "running", "pid": 7347, "ips": ["10.213.0.60", "fd00::2"]}
    assert lxc.parse_info("State:          STOPPED\n") == {"state": "stopped", "pid": None, "ips": []}


def test_tail():
    assert lxc.tail("a\n\nb\nc\n", 2) == "b\nc"


LOG = """\
lxc-start c1 20261128125304.200 INFO     start - ../src/lxc/start.c:lxc_spawn:1762 - Cloned CLONE_NEWNS
lxc-start c1 20261128125304.210 ERROR    network - ../src/lxc/network.c:711 - Failed to attach "veth0" to bridge "nobr0"
lxc-start c1 20261128125304.401 ERROR    lxc_start - ../src/lxc/tools/lxc_start.c:main:306 - The container failed to start
lxc-start c1 20261128125304.406 WARN     start - ../src/lxc/start.c:lxc_abort:1036 - Failed to send SIGKILL
"""


def test_log_errors_puts_the_first_error_first():
    text = lxc.log_errors(LOG)
    assert text.splitlines()[0].startswith('ERROR    network') and 'bridge "nobr0"' in text
    assert "INFO" not in text and "lxc-start c1" not in text
    assert lxc.log_errors(LOG.replace("ERROR", "INFO "), lines=1).startswith("WARN")
    assert lxc.log_errors("", "stderr says why\n") == "stderr says why"


# --------------------------------------------------------------------------- observation
LS_TEXT = (
    "NAME   STATE   PID  IPV4                    \n"
    "db     STOPPED -    -                       \n"
    "tiny   RUNNING 4242 10.0.3.5, 192.168.1.50  \n"
    "web.1  FROZEN  77   10.0.3.6                \n"
)

LXC_AUTO = """\
config container
\toption name 'tiny'
\toption timeout '60'
\tlist command 'echo a'

config container
\toption name 'db'
"""


def fake_router(files, dirs):
    """read_file / list_dir over dicts, recording what was asked."""
    asked = []

    def read_file(path):
        asked.append(('read', path))
        return files.get(path)

    def list_dir(path):
        asked.append(('list', path))
        return dirs.get(path)
    return read_file, list_dir, asked


def test_parse_ls_cuts_columns_at_the_header():
    got = lxc.parse_ls(LS_TEXT)
    assert got == {
        'db': {'state': 'stopped', 'pid': None, 'ips': []},
        'tiny': {'state': 'running', 'pid': 4242, 'ips': ['10.0.3.5', '192.168.1.50']},
        'web.1': {'state': 'frozen', 'pid': 77, 'ips': ['10.0.3.6']},
    }


def test_parse_ls_real_output_of_lxc_ls():
    # what LXC 5.0.2's lxc-ls printed here for two stopped containers (trailing blanks included)
    text = "NAME STATE   PID IPV4 \nb    STOPPED -   -    \nweb1 STOPPED -   -    \n"
    assert lxc.parse_ls(text) == {'b': {'state': 'stopped', 'pid': None, 'ips': []},
                                  'web1': {'state': 'stopped', 'pid': None, 'ips': []}}
    assert lxc.parse_ls('') == {} and lxc.parse_ls(None) == {}


def test_ls_args_ask_for_the_columns_parse_ls_reads():
    assert list(lxc.LS_ARGS) == ['-f', '-F', 'NAME,STATE,PID,IPV4']


def test_shadow_digest_never_returns_the_hash():
    import hashlib
    text = "daemon:*:1:0:99999:7:::\nroot:$6$salt$abc:19000:0:99999:7:::\n"
    assert lxc.shadow_digest(text) == hashlib.sha256(b'$6$salt$abc').hexdigest()
    assert '$6$' not in lxc.shadow_digest(text)
    assert lxc.shadow_digest("daemon:*:1::::::\n") == ''
    assert lxc.shadow_digest(None) is None


def test_autostart_entries():
    assert lxc.autostart_entries(LXC_AUTO) == {
        'tiny': {'timeout': '60', 'command': ['echo a'], 'lxcpath': None},
        'db': {'timeout': None, 'command': [], 'lxcpath': None},
    }
    assert lxc.autostart_entries(None) == {} and lxc.autostart_entries('') == {}
    with pytest.raises(lxc.LxcError, match='does not parse'):
        lxc.autostart_entries("config container\n\toption name 'x\n")


def test_observe_containers_running_stopped_frozen_and_unlisted():
    files = {
        '/srv/lxc/db/config': 'lxc.uts.name = db\nlxc.rootfs.path = dir:/mnt/db\n',
        '/srv/lxc/tiny/config': BUSYBOX_CONFIG,
        '/srv/lxc/web.1/config': 'lxc.net.0.type = veth\n',
        '/srv/lxc/half/config': 'lxc.uts.name = half\n',
        '/proc/4242/root/etc/shadow': 'root:$6$x$y:1::::::\n',
        '/proc/77/root/etc/shadow': 'daemon:*:1::::::\n',
    }
    dirs = {
        '/srv/lxc': ['db', 'tiny', 'web.1', 'half', 'no-config', '.tmp'],
        '/proc/4242/root/etc/turris-containers': ['packages-1', 'commands-2'],
        '/proc/4242/root/var/lib/turris-containers': ['commands-2', 'legacy-3'],
        '/proc/4242/root/var/run/asterisk': ['asterisk.ctl'],
    }
    read_file, list_dir, asked = fake_router(files, dirs)
    got = lxc.observe_containers('/srv/lxc/', LS_TEXT, read_file, list_dir, LXC_AUTO)
    assert sorted(got) == ['db', 'half', 'tiny', 'web.1']
    tiny = got['tiny']
    assert tiny['state'] == 'running' and tiny['pid'] == 4242 and tiny['ips'] == ['10.0.3.5', '192.168.1.50']
    assert tiny['config_path'] == '/srv/lxc/tiny/config'
    assert tiny['config']['lxc.mount.entry'] == ['shm dev/shm tmpfs defaults,create=dir 0 0',
                                                 '/lib lib none ro,bind 0 0']
    assert tiny['rootfs'] == '/srv/lxc/c1/rootfs'
    assert tiny['autostart'] is True
    assert tiny['autostart_entry'] == {'timeout': '60', 'command': ['echo a'], 'lxcpath': None}
    assert tiny['markers'] == ['commands-2', 'legacy-3', 'packages-1']
    assert tiny['probes'] == {'/var/run/asterisk/asterisk.ctl': True}
    assert len(tiny['shadow_root']) == 64
    db = got['db']
    assert db['state'] == 'stopped' and db['rootfs'] == '/mnt/db' and db['autostart'] is True
    # nothing inside a container that does not run is read (it will be started anyway)
    assert db['markers'] is None and db['probes'] is None and db['shadow_root'] is None
    assert not [a for a in asked if '/proc/' in a[1] and '4242' not in a[1] and '77' not in a[1]]
    web = got['web.1']
    assert web['state'] == 'frozen' and web['markers'] == [] and web['probes'] == {
        '/var/run/asterisk/asterisk.ctl': False}
    assert web['shadow_root'] == '' and web['autostart'] is False and web['autostart_entry'] is None
    assert web['rootfs'] == '/srv/lxc/web.1/rootfs'
    # a config lxc-ls did not list (it was not asked, or raced): known, state unknown
    assert got['half']['state'] is None and got['half']['config'] == {'lxc.uts.name': ['half']}


def test_observe_containers_without_lxc_ls_or_containers():
    read_file, list_dir, dummy = fake_router({'/srv/lxc/a/config': ''}, {'/srv/lxc': ['a']})
    got = lxc.observe_containers('/srv/lxc', None, read_file, list_dir)
    assert got['a']['state'] is None and got['a']['config'] == {} and got['a']['autostart'] is False
    read_file, list_dir, dummy = fake_router({}, {})
    assert lxc.observe_containers('/srv/lxc', '', read_file, list_dir) == {}


# --------------------------------------------------------------------------- hostile input, per field
CONTROL_VALUES = ["x\n", "x\nlxc.hook.pre-start = /tmp/evil", "a\rb", "a\tb", "a\x00b", "a\x1bb", "a\x7fb", "a\x85b"]


def assert_refused(call, field, value):
    with pytest.raises(lxc.LxcError) as e:
        call()
    msg = str(e.value)
    assert field in msg, msg
    assert repr(value) in msg or repr(value)[1:-1] in msg, msg
    return msg


@pytest.mark.parametrize("value", CONTROL_VALUES + ["c1\n", "-x", "", "a" * 64, "a/b", "..", "a b"])
def test_hostile_container_names(value):
    msg = assert_refused(lambda: lxc.check_name(value), "container name", value)
    assert "A-Z a-z 0-9" in msg


@pytest.mark.parametrize("field", ["link", "name"])
@pytest.mark.parametrize("value", CONTROL_VALUES + ["br-lan\n", "br/lan", "br lan", "a" * 16, "../x", "br:0", ""])
def test_hostile_interface_names(field, value):
    msg = assert_refused(lambda: lxc.network_keys({field: value, "link": "br-lan"} if field == "name"
                                                  else {field: value}), "network." + field, value)
    assert "allowed" in msg or "characters" in msg


@pytest.mark.parametrize("value", CONTROL_VALUES + ["up\n", "up\nlxc.hook.pre-start = /x", "down", "up up"])
def test_hostile_network_flags(value):
    assert_refused(lambda: lxc.network_keys({"link": "br-lan", "flags": value}), "network.flags", value)


@pytest.mark.parametrize("value", CONTROL_VALUES + ["00:16:3e:12:34:56\n", "00:16:3e:12:34:56\nlxc.x = y", "00-16-3e-12-34-56"])
def test_hostile_hwaddr(value):
    assert_refused(lambda: lxc.network_keys({"link": "br-lan", "hwaddr": value}), "network.hwaddr", value)


@pytest.mark.parametrize("value", ["10.0.0.2/24\n", "10.0.0.2/24\nlxc.x = y", "10.0.0.2/24\r"])
def test_hostile_ipv4(value):
    assert_refused(lambda: lxc.network_keys({"link": "br-lan", "ipv4": value}), "network.ipv4", value)


def test_good_interface_names_pass():
    keys = lxc.network_keys({"link": "br-lan.10", "name": "eth0@x"})
    assert keys["lxc.net.0.link"] == ["br-lan.10"] and keys["lxc.net.0.name"] == ["eth0@x"]


@pytest.mark.parametrize("key", ["lxc.net.0.link\n", "lxc.a\nlxc.b", "lxc.a\r", "lxc.a b", "lxc.a=b", "", "LXC.a"])
def test_hostile_config_keys(key):
    assert_refused(lambda: lxc.normalize_config({key: "x"}), "LXC config key", key)


@pytest.mark.parametrize("value", CONTROL_VALUES + ["ok\n", ["ok", "a\rb"]])
def test_hostile_config_values(value):
    bad = value[1] if isinstance(value, list) else value
    msg = assert_refused(lambda: lxc.normalize_config({"lxc.environment": value}), "lxc.environment", bad)
    assert "control characters" in msg


def test_a_carriage_return_cannot_grow_the_config():
    # before: 'a\rb' was written, read back as two lines, and written again on every run
    with pytest.raises(lxc.LxcError):
        lxc.normalize_config({"lxc.environment": "A=1\rB=2"})
    once = lxc.update_config("", lxc.normalize_config({"lxc.environment": "  A=1  "}))
    assert once == "lxc.environment = A=1\n"
    assert lxc.update_config(once, lxc.normalize_config({"lxc.environment": "A=1"})) == once


@pytest.mark.parametrize("field", ["dist", "release", "arch", "variant"])
@pytest.mark.parametrize("value", CONTROL_VALUES + ["../../../../etc", "/", "a/b", "..", ".hidden", "Debian\n", "",
                                                    "a b", "a" * 65, "*"])
def test_hostile_image_fields(field, value):
    image = {"dist": "Debian", "release": "Bookworm", "arch": "armv7l", "variant": "default"}
    image[field] = value
    msg = assert_refused(lambda: lxc.check_image(image), "image." + field, value)
    assert "never a path" in msg or "control" in msg
    # and nothing reaches lxc-create's arguments
    with pytest.raises(lxc.LxcError):
        lxc.download_plan(image, "/t", 'DOWNLOAD_SERVER="images.example"\n', "armv7l")


def test_good_image_fields_pass():
    image = {"dist": "Turris_OS", "release": "7.2", "arch": "armv7l", "variant": "default", "server": None}
    assert lxc.check_image(image) is image
    assert lxc.check_image({"dist": "debian", "release": "bookworm", "arch": None, "variant": None}) is not None


@pytest.mark.parametrize("value", ["images.example\n", "images.example\r", "a\x00b", "https://x y"])
def test_hostile_image_server(value):
    with pytest.raises(lxc.LxcError) as e:
        lxc.check_image({"dist": "Debian", "release": "Bookworm", "server": value}) if "\x00" in value or "\n" in value \
            or "\r" in value else lxc.server_argument(value, True)
    assert "image.server" in str(e.value)


@pytest.mark.parametrize("value", ["256M\n", "256M\nlxc.x = y", "256\rM", "1\x00"])
def test_hostile_memory(value):
    assert_refused(lambda: lxc.limit_keys({"memory_limit": value}, 2), "memory_limit", value)


@pytest.mark.parametrize("value", ["0-1\n", "0\r", "0,\x001"])
def test_hostile_cpus(value):
    assert_refused(lambda: lxc.limit_keys({"cpus": value}, 1), "cpus", value)


@pytest.mark.parametrize("value", ["echo\nx", "a\rb", "a\x00"])
def test_hostile_autostart_commands(value):
    assert_refused(lambda: lxc.autostart_plan(None, "c1", True, None, [value]), "autostart_commands", value)


# --------------------------------------------------------------------------- decisions
@pytest.mark.parametrize("want, current, changed, steps", [
    ("started", "stopped", False, ["start"]),
    ("started", "running", False, []),
    ("started", "running", True, ["restart"]),
    ("started", "frozen", False, ["unfreeze"]),
    ("started", "frozen", True, ["unfreeze", "restart"]),
    ("restarted", "running", False, ["restart"]),
    ("restarted", "stopped", False, ["start"]),
    ("restarted", "frozen", False, ["restart"]),
    ("stopped", "running", False, ["stop"]),
    ("stopped", "frozen", True, ["stop"]),
    ("stopped", "stopped", True, []),
    ("frozen", "stopped", False, ["start", "freeze"]),
    ("frozen", "running", False, ["freeze"]),
    ("frozen", "frozen", False, []),
    ("frozen", "running", True, ["restart", "freeze"]),
    ("frozen", "frozen", True, ["unfreeze", "restart", "freeze"]),
    ("present", "running", True, []),
    ("present", "stopped", False, []),
])
def test_transition(want, current, changed, steps):
    assert lxc.transition(want, current, changed) == steps


def test_transition_from_every_state_reaches_the_wanted_one():
    # simulate the steps: every requested state is where the steps end
    effect = {"start": "running", "stop": "stopped", "restart": "running", "freeze": "frozen", "unfreeze": "running"}
    for want, target in lxc.FINAL_STATE.items():
        for current in ("running", "stopped", "frozen"):
            for changed in (False, True):
                state = current
                for step in lxc.transition(want, current, changed):
                    state = effect[step]
                assert state == (target or current), (want, current, changed)


def test_expected_info():
    running = {"state": "running", "pid": 5, "ips": ["10.0.0.2"]}
    assert lxc.expected_info("started", True, running) == running
    assert lxc.expected_info("stopped", True, running) == {"state": "stopped", "pid": None, "ips": []}
    assert lxc.expected_info("present", False, {"state": "absent"})["state"] == "stopped"
    assert lxc.expected_info("frozen", False, {"state": "absent"})["state"] == "frozen"


def test_lxcpath_option():
    assert lxc.lxcpath_option("/srv/lxc", "/srv/lxc/") is None
    assert lxc.lxcpath_option("/mnt/lxc", "/srv/lxc") == "/mnt/lxc"
    assert lxc.lxcpath_option("/srv/lxc", None) == "/srv/lxc"


def test_autostart_plan_add_update_remove_and_idempotence():
    changed, text, before, after = lxc.autostart_plan(None, "c1", True, 60, ["echo hi"])
    assert changed and before == "" and after == text
    assert uci.parse(text, "lxc-auto").find_sections("container", {"name": "c1"})[0].options == {
        "name": "c1", "timeout": "60", "command": ["echo hi"]}
    assert lxc.autostart_plan(text, "c1", True, 60, ["echo hi"])[0] is False
    # autostart not given: an existing entry's options are kept up to date, none is added
    assert lxc.autostart_plan(text, "c1", None, 30)[0] is True
    assert lxc.autostart_plan(None, "c1", None, 30) == (False, None, "", "")
    assert lxc.autostart_plan(text, "c2", None, 30) == (False, None, "", "")
    # a second container and lxcpath
    changed, text2, dummy, dummy2 = lxc.autostart_plan(text, "c2", True, lxcpath="/mnt/lxc")
    assert changed and "option lxcpath '/mnt/lxc'" in text2 and "'c1'" in text2
    changed, text3, dummy, dummy2 = lxc.autostart_plan(text2, "c1", False)
    assert changed and "'c1'" not in text3 and "'c2'" in text3
    assert lxc.autostart_plan(text2, "c1", None, remove=True)[2:] == (text2, text3)
    assert lxc.autostart_plan(None, "c1", False) == (False, None, "", "")
    with pytest.raises(lxc.LxcError, match="does not parse"):
        lxc.autostart_plan("config container\n\toption name 'x\n", "c1", True)


def test_autostart_plan_merges_duplicate_entries():
    text = "config container\n\toption name 'c1'\n\nconfig container\n\toption name 'c1'\n"
    changed, new, dummy, dummy2 = lxc.autostart_plan(text, "c1", True)
    assert changed and new.count("option name 'c1'") == 1


STOCK_TEMPLATE = 'DOWNLOAD_SERVER="images.linuxcontainers.org"\nwget https://${DOWNLOAD_SERVER}/x\n'
OLD_TEMPLATE = 'DOWNLOAD_SERVER="images.linuxcontainers.org"\n--no-validate) DOWNLOAD_VALIDATE="false"\n'


def test_download_plan_server_order_and_arch():
    image = {"dist": "Debian", "release": "Bookworm", "variant": "default", "arch": None, "server": None,
             "validate": True}
    plan = lxc.download_plan(image, "/t/lxc-download", STOCK_TEMPLATE, "armv7l", "https://repo.turris.cz/lxc")
    assert plan == {"template_path": "/t/lxc-download", "server": "repo.turris.cz/lxc", "arch": "armv7l",
                    "args": ["-d", "Debian", "-r", "Bookworm", "-a", "armv7l", "--variant", "default",
                             "--server", "repo.turris.cz/lxc"]}
    plan = lxc.download_plan(image, "/t", STOCK_TEMPLATE, "armv7l")
    assert plan["server"] == "images.linuxcontainers.org" and plan["arch"] == "armhf"
    plan = lxc.download_plan(dict(image, server="https://mirror.example/lxc/", arch="arm64"), "/t", STOCK_TEMPLATE,
                             "armv7l", "repo.turris.cz/lxc")
    assert plan["server"] == "mirror.example/lxc" and plan["arch"] == "arm64"
    assert "--no-validate" in lxc.download_plan(dict(image, validate=False), "/t", OLD_TEMPLATE, "ppc")["args"]
    assert "--no-validate" not in lxc.download_plan(dict(image, validate=False), "/t", STOCK_TEMPLATE, "ppc")["args"]
    with pytest.raises(lxc.LxcError, match="image.server"):
        lxc.download_plan(image, "/t", "", "ppc")
    with pytest.raises(lxc.LxcError, match="HTTPS"):
        lxc.download_plan(dict(image, server="http://x"), "/t", STOCK_TEMPLATE, "ppc")


def test_image_offered_and_missing_msg():
    rows = lxc.parse_image_list("Debian;Bookworm;armv7l;default;2024\nTurris_OS;stable;armv7l;default;2024\n")
    image = {"dist": "Debian", "release": "Bookworm", "variant": "default"}
    assert lxc.image_offered(rows, image, "armv7l")
    assert not lxc.image_offered(rows, image, "ppc")
    msg = lxc.image_missing_msg(image, {"arch": "ppc", "server": "s"}, rows)
    assert "Debian/Bookworm/default for ppc" in msg and "Bookworm/armv7l/default" in msg
    assert "could not be read" in lxc.image_missing_msg(image, {"arch": "ppc", "server": "s"}, None)


# --------------------------------------------------------------------------- the container role's plan
from ansible_collections.turris.containers.plugins.module_utils import _lxc_plan as lxc_plan  # noqa: E402


def plan_spec(**kw):
    spec = {"name": "tiny", "flavor": "busybox", "template": "busybox", "image": None,
            "network": {"link": "br-lxc", "ipv4": "10.0.3.5/24", "ipv4_gateway": "10.0.3.1", "hwaddr": None},
            "memory_limit": "64M", "cpu_shares": 512, "autostart": True, "packages": [],
            "package_manager": "none", "commands": ["echo a", "echo b"], "root_password_hash": "$6$s$h"}
    spec.update(kw)
    return spec


def converged(spec, version=2, **kw):
    """What observe_containers says of a container the role finished with."""
    import hashlib
    config = dict((k, v) for k, v in lxc_plan.desired_config(spec, version).items() if v)
    config["lxc.uts.name"] = [spec["name"]]
    names = lxc_plan.markers(spec)
    seen = {"name": spec["name"], "state": "running", "pid": 9, "ips": ["10.0.3.5"], "config": config,
            "rootfs": "/srv/lxc/%s/rootfs" % spec["name"], "autostart": spec["autostart"],
            "autostart_entry": {"timeout": None, "command": [], "lxcpath": None} if spec["autostart"] else None,
            "markers": sorted([names["packages"], names["prepared"], names["commands"]] + names["command"]),
            "probes": {}, "shadow_root": hashlib.sha256((spec["root_password_hash"] or "*").encode()).hexdigest()}
    seen.update(kw)
    return seen


def digest_of(spec):
    import hashlib
    return hashlib.sha256(spec["root_password_hash"].encode()).hexdigest()


def test_plan_nothing_to_do_for_a_converged_container_either_cgroup_version():
    spec = plan_spec()
    for version in (1, 2):
        seen = converged(spec, version)
        for known in (version, None):
            got = lxc_plan.plan_one(spec, seen, "/srv/lxc", known, digest_of(spec))
            assert got["steps"] == [], (version, known, got)
            assert got["observed"] is seen
    # the other version's keys do not count when the version is known
    assert "configure" in lxc_plan.plan_one(spec, converged(spec, 1), "/srv/lxc", 2, digest_of(spec))["steps"]


def test_plan_everything_without_an_observation():
    spec = plan_spec()
    assert lxc_plan.plan_one(spec, None, "/srv/lxc")["steps"] == ["configure", "prepare", "password", "start", "commands"]
    # a container lxc-ls did not report (state unknown) is not trusted either
    assert lxc_plan.plan_one(spec, converged(spec, state=None), "/srv/lxc", None, digest_of(spec))["steps"][0] == "configure"
    assert lxc_plan.plan(
        [spec], None, "/srv/lxc")["tiny"]["steps"] == ["configure", "prepare", "password", "start", "commands"]


@pytest.mark.parametrize("change, steps", [
    ({"state": "stopped", "markers": None, "shadow_root": None}, ["prepare", "password", "start", "commands"]),
    ({"state": "frozen"}, ["prepare", "password", "start", "commands"]),
    ({"autostart": False, "autostart_entry": None}, ["configure", "start"]),
    ({"autostart_entry": {"lxcpath": "/elsewhere"}}, ["configure", "start"]),
    ({"autostart_entry": {"lxcpath": "/srv/lxc"}}, []),
    ({"shadow_root": "0" * 64}, ["password"]),
    ({"shadow_root": ""}, ["password"]),
])
def test_plan_steps_per_difference(change, steps):
    spec = plan_spec()
    assert lxc_plan.plan_one(spec, converged(spec, **change), "/srv/lxc", None, digest_of(spec))["steps"] == steps


def test_plan_config_differences():
    spec = plan_spec()
    seen = converged(spec)
    seen["config"]["lxc.net.0.ipv4.address"] = ["10.0.3.6/24"]
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", None, digest_of(spec))["steps"] == ["configure", "start"]
    seen = converged(spec)
    seen["config"]["lxc.net.0.hwaddr"] = ["02:00:00:00:00:01"]  # the spec manages it: none wanted
    assert "configure" in lxc_plan.plan_one(spec, seen, "/srv/lxc", None, digest_of(spec))["steps"]
    seen = converged(spec)
    seen["config"]["lxc.mount.entry"] = ["/x x none bind 0 0"]  # not managed: left alone
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", None, digest_of(spec))["steps"] == []
    # a bigger memory limit in the spec
    assert "configure" in lxc_plan.plan_one(dict(spec, memory_limit="128M"), converged(spec), "/srv/lxc", None,
                                            digest_of(spec))["steps"]


def test_plan_markers_one_per_command_and_legacy_names():
    spec = plan_spec()
    names = lxc_plan.markers(spec)
    # the names the role's Jinja gave before: to_json | hash('sha1') | first 12
    import hashlib
    import json
    assert names["commands"] == "commands-" + hashlib.sha1(json.dumps(["echo a", "echo b"]).encode()).hexdigest()[:12]
    assert names["packages"] == "packages-" + hashlib.sha1(b"[]").hexdigest()[:12]
    assert len(names["command"]) == 2 and names["command"][0].startswith("command-0-")
    assert names["dir"] == lxc.MARKER_DIR
    seen = converged(spec)
    seen["markers"] = [m for m in seen["markers"] if m != names["command"][1]]
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", None, digest_of(spec))["steps"] == ["commands"]
    seen["markers"] = [m for m in seen["markers"] if m != names["prepared"]]
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", None, digest_of(spec))["steps"] == ["prepare", "start", "commands"]
    # the flavor's settings are part of the preparation's marker
    assert lxc_plan.markers(spec, ["led"])["prepared"] != names["prepared"]
    assert lxc_plan.markers(dict(spec, network={"link": "br-lxc"}))["prepared"] != names["prepared"]


def test_plan_packages_and_flavor_steps():
    spec = plan_spec(flavor="asterisk", template="download", packages=["asterisk"], package_manager="opkg",
                     commands=[], root_password_hash=None)
    seen = converged(spec, probes={"/ctl": True})
    seen["markers"].append("asterisk-1")
    args = dict(flavor_markers=["asterisk-1"], flavor_probes=["/ctl"], flavor_started=True)
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", **args)["steps"] == []
    assert lxc_plan.plan_one(spec, dict(seen, probes={"/ctl": False}), "/srv/lxc", **args)["steps"] == ["flavor"]
    assert lxc_plan.plan_one(spec, dict(seen, probes={}), "/srv/lxc", **args)["steps"] == ["flavor"]
    other = dict(args)
    other["flavor_markers"] = ["asterisk-2"]
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", **other)["steps"] == ["flavor"]
    seen["markers"].remove(lxc_plan.markers(spec)["packages"])
    assert lxc_plan.plan_one(spec, seen, "/srv/lxc", **args)["steps"] == ["start"]
    got = lxc_plan.plan([spec], {"tiny": seen}, "/srv/lxc", flavor_markers={"tiny": ["asterisk-1"]},
                        flavor_probes={"asterisk": ["/ctl"]}, flavor_started=("asterisk",))
    assert got["tiny"]["steps"] == ["start"] and got["tiny"]["markers"]["flavor"] == ["asterisk-1"]


def test_plan_through_observe_containers():
    """The plan reads observe_containers' own output: a converged router plans nothing."""
    spec = plan_spec(name="c1")
    names = lxc_plan.markers(spec)
    config = lxc.update_config("lxc.uts.name = c1\n", lxc_plan.desired_config(spec, 1))
    files = {"/srv/lxc/c1/config": config, "/proc/7/root/etc/shadow": "root:$6$s$h:1:0:99999:7:::\n"}
    dirs = {"/srv/lxc": ["c1"],
            "/proc/7/root" + lxc.MARKER_DIR: [names["packages"], names["prepared"], names["commands"]] + names["command"]}
    read_file, list_dir, dummy = fake_router(files, dirs)
    observed = lxc.observe_containers("/srv/lxc", "NAME STATE   PID IPV4\nc1   RUNNING 7   10.0.3.5\n", read_file,
                                      list_dir, "config container\n\toption name 'c1'\n")
    assert lxc_plan.plan([spec], observed, "/srv/lxc", password_digests={"c1": digest_of(spec)})["c1"]["steps"] == []
    assert lxc_plan.plan([spec], observed, "/srv/lxc", 2, {"c1": digest_of(spec)})["c1"]["steps"] == ["configure", "start"]


def render_role_template(name, **context):
    """A template of the container role rendered as Ansible renders it (trim_blocks)."""
    import jinja2
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "container", "templates")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), trim_blocks=True, undefined=jinja2.StrictUndefined)
    from ansible.plugins.filter.core import quote
    env.filters["quote"] = quote
    return env.get_template(name).render(**context)


def test_first_boot_commands_run_at_most_once_more_after_a_cut(tmp_path):
    """commands.sh.j2 run by /bin/sh: a command that fails stops the script; the next run skips what
    already ran (one marker per command) and records the whole list at the end."""
    import subprocess
    log = tmp_path / "log"
    flag = tmp_path / "second-fails"
    flag.write_text("")
    spec = plan_spec(commands=["echo one >> %s" % log, "test ! -e %s; echo two >> %s" % (flag, log),
                               "echo three >> %s" % log])
    plan = lxc_plan.plan_one(spec, None, "/srv/lxc")
    marker_dir = tmp_path / "markers"
    script = render_role_template("commands.sh.j2", __ct=spec, __ct_plan=plan, __container_marker_path=str(marker_dir))
    first = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    assert first.returncode != 0 and log.read_text() == "one\n"
    assert sorted(os.listdir(marker_dir)) == [plan["markers"]["command"][0]]
    flag.unlink()
    second = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert log.read_text() == "one\ntwo\nthree\n"  # one did not run again
    assert sorted(os.listdir(marker_dir)) == sorted(plan["markers"]["command"] + [plan["markers"]["commands"]])
    third = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    assert third.returncode == 0 and log.read_text() == "one\ntwo\nthree\n"


def test_packages_script_records_the_markers(tmp_path):
    import subprocess
    spec = plan_spec(packages=[])
    plan = lxc_plan.plan_one(spec, None, "/srv/lxc")
    script = render_role_template("packages.sh.j2", __ct=spec, __ct_plan=plan, __container_marker_path=str(tmp_path))
    assert subprocess.run(["/bin/sh", "-c", script], check=False).returncode == 0
    assert sorted(os.listdir(tmp_path)) == sorted([plan["markers"]["packages"], plan["markers"]["prepared"]])
    # with packages: the package manager's part comes first, on lines of its own
    script = render_role_template("packages.sh.j2", __ct=plan_spec(packages=["a b", "c"], package_manager="opkg"),
                                  __ct_plan=plan, __container_marker_path="/m")
    assert "\nfi\nmkdir -p /m\n" in script and "for p in 'a b' c; do" in script

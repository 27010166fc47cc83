"""The simulator's LXC images (tests/sim/images.py): the cache is keyed by what a recipe
declares, without running it, and a cached image is never rebuilt; the server publishes one index
as repo.turris.cz/lxc names images (capitalized, the kernel's arch names) and one as
images.linuxcontainers.org does (lowercase, Debian's arch names), and offers neither a busybox
image nor an asterisk variant, as no real server does; every image, fetched through the download
template from the image server as a router would, boots as a system container, runs
``lxc-attach -- /bin/sh -c`` and stops cleanly.

The boot tests build the served images once (module fixture; a cold build of Debian bookworm takes
about two minutes) and use their own lxcpath under /var/lib/turris-images-test, containers named
timg-*, and the bridge timgbr0; all removed."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[3] / "tests" / "sim"
sys.path.insert(0, str(SIM))
import images  # noqa: E402

TEST_TOP = "/var/lib/turris-images-test"
BRIDGE = "timgbr0"
BRIDGE_NET = "10.213.97"

has_busybox = shutil.which("dpkg") and subprocess.run(["dpkg", "-L", "busybox-static"], capture_output=True,
                                                      check=False).returncode == 0
needs_busybox = pytest.mark.skipif(not has_busybox, reason="needs busybox-static (apt-get install busybox-static)")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("lxc-create") or not shutil.which("debootstrap") or not has_busybox,
    reason="needs root, LXC, debootstrap and busybox-static (apt-get install lxc debootstrap busybox-static)")

# What each kind of server calls our images: server -> recipe -> (dist, release, variant, arches).
# repo.turris.cz/lxc: CZ-NIC/turris-misc's generator writes Turris_OS;stable;armv7l and ;ppc,
# turris-cz/user-docs documents -d Debian -r Bullseye -a armv7l; images.linuxcontainers.org:
# -d debian -r bookworm -a armhf (user-docs' cheat sheet).
NAMES = {
    "lxc": {"turrisos": ("Turris_OS", "stable", "default", ["aarch64", "armv7l", "ppc"]),
            "debian": ("Debian", "Bookworm", "default", ["aarch64", "armv7l"])},
    "linuxcontainers": {"debian": ("debian", "bookworm", "default", ["arm64", "armhf"])},
}


def tiny_recipe():
    """A recipe that builds in a second (the host's static busybox), for the cache tests."""
    return {"dist": "tiny", "release": "1", "variant": "default", "config": ["lxc.autodev = 1"],
            "templates": [], "base": images._busybox_base(), "files": {"etc/hostname": ["LXC_NAME\n", 0o644]}}


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(images.RECIPES, "tiny", tiny_recipe)
    return "tiny"


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------- declarations / cache

@needs_busybox
def test_recipes_are_plain_data_and_the_turris_os_version_is_the_simulators():
    import turris_sim  # noqa: E402  (imports images too)
    assert images.TURRIS_OS_VERSION == turris_sim.TURRIS_OS_VERSION
    for name in images.RECIPES:
        json.dumps(images.spec_of(name))  # plain data: it is what the key hashes


def test_servers_name_images_as_the_real_ones_and_offer_no_busybox_or_asterisk_image():
    assert images.SERVERS == NAMES
    assert images.served_recipes() == ["debian", "turrisos"]
    assert "busybox" not in images.RECIPES
    offered = [e for names in images.SERVERS.values() for e in names.values()]
    assert all(entry[2] == "default" for entry in offered)


def _fake_descs(tmp_path):
    descs = []
    for recipe in ("debian", "turrisos", "asterisk"):
        d = tmp_path / ("built-" + recipe)
        d.mkdir()
        for f in ("rootfs.tar.xz", "meta.tar.xz"):
            (d / f).write_text(recipe)
        descs.append({"recipe": recipe, "dist": recipe, "release": "x", "arch": "amd64", "variant": "default",
                      "build": "20261201_00:00", "dir": str(d)})
    return descs


def test_both_indexes_in_the_download_templates_layout(tmp_path):
    roots = images.make_servers(_fake_descs(tmp_path), str(tmp_path / "www"))
    assert sorted(roots) == ["linuxcontainers", "lxc"]
    turris = (tmp_path / "www" / "lxc" / "meta" / "1.0" / "index-system").read_text().splitlines()
    assert turris == [
        "Debian;Bookworm;aarch64;default;20261201_00:00;/images/Debian/Bookworm/aarch64/default/20261201_00:00/",
        "Debian;Bookworm;armv7l;default;20261201_00:00;/images/Debian/Bookworm/armv7l/default/20261201_00:00/",
        "Turris_OS;stable;aarch64;default;20261201_00:00;/images/Turris_OS/stable/aarch64/default/20261201_00:00/",
        "Turris_OS;stable;armv7l;default;20261201_00:00;/images/Turris_OS/stable/armv7l/default/20261201_00:00/",
        "Turris_OS;stable;ppc;default;20261201_00:00;/images/Turris_OS/stable/ppc/default/20261201_00:00/",
    ]
    lower = (tmp_path / "www" / "linuxcontainers" / "meta" / "1.0" / "index-system").read_text().splitlines()
    assert [line.split(";")[:4] for line in lower] == [["debian", "bookworm", "arm64", "default"],
                                                       ["debian", "bookworm", "armhf", "default"]]
    # the paths in the index lead to the image files, relative to the server's path
    for root, lines in (("lxc", turris), ("linuxcontainers", lower)):
        for line in lines:
            path = tmp_path / "www" / root / line.split(";")[5].strip("/")
            assert (path / "rootfs.tar.xz").read_text() == ("turrisos" if "Turris" in line else "debian")
            assert (path / "meta.tar.xz").exists()


@needs_busybox
def test_cache_key_is_stable_and_computed_without_running_anything(monkeypatch):
    first = {name: images.cache_key(name, "amd64") for name in images.RECIPES}
    assert images.cache_key("turrisos", "amd64") != images.cache_key("turrisos", "armhf")

    def forbidden(*args, **kwargs):
        raise AssertionError("a recipe ran while only its key was asked for")
    for fn in ("_fill", "_debootstrap", "_busybox_tree", "_build"):
        monkeypatch.setattr(images, fn, forbidden)
    assert {name: images.cache_key(name, "amd64") for name in images.RECIPES} == first
    assert len(set(first.values())) == len(first)


@needs_busybox
def test_cache_key_follows_every_declared_input(monkeypatch):
    spec = images.spec_of("debian")
    key = images.cache_key("debian", "amd64", spec)
    changed = json.loads(json.dumps(spec))
    changed["files"]["etc/inittab"][0] += "# one more line\n"
    assert images.cache_key("debian", "amd64", changed) != key
    changed = json.loads(json.dumps(spec))
    changed["base"]["debootstrap"]["include"].append("less")
    assert images.cache_key("debian", "amd64", changed) != key
    monkeypatch.setattr(images, "RECIPE_VERSION", images.RECIPE_VERSION + ".test")
    assert images.cache_key("debian", "amd64", spec) != key


@needs_busybox
def test_a_cached_image_is_not_rebuilt(tmp_path, monkeypatch, tiny):
    runs = []
    real_fill = images._fill

    def counting_fill(rootfs, spec, arch):
        runs.append(spec["dist"])
        real_fill(rootfs, spec, arch)
    monkeypatch.setattr(images, "_fill", counting_fill)
    cache = str(tmp_path / "cache")
    first = images.build(tiny, cache=cache)
    stamp = os.stat(os.path.join(first["dir"], "rootfs.tar.xz")).st_mtime_ns
    assert runs == ["tiny"]
    again = images.build(tiny, cache=cache)
    assert again == first and runs == ["tiny"]
    assert os.stat(os.path.join(first["dir"], "rootfs.tar.xz")).st_mtime_ns == stamp
    assert first["dir"] == images.image_dir(tiny, cache=cache)
    # a changed recipe is a new image, built next to the old one
    monkeypatch.setattr(images, "RECIPE_VERSION", images.RECIPE_VERSION + ".test")
    other = images.build(tiny, cache=cache)
    assert runs == ["tiny", "tiny"] and other["dir"] != first["dir"]
    assert os.path.isdir(first["dir"])
    # no work directories left behind
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")) == \
        sorted([os.path.basename(first["dir"]), os.path.basename(other["dir"])])


# --------------------------------------------------------------------------- booting

@pytest.fixture(scope="module")
def served():
    """The served images built (or taken from the cache) once, an image server on 127.0.0.1 with
    both indexes, a private lxcpath and the timgbr0 bridge; everything removed afterwards."""
    built = {}
    times = {}
    for name in images.served_recipes():
        start = time.monotonic()
        built[name] = images.build(name)
        times[name] = round(time.monotonic() - start, 1)
    print("image build times (s):", times)
    made_bridge = sh("ip", "link", "show", BRIDGE, check=False).returncode != 0
    if made_bridge:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", BRIDGE_NET + ".1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
    os.makedirs(TEST_TOP, exist_ok=True)
    lxc_path = tempfile.mkdtemp(prefix="lxc-", dir=TEST_TOP)
    work = tempfile.mkdtemp(prefix="www-", dir=TEST_TOP)
    root = os.path.join(work, "www")
    images.make_servers(list(built.values()), root)
    server = images.ImageServer(root, "127.0.0.1").start()
    env = dict(os.environ, WGETRC=server.tls["wgetrc"], LXC_CACHE_PATH=os.path.join(work, "lxc-cache"))
    try:
        yield {"images": built, "server": server.server, "env": env, "lxc_path": lxc_path}
    finally:
        server.stop()
        for name in sh("lxc-ls", "-P", lxc_path, "-1", check=False).stdout.split():
            sh("lxc-destroy", "-P", lxc_path, "-n", name, "-f", check=False)
        shutil.rmtree(lxc_path, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        if made_bridge:
            sh("ip", "link", "del", BRIDGE, check=False)
        try:
            os.rmdir(TEST_TOP)
        except OSError:
            pass


class Container:
    def __init__(self, served, recipe, index, kind, arch):
        """Container ``timg-<recipe>`` from the ``kind`` index (a key of images.SERVERS), by the
        names that server gives ``recipe`` for ``arch``, as a router would ask for it."""
        self.served, self.path = served, served["lxc_path"]
        self.name = "timg-%s" % recipe
        self.address = "%s.%d" % (BRIDGE_NET, 10 + index)
        dist, release, variant, arches = NAMES[kind][recipe]
        assert arch in arches
        res = sh("lxc-create", "-P", self.path, "-n", self.name, "-t", "download", "--",
                 "--server", "%s/%s" % (served["server"], kind), "-d", dist, "-r", release,
                 "-a", arch, "--variant", variant, check=False, env=served["env"])
        assert res.returncode == 0, res.stdout + res.stderr
        conf = os.path.join(self.path, self.name, "config")
        with open(conf, encoding="utf-8") as f:
            lines = [line for line in f.read().splitlines() if not line.startswith("lxc.net.")]
        lines += ["lxc.net.0.type = veth", "lxc.net.0.link = %s" % BRIDGE, "lxc.net.0.flags = up",
                  "lxc.net.0.name = eth0", "lxc.net.0.ipv4.address = %s/24" % self.address,
                  "lxc.net.0.ipv4.gateway = %s.1" % BRIDGE_NET]
        with open(conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        self.console = os.path.join(self.path, self.name, "console.log")

    def start(self):
        res = sh("lxc-start", "-P", self.path, "-n", self.name, "-L", self.console,
                 "-o", os.path.join(self.path, self.name, "lxc.log"), check=False)
        assert res.returncode == 0, res.stderr + self.log()
        sh("lxc-wait", "-P", self.path, "-n", self.name, "-s", "RUNNING", "-t", "30")

    def sh(self, script, check=True):
        return sh("lxc-attach", "-P", self.path, "-n", self.name, "--clear-env", "--",
                  "/bin/sh", "-c", script, check=check)

    def state(self):
        return sh("lxc-info", "-P", self.path, "-n", self.name, "-s").stdout.split(":", 1)[1].strip()

    def stop_cleanly(self):
        # --nokill: fails unless init shuts the container down by itself on lxc.signal.halt
        res = sh("lxc-stop", "-P", self.path, "-n", self.name, "--nokill", "-t", "60", check=False)
        assert res.returncode == 0, res.stderr + self.log()
        assert self.state() == "STOPPED"

    def destroy(self):
        sh("lxc-destroy", "-P", self.path, "-n", self.name, "-f", check=False)

    def log(self):
        try:
            with open(self.console, encoding="utf-8", errors="replace") as f:
                return "\n--- console:\n" + f.read()[-3000:]
        except OSError:
            return ""


@pytest.fixture
def container(served):
    made = []

    def make(recipe, kind, arch):
        c = Container(served, recipe, images.served_recipes().index(recipe), kind, arch)
        made.append(c)
        return c
    yield make
    for c in made:
        c.destroy()


def wait_for(c, script, timeout=60):
    """Run ``script`` in the container until it succeeds; return its output."""
    deadline = time.time() + timeout
    while True:
        res = c.sh(script, check=False)
        if res.returncode == 0:
            return res.stdout
        assert time.time() < deadline, script + ": " + res.stdout + res.stderr + c.log()
        time.sleep(0.5)


def boots(c):
    c.start()
    out = c.sh("echo attached as $(id -u); hostname; ip -4 -o addr show dev eth0").stdout
    assert "attached as 0" in out
    assert c.name in out
    assert " %s/24 " % c.address in out
    return out


@needs_root
def test_turrisos_like_boots_attaches_and_stops(container):
    c = container("turrisos", "lxc", "ppc")  # as the Turris 1.x asks repo.turris.cz/lxc for it
    boots(c)
    wait_for(c, "pidof syslogd")  # rcS has run the enabled services
    out = c.sh("cat /etc/turris-version; . /etc/openwrt_release; echo $DISTRIB_ID;"
               "grep -c \"option hostname '%s'\" /etc/config/system;"
               "for s in led firewall log boot; do /etc/init.d/$s enabled && echo $s:on || echo $s:off; done;"
               "pidof syslogd >/dev/null && echo syslog-running; pidof klogd || echo no-klogd" % c.name).stdout
    assert out.split() == [images.TURRIS_OS_VERSION, "TurrisOS", "1", "led:off", "firewall:off",
                           "log:on", "boot:on", "syslog-running", "no-klogd"]
    c.stop_cleanly()


@needs_root
def test_debian_stable_boots_attaches_and_stops(container):
    c = container("debian", "linuxcontainers", "armhf")  # as an Omnia asks images.linuxcontainers.org
    boots(c)
    wait_for(c, "runlevel | grep -qx 'N 2'")  # sysvinit's boot is done
    out = c.sh("cat /etc/debian_version; readlink -f /sbin/init; runlevel;"
               "ls /var/lib/apt/lists | grep -v -e '^partial$' -e '^lock$' | wc -l;"
               "ls /usr/share/man 2>/dev/null | wc -l; cat /etc/resolv.conf | wc -c").stdout.split()
    assert out[0].startswith("12.")
    assert out[1] == "/usr/sbin/init" or out[1] == "/sbin/init"
    assert out[2:4] == ["N", "2"]
    assert out[4:] == ["0", "0", "0"]  # no apt lists, no man pages, no DNS of the build host
    c.stop_cleanly()
    assert "runlevel 0" in c.log()  # halted by its init (sysvinit), not killed


@needs_root
def test_the_turris_index_serves_debian_under_its_capitalized_names(served):
    env = served["env"]
    res = sh("/usr/share/lxc/templates/lxc-download", "--list", "--server", served["server"] + "/lxc",
             check=False, env=env)
    rows = [line.split() for line in res.stdout.splitlines() if line.startswith(("Debian", "Turris_OS"))]
    assert ["Debian", "Bookworm", "armv7l", "default"] in [r[:4] for r in rows], res.stdout + res.stderr
    assert ["Turris_OS", "stable", "ppc", "default"] in [r[:4] for r in rows]
    assert not [r for r in rows if r[0] == "Debian" and r[2] == "ppc"]


@needs_busybox
def test_prune_removes_only_images_of_older_recipes(tmp_path, monkeypatch, tiny):
    cache = str(tmp_path)
    current = images.build(tiny, cache=cache)
    monkeypatch.setattr(images, "RECIPE_VERSION", images.RECIPE_VERSION + ".old")
    old = images.build(tiny, cache=cache)
    monkeypatch.setattr(images, "RECIPE_VERSION", images.RECIPE_VERSION[:-len(".old")])
    assert images.prune(cache=cache) == [old["dir"]]
    assert os.path.isfile(os.path.join(current["dir"], "rootfs.tar.xz")) and not os.path.exists(old["dir"])
    assert sorted(os.listdir(cache)) == sorted([os.path.basename(current["dir"]),
                                                os.path.basename(current["dir"]) + ".lock"])


def test_selected_recipes_from_the_environment(monkeypatch):
    monkeypatch.delenv("TURRIS_SIM_IMAGES", raising=False)
    assert images.selected_recipes() == sorted(images.RECIPES)
    monkeypatch.setenv("TURRIS_SIM_IMAGES", "turrisos, debian")
    assert images.selected_recipes() == ["debian", "turrisos"]
    monkeypatch.setenv("TURRIS_SIM_IMAGES", "turrisos,windows")
    with pytest.raises(ValueError, match="windows"):
        images.selected_recipes()


def test_routers_point_lxc_at_the_turris_style_index_as_turris_os_does():
    """/etc/config/lxc as luci-app-lxc ships it (config lxc 'lxc', option url host[/path]),
    parsed by the collection's libuci-compatible parser; the url is the /lxc index."""
    import turris_sim  # noqa: E402
    from ansible_collections.turris.containers.plugins.module_utils import _uci as uci
    for board in ("turris1x", "omnia", "mox"):
        text, mode = turris_sim.router_files(board, "turris-x")["etc/config/lxc"]
        pkg = uci.parse(text.encode(), "lxc")
        assert [(s.name, s.type, s.anonymous) for s in pkg.sections] == [("lxc", "lxc", False)]
        assert pkg.sections[0].options["url"] == turris_sim.IMAGES_SERVER
        assert mode == 0o644
    assert turris_sim.IMAGES_SERVER.endswith(":%d/lxc" % turris_sim.IMAGES_PORT)
    assert turris_sim.IMAGES_SERVER_LOWERCASE.endswith("/linuxcontainers")

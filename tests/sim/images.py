#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""LXC image server for the router simulator, in the layout of the ``download`` template.

Layout (what ``lxc-download`` and images.linuxcontainers.org use)::

    meta/1.0/index-system          dist;release;arch;variant;build;path  (one line per image)
    images/<dist>/<release>/<arch>/<variant>/<build>/rootfs.tar.xz
    images/<dist>/<release>/<arch>/<variant>/<build>/meta.tar.xz   (config, templates, ...)

An image is one *recipe*: a function that fills a root filesystem directory and returns the
metadata (LXC config lines, files to template).  Adding Debian, TurrisOS or Asterisk images
means adding one recipe to ``RECIPES``; building, caching, indexing and serving are shared.
Built images are cached outside the work tree (``/var/cache/turris-sim/images``, or
``$TURRIS_SIM_IMAGE_CACHE``), keyed by the recipe's inputs.

Why TLS: the stock ``lxc-download`` template of LXC 4/5 always fetches
``https://<server>/...`` (``--server`` takes a host name and optional path, not a URL, and
there is no ``--no-validate``/GPG any more), so a plain-HTTP server cannot be used by it.
The server therefore speaks HTTPS with a certificate from a private CA generated here;
``wget`` (which the template uses) trusts it when the environment names a wgetrc file with
``ca_certificate = <ca.pem>`` (``WGETRC=<cache>/tls/wgetrc``).  ``lxc-create`` passes its
environment to the template, so setting ``WGETRC`` for ``lxc-create`` is enough; nothing is
installed in any system trust store.  ``--plain`` serves HTTP for templates patched to take
a URL (Turris OS's older template) or for other clients.

Command line::

    images.py build [RECIPE...]                 build (or reuse) images, print their paths
    images.py serve --bind ADDR --port N [--plain]   build, index and serve until killed
"""
import argparse
import datetime
import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

CACHE = os.environ.get("TURRIS_SIM_IMAGE_CACHE", "/var/cache/turris-sim/images")
RECIPE_VERSION = "1"


def host_image_arch():
    """The host's architecture in image-server naming (Debian's, as images.linuxcontainers.org)."""
    out = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


# --------------------------------------------------------------------------- recipes
def _busybox_binary():
    """Debian's busybox-static binary (the package must be installed: apt-get install busybox-static)."""
    out = subprocess.run(["dpkg", "-L", "busybox-static"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("busybox-static is not installed: apt-get install busybox-static")
    path = "/bin/busybox"
    if path not in out.stdout.split():
        raise RuntimeError("busybox-static does not ship /bin/busybox")
    return path


def _busybox_version(binary):
    out = subprocess.run([binary], capture_output=True, text=True)
    first = (out.stdout or out.stderr).splitlines()[0]
    # "BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary."
    return first.split()[1].lstrip("v")


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def recipe_busybox(rootfs):
    """A minimal system container: Debian's static busybox, busybox init, no network setup
    (LXC configures the addresses), so it stays up and keeps the addresses LXC gives it."""
    binary = _busybox_binary()
    version = _busybox_version(binary)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "dev", "proc", "sys", "tmp",
              "run", "root", "var/log", "mnt"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(binary, os.path.join(rootfs, "bin/busybox"))
    applets = subprocess.run([binary, "--list-full"], check=True, capture_output=True, text=True)
    for applet in applets.stdout.split():
        link = os.path.join(rootfs, applet)
        if applet == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    _write(os.path.join(rootfs, "etc/inittab"),
           "::sysinit:/etc/init.d/rcS\n"
           "::respawn:/bin/syslogd -n -O /var/log/messages\n"
           "::shutdown:/bin/umount -a -r\n")
    _write(os.path.join(rootfs, "etc/init.d/rcS"),
           "#!/bin/sh\n"
           "# LXC sets up /proc, /sys, /dev and the network; only the loopback is ours.\n"
           "/bin/hostname -F /etc/hostname\n"
           "/sbin/ip link set lo up\n", 0o755)
    _write(os.path.join(rootfs, "etc/hostname"), "LXC_NAME\n")
    _write(os.path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
    _write(os.path.join(rootfs, "etc/shadow"), "root:*:19000:0:99999:7:::\n", 0o600)
    _write(os.path.join(rootfs, "etc/group"), "root:x:0:\n")
    _write(os.path.join(rootfs, "etc/os-release"),
           'NAME="BusyBox"\nID=busybox\nVERSION_ID="%s"\nPRETTY_NAME="BusyBox %s (turris-sim)"\n'
           % (version, version))
    return {
        "dist": "busybox",
        "release": version.rsplit(".", 1)[0],
        "variant": "default",
        # The container's own config, in what the download template appends as
        # "Distribution configuration"; busybox init halts on SIGUSR1, reboots on SIGTERM.
        "config": ["lxc.signal.halt = SIGUSR1", "lxc.signal.reboot = SIGTERM",
                   "lxc.autodev = 1", "lxc.tty.max = 1", "lxc.pty.max = 4",
                   "lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed"],
        "templates": ["/etc/hostname"],
        "inputs": [version, hashlib.sha256(open(binary, "rb").read()).hexdigest()],
    }


RECIPES = {"busybox": recipe_busybox}


# --------------------------------------------------------------------------- building
def _tar_xz(src_dir, dest):
    subprocess.run(["tar", "--numeric-owner", "-C", src_dir, "-cJf", dest, "."], check=True)


def build(name, cache=CACHE, arch=None):
    """Build the image of recipe ``name`` (or reuse the cached one); return its description:
    ``{dist, release, arch, variant, build, dir}`` where ``dir`` holds rootfs.tar.xz and meta.tar.xz."""
    recipe = RECIPES[name]
    arch = arch or host_image_arch()
    work = tempfile.mkdtemp(prefix="image-%s-" % name, dir=_ensure(cache))
    try:
        rootfs = os.path.join(work, "rootfs")
        os.mkdir(rootfs)
        meta = recipe(rootfs)
        key = hashlib.sha256(json.dumps([name, RECIPE_VERSION, arch, meta], sort_keys=True).encode()).hexdigest()[:16]
        final = os.path.join(cache, "%s-%s-%s" % (name, arch, key))
        desc_path = os.path.join(final, "image.json")
        if os.path.isfile(desc_path):
            with open(desc_path, encoding="utf-8") as handle:
                return json.load(handle)
        build_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d_%H:%M")
        metadir = os.path.join(work, "meta")
        os.mkdir(metadir)
        _write(os.path.join(metadir, "config"), "\n".join(meta["config"]) + "\n")
        _write(os.path.join(metadir, "templates"), "\n".join(meta["templates"]) + "\n")
        _write(os.path.join(metadir, "create-message"), "Built by tests/sim/images.py (%s).\n" % name)
        _write(os.path.join(metadir, "expiry"), "%d\n" % (2 ** 31 - 1))
        out = os.path.join(work, "out")
        os.mkdir(out)
        _tar_xz(rootfs, os.path.join(out, "rootfs.tar.xz"))
        _tar_xz(metadir, os.path.join(out, "meta.tar.xz"))
        desc = {"recipe": name, "dist": meta["dist"], "release": meta["release"], "arch": arch,
                "variant": meta["variant"], "build": build_id, "dir": final}
        _write(os.path.join(out, "image.json"), json.dumps(desc, indent=1) + "\n")
        try:
            os.rename(out, final)
        except OSError:  # built concurrently by someone else: theirs is as good
            pass
        with open(desc_path, encoding="utf-8") as handle:
            return json.load(handle)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ensure(path):
    os.makedirs(path, exist_ok=True)
    return path


def make_tree(images, root):
    """Lay out ``images`` (descriptions from :func:`build`) as a server document root."""
    lines = []
    for img in images:
        rel = "images/%s/%s/%s/%s/%s" % (img["dist"], img["release"], img["arch"], img["variant"], img["build"])
        target = os.path.join(root, rel)
        os.makedirs(target, exist_ok=True)
        for f in ("rootfs.tar.xz", "meta.tar.xz"):
            dest = os.path.join(target, f)
            if not os.path.exists(dest):
                os.symlink(os.path.join(img["dir"], f), dest)
        lines.append(";".join([img["dist"], img["release"], img["arch"], img["variant"], img["build"], "/" + rel + "/"]))
    _write(os.path.join(root, "meta/1.0/index-system"), "\n".join(lines) + "\n")
    return root


# --------------------------------------------------------------------------- TLS
def tls_material(addresses, cache=CACHE):
    """A private CA and a server certificate for ``addresses`` (IPs or names), plus a wgetrc
    that trusts the CA.  Returns ``{ca, cert, key, wgetrc}`` paths."""
    tls = _ensure(os.path.join(cache, "tls"))
    ca_key, ca = os.path.join(tls, "ca.key"), os.path.join(tls, "ca.pem")
    if not os.path.exists(ca):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                        "-out", ca, "-days", "3650", "-subj", "/CN=turris-sim image CA"],
                       check=True, capture_output=True)
    names = sorted(set(addresses) | {"127.0.0.1", "localhost"})
    tag = hashlib.sha256(",".join(names).encode()).hexdigest()[:12]
    key, cert = os.path.join(tls, "server-%s.key" % tag), os.path.join(tls, "server-%s.pem" % tag)
    if not os.path.exists(cert):
        san = ",".join(("IP:%s" % n) if _is_ip(n) else ("DNS:%s" % n) for n in names)
        with tempfile.TemporaryDirectory() as tmp:
            csr, ext = os.path.join(tmp, "csr"), os.path.join(tmp, "ext")
            _write(ext, "subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
            subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                            "-subj", "/CN=%s" % names[0]], check=True, capture_output=True)
            subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                            "-CAcreateserial", "-out", cert, "-days", "3650", "-extfile", ext],
                           check=True, capture_output=True)
    wgetrc = os.path.join(tls, "wgetrc")
    if not os.path.exists(wgetrc):
        _write(wgetrc, "ca_certificate = %s\n" % ca)
    return {"ca": ca, "cert": cert, "key": key, "wgetrc": wgetrc}


def _is_ip(text):
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- serving
class _Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        # The index paths start with "/", so the template asks for "https://server//images/...".
        while path.startswith("//"):
            path = path[1:]
        return super().translate_path(path)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if os.environ.get("TURRIS_SIM_IMAGE_LOG"):
            super().log_message(format, *args)


class ImageServer:
    """Serve ``root`` on ``host:port`` (port 0 = any free one) in a thread; HTTPS unless ``plain``.
    ``server`` is what the download template's ``--server`` wants (host:port, no scheme)."""

    def __init__(self, root, host="127.0.0.1", port=0, plain=False, cache=CACHE):
        self.root = root
        handler = functools.partial(_Handler, directory=root)
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.tls = None
        if not plain:
            self.tls = tls_material([host], cache=cache)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.host, self.port = host, self.httpd.server_address[1]
        self.server = "%s:%d" % (host, self.port)
        self.url = "%s://%s" % ("http" if plain else "https", self.server)
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build images and print their descriptions")
    b.add_argument("recipes", nargs="*", default=sorted(RECIPES))
    s = sub.add_parser("serve", help="build, lay out and serve images until killed")
    s.add_argument("recipes", nargs="*", default=sorted(RECIPES))
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--plain", action="store_true", help="HTTP instead of HTTPS")
    s.add_argument("--root", help="document root (default: a temporary directory)")
    args = parser.parse_args(argv)
    images = [build(r) for r in args.recipes]
    if args.cmd == "build":
        print(json.dumps(images, indent=1))
        return 0
    root = args.root or tempfile.mkdtemp(prefix="turris-sim-images-")
    make_tree(images, root)
    srv = ImageServer(root, args.bind, args.port, plain=args.plain)
    info = {"server": srv.server, "url": srv.url, "root": root, "images": images}
    if srv.tls:
        info["wgetrc"] = srv.tls["wgetrc"]
        info["ca"] = srv.tls["ca"]
    print(json.dumps(info), flush=True)
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
"""opkg (openwrt/opkg-lede) for the router simulator, in Python.

Really installs ``.ipk`` packages: ``update`` fetches ``Packages.gz`` and ``Packages.sig``
and verifies them with the keys in ``/etc/opkg/keys`` as ``opkg-key verify`` (usign) does,
dropping a list that fails; ``install`` resolves dependencies, checks sizes and SHA256
sums, unpacks, runs ``postinst``; ``remove`` runs ``prerm``/``postrm``. State files
(``/usr/lib/opkg/status``, ``/usr/lib/opkg/info/<pkg>.*``), the lock
(``/var/lock/opkg.lock``), output and exit codes follow the real opkg.

Run as ``opkg-cl``; as ``opkg`` on a Turris OS personality (``/etc/turris-version``) it is
the Turris wrapper: ``install`` and ``remove`` are also recorded for the updater in
``/etc/updater/conf.d/opkg-auto.lua``.
"""
import collections
import fcntl
import fnmatch
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request

import simpath  # noqa: F401  pylint: disable=unused-import
import usign_sim
import _opkg  # pylint: disable=wrong-import-order

VERSION = "2022-02-24-d038e5b6 (turris-sim)"
INFO_DIR = "usr/lib/opkg/info"
STATUS_FILE = "usr/lib/opkg/status"
LOCK_FILE = "var/lock/opkg.lock"
UPDATER_AUTO = "etc/updater/conf.d/opkg-auto.lua"

USAGE = """opkg must have one sub-command argument
usage: opkg [options...] sub-command [arguments...]
where sub-command is one of:

Package Manipulation:
\tupdate			Update list of available packages
\tupgrade <pkgs>		Upgrade packages
\tinstall <pkgs>		Install package(s)
\tconfigure <pkgs>	Configure unpacked package(s)
\tremove <pkgs|regexp>	Remove package(s)
\tflag <flag> <pkgs>	Flag package(s)

Informational Commands:
\tlist			List available packages
\tlist-installed		List installed packages
\tlist-upgradable		List installed and upgradable packages
\tfiles <pkg>		List files belonging to <pkg>
\tinfo [pkg|regexp]	Display all info for <pkg>
\tstatus [pkg|regexp]	Display all status for <pkg>
\tprint-architecture	List installable package architectures

Options:
\t-f <conf_file>		Use <conf_file> as the opkg configuration file
\t-o <dir>		Use <dir> as the root directory for offline installation
\t--offline-root <dir>
\t-d <dest_name>		Use <dest_name> as the the root directory for package installation
\t--force-depends	Install/remove despite failed dependencies
\t--force-reinstall	Reinstall package(s)
\t--force-overwrite	Overwrite files from other package(s)
\t--force-downgrade	Allow opkg to downgrade packages
\t--force-checksum	Don't fail on checksum mismatches
\t--force-signature	Accept a feed whose signature check fails
\t--force-removal-of-dependent-packages
\t			Remove package and all dependencies
\t--autoremove		Remove automatically installed packages no longer needed
\t--nodeps		Do not follow dependencies
\t--noaction		No action -- test only
"""

FORCE_FLAGS = ("depends", "reinstall", "overwrite", "downgrade", "space", "postinstall", "remove",
               "checksum", "removal-of-dependent-packages", "maintainer", "signature")
FIELD_ORDER = ("Package", "Version", "Depends", "Provides", "Conflicts", "Status", "Essential",
               "Architecture", "Conffiles", "Installed-Time", "Auto-Installed")


def architectures(texts):
    """``arch`` entries over the given opkg configuration texts, as a dict arch -> priority (int),
    in file order (opkg installs packages of these architectures only). The collection's
    ``_turris.opkg_arch`` answers the one question a module asks: the board's own arch."""
    result = collections.OrderedDict()
    for text in texts:
        for entry in _opkg.parse_conf(text)[0]:
            if entry.type == "arch":
                try:
                    result[entry.name] = int(entry.value)
                except ValueError:
                    result[entry.name] = 0
    return result


class OpkgExit(Exception):
    def __init__(self, code):
        Exception.__init__(self, code)
        self.code = code


# -- versions and control files ------------------------------------------------------------

def _order(c):
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256 if c else 0


def _verrevcmp(a, b):
    """dpkg/opkg version fragment comparison."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_version(v):
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = int(e) if e.isdigit() else 0
    rev = ""
    if "-" in v:
        v, rev = v.rsplit("-", 1)
    return epoch, v, rev


def compare_versions(a, b):
    """<0, 0, >0 as opkg's pkg_version_compare."""
    ea, va, ra = _split_version(a)
    eb, vb, rb = _split_version(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(va, vb) or _verrevcmp(ra, rb)


def version_satisfies(version, op, wanted):
    c = compare_versions(version, wanted)
    return {"<<": c < 0, "<": c <= 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c >= 0, ">>": c > 0}[op]


_DEP_RE = re.compile(r"^\s*([^\s(]+)\s*(?:\(\s*(<<|<=|>=|>>|<|>|=)\s*([^)\s]+)\s*\))?\s*$")


def parse_depends(value):
    """'a, b (>= 1) | c' -> [[('a', None, None)], [('b', '>=', '1'), ('c', None, None)]]."""
    result = []
    for group in (value or "").split(","):
        if not group.strip():
            continue
        alts = []
        for alt in group.split("|"):
            m = _DEP_RE.match(alt)
            if m:
                alts.append((m.group(1), m.group(2), m.group(3)))
        if alts:
            result.append(alts)
    return result


def parse_stanzas(text):
    """RFC822-like stanzas (Packages index, status, control) -> list of OrderedDict."""
    stanzas = []
    current = collections.OrderedDict()
    last = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current = collections.OrderedDict()
            last = None
            continue
        if line[0] in " \t" and last is not None:
            current[last] += "\n" + line
            continue
        if ":" in line:
            key, value = line.split(":", 1)
            last = key.strip()
            current[last] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def format_stanza(fields, order=None):
    keys = list(order or ()) + [k for k in fields if k not in (order or ())]
    out = []
    for k in keys:
        if k in fields and fields[k] != "":
            value = fields[k]
            if k == "Conffiles":
                lines = [line.strip() for line in value.splitlines() if line.strip()]
                out.append("Conffiles:\n" + "".join(" %s\n" % line for line in lines))
            elif "\n" in value:
                first, dummy, rest = value.partition("\n")
                out.append("%s:%s\n" % (k, (" " + first) if first else ""))
                if rest:
                    out.append(rest + "\n")
            else:
                out.append("%s: %s\n" % (k, value))
    return "".join(out)


# -- ipk files ----------------------------------------------------------------------------

def _ar_members(data):
    if data[:8] != b"!<arch>\n":
        raise ValueError("not an ar archive")
    pos = 8
    members = {}
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return members


def open_ipk(data):
    """(control tarfile, data tarfile) of an .ipk: OpenWrt's tar.gz or the old ar layout."""
    if data[:8] == b"!<arch>\n":
        members = _ar_members(data)
    else:
        members = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as outer:
            for m in outer.getmembers():
                if m.isfile():
                    members[os.path.basename(m.name)] = outer.extractfile(m).read()
    if "control.tar.gz" not in members or "data.tar.gz" not in members:
        raise ValueError("not an ipk: control.tar.gz or data.tar.gz missing")
    control = tarfile.open(fileobj=io.BytesIO(members["control.tar.gz"]), mode="r:*")
    payload = tarfile.open(fileobj=io.BytesIO(members["data.tar.gz"]), mode="r:*")
    return control, payload


def _member_text(tar, name):
    for m in tar.getmembers():
        if m.isfile() and m.name.lstrip("./") == name:
            return tar.extractfile(m).read().decode("utf-8", "replace")
    return None


def _clean_name(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError("unsafe path in package: %s" % name)
    return "/" + "/".join(parts) if parts else "/"


# -- the package manager ------------------------------------------------------------------

class Opkg:
    def __init__(self, offline_root=None, conf_file=None, dest=None, force=(), nodeps=False,
                 noaction=False, autoremove=False, wrapper=False, add_archs=()):
        self.root = offline_root or "/"
        self.offline = offline_root is not None and os.path.realpath(offline_root) != "/"
        self.conf_file = conf_file or self.path("/etc/opkg.conf")
        self.dest_name = dest
        self.force = set(force)
        self.nodeps = nodeps
        self.noaction = noaction
        self.autoremove = autoremove
        self.wrapper = wrapper
        self.add_archs = list(add_archs)
        self.errors = []
        self.out = sys.stdout
        self.lock_fd = None

    # paths and messages
    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def notice(self, msg):
        self.out.write(msg)
        self.out.flush()

    def error(self, func, msg):
        self.errors.append("%s: %s" % (func, msg))

    def flush_errors(self):
        if self.errors:
            sys.stderr.write("Collected errors:\n")
            for e in self.errors:
                sys.stderr.write(" * %s\n" % e)
            sys.stderr.flush()
            self.errors = []

    # configuration
    def load_conf(self):
        texts = []
        files = [self.conf_file]
        files += sorted(
            os.path.join(self.path("/etc/opkg"), f) for f in (os.listdir(self.path("/etc/opkg"))
                                                              if os.path.isdir(self.path("/etc/opkg")) else [])
            if f.endswith(".conf"))
        self.sources = collections.OrderedDict()
        self.dests = collections.OrderedDict()
        self.options = {}
        self.lists_dir = None
        for fname in files:
            try:
                with open(fname, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError as exc:
                if fname == self.conf_file:
                    self.error("opkg_conf_parse_file", "Failed to open %s: %s." % (fname, exc.strerror))
                    raise OpkgExit(255)
                continue
            texts.append(text)
            entries, invalid = _opkg.parse_conf(text)
            for lineno, line in invalid:
                self.error("opkg_conf_parse_file", "%s:%d: Ignoring invalid line: `%s'" % (fname, lineno, line))
            for e in entries:
                if e.type in ("src", "src/gz"):
                    if e.name in self.sources:
                        self.error("opkg_conf_parse_file",
                                   "Duplicate src declaration (%s %s). Skipping." % (e.name, e.value))
                    else:
                        self.sources[e.name] = (e.value, e.type == "src/gz")
                elif e.type == "dest":
                    self.dests.setdefault(e.name, e.value)
                elif e.type == "lists_dir":
                    self.lists_dir = e.value
                elif e.type == "option":
                    self.options[e.name] = e.value
        self.archs = architectures(texts)
        for spec in self.add_archs:
            name, dummy, prio = spec.partition(":")
            self.archs[name] = int(prio or 0)
        if not self.dests:
            self.dests["root"] = "/"
        if self.dest_name and self.dest_name not in self.dests:
            self.error("opkg_conf_load", "Unknown dest name: `%s'." % self.dest_name)
            raise OpkgExit(255)
        self.dest = self.dests[self.dest_name] if self.dest_name else next(iter(self.dests.values()))
        self.dest_label = self.dest_name or next(iter(self.dests))
        self.lists_path = self.path(self.lists_dir or _opkg.DEFAULT_LISTS_DIR)
        self.check_signature = "check_signature" in self.options

    def lock(self):
        path = self.path(self.options.get("lock_file") or "/" + LOCK_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            self.error("opkg_conf_load", "Could not lock %s: %s." % (path, os.strerror(exc.errno)))
            raise OpkgExit(255)
        self.lock_fd = fd

    # installed state
    def dest_path(self, p=""):
        return os.path.join(self.path(self.dest), p.lstrip("/"))

    def info_path(self, pkg, ext):
        return self.dest_path("%s/%s.%s" % (INFO_DIR, pkg, ext))

    def read_status(self):
        try:
            with open(self.dest_path(STATUS_FILE), encoding="utf-8") as f:
                stanzas = parse_stanzas(f.read())
        except OSError:
            stanzas = []
        self.status = collections.OrderedDict()
        for s in stanzas:
            state = s.get("Status", "").split()[2:]
            if "Package" in s and ("installed" in state or "unpacked" in state):
                self.status[s["Package"]] = s

    def write_status(self):
        path = self.dest_path(STATUS_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for name in self.status:
                f.write(format_stanza(self.status[name], FIELD_ORDER) + "\n")
        os.rename(tmp, path)

    def installed_files(self, pkg):
        try:
            with open(self.info_path(pkg, "list"), encoding="utf-8") as f:
                return [line.rstrip("\n") for line in f if line.strip()]
        except OSError:
            return []

    # available packages
    def load_available(self):
        self.available = collections.defaultdict(list)
        for name, (url, _gz) in self.sources.items():
            data = self._read_list(name)
            if data is None:
                continue
            for s in parse_stanzas(data):
                if "Package" not in s:
                    continue
                arch = s.get("Architecture", "all")
                if self.archs and arch not in self.archs:
                    continue
                s["_feed_url"] = url
                s["_feed"] = name
                self.available[s["Package"]].append(s)

    def _read_list(self, name):
        try:
            with open(os.path.join(self.lists_path, name), "rb") as f:
                raw = f.read()
        except OSError:
            return None
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                return None
        return raw.decode("utf-8", "replace")

    def candidates(self, name, op=None, wanted=None):
        found = list(self.available.get(name, []))
        for pkgs in self.available.values():
            for p in pkgs:
                if p["Package"] != name and name in [d[0][0] for d in parse_depends(p.get("Provides"))]:
                    found.append(p)
        if op:
            found = [p for p in found if p["Package"] != name or version_satisfies(p["Version"], op, wanted)]

        def key(p):
            return (p["Package"] == name, _VersionKey(p["Version"]), self.archs.get(p.get("Architecture"), 0))
        return sorted(found, key=key, reverse=True)

    def installed_provider(self, name, op=None, wanted=None):
        if name in self.status:
            if not op or version_satisfies(self.status[name]["Version"], op, wanted):
                return name
        if not op:
            for pkg, s in self.status.items():
                if name in [d[0][0] for d in parse_depends(s.get("Provides"))]:
                    return pkg
        return None

    # -- commands ------------------------------------------------------------------------

    def cmd_update(self, args):
        os.makedirs(self.lists_path, exist_ok=True)
        failures = 0
        for name, (url, gz) in self.sources.items():
            list_url = "%s/%s" % (url, "Packages.gz" if gz else "Packages")
            list_file = os.path.join(self.lists_path, name)
            data = self.download(list_url)
            if data is None:
                failures += 1
                self.notice("*** Failed to download the package list from %s\n\n" % list_url)
                continue
            self._write_bytes(list_file, data)
            self.notice("Updated list of available packages in %s\n" % self._shown(list_file))
            if not self.check_signature:
                continue
            sig_url = "%s/Packages.sig" % url
            sig_file = list_file + ".sig"
            sig = self.download(sig_url)
            ok = False
            if sig is None:
                failures += 1
                self.notice("Signature file download failed.\n")
            else:
                self._write_bytes(sig_file, sig)
                ok = self.verify_list(list_file, sig_file)
                self.notice("Signature check passed.\n" if ok else "Signature check failed.\n")
            if not ok and "signature" not in self.force:
                self.notice("Remove wrong Signature file.\n")
                for p in (sig_file, list_file):
                    if os.path.exists(p):
                        os.unlink(p)
        return failures

    def verify_list(self, list_file, sig_file):
        """``opkg-key verify SIG LIST``: usign -V -P /etc/opkg/keys over the unpacked list."""
        with open(list_file, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                return False
        with open(sig_file, "rb") as f:
            sig = f.read()
        ok, _reason = usign_sim.verify_with_dir(self.path(_opkg.KEYS_DIR), raw, sig)
        return ok

    def _shown(self, host_path):
        return host_path if not self.offline else "/" + os.path.relpath(host_path, self.root)

    @staticmethod
    def _write_bytes(path, data):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)

    def download(self, url):
        self.notice("Downloading %s\n" % url)
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # nosec - feeds of the simulator
                return resp.read()
        except urllib.error.HTTPError as exc:
            self.error("opkg_download", "Failed to download %s, wget returned 8." % url)
            self.error("opkg_download", "HTTP error %d: %s" % (exc.code, exc.reason))
        except (urllib.error.URLError, OSError, ValueError):
            self.error("opkg_download", "Failed to download %s, wget returned 4." % url)
        return None

    def cmd_list_installed(self, args):
        for name in sorted(self.status):
            if args and not any(fnmatch.fnmatch(name, a) for a in args):
                continue
            self.notice("%s - %s\n" % (name, self.status[name]["Version"]))
        return 0

    def cmd_list(self, args):
        for name in sorted(self.available):
            if args and not any(fnmatch.fnmatch(name, a) for a in args):
                continue
            best = self.candidates(name)[0]
            desc = best.get("Description", "").split("\n")[0]
            self.notice("%s - %s%s\n" % (name, best["Version"], (" - " + desc) if desc else ""))
        return 0

    def cmd_list_upgradable(self, args):
        for name in sorted(self.status):
            cands = [c for c in self.candidates(name) if c["Package"] == name]
            if cands and compare_versions(cands[0]["Version"], self.status[name]["Version"]) > 0:
                self.notice("%s - %s - %s\n" % (name, self.status[name]["Version"], cands[0]["Version"]))
        return 0

    def _control(self, name):
        try:
            with open(self.info_path(name, "control"), encoding="utf-8") as f:
                stanzas = parse_stanzas(f.read())
            return stanzas[0] if stanzas else collections.OrderedDict()
        except OSError:
            return collections.OrderedDict()

    def cmd_status(self, args):
        for name in sorted(self.status):
            if args and not any(fnmatch.fnmatch(name, a) for a in args):
                continue
            self.notice(format_stanza(self.status[name], FIELD_ORDER) + "\n")
        return 0

    def cmd_info(self, args):
        names = set(self.status) | set(self.available)
        for name in sorted(names):
            if args and not any(fnmatch.fnmatch(name, a) for a in args):
                continue
            if name in self.status:
                fields = collections.OrderedDict(self._control(name))
                fields.update(self.status[name])
            else:
                fields = collections.OrderedDict(
                    (k, v) for k, v in self.candidates(name)[0].items() if not k.startswith("_"))
                fields["Status"] = "unknown ok not-installed"
            self.notice(format_stanza(fields, FIELD_ORDER) + "\n")
        return 0

    def cmd_files(self, args):
        if not args:
            raise OpkgExit(1)
        name = args[0]
        if name not in self.status:
            return 0
        self.notice("Package %s (%s) is installed on %s and has the following files:\n"
                    % (name, self.status[name]["Version"], self.dest_label))
        for f in self.installed_files(name):
            self.notice(f + "\n")
        return 0

    def cmd_print_architecture(self, args):
        archs = self.archs or collections.OrderedDict([("all", 1), ("noarch", 1)])
        for name, prio in archs.items():
            self.notice("arch %s %d\n" % (name, prio))
        return 0

    # install ---------------------------------------------------------------------------

    def cmd_install(self, args):
        if not args:
            raise OpkgExit(1)
        plan = collections.OrderedDict()
        requested = []
        err = 0
        for arg in args:
            pkg = self._resolve_arg(arg)
            if pkg is None:
                err = 255
                continue
            name = pkg["Package"]
            requested.append(name)
            current = self.status.get(name)
            if current and "reinstall" not in self.force:
                cmp = compare_versions(pkg["Version"], current["Version"])
                if cmp == 0 or (cmp < 0 and "downgrade" not in self.force and "=" not in arg):
                    if cmp < 0:
                        self.notice("Not downgrading package %s on %s from %s to %s.\n"
                                    % (name, self.dest_label, current["Version"], pkg["Version"]))
                    else:
                        self.notice("Package %s (%s) installed in %s is up to date.\n"
                                    % (name, current["Version"], self.dest_label))
                    if self._auto(name):
                        current.pop("Auto-Installed", None)
                        current["Status"] = "install user installed"
                        if not self.noaction:
                            self.write_status()
                    continue
            if not self._plan(pkg, plan, user=True, chain=[]):
                self.error("opkg_install_cmd", "Cannot install package %s." % name)
                err = 255
        if self.noaction:
            for name, (pkg, _user) in plan.items():
                self.notice("Installing %s (%s) to %s...\n" % (name, pkg["Version"], self.dest_label))
            return err
        done = []
        for name, (pkg, user) in plan.items():
            if self._install_one(pkg, user):
                done.append(name)
            else:
                self.error("opkg_install_cmd", "Cannot install package %s." % name)
                err = 255
                break
        for name in done:
            if not self._configure(name):
                err = 255
        self.write_status()
        self.installed_ok = [n for n in requested if n in self.status]
        return err

    def _auto(self, name):
        return self.status.get(name, {}).get("Auto-Installed") == "yes"

    def _resolve_arg(self, arg):
        if arg.endswith(".ipk") and os.path.isfile(arg):
            with open(arg, "rb") as f:
                data = f.read()
            try:
                control, _payload = open_ipk(data)
                fields = parse_stanzas(_member_text(control, "control") or "")[0]
            except (ValueError, tarfile.TarError, IndexError):
                self.error("opkg_install_cmd", "Malformed package file %s." % arg)
                return None
            fields["_local"] = arg
            return fields
        name, dummy, version = arg.partition("=")
        cands = [c for c in self.candidates(name) if c["Package"] == name]
        if version:
            cands = [c for c in cands if c["Version"] == version]
        if not cands:
            self.notice("Unknown package '%s'.\n" % name)
            self.error("opkg_install_cmd", "Cannot install package %s." % name)
            return None
        return cands[0]

    def _plan(self, pkg, plan, user, chain):
        name = pkg["Package"]
        if name in plan:
            if user:
                plan[name] = (plan[name][0], True)
            return True
        if name in chain:
            return True
        if not self.nodeps:
            missing = []
            deps = []
            for group in parse_depends(pkg.get("Depends")) + parse_depends(pkg.get("Pre-Depends")):
                if any(self.installed_provider(*alt) for alt in group):
                    continue
                if any(alt[0] in plan for alt in group):
                    continue
                choice = None
                for alt in group:
                    cands = self.candidates(*alt)
                    if cands:
                        choice = cands[0]
                        break
                if choice is None:
                    missing.append(" | ".join(
                        "%s%s" % (a[0], " (%s %s)" % (a[1], a[2]) if a[1] else "") for a in group))
                else:
                    deps.append(choice)
            if missing and "depends" not in self.force:
                self.error("satisfy_dependencies_for",
                           "Cannot satisfy the following dependencies for %s:" % name)
                for m in missing:
                    self.error("satisfy_dependencies_for", "\t%s" % m)
                return False
            for dep in deps:
                if not self._plan(dep, plan, user=False, chain=chain + [name]):
                    return False
        plan[name] = (pkg, user)
        return True

    def _fetch(self, pkg):
        if "_local" in pkg:
            with open(pkg["_local"], "rb") as f:
                return f.read()
        url = "%s/%s" % (pkg["_feed_url"], pkg["Filename"].lstrip("./"))
        data = self.download(url)
        if data is None:
            return None
        if "checksum" not in self.force:
            if pkg.get("Size") and str(len(data)) != pkg["Size"].strip():
                self.error("opkg_download_pkg", "Package size mismatch: %s is %d bytes, expecting %s bytes"
                           % (pkg["Filename"], len(data), pkg["Size"]))
                return None
            want = pkg.get("SHA256sum")
            if want and hashlib.sha256(data).hexdigest() != want.strip().lower():
                self.error("opkg_install_pkg", "Package %s sha256sum mismatch. Either the opkg or the package "
                           "index are corrupt. Try 'opkg update'." % pkg["Package"])
                return None
        return data

    def _owner(self, path, exclude):
        for other in self.status:
            if other != exclude and path in self.installed_files(other):
                return other
        return None

    def _install_one(self, pkg, user):
        name = pkg["Package"]
        old = self.status.get(name)
        if old and compare_versions(pkg["Version"], old["Version"]) != 0:
            self.notice("Upgrading %s on %s from %s to %s...\n"
                        % (name, self.dest_label, old["Version"], pkg["Version"]))
        else:
            self.notice("Installing %s (%s) to %s...\n" % (name, pkg["Version"], self.dest_label))
        data = self._fetch(pkg)
        if data is None:
            return False
        try:
            control, payload = open_ipk(data)
        except (ValueError, tarfile.TarError) as exc:
            self.error("opkg_install_pkg", "Failed to unpack control files from %s: %s." % (name, exc))
            return False
        fields = parse_stanzas(_member_text(control, "control") or "")
        fields = fields[0] if fields else collections.OrderedDict(Package=name, Version=pkg["Version"])
        conffiles = [c.strip() for c in (_member_text(control, "conffiles") or "").splitlines() if c.strip()]
        members = payload.getmembers()
        try:
            targets = [(_clean_name(m.name), m) for m in members]
        except ValueError as exc:
            self.error("opkg_install_pkg", str(exc))
            return False
        if "overwrite" not in self.force:
            for path, m in targets:
                if m.isdir():
                    continue
                owner = self._owner(path, name)
                if owner:
                    self.error("check_data_file_clashes", "Package %s wants to install file %s\n\tBut that file "
                               "is already provided by package  * %s" % (name, self.dest_path(path), owner))
                    return False
        old_conf = dict(line.split()[:2] for line in (old or {}).get("Conffiles", "").splitlines()
                        if len(line.split()) >= 2)
        if old:
            self._run_script(name, "preinst", "upgrade", control=control)
        else:
            if not self._run_script(name, "preinst", "install", control=control) and "postinstall" not in self.force:
                return False
        files = []
        conf_hashes = []
        for path, m in targets:
            host = self.dest_path(path)
            if m.isdir():
                if not os.path.isdir(host):
                    os.makedirs(host, exist_ok=True)
                    os.chmod(host, m.mode)
                continue
            os.makedirs(os.path.dirname(host), exist_ok=True)
            if m.isfile() and path in conffiles and os.path.exists(host):
                content = payload.extractfile(m).read()
                on_disk = _sha256_file(host)
                if on_disk != hashlib.sha256(content).hexdigest() and (not old or old_conf.get(path) != on_disk):
                    self.notice("Existing conffile %s is different from the conffile in the new package.\n"
                                " The new conffile will be placed at %s-opkg.\n" % (host, host))
                    self._write_member(payload, m, host + "-opkg")
                    conf_hashes.append("%s %s" % (path, on_disk))
                    files.append(path)
                    continue
            self._write_member(payload, m, host)
            files.append(path)
            if path in conffiles and m.isfile():
                conf_hashes.append("%s %s" % (path, _sha256_file(host)))
        if old:
            for stale in set(self.installed_files(name)) - set(files):
                host = self.dest_path(stale)
                if os.path.lexists(host) and not os.path.isdir(host) and stale not in old_conf:
                    os.unlink(host)
        info = self.dest_path(INFO_DIR)
        os.makedirs(info, exist_ok=True)
        with open(self.info_path(name, "control"), "w", encoding="utf-8") as f:
            f.write(format_stanza(fields))
        with open(self.info_path(name, "list"), "w", encoding="utf-8") as f:
            f.write("".join(p + "\n" for p in files))
        for script in ("preinst", "postinst", "prerm", "postrm", "conffiles"):
            text = _member_text(control, script)
            target = self.info_path(name, script)
            if text is not None:
                with open(target, "w", encoding="utf-8") as f:
                    f.write(text)
                os.chmod(target, 0o755 if script != "conffiles" else 0o644)
            elif os.path.exists(target):
                os.unlink(target)
        entry = collections.OrderedDict()
        for k in ("Package", "Version", "Depends", "Provides", "Conflicts", "Essential", "Architecture"):
            if fields.get(k):
                entry[k] = fields[k]
        was_user = old is not None and old.get("Auto-Installed") != "yes"
        entry["Status"] = "install %s unpacked" % ("user" if user or was_user else "ok")
        if conf_hashes:
            entry["Conffiles"] = "\n".join(" " + c for c in conf_hashes)
        entry["Installed-Time"] = str(int(time.time()))
        if not (user or was_user):
            entry["Auto-Installed"] = "yes"
        self.status[name] = entry
        return True

    def _write_member(self, payload, m, host):
        if os.path.lexists(host) and (os.path.isdir(host) and not os.path.islink(host)):
            shutil.rmtree(host)
        tmp = "%s.opkg-new-%d" % (host, os.getpid())
        if m.issym():
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(m.linkname, tmp)
        elif m.islnk():
            source = self.dest_path(_clean_name(m.linkname))
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.link(source, tmp)
        elif m.isfile():
            with open(tmp, "wb") as f:
                shutil.copyfileobj(payload.extractfile(m), f)
            os.chmod(tmp, m.mode & 0o7777)
        else:
            return
        try:
            os.lchown(tmp, m.uid, m.gid)
        except OSError:
            pass
        if m.isfile():
            os.chmod(tmp, m.mode & 0o7777)
        os.rename(tmp, host)

    def _script_env(self):
        env = dict(os.environ)
        env["PKG_ROOT"] = self.path(self.dest)
        if self.offline:
            env["IPKG_INSTROOT"] = self.root.rstrip("/")
        else:
            env.pop("IPKG_INSTROOT", None)
        return env

    def _run_script(self, name, script, arg, control=None):
        if control is not None:
            text = _member_text(control, script)
            if text is None:
                return True
            path = os.path.join(self.dest_path("/tmp"), "opkg-%s.%s.%d" % (name, script, os.getpid()))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, 0o755)
        else:
            path = self.info_path(name, script)
            if not os.path.exists(path):
                return True
        try:
            rc = subprocess.call(["/bin/sh", path, arg], env=self._script_env(),
                                 stdout=sys.stdout, stderr=sys.stderr)
        finally:
            if control is not None and os.path.exists(path):
                os.unlink(path)
        if rc != 0:
            self.error("pkg_run_script", 'package "%s" %s script returned status %d.' % (name, script, rc))
            return False
        return True

    def _configure(self, name):
        self.notice("Configuring %s.\n" % name)
        ok = self._run_script(name, "postinst", "configure")
        if not ok:
            self.error("opkg_configure", "%s.postinst returned %d." % (name, 1))
            if "postinstall" not in self.force:
                return False
        entry = self.status[name]
        entry["Status"] = entry["Status"].replace("unpacked", "installed")
        return True

    # remove ----------------------------------------------------------------------------

    def _dependents(self, name):
        provided = [name] + [d[0][0] for d in parse_depends(self.status[name].get("Provides"))]
        result = []
        for other, s in self.status.items():
            if other == name:
                continue
            for group in parse_depends(s.get("Depends")):
                if any(alt[0] in provided for alt in group):
                    result.append(other)
                    break
        return result

    def cmd_remove(self, args):
        if not args:
            raise OpkgExit(1)
        err = 0
        removed = []
        targets = []
        for arg in args:
            matches = [n for n in self.status if fnmatch.fnmatch(n, arg)]
            if not matches:
                continue
            targets.extend(m for m in matches if m not in targets)
        for name in targets:
            if name not in self.status:
                continue
            dependents = [d for d in self._dependents(name) if d not in targets]
            if dependents and "depends" not in self.force:
                if "removal-of-dependent-packages" in self.force:
                    for dep in dependents:
                        if dep in self.status:
                            self._remove_one(dep)
                            removed.append(dep)
                else:
                    self.error("print_dependents_warning", "Package %s is depended upon by packages:" % name)
                    for d in dependents:
                        self.error("print_dependents_warning", "\t%s" % d)
                    self.error("print_dependents_warning",
                               "These might cease to work if package %s is removed.\n" % name)
                    self.error("print_dependents_warning", "Force removal of this package with --force-depends.")
                    self.error("print_dependents_warning", "Force removal of this package and its dependents")
                    self.error("print_dependents_warning", "with --force-removal-of-dependent-packages.")
                    err = 255
                    continue
            if self.noaction:
                self.notice("Removing package %s from %s...\n" % (name, self.dest_label))
                continue
            self._remove_one(name)
            removed.append(name)
        if self.autoremove and not self.noaction:
            changed = True
            while changed:
                changed = False
                for name in list(self.status):
                    if self._auto(name) and not self._dependents(name):
                        self.notice("%s was autoinstalled and is now orphaned, removing.\n" % name)
                        self._remove_one(name)
                        removed.append(name)
                        changed = True
        if not removed and not err:
            self.notice("No packages removed.\n")
        if not self.noaction:
            self.write_status()
        self.removed_ok = removed
        return err

    def _remove_one(self, name):
        self.notice("Removing package %s from %s...\n" % (name, self.dest_label))
        self._run_script(name, "prerm", "remove")
        conf = dict(line.split()[:2] for line in self.status[name].get("Conffiles", "").splitlines()
                    if len(line.split()) >= 2)
        for path in self.installed_files(name):
            host = self.dest_path(path)
            if path in conf and os.path.isfile(host) and _sha256_file(host) != conf[path]:
                self.notice("Not deleting modified conffile %s.\n" % host)
                continue
            if os.path.lexists(host) and not (os.path.isdir(host) and not os.path.islink(host)):
                if self._owner(path, name):
                    continue
                os.unlink(host)
                self._prune_dirs(os.path.dirname(host))
        self._run_script(name, "postrm", "remove")
        for ext in ("control", "list", "preinst", "postinst", "prerm", "postrm", "conffiles"):
            p = self.info_path(name, ext)
            if os.path.exists(p):
                os.unlink(p)
        del self.status[name]

    def _prune_dirs(self, directory):
        """Remove directories left empty (opkg removes the directories of a package)."""
        stop = os.path.realpath(self.dest_path("/"))
        while os.path.realpath(directory) != stop and directory.startswith(stop):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    # Turris wrapper -------------------------------------------------------------------

    def record_for_updater(self, command):
        """What Turris' opkg wrapper does: tell the updater about packages installed by hand."""
        if not os.path.exists(self.path(_opkg.TURRIS_VERSION)) or self.noaction:
            return
        path = self.path("/" + UPDATER_AUTO)
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        before = list(lines)
        if command == "install":
            for name in getattr(self, "installed_ok", []):
                line = 'Install("%s")' % name
                if line not in lines:
                    lines.append(line)
        elif command == "remove":
            gone = set('Install("%s")' % n for n in getattr(self, "removed_ok", []))
            lines = [line for line in lines if line.strip() not in gone]
        if lines != before:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._write_bytes(path, ("\n".join(lines) + "\n").encode() if lines else b"")


class _VersionKey:
    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return compare_versions(self.v, other.v) < 0

    def __eq__(self, other):
        return compare_versions(self.v, other.v) == 0


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()


COMMANDS = {
    "update": ("cmd_update", True),
    "install": ("cmd_install", True),
    "remove": ("cmd_remove", True),
    "list": ("cmd_list", False),
    "list-installed": ("cmd_list_installed", False),
    "list_installed": ("cmd_list_installed", False),
    "list-upgradable": ("cmd_list_upgradable", False),
    "status": ("cmd_status", False),
    "info": ("cmd_info", False),
    "files": ("cmd_files", False),
    "print-architecture": ("cmd_print_architecture", False),
    "print_architecture": ("cmd_print_architecture", False),
}


def _usage(code=1):
    sys.stderr.write(USAGE)
    return code


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    wrapper = False
    if argv and argv[0] == "--turris-sim-wrapper":
        wrapper = True
        argv = argv[1:]
    kwargs = dict(force=[], add_archs=[])
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]

        def value():
            if "=" in arg and arg.startswith("--"):
                return arg.split("=", 1)[1]
            if i + 1 >= len(argv):
                raise OpkgExit(_usage())
            return argv[i + 1]
        long_arg = arg.split("=", 1)[0]
        if arg == "--":
            positional.extend(argv[i + 1:])
            break
        if arg in ("-v", "--version"):
            sys.stdout.write("opkg version %s\n" % VERSION)
            return 0
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if long_arg in ("-f", "--conf", "-o", "--offline-root", "-d", "--dest", "--add-arch", "-V",
                        "--verbosity", "--tmp-dir", "-t", "--cache", "--lists-dir", "-l"):
            try:
                val = value()
            except OpkgExit as exc:
                return exc.code
            if "=" not in arg:
                i += 1
            if long_arg in ("-f", "--conf"):
                kwargs["conf_file"] = val
            elif long_arg in ("-o", "--offline-root"):
                kwargs["offline_root"] = val
            elif long_arg in ("-d", "--dest"):
                kwargs["dest"] = val
            elif long_arg == "--add-arch":
                kwargs["add_archs"].append(val)
        elif arg.startswith("-V"):
            pass
        elif arg.startswith("--force-"):
            flag = arg[len("--force-"):]
            if flag not in FORCE_FLAGS:
                return _usage()
            kwargs["force"].append(flag)
        elif arg == "--nodeps":
            kwargs["nodeps"] = True
        elif arg == "--noaction":
            kwargs["noaction"] = True
        elif arg == "--autoremove":
            kwargs["autoremove"] = True
        elif arg.startswith("-") and len(arg) > 1:
            sys.stderr.write("opkg: unrecognized option '%s'\n" % arg)
            return _usage()
        else:
            positional.append(arg)
        i += 1
    if not positional:
        return _usage()
    command, args = positional[0], positional[1:]
    if command not in COMMANDS:
        sys.stderr.write("opkg: unknown sub-command %s\n" % command)
        return _usage()
    method, _writes = COMMANDS[command]
    opkg = Opkg(wrapper=wrapper, **kwargs)
    try:
        opkg.load_conf()
        opkg.lock()
        opkg.read_status()
        opkg.load_available()
        rc = getattr(opkg, method)(args)
        if wrapper and rc == 0 and command in ("install", "remove"):
            opkg.record_for_updater(command)
    except OpkgExit as exc:
        rc = exc.code
    except OSError as exc:
        opkg.error("opkg", "%s%s" % (exc.strerror or exc, (": " + exc.filename) if exc.filename else ""))
        rc = 255
    opkg.flush_errors()
    if opkg.lock_fd is not None:
        os.close(opkg.lock_fd)
    return rc


if __name__ == "__main__":
    sys.exit(main())

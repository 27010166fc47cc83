#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test opkg feeds for the router simulator: .ipk files in OpenWrt's layout and a signed index.

Library (used by the unit tests and the simulator build):
  build_ipk(out_dir, control, files=..., scripts=..., conffiles=...) -> path of NAME_VERSION_ARCH.ipk
  write_index(feed_dir, secret_key_path)  -> Packages, Packages.gz, Packages.sig (usign)
  serve(directory)                        -> (server, base_url) on 127.0.0.1, in a thread

Command line:
  feed.py keygen --secret KEY.sec --public KEY.pub [--comment TEXT]
  feed.py index  --dir FEED_DIR --key KEY.sec
  feed.py serve  --dir FEED_DIR [--host 127.0.0.1] [--port 8080]
(Repacking Debian packages into a feed, ``build``, is still to come.)
"""
import argparse
import functools
import gzip
import hashlib
import http.server
import io
import os
import sys
import tarfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_LIB = os.path.join(HERE, "rootfs", "usr", "lib", "turris-sim")
if SIM_LIB not in sys.path:
    sys.path.insert(0, SIM_LIB)

import usign_sim  # noqa: E402  pylint: disable=wrong-import-position
import opkg_sim  # noqa: E402  pylint: disable=wrong-import-position

# Fixed timestamp so that rebuilding a package gives the same bytes (and the same SHA256).
MTIME = 1700000000
CONTROL_ORDER = ("Package", "Version", "Depends", "Provides", "Conflicts", "Source", "SourceName",
                 "License", "Section", "SourceDateEpoch", "Maintainer", "Architecture",
                 "Installed-Size", "Description")
INDEX_ORDER = ("Package", "Version", "Depends", "Provides", "Conflicts", "Source", "SourceName",
               "License", "Section", "SourceDateEpoch", "Maintainer", "Architecture",
               "Installed-Size", "Filename", "Size", "SHA256sum", "Description")


def _tar_gz(entries):
    """gzip'd tar of entries [(name, bytes or None for a dir, mode, symlink target or None)]."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mode, link in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = mode
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=MTIME) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _data_entries(files, tree=None):
    """Tar entries for the payload: ``files`` {"/usr/bin/x": bytes | (bytes, mode) | ("->", target)},
    ``tree`` a staging directory copied as is."""
    entries = {"./": (None, 0o755, None)}

    def add_dirs(path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("./" + "/".join(parts[:i]) + "/", (None, 0o755, None))

    for path, spec in sorted((files or {}).items()):
        add_dirs(path)
        if isinstance(spec, tuple) and spec and spec[0] == "->":
            entries["./" + path.strip("/")] = (None, 0o777, spec[1])
        elif isinstance(spec, tuple):
            entries["./" + path.strip("/")] = (spec[0], spec[1], None)
        else:
            entries["./" + path.strip("/")] = (spec, 0o644, None)
    if tree:
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel = os.path.relpath(dirpath, tree)
            for d in dirnames:
                full = os.path.join(dirpath, d)
                name = "./" + os.path.normpath(os.path.join(rel, d)) + "/"
                if os.path.islink(full):
                    entries[name.rstrip("/")] = (None, 0o777, os.readlink(full))
                else:
                    entries[name] = (None, os.stat(full).st_mode & 0o7777, None)
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                name = "./" + os.path.normpath(os.path.join(rel, f))
                if os.path.islink(full):
                    entries[name] = (None, 0o777, os.readlink(full))
                else:
                    with open(full, "rb") as fh:
                        entries[name] = (fh.read(), os.stat(full).st_mode & 0o7777, None)
    return [(name, data, mode, link) for name, (data, mode, link) in sorted(entries.items())]


def build_ipk(out_dir, control, files=None, scripts=None, conffiles=(), tree=None):
    """Write NAME_VERSION_ARCH.ipk as OpenWrt's scripts/ipkg-build does and return its path.

    ``control``: dict of control fields (Package, Version, Architecture required).
    ``scripts``: {"postinst": "#!/bin/sh\\n...", "prerm": ...}.
    """
    for field in ("Package", "Version", "Architecture"):
        if not control.get(field):
            raise ValueError("control field %s is required" % field)
    data_entries = _data_entries(files, tree)
    installed_size = sum(len(d) for _n, d, _m, _l in data_entries if d is not None)
    fields = dict(control)
    fields.setdefault("Installed-Size", str(installed_size))
    fields.setdefault("Description", fields["Package"])
    control_text = opkg_sim.format_stanza(
        dict((k, v) for k, v in fields.items() if v), CONTROL_ORDER)
    ctl = [("./", None, 0o755, None), ("./control", control_text.encode(), 0o644, None)]
    if conffiles:
        ctl.append(("./conffiles", "".join(c + "\n" for c in conffiles).encode(), 0o644, None))
    for name, text in sorted((scripts or {}).items()):
        ctl.append(("./" + name, text.encode(), 0o755, None))
    outer = _tar_gz([
        ("./debian-binary", b"2.0\n", 0o644, None),
        ("./data.tar.gz", _tar_gz(data_entries), 0o644, None),
        ("./control.tar.gz", _tar_gz(ctl), 0o644, None),
    ])
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s_%s_%s.ipk" % (fields["Package"], fields["Version"], fields["Architecture"]))
    with open(path, "wb") as f:
        f.write(outer)
    return path


def index_text(feed_dir):
    """The Packages index of every .ipk in ``feed_dir`` (OpenWrt's ipkg-make-index)."""
    stanzas = []
    for fname in sorted(os.listdir(feed_dir)):
        if not fname.endswith(".ipk"):
            continue
        with open(os.path.join(feed_dir, fname), "rb") as f:
            data = f.read()
        control, _payload = opkg_sim.open_ipk(data)
        fields = opkg_sim.parse_stanzas(opkg_sim._member_text(control, "control"))[0]  # pylint: disable=protected-access
        fields["Filename"] = fname
        fields["Size"] = str(len(data))
        fields["SHA256sum"] = hashlib.sha256(data).hexdigest()
        stanzas.append(opkg_sim.format_stanza(fields, INDEX_ORDER))
    return "\n".join(stanzas) + ("\n" if stanzas else "")


def write_index(feed_dir, secret_key_path=None):
    """Write Packages, Packages.gz and (with a key) Packages.sig in ``feed_dir``."""
    text = index_text(feed_dir).encode()
    with open(os.path.join(feed_dir, "Packages"), "wb") as f:
        f.write(text)
    with open(os.path.join(feed_dir, "Packages.gz"), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=MTIME) as gz:
            gz.write(text)
    if secret_key_path:
        with open(secret_key_path, "rb") as f:
            key = usign_sim.parse_secret_key(f.read())
        with open(os.path.join(feed_dir, "Packages.sig"), "w") as f:
            f.write(usign_sim.sign(key, text))
    return text


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def serve(directory, host="127.0.0.1", port=0):
    """Serve ``directory`` over HTTP in a daemon thread; returns (server, base_url).
    Stop with server.shutdown(); server.server_close()."""
    handler = functools.partial(_QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, "http://%s:%d" % (host, server.server_address[1])


def keygen(secret_path, public_path, comment=None):
    key = usign_sim.generate(comment)
    with open(secret_path, "w") as f:
        f.write(usign_sim.format_secret_key(key))
    os.chmod(secret_path, 0o600)
    with open(public_path, "w") as f:
        f.write(usign_sim.format_public_key(key))
    return key.fingerprint_hex


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="make a usign key pair")
    p.add_argument("--secret", required=True)
    p.add_argument("--public", required=True)
    p.add_argument("--comment")
    p = sub.add_parser("index", help="(re)write Packages, Packages.gz, Packages.sig of a directory of .ipk")
    p.add_argument("--dir", required=True)
    p.add_argument("--key", help="usign secret key; without it no Packages.sig")
    p = sub.add_parser("serve", help="serve a directory over HTTP until interrupted")
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.command == "keygen":
        print(keygen(args.secret, args.public, args.comment))
    elif args.command == "index":
        write_index(args.dir, args.key)
    elif args.command == "serve":
        server, url = serve(args.dir, args.host, args.port)
        print(url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the docker role's verification image on the controller, without Docker: an archive in
`docker save` format (manifest.json, the image config, one layer.tar) whose only content is a
static busybox (Debian's busybox-static, /bin/busybox), as `docker load` reads it.

The simulated routers run on the controller's CPU, so the controller's busybox is the right one;
for a real router, give a busybox-static built for its CPU (--busybox) and its --arch.

    verify_image.py OUT.tar [--busybox /bin/busybox] [--name turris-containers/verify:1] [--arch amd64]
"""
import argparse
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

MTIME = 1700000000
CREATED = "2023-11-14T22:13:20Z"
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc": "ppc",
          "ppc64le": "ppc64le", "i686": "386"}


def _add(tar, name, data=None, mode=0o644, link=None, directory=False):
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        tar.addfile(info)
    elif directory:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _tar(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for args, kwargs in entries:
            _add(tar, *args, **kwargs)
    return raw.getvalue()


def layer(busybox):
    """The root filesystem: /bin/busybox, /bin/sh, and the directories a container expects."""
    with open(busybox, "rb") as fh:
        binary = fh.read()
    entries = [(("bin/",), {"mode": 0o755, "directory": True}),
               (("bin/busybox", binary), {"mode": 0o755}),
               (("bin/sh",), {"mode": 0o777, "link": "busybox"})]
    for d in ("dev/", "etc/", "proc/", "sys/", "tmp/"):
        entries.append(((d,), {"mode": 0o1777 if d == "tmp/" else 0o755, "directory": True}))
    entries.append((("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n"), {}))
    return _tar(entries)


def build(out, busybox="/bin/busybox", name="turris-containers/verify:1", arch=None):
    """Write the image archive to ``out``; returns the image ID (sha256 of its config)."""
    arch = arch or GOARCH.get(platform.machine(), platform.machine())
    layer_tar = layer(busybox)
    diff_id = hashlib.sha256(layer_tar).hexdigest()
    config = json.dumps({
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {"Cmd": ["/bin/busybox", "sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": CREATED, "created_by": "tests/integration/docker/verify_image.py"}],
    }, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(config).hexdigest()
    repo, tag = name.rsplit(":", 1) if ":" in name.rsplit("/", 1)[-1] else (name, "latest")
    manifest = json.dumps([{"Config": image_id + ".json", "RepoTags": ["%s:%s" % (repo, tag)],
                            "Layers": [diff_id + "/layer.tar"]}]).encode()
    archive = _tar([
        ((diff_id + "/",), {"mode": 0o755, "directory": True}),
        ((diff_id + "/VERSION", b"1.0"), {}),
        ((diff_id + "/layer.tar", layer_tar), {}),
        ((image_id + ".json", config), {}),
        (("manifest.json", manifest), {}),
        (("repositories", json.dumps({repo: {tag: diff_id}}).encode()), {}),
    ])
    tmp = out + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(archive)
    os.replace(tmp, out)
    return "sha256:" + image_id


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--busybox", default="/bin/busybox")
    p.add_argument("--name", default="turris-containers/verify:1")
    p.add_argument("--arch")
    args = p.parse_args(argv)
    if not os.path.isfile(args.busybox):
        print("verify_image.py: %s is missing: install busybox-static" % args.busybox, file=sys.stderr)
        return 2
    print(build(args.out, args.busybox, args.name, args.arch))
    return 0


if __name__ == "__main__":
    sys.exit(main())

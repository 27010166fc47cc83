# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Turris boards and how to recognise them. Private to this collection: no stable API."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# board -> what the rest of the collection needs to know about it.
# arch: the CPU family; lxc_arch: the arch name of the Turris LXC image server (uname -m
# of the board: armv7l, aarch64, and ppc for the PowerPC Turris 1.x).
BOARDS = {
    "turris1x": {"arch": "powerpc", "lxc_arch": "ppc", "opkg_arch": "powerpc_8548",
                 "target": "mpc85xx/p2020"},
    "omnia": {"arch": "armv7", "lxc_arch": "armv7l", "opkg_arch": "arm_cortex-a9_vfpv3-d16",
              "target": "mvebu/cortexa9"},
    "mox": {"arch": "aarch64", "lxc_arch": "aarch64", "opkg_arch": "aarch64_cortex-a53",
            "target": "mvebu/cortexa53"},
}


def split_sections(text):
    """Split ``==> path`` delimited output (one ``cat`` per file) into {path: content}."""
    files = {}
    current = None
    for line in text.splitlines():
        if line.startswith("==> "):
            current = line[4:].strip()
            files[current] = []
        elif current is not None:
            files[current].append(line)
    return dict((k, "\n".join(v).strip()) for k, v in files.items())


def parse_release(text):
    """Shell-style KEY='value' lines of /etc/openwrt_release."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if "=" not in line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def opkg_arch(opkg_conf):
    """The board's own opkg architecture: the highest-priority ``arch`` line, all/noarch aside."""
    best = None
    for line in opkg_conf.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "arch" and fields[1] not in ("all", "noarch"):
            try:
                prio = int(fields[2]) if len(fields) > 2 else 0
            except ValueError:
                prio = 0
            if best is None or prio >= best[0]:
                best = (prio, fields[1])
    return best[1] if best else None


def recognise(board_name, model, release_arch, target):
    """Board key from what the router says about itself, or None."""
    probe = " ".join([board_name or "", model or ""]).lower()
    if "omnia" in probe:
        return "omnia"
    if "mox" in probe:
        return "mox"
    if "turris1x" in probe or "turris 1." in probe or board_name.strip().lower() == "turris":
        return "turris1x"
    # Older Turris OS releases on the Turris 1.x had no sysinfo: the build target tells.
    if (target or "").startswith("mpc85xx") or (release_arch or "").startswith(("powerpc", "mpc85xx")):
        return "turris1x"
    return None


def identity(text):
    """Facts from the ``==> path`` output of the bootstrap role's single read."""
    files = split_sections(text)
    release = parse_release(files.get("/etc/openwrt_release", ""))
    board_name = files.get("/tmp/sysinfo/board_name", "")
    model = files.get("/tmp/sysinfo/model", "")
    arch_line = opkg_arch(files.get("/etc/opkg.conf", "")) or release.get("DISTRIB_ARCH")
    board = recognise(board_name, model, release.get("DISTRIB_ARCH"), release.get("DISTRIB_TARGET"))
    info = BOARDS.get(board, {})
    version = files.get("/etc/turris-version", "") or release.get("DISTRIB_RELEASE", "")
    return {
        "board": board,
        "board_name": board_name,
        "model": model,
        "arch": info.get("arch"),
        "lxc_arch": info.get("lxc_arch"),
        "opkg_arch": arch_line or info.get("opkg_arch"),
        "os_version": version.strip() or None,
        "target": release.get("DISTRIB_TARGET"),
    }

#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: opkg_feed
short_description: Manage an opkg package feed, its usign key and its Turris updater registration
version_added: 0.1.0
description:
  - Declares one opkg feed (a C(src/gz NAME URL) line) in an opkg configuration file,
    installs the usign public key that signs its index as C(/etc/opkg/keys/<fingerprint>)
    (the name C(usign -F) prints and C(opkg-key add) uses), and on Turris OS registers
    the feed with the updater (C(pkgupdate)) in a C(/etc/updater/conf.d) file of its own,
    because the updater removes packages that come from feeds it does not know.
  - Signature checking stays on. The module never removes C(option check_signature); a feed
    without a key needs an explicit O(trusted=false) and gets a warning.
  - A feed name declared in another opkg configuration file (C(/etc/opkg.conf),
    C(/etc/opkg/*.conf)) is an error that names both files, because opkg would skip one of them.
  - Edits keep the other lines and comments of the file; files are written atomically
    and keep their mode and owner. When a write fails (a full disk, a read-only filesystem), the
    module fails naming the file, which is as it was; C(changed) is false unless another of the
    files was already written.
author:
  - turris.containers contributors (!UNKNOWN)
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details: Nothing is written and C(opkg update) is not run; C(changed) and the diff are computed.
  diff_mode:
    support: full
    details: One diff per file that changes (feed file, key file, updater file).
  idempotent:
    support: full
    details: With O(update_cache=true), C(opkg update) runs on every run; it is not counted as a change.
options:
  name:
    description:
      - Feed name, also the list file name in opkg's C(lists_dir) and the updater repository name.
      - 1 to 64 characters from C(A-Z a-z 0-9 _ . + -), starting with a letter or digit.
    type: str
    required: true
  url:
    description:
      - Base URL of the feed; opkg fetches C(URL/Packages.gz) (and C(URL/Packages.sig)).
      - Schemes C(http), C(https), C(ftp), C(file). Required when O(state=present).
    type: str
  state:
    description:
      - V(present) declares the feed; V(absent) removes its line, its updater file and,
        when O(key) is given, its key.
    type: str
    choices: [present, absent]
    default: present
  compressed:
    description:
      - V(true) writes C(src/gz) (the index is C(Packages.gz)), the only form the Turris updater reads.
      - V(false) writes C(src) (plain C(Packages)); the feed is then not registered with the updater.
    type: bool
    default: true
  key:
    description:
      - The usign public key that signs the feed index, as the text of a C(.pub) file
        (C(untrusted comment:) line and base64 line, or only the base64 line), or the path
        of such a file on the managed host.
      - Installed as C(/etc/opkg/keys/<fingerprint>), 16 lowercase hex digits.
      - Use P(ansible.builtin.file#lookup) to send a key file from the controller.
    type: str
  trusted:
    description:
      - Must be set to V(false) to declare a feed without O(key). opkg then keeps its index
        only if some key already in C(/etc/opkg/keys) signs it (while C(check_signature) is on).
    type: bool
    default: true
  file:
    description:
      - The opkg configuration file that holds the feed line (a path inside O(root)).
      - opkg reads only C(/etc/opkg.conf) and C(/etc/opkg/*.conf).
    type: path
    default: /etc/opkg/customfeeds.conf
  updater:
    description:
      - Register the feed with the Turris updater in C(/etc/updater/conf.d/turris-containers-feed-<name>.lua).
      - V(auto) does so on Turris OS (when C(/etc/turris-version) exists); V(always) and V(never) force it.
    type: str
    choices: [auto, always, never]
    default: auto
  update_cache:
    description:
      - Run C(opkg update) afterwards and fail unless opkg kept the feed's index
        (downloaded and, with C(check_signature), verified).
    type: bool
    default: false
  root:
    description:
      - Root directory of the system to configure, like opkg's C(--offline-root); every other
        path is taken inside it. For images and tests.
    type: path
    default: /
notes:
  - Packages are installed with M(community.general.opkg); on Turris OS also list them for the updater.
seealso:
  - module: community.general.opkg
"""

EXAMPLES = r"""
- name: Add the patched Docker feed of the Turris 1.x with its signing key
  turris.containers.opkg_feed:
    name: turris_docker
    url: https://feeds.example.org/turris1x/docker
    key: "{{ lookup('ansible.builtin.file', 'files/docker-feed.pub') }}"
    update_cache: true

- name: Use a key file already on the router
  turris.containers.opkg_feed:
    name: local_feed
    url: http://192.0.2.1/feed
    key: /root/feed.pub

- name: A feed without a key of its own (warned about)
  turris.containers.opkg_feed:
    name: mirror
    url: https://mirror.example.org/packages
    trusted: false

- name: Remove the feed, its updater registration and its key
  turris.containers.opkg_feed:
    name: turris_docker
    state: absent
    key: "{{ lookup('ansible.builtin.file', 'files/docker-feed.pub') }}"
"""

RETURN = r"""
fingerprint:
  description: Fingerprint of O(key) (16 lowercase hex digits, as C(usign -F)); null without a key.
  returned: always
  type: str
  sample: b8b13ca0718d2efe
key_file:
  description: Path of the installed key; null without a key.
  returned: always
  type: str
  sample: /etc/opkg/keys/b8b13ca0718d2efe
line:
  description: The feed line written (null when O(state=absent)).
  returned: always
  type: str
  sample: src/gz turris_docker https://feeds.example.org/turris1x/docker
file:
  description: The opkg configuration file edited.
  returned: always
  type: str
  sample: /etc/opkg/customfeeds.conf
updater_file:
  description: The updater registration file managed; null when the updater is not used.
  returned: always
  type: str
  sample: /etc/updater/conf.d/turris-containers-feed-turris_docker.lua
check_signature:
  description: Whether C(option check_signature) is set in the opkg configuration.
  returned: always
  type: bool
  sample: true
cache_updated:
  description: Whether C(opkg update) ran.
  returned: always
  type: bool
  sample: false
"""

import glob
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.turris.containers.plugins.module_utils import _files
from ansible_collections.turris.containers.plugins.module_utils import _opkg
from ansible_collections.turris.containers.plugins.module_utils import _usign
from ansible_collections.turris.containers.plugins.module_utils import _validate

# opkg configuration files and updater files are a few lines; a bigger one is not what we edit
CONF_MAX_BYTES = 1024 * 1024


class FeedManager:
    """Decides the file contents for one feed, then writes them."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.root = self.params["root"] or "/"
        self.changes = []  # (path, before or None, after or None)
        self.result = dict(changed=False, fingerprint=None, key_file=None, line=None,
                           file=self.params["file"], updater_file=None,
                           check_signature=False, cache_updated=False)

    def path(self, router_path):
        """Host path of a router path under ``root``."""
        return os.path.join(self.root, router_path.lstrip("/"))

    def read(self, router_path):
        host = self.path(router_path)
        if not os.path.lexists(host):
            return None
        try:
            # only a regular file, never a FIFO (it would block) nor a device; size-capped
            data = _validate.read_regular("file %s" % router_path, host, CONF_MAX_BYTES)
            return to_text(data, errors="surrogate_or_strict")
        except (_validate.ValidationError, UnicodeError) as exc:
            if not os.path.exists(host):
                return None
            self.module.fail_json(msg="cannot read %s: %s" % (host, to_native(exc)))

    def plan(self, router_path, after):
        before = self.read(router_path)
        if before != after:
            self.changes.append((router_path, before, after))

    # -- validation -------------------------------------------------------------------

    def parse_key(self):
        key = self.params["key"]
        if key is None:
            return None
        text = key
        single = key.strip()
        source = "key"
        if "\n" not in single:
            candidate = single
            if os.path.lexists(candidate):
                self.check("key", candidate)
                source = "key file %s" % candidate
                try:
                    # a regular file of at most 4 KiB (a .pub file is about 110 bytes): never a FIFO,
                    # a device or a big file; its content is never printed
                    text = to_text(_validate.read_regular("key", candidate, _validate.KEY_FILE_MAX_BYTES),
                                   errors="surrogate_or_strict")
                except (_validate.ValidationError, UnicodeError) as exc:
                    self.module.fail_json(msg="key file %s cannot be used: %s" % (candidate, to_native(exc)))
            elif single.startswith(("/", "./", "../")):
                self.check("key", candidate)
                self.module.fail_json(msg="key %r: no such file on the managed host; give the text of a "
                                          "usign public key or the path of a .pub file" % candidate)
        # the key text (given, or read from a file) is never shown, only where it came from
        if _validate.control_characters(text, "\n\r"):
            self.module.fail_json(msg="%s holds control characters other than line breaks: a usign public "
                                      "key is a line 'untrusted comment: ...' and a line of base64 (content "
                                      "not shown)" % source)
        try:
            return _usign.parse_public_key(text)
        except _usign.UsignError as exc:
            self.module.fail_json(msg="%s is not a usign public key (%s); expected the text or path of a "
                                      "file written by 'usign -G -p KEY.pub': a line 'untrusted comment: ...' "
                                      "and a line of base64" % (source, to_native(exc)))

    def check(self, field, value, **kwargs):
        try:
            _validate.check_no_control(field, value, **kwargs)
        except _validate.ValidationError as exc:
            self.module.fail_json(msg=to_native(exc))

    def validate(self):
        params = self.params
        # every value that reaches the feed line, the updater's Lua file or opkg's command line:
        # a newline in a Lua comment would make the next line Lua that the updater runs as root
        for field in ("name", "url", "file", "root"):
            self.check(field, params[field])
        try:
            _opkg.check_feed_name(params["name"])
            if params["state"] == "present":
                _opkg.check_feed_url(params["url"])
        except _opkg.OpkgConfError as exc:
            self.module.fail_json(msg=to_native(exc))
        key = self.parse_key()
        if params["state"] == "present":
            if key is None and params["trusted"]:
                self.module.fail_json(
                    msg="feed %s has no key: give key (the usign public key that signs its Packages index), "
                        "or set trusted: false to declare it without one" % params["name"])
            if key is not None and not params["trusted"]:
                self.module.fail_json(msg="feed %s: key and trusted: false contradict each other; "
                                          "drop one of them" % params["name"])
        if not params["file"].startswith("/"):
            self.module.fail_json(msg="file %r must be an absolute path (inside root)" % params["file"])
        if not os.path.isdir(self.root):
            self.module.fail_json(msg="root %s is not a directory" % self.root)
        try:
            # no "..", no symbolic link that leads out of root
            _validate.check_path_inside("file", self.root, params["file"])
        except _validate.ValidationError as exc:
            self.module.fail_json(msg=to_native(exc))
        return key

    # -- decisions --------------------------------------------------------------------

    def conf_files(self):
        """Router paths of the opkg configuration files opkg reads, plus ``file``."""
        paths = [_opkg.MAIN_CONF]
        pattern = os.path.join(self.path(_opkg.CONF_DIR), "*.conf")
        for host in sorted(glob.glob(pattern)):
            paths.append(_opkg.CONF_DIR + "/" + os.path.basename(host))
        if self.params["file"] not in paths:
            paths.append(self.params["file"])
        return paths

    def check_duplicates(self, texts):
        name = self.params["name"]
        target = self.params["file"]
        others = [p for p in texts if p != target and texts[p] is not None and _opkg.feed_entries(texts[p], name)]
        if others:
            self.module.fail_json(
                msg="feed %s is declared in %s, and this task manages it in %s: opkg takes a feed name "
                    "once; remove it from %s or choose another name"
                    % (name, " and ".join(others), target, " and ".join(others)))

    def use_updater(self):
        mode = self.params["updater"]
        if mode == "always":
            return True
        if mode == "never":
            return False
        return os.path.exists(self.path(_opkg.TURRIS_VERSION))

    def decide(self, key):
        params = self.params
        name = params["name"]
        present = params["state"] == "present"
        target = params["file"]

        paths = self.conf_files()
        texts = dict((p, self.read(p)) for p in paths)
        self.check_duplicates(texts)
        if target != _opkg.MAIN_CONF and not (os.path.dirname(target) == _opkg.CONF_DIR and target.endswith(".conf")):
            self.module.warn("opkg reads only %s and %s/*.conf: it will not see %s"
                             % (_opkg.MAIN_CONF, _opkg.CONF_DIR, target))
        self.result["check_signature"] = any(
            "check_signature" in _opkg.options(t) for t in texts.values() if t is not None)

        current = texts[target] or ""
        if present:
            line = _opkg.feed_line(name, params["url"], params["compressed"])
            self.result["line"] = line
            new = _opkg.set_feed(current, name, line)
        else:
            new = _opkg.remove_feed(current, name)
        if texts[target] is not None or new:
            self.plan(target, new)

        key_path = None
        if key is not None:
            key_path = _opkg.KEYS_DIR + "/" + key.fingerprint
            self.result["fingerprint"] = key.fingerprint
            self.result["key_file"] = key_path
            existing = self.read(key_path)
            if present:
                if existing is None or not _usign.same_key(existing, _usign.format_public_key(key)):
                    comment = key.comment if key.comment else "key of opkg feed %s" % name
                    self.changes.append((key_path, existing, _usign.format_public_key(key, comment)))
                if not self.result["check_signature"]:
                    self.module.warn("option check_signature is not set in the opkg configuration: opkg does "
                                     "not verify feed signatures, the key %s is not used" % key.fingerprint)
            elif existing is not None:
                self.changes.append((key_path, existing, None))
        elif present:
            self.module.warn("feed %s has no key (trusted: false): while check_signature is on, opkg update drops "
                             "its index unless a key already in %s signs it" % (name, _opkg.KEYS_DIR))

        if self.use_updater():
            updater_path = _opkg.UPDATER_CONF_DIR + "/" + _opkg.updater_file_name(name)
            self.result["updater_file"] = updater_path
            if present and params["compressed"]:
                lua = _opkg.updater_repository(name, params["url"], [key_path] if key_path else [], target)
                self.plan(updater_path, lua)
            else:
                if present:
                    self.module.warn("the Turris updater reads only src/gz feeds: feed %s (compressed: false) is "
                                     "not registered with it, and packages from it may be removed by an update"
                                     % name)
                if self.read(updater_path) is not None:
                    self.plan(updater_path, None)

    # -- actions ----------------------------------------------------------------------

    def write(self, router_path, content):
        host = self.path(router_path)
        directory = os.path.dirname(host)
        if not os.path.isdir(directory):
            try:
                os.makedirs(directory, 0o755)
            except OSError as exc:
                raise _files.FileWriteError(host, "cannot create %s: %s" % (directory, exc.strerror), exc.errno)
        _files.write_atomic(host, to_bytes(content))

    def apply(self):
        done = []
        try:
            for router_path, dummy, after in self.changes:
                if after is None:
                    _files.remove(self.path(router_path))
                else:
                    self.write(router_path, after)
                done.append(self.path(router_path))
        except _files.FileWriteError as exc:
            # each file is replaced whole or not at all; files written before this one stay
            self.result["changed"] = bool(done)
            msg = "%s; that file is unchanged" % exc
            if done:
                msg += " (already written: %s; run again once the cause is fixed)" % ", ".join(done)
            self.module.fail_json(msg=msg, **self.result)

    def update_cache(self):
        opkg = self.module.get_bin_path("opkg", required=True)
        cmd = [opkg]
        if os.path.realpath(self.root) != "/":
            cmd += ["--offline-root", self.root, "-f", self.path(_opkg.MAIN_CONF)]
        cmd.append("update")
        rc, out, err = self.module.run_command(cmd, environ_update=dict(LANG="C", LC_ALL="C"))
        self.result["cache_updated"] = True
        if self.params["state"] != "present":
            return
        texts = [t for t in (self.read(p) for p in self.conf_files()) if t is not None]
        listed = self.path(_opkg.lists_dir(texts).rstrip("/") + "/" + self.params["name"])
        if not os.path.exists(listed):
            self.module.fail_json(
                msg="opkg update did not keep the index of feed %s (download or signature check failed, rc %d)"
                    % (self.params["name"], rc), rc=rc, stdout=out, stderr=err, **self.result)

    def run(self):
        key = self.validate()
        self.decide(key)
        changed = bool(self.changes)
        self.result["changed"] = changed
        if self.module._diff:
            self.result["diff"] = [
                dict(before_header=self.path(p) if before is not None else "/dev/null",
                     after_header=self.path(p) if after is not None else "/dev/null",
                     before=before or "", after=after or "")
                for p, before, after in self.changes]
        for router_path, dummy, dummy in self.changes:
            try:
                # also the key and updater files: a symbolic link in root must not lead out of it
                _validate.check_path_inside("file", self.root, router_path)
            except _validate.ValidationError as exc:
                self.module.fail_json(msg="%s; nothing was changed" % to_native(exc),
                                      **dict(self.result, changed=False))
        if not self.module.check_mode:
            self.apply()
            if self.params["update_cache"]:
                self.update_cache()
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            url=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            compressed=dict(type="bool", default=True),
            key=dict(type="str", no_log=False),
            trusted=dict(type="bool", default=True),
            file=dict(type="path", default=_opkg.CUSTOM_FEEDS),
            updater=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            update_cache=dict(type="bool", default=False),
            root=dict(type="path", default="/"),
        ),
        required_if=[("state", "present", ["url"])],
        supports_check_mode=True,
    )
    FeedManager(module).run()


if __name__ == "__main__":
    main()

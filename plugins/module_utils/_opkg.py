# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) turris.containers contributors

# This module_utils is PRIVATE to the turris.containers collection: it may change
# or go away at any time, without notice. Do not use it from other collections.

"""opkg configuration files and Turris updater feed registration, as pure functions.

Grammar (openwrt/opkg-lede ``libopkg/opkg_conf.c``): a line is blank, a comment (first
non-blank character ``#``), or ``TYPE NAME VALUE [EXTRA]`` where each of the first three
fields is ``"quoted"`` or a run of non-blanks. Types: ``src``, ``src/gz``, ``dist``,
``dist/gz``, ``dest``, ``lists_dir``, ``arch``, ``option``. opkg reads ``/etc/opkg.conf``
then ``/etc/opkg/*.conf``; a second source with a name already seen is skipped with an
error, so a feed name must be unique across all those files.

The functions here only turn text into text; reading and writing files is the caller's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

MAIN_CONF = "/etc/opkg.conf"
CONF_DIR = "/etc/opkg"
CUSTOM_FEEDS = "/etc/opkg/customfeeds.conf"
KEYS_DIR = "/etc/opkg/keys"
DEFAULT_LISTS_DIR = "/var/opkg-lists"
UPDATER_CONF_DIR = "/etc/updater/conf.d"
TURRIS_VERSION = "/etc/turris-version"
UPDATER_FILE_PREFIX = "turris-containers-feed-"

SOURCE_TYPES = ("src", "src/gz", "dist", "dist/gz")
KNOWN_TYPES = SOURCE_TYPES + ("dest", "lists_dir", "arch", "option")

# A feed name is one opkg field, a file name in lists_dir and a Lua string: keep it plain.
FEED_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")
URL_SCHEMES = ("http", "https", "ftp", "file")
URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^\s\"'\\\x00-\x1f\x7f-\x9f]+)\Z")

_COMMENT_RE = re.compile(r"^\s*(#.*|\s*)$")
_FIELD = r"(\"([^\"]*)\"|([^\s]*))"
_VALID_LINE_RE = re.compile(r"^\s*" + _FIELD + r"\s*" + _FIELD + r"\s*" + _FIELD + r"(\s+([^\s]+))?\s*$")

ConfLine = collections.namedtuple("ConfLine", ["lineno", "type", "name", "value", "extra", "raw"])


class OpkgConfError(ValueError):
    """Input that cannot become a valid opkg configuration."""


def _field(match, quoted, plain):
    value = match.group(quoted)
    return value if value is not None else (match.group(plain) or "")


def parse_conf(text):
    """Entries of an opkg configuration text, as opkg reads them.

    Returns (entries, errors): ``entries`` is a list of ConfLine (1-based ``lineno``),
    ``errors`` a list of (lineno, line) that opkg ignores as invalid.
    """
    entries = []
    errors = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        if _COMMENT_RE.match(line):
            continue
        match = _VALID_LINE_RE.match(line)
        if not match:
            errors.append((lineno, line))
            continue
        ctype = _field(match, 2, 3)
        name = _field(match, 5, 6)
        value = _field(match, 8, 9)
        extra = match.group(11)
        if ctype not in KNOWN_TYPES:
            errors.append((lineno, line))
            continue
        entries.append(ConfLine(lineno, ctype, name, value, extra, line))
    return entries, errors


def sources(text):
    """The package sources (``src``/``src/gz``/``dist``...) declared in a text."""
    return [e for e in parse_conf(text)[0] if e.type in SOURCE_TYPES]


def options(text):
    """``option`` entries of a text as a dict name -> value ('' for a bare boolean option)."""
    return dict((e.name, e.value) for e in parse_conf(text)[0] if e.type == "option")


def lists_dir(texts):
    """The lists directory opkg uses for the given texts (the last ``lists_dir`` wins)."""
    result = DEFAULT_LISTS_DIR
    for text in texts:
        for entry in parse_conf(text)[0]:
            if entry.type == "lists_dir" and entry.value:
                result = entry.value
    return result


def check_feed_name(name):
    """Raise OpkgConfError unless ``name`` can be an opkg feed name."""
    if not FEED_NAME_RE.match(name or ""):
        raise OpkgConfError(
            "invalid feed name %r: use 1 to 64 characters from A-Z a-z 0-9 _ . + -, starting "
            "with a letter or digit (no spaces: opkg splits its lines on blanks)" % (name,))


def check_feed_url(url):
    """Raise OpkgConfError unless ``url`` is an absolute URL opkg can download from."""
    match = URL_RE.match(url or "")
    if not match:
        raise OpkgConfError(
            "invalid feed url %r: give an absolute URL with a scheme (one of %s), e.g. "
            "https://repo.example.org/feed, without blanks or quotes"
            % (url, ", ".join(s + "://" for s in URL_SCHEMES)))
    if match.group(1).lower() not in URL_SCHEMES:
        raise OpkgConfError("invalid feed url %r: scheme %r is not one of %s"
                            % (url, match.group(1), ", ".join(URL_SCHEMES)))
    if match.group(1).lower() == "file" and not match.group(2).startswith("/"):
        raise OpkgConfError("invalid feed url %r: a file:// URL needs an absolute path (file:///srv/feed)" % (url,))


def feed_line(name, url, compressed=True):
    """The configuration line of a feed: ``src/gz NAME URL`` (or ``src`` when not compressed)."""
    check_feed_name(name)
    check_feed_url(url)
    return "%s %s %s" % ("src/gz" if compressed else "src", name, url)


def feed_entries(text, name):
    """The source entries for ``name`` in a text, in file order."""
    return [e for e in sources(text) if e.name == name]


def _lines_keepends(text):
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines


def set_feed(text, name, line):
    """Text with the feed ``name`` declared by ``line``.

    The first declaration of ``name`` is replaced in place (comments and order kept),
    later duplicates (which opkg would skip with an error) are dropped; without one,
    ``line`` is appended.
    """
    found = feed_entries(text, name)
    lines = _lines_keepends(text)
    if not found:
        return "".join(lines) + line + "\n"
    drop = set(e.lineno for e in found[1:])
    out = []
    for lineno, raw in enumerate(lines, 1):
        if lineno == found[0].lineno:
            out.append(line + "\n")
        elif lineno not in drop:
            out.append(raw)
    return "".join(out)


def remove_feed(text, name):
    """Text without any declaration of the feed ``name``."""
    drop = set(e.lineno for e in feed_entries(text, name))
    if not drop:
        return text
    return "".join(raw for lineno, raw in enumerate(_lines_keepends(text), 1) if lineno not in drop)


def _lua_string(value):
    """A Lua string literal of ``value``: backslash and quote escaped, every control character
    as a three-digit decimal escape (``\\010``), so no value can end the literal or the line."""
    out = []
    for char in value:
        if char in ('\\', '"'):
            out.append('\\' + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append('\\%03d' % ord(char))
        else:
            out.append(char)
    return '"%s"' % "".join(out)


def updater_verification(url, has_key):
    """Turris updater ``verification`` for a feed: signatures when there is a key,
    the TLS certificate when the URL is https."""
    https = url.lower().startswith("https://")
    if has_key:
        return "both" if https else "sig"
    return "cert" if https else "none"


def updater_file_name(name):
    """File name (in ``/etc/updater/conf.d``) of the updater registration of feed ``name``."""
    check_feed_name(name)
    return "%s%s.lua" % (UPDATER_FILE_PREFIX, name)


def updater_repository(name, url, key_paths=(), source=CUSTOM_FEEDS):
    """Lua text registering the feed with the Turris updater (``Repository(...)``).

    ``key_paths`` are router paths of the usign public keys that sign the feed's index.
    """
    check_feed_name(name)
    check_feed_url(url)
    if re.search(u"[\x00-\x1f\x7f-\x9f]", source):
        # the file name goes into a Lua comment: a newline would start a line of Lua
        raise OpkgConfError("invalid file %r: no control characters (newline, carriage return, tab, NUL ...)"
                            % (source,))
    fields = ["\tverification = %s," % _lua_string(updater_verification(url, bool(key_paths)))]
    if key_paths:
        fields.append("\tpubkey = { %s }," % ", ".join(_lua_string("file://" + p) for p in key_paths))
    return (
        "-- Managed by Ansible (turris.containers.opkg_feed): the opkg feed %s of %s.\n"
        "-- The updater removes packages from feeds it does not know: this tells it about the feed.\n"
        "Repository(%s, %s, {\n%s\n})\n"
        % (name, source, _lua_string(name), _lua_string(url), "\n".join(fields)))


# ---------------------------------------------------------------------------------------------
# installed packages

STATUS_FILE = "/usr/lib/opkg/status"


def installed_packages(status_text):
    """{name: version} of the packages opkg lists as installed, from the text of its status
    file (``/usr/lib/opkg/status``): RFC 822-like stanzas, one per package, whose ``Status``
    is ``<want> <flag> <state>``; ``opkg list-installed`` shows the states ``installed`` and
    ``unpacked`` (libopkg ``pkg_hash_fetch_all_installed``)."""
    out = collections.OrderedDict()
    for stanza in re.split(r"\n\s*\n", status_text):
        fields = {}
        for line in stanza.splitlines():
            if not line or line[0] in " \t" or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
        name = fields.get("Package")
        state = fields.get("Status", "").split()[2:]
        if name and ("installed" in state or "unpacked" in state):
            out[name] = fields.get("Version", "")
    return out

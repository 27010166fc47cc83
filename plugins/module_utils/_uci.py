# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
#
# This module_utils file is PRIVATE to the turris.containers collection: its API may change
# between releases without notice. Do not import it from outside the collection.
"""UCI (OpenWrt's Unified Configuration Interface) read and written exactly as libuci does.

Everything here is pure Python (3.8+) and runs on the router as well as on the controller.
The behaviour follows libuci (``file.c``, ``list.c``, ``delta.c``, ``util.c``, ``cli.c``) and is
checked against the golden corpus in ``tests/conformance/uci`` (made by libuci's ``uci``).

Main API (what the modules use)::

    pkg = parse_file('/etc/config/lxc-auto')
    load_delta(pkg, read_delta_file('/tmp/.uci/lxc-auto'))     # only to stage next to others
    result = ensure_section(pkg, type_='container', match={'name': 'c1'},
                            options={'timeout': 300})
    if result.changed:
        write_package('/etc/config', 'lxc-auto', pkg.export(header=False))

* :func:`parse` / :func:`parse_file` read a package (anonymous sections get libuci's
  ``cfgXXYYYY`` names); :func:`load_delta` replays a delta file on it,
  :func:`pending_changes` lists what other tools left uncommitted.
* :class:`Package` methods ``set``, ``add_section``, ``add_list``, ``del_list``, ``delete``,
  ``rename``, ``reorder`` are libuci's operations; with ``track=True`` they record the delta
  (``Package.delta``) that ``uci`` would save in ``/tmp/.uci/<package>`` (:func:`save_delta`).
* :meth:`Package.export` writes the package as ``uci export`` / ``uci commit`` do.
* :func:`write_package` commits a package file atomically (``.<pkg>.uci-XXXXXX`` + rename, mode kept).
* :func:`ensure_section` / :func:`remove_section` are the declarative helpers of the ``uci`` module.

The rest of the ``uci`` command line (loading with the whole delta path, ``commit``,
``revert``, ``import``) is not needed by a module and lives with the simulator's ``uci``
(``tests/sim/rootfs/usr/lib/turris-sim/uci_sim.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import string

from ansible_collections.turris.containers.plugins.module_utils import _files

# ---------------------------------------------------------------------------------------------
# errors

UCI_ERR_MEM = 'Out of memory'
UCI_ERR_INVAL = 'Invalid argument'
UCI_ERR_NOTFOUND = 'Entry not found'
UCI_ERR_IO = 'I/O error'
UCI_ERR_PARSE = 'Parse error'
UCI_ERR_DUPLICATE = 'Duplicate entry'


class UciError(Exception):
    """A libuci error; ``str()`` is libuci's error text (``uci_perror`` without the prefix)."""

    def __init__(self, kind, detail=None):
        self.kind = kind
        self.detail = detail
        super(UciError, self).__init__(kind if detail is None else '%s (%s)' % (kind, detail))


class UciParseError(UciError):
    """A syntax error in a config file: reason, line and byte exactly as libuci reports them."""

    def __init__(self, reason, line, byte):
        self.reason = reason
        self.line = line
        self.byte = byte
        UciError.__init__(self, UCI_ERR_PARSE)
        self.args = ('%s (%s) at line %d, byte %d' % (UCI_ERR_PARSE, reason, line, byte),)

    def __str__(self):
        return self.args[0]


# ---------------------------------------------------------------------------------------------
# validation (util.c)

_ALNUM = frozenset(bytearray((string.ascii_letters + string.digits + '_').encode('ascii')))
_SPACE = frozenset(bytearray(b' \t\n\v\f\r'))


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    return value.encode('utf-8', 'surrogateescape')


def _to_text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def validate_str(value, name, package=False):
    """libuci ``uci_validate_str``: non-empty; ``[A-Za-z0-9_]`` (``-`` too for packages);
    other bytes 33..126 only when not a name."""
    data = bytearray(_to_bytes(value))
    if not data:
        return False
    for c in data:
        if c in _ALNUM:
            continue
        if c == 0x2d and package:
            continue
        if name or c < 33 or c > 126:
            return False
    return True


def validate_name(value):
    """Section and option names: ``[A-Za-z0-9_]+``."""
    return validate_str(value, True)


def validate_type(value):
    """Section types: non-empty, bytes 33..126."""
    return validate_str(value, False)


def validate_package(value):
    """Package (config) names: ``[A-Za-z0-9_-]`` and other printable ASCII except ``.``/``/``
    are rejected by the file backend; libuci accepts bytes 33..126 here."""
    return validate_str(value, True, True)


def validate_text(value):
    """Option values: no control characters other than tab, newline, carriage return."""
    for c in bytearray(_to_bytes(value)):
        if c < 32 and c not in (9, 10, 13):
            return False
    return True


NAME_RULE = 'letters, digits and underscores only ([A-Za-z0-9_]+)'
TYPE_RULE = 'a non-empty word of printable ASCII characters without spaces (bytes 33-126)'
PACKAGE_RULE = 'letters, digits, underscores and dashes only ([A-Za-z0-9_-]+)'
VALUE_RULE = 'no control characters other than tab, newline and carriage return'


# ---------------------------------------------------------------------------------------------
# anonymous section names (list.c)

def djbhash(data, signed_char=True):
    """libuci's ``djbhash``: 5381, ``h = h*33 + c`` in 32-bit arithmetic, ``& 0x7FFFFFFF``.

    ``signed_char`` reproduces x86 (``char`` is signed); ARM and PowerPC routers use
    unsigned ``char`` and name sections with non-ASCII types differently."""
    h = 5381
    for c in bytearray(_to_bytes(data)):
        if signed_char and c >= 128:
            c -= 256
        h = (h * 33 + c) & 0xFFFFFFFF
    return h & 0x7FFFFFFF


def anonymous_name(counter, type_, signed_char=True):
    """``cfgXXYYYY`` for the ``counter``-th section (1-based) of a package, of type ``type_``."""
    return 'cfg%02x%04x' % (counter, djbhash(type_, signed_char) % 65536)


# ---------------------------------------------------------------------------------------------
# data model

CMD_ADD = '+'
CMD_REMOVE = '-'
CMD_CHANGE = ''
CMD_RENAME = '@'
CMD_REORDER = '^'
CMD_LIST_ADD = '|'
CMD_LIST_DEL = '~'
_CMD_CHARS = (CMD_ADD, CMD_REMOVE, CMD_RENAME, CMD_REORDER, CMD_LIST_ADD, CMD_LIST_DEL)


class Delta:
    """One recorded change (``struct uci_delta``)."""

    __slots__ = ('cmd', 'section', 'option', 'value')

    def __init__(self, cmd, section, option=None, value=None):
        self.cmd = cmd
        self.section = section
        self.option = option
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Delta) and self.as_tuple() == other.as_tuple()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.as_tuple())

    def __repr__(self):
        return 'Delta(%r, %r, %r, %r)' % self.as_tuple()

    def as_tuple(self):
        return (self.cmd, self.section, self.option, self.value)

    def to_delta_line(self, package):
        """The line libuci's ``uci_save`` appends to ``<savedir>/<package>``."""
        line = '%s%s.%s' % (self.cmd, package, self.section)
        if self.option is not None:
            line += '.' + self.option
        if self.cmd == CMD_REMOVE and self.value is None:
            return line + '\n'
        return line + '=' + quote(self.value) + '\n'

    def to_change_line(self, package):
        """The line ``uci changes`` prints."""
        prefix = '-' if self.cmd == CMD_REMOVE else ''
        line = '%s%s.%s' % (prefix, package, self.section)
        if self.option is not None:
            line += '.' + self.option
        if self.cmd != CMD_REMOVE:
            op = {CMD_LIST_ADD: '+=', CMD_LIST_DEL: '-='}.get(self.cmd, '=')
            line += op + quote(self.value if self.value is not None else '')
        return line


class Section:
    """A UCI section: ``options`` maps option names to a string or a list of strings, in
    file order."""

    __slots__ = ('name', 'type', 'anonymous', 'options')

    def __init__(self, name, type_, anonymous=False, options=None):
        self.name = name
        self.type = type_
        self.anonymous = anonymous
        self.options = dict(options or {})

    def __repr__(self):
        return 'Section(%r, %r, anonymous=%r, options=%r)' % (self.name, self.type, self.anonymous, self.options)

    def copy(self):
        return Section(self.name, self.type, self.anonymous,
                       dict((k, list(v) if isinstance(v, list) else v) for k, v in self.options.items()))

    def snapshot(self):
        """What the section means to its readers (type and option values; order ignored)."""
        return (self.type, dict((k, tuple(v) if isinstance(v, list) else v) for k, v in self.options.items()))

    def as_dict(self):
        return {
            'name': self.name,
            'type': self.type,
            'anonymous': self.anonymous,
            'options': dict((k, list(v) if isinstance(v, list) else v) for k, v in self.options.items()),
        }


class Package:
    """A loaded UCI package (``struct uci_package``)."""

    def __init__(self, name, signed_char=True):
        self.name = name
        self.sections = []
        self.n_section = 0
        self.delta = []          # changes made since loading, not yet saved (uci_save)
        self.saved_delta = []    # changes replayed from the delta files (uci changes)
        self.signed_char = signed_char
        self.path = None

    def __repr__(self):
        return 'Package(%r, sections=%r)' % (self.name, self.sections)

    def copy(self):
        new = Package(self.name, self.signed_char)
        new.sections = [s.copy() for s in self.sections]
        new.n_section = self.n_section
        new.delta = list(self.delta)
        new.saved_delta = list(self.saved_delta)
        new.path = self.path
        return new

    def snapshot(self):
        return [((None if s.anonymous else s.name),) + s.snapshot() for s in self.sections]

    # -- lookups ---------------------------------------------------------------------------

    def get(self, name):
        """The section called ``name`` (the first one, like ``uci_lookup_list``), or None."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def lookup(self, ref):
        """A section by name or by extended reference ``@type[N]`` / ``@[N]`` (negative N counts
        from the end). Returns None when there is no such section; raises ``UciError`` for a
        malformed reference."""
        if validate_name(ref):
            return self.get(ref)
        return self._lookup_ext(ref)

    def _lookup_ext(self, ref):
        if not ref.startswith('@'):
            raise UciError(UCI_ERR_INVAL)
        body = ref[1:]
        lb = body.find('[')
        if lb < 0:
            raise UciError(UCI_ERR_INVAL)
        type_, idxstr = body[:lb], body[lb + 1:]
        rb = idxstr.find(']')
        if rb < 0 or rb != len(idxstr) - 1:
            raise UciError(UCI_ERR_INVAL)
        idx = _strtol_full(idxstr[:rb])
        if idx is None:
            raise UciError(UCI_ERR_INVAL)
        if not type_:
            type_ = None
        elif not validate_type(type_):
            raise UciError(UCI_ERR_INVAL)
        candidates = [s for s in self.sections if type_ is None or s.type == type_]
        if idx < 0:
            idx += len(candidates)
        if 0 <= idx < len(candidates):
            return candidates[idx]
        return None

    def find_sections(self, type_=None, match=None):
        """Sections of ``type_`` (any type when None) whose options equal every item of
        ``match`` (values as stored: strings, or lists of strings)."""
        found = []
        for s in self.sections:
            if type_ is not None and s.type != type_:
                continue
            if match and any(s.options.get(k) != v for k, v in match.items()):
                continue
            found.append(s)
        return found

    # -- libuci operations (list.c) ----------------------------------------------------------

    def _record(self, track, cmd, section, option=None, value=None):
        if track:
            self.delta.append(Delta(cmd, section, option, value))

    def _alloc_section(self, type_, name):
        self.n_section += 1
        if name:
            s = Section(name, type_, anonymous=False)
        else:
            s = Section(anonymous_name(self.n_section, type_, self.signed_char), type_, anonymous=True)
        self.sections.append(s)
        return s

    def add_section(self, type_, track=False):
        """``uci add``: a new anonymous section at the end; returns it."""
        s = self._alloc_section(type_, None)
        self._record(track, CMD_ADD, s.name, None, type_)
        return s

    def set(self, section, option, value, track=False, sec=None):
        """``uci set``: ``option`` None sets the section type (creating a named section),
        otherwise sets a string option (in place). An empty value deletes. Returns True when
        something changed. ``sec`` is the already resolved section (for ``@type[N]``)."""
        if sec is None:
            sec = self.get(section)
        else:
            section = sec.name
        if option is not None and sec is None:
            raise UciError(UCI_ERR_INVAL)
        if option is None and value and not validate_type(value):
            raise UciError(UCI_ERR_INVAL)
        if value == '':
            complete = sec is not None and (option is None or option in sec.options)
            if not complete:
                return False
            return self.delete(section, option, track=track, sec=sec)
        if option is not None:
            old = sec.options.get(option)
            if isinstance(old, str) and old == value:
                return False
            sec.options[option] = value
        elif sec is None:
            self._alloc_section(value, section)
        else:
            sec.type = value
        self._record(track, CMD_CHANGE, section, option, value)
        return True

    def delete(self, section, option=None, track=False, sec=None):
        """``uci delete``: remove a section or an option. Raises ``UciError`` (not found)."""
        if sec is None:
            sec = self.get(section)
        else:
            section = sec.name
        if sec is None or (option is not None and option not in sec.options):
            raise UciError(UCI_ERR_NOTFOUND)
        self._record(track, CMD_REMOVE, section, option, None)
        if option is None:
            for i, s in enumerate(self.sections):
                if s is sec:
                    del self.sections[i]
                    break
        else:
            del sec.options[option]
        return True

    def add_list(self, section, option, value, track=False, sec=None):
        """``uci add_list``: append to a list option (a string option becomes a list, in place)."""
        if sec is None:
            sec = self.get(section)
        else:
            section = sec.name
        if sec is None:
            raise UciError(UCI_ERR_INVAL)
        old = sec.options.get(option)
        if isinstance(old, list):
            old.append(value)
        elif old is None:
            sec.options[option] = [value]
        else:
            sec.options[option] = [old, value]
        self._record(track, CMD_LIST_ADD, section, option, value)
        return True

    def del_list(self, section, option, value, track=False, sec=None):
        """``uci del_list``: remove every item equal to ``value`` from a list option."""
        if sec is None:
            sec = self.get(section)
        else:
            section = sec.name
        if sec is None:
            raise UciError(UCI_ERR_INVAL)
        old = sec.options.get(option)
        if not isinstance(old, list):
            return False
        self._record(track, CMD_LIST_DEL, section, option, value)
        old[:] = [v for v in old if v != value]
        return True

    def rename(self, section, option, new_name, track=False, sec=None):
        """``uci rename``: rename a section (it stops being anonymous) or an option."""
        if sec is None:
            sec = self.get(section)
        else:
            section = sec.name
        if sec is None or (option is not None and option not in sec.options):
            raise UciError(UCI_ERR_NOTFOUND)
        self._record(track, CMD_RENAME, section, option, new_name)
        if option is None:
            sec.name = new_name
            sec.anonymous = False
        else:
            sec.options = dict((new_name if k == option else k, v) for k, v in sec.options.items())
        return True

    def reorder(self, section, pos, track=False, sec=None):
        """``uci reorder``: move a section to position ``pos`` (clamped to the end). A move that
        leaves the order as it was records nothing, as the reference ``uci`` does."""
        if sec is None:
            sec = self.get(section)
        if sec is None:
            raise UciError(UCI_ERR_NOTFOUND)
        old = self.sections.index(sec)
        del self.sections[old]
        new = min(max(pos, 0), len(self.sections))
        self.sections.insert(new, sec)
        if new == old:
            return False
        self._record(track, CMD_REORDER, sec.name, None, '%d' % pos)
        return True

    # -- output ------------------------------------------------------------------------------

    def export(self, header=True, export_names=False):
        """``uci export`` (``header``) or the file ``uci commit`` writes (``header=False``)."""
        out = []
        if header:
            out.append('package %s\n' % _escape(self.name))
        for s in self.sections:
            out.append('\nconfig %s' % _type_word(s.type))
            if not s.anonymous or export_names:
                out.append(" '%s'" % _escape(s.name))
            out.append('\n')
            for k, v in s.options.items():
                if isinstance(v, list):
                    for item in v:
                        out.append("\tlist %s '%s'\n" % (_escape(k), _escape(item)))
                else:
                    out.append("\toption %s '%s'\n" % (_escape(k), _escape(v)))
        out.append('\n')
        return ''.join(out)

    def section_refs(self, extended=True):
        """(section, reference) pairs as ``uci show`` names them: ``@type[i]`` for anonymous
        sections when ``extended`` (the index counts named sections of that type too)."""
        counters = {}
        refs = []
        for s in self.sections:
            idx = counters.get(s.type, 0)
            counters[s.type] = idx + 1
            if extended and s.anonymous:
                refs.append((s, '@%s[%d]' % (s.type, idx)))
            else:
                refs.append((s, s.name))
        return refs

    def show(self, extended=True, delimiter=' '):
        """``uci show <package>`` (``extended=False`` is ``uci -X show``), as text."""
        out = []
        for s, ref in self.section_refs(extended):
            out.extend(show_section(self.name, s, ref, delimiter))
        return ''.join(out)


def _type_word(type_):
    """A section type as written after ``config``: unquoted, as libuci writes it, unless it holds
    a character libuci's parser reads specially (a type read from ``config 'a#b'``); libuci would
    write such a type unquoted and the file would not read back, so it is quoted here."""
    if any(c in type_ for c in '\'"#;\\'):
        return quote(type_)
    return type_


def _escape(value):
    return value.replace("'", "'\\''")


def quote(value):
    """A value in single quotes as ``uci show`` / ``uci changes`` print it."""
    return "'" + _escape(value) + "'"


def show_value(value, quote_values=True, delimiter=' '):
    """``uci_show_value``: a string, or list items joined by ``delimiter`` (items with spaces
    are quoted even when ``quote_values`` is false, as ``uci get`` does)."""
    if isinstance(value, list):
        parts = []
        for item in value:
            if quote_values or any(c in item for c in ' \t\r\n'):
                parts.append(quote(item))
            else:
                parts.append(item)
        return delimiter.join(parts)
    return quote(value) if quote_values else value


def show_section(package, section, ref=None, delimiter=' '):
    """Lines of ``uci show`` for one section (``ref`` defaults to the section's real name)."""
    ref = section.name if ref is None else ref
    lines = ['%s.%s=%s\n' % (package, ref, section.type)]
    for k, v in section.options.items():
        lines.append('%s.%s.%s=%s\n' % (package, ref, k, show_value(v, True, delimiter)))
    return lines


def _strtol_full(text):
    """``strtol(text, &end, 10)`` that must consume everything; None when it does not.
    (An empty string converts to 0, as in C.)"""
    t = text.lstrip(' \t\n\v\f\r')
    if t == '':
        return 0 if text == '' else None
    sign = 1
    if t[0] in '+-':
        sign = -1 if t[0] == '-' else 1
        t = t[1:]
    if not t or not t.isdigit() or not all(c in string.digits for c in t):
        return None
    return sign * int(t)


def strtoul(text):
    """C ``strtoul(text, NULL, 10)`` as an ``int`` (what ``uci reorder`` passes on)."""
    t = text.lstrip(' \t\n\v\f\r')
    sign = 1
    if t[:1] in ('+', '-'):
        sign = -1 if t[0] == '-' else 1
        t = t[1:]
    digits = ''
    for c in t:
        if c not in string.digits:
            break
        digits += c
    if not digits:
        return 0
    value = (sign * int(digits)) & 0xFFFFFFFF
    # passed on as a C int
    return value - (1 << 32) if value >= (1 << 31) else value


# ---------------------------------------------------------------------------------------------
# the parser (file.c), on a byte buffer like libuci's so that errors carry the same byte offsets

class _Reader:
    def __init__(self, data):
        self.data = data
        self.off = 0
        self.eof = False

    def readline(self):
        if self.off >= len(self.data):
            self.eof = True
            return None
        i = self.data.find(b'\n', self.off)
        end = len(self.data) if i < 0 else i + 1
        line = self.data[self.off:end]
        self.off = end
        if end >= len(self.data) and not line.endswith(b'\n'):
            self.eof = True
        return line


class _Parser:
    def __init__(self, data, package=None, strict=True, track=False, name=None, signed_char=True):
        self.reader = _Reader(_to_bytes(data))
        self.track = track
        self.name = name
        self.signed_char = signed_char
        self.packages = [package] if package is not None else []
        self.buf = bytearray()
        self.pos = 0
        self.target = 0
        self.line = 0
        self.filled = 0
        self.package = package
        self.section = None
        self.strict = strict
        self.errors = []

    # -- buffer primitives ------------------------------------------------------------------

    def char(self, i):
        return self.buf[i] if i < len(self.buf) else 0

    def cur(self):
        return self.char(self.pos)

    def setc(self, i, value):
        if i < len(self.buf):
            self.buf[i] = value

    def cstr(self, i):
        end = self.buf.find(b'\0', i)
        return bytes(self.buf[i:end if end >= 0 else len(self.buf)])

    def getln(self, offset):
        del self.buf[offset:]
        while True:
            chunk = self.reader.readline()
            if chunk is None:
                return
            nul = chunk.find(b'\0')
            if nul >= 0:
                chunk = chunk[:nul]
            if not chunk:
                return
            self.buf += chunk
            self.filled = len(self.buf)
            if chunk.endswith(b'\n'):
                self.line += 1
                return

    def error(self, reason):
        raise UciParseError(reason, self.line, self.pos)

    # -- tokenizer --------------------------------------------------------------------------

    def skip_ws(self):
        while True:
            c = self.cur()
            if not c or c not in _SPACE:
                return
            self.pos += 1

    def addc(self):
        self.setc(self.target, self.buf[self.pos])
        self.target += 1
        self.pos += 1

    def parse_backslash(self):
        self.pos += 1
        c = self.cur()
        if c == 0 or c == 0x0a or (c == 0x0d and self.char(self.pos + 1) == 0x0a and not self.char(self.pos + 2)):
            self.getln(self.pos)
            return False
        return True

    def parse_double_quote(self):
        self.pos += 1
        while True:
            c = self.cur()
            if c == 0x22:
                self.pos += 1
                return
            if c == 0:
                self.getln(self.pos)
                if not self.cur():
                    self.error('EOF with unterminated "')
                continue
            if c == 0x5c and not self.parse_backslash():
                continue
            self.addc()

    def parse_single_quote(self):
        self.pos += 1
        while True:
            c = self.cur()
            if c == 0x27:
                self.pos += 1
                return
            if c == 0:
                self.getln(self.pos)
                if not self.cur():
                    self.error("EOF with unterminated '")
                continue
            self.addc()

    def parse_str(self):
        nxt = True
        while True:
            c = self.cur()
            if c == 0x27:
                self.parse_single_quote()
            elif c == 0x22:
                self.parse_double_quote()
            elif c == 0x23:
                self.setc(self.pos, 0)
                break
            elif c == 0:
                break
            elif c == 0x3b:
                nxt = False
                break
            elif c == 0x5c:
                if self.parse_backslash():
                    self.addc()
            else:
                self.addc()
            c = self.cur()
            if not c or c in _SPACE:
                break
        if self.cur() and nxt:
            self.pos += 1
        self.setc(self.target, 0)

    def next_arg(self, required, name, package):
        self.skip_ws()
        val = self.target = self.pos
        if self.cur() == 0x3b:
            self.setc(self.pos, 0)
            self.pos += 1
        else:
            self.parse_str()
        if not self.char(val):
            if required:
                self.error('insufficient arguments')
            return val
        if name and not validate_str(self.cstr(val), True, package):
            self.error('invalid character in name field')
        return val

    def assert_eol(self):
        self.skip_ws()
        val = self.next_arg(False, False, False)
        if self.char(val) and self.strict:
            self.error('too many arguments')

    def advance_command(self, reason):
        end = self.buf.find(b'\0', self.pos)
        length = (end if end >= 0 else len(self.buf)) - self.pos
        if self.pos + length + 1 > self.filled:
            self.error(reason)
        self.pos += length + 1

    # -- commands ---------------------------------------------------------------------------

    def parse_line(self):
        self.skip_ws()
        while True:
            i = self.pos
            while self.char(i) in (0x20, 0x09):
                i += 1
            if not self.char(i):
                return
            j = i
            while self.char(j) not in (0, 0x20, 0x09):
                j += 1
            self.setc(j, 0)
            word = bytes(self.buf[i:j])
            if word[:1] == b'#':
                return
            if word in (b'p', b'package'):
                self.parse_package()
            elif word in (b'c', b'config'):
                self.parse_config()
            elif word in (b'o', b'option'):
                self.parse_option(False)
            elif word in (b'l', b'list'):
                self.parse_option(True)
            else:
                self.error('invalid command')

    def parse_package(self):
        self.advance_command('package without name')
        on = self.next_arg(True, True, True)
        self.assert_eol()
        if self.name is not None:
            # loading one named package: the statement is ignored, as libuci does
            return
        self.switch_package(_to_text(self.cstr(on)))

    def switch_package(self, name):
        if any(p.name == name for p in self.packages):
            raise UciError(UCI_ERR_DUPLICATE)
        self.package = Package(name, self.signed_char)
        self.packages.append(self.package)
        self.section = None

    def parse_config(self):
        if self.package is None:
            if self.name is None:
                self.error('attempting to import a file without a package name')
            self.switch_package(self.name)
        pkg = self.package
        self.advance_command('config without name')
        ot = self.next_arg(True, False, False)
        if not validate_type(self.cstr(ot)):
            self.error('invalid character in type field')
        on = self.next_arg(False, True, False)
        self.assert_eol()
        type_ = _to_text(self.cstr(ot))
        name = _to_text(self.cstr(on))
        if not name:
            self.section = pkg.add_section(type_, track=self.track)
            return
        existing = pkg.get(name)
        if existing is not None and self.strict and existing.type != type_:
            self.error('section of different type overwrites prior section with same name')
        pkg.set(name, None, type_, track=self.track)
        self.section = pkg.get(name)

    def parse_option(self, is_list):
        if self.section is None:
            self.error('option/list command found before the first section')
        self.advance_command('option without name')
        on = self.next_arg(True, True, False)
        ov = self.next_arg(False, False, False)
        self.assert_eol()
        name = _to_text(self.cstr(on))
        value = _to_text(self.cstr(ov))
        if is_list:
            self.package.add_list(None, name, value, track=self.track, sec=self.section)
        else:
            self.package.set(None, name, value, track=self.track, sec=self.section)

    def run(self):
        while not self.reader.eof:
            self.pos = 0
            self.getln(0)
            if not self.char(0):
                continue
            try:
                self.parse_line()
            except UciParseError as exc:
                if self.strict:
                    raise
                self.errors.append(exc)

    # -- one argument at a time (uci_parse_argument), for batch scripts and delta files ------

    def next_line(self):
        """Read the next line; False at the end of the input."""
        if self.reader.eof:
            return False
        self.pos = 0
        self.getln(0)
        return True

    def argument(self):
        val = self.next_arg(False, False, False)
        return _to_text(self.cstr(val))

    def rest(self):
        return self.cstr(self.pos)


def parse(data, name='pkg', strict=True, signed_char=True):
    """Parse the text (str or bytes) of a config file as package ``name``, as ``uci_load`` does.

    Raises :class:`UciParseError` (``str()`` gives libuci's message without the ``uci: ``
    prefix). With ``strict=False`` (``uci -S``) bad lines are skipped and recorded in the
    returned package's ``parse_errors``."""
    pkg = Package(name, signed_char=signed_char)
    parser = _Parser(data, pkg, strict, name=name, signed_char=signed_char)
    parser.run()
    pkg.parse_errors = parser.errors
    return pkg


def parse_file(path, name=None, strict=True, signed_char=True):
    """Parse a config file; the package name defaults to the file name."""
    with open(path, 'rb') as f:
        data = f.read()
    pkg = parse(data, name or os.path.basename(path), strict, signed_char)
    pkg.path = path
    return pkg


# ---------------------------------------------------------------------------------------------
# uci pointers ("pkg.section.option=value", util.c uci_parse_ptr)

class Ptr:
    __slots__ = ('package', 'section', 'option', 'value', 'extended')

    def __init__(self, package, section=None, option=None, value=None, extended=False):
        self.package = package
        self.section = section
        self.option = option
        self.value = value
        self.extended = extended


def parse_ptr(text):
    """Split ``package[.section[.option]][=value]`` like ``uci_parse_ptr``; raises
    ``UciError(Parse error)`` for a malformed tuple."""
    value = None
    if '=' in text:
        text, value = text.split('=', 1)
    parts = text.split('.')
    if len(parts) > 3:
        raise UciError(UCI_ERR_PARSE)
    package = parts[0]
    section = parts[1] if len(parts) > 1 else None
    option = parts[2] if len(parts) > 2 else None
    if not validate_package(package):
        raise UciError(UCI_ERR_PARSE)
    extended = section is not None and not validate_name(section)
    if option is not None and not validate_name(option):
        raise UciError(UCI_ERR_PARSE)
    if value is not None and not validate_text(value):
        raise UciError(UCI_ERR_PARSE)
    return Ptr(package, section, option, value, extended)


# ---------------------------------------------------------------------------------------------
# delta files (delta.c)

def iter_arguments(data):
    """Yield each line of ``data`` (delta file) as one parsed argument, or None for a line that
    is not exactly one argument (libuci skips those)."""
    parser = _Parser(data)
    while parser.next_line():
        if not parser.char(0):
            continue
        try:
            arg = parser.argument()
            if parser.rest():
                yield None
                continue
        except UciParseError:
            yield None
            continue
        yield arg


def _parse_delta_tuple(arg):
    cmd = CMD_CHANGE
    if arg[:1] in _CMD_CHARS:
        cmd = arg[0]
        arg = arg[1:]
    ptr = parse_ptr(arg)
    if ptr.section is None or ptr.extended:
        raise UciError(UCI_ERR_INVAL)
    if cmd != CMD_REMOVE and ptr.value is None:
        raise UciError(UCI_ERR_INVAL)
    if cmd == CMD_REORDER and ptr.option is not None:
        raise UciError(UCI_ERR_INVAL)
    if cmd == CMD_RENAME and not validate_name(ptr.value):
        raise UciError(UCI_ERR_INVAL)
    if cmd in (CMD_LIST_ADD, CMD_LIST_DEL) and ptr.option is None:
        raise UciError(UCI_ERR_INVAL)
    return cmd, ptr


def apply_delta(pkg, delta):
    """Replay one :class:`Delta` on ``pkg`` without recording it (libuci's internal replay)."""
    cmd, section, option, value = delta.as_tuple()
    if cmd == CMD_REORDER:
        sec = pkg.get(section)
        if sec is None:
            raise UciError(UCI_ERR_NOTFOUND)
        old = pkg.sections.index(sec)
        del pkg.sections[old]
        pkg.sections.insert(min(max(strtoul(value), 0), len(pkg.sections)), sec)
    elif cmd == CMD_RENAME:
        pkg.rename(section, option, value)
    elif cmd == CMD_REMOVE:
        pkg.delete(section, option)
    elif cmd == CMD_LIST_ADD:
        pkg.add_list(section, option, value)
    elif cmd == CMD_LIST_DEL:
        pkg.del_list(section, option, value)
    else:
        pkg.set(section, option, value)
        if cmd == CMD_ADD and option is None:
            sec = pkg.get(section)
            if sec is not None:
                sec.anonymous = True


def parse_delta(data, package):
    """The :class:`Delta` records of a delta file for ``package`` (lines that libuci would
    reject are skipped)."""
    out = []
    for arg in iter_arguments(data):
        if arg is None:
            continue
        try:
            cmd, ptr = _parse_delta_tuple(arg)
        except UciError:
            continue
        if ptr.package != package:
            continue
        out.append(Delta(cmd, ptr.section, ptr.option, ptr.value))
    return out


def load_delta(pkg, data):
    """Replay a delta file's text on ``pkg``; every well-formed line goes to
    ``pkg.saved_delta`` (what ``uci changes`` lists). Returns the number of lines applied."""
    applied = 0
    for d in parse_delta(data, pkg.name):
        pkg.saved_delta.append(d)
        try:
            apply_delta(pkg, d)
        except UciError:
            continue
        applied += 1
    return applied


def read_delta_file(path):
    """Bytes of a delta file, or None when there is none."""
    try:
        with open(path, 'rb') as f:
            return f.read()
    except IOError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
            return None
        raise


def pending_changes(name, delta_dirs):
    """Changes left for package ``name`` in the delta directories (``uci changes`` records)."""
    out = []
    for d in delta_dirs:
        data = read_delta_file(os.path.join(d, name))
        if data:
            out.extend(parse_delta(data, name))
    return out


def save_delta(pkg, savedir, config_dir=None):
    """``uci_save``: append ``pkg.delta`` to ``<savedir>/<package>`` (under an exclusive lock)
    and clear it. The directory is created like libuci does (mode of the config dir)."""
    if not pkg.delta:
        return
    if not os.path.isdir(savedir):
        mode = 0o700
        if config_dir and os.path.isdir(config_dir):
            mode = os.stat(config_dir).st_mode & 0o7777
        os.makedirs(savedir, mode)
    path = os.path.join(savedir, pkg.name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = ''.join(d.to_delta_line(pkg.name) for d in pkg.delta)
        os.write(fd, _to_bytes(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    pkg.delta = []


# ---------------------------------------------------------------------------------------------
# writing a package file (uci commit)

def write_package(config_dir, name, text, new_mode=0o600, atomic_move=None):
    """Write ``text`` as ``<config_dir>/<name>`` like ``uci commit``: through a temp file
    ``.<name>.uci-XXXXXX`` beside the file, fsync, rename over the original (its real path:
    a symlink stays), fsync of the directory (:func:`_files.write_atomic`).

    The original file's mode and owner are kept (``new_mode`` for a new file; libuci uses
    0600). Raises :class:`_files.FileWriteError` naming the path; the original is then
    unchanged and no temp file is left. ``atomic_move`` is accepted and ignored (callers
    written for the former signature). Returns the path written."""
    dummy = atomic_move
    path = os.path.join(config_dir, name)
    return _files.write_atomic(path, _to_bytes(text), new_mode=new_mode, prefix='.%s.uci-' % name)


# ---------------------------------------------------------------------------------------------
# declarative helpers (the uci module; lxc_container and the docker role use them too)

def normalize_value(value, what='value'):
    """A module-level value as UCI stores it: booleans ``1``/``0``, numbers as decimal text,
    strings as they are, lists item by item (a list stays a UCI list). None means "no value".

    Raises ``ValueError`` naming ``what`` for nested lists, dicts and control characters."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, (list, tuple, dict)):
                raise ValueError('%s: a list item must be a string, number or boolean, not %r' % (what, item))
            items.append(normalize_value(item, what))
        return items
    if isinstance(value, dict):
        raise ValueError('%s: must be a string, number, boolean or a list of those, not a mapping' % what)
    if isinstance(value, bool):
        text = '1' if value else '0'
    elif isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else '%d' % value
    else:
        text = _to_text(value) if isinstance(value, bytes) else u'%s' % (value,)
    if not validate_text(text):
        raise ValueError('%s: %r contains control characters; UCI values allow %s' % (what, text, VALUE_RULE))
    return text


def _desired(value):
    """None when the option must not exist ("", [] and None all mean that, as in libuci)."""
    if value is None or value == '' or value == []:
        return None
    return value


class EnsureResult:
    """Outcome of :func:`ensure_section` / :func:`remove_section`."""

    def __init__(self):
        self.changed = False
        self.section = None      # the Section after the change (None when removed)
        self.before = []         # Section copies before (several when removing a match)
        self.after = []
        self.created = False
        self.removed = []


def _apply_options(pkg, sec, options, replace, keep, track):
    for key in list(sec.options) if replace else ():
        if key not in options and key not in keep:
            pkg.delete(sec.name, key, track=track, sec=sec)
    for key, value in options.items():
        want = _desired(value)
        have = sec.options.get(key)
        if want is None:
            if have is not None:
                pkg.delete(sec.name, key, track=track, sec=sec)
            continue
        if isinstance(want, list):
            if have == want:
                continue
            # recorded as uci's CLI would do it (drop, then add_list each item); the option
            # keeps its place in the section
            if have is not None:
                pkg._record(track, CMD_REMOVE, sec.name, key)
            for item in want:
                pkg._record(track, CMD_LIST_ADD, sec.name, key, item)
            sec.options[key] = list(want)
        else:
            if have == want:
                continue
            pkg.set(sec.name, key, want, track=track, sec=sec)


def ensure_section(pkg, name=None, type_=None, match=None, options=None, replace=False, track=False):
    """Make one section exist with ``options``.

    * ``name``: the named section (created with ``type_``; its type is changed when ``type_``
      differs).
    * otherwise ``type_`` + ``match``: the one section of that type whose options equal
      ``match``; created anonymous (with the ``match`` options) when there is none. More than
      one match raises ``ValueError``.

    ``options`` values must already be normalized (:func:`normalize_value`); None, ``''`` and
    ``[]`` remove the option. ``replace`` drops options not listed (``match`` options are
    kept). ``track`` records libuci deltas in ``pkg.delta``.
    Returns an :class:`EnsureResult`; ``changed`` compares the parsed section before and after."""
    options = options or {}
    match = match or {}
    res = EnsureResult()
    if name is not None:
        sec = pkg.get(name)
        if sec is None:
            if not type_:
                raise ValueError("section '%s' does not exist in package '%s' and no type was given to create it"
                                 % (name, pkg.name))
            pkg.set(name, None, type_, track=track)
            sec = pkg.get(name)
            res.created = True
        else:
            res.before.append(sec.copy())
            if type_ and sec.type != type_:
                pkg.set(name, None, type_, track=track, sec=sec)
    else:
        found = pkg.find_sections(type_, match)
        if len(found) > 1:
            raise ValueError('%d sections of type %s in package %s match %r (%s); make match more specific'
                             % (len(found), type_, pkg.name, match, ', '.join(s.name for s in found)))
        if found:
            sec = found[0]
            res.before.append(sec.copy())
        else:
            sec = pkg.add_section(type_, track=track)
            res.created = True
            for key, value in match.items():
                if key not in options:
                    _apply_options(pkg, sec, {key: value}, False, (), track)
    _apply_options(pkg, sec, options, replace, match, track)
    res.section = sec
    res.after.append(sec.copy())
    res.changed = res.created or res.before[0].snapshot() != sec.snapshot()
    return res


def remove_section(pkg, name=None, type_=None, match=None, options=None, track=False):
    """Remove the named section, or every section of ``type_`` matching ``match``. With
    ``options`` (names), remove only those options from the section(s). Returns an
    :class:`EnsureResult`."""
    res = EnsureResult()
    if name is not None:
        sec = pkg.get(name)
        targets = [sec] if sec is not None else []
    else:
        targets = pkg.find_sections(type_, match or {})
    for sec in targets:
        before = sec.copy()
        res.before.append(before)
        if options:
            for key in options:
                if key in sec.options:
                    pkg.delete(sec.name, key, track=track, sec=sec)
            res.after.append(sec.copy())
            if before.snapshot() != sec.snapshot():
                res.changed = True
            res.section = sec
        else:
            pkg.delete(sec.name, None, track=track, sec=sec)
            res.removed.append(before)
            res.changed = True
    return res

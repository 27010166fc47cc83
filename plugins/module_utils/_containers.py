# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
#
# This module_utils file is PRIVATE to the turris.containers collection: its API may change
# between releases without notice. Do not import it from outside the collection.
"""The container role's rules: a router's ``containers:`` list -> resolved container specs.

One call judges the whole list before anything changes and returns every problem (each names
the container, the field, the bad value and what is allowed; never a password) and, when there
is none, one spec per container: its flavor's preset under the user's keys, an address on the
bridge subnet, the image in the image server's own spelling, the root password hashed.

The rules are the ones :mod:`._lxc` (what ``lxc_container`` accepts) and :mod:`._validate` (the
collection's validation home) state; nothing here repeats them. Pure: no Ansible import, no I/O.
The password hash is computed by the caller's ``hash_password(name, password)``, so that the
filter (``turris.containers.container_specs``) hashes with Ansible's own ``password_hash``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import re

from ansible_collections.turris.containers.plugins.module_utils import _lxc
from ansible_collections.turris.containers.plugins.module_utils import _validate

# The keys of a `containers:` item, of its `network` and of its `image`.
SPEC_KEYS = ('name', 'flavor', 'image', 'network', 'memory_limit', 'cpu_shares', 'autostart', 'packages',
             'commands', 'root_password')
NETWORK_KEYS = ('address', 'link', 'gateway', 'hwaddr')
IMAGE_KEYS = ('dist', 'release', 'variant', 'arch')
# The keys of a flavor preset (vars/main.yml, container_flavor_overrides).
PRESET_KEYS = ('template', 'image', 'requires', 'package_manager', 'packages', 'memory_limit', 'cpu_shares')
# The LXC templates the role knows how to finish (one.yml): an image from the server, or a container
# made from the router's own busybox.
TEMPLATES = ('download', 'busybox')
# One script template per package manager (templates/packages-<manager>.sh.j2).
PACKAGE_MANAGERS = ('apt', 'opkg', 'none')
# The kernel uses a container can require when no readiness report says which exist
# (kernel_config_info's checks that concern LXC).
KERNEL_USES = ('lxc', 'lxc_userns', 'lxc_debian')
# The keys whose values are never shown, wherever they are.
SECRET_MARKERS = ('password', 'secret')
# Commands reach the container as one shell script; today it is one argument of lxc-attach, and
# Linux refuses a single argument over MAX_ARG_STRLEN (128 KiB). Half of it leaves room for the
# wrapper the role adds and gives a clean refusal instead of E2BIG on the router.
COMMANDS_MAX_BYTES = 64 * 1024
# A cgroup memory limit is a 64-bit signed counter (memory.max, memory.limit_in_bytes).
MEMORY_MAX_BYTES = 2 ** 63 - 1
# The longest memory_limit text worth parsing ("9223372036854775807" plus a unit).
MEMORY_MAX_CHARS = 32
# CPU shares given as text (a templated variable): plain ASCII digits, nothing around them.
_SHARES_TEXT_RE = re.compile(r'^[0-9]{1,7}\Z')
# A message is cut in its middle beyond this length: a huge value must not make a huge message,
# and what is allowed (at the end) stays readable.
MESSAGE_MAX = 600
# A root password is hashed with SHA-512 crypt, which cannot take a NUL (passlib refuses it, and
# C's crypt() would stop there).
PASSWORD_RULE = 'a string without NUL characters'
# The control characters commands may hold: they are lines of a shell script (a YAML block
# scalar with several lines, a here-document, an indented if ... fi). Any other one (\r, NUL,
# escape ...) has no use in a script and changes what sh runs or what a log shows.
COMMAND_CONTROL_ALLOWED = '\n\t'


# --------------------------------------------------------------------------- showing values
def redact(value):
    """``value`` with the value of every key that names a secret replaced by ``(hidden)``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            secret = isinstance(key, str) and any(m in key.lower() for m in SECRET_MARKERS)
            out[key] = '(hidden)' if secret else redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def show(value, limit=120):
    """A value for a message: JSON (a newline shows as \\n), secrets hidden, cut when long."""
    try:
        text = json.dumps(redact(value), sort_keys=True, default=repr)
    except (TypeError, ValueError):
        try:
            text = repr(redact(value))
        except ValueError:  # an integer too long to print (Python refuses over 4300 digits)
            text = '(a %s too large to show)' % type(value).__name__
    if len(text) > limit:
        text = '%s... (%d characters in all)' % (text[:limit], len(text))
    return text


class _Problems(object):
    """The problems of one container, each already naming the field, the value and the rule."""

    def __init__(self):
        self.items = []

    def add(self, text):
        if len(text) > MESSAGE_MAX:
            text = '%s ... (%d characters cut) ... %s' % (text[:300], len(text) - 500, text[-200:])
        self.items.append(text)

    def check(self, func, *args):
        """``func(*args)``, or None with its refusal recorded."""
        try:
            return func(*args)
        except (_validate.ValidationError, _lxc.LxcError) as exc:
            self.add(str(exc))
            return None


def _origin(field, user, flavor):
    """A field's name in a message: the user's key, or the flavor preset it came from."""
    return field if user else '%s (from flavor %s)' % (field, flavor)


# --------------------------------------------------------------------------- scalar rules
def _text(problems, field, value, allow_int=False):
    """``value`` as text: a string (or an integer where YAML may have turned a word into one);
    None with a problem otherwise."""
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 64:
            problems.add('invalid %s (an integer of %d bits): a string, or a number of at most 64 bits'
                         % (field, value.bit_length()))
            return None
        return str(value)
    if isinstance(value, str):
        return value
    problems.add('invalid %s %s: a string%s' % (field, show(value), ' (quote it in YAML)' if isinstance(
        value, (int, float)) and not isinstance(value, bool) else ''))
    return None


def _check_text(problems, field, value, allow_int=False):
    """A string free of control characters, or None with a problem."""
    text = _text(problems, field, value, allow_int)
    if text is None:
        return None
    return problems.check(_validate.check_no_control, field, text)


def check_memory(problems, field, value):
    """A memory limit as ``lxc_container`` takes it (``_lxc.parse_memory``: 256M, 1G, 268435456,
    256MiB), within what a cgroup can hold. Returns the text to pass on, or None."""
    text = _check_text(problems, field, value, allow_int=True)
    if text is None:
        return None
    if len(text) > MEMORY_MAX_CHARS:
        problems.add(str(_validate.ValidationError(field, text, 'a size like 256M, at most %d characters'
                                                   % MEMORY_MAX_CHARS)))
        return None
    size = problems.check(_lxc.parse_memory, text, field)
    if size is None:
        return None
    if size > MEMORY_MAX_BYTES:
        problems.add(str(_validate.ValidationError(field, text, 'at most %d bytes (a cgroup limit is a 64-bit '
                                                   'counter); this is %d' % (MEMORY_MAX_BYTES, size))))
        return None
    return text.strip()


def check_shares(problems, field, value):
    """CPU shares as ``lxc_container`` takes them (``_lxc.limit_keys``: 2 to 262144). An int."""
    if isinstance(value, str) and _SHARES_TEXT_RE.match(value):
        value = int(value)
    rule = 'a whole number from 2 to 262144 (1024 is the default weight)'
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add('invalid %s %s: %s' % (field, show(value), rule))
        return None
    if value.bit_length() > 32:
        problems.add('invalid %s (an integer of %d bits): %s' % (field, value.bit_length(), rule))
        return None
    try:
        _lxc.limit_keys({'cpu_shares': value}, 1)
    except _lxc.LxcError as exc:
        problems.add(str(exc) if field == 'cpu_shares' else '%s: %s' % (field, exc))
        return None
    return value


def check_list(problems, field, value, each):
    """A list whose items pass ``each(problems, 'field[i]', item)``; None when it is not one."""
    if not isinstance(value, (list, tuple)):
        problems.add('invalid %s %s: a list of strings' % (field, show(value)))
        return None
    out = []
    for i, item in enumerate(value):
        checked = each(problems, '%s[%d]' % (field, i), item)
        if checked is None:
            return None
        out.append(checked)
    return out


def _package(problems, field, value):
    text = _text(problems, field, value)
    return None if text is None else problems.check(_validate.check_package, field, text)


def _command(problems, field, value):
    text = _text(problems, field, value)
    if text is None:
        return None
    return problems.check(_validate.check_no_control, field, text, COMMAND_CONTROL_ALLOWED,
                          False, 'shell command lines: no control characters but newline and tab')


# --------------------------------------------------------------------------- flavors
def merge_flavors(builtin, overrides):
    """The flavor table: ``overrides`` merged recursively over ``builtin`` (like Ansible's
    ``combine(recursive=true)``). Returns ``(table, problems)``."""
    def merge(a, b):
        out = dict(a)
        for key, value in b.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    if overrides in (None, ''):
        overrides = {}
    if not isinstance(overrides, dict):
        return dict(builtin), ['invalid container_flavor_overrides %s: a mapping {flavor: {key: value}}'
                               % show(overrides)]
    problems = []
    for flavor, preset in overrides.items():
        if not isinstance(preset, dict):
            problems.append('invalid container_flavor_overrides.%s %s: a mapping of preset keys (%s)'
                            % (flavor, show(preset), ', '.join(PRESET_KEYS)))
    if problems:
        return dict(builtin), problems
    return merge(builtin, overrides), []


def check_preset(problems, flavor, preset, kernel_uses):
    """The preset's own keys (a flavor of container_flavor_overrides is user input too)."""
    where = 'flavor %s' % flavor
    unknown = sorted(str(k) for k in preset if k not in PRESET_KEYS)
    if unknown:
        problems.add('%s has unknown keys %s (known: %s)' % (where, show(unknown), ', '.join(PRESET_KEYS)))
    template = preset.get('template', 'download')
    if template not in TEMPLATES:
        problems.add('invalid %s template %s: one of %s' % (where, show(template), ', '.join(TEMPLATES)))
    manager = preset.get('package_manager', 'none')
    if manager not in PACKAGE_MANAGERS:
        problems.add('invalid %s package_manager %s: one of %s' % (where, show(manager), ', '.join(PACKAGE_MANAGERS)))
    requires = preset.get('requires', 'lxc')
    if not isinstance(requires, str) or requires not in kernel_uses:
        problems.add('invalid %s requires %s: one of %s (a kernel_config_info readiness check)'
                     % (where, show(requires), ', '.join(sorted(kernel_uses))))
    if preset.get('image') not in (None, {}) and not isinstance(preset.get('image'), dict):
        problems.add('invalid %s image %s: a mapping {dist, release, variant}' % (where, show(preset['image'])))


# --------------------------------------------------------------------------- images
def image_wanted(problems, flavor, template, preset_image, user_image):
    """The image a container asks for: ``{variant: default}``, the preset's, the user's keys;
    None for templates that take none. Every field checked (it becomes a path on the router)."""
    if user_image in (None, '', {}):
        user_image = {}
    if not isinstance(user_image, dict):
        problems.add('invalid image %s: a mapping {dist, release, variant}' % show(user_image))
        return None
    if template != 'download':
        if user_image:
            problems.add('flavor %s makes its container with the %s template, from the router itself: image %s '
                         'cannot be used (leave image out, or use a flavor that downloads one)'
                         % (flavor, template, show(user_image)))
        return None
    unknown = sorted(str(k) for k in user_image if k not in IMAGE_KEYS)
    if unknown:
        problems.add('image has unknown keys %s (known: %s)' % (show(unknown), ', '.join(IMAGE_KEYS)))
        return None
    image = {'variant': 'default'}
    image.update(preset_image if isinstance(preset_image, dict) else {})
    image.update(user_image)
    out = {}
    for key in IMAGE_KEYS:
        value = image.get(key)
        if value in (None, ''):
            if key in ('dist', 'release'):
                problems.add('image needs dist and release, got %s' % show(image))
                return None
            continue
        field = _origin('image.%s' % key, key in user_image, flavor)
        text = _text(problems, field, value, allow_int=True)
        if text is None or problems.check(_validate.check_image_field, field, text) is None:
            return None
        out[key] = text
    out.setdefault('variant', 'default')
    return out


def image_arch_name(rows, machine):
    """The arch as the server spells it (``armv7l`` or ``armhf`` for an armv7l router)."""
    return _lxc.server_arch(rows, machine)


# --------------------------------------------------------------------------- addresses
def _observed_address(observed):
    """The IPv4 address a container has now, from ``existing[name]``: ``{address}`` or the
    ``config`` of ``_lxc``'s observed state (``lxc.net.0.ipv4.address``)."""
    if not isinstance(observed, dict):
        return None
    address = observed.get('address')
    if not address:
        config = observed.get('config')
        if isinstance(config, dict):
            values = config.get('lxc.net.0.ipv4.address') or []
            address = values[0] if isinstance(values, list) and values else None
    if not isinstance(address, str) or not address:
        return None
    try:
        return ipaddress.IPv4Interface(address.strip()).ip
    except ValueError:
        return None


def hash_slot(name, slots):
    """The first slot tried for ``name``: sha1(name)[:8] as a number, modulo ``slots``."""
    return int(hashlib.sha1(name.encode('utf-8')).hexdigest()[:8], 16) % slots


def allocate(name, subnet, used):
    """An address of ``subnet`` for ``name``: its hash slot, else the next free one (wrapping);
    never the network or broadcast address nor one in ``used``. None when the subnet is full."""
    slots = subnet.num_addresses - 2
    if slots <= 0:
        return None
    start = hash_slot(name, slots)
    for j in range(slots):
        candidate = subnet.network_address + ((start + j) % slots) + 1
        if candidate not in used:
            return candidate
    return None


def _parse_plan(plan):
    """The LXC host plan (lxc_host's ``lxc_host_plan``) as the values allocation needs."""
    if not isinstance(plan, dict):
        raise ValueError('the LXC host plan must be a mapping, not %s' % show(plan))
    try:
        subnet = ipaddress.IPv4Network(str(plan['subnet']), strict=False)
        bridge_ip = ipaddress.IPv4Address(str(plan['address']))
    except (KeyError, ValueError) as exc:
        raise ValueError('the LXC host plan needs subnet and address (IPv4): %s' % exc)
    bridge = plan.get('bridge')
    _validate.check_ifname('lxc_host_plan.bridge', bridge)
    return subnet, bridge_ip, bridge


# --------------------------------------------------------------------------- the list
class _Router(object):
    """What the rules need to know about one router, read once from ``resolve``'s arguments."""

    def __init__(self, plan, flavors, overrides, readiness, board, existing):
        self.subnet, self.bridge_ip, self.bridge = _parse_plan(plan)
        self.server = plan.get('image_server')
        self.board = board or 'router'
        self.table, self.problems = merge_flavors(flavors or {}, overrides)
        ready = readiness.get('ready') if isinstance(readiness, dict) else None
        self.ready = ready if isinstance(ready, dict) else None
        missing = readiness.get('missing') if isinstance(readiness, dict) else None
        self.missing = missing if isinstance(missing, dict) else {}
        self.kernel_uses = tuple(self.ready) if self.ready else KERNEL_USES
        if isinstance(existing, dict):
            self.existing = existing
        elif isinstance(existing, (list, tuple, set)):
            self.existing = dict((n, {}) for n in existing if isinstance(n, str))
        else:
            self.existing = {}
        self.given = []


def _given_addresses(items):
    """The IPv4 addresses the list gives (any link), so that allocation avoids them."""
    given = []
    for item in items:
        net = item.get('network') if isinstance(item, dict) else None
        address = net if isinstance(net, str) else net.get('address') if isinstance(net, dict) else None
        if isinstance(address, str) and address:
            try:
                given.append(ipaddress.IPv4Interface(address.strip()).ip)
            except ValueError:
                pass
    return given


def _flavor(p, router, flavor):
    """The flavor's preset (checked), or None when the flavor is not a usable one."""
    if flavor is None:
        return None
    if flavor not in router.table:
        p.add('flavor %s is unknown (known: %s)' % (show(flavor), ', '.join(sorted(router.table))))
        return None
    preset = router.table[flavor]
    if not isinstance(preset, dict):
        p.add('invalid flavor %s preset %s: a mapping' % (flavor, show(preset)))
        return None
    check_preset(p, flavor, preset, router.kernel_uses)
    return preset


def _kernel(p, router, flavor, requires):
    ready = router.ready
    if ready is not None and isinstance(requires, str) and requires in ready and not ready[requires]:
        symbols = router.missing.get(requires)
        p.add("flavor %s needs a kernel ready for %s, and this %s's kernel is not: enable %s"
              % (flavor, requires, router.board,
                 ', '.join(str(s) for s in symbols) if symbols else 'what kernel_config_info reports'))


def _network(p, router, net):
    """``(link, on_bridge, ipv4 or None, gateway, hwaddr)`` of the item's ``network``; ipv4 None
    on the bridge means "allocate one"."""
    if net in (None, '', {}):
        net = {}
    elif isinstance(net, str):
        net = {'address': net}
    elif not isinstance(net, dict):
        p.add('invalid network %s: an IPv4 address or {address, link, gateway, hwaddr}' % show(net))
        net = {}
    unknown = sorted(str(k) for k in net if k not in NETWORK_KEYS)
    if unknown:
        p.add('network has unknown keys %s (known: %s)' % (show(unknown), ', '.join(NETWORK_KEYS)))
    link = _check_text(p, 'network.link', net.get('link') or router.bridge)
    if link is not None:
        link = p.check(_validate.check_ifname, 'network.link', link)
    on_bridge = link == router.bridge
    cidr = None
    address = net.get('address') or None
    if address is not None:
        address = _check_text(p, 'network.address', address)
        if address is not None:
            cidr = _check_address(p, address, link, on_bridge, router)
    gateway = net.get('gateway') or (str(router.bridge_ip) if on_bridge else None)
    if gateway is not None:
        gateway = _check_text(p, 'network.gateway', gateway)
        if gateway is not None:
            try:
                gateway = str(ipaddress.IPv4Address(gateway))
            except ValueError:
                p.add('invalid network.gateway %s: an IPv4 address' % show(gateway))
                gateway = None
    hwaddr = net.get('hwaddr') or None
    if hwaddr is not None:
        hwaddr = _check_text(p, 'network.hwaddr', hwaddr)
    return link, on_bridge, cidr, gateway, hwaddr


def _preset_or_user(item, preset, key, empty):
    """``(value, given by the user)``: the item's value unless empty, else the preset's."""
    value = item.get(key)
    if value in empty:
        return preset.get(key), False
    return value, True


def _limits(p, item, preset, flavor):
    memory, user = _preset_or_user(item, preset, 'memory_limit', (None, '', 0))
    memory = None if memory in (None, '', 0) else check_memory(p, _origin('memory_limit', user, flavor), memory)
    shares, user = _preset_or_user(item, preset, 'cpu_shares', (None, '', 0, '0'))
    shares = None if shares in (None, '', 0, '0') else check_shares(p, _origin('cpu_shares', user, flavor), shares)
    return memory, shares


def _password(p, password):
    """The root password to hash, or None; never shown."""
    if password in (None, ''):
        return None
    if not isinstance(password, str):
        p.add('invalid root_password (value not shown): a string')
        return None
    if '\0' in password:
        p.add('invalid root_password (value not shown): %s' % PASSWORD_RULE)
        return None
    return password


def _judge(p, router, item):
    """One item's own rules (the list-wide ones, addresses and images, come after)."""
    name = _check_text(p, 'name', item['name'], allow_int=True)
    if name is not None:
        name = p.check(_lxc.check_name, name)
    flavor = _check_text(p, 'flavor', item['flavor'])
    unknown = sorted(str(k) for k in item if k not in SPEC_KEYS)
    if unknown:
        p.add('unknown keys %s (known: %s)' % (show(unknown), ', '.join(SPEC_KEYS)))
    preset = _flavor(p, router, flavor)
    known = preset is not None
    preset = preset or {}
    template = preset.get('template', 'download')
    requires = preset.get('requires', 'lxc')
    manager = preset.get('package_manager', 'none')
    image = image_wanted(p, flavor, template, preset.get('image'), item.get('image')) if known else None
    if known:
        _kernel(p, router, flavor, requires)
    link, on_bridge, cidr, gateway, hwaddr = _network(p, router, item.get('network'))
    memory, shares = _limits(p, item, preset, flavor)
    autostart = item.get('autostart')
    if autostart is None:
        autostart = True
    elif not isinstance(autostart, bool):
        p.add('invalid autostart %s: true or false' % show(autostart))
    packages, user = _preset_or_user(item, preset, 'packages', (None, '', []))
    packages = check_list(p, _origin('packages', user, flavor), packages or [], _package)
    if packages and manager == 'none' and known:
        p.add('flavor %s has no package manager: packages %s cannot be installed' % (flavor, show(packages)))
    commands = item.get('commands')
    commands = check_list(p, 'commands', [] if commands in (None, '') else commands, _command)
    if commands and sum(len(c.encode('utf-8')) + 4 for c in commands) > COMMANDS_MAX_BYTES:
        p.add('invalid commands (%d of them, %d bytes): at most %d bytes in all (they run as one script)'
              % (len(commands), sum(len(c.encode('utf-8')) for c in commands), COMMANDS_MAX_BYTES))
    label = 'container %s (flavor %s)' % (show(name if name is not None else item['name']),
                                          flavor if flavor is not None else show(item['flavor']))
    return {
        'label': label, 'problems': p, 'name': name, 'flavor': flavor, 'requires': requires,
        'template': template, 'image': image, 'link': link, 'on_bridge': on_bridge, 'cidr': cidr,
        'gateway': gateway, 'hwaddr': hwaddr, 'memory': memory, 'shares': shares, 'autostart': autostart,
        'packages': packages, 'manager': manager, 'commands': commands,
        'password': _password(p, item.get('root_password')),
    }


def _addresses(router, entries):
    """The bridge addresses: what the list gives, then what existing containers have, then
    allocation in list order."""
    subnet = router.subnet
    used = set([router.bridge_ip]) | set(router.given)
    for e in entries:
        if e['cidr'] is None and e['on_bridge'] and e['name'] in router.existing:
            ip = _observed_address(router.existing[e['name']])
            if (ip is not None and ip in subnet and ip not in used
                    and ip not in (subnet.network_address, subnet.broadcast_address)):
                used.add(ip)
                e['cidr'] = '%s/%d' % (ip, subnet.prefixlen)
    for e in entries:
        if e['cidr'] is None and e['on_bridge'] and e['name'] is not None:
            ip = allocate(e['name'], subnet, used)
            if ip is None:
                e['problems'].add('no free address left in %s' % subnet)
            else:
                used.add(ip)
                e['cidr'] = '%s/%d' % (ip, subnet.prefixlen)
    # The interface as lxc_container will write it: its own rules, before anything changes.
    for e in entries:
        if e['link'] is not None and (e['cidr'] is not None or not e['on_bridge']):
            e['problems'].check(_lxc.network_keys, {'link': e['link'], 'ipv4': e['cidr'],
                                                    'ipv4_gateway': e['gateway'], 'hwaddr': e['hwaddr']})


def _images(router, entries, rows, lxc_arch, check_images):
    """Each download container's image; returns whether the index is wanted and was not given."""
    wanted = False
    for e in entries:
        image = e['image']
        if image is None:
            continue
        machine = image.get('arch') or lxc_arch
        if e['name'] in router.existing:
            observed = router.existing[e['name']]
            kept = observed.get('image') if isinstance(observed, dict) else None
            if isinstance(kept, dict) and kept.get('dist') and kept.get('release'):
                image = dict((k, str(kept[k])) for k in IMAGE_KEYS if kept.get(k))
        elif rows is not None:
            row = _lxc.resolve_image(rows, image['dist'], image['release'], image['variant'], machine)
            if row is None:
                e['problems'].add(_lxc.image_not_offered(image, machine, router.server, rows))
                continue
            image = row
        elif check_images:
            wanted = True
        e['image'] = _image_spec(image, machine, router.server)
    return wanted


def resolve(items, plan, flavors, readiness=None, index=None, lxc_arch='', board='', existing=None,
            hash_password=None, check_images=True, index_error=None, overrides=None):
    """Judge a router's ``containers:`` list and resolve it.

    ``items`` the list; ``plan`` the LXC host plan (``subnet``, ``address``, ``bridge``,
    ``image_server``); ``flavors`` the built-in presets and ``overrides`` the user's changes to them;
    ``readiness`` kernel_config_info's report (``ready`` {use: bool}, ``missing`` {use: [symbols]})
    or None; ``index`` the text of the server's ``meta/1.0/index-system``, None when it was not
    read (``index_error`` then says why, when it was tried); ``lxc_arch`` the router's ``uname -m``;
    ``board`` its board, for messages; ``existing`` the containers the router already has, as
    ``{name: observed}`` (``_lxc.observe_containers``'s state, or ``{address, image}``) or a list
    of names, None when unknown; ``hash_password(name, password)`` hashes a root password;
    ``check_images`` false leaves the image check out.

    Images are looked up in the index only for containers that do not exist yet: an existing
    container keeps the image it was made from (``existing[name]['image']`` when known, else the
    names asked for) and its address (when it is still a free host address of the bridge subnet
    and the list gives it none), so that adding a container never moves another one.

    Returns ``{problems: [str], specs: [spec], index_wanted: bool}``: no specs when there is a
    problem; ``index_wanted`` true when images are to be checked but no index was given (read
    it from ``_lxc.index_url``, then call again with it); false when the image server itself is
    refused.
    """
    try:
        router = _Router(plan, flavors, overrides, readiness, board, existing)
    except (ValueError, _validate.ValidationError) as exc:
        return {'problems': [str(exc)], 'specs': [], 'index_wanted': False}
    problems = list(router.problems)
    if not isinstance(items, (list, tuple)):
        problems.append('containers must be a list of {name, flavor, ...} items, not %s' % show(items))
        return {'problems': problems, 'specs': [], 'index_wanted': False}
    router.given = _given_addresses(items)

    entries = []
    names = set()
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not item.get('name') or not item.get('flavor'):
            got = ('keys %s' % show(sorted(str(k) for k in item))) if isinstance(item, dict) else show(item)
            problems.append('containers[%d] needs at least name and flavor, got %s' % (position, got))
            continue
        entry = _judge(_Problems(), router, item)
        if entry['name'] is not None and entry['name'] in names:
            entry['problems'].add('the name is used twice in containers')
        names.add(entry['name'])
        entries.append(entry)

    server_problem = None
    if any(e['image'] is not None for e in entries):
        server_problem = _check_server(router.server)
        if server_problem:
            problems.append(server_problem)
    _addresses(router, entries)
    rows = _lxc.parse_image_list(index) if isinstance(index, str) else None
    # No index is wanted from a server that is refused: there is no URL to read it from.
    index_wanted = (_images(router, entries, rows, lxc_arch, check_images) and index_error is None
                    and server_problem is None)
    if check_images and rows is None and index_error is not None and any(
            e['image'] is not None and e['name'] not in router.existing for e in entries):
        problems.append('could not read the image list %s (%s): is the image server reachable from the router?'
                        % (_lxc.index_url(router.server), index_error))

    specs = []
    for e in entries:
        if e['problems'].items:
            problems.append('%s: %s' % (e['label'], '; '.join(e['problems'].items)))
        elif not problems:
            specs.append(_spec(e, hash_password))
    if problems:
        specs = []
    return {'problems': problems, 'specs': specs, 'index_wanted': index_wanted}


def _spec(e, hash_password):
    """The spec the role acts on (roles/container/tasks/one.yml)."""
    cidr = e['cidr']
    password_hash = None
    if e['password'] is not None:
        if hash_password is None:
            raise TypeError('resolve() needs hash_password to hash the root password of %s' % e['name'])
        password_hash = hash_password(e['name'], e['password'])
    return {
        'name': e['name'], 'flavor': e['flavor'], 'requires': e['requires'], 'template': e['template'],
        'image': e['image'],
        'network': {'link': e['link'], 'ipv4': cidr, 'ipv4_gateway': e['gateway'], 'hwaddr': e['hwaddr']},
        'address': cidr.split('/')[0] if cidr else None,
        'memory_limit': e['memory'], 'cpu_shares': e['shares'], 'autostart': e['autostart'],
        'packages': e['packages'], 'package_manager': e['manager'], 'commands': e['commands'],
        'root_password_hash': password_hash,
    }


def _image_spec(image, machine, server):
    """The spec's image: the names (as the server spells them when it was asked), the arch
    (the server's, else the one ``lxc_container`` would pick for this server) and the server."""
    arch = image.get('arch') or _lxc.image_arch(machine, server or '')
    return {'dist': image['dist'], 'release': image['release'], 'variant': image.get('variant') or 'default',
            'arch': arch, 'server': server}


def _check_server(server):
    """A problem with the image server named by the plan, or None."""
    field = 'image server (lxc_host_image_server, or lxc.lxc.url on the router)'
    if not isinstance(server, str) or not server:
        return 'invalid %s %s: host[:port][/path] of an HTTPS image server' % (field, show(server))
    try:
        _validate.check_no_control(field, server)
        _lxc.server_argument(server, True)
    except (_validate.ValidationError, _lxc.LxcError) as exc:
        return str(exc)
    return None


def _check_address(p, address, link, on_bridge, router):
    """``network.address`` -> the ``ipv4`` of the spec (address/prefix), or None with a problem."""
    subnet, bridge_ip, bridge, given = router.subnet, router.bridge_ip, router.bridge, router.given
    try:
        iface = ipaddress.IPv4Interface(address.strip())
    except ValueError:
        p.add('invalid network.address %s: an IPv4 address (10.0.3.50, or 10.0.3.50/24)' % show(address))
        return None
    has_prefix = '/' in address
    if on_bridge:
        if has_prefix and iface.network.prefixlen != subnet.prefixlen:
            p.add('address %s has another prefix length than the bridge subnet %s' % (address, subnet))
        elif iface.ip not in subnet or iface.ip in (subnet.network_address, subnet.broadcast_address):
            p.add('address %s is outside the bridge %s subnet %s (a host address of it)' % (address, bridge, subnet))
        elif iface.ip == bridge_ip:
            p.add("address %s is the bridge %s's own" % (address, bridge))
        elif given.count(iface.ip) > 1:
            p.add('address %s is given to more than one container' % address)
        else:
            return '%s/%d' % (iface.ip, subnet.prefixlen)
        return None
    if given.count(iface.ip) > 1:
        p.add('address %s is given to more than one container' % address)
        return None
    if not has_prefix:
        p.add('address %s on %s (not the container bridge) needs its prefix length, e.g. %s/24'
              % (address, link, address))
        return None
    if iface.network.prefixlen < 31 and iface.ip in (iface.network.network_address, iface.network.broadcast_address):
        p.add('address %s is the network or broadcast address of %s; use a host address' % (address, iface.network))
        return None
    return str(iface)

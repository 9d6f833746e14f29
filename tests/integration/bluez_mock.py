"""bluez_mock.py - BlueZ on a private D-Bus for tests, with GATT fitness devices.

Two halves in one file:

* A python3-dbusmock template (loaded inside the mock process with
  `python3 -m dbusmock --system -t bluez_mock.py`). It loads dbusmock's
  `bluez5` template (adapters, devices, agent manager) and adds what a fitness
  gateway needs: devices with real GATT services and characteristics (heart
  rate, CSC, FTMS indoor bike and treadmill, battery) that appear when the
  device is connected (ServicesResolved), StartNotify/StopNotify/ReadValue/
  WriteValue, and notifications with real bytes as PropertiesChanged on
  GattCharacteristic1.Value, as bluetoothd sends them. Control methods for
  tests live on "/" under org.fitgate.BluezMock.

* BluezMock, used by the tests: starts a private dbus-daemon and the mock,
  and wraps the control methods. Every process is tracked by PID.

Quirks of the bluez5 template handled here (see the field notes): the
template's empty ManufacturerData/ServiceData have the wrong D-Bus type; our
devices set them again with correct types.
"""
import json
import os
import subprocess
import sys
import time

import dbus

BUS_NAME = 'org.bluez'
MAIN_OBJ = '/'
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

FIT_IFACE = 'org.fitgate.BluezMock'
DEVICE_IFACE = 'org.bluez.Device1'
SERVICE_IFACE = 'org.bluez.GattService1'
CHAR_IFACE = 'org.bluez.GattCharacteristic1'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'


def uuid128(u16):
    return f'0000{u16}-0000-1000-8000-00805f9b34fb'


# kind -> [(service uuid16, [(char uuid16, flags, initial value)])]
BATTERY = ('180f', [('2a19', ['read', 'notify'], [85])])
PROFILES = {
    'hr': [('180d', [('2a37', ['notify'], [])]), BATTERY],
    'csc': [('1816', [('2a5b', ['notify'], [])]), BATTERY],
    'bike': [('1826', [('2acc', ['read'], [0] * 8), ('2ad2', ['notify'], []),
                       ('2ad9', ['write', 'indicate'], [])]), BATTERY],
    'treadmill': [('1826', [('2acc', ['read'], [0] * 8), ('2acd', ['notify'], []),
                            ('2ad9', ['write', 'indicate'], [])]), BATTERY],
}

# ---------------------------------------------------------------- mock side
try:
    from dbusmock import mockobject
    from dbusmock.templates import bluez5
    from dbusmock.templates.bluez5 import AddAdapter  # noqa: F401  (registered on "/")
except ImportError:  # the test side does not need dbusmock's internals
    mockobject = None


def _objects():
    return mockobject.objects


def _dev_path(address):
    return '/org/bluez/hci0/dev_' + address.replace(':', '_').upper()


def _emit_props(obj, iface, changed, path=None):
    """PropertiesChanged straight on the connection: fast, no per-signal log."""
    sig = dbus.lowlevel.SignalMessage(path or obj.path, PROPS_IFACE, 'PropertiesChanged')
    sig.append(iface, changed, dbus.Array([], signature='s'), signature='sa{sv}as')
    obj.connection.send_message(sig)


def _emit_om(signal, path, payload, sig):
    root = _objects()['/']
    msg = dbus.lowlevel.SignalMessage('/', OM_IFACE, signal)
    msg.append(dbus.ObjectPath(path), payload, signature=sig)
    root.connection.send_message(msg)


def _state():
    root = _objects()['/']
    if not hasattr(root, 'fit'):
        root.fit = {'devices': {}}
    return root.fit


def _dev_props(address, name, rssi, kind):
    uuids = [uuid128(s) for s, _ in PROFILES.get(kind, [])]
    return {
        'Address': dbus.String(address, variant_level=1),
        'AddressType': dbus.String('random', variant_level=1),
        'Name': dbus.String(name, variant_level=1),
        'Alias': dbus.String(name, variant_level=1),
        'Adapter': dbus.ObjectPath('/org/bluez/hci0', variant_level=1),
        'Paired': dbus.Boolean(False, variant_level=1),
        'Connected': dbus.Boolean(False, variant_level=1),
        'Trusted': dbus.Boolean(False, variant_level=1),
        'Blocked': dbus.Boolean(False, variant_level=1),
        'ServicesResolved': dbus.Boolean(False, variant_level=1),
        'RSSI': dbus.Int16(rssi, variant_level=1),
        'UUIDs': dbus.Array(uuids, signature='s', variant_level=1),
        'ManufacturerData': dbus.Dictionary({}, signature='qv', variant_level=1),
        'ServiceData': dbus.Dictionary({}, signature='sv', variant_level=1),
    }


def _add_gatt(dev):
    """Services and characteristics appear once connected (as with a fresh,
    unbonded device in bluetoothd), then ServicesResolved turns true."""
    st = dev.fit
    handle = 0x10
    for svc, chars in PROFILES.get(st['kind'], []):
        spath = f'{dev.path}/service{handle:04x}'
        handle += 1
        sprops = {'UUID': dbus.String(uuid128(svc), variant_level=1),
                  'Device': dbus.ObjectPath(dev.path, variant_level=1),
                  'Primary': dbus.Boolean(True, variant_level=1)}
        dev.AddObject(spath, SERVICE_IFACE, sprops, [])
        _emit_om('InterfacesAdded', spath, {SERVICE_IFACE: sprops}, 'oa{sa{sv}}')
        st['objects'].append((spath, SERVICE_IFACE))
        for cu, flags, init in chars:
            cpath = f'{spath}/char{handle:04x}'
            handle += 1
            cprops = {'UUID': dbus.String(uuid128(cu), variant_level=1),
                      'Service': dbus.ObjectPath(spath, variant_level=1),
                      'Value': dbus.Array(init, signature='y', variant_level=1),
                      'Notifying': dbus.Boolean(False, variant_level=1),
                      'Flags': dbus.Array(flags, signature='s', variant_level=1)}
            dev.AddObject(cpath, CHAR_IFACE, cprops, [
                ('StartNotify', '', '', _start_notify),
                ('StopNotify', '', '', _stop_notify),
                ('ReadValue', 'a{sv}', 'ay', _read_value),
                ('WriteValue', 'aya{sv}', '', _write_value),
            ])
            c = _objects()[cpath]
            c.fit = {'uuid': cu, 'dev': dev, 'notifying': False}
            st['chars'][cu] = c
            _emit_om('InterfacesAdded', cpath, {CHAR_IFACE: cprops}, 'oa{sa{sv}}')
            st['objects'].append((cpath, CHAR_IFACE))
    dev.props[DEVICE_IFACE]['ServicesResolved'] = dbus.Boolean(True, variant_level=1)
    _emit_props(dev, DEVICE_IFACE, {'ServicesResolved': dbus.Boolean(True, variant_level=1)})


def _remove_gatt(dev):
    st = dev.fit
    for path, iface in reversed(st['objects']):
        if path in _objects():
            dev.RemoveObject(path)
        _emit_om('InterfacesRemoved', path, dbus.Array([iface], signature='s'), 'oas')
    st['objects'] = []
    st['chars'] = {}


def _set_link(dev, up):
    st = dev.fit
    st['connected'] = up
    g = _state()
    g['now_connected'] = g.get('now_connected', 0) + (1 if up else -1)
    g['max_connected'] = max(g.get('max_connected', 0), g['now_connected'])
    dev.props[DEVICE_IFACE]['Connected'] = dbus.Boolean(up, variant_level=1)
    changed = {'Connected': dbus.Boolean(up, variant_level=1)}
    if not up:
        dev.props[DEVICE_IFACE]['ServicesResolved'] = dbus.Boolean(False, variant_level=1)
        changed['ServicesResolved'] = dbus.Boolean(False, variant_level=1)
    _emit_props(dev, DEVICE_IFACE, changed)
    if up:
        _add_gatt(dev)
    else:
        _remove_gatt(dev)


def _connect(dev):
    st = dev.fit
    st['connect_calls'] += 1
    if st['fail_connects'] > 0:
        st['fail_connects'] -= 1
        raise dbus.exceptions.DBusException('Page Timeout',
                                            name='org.bluez.Error.Failed')
    if st['connected']:
        raise dbus.exceptions.DBusException('Already Connected',
                                            name='org.bluez.Error.AlreadyConnected')
    st['connects'] += 1
    _set_link(dev, True)


def _disconnect(dev):
    if not dev.fit['connected']:
        raise dbus.exceptions.DBusException('Not Connected', name='org.bluez.Error.NotConnected')
    dev.fit['disconnects'] += 1
    _set_link(dev, False)


def _pair(dev):
    """Just Works through the registered Agent1: ask it to confirm."""
    st = dev.fit
    bluez = _objects()['/org/bluez']
    agent = bluez.default_agent
    if not agent:
        raise dbus.exceptions.DBusException('no agent', name='org.bluez.Error.AuthenticationFailed')
    bus = dev.connection
    names = [n for n in bus.list_names() if n.startswith(':')]
    for n in names:
        try:
            obj = bus.get_object(n, agent, introspect=False)
            obj.RequestConfirmation(dbus.ObjectPath(dev.path), dbus.UInt32(123456),
                                    dbus_interface='org.bluez.Agent1', timeout=3)
        except dbus.exceptions.DBusException as e:
            if e.get_dbus_name() == 'org.bluez.Error.Rejected':
                raise dbus.exceptions.DBusException(
                    'rejected', name='org.bluez.Error.AuthenticationRejected')
            continue
        st['paired'] = True
        st['agent_confirmed'] += 1
        dev.props[DEVICE_IFACE]['Paired'] = dbus.Boolean(True, variant_level=1)
        _emit_props(dev, DEVICE_IFACE, {'Paired': dbus.Boolean(True, variant_level=1)})
        return
    raise dbus.exceptions.DBusException('agent unreachable',
                                        name='org.bluez.Error.AuthenticationFailed')


def _start_notify(ch):
    st = ch.fit
    dst = st['dev'].fit
    if dst['secure'] and not dst['paired']:
        raise dbus.exceptions.DBusException('Not paired', name='org.bluez.Error.NotPermitted')
    dst['start_notify'] += 1
    st['notifying'] = True
    ch.props[CHAR_IFACE]['Notifying'] = dbus.Boolean(True, variant_level=1)
    _emit_props(ch, CHAR_IFACE, {'Notifying': dbus.Boolean(True, variant_level=1)})


def _stop_notify(ch):
    ch.fit['notifying'] = False
    ch.props[CHAR_IFACE]['Notifying'] = dbus.Boolean(False, variant_level=1)


def _read_value(ch, _opts):
    return ch.props[CHAR_IFACE]['Value']


def _write_value(ch, value, _opts):
    ch.fit['dev'].fit['writes'].append([ch.fit['uuid'], bytes(value).hex()])


def _make_device(address, name, kind, rssi):
    path = _dev_path(address)
    props = _dev_props(address, name, rssi, kind)
    root = _objects()['/']
    root.AddObject(path, DEVICE_IFACE, props, [
        ('Connect', '', '', _connect),
        ('Disconnect', '', '', _disconnect),
        ('Pair', '', '', _pair),
        ('CancelPairing', '', '', ''),
    ])
    dev = _objects()[path]
    return dev, props


def AddFitDevice(self, address, name, kind, rssi):
    st = _state()
    dev, props = _make_device(address, name, kind, rssi)
    old = st['devices'].get(address)
    dev.fit = {'kind': kind, 'name': name, 'rssi': rssi, 'connected': False, 'paired': False,
               'secure': False, 'objects': [], 'chars': {}, 'connects': 0, 'connect_calls': 0,
               'disconnects': 0, 'start_notify': 0, 'fail_connects': 0, 'writes': [],
               'agent_confirmed': 0, 'sent': {}}
    if old:  # a device that comes back keeps its history
        for k in ('connects', 'connect_calls', 'disconnects', 'start_notify', 'writes', 'sent',
                  'secure', 'paired', 'agent_confirmed'):
            dev.fit[k] = old.fit[k]
    st['devices'][address] = dev
    _emit_om('InterfacesAdded', dev.path, {DEVICE_IFACE: props}, 'oa{sa{sv}}')
    return dev.path


def _dev(address):
    d = _state()['devices'].get(address)
    if d is None or d.path not in _objects():
        raise dbus.exceptions.DBusException('no such device ' + address,
                                            name=FIT_IFACE + '.NoSuchDevice')
    return d


def Notify(self, address, uuid16, values):
    """Emit one notification per value if the characteristic is notifying.
    Returns how many were sent."""
    d = _dev(address)
    ch = d.fit['chars'].get(uuid16)
    if ch is None or not ch.fit['notifying']:
        return dbus.UInt32(0)
    for v in values:
        val = dbus.Array([dbus.Byte(b) for b in v], signature='y', variant_level=1)
        ch.props[CHAR_IFACE]['Value'] = val
        _emit_props(ch, CHAR_IFACE, {'Value': val})
    d.fit['sent'][uuid16] = d.fit['sent'].get(uuid16, 0) + len(values)
    return dbus.UInt32(len(values))


def Burst(self, address, uuid16, value, n):
    """The same notification n times, as fast as the mock can (benchmark)."""
    d = _dev(address)
    ch = d.fit['chars'].get(uuid16)
    if ch is None or not ch.fit['notifying']:
        return dbus.UInt32(0)
    val = dbus.Array([dbus.Byte(b) for b in value], signature='y', variant_level=1)
    for _ in range(n):
        _emit_props(ch, CHAR_IFACE, {'Value': val})
    return dbus.UInt32(n)


def Vanish(self, address):
    """Out of range: the link drops and bluetoothd forgets the device."""
    d = _dev(address)
    if d.fit['connected']:
        _set_link(d, False)
    _objects()['/'].RemoveObject(d.path)
    _emit_om('InterfacesRemoved', d.path, dbus.Array([DEVICE_IFACE], signature='s'), 'oas')


def Return(self, address):
    """Back in range: advertising again."""
    old = _state()['devices'][address]
    return AddFitDevice(self, address, old.fit['name'], old.fit['kind'], old.fit['rssi'])


def DropLink(self, address):
    """Link loss while still in range (supervision timeout)."""
    d = _dev(address)
    if d.fit['connected']:
        _set_link(d, False)


def SetAdvert(self, address, service_uuid16, data):
    """A new advertisement with service data (advertisement-only devices)."""
    d = _dev(address)
    sd = dbus.Dictionary({uuid128(service_uuid16): dbus.Array(
        [dbus.Byte(b) for b in data], signature='y', variant_level=1)},
        signature='sv', variant_level=1)
    d.props[DEVICE_IFACE]['ServiceData'] = sd
    _emit_props(d, DEVICE_IFACE, {'ServiceData': sd,
                                  'RSSI': dbus.Int16(d.fit['rssi'], variant_level=1)})


def Configure(self, address, key, value):
    """secure (bool: StartNotify needs pairing), fail_connects (int)."""
    d = _dev(address)
    d.fit[key] = type(d.fit[key])(value)


def Stats(self):
    out = {}
    for addr, d in _state()['devices'].items():
        f = d.fit
        out[addr] = {k: f[k] for k in ('connects', 'connect_calls', 'disconnects',
                                       'start_notify', 'writes', 'sent', 'paired',
                                       'agent_confirmed', 'connected')}
        out[addr]['present'] = d.path in _objects()
    root = _objects()['/']
    adapter = _objects().get('/org/bluez/hci0')
    out['_adapter'] = {
        'discovering': bool(adapter.props['org.bluez.Adapter1']['Discovering']) if adapter else False,
        'filter': json.loads(json.dumps(
            adapter.props['org.bluez.Adapter1'].get('DiscoveryFilter') or {},
            default=lambda o: str(o))) if adapter else {},
        'agents': [str(a) for a in _objects()['/org/bluez'].agent_paths],
        'now_connected': _state().get('now_connected', 0),
        'max_connected': _state().get('max_connected', 0),
    }
    del root
    return json.dumps(out, default=lambda o: int(o) if isinstance(o, (dbus.Boolean,)) else str(o))


def load(mock, parameters):
    bluez5.load(mock, parameters)
    mock.AddMethods(FIT_IFACE, [
        ('AddFitDevice', 'sssn', 's', AddFitDevice),
        ('Notify', 'ssaay', 'u', Notify),
        ('Burst', 'ssayu', 'u', Burst),
        ('Vanish', 's', '', Vanish),
        ('Return', 's', 's', Return),
        ('DropLink', 's', '', DropLink),
        ('SetAdvert', 'ssay', '', SetAdvert),
        ('Configure', 'ssv', '', Configure),
        ('Stats', '', 's', Stats),
    ])


# ---------------------------------------------------------------- test side
DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={sock}</listen>
  <auth>EXTERNAL</auth>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class BluezMock:
    """A private system bus with the BlueZ mock on it. env() gives the
    variables fitgate-edge needs (DBUS_SYSTEM_BUS_ADDRESS)."""

    def __init__(self, workdir):
        self.dir = workdir
        self.sock = os.path.join(workdir, 'system_bus_socket')
        self.address = f'unix:path={self.sock}'
        self.daemon = None
        self.mock = None
        self.bus = None

    def start(self, adapter=True):
        conf = os.path.join(self.dir, 'dbus.conf')
        with open(conf, 'w') as f:
            f.write(DBUS_CONF.format(sock=self.sock))
        self.daemon = subprocess.Popen(['dbus-daemon', f'--config-file={conf}', '--nofork',
                                        '--nopidfile'],
                                       stdout=subprocess.DEVNULL,
                                       stderr=open(os.path.join(self.dir, 'dbus.log'), 'ab'))
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if time.time() > deadline or self.daemon.poll() is not None:
                raise RuntimeError('dbus-daemon did not start')
            time.sleep(0.02)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.mock = subprocess.Popen(
            ['/usr/bin/python3', '-m', 'dbusmock', '--system', '-t', os.path.abspath(__file__),
             '-l', os.path.join(self.dir, 'bluez-mock.log')],
            env=env, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, 'bluez-mock.err'), 'ab'))
        self.bus = dbus.bus.BusConnection(self.address)
        deadline = time.time() + 15
        while not self.bus.name_has_owner('org.bluez'):
            if time.time() > deadline or self.mock.poll() is not None:
                raise RuntimeError('BlueZ mock did not start; see bluez-mock.err')
            time.sleep(0.05)
        self.root = self.bus.get_object('org.bluez', '/')
        self.ctl = dbus.Interface(self.root, FIT_IFACE)
        if adapter:
            dbus.Interface(self.root, 'org.bluez.Mock').AddAdapter('hci0', 'fitgate-gw')
        return self

    def env(self):
        return {'DBUS_SYSTEM_BUS_ADDRESS': self.address}

    # -- control --
    def add(self, address, name, kind, rssi=-60):
        return str(self.ctl.AddFitDevice(address, name, kind, dbus.Int16(rssi)))

    def notify(self, address, uuid16, payloads):
        arr = dbus.Array([dbus.Array([dbus.Byte(b) for b in p], signature='y')
                          for p in payloads], signature='ay')
        return int(self.ctl.Notify(address, uuid16, arr, timeout=120))

    def burst(self, address, uuid16, payload, n):
        return int(self.ctl.Burst(address, uuid16, dbus.Array([dbus.Byte(b) for b in payload],
                                                              signature='y'),
                                  dbus.UInt32(n), timeout=600))

    def vanish(self, address):
        self.ctl.Vanish(address)

    def come_back(self, address):
        self.ctl.Return(address)

    def drop_link(self, address):
        self.ctl.DropLink(address)

    def set_advert(self, address, uuid16, data):
        self.ctl.SetAdvert(address, uuid16, dbus.Array([dbus.Byte(b) for b in data],
                                                       signature='y'))

    def configure(self, address, key, value):
        self.ctl.Configure(address, key, value)

    def stats(self):
        return json.loads(str(self.ctl.Stats()))

    def wait(self, pred, timeout=20.0, what='condition'):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.stats()
            if pred(last):
                return last
            time.sleep(0.1)
        raise TimeoutError(f'{what} not reached; mock stats: {json.dumps(last)[:2000]}')

    def stop(self):
        if self.bus is not None:
            try:
                self.bus.close()
            except Exception:
                pass
            self.bus = None
        for p in (self.mock, self.daemon):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == '__main__' and mockobject is not None and len(sys.argv) > 1:
    print('usage: loaded by python3 -m dbusmock -t', __file__)

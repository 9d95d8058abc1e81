"""
An SNMP v1/v2c agent that answers with error statuses, for the tests of how
sonae reports them.  snmpsim 0.4's `error` variation answers NULL values
with no error status, and snmpd gives no way to make one object fail, so
this agent is built on pysnmp's protocol layer (Debian's python3-pysnmp4,
which snmpsim uses): the messages are encoded and decoded by pysnmp, not by
anything of sonae's.

    errstat_agent.py PORT COMMUNITY

Objects under 1.3.6.1.4.1.99999.1 (see OBJECTS): numbers, an IpAddress, and
objects whose GET fails with genErr or authorizationError; a GET of more
than MAX_VARBINDS objects is answered tooBig, as an agent with a small
buffer does.  Listens on 127.0.0.1 only; stopped by SIGTERM.
"""
import signal
import socket
import sys

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

BASE = "1.3.6.1.4.1.99999.1."
MAX_VARBINDS = 3
GEN_ERR, AUTHORIZATION_ERROR, NO_SUCH_NAME, TOO_BIG = 5, 16, 2, 1

# OID -> ("int", n) | ("ip", "a.b.c.d") | ("error", status)
OBJECTS = {
    "1.3.6.1.2.1.1.3.0": ("ticks", 424242),
    BASE + "1.0": ("int", 21),
    BASE + "2.0": ("error", GEN_ERR),
    BASE + "3.0": ("int", 55),
    BASE + "4.0": ("error", AUTHORIZATION_ERROR),
    BASE + "5.0": ("ip", "10.0.0.1"),
    BASE + "6.0": ("int", -7),
}


def answer(data, community):
    version = api.decodeMessageVersion(data)
    p = api.protoModules[version]
    req, _ = decoder.decode(data, asn1Spec=p.Message())
    if str(p.apiMessage.getCommunity(req)) != community:
        return None  # an agent drops a wrong community silently
    pdu = p.apiMessage.getPDU(req)
    if not pdu.isSameTypeWith(p.GetRequestPDU()):
        return None
    rsp = p.apiMessage.getResponse(req)
    rpdu = p.apiMessage.getPDU(rsp)
    names = [oid for oid, _ in p.apiPDU.getVarBinds(pdu)]
    out, status, index = [], 0, 0
    if len(names) > MAX_VARBINDS:
        status = TOO_BIG
    for i, oid in enumerate(names, 1):
        kind, v = OBJECTS.get(str(oid), ("missing", None))
        if kind == "int":
            val = p.Integer(v)
        elif kind == "ticks":
            val = p.TimeTicks(v)
        elif kind == "ip":
            val = p.IpAddress(v)
        elif kind == "error" and not status:
            status, index, val = v, i, p.Null("")
        elif kind == "missing" and version == api.protoVersion1:
            if not status:
                status, index = NO_SUCH_NAME, i
            val = p.Null("")
        elif kind == "missing":
            val = api.v2c.NoSuchObject("")
        else:
            val = p.Null("")
        out.append((oid, val))
    if status == AUTHORIZATION_ERROR and version == api.protoVersion1:
        status = NO_SUCH_NAME  # v1 has no authorizationError (RFC 3584 4.4)
    if status:
        # An error answer carries the request's varbinds (RFC 3416 4.2.1).
        out = [(oid, p.Null("")) for oid in names]
    p.apiPDU.setVarBinds(rpdu, out)
    p.apiPDU.setErrorStatus(rpdu, status)
    p.apiPDU.setErrorIndex(rpdu, index)
    return encoder.encode(rsp)


def main():
    port, community = int(sys.argv[1]), sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        try:
            rsp = answer(data, community)
        except Exception as e:  # a request pysnmp cannot read: drop it
            print("dropped a request from %s: %s" % (peer, e), flush=True)
            continue
        if rsp is not None:
            s.sendto(rsp, peer)


if __name__ == "__main__":
    main()

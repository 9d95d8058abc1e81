# snmpsim variation module for the demo's WAN switch (etc/demo/wan1.snmprec):
# an interface whose ifOperStatus can be SET (scripts/demo-story.py takes the
# uplink down and up that way), ifLastChange that follows it, and 64-bit
# octet counters that count at a steady rate only while the interface is up,
# as a real switch's do.  Loaded by snmpsimd --variation-modules-dir.
#
# Record values (comma-separated key=value):
#   if=N,show=oper[,oper=1]             ifOperStatus of interface N (settable)
#   if=N,show=lastchange,uptime=T       ifLastChange: the agent's sysUpTime at
#                                       the last change (T: sysUpTime at start;
#                                       0 until the first change)
#   if=N,show=octets,rate=R,initial=V   a Counter64 adding R octets/s while up
import time

START = time.time()


def init(**context):
    pass


def _link(n, now):
    links = agentContext.setdefault("links", {})
    if n not in links:
        links[n] = {"oper": 1, "since": now, "changed": None, "octets": {}}
    return links[n]


def _advance(link, now):
    if link["oper"] == 1:
        for c in link["octets"].values():
            c[0] += c[1] * (now - link["since"])
    link["since"] = now


def variate(oid, tag, value, **context):
    if not context["nextFlag"] and not context["exactMatch"]:
        return context["origOid"], tag, context["errorStatus"]
    if "settings" not in recordContext:
        recordContext["settings"] = dict(x.split("=", 1) for x in value.split(","))
    s = recordContext["settings"]
    now = time.time()
    link = _link(s.get("if", "1"), now)
    _advance(link, now)
    show = s.get("show")
    if show == "oper":
        if "init" not in recordContext:
            recordContext["init"] = True
            link["oper"] = int(s.get("oper", "1"))
        if context["setFlag"]:
            v = int(context["origValue"])
            if v < 1 or v > 7:
                return context["origOid"], tag, context["errorStatus"]
            if v != link["oper"]:
                link["oper"] = v
                link["changed"] = now
        return oid, tag, link["oper"]
    if context["setFlag"]:
        return context["origOid"], tag, context["errorStatus"]
    if show == "lastchange":
        if link["changed"] is None:
            return oid, tag, 0
        return oid, tag, int(float(s.get("uptime", "0")) + (link["changed"] - START) * 100)
    if show == "octets":
        key = str(oid)
        if key not in link["octets"]:
            link["octets"][key] = [float(s.get("initial", "0")), float(s.get("rate", "0"))]
        return oid, tag, int(link["octets"][key][0])
    return context["origOid"], tag, context["errorStatus"]


def shutdown(**context):
    pass

/*
 * The SNMP trap receiver: one UDP socket on the daemon's loop.  A trap is a
 * hint, the poll is the truth: a trap from the address of a configured snmp
 * device makes that device poll now (device_trap), and the metrics change
 * only through that poll.  Traps from anywhere else, with the wrong
 * community, or that do not parse are counted and logged at most once per
 * log_interval, never more: a storm must not flood the log or the journal.
 *
 * Decoding is net-snmp's own parser without a session: snmp_comstr_parse for
 * the v1/v2c header (version, community) and snmp_pdu_parse for the PDU.  No
 * session means no blocking name lookup, no transport of net-snmp's on our
 * loop and nothing to answer; the UDP source address comes from recvfrom,
 * not from the v1 agent-addr field, which the sender writes as it likes.
 * v1 traps become their SNMPv2 trap OID as RFC 3584 section 3.1 says.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define TRAP_PORT       162
#define TRAP_BUF        65536 /* the largest UDP payload, so nothing is cut */
#define TRAP_READS      64    /* datagrams read per wake-up, then others' turn */
#define TRAP_RCVBUF     (1024 * 1024)
#define TRAP_DEVLOG_MAX 4096 /* per-device rate limits kept */

static const oid oid_sysuptime[] = { 1, 3, 6, 1, 2, 1, 1, 3, 0 };
static const oid oid_trapoid[] = { 1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0 };
static const oid oid_snmptraps[] = { 1, 3, 6, 1, 6, 3, 1, 1, 5 };
static const oid oid_upstraps[] = { 1, 3, 6, 1, 2, 1, 33, 2 };
static const oid oid_apc[] = { 1, 3, 6, 1, 4, 1, 318 };
static const oid oid_ifindex[] = { 1, 3, 6, 1, 2, 1, 2, 2, 1, 1 };
static const oid oid_alarmdescr[] = { 1, 3, 6, 1, 2, 1, 33, 1, 6, 2, 1, 2 };

#define OIDLEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const trap_kind_names[] = {
	[TK_OTHER] = "other",
	[TK_COLD_START] = "cold-start",
	[TK_WARM_START] = "warm-start",
	[TK_LINK_DOWN] = "link-down",
	[TK_LINK_UP] = "link-up",
	[TK_AUTH_FAILURE] = "authentication-failure",
	[TK_UPS_ON_BATTERY] = "ups-on-battery",
	[TK_UPS_TEST_COMPLETED] = "ups-test-completed",
	[TK_UPS_ALARM_ADDED] = "ups-alarm-added",
	[TK_UPS_ALARM_REMOVED] = "ups-alarm-removed",
	[TK_APC_ON_BATTERY] = "apc-on-battery",
	[TK_APC_LOW_BATTERY] = "apc-low-battery",
	[TK_APC_POWER_RESTORED] = "apc-power-restored",
	[TK_APC_LOW_BATTERY_GONE] = "apc-return-from-low-battery",
};

/* A rate limit for one kind of message: at most one per interval. */
struct trap_limit {
	int64_t next_mono;
	unsigned long suppressed;
};

/* Traps from one device, for its log lines and journal entries. */
struct trap_devlog {
	char *name; /* hmap key */
	struct trap_limit lim;
};

struct trap_receiver {
	struct event_base *base;
	struct daemon *d;
	char *listen;     /* the address bound */
	char *configured; /* the address asked for, when binding it failed */
	char *error;      /* why */
	char *community;
	int64_t log_interval_ms;
	int64_t poll_gap_ms;
	int fd;
	struct event *ev;
	u_char *buf;
	struct trap_counters n;
	struct trap_limit unknown, community_lim, malformed_lim;
	struct hmap *devlog;
	size_t ndevlog;
	/* The last trap accepted, for `sonae traps`. */
	int64_t last_ms;
	char last_peer[80];
	char last_kind[160];
};

/* Short name of a trap kind ("ups-on-battery"). */
const char *
trap_kind_name(enum trap_kind k)
{
	if ((size_t)k >= OIDLEN(trap_kind_names) || trap_kind_names[k] == NULL)
		return "other";
	return trap_kind_names[k];
}

static int
oid_prefix(const oid *o, size_t len, const oid *pre, size_t plen)
{
	return len >= plen && memcmp(o, pre, plen * sizeof(oid)) == 0;
}

/*
 * What an SNMPv2 trap OID says: the generic traps of SNMPv2-MIB and IF-MIB,
 * UPS-MIB's upsTraps and APC PowerNet's UPS traps.  Pure, for the unit tests.
 */
enum trap_kind
trap_classify(const oid *o, size_t len)
{
	size_t n;

	n = OIDLEN(oid_snmptraps);
	if (len == n + 1 && oid_prefix(o, len, oid_snmptraps, n)) {
		switch (o[n]) {
		case 1:
			return TK_COLD_START;
		case 2:
			return TK_WARM_START;
		case 3:
			return TK_LINK_DOWN;
		case 4:
			return TK_LINK_UP;
		case 5:
			return TK_AUTH_FAILURE;
		}
		return TK_OTHER;
	}
	/*
	 * upsTraps (RFC 1628) are NOTIFICATION-TYPEs right under upsTraps:
	 * upsTrapOnBattery is upsTraps.1.  An SNMPv1 agent sends them as
	 * enterprise upsTraps, specific N, which RFC 3584 turns into
	 * upsTraps.0.N: both forms are the same trap.
	 */
	n = OIDLEN(oid_upstraps);
	if (oid_prefix(o, len, oid_upstraps, n) &&
	    (len == n + 1 || (len == n + 2 && o[n] == 0))) {
		switch (o[len - 1]) {
		case 1:
			return TK_UPS_ON_BATTERY;
		case 2:
			return TK_UPS_TEST_COMPLETED;
		case 3:
			return TK_UPS_ALARM_ADDED;
		case 4:
			return TK_UPS_ALARM_REMOVED;
		}
		return TK_OTHER;
	}
	/* PowerNet-MIB TRAP-TYPEs: enterprise apc, so apc.0.N in SNMPv2. */
	n = OIDLEN(oid_apc);
	if (len == n + 2 && oid_prefix(o, len, oid_apc, n) && o[n] == 0) {
		switch (o[n + 1]) {
		case 5:
			return TK_APC_ON_BATTERY;
		case 7:
			return TK_APC_LOW_BATTERY;
		case 9:
			return TK_APC_POWER_RESTORED;
		case 11:
			return TK_APC_LOW_BATTERY_GONE;
		}
	}
	return TK_OTHER;
}

/*
 * The SNMPv2 trap OID of an SNMPv1 trap (RFC 3584 3.1): a generic trap
 * (0..5) is snmpTraps.(generic + 1); an enterprise-specific one (6) is
 * enterprise.0.specific.  -1 when it does not fit or the generic is unknown.
 */
int
trap_v1_oid(
    const oid *ent, size_t entlen, long generic, long specific, oid *out, size_t *outlen)
{
	size_t n = OIDLEN(oid_snmptraps);

	if (generic >= 0 && generic <= 5) {
		memcpy(out, oid_snmptraps, sizeof(oid_snmptraps));
		out[n] = (oid)generic + 1;
		*outlen = n + 1;
		return 0;
	}
	if (generic != 6 || specific < 0 || ent == NULL || entlen == 0 ||
	    entlen + 2 > MAX_OID_LEN)
		return -1;
	memcpy(out, ent, entlen * sizeof(oid));
	out[entlen] = 0;
	out[entlen + 1] = (oid)specific;
	*outlen = entlen + 2;
	return 0;
}

static void
trap_detail(struct trap_msg *m, const netsnmp_variable_list *vb)
{
	size_t n;

	/* linkDown/linkUp carry ifIndex.N = N; the UPS alarm traps upsAlarmDescr. */
	for (; vb != NULL; vb = vb->next_variable) {
		n = OIDLEN(oid_ifindex);
		if (vb->name_length == n + 1 &&
		    oid_prefix(vb->name, vb->name_length, oid_ifindex, n) &&
		    vb->type == ASN_INTEGER && vb->val.integer != NULL) {
			m->ifindex = *vb->val.integer;
			snprintf(m->detail, sizeof(m->detail), "ifIndex %ld", m->ifindex);
			return;
		}
		n = OIDLEN(oid_alarmdescr);
		if (vb->name_length == n + 1 &&
		    oid_prefix(vb->name, vb->name_length, oid_alarmdescr, n) &&
		    vb->type == ASN_OBJECT_ID && vb->val.objid != NULL) {
			int x =
			    snmp_alarm_match(vb->val.objid, vb->val_len / sizeof(oid));
			if (x > 0)
				snmp_alarm_text(1u << x, m->detail, sizeof(m->detail));
			else
				snmp_oid_text(vb->val.objid, vb->val_len / sizeof(oid),
				    m->detail, sizeof(m->detail));
			return;
		}
	}
}

/*
 * Decode one datagram.  Returns 0 with the trap in m, -1 when it is not a
 * well-formed SNMPv1 Trap or SNMPv2c Trap (why says what), -2 when it is
 * well formed but of a kind not received here (SNMPv3, InformRequest).
 */
int
trap_decode(const u_char *data, size_t size, struct trap_msg *m, char *why, size_t whylen)
{
	u_char *copy, *p, comm[sizeof(m->community)];
	size_t len = size, clen = sizeof(comm) - 1;
	netsnmp_pdu *pdu = NULL;
	netsnmp_variable_list *vb;
	long version = -1;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->ifindex = -1;
	why[0] = '\0';
	if (size == 0 || size > TRAP_BUF) {
		snprintf(why, whylen, "%zu bytes", size);
		return -1;
	}
	/* net-snmp's parsers take writable buffers; give them a copy. */
	copy = xmalloc(size);
	memcpy(copy, data, size);
	if ((p = snmp_comstr_parse(copy, &len, comm, &clen, &version)) == NULL) {
		if (version == SNMP_VERSION_3) {
			snprintf(why, whylen, "SNMPv3 (not received here)");
			rc = -2;
		} else
			snprintf(why, whylen, "not an SNMP v1/v2c message");
		goto out;
	}
	if (version != SNMP_VERSION_1 && version != SNMP_VERSION_2c) {
		snprintf(why, whylen, "SNMP version field %ld", version);
		rc = version == SNMP_VERSION_3 ? -2 : -1;
		goto out;
	}
	m->version = version;
	memcpy(m->community, comm, clen);
	m->community_len = clen;
	pdu = snmp_pdu_create(SNMP_MSG_TRAP);
	pdu->version = version;
	if (snmp_pdu_parse(pdu, p, &len) != 0) {
		snprintf(why, whylen, "unreadable PDU");
		goto out;
	}
	if (version == SNMP_VERSION_1) {
		if (pdu->command != SNMP_MSG_TRAP) {
			snprintf(why, whylen, "SNMPv1 PDU type 0x%02x is not a Trap",
			    (unsigned)pdu->command);
			goto out;
		}
		if (trap_v1_oid(pdu->enterprise, pdu->enterprise_length, pdu->trap_type,
		        pdu->specific_type, m->oid, &m->oid_len) == -1) {
			snprintf(why, whylen, "SNMPv1 trap with generic-trap %ld",
			    pdu->trap_type);
			goto out;
		}
		inet_ntop(AF_INET, pdu->agent_addr, m->agent_addr, sizeof(m->agent_addr));
	} else {
		if (pdu->command == SNMP_MSG_INFORM) {
			snprintf(why, whylen, "InformRequest (not received here)");
			rc = -2;
			goto out;
		}
		if (pdu->command != SNMP_MSG_TRAP2) {
			snprintf(why, whylen, "SNMPv2c PDU type 0x%02x is not a Trap",
			    (unsigned)pdu->command);
			goto out;
		}
		/* RFC 3416 4.2.6: sysUpTime.0, then snmpTrapOID.0, then the rest. */
		vb = pdu->variables;
		if (vb == NULL || vb->next_variable == NULL ||
		    snmp_oid_compare(vb->name, vb->name_length, oid_sysuptime,
		        OIDLEN(oid_sysuptime)) != 0) {
			snprintf(why, whylen, "SNMPv2c trap without sysUpTime.0 first");
			goto out;
		}
		vb = vb->next_variable;
		if (snmp_oid_compare(vb->name, vb->name_length, oid_trapoid,
		        OIDLEN(oid_trapoid)) != 0 ||
		    vb->type != ASN_OBJECT_ID || vb->val.objid == NULL ||
		    vb->val_len / sizeof(oid) == 0 ||
		    vb->val_len / sizeof(oid) > MAX_OID_LEN) {
			snprintf(
			    why, whylen, "SNMPv2c trap without snmpTrapOID.0 second");
			goto out;
		}
		m->oid_len = vb->val_len / sizeof(oid);
		memcpy(m->oid, vb->val.objid, m->oid_len * sizeof(oid));
	}
	m->kind = trap_classify(m->oid, m->oid_len);
	trap_detail(m, pdu->variables);
	rc = 0;
out:
	if (pdu != NULL)
		snmp_free_pdu(pdu);
	free(copy);
	return rc;
}

/*
 * Parse a listen address, "udp:A.B.C.D[:PORT]" or "udp6:[ADDR][:PORT]"
 * (numeric, as snmp_address_valid checks), port 162 when none is given.
 */
int
trap_address_parse(const char *a, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *p, *end, *port;
	long n = TRAP_PORT;

	if (!snmp_address_valid(a))
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (strncmp(a, "udp:", 4) == 0) {
		p = a + 4;
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
		port = *end == ':' ? end + 1 : NULL;
	} else {
		p = a + 6;
		end = strchr(p, ']');
		port = end[1] == ':' ? end + 2 : NULL;
	}
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	if (port != NULL)
		n = strtol(port, NULL, 10);
	if (a[3] == ':') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)n);
		inet_pton(AF_INET, host, &sin->sin_addr);
		*sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)n);
		inet_pton(AF_INET6, host, &sin6->sin6_addr);
		*sl = sizeof(*sin6);
	}
	return 0;
}

/* Is a a listen address trap_address_parse takes?  (For the schema.) */
int
trap_listen_valid(const char *a)
{
	return snmp_address_valid(a);
}

/* "127.0.0.1:5000" or "[::1]:5000", for messages. */
static void
trap_peer_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, len, "(address family %d)", sa->sa_family);
}

/*
 * May this message be logged now?  Returns 1 (and in *held the number held
 * back since the last one) at most once per interval, else counts it.
 */
static int
trap_limit_pass(struct trap_limit *l, int64_t interval_ms, unsigned long *held)
{
	int64_t now = time_mono_ms();

	if (l->next_mono != 0 && now < l->next_mono) {
		l->suppressed++;
		return 0;
	}
	*held = l->suppressed;
	l->suppressed = 0;
	l->next_mono = now + (interval_ms > 0 ? interval_ms : 1);
	return 1;
}

static void
trap_kind_text(const struct trap_msg *m, char *buf, size_t len)
{
	char o[128];

	if (m->kind == TK_OTHER) {
		snmp_oid_text(m->oid, m->oid_len, o, sizeof(o));
		snprintf(buf, len, "%s", o);
	} else if (m->detail[0] != '\0')
		snprintf(buf, len, "%s (%s)", trap_kind_name(m->kind), m->detail);
	else
		snprintf(buf, len, "%s", trap_kind_name(m->kind));
}

struct trap_hit {
	struct trap_receiver *r;
	const struct trap_msg *m;
	const char *peer;
	const char *kind;
	size_t devices, polls;
};

static void
trap_device(struct device *dev, void *arg)
{
	struct trap_hit *h = arg;
	struct trap_receiver *r = h->r;
	struct trap_devlog *dl;
	unsigned long held = 0;
	int planned;
	char agent[64] = "";

	h->devices++;
	planned = device_trap(dev, h->kind, r->poll_gap_ms);
	h->polls += planned;
	if ((dl = hmap_get(r->devlog, device_name(dev))) == NULL) {
		if (r->ndevlog >= TRAP_DEVLOG_MAX)
			return; /* only after thousands of devices came and went */
		dl = xcalloc(1, sizeof(*dl));
		dl->name = xstrdup(device_name(dev));
		hmap_put(r->devlog, dl->name, dl);
		r->ndevlog++;
	}
	if (!trap_limit_pass(&dl->lim, r->log_interval_ms, &held))
		return;
	/* The v1 agent-addr field is the sender's word only: shown, never used. */
	if (h->m->agent_addr[0] != '\0' &&
	    (strncmp(h->peer, h->m->agent_addr, strlen(h->m->agent_addr)) != 0 ||
	        h->peer[strlen(h->m->agent_addr)] != ':'))
		snprintf(agent, sizeof(agent), ", agent-addr %s", h->m->agent_addr);
	if (held > 0)
		log_info("device \"%s\": trap %s from %s%s; %s (%lu more since the last "
		         "message)",
		    device_name(dev), h->kind, h->peer, agent,
		    planned ? "polling" : "a poll is due already", held);
	else
		log_info("device \"%s\": trap %s from %s%s; %s", device_name(dev),
		    h->kind, h->peer, agent,
		    planned ? "polling" : "a poll is due already");
	daemon_journal(r->d, "sonaed", "device.trap",
	    json_pack("{s:s, s:s, s:s, s:I}", "device", device_name(dev), "trap", h->kind,
	        "peer", h->peer, "held_back", (json_int_t)held));
}

/* One datagram from peer: decode, check, hand to the devices at its address. */
void
trap_input(struct trap_receiver *r, const u_char *data, size_t size,
    const struct sockaddr *sa, socklen_t sl)
{
	struct trap_msg m;
	struct trap_hit h;
	char peer[80], why[160], kind[160];
	unsigned long held = 0;
	int rc;

	r->n.received++;
	trap_peer_text(sa, peer, sizeof(peer));
	if ((rc = trap_decode(data, size, &m, why, sizeof(why))) != 0) {
		if (rc == -2)
			r->n.unsupported++;
		else
			r->n.malformed++;
		if (trap_limit_pass(&r->malformed_lim, r->log_interval_ms, &held))
			log_warnx("traps: %zu bytes from %s dropped: %s%s", size, peer,
			    why, held > 0 ? " (and earlier ones not logged)" : "");
		return;
	}
	if (m.community_len != strlen(r->community) ||
	    memcmp(m.community, r->community, m.community_len) != 0) {
		r->n.bad_community++;
		if (trap_limit_pass(&r->community_lim, r->log_interval_ms, &held))
			log_warnx("traps: trap from %s with the wrong community, dropped "
			          "(%lu more since the last message)",
			    peer, held);
		return;
	}
	trap_kind_text(&m, kind, sizeof(kind));
	memset(&h, 0, sizeof(h));
	h.r = r;
	h.m = &m;
	h.peer = peer;
	h.kind = kind;
	snmp_devices_at(sa, sl, trap_device, &h);
	if (h.devices == 0) {
		r->n.unknown_source++;
		if (trap_limit_pass(&r->unknown, r->log_interval_ms, &held))
			log_warnx("traps: trap %s from %s: no snmp device has that "
			          "address, dropped (%lu more since the last message)",
			    kind, peer, held);
		return;
	}
	if (h.polls > 0)
		r->n.polled++;
	else
		r->n.coalesced++;
	r->last_ms = time_now_ms();
	snprintf(r->last_peer, sizeof(r->last_peer), "%s", peer);
	snprintf(r->last_kind, sizeof(r->last_kind), "%s", kind);
}

static void
trap_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct trap_receiver *r = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	ssize_t n;
	int i;

	(void)ev;
	for (i = 0; i < TRAP_READS; i++) {
		sl = sizeof(ss);
		n = recvfrom(fd, r->buf, TRAP_BUF, 0, (struct sockaddr *)&ss, &sl);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("traps: %s: recvfrom", r->listen);
			return;
		}
		trap_input(r, r->buf, (size_t)n, (struct sockaddr *)&ss, sl);
	}
}

/* Bind a UDP socket to address a; -1 with the reason in err. */
static int
trap_bind(const char *a, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, size = TRAP_RCVBUF;

	if (trap_address_parse(a, &ss, &sl) == -1) {
		snprintf(err, errlen, "traps.listen %s: not a numeric UDP address", a);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) ==
	    -1) {
		snprintf(err, errlen, "traps.listen %s: socket: %s", a, strerror(errno));
		return -1;
	}
	/* A burst of traps (a whole rack losing power) waits in the kernel. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1) {
		snprintf(err, errlen, "traps.listen %s: cannot bind: %s%s", a,
		    strerror(errno),
		    errno == EACCES ? " (ports below 1024 need root: sonaed binds "
		                      "them before it drops privileges, not on reload)"
		                    : "");
		close(fd);
		return -1;
	}
	return fd;
}

static void
trap_settings(struct trap_receiver *r, const struct conf *conf)
{
	free(r->community);
	r->community = xstrdup(conf->traps.community);
	r->log_interval_ms = conf->traps.log_interval_ms;
	r->poll_gap_ms = conf->traps.poll_gap_ms;
}

static void
trap_use_socket(struct trap_receiver *r, int fd, const char *a)
{
	if (r->ev != NULL)
		event_free(r->ev);
	if (r->fd != -1)
		close(r->fd);
	r->fd = fd;
	free(r->listen);
	r->listen = xstrdup(a);
	r->ev = event_new(r->base, fd, EV_READ | EV_PERSIST, trap_on_read, r);
	if (r->ev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(r->ev, NULL);
}

/*
 * Open the receiver for conf->traps (which must be on), bound now: sonaed
 * calls this before it drops privileges, so port 162 works.  NULL with the
 * reason in err when the address cannot be bound.
 */
struct trap_receiver *
trap_new(struct event_base *base, struct daemon *d, const struct conf *conf, char *err,
    size_t errlen)
{
	struct trap_receiver *r;
	int fd;

	if ((fd = trap_bind(conf->traps.listen, err, errlen)) == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->d = d;
	r->fd = -1;
	r->buf = xmalloc(TRAP_BUF);
	r->devlog = hmap_new();
	trap_settings(r, conf);
	trap_use_socket(r, fd, conf->traps.listen);
	log_info("traps: listening on %s", r->listen);
	return r;
}

/*
 * Apply a reloaded configuration.  An unchanged address keeps its socket; a
 * new one is bound first and the old one closed only once that worked, so a
 * reload that cannot bind (port 162 after the privilege drop) keeps
 * receiving on the old address, says why, and returns -1.
 */
int
trap_reconf(struct trap_receiver *r, const struct conf *conf, char *err, size_t errlen)
{
	int fd;

	trap_settings(r, conf);
	free(r->configured);
	free(r->error);
	r->configured = r->error = NULL;
	if (strcmp(r->listen, conf->traps.listen) == 0)
		return 0;
	if ((fd = trap_bind(conf->traps.listen, err, errlen)) == -1) {
		r->configured = xstrdup(conf->traps.listen);
		r->error = xstrdup(err);
		log_warnx("%s; still listening on %s", err, r->listen);
		return -1;
	}
	log_info("traps: listening on %s instead of %s", conf->traps.listen, r->listen);
	trap_use_socket(r, fd, conf->traps.listen);
	return 0;
}

/* Close the receiver. Takes NULL. */
void
trap_free(struct trap_receiver *r)
{
	struct trap_devlog *dl;
	size_t it = 0;

	if (r == NULL)
		return;
	if (r->ev != NULL)
		event_free(r->ev);
	if (r->fd != -1)
		close(r->fd);
	while ((dl = hmap_next(r->devlog, &it)) != NULL) {
		free(dl->name);
		free(dl);
	}
	hmap_free(r->devlog);
	free(r->buf);
	free(r->listen);
	free(r->configured);
	free(r->error);
	free(r->community);
	free(r);
}

/* The receiver's counters. */
const struct trap_counters *
trap_counters(const struct trap_receiver *r)
{
	return &r->n;
}

/* The receiver for `sonae traps`: address, settings, counters, last trap. */
json_t *
trap_json(const struct trap_receiver *r)
{
	char ts[64];
	json_t *o;

	o = json_pack("{s:b, s:s, s:f, s:f}", "enabled", 1, "listen", r->listen,
	    "log_interval_s", (double)r->log_interval_ms / 1000.0, "poll_gap_s",
	    (double)r->poll_gap_ms / 1000.0);
	json_object_set_new(o, "configured",
	    r->configured != NULL ? json_string(r->configured) : json_null());
	json_object_set_new(
	    o, "error", r->error != NULL ? json_string(r->error) : json_null());
	json_object_set_new(o, "counters",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "received",
	        (json_int_t)r->n.received, "polled", (json_int_t)r->n.polled, "coalesced",
	        (json_int_t)r->n.coalesced, "unknown_source",
	        (json_int_t)r->n.unknown_source, "bad_community",
	        (json_int_t)r->n.bad_community, "malformed", (json_int_t)r->n.malformed,
	        "unsupported", (json_int_t)r->n.unsupported));
	if (r->last_ms > 0)
		json_object_set_new(o, "last",
		    json_pack("{s:s, s:s, s:s}", "time",
		        time_format(r->last_ms, ts, sizeof(ts)), "peer", r->last_peer,
		        "trap", r->last_kind));
	else
		json_object_set_new(o, "last", json_null());
	return o;
}

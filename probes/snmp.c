/*
 * The snmp probe reads devices over SNMP v1, v2c and v3 (USM) with net-snmp's
 * single-session asynchronous API, driven by the daemon's libevent loop: one
 * session per device, an event on its socket and a timer for net-snmp's own
 * housekeeping.  The core owns timeouts and retries; net-snmp is told to
 * retry never and to give up a little after the core would, and an answer
 * for an attempt the core cancelled is recognised by its request id and
 * dropped.
 *
 * A poll is a short sequence of requests, one in flight at a time: (v3 only,
 * first poll and after a timeout) engine discovery, GETs of every OID the device needs
 * (at most max_oids per PDU), and for the RFC 1628 profile a GETBULK walk of the alarm
 * table's Descr column.  Then the readings are turned into metrics.
 */
#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define SNMP_MAX_POINTS   256
#define SNMP_MAX_LINKS    32
#define SNMP_LINK_ITEMS   9    /* OIDs read per link */
#define SNMP_PROFILE_MAX  16   /* the most OIDs a UPS profile reads */
#define SNMP_TEXT_MAX     255  /* bytes of an octet string kept */
#define SNMP_LINKWALK_MAX 4096 /* interface rows read looking links up */
#define SNMP_WALK_MAX     256  /* alarm table rows read per poll */
#define SNMP_BULK_REPS    16
#define SNMP_ALARM_PREFIX "1.3.6.1.2.1.33.1.6.3"
#define SNMP_SYSOBJECTID  "1.3.6.1.2.1.1.2.0"
#define SNMP_UPS_IDENT    "1.3.6.1.2.1.33.1.1.1.0" /* upsIdentManufacturer */

enum { V_1, V_2C, V_3 };
enum { SL_NOAUTH, SL_AUTHNOPRIV, SL_AUTHPRIV };
enum { AP_SHA, AP_SHA256 };
enum { PROF_GENERIC, PROF_RFC1628, PROF_APC, PROF_AUTO };
enum { PT_NUMBER, PT_TEXT, PT_BOOL };
enum { LM_IFNAME, LM_IFDESCR, LM_IFALIAS, LM_IFINDEX };

static const char *const snmp_versions[] = { "1", "2c", "3", NULL };
static const char *const snmp_levels[] = { "noAuthNoPriv", "authNoPriv", "authPriv",
	NULL };
static const char *const snmp_auth_protos[] = { "SHA", "SHA-256", NULL };
static const char *const snmp_priv_protos[] = { "AES", NULL };
static const char *const snmp_profiles[] = { "generic", "ups-rfc1628", "ups-apc", "auto",
	NULL };
static const char *const snmp_point_types[] = { "number", "text", "bool", NULL };
static const char *const snmp_link_matches[] = { "ifName", "ifDescr", "ifAlias",
	"ifIndex", NULL };
static const char *const snmp_link_roles[] = { "wan", "lgwan", "internet",
	"isolated-segment", "lan", "other", NULL };
/* The column each match reads (ifIndex: none, the value is the index). */
static const char *const snmp_link_columns[] = { "1.3.6.1.2.1.31.1.1.1.1",
	"1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.31.1.1.1.18", NULL };
/* Per link, in this order, then .<ifIndex>; then the match column. */
static const char *const snmp_link_oids[] = {
	"1.3.6.1.2.1.2.2.1.7",     /* 0 ifAdminStatus */
	"1.3.6.1.2.1.2.2.1.8",     /* 1 ifOperStatus */
	"1.3.6.1.2.1.31.1.1.1.6",  /* 2 ifHCInOctets */
	"1.3.6.1.2.1.31.1.1.1.10", /* 3 ifHCOutOctets */
	"1.3.6.1.2.1.31.1.1.1.15", /* 4 ifHighSpeed */
	"1.3.6.1.2.1.2.2.1.14",    /* 5 ifInErrors */
	"1.3.6.1.2.1.2.2.1.20",    /* 6 ifOutErrors */
	"1.3.6.1.2.1.31.1.1.1.19", /* 7 ifCounterDiscontinuityTime */
	NULL,
};
#define SNMP_SYSUPTIME "1.3.6.1.2.1.1.3.0"

struct snmp_point_conf {
	char *name;
	char *oid;
	int type;
	double scale;
	char *unit;
};

struct snmp_link_conf {
	char *name;
	int match;
	char *value;
	int role;
};

struct snmp_conf {
	char *address;
	int version;
	char *community;
	char *user;
	int level;
	int auth_proto;
	char *auth_password;
	int priv_proto;
	char *priv_password;
	int profile;
	int max_oids;
	struct conf_list points; /* struct snmp_point_conf */
	struct conf_list links;  /* struct snmp_link_conf */
};

/* A link's state between polls. */
struct snmp_link {
	uint32_t ifindex;
	int resolved;
	int tried;                  /* looked up in this poll */
	size_t item;                /* its first item */
	char why[800];              /* why not resolved */
	struct snmp_sample prev[4]; /* in, out octets; in, out errors */
};

/* One OID read by a poll, and what came back. */
struct snmp_item {
	oid *name; /* its own length: most OIDs are a dozen sub-identifiers */
	size_t len;
	int done;
	struct snmp_value val;
};

/* An SNMP SET asked through snmp_set(), then read back. */
struct snmp_set_req {
	struct snmp_dev *sd;
	LIST_ENTRY(snmp_set_req) entry;
	oid name[MAX_OID_LEN];
	size_t len;
	int readback; /* the GET reading the value back is in flight */
	u_char type;  /* the value set, as encoded, to compare */
	u_char val[256];
	size_t val_len;
	void (*done)(void *, int, const char *);
	void *arg;
};

enum snmp_stage {
	ST_IDLE,
	ST_DISCOVER,
	ST_IDENT_SYS, /* auto: GET sysObjectID */
	ST_IDENT_UPS, /* auto: GET upsIdentManufacturer */
	ST_LINKWALK,  /* links: walk a column to find interfaces */
	ST_GET,
	ST_WALK,
};

struct snmp_dev {
	struct device *dev;
	LIST_ENTRY(snmp_dev) entry; /* snmp_devs */
	void *sess;
	struct event *rev;  /* the session's socket */
	struct event *tev;  /* net-snmp's timeouts */
	struct event *fail; /* reports a failure found inside poll() */
	int version;
	int profile;      /* PROF_AUTO: auto, not decided yet */
	int conf_profile; /* as configured */
	int max_oids;
	int chunk_max; /* max_oids, halved in this poll for each tooBig */
	struct snmp_value ident_sys, ident_ups; /* auto: what the agent said */
	int had_alarms;                         /* auto: alarms was reported */
	struct snmp_link *links;                /* one per configured link */
	size_t nlinks;
	size_t uptime_item; /* sysUpTime, read when there are links */
	int lcol;           /* the column of the link walk in flight */
	LIST_HEAD(, snmp_set_req) sets;
	int stopping;
	int discovered;    /* v3: engine ID known */
	u_char engine[32]; /* v3: the engine last set up, kept across timeouts */
	size_t engine_len;
	struct poll *pending;
	long reqid;
	enum snmp_stage stage;
	/*
	 * What a poll reads, in this order: the points, the profile's OIDs,
	 * sysUpTime and each resolved link's OIDs.  Sized at start for the
	 * most this device can read (cap), so a device costs what it reads.
	 */
	struct snmp_item *items;
	size_t nitems, cap;
	size_t npoints;
	size_t nprof;  /* end of the profile's items; the links' follow */
	size_t *chunk; /* item indices in the PDU in flight (cap of them) */
	size_t nchunk;
	oid walk[MAX_OID_LEN];
	size_t walk_len;
	int walk_rows;
	uint32_t alarms; /* bit X: well-known alarm .1.6.3.X present */
	int alarms_ok;
	char alarm_err[320];
	enum poll_status fail_status;
	char fail_reason[256];
};

static LIST_HEAD(, snmp_dev) snmp_devs = LIST_HEAD_INITIALIZER(snmp_devs);
static char *snmp_tmpdir;
static int snmp_ready;

static void snmp_next(struct snmp_dev *);
static void snmp_use_profile(struct snmp_dev *, int);
static void snmp_begin(struct snmp_dev *);

/* Parse a numeric OID ("1.3.6.1.2.1.1.1.0", a leading dot allowed). */
int
snmp_oid_parse(const char *s, oid *out, size_t *len)
{
	size_t n = 0;
	unsigned long long v;

	if (*s == '.')
		s++;
	if (*s == '\0')
		return -1;
	for (;;) {
		if (!isdigit((unsigned char)*s) || n >= MAX_OID_LEN)
			return -1;
		v = 0;
		while (isdigit((unsigned char)*s)) {
			v = v * 10 + (unsigned)(*s - '0');
			if (v > 0xffffffffULL)
				return -1;
			s++;
		}
		out[n++] = (oid)v;
		if (*s == '\0')
			break;
		if (*s++ != '.')
			return -1;
	}
	if (n < 2 || out[0] > 2)
		return -1;
	*len = n;
	return 0;
}

/*
 * Check that an agent address is numeric: "udp:A.B.C.D[:PORT]" or
 * "udp6:[ADDR][:PORT]" (a name would need a blocking lookup).
 */
int
snmp_address_valid(const char *a)
{
	char host[64];
	const char *p, *end, *port;
	unsigned char buf[16];
	int v6;

	if (strncmp(a, "udp:", 4) == 0) {
		v6 = 0;
		p = a + 4;
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		port = *end == ':' ? end + 1 : NULL;
	} else if (strncmp(a, "udp6:[", 6) == 0) {
		v6 = 1;
		p = a + 6;
		if ((end = strchr(p, ']')) == NULL)
			return 0;
		if (end[1] != '\0' && end[1] != ':')
			return 0;
		port = end[1] == ':' ? end + 2 : NULL;
	} else
		return 0;
	if ((size_t)(end - p) >= sizeof(host) || end == p)
		return 0;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
		return 0;
	if (port != NULL) {
		char *e;
		long n;
		errno = 0;
		n = strtol(port, &e, 10);
		if (*port == '\0' || *e != '\0' || errno != 0 || n < 1 || n > 65535)
			return 0;
	}
	return 1;
}

/* Decode one varbind into a reading; numbers are multiplied by scale. */
void
snmp_value_decode(const netsnmp_variable_list *vb, double scale, struct snmp_value *v)
{
	size_t n;

	memset(v, 0, sizeof(*v));
	switch (vb->type) {
	case ASN_INTEGER:
		v->kind = SV_NUMBER;
		v->num = (double)*vb->val.integer * scale;
		break;
	case ASN_GAUGE:
	case ASN_COUNTER:
	case ASN_TIMETICKS:
		v->kind = SV_NUMBER;
		v->num = (double)(uint32_t)*vb->val.integer * scale;
		break;
	case ASN_COUNTER64:
		v->kind = SV_NUMBER;
		v->num = ((double)vb->val.counter64->high * 4294967296.0 +
		             (double)vb->val.counter64->low) *
		         scale;
		break;
	case ASN_OCTET_STR:
		v->kind = SV_TEXT;
		/* An octet string is at most 65,535 bytes; keep what a screen shows. */
		n = vb->val_len < SNMP_TEXT_MAX ? vb->val_len : SNMP_TEXT_MAX;
		v->text = xmalloc(n + 1);
		memcpy(v->text, vb->val.string, n);
		v->text[n] = '\0';
		/* Keep what an operator can read: cut at a NUL or bad UTF-8. */
		n = strlen(v->text);
		while (n > 0 && !utf8_valid(v->text, n))
			n--;
		v->text[n] = '\0';
		break;
	case ASN_OBJECT_ID:
		v->kind = SV_OID;
		n = vb->val_len / sizeof(oid);
		if (n > MAX_OID_LEN)
			n = MAX_OID_LEN;
		v->oid = xreallocarray(NULL, n > 0 ? n : 1, sizeof(oid));
		memcpy(v->oid, vb->val.objid, n * sizeof(oid));
		v->oid_len = n;
		break;
	case SNMP_NOSUCHOBJECT:
		v->kind = SV_MISSING;
		snprintf(v->why, sizeof(v->why), "noSuchObject");
		break;
	case SNMP_NOSUCHINSTANCE:
		v->kind = SV_MISSING;
		snprintf(v->why, sizeof(v->why), "noSuchInstance");
		break;
	case SNMP_ENDOFMIBVIEW:
		v->kind = SV_MISSING;
		snprintf(v->why, sizeof(v->why), "endOfMibView");
		break;
	default:
		v->kind = SV_OTHER;
		snprintf(
		    v->why, sizeof(v->why), "unexpected ASN.1 type 0x%02x", vb->type);
		break;
	}
}

void
snmp_value_clear(struct snmp_value *v)
{
	free(v->text);
	free(v->oid);
	memset(v, 0, sizeof(*v));
}

/* The well-known RFC 1628 alarm an alarm row's Descr names: X of .1.6.3.X, or 0. */
int
snmp_alarm_match(const oid *o, size_t len)
{
	static const oid base[] = { 1, 3, 6, 1, 2, 1, 33, 1, 6, 3 };
	size_t n = sizeof(base) / sizeof(base[0]);

	if (len != n + 1 || memcmp(o, base, sizeof(base)) != 0)
		return 0;
	if (o[n] < 1 || o[n] > 31)
		return 0;
	return (int)o[n];
}

static const char *const snmp_alarm_names[32] = {
	[1] = "BatteryBad",
	[2] = "OnBattery",
	[3] = "LowBattery",
	[4] = "DepletedBattery",
	[5] = "TempBad",
	[6] = "InputBad",
	[7] = "OutputBad",
	[8] = "OutputOverload",
	[9] = "OnBypass",
	[10] = "BypassBad",
	[11] = "OutputOffAsRequested",
	[12] = "UpsOffAsRequested",
	[13] = "ChargerFailed",
	[14] = "UpsOutputOff",
	[15] = "UpsSystemOff",
	[16] = "FanFailure",
	[17] = "FuseFailure",
	[18] = "GeneralFault",
	[19] = "DiagnosticTestFailed",
	[20] = "CommunicationsLost",
	[21] = "AwaitingPower",
	[22] = "ShutdownPending",
	[23] = "ShutdownImminent",
	[24] = "TestInProgress",
};

/* The alarm set (bit X for .1.6.3.X) as comma-separated names. */
void
snmp_alarm_text(uint32_t alarms, char *buf, size_t len)
{
	size_t off = 0;
	int i, n;

	buf[0] = '\0';
	for (i = 0; i < 32 && off < len; i++) {
		if (!(alarms & (1u << i)))
			continue;
		if (i > 0 && snmp_alarm_names[i] != NULL)
			n = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			    snmp_alarm_names[i]);
		else
			n = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			    i == 0 ? "Other" : "Alarm");
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* The status word in the Network UPS Tools vocabulary ("OL", "OB LB" ...). */
void
snmp_ups_status(const struct snmp_ups *u, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", u->on_battery ? "OB" : "OL",
	    u->battery_low ? " LB" : "", u->replace_battery ? " RB" : "",
	    u->bypass ? " BYPASS" : "", u->overload ? " OVER" : "");
}

/*
 * An APC reading: the high-precision value (scaled by 0.1) when the agent
 * has it, else the standard one; SV_MISSING when neither answered.  out
 * borrows the text of the one chosen: never clear it.
 */
void
snmp_apc_pick(
    const struct snmp_value *hp, const struct snmp_value *std, struct snmp_value *out)
{
	if (hp->kind == SV_NUMBER) {
		*out = *hp;
		out->num = hp->num * 0.1;
	} else if (std->kind == SV_NUMBER)
		*out = *std;
	else
		*out = std->kind != SV_NONE ? *std : *hp;
}

/* A numeric OID as text ("1.3.6.1"). */
void
snmp_oid_text(const oid *o, size_t len, char *buf, size_t size)
{
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < len && off < size; i++) {
		n = snprintf(
		    buf + off, size - off, "%s%lu", i ? "." : "", (unsigned long)o[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/*
 * Profile "auto": the profile for an agent's sysObjectID and, once asked, its
 * upsIdentManufacturer (SV_NONE while not asked).  "ups-apc" for an OID
 * under APC's enterprise 1.3.6.1.4.1.318, else "ups-rfc1628" when the UPS-MIB
 * answers, else NULL (ask upsIdentManufacturer, or not a UPS).
 */
const char *
snmp_auto_profile(const struct snmp_value *sysoid, const struct snmp_value *ups)
{
	static const oid apc[] = { 1, 3, 6, 1, 4, 1, 318 };

	if (sysoid->kind == SV_OID &&
	    netsnmp_oid_is_subtree(
	        apc, sizeof(apc) / sizeof(apc[0]), sysoid->oid, sysoid->oid_len) == 0)
		return "ups-apc";
	if (ups->kind == SV_TEXT || ups->kind == SV_NUMBER || ups->kind == SV_OID)
		return "ups-rfc1628";
	return NULL;
}

/*
 * The rate of a counter between two samples, per second.  No rate (-1 and
 * why) when either sample is not valid, after a counter reset (the agent's
 * sysUpTime went back or ifCounterDiscontinuityTime changed), when the
 * counter went back without either (never taken for a wrap), or when no time
 * passed.  A negative uptime or discontinuity means "not read".
 */
int
snmp_counter_rate(const struct snmp_sample *prev, const struct snmp_sample *cur,
    double *rate, const char **why)
{
	*rate = 0;
	if (!prev->valid || !cur->valid) {
		*why = "first reading: a rate needs two polls";
		return -1;
	}
	if ((prev->uptime >= 0 && cur->uptime >= 0 && cur->uptime < prev->uptime) ||
	    cur->disc != prev->disc) {
		*why = "counter reset";
		return -1;
	}
	if (cur->value < prev->value) {
		*why = "counter went back";
		return -1;
	}
	if (cur->ms <= prev->ms) {
		*why = "no time passed between two readings";
		return -1;
	}
	*rate = (cur->value - prev->value) * 1000.0 / (double)(cur->ms - prev->ms);
	return 0;
}

/* --- configuration ------------------------------------------------------- */

static void
snmp_point_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct snmp_point_conf *pc = obj;
	oid o[MAX_OID_LEN];
	size_t len, i;

	if (pc->oid != NULL && snmp_oid_parse(pc->oid, o, &len) == -1)
		conf_key_error(ctx, g, "oid",
		    "\"%s\" is not a numeric OID (digits and dots, e.g. "
		    "\"1.3.6.1.2.1.1.3.0\"; MIB names are not read)",
		    pc->oid);
	if (pc->name != NULL) {
		for (i = 0; pc->name[i] != '\0'; i++)
			if (!isalnum((unsigned char)pc->name[i]) && pc->name[i] != '_')
				break;
		if (pc->name[i] != '\0' || !isalpha((unsigned char)pc->name[0]))
			conf_key_error(ctx, g, "name",
			    "\"%s\": letters, digits and _, starting with a letter",
			    pc->name);
	}
}

static const struct conf_key snmp_point_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_point_conf, name),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "Metric name (letters, digits, _)." },
	{ .name = "oid",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_point_conf, oid),
	    .min = 3,
	    .max = 600,
	    .flags = CK_REQUIRED,
	    .help = "Numeric OID to GET, e.g. \"1.3.6.1.4.1.318.1.1.2.1.1.0\" (no MIB "
	            "names)." },
	{ .name = "type",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_point_conf, type),
	    .def = "number",
	    .choices = snmp_point_types,
	    .help = "number (integers, gauges, counters, timeticks, times scale), text "
	            "(octet strings) or bool (non-zero is true)." },
	{ .name = "scale",
	    .type = CT_FLOAT,
	    .off = offsetof(struct snmp_point_conf, scale),
	    .min = -1e9,
	    .max = 1e9,
	    .def = "1",
	    .help = "Factor applied to numbers (0.1 for a value in tenths)." },
	{ .name = "unit",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_point_conf, unit),
	    .max = 16,
	    .help = "Unit shown with the value (degC, %, V ...)." },
	{ 0 },
};

static const struct conf_table snmp_point_table = {
	.name = "point",
	.help = "A user-defined OID read on every poll.",
	.size = sizeof(struct snmp_point_conf),
	.keys = snmp_point_keys,
	.check = snmp_point_check,
};

static int
snmp_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return 0;
	return isalpha((unsigned char)name[0]);
}

static void
snmp_link_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct snmp_link_conf *lc = obj;
	char *e;
	unsigned long n;

	if (lc->name != NULL && !snmp_name_valid(lc->name))
		conf_key_error(ctx, g, "name",
		    "\"%s\": letters, digits and _, starting with a letter", lc->name);
	if (lc->value != NULL && lc->match == LM_IFINDEX) {
		errno = 0;
		n = strtoul(lc->value, &e, 10);
		if (!isdigit((unsigned char)lc->value[0]) || *e != '\0' || errno != 0 ||
		    n < 1 || n > 2147483647UL)
			conf_key_error(ctx, g, "value",
			    "\"%s\": an ifIndex is a whole number from 1", lc->value);
	}
}

static const struct conf_key snmp_link_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_link_conf, name),
	    .min = 1,
	    .max = 48,
	    .flags = CK_REQUIRED,
	    .help = "Link name (letters, digits, _): the metrics are <name>_up, "
	            "<name>_state (up, down, disabled), <name>_role, <name>_in_bps, "
	            "<name>_out_bps, <name>_in_pct, <name>_out_pct (of ifHighSpeed), "
	            "<name>_in_errors_ps and <name>_out_errors_ps." },
	{ .name = "match",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_link_conf, match),
	    .def = "ifName",
	    .choices = snmp_link_matches,
	    .help = "How value finds the interface: the IF-MIB column it equals, or "
	            "ifIndex.  The column is walked on the first poll, after contact "
	            "was lost, and when the interface found no longer has the name." },
	{ .name = "value",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_link_conf, value),
	    .min = 1,
	    .max = 255,
	    .flags = CK_REQUIRED,
	    .help = "The interface's ifName, ifDescr or ifAlias (exactly), or its "
	            "ifIndex (\"3\")." },
	{ .name = "role",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_link_conf, role),
	    .def = "other",
	    .choices = snmp_link_roles,
	    .help = "What the link is for, reported as <name>_role for rules." },
	{ 0 },
};

static const struct conf_table snmp_link_table = {
	.name = "link",
	.help = "A network interface read from IF-MIB (64-bit counters): status, "
	        "rates and error rates.  A rate is not given for a poll after a "
	        "counter reset (sysUpTime went back or ifCounterDiscontinuityTime "
	        "changed) or when a counter went back: a 32-bit wrap is never "
	        "guessed.",
	.size = sizeof(struct snmp_link_conf),
	.keys = snmp_link_keys,
	.check = snmp_link_check,
};

/* The metrics the UPS profiles report (alarms: RFC 1628 only). */
static const char *const snmp_ups_metrics[] = { "on_battery", "battery_low",
	"replace_battery", "overload", "bypass", "charge_pct", "runtime_s",
	"seconds_on_battery", "input_voltage", "output_load_pct", "battery_temp",
	"status", "alarms", "profile", NULL };

static void
snmp_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct snmp_conf *sc = obj;
	const char *const *m;
	size_t i, j;

	if (sc->address != NULL && !snmp_address_valid(sc->address))
		conf_key_error(ctx, g, "address",
		    "\"%s\": expected a numeric agent address, \"udp:127.0.0.1:161\" "
		    "or \"udp6:[::1]:161\" (host names are not resolved)",
		    sc->address);
	if (sc->version == V_3) {
		if (sc->community != NULL)
			conf_key_error(ctx, g, "community",
			    "SNMPv3 uses user and passwords, not a community");
		if (sc->user == NULL)
			conf_key_error(ctx, g, "user", "SNMPv3 needs a user");
		if (sc->level >= SL_AUTHNOPRIV && sc->auth_password == NULL)
			conf_key_error(ctx, g, "auth_password",
			    "security_level %s needs it", snmp_levels[sc->level]);
		if (sc->level >= SL_AUTHPRIV && sc->priv_password == NULL)
			conf_key_error(ctx, g, "priv_password",
			    "security_level %s needs it", snmp_levels[sc->level]);
		if (sc->level < SL_AUTHNOPRIV && sc->auth_password != NULL)
			conf_key_error(ctx, g, "auth_password",
			    "not used at security_level noAuthNoPriv");
		if (sc->level < SL_AUTHPRIV && sc->priv_password != NULL)
			conf_key_error(ctx, g, "priv_password",
			    "only used at security_level authPriv");
		if (sc->auth_password != NULL && strlen(sc->auth_password) < 8)
			conf_key_error(
			    ctx, g, "auth_password", "must be at least 8 characters");
		if (sc->priv_password != NULL && strlen(sc->priv_password) < 8)
			conf_key_error(
			    ctx, g, "priv_password", "must be at least 8 characters");
	} else {
		if (sc->community == NULL)
			conf_key_error(ctx, g, "community", "SNMPv%s needs a community",
			    snmp_versions[sc->version]);
		if (sc->user != NULL || sc->auth_password != NULL ||
		    sc->priv_password != NULL)
			conf_key_error(ctx, g, "user",
			    "user and passwords are for version \"3\" only");
	}
	if (sc->profile == PROF_GENERIC && sc->points.n == 0 && sc->links.n == 0)
		conf_error(ctx, g,
		    "profile \"generic\" needs at least one entry in points or links");
	for (i = 0; i < sc->links.n; i++) {
		const struct snmp_link_conf *a =
		    (const struct snmp_link_conf *)sc->links.items + i;
		for (j = 0; j < i; j++) {
			const struct snmp_link_conf *b =
			    (const struct snmp_link_conf *)sc->links.items + j;
			if (a->name != NULL && b->name != NULL &&
			    strcmp(a->name, b->name) == 0)
				conf_key_error(ctx, g, "links",
				    "two links are named \"%s\"", a->name);
		}
		for (j = 0; j < sc->points.n; j++) {
			const struct snmp_point_conf *b =
			    (const struct snmp_point_conf *)sc->points.items + j;
			size_t n = a->name != NULL ? strlen(a->name) : 0;
			if (n > 0 && b->name != NULL &&
			    strncmp(b->name, a->name, n) == 0 && b->name[n] == '_')
				conf_key_error(ctx, g, "points",
				    "point \"%s\" could be a metric of link \"%s\"",
				    b->name, a->name);
		}
	}
	for (i = 0; i < sc->points.n; i++) {
		const struct snmp_point_conf *a =
		    (const struct snmp_point_conf *)sc->points.items + i;
		for (m = snmp_ups_metrics; sc->profile != PROF_GENERIC && *m != NULL; m++)
			if (a->name != NULL && strcmp(a->name, *m) == 0)
				conf_key_error(ctx, g, "points",
				    "point \"%s\" has the name of a metric of profile "
				    "\"%s\"",
				    a->name, snmp_profiles[sc->profile]);
		for (j = 0; j < i; j++) {
			const struct snmp_point_conf *b =
			    (const struct snmp_point_conf *)sc->points.items + j;
			if (a->name != NULL && b->name != NULL &&
			    strcmp(a->name, b->name) == 0)
				conf_key_error(ctx, g, "points",
				    "two points are named \"%s\"", a->name);
		}
	}
}

static const struct conf_key snmp_conf_keys[] = {
	{ .name = "address",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_conf, address),
	    .max = 80,
	    .flags = CK_REQUIRED,
	    .help = "Agent address, numeric: \"udp:192.0.2.10:161\" or "
	            "\"udp6:[2001:db8::10]:161\" (port defaults to 161)." },
	{ .name = "version",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_conf, version),
	    .def = "2c",
	    .choices = snmp_versions,
	    .help = "SNMP version." },
	{ .name = "community",
	    .type = CT_SECRET,
	    .off = offsetof(struct snmp_conf, community),
	    .max = 255,
	    .help = "Community for versions 1 and 2c (a wrong one gets no answer: the "
	            "poll times out)." },
	{ .name = "user",
	    .type = CT_STRING,
	    .off = offsetof(struct snmp_conf, user),
	    .min = 1,
	    .max = 32,
	    .help = "SNMPv3 USM user name.  Devices that reach the same agent as the "
	            "same user must give the same passwords (net-snmp keeps one key "
	            "set per user and agent engine): a device that differs from one "
	            "already polling is refused with that reason." },
	{ .name = "security_level",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_conf, level),
	    .def = "authPriv",
	    .choices = snmp_levels,
	    .help = "SNMPv3 security level." },
	{ .name = "auth_protocol",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_conf, auth_proto),
	    .def = "SHA",
	    .choices = snmp_auth_protos,
	    .help = "SNMPv3 authentication protocol." },
	{ .name = "auth_password",
	    .type = CT_SECRET,
	    .off = offsetof(struct snmp_conf, auth_password),
	    .max = 255,
	    .help = "SNMPv3 authentication pass phrase (at least 8 characters)." },
	{ .name = "priv_protocol",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_conf, priv_proto),
	    .def = "AES",
	    .choices = snmp_priv_protos,
	    .help = "SNMPv3 privacy protocol (AES-128)." },
	{ .name = "priv_password",
	    .type = CT_SECRET,
	    .off = offsetof(struct snmp_conf, priv_password),
	    .max = 255,
	    .help = "SNMPv3 privacy pass phrase (at least 8 characters)." },
	{ .name = "profile",
	    .type = CT_ENUM,
	    .off = offsetof(struct snmp_conf, profile),
	    .def = "generic",
	    .choices = snmp_profiles,
	    .help = "What to read: only the points, or a UPS (RFC 1628 UPS-MIB or APC "
	            "PowerNet) as on_battery, battery_low, replace_battery, overload, "
	            "bypass, charge_pct, runtime_s, seconds_on_battery, input_voltage, "
	            "output_load_pct, battery_temp, status (OL, OB LB ...) and, for "
	            "RFC 1628, alarms.  APC has no overload flag: overload is "
	            "output_load_pct > 100.  \"auto\" reads sysObjectID on the first "
	            "poll (and again after contact was lost): ups-apc under APC's "
	            "enterprise 1.3.6.1.4.1.318, else ups-rfc1628 when the agent has "
	            "upsIdentManufacturer, else the poll fails; the choice is the "
	            "text metric profile." },
	{ .name = "max_oids",
	    .type = CT_INT,
	    .off = offsetof(struct snmp_conf, max_oids),
	    .min = 1,
	    .max = 128,
	    .def = "32",
	    .help = "Most OIDs asked in one GET; more are split over several." },
	{ .name = "points",
	    .type = CT_LIST,
	    .off = offsetof(struct snmp_conf, points),
	    .max = SNMP_MAX_POINTS,
	    .sub = &snmp_point_table,
	    .help = "User-defined OIDs, read on every poll besides the profile's." },
	{ .name = "links",
	    .type = CT_LIST,
	    .off = offsetof(struct snmp_conf, links),
	    .max = SNMP_MAX_LINKS,
	    .sub = &snmp_link_table,
	    .help = "Network interfaces (IF-MIB) read on every poll." },
	{ 0 },
};

static const struct conf_table snmp_table = {
	.name = "snmp",
	.help = "SNMP probe: reads an agent over SNMP v1, v2c or v3 (USM, SHA/SHA-256, "
	        "AES), asynchronously on the daemon's loop.",
	.size = sizeof(struct snmp_conf),
	.keys = snmp_conf_keys,
	.check = snmp_check,
};

/* --- profiles --------------------------------------------------------------- */

/* RFC 1628 UPS-MIB objects read by ups-rfc1628, in this order. */
static const char *const rfc1628_oids[] = {
	"1.3.6.1.2.1.33.1.2.1.0",     /* 0 upsBatteryStatus */
	"1.3.6.1.2.1.33.1.2.2.0",     /* 1 upsSecondsOnBattery */
	"1.3.6.1.2.1.33.1.2.3.0",     /* 2 upsEstimatedMinutesRemaining */
	"1.3.6.1.2.1.33.1.2.4.0",     /* 3 upsEstimatedChargeRemaining */
	"1.3.6.1.2.1.33.1.2.7.0",     /* 4 upsBatteryTemperature */
	"1.3.6.1.2.1.33.1.3.3.1.3.1", /* 5 upsInputVoltage.1 */
	"1.3.6.1.2.1.33.1.4.1.0",     /* 6 upsOutputSource */
	"1.3.6.1.2.1.33.1.4.4.1.5.1", /* 7 upsOutputPercentLoad.1 */
	NULL,
};
#define RFC1628_ALARM_DESCR "1.3.6.1.2.1.33.1.6.2.1.2"

/* APC PowerNet-MIB objects read by ups-apc (HP: high precision, tenths). */
static const char *const apc_oids[] = {
	"1.3.6.1.4.1.318.1.1.1.4.1.1.0", /* 0 upsBasicOutputStatus */
	"1.3.6.1.4.1.318.1.1.1.2.1.1.0", /* 1 upsBasicBatteryStatus */
	"1.3.6.1.4.1.318.1.1.1.2.1.2.0", /* 2 upsBasicBatteryTimeOnBattery */
	"1.3.6.1.4.1.318.1.1.1.2.2.1.0", /* 3 upsAdvBatteryCapacity */
	"1.3.6.1.4.1.318.1.1.1.2.3.1.0", /* 4 ... HP */
	"1.3.6.1.4.1.318.1.1.1.2.2.2.0", /* 5 upsAdvBatteryTemperature */
	"1.3.6.1.4.1.318.1.1.1.2.3.2.0", /* 6 ... HP */
	"1.3.6.1.4.1.318.1.1.1.2.2.3.0", /* 7 upsAdvBatteryRunTimeRemaining */
	"1.3.6.1.4.1.318.1.1.1.2.2.4.0", /* 8 upsAdvBatteryReplaceIndicator */
	"1.3.6.1.4.1.318.1.1.1.3.2.1.0", /* 9 upsAdvInputLineVoltage */
	"1.3.6.1.4.1.318.1.1.1.3.3.1.0", /* 10 ... HP */
	"1.3.6.1.4.1.318.1.1.1.4.2.3.0", /* 11 upsAdvOutputLoad */
	"1.3.6.1.4.1.318.1.1.1.4.3.3.0", /* 12 ... HP */
	NULL,
};

static const char *const *
snmp_profile_oids(int profile)
{
	switch (profile) {
	case PROF_RFC1628:
		return rfc1628_oids;
	case PROF_APC:
		return apc_oids;
	}
	return NULL;
}

/* Report a numeric reading, or the metric invalid with the agent's reason. */
static void
snmp_report_number(struct poll *p, const char *name, const struct snmp_value *v, double f,
    const char *unit)
{
	if (v->kind == SV_NUMBER)
		poll_number(p, name, v->num * f, unit);
	else if (v->kind == SV_MISSING || v->kind == SV_OTHER)
		poll_invalid(p, name, MK_NUMBER, unit, "%s", v->why);
	else if (v->kind == SV_NONE)
		poll_invalid(p, name, MK_NUMBER, unit, "not read");
	else
		poll_invalid(p, name, MK_NUMBER, unit, "not a number");
}

static void
snmp_report_flag(struct poll *p, const char *name, int known, int v, const char *why)
{
	if (known)
		poll_bool(p, name, v);
	else
		poll_invalid(p, name, MK_BOOL, NULL, "%s", why);
}

static const char *
snmp_why(const struct snmp_value *v)
{
	if (v->kind == SV_MISSING || v->kind == SV_OTHER)
		return v->why;
	if (v->kind == SV_NONE)
		return "not read";
	return "not a number";
}

static void
snmp_report_rfc1628(struct snmp_dev *sd, struct poll *p)
{
	struct snmp_ups u;
	char buf[512];
	const struct snmp_item *it = sd->items + sd->npoints; /* the profile's */
	const struct snmp_value *bat = &it[0].val, *src = &it[6].val;
	int have_src = src->kind == SV_NUMBER, have_bat = bat->kind == SV_NUMBER;
	uint32_t a = sd->alarms_ok ? sd->alarms : 0;

	memset(&u, 0, sizeof(u));
	u.on_battery = have_src && src->num == 5;
	u.bypass = (have_src && src->num == 4) || (a & (1u << 9));
	u.battery_low = (have_bat && (bat->num == 3 || bat->num == 4)) ||
	                (a & ((1u << 3) | (1u << 4)));
	u.replace_battery = (a & (1u << 1)) != 0;
	u.overload = (a & (1u << 8)) != 0;
	snmp_report_flag(p, "on_battery", have_src, u.on_battery, snmp_why(src));
	snmp_report_flag(p, "bypass", have_src || sd->alarms_ok, u.bypass, snmp_why(src));
	snmp_report_flag(
	    p, "battery_low", have_bat || sd->alarms_ok, u.battery_low, snmp_why(bat));
	snmp_report_flag(
	    p, "replace_battery", sd->alarms_ok, u.replace_battery, sd->alarm_err);
	snmp_report_flag(p, "overload", sd->alarms_ok, u.overload, sd->alarm_err);
	snmp_report_number(p, "charge_pct", &it[3].val, 1, "%");
	snmp_report_number(p, "runtime_s", &it[2].val, 60, "s");
	snmp_report_number(p, "seconds_on_battery", &it[1].val, 1, "s");
	snmp_report_number(p, "input_voltage", &it[5].val, 1, "V");
	snmp_report_number(p, "output_load_pct", &it[7].val, 1, "%");
	snmp_report_number(p, "battery_temp", &it[4].val, 1, "degC");
	if (have_src) {
		snmp_ups_status(&u, buf, sizeof(buf));
		poll_text(p, "status", buf);
	} else
		poll_invalid(
		    p, "status", MK_TEXT, NULL, "upsOutputSource: %s", snmp_why(src));
	if (sd->alarms_ok) {
		snmp_alarm_text(sd->alarms, buf, sizeof(buf));
		poll_text(p, "alarms", buf);
	} else
		poll_invalid(p, "alarms", MK_TEXT, NULL, "%s", sd->alarm_err);
}

static void
snmp_report_apc(struct snmp_dev *sd, struct poll *p)
{
	const struct snmp_item *it = sd->items + sd->npoints; /* the profile's */
	const struct snmp_value *out = &it[0].val, *bat = &it[1].val, *rep = &it[8].val;
	struct snmp_value v, load;
	struct snmp_ups u;
	char buf[64];
	int have_out = out->kind == SV_NUMBER;

	memset(&u, 0, sizeof(u));
	snmp_apc_pick(&it[12].val, &it[11].val, &load);
	u.on_battery = have_out && out->num == 3;
	u.bypass = have_out && (out->num == 9 || out->num == 10);
	u.battery_low = bat->kind == SV_NUMBER && bat->num == 3;
	u.replace_battery = rep->kind == SV_NUMBER && rep->num == 2;
	u.overload = load.kind == SV_NUMBER && load.num > 100;
	snmp_report_flag(p, "on_battery", have_out, u.on_battery, snmp_why(out));
	snmp_report_flag(p, "bypass", have_out, u.bypass, snmp_why(out));
	snmp_report_flag(
	    p, "battery_low", bat->kind == SV_NUMBER, u.battery_low, snmp_why(bat));
	snmp_report_flag(p, "replace_battery", rep->kind == SV_NUMBER, u.replace_battery,
	    snmp_why(rep));
	snmp_report_flag(
	    p, "overload", load.kind == SV_NUMBER, u.overload, snmp_why(&load));
	snmp_apc_pick(&it[4].val, &it[3].val, &v);
	snmp_report_number(p, "charge_pct", &v, 1, "%");
	snmp_report_number(p, "runtime_s", &it[7].val, 0.01, "s");
	snmp_report_number(p, "seconds_on_battery", &it[2].val, 0.01, "s");
	snmp_apc_pick(&it[10].val, &it[9].val, &v);
	snmp_report_number(p, "input_voltage", &v, 1, "V");
	snmp_report_number(p, "output_load_pct", &load, 1, "%");
	snmp_apc_pick(&it[6].val, &it[5].val, &v);
	snmp_report_number(p, "battery_temp", &v, 1, "degC");
	if (have_out) {
		snmp_ups_status(&u, buf, sizeof(buf));
		poll_text(p, "status", buf);
	} else
		poll_invalid(p, "status", MK_TEXT, NULL, "upsBasicOutputStatus: %s",
		    snmp_why(out));
}

static void
snmp_report_points(struct snmp_dev *sd, struct poll *p)
{
	const struct snmp_conf *sc = device_conf(sd->dev)->probe_conf;
	size_t i;

	for (i = 0; i < sc->points.n && i < sd->npoints; i++) {
		const struct snmp_point_conf *pc =
		    (const struct snmp_point_conf *)sc->points.items + i;
		const struct snmp_value *v = &sd->items[i].val;
		enum metric_kind kind = pc->type == PT_TEXT   ? MK_TEXT
		                        : pc->type == PT_BOOL ? MK_BOOL
		                                              : MK_NUMBER;

		if (v->kind == SV_MISSING || v->kind == SV_OTHER || v->kind == SV_NONE)
			poll_invalid(
			    p, pc->name, kind, pc->unit, "%s: %s", pc->oid, snmp_why(v));
		else if (pc->type == PT_TEXT && v->kind == SV_TEXT)
			poll_text(p, pc->name, v->text);
		else if (pc->type == PT_NUMBER && v->kind == SV_NUMBER)
			poll_number(p, pc->name, v->num * pc->scale, pc->unit);
		else if (pc->type == PT_BOOL && v->kind == SV_NUMBER)
			poll_bool(p, pc->name, v->num != 0);
		else
			poll_invalid(p, pc->name, kind, pc->unit,
			    "%s: the agent sent %s, expected %s", pc->oid,
			    v->kind == SV_TEXT  ? "a string"
			    : v->kind == SV_OID ? "an OID"
			                        : "a number",
			    snmp_point_types[pc->type]);
	}
}

static const char *const snmp_rate_names[4][2] = {
	{ "in_bps", "bit/s" },
	{ "out_bps", "bit/s" },
	{ "in_errors_ps", "1/s" },
	{ "out_errors_ps", "1/s" },
};

/* Every metric of a link invalid (but its role), for why. */
static void
snmp_link_invalid(struct poll *p, const char *name, const char *why)
{
	static const char *const nums[][2] = { { "in_bps", "bit/s" },
		{ "out_bps", "bit/s" }, { "in_pct", "%" }, { "out_pct", "%" },
		{ "in_errors_ps", "1/s" }, { "out_errors_ps", "1/s" } };
	char m[80];
	size_t i;

	snprintf(m, sizeof(m), "%s_up", name);
	poll_invalid(p, m, MK_BOOL, NULL, "%s", why);
	snprintf(m, sizeof(m), "%s_state", name);
	poll_invalid(p, m, MK_TEXT, NULL, "%s", why);
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		snprintf(m, sizeof(m), "%s_%s", name, nums[i][0]);
		poll_invalid(p, m, MK_NUMBER, nums[i][1], "%s", why);
	}
}

static void
snmp_report_link(struct snmp_dev *sd, struct poll *p, const struct snmp_link_conf *lc,
    struct snmp_link *l, int64_t now)
{
	const struct snmp_item *it = sd->items + l->item;
	const struct snmp_value *adm = &it[0].val, *op = &it[1].val, *hs = &it[4].val;
	const struct snmp_value *up = &sd->items[sd->uptime_item].val;
	struct snmp_sample cur;
	double rate, bps[2];
	int ok[2] = { 0, 0 };
	const char *why, *rwhy[2] = { "not read", "not read" };
	char m[80];
	size_t k;

	snprintf(m, sizeof(m), "%s_role", lc->name);
	poll_text(p, m, snmp_link_roles[lc->role]);
	if (!l->resolved) {
		snmp_link_invalid(p, lc->name, l->why);
		return;
	}
	if (lc->match != LM_IFINDEX &&
	    (it[8].val.kind != SV_TEXT || strcmp(it[8].val.text, lc->value) != 0)) {
		snprintf(l->why, sizeof(l->why),
		    "%s.%u is no more \"%s\" (%s): looking the interface up again",
		    snmp_link_matches[lc->match], l->ifindex, lc->value,
		    it[8].val.kind == SV_TEXT ? it[8].val.text : snmp_why(&it[8].val));
		l->resolved = 0;
		memset(l->prev, 0, sizeof(l->prev));
		snmp_link_invalid(p, lc->name, l->why);
		return;
	}
	snprintf(m, sizeof(m), "%s_up", lc->name);
	if (adm->kind == SV_NUMBER && op->kind == SV_NUMBER)
		poll_bool(p, m, adm->num == 1 && op->num == 1);
	else
		poll_invalid(p, m, MK_BOOL, NULL, "%s",
		    snmp_why(adm->kind != SV_NUMBER ? adm : op));
	snprintf(m, sizeof(m), "%s_state", lc->name);
	if (adm->kind == SV_NUMBER && adm->num != 1)
		poll_text(p, m, "disabled");
	else if (adm->kind == SV_NUMBER && op->kind == SV_NUMBER)
		poll_text(p, m, op->num == 1 ? "up" : "down");
	else
		poll_invalid(p, m, MK_TEXT, NULL, "%s",
		    snmp_why(adm->kind != SV_NUMBER ? adm : op));
	for (k = 0; k < 4; k++) {
		const struct snmp_value *v = &it[k < 2 ? 2 + k : 5 + (k - 2)].val;
		memset(&cur, 0, sizeof(cur));
		cur.valid = v->kind == SV_NUMBER;
		cur.value = v->num;
		cur.uptime = up->kind == SV_NUMBER ? up->num : -1;
		cur.disc = it[7].val.kind == SV_NUMBER ? it[7].val.num : -1;
		cur.ms = now;
		snprintf(m, sizeof(m), "%s_%s", lc->name, snmp_rate_names[k][0]);
		if (v->kind != SV_NUMBER ||
		    snmp_counter_rate(&l->prev[k], &cur, &rate, &why) == -1) {
			if (v->kind != SV_NUMBER)
				why = snmp_why(v);
			if (k < 2)
				rwhy[k] = why;
			poll_invalid(p, m, MK_NUMBER, snmp_rate_names[k][1], "%s", why);
		} else {
			if (k < 2) {
				rate *= 8;
				bps[k] = rate;
				ok[k] = 1;
			}
			poll_number(p, m, rate, snmp_rate_names[k][1]);
		}
		l->prev[k] = cur;
	}
	for (k = 0; k < 2; k++) {
		snprintf(m, sizeof(m), "%s_%s_pct", lc->name, k == 0 ? "in" : "out");
		if (hs->kind != SV_NUMBER)
			poll_invalid(
			    p, m, MK_NUMBER, "%", "ifHighSpeed: %s", snmp_why(hs));
		else if (hs->num <= 0)
			poll_invalid(p, m, MK_NUMBER, "%", "ifHighSpeed is 0");
		else if (!ok[k])
			poll_invalid(p, m, MK_NUMBER, "%", "%s", rwhy[k]);
		else
			poll_number(p, m, bps[k] * 100 / (hs->num * 1e6), "%");
	}
}

static void
snmp_report_links(struct snmp_dev *sd, struct poll *p)
{
	const struct snmp_conf *sc = device_conf(sd->dev)->probe_conf;
	int64_t now = time_mono_ms();
	size_t i;

	for (i = 0; i < sd->nlinks && i < sc->links.n; i++)
		snmp_report_link(sd, p,
		    (const struct snmp_link_conf *)sc->links.items + i, &sd->links[i],
		    now);
}

/* --- the session ------------------------------------------------------------ */

static void
snmp_log_reason(char *buf, size_t len, void *sess)
{
	char *msg = NULL;
	int liberr, syserr;

	snmp_sess_error(sess, &liberr, &syserr, &msg);
	snprintf(buf, len, "%s", msg != NULL ? msg : "unknown net-snmp error");
	free(msg);
}

/* Arm the timer for net-snmp's own timeouts (requests it gives up on). */
static void
snmp_rearm(struct snmp_dev *sd)
{
	netsnmp_large_fd_set fds;
	struct timeval tv = { 0, 0 };
	int numfds = 0, block = 1;

	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	snmp_sess_select_info2_flags(
	    sd->sess, &numfds, &fds, &tv, &block, NETSNMP_SELECT_NOALARMS);
	netsnmp_large_fd_set_cleanup(&fds);
	if (block)
		evtimer_del(sd->tev);
	else
		evtimer_add(sd->tev, &tv);
}

static void snmp_finish(struct snmp_dev *sd, enum poll_status st, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
snmp_finish(struct snmp_dev *sd, enum poll_status st, const char *fmt, ...)
{
	struct poll *p = sd->pending;
	char reason[256];
	va_list ap;

	sd->pending = NULL;
	sd->reqid = 0;
	sd->stage = ST_IDLE;
	if (p == NULL)
		return;
	if (st != POLL_OK) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		poll_done(p, st, "%s", reason);
		return;
	}
	if (sd->conf_profile == PROF_AUTO)
		poll_text(p, "profile", snmp_profiles[sd->profile]);
	if (sd->profile == PROF_RFC1628) {
		snmp_report_rfc1628(sd, p);
		sd->had_alarms = 1;
	} else if (sd->profile == PROF_APC) {
		snmp_report_apc(sd, p);
		/* auto went from RFC 1628 to APC: say why alarms is no more read. */
		if (sd->had_alarms)
			poll_invalid(p, "alarms", MK_TEXT, NULL,
			    "not read: profile auto now chose ups-apc");
	}
	snmp_report_points(sd, p);
	snmp_report_links(sd, p);
	poll_done(p, POLL_OK, NULL);
}

static void
snmp_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct snmp_dev *sd = arg;
	netsnmp_large_fd_set fds;

	(void)ev;
	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	snmp_sess_read2(sd->sess, &fds);
	netsnmp_large_fd_set_cleanup(&fds);
	if (sd->sess != NULL)
		snmp_rearm(sd);
}

static void
snmp_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct snmp_dev *sd = arg;

	(void)fd;
	(void)ev;
	snmp_sess_timeout(sd->sess);
	snmp_rearm(sd);
}

static void
snmp_on_fail(evutil_socket_t fd, short ev, void *arg)
{
	struct snmp_dev *sd = arg;

	(void)fd;
	(void)ev;
	snmp_finish(sd, sd->fail_status, "%s", sd->fail_reason);
}

/* The RFC 3416 name of an error status, for a reason. */
static const char *
snmp_errstat_name(long st)
{
	static const char *const names[] = { "noError", "tooBig", "noSuchName",
		"badValue", "readOnly", "genErr", "noAccess", "wrongType", "wrongLength",
		"wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
		"resourceUnavailable", "commitFailed", "undoFailed", "authorizationError",
		"notWritable", "inconsistentName" };

	return st >= 0 && (size_t)st < sizeof(names) / sizeof(names[0])
	           ? names[st]
	           : "an unknown error";
}

/*
 * Store the answer to a GET into the items of the chunk in flight.  An error
 * status naming one varbind (an SNMPv1 noSuchName, a genErr an agent gives
 * for one broken sensor) makes that OID invalid with the status as reason,
 * and the others are asked again without it: one bad OID must not cost the
 * readings of the rest.  tooBig halves the OIDs per GET for this poll.
 */
static int
snmp_take_get(struct snmp_dev *sd, netsnmp_pdu *pdu)
{
	netsnmp_variable_list *vb = pdu->variables;
	size_t j;

	if (pdu->errstat == SNMP_ERR_TOOBIG && sd->nchunk > 1) {
		sd->chunk_max = (int)sd->nchunk / 2;
		return 0;
	}
	if (pdu->errstat != SNMP_ERR_NOERROR && pdu->errindex >= 1 &&
	    (size_t)pdu->errindex <= sd->nchunk) {
		struct snmp_item *it = &sd->items[sd->chunk[pdu->errindex - 1]];
		it->done = 1;
		snmp_value_clear(&it->val);
		it->val.kind = SV_MISSING;
		snprintf(it->val.why, sizeof(it->val.why), "%s",
		    snmp_errstat_name(pdu->errstat));
		return 0;
	}
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		snmp_finish(sd, POLL_PROTOCOL, "the agent answered %s (error status %ld)",
		    snmp_errstat_name(pdu->errstat), pdu->errstat);
		return -1;
	}
	for (j = 0; j < sd->nchunk; j++, vb = vb->next_variable) {
		struct snmp_item *it = &sd->items[sd->chunk[j]];
		if (vb == NULL ||
		    snmp_oid_compare(vb->name, vb->name_length, it->name, it->len) != 0) {
			snmp_finish(sd, POLL_PROTOCOL,
			    "the agent answered other OIDs than asked");
			return -1;
		}
		snmp_value_clear(&it->val);
		snmp_value_decode(vb, 1, &it->val);
		it->done = 1;
	}
	return 0;
}

/* What an identification GET found, for a reason. */
static void
snmp_ident_text(const struct snmp_value *v, char *buf, size_t len)
{
	if (v->kind == SV_OID)
		snmp_oid_text(v->oid, v->oid_len, buf, len);
	else if (v->kind == SV_MISSING || v->kind == SV_OTHER)
		snprintf(buf, len, "%s", v->why);
	else if (v->kind == SV_NONE)
		snprintf(buf, len, "not read");
	else
		snprintf(buf, len, "not an OID");
}

/* Profile "auto": take sysObjectID or upsIdentManufacturer, choose or ask on. */
static void
snmp_take_ident(struct snmp_dev *sd, netsnmp_pdu *pdu)
{
	struct snmp_value *v =
	    sd->stage == ST_IDENT_SYS ? &sd->ident_sys : &sd->ident_ups;
	const char *name;
	char sys[256], ups[256];

	snmp_value_clear(v);
	if (pdu->errstat == SNMP_ERR_NOSUCHNAME) { /* v1 */
		v->kind = SV_MISSING;
		snprintf(v->why, sizeof(v->why), "noSuchName");
	} else if (pdu->errstat != SNMP_ERR_NOERROR) {
		snmp_finish(sd, POLL_PROTOCOL,
		    "auto: the agent answered %s to a GET of %s",
		    snmp_errstat_name(pdu->errstat),
		    sd->stage == ST_IDENT_SYS ? "sysObjectID" : "upsIdentManufacturer");
		return;
	} else if (pdu->variables == NULL) {
		snmp_finish(sd, POLL_PROTOCOL, "auto: the agent answered no value");
		return;
	} else
		snmp_value_decode(pdu->variables, 1, v);
	name = snmp_auto_profile(&sd->ident_sys, &sd->ident_ups);
	if (name == NULL && sd->stage == ST_IDENT_SYS) {
		sd->stage = ST_IDENT_UPS;
		snmp_next(sd);
		return;
	}
	if (name == NULL) {
		snmp_ident_text(&sd->ident_sys, sys, sizeof(sys));
		snprintf(ups, sizeof(ups), "%s",
		    sd->ident_ups.kind == SV_TEXT ? sd->ident_ups.text
		    : sd->ident_ups.kind == SV_MISSING || sd->ident_ups.kind == SV_OTHER
		        ? sd->ident_ups.why
		        : "");
		snmp_finish(sd, POLL_ERROR,
		    "auto: not a UPS this probe knows: sysObjectID %s is not APC's "
		    "(1.3.6.1.4.1.318) and upsIdentManufacturer (RFC 1628) gave %s",
		    sys, ups[0] != '\0' ? ups : "no text");
		return;
	}
	snmp_use_profile(sd, strcmp(name, "ups-apc") == 0 ? PROF_APC : PROF_RFC1628);
	log_debug("device \"%s\": profile auto chose %s", device_name(sd->dev), name);
	snmp_begin(sd);
}

/* Take one answer of the walk looking links up; 1 when the walk is over. */
static int
snmp_take_linkwalk(struct snmp_dev *sd, netsnmp_pdu *pdu)
{
	const struct snmp_conf *sc = device_conf(sd->dev)->probe_conf;
	oid col[MAX_OID_LEN];
	size_t col_len, j;
	netsnmp_variable_list *vb;
	struct snmp_value v;

	if (snmp_oid_parse(snmp_link_columns[sd->lcol], col, &col_len) == -1)
		fatalx("%s: bad built-in OID", __func__);
	if (pdu->errstat == SNMP_ERR_NOSUCHNAME) /* v1: end of the MIB */
		return 1;
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		for (j = 0; j < sd->nlinks; j++) {
			const struct snmp_link_conf *lc =
			    (const struct snmp_link_conf *)sc->links.items + j;
			if (lc->match == sd->lcol && sd->links[j].tried &&
			    !sd->links[j].resolved)
				snprintf(sd->links[j].why, sizeof(sd->links[j].why),
				    "walking %s: the agent answered %s",
				    snmp_link_matches[sd->lcol],
				    snmp_errstat_name(pdu->errstat));
		}
		return 1;
	}
	for (vb = pdu->variables; vb != NULL; vb = vb->next_variable) {
		if (vb->type == SNMP_ENDOFMIBVIEW ||
		    netsnmp_oid_is_subtree(col, col_len, vb->name, vb->name_length) !=
		        0 ||
		    snmp_oid_compare(vb->name, vb->name_length, sd->walk, sd->walk_len) <=
		        0)
			return 1;
		memcpy(sd->walk, vb->name, vb->name_length * sizeof(oid));
		sd->walk_len = vb->name_length;
		snmp_value_decode(vb, 1, &v);
		for (j = 0; v.kind == SV_TEXT && vb->name_length == col_len + 1 &&
		            j < sd->nlinks;
		     j++) {
			const struct snmp_link_conf *lc =
			    (const struct snmp_link_conf *)sc->links.items + j;
			struct snmp_link *l = &sd->links[j];
			if (lc->match != sd->lcol || l->resolved || !l->tried ||
			    strcmp(v.text, lc->value) != 0)
				continue;
			l->resolved = 1;
			l->ifindex = (uint32_t)vb->name[col_len];
			memset(l->prev, 0, sizeof(l->prev));
		}
		snmp_value_clear(&v);
		if (++sd->walk_rows >= SNMP_LINKWALK_MAX)
			return 1;
	}
	return 0;
}

/* Take one GETBULK/GETNEXT answer of the alarm walk; 1 when the walk is over. */
static int
snmp_take_walk(struct snmp_dev *sd, netsnmp_pdu *pdu)
{
	static oid col[MAX_OID_LEN];
	static size_t col_len;
	netsnmp_variable_list *vb;
	struct snmp_value v;
	int x;

	if (col_len == 0 && snmp_oid_parse(RFC1628_ALARM_DESCR, col, &col_len) == -1)
		fatalx("%s: bad built-in OID", __func__);
	if (pdu->errstat == SNMP_ERR_NOSUCHNAME) /* v1: end of the MIB */
		return 1;
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		snprintf(sd->alarm_err, sizeof(sd->alarm_err),
		    "alarm table walk: the agent answered %s",
		    snmp_errstat_name(pdu->errstat));
		sd->alarms_ok = 0;
		return 1;
	}
	for (vb = pdu->variables; vb != NULL; vb = vb->next_variable) {
		if (vb->type == SNMP_ENDOFMIBVIEW ||
		    netsnmp_oid_is_subtree(col, col_len, vb->name, vb->name_length) != 0)
			return 1;
		if (snmp_oid_compare(vb->name, vb->name_length, sd->walk, sd->walk_len) <=
		    0) {
			snprintf(sd->alarm_err, sizeof(sd->alarm_err),
			    "alarm table walk: OIDs not increasing");
			sd->alarms_ok = 0;
			return 1;
		}
		memcpy(sd->walk, vb->name, vb->name_length * sizeof(oid));
		sd->walk_len = vb->name_length;
		snmp_value_decode(vb, 1, &v);
		if (v.kind == SV_OID && (x = snmp_alarm_match(v.oid, v.oid_len)) > 0)
			sd->alarms |= 1u << x;
		else if (v.kind == SV_OID)
			sd->alarms |= 1u << 0; /* unknown alarm: counted, not named */
		snmp_value_clear(&v);
		if (++sd->walk_rows >= SNMP_WALK_MAX)
			return 1;
	}
	return 0;
}

/*
 * The agent answered the discovery probe with a report; net-snmp has taken
 * its engine ID into the session.  Localise the user's keys for it and go on
 * with the GETs.
 */
static int
snmp_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * Another device already talking to the same agent engine as the same USM
 * user with other keys: net-snmp's user table would let the last one set up
 * overwrite the other's keys and break it, so the newcomer is refused.
 */
static struct snmp_dev *
snmp_usm_conflict(struct snmp_dev *sd)
{
	const struct snmp_conf *a = device_conf(sd->dev)->probe_conf, *b;
	netsnmp_session *s = snmp_sess_session(sd->sess);
	struct snmp_dev *other;

	LIST_FOREACH(other, &snmp_devs, entry)
	{
		if (other == sd || other->version != V_3 || other->engine_len == 0)
			continue;
		b = device_conf(other->dev)->probe_conf;
		if (other->engine_len != s->securityEngineIDLen ||
		    memcmp(other->engine, s->securityEngineID, other->engine_len) != 0 ||
		    strcmp(a->user, b->user) != 0)
			continue;
		if (a->level != b->level || a->auth_proto != b->auth_proto ||
		    a->priv_proto != b->priv_proto ||
		    !snmp_str_eq(a->auth_password, b->auth_password) ||
		    !snmp_str_eq(a->priv_password, b->priv_password))
			return other;
	}
	return NULL;
}

static void
snmp_discovered(struct snmp_dev *sd, netsnmp_pdu *pdu, int reqid, long want)
{
	netsnmp_session *s = snmp_sess_session(sd->sess);
	struct snmp_dev *other;

	if (s->securityEngineIDLen == 0 && pdu != NULL && pdu->securityEngineIDLen > 0) {
		s->securityEngineID =
		    netsnmp_memdup(pdu->securityEngineID, pdu->securityEngineIDLen);
		s->securityEngineIDLen = pdu->securityEngineIDLen;
	}
	if (s->securityEngineIDLen == 0 && reqid != want) {
		/* A late report about an earlier request: keep waiting. */
		sd->reqid = want;
		return;
	}
	if (s->securityEngineIDLen == 0) {
		snmp_finish(sd, POLL_PROTOCOL,
		    "SNMPv3 engine discovery: the agent's report carried no engine ID");
		return;
	}
	if (s->contextEngineIDLen == 0) {
		s->contextEngineID =
		    netsnmp_memdup(s->securityEngineID, s->securityEngineIDLen);
		s->contextEngineIDLen = s->securityEngineIDLen;
	}
	if ((other = snmp_usm_conflict(sd)) != NULL) {
		snmp_finish(sd, POLL_AUTH,
		    "SNMPv3 user \"%s\" on this agent is also used by device \"%s\" "
		    "with other passwords or protocols; net-snmp keeps one key set "
		    "per user and agent: make them the same",
		    s->securityName, device_name(other->dev));
		return;
	}
	if (create_user_from_session(s) != SNMPERR_SUCCESS) {
		snmp_finish(sd, POLL_AUTH,
		    "SNMPv3: cannot set up the user for the agent's engine");
		return;
	}
	sd->discovered = 1;
	if (s->securityEngineIDLen <= sizeof(sd->engine)) {
		memcpy(sd->engine, s->securityEngineID, s->securityEngineIDLen);
		sd->engine_len = s->securityEngineIDLen;
	}
	snmp_begin(sd);
}

/*
 * Discover the agent's engine again on the next poll: after an unknownEngineID
 * report (the agent's engine ID changed), and after a timeout, since an agent
 * that restarted may run an engine clock behind the one net-snmp remembers
 * and net-snmp would then drop its answers as outside the time window.
 */
static void
snmp_forget_engine(struct snmp_dev *sd)
{
	netsnmp_session *s = snmp_sess_session(sd->sess);

	/*
	 * Forget the engine's clock as well, and let create_user_from_session()
	 * set the user up again (for a new engine ID it would otherwise do
	 * nothing: the session is marked as having its user).
	 */
	if (s->securityEngineIDLen > 0)
		free_enginetime(s->securityEngineID, s->securityEngineIDLen);
	s->flags &= ~SNMP_FLAGS_USER_CREATED;
	free(s->securityEngineID);
	s->securityEngineID = NULL;
	s->securityEngineIDLen = 0;
	free(s->contextEngineID);
	s->contextEngineID = NULL;
	s->contextEngineIDLen = 0;
	sd->discovered = 0;
}

static int
snmp_answer(int op, netsnmp_session *session, int reqid, netsnmp_pdu *pdu, void *magic)
{
	struct snmp_dev *sd = magic;
	char why[256];
	long want;
	int type;

	(void)session;
	if (op == NETSNMP_CALLBACK_OP_RESEND)
		return 1;
	/*
	 * An answer for an attempt the core gave up on is dropped.  A USM
	 * report about an encrypted request cannot carry the request id (the
	 * agent could not read it) and arrives with 0: net-snmp matched it to
	 * one of this session's requests by message id, so it is taken for the
	 * request in flight.
	 */
	if (sd->pending == NULL || sd->reqid == 0 ||
	    (reqid != sd->reqid &&
	        !(reqid == 0 && pdu != NULL && pdu->command == SNMP_MSG_REPORT)))
		return 1;
	want = sd->reqid;
	sd->reqid = 0;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		snmp_finish(sd, POLL_TIMEOUT, "no answer from the agent");
		return 1;
	case NETSNMP_CALLBACK_OP_SEC_ERROR:
		/* The discovery probe's report is a security error to net-snmp. */
		if (sd->stage == ST_DISCOVER) {
			snmp_discovered(sd, pdu, reqid, want);
			return 1;
		}
		type = pdu != NULL ? snmpv3_get_report_type(pdu) : SNMPERR_GENERR;
		if (type == SNMPERR_UNKNOWN_ENG_ID)
			snmp_forget_engine(sd);
		snmp_finish(
		    sd, POLL_AUTH, "SNMPv3 security error: %s", snmp_api_errstring(type));
		return 1;
	default:
		snmp_log_reason(why, sizeof(why), sd->sess);
		snmp_finish(sd, POLL_ERROR, "net-snmp: %s", why);
		return 1;
	}
	if (pdu->command == SNMP_MSG_REPORT) {
		type = snmpv3_get_report_type(pdu);
		if (sd->stage == ST_DISCOVER) {
			snmp_discovered(sd, pdu, reqid, want);
			return 1;
		}
		if (type == SNMPERR_UNKNOWN_ENG_ID)
			snmp_forget_engine(sd);
		snmp_finish(sd,
		    type == SNMPERR_UNKNOWN_USER_NAME ||
		            type == SNMPERR_AUTHENTICATION_FAILURE ||
		            type == SNMPERR_UNSUPPORTED_SEC_LEVEL ||
		            type == SNMPERR_DECRYPTION_ERR
		        ? POLL_AUTH
		        : POLL_PROTOCOL,
		    "the agent refused the request: %s", snmp_api_errstring(type));
		return 1;
	}
	if (sd->stage == ST_DISCOVER) {
		snmp_finish(sd, POLL_PROTOCOL,
		    "SNMPv3 engine discovery: the agent sent no report");
		return 1;
	}
	if (sd->stage == ST_IDENT_SYS || sd->stage == ST_IDENT_UPS) {
		snmp_take_ident(sd, pdu);
		return 1;
	}
	if (sd->stage == ST_LINKWALK) {
		if (snmp_take_linkwalk(sd, pdu))
			snmp_begin(sd);
		else
			snmp_next(sd);
		return 1;
	}
	if (sd->stage == ST_GET) {
		if (snmp_take_get(sd, pdu) == -1)
			return 1;
	} else if (sd->stage == ST_WALK) {
		if (snmp_take_walk(sd, pdu)) {
			snmp_finish(sd, POLL_OK, NULL);
			return 1;
		}
	}
	snmp_next(sd);
	return 1;
}

/* Report a failure from a later loop turn (poll() must not complete inline). */
static void
snmp_fail_later(struct snmp_dev *sd, enum poll_status st, const char *reason)
{
	sd->fail_status = st;
	snprintf(sd->fail_reason, sizeof(sd->fail_reason), "%s", reason);
	sd->reqid = 0;
	event_active(sd->fail, 0, 0);
}

/* Send the next request of the poll in flight, or finish it. */
static void
snmp_next(struct snmp_dev *sd)
{
	netsnmp_pdu *pdu;
	char why[256];
	size_t i;
	int id;

	if (sd->stage == ST_DISCOVER) {
		pdu = snmp_pdu_create(SNMP_MSG_GET);
		pdu->version = SNMP_VERSION_3;
		pdu->securityName = strdup("");
		pdu->securityNameLen = 0;
		pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
		pdu->securityModel = SNMP_SEC_MODEL_USM;
	} else if (sd->stage == ST_IDENT_SYS || sd->stage == ST_IDENT_UPS) {
		oid o[MAX_OID_LEN];
		size_t len;
		if (snmp_oid_parse(
		        sd->stage == ST_IDENT_SYS ? SNMP_SYSOBJECTID : SNMP_UPS_IDENT, o,
		        &len) == -1)
			fatalx("%s: bad built-in OID", __func__);
		pdu = snmp_pdu_create(SNMP_MSG_GET);
		snmp_add_null_var(pdu, o, len);
	} else if (sd->stage == ST_GET) {
		sd->nchunk = 0;
		for (i = 0; i < sd->nitems && sd->nchunk < (size_t)sd->chunk_max; i++)
			if (!sd->items[i].done)
				sd->chunk[sd->nchunk++] = i;
		if (sd->nchunk == 0) {
			if (sd->profile != PROF_RFC1628) {
				snmp_finish(sd, POLL_OK, NULL);
				return;
			}
			sd->stage = ST_WALK;
			sd->alarms = 0;
			sd->alarms_ok = 1;
			sd->walk_rows = 0;
			snmp_oid_parse(RFC1628_ALARM_DESCR, sd->walk, &sd->walk_len);
			snmp_next(sd);
			return;
		}
		pdu = snmp_pdu_create(SNMP_MSG_GET);
		for (i = 0; i < sd->nchunk; i++)
			snmp_add_null_var(pdu, sd->items[sd->chunk[i]].name,
			    sd->items[sd->chunk[i]].len);
	} else {
		if (sd->version == V_1)
			pdu = snmp_pdu_create(SNMP_MSG_GETNEXT);
		else {
			pdu = snmp_pdu_create(SNMP_MSG_GETBULK);
			pdu->non_repeaters = 0;
			pdu->max_repetitions = SNMP_BULK_REPS;
		}
		snmp_add_null_var(pdu, sd->walk, sd->walk_len);
	}
	id = snmp_sess_async_send(sd->sess, pdu, snmp_answer, sd);
	if (id == 0) {
		snmp_log_reason(why, sizeof(why), sd->sess);
		snmp_free_pdu(pdu);
		if (sd->stage == ST_WALK) {
			/* The GETs came back: keep them, say why the alarms did not. */
			snprintf(sd->alarm_err, sizeof(sd->alarm_err),
			    "alarm table walk: %s", why);
			sd->alarms_ok = 0;
			snmp_fail_later(sd, POLL_OK, why);
			return;
		}
		snmp_fail_later(sd, POLL_ERROR, why);
		return;
	}
	sd->reqid = id;
	snmp_rearm(sd);
}

static void
snmp_lib_shutdown(void)
{
	if (!snmp_ready)
		return;
	snmp_shutdown("sonaed");
	snmp_ready = 0;
	if (snmp_tmpdir != NULL) {
		char *sub;
		/* init_snmp makes cert_indexes in the private persistent folder. */
		xasprintf(&sub, "%s/cert_indexes", snmp_tmpdir);
		rmdir(sub);
		free(sub);
		rmdir(snmp_tmpdir);
		free(snmp_tmpdir);
		snmp_tmpdir = NULL;
	}
}

static int
snmp_log_cb(int major, int minor, void *server, void *client)
{
	const struct snmp_log_message *m = server;
	char line[512];
	size_t n;

	(void)major;
	(void)minor;
	(void)client;
	if (m == NULL || m->msg == NULL)
		return 0;
	snprintf(line, sizeof(line), "%s", m->msg);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (m->priority <= LOG_WARNING)
		log_warnx("net-snmp: %s", line);
	else
		log_debug("net-snmp: %s", line);
	return 0;
}

/* Set net-snmp up once: no config files, MIBs or persistent state. */
static void
snmp_lib_init(void)
{
	char tmpl[] = "/tmp/sonae-snmp-XXXXXX";

	if (snmp_ready)
		return;
	setenv("MIBS", "", 1);
	setenv("MIBDIRS", "", 1);
	if (mkdtemp(tmpl) != NULL)
		snmp_tmpdir = xstrdup(tmpl);
	netsnmp_ds_set_boolean(
	    NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(
	    NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(
	    NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(
	    NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_HOST_FILES, 1);
	if (snmp_tmpdir != NULL)
		netsnmp_ds_set_string(
		    NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, snmp_tmpdir);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_QUICK_PRINT, 1);
	snmp_disable_log();
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_DEBUG);
	snmp_register_callback(
	    SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, snmp_log_cb, NULL);
	netsnmp_set_mib_directory("");
	init_snmp("sonaed");
	/*
	 * SNMPv3 engine discovery (ST_DISCOVER) sends a noAuthNoPriv request
	 * as the empty user; net-snmp's own blocking probe adds it the same way.
	 */
	if (usm_get_user(NULL, 0, "") == NULL) {
		struct usmUser *u = usm_create_user();
		if (u == NULL)
			fatalx("%s: usm_create_user", __func__);
		u->name = xstrdup("");
		u->secName = xstrdup("");
		usm_add_user(u);
	}
	snmp_ready = 1;
	atexit(snmp_lib_shutdown);
}

static int
snmp_usm_keys(netsnmp_session *s, const struct snmp_conf *sc, const char *name)
{
	oid *auth = sc->auth_proto == AP_SHA256 ? usmHMAC192SHA256AuthProtocol
	                                        : usmHMACSHA1AuthProtocol;

	s->securityName = sc->user;
	s->securityNameLen = strlen(sc->user);
	s->securityModel = SNMP_SEC_MODEL_USM;
	s->securityLevel = sc->level == SL_AUTHPRIV     ? SNMP_SEC_LEVEL_AUTHPRIV
	                   : sc->level == SL_AUTHNOPRIV ? SNMP_SEC_LEVEL_AUTHNOPRIV
	                                                : SNMP_SEC_LEVEL_NOAUTH;
	if (sc->level == SL_NOAUTH)
		return 0;
	s->securityAuthProto = auth;
	s->securityAuthProtoLen = USM_AUTH_PROTO_SHA_LEN;
	s->securityAuthKeyLen = USM_AUTH_KU_LEN;
	if (generate_Ku(auth, USM_AUTH_PROTO_SHA_LEN, (const u_char *)sc->auth_password,
	        strlen(sc->auth_password), s->securityAuthKey,
	        &s->securityAuthKeyLen) != SNMPERR_SUCCESS) {
		log_warnx("device \"%s\": cannot derive the SNMPv3 auth key", name);
		return -1;
	}
	if (sc->level != SL_AUTHPRIV)
		return 0;
	s->securityPrivProto = usmAESPrivProtocol;
	s->securityPrivProtoLen = USM_PRIV_PROTO_AES_LEN;
	s->securityPrivKeyLen = USM_PRIV_KU_LEN;
	if (generate_Ku(auth, USM_AUTH_PROTO_SHA_LEN, (const u_char *)sc->priv_password,
	        strlen(sc->priv_password), s->securityPrivKey,
	        &s->securityPrivKeyLen) != SNMPERR_SUCCESS) {
		log_warnx("device \"%s\": cannot derive the SNMPv3 privacy key", name);
		return -1;
	}
	return 0;
}

/*
 * Make item i read the OID text (then .ifindex unless -1), not read yet.
 * The OIDs are built in or checked at load: a bad one is a bug.  The name
 * is kept when it is the same, as it is poll after poll for a link.
 */
static void
snmp_item_set(struct snmp_dev *sd, size_t i, const char *text, long ifindex)
{
	struct snmp_item *it;
	oid o[MAX_OID_LEN];
	size_t len;

	if (i >= sd->cap || snmp_oid_parse(text, o, &len) == -1 ||
	    (ifindex >= 0 && len >= MAX_OID_LEN))
		fatalx("%s: item %zu of %zu, OID %s", __func__, i, sd->cap, text);
	if (ifindex >= 0)
		o[len++] = (oid)ifindex;
	it = &sd->items[i];
	if (it->name == NULL || it->len != len ||
	    memcmp(it->name, o, len * sizeof(oid))) {
		free(it->name);
		it->name = xreallocarray(NULL, len, sizeof(oid));
		memcpy(it->name, o, len * sizeof(oid));
		it->len = len;
	}
	it->done = 0;
	snmp_value_clear(&it->val);
}

/* The items of the links found (after the profile's), and sysUpTime. */
static void
snmp_build_links(struct snmp_dev *sd)
{
	const struct snmp_conf *sc = device_conf(sd->dev)->probe_conf;
	size_t i, k;

	sd->nitems = sd->nprof;
	if (sd->nlinks == 0)
		return;
	sd->uptime_item = sd->nitems;
	snmp_item_set(sd, sd->nitems++, SNMP_SYSUPTIME, -1);
	for (i = 0; i < sd->nlinks; i++) {
		const struct snmp_link_conf *lc =
		    (const struct snmp_link_conf *)sc->links.items + i;
		struct snmp_link *l = &sd->links[i];
		if (!l->resolved)
			continue;
		l->item = sd->nitems;
		for (k = 0; k < SNMP_LINK_ITEMS; k++) {
			const char *col =
			    k < 8 ? snmp_link_oids[k] : snmp_link_columns[lc->match];
			if (col == NULL)
				break;
			snmp_item_set(sd, sd->nitems++, col, (long)l->ifindex);
		}
	}
}

/*
 * After engine discovery: choose the profile (auto), look links up (a walk
 * per column still to search in this poll), then the GETs.
 */
static void
snmp_begin(struct snmp_dev *sd)
{
	const struct snmp_conf *sc = device_conf(sd->dev)->probe_conf;
	const struct snmp_link_conf *lc = NULL;
	size_t i, j;

	if (sd->profile == PROF_AUTO) {
		sd->stage = ST_IDENT_SYS;
		snmp_next(sd);
		return;
	}
	for (i = 0; i < sd->nlinks; i++) {
		lc = (const struct snmp_link_conf *)sc->links.items + i;
		if (!sd->links[i].resolved && !sd->links[i].tried &&
		    lc->match != LM_IFINDEX)
			break;
	}
	if (i < sd->nlinks) {
		sd->lcol = lc->match;
		for (j = i; j < sd->nlinks; j++) {
			const struct snmp_link_conf *b =
			    (const struct snmp_link_conf *)sc->links.items + j;
			struct snmp_link *l = &sd->links[j];
			if (b->match != sd->lcol || l->resolved || l->tried)
				continue;
			l->tried = 1;
			snprintf(l->why, sizeof(l->why), "no interface with %s \"%s\"",
			    snmp_link_matches[b->match], b->value);
		}
		sd->stage = ST_LINKWALK;
		sd->walk_rows = 0;
		if (snmp_oid_parse(
		        snmp_link_columns[sd->lcol], sd->walk, &sd->walk_len) == -1)
			fatalx("%s: bad built-in OID", __func__);
		snmp_next(sd);
		return;
	}
	snmp_build_links(sd);
	sd->stage = ST_GET;
	snmp_next(sd);
}

/* Read a profile's OIDs after the points from now on (PROF_AUTO: none yet). */
static void
snmp_use_profile(struct snmp_dev *sd, int profile)
{
	const char *const *prof;

	sd->profile = profile;
	sd->nitems = sd->npoints;
	for (prof = snmp_profile_oids(profile); prof != NULL && *prof != NULL; prof++)
		snmp_item_set(sd, sd->nitems++, *prof, -1);
	sd->nprof = sd->nitems;
	snmp_build_links(sd);
}

static void snmp_set_finish(struct snmp_set_req *r, int ok, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
snmp_set_finish(struct snmp_set_req *r, int ok, const char *fmt, ...)
{
	char reason[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	LIST_REMOVE(r, entry);
	r->done(r->arg, ok, ok ? NULL : reason);
	free(r);
}

static int
snmp_set_answer(
    int op, netsnmp_session *session, int reqid, netsnmp_pdu *pdu, void *magic)
{
	struct snmp_set_req *r = magic;
	struct snmp_dev *sd = r->sd;
	netsnmp_variable_list *vb;
	netsnmp_pdu *get;
	struct snmp_value v;
	char why[256];
	const char *what = r->readback ? "reading the value back" : "SET";

	(void)session;
	(void)reqid;
	if (op == NETSNMP_CALLBACK_OP_RESEND)
		return 1;
	if (sd->stopping) {
		snmp_set_finish(r, 0, "the device was stopped");
		return 1;
	}
	if (op == NETSNMP_CALLBACK_OP_TIMED_OUT) {
		snmp_set_finish(r, 0, "%s: no answer from the agent", what);
		return 1;
	}
	if (op != NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE) {
		snmp_set_finish(r, 0, "%s: net-snmp error %d", what, op);
		return 1;
	}
	if (pdu->command == SNMP_MSG_REPORT) {
		snmp_set_finish(r, 0, "%s: the agent refused the request: %s", what,
		    snmp_api_errstring(snmpv3_get_report_type(pdu)));
		return 1;
	}
	if (pdu->errstat != SNMP_ERR_NOERROR) {
		snmp_set_finish(r, 0, "%s: the agent answered %s", what,
		    snmp_errstat_name(pdu->errstat));
		return 1;
	}
	if (!r->readback) {
		r->readback = 1;
		get = snmp_pdu_create(SNMP_MSG_GET);
		snmp_add_null_var(get, r->name, r->len);
		if (snmp_sess_async_send(sd->sess, get, snmp_set_answer, r) == 0) {
			snmp_log_reason(why, sizeof(why), sd->sess);
			snmp_free_pdu(get);
			snmp_set_finish(r, 0, "reading the value back: %s", why);
			return 1;
		}
		snmp_rearm(sd);
		return 1;
	}
	vb = pdu->variables;
	if (vb != NULL && vb->type == r->type && vb->val_len == r->val_len &&
	    (r->val_len == 0 || memcmp(vb->val.string, r->val, r->val_len) == 0)) {
		snmp_set_finish(r, 1, "%s", "");
		return 1;
	}
	if (vb == NULL) {
		snmp_set_finish(r, 0, "reading the value back: no value");
		return 1;
	}
	snmp_value_decode(vb, 1, &v);
	if (v.kind == SV_NUMBER)
		snprintf(why, sizeof(why), "%.15g", v.num);
	else if (v.kind == SV_OID)
		snmp_oid_text(v.oid, v.oid_len, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", v.kind == SV_TEXT ? v.text : v.why);
	snmp_value_clear(&v);
	snmp_set_finish(r, 0, "the agent took the SET but reads back %s", why);
	return 1;
}

/*
 * Set one object on an snmp device, asynchronously on its session: an SNMP
 * SET of value (type as snmpset's: i u t a o s x d b c U I ...), then a GET
 * reading it back; done(arg, ok, reason) is called exactly once, from the
 * loop, with ok 1 when the agent reads back what was set, else 0 and why.
 * -1 (and no call to done) when the device is not an snmp device in
 * operation, the OID is not numeric, the value does not fit the type, or
 * an SNMPv3 agent was not reached yet.
 */
int
snmp_set(struct device *dev, const char *oidtext, char type, const char *value,
    void (*done)(void *, int, const char *), void *arg)
{
	struct snmp_dev *sd;
	struct snmp_set_req *r;
	netsnmp_pdu *pdu;
	char why[256];

	if (dev == NULL || device_conf(dev)->probe != &probe_snmp ||
	    (sd = device_probe_data(dev)) == NULL || sd->stopping || done == NULL)
		return -1;
	if (sd->version == V_3 && !sd->discovered) {
		log_warnx("device \"%s\": SNMP SET before the agent was reached",
		    device_name(dev));
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->sd = sd;
	r->done = done;
	r->arg = arg;
	if (snmp_oid_parse(oidtext, r->name, &r->len) == -1) {
		free(r);
		return -1;
	}
	pdu = snmp_pdu_create(SNMP_MSG_SET);
	if (snmp_add_var(pdu, r->name, r->len, type, value) != 0 ||
	    pdu->variables == NULL || pdu->variables->val_len > sizeof(r->val)) {
		log_warnx("device \"%s\": SNMP SET %s: \"%s\" is no value of type %c",
		    device_name(dev), oidtext, value, type);
		snmp_free_pdu(pdu);
		free(r);
		return -1;
	}
	r->type = pdu->variables->type;
	r->val_len = pdu->variables->val_len;
	memcpy(r->val, pdu->variables->val.string, r->val_len);
	if (snmp_sess_async_send(sd->sess, pdu, snmp_set_answer, r) == 0) {
		snmp_log_reason(why, sizeof(why), sd->sess);
		log_warnx("device \"%s\": SNMP SET: %s", device_name(dev), why);
		snmp_free_pdu(pdu);
		free(r);
		return -1;
	}
	LIST_INSERT_HEAD(&sd->sets, r, entry);
	snmp_rearm(sd);
	return 0;
}

static void snmp_stop(struct device *);

/* Free what snmp_start() allocated but the session and its events. */
static void
snmp_dev_free(struct snmp_dev *sd)
{
	size_t i;

	for (i = 0; i < sd->cap; i++) {
		free(sd->items[i].name);
		snmp_value_clear(&sd->items[i].val);
	}
	snmp_value_clear(&sd->ident_sys);
	snmp_value_clear(&sd->ident_ups);
	free(sd->items);
	free(sd->chunk);
	free(sd->links);
	free(sd);
}

static int
snmp_start(struct device *dev)
{
	const struct device_conf *dc = device_conf(dev);
	const struct snmp_conf *sc = dc->probe_conf;
	struct snmp_dev *sd;
	netsnmp_session s;
	netsnmp_transport *t;
	size_t i;

	snmp_lib_init();
	sd = xcalloc(1, sizeof(*sd));
	sd->dev = dev;
	sd->version = sc->version;
	sd->conf_profile = sc->profile;
	sd->max_oids = sc->max_oids;
	sd->nlinks = sc->links.n;
	sd->cap = sc->points.n + SNMP_PROFILE_MAX + 1 + sd->nlinks * SNMP_LINK_ITEMS;
	sd->items = xcalloc(sd->cap, sizeof(*sd->items));
	sd->chunk = xcalloc(sd->cap, sizeof(*sd->chunk));
	if (sd->nlinks > 0)
		sd->links = xcalloc(sd->nlinks, sizeof(*sd->links));
	for (i = 0; i < sc->points.n; i++)
		snmp_item_set(sd, sd->nitems++,
		    ((const struct snmp_point_conf *)sc->points.items)[i].oid, -1);
	sd->npoints = sd->nitems;
	for (i = 0; i < sd->nlinks; i++) {
		const struct snmp_link_conf *lc =
		    (const struct snmp_link_conf *)sc->links.items + i;
		if (lc->match == LM_IFINDEX) {
			sd->links[i].resolved = 1;
			sd->links[i].ifindex = (uint32_t)strtoul(lc->value, NULL, 10);
		}
	}
	snmp_use_profile(sd, sc->profile);

	snmp_sess_init(&s);
	s.peername = sc->address;
	s.retries = 0;
	s.timeout = (long)(dc->timeout_ms + 1000) * 1000L;
	s.flags |= SNMP_FLAGS_DONT_PROBE;
	switch (sc->version) {
	case V_1:
	case V_2C:
		s.version = sc->version == V_1 ? SNMP_VERSION_1 : SNMP_VERSION_2c;
		s.community = (u_char *)sc->community;
		s.community_len = strlen(sc->community);
		break;
	default:
		s.version = SNMP_VERSION_3;
		if (snmp_usm_keys(&s, sc, dc->name) == -1) {
			snmp_dev_free(sd);
			return -1;
		}
		break;
	}
	if ((sd->sess = snmp_sess_open(&s)) == NULL) {
		log_warnx("device \"%s\": cannot open an SNMP session to %s", dc->name,
		    sc->address);
		snmp_dev_free(sd);
		return -1;
	}
	if ((t = snmp_sess_transport(sd->sess)) == NULL || t->sock < 0) {
		log_warnx("device \"%s\": SNMP session without a socket", dc->name);
		snmp_sess_close(sd->sess);
		snmp_dev_free(sd);
		return -1;
	}
	sd->rev =
	    event_new(device_base(dev), t->sock, EV_READ | EV_PERSIST, snmp_on_read, sd);
	sd->tev = evtimer_new(device_base(dev), snmp_on_timer, sd);
	sd->fail = event_new(device_base(dev), -1, 0, snmp_on_fail, sd);
	if (sd->rev == NULL || sd->tev == NULL || sd->fail == NULL)
		fatalx("%s: event_new", __func__);
	event_add(sd->rev, NULL);
	LIST_INIT(&sd->sets);
	LIST_INSERT_HEAD(&snmp_devs, sd, entry);
	device_set_probe_data(dev, sd);
	return 0;
}

static void
snmp_stop(struct device *dev)
{
	struct snmp_dev *sd = device_probe_data(dev);

	if (sd == NULL)
		return;
	LIST_REMOVE(sd, entry);
	event_free(sd->rev);
	event_free(sd->tev);
	event_free(sd->fail);
	sd->stopping = 1;
	snmp_sess_close(sd->sess); /* may call back for the SETs in flight */
	while (!LIST_EMPTY(&sd->sets))
		snmp_set_finish(LIST_FIRST(&sd->sets), 0, "the device was stopped");
	snmp_dev_free(sd);
	device_set_probe_data(dev, NULL);
}

static void
snmp_poll(struct device *dev, struct poll *p)
{
	struct snmp_dev *sd = device_probe_data(dev);
	size_t i;

	sd->pending = p;
	/* auto: choose again once contact was lost (another agent may answer). */
	if (sd->conf_profile == PROF_AUTO && sd->profile != PROF_AUTO &&
	    device_state(dev)->contact == CONTACT_LOST)
		snmp_use_profile(sd, PROF_AUTO);
	snmp_value_clear(&sd->ident_sys);
	snmp_value_clear(&sd->ident_ups);
	/* links: look interfaces up again once contact was lost. */
	for (i = 0; i < sd->nlinks; i++) {
		const struct snmp_conf *sc = device_conf(dev)->probe_conf;
		const struct snmp_link_conf *lc =
		    (const struct snmp_link_conf *)sc->links.items + i;
		sd->links[i].tried = 0;
		if (device_state(dev)->contact != CONTACT_LOST)
			continue;
		memset(sd->links[i].prev, 0, sizeof(sd->links[i].prev));
		if (lc->match != LM_IFINDEX)
			sd->links[i].resolved = 0;
	}
	for (i = 0; i < sd->nitems; i++) {
		sd->items[i].done = 0;
		snmp_value_clear(&sd->items[i].val);
	}
	sd->chunk_max = sd->max_oids;
	sd->alarms = 0;
	sd->alarms_ok = 0;
	snprintf(sd->alarm_err, sizeof(sd->alarm_err), "alarm table not read");
	if (sd->version == V_3 && !sd->discovered) {
		sd->stage = ST_DISCOVER;
		snmp_next(sd);
	} else
		snmp_begin(sd);
}

static void
snmp_cancel(struct device *dev, struct poll *p)
{
	struct snmp_dev *sd = device_probe_data(dev);

	if (sd->pending != p)
		return;
	sd->pending = NULL;
	sd->reqid = 0;
	sd->stage = ST_IDLE;
	event_del(sd->fail);
	/* net-snmp drops the request itself at its (longer) timeout. */
	if (sd->version == V_3)
		snmp_forget_engine(sd);
}

const struct probe_ops probe_snmp = {
	.name = "snmp",
	.help = "reads an SNMP agent (v1, v2c, v3)",
	.conf = &snmp_table,
	.start = snmp_start,
	.stop = snmp_stop,
	.poll = snmp_poll,
	.cancel = snmp_cancel,
};

/* The address of an agent, "udp:A.B.C.D[:PORT]" or "udp6:[ADDR][:PORT]". */
static int
snmp_agent_host(const char *a, int *family, unsigned char *buf)
{
	char host[64];
	const char *p, *end;

	if (strncmp(a, "udp:", 4) == 0) {
		*family = AF_INET;
		p = a + 4;
		if ((end = strchr(p, ':')) == NULL)
			end = p + strlen(p);
	} else if (strncmp(a, "udp6:[", 6) == 0) {
		*family = AF_INET6;
		p = a + 6;
		if ((end = strchr(p, ']')) == NULL)
			return -1;
	} else
		return -1;
	if ((size_t)(end - p) >= sizeof(host))
		return -1;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
	return inet_pton(*family, host, buf) == 1 ? 0 : -1;
}

/*
 * Call fn for every running snmp device whose agent address has the host of
 * sa (the UDP source of a trap); returns how many.  Every matching device
 * counts: several agents may share one address (a card per UPS behind NAT,
 * simulated devices on 127.0.0.1), and polling each is the truth.  An IPv4
 * source seen as an IPv4-mapped IPv6 address matches the IPv4 agent.
 */
size_t
snmp_devices_at(const struct sockaddr *sa, socklen_t salen,
    void (*fn)(struct device *, void *), void *arg)
{
	struct snmp_dev *sd, *next;
	unsigned char want[16], have[16];
	int family, af;
	size_t n = 0;

	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		family = AF_INET;
		memcpy(
		    want, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			memcpy(want, a6->s6_addr + 12, 4);
		} else {
			family = AF_INET6;
			memcpy(want, a6->s6_addr, 16);
		}
	} else
		return 0;
	for (sd = LIST_FIRST(&snmp_devs); sd != NULL; sd = next) {
		const struct snmp_conf *sc = device_conf(sd->dev)->probe_conf;
		next = LIST_NEXT(sd, entry);
		if (snmp_agent_host(sc->address, &af, have) == -1 || af != family ||
		    memcmp(have, want, family == AF_INET ? 4 : 16) != 0)
			continue;
		n++;
		fn(sd->dev, arg);
	}
	return n;
}

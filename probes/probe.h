/*
 * Probes read devices.  Each probe family is one file exporting one
 * struct probe_ops; the core finds it by the name of the device's probe
 * section ("replay", later "snmp" and "modbus") and owns all timing: it calls
 * poll() once per attempt and the probe reports back exactly once through
 * poll_done() (monitor.h), unless the core cancels the attempt first.
 *
 * A probe never decides severity and never keeps pointers into the
 * configuration between calls: after a reload an unchanged device gets the
 * new (equal) configuration object and the old one is freed.
 */
#ifndef SONAE_PROBE_H
#define SONAE_PROBE_H

#include <stddef.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>

struct conf;
struct conf_table;
struct daemon;
struct device;
struct event_base;
struct poll;

struct probe_ops {
	const char *name;
	const char *help;
	const struct conf_table *conf; /* the device's section for this probe */
	/* Set up per-device state (device_set_probe_data); -1 refuses the device. */
	int (*start)(struct device *);
	/* Free per-device state; any attempt in flight was cancelled first. */
	void (*stop)(struct device *);
	/* Begin one attempt; report with poll_*() then poll_done(), never inline. */
	void (*poll)(struct device *, struct poll *);
	/* Forget an attempt that timed out; poll_done() must not follow. */
	void (*cancel)(struct device *, struct poll *);
};

/* probe.c */
const struct probe_ops *probe_find(const char *);
char *probe_names(void);
void probe_conf_doc(
    FILE *, const char *, void (*)(FILE *, const struct conf_table *, const char *));

/* replay.c */
extern const struct probe_ops probe_replay;
struct scenario;
struct scenario *scenario_parse(const char *, size_t, const char *, char *, size_t);
void scenario_free(struct scenario *);
size_t scenario_frames(const struct scenario *);

/* snmp.c */
extern const struct probe_ops probe_snmp;
/*
 * SNMP SET as an action: set one object (numeric OID; type and value as
 * snmpset takes them: 'i' "2", 's' "text" ...) on an snmp device, on its own
 * session and loop, then read it back.  done(arg, ok, reason) follows exactly
 * once: ok 1 when the agent reads back the value set, else 0 with the reason
 * (refused, no answer, other value read back, device stopped).  Returns -1,
 * without calling done, when the device is not a running snmp device, the OID
 * or the value is bad, or an SNMPv3 agent was not reached yet.
 */
int snmp_set(struct device *, const char *, char, const char *,
    void (*)(void *, int, const char *), void *);
/*
 * Call fn(device, arg) for every running snmp device whose agent address has
 * the host of the given socket address (a trap's UDP source); returns how
 * many.  Addresses are numeric, so this never resolves a name.
 */
size_t snmp_devices_at(
    const struct sockaddr *, socklen_t, void (*)(struct device *, void *), void *);

/* trap.c: the SNMP trap receiver (the `traps` group). */
struct trap_receiver;
struct trap_counters {
	uint64_t received;       /* datagrams read */
	uint64_t polled;         /* traps that started or planned a poll */
	uint64_t coalesced;      /* traps a poll already planned covered */
	uint64_t unknown_source; /* no snmp device at the source address */
	uint64_t bad_community;
	uint64_t malformed;
	uint64_t unsupported; /* well formed, but SNMPv3 or InformRequest */
};
int trap_listen_valid(const char *);
struct trap_receiver *trap_new(
    struct event_base *, struct daemon *, const struct conf *, char *, size_t);
int trap_reconf(struct trap_receiver *, const struct conf *, char *, size_t);
void trap_free(struct trap_receiver *);
const struct trap_counters *trap_counters(const struct trap_receiver *);
struct json_t *trap_json(const struct trap_receiver *);
void trap_input(struct trap_receiver *, const unsigned char *, size_t,
    const struct sockaddr *, socklen_t);
/*
 * The pure parts of the snmp probe, for its unit tests; they use net-snmp's
 * types, so they are declared only after <net-snmp/net-snmp-includes.h>.
 */
#ifdef MAX_OID_LEN
enum snmp_value_kind {
	SV_NONE,    /* not read */
	SV_NUMBER,  /* integer, gauge, counter, counter64, timeticks */
	SV_TEXT,    /* octet string */
	SV_OID,     /* object identifier */
	SV_MISSING, /* noSuchObject, noSuchInstance, endOfMibView, noSuchName */
	SV_OTHER,   /* a type the probe does not read */
};
/*
 * A decoded varbind.  text and oid are the value's own (heap) copies, so a
 * reading costs what the agent sent, not two fixed 1 kB buffers: a thousand
 * devices each keep a few dozen of these.  snmp_value_decode() overwrites v
 * without freeing it; snmp_value_clear() frees and zeroes it.
 */
struct snmp_value {
	enum snmp_value_kind kind;
	double num;
	char *text; /* SV_TEXT: the string, valid UTF-8 */
	oid *oid;   /* SV_OID */
	size_t oid_len;
	char why[32]; /* SV_MISSING, SV_OTHER: the agent's exception, the type */
};
struct snmp_sample {
	int valid;
	double value;  /* the counter */
	double uptime; /* sysUpTime, -1 when not read */
	double disc;   /* ifCounterDiscontinuityTime, -1 when not read */
	int64_t ms;    /* when it was read */
};
struct snmp_ups {
	int on_battery, battery_low, replace_battery, bypass, overload;
};
int snmp_oid_parse(const char *, oid *, size_t *);
int snmp_address_valid(const char *);
void snmp_value_decode(const netsnmp_variable_list *, double, struct snmp_value *);
void snmp_value_clear(struct snmp_value *);
int snmp_alarm_match(const oid *, size_t);
void snmp_alarm_text(uint32_t, char *, size_t);
void snmp_ups_status(const struct snmp_ups *, char *, size_t);
void snmp_apc_pick(
    const struct snmp_value *, const struct snmp_value *, struct snmp_value *);
void snmp_oid_text(const oid *, size_t, char *, size_t);
const char *snmp_auto_profile(const struct snmp_value *, const struct snmp_value *);
int snmp_counter_rate(
    const struct snmp_sample *, const struct snmp_sample *, double *, const char **);

enum trap_kind {
	TK_OTHER,
	TK_COLD_START,
	TK_WARM_START,
	TK_LINK_DOWN,
	TK_LINK_UP,
	TK_AUTH_FAILURE,
	TK_UPS_ON_BATTERY,
	TK_UPS_TEST_COMPLETED,
	TK_UPS_ALARM_ADDED,
	TK_UPS_ALARM_REMOVED,
	TK_APC_ON_BATTERY,
	TK_APC_LOW_BATTERY,
	TK_APC_POWER_RESTORED,
	TK_APC_LOW_BATTERY_GONE,
};
/* One decoded trap. */
struct trap_msg {
	long version; /* SNMP_VERSION_1 or SNMP_VERSION_2c */
	char community[256];
	size_t community_len;
	oid oid[MAX_OID_LEN]; /* the SNMPv2 trap OID (v1 converted) */
	size_t oid_len;
	enum trap_kind kind;
	long ifindex;        /* linkDown/linkUp: ifIndex, or -1 */
	char detail[128];    /* "ifIndex 3", the UPS alarm ("OnBattery") */
	char agent_addr[16]; /* v1: what the sender wrote, for logs only */
};
const char *trap_kind_name(enum trap_kind);
enum trap_kind trap_classify(const oid *, size_t);
int trap_v1_oid(const oid *, size_t, long, long, oid *, size_t *);
int trap_decode(const u_char *, size_t, struct trap_msg *, char *, size_t);
int trap_address_parse(const char *, struct sockaddr_storage *, socklen_t *);
#endif

/* modbus.c */
extern const struct probe_ops probe_modbus;
/*
 * Modbus write as an action: write value to the point named on a modbus
 * device (a coil, or a holding register point without bit or mask, marked
 * writable), on the device's link worker, then read it back.  The value is
 * taken as the metric reads: a coil is on when value is not 0; registers get
 * (value - offset) / scale in the point's type and word order.
 * done(arg, ok, reason) follows exactly once, on the loop: ok 1 when the
 * device reads back what was written, else 0 with the reason (exception, no
 * answer, other value read back, device stopped).  Returns -1, without
 * calling done, when the device is not a running modbus device, it has no
 * such writable point, or the value does not fit the point's type.
 */
int modbus_write_point(
    struct device *, const char *, double, void (*)(void *, int, const char *), void *);

/* The pure parts of the modbus probe, for its unit tests. */
enum { MB_COIL, MB_DISCRETE, MB_HOLDING, MB_INPUT };
enum {
	MB_BIT,
	MB_INT16,
	MB_UINT16,
	MB_INT32,
	MB_UINT32,
	MB_INT64,
	MB_UINT64,
	MB_FLOAT32,
	MB_FLOAT64,
	MB_STRING,
};
enum { MB_ABCD, MB_CDAB, MB_BADC, MB_DCBA };
struct modbus_point_conf {
	char *name;
	int table;
	int address; /* as written, in the base of the device or profile */
	int type;
	int order;
	double scale;
	double offset;
	int bit;    /* -1: none */
	int mask;   /* 0: none */
	int length; /* string: characters */
	double error_below, error_above;
	char *unit;
	int writable;
	/* Set when the configuration is loaded, not keys. */
	int pdu;   /* protocol address, 0-based */
	int count; /* registers, or bits for coils and discrete inputs */
};
/* One read request: a run of registers or bits. */
struct modbus_read {
	uint8_t table;
	uint16_t start;
	uint16_t count;
};
/* What a point read as. */
struct modbus_value {
	enum { MV_NUMBER, MV_BOOL, MV_TEXT, MV_INVALID } kind;
	double num;
	char text[256]; /* MV_TEXT, or why MV_INVALID */
};
struct device_conf;
size_t modbus_points(const struct device_conf *, const struct modbus_point_conf **);
int modbus_type_count(int, int);
size_t modbus_plan(const struct modbus_point_conf *, size_t, int, int, int,
    struct modbus_read *, uint32_t *, uint32_t *);
void modbus_decode(
    const struct modbus_point_conf *, const uint16_t *, struct modbus_value *);
int modbus_encode(const struct modbus_point_conf *, double, uint16_t *, char *, size_t);
int modbus_address_parse(const char *, char *, size_t, char *, size_t);

#endif

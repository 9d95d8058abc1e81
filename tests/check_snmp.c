/*
 * probes/snmp.c: the pure parts of the snmp probe (OID and address parsing,
 * value decoding and scaling, alarm matching, status words, the APC
 * high-precision fallback).  The probe against real agents is tested in
 * tests/integration/test_snmp.py.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <check.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "monitor/monitor.h"
#include "probes/probe.h"
#include "tests/testutil.h"

static const struct {
	const char *text;
	int ok;
	size_t len;
	unsigned long last;
} oids[] = {
	{ "1.3.6.1.2.1.1.3.0", 1, 9, 0 },
	{ ".1.3.6.1.4.1.318.1.1.2.1.1.0", 1, 13, 0 },
	{ "1.3", 1, 2, 3 },
	{ "1.3.6.1.2.1.33.1.6.3.4294967295", 1, 11, 4294967295UL },
	{ "1.3.6.1.2.1.33.1.6.3.4294967296", 0, 0, 0 },
	{ "", 0, 0, 0 },
	{ ".", 0, 0, 0 },
	{ "1", 0, 0, 0 },
	{ "3.1", 0, 0, 0 },
	{ "1..3", 0, 0, 0 },
	{ "1.3.", 0, 0, 0 },
	{ "1.3.6.x", 0, 0, 0 },
	{ "sysUpTime.0", 0, 0, 0 },
	{ "SNMPv2-MIB::sysUpTime.0", 0, 0, 0 },
	{ " 1.3.6", 0, 0, 0 },
	{ "1.3.6 ", 0, 0, 0 },
	{ "-1.3.6", 0, 0, 0 },
};

START_TEST(oid_parse)
{
	oid o[MAX_OID_LEN];
	size_t len = 0;
	int r = snmp_oid_parse(oids[_i].text, o, &len);

	ck_assert_msg((r == 0) == oids[_i].ok, "\"%s\": got %d", oids[_i].text, r);
	if (oids[_i].ok) {
		ck_assert_uint_eq(len, oids[_i].len);
		ck_assert_uint_eq(o[len - 1], oids[_i].last);
	}
}
END_TEST

START_TEST(oid_too_long)
{
	char buf[1024] = "1.3";
	oid o[MAX_OID_LEN];
	size_t len, i;

	for (i = 2; i < MAX_OID_LEN; i++)
		strcat(buf, ".1");
	ck_assert_int_eq(snmp_oid_parse(buf, o, &len), 0);
	ck_assert_uint_eq(len, MAX_OID_LEN);
	strcat(buf, ".1");
	ck_assert_int_eq(snmp_oid_parse(buf, o, &len), -1);
}
END_TEST

static const struct {
	const char *text;
	int ok;
} addresses[] = {
	{ "udp:127.0.0.1:1161", 1 },
	{ "udp:192.0.2.10", 1 },
	{ "udp6:[::1]:1161", 1 },
	{ "udp6:[2001:db8::10]", 1 },
	{ "udp:ups1.example.org:161", 0 },
	{ "udp:localhost:161", 0 },
	{ "127.0.0.1:161", 0 },
	{ "tcp:127.0.0.1:161", 0 },
	{ "udp:127.0.0.1:0", 0 },
	{ "udp:127.0.0.1:65536", 0 },
	{ "udp:127.0.0.1:", 0 },
	{ "udp:127.0.0.1:16x", 0 },
	{ "udp:", 0 },
	{ "udp6:::1", 0 },
	{ "udp6:[::1", 0 },
	{ "udp6:[::1]x", 0 },
	{ "udp6:[127.0.0.1]:161", 0 },
	{ "udp:[::1]:161", 0 },
};

START_TEST(address_valid)
{
	ck_assert_msg(snmp_address_valid(addresses[_i].text) == addresses[_i].ok,
	    "\"%s\"", addresses[_i].text);
}
END_TEST

static void
decode(u_char type, const void *val, size_t len, double scale, struct snmp_value *v)
{
	netsnmp_variable_list vb;

	memset(&vb, 0, sizeof(vb));
	ck_assert_int_eq(snmp_set_var_typed_value(&vb, type, val, len), 0);
	snmp_value_decode(&vb, scale, v);
	snmp_free_var_internals(&vb);
}

START_TEST(value_numbers)
{
	struct snmp_value v;
	long i = -42;
	u_long u = 4294967295UL;
	struct counter64 c = { 1, 5 };

	decode(ASN_INTEGER, &i, sizeof(i), 0.5, &v);
	ck_assert_int_eq(v.kind, SV_NUMBER);
	ck_assert_double_eq(v.num, -21);
	decode(ASN_GAUGE, &u, sizeof(u), 1, &v);
	ck_assert_int_eq(v.kind, SV_NUMBER);
	ck_assert_double_eq(v.num, 4294967295.0);
	decode(ASN_COUNTER, &u, sizeof(u), 1, &v);
	ck_assert_double_eq(v.num, 4294967295.0);
	u = 180000;
	decode(ASN_TIMETICKS, &u, sizeof(u), 0.01, &v);
	ck_assert_double_eq_tol(v.num, 1800, 1e-9);
	decode(ASN_COUNTER64, &c, sizeof(c), 1, &v);
	ck_assert_int_eq(v.kind, SV_NUMBER);
	ck_assert_double_eq(v.num, 4294967296.0 + 5);
}
END_TEST

START_TEST(value_text_and_oid)
{
	struct snmp_value v;
	static const char bad[] = "ok\xff\xfe";
	oid o[] = { 1, 3, 6, 1, 2, 1, 33, 1, 6, 3, 2 };

	char big[400];

	decode(ASN_OCTET_STR, "Smart-UPS 1500", 14, 1, &v);
	ck_assert_int_eq(v.kind, SV_TEXT);
	ck_assert_str_eq(v.text, "Smart-UPS 1500");
	snmp_value_clear(&v);
	ck_assert_ptr_null(v.text);
	ck_assert_int_eq(v.kind, SV_NONE);
	/* Invalid UTF-8 is cut off, never passed on. */
	decode(ASN_OCTET_STR, bad, sizeof(bad) - 1, 1, &v);
	ck_assert_str_eq(v.text, "ok");
	snmp_value_clear(&v);
	/* A long string is kept up to 255 bytes. */
	memset(big, 'x', sizeof(big));
	decode(ASN_OCTET_STR, big, sizeof(big), 1, &v);
	ck_assert_uint_eq(strlen(v.text), 255);
	snmp_value_clear(&v);
	/* The empty string is a text, not a missing value. */
	decode(ASN_OCTET_STR, "", 0, 1, &v);
	ck_assert_int_eq(v.kind, SV_TEXT);
	ck_assert_str_eq(v.text, "");
	snmp_value_clear(&v);
	decode(ASN_OBJECT_ID, o, sizeof(o), 1, &v);
	ck_assert_int_eq(v.kind, SV_OID);
	ck_assert_uint_eq(v.oid_len, NELEM(o));
	ck_assert_int_eq(snmp_alarm_match(v.oid, v.oid_len), 2);
	snmp_value_clear(&v);
	ck_assert_ptr_null(v.oid);
}
END_TEST

START_TEST(value_missing)
{
	static const struct {
		u_char type;
		const char *why;
	} cases[] = {
		{ SNMP_NOSUCHOBJECT, "noSuchObject" },
		{ SNMP_NOSUCHINSTANCE, "noSuchInstance" },
		{ SNMP_ENDOFMIBVIEW, "endOfMibView" },
	};
	struct snmp_value v;
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		decode(cases[i].type, NULL, 0, 1, &v);
		ck_assert_int_eq(v.kind, SV_MISSING);
		ck_assert_str_eq(v.why, cases[i].why);
	}
	decode(ASN_IPADDRESS, "\x7f\0\0\1", 4, 1, &v);
	ck_assert_int_eq(v.kind, SV_OTHER);
	ck_assert_str_eq(v.why, "unexpected ASN.1 type 0x40");
}
END_TEST

START_TEST(alarm_match)
{
	oid well[] = { 1, 3, 6, 1, 2, 1, 33, 1, 6, 3, 8 };
	oid other[] = { 1, 3, 6, 1, 4, 1, 318, 1, 6, 3, 8 };
	oid longer[] = { 1, 3, 6, 1, 2, 1, 33, 1, 6, 3, 8, 0 };
	oid zero[] = { 1, 3, 6, 1, 2, 1, 33, 1, 6, 3, 0 };

	ck_assert_int_eq(snmp_alarm_match(well, NELEM(well)), 8);
	ck_assert_int_eq(snmp_alarm_match(other, NELEM(other)), 0);
	ck_assert_int_eq(snmp_alarm_match(longer, NELEM(longer)), 0);
	ck_assert_int_eq(snmp_alarm_match(well, NELEM(well) - 1), 0);
	ck_assert_int_eq(snmp_alarm_match(zero, NELEM(zero)), 0);
}
END_TEST

START_TEST(alarm_text)
{
	char buf[512];

	snmp_alarm_text(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	snmp_alarm_text((1u << 2) | (1u << 3), buf, sizeof(buf));
	ck_assert_str_eq(buf, "OnBattery,LowBattery");
	snmp_alarm_text((1u << 1) | (1u << 8) | (1u << 9) | (1u << 23), buf, sizeof(buf));
	ck_assert_str_eq(buf, "BatteryBad,OutputOverload,OnBypass,ShutdownImminent");
	snmp_alarm_text(1u << 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "Other");
	/* A short buffer is cut, never overrun. */
	snmp_alarm_text((1u << 2) | (1u << 3), buf, 8);
	ck_assert_str_eq(buf, "OnBatte");
}
END_TEST

static const struct {
	struct snmp_ups u;
	const char *want;
} statuses[] = {
	{ { 0, 0, 0, 0, 0 }, "OL" },
	{ { 1, 0, 0, 0, 0 }, "OB" },
	{ { 1, 1, 0, 0, 0 }, "OB LB" },
	{ { 0, 0, 1, 0, 0 }, "OL RB" },
	{ { 0, 0, 0, 1, 0 }, "OL BYPASS" },
	{ { 0, 0, 0, 0, 1 }, "OL OVER" },
	{ { 1, 1, 1, 0, 1 }, "OB LB RB OVER" },
};

START_TEST(ups_status)
{
	char buf[64];

	snmp_ups_status(&statuses[_i].u, buf, sizeof(buf));
	ck_assert_str_eq(buf, statuses[_i].want);
}
END_TEST

START_TEST(apc_pick)
{
	struct snmp_value hp, std, out;

	memset(&hp, 0, sizeof(hp));
	memset(&std, 0, sizeof(std));
	hp.kind = SV_NUMBER;
	hp.num = 995;
	std.kind = SV_NUMBER;
	std.num = 99;
	snmp_apc_pick(&hp, &std, &out);
	ck_assert_int_eq(out.kind, SV_NUMBER);
	ck_assert_double_eq_tol(out.num, 99.5, 1e-9);

	/* No high-precision object: the standard one. */
	hp.kind = SV_MISSING;
	snprintf(hp.why, sizeof(hp.why), "noSuchObject");
	snmp_apc_pick(&hp, &std, &out);
	ck_assert_double_eq(out.num, 99);

	/* Neither: the standard object's reason. */
	std.kind = SV_MISSING;
	snprintf(std.why, sizeof(std.why), "noSuchInstance");
	snmp_apc_pick(&hp, &std, &out);
	ck_assert_int_eq(out.kind, SV_MISSING);
	ck_assert_str_eq(out.why, "noSuchInstance");

	/* A high-precision string is no number: fall back too. */
	hp.kind = SV_TEXT;
	std.kind = SV_NUMBER;
	std.num = 27;
	snmp_apc_pick(&hp, &std, &out);
	ck_assert_double_eq(out.num, 27);
}
END_TEST

START_TEST(auto_profile)
{
	struct snmp_value sys, ups;
	oid sysoid[MAX_OID_LEN];
	char buf[64], eaton[] = "Eaton";

	memset(&sys, 0, sizeof(sys));
	memset(&ups, 0, sizeof(ups));
	sys.oid = sysoid;
	/* APC's enterprise, or deeper under it: ups-apc without asking more. */
	sys.kind = SV_OID;
	ck_assert_int_eq(
	    snmp_oid_parse("1.3.6.1.4.1.318.1.3.27", sys.oid, &sys.oid_len), 0);
	ck_assert_str_eq(snmp_auto_profile(&sys, &ups), "ups-apc");
	ck_assert_int_eq(snmp_oid_parse("1.3.6.1.4.1.318", sys.oid, &sys.oid_len), 0);
	ck_assert_str_eq(snmp_auto_profile(&sys, &ups), "ups-apc");
	/* Another vendor, 3180 and 31 are not 318: ask the UPS-MIB. */
	ck_assert_int_eq(snmp_oid_parse("1.3.6.1.4.1.3180.1", sys.oid, &sys.oid_len), 0);
	ck_assert_ptr_null(snmp_auto_profile(&sys, &ups));
	ck_assert_int_eq(snmp_oid_parse("1.3.6.1.4.1.31", sys.oid, &sys.oid_len), 0);
	ck_assert_ptr_null(snmp_auto_profile(&sys, &ups));
	snmp_oid_text(sys.oid, sys.oid_len, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.3.6.1.4.1.31");
	/* upsIdentManufacturer answers: RFC 1628, even without a sysObjectID. */
	ups.kind = SV_TEXT;
	ups.text = eaton;
	ck_assert_str_eq(snmp_auto_profile(&sys, &ups), "ups-rfc1628");
	sys.kind = SV_MISSING;
	ck_assert_str_eq(snmp_auto_profile(&sys, &ups), "ups-rfc1628");
	/* Neither: not a UPS. */
	ups.kind = SV_MISSING;
	ups.text = NULL;
	snprintf(ups.why, sizeof(ups.why), "noSuchObject");
	ck_assert_ptr_null(snmp_auto_profile(&sys, &ups));
	/* An APC OID sent as a string is no sysObjectID. */
	sys.kind = SV_TEXT;
	ck_assert_ptr_null(snmp_auto_profile(&sys, &ups));
	/* A short buffer is cut, not overrun. */
	sys.kind = SV_OID;
	snmp_oid_text(sys.oid, sys.oid_len, buf, 6);
	ck_assert_str_eq(buf, "1.3.6");
}
END_TEST

START_TEST(counter_rate)
{
	struct snmp_sample a = { 1, 5000000000.0, 12345, 0, 10000 };
	struct snmp_sample b = { 1, 5000250000.0, 12545, 0, 12000 };
	const char *why = NULL;
	double r = -1;

	/* 250,000 octets in 2 s. */
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), 0);
	ck_assert_double_eq_tol(r, 125000, 1e-6);
	/* No previous sample. */
	a.valid = 0;
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "two polls"));
	a.valid = 1;
	/* sysUpTime went back: the agent restarted, whatever the counter did. */
	b.uptime = 100;
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), -1);
	ck_assert_str_eq(why, "counter reset");
	b.uptime = 12545;
	/* ifCounterDiscontinuityTime changed. */
	b.disc = 12500;
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), -1);
	ck_assert_str_eq(why, "counter reset");
	b.disc = 0;
	/* Back without either: reported, never taken for a 32-bit wrap. */
	b.value = 10;
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), -1);
	ck_assert_str_eq(why, "counter went back");
	ck_assert_double_eq(r, 0);
	b.value = a.value;
	/* Unchanged: zero; no uptime read (-1): no reset seen through it. */
	a.uptime = b.uptime = -1;
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), 0);
	ck_assert_double_eq(r, 0);
	/* No time between the two. */
	b.ms = a.ms;
	ck_assert_int_eq(snmp_counter_rate(&a, &b, &r, &why), -1);
}
END_TEST

/*
 * snmp_set() against a real agent: snmpsimd on 127.0.0.1 (writecache
 * entries are settable), driven by a device on its own event loop.
 */
struct setres {
	int called, ok;
	char reason[300];
};

static void
set_done(void *arg, int ok, const char *reason)
{
	struct setres *r = arg;

	r->called++;
	r->ok = ok;
	snprintf(r->reason, sizeof(r->reason), "%s", reason != NULL ? reason : "");
}

static void
loop_until(struct event_base *base, const int *flag, int64_t ms)
{
	int64_t end = time_mono_ms() + ms;
	struct timeval tick = { 0, 20000 };

	while (!*flag && time_mono_ms() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

START_TEST(set_and_read_back)
{
	extern char **environ;
	const char *dir = testutil_tmpdir("check-snmp-set");
	char *data, *cache, *arg_data, *arg_cache, *arg_ep, *text;
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	struct event_base *base;
	struct store *store;
	struct device *dev;
	struct setres r;
	pid_t pid;
	int port = testutil_free_port(SOCK_DGRAM), i, ready = 0, st;
	char *argv[8];

	data = testutil_path(dir, "data");
	cache = testutil_path(dir, "cache");
	ck_assert_int_eq(mkdir(data, 0755), 0);
	ck_assert_int_eq(mkdir(cache, 0777), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(cache, 0777), 0);
	free(testutil_write(data, "pdu.snmprec",
	    "1.3.6.1.2.1.1.1.0|4|Simulated PDU\n"
	    "1.3.6.1.2.1.1.5.0|4:writecache|value=pdu-old\n"
	    "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1|2:writecache|value=1\n"));
	xasprintf(&arg_data, "--data-dir=%s", data);
	xasprintf(&arg_cache, "--cache-dir=%s", cache);
	xasprintf(&arg_ep, "--agent-udpv4-endpoint=127.0.0.1:%d", port);
	i = 0;
	argv[i++] = (char *)"snmpsimd";
	argv[i++] = arg_data;
	argv[i++] = arg_cache;
	argv[i++] = arg_ep;
	argv[i++] = (char *)"--logging-method=null";
	if (geteuid() == 0) {
		argv[i++] = (char *)"--process-user=nobody";
		argv[i++] = (char *)"--process-group=nogroup";
	}
	argv[i] = NULL;
	ck_assert_int_eq(posix_spawnp(&pid, "snmpsimd", NULL, NULL, argv, environ), 0);

	xasprintf(&text,
	    "site: { name = \"t\"; };\n"
	    "devices = ( { name = \"pdu1\"; interval = 3600; timeout = \"300ms\"; "
	    "retries = 0;\n"
	    "\tsnmp = { address = \"udp:127.0.0.1:%d\"; community = \"pdu\";\n"
	    "\t\tpoints = ( { name = \"descr\"; oid = \"1.3.6.1.2.1.1.1.0\"; "
	    "type = \"text\"; } ); }; } );\n",
	    port);
	conf = conf_load_string(text, "<snmp>", &errs);
	ck_assert_msg(conf != NULL, "%s", errs.n ? errs.v[0] : "?");
	base = event_base_new();
	store = store_new(10);
	dev = device_new(base, store, conf_device(conf, 0));
	ck_assert_int_eq(device_start(dev), 0);
	/* Poll until snmpsimd answers (it starts in about half a second). */
	for (i = 0; i < 60 && !ready; i++) {
		unsigned long polls = device_state(dev)->polls;
		int over = 0;
		ck_assert_int_eq(device_poll_now(dev), 0);
		while (!over) {
			loop_until(base, &over, 50);
			over = device_state(dev)->polls > polls;
		}
		ready = device_state(dev)->last_status == POLL_OK;
	}
	ck_assert_msg(ready, "snmpsimd did not answer: %s", device_state(dev)->reason);

	/* Switch a PDU outlet off (APC sPDUOutletCtl.1 = 2), read back. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(
	    snmp_set(dev, "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1", 'i', "2", set_done, &r),
	    0);
	ck_assert_int_eq(r.called, 0); /* never inline */
	loop_until(base, &r.called, 3000);
	ck_assert_int_eq(r.called, 1);
	ck_assert_msg(r.ok, "%s", r.reason);

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(
	    snmp_set(dev, ".1.3.6.1.2.1.1.5.0", 's', "pdu-new", set_done, &r), 0);
	loop_until(base, &r.called, 3000);
	ck_assert_int_eq(r.called, 1);
	ck_assert_msg(r.ok, "%s", r.reason);

	/* A read-only object: refused, or not what was set when read back. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(
	    snmp_set(dev, "1.3.6.1.2.1.1.1.0", 's', "hacked", set_done, &r), 0);
	loop_until(base, &r.called, 3000);
	ck_assert_int_eq(r.called, 1);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_msg(r.reason[0] != '\0', "no reason");

	/* Refused at once: no numeric OID, a value not of its type. */
	ck_assert_int_eq(snmp_set(dev, "sysName.0", 's', "x", set_done, &r), -1);
	ck_assert_int_eq(
	    snmp_set(dev, "1.3.6.1.2.1.1.5.0", 'i', "many", set_done, &r), -1);

	/* A SET in flight when the device stops: done once, with the reason. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(
	    snmp_set(dev, "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.1", 'i', "1", set_done, &r),
	    0);
	device_free(dev);
	ck_assert_int_eq(r.called, 1);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_str_eq(r.reason, "the device was stopped");

	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	store_free(store);
	conf_free(conf);
	event_base_free(base);
	free(text);
	free(arg_data);
	free(arg_cache);
	free(arg_ep);
	free(data);
	free(cache);
	testutil_rmdir();
}
END_TEST

static Suite *
snmp_suite(void)
{
	Suite *s = suite_create("snmp");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, oid_parse, 0, NELEM(oids));
	tcase_add_test(tc, oid_too_long);
	tcase_add_loop_test(tc, address_valid, 0, NELEM(addresses));
	tcase_add_test(tc, value_numbers);
	tcase_add_test(tc, value_text_and_oid);
	tcase_add_test(tc, value_missing);
	tcase_add_test(tc, alarm_match);
	tcase_add_test(tc, alarm_text);
	tcase_add_loop_test(tc, ups_status, 0, NELEM(statuses));
	tcase_add_test(tc, apc_pick);
	tcase_add_test(tc, auto_profile);
	tcase_add_test(tc, counter_rate);
	suite_add_tcase(s, tc);
	tc = tcase_create("set");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, set_and_read_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(snmp_suite());
}

/*
 * probes/trap.c: the pure parts of the trap receiver (trap OID
 * classification, the RFC 3584 v1 conversion, decoding real packets that
 * snmptrap sent, listen addresses).  Every cut-short and bit-flipped copy of
 * those packets must be refused without a crash or a leak (ASan).  The
 * receiver against snmptrap and real devices is tests/integration/test_traps.py.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "monitor/monitor.h"
#include "probes/probe.h"
#include "tests/testutil.h"

static size_t
oid_of(const char *text, oid *o)
{
	size_t len = 0;

	ck_assert_msg(snmp_oid_parse(text, o, &len) == 0, "bad OID %s", text);
	return len;
}

static const struct {
	const char *oid;
	enum trap_kind kind;
} classes[] = {
	{ "1.3.6.1.6.3.1.1.5.1", TK_COLD_START },
	{ "1.3.6.1.6.3.1.1.5.2", TK_WARM_START },
	{ "1.3.6.1.6.3.1.1.5.3", TK_LINK_DOWN },
	{ "1.3.6.1.6.3.1.1.5.4", TK_LINK_UP },
	{ "1.3.6.1.6.3.1.1.5.5", TK_AUTH_FAILURE },
	{ "1.3.6.1.6.3.1.1.5.6", TK_OTHER },
	{ "1.3.6.1.6.3.1.1.5", TK_OTHER },
	{ "1.3.6.1.6.3.1.1.5.3.1", TK_OTHER },
	{ "1.3.6.1.2.1.33.2.1", TK_UPS_ON_BATTERY },
	{ "1.3.6.1.2.1.33.2.2", TK_UPS_TEST_COMPLETED },
	{ "1.3.6.1.2.1.33.2.3", TK_UPS_ALARM_ADDED },
	{ "1.3.6.1.2.1.33.2.4", TK_UPS_ALARM_REMOVED },
	{ "1.3.6.1.2.1.33.2.5", TK_OTHER },
	/* from an SNMPv1 agent, through RFC 3584 */
	{ "1.3.6.1.2.1.33.2.0.1", TK_UPS_ON_BATTERY },
	{ "1.3.6.1.2.1.33.2.0.4", TK_UPS_ALARM_REMOVED },
	{ "1.3.6.1.2.1.33.2.1.1", TK_OTHER },
	{ "1.3.6.1.2.1.33.1.2.1.0", TK_OTHER },
	{ "1.3.6.1.4.1.318.0.5", TK_APC_ON_BATTERY },
	{ "1.3.6.1.4.1.318.0.7", TK_APC_LOW_BATTERY },
	{ "1.3.6.1.4.1.318.0.9", TK_APC_POWER_RESTORED },
	{ "1.3.6.1.4.1.318.0.11", TK_APC_LOW_BATTERY_GONE },
	{ "1.3.6.1.4.1.318.0.1", TK_OTHER },
	{ "1.3.6.1.4.1.318.1.5", TK_OTHER },
	{ "1.3.6.1.4.1.318.0.5.0", TK_OTHER },
	{ "1.3.6.1.4.1.3180.0.5", TK_OTHER },
	{ "1.3", TK_OTHER },
};

START_TEST(classify)
{
	oid o[MAX_OID_LEN];
	size_t len = oid_of(classes[_i].oid, o);
	enum trap_kind k = trap_classify(o, len);

	ck_assert_msg(k == classes[_i].kind, "%s: got %s, want %s", classes[_i].oid,
	    trap_kind_name(k), trap_kind_name(classes[_i].kind));
}
END_TEST

START_TEST(kind_names)
{
	ck_assert_str_eq(trap_kind_name(TK_UPS_ON_BATTERY), "ups-on-battery");
	ck_assert_str_eq(trap_kind_name(TK_APC_POWER_RESTORED), "apc-power-restored");
	ck_assert_str_eq(trap_kind_name(TK_LINK_DOWN), "link-down");
	ck_assert_str_eq(trap_kind_name((enum trap_kind)999), "other");
}
END_TEST

static const struct {
	const char *enterprise;
	long generic, specific;
	const char *want; /* NULL: refused */
} v1s[] = {
	{ "1.3.6.1.4.1.8072.3.2.10", 0, 0, "1.3.6.1.6.3.1.1.5.1" },
	{ "1.3.6.1.4.1.8072.3.2.10", 2, 0, "1.3.6.1.6.3.1.1.5.3" },
	{ "1.3.6.1.4.1.8072.3.2.10", 3, 17, "1.3.6.1.6.3.1.1.5.4" },
	{ "1.3.6.1.4.1.8072.3.2.10", 5, 0, "1.3.6.1.6.3.1.1.5.6" },
	{ "1.3.6.1.4.1.318", 6, 5, "1.3.6.1.4.1.318.0.5" },
	{ "1.3.6.1.4.1.318", 6, 9, "1.3.6.1.4.1.318.0.9" },
	{ "1.3.6.1.2.1.33.2", 6, 1, "1.3.6.1.2.1.33.2.0.1" },
	{ "1.3.6.1.4.1.318", 7, 5, NULL },
	{ "1.3.6.1.4.1.318", -1, 0, NULL },
	{ "1.3.6.1.4.1.318", 6, -1, NULL },
};

START_TEST(v1_oid)
{
	oid ent[MAX_OID_LEN], out[MAX_OID_LEN], want[MAX_OID_LEN];
	size_t entlen = oid_of(v1s[_i].enterprise, ent), outlen = 0, wantlen;
	int r = trap_v1_oid(ent, entlen, v1s[_i].generic, v1s[_i].specific, out, &outlen);

	if (v1s[_i].want == NULL) {
		ck_assert_int_eq(r, -1);
		return;
	}
	ck_assert_int_eq(r, 0);
	wantlen = oid_of(v1s[_i].want, want);
	ck_assert_int_eq(snmp_oid_compare(out, outlen, want, wantlen), 0);
}
END_TEST

START_TEST(v1_oid_too_long)
{
	oid ent[MAX_OID_LEN], out[MAX_OID_LEN];
	size_t outlen = 0, i;

	for (i = 0; i < MAX_OID_LEN; i++)
		ent[i] = 1;
	ck_assert_int_eq(trap_v1_oid(ent, MAX_OID_LEN - 1, 6, 1, out, &outlen), -1);
	ck_assert_int_eq(trap_v1_oid(ent, MAX_OID_LEN - 2, 6, 1, out, &outlen), 0);
	ck_assert_uint_eq(outlen, MAX_OID_LEN);
	ck_assert_int_eq(trap_v1_oid(NULL, 0, 6, 1, out, &outlen), -1);
}
END_TEST

/* Packets snmptrap (net-snmp 5.9) sent, in tests/fuzz/corpus/trap/. */
static const struct {
	const char *file;
	int rc;
	long version;
	enum trap_kind kind;
	const char *detail;
	const char *agent;
} packets[] = {
	{ "v2c-ups-on-battery", 0, SNMP_VERSION_2c, TK_UPS_ON_BATTERY, "", "" },
	{ "v2c-ups-alarm-added", 0, SNMP_VERSION_2c, TK_UPS_ALARM_ADDED, "OnBattery",
	    "" },
	{ "v2c-ups-alarm-removed", 0, SNMP_VERSION_2c, TK_UPS_ALARM_REMOVED, "LowBattery",
	    "" },
	{ "v2c-link-up", 0, SNMP_VERSION_2c, TK_LINK_UP, "ifIndex 7", "" },
	{ "v2c-apc-on-battery", 0, SNMP_VERSION_2c, TK_APC_ON_BATTERY, "", "" },
	{ "v1-apc-on-battery", 0, SNMP_VERSION_1, TK_APC_ON_BATTERY, "", "127.0.0.1" },
	{ "v1-apc-power-restored", 0, SNMP_VERSION_1, TK_APC_POWER_RESTORED, "",
	    "192.0.2.10" },
	{ "v1-link-down", 0, SNMP_VERSION_1, TK_LINK_DOWN, "ifIndex 3", "127.0.0.1" },
	{ "v1-ups-on-battery", 0, SNMP_VERSION_1, TK_UPS_ON_BATTERY, "", "127.0.0.1" },
	{ "v2c-inform", -2, 0, TK_OTHER, "", "" },
};

static u_char *
packet_read(const char *name, size_t *len)
{
	const char *src = getenv("SONAE_SRC");
	char path[1024];
	u_char *buf = xmalloc(65536);
	FILE *f;

	ck_assert_ptr_nonnull(src);
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/trap/%s", src, name);
	ck_assert_msg((f = fopen(path, "rb")) != NULL, "%s: cannot open", path);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	ck_assert_uint_gt(*len, 0);
	return buf;
}

START_TEST(decode_real)
{
	struct trap_msg m;
	char why[256];
	size_t len;
	u_char *buf = packet_read(packets[_i].file, &len);
	int r = trap_decode(buf, len, &m, why, sizeof(why));

	ck_assert_msg(r == packets[_i].rc, "%s: rc %d (%s)", packets[_i].file, r, why);
	if (r == 0) {
		ck_assert_int_eq(m.version, packets[_i].version);
		ck_assert_msg(m.kind == packets[_i].kind, "%s: %s", packets[_i].file,
		    trap_kind_name(m.kind));
		ck_assert_str_eq(m.detail, packets[_i].detail);
		ck_assert_str_eq(m.agent_addr, packets[_i].agent);
		ck_assert_uint_eq(m.community_len, 6);
		ck_assert_int_eq(memcmp(m.community, "public", 6), 0);
	} else
		ck_assert_str_ne(why, "");
	free(buf);
}
END_TEST

/* Every prefix, and every single-byte change, of every real packet. */
START_TEST(decode_broken)
{
	struct trap_msg m;
	char why[256];
	size_t len, cut, at;
	u_char *buf = packet_read(packets[_i].file, &len);
	int r;

	for (cut = 0; cut < len; cut++) {
		r = trap_decode(buf, cut, &m, why, sizeof(why));
		ck_assert_msg(
		    r != 0, "%s cut to %zu bytes decoded", packets[_i].file, cut);
		ck_assert_str_ne(why, "");
	}
	for (at = 0; at < len; at++) {
		u_char keep = buf[at];
		static const u_char vals[] = { 0x00, 0x01, 0x7f, 0x80, 0x81, 0x84, 0xff };
		size_t v;
		for (v = 0; v < NELEM(vals); v++) {
			buf[at] = vals[v];
			r = trap_decode(buf, len, &m, why, sizeof(why));
			if (r == 0) {
				ck_assert_uint_gt(m.oid_len, 0);
				ck_assert_uint_le(m.oid_len, MAX_OID_LEN);
				ck_assert_uint_lt(m.community_len, sizeof(m.community));
			} else
				ck_assert_str_ne(why, "");
		}
		buf[at] = keep;
	}
	free(buf);
}
END_TEST

START_TEST(decode_garbage)
{
	struct trap_msg m;
	char why[256];
	static const u_char getreq[] = { 0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p',
		'u', 'b', 'l', 'i', 'c', 0xa0, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00,
		0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01,
		0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00 };

	ck_assert_int_eq(trap_decode((const u_char *)"", 0, &m, why, sizeof(why)), -1);
	ck_assert_int_eq(
	    trap_decode((const u_char *)"hello", 5, &m, why, sizeof(why)), -1);
	ck_assert_int_eq(trap_decode(getreq, sizeof(getreq), &m, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "not a Trap") != NULL, "%s", why);
}
END_TEST

static const struct {
	const char *text;
	int ok;
	int family;
	unsigned port;
} listens[] = {
	{ "udp:127.0.0.1:1162", 1, AF_INET, 1162 },
	{ "udp:0.0.0.0", 1, AF_INET, 162 },
	{ "udp6:[::1]:1162", 1, AF_INET6, 1162 },
	{ "udp6:[::]", 1, AF_INET6, 162 },
	{ "udp:localhost:162", 0, 0, 0 },
	{ "tcp:127.0.0.1:162", 0, 0, 0 },
	{ "udp:127.0.0.1:0", 0, 0, 0 },
	{ "udp:127.0.0.1:70000", 0, 0, 0 },
	{ "127.0.0.1:162", 0, 0, 0 },
};

START_TEST(listen_parse)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int r = trap_address_parse(listens[_i].text, &ss, &sl);

	ck_assert_msg((r == 0) == listens[_i].ok, "%s: %d", listens[_i].text, r);
	ck_assert_int_eq(trap_listen_valid(listens[_i].text), listens[_i].ok);
	if (r != 0)
		return;
	ck_assert_int_eq(ss.ss_family, listens[_i].family);
	if (ss.ss_family == AF_INET) {
		ck_assert_uint_eq(sl, sizeof(struct sockaddr_in));
		ck_assert_uint_eq(
		    ntohs(((struct sockaddr_in *)&ss)->sin_port), listens[_i].port);
	} else {
		ck_assert_uint_eq(sl, sizeof(struct sockaddr_in6));
		ck_assert_uint_eq(
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), listens[_i].port);
	}
}
END_TEST

static Suite *
trap_suite(void)
{
	Suite *s = suite_create("trap");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, classify, 0, NELEM(classes));
	tcase_add_test(tc, kind_names);
	tcase_add_loop_test(tc, v1_oid, 0, NELEM(v1s));
	tcase_add_test(tc, v1_oid_too_long);
	tcase_add_loop_test(tc, decode_real, 0, NELEM(packets));
	tcase_add_loop_test(tc, decode_broken, 0, NELEM(packets));
	tcase_add_test(tc, decode_garbage);
	tcase_add_loop_test(tc, listen_parse, 0, NELEM(listens));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(trap_suite());
}

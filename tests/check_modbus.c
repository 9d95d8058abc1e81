/*
 * probes/modbus.c: decoding (every type in every word/byte order, bit, mask,
 * sentinels, scale and offset), encoding for writes, the read planner, address
 * parsing and the configuration checks; then the probe itself, workers and
 * all, against a libmodbus server on a thread of this test (polls, a write
 * read back, a silent server, a device stopped while its worker waits).
 * tests/integration/test_modbus.py tests it against pymodbus.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <modbus/modbus.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "probes/probe.h"
#include "tests/testutil.h"

static struct modbus_point_conf
pt(int table, int type, int order)
{
	struct modbus_point_conf p;

	memset(&p, 0, sizeof(p));
	p.name = (char *)"p";
	p.table = table;
	p.type = type;
	p.order = order;
	p.scale = 1;
	p.bit = -1;
	p.error_below = -INFINITY;
	p.error_above = INFINITY;
	p.count = modbus_type_count(type, 0);
	return p;
}

/* Registers as sent, for every order, and the value they hold. */
static const struct {
	int type;
	int order;
	uint16_t w[4];
	double want;
} decodes[] = {
	{ MB_INT16, MB_ABCD, { 0xfffe }, -2 },
	{ MB_INT16, MB_BADC, { 0xfeff }, -2 },
	{ MB_INT16, MB_CDAB, { 0x8000 }, -32768 },
	{ MB_INT16, MB_DCBA, { 0x0080 }, -32768 },
	{ MB_UINT16, MB_ABCD, { 0xffff }, 65535 },
	{ MB_UINT16, MB_BADC, { 0x3412 }, 0x1234 },
	/* 0x12345678 = 305419896; -123456789 = 0xF8A432EB */
	{ MB_UINT32, MB_ABCD, { 0x1234, 0x5678 }, 305419896 },
	{ MB_UINT32, MB_CDAB, { 0x5678, 0x1234 }, 305419896 },
	{ MB_UINT32, MB_BADC, { 0x3412, 0x7856 }, 305419896 },
	{ MB_UINT32, MB_DCBA, { 0x7856, 0x3412 }, 305419896 },
	{ MB_INT32, MB_ABCD, { 0xf8a4, 0x32eb }, -123456789 },
	{ MB_INT32, MB_CDAB, { 0x32eb, 0xf8a4 }, -123456789 },
	{ MB_INT32, MB_BADC, { 0xa4f8, 0xeb32 }, -123456789 },
	{ MB_INT32, MB_DCBA, { 0xeb32, 0xa4f8 }, -123456789 },
	{ MB_UINT32, MB_ABCD, { 0xffff, 0xffff }, 4294967295.0 },
	/* 0x0102030405060700 = 72623859790382848 (exact in a double) */
	{ MB_UINT64, MB_ABCD, { 0x0102, 0x0304, 0x0506, 0x0700 }, 72623859790382848.0 },
	{ MB_UINT64, MB_CDAB, { 0x0700, 0x0506, 0x0304, 0x0102 }, 72623859790382848.0 },
	{ MB_UINT64, MB_BADC, { 0x0201, 0x0403, 0x0605, 0x0007 }, 72623859790382848.0 },
	{ MB_UINT64, MB_DCBA, { 0x0007, 0x0605, 0x0403, 0x0201 }, 72623859790382848.0 },
	/* -1234567890123 = 0xFFFFFEE08E04FB35 */
	{ MB_INT64, MB_ABCD, { 0xffff, 0xfee0, 0x8e04, 0xfb35 }, -1234567890123.0 },
	{ MB_INT64, MB_DCBA, { 0x35fb, 0x048e, 0xe0fe, 0xffff }, -1234567890123.0 },
	{ MB_INT64, MB_CDAB, { 0xfb35, 0x8e04, 0xfee0, 0xffff }, -1234567890123.0 },
	{ MB_INT64, MB_ABCD, { 0xffff, 0xffff, 0xffff, 0xffff }, -1 },
	/* float32 -21.5 = 0xC1AC0000; 3.5 = 0x40600000 */
	{ MB_FLOAT32, MB_ABCD, { 0xc1ac, 0x0000 }, -21.5 },
	{ MB_FLOAT32, MB_CDAB, { 0x0000, 0xc1ac }, -21.5 },
	{ MB_FLOAT32, MB_BADC, { 0xacc1, 0x0000 }, -21.5 },
	{ MB_FLOAT32, MB_DCBA, { 0x0000, 0xacc1 }, -21.5 },
	{ MB_FLOAT32, MB_ABCD, { 0x4060, 0x0000 }, 3.5 },
	/* float64 -2.75 = 0xC006000000000000 */
	{ MB_FLOAT64, MB_ABCD, { 0xc006, 0, 0, 0 }, -2.75 },
	{ MB_FLOAT64, MB_CDAB, { 0, 0, 0, 0xc006 }, -2.75 },
	{ MB_FLOAT64, MB_BADC, { 0x06c0, 0, 0, 0 }, -2.75 },
	{ MB_FLOAT64, MB_DCBA, { 0, 0, 0, 0x06c0 }, -2.75 },
};

START_TEST(decode_types)
{
	struct modbus_point_conf p = pt(MB_HOLDING, decodes[_i].type, decodes[_i].order);
	struct modbus_value v;

	modbus_decode(&p, decodes[_i].w, &v);
	ck_assert_int_eq(v.kind, MV_NUMBER);
	ck_assert_msg(v.num == decodes[_i].want, "case %d: %.17g, want %.17g", _i, v.num,
	    decodes[_i].want);
}
END_TEST

START_TEST(encode_round_trip)
{
	struct modbus_point_conf p = pt(MB_HOLDING, decodes[_i].type, decodes[_i].order);
	struct modbus_value v;
	uint16_t w[4] = { 0 };
	char why[128];
	int i;

	ck_assert_int_eq(modbus_encode(&p, decodes[_i].want, w, why, sizeof(why)), 0);
	for (i = 0; i < p.count; i++)
		ck_assert_msg(w[i] == decodes[_i].w[i],
		    "case %d word %d: %04x, want %04x", _i, i, w[i], decodes[_i].w[i]);
	modbus_decode(&p, w, &v);
	ck_assert(v.num == decodes[_i].want);
}
END_TEST

START_TEST(decode_nan_inf)
{
	struct modbus_point_conf p = pt(MB_INPUT, MB_FLOAT32, MB_ABCD);
	struct modbus_point_conf d = pt(MB_INPUT, MB_FLOAT64, MB_CDAB);
	uint16_t nan32[] = { 0x7fc0, 0 }, inf32[] = { 0x7f80, 0 },
	         ninf32[] = { 0xff80, 0 };
	uint16_t inf64[] = { 0, 0, 0, 0x7ff0 };
	struct modbus_value v;

	modbus_decode(&p, nan32, &v);
	ck_assert_int_eq(v.kind, MV_INVALID);
	ck_assert_ptr_nonnull(strstr(v.text, "NaN"));
	modbus_decode(&p, inf32, &v);
	ck_assert_int_eq(v.kind, MV_INVALID);
	ck_assert_ptr_nonnull(strstr(v.text, "+infinity"));
	modbus_decode(&p, ninf32, &v);
	ck_assert_ptr_nonnull(strstr(v.text, "-infinity"));
	modbus_decode(&d, inf64, &v);
	ck_assert_int_eq(v.kind, MV_INVALID);
	ck_assert_ptr_nonnull(strstr(v.text, "infinity"));
}
END_TEST

START_TEST(decode_scale_sentinel)
{
	struct modbus_point_conf p = pt(MB_HOLDING, MB_INT16, MB_ABCD);
	uint16_t ok[] = { 0x00d7 }, err[] = { (uint16_t)-32003 },
	         edge[] = { (uint16_t)-32000 };
	struct modbus_value v;

	p.scale = 0.1;
	p.offset = -1;
	p.error_below = -32000;
	modbus_decode(&p, ok, &v);
	ck_assert_int_eq(v.kind, MV_NUMBER);
	ck_assert_double_eq_tol(v.num, 20.5, 1e-9);
	/* 112 x 0.1 is 11.2 exactly as written, not 11.200000000000001. */
	p.offset = 0;
	modbus_decode(&p, (uint16_t[]){ 112 }, &v);
	ck_assert(v.num == 11.2);
	p.scale = 0.01;
	modbus_decode(&p, (uint16_t[]){ 2345 }, &v);
	ck_assert(v.num == 23.45);
	p.scale = 0.1;
	p.offset = -1;
	modbus_decode(&p, err, &v);
	ck_assert_int_eq(v.kind, MV_INVALID);
	ck_assert_msg(strstr(v.text, "error code -32003") != NULL, "%s", v.text);
	modbus_decode(&p, edge, &v);
	ck_assert_int_eq(v.kind, MV_NUMBER);
	p.error_above = 1000;
	modbus_decode(&p, (uint16_t[]){ 1001 }, &v);
	ck_assert_int_eq(v.kind, MV_INVALID);
	ck_assert_ptr_nonnull(strstr(v.text, "above 1000"));
}
END_TEST

START_TEST(decode_bits)
{
	struct modbus_point_conf p = pt(MB_INPUT, MB_BIT, MB_ABCD);
	struct modbus_point_conf c = pt(MB_COIL, MB_BIT, MB_ABCD);
	struct modbus_point_conf m = pt(MB_INPUT, MB_UINT16, MB_ABCD);
	struct modbus_point_conf s = pt(MB_INPUT, MB_UINT16, MB_BADC);
	uint16_t status = 0x0005; /* leak, contamination */
	struct modbus_value v;

	p.bit = 0;
	modbus_decode(&p, &status, &v);
	ck_assert_int_eq(v.kind, MV_BOOL);
	ck_assert(v.num == 1);
	p.bit = 1;
	modbus_decode(&p, &status, &v);
	ck_assert(v.num == 0);
	p.bit = -1;
	p.mask = 0x0006;
	modbus_decode(&p, &status, &v);
	ck_assert_int_eq(v.kind, MV_BOOL);
	ck_assert(v.num == 1);
	m.mask = 0x0f00;
	modbus_decode(&m, (uint16_t[]){ 0x0a50 }, &v);
	ck_assert_int_eq(v.kind, MV_NUMBER);
	ck_assert(v.num == 10);
	/* Bits count in the value, after the byte swap. */
	s.bit = 8;
	modbus_decode(&s, (uint16_t[]){ 0x0001 }, &v);
	ck_assert_int_eq(v.kind, MV_BOOL);
	ck_assert(v.num == 1);
	modbus_decode(&c, (uint16_t[]){ 1 }, &v);
	ck_assert_int_eq(v.kind, MV_BOOL);
	ck_assert(v.num == 1);
}
END_TEST

START_TEST(decode_string)
{
	struct modbus_point_conf p = pt(MB_HOLDING, MB_STRING, MB_ABCD);
	uint16_t w[] = { 0x5431, 0x3036, 0x3020, 0x3120 }; /* "T1060 1 " */
	uint16_t z[] = { 0x4142, 0x0043, 0x4445 };
	struct modbus_value v;

	p.length = 8;
	p.count = 4;
	modbus_decode(&p, w, &v);
	ck_assert_int_eq(v.kind, MV_TEXT);
	ck_assert_str_eq(v.text, "T1060 1");
	p.length = 5;
	p.count = 3;
	modbus_decode(&p, z, &v);
	ck_assert_str_eq(v.text, "AB");
	p.order = MB_BADC;
	modbus_decode(&p, z, &v);
	ck_assert_str_eq(v.text, "BAC");
	p.order = MB_ABCD;
	modbus_decode(&p, (uint16_t[]){ 0x41ff, 0x0a42, 0 }, &v);
	ck_assert_str_eq(v.text, "A??B");
}
END_TEST

START_TEST(encode_refusals)
{
	struct modbus_point_conf p = pt(MB_HOLDING, MB_INT16, MB_ABCD);
	struct modbus_point_conf c = pt(MB_COIL, MB_BIT, MB_ABCD);
	uint16_t w[4];
	char why[128];

	ck_assert_int_eq(modbus_encode(&p, 32768, w, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "outside the range of int16"));
	ck_assert_int_eq(modbus_encode(&p, -32768, w, why, sizeof(why)), 0);
	ck_assert_int_eq(modbus_encode(&p, NAN, w, why, sizeof(why)), -1);
	p.type = MB_UINT16;
	ck_assert_int_eq(modbus_encode(&p, -1, w, why, sizeof(why)), -1);
	p.scale = 0.1;
	p.offset = 10;
	ck_assert_int_eq(modbus_encode(&p, 31.5, w, why, sizeof(why)), 0);
	ck_assert_uint_eq(w[0], 215);
	p.scale = 1;
	p.offset = 0;
	p.bit = 3;
	ck_assert_int_eq(modbus_encode(&p, 1, w, why, sizeof(why)), -1);
	p.bit = -1;
	p.type = MB_FLOAT32;
	p.count = 2;
	ck_assert_int_eq(modbus_encode(&p, 1e300, w, why, sizeof(why)), -1);
	ck_assert_int_eq(modbus_encode(&c, 5, w, why, sizeof(why)), 0);
	ck_assert_uint_eq(w[0], 1);
	ck_assert_int_eq(modbus_encode(&c, 0, w, why, sizeof(why)), 0);
	ck_assert_uint_eq(w[0], 0);
}
END_TEST

START_TEST(plan)
{
	struct modbus_point_conf p[8];
	struct modbus_read r[8];
	uint32_t at[8], off[8];
	size_t n;

	/* Holding 10 (int16), 11..12 (float32), 14 (gap), input 10, coils 0 and 1. */
	p[0] = pt(MB_HOLDING, MB_FLOAT32, MB_ABCD);
	p[0].pdu = 11;
	p[1] = pt(MB_HOLDING, MB_INT16, MB_ABCD);
	p[1].pdu = 10;
	p[2] = pt(MB_HOLDING, MB_UINT16, MB_ABCD);
	p[2].pdu = 14;
	p[3] = pt(MB_INPUT, MB_UINT16, MB_ABCD);
	p[3].pdu = 10;
	p[4] = pt(MB_COIL, MB_BIT, MB_ABCD);
	p[4].pdu = 1;
	p[5] = pt(MB_COIL, MB_BIT, MB_ABCD);
	p[5].pdu = 0;
	p[6] = pt(MB_HOLDING, MB_UINT16, MB_ABCD); /* same register as p[1] */
	p[6].pdu = 10;
	n = modbus_plan(p, 7, 125, 2000, 0, r, at, off);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(r[at[0]].table, MB_HOLDING);
	ck_assert_uint_eq(r[at[0]].start, 10);
	ck_assert_uint_eq(r[at[0]].count, 3);
	ck_assert_uint_eq(off[0], 1);
	ck_assert_uint_eq(off[1], 0);
	ck_assert_uint_eq(at[6], at[1]);
	ck_assert_uint_ne(at[2], at[0]);
	ck_assert_uint_eq(r[at[2]].start, 14);
	ck_assert_uint_eq(at[4], at[5]);
	ck_assert_uint_eq(r[at[4]].count, 2);
	ck_assert_uint_eq(off[4], 1);
	/* A gap of one register joins with max_gap 1. */
	n = modbus_plan(p, 7, 125, 2000, 1, r, at, off);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(r[at[2]].count, 5);
	ck_assert_uint_eq(off[2], 4);
	/* max_registers 2: the float32 cannot join the int16 before it. */
	n = modbus_plan(p, 7, 2, 2000, 0, r, at, off);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(r[at[0]].start, 11);
	ck_assert_uint_eq(r[at[0]].count, 2);
	/* max_bits 1: one coil per read. */
	n = modbus_plan(p, 7, 125, 1, 0, r, at, off);
	ck_assert_uint_ne(at[4], at[5]);
}
END_TEST

START_TEST(plan_limits)
{
	struct modbus_point_conf *p = xcalloc(300, sizeof(*p));
	struct modbus_read *r = xcalloc(300, sizeof(*r));
	uint32_t *at = xcalloc(300, sizeof(*at)), *off = xcalloc(300, sizeof(*off));
	size_t n, i;

	for (i = 0; i < 300; i++) {
		p[i] = pt(MB_INPUT, MB_UINT16, MB_ABCD);
		p[i].pdu = (int)(299 - i);
	}
	n = modbus_plan(p, 300, 125, 2000, 0, r, at, off);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(r[0].count, 125);
	ck_assert_uint_eq(r[1].count, 125);
	ck_assert_uint_eq(r[2].count, 50);
	for (i = 0; i < 300; i++) {
		p[i] = pt(MB_DISCRETE, MB_BIT, MB_ABCD);
		p[i].pdu = (int)(i * 10);
	}
	n = modbus_plan(p, 300, 125, 2000, 9, r, at, off);
	ck_assert_uint_eq(n, 2); /* 0..1990 is 1991 bits, then 2000..2990 */
	ck_assert_uint_eq(r[0].count, 1991);
	free(p);
	free(r);
	free(at);
	free(off);
}
END_TEST

static const struct {
	const char *a;
	int kind;
	const char *host, *port;
} addrs[] = {
	{ "tcp:192.0.2.20:502", 0, "192.0.2.20", "502" },
	{ "tcp:192.0.2.20", 0, "192.0.2.20", "502" },
	{ "tcp:[2001:db8::20]:1502", 0, "2001:db8::20", "1502" },
	{ "tcp:[::1]", 0, "::1", "502" },
	{ "rtu:/dev/ttyUSB0", 1, "/dev/ttyUSB0", "" },
	{ "tcp:sensor.example:502", -1, NULL, NULL },
	{ "tcp:192.0.2.20:0", -1, NULL, NULL },
	{ "tcp:192.0.2.20:65536", -1, NULL, NULL },
	{ "tcp:192.0.2.20:50x", -1, NULL, NULL },
	{ "tcp:", -1, NULL, NULL },
	{ "tcp:[::1", -1, NULL, NULL },
	{ "rtu:ttyUSB0", -1, NULL, NULL },
	{ "udp:192.0.2.20:502", -1, NULL, NULL },
	{ "192.0.2.20:502", -1, NULL, NULL },
};

START_TEST(address_parse)
{
	char host[256], port[16];
	int k = modbus_address_parse(addrs[_i].a, host, sizeof(host), port, sizeof(port));

	ck_assert_msg(k == addrs[_i].kind, "%s: %d", addrs[_i].a, k);
	if (k >= 0) {
		ck_assert_str_eq(host, addrs[_i].host);
		ck_assert_str_eq(port, addrs[_i].port);
	}
}
END_TEST

static struct conf *
load(const char *modbus, struct conf_errors *errs)
{
	char *text;
	struct conf *c;

	xasprintf(&text,
	    "site: { name = \"t\"; };\n"
	    "devices = ( { name = \"m1\";\n"
	    "\tmodbus = { %s }; } );\n",
	    modbus);
	c = conf_load_string(text, "<modbus>", errs);
	free(text);
	return c;
}

static int
has_error(const struct conf_errors *e, const char *needle)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strstr(e->v[i], needle) != NULL)
			return 1;
	return 0;
}

static const struct {
	const char *text;
	const char *error; /* NULL: loads */
} confs[] = {
	{ "address = \"tcp:127.0.0.1:502\"; points = ( { name = \"t\"; table = "
	  "\"input\"; "
	  "address = 1; } );",
	    NULL },
	{ "address = \"tcp:127.0.0.1:502\";", "no points" },
	{ "address = \"tcp:localhost\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; } );",
	    "expected \"tcp:192.0.2.20:502\"" },
	{ "address = \"tcp:127.0.0.1\"; baud = 19200; points = ( { name = \"t\"; "
	  "table = \"input\"; address = 1; } );",
	    "baud: only for a serial bus" },
	{ "address = \"rtu:/dev/ttyS0\"; unit = 0; points = ( { name = \"t\"; "
	  "table = \"input\"; address = 1; } );",
	    "unit ids 1..247" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"coil\"; "
	  "address = 1; type = \"int16\"; } );",
	    "the type is \"bit\"" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; type = \"bit\"; } );",
	    "needs bit = N" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; bit = 16; } );",
	    "beyond the 16 bits of uint16" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; mask = 0x10000; } );",
	    "wider than the 16 bits" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; type = \"float32\"; bit = 2; } );",
	    "not for type float32" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; type = \"string\"; } );",
	    "needs its length" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; writable = true; } );",
	    "input registers are read-only" },
	{ "address = \"tcp:127.0.0.1\"; base = \"1\"; points = ( { name = \"t\"; "
	  "table = \"input\"; address = 0; } );",
	    "address 0 with base 1 is outside" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"holding\"; "
	  "address = 65535; type = \"int32\"; } );",
	    "outside the table" },
	{ "address = \"tcp:127.0.0.1\"; max_registers = 2; points = ( { name = \"t\"; "
	  "table = \"holding\"; address = 1; type = \"int64\"; } );",
	    "more than max_registers 2" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; }, { name = \"t\"; table = \"input\"; address = 2; } );",
	    "two points are named \"t\"" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"9t\"; table = \"input\"; "
	  "address = 1; } );",
	    "starting with a letter" },
	{ "address = \"tcp:127.0.0.1\"; points = ( { name = \"t\"; table = \"input\"; "
	  "address = 1; scale = 0; } );",
	    "scale: must not be 0" },
	{ "address = \"tcp:127.0.0.1\"; profile = \"/nonexistent/p.conf\";",
	    "/nonexistent/p.conf: No such file" },
};

START_TEST(conf_checks)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *c = load(confs[_i].text, &errs);

	if (confs[_i].error == NULL)
		ck_assert_msg(c != NULL, "%s", errs.n ? errs.v[0] : "?");
	else {
		ck_assert_ptr_null(c);
		ck_assert_msg(has_error(&errs, confs[_i].error), "want \"%s\", got: %s",
		    confs[_i].error, errs.n ? errs.v[0] : "nothing");
		ck_assert_ptr_nonnull(strstr(errs.v[0], "<modbus>:"));
	}
	conf_free(c);
	conf_errors_clear(&errs);
}
END_TEST

START_TEST(conf_profile)
{
	const char *dir = testutil_tmpdir("check-modbus-profile");
	struct conf_errors errs = { NULL, 0 };
	const struct modbus_point_conf *pts;
	struct conf *c;
	char *main, *text;

	free(testutil_write(dir, "p.conf",
	    "modbus_profile = {\n"
	    "  name = \"t\"; follows = \"a published map\"; base = \"1\";\n"
	    "  points = (\n"
	    "    { name = \"status\"; table = \"input\"; address = 1; },\n"
	    "    { name = \"temp\"; table = \"input\"; address = 2; scale = 0.1; }\n"
	    "  );\n"
	    "};\n"));
	free(testutil_write(dir, "bad.conf",
	    "modbus_profile = {\n"
	    "  name = \"t\"; follows = \"x\";\n"
	    "  points = ( { name = \"s\"; table = \"input\"; address = 1; type = \"x\"; "
	    "} );\n"
	    "};\n"));
	text = xstrdup(
	    "site: { name = \"t\"; };\n"
	    "devices = ( { name = \"m1\"; modbus = { address = \"tcp:127.0.0.1\";\n"
	    "  profile = \"p.conf\";\n"
	    "  points = ( { name = \"temp\"; table = \"input\"; address = 1; "
	    "scale = 0.01; },\n"
	    "             { name = \"extra\"; table = \"holding\"; address = 7; } "
	    ");\n"
	    "}; } );\n");
	main = testutil_write(dir, "main.conf", text);
	c = conf_load(main, &errs);
	ck_assert_msg(c != NULL, "%s", errs.n ? errs.v[0] : "?");
	/* The profile's points first, "temp" replaced by the device's own. */
	ck_assert_uint_eq(modbus_points(conf_device(c, 0), &pts), 3);
	ck_assert_str_eq(pts[0].name, "status");
	ck_assert_int_eq(pts[0].pdu, 0); /* profile base 1 */
	ck_assert_str_eq(pts[1].name, "temp");
	ck_assert_int_eq(pts[1].pdu, 1); /* device base 0 */
	ck_assert_double_eq(pts[1].scale, 0.01);
	ck_assert_str_eq(pts[2].name, "extra");
	conf_free(c);
	free(main);
	free(text);
	/* A bad profile is named with its file and line. */
	text = xstrdup(
	    "site: { name = \"t\"; };\n"
	    "devices = ( { name = \"m1\"; modbus = { address = \"tcp:127.0.0.1\";\n"
	    "  profile = \"bad.conf\"; }; } );\n");
	main = testutil_write(dir, "main2.conf", text);
	c = conf_load(main, &errs);
	ck_assert_ptr_null(c);
	ck_assert_msg(
	    has_error(&errs, "bad.conf:3: devices[0].modbus.modbus_profile.points[0]"
	                     ".type: expected one of"),
	    "%s", errs.n ? errs.v[0] : "?");
	conf_errors_clear(&errs);
	free(main);
	free(text);
	testutil_rmdir();
}
END_TEST

/* --- the probe against a libmodbus server on a thread ------------------------ */

struct server {
	pthread_t t;
	int port;
	int silent;
	int mangle; /* a write does not stick: the register changes after it */
	int lfd;
	modbus_mapping_t *map;
	pthread_mutex_t mu; /* map, mangle, stop: the test reads them too */
	int stop;
};

/* A register of the server's map, read under its lock. */
static unsigned
server_reg(struct server *s, int table, int i)
{
	unsigned v;

	pthread_mutex_lock(&s->mu);
	v = table == MB_COIL ? s->map->tab_bits[i] : s->map->tab_registers[i];
	pthread_mutex_unlock(&s->mu);
	return v;
}

static void
server_mangle(struct server *s, int on)
{
	pthread_mutex_lock(&s->mu);
	s->mangle = on;
	pthread_mutex_unlock(&s->mu);
}

static void *
server_run(void *arg)
{
	struct server *s = arg;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	char port[16];
	modbus_t *ctx;
	int fd, rc;

	snprintf(port, sizeof(port), "%d", s->port);
	ctx = modbus_new_tcp("127.0.0.1", s->port);
	for (;;) {
		pthread_mutex_lock(&s->mu);
		rc = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (rc)
			break;
		fd = modbus_tcp_accept(ctx, &s->lfd);
		if (fd == -1)
			break;
		for (;;) {
			rc = modbus_receive(ctx, q);
			if (rc == -1)
				break;
			pthread_mutex_lock(&s->mu);
			if (rc > 0 && !s->silent)
				modbus_reply(ctx, q, rc, s->map);
			if (rc > 0 && s->mangle && q[7] == 0x10)
				s->map->tab_registers[3] ^= 1;
			pthread_mutex_unlock(&s->mu);
		}
		close(fd);
	}
	modbus_free(ctx);
	return NULL;
}

static void
server_start(struct server *s, int silent)
{
	modbus_t *ctx;

	memset(s, 0, sizeof(*s));
	s->port = testutil_free_port(SOCK_STREAM);
	s->silent = silent;
	s->map = modbus_mapping_new(100, 100, 100, 100);
	pthread_mutex_init(&s->mu, NULL);
	ctx = modbus_new_tcp("127.0.0.1", s->port);
	s->lfd = modbus_tcp_listen(ctx, 1);
	ck_assert_int_ge(s->lfd, 0);
	modbus_free(ctx);
	ck_assert_int_eq(pthread_create(&s->t, NULL, server_run, s), 0);
}

/* After the device stopped (the server thread waits for its client to go). */
static void
server_stop(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->t, NULL);
	close(s->lfd);
	modbus_mapping_free(s->map);
	pthread_mutex_destroy(&s->mu);
}

static void
loop_until(struct event_base *base, const int *flag, int64_t ms)
{
	int64_t end = time_mono_ms() + ms;
	struct timeval tick = { 0, 10000 };

	while (!*flag && time_mono_ms() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

struct wres {
	int called, ok;
	char reason[300];
};

static void
wdone(void *arg, int ok, const char *reason)
{
	struct wres *r = arg;

	r->called++;
	r->ok = ok;
	snprintf(r->reason, sizeof(r->reason), "%s", reason != NULL ? reason : "");
}

static struct device *
probe_device(struct server *s, struct conf **conf, struct event_base **base,
    struct store **store, const char *extra)
{
	struct conf_errors errs = { NULL, 0 };
	struct device *dev;
	char *text;

	xasprintf(&text,
	    "site: { name = \"t\"; };\n"
	    "devices = ( { name = \"m1\"; interval = 3600; timeout = \"400ms\"; "
	    "retries = 0;\n"
	    "  modbus = { address = \"tcp:127.0.0.1:%d\"; response_timeout = \"200ms\";\n"
	    "    points = (\n"
	    "      { name = \"temp\"; table = \"holding\"; address = 1; type = "
	    "\"int16\"; "
	    "scale = 0.1; },\n"
	    "      { name = \"flow\"; table = \"holding\"; address = 2; type = "
	    "\"float32\"; "
	    "order = \"CDAB\"; writable = true; },\n"
	    "      { name = \"siren\"; table = \"coil\"; address = 5; type = \"bit\"; "
	    "writable = true; },\n"
	    "      { name = \"missing\"; table = \"input\"; address = 99; type = "
	    "\"int32\"; }\n"
	    "    ); %s }; } );\n",
	    s->port, extra);
	*conf = conf_load_string(text, "<modbus>", &errs);
	free(text);
	ck_assert_msg(*conf != NULL, "%s", errs.n ? errs.v[0] : "?");
	*base = event_base_new();
	*store = store_new(10);
	dev = device_new(*base, *store, conf_device(*conf, 0));
	ck_assert_int_eq(device_start(dev), 0);
	return dev;
}

static void
poll_once(struct device *dev, struct event_base *base)
{
	uint64_t polls = device_state(dev)->polls;
	int done = 0;

	ck_assert_int_eq(device_poll_now(dev), 0);
	while (!done) {
		loop_until(base, &done, 20);
		done = device_state(dev)->polls > polls;
	}
}

START_TEST(probe_poll_and_write)
{
	struct server s;
	struct conf *conf;
	struct event_base *base;
	struct store *store;
	struct device *dev;
	struct sample smp;
	struct wres w = { 0, 0, "" };

	server_start(&s, 0);
	s.map->tab_registers[1] = (uint16_t)-215;
	s.map->tab_registers[2] = 0x0000; /* 3.5 word-swapped */
	s.map->tab_registers[3] = 0x4060;
	dev = probe_device(&s, &conf, &base, &store, "");
	poll_once(dev, base);
	ck_assert_int_eq(device_state(dev)->last_status, POLL_OK);
	ck_assert(0 == series_latest(store_lookup(store, "m1.temp"), &smp));
	ck_assert_double_eq_tol(smp.num, -21.5, 1e-9);
	ck_assert(0 == series_latest(store_lookup(store, "m1.flow"), &smp));
	ck_assert_double_eq_tol(smp.num, 3.5, 1e-9);
	ck_assert(0 == series_latest(store_lookup(store, "m1.missing"), &smp));
	ck_assert_int_eq(smp.q, Q_ERROR);
	ck_assert_msg(strstr(smp.reason, "exception 2") != NULL, "%s", smp.reason);

	/* Write, confirmed by reading back. */
	ck_assert_int_eq(modbus_write_point(dev, "flow", -2.75, wdone, &w), 0);
	loop_until(base, &w.called, 2000);
	ck_assert_int_eq(w.called, 1);
	ck_assert_msg(w.ok, "%s", w.reason);
	ck_assert_uint_eq(server_reg(&s, MB_HOLDING, 3), 0xc030);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(modbus_write_point(dev, "siren", 1, wdone, &w), 0);
	loop_until(base, &w.called, 2000);
	ck_assert_msg(w.ok, "%s", w.reason);
	w.called = 0;
	ck_assert_uint_eq(server_reg(&s, MB_COIL, 5), 1);
	/* A device that takes the write but reads back another value. */
	server_mangle(&s, 1);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(modbus_write_point(dev, "flow", 1.5, wdone, &w), 0);
	loop_until(base, &w.called, 2000);
	ck_assert_int_eq(w.ok, 0);
	ck_assert_msg(strstr(w.reason, "reads back 0x3fc1") != NULL, "%s", w.reason);
	server_mangle(&s, 0);
	w.called = 0;
	/* Not writable, unknown, does not fit: refused at once. */
	ck_assert_int_eq(modbus_write_point(dev, "temp", 1, wdone, &w), -1);
	ck_assert_int_eq(modbus_write_point(dev, "nope", 1, wdone, &w), -1);
	ck_assert_int_eq(modbus_write_point(dev, "flow", NAN, wdone, &w), -1);
	ck_assert_int_eq(w.called, 0);

	/* A write pending when the device stops is answered "stopped". */
	ck_assert_int_eq(modbus_write_point(dev, "siren", 0, wdone, &w), 0);
	device_free(dev);
	ck_assert_int_eq(w.called, 1);
	ck_assert_int_eq(w.ok, 0);
	ck_assert_str_eq(w.reason, "the device was stopped");
	server_stop(&s);
	store_free(store);
	conf_free(conf);
	event_base_free(base);
	usleep(300000); /* let a detached worker finish before the leak check */
}
END_TEST

START_TEST(probe_silent_and_stop_busy)
{
	struct server s;
	struct conf *conf;
	struct event_base *base;
	struct store *store;
	struct device *dev;
	int64_t t0;

	server_start(&s, 1);
	dev = probe_device(&s, &conf, &base, &store, "");
	poll_once(dev, base);
	ck_assert_int_eq(device_state(dev)->last_status, POLL_TIMEOUT);
	/* Stopping while the worker waits for an answer must not wait for it. */
	ck_assert_int_eq(device_poll_now(dev), 0);
	{
		int never = 0;
		loop_until(base, &never, 50);
	}
	t0 = time_mono_ms();
	device_free(dev);
	ck_assert_int_lt(time_mono_ms() - t0, 100);
	server_stop(&s);
	store_free(store);
	conf_free(conf);
	event_base_free(base);
	usleep(400000);
}
END_TEST

START_TEST(probe_refused_backoff)
{
	struct server s;
	struct conf *conf;
	struct event_base *base;
	struct store *store;
	struct device *dev;

	memset(&s, 0, sizeof(s));
	s.port = testutil_free_port(SOCK_STREAM); /* nobody listens */
	dev = probe_device(&s, &conf, &base, &store, "");
	poll_once(dev, base);
	ck_assert_int_eq(device_state(dev)->last_status, POLL_REFUSED);
	ck_assert_ptr_nonnull(strstr(device_state(dev)->reason, "connect"));
	/* The next poll comes before the reconnect delay: it fails at once. */
	poll_once(dev, base);
	ck_assert_int_eq(device_state(dev)->last_status, POLL_REFUSED);
	ck_assert_msg(strstr(device_state(dev)->reason, "next try in") != NULL, "%s",
	    device_state(dev)->reason);
	device_free(dev);
	store_free(store);
	conf_free(conf);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("modbus");
	TCase *tc = tcase_create("decode");

	tcase_add_loop_test(tc, decode_types, 0, NELEM(decodes));
	tcase_add_loop_test(tc, encode_round_trip, 0, NELEM(decodes));
	tcase_add_test(tc, decode_nan_inf);
	tcase_add_test(tc, decode_scale_sentinel);
	tcase_add_test(tc, decode_bits);
	tcase_add_test(tc, decode_string);
	tcase_add_test(tc, encode_refusals);
	suite_add_tcase(s, tc);
	tc = tcase_create("plan");
	tcase_add_test(tc, plan);
	tcase_add_test(tc, plan_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("conf");
	tcase_add_loop_test(tc, address_parse, 0, NELEM(addrs));
	tcase_add_loop_test(tc, conf_checks, 0, NELEM(confs));
	tcase_add_test(tc, conf_profile);
	suite_add_tcase(s, tc);
	tc = tcase_create("probe");
	tcase_add_test(tc, probe_poll_and_write);
	tcase_add_test(tc, probe_silent_and_stop_busy);
	tcase_add_test(tc, probe_refused_backoff);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}

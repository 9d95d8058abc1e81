/*
 * The modbus probe reads sensors over Modbus TCP and Modbus RTU with
 * libmodbus.  libmodbus blocks, so its I/O never runs on the loop: each TCP
 * connection and each serial bus is a "link" with its own worker thread and
 * its own modbus_t.  The devices (unit ids) behind one gateway host:port or
 * on one bus share a link, up to max_connections links per gateway.
 *
 * A poll copies the device's read plan into a job and queues it on the link;
 * the worker runs the reads, stores raw registers and bits in the job and
 * posts it back through the link's eventfd; the loop decodes the points and
 * reports them.  The loop never waits for a worker: a cancelled job comes back
 * later and is dropped, and a link whose worker is busy when its last device
 * stops is detached and frees itself.
 *
 * A Modbus exception costs only the points of that read (the device
 * answered); an I/O error fails the poll and closes a TCP connection (so a
 * late answer can never be taken for the next request), and the worker
 * reconnects with a growing delay.  On a shared bus a dead device costs one
 * response timeout per attempt, and the core's backoff spaces its attempts
 * out, so the other devices keep their interval.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <modbus/modbus.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define MB_MAX_POINTS    512
#define MB_STRING_MAX    250 /* characters: 125 registers */
#define MB_RECONNECT_MIN 500 /* ms before the first reconnect after a failed one */
#define MB_STACK         (256 * 1024)

enum { MB_TCP, MB_RTU };
enum { PAR_NONE, PAR_EVEN, PAR_ODD };

static const char *const mb_tables[] = { "coil", "discrete", "holding", "input", NULL };
static const char *const mb_table_text[] = { "coils", "discrete inputs",
	"holding registers", "input registers" };
static const char *const mb_types[] = { "bit", "int16", "uint16", "int32", "uint32",
	"int64", "uint64", "float32", "float64", "string", NULL };
static const char *const mb_orders[] = { "ABCD", "CDAB", "BADC", "DCBA", NULL };
static const char *const mb_parities[] = { "none", "even", "odd", NULL };
static const char *const mb_bases[] = { "0", "1", NULL };

struct modbus_conf {
	char *address;
	int unit;
	int baud;
	int parity;
	int data_bits;
	int stop_bits;
	int base;
	char *profile;
	int64_t response_timeout_ms;
	int64_t request_delay_ms;
	int64_t reconnect_max_ms;
	int max_registers;
	int max_bits;
	int max_gap;
	int max_connections;
	struct conf_list points; /* struct modbus_point_conf, the profile's first */
};

/* A device profile file: modbus_profile = { ... }; */
struct modbus_profile {
	char *name;
	char *follows;
	int base;
	char *description;
	struct conf_list points;
};

static char
mb_parity_char(int parity)
{
	return parity == PAR_EVEN ? 'E' : parity == PAR_ODD ? 'O' : 'N';
}

/* --- pure parts ------------------------------------------------------------ */

/* Registers (or bits, for "bit" on a bit table) a point of type reads. */
int
modbus_type_count(int type, int length)
{
	switch (type) {
	case MB_BIT:
	case MB_INT16:
	case MB_UINT16:
		return 1;
	case MB_INT32:
	case MB_UINT32:
	case MB_FLOAT32:
		return 2;
	case MB_INT64:
	case MB_UINT64:
	case MB_FLOAT64:
		return 4;
	case MB_STRING:
		return (length + 1) / 2;
	}
	return 1;
}

static int
mb_is_bits(int table)
{
	return table == MB_COIL || table == MB_DISCRETE;
}

static int
mb_plan_cmp(const void *a, const void *b)
{
	const struct modbus_point_conf *const *pa = a, *const *pb = b;

	if ((*pa)->table != (*pb)->table)
		return (*pa)->table - (*pb)->table;
	if ((*pa)->pdu != (*pb)->pdu)
		return (*pa)->pdu - (*pb)->pdu;
	return (*pa)->count - (*pb)->count;
}

/*
 * Plan the reads of n points: sorted by table and address, a point joins the
 * read before it when it is in the same table, starts at most max_gap
 * registers (bits) after its end, and the read stays within max_regs
 * registers or max_bits bits.  reads has room for n; read_of[i] and off_of[i]
 * say where point i is (read, and offset in it).  Returns the number of reads.
 */
size_t
modbus_plan(const struct modbus_point_conf *pts, size_t n, int max_regs, int max_bits,
    int max_gap, struct modbus_read *reads, uint32_t *read_of, uint32_t *off_of)
{
	const struct modbus_point_conf **s;
	size_t i, nr = 0;

	if (n == 0)
		return 0;
	s = xreallocarray(NULL, n, sizeof(*s));
	for (i = 0; i < n; i++)
		s[i] = &pts[i];
	qsort(s, n, sizeof(*s), mb_plan_cmp);
	for (i = 0; i < n; i++) {
		const struct modbus_point_conf *p = s[i];
		struct modbus_read *r = nr > 0 ? &reads[nr - 1] : NULL;
		int max = mb_is_bits(p->table) ? max_bits : max_regs;
		long end = (long)p->pdu + p->count, rend;

		if (r != NULL && r->table == p->table) {
			rend = (long)r->start + r->count;
			if ((long)p->pdu <= rend + max_gap &&
			    (end <= rend || end - r->start <= max)) {
				if (end > rend)
					r->count = (uint16_t)(end - r->start);
				goto placed;
			}
		}
		r = &reads[nr++];
		r->table = (uint8_t)p->table;
		r->start = (uint16_t)p->pdu;
		r->count = (uint16_t)p->count;
	placed:
		read_of[p - pts] = (uint32_t)(nr - 1);
		off_of[p - pts] = (uint32_t)(p->pdu - r->start);
	}
	free(s);
	return nr;
}

/* Big-endian value bytes from the point's registers in its word/byte order. */
static void
mb_bytes(const uint16_t *w, int nw, int order, uint8_t *out)
{
	int wswap = order == MB_CDAB || order == MB_DCBA;
	int bswap = order == MB_BADC || order == MB_DCBA;
	int i;

	for (i = 0; i < nw; i++) {
		uint16_t r = w[wswap ? nw - 1 - i : i];
		out[2 * i] = (uint8_t)(bswap ? r & 0xff : r >> 8);
		out[2 * i + 1] = (uint8_t)(bswap ? r >> 8 : r & 0xff);
	}
}

/* The inverse of mb_bytes. */
static void
mb_words(const uint8_t *in, int nw, int order, uint16_t *w)
{
	int wswap = order == MB_CDAB || order == MB_DCBA;
	int bswap = order == MB_BADC || order == MB_DCBA;
	int i;

	for (i = 0; i < nw; i++) {
		uint16_t r = bswap ? (uint16_t)(in[2 * i + 1] << 8 | in[2 * i])
		                   : (uint16_t)(in[2 * i] << 8 | in[2 * i + 1]);
		w[wswap ? nw - 1 - i : i] = r;
	}
}

static int
mb_type_bits(int type)
{
	return modbus_type_count(type, 0) * 16;
}

static int
mb_is_signed(int type)
{
	return type == MB_INT16 || type == MB_INT32 || type == MB_INT64;
}

/*
 * raw * scale, but a scale of 0.1 or 0.01 divides by 10 or 100: 112 * 0.1 is
 * 11.200000000000001, 112 / 10 is 11.2, which is what the operator expects.
 */
static double
mb_scale(double raw, double scale)
{
	double inv = 1.0 / scale, r = nearbyint(inv);

	if (fabs(r) >= 2 && fabs(inv - r) < 1e-9 * fabs(r))
		return raw / r;
	return raw * scale;
}

/*
 * Decode a point from its registers (w[0..count-1]), or from one bit (w[0] 0
 * or 1) for coils and discrete inputs: the type in its word/byte order, the
 * error sentinels on the raw value, then bit or mask, or scale and offset.
 */
void
modbus_decode(
    const struct modbus_point_conf *p, const uint16_t *w, struct modbus_value *v)
{
	uint8_t b[8];
	uint64_t u = 0;
	double raw;
	int i, nw;

	memset(v, 0, sizeof(*v));
	if (mb_is_bits(p->table)) {
		v->kind = MV_BOOL;
		v->num = w[0] != 0;
		return;
	}
	nw = p->count;
	if (p->type == MB_STRING) {
		uint8_t sb[MB_STRING_MAX + 2];
		size_t n = 0, j;
		mb_bytes(w, nw,
		    p->order == MB_BADC || p->order == MB_DCBA ? MB_BADC : MB_ABCD, sb);
		/* Text ends at the first NUL; trailing blanks are padding. */
		for (j = 0; j < (size_t)p->length && sb[j] != 0; j++)
			v->text[n++] = sb[j] >= 0x20 && sb[j] < 0x7f ? (char)sb[j] : '?';
		while (n > 0 && v->text[n - 1] == ' ')
			n--;
		v->text[n] = '\0';
		v->kind = MV_TEXT;
		return;
	}
	/* A number is 1 to 4 registers (checked at load); say so to the compiler. */
	if (nw < 1 || nw > 4)
		return;
	mb_bytes(w, nw, p->order, b);
	for (i = 0; i < 2 * nw; i++)
		u = u << 8 | b[i];
	switch (p->type) {
	case MB_FLOAT32: {
		uint32_t u32 = (uint32_t)u;
		float f;
		memcpy(&f, &u32, sizeof(f));
		raw = f;
		break;
	}
	case MB_FLOAT64:
		memcpy(&raw, &u, sizeof(raw));
		break;
	case MB_INT16:
		raw = (int16_t)(uint16_t)u;
		break;
	case MB_INT32:
		raw = (int32_t)(uint32_t)u;
		break;
	case MB_INT64:
		raw = (double)(int64_t)u;
		break;
	default:
		raw = (double)u;
		break;
	}
	if (isnan(raw)) {
		v->kind = MV_INVALID;
		snprintf(v->text, sizeof(v->text), "the device sent NaN (not a number)");
		return;
	}
	if (isinf(raw)) {
		v->kind = MV_INVALID;
		snprintf(v->text, sizeof(v->text), "the device sent %sinfinity",
		    raw < 0 ? "-" : "+");
		return;
	}
	if (raw < p->error_below || raw > p->error_above) {
		v->kind = MV_INVALID;
		snprintf(v->text, sizeof(v->text),
		    "the device reports error code %.17g (%s %.17g)", raw,
		    raw < p->error_below ? "below" : "above",
		    raw < p->error_below ? p->error_below : p->error_above);
		return;
	}
	if (p->bit >= 0) {
		v->kind = MV_BOOL;
		v->num = (u >> p->bit) & 1;
		return;
	}
	if (p->mask != 0) {
		uint64_t m = (uint64_t)(uint32_t)p->mask;
		if (p->type == MB_BIT) {
			v->kind = MV_BOOL;
			v->num = (u & m) != 0;
		} else {
			v->kind = MV_NUMBER;
			v->num = (double)((u & m) >> __builtin_ctzll(m));
		}
		return;
	}
	v->kind = MV_NUMBER;
	v->num = mb_scale(raw, p->scale) + p->offset;
}

/*
 * Encode value for a write to point p into w (p->count words; a coil is one
 * word 0 or 1): (value - offset) / scale, rounded for integer types, in the
 * point's word/byte order.  -1 with why when it does not fit.
 */
int
modbus_encode(
    const struct modbus_point_conf *p, double value, uint16_t *w, char *why, size_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t u;
	double raw, lo, hi;
	int i, bits;

	if (!isfinite(value)) {
		snprintf(why, len, "%g is not a finite number", value);
		return -1;
	}
	if (mb_is_bits(p->table)) {
		w[0] = value != 0;
		return 0;
	}
	if (p->type == MB_STRING || p->type == MB_BIT || p->bit >= 0 || p->mask != 0) {
		snprintf(why, len, "a %s cannot be written",
		    p->type == MB_STRING ? "string" : "bit inside a register");
		return -1;
	}
	raw = (value - p->offset) / p->scale;
	switch (p->type) {
	case MB_FLOAT32: {
		float f = (float)raw;
		uint32_t u32;
		if (!isfinite(f)) {
			snprintf(why, len, "%g does not fit a float32", value);
			return -1;
		}
		memcpy(&u32, &f, sizeof(u32));
		u = u32;
		break;
	}
	case MB_FLOAT64:
		memcpy(&u, &raw, sizeof(u));
		break;
	default:
		bits = mb_type_bits(p->type);
		raw = nearbyint(raw);
		if (mb_is_signed(p->type)) {
			lo = -ldexp(1, bits - 1);
			hi = ldexp(1, bits - 1) - 1;
		} else {
			lo = 0;
			hi = ldexp(1, bits) - 1;
		}
		/* Doubles above 2^53 are not exact; refuse what would round over. */
		if (raw < lo || raw > hi || (bits == 64 && fabs(raw) >= 9.2e18)) {
			snprintf(why, len, "%g is outside the range of %s", value,
			    mb_types[p->type]);
			return -1;
		}
		u = mb_is_signed(p->type) ? (uint64_t)(int64_t)raw : (uint64_t)raw;
		break;
	}
	if (p->count < 1 || p->count > 4) { /* checked at load */
		snprintf(why, len, "a number of %d registers", p->count);
		return -1;
	}
	for (i = 2 * p->count - 1; i >= 0; i--) {
		b[i] = (uint8_t)(u & 0xff);
		u >>= 8;
	}
	mb_words(b, p->count, p->order, w);
	return 0;
}

/*
 * Split "tcp:HOST[:PORT]" (HOST numeric IPv4, or [IPv6]) or "rtu:/dev/PATH".
 * Returns MB_TCP with host and port (default 502), MB_RTU with the path in
 * host, or -1.
 */
int
modbus_address_parse(const char *a, char *host, size_t hlen, char *port, size_t plen)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *h, *e, *ps = "502";
	char *end;
	size_t n;
	long pn;

	if (strncmp(a, "rtu:", 4) == 0) {
		if (a[4] != '/' || strlen(a + 4) >= hlen)
			return -1;
		snprintf(host, hlen, "%s", a + 4);
		if (plen > 0)
			port[0] = '\0';
		return MB_RTU;
	}
	if (strncmp(a, "tcp:", 4) != 0)
		return -1;
	h = a + 4;
	if (*h == '[') {
		if ((e = strchr(h, ']')) == NULL)
			return -1;
		n = (size_t)(e - h - 1);
		h++;
		e++;
		if (*e == ':')
			ps = e + 1;
		else if (*e != '\0')
			return -1;
	} else {
		e = strchr(h, ':');
		n = e != NULL ? (size_t)(e - h) : strlen(h);
		if (e != NULL)
			ps = e + 1;
	}
	if (n == 0 || n >= hlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (inet_pton(h[-1] == '[' ? AF_INET6 : AF_INET, host, buf) != 1)
		return -1;
	errno = 0;
	pn = strtol(ps, &end, 10);
	if (!isdigit((unsigned char)*ps) || *end != '\0' || errno != 0 || pn < 1 ||
	    pn > 65535)
		return -1;
	snprintf(port, plen, "%ld", pn);
	return MB_TCP;
}

/* --- configuration ------------------------------------------------------- */

static int
mb_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return 0;
	return isalpha((unsigned char)name[0]);
}

/* Checks of one point that need no device: types against tables, bit, mask. */
static void
mb_point_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct modbus_point_conf *pc = obj;
	int bits = mb_type_bits(pc->type);

	if (pc->name != NULL && !mb_name_valid(pc->name))
		conf_key_error(ctx, g, "name",
		    "\"%s\": letters, digits and _, starting with a letter", pc->name);
	if (mb_is_bits(pc->table)) {
		if (pc->type != MB_BIT)
			conf_key_error(ctx, g, "type",
			    "%s hold single bits: the type is \"bit\", not \"%s\"",
			    mb_table_text[pc->table], mb_types[pc->type]);
		if (pc->bit >= 0 || pc->mask != 0)
			conf_key_error(ctx, g, pc->bit >= 0 ? "bit" : "mask",
			    "only for points in registers (%s hold single bits)",
			    mb_table_text[pc->table]);
	} else if (pc->type == MB_BIT && pc->bit < 0 && pc->mask == 0)
		conf_key_error(ctx, g, "type",
		    "\"bit\" in a register needs bit = N (0..15) or mask = M");
	if (pc->bit >= 0 && pc->mask != 0)
		conf_key_error(ctx, g, "mask", "give bit or mask, not both");
	if ((pc->type == MB_FLOAT32 || pc->type == MB_FLOAT64 || pc->type == MB_STRING) &&
	    (pc->bit >= 0 || pc->mask != 0))
		conf_key_error(ctx, g, pc->bit >= 0 ? "bit" : "mask",
		    "not for type %s (bits are taken from integer types)",
		    mb_types[pc->type]);
	else if (pc->bit >= bits)
		conf_key_error(ctx, g, "bit", "%d is beyond the %d bits of %s", pc->bit,
		    bits, mb_types[pc->type]);
	else if (pc->mask != 0 && bits < 32 && (unsigned)pc->mask >> bits != 0)
		conf_key_error(ctx, g, "mask", "0x%x is wider than the %d bits of %s",
		    (unsigned)pc->mask, bits, mb_types[pc->type]);
	if (pc->type == MB_STRING && pc->length == 0)
		conf_key_error(
		    ctx, g, "length", "a string needs its length in characters");
	if (pc->type != MB_STRING && pc->length != 0)
		conf_key_error(ctx, g, "length", "only for type string");
	if (pc->scale == 0)
		conf_key_error(ctx, g, "scale", "must not be 0");
	if (pc->writable && (pc->table == MB_DISCRETE || pc->table == MB_INPUT))
		conf_key_error(
		    ctx, g, "writable", "%s are read-only", mb_table_text[pc->table]);
	else if (pc->writable &&
	         (pc->type == MB_STRING || pc->bit >= 0 || pc->mask != 0 ||
	             (pc->type == MB_BIT && !mb_is_bits(pc->table))))
		conf_key_error(ctx, g, "writable",
		    "strings and bits inside registers cannot be written (a write "
		    "would change the whole register)");
	pc->count = modbus_type_count(pc->type, pc->length);
}

static int
mb_point_equal(const void *a, const void *b)
{
	const struct modbus_point_conf *pa = a, *pb = b;

	return pa->pdu == pb->pdu && pa->count == pb->count;
}

static const struct conf_key mb_point_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct modbus_point_conf, name),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "Metric name (letters, digits, _).  In a device, a point with the "
	            "name of one of its profile's points replaces that point." },
	{ .name = "table",
	    .type = CT_ENUM,
	    .off = offsetof(struct modbus_point_conf, table),
	    .choices = mb_tables,
	    .flags = CK_REQUIRED,
	    .help = "Register table: coil (read/write bits, function 1), discrete "
	            "(read-only bits, 2), holding (read/write registers, 3) or input "
	            "(read-only registers, 4).  A manual's 0xxxx/1xxxx/3xxxx/4xxxx "
	            "numbers name coil, discrete, input and holding." },
	{ .name = "address",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_point_conf, address),
	    .min = 0,
	    .max = 65536,
	    .flags = CK_REQUIRED,
	    .help = "Register (or bit) number, counted from the device's base (0 or "
	            "1; a profile's points from the profile's).  A manual's 30001 "
	            "is input register 1 with base 1, or 0 with base 0." },
	{ .name = "type",
	    .type = CT_ENUM,
	    .off = offsetof(struct modbus_point_conf, type),
	    .def = "uint16",
	    .choices = mb_types,
	    .help = "How the registers are read: 16, 32 or 64-bit integers (1, 2, 4 "
	            "registers), IEEE floats (2 or 4), a string (length characters, 2 "
	            "per register) or bit (coils and discrete inputs; in a register "
	            "with bit or mask, a true/false metric)." },
	{ .name = "order",
	    .type = CT_ENUM,
	    .off = offsetof(struct modbus_point_conf, order),
	    .def = "ABCD",
	    .choices = mb_orders,
	    .help = "Word and byte order, A the most significant byte: ABCD big-endian "
	            "(the Modbus standard), CDAB word-swapped (low word first), BADC "
	            "bytes swapped in each word, DCBA little-endian.  For 16-bit "
	            "types only the byte swap matters; for strings BADC and DCBA swap "
	            "the two characters of each register." },
	{ .name = "scale",
	    .type = CT_FLOAT,
	    .off = offsetof(struct modbus_point_conf, scale),
	    .min = -1e12,
	    .max = 1e12,
	    .def = "1",
	    .help = "Factor: the metric is raw * scale + offset (0.1 for tenths)." },
	{ .name = "offset",
	    .type = CT_FLOAT,
	    .off = offsetof(struct modbus_point_conf, offset),
	    .min = -1e12,
	    .max = 1e12,
	    .def = "0",
	    .help = "Added after scale." },
	{ .name = "bit",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_point_conf, bit),
	    .min = -1,
	    .max = 63,
	    .def = "-1",
	    .help = "Bit number (0 the least significant) of an integer register "
	            "value: the metric is true when it is set (a leak cable's status "
	            "word: 0 leak, 1 cable break, 2 contamination).  -1: none." },
	{ .name = "mask",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_point_conf, mask),
	    .min = 0,
	    .max = 2147483647,
	    .def = "0",
	    .help = "Bits of an integer register value: with type bit, true when any "
	            "of them is set; with an integer type, the number they hold "
	            "(shifted down).  0: none." },
	{ .name = "length",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_point_conf, length),
	    .min = 0,
	    .max = MB_STRING_MAX,
	    .def = "0",
	    .help = "Characters of a string (2 per register); it ends at the first "
	            "NUL, trailing blanks are dropped." },
	{ .name = "error_below",
	    .type = CT_FLOAT,
	    .off = offsetof(struct modbus_point_conf, error_below),
	    .def = "-inf",
	    .help = "A raw value (before scale and offset) below this is an error code "
	            "of the device, not a reading: the metric becomes an error with "
	            "the code (Comet: -32000)." },
	{ .name = "error_above",
	    .type = CT_FLOAT,
	    .off = offsetof(struct modbus_point_conf, error_above),
	    .def = "inf",
	    .help = "A raw value above this is an error code (e.g. 32767 or 65535 for "
	            "\"no sensor\")." },
	{ .name = "unit",
	    .type = CT_STRING,
	    .off = offsetof(struct modbus_point_conf, unit),
	    .max = 16,
	    .help = "Unit shown with the value (degC, %, Pa, gal ...)." },
	{ .name = "writable",
	    .type = CT_BOOL,
	    .off = offsetof(struct modbus_point_conf, writable),
	    .def = "false",
	    .help = "Whether actions (a playbook driving a beacon, a siren or a "
	            "load-shedding relay) may write this coil or holding register "
	            "point; a write is confirmed by reading it back." },
	{ 0 },
};

static const struct conf_table mb_point_table = {
	.name = "point",
	.help = "A value read on every poll.  Points of one table that are next to "
	        "each other are read together (up to max_registers or max_bits).",
	.size = sizeof(struct modbus_point_conf),
	.keys = mb_point_keys,
	.check = mb_point_check,
	.equal = mb_point_equal,
};

static const struct conf_key mb_profile_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct modbus_profile, name),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "Profile name." },
	{ .name = "follows",
	    .type = CT_STRING,
	    .off = offsetof(struct modbus_profile, follows),
	    .min = 1,
	    .max = 400,
	    .flags = CK_REQUIRED,
	    .help = "The published register map it follows." },
	{ .name = "description",
	    .type = CT_STRING,
	    .off = offsetof(struct modbus_profile, description),
	    .max = 1000,
	    .help = "Notes." },
	{ .name = "base",
	    .type = CT_ENUM,
	    .off = offsetof(struct modbus_profile, base),
	    .def = "0",
	    .choices = mb_bases,
	    .help = "Base of the profile's addresses (the map's own numbering)." },
	{ .name = "points",
	    .type = CT_LIST,
	    .off = offsetof(struct modbus_profile, points),
	    .max = MB_MAX_POINTS,
	    .sub = &mb_point_table,
	    .help = "The points." },
	{ 0 },
};

static const struct conf_table mb_profile_table = {
	.name = "modbus_profile",
	.help = "A Modbus device profile.",
	.size = sizeof(struct modbus_profile),
	.keys = mb_profile_keys,
};

/* Protocol address and range of a point given in base; -1 if outside. */
static int
mb_point_place(struct conf_ctx *ctx, config_setting_t *g, struct modbus_point_conf *pc,
    int base, const char *where)
{
	if (pc->name == NULL)
		return -1;
	pc->pdu = pc->address - base;
	if (pc->pdu < 0 || pc->pdu + pc->count > 65536) {
		conf_key_error(ctx, g, "points",
		    "%spoint \"%s\": address %d with base %d is outside the "
		    "table (protocol addresses 0..65535%s)",
		    where, pc->name, pc->address, base,
		    pc->count > 1 ? ", for every register it reads" : "");
		return -1;
	}
	return 0;
}

/*
 * Read a profile file and put its points before the device's own, a device
 * point replacing the profile point of the same name.
 */
static void
mb_load_profile(struct conf_ctx *ctx, config_setting_t *g, struct modbus_conf *mc)
{
	struct modbus_profile prof;
	config_setting_t *s;
	config_t cfg;
	char path[PATH_MAX], where[128];
	struct modbus_point_conf *merged, *own = mc->points.items;
	size_t i, j, n = 0;

	memset(&prof, 0, sizeof(prof));
	config_init(&cfg);
	if (realpath(mc->profile, path) == NULL) {
		conf_key_error(ctx, g, "profile", "%s: %s", mc->profile, strerror(errno));
		goto out;
	}
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		conf_key_error(ctx, g, "profile", "%s:%d: %s", path,
		    config_error_line(&cfg), config_error_text(&cfg));
		goto out;
	}
	if ((s = config_lookup(&cfg, "modbus_profile")) == NULL ||
	    !config_setting_is_group(s)) {
		conf_key_error(ctx, g, "profile",
		    "%s: not a profile (no modbus_profile = { ... } group)", path);
		goto out;
	}
	conf_walk_section(ctx, &mb_profile_table, s, &prof);
	snprintf(where, sizeof(where),
	    "profile \"%s\": ", prof.name != NULL ? prof.name : "?");
	merged = xcalloc(prof.points.n + mc->points.n, sizeof(*merged));
	for (i = 0; i < prof.points.n; i++) {
		struct modbus_point_conf *pp =
		    (struct modbus_point_conf *)prof.points.items + i;
		for (j = 0; j < mc->points.n; j++)
			if (pp->name != NULL && own[j].name != NULL &&
			    strcmp(pp->name, own[j].name) == 0)
				break;
		if (j < mc->points.n) {
			/* Replaced by the device's own point of that name. */
			conf_free_object(&mb_point_table, pp);
			continue;
		}
		mb_point_place(ctx, g, pp, prof.base, where);
		merged[n++] = *pp;
	}
	for (j = 0; j < mc->points.n; j++)
		merged[n++] = own[j];
	free(mc->points.items);
	mc->points.items = merged;
	mc->points.n = n;
	free(prof.points.items);
	prof.points.items = NULL;
	prof.points.n = 0;
out:
	conf_free_object(&mb_profile_table, &prof);
	config_destroy(&cfg);
}

static void
mb_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct modbus_conf *mc = obj;
	struct modbus_point_conf *pts;
	char host[256], port[16];
	size_t i, j, nown = mc->points.n;
	int kind = -1;

	if (mc->address != NULL && (kind = modbus_address_parse(mc->address, host,
	                                sizeof(host), port, sizeof(port))) == -1)
		conf_key_error(ctx, g, "address",
		    "\"%s\": expected \"tcp:192.0.2.20:502\", \"tcp:[2001:db8::20]:502\" "
		    "(numeric; port defaults to 502) or \"rtu:/dev/ttyUSB0\"",
		    mc->address);
	if (kind == MB_TCP) {
		static const char *const serial[] = { "baud", "parity", "data_bits",
			"stop_bits", NULL };
		for (i = 0; serial[i] != NULL; i++)
			if (config_setting_get_member(g, serial[i]) != NULL)
				conf_key_error(
				    ctx, g, serial[i], "only for a serial bus (rtu:...)");
	}
	if (kind == MB_RTU && mc->max_connections != 1 &&
	    config_setting_get_member(g, "max_connections") != NULL)
		conf_key_error(
		    ctx, g, "max_connections", "a serial bus is one connection");
	if (kind == MB_RTU && (mc->unit < 1 || mc->unit > 247))
		conf_key_error(ctx, g, "unit",
		    "%d: RTU devices have unit ids 1..247 (0 is broadcast)", mc->unit);
	/* Own points first: their base is the device's. */
	for (i = 0; i < nown; i++)
		mb_point_place(ctx, g, (struct modbus_point_conf *)mc->points.items + i,
		    mc->base, "");
	if (mc->profile != NULL)
		mb_load_profile(ctx, g, mc);
	pts = mc->points.items;
	if (mc->points.n == 0)
		conf_error(ctx, g, "no points: give points or a profile");
	for (i = 0; i < mc->points.n; i++) {
		int max = mb_is_bits(pts[i].table) ? mc->max_bits : mc->max_registers;
		if (pts[i].name == NULL)
			continue;
		if (pts[i].count > max)
			conf_key_error(ctx, g, "points",
			    "point \"%s\" reads %d %s, more than max_%s %d", pts[i].name,
			    pts[i].count, mb_is_bits(pts[i].table) ? "bits" : "registers",
			    mb_is_bits(pts[i].table) ? "bits" : "registers", max);
		for (j = 0; j < i; j++)
			if (pts[j].name != NULL && strcmp(pts[i].name, pts[j].name) == 0)
				conf_key_error(ctx, g, "points",
				    "two points are named \"%s\"", pts[i].name);
	}
}

static const struct conf_key mb_conf_keys[] = {
	{ .name = "address",
	    .type = CT_STRING,
	    .off = offsetof(struct modbus_conf, address),
	    .max = 200,
	    .flags = CK_REQUIRED,
	    .help = "Modbus TCP \"tcp:192.0.2.20:502\" (or \"tcp:[2001:db8::20]:502\"; "
	            "numeric, port defaults to 502) or Modbus RTU \"rtu:/dev/ttyUSB0\".  "
	            "Devices at one address share its connection (a gateway's unit "
	            "ids, a serial bus): one worker thread each, requests in turn." },
	{ .name = "unit",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, unit),
	    .min = 0,
	    .max = 255,
	    .def = "1",
	    .help = "Unit (slave) id: 1..247 on a serial bus; over TCP the device's "
	            "or, behind a gateway, the serial device's id (many TCP-only "
	            "devices take any, or 255)." },
	{ .name = "baud",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, baud),
	    .min = 300,
	    .max = 921600,
	    .def = "9600",
	    .help = "RTU: bits per second." },
	{ .name = "parity",
	    .type = CT_ENUM,
	    .off = offsetof(struct modbus_conf, parity),
	    .def = "none",
	    .choices = mb_parities,
	    .help = "RTU: parity." },
	{ .name = "data_bits",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, data_bits),
	    .min = 7,
	    .max = 8,
	    .def = "8",
	    .help = "RTU: data bits." },
	{ .name = "stop_bits",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, stop_bits),
	    .min = 1,
	    .max = 2,
	    .def = "1",
	    .help = "RTU: stop bits.  Devices on one bus must agree on baud, parity, "
	            "data and stop bits; a device that differs is refused." },
	{ .name = "base",
	    .type = CT_ENUM,
	    .off = offsetof(struct modbus_conf, base),
	    .def = "0",
	    .choices = mb_bases,
	    .help = "How the points' addresses count: 0, the protocol address sent on "
	            "the wire; 1, the manual's register numbers from 1 (register 1 "
	            "is sent as 0).  Manuals disagree; when values look shifted by "
	            "one register, this is why." },
	{ .name = "profile",
	    .type = CT_PATH,
	    .off = offsetof(struct modbus_conf, profile),
	    .help = "A device profile file (etc/profiles/modbus/*.conf) whose points "
	            "are read besides the device's own; a device point of the same "
	            "name replaces the profile's (another scale, say).  The file "
	            "holds modbus_profile = { name; follows (the published register "
	            "map); base; points = ( ... ); }.  Relative to this file's "
	            "folder." },
	{ .name = "response_timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct modbus_conf, response_timeout_ms),
	    .min = 0.01,
	    .max = 60,
	    .def = "500ms",
	    .help = "How long one request (and a TCP connect) waits for the answer.  "
	            "The device's timeout bounds the whole poll." },
	{ .name = "request_delay",
	    .type = CT_DURATION,
	    .off = offsetof(struct modbus_conf, request_delay_ms),
	    .min = 0,
	    .max = 10,
	    .def = "0",
	    .help = "Pause between the end of one request on the connection and the "
	            "next, for devices that need it." },
	{ .name = "reconnect_max",
	    .type = CT_DURATION,
	    .off = offsetof(struct modbus_conf, reconnect_max_ms),
	    .min = 0.5,
	    .max = 3600,
	    .def = "30s",
	    .help = "After an I/O error the connection is closed and opened again on "
	            "the next poll; after a failed connect the delay doubles from "
	            "0.5 s up to this, and polls meanwhile fail at once with the "
	            "reason.  A Modbus exception keeps the connection." },
	{ .name = "max_registers",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, max_registers),
	    .min = 1,
	    .max = 125,
	    .def = "125",
	    .help = "Most registers asked in one read (the protocol allows 125; some "
	            "devices fewer)." },
	{ .name = "max_bits",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, max_bits),
	    .min = 1,
	    .max = 2000,
	    .def = "2000",
	    .help = "Most coils or discrete inputs asked in one read (protocol: 2000)." },
	{ .name = "max_gap",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, max_gap),
	    .min = 0,
	    .max = 124,
	    .def = "0",
	    .help = "Unused registers (bits) a read may span to join two points; 0 "
	            "reads only contiguous ones (gaps may be illegal addresses)." },
	{ .name = "max_connections",
	    .type = CT_INT,
	    .off = offsetof(struct modbus_conf, max_connections),
	    .min = 1,
	    .max = 16,
	    .def = "1",
	    .help = "TCP connections sonaed opens to this address at most, shared by "
	            "its devices (some devices allow only two clients)." },
	{ .name = "points",
	    .type = CT_LIST,
	    .off = offsetof(struct modbus_conf, points),
	    .max = MB_MAX_POINTS,
	    .sub = &mb_point_table,
	    .help = "Values read on every poll, besides the profile's." },
	{ 0 },
};

static const struct conf_table mb_table = {
	.name = "modbus",
	.help = "Modbus probe: reads a device over Modbus TCP or RTU with libmodbus, "
	        "on a worker thread per connection or serial bus.  A Modbus "
	        "exception makes the points of that read errors with its reason "
	        "while the device stays in contact; no answer, a broken connection "
	        "or a gateway exception fails the poll.",
	.size = sizeof(struct modbus_conf),
	.keys = mb_conf_keys,
	.check = mb_check,
};

/* The points a modbus device reads: its profile's, then its own. */
size_t
modbus_points(const struct device_conf *dc, const struct modbus_point_conf **pts)
{
	const struct modbus_conf *mc = dc->probe_conf;

	if (dc->probe != &probe_modbus) {
		*pts = NULL;
		return 0;
	}
	*pts = mc->points.items;
	return mc->points.n;
}

/* --- links and their workers ------------------------------------------------ */

enum { JOB_POLL, JOB_WRITE };
enum { JS_QUEUED, JS_RUNNING, JS_DONE };

struct mb_job {
	TAILQ_ENTRY(mb_job) entry; /* link queue or done list */
	int state;                 /* under the link's lock */
	int cancelled;             /* atomic: the worker may stop early */
	struct mb_dev *md;         /* loop thread only; NULL once cancelled */
	int kind;
	int unit;
	int64_t response_timeout_ms;
	int64_t request_delay_ms;
	size_t nreads;
	struct modbus_read *reads; /* JOB_WRITE: reads[0] is what is written */
	uint16_t *data;            /* every read's words (one per bit) in turn */
	int *rerr;                 /* per read: 0, or a Modbus exception errno */
	int err;                   /* the I/O error that ended the job, 0 */
	int failed_read;           /* which read it was, -1: connecting */
	int failed_pass;           /* JOB_WRITE: 0 writing, 1 reading back */
	int64_t retry_in_ms;       /* err during a reconnect delay: how long */
	/* JOB_WRITE */
	uint16_t *wdata;
	LIST_ENTRY(mb_job) wentry; /* md->writes */
	void (*done)(void *, int, const char *);
	void *arg;
	char point[65];
};
TAILQ_HEAD(mb_jobs, mb_job);

struct mb_link {
	LIST_ENTRY(mb_link) entry; /* mb_links, loop thread */
	char key[300];             /* "tcp:HOST:PORT" or "rtu:PATH" */
	int kind;
	char host[256], port[16];
	int baud, parity, data_bits, stop_bits;
	int64_t reconnect_max_ms;
	int ndevs; /* loop thread */
	int efd;   /* eventfd: jobs are done */
	struct event *ev;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu. */
	struct mb_jobs queue, done;
	int stopping, busy, detached;
	/* Worker only. */
	modbus_t *ctx;
	int connected;
	int64_t next_connect_ms, delay_ms;
	int last_err;
	int64_t last_end_ms;
};

struct mb_dev {
	struct device *dev;
	struct mb_link *link;
	struct poll *poll;
	struct mb_job *job;
	LIST_HEAD(, mb_job) writes;
	size_t nreads;
	struct modbus_read *reads;
	uint32_t *read_of, *off_of; /* per point */
	size_t *read_at;            /* per read: first word in job->data */
	size_t nwords;
};

static LIST_HEAD(, mb_link) mb_links = LIST_HEAD_INITIALIZER(mb_links);

static void
mb_job_free(struct mb_job *j)
{
	if (j == NULL)
		return;
	free(j->reads);
	free(j->data);
	free(j->rerr);
	free(j->wdata);
	free(j);
}

static void
mb_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
mb_disconnect(struct mb_link *l)
{
	if (l->ctx != NULL && l->connected)
		modbus_close(l->ctx);
	l->connected = 0;
}

/* Worker: open the connection unless it is open or waiting to reconnect. */
static int
mb_connect(struct mb_link *l, struct mb_job *j)
{
	int64_t now = time_mono_ms();

	if (l->connected)
		return 0;
	if (now < l->next_connect_ms) {
		j->err = l->last_err;
		j->retry_in_ms = l->next_connect_ms - now;
		return -1;
	}
	if (l->ctx == NULL) {
		if (l->kind == MB_TCP)
			l->ctx = modbus_new_tcp_pi(l->host, l->port);
		else
			l->ctx = modbus_new_rtu(l->host, l->baud,
			    mb_parity_char(l->parity), l->data_bits, l->stop_bits);
		if (l->ctx == NULL) {
			j->err = l->last_err = errno;
			return -1;
		}
	}
	modbus_set_response_timeout(l->ctx, (uint32_t)(j->response_timeout_ms / 1000),
	    (uint32_t)(j->response_timeout_ms % 1000) * 1000);
	if (modbus_connect(l->ctx) == -1) {
		j->err = l->last_err = errno;
		l->delay_ms = l->delay_ms == 0 ? MB_RECONNECT_MIN : l->delay_ms * 2;
		if (l->delay_ms > l->reconnect_max_ms)
			l->delay_ms = l->reconnect_max_ms;
		l->next_connect_ms = time_mono_ms() + l->delay_ms;
		return -1;
	}
	l->connected = 1;
	l->delay_ms = 0;
	l->next_connect_ms = 0;
	return 0;
}

static int
mb_is_exception(int e)
{
	return e >= EMBXILFUN && e <= EMBXGTAR && e != EMBXGPATH && e != EMBXGTAR;
}

/* Worker: one request; 0, or -1 with errno. */
static int
mb_request(modbus_t *ctx, int fn, int addr, int n, uint16_t *regs, uint8_t *bits,
    const uint16_t *wregs)
{
	int rc = -1, i;

	switch (fn) {
	case MB_COIL:
		rc = modbus_read_bits(ctx, addr, n, bits);
		break;
	case MB_DISCRETE:
		rc = modbus_read_input_bits(ctx, addr, n, bits);
		break;
	case MB_HOLDING:
		rc = modbus_read_registers(ctx, addr, n, regs);
		break;
	case MB_INPUT:
		rc = modbus_read_input_registers(ctx, addr, n, regs);
		break;
	case -1 - MB_COIL: /* write */
		rc = modbus_write_bit(ctx, addr, wregs[0] != 0) == 1 ? n : -1;
		break;
	case -1 - MB_HOLDING:
		rc = n == 1 ? modbus_write_register(ctx, addr, wregs[0])
		            : modbus_write_registers(ctx, addr, n, wregs);
		rc = rc == 1 || rc == n ? n : -1;
		break;
	}
	if (rc == -1)
		return -1;
	if (rc != n) {
		errno = EMBBADDATA;
		return -1;
	}
	if (fn == MB_COIL || fn == MB_DISCRETE)
		for (i = 0; i < n; i++)
			regs[i] = bits[i] != 0;
	return 0;
}

/* Worker: run a job's requests in turn, stopping at an I/O error. */
static void
mb_run(struct mb_link *l, struct mb_job *j)
{
	uint8_t bits[MODBUS_MAX_READ_BITS];
	size_t i, at = 0;
	int e, pass, npass = j->kind == JOB_WRITE ? 2 : 1;

	j->failed_read = -1;
	if (mb_connect(l, j) == -1)
		return;
	modbus_set_slave(l->ctx, j->unit);
	modbus_set_response_timeout(l->ctx, (uint32_t)(j->response_timeout_ms / 1000),
	    (uint32_t)(j->response_timeout_ms % 1000) * 1000);
	for (pass = 0; pass < npass; pass++) {
		at = 0;
		for (i = 0; i < j->nreads; i++) {
			const struct modbus_read *r = &j->reads[i];
			int fn = r->table;
			if (__atomic_load_n(&j->cancelled, __ATOMIC_RELAXED))
				return;
			/* A write job writes (pass 0), then reads back (pass 1). */
			if (j->kind == JOB_WRITE && pass == 0)
				fn = -1 - r->table;
			if (j->request_delay_ms > 0 && l->last_end_ms > 0) {
				int64_t wait =
				    l->last_end_ms + j->request_delay_ms - time_mono_ms();
				if (wait > 0)
					mb_sleep_ms(wait);
			}
			e = mb_request(
			    l->ctx, fn, r->start, r->count, j->data + at, bits, j->wdata);
			e = e == -1 ? errno : 0;
			l->last_end_ms = time_mono_ms();
			at += r->count;
			if (e == 0)
				continue;
			if (mb_is_exception(e)) {
				j->rerr[i] = e;
				if (j->kind == JOB_WRITE)
					return;
				continue;
			}
			/*
			 * No answer, a broken connection, garbage, or a gateway that
			 * cannot reach the device.  A gateway exception is an answer:
			 * keep the link; otherwise drop it (TCP) or flush the line
			 * (RTU) so a late answer is never taken for the next request.
			 */
			j->err = e;
			j->failed_read = (int)i;
			j->failed_pass = pass;
			if (e == EMBXGPATH || e == EMBXGTAR)
				return;
			if (l->kind == MB_TCP || e == EIO || e == EBADF || e == ENXIO)
				mb_disconnect(l);
			else
				modbus_flush(l->ctx);
			return;
		}
	}
}

static void *
mb_worker(void *arg)
{
	struct mb_link *l = arg;
	struct mb_job *j;
	uint64_t one = 1;
	int detached;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->stopping && TAILQ_EMPTY(&l->queue))
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->stopping)
			break;
		j = TAILQ_FIRST(&l->queue);
		TAILQ_REMOVE(&l->queue, j, entry);
		j->state = JS_RUNNING;
		l->busy = 1;
		pthread_mutex_unlock(&l->mu);
		mb_run(l, j);
		pthread_mutex_lock(&l->mu);
		l->busy = 0;
		if (l->stopping) {
			mb_job_free(j);
			break;
		}
		j->state = JS_DONE;
		TAILQ_INSERT_TAIL(&l->done, j, entry);
		/* Wake the loop without the lock held: it takes the lock first. */
		pthread_mutex_unlock(&l->mu);
		if (write(l->efd, &one, sizeof(one)) == -1) {
			/* EAGAIN only: the counter is far from full, the loop wakes. */
		}
		pthread_mutex_lock(&l->mu);
	}
	while ((j = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, j, entry);
		mb_job_free(j);
	}
	detached = l->detached;
	pthread_mutex_unlock(&l->mu);
	mb_disconnect(l);
	if (l->ctx != NULL)
		modbus_free(l->ctx);
	l->ctx = NULL;
	if (detached) {
		/* The loop let go of a busy link: the worker frees it. */
		close(l->efd);
		pthread_mutex_destroy(&l->mu);
		pthread_cond_destroy(&l->cv);
		free(l);
	}
	return NULL;
}

static void mb_report(struct mb_dev *, struct mb_job *);
static void mb_write_report(struct mb_job *);

/* Loop: jobs came back from the worker. */
static void
mb_on_done(evutil_socket_t fd, short ev, void *arg)
{
	struct mb_link *l = arg;
	struct mb_jobs done;
	struct mb_job *j;
	uint64_t n;

	(void)ev;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("%s: read", __func__);
	TAILQ_INIT(&done);
	pthread_mutex_lock(&l->mu);
	TAILQ_CONCAT(&done, &l->done, entry);
	pthread_mutex_unlock(&l->mu);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		if (j->md != NULL && j->kind == JOB_POLL) {
			j->md->job = NULL;
			mb_report(j->md, j);
		} else if (j->md != NULL) {
			LIST_REMOVE(j, wentry);
			mb_write_report(j);
		}
		mb_job_free(j);
	}
}

/* The link for a device: one of its gateway's, or a new one. */
static struct mb_link *
mb_link_get(struct device *dev, const struct modbus_conf *mc, char *why, size_t len)
{
	struct mb_link *l, *best = NULL;
	pthread_attr_t attr;
	sigset_t all, old;
	char host[256], port[16], key[300];
	int kind, n = 0, rc;

	kind = modbus_address_parse(mc->address, host, sizeof(host), port, sizeof(port));
	if (kind == MB_TCP)
		snprintf(key, sizeof(key), "tcp:%s:%s", host, port);
	else
		snprintf(key, sizeof(key), "rtu:%s", host);
	LIST_FOREACH(l, &mb_links, entry)
	{
		if (strcmp(l->key, key) != 0)
			continue;
		if (kind == MB_RTU &&
		    (l->baud != mc->baud || l->parity != mc->parity ||
		        l->data_bits != mc->data_bits || l->stop_bits != mc->stop_bits)) {
			snprintf(why, len,
			    "bus %s already runs at %d %c%d%d, this device asks %d "
			    "%c%d%d",
			    host, l->baud, mb_parity_char(l->parity), l->data_bits,
			    l->stop_bits, mc->baud, mb_parity_char(mc->parity),
			    mc->data_bits, mc->stop_bits);
			return NULL;
		}
		n++;
		if (best == NULL || l->ndevs < best->ndevs)
			best = l;
	}
	if (best != NULL && n >= mc->max_connections) {
		best->ndevs++;
		return best;
	}
	l = xcalloc(1, sizeof(*l));
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->kind = kind;
	snprintf(l->host, sizeof(l->host), "%s", host);
	snprintf(l->port, sizeof(l->port), "%s", port);
	l->baud = mc->baud;
	l->parity = mc->parity;
	l->data_bits = mc->data_bits;
	l->stop_bits = mc->stop_bits;
	l->reconnect_max_ms = mc->reconnect_max_ms;
	l->ndevs = 1;
	TAILQ_INIT(&l->queue);
	TAILQ_INIT(&l->done);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if ((l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(why, len, "eventfd: %s", strerror(errno));
		goto bad;
	}
	l->ev = event_new(device_base(dev), l->efd, EV_READ | EV_PERSIST, mb_on_done, l);
	if (l->ev == NULL)
		fatalx("%s: event_new", __func__);
	event_add(l->ev, NULL);
	/* Signals stay with the main thread: the worker starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, MB_STACK);
	rc = pthread_create(&l->thread, &attr, mb_worker, l);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(why, len, "cannot start a worker thread: %s", strerror(rc));
		event_free(l->ev);
		close(l->efd);
		goto bad;
	}
	LIST_INSERT_HEAD(&mb_links, l, entry);
	return l;
bad:
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
	return NULL;
}

/*
 * A device lets go of its link; the last one stops the worker.  An idle
 * worker is joined at once; a busy one (inside a request, bounded by the
 * response timeout) is detached and frees the link itself, so the loop
 * never waits for a device.
 */
static void
mb_link_put(struct mb_link *l)
{
	struct mb_jobs done;
	struct mb_job *j;
	pthread_t t = l->thread;
	int busy;

	if (--l->ndevs > 0)
		return;
	LIST_REMOVE(l, entry);
	event_free(l->ev);
	TAILQ_INIT(&done);
	pthread_mutex_lock(&l->mu);
	l->stopping = 1;
	TAILQ_CONCAT(&done, &l->done, entry);
	busy = l->busy;
	l->detached = busy;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		mb_job_free(j);
	}
	if (busy) {
		pthread_detach(t);
		return;
	}
	pthread_join(t, NULL);
	close(l->efd);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

/* Queue a job on the device's link. */
static void
mb_submit(struct mb_dev *md, struct mb_job *j)
{
	struct mb_link *l = md->link;

	pthread_mutex_lock(&l->mu);
	j->state = JS_QUEUED;
	TAILQ_INSERT_TAIL(&l->queue, j, entry);
	pthread_mutex_unlock(&l->mu);
	/* Signalled after unlocking so the worker does not wake into the lock. */
	pthread_cond_signal(&l->cv);
}

/* Take a job back: freed now if still queued, else dropped when it returns. */
static void
mb_withdraw(struct mb_dev *md, struct mb_job *j)
{
	struct mb_link *l = md->link;
	int queued;

	pthread_mutex_lock(&l->mu);
	queued = j->state == JS_QUEUED;
	if (queued)
		TAILQ_REMOVE(&l->queue, j, entry);
	else if (j->state == JS_RUNNING)
		__atomic_store_n(&j->cancelled, 1, __ATOMIC_RELAXED);
	j->md = NULL;
	pthread_mutex_unlock(&l->mu);
	if (queued)
		mb_job_free(j);
}

/* --- polls ------------------------------------------------------------------ */

static const struct modbus_conf *
mb_conf(const struct mb_dev *md)
{
	return device_conf(md->dev)->probe_conf;
}

/* Why a request failed, for reasons and logs. */
static void
mb_err_text(const struct mb_job *j, char *buf, size_t len)
{
	int e = j->err;

	if (e >= EMBXILFUN && e <= EMBXGTAR)
		snprintf(buf, len, "exception %d (%s)", e - MODBUS_ENOBASE,
		    modbus_strerror(e));
	else if (e == ETIMEDOUT)
		snprintf(buf, len, "no answer");
	else
		snprintf(buf, len, "%s", modbus_strerror(e));
}

static enum poll_status
mb_status(int e, int connecting)
{
	switch (e) {
	case ETIMEDOUT:
	case EMBXGTAR:
		return POLL_TIMEOUT;
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EMBXGPATH:
	case ENOENT:
		return POLL_REFUSED;
	case EMBBADCRC:
	case EMBBADDATA:
	case EMBBADEXC:
	case EMBUNKEXC:
	case EMBMDATA:
	case EMBBADSLAVE:
		return POLL_PROTOCOL;
	}
	return connecting ? POLL_REFUSED : POLL_ERROR;
}

static void
mb_read_text(const struct modbus_read *r, char *buf, size_t len)
{
	if (r->count == 1)
		snprintf(buf, len, "%s %u", mb_table_text[r->table], r->start);
	else
		snprintf(buf, len, "%s %u..%u", mb_table_text[r->table], r->start,
		    r->start + r->count - 1);
}

static void
mb_report(struct mb_dev *md, struct mb_job *j)
{
	const struct modbus_conf *mc = mb_conf(md);
	const struct modbus_point_conf *pts = mc->points.items;
	struct poll *p = md->poll;
	struct modbus_value v;
	char why[200], what[80], d[32];
	size_t i;

	md->poll = NULL;
	if (j->err != 0) {
		mb_err_text(j, why, sizeof(why));
		if (j->failed_read < 0 && j->retry_in_ms > 0)
			poll_done(p, mb_status(j->err, 1),
			    "%s: connect: %s (next try in %s)", mc->address, why,
			    duration_format(j->retry_in_ms, d, sizeof(d)));
		else if (j->failed_read < 0)
			poll_done(
			    p, mb_status(j->err, 1), "%s: connect: %s", mc->address, why);
		else {
			mb_read_text(&j->reads[j->failed_read], what, sizeof(what));
			poll_done(p, mb_status(j->err, 0), "%s unit %d: %s reading %s",
			    mc->address, mc->unit, why, what);
		}
		return;
	}
	for (i = 0; i < mc->points.n; i++) {
		const struct modbus_point_conf *pc = &pts[i];
		uint32_t r = md->read_of[i];
		enum metric_kind kind;

		kind = pc->type == MB_STRING ? MK_TEXT
		       : mb_is_bits(pc->table) || pc->bit >= 0 || pc->type == MB_BIT
		           ? MK_BOOL
		           : MK_NUMBER;
		if (j->rerr[r] != 0) {
			mb_read_text(&j->reads[r], what, sizeof(what));
			poll_invalid(p, pc->name, kind, pc->unit,
			    "exception %d (%s) reading %s", j->rerr[r] - MODBUS_ENOBASE,
			    modbus_strerror(j->rerr[r]), what);
			continue;
		}
		modbus_decode(pc, j->data + md->read_at[r] + md->off_of[i], &v);
		switch (v.kind) {
		case MV_NUMBER:
			poll_number(p, pc->name, v.num, pc->unit);
			break;
		case MV_BOOL:
			poll_bool(p, pc->name, v.num != 0);
			break;
		case MV_TEXT:
			poll_text(p, pc->name, v.text);
			break;
		case MV_INVALID:
			poll_invalid(p, pc->name, kind, pc->unit, "%s %d: %s",
			    mb_table_text[pc->table], pc->pdu, v.text);
			break;
		}
	}
	poll_done(p, POLL_OK, NULL);
}

static void
mb_poll(struct device *dev, struct poll *p)
{
	struct mb_dev *md = device_probe_data(dev);
	const struct modbus_conf *mc = mb_conf(md);
	struct mb_job *j = xcalloc(1, sizeof(*j));

	j->md = md;
	j->kind = JOB_POLL;
	j->unit = mc->unit;
	j->response_timeout_ms = mc->response_timeout_ms;
	j->request_delay_ms = mc->request_delay_ms;
	j->nreads = md->nreads;
	j->reads = xreallocarray(NULL, md->nreads, sizeof(*j->reads));
	memcpy(j->reads, md->reads, md->nreads * sizeof(*j->reads));
	j->data = xcalloc(md->nwords, sizeof(*j->data));
	j->rerr = xcalloc(md->nreads, sizeof(*j->rerr));
	md->poll = p;
	md->job = j;
	mb_submit(md, j);
}

static void
mb_cancel(struct device *dev, struct poll *p)
{
	struct mb_dev *md = device_probe_data(dev);

	if (md->poll != p || md->job == NULL)
		return;
	mb_withdraw(md, md->job);
	md->job = NULL;
	md->poll = NULL;
}

static void mb_stop(struct device *);

static int
mb_start(struct device *dev)
{
	const struct modbus_conf *mc = device_conf(dev)->probe_conf;
	struct mb_dev *md;
	char why[512];
	size_t i, at = 0;

	md = xcalloc(1, sizeof(*md));
	md->dev = dev;
	LIST_INIT(&md->writes);
	md->reads = xcalloc(mc->points.n, sizeof(*md->reads));
	md->read_of = xcalloc(mc->points.n, sizeof(*md->read_of));
	md->off_of = xcalloc(mc->points.n, sizeof(*md->off_of));
	md->nreads = modbus_plan(mc->points.items, mc->points.n, mc->max_registers,
	    mc->max_bits, mc->max_gap, md->reads, md->read_of, md->off_of);
	md->reads = xreallocarray(md->reads, md->nreads, sizeof(*md->reads));
	md->read_at = xcalloc(md->nreads, sizeof(*md->read_at));
	for (i = 0; i < md->nreads; i++) {
		md->read_at[i] = at;
		at += md->reads[i].count;
	}
	md->nwords = at;
	device_set_probe_data(dev, md);
	if ((md->link = mb_link_get(dev, mc, why, sizeof(why))) == NULL) {
		log_warnx("device \"%s\": %s", device_name(dev), why);
		mb_stop(dev);
		return -1;
	}
	log_debug("device \"%s\": %zu points in %zu reads on %s", device_name(dev),
	    mc->points.n, md->nreads, md->link->key);
	return 0;
}

static void
mb_stop(struct device *dev)
{
	struct mb_dev *md = device_probe_data(dev);
	struct mb_job *j;

	if (md == NULL)
		return;
	if (md->job != NULL)
		mb_withdraw(md, md->job);
	while ((j = LIST_FIRST(&md->writes)) != NULL) {
		void (*done)(void *, int, const char *) = j->done;
		void *arg = j->arg;
		LIST_REMOVE(j, wentry);
		mb_withdraw(md, j);
		done(arg, 0, "the device was stopped");
	}
	if (md->link != NULL)
		mb_link_put(md->link);
	free(md->reads);
	free(md->read_of);
	free(md->off_of);
	free(md->read_at);
	free(md);
	device_set_probe_data(dev, NULL);
}

/* --- writes ----------------------------------------------------------------- */

static void
mb_write_report(struct mb_job *j)
{
	const struct modbus_conf *mc = mb_conf(j->md);
	const struct modbus_read *r = &j->reads[0];
	char why[400], what[80], err[120];
	int i;

	mb_read_text(r, what, sizeof(what));
	if (j->err != 0) {
		char msg[600];
		mb_err_text(j, err, sizeof(err));
		snprintf(msg, sizeof(msg), "%s unit %d: %s %s %s", mc->address, mc->unit,
		    err,
		    j->failed_read < 0    ? "connecting to write"
		    : j->failed_pass == 0 ? "writing"
		                          : "reading back",
		    what);
		j->done(j->arg, 0, msg);
		return;
	}
	if (j->rerr[0] != 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s unit %d: exception %d (%s) writing %s",
		    mc->address, mc->unit, j->rerr[0] - MODBUS_ENOBASE,
		    modbus_strerror(j->rerr[0]), what);
		j->done(j->arg, 0, msg);
		return;
	}
	for (i = 0; i < r->count; i++)
		if (j->data[i] != j->wdata[i]) {
			snprintf(why, sizeof(why),
			    "point \"%s\": %s reads back 0x%04x at word %d, 0x%04x "
			    "written",
			    j->point, what, j->data[i], i, j->wdata[i]);
			j->done(j->arg, 0, why);
			return;
		}
	j->done(j->arg, 1, NULL);
}

/*
 * Write value to a writable point of a modbus device, then read it back;
 * done(arg, ok, reason) follows once, from the loop.  -1 (done not called)
 * for no such running device or writable point, or a value that does not fit.
 */
int
modbus_write_point(struct device *dev, const char *point, double value,
    void (*done)(void *, int, const char *), void *arg)
{
	const struct modbus_conf *mc;
	const struct modbus_point_conf *pc = NULL;
	struct mb_dev *md;
	struct mb_job *j;
	char why[200];
	size_t i;

	if (dev == NULL || done == NULL || device_conf(dev)->probe != &probe_modbus ||
	    (md = device_probe_data(dev)) == NULL)
		return -1;
	mc = mb_conf(md);
	for (i = 0; i < mc->points.n; i++)
		if (strcmp(((const struct modbus_point_conf *)mc->points.items)[i].name,
		        point) == 0)
			pc = (const struct modbus_point_conf *)mc->points.items + i;
	if (pc == NULL || !pc->writable) {
		log_warnx(
		    "device \"%s\": no writable point \"%s\"", device_name(dev), point);
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->wdata = xcalloc((size_t)pc->count, sizeof(*j->wdata));
	if (modbus_encode(pc, value, j->wdata, why, sizeof(why)) == -1) {
		log_warnx(
		    "device \"%s\": point \"%s\": %s", device_name(dev), point, why);
		mb_job_free(j);
		return -1;
	}
	j->md = md;
	j->kind = JOB_WRITE;
	j->unit = mc->unit;
	j->response_timeout_ms = mc->response_timeout_ms;
	j->request_delay_ms = mc->request_delay_ms;
	j->nreads = 1;
	j->reads = xcalloc(1, sizeof(*j->reads));
	j->reads[0].table = (uint8_t)pc->table;
	j->reads[0].start = (uint16_t)pc->pdu;
	j->reads[0].count = (uint16_t)pc->count;
	j->data = xcalloc((size_t)pc->count, sizeof(*j->data));
	j->rerr = xcalloc(1, sizeof(*j->rerr));
	j->done = done;
	j->arg = arg;
	snprintf(j->point, sizeof(j->point), "%s", pc->name);
	LIST_INSERT_HEAD(&md->writes, j, wentry);
	mb_submit(md, j);
	return 0;
}

const struct probe_ops probe_modbus = {
	.name = "modbus",
	.help = "reads Modbus TCP and RTU devices",
	.conf = &mb_table,
	.start = mb_start,
	.stop = mb_stop,
	.poll = mb_poll,
	.cancel = mb_cancel,
};

/*
 * expr.c: the rule expression language.  Compile errors with their exact
 * positions; evaluation against a fake resolver (devices of several kinds,
 * tags, link roles and availability classes; samples with units, stale and
 * failed ones; history; other rules); unknown propagation and Kleene logic;
 * the inputs an expression depends on.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define NOW 1000000000LL

/* The fake site. */
struct fdev {
	const char *name, *kind;
	int availability;
	const char *tags[3];
	const char *links[2][2]; /* {link name, role} */
};
static const struct fdev devs[] = {
	{ "ups1", "ups", 3, { "server-room", "main" }, { { NULL } } },
	{ "ups2", "ups", 2, { "annex" }, { { NULL } } },
	{ "ups3", "ups", 1, { "annex" }, { { NULL } } },
	{ "env1", "sensor", 3, { "server-room" }, { { NULL } } },
	{ "wan1", "switch", 3, { NULL }, { { "uplink", "wan" }, { "lg", "lgwan" } } },
};

struct fmetric {
	const char *key;
	enum expr_type type;
	const char *unit; /* as the store has it */
	double num;
	const char *text;
	int64_t age_ms;
	enum quality q;
	const char *reason;
};
static const struct fmetric metrics[] = {
	{ "ups1.on_battery", EXPR_BOOL, NULL, 1, NULL, 0, Q_OK, NULL },
	{ "ups1.charge_pct", EXPR_NUMBER, "%", 80, NULL, 0, Q_OK, NULL },
	{ "ups1.status", EXPR_TEXT, NULL, 0, "OB LB", 0, Q_OK, NULL },
	{ "ups1.runtime_s", EXPR_NUMBER, "s", 600, NULL, 0, Q_OK, NULL },
	{ "ups2.on_battery", EXPR_BOOL, NULL, 1, NULL, 0, Q_OK, NULL },
	{ "ups2.charge_pct", EXPR_NUMBER, "%", 60, NULL, 0, Q_OK, NULL },
	{ "ups2.status", EXPR_TEXT, NULL, 0, "OB", 60000, Q_OK, NULL },
	{ "ups3.on_battery", EXPR_BOOL, NULL, 0, NULL, 90000, Q_STALE, "no answer" },
	{ "ups3.charge_pct", EXPR_NUMBER, "pct", 90, NULL, 0, Q_OK, NULL },
	{ "env1.temperature", EXPR_NUMBER, "degC", 33, NULL, 0, Q_OK, NULL },
	{ "env1.humidity", EXPR_NUMBER, "%", 40, NULL, 0, Q_OK, NULL },
	{ "env1.leak", EXPR_BOOL, NULL, 0, NULL, 0, Q_OK, NULL },
	{ "env1.err", EXPR_NUMBER, NULL, 0, NULL, 0, Q_ERROR, "modbus exception 2" },
	{ "env1.delay", EXPR_NUMBER, "ms", 1500, NULL, 0, Q_OK, NULL },
	{ "wan1.uplink_up", EXPR_BOOL, NULL, 0, NULL, 0, Q_OK, NULL },
	{ "wan1.lg_up", EXPR_BOOL, NULL, 1, NULL, 0, Q_OK, NULL },
	{ "wan1.in_bps", EXPR_NUMBER, "bps", 1000, NULL, 0, Q_OK, NULL },
};

/* History, oldest first, at NOW - age seconds. */
struct fhist {
	const char *key;
	int n;
	struct {
		int age_s;
		double v;
	} pts[8];
};
static const struct fhist hists[] = {
	{ "env1.temperature", 6,
	    { { 300, 25 }, { 240, 27 }, { 180, 29 }, { 120, 31 }, { 60, 32 },
	        { 0, 33 } } },
	{ "ups1.on_battery", 3, { { 600, 0 }, { 120, 1 }, { 0, 1 } } },
	{ "env1.leak", 3, { { 600, 0 }, { 120, 0 }, { 0, 0 } } },
	{ "env1.delay", 2, { { 60, 1000 }, { 0, 1500 } } },
};

static const struct {
	const char *name;
	int active;
} rules[] = { { "power-outage", 1 }, { "overheat", 0 } };

static int lookups;

static void
full_key(const struct expr_ref *ref, const struct expr_member *m, char *buf, size_t len)
{
	if (ref->device != NULL)
		snprintf(buf, len, "%s", ref->key);
	else
		snprintf(buf, len, "%s.%s%s", m->device,
		    m->prefix != NULL ? m->prefix : "", ref->metric);
}

static int
f_lookup(void *arg, const struct expr_ref *ref, const struct expr_member *m,
    struct expr_sample *out)
{
	char key[128];
	size_t i;

	(void)arg;
	lookups++;
	full_key(ref, m, key, sizeof(key));
	for (i = 0; i < NELEM(metrics); i++) {
		double scale;
		if (strcmp(metrics[i].key, key) != 0)
			continue;
		out->type = metrics[i].type;
		out->unit = expr_unit_from_name(metrics[i].unit, &scale);
		out->num = metrics[i].num * scale;
		out->text = metrics[i].text;
		out->t_ms = NOW - metrics[i].age_ms;
		out->q = metrics[i].q;
		out->reason = metrics[i].reason;
		return 0;
	}
	return -1;
}

static size_t
f_history(void *arg, const struct expr_ref *ref, const struct expr_member *m,
    int64_t since, struct hist_point *out, size_t max)
{
	char key[128];
	size_t i, n = 0;
	int k, first;

	(void)arg;
	full_key(ref, m, key, sizeof(key));
	for (i = 0; i < NELEM(hists); i++) {
		const struct fhist *h = &hists[i];
		double scale;
		if (strcmp(h->key, key) != 0)
			continue;
		scale = strcmp(key, "env1.delay") == 0 ? 0.001 : 1;
		/* The points since `since`, and the one before them. */
		for (first = 0;
		     first < h->n && NOW - h->pts[first].age_s * 1000LL < since; first++)
			;
		if (first > 0)
			first--;
		for (k = first; k < h->n && n < max; k++)
			out[n++] = (struct hist_point){ NOW - h->pts[k].age_s * 1000LL,
				h->pts[k].v * scale };
	}
	return n;
}

static int
f_member(void *arg, const struct expr_select *sel, size_t want, struct expr_member *out)
{
	size_t i, l, seen = 0, nt;

	(void)arg;
	for (i = 0; i < NELEM(devs); i++) {
		for (nt = 0; nt < 3 && devs[i].tags[nt] != NULL; nt++)
			;
		if (expr_select_match(sel, devs[i].kind, devs[i].availability,
		        devs[i].tags, nt, NULL) &&
		    seen++ == want) {
			out->device = devs[i].name;
			out->prefix = "";
			return 1;
		}
		for (l = 0; l < 2 && devs[i].links[l][0] != NULL; l++) {
			static char prefix[2][32];
			if (!expr_select_match(sel, devs[i].kind, devs[i].availability,
			        devs[i].tags, nt, devs[i].links[l][1]) ||
			    seen++ != want)
				continue;
			snprintf(
			    prefix[l], sizeof(prefix[l]), "%s_", devs[i].links[l][0]);
			out->device = devs[i].name;
			out->prefix = prefix[l];
			return 1;
		}
	}
	return 0;
}

static int
f_active(void *arg, const char *name)
{
	size_t i;

	(void)arg;
	for (i = 0; i < NELEM(rules); i++)
		if (strcmp(rules[i].name, name) == 0)
			return rules[i].active;
	return -1;
}

static const struct expr_resolver fake = {
	.lookup = f_lookup,
	.history = f_history,
	.member = f_member,
	.active = f_active,
	.now_ms = NOW,
};

/*
 * Compile errors: the text starts at t.conf line 42, column 10, under the
 * key "when"; each message names the exact column.
 */
static const struct {
	const char *text;
	const char *err;
} bad[] = {
	{ "", "t.conf:42:10: when: empty expression" },
	{ "   ", "t.conf:42:10: when: empty expression" },
	{ "avg(kind=ups, charge_pct",
	    "t.conf:42:34: when: expected ')' after \"avg(kind=ups, charge_pct\"" },
	{ "ups1.temp > ", "t.conf:42:22: when: expected a value after \"ups1.temp >\"" },
	{ "30 degC > 5 s",
	    "t.conf:42:18: when: '>' of degC and s: the units do not match" },
	{ "1 min + 3 V > 0",
	    "t.conf:42:16: when: '+' of s and V: the units do not match" },
	{ "2 V * 3 V > 1 V",
	    "t.conf:42:14: when: '*' of two quantities with units (V, V)" },
	{ "temp > 30",
	    "t.conf:42:10: when: \"temp\": name the device (device.temp), or use it "
	    "inside an aggregate such as any(kind=ups, temp)" },
	{ "ups1.temp = 30", "t.conf:42:20: when: '=' is not a comparison: use '=='" },
	{ "ups1.temp > 30 parsecs", "t.conf:42:25: when: unknown unit \"parsecs\" (ms, "
	                            "s, min, h, d, %, degC, V)" },
	{ "foo(ups1.x)", "t.conf:42:10: when: unknown function \"foo\" (any, all, count, "
	                 "min, max, avg, "
	                 "rate, changed_within, stale, active, has)" },
	{ "any(on_battery)",
	    "t.conf:42:14: when: any() needs devices first, such as any(kind=ups, "
	    "on_battery)" },
	{ "any(kind=upss, on_battery)", "t.conf:42:19: when: no device kind \"upss\" "
	                                "(ups, pdu, switch, router, link, "
	                                "sensor, host, other)" },
	{ "any(availability=5, up)",
	    "t.conf:42:27: when: availability is a class from 1 to 3" },
	{ "\"OB\" > 3", "t.conf:42:15: when: '>' needs numbers, not text" },
	{ "ups1.a && 3",
	    "t.conf:42:17: when: '&&' needs true/false on both sides, not number" },
	{ "!3", "t.conf:42:10: when: '!' needs true/false, not number" },
	{ "-true", "t.conf:42:10: when: '-' needs a number, not true/false" },
	{ "1 < 2 < 3",
	    "t.conf:42:16: when: comparisons do not chain: use && between them" },
	{ "ups1.temp + 3",
	    "t.conf:42:10: when: this is number, not a condition (true/false)" },
	{ "ups1.status == \"OB", "t.conf:42:25: when: unterminated string" },
	{ "ups1.x > 1e999", "t.conf:42:19: when: bad number \"1e999\"" },
	{ "ups1. > 3", "t.conf:42:15: when: expected a metric name after \"ups1.\"" },
	{ "rate(ups1.x, 5) > 1",
	    "t.conf:42:23: when: rate(): the duration must be a number with a time unit, "
	    "such as 5min" },
	{ "changed_within(ups1.x, 0888888888888888888888888h)",
	    "t.conf:42:33: when: changed_within(): the duration is longer than 366d" },
	{ "changed_within(ups1.x)",
	    "t.conf:42:31: when: expected ',' and a duration, found \")\"" },
	{ "active(power)",
	    "t.conf:42:17: when: expected a rule name in quotes, found \"power\"" },
	{ "ups1.x > 3 )",
	    "t.conf:42:21: when: expected an operator or the end, found \")\"" },
	{ "ups1.x # 3", "t.conf:42:17: when: unexpected \"#\"" },
	{ "ups1.x > 3 &&\n  )", "t.conf:43:3: when: expected a value, found \")\"" },
	/* Columns count characters, not bytes: 温度 is two columns, six bytes. */
	{ "\"温度\" == ups1.x && 5",
	    "t.conf:42:25: when: '&&' needs true/false on both sides, not number" },
	{ "min(kind=ups, on_battery == true) > 1",
	    "t.conf:42:10: when: min(): the value is true/false, not a number" },
	{ "count(kind=ups, 3) > 1",
	    "t.conf:42:10: when: count(): the condition is number, not true/false" },
	{ "stale(3)", "t.conf:42:16: when: expected a metric such as ups1.on_battery, "
	              "found \"3\"" },
	{ "has(ups1.status, OB)",
	    "t.conf:42:27: when: expected a word in quotes, found \"OB\"" },
	{ "has(3, \"OB\")",
	    "t.conf:42:10: when: has(): the first argument is number, not text" },
	{ "ups1.x % 3",
	    "t.conf:42:17: when: expected an operator or the end, found \"%\"" },
	{ "ups1.x \x01", "t.conf:42:17: when: unexpected \"'\"" },
	{ "ups1.x > \"a\\q\"", "t.conf:42:19: when: unterminated string" },
	{ "ups1.x == \xff", "t.conf:42:10: when: not valid UTF-8" },
	{ "any(kind=ups tag=x, on_battery)",
	    "t.conf:42:23: when: expected ',', found \"tag\"" },
};

START_TEST(expr_compile_errors)
{
	char err[512];
	struct expr *e;

	e = expr_compile(bad[_i].text, "t.conf", 42, 10, "when", err, sizeof(err));
	ck_assert_msg(e == NULL, "\"%s\" compiled", bad[_i].text);
	ck_assert_str_eq(err, bad[_i].err);
}
END_TEST

START_TEST(expr_compile_limits)
{
	char err[512], *deep, *chain;
	struct expr *e;
	size_t i, o = 0;

	/* Parentheses nested past the limit. */
	deep = xcalloc(1, 400);
	for (i = 0; i < 100; i++)
		deep[o++] = '(';
	memcpy(deep + o, "ups1.x", 6);
	o += 6;
	for (i = 0; i < 100; i++)
		deep[o++] = ')';
	ck_assert_ptr_null(expr_compile(deep, "f", 1, 1, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "nested too deeply") != NULL, "%s", err);
	free(deep);

	/* A long left-leaning chain: the evaluator would recurse that deep. */
	chain = xcalloc(1, 4000);
	o = 0;
	for (i = 0; i < 300; i++)
		o += (size_t)snprintf(chain + o, 4000 - o, "ups1.x + ");
	snprintf(chain + o, 4000 - o, "1 > 0");
	ck_assert_ptr_null(expr_compile(chain, "f", 1, 1, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "too deep") != NULL, "%s", err);
	free(chain);

	/* No label: FILE:LINE:COL: reason. */
	ck_assert_ptr_null(
	    expr_compile("ups1.x >", "f.conf", 3, 1, NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "f.conf:3:9: expected a value after \"ups1.x >\"");

	/* A long context is cut to its end, next to the error. */
	ck_assert_ptr_null(
	    expr_compile("ups1.on_battery && env1.temperature > 30 degC && (", "f", 1, 1,
	        NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "f:1:51: expected a value after \"...ttery && "
	                      "env1.temperature > 30 degC && (\"");

	/* A small error buffer truncates, never overflows. */
	ck_assert_ptr_null(expr_compile("ups1.x >", "f.conf", 3, 1, NULL, err, 8));
	ck_assert_str_eq(err, "f.conf:");

	e = expr_compile("ups1.x > 5", "f", 1, 1, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(expr_text(e), "ups1.x > 5");
	expr_free(e);
	expr_free(NULL);
}
END_TEST

/* Evaluations: 1 true, 0 false, -1 unknown with a reason. */
static const struct {
	const char *text;
	int want;
	const char *reason; /* for unknown: the value as expr_value_format prints it */
} evals[] = {
	/* The demo's rules. */
	{ "ups1.on_battery", 1, NULL },
	{ "env1.temperature >= 32", 1, NULL },
	{ "env1.temperature < 27", 0, NULL },
	{ "count(kind=ups, !stale(on_battery) && on_battery) >= 2", 1, NULL },
	/* Literals, arithmetic, comparisons. */
	{ "true", 1, NULL },
	{ "!false && 1 < 2", 1, NULL },
	{ "2 * 3 + 1 == 7 && (1 + 2) * 3 == 9 && 7 / 2 == 3.5 && -2 < 0", 1, NULL },
	{ "1.5e3 == 1500 && .5 == 0.5", 1, NULL },
	{ "\"a\" != \"b\"", 1, NULL },
	{ "!ups1.on_battery", 0, NULL },
	{ "ups1.on_battery == true", 1, NULL },
	{ "ups2.status == \"OB\" && ups1.status != \"OB\"", 1, NULL },
	{ "-ups1.charge_pct < 0", 1, NULL },
	{ "(ups1.charge_pct - 20%) * 2 == 120%", 1, NULL },
	/* Units: literals in base units, store units converted. */
	{ "env1.temperature >= 32 degC", 1, NULL },
	{ "ups1.runtime_s <= 10min && ups1.runtime_s > 9.9 min", 1, NULL },
	{ "ups1.runtime_s < 10min", 0, NULL },
	{ "ups1.runtime_s == 0.1h + 240s", 1, NULL },
	{ "ups1.runtime_s / 60s > 9", 1, NULL },
	{ "env1.delay > 1s && env1.delay < 1600ms", 1, NULL },
	{ "ups3.charge_pct > 89%", 1, NULL },
	{ "1d == 24h && 1000ms == 1s", 1, NULL },
	{ "wan1.in_bps > 500", 1, NULL },
	{ "env1.temperature > 30 s", -1, "unknown (the units do not match)" },
	{ "wan1.in_bps > 500 V", -1, "unknown (the units do not match)" },
	{ "env1.temperature * env1.temperature > 1", -1,
	    "unknown ('*' of two quantities with units)" },
	{ "ups1.charge_pct / env1.temperature > 1", -1,
	    "unknown ('/' by a different unit)" },
	/* Unknown: stale, failed, missing; Kleene && and ||. */
	{ "ups3.on_battery", -1, "unknown (ups3.on_battery: no answer)" },
	{ "ups3.on_battery || ups1.on_battery", 1, NULL },
	{ "ups1.on_battery || ups3.on_battery", 1, NULL },
	{ "ups3.on_battery && env1.leak", 0, NULL },
	{ "env1.leak && ups3.on_battery", 0, NULL },
	{ "ups3.on_battery && ups1.on_battery", -1,
	    "unknown (ups3.on_battery: no answer)" },
	{ "ups3.on_battery || env1.leak", -1, "unknown (ups3.on_battery: no answer)" },
	{ "!ups3.on_battery", -1, "unknown (ups3.on_battery: no answer)" },
	{ "env1.err > 3", -1, "unknown (env1.err: modbus exception 2)" },
	{ "nope.x > 3", -1, "unknown (nope.x: no such metric)" },
	{ "nope.x > 3 || true", 1, NULL },
	{ "ups1.charge_pct / 0 > 1", -1, "unknown (division by zero)" },
	{ "ups1.on_battery == 1", -1, "unknown (compares values of different types)" },
	{ "ups1.status", -1, "unknown (the value is text, not true/false)" },
	{ "ups1.charge_pct > 1 && ups1.status", -1, "unknown (not true/false)" },
	{ "ups1.status > 3", -1, "unknown (not a number)" },
	{ "!ups1.charge_pct", -1, "unknown (not true/false)" },
	{ "-ups1.status < 1", -1, "unknown (not a number)" },
	{ "has(ups1.on_battery, \"OB\")", -1, "unknown (not text)" },
	/* Flags. */
	{ "has(ups1.status, \"LB\")", 1, NULL },
	{ "has(ups2.status, \"LB\")", 0, NULL },
	{ "has(ups2.status, \"O\")", 0, NULL },
	{ "has(\"OL, RB\", \"RB\")", 1, NULL },
	{ "has(ups3.status, \"OB\")", -1, "unknown (ups3.status: no such metric)" },
	/* Aggregates over kinds, tags, availability and link roles. */
	{ "count(kind=ups, on_battery) >= 2", -1,
	    "unknown (ups3.on_battery: no answer)" },
	{ "any(kind=ups, on_battery)", 1, NULL },
	{ "all(kind=ups, on_battery)", -1, "unknown (ups3.on_battery: no answer)" },
	{ "all(kind=ups, tag=annex, charge_pct > 50%)", 1, NULL },
	{ "all(kind=ups, charge_pct > 70%)", 0, NULL },
	{ "min(kind=ups, charge_pct) == 60%", 1, NULL },
	{ "max(kind=ups, charge_pct) == 90%", 1, NULL },
	{ "avg(kind=ups, charge_pct) > 76% && avg(kind=ups, charge_pct) < 77%", 1, NULL },
	{ "avg(kind=ups, charge_pct) > 76 degC", -1, "unknown (the units do not match)" },
	{ "count(kind=pdu, on_battery) == 0", 1, NULL },
	{ "any(kind=pdu, on_battery)", 0, NULL },
	{ "all(kind=pdu, on_battery)", 1, NULL },
	{ "avg(kind=pdu, charge_pct) > 1", -1, "unknown (no device matches)" },
	{ "count(availability>=2, kind=ups, on_battery) == 2", 1, NULL },
	{ "count(availability=1, stale(on_battery)) == 1", 1, NULL },
	{ "count(availability!=3, kind=ups, charge_pct > 0) == 2", 1, NULL },
	{ "count(availability<3, kind=ups, charge_pct > 0) == 2", 1, NULL },
	{ "count(tag=server-room, stale(on_battery)) == 1", 1, NULL },
	{ "count(tag=\"server-room\", kind=sensor, temperature > 30 degC) == 1", 1,
	    NULL },
	{ "any(role=wan, !up)", 1, NULL },
	{ "all(role=lgwan, up)", 1, NULL },
	{ "count(role=wan, up) + count(role=lgwan, up) == 1", 1, NULL },
	{ "count(kind=switch, stale(uplink_up)) == 0", 1, NULL },
	{ "any(kind=ups, any(tag=server-room, temperature > 30 degC) && on_battery)", 1,
	    NULL },
	{ "any(kind=ups, ups2.on_battery && charge_pct > 85%)", 1, NULL },
	{ "min(kind=ups, status) > 1", -1, "unknown (ups1: not a number)" },
	{ "any(kind=ups, charge_pct)", -1, "unknown (ups1: not true/false)" },
	/* History. */
	{ "rate(env1.temperature) > 0.0166 && rate(env1.temperature) < 0.0167", 1, NULL },
	{ "rate(env1.temperature, 5min) > 0.0266 && rate(env1.temperature, 5 min) < "
	  "0.0267",
	    1, NULL },
	{ "rate(env1.delay) * 60 == 0.5", 1, NULL },
	{ "rate(ups1.status) > 0", -1,
	    "unknown (ups1.status: text metrics keep no history)" },
	{ "rate(env1.humidity) > 0", -1,
	    "unknown (env1.humidity: not enough history for a rate)" },
	{ "rate(env1.temperature, 1ms) > 0", -1,
	    "unknown (env1.temperature: not enough history for a rate)" },
	{ "changed_within(ups1.on_battery, 5min)", 1, NULL },
	{ "changed_within(ups1.on_battery, 1min)", 0, NULL },
	{ "changed_within(env1.leak, 1h)", 0, NULL },
	{ "changed_within(env1.humidity, 1min)", -1,
	    "unknown (env1.humidity: not enough history)" },
	{ "changed_within(ups3.on_battery, 1min)", -1,
	    "unknown (ups3.on_battery: no answer)" },
	{ "stale(ups3.on_battery)", 1, NULL },
	{ "stale(ups1.on_battery)", 0, NULL },
	{ "stale(nope.x)", 1, NULL },
	{ "stale(env1.err)", 1, NULL },
	{ "stale(ups2.status, 30s)", 1, NULL },
	{ "stale(ups2.status, 2min)", 0, NULL },
	{ "stale(ups1.status, 30s)", 0, NULL },
	/* Other rules. */
	{ "active(\"power-outage\")", 1, NULL },
	{ "active(\"overheat\")", 0, NULL },
	{ "active(\"new\")", -1, "unknown (new: rule not evaluated yet)" },
	{ "active(\"new\") || true", 1, NULL },
	{ "active(\"power-outage\") && !active(\"overheat\")", 1, NULL },
	/* Spaces, newlines and names with '-'. */
	{ "  ups1.on_battery\n&&\tenv1.temperature>30  ", 1, NULL },
	{ "any (kind = ups , on_battery)", 1, NULL },
};

START_TEST(expr_evaluate)
{
	char err[512], buf[256];
	struct expr_value v;
	struct expr *e;
	int got;

	e = expr_compile(evals[_i].text, "t.conf", 1, 1, "when", err, sizeof(err));
	ck_assert_msg(e != NULL, "\"%s\": %s", evals[_i].text, err);
	got = expr_eval(e, &fake, &v);
	expr_value_format(&v, buf, sizeof(buf));
	ck_assert_msg(got == evals[_i].want, "\"%s\": %d (%s), expected %d",
	    evals[_i].text, got, buf, evals[_i].want);
	if (evals[_i].reason != NULL)
		ck_assert_str_eq(buf, evals[_i].reason);
	/* Evaluating again gives the same: no state kept between evaluations. */
	ck_assert_int_eq(expr_eval(e, &fake, &v), got);
	expr_free(e);
}
END_TEST

/* && and || do not read the right side when the left decides. */
START_TEST(expr_short_circuit)
{
	char err[256];
	struct expr_value v;
	struct expr *e;

	e = expr_compile(
	    "env1.leak && ups1.on_battery", "f", 1, 1, NULL, err, sizeof(err));
	lookups = 0;
	ck_assert_int_eq(expr_eval(e, &fake, &v), 0);
	ck_assert_int_eq(lookups, 1);
	expr_free(e);
	e = expr_compile(
	    "ups1.on_battery || env1.leak", "f", 1, 1, NULL, err, sizeof(err));
	lookups = 0;
	ck_assert_int_eq(expr_eval(e, &fake, &v), 1);
	ck_assert_int_eq(lookups, 1);
	expr_free(e);
	/* any() stops at the first member that is true. */
	e = expr_compile("any(kind=ups, on_battery)", "f", 1, 1, NULL, err, sizeof(err));
	lookups = 0;
	ck_assert_int_eq(expr_eval(e, &fake, &v), 1);
	ck_assert_int_eq(lookups, 1);
	expr_free(e);
}
END_TEST

/* A resolver with no callbacks: everything is unknown or empty, nothing crashes. */
START_TEST(expr_empty_resolver)
{
	struct expr_resolver none = { .now_ms = NOW };
	char err[256], buf[128];
	struct expr_value v;
	struct expr *e;

	e = expr_compile("ups1.x > 1 || rate(ups1.x) > 1 || active(\"a\") || "
	                 "any(kind=ups, x) || stale(ups1.x) && false",
	    "f", 1, 1, NULL, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_int_eq(expr_eval(e, &none, &v), -1);
	ck_assert_str_eq(
	    expr_value_format(&v, buf, sizeof(buf)), "unknown (ups1.x: no such metric)");
	expr_free(e);
}
END_TEST

/* The inputs: each metric once, relative ones with their selection; rules; time. */
START_TEST(expr_dependencies)
{
	char err[256];
	const struct expr_ref *r;
	struct expr *e;
	int dummy;

	e = expr_compile("count(kind=ups, on_battery) >= 2 && ups1.charge_pct < 50% || "
	                 "any(kind = ups, on_battery && charge_pct < 30%) || "
	                 "active(\"x\") || ups1.charge_pct > 99% || active(\"x\") || "
	                 "any(role=wan, !up) || any(tag=a, availability>=2, on_battery)",
	    "f", 1, 1, NULL, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_uint_eq(expr_nrefs(e), 5);
	r = expr_ref(e, 0);
	ck_assert_ptr_null(r->device);
	ck_assert_str_eq(r->metric, "on_battery");
	ck_assert_str_eq(r->key, "on_battery");
	ck_assert_str_eq(r->select->text, "kind=ups");
	r = expr_ref(e, 1);
	ck_assert_str_eq(r->device, "ups1");
	ck_assert_str_eq(r->metric, "charge_pct");
	ck_assert_str_eq(r->key, "ups1.charge_pct");
	ck_assert_ptr_null(r->select);
	r = expr_ref(e, 2);
	ck_assert_str_eq(r->key, "charge_pct");
	ck_assert_ptr_eq(r->select, expr_select(e, 0));
	r = expr_ref(e, 3);
	ck_assert_str_eq(r->key, "up");
	ck_assert_str_eq(r->select->text, "role=wan");
	r = expr_ref(e, 4);
	ck_assert_str_eq(r->key, "on_battery");
	ck_assert_str_eq(r->select->text, "tag=a,availability>=2");
	ck_assert_ptr_null(expr_ref(e, 5));
	ck_assert_uint_eq(expr_nselects(e), 3);
	ck_assert_uint_eq(expr_select(e, 2)->nterms, 2);
	ck_assert_int_eq(expr_select(e, 2)->terms[1].key, ES_AVAILABILITY);
	ck_assert_int_eq(expr_select(e, 2)->terms[1].op, ES_GE);
	ck_assert_int_eq(expr_select(e, 2)->terms[1].num, 2);
	ck_assert_ptr_null(expr_select(e, 3));
	ck_assert_uint_eq(expr_nrules(e), 1);
	ck_assert_str_eq(expr_rule(e, 0), "x");
	ck_assert_ptr_null(expr_rule(e, 1));
	ck_assert_int_eq(expr_uses_time(e), 0);
	/* The caller's caches reach the resolver through the references. */
	expr_ref_bind(e, 1, &dummy);
	ck_assert_ptr_eq(expr_ref(e, 1)->bound, &dummy);
	expr_select_bind(e, 0, &dummy);
	ck_assert_ptr_eq(expr_select(e, 0)->bound, &dummy);
	expr_free(e);

	/* Only what changes with time alone is re-evaluated on the tick. */
	static const struct {
		const char *text;
		int uses_time;
	} timed[] = {
		{ "stale(ups1.x)", 0 },
		{ "stale(ups1.x, 1min)", 1 },
		{ "rate(ups1.x) > 1", 0 },
		{ "rate(ups1.x, 1min) > 1", 1 },
		{ "changed_within(ups1.x, 1min)", 1 },
		{ "any(kind=ups, stale(x, 30s))", 1 },
	};
	for (size_t i = 0; i < NELEM(timed); i++) {
		e = expr_compile(timed[i].text, "f", 1, 1, NULL, err, sizeof(err));
		ck_assert_msg(e != NULL, "%s", err);
		ck_assert_msg(
		    expr_uses_time(e) == timed[i].uses_time, "%s", timed[i].text);
		ck_assert_uint_eq(expr_nrefs(e), 1);
		expr_free(e);
	}
}
END_TEST

START_TEST(expr_units_and_selectors)
{
	static const char *tags[] = { "server-room", "main" };
	double scale;
	char err[256];
	struct expr *e;

	ck_assert_int_eq(expr_unit_from_name(NULL, &scale), EU_NONE);
	ck_assert_int_eq(expr_unit_from_name("", &scale), EU_NONE);
	ck_assert_int_eq(expr_unit_from_name("%", &scale), EU_PCT);
	ck_assert_int_eq(expr_unit_from_name("pct", &scale), EU_PCT);
	ck_assert_int_eq(expr_unit_from_name("degC", &scale), EU_TEMP);
	ck_assert_int_eq(expr_unit_from_name("V", &scale), EU_VOLT);
	ck_assert_int_eq(expr_unit_from_name("min", &scale), EU_TIME);
	ck_assert_double_eq(scale, 60);
	ck_assert_int_eq(expr_unit_from_name("ms", &scale), EU_TIME);
	ck_assert_double_eq(scale, 0.001);
	ck_assert_int_eq(expr_unit_from_name("bps", &scale), EU_OTHER);
	ck_assert_double_eq(scale, 1);
	ck_assert_str_eq(expr_unit_name(EU_TEMP), "degC");
	ck_assert_str_eq(expr_type_name(EXPR_BOOL), "true/false");

	e = expr_compile(
	    "any(kind=ups, tag=main, availability>=2, x) || any(role=wan, up)", "f", 1, 1,
	    NULL, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 0), "ups", 3, tags, 2, NULL), 1);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 0), "ups", 1, tags, 2, NULL), 0);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 0), "ups", 3, tags, 1, NULL), 0);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 0), "pdu", 3, tags, 2, NULL), 0);
	/* Selections without a role hold devices, with one hold links. */
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 0), "ups", 3, tags, 2, "wan"), 0);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 1), "switch", 1, NULL, 0, "wan"), 1);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 1), "switch", 1, NULL, 0, "lan"), 0);
	ck_assert_int_eq(
	    expr_select_match(expr_select(e, 1), "switch", 1, NULL, 0, NULL), 0);
	expr_free(e);
}
END_TEST

static Suite *
expr_suite(void)
{
	Suite *s = suite_create("expr");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, expr_compile_errors, 0, NELEM(bad));
	tcase_add_test(tc, expr_compile_limits);
	tcase_add_loop_test(tc, expr_evaluate, 0, NELEM(evals));
	tcase_add_test(tc, expr_short_circuit);
	tcase_add_test(tc, expr_empty_resolver);
	tcase_add_test(tc, expr_dependencies);
	tcase_add_test(tc, expr_units_and_selectors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(expr_suite());
}

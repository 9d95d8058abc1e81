/*
 * fuzz_expr: the rule expression compiler and evaluator.  Any bytes either
 * compile or are refused with "FILE:LINE:COL: when: reason" where LINE:COL
 * is inside the input (or just past its end); what compiles evaluates,
 * against a resolver answering arbitrary values derived from the input,
 * to true, false or unknown with a reason, without crashing.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_expr"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"

static uint32_t seed;

static uint32_t
mix(const char *s, uint32_t h)
{
	for (; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int
f_lookup(void *arg, const struct expr_ref *ref, const struct expr_member *m,
    struct expr_sample *out)
{
	static const char *const texts[] = { "", "OB", "OB LB", "OL", "down" };
	uint32_t h = mix(ref->key, mix(m != NULL ? m->device : NULL, seed));

	(void)arg;
	if (h % 11 == 0)
		return -1;
	out->type = (enum expr_type)(h % 4);
	out->unit = (enum expr_unit)((h >> 4) % 6);
	out->num = (double)(int32_t)(h >> 8) / 1000.0;
	if (h % 13 == 0)
		out->num = h % 2 ? INFINITY : -0.0;
	out->text = texts[(h >> 3) % 5];
	out->t_ms = 1000000 - (int64_t)(h % 100000);
	out->q = (enum quality)((h >> 12) % 5 == 0 ? (h >> 14) % 3 : 0);
	out->reason = out->q != Q_OK || out->type == EXPR_UNKNOWN ? "fuzzed" : NULL;
	return 0;
}

static size_t
f_history(void *arg, const struct expr_ref *ref, const struct expr_member *m,
    int64_t since, struct hist_point *out, size_t max)
{
	uint32_t h = mix(ref->key, mix(m != NULL ? m->device : NULL, seed ^ 0x5bd1e995));
	size_t n = h % 8, i;

	(void)arg;
	(void)since;
	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		out[i].t_ms = 1000000 - (int64_t)(n - i) * (int64_t)(h % 5000);
		out[i].v = (double)((h >> i) % 7);
	}
	/* A resolver that claims more than it may must not be trusted. */
	return h % 17 == 0 ? max + 5 : n;
}

static int
f_member(void *arg, const struct expr_select *sel, size_t i, struct expr_member *out)
{
	static const char *const names[] = { "ups1", "ups2", "wan1" };
	uint32_t h = mix(sel->text, seed);

	(void)arg;
	if (i >= h % 4)
		return 0;
	out->device = names[i % 3];
	out->prefix = h % 2 ? "uplink_" : "";
	return 1;
}

static int
f_active(void *arg, const char *name)
{
	(void)arg;
	return (int)(mix(name, seed) % 3) - 1;
}

/* Is line:col a position of s[0..len] (counted as the compiler counts)? */
static int
position_inside(const char *s, size_t len, unsigned int line, unsigned int col)
{
	unsigned int l = 1, c = 1;
	size_t i;

	for (i = 0;; i++) {
		if (l == line && c == col)
			return 1;
		if (i >= len)
			return 0;
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct expr_resolver r = {
		.lookup = f_lookup,
		.history = f_history,
		.member = f_member,
		.active = f_active,
		.now_ms = 1000000,
	};
	char err[512], buf[512], *text;
	struct expr_value v;
	struct expr *e;
	unsigned int line, col;
	size_t i;
	int rc;

	if (size > 8192 || memchr(data, '\0', size) != NULL)
		return 0;
	text = xstrndup((const char *)data, size);
	seed = mix(text, 2166136261u);
	e = expr_compile(text, "fuzz.conf", 1, 1, "when", err, sizeof(err));
	if (e == NULL) {
		if (sscanf(err, "fuzz.conf:%u:%u: when: ", &line, &col) != 2)
			fuzz_fail("refused without a position: \"%s\"", err);
		if (!position_inside(text, size, line, col))
			fuzz_fail("error position %u:%u outside the input: \"%s\"", line,
			    col, err);
		free(text);
		return 0;
	}
	if (strcmp(expr_text(e), text) != 0)
		fuzz_fail("expr_text differs from the input");
	for (i = 0; i < expr_nrefs(e); i++) {
		const struct expr_ref *ref = expr_ref(e, i);
		if (ref->metric == NULL || ref->key == NULL ||
		    (ref->device == NULL) != (ref->select != NULL))
			fuzz_fail("reference %zu is half made", i);
	}
	for (i = 0; i < expr_nselects(e); i++)
		if (expr_select(e, i)->nterms == 0)
			fuzz_fail("selection %zu has no terms", i);
	for (i = 0; i < 3; i++) {
		seed += (uint32_t)i * 2654435761u;
		rc = expr_eval(e, &r, &v);
		if (rc < -1 || rc > 1 || (rc == -1) != (v.type == EXPR_UNKNOWN) ||
		    (rc >= 0 && v.type != EXPR_BOOL))
			fuzz_fail("evaluated to %d, type %d", rc, v.type);
		if (rc == -1 && v.reason == NULL)
			fuzz_fail("unknown without a reason");
		expr_value_format(&v, buf, sizeof(buf));
	}
	expr_free(e);
	free(text);
	return 0;
}

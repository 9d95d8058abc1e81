/*
 * check.c: classification (ranges both ways, hysteresis, enums, flags,
 * stale data), then table-driven state transitions: soft and hard, every OK
 * hard, N of M, the `for` hold-down, UNKNOWN, flap detection with the
 * published weights (percentages worked out by hand in the comments),
 * notifications held back while flapping and sent when it ends; the JSON
 * round trip.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

static enum check_state
st(char c)
{
	switch (c) {
	case 'O':
		return CHECK_OK;
	case 'W':
		return CHECK_WARNING;
	case 'C':
		return CHECK_CRITICAL;
	default:
		return CHECK_UNKNOWN;
	}
}

/*
 * One result and what must come of it: state (O W C U), H(ard) or S(oft),
 * notification P(roblem), R(ecovery) or -, F(lapping) or -, and the flap
 * percentage (negative: not checked).
 */
struct row {
	int t; /* seconds */
	char in, state, hard, notify, flap;
	double pct;
};

struct scenario {
	const char *name;
	int max_attempts, n, m, for_s, flap;
	struct row rows[32];
};

/*
 * Flap weights: transition i (1 oldest .. 20 newest) weighs
 * w(i) = 0.75 + (i-1) * 0.5/19 = 0.75 + (i-1)/38; percent = sum / 20 * 100.
 * k changes in the newest k transitions sum to 0.75k + (sum of i-1 over them)/38:
 *   k=1: 1.25                       -> 6.25 %
 *   k=2: 1.5 + (18+19)/38  = 2.473684 -> 12.368421 %
 *   k=3: 2.25 + 54/38     = 3.671053 -> 18.355263 %
 *   k=4: 3 + 70/38        = 4.842105 -> 24.210526 %
 *   k=5: 3.75 + 85/38     = 5.986842 -> 29.934211 % (below 30: not yet)
 *   k=6: 4.5 + 99/38      = 7.105263 -> 35.526316 % (>= 30: flapping)
 *   k=7: 5.25 + 112/38    = 8.197368 -> 40.986842 %
 *   k=8: 6 + 124/38       = 9.263158 -> 46.315789 %
 * With no new changes each step moves every change one place older, -1/38
 * each: 8 changes lose 8/38 = 0.210526 a step, -1.052632 %.  Once the oldest
 * change leaves the window (the 21 states hold 20 transitions):
 *   7 changes at 1..7: 5.25 + 21/38 = 5.802632 -> 29.013158 %
 *   6 changes at 1..6: 4.5 + 15/38  = 4.894737 -> 24.473684 %
 *   5 changes at 1..5: 3.75 + 10/38 = 4.013158 -> 20.065789 % (above 20: still)
 *   4 changes at 1..4: 3 + 6/38     = 3.157895 -> 15.789474 % (<= 20: stops)
 */
static const struct scenario scenarios[] = {
	{ "soft then hard after max_attempts", 3, 1, 1, 0, 1,
	    { { 0, 'O', 'O', 'H', '-', '-', 0 }, { 10, 'C', 'C', 'S', '-', '-', -1 },
	        { 20, 'C', 'C', 'S', '-', '-', -1 }, { 30, 'C', 'C', 'H', 'P', '-', -1 },
	        { 40, 'C', 'C', 'H', '-', '-', -1 }, { 50, 'O', 'O', 'H', 'R', '-', -1 },
	        { 60, 'O', 'O', 'H', '-', '-', -1 } } },
	{ "soft recovery notifies nobody", 3, 1, 1, 0, 1,
	    { { 0, 'O', 'O', 'H', '-', '-', 0 }, { 10, 'C', 'C', 'S', '-', '-', -1 },
	        { 20, 'C', 'C', 'S', '-', '-', -1 }, { 30, 'O', 'O', 'H', '-', '-', -1 },
	        /* The attempts start over. */
	        { 40, 'C', 'C', 'S', '-', '-', -1 }, { 50, 'C', 'C', 'S', '-', '-', -1 },
	        { 60, 'C', 'C', 'H', 'P', '-', -1 } } },
	{ "max_attempts 1: hard at once; a first problem result", 1, 1, 1, 0, 1,
	    { { 0, 'C', 'C', 'H', 'P', '-', 0 },
	        { 10, 'O', 'O', 'H', 'R', '-', 6.25 } } },
	{ "a hard problem changing severity notifies, staying hard", 2, 1, 1, 0, 0,
	    { { 0, 'W', 'W', 'S', '-', '-', -1 }, { 10, 'W', 'W', 'H', 'P', '-', -1 },
	        { 20, 'C', 'C', 'H', 'P', '-', -1 }, { 30, 'W', 'W', 'H', 'P', '-', -1 },
	        { 40, 'U', 'U', 'H', 'P', '-', -1 },
	        { 50, 'O', 'O', 'H', 'R', '-', -1 } } },
	{ "a soft problem changing severity counts on", 3, 1, 1, 0, 0,
	    { { 0, 'W', 'W', 'S', '-', '-', -1 }, { 10, 'C', 'C', 'S', '-', '-', -1 },
	        { 20, 'C', 'C', 'H', 'P', '-', -1 } } },
	{ "stale data: UNKNOWN is a problem like the others", 2, 1, 1, 0, 0,
	    { { 0, 'O', 'O', 'H', '-', '-', -1 }, { 10, 'U', 'U', 'S', '-', '-', -1 },
	        { 20, 'U', 'U', 'H', 'P', '-', -1 },
	        { 30, 'O', 'O', 'H', 'R', '-', -1 } } },
	{ "2 of 3", 1, 2, 3, 0, 0,
	    { /* window C: 1 critical of 1 */
	        { 0, 'C', 'O', 'H', '-', '-', -1 },
	        /* O C */
	        { 10, 'O', 'O', 'H', '-', '-', -1 },
	        /* C O C: 2 of 3 */
	        { 20, 'C', 'C', 'H', 'P', '-', -1 },
	        /* O C O */
	        { 30, 'O', 'O', 'H', 'R', '-', -1 },
	        /* W O C: 1 critical, 2 at least warning */
	        { 40, 'W', 'W', 'H', 'P', '-', -1 },
	        /* C W O */
	        { 50, 'C', 'W', 'H', '-', '-', -1 },
	        /* C C W */
	        { 60, 'C', 'C', 'H', 'P', '-', -1 },
	        /* UNKNOWN bypasses the window and shows at once... */
	        { 70, 'U', 'U', 'H', 'P', '-', -1 },
	        /* ...and leaves it as it was: O C C */
	        { 80, 'O', 'C', 'H', 'P', '-', -1 },
	        /* O O C */
	        { 90, 'O', 'O', 'H', 'R', '-', -1 } } },
	{ "for 30s: hard only when the problem has lasted", 1, 1, 1, 30, 0,
	    { { 0, 'O', 'O', 'H', '-', '-', -1 }, { 10, 'C', 'C', 'S', '-', '-', -1 },
	        { 25, 'C', 'C', 'S', '-', '-', -1 }, { 40, 'C', 'C', 'H', 'P', '-', -1 },
	        { 50, 'O', 'O', 'H', 'R', '-', -1 },
	        /* An OK in between starts the clock again. */
	        { 60, 'C', 'C', 'S', '-', '-', -1 }, { 70, 'O', 'O', 'H', '-', '-', -1 },
	        { 75, 'C', 'C', 'S', '-', '-', -1 }, { 100, 'W', 'W', 'S', '-', '-', -1 },
	        { 105, 'C', 'C', 'H', 'P', '-', -1 } } },
	{ "for and max_attempts: both must hold", 3, 1, 1, 10, 0,
	    { { 0, 'C', 'C', 'S', '-', '-', -1 }, { 1, 'C', 'C', 'S', '-', '-', -1 },
	        { 2, 'C', 'C', 'S', '-', '-', -1 }, { 5, 'C', 'C', 'S', '-', '-', -1 },
	        { 10, 'C', 'C', 'H', 'P', '-', -1 } } },
	{ "flapping: problems held back, the recovery sent when it ends", 1, 1, 1, 0, 1,
	    { { 0, 'O', 'O', 'H', '-', '-', 0 }, { 1, 'C', 'C', 'H', 'P', '-', 6.25 },
	        { 2, 'O', 'O', 'H', 'R', '-', 12.368421 },
	        { 3, 'C', 'C', 'H', 'P', '-', 18.355263 },
	        { 4, 'O', 'O', 'H', 'R', '-', 24.210526 },
	        { 5, 'C', 'C', 'H', 'P', '-', 29.934211 },
	        /* 35.5 % >= 30: flapping; this recovery is held back. */
	        { 6, 'O', 'O', 'H', '-', 'F', 35.526316 },
	        /* Back to what was last notified: nothing to say. */
	        { 7, 'C', 'C', 'H', '-', 'F', 40.986842 },
	        { 8, 'O', 'O', 'H', '-', 'F', 46.315789 },
	        { 9, 'O', 'O', 'H', '-', 'F', 45.263158 },
	        { 10, 'O', 'O', 'H', '-', 'F', 44.210526 },
	        { 11, 'O', 'O', 'H', '-', 'F', 43.157895 },
	        { 12, 'O', 'O', 'H', '-', 'F', 42.105263 },
	        { 13, 'O', 'O', 'H', '-', 'F', 41.052632 },
	        { 14, 'O', 'O', 'H', '-', 'F', 40.0 },
	        { 15, 'O', 'O', 'H', '-', 'F', 38.947368 },
	        { 16, 'O', 'O', 'H', '-', 'F', 37.894737 },
	        { 17, 'O', 'O', 'H', '-', 'F', 36.842105 },
	        { 18, 'O', 'O', 'H', '-', 'F', 35.789474 },
	        { 19, 'O', 'O', 'H', '-', 'F', 34.736842 },
	        { 20, 'O', 'O', 'H', '-', 'F', 33.684211 },
	        /* The oldest change has left the 21 states. */
	        { 21, 'O', 'O', 'H', '-', 'F', 29.013158 },
	        { 22, 'O', 'O', 'H', '-', 'F', 24.473684 },
	        /* Just above 20: still flapping. */
	        { 23, 'O', 'O', 'H', '-', 'F', 20.065789 },
	        /* 15.8 % <= 20: flapping ends, and the held-back recovery goes out. */
	        { 24, 'O', 'O', 'H', 'R', '-', 15.789474 },
	        { 25, 'O', 'O', 'H', '-', '-', -1 } } },
	{ "flapping ends on a problem: the problem is sent", 1, 1, 1, 0, 1,
	    { /* A first result fills the history: no change yet. */
	        { 0, 'C', 'C', 'H', 'P', '-', 0 }, { 1, 'O', 'O', 'H', 'R', '-', 6.25 },
	        { 2, 'C', 'C', 'H', 'P', '-', 12.368421 },
	        { 3, 'O', 'O', 'H', 'R', '-', 18.355263 },
	        { 4, 'C', 'C', 'H', 'P', '-', 24.210526 },
	        { 5, 'O', 'O', 'H', 'R', '-', 29.934211 },
	        /* Flapping starts; the problem is held back. */
	        { 6, 'C', 'C', 'H', '-', 'F', 35.526316 },
	        /* 7 changes, each one place older every step (-7/38 = -0.184211). */
	        { 7, 'C', 'C', 'H', '-', 'F', 34.736842 },
	        { 8, 'C', 'C', 'H', '-', 'F', 33.947368 },
	        { 9, 'C', 'C', 'H', '-', 'F', 33.157895 },
	        { 10, 'C', 'C', 'H', '-', 'F', 32.368421 },
	        { 11, 'C', 'C', 'H', '-', 'F', 31.578947 },
	        { 12, 'C', 'C', 'H', '-', 'F', 30.789474 },
	        { 13, 'C', 'C', 'H', '-', 'F', 30.0 },
	        { 14, 'C', 'C', 'H', '-', 'F', 29.210526 },
	        { 15, 'C', 'C', 'H', '-', 'F', 28.421053 },
	        { 16, 'C', 'C', 'H', '-', 'F', 27.631579 },
	        { 17, 'C', 'C', 'H', '-', 'F', 26.842105 },
	        { 18, 'C', 'C', 'H', '-', 'F', 26.052632 },
	        { 19, 'C', 'C', 'H', '-', 'F', 25.263158 },
	        /* 6 changes at 1..6 */
	        { 20, 'C', 'C', 'H', '-', 'F', 24.473684 },
	        { 21, 'C', 'C', 'H', '-', 'F', 20.065789 },
	        { 22, 'C', 'C', 'H', 'P', '-', 15.789474 },
	        { 23, 'C', 'C', 'H', '-', '-', 11.644737 } } },
	{ "flap detection off", 1, 1, 1, 0, 0,
	    { { 0, 'O', 'O', 'H', '-', '-', 0 }, { 1, 'C', 'C', 'H', 'P', '-', -1 },
	        { 2, 'O', 'O', 'H', 'R', '-', -1 }, { 3, 'C', 'C', 'H', 'P', '-', -1 },
	        { 4, 'O', 'O', 'H', 'R', '-', -1 }, { 5, 'C', 'C', 'H', 'P', '-', -1 },
	        { 6, 'O', 'O', 'H', 'R', '-', 35.526316 },
	        { 7, 'C', 'C', 'H', 'P', '-', -1 } } },
};

static void
scenario_conf(const struct scenario *sc, struct check_conf *cc)
{
	char err[128];

	check_conf_defaults(cc);
	cc->max_attempts = sc->max_attempts;
	cc->n = sc->n;
	cc->m = sc->m;
	cc->for_ms = sc->for_s * 1000LL;
	cc->flap_detection = sc->flap;
	ck_assert_msg(check_conf_valid(cc, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(check_transitions)
{
	const struct scenario *sc = &scenarios[_i];
	struct check_conf cc;
	struct check c;
	struct check_step out;
	size_t i;

	scenario_conf(sc, &cc);
	check_init(&c);
	for (i = 0; i < NELEM(sc->rows) && sc->rows[i].in != 0; i++) {
		const struct row *r = &sc->rows[i];
		char why[64];
		snprintf(
		    why, sizeof(why), "%s: row %zu (t=%d, %c)", sc->name, i, r->t, r->in);
		check_step(&c, &cc, r->t * 1000LL, st(r->in), "why", &out);
		ck_assert_msg(out.state == st(r->state), "%s: state %s", why,
		    check_state_name(out.state));
		ck_assert_msg(out.hard == (r->hard == 'H'), "%s: %s", why,
		    out.hard ? "hard" : "soft");
		ck_assert_msg(out.notify == (r->notify == 'P'      ? CHECK_NOTIFY_PROBLEM
		                                : r->notify == 'R' ? CHECK_NOTIFY_RECOVERY
		                                                   : CHECK_NOTIFY_NONE),
		    "%s: notify %d", why, out.notify);
		ck_assert_msg(out.flapping == (r->flap == 'F'), "%s: flapping %d", why,
		    out.flapping);
		if (r->pct >= 0)
			ck_assert_msg(fabs(out.flap_pct - r->pct) < 1e-5, "%s: %.6f %%",
			    why, out.flap_pct);
		ck_assert(out.state == c.state && out.hard == c.hard);
	}
}
END_TEST

/* The events around flapping, and what a held-back hard change looks like. */
START_TEST(check_flap_events)
{
	static const char seq[] = "OCOCOCOC";
	struct check_conf cc;
	struct check c;
	struct check_step out;
	size_t i;

	check_conf_defaults(&cc);
	cc.max_attempts = 1;
	check_init(&c);
	for (i = 0; seq[i] != '\0'; i++) {
		check_step(&c, &cc, (int64_t)i * 1000, st(seq[i]), "x", &out);
		ck_assert_int_eq(out.flap_started, i == 6);
		ck_assert_int_eq(out.suppressed, i >= 6);
		ck_assert_int_eq(out.hard_change, i > 0);
		ck_assert_int_eq(out.flap_stopped, 0);
	}
	for (; i < 40; i++) {
		check_step(&c, &cc, (int64_t)i * 1000, CHECK_OK, "x", &out);
		ck_assert_int_eq(out.flap_stopped, i == 24);
		/* The recovery at 8 is held back; sent when flapping stops at 24. */
		ck_assert_int_eq(out.suppressed, i == 8);
		ck_assert_int_eq(
		    out.notify, i == 24 ? CHECK_NOTIFY_RECOVERY : CHECK_NOTIFY_NONE);
	}

	/* Weights by hand: one change as the oldest transition, then as the newest. */
	uint8_t h[CHECK_FLAP_STATES] = { 0 };
	h[0] = CHECK_CRITICAL; /* transition 1: 0.75 */
	ck_assert(fabs(check_flap_percent(h) - 3.75) < 1e-9);
	memset(h, 0, sizeof(h));
	h[20] = CHECK_WARNING; /* transition 20: 1.25 */
	ck_assert(fabs(check_flap_percent(h) - 6.25) < 1e-9);
	for (i = 0; i < CHECK_FLAP_STATES; i++)
		h[i] = (uint8_t)(i % 2 ? CHECK_OK : CHECK_UNKNOWN);
	/* Every transition a change: the weights sum to 20, 100 %. */
	ck_assert(fabs(check_flap_percent(h) - 100) < 1e-9);
}
END_TEST

/* Next-check advice: interval when hard, retry while soft, sooner when `for` ends. */
START_TEST(check_advice)
{
	struct check_conf cc;
	struct check c;
	struct check_step out;

	check_conf_defaults(&cc);
	cc.interval_ms = 60000;
	cc.retry_interval_ms = 15000;
	cc.max_attempts = 2;
	cc.for_ms = 40000;
	check_init(&c);
	check_step(&c, &cc, 0, CHECK_OK, NULL, &out);
	ck_assert_int_eq(out.next_check_ms, 60000);
	check_step(&c, &cc, 1000, CHECK_CRITICAL, "hot", &out);
	ck_assert_int_eq(out.attempt, 1);
	ck_assert_int_eq(out.next_check_ms, 15000);
	ck_assert_str_eq(c.reason, "hot");
	/* Attempts done at 16 s, 25 s of `for` left: retry interval is sooner. */
	check_step(&c, &cc, 16000, CHECK_CRITICAL, "hot", &out);
	ck_assert_int_eq(out.attempt, 2);
	ck_assert_int_eq(out.hard, 0);
	ck_assert_int_eq(out.next_check_ms, 15000);
	/* At 31 s, 10 s left: come back then. */
	check_step(&c, &cc, 31000, CHECK_CRITICAL, "hot", &out);
	ck_assert_int_eq(out.attempt, 2);
	ck_assert_int_eq(out.next_check_ms, 10000);
	check_step(&c, &cc, 41000, CHECK_CRITICAL, "hotter", &out);
	ck_assert_int_eq(out.hard, 1);
	ck_assert_int_eq(out.notify, CHECK_NOTIFY_PROBLEM);
	ck_assert_int_eq(out.next_check_ms, 60000);
	ck_assert_int_eq(c.since_ms, 41000);
	ck_assert_int_eq(c.problem_since_ms, 1000);
	ck_assert_str_eq(c.reason, "hotter");
	check_step(&c, &cc, 50000, CHECK_OK, NULL, &out);
	ck_assert_str_eq(c.reason, "");
	ck_assert_int_eq(c.problem_since_ms, 0);
}
END_TEST

static const char *const warn_words[] = { "testing", "OB", NULL };
static const char *const crit_words[] = { "down", "LB", NULL };

/* Classification of raw samples. */
START_TEST(check_classify_table)
{
	static const struct {
		const char *warn, *crit, *warn_rec, *crit_rec;
		enum check_kind kind;
		enum metric_kind mk;
		double num;
		const char *text;
		enum quality q;
		int64_t age_ms;
		enum check_state prev, want;
		const char *reason;
	} t[] = {
		/* Both directions: warn outside 10..30, critical outside 5..35. */
		{ "10:30", "5:35", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 20, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_OK, "" },
		{ "10:30", "5:35", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 7, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_WARNING, "7" },
		{ "10:30", "5:35", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 4, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_CRITICAL, "4" },
		{ "10:30", "5:35", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 33, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_WARNING, "33" },
		{ "10:30", "5:35", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 40.5, NULL, Q_OK,
		    0, CHECK_OK, CHECK_CRITICAL, "40.5" },
		{ "10:30", "5:35", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 30, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_OK, "" },
		/* Inside: alert within 10..20. */
		{ NULL, "@10:20", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 15, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_CRITICAL, "15" },
		{ NULL, "@10:20", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 25, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_OK, "" },
		/* Overheat: critical above 32, warning above 30, recover below 27. */
		{ "~:30", "~:32", NULL, "~:27", CHECK_NUMBER, MK_NUMBER, 31, NULL, Q_OK,
		    0, CHECK_OK, CHECK_WARNING, "31" },
		{ "~:30", "~:32", NULL, "~:27", CHECK_NUMBER, MK_NUMBER, 31, NULL, Q_OK,
		    0, CHECK_CRITICAL, CHECK_CRITICAL, "31" },
		{ "~:30", "~:32", NULL, "~:27", CHECK_NUMBER, MK_NUMBER, 28, NULL, Q_OK,
		    0, CHECK_CRITICAL, CHECK_CRITICAL, "28" },
		{ "~:30", "~:32", NULL, "~:27", CHECK_NUMBER, MK_NUMBER, 27, NULL, Q_OK,
		    0, CHECK_CRITICAL, CHECK_OK, "" },
		{ "~:30", "~:32", NULL, "~:27", CHECK_NUMBER, MK_NUMBER, 28, NULL, Q_OK,
		    0, CHECK_WARNING, CHECK_OK, "" },
		{ "~:30", "~:32", "~:28", "~:29", CHECK_NUMBER, MK_NUMBER, 28.5, NULL,
		    Q_OK, 0, CHECK_CRITICAL, CHECK_WARNING, "28.5" },
		{ "~:30", "~:32", "~:28", NULL, CHECK_NUMBER, MK_NUMBER, 29, NULL, Q_OK,
		    0, CHECK_WARNING, CHECK_WARNING, "29" },
		{ "~:30", "~:32", "~:28", NULL, CHECK_NUMBER, MK_NUMBER, 29, NULL, Q_OK,
		    0, CHECK_OK, CHECK_OK, "" },
		/* Stale, failed, old, wrong kind. */
		{ NULL, "~:32", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 40, NULL, Q_STALE, 0,
		    CHECK_OK, CHECK_UNKNOWN, "stale: no answer" },
		{ NULL, "~:32", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 40, NULL, Q_ERROR, 0,
		    CHECK_CRITICAL, CHECK_UNKNOWN, "error: no answer" },
		{ NULL, "~:32", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 40, NULL, Q_OK,
		    20000, CHECK_OK, CHECK_UNKNOWN, "stale: last sample 20s ago" },
		{ NULL, "~:32", NULL, NULL, CHECK_NUMBER, MK_NUMBER, 40, NULL, Q_OK,
		    15000, CHECK_OK, CHECK_CRITICAL, "40" },
		{ NULL, "~:32", NULL, NULL, CHECK_NUMBER, MK_TEXT, 0, "OL", Q_OK, 0,
		    CHECK_OK, CHECK_UNKNOWN, "not a number" },
		{ NULL, "~:32", NULL, NULL, CHECK_NUMBER, MK_NUMBER, NAN, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_UNKNOWN, "not a number" },
		/* Bool: on_battery is a warning. */
		{ NULL, NULL, NULL, NULL, CHECK_BOOL, MK_BOOL, 1, NULL, Q_OK, 0, CHECK_OK,
		    CHECK_WARNING, "true" },
		{ NULL, NULL, NULL, NULL, CHECK_BOOL, MK_BOOL, 0, NULL, Q_OK, 0,
		    CHECK_WARNING, CHECK_OK, "" },
		{ NULL, NULL, NULL, NULL, CHECK_BOOL, MK_TEXT, 0, "x", Q_OK, 0, CHECK_OK,
		    CHECK_UNKNOWN, "not true/false" },
		/* Enum: the whole value. */
		{ NULL, NULL, NULL, NULL, CHECK_ENUM, MK_TEXT, 0, "down", Q_OK, 0,
		    CHECK_OK, CHECK_CRITICAL, "\"down\"" },
		{ NULL, NULL, NULL, NULL, CHECK_ENUM, MK_TEXT, 0, "testing", Q_OK, 0,
		    CHECK_OK, CHECK_WARNING, "\"testing\"" },
		{ NULL, NULL, NULL, NULL, CHECK_ENUM, MK_TEXT, 0, "up", Q_OK, 0, CHECK_OK,
		    CHECK_OK, "" },
		{ NULL, NULL, NULL, NULL, CHECK_ENUM, MK_TEXT, 0, "down up", Q_OK, 0,
		    CHECK_OK, CHECK_OK, "" },
		{ NULL, NULL, NULL, NULL, CHECK_ENUM, MK_NUMBER, 1, NULL, Q_OK, 0,
		    CHECK_OK, CHECK_UNKNOWN, "not text" },
		/* Flags: UPS status words. */
		{ NULL, NULL, NULL, NULL, CHECK_FLAGS, MK_TEXT, 0, "OL", Q_OK, 0,
		    CHECK_OK, CHECK_OK, "" },
		{ NULL, NULL, NULL, NULL, CHECK_FLAGS, MK_TEXT, 0, "OB", Q_OK, 0,
		    CHECK_OK, CHECK_WARNING, "\"OB\"" },
		{ NULL, NULL, NULL, NULL, CHECK_FLAGS, MK_TEXT, 0, "OB LB", Q_OK, 0,
		    CHECK_OK, CHECK_CRITICAL, "\"OB LB\"" },
		{ NULL, NULL, NULL, NULL, CHECK_FLAGS, MK_TEXT, 0, " LB  OB ", Q_OK, 0,
		    CHECK_OK, CHECK_CRITICAL, "\" LB  OB \"" },
		{ NULL, NULL, NULL, NULL, CHECK_FLAGS, MK_TEXT, 0, "OBX OL", Q_OK, 0,
		    CHECK_OK, CHECK_OK, "" },
		{ NULL, NULL, NULL, NULL, CHECK_FLAGS, MK_TEXT, 0, "", Q_OK, 0, CHECK_OK,
		    CHECK_OK, "" },
	};
	struct check_def d;
	struct sample smp;
	char reason[128];
	enum check_state got;
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		memset(&d, 0, sizeof(d));
		d.kind = t[i].kind;
		d.when_true = CHECK_WARNING;
		d.warn_words = warn_words;
		d.crit_words = crit_words;
		d.stale_ms = 15000;
		if (t[i].warn != NULL)
			ck_assert_int_eq(check_range_parse(t[i].warn, &d.warn), 0);
		if (t[i].crit != NULL)
			ck_assert_int_eq(check_range_parse(t[i].crit, &d.crit), 0);
		if (t[i].warn_rec != NULL)
			ck_assert_int_eq(
			    check_range_parse(t[i].warn_rec, &d.warn_recover), 0);
		if (t[i].crit_rec != NULL)
			ck_assert_int_eq(
			    check_range_parse(t[i].crit_rec, &d.crit_recover), 0);
		memset(&smp, 0, sizeof(smp));
		smp.t_ms = 100000 - t[i].age_ms;
		smp.num = t[i].num;
		smp.text = t[i].text;
		smp.q = t[i].q;
		smp.reason = t[i].q != Q_OK ? "no answer" : NULL;
		got = check_classify(
		    &d, t[i].mk, &smp, 100000, t[i].prev, reason, sizeof(reason));
		ck_assert_msg(got == t[i].want, "row %zu: %s, expected %s", i,
		    check_state_name(got), check_state_name(t[i].want));
		ck_assert_msg(strcmp(reason, t[i].reason) == 0, "row %zu: reason \"%s\"",
		    i, reason);
	}
	got = check_classify(&d, MK_TEXT, NULL, 0, CHECK_OK, reason, sizeof(reason));
	ck_assert_int_eq(got, CHECK_UNKNOWN);
	ck_assert_str_eq(reason, "no data yet");
}
END_TEST

/* Hysteresis through the state machine: the overheat rule of the demo. */
START_TEST(check_hysteresis_steps)
{
	static const struct {
		double v;
		char state;
	} temps[] = { { 26, 'O' }, { 31, 'W' }, { 33, 'C' }, { 30, 'C' }, { 28, 'C' },
		{ 26.9, 'O' }, { 29, 'O' }, { 31, 'W' }, { 29, 'O' } };
	struct check_conf cc;
	struct check_def d;
	struct check c;
	struct check_step out;
	size_t i;

	check_conf_defaults(&cc);
	cc.max_attempts = 1;
	cc.flap_detection = 0;
	memset(&d, 0, sizeof(d));
	d.kind = CHECK_NUMBER;
	ck_assert_int_eq(check_range_parse("~:30", &d.warn), 0);
	ck_assert_int_eq(check_range_parse("~:32", &d.crit), 0);
	ck_assert_int_eq(check_range_parse("~:27", &d.crit_recover), 0);
	check_init(&c);
	for (i = 0; i < NELEM(temps); i++) {
		struct sample smp = { .t_ms = (int64_t)i * 1000, .num = temps[i].v };
		check_step_sample(&c, &cc, &d, MK_NUMBER, &smp, (int64_t)i * 1000, &out);
		ck_assert_msg(out.state == st(temps[i].state), "%g: %s", temps[i].v,
		    check_state_name(out.state));
	}
	/* A stale sample is UNKNOWN with the reason. */
	{
		struct sample smp = { .t_ms = 0, .q = Q_STALE, .reason = "contact lost" };
		check_step_sample(&c, &cc, &d, MK_NUMBER, &smp, 20000, &out);
		ck_assert_int_eq(out.state, CHECK_UNKNOWN);
		ck_assert_str_eq(c.reason, "stale: contact lost");
	}
}
END_TEST

START_TEST(check_ranges)
{
	static const struct {
		const char *s;
		int ok, inside;
		double lo, hi;
	} t[] = {
		{ "10", 1, 0, 0, 10 }, { "10:", 1, 0, 10, INFINITY },
		{ "~:10", 1, 0, -INFINITY, 10 }, { "-5:10.5", 1, 0, -5, 10.5 },
		{ "@10:20", 1, 1, 10, 20 }, { "@~:0", 1, 1, -INFINITY, 0 },
		{ "", 0, 0, 0, 0 }, { "@", 0, 0, 0, 0 }, { "20:10", 0, 0, 0, 0 },
		{ "abc", 0, 0, 0, 0 }, { "1:x", 0, 0, 0, 0 }, { "x:1", 0, 0, 0, 0 },
		{ "1e999", 0, 0, 0, 0 }, { "-5", 0, 0, 0, 0 }, /* 0..-5 is empty */
	};
	struct check_range r;
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		int rc = check_range_parse(t[i].s, &r);
		ck_assert_msg((rc == 0) == t[i].ok, "\"%s\": %d", t[i].s, rc);
		if (!t[i].ok)
			continue;
		ck_assert_int_eq(r.set, 1);
		ck_assert_int_eq(r.inside, t[i].inside);
		ck_assert(r.lo == t[i].lo && r.hi == t[i].hi);
	}
	check_range_parse("10:20", &r);
	ck_assert_int_eq(check_range_alerts(&r, 9.99), 1);
	ck_assert_int_eq(check_range_alerts(&r, 10), 0);
	ck_assert_int_eq(check_range_alerts(&r, 20), 0);
	ck_assert_int_eq(check_range_alerts(&r, 20.01), 1);
	r.set = 0;
	ck_assert_int_eq(check_range_alerts(&r, 100), 0);
}
END_TEST

START_TEST(check_conf_checks)
{
	struct check_conf cc;
	char err[128];

	check_conf_defaults(&cc);
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), 0);
	ck_assert_int_eq(cc.max_attempts, 3);
	ck_assert_double_eq(cc.flap_low, 20);
	ck_assert_double_eq(cc.flap_high, 30);
	cc.max_attempts = 0;
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "max_attempts must be at least 1");
	check_conf_defaults(&cc);
	cc.n = 3;
	cc.m = 2;
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "N of M needs 1 <= N <= M <= 16");
	cc.n = 1;
	cc.m = 17;
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), -1);
	check_conf_defaults(&cc);
	cc.flap_low = 30;
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "flapping needs 0 <= low < high <= 100 (percent)");
	cc.flap_detection = 0;
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), 0);
	check_conf_defaults(&cc);
	cc.for_ms = -1;
	ck_assert_int_eq(check_conf_valid(&cc, err, sizeof(err)), -1);
	ck_assert_str_eq(check_state_name(CHECK_WARNING), "warning");
	ck_assert_int_eq(check_state_from_name("unknown"), CHECK_UNKNOWN);
	ck_assert_int_eq(check_state_from_name("bad"), -1);
}
END_TEST

/* Restored mid-flap and mid-window, a check goes on exactly as the original. */
START_TEST(check_json_round_trip)
{
	static const char seq[] = "OCOCOCOCOWWUCCOOCW";
	struct check_conf cc;
	struct check a, b;
	struct check_step oa, ob;
	char err[128], *text;
	json_t *j, *k;
	size_t i;

	/* Run 0 is flapping when saved, run 1 is in the middle of a 2 of 4 window. */
	check_conf_defaults(&cc);
	cc.max_attempts = 2;
	cc.for_ms = 1500;
	if (_i == 1) {
		cc.n = 2;
		cc.m = 4;
	}
	check_init(&a);
	for (i = 0; i < 10; i++)
		check_step(&a, &cc, (int64_t)i * 1000, st(seq[i]), "because", &oa);
	if (_i == 0)
		ck_assert_int_eq(a.flapping, 1);
	else
		ck_assert_int_eq(a.nwindow, 4);
	j = check_to_json(&a);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(j);
	free(text);
	ck_assert_int_eq(check_from_json(&b, j, err, sizeof(err)), 0);
	json_decref(j);
	ck_assert_int_eq(b.state, a.state);
	ck_assert_int_eq(b.hard, a.hard);
	ck_assert_int_eq(b.hard_state, a.hard_state);
	ck_assert_int_eq(b.notified, a.notified);
	ck_assert_int_eq(b.attempt, a.attempt);
	ck_assert_int_eq(b.since_ms, a.since_ms);
	ck_assert_int_eq(b.problem_since_ms, a.problem_since_ms);
	ck_assert_int_eq(b.nwindow, a.nwindow);
	ck_assert_mem_eq(b.window, a.window, (size_t)a.nwindow);
	ck_assert_mem_eq(b.flap, a.flap, CHECK_FLAP_STATES);
	ck_assert_int_eq(b.flapping, a.flapping);
	ck_assert(b.flap_pct == a.flap_pct);
	ck_assert_str_eq(b.reason, a.reason);
	for (; seq[i] != '\0'; i++) {
		check_step(&a, &cc, (int64_t)i * 1000, st(seq[i]), "because", &oa);
		check_step(&b, &cc, (int64_t)i * 1000, st(seq[i]), "because", &ob);
		ck_assert_mem_eq(&oa, &ob, sizeof(oa));
	}

	/* Damaged state is refused, leaving a fresh check. */
	static const char *const broken[] = {
		"{}",
		"[]",
		"{\"started\": true}",
	};
	for (i = 0; i < NELEM(broken); i++) {
		k = json_loads(broken[i], 0, NULL);
		ck_assert_int_eq(check_from_json(&b, k, err, sizeof(err)), -1);
		ck_assert_int_eq(b.state, CHECK_OK);
		json_decref(k);
	}
	static const struct {
		const char *key, *value;
	} bad_fields[] = {
		{ "state", "meh" },
		{ "flap", "OOO" },
		{ "flap", "OOOOOOOOOOOOOOOOOOOOX" },
		{ "window", "OOOOOOOOOOOOOOOOO" },
		{ "notified", "" },
	};
	for (i = 0; i < NELEM(bad_fields); i++) {
		j = check_to_json(&a);
		json_object_set_new(
		    j, bad_fields[i].key, json_string(bad_fields[i].value));
		ck_assert_msg(check_from_json(&b, j, err, sizeof(err)) == -1, "%s",
		    bad_fields[i].key);
		json_decref(j);
	}
	j = check_to_json(&a);
	json_object_set_new(j, "attempt", json_integer(0));
	ck_assert_int_eq(check_from_json(&b, j, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "check state: attempt 0 out of range");
	json_object_set_new(j, "attempt", json_integer(1));
	json_object_set_new(j, "extra", json_true());
	ck_assert_int_eq(check_from_json(&b, j, err, sizeof(err)), -1);
	json_decref(j);
}
END_TEST

static Suite *
check_suite(void)
{
	Suite *s = suite_create("check");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, check_transitions, 0, NELEM(scenarios));
	tcase_add_test(tc, check_flap_events);
	tcase_add_test(tc, check_advice);
	tcase_add_test(tc, check_classify_table);
	tcase_add_test(tc, check_hysteresis_steps);
	tcase_add_test(tc, check_ranges);
	tcase_add_test(tc, check_conf_checks);
	tcase_add_loop_test(tc, check_json_round_trip, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(check_suite());
}

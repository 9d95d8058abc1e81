/*
 * store.c: series by "device.metric", per-device order, the history ring,
 * degrading and dropping devices.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

static void
push(struct series *s, int64_t t, double v, enum quality q, const char *reason)
{
	struct sample smp = { .t_ms = t, .num = v, .q = q, .reason = reason };

	series_update(s, &smp);
}

/* Assert the ring holds exactly the values want[0..n), oldest first, at t = v * 10. */
static void
expect_history(const struct series *s, const double *want, size_t n)
{
	struct hist_point pts[64];
	size_t got = series_history(s, pts, NELEM(pts)), i;

	ck_assert_msg(got == n, "%s: %zu points, expected %zu", series_name(s), got, n);
	for (i = 0; i < n; i++) {
		ck_assert_msg(pts[i].v == want[i], "point %zu: %g, expected %g", i,
		    pts[i].v, want[i]);
		ck_assert_int_eq(pts[i].t_ms, (int64_t)(want[i] * 10));
	}
}

START_TEST(store_create_and_lookup)
{
	struct store *st = store_new(10);
	struct series *a, *b, *c;
	struct sample smp;

	ck_assert_uint_eq(store_count(st), 0);
	ck_assert_ptr_null(store_lookup(st, "ups1.charge_pct"));
	ck_assert_ptr_null(store_first(st, "ups1"));

	a = store_series(st, "ups1", "charge_pct", MK_NUMBER, "%");
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(series_name(a), "charge_pct");
	ck_assert_str_eq(series_unit(a), "%");
	ck_assert_int_eq(series_kind(a), MK_NUMBER);
	ck_assert_ptr_eq(store_lookup(st, "ups1.charge_pct"), a);
	/* Not polled yet: no latest sample. */
	ck_assert_int_eq(series_latest(a, &smp), -1);

	/* The same key finds the same series; a unit given later replaces the old one. */
	ck_assert_ptr_eq(store_series(st, "ups1", "charge_pct", MK_NUMBER, NULL), a);
	ck_assert_str_eq(series_unit(a), "%");
	ck_assert_ptr_eq(store_series(st, "ups1", "charge_pct", MK_NUMBER, "pct"), a);
	ck_assert_str_eq(series_unit(a), "pct");

	b = store_series(st, "ups1", "status", MK_TEXT, NULL);
	c = store_series(st, "ups10", "status", MK_TEXT, NULL);
	ck_assert_ptr_ne(b, c);
	ck_assert_ptr_null(series_unit(b));
	ck_assert_uint_eq(store_count(st), 3);
	ck_assert_ptr_eq(store_lookup(st, "ups1.status"), b);
	ck_assert_ptr_eq(store_lookup(st, "ups10.status"), c);
	ck_assert_ptr_null(store_lookup(st, "ups1"));
	ck_assert_ptr_null(store_lookup(st, "ups1.stat"));

	push(a, 1000, 87.5, Q_OK, NULL);
	ck_assert_int_eq(series_latest(a, &smp), 0);
	ck_assert_int_eq(smp.t_ms, 1000);
	ck_assert_double_eq(smp.num, 87.5);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_ptr_null(smp.reason);

	{
		struct sample t = { .t_ms = 2000, .text = "OB LB", .q = Q_OK };
		series_update(b, &t);
	}
	ck_assert_int_eq(series_latest(b, &smp), 0);
	ck_assert_str_eq(smp.text, "OB LB");
	store_free(st);
	store_free(NULL);
}
END_TEST

START_TEST(store_device_order)
{
	static const char *const names[] = { "on_battery", "charge_pct", "runtime_s",
		"status", "input_voltage", "a_first_alphabetically" };
	struct store *st = store_new(5);
	struct series *s;
	size_t i;

	for (i = 0; i < NELEM(names); i++) {
		store_series(st, "ups1", names[i], i == 3 ? MK_TEXT : MK_NUMBER, NULL);
		store_series(st, "env1", names[NELEM(names) - 1 - i], MK_NUMBER, NULL);
	}
	/* Lookups of existing series do not move them. */
	store_series(st, "ups1", "charge_pct", MK_NUMBER, NULL);
	for (i = 0, s = store_first(st, "ups1"); s != NULL; s = store_next(s), i++) {
		ck_assert_uint_lt(i, NELEM(names));
		ck_assert_str_eq(series_name(s), names[i]);
	}
	ck_assert_uint_eq(i, NELEM(names));
	for (i = 0, s = store_first(st, "env1"); s != NULL; s = store_next(s), i++)
		ck_assert_str_eq(series_name(s), names[NELEM(names) - 1 - i]);
	ck_assert_uint_eq(i, NELEM(names));
	ck_assert_ptr_null(store_first(st, "nosuch"));
	store_free(st);
}
END_TEST

START_TEST(store_ring_wraps)
{
	static const double last5[] = { 8, 9, 10, 11, 12 };
	static const double first3[] = { 1, 2, 3 };
	struct store *st = store_new(5);
	struct series *s = store_series(st, "ups1", "charge_pct", MK_NUMBER, "%");
	struct hist_point pts[2];
	int v;

	expect_history(s, NULL, 0);
	for (v = 1; v <= 3; v++)
		push(s, v * 10, v, Q_OK, NULL);
	expect_history(s, first3, 3);
	for (; v <= 12; v++)
		push(s, v * 10, v, Q_OK, NULL);
	expect_history(s, last5, 5);

	/* Asking for fewer gives the newest, still oldest first. */
	ck_assert_uint_eq(series_history(s, pts, 2), 2);
	ck_assert_double_eq(pts[0].v, 11);
	ck_assert_double_eq(pts[1].v, 12);
	store_free(st);
}
END_TEST

START_TEST(store_history_resize)
{
	static const double after_shrink[] = { 10, 11, 12 };
	static const double after_grow[] = { 10, 11, 12, 13, 14, 15, 16 };
	static const double after_grow2[] = { 11, 12, 13, 14, 15, 16, 17, 18 };
	struct store *st = store_new(5);
	struct series *s = store_series(st, "ups1", "charge_pct", MK_NUMBER, "%");
	struct series *t = store_series(st, "ups1", "status", MK_TEXT, NULL);
	int v;

	for (v = 1; v <= 12; v++)
		push(s, v * 10, v, Q_OK, NULL);
	store_set_history(st, 3);
	expect_history(s, after_shrink, 3);
	store_set_history(st, 8);
	expect_history(s, after_shrink, 3);
	for (v = 13; v <= 16; v++)
		push(s, v * 10, v, Q_OK, NULL);
	expect_history(s, after_grow, 7);
	for (v = 17; v <= 18; v++)
		push(s, v * 10, v, Q_OK, NULL);
	expect_history(s, after_grow2, 8);

	/* New series take the new size. */
	s = store_series(st, "ups2", "charge_pct", MK_NUMBER, "%");
	for (v = 1; v <= 20; v++)
		push(s, v * 10, v, Q_OK, NULL);
	ck_assert_uint_eq(series_history(s, (struct hist_point[64]){ { 0, 0 } }, 64), 8);

	/* History 0 keeps none, and keeps storing the latest value. */
	store_set_history(st, 0);
	expect_history(s, NULL, 0);
	push(s, 500, 50, Q_OK, NULL);
	expect_history(s, NULL, 0);
	{
		struct sample smp;
		ck_assert_int_eq(series_latest(s, &smp), 0);
		ck_assert_double_eq(smp.num, 50);
	}
	/* Text series never have history. */
	expect_history(t, NULL, 0);
	store_free(st);
}
END_TEST

START_TEST(store_bad_samples_skip_ring)
{
	static const double want[] = { 1, 3 };
	struct store *st = store_new(5);
	struct series *s = store_series(st, "env1", "temp_c", MK_NUMBER, "C");
	struct sample smp;

	push(s, 10, 1, Q_OK, NULL);
	push(s, 20, 2, Q_ERROR, "sensor open circuit");
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_int_eq(smp.q, Q_ERROR);
	ck_assert_str_eq(smp.reason, "sensor open circuit");
	ck_assert_int_eq(smp.t_ms, 20);
	push(s, 25, 2.5, Q_STALE, "contact lost: no answer");
	push(s, 27, NAN, Q_OK, NULL);
	push(s, 30, 3, Q_OK, "ignored for an ok sample");
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_ptr_null(smp.reason);
	expect_history(s, want, 2);
	store_free(st);
}
END_TEST

START_TEST(store_degrade_keeps_values)
{
	struct store *st = store_new(5);
	struct series *a = store_series(st, "ups1", "charge_pct", MK_NUMBER, "%");
	struct series *b = store_series(st, "ups1", "status", MK_TEXT, NULL);
	struct series *c = store_series(st, "ups2", "charge_pct", MK_NUMBER, "%");
	struct sample smp, txt = { .t_ms = 100, .text = "OL", .q = Q_OK };
	char longreason[400];

	push(a, 640, 64, Q_OK, NULL);
	series_update(b, &txt);
	push(c, 100, 99, Q_OK, NULL);
	store_degrade_device(st, "ups1", Q_STALE, "contact lost: no answer within 1s");

	ck_assert_int_eq(series_latest(a, &smp), 0);
	ck_assert_int_eq(smp.q, Q_STALE);
	ck_assert_str_eq(smp.reason, "contact lost: no answer within 1s");
	ck_assert_double_eq(smp.num, 64);
	ck_assert_int_eq(smp.t_ms, 640);
	ck_assert_int_eq(series_latest(b, &smp), 0);
	ck_assert_int_eq(smp.q, Q_STALE);
	ck_assert_str_eq(smp.text, "OL");
	ck_assert_str_eq(smp.reason, "contact lost: no answer within 1s");
	/* Other devices are not touched. */
	ck_assert_int_eq(series_latest(c, &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_ptr_null(smp.reason);

	/* A new reason replaces the old; reasons are bounded. */
	memset(longreason, 'r', sizeof(longreason) - 1);
	longreason[sizeof(longreason) - 1] = '\0';
	store_degrade_device(st, "ups1", Q_STALE, longreason);
	ck_assert_int_eq(series_latest(a, &smp), 0);
	ck_assert_uint_eq(strlen(smp.reason), 256);
	ck_assert_int_eq(strncmp(smp.reason, longreason, 256), 0);

	/* The ring keeps only the good sample. */
	{
		static const double want[] = { 64 };
		expect_history(a, want, 1);
	}
	/* An unknown device is ignored. */
	store_degrade_device(st, "nosuch", Q_STALE, "x");
	/* A good sample makes it ok again. */
	push(a, 650, 65, Q_OK, NULL);
	ck_assert_int_eq(series_latest(a, &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_ptr_null(smp.reason);
	store_free(st);
}
END_TEST

START_TEST(store_kind_change_resets)
{
	struct store *st = store_new(5);
	struct series *s = store_series(st, "ups1", "alarm", MK_NUMBER, NULL), *again;
	struct sample smp, txt = { .t_ms = 50, .text = "none", .q = Q_OK };
	int v;

	for (v = 1; v <= 4; v++)
		push(s, v * 10, v, Q_OK, NULL);
	again = store_series(st, "ups1", "alarm", MK_TEXT, NULL);
	ck_assert_ptr_eq(again, s);
	ck_assert_int_eq(series_kind(s), MK_TEXT);
	ck_assert_int_eq(series_latest(s, &smp), -1);
	expect_history(s, NULL, 0);
	series_update(s, &txt);
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_str_eq(smp.text, "none");

	/* And back to a number: a fresh ring. */
	store_series(st, "ups1", "alarm", MK_BOOL, NULL);
	ck_assert_int_eq(series_latest(s, &smp), -1);
	push(s, 60, 1, Q_OK, NULL);
	{
		static const double want[] = { 1 };
		struct hist_point pts[4];
		ck_assert_uint_eq(series_history(s, pts, 4), 1);
		ck_assert_double_eq(pts[0].v, want[0]);
	}
	ck_assert_uint_eq(store_count(st), 1);
	store_free(st);
}
END_TEST

START_TEST(store_drop_device_forgets)
{
	struct store *st = store_new(5);
	struct series *s;

	store_series(st, "ups1", "charge_pct", MK_NUMBER, "%");
	store_series(st, "ups1", "status", MK_TEXT, NULL);
	store_series(st, "ups10", "charge_pct", MK_NUMBER, "%");
	ck_assert_uint_eq(store_count(st), 3);
	store_drop_device(st, "ups1");
	ck_assert_uint_eq(store_count(st), 1);
	ck_assert_ptr_null(store_lookup(st, "ups1.charge_pct"));
	ck_assert_ptr_null(store_lookup(st, "ups1.status"));
	ck_assert_ptr_null(store_first(st, "ups1"));
	ck_assert_ptr_nonnull(store_lookup(st, "ups10.charge_pct"));
	store_drop_device(st, "ups1"); /* twice: nothing happens */
	store_drop_device(st, "nosuch");

	/* The name can come back, starting afresh. */
	s = store_series(st, "ups1", "charge_pct", MK_NUMBER, NULL);
	ck_assert_ptr_null(series_unit(s));
	ck_assert_ptr_eq(store_first(st, "ups1"), s);
	ck_assert_ptr_null(store_next(s));
	ck_assert_uint_eq(store_count(st), 2);
	store_free(st);
}
END_TEST

START_TEST(store_names_table)
{
	static const struct {
		int v;
		const char *name;
	} q[] = { { Q_OK, "ok" }, { Q_STALE, "stale" }, { Q_ERROR, "error" } },
	  k[] = { { MK_NUMBER, "number" }, { MK_BOOL, "bool" }, { MK_TEXT, "text" } };
	size_t i;

	for (i = 0; i < NELEM(q); i++) {
		ck_assert_str_eq(quality_name((enum quality)q[i].v), q[i].name);
		ck_assert_int_eq(quality_from_name(q[i].name), q[i].v);
		ck_assert_str_eq(metric_kind_name((enum metric_kind)k[i].v), k[i].name);
		ck_assert_int_eq(metric_kind_from_name(k[i].name), k[i].v);
	}
	ck_assert_str_eq(quality_name((enum quality)7), "?");
	ck_assert_int_eq(quality_from_name("OK"), -1);
	ck_assert_str_eq(metric_kind_name((enum metric_kind)7), "?");
	ck_assert_int_eq(metric_kind_from_name("string"), -1);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_test(tc, store_create_and_lookup);
	tcase_add_test(tc, store_device_order);
	tcase_add_test(tc, store_ring_wraps);
	tcase_add_test(tc, store_history_resize);
	tcase_add_test(tc, store_bad_samples_skip_ring);
	tcase_add_test(tc, store_degrade_keeps_values);
	tcase_add_test(tc, store_kind_change_resets);
	tcase_add_test(tc, store_drop_device_forgets);
	tcase_add_test(tc, store_names_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(store_suite());
}

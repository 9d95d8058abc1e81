/*
 * history.c: an incident's readings (the store's ring first, then every poll,
 * capped, appended after a restart, devices folded in later), the hourly
 * counters and their month files (hour and month boundaries, a restart
 * splitting an hour), and the readers report_data.c builds on.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define H      ((int64_t)1795683600000) /* 2026-11-26T09:00:00Z */
#define MIN    ((int64_t)60000)
#define HOUR   (60 * MIN)
#define NOV_30 ((int64_t)1796079600000) /* 2026-11-30T23:00:00Z */

static const char *dir;

static void
setup(void)
{
	dir = testutil_tmpdir("check_history");
}

static void
teardown(void)
{
	testutil_rmdir();
}

/* A poll of dev at t: each metric in names gets value vals[i] (NAN: bad). */
static void
poll_at(struct history *h, struct store *st, const char *dev, const char *kind, int64_t t,
    const char *const *names, const double *vals, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct series *s = store_series(st, dev, names[i], MK_NUMBER,
		    strcmp(names[i], "runtime_s") == 0 ? "s" : "%");
		struct sample smp = { .t_ms = t, .num = vals[i], .q = Q_OK };
		if (vals[i] != vals[i]) {
			smp.q = Q_ERROR;
			smp.reason = "unreadable";
		}
		series_update(s, &smp);
	}
	history_poll(h, st, dev, kind, 1, t);
}

static void
poll_runtime(struct history *h, struct store *st, const char *dev, int64_t t, double v)
{
	static const char *const names[] = { "runtime_s" };

	poll_at(h, st, dev, "ups", t, names, &v, 1);
}

/* The lines of a file, parsed; NULL if it does not exist. */
static json_t *
lines_of(const char *path)
{
	json_t *a, *o;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	a = json_array();
	while ((len = getline(&line, &cap, f)) != -1) {
		o = json_loadb(line, (size_t)len, 0, NULL);
		ck_assert_msg(o != NULL, "%s: not JSON: %s", path, line);
		json_array_append_new(a, o);
	}
	free(line);
	fclose(f);
	return a;
}

static json_t *
readings(uint64_t id)
{
	char *p = history_readings_path(dir, id);
	json_t *a = lines_of(p);

	free(p);
	return a;
}

static json_t *
month(int64_t ms)
{
	char *p = history_month_path(dir, ms);
	json_t *a = lines_of(p);

	free(p);
	return a;
}

static int64_t
ji(const json_t *o, const char *k)
{
	return (int64_t)json_integer_value(json_object_get(o, k));
}

static void
devs_of(struct conf_strings *cs, const char *dev)
{
	memset(cs, 0, sizeof(*cs));
	conf_strings_add(cs, dev);
}

START_TEST(readings_context_then_polls)
{
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	struct conf_strings devs;
	struct series *txt, *b;
	struct sample smp = { .t_ms = 3000, .text = "OL", .q = Q_OK };
	json_t *a, *l, *r, *s;

	/* Three good readings and a bad one before the incident: the ring. */
	poll_runtime(NULL, st, "ups1", 1000, 1200);
	poll_runtime(NULL, st, "ups1", 2000, 1100);
	poll_runtime(NULL, st, "ups1", 3000, 1000);
	txt = store_series(st, "ups1", "status", MK_TEXT, NULL);
	series_update(txt, &smp);
	b = store_series(st, "ups1", "on_battery", MK_BOOL, NULL);
	smp.num = 1;
	series_update(b, &smp);
	devs_of(&devs, "ups1");
	history_incident_open(h, 7, &devs, st);
	a = readings(7);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(json_array_size(a), 3); /* numbers only, no text, no bool */
	l = json_array_get(a, 0);
	ck_assert_int_eq(ji(l, "t"), 1000);
	ck_assert_str_eq(json_string_value(json_object_get(l, "d")), "ups1");
	ck_assert_str_eq(json_string_value(json_object_get(l, "m")), "runtime_s");
	ck_assert(json_number_value(json_object_get(l, "v")) == 1200);
	ck_assert_str_eq(json_string_value(json_object_get(l, "u")), "s");
	ck_assert_int_eq(json_object_size(l), 5);
	json_decref(a);

	/* Polls of its device are recorded, others' not, nor after it closed. */
	poll_runtime(h, st, "ups1", 4000, 900);
	poll_runtime(h, st, "ups2", 4000, 2000);
	{
		static const char *const names[] = { "runtime_s", "charge_pct" };
		double vals[] = { NAN, 50 };
		poll_at(h, st, "ups1", "ups", 5000, names, vals, 2); /* one bad */
	}
	history_incident_close(h, 7);
	poll_runtime(h, st, "ups1", 6000, 700);
	a = readings(7);
	ck_assert_int_eq(json_array_size(a), 5);
	ck_assert_int_eq(ji(json_array_get(a, 3), "t"), 4000);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 4), "m")), "charge_pct");
	json_decref(a);

	/* The reader: one series per metric, time order, key metrics marked. */
	r = report_readings(dir, 7, NULL);
	ck_assert(json_is_false(json_object_get(r, "truncated")));
	ck_assert_int_eq(ji(r, "from_ms"), 1000);
	ck_assert_int_eq(ji(r, "to_ms"), 5000);
	ck_assert_int_eq(json_array_size(json_object_get(r, "series")), 2);
	s = json_array_get(json_object_get(r, "series"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(s, "metric")), "runtime_s");
	ck_assert(json_is_true(json_object_get(s, "key")));
	ck_assert_int_eq(json_array_size(json_object_get(s, "points")), 4);
	ck_assert_int_eq(json_integer_value(json_array_get(
	                     json_array_get(json_object_get(s, "points"), 3), 0)),
	    4000);
	json_decref(r);
	/* No file: no series. */
	r = report_readings(dir, 8, NULL);
	ck_assert_int_eq(json_array_size(json_object_get(r, "series")), 0);
	json_decref(r);
	conf_strings_free(&devs);
	history_free(h);
	store_free(st);
}
END_TEST

START_TEST(readings_capped)
{
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	struct conf_strings devs;
	json_t *a, *r;
	int64_t t;

	history_set_max_lines(h, 5);
	poll_runtime(NULL, st, "ups1", 1000, 100);
	poll_runtime(NULL, st, "ups1", 2000, 100);
	poll_runtime(NULL, st, "ups1", 3000, 100);
	devs_of(&devs, "ups1");
	history_incident_open(h, 1, &devs, st);
	for (t = 4000; t <= 10000; t += 1000)
		poll_runtime(h, st, "ups1", t, 90);
	a = readings(1);
	ck_assert_int_eq(json_array_size(a), 6); /* 5 samples, then the mark */
	ck_assert(json_is_true(json_object_get(json_array_get(a, 5), "truncated")));
	ck_assert_int_eq(ji(json_array_get(a, 5), "t"), 6000);
	json_decref(a);
	r = report_readings(dir, 1, NULL);
	ck_assert(json_is_true(json_object_get(r, "truncated")));
	ck_assert_int_eq(json_array_size(json_object_get(
	                     json_array_get(json_object_get(r, "series"), 0), "points")),
	    5);
	json_decref(r);
	conf_strings_free(&devs);
	history_free(h);
	store_free(st);
}
END_TEST

START_TEST(readings_after_restart)
{
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	struct conf_strings devs;
	json_t *a;

	poll_runtime(NULL, st, "ups1", 1000, 100);
	poll_runtime(NULL, st, "ups1", 2000, 100);
	devs_of(&devs, "ups1");
	history_incident_open(h, 3, &devs, st);
	poll_runtime(h, st, "ups1", 3000, 90);
	history_free(h); /* the daemon stops (or dies): the file stays */

	/* Restarted: appended to, no context again, the cap counts what is there. */
	h = history_new(dir);
	history_set_max_lines(h, 4);
	history_incident_open(h, 3, &devs, NULL);
	poll_runtime(h, st, "ups1", 4000, 80);
	poll_runtime(h, st, "ups1", 5000, 70);
	poll_runtime(h, st, "ups1", 6000, 60);
	a = readings(3);
	ck_assert_int_eq(json_array_size(a), 5);
	ck_assert_int_eq(ji(json_array_get(a, 2), "t"), 3000);
	ck_assert_int_eq(ji(json_array_get(a, 3), "t"), 4000);
	ck_assert(json_is_true(json_object_get(json_array_get(a, 4), "truncated")));
	json_decref(a);
	history_free(h);

	/* A full file stays full across a restart. */
	h = history_new(dir);
	history_incident_open(h, 3, &devs, NULL);
	poll_runtime(h, st, "ups1", 7000, 50);
	a = readings(3);
	ck_assert_int_eq(json_array_size(a), 5);
	json_decref(a);
	conf_strings_free(&devs);
	history_free(h);
	store_free(st);
}
END_TEST

START_TEST(readings_device_folded_in)
{
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	struct conf_strings devs, more;
	json_t *a;

	poll_runtime(NULL, st, "ups1", 1000, 100);
	poll_runtime(NULL, st, "ups2", 1000, 200);
	devs_of(&devs, "ups1");
	devs_of(&more, "ups2");
	history_incident_open(h, 4, &devs, st);
	poll_runtime(h, st, "ups2", 2000, 190); /* not yet its device */
	history_incident_open(h, 4, &more, NULL);
	poll_runtime(h, st, "ups2", 3000, 180);
	poll_runtime(h, st, "ups1", 3000, 90);
	a = readings(4);
	ck_assert_int_eq(json_array_size(a), 3); /* ups1 at 1000, ups2 at 3000, ups1 */
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 1), "d")), "ups2");
	ck_assert_int_eq(ji(json_array_get(a, 1), "t"), 3000);
	json_decref(a);
	/* No devices (a declared incident): no file. */
	{
		struct conf_strings none = { NULL, 0 };
		history_incident_open(h, 5, &none, st);
		ck_assert_ptr_null(readings(5));
	}
	conf_strings_free(&devs);
	conf_strings_free(&more);
	history_free(h);
	store_free(st);
}
END_TEST

struct live {
	uint64_t polls;
	size_t devices;
};

static void
live_cb(const struct hist_hour *hh, void *arg)
{
	struct live *l = arg;

	l->polls += hh->polls;
	l->devices++;
}

START_TEST(hours_written_when_the_hour_ends)
{
	static const char *const names[] = { "runtime_s", "charge_pct", "input_voltage" };
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	struct live l = { 0, 0 };
	json_t *a, *u, *m;
	double v1[] = { 100, 90, NAN }, v2[] = { 80, 70, 230 };
	size_t k;

	poll_at(h, st, "ups1", "ups", H + 10 * MIN, names, v1, 3);
	history_poll(h, st, "ups1", "ups", 0, H + 20 * MIN); /* missed */
	poll_at(h, st, "ups1", "ups", H + 50 * MIN, names, v2, 3);
	poll_at(h, st, "sensor1", "sensor", H + 30 * MIN, names, v2, 1);
	history_tick(h, H + HOUR - 1);
	ck_assert_ptr_null(month(H)); /* the hour is not over */
	history_live(h, live_cb, &l);
	ck_assert_int_eq(l.polls, 4);
	ck_assert_int_eq(l.devices, 2);

	history_tick(h, H + HOUR);
	a = month(H);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(json_array_size(a), 2);
	u = NULL;
	for (k = 0; k < 2; k++)
		if (strcmp(json_string_value(json_object_get(json_array_get(a, k), "d")),
		        "ups1") == 0)
			u = json_array_get(a, k);
		else
			/* Not a UPS: no metrics kept. */
			ck_assert_ptr_null(json_object_get(json_array_get(a, k), "m"));
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(ji(u, "h"), H);
	ck_assert_int_eq(ji(u, "polls"), 3);
	ck_assert_int_eq(ji(u, "answered"), 2);
	ck_assert_int_eq(ji(u, "missed"), 1);
	ck_assert_int_eq(ji(u, "samples"), 6);
	ck_assert_int_eq(ji(u, "good"), 5);
	ck_assert_int_eq(ji(u, "bad"), 1);
	m = json_object_get(json_object_get(u, "m"), "runtime_s");
	ck_assert_int_eq(json_array_size(m), 4);
	ck_assert(json_number_value(json_array_get(m, 0)) == 80);
	ck_assert(json_number_value(json_array_get(m, 1)) == 90);
	ck_assert(json_number_value(json_array_get(m, 2)) == 100);
	ck_assert_int_eq(json_integer_value(json_array_get(m, 3)), 2);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(u, "m"), "charge_pct"));
	ck_assert_ptr_null(json_object_get(json_object_get(u, "m"), "input_voltage"));
	json_decref(a);
	/* Counting starts afresh; a second tick in the same hour writes nothing. */
	l.polls = l.devices = 0;
	history_live(h, live_cb, &l);
	ck_assert_int_eq(l.polls, 0);
	history_tick(h, H + HOUR + 5 * MIN);
	a = month(H);
	ck_assert_int_eq(json_array_size(a), 2);
	json_decref(a);
	history_free(h);
	store_free(st);
}
END_TEST

START_TEST(hours_month_boundary)
{
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	json_t *a;

	poll_runtime(h, st, "ups1", NOV_30 + 30 * MIN, 100);
	/* The first poll of December ends November's last hour. */
	poll_runtime(h, st, "ups1", NOV_30 + HOUR + MIN, 90);
	a = month(NOV_30);
	ck_assert_int_eq(json_array_size(a), 1);
	ck_assert_int_eq(ji(json_array_get(a, 0), "h"), NOV_30);
	json_decref(a);
	ck_assert_ptr_null(month(NOV_30 + HOUR));
	{
		char *p = history_month_path(dir, NOV_30 + HOUR);
		ck_assert_msg(strstr(p, "/history/2026-12.jsonl") != NULL, "%s", p);
		free(p);
	}
	/* At exit the hour so far is written. */
	history_flush(h);
	a = month(NOV_30 + HOUR);
	ck_assert_int_eq(json_array_size(a), 1);
	ck_assert_int_eq(ji(json_array_get(a, 0), "polls"), 1);
	json_decref(a);
	history_free(h);
	store_free(st);
}
END_TEST

START_TEST(hours_split_by_a_restart)
{
	struct store *st = store_new(10);
	struct history *h = history_new(dir);
	struct hist_hour hh, sum;
	char dev[64], *p;
	json_t *a;
	size_t k;
	int j;

	poll_runtime(h, st, "ups1", H + MIN, 100);
	poll_runtime(h, st, "ups1", H + 2 * MIN, 60);
	history_flush(h);
	history_free(h);
	h = history_new(dir);
	poll_runtime(h, st, "ups1", H + 30 * MIN, 80);
	history_tick(h, H + HOUR);
	a = month(H);
	ck_assert_int_eq(json_array_size(a), 2); /* appended, one hour in two lines */
	memset(&sum, 0, sizeof(sum));
	for (k = 0; k < json_array_size(a); k++) {
		char *line = json_dumps(json_array_get(a, k), JSON_COMPACT);
		ck_assert_int_eq(
		    history_hour_parse(line, strlen(line), &hh, dev, sizeof(dev)), 0);
		ck_assert_str_eq(hh.device, "ups1");
		ck_assert_int_eq(hh.hour_ms, H);
		sum.polls += hh.polls;
		for (j = 0; j < HM_N; j++)
			hist_agg_merge(&sum.m[j], &hh.m[j]);
		free(line);
	}
	ck_assert_int_eq(sum.polls, 3);
	ck_assert(sum.m[HM_RUNTIME].min == 60);
	ck_assert(sum.m[HM_RUNTIME].max == 100);
	ck_assert(sum.m[HM_RUNTIME].sum / (double)sum.m[HM_RUNTIME].n == 80);
	json_decref(a);
	ck_assert_int_eq(
	    history_hour_parse("{\"d\":\"x\"}", 9, &hh, dev, sizeof(dev)), -1);
	ck_assert_int_eq(history_hour_parse("garbage", 7, &hh, dev, sizeof(dev)), -1);
	/* Nothing polled: nothing written, no file. */
	history_free(h);
	h = history_new(dir);
	history_flush(h);
	history_free(h);
	p = history_month_path(dir, H + 40 * 86400000LL);
	ck_assert_int_eq(access(p, F_OK), -1);
	free(p);
	store_free(st);
}
END_TEST

START_TEST(trend_least_squares)
{
	int64_t t[] = { 0, 86400000, 2 * 86400000LL, 3 * 86400000LL };
	double v[] = { 100, 90, 80, 70 }, out = 0;

	ck_assert_int_eq(report_trend(t, v, 4, &out), 0);
	ck_assert_msg(out > -10.0001 && out < -9.9999, "%g", out);
	ck_assert_int_eq(report_trend(t, v, 1, &out), -1);
	t[1] = 0;
	ck_assert_int_eq(report_trend(t, v, 2, &out), -1); /* one time, no slope */
}
END_TEST

static Suite *
history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("history");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, readings_context_then_polls);
	tcase_add_test(tc, readings_capped);
	tcase_add_test(tc, readings_after_restart);
	tcase_add_test(tc, readings_device_folded_in);
	tcase_add_test(tc, hours_written_when_the_hour_ends);
	tcase_add_test(tc, hours_month_boundary);
	tcase_add_test(tc, hours_split_by_a_restart);
	tcase_add_test(tc, trend_least_squares);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(history_suite());
}

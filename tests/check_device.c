/*
 * device.c: the scheduler, driven by a fake probe whose behaviour each test
 * sets (answer with values, answer with an error, never answer), on a real
 * libevent loop with short intervals.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "probes/probe.h"
#include "tests/testutil.h"

enum fake_mode {
	FAKE_OK,     /* answer after answer_ms with v=value V, status="OL" */
	FAKE_ERROR,  /* answer after answer_ms: refused */
	FAKE_SILENT, /* never answer */
	FAKE_TWICE,  /* answer OK, then call poll_done again on the same poll */
};

/* What a test saw after each completed poll (the device's change callback). */
struct seen {
	enum contact contact;
	int missed;
	enum poll_status status;
	int attempts; /* probe polls so far */
	int cancels;
	char reason[256];
};

static struct {
	enum fake_mode mode;
	int answer_ms;
	double value;
	int start_refuses;
	int starts, stops, polls, cancels, bad_cancels;
	struct event *ev;
	struct poll *pending;
	struct device *dev;
	/* The test's plan: modes to switch to after completed poll n. */
	enum fake_mode after[8];
	int nafter;
	int stop_after; /* break the loop after this many completed polls */
	struct seen seen[16];
	int nseen;
} fake;

static void
fake_answer(evutil_socket_t fd, short what, void *arg)
{
	struct poll *p = fake.pending;

	(void)fd;
	(void)what;
	(void)arg;
	fake.pending = NULL;
	ck_assert_ptr_nonnull(p);
	switch (fake.mode) {
	case FAKE_OK:
		poll_number(p, "v", fake.value, "V");
		poll_text(p, "status", "OL");
		poll_invalid(p, "temp", MK_NUMBER, "C", "sensor %s", "open");
		poll_done(p, POLL_OK, NULL);
		break;
	case FAKE_TWICE:
		poll_number(p, "v", fake.value, "V");
		poll_done(p, POLL_OK, NULL);
		/* A probe bug: the attempt is over, this must be ignored. */
		poll_done(p, POLL_ERROR, "late");
		break;
	case FAKE_ERROR:
		poll_done(p, POLL_REFUSED, "connection refused by %s", "192.0.2.1");
		break;
	case FAKE_SILENT:
		ck_abort_msg("silent probe answered");
	}
}

static int
fake_start(struct device *dev)
{
	fake.starts++;
	if (fake.start_refuses)
		return -1;
	fake.dev = dev;
	fake.ev = evtimer_new(device_base(dev), fake_answer, NULL);
	device_set_probe_data(dev, &fake);
	return 0;
}

static void
fake_stop(struct device *dev)
{
	ck_assert_ptr_eq(device_probe_data(dev), &fake);
	fake.stops++;
	event_free(fake.ev);
	fake.ev = NULL;
	device_set_probe_data(dev, NULL);
}

static void
fake_poll(struct device *dev, struct poll *p)
{
	struct timeval tv = { 0, fake.answer_ms * 1000 };

	ck_assert_ptr_eq(dev, fake.dev);
	ck_assert_ptr_null(fake.pending); /* one attempt at a time */
	fake.polls++;
	fake.pending = p;
	if (fake.mode != FAKE_SILENT)
		evtimer_add(fake.ev, &tv);
}

static void
fake_cancel(struct device *dev, struct poll *p)
{
	(void)dev;
	fake.cancels++;
	if (p != fake.pending)
		fake.bad_cancels++;
	evtimer_del(fake.ev);
	fake.pending = NULL;
}

static const struct conf_table fake_table = {
	.name = "fake",
	.help = "test probe",
	.size = 1,
	.keys = (const struct conf_key[]){ { 0 } },
};

static const struct probe_ops fake_ops = {
	.name = "fake",
	.help = "test probe",
	.conf = &fake_table,
	.start = fake_start,
	.stop = fake_stop,
	.poll = fake_poll,
	.cancel = fake_cancel,
};

static char fake_name[] = "fake1";

static struct device_conf dconf;
static struct event_base *base;
static struct store *store;

static void
setup(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.answer_ms = 5;
	fake.value = 42;
	fake.stop_after = 1000;
	memset(&dconf, 0, sizeof(dconf));
	dconf.name = fake_name;
	dconf.availability = 2;
	dconf.interval_ms = 100;
	dconf.timeout_ms = 50;
	dconf.retries = 1;
	dconf.retry_interval_ms = 10;
	dconf.stale_after = 2;
	dconf.backoff_max_ms = 400;
	dconf.probe = &fake_ops;
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	store = store_new(10);
}

static void
teardown(void)
{
	store_free(store);
	event_base_free(base);
}

static void
on_change(struct device *dev, void *arg)
{
	struct device_state *st = device_state(dev);
	struct seen *s;

	ck_assert_ptr_eq(arg, &fake);
	ck_assert_int_lt(fake.nseen, (int)NELEM(fake.seen));
	s = &fake.seen[fake.nseen];
	s->contact = st->contact;
	s->missed = st->missed;
	s->status = st->last_status;
	s->attempts = fake.polls;
	s->cancels = fake.cancels;
	snprintf(s->reason, sizeof(s->reason), "%s", st->reason);
	if (fake.nseen < fake.nafter)
		fake.mode = fake.after[fake.nseen];
	fake.nseen++;
	if (fake.nseen >= fake.stop_after)
		event_base_loopbreak(device_base(dev));
}

static struct device *
start_device(void)
{
	struct device *dev = device_new(base, store, &dconf);

	ck_assert_ptr_eq(device_conf(dev), &dconf);
	ck_assert_str_eq(device_name(dev), "fake1");
	ck_assert_ptr_eq(device_base(dev), base);
	ck_assert_int_eq(device_state(dev)->contact, CONTACT_PENDING);
	device_set_change_cb(dev, on_change, &fake);
	ck_assert_int_eq(device_start(dev), 0);
	ck_assert_int_eq(fake.starts, 1);
	/* Starting twice does nothing. */
	ck_assert_int_eq(device_start(dev), 0);
	ck_assert_int_eq(fake.starts, 1);
	return dev;
}

static void
run_ms(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

START_TEST(device_ok_polls)
{
	struct device *dev = start_device();
	struct series *s;
	struct sample smp;
	int i;

	fake.stop_after = 3;
	run_ms(2000);
	ck_assert_int_eq(fake.nseen, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(fake.seen[i].contact, CONTACT_OK);
		ck_assert_int_eq(fake.seen[i].status, POLL_OK);
		ck_assert_int_eq(fake.seen[i].attempts, i + 1);
		ck_assert_str_eq(fake.seen[i].reason, "");
	}
	ck_assert_int_eq(fake.cancels, 0);
	ck_assert_uint_eq(device_state(dev)->polls, 3);
	ck_assert_uint_eq(device_state(dev)->failures, 0);
	ck_assert_int_eq(device_state(dev)->missed, 0);
	ck_assert_int_gt(device_state(dev)->last_ok_ms, 0);
	ck_assert_int_eq(device_state(dev)->last_ok_ms, device_state(dev)->last_poll_ms);

	s = store_lookup(store, "fake1.v");
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(series_unit(s), "V");
	ck_assert_int_eq(series_latest(s, &smp), 0);
	ck_assert_double_eq(smp.num, 42);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_int_eq(smp.t_ms, device_state(dev)->last_ok_ms);
	ck_assert_uint_eq(series_history(s, (struct hist_point[8]){ { 0, 0 } }, 8), 3);
	ck_assert_int_eq(series_latest(store_lookup(store, "fake1.status"), &smp), 0);
	ck_assert_str_eq(smp.text, "OL");
	/* A value the probe could not read is stored as an error with its reason. */
	ck_assert_int_eq(series_latest(store_lookup(store, "fake1.temp"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_ERROR);
	ck_assert_str_eq(smp.reason, "sensor open");
	ck_assert_str_eq(series_unit(store_lookup(store, "fake1.temp")), "C");

	/* The next poll is planned within one interval. */
	{
		int64_t next = device_next_poll_ms(dev), now = time_now_ms();
		ck_assert_int_ge(next, now - 5);
		ck_assert_int_le(next, now + dconf.interval_ms + 5);
	}
	device_free(dev);
	ck_assert_int_eq(fake.stops, 1);
	ck_assert_int_eq(fake.cancels, 0);
}
END_TEST

/*
 * OK once, then silent: each poll is two attempts (retries 1), each
 * cancelled at the timeout; one missed poll means MISSED, stale_after (2)
 * mean LOST and stale readings; then the device answers again.
 */
START_TEST(device_silent_then_recovers)
{
	struct device *dev = start_device();
	struct sample smp;
	const char *lost = "contact lost: no answer within 50ms";

	fake.after[0] = FAKE_SILENT;
	fake.after[1] = FAKE_SILENT;
	fake.after[2] = FAKE_OK;
	fake.nafter = 3;
	fake.stop_after = 4;
	run_ms(3000);
	ck_assert_int_eq(fake.nseen, 4);
	ck_assert_int_eq(fake.bad_cancels, 0);

	ck_assert_int_eq(fake.seen[0].contact, CONTACT_OK);
	ck_assert_int_eq(fake.seen[0].attempts, 1);

	ck_assert_int_eq(fake.seen[1].contact, CONTACT_MISSED);
	ck_assert_int_eq(fake.seen[1].missed, 1);
	ck_assert_int_eq(fake.seen[1].status, POLL_TIMEOUT);
	ck_assert_int_eq(fake.seen[1].attempts, 3); /* 1 + retries + 1 */
	ck_assert_int_eq(fake.seen[1].cancels, 2);
	ck_assert_str_eq(fake.seen[1].reason, "no answer within 50ms");

	ck_assert_int_eq(fake.seen[2].contact, CONTACT_LOST);
	ck_assert_int_eq(fake.seen[2].missed, 2);
	ck_assert_int_eq(fake.seen[2].attempts, 5);
	ck_assert_int_eq(fake.seen[2].cancels, 4);

	ck_assert_int_eq(fake.seen[3].contact, CONTACT_OK);
	ck_assert_int_eq(fake.seen[3].missed, 0);
	ck_assert_int_eq(fake.seen[3].attempts, 6);
	ck_assert_str_eq(fake.seen[3].reason, "");
	ck_assert_uint_eq(device_state(dev)->polls, 4);
	ck_assert_uint_eq(device_state(dev)->failures, 2);
	ck_assert_int_eq(series_latest(store_lookup(store, "fake1.v"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	ck_assert_ptr_null(smp.reason);
	device_free(dev);

	/* Again, stopping while lost: the readings are stale, with their values. */
	memset(fake.seen, 0, sizeof(fake.seen));
	fake.nseen = 0;
	fake.mode = FAKE_OK;
	fake.polls = fake.cancels = fake.starts = 0;
	fake.value = 7;
	fake.nafter = 1;
	fake.stop_after = 3;
	dev = start_device();
	run_ms(3000);
	ck_assert_int_eq(fake.nseen, 3);
	ck_assert_int_eq(fake.seen[1].contact, CONTACT_MISSED);
	ck_assert_int_eq(fake.seen[2].contact, CONTACT_LOST);
	ck_assert_int_eq(device_state(dev)->contact, CONTACT_LOST);
	ck_assert_int_eq(series_latest(store_lookup(store, "fake1.v"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_STALE);
	ck_assert_str_eq(smp.reason, lost);
	ck_assert_int_eq(strncmp(smp.reason, "contact lost:", 13), 0);
	ck_assert_double_eq(smp.num, 7);
	ck_assert_int_eq(series_latest(store_lookup(store, "fake1.status"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_STALE);
	ck_assert_str_eq(smp.text, "OL");
	ck_assert_str_eq(smp.reason, lost);
	device_free(dev);
}
END_TEST

START_TEST(device_error_retried)
{
	struct device *dev;

	fake.mode = FAKE_ERROR;
	fake.stop_after = 2;
	dev = start_device();
	run_ms(3000);
	ck_assert_int_eq(fake.nseen, 2);
	ck_assert_int_eq(fake.seen[0].contact, CONTACT_MISSED);
	ck_assert_int_eq(fake.seen[0].status, POLL_REFUSED);
	ck_assert_int_eq(fake.seen[0].attempts, 2);
	ck_assert_str_eq(fake.seen[0].reason, "connection refused by 192.0.2.1");
	ck_assert_int_eq(fake.seen[1].contact, CONTACT_LOST);
	ck_assert_int_eq(fake.seen[1].attempts, 4);
	/* Answered attempts are not cancelled. */
	ck_assert_int_eq(fake.cancels, 0);
	/* Nothing was ever read: nothing in the store. */
	ck_assert_uint_eq(store_count(store), 0);
	device_free(dev);
}
END_TEST

START_TEST(device_double_completion_ignored)
{
	struct device *dev;
	struct sample smp;

	fake.mode = FAKE_TWICE;
	fake.stop_after = 2;
	dev = start_device();
	run_ms(2000);
	ck_assert_int_eq(fake.nseen, 2);
	ck_assert_int_eq(fake.seen[0].contact, CONTACT_OK);
	ck_assert_int_eq(fake.seen[1].contact, CONTACT_OK);
	ck_assert_int_eq(device_state(dev)->last_status, POLL_OK);
	ck_assert_uint_eq(device_state(dev)->failures, 0);
	ck_assert_int_eq(series_latest(store_lookup(store, "fake1.v"), &smp), 0);
	ck_assert_int_eq(smp.q, Q_OK);
	device_free(dev);
}
END_TEST

START_TEST(device_poll_now_refused_in_flight)
{
	struct device *dev = device_new(base, store, &dconf);

	device_set_change_cb(dev, on_change, &fake);
	/* Not started: nothing to poll with. */
	ck_assert_int_eq(device_poll_now(dev), -1);
	ck_assert_int_eq(device_next_poll_ms(dev), -1);
	fake.mode = FAKE_SILENT;
	ck_assert_int_eq(device_start(dev), 0);
	ck_assert_int_eq(device_poll_now(dev), 0);
	ck_assert_int_eq(fake.polls, 1);
	ck_assert_ptr_nonnull(fake.pending);
	ck_assert_int_eq(device_poll_now(dev), -1);
	ck_assert_int_eq(fake.polls, 1);

	/* Stopping cancels the attempt in flight, then stops the probe. */
	device_stop(dev);
	ck_assert_int_eq(fake.cancels, 1);
	ck_assert_int_eq(fake.bad_cancels, 0);
	ck_assert_int_eq(fake.stops, 1);
	ck_assert_int_eq(device_poll_now(dev), -1);
	ck_assert_int_eq(device_next_poll_ms(dev), -1);
	/* And it can start again. */
	fake.mode = FAKE_OK;
	ck_assert_int_eq(device_start(dev), 0);
	ck_assert_int_eq(device_poll_now(dev), 0);
	fake.stop_after = 1;
	run_ms(1000);
	ck_assert_int_eq(fake.nseen, 1);
	ck_assert_int_eq(device_state(dev)->contact, CONTACT_OK);
	device_free(dev);
	ck_assert_int_eq(fake.stops, 2);
	device_free(NULL);
}
END_TEST

START_TEST(device_start_refused)
{
	struct device *dev = device_new(base, store, &dconf);

	fake.start_refuses = 1;
	ck_assert_int_eq(device_start(dev), -1);
	ck_assert_int_eq(device_poll_now(dev), -1);
	device_free(dev);
	ck_assert_int_eq(fake.stops, 0);
}
END_TEST

/*
 * The batching scheduler: many devices with random first offsets.  Polls
 * come in batches (one loop turn each, batches at least a window apart), no
 * poll starts earlier than the window (interval / 16 = 25 ms here) before
 * the time planned for it, and the plan keeps to each device's grid: one
 * interval between planned polls, however late a busy machine runs them.
 * Nothing here depends on how fast the machine is.
 */
#define BATCH_DEVICES  40
#define BATCH_INTERVAL 400
#define BATCH_WINDOW   (BATCH_INTERVAL / 16)
#define BATCH_POLLS    (BATCH_DEVICES * 8)

static struct {
	struct device *dev[BATCH_DEVICES];
	struct poll *pending[BATCH_DEVICES];
	int64_t plan[BATCH_DEVICES]; /* wall ms of the device's next planned poll */
	int count[BATCH_DEVICES];
	int64_t at[BATCH_POLLS]; /* every poll, in order */
	int turn[BATCH_POLLS];   /* ... and its loop turn */
	int turns;               /* answer rounds so far: between two turns */
	int n;
	struct event *ev;
} batch;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
batch_answer(evutil_socket_t fd, short what, void *arg)
{
	size_t i;

	(void)fd;
	(void)what;
	(void)arg;
	batch.turns++;
	for (i = 0; i < BATCH_DEVICES; i++)
		if (batch.pending[i] != NULL) {
			struct poll *p = batch.pending[i];
			batch.pending[i] = NULL;
			poll_number(p, "v", 1, NULL);
			poll_done(p, POLL_OK, NULL);
		}
}

static int
batch_start(struct device *dev)
{
	device_set_probe_data(dev, &batch);
	return 0;
}

static void
batch_stop(struct device *dev)
{
	device_set_probe_data(dev, NULL);
}

static size_t
batch_index(const struct device *dev)
{
	size_t i;

	for (i = 0; i < BATCH_DEVICES && batch.dev[i] != dev; i++)
		;
	ck_assert_uint_lt(i, BATCH_DEVICES);
	return i;
}

static void
batch_poll(struct device *dev, struct poll *p)
{
	size_t i = batch_index(dev);

	/* Timers never fire early: only the batch window starts a poll early. */
	if (batch.count[i]++ > 0)
		ck_assert_msg(time_now_ms() >= batch.plan[i] - BATCH_WINDOW - 2,
		    "%s polled %lld ms before its plan", device_name(dev),
		    (long long)(batch.plan[i] - time_now_ms()));
	if (batch.n < BATCH_POLLS) {
		batch.turn[batch.n] = batch.turns;
		batch.at[batch.n++] = mono_us();
	} else
		event_base_loopbreak(device_base(dev));
	batch.pending[i] = p;
	event_active(batch.ev, 0, 0);
}

/* A poll ended and the next is planned: one interval after the last plan. */
static void
batch_changed(struct device *dev, void *arg)
{
	size_t i = batch_index(dev);
	int64_t next = device_next_poll_ms(dev);

	(void)arg;
	ck_assert_int_ge(next, 0);
	/* 2 ms: the plan is shown as wall time, converted from the monotonic clock. */
	if (batch.count[i] > 1)
		ck_assert_msg(llabs(next - batch.plan[i] - BATCH_INTERVAL) <= 2,
		    "%s: planned %lld ms after its last plan", device_name(dev),
		    (long long)(next - batch.plan[i]));
	batch.plan[i] = next;
}

/* Only device_free() at the end cancels: the probe answers in the next turn. */
static void
batch_cancel(struct device *dev, struct poll *p)
{
	size_t i;

	(void)dev;
	for (i = 0; i < BATCH_DEVICES; i++)
		if (batch.pending[i] == p)
			batch.pending[i] = NULL;
}

static const struct probe_ops batch_ops = {
	.name = "batch",
	.help = "test probe",
	.conf = &fake_table,
	.start = batch_start,
	.stop = batch_stop,
	.poll = batch_poll,
	.cancel = batch_cancel,
};

START_TEST(device_polls_in_batches)
{
	struct device_conf c[BATCH_DEVICES];
	char names[BATCH_DEVICES][16];
	int i, first, batches = 1;

	memset(&batch, 0, sizeof(batch));
	batch.ev = event_new(base, -1, 0, batch_answer, NULL);
	for (i = 0; i < BATCH_DEVICES; i++) {
		c[i] = dconf;
		snprintf(names[i], sizeof(names[i]), "b%d", i);
		c[i].name = names[i];
		c[i].interval_ms = BATCH_INTERVAL;
		c[i].timeout_ms = 200;
		c[i].probe = &batch_ops;
		batch.dev[i] = device_new(base, store, &c[i]);
		device_set_change_cb(batch.dev[i], batch_changed, NULL);
		ck_assert_int_eq(device_start(batch.dev[i]), 0);
		batch.plan[i] = device_next_poll_ms(batch.dev[i]);
		ck_assert_int_ge(batch.plan[i], 0);
	}
	/* Ends when BATCH_POLLS polls were seen; 60 s only bounds a broken run. */
	run_ms(60000);
	ck_assert_int_eq(batch.n, BATCH_POLLS);
	/*
	 * Polls of one batch come in one turn of the loop (the answers, which
	 * count turns, run between).  A batch takes every device due within
	 * the window, so the next one starts a window later at the earliest,
	 * however busy the machine (2 ms: timers are kept in whole ms).
	 */
	for (i = 1, first = 0; i < batch.n; i++) {
		if (batch.turn[i] == batch.turn[i - 1])
			continue;
		ck_assert_msg(batch.at[i] - batch.at[first] >= (BATCH_WINDOW - 2) * 1000,
		    "batches at polls %d and %d %lld us apart", first, i,
		    (long long)(batch.at[i] - batch.at[first]));
		first = i;
		batches++;
	}
	/* Without batching 40 random offsets give ~40 wake-ups per round. */
	ck_assert_int_le(batches, BATCH_POLLS * 2 / 3);
	for (i = 0; i < BATCH_DEVICES; i++) {
		ck_assert_int_ge(batch.count[i], 6);
		device_free(batch.dev[i]);
	}
	event_free(batch.ev);
}
END_TEST

START_TEST(device_backoff_table)
{
	static const struct {
		int missed;
		uint32_t r;
		int64_t ms;
	} rows[] = {
		{ 0, 0, 100 },
		{ 0, UINT32_MAX, 100 },
		{ 1, 12345, 100 },
		/* Two missed: 200 ms, jittered within [100, 200]. */
		{ 2, 0, 100 },
		{ 2, 100, 200 },
		{ 2, 101, 100 },
		{ 2, 50, 150 },
		/* Three: 400 (= backoff_max), within [200, 400]. */
		{ 3, 0, 200 },
		{ 3, 200, 400 },
		{ 3, 201, 200 },
		/* More: capped at backoff_max. */
		{ 4, 0, 200 },
		{ 4, 200, 400 },
		{ 30, 200, 400 },
		{ 1000, 0, 200 },
	};
	size_t i;

	setup();
	for (i = 0; i < NELEM(rows); i++) {
		int64_t d = device_backoff(&dconf, rows[i].missed, rows[i].r);
		ck_assert_msg(d == rows[i].ms, "missed %d, r %u: %lld, expected %lld",
		    rows[i].missed, rows[i].r, (long long)d, (long long)rows[i].ms);
	}
	teardown();
}
END_TEST

START_TEST(device_backoff_bounds)
{
	static const struct {
		int64_t interval, max;
	} confs[] = { { 100, 400 }, { 5000, 60000 }, { 120000, 120000 }, { 5000, 6000 },
		{ 1000, 86400000 } };
	static const uint32_t rs[] = { 0, 1, 2, 99, 12345, 65535, 2147483647u,
		UINT32_MAX };
	struct device_conf c;
	size_t i, j;
	int missed;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < NELEM(confs); i++) {
		c.interval_ms = confs[i].interval;
		c.backoff_max_ms = confs[i].max;
		for (missed = 0; missed < 40; missed++) {
			int64_t d = c.interval_ms;
			int k;
			for (k = 1; k < missed; k++)
				d = d * 2 > c.backoff_max_ms ? c.backoff_max_ms : d * 2;
			for (j = 0; j < NELEM(rs); j++) {
				int64_t got = device_backoff(&c, missed, rs[j]);
				if (missed < 2) {
					ck_assert_int_eq(got, c.interval_ms);
					continue;
				}
				/* Equal jitter within [d/2, d]... */
				ck_assert_msg(got >= d / 2 && got <= d,
				    "interval %lld max %lld missed %d r %u: %lld outside "
				    "[%lld, %lld]",
				    (long long)c.interval_ms, (long long)c.backoff_max_ms,
				    missed, rs[j], (long long)got, (long long)d / 2,
				    (long long)d);
				/* ...and never faster than the interval itself. */
				ck_assert_msg(got >= c.interval_ms,
				    "interval %lld max %lld missed %d: %lld is below the "
				    "interval",
				    (long long)c.interval_ms, (long long)c.backoff_max_ms,
				    missed, (long long)got);
				ck_assert_int_le(got, c.backoff_max_ms);
			}
		}
	}
}
END_TEST

START_TEST(device_names_table)
{
	static const char *const contacts[] = { "pending", "ok", "missed", "lost" };
	static const char *const statuses[] = { "ok", "timeout", "refused", "auth",
		"protocol", "error" };
	size_t i;

	for (i = 0; i < NELEM(contacts); i++) {
		ck_assert_str_eq(contact_name((enum contact)i), contacts[i]);
		ck_assert_int_eq(contact_from_name(contacts[i]), (int)i);
	}
	ck_assert_str_eq(contact_name((enum contact)9), "?");
	ck_assert_int_eq(contact_from_name("gone"), -1);
	for (i = 0; i < NELEM(statuses); i++)
		ck_assert_str_eq(poll_status_name((enum poll_status)i), statuses[i]);
	ck_assert_str_eq(poll_status_name((enum poll_status)9), "?");
}
END_TEST

static Suite *
device_suite(void)
{
	Suite *s = suite_create("device");
	TCase *tc;

	tc = tcase_create("scheduler");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, device_ok_polls);
	tcase_add_test(tc, device_silent_then_recovers);
	tcase_add_test(tc, device_error_retried);
	tcase_add_test(tc, device_double_completion_ignored);
	tcase_add_test(tc, device_poll_now_refused_in_flight);
	tcase_add_test(tc, device_start_refused);
	tcase_add_test(tc, device_polls_in_batches);
	suite_add_tcase(s, tc);

	tc = tcase_create("backoff");
	tcase_add_test(tc, device_backoff_table);
	tcase_add_test(tc, device_backoff_bounds);
	tcase_add_test(tc, device_names_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(device_suite());
}

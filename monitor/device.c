/*
 * Devices and their poll schedule.  The core owns all timing: probes only
 * answer one attempt at a time.
 *
 * A poll is one or more attempts.  An attempt ends when the probe calls
 * poll_done() or when its timeout fires (the probe is told to cancel).  A
 * failed attempt is retried after retry_interval up to `retries` times; when
 * all fail, the poll is missed.  One missed poll changes nothing the user
 * sees but the reason; stale_after missed polls in a row mean contact is
 * lost and the device's metrics turn stale.  After the first missed poll the
 * interval doubles, with jitter, up to backoff_max, so a dead device costs
 * little and a thousand dead devices do not retry in step.
 *
 * Polls keep a fixed phase: each device starts at a random offset (so a
 * thousand devices do not fire in the same millisecond) and then polls on
 * its own grid, start + k * interval, which does not drift with poll time.
 *
 * One timer per event loop drives every device (struct sched): the devices
 * wait in a binary heap by when they fire next, and when the timer fires,
 * every device due within the next few milliseconds (SCHED_BATCH_MS, less
 * for short intervals) is polled in the same loop turn.  A thousand devices
 * on their own timers would wake the process once per poll; in batches the
 * requests leave together, the agents' answers come back together, and the
 * loop sleeps between batches.  A poll is never late for it, only early by
 * at most the batch window.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define FIRST_POLL_SPREAD_MS 5000
#define SCHED_BATCH_MS       50 /* at most interval / 16 */
#define SCHED_NONE           ((size_t)-1)

/* The key is kept next to the device: sifting reads no device. */
struct sched_entry {
	int64_t fire; /* the device's fire_mono */
	struct device *dev;
};

/* The schedule of one event loop: devices by fire time, one timer. */
struct sched {
	struct event_base *base;
	struct event *timer;
	struct sched_entry *heap; /* a binary min-heap by fire time */
	size_t n, cap;
	size_t users; /* devices started on this loop */
	struct sched *next;
};

static struct sched *scheds;

/*
 * What an attempt reported, kept until it ends.  The strings live in one
 * buffer of the attempt (offsets + 1, 0 for none), and the buffer and the
 * array are kept from poll to poll: in steady state an attempt allocates
 * nothing, however many metrics it reports.
 */
struct poll_value {
	size_t metric;
	enum metric_kind kind;
	double num;
	size_t text;
	size_t unit;
	size_t invalid; /* reason the value could not be read */
};

struct poll {
	struct device *dev;
	struct poll_value *v;
	size_t n, cap;
	char *buf;
	size_t len, size;
};

struct device {
	const struct device_conf *conf;
	struct event_base *base;
	struct store *store;
	struct device_state st;
	void *probe_data;
	int started;

	struct poll *poll;       /* &attempt_buf while an attempt is in flight */
	struct poll attempt_buf; /* lives as long as the device (see poll_done) */
	int attempt;             /* 0 for the first attempt of a poll */
	int64_t due_mono;        /* grid point of the current or next poll */
	int64_t fire_mono;       /* when the next poll or retry starts */
	struct sched *sched;     /* while started */
	size_t heap_idx;         /* in sched->heap, or SCHED_NONE */
	struct event *deadline;  /* end of the attempt in flight */
	int extra;               /* the poll planned or in flight is off the grid */
	int trap_again;          /* a trap came during the poll in flight */
	int trap_polled;         /* trap_mono is set */
	int64_t trap_mono;       /* when the last poll a trap asked for was due */
	int64_t trap_gap_ms;     /* the shortest time between two of those */

	void (*change_cb)(struct device *, void *);
	void *change_arg;
};

static const char *const poll_status_names[] = {
	"ok",
	"timeout",
	"refused",
	"auth",
	"protocol",
	"error",
};
static const char *const contact_names[] = { "pending", "ok", "missed", "lost" };

static void device_attempt(struct device *);

/* --- the schedule ------------------------------------------------------------ */

static void
timer_in(struct event *ev, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

static void
sched_swap(struct sched *s, size_t a, size_t b)
{
	struct sched_entry t = s->heap[a];

	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a].dev->heap_idx = a;
	s->heap[b].dev->heap_idx = b;
}

static void
sched_up(struct sched *s, size_t i)
{
	while (i > 0 && s->heap[(i - 1) / 2].fire > s->heap[i].fire) {
		sched_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
sched_down(struct sched *s, size_t i)
{
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < s->n && s->heap[l].fire < s->heap[m].fire)
			m = l;
		if (l + 1 < s->n && s->heap[l + 1].fire < s->heap[m].fire)
			m = l + 1;
		if (m == i)
			return;
		sched_swap(s, i, m);
		i = m;
	}
}

/* Arm the loop's timer for the first device, or not at all. */
static void
sched_arm(struct sched *s)
{
	if (s->n == 0)
		evtimer_del(s->timer);
	else
		timer_in(s->timer, s->heap[0].fire - time_mono_ms());
}

/* Take dev off the schedule; the timer is armed again unless in sched_cb. */
static void
sched_take(struct device *dev, int arm)
{
	struct sched *s = dev->sched;
	size_t i = dev->heap_idx;

	if (s == NULL || i == SCHED_NONE)
		return;
	dev->heap_idx = SCHED_NONE;
	if (i != --s->n) {
		s->heap[i] = s->heap[s->n];
		s->heap[i].dev->heap_idx = i;
		sched_down(s, i);
		sched_up(s, i);
	}
	if (i == 0 && arm)
		sched_arm(s);
}

static void
sched_remove(struct device *dev)
{
	sched_take(dev, 1);
}

/* Start the next poll or retry of dev at fire (monotonic ms). */
static void
sched_at(struct device *dev, int64_t fire)
{
	struct sched *s = dev->sched;

	sched_remove(dev);
	dev->fire_mono = fire;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->heap = xreallocarray(s->heap, s->cap, sizeof(*s->heap));
	}
	dev->heap_idx = s->n;
	s->heap[s->n].fire = fire;
	s->heap[s->n++].dev = dev;
	sched_up(s, dev->heap_idx);
	if (dev->heap_idx == 0)
		sched_arm(s);
}

static int64_t
sched_window(const struct device *dev)
{
	int64_t w = dev->conf->interval_ms / 16;

	return w < SCHED_BATCH_MS ? w : SCHED_BATCH_MS;
}

static void
sched_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sched *s = arg;
	int64_t now = time_mono_ms();
	struct device *dev;
	size_t polled = 0;

	(void)fd;
	(void)ev;
	/*
	 * A device is polled once per turn at most (its next poll is always
	 * later than the window), and never more than the heap held when the
	 * turn began: a probe bug cannot keep the loop here.
	 */
	while (s->n > 0 && polled++ <= s->n) {
		dev = s->heap[0].dev;
		if (s->heap[0].fire > now + sched_window(dev))
			break;
		sched_take(dev, 0);
		device_attempt(dev);
	}
	sched_arm(s);
}

static struct sched *
sched_get(struct event_base *base)
{
	struct sched *s;

	for (s = scheds; s != NULL; s = s->next)
		if (s->base == base)
			break;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->base = base;
		if ((s->timer = evtimer_new(base, sched_cb, s)) == NULL)
			fatalx("%s: evtimer_new", __func__);
		s->next = scheds;
		scheds = s;
	}
	s->users++;
	return s;
}

static void
sched_put(struct sched *s)
{
	struct sched **pp;

	if (--s->users > 0)
		return;
	for (pp = &scheds; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	event_free(s->timer);
	free(s->heap);
	free(s);
}

/* Short name of a poll status for the CLI and the journal. */
const char *
poll_status_name(enum poll_status s)
{
	return (size_t)s < 6 ? poll_status_names[s] : "?";
}

/* "pending", "ok", "missed" or "lost". */
const char *
contact_name(enum contact c)
{
	return (size_t)c < 4 ? contact_names[c] : "?";
}

/* The contact state named s, or -1. */
int
contact_from_name(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, contact_names[i]) == 0)
			return i;
	return -1;
}

/* Forget what the attempt reported; keep the room for the next one. */
static void
poll_clear(struct poll *p)
{
	p->n = 0;
	p->len = 0;
}

static void
poll_free(struct poll *p)
{
	free(p->v);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static void
poll_room(struct poll *p, size_t more)
{
	if (p->size - p->len >= more)
		return;
	while (p->size - p->len < more)
		p->size = p->size ? p->size * 2 : 256;
	p->buf = xreallocarray(p->buf, p->size, 1);
}

/* Keep a copy of s in the attempt's buffer: its offset + 1, 0 for NULL. */
static size_t
poll_str(struct poll *p, const char *s)
{
	size_t n, off;

	if (s == NULL)
		return 0;
	n = strlen(s) + 1;
	poll_room(p, n);
	off = p->len;
	memcpy(p->buf + off, s, n);
	p->len += n;
	return off + 1;
}

static const char *
poll_at(const struct poll *p, size_t off)
{
	return off == 0 ? NULL : p->buf + off - 1;
}

/* The new value's index (the array moves as it grows: no pointers kept). */
static size_t
poll_add(struct poll *p, const char *metric, enum metric_kind kind, const char *unit)
{
	struct poll_value *v;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	v = &p->v[p->n];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->metric = poll_str(p, metric);
	v->unit = poll_str(p, unit);
	return p->n++;
}

/* Report a numeric reading; unit may be NULL. */
void
poll_number(struct poll *p, const char *metric, double v, const char *unit)
{
	size_t i = poll_add(p, metric, MK_NUMBER, unit); /* p->v may move */

	p->v[i].num = v;
}

/* Report a true/false reading. */
void
poll_bool(struct poll *p, const char *metric, int v)
{
	size_t i = poll_add(p, metric, MK_BOOL, NULL); /* p->v may move */

	p->v[i].num = v != 0;
}

/* Report a text reading (a status word such as "OB LB"). */
void
poll_text(struct poll *p, const char *metric, const char *v)
{
	size_t i = poll_add(p, metric, MK_TEXT, NULL);

	p->v[i].text = poll_str(p, v);
}

/* Report that a metric could not be read this time, and why. */
void
poll_invalid(struct poll *p, const char *metric, enum metric_kind kind, const char *unit,
    const char *fmt, ...)
{
	size_t i = poll_add(p, metric, kind, unit);
	va_list ap;
	int n;

	p->v[i].num = NAN; /* shown as no value, never as a plausible 0 */
	poll_room(p, 64);
	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, p->size - p->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->v[i].invalid = poll_str(p, "unreadable");
		return;
	}
	if ((size_t)n >= p->size - p->len) {
		poll_room(p, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(p->buf + p->len, p->size - p->len, fmt, ap);
		va_end(ap);
	}
	p->v[i].invalid = p->len + 1;
	p->len += (size_t)n + 1;
}

/* Create a device (not yet polling). */
struct device *
device_new(struct event_base *base, struct store *store, const struct device_conf *conf)
{
	struct device *dev = xcalloc(1, sizeof(*dev));

	dev->heap_idx = SCHED_NONE;
	dev->conf = conf;
	dev->base = base;
	dev->store = store;
	dev->st.contact = CONTACT_PENDING;
	dev->st.since_ms = time_now_ms();
	dev->st.last_status = POLL_OK;
	return dev;
}

/* Stop and free a device. Takes NULL. */
void
device_free(struct device *dev)
{
	if (dev == NULL)
		return;
	device_stop(dev);
	poll_free(&dev->attempt_buf);
	free(dev);
}

/* The device's configuration. */
const struct device_conf *
device_conf(const struct device *dev)
{
	return dev->conf;
}

/* Point an unchanged device at the equal configuration after a reload. */
void
device_set_conf(struct device *dev, const struct device_conf *conf)
{
	dev->conf = conf;
}

/* The device's name. */
const char *
device_name(const struct device *dev)
{
	return dev->conf->name;
}

/* Runtime state, for the control verbs and the snapshot. */
struct device_state *
device_state(struct device *dev)
{
	return &dev->st;
}

/* The event loop, for probes. */
struct event_base *
device_base(const struct device *dev)
{
	return dev->base;
}

/* The probe's per-device data. */
void *
device_probe_data(const struct device *dev)
{
	return dev->probe_data;
}

/* Set the probe's per-device data (from probe_ops.start). */
void
device_set_probe_data(struct device *dev, void *data)
{
	dev->probe_data = data;
}

/* Call cb after every completed poll (the daemon marks its snapshot dirty). */
void
device_set_change_cb(struct device *dev, void (*cb)(struct device *, void *), void *arg)
{
	dev->change_cb = cb;
	dev->change_arg = arg;
}

/* Wall time of the next planned poll, or -1. */
int64_t
device_next_poll_ms(const struct device *dev)
{
	if (dev->heap_idx == SCHED_NONE)
		return -1;
	return time_now_ms() + (dev->fire_mono - time_mono_ms());
}

/*
 * Delay before the next poll after `missed` polls missed in a row: the
 * interval while fewer than two were missed, then doubling up to
 * backoff_max, with "equal jitter" (half fixed, half random) from r.  The
 * jitter never brings the delay below the interval: with backoff_max near
 * the interval, a dead device must not be polled more often than a live one.
 */
int64_t
device_backoff(const struct device_conf *c, int missed, uint32_t r)
{
	int64_t d = c->interval_ms, lo;
	int i;

	if (missed < 2)
		return d;
	for (i = 1; i < missed && d < c->backoff_max_ms; i++)
		d *= 2;
	if (d > c->backoff_max_ms)
		d = c->backoff_max_ms;
	lo = d / 2 > c->interval_ms ? d / 2 : c->interval_ms;
	if (lo >= d)
		return d;
	return lo + (int64_t)(r % (uint32_t)(d - lo + 1));
}

static void
device_schedule_next(struct device *dev)
{
	int64_t now = time_mono_ms(), at;

	/* An extra poll (a trap, `sonae poll`) leaves the grid where it was. */
	if (!dev->extra)
		dev->due_mono += device_backoff(dev->conf, dev->st.missed, random_u32());
	dev->extra = 0;
	/* Skip grid points already passed (a slow poll, a suspended host). */
	if (dev->due_mono <= now)
		dev->due_mono = now + dev->conf->interval_ms -
		                ((now - dev->due_mono) % dev->conf->interval_ms);
	dev->attempt = 0;
	/*
	 * A trap during the poll: the poll may have read the device before
	 * the change the trap announced, so poll once more (see device_trap).
	 */
	if (dev->trap_again) {
		dev->trap_again = 0;
		at = now;
		if (dev->trap_polled && dev->trap_mono + dev->trap_gap_ms > at)
			at = dev->trap_mono + dev->trap_gap_ms;
		if (at < dev->due_mono) {
			dev->trap_mono = at;
			dev->trap_polled = 1;
			dev->extra = 1;
			sched_at(dev, at);
			return;
		}
	}
	sched_at(dev, dev->due_mono);
}

static void
device_set_contact(struct device *dev, enum contact c)
{
	if (dev->st.contact == c)
		return;
	if (c == CONTACT_LOST)
		log_warnx("device \"%s\": contact lost after %d missed polls: %s",
		    dev->conf->name, dev->st.missed, dev->st.reason);
	else if (c == CONTACT_OK && dev->st.contact == CONTACT_LOST)
		log_info("device \"%s\": contact regained", dev->conf->name);
	dev->st.contact = c;
	dev->st.since_ms = time_now_ms();
}

static void
device_commit(struct device *dev, struct poll *p, int64_t now)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct poll_value *v = &p->v[i];
		struct series *s = store_series(dev->store, dev->conf->name,
		    poll_at(p, v->metric), v->kind, poll_at(p, v->unit));
		struct sample smp = {
			.t_ms = now,
			.num = v->num,
			.text = poll_at(p, v->text),
			.q = v->invalid != 0 ? Q_ERROR : Q_OK,
			.reason = poll_at(p, v->invalid),
		};
		series_update(s, &smp);
	}
}

static void
device_attempt_end(struct device *dev, enum poll_status status, const char *reason)
{
	struct poll *p = dev->poll;
	int64_t now = time_now_ms();

	dev->poll = NULL;
	evtimer_del(dev->deadline);
	if (status == POLL_OK) {
		device_commit(dev, p, now);
		poll_clear(p);
		dev->st.polls++;
		dev->st.missed = 0;
		dev->st.last_ok_ms = dev->st.last_poll_ms = now;
		dev->st.last_status = POLL_OK;
		dev->st.reason[0] = '\0';
		device_set_contact(dev, CONTACT_OK);
		device_schedule_next(dev);
		goto changed;
	}
	poll_clear(p);
	snprintf(dev->st.reason, sizeof(dev->st.reason), "%s", reason);
	dev->st.last_status = status;
	if (dev->attempt < dev->conf->retries) {
		dev->attempt++;
		log_debug("device \"%s\": attempt %d failed (%s), retrying",
		    dev->conf->name, dev->attempt, reason);
		sched_at(dev, time_mono_ms() + dev->conf->retry_interval_ms);
		return;
	}
	dev->st.polls++;
	dev->st.failures++;
	dev->st.missed++;
	dev->st.last_poll_ms = now;
	if (dev->st.missed >= dev->conf->stale_after) {
		char why[320];
		snprintf(why, sizeof(why), "contact lost: %s", dev->st.reason);
		store_degrade_device(dev->store, dev->conf->name, Q_STALE, why);
		device_set_contact(dev, CONTACT_LOST);
	} else if (dev->st.contact != CONTACT_LOST)
		device_set_contact(dev, CONTACT_MISSED);
	device_schedule_next(dev);
changed:
	if (dev->change_cb != NULL)
		dev->change_cb(dev, dev->change_arg);
}

static void
device_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct device *dev = arg;
	char reason[64], d[32];

	(void)fd;
	(void)ev;
	if (dev->poll == NULL)
		return;
	dev->conf->probe->cancel(dev, dev->poll);
	snprintf(reason, sizeof(reason), "no answer within %s",
	    duration_format(dev->conf->timeout_ms, d, sizeof(d)));
	device_attempt_end(dev, POLL_TIMEOUT, reason);
}

/*
 * End the attempt in flight (from the probe).  The attempt object lives as
 * long as its device, so a second completion, or one after a timeout
 * cancelled the attempt, finds it not in flight: a probe bug, logged and
 * ignored, never fatal.  (A stale completion arriving during a newer attempt
 * cannot be told apart: probes must honour cancel.)
 */
void
poll_done(struct poll *p, enum poll_status status, const char *fmt, ...)
{
	struct device *dev = p->dev;
	char reason[256] = "";
	va_list ap;

	if (dev == NULL || dev->poll != p) {
		log_warnx(
		    "%s: completion for an attempt not in flight (probe bug)", __func__);
		return;
	}
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	} else if (status != POLL_OK)
		snprintf(reason, sizeof(reason), "%s", poll_status_name(status));
	device_attempt_end(dev, status, reason);
}

static void
device_attempt(struct device *dev)
{
	if (dev->poll != NULL)
		return;
	dev->poll = &dev->attempt_buf;
	dev->poll->dev = dev;
	timer_in(dev->deadline, dev->conf->timeout_ms);
	dev->conf->probe->poll(dev, dev->poll);
}

/* Start the probe and the schedule; the first poll comes at a random offset. */
int
device_start(struct device *dev)
{
	int64_t spread = dev->conf->interval_ms < FIRST_POLL_SPREAD_MS
	                     ? dev->conf->interval_ms
	                     : FIRST_POLL_SPREAD_MS;

	if (dev->started)
		return 0;
	if (dev->conf->probe->start(dev) == -1)
		return -1;
	dev->started = 1;
	dev->deadline = evtimer_new(dev->base, device_deadline_cb, dev);
	if (dev->deadline == NULL)
		fatalx("%s: evtimer_new", __func__);
	dev->sched = sched_get(dev->base);
	dev->heap_idx = SCHED_NONE;
	dev->due_mono = time_mono_ms() + (int64_t)(random_u32() % (uint32_t)(spread + 1));
	sched_at(dev, dev->due_mono);
	return 0;
}

/* Cancel any attempt in flight, stop the schedule and the probe. */
void
device_stop(struct device *dev)
{
	if (!dev->started)
		return;
	if (dev->poll != NULL) {
		dev->conf->probe->cancel(dev, dev->poll);
		poll_clear(dev->poll);
		dev->poll = NULL;
	}
	sched_remove(dev);
	sched_put(dev->sched);
	dev->sched = NULL;
	event_free(dev->deadline);
	dev->deadline = NULL;
	dev->trap_again = 0;
	dev->extra = 0;
	dev->conf->probe->stop(dev);
	dev->started = 0;
}

/* Poll now, out of schedule; -1 if a poll is already in flight. */
int
device_poll_now(struct device *dev)
{
	if (!dev->started || dev->poll != NULL)
		return -1;
	sched_remove(dev);
	dev->due_mono = time_mono_ms();
	dev->attempt = 0;
	device_attempt(dev);
	return 0;
}

/*
 * The device sent a trap (kind says what, for `sonae device`): something
 * changed, and only a poll can say what.  Poll now, or right after the poll
 * in flight (which may have read the device before the change), but never
 * sooner than gap_ms after the last poll a trap asked for, so a trap storm
 * costs at most one poll per gap.  Returns 1 if this trap started or planned
 * a poll, 0 if a poll already planned covers it.
 */
int
device_trap(struct device *dev, const char *kind, int64_t gap_ms)
{
	int64_t now = time_mono_ms(), at = now;

	dev->st.traps++;
	dev->st.last_trap_ms = time_now_ms();
	snprintf(dev->st.last_trap, sizeof(dev->st.last_trap), "%s", kind);
	if (!dev->started)
		return 0;
	dev->trap_gap_ms = gap_ms;
	if (dev->poll != NULL) {
		if (dev->trap_again)
			return 0;
		dev->trap_again = 1;
		return 1;
	}
	if (dev->trap_polled && dev->trap_mono + gap_ms > at)
		at = dev->trap_mono + gap_ms;
	/* A poll planned by then (the schedule, a retry) reads after this trap. */
	if (dev->heap_idx != SCHED_NONE && dev->fire_mono <= at)
		return 0;
	dev->trap_mono = at;
	dev->trap_polled = 1;
	dev->extra = 1;
	dev->attempt = 0;
	if (at > now) {
		sched_at(dev, at);
		return 1;
	}
	sched_remove(dev);
	device_attempt(dev);
	return 1;
}

/*
 * Delivery from the spool through the relays, on the daemon's loop.
 *
 * One message at a time, in id order (the order they were queued): the
 * lowest due id (spool_first_due()) is marked busy, read from its file and
 * handed to the first relay: smtp_send() for an SMTP relay, sendmail_send()
 * for a local sendmail program.  A relay that fails transiently (no
 * connection, a timeout, a 4xx, a sendmail exit other than a refusal) hands
 * it to the next one, in order, as smtp_send_any() would; the answer that
 * counts is that of the relay that took the message, refused it for good,
 * or was the last one tried.  When it comes back (on this loop):
 *
 * - accepted: spool_delivered() at once, before anything else (the spool's
 *   one window for a duplicate stays as small as it can), then the next due
 *   message;
 * - refused for good (a 5xx): the message is kept, not dropped; the failure
 *   is recorded (spool_attempt_failed(), so it waits out its backoff) and
 *   counted as refused, and the round goes on with the next message, since
 *   the path itself works.  When to give such a message up is decided
 *   elsewhere, later;
 * - failed transiently (no relay answered, or every one said 4xx): the
 *   failure is recorded and the round stops: the path is down, the other
 *   messages wait.  One evtimer wakes the engine when the failed message's
 *   backoff is over (or when the spool says something falls due, whichever
 *   is later), and the lowest due id goes first again; the others are not
 *   tried, so their attempt counts do not grow while the path is down.
 *
 * "Alerts cannot leave the site": after down_failures consecutive failed
 * attempts (transient or permanent), or when the oldest queued message has
 * waited down_age_ms, the callback is called once with down 1 and a reason;
 * once with down 0 when a relay accepts a message again.  The alerts engine
 * (notify.c) raises it as the incident mail-undeliverable, which routes can
 * send to the beacon, syslog and exec channels that need no relay.
 *
 * deliver_kick(): a message was queued, or a relay may be back: every queued
 * message is made due now (spool_hurry()) and the hold of a transient
 * failure lifted.
 *
 * An attempt under way when the engine is freed is not cancelled (struct
 * smtp has no way to cancel one job, and a sendmail program is left to
 * finish): its ticket is orphaned and its outcome ignored, and the message
 * stays busy in this spool until the spool is reopened, so it is never sent
 * twice at once; if the relay did accept it, it is sent again after the
 * reopen (like a crash before the unlink).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"

#define DELIVER_ERR_MAX  512
#define DELIVER_MAX_WAIT 3600000 /* re-look at least hourly */

struct deliver;

/* One attempt; d is NULL once the engine is gone. */
struct deliver_ticket {
	struct deliver *d;
	uint64_t id;
	struct spool_msg *m; /* kept for the next relay */
	size_t relay;        /* the relay trying it */
};

struct deliver {
	struct event_base *base;
	struct spool *sp;
	struct smtp *smtp;
	struct smtp_relay *relays;
	char **labels; /* a relay as recorded: its URL, or "sendmail:PROGRAM" */
	size_t nrelays;
	struct event *timer;
	struct deliver_ticket *inflight;
	int64_t hold_until; /* after a transient failure: nothing before */

	int down_failures;
	int64_t down_age_ms;
	void (*cb)(void *arg, int down, const char *reason);
	void *cb_arg;
	deliver_observer *obs;
	void *obs_arg;

	int down;
	int64_t down_since;
	char down_reason[DELIVER_ERR_MAX];
	int consecutive;
	uint64_t delivered, failed, refused;
	char last_error[DELIVER_ERR_MAX];
	char last_relay[256];

	/* The oldest queued message, cached: its id and when it was queued. */
	uint64_t oldest_id;
	int64_t oldest_ms;
};

static void deliver_run(struct deliver *d);

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

static void
relay_clear(struct smtp_relay *r)
{
	free((char *)(uintptr_t)r->url);
	free((char *)(uintptr_t)r->ca_file);
	free((char *)(uintptr_t)r->user);
	if (r->password != NULL) {
		char *p = (char *)(uintptr_t)r->password;
		explicit_bzero(p, strlen(p));
		free(p);
	}
	free((char *)(uintptr_t)r->login_options);
	if (r->sendmail != NULL) {
		size_t i;
		for (i = 0; r->sendmail[i] != NULL; i++)
			free((char *)(uintptr_t)r->sendmail[i]);
		free((void *)(uintptr_t)r->sendmail);
	}
}

static const char *const *
argv_copy(const char *const *argv)
{
	size_t n, i;
	char **v;

	for (n = 0; argv[n] != NULL; n++)
		continue;
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = xstrdup(argv[i]);
	return (const char *const *)v;
}

static void
ticket_free(struct deliver_ticket *t)
{
	spool_msg_free(t->m);
	free(t);
}

/* When the oldest queued message was queued; 0 for an empty spool. */
static int64_t
oldest_queued(struct deliver *d)
{
	uint64_t id = spool_first(d->sp);
	struct spool_msg *m;
	char err[256];

	if (id == 0)
		return 0;
	if (id != d->oldest_id) {
		m = spool_get(d->sp, id, err, sizeof(err));
		d->oldest_id = id;
		d->oldest_ms = m != NULL ? m->created_ms : time_now_ms();
		spool_msg_free(m);
	}
	return d->oldest_ms;
}

static void
set_down(struct deliver *d, int down, int64_t now, const char *reason)
{
	d->down = down;
	d->down_since = down ? now : 0;
	strlcpy_s(d->down_reason, down ? reason : "", sizeof(d->down_reason));
	if (down)
		log_warnx("alerts cannot leave the site: %s", reason);
	else
		log_info("alerts leave the site again: %s", reason);
	if (d->cb != NULL)
		d->cb(d->cb_arg, down, reason);
}

/* Decide whether alerts cannot leave the site any more. */
static void
check_down(struct deliver *d, int64_t now)
{
	char reason[DELIVER_ERR_MAX + 128];
	int64_t oldest;

	if (d->down)
		return;
	if (d->consecutive >= d->down_failures) {
		snprintf(reason, sizeof(reason),
		    "%d delivery attempts in a row failed: %s", d->consecutive,
		    d->last_error);
		set_down(d, 1, now, reason);
		return;
	}
	oldest = oldest_queued(d);
	if (oldest != 0 && now - oldest >= d->down_age_ms) {
		snprintf(reason, sizeof(reason), "message #%llu has waited %lld s: %s",
		    (unsigned long long)d->oldest_id, (long long)((now - oldest) / 1000),
		    d->last_error[0] != '\0' ? d->last_error : "not tried yet");
		set_down(d, 1, now, reason);
	}
}

/* Arm the one timer for the next thing to do; nothing while an attempt runs. */
static void
schedule(struct deliver *d)
{
	int64_t now = time_now_ms(), when, oldest;
	struct timeval tv;

	check_down(d, now);
	evtimer_del(d->timer);
	if (d->inflight != NULL)
		return;
	when = spool_next_wakeup(d->sp, now);
	if (when == INT64_MAX)
		return;
	if (when < d->hold_until)
		when = d->hold_until;
	if (!d->down && (oldest = oldest_queued(d)) != 0 &&
	    oldest + d->down_age_ms < when)
		when = oldest + d->down_age_ms;
	when -= now;
	if (when < 0)
		when = 0;
	if (when > DELIVER_MAX_WAIT)
		when = DELIVER_MAX_WAIT;
	tv.tv_sec = (time_t)(when / 1000);
	tv.tv_usec = (suseconds_t)(when % 1000 * 1000);
	evtimer_add(d->timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver_run(arg);
}

/* Record a failed attempt of id; the time of its next attempt. */
static int64_t
failed(struct deliver *d, uint64_t id, const char *relay, const char *reason,
    int permanent, int64_t now)
{
	char err[256];
	int64_t next = 0;

	d->failed++;
	if (permanent)
		d->refused++;
	d->consecutive++;
	snprintf(d->last_error, sizeof(d->last_error), "#%llu: %s",
	    (unsigned long long)id, reason);
	log_warnx("alert mail #%llu %s%s%s: %s", (unsigned long long)id,
	    permanent ? "refused" : "not delivered", relay[0] != '\0' ? " by " : "",
	    relay, reason);
	if (spool_attempt_failed(d->sp, id, relay, reason, now, random_u32(), &next, err,
	        sizeof(err)) == -1) {
		log_warnx("spool: #%llu: %s", (unsigned long long)id, err);
		spool_set_busy(d->sp, id, 0);
		next = now + 1000; /* never spin on a spool that cannot write */
	}
	return next;
}

static void on_sent(void *arg, int ok, int permanent, const char *reason);

/* Hand t's message to its relay: 0, or -1 with why in err. */
static int
relay_send(struct deliver *d, struct deliver_ticket *t, char *err, size_t errlen)
{
	struct smtp_relay r = d->relays[t->relay];
	const struct spool_msg *m = t->m;
	int rc;

	/* More mail due after this one: keep the connection for it. */
	r.keep_open = spool_next_due(d->sp, t->id, time_now_ms()) != 0;

	if (r.sendmail != NULL)
		rc = sendmail_send(d->base, r.sendmail, r.timeout_ms, m->env_from,
		    (const char *const *)m->rcpt.v, m->rcpt.n, m->data, m->len, on_sent,
		    t);
	else
		rc = smtp_send(d->smtp, &r, m->env_from, (const char *const *)m->rcpt.v,
		    m->rcpt.n, m->data, m->len, on_sent, t);
	if (rc == -1)
		snprintf(err, errlen, "cannot send: %s", strerror(errno));
	return rc;
}

/*
 * Start t on its relay, or on the next ones if it cannot even be handed
 * over: 0, or -1 with the last relay's reason in err.
 */
static int
attempt(struct deliver *d, struct deliver_ticket *t, char *err, size_t errlen)
{
	while (relay_send(d, t, err, errlen) == -1) {
		if (t->relay + 1 >= d->nrelays)
			return -1;
		t->relay++;
	}
	return 0;
}

static void
on_sent(void *arg, int ok, int permanent, const char *reason)
{
	struct deliver_ticket *t = arg;
	struct deliver *d = t->d;
	uint64_t id = t->id;
	const char *url;
	char err[256];
	int64_t now, next;
	uint64_t incident;

	if (d == NULL) {
		ticket_free(t); /* the engine was freed meanwhile */
		return;
	}
	if (!ok && !permanent && t->relay + 1 < d->nrelays) {
		/* This relay is down, not the message refused: the next one. */
		log_info("alert mail #%llu: relay %s failed: %s; trying %s",
		    (unsigned long long)id, d->labels[t->relay], reason,
		    d->labels[t->relay + 1]);
		t->relay++;
		if (attempt(d, t, err, sizeof(err)) == 0)
			return;
		reason = err;
	}
	d->inflight = NULL;
	now = time_now_ms();
	url = d->labels[t->relay];
	incident = t->m != NULL ? t->m->incident : 0;
	ticket_free(t);
	strlcpy_s(d->last_relay, url, sizeof(d->last_relay));
	if (ok) {
		if (spool_delivered(d->sp, id, err, sizeof(err)) == -1) {
			/* Still queued: it will go again, a duplicate rather than a loss.
			 */
			log_warnx("spool: #%llu: %s", (unsigned long long)id, err);
			spool_set_busy(d->sp, id, 0);
		}
		d->delivered++;
		d->consecutive = 0;
		d->hold_until = 0;
		if (d->obs != NULL)
			d->obs(d->obs_arg, id, incident, 1, 0, url, reason);
		if (d->down)
			set_down(d, 0, now, "a relay accepted a message");
		deliver_run(d);
		return;
	}
	next = failed(d, id, url, reason, permanent, now);
	if (d->obs != NULL)
		d->obs(d->obs_arg, id, incident, 0, permanent, url, reason);
	if (!permanent) {
		d->hold_until = next; /* the path is down: the rest waits */
		schedule(d);
		return;
	}
	deliver_run(d);
}

/* Send the lowest due message unless one is under way; else arm the timer. */
static void
deliver_run(struct deliver *d)
{
	int64_t now = time_now_ms();
	struct deliver_ticket *t;
	struct spool_msg *m;
	char err[256];
	uint64_t id;

	if (d->inflight != NULL)
		return;
	if (now < d->hold_until || (id = spool_first_due(d->sp, now)) == 0) {
		schedule(d);
		return;
	}
	m = spool_get(d->sp, id, err, sizeof(err));
	if (m == NULL) {
		/* Unreadable now: count it and let its backoff decide. */
		d->hold_until = failed(d, id, "", err, 0, now);
		schedule(d);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->d = d;
	t->id = id;
	t->m = m;
	spool_set_busy(d->sp, id, 1);
	if (attempt(d, t, err, sizeof(err)) == -1) {
		ticket_free(t);
		spool_set_busy(d->sp, id, 0);
		d->hold_until = failed(d, id, "", err, 0, now);
		schedule(d);
		return;
	}
	d->inflight = t;
	evtimer_del(d->timer);
}

struct deliver *
deliver_new(struct event_base *base, struct spool *sp, struct smtp *smtp,
    const struct smtp_relay *relays, size_t nrelays, char *err, size_t errlen)
{
	struct deliver *d;
	size_t i;

	if (base == NULL || sp == NULL || relays == NULL || nrelays == 0) {
		snprintf(err, errlen,
		    "deliver: a loop, a spool, a client and a relay are needed");
		return NULL;
	}
	for (i = 0; i < nrelays; i++) {
		const char *const *argv = relays[i].sendmail;
		if (argv == NULL && relays[i].url == NULL) {
			snprintf(err, errlen, "deliver: relay %zu has no URL", i);
			return NULL;
		}
		if (argv == NULL && smtp == NULL) {
			snprintf(err, errlen,
			    "deliver: relay %zu is an SMTP relay and there is no client",
			    i);
			return NULL;
		}
		if (argv != NULL && (argv[0] == NULL || argv[0][0] != '/')) {
			snprintf(err, errlen,
			    "deliver: relay %zu: sendmail needs an absolute path", i);
			return NULL;
		}
	}
	d = xcalloc(1, sizeof(*d));
	d->base = base;
	d->sp = sp;
	d->smtp = smtp;
	d->down_failures = DELIVER_DOWN_FAILURES;
	d->down_age_ms = DELIVER_DOWN_AGE_MS;
	d->relays = xcalloc(nrelays, sizeof(*d->relays));
	d->labels = xcalloc(nrelays, sizeof(*d->labels));
	d->nrelays = nrelays;
	for (i = 0; i < nrelays; i++) {
		d->relays[i] = relays[i];
		d->relays[i].url = dup_or_null(relays[i].url);
		if (relays[i].sendmail != NULL) {
			d->relays[i].sendmail = argv_copy(relays[i].sendmail);
			xasprintf(&d->labels[i], "sendmail:%s", relays[i].sendmail[0]);
		} else
			d->labels[i] = xstrdup(relays[i].url);
		d->relays[i].ca_file = dup_or_null(relays[i].ca_file);
		d->relays[i].user = dup_or_null(relays[i].user);
		d->relays[i].password = dup_or_null(relays[i].password);
		d->relays[i].login_options = dup_or_null(relays[i].login_options);
	}
	d->timer = evtimer_new(base, on_timer, d);
	if (d->timer == NULL) {
		snprintf(err, errlen, "deliver: cannot make a timer");
		deliver_free(d);
		return NULL;
	}
	return d;
}

void
deliver_free(struct deliver *d)
{
	size_t i;

	if (d == NULL)
		return;
	if (d->inflight != NULL)
		d->inflight->d = NULL; /* on_sent frees it */
	if (d->timer != NULL)
		event_free(d->timer);
	for (i = 0; i < d->nrelays; i++) {
		relay_clear(&d->relays[i]);
		free(d->labels[i]);
	}
	free(d->relays);
	free(d->labels);
	free(d);
}

void
deliver_kick(struct deliver *d)
{
	d->hold_until = 0;
	spool_hurry(d->sp, time_now_ms());
	deliver_run(d);
}

void
deliver_set_down_failures(struct deliver *d, int n)
{
	d->down_failures = n > 0 ? n : 1;
}

void
deliver_set_down_age(struct deliver *d, int64_t ms)
{
	d->down_age_ms = ms > 0 ? ms : 1;
}

void
deliver_set_observer(struct deliver *d, deliver_observer *fn, void *arg)
{
	d->obs = fn;
	d->obs_arg = arg;
}

void
deliver_set_callback(
    struct deliver *d, void (*cb)(void *arg, int down, const char *reason), void *arg)
{
	d->cb = cb;
	d->cb_arg = arg;
}

int
deliver_down(const struct deliver *d)
{
	return d->down;
}

json_t *
deliver_json(const struct deliver *d)
{
	json_t *o = json_object();

	json_object_set_new(o, "queued", json_integer((json_int_t)spool_count(d->sp)));
	json_object_set_new(o, "in_flight",
	    json_integer(d->inflight != NULL ? (json_int_t)d->inflight->id : 0));
	json_object_set_new(o, "down", json_boolean(d->down));
	json_object_set_new(o, "down_since", json_integer(d->down_since));
	json_object_set_new(o, "down_reason", json_string(d->down_reason));
	json_object_set_new(o, "consecutive_failures", json_integer(d->consecutive));
	json_object_set_new(o, "delivered", json_integer((json_int_t)d->delivered));
	json_object_set_new(o, "failed", json_integer((json_int_t)d->failed));
	json_object_set_new(o, "refused", json_integer((json_int_t)d->refused));
	json_object_set_new(o, "last_error", json_string(d->last_error));
	json_object_set_new(o, "last_relay", json_string(d->last_relay));
	return o;
}

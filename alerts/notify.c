/*
 * The alerts engine: from "incident 12 is a problem" to mails in the spool,
 * lines in syslog, programs run and beacons switched on.
 *
 * The detection layer decides *that* people must hear of an incident
 * (detect.c's notify(): not in a maintenance window, not flapping) and calls
 * alerts_incident() with "problem" or "recovery".  This file decides *who*,
 * *how* and *when*:
 *
 * - Routes (conf.routes) are tried in order against the incident as it is
 *   (severity, detector, its devices' names, kinds and availability classes)
 *   and the current operating mode; the first match wins unless it says
 *   `continue`.
 * - Group wait: the first notification waits the shortest group_wait of the
 *   matched routes, so that what one cause brings down in the first seconds
 *   is folded into the incident (detect.c) and the burst is one message.  It
 *   is composed when the wait ends, from the incident as it is then.
 * - Later: a change of severity is told at once to everyone told so far;
 *   while nobody acknowledged the incident it is told again every `repeat`,
 *   and escalation steps add people after their `after`.  An acknowledgement
 *   stops both (checked when they fall due: the incident knows its ack).
 * - The recovery goes to everyone told and closes the thread; a beacon is
 *   switched off when no open incident holds it any more.
 * - Mail per recipient is rate-limited (conf.mail.rate_limit per
 *   rate_period); what is held back goes out as one digest when the period
 *   allows.
 * - Routes with `roster` also tell the people of the operating mode
 *   (modes[]): the first of its `alert` (all of it without `chain`) and its
 *   `copy` with the first notification, then, while nobody acknowledged,
 *   one step every `escalate_after`: the next of `alert` who is not told
 *   yet, and at last `escalate_to`.  Each step is worked out from the mode
 *   as it is when it falls due (the track keeps only how many steps were
 *   taken and when the last one was), so a change of mode changes the next
 *   step of every open incident at once.
 * - In a mode that watches only the higher availability classes live
 *   (live_availability), a problem whose devices are all below it is not
 *   told: it waits for the daily digest at staffing.digest_at, or is
 *   deferred, and is told as a problem if a later mode watches it live
 *   while it is still open.
 * - When the spool cannot deliver (deliver.c's callback) the daemon raises
 *   the incident `mail-undeliverable`, routed like any other (to local
 *   channels, typically); when mail leaves again, everyone who was mailed
 *   meanwhile also gets one catch-up digest, marked delayed, with what is
 *   open now.
 *
 * Every mail is in the spool (written and fsynced) before it counts as sent;
 * the engine's own state (alerts.json in state_dir: what was told to whom,
 * the next steps, the rate counters and held digests, the outage) is written
 * at the end of every loop turn that changed it, so a restart neither
 * repeats a notification nor forgets one that was due.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"

#define TICK_MAX_MS    10000 /* re-look at least this often */
#define HELD_MAX       200   /* held digest lines kept per recipient */
#define STATE_FILE     "alerts.json"
#define STATE_VERSION  1
#define MAIL_BODY_ROWS 40 /* readings and folded detectors listed */
#define NELEM(a)       (sizeof(a) / sizeof((a)[0]))
#define DIGEST_MAX     500 /* problems kept for the mode's daily digest */

/* Why a problem is not told live (the operating mode's asset scope). */
enum held {
	HELD_NO,
	HELD_DIGEST, /* in the daily digest */
	HELD_DEFER,  /* not mailed at all */
};

/* What happens to one incident. */
struct track {
	uint64_t id;
	int64_t opened_ms; /* the thread root */
	int64_t due_ms;    /* the first notification; 0: sent */
	int64_t first_ms;  /* when it was first told; 0: not yet */
	int64_t esc_ms;    /* the escalation clock: first told by a route with steps */
	int64_t next_repeat_ms;      /* 0: none */
	size_t step;                 /* escalation steps done */
	int stopped;                 /* an acknowledgement stopped escalation */
	int mailed_root;             /* the thread root went out as a Message-ID */
	int update;                  /* a new problem (severity) to tell: next tick */
	int recovery;                /* the recovery to tell: next tick */
	int held;                    /* enum held: not told live (the mode) */
	int recheck;                 /* held: the mode changed, look again */
	size_t rstep;                /* roster steps told */
	int64_t rclock_ms;           /* the last roster step; 0: none yet */
	int rnobody;                 /* "nobody available" was noted */
	char *severity;              /* last told */
	struct conf_strings routes;  /* the matched routes' names */
	struct conf_strings to;      /* everyone mailed so far */
	struct conf_strings beacons; /* beacon channels it switched on */
	TAILQ_ENTRY(track) entry;
};
TAILQ_HEAD(track_list, track);

/* One held-back notification of a rate-limited recipient. */
struct rate {
	char *addr;
	int64_t start_ms; /* of the current period */
	int count;        /* mails in it */
	json_t *held;     /* [{incident, subject, time_ms}] */
	int more;         /* held beyond HELD_MAX: counted, not listed */
};

struct alerts {
	struct event_base *base;
	const struct conf *conf;
	const struct alerts_hooks *h;
	void *arg;
	struct spool *sp;
	struct smtp *smtp;
	struct deliver *dl;
	char *relays_key; /* the relays the engine was built with */
	int relays_stale; /* rebuild when idle */
	struct track_list tracks;
	struct hmap *rates; /* addr -> struct rate */
	struct {
		int down;
		int64_t since_ms;
		char *reason;
		struct conf_strings rcpts; /* mailed while down */
		int count;                 /* mails queued while down */
	} outage;
	struct {
		json_t *items;  /* [{incident, title, devices, class, opened_ms, mode}] */
		int64_t due_ms; /* the next digest; 0: none held */
		int more;       /* held beyond DIGEST_MAX: counted, not listed */
	} digest;
	char *mode_seen; /* the operating mode the last tick saw */
	struct event *timer, *saver;
	int dirty;
	struct complaint save_failed, syslog_failed;
	uint64_t mails, held;
};

static void alerts_arm(struct alerts *);
static void alerts_relays(struct alerts *);
static void path_changed(void *, int, const char *);
static const struct route_conf *track_escalation(struct alerts *, const struct track *);
static void channel_exec(struct alerts *, const struct channel_conf *,
    const struct track *, const json_t *, const char *);
static int mail_incident(struct alerts *, struct track *, const json_t *, const char *,
    const char *, const struct conf_strings *, const char *);
static void channels_run(struct alerts *, struct track *, const json_t *, const char *);
static char *devices_list(const json_t *);
static void roster_now(struct alerts *, struct conf_strings *);

/* A line in the incident's timeline. */
static void PRINTFLIKE(4, 5)
    note(struct alerts *a, uint64_t id, const char *event, const char *fmt, ...)
{
	va_list ap;
	char text[1024];

	if (a->h->note == NULL || id == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	a->h->note(a->arg, id, event, text);
}

static void
mark_dirty(struct alerts *a)
{
	a->dirty = 1;
	if (a->saver != NULL)
		event_active(a->saver, 0, 0);
}

static void
strings_from_json(struct conf_strings *s, const json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) if (json_is_string(v))
	    conf_strings_add(s, json_string_value(v));
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static int64_t
jint(const json_t *o, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(o, key));
}

/* "2026-11-26 03:00:12 +0900", in the daemon's (the site's) zone. */
static char *
local_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%F %T %z", &tm) == 0)
		snprintf(buf, len, "%lld ms", (long long)ms);
	return buf;
}

/* "12 min", "2 h 5 min", "40 s". */
static char *
span(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (s < 120)
		snprintf(buf, len, "%lld s", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lld min", (long long)(s / 60));
	else
		snprintf(buf, len, "%lld h %lld min", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	return buf;
}

/* "a@x, b@y" ("" for none). */
static char *
strings_join(const struct conf_strings *s)
{
	char *out = xstrdup(""), *tmp;
	size_t i;

	for (i = 0; i < s->n; i++) {
		xasprintf(&tmp, "%s%s%s", out, i ? ", " : "", s->v[i]);
		free(out);
		out = tmp;
	}
	return out;
}

/* Append to to the strings of from it does not hold yet. */
static void
strings_add_new(struct conf_strings *to, const struct conf_strings *from)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		if (!conf_strings_has(to, from->v[i]))
			conf_strings_add(to, from->v[i]);
}

/*
 * Tracks.
 */
static struct track *
track_find(struct alerts *a, uint64_t id)
{
	struct track *t;

	TAILQ_FOREACH(t, &a->tracks, entry)
	if (t->id == id)
		return t;
	return NULL;
}

static void
track_free(struct track *t)
{
	free(t->severity);
	conf_strings_free(&t->routes);
	conf_strings_free(&t->to);
	conf_strings_free(&t->beacons);
	free(t);
}

static void
track_drop(struct alerts *a, struct track *t)
{
	TAILQ_REMOVE(&a->tracks, t, entry);
	track_free(t);
	mark_dirty(a);
}

/*
 * Routing.
 */
static int
any_match(const struct conf_strings *patterns, const char *s)
{
	size_t i;

	for (i = 0; i < patterns->n; i++)
		if (fnmatch(patterns->v[i], s, 0) == 0)
			return 1;
	return 0;
}

/* Does route r take the incident inc in mode? */
static int
route_matches(
    struct alerts *a, const struct route_conf *r, const json_t *inc, const char *mode)
{
	const json_t *devs = json_object_get(inc, "devices");
	int dev_ok = r->devices.n == 0, kind_ok = r->kinds.n == 0;
	int avail_ok = r->availability == 0;
	size_t i;
	json_t *v;

	if (r->severity.n > 0 && !conf_strings_has(&r->severity, jstr(inc, "severity")))
		return 0;
	if (r->rules.n > 0 && !any_match(&r->rules, jstr(inc, "rule")))
		return 0;
	if (r->modes.n > 0 && !conf_strings_has(&r->modes, mode))
		return 0;
	json_array_foreach(devs, i, v)
	{
		const char *name = json_string_value(v);
		const struct device_conf *dc =
		    name != NULL ? a->h->device(a->arg, name) : NULL;
		if (name != NULL && r->devices.n > 0 && any_match(&r->devices, name))
			dev_ok = 1;
		if (dc == NULL)
			continue;
		if (r->kinds.n > 0 && conf_strings_has(&r->kinds, device_kinds[dc->kind]))
			kind_ok = 1;
		if (r->availability > 0 && dc->availability >= r->availability)
			avail_ok = 1;
	}
	return dev_ok && kind_ok && avail_ok;
}

/* The routes inc takes now, by name, into out; how many. */
static size_t
route_select(struct alerts *a, const json_t *inc, struct conf_strings *out)
{
	const char *mode = a->h->mode(a->arg);
	size_t i, n = 0;

	for (i = 0; i < a->conf->routes.n; i++) {
		const struct route_conf *r = conf_route(a->conf, i);
		if (!route_matches(a, r, inc, mode))
			continue;
		conf_strings_add(out, r->name);
		n++;
		if (!r->cont)
			break;
	}
	return n;
}

/*
 * Mail.
 */

/* Take a rate-limit slot for addr: 1 allowed, 0 held back (recorded). */
static int
rate_take(struct alerts *a, const char *addr, uint64_t incident, const char *subject,
    int64_t now)
{
	const struct conf *c = a->conf;
	struct rate *r;

	if (c->mail.rate_limit == 0)
		return 1;
	if ((r = hmap_get(a->rates, addr)) == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->addr = xstrdup(addr);
		r->held = json_array();
		r->start_ms = now;
		hmap_put(a->rates, r->addr, r);
	}
	if (now - r->start_ms >= c->mail.rate_period_ms &&
	    json_array_size(r->held) == 0) {
		r->start_ms = now;
		r->count = 0;
	}
	mark_dirty(a);
	if (r->count < c->mail.rate_limit && json_array_size(r->held) == 0) {
		r->count++;
		return 1;
	}
	if (json_array_size(r->held) < HELD_MAX)
		json_array_append_new(r->held,
		    json_pack("{s:I, s:s, s:I}", "incident", (json_int_t)incident,
		        "subject", subject, "time_ms", (json_int_t)now));
	else
		r->more++;
	a->held++;
	return 0;
}

/*
 * Render and spool one mail to the recipients of to that the rate limit
 * lets through (all of them when limit is 0); 0 when queued or nobody was
 * left, -1 when it could not be queued (logged).  t: the incident's track,
 * whose thread the mail is in (its first mail is the root), or NULL
 * (digests, tests); reply_to: with t NULL, a thread root the mail replies
 * to without ever being the root itself (a playbook's notice), or NULL.
 */
static int
mail_queue(struct alerts *a, struct track *t, const char *reply_to, uint64_t incident,
    const char *subject, const char *body, const struct conf_strings *to, int limit,
    const char *what, uint64_t *spool_id)
{
	const struct conf *c = a->conf;
	const char *domain = mail_address_domain(c->mail.from);
	struct conf_strings rcpt = { NULL, 0 };
	char *thread = NULL, *msgid = NULL, *msg = NULL, err[512];
	struct mail m = { 0 };
	int64_t now = time_now_ms();
	uint64_t id = 0;
	size_t i, len;
	int rc = -1;

	for (i = 0; i < to->n; i++)
		if (!limit || rate_take(a, to->v[i], incident, subject, now))
			conf_strings_add(&rcpt, to->v[i]);
	if (rcpt.n == 0) {
		log_info("alerts: %s of incident %llu held back by the rate limit", what,
		    (unsigned long long)incident);
		return 0;
	}
	if (a->sp == NULL) {
		log_warnx("alerts: %s of incident %llu: no spool", what,
		    (unsigned long long)incident);
		goto out;
	}
	if (t != NULL)
		thread = mail_thread_id(domain, c->site.name, t->id, t->opened_ms);
	else if (reply_to != NULL)
		thread = xstrdup(reply_to);
	if (t != NULL && !t->mailed_root)
		msgid = xstrdup(thread);
	else
		msgid = mail_message_id(domain, incident, now, arc4random());
	m.from = c->mail.from;
	m.from_name = c->mail.from_name;
	m.to = rcpt;
	m.subject = subject;
	m.body = body;
	m.message_id = msgid;
	m.thread_id = thread;
	m.incident = incident;
	m.date_ms = now;
	if ((msg = mail_render(&m, &len, err, sizeof(err))) == NULL) {
		log_warnx("alerts: %s of incident %llu: %s", what,
		    (unsigned long long)incident, err);
		goto out;
	}
	if (spool_add(a->sp, c->mail.from, &rcpt, incident, msg, len, now, &id, err,
	        sizeof(err)) == -1) {
		log_warnx("alerts: %s of incident %llu not queued: %s", what,
		    (unsigned long long)incident, err);
		goto out;
	}
	if (t != NULL)
		t->mailed_root = 1;
	a->mails++;
	if (a->outage.down) {
		for (i = 0; i < rcpt.n; i++)
			conf_strings_add(&a->outage.rcpts, rcpt.v[i]);
		a->outage.count++;
	}
	mark_dirty(a);
	if (a->h->journal != NULL)
		a->h->journal(a->arg, "sonaed", "alert.mail",
		    json_pack("{s:I, s:s, s:o, s:I}", "incident", (json_int_t)incident,
		        "what", what, "to", conf_strings_json(&rcpt), "queued",
		        (json_int_t)id));
	if (incident != 0) {
		char *list = strings_join(&rcpt);
		note(a, incident, "mail", "%s mail to %s queued (#%llu)", what, list,
		    (unsigned long long)id);
		free(list);
	}
	/* While the path is down the new mail waits its turn behind the oldest. */
	if (a->dl != NULL && !deliver_down(a->dl))
		deliver_kick(a->dl);
	if (spool_id != NULL)
		*spool_id = id;
	rc = 0;
out:
	conf_strings_free(&rcpt);
	free(thread);
	free(msgid);
	free(msg);
	return rc;
}

/* The readings of the incident's snapshot, one per line. */
static void
body_readings(FILE *f, const json_t *inc)
{
	const json_t *snap = json_object_get(inc, "snapshot");
	const char *key;
	json_t *v;
	size_t n = 0;

	if (json_object_size(snap) == 0)
		return;
	fprintf(f, "\n関連する値 / Readings at the opening:\n");
	json_object_foreach((json_t *)(uintptr_t)snap, key, v)
	{
		const json_t *val = json_object_get(v, "value");
		char *text = json_dumps(val, JSON_ENCODE_ANY);
		const char *unit = json_string_value(json_object_get(v, "unit"));
		const char *q = jstr(v, "quality");
		if (n++ == MAIL_BODY_ROWS) {
			fprintf(f, "  ...\n");
			free(text);
			break;
		}
		fprintf(f, "  %-32s %s%s%s%s%s\n", key, text ? text : "?",
		    unit ? " " : "", unit ? unit : "",
		    strcmp(q, "ok") != 0 && *q ? " (" : "",
		    strcmp(q, "ok") != 0 && *q ? q : "");
		if (strcmp(q, "ok") != 0 && *q)
			fprintf(f, ")");
		free(text);
	}
}

/*
 * A step of run that waits for a human (a confirm, or a step whose outcome
 * nobody knows since sonaed stopped while it ran), with the exact commands
 * that answer it: the mail is often what the one who must answer reads
 * first.
 */
static void
body_waiting(FILE *f, long long run, const json_t *s)
{
	static const char *const confirm[][2] = { { "", "はい / yes" },
		{ " --no", "いいえ / no" } };
	static const char *const unknown[][2] = { { "", "はい / it happened" },
		{ " --no", "いいえ / it did not" },
		{ " --retry", "再実行 / run it again" } };
	const char *id = jstr(s, "id"), *def = jstr(s, "default");
	int unk = json_is_true(json_object_get(s, "unknown"));
	size_t i;

	if (unk)
		fprintf(f, "  不明 / Unknown: %s: did it happen?\n", jstr(s, "title"));
	else
		fprintf(f, "  確認待ち / Waiting for an answer: %s\n", jstr(s, "title"));
	if (unk)
		fprintf(f, "    (sonaed stopped while it ran)\n");
	else if (*jstr(s, "question") != '\0')
		fprintf(f, "    %s\n", jstr(s, "question"));
	if (*jstr(s, "deadline") != '\0')
		fprintf(f, "    期限 / Deadline: %s%s%s%s\n", jstr(s, "deadline"),
		    *def ? " (then: " : "", def, *def ? ")" : "");
	for (i = 0; i < (unk ? NELEM(unknown) : NELEM(confirm)); i++)
		fprintf(f, "    %s: sonae confirm %lld %s%s -m \"TEXT\"\n",
		    unk ? unknown[i][1] : confirm[i][1], run, id,
		    unk ? unknown[i][0] : confirm[i][0]);
}

/*
 * The playbook runs of incident id that are not drills (a drill is
 * nobody's business in an incident mail): where each stands, and what it
 * waits for from a human, else the step under way.  0 when there is nothing
 * to show (no engine, no run): the caller names the requested playbook
 * instead.
 */
static int
body_runs(struct alerts *a, FILE *f, uint64_t id)
{
	json_t *runs, *r, *s;
	size_t i, k, n = 0;

	if (a->h->playbook_runs == NULL ||
	    (runs = a->h->playbook_runs(a->arg, id)) == NULL)
		return 0;
	json_array_foreach(json_object_get(runs, "runs"), i, r)
	{
		const json_t *step = json_object_get(r, "step");
		const json_t *waiting = json_object_get(r, "waiting");
		long long run = (long long)jint(r, "id");
		if (json_is_true(json_object_get(r, "drill")))
			continue;
		fprintf(f, "\n対応手順 / Playbook: %s (run %lld, %s)\n",
		    jstr(r, "playbook"), run, jstr(r, "state"));
		if (*jstr(r, "title_ja") != '\0' || *jstr(r, "title_en") != '\0')
			fprintf(
			    f, "  %s / %s\n", jstr(r, "title_ja"), jstr(r, "title_en"));
		json_array_foreach(waiting, k, s) body_waiting(f, run, s);
		if (json_array_size(waiting) == 0 && json_is_object(step))
			fprintf(f, "  次 / Next: %s (%s)\n", jstr(step, "title"),
			    jstr(step, "state"));
		fprintf(f, "  経過 / Progress: sonae run-status %lld\n", run);
		n++;
	}
	json_decref(runs);
	return n > 0;
}

/* The plain-text body of a mail about an incident. */
static char *
body_incident(struct alerts *a, const json_t *inc, const char *what, const char *extra)
{
	char *buf = NULL, t1[64], t2[64];
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	const json_t *ack = json_object_get(inc, "acknowledged");
	const json_t *res = json_object_get(inc, "resolved");
	const json_t *folded = json_object_get(inc, "folded");
	const json_t *devs = json_object_get(inc, "devices");
	int64_t opened = jint(inc, "opened_ms"), now = time_now_ms();
	uint64_t id = (uint64_t)jint(inc, "id");
	json_t *v;

	fprintf(f, "%s\n\n", jstr(inc, "title"));
	if (extra != NULL)
		fprintf(f, "%s\n\n", extra);
	fprintf(f, "サイト / Site:        %s\n", a->conf->site.name);
	fprintf(f, "インシデント / Incident: #%llu (%s)\n", (unsigned long long)id, what);
	fprintf(f, "重大度 / Severity:    %s\n", jstr(inc, "severity"));
	fprintf(f, "発生 / Since:         %s (%s ago)\n",
	    local_time(opened, t1, sizeof(t1)), span(now - opened, t2, sizeof(t2)));
	if (json_is_object(res))
		fprintf(f, "解決 / Resolved:      %s by %s: %s (after %s)\n",
		    local_time(jint(res, "time_ms"), t1, sizeof(t1)), jstr(res, "by"),
		    jstr(res, "text"),
		    span(jint(res, "time_ms") - opened, t2, sizeof(t2)));
	else if (json_is_object(ack))
		fprintf(f, "確認 / Acknowledged: by %s at %s: %s\n", jstr(ack, "by"),
		    local_time(jint(ack, "time_ms"), t1, sizeof(t1)), jstr(ack, "text"));
	else
		fprintf(f, "確認 / Acknowledged: not yet (未確認)\n");
	fprintf(
	    f, "検知 / Detector:      %s (%s)\n", jstr(inc, "rule"), jstr(inc, "source"));
	if (json_array_size(devs) > 0) {
		fprintf(f, "機器 / Devices:       ");
		json_array_foreach(devs, i, v)
		    fprintf(f, "%s%s", i ? ", " : "", json_string_value(v));
		fprintf(f, "\n");
	}
	if (json_is_string(json_object_get(inc, "maintenance")))
		fprintf(f, "保守 / Maintenance:   window %s\n", jstr(inc, "maintenance"));
	body_readings(f, inc);
	if (json_array_size(folded) > 0) {
		fprintf(f, "\n同じ原因 / Folded into this incident (one cause):\n");
		json_array_foreach(folded, i, v)
		{
			if (i == MAIL_BODY_ROWS) {
				fprintf(
				    f, "  ... %zu more\n", json_array_size(folded) - i);
				break;
			}
			fprintf(f, "  %-32s %s %s\n", jstr(v, "detector"),
			    jstr(v, "state"), jstr(v, "reason"));
		}
	}
	if (!body_runs(a, f, id) && json_is_string(json_object_get(inc, "playbook")))
		fprintf(f,
		    "\nプレイブック / Playbook: %s (requested; its steps: sonae playbook "
		    "%s)\n",
		    jstr(inc, "playbook"), jstr(inc, "playbook"));
	if (!json_is_object(res)) {
		fprintf(
		    f, "\n確認応答 / To acknowledge (stops reminders and escalation):\n");
		fprintf(f, "  sonae ack %llu -m \"対応中 (who is on it)\"\n",
		    (unsigned long long)id);
	}
	fprintf(f, "\n詳細 / Details:\n  sonae incident %llu\n", (unsigned long long)id);
	fprintf(f, "\n-- \nsonae %s, %s\n", SONAE_VERSION, a->conf->site.name);
	fclose(f);
	return buf;
}

/* Mail the incident to to; 0 or -1 (logged). */
static int
mail_incident(struct alerts *a, struct track *t, const json_t *inc, const char *what,
    const char *severity, const struct conf_strings *to, const char *extra)
{
	char *subject, *body;
	int rc;

	if (to->n == 0)
		return 0;
	subject = mail_subject(a->conf->site.name, severity, t->id, jstr(inc, "title"));
	body = body_incident(a, inc, what, extra);
	rc = mail_queue(a, t, NULL, t->id, subject, body, to, 1, what, NULL);
	free(subject);
	free(body);
	return rc;
}

/*
 * Local channels.
 */

/* One RFC 3164 line to the local syslog socket. */
static void
syslog_send(struct alerts *a, const struct channel_conf *c, int prio, const char *text)
{
	static const int fac[] = { LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1,
		LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7 };
	const char *path = c != NULL ? c->socket : "/dev/log";
	int facility = c != NULL ? fac[c->facility] : LOG_DAEMON;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char line[1024], ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd, n;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%b %e %T", &tm);
	n = snprintf(line, sizeof(line), "<%d>%s sonaed[%d]: %s", facility | prio, ts,
	    (int)getpid(), text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1 ||
	    sendto(fd, line, (size_t)n, 0, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		complain(
		    &a->syslog_failed, "alerts: syslog %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	complain_release(&a->syslog_failed, "alerts: syslog %s: works again", path);
	close(fd);
}

struct channel_job {
	struct alerts *a;
	uint64_t incident;
	char *channel;
};

static void
beacon_done(void *arg, int ok, const char *reason)
{
	struct channel_job *j = arg;
	struct alerts *a = j->a;

	if (ok)
		log_info("alerts: beacon %s written (incident %llu)", j->channel,
		    (unsigned long long)j->incident);
	else
		log_warnx("alerts: beacon %s (incident %llu): %s", j->channel,
		    (unsigned long long)j->incident, reason);
	if (a->h->journal != NULL)
		a->h->journal(a->arg, "sonaed", "alert.channel",
		    json_pack("{s:s, s:I, s:b, s:s}", "channel", j->channel, "incident",
		        (json_int_t)j->incident, "ok", ok, "reason",
		        reason != NULL ? reason : "written"));
	free(j->channel);
	free(j);
}

static void
beacon_write(
    struct alerts *a, const struct channel_conf *c, uint64_t incident, const char *value)
{
	struct channel_job *j = xcalloc(1, sizeof(*j));

	j->a = a;
	j->incident = incident;
	j->channel = xstrdup(c->name);
	if (a->h->beacon(a->arg, c, value, beacon_done, j) == -1)
		beacon_done(
		    j, 0, "cannot write: device not running or point not writable");
}

static int
syslog_prio(const char *what, const char *severity)
{
	if (strcmp(what, "recovery") == 0)
		return LOG_NOTICE;
	return strcmp(severity, "critical") == 0 ? LOG_CRIT : LOG_WARNING;
}

/* The local channels of the track's routes, for what. */
static void
channels_run(struct alerts *a, struct track *t, const json_t *inc, const char *what)
{
	struct conf_strings done = { NULL, 0 };
	const char *sev = jstr(inc, "severity");
	int recovery = strcmp(what, "recovery") == 0;
	size_t r, k;

	for (r = 0; r < t->routes.n; r++) {
		const struct route_conf *rc = conf_route_named(a->conf, t->routes.v[r]);
		for (k = 0; rc != NULL && k < rc->channels.n; k++) {
			const char *name = rc->channels.v[k];
			const struct channel_conf *c;
			char line[768];
			if (strcmp(name, "mail") == 0 || conf_strings_has(&done, name))
				continue;
			conf_strings_add(&done, name);
			snprintf(line, sizeof(line), "incident #%llu %s %s: %s (%s)",
			    (unsigned long long)t->id, what, sev, jstr(inc, "title"),
			    jstr(inc, "rule"));
			if (strcmp(name, "syslog") == 0) {
				syslog_send(a, NULL, syslog_prio(what, sev), line);
				continue;
			}
			if ((c = conf_channel_named(a->conf, name)) == NULL)
				continue;
			switch (c->type) {
			case CHANNEL_SYSLOG:
				syslog_send(a, c, syslog_prio(what, sev), line);
				break;
			case CHANNEL_EXEC:
				channel_exec(a, c, t, inc, what);
				break;
			case CHANNEL_BEACON:
				if (!recovery &&
				    !conf_strings_has(&t->beacons, c->name)) {
					conf_strings_add(&t->beacons, c->name);
					beacon_write(a, c, t->id, c->value);
				}
				break;
			}
		}
	}
	conf_strings_free(&done);
}

/* The beacons t holds that no other open incident holds: switch them off. */
static void
beacons_release(struct alerts *a, struct track *t)
{
	struct track *o;
	size_t k;

	for (k = 0; k < t->beacons.n; k++) {
		const struct channel_conf *c =
		    conf_channel_named(a->conf, t->beacons.v[k]);
		int held = 0;
		TAILQ_FOREACH(o, &a->tracks, entry)
		held |= o != t && conf_strings_has(&o->beacons, t->beacons.v[k]);
		if (!held && c != NULL && c->clear != NULL)
			beacon_write(a, c, t->id, c->clear);
	}
}

/*
 * The steps of an incident.
 */

/* The recipients of the track's routes (escalation steps not included). */
static void
first_recipients(struct alerts *a, struct track *t, struct conf_strings *to)
{
	size_t r, k;

	for (r = 0; r < t->routes.n; r++) {
		const struct route_conf *rc = conf_route_named(a->conf, t->routes.v[r]);
		if (rc == NULL || !conf_strings_has(&rc->channels, "mail"))
			continue;
		for (k = 0; k < rc->to.n; k++)
			conf_strings_add(to, rc->to.v[k]);
	}
}

/* The shortest nonzero repeat of the track's routes; 0: none. */
static int64_t
track_repeat(struct alerts *a, const struct track *t)
{
	int64_t best = 0;
	size_t r;

	for (r = 0; r < t->routes.n; r++) {
		const struct route_conf *rc = conf_route_named(a->conf, t->routes.v[r]);
		if (rc != NULL && rc->repeat_ms > 0 &&
		    (best == 0 || rc->repeat_ms < best))
			best = rc->repeat_ms;
	}
	return best;
}

/*
 * The operating mode (monitor/roster.c through the hooks): who a roster
 * route tells, and which problems are told live.
 */

/* The mode's configuration now, or NULL (no roster: routes' own `to` only). */
static const struct mode_conf *
mode_now(struct alerts *a)
{
	return a->h->mode_conf != NULL ? a->h->mode_conf(a->arg) : NULL;
}

/* Whether one of the track's routes mails the roster's people. */
static int
track_roster(struct alerts *a, const struct track *t)
{
	size_t r;

	for (r = 0; r < t->routes.n; r++) {
		const struct route_conf *rc = conf_route_named(a->conf, t->routes.v[r]);
		if (rc != NULL && rc->roster && conf_strings_has(&rc->channels, "mail"))
			return 1;
	}
	return 0;
}

/*
 * The addresses of the available people refs name now, less those in told
 * (NULL: none), appended to out without repeats.
 */
static void
resolve_new(struct alerts *a, const struct conf_strings *refs,
    const struct conf_strings *told, struct conf_strings *out)
{
	struct conf_strings got = { NULL, 0 };
	size_t i;

	if (a->h->resolve == NULL || refs->n == 0)
		return;
	a->h->resolve(a->arg, refs, &got);
	for (i = 0; i < got.n; i++)
		if ((told == NULL || !conf_strings_has(told, got.v[i])) &&
		    !conf_strings_has(out, got.v[i]))
			conf_strings_add(out, got.v[i]);
	conf_strings_free(&got);
}

/* Everyone available now (the fallback when a mode's people name nobody). */
static void
resolve_everyone(struct alerts *a, struct conf_strings *out)
{
	struct conf_strings every = { NULL, 0 };

	conf_strings_add(&every, "everyone");
	resolve_new(a, &every, NULL, out);
	conf_strings_free(&every);
}

/*
 * Who the next roster step of mode m tells, into add (empty), and what the
 * step is, into what: the first entry of `alert` that names someone not in
 * told (all of `alert` at once without `chain`); when `alert` names nobody
 * new after a first step, `escalate_to`; and whoever of `copy` is not told
 * yet.  Someone already told is no step of the chain: after a change of mode
 * the new mode's people come in its order, those told before are passed.
 */
static void
roster_pick(struct alerts *a, const struct mode_conf *m, size_t rstep,
    const struct conf_strings *told, struct conf_strings *add, char *what, size_t len)
{
	struct conf_strings one = { NULL, 0 };
	size_t i, n;

	snprintf(what, len, "nobody new");
	if (!m->chain) {
		resolve_new(a, &m->alert, told, add);
		if (add->n > 0)
			snprintf(what, len, "alert, all at once");
	} else
		for (i = 0; i < m->alert.n && add->n == 0; i++) {
			conf_strings_add(&one, m->alert.v[i]);
			resolve_new(a, &one, told, add);
			conf_strings_free(&one);
			if (add->n > 0)
				snprintf(what, len, "alert %zu of %zu, %s", i + 1,
				    m->alert.n, m->alert.v[i]);
		}
	if (add->n == 0 && rstep > 0) {
		resolve_new(a, &m->escalate_to, told, add);
		if (add->n > 0)
			snprintf(what, len, "escalate_to");
	}
	n = add->n;
	resolve_new(a, &m->copy, told, add);
	if (add->n > n && n > 0)
		snprintf(what + strlen(what), len - strlen(what), ", with copy");
	else if (add->n > n)
		snprintf(what, len, "copy");
}

/*
 * The track's next roster step in mode m, now: its people into add, noted
 * in the timeline.  The first step (or one that follows a first step that
 * found nobody) takes anyone `alert` names, even someone the route's own
 * `to` tells, and when nobody of `alert` and `copy` is available, everyone
 * available; when nobody at all is, that is noted and journaled (once), and
 * the next step looks again.  Never silently nobody.
 */
static void
roster_step(struct alerts *a, struct track *t, const struct mode_conf *m,
    struct conf_strings *add, int64_t now)
{
	char what[160];
	char *list;

	t->rclock_ms = now;
	mark_dirty(a);
	roster_pick(
	    a, m, t->rstep, t->rstep > 0 ? &t->to : NULL, add, what, sizeof(what));
	if (add->n == 0 && t->rstep == 0) {
		resolve_everyone(a, add);
		snprintf(
		    what, sizeof(what), "everyone: nobody of alert or copy is available");
	}
	if (add->n == 0) {
		if (t->rstep > 0 || t->rnobody)
			return; /* the chain is over, or said so already */
		t->rnobody = 1;
		log_warnx(
		    "alerts: incident %llu: nobody available in mode %s: told nobody "
		    "from the roster",
		    (unsigned long long)t->id, m->name);
		note(a, t->id, "roster",
		    "nobody available: told nobody from the roster (mode %s); looked for "
		    "again every %lld s",
		    m->name, (long long)(m->escalate_after_ms / 1000));
		if (a->h->journal != NULL)
			a->h->journal(a->arg, "sonaed", "alert.nobody",
			    json_pack("{s:I, s:s}", "incident", (json_int_t)t->id, "mode",
			        m->name));
		return;
	}
	t->rnobody = 0;
	t->rstep++;
	list = strings_join(add);
	note(a, t->id, "roster", "mode %s, roster step %zu (%s): %s", m->name, t->rstep,
	    what, list);
	free(list);
}

/* With the first notification of a roster route: the first step into to. */
static void
roster_first(struct alerts *a, struct track *t, struct conf_strings *to, int64_t now)
{
	const struct mode_conf *m = mode_now(a);
	struct conf_strings add = { NULL, 0 };

	if (m == NULL || t->rclock_ms != 0 || !track_roster(a, t))
		return;
	roster_step(a, t, m, &add, now);
	strings_add_new(to, &add);
	conf_strings_free(&add);
}

/* When the track's next roster step falls due, in the mode of now; 0: none. */
static int64_t
roster_next(struct alerts *a, const struct track *t)
{
	const struct mode_conf *m;

	if (t->rclock_ms == 0 || t->stopped || t->held != HELD_NO ||
	    (m = mode_now(a)) == NULL || !track_roster(a, t))
		return 0;
	return t->rclock_ms + m->escalate_after_ms;
}

/* A roster step fell due and nobody acknowledged: the next people, mailed. */
static void
roster_later(struct alerts *a, struct track *t, const json_t *inc, int64_t now)
{
	const struct mode_conf *m = mode_now(a);
	struct conf_strings add = { NULL, 0 }, all = { NULL, 0 };
	char extra[512], t1[32];

	if (m == NULL)
		return;
	roster_step(a, t, m, &add, now);
	if (add.n == 0)
		return;
	strings_add_new(&all, &t->to);
	strings_add_new(&all, &add);
	snprintf(extra, sizeof(extra),
	    "エスカレーション / Escalation: nobody acknowledged within %s; operating "
	    "mode %s, roster step %zu adds %zu recipient%s.",
	    span(m->escalate_after_ms, t1, sizeof(t1)), m->name, t->rstep, add.n,
	    add.n == 1 ? "" : "s");
	mail_incident(a, t, inc, "escalation", t->severity, &all, extra);
	strings_add_new(&t->to, &add);
	conf_strings_free(&add);
	conf_strings_free(&all);
	channels_run(a, t, inc, "escalation");
}

/*
 * The class that decides whether inc is told live: the highest availability
 * class of its devices; 0, always live, when it has none (declared,
 * observer, mail-undeliverable) or one that is not configured.
 */
static int
incident_class(struct alerts *a, const json_t *inc)
{
	const struct device_conf *dc;
	int cls = 0;
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(inc, "devices"), i, v)
	{
		if (!json_is_string(v) ||
		    (dc = a->h->device(a->arg, json_string_value(v))) == NULL)
			return 0;
		if (dc->availability > cls)
			cls = dc->availability;
	}
	return cls;
}

/* Whether mode m keeps a problem of class cls from being told live. */
static int
scope_out(const struct mode_conf *m, int cls)
{
	return m != NULL && m->live_availability > 1 && cls > 0 &&
	       cls < m->live_availability;
}

/* When the next daily digest goes out, after `after`. */
static int64_t
digest_next(struct alerts *a, int64_t after)
{
	return alerts_digest_next(
	    a->conf->site.timezone, a->conf->staffing.digest_at, after);
}

/*
 * The mode does not tell inc live: kept for the daily digest, or deferred;
 * in the timeline, the journal and the roster's list of deferred work.
 */
static void
held_record(struct alerts *a, struct track *t, const json_t *inc,
    const struct mode_conf *m, int cls)
{
	int digest = m->lower != MODE_LOWER_DEFER;
	int64_t now = time_now_ms();
	char *devs = devices_list(inc), what[512], t1[64];

	t->held = digest ? HELD_DIGEST : HELD_DEFER;
	t->due_ms = 0;
	t->recheck = t->update = 0;
	if (digest && json_array_size(a->digest.items) >= DIGEST_MAX)
		a->digest.more++;
	else if (digest)
		json_array_append_new(a->digest.items,
		    json_pack("{s:I, s:s, s:s, s:s, s:i, s:I, s:s, s:I}", "incident",
		        (json_int_t)t->id, "title", jstr(inc, "title"), "rule",
		        jstr(inc, "rule"), "devices", devs, "class", cls, "opened_ms",
		        (json_int_t)jint(inc, "opened_ms"), "mode", m->name, "time_ms",
		        (json_int_t)now));
	if (digest && a->digest.due_ms == 0)
		a->digest.due_ms = digest_next(a, now);
	if (digest)
		note(a, t->id, "deferred",
		    "not told live: mode %s watches availability class %d and up, %s is "
		    "class %d; in the daily digest (%s)",
		    m->name, m->live_availability, devs, cls,
		    local_time(a->digest.due_ms, t1, sizeof(t1)));
	else
		note(a, t->id, "deferred",
		    "not told live: mode %s watches availability class %d and up, %s is "
		    "class %d; deferred, not mailed",
		    m->name, m->live_availability, devs, cls);
	log_info("alerts: incident %llu (%s, class %d) not told live in mode %s: %s",
	    (unsigned long long)t->id, devs, cls, m->name,
	    digest ? "digest" : "deferred");
	if (a->h->journal != NULL)
		a->h->journal(a->arg, "sonaed", "alert.deferred",
		    json_pack("{s:I, s:s, s:i, s:s}", "incident", (json_int_t)t->id,
		        "mode", m->name, "class", cls, "how",
		        digest ? "digest" : "defer"));
	snprintf(what, sizeof(what), "incident %llu (%s, class %d): %s",
	    (unsigned long long)t->id, devs, cls, digest ? "daily digest" : "deferred");
	if (a->h->deferred != NULL)
		a->h->deferred(a->arg, t->id, what);
	free(devs);
	mark_dirty(a);
}

/* The daily digest of the problems held for it, to the mode's people of then. */
static void
digest_due(struct alerts *a, int64_t now)
{
	const struct mode_conf *m = mode_now(a);
	struct conf_strings to = { NULL, 0 };
	size_t n = json_array_size(a->digest.items) + (size_t)a->digest.more, i;
	char *subject, *body = NULL, t1[64];
	size_t len = 0;
	json_t *v, *inc;
	FILE *f;

	if (a->digest.due_ms == 0 || now < a->digest.due_ms)
		return;
	if (m != NULL) {
		resolve_new(a, &m->alert, NULL, &to);
		resolve_new(a, &m->copy, NULL, &to);
	}
	if (to.n == 0)
		resolve_everyone(a, &to);
	mark_dirty(a);
	if (to.n == 0) {
		/* Kept for the next one: never dropped for want of a reader. */
		log_warnx("alerts: daily digest of %zu problem%s: nobody available, kept "
		          "for tomorrow's",
		    n, n == 1 ? "" : "s");
		if (a->h->journal != NULL)
			a->h->journal(a->arg, "sonaed", "alert.nobody",
			    json_pack("{s:s, s:s, s:i}", "what", "digest", "mode",
			        m != NULL ? m->name : "", "problems", (int)n));
		a->digest.due_ms = digest_next(a, now);
		return;
	}
	f = open_memstream(&body, &len);
	fprintf(f,
	    "まとめ / Daily digest: %zu problem%s of lower availability classes, not "
	    "told live in the operating mode of the time.\n\n",
	    n, n == 1 ? "" : "s");
	json_array_foreach(a->digest.items, i, v)
	{
		uint64_t id = (uint64_t)jint(v, "incident");
		inc = a->h->incident(a->arg, id);
		fprintf(f, "  #%llu %s\n", (unsigned long long)id, jstr(v, "title"));
		fprintf(f, "      機器 / Device:  %s (class %d)\n", jstr(v, "devices"),
		    (int)jint(v, "class"));
		fprintf(f, "      発生 / Opened:  %s (mode %s)\n",
		    local_time(jint(v, "opened_ms"), t1, sizeof(t1)), jstr(v, "mode"));
		fprintf(f, "      現在 / Now:     %s\n",
		    inc != NULL ? jstr(inc, "state") : "no longer known");
		json_decref(inc);
	}
	if (a->digest.more > 0)
		fprintf(f, "  ... and %d more (the first %d are listed)\n",
		    a->digest.more, DIGEST_MAX);
	fprintf(f, "\nsonae incidents  -- what is open now\n");
	fprintf(f, "\n-- \nsonae %s, %s\n", SONAE_VERSION, a->conf->site.name);
	fclose(f);
	xasprintf(&subject, "[sonae %s] DIGEST: %zu lower-class problem%s (mode %s)",
	    a->conf->site.name, n, n == 1 ? "" : "s", m != NULL ? m->name : "-");
	if (mail_queue(a, NULL, NULL, 0, subject, body, &to, 0, "mode digest", NULL) ==
	    0) {
		json_array_clear(a->digest.items);
		a->digest.more = 0;
		a->digest.due_ms = 0;
	} else
		a->digest.due_ms = digest_next(a, now);
	conf_strings_free(&to);
	free(subject);
	free(body);
}

/* The mode changed since the last look: held problems are looked at again. */
static void
mode_watch(struct alerts *a)
{
	const struct mode_conf *m = mode_now(a);
	const char *name = m != NULL ? m->name : a->h->mode(a->arg);
	struct track *t;

	if (name == NULL || (a->mode_seen != NULL && strcmp(a->mode_seen, name) == 0))
		return;
	TAILQ_FOREACH(t, &a->tracks, entry)
	{
		if (a->mode_seen != NULL && t->held != HELD_NO)
			t->recheck = 1;
	}
	free(a->mode_seen);
	a->mode_seen = xstrdup(name);
}

/*
 * The first notification, when the group wait is over (extra: a line above
 * the details, or NULL) -- unless the operating mode does not tell this
 * problem live (held_record()).
 */
static void
track_first(struct alerts *a, struct track *t, const json_t *inc, const char *extra)
{
	struct conf_strings to = { NULL, 0 };
	int64_t now = time_now_ms(), repeat;
	const char *what =
	    json_is_object(json_object_get(inc, "resolved")) ? "recovery" : "problem";
	const struct mode_conf *m = mode_now(a);
	int cls;

	/* The incident as it is now: folds and severity changes of the wait. */
	conf_strings_free(&t->routes);
	if (route_select(a, inc, &t->routes) == 0) {
		log_info("alerts: incident %llu (%s) matches no route: told to nobody",
		    (unsigned long long)t->id, jstr(inc, "rule"));
		note(a, t->id, "unrouted", "no route matches: told to nobody");
		track_drop(a, t);
		return;
	}
	if (scope_out(m, cls = incident_class(a, inc))) {
		held_record(a, t, inc, m, cls);
		return;
	}
	first_recipients(a, t, &to);
	roster_first(a, t, &to, now);
	t->due_ms = 0;
	t->first_ms = now;
	if (track_escalation(a, t) != NULL)
		t->esc_ms = now;
	free(t->severity);
	t->severity = xstrdup(jstr(inc, "severity"));
	mail_incident(a, t, inc, what,
	    strcmp(what, "recovery") == 0 ? "resolved" : t->severity, &to,
	    strcmp(what, "recovery") == 0
	        ? "この障害は通知を待つ間に解決しました / This problem came and went "
	          "within the group wait."
	        : extra);
	for (size_t i = 0; i < to.n; i++)
		conf_strings_add(&t->to, to.v[i]);
	conf_strings_free(&to);
	channels_run(a, t, inc, what);
	if (strcmp(what, "recovery") == 0) {
		beacons_release(a, t);
		track_drop(a, t);
		return;
	}
	repeat = track_repeat(a, t);
	t->next_repeat_ms = repeat > 0 ? now + repeat : 0;
	mark_dirty(a);
}

/* The first of the track's routes with escalation steps, or NULL. */
static const struct route_conf *
track_escalation(struct alerts *a, const struct track *t)
{
	size_t r;

	for (r = 0; r < t->routes.n; r++) {
		const struct route_conf *rc = conf_route_named(a->conf, t->routes.v[r]);
		if (rc != NULL && rc->escalate.n > 0)
			return rc;
	}
	return NULL;
}

/* When the next escalation step falls due; 0: none. */
static int64_t
escalation_next(struct alerts *a, const struct track *t)
{
	const struct route_conf *rc = track_escalation(a, t);

	if (rc == NULL || t->stopped || t->esc_ms == 0 || t->step >= rc->escalate.n)
		return 0;
	return t->esc_ms +
	       ((const struct escalate_conf *)rc->escalate.items)[t->step].after_ms;
}

/* Escalation steps and reminders that fell due. */
static void
track_later(struct alerts *a, struct track *t, const json_t *inc, int64_t now)
{
	const json_t *ack = json_object_get(inc, "acknowledged");
	const struct route_conf *rc = track_escalation(a, t);
	int64_t at, repeat;

	while ((at = escalation_next(a, t)) != 0 && now >= at) {
		const struct escalate_conf *s =
		    (const struct escalate_conf *)rc->escalate.items + t->step;
		struct conf_strings add = { NULL, 0 }, all = { NULL, 0 };
		char extra[512], t1[32];
		size_t k;
		if (json_is_object(ack)) {
			t->stopped = 1;
			note(a, t->id, "escalation-stopped",
			    "escalation stopped: acknowledged by %s", jstr(ack, "by"));
			mark_dirty(a);
			break;
		}
		t->step++;
		for (k = 0; k < s->to.n; k++)
			if (!conf_strings_has(&t->to, s->to.v[k]))
				conf_strings_add(&add, s->to.v[k]);
		for (k = 0; k < t->to.n; k++)
			conf_strings_add(&all, t->to.v[k]);
		for (k = 0; k < add.n; k++)
			conf_strings_add(&all, add.v[k]);
		snprintf(extra, sizeof(extra),
		    "エスカレーション / Escalation: nobody acknowledged within %s; step "
		    "%zu (route %s) adds %zu recipient%s.",
		    span(s->after_ms, t1, sizeof(t1)), t->step, rc->name, add.n,
		    add.n == 1 ? "" : "s");
		note(a, t->id, "escalation", "escalation step %zu of route %s", t->step,
		    rc->name);
		mail_incident(a, t, inc, "escalation", t->severity, &all, extra);
		for (k = 0; k < add.n; k++)
			conf_strings_add(&t->to, add.v[k]);
		conf_strings_free(&add);
		conf_strings_free(&all);
		channels_run(a, t, inc, "escalation");
		mark_dirty(a);
	}
	if ((at = roster_next(a, t)) != 0 && now >= at) {
		if (json_is_object(ack)) {
			t->stopped = 1;
			note(a, t->id, "escalation-stopped",
			    "escalation stopped: acknowledged by %s", jstr(ack, "by"));
			mark_dirty(a);
		} else
			roster_later(a, t, inc, now);
	}
	if (t->next_repeat_ms == 0 || now < t->next_repeat_ms)
		return;
	/* A reload may have turned reminders off: then none, not one per turn. */
	repeat = track_repeat(a, t);
	t->next_repeat_ms = repeat > 0 ? now + repeat : 0;
	mark_dirty(a);
	if (repeat == 0 || json_is_object(ack))
		return;
	mail_incident(a, t, inc, "repeat", t->severity, &t->to,
	    "再通知 / Reminder: still open and nobody acknowledged it.");
	channels_run(a, t, inc, "repeat");
}

/* A new problem (severity, or told again after a window): everyone, now. */
static void
track_update(struct alerts *a, struct track *t, const json_t *inc)
{
	struct conf_strings to = { NULL, 0 };
	char extra[256];
	size_t i;

	t->update = 0;
	route_select(a, inc, &t->routes);
	/* A warning become critical: a route with steps counts from now. */
	if (t->esc_ms == 0 && track_escalation(a, t) != NULL)
		t->esc_ms = time_now_ms();
	first_recipients(a, t, &to);
	roster_first(a, t, &to, time_now_ms()); /* a roster route matches now */
	for (i = 0; i < t->to.n; i++)
		conf_strings_add(&to, t->to.v[i]);
	if (strcmp(jstr(inc, "severity"), t->severity) != 0)
		snprintf(extra, sizeof(extra), "変化 / Changed: severity %s (was %s).",
		    jstr(inc, "severity"), t->severity);
	else
		snprintf(extra, sizeof(extra),
		    "再通知 / Told again: still %s (held back until now).",
		    jstr(inc, "severity"));
	free(t->severity);
	t->severity = xstrdup(jstr(inc, "severity"));
	mail_incident(a, t, inc, "update", t->severity, &to, extra);
	for (i = 0; i < to.n; i++)
		conf_strings_add(&t->to, to.v[i]);
	conf_strings_free(&to);
	channels_run(a, t, inc, "problem");
	mark_dirty(a);
}

/* The recovery: everyone told, beacons off, the thread closed. */
static void
track_recovery(struct alerts *a, struct track *t, const json_t *inc)
{
	mail_incident(a, t, inc, "recovery", "resolved", &t->to,
	    "解決 / Resolved: this closes the thread.");
	channels_run(a, t, inc, "recovery");
	beacons_release(a, t);
	track_drop(a, t);
}

static void
digests_due(struct alerts *a, int64_t now)
{
	size_t it = 0;
	struct rate *r;

	while ((r = hmap_next(a->rates, &it)) != NULL) {
		struct conf_strings to = { NULL, 0 };
		char *subject, *body = NULL, t1[64];
		size_t len = 0, i, n = json_array_size(r->held) + (size_t)r->more;
		FILE *f;
		json_t *v;
		if (n == 0 || now - r->start_ms < a->conf->mail.rate_period_ms)
			continue;
		f = open_memstream(&body, &len);
		fprintf(f,
		    "まとめ / Digest: %zu notification%s to %s held back by the rate "
		    "limit (%d per %s):\n\n",
		    n, n == 1 ? "" : "s", r->addr, a->conf->mail.rate_limit,
		    span(a->conf->mail.rate_period_ms, t1, sizeof(t1)));
		json_array_foreach(r->held, i, v) fprintf(f, "  %s  %s\n",
		    local_time(jint(v, "time_ms"), t1, sizeof(t1)), jstr(v, "subject"));
		if (r->more > 0)
			fprintf(f, "  ... and %d more (the first %d are listed)\n",
			    r->more, HELD_MAX);
		fprintf(f, "\nsonae incidents  -- what is open now\n");
		fclose(f);
		xasprintf(&subject, "[sonae %s] DIGEST: %zu held-back notification%s",
		    a->conf->site.name, n, n == 1 ? "" : "s");
		conf_strings_add(&to, r->addr);
		r->start_ms = now;
		r->count = 1;
		json_array_clear(r->held);
		r->more = 0;
		mail_queue(a, NULL, NULL, 0, subject, body, &to, 0, "digest", NULL);
		conf_strings_free(&to);
		free(subject);
		free(body);
		mark_dirty(a);
	}
}

/*
 * A problem the mode did not tell live: resolved, it is dropped (nobody was
 * told; the digest shows how it ended); still open when the mode (or the
 * problem) changed so that it is watched live, it is told as a problem,
 * once.
 */
static void
track_held(struct alerts *a, struct track *t, const json_t *inc)
{
	const struct mode_conf *m = mode_now(a);
	char extra[512];
	int cls;

	if (t->recovery || json_is_object(json_object_get(inc, "resolved"))) {
		note(a, t->id, "deferred", "resolved before it was told live");
		track_drop(a, t);
		return;
	}
	t->update = t->recheck = 0;
	mark_dirty(a);
	if (scope_out(m, cls = incident_class(a, inc)))
		return;
	t->held = HELD_NO;
	snprintf(extra, sizeof(extra),
	    "今から通知 / Told now: the operating mode %s watches this problem's "
	    "assets (class %d) live; it was held back until now.",
	    m != NULL ? m->name : a->h->mode(a->arg), cls);
	note(a, t->id, "deferred", "told now: mode %s watches class %d live",
	    m != NULL ? m->name : a->h->mode(a->arg), cls);
	track_first(a, t, inc, extra);
}

/* When t needs the tick next; INT64_MAX: not by itself. */
static int64_t
track_next(struct alerts *a, const struct track *t)
{
	int64_t next = INT64_MAX, esc;

	if (t->update || t->recovery || t->recheck)
		return 0;
	if (t->held != HELD_NO)
		return INT64_MAX; /* until the mode or the incident changes */
	if (t->due_ms != 0)
		return t->due_ms;
	if (t->next_repeat_ms != 0)
		next = t->next_repeat_ms;
	if ((esc = escalation_next(a, t)) != 0 && esc < next)
		next = esc;
	if ((esc = roster_next(a, t)) != 0 && esc < next)
		next = esc;
	return next;
}

static void
alerts_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct alerts *a = arg;
	struct track *t, *next;
	int64_t now = time_now_ms();

	(void)fd;
	(void)ev;
	mode_watch(a);
	for (t = TAILQ_FIRST(&a->tracks); t != NULL; t = next) {
		json_t *inc;
		next = TAILQ_NEXT(t, entry);
		if (track_next(a, t) > now)
			continue;
		if ((inc = a->h->incident(a->arg, t->id)) == NULL) {
			/* Gone (state wiped): nothing holds its beacons now. */
			beacons_release(a, t);
			track_drop(a, t);
			continue;
		}
		if (t->held != HELD_NO)
			track_held(a, t, inc);
		else if (t->due_ms != 0)
			track_first(a, t, inc, NULL);
		else if (t->recovery)
			track_recovery(a, t, inc);
		else if (json_is_object(json_object_get(inc, "resolved")))
			track_recovery(a, t, inc); /* resolved while sonaed was down */
		else if (t->update)
			track_update(a, t, inc);
		else
			track_later(a, t, inc, now);
		json_decref(inc);
	}
	digests_due(a, now);
	digest_due(a, now);
	if (a->relays_stale)
		alerts_relays(a);
	/* Down before a restart: the spool drained since, so mail leaves. */
	if (a->outage.down && a->sp != NULL && spool_count(a->sp) == 0 && a->dl != NULL &&
	    !deliver_down(a->dl))
		path_changed(a, 0, NULL);
	alerts_arm(a);
}

/* The tick at the earliest time anything falls due. */
static void
alerts_arm(struct alerts *a)
{
	int64_t now = time_now_ms(), next = now + TICK_MAX_MS, at;
	struct track *t;
	size_t it = 0;
	struct rate *r;
	struct timeval tv;

	TAILQ_FOREACH(t, &a->tracks, entry)
	if ((at = track_next(a, t)) < next)
		next = at;
	while ((r = hmap_next(a->rates, &it)) != NULL)
		if (json_array_size(r->held) > 0 &&
		    (at = r->start_ms + a->conf->mail.rate_period_ms) < next)
			next = at;
	if (a->digest.due_ms != 0 && a->digest.due_ms < next)
		next = a->digest.due_ms;
	if (a->relays_stale && now + 1000 < next)
		next = now + 1000;
	at = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(at / 1000);
	tv.tv_usec = (suseconds_t)(at % 1000) * 1000;
	evtimer_add(a->timer, &tv);
}

/*
 * The exec channel: a program from argv, the alert in its environment.
 */
struct exec_job {
	struct alerts *a;
	uint64_t incident;
	char *channel;
};

static void
exec_done(void *arg, const struct child_result *res)
{
	struct exec_job *j = arg;
	struct alerts *a = j->a;
	int ok = res->exited && res->status == 0;

	if (ok)
		log_info("alerts: channel %s (incident %llu): %s", j->channel,
		    (unsigned long long)j->incident, res->reason);
	else
		log_warnx("alerts: channel %s (incident %llu): %s%s%.*s", j->channel,
		    (unsigned long long)j->incident, res->reason,
		    res->output_len ? ": " : "", (int)strcspn(res->output, "\n"),
		    res->output);
	if (a->h->journal != NULL)
		a->h->journal(a->arg, "sonaed", "alert.channel",
		    json_pack("{s:s, s:I, s:b, s:s}", "channel", j->channel, "incident",
		        (json_int_t)j->incident, "ok", ok, "reason", res->reason));
	free(j->channel);
	free(j);
}

/* The incident's devices, "ups1,sw1" ("" for none or no incident). */
static char *
devices_list(const json_t *inc)
{
	char *devices = xstrdup(""), *tmp;
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(inc, "devices"), i, v)
	{
		xasprintf(&tmp, "%s%s%s", devices, i ? "," : "", json_string_value(v));
		free(devices);
		devices = tmp;
	}
	return devices;
}

/* Start the exec channel c: env (NULL-terminated) and input are copied. */
static void
exec_start(struct alerts *a, const struct channel_conf *c, uint64_t incident,
    char *const *env, const char *input)
{
	struct child_opts o = { 0 };
	struct exec_job *j = xcalloc(1, sizeof(*j));
	char err[256];

	j->a = a;
	j->incident = incident;
	j->channel = xstrdup(c->name);
	o.argv = (const char *const *)c->command.v;
	o.env = (const char *const *)env;
	o.input = input;
	o.input_len = strlen(input);
	o.timeout_ms = c->timeout_ms;
	if (child_run(a->base, &o, exec_done, j, err, sizeof(err)) == -1) {
		struct child_result res = { .reason = err, .output = "" };
		exec_done(j, &res);
	}
}

static void
channel_exec(struct alerts *a, const struct channel_conf *c, const struct track *t,
    const json_t *inc, const char *what)
{
	char *env[9], *devices = devices_list(inc), *tmp, *body;
	size_t i, n = 0;

	xasprintf(&env[n++], "SONAE_EVENT=%s", what);
	xasprintf(&env[n++], "SONAE_INCIDENT=%llu", (unsigned long long)t->id);
	xasprintf(&env[n++], "SONAE_SEVERITY=%s", jstr(inc, "severity"));
	xasprintf(&env[n++], "SONAE_TITLE=%s", jstr(inc, "title"));
	xasprintf(&env[n++], "SONAE_RULE=%s", jstr(inc, "rule"));
	xasprintf(&env[n++], "SONAE_DEVICES=%s", devices);
	xasprintf(&env[n++], "SONAE_SITE=%s", a->conf->site.name);
	tmp = mail_subject(a->conf->site.name,
	    strcmp(what, "recovery") == 0 ? "resolved" : jstr(inc, "severity"), t->id,
	    jstr(inc, "title"));
	xasprintf(&env[n++], "SONAE_SUBJECT=%s", tmp);
	free(tmp);
	env[n] = NULL;
	body = body_incident(a, inc, what, NULL);
	exec_start(a, c, t->id, env, body);
	for (i = 0; i < n; i++)
		free(env[i]);
	free(devices);
	free(body);
}

/*
 * The mail path: relays, the spool's delivery, "cannot leave the site".
 */

/* The catch-up digest: mail left again after an outage. */
static void
outage_digest(struct alerts *a)
{
	json_t *open = a->h->incidents != NULL ? a->h->incidents(a->arg) : NULL;
	json_t *list = json_object_get(open, "incidents"), *v;
	int64_t now = time_now_ms();
	char *subject, *body = NULL, t1[64], t2[64];
	size_t len = 0, i;
	FILE *f;

	f = open_memstream(&body, &len);
	fprintf(f,
	    "遅延 / DELAYED: mail could not leave the site from %s for %s (%s).\n"
	    "%d mail%s queued meanwhile %s delivered now, in order, with their "
	    "original times; this is a summary of what is open now.\n\n",
	    local_time(a->outage.since_ms, t1, sizeof(t1)),
	    span(now - a->outage.since_ms, t2, sizeof(t2)),
	    a->outage.reason ? a->outage.reason : "?", a->outage.count,
	    a->outage.count == 1 ? "" : "s", a->outage.count == 1 ? "is" : "are");
	if (json_array_size(list) == 0)
		fprintf(f, "未解決のインシデントはありません / No incident is open.\n");
	else
		fprintf(f, "未解決 / Open now:\n");
	json_array_foreach(list, i, v) fprintf(f, "  #%lld %-8s %-12s %s (since %s)\n",
	    (long long)jint(v, "id"), jstr(v, "severity"), jstr(v, "state"),
	    jstr(v, "title"), local_time(jint(v, "opened_ms"), t1, sizeof(t1)));
	fprintf(f, "\nsonae incidents --all  -- everything, with what was resolved\n");
	fclose(f);
	xasprintf(&subject,
	    "[sonae %s] DELAYED: %d alert mail%s held while mail could "
	    "not leave",
	    a->conf->site.name, a->outage.count, a->outage.count == 1 ? "" : "s");
	mail_queue(a, NULL, NULL, 0, subject, body, &a->outage.rcpts, 0, "delayed", NULL);
	free(subject);
	free(body);
	json_decref(open);
}

static void
path_changed(void *arg, int down, const char *reason)
{
	struct alerts *a = arg;
	struct spool_msg *m;
	char err[256];
	uint64_t id;
	size_t i;

	if (down && a->outage.down) {
		/* Still down after a restart: the same outage, the same incident. */
		if (a->h->mail_path != NULL)
			a->h->mail_path(a->arg, 1, reason);
		return;
	}
	if (down) {
		a->outage.down = 1;
		a->outage.since_ms = time_now_ms();
		free(a->outage.reason);
		a->outage.reason = xstrdup(reason);
		conf_strings_free(&a->outage.rcpts);
		a->outage.count = 0;
		/* What is stuck already (why it is down) is delayed too. */
		for (id = spool_first(a->sp); id != 0; id = spool_next(a->sp, id)) {
			if ((m = spool_get_head(a->sp, id, err, sizeof(err))) == NULL)
				continue;
			for (i = 0; i < m->rcpt.n; i++)
				conf_strings_add(&a->outage.rcpts, m->rcpt.v[i]);
			a->outage.count++;
			if (m->created_ms < a->outage.since_ms)
				a->outage.since_ms = m->created_ms; /* stuck since then */
			spool_msg_free(m);
		}
	} else {
		a->outage.down = 0;
		if (a->outage.count > 0)
			outage_digest(a);
		conf_strings_free(&a->outage.rcpts);
		a->outage.count = 0;
	}
	mark_dirty(a);
	if (a->h->journal != NULL)
		a->h->journal(a->arg, "sonaed", down ? "mail.down" : "mail.up",
		    json_pack("{s:s}", "reason", reason != NULL ? reason : ""));
	if (a->h->mail_path != NULL)
		a->h->mail_path(a->arg, down, reason);
}

/* Every attempt in the journal: the spool's story, who took each mail. */
static void
attempt_done(void *arg, uint64_t id, uint64_t incident, int ok, int permanent,
    const char *relay, const char *reason)
{
	struct alerts *a = arg;

	if (a->h->journal == NULL)
		return;
	a->h->journal(a->arg, "sonaed", ok ? "mail.delivered" : "mail.failed",
	    json_pack("{s:I, s:I, s:s, s:s, s:b}", "queued", (json_int_t)id, "incident",
	        (json_int_t)incident, "relay", relay != NULL ? relay : "", "reason",
	        reason != NULL ? reason : "", "permanent", permanent));
}

/* The relays as text: what decides whether the delivery engine is rebuilt. */
static char *
relays_key(const struct conf *c)
{
	char *key = xstrdup(""), *tmp;
	size_t i, k;

	for (i = 0; i < c->mail.relays.n; i++) {
		const struct relay_conf *r = conf_relay(c, i);
		xasprintf(&tmp, "%s|%s %d %s %d %s %s %s %lld %lld", key,
		    r->url ? r->url : "", r->starttls, r->ca_file ? r->ca_file : "",
		    r->insecure, r->user ? r->user : "", r->password ? r->password : "",
		    r->auth ? r->auth : "", (long long)r->timeout_ms,
		    (long long)r->connect_timeout_ms);
		free(key);
		key = tmp;
		for (k = 0; k < r->sendmail.n; k++) {
			xasprintf(&tmp, "%s %s", key, r->sendmail.v[k]);
			free(key);
			key = tmp;
		}
	}
	return key;
}

/* (Re)build the delivery engine for the configured relays, when idle. */
static void
alerts_relays(struct alerts *a)
{
	const struct conf *c = a->conf;
	struct smtp_relay *rv;
	char *login[16], err[512];
	size_t i, n = c->mail.relays.n;
	json_t *st;

	a->relays_stale = 0;
	if (a->dl != NULL) {
		st = deliver_json(a->dl);
		if (jint(st, "in_flight") != 0) {
			a->relays_stale = 1; /* after the attempt under way */
			json_decref(st);
			return;
		}
		json_decref(st);
		deliver_free(a->dl);
		a->dl = NULL;
	}
	free(a->relays_key);
	a->relays_key = relays_key(c);
	if (n == 0 || a->sp == NULL || a->smtp == NULL)
		return;
	rv = xcalloc(n, sizeof(*rv));
	for (i = 0; i < n; i++) {
		const struct relay_conf *r = conf_relay(c, i);
		smtp_relay_init(&rv[i]);
		rv[i].url = r->url;
		rv[i].starttls = r->starttls;
		rv[i].ca_file = r->ca_file;
		rv[i].insecure = r->insecure;
		rv[i].user = r->user;
		rv[i].password = r->password;
		login[i] = NULL;
		if (r->auth != NULL)
			xasprintf(&login[i], "AUTH=%s", r->auth);
		rv[i].login_options = login[i];
		rv[i].timeout_ms = r->timeout_ms;
		rv[i].connect_timeout_ms = r->connect_timeout_ms;
		rv[i].sendmail =
		    r->sendmail.n > 0 ? (const char *const *)r->sendmail.v : NULL;
	}
	if ((a->dl = deliver_new(a->base, a->sp, a->smtp, rv, n, err, sizeof(err))) ==
	    NULL)
		log_warnx("alerts: delivery: %s", err);
	else {
		deliver_set_down_failures(a->dl, c->mail.down_after_failures);
		deliver_set_down_age(a->dl, c->mail.down_after_ms);
		deliver_set_callback(a->dl, path_changed, a);
		deliver_set_observer(a->dl, attempt_done, a);
		deliver_kick(a->dl);
	}
	for (i = 0; i < n; i++)
		free(login[i]);
	free(rv);
}

/*
 * State.
 */
static json_t *
track_json(const struct track *t)
{
	json_t *o = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:b, s:s, "
	    "s:o, s:o, s:o}",
	    "id", (json_int_t)t->id, "opened_ms", (json_int_t)t->opened_ms, "due_ms",
	    (json_int_t)t->due_ms, "first_ms", (json_int_t)t->first_ms, "esc_ms",
	    (json_int_t)t->esc_ms, "next_repeat_ms", (json_int_t)t->next_repeat_ms,
	    "step", (json_int_t)t->step, "stopped", t->stopped, "mailed_root",
	    t->mailed_root, "update", t->update, "recovery", t->recovery, "severity",
	    t->severity ? t->severity : "", "routes", conf_strings_json(&t->routes), "to",
	    conf_strings_json(&t->to), "beacons", conf_strings_json(&t->beacons));

	/* Added with the roster; an older file has none and loads as zeros. */
	json_object_set_new(o, "held", json_integer(t->held));
	json_object_set_new(o, "rstep", json_integer((json_int_t)t->rstep));
	json_object_set_new(o, "rclock_ms", json_integer((json_int_t)t->rclock_ms));
	json_object_set_new(o, "rnobody", json_boolean(t->rnobody));
	return o;
}

static json_t *
state_json(const struct alerts *a)
{
	json_t *tracks = json_array(), *rates = json_array();
	const struct track *t;
	size_t it = 0;
	struct rate *r;

	TAILQ_FOREACH(t, &a->tracks, entry)
	json_array_append_new(tracks, track_json(t));
	while ((r = hmap_next(a->rates, &it)) != NULL)
		json_array_append_new(
		    rates, json_pack("{s:s, s:I, s:i, s:O, s:i}", "addr", r->addr,
		               "start_ms", (json_int_t)r->start_ms, "count", r->count,
		               "held", r->held, "more", r->more));
	return json_pack("{s:i, s:o, s:o, s:{s:b, s:I, s:s, s:o, s:i}, s:{s:I, s:i, "
	                 "s:O}}",
	    "version", STATE_VERSION, "tracks", tracks, "rates", rates, "outage", "down",
	    a->outage.down, "since_ms", (json_int_t)a->outage.since_ms, "reason",
	    a->outage.reason ? a->outage.reason : "", "rcpts",
	    conf_strings_json(&a->outage.rcpts), "count", a->outage.count, "digest",
	    "due_ms", (json_int_t)a->digest.due_ms, "more", a->digest.more, "items",
	    a->digest.items);
}

static char *
state_path(const struct alerts *a)
{
	char *p;

	xasprintf(&p, "%s/%s", a->conf->daemon.state_dir, STATE_FILE);
	return p;
}

int
alerts_save(struct alerts *a, char *err, size_t errlen)
{
	struct atomic_file af;
	char *path;
	json_t *o;
	int rc;

	if (!a->dirty || a->sp == NULL)
		return 0;
	path = state_path(a);
	rc = atomic_open(&af, path, err, errlen);
	free(path);
	if (rc == -1)
		return -1;
	o = state_json(a);
	rc = json_dumpf(o, af.f, JSON_COMPACT);
	json_decref(o);
	if (rc == -1) {
		atomic_abort(&af);
		snprintf(err, errlen, "alerts state: cannot write");
		return -1;
	}
	fputc('\n', af.f);
	if (atomic_commit(&af, err, errlen) == -1)
		return -1;
	a->dirty = 0;
	return 0;
}

static void
saver_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct alerts *a = arg;
	char err[512];

	(void)fd;
	(void)ev;
	if (alerts_save(a, err, sizeof(err)) == -1)
		complain(&a->save_failed, "alerts state: %s", err);
	else
		complain_release(&a->save_failed, "alerts state: written again");
}

static int
alerts_restore(struct alerts *a, char *err, size_t errlen)
{
	char *path = state_path(a);
	json_error_t je;
	json_t *o, *v, *inc;
	size_t i;

	o = json_load_file(path, 0, &je);
	if (o == NULL) {
		int missing = access(path, F_OK) == -1 && errno == ENOENT;
		if (!missing)
			snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		free(path);
		return missing ? 0 : -1;
	}
	free(path);
	json_array_foreach(json_object_get(o, "tracks"), i, v)
	{
		struct track *t = xcalloc(1, sizeof(*t));
		t->id = (uint64_t)jint(v, "id");
		t->opened_ms = jint(v, "opened_ms");
		t->due_ms = jint(v, "due_ms");
		t->first_ms = jint(v, "first_ms");
		t->esc_ms = json_is_integer(json_object_get(v, "esc_ms"))
		                ? jint(v, "esc_ms")
		                : t->first_ms;
		t->next_repeat_ms = jint(v, "next_repeat_ms");
		t->step = (size_t)jint(v, "step");
		t->stopped = json_is_true(json_object_get(v, "stopped"));
		t->mailed_root = json_is_true(json_object_get(v, "mailed_root"));
		t->update = json_is_true(json_object_get(v, "update"));
		t->recovery = json_is_true(json_object_get(v, "recovery"));
		t->severity = xstrdup(jstr(v, "severity"));
		strings_from_json(&t->routes, json_object_get(v, "routes"));
		strings_from_json(&t->to, json_object_get(v, "to"));
		strings_from_json(&t->beacons, json_object_get(v, "beacons"));
		t->held = (int)jint(v, "held");
		if (t->held != HELD_DIGEST && t->held != HELD_DEFER)
			t->held = HELD_NO;
		t->recheck = t->held != HELD_NO; /* the mode may have changed since */
		t->rstep = (size_t)jint(v, "rstep");
		t->rclock_ms = jint(v, "rclock_ms");
		t->rnobody = json_is_true(json_object_get(v, "rnobody"));
		/*
		 * Resolved (or gone) while sonaed was down: the first tick tells
		 * the recovery, not the next reminder or step, which may be never.
		 */
		inc = t->due_ms == 0 ? a->h->incident(a->arg, t->id) : NULL;
		if (t->due_ms == 0 &&
		    (inc == NULL || json_is_object(json_object_get(inc, "resolved"))))
			t->recovery = 1;
		json_decref(inc);
		TAILQ_INSERT_TAIL(&a->tracks, t, entry);
	}
	json_array_foreach(json_object_get(o, "rates"), i, v)
	{
		struct rate *r = xcalloc(1, sizeof(*r));
		r->addr = xstrdup(jstr(v, "addr"));
		r->start_ms = jint(v, "start_ms");
		r->count = (int)jint(v, "count");
		r->more = (int)jint(v, "more");
		r->held = json_is_array(json_object_get(v, "held"))
		              ? json_deep_copy(json_object_get(v, "held"))
		              : json_array();
		hmap_put(a->rates, r->addr, r);
	}
	v = json_object_get(o, "outage");
	a->outage.down = json_is_true(json_object_get(v, "down"));
	a->outage.since_ms = jint(v, "since_ms");
	a->outage.reason = *jstr(v, "reason") ? xstrdup(jstr(v, "reason")) : NULL;
	strings_from_json(&a->outage.rcpts, json_object_get(v, "rcpts"));
	a->outage.count = (int)jint(v, "count");
	v = json_object_get(o, "digest");
	a->digest.due_ms = jint(v, "due_ms");
	a->digest.more = (int)jint(v, "more");
	if (json_is_array(json_object_get(v, "items")))
		json_array_extend(a->digest.items, json_object_get(v, "items"));
	if (a->digest.due_ms == 0 && json_array_size(a->digest.items) > 0)
		a->digest.due_ms = digest_next(a, time_now_ms());
	json_decref(o);
	return 0;
}

/*
 * The public face.
 */
struct alerts *
alerts_new(struct event_base *base, const struct alerts_hooks *h, void *arg)
{
	struct alerts *a = xcalloc(1, sizeof(*a));

	a->base = base;
	a->h = h;
	a->arg = arg;
	TAILQ_INIT(&a->tracks);
	a->rates = hmap_new();
	a->digest.items = json_array();
	a->timer = evtimer_new(base, alerts_tick, a);
	a->saver = event_new(base, -1, 0, saver_cb, a);
	return a;
}

/* Take a (new) configuration; the relays are rebuilt when they changed. */
void
alerts_configure(struct alerts *a, const struct conf *conf)
{
	struct spool_backoff b = spool_backoff_default;
	char *key = relays_key(conf);

	a->conf = conf;
	b.base_ms = conf->mail.retry_ms;
	b.cap_ms = conf->mail.retry_max_ms;
	if (a->sp != NULL)
		spool_set_backoff(a->sp, &b);
	if (a->dl != NULL) {
		deliver_set_down_failures(a->dl, conf->mail.down_after_failures);
		deliver_set_down_age(a->dl, conf->mail.down_after_ms);
	}
	if (a->sp != NULL && (a->relays_key == NULL || strcmp(key, a->relays_key) != 0))
		alerts_relays(a);
	free(key);
	alerts_arm(a);
}

/* Open the spool and the SMTP client, restore the state, start delivering. */
int
alerts_start(struct alerts *a, char *err, size_t errlen)
{
	struct spool_backoff b = spool_backoff_default;
	char why[512];

	b.base_ms = a->conf->mail.retry_ms;
	b.cap_ms = a->conf->mail.retry_max_ms;
	if ((a->sp = spool_open(a->conf->daemon.state_dir, &b, err, errlen)) == NULL)
		return -1;
	if ((a->smtp = smtp_new(a->base, err, errlen)) == NULL) {
		spool_close(a->sp);
		a->sp = NULL;
		return -1;
	}
	if (alerts_restore(a, why, sizeof(why)) == -1) {
		log_warnx("alerts state: %s (starting without it)", why);
		if (a->h->journal != NULL)
			a->h->journal(a->arg, "sonaed", "state.problem",
			    json_pack("{s:s}", "problem", why));
	}
	if (spool_count(a->sp) > 0)
		log_info("alerts: %zu mail%s in the spool", spool_count(a->sp),
		    spool_count(a->sp) == 1 ? "" : "s");
	alerts_relays(a);
	alerts_arm(a);
	return 0;
}

void
alerts_free(struct alerts *a)
{
	struct track *t;
	struct rate *r;
	size_t it = 0;

	if (a == NULL)
		return;
	deliver_free(a->dl);
	smtp_free(a->smtp);
	spool_close(a->sp);
	while ((t = TAILQ_FIRST(&a->tracks)) != NULL) {
		TAILQ_REMOVE(&a->tracks, t, entry);
		track_free(t);
	}
	while ((r = hmap_next(a->rates, &it)) != NULL) {
		free(r->addr);
		json_decref(r->held);
		free(r);
	}
	hmap_free(a->rates);
	free(a->relays_key);
	free(a->outage.reason);
	conf_strings_free(&a->outage.rcpts);
	json_decref(a->digest.items);
	free(a->mode_seen);
	if (a->timer != NULL)
		event_free(a->timer);
	if (a->saver != NULL)
		event_free(a->saver);
	free(a);
}

/*
 * The detection layer decided to tell: "problem" (opened, severity changed,
 * held back before) or "recovery".  Nothing is sent from inside this call
 * (it may come from inside the delivery engine's own callback): the tick
 * does it, at once or when the group wait is over.
 */
void
alerts_incident(struct alerts *a, uint64_t id, int64_t opened_ms, const char *what)
{
	struct track *t = track_find(a, id);
	int64_t now = time_now_ms();
	json_t *inc;

	if (strcmp(what, "recovery") == 0) {
		if (t == NULL)
			return; /* nobody was told */
		if (t->due_ms != 0)
			t->due_ms = now; /* came and went within the wait: one mail */
		else
			t->recovery = 1;
	} else if (t != NULL) {
		if (t->due_ms == 0)
			t->update = 1;
	} else {
		struct conf_strings routes = { NULL, 0 };
		int64_t wait = -1;
		size_t r;
		if ((inc = a->h->incident(a->arg, id)) == NULL)
			return;
		route_select(a, inc, &routes);
		json_decref(inc);
		for (r = 0; r < routes.n; r++) {
			const struct route_conf *rc =
			    conf_route_named(a->conf, routes.v[r]);
			if (wait < 0 || rc->group_wait_ms < wait)
				wait = rc->group_wait_ms;
		}
		t = xcalloc(1, sizeof(*t));
		t->id = id;
		t->opened_ms = opened_ms;
		t->due_ms = now + (wait > 0 ? wait : 0);
		if (t->due_ms == 0)
			t->due_ms = 1;
		t->routes = routes;
		t->severity = xstrdup("");
		TAILQ_INSERT_TAIL(&a->tracks, t, entry);
	}
	mark_dirty(a);
	alerts_arm(a);
}

/*
 * A test mail through the configured path: to, or every route's first people
 * (a roster route's: those the mode would tell first now).
 */
int
alerts_test(struct alerts *a, const char *to, const char *actor, uint64_t *id, char *err,
    size_t errlen)
{
	uint64_t qid = 0;
	const struct conf *c = a->conf;
	struct conf_strings rcpt = { NULL, 0 };
	char *subject, *body, t1[64];
	size_t i, k;
	int rc;

	if (c->mail.from == NULL || c->mail.relays.n == 0) {
		snprintf(err, errlen, "no mail path: `mail` needs `from` and `relays`");
		return -1;
	}
	if (a->sp == NULL) {
		snprintf(err, errlen, "the spool is not open");
		return -1;
	}
	if (to != NULL) {
		if (!mail_address_valid(to)) {
			snprintf(err, errlen,
			    "\"%s\" is not a plain address (local@domain)", to);
			return -1;
		}
		conf_strings_add(&rcpt, to);
	} else
		for (i = 0; i < c->routes.n; i++) {
			const struct route_conf *r = conf_route(c, i);
			if (!conf_strings_has(&r->channels, "mail"))
				continue;
			for (k = 0; k < r->to.n; k++)
				conf_strings_add(&rcpt, r->to.v[k]);
			if (r->roster) /* who it would tell first now */
				roster_now(a, &rcpt);
		}
	if (rcpt.n == 0) {
		snprintf(err, errlen, "no recipient: no route has `to`; give --to ADDR");
		return -1;
	}
	xasprintf(
	    &subject, "[sonae %s] TEST: notification test by %s", c->site.name, actor);
	xasprintf(&body,
	    "試験 / TEST: this mail was sent by `sonae notify-test`, asked by %s at "
	    "%s.\nIt went through the spool and the configured relays like every "
	    "alert; nothing is wrong at %s.\n",
	    actor, local_time(time_now_ms(), t1, sizeof(t1)), c->site.name);
	rc = mail_queue(a, NULL, NULL, 0, subject, body, &rcpt, 0, "test", &qid);
	if (rc == 0 && id != NULL)
		*id = qid;
	if (rc == 0 && a->h->journal != NULL)
		a->h->journal(a->arg, actor, "notify.test",
		    json_pack("{s:o, s:I}", "to", conf_strings_json(&rcpt), "queued",
		        (json_int_t)qid));
	if (rc == -1)
		snprintf(err, errlen, "could not queue the mail (see the log)");
	conf_strings_free(&rcpt);
	free(subject);
	free(body);
	return rc;
}

/*
 * Playbook notices: a `notify` step of a playbook run (playbooks/).
 */

/*
 * Who hears a notice whose step names nobody: the routes the incident takes
 * at the notice's severity, chosen as for a problem mail of it (the order,
 * `continue`, the mode), into to (their `to`, when they mail) and chans
 * (their syslog and exec channels).  Not beacons: a beacon belongs to an
 * incident's life, on while it is open and off when it resolves, and a
 * notice has no end to switch it off at.  Without an incident, an object
 * with the severity alone stands for one: a route that asks for a rule,
 * devices, kinds or a class cannot be met by it and is not taken.
 */
static void
notice_routes(struct alerts *a, const json_t *inc, const char *severity,
    struct conf_strings *to, struct conf_strings *chans)
{
	json_t *probe = inc != NULL ? json_deep_copy(inc) : json_object();
	struct conf_strings routes = { NULL, 0 };
	size_t r, k;

	json_object_set_new(probe, "severity", json_string(severity));
	route_select(a, probe, &routes);
	for (r = 0; r < routes.n; r++) {
		const struct route_conf *rc = conf_route_named(a->conf, routes.v[r]);
		for (k = 0; rc != NULL && k < rc->channels.n; k++) {
			const char *name = rc->channels.v[k];
			const struct channel_conf *c = conf_channel_named(a->conf, name);
			size_t i;
			if (strcmp(name, "mail") == 0) {
				for (i = 0; i < rc->to.n; i++)
					conf_strings_add(to, rc->to.v[i]);
				if (rc->roster)
					roster_now(a, to);
			} else if (strcmp(name, "syslog") == 0 ||
			           (c != NULL && c->type != CHANNEL_BEACON))
				conf_strings_add(chans, name);
		}
	}
	conf_strings_free(&routes);
	json_decref(probe);
}

/*
 * Who a roster route tells first in the mode of now (the first of `alert`
 * that names anyone, all of it without `chain`, and `copy`), appended to to.
 */
static void
roster_now(struct alerts *a, struct conf_strings *to)
{
	const struct mode_conf *m = mode_now(a);
	struct conf_strings add = { NULL, 0 };
	char what[160];

	if (m == NULL)
		return;
	roster_pick(a, m, 0, NULL, &add, what, sizeof(what));
	strings_add_new(to, &add);
	conf_strings_free(&add);
}

/* The notice's text; would: for a drill, who a real run would tell. */
static char *
notice_body(struct alerts *a, const struct alerts_notice *n, const json_t *inc,
    const char *severity, const char *would)
{
	const char *site = a->conf->site.name;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (n->drill)
		fprintf(f,
		    "訓練 / DRILL: nothing is wrong. This notice is part of a drill of "
		    "playbook %s (run %llu); a real run would tell %s.\n\n",
		    n->playbook, (unsigned long long)n->run, would);
	fprintf(f, "%s\n\n", n->text);
	fprintf(f, "対応手順 / Playbook:  %s (run %llu)\n", n->playbook,
	    (unsigned long long)n->run);
	fprintf(f, "手順 / Step:          %s\n", n->step_title);
	fprintf(f, "サイト / Site:        %s\n", site);
	if (inc != NULL)
		fprintf(f, "インシデント / Incident: #%llu %s\n",
		    (unsigned long long)n->incident, jstr(inc, "title"));
	fprintf(f, "重大度 / Severity:    %s\n", severity);
	fprintf(f, "\n経過 / Run status:\n  sonae run-status %llu\n",
	    (unsigned long long)n->run);
	if (inc != NULL)
		fprintf(f, "\n詳細 / Details:\n  sonae incident %llu\n",
		    (unsigned long long)n->incident);
	fprintf(f, "\n-- \nsonae %s, %s\n", SONAE_VERSION, site);
	fclose(f);
	return buf;
}

/* The notice on the local channels chans: a syslog line, exec programs. */
static void
notice_channels(struct alerts *a, const struct alerts_notice *n, const json_t *inc,
    const char *severity, const char *subject, const char *body,
    const struct conf_strings *chans)
{
	char line[768], num[32] = "", *env[11], *devices = devices_list(inc), *p;
	int prio = syslog_prio("problem", severity);
	size_t i, k = 0;

	if (n->incident != 0)
		snprintf(
		    num, sizeof(num), "incident #%llu ", (unsigned long long)n->incident);
	snprintf(line, sizeof(line), "%splaybook %s: %s: %s (%s run %llu)", num, severity,
	    n->step_title, n->text, n->playbook, (unsigned long long)n->run);
	/* One line: a text of several would be as many broken lines in the log. */
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	xasprintf(&env[k++], "SONAE_EVENT=playbook");
	xasprintf(&env[k++], "SONAE_INCIDENT=%llu", (unsigned long long)n->incident);
	xasprintf(&env[k++], "SONAE_SEVERITY=%s", severity);
	xasprintf(&env[k++], "SONAE_TITLE=%s", n->step_title);
	xasprintf(&env[k++], "SONAE_RULE=%s", jstr(inc, "rule"));
	xasprintf(&env[k++], "SONAE_DEVICES=%s", devices);
	xasprintf(&env[k++], "SONAE_SITE=%s", a->conf->site.name);
	xasprintf(&env[k++], "SONAE_SUBJECT=%s", subject);
	xasprintf(&env[k++], "SONAE_PLAYBOOK=%s", n->playbook);
	xasprintf(&env[k++], "SONAE_RUN=%llu", (unsigned long long)n->run);
	env[k] = NULL;
	for (i = 0; i < chans->n; i++) {
		const struct channel_conf *c;
		if (strcmp(chans->v[i], "syslog") == 0)
			syslog_send(a, NULL, prio, line);
		else if ((c = conf_channel_named(a->conf, chans->v[i])) == NULL)
			continue;
		else if (c->type == CHANNEL_SYSLOG)
			syslog_send(a, c, prio, line);
		else if (c->type == CHANNEL_EXEC)
			exec_start(a, c, n->incident, env, body);
	}
	for (i = 0; i < k; i++)
		free(env[i]);
	free(devices);
}

/*
 * A playbook's notice, told at once: a step of an emergency procedure that
 * someone wrote down on purpose, so neither the group wait (there is
 * nothing left to fold) nor the rate limit (it would turn the step into a
 * digest an hour later) holds it back, and it takes no rate-limit slot.
 * Everything is checked before anything is told: -1 means nobody was.
 */
int
alerts_notice(struct alerts *a, const struct alerts_notice *n, uint64_t *queued,
    char *result, size_t len)
{
	const struct conf *c = a->conf;
	struct conf_strings to = { NULL, 0 }, chans = { NULL, 0 }, none = { NULL, 0 };
	const struct conf_strings *rcpt;
	const char *severity, *actor = n->actor != NULL ? n->actor : "sonaed";
	char *subject = NULL, *body = NULL, *thread = NULL, *ref, *tmp;
	char *mails = NULL, *told = NULL, *would = NULL;
	struct track *t;
	json_t *inc = NULL, *data;
	uint64_t qid = 0;
	size_t i;
	int rc = -1;

	if (queued != NULL)
		*queued = 0;
	if (n->playbook == NULL || *n->playbook == '\0' || n->step_title == NULL ||
	    n->text == NULL) {
		snprintf(
		    result, len, "a notice needs a playbook, a step title and a text");
		return -1;
	}
	if (!utf8_valid(n->playbook, strlen(n->playbook)) ||
	    !utf8_valid(n->step_title, strlen(n->step_title)) ||
	    !utf8_valid(n->text, strlen(n->text))) {
		snprintf(result, len, "the notice is not valid UTF-8");
		return -1;
	}
	if (n->severity != 0 && n->severity != CHECK_WARNING &&
	    n->severity != CHECK_CRITICAL) {
		snprintf(result, len,
		    "severity %d: not warning, critical or the incident's", n->severity);
		return -1;
	}
	/* Checked in a drill too: a typo in `to` is what a drill is for finding. */
	for (i = 0; n->to != NULL && i < n->to->n; i++)
		if (!mail_address_valid(n->to->v[i])) {
			snprintf(result, len,
			    "\"%s\" is not a plain address (local@domain)", n->to->v[i]);
			return -1;
		}
	if (n->drill && (n->drill_to == NULL || n->drill_to->n == 0)) {
		snprintf(result, len, "drill: no drill recipients (playbooks.drill_to)");
		return -1;
	}
	for (i = 0; n->drill && i < n->drill_to->n; i++)
		if (!mail_address_valid(n->drill_to->v[i])) {
			snprintf(result, len,
			    "drill: \"%s\" is not a plain address (local@domain)",
			    n->drill_to->v[i]);
			return -1;
		}
	if (n->incident != 0 && (inc = a->h->incident(a->arg, n->incident)) == NULL) {
		snprintf(
		    result, len, "no incident #%llu", (unsigned long long)n->incident);
		return -1;
	}
	if (n->severity == CHECK_CRITICAL)
		severity = "critical";
	else if (n->severity == CHECK_WARNING || *jstr(inc, "severity") == '\0')
		severity = "warning";
	else
		severity = jstr(inc, "severity");
	if (n->to != NULL && n->to->n > 0)
		for (i = 0; i < n->to->n; i++)
			conf_strings_add(&to, n->to->v[i]);
	else
		notice_routes(a, inc, severity, &to, &chans);
	/* A drill fails where the real notice would: finding that is its point. */
	if (to.n == 0 && chans.n == 0) {
		if (inc != NULL)
			snprintf(result, len,
			    "nobody to tell: no route takes incident #%llu at %s",
			    (unsigned long long)n->incident, severity);
		else
			snprintf(result, len,
			    "nobody to tell: no route takes a %s notice without an "
			    "incident",
			    severity);
		goto out;
	}
	rcpt = n->drill ? n->drill_to : &to;
	if (rcpt->n > 0 && (c->mail.from == NULL || c->mail.relays.n == 0)) {
		snprintf(result, len, "no mail path: `mail` needs `from` and `relays`");
		goto out;
	}
	if (rcpt->n > 0 && a->sp == NULL) {
		snprintf(result, len, "the spool is not open");
		goto out;
	}
	mails = strings_join(&to);
	told = strings_join(&chans);
	xasprintf(&would, "%s%s%s%s", mails, *mails && *told ? " and " : "",
	    *told ? "the channels " : "", told);
	if (n->incident != 0)
		xasprintf(&ref, "#%llu", (unsigned long long)n->incident);
	else
		xasprintf(&ref, "playbook %s", n->playbook);
	subject = mail_subject_ref(c->site.name, severity, ref, n->step_title);
	free(ref);
	if (n->drill) {
		xasprintf(&tmp, "【訓練】[DRILL] %s", subject);
		free(subject);
		subject = tmp;
	}
	/*
	 * In the incident's thread, as a reply.  The root follows from the
	 * incident alone, so the notice joins the thread whether the first mail
	 * went out already or waits for its group (it then stays the root), and
	 * after the recovery dropped the track.  Not a drill: it must not read
	 * as part of a real incident's story.
	 */
	if (inc != NULL && !n->drill) {
		t = track_find(a, n->incident);
		thread = mail_thread_id(mail_address_domain(c->mail.from), c->site.name,
		    n->incident, t != NULL ? t->opened_ms : jint(inc, "opened_ms"));
	}
	body = notice_body(a, n, inc, severity, would);
	if (rcpt->n > 0 && mail_queue(a, NULL, thread, n->incident, subject, body, rcpt,
	                       0, n->drill ? "playbook drill" : "playbook", &qid) == -1) {
		snprintf(result, len, "could not queue the mail (see the log)");
		goto out;
	}
	if (!n->drill)
		notice_channels(a, n, inc, severity, subject, body, &chans);
	free(mails);
	mails = strings_join(rcpt);
	if (n->drill)
		snprintf(result, len,
		    "drill: queued #%llu to %s (a real run would tell %s)",
		    (unsigned long long)qid, mails, would);
	else if (rcpt->n > 0)
		snprintf(result, len, "queued #%llu to %s%s%s", (unsigned long long)qid,
		    mails, *told ? "; channels " : "", told);
	else
		snprintf(
		    result, len, "told the channels %s (no route mails anyone)", told);
	if (queued != NULL)
		*queued = qid;
	if (a->h->journal != NULL) {
		data = json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:o, s:I, s:b}",
		    "incident", (json_int_t)n->incident, "playbook", n->playbook, "run",
		    (json_int_t)n->run, "step", n->step_title, "severity", severity, "to",
		    conf_strings_json(rcpt), "channels",
		    conf_strings_json(n->drill ? &none : &chans), "queued",
		    (json_int_t)qid, "drill", n->drill);
		if (n->drill)
			json_object_set_new(data, "would",
			    json_pack("{s:o, s:o}", "to", conf_strings_json(&to),
			        "channels", conf_strings_json(&chans)));
		a->h->journal(a->arg, actor, "notify.playbook", data);
	}
	rc = 0;
out:
	conf_strings_free(&to);
	conf_strings_free(&chans);
	json_decref(inc);
	free(subject);
	free(body);
	free(thread);
	free(mails);
	free(told);
	free(would);
	return rc;
}

/* {"delivery": deliver_json, "spool": spool_json (the first max)}. */
json_t *
alerts_queue_json(struct alerts *a, size_t max)
{
	return json_pack("{s:o, s:o}", "delivery",
	    a->dl != NULL ? deliver_json(a->dl) : json_null(), "spool",
	    a->sp != NULL ? spool_json(a->sp, max) : json_null());
}

/* For `sonae status`. */
json_t *
alerts_status_json(struct alerts *a)
{
	size_t n = 0, held = 0, it = 0;
	struct track *t;
	struct rate *r;

	TAILQ_FOREACH(t, &a->tracks, entry)
	n++;
	while ((r = hmap_next(a->rates, &it)) != NULL)
		held += json_array_size(r->held) + (size_t)r->more;
	return json_pack("{s:i, s:b, s:i, s:i, s:I}", "queued",
	    a->sp != NULL ? (int)spool_count(a->sp) : 0, "mail_down", a->outage.down,
	    "incidents", (int)n, "held", (int)held, "mails", (json_int_t)a->mails);
}

/*
 * An announcement to people, not about an incident: the operating mode
 * changed (monitor/roster.c).  Queued at once to every address of to; not
 * held by rate limits (the staff must hear of it).
 */
int
alerts_announce(struct alerts *a, const char *kind, const char *title, const char *body,
    const struct conf_strings *to, const char *actor, uint64_t *queued, char *err,
    size_t errlen)
{
	const struct conf *c = a->conf;
	char *subject;
	uint64_t id = 0;
	int rc;

	if (to == NULL || to->n == 0) {
		snprintf(err, errlen, "nobody to tell");
		return -1;
	}
	if (c->mail.from == NULL || c->mail.relays.n == 0) {
		snprintf(err, errlen, "no mail path: `mail` needs `from` and `relays`");
		return -1;
	}
	subject = mail_subject_ref(c->site.name, kind, NULL, title);
	rc = mail_queue(a, NULL, NULL, 0, subject, body, to, 0, "announce", &id);
	free(subject);
	if (rc == -1) {
		snprintf(err, errlen, "could not queue the mail (see the log)");
		return -1;
	}
	if (queued != NULL)
		*queued = id;
	if (a->h->journal != NULL)
		a->h->journal(a->arg, actor != NULL ? actor : "sonaed", "notify.announce",
		    json_pack("{s:s, s:s, s:o, s:I}", "kind", kind, "title", title, "to",
		        conf_strings_json(to), "queued", (json_int_t)id));
	return 0;
}

/*
 * The operating mode changed (monitor/roster.c): problems it held back are
 * looked at again now, not at the next tick; roster steps follow the new
 * mode when they fall due.
 */
void
alerts_mode_changed(struct alerts *a)
{
	mode_watch(a);
	alerts_arm(a);
}

/*
 * The first daily "HH:MM" (at) after `after` on the wall clock of zone,
 * with the rules of maintenance windows for the days the clock changes (a
 * time the clock skips comes at the change, one it repeats the first time).
 */
int64_t
alerts_digest_next(const char *zone, const char *at, int64_t after)
{
	char every[32], err[256];
	struct window_text wt = { .every = every, .duration = "1min" };
	struct window *w;
	int64_t next;

	snprintf(every, sizeof(every), "daily %s", at != NULL ? at : "08:30");
	if ((w = window_parse(
	         &wt, zone != NULL ? zone : "UTC", after, err, sizeof(err))) == NULL) {
		log_warnx("alerts: digest_at %s in %s: %s; a day from now", every,
		    zone != NULL ? zone : "UTC", err);
		return after + 86400000;
	}
	next = window_next_change(w, after);
	if (window_active(w, after))
		next = window_next_change(w, next); /* the end of this one: the next */
	window_free(w);
	return next > after ? next : after + 86400000;
}

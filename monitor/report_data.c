/*
 * The data of the reports (`sonae report incident|drill|inspection`): one
 * JSON document each, gathered from the detection layer, the playbook
 * engine, the audit journal and the files history.c writes.  The shapes are
 * the contract with the renderer (docs/cli.md, "JSON shapes").
 *
 * Gathering reads files on the loop, synchronously: an operator asked, and
 * the work is bounded.  The journal is read through audit_read() from the
 * start of the span, at most REPORT_JOURNAL_MAX entries (the newest); a
 * readings file holds at most HISTORY_READINGS_MAX samples; the month files
 * of an inspection are read up to REPORT_HOURS_MAX lines in all (then the
 * report says history_truncated).
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/engine.h"

#define REPORT_JOURNAL_MAX 100000
#define REPORT_HOURS_MAX   1000000
#define REPORT_SLACK_MS    60000 /* journal entries just before a span's start */
#define HOUR_MS            ((int64_t)3600 * 1000)
#define DAY_MS             ((int64_t)86400 * 1000)

/* Metrics a report marks as key besides those the incident's detector read. */
static const char *const key_metrics[] = { "runtime_s", "charge_pct", "input_voltage",
	NULL };

static json_t *
head(struct daemon *d, const char *kind)
{
	const struct conf *c = daemon_conf(d);
	int64_t now = time_now_ms();

	return json_pack("{s:s, s:{s:s, s:s}, s:o, s:I, s:s}", "report", kind, "site",
	    "name", c->site.name, "timezone", c->site.timezone, "generated",
	    json_time(now), "generated_ms", (json_int_t)now, "version", SONAE_VERSION);
}

/*
 * A journal entry's time in ms (time_format's text: time_parse reads the
 * seconds, the milliseconds are added here); -1 if it does not read.
 */
static int64_t
entry_ms(const json_t *e)
{
	const char *t = json_str_of(e, "time"), *p;
	int64_t ms, scale = 100;

	if (t == NULL || time_parse(t, 0, &ms) == -1)
		return -1;
	if ((p = strchr(t, 'T')) != NULL && (p = strchr(p, '.')) != NULL)
		for (p++; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10)
			ms += (*p - '0') * scale;
	return ms;
}

static int
entry_is(const json_t *e, const char *action)
{
	const char *a = json_str_of(e, "action");

	return a != NULL && strcmp(a, action) == 0;
}

static const json_t *
detail(const json_t *e)
{
	return json_object_get(e, "detail");
}

/* The journal from since_ms on (bounded: see the top of the file). */
static json_t *
journal_from(struct daemon *d, int64_t since_ms)
{
	struct audit *a = daemon_audit(d);

	if (a == NULL)
		return json_array();
	return audit_read(audit_path(a), since_ms > 0 ? since_ms : 1, REPORT_JOURNAL_MAX);
}

/* --- readings ----------------------------------------------------------------- */

struct rpoint {
	int64_t t;
	double v;
};

struct rseries {
	char *key; /* "device.metric" */
	char *device, *metric, *unit;
	struct rpoint *p;
	size_t n, cap;
};

static int
rpoint_cmp(const void *a, const void *b)
{
	const struct rpoint *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

static int
is_key_metric(const json_t *keys, const char *key, const char *metric)
{
	size_t k;

	if (keys != NULL && json_object_get(keys, key) != NULL)
		return 1;
	for (k = 0; key_metrics[k] != NULL; k++)
		if (strcmp(metric, key_metrics[k]) == 0)
			return 1;
	return strstr(metric, "temp") != NULL; /* temperature-like */
}

/*
 * The readings an incident recorded (history.c), as series of points in
 * time order; keys (the incident's snapshot: what its detector read) and
 * the key metrics above mark a series key.
 */
json_t *
report_readings(const char *state_dir, uint64_t id, const json_t *keys)
{
	struct hmap *map = hmap_new();
	struct rseries **v = NULL, *s;
	size_t nv = 0, lines = 0, cap = 0, k;
	char *path = history_readings_path(state_dir, id), *line = NULL, key[300];
	int64_t from = 0, to = 0;
	int truncated = 0;
	json_t *series = json_array(), *o;
	ssize_t len;
	FILE *f;

	if ((f = fopen(path, "re")) != NULL) {
		while (lines++ < HISTORY_READINGS_MAX + 16 &&
		       (len = getline(&line, &cap, f)) != -1) {
			const char *dev, *metric, *unit;
			int64_t t;
			if ((o = json_loadb(line, (size_t)len, 0, NULL)) == NULL)
				continue; /* a line a crash cut short */
			t = json_int_of(o, "t");
			dev = json_str_of(o, "d");
			metric = json_str_of(o, "m");
			unit = json_str_of(o, "u");
			if (json_is_true(json_object_get(o, "truncated")))
				truncated = 1;
			if (dev == NULL || metric == NULL ||
			    !json_is_number(json_object_get(o, "v")) || t <= 0) {
				json_decref(o);
				continue;
			}
			snprintf(key, sizeof(key), "%s.%s", dev, metric);
			if ((s = hmap_get(map, key)) == NULL) {
				s = xcalloc(1, sizeof(*s));
				s->key = xstrdup(key);
				s->device = xstrdup(dev);
				s->metric = xstrdup(metric);
				s->unit = unit != NULL ? xstrdup(unit) : NULL;
				hmap_put(map, s->key, s);
				v = xreallocarray(v, nv + 1, sizeof(*v));
				v[nv++] = s;
			}
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 64;
				s->p = xreallocarray(s->p, s->cap, sizeof(*s->p));
			}
			s->p[s->n++] = (struct rpoint){ t,
				json_number_value(json_object_get(o, "v")) };
			if (from == 0 || t < from)
				from = t;
			if (t > to)
				to = t;
			json_decref(o);
		}
		if (lines > HISTORY_READINGS_MAX + 16)
			truncated = 1;
		fclose(f);
	}
	for (k = 0; k < nv; k++) {
		json_t *pts = json_array();
		size_t i;
		s = v[k];
		qsort(s->p, s->n, sizeof(*s->p), rpoint_cmp);
		for (i = 0; i < s->n; i++)
			json_array_append_new(
			    pts, json_pack("[I, f]", (json_int_t)s->p[i].t, s->p[i].v));
		json_array_append_new(series,
		    json_pack("{s:s, s:s, s:o, s:b, s:o}", "device", s->device, "metric",
		        s->metric, "unit",
		        s->unit != NULL ? json_string(s->unit) : json_null(), "key",
		        is_key_metric(keys, s->key, s->metric), "points", pts));
		free(s->key);
		free(s->device);
		free(s->metric);
		free(s->unit);
		free(s->p);
		free(s);
	}
	free(v);
	hmap_free(map);
	free(line);
	free(path);
	return json_pack("{s:I, s:I, s:b, s:o}", "from_ms", (json_int_t)from, "to_ms",
	    (json_int_t)to, "truncated", truncated, "series", series);
}

/* --- notifications ---------------------------------------------------------- */

/* What became of each queued mail: mail.delivered / mail.failed by queued id. */
static json_t *
deliveries(const json_t *journal)
{
	json_t *m = json_object(), *e, *o;
	const json_t *dt;
	size_t i;
	char id[32];

	json_array_foreach(journal, i, e)
	{
		int ok = entry_is(e, "mail.delivered");
		if (!ok && !entry_is(e, "mail.failed"))
			continue;
		dt = detail(e);
		snprintf(id, sizeof(id), "%lld", (long long)json_int_of(dt, "queued"));
		if ((o = json_object_get(m, id)) == NULL) {
			o = json_pack("{s:s, s:n, s:n, s:i, s:n}", "status", "queued",
			    "delivered_ms", "relay", "attempts", 0, "error");
			json_object_set_new(m, id, o);
		}
		json_object_set_new(o, "attempts",
		    json_integer(json_integer_value(json_object_get(o, "attempts")) + 1));
		if (json_str_of(dt, "relay") != NULL && *json_str_of(dt, "relay") != '\0')
			json_object_set_new(
			    o, "relay", json_string(json_str_of(dt, "relay")));
		if (ok) {
			json_object_set_new(o, "status", json_string("delivered"));
			json_object_set_new(
			    o, "delivered_ms", json_integer((json_int_t)entry_ms(e)));
			json_object_set_new(o, "error", json_null());
			continue;
		}
		if (strcmp(json_str_of(o, "status"), "delivered") == 0)
			continue;
		json_object_set_new(o, "error",
		    json_string(
		        json_str_of(dt, "reason") ? json_str_of(dt, "reason") : ""));
		if (json_is_true(json_object_get(dt, "permanent")))
			json_object_set_new(o, "status", json_string("failed"));
	}
	return m;
}

static json_t *
notification(const json_t *e, const char *what, const json_t *dels)
{
	const json_t *dt = detail(e);
	json_t *o, *st;
	char id[32];
	int64_t ms = entry_ms(e);

	snprintf(id, sizeof(id), "%lld", (long long)json_int_of(dt, "queued"));
	o = json_pack("{s:I, s:O?, s:s, s:O?, s:I}", "time_ms", (json_int_t)ms, "time",
	    json_object_get(e, "time"), "what", what, "to", json_object_get(dt, "to"),
	    "queued", (json_int_t)json_int_of(dt, "queued"));
	if (json_object_get(o, "to") == NULL || json_is_null(json_object_get(o, "to")))
		json_object_set_new(o, "to", json_array());
	if ((st = json_object_get(dels, id)) != NULL)
		json_object_update(o, st);
	else
		json_object_update_new(
		    o, json_pack("{s:s, s:n, s:n, s:i, s:n}", "status", "queued",
		           "delivered_ms", "relay", "attempts", 0, "error"));
	return o;
}

/* The mails of incident id (alert.mail: problems, updates, notices...). */
static json_t *
incident_mails(const json_t *journal, uint64_t id)
{
	json_t *dels = deliveries(journal), *list = json_array(), *e;
	size_t i;

	json_array_foreach(journal, i, e)
	{
		const json_t *dt = detail(e);
		if (!entry_is(e, "alert.mail") ||
		    json_int_of(dt, "incident") != (int64_t)id)
			continue;
		json_array_append_new(list,
		    notification(e,
		        json_str_of(dt, "what") ? json_str_of(dt, "what") : "?", dels));
	}
	json_decref(dels);
	return list;
}

/* A drill's notices (notify.playbook of the run that queued a mail). */
static json_t *
run_mails(const json_t *journal, uint64_t run)
{
	json_t *dels = deliveries(journal), *list = json_array(), *e;
	size_t i;

	json_array_foreach(journal, i, e)
	{
		const json_t *dt = detail(e);
		if (!entry_is(e, "notify.playbook") ||
		    json_int_of(dt, "run") != (int64_t)run ||
		    json_int_of(dt, "queued") <= 0)
			continue;
		json_array_append_new(list,
		    notification(e,
		        json_is_true(json_object_get(dt, "drill")) ? "drill" : "notice",
		        dels));
	}
	json_decref(dels);
	return list;
}

/* --- decisions ------------------------------------------------------------------ */

static const char *const decision_events[] = { "incident.ack", "incident.resolve",
	"incident.declare", "playbook.confirm", "playbook.confirm-refused",
	"playbook.abort", "playbook.start", "mode.set", "staff.set", NULL };

/* What a journal entry says, in a line. */
static json_t *
entry_text(const json_t *e)
{
	const json_t *dt = detail(e);
	const char *a = json_str_of(e, "action"), *text = json_str_of(dt, "text");
	char *s = NULL, *dump;
	json_t *v;

	if (entry_is(e, "mode.set"))
		xasprintf(&s, "%s -> %s: %s",
		    json_str_of(dt, "from") ? json_str_of(dt, "from") : "?",
		    json_str_of(dt, "to") ? json_str_of(dt, "to") : "?",
		    json_str_of(dt, "why") ? json_str_of(dt, "why") : "");
	else if (entry_is(e, "playbook.confirm"))
		xasprintf(&s, "%s: %s: %s",
		    json_str_of(dt, "step") ? json_str_of(dt, "step") : "?",
		    json_str_of(dt, "answer") ? json_str_of(dt, "answer") : "?",
		    text ? text : "");
	else if (entry_is(e, "playbook.confirm-refused"))
		xasprintf(&s, "%s: %s refused: %s",
		    json_str_of(dt, "step") ? json_str_of(dt, "step") : "?",
		    json_str_of(dt, "answer") ? json_str_of(dt, "answer") : "?",
		    json_str_of(dt, "why") ? json_str_of(dt, "why") : "");
	else if (entry_is(e, "playbook.start"))
		xasprintf(&s, "%s%s run %lld: %s",
		    json_is_true(json_object_get(dt, "drill")) ? "drill of " : "",
		    json_str_of(dt, "playbook") ? json_str_of(dt, "playbook") : "?",
		    (long long)json_int_of(dt, "run"),
		    json_str_of(dt, "reason") ? json_str_of(dt, "reason") : "");
	else if (entry_is(e, "notify.playbook")) {
		dump = json_dumps(json_object_get(dt, "to"), JSON_COMPACT);
		xasprintf(&s, "%s: queued #%lld to %s",
		    json_str_of(dt, "step") ? json_str_of(dt, "step") : "?",
		    (long long)json_int_of(dt, "queued"), dump != NULL ? dump : "[]");
		free(dump);
	} else if (entry_is(e, "playbook.step"))
		xasprintf(&s, "%s: %s: %s",
		    json_str_of(dt, "step") ? json_str_of(dt, "step") : "?",
		    json_str_of(dt, "state") ? json_str_of(dt, "state") : "?",
		    json_str_of(dt, "result") ? json_str_of(dt, "result") : "");
	else if (text != NULL)
		return json_string(text);
	else if (json_str_of(dt, "reason") != NULL)
		return json_string(json_str_of(dt, "reason"));
	else if (json_str_of(dt, "why") != NULL)
		return json_string(json_str_of(dt, "why"));
	else {
		dump = json_dumps(dt, JSON_COMPACT | JSON_PRESERVE_ORDER);
		v = json_string(dump != NULL ? dump : (a != NULL ? a : ""));
		free(dump);
		return v;
	}
	v = json_string(s);
	free(s);
	return v;
}

static json_t *
decision(const json_t *e)
{
	return json_pack("{s:I, s:O?, s:s, s:s, s:o}", "time_ms", (json_int_t)entry_ms(e),
	    "time", json_object_get(e, "time"), "actor",
	    json_str_of(e, "actor") ? json_str_of(e, "actor") : "?", "event",
	    json_str_of(e, "action"), "text", entry_text(e));
}

static int
in_ids(const json_t *ids, int64_t v)
{
	json_t *x;
	size_t i;

	json_array_foreach(ids, i, x) if (json_integer_value(x) == v) return 1;
	return 0;
}

/* The decisions about incident id, its runs (ids) and the modes in its span. */
static json_t *
incident_decisions(
    const json_t *journal, uint64_t id, const json_t *runs, int64_t from, int64_t to)
{
	json_t *list = json_array(), *e;
	size_t i, k;

	json_array_foreach(journal, i, e)
	{
		const json_t *dt = detail(e);
		const char *a = json_str_of(e, "action");
		int64_t ms = entry_ms(e);
		int mine;
		if (a == NULL)
			continue;
		for (k = 0; decision_events[k] != NULL; k++)
			if (strcmp(a, decision_events[k]) == 0)
				break;
		if (decision_events[k] == NULL)
			continue;
		if (strcmp(a, "mode.set") == 0 || strcmp(a, "staff.set") == 0)
			mine = ms >= from && ms <= to;
		else
			mine = json_int_of(dt, "incident") == (int64_t)id ||
			       (json_int_of(dt, "run") > 0 &&
			           in_ids(runs, json_int_of(dt, "run")));
		/* A run the daemon started is no one's decision. */
		if (strcmp(a, "playbook.start") == 0 && json_str_of(e, "actor") != NULL &&
		    strcmp(json_str_of(e, "actor"), "sonaed") == 0)
			mine = 0;
		if (mine)
			json_array_append_new(list, decision(e));
	}
	return list;
}

static json_t *
mode_change(const json_t *e, int headcount)
{
	const json_t *dt = detail(e);
	json_t *o;

	o = json_pack("{s:I, s:O?, s:s, s:s, s:s, s:s}", "time_ms",
	    (json_int_t)entry_ms(e), "time", json_object_get(e, "time"), "from",
	    json_str_of(dt, "from") ? json_str_of(dt, "from") : "?", "to",
	    json_str_of(dt, "to") ? json_str_of(dt, "to") : "?", "actor",
	    json_str_of(e, "actor") ? json_str_of(e, "actor") : "?", "why",
	    json_str_of(dt, "why") ? json_str_of(dt, "why") : "");
	if (headcount) {
		json_t *h = json_object_get(dt, "headcount");
		json_object_set_new(
		    o, "headcount", h != NULL ? json_deep_copy(h) : json_null());
	}
	return o;
}

/* --- follow-ups ------------------------------------------------------------------ */

static void followup(json_t *list, const char *kind, const char *fmt, ...)
    PRINTFLIKE(3, 4);

static void
followup(json_t *list, const char *kind, const char *fmt, ...)
{
	char text[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_array_append_new(list, json_pack("{s:s, s:s}", "kind", kind, "text", text));
}

/* Runs not done; steps failed, unknown, or decided by a timeout's default. */
static void
run_followups(json_t *list, const json_t *run)
{
	const char *state = json_str_of(run, "state"), *pb = json_str_of(run, "playbook");
	long long id = (long long)json_int_of(run, "id");
	json_t *st;
	size_t i;

	if (state != NULL && strcmp(state, "done") != 0)
		followup(list, "run", "run %lld (%s) %s %s", id, pb ? pb : "?",
		    strcmp(state, "running") == 0 ? "is still" : "ended", state);
	json_array_foreach(json_object_get(run, "steps"), i, st)
	{
		const char *ss = json_str_of(st, "state"),
		           *res = json_str_of(st, "result");
		if (ss == NULL)
			continue;
		if (strcmp(ss, "failed") == 0 || strcmp(ss, "unknown") == 0)
			followup(list, "step", "run %lld step %s %s: %s", id,
			    json_str_of(st, "id"), ss, res ? res : "no result");
		else if (res != NULL && strncmp(res, "no answer within", 16) == 0)
			followup(list, "step", "run %lld step %s: %s", id,
			    json_str_of(st, "id"), res);
	}
}

static void
mail_followups(json_t *list, const json_t *mails)
{
	json_t *m;
	size_t i;

	json_array_foreach(mails, i, m)
	{
		const char *st = json_str_of(m, "status");
		char *to;
		if (st == NULL || strcmp(st, "delivered") == 0)
			continue;
		to = json_dumps(json_object_get(m, "to"), JSON_COMPACT);
		followup(list, "mail", "%s mail #%lld to %s %s%s%s",
		    json_str_of(m, "what"), (long long)json_int_of(m, "queued"),
		    to ? to : "?",
		    strcmp(st, "failed") == 0 ? "failed" : "not delivered yet",
		    json_str_of(m, "error") ? ": " : "",
		    json_str_of(m, "error") ? json_str_of(m, "error") : "");
		free(to);
	}
}

/* --- report incident ID ------------------------------------------------------- */

/* `report incident ID`: NULL with why in err if there is no such incident. */
json_t *
report_incident(struct daemon *d, uint64_t id, char *err, size_t errlen)
{
	struct pb_engine *pe = daemon_playbook_engine(d);
	json_t *inc, *o, *journal, *readings, *runs, *ids, *summaries, *x, *followups;
	json_t *changes, *mails, *e;
	const char *at_open = NULL;
	int64_t opened, resolved, to, now = time_now_ms();
	size_t i;

	if ((inc = detect_incident_json(daemon_detect(d), id)) == NULL) {
		snprintf(err, errlen, "no incident %llu", (unsigned long long)id);
		return NULL;
	}
	opened = json_int_of(inc, "opened_ms");
	resolved = json_int_of(json_object_get(inc, "resolved"), "time_ms");
	to = resolved > 0 ? resolved : now;
	journal = journal_from(d, opened - REPORT_SLACK_MS);
	o = head(d, "incident");

	readings = report_readings(
	    daemon_conf(d)->daemon.state_dir, id, json_object_get(inc, "snapshot"));
	if (json_int_of(readings, "from_ms") == 0 ||
	    json_int_of(readings, "from_ms") > opened)
		json_object_set_new(
		    readings, "from_ms", json_integer((json_int_t)opened));
	json_object_set_new(readings, "to_ms", json_integer((json_int_t)to));

	runs = json_array();
	ids = json_array();
	summaries = pe != NULL ? pb_engine_incident_runs(pe, id) : NULL;
	json_array_foreach(json_object_get(summaries, "runs"), i, x)
	{
		json_t *r = pb_engine_run_json(pe, (uint64_t)json_int_of(x, "id"));
		if (r == NULL)
			continue;
		json_array_append_new(ids, json_integer(json_int_of(x, "id")));
		json_array_append_new(runs, r);
	}
	json_decref(summaries);

	mails = incident_mails(journal, id);
	changes = json_array();
	json_array_foreach(journal, i, e)
	{
		int64_t ms = entry_ms(e);
		if (!entry_is(e, "mode.set") || ms < opened)
			continue;
		if (at_open == NULL)
			at_open = json_str_of(detail(e), "from");
		if (ms <= to)
			json_array_append_new(changes, mode_change(e, 0));
	}

	followups = json_array();
	if (resolved == 0) {
		followup(followups, "unresolved", "incident %llu is still open",
		    (unsigned long long)id);
		if (json_is_null(json_object_get(inc, "acknowledged")))
			followup(followups, "unacknowledged",
			    "nobody has acknowledged incident %llu",
			    (unsigned long long)id);
	}
	json_array_foreach(runs, i, x) run_followups(followups, x);
	mail_followups(followups, mails);
	{
		const char *held = NULL;
		json_array_foreach(json_object_get(inc, "timeline"), i,
		    x) if (json_str_of(x, "event") != NULL &&
		           strcmp(json_str_of(x, "event"), "notify-held") == 0) held =
		    json_str_of(x, "text");
		if (held != NULL)
			followup(followups, "deferred", "%s", held);
	}

	json_object_set_new(o, "incident", inc);
	json_object_set_new(o, "readings", readings);
	json_object_set_new(o, "notifications", mails);
	json_object_set_new(o, "runs", runs);
	json_object_set_new(
	    o, "decisions", incident_decisions(journal, id, ids, opened, to));
	json_object_set_new(o, "followups", followups);
	json_object_set_new(o, "modes",
	    json_pack("{s:s, s:o}", "at_open", at_open != NULL ? at_open : daemon_mode(d),
	        "changes", changes));
	json_decref(ids);
	json_decref(journal);
	return o;
}

/* --- report drill RUN ------------------------------------------------------------ */

/* `report drill RUN`: NULL with why in err for no such run, or not a drill. */
json_t *
report_drill(struct daemon *d, uint64_t run, char *err, size_t errlen)
{
	struct pb_engine *pe = daemon_playbook_engine(d);
	json_t *r, *o, *journal, *would, *decisions, *followups, *mails, *x;
	int64_t since = 0;
	size_t i;

	if (pe == NULL || (r = pb_engine_run_json(pe, run)) == NULL) {
		snprintf(err, errlen, "no run %llu", (unsigned long long)run);
		return NULL;
	}
	if (!json_is_true(json_object_get(r, "drill"))) {
		if (json_int_of(r, "incident") > 0)
			snprintf(err, errlen,
			    "run %llu is not a drill (sonae report incident %lld)",
			    (unsigned long long)run,
			    (long long)json_int_of(r, "incident"));
		else
			snprintf(err, errlen,
			    "run %llu is not a drill (sonae run-status %llu)",
			    (unsigned long long)run, (unsigned long long)run);
		json_decref(r);
		return NULL;
	}
	if (json_str_of(r, "started") == NULL ||
	    time_parse(json_str_of(r, "started"), 0, &since) == -1)
		since = 0;
	journal = journal_from(d, since > 0 ? since - REPORT_SLACK_MS : 0);
	o = head(d, "drill");

	would = json_array();
	json_array_foreach(json_object_get(r, "steps"), i,
	    x) if (json_is_true(json_object_get(x, "would_run")))
	    json_array_append_new(would,
	        json_pack("{s:O?, s:O?, s:O?}", "step", json_object_get(x, "id"), "title",
	            json_object_get(x, "title"), "text", json_object_get(x, "result")));
	decisions = json_array();
	json_array_foreach(
	    journal, i, x) if (json_int_of(detail(x), "run") == (int64_t)run)
	    json_array_append_new(decisions, decision(x));
	mails = run_mails(journal, run);

	followups = json_array();
	run_followups(followups, r);
	if (daemon_conf(d)->playbooks.drill_to.n == 0)
		followup(followups, "mail",
		    "no drill recipients (playbooks.drill_to): the drill's notices "
		    "reached nobody");
	mail_followups(followups, mails);

	json_object_set_new(o, "run", r);
	json_object_set_new(o, "would_run", would);
	json_object_set_new(o, "notifications", mails);
	json_object_set_new(o, "decisions", decisions);
	json_object_set_new(o, "followups", followups);
	json_decref(journal);
	return o;
}

/* --- report inspection ----------------------------------------------------------- */

struct ihour {
	int64_t hour_ms;
	struct hist_agg m[HM_N];
};

struct idev {
	char *name;
	struct hist_hour tot;
	struct ihour *h; /* by hour */
	size_t n, cap;
};

struct inspect {
	struct hmap *devs; /* name -> struct idev */
	int64_t from, to;
};

/* Add a line (or the live counters) of an hour to the period's sums. */
static void
inspect_add(const struct hist_hour *hh, void *arg)
{
	struct inspect *in = arg;
	struct idev *dv;
	struct ihour *ih = NULL;
	size_t k;
	int j, any = 0;

	if (hh->hour_ms + HOUR_MS <= in->from || hh->hour_ms >= in->to)
		return;
	if ((dv = hmap_get(in->devs, hh->device)) == NULL) {
		dv = xcalloc(1, sizeof(*dv));
		dv->name = xstrdup(hh->device);
		hmap_put(in->devs, dv->name, dv);
	}
	dv->tot.polls += hh->polls;
	dv->tot.answered += hh->answered;
	dv->tot.missed += hh->missed;
	dv->tot.samples += hh->samples;
	dv->tot.good += hh->good;
	dv->tot.bad += hh->bad;
	for (j = 0; j < HM_N; j++)
		any |= hh->m[j].n > 0;
	if (!any)
		return;
	/* Lines come by the hour; a restart splits one hour into two lines. */
	for (k = dv->n; k > 0 && ih == NULL; k--)
		if (dv->h[k - 1].hour_ms == hh->hour_ms)
			ih = &dv->h[k - 1];
		else if (dv->h[k - 1].hour_ms < hh->hour_ms)
			break;
	if (ih == NULL) {
		if (dv->n == dv->cap) {
			dv->cap = dv->cap ? dv->cap * 2 : 64;
			dv->h = xreallocarray(dv->h, dv->cap, sizeof(*dv->h));
		}
		memmove(&dv->h[k + 1], &dv->h[k], (dv->n - k) * sizeof(*dv->h));
		ih = &dv->h[k];
		memset(ih, 0, sizeof(*ih));
		ih->hour_ms = hh->hour_ms;
		dv->n++;
	}
	for (j = 0; j < HM_N; j++)
		hist_agg_merge(&ih->m[j], &hh->m[j]);
}

/* Read the month files of the period; 1 if the line budget ran out. */
static int
inspect_read(struct inspect *in, const char *state_dir)
{
	struct hist_hour hh;
	int64_t ms = in->from - in->from % HOUR_MS;
	size_t lines = 0, cap = 0;
	char *path, *last = NULL, *line = NULL, dev[128];
	ssize_t len;
	FILE *f;

	/* One file per UTC month: step by days, open each month once. */
	for (; ms < in->to + DAY_MS; ms += DAY_MS) {
		path = history_month_path(state_dir, ms);
		if (last != NULL && strcmp(path, last) == 0) {
			free(path);
			continue;
		}
		free(last);
		last = path;
		if ((f = fopen(path, "re")) == NULL)
			continue;
		while ((len = getline(&line, &cap, f)) != -1) {
			if (++lines > REPORT_HOURS_MAX)
				break;
			if (history_hour_parse(
			        line, (size_t)len, &hh, dev, sizeof(dev)) == 0)
				inspect_add(&hh, in);
		}
		fclose(f);
		if (lines > REPORT_HOURS_MAX)
			break;
	}
	free(last);
	free(line);
	return lines > REPORT_HOURS_MAX;
}

/*
 * The least-squares slope of v over t (ms), per day: 0 and *out, or -1 with
 * fewer than two distinct times.
 */
int
report_trend(const int64_t *t, const double *v, size_t n, double *out)
{
	double mt = 0, mv = 0, sxx = 0, sxy = 0, x;
	size_t i;

	if (n < 2)
		return -1;
	for (i = 0; i < n; i++) {
		mt += (double)(t[i] - t[0]) / (double)DAY_MS;
		mv += v[i];
	}
	mt /= (double)n;
	mv /= (double)n;
	for (i = 0; i < n; i++) {
		x = (double)(t[i] - t[0]) / (double)DAY_MS - mt;
		sxx += x * x;
		sxy += x * (v[i] - mv);
	}
	if (sxx <= 0)
		return -1;
	*out = sxy / sxx;
	return 0;
}

static json_t *
ups_json(const char *name, const struct idev *dv)
{
	json_t *rt = json_array(), *ch = json_array(), *o;
	int64_t *t = xcalloc(dv != NULL && dv->n ? dv->n : 1, sizeof(*t));
	double *v = xcalloc(dv != NULL && dv->n ? dv->n : 1, sizeof(*v)), trend;
	size_t i, n = 0;

	for (i = 0; dv != NULL && i < dv->n; i++) {
		const struct ihour *ih = &dv->h[i];
		const struct hist_agg *a = &ih->m[HM_RUNTIME], *c = &ih->m[HM_CHARGE];
		if (a->n > 0) {
			t[n] = ih->hour_ms;
			v[n++] = a->sum / (double)a->n;
			json_array_append_new(
			    rt, json_pack("[I, f, f, f]", (json_int_t)ih->hour_ms, a->min,
			            a->sum / (double)a->n, a->max));
		}
		if (c->n > 0)
			json_array_append_new(
			    ch, json_pack("[I, f, f, f]", (json_int_t)ih->hour_ms, c->min,
			            c->sum / (double)c->n, c->max));
	}
	o = json_pack("{s:s, s:o, s:o}", "device", name, "runtime", rt, "charge", ch);
	json_object_set_new(o, "first_runtime_s", n > 0 ? json_real(v[0]) : json_null());
	json_object_set_new(
	    o, "last_runtime_s", n > 0 ? json_real(v[n - 1]) : json_null());
	json_object_set_new(o, "trend_s_per_day",
	    report_trend(t, v, n, &trend) == 0 ? json_real(trend) : json_null());
	free(t);
	free(v);
	return o;
}

static json_t *
pct(uint64_t part, uint64_t whole)
{
	return whole > 0 ? json_real(100.0 * (double)part / (double)whole) : json_null();
}

/* `sonae audit verify` as a document (verbs.c journals that it was asked). */
json_t *
report_audit_verify(struct audit *a)
{
	struct audit_problem pb;
	unsigned long entries = 0;
	json_t *o;
	int ok;

	if (a == NULL)
		return json_null();
	ok = audit_verify(audit_path(a), audit_seq(a), audit_head(a), &entries, &pb) == 0;
	o = json_pack("{s:s, s:b, s:I, s:{s:I, s:s}}", "journal", audit_path(a), "ok", ok,
	    "entries", (json_int_t)entries, "head", "seq", (json_int_t)audit_seq(a),
	    "hash", audit_head(a));
	if (!ok) {
		json_object_set_new(o, "line", json_integer((json_int_t)pb.line));
		json_object_set_new(o, "problem", json_string(pb.what));
		log_warnx("audit verify: %s:%lu: %s", audit_path(a), pb.line, pb.what);
	}
	return o;
}

static json_t *
inspection_config(struct daemon *d)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	json_t *list = json_array();
	size_t i;

	conf = conf_load(daemon_conf_path(d), &errs);
	for (i = 0; i < errs.n; i++)
		json_array_append_new(list, json_string(errs.v[i]));
	conf_errors_clear(&errs);
	conf_free(conf);
	return json_pack("{s:s, s:b, s:o}", "file", daemon_conf_path(d), "ok",
	    conf != NULL, "errors", list);
}

static void
inspection_playbooks(struct daemon *d, json_t *o)
{
	struct pb_engine *pe = daemon_playbook_engine(d);
	json_t *all = pe != NULL ? pb_engine_playbooks_json(pe) : NULL;
	json_t *list = json_array(), *never = json_array(), *pb;
	size_t i;

	json_array_foreach(json_object_get(all, "playbooks"), i, pb)
	{
		json_t *last = json_object_get(pb, "last_drill");
		int drilled = json_is_object(last);
		json_t *ok = json_null();
		if (drilled)
			ok = json_boolean(
			    json_str_of(last, "state") != NULL &&
			    strcmp(json_str_of(last, "state"), "done") == 0 &&
			    json_int_of(json_object_get(last, "progress"), "failed") ==
			        0);
		json_array_append_new(
		    list, json_pack("{s:O?, s:O?, s:O?, s:b, s:o, s:o}", "name",
		              json_object_get(pb, "name"), "title_ja",
		              json_object_get(pb, "title_ja"), "title_en",
		              json_object_get(pb, "title_en"), "drilled", drilled,
		              "last_drill", drilled ? json_deep_copy(last) : json_null(),
		              "last_drill_ok", ok));
		if (!drilled)
			json_array_append(never, json_object_get(pb, "name"));
	}
	json_decref(all);
	json_object_set_new(o, "playbooks", list);
	json_object_set_new(o, "never_drilled", never);
}

/*
 * `report inspection`: the period [from, to) (ms).  Devices and UPS series
 * from the month files and this hour's counters; the rest from the journal.
 */
json_t *
report_inspection(struct daemon *d, int64_t from, int64_t to, char *err, size_t errlen)
{
	const struct conf *c = daemon_conf(d);
	struct inspect in = { hmap_new(), from, to };
	json_t *o, *journal, *devs, *ups, *modes, *failed, *e;
	struct device *dev;
	struct idev *dv;
	size_t i;
	int truncated, opened = 0, crit = 0, warn = 0, resolved = 0;

	if (from >= to) {
		snprintf(
		    err, errlen, "the period is empty (--since is not before --until)");
		hmap_free(in.devs);
		return NULL;
	}
	o = head(d, "inspection");
	json_object_set_new(o, "period",
	    json_pack("{s:I, s:I, s:o, s:o}", "from_ms", (json_int_t)from, "to_ms",
	        (json_int_t)to, "from", json_time(from), "to", json_time(to)));
	json_object_set_new(o, "config", inspection_config(d));

	truncated = inspect_read(&in, c->daemon.state_dir);
	history_live(daemon_history(d), inspect_add, &in);
	devs = json_array();
	ups = json_array();
	for (i = 0; (dev = daemon_device_at(d, i)) != NULL; i++) {
		const struct device_conf *dc = device_conf(dev);
		const struct device_state *st = device_state(dev);
		struct hist_hour zero = { 0 }, *t;
		dv = hmap_get(in.devs, dc->name);
		t = dv != NULL ? &dv->tot : &zero;
		json_array_append_new(devs,
		    json_pack("{s:s, s:s, s:i, s:o, s:I, s:I, s:I, s:o, s:I, s:I, s:I, "
		              "s:o, s:s, s:o}",
		        "name", dc->name, "kind", device_kinds[dc->kind], "availability",
		        dc->availability, "location",
		        dc->location ? json_string(dc->location) : json_null(), "polls",
		        (json_int_t)t->polls, "answered", (json_int_t)t->answered,
		        "missed", (json_int_t)t->missed, "contact_pct",
		        pct(t->answered, t->polls), "samples", (json_int_t)t->samples,
		        "good", (json_int_t)t->good, "bad", (json_int_t)t->bad,
		        "quality_pct", pct(t->good, t->samples), "contact",
		        contact_name(st->contact), "since", json_time(st->since_ms)));
		if (strcmp(device_kinds[dc->kind], "ups") == 0)
			json_array_append_new(ups, ups_json(dc->name, dv));
	}
	json_object_set_new(o, "devices", devs);
	json_object_set_new(o, "history_truncated", json_boolean(truncated));
	json_object_set_new(o, "ups", ups);
	for (;;) {
		size_t pos = 0;
		if ((dv = hmap_next(in.devs, &pos)) == NULL)
			break;
		hmap_del(in.devs, dv->name);
		free(dv->name);
		free(dv->h);
		free(dv);
	}
	hmap_free(in.devs);

	inspection_playbooks(d, o);

	journal = journal_from(d, from);
	modes = json_array();
	failed = json_array();
	json_array_foreach(journal, i, e)
	{
		const json_t *dt = detail(e);
		int64_t ms = entry_ms(e);
		if (ms < from || ms >= to)
			continue;
		if (entry_is(e, "mode.set"))
			json_array_append_new(modes, mode_change(e, 1));
		else if (entry_is(e, "mail.failed"))
			json_array_append_new(failed,
			    json_pack("{s:I, s:O?, s:I, s:o, s:s, s:s, s:b}", "time_ms",
			        (json_int_t)ms, "time", json_object_get(e, "time"),
			        "queued", (json_int_t)json_int_of(dt, "queued"),
			        "incident",
			        json_int_of(dt, "incident") > 0
			            ? json_integer(json_int_of(dt, "incident"))
			            : json_null(),
			        "relay",
			        json_str_of(dt, "relay") ? json_str_of(dt, "relay") : "",
			        "reason",
			        json_str_of(dt, "reason") ? json_str_of(dt, "reason")
			                                  : "",
			        "permanent",
			        json_is_true(json_object_get(dt, "permanent"))));
		else if (entry_is(e, "incident.open") ||
		         entry_is(e, "incident.declare")) {
			const char *sev = json_str_of(dt, "severity");
			opened++;
			crit += sev != NULL && strcmp(sev, "critical") == 0;
			warn += sev != NULL && strcmp(sev, "warning") == 0;
		} else if (entry_is(e, "incident.resolve"))
			resolved++;
	}
	json_decref(journal);
	json_object_set_new(o, "modes",
	    json_pack("{s:s, s:o}", "current", daemon_mode(d), "history", modes));
	json_object_set_new(o, "audit", report_audit_verify(daemon_audit(d)));
	json_object_set_new(o, "failed_alerts", failed);
	json_object_set_new(o, "incidents",
	    json_pack("{s:i, s:i, s:i, s:i}", "opened", opened, "critical", crit,
	        "warning", warn, "resolved", resolved));
	return o;
}

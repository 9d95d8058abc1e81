/*
 * The control verbs, as a table: name, argument counts, whether the caller
 * must be an operator, and the handler.  Handlers answer with one JSON
 * document whose shape is the stable --json schema of the matching `sonae`
 * command; the CLI renders it for people.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define AUDIT_MAX_ENTRIES 100000

#define V_OPERATOR 0x1

struct verb_req {
	struct daemon *d;
	const struct ctl_peer *peer;
	int argc;
	char **argv; /* after the verb's own words */
	struct ctl_reply *r;
};

struct verb {
	const char *name; /* one or two words */
	int min_args, max_args;
	int flags;
	int (*fn)(struct verb_req *);
	const char *usage;
};

static int PRINTFLIKE(3, 4)
    verb_fail(struct verb_req *q, int status, const char *fmt, ...)
{
	va_list ap;

	q->r->status = status;
	va_start(ap, fmt);
	vsnprintf(q->r->text, sizeof(q->r->text), fmt, ap);
	va_end(ap);
	return -1;
}

static int
verb_ok(struct verb_req *q, json_t *body, const char *text)
{
	q->r->status = body != NULL ? 1 : 0;
	q->r->body = body;
	snprintf(q->r->text, sizeof(q->r->text), "%s", text != NULL ? text : "ok");
	return 0;
}

static json_t *
json_time(int64_t ms)
{
	char ts[64];

	if (ms <= 0)
		return json_null();
	return json_string(time_format(ms, ts, sizeof(ts)));
}

static json_t *
metric_json(const struct series *s, int history)
{
	struct sample smp;
	json_t *o;

	o = json_pack("{s:s, s:s}", "name", series_name(s), "kind",
	    metric_kind_name(series_kind(s)));
	json_object_set_new(o, "unit",
	    series_unit(s) != NULL ? json_string(series_unit(s)) : json_null());
	if (series_latest(s, &smp) == -1) {
		json_object_set_new(o, "value", json_null());
		return o;
	}
	switch (series_kind(s)) {
	case MK_TEXT:
		json_object_set_new(
		    o, "value", json_string(smp.text != NULL ? smp.text : ""));
		break;
	case MK_BOOL:
		json_object_set_new(o, "value", json_boolean(smp.num != 0));
		break;
	case MK_NUMBER:
		json_object_set_new(
		    o, "value", isfinite(smp.num) ? json_real(smp.num) : json_null());
		break;
	}
	json_object_set_new(o, "quality", json_string(quality_name(smp.q)));
	json_object_set_new(
	    o, "reason", smp.reason != NULL ? json_string(smp.reason) : json_null());
	json_object_set_new(o, "time", json_time(smp.t_ms));
	json_object_set_new(
	    o, "age_s", json_real((double)(time_now_ms() - smp.t_ms) / 1000.0));
	if (history) {
		struct hist_point pts[1024];
		size_t i, n = series_history(s, pts, sizeof(pts) / sizeof(pts[0]));
		json_t *h = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(
			    h, json_pack("[o, f]", json_time(pts[i].t_ms), pts[i].v));
		json_object_set_new(o, "history", h);
	}
	return o;
}

/* A device as the CLI shows it; full adds configuration and metrics. */
json_t *
verbs_device_json(struct daemon *d, struct device *dev, int full)
{
	const struct device_conf *c = device_conf(dev);
	struct device_state *st = device_state(dev);
	struct series *s;
	json_t *o, *metrics = json_array();
	size_t nmetrics = 0;

	for (s = store_first(daemon_store(d), c->name); s != NULL; s = store_next(s)) {
		nmetrics++;
		if (full)
			json_array_append_new(metrics, metric_json(s, full > 1));
	}
	o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:o, s:i, s:o, s:o, s:o}", "name",
	    c->name, "kind", device_kinds[c->kind], "probe", c->probe->name,
	    "availability", c->availability, "contact", contact_name(st->contact),
	    "since", json_time(st->since_ms), "missed", st->missed, "reason",
	    st->reason[0] ? json_string(st->reason) : json_null(), "last_ok",
	    json_time(st->last_ok_ms), "next_poll", json_time(device_next_poll_ms(dev)));
	json_object_set_new(o, "metrics_count", json_integer((json_int_t)nmetrics));
	if (!full) {
		json_decref(metrics);
		return o;
	}
	json_object_set_new(
	    o, "description", c->description ? json_string(c->description) : json_null());
	json_object_set_new(
	    o, "location", c->location ? json_string(c->location) : json_null());
	{
		json_t *tags = json_array();
		size_t i;
		for (i = 0; i < c->tags.n; i++)
			json_array_append_new(tags, json_string(c->tags.v[i]));
		json_object_set_new(o, "tags", tags);
	}
	json_object_set_new(o, "interval_s", json_real((double)c->interval_ms / 1000.0));
	json_object_set_new(o, "timeout_s", json_real((double)c->timeout_ms / 1000.0));
	json_object_set_new(o, "retries", json_integer(c->retries));
	json_object_set_new(o, "stale_after", json_integer(c->stale_after));
	json_object_set_new(o, "defined_at",
	    json_sprintf("%s:%u", c->origin.file ? c->origin.file : "-", c->origin.line));
	json_object_set_new(o, "polls", json_integer((json_int_t)st->polls));
	json_object_set_new(o, "failures", json_integer((json_int_t)st->failures));
	json_object_set_new(o, "last_poll", json_time(st->last_poll_ms));
	json_object_set_new(
	    o, "last_status", json_string(poll_status_name(st->last_status)));
	json_object_set_new(o, "traps", json_integer((json_int_t)st->traps));
	json_object_set_new(o, "last_trap",
	    st->last_trap_ms > 0 ? json_pack("{s:s, s:o}", "trap", st->last_trap, "time",
	                               json_time(st->last_trap_ms))
	                         : json_null());
	json_object_set_new(o, "metrics", metrics);
	return o;
}

static int
verb_status(struct verb_req *q)
{
	const struct conf *conf = daemon_conf(q->d);
	struct audit *a = daemon_audit(q->d);
	int counts[4] = { 0, 0, 0, 0 };
	json_t *problems = json_array(), *o;
	struct device *dev;
	size_t i;

	for (i = 0; (dev = daemon_device_at(q->d, i)) != NULL; i++) {
		struct device_state *st = device_state(dev);
		counts[st->contact]++;
		if (st->contact == CONTACT_LOST || st->contact == CONTACT_MISSED)
			json_array_append_new(problems,
			    json_pack("{s:s, s:s, s:o, s:i, s:s}", "device",
			        device_name(dev), "contact", contact_name(st->contact),
			        "since", json_time(st->since_ms), "missed", st->missed,
			        "reason", st->reason));
	}
	o = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:I, s:s}", "site", conf->site.name,
	    "timezone", conf->site.timezone, "version", SONAE_VERSION, "pid",
	    (int)getpid(), "time", json_time(time_now_ms()), "started",
	    json_time(daemon_started_ms(q->d)), "uptime_s",
	    (json_int_t)((time_now_ms() - daemon_started_ms(q->d)) / 1000), "config",
	    daemon_conf_path(q->d));
	json_object_set_new(o, "last_reload", json_deep_copy(daemon_last_reload(q->d)));
	json_object_set_new(o, "devices",
	    json_pack("{s:i, s:i, s:i, s:i, s:i}", "total",
	        (int)daemon_device_count(q->d), "ok", counts[CONTACT_OK], "missed",
	        counts[CONTACT_MISSED], "lost", counts[CONTACT_LOST], "pending",
	        counts[CONTACT_PENDING]));
	json_object_set_new(
	    o, "metrics", json_integer((json_int_t)store_count(daemon_store(q->d))));
	json_object_set_new(o, "problems", problems);
	json_object_set_new(o, "audit",
	    a != NULL ? json_pack("{s:I, s:s}", "seq", (json_int_t)audit_seq(a), "head",
	                    audit_head(a))
	              : json_null());
	json_object_set_new(o, "clients",
	    json_integer((json_int_t)control_clients(daemon_control(q->d))));
	json_object_set_new(o, "caller",
	    json_pack(
	        "{s:s, s:b}", "actor", q->peer->actor, "operator", q->peer->is_operator));
	return verb_ok(q, o, NULL);
}

static int
verb_devices(struct verb_req *q)
{
	json_t *list = json_array();
	struct device *dev;
	size_t i;

	for (i = 0; (dev = daemon_device_at(q->d, i)) != NULL; i++)
		json_array_append_new(list, verbs_device_json(q->d, dev, 0));
	return verb_ok(q, json_pack("{s:o}", "devices", list), NULL);
}

static int
verb_device(struct verb_req *q)
{
	struct device *dev;
	int history = 0;

	if (q->argc == 2) {
		if (strcmp(q->argv[1], "--history") != 0)
			return verb_fail(q, ST_USAGE, "usage: device NAME [--history]");
		history = 1;
	}
	if ((dev = daemon_device(q->d, q->argv[0])) == NULL)
		return verb_fail(q, ST_FAILED, "no device \"%s\"", q->argv[0]);
	return verb_ok(q, verbs_device_json(q->d, dev, 1 + history), NULL);
}

static int
verb_validate(struct verb_req *q)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	json_t *list = json_array();
	size_t i;

	conf = conf_load(daemon_conf_path(q->d), &errs);
	for (i = 0; i < errs.n; i++)
		json_array_append_new(list, json_string(errs.v[i]));
	conf_errors_clear(&errs);
	conf_free(conf);
	return verb_ok(q,
	    json_pack("{s:s, s:b, s:o}", "config", daemon_conf_path(q->d), "ok",
	        conf != NULL, "errors", list),
	    NULL);
}

static int
verb_audit(struct verb_req *q)
{
	int64_t since = 0;
	struct audit *a = daemon_audit(q->d);

	if (q->argc == 1 || (q->argc == 2 && strcmp(q->argv[0], "--since") != 0))
		return verb_fail(q, ST_USAGE, "usage: audit [--since TIME]");
	if (q->argc == 2 && time_parse(q->argv[1], time_now_ms(), &since) == -1)
		return verb_fail(q, ST_USAGE,
		    "--since \"%s\": give a time (2026-11-25, 2026-11-25T09:00) or an "
		    "age "
		    "(90min, 2h, 3d)",
		    q->argv[1]);
	if (a == NULL)
		return verb_fail(q, ST_FAILED, "the audit journal is not open");
	return verb_ok(q,
	    json_pack(
	        "{s:o}", "entries", audit_read(audit_path(a), since, AUDIT_MAX_ENTRIES)),
	    NULL);
}

static int
verb_audit_verify(struct verb_req *q)
{
	struct audit *a = daemon_audit(q->d);
	struct audit_problem pb;
	unsigned long entries;
	int ok;
	json_t *o;

	if (a == NULL)
		return verb_fail(q, ST_FAILED, "the audit journal is not open");
	ok = audit_verify(audit_path(a), audit_seq(a), audit_head(a), &entries, &pb) == 0;
	o = json_pack("{s:s, s:b, s:I, s:{s:I, s:s}}", "journal", audit_path(a), "ok", ok,
	    "entries", (json_int_t)entries, "head", "seq", (json_int_t)audit_seq(a),
	    "hash", audit_head(a));
	if (!ok) {
		json_object_set_new(o, "line", json_integer((json_int_t)pb.line));
		json_object_set_new(o, "problem", json_string(pb.what));
		log_warnx("audit verify: %s:%lu: %s", audit_path(a), pb.line, pb.what);
	}
	daemon_journal(q->d, q->peer->actor, "audit.verify",
	    json_pack("{s:b, s:I}", "ok", ok, "entries", (json_int_t)entries));
	return verb_ok(q, o, NULL);
}

static int
verb_reload(struct verb_req *q)
{
	char msg[sizeof(q->r->text)];

	if (daemon_reload(q->d, q->peer->actor, msg, sizeof(msg)) == -1)
		return verb_fail(q, ST_FAILED, "%s", msg);
	return verb_ok(q, json_deep_copy(daemon_last_reload(q->d)), msg);
}

static int
verb_poll(struct verb_req *q)
{
	struct device *dev;

	if ((dev = daemon_device(q->d, q->argv[0])) == NULL)
		return verb_fail(q, ST_FAILED, "no device \"%s\"", q->argv[0]);
	if (device_poll_now(dev) == -1)
		return verb_fail(
		    q, ST_FAILED, "device \"%s\" is being polled already", q->argv[0]);
	return verb_ok(q, NULL, "polling");
}

static int
verb_traps(struct verb_req *q)
{
	struct trap_receiver *r = daemon_traps(q->d);

	if (r == NULL)
		return verb_ok(q, json_pack("{s:b}", "enabled", 0), NULL);
	return verb_ok(q, trap_json(r), NULL);
}

static const struct verb verbs[] = {
	{ "status", 0, 0, 0, verb_status, "status" },
	{ "devices", 0, 0, 0, verb_devices, "devices" },
	{ "device", 1, 2, 0, verb_device, "device NAME [--history]" },
	{ "validate", 0, 0, 0, verb_validate, "validate" },
	{ "audit verify", 0, 0, 0, verb_audit_verify, "audit verify" },
	{ "audit", 0, 2, 0, verb_audit, "audit [--since TIME]" },
	{ "reload", 0, 0, V_OPERATOR, verb_reload, "reload" },
	{ "poll", 1, 1, V_OPERATOR, verb_poll, "poll NAME" },
	{ "traps", 0, 0, 0, verb_traps, "traps" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

/* How many leading words of argv spell the verb name (0: no match). */
static int
verb_match(const char *name, int argc, char **argv)
{
	const char *sp = strchr(name, ' ');

	if (sp == NULL)
		return strcmp(name, argv[0]) == 0 ? 1 : 0;
	if (argc < 2 || strncmp(name, argv[0], (size_t)(sp - name)) != 0 ||
	    argv[0][sp - name] != '\0' || strcmp(sp + 1, argv[1]) != 0)
		return 0;
	return 2;
}

/*
 * Run one request.  Every state-changing verb is refused unless the peer is
 * an operator; the refusal is logged with the peer's identity.
 */
int
verbs_dispatch(struct daemon *d, const struct ctl_peer *peer, int argc, char **argv,
    struct ctl_reply *r)
{
	const struct verb *v;
	struct verb_req q = { d, peer, 0, NULL, r };
	int words = 0;

	memset(r, 0, sizeof(*r));
	for (v = verbs; v->name != NULL; v++)
		if ((words = verb_match(v->name, argc, argv)) > 0)
			break;
	if (v->name == NULL)
		return verb_fail(&q, ST_USAGE, "unknown command \"%s\"", argv[0]);
	q.argc = argc - words;
	q.argv = argv + words;
	if (q.argc < v->min_args || q.argc > v->max_args)
		return verb_fail(&q, ST_USAGE, "usage: %s", v->usage);
	if ((v->flags & V_OPERATOR) && !peer->is_operator) {
		log_warnx(
		    "control: %s refused \"%s\": not an operator", peer->actor, v->name);
		return verb_fail(&q, ST_DENIED,
		    "%s: only operators may do this (you are %s)", v->name, peer->actor);
	}
	return v->fn(&q);
}

/*
 * The control verbs, as a table: name, argument counts, whether the caller
 * must be an operator, and the handler.  Handlers answer with one JSON
 * document whose shape is the stable --json schema of the matching `sonae`
 * command; the CLI renders it for people.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/engine.h"
#include "probes/probe.h"

#define AUDIT_MAX_ENTRIES 100000
#define INSPECTION_MS     ((int64_t)30 * 86400 * 1000) /* report inspection's period */

#define V_OPERATOR 0x1
#define V_DURABLE  0x2 /* changes state, yet not only operators may call it */

struct verb_req {
	struct daemon *d;
	const struct ctl_peer *peer;
	int argc;
	char **argv; /* after the verb's own words */
	struct ctl_reply *r;
	const char *usage; /* the verb's usage line */
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
	json_object_set_new(o, "value", sample_value_json(series_kind(s), &smp));
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
	json_t *problems = json_array(), *o, *detection;
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
	json_object_set_new(o, "alerts", alerts_status_json(daemon_alerts(q->d)));
	json_object_set_new(
	    o, "playbooks", pb_engine_status_json(daemon_playbook_engine(q->d)));
	json_object_set_new(o, "mode", json_string(daemon_mode(q->d)));
	json_object_set_new(o, "staffing", roster_status_json(daemon_roster(q->d)));
	detection = detect_status_json(daemon_detect(q->d));
	json_object_set_new(o, "detection", detection != NULL ? detection : json_null());
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
	json_t *o;

	if (a == NULL)
		return verb_fail(q, ST_FAILED, "the audit journal is not open");
	o = report_audit_verify(a);
	daemon_journal(q->d, q->peer->actor, "audit.verify",
	    json_pack("{s:O, s:O}", "ok", json_object_get(o, "ok"), "entries",
	        json_object_get(o, "entries")));
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

/*
 * Incidents, acknowledgements, declarations, resolution, maintenance windows
 * and detector states: the operator's side of detect.c.  The engine checks
 * its own preconditions and journals each action with the caller, so the
 * verbs below only read and check their arguments.
 */
#define VERB_TEXT_MAX    1000 /* bytes of -m TEXT */
#define DECLARE_KIND_MAX 32
/* --expire at most this far ahead, like the rule language's durations. */
#define EXPIRE_MAX_MS ((int64_t)366 * 86400 * 1000)

/* An option of a verb, and what the request gave for it. */
struct vopt {
	const char *name; /* "--sticky", "-m" */
	int has_arg;
	int many;                          /* may be given more than once */
	int n;                             /* times given */
	const char *v[PROTO_MAX_ARGS / 2]; /* the values in order; "" for a flag */
};

/* An option word: "-" and then a letter or "-" ("-1" and "-" are plain words). */
static int
is_option(const char *s)
{
	return s[0] == '-' && (s[1] == '-' || isalpha((unsigned char)s[1]));
}

/*
 * Sort argv into positional words (at most maxpos, into pos) and the options
 * of opts (ended by a NULL name), in any order.  VERBS_BAD_USAGE with why in
 * err for an unknown or repeated option, a missing value or a word too many.
 */
static int
args_read(int argc, char **argv, struct vopt *opts, const char **pos, int maxpos,
    int *npos, char *err, size_t errlen)
{
	struct vopt *o;
	int i;

	*npos = 0;
	for (i = 0; i < argc; i++) {
		if (!is_option(argv[i])) {
			if (*npos == maxpos) {
				snprintf(err, errlen, "unexpected argument \"%.64s\"",
				    argv[i]);
				return VERBS_BAD_USAGE;
			}
			pos[(*npos)++] = argv[i];
			continue;
		}
		for (o = opts; o->name != NULL && strcmp(o->name, argv[i]) != 0; o++)
			;
		if (o->name == NULL) {
			snprintf(err, errlen, "unknown option %.64s", argv[i]);
			return VERBS_BAD_USAGE;
		}
		if (o->n > 0 && !o->many) {
			snprintf(err, errlen, "%s given twice", o->name);
			return VERBS_BAD_USAGE;
		}
		if (o->has_arg && i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", o->name);
			return VERBS_BAD_USAGE;
		}
		if ((size_t)o->n == sizeof(o->v) / sizeof(o->v[0])) {
			snprintf(err, errlen, "%s given too often", o->name);
			return VERBS_BAD_USAGE;
		}
		o->v[o->n++] = o->has_arg ? argv[++i] : "";
	}
	return 0;
}

/* The option's (first) value, or NULL if it was not given. */
static const char *
opt_value(const struct vopt *o)
{
	return o->n > 0 ? o->v[0] : NULL;
}

/*
 * An incident id: a positive whole number in plain decimal ("12"; not "012",
 * "+12", "12x", "0" or "-1") that fits a JSON integer.  0, or -1.
 */
int
verbs_parse_id(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	if (*s < '1' || *s > '9')
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' ||
		    v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

/*
 * An operator's text (-m TEXT): valid UTF-8, one line, at most 1000 bytes,
 * not only blanks.  0, or VERBS_BAD_VALUE with why in err.
 */
int
verbs_check_text(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s), i;

	if (!utf8_valid(s, len)) {
		snprintf(err, errlen, "-m: the text is not valid UTF-8");
		return VERBS_BAD_VALUE;
	}
	if (len > VERB_TEXT_MAX) {
		snprintf(err, errlen, "-m: the text is %zu bytes long (at most %d)", len,
		    VERB_TEXT_MAX);
		return VERBS_BAD_VALUE;
	}
	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			snprintf(err, errlen, "-m: the text holds a control character");
			return VERBS_BAD_VALUE;
		}
	if (strspn(s, " \t") == len) {
		snprintf(err, errlen, "-m: the text is empty");
		return VERBS_BAD_VALUE;
	}
	return 0;
}

/*
 * --expire T: a duration from now ("2h": in two hours; time_parse would read
 * it as two hours ago) or a point in time as time_parse reads one
 * ("2026-11-25T18:00", the site's zone unless an offset follows).  It must
 * be in the future and at most 366 days ahead.  0 and *out (ms), or
 * VERBS_BAD_VALUE with why in err.
 */
int
verbs_parse_expire(const char *s, int64_t now, int64_t *out, char *err, size_t errlen)
{
	int64_t d, t;

	if (duration_parse(s, &d) == 0)
		t = now + d;
	else if (time_parse(s, now, &t) == -1) {
		snprintf(err, errlen,
		    "--expire \"%.64s\": give a time (2026-11-25T18:00, 2026-11-25 "
		    "18:00+09:00) or a duration from now (90min, 2h, 1d)",
		    s);
		return VERBS_BAD_VALUE;
	}
	if (t <= now) {
		snprintf(err, errlen, "--expire \"%.64s\": not in the future", s);
		return VERBS_BAD_VALUE;
	}
	if (t - now > EXPIRE_MAX_MS) {
		snprintf(err, errlen, "--expire \"%.64s\": more than 366 days ahead", s);
		return VERBS_BAD_VALUE;
	}
	*out = t;
	return 0;
}

/* -m TEXT: required or not, and checked when given. */
static int
args_text(const struct vopt *m, int required, const char **text, char *err, size_t errlen)
{
	*text = opt_value(m);
	if (*text == NULL) {
		if (!required)
			return 0;
		snprintf(err, errlen, "-m TEXT is required");
		return VERBS_BAD_USAGE;
	}
	return verbs_check_text(*text, err, errlen);
}

/* The one incident ID among the positional words. */
static int
args_id(const char **pos, int npos, uint64_t *id, char *err, size_t errlen)
{
	if (npos == 0) {
		snprintf(err, errlen, "give the incident ID");
		return VERBS_BAD_USAGE;
	}
	if (verbs_parse_id(pos[0], id) == -1) {
		snprintf(err, errlen,
		    "incident ID \"%.64s\": want a positive whole number", pos[0]);
		return VERBS_BAD_USAGE;
	}
	return 0;
}

/*
 * ack ID [--sticky | --expire T] -m TEXT, with now the time --expire counts
 * from.  0, or VERBS_BAD_USAGE / VERBS_BAD_VALUE with why in err.
 */
int
verbs_ack_args(int argc, char **argv, int64_t now, uint64_t *id, enum ack_kind *kind,
    int64_t *expire_ms, const char **text, char *err, size_t errlen)
{
	struct vopt opts[] = { { .name = "--sticky" },
		{ .name = "--expire", .has_arg = 1 }, { .name = "-m", .has_arg = 1 },
		{ .name = NULL } };
	const char *pos[1];
	int npos, r;

	*kind = ACK_NORMAL;
	*expire_ms = 0;
	if ((r = args_read(argc, argv, opts, pos, 1, &npos, err, errlen)) != 0 ||
	    (r = args_id(pos, npos, id, err, errlen)) != 0)
		return r;
	if (opts[0].n > 0 && opts[1].n > 0) {
		snprintf(err, errlen, "--sticky or --expire, not both");
		return VERBS_BAD_USAGE;
	}
	if ((r = args_text(&opts[2], 1, text, err, errlen)) != 0)
		return r;
	if (opts[0].n > 0)
		*kind = ACK_STICKY;
	if (opts[1].n > 0) {
		if ((r = verbs_parse_expire(
		         opt_value(&opts[1]), now, expire_ms, err, errlen)) != 0)
			return r;
		*kind = ACK_EXPIRING;
	}
	return 0;
}

/* A declared incident's kind: 1 to 32 of a-z, 0-9 and "-" ("flood-warning"). */
static int
declare_kind_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= DECLARE_KIND_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

/*
 * declare KIND [--severity warning|critical] -m TEXT; the severity is
 * critical unless given.  0, or VERBS_BAD_USAGE / VERBS_BAD_VALUE.
 */
int
verbs_declare_args(int argc, char **argv, const char **kind, enum check_state *sev,
    const char **text, char *err, size_t errlen)
{
	struct vopt opts[] = { { .name = "--severity", .has_arg = 1 },
		{ .name = "-m", .has_arg = 1 }, { .name = NULL } };
	const char *pos[1], *s;
	int npos, r;

	if ((r = args_read(argc, argv, opts, pos, 1, &npos, err, errlen)) != 0)
		return r;
	if (npos == 0) {
		snprintf(err, errlen, "give the KIND of incident");
		return VERBS_BAD_USAGE;
	}
	if ((r = args_text(&opts[1], 1, text, err, errlen)) != 0)
		return r;
	if (!declare_kind_valid(pos[0])) {
		snprintf(err, errlen,
		    "KIND \"%.64s\": want 1 to %d of a-z, 0-9 and - (pandemic, "
		    "flood-warning, cyber)",
		    pos[0], DECLARE_KIND_MAX);
		return VERBS_BAD_VALUE;
	}
	*kind = pos[0];
	*sev = CHECK_CRITICAL;
	if ((s = opt_value(&opts[0])) != NULL) {
		if (strcmp(s, "warning") == 0)
			*sev = CHECK_WARNING;
		else if (strcmp(s, "critical") != 0) {
			snprintf(err, errlen,
			    "--severity \"%.64s\": want warning or critical", s);
			return VERBS_BAD_VALUE;
		}
	}
	return 0;
}

/*
 * maintenance add TARGETS TIMES [-m TEXT]: a new window (no id, no
 * created_by) in zone, with now for "now", its targets and the text as its
 * comment.  Whether the devices named exist is the caller's to check.
 * 0 and *out, or VERBS_BAD_USAGE / VERBS_BAD_VALUE with why in err.
 */
int
verbs_maintenance_args(int argc, char **argv, const char *zone, int64_t now,
    struct window **out, char *err, size_t errlen)
{
	struct vopt opts[] = { { .name = "--device", .has_arg = 1, .many = 1 },
		{ .name = "--kind", .has_arg = 1, .many = 1 },
		{ .name = "--tag", .has_arg = 1, .many = 1 },
		{ .name = "--start", .has_arg = 1 }, { .name = "--end", .has_arg = 1 },
		{ .name = "--for", .has_arg = 1 }, { .name = "--every", .has_arg = 1 },
		{ .name = "-m", .has_arg = 1 }, { .name = NULL } };
	static const enum window_target targets[] = { WT_DEVICE, WT_KIND, WT_TAG };
	struct window_text t;
	struct window *w;
	const char *text, *pos[1];
	int npos, r, i, j;

	*out = NULL;
	if ((r = args_read(argc, argv, opts, pos, 0, &npos, err, errlen)) != 0)
		return r;
	t.start = opt_value(&opts[3]);
	t.end = opt_value(&opts[4]);
	t.duration = opt_value(&opts[5]);
	t.every = opt_value(&opts[6]);
	if (opts[0].n + opts[1].n + opts[2].n == 0) {
		snprintf(err, errlen,
		    "choose devices: --device NAME, --kind KIND or --tag TAG "
		    "(--device \"*\" for every device)");
		return VERBS_BAD_USAGE;
	}
	if (t.start == NULL && t.every == NULL) {
		snprintf(err, errlen,
		    "give --start TIME (one-off) or --every SPEC (recurring)");
		return VERBS_BAD_USAGE;
	}
	if (t.start != NULL && t.every != NULL) {
		snprintf(err, errlen, "--start or --every, not both");
		return VERBS_BAD_USAGE;
	}
	if (t.end != NULL && t.duration != NULL) {
		snprintf(err, errlen, "--end or --for, not both");
		return VERBS_BAD_USAGE;
	}
	if (t.start != NULL && t.end == NULL && t.duration == NULL) {
		snprintf(
		    err, errlen, "--start: give --end TIME or --for DURATION as well");
		return VERBS_BAD_USAGE;
	}
	if (t.every != NULL && t.duration == NULL) {
		snprintf(err, errlen, "--every: give --for DURATION (%s)",
		    t.end != NULL ? "how long each window lasts, not --end"
		                  : "how long each window lasts");
		return VERBS_BAD_USAGE;
	}
	if ((r = args_text(&opts[7], 0, &text, err, errlen)) != 0)
		return r;
	if ((w = window_parse(&t, zone, now, err, errlen)) == NULL)
		return VERBS_BAD_VALUE;
	for (i = 0; i < 3; i++)
		for (j = 0; j < opts[i].n; j++)
			if (window_add_target(w, targets[i], opts[i].v[j], err, errlen) ==
			    -1) {
				window_free(w);
				return VERBS_BAD_VALUE;
			}
	w->comment = text != NULL ? xstrdup(text) : NULL;
	*out = w;
	return 0;
}

/* A usage error from the argument readers: the shape ones show the usage line. */
static int
args_fail(struct verb_req *q, int r, const char *err)
{
	if (r == VERBS_BAD_USAGE)
		return verb_fail(q, ST_USAGE, "%s; usage: %s", err, q->usage);
	return verb_fail(q, ST_USAGE, "%s", err);
}

/* The engine's list as {key: [...]}. */
static json_t *
listed(json_t *v, const char *key)
{
	if (json_is_object(v))
		return v;
	if (!json_is_array(v)) {
		json_decref(v);
		v = json_array();
	}
	return json_pack("{s:o}", key, v);
}

static int
verb_incidents(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "--all" }, { .name = NULL } };
	const char *pos[1];
	char err[256];
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 0, &npos, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	return verb_ok(q,
	    listed(
	        detect_incidents_json(daemon_detect(q->d), opts[0].n > 0), "incidents"),
	    NULL);
}

static int
verb_incident(struct verb_req *q)
{
	struct vopt none[] = { { .name = NULL } };
	const char *pos[1];
	char err[256];
	uint64_t id;
	json_t *o;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, none, pos, 1, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_id(pos, npos, &id, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if ((o = detect_incident_json(daemon_detect(q->d), id)) == NULL)
		return verb_fail(
		    q, ST_FAILED, "no incident %llu", (unsigned long long)id);
	return verb_ok(q, o, NULL);
}

static int
verb_ack(struct verb_req *q)
{
	char err[400], msg[128], ts[64];
	const char *text;
	enum ack_kind kind;
	int64_t expire;
	uint64_t id;
	int r;

	if ((r = verbs_ack_args(q->argc, q->argv, time_now_ms(), &id, &kind, &expire,
	         &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (detect_ack(daemon_detect(q->d), id, q->peer->actor, kind, expire, text, err,
	        sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg), "acknowledged incident %llu", (unsigned long long)id);
	if (kind == ACK_STICKY)
		snprintf(
		    msg + strlen(msg), sizeof(msg) - strlen(msg), " until it resolves");
	else if (kind == ACK_EXPIRING)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " until %s",
		    time_format(expire, ts, sizeof(ts)));
	return verb_ok(q, NULL, msg);
}

static int
verb_declare(struct verb_req *q)
{
	char err[400], msg[64];
	const char *kind, *text;
	enum check_state sev;
	uint64_t id = 0;
	int r;

	if ((r = verbs_declare_args(
	         q->argc, q->argv, &kind, &sev, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (detect_declare(daemon_detect(q->d), kind, sev, q->peer->actor, text, &id, err,
	        sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg), "declared incident %llu", (unsigned long long)id);
	return verb_ok(q, json_pack("{s:I}", "id", (json_int_t)id), msg);
}

static int
verb_resolve(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 }, { .name = NULL } };
	char err[400], msg[64];
	const char *pos[1], *text;
	uint64_t id;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 1, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_id(pos, npos, &id, err, sizeof(err))) != 0 ||
	    (r = args_text(&opts[0], 1, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (detect_resolve(
	        daemon_detect(q->d), id, q->peer->actor, text, err, sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg), "resolved incident %llu", (unsigned long long)id);
	return verb_ok(q, NULL, msg);
}

/* A window as `maintenance list` shows it, for one the CLI just added. */
static json_t *
window_json_now(const struct window *w, int64_t now)
{
	json_t *o = window_to_json(w);
	int64_t next = window_next_change(w, now);
	char ts[64];

	json_object_set_new(o, "active", json_boolean(window_active(w, now)));
	json_object_set_new(o, "next_change",
	    next >= 0 ? json_string(window_time_format(w, next, ts, sizeof(ts)))
	              : json_null());
	json_object_set_new(o, "source", json_string("cli"));
	json_object_set_new(o, "origin", json_null());
	return o;
}

static int
verb_maintenance_add(struct verb_req *q)
{
	int64_t now = time_now_ms();
	char err[400], desc[256], msg[sizeof(q->r->text)];
	struct window *w;
	size_t i;
	int r;

	if ((r = verbs_maintenance_args(q->argc, q->argv,
	         daemon_conf(q->d)->site.timezone, now, &w, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	for (i = 0; i < w->devices.n; i++)
		if (strcmp(w->devices.v[i], "*") != 0 &&
		    daemon_device(q->d, w->devices.v[i]) == NULL) {
			verb_fail(q, ST_FAILED, "no device \"%s\"", w->devices.v[i]);
			window_free(w);
			return -1;
		}
	w->created_by = xstrdup(q->peer->actor);
	w->created_ms = now;
	window_describe(w, desc, sizeof(desc));
	if (detect_window_add(daemon_detect(q->d), w, q->peer->actor, err, sizeof(err)) ==
	    -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	/* The engine holds w now, and has given it its id. */
	snprintf(msg, sizeof(msg), "maintenance window %s added: %s",
	    w->id != NULL ? w->id : "?", desc);
	return verb_ok(q, window_json_now(w, now), msg);
}

static int
verb_maintenance_list(struct verb_req *q)
{
	return verb_ok(
	    q, listed(detect_windows_json(daemon_detect(q->d)), "windows"), NULL);
}

static int
verb_maintenance_remove(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 }, { .name = NULL } };
	char err[400], msg[160];
	const char *pos[1], *text;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 1, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_text(&opts[0], 0, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (npos == 0)
		return args_fail(q, VERBS_BAD_USAGE, "give the window ID");
	if (detect_window_remove(daemon_detect(q->d), pos[0], q->peer->actor, text, err,
	        sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg), "maintenance window %.64s removed", pos[0]);
	return verb_ok(q, NULL, msg);
}

/* "maintenance" without add, list or remove. */
static int
verb_maintenance(struct verb_req *q)
{
	return verb_fail(q, ST_USAGE, "usage: %s", q->usage);
}

static int
verb_checks(struct verb_req *q)
{
	return verb_ok(
	    q, listed(detect_detectors_json(daemon_detect(q->d)), "detectors"), NULL);
}

/* The mail spool and its delivery. */
static int
verb_queue(struct verb_req *q)
{
	json_t *o = alerts_queue_json(daemon_alerts(q->d), 1000);
	char msg[128];

	snprintf(msg, sizeof(msg), "%lld queued",
	    (long long)json_integer_value(
	        json_object_get(json_object_get(o, "spool"), "count")));
	return verb_ok(q, o, msg);
}

/* A real mail through the configured path: spooled, then delivered. */
static int
verb_notify_test(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "--to", .has_arg = 1 }, { .name = NULL } };
	char err[400], msg[sizeof(q->r->text)];
	const char *pos[1];
	uint64_t id;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 0, &npos, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (alerts_test(daemon_alerts(q->d), opts[0].n ? opts[0].v[0] : NULL,
	        q->peer->actor, &id, err, sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg),
	    "test mail queued as #%llu; `sonae queue` shows it until a relay accepts it",
	    (unsigned long long)id);
	return verb_ok(q, json_pack("{s:I}", "queued", (json_int_t)id), msg);
}

/* Playbooks (docs/playbooks.md): the engine checks and journals; these read words. */

static struct pb_engine *
engine(struct verb_req *q)
{
	return daemon_playbook_engine(q->d);
}

/* A run id among the positional words. */
static int
args_run(const char *s, uint64_t *run, char *err, size_t errlen)
{
	if (s == NULL) {
		snprintf(err, errlen, "give the run ID");
		return VERBS_BAD_USAGE;
	}
	if (verbs_parse_id(s, run) == -1) {
		snprintf(
		    err, errlen, "run ID \"%.64s\": want a positive whole number", s);
		return VERBS_BAD_USAGE;
	}
	return 0;
}

static int
verb_playbooks(struct verb_req *q)
{
	return verb_ok(q, pb_engine_playbooks_json(engine(q)), NULL);
}

static int
verb_playbook(struct verb_req *q)
{
	json_t *o = pb_engine_playbook_json(engine(q), q->argv[0]);

	if (o == NULL)
		return verb_fail(q, ST_FAILED, "no playbook \"%.64s\"", q->argv[0]);
	return verb_ok(q, o, NULL);
}

/* run NAME [--incident ID] [--set N=V]... -m TEXT, and drill NAME [--set]... [-m]. */
static int
start_run(struct verb_req *q, int drill)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 },
		{ .name = "--set", .has_arg = 1, .many = 1 },
		{ .name = "--incident", .has_arg = 1 }, { .name = NULL } };
	struct conf_strings sets = { NULL, 0 };
	char err[400], msg[200];
	const char *pos[1], *text;
	uint64_t incident = 0, run;
	int npos, r, i;

	if (drill)
		opts[2].name = NULL; /* a drill belongs to no incident */
	if ((r = args_read(q->argc, q->argv, opts, pos, 1, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_text(&opts[0], !drill, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (npos == 0)
		return args_fail(q, VERBS_BAD_USAGE, "give the playbook's NAME");
	if (!drill && opts[2].n > 0 && verbs_parse_id(opts[2].v[0], &incident) == -1)
		return args_fail(
		    q, VERBS_BAD_USAGE, "--incident: want a positive whole number");
	for (i = 0; i < opts[1].n; i++)
		conf_strings_add(&sets, opts[1].v[i]);
	if (text == NULL)
		text = "drill";
	r = pb_engine_run(engine(q), pos[0], incident, drill, &sets, q->peer->actor, text,
	    &run, err, sizeof(err));
	conf_strings_free(&sets);
	if (r == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	if (drill)
		snprintf(msg, sizeof(msg),
		    "drill run %llu of %.64s started: nothing destructive runs; sonae "
		    "run-status %llu",
		    (unsigned long long)run, pos[0], (unsigned long long)run);
	else
		snprintf(msg, sizeof(msg),
		    "run %llu of %.64s started; sonae run-status %llu",
		    (unsigned long long)run, pos[0], (unsigned long long)run);
	return verb_ok(q, json_pack("{s:I}", "run", (json_int_t)run), msg);
}

static int
verb_run(struct verb_req *q)
{
	return start_run(q, 0);
}

static int
verb_drill(struct verb_req *q)
{
	return start_run(q, 1);
}

static int
verb_runs(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "--all" }, { .name = NULL } };
	const char *pos[1];
	char err[256];
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 0, &npos, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	return verb_ok(q, pb_engine_runs_json(engine(q), opts[0].n > 0), NULL);
}

static int
verb_run_status(struct verb_req *q)
{
	char err[256];
	uint64_t run;
	json_t *o;
	int r;

	if ((r = args_run(q->argv[0], &run, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if ((o = pb_engine_run_json(engine(q), run)) == NULL)
		return verb_fail(q, ST_FAILED, "no run %llu", (unsigned long long)run);
	return verb_ok(q, o, NULL);
}

static int
verb_confirm(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 }, { .name = "--no" },
		{ .name = "--retry" }, { .name = NULL } };
	static const char *const said[] = { "no", "yes", "run it again" };
	char err[400], msg[200];
	const char *pos[2], *text;
	enum pb_answer ans = PB_YES;
	uint64_t run;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 2, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_run(npos > 0 ? pos[0] : NULL, &run, err, sizeof(err))) != 0 ||
	    (r = args_text(&opts[0], 1, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (npos < 2)
		return args_fail(q, VERBS_BAD_USAGE, "give the STEP");
	if (opts[1].n > 0 && opts[2].n > 0)
		return args_fail(q, VERBS_BAD_USAGE, "--no or --retry, not both");
	if (opts[1].n > 0)
		ans = PB_NO;
	else if (opts[2].n > 0)
		ans = PB_RETRY;
	if (pb_engine_confirm(engine(q), run, pos[1], ans, q->peer->actor,
	        q->peer->is_operator, text, err, sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg), "run %llu step %.64s: %s", (unsigned long long)run,
	    pos[1], said[ans]);
	return verb_ok(q, NULL, msg);
}

static int
verb_abort(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 }, { .name = NULL } };
	char err[400], msg[96];
	const char *pos[1], *text;
	uint64_t run;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 1, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_run(npos > 0 ? pos[0] : NULL, &run, err, sizeof(err))) != 0 ||
	    (r = args_text(&opts[0], 1, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (pb_engine_abort(engine(q), run, q->peer->actor, text, err, sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg), "run %llu aborted", (unsigned long long)run);
	return verb_ok(q, NULL, msg);
}

/*
 * The reports' data (report_data.c): read-only, for whoever may read.  They
 * read the journal and state_dir's history files on the loop, bounded there.
 */
static int
verb_report_incident(struct verb_req *q)
{
	const char *pos[1] = { q->argv[0] };
	char err[256];
	uint64_t id;
	json_t *o;
	int r;

	if ((r = args_id(pos, 1, &id, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if ((o = report_incident(q->d, id, err, sizeof(err))) == NULL)
		return verb_fail(q, ST_FAILED, "%s", err);
	return verb_ok(q, o, NULL);
}

static int
verb_report_drill(struct verb_req *q)
{
	char err[256];
	uint64_t run;
	json_t *o;
	int r;

	if ((r = args_run(q->argv[0], &run, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if ((o = report_drill(q->d, run, err, sizeof(err))) == NULL)
		return verb_fail(q, ST_FAILED, "%s", err);
	return verb_ok(q, o, NULL);
}

static int
verb_report_inspection(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "--since", .has_arg = 1 },
		{ .name = "--until", .has_arg = 1 }, { .name = NULL } };
	int64_t now = time_now_ms(), t[2] = { now - INSPECTION_MS, now };
	const char *pos[1];
	char err[256];
	json_t *o;
	int npos, r, k;

	if ((r = args_read(q->argc, q->argv, opts, pos, 0, &npos, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	for (k = 0; k < 2; k++)
		if (opt_value(&opts[k]) != NULL &&
		    time_parse(opt_value(&opts[k]), now, &t[k]) == -1)
			return verb_fail(q, ST_USAGE,
			    "%s \"%.64s\": give a time (2026-11-01, 2026-11-01T09:00) or "
			    "an "
			    "age (12h, 30d)",
			    opts[k].name, opt_value(&opts[k]));
	if ((o = report_inspection(q->d, t[0], t[1], err, sizeof(err))) == NULL)
		return verb_fail(q, ST_FAILED, "%s", err);
	return verb_ok(q, o, NULL);
}

static int
verb_report(struct verb_req *q)
{
	return verb_fail(q, ST_USAGE, "usage: %s", q->usage);
}

/*
 * The roster and the operating mode (docs/modes.md): roster.c checks,
 * journals and announces; these read the words.
 */

/*
 * staff set ID available|unavailable [--until TIME] -m TEXT, with now the
 * time --until counts from (a duration from now, or a time in the site's
 * zone, as ack's --expire).  0, or VERBS_BAD_USAGE / VERBS_BAD_VALUE.
 */
int
verbs_staff_set_args(int argc, char **argv, int64_t now, const char **id, int *available,
    int64_t *until_ms, const char **text, char *err, size_t errlen)
{
	struct vopt opts[] = { { .name = "--until", .has_arg = 1 },
		{ .name = "-m", .has_arg = 1 }, { .name = NULL } };
	const char *pos[2];
	int npos, r;

	*until_ms = 0;
	if ((r = args_read(argc, argv, opts, pos, 2, &npos, err, errlen)) != 0)
		return r;
	if (npos < 2) {
		snprintf(err, errlen,
		    npos == 0 ? "give the staff ID" : "say available or unavailable");
		return VERBS_BAD_USAGE;
	}
	if (strcmp(pos[1], "available") == 0)
		*available = 1;
	else if (strcmp(pos[1], "unavailable") == 0)
		*available = 0;
	else {
		snprintf(err, errlen, "\"%.64s\": want available or unavailable", pos[1]);
		return VERBS_BAD_USAGE;
	}
	if ((r = args_text(&opts[1], 1, text, err, errlen)) != 0)
		return r;
	if (opts[0].n > 0) {
		if (*available) {
			snprintf(err, errlen, "--until goes with unavailable");
			return VERBS_BAD_USAGE;
		}
		if ((r = verbs_parse_expire(
		         opt_value(&opts[0]), now, until_ms, err, errlen)) != 0) {
			/* The same reader as ack's --expire; say which option. */
			if (strncmp(err, "--expire", 8) == 0) {
				char tmp[400];
				snprintf(tmp, sizeof(tmp), "--until%s", err + 8);
				snprintf(err, errlen, "%s", tmp);
			}
			return r;
		}
	}
	*id = pos[0];
	return 0;
}

static int
verb_staff(struct verb_req *q)
{
	if (q->argc > 0)
		return verb_fail(q, ST_USAGE, "usage: %s", q->usage);
	return verb_ok(q, roster_staff_json(daemon_roster(q->d), time_now_ms()), NULL);
}

static int
verb_staff_set(struct verb_req *q)
{
	struct roster *ro = daemon_roster(q->d);
	int64_t now = time_now_ms(), until;
	char err[400], msg[sizeof(q->r->text)], ts[64];
	const char *id, *text;
	int available, r;
	struct roster_headcount hc;

	if ((r = verbs_staff_set_args(q->argc, q->argv, now, &id, &available, &until,
	         &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (roster_set_staff(ro, id, available, until, q->peer->actor, text, now, err,
	        sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	roster_headcount(ro, &hc);
	snprintf(msg, sizeof(msg), "%.64s is %s%s%s; %d of %d absent; mode %s%s", id,
	    available ? "available" : "unavailable", until > 0 ? " until " : "",
	    until > 0 ? time_format(until, ts, sizeof(ts)) : "", hc.absent, hc.total,
	    roster_mode(ro), roster_pending(ro, NULL) != NULL ? " (stepping down)" : "");
	return verb_ok(q,
	    json_pack("{s:s, s:o, s:s}", "result", msg, "staff",
	        roster_staff_entry_json(ro, id, now), "mode", roster_mode(ro)),
	    msg);
}

static int
verb_mode(struct verb_req *q)
{
	if (q->argc > 0)
		return verb_fail(q, ST_USAGE, "usage: %s", q->usage);
	return verb_ok(q, roster_mode_json(daemon_roster(q->d), time_now_ms()), NULL);
}

static int
verb_mode_set(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 }, { .name = NULL } };
	char err[400], msg[sizeof(q->r->text)];
	const char *pos[1], *text;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 1, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_text(&opts[0], 1, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (npos == 0)
		return args_fail(q, VERBS_BAD_USAGE, "give the mode's NAME");
	if (roster_declare(daemon_roster(q->d), pos[0], q->peer->actor, text,
	        time_now_ms(), err, sizeof(err)) == -1)
		return verb_fail(q, ST_FAILED, "%s", err);
	snprintf(msg, sizeof(msg),
	    "operating mode %.64s declared; it holds until `sonae mode auto`", pos[0]);
	return verb_ok(q,
	    json_pack(
	        "{s:s, s:s}", "result", msg, "mode", roster_mode(daemon_roster(q->d))),
	    msg);
}

static int
verb_mode_auto(struct verb_req *q)
{
	struct vopt opts[] = { { .name = "-m", .has_arg = 1 }, { .name = NULL } };
	struct roster *ro = daemon_roster(q->d);
	char err[400], msg[sizeof(q->r->text)];
	const char *pos[1], *text;
	int npos, r;

	if ((r = args_read(q->argc, q->argv, opts, pos, 0, &npos, err, sizeof(err))) !=
	        0 ||
	    (r = args_text(&opts[0], 0, &text, err, sizeof(err))) != 0)
		return args_fail(q, r, err);
	if (roster_auto(ro, q->peer->actor, text, time_now_ms()) == 1)
		snprintf(msg, sizeof(msg), "the operating mode is automatic already: %s",
		    roster_mode(ro));
	else
		snprintf(msg, sizeof(msg), "the operating mode is automatic again: %s",
		    roster_mode(ro));
	return verb_ok(
	    q, json_pack("{s:s, s:s}", "result", msg, "mode", roster_mode(ro)), msg);
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
	{ "incidents", 0, 1, 0, verb_incidents, "incidents [--all]" },
	{ "incident", 1, 1, 0, verb_incident, "incident ID" },
	{ "ack", 0, 6, V_OPERATOR, verb_ack,
	    "ack ID [--sticky | --expire TIME] -m TEXT" },
	{ "declare", 0, 5, V_OPERATOR, verb_declare,
	    "declare KIND [--severity warning|critical] -m TEXT" },
	{ "resolve", 0, 3, V_OPERATOR, verb_resolve, "resolve ID -m TEXT" },
	{ "maintenance add", 0, PROTO_MAX_ARGS, V_OPERATOR, verb_maintenance_add,
	    "maintenance add (--device NAME | --kind KIND | --tag TAG)... "
	    "(--start TIME (--end TIME | --for DURATION) | --every SPEC --for DURATION) "
	    "[-m TEXT]" },
	{ "maintenance list", 0, 0, 0, verb_maintenance_list, "maintenance list" },
	{ "maintenance remove", 0, 3, V_OPERATOR, verb_maintenance_remove,
	    "maintenance remove ID [-m TEXT]" },
	{ "maintenance", 0, PROTO_MAX_ARGS, 0, verb_maintenance,
	    "maintenance add|list|remove ..." },
	{ "checks", 0, 0, 0, verb_checks, "checks" },
	{ "queue", 0, 0, 0, verb_queue, "queue" },
	{ "notify-test", 0, 2, V_OPERATOR, verb_notify_test, "notify-test [--to ADDR]" },
	{ "playbooks", 0, 0, 0, verb_playbooks, "playbooks" },
	{ "playbook", 1, 1, 0, verb_playbook, "playbook NAME" },
	{ "run", 0, PROTO_MAX_ARGS, V_OPERATOR, verb_run,
	    "run NAME [--incident ID] [--set NAME=VALUE]... -m TEXT" },
	{ "drill", 0, PROTO_MAX_ARGS, V_OPERATOR, verb_drill,
	    "drill NAME [--set NAME=VALUE]... [-m TEXT]" },
	{ "runs", 0, 1, 0, verb_runs, "runs [--all]" },
	{ "run-status", 1, 1, 0, verb_run_status, "run-status RUN" },
	{ "confirm", 0, 5, V_DURABLE, verb_confirm,
	    "confirm RUN STEP [--no | --retry] -m TEXT" },
	{ "abort", 0, 3, V_OPERATOR, verb_abort, "abort RUN -m TEXT" },
	{ "report incident", 1, 1, 0, verb_report_incident, "report incident ID" },
	{ "report drill", 1, 1, 0, verb_report_drill, "report drill RUN" },
	{ "report inspection", 0, 4, 0, verb_report_inspection,
	    "report inspection [--since TIME] [--until TIME]" },
	{ "report", 0, PROTO_MAX_ARGS, 0, verb_report,
	    "report incident ID | drill RUN | inspection [--since TIME] [--until TIME]" },
	{ "staff set", 0, 6, V_OPERATOR, verb_staff_set,
	    "staff set ID available|unavailable [--until TIME] -m TEXT" },
	{ "staff", 0, PROTO_MAX_ARGS, 0, verb_staff,
	    "staff | staff set ID available|unavailable [--until TIME] -m TEXT" },
	{ "mode set", 0, 3, V_OPERATOR, verb_mode_set, "mode set NAME -m TEXT" },
	{ "mode auto", 0, 2, V_OPERATOR, verb_mode_auto, "mode auto [-m TEXT]" },
	{ "mode", 0, PROTO_MAX_ARGS, 0, verb_mode,
	    "mode | mode set NAME -m TEXT | mode auto [-m TEXT]" },
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
	struct verb_req q = { d, peer, 0, NULL, r, NULL };
	int words = 0, rc;

	memset(r, 0, sizeof(*r));
	for (v = verbs; v->name != NULL; v++)
		if ((words = verb_match(v->name, argc, argv)) > 0)
			break;
	if (v->name == NULL)
		return verb_fail(&q, ST_USAGE, "unknown command \"%s\"", argv[0]);
	q.argc = argc - words;
	q.argv = argv + words;
	q.usage = v->usage;
	if (q.argc < v->min_args || q.argc > v->max_args)
		return verb_fail(&q, ST_USAGE, "usage: %s", v->usage);
	if ((v->flags & V_OPERATOR) && !peer->is_operator) {
		log_warnx(
		    "control: %s refused \"%s\": not an operator", peer->actor, v->name);
		return verb_fail(&q, ST_DENIED,
		    "%s: only operators may do this (you are %s)", v->name, peer->actor);
	}
	rc = v->fn(&q);
	/* What an operator changed is durable before the answer says so. */
	if (v->flags & (V_OPERATOR | V_DURABLE))
		audit_sync(daemon_audit(d));
	return rc;
}

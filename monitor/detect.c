/*
 * The detection layer: from metrics to the few incidents a person must act on.
 *
 * Detectors.  Every rule and every check target is a detector; so is
 * "unreachable:DEVICE" for each device (contact lost) and, with an observer
 * group, "observer" (this host's own health: its gateway, the UPS that feeds
 * it, its disk, its clock).  Each holds a struct check (check.c) and is
 * stepped — classified, then soft/hard, N of M, `for` and flapping — when one
 * of its inputs changes, when a retry or a `for` runs out, and every second
 * when its expression reads the clock.  Nothing rescans every rule: the store
 * calls back on each update, and each series caches the list of detectors
 * that read it (the index from metric to detector, built lazily).
 *
 * Incidents.  A detector whose HARD state becomes WARNING or CRITICAL opens
 * an incident, unless something above it already has one: an open incident
 * whose rule inhibits it, a parent device that is unreachable, or the
 * observer.  Then it is folded into that incident instead, and an incident
 * of its own, if it had one, is merged there.  An incident stays open while
 * its detector is UNKNOWN or flapping and resolves on a hard OK.
 * Maintenance windows hold back notifications and playbooks of the devices
 * they cover, never the record.
 *
 * Notifications and playbooks are recorded here as decisions (the timeline
 * and the journal say what would be sent or started, and why not); the
 * alerts/ and playbooks/ layers carry them out.
 *
 * State: state_dir/detect.json, written at the end of each loop turn that
 * opened, changed or resolved an incident, acknowledged one or changed a
 * window, and with the periodic snapshot otherwise.
 */
#include <sys/statvfs.h>
#include <sys/timex.h>

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define DETECT_FILE     "detect.json"
#define DETECT_VERSION  1
#define KEEP_RESOLVED   500
#define TICK_MS         1000
#define SELF_EVERY_MS   5000
#define TIME_EVERY_MS   1000
#define SNAPSHOT_MAX    64
#define TIMELINE_MAX    1000
#define SELF_DEVICE     "self"
#define OBSERVER_NAME   "observer"
#define UNREACHABLE_PFX "unreachable:"

enum det_source {
	DS_RULE,
	DS_CHECK,
	DS_UNREACHABLE,
	DS_OBSERVER,
	DS_DECLARED, /* incidents only */
	DS_MAIL,     /* incidents only: alerts cannot leave the site */
};
static const char *const source_names[] = { "rule", "check", "unreachable", "observer",
	"declared", "mail" };

struct detector;

struct incident {
	uint64_t id;
	char *rule;
	char *title;
	enum det_source source;
	enum check_state severity;
	int64_t opened_ms;
	int64_t resolved_ms; /* 0: open */
	struct {
		int on;
		enum ack_kind kind;
		char *by, *text;
		int64_t ms, expire_ms;
	} ack;
	char *resolved_by, *resolve_text;
	uint64_t merged_into;
	struct conf_strings devices;
	char *playbook;
	json_t *snapshot;     /* object: "dev.metric" -> {value, unit, quality, time} */
	json_t *timeline;     /* array of {time, time_ms, actor, event, text} */
	json_t *folded;       /* array of {detector, since, state, reason} */
	int64_t latency_us;   /* sample arrival to opening; -1: not from a sample */
	int notified;         /* a problem notification went out */
	int held;             /* a notification a window holds back: 0, 1 problem */
	int held_recovery;    /* the recovery of a notified problem, held back */
	char *window;         /* the window holding it back now, or NULL */
	struct detector *det; /* open and from a detector: it */
	char *cache;          /* resolved: its detect.json text, or NULL */
	TAILQ_ENTRY(incident) entry;
};
TAILQ_HEAD(incident_list, incident);

/* The detectors that read one series. */
struct deps {
	struct detector **v;
	size_t n;
};

struct detector {
	char *name;
	enum det_source source;
	const struct detect_keys *k; /* rules and checks */
	const struct rule_conf *rule;
	const struct check_entry *chk;
	char *target; /* checks: "device.metric" */
	char *device; /* checks and unreachable: the device */
	struct check_conf cc;
	struct check st;
	int uses_time;
	struct conf_strings devices; /* the devices it concerns (windows) */
	struct detector **inhibits;  /* detectors it inhibits */
	size_t ninhibits;
	struct detector **inhibited_by;
	size_t ninhibited_by;
	struct detector **dependents; /* rules that read active(this) */
	size_t ndependents;
	struct detector **parents; /* unreachable: the parents' detectors */
	size_t nparents;
	struct detector **children; /* unreachable: the children's detectors */
	size_t nchildren;
	struct incident *incident; /* open incident of its own */
	uint64_t folded_into;      /* incident it is folded into, or 0 */
	int manual;                /* resolved by hand while a problem */
	int queued;
	int pending, pending_full; /* its incidents to be decided this turn */
	int64_t arrival_ns;        /* oldest input change not yet evaluated */
	int64_t due_mono;          /* next timed step, 0: none */
	size_t heap_at;            /* index in the timer heap + 1, 0: not in it */
	char reason[256];
};

/* A full-key reference's cache: the series, found again after changes. */
struct refcache {
	char *key;
	struct series *s;
	uint64_t gen;
	struct series **ms; /* relative refs: the series of each member */
	size_t nms;
	struct series *scaled; /* the series and unit scale was computed for */
	const char *unit;
	enum expr_unit eu;
	double scale;
};

/* A selection's members, recomputed when devices or series change. */
struct selcache {
	const struct expr_select *sel;
	int role;
	uint64_t gen;
	struct expr_member *v;
	char **owned; /* role prefixes */
	size_t n, cap;
};

struct detect {
	struct event_base *base;
	struct daemon *d;
	const struct conf *conf;
	struct detector **dets;
	size_t ndets;
	struct hmap *byname;   /* name -> detector */
	struct hmap *unreach;  /* device name -> its unreachable detector */
	struct hmap *index;    /* "dev.metric" -> struct deps */
	struct hmap *rolerefs; /* metric -> struct deps (rules over role selections) */
	struct deps none;      /* the watch of a series nobody reads */
	struct detector *observer;
	struct refcache **refs;
	size_t nrefs;
	struct selcache **sels;
	size_t nsels;
	/* run queue */
	struct detector **queue;
	size_t qhead, qlen, qcap;
	struct detector **pendings;
	size_t npending;
	int running;
	/* timer heap of detectors by due_mono */
	struct detector **heap;
	size_t nheap, heapcap;
	struct event *timer, *tick, *saver;
	int64_t self_mono;
	/* incidents */
	struct incident_list incidents;
	size_t nresolved;
	uint64_t next_id;
	/* windows made from the CLI (config ones live in the conf) */
	struct window **windows;
	size_t nwindows;
	uint64_t next_window;
	int64_t windows_next_ms; /* next time any window opens or closes */
	/* persistence */
	int dirty;     /* soft changes: with the periodic snapshot */
	int dirty_now; /* durable changes: at the end of this loop turn */
	struct complaint save_failed;
	/* figures */
	uint64_t updates, steps, evaluations;
	int64_t eval_ns_total;
};

static void detect_run(struct detect *);
static int64_t windows_next(struct detect *, int64_t);
static void windows_rezone(struct detect *);
static void reconcile(struct detect *, struct detector *);
static void reconcile_many(struct detect *, struct detector **, size_t);

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *const ack_kind_names[] = { "normal", "sticky", "expiring" };

/* "normal", "sticky" or "expiring". */
const char *
ack_kind_name(enum ack_kind k)
{
	return (size_t)k < 3 ? ack_kind_names[k] : "?";
}

static void
push(void ***v, size_t *n, void *p)
{
	*v = xreallocarray(*v, *n + 1, sizeof(void *));
	(*v)[(*n)++] = p;
}

static int
is_problem(enum check_state s)
{
	return s == CHECK_WARNING || s == CHECK_CRITICAL;
}

static void
mark_durable(struct detect *e)
{
	e->dirty = e->dirty_now = 1;
	if (e->saver != NULL)
		event_active(e->saver, 0, 0);
}

/* The timer heap. */

static int
heap_less(const struct detector *a, const struct detector *b)
{
	return a->due_mono < b->due_mono;
}

static void
heap_swap(struct detect *e, size_t i, size_t j)
{
	struct detector *t = e->heap[i];

	e->heap[i] = e->heap[j];
	e->heap[j] = t;
	e->heap[i]->heap_at = i + 1;
	e->heap[j]->heap_at = j + 1;
}

static void
heap_fix(struct detect *e, size_t i)
{
	size_t c;

	while (i > 0 && heap_less(e->heap[i], e->heap[(i - 1) / 2])) {
		heap_swap(e, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		c = 2 * i + 1;
		if (c >= e->nheap)
			break;
		if (c + 1 < e->nheap && heap_less(e->heap[c + 1], e->heap[c]))
			c++;
		if (!heap_less(e->heap[c], e->heap[i]))
			break;
		heap_swap(e, i, c);
		i = c;
	}
}

static void
heap_remove(struct detect *e, struct detector *x)
{
	size_t i;

	if (x->heap_at == 0)
		return;
	i = x->heap_at - 1;
	x->heap_at = 0;
	if (i != --e->nheap) {
		e->heap[i] = e->heap[e->nheap];
		e->heap[i]->heap_at = i + 1;
		heap_fix(e, i);
	}
}

static void
timer_arm(struct detect *e)
{
	struct timeval tv;
	int64_t left;

	if (e->timer == NULL)
		return;
	if (e->nheap == 0) {
		evtimer_del(e->timer);
		return;
	}
	left = e->heap[0]->due_mono - time_mono_ms();
	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(e->timer, &tv);
}

static void
due_set(struct detect *e, struct detector *x, int64_t due_mono)
{
	if (due_mono == 0) {
		heap_remove(e, x);
		x->due_mono = 0;
		return;
	}
	x->due_mono = due_mono;
	if (x->heap_at == 0) {
		if (e->nheap == e->heapcap) {
			e->heapcap = e->heapcap ? e->heapcap * 2 : 64;
			e->heap = xreallocarray(e->heap, e->heapcap, sizeof(*e->heap));
		}
		e->heap[e->nheap++] = x;
		x->heap_at = e->nheap;
	}
	heap_fix(e, x->heap_at - 1);
}

/* The run queue: detectors to step in this loop turn. */

static void
enqueue(struct detect *e, struct detector *x, int64_t arrival_ns)
{
	if (x->queued)
		return;
	if (e->qlen == e->qcap) {
		size_t cap = e->qcap ? e->qcap * 2 : 64, i;
		struct detector **n = xcalloc(cap, sizeof(*n));
		for (i = 0; i < e->qlen; i++)
			n[i] = e->queue[(e->qhead + i) % e->qcap];
		free(e->queue);
		e->queue = n;
		e->qcap = cap;
		e->qhead = 0;
	}
	e->queue[(e->qhead + e->qlen++) % e->qcap] = x;
	x->queued = 1;
	x->arrival_ns = arrival_ns;
}

static struct detector *
dequeue(struct detect *e)
{
	struct detector *x;

	if (e->qlen == 0)
		return NULL;
	x = e->queue[e->qhead];
	e->qhead = (e->qhead + 1) % e->qcap;
	e->qlen--;
	x->queued = 0;
	return x;
}

/* The resolver: expressions read the store through these. */

static void
sample_from_series(struct series *s, struct refcache *rc, struct expr_sample *out)
{
	struct sample smp;
	double scale = 1;
	const char *unit = series_unit(s);
	enum expr_unit eu;

	if (series_latest(s, &smp) == -1) {
		out->type = EXPR_UNKNOWN;
		out->reason = "not read yet";
		return;
	}
	if (rc != NULL && rc->scaled == s && rc->unit == unit) {
		eu = rc->eu;
		scale = rc->scale;
	} else {
		eu = expr_unit_from_name(unit, &scale);
		if (rc != NULL) {
			rc->scaled = s;
			rc->unit = unit;
			rc->eu = eu;
			rc->scale = scale;
		}
	}
	out->unit = eu;
	out->t_ms = smp.t_ms;
	out->q = smp.q;
	out->reason = smp.reason;
	switch (series_kind(s)) {
	case MK_TEXT:
		out->type = EXPR_TEXT;
		out->text = smp.text != NULL ? smp.text : "";
		break;
	case MK_BOOL:
		out->type = EXPR_BOOL;
		out->num = smp.num != 0;
		break;
	default:
		out->type = EXPR_NUMBER;
		out->num = smp.num * scale;
		break;
	}
}

static struct series *
ref_series(struct detect *e, const struct expr_ref *ref, const struct expr_member *m)
{
	static char missing;
	struct series *const MISSING = (struct series *)&missing, *s;
	struct refcache *rc;
	size_t idx;
	char key[256];

	if (ref->device != NULL) {
		uint64_t gen = store_generation(daemon_store(e->d));
		if ((rc = ref->bound) == NULL)
			return store_lookup(daemon_store(e->d), ref->key);
		if (rc->gen != gen || rc->s == NULL) {
			rc->s = store_lookup(daemon_store(e->d), rc->key);
			rc->gen = gen;
		}
		return rc->s;
	}
	if (m == NULL)
		return NULL;
	/* A member's series, cached by its place in the selection. */
	if ((rc = ref->bound) != NULL && (idx = (size_t)(uintptr_t)m->handle) > 0) {
		uint64_t gen = store_generation(daemon_store(e->d));
		if (rc->gen != gen) {
			if (rc->nms > 0)
				memset(rc->ms, 0, rc->nms * sizeof(*rc->ms));
			rc->gen = gen;
		}
		if (idx > rc->nms) {
			rc->ms = xreallocarray(rc->ms, idx, sizeof(*rc->ms));
			memset(rc->ms + rc->nms, 0, (idx - rc->nms) * sizeof(*rc->ms));
			rc->nms = idx;
		}
		if (rc->ms[idx - 1] == NULL) {
			snprintf(key, sizeof(key), "%s.%s%s", m->device,
			    m->prefix ? m->prefix : "", ref->metric);
			s = store_lookup(daemon_store(e->d), key);
			rc->ms[idx - 1] = s != NULL ? s : MISSING;
		}
		return rc->ms[idx - 1] != MISSING ? rc->ms[idx - 1] : NULL;
	}
	snprintf(key, sizeof(key), "%s.%s%s", m->device, m->prefix ? m->prefix : "",
	    ref->metric);
	return store_lookup(daemon_store(e->d), key);
}

static int
r_lookup(void *arg, const struct expr_ref *ref, const struct expr_member *m,
    struct expr_sample *out)
{
	struct detect *e = arg;
	struct series *s = ref_series(e, ref, m);

	memset(out, 0, sizeof(*out));
	if (s == NULL) {
		out->type = EXPR_UNKNOWN;
		out->reason = "no such metric (not read yet)";
		return -1;
	}
	sample_from_series(s, ref->bound, out);
	return out->type == EXPR_UNKNOWN ? -1 : 0;
}

static size_t
r_history(void *arg, const struct expr_ref *ref, const struct expr_member *m,
    int64_t since_ms, struct hist_point *out, size_t max)
{
	struct detect *e = arg;
	struct series *s = ref_series(e, ref, m);
	struct hist_point all[256];
	size_t n, first, i, k = 0;
	double scale = 1;

	if (s == NULL)
		return 0;
	expr_unit_from_name(series_unit(s), &scale);
	n = series_history(s, all, sizeof(all) / sizeof(all[0]));
	/* The points inside the window, and the newest one before it. */
	for (first = 0; first < n && all[first].t_ms < since_ms; first++)
		;
	if (first > 0)
		first--;
	if (n - first > max)
		first = n - max;
	for (i = first; i < n; i++, k++) {
		out[k].t_ms = all[i].t_ms;
		out[k].v = all[i].v * scale;
	}
	return k;
}

static void
selcache_fill(struct detect *e, struct selcache *sc)
{
	const struct conf *conf = e->conf;
	size_t i;

	for (i = 0; i < sc->n; i++)
		free(sc->owned[i]);
	sc->n = 0;
	for (i = 0; i < conf->devices.n; i++) {
		const struct device_conf *c = conf_device(conf, i);
		struct series *s;
		if (!sc->role) {
			if (!expr_select_match(sc->sel, device_kinds[c->kind],
			        c->availability, (const char *const *)c->tags.v,
			        c->tags.n, NULL))
				continue;
			if (sc->n == sc->cap) {
				sc->cap = sc->cap ? sc->cap * 2 : 8;
				sc->v = xreallocarray(sc->v, sc->cap, sizeof(*sc->v));
				sc->owned =
				    xreallocarray(sc->owned, sc->cap, sizeof(char *));
			}
			sc->owned[sc->n] = NULL;
			sc->v[sc->n] = (struct expr_member){ c->name, "",
				(void *)(uintptr_t)(sc->n + 1) };
			sc->n++;
			continue;
		}
		/* Links: the device's "<link>_role" text metrics. */
		for (s = store_first(daemon_store(e->d), c->name); s != NULL;
		     s = store_next(s)) {
			const char *n = series_name(s);
			size_t l = strlen(n);
			struct sample smp;
			if (l <= 5 || strcmp(n + l - 5, "_role") != 0 ||
			    series_kind(s) != MK_TEXT || series_latest(s, &smp) == -1 ||
			    smp.text == NULL)
				continue;
			if (!expr_select_match(sc->sel, device_kinds[c->kind],
			        c->availability, (const char *const *)c->tags.v,
			        c->tags.n, smp.text))
				continue;
			if (sc->n == sc->cap) {
				sc->cap = sc->cap ? sc->cap * 2 : 8;
				sc->v = xreallocarray(sc->v, sc->cap, sizeof(*sc->v));
				sc->owned =
				    xreallocarray(sc->owned, sc->cap, sizeof(char *));
			}
			sc->owned[sc->n] = xstrndup(n, l - 4); /* "uplink_" */
			sc->v[sc->n] = (struct expr_member){ c->name, sc->owned[sc->n],
				(void *)(uintptr_t)(sc->n + 1) };
			sc->n++;
		}
	}
}

static int
r_member(void *arg, const struct expr_select *sel, size_t i, struct expr_member *out)
{
	struct detect *e = arg;
	struct selcache *sc = sel->bound;
	uint64_t gen = store_generation(daemon_store(e->d));

	if (sc == NULL)
		return 0;
	if (sc->role && sc->gen != gen) {
		selcache_fill(e, sc);
		sc->gen = gen;
	}
	if (i >= sc->n)
		return 0;
	*out = sc->v[i];
	return 1;
}

static int
r_active(void *arg, const char *name)
{
	struct detect *e = arg;
	struct detector *x = hmap_get(e->byname, name);

	if (x == NULL || !x->st.started || x->st.hard_state == CHECK_UNKNOWN)
		return -1;
	return is_problem(x->st.hard_state);
}

static void
resolver_init(struct detect *e, struct expr_resolver *r, int64_t now)
{
	r->lookup = r_lookup;
	r->history = r_history;
	r->member = r_member;
	r->active = r_active;
	r->arg = e;
	r->now_ms = now;
}

/*
 * An expression of another layer (a playbook's `when` or `until`) now,
 * through the rules' resolver: 1 true, 0 false, -1 unknown with why.
 */
int
detect_eval(struct detect *e, const struct expr *x, char *why, size_t len)
{
	struct expr_resolver r;
	struct expr_value v;

	resolver_init(e, &r, time_now_ms());
	e->evaluations++;
	expr_eval(x, &r, &v);
	if (v.type == EXPR_UNKNOWN) {
		if (v.dev != NULL)
			snprintf(why, len, "%s.%s: %s", v.dev, v.metric,
			    v.reason != NULL ? v.reason : "unknown");
		else
			snprintf(why, len, "%s", v.reason != NULL ? v.reason : "unknown");
		return -1;
	}
	if (v.type != EXPR_BOOL) {
		snprintf(why, len, "not true or false");
		return -1;
	}
	return v.num != 0;
}

/* Classification. */

static enum check_state
classify_rule(struct detect *e, struct detector *x, int64_t now, char *why, size_t len)
{
	const struct rule_conf *rc = x->rule;
	struct expr_resolver r;
	struct expr_value v;
	char buf[256];
	int in_problem;

	resolver_init(e, &r, now);
	e->evaluations++;
	expr_eval(rc->when, &r, &v);
	in_problem = is_problem(x->st.state) ||
	             (x->st.state == CHECK_UNKNOWN && is_problem(x->st.hard_state));
	if (v.type == EXPR_UNKNOWN) {
		if (v.dev != NULL)
			snprintf(why, len, "%s.%s: %s", v.dev, v.metric,
			    v.reason != NULL ? v.reason : "unknown");
		else
			snprintf(why, len, "%s", v.reason != NULL ? v.reason : "unknown");
		return CHECK_UNKNOWN;
	}
	if (v.type == EXPR_BOOL && v.num != 0) {
		snprintf(why, len, "%s", rc->when_text);
		return (enum check_state)rc->severity;
	}
	if (rc->recover != NULL && in_problem) {
		e->evaluations++;
		expr_eval(rc->recover, &r, &v);
		if (v.type != EXPR_BOOL || v.num == 0) {
			snprintf(why, len, "not recovered yet: %s is %s",
			    rc->recover_text, expr_value_format(&v, buf, sizeof(buf)));
			return (enum check_state)rc->severity;
		}
	}
	why[0] = '\0';
	return CHECK_OK;
}

static enum check_state
classify_check(struct detect *e, struct detector *x, int64_t now, char *why, size_t len)
{
	struct series *s = store_lookup(daemon_store(e->d), x->target);
	struct sample smp;
	enum check_state st;
	char r[200];

	e->evaluations++;
	if (s == NULL || series_latest(s, &smp) == -1) {
		snprintf(why, len, "%s: not read yet", x->target);
		return CHECK_UNKNOWN;
	}
	st = check_classify(
	    &x->chk->def, series_kind(s), &smp, now, x->st.state, r, sizeof(r));
	if (st != CHECK_OK)
		snprintf(why, len, "%s %s%s%s", x->target, r,
		    series_unit(s) != NULL && st != CHECK_UNKNOWN ? " " : "",
		    series_unit(s) != NULL && st != CHECK_UNKNOWN ? series_unit(s) : "");
	else
		why[0] = '\0';
	return st;
}

static enum check_state
classify_unreachable(struct detect *e, struct detector *x, char *why, size_t len)
{
	struct device *dev = daemon_device(e->d, x->device);
	struct device_state *ds;

	if (dev == NULL) {
		why[0] = '\0';
		return CHECK_OK;
	}
	ds = device_state(dev);
	if (ds->contact == CONTACT_LOST) {
		snprintf(why, len, "%s unreachable: %.200s", x->device, ds->reason);
		return CHECK_CRITICAL;
	}
	why[0] = '\0';
	return CHECK_OK;
}

static void reason_add(char *why, size_t len, const char *fmt, ...) PRINTFLIKE(3, 4);

static void
reason_add(char *why, size_t len, const char *fmt, ...)
{
	size_t l = strlen(why);
	va_list ap;

	if (l > 0 && l + 2 < len) {
		memcpy(why + l, "; ", 3);
		l += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + l, len - l, fmt, ap);
	va_end(ap);
}

static enum check_state
classify_observer(struct detect *e, char *why, size_t len)
{
	const struct conf *conf = e->conf;
	struct store *st = daemon_store(e->d);
	struct series *s;
	struct sample smp;
	char key[160], unknown[256] = "";

	why[0] = '\0';
	if (conf->observer.gateway != NULL) {
		struct device *gw = daemon_device(e->d, conf->observer.gateway);
		if (gw != NULL && device_state(gw)->contact == CONTACT_LOST)
			reason_add(why, len, "gateway %s unreachable: %s",
			    conf->observer.gateway, device_state(gw)->reason);
	}
	if (conf->observer.ups != NULL) {
		snprintf(key, sizeof(key), "%s.battery_low", conf->observer.ups);
		if ((s = store_lookup(st, key)) != NULL && series_latest(s, &smp) == 0) {
			if (smp.q == Q_OK && smp.num != 0)
				reason_add(why, len,
				    "%s, the UPS feeding this host, reports its battery "
				    "low",
				    conf->observer.ups);
			else if (smp.q != Q_OK)
				snprintf(unknown, sizeof(unknown), "%s: %s", key,
				    smp.reason != NULL ? smp.reason
				                       : quality_name(smp.q));
		}
	}
	if (conf->observer.disk_min_free_pct > 0 &&
	    (s = store_lookup(st, SELF_DEVICE ".disk_free_pct")) != NULL &&
	    series_latest(s, &smp) == 0 && smp.q == Q_OK &&
	    smp.num < conf->observer.disk_min_free_pct)
		reason_add(why, len,
		    "state_dir's file system has %.1f%% free (at least %g%%)", smp.num,
		    conf->observer.disk_min_free_pct);
	if (conf->observer.clock_max_error_ms > 0 &&
	    (s = store_lookup(st, SELF_DEVICE ".clock_synced")) != NULL &&
	    series_latest(s, &smp) == 0 && smp.q == Q_OK) {
		struct series *me = store_lookup(st, SELF_DEVICE ".clock_max_error");
		struct sample err;
		if (smp.num == 0)
			reason_add(why, len, "the clock is not synchronised");
		else if (me != NULL && series_latest(me, &err) == 0 &&
		         err.num > (double)conf->observer.clock_max_error_ms)
			reason_add(why, len, "the clock may be off by %.0f ms", err.num);
	}
	if (why[0] != '\0')
		return CHECK_CRITICAL;
	/* Nothing wrong that is known, but not everything is known. */
	if (unknown[0] != '\0') {
		snprintf(why, len, "%s", unknown);
		return CHECK_UNKNOWN;
	}
	return CHECK_OK;
}

/* Incidents. */

static struct incident *
incident_find(struct detect *e, uint64_t id)
{
	struct incident *i;

	TAILQ_FOREACH(i, &e->incidents, entry)
	if (i->id == id)
		return i;
	return NULL;
}

static void
incident_free(struct incident *i)
{
	free(i->rule);
	free(i->title);
	free(i->ack.by);
	free(i->ack.text);
	free(i->resolved_by);
	free(i->resolve_text);
	conf_strings_free(&i->devices);
	free(i->playbook);
	free(i->window);
	json_decref(i->snapshot);
	json_decref(i->timeline);
	json_decref(i->folded);
	free(i->cache);
	free(i);
}

/* The incident changed: its saved text is out of date. */
static void
incident_touch(struct incident *i)
{
	free(i->cache);
	i->cache = NULL;
}

/* Add an entry to the timeline (capped: the journal keeps everything). */
static void timeline(struct incident *i, const char *actor, const char *event,
    const char *fmt, ...) PRINTFLIKE(4, 5);

static void
timeline(struct incident *i, const char *actor, const char *event, const char *fmt, ...)
{
	char text[1200], ts[64];
	int64_t now = time_now_ms();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	incident_touch(i);
	if (json_array_size(i->timeline) >= TIMELINE_MAX)
		json_array_remove(i->timeline, 1);
	json_array_append_new(
	    i->timeline, json_pack("{s:s, s:I, s:s, s:s, s:s}", "time",
	                     time_format(now, ts, sizeof(ts)), "time_ms", (json_int_t)now,
	                     "actor", actor, "event", event, "text", text));
}

static void
journal(struct detect *e, const char *actor, const char *action, struct incident *i,
    json_t *detail)
{
	if (detail == NULL)
		detail = json_object();
	json_object_set_new(detail, "incident", json_integer((json_int_t)i->id));
	json_object_set_new(detail, "rule", json_string(i->rule));
	daemon_journal(e->d, actor, action, detail);
	mark_durable(e);
}

/* The window that holds back the incident's notifications now, or NULL. */
static const struct window *
incident_window(struct detect *e, const struct incident *i, int64_t now)
{
	const struct window *w = NULL, *first = NULL;
	size_t k, j;

	if (i->devices.n == 0 || i->source == DS_DECLARED || i->source == DS_MAIL)
		return NULL;
	/* Every device the incident concerns must be covered. */
	for (k = 0; k < i->devices.n; k++) {
		struct device *dev = daemon_device(e->d, i->devices.v[k]);
		const struct device_conf *c = dev != NULL ? device_conf(dev) : NULL;
		if (c == NULL)
			return NULL;
		w = window_covers(e->windows, e->nwindows, c, now);
		for (j = 0; w == NULL && j < e->conf->maintenance.n; j++) {
			struct window *cw = conf_window(e->conf, j)->w;
			if (cw != NULL && window_covers(&cw, 1, c, now) != NULL)
				w = cw;
		}
		if (w == NULL)
			return NULL;
		if (first == NULL)
			first = w;
	}
	return first;
}

/*
 * Decide a notification: recorded in the timeline and the journal as sent,
 * or as held back (maintenance, flapping).  Delivery is alerts/'s job.
 */
static void
notify(struct detect *e, struct incident *i, const char *what)
{
	const struct window *w = incident_window(e, i, time_now_ms());
	int problem = strcmp(what, "recovery") != 0;

	if (i->det != NULL && i->det->st.flapping) {
		timeline(i, "sonaed", "notify-held", "%s held back: flapping (%.1f%%)",
		    what, i->det->st.flap_pct);
		if (problem)
			i->held = 1;
		else
			i->held_recovery = i->notified;
		return;
	}
	if (w != NULL) {
		timeline(i, "sonaed", "notify-held",
		    "%s held back: maintenance window %s", what, w->id);
		free(i->window);
		i->window = xstrdup(w->id);
		if (problem)
			i->held = 1;
		else
			i->held_recovery = i->notified;
		return;
	}
	if (!problem && !i->notified)
		return; /* nobody heard of the problem: no recovery either */
	timeline(i, "sonaed", "notify", "%s (%s)", what, check_state_name(i->severity));
	journal(e, "sonaed", "incident.notify", i,
	    json_pack(
	        "{s:s, s:s}", "what", what, "severity", check_state_name(i->severity)));
	if (problem)
		i->notified = 1;
	i->held = 0;
	daemon_alert(e->d, i->id, i->opened_ms, what);
}

/*
 * The incident's playbooks: the one its rule names and those whose triggers
 * name its rule.  The engine starts them (never twice at once for one
 * incident), or notes that a maintenance window holds them back.
 */
static void
request_playbook(struct detect *e, struct incident *i, const char *actor)
{
	const struct window *w = incident_window(e, i, time_now_ms());

	if (i->playbook != NULL && w == NULL) {
		timeline(i, "sonaed", "playbook", "playbook %s requested", i->playbook);
		journal(e, "sonaed", "playbook.request", i,
		    json_pack("{s:s}", "playbook", i->playbook));
	}
	daemon_playbooks(
	    e->d, i->id, i->rule, i->playbook, actor, w != NULL ? w->id : NULL);
}

static json_t *
sample_json(struct series *s)
{
	struct sample smp;
	char ts[64];
	json_t *o;

	if (series_latest(s, &smp) == -1)
		return NULL;
	o = json_pack("{s:o, s:s, s:s}", "value", sample_value_json(series_kind(s), &smp),
	    "quality", quality_name(smp.q), "time",
	    time_format(smp.t_ms, ts, sizeof(ts)));
	json_object_set_new(o, "unit",
	    series_unit(s) != NULL ? json_string(series_unit(s)) : json_null());
	if (smp.q != Q_OK && smp.reason != NULL)
		json_object_set_new(o, "reason", json_string(smp.reason));
	return o;
}

static void
snapshot_add(struct detect *e, json_t *snap, const char *key)
{
	struct series *s;
	json_t *o;

	if (json_object_size(snap) >= SNAPSHOT_MAX || json_object_get(snap, key) != NULL)
		return;
	if ((s = store_lookup(daemon_store(e->d), key)) != NULL &&
	    (o = sample_json(s)) != NULL)
		json_object_set_new(snap, key, o);
}

/* The related metrics at opening: what the detector reads. */
static json_t *
snapshot(struct detect *e, struct detector *x)
{
	json_t *snap = json_object();
	struct series *s;
	size_t i, j, m;
	char key[256];

	switch (x->source) {
	case DS_RULE: {
		const struct expr *ex[2] = { x->rule->when, x->rule->recover };
		for (j = 0; j < 2 && ex[j] != NULL; j++)
			for (i = 0; i < expr_nrefs(ex[j]); i++) {
				const struct expr_ref *r = expr_ref(ex[j], i);
				struct expr_member mem;
				if (r->device != NULL) {
					snapshot_add(e, snap, r->key);
					continue;
				}
				for (m = 0; r_member(e, r->select, m, &mem); m++) {
					snprintf(key, sizeof(key), "%s.%s%s", mem.device,
					    mem.prefix ? mem.prefix : "", r->metric);
					snapshot_add(e, snap, key);
				}
			}
		break;
	}
	case DS_CHECK:
		snapshot_add(e, snap, x->target);
		break;
	case DS_UNREACHABLE:
		for (s = store_first(daemon_store(e->d), x->device); s != NULL;
		     s = store_next(s))
			snapshot_add(e, snap, series_key(s));
		break;
	case DS_OBSERVER:
		for (s = store_first(daemon_store(e->d), SELF_DEVICE); s != NULL;
		     s = store_next(s))
			snapshot_add(e, snap, series_key(s));
		break;
	default:
		break;
	}
	return snap;
}

static const char *
detector_title(const struct detector *x, char *buf, size_t len)
{
	if (x->k != NULL && x->k->description != NULL)
		return x->k->description;
	switch (x->source) {
	case DS_RULE:
		snprintf(buf, len, "%s", x->rule->when_text);
		break;
	case DS_CHECK:
		snprintf(buf, len, "check of %s", x->target);
		break;
	case DS_UNREACHABLE:
		snprintf(buf, len, "%s unreachable", x->device);
		break;
	case DS_OBSERVER:
		snprintf(buf, len, "this host cannot watch the site as it should");
		break;
	default:
		snprintf(buf, len, "%s", x->name);
	}
	return buf;
}

static struct incident *
incident_new(struct detect *e, const char *rule, enum det_source src,
    enum check_state sev, const char *title)
{
	struct incident *i = xcalloc(1, sizeof(*i));

	i->id = e->next_id++;
	i->rule = xstrdup(rule);
	i->title = xstrdup(title);
	i->source = src;
	i->severity = sev;
	i->opened_ms = time_now_ms();
	i->timeline = json_array();
	i->folded = json_array();
	i->snapshot = json_object();
	i->latency_us = -1;
	TAILQ_INSERT_TAIL(&e->incidents, i, entry);
	return i;
}

static void
incident_open(struct detect *e, struct detector *x)
{
	struct incident *i;
	char title[512];
	size_t k;

	i = incident_new(e, x->name, x->source, x->st.hard_state,
	    detector_title(x, title, sizeof(title)));
	i->det = x;
	x->incident = i;
	for (k = 0; k < x->devices.n; k++)
		conf_strings_add(&i->devices, x->devices.v[k]);
	if (x->k != NULL && x->k->playbook != NULL)
		i->playbook = xstrdup(x->k->playbook);
	json_decref(i->snapshot);
	i->snapshot = snapshot(e, x);
	/* Members found only at run time (links by role) are its devices too. */
	{
		const char *key;
		json_t *v;
		json_object_foreach(i->snapshot, key, v)
		{
			const char *dot = strchr(key, '.');
			char dev[128];
			if (dot == NULL || (size_t)(dot - key) >= sizeof(dev) ||
			    strncmp(key, SELF_DEVICE ".", sizeof(SELF_DEVICE)) == 0)
				continue;
			memcpy(dev, key, (size_t)(dot - key));
			dev[dot - key] = '\0';
			conf_strings_add(&i->devices, dev);
		}
	}
	history_incident_open(
	    daemon_history(e->d), i->id, &i->devices, daemon_store(e->d));
	if (x->arrival_ns > 0)
		i->latency_us = (mono_ns() - x->arrival_ns) / 1000;
	timeline(i, "sonaed", "opened", "%s: %s", check_state_name(i->severity),
	    x->reason[0] != '\0' ? x->reason : x->name);
	journal(e, "sonaed", "incident.open", i,
	    json_pack("{s:s, s:s, s:s}", "severity", check_state_name(i->severity),
	        "source", source_names[i->source], "reason", x->reason));
	log_info("incident %llu opened: %s (%s): %s", (unsigned long long)i->id, x->name,
	    check_state_name(i->severity), x->reason);
	notify(e, i, "problem");
	request_playbook(e, i, "sonaed");
	reconcile_many(e, x->inhibits, x->ninhibits);
	reconcile_many(e, x->children, x->nchildren);
}

static void
incident_drop_resolved(struct detect *e)
{
	struct incident *i, *n;

	for (i = TAILQ_FIRST(&e->incidents); i != NULL && e->nresolved > KEEP_RESOLVED;
	     i = n) {
		n = TAILQ_NEXT(i, entry);
		if (i->resolved_ms == 0)
			continue;
		TAILQ_REMOVE(&e->incidents, i, entry);
		incident_free(i);
		e->nresolved--;
	}
}

static void
ack_clear(struct incident *i)
{
	i->ack.on = 0;
	free(i->ack.by);
	free(i->ack.text);
	i->ack.by = i->ack.text = NULL;
}

/* Close an incident: recovered, resolved by hand, or merged into another. */
static void
incident_close(struct detect *e, struct incident *i, const char *actor, const char *text,
    uint64_t merged_into)
{
	struct detector *x = i->det;

	i->resolved_ms = time_now_ms();
	i->resolved_by = xstrdup(actor);
	i->resolve_text = xstrdup(text);
	i->merged_into = merged_into;
	i->det = NULL;
	if (x != NULL && x->incident == i)
		x->incident = NULL;
	e->nresolved++;
	history_incident_close(daemon_history(e->d), i->id);
	if (merged_into != 0)
		timeline(i, actor, "merged", "folded into incident %llu: %s",
		    (unsigned long long)merged_into, text);
	else
		timeline(i, actor, "resolved", "%s", text);
	journal(e, actor, merged_into ? "incident.merge" : "incident.resolve", i,
	    json_pack(
	        "{s:s, s:I}", "text", text, "merged_into", (json_int_t)merged_into));
	log_info("incident %llu %s: %s", (unsigned long long)i->id,
	    merged_into ? "merged" : "resolved", text);
	if (merged_into == 0)
		notify(e, i, "recovery");
	else if (i->notified)
		daemon_alert(e->d, i->id, i->opened_ms, "recovery"); /* the thread ends */
	/* The record of what was folded in: recovered with it, or left standing. */
	{
		json_t *f;
		size_t k;
		json_array_foreach(i->folded, k, f)
		{
			const char *name =
			    json_string_value(json_object_get(f, "detector"));
			const char *was = json_string_value(json_object_get(f, "state"));
			struct detector *t =
			    name != NULL ? hmap_get(e->byname, name) : NULL;
			if (was == NULL || strcmp(was, "active") != 0)
				continue;
			json_object_set_new(f, "state",
			    json_string(t != NULL && is_problem(t->st.hard_state)
			                    ? "left"
			                    : "recovered"));
		}
	}
	/* What was folded into it stands on its own again. */
	if (x != NULL) {
		reconcile_many(e, x->inhibits, x->ninhibits);
		reconcile_many(e, x->children, x->nchildren);
	}
	incident_drop_resolved(e);
}

static void
folded_set(struct incident *host, struct detector *x, const char *state)
{
	json_t *f;
	size_t k;
	char ts[64];

	json_array_foreach(host->folded, k, f)
	{
		const char *name = json_string_value(json_object_get(f, "detector"));
		if (name != NULL && strcmp(name, x->name) == 0) {
			json_object_set_new(f, "state", json_string(state));
			/* A detector that recovered keeps what was wrong with it. */
			if (x->reason[0] != '\0')
				json_object_set_new(f, "reason", json_string(x->reason));
			return;
		}
	}
	json_array_append_new(
	    host->folded, json_pack("{s:s, s:s, s:s, s:s}", "detector", x->name, "since",
	                      time_format(time_now_ms(), ts, sizeof(ts)), "state", state,
	                      "reason", x->reason));
}

/*
 * The incident x must be folded into, if any: 0 when x stands alone, -1
 * when it must wait (a parent's contact is in doubt, or an inhibitor is a
 * problem without its incident yet).
 */
static int64_t
blocker(struct detect *e, struct detector *x)
{
	struct device *xd =
	    x->source == DS_UNREACHABLE ? daemon_device(e->d, x->device) : NULL;
	int64_t seen = xd != NULL ? device_state(xd)->last_poll_ms : 0;
	size_t k;
	int wait = 0;

	for (k = 0; k < x->ninhibited_by; k++) {
		struct detector *s = x->inhibited_by[k];
		if (s->incident != NULL)
			return (int64_t)s->incident->id;
		if (s->folded_into != 0)
			return (int64_t)s->folded_into;
		if (is_problem(s->st.hard_state) && !s->manual)
			wait = 1;
		/* A loss seen before the inhibitor recovered is not news yet. */
		if (xd != NULL && s->st.started && s->st.since_ms > seen)
			wait = 1;
	}
	for (k = 0; k < x->nparents; k++) {
		struct detector *p = x->parents[k];
		struct device *pd = daemon_device(e->d, p->device);
		if (p->incident != NULL)
			return (int64_t)p->incident->id;
		if (p->folded_into != 0)
			return (int64_t)p->folded_into;
		if (pd == NULL)
			continue;
		/*
		 * In doubt: the parent is failing (it may be what failed), or it
		 * came back after this device's last poll, which is due again.
		 */
		if (device_state(pd)->contact != CONTACT_OK ||
		    (xd != NULL && device_state(pd)->since_ms > seen))
			wait = 1;
	}
	return wait ? -1 : 0;
}

/* Bring x's incidents in line with its state and what stands above it. */
static void
reconcile(struct detect *e, struct detector *x)
{
	struct incident *host;
	int want;
	int64_t b;

	if (x->manual && x->st.hard_state == CHECK_OK)
		x->manual = 0;
	/* The incident it was folded into is over: it stands alone again. */
	if (x->folded_into != 0 &&
	    ((host = incident_find(e, x->folded_into)) == NULL || host->resolved_ms != 0))
		x->folded_into = 0;
	want =
	    !x->manual && (is_problem(x->st.hard_state) ||
	                      ((x->incident != NULL || x->folded_into != 0) &&
	                          (x->st.hard_state == CHECK_UNKNOWN || x->st.flapping)));
	if (!want) {
		if (x->folded_into != 0) {
			if ((host = incident_find(e, x->folded_into)) != NULL &&
			    host->resolved_ms == 0) {
				folded_set(host, x, "recovered");
				timeline(host, "sonaed", "folded-recovered",
				    "%s recovered", x->name);
				mark_durable(e);
			}
			x->folded_into = 0;
		}
		if (x->incident != NULL)
			incident_close(e, x->incident, "sonaed",
			    x->manual ? "resolved by hand" : "recovered", 0);
		return;
	}
	b = blocker(e, x);
	if (b == -1)
		return; /* decided when what it waits for changes */
	if (b > 0) {
		if ((uint64_t)b == x->folded_into)
			return;
		host = incident_find(e, (uint64_t)b);
		if (host == NULL)
			return;
		x->folded_into = (uint64_t)b;
		folded_set(host, x, "active");
		history_incident_open(daemon_history(e->d), host->id, &x->devices, NULL);
		timeline(
		    host, "sonaed", "folded", "%s folded in: %s", x->name, x->reason);
		journal(e, "sonaed", "incident.fold", host,
		    json_pack("{s:s, s:s}", "detector", x->name, "reason", x->reason));
		if (x->incident != NULL)
			incident_close(e, x->incident, "sonaed", x->reason, (uint64_t)b);
		return;
	}
	if (x->folded_into != 0) {
		if ((host = incident_find(e, x->folded_into)) != NULL &&
		    host->resolved_ms == 0)
			folded_set(host, x, "left");
		x->folded_into = 0;
	}
	if (x->incident == NULL) {
		if (is_problem(x->st.hard_state))
			incident_open(e, x);
		return;
	}
	if (is_problem(x->st.hard_state) && x->incident->severity != x->st.hard_state) {
		struct incident *i = x->incident;
		timeline(i, "sonaed", "severity", "%s -> %s: %s",
		    check_state_name(i->severity), check_state_name(x->st.hard_state),
		    x->reason);
		i->severity = x->st.hard_state;
		journal(e, "sonaed", "incident.severity", i,
		    json_pack("{s:s}", "severity", check_state_name(i->severity)));
		if (i->ack.on && i->ack.kind != ACK_STICKY) {
			timeline(i, "sonaed", "ack-cleared",
			    "acknowledgement by %s cleared: the state changed",
			    i->ack.by);
			ack_clear(i);
		}
		notify(e, i, "problem");
	}
}

static void
reconcile_many(struct detect *e, struct detector **v, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		reconcile(e, v[k]);
}

/* Stepping. */

static void
pending(struct detect *e, struct detector *x, int full)
{
	if (x->pending) {
		x->pending_full |= full;
		return;
	}
	x->pending = 1;
	x->pending_full = full;
	push((void ***)&e->pendings, &e->npending, x);
}

static void
step(struct detect *e, struct detector *x, int64_t now)
{
	struct check_step out;
	enum check_state cls, prev_hard = x->st.hard_state;
	int was_active = x->st.started && is_problem(prev_hard);
	int prev_flapping = x->st.flapping, prev_started = x->st.started;
	int64_t due = 0;

	switch (x->source) {
	case DS_RULE:
		cls = classify_rule(e, x, now, x->reason, sizeof(x->reason));
		break;
	case DS_CHECK:
		cls = classify_check(e, x, now, x->reason, sizeof(x->reason));
		break;
	case DS_UNREACHABLE:
		cls = classify_unreachable(e, x, x->reason, sizeof(x->reason));
		break;
	default:
		cls = classify_observer(e, x->reason, sizeof(x->reason));
		break;
	}
	e->steps++;
	check_step(&x->st, &x->cc, now, cls, x->reason, &out);
	if (out.changed || out.flap_started || out.flap_stopped)
		e->dirty = 1;
	if (x->st.hard)
		due = 0;
	else if (out.next_check_ms > 0)
		due = time_mono_ms() + out.next_check_ms;
	if (x->uses_time || (x->chk != NULL && x->chk->def.stale_ms > 0)) {
		int64_t t = time_mono_ms() + TIME_EVERY_MS;
		if (due == 0 || t < due)
			due = t;
	}
	due_set(e, x, due);

	if (x->incident != NULL) {
		if (out.flap_started)
			timeline(x->incident, "sonaed", "flapping",
			    "flapping started (%.1f%% state change)", x->st.flap_pct);
		if (out.hard_change && x->st.hard_state == CHECK_UNKNOWN)
			timeline(x->incident, "sonaed", "unknown", "%s", x->reason);
		if (out.flap_stopped)
			timeline(x->incident, "sonaed", "flapping",
			    "flapping stopped (%.1f%%)", x->st.flap_pct);
		if (out.flap_started || out.flap_stopped || out.hard_change)
			mark_durable(e);
	}
	/*
	 * Incidents are decided once every queued detector has stepped, so
	 * that causes found in the same turn (the gateway lost, the observer
	 * impaired) are known before their effects are placed.
	 */
	if (out.hard_change || out.flap_stopped || !prev_started ||
	    prev_flapping != x->st.flapping)
		pending(e, x, 1);
	else if (is_problem(x->st.hard_state) && x->incident == NULL &&
	         x->folded_into == 0 && !x->manual)
		pending(e, x, 0); /* it was waiting: decide again */
	/* Flapping is over with the problem standing: say what was held back. */
	if (out.flap_stopped && x->incident != NULL && x->incident->held &&
	    is_problem(x->st.hard_state))
		notify(e, x->incident, "problem");
	/* Rules that read active(x). */
	if (was_active != is_problem(x->st.hard_state) ||
	    (prev_hard == CHECK_UNKNOWN) != (x->st.hard_state == CHECK_UNKNOWN)) {
		size_t k;
		for (k = 0; k < x->ndependents; k++)
			enqueue(e, x->dependents[k], x->arrival_ns);
	}
	if (!x->pending)
		x->arrival_ns = 0;
}

static void
detect_run(struct detect *e)
{
	struct detector *x;
	int64_t now, t0;

	if (e->running)
		return;
	e->running = 1;
	now = time_now_ms();
	for (;;) {
		size_t k;
		while ((x = dequeue(e)) != NULL) {
			t0 = mono_ns();
			step(e, x, now);
			e->eval_ns_total += mono_ns() - t0;
		}
		if (e->npending == 0)
			break;
		for (k = 0; k < e->npending; k++) {
			x = e->pendings[k];
			x->pending = 0;
			reconcile(e, x);
			x->arrival_ns = 0;
			/* Those waiting for x to open its incident, when it will not. */
			if (x->pending_full && x->incident == NULL &&
			    x->folded_into == 0) {
				reconcile_many(e, x->inhibits, x->ninhibits);
				reconcile_many(e, x->children, x->nchildren);
			}
		}
		e->npending = 0;
	}
	e->running = 0;
}

/* The index: which detectors read a series. */

static struct deps *
deps_get(struct hmap *m, const char *key)
{
	struct deps *d = hmap_get(m, key);

	if (d == NULL) {
		d = xcalloc(1, sizeof(*d) + strlen(key) + 1);
		strcpy((char *)(d + 1), key);
		hmap_put(m, (char *)(d + 1), d);
	}
	return d;
}

static void
deps_add(struct deps *d, struct detector *x)
{
	if (d->n > 0 && d->v[d->n - 1] == x)
		return;
	push((void ***)&d->v, &d->n, x);
}

static void
deps_map_free(struct hmap *m)
{
	struct deps *d;
	size_t pos = 0;

	if (m == NULL)
		return;
	while ((d = hmap_next(m, &pos)) != NULL) {
		free(d->v);
		free(d);
	}
	hmap_free(m);
}

/* Lazily: the full-key readers, plus rules over link roles that match. */
static struct deps *
series_deps(struct detect *e, struct series *s)
{
	struct deps *full = hmap_get(e->index, series_key(s)), *role = NULL, *out;
	const char *name = series_name(s);
	const char *us = strchr(name, '_');
	size_t k;

	for (; us != NULL && role == NULL; us = strchr(us + 1, '_'))
		role = hmap_get(e->rolerefs, us + 1);
	if (role == NULL)
		return full != NULL ? full : &e->none;
	/* Combine; kept in the index under the series key. */
	out = deps_get(e->index, series_key(s));
	for (k = 0; k < role->n; k++) {
		size_t j;
		for (j = 0; j < out->n && out->v[j] != role->v[k]; j++)
			;
		if (j == out->n)
			push((void ***)&out->v, &out->n, role->v[k]);
	}
	return out;
}

static void
on_update(struct series *s, void *arg)
{
	struct detect *e = arg;
	struct deps *d = series_watch(s);
	size_t k;
	int64_t now_ns;

	e->updates++;
	if (d == NULL) {
		d = series_deps(e, s);
		series_set_watch(s, d);
	}
	if (d->n == 0)
		return;
	now_ns = mono_ns();
	for (k = 0; k < d->n; k++)
		enqueue(e, d->v[k], now_ns);
}

/* Configuration: build the detectors. */

static struct detector *
detector_new(struct detect *e, const char *name, enum det_source src)
{
	struct detector *x = xcalloc(1, sizeof(*x));

	x->name = xstrdup(name);
	x->source = src;
	check_conf_defaults(&x->cc);
	x->cc.max_attempts = 1;
	x->cc.interval_ms = 0;
	check_init(&x->st);
	push((void ***)&e->dets, &e->ndets, x);
	hmap_put(e->byname, x->name, x);
	return x;
}

static void
detector_free(struct detector *x)
{
	free(x->name);
	free(x->target);
	free(x->device);
	conf_strings_free(&x->devices);
	free(x->inhibits);
	free(x->inhibited_by);
	free(x->dependents);
	free(x->parents);
	free(x->children);
	free(x);
}

static void
bind_expr(struct detect *e, struct detector *x, struct expr *ex)
{
	size_t i, m;

	if (ex == NULL)
		return;
	if (expr_uses_time(ex))
		x->uses_time = 1;
	for (i = 0; i < expr_nselects(ex); i++) {
		const struct expr_select *sel = expr_select(ex, i);
		struct selcache *sc = xcalloc(1, sizeof(*sc));
		size_t t;
		sc->sel = sel;
		for (t = 0; t < sel->nterms; t++)
			if (sel->terms[t].key == ES_ROLE)
				sc->role = 1;
		if (!sc->role)
			selcache_fill(e, sc);
		sc->gen = (uint64_t)-1;
		expr_select_bind(ex, i, sc);
		push((void ***)&e->sels, &e->nsels, sc);
	}
	for (i = 0; i < expr_nrefs(ex); i++) {
		const struct expr_ref *r = expr_ref(ex, i);
		if (r->device != NULL) {
			struct refcache *rc = xcalloc(1, sizeof(*rc));
			rc->key = xstrdup(r->key);
			rc->gen = (uint64_t)-1;
			expr_ref_bind(ex, i, rc);
			push((void ***)&e->refs, &e->nrefs, rc);
			deps_add(deps_get(e->index, r->key), x);
			conf_strings_add(&x->devices, r->device);
			continue;
		}
		{
			struct refcache *rc = xcalloc(1, sizeof(*rc));
			rc->gen = (uint64_t)-1;
			expr_ref_bind(ex, i, rc);
			push((void ***)&e->refs, &e->nrefs, rc);
		}
		if (((struct selcache *)r->select->bound)->role) {
			deps_add(deps_get(e->rolerefs, r->metric), x);
			continue;
		}
		for (m = 0; m < ((struct selcache *)r->select->bound)->n; m++) {
			const struct expr_member *mem =
			    &((struct selcache *)r->select->bound)->v[m];
			char key[256];
			snprintf(key, sizeof(key), "%s.%s", mem->device, r->metric);
			deps_add(deps_get(e->index, key), x);
			conf_strings_add(&x->devices, mem->device);
		}
	}
}

static void
detect_clear(struct detect *e)
{
	size_t i;

	for (i = 0; i < e->nrefs; i++) {
		free(e->refs[i]->key);
		free(e->refs[i]->ms);
		free(e->refs[i]);
	}
	free(e->refs);
	e->refs = NULL;
	e->nrefs = 0;
	for (i = 0; i < e->nsels; i++) {
		size_t k;
		for (k = 0; k < e->sels[i]->n; k++)
			free(e->sels[i]->owned[k]);
		free(e->sels[i]->owned);
		free(e->sels[i]->v);
		free(e->sels[i]);
	}
	free(e->sels);
	e->sels = NULL;
	e->nsels = 0;
	deps_map_free(e->index);
	deps_map_free(e->rolerefs);
	e->index = e->rolerefs = NULL;
}

/* Whether device c is reached through the observer's gateway. */
static int
behind_gateway(const struct conf *conf, const struct device_conf *c)
{
	if (!conf->observer.on || conf->observer.gateway == NULL ||
	    strcmp(c->name, conf->observer.gateway) == 0 ||
	    conf_strings_has(&conf->observer.local, c->name))
		return 0;
	return 1;
}

static void
link_detectors(struct detect *e, const struct conf *conf)
{
	size_t i, j, k;

	/* inhibits, from the patterns */
	for (i = 0; i < e->ndets; i++) {
		struct detector *s = e->dets[i];
		if (s->k == NULL)
			continue;
		for (k = 0; k < s->k->inhibits.n; k++)
			for (j = 0; j < e->ndets; j++) {
				struct detector *t = e->dets[j];
				size_t m;
				if (t == s ||
				    fnmatch(s->k->inhibits.v[k], t->name, 0) != 0)
					continue;
				for (m = 0; m < s->ninhibits && s->inhibits[m] != t; m++)
					;
				if (m < s->ninhibits)
					continue;
				push((void ***)&s->inhibits, &s->ninhibits, t);
				push((void ***)&t->inhibited_by, &t->ninhibited_by, s);
			}
	}
	/* the observer inhibits the unreachable detectors behind its gateway */
	if (e->observer != NULL)
		for (i = 0; i < conf->devices.n; i++) {
			const struct device_conf *c = conf_device(conf, i);
			char name[128];
			struct detector *t;
			if (!behind_gateway(conf, c) &&
			    (conf->observer.gateway == NULL ||
			        strcmp(c->name, conf->observer.gateway) != 0))
				continue;
			snprintf(name, sizeof(name), UNREACHABLE_PFX "%s", c->name);
			if ((t = hmap_get(e->byname, name)) == NULL)
				continue;
			push(
			    (void ***)&e->observer->inhibits, &e->observer->ninhibits, t);
			push((void ***)&t->inhibited_by, &t->ninhibited_by, e->observer);
		}
	/* parents: explicit, else the observer's gateway */
	for (i = 0; i < conf->devices.n; i++) {
		const struct device_conf *c = conf_device(conf, i);
		char name[128];
		struct detector *t, *p;
		snprintf(name, sizeof(name), UNREACHABLE_PFX "%s", c->name);
		if ((t = hmap_get(e->byname, name)) == NULL)
			continue;
		for (k = 0; k < c->parents.n || (k == 0 && c->parents.n == 0); k++) {
			const char *pn = c->parents.n > 0 ? c->parents.v[k]
			                 : behind_gateway(conf, c)
			                     ? conf->observer.gateway
			                     : NULL;
			if (pn == NULL)
				break;
			snprintf(name, sizeof(name), UNREACHABLE_PFX "%s", pn);
			if ((p = hmap_get(e->byname, name)) == NULL)
				continue;
			push((void ***)&t->parents, &t->nparents, p);
			push((void ***)&p->children, &p->nchildren, t);
		}
	}
	/* active() readers */
	for (i = 0; i < e->ndets; i++) {
		struct detector *x = e->dets[i];
		const struct expr *ex[2];
		if (x->source != DS_RULE)
			continue;
		ex[0] = x->rule->when;
		ex[1] = x->rule->recover;
		for (j = 0; j < 2; j++)
			for (k = 0; ex[j] != NULL && k < expr_nrules(ex[j]); k++) {
				struct detector *t =
				    hmap_get(e->byname, expr_rule(ex[j], k));
				if (t != NULL)
					push(
					    (void ***)&t->dependents, &t->ndependents, x);
			}
	}
}

static void
apply_keys(struct detector *x, const struct detect_keys *k)
{
	x->k = k;
	x->cc = k->cc;
	x->cc.interval_ms = 0;
}

/*
 * Build the detectors for conf.  A detector of the same name keeps its state
 * (and its incident); detectors gone from the file close their incidents.
 */
void
detect_configure(struct detect *e, const struct conf *conf)
{
	struct detector **old = e->dets;
	size_t nold = e->ndets, i, t;
	struct hmap *oldnames = e->byname;
	char name[256];

	e->conf = conf;
	e->dets = NULL;
	e->ndets = 0;
	e->byname = hmap_new();
	hmap_free(e->unreach);
	e->unreach = hmap_new();
	e->observer = NULL;
	detect_clear(e);
	e->index = hmap_new();
	e->rolerefs = hmap_new();
	while (e->nheap > 0)
		heap_remove(e, e->heap[0]);
	e->qlen = 0;
	e->npending = 0;

	for (i = 0; i < conf->rules.n; i++) {
		const struct rule_conf *rc = conf_rule(conf, i);
		struct detector *x = detector_new(e, rc->k.name, DS_RULE);
		x->rule = rc;
		apply_keys(x, &rc->k);
		bind_expr(e, x, rc->when);
		bind_expr(e, x, rc->recover);
	}
	for (i = 0; i < conf->checks.n; i++) {
		const struct check_entry *ce = conf_check(conf, i);
		for (t = 0; t < ce->targets.n; t++) {
			const char *key = ce->targets.v[t], *dot = strchr(key, '.');
			struct detector *x;
			if (ce->select != NULL && dot != NULL)
				snprintf(name, sizeof(name), "%s:%.*s", ce->k.name,
				    (int)(dot - key), key);
			else
				snprintf(name, sizeof(name), "%s", ce->k.name);
			x = detector_new(e, name, DS_CHECK);
			x->chk = ce;
			apply_keys(x, &ce->k);
			x->target = xstrdup(key);
			x->device = dot != NULL ? xstrndup(key, (size_t)(dot - key))
			                        : xstrdup(key);
			conf_strings_add(&x->devices, x->device);
			deps_add(deps_get(e->index, key), x);
		}
	}
	for (i = 0; i < conf->devices.n; i++) {
		const struct device_conf *c = conf_device(conf, i);
		struct detector *x;
		snprintf(name, sizeof(name), UNREACHABLE_PFX "%s", c->name);
		x = detector_new(e, name, DS_UNREACHABLE);
		x->device = xstrdup(c->name);
		hmap_put(e->unreach, x->device, x);
		conf_strings_add(&x->devices, c->name);
	}
	if (conf->observer.on) {
		e->observer = detector_new(e, OBSERVER_NAME, DS_OBSERVER);
		if (conf->observer.ups != NULL) {
			snprintf(
			    name, sizeof(name), "%s.battery_low", conf->observer.ups);
			deps_add(deps_get(e->index, name), e->observer);
		}
		deps_add(deps_get(e->index, SELF_DEVICE ".disk_free_pct"), e->observer);
		deps_add(deps_get(e->index, SELF_DEVICE ".clock_synced"), e->observer);
		deps_add(deps_get(e->index, SELF_DEVICE ".clock_max_error"), e->observer);
	}
	link_detectors(e, conf);

	/* Carry states over; close the incidents of detectors that are gone. */
	for (i = 0; i < nold; i++) {
		struct detector *o = old[i], *x = hmap_get(e->byname, o->name);
		if (x != NULL && x->source == o->source) {
			x->st = o->st;
			x->incident = o->incident;
			x->folded_into = o->folded_into;
			x->manual = o->manual;
			memcpy(x->reason, o->reason, sizeof(x->reason));
			if (x->incident != NULL)
				x->incident->det = x;
		} else if (o->incident != NULL) {
			o->incident->det = NULL;
			incident_close(e, o->incident, "sonaed",
			    "its rule is no longer in the configuration", 0);
		}
		detector_free(o);
	}
	free(old);
	hmap_free(oldnames);
	store_set_watch(daemon_store(e->d), on_update, e);
	store_reset_watch(daemon_store(e->d));
	/* Look at everything once with the new rules. */
	for (i = 0; i < e->ndets; i++)
		if (e->dets[i]->st.started)
			enqueue(e, e->dets[i], 0);
	windows_rezone(e);
	e->windows_next_ms = windows_next(e, time_now_ms());
	timer_arm(e);
	if (e->timer != NULL)
		detect_run(e);
}

/* Self: the host's own metrics, as the device "self". */

static void
self_sample(struct detect *e)
{
	struct store *st = daemon_store(e->d);
	struct statvfs sv;
	struct timex tx;
	struct sample smp = { .t_ms = time_now_ms(), .q = Q_OK };
	int r;

	if (statvfs(e->conf->daemon.state_dir, &sv) == 0 && sv.f_blocks > 0) {
		smp.num = 100.0 * (double)sv.f_bavail / (double)sv.f_blocks;
		smp.q = Q_OK;
	} else {
		smp.q = Q_ERROR;
		smp.reason = strerror(errno);
	}
	series_update(
	    store_series(st, SELF_DEVICE, "disk_free_pct", MK_NUMBER, "%"), &smp);
	memset(&tx, 0, sizeof(tx));
	smp.q = Q_OK;
	smp.reason = NULL;
	if ((r = adjtimex(&tx)) == -1) {
		smp.q = Q_ERROR;
		smp.reason = strerror(errno);
	}
	smp.num = r != TIME_ERROR && !(tx.status & STA_UNSYNC);
	series_update(store_series(st, SELF_DEVICE, "clock_synced", MK_BOOL, NULL), &smp);
	smp.num = (double)tx.maxerror / 1000.0;
	series_update(
	    store_series(st, SELF_DEVICE, "clock_max_error", MK_NUMBER, "ms"), &smp);
}

/* Timers. */

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct detect *e = arg;
	int64_t now = time_mono_ms();

	(void)fd;
	(void)ev;
	while (e->nheap > 0 && e->heap[0]->due_mono <= now) {
		struct detector *x = e->heap[0];
		heap_remove(e, x);
		x->due_mono = 0;
		enqueue(e, x, 0);
	}
	detect_run(e);
	timer_arm(e);
}

static void
windows_changed(struct detect *e, int64_t now)
{
	struct incident *i;

	TAILQ_FOREACH(i, &e->incidents, entry)
	{
		const struct window *w;
		enum window_notify wn;
		if (i->window == NULL)
			continue;
		if ((w = incident_window(e, i, now)) != NULL) {
			if (strcmp(w->id, i->window) != 0) {
				free(i->window);
				i->window = xstrdup(w->id);
			}
			continue;
		}
		timeline(i, "sonaed", "maintenance-end", "maintenance window %s is over",
		    i->window);
		free(i->window);
		i->window = NULL;
		mark_durable(e);
		wn = window_end_notify(i->resolved_ms == 0, i->notified);
		if (wn == WN_PROBLEM && i->held) {
			notify(e, i, "problem");
		} else if (wn == WN_RECOVERY && i->held_recovery) {
			timeline(
			    i, "sonaed", "notify", "recovery (held back by the window)");
			journal(e, "sonaed", "incident.notify", i,
			    json_pack("{s:s}", "what", "recovery"));
			daemon_alert(e->d, i->id, i->opened_ms, "recovery");
		}
		i->held = i->held_recovery = 0;
		incident_touch(i);
	}
}

/*
 * Windows from the CLI follow the site's wall clock: after a change of
 * site.timezone, "sun 02:00" is 02:00 in the new zone.  (Computing in another
 * zone would mean switching the process's TZ, which the Modbus workers' name
 * lookups read at the same time.)
 */
static void
windows_rezone(struct detect *e)
{
	const char *zone = e->conf->site.timezone;
	size_t k;

	for (k = 0; zone != NULL && k < e->nwindows; k++) {
		struct window *w = e->windows[k];
		if (w->zone != NULL && strcmp(w->zone, zone) == 0)
			continue;
		log_info("maintenance window %s: from %s to the site's zone %s", w->id,
		    w->zone != NULL ? w->zone : "-", zone);
		free(w->zone);
		w->zone = xstrdup(zone);
		e->dirty = 1;
	}
}

static int64_t
windows_next(struct detect *e, int64_t now)
{
	int64_t next = -1, t;
	size_t k;

	for (k = 0; k < e->nwindows; k++)
		if ((t = window_next_change(e->windows[k], now)) > 0 &&
		    (next == -1 || t < next))
			next = t;
	for (k = 0; k < e->conf->maintenance.n; k++) {
		struct window *w = conf_window(e->conf, k)->w;
		if (w != NULL && (t = window_next_change(w, now)) > 0 &&
		    (next == -1 || t < next))
			next = t;
	}
	return next;
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct detect *e = arg;
	int64_t now = time_now_ms(), mono = time_mono_ms();
	struct incident *i;

	(void)fd;
	(void)ev;
	if (mono - e->self_mono >= SELF_EVERY_MS) {
		e->self_mono = mono;
		self_sample(e);
	}
	TAILQ_FOREACH(i, &e->incidents, entry)
	if (i->resolved_ms == 0 && i->ack.on && i->ack.kind == ACK_EXPIRING &&
	    i->ack.expire_ms <= now) {
		timeline(i, "sonaed", "ack-expired", "acknowledgement by %s expired",
		    i->ack.by);
		journal(e, "sonaed", "incident.ack-expired", i, NULL);
		ack_clear(i);
	}
	if (e->windows_next_ms > 0 && now >= e->windows_next_ms) {
		windows_changed(e, now);
		e->windows_next_ms = windows_next(e, now);
	}
	detect_run(e);
	timer_arm(e);
}

static void
saver_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct detect *e = arg;
	char err[512];

	(void)fd;
	(void)ev;
	if (e->dirty_now && detect_save(e, err, sizeof(err)) == -1)
		complain(&e->save_failed, "detection state: %s", err);
}

/* The engine, for a daemon; detect_configure() gives it detectors. */
struct detect *
detect_new(struct event_base *base, struct daemon *d)
{
	struct detect *e = xcalloc(1, sizeof(*e));
	struct timeval tv = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };

	e->base = base;
	e->d = d;
	e->byname = hmap_new();
	e->next_id = 1;
	e->next_window = 1;
	TAILQ_INIT(&e->incidents);
	if (base != NULL) {
		e->timer = evtimer_new(base, timer_cb, e);
		e->tick = event_new(base, -1, EV_PERSIST, tick_cb, e);
		e->saver = event_new(base, -1, 0, saver_cb, e);
		event_add(e->tick, &tv);
	}
	store_set_watch(daemon_store(d), on_update, e);
	return e;
}

/* Free the engine. Takes NULL. */
void
detect_free(struct detect *e)
{
	struct incident *i;
	size_t k;

	if (e == NULL)
		return;
	store_set_watch(daemon_store(e->d), NULL, NULL);
	if (e->timer != NULL)
		event_free(e->timer);
	if (e->tick != NULL)
		event_free(e->tick);
	if (e->saver != NULL)
		event_free(e->saver);
	for (k = 0; k < e->ndets; k++)
		detector_free(e->dets[k]);
	free(e->dets);
	hmap_free(e->byname);
	hmap_free(e->unreach);
	detect_clear(e);
	free(e->queue);
	free(e->pendings);
	free(e->heap);
	while ((i = TAILQ_FIRST(&e->incidents)) != NULL) {
		TAILQ_REMOVE(&e->incidents, i, entry);
		incident_free(i);
	}
	for (k = 0; k < e->nwindows; k++)
		window_free(e->windows[k]);
	free(e->windows);
	free(e);
}

/*
 * After a poll of dev: the samples are in the store (and queued their
 * readers); its contact may have changed.  Step what is queued.
 */
void
detect_device_changed(struct detect *e, struct device *dev)
{
	struct detector *x;
	const char *dn = device_name(dev);

	if (e->observer != NULL && e->conf->observer.gateway != NULL &&
	    strcmp(dn, e->conf->observer.gateway) == 0)
		enqueue(e, e->observer, mono_ns());
	if ((x = hmap_get(e->unreach, dn)) != NULL) {
		enqueue(e, x, mono_ns());
		detect_run(e);
		/* Children waiting on this device's contact decide now. */
		reconcile_many(e, x->children, x->nchildren);
	}
	detect_run(e);
	timer_arm(e);
}

/* JSON. */

static json_t *
incident_json(const struct incident *i, int full)
{
	char ts[64];
	json_t *o = json_object();
	size_t k;
	json_t *devs = json_array();

	for (k = 0; k < i->devices.n; k++)
		json_array_append_new(devs, json_string(i->devices.v[k]));
	json_object_set_new(o, "id", json_integer((json_int_t)i->id));
	json_object_set_new(o, "rule", json_string(i->rule));
	json_object_set_new(o, "source", json_string(source_names[i->source]));
	json_object_set_new(o, "title", json_string(i->title));
	json_object_set_new(o, "severity", json_string(check_state_name(i->severity)));
	json_object_set_new(o, "state",
	    json_string(i->resolved_ms ? "resolved"
	                : i->ack.on    ? "acknowledged"
	                               : "open"));
	json_object_set_new(
	    o, "opened", json_string(time_format(i->opened_ms, ts, sizeof(ts))));
	json_object_set_new(o, "opened_ms", json_integer((json_int_t)i->opened_ms));
	if (i->ack.on) {
		json_t *a = json_pack("{s:s, s:s, s:I, s:s, s:s}", "by", i->ack.by,
		    "time", time_format(i->ack.ms, ts, sizeof(ts)), "time_ms",
		    (json_int_t)i->ack.ms, "text", i->ack.text, "kind",
		    ack_kind_name(i->ack.kind));
		json_object_set_new(a, "expires",
		    i->ack.kind == ACK_EXPIRING
		        ? json_string(time_format(i->ack.expire_ms, ts, sizeof(ts)))
		        : json_null());
		json_object_set_new(a, "expires_ms",
		    i->ack.kind == ACK_EXPIRING
		        ? json_integer((json_int_t)i->ack.expire_ms)
		        : json_null());
		json_object_set_new(o, "acknowledged", a);
	} else
		json_object_set_new(o, "acknowledged", json_null());
	if (i->resolved_ms)
		json_object_set_new(o, "resolved",
		    json_pack("{s:s, s:s, s:I, s:s}", "by", i->resolved_by, "time",
		        time_format(i->resolved_ms, ts, sizeof(ts)), "time_ms",
		        (json_int_t)i->resolved_ms, "text", i->resolve_text));
	else
		json_object_set_new(o, "resolved", json_null());
	json_object_set_new(o, "devices", devs);
	json_object_set_new(
	    o, "playbook", i->playbook ? json_string(i->playbook) : json_null());
	json_object_set_new(o, "folded", json_deep_copy(i->folded));
	json_object_set_new(o, "merged_into",
	    i->merged_into ? json_integer((json_int_t)i->merged_into) : json_null());
	json_object_set_new(
	    o, "maintenance", i->window ? json_string(i->window) : json_null());
	json_object_set_new(
	    o, "flapping", json_boolean(i->det != NULL && i->det->st.flapping));
	json_object_set_new(o, "latency_us",
	    i->latency_us >= 0 ? json_integer((json_int_t)i->latency_us) : json_null());
	json_object_set_new(o, "notified", json_boolean(i->notified));
	if (full) {
		json_object_set_new(o, "snapshot", json_deep_copy(i->snapshot));
		json_object_set_new(o, "timeline", json_deep_copy(i->timeline));
	}
	return o;
}

/* {incidents: [...]}: open ones, or with all the resolved ones kept too. */
json_t *
detect_incidents_json(struct detect *e, int all)
{
	json_t *a = json_array();
	struct incident *i;

	TAILQ_FOREACH(i, &e->incidents, entry)
	if (all || i->resolved_ms == 0)
		json_array_append_new(a, incident_json(i, 0));
	return json_pack("{s:o}", "incidents", a);
}

/* One incident with its snapshot and timeline, or NULL. */
json_t *
detect_incident_json(struct detect *e, uint64_t id)
{
	struct incident *i = incident_find(e, id);

	return i != NULL ? incident_json(i, 1) : NULL;
}

static json_t *
detector_json(const struct detector *x)
{
	char ts[64];
	json_t *devs = json_array();
	size_t k;

	for (k = 0; k < x->devices.n; k++)
		json_array_append_new(devs, json_string(x->devices.v[k]));
	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:i, s:s, s:b, s:f, s:s, s:o, s:o, "
	                 "s:o}",
	    "name", x->name, "source", source_names[x->source], "state",
	    check_state_name(x->st.state), "hard", x->st.hard, "hard_state",
	    check_state_name(x->st.hard_state), "attempt", x->st.attempt, "since",
	    x->st.started ? time_format(x->st.since_ms, ts, sizeof(ts)) : "-", "flapping",
	    x->st.flapping, "flap_pct", x->st.flap_pct, "reason",
	    x->st.state != CHECK_OK ? x->reason : "", "incident",
	    x->incident ? json_integer((json_int_t)x->incident->id) : json_null(),
	    "folded_into",
	    x->folded_into ? json_integer((json_int_t)x->folded_into) : json_null(),
	    "devices", devs);
}

/* {detectors: [...]}: every rule, check, unreachable detector, the observer. */
json_t *
detect_detectors_json(struct detect *e)
{
	json_t *a = json_array();
	size_t k;

	for (k = 0; k < e->ndets; k++)
		json_array_append_new(a, detector_json(e->dets[k]));
	return json_pack("{s:o}", "detectors", a);
}

static int
window_from_config(const struct detect *e, const char *id)
{
	size_t k;

	for (k = 0; k < e->conf->maintenance.n; k++)
		if (strcmp(conf_window(e->conf, k)->id, id) == 0)
			return 1;
	return 0;
}

static json_t *
window_json(const struct window *w, int64_t now, const char *source,
    const struct conf_origin *origin)
{
	json_t *o = window_to_json(w);
	int64_t next = window_next_change(w, now);
	char ts[64];

	json_object_set_new(o, "active", json_boolean(window_active(w, now)));
	json_object_set_new(o, "next_change",
	    next > 0 ? json_string(time_format(next, ts, sizeof(ts))) : json_null());
	json_object_set_new(o, "source", json_string(source));
	if (origin != NULL && origin->file != NULL) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%s:%u", origin->file, origin->line);
		json_object_set_new(o, "origin", json_string(buf));
	} else
		json_object_set_new(o, "origin", json_null());
	return o;
}

/* {windows: [...]}: configured windows first, then the CLI's. */
json_t *
detect_windows_json(struct detect *e)
{
	json_t *a = json_array();
	int64_t now = time_now_ms();
	size_t k;

	for (k = 0; k < e->conf->maintenance.n; k++) {
		const struct window_conf *wc = conf_window(e->conf, k);
		if (wc->w != NULL)
			json_array_append_new(
			    a, window_json(wc->w, now, "config", &wc->origin));
	}
	for (k = 0; k < e->nwindows; k++)
		json_array_append_new(a, window_json(e->windows[k], now, "cli", NULL));
	return json_pack("{s:o}", "windows", a);
}

/* The figures and the observer, for `sonae status`. */
json_t *
detect_status_json(struct detect *e)
{
	struct incident *i;
	int open = 0, acked = 0, warn = 0, crit = 0;
	size_t k, problems = 0;
	json_t *obs;

	TAILQ_FOREACH(i, &e->incidents, entry)
	{
		if (i->resolved_ms)
			continue;
		open++;
		acked += i->ack.on;
		warn += i->severity == CHECK_WARNING;
		crit += i->severity == CHECK_CRITICAL;
	}
	for (k = 0; k < e->ndets; k++)
		problems += e->dets[k]->st.state != CHECK_OK;
	if (e->observer == NULL)
		obs = json_null();
	else {
		json_t *reasons = json_array();
		const char *r = e->observer->reason, *sep;
		while (e->observer->st.state != CHECK_OK && *r != '\0') {
			sep = strstr(r, "; ");
			json_array_append_new(reasons,
			    json_stringn(r, sep != NULL ? (size_t)(sep - r) : strlen(r)));
			if (sep == NULL)
				break;
			r = sep + 2;
		}
		obs = json_pack("{s:b, s:o}", "ok", e->observer->st.state == CHECK_OK,
		    "reasons", reasons);
	}
	return json_pack("{s:{s:i, s:i, s:i, s:i}, s:o, s:{s:I, s:I, s:I, s:I, s:I, "
	                 "s:f}, s:i}",
	    "incidents", "open", open, "acknowledged", acked, "warning", warn, "critical",
	    crit, "observer", obs, "detectors", "total", (json_int_t)e->ndets, "not_ok",
	    (json_int_t)problems, "updates", (json_int_t)e->updates, "steps",
	    (json_int_t)e->steps, "evaluations", (json_int_t)e->evaluations,
	    "mean_step_us",
	    e->steps ? (double)e->eval_ns_total / (double)e->steps / 1000.0 : 0.0,
	    "windows", (int)(e->nwindows + e->conf->maintenance.n));
}

/* Operator actions. */

static struct incident *
open_incident(struct detect *e, uint64_t id, char *err, size_t errlen)
{
	struct incident *i = incident_find(e, id);

	if (i == NULL) {
		snprintf(err, errlen, "no incident %llu", (unsigned long long)id);
		return NULL;
	}
	if (i->resolved_ms) {
		snprintf(err, errlen, "incident %llu was resolved at %s",
		    (unsigned long long)id, i->resolve_text);
		return NULL;
	}
	return i;
}

/* Acknowledge an open incident. */
int
detect_ack(struct detect *e, uint64_t id, const char *actor, enum ack_kind kind,
    int64_t expire_ms, const char *text, char *err, size_t errlen)
{
	struct incident *i = open_incident(e, id, err, errlen);
	char ts[64];

	if (i == NULL)
		return -1;
	if (kind == ACK_EXPIRING && expire_ms <= time_now_ms()) {
		snprintf(err, errlen, "the expiry time is in the past");
		return -1;
	}
	ack_clear(i);
	i->ack.on = 1;
	i->ack.kind = kind;
	i->ack.by = xstrdup(actor);
	i->ack.text = xstrdup(text);
	i->ack.ms = time_now_ms();
	i->ack.expire_ms = kind == ACK_EXPIRING ? expire_ms : 0;
	if (kind == ACK_EXPIRING)
		timeline(i, actor, "ack", "acknowledged until %s: %s",
		    time_format(expire_ms, ts, sizeof(ts)), text);
	else
		timeline(
		    i, actor, "ack", "acknowledged (%s): %s", ack_kind_name(kind), text);
	journal(e, actor, "incident.ack", i,
	    json_pack("{s:s, s:s}", "kind", ack_kind_name(kind), "text", text));
	return 0;
}

/* Declare an incident no sensor sees. */
int
detect_declare(struct detect *e, const char *kind, enum check_state sev,
    const char *actor, const char *text, uint64_t *id, char *err, size_t errlen)
{
	struct incident *i;
	char rule[96], title[1200];

	if (!is_problem(sev)) {
		snprintf(err, errlen, "severity must be warning or critical");
		return -1;
	}
	snprintf(rule, sizeof(rule), "declared:%s", kind);
	snprintf(title, sizeof(title), "%s: %s", kind, text);
	i = incident_new(e, rule, DS_DECLARED, sev, title);
	timeline(i, actor, "declared", "%s", text);
	journal(e, actor, "incident.declare", i,
	    json_pack("{s:s, s:s, s:s}", "kind", kind, "severity", check_state_name(sev),
	        "text", text));
	log_info(
	    "incident %llu declared by %s: %s", (unsigned long long)i->id, actor, title);
	notify(e, i, "problem");
	*id = i->id;
	request_playbook(e, i, actor);
	return 0;
}

/* Resolve an open incident by hand. */
int
detect_resolve(struct detect *e, uint64_t id, const char *actor, const char *text,
    char *err, size_t errlen)
{
	struct incident *i = open_incident(e, id, err, errlen);
	struct detector *x;
	char why[1200];

	if (i == NULL)
		return -1;
	x = i->det;
	if (x != NULL && is_problem(x->st.hard_state)) {
		/* No new incident until the condition has cleared once. */
		x->manual = 1;
		snprintf(why, sizeof(why),
		    "%s (the condition still holds: %s; a new incident opens only "
		    "after it has cleared)",
		    text, x->reason);
	} else
		snprintf(why, sizeof(why), "%s", text);
	incident_close(e, i, actor, why, 0);
	return 0;
}

/* A line in an incident's timeline from another layer (alerts). */
void
detect_note(
    struct detect *e, uint64_t id, const char *actor, const char *event, const char *text)
{
	struct incident *i = incident_find(e, id);

	if (i == NULL)
		return;
	timeline(i, actor, event, "%s", text);
	incident_touch(i);
	mark_durable(e);
}

/*
 * Alerts cannot leave the site (down 1): the incident MAIL_RULE, once; mail
 * leaves again (0): it resolves.  Idempotent both ways.
 */
void
detect_mail_path(struct detect *e, int down, const char *reason, enum check_state sev)
{
	struct incident *i;
	char title[600];

	TAILQ_FOREACH(i, &e->incidents, entry)
	if (i->resolved_ms == 0 && i->source == DS_MAIL)
		break;
	if (!down) {
		if (i != NULL)
			incident_close(e, i, "sonaed", "mail leaves the site again", 0);
		return;
	}
	if (i != NULL)
		return;
	snprintf(title, sizeof(title), "alerts cannot leave the site: %s", reason);
	i = incident_new(e, MAIL_RULE, DS_MAIL, sev, title);
	timeline(i, "sonaed", "opened", "%s", reason);
	journal(e, "sonaed", "incident.open", i, json_pack("{s:s}", "reason", reason));
	log_warnx("incident %llu: %s", (unsigned long long)i->id, title);
	notify(e, i, "problem");
}

static void
windows_rearm(struct detect *e)
{
	int64_t now = time_now_ms();
	struct incident *i;

	e->windows_next_ms = windows_next(e, now);
	/* Incidents a new window covers now hold their notifications from here on. */
	TAILQ_FOREACH(i, &e->incidents, entry)
	if (i->resolved_ms == 0 && i->window == NULL) {
		const struct window *w = incident_window(e, i, now);
		if (w != NULL) {
			i->window = xstrdup(w->id);
			timeline(i, "sonaed", "maintenance", "in maintenance window %s",
			    w->id);
		}
	}
	windows_changed(e, now);
}

/* Add a maintenance window (taken over; it gets its id here). */
int
detect_window_add(
    struct detect *e, struct window *w, const char *actor, char *err, size_t errlen)
{
	char id[32], desc[512];

	if (window_check(w, err, errlen) == -1) {
		window_free(w);
		return -1;
	}
	do
		snprintf(id, sizeof(id), "m%llu", (unsigned long long)e->next_window++);
	while (window_from_config(e, id));
	free(w->id);
	w->id = xstrdup(id);
	if (w->created_by == NULL)
		w->created_by = xstrdup(actor);
	if (w->created_ms == 0)
		w->created_ms = time_now_ms();
	push((void ***)&e->windows, &e->nwindows, w);
	daemon_journal(e->d, actor, "maintenance.add",
	    json_pack("{s:s, s:s, s:o}", "id", w->id, "window",
	        window_describe(w, desc, sizeof(desc)), "detail", window_to_json(w)));
	mark_durable(e);
	windows_rearm(e);
	return 0;
}

/* Remove a window made from the CLI. */
int
detect_window_remove(struct detect *e, const char *id, const char *actor,
    const char *text, char *err, size_t errlen)
{
	size_t k;

	if (window_from_config(e, id)) {
		snprintf(err, errlen,
		    "window %s is defined in the configuration; remove it there", id);
		return -1;
	}
	for (k = 0; k < e->nwindows; k++)
		if (strcmp(e->windows[k]->id, id) == 0)
			break;
	if (k == e->nwindows) {
		snprintf(err, errlen, "no maintenance window %s", id);
		return -1;
	}
	daemon_journal(e->d, actor, "maintenance.remove",
	    json_pack("{s:s, s:s}", "id", id, "text", text != NULL ? text : ""));
	window_free(e->windows[k]);
	memmove(e->windows + k, e->windows + k + 1,
	    (e->nwindows - k - 1) * sizeof(*e->windows));
	e->nwindows--;
	mark_durable(e);
	windows_rearm(e);
	return 0;
}

/* Persistence. */

static json_t *
incident_state_json(const struct incident *i)
{
	json_t *o = incident_json(i, 1);

	json_object_set_new(o, "held", json_boolean(i->held));
	json_object_set_new(o, "held_recovery", json_boolean(i->held_recovery));
	json_object_set_new(
	    o, "detector", i->det ? json_string(i->det->name) : json_null());
	return o;
}

/* Write state_dir/detect.json now. */
int
detect_save(struct detect *e, char *err, size_t errlen)
{
	struct atomic_file af;
	json_t *root, *dets, *wins;
	struct incident *i;
	char *path;
	size_t k;
	int rc;

	if (!e->dirty)
		return 0;
	dets = json_object();
	for (k = 0; k < e->ndets; k++) {
		struct detector *x = e->dets[k];
		json_t *o;
		/* A detector that has only ever been OK has nothing to keep. */
		if (!x->st.started ||
		    (x->st.state == CHECK_OK && x->st.flap_pct == 0 && !x->manual &&
		        x->incident == NULL && x->folded_into == 0))
			continue;
		o = json_pack("{s:o, s:I, s:b, s:s}", "check", check_to_json(&x->st),
		    "folded_into", (json_int_t)x->folded_into, "manual", x->manual,
		    "detail", x->reason);
		json_object_set_new(dets, x->name, o);
	}
	wins = json_array();
	for (k = 0; k < e->nwindows; k++)
		json_array_append_new(wins, window_to_json(e->windows[k]));
	root = json_pack("{s:i, s:I, s:I, s:I, s:o, s:o}", "version", DETECT_VERSION,
	    "saved_ms", (json_int_t)time_now_ms(), "next_id", (json_int_t)e->next_id,
	    "next_window", (json_int_t)e->next_window, "detectors", dets, "windows",
	    wins);
	xasprintf(&path, "%s/%s", e->conf->daemon.state_dir, DETECT_FILE);
	rc = atomic_open(&af, path, err, errlen);
	free(path);
	/*
	 * The head without its closing brace, then "incidents":[...]}.  A
	 * resolved incident rarely changes again: its text is kept from the
	 * save before (incident_touch() drops it), so a save costs what the
	 * open incidents and the detectors cost, not the 500 kept resolved.
	 */
	if (rc == 0 && (json_dumpf(root, af.f, JSON_COMPACT) == -1 ||
	                   fseek(af.f, -1, SEEK_CUR) == -1)) {
		snprintf(err, errlen, "cannot encode the detection state");
		atomic_abort(&af);
		rc = -1;
	}
	if (rc == 0) {
		int first = 1;
		fputs(",\"incidents\":[", af.f);
		TAILQ_FOREACH(i, &e->incidents, entry)
		{
			char *text = i->cache;
			if (text == NULL) {
				json_t *o = incident_state_json(i);
				text = json_dumps(o, JSON_COMPACT);
				json_decref(o);
				if (i->resolved_ms != 0)
					i->cache = text;
			}
			if (text != NULL) {
				if (!first)
					fputc(',', af.f);
				fputs(text, af.f);
				first = 0;
			}
			if (text != i->cache)
				free(text);
		}
		fputs("]}\n", af.f);
		rc = atomic_commit(&af, err, errlen);
	}
	json_decref(root);
	if (rc == 0) {
		e->dirty = e->dirty_now = 0;
		complain_release(&e->save_failed, "detection state: written again");
	}
	return rc;
}

static char *
jdup(const json_t *o, const char *key)
{
	const char *s = json_str_of(o, key);

	return s != NULL ? xstrdup(s) : NULL;
}

static void
incident_restore(struct detect *e, const json_t *o)
{
	struct incident *i = xcalloc(1, sizeof(*i));
	const json_t *a = json_object_get(o, "acknowledged");
	const json_t *r = json_object_get(o, "resolved");
	const json_t *v;
	const char *det = json_str_of(o, "detector"), *sev = json_str_of(o, "severity");
	size_t k;
	int s;

	i->id = (uint64_t)json_integer_value(json_object_get(o, "id"));
	i->rule = jdup(o, "rule");
	i->title = jdup(o, "title");
	for (k = 0; k < NELEM(source_names); k++)
		if (json_str_of(o, "source") != NULL &&
		    strcmp(json_str_of(o, "source"), source_names[k]) == 0)
			i->source = (enum det_source)k;
	i->severity = sev != NULL && (s = check_state_from_name(sev)) != -1
	                  ? (enum check_state)s
	                  : CHECK_CRITICAL;
	i->opened_ms = json_integer_value(json_object_get(o, "opened_ms"));
	if (json_is_object(a)) {
		i->ack.on = 1;
		i->ack.by = jdup(a, "by");
		i->ack.text = jdup(a, "text");
		i->ack.ms = json_integer_value(json_object_get(a, "time_ms"));
		i->ack.kind = ACK_NORMAL;
		for (k = 0; k < 3; k++)
			if (json_str_of(a, "kind") != NULL &&
			    strcmp(json_str_of(a, "kind"), ack_kind_names[k]) == 0)
				i->ack.kind = (enum ack_kind)k;
		i->ack.expire_ms = json_integer_value(json_object_get(a, "expires_ms"));
		if (i->ack.by == NULL)
			i->ack.by = xstrdup("?");
		if (i->ack.text == NULL)
			i->ack.text = xstrdup("");
	}
	if (json_is_object(r)) {
		i->resolved_ms = json_integer_value(json_object_get(r, "time_ms"));
		i->resolved_by = jdup(r, "by");
		i->resolve_text = jdup(r, "text");
		if (i->resolved_ms == 0)
			i->resolved_ms = i->opened_ms;
		e->nresolved++;
	}
	i->merged_into = (uint64_t)json_integer_value(json_object_get(o, "merged_into"));
	json_array_foreach(json_object_get(o, "devices"), k, v)
	    conf_strings_add(&i->devices, json_string_value(v));
	i->playbook = jdup(o, "playbook");
	i->window = jdup(o, "maintenance");
	i->snapshot = json_deep_copy(json_object_get(o, "snapshot"));
	i->timeline = json_deep_copy(json_object_get(o, "timeline"));
	i->folded = json_deep_copy(json_object_get(o, "folded"));
	if (!json_is_object(i->snapshot)) {
		json_decref(i->snapshot);
		i->snapshot = json_object();
	}
	if (!json_is_array(i->timeline)) {
		json_decref(i->timeline);
		i->timeline = json_array();
	}
	if (!json_is_array(i->folded)) {
		json_decref(i->folded);
		i->folded = json_array();
	}
	v = json_object_get(o, "latency_us");
	i->latency_us = json_is_integer(v) ? json_integer_value(v) : -1;
	i->notified = json_is_true(json_object_get(o, "notified"));
	i->held = json_is_true(json_object_get(o, "held"));
	i->held_recovery = json_is_true(json_object_get(o, "held_recovery"));
	if (i->rule == NULL)
		i->rule = xstrdup("?");
	if (i->title == NULL)
		i->title = xstrdup("");
	if (i->resolved_ms == 0 && det != NULL) {
		struct detector *x = hmap_get(e->byname, det);
		if (x != NULL && x->incident == NULL) {
			x->incident = i;
			i->det = x;
		}
	}
	if (i->resolved_ms == 0 && i->det == NULL && i->source != DS_DECLARED &&
	    i->source != DS_MAIL) {
		/* Its rule is gone from the configuration. */
		i->resolved_ms = time_now_ms();
		i->resolved_by = xstrdup("sonaed");
		i->resolve_text = xstrdup("its rule is no longer in the configuration");
		e->nresolved++;
	}
	TAILQ_INSERT_TAIL(&e->incidents, i, entry);
}

/*
 * Load state_dir/detect.json into the configured detectors.  A damaged
 * file is set aside and reported; the daemon starts with no incidents.
 */
int
detect_restore(struct detect *e, char *err, size_t errlen)
{
	json_t *root, *o;
	json_error_t jerr;
	const char *name;
	char *path, why[256];
	size_t k;

	/*
	 * The readings restored from the snapshot before this (stale until
	 * their devices answer) are not news: nothing steps on them.
	 */
	while (dequeue(e) != NULL)
		;
	xasprintf(&path, "%s/%s", e->conf->daemon.state_dir, DETECT_FILE);
	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		int rc = 0;
		if (access(path, F_OK) == 0) {
			char *aside;
			xasprintf(
			    &aside, "%s.damaged-%lld", path, (long long)time_now_ms());
			snprintf(err, errlen, "%s:%d: %s; set aside as %s", path,
			    jerr.line, jerr.text, aside);
			if (rename(path, aside) == -1)
				log_warn("rename %s", path);
			free(aside);
			rc = -1;
		}
		free(path);
		return rc;
	}
	if (json_integer_value(json_object_get(root, "version")) != DETECT_VERSION) {
		snprintf(err, errlen, "%s: unknown version; ignored", path);
		json_decref(root);
		free(path);
		return -1;
	}
	free(path);
	e->next_id = (uint64_t)json_integer_value(json_object_get(root, "next_id"));
	if (e->next_id == 0)
		e->next_id = 1;
	e->next_window =
	    (uint64_t)json_integer_value(json_object_get(root, "next_window"));
	if (e->next_window == 0)
		e->next_window = 1;
	json_object_foreach(json_object_get(root, "detectors"), name, o)
	{
		struct detector *x = hmap_get(e->byname, name);
		if (x == NULL)
			continue;
		if (check_from_json(
		        &x->st, json_object_get(o, "check"), why, sizeof(why)) == -1) {
			log_warnx("detection state: %s: %s; starting afresh", name, why);
			check_init(&x->st);
			continue;
		}
		x->folded_into =
		    (uint64_t)json_integer_value(json_object_get(o, "folded_into"));
		x->manual = json_is_true(json_object_get(o, "manual"));
		if (json_str_of(o, "detail") != NULL)
			snprintf(
			    x->reason, sizeof(x->reason), "%s", json_str_of(o, "detail"));
	}
	json_array_foreach(json_object_get(root, "incidents"), k, o)
	    incident_restore(e, o);
	json_array_foreach(json_object_get(root, "windows"), k, o)
	{
		struct window *w = window_from_json(o, why, sizeof(why));
		if (w == NULL)
			log_warnx("detection state: window %zu: %s; dropped", k, why);
		else
			push((void ***)&e->windows, &e->nwindows, w);
	}
	json_decref(root);
	/* Ids are never reused, whatever the counters in the file said. */
	{
		struct incident *i;
		TAILQ_FOREACH(i, &e->incidents, entry)
		{
			if (i->id >= e->next_id)
				e->next_id = i->id + 1;
			/* Open incidents go on recording their devices' readings. */
			if (i->resolved_ms == 0)
				history_incident_open(
				    daemon_history(e->d), i->id, &i->devices, NULL);
		}
		for (k = 0; k < e->ndets; k++) {
			struct detector *x = e->dets[k];
			if (x->folded_into != 0 &&
			    (i = incident_find(e, x->folded_into)) != NULL &&
			    i->resolved_ms == 0)
				history_incident_open(daemon_history(e->d),
				    x->folded_into, &x->devices, NULL);
		}
		for (k = 0; k < e->nwindows; k++) {
			const char *id = e->windows[k]->id;
			uint64_t n;
			if (id != NULL && id[0] == 'm' &&
			    (n = strtoull(id + 1, NULL, 10)) >= e->next_window)
				e->next_window = n + 1;
		}
	}
	windows_rezone(e);
	e->windows_next_ms = windows_next(e, time_now_ms());
	/* Detectors mid-way through a `for` or a retry pick up where they were. */
	for (k = 0; k < e->ndets; k++)
		if (e->dets[k]->st.started && !e->dets[k]->st.hard)
			due_set(e, e->dets[k], time_mono_ms() + 1);
	timer_arm(e);
	return 0;
}

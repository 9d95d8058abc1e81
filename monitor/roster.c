/*
 * The staff roster and the operating mode at runtime (docs/modes.md): who is
 * available, who is on duty now, whom a mode's references name, the
 * headcount, and the mode itself -- chosen from the headcount (auto, at once
 * on the way up, after staffing.hold on the way down) or declared by a
 * person or a playbook until someone says `sonae mode auto`.
 *
 * Every function takes the time it acts at (now, wall clock ms), so the
 * logic runs in the unit tests without a loop.  With an event base the
 * roster keeps one timer at the next thing due (an `--until` that ends, a
 * pending step-down's hold) and that timer only calls roster_tick().
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "monitor/monitor.h"

#define ROSTER_DEFER_MAX 1000 /* deferred items kept per mode */

/* One staff member's availability, parallel to conf->staff. */
struct staff_avail {
	char *id;
	int available;
	int64_t until_ms; /* unavailable until then; 0: until said otherwise */
	int64_t since_ms; /* when it was last set; 0: never */
	char *by, *why;
};

/* A problem the mode did not tell live, listed when the mode ends. */
struct deferred {
	TAILQ_ENTRY(deferred) entry;
	int64_t time_ms;
	char *mode;
	uint64_t incident;
	char *what;
};
TAILQ_HEAD(deferred_list, deferred);

struct roster {
	struct event_base *base;
	struct event *timer;
	const struct conf *conf;
	const struct roster_hooks *h;
	void *arg;
	struct staff_avail *staff;
	size_t nstaff;
	char *mode; /* the current mode's name */
	int declared;
	int64_t since_ms;
	char *by, *why;
	char *pending; /* the step-down waiting for the hold, or NULL */
	int64_t pending_since_ms;
	struct deferred_list deferred;
	size_t ndeferred, dropped;
};

static void roster_arm(struct roster *, int64_t);

static void
set_str(char **p, const char *s)
{
	char *n = s != NULL ? xstrdup(s) : NULL;

	free(*p);
	*p = n;
}

static json_t *
json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static int
mode_index(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < conf->modes.n; i++)
		if (strcmp(conf_mode(conf, i)->name, name) == 0)
			return (int)i;
	return -1;
}

static int
staff_index(const struct roster *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nstaff; i++)
		if (strcmp(r->staff[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void
staff_avail_clear(struct staff_avail *s)
{
	free(s->id);
	free(s->by);
	free(s->why);
}

/* Everyone of conf available, keeping what old knew of the same ids. */
static void
staff_build(struct roster *r, const struct conf *conf)
{
	struct staff_avail *n = xcalloc(conf->staff.n + 1, sizeof(*n));
	size_t i;
	int k;

	for (i = 0; i < conf->staff.n; i++) {
		const char *id = conf_staff(conf, i)->id;
		if ((k = staff_index(r, id)) >= 0) {
			n[i] = r->staff[k];
			memset(&r->staff[k], 0, sizeof(r->staff[k]));
			r->staff[k].id = xstrdup(""); /* matched once */
		} else {
			n[i].id = xstrdup(id);
			n[i].available = 1;
		}
	}
	for (i = 0; i < r->nstaff; i++) {
		if (r->staff[i].id[0] != '\0')
			log_info("roster: staff \"%s\" is no longer configured; "
			         "forgotten",
			    r->staff[i].id);
		staff_avail_clear(&r->staff[i]);
	}
	free(r->staff);
	r->staff = n;
	r->nstaff = conf->staff.n;
}

static void
deferred_clear(struct roster *r)
{
	struct deferred *e;

	while ((e = TAILQ_FIRST(&r->deferred)) != NULL) {
		TAILQ_REMOVE(&r->deferred, e, entry);
		free(e->mode);
		free(e->what);
		free(e);
	}
	r->ndeferred = 0;
	r->dropped = 0;
}

/* A roster for conf, everyone available, in the first mode.  base may be NULL (no timer).
 */
struct roster *
roster_new(struct event_base *base, const struct conf *conf, const struct roster_hooks *h,
    void *arg, int64_t now)
{
	struct roster *r = xcalloc(1, sizeof(*r));

	r->base = base;
	r->conf = conf;
	r->h = h;
	r->arg = arg;
	TAILQ_INIT(&r->deferred);
	staff_build(r, conf);
	r->mode = xstrdup(conf_mode(conf, 0)->name);
	r->since_ms = now;
	r->by = xstrdup("sonaed");
	r->why = xstrdup("start");
	return r;
}

/* Takes NULL. */
void
roster_free(struct roster *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->timer != NULL)
		event_free(r->timer);
	for (i = 0; i < r->nstaff; i++)
		staff_avail_clear(&r->staff[i]);
	free(r->staff);
	free(r->mode);
	free(r->by);
	free(r->why);
	free(r->pending);
	deferred_clear(r);
	free(r);
}

/*
 * Who is on duty now.
 */

/* The first schedule shift on at now, or NULL. */
const struct shift_conf *
roster_shift(const struct roster *r, int64_t now)
{
	size_t i;

	for (i = 0; i < r->conf->schedule.n; i++) {
		const struct shift_conf *s = conf_shift(r->conf, i);
		if (s->w != NULL && window_active(s->w, now))
			return s;
	}
	return NULL;
}

static int
in_list(const size_t *v, size_t n, size_t k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == k)
			return 1;
	return 0;
}

/*
 * The staff (indexes into out, in order) on duty now, or the deputies: the
 * shift's list, else those with the role "on-duty" / "deputy".
 */
static size_t
duty(const struct roster *r, int deputy, int64_t now, size_t *out)
{
	const struct shift_conf *s = roster_shift(r, now);
	const struct conf_strings *l = s == NULL ? NULL
	                               : deputy  ? &s->deputy
	                                         : &s->on_duty;
	size_t n = 0, i;
	int k;

	if (l != NULL && l->n > 0) {
		for (i = 0; i < l->n; i++)
			if ((k = staff_index(r, l->v[i])) >= 0 &&
			    !in_list(out, n, (size_t)k))
				out[n++] = (size_t)k;
		return n;
	}
	for (i = 0; i < r->nstaff; i++)
		if (conf_strings_has(
		        &conf_staff(r->conf, i)->roles, deputy ? "deputy" : "on-duty"))
			out[n++] = i;
	return n;
}

static size_t
add_staff(const struct roster *r, size_t i, struct conf_strings *out)
{
	const struct staff_conf *c = conf_staff(r->conf, i);

	if (!r->staff[i].available || c->email == NULL || conf_strings_has(out, c->email))
		return 0;
	conf_strings_add(out, c->email);
	return 1;
}

static size_t
add_list(const struct roster *r, const size_t *v, size_t n, struct conf_strings *out)
{
	size_t i, added = 0;

	for (i = 0; i < n; i++)
		added += add_staff(r, v[i], out);
	return added;
}

static size_t
resolve_one(
    const struct roster *r, const char *ref, int64_t now, struct conf_strings *out)
{
	size_t *v = xcalloc(r->nstaff + 1, sizeof(*v)), n, i, added = 0;
	int k;

	if (strcmp(ref, "on-duty") == 0) {
		n = duty(r, 0, now, v);
		for (i = 0; i < n && !r->staff[v[i]].available; i++)
			;
		if (i == n) /* nobody on duty is available: their deputies are */
			n = duty(r, 1, now, v);
		added = add_list(r, v, n, out);
	} else if (strcmp(ref, "deputy") == 0) {
		n = duty(r, 1, now, v);
		added = add_list(r, v, n, out);
	} else if (strcmp(ref, "everyone") == 0) {
		for (i = 0; i < r->nstaff; i++)
			if (conf_staff(r->conf, i)->counted)
				added += add_staff(r, i, out);
	} else if (strncmp(ref, "role:", 5) == 0) {
		for (i = 0; i < r->nstaff; i++)
			if (conf_strings_has(&conf_staff(r->conf, i)->roles, ref + 5))
				added += add_staff(r, i, out);
	} else if (strchr(ref, '@') != NULL) {
		if (!conf_strings_has(out, ref)) {
			conf_strings_add(out, ref);
			added = 1;
		}
	} else if ((k = staff_index(r, ref)) >= 0)
		added = add_staff(r, (size_t)k, out);
	free(v);
	return added;
}

/*
 * The mail addresses of the available people refs name at now, appended to
 * out in order without repeats (docs/modes.md, "References"); how many.
 */
size_t
roster_resolve(const struct roster *r, const struct conf_strings *refs, int64_t now,
    struct conf_strings *out)
{
	size_t i, added = 0;

	for (i = 0; refs != NULL && i < refs->n; i++)
		added += resolve_one(r, refs->v[i], now, out);
	return added;
}

/*
 * The headcount and the automatic mode.
 */

/* Counted staff, and how many of them are unavailable. */
void
roster_headcount(const struct roster *r, struct roster_headcount *hc)
{
	size_t i;

	memset(hc, 0, sizeof(*hc));
	for (i = 0; i < r->nstaff; i++) {
		if (!conf_staff(r->conf, i)->counted)
			continue;
		hc->total++;
		if (r->staff[i].available)
			hc->available++;
		else
			hc->absent++;
	}
	hc->absent_pct = hc->total > 0 ? hc->absent * 100 / hc->total : 0;
}

static json_t *
headcount_json(const struct roster *r)
{
	struct roster_headcount hc;

	roster_headcount(r, &hc);
	return json_pack("{s:i, s:i, s:i, s:i}", "total", hc.total, "available",
	    hc.available, "absent", hc.absent, "absent_pct", hc.absent_pct);
}

/*
 * The mode the headcount asks for: the most stretched one whose absence
 * figure is reached, else the first.  With staffing.auto off, the first.
 */
const struct mode_conf *
roster_auto_target(const struct roster *r)
{
	struct roster_headcount hc;
	size_t i;

	roster_headcount(r, &hc);
	for (i = r->conf->modes.n; r->conf->staffing.auto_mode && i > 1; i--) {
		const struct mode_conf *m = conf_mode(r->conf, i - 1);
		if (m->absence > 0 && hc.absent_pct >= m->absence)
			return m;
	}
	return conf_mode(r->conf, 0);
}

/* The current mode's name. */
const char *
roster_mode(const struct roster *r)
{
	return r->mode;
}

/* The current mode's configuration. */
const struct mode_conf *
roster_mode_conf(const struct roster *r)
{
	const struct mode_conf *m = conf_mode_named(r->conf, r->mode);

	return m != NULL ? m : conf_mode(r->conf, 0);
}

/* Whether the mode was declared (1) or follows the headcount (0). */
int
roster_declared(const struct roster *r)
{
	return r->declared;
}

/* The pending step-down's mode and when it is due, or NULL. */
const char *
roster_pending(const struct roster *r, int64_t *due_ms)
{
	if (r->pending != NULL && due_ms != NULL)
		*due_ms = r->pending_since_ms + r->conf->staffing.hold_ms;
	return r->pending;
}

static const char *
mode_title(const struct mode_conf *m)
{
	return m->title != NULL ? m->title : m->name;
}

/*
 * The announcement.
 */
static const char *const lower_text[] = {
	[MODE_LOWER_DIGEST] = "daily digest / 日次ダイジェスト",
	[MODE_LOWER_DEFER] =
	    "deferred, listed when the mode ends / 保留 (体制終了時に一覧)",
};
static const char *const inspection_text[] = {
	[MODE_INSPECTION_SCHEDULED] = "as scheduled / 予定どおり",
	[MODE_INSPECTION_DEFERRED] = "deferred, this mode as the reason / 延期 (理由: "
	                             "本体制)",
	[MODE_INSPECTION_SUSPENDED] = "suspended; owed work listed when the mode ends / "
	                              "停止 (体制終了時に未実施分を一覧)",
};

static void
body_refs(const struct roster *r, FILE *f, const struct conf_strings *refs, int numbered,
    int64_t now)
{
	size_t i, j;

	for (i = 0; i < refs->n; i++) {
		struct conf_strings one = { NULL, 0 };
		resolve_one(r, refs->v[i], now, &one);
		if (numbered)
			fprintf(f, "    %zu. %s: ", i + 1, refs->v[i]);
		else
			fprintf(f, "    %s: ", refs->v[i]);
		for (j = 0; j < one.n; j++)
			fprintf(f, "%s%s", j ? ", " : "", one.v[j]);
		fprintf(f, "%s\n", one.n == 0 ? "(nobody available / 該当者なし)" : "");
		conf_strings_free(&one);
	}
	if (refs->n == 0)
		fprintf(f, "    (none / なし)\n");
}

/* What the mode changes, as the mail says it (also `sonae mode` for people). */
static void
body_mode(const struct roster *r, FILE *f, const struct mode_conf *m, int64_t now)
{
	char d[32];
	size_t i;

	duration_format(m->escalate_after_ms, d, sizeof(d));
	fprintf(f, "\nこの体制で / What changes now:\n");
	if (m->chain)
		fprintf(f, "  連絡順 / Who is told, one after another every %s:\n", d);
	else
		fprintf(f, "  連絡 / Who is told, all at once:\n");
	body_refs(r, f, &m->alert, m->chain, now);
	if (m->alert.n > 1) {
		struct conf_strings all = { NULL, 0 };
		roster_resolve(r, &m->alert, now, &all);
		fprintf(f, "    順に / in this order: ");
		for (i = 0; i < all.n; i++)
			fprintf(f, "%s%s", i ? ", " : "", all.v[i]);
		fprintf(f, "%s\n", all.n == 0 ? "(nobody available / 該当者なし)" : "");
		conf_strings_free(&all);
	}
	if (m->copy.n > 0) {
		fprintf(f, "  写し / Copied at once:\n");
		body_refs(r, f, &m->copy, 0, now);
	}
	if (m->escalate_to.n > 0) {
		fprintf(f,
		    "  エスカレーション / Escalation, %s after nobody acknowledged:\n",
		    d);
		body_refs(r, f, &m->escalate_to, 0, now);
	} else
		fprintf(f, "  エスカレーション / Escalation: none beyond the list\n");
	if (m->live_availability <= 1)
		fprintf(f, "  監視 / Watched live: every availability class\n");
	else
		fprintf(f,
		    "  監視 / Watched live: availability class %d and above; lower "
		    "classes: %s%s%s\n",
		    m->live_availability, lower_text[m->lower],
		    m->lower == MODE_LOWER_DIGEST ? " at " : "",
		    m->lower == MODE_LOWER_DIGEST ? r->conf->staffing.digest_at : "");
	if (m->preapproved.n == 0)
		fprintf(f,
		    "  事前承認 / Pre-approved steps: none; destructive steps wait "
		    "for approval\n");
	else {
		fprintf(f, "  事前承認 / Pre-approved steps (run without waiting): ");
		for (i = 0; i < m->preapproved.n; i++)
			fprintf(f, "%s%s", i ? ", " : "", m->preapproved.v[i]);
		fprintf(f, "\n");
	}
	fprintf(f, "  自己点検 / Self-inspection: %s\n", inspection_text[m->inspection]);
}

static void
body_absent(const struct roster *r, FILE *f)
{
	struct roster_headcount hc;
	char ts[64];
	size_t i;

	roster_headcount(r, &hc);
	fprintf(f, "人員 / Headcount:  %d of %d available, %d absent (%d%%)\n",
	    hc.available, hc.total, hc.absent, hc.absent_pct);
	for (i = 0; i < r->nstaff; i++) {
		const struct staff_conf *c = conf_staff(r->conf, i);
		const struct staff_avail *s = &r->staff[i];
		if (s->available)
			continue;
		fprintf(f, "  不在 / Absent: %s (%s)%s%s%s%s%s\n", c->name, c->id,
		    s->until_ms > 0 ? " until " : "",
		    s->until_ms > 0 ? time_format(s->until_ms, ts, sizeof(ts)) : "",
		    c->counted ? "" : " [not counted]", s->why != NULL ? ": " : "",
		    s->why != NULL ? s->why : "");
	}
}

static char *
announce_title(const struct roster *r, const struct mode_conf *m)
{
	struct roster_headcount hc;
	char *t;

	roster_headcount(r, &hc);
	if (m->title != NULL)
		xasprintf(&t, "%s (%s) — %d of %d absent", m->title, m->name, hc.absent,
		    hc.total);
	else
		xasprintf(&t, "%s — %d of %d absent", m->name, hc.absent, hc.total);
	return t;
}

static char *
announce_body(const struct roster *r, const struct mode_conf *from,
    const struct mode_conf *to, int64_t now)
{
	char *buf = NULL, ts[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct deferred *e;

	fprintf(f, "運用体制の変更 / The operating mode changed\n\n");
	fprintf(f, "サイト / Site:     %s\n", r->conf->site.name);
	fprintf(
	    f, "体制 / Mode:       %s → %s\n", from != NULL ? from->name : "-", to->name);
	fprintf(f, "                   %s → %s\n", from != NULL ? mode_title(from) : "-",
	    mode_title(to));
	fprintf(f, "種別 / Source:     %s\n",
	    r->declared ? "declared / 宣言" : "automatic, from the headcount / 自動");
	fprintf(f, "時刻 / Since:      %s\n", time_format(now, ts, sizeof(ts)));
	fprintf(f, "変更者 / By:       %s\n", r->by);
	fprintf(f, "理由 / Why:        %s\n", r->why);
	body_absent(r, f);
	if (r->pending != NULL)
		fprintf(f, "保留中 / Pending:  a step down to %s at %s\n", r->pending,
		    time_format(
		        r->pending_since_ms + r->conf->staffing.hold_ms, ts, sizeof(ts)));
	body_mode(r, f, to, now);
	if (from != NULL && r->ndeferred > 0) {
		fprintf(f, "\n保留した作業 / Deferred while %s lasted:\n", from->name);
		TAILQ_FOREACH(e, &r->deferred, entry)
		fprintf(
		    f, "  %s  %s\n", time_format(e->time_ms, ts, sizeof(ts)), e->what);
		if (r->dropped > 0)
			fprintf(f,
			    "  ... and %zu more (see the journal: alert.deferred)\n",
			    r->dropped);
	}
	fprintf(f, "\n詳細 / Details:\n  sonae mode\n  sonae staff\n");
	fprintf(f, "\n-- \nsonae %s, %s\n", SONAE_VERSION, r->conf->site.name);
	fclose(f);
	return buf;
}

static void
announce(struct roster *r, const struct mode_conf *from, const struct mode_conf *to,
    const char *actor, int64_t now)
{
	struct conf_strings all = { NULL, 0 };
	char *title, *body;
	size_t i;

	if (!r->conf->staffing.announce || r->h == NULL || r->h->announce == NULL)
		return;
	for (i = 0; i < r->nstaff; i++)
		if (conf_staff(r->conf, i)->email != NULL)
			conf_strings_add(&all, conf_staff(r->conf, i)->email);
	if (all.n > 0) {
		title = announce_title(r, to);
		body = announce_body(r, from, to, now);
		r->h->announce(r->arg, title, body, &all, actor);
		free(title);
		free(body);
	}
	conf_strings_free(&all);
}

static void
journal(struct roster *r, const char *actor, const char *event, json_t *data)
{
	if (r->h != NULL && r->h->journal != NULL)
		r->h->journal(r->arg, actor, event, data);
	else
		json_decref(data);
}

static void
save(struct roster *r, int now_)
{
	if (r->h != NULL && r->h->save != NULL)
		r->h->save(r->arg, now_);
}

static json_t *
deferred_json(const struct roster *r)
{
	json_t *a = json_array();
	struct deferred *e;

	TAILQ_FOREACH(e, &r->deferred, entry)
	json_array_append_new(
	    a, json_pack("{s:o, s:I, s:s, s:I, s:s}", "time", json_time(e->time_ms),
	           "time_ms", (json_int_t)e->time_ms, "mode", e->mode, "incident",
	           (json_int_t)e->incident, "what", e->what));
	return a;
}

static json_t *
pending_json(const struct roster *r)
{
	int64_t due = r->pending_since_ms + r->conf->staffing.hold_ms;

	if (r->pending == NULL)
		return json_null();
	return json_pack("{s:s, s:o, s:I, s:o, s:I}", "mode", r->pending, "since",
	    json_time(r->pending_since_ms), "since_ms", (json_int_t)r->pending_since_ms,
	    "at", json_time(due), "at_ms", (json_int_t)due);
}

/*
 * Enter mode to (declared or auto): journaled, saved at once, and announced
 * when the mode's name changes; the old mode's deferred work is listed and
 * cleared.
 */
/*
 * The routine self-inspection a mode put off (its `inspection`) is owed
 * once it ends: one item of the deferred work, dated from the mode's start.
 */
static void
defer_inspection(struct roster *r, const struct mode_conf *m)
{
	char ts[64], *what;

	if (m->inspection == MODE_INSPECTION_SCHEDULED)
		return;
	time_format(r->since_ms, ts, sizeof(ts));
	xasprintf(&what,
	    "自己点検 / self-inspection %s while %s lasted (since %s): owed now; "
	    "sonae report inspection",
	    mode_inspection_names[m->inspection], m->name, ts);
	roster_defer(r, 0, what, r->since_ms);
	free(what);
}

static void
change(struct roster *r, const struct mode_conf *to, int declared, const char *actor,
    const char *why, int64_t now)
{
	const struct mode_conf *from = conf_mode_named(r->conf, r->mode);
	char *old = xstrdup(r->mode);
	int moved = strcmp(old, to->name) != 0;
	json_t *o;

	if (moved && from != NULL)
		defer_inspection(r, from);

	set_str(&r->mode, to->name);
	r->declared = declared;
	r->since_ms = now;
	set_str(&r->by, actor);
	set_str(&r->why, why);
	free(r->pending);
	r->pending = NULL;
	log_info("operating mode: %s -> %s, %s (%s: %s)", old, to->name,
	    declared ? "declared" : "auto", actor, why);
	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "from", old, "to", to->name, "why",
	    why, "source", declared ? "declared" : "auto", "headcount",
	    headcount_json(r));
	journal(r, actor, "mode.set", o);
	if (moved) {
		announce(r, from, to, actor, now);
		if (r->ndeferred > 0) {
			o = json_pack(
			    "{s:s, s:o}", "mode", old, "items", deferred_json(r));
			if (r->dropped > 0)
				json_object_set_new(
				    o, "dropped", json_integer((json_int_t)r->dropped));
			journal(r, actor, "mode.deferred", o);
			deferred_clear(r);
		}
	}
	free(old);
	save(r, 1);
	if (moved && r->h != NULL && r->h->mode_changed != NULL)
		r->h->mode_changed(r->arg);
}

static char *
auto_why(const struct roster *r, const char *cause)
{
	struct roster_headcount hc;
	char *s;

	roster_headcount(r, &hc);
	xasprintf(&s, "auto: %d of %d counted staff absent (%d%%)%s%s", hc.absent,
	    hc.total, hc.absent_pct, cause != NULL ? "; " : "",
	    cause != NULL ? cause : "");
	return s;
}

/*
 * Follow the headcount: up at once; down only once the lower target held
 * for staffing.hold.  The pending step-down goes to the most stretched
 * target seen since it began, the one availability has supported the whole
 * time; afterwards the next step down, if any, waits its own hold.
 */
static void
evaluate(struct roster *r, const char *actor, const char *cause, int64_t now)
{
	const struct mode_conf *t;
	int ti, ci, pi;
	char *why, d[32];

	for (;;) {
		if (r->declared) {
			free(r->pending);
			r->pending = NULL;
			return;
		}
		t = roster_auto_target(r);
		ti = mode_index(r->conf, t->name);
		ci = mode_index(r->conf, r->mode);
		if (ci < 0 || ti > ci) {
			why = auto_why(r, cause);
			change(r, t, 0, actor, why, now);
			free(why);
			return;
		}
		if (ti == ci) {
			if (r->pending != NULL)
				log_info("operating mode: the step down to %s is off "
				         "(%s is needed again)",
				    r->pending, r->mode);
			free(r->pending);
			r->pending = NULL;
			return;
		}
		pi = mode_index(r->conf, r->pending);
		if (pi < 0) {
			set_str(&r->pending, t->name);
			r->pending_since_ms = now;
			log_info("operating mode: %s may step down to %s after %s",
			    r->mode, t->name,
			    duration_format(r->conf->staffing.hold_ms, d, sizeof(d)));
		} else if (ti > pi)
			set_str(&r->pending, t->name);
		if (now - r->pending_since_ms < r->conf->staffing.hold_ms)
			return;
		duration_format(r->conf->staffing.hold_ms, d, sizeof(d));
		{
			char *held, *w;
			xasprintf(&held, "held for %s%s%s", d, cause != NULL ? "; " : "",
			    cause != NULL ? cause : "");
			w = auto_why(r, held);
			change(r, conf_mode_named(r->conf, r->pending), 0,
			    r->conf->staffing.hold_ms > 0 ? "sonaed" : actor, w, now);
			free(held);
			free(w);
		}
		/* Another step down, if still lower, waits its own hold. */
	}
}

/* Things due at now: availability whose --until passed, a step-down's hold. */
void
roster_tick(struct roster *r, int64_t now)
{
	char ts[64], *why, *cause;
	size_t i;
	int changed = 0;

	for (i = 0; i < r->nstaff; i++) {
		struct staff_avail *s = &r->staff[i];
		if (s->available || s->until_ms <= 0 || s->until_ms > now)
			continue;
		xasprintf(
		    &why, "until %s passed", time_format(s->until_ms, ts, sizeof(ts)));
		s->available = 1;
		s->until_ms = 0;
		s->since_ms = now;
		set_str(&s->by, "sonaed");
		set_str(&s->why, why);
		log_info("roster: %s is available again (%s)", s->id, why);
		journal(r, "sonaed", "staff.set",
		    json_pack("{s:s, s:b, s:n, s:s, s:o}", "id", s->id, "available", 1,
		        "until_ms", "why", why, "headcount", headcount_json(r)));
		xasprintf(&cause, "%s available again (%s)", s->id, why);
		evaluate(r, "sonaed", cause, now);
		free(cause);
		free(why);
		changed = 1;
	}
	evaluate(r, "sonaed", NULL, now);
	if (changed)
		save(r, 1);
	roster_arm(r, now);
}

static void
roster_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	roster_tick(arg, time_now_ms());
}

/* The one timer, at the next thing due (none: off). */
static void
roster_arm(struct roster *r, int64_t now)
{
	int64_t next = -1, due;
	struct timeval tv;
	size_t i;

	if (r->base == NULL)
		return;
	if (r->timer == NULL)
		r->timer = evtimer_new(r->base, roster_timer_cb, r);
	for (i = 0; i < r->nstaff; i++)
		if (!r->staff[i].available && r->staff[i].until_ms > 0 &&
		    (next < 0 || r->staff[i].until_ms < next))
			next = r->staff[i].until_ms;
	due = r->pending_since_ms + r->conf->staffing.hold_ms;
	if (r->pending != NULL && (next < 0 || due < next))
		next = due;
	if (next < 0) {
		evtimer_del(r->timer);
		return;
	}
	/* libevent's clock may run a hair ahead of the wall clock: 1 ms more. */
	due = next > now ? next - now + 1 : 0;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)(due % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

/* After a restore: the mode still configured, anything overdue done, the timer set. */
void
roster_start(struct roster *r, int64_t now)
{
	char *why;

	if (mode_index(r->conf, r->mode) < 0) {
		xasprintf(&why, "the mode \"%s\" is not configured any more", r->mode);
		r->declared = 0;
		change(r, roster_auto_target(r), 0, "sonaed", why, now);
		free(why);
	}
	if (r->pending != NULL && mode_index(r->conf, r->pending) < 0) {
		free(r->pending);
		r->pending = NULL;
	}
	roster_tick(r, now);
}

/*
 * A new configuration (reload): staff who still exist keep their
 * availability, removed ones are forgotten; a declared mode that no longer
 * exists gives way to the automatic one; then the mode follows the
 * headcount.  conf must outlive the roster's use of it.
 */
void
roster_configure(
    struct roster *r, const struct conf *conf, const char *actor, int64_t now)
{
	char *why;

	staff_build(r, conf);
	r->conf = conf;
	if (mode_index(conf, r->mode) < 0) {
		xasprintf(&why, "the mode \"%s\" is not configured any more", r->mode);
		r->declared = 0;
		free(r->pending);
		r->pending = NULL;
		change(r, roster_auto_target(r), 0, actor, why, now);
		free(why);
	}
	if (r->pending != NULL && mode_index(conf, r->pending) < 0) {
		free(r->pending);
		r->pending = NULL;
	}
	evaluate(r, actor, "configuration reloaded", now);
	roster_arm(r, now);
}

/*
 * Set a staff member's availability (`sonae staff set`): until_ms > now
 * makes an unavailable person available again by itself (0: no end).
 * Journaled as staff.set by actor; the mode follows.  0, or -1 with why.
 */
int
roster_set_staff(struct roster *r, const char *id, int available, int64_t until_ms,
    const char *actor, const char *why, int64_t now, char *err, size_t errlen)
{
	struct staff_avail *s;
	char *cause;
	int k;

	if ((k = staff_index(r, id)) < 0) {
		snprintf(err, errlen,
		    "no staff member \"%.64s\" (sonae staff lists them)", id);
		return -1;
	}
	if (until_ms != 0 && available) {
		snprintf(err, errlen, "--until goes with unavailable");
		return -1;
	}
	if (until_ms != 0 && until_ms <= now) {
		snprintf(err, errlen, "--until: the time is not in the future");
		return -1;
	}
	s = &r->staff[k];
	s->available = available;
	s->until_ms = until_ms;
	s->since_ms = now;
	set_str(&s->by, actor);
	set_str(&s->why, why);
	log_info("roster: %s is %s (%s: %s)", id, available ? "available" : "unavailable",
	    actor, why);
	journal(r, actor, "staff.set",
	    json_pack("{s:s, s:b, s:o, s:s, s:o}", "id", id, "available", available,
	        "until_ms", until_ms > 0 ? json_integer(until_ms) : json_null(), "why",
	        why, "headcount", headcount_json(r)));
	xasprintf(&cause, "%s %s: %s", id, available ? "available" : "unavailable", why);
	evaluate(r, actor, cause, now);
	free(cause);
	save(r, 1);
	roster_arm(r, now);
	return 0;
}

static void
mode_names(const struct conf *conf, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < conf->modes.n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    conf_mode(conf, i)->name);
}

/*
 * Declare a mode (`sonae mode set`, a playbook's set-mode step): it holds
 * whatever the headcount says until roster_auto().  0, or -1 with why.
 */
int
roster_declare(struct roster *r, const char *mode, const char *actor, const char *why,
    int64_t now, char *err, size_t errlen)
{
	const struct mode_conf *m = conf_mode_named(r->conf, mode);
	char names[256];

	if (m == NULL) {
		mode_names(r->conf, names, sizeof(names));
		snprintf(err, errlen, "no operating mode \"%.64s\" (modes here: %s)",
		    mode, names);
		return -1;
	}
	change(r, m, 1, actor, why, now);
	roster_arm(r, now);
	return 0;
}

/*
 * Back to the automatic mode (`sonae mode auto`): straight to what the
 * headcount asks, no hold.  1 if it was automatic already (nothing done), 0.
 */
int
roster_auto(struct roster *r, const char *actor, const char *why, int64_t now)
{
	char *w;

	if (!r->declared)
		return 1;
	w = auto_why(r, why != NULL ? why : "back to the automatic mode");
	change(r, roster_auto_target(r), 0, actor, w, now);
	free(w);
	roster_arm(r, now);
	return 0;
}

/* A problem the mode does not tell live: listed when the mode ends. */
void
roster_defer(struct roster *r, uint64_t incident, const char *what, int64_t now)
{
	struct deferred *e;

	if (r->ndeferred >= ROSTER_DEFER_MAX) {
		r->dropped++;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->time_ms = now;
	e->mode = xstrdup(r->mode);
	e->incident = incident;
	e->what = xstrdup(what);
	TAILQ_INSERT_TAIL(&r->deferred, e, entry);
	r->ndeferred++;
	save(r, 0);
}

/* The mode's name if its `preapproved` matches PLAYBOOK:STEP, else NULL. */
const char *
roster_preapproved(const struct roster *r, const char *playbook, const char *step)
{
	const struct mode_conf *m = roster_mode_conf(r);
	char key[160];
	size_t i;

	snprintf(key, sizeof(key), "%s:%s", playbook, step);
	for (i = 0; i < m->preapproved.n; i++)
		if (fnmatch(m->preapproved.v[i], key, 0) == 0)
			return m->name;
	return NULL;
}

/*
 * The views (verbs `staff`, `mode`, `status`).
 */

static json_t *
staff_entry(const struct roster *r, size_t i, const size_t *on, size_t non,
    const size_t *dep, size_t ndep)
{
	const struct staff_conf *c = conf_staff(r->conf, i);
	const struct staff_avail *s = &r->staff[i];

	return json_pack("{s:s, s:s, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:b, "
	                 "s:b}",
	    "id", c->id, "name", c->name, "email", json_str(c->email), "roles",
	    conf_strings_json(&c->roles), "counted", c->counted, "available",
	    s->available, "until", json_time(s->until_ms), "until_ms",
	    s->until_ms > 0 ? json_integer(s->until_ms) : json_null(), "since",
	    json_time(s->since_ms), "by", json_str(s->by), "why", json_str(s->why),
	    "on_duty", in_list(on, non, i), "deputy", in_list(dep, ndep, i));
}

/* One staff member as `staff` lists them, or NULL. */
json_t *
roster_staff_entry_json(const struct roster *r, const char *id, int64_t now)
{
	size_t *on = xcalloc(r->nstaff + 1, sizeof(*on)),
	       *dep = xcalloc(r->nstaff + 1, sizeof(*dep)), non, ndep;
	int k = staff_index(r, id);
	json_t *o = NULL;

	non = duty(r, 0, now, on);
	ndep = duty(r, 1, now, dep);
	if (k >= 0)
		o = staff_entry(r, (size_t)k, on, non, dep, ndep);
	free(on);
	free(dep);
	return o;
}

/* `staff`: {"staff": [...], "headcount": {...}, "shift": {...} | null}. */
json_t *
roster_staff_json(const struct roster *r, int64_t now)
{
	size_t *on = xcalloc(r->nstaff + 1, sizeof(*on)),
	       *dep = xcalloc(r->nstaff + 1, sizeof(*dep)), non, ndep, i;
	const struct shift_conf *sh = roster_shift(r, now);
	json_t *list = json_array(), *shift = json_null();

	non = duty(r, 0, now, on);
	ndep = duty(r, 1, now, dep);
	for (i = 0; i < r->nstaff; i++)
		json_array_append_new(list, staff_entry(r, i, on, non, dep, ndep));
	if (sh != NULL)
		shift = json_pack("{s:s, s:s, s:o, s:o, s:o}", "every", sh->every, "for",
		    sh->duration, "on_duty", conf_strings_json(&sh->on_duty), "deputy",
		    conf_strings_json(&sh->deputy), "comment", json_str(sh->comment));
	free(on);
	free(dep);
	return json_pack("{s:o, s:o, s:o}", "staff", list, "headcount", headcount_json(r),
	    "shift", shift);
}

static json_t *
mode_conf_json(const struct roster *r, const struct mode_conf *m, int64_t now)
{
	struct conf_strings told = { NULL, 0 };
	json_t *o;

	roster_resolve(r, &m->alert, now, &told);
	o = json_pack("{s:s, s:s, s:i, s:o, s:b, s:o, s:I, s:o, s:i, s:s, s:o, s:s, s:b, "
	              "s:o}",
	    "name", m->name, "title", mode_title(m), "absence", m->absence, "alert",
	    conf_strings_json(&m->alert), "chain", m->chain, "copy",
	    conf_strings_json(&m->copy), "escalate_after_s",
	    (json_int_t)(m->escalate_after_ms / 1000), "escalate_to",
	    conf_strings_json(&m->escalate_to), "live_availability", m->live_availability,
	    "lower", mode_lower_names[m->lower], "preapproved",
	    conf_strings_json(&m->preapproved), "inspection",
	    mode_inspection_names[m->inspection], "current",
	    strcmp(m->name, r->mode) == 0, "told_now", conf_strings_json(&told));
	conf_strings_free(&told);
	return o;
}

/* `mode`: the current mode, its source, auto's target and pending step, every mode. */
json_t *
roster_mode_json(const struct roster *r, int64_t now)
{
	const struct mode_conf *cur = roster_mode_conf(r);
	json_t *modes = json_array(), *o;
	size_t i;

	for (i = 0; i < r->conf->modes.n; i++)
		json_array_append_new(
		    modes, mode_conf_json(r, conf_mode(r->conf, i), now));
	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:o, s:o}", "mode", r->mode, "title",
	    mode_title(cur), "source", r->declared ? "declared" : "auto", "since",
	    json_time(r->since_ms), "since_ms", (json_int_t)r->since_ms, "by",
	    json_str(r->by), "why", json_str(r->why));
	json_object_set_new(o, "auto",
	    json_pack("{s:b, s:s, s:I, s:o}", "enabled", r->conf->staffing.auto_mode,
	        "target", roster_auto_target(r)->name, "hold_s",
	        (json_int_t)(r->conf->staffing.hold_ms / 1000), "pending",
	        pending_json(r)));
	json_object_set_new(o, "headcount", headcount_json(r));
	json_object_set_new(o, "modes", modes);
	json_object_set_new(o, "deferred", deferred_json(r));
	return o;
}

/* For `status`: {"mode","title","source","since","by","why","pending","headcount"}. */
json_t *
roster_status_json(const struct roster *r)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "mode", r->mode,
	    "title", mode_title(roster_mode_conf(r)), "source",
	    r->declared ? "declared" : "auto", "since", json_time(r->since_ms), "by",
	    json_str(r->by), "why", json_str(r->why), "pending", pending_json(r),
	    "headcount", headcount_json(r));
}

/* What the snapshot keeps (state.c): read back by roster_from_json(). */
json_t *
roster_to_json(const struct roster *r)
{
	json_t *staff = json_object(), *o;
	struct deferred *e;
	json_t *def = json_array();
	size_t i;

	for (i = 0; i < r->nstaff; i++) {
		const struct staff_avail *s = &r->staff[i];
		json_object_set_new(staff, s->id,
		    json_pack("{s:b, s:I, s:I, s:o, s:o}", "available", s->available,
		        "until_ms", (json_int_t)s->until_ms, "since_ms",
		        (json_int_t)s->since_ms, "by", json_str(s->by), "why",
		        json_str(s->why)));
	}
	TAILQ_FOREACH(e, &r->deferred, entry)
	json_array_append_new(def,
	    json_pack("{s:I, s:s, s:I, s:s}", "time_ms", (json_int_t)e->time_ms, "mode",
	        e->mode, "incident", (json_int_t)e->incident, "what", e->what));
	o = json_pack("{s:s, s:b, s:I, s:o, s:o, s:o, s:o, s:I}", "mode", r->mode,
	    "declared", r->declared, "since_ms", (json_int_t)r->since_ms, "by",
	    json_str(r->by), "why", json_str(r->why), "staff", staff, "deferred", def,
	    "dropped", (json_int_t)r->dropped);
	json_object_set_new(o, "pending",
	    r->pending != NULL ? json_pack("{s:s, s:I}", "mode", r->pending, "since_ms",
	                             (json_int_t)r->pending_since_ms)
	                       : json_null());
	return o;
}

/*
 * Restore what roster_to_json() wrote; staff no longer configured are
 * ignored.  The mode is checked against the configuration by
 * roster_start().  0, or -1 with why (nothing changed).
 */
int
roster_from_json(struct roster *r, const json_t *o, char *err, size_t errlen)
{
	const json_t *staff = json_object_get(o, "staff"), *p, *e;
	const char *mode = json_str_of(o, "mode");
	size_t i;

	if (!json_is_object(o) || mode == NULL || !json_is_object(staff)) {
		snprintf(err, errlen, "roster: not a roster snapshot");
		return -1;
	}
	for (i = 0; i < r->nstaff; i++) {
		struct staff_avail *s = &r->staff[i];
		const json_t *j = json_object_get(staff, s->id);
		if (!json_is_object(j))
			continue;
		s->available = json_is_true(json_object_get(j, "available"));
		s->until_ms = s->available ? 0 : json_int_of(j, "until_ms");
		s->since_ms = json_int_of(j, "since_ms");
		set_str(&s->by, json_str_of(j, "by"));
		set_str(&s->why, json_str_of(j, "why"));
	}
	set_str(&r->mode, mode);
	r->declared = json_is_true(json_object_get(o, "declared"));
	r->since_ms = json_int_of(o, "since_ms");
	set_str(&r->by, json_str_of(o, "by"));
	set_str(&r->why, json_str_of(o, "why"));
	p = json_object_get(o, "pending");
	set_str(&r->pending, json_is_object(p) ? json_str_of(p, "mode") : NULL);
	r->pending_since_ms = json_is_object(p) ? json_int_of(p, "since_ms") : 0;
	deferred_clear(r);
	json_array_foreach(json_object_get(o, "deferred"), i, e)
	{
		struct deferred *d;
		if (json_str_of(e, "mode") == NULL || json_str_of(e, "what") == NULL ||
		    r->ndeferred >= ROSTER_DEFER_MAX)
			continue;
		d = xcalloc(1, sizeof(*d));
		d->time_ms = json_int_of(e, "time_ms");
		d->mode = xstrdup(json_str_of(e, "mode"));
		d->incident = (uint64_t)json_int_of(e, "incident");
		d->what = xstrdup(json_str_of(e, "what"));
		TAILQ_INSERT_TAIL(&r->deferred, d, entry);
		r->ndeferred++;
	}
	r->dropped = (size_t)json_int_of(o, "dropped");
	return 0;
}

/*
 * An older snapshot's plain "mode": a mode other than the first was set by
 * a playbook, so it is a declared one.
 */
void
roster_restore_mode(struct roster *r, const char *mode)
{
	set_str(&r->mode, mode);
	r->declared = mode_index(r->conf, mode) != 0;
	set_str(&r->by, "sonaed");
	set_str(&r->why, "restored from an older snapshot");
}

/*
 * The staff roster and the operating modes (docs/modes.md): `staff`,
 * `schedule`, `modes` and `staffing`.
 *
 * Everything a mode names is checked when the file is loaded: a staff id,
 * a role nobody has, an address that is not one, a pre-approval that
 * matches no confirm step, a route's or a set-mode step's mode that is not
 * configured.  The site finds out from `sonae validate`, not when the
 * mode changes at 3 a.m.
 *
 * Without a `modes` list the site has the four default modes of
 * DOMAIN.md's staffing table (normal, reduced, minimum, disaster), built
 * here; their references resolve to nobody until staff are configured, and
 * the routes' own addresses still apply.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/playbook.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *const mode_lower_names[] = { "digest", "defer", NULL };
const char *const mode_inspection_names[] = { "scheduled", "deferred", "suspended",
	NULL };

struct staff_conf *
conf_staff(const struct conf *conf, size_t i)
{
	return (struct staff_conf *)conf->staff.items + i;
}

struct staff_conf *
conf_staff_named(const struct conf *conf, const char *id)
{
	size_t i;

	for (i = 0; i < conf->staff.n; i++)
		if (conf_staff(conf, i)->id != NULL &&
		    strcmp(conf_staff(conf, i)->id, id) == 0)
			return conf_staff(conf, i);
	return NULL;
}

struct shift_conf *
conf_shift(const struct conf *conf, size_t i)
{
	return (struct shift_conf *)conf->schedule.items + i;
}

struct mode_conf *
conf_mode(const struct conf *conf, size_t i)
{
	return (struct mode_conf *)conf->modes.items + i;
}

struct mode_conf *
conf_mode_named(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->modes.n; i++)
		if (conf_mode(conf, i)->name != NULL &&
		    strcmp(conf_mode(conf, i)->name, name) == 0)
			return conf_mode(conf, i);
	return NULL;
}

/* Letters, digits, '_' and '-', 1..32 bytes: staff ids and mode names. */
int
roster_name_valid(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		        *p == '_'))
			return 0;
	return p != s && p - s <= 32;
}

static void
origin_set(struct conf_ctx *ctx, config_setting_t *g, struct conf_origin *o)
{
	o->file = xstrdup(conf_file(ctx, g));
	o->line = (unsigned)config_setting_source_line(g);
}

static void
origin_free(struct conf_origin *o)
{
	free(o->file);
	o->file = NULL;
}

/*
 * staff[]
 */
static void
staff_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct staff_conf *s = obj;

	origin_set(ctx, g, &s->origin);
	if (s->id != NULL && !roster_name_valid(s->id))
		conf_error(ctx, config_setting_get_member(g, "id"),
		    "\"%s\": use lower-case letters, digits, '_' and '-' (at most 32)",
		    s->id);
	if (s->email != NULL && !mail_address_valid(s->email))
		conf_error(ctx, config_setting_get_member(g, "email"),
		    "\"%s\" is not a mail address (local@domain)", s->email);
	for (size_t i = 0; i < s->roles.n; i++)
		if (!roster_name_valid(s->roles.v[i]))
			conf_error(ctx, config_setting_get_member(g, "roles"),
			    "role \"%s\": use lower-case letters, digits, '_' and '-'",
			    s->roles.v[i]);
}

static void
staff_release(void *obj)
{
	origin_free(&((struct staff_conf *)obj)->origin);
}

static const struct conf_key staff_keys[] = {
	{ .name = "id",
	    .type = CT_STRING,
	    .off = offsetof(struct staff_conf, id),
	    .min = 1,
	    .max = 32,
	    .flags = CK_REQUIRED,
	    .help = "Unique short name (`tanaka`): `sonae staff set ID`, schedules and "
	            "modes use it." },
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct staff_conf, name),
	    .min = 1,
	    .max = 128,
	    .flags = CK_REQUIRED,
	    .help = "The person's name as colleagues know it (`田中 一郎`), shown in "
	            "`sonae staff`, mails and reports." },
	{ .name = "email",
	    .type = CT_STRING,
	    .off = offsetof(struct staff_conf, email),
	    .min = 3,
	    .max = 254,
	    .help = "Where alerts and mode changes reach the person. Unset: counted, "
	            "never mailed." },
	{ .name = "roles",
	    .type = CT_STRINGS,
	    .off = offsetof(struct staff_conf, roles),
	    .help = "What the person is for: `on-duty`, `deputy`, `lead`, `facility`, "
	            "`vendor`, or the site's own words; modes name them as "
	            "`role:NAME`. `on-duty` and `deputy` are who is on duty when no "
	            "`schedule` entry says otherwise." },
	{ .name = "counted",
	    .type = CT_BOOL,
	    .off = offsetof(struct staff_conf, counted),
	    .def = "true",
	    .help = "Whether the person counts in the headcount that sets the mode. "
	            "false for a vendor's or another office's contact." },
	{ 0 },
};

const struct conf_table conf_staff_table = {
	.name = "staff",
	.help = "The people who run IT here (docs/modes.md). Their availability is set "
	        "with `sonae staff set`; the share who are unavailable chooses the "
	        "operating mode.",
	.size = sizeof(struct staff_conf),
	.keys = staff_keys,
	.check = staff_check,
	.release = staff_release,
};

/*
 * schedule[]
 */
static void
shift_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	origin_set(ctx, g, &((struct shift_conf *)obj)->origin);
}

static void
shift_release(void *obj)
{
	struct shift_conf *s = obj;

	window_free(s->w);
	s->w = NULL;
	origin_free(&s->origin);
}

static const struct conf_key shift_keys[] = {
	{ .name = "every",
	    .type = CT_STRING,
	    .off = offsetof(struct shift_conf, every),
	    .min = 1,
	    .max = 128,
	    .flags = CK_REQUIRED,
	    .help = "When the shift starts, on the site's wall clock, as maintenance "
	            "windows say it: `mon-fri 08:30`, `daily 17:15`, `sat,sun 09:00`." },
	{ .name = "for",
	    .type = CT_STRING,
	    .off = offsetof(struct shift_conf, duration),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "How long the shift lasts: `9h`, `15h15min`." },
	{ .name = "on_duty",
	    .type = CT_STRINGS,
	    .off = offsetof(struct shift_conf, on_duty),
	    .flags = CK_REQUIRED,
	    .help = "Staff ids on duty in the shift, told first." },
	{ .name = "deputy",
	    .type = CT_STRINGS,
	    .off = offsetof(struct shift_conf, deputy),
	    .help = "Staff ids who stand in: told next, and on duty while everyone "
	            "`on_duty` is unavailable." },
	{ .name = "comment",
	    .type = CT_STRING,
	    .off = offsetof(struct shift_conf, comment),
	    .max = 256,
	    .help = "Free text shown with the shift." },
	{ 0 },
};

const struct conf_table conf_shift_table = {
	.name = "schedule",
	.help = "Who is on duty when. The first shift that is on wins; outside every "
	        "shift, staff with the roles `on-duty` and `deputy` are.",
	.size = sizeof(struct shift_conf),
	.keys = shift_keys,
	.check = shift_check,
	.release = shift_release,
};

/*
 * modes[]
 */
static void
mode_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct mode_conf *m = obj;

	origin_set(ctx, g, &m->origin);
	if (m->name != NULL && !roster_name_valid(m->name))
		conf_error(ctx, config_setting_get_member(g, "name"),
		    "\"%s\": use lower-case letters, digits, '_' and '-' (at most 32)",
		    m->name);
}

static void
mode_release(void *obj)
{
	origin_free(&((struct mode_conf *)obj)->origin);
}

static const struct conf_key mode_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct mode_conf, name),
	    .min = 1,
	    .max = 32,
	    .flags = CK_REQUIRED,
	    .help = "The mode's name (`normal`, `reduced`, `minimum`, `disaster`): "
	            "`sonae mode set`, routes' `modes` and playbooks' `set-mode` "
	            "steps use it. Modes are listed from the ordinary to the most "
	            "stretched; the first is the one with everyone at work." },
	{ .name = "title",
	    .type = CT_STRING,
	    .off = offsetof(struct mode_conf, title),
	    .max = 128,
	    .help = "What people call it, shown in mails and reports: "
	            "`縮小体制 / Reduced staffing`." },
	{ .name = "absence",
	    .type = CT_INT,
	    .off = offsetof(struct mode_conf, absence),
	    .min = 0,
	    .max = 100,
	    .def = "0",
	    .help = "Entered on its own when at least this percentage of the counted "
	            "staff is unavailable (20 and 40 in the pandemic BCP); the most "
	            "stretched mode whose figure is reached wins. 0: only declared "
	            "(`sonae mode set`, a playbook), or the first mode." },
	{ .name = "alert",
	    .type = CT_STRINGS,
	    .off = offsetof(struct mode_conf, alert),
	    .help = "Who routes with `roster = true` tell, in order: staff ids, "
	            "`role:NAME`, `on-duty`, `deputy` (the schedule's, now), "
	            "`everyone` (every counted staff member), or mail addresses. "
	            "Only available people are told." },
	{ .name = "chain",
	    .type = CT_BOOL,
	    .off = offsetof(struct mode_conf, chain),
	    .def = "true",
	    .help = "true: `alert` is a call tree, the first entry told at once and "
	            "each next one `escalate_after` later while nobody acknowledged; "
	            "false: everyone in `alert` at once." },
	{ .name = "copy",
	    .type = CT_STRINGS,
	    .off = offsetof(struct mode_conf, copy),
	    .help = "Also told at once, whatever the chain (`role:vendor` in a "
	            "reduced mode)." },
	{ .name = "escalate_after",
	    .type = CT_DURATION,
	    .off = offsetof(struct mode_conf, escalate_after_ms),
	    .min = 1,
	    .max = 604800,
	    .def = "15min",
	    .help = "The step of the chain, and the wait before `escalate_to`." },
	{ .name = "escalate_to",
	    .type = CT_STRINGS,
	    .off = offsetof(struct mode_conf, escalate_to),
	    .help = "Told when the whole of `alert` was told and nobody acknowledged "
	            "within `escalate_after` (an outside contact, the manager)." },
	{ .name = "live_availability",
	    .type = CT_INT,
	    .off = offsetof(struct mode_conf, live_availability),
	    .min = 1,
	    .max = 3,
	    .def = "1",
	    .help = "Assets of at least this availability class (devices' "
	            "`availability`) are watched live; the problems of lower ones "
	            "go as `lower` says. 1: all." },
	{ .name = "lower",
	    .type = CT_ENUM,
	    .off = offsetof(struct mode_conf, lower),
	    .def = "digest",
	    .choices = mode_lower_names,
	    .help = "Problems of assets below `live_availability`: `digest`, one mail "
	            "a day at `staffing.digest_at`; `defer`, recorded and listed when "
	            "the mode ends. Both are in the journal and the incident's "
	            "timeline." },
	{ .name = "preapproved",
	    .type = CT_STRINGS,
	    .off = offsetof(struct mode_conf, preapproved),
	    .help = "Playbook `confirm` steps answered yes without waiting in this "
	            "mode, as `PLAYBOOK:STEP` (`*` and `?` as in file names): "
	            "load shedding a reduced unit cannot wait to approve. Each must "
	            "match a confirm step." },
	{ .name = "inspection",
	    .type = CT_ENUM,
	    .off = offsetof(struct mode_conf, inspection),
	    .def = "scheduled",
	    .choices = mode_inspection_names,
	    .help = "Routine self-inspection in this mode: `scheduled`, `deferred` "
	            "(owed, with the mode as the reason) or `suspended`; owed work "
	            "is listed when the mode ends." },
	{ 0 },
};

const struct conf_table conf_mode_table = {
	.name = "modes",
	.help = "Operating modes (docs/modes.md): who is alerted and how fast, which "
	        "assets are watched live, what automation may do alone. Unset: "
	        "normal, reduced (20% absent), minimum (40%) and disaster (declared), "
	        "as docs/modes.md lists them.",
	.size = sizeof(struct mode_conf),
	.keys = mode_keys,
	.check = mode_check,
	.release = mode_release,
};

/*
 * staffing
 */
static const struct conf_key staffing_keys[] = {
	{ .name = "auto",
	    .type = CT_BOOL,
	    .off = offsetof(struct conf, staffing.auto_mode),
	    .def = "true",
	    .help = "Choose the mode from the staff's availability (`absence`). "
	            "false: only declared modes." },
	{ .name = "hold",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, staffing.hold_ms),
	    .min = 0,
	    .max = 604800,
	    .def = "1h",
	    .help = "Hysteresis: how long availability must stay above a mode's "
	            "figure before the automatic mode steps back down (stepping up "
	            "is at once)." },
	{ .name = "digest_at",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, staffing.digest_at),
	    .min = 5,
	    .max = 5,
	    .def = "08:30",
	    .help = "When the daily digest of lower-class problems goes out, on the "
	            "site's wall clock (HH:MM)." },
	{ .name = "announce",
	    .type = CT_BOOL,
	    .off = offsetof(struct conf, staffing.announce),
	    .def = "true",
	    .help = "Mail every staff member with an address when the mode changes "
	            "(who, why, the headcount, what changes)." },
	{ 0 },
};

const struct conf_table conf_staffing_table = {
	.name = "staffing",
	.help = "How the operating mode follows the roster (docs/modes.md).",
	.keys = staffing_keys,
};

/*
 * The default modes, when the file has none (DOMAIN.md, staffing table).
 */
static void
strings_set(struct conf_strings *s, const char *const *v)
{
	for (; *v != NULL; v++)
		conf_strings_add(s, *v);
}

static void
modes_default(struct conf *conf)
{
	static const struct {
		const char *name, *title;
		int absence, chain, live, lower, inspection;
		int64_t esc_ms;
		const char *alert[4], *copy[2], *escalate_to[2];
	} d[] = {
		{ "normal", "通常体制 / Normal operations", 0, 1, 1, 0, 0, 15 * 60000,
		    { "on-duty", "deputy", "role:lead", NULL }, { NULL }, { NULL } },
		{ "reduced", "縮小体制 / Reduced staffing", 20, 0, 3, 0, 1, 10 * 60000,
		    { "everyone", NULL }, { "role:vendor", NULL },
		    { "role:lead", NULL } },
		{ "minimum", "最小体制 / Minimum staffing", 40, 0, 3, 1, 2, 5 * 60000,
		    { "everyone", "role:lead", "role:vendor", NULL }, { NULL },
		    { "role:outside", NULL } },
		{ "disaster", "災害体制 / Disaster response", 0, 0, 3, 1, 2, 5 * 60000,
		    { "everyone", "role:lead", "role:vendor", NULL }, { NULL },
		    { "role:outside", NULL } },
	};
	size_t i;

	conf->modes.items = xcalloc(NELEM(d), sizeof(struct mode_conf));
	conf->modes.n = NELEM(d);
	for (i = 0; i < NELEM(d); i++) {
		struct mode_conf *m = conf_mode(conf, i);
		m->name = xstrdup(d[i].name);
		m->title = xstrdup(d[i].title);
		m->absence = d[i].absence;
		m->chain = d[i].chain;
		m->live_availability = d[i].live;
		m->lower = d[i].lower;
		m->inspection = d[i].inspection;
		m->escalate_after_ms = d[i].esc_ms;
		strings_set(&m->alert, d[i].alert);
		strings_set(&m->copy, d[i].copy);
		strings_set(&m->escalate_to, d[i].escalate_to);
	}
}

/*
 * Checks across the file.
 */
static config_setting_t *
member_of(config_setting_t *root, const char *list, size_t i, const char *key)
{
	config_setting_t *l = config_setting_get_member(root, list), *e, *s;

	if (l == NULL || (e = config_setting_get_elem(l, (unsigned)i)) == NULL)
		return l != NULL ? l : root;
	if (key != NULL && (s = config_setting_get_member(e, key)) != NULL)
		return s;
	return e;
}

static int
role_exists(const struct conf *conf, const char *role)
{
	size_t i;

	for (i = 0; i < conf->staff.n; i++)
		if (conf_strings_has(&conf_staff(conf, i)->roles, role))
			return 1;
	return 0;
}

/* Is ref something a mode may name?  NULL, or why not. */
const char *
roster_ref_problem(const struct conf *conf, const char *ref, char *buf, size_t len)
{
	if (strcmp(ref, "on-duty") == 0 || strcmp(ref, "deputy") == 0 ||
	    strcmp(ref, "everyone") == 0)
		return NULL;
	if (strncmp(ref, "role:", 5) == 0) {
		if (role_exists(conf, ref + 5))
			return NULL;
		snprintf(buf, len, "\"%s\": no staff member has the role \"%s\"", ref,
		    ref + 5);
		return buf;
	}
	if (strchr(ref, '@') != NULL) {
		if (mail_address_valid(ref))
			return NULL;
		snprintf(buf, len, "\"%s\" is not a mail address (local@domain)", ref);
		return buf;
	}
	if (conf_staff_named(conf, ref) != NULL)
		return NULL;
	snprintf(buf, len,
	    "\"%s\" is no staff id, `role:NAME`, `on-duty`, `deputy`, `everyone` or "
	    "mail address",
	    ref);
	return buf;
}

/* Does pattern ("PLAYBOOK:STEP") match a confirm step of a loaded playbook? */
static int
preapproval_matches(const struct conf *conf, const char *pattern)
{
	size_t i, j;
	char key[160];

	for (i = 0; i < conf->playbooks.nloaded; i++) {
		const struct playbook *pb = conf->playbooks.loaded[i];
		for (j = 0; j < pb->steps.n; j++) {
			const struct pb_step *s = playbook_step(pb, j);
			if (s->type != PB_CONFIRM)
				continue;
			snprintf(key, sizeof(key), "%s:%s", pb->name, s->id);
			if (fnmatch(pattern, key, 0) == 0)
				return 1;
		}
	}
	return 0;
}

static void
staff_unique(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	size_t i, j;

	for (i = 0; i < conf->staff.n; i++)
		for (j = 0; j < i; j++) {
			const struct staff_conf *a = conf_staff(conf, i),
			                        *b = conf_staff(conf, j);
			if (a->id != NULL && b->id != NULL && strcmp(a->id, b->id) == 0) {
				conf_error(ctx, member_of(root, "staff", i, "id"),
				    "\"%s\" is already used at %s:%u", a->id,
				    b->origin.file, b->origin.line);
				break;
			}
		}
}

static void
schedule_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	const char *zone = conf->site.timezone;
	char err[256];
	size_t i, k;

	for (i = 0; i < conf->schedule.n; i++) {
		struct shift_conf *s = conf_shift(conf, i);
		struct window_text t = { .every = s->every, .duration = s->duration };
		const struct conf_strings *lists[] = { &s->on_duty, &s->deputy };
		const char *keys[] = { "on_duty", "deputy" };
		for (k = 0; k < NELEM(lists); k++)
			for (size_t n = 0; n < lists[k]->n; n++)
				if (conf_staff_named(conf, lists[k]->v[n]) == NULL)
					conf_error(ctx,
					    member_of(root, "schedule", i, keys[k]),
					    "no staff member \"%s\"", lists[k]->v[n]);
		if (s->every == NULL || s->duration == NULL || zone == NULL ||
		    !tz_valid(zone))
			continue;
		if ((s->w = window_parse(&t, zone, time_now_ms(), err, sizeof(err))) ==
		    NULL)
			conf_error(ctx,
			    member_of(root, "schedule", i,
			        strncmp(err, "for ", 4) == 0 ? "for" : "every"),
			    "%s", err);
	}
}

static void
modes_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	static const char *const ref_keys[] = { "alert", "copy", "escalate_to" };
	char buf[256];
	size_t i, j, k;

	if (conf->modes.n == 0) {
		modes_default(conf);
		return;
	}
	for (i = 0; i < conf->modes.n; i++) {
		struct mode_conf *m = conf_mode(conf, i);
		const struct conf_strings *refs[] = { &m->alert, &m->copy,
			&m->escalate_to };
		for (j = 0; j < i; j++)
			if (m->name != NULL && conf_mode(conf, j)->name != NULL &&
			    strcmp(m->name, conf_mode(conf, j)->name) == 0)
				conf_error(ctx, member_of(root, "modes", i, "name"),
				    "\"%s\" is already used at %s:%u", m->name,
				    conf_mode(conf, j)->origin.file,
				    conf_mode(conf, j)->origin.line);
		if (i == 0 && m->absence > 0)
			conf_error(ctx, member_of(root, "modes", i, "absence"),
			    "the first mode is the one with everyone at work: its "
			    "absence "
			    "must be 0");
		for (k = 0; k < NELEM(refs); k++)
			for (j = 0; j < refs[k]->n; j++)
				if (roster_ref_problem(
				        conf, refs[k]->v[j], buf, sizeof(buf)) != NULL)
					conf_error(ctx,
					    member_of(root, "modes", i, ref_keys[k]),
					    "%s", buf);
		for (j = 0; j < m->preapproved.n; j++)
			if (!preapproval_matches(conf, m->preapproved.v[j]))
				conf_error(ctx,
				    member_of(root, "modes", i, "preapproved"),
				    "\"%s\" matches no confirm step of the playbooks "
				    "(PLAYBOOK:STEP)",
				    m->preapproved.v[j]);
	}
}

/* Routes' `modes` and set-mode steps must name configured modes. */
static void
mode_names_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	size_t i, j;

	for (i = 0; i < conf->routes.n; i++) {
		const struct route_conf *r = conf_route(conf, i);
		for (j = 0; j < r->modes.n; j++)
			if (conf_mode_named(conf, r->modes.v[j]) == NULL)
				conf_error(ctx, member_of(root, "routes", i, "modes"),
				    "no operating mode \"%s\" (modes[])", r->modes.v[j]);
	}
	for (i = 0; i < conf->playbooks.nloaded; i++) {
		const struct playbook *pb = conf->playbooks.loaded[i];
		for (j = 0; j < pb->steps.n; j++) {
			const struct pb_step *s = playbook_step(pb, j);
			/* The loader takes only a plain name (no ${param}). */
			if (s->type == PB_SET_MODE && s->mode != NULL &&
			    conf_mode_named(conf, s->mode) == NULL)
				conf_error_at(ctx, s->origin.file, s->origin.line, 0,
				    "step %s: set-mode: no operating mode \"%s\" in the "
				    "site's modes[]",
				    s->id, s->mode);
		}
	}
}

static void
digest_at_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	const char *t = conf->staffing.digest_at;
	config_setting_t *g = config_setting_get_member(root, "staffing");

	if (t == NULL)
		return;
	if (!(isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) &&
	        t[2] == ':' && isdigit((unsigned char)t[3]) &&
	        isdigit((unsigned char)t[4]) && (t[0] - '0') * 10 + (t[1] - '0') < 24 &&
	        t[3] < '6'))
		conf_error(ctx,
		    g != NULL && config_setting_get_member(g, "digest_at") != NULL
		        ? config_setting_get_member(g, "digest_at")
		        : root,
		    "\"%s\": a time of day, HH:MM", t);
}

void
schema_roster_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	staff_unique(ctx, root, conf);
	schedule_check(ctx, root, conf);
	modes_check(ctx, root, conf);
	mode_names_check(ctx, root, conf);
	digest_at_check(ctx, root, conf);
}

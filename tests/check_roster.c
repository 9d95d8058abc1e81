/*
 * roster.c: who the references of a mode name (on duty, deputies, roles,
 * everyone, the schedule's shifts), the headcount, the automatic mode (up at
 * once, down only after staffing.hold, to the exact millisecond), declared
 * modes until `mode auto`, --until ending by itself, deferred work listed
 * when its mode ends, the announcement, reload, and the snapshot's JSON read
 * back the same.  No loop: every call is given its time.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define HOLD_MS (10 * 60000)

static const char *const site_text =
    "site: { name = \"roster test\"; timezone = \"Asia/Tokyo\"; };\n"
    "staff = (\n"
    "  { id = \"aoki\"; name = \"青木\"; email = \"aoki@city.example.jp\";\n"
    "    roles = [\"on-duty\", \"lead\"]; },\n"
    "  { id = \"baba\"; name = \"馬場\"; email = \"baba@city.example.jp\";\n"
    "    roles = [\"deputy\"]; },\n"
    "  { id = \"chiba\"; name = \"千葉\"; email = \"chiba@city.example.jp\"; },\n"
    "  { id = \"doi\"; name = \"土井\"; email = \"doi@city.example.jp\"; },\n"
    "  { id = \"endo\"; name = \"遠藤\"; },\n"
    "  { id = \"vendor\"; name = \"Vendor KK\"; email = \"support@vendor.example\";\n"
    "    roles = [\"vendor\"]; counted = false; }\n"
    ");\n"
    "%s"
    "modes = (\n"
    "  { name = \"normal\"; alert = [\"on-duty\", \"deputy\", \"role:lead\"]; },\n"
    "  { name = \"reduced\"; title = \"縮小体制 / Reduced staffing\"; absence = 20;\n"
    "    alert = [\"everyone\"]; chain = false; copy = [\"role:vendor\"];\n"
    "    live_availability = 3; lower = \"defer\"; },\n"
    "  { name = \"minimum\"; absence = 40; alert = [\"everyone\", "
    "\"ops@city.example.jp\"]; chain = false;\n"
    "    inspection = \"suspended\"; },\n"
    "  { name = \"disaster\"; alert = [\"everyone\"]; chain = false; }\n"
    ");\n"
    "staffing: { %s };\n";

static const char *const schedule_text =
    "schedule = (\n"
    "  { every = \"daily 09:00\"; for = \"12h\"; on_duty = [\"chiba\"];\n"
    "    deputy = [\"doi\"]; comment = \"day\"; },\n"
    "  { every = \"daily 21:00\"; for = \"12h\"; on_duty = [\"doi\", \"chiba\"]; }\n"
    ");\n";

/* What the hooks saw. */
static json_t *events; /* [{"actor", "event", "data"}] */
static json_t *mails;  /* [{"title", "body", "to": [...], "actor"}] */
static int saves;
static struct conf *conf;
static struct roster *r;

static void
h_journal(void *arg, const char *actor, const char *event, json_t *data)
{
	(void)arg;
	json_array_append_new(events,
	    json_pack("{s:s, s:s, s:o}", "actor", actor, "event", event, "data", data));
}

static void
h_save(void *arg, int now)
{
	(void)arg;
	saves += now;
}

static void
h_announce(void *arg, const char *title, const char *body, const struct conf_strings *to,
    const char *actor)
{
	(void)arg;
	json_array_append_new(
	    mails, json_pack("{s:s, s:s, s:o, s:s}", "title", title, "body", body, "to",
	               conf_strings_json(to), "actor", actor));
}

static const struct roster_hooks hooks = {
	.journal = h_journal,
	.save = h_save,
	.announce = h_announce,
};

/* An instant on the site's wall clock, "2026-11-26T10:00". */
static int64_t
at(const char *s)
{
	int64_t t;
	char buf[64];

	snprintf(buf, sizeof(buf), "%s+09:00", s);
	ck_assert_msg(time_parse(buf, 0, &t) == 0, "%s", buf);
	return t;
}

static struct conf *
load(int schedule, const char *staffing)
{
	struct conf_errors errs = { NULL, 0 };
	char *text;
	struct conf *c;

	xasprintf(&text, site_text, schedule ? schedule_text : "",
	    strstr(staffing, "hold") != NULL ? staffing : "hold = \"10min\";");
	c = conf_load_string(text, "<roster>", &errs);
	ck_assert_msg(c != NULL, "%s", errs.n ? errs.v[0] : "?");
	conf_errors_clear(&errs);
	free(text);
	return c;
}

static void
start(int schedule, const char *staffing, int64_t now)
{
	conf = load(schedule, staffing);
	r = roster_new(NULL, conf, &hooks, NULL, now);
	roster_start(r, now);
}

static void
setup(void)
{
	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	events = json_array();
	mails = json_array();
	saves = 0;
	conf = NULL;
	r = NULL;
}

static void
teardown(void)
{
	roster_free(r);
	conf_free(conf);
	json_decref(events);
	json_decref(mails);
}

/* The addresses refs (comma-separated) resolve to at now, comma-joined. */
static const char *
resolved(const char *refs, int64_t now)
{
	static char out[512];
	struct conf_strings in = { NULL, 0 }, got = { NULL, 0 };
	char *copy = xstrdup(refs), *save = NULL, *w;
	size_t i, off = 0;

	for (w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save))
		conf_strings_add(&in, w);
	ck_assert_uint_eq(roster_resolve(r, &in, now, &got), got.n);
	out[0] = '\0';
	for (i = 0; i < got.n; i++)
		off += (size_t)snprintf(
		    out + off, sizeof(out) - off, "%s%s", i ? "," : "", got.v[i]);
	conf_strings_free(&in);
	conf_strings_free(&got);
	free(copy);
	return out;
}

static void
set(const char *id, int available, int64_t until, int64_t now)
{
	char err[256];

	ck_assert_msg(roster_set_staff(r, id, available, until, "root(0)", "test", now,
	                  err, sizeof(err)) == 0,
	    "%s", err);
}

/* The last journal entry of event, or NULL. */
static json_t *
last(const char *event)
{
	size_t i = json_array_size(events);

	while (i-- > 0)
		if (strcmp(json_string_value(
		               json_object_get(json_array_get(events, i), "event")),
		        event) == 0)
			return json_array_get(events, i);
	return NULL;
}

static size_t
count(const char *event)
{
	size_t i, n = 0;

	for (i = 0; i < json_array_size(events); i++)
		n += strcmp(json_string_value(
		                json_object_get(json_array_get(events, i), "event")),
		         event) == 0;
	return n;
}

static const char *
dstr(json_t *e, const char *k)
{
	return json_string_value(json_object_get(json_object_get(e, "data"), k));
}

START_TEST(resolve_references)
{
	int64_t day = at("2026-11-26T10:00");

	start(1, "", day);
	ck_assert_str_eq(resolved("on-duty", day), "chiba@city.example.jp");
	ck_assert_str_eq(resolved("deputy", day), "doi@city.example.jp");
	ck_assert_str_eq(resolved("role:lead", day), "aoki@city.example.jp");
	/* everyone: counted and mailable, in config order; not the vendor */
	ck_assert_str_eq(resolved("everyone", day),
	    "aoki@city.example.jp,baba@city.example.jp,chiba@city.example.jp,"
	    "doi@city.example.jp");
	ck_assert_str_eq(resolved("role:vendor", day), "support@vendor.example");
	ck_assert_str_eq(resolved("ops@city.example.jp", day), "ops@city.example.jp");
	/* in order, no repeats */
	ck_assert_str_eq(resolved("chiba,on-duty,aoki,role:lead", day),
	    "chiba@city.example.jp,aoki@city.example.jp");
	/* nobody without an email, unknown ids name nobody */
	ck_assert_str_eq(resolved("endo", day), "");
	ck_assert_str_eq(resolved("nobody-here", day), "");
	/* unavailable people are not told */
	set("aoki", 0, 0, day);
	ck_assert_str_eq(resolved("role:lead,aoki", day), "");
}
END_TEST

START_TEST(resolve_on_duty_falls_back)
{
	int64_t day = at("2026-11-26T10:00"), night = at("2026-11-26T22:00");

	start(1, "", day);
	/* The day shift's on duty is away: its deputy is on duty. */
	set("chiba", 0, 0, day);
	ck_assert_str_eq(resolved("on-duty", day), "doi@city.example.jp");
	ck_assert_str_eq(resolved("deputy", day), "doi@city.example.jp");
	/* The night shift: doi and chiba on duty, chiba away: doi alone. */
	ck_assert_str_eq(resolved("on-duty", night), "doi@city.example.jp");
	/* Both away; the night shift names no deputy: the role's. */
	set("doi", 0, 0, night);
	ck_assert_str_eq(resolved("on-duty", night), "baba@city.example.jp");
	ck_assert_str_eq(resolved("deputy", night), "baba@city.example.jp");
	/* Shifts change with the clock: 08:59 is still the night shift's. */
	set("doi", 1, 0, night);
	set("chiba", 1, 0, night);
	ck_assert_str_eq(resolved("on-duty", at("2026-11-27T08:59")),
	    "doi@city.example.jp,chiba@city.example.jp");
	ck_assert_str_eq(
	    resolved("on-duty", at("2026-11-27T09:00")), "chiba@city.example.jp");
}
END_TEST

START_TEST(resolve_without_schedule)
{
	int64_t now = at("2026-11-26T10:00");
	json_t *o, *e;

	start(0, "", now);
	ck_assert_ptr_null(roster_shift(r, now));
	ck_assert_str_eq(resolved("on-duty", now), "aoki@city.example.jp");
	ck_assert_str_eq(resolved("deputy", now), "baba@city.example.jp");
	set("aoki", 0, 0, now);
	ck_assert_str_eq(resolved("on-duty", now), "baba@city.example.jp");
	o = roster_staff_json(r, now);
	e = json_array_get(json_object_get(o, "staff"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "id")), "aoki");
	ck_assert(json_is_true(json_object_get(e, "on_duty")));
	ck_assert(json_is_false(json_object_get(e, "available")));
	ck_assert(json_is_null(json_object_get(o, "shift")));
	json_decref(o);
}
END_TEST

START_TEST(headcount_counts_counted_staff)
{
	int64_t now = at("2026-11-26T10:00");
	struct roster_headcount hc;

	start(1, "", now);
	roster_headcount(r, &hc);
	ck_assert_int_eq(hc.total, 5);
	ck_assert_int_eq(hc.available, 5);
	ck_assert_int_eq(hc.absent_pct, 0);
	set("vendor", 0, 0, now); /* not counted */
	roster_headcount(r, &hc);
	ck_assert_int_eq(hc.absent, 0);
	ck_assert_str_eq(roster_mode(r), "normal");
	set("endo", 0, 0, now);
	set("doi", 0, 0, now);
	roster_headcount(r, &hc);
	ck_assert_int_eq(hc.total, 5);
	ck_assert_int_eq(hc.available, 3);
	ck_assert_int_eq(hc.absent, 2);
	ck_assert_int_eq(hc.absent_pct, 40);
}
END_TEST

START_TEST(auto_steps_up_at_once)
{
	int64_t now = at("2026-11-26T10:00");
	json_t *e, *hc;

	start(1, "", now);
	ck_assert_str_eq(roster_mode(r), "normal");
	ck_assert_uint_eq(count("mode.set"), 0);
	set("chiba", 0, 0, now);
	ck_assert_str_eq(roster_mode(r), "reduced");
	ck_assert(!roster_declared(r));
	e = last("mode.set");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(dstr(e, "from"), "normal");
	ck_assert_str_eq(dstr(e, "to"), "reduced");
	ck_assert_str_eq(dstr(e, "source"), "auto");
	ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), "root(0)");
	ck_assert_ptr_nonnull(strstr(dstr(e, "why"), "1 of 5"));
	ck_assert_ptr_nonnull(strstr(dstr(e, "why"), "chiba unavailable"));
	hc = json_object_get(json_object_get(e, "data"), "headcount");
	ck_assert_int_eq(json_integer_value(json_object_get(hc, "absent")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(hc, "absent_pct")), 20);
	ck_assert_int_eq(json_integer_value(json_object_get(hc, "total")), 5);
	/* staff.set comes first, with the headcount after the change */
	e = last("staff.set");
	ck_assert_str_eq(dstr(e, "id"), "chiba");
	ck_assert(
	    json_is_false(json_object_get(json_object_get(e, "data"), "available")));
	/* 2 of 5: minimum at once, from reduced */
	set("doi", 0, 0, now + 1);
	ck_assert_str_eq(roster_mode(r), "minimum");
	ck_assert_uint_eq(count("mode.set"), 2);
	ck_assert_ptr_null(roster_pending(r, NULL));
	ck_assert_int_ge(saves, 4);
}
END_TEST

START_TEST(auto_steps_down_after_hold)
{
	int64_t t0 = at("2026-11-26T10:00"), due = 0;

	start(1, "", t0);
	set("chiba", 0, 0, t0);
	set("doi", 0, 0, t0);
	ck_assert_str_eq(roster_mode(r), "minimum");
	/* Both back: the target is normal, but only after the hold. */
	set("chiba", 1, 0, t0 + 1000);
	set("doi", 1, 0, t0 + 1000);
	ck_assert_str_eq(roster_mode(r), "minimum");
	ck_assert_str_eq(roster_auto_target(r)->name, "normal");
	ck_assert_str_eq(roster_pending(r, &due), "reduced");
	/* The most stretched target seen since the pending began: reduced. */
	ck_assert_int_eq(due, t0 + 1000 + HOLD_MS);
	roster_tick(r, t0 + 1000 + HOLD_MS - 1);
	ck_assert_str_eq(roster_mode(r), "minimum");
	roster_tick(r, t0 + 1000 + HOLD_MS);
	ck_assert_str_eq(roster_mode(r), "reduced");
	ck_assert_str_eq(
	    json_string_value(json_object_get(last("mode.set"), "actor")), "sonaed");
	/* The next step waits its own hold. */
	ck_assert_str_eq(roster_pending(r, &due), "normal");
	ck_assert_int_eq(due, t0 + 1000 + 2 * HOLD_MS);
	roster_tick(r, t0 + 1000 + 2 * HOLD_MS - 1);
	ck_assert_str_eq(roster_mode(r), "reduced");
	roster_tick(r, t0 + 1000 + 2 * HOLD_MS);
	ck_assert_str_eq(roster_mode(r), "normal");
	ck_assert_ptr_null(roster_pending(r, NULL));
}
END_TEST

START_TEST(pending_step_down_is_called_off)
{
	int64_t t0 = at("2026-11-26T10:00");

	start(1, "", t0);
	set("chiba", 0, 0, t0);
	set("chiba", 1, 0, t0 + 1);
	ck_assert_str_eq(roster_mode(r), "reduced");
	ck_assert_str_eq(roster_pending(r, NULL), "normal");
	/* Away again before the hold: no step down, and the hold starts over. */
	set("chiba", 0, 0, t0 + HOLD_MS / 2);
	ck_assert_ptr_null(roster_pending(r, NULL));
	set("chiba", 1, 0, t0 + HOLD_MS / 2 + 1);
	roster_tick(r, t0 + HOLD_MS + 1);
	ck_assert_str_eq(roster_mode(r), "reduced");
	roster_tick(r, t0 + HOLD_MS / 2 + 1 + HOLD_MS);
	ck_assert_str_eq(roster_mode(r), "normal");
}
END_TEST

START_TEST(hold_zero_steps_down_at_once)
{
	int64_t t0 = at("2026-11-26T10:00");

	conf = NULL;
	start(1, "hold = 0;", t0);
	set("chiba", 0, 0, t0);
	set("doi", 0, 0, t0);
	ck_assert_str_eq(roster_mode(r), "minimum");
	set("doi", 1, 0, t0 + 1);
	set("chiba", 1, 0, t0 + 2);
	ck_assert_str_eq(roster_mode(r), "normal");
}
END_TEST

START_TEST(declared_overrides_auto)
{
	int64_t t0 = at("2026-11-26T10:00");
	char err[256];
	json_t *e;

	start(1, "", t0);
	ck_assert_int_eq(
	    roster_declare(r, "disaster", "root(0)", "earthquake", t0, err, sizeof(err)),
	    0);
	ck_assert_str_eq(roster_mode(r), "disaster");
	ck_assert(roster_declared(r));
	e = last("mode.set");
	ck_assert_str_eq(dstr(e, "source"), "declared");
	ck_assert_str_eq(dstr(e, "why"), "earthquake");
	/* The headcount does not move a declared mode. */
	set("chiba", 0, 0, t0 + 1);
	set("doi", 0, 0, t0 + 2);
	set("aoki", 0, 0, t0 + 3);
	roster_tick(r, t0 + 10 * HOLD_MS);
	ck_assert_str_eq(roster_mode(r), "disaster");
	ck_assert_ptr_null(roster_pending(r, NULL));
	/* mode auto: straight to the target, no hold. */
	set("aoki", 1, 0, t0 + 4);
	set("doi", 1, 0, t0 + 5);
	ck_assert_int_eq(roster_auto(r, "root(0)", NULL, t0 + 6), 0);
	ck_assert_str_eq(roster_mode(r), "reduced");
	ck_assert(!roster_declared(r));
	ck_assert_str_eq(dstr(last("mode.set"), "source"), "auto");
	ck_assert_int_eq(roster_auto(r, "root(0)", NULL, t0 + 7), 1);
	/* An unknown mode is refused, and says which there are. */
	ck_assert_int_eq(
	    roster_declare(r, "panic", "root(0)", "x", t0 + 8, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no operating mode \"panic\" (modes here: normal, reduced, "
	                      "minimum, disaster)");
	ck_assert_str_eq(roster_mode(r), "reduced");
}
END_TEST

START_TEST(auto_off_only_declared)
{
	int64_t t0 = at("2026-11-26T10:00");

	start(1, "hold = \"10min\"; auto = false;", t0);
	set("chiba", 0, 0, t0);
	set("doi", 0, 0, t0);
	set("aoki", 0, 0, t0);
	ck_assert_str_eq(roster_mode(r), "normal");
	ck_assert_uint_eq(count("mode.set"), 0);
}
END_TEST

START_TEST(until_ends_by_itself)
{
	int64_t t0 = at("2026-11-26T10:00");
	char err[256];
	json_t *e;

	start(1, "", t0);
	set("chiba", 0, t0 + 60000, t0);
	ck_assert_str_eq(roster_mode(r), "reduced");
	roster_tick(r, t0 + 59999);
	ck_assert_str_eq(roster_mode(r), "reduced");
	ck_assert_uint_eq(count("staff.set"), 1);
	roster_tick(r, t0 + 60000);
	e = last("staff.set");
	ck_assert_uint_eq(count("staff.set"), 2);
	ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), "sonaed");
	ck_assert_str_eq(dstr(e, "id"), "chiba");
	ck_assert(json_is_true(json_object_get(json_object_get(e, "data"), "available")));
	ck_assert_ptr_nonnull(
	    strstr(dstr(e, "why"), "until 2026-11-26T10:01:00.000+09:00 passed"));
	ck_assert_str_eq(roster_pending(r, NULL), "normal");
	/* Refusals: the past, an unknown id, --until with available. */
	ck_assert_int_eq(roster_set_staff(r, "chiba", 0, t0, "root(0)", "x", t0 + 60000,
	                     err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "--until: the time is not in the future");
	ck_assert_int_eq(
	    roster_set_staff(r, "zed", 0, 0, "root(0)", "x", t0, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no staff member \"zed\" (sonae staff lists them)");
	ck_assert_int_eq(roster_set_staff(r, "chiba", 1, t0 + 120000, "root(0)", "x",
	                     t0 + 60000, err, sizeof(err)),
	    -1);
}
END_TEST

START_TEST(deferred_listed_when_mode_ends)
{
	int64_t t0 = at("2026-11-26T10:00");
	json_t *e, *items, *m;
	const char *body;

	start(1, "hold = 0;", t0);
	set("chiba", 0, 0, t0);
	roster_defer(r, 12, "incident 12 (leak-2f, class 1): deferred", t0 + 1);
	roster_defer(r, 13, "incident 13 (temp-3f, class 2): deferred", t0 + 2);
	m = roster_mode_json(r, t0 + 3);
	ck_assert_uint_eq(json_array_size(json_object_get(m, "deferred")), 2);
	json_decref(m);
	ck_assert_uint_eq(count("mode.deferred"), 0);
	set("chiba", 1, 0, t0 + 4);
	ck_assert_str_eq(roster_mode(r), "normal");
	e = last("mode.deferred");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(dstr(e, "mode"), "reduced");
	items = json_object_get(json_object_get(e, "data"), "items");
	ck_assert_uint_eq(json_array_size(items), 2);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(items, 0), "incident")),
	    12);
	/* The announcement of the change lists them too. */
	body = json_string_value(json_object_get(json_array_get(mails, 1), "body"));
	ck_assert_ptr_nonnull(strstr(body, "Deferred while reduced lasted"));
	ck_assert_ptr_nonnull(strstr(body, "incident 13 (temp-3f, class 2)"));
	m = roster_mode_json(r, t0 + 5);
	ck_assert_uint_eq(json_array_size(json_object_get(m, "deferred")), 0);
	json_decref(m);
}
END_TEST

/* A mode that suspends self-inspection leaves it owed when it ends. */
START_TEST(inspection_owed_when_mode_ends)
{
	int64_t t0 = at("2026-11-26T10:00");
	char err[256];
	json_t *e, *items, *item;
	const char *what;

	start(1, "hold = 0;", t0);
	ck_assert_int_eq(
	    roster_declare(r, "minimum", "aoki(1000)", "typhoon", t0, err, sizeof(err)),
	    0);
	roster_auto(r, "aoki(1000)", "over", t0 + 60000);
	ck_assert_str_eq(roster_mode(r), "normal");
	e = last("mode.deferred");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(dstr(e, "mode"), "minimum");
	items = json_object_get(json_object_get(e, "data"), "items");
	ck_assert_uint_eq(json_array_size(items), 1);
	item = json_array_get(items, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(item, "incident")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(item, "time_ms")), t0);
	what = json_string_value(json_object_get(item, "what"));
	ck_assert_ptr_nonnull(
	    strstr(what, "self-inspection suspended while minimum lasted"));
	/* Leaving normal (inspection as scheduled) owes nothing. */
	ck_assert_int_eq(roster_declare(r, "disaster", "aoki(1000)", "quake", t0 + 70000,
	                     err, sizeof(err)),
	    0);
	ck_assert_uint_eq(count("mode.deferred"), 1);
}
END_TEST

START_TEST(announcement_to_every_address)
{
	int64_t t0 = at("2026-11-26T10:00");
	json_t *mail, *want;
	const char *body;

	start(1, "", t0);
	set("endo", 0, at("2026-11-27T09:00"), t0);
	ck_assert_uint_eq(json_array_size(mails), 1);
	mail = json_array_get(mails, 0);
	ck_assert_str_eq(json_string_value(json_object_get(mail, "title")),
	    "縮小体制 / Reduced staffing (reduced) — 1 of 5 absent");
	want =
	    json_pack("[s, s, s, s, s]", "aoki@city.example.jp", "baba@city.example.jp",
	        "chiba@city.example.jp", "doi@city.example.jp", "support@vendor.example");
	ck_assert(json_equal(json_object_get(mail, "to"), want));
	json_decref(want);
	body = json_string_value(json_object_get(mail, "body"));
	ck_assert_ptr_nonnull(strstr(body, "normal → reduced"));
	ck_assert_ptr_nonnull(strstr(body, "4 of 5 available, 1 absent (20%)"));
	ck_assert_ptr_nonnull(
	    strstr(body, "遠藤 (endo) until 2026-11-27T09:00:00.000+09:00"));
	ck_assert_ptr_nonnull(strstr(body, "everyone: aoki@city.example.jp, baba@"));
	ck_assert_ptr_nonnull(strstr(body, "role:vendor: support@vendor.example"));
	ck_assert_ptr_nonnull(strstr(body, "availability class 3 and above"));
	/* A declared mode of the same name is journaled, not mailed again. */
	ck_assert_int_eq(
	    roster_declare(r, "reduced", "root(0)", "hold it", t0 + 1, NULL, 0), 0);
	ck_assert_uint_eq(json_array_size(mails), 1);
}
END_TEST

START_TEST(preapproved_by_the_mode)
{
	int64_t t0 = at("2026-11-26T10:00");

	start(1, "", t0);
	conf_strings_add(&conf_mode(conf, 1)->preapproved, "shed-load:cut-*");
	ck_assert_ptr_null(roster_preapproved(r, "shed-load", "cut-tier3"));
	set("chiba", 0, 0, t0);
	ck_assert_str_eq(roster_preapproved(r, "shed-load", "cut-tier3"), "reduced");
	ck_assert_ptr_null(roster_preapproved(r, "shed-load", "restore"));
	ck_assert_ptr_null(roster_preapproved(r, "other", "cut-tier3"));
}
END_TEST

START_TEST(snapshot_round_trip)
{
	int64_t t0 = at("2026-11-26T10:00");
	struct roster *r2;
	json_t *a, *b, *ma, *mb;
	char err[256];

	start(1, "", t0);
	set("chiba", 0, t0 + 3600000, t0);
	set("doi", 0, 0, t0 + 1);
	roster_defer(r, 7, "incident 7: deferred", t0 + 2);
	set("doi", 1, 0, t0 + 3); /* minimum, stepping down to reduced */
	ck_assert_str_eq(roster_pending(r, NULL), "reduced");
	a = roster_to_json(r);
	r2 = roster_new(NULL, conf, &hooks, NULL, t0 + 10);
	ck_assert_int_eq(roster_from_json(r2, a, err, sizeof(err)), 0);
	b = roster_to_json(r2);
	ck_assert_msg(json_equal(a, b), "%s\n%s", json_dumps(a, 0), json_dumps(b, 0));
	ma = roster_mode_json(r, t0 + 4);
	mb = roster_mode_json(r2, t0 + 4);
	ck_assert(json_equal(ma, mb));
	json_decref(ma);
	json_decref(mb);
	ma = roster_staff_json(r, t0 + 4);
	mb = roster_staff_json(r2, t0 + 4);
	ck_assert(json_equal(ma, mb));
	json_decref(ma);
	json_decref(mb);
	json_decref(b);
	roster_free(r2);
	/* A declared mode too. */
	ck_assert_int_eq(roster_declare(r, "disaster", "run 3", "earthquake", t0 + 5, err,
	                     sizeof(err)),
	    0);
	json_decref(a);
	a = roster_to_json(r);
	r2 = roster_new(NULL, conf, &hooks, NULL, t0 + 10);
	ck_assert_int_eq(roster_from_json(r2, a, err, sizeof(err)), 0);
	ck_assert_str_eq(roster_mode(r2), "disaster");
	ck_assert(roster_declared(r2));
	roster_free(r2);
	json_decref(a);
	/* An older snapshot's plain mode: declared unless the first. */
	r2 = roster_new(NULL, conf, &hooks, NULL, t0);
	roster_restore_mode(r2, "disaster");
	ck_assert(roster_declared(r2));
	roster_restore_mode(r2, "normal");
	ck_assert(!roster_declared(r2));
	roster_free(r2);
	/* Not a roster. */
	a = json_pack("{s:i}", "mode", 3);
	r2 = roster_new(NULL, conf, &hooks, NULL, t0);
	ck_assert_int_eq(roster_from_json(r2, a, err, sizeof(err)), -1);
	roster_free(r2);
	json_decref(a);
}
END_TEST

START_TEST(reload_keeps_availability)
{
	int64_t t0 = at("2026-11-26T10:00");
	struct conf_errors errs = { NULL, 0 };
	struct conf *nc;
	char err[256];

	start(1, "", t0);
	set("chiba", 0, 0, t0);
	ck_assert_int_eq(
	    roster_declare(r, "disaster", "root(0)", "flood", t0 + 1, err, sizeof(err)),
	    0);
	/* The new file: chiba stays, doi goes, no disaster mode. */
	nc = conf_load_string(
	    "site: { name = \"roster test\"; };\n"
	    "staff = (\n"
	    "  { id = \"aoki\"; name = \"A\"; email = \"aoki@city.example.jp\"; },\n"
	    "  { id = \"chiba\"; name = \"C\"; email = \"chiba@city.example.jp\"; },\n"
	    "  { id = \"endo\"; name = \"E\"; }\n"
	    ");\n"
	    "modes = ( { name = \"normal\"; alert = [\"everyone\"]; },\n"
	    "  { name = \"short\"; absence = 30; alert = [\"everyone\"]; } );\n",
	    "<reload>", &errs);
	ck_assert_msg(nc != NULL, "%s", errs.n ? errs.v[0] : "?");
	roster_configure(r, nc, "root(0)", t0 + 2);
	conf_free(conf);
	conf = nc;
	/* 1 of 3 absent (33%): short, the declared mode being gone. */
	ck_assert_str_eq(roster_mode(r), "short");
	ck_assert(!roster_declared(r));
	ck_assert_ptr_nonnull(
	    strstr(dstr(last("mode.set"), "why"), "\"disaster\" is not"));
	ck_assert_str_eq(resolved("everyone", t0 + 3), "aoki@city.example.jp");
}
END_TEST

/* staff set's words, as verbs.c reads them (the time in the site's zone). */
START_TEST(staff_set_args)
{
	static const struct {
		const char *argv[8];
		int r;
		int available;
		int64_t until_after_ms; /* -1: no --until */
		const char *err;
	} cases[] = {
		{ { "chiba", "unavailable", "-m", "fever", NULL }, 0, 0, -1, NULL },
		{ { "chiba", "available", "-m", "back", NULL }, 0, 1, -1, NULL },
		{ { "-m", "x", "chiba", "unavailable", "--until", "3d", NULL }, 0, 0,
		    3 * 86400000LL, NULL },
		{ { "chiba", "unavailable", "--until", "2026-11-26T11:00", "-m", "x",
		      NULL },
		    0, 0, 3600000, NULL },
		{ { "chiba", "unavailable", "--until", "2026-11-26T11:00+00:00", "-m",
		      "x", NULL },
		    0, 0, 9 * 3600000LL + 3600000, NULL },
		{ { "chiba", "unavailable", NULL }, VERBS_BAD_USAGE, 0, -1,
		    "-m TEXT is required" },
		{ { "-m", "x", NULL }, VERBS_BAD_USAGE, 0, -1, "give the staff ID" },
		{ { "chiba", "-m", "x", NULL }, VERBS_BAD_USAGE, 0, -1,
		    "say available or unavailable" },
		{ { "chiba", "away", "-m", "x", NULL }, VERBS_BAD_USAGE, 0, -1,
		    "\"away\": want available or unavailable" },
		{ { "chiba", "available", "--until", "2h", "-m", "x", NULL },
		    VERBS_BAD_USAGE, 0, -1, "--until goes with unavailable" },
		{ { "chiba", "unavailable", "--until", "2026-11-26T09:59", "-m", "x",
		      NULL },
		    VERBS_BAD_VALUE, 0, -1,
		    "--until \"2026-11-26T09:59\": not in the future" },
		{ { "chiba", "unavailable", "--until", "soon", "-m", "x", NULL },
		    VERBS_BAD_VALUE, 0, -1, NULL },
		{ { "chiba", "unavailable", "-m", " ", NULL }, VERBS_BAD_VALUE, 0, -1,
		    "-m: the text is empty" },
		{ { "chiba", "unavailable", "x", "-m", "y", NULL }, VERBS_BAD_USAGE, 0,
		    -1, "unexpected argument \"x\"" },
	};
	int64_t now = at("2026-11-26T10:00"), until;
	const char *id, *text;
	char err[400];
	size_t i;
	int argc, rc, available;

	for (i = 0; i < NELEM(cases); i++) {
		for (argc = 0; cases[i].argv[argc] != NULL; argc++)
			;
		err[0] = '\0';
		available = -1;
		rc = verbs_staff_set_args(argc, (char **)(uintptr_t)cases[i].argv, now,
		    &id, &available, &until, &text, err, sizeof(err));
		ck_assert_msg(rc == cases[i].r, "case %zu: %d %s", i, rc, err);
		if (rc != 0) {
			if (cases[i].err != NULL)
				ck_assert_str_eq(err, cases[i].err);
			else
				ck_assert_ptr_nonnull(strstr(err, "--until \""));
			continue;
		}
		ck_assert_str_eq(id, "chiba");
		ck_assert_int_eq(available, cases[i].available);
		ck_assert_msg(
		    until ==
		        (cases[i].until_after_ms < 0 ? 0 : now + cases[i].until_after_ms),
		    "case %zu: until %lld", i, (long long)until);
	}
}
END_TEST

static Suite *
roster_suite(void)
{
	Suite *s = suite_create("roster");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, resolve_references);
	tcase_add_test(tc, resolve_on_duty_falls_back);
	tcase_add_test(tc, resolve_without_schedule);
	tcase_add_test(tc, headcount_counts_counted_staff);
	suite_add_tcase(s, tc);

	tc = tcase_create("mode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, auto_steps_up_at_once);
	tcase_add_test(tc, auto_steps_down_after_hold);
	tcase_add_test(tc, pending_step_down_is_called_off);
	tcase_add_test(tc, hold_zero_steps_down_at_once);
	tcase_add_test(tc, declared_overrides_auto);
	tcase_add_test(tc, auto_off_only_declared);
	tcase_add_test(tc, until_ends_by_itself);
	tcase_add_test(tc, deferred_listed_when_mode_ends);
	tcase_add_test(tc, inspection_owed_when_mode_ends);
	tcase_add_test(tc, announcement_to_every_address);
	tcase_add_test(tc, preapproved_by_the_mode);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, reload_keeps_availability);
	suite_add_tcase(s, tc);

	tc = tcase_create("verbs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, staff_set_args);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(roster_suite());
}

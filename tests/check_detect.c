/*
 * detect.c: rules and checks opening, changing and resolving incidents;
 * inhibition, parents and the observer folding what follows from one cause
 * into one incident; acknowledgements; declared incidents; resolving by hand;
 * maintenance windows holding notifications back; the state surviving a new
 * daemon.  Samples go into the store as a probe's would, and the contact of
 * devices is set as the scheduler would; nothing is polled.
 */
#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

static const char *tmpdir;
static char *conf_path;
static struct event_base *base;
static struct daemon *d;
static struct detect *e;

static const char *const devices_text =
    "devices = (\n"
    "  { name = \"gw\"; kind = \"router\"; replay = { scenario = \"x.replay\"; }; },\n"
    "  { name = \"ups1\"; kind = \"ups\"; replay = { scenario = \"x.replay\"; }; },\n"
    "  { name = \"wan1\"; kind = \"router\"; replay = { scenario = \"x.replay\"; }; },\n"
    "  { name = \"sw1\"; kind = \"switch\"; replay = { scenario = \"x.replay\"; }; },\n"
    "  { name = \"ap1\"; kind = \"switch\"; parents = [\"sw1\"];\n"
    "    replay = { scenario = \"x.replay\"; }; },\n"
    "  { name = \"ap2\"; kind = \"switch\"; parents = [\"sw1\"];\n"
    "    replay = { scenario = \"x.replay\"; }; },\n"
    "  { name = \"env1\"; kind = \"sensor\"; tags = [\"server-room\"];\n"
    "    replay = { scenario = \"x.replay\"; }; }\n"
    ");\n";

static void
setup(void)
{
	tmpdir = testutil_tmpdir("check-detect");
	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
	free(testutil_write(tmpdir, "x.replay", "0 x=1\nend 1h\n"));
	/* The playbook the rules below name (every site has playbooks.dir = "pb"). */
	{
		char *dir = testutil_path(tmpdir, "pb");
		ck_assert_int_eq(mkdir(dir, 0700), 0);
		free(dir);
	}
	free(testutil_write(tmpdir, "pb/power-outage.conf",
	    "name = \"power-outage\"; title_ja = \"停電対応\"; title_en = \"Power "
	    "outage\";\n"
	    "steps = ( { id = \"room\"; type = \"confirm\"; title = \"Check the room\";\n"
	    "\tquestion = \"Is the room safe?\"; } );\n"));
	base = event_base_new();
}

static void
stop(void)
{
	daemon_free(d);
	d = NULL;
	e = NULL;
}

static void
teardown(void)
{
	stop();
	event_base_free(base);
	testutil_rmdir();
	free(conf_path);
	conf_path = NULL;
}

/* A daemon for the devices above plus text (rules, checks, observer...). */
static void
site(const char *text)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	char *all, err[512];

	xasprintf(&all,
	    "site: { name = \"test\"; };\n"
	    "daemon: { state_dir = \"state\"; };\n"
	    "playbooks = { dir = \"pb\"; };\n"
	    "%s%s",
	    devices_text, text);
	free(conf_path);
	conf_path = testutil_write(tmpdir, "sonae.conf", all);
	free(all);
	conf = conf_load(conf_path, &errs);
	ck_assert_msg(conf != NULL, "%s", errs.n ? errs.v[0] : "?");
	ck_assert_msg(
	    daemon_prepare_state_dir(conf, getuid(), getgid(), err, sizeof(err)) == 0,
	    "%s", err);
	d = daemon_new(base, conf, conf_path);
	e = daemon_detect(d);
	ck_assert_msg(detect_restore(e, err, sizeof(err)) == 0, "%s", err);
}

static void
changed(const char *dev)
{
	struct device *x = daemon_device(d, dev);

	ck_assert_ptr_nonnull(x);
	detect_device_changed(e, x);
}

static void
put(const char *dev, const char *metric, enum metric_kind k, double num, const char *text,
    const char *unit)
{
	struct sample smp = { .t_ms = time_now_ms(), .num = num, .text = text };

	series_update(store_series(daemon_store(d), dev, metric, k, unit), &smp);
	changed(dev);
}

static void
put_bool(const char *dev, const char *metric, int v)
{
	put(dev, metric, MK_BOOL, v, NULL, NULL);
}

static void
put_num(const char *dev, const char *metric, double v, const char *unit)
{
	put(dev, metric, MK_NUMBER, v, NULL, unit);
}

static void
put_text(const char *dev, const char *metric, const char *v)
{
	put(dev, metric, MK_TEXT, 0, v, NULL);
}

/* The device's contact as the scheduler would set it, then the engine told. */
static void
contact(const char *dev, enum contact c)
{
	struct device_state *st = device_state(daemon_device(d, dev));
	static int64_t clock_ms;

	/* Every poll later than the one before, as on a real clock that ticks. */
	clock_ms = time_now_ms() > clock_ms ? time_now_ms() : clock_ms + 1;
	st->last_poll_ms = clock_ms;
	if (st->contact != c)
		st->since_ms = st->last_poll_ms;
	st->contact = c;
	if (c == CONTACT_LOST) {
		snprintf(st->reason, sizeof(st->reason), "no answer within 2s");
		store_degrade_device(daemon_store(d), dev, Q_STALE, "contact lost");
	} else
		st->reason[0] = '\0';
	changed(dev);
}

static json_t *
list(int all)
{
	static json_t *last;

	json_decref(last);
	last = detect_incidents_json(e, all);
	return json_object_get(last, "incidents");
}

static size_t
nopen(void)
{
	return json_array_size(list(0));
}

/* The open incident of rule, or NULL. */
static json_t *
open_of(const char *rule)
{
	static json_t *last;
	json_t *a = list(0), *i;
	size_t k;

	json_array_foreach(a, k, i)
	{
		if (strcmp(json_string_value(json_object_get(i, "rule")), rule) == 0) {
			json_decref(last);
			last = detect_incident_json(
			    e, (uint64_t)json_integer_value(json_object_get(i, "id")));
			return last;
		}
	}
	return NULL;
}

static uint64_t
id_of(const json_t *i)
{
	return (uint64_t)json_integer_value(json_object_get(i, "id"));
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "(null)";
}

/* How many timeline entries of incident i are event. */
static int
events(const json_t *i, const char *event)
{
	json_t *t;
	size_t k;
	int n = 0;

	json_array_foreach(json_object_get(i, "timeline"), k, t) n +=
	    strcmp(str(t, "event"), event) == 0;
	return n;
}

static json_t *
incident(uint64_t id)
{
	static json_t *last;

	json_decref(last);
	last = detect_incident_json(e, id);
	ck_assert_ptr_nonnull(last);
	return last;
}

START_TEST(rule_opens_and_resolves)
{
	json_t *i;
	uint64_t id;

	site("rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\";\n"
	     "  severity = \"critical\"; playbook = \"power-outage\";\n"
	     "  description = \"ups1 runs on battery\"; } );\n");
	put_bool("ups1", "on_battery", 0);
	ck_assert_uint_eq(nopen(), 0);
	put_num("ups1", "charge_pct", 97, "%");
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 1);
	i = open_of("power-outage");
	ck_assert_ptr_nonnull(i);
	id = id_of(i);
	ck_assert_str_eq(str(i, "severity"), "critical");
	ck_assert_str_eq(str(i, "state"), "open");
	ck_assert_str_eq(str(i, "source"), "rule");
	ck_assert_str_eq(str(i, "title"), "ups1 runs on battery");
	ck_assert_str_eq(str(i, "playbook"), "power-outage");
	ck_assert(json_is_true(json_object_get(
	    json_object_get(json_object_get(i, "snapshot"), "ups1.on_battery"),
	    "value")));
	ck_assert_int_eq(events(i, "opened"), 1);
	ck_assert_int_eq(events(i, "notify"), 1);
	ck_assert_int_eq(events(i, "playbook"), 1);
	ck_assert(json_integer_value(json_object_get(i, "latency_us")) >= 0);
	/* Still on battery: the same incident, nothing new. */
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(json_array_size(list(1)), 1);
	put_bool("ups1", "on_battery", 0);
	ck_assert_uint_eq(nopen(), 0);
	i = incident(id);
	ck_assert_str_eq(str(i, "state"), "resolved");
	ck_assert_str_eq(str(json_object_get(i, "resolved"), "text"), "recovered");
	ck_assert_int_eq(events(i, "notify"), 2); /* problem, recovery */
}
END_TEST

START_TEST(unknown_keeps_the_incident_open)
{
	json_t *i;

	site("rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; } );\n");
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 1);
	contact("ups1", CONTACT_LOST); /* the reading is stale: unknown, not OK */
	ck_assert_ptr_nonnull(i = open_of("power-outage"));
	ck_assert_int_eq(events(i, "unknown"), 1);
	contact("ups1", CONTACT_OK);
	put_bool("ups1", "on_battery", 0);
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

START_TEST(numbers_without_a_unit)
{
	/* A metric without a unit is a bare number, read at its value each time. */
	site("rules = ( { name = \"overload\"; when = \"ups1.load > 80\"; } );\n");
	put_num("ups1", "load", 50, NULL);
	ck_assert_uint_eq(nopen(), 0);
	put_num("ups1", "load", 85, NULL);
	ck_assert_uint_eq(nopen(), 1);
	put_num("ups1", "load", 79, NULL);
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

START_TEST(recover_is_hysteresis)
{
	site("rules = ( { name = \"overheat\"; when = \"env1.temperature >= 32 degC\";\n"
	     "  recover = \"env1.temperature < 27 degC\"; } );\n");
	put_num("env1", "temperature", 26, "degC");
	ck_assert_uint_eq(nopen(), 0);
	put_num("env1", "temperature", 30, "degC");
	ck_assert_uint_eq(nopen(), 0); /* not yet 32 */
	put_num("env1", "temperature", 33, "degC");
	ck_assert_uint_eq(nopen(), 1);
	put_num("env1", "temperature", 30, "degC");
	ck_assert_uint_eq(nopen(), 1); /* below 32, not below 27 */
	put_num("env1", "temperature", 26.5, "degC");
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

static const char *const power_rules =
    "rules = (\n"
    "  { name = \"power-outage\"; when = \"ups1.on_battery\";\n"
    "    inhibits = [\"link-down\", \"unreachable:*\"]; },\n"
    "  { name = \"link-down\"; when = \"!wan1.uplink_up\"; severity = \"warning\"; }\n"
    ");\n";

START_TEST(power_failure_inhibits_link_down)
{
	json_t *i, *f;
	char *reason;

	site(power_rules);
	put_bool("wan1", "uplink_up", 1);
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 1);
	put_bool("wan1", "uplink_up", 0); /* the link goes down with the power */
	ck_assert_uint_eq(nopen(), 1);
	ck_assert_uint_eq(json_array_size(list(1)), 1);
	i = open_of("power-outage");
	f = json_array_get(json_object_get(i, "folded"), 0);
	ck_assert_str_eq(str(f, "detector"), "link-down");
	ck_assert_str_eq(str(f, "state"), "active");
	ck_assert_int_eq(events(i, "folded"), 1);
	/* The link back while on battery: recovered, keeping what was wrong. */
	reason = xstrdup(str(f, "reason"));
	ck_assert_str_ne(reason, "");
	put_bool("wan1", "uplink_up", 1);
	f = json_array_get(json_object_get(open_of("power-outage"), "folded"), 0);
	ck_assert_str_eq(str(f, "state"), "recovered");
	ck_assert_str_eq(str(f, "reason"), reason);
	free(reason);
	put_bool("wan1", "uplink_up", 0);
	/* Mains back, link still down: now it is a problem of its own. */
	put_bool("ups1", "on_battery", 0);
	ck_assert_uint_eq(nopen(), 1);
	ck_assert_ptr_nonnull(open_of("link-down"));
	put_bool("wan1", "uplink_up", 1);
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

START_TEST(inhibitor_merges_an_earlier_incident)
{
	json_t *i;
	uint64_t link;

	site(power_rules);
	put_bool("ups1", "on_battery", 0);
	put_bool("wan1", "uplink_up", 0); /* the link is seen first */
	ck_assert_ptr_nonnull(i = open_of("link-down"));
	link = id_of(i);
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 1);
	i = incident(link);
	ck_assert_str_eq(str(i, "state"), "resolved");
	ck_assert_int_eq((int)json_integer_value(json_object_get(i, "merged_into")),
	    (int)id_of(open_of("power-outage")));
	ck_assert_int_eq(events(i, "merged"), 1);
	ck_assert_int_eq(events(open_of("power-outage"), "folded"), 1);
}
END_TEST

START_TEST(observer_gateway_down_is_one_incident)
{
	static const char *const behind[] = { "ups1", "wan1", "sw1", "ap1", "ap2" };
	json_t *i, *all;
	size_t k;

	site(
	    "observer = { gateway = \"gw\"; local = [\"env1\"]; disk_min_free = 0; };\n");
	for (k = 0; k < NELEM(behind); k++)
		contact(behind[k], CONTACT_OK);
	contact("gw", CONTACT_OK);
	/* Everything behind the gateway goes silent; the gateway's own loss
	 * is noticed a little later. */
	contact("gw", CONTACT_MISSED);
	for (k = 0; k < 3; k++)
		contact(behind[k], CONTACT_LOST);
	ck_assert_uint_eq(nopen(), 0); /* waiting: the gateway is in doubt */
	contact("gw", CONTACT_LOST);
	for (k = 3; k < NELEM(behind); k++)
		contact(behind[k], CONTACT_LOST);
	all = list(1);
	ck_assert_uint_eq(json_array_size(all), 1);
	i = open_of("observer");
	ck_assert_ptr_nonnull(i);
	ck_assert_str_eq(str(i, "source"), "observer");
	ck_assert_uint_eq(
	    json_array_size(json_object_get(i, "folded")), NELEM(behind) + 1);
	/* A local device is not behind the gateway: its loss is its own. */
	contact("env1", CONTACT_LOST);
	ck_assert_uint_eq(nopen(), 2);
	ck_assert_ptr_nonnull(open_of("unreachable:env1"));
	contact("env1", CONTACT_OK);
	/* The gateway answers again; one device stays silent: its own incident. */
	contact("gw", CONTACT_OK);
	for (k = 0; k + 1 < NELEM(behind); k++)
		contact(behind[k], CONTACT_OK);
	ck_assert_ptr_null(open_of("observer"));
	/* ap2 was lost before the gateway came back: its next poll decides. */
	ck_assert_uint_eq(nopen(), 0);
	contact("ap2", CONTACT_LOST);
	ck_assert_ptr_nonnull(open_of("unreachable:ap2"));
	ck_assert_uint_eq(nopen(), 1);
}
END_TEST

START_TEST(observer_unknown_keeps_its_incident)
{
	json_t *i;

	site("observer = { ups = \"ups1\"; disk_min_free = 0; };\n");
	put_bool("ups1", "battery_low", 1);
	ck_assert_ptr_nonnull(i = open_of("observer"));
	ck_assert_ptr_nonnull(
	    strstr(str(json_array_get(json_object_get(i, "timeline"), 0), "text"),
	        "battery low"));
	/* The UPS goes silent: not known to be fine, so not resolved. */
	contact("ups1", CONTACT_LOST);
	ck_assert_ptr_nonnull(i = open_of("observer"));
	ck_assert_int_eq(events(i, "unknown"), 1);
	contact("ups1", CONTACT_OK);
	put_bool("ups1", "battery_low", 0);
	ck_assert_ptr_null(open_of("observer"));
}
END_TEST

START_TEST(parent_down_folds_children)
{
	json_t *i;

	site("");
	contact("sw1", CONTACT_OK);
	contact("sw1", CONTACT_MISSED);
	contact("ap1", CONTACT_LOST);
	contact("ap2", CONTACT_LOST);
	ck_assert_uint_eq(nopen(), 0);
	contact("sw1", CONTACT_LOST);
	ck_assert_uint_eq(json_array_size(list(1)), 1);
	i = open_of("unreachable:sw1");
	ck_assert_uint_eq(json_array_size(json_object_get(i, "folded")), 2);
	/* A child lost while its parent is fine is its own problem. */
	contact("sw1", CONTACT_OK);
	contact("ap1", CONTACT_OK);
	ck_assert_uint_eq(nopen(), 0); /* ap2 is due again: no verdict yet */
	contact("ap2", CONTACT_LOST);
	ck_assert_uint_eq(nopen(), 1);
	ck_assert_ptr_nonnull(open_of("unreachable:ap2"));
}
END_TEST

START_TEST(flags_check_follows_the_ups_status)
{
	json_t *i;
	uint64_t id;

	site("checks = ( { name = \"ups-status\"; metric = \"ups1.status\";\n"
	     "  warn_flags = [\"OB\"]; crit_flags = [\"LB\"]; } );\n");
	put_text("ups1", "status", "OL");
	ck_assert_uint_eq(nopen(), 0);
	put_text("ups1", "status", "OB");
	ck_assert_ptr_nonnull(i = open_of("ups-status"));
	id = id_of(i);
	ck_assert_str_eq(str(i, "severity"), "warning");
	ck_assert_int_eq(detect_ack(e, id, "tanaka", ACK_NORMAL, 0, "on it", NULL, 0), 0);
	ck_assert_str_eq(str(open_of("ups-status"), "state"), "acknowledged");
	put_text("ups1", "status", "OB LB");
	i = open_of("ups-status");
	ck_assert_uint_eq(id_of(i), id);
	ck_assert_str_eq(str(i, "severity"), "critical");
	/* A normal acknowledgement does not survive a change of state. */
	ck_assert_str_eq(str(i, "state"), "open");
	ck_assert_int_eq(events(i, "ack-cleared"), 1);
	ck_assert_int_eq(events(i, "severity"), 1);
	put_text("ups1", "status", "OL CHRG");
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

START_TEST(sticky_and_expiring_acks)
{
	char err[256];
	uint64_t id;

	site("checks = ( { name = \"temp\"; metric = \"env1.temperature\";\n"
	     "  warn = \"~:27\"; crit = \"~:32\"; } );\n");
	put_num("env1", "temperature", 28, "degC");
	id = id_of(open_of("temp"));
	ck_assert_int_eq(detect_ack(e, id, "sato", ACK_STICKY, 0, "aircon vendor called",
	                     err, sizeof(err)),
	    0);
	put_num("env1", "temperature", 33, "degC");
	ck_assert_str_eq(str(open_of("temp"), "state"), "acknowledged");
	ck_assert_str_eq(
	    str(json_object_get(open_of("temp"), "acknowledged"), "kind"), "sticky");
	ck_assert_int_eq(detect_ack(e, id, "sato", ACK_EXPIRING, time_now_ms() - 1000,
	                     "late", err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "the expiry time is in the past");
	ck_assert_int_eq(detect_ack(e, id, "sato", ACK_EXPIRING, time_now_ms() + 3600000,
	                     "for an hour", err, sizeof(err)),
	    0);
	ck_assert_str_eq(
	    str(json_object_get(open_of("temp"), "acknowledged"), "kind"), "expiring");
	ck_assert_int_eq(
	    detect_ack(e, 999, "sato", ACK_NORMAL, 0, "x", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no incident 999");
}
END_TEST

START_TEST(declare_and_resolve_by_hand)
{
	char err[256];
	uint64_t id, rid;
	json_t *i;

	site("rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; } );\n");
	ck_assert_int_eq(detect_declare(e, "pandemic", CHECK_CRITICAL, "tanaka",
	                     "30% of staff absent", &id, err, sizeof(err)),
	    0);
	i = incident(id);
	ck_assert_str_eq(str(i, "rule"), "declared:pandemic");
	ck_assert_str_eq(str(i, "source"), "declared");
	ck_assert_int_eq(events(i, "declared"), 1);
	ck_assert_str_eq(
	    str(json_array_get(json_object_get(i, "timeline"), 0), "actor"), "tanaka");
	ck_assert_int_eq(
	    detect_resolve(e, id, "tanaka", "staff back", err, sizeof(err)), 0);
	ck_assert_str_eq(str(incident(id), "state"), "resolved");
	ck_assert_int_eq(detect_resolve(e, id, "tanaka", "again", err, sizeof(err)), -1);

	/* Resolving an incident whose condition holds: no new one until it clears. */
	put_bool("ups1", "on_battery", 1);
	rid = id_of(open_of("power-outage"));
	ck_assert_int_eq(
	    detect_resolve(e, rid, "sato", "generator running", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(
	    str(json_object_get(incident(rid), "resolved"), "text"), "still holds"));
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 0);
	put_bool("ups1", "on_battery", 0);
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 1);
	ck_assert_uint_ne(id_of(open_of("power-outage")), rid);
}
END_TEST

START_TEST(maintenance_holds_notifications)
{
	struct window_text wt = { .start = "now", .duration = "1h" };
	struct window *w;
	char err[256];
	json_t *i, *ws;

	site("rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\";\n"
	     "  playbook = \"power-outage\"; } );\n");
	w = window_parse(&wt, "Asia/Tokyo", time_now_ms(), err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_int_eq(window_add_target(w, WT_DEVICE, "ups1", err, sizeof(err)), 0);
	ck_assert_int_eq(detect_window_add(e, w, "tanaka", err, sizeof(err)), 0);
	ws = detect_windows_json(e);
	ck_assert_uint_eq(json_array_size(json_object_get(ws, "windows")), 1);
	ck_assert(json_is_true(json_object_get(
	    json_array_get(json_object_get(ws, "windows"), 0), "active")));
	json_decref(ws);

	put_bool("ups1", "on_battery", 1);
	i = open_of("power-outage"); /* recorded all the same */
	ck_assert_ptr_nonnull(i);
	ck_assert_int_eq(events(i, "notify"), 0);
	ck_assert_int_eq(events(i, "notify-held"), 1);
	ck_assert_int_eq(events(i, "playbook"), 0);
	ck_assert_int_eq(events(i, "playbook-held"), 1);
	ck_assert_str_eq(str(i, "maintenance"), "m1");
	/* The window ends with the problem still there: it is notified now. */
	ck_assert_int_eq(
	    detect_window_remove(e, "m1", "tanaka", "done", err, sizeof(err)), 0);
	i = open_of("power-outage");
	ck_assert_int_eq(events(i, "maintenance-end"), 1);
	ck_assert_int_eq(events(i, "notify"), 1);
	ck_assert_int_eq(
	    detect_window_remove(e, "m1", "tanaka", "", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no maintenance window m1");
}
END_TEST

START_TEST(a_problem_gone_within_the_window_is_never_notified)
{
	struct window_text wt = { .start = "now", .duration = "1h" };
	struct window *w;
	char err[256];
	uint64_t id;

	site("rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; } );\n");
	w = window_parse(&wt, "Asia/Tokyo", time_now_ms(), err, sizeof(err));
	ck_assert_int_eq(window_add_target(w, WT_KIND, "ups", err, sizeof(err)), 0);
	ck_assert_int_eq(detect_window_add(e, w, "tanaka", err, sizeof(err)), 0);
	put_bool("ups1", "on_battery", 1);
	id = id_of(open_of("power-outage"));
	put_bool("ups1", "on_battery", 0);
	ck_assert_int_eq(
	    detect_window_remove(e, "m1", "tanaka", "", err, sizeof(err)), 0);
	ck_assert_int_eq(events(incident(id), "notify"), 0);
}
END_TEST

START_TEST(active_reads_another_rule)
{
	site("rules = (\n"
	     "  { name = \"power-outage\"; when = \"ups1.on_battery\"; },\n"
	     "  { name = \"cooling-lost\";\n"
	     "    when = \"active(\\\"power-outage\\\") && env1.temperature > 30\"; }\n"
	     ");\n");
	put_num("env1", "temperature", 31, "degC");
	put_bool("ups1", "on_battery", 0);
	ck_assert_ptr_null(open_of("cooling-lost"));
	put_bool("ups1", "on_battery", 1); /* only ups1 changed */
	ck_assert_ptr_nonnull(open_of("cooling-lost"));
	put_bool("ups1", "on_battery", 0);
	ck_assert_ptr_null(open_of("cooling-lost"));
}
END_TEST

START_TEST(aggregate_over_link_roles)
{
	site("rules = ( { name = \"internet-down\"; when = \"any(role=wan, !up)\"; } "
	     ");\n");
	put_text("wan1", "uplink_role", "wan");
	put_bool("wan1", "uplink_up", 1);
	put_text("sw1", "trunk_role", "lan");
	put_bool("sw1", "trunk_up", 0);
	ck_assert_uint_eq(nopen(), 0);
	put_bool("wan1", "uplink_up", 0);
	ck_assert_ptr_nonnull(open_of("internet-down"));
	/* The link's device is the incident's, so a window can cover it. */
	ck_assert_str_eq(json_string_value(json_array_get(
	                     json_object_get(open_of("internet-down"), "devices"), 0)),
	    "wan1");
	put_bool("wan1", "uplink_up", 1);
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

START_TEST(flapping_holds_notifications_and_keeps_one_incident)
{
	json_t *i;
	int k;

	site("rules = ( { name = \"link-down\"; when = \"!wan1.uplink_up\"; } );\n");
	/*
	 * Down, up, down ...: the first three problems open and resolve their
	 * incidents; the seventh state has six changes, 35.5 % weighted (over
	 * 30 %): flapping, and the fourth incident stays open from then on.
	 */
	for (k = 0; k < 12; k++)
		put_bool("wan1", "uplink_up", k % 2);
	ck_assert_uint_eq(json_array_size(list(1)), 4);
	i = open_of("link-down");
	ck_assert_ptr_nonnull(i);
	ck_assert(json_is_true(json_object_get(i, "flapping")));
	ck_assert_int_ge(events(i, "notify-held"), 1);
	/* Steady again: flapping ends below 20 %, the recovery goes out. */
	for (k = 0; k < 25; k++)
		put_bool("wan1", "uplink_up", 1);
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

START_TEST(recovery_is_sent_when_flapping_ends)
{
	json_t *i;
	uint64_t id;
	int k;

	site("checks = ( { name = \"temp\"; metric = \"env1.temperature\";\n"
	     "  warn = \"~:27\"; crit = \"~:32\"; } );\n");
	put_num("env1", "temperature", 28, "degC");
	id = id_of(open_of("temp"));
	ck_assert_int_eq(events(incident(id), "notify"), 1); /* warning, told */
	/* Warning, critical, warning ...: flapping; the changes are held back. */
	for (k = 0; k < 10; k++)
		put_num("env1", "temperature", k % 2 ? 28 : 33, "degC");
	i = incident(id);
	ck_assert(json_is_true(json_object_get(i, "flapping")));
	ck_assert_int_ge(events(i, "notify-held"), 1);
	/* Back to normal and steady: flapping ends, the recovery goes out. */
	for (k = 0; k < 25; k++)
		put_num("env1", "temperature", 22, "degC");
	i = incident(id);
	ck_assert_str_eq(str(i, "state"), "resolved");
	ck_assert_str_eq(str(json_array_get(json_object_get(i, "timeline"),
	                         json_array_size(json_object_get(i, "timeline")) - 1),
	                     "text"),
	    "recovery (warning)");
}
END_TEST

START_TEST(state_survives_a_new_daemon)
{
	struct window_text wt = { .start = "now", .duration = "2h" };
	struct window *w;
	const char *rules =
	    "rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; } );\n"
	    "checks = ( { name = \"temp\"; metric = \"env1.temperature\";\n"
	    "  warn = \"~:27\"; } );\n";
	char err[256];
	uint64_t pid, did;

	site(rules);
	put_bool("ups1", "on_battery", 1);
	pid = id_of(open_of("power-outage"));
	ck_assert_int_eq(
	    detect_ack(e, pid, "tanaka", ACK_STICKY, 0, "generator", err, sizeof(err)),
	    0);
	ck_assert_int_eq(detect_declare(e, "flood-warning", CHECK_WARNING, "sato",
	                     "river level", &did, err, sizeof(err)),
	    0);
	w = window_parse(&wt, "Asia/Tokyo", time_now_ms(), err, sizeof(err));
	ck_assert_int_eq(window_add_target(w, WT_DEVICE, "env1", err, sizeof(err)), 0);
	ck_assert_int_eq(detect_window_add(e, w, "sato", err, sizeof(err)), 0);
	ck_assert_int_eq(detect_save(e, err, sizeof(err)), 0);
	stop();
	/* The counters in the file are lost (an old or hand-edited file). */
	{
		char *path = testutil_path(tmpdir, "state/detect.json");
		json_t *root = json_load_file(path, 0, NULL);
		ck_assert_ptr_nonnull(root);
		json_object_del(root, "next_id");
		json_object_del(root, "next_window");
		ck_assert_int_eq(json_dump_file(root, path, 0), 0);
		json_decref(root);
		free(path);
	}

	site(rules);
	ck_assert_uint_eq(nopen(), 2);
	/* The detector is hard CRITICAL before any new sample. */
	{
		json_t *all = detect_detectors_json(e), *x;
		size_t k;
		int seen = 0;
		json_array_foreach(json_object_get(all, "detectors"), k, x)
		{
			if (strcmp(str(x, "name"), "power-outage") != 0)
				continue;
			ck_assert_str_eq(str(x, "hard_state"), "critical");
			ck_assert(json_is_true(json_object_get(x, "hard")));
			seen = 1;
		}
		ck_assert(seen);
		json_decref(all);
	}
	ck_assert_uint_eq(id_of(open_of("power-outage")), pid);
	ck_assert_str_eq(str(open_of("power-outage"), "state"), "acknowledged");
	ck_assert_str_eq(str(open_of("declared:flood-warning"), "severity"), "warning");
	{
		json_t *ws = detect_windows_json(e);
		ck_assert_uint_eq(json_array_size(json_object_get(ws, "windows")), 1);
		json_decref(ws);
	}
	/* The detector remembers it is in a problem: still on battery, no new incident.
	 */
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(json_array_size(list(1)), 2);
	put_bool("ups1", "on_battery", 0);
	ck_assert_str_eq(str(incident(pid), "state"), "resolved");
	/* A new window does not take an id in use (the counter was lost). */
	{
		struct window_text wt2 = { .start = "now", .duration = "1h" };
		struct window *w2 =
		    window_parse(&wt2, "Asia/Tokyo", time_now_ms(), err, sizeof(err));
		json_t *ws;
		ck_assert_int_eq(
		    window_add_target(w2, WT_DEVICE, "ups1", err, sizeof(err)), 0);
		ck_assert_int_eq(detect_window_add(e, w2, "sato", err, sizeof(err)), 0);
		ws = detect_windows_json(e);
		ck_assert_str_ne(
		    str(json_array_get(json_object_get(ws, "windows"), 0), "id"),
		    str(json_array_get(json_object_get(ws, "windows"), 1), "id"));
		json_decref(ws);
	}
	/* New incidents continue the numbering. */
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_gt(id_of(open_of("power-outage")), did);
}
END_TEST

START_TEST(windows_follow_a_new_site_zone)
{
	struct window_text wt = { .every = "sun 02:00", .duration = "1h" };
	struct window *w;
	json_t *ws;
	char err[256], *all;

	site("");
	w = window_parse(&wt, "Asia/Tokyo", time_now_ms(), err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_int_eq(window_add_target(w, WT_KIND, "ups", err, sizeof(err)), 0);
	ck_assert_int_eq(detect_window_add(e, w, "tanaka", err, sizeof(err)), 0);
	xasprintf(&all,
	    "site: { name = \"test\"; timezone = \"Europe/Berlin\"; };\n"
	    "daemon: { state_dir = \"state\"; };\n%s",
	    devices_text);
	free(testutil_write(tmpdir, "sonae.conf", all));
	free(all);
	ck_assert_msg(daemon_reload(d, "test", err, sizeof(err)) == 0, "%s", err);
	ws = detect_windows_json(e);
	ck_assert_str_eq(str(json_array_get(json_object_get(ws, "windows"), 0), "zone"),
	    "Europe/Berlin");
	json_decref(ws);
	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
}
END_TEST

START_TEST(reload_keeps_incidents_of_kept_rules)
{
	site("rules = ( { name = \"power-outage\"; when = \"ups1.on_battery\"; },\n"
	     "  { name = \"gone\"; when = \"ups1.on_battery\"; } );\n");
	put_bool("ups1", "on_battery", 1);
	ck_assert_uint_eq(nopen(), 2);
	{
		struct conf_errors errs = { NULL, 0 };
		char msg[512];
		free(testutil_write(tmpdir, "sonae.conf", ""));
		{
			char *all;
			xasprintf(&all,
			    "site: { name = \"test\"; };\n"
			    "daemon: { state_dir = \"state\"; };\n%s"
			    "rules = ( { name = \"power-outage\"; when = "
			    "\"ups1.on_battery\"; "
			    "} );\n",
			    devices_text);
			free(testutil_write(tmpdir, "sonae.conf", all));
			free(all);
		}
		ck_assert_msg(daemon_reload(d, "test", msg, sizeof(msg)) == 0, "%s", msg);
		conf_errors_clear(&errs);
	}
	ck_assert_uint_eq(nopen(), 1);
	ck_assert_ptr_nonnull(open_of("power-outage"));
	put_bool("ups1", "on_battery", 0);
	ck_assert_uint_eq(nopen(), 0);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("detect");
	TCase *tc = tcase_create("detect");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rule_opens_and_resolves);
	tcase_add_test(tc, unknown_keeps_the_incident_open);
	tcase_add_test(tc, numbers_without_a_unit);
	tcase_add_test(tc, recover_is_hysteresis);
	tcase_add_test(tc, power_failure_inhibits_link_down);
	tcase_add_test(tc, inhibitor_merges_an_earlier_incident);
	tcase_add_test(tc, observer_gateway_down_is_one_incident);
	tcase_add_test(tc, observer_unknown_keeps_its_incident);
	tcase_add_test(tc, parent_down_folds_children);
	tcase_add_test(tc, flags_check_follows_the_ups_status);
	tcase_add_test(tc, sticky_and_expiring_acks);
	tcase_add_test(tc, declare_and_resolve_by_hand);
	tcase_add_test(tc, maintenance_holds_notifications);
	tcase_add_test(tc, a_problem_gone_within_the_window_is_never_notified);
	tcase_add_test(tc, active_reads_another_rule);
	tcase_add_test(tc, aggregate_over_link_roles);
	tcase_add_test(tc, flapping_holds_notifications_and_keeps_one_incident);
	tcase_add_test(tc, recovery_is_sent_when_flapping_ends);
	tcase_add_test(tc, state_survives_a_new_daemon);
	tcase_add_test(tc, windows_follow_a_new_site_zone);
	tcase_add_test(tc, reload_keeps_incidents_of_kept_rules);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(suite());
}

/*
 * The configuration schema: every key sonaed reads, with its type, range,
 * default and help.  conf.c walks these tables; `sonaed -R` prints them as
 * docs/configuration.md.  Probe sections of a device come from each probe's
 * own table (probes/).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

const char *const device_kinds[] = {
	"ups",
	"pdu",
	"switch",
	"router",
	"link",
	"sensor",
	"host",
	"other",
	NULL,
};

static const struct conf_key site_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, site.name),
	    .min = 1,
	    .max = 128,
	    .flags = CK_REQUIRED,
	    .help =
	        "Name of the site, shown in `sonae status` and in every mail subject." },
	{ .name = "timezone",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, site.timezone),
	    .min = 1,
	    .max = 64,
	    .def = "Asia/Tokyo",
	    .help = "Time zone (tz database name) used for every time sonae shows, "
	            "logs and parses." },
	{ 0 },
};

static const struct conf_table site_table = {
	.name = "site",
	.help = "The site this daemon watches.",
	.keys = site_keys,
};

static const struct conf_key daemon_keys[] = {
	{ .name = "state_dir",
	    .type = CT_PATH,
	    .off = offsetof(struct conf, daemon.state_dir),
	    .def = "/var/lib/sonae",
	    .help = "Folder for the audit journal and the state snapshot; must be "
	            "writable by `user`." },
	{ .name = "user",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, daemon.user),
	    .min = 1,
	    .max = 32,
	    .help = "When started as root, drop to this user after the control socket "
	            "is bound. Unset: keep the starting user." },
	{ .name = "snapshot_interval",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, daemon.snapshot_interval_ms),
	    .min = 0.1,
	    .max = 3600,
	    .def = "30s",
	    .help = "Longest time changed state waits before the snapshot is rewritten "
	            "(it is also written at exit)." },
	{ 0 },
};

static const struct conf_table daemon_table = {
	.name = "daemon",
	.help = "The daemon process.",
	.keys = daemon_keys,
};

static const struct conf_key control_keys[] = {
	{ .name = "socket",
	    .type = CT_PATH,
	    .off = offsetof(struct conf, control.socket),
	    .def = "/run/sonae/sonae.sock",
	    .help = "Path of the control socket `sonae` talks to (mode 0660)." },
	{ .name = "group",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, control.group),
	    .min = 1,
	    .max = 32,
	    .help = "Group owning the control socket: its members may connect and read. "
	            "Unset: the daemon's group." },
	{ .name = "operators_group",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, control.operators_group),
	    .min = 1,
	    .max = 32,
	    .help = "Members of this group may change state (reload, poll, later ack, "
	            "run, mode). root and the daemon's own user always may." },
	{ .name = "max_line",
	    .type = CT_INT,
	    .off = offsetof(struct conf, control.max_line),
	    .min = 256,
	    .max = 65536,
	    .def = "4096",
	    .help =
	        "Longest request line in bytes; a longer one closes the connection." },
	{ .name = "max_clients",
	    .type = CT_INT,
	    .off = offsetof(struct conf, control.max_clients),
	    .min = 1,
	    .max = 1024,
	    .def = "64",
	    .help = "Connections open at once, all users together." },
	{ .name = "max_per_uid",
	    .type = CT_INT,
	    .off = offsetof(struct conf, control.max_per_uid),
	    .min = 1,
	    .max = 256,
	    .def = "8",
	    .help = "Connections open at once by one user id." },
	{ .name = "idle_timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, control.idle_timeout_ms),
	    .min = 0.1,
	    .max = 3600,
	    .def = "30s",
	    .help = "A connection that sends no complete line for this long is closed." },
	{ 0 },
};

static const struct conf_table control_table = {
	.name = "control",
	.help = "The control socket and who may use it.",
	.keys = control_keys,
};

static const struct conf_key store_keys[] = {
	{ .name = "history",
	    .type = CT_INT,
	    .off = offsetof(struct conf, store.history),
	    .min = 0,
	    .max = 100000,
	    .def = "60",
	    .help = "Samples kept in memory per numeric metric (a ring; the oldest "
	            "goes first)." },
	{ 0 },
};

static const struct conf_table store_table = {
	.name = "store",
	.help = "The in-memory metric store.",
	.keys = store_keys,
};

static void
traps_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct conf *conf = obj;

	/* Only runs when the group is in the file: no group, no receiver. */
	conf->traps.on = 1;
	if (conf->traps.listen == NULL)
		conf_key_error(ctx, g, "listen", "required but missing");
	else if (!trap_listen_valid(conf->traps.listen))
		conf_error(ctx, config_setting_get_member(g, "listen"),
		    "\"%s\": expected a numeric UDP address, \"udp:0.0.0.0:162\", "
		    "\"udp:127.0.0.1:1162\" or \"udp6:[::]:162\" (no host names: "
		    "they would need a blocking lookup)",
		    conf->traps.listen);
	if (conf->traps.community == NULL)
		conf_key_error(ctx, g, "community", "required but missing");
}

static int
traps_equal(const void *a, const void *b)
{
	const struct conf *ca = a, *cb = b;

	return ca->traps.on == cb->traps.on;
}

static const struct conf_key traps_keys[] = {
	{ .name = "listen",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, traps.listen),
	    .min = 1,
	    .max = 64,
	    .help = "Required. UDP address traps are received on, numeric: "
	            "\"udp:0.0.0.0:162\", \"udp:192.0.2.5\" (port 162) or "
	            "\"udp6:[::]:162\". Bound before sonaed drops privileges; a "
	            "reload that moves it to a port below 1024 cannot bind, says so "
	            "and keeps the old address." },
	{ .name = "community",
	    .type = CT_SECRET,
	    .off = offsetof(struct conf, traps.community),
	    .min = 1,
	    .max = 255,
	    .help = "Required. The community SNMPv1 and SNMPv2c traps must carry; "
	            "others are counted and dropped." },
	{ .name = "log_interval",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, traps.log_interval_ms),
	    .min = 0.1,
	    .max = 86400,
	    .def = "60s",
	    .help = "At most one log line per interval for traps from unknown "
	            "addresses, with a wrong community or malformed, and per device "
	            "for its traps (log and audit journal); the rest are counted "
	            "(`sonae traps`)." },
	{ .name = "poll_gap",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, traps.poll_gap_ms),
	    .min = 0,
	    .max = 3600,
	    .def = "1s",
	    .help = "A trap polls its device at once, but at most one poll per gap "
	            "per device comes from traps; traps in between are folded into "
	            "the next poll." },
	{ 0 },
};

static const struct conf_table traps_table = {
	.name = "traps",
	.help = "The SNMP trap receiver (v1 and v2c). Without this group there is "
	        "none. A trap from the address of an snmp device polls that device "
	        "now (the trap is a hint, the poll is the truth); traps from other "
	        "addresses are counted and logged, rate-limited.",
	.keys = traps_keys,
	.check = traps_check,
	.equal = traps_equal,
};

static int
device_extra(struct conf_ctx *ctx, config_setting_t *s, void *obj)
{
	struct device_conf *d = obj;
	const struct probe_ops *ops = probe_find(config_setting_name(s));

	if (ops == NULL)
		return 0;
	if (d->probe != NULL) {
		conf_error(ctx, s,
		    "a device has one probe section; \"%s\" is already given",
		    d->probe->name);
		return 1;
	}
	d->probe = ops;
	d->probe_conf = xcalloc(1, ops->conf->size);
	conf_walk_section(ctx, ops->conf, s, d->probe_conf);
	return 1;
}

static void
device_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct device_conf *d = obj;
	char a[32], b[32];
	const char *p;

	d->origin.file = xstrdup(conf_file(ctx, g));
	d->origin.line = config_setting_source_line(g);
	if (d->name != NULL && strcmp(d->name, "self") == 0)
		conf_error(ctx, config_setting_get_member(g, "name"),
		    "the name self is reserved for this host's own metrics");
	else if (d->name != NULL) {
		for (p = d->name; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
				break;
		if (*p != '\0' || !isalpha((unsigned char)d->name[0]))
			conf_error(ctx, config_setting_get_member(g, "name"),
			    "\"%s\": use letters, digits, '-' and '_', starting with a "
			    "letter",
			    d->name);
	}
	if (d->probe == NULL) {
		char *names = probe_names();
		conf_error(ctx, g, "no probe section: add one of %s", names);
		free(names);
	}
	if (d->timeout_ms > d->interval_ms)
		conf_error(ctx,
		    config_setting_get_member(g, "timeout")
		        ? config_setting_get_member(g, "timeout")
		        : g,
		    "timeout %s is longer than the interval %s",
		    duration_format(d->timeout_ms, a, sizeof(a)),
		    duration_format(d->interval_ms, b, sizeof(b)));
	if (d->backoff_max_ms < d->interval_ms)
		d->backoff_max_ms = d->interval_ms;
}

static void
device_release(void *obj)
{
	struct device_conf *d = obj;

	if (d->probe != NULL && d->probe_conf != NULL) {
		conf_free_object(d->probe->conf, d->probe_conf);
		free(d->probe_conf);
	}
	d->probe_conf = NULL;
	free(d->origin.file);
	d->origin.file = NULL;
}

static int
device_equal(const void *a, const void *b)
{
	const struct device_conf *da = a, *db = b;

	if (da->probe != db->probe)
		return 0;
	return da->probe == NULL ||
	       conf_equal(da->probe->conf, da->probe_conf, db->probe_conf);
}

static const struct conf_key device_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct device_conf, name),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "Unique name; rules and the CLI refer to `name.metric`." },
	{ .name = "kind",
	    .type = CT_ENUM,
	    .off = offsetof(struct device_conf, kind),
	    .choices = device_kinds,
	    .def = "other",
	    .help = "What the device is, for selectors in rules and routes." },
	{ .name = "description",
	    .type = CT_STRING,
	    .off = offsetof(struct device_conf, description),
	    .max = 256,
	    .help = "Free text shown by `sonae device`." },
	{ .name = "location",
	    .type = CT_STRING,
	    .off = offsetof(struct device_conf, location),
	    .max = 256,
	    .help = "Where it is (room, rack), shown in mails and reports." },
	{ .name = "tags",
	    .type = CT_STRINGS,
	    .off = offsetof(struct device_conf, tags),
	    .help = "Labels for selectors in rules and routes." },
	{ .name = "parents",
	    .type = CT_STRINGS,
	    .off = offsetof(struct device_conf, parents),
	    .help = "Devices this one is reached through: the switch it hangs off, "
	            "the Modbus TCP gateway in front of its RS-485 bus. While a parent "
	            "cannot be reached, this device's problems are put down to it and "
	            "page nobody on their own. Names of other devices; no cycles." },
	{ .name = "availability",
	    .type = CT_INT,
	    .off = offsetof(struct device_conf, availability),
	    .min = 1,
	    .max = 3,
	    .def = "2",
	    .help = "Availability class of the asset (3 high .. 1 low); reduced "
	            "operating modes watch only the higher classes live." },
	{ .name = "interval",
	    .type = CT_DURATION,
	    .off = offsetof(struct device_conf, interval_ms),
	    .min = 0.1,
	    .max = 86400,
	    .def = "5s",
	    .help = "Time between polls." },
	{ .name = "timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct device_conf, timeout_ms),
	    .min = 0.05,
	    .max = 600,
	    .def = "2s",
	    .help = "How long one attempt may take before it counts as no answer." },
	{ .name = "retries",
	    .type = CT_INT,
	    .off = offsetof(struct device_conf, retries),
	    .min = 0,
	    .max = 10,
	    .def = "1",
	    .help =
	        "Further attempts after a failed one before the poll counts as missed." },
	{ .name = "retry_interval",
	    .type = CT_DURATION,
	    .off = offsetof(struct device_conf, retry_interval_ms),
	    .min = 0,
	    .max = 600,
	    .def = "500ms",
	    .help = "Pause before a retry." },
	{ .name = "backoff_max",
	    .type = CT_DURATION,
	    .off = offsetof(struct device_conf, backoff_max_ms),
	    .min = 0.1,
	    .max = 86400,
	    .def = "60s",
	    .help = "After missed polls the interval doubles (with jitter) up to this." },
	{ .name = "stale_after",
	    .type = CT_INT,
	    .off = offsetof(struct device_conf, stale_after),
	    .min = 1,
	    .max = 100,
	    .def = "3",
	    .help = "Missed polls in a row before contact counts as lost and the "
	            "device's metrics become stale. With 2 or more a single missed "
	            "poll never does; 1 makes every missed poll an outage, for a "
	            "device polled so rarely that one missed poll is already a long "
	            "silence." },
	{ 0 },
};

const struct conf_table conf_device_table = {
	.name = "device",
	.help = "A device to poll. Besides these keys it has exactly one probe "
	        "section (below) that says how to reach it.",
	.size = sizeof(struct device_conf),
	.keys = device_keys,
	.extra = device_extra,
	.check = device_check,
	.release = device_release,
	.equal = device_equal,
};

static void
root_check(struct conf_ctx *ctx, config_setting_t *root, void *obj)
{
	struct conf *conf = obj;
	struct hmap *names = hmap_new();
	config_setting_t *list = config_setting_get_member(root, "devices");
	size_t i;

	if (conf->site.timezone != NULL && !tz_valid(conf->site.timezone))
		conf_key_error(ctx, config_setting_lookup(root, "site.timezone"),
		    "site.timezone",
		    "unknown time zone \"%s\" (a tz database name such as Asia/Tokyo)",
		    conf->site.timezone);
	for (i = 0; i < conf->devices.n; i++) {
		struct device_conf *d = conf_device(conf, i), *first;
		if (d->name == NULL)
			continue;
		if ((first = hmap_get(names, d->name)) != NULL) {
			char key[64];
			snprintf(key, sizeof(key), "devices[%zu].name", i);
			conf_key_error(ctx, config_setting_get_elem(list, (unsigned)i),
			    key, "\"%s\" is already used at %s:%u", d->name,
			    first->origin.file, first->origin.line);
		} else
			hmap_put(names, d->name, d);
	}
	hmap_free(names);
	schema_detect_check(ctx, root, conf);
	schema_alerts_check(ctx, root, conf);
	schema_playbooks_check(ctx, root, conf);
	schema_roster_check(ctx, root, conf);
}

static const struct conf_key root_keys[] = {
	{ .name = "site", .type = CT_GROUP, .sub = &site_table, .help = "See `site`." },
	{ .name = "daemon",
	    .type = CT_GROUP,
	    .sub = &daemon_table,
	    .help = "See `daemon`." },
	{ .name = "control",
	    .type = CT_GROUP,
	    .sub = &control_table,
	    .help = "See `control`." },
	{ .name = "store",
	    .type = CT_GROUP,
	    .sub = &store_table,
	    .help = "See `store`." },
	{ .name = "traps",
	    .type = CT_GROUP,
	    .sub = &traps_table,
	    .help = "See `traps`." },
	{ .name = "devices",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, devices),
	    .sub = &conf_device_table,
	    .max = 100000,
	    .help = "See `devices[]`." },
	{ .name = "rules",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, rules),
	    .sub = &conf_rule_table,
	    .max = 100000,
	    .help = "See `rules[]`." },
	{ .name = "checks",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, checks),
	    .sub = &conf_check_table,
	    .max = 100000,
	    .help = "See `checks[]`." },
	{ .name = "maintenance",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, maintenance),
	    .sub = &conf_window_table,
	    .max = 10000,
	    .help = "See `maintenance[]`." },
	{ .name = "observer",
	    .type = CT_GROUP,
	    .sub = &conf_observer_table,
	    .help = "See `observer`." },
	{ .name = "mail",
	    .type = CT_GROUP,
	    .sub = &conf_mail_table,
	    .help = "See `mail`." },
	{ .name = "channels",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, channels),
	    .sub = &conf_channel_table,
	    .max = 1000,
	    .help = "See `channels[]`." },
	{ .name = "routes",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, routes),
	    .sub = &conf_route_table,
	    .max = 10000,
	    .help = "See `routes[]`." },
	{ .name = "playbooks",
	    .type = CT_GROUP,
	    .sub = &conf_playbooks_table,
	    .help = "See `playbooks`." },
	{ .name = "staff",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, staff),
	    .sub = &conf_staff_table,
	    .max = 1000,
	    .help = "See `staff[]`." },
	{ .name = "schedule",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, schedule),
	    .sub = &conf_shift_table,
	    .max = 1000,
	    .help = "See `schedule[]`." },
	{ .name = "modes",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, modes),
	    .sub = &conf_mode_table,
	    .max = 32,
	    .help = "See `modes[]`." },
	{ .name = "staffing",
	    .type = CT_GROUP,
	    .sub = &conf_staffing_table,
	    .help = "See `staffing`." },
	{ 0 },
};

const struct conf_table conf_root_table = {
	.name = "root",
	.help = "The main file holds these groups; any of them may come from "
	        "`@include`d files.",
	.keys = root_keys,
	.check = root_check,
};

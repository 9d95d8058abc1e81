/*
 * The configuration schema of alerts (docs/alerts.md): the `mail` group with
 * its relays, local `channels[]` and `routes[]`.
 *
 * What ties them together is checked when the file is loaded: a route names
 * channels that exist, mails only when there is a sender and a relay, its
 * escalation steps come in order; a beacon's device is configured.  The
 * alerts engine gets a configuration it can follow without a second guess.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"

#define NAME_MAX_LEN 64
#define NELEM(a)     (sizeof(a) / sizeof((a)[0]))

const char *const syslog_facilities[] = { "daemon", "user", "local0", "local1", "local2",
	"local3", "local4", "local5", "local6", "local7", NULL };
static const char *const channel_types[] = { "syslog", "exec", "beacon", NULL };
static const char *const mail_severities[] = { "warning", "critical", NULL };
/* The channels every configuration has. */
static const char *const builtin_channels[] = { "mail", "syslog", NULL };

struct relay_conf *
conf_relay(const struct conf *conf, size_t i)
{
	return (struct relay_conf *)conf->mail.relays.items + i;
}

struct channel_conf *
conf_channel(const struct conf *conf, size_t i)
{
	return (struct channel_conf *)conf->channels.items + i;
}

struct route_conf *
conf_route(const struct conf *conf, size_t i)
{
	return (struct route_conf *)conf->routes.items + i;
}

/* The route of that name, or NULL. */
struct route_conf *
conf_route_named(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->routes.n; i++)
		if (conf_route(conf, i)->name != NULL &&
		    strcmp(conf_route(conf, i)->name, name) == 0)
			return conf_route(conf, i);
	return NULL;
}

/* The configured channel of that name, or NULL (also for the built-in ones). */
struct channel_conf *
conf_channel_named(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->channels.n; i++)
		if (conf_channel(conf, i)->name != NULL &&
		    strcmp(conf_channel(conf, i)->name, name) == 0)
			return conf_channel(conf, i);
	return NULL;
}

/*
 * Relays.
 */
static void
relay_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct relay_conf *r = obj;

	if ((r->url == NULL) == (r->sendmail.n == 0)) {
		conf_error(ctx, g, "a relay has either `url` or `sendmail`%s",
		    r->url == NULL ? "" : ", not both");
		return;
	}
	if (r->sendmail.n > 0) {
		if (r->sendmail.v[0][0] != '/')
			conf_error(ctx, config_setting_get_member(g, "sendmail"),
			    "\"%s\" is not an absolute path (no shell, no PATH "
			    "search)",
			    r->sendmail.v[0]);
		if (r->user != NULL || r->starttls)
			conf_error(ctx, g,
			    "`user` and `starttls` belong to an SMTP relay "
			    "(`url`), not to `sendmail`");
		return;
	}
	if (strncmp(r->url, "smtp://", 7) != 0 && strncmp(r->url, "smtps://", 8) != 0)
		conf_error(ctx, config_setting_get_member(g, "url"),
		    "\"%s\" is not smtp://HOST[:PORT] or smtps://HOST[:PORT]", r->url);
	else if (strchr(r->url, '@') != NULL)
		conf_error(ctx, config_setting_get_member(g, "url"),
		    "no user or password in the URL: use `user` and `password = { "
		    "file = ... }`");
	else if (r->starttls && strncmp(r->url, "smtps://", 8) == 0)
		conf_error(ctx, config_setting_get_member(g, "starttls"),
		    "an smtps:// relay speaks TLS from the start");
	if ((r->user == NULL) != (r->password == NULL))
		conf_error(ctx, g, "`user` and `password` go together");
}

static const struct conf_key relay_keys[] = {
	{ .name = "url",
	    .type = CT_STRING,
	    .off = offsetof(struct relay_conf, url),
	    .min = 8,
	    .max = 512,
	    .help = "`smtp://HOST:PORT` (plain, or STARTTLS with `starttls`) or "
	            "`smtps://HOST:PORT` (TLS from the first byte). A path names this "
	            "host in EHLO: `smtp://192.0.2.25:25/sonae.example.jp`." },
	{ .name = "starttls",
	    .type = CT_BOOL,
	    .off = offsetof(struct relay_conf, starttls),
	    .def = "false",
	    .help = "Require STARTTLS on an `smtp://` relay: a relay that does not "
	            "offer it, or whose certificate does not verify, is a failed "
	            "attempt (never a fall back to plain text)." },
	{ .name = "ca_file",
	    .type = CT_PATH,
	    .off = offsetof(struct relay_conf, ca_file),
	    .min = 1,
	    .help = "PEM file of the CAs trusted for this relay. Unset: the system's." },
	{ .name = "insecure",
	    .type = CT_BOOL,
	    .off = offsetof(struct relay_conf, insecure),
	    .def = "false",
	    .help = "Do not verify the relay's certificate. For a test bench only: "
	            "anyone on the path can then read the alerts and the password." },
	{ .name = "user",
	    .type = CT_STRING,
	    .off = offsetof(struct relay_conf, user),
	    .min = 1,
	    .max = 255,
	    .help = "SMTP AUTH user; with `password`." },
	{ .name = "password",
	    .type = CT_SECRET,
	    .off = offsetof(struct relay_conf, password),
	    .min = 1,
	    .max = 1024,
	    .help = "SMTP AUTH password: `{ file = \"/etc/sonae/relay.secret\"; }` (a "
	            "file only its owner can read), or the string itself." },
	{ .name = "auth",
	    .type = CT_STRING,
	    .off = offsetof(struct relay_conf, auth),
	    .min = 1,
	    .max = 32,
	    .help = "The AUTH mechanism (`PLAIN`, `LOGIN`). Unset: the best the relay "
	            "offers." },
	{ .name = "timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct relay_conf, timeout_ms),
	    .min = 1,
	    .max = 3600,
	    .def = "60s",
	    .help = "The longest one delivery may take, connecting included." },
	{ .name = "connect_timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct relay_conf, connect_timeout_ms),
	    .min = 0.1,
	    .max = 600,
	    .def = "10s",
	    .help = "The longest connecting may take." },
	{ .name = "sendmail",
	    .type = CT_STRINGS,
	    .off = offsetof(struct relay_conf, sendmail),
	    .help = "Instead of `url`: hand the mail to this local program, e.g. "
	            "`[\"/usr/sbin/sendmail\", \"-i\"]` (run from argv, never through a "
	            "shell; sonae adds `-f SENDER -- RECIPIENTS`). Exit 0 is accepted, "
	            "75 (EX_TEMPFAIL) and failures to run are retried." },
	{ 0 },
};

static const struct conf_table relay_table = {
	.name = "relay",
	.help = "A way for mail to leave: an SMTP relay (`url`) or the local "
	        "`sendmail` program. Relays are tried in order; the first that accepts "
	        "a message ends its delivery.",
	.size = sizeof(struct relay_conf),
	.keys = relay_keys,
	.check = relay_check,
};

/*
 * The mail group.
 */
static void
mail_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct conf *conf = obj;

	if (conf->mail.from != NULL && !mail_address_valid(conf->mail.from))
		conf_error(ctx, config_setting_get_member(g, "from"),
		    "\"%s\" is not a plain address (local@domain)", conf->mail.from);
	if (conf->mail.retry_max_ms < conf->mail.retry_ms)
		conf_error(ctx, config_setting_get_member(g, "retry_max"),
		    "retry_max is shorter than retry");
}

static const struct conf_key mail_keys[] = {
	{ .name = "from",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, mail.from),
	    .min = 3,
	    .max = 254,
	    .help = "The sender of sonae's mail (envelope and `From:`), e.g. "
	            "`sonae@example.jp`; its domain ends every Message-ID. Required "
	            "when a route mails." },
	{ .name = "from_name",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, mail.from_name),
	    .min = 1,
	    .max = 128,
	    .help = "The display name of `From:` (UTF-8 is fine: `sonae 本庁舎`)." },
	{ .name = "relays",
	    .type = CT_LIST,
	    .off = offsetof(struct conf, mail.relays),
	    .sub = &relay_table,
	    .max = 16,
	    .help = "See `mail.relays[]`." },
	{ .name = "retry",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, mail.retry_ms),
	    .min = 0.1,
	    .max = 3600,
	    .def = "30s",
	    .help = "The wait after a failed delivery; it doubles with every further "
	            "failure of the same message, up to `retry_max`." },
	{ .name = "retry_max",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, mail.retry_max_ms),
	    .min = 0.1,
	    .max = 86400,
	    .def = "30min",
	    .help = "The longest wait between two attempts of one message." },
	{ .name = "down_after_failures",
	    .type = CT_INT,
	    .off = offsetof(struct conf, mail.down_after_failures),
	    .min = 1,
	    .max = 1000,
	    .def = "3",
	    .help = "Failed delivery attempts in a row after which \"alerts cannot "
	            "leave the site\" (the incident `mail-undeliverable`)." },
	{ .name = "down_after",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, mail.down_after_ms),
	    .min = 1,
	    .max = 86400,
	    .def = "5min",
	    .help = "Or when the oldest queued message waited this long." },
	{ .name = "cannot_leave_severity",
	    .type = CT_ENUM,
	    .off = offsetof(struct conf, mail.cannot_leave_severity),
	    .choices = mail_severities,
	    .def = "critical",
	    .help = "The severity of `mail-undeliverable`; route it to local channels "
	            "(`rules = [\"mail-undeliverable\"]`)." },
	{ .name = "rate_limit",
	    .type = CT_INT,
	    .off = offsetof(struct conf, mail.rate_limit),
	    .min = 0,
	    .max = 100000,
	    .def = "30",
	    .help = "At most so many mails to one recipient per `rate_period`; what "
	            "is held back goes out as one digest when the period allows. 0: no "
	            "limit." },
	{ .name = "rate_period",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, mail.rate_period_ms),
	    .min = 1,
	    .max = 86400,
	    .def = "1h",
	    .help = "The period of `rate_limit`." },
	{ 0 },
};

const struct conf_table conf_mail_table = {
	.name = "mail",
	.help = "How mail leaves the site. Every mail is written to the spool in "
	        "`daemon.state_dir` (and fsynced) before it counts as sent, and removed "
	        "only once a relay accepted it; a relay that is down means waiting, "
	        "never losing.",
	.keys = mail_keys,
	.check = mail_check,
};

/*
 * Channels.
 */
static void
channel_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct channel_conf *c = obj;
	static const char *const own[][6] = {
		[CHANNEL_SYSLOG] = { "socket", "facility" },
		[CHANNEL_EXEC] = { "command", "timeout" },
		[CHANNEL_BEACON] = { "device", "point", "oid", "set_type", "value",
		    "clear" },
	};
	int t;
	size_t k;

	c->origin.file = xstrdup(conf_file(ctx, g));
	c->origin.line = config_setting_source_line(g);
	for (k = 0; c->name != NULL && builtin_channels[k] != NULL; k++)
		if (strcmp(c->name, builtin_channels[k]) == 0)
			conf_error(ctx, config_setting_get_member(g, "name"),
			    "\"%s\" is a built-in channel", c->name);
	/* Keys of another type are mistakes, not silently ignored. */
	for (t = 0; t < (int)NELEM(own); t++) {
		if (t == c->type)
			continue;
		for (k = 0; k < 6 && own[t][k] != NULL; k++) {
			int mine = 0;
			size_t j;
			for (j = 0; j < 6 && own[c->type][j] != NULL; j++)
				mine |= strcmp(own[c->type][j], own[t][k]) == 0;
			if (!mine && config_setting_get_member(g, own[t][k]) != NULL)
				conf_error(ctx, config_setting_get_member(g, own[t][k]),
				    "not a key of %s channels (it belongs to %s)",
				    channel_types[c->type], channel_types[t]);
		}
	}
	switch (c->type) {
	case CHANNEL_SYSLOG:
		if (c->socket == NULL)
			c->socket = xstrdup("/dev/log");
		break;
	case CHANNEL_EXEC:
		if (c->command.n == 0)
			conf_error(ctx, g, "an exec channel needs `command`");
		else if (c->command.v[0][0] != '/')
			conf_error(ctx, config_setting_get_member(g, "command"),
			    "\"%s\" is not an absolute path (no shell, no PATH "
			    "search)",
			    c->command.v[0]);
		break;
	case CHANNEL_BEACON:
		if (c->device == NULL || c->value == NULL)
			conf_error(ctx, g, "a beacon channel needs `device` and `value`");
		else if ((c->point == NULL) == (c->oid == NULL))
			conf_error(ctx, g,
			    "a beacon writes either a Modbus `point` or an SNMP `oid`");
		else if (c->oid != NULL &&
		         (c->set_type == NULL || strlen(c->set_type) != 1 ||
		             strchr("iusxdnoabt", c->set_type[0]) == NULL))
			conf_error(ctx, g,
			    "an SNMP beacon needs `set_type`, one of i u s x d n o a b t "
			    "(as snmpset)");
		else if (c->point != NULL && c->set_type != NULL)
			conf_error(ctx, config_setting_get_member(g, "set_type"),
			    "only for an SNMP `oid`");
		else if (c->point != NULL) {
			char *end;
			strtod(c->value, &end);
			if (*end != '\0' || end == c->value)
				conf_error(ctx, config_setting_get_member(g, "value"),
				    "\"%s\" is not a number (a Modbus point)", c->value);
			if (c->clear != NULL && (strtod(c->clear, &end), *end != '\0'))
				conf_error(ctx, config_setting_get_member(g, "clear"),
				    "\"%s\" is not a number (a Modbus point)", c->clear);
		}
		break;
	}
}

static void
channel_release(void *obj)
{
	struct channel_conf *c = obj;

	free(c->origin.file);
	c->origin.file = NULL;
}

static const struct conf_key channel_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, name),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .flags = CK_REQUIRED,
	    .help = "What routes call it. `mail` and `syslog` are built in." },
	{ .name = "type",
	    .type = CT_ENUM,
	    .off = offsetof(struct channel_conf, type),
	    .choices = channel_types,
	    .flags = CK_REQUIRED,
	    .help = "`syslog`: a line to the local syslog; `exec`: run a program with "
	            "the alert in its environment and the mail's text on its standard "
	            "input; `beacon`: switch a lamp or siren on through a Modbus or "
	            "SNMP write while the problem lasts." },
	{ .name = "socket",
	    .type = CT_PATH,
	    .off = offsetof(struct channel_conf, socket),
	    .min = 1,
	    .max = 107,
	    .help = "syslog: the local syslog socket (datagrams, RFC 3164). Unset: "
	            "`/dev/log`." },
	{ .name = "facility",
	    .type = CT_ENUM,
	    .off = offsetof(struct channel_conf, facility),
	    .choices = syslog_facilities,
	    .def = "daemon",
	    .help = "syslog: the facility. The priority follows the severity "
	            "(critical `crit`, warning `warning`, a recovery `notice`)." },
	{ .name = "command",
	    .type = CT_STRINGS,
	    .off = offsetof(struct channel_conf, command),
	    .help = "exec: the program and its arguments, run as they are (no shell). "
	            "It gets `SONAE_EVENT` (problem, recovery, repeat, escalation, "
	            "test), `SONAE_INCIDENT`, `SONAE_SEVERITY`, `SONAE_TITLE`, "
	            "`SONAE_RULE`, `SONAE_DEVICES`, `SONAE_SITE`, `SONAE_SUBJECT` and "
	            "the text of the mail on standard input." },
	{ .name = "timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct channel_conf, timeout_ms),
	    .min = 0.1,
	    .max = 3600,
	    .def = "30s",
	    .help = "exec: after this the program is killed and the failure logged." },
	{ .name = "device",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, device),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "beacon: the device written to (a Modbus or SNMP device of "
	            "`devices`)." },
	{ .name = "point",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, point),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "beacon: a writable point of a Modbus device (a coil or a "
	            "holding register)." },
	{ .name = "oid",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, oid),
	    .min = 1,
	    .max = 256,
	    .help = "beacon: the numeric OID an SNMP SET writes." },
	{ .name = "set_type",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, set_type),
	    .min = 1,
	    .max = 1,
	    .help = "beacon: the SNMP type of the SET, as snmpset spells it (`i` "
	            "integer, `s` string, ...)." },
	{ .name = "value",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, value),
	    .min = 1,
	    .max = 256,
	    .help = "beacon: written when an incident routed here opens (a number for "
	            "a Modbus point)." },
	{ .name = "clear",
	    .type = CT_STRING,
	    .off = offsetof(struct channel_conf, clear),
	    .min = 1,
	    .max = 256,
	    .help = "beacon: written when the last incident that set it has "
	            "resolved. Unset: it stays on until someone switches it off." },
	{ 0 },
};

const struct conf_table conf_channel_table = {
	.name = "channel",
	.help = "A local channel: a way to tell people that needs no network. Routes "
	        "use channels by name next to `mail`.",
	.size = sizeof(struct channel_conf),
	.keys = channel_keys,
	.check = channel_check,
	.release = channel_release,
};

/*
 * Routes.
 */
static const struct conf_key escalate_keys[] = {
	{ .name = "after",
	    .type = CT_DURATION,
	    .off = offsetof(struct escalate_conf, after_ms),
	    .min = 1,
	    .max = 7 * 86400,
	    .flags = CK_REQUIRED,
	    .help = "How long after the first notification, while nobody has "
	            "acknowledged the incident." },
	{ .name = "to",
	    .type = CT_STRINGS,
	    .off = offsetof(struct escalate_conf, to),
	    .flags = CK_REQUIRED,
	    .help = "The addresses added to the incident's recipients." },
	{ 0 },
};

static const struct conf_table escalate_table = {
	.name = "escalate",
	.help = "One escalation step.",
	.size = sizeof(struct escalate_conf),
	.keys = escalate_keys,
};

static void
addresses_check(struct conf_ctx *ctx, config_setting_t *s, const struct conf_strings *to)
{
	size_t i;

	for (i = 0; i < to->n; i++)
		if (!mail_address_valid(to->v[i]))
			conf_error(ctx, s, "\"%s\" is not a plain address (local@domain)",
			    to->v[i]);
}

static void
route_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct route_conf *r = obj;
	config_setting_t *steps = config_setting_get_member(g, "escalate");
	size_t i;

	r->origin.file = xstrdup(conf_file(ctx, g));
	r->origin.line = config_setting_source_line(g);
	if (r->channels.n == 0) {
		conf_strings_add(&r->channels, "mail");
		conf_strings_add(&r->channels, "syslog");
	}
	for (i = 0; i < r->severity.n; i++)
		if (strcmp(r->severity.v[i], "warning") != 0 &&
		    strcmp(r->severity.v[i], "critical") != 0)
			conf_error(ctx, config_setting_get_member(g, "severity"),
			    "\"%s\" is not warning or critical", r->severity.v[i]);
	for (i = 0; i < r->kinds.n; i++) {
		size_t k;
		for (k = 0; device_kinds[k] != NULL; k++)
			if (strcmp(device_kinds[k], r->kinds.v[i]) == 0)
				break;
		if (device_kinds[k] == NULL)
			conf_error(ctx, config_setting_get_member(g, "kinds"),
			    "\"%s\" is not a device kind", r->kinds.v[i]);
	}
	addresses_check(ctx, config_setting_get_member(g, "to"), &r->to);
	for (i = 0; i < r->escalate.n; i++) {
		struct escalate_conf *s = (struct escalate_conf *)r->escalate.items + i;
		config_setting_t *e = config_setting_get_elem(steps, (unsigned)i);
		addresses_check(ctx, config_setting_get_member(e, "to"), &s->to);
		if (i > 0 && s->after_ms <= s[-1].after_ms)
			conf_error(ctx, e,
			    "escalate[%zu]: each step comes after the one before (%.0f s "
			    "<= %.0f s)",
			    i, s->after_ms / 1e3, s[-1].after_ms / 1e3);
	}
}

static void
route_release(void *obj)
{
	struct route_conf *r = obj;

	free(r->origin.file);
	r->origin.file = NULL;
}

static const struct conf_key route_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct route_conf, name),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .flags = CK_REQUIRED,
	    .help = "Names the route in logs, the journal and the incident's "
	            "timeline." },
	{ .name = "severity",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, severity),
	    .help = "Match incidents of these severities (`warning`, `critical`). "
	            "Unset: any." },
	{ .name = "kinds",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, kinds),
	    .help = "Match incidents about a device of one of these kinds (`ups`, "
	            "`sensor`, ...). Unset: any." },
	{ .name = "availability",
	    .type = CT_INT,
	    .off = offsetof(struct route_conf, availability),
	    .min = 0,
	    .max = 3,
	    .def = "0",
	    .help = "Match incidents about a device of at least this availability "
	            "class (3 high .. 1 low). 0: any, and incidents without devices." },
	{ .name = "devices",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, devices),
	    .help = "Match incidents about a device whose name matches one of these "
	            "shell patterns. Unset: any." },
	{ .name = "rules",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, rules),
	    .help = "Match incidents of a detector whose name matches one of these "
	            "shell patterns (`power-*`, `unreachable:*`, `declared:*`, "
	            "`observer`, `mail-undeliverable`). Unset: any." },
	{ .name = "modes",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, modes),
	    .help = "Match only in these operating modes (`normal`, `reduced`, "
	            "`minimum`, ...). Unset: any." },
	{ .name = "to",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, to),
	    .help = "Mail addresses told first." },
	{ .name = "channels",
	    .type = CT_STRINGS,
	    .off = offsetof(struct route_conf, channels),
	    .help = "How: `mail`, `syslog` and names of `channels[]`. Unset: "
	            "`[\"mail\", \"syslog\"]`." },
	{ .name = "group_wait",
	    .type = CT_DURATION,
	    .off = offsetof(struct route_conf, group_wait_ms),
	    .min = 0,
	    .max = 3600,
	    .def = "10s",
	    .help = "How long after an incident opens its first notification waits, "
	            "so that what the same cause brings down in the first seconds is "
	            "folded into it and the burst becomes one message." },
	{ .name = "repeat",
	    .type = CT_DURATION,
	    .off = offsetof(struct route_conf, repeat_ms),
	    .min = 0,
	    .max = 7 * 86400,
	    .def = "1h",
	    .help = "Tell again at this interval while the incident is open and "
	            "nobody acknowledged it. 0: never." },
	{ .name = "escalate",
	    .type = CT_LIST,
	    .off = offsetof(struct route_conf, escalate),
	    .sub = &escalate_table,
	    .max = 16,
	    .help = "Escalation steps: `( { after = \"15min\"; to = [\"...\"]; } )`. "
	            "An acknowledgement stops them." },
	{ .name = "roster",
	    .type = CT_BOOL,
	    .off = offsetof(struct route_conf, roster),
	    .def = "false",
	    .help = "Also tell the people of the current operating mode (`modes[]`: "
	            "`alert` one after another or all at once as `chain` says, `copy`, "
	            "`escalate_after`, `escalate_to`), taken from the mode as it is "
	            "at each step, besides the route's own `to` and `escalate`. Needs "
	            "`mail` in `channels`; `to` may then be left out." },
	{ .name = "continue",
	    .type = CT_BOOL,
	    .off = offsetof(struct route_conf, cont),
	    .def = "false",
	    .help = "After this route matched, look at the later routes too. Unset: "
	            "the first matching route is the only one." },
	{ 0 },
};

const struct conf_table conf_route_table = {
	.name = "route",
	.help = "A route: which incidents reach whom and through which channels. "
	        "Routes are tried in order; an incident no route matches is logged "
	        "and told to nobody.",
	.size = sizeof(struct route_conf),
	.keys = route_keys,
	.check = route_check,
	.release = route_release,
};

/* An error at list[i].key (or list[i] when key is NULL or absent). */
static void PRINTFLIKE(6, 7) item_error(struct conf_ctx *ctx, config_setting_t *list,
    const char *name, size_t i, const char *key, const char *fmt, ...)
{
	config_setting_t *e = config_setting_get_elem(list, (unsigned)i), *s = NULL;
	char path[96], msg[512];
	va_list ap;

	if (key != NULL && e != NULL)
		s = config_setting_get_member(e, key);
	if (s != NULL)
		snprintf(path, sizeof(path), "%s[%zu].%s", name, i, key);
	else
		snprintf(path, sizeof(path), "%s[%zu]", name, i);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_key_error(ctx, s != NULL ? s : e, path, "%s", msg);
}

/* Across keys: channel names, devices of beacons, a mail path for mail. */
void
schema_alerts_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	config_setting_t *routes = config_setting_get_member(root, "routes");
	config_setting_t *chans = config_setting_get_member(root, "channels");
	size_t i, k;

	/* A missing name was reported already (required). */
	for (i = 0; i < conf->channels.n; i++) {
		struct channel_conf *c = conf_channel(conf, i);
		if (c->name == NULL)
			continue;
		for (k = 0; k < i; k++)
			if (conf_channel(conf, k)->name != NULL &&
			    strcmp(conf_channel(conf, k)->name, c->name) == 0)
				item_error(ctx, chans, "channels", i, NULL,
				    "channel \"%s\" is already defined at %s:%u", c->name,
				    conf_channel(conf, k)->origin.file,
				    conf_channel(conf, k)->origin.line);
		if (c->type == CHANNEL_BEACON && c->device != NULL) {
			for (k = 0; k < conf->devices.n; k++)
				if (conf_device(conf, k)->name != NULL &&
				    strcmp(conf_device(conf, k)->name, c->device) == 0)
					break;
			if (k == conf->devices.n)
				item_error(ctx, chans, "channels", i, "device",
				    "\"%s\" is not configured", c->device);
		}
	}
	for (i = 0; i < conf->routes.n; i++) {
		struct route_conf *r = conf_route(conf, i);
		int mails = conf_strings_has(&r->channels, "mail");
		if (r->name == NULL)
			continue;
		for (k = 0; k < r->channels.n; k++) {
			const char *n = r->channels.v[k];
			if (strcmp(n, "mail") != 0 && strcmp(n, "syslog") != 0 &&
			    conf_channel_named(conf, n) == NULL)
				item_error(ctx, routes, "routes", i, "channels",
				    "\"%s\" is neither built in (mail, syslog) nor in "
				    "channels[]",
				    n);
		}
		for (k = 0; k < i; k++)
			if (conf_route(conf, k)->name != NULL &&
			    strcmp(conf_route(conf, k)->name, r->name) == 0)
				item_error(ctx, routes, "routes", i, "name",
				    "route \"%s\" is already defined at %s:%u", r->name,
				    conf_route(conf, k)->origin.file,
				    conf_route(conf, k)->origin.line);
		if (r->roster && !mails)
			item_error(ctx, routes, "routes", i, "roster",
			    "route \"%s\": the roster's people are mailed: add \"mail\" "
			    "to `channels`",
			    r->name);
		if (!mails)
			continue;
		if (r->to.n == 0 && !r->roster)
			item_error(ctx, routes, "routes", i, NULL,
			    "route \"%s\" mails but has no `to`", r->name);
		if (conf->mail.from == NULL || conf->mail.relays.n == 0)
			item_error(ctx, routes, "routes", i, NULL,
			    "route \"%s\" mails, but `mail` has no `from` or no `relays`",
			    r->name);
	}
}

/*
 * The playbook file format (docs/playbooks.md) and its loader.  A playbook
 * is one libconfig file read with the configuration's own schema walker
 * (conf_load_table), so every problem reads FILE:LINE: key: reason, as in
 * the main file, and a file with any problem is refused whole.
 *
 * What a step needs from the site is checked here too: the devices its
 * expressions read and its writes go to exist, ${...} name a parameter or
 * an incident fact, a goto lands on a step.  What needs the running daemon
 * (another playbook by name, a mode, a Modbus point's profile) is the
 * engine's to check when the step runs.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "playbooks/playbook.h"

#define NAME_MAX_LEN 64
#define NELEM(a)     (sizeof(a) / sizeof((a)[0]))

const char *const pb_step_types[] = { "notify", "exec", "wait", "confirm", "set-mode",
	"snmp-set", "modbus-write", "shutdown-tier", "run-playbook", NULL };
const char *const pb_incident_facts[] = { "incident.id", "incident.title",
	"incident.severity", NULL };
static const char *const notify_severities[] = { "incident", "warning", "critical",
	NULL };

/* The keys of each step type (besides the common ones). */
#define OWN_MAX 4
static const char *const own_keys[PB_NTYPES][OWN_MAX] = {
	[PB_NOTIFY] = { "text", "severity", "to" },
	[PB_EXEC] = { "command", "user", "output_max" },
	[PB_WAIT] = { "until", "for" },
	[PB_CONFIRM] = { "question", "who", "approver_differs", "default" },
	[PB_SET_MODE] = { "mode" },
	[PB_SNMP_SET] = { "device", "oid", "set_type", "value" },
	[PB_MODBUS_WRITE] = { "device", "point", "value" },
	[PB_SHUTDOWN_TIER] = { "tier", "hosts", "deadline" },
	[PB_RUN_PLAYBOOK] = { "playbook" },
};

/* What the hooks need besides the object: the site's configuration. */
struct pb_load {
	const struct conf *site;
};

struct pb_step *
playbook_step(const struct playbook *pb, size_t i)
{
	return (struct pb_step *)pb->steps.items + i;
}

struct pb_param *
playbook_param(const struct playbook *pb, size_t i)
{
	return (struct pb_param *)pb->params.items + i;
}

/* The step with that id, or NULL. */
struct pb_step *
playbook_step_named(const struct playbook *pb, const char *id)
{
	size_t i;

	for (i = 0; i < pb->steps.n; i++)
		if (playbook_step(pb, i)->id != NULL &&
		    strcmp(playbook_step(pb, i)->id, id) == 0)
			return playbook_step(pb, i);
	return NULL;
}

/* The parameter with that name, or NULL. */
struct pb_param *
playbook_param_named(const struct playbook *pb, const char *name)
{
	size_t i;

	for (i = 0; i < pb->params.n; i++)
		if (playbook_param(pb, i)->name != NULL &&
		    strcmp(playbook_param(pb, i)->name, name) == 0)
			return playbook_param(pb, i);
	return NULL;
}

/* Letters, digits and the characters of extra, not empty. */
static int
name_valid(const char *s, const char *extra)
{
	const char *p;

	if (s == NULL || *s == '\0')
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || strchr(extra, *p) != NULL))
			return 0;
	return 1;
}

static int
param_name_valid(const char *s)
{
	return name_valid(s, "_") && !(s[0] >= '0' && s[0] <= '9');
}

static int
has_type(const char *const *choices, const char *s)
{
	size_t i;

	for (i = 0; choices[i] != NULL; i++)
		if (strcmp(choices[i], s) == 0)
			return 1;
	return 0;
}

/*
 * A value that is a string or a number (a parameter's default, a step's
 * value): the text as written, and whether it was a number.
 */
static int
scalar_read(
    struct conf_ctx *ctx, config_setting_t *s, char **text, int *isnum, double *num)
{
	char buf[64];
	double v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		if (!utf8_valid(config_setting_get_string(s),
		        strlen(config_setting_get_string(s)))) {
			conf_error(ctx, s, "not valid UTF-8");
			return -1;
		}
		free(*text);
		*text = xstrdup(config_setting_get_string(s));
		*isnum = 0;
		return 0;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		snprintf(buf, sizeof(buf), "%.0f", v);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		snprintf(buf, sizeof(buf), "%.17g", v);
		break;
	default:
		conf_error(ctx, s, "expected a string or a number");
		return -1;
	}
	free(*text);
	*text = xstrdup(buf);
	*isnum = 1;
	if (num != NULL)
		*num = v;
	return 0;
}

/*
 * Parameters.
 */
static int
param_extra(struct conf_ctx *ctx, config_setting_t *s, void *obj)
{
	struct pb_param *p = obj;

	if (strcmp(config_setting_name(s), "default") != 0)
		return 0;
	scalar_read(ctx, s, &p->def, &p->def_number, NULL);
	return 1;
}

static void
param_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct pb_param *p = obj;

	p->origin.file = xstrdup(conf_file(ctx, g));
	p->origin.line = config_setting_source_line(g);
	if (p->name != NULL && !param_name_valid(p->name))
		conf_error(ctx, config_setting_get_member(g, "name"),
		    "\"%s\": use letters, digits and '_', not starting with a digit",
		    p->name);
}

static void
param_release(void *obj)
{
	struct pb_param *p = obj;

	free(p->def);
	free(p->origin.file);
	p->def = p->origin.file = NULL;
}

static const struct conf_key param_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_param, name),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .flags = CK_REQUIRED,
	    .help = "`${name}` in the steps' strings." },
	{ .name = "description",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_param, description),
	    .max = 256,
	    .help = "What the site fills in." },
	{ 0 },
};

static const struct conf_table param_table = {
	.name = "parameter",
	.help = "A value a site fills in; `default` (a string or a number) when it "
	        "does not.",
	.size = sizeof(struct pb_param),
	.keys = param_keys,
	.extra = param_extra,
	.check = param_check,
	.release = param_release,
};

/*
 * Hosts of a shutdown tier.
 */
static void
argv_check(struct conf_ctx *ctx, config_setting_t *g, const char *key,
    const struct conf_strings *argv)
{
	if (argv->n > 0 && argv->v[0][0] != '/')
		conf_error(ctx, config_setting_get_member(g, key),
		    "\"%s\" is not an absolute path (no shell, no PATH search)",
		    argv->v[0]);
	else if (argv->n == 0 && config_setting_get_member(g, key) != NULL)
		conf_error(ctx, config_setting_get_member(g, key), "must not be empty");
}

static void
host_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct pb_host *h = obj;

	argv_check(ctx, g, "command", &h->command);
	argv_check(ctx, g, "check", &h->check);
}

static const struct conf_key host_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_host, name),
	    .min = 1,
	    .max = 255,
	    .flags = CK_REQUIRED,
	    .help = "The host, as people call it." },
	{ .name = "command",
	    .type = CT_STRINGS,
	    .off = offsetof(struct pb_host, command),
	    .flags = CK_REQUIRED,
	    .help = "What shuts it down: argv, absolute path, never a shell." },
	{ .name = "check",
	    .type = CT_STRINGS,
	    .off = offsetof(struct pb_host, check),
	    .flags = CK_REQUIRED,
	    .help = "Whether it is down: argv; exit 0 means down." },
	{ 0 },
};

static const struct conf_table host_table = {
	.name = "host",
	.help = "A host of a shutdown tier.",
	.size = sizeof(struct pb_host),
	.keys = host_keys,
	.check = host_check,
};

/*
 * Steps.
 */
static int
step_extra(struct conf_ctx *ctx, config_setting_t *s, void *obj)
{
	struct pb_step *st = obj;
	int isnum;

	if (strcmp(config_setting_name(s), "value") != 0)
		return 0;
	if (scalar_read(ctx, s, &st->value, &isnum, &st->value_num) == 0 && !isnum)
		st->value_num = NAN;
	return 1;
}

/* The type of the step in g, or -1 if missing or not one (already reported). */
static int
step_type(config_setting_t *g)
{
	config_setting_t *s = config_setting_get_member(g, "type");
	int i;

	if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
		return -1;
	for (i = 0; pb_step_types[i] != NULL; i++)
		if (strcmp(pb_step_types[i], config_setting_get_string(s)) == 0)
			return i;
	return -1;
}

/* Keys of another type are mistakes, not silently ignored. */
static void
step_foreign(struct conf_ctx *ctx, config_setting_t *g, int type)
{
	int n = config_setting_length(g), i, t;
	size_t k;

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		char owners[128] = "";
		int mine = 0;

		for (t = 0; t < PB_NTYPES; t++) {
			for (k = 0; k < OWN_MAX && own_keys[t][k] != NULL; k++) {
				if (strcmp(own_keys[t][k], name) != 0)
					continue;
				if (t == type)
					mine = 1;
				else {
					if (owners[0] != '\0')
						strlcpy_s(owners + strlen(owners), ", ",
						    sizeof(owners) - strlen(owners));
					strlcpy_s(owners + strlen(owners),
					    pb_step_types[t],
					    sizeof(owners) - strlen(owners));
				}
			}
		}
		if (!mine && owners[0] != '\0')
			conf_error(ctx, s, "not a key of %s steps (it belongs to %s)",
			    pb_step_types[type], owners);
	}
}

/* "`text` is required in notify steps" when the key is missing. */
static int
step_needs(struct conf_ctx *ctx, config_setting_t *g, int type, const char *key)
{
	if (config_setting_get_member(g, key) != NULL)
		return 0;
	conf_error(ctx, g, "`%s` is required in %s steps", key, pb_step_types[type]);
	return -1;
}

static const struct device_conf *
site_device(const struct conf *site, const char *name)
{
	size_t i;

	for (i = 0; site != NULL && i < site->devices.n; i++)
		if (conf_device(site, i)->name != NULL &&
		    strcmp(conf_device(site, i)->name, name) == 0)
			return conf_device(site, i);
	return NULL;
}

static struct expr *
step_compile(struct conf_ctx *ctx, config_setting_t *g, const char *key, const char *text,
    const struct conf *site)
{
	char label[600];

	snprintf(label, sizeof(label), "%s.%s", conf_ctx_path(ctx), key);
	return schema_detect_compile(
	    ctx, config_setting_get_member(g, key), text, label, site);
}

static void
step_on_failure(struct conf_ctx *ctx, config_setting_t *g, struct pb_step *st)
{
	const char *f = st->on_failure_text;

	if (f == NULL || strcmp(f, "abort") == 0)
		st->on_failure = PB_FAIL_ABORT;
	else if (strcmp(f, "continue") == 0)
		st->on_failure = PB_FAIL_CONTINUE;
	else if (strncmp(f, "goto:", 5) == 0 && name_valid(f + 5, "_-"))
		st->on_failure = PB_FAIL_GOTO; /* the target: playbook_check */
	else
		conf_error(ctx, config_setting_get_member(g, "on_failure"),
		    "\"%s\": expected continue, abort or goto:STEP", f);
}

static void
step_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	const struct pb_load *load = conf_ctx_arg(ctx);
	const struct conf *site = load != NULL ? load->site : NULL;
	struct pb_step *st = obj;
	config_setting_t *s;
	int type;

	st->origin.file = xstrdup(conf_file(ctx, g));
	st->origin.line = config_setting_source_line(g);
	st->default_answer = -1;
	if (st->id != NULL && !name_valid(st->id, "_-"))
		conf_error(ctx, config_setting_get_member(g, "id"),
		    "\"%s\": use letters, digits, '_' and '-'", st->id);
	step_on_failure(ctx, g, st);
	if (st->when_text != NULL)
		st->when = step_compile(ctx, g, "when", st->when_text, site);
	if ((type = step_type(g)) == -1)
		return;
	st->type = type;
	st->destructive = type == PB_EXEC || type == PB_SNMP_SET ||
	                  type == PB_MODBUS_WRITE || type == PB_SHUTDOWN_TIER;
	if (config_setting_get_member(g, "idempotent") == NULL)
		st->idempotent = !st->destructive;
	step_foreign(ctx, g, type);
	switch (type) {
	case PB_NOTIFY:
		step_needs(ctx, g, type, "text");
		break;
	case PB_EXEC:
		if (step_needs(ctx, g, type, "command") == 0)
			argv_check(ctx, g, "command", &st->command);
		if (config_setting_get_member(g, "timeout") == NULL)
			st->timeout_ms = 60 * 1000;
		break;
	case PB_WAIT:
		if (st->until_text == NULL && config_setting_get_member(g, "for") == NULL)
			conf_error(ctx, g,
			    "a wait step needs `until` (an expression), `for` (a "
			    "duration) or both");
		if (st->until_text != NULL)
			st->until = step_compile(ctx, g, "until", st->until_text, site);
		break;
	case PB_CONFIRM:
		step_needs(ctx, g, type, "question");
		if (st->who.n == 0 && config_setting_get_member(g, "who") == NULL)
			conf_strings_add(&st->who, "operators");
		else if (st->who.n == 0)
			conf_error(ctx, config_setting_get_member(g, "who"),
			    "must not be empty");
		if (st->default_text != NULL) {
			if (strcmp(st->default_text, "yes") == 0)
				st->default_answer = 1;
			else if (strcmp(st->default_text, "no") == 0)
				st->default_answer = 0;
			else
				conf_error(ctx, config_setting_get_member(g, "default"),
				    "\"%s\": expected \"yes\" or \"no\"",
				    st->default_text);
		} else if (st->timeout_ms > 0)
			conf_error(ctx, config_setting_get_member(g, "timeout"),
			    "a confirm step with a timeout needs `default` (\"yes\" or "
			    "\"no\"): the answer taken when nobody answers in time");
		break;
	case PB_SET_MODE:
		if (step_needs(ctx, g, type, "mode") == 0 && !name_valid(st->mode, "_-"))
			conf_error(ctx, config_setting_get_member(g, "mode"),
			    "\"%s\": use letters, digits, '_' and '-'", st->mode);
		break;
	case PB_SNMP_SET:
	case PB_MODBUS_WRITE:
		if (step_needs(ctx, g, type, "device") == 0 && site != NULL &&
		    site_device(site, st->device) == NULL)
			conf_error(ctx, config_setting_get_member(g, "device"),
			    "no device \"%s\"", st->device);
		if (type == PB_SNMP_SET) {
			step_needs(ctx, g, type, "oid");
			if (step_needs(ctx, g, type, "set_type") == 0 &&
			    (strlen(st->set_type) != 1 ||
			        strchr("iusxdnoabt", st->set_type[0]) == NULL))
				conf_error(ctx, config_setting_get_member(g, "set_type"),
				    "\"%s\": one of i u s x d n o a b t (as snmpset)",
				    st->set_type);
		} else
			step_needs(ctx, g, type, "point");
		if (step_needs(ctx, g, type, "value") == 0 && type == PB_MODBUS_WRITE &&
		    st->value != NULL && isnan(st->value_num))
			conf_error(ctx, config_setting_get_member(g, "value"),
			    "\"%s\" is not a number (a Modbus point)", st->value);
		break;
	case PB_SHUTDOWN_TIER:
		step_needs(ctx, g, type, "tier");
		if (step_needs(ctx, g, type, "hosts") == 0 && st->hosts.n == 0 &&
		    (s = config_setting_get_member(g, "hosts")) != NULL &&
		    config_setting_type(s) == CONFIG_TYPE_LIST)
			conf_error(ctx, s, "must not be empty");
		step_needs(ctx, g, type, "deadline");
		break;
	case PB_RUN_PLAYBOOK:
		if (step_needs(ctx, g, type, "playbook") == 0 &&
		    !name_valid(st->playbook, "_.-"))
			conf_error(ctx, config_setting_get_member(g, "playbook"),
			    "\"%s\": a playbook name is letters, digits, '_', '.' and "
			    "'-'",
			    st->playbook);
		break;
	}
}

static void
step_release(void *obj)
{
	struct pb_step *st = obj;

	expr_free(st->when);
	expr_free(st->until);
	free(st->value);
	free(st->origin.file);
	st->when = st->until = NULL;
	st->value = st->origin.file = NULL;
}

static const struct conf_key step_keys[] = {
	{ .name = "id",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, id),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .flags = CK_REQUIRED,
	    .help = "Unique in the playbook: `goto:ID`, `sonae confirm RUN ID`." },
	{ .name = "type",
	    .type = CT_ENUM,
	    .off = offsetof(struct pb_step, type),
	    .choices = pb_step_types,
	    .flags = CK_REQUIRED,
	    .help = "What the step does." },
	{ .name = "title",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, title),
	    .min = 1,
	    .max = 256,
	    .flags = CK_REQUIRED,
	    .help = "The checklist line a human reads." },
	{ .name = "when",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, when_text),
	    .min = 1,
	    .max = 4096,
	    .help = "Run the step only if this expression holds (else skipped)." },
	{ .name = "timeout",
	    .type = CT_DURATION,
	    .off = offsetof(struct pb_step, timeout_ms),
	    .min = 0,
	    .max = 7 * 86400,
	    .def = "0",
	    .help = "The longest the step may take; 0: no limit (exec: 60s)." },
	{ .name = "retries",
	    .type = CT_INT,
	    .off = offsetof(struct pb_step, retries),
	    .min = 0,
	    .max = 10,
	    .def = "0",
	    .help = "Attempts after a failed one." },
	{ .name = "on_failure",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, on_failure_text),
	    .min = 1,
	    .max = NAME_MAX_LEN + 5,
	    .def = "abort",
	    .help = "`abort`, `continue` or `goto:STEP`." },
	{ .name = "idempotent",
	    .type = CT_BOOL,
	    .off = offsetof(struct pb_step, idempotent),
	    .help = "Safe to run again after an interruption." },
	{ .name = "text",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, text),
	    .min = 1,
	    .max = 8192,
	    .help = "notify: the message." },
	{ .name = "severity",
	    .type = CT_ENUM,
	    .off = offsetof(struct pb_step, severity),
	    .choices = notify_severities,
	    .def = "incident",
	    .help = "notify: the incident's, warning or critical." },
	{ .name = "to",
	    .type = CT_STRINGS,
	    .off = offsetof(struct pb_step, to),
	    .help = "notify: addresses; unset: the alert routes." },
	{ .name = "command",
	    .type = CT_STRINGS,
	    .off = offsetof(struct pb_step, command),
	    .help = "exec: argv, absolute path, never a shell." },
	{ .name = "user",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, user),
	    .min = 1,
	    .max = 64,
	    .help = "exec: run as this user." },
	{ .name = "output_max",
	    .type = CT_INT,
	    .off = offsetof(struct pb_step, output_max),
	    .min = 1,
	    .max = 16 << 20,
	    .def = "65536",
	    .help = "exec: bytes of output kept." },
	{ .name = "until",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, until_text),
	    .min = 1,
	    .max = 4096,
	    .help = "wait: until this expression holds." },
	{ .name = "for",
	    .type = CT_DURATION,
	    .off = offsetof(struct pb_step, for_ms),
	    .min = 0,
	    .max = 7 * 86400,
	    .def = "0",
	    .help = "wait: this long (with `until`: it must hold this long)." },
	{ .name = "question",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, question),
	    .min = 1,
	    .max = 1024,
	    .help = "confirm: what is asked." },
	{ .name = "who",
	    .type = CT_STRINGS,
	    .off = offsetof(struct pb_step, who),
	    .help = "confirm: `operators` or user names." },
	{ .name = "approver_differs",
	    .type = CT_BOOL,
	    .off = offsetof(struct pb_step, approver_differs),
	    .def = "false",
	    .help = "confirm: the one who answers is not the one who started the run." },
	{ .name = "default",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, default_text),
	    .min = 1,
	    .max = 3,
	    .help = "confirm: `yes` or `no`, taken when the timeout expires." },
	{ .name = "mode",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, mode),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "set-mode: the operating mode." },
	{ .name = "device",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, device),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "snmp-set, modbus-write: a device of the site." },
	{ .name = "oid",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, oid),
	    .min = 1,
	    .max = 256,
	    .help = "snmp-set: the object." },
	{ .name = "set_type",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, set_type),
	    .min = 1,
	    .max = 1,
	    .help = "snmp-set: the type letter, as snmpset." },
	{ .name = "point",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, point),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "modbus-write: the device's point." },
	{ .name = "tier",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, tier),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "shutdown-tier: the tier's name." },
	{ .name = "hosts",
	    .type = CT_LIST,
	    .off = offsetof(struct pb_step, hosts),
	    .sub = &host_table,
	    .max = 256,
	    .help = "shutdown-tier: the hosts." },
	{ .name = "deadline",
	    .type = CT_DURATION,
	    .off = offsetof(struct pb_step, deadline_ms),
	    .min = 1,
	    .max = 86400,
	    .help = "shutdown-tier: every host is down by then." },
	{ .name = "playbook",
	    .type = CT_STRING,
	    .off = offsetof(struct pb_step, playbook),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .help = "run-playbook: the playbook handed over to." },
	{ 0 },
};

static const struct conf_table step_table = {
	.name = "step",
	.help = "One step of a playbook.",
	.size = sizeof(struct pb_step),
	.keys = step_keys,
	.extra = step_extra,
	.check = step_check,
	.release = step_release,
};

/*
 * ${name} in strings.
 */
struct pb_buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct pb_buf *b, const char *s, size_t n)
{
	if (b == NULL)
		return;
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/*
 * Walk the ${name} of text: the text between them into out (NULL: only
 * check), each name through resolve.  "$${" is a literal "${".  0, or -1
 * with why in err.
 */
static int
refs_walk(const char *text, struct pb_buf *out,
    int (*resolve)(void *, const char *, struct pb_buf *, char *, size_t), void *arg,
    char *err, size_t errlen)
{
	const char *p = text, *end;
	char name[NAME_MAX_LEN + 32];

	buf_add(out, "", 0);
	while (*p != '\0') {
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			buf_add(out, "${", 2);
			p += 3;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			buf_add(out, p++, 1);
			continue;
		}
		if ((end = strchr(p + 2, '}')) == NULL) {
			snprintf(err, errlen,
			    "\"%.40s\": ${ without } (a literal ${ is $${)", p);
			return -1;
		}
		if (end == p + 2 || (size_t)(end - p - 2) >= sizeof(name)) {
			snprintf(err, errlen, "\"%.*s\" is not ${NAME}",
			    (int)(end - p + 1 < 80 ? end - p + 1 : 80), p);
			return -1;
		}
		memcpy(name, p + 2, (size_t)(end - p - 2));
		name[end - p - 2] = '\0';
		if (resolve(arg, name, out, err, errlen) == -1)
			return -1;
		p = end + 1;
	}
	return 0;
}

struct pb_resolve {
	const struct playbook *pb;
	pb_lookup_fn lookup;
	void *arg;
};

static int
refs_resolve(void *arg, const char *name, struct pb_buf *out, char *err, size_t errlen)
{
	struct pb_resolve *r = arg;
	const struct pb_param *p = playbook_param_named(r->pb, name);
	const char *v;

	if (p == NULL && !has_type(pb_incident_facts, name)) {
		snprintf(err, errlen,
		    "${%s}: not a parameter of this playbook nor incident.id, "
		    "incident.title or incident.severity",
		    name);
		return -1;
	}
	if (out == NULL)
		return 0;
	v = r->lookup != NULL ? r->lookup(r->arg, name) : NULL;
	if (v == NULL && p != NULL)
		v = p->def;
	if (v == NULL) {
		snprintf(err, errlen, "${%s}: %s", name,
		    p != NULL ? "the parameter has no value and no default"
		              : "the run has no incident");
		return -1;
	}
	buf_add(out, v, strlen(v));
	return 0;
}

/* Expand the ${...} of text for a run (see playbook.h). */
int
pb_expand(const struct playbook *pb, const char *text, pb_lookup_fn lookup, void *arg,
    char **out, char *err, size_t errlen)
{
	struct pb_resolve r = { pb, lookup, arg };
	struct pb_buf b = { NULL, 0, 0 };

	*out = NULL;
	if (refs_walk(text, &b, refs_resolve, &r, err, errlen) == -1) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	return 0;
}

/*
 * The playbook.
 */
static config_setting_t *
step_setting(config_setting_t *root, size_t i, const char *key)
{
	config_setting_t *l = config_setting_get_member(root, "steps"), *e, *s;

	if (l == NULL || (e = config_setting_get_elem(l, (unsigned)i)) == NULL)
		return l != NULL ? l : root;
	if (key != NULL && config_setting_is_group(e) &&
	    (s = config_setting_get_member(e, key)) != NULL)
		return s;
	return e;
}

/* Check the ${...} of one string of step i (key, or its element n). */
static void
refs_check(struct conf_ctx *ctx, config_setting_t *root, const struct playbook *pb,
    size_t i, const char *key, const char *text)
{
	struct pb_resolve r = { pb, NULL, NULL };
	char err[256], where[96];

	if (text == NULL ||
	    refs_walk(text, NULL, refs_resolve, &r, err, sizeof(err)) == 0)
		return;
	snprintf(where, sizeof(where), "steps[%zu].%s", i, key);
	conf_key_error(ctx, step_setting(root, i, key), where, "%s", err);
}

static void
refs_check_list(struct conf_ctx *ctx, config_setting_t *root, const struct playbook *pb,
    size_t i, const char *key, const struct conf_strings *l)
{
	size_t n;

	for (n = 0; n < l->n; n++)
		refs_check(ctx, root, pb, i, key, l->v[n]);
}

static void
playbook_check(struct conf_ctx *ctx, config_setting_t *root, void *obj)
{
	struct playbook *pb = obj;
	config_setting_t *s;
	char key[64];
	size_t i, h;

	s = config_setting_get_member(root, "name");
	pb->origin.file = xstrdup(conf_file(ctx, s != NULL ? s : root));
	pb->origin.line = s != NULL ? config_setting_source_line(s) : 0;
	if (pb->name != NULL && !name_valid(pb->name, "_.-"))
		conf_error(
		    ctx, s, "\"%s\": use letters, digits, '_', '.' and '-'", pb->name);
	if ((s = config_setting_get_member(root, "steps")) != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_LIST && pb->steps.n == 0)
		conf_error(ctx, s, "a playbook needs at least one step");
	for (i = 0; i < pb->triggers.n; i++)
		if (pb->triggers.v[i][0] == '\0')
			conf_error(ctx, config_setting_get_member(root, "triggers"),
			    "element %zu is empty", i + 1);
	for (i = 0; i < pb->params.n; i++) {
		struct pb_param *p = playbook_param(pb, i), *first;
		if (p->name == NULL || (first = playbook_param_named(pb, p->name)) == p)
			continue;
		snprintf(key, sizeof(key), "parameters[%zu].name", i);
		s = config_setting_get_elem(
		    config_setting_get_member(root, "parameters"), (unsigned)i);
		conf_key_error(ctx, config_setting_get_member(s, "name"), key,
		    "\"%s\" is already declared at %s:%u", p->name, first->origin.file,
		    first->origin.line);
	}
	for (i = 0; i < pb->steps.n; i++) {
		struct pb_step *st = playbook_step(pb, i), *first, *to;
		if (st->id != NULL && (first = playbook_step_named(pb, st->id)) != st) {
			snprintf(key, sizeof(key), "steps[%zu].id", i);
			conf_key_error(ctx, step_setting(root, i, "id"), key,
			    "\"%s\" is already used at %s:%u", st->id, first->origin.file,
			    first->origin.line);
		}
		if (st->on_failure == PB_FAIL_GOTO) {
			snprintf(key, sizeof(key), "steps[%zu].on_failure", i);
			to = playbook_step_named(pb, st->on_failure_text + 5);
			if (to == NULL)
				conf_key_error(ctx, step_setting(root, i, "on_failure"),
				    key, "%s: no step \"%s\"", st->on_failure_text,
				    st->on_failure_text + 5);
			else if (to == st)
				conf_key_error(ctx, step_setting(root, i, "on_failure"),
				    key, "%s: the step itself (use retries)",
				    st->on_failure_text);
			else
				st->goto_step = (size_t)(to - playbook_step(pb, 0));
		}
		refs_check(ctx, root, pb, i, "title", st->title);
		refs_check(ctx, root, pb, i, "text", st->text);
		refs_check_list(ctx, root, pb, i, "to", &st->to);
		refs_check_list(ctx, root, pb, i, "command", &st->command);
		refs_check(ctx, root, pb, i, "user", st->user);
		refs_check(ctx, root, pb, i, "question", st->question);
		refs_check(ctx, root, pb, i, "oid", st->oid);
		refs_check(ctx, root, pb, i, "value", st->value);
		for (h = 0; h < st->hosts.n; h++) {
			struct pb_host *host = (struct pb_host *)st->hosts.items + h;
			refs_check(ctx, root, pb, i, "hosts", host->name);
			refs_check_list(ctx, root, pb, i, "hosts", &host->command);
			refs_check_list(ctx, root, pb, i, "hosts", &host->check);
		}
	}
}

static void
playbook_release(void *obj)
{
	struct playbook *pb = obj;

	free(pb->origin.file);
	pb->origin.file = NULL;
}

static const struct conf_key playbook_keys[] = {
	{ .name = "name",
	    .type = CT_STRING,
	    .off = offsetof(struct playbook, name),
	    .min = 1,
	    .max = NAME_MAX_LEN,
	    .flags = CK_REQUIRED,
	    .help = "What rules, run-playbook steps and the CLI call it." },
	{ .name = "title_ja",
	    .type = CT_STRING,
	    .off = offsetof(struct playbook, title_ja),
	    .min = 1,
	    .max = 256,
	    .flags = CK_REQUIRED,
	    .help = "The title in Japanese." },
	{ .name = "title_en",
	    .type = CT_STRING,
	    .off = offsetof(struct playbook, title_en),
	    .min = 1,
	    .max = 256,
	    .flags = CK_REQUIRED,
	    .help = "The title in English." },
	{ .name = "description",
	    .type = CT_STRING,
	    .off = offsetof(struct playbook, description),
	    .max = 8192,
	    .help = "When it applies, what it does, its exit criteria." },
	{ .name = "triggers",
	    .type = CT_STRINGS,
	    .off = offsetof(struct playbook, triggers),
	    .help = "Rule names (`*` and `?` as in file names) whose incidents start "
	            "it." },
	{ .name = "parameters",
	    .type = CT_LIST,
	    .off = offsetof(struct playbook, params),
	    .sub = &param_table,
	    .max = 256,
	    .help = "What a site fills in." },
	{ .name = "steps",
	    .type = CT_LIST,
	    .off = offsetof(struct playbook, steps),
	    .sub = &step_table,
	    .max = 1000,
	    .flags = CK_REQUIRED,
	    .help = "The steps, in order." },
	{ 0 },
};

static const struct conf_table playbook_table = {
	.name = "playbook",
	.help = "An emergency-response playbook.",
	.size = sizeof(struct playbook),
	.keys = playbook_keys,
	.check = playbook_check,
	.release = playbook_release,
};

/* Load and check one playbook file (see playbook.h). */
struct playbook *
playbook_load(const char *path, const struct conf *site, struct conf_errors *errs)
{
	struct pb_load load = { site };
	struct playbook *pb = xcalloc(1, sizeof(*pb));

	if (conf_load_table(path, &playbook_table, pb, &load, errs) == -1) {
		playbook_free(pb);
		return NULL;
	}
	return pb;
}

/* Free a playbook.  Takes NULL. */
void
playbook_free(struct playbook *pb)
{
	if (pb == NULL)
		return;
	conf_free_object(&playbook_table, pb);
	free(pb);
}

static int
conf_file_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

/* Every *.conf of a folder (see playbook.h). */
int
playbook_load_dir(const char *dir, const struct conf *site, struct playbook ***out,
    size_t *n, struct conf_errors *errs)
{
	struct dirent **names;
	struct playbook **v = NULL, *pb;
	size_t before = errs->n, k, i;
	char *path, *line;
	int count, j;

	*out = NULL;
	*n = 0;
	if ((count = scandir(dir, &names, conf_file_filter, alphasort)) == -1) {
		xasprintf(&line, "%s: cannot read the folder: %s", dir, strerror(errno));
		errs->v = xreallocarray(errs->v, errs->n + 1, sizeof(char *));
		errs->v[errs->n++] = line;
		return -1;
	}
	for (j = 0, k = 0; j < count; j++) {
		xasprintf(&path, "%s/%s", dir, names[j]->d_name);
		free(names[j]);
		pb = playbook_load(path, site, errs);
		free(path);
		if (pb == NULL)
			continue;
		for (i = 0; i < k; i++)
			if (strcmp(v[i]->name, pb->name) == 0)
				break;
		if (i < k) {
			xasprintf(&line, "%s:%u: name: \"%s\" is already used at %s:%u",
			    pb->origin.file, pb->origin.line, pb->name, v[i]->origin.file,
			    v[i]->origin.line);
			errs->v = xreallocarray(errs->v, errs->n + 1, sizeof(char *));
			errs->v[errs->n++] = line;
			playbook_free(pb);
			continue;
		}
		v = xreallocarray(v, k + 1, sizeof(*v));
		v[k++] = pb;
	}
	free(names);
	if (errs->n > before) {
		for (i = 0; i < k; i++)
			playbook_free(v[i]);
		free(v);
		return -1;
	}
	*out = v;
	*n = k;
	return 0;
}

/*
 * JSON.
 */
static void
set_string(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

/* A number as written: an integer when it is one. */
static json_t *
number_json(double v)
{
	if (v == floor(v) && fabs(v) < 9e15)
		return json_integer((json_int_t)v);
	return json_real(v);
}

static json_t *
step_json(const struct pb_step *st)
{
	json_t *o = json_object(), *hosts;
	size_t h;

	set_string(o, "id", st->id);
	set_string(o, "type", pb_step_types[st->type]);
	set_string(o, "title", st->title);
	set_string(o, "when", st->when_text);
	json_object_set_new(o, "timeout_ms", json_integer(st->timeout_ms));
	json_object_set_new(o, "retries", json_integer(st->retries));
	set_string(o, "on_failure", st->on_failure_text);
	if (st->on_failure == PB_FAIL_GOTO)
		json_object_set_new(
		    o, "goto_index", json_integer((json_int_t)st->goto_step));
	json_object_set_new(o, "idempotent", json_boolean(st->idempotent));
	json_object_set_new(o, "destructive", json_boolean(st->destructive));
	switch ((enum pb_step_type)st->type) {
	case PB_NOTIFY:
		set_string(o, "text", st->text);
		set_string(o, "severity", notify_severities[st->severity]);
		if (st->to.n > 0)
			json_object_set_new(o, "to", conf_strings_json(&st->to));
		break;
	case PB_EXEC:
		json_object_set_new(o, "command", conf_strings_json(&st->command));
		set_string(o, "user", st->user);
		json_object_set_new(o, "output_max", json_integer(st->output_max));
		break;
	case PB_WAIT:
		set_string(o, "until", st->until_text);
		json_object_set_new(o, "for_ms", json_integer(st->for_ms));
		break;
	case PB_CONFIRM:
		set_string(o, "question", st->question);
		json_object_set_new(o, "who", conf_strings_json(&st->who));
		json_object_set_new(
		    o, "approver_differs", json_boolean(st->approver_differs));
		set_string(o, "default", st->default_text);
		break;
	case PB_SET_MODE:
		set_string(o, "mode", st->mode);
		break;
	case PB_SNMP_SET:
		set_string(o, "device", st->device);
		set_string(o, "oid", st->oid);
		set_string(o, "set_type", st->set_type);
		set_string(o, "value", st->value);
		break;
	case PB_MODBUS_WRITE:
		set_string(o, "device", st->device);
		set_string(o, "point", st->point);
		json_object_set_new(o, "value", number_json(st->value_num));
		break;
	case PB_SHUTDOWN_TIER:
		set_string(o, "tier", st->tier);
		hosts = json_array();
		for (h = 0; h < st->hosts.n; h++) {
			const struct pb_host *host =
			    (struct pb_host *)st->hosts.items + h;
			json_array_append_new(
			    hosts, json_pack("{s:s, s:o, s:o}", "name", host->name,
			               "command", conf_strings_json(&host->command),
			               "check", conf_strings_json(&host->check)));
		}
		json_object_set_new(o, "hosts", hosts);
		json_object_set_new(o, "deadline_ms", json_integer(st->deadline_ms));
		break;
	case PB_RUN_PLAYBOOK:
		set_string(o, "playbook", st->playbook);
		break;
	}
	return o;
}

/* What `sonae playbook NAME` shows (see playbook.h). */
json_t *
playbook_json(const struct playbook *pb)
{
	json_t *o = json_object(), *params = json_array(), *steps = json_array(), *p;
	size_t i;

	set_string(o, "name", pb->name);
	set_string(o, "title_ja", pb->title_ja);
	set_string(o, "title_en", pb->title_en);
	set_string(o, "description", pb->description);
	set_string(o, "file", pb->origin.file);
	json_object_set_new(o, "triggers", conf_strings_json(&pb->triggers));
	for (i = 0; i < pb->params.n; i++) {
		const struct pb_param *pp = playbook_param(pb, i);
		p = json_object();
		set_string(p, "name", pp->name);
		if (pp->def == NULL)
			json_object_set_new(p, "default", json_null());
		else if (pp->def_number)
			json_object_set_new(
			    p, "default", number_json(strtod(pp->def, NULL)));
		else
			json_object_set_new(p, "default", json_string(pp->def));
		set_string(p, "description", pp->description);
		json_array_append_new(params, p);
	}
	json_object_set_new(o, "parameters", params);
	for (i = 0; i < pb->steps.n; i++)
		json_array_append_new(steps, step_json(playbook_step(pb, i)));
	json_object_set_new(o, "steps", steps);
	return o;
}

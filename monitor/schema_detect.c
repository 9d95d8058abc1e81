/*
 * The configuration schema of the detection layer: rules, checks, configured
 * maintenance windows and the observer (docs/rules.md, docs/maintenance.md).
 *
 * Everything that can be wrong is found here, when the file is loaded:
 * expressions are compiled, ranges parsed, selectors expanded into the
 * metrics they watch, windows parsed in the site's zone, and the names that
 * tie rules, checks and devices together (active(), inhibits, parents, the
 * observer's devices) resolved.  The engine (detect.c) gets objects that
 * cannot fail; they belong to the configuration and die with it.
 *
 * An expression error names the column inside the file, not only inside the
 * string.  libconfig gives the line of a setting only, so the value is read
 * again from the file: its opening quote is found after the key on that
 * line, and the string is scanned with libconfig's escapes and adjacent
 * strings ("a" "b") to map every byte of the value to its line and column.
 * When the scan does not give back exactly the value libconfig read, the
 * column is left out (FILE:LINE: key: reason) rather than guessed.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

#define NAME_MAX_LEN  64
#define CONF_FILE_MAX (16 << 20) /* a file we read again for columns */
#define NELEM(a)      (sizeof(a) / sizeof((a)[0]))

static const char *const severity_names[] = { "warning", "critical", NULL };
static const char *const check_type_names[] = { "number", "bool", "enum", "flags", NULL };
/* "a number check", "an enum check". */
static const char *const check_type_articles[] = { "a number", "a bool", "an enum",
	"a flags" };

/* A choice of severity_names (0 or 1) as the check state it stands for. */
static int
severity_state(int choice)
{
	return choice == 0 ? CHECK_WARNING : CHECK_CRITICAL;
}

/* The i-th rule, check and configured maintenance window. */
struct rule_conf *
conf_rule(const struct conf *conf, size_t i)
{
	return (struct rule_conf *)conf->rules.items + i;
}

struct check_entry *
conf_check(const struct conf *conf, size_t i)
{
	return (struct check_entry *)conf->checks.items + i;
}

struct window_conf *
conf_window(const struct conf *conf, size_t i)
{
	return (struct window_conf *)conf->maintenance.items + i;
}

/*
 * Positions inside a string value.
 */
struct vmap {
	const char *file; /* filecopy: the file that holds the setting */
	char *filecopy;
	unsigned int line;          /* of the setting */
	size_t n;                   /* bytes of the value */
	unsigned int *lines, *cols; /* n + 1 entries (the end), or NULL: not found */
};

/* A cursor in the file: the column counts characters (UTF-8), from 1. */
struct cursor {
	const char *p, *end;
	unsigned int line, col;
};

static void
cursor_next(struct cursor *c)
{
	if (c->p >= c->end)
		return;
	if (*c->p == '\n') {
		c->line++;
		c->col = 1;
		c->p++;
		return;
	}
	c->p++;
	if (c->p < c->end && ((unsigned char)*c->p & 0xc0) != 0x80)
		c->col++;
}

static void
cursor_skip_space(struct cursor *c)
{
	while (c->p < c->end && isspace((unsigned char)*c->p))
		cursor_next(c);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Scan the string(s) at c (an opening quote) the way libconfig 1.5 reads
 * them, recording where each byte of value comes from; 0 if they spell
 * exactly value.
 */
static int
vmap_scan(struct cursor c, const char *value, struct vmap *m)
{
	size_t n = strlen(value), o = 0;
	unsigned int endline = 0, endcol = 0;

	m->lines = xcalloc(n + 1, sizeof(*m->lines));
	m->cols = xcalloc(n + 1, sizeof(*m->cols));
	while (c.p < c.end && *c.p == '"') {
		cursor_next(&c);
		while (c.p < c.end && *c.p != '"') {
			unsigned int line = c.line, col = c.col;
			int b, skip = 1, i;

			if (*c.p == '\\' && c.p + 1 < c.end) {
				skip = 2;
				switch (c.p[1]) {
				case 'n':
					b = '\n';
					break;
				case 'r':
					b = '\r';
					break;
				case 't':
					b = '\t';
					break;
				case 'f':
					b = '\f';
					break;
				case '\\':
				case '"':
					b = c.p[1];
					break;
				case 'x':
					if (c.p + 3 < c.end && hexval(c.p[2]) >= 0 &&
					    hexval(c.p[3]) >= 0) {
						b = hexval(c.p[2]) * 16 + hexval(c.p[3]);
						skip = 4;
						break;
					}
					/* FALLTHROUGH */
				default:
					b = '\\'; /* a lone backslash is itself */
					skip = 1;
					break;
				}
			} else
				b = (unsigned char)*c.p;
			if (o >= n || (unsigned char)value[o] != (unsigned char)b)
				goto bad;
			m->lines[o] = line;
			m->cols[o] = col;
			o++;
			for (i = 0; i < skip; i++)
				cursor_next(&c);
		}
		if (c.p >= c.end)
			goto bad;
		endline = c.line; /* the closing quote: just after the last byte */
		endcol = c.col;
		cursor_next(&c);
		cursor_skip_space(&c);
	}
	if (o != n || endline == 0)
		goto bad;
	m->lines[n] = endline;
	m->cols[n] = endcol;
	m->n = n;
	return 0;
bad:
	free(m->lines);
	free(m->cols);
	m->lines = m->cols = NULL;
	return -1;
}

static char *
file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(CONF_FILE_MAX + 1);
	n = fread(buf, 1, CONF_FILE_MAX + 1, f);
	fclose(f);
	if (n > CONF_FILE_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
key_char(int c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '*';
}

/* Map the string value of setting s to its place in its file (see the top). */
static void
vmap_find(struct conf_ctx *ctx, config_setting_t *s, struct vmap *m)
{
	const char *name = config_setting_name(s), *value;
	struct cursor c;
	size_t len, klen;
	char *buf;

	memset(m, 0, sizeof(*m));
	m->filecopy = xstrdup(conf_file(ctx, s));
	m->file = m->filecopy;
	m->line = config_setting_source_line(s);
	if (name == NULL || config_setting_type(s) != CONFIG_TYPE_STRING ||
	    m->line == 0 || (buf = file_read(m->file, &len)) == NULL)
		return;
	value = config_setting_get_string(s);
	klen = strlen(name);
	c.p = buf;
	c.end = buf + len;
	c.line = c.col = 1;
	while (c.p < c.end && c.line < m->line)
		cursor_next(&c);
	for (; c.p < c.end && c.line == m->line; cursor_next(&c)) {
		struct cursor v = c;
		size_t i;

		if ((c.p > buf && key_char((unsigned char)c.p[-1])) ||
		    (size_t)(c.end - c.p) < klen || strncmp(c.p, name, klen) != 0 ||
		    key_char((unsigned char)c.p[klen]))
			continue;
		for (i = 0; i < klen; i++)
			cursor_next(&v);
		cursor_skip_space(&v);
		if (v.p >= v.end || (*v.p != '=' && *v.p != ':'))
			continue;
		cursor_next(&v);
		cursor_skip_space(&v);
		if (vmap_scan(v, value, m) == 0)
			break;
	}
	free(buf);
}

static void
vmap_free(struct vmap *m)
{
	free(m->lines);
	free(m->cols);
	free(m->filecopy);
	memset(m, 0, sizeof(*m));
}

/*
 * Report msg at byte off of the value (n: just after it): FILE:LINE:COL: msg,
 * or FILE:LINE: msg when the value was not found or off is NOWHERE.
 */
#define NOWHERE ((size_t)-1)
static void PRINTFLIKE(4, 5) vmap_error(
    struct conf_ctx *ctx, const struct vmap *m, size_t off, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m->lines == NULL || off > m->n)
		conf_error_at(ctx, m->file, m->line, 0, "%s", msg);
	else
		conf_error_at(ctx, m->file, m->lines[off], m->cols[off], "%s", msg);
}

/*
 * The byte of text at line l, column c, counted as expr.c counts them (lines
 * and characters before it, from 1:1); -1 if there is none.
 */
static ssize_t
text_offset(const char *text, unsigned long l, unsigned long c)
{
	unsigned long line = 1, col = 1;
	size_t off, len = strlen(text);

	for (off = 0; off <= len; off++) {
		/* A continuation byte has the column of the character after it. */
		if ((off == len || ((unsigned char)text[off] & 0xc0) != 0x80) &&
		    line == l && col == c)
			return (ssize_t)off;
		if (off == len)
			break;
		if (text[off] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[off] & 0xc0) != 0x80)
			col++;
	}
	return -1;
}

/*
 * Compile the expression of setting s.  Given no file, expr_compile() says
 * "-:LINE:COL: label: reason" with the position inside the text from 1:1;
 * that position is turned back into a byte of the text, and the byte into
 * its place in the file, so the error reads FILE:LINE:COL: label: reason.
 */
static struct expr *
compile_setting(
    struct conf_ctx *ctx, config_setting_t *s, const char *text, const char *label)
{
	char err[1024], *end;
	unsigned long l, c;
	struct expr *e;
	struct vmap m;
	ssize_t off = -1;

	if ((e = expr_compile(text, NULL, 1, 1, label, err, sizeof(err))) != NULL)
		return e;
	vmap_find(ctx, s, &m);
	if (strncmp(err, "-:", 2) != 0)
		goto raw;
	l = strtoul(err + 2, &end, 10);
	if (*end != ':')
		goto raw;
	c = strtoul(end + 1, &end, 10);
	if (strncmp(end, ": ", 2) != 0)
		goto raw;
	off = text_offset(text, l, c);
	vmap_error(ctx, &m, off == -1 ? NOWHERE : (size_t)off, "%s", end + 2);
	vmap_free(&m);
	return NULL;
raw:
	conf_error_at(ctx, m.file, m.line, 0, "%s", err);
	vmap_free(&m);
	return NULL;
}

static int
name_char(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* Where the reference key ("ups1.on_battery") is in text, outside strings. */
static size_t
find_ref(const char *text, const char *key)
{
	size_t i, len = strlen(text), klen = strlen(key);

	for (i = 0; i < len; i++) {
		if (text[i] == '"') {
			for (i++; i < len && text[i] != '"'; i++)
				if (text[i] == '\\' && i + 1 < len)
					i++;
			continue;
		}
		if ((i == 0 ||
		        (!name_char((unsigned char)text[i - 1]) && text[i - 1] != '.')) &&
		    strncmp(text + i, key, klen) == 0 &&
		    !name_char((unsigned char)text[i + klen]))
			return i;
	}
	return NOWHERE;
}

/* Where active("name") is in text. */
static size_t
find_active(const char *text, const char *name)
{
	size_t i, j, len = strlen(text), nlen = strlen(name);

	for (i = 0; i + 6 <= len; i++) {
		if (strncmp(text + i, "active", 6) != 0 ||
		    (i > 0 && name_char((unsigned char)text[i - 1])))
			continue;
		for (j = i + 6; isspace((unsigned char)text[j]); j++)
			;
		if (text[j++] != '(')
			continue;
		while (isspace((unsigned char)text[j]))
			j++;
		if (text[j] == '"' && strncmp(text + j + 1, name, nlen) == 0 &&
		    text[j + 1 + nlen] == '"')
			return i;
	}
	return NOWHERE;
}

/*
 * Keys every rule and check has (struct detect_keys), in two parts so that
 * a rule's own keys come between them in the reference.
 */
#define DETECT_HEAD(T, NAME_HELP)                                                        \
	{ .name = "name",                                                                \
		.type = CT_STRING,                                                       \
		.off = offsetof(T, k.name),                                              \
		.min = 1,                                                                \
		.max = NAME_MAX_LEN,                                                     \
		.flags = CK_REQUIRED,                                                    \
		.help =                                                                  \
		    "Unique among rules and checks: letters, digits, `_`, "              \
		    "`.`, `:` and `-`. Incidents, `active()` and `inhibits` use it. "    \
		    "`observer` and names starting `unreachable:` or `declared:` are "   \
		    "reserved." NAME_HELP },                                             \
	{                                                                                \
		.name = "description", .type = CT_STRING,                                \
		.off = offsetof(T, k.description), .max = 256,                           \
		.help = "What the problem means, in words for whoever is on duty; "      \
		        "shown with its incidents."                                      \
	}

#define DETECT_TAIL(T)                                                                   \
	{ .name = "for",                                                                 \
		.type = CT_DURATION,                                                     \
		.off = offsetof(T, k.cc.for_ms),                                         \
		.min = 0,                                                                \
		.max = 86400,                                                            \
		.def = "0",                                                              \
		.help =                                                                  \
		    "Hold-down: a problem must last this long before it is HARD "        \
		    "(confirmed) and opens an incident; shorter blips stay SOFT and "    \
		    "page nobody." },                                                    \
	    { .name = "max_attempts",                                                    \
		    .type = CT_INT,                                                      \
		    .off = offsetof(T, k.cc.max_attempts),                               \
		    .min = 1,                                                            \
		    .max = 10,                                                           \
		    .def = "1",                                                          \
		    .help = "Problem results in a row before the problem is HARD "       \
		            "(Nagios max_check_attempts); 1: the first one." },          \
	    { .name = "retry_interval",                                                  \
		    .type = CT_DURATION,                                                 \
		    .off = offsetof(T, k.cc.retry_interval_ms),                          \
		    .min = 0.1,                                                          \
		    .max = 86400,                                                        \
		    .def = "10s",                                                        \
		    .help =                                                              \
		        "While a problem is SOFT (not yet confirmed), how soon it is "   \
		        "looked at again." },                                            \
	    { .name = "n",                                                               \
		    .type = CT_INT,                                                      \
		    .off = offsetof(T, k.cc.n),                                          \
		    .min = 1,                                                            \
		    .max = CHECK_MAX_M,                                                  \
		    .def = "1",                                                          \
		    .help = "N of M: a result counts as a problem when n of the last m " \
		            "results are problems, so one odd reading is not an alarm. " \
		            "n must not be above m." },                                  \
	    { .name = "m",                                                               \
		    .type = CT_INT,                                                      \
		    .off = offsetof(T, k.cc.m),                                          \
		    .min = 1,                                                            \
		    .max = CHECK_MAX_M,                                                  \
		    .def = "1",                                                          \
		    .help = "N of M: how many of the latest results are looked at." },   \
	    { .name = "flap_detection",                                                  \
		    .type = CT_BOOL,                                                     \
		    .off = offsetof(T, k.cc.flap_detection),                             \
		    .def = "true",                                                       \
		    .help =                                                              \
		        "Detect flapping (a state that keeps changing, measured over "   \
		        "the last 21 results as Nagios does): while it flaps nobody "    \
		        "is paged for each change; the state it settles in is sent "     \
		        "when it stops." },                                              \
	    { .name = "flap_low",                                                        \
		    .type = CT_FLOAT,                                                    \
		    .off = offsetof(T, k.cc.flap_low),                                   \
		    .min = 0,                                                            \
		    .max = 100,                                                          \
		    .def = "20",                                                         \
		    .help = "Flapping stops at or below this percentage of changes." },  \
	    { .name = "flap_high",                                                       \
		    .type = CT_FLOAT,                                                    \
		    .off = offsetof(T, k.cc.flap_high),                                  \
		    .min = 0,                                                            \
		    .max = 100,                                                          \
		    .def = "30",                                                         \
		    .help = "Flapping starts at or above this percentage of changes; "   \
		            "must be above flap_low." },                                 \
	    { .name = "inhibits",                                                        \
		    .type = CT_STRINGS,                                                  \
		    .off = offsetof(T, k.inhibits),                                      \
		    .help =                                                              \
		        "While this problem's incident is open, the detectors whose "    \
		        "names match these patterns are folded into it instead of "      \
		        "opening their own (an incident they already had is merged): "   \
		        "their problems are the consequence (`link-down`, "              \
		        "`unreachable:*`; `*` and `?` as in file names). Each pattern "  \
		        "must match a rule, a check, `observer` or "                     \
		        "`unreachable:DEVICE`." },                                       \
	{                                                                                \
		.name = "playbook", .type = CT_STRING, .off = offsetof(T, k.playbook),   \
		.min = 1, .max = NAME_MAX_LEN,                                           \
		.help = "Playbook asked for when the problem's incident opens, by "      \
		        "name (recorded in its timeline; held back in a maintenance "    \
		        "window). Unset: none."                                          \
	}

/* The name of a rule or check: its characters and the reserved names. */
static void
detect_name_check(struct conf_ctx *ctx, config_setting_t *g, const char *name)
{
	config_setting_t *s = config_setting_get_member(g, "name");
	const char *p;

	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_.:-", *p) == NULL)
			break;
	if (*p != '\0')
		conf_error(
		    ctx, s, "\"%s\": use letters, digits, '_', '.', ':' and '-'", name);
	else if (strcmp(name, "observer") == 0)
		conf_error(ctx, s,
		    "\"observer\" is reserved: it names the detector of this host's "
		    "own health");
	else if (strncmp(name, "unreachable:", 12) == 0)
		conf_error(ctx, s,
		    "\"%s\": names starting with unreachable: are reserved for the "
		    "detectors of devices that cannot be reached",
		    name);
	else if (strncmp(name, "declared:", 9) == 0)
		conf_error(ctx, s,
		    "\"%s\": names starting with declared: are reserved for problems "
		    "operators declare",
		    name);
}

/* The first of the keys that is in group g, or g. */
static config_setting_t *
first_member(config_setting_t *g, const char *a, const char *b)
{
	config_setting_t *s;

	if ((s = config_setting_get_member(g, a)) != NULL)
		return s;
	if (b != NULL && (s = config_setting_get_member(g, b)) != NULL)
		return s;
	return g;
}

/* What rules and checks share: where they are, the name, the check_conf. */
static void
detect_keys_check(struct conf_ctx *ctx, config_setting_t *g, struct detect_keys *k)
{
	struct check_conf *cc = &k->cc;
	char err[256];

	k->origin.file = xstrdup(conf_file(ctx, g));
	k->origin.line = config_setting_source_line(g);
	cc->interval_ms = 0; /* detectors run when an input changes */
	if (k->name != NULL)
		detect_name_check(ctx, g, k->name);
	if (check_conf_valid(cc, err, sizeof(err)) == -1) {
		if (cc->n > cc->m)
			conf_error(ctx, first_member(g, "n", "m"), "n %d of m %d: %s",
			    cc->n, cc->m, err);
		else if (cc->flap_detection && cc->flap_low >= cc->flap_high)
			conf_error(ctx, first_member(g, "flap_low", "flap_high"),
			    "flap_low %g, flap_high %g: %s", cc->flap_low, cc->flap_high,
			    err);
		else
			conf_error(ctx, g, "%s", err);
	}
}

static void
detect_keys_release(struct detect_keys *k)
{
	free(k->origin.file);
	k->origin.file = NULL;
}

/*
 * Rules.
 */
static void
rule_item_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct rule_conf *r = obj;

	detect_keys_check(ctx, g, &r->k);
	r->severity = severity_state(r->severity);
	if (r->when_text != NULL)
		r->when = compile_setting(
		    ctx, config_setting_get_member(g, "when"), r->when_text, "when");
	if (r->recover_text != NULL)
		r->recover = compile_setting(ctx, config_setting_get_member(g, "recover"),
		    r->recover_text, "recover");
}

static void
rule_release(void *obj)
{
	struct rule_conf *r = obj;

	expr_free(r->when);
	expr_free(r->recover);
	r->when = r->recover = NULL;
	detect_keys_release(&r->k);
}

static const struct conf_key rule_keys[] = {
	DETECT_HEAD(struct rule_conf, ""),
	{ .name = "when",
	    .type = CT_STRING,
	    .off = offsetof(struct rule_conf, when_text),
	    .min = 1,
	    .flags = CK_REQUIRED,
	    .help = "The condition that is the problem, in the rule "
	            "language (docs/rules.md): `ups1.on_battery`, "
	            "`env1.temperature >= 32 degC`, `count(kind=ups, on_battery) >= 2`. "
	            "Compiled when the file is loaded: a mistake, a device that is not "
	            "configured or an `active()` of an unknown rule refuses the file "
	            "with the line and column." },
	{ .name = "recover",
	    .type = CT_STRING,
	    .off = offsetof(struct rule_conf, recover_text),
	    .min = 1,
	    .help = "A separate condition that ends the problem (hysteresis): once "
	            "`when` held, the problem lasts until this holds, e.g. "
	            "`env1.temperature < 27 degC` after `>= 32 degC`. Unset: the problem "
	            "ends when `when` no longer holds." },
	{ .name = "severity",
	    .type = CT_ENUM,
	    .off = offsetof(struct rule_conf, severity),
	    .choices = severity_names,
	    .def = "critical",
	    .help = "How bad the problem is while `when` holds." },
	DETECT_TAIL(struct rule_conf),
	{ 0 },
};

const struct conf_table conf_rule_table = {
	.name = "rule",
	.help = "A rule: a condition over metrics, in the expression language of "
	        "docs/rules.md, that is a problem while it holds. A problem is SOFT "
	        "at first and HARD (confirmed) after `max_attempts` results in a row "
	        "and `for`; only HARD problems open incidents, page people and start "
	        "playbooks. The rule is the detector of its name.",
	.size = sizeof(struct rule_conf),
	.keys = rule_keys,
	.check = rule_item_check,
	.release = rule_release,
};

/*
 * Checks.
 */

/* The keys that make a check's type, by type (enum check_kind). */
static const struct {
	const char *key;
	enum check_kind kind;
} check_type_keys[] = {
	{ "warn", CHECK_NUMBER },
	{ "crit", CHECK_NUMBER },
	{ "warn_recover", CHECK_NUMBER },
	{ "crit_recover", CHECK_NUMBER },
	{ "when_true", CHECK_BOOL },
	{ "warn_values", CHECK_ENUM },
	{ "crit_values", CHECK_ENUM },
	{ "warn_flags", CHECK_FLAGS },
	{ "crit_flags", CHECK_FLAGS },
};
/* What a check of each type must have: one of two keys. */
static const char *const check_needs[][2] = {
	{ "warn", "crit" },
	{ "when_true", NULL },
	{ "warn_values", "crit_values" },
	{ "warn_flags", "crit_flags" },
};

/* The type from the keys given; -1 if they conflict (reported). */
static int
check_type(struct conf_ctx *ctx, config_setting_t *g)
{
	config_setting_t *t = config_setting_get_member(g, "type");
	const char *by = NULL;
	int kind = -1, i, n = config_setting_length(g), bad = 0;
	size_t k;

	if (t != NULL) {
		if (config_setting_type(t) != CONFIG_TYPE_STRING)
			return -1; /* reported by the walk */
		for (i = 0; check_type_names[i] != NULL; i++)
			if (strcmp(check_type_names[i], config_setting_get_string(t)) ==
			    0)
				break;
		if (check_type_names[i] == NULL)
			return -1;
		kind = i;
		by = "type";
	}
	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		for (k = 0; k < NELEM(check_type_keys); k++)
			if (strcmp(config_setting_name(s), check_type_keys[k].key) == 0)
				break;
		if (k == NELEM(check_type_keys))
			continue;
		if (kind == -1) {
			kind = (int)check_type_keys[k].kind;
			by = check_type_keys[k].key;
		} else if (kind != (int)check_type_keys[k].kind) {
			conf_error(ctx, s,
			    "this key is for %s checks, and %s makes this %s check",
			    check_type_names[check_type_keys[k].kind], by,
			    check_type_articles[kind]);
			bad = 1;
		}
	}
	if (bad)
		return -1;
	if (kind == -1) {
		conf_error(ctx, g,
		    "nothing to alert on: give warn or crit (a number), when_true "
		    "(true/false), warn_values or crit_values (a text value), or "
		    "warn_flags or crit_flags (words of a text)");
		return -1;
	}
	if (config_setting_get_member(g, check_needs[kind][0]) == NULL &&
	    (check_needs[kind][1] == NULL ||
	        config_setting_get_member(g, check_needs[kind][1]) == NULL)) {
		if (check_needs[kind][1] != NULL)
			conf_error(ctx, g, "%s check needs %s or %s",
			    check_type_articles[kind], check_needs[kind][0],
			    check_needs[kind][1]);
		else
			conf_error(ctx, g, "%s check needs %s", check_type_articles[kind],
			    check_needs[kind][0]);
		return -1;
	}
	return kind;
}

static void
check_range(struct conf_ctx *ctx, config_setting_t *g, const char *key, const char *text,
    struct check_range *r)
{
	if (text == NULL)
		return;
	if (check_range_parse(text, r) == -1)
		conf_error(ctx, config_setting_get_member(g, key),
		    "\"%s\" is not a range: give \"~:27\" (above 27 alerts), \"10:\" "
		    "(below 10), \"10:20\" (outside), \"@10:20\" (inside) or \"90\" "
		    "(outside 0..90)",
		    text);
}

/* Flag words are single words: the value is split on spaces and commas. */
static void
check_words(struct conf_ctx *ctx, config_setting_t *g, const char *key,
    const struct conf_strings *l, int flags)
{
	size_t i;

	if (config_setting_get_member(g, key) == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		const char *w = l->v[i];
		if (w[0] == '\0')
			conf_error(ctx, config_setting_get_member(g, key),
			    "element %zu is empty", i + 1);
		else if (flags && strpbrk(w, " \t,") != NULL)
			conf_error(ctx, config_setting_get_member(g, key),
			    "element %zu \"%s\": a flag is one word (no spaces or "
			    "commas)",
			    i + 1, w);
	}
}

static void
check_item_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct check_entry *c = obj;
	struct check_def *d = &c->def;
	config_setting_t *s;
	int kind;

	detect_keys_check(ctx, g, &c->k);
	if ((kind = check_type(ctx, g)) >= 0)
		d->kind = (enum check_kind)kind;
	check_range(ctx, g, "warn", c->warn_text, &d->warn);
	check_range(ctx, g, "crit", c->crit_text, &d->crit);
	check_range(ctx, g, "warn_recover", c->warn_recover_text, &d->warn_recover);
	check_range(ctx, g, "crit_recover", c->crit_recover_text, &d->crit_recover);
	if (c->warn_recover_text != NULL && c->warn_text == NULL)
		conf_error(ctx, config_setting_get_member(g, "warn_recover"),
		    "needs warn: it says when a WARNING ends");
	if (c->crit_recover_text != NULL && c->crit_text == NULL)
		conf_error(ctx, config_setting_get_member(g, "crit_recover"),
		    "needs crit: it says when a CRITICAL ends");
	/* The walk stored the choice (0, 1); absent, the check is not a bool one. */
	if ((s = config_setting_get_member(g, "when_true")) != NULL)
		d->when_true = (enum check_state)severity_state((int)d->when_true);
	else
		d->when_true = CHECK_OK;
	check_words(ctx, g, "warn_values", &c->warn_words, 0);
	check_words(ctx, g, "crit_values", &c->crit_words, 0);
	check_words(ctx, g, "warn_flags", &c->warn_words, 1);
	check_words(ctx, g, "crit_flags", &c->crit_words, 1);
	d->warn_words = (const char *const *)c->warn_words.v;
	d->crit_words = (const char *const *)c->crit_words.v;
	if (c->metric != NULL) {
		const char *dot = strchr(c->metric, '.');
		s = config_setting_get_member(g, "metric");
		if (c->select != NULL && dot != NULL)
			conf_error(ctx, s,
			    "\"%s\": with select, give the metric name alone "
			    "(\"status\"); "
			    "the devices come from select",
			    c->metric);
		else if (c->select == NULL &&
		         (dot == NULL || dot == c->metric || dot[1] == '\0'))
			conf_error(ctx, s,
			    "\"%s\": give device.metric (\"ups1.status\"), or the metric "
			    "name with select",
			    c->metric);
	}
}

static void
check_release(void *obj)
{
	struct check_entry *c = obj;

	conf_strings_free(&c->targets);
	c->def.warn_words = c->def.crit_words = NULL;
	detect_keys_release(&c->k);
}

/* Targets depend on the devices too, not only on the check's own keys. */
static int
check_equal(const void *a, const void *b)
{
	const struct check_entry *ca = a, *cb = b;
	size_t i;

	if (ca->targets.n != cb->targets.n)
		return 0;
	for (i = 0; i < ca->targets.n; i++)
		if (strcmp(ca->targets.v[i], cb->targets.v[i]) != 0)
			return 0;
	return 1;
}

static const struct conf_key check_keys[] = {
	DETECT_HEAD(struct check_entry,
	    " A check with `select` is one detector per device, NAME:DEVICE "
	    "(`ups-status:ups1`); without, the detector is NAME."),
	{ .name = "metric",
	    .type = CT_STRING,
	    .off = offsetof(struct check_entry, metric),
	    .min = 1,
	    .max = 256,
	    .flags = CK_REQUIRED,
	    .help = "The metric watched: `ups1.status` (DEVICE.METRIC, the "
	            "device must be configured), or with `select` the metric name "
	            "alone (`status`), watched on every selected device." },
	{ .name = "select",
	    .type = CT_STRING,
	    .off = offsetof(struct check_entry, select),
	    .min = 1,
	    .max = 256,
	    .help = "Watch `metric` on every device these selectors pick, all of which "
	            "must hold, comma-separated: `kind=ups`, `tag=server-room`, "
	            "`availability>=2` (the words of rule aggregates, without "
	            "`role`). Expanded when the file is loaded; picking no device is an "
	            "error." },
	{ .name = "type",
	    .type = CT_ENUM,
	    .off = offsetof(struct check_entry, def.kind),
	    .choices = check_type_names,
	    .help = "What the value is: number (`warn`, `crit`), bool (`when_true`), "
	            "enum (`warn_values`, `crit_values`) or flags (`warn_flags`, "
	            "`crit_flags`). Unset: taken from the keys given; keys of two types "
	            "are an error." },
	{ .name = "warn",
	    .type = CT_STRING,
	    .off = offsetof(struct check_entry, warn_text),
	    .min = 1,
	    .max = 64,
	    .help = "Nagios range: WARNING when the value is outside it. `~:27` alerts "
	            "above 27, `10:` below 10, `10:20` outside 10..20, `@10:20` inside, "
	            "`90` outside 0..90." },
	{ .name = "crit",
	    .type = CT_STRING,
	    .off = offsetof(struct check_entry, crit_text),
	    .min = 1,
	    .max = 64,
	    .help = "Nagios range: CRITICAL when the value is outside it (as `warn`)." },
	{ .name = "warn_recover",
	    .type = CT_STRING,
	    .off = offsetof(struct check_entry, warn_recover_text),
	    .min = 1,
	    .max = 64,
	    .help = "Hysteresis: once WARNING, the check stays WARNING while this range "
	            "still alerts; with `warn = \"~:27\"`, `warn_recover = \"~:25\"` "
	            "ends the warning only at 25 or below." },
	{ .name = "crit_recover",
	    .type = CT_STRING,
	    .off = offsetof(struct check_entry, crit_recover_text),
	    .min = 1,
	    .max = 64,
	    .help = "Hysteresis for CRITICAL, as `warn_recover`: `crit = \"~:32\"`, "
	            "`crit_recover = \"~:27\"` stays CRITICAL until 27 or below." },
	{ .name = "when_true",
	    .type = CT_ENUM,
	    .off = offsetof(struct check_entry, def.when_true),
	    .choices = severity_names,
	    .help = "For a true/false metric (`ups1.on_battery`): the state while it "
	            "is true." },
	{ .name = "warn_values",
	    .type = CT_STRINGS,
	    .off = offsetof(struct check_entry, warn_words),
	    .help = "For a text metric holding one value: WARNING when the whole value "
	            "is one of these (`[\"degraded\"]`)." },
	{ .name = "crit_values",
	    .type = CT_STRINGS,
	    .off = offsetof(struct check_entry, crit_words),
	    .help = "For a text metric holding one value: CRITICAL when the whole "
	            "value is one of these." },
	{ .name = "warn_flags",
	    .type = CT_STRINGS,
	    .off = offsetof(struct check_entry, warn_words),
	    .help = "For a text metric holding words separated by spaces or commas "
	            "(`ups1.status` reads `OB LB`): WARNING when any word is one of "
	            "these (`[\"OB\"]`)." },
	{ .name = "crit_flags",
	    .type = CT_STRINGS,
	    .off = offsetof(struct check_entry, crit_words),
	    .help = "As `warn_flags`, for CRITICAL (`[\"LB\"]`)." },
	{ .name = "stale_after",
	    .type = CT_DURATION,
	    .off = offsetof(struct check_entry, def.stale_ms),
	    .min = 0,
	    .max = 86400,
	    .def = "0",
	    .help = "A sample older than this is UNKNOWN. 0: only the sample's "
	            "quality decides (a device that stops answering makes its "
	            "metrics stale after its own `stale_after` missed polls)." },
	DETECT_TAIL(struct check_entry),
	{ 0 },
};

const struct conf_table conf_check_table = {
	.name = "check",
	.help = "A check: one metric classified OK, WARNING, CRITICAL or UNKNOWN by "
	        "thresholds, the way Nagios does; data that is stale or failed is "
	        "UNKNOWN, never OK. SOFT, HARD, N of M, `for` and flapping work as for "
	        "rules. The check's detector is NAME, or NAME:DEVICE for each device "
	        "`select` picks.",
	.size = sizeof(struct check_entry),
	.keys = check_keys,
	.check = check_item_check,
	.release = check_release,
	.equal = check_equal,
};

/*
 * Maintenance windows.
 */
static int
window_extra(struct conf_ctx *ctx, config_setting_t *s, void *obj)
{
	const char *name = config_setting_name(s);

	(void)obj;
	if (strcmp(name, "start") != 0 && strcmp(name, "end") != 0)
		return 0;
	conf_error(ctx, s,
	    "a configured window repeats (every and for); add a one-off window with "
	    "sonae maintenance add --start");
	return 1;
}

static void
window_item_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct window_conf *wc = obj;
	const char *p;

	wc->origin.file = xstrdup(conf_file(ctx, g));
	wc->origin.line = config_setting_source_line(g);
	if (wc->id == NULL)
		return;
	for (p = wc->id; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			break;
	if (*p != '\0')
		conf_error(ctx, config_setting_get_member(g, "id"),
		    "\"%s\": use letters, digits, '_' and '-'", wc->id);
}

static void
window_release(void *obj)
{
	struct window_conf *wc = obj;

	window_free(wc->w);
	wc->w = NULL;
	free(wc->origin.file);
	wc->origin.file = NULL;
}

/* The window is made in the site's zone: another zone is another window. */
static int
window_equal(const void *a, const void *b)
{
	const struct window_conf *wa = a, *wb = b;

	if (wa->w == NULL || wb->w == NULL)
		return wa->w == wb->w;
	return strcmp(wa->w->zone, wb->w->zone) == 0;
}

static const struct conf_key window_keys[] = {
	{ .name = "id",
	    .type = CT_STRING,
	    .off = offsetof(struct window_conf, id),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "Unique name of the window (letters, digits, `_`, `-`), "
	            "shown by `sonae maintenance list`." },
	{ .name = "every",
	    .type = CT_STRING,
	    .off = offsetof(struct window_conf, every),
	    .min = 1,
	    .max = 128,
	    .flags = CK_REQUIRED,
	    .help = "When each window starts, on the site's wall clock "
	            "(`site.timezone`): `sun 02:00`, `sat,sun 01:00`, `mon-fri 22:00`, "
	            "`daily 12:00`, `monthly 1 22:00`, `monthly last 23:00` "
	            "(docs/maintenance.md)." },
	{ .name = "for",
	    .type = CT_STRING,
	    .off = offsetof(struct window_conf, duration),
	    .min = 1,
	    .max = 64,
	    .flags = CK_REQUIRED,
	    .help = "How long each window lasts, in elapsed time: `2h`, "
	            "`30min`, `1h30min`; shorter than the period (a day, a week, 28 "
	            "days)." },
	{ .name = "devices",
	    .type = CT_STRINGS,
	    .off = offsetof(struct window_conf, devices),
	    .help = "Devices it covers, by name; `*` covers every device." },
	{ .name = "kinds",
	    .type = CT_STRINGS,
	    .off = offsetof(struct window_conf, kinds),
	    .help = "Devices it covers, by kind (`ups`, `switch`, ...)." },
	{ .name = "tags",
	    .type = CT_STRINGS,
	    .off = offsetof(struct window_conf, tags),
	    .help = "Devices it covers, by any one of their tags. A window needs at "
	            "least one device, kind or tag." },
	{ .name = "comment",
	    .type = CT_STRING,
	    .off = offsetof(struct window_conf, comment),
	    .max = 256,
	    .help = "Why: the planned work, shown with the window." },
	{ 0 },
};

const struct conf_table conf_window_table = {
	.name = "maintenance",
	.help = "Recurring maintenance windows (docs/maintenance.md): while one is "
	        "open for a device, that device's problems are still recorded but "
	        "page nobody and start no playbook. One-off windows are added with "
	        "`sonae maintenance add`, so that a configuration never expires.",
	.size = sizeof(struct window_conf),
	.keys = window_keys,
	.extra = window_extra,
	.check = window_item_check,
	.release = window_release,
	.equal = window_equal,
};

/*
 * The observer.
 */
static void
observer_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct conf *conf = obj;

	(void)ctx;
	(void)g;
	/* Only runs when the group is in the file. */
	conf->observer.on = 1;
}

static int
observer_equal(const void *a, const void *b)
{
	const struct conf *ca = a, *cb = b;

	return ca->observer.on == cb->observer.on;
}

static const struct conf_key observer_keys[] = {
	{ .name = "gateway",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, observer.gateway),
	    .min = 1,
	    .max = 64,
	    .help = "The device that is this host's way out (the router or switch its "
	            "traffic to the other devices leaves through). When it cannot be "
	            "reached, the observer reports this host cut off, once, instead of "
	            "every device behind it paging on its own." },
	{ .name = "ups",
	    .type = CT_STRING,
	    .off = offsetof(struct conf, observer.ups),
	    .min = 1,
	    .max = 64,
	    .help = "The UPS that feeds this host (a device of kind `ups`): its "
	            "battery is this host's remaining time." },
	{ .name = "disk_min_free",
	    .type = CT_FLOAT,
	    .off = offsetof(struct conf, observer.disk_min_free_pct),
	    .min = 0,
	    .max = 50,
	    .def = "5",
	    .help = "Free space, in percent, below which the file system of "
	            "`daemon.state_dir` (journal and state) is a problem. 0: not "
	            "checked." },
	{ .name = "clock_max_error",
	    .type = CT_DURATION,
	    .off = offsetof(struct conf, observer.clock_max_error_ms),
	    .min = 0,
	    .max = 86400,
	    .def = "0",
	    .help = "How far this host's clock may be off before it is a problem "
	            "(times in the journal, in mails and of maintenance windows depend "
	            "on it). 0: not checked." },
	{ .name = "local",
	    .type = CT_STRINGS,
	    .off = offsetof(struct conf, observer.local),
	    .help = "Devices this host reaches without the gateway (a Modbus RTU bus "
	            "on a serial port, a UPS on a direct cable): they are still "
	            "watched, and page as usual, while the gateway is down." },
	{ 0 },
};

const struct conf_table conf_observer_table = {
	.name = "observer",
	.help = "This host's own health, the detector `observer`: its way out, its "
	        "power, its disk and its clock. A monitor that has lost its uplink "
	        "must say so once instead of reporting everything down. Without this "
	        "group none of this is checked.",
	.keys = observer_keys,
	.check = observer_check,
	.equal = observer_equal,
};

/*
 * Checks across keys, once the whole file is read.
 */

/* A directed graph of n nodes, as adjacency lists. */
struct graph {
	size_t n;
	size_t **adj;
	size_t *nadj;
};

/*
 * The cycles of g, one per edge back to a node on the depth-first path:
 * found() gets each as path[0] -> ... -> path[len - 1] -> path[0].
 * Iterative, so that a long chain of devices does not use up the stack.
 */
static void
graph_cycles(
    const struct graph *g, void (*found)(void *, const size_t *, size_t), void *arg)
{
	size_t n = g->n, *const *adj = g->adj;
	const size_t *nadj = g->nadj;
	unsigned char *color = xcalloc(n, 1); /* 0 new, 1 on the path, 2 done */
	size_t *stack = xcalloc(n, sizeof(*stack)), *edge = xcalloc(n, sizeof(*edge));
	size_t *pos = xcalloc(n, sizeof(*pos)), root, depth;

	for (root = 0; root < n; root++) {
		if (color[root] != 0)
			continue;
		color[root] = 1;
		stack[0] = root;
		edge[0] = 0;
		pos[root] = 0;
		depth = 1;
		while (depth > 0) {
			size_t u = stack[depth - 1], v;
			if (edge[depth - 1] == nadj[u]) {
				color[u] = 2;
				depth--;
				continue;
			}
			v = adj[u][edge[depth - 1]++];
			if (color[v] == 1)
				found(arg, stack + pos[v], depth - pos[v]);
			else if (color[v] == 0) {
				color[v] = 1;
				pos[v] = depth;
				stack[depth] = v;
				edge[depth] = 0;
				depth++;
			}
		}
	}
	free(color);
	free(stack);
	free(edge);
	free(pos);
}

static void
graph_init(struct graph *g, size_t n)
{
	g->n = n;
	g->adj = xcalloc(n, sizeof(*g->adj));
	g->nadj = xcalloc(n, sizeof(*g->nadj));
}

static void
graph_edge(struct graph *g, size_t from, size_t to)
{
	size_t i;

	for (i = 0; i < g->nadj[from]; i++)
		if (g->adj[from][i] == to)
			return;
	g->adj[from] = xreallocarray(g->adj[from], g->nadj[from] + 1, sizeof(size_t));
	g->adj[from][g->nadj[from]++] = to;
}

static void
graph_free(struct graph *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->adj[i]);
	free(g->adj);
	free(g->nadj);
}

/* "a -> b -> a" for a cycle of names. */
static char *
cycle_text(const char *const *names, const size_t *path, size_t len)
{
	char *out = xstrdup(names[path[0]]), *tmp;
	size_t i;

	for (i = 1; i <= len; i++) {
		xasprintf(&tmp, "%s -> %s", out, names[path[i % len]]);
		free(out);
		out = tmp;
	}
	return out;
}

/* What the cross checks share. */
struct xcheck {
	struct conf_ctx *ctx;
	config_setting_t *root;
	struct conf *conf;
	struct hmap *devices;   /* name -> struct device_conf */
	struct hmap *detectors; /* name -> struct detect_keys: rules, checks, NAME:DEV */
	struct conf_strings derived; /* the NAME:DEVICE names, owned */
	const char **names;          /* rules by index, for cycles */
};

/* The setting list[i].key of the root, or the element, or the list. */
static config_setting_t *
item_setting(const struct xcheck *x, const char *list, size_t i, const char *key)
{
	config_setting_t *l = config_setting_get_member(x->root, list), *e, *s;

	if (l == NULL || (e = config_setting_get_elem(l, (unsigned)i)) == NULL)
		return l != NULL ? l : x->root;
	if (key != NULL && config_setting_is_group(e) &&
	    (s = config_setting_get_member(e, key)) != NULL)
		return s;
	return e;
}

/* Parents: devices exist, are not the device itself, and form no cycle. */
static void
parents_found(void *arg, const size_t *path, size_t len)
{
	struct xcheck *x = arg;
	char key[64], *text;

	text = cycle_text(x->names, path, len);
	snprintf(key, sizeof(key), "devices[%zu].parents", path[0]);
	conf_key_error(x->ctx, item_setting(x, "devices", path[0], "parents"), key,
	    "cycle: %s", text);
	free(text);
}

static void
check_parents(struct xcheck *x)
{
	struct conf *conf = x->conf;
	struct graph g;
	size_t i, k;
	char key[64];

	graph_init(&g, conf->devices.n);
	x->names = xcalloc(conf->devices.n + 1, sizeof(*x->names));
	for (i = 0; i < conf->devices.n; i++) {
		struct device_conf *d = conf_device(conf, i), *p;
		x->names[i] = d->name != NULL ? d->name : "?";
		snprintf(key, sizeof(key), "devices[%zu].parents", i);
		for (k = 0; k < d->parents.n; k++) {
			config_setting_t *s = item_setting(x, "devices", i, "parents");
			if ((p = hmap_get(x->devices, d->parents.v[k])) == NULL)
				conf_key_error(
				    x->ctx, s, key, "no device \"%s\"", d->parents.v[k]);
			else if (p == d)
				conf_key_error(x->ctx, s, key,
				    "\"%s\" is the device itself", d->parents.v[k]);
			else
				graph_edge(&g, i, (size_t)(p - conf_device(conf, 0)));
		}
	}
	graph_cycles(&g, parents_found, x);
	graph_free(&g);
	free(x->names);
	x->names = NULL;
}

/* Names are unique across rules and checks. */
static void
check_names(struct xcheck *x, const char *list, struct detect_keys *k, size_t i)
{
	struct detect_keys *first;
	char key[64];

	if (k->name == NULL)
		return;
	if ((first = hmap_get(x->detectors, k->name)) != NULL) {
		snprintf(key, sizeof(key), "%s[%zu].name", list, i);
		conf_key_error(x->ctx, item_setting(x, list, i, NULL), key,
		    "\"%s\" is already used at %s:%u", k->name, first->origin.file,
		    first->origin.line);
	} else
		hmap_put(x->detectors, k->name, k);
}

static void
select_free(struct expr_select *sel)
{
	size_t i;

	for (i = 0; i < sel->nterms; i++)
		free(sel->terms[i].value);
	free(sel->terms);
	free(sel->text);
	memset(sel, 0, sizeof(*sel));
}

/* A selector list, "kind=ups,tag=server-room,availability>=2"; 0, or -1 with err. */
static int
select_parse(const char *text, struct expr_select *sel, char *err, size_t errlen)
{
	static const struct {
		const char *s;
		enum expr_sel_op op;
	} ops[] = { { ">=", ES_GE }, { "<=", ES_LE }, { "!=", ES_NE }, { "=", ES_EQ },
		{ "<", ES_LT }, { ">", ES_GT } };
	const char *p = text;

	memset(sel, 0, sizeof(*sel));
	sel->text = xstrdup(text);
	for (;;) {
		struct expr_sel_term t;
		const char *end = strchr(p, ','), *q;
		char term[256], *v, *ve;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p), klen, k;

		memset(&t, 0, sizeof(t));
		if (len >= sizeof(term)) {
			snprintf(err, errlen, "a selector is longer than %zu bytes",
			    sizeof(term) - 1);
			goto bad;
		}
		memcpy(term, p, len);
		term[len] = '\0';
		for (v = term; isspace((unsigned char)*v); v++)
			;
		for (q = v, klen = 0; isalpha((unsigned char)q[klen]); klen++)
			;
		q = v + klen;
		while (isspace((unsigned char)*q))
			q++;
		for (k = 0; k < NELEM(ops); k++)
			if (strncmp(q, ops[k].s, strlen(ops[k].s)) == 0)
				break;
		if (klen == 0 || k == NELEM(ops)) {
			snprintf(err, errlen,
			    "\"%.64s\": a selector is kind=KIND, tag=TAG or "
			    "availability>=N",
			    v);
			goto bad;
		}
		t.op = ops[k].op;
		for (q += strlen(ops[k].s); isspace((unsigned char)*q); q++)
			;
		ve = term + strlen(term);
		while (ve > q && isspace((unsigned char)ve[-1]))
			ve--;
		v[klen] = '\0'; /* the key, now that the value's end is known */
		if (strcmp(v, "availability") == 0) {
			t.key = ES_AVAILABILITY;
			if (ve - q != 1 || *q < '1' || *q > '3') {
				snprintf(err, errlen,
				    "availability is a class from 1 to 3 "
				    "(availability>=2)");
				goto bad;
			}
			t.num = *q - '0';
		} else if (strcmp(v, "kind") == 0 || strcmp(v, "tag") == 0) {
			t.key = strcmp(v, "kind") == 0 ? ES_KIND : ES_TAG;
			if (t.op != ES_EQ || ve == q) {
				snprintf(err, errlen, "want %s",
				    t.key == ES_KIND ? "kind=KIND (kind=ups)"
				                     : "tag=TAG (tag=server-room)");
				goto bad;
			}
			t.value = xstrndup(q, (size_t)(ve - q));
			for (k = 0; t.key == ES_KIND && device_kinds[k] != NULL; k++)
				if (strcmp(device_kinds[k], t.value) == 0)
					break;
			if (t.key == ES_KIND && device_kinds[k] == NULL) {
				snprintf(err, errlen,
				    "no device kind \"%.64s\" (ups, pdu, switch, router, "
				    "link, sensor, host, other)",
				    t.value);
				free(t.value);
				goto bad;
			}
		} else if (strcmp(v, "role") == 0) {
			snprintf(err, errlen,
			    "role picks network links, a check watches devices: use "
			    "kind, tag or availability");
			goto bad;
		} else {
			snprintf(err, errlen,
			    "unknown selector \"%.64s\" (kind, tag or availability)", v);
			goto bad;
		}
		sel->terms = xreallocarray(sel->terms, sel->nterms + 1, sizeof(t));
		sel->terms[sel->nterms++] = t;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
bad:
	select_free(sel);
	return -1;
}

/* Expand a check's targets: the device of metric, or every device select picks. */
static void
check_targets(struct xcheck *x, struct check_entry *c, size_t i)
{
	struct conf *conf = x->conf;
	struct expr_select sel;
	struct detect_keys *first;
	char key[64], err[256], *t;
	size_t k;

	if (c->metric == NULL)
		return;
	if (c->select == NULL) {
		const char *dot = strchr(c->metric, '.');
		if (dot == NULL || dot == c->metric || dot[1] == '\0')
			return; /* reported */
		t = xstrndup(c->metric, (size_t)(dot - c->metric));
		if (hmap_get(x->devices, t) == NULL) {
			snprintf(key, sizeof(key), "checks[%zu].metric", i);
			conf_key_error(x->ctx, item_setting(x, "checks", i, "metric"),
			    key, "no device \"%s\"", t);
			free(t);
			return;
		}
		free(t);
		c->targets.v = xcalloc(2, sizeof(char *));
		c->targets.v[c->targets.n++] = xstrdup(c->metric);
		return;
	}
	if (strchr(c->metric, '.') != NULL)
		return; /* reported */
	snprintf(key, sizeof(key), "checks[%zu].select", i);
	if (select_parse(c->select, &sel, err, sizeof(err)) == -1) {
		conf_key_error(
		    x->ctx, item_setting(x, "checks", i, "select"), key, "%s", err);
		return;
	}
	c->targets.v = xcalloc(conf->devices.n + 1, sizeof(char *));
	for (k = 0; k < conf->devices.n; k++) {
		struct device_conf *d = conf_device(conf, k);
		if (d->name == NULL ||
		    !expr_select_match(&sel, d->kind >= 0 ? device_kinds[d->kind] : NULL,
		        d->availability, (const char *const *)d->tags.v, d->tags.n, NULL))
			continue;
		xasprintf(&c->targets.v[c->targets.n++], "%s.%s", d->name, c->metric);
		/* A check whose name is taken already said so: no echo per device. */
		if (c->k.name == NULL || hmap_get(x->detectors, c->k.name) != &c->k)
			continue;
		/* The detector of this device, NAME:DEVICE, is a name too. */
		xasprintf(&t, "%s:%s", c->k.name, d->name);
		x->derived.v =
		    xreallocarray(x->derived.v, x->derived.n + 1, sizeof(char *));
		x->derived.v[x->derived.n++] = t;
		if ((first = hmap_get(x->detectors, t)) != NULL)
			conf_key_error(x->ctx, item_setting(x, "checks", i, "select"),
			    key,
			    "\"%s\", the detector of this check for %s, is already used "
			    "at %s:%u",
			    t, d->name, first->origin.file, first->origin.line);
		else
			hmap_put(x->detectors, t, &c->k);
	}
	if (c->targets.n == 0)
		conf_key_error(x->ctx, item_setting(x, "checks", i, "select"), key,
		    "\"%s\" picks no device", c->select);
	select_free(&sel);
}

/* Whether a device of that name is in the map (arg). */
static int
device_in_map(void *arg, const char *name)
{
	return hmap_get(arg, name) != NULL;
}

/* Whether a device of that name is in the site's configuration (arg). */
static int
device_in_site(void *arg, const char *name)
{
	const struct conf *site = arg;
	size_t d;

	for (d = 0; d < site->devices.n; d++)
		if (conf_device(site, d)->name != NULL &&
		    strcmp(conf_device(site, d)->name, name) == 0)
			return 1;
	return 0;
}

/*
 * Report, once each and where it is written, every device the expression e
 * (the text of setting s) names that known() does not know; how many.
 */
static size_t
unknown_devices(struct conf_ctx *ctx, config_setting_t *s, const struct expr *e,
    const char *text, const char *label, int (*known)(void *, const char *), void *arg)
{
	struct vmap m;
	size_t k, j, n = 0;

	for (k = 0; k < expr_nrefs(e); k++) {
		const struct expr_ref *ref = expr_ref(e, k);
		if (ref->device == NULL || known(arg, ref->device))
			continue;
		for (j = 0; j < k; j++)
			if (expr_ref(e, j)->device != NULL &&
			    strcmp(expr_ref(e, j)->device, ref->device) == 0)
				break;
		if (j < k)
			continue;
		if (n++ == 0)
			vmap_find(ctx, s, &m);
		vmap_error(ctx, &m, find_ref(text, ref->key), "%s: no device \"%s\"",
		    label, ref->device);
	}
	if (n > 0)
		vmap_free(&m);
	return n;
}

/* A rule's expression: its devices and the rules and checks it asks about. */
static void
check_expr_refs(struct xcheck *x, size_t i, const char *label, const struct expr *e)
{
	config_setting_t *s = item_setting(x, "rules", i, label);
	const char *text = expr_text(e);
	struct vmap m;
	size_t k;
	int mapped = 0;

	unknown_devices(x->ctx, s, e, text, label, device_in_map, x->devices);
	for (k = 0; k < expr_nrules(e); k++) {
		const char *name = expr_rule(e, k);
		if (hmap_get(x->detectors, name) != NULL)
			continue;
		if (!mapped++)
			vmap_find(x->ctx, s, &m);
		vmap_error(x->ctx, &m, find_active(text, name),
		    "%s: active(\"%s\"): no rule or check \"%s\"", label, name, name);
	}
	if (mapped)
		vmap_free(&m);
}

static void
rules_found(void *arg, const size_t *path, size_t len)
{
	struct xcheck *x = arg;
	struct rule_conf *r = conf_rule(x->conf, path[0]);
	const char *next = x->names[path[len > 1 ? 1 : 0]], *label = "when";
	size_t off = NOWHERE;
	struct vmap m;
	char *text;

	/* Point at the active() that starts the cycle: in when, else in recover. */
	if (r->when != NULL)
		off = find_active(expr_text(r->when), next);
	if (off == NOWHERE && r->recover != NULL &&
	    (off = find_active(expr_text(r->recover), next)) != NOWHERE)
		label = "recover";
	text = cycle_text(x->names, path, len);
	vmap_find(x->ctx, item_setting(x, "rules", path[0], label), &m);
	vmap_error(x->ctx, &m, off, "%s: active() cycle: %s", label, text);
	vmap_free(&m);
	free(text);
}

static void
check_rules(struct xcheck *x)
{
	struct conf *conf = x->conf;
	struct hmap *byname = hmap_new();
	struct graph g;
	size_t i, k;

	graph_init(&g, conf->rules.n);
	x->names = xcalloc(conf->rules.n + 1, sizeof(*x->names));
	for (i = 0; i < conf->rules.n; i++) {
		struct rule_conf *r = conf_rule(conf, i);
		x->names[i] = r->k.name != NULL ? r->k.name : "?";
		if (r->k.name != NULL && hmap_get(byname, r->k.name) == NULL)
			hmap_put(byname, r->k.name, r);
	}
	for (i = 0; i < conf->rules.n; i++) {
		struct rule_conf *r = conf_rule(conf, i);
		const struct expr *es[2] = { r->when, r->recover };
		size_t n;

		if (r->when != NULL)
			check_expr_refs(x, i, "when", r->when);
		if (r->recover != NULL)
			check_expr_refs(x, i, "recover", r->recover);
		for (n = 0; n < 2; n++) {
			for (k = 0; es[n] != NULL && k < expr_nrules(es[n]); k++) {
				struct rule_conf *to =
				    hmap_get(byname, expr_rule(es[n], k));
				if (to != NULL)
					graph_edge(
					    &g, i, (size_t)(to - conf_rule(conf, 0)));
			}
		}
	}
	graph_cycles(&g, rules_found, x);
	graph_free(&g);
	free(x->names);
	x->names = NULL;
	hmap_free(byname);
}

/* Each inhibits pattern matches some detector. */
static void
check_inhibits(struct xcheck *x, const char *list, size_t i, const struct detect_keys *k)
{
	struct conf *conf = x->conf;
	char key[64], *name;
	size_t p, j;
	int hit;

	for (p = 0; p < k->inhibits.n; p++) {
		const char *pat = k->inhibits.v[p];
		hit = fnmatch(pat, "observer", 0) == 0;
		for (j = 0; !hit && j < conf->devices.n; j++) {
			if (conf_device(conf, j)->name == NULL)
				continue;
			xasprintf(&name, "unreachable:%s", conf_device(conf, j)->name);
			hit = fnmatch(pat, name, 0) == 0;
			free(name);
		}
		for (j = 0; !hit && j < conf->rules.n; j++)
			hit = conf_rule(conf, j)->k.name != NULL &&
			      fnmatch(pat, conf_rule(conf, j)->k.name, 0) == 0;
		for (j = 0; !hit && j < conf->checks.n; j++)
			hit = conf_check(conf, j)->k.name != NULL &&
			      fnmatch(pat, conf_check(conf, j)->k.name, 0) == 0;
		for (j = 0; !hit && j < x->derived.n; j++)
			hit = fnmatch(pat, x->derived.v[j], 0) == 0;
		if (hit)
			continue;
		snprintf(key, sizeof(key), "%s[%zu].inhibits", list, i);
		conf_key_error(x->ctx, item_setting(x, list, i, "inhibits"), key,
		    "\"%s\" matches no rule, check, unreachable:DEVICE or observer", pat);
	}
}

/* Parse each window in the site's zone and choose its devices. */
static void
check_windows(struct xcheck *x)
{
	struct conf *conf = x->conf;
	struct hmap *ids = hmap_new();
	const char *zone = conf->site.timezone;
	char key[64], err[256];
	size_t i, j;

	for (i = 0; i < conf->maintenance.n; i++) {
		struct window_conf *wc = conf_window(conf, i), *first;
		struct window_text t = { NULL, NULL, wc->every, wc->duration };
		struct window *w;
		const struct {
			const char *key;
			enum window_target what;
			struct conf_strings *l;
		} lists[] = { { "devices", WT_DEVICE, &wc->devices },
			{ "kinds", WT_KIND, &wc->kinds }, { "tags", WT_TAG, &wc->tags } };
		int bad = 0;

		snprintf(key, sizeof(key), "maintenance[%zu]", i);
		if (wc->id != NULL) {
			char idkey[80];
			snprintf(idkey, sizeof(idkey), "%s.id", key);
			if ((first = hmap_get(ids, wc->id)) != NULL)
				conf_key_error(x->ctx,
				    item_setting(x, "maintenance", i, NULL), idkey,
				    "\"%s\" is already used at %s:%u", wc->id,
				    first->origin.file, first->origin.line);
			else
				hmap_put(ids, wc->id, wc);
		}
		if (wc->id == NULL || wc->every == NULL || wc->duration == NULL ||
		    zone == NULL || !tz_valid(zone))
			continue;
		if ((w = window_parse(&t, zone, time_now_ms(), err, sizeof(err))) ==
		    NULL) {
			conf_key_error(x->ctx,
			    item_setting(x, "maintenance", i,
			        strncmp(err, "for ", 4) == 0 ? "for" : "every"),
			    key, "%s", err);
			continue;
		}
		for (j = 0; j < NELEM(lists); j++) {
			size_t n;
			for (n = 0; n < lists[j].l->n; n++) {
				const char *v = lists[j].l->v[n];
				config_setting_t *s =
				    item_setting(x, "maintenance", i, lists[j].key);
				if (lists[j].what == WT_DEVICE && strcmp(v, "*") != 0 &&
				    hmap_get(x->devices, v) == NULL) {
					conf_key_error(
					    x->ctx, s, key, "no device \"%s\"", v);
					bad = 1;
				} else if (window_add_target(w, lists[j].what, v, err,
				               sizeof(err)) == -1) {
					conf_key_error(x->ctx, s, key, "%s", err);
					bad = 1;
				}
			}
		}
		if (!bad && window_check(w, err, sizeof(err)) == -1) {
			conf_key_error(x->ctx, item_setting(x, "maintenance", i, NULL),
			    key, "%s", err);
			bad = 1;
		}
		if (bad) {
			window_free(w);
			continue;
		}
		w->id = xstrdup(wc->id);
		w->created_by = xstrdup("config");
		if (wc->comment != NULL)
			w->comment = xstrdup(wc->comment);
		wc->w = w;
	}
	hmap_free(ids);
}

/* The observer's devices exist; its UPS is a UPS. */
static void
check_observer(struct xcheck *x)
{
	struct conf *conf = x->conf;
	config_setting_t *g = config_setting_get_member(x->root, "observer"), *s;
	struct device_conf *d;
	size_t i;

	if (!conf->observer.on || g == NULL)
		return;
	if (conf->observer.gateway != NULL &&
	    hmap_get(x->devices, conf->observer.gateway) == NULL)
		conf_key_error(x->ctx, config_setting_get_member(g, "gateway"),
		    "observer.gateway", "no device \"%s\"", conf->observer.gateway);
	if (conf->observer.ups != NULL) {
		s = config_setting_get_member(g, "ups");
		if ((d = hmap_get(x->devices, conf->observer.ups)) == NULL)
			conf_key_error(x->ctx, s, "observer.ups", "no device \"%s\"",
			    conf->observer.ups);
		else if (d->kind < 0 || strcmp(device_kinds[d->kind], "ups") != 0)
			conf_key_error(x->ctx, s, "observer.ups",
			    "\"%s\" is a device of kind %s, not ups", d->name,
			    d->kind >= 0 ? device_kinds[d->kind] : "?");
	}
	for (i = 0; i < conf->observer.local.n; i++)
		if (hmap_get(x->devices, conf->observer.local.v[i]) == NULL)
			conf_key_error(x->ctx, config_setting_get_member(g, "local"),
			    "observer.local", "no device \"%s\"",
			    conf->observer.local.v[i]);
}

/*
 * Everything that needs the whole file: device parents, names across rules
 * and checks, check targets, rule references and cycles, inhibits, windows
 * (in the site's zone) and the observer's devices.
 */
void
schema_detect_check(struct conf_ctx *ctx, config_setting_t *root, struct conf *conf)
{
	struct xcheck x;
	size_t i;

	memset(&x, 0, sizeof(x));
	x.ctx = ctx;
	x.root = root;
	x.conf = conf;
	x.devices = hmap_new();
	x.detectors = hmap_new();
	for (i = 0; i < conf->devices.n; i++) {
		struct device_conf *d = conf_device(conf, i);
		if (d->name != NULL && hmap_get(x.devices, d->name) == NULL)
			hmap_put(x.devices, d->name, d);
	}
	check_parents(&x);
	for (i = 0; i < conf->rules.n; i++)
		check_names(&x, "rules", &conf_rule(conf, i)->k, i);
	for (i = 0; i < conf->checks.n; i++)
		check_names(&x, "checks", &conf_check(conf, i)->k, i);
	for (i = 0; i < conf->checks.n; i++)
		check_targets(&x, conf_check(conf, i), i);
	check_rules(&x);
	for (i = 0; i < conf->rules.n; i++)
		check_inhibits(&x, "rules", i, &conf_rule(conf, i)->k);
	for (i = 0; i < conf->checks.n; i++)
		check_inhibits(&x, "checks", i, &conf_check(conf, i)->k);
	check_windows(&x);
	check_observer(&x);
	hmap_free(x.devices);
	hmap_free(x.detectors);
	conf_strings_free(&x.derived);
}

/*
 * An expression in another layer's file (a playbook step's `when`): compiled
 * as a rule's is, and every device it names is one of site's, reported where
 * it is written.  NULL if anything is wrong.
 */
struct expr *
schema_detect_compile(struct conf_ctx *ctx, config_setting_t *s, const char *text,
    const char *label, const struct conf *site)
{
	struct expr *e;

	if ((e = compile_setting(ctx, s, text, label)) == NULL || site == NULL)
		return e;
	if (unknown_devices(
	        ctx, s, e, text, label, device_in_site, (void *)(uintptr_t)site) == 0)
		return e;
	expr_free(e);
	return NULL;
}

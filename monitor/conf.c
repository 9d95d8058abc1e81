/*
 * The configuration loader.  Every key is described once in a schema table
 * (schema.c, and each probe's own table); this file walks libconfig's tree
 * against those tables, so parsing, validation, defaults, comparison on
 * reload, freeing and the generated reference all come from the same data.
 *
 * Errors are collected, not stopped at: an operator fixing a file wants every
 * problem at once, each as "file:line: key: reason".
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define CONF_MAX_ERRORS 100
#define SECRET_MAX      4096

struct conf_ctx {
	struct conf_errors *errors;
	const char *main_file;
	char *main_dir;
	void *arg;      /* the caller's, for hooks (conf_load_table) */
	char path[512]; /* key path of the group being walked, "devices[2].replay" */
};

static void conf_walk(
    struct conf_ctx *, const struct conf_table *, config_setting_t *, void *);

/*
 * The file that holds setting s, as a path that works from any folder.
 * libconfig names an @included file as the @include line spells it, which
 * is relative to the main file's folder (the include folder), not to ours.
 */
const char *
conf_file(const struct conf_ctx *ctx, const config_setting_t *s)
{
	static char path[PATH_MAX];
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;

	if (file == NULL || strcmp(file, ctx->main_file) == 0)
		return ctx->main_file;
	if (file[0] == '/' || ctx->main_dir == NULL)
		return file;
	snprintf(path, sizeof(path), "%s/%s", ctx->main_dir, file);
	return path;
}

static void
conf_verror(struct conf_ctx *ctx, config_setting_t *s, const char *key, const char *fmt,
    va_list ap)
{
	char *msg, *line, where[600];
	const char *file = conf_file(ctx, s);

	if (ctx->errors->n >= CONF_MAX_ERRORS)
		return;
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	if (key != NULL && ctx->path[0] != '\0')
		snprintf(where, sizeof(where), "%s.%s", ctx->path, key);
	else
		snprintf(where, sizeof(where), "%s", key != NULL ? key : ctx->path);
	if (s != NULL && config_setting_source_line(s) > 0)
		xasprintf(&line, "%s:%u: %s%s%s", file, config_setting_source_line(s),
		    where, where[0] ? ": " : "", msg);
	else
		xasprintf(&line, "%s: %s%s%s", file, where, where[0] ? ": " : "", msg);
	free(msg);
	ctx->errors->v =
	    xreallocarray(ctx->errors->v, ctx->errors->n + 1, sizeof(char *));
	ctx->errors->v[ctx->errors->n++] = line;
}

/* Report a problem with a key that has no setting of its own (missing, or named). */
void
conf_key_error(
    struct conf_ctx *ctx, config_setting_t *s, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(ctx, s, key, fmt, ap);
	va_end(ap);
}

/*
 * Report a problem at a position the caller found itself (a column inside a
 * string value): "file:line:col: msg", or "file:line: msg" when col is 0.
 * The message names the key.
 */
void
conf_error_at(struct conf_ctx *ctx, const char *file, unsigned int line, unsigned int col,
    const char *fmt, ...)
{
	char *msg, *out, pos[32] = "";
	va_list ap;

	if (ctx->errors->n >= CONF_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	if (col > 0)
		snprintf(pos, sizeof(pos), ":%u", col);
	xasprintf(&out, "%s:%u%s: %s", file, line, pos, msg);
	free(msg);
	ctx->errors->v =
	    xreallocarray(ctx->errors->v, ctx->errors->n + 1, sizeof(char *));
	ctx->errors->v[ctx->errors->n++] = out;
}

/* Report a problem with setting s (or the group being walked, if s is a group). */
void
conf_error(struct conf_ctx *ctx, config_setting_t *s, const char *fmt, ...)
{
	const char *key = NULL;
	va_list ap;

	if (s != NULL && !config_setting_is_group(s) && config_setting_name(s) != NULL)
		key = config_setting_name(s);
	va_start(ap, fmt);
	conf_verror(ctx, s, key, fmt, ap);
	va_end(ap);
}

/* The folder of the file that holds setting s, for relative paths. */
const char *
conf_dir(const struct conf_ctx *ctx, const config_setting_t *s)
{
	static char dir[PATH_MAX];
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;
	char *copy;

	if (file == NULL)
		return ctx->main_dir;
	copy = xstrdup(conf_file(ctx, s));
	strlcpy_s(dir, dirname(copy), sizeof(dir));
	free(copy);
	return dir;
}

/* Forget collected errors. */
void
conf_errors_clear(struct conf_errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/*
 * Read a secret from a file that only its owner (and group) can read.  A file
 * others can read is refused: a community or password there is not a secret.
 */
char *
secret_read_file(const char *path, char *err, size_t errlen)
{
	char buf[SECRET_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "secret file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "secret file %s: not a regular file", path);
		goto bad;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen,
		    "secret file %s is accessible by others (mode %04o); chmod o-rwx it",
		    path, (unsigned)(st.st_mode & 07777));
		goto bad;
	}
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	if (n == -1) {
		snprintf(err, errlen, "secret file %s: %s", path, strerror(errno));
		goto bad;
	}
	if (len >= SECRET_MAX) {
		snprintf(err, errlen, "secret file %s: longer than %d bytes", path,
		    SECRET_MAX - 1);
		goto bad;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0 || strlen(buf) != len) {
		snprintf(err, errlen, "secret file %s: empty or holds a NUL byte", path);
		goto bad;
	}
	close(fd);
	return xstrdup(buf);
bad:
	close(fd);
	return NULL;
}

static const char *
conf_type_name(enum conf_type t)
{
	switch (t) {
	case CT_STRING:
		return "string";
	case CT_PATH:
		return "path";
	case CT_INT:
		return "integer";
	case CT_FLOAT:
		return "number";
	case CT_BOOL:
		return "boolean";
	case CT_DURATION:
		return "duration";
	case CT_ENUM:
		return "choice";
	case CT_STRINGS:
		return "list of strings";
	case CT_SECRET:
		return "secret";
	case CT_GROUP:
		return "group";
	case CT_LIST:
		return "list of groups";
	}
	return "?";
}

static int
enum_index(const char *const *choices, const char *s)
{
	int i;

	for (i = 0; choices[i] != NULL; i++)
		if (strcmp(choices[i], s) == 0)
			return i;
	return -1;
}

static char *
enum_list(const char *const *choices)
{
	char *out = xstrdup(""), *tmp;
	int i;

	for (i = 0; choices[i] != NULL; i++) {
		xasprintf(&tmp, "%s%s%s", out, i ? ", " : "", choices[i]);
		free(out);
		out = tmp;
	}
	return out;
}

/* dst = prefix + sep + name [+ "[index]"]; sep only when prefix is not empty. */
static void
path_push(char *dst, size_t len, const char *prefix, const char *sep, const char *name,
    int index)
{
	int n;

	if (index >= 0)
		n = snprintf(
		    dst, len, "%s%s%s[%d]", prefix, prefix[0] ? sep : "", name, index);
	else
		n = snprintf(dst, len, "%s%s%s", prefix, prefix[0] ? sep : "", name);
	if (n < 0 || (size_t)n >= len)
		dst[len - 1] = '\0';
}

#define FIELD(obj, off, type)  ((type *)(void *)((char *)(obj) + (off)))
#define CFIELD(obj, off, type) ((const type *)(const void *)((const char *)(obj) + (off)))

static char *
conf_resolve(const char *dir, const char *p)
{
	char *out;

	if (p[0] == '/' || dir == NULL)
		return xstrdup(p);
	xasprintf(&out, "%s/%s", dir, p);
	return out;
}

/* Check a number against the key's range; min == max == 0 means none. */
static int
conf_range(struct conf_ctx *ctx, config_setting_t *s, const struct conf_key *k, double v,
    const char *shown)
{
	if (k->min == 0 && k->max == 0)
		return 0;
	if (v < k->min) {
		conf_error(ctx, s, "%s is below the minimum %g", shown, k->min);
		return -1;
	}
	if (v > k->max) {
		conf_error(ctx, s, "%s is above the maximum %g", shown, k->max);
		return -1;
	}
	return 0;
}

/* Apply a key's default (config text) to the object. */
static void
conf_default(const struct conf_key *k, void *obj)
{
	int64_t ms;

	if (k->type == CT_GROUP) {
		const struct conf_key *sk;
		for (sk = k->sub->keys; sk->name != NULL; sk++)
			conf_default(sk, obj);
		return;
	}
	if (k->def == NULL)
		return;
	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_SECRET:
		*FIELD(obj, k->off, char *) = xstrdup(k->def);
		break;
	case CT_INT:
		*FIELD(obj, k->off, int) = atoi(k->def);
		break;
	case CT_FLOAT:
		*FIELD(obj, k->off, double) = strtod(k->def, NULL);
		break;
	case CT_BOOL:
		*FIELD(obj, k->off, int) = strcmp(k->def, "true") == 0;
		break;
	case CT_DURATION:
		if (duration_parse(k->def, &ms) == -1)
			fatalx("%s: bad default for %s", __func__, k->name);
		*FIELD(obj, k->off, int64_t) = ms;
		break;
	case CT_ENUM:
		*FIELD(obj, k->off, int) = enum_index(k->choices, k->def);
		break;
	case CT_STRINGS:
	case CT_GROUP:
	case CT_LIST:
		break;
	}
}

static int
conf_get_number(config_setting_t *s, double *v)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		*v = config_setting_get_int(s);
		return 0;
	case CONFIG_TYPE_INT64:
		*v = (double)config_setting_get_int64(s);
		return 0;
	case CONFIG_TYPE_FLOAT:
		*v = config_setting_get_float(s);
		return 0;
	default:
		return -1;
	}
}

static const char *
conf_get_string(struct conf_ctx *ctx, config_setting_t *s, const struct conf_key *k)
{
	const char *v;
	size_t len;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_error(
		    ctx, s, "expected a %s in double quotes", conf_type_name(k->type));
		return NULL;
	}
	v = config_setting_get_string(s);
	len = strlen(v);
	if (!utf8_valid(v, len)) {
		conf_error(ctx, s, "not valid UTF-8");
		return NULL;
	}
	if ((k->min > 0 && len < (size_t)k->min) ||
	    (k->max > 0 && len > (size_t)k->max)) {
		if (k->min > 0 && len == 0)
			conf_error(ctx, s, "must not be empty");
		else
			conf_error(ctx, s, "length %zu is outside %g..%g bytes", len,
			    k->min, k->max);
		return NULL;
	}
	return v;
}

/* Free a string list's strings and empty it. */
void
conf_strings_free(struct conf_strings *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Whether the list holds s. */
int
conf_strings_has(const struct conf_strings *l, const char *s)
{
	size_t i;

	for (i = 0; l != NULL && s != NULL && i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

/* Add a copy of s unless it is there already (the list stays NULL-terminated). */
void
conf_strings_add(struct conf_strings *l, const char *s)
{
	if (s == NULL || conf_strings_has(l, s))
		return;
	l->v = xreallocarray(l->v, l->n + 2, sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
	l->v[l->n] = NULL;
}

/* The list as a JSON array of strings. */
json_t *
conf_strings_json(const struct conf_strings *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

/* Read one setting into the object according to its key. */
static void
conf_value(struct conf_ctx *ctx, const struct conf_key *k, config_setting_t *s, void *obj)
{
	const char *str;
	char shown[64], saved[sizeof(ctx->path)];
	double v;
	int64_t ms;
	int i, n;

	switch (k->type) {
	case CT_STRING:
		if ((str = conf_get_string(ctx, s, k)) == NULL)
			return;
		free(*FIELD(obj, k->off, char *));
		*FIELD(obj, k->off, char *) = xstrdup(str);
		break;
	case CT_PATH:
		if ((str = conf_get_string(ctx, s, k)) == NULL)
			return;
		if (*str == '\0') {
			conf_error(ctx, s, "must not be empty");
			return;
		}
		free(*FIELD(obj, k->off, char *));
		*FIELD(obj, k->off, char *) = conf_resolve(conf_dir(ctx, s), str);
		break;
	case CT_SECRET: {
		char err[512], *secret, *path;
		if (config_setting_type(s) == CONFIG_TYPE_STRING) {
			if ((str = conf_get_string(ctx, s, k)) == NULL)
				return;
			free(*FIELD(obj, k->off, char *));
			*FIELD(obj, k->off, char *) = xstrdup(str);
			return;
		}
		if (!config_setting_is_group(s) || config_setting_length(s) != 1 ||
		    config_setting_get_member(s, "file") == NULL ||
		    config_setting_type(config_setting_get_member(s, "file")) !=
		        CONFIG_TYPE_STRING) {
			conf_key_error(ctx, s, k->name,
			    "expected a string or { file = \"/path/to/secret\"; }");
			return;
		}
		str = config_setting_get_string(config_setting_get_member(s, "file"));
		path = conf_resolve(conf_dir(ctx, s), str);
		secret = secret_read_file(path, err, sizeof(err));
		free(path);
		if (secret == NULL) {
			conf_key_error(ctx, s, k->name, "%s", err);
			return;
		}
		free(*FIELD(obj, k->off, char *));
		*FIELD(obj, k->off, char *) = secret;
		break;
	}
	case CT_INT:
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			conf_error(ctx, s, "expected an integer");
			return;
		}
		conf_get_number(s, &v);
		snprintf(shown, sizeof(shown), "%.0f", v);
		if ((k->min == 0 && k->max == 0 && (v < INT32_MIN || v > INT32_MAX)) ||
		    conf_range(ctx, s, k, v, shown) == -1) {
			if (k->min == 0 && k->max == 0)
				conf_error(ctx, s, "%s is out of range", shown);
			return;
		}
		*FIELD(obj, k->off, int) = (int)v;
		break;
	case CT_FLOAT:
		if (conf_get_number(s, &v) == -1) {
			conf_error(ctx, s, "expected a number");
			return;
		}
		snprintf(shown, sizeof(shown), "%g", v);
		if (conf_range(ctx, s, k, v, shown) == -1)
			return;
		*FIELD(obj, k->off, double) = v;
		break;
	case CT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			conf_error(ctx, s, "expected true or false");
			return;
		}
		*FIELD(obj, k->off, int) = config_setting_get_bool(s);
		break;
	case CT_DURATION:
		if (config_setting_type(s) == CONFIG_TYPE_STRING) {
			str = config_setting_get_string(s);
			if (duration_parse(str, &ms) == -1) {
				conf_error(ctx, s,
				    "\"%s\" is not a duration (e.g. 500ms, 30s, 5min, "
				    "2h)",
				    str);
				return;
			}
			snprintf(shown, sizeof(shown), "%s", str);
		} else if (conf_get_number(s, &v) == 0 && isfinite(v) && v >= 0 &&
		           v < 1e12) {
			ms = llround(v * 1000);
			snprintf(shown, sizeof(shown), "%g", v);
		} else {
			conf_error(ctx, s,
			    "expected a duration (seconds, or \"30s\", \"5min\")");
			return;
		}
		if (conf_range(ctx, s, k, (double)ms / 1000.0, shown) == -1)
			return;
		*FIELD(obj, k->off, int64_t) = ms;
		break;
	case CT_ENUM:
		if (config_setting_type(s) != CONFIG_TYPE_STRING ||
		    (i = enum_index(k->choices, config_setting_get_string(s))) == -1) {
			char *l = enum_list(k->choices);
			conf_error(ctx, s, "expected one of: %s", l);
			free(l);
			return;
		}
		*FIELD(obj, k->off, int) = i;
		break;
	case CT_STRINGS: {
		struct conf_strings *l = FIELD(obj, k->off, struct conf_strings);
		if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(s) != CONFIG_TYPE_LIST) {
			conf_error(ctx, s, "expected a list of strings: [\"a\", \"b\"]");
			return;
		}
		conf_strings_free(l);
		n = config_setting_length(s);
		/* One more: a loaded list is NULL-terminated (check_def words). */
		l->v = xcalloc((size_t)n + 1, sizeof(char *));
		for (i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING ||
			    !utf8_valid(config_setting_get_string(e),
			        strlen(config_setting_get_string(e)))) {
				conf_error(ctx, s, "element %d is not a string", i + 1);
				continue;
			}
			l->v[l->n++] = xstrdup(config_setting_get_string(e));
		}
		break;
	}
	case CT_GROUP:
		if (!config_setting_is_group(s)) {
			conf_error(ctx, s, "expected a group: { ... }");
			return;
		}
		memcpy(saved, ctx->path, sizeof(saved));
		path_push(ctx->path, sizeof(ctx->path), saved, ".", k->name, -1);
		conf_walk(ctx, k->sub, s, obj);
		memcpy(ctx->path, saved, sizeof(saved));
		break;
	case CT_LIST: {
		struct conf_list *l = FIELD(obj, k->off, struct conf_list);
		if (config_setting_type(s) != CONFIG_TYPE_LIST) {
			conf_error(
			    ctx, s, "expected a list of groups: ( { ... }, { ... } )");
			return;
		}
		n = config_setting_length(s);
		if (k->max > 0 && n > k->max) {
			conf_error(ctx, s, "%d entries, at most %g allowed", n, k->max);
			return;
		}
		l->items = xcalloc((size_t)n, k->sub->size);
		l->n = (size_t)n;
		memcpy(saved, ctx->path, sizeof(saved));
		for (i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			void *item = (char *)l->items + (size_t)i * k->sub->size;
			const struct conf_key *sk;

			path_push(ctx->path, sizeof(ctx->path), saved, ".", k->name, i);
			for (sk = k->sub->keys; sk->name != NULL; sk++)
				conf_default(sk, item);
			if (!config_setting_is_group(e)) {
				conf_error(ctx, e, "expected a group: { ... }");
				continue;
			}
			conf_walk(ctx, k->sub, e, item);
		}
		memcpy(ctx->path, saved, sizeof(saved));
		break;
	}
	}
}

/* Edit distance, for "did you mean" hints on unknown keys. */
static size_t
conf_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, cur, tmp;
	size_t row[64];

	if (la >= 64 || lb >= 64)
		return 64;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			cur = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < cur)
				cur = row[j] + 1;
			if (row[j - 1] + 1 < cur)
				cur = row[j - 1] + 1;
			row[j] = cur;
			prev = tmp;
		}
	}
	return row[lb];
}

static void
conf_unknown(struct conf_ctx *ctx, const struct conf_table *t, config_setting_t *s)
{
	const char *name = config_setting_name(s), *best = NULL;
	const struct conf_key *k;
	size_t d, bestd = 3;

	for (k = t->keys; k->name != NULL; k++) {
		if ((d = conf_distance(name, k->name)) < bestd) {
			bestd = d;
			best = k->name;
		}
	}
	/* Named explicitly: conf_error would leave out the name of a group. */
	if (best != NULL)
		conf_key_error(ctx, s, name, "unknown key (did you mean \"%s\"?)", best);
	else
		conf_key_error(ctx, s, name, "unknown key");
}

/* Report required keys missing from g, including inside absent groups. */
static void
conf_required(struct conf_ctx *ctx, const struct conf_table *t, config_setting_t *g,
    const char *prefix)
{
	const struct conf_key *k;
	char name[256];

	for (k = t->keys; k->name != NULL; k++) {
		if (prefix[0] == '\0' && config_setting_get_member(g, k->name) != NULL)
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, k->name);
		if (k->flags & CK_REQUIRED)
			conf_key_error(ctx, g, name, "required but missing");
		else if (k->type == CT_GROUP) {
			strlcpy_s(name + strlen(name), ".", sizeof(name) - strlen(name));
			conf_required(ctx, k->sub, g, name);
		}
	}
}

/* Walk one group against a table: unknown keys, types, ranges, required keys. */
static void
conf_walk(
    struct conf_ctx *ctx, const struct conf_table *t, config_setting_t *g, void *obj)
{
	const struct conf_key *k;
	int i, n = config_setting_length(g);

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);

		for (k = t->keys; k->name != NULL; k++)
			if (strcmp(k->name, name) == 0)
				break;
		if (k->name != NULL)
			conf_value(ctx, k, s, obj);
		else if (t->extra == NULL || !t->extra(ctx, s, obj))
			conf_unknown(ctx, t, s);
	}
	conf_required(ctx, t, g, "");
	if (t->check != NULL)
		t->check(ctx, g, obj);
}

/* Walk a nested table that fills a separate object (probe sections). */
void
conf_walk_section(
    struct conf_ctx *ctx, const struct conf_table *t, config_setting_t *s, void *obj)
{
	char saved[sizeof(ctx->path)];
	const struct conf_key *k;

	for (k = t->keys; k->name != NULL; k++)
		conf_default(k, obj);
	memcpy(saved, ctx->path, sizeof(saved));
	path_push(ctx->path, sizeof(ctx->path), saved, ".", config_setting_name(s), -1);
	if (!config_setting_is_group(s))
		conf_error(ctx, s, "expected a group: { ... }");
	else
		conf_walk(ctx, t, s, obj);
	memcpy(ctx->path, saved, sizeof(saved));
}

/* The key path being walked, e.g. "devices[3]". */
const char *
conf_ctx_path(const struct conf_ctx *ctx)
{
	return ctx->path;
}

static struct conf *
conf_finish(config_t *cfg, const char *name, struct conf_errors *errors)
{
	struct conf_ctx ctx;
	struct conf *conf;
	const struct conf_key *k;
	char *copy;

	memset(&ctx, 0, sizeof(ctx));
	ctx.errors = errors;
	ctx.main_file = name;
	copy = xstrdup(name);
	ctx.main_dir = xstrdup(dirname(copy));
	free(copy);

	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(name);
	for (k = conf_root_table.keys; k->name != NULL; k++)
		conf_default(k, conf);
	conf_walk(&ctx, &conf_root_table, config_root_setting(cfg), conf);
	free(ctx.main_dir);
	if (errors->n > 0) {
		conf_free(conf);
		return NULL;
	}
	return conf;
}

static void
conf_parse_error(config_t *cfg, const char *name, struct conf_errors *errors)
{
	const char *file = config_error_file(cfg) ? config_error_file(cfg) : name;
	char *line, *copy = NULL, *incl = NULL;

	/* An @included file is named relative to the main file's folder (conf_file). */
	if (strcmp(file, name) != 0 && file[0] != '/') {
		copy = xstrdup(name);
		xasprintf(&incl, "%s/%s", dirname(copy), file);
		file = incl;
	}
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO && config_error_line(cfg) == 0)
		xasprintf(&line, "%s: cannot read: %s", file, strerror(errno));
	else
		xasprintf(&line, "%s:%d: %s", file, config_error_line(cfg),
		    config_error_text(cfg));
	free(copy);
	free(incl);
	errors->v = xreallocarray(errors->v, errors->n + 1, sizeof(char *));
	errors->v[errors->n++] = line;
}

/*
 * Parse path into cfg (initialised; @include relative to its folder): 0, or
 * -1 with the problem added to errors (cannot open it, or a syntax error).
 */
static int
conf_read(config_t *cfg, const char *path, struct conf_errors *errors)
{
	char *copy = xstrdup(path);
	FILE *f;

	config_set_include_dir(cfg, dirname(copy));
	free(copy);
	if ((f = fopen(path, "re")) == NULL) {
		char *line;
		xasprintf(&line, "%s: cannot open: %s", path, strerror(errno));
		errors->v = xreallocarray(errors->v, errors->n + 1, sizeof(char *));
		errors->v[errors->n++] = line;
		return -1;
	}
	fclose(f);
	if (config_read_file(cfg, path) != CONFIG_TRUE) {
		conf_parse_error(cfg, path, errors);
		return -1;
	}
	return 0;
}

/*
 * Load and validate a configuration file.  Returns NULL with every problem
 * in errors (caller clears them) if anything is wrong: a file is taken whole
 * or not at all.
 */
struct conf *
conf_load(const char *path, struct conf_errors *errors)
{
	struct conf *conf = NULL;
	config_t cfg;

	config_init(&cfg);
	if (conf_read(&cfg, path, errors) == 0)
		conf = conf_finish(&cfg, path, errors);
	config_destroy(&cfg);
	return conf;
}

/* Load a configuration from memory; name stands in for the file in messages. */
struct conf *
conf_load_string(const char *text, const char *name, struct conf_errors *errors)
{
	struct conf *conf = NULL;
	config_t cfg;

	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE)
		conf_parse_error(&cfg, name, errors);
	else
		conf = conf_finish(&cfg, name, errors);
	config_destroy(&cfg);
	return conf;
}

/* The caller's argument given to conf_load_table(), or NULL. */
void *
conf_ctx_arg(const struct conf_ctx *ctx)
{
	return ctx->arg;
}

/* Where problems go: for a hook that loads other files (the playbooks). */
struct conf_errors *
conf_ctx_errors(const struct conf_ctx *ctx)
{
	return ctx->errors;
}

/*
 * Load a file of another schema (a playbook) into obj, a zeroed object of
 * t->size bytes: defaults, keys and hooks as for the main file, arg for the
 * hooks (conf_ctx_arg).  0, or -1 with the problems added to errors; either
 * way the caller releases obj with conf_free_object().
 */
int
conf_load_table(const char *path, const struct conf_table *t, void *obj, void *arg,
    struct conf_errors *errors)
{
	struct conf_ctx ctx;
	const struct conf_key *k;
	size_t before = errors->n;
	char *copy;
	config_t cfg;

	config_init(&cfg);
	for (k = t->keys; k->name != NULL; k++)
		conf_default(k, obj);
	if (conf_read(&cfg, path, errors) == -1)
		goto out;
	memset(&ctx, 0, sizeof(ctx));
	ctx.errors = errors;
	ctx.main_file = path;
	ctx.arg = arg;
	copy = xstrdup(path);
	ctx.main_dir = xstrdup(dirname(copy));
	free(copy);
	conf_walk(&ctx, t, config_root_setting(&cfg), obj);
	free(ctx.main_dir);
out:
	config_destroy(&cfg);
	return errors->n > before ? -1 : 0;
}

/* Free everything an object holds according to its table (not the object). */
void
conf_free_object(const struct conf_table *t, void *obj)
{
	const struct conf_key *k;
	size_t i;

	for (k = t->keys; k->name != NULL; k++) {
		switch (k->type) {
		case CT_STRING:
		case CT_PATH:
		case CT_SECRET:
			free(*FIELD(obj, k->off, char *));
			*FIELD(obj, k->off, char *) = NULL;
			break;
		case CT_STRINGS:
			conf_strings_free(FIELD(obj, k->off, struct conf_strings));
			break;
		case CT_GROUP:
			conf_free_object(k->sub, obj);
			break;
		case CT_LIST: {
			struct conf_list *l = FIELD(obj, k->off, struct conf_list);
			for (i = 0; i < l->n; i++)
				conf_free_object(
				    k->sub, (char *)l->items + i * k->sub->size);
			free(l->items);
			l->items = NULL;
			l->n = 0;
			break;
		}
		default:
			break;
		}
	}
	if (t->release != NULL)
		t->release(obj);
}

/* Free a loaded configuration. Takes NULL. */
void
conf_free(struct conf *conf)
{
	if (conf == NULL)
		return;
	conf_free_object(&conf_root_table, conf);
	free(conf->path);
	free(conf);
}

static int
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Compare two objects of one table, key by key (reload keeps equal devices). */
int
conf_equal(const struct conf_table *t, const void *a, const void *b)
{
	const struct conf_key *k;
	size_t i;

	for (k = t->keys; k->name != NULL; k++) {
		switch (k->type) {
		case CT_STRING:
		case CT_PATH:
		case CT_SECRET:
			if (!str_equal(*CFIELD(a, k->off, char *const),
			        *CFIELD(b, k->off, char *const)))
				return 0;
			break;
		case CT_INT:
		case CT_BOOL:
		case CT_ENUM:
			if (*CFIELD(a, k->off, int) != *CFIELD(b, k->off, int))
				return 0;
			break;
		case CT_FLOAT:
			if (*CFIELD(a, k->off, double) != *CFIELD(b, k->off, double))
				return 0;
			break;
		case CT_DURATION:
			if (*CFIELD(a, k->off, int64_t) != *CFIELD(b, k->off, int64_t))
				return 0;
			break;
		case CT_STRINGS: {
			const struct conf_strings *la =
			    CFIELD(a, k->off, struct conf_strings);
			const struct conf_strings *lb =
			    CFIELD(b, k->off, struct conf_strings);
			if (la->n != lb->n)
				return 0;
			for (i = 0; i < la->n; i++)
				if (strcmp(la->v[i], lb->v[i]) != 0)
					return 0;
			break;
		}
		case CT_GROUP:
			if (!conf_equal(k->sub, a, b))
				return 0;
			break;
		case CT_LIST: {
			const struct conf_list *la = CFIELD(a, k->off, struct conf_list);
			const struct conf_list *lb = CFIELD(b, k->off, struct conf_list);
			if (la->n != lb->n)
				return 0;
			for (i = 0; i < la->n; i++)
				if (!conf_equal(k->sub,
				        (const char *)la->items + i * k->sub->size,
				        (const char *)lb->items + i * k->sub->size))
					return 0;
			break;
		}
		}
	}
	return t->equal == NULL || t->equal(a, b);
}

/* The i-th configured device. */
struct device_conf *
conf_device(const struct conf *conf, size_t i)
{
	return (struct device_conf *)conf->devices.items + i;
}

static void
conf_doc_range(FILE *f, const struct conf_key *k)
{
	char *l;

	switch (k->type) {
	case CT_ENUM:
		l = enum_list(k->choices);
		fprintf(f, "%s", l);
		free(l);
		return;
	case CT_INT:
	case CT_FLOAT:
	case CT_DURATION:
		if (k->min != 0 || k->max != 0)
			fprintf(f, "%g .. %g%s", k->min, k->max,
			    k->type == CT_DURATION ? " s" : "");
		return;
	case CT_STRING:
	case CT_LIST:
		if (k->max > 0)
			fprintf(f, "%s%g", k->type == CT_LIST ? "at most " : "up to ",
			    k->max);
		if (k->max > 0 && k->type == CT_STRING)
			fprintf(f, " bytes");
		return;
	default:
		return;
	}
}

static void
conf_doc_table(FILE *f, const struct conf_table *t, const char *prefix)
{
	const struct conf_key *k;
	char sub[256];

	fprintf(f, "\n## `%s`\n\n%s\n\n", prefix[0] ? prefix : "(top level)", t->help);
	fprintf(f, "| key | type | range | default | description |\n");
	fprintf(f, "|---|---|---|---|---|\n");
	for (k = t->keys; k->name != NULL; k++) {
		fprintf(f, "| `%s` | %s | ", k->name, conf_type_name(k->type));
		conf_doc_range(f, k);
		fprintf(f, " | %s%s%s | %s |\n", k->def ? "`" : "",
		    k->def ? k->def : (k->flags & CK_REQUIRED ? "required" : "—"),
		    k->def ? "`" : "", k->help);
	}
	for (k = t->keys; k->name != NULL; k++) {
		if (k->type != CT_GROUP && k->type != CT_LIST)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s%s", prefix, prefix[0] ? "." : "",
		    k->name, k->type == CT_LIST ? "[]" : "");
		conf_doc_table(f, k->sub, sub);
		if (k->sub == &conf_device_table)
			probe_conf_doc(f, sub, conf_doc_table);
	}
}

/* Write the configuration reference (Markdown) generated from the schema. */
void
conf_doc(FILE *f)
{
	fprintf(f,
	    "# sonae configuration reference\n\n"
	    "Generated from the schema table by `sonaed -R`; do not edit by hand.\n\n"
	    "The file is read with libconfig: `key = value;`, groups `{ ... }`, "
	    "lists `( ... )`, arrays `[ ... ]`, and `@include \"file\"`. With "
	    "libconfig 1.5 every include path, also in nested includes, is taken "
	    "relative to the main file's folder, and absolute include paths are "
	    "not supported. Unknown keys, wrong types and values "
	    "out of range are errors reported as `file:line: key: reason`, and a "
	    "file with any error is refused whole.\n\n"
	    "Types: a *duration* is a number of seconds or a string with units "
	    "(`\"500ms\"`, `\"30s\"`, `\"5min\"`, `\"2h\"`, `\"1d\"`); a *path* "
	    "that is relative is taken from the folder of the file it is written "
	    "in; a *secret* is a string or `{ file = \"/etc/sonae/secret\"; }`, "
	    "and a secret file that others may read is refused.\n");
	conf_doc_table(f, &conf_root_table, "");
}

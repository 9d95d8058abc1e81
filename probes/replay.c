/*
 * The replay probe plays a scenario file: a timeline of metric values, and of
 * the device going silent or failing, so that the demo, the tests and drills
 * run without hardware.  See docs/replay.md for the format.
 *
 *	# ups1: mains fails at 20 s, the battery runs down, mains returns
 *	unit charge_pct %
 *	0     on_battery=false charge_pct=100 status="OL"
 *	20s   on_battery=true status="OB"
 *	50s   charge_pct=35 status="OB LB"
 *	60s   !noreply
 *	70s   !answer on_battery=false status="OL"
 *	end   90s
 *
 * Each timed line changes the listed metrics from that offset on; values not
 * listed keep what they had.  Parsed scenarios are shared between devices
 * that name the same file (and the same version of it).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

#define SC_MAX_BYTES   (4 * 1024 * 1024)
#define SC_MAX_METRICS 1000
#define SC_MAX_FRAMES  100000
#define SC_MAX_NAME    64

enum frame_mode {
	FR_ANSWER,
	FR_NOREPLY,
	FR_FAIL,
};

struct sc_metric {
	char *name;
	char *unit;
	enum metric_kind kind;
	int kind_set;
};

struct sc_value {
	unsigned char set;
	unsigned char invalid; /* text holds the reason */
	double num;
	const char *text; /* owned by scenario->strings */
};

struct sc_frame {
	int64_t at_ms;
	enum frame_mode mode;
	const char *reason; /* FR_FAIL */
	struct sc_value *v; /* one per metric */
};

struct scenario {
	char *path;
	dev_t st_dev;
	ino_t st_ino;
	struct timespec st_mtim;
	off_t st_size;
	int refs;
	struct sc_metric *m;
	size_t nm;
	struct sc_frame *f;
	size_t nf;
	int64_t end_ms;
	char **strings;
	size_t nstrings;
};

struct replay_conf {
	char *scenario;
	int loop;
	double speed;
	struct scenario *sc; /* parsed at load, shared */
};

struct replay_dev {
	struct scenario *sc;
	int loop;
	double speed;
	int64_t start_ms;
	struct event *ev;
	struct poll *pending;
	struct device *dev;
};

static struct hmap *scenario_cache;

static const char *
sc_keep(struct scenario *sc, const char *s, size_t len)
{
	char *p = xstrndup(s, len);

	sc->strings = xreallocarray(sc->strings, sc->nstrings + 1, sizeof(char *));
	sc->strings[sc->nstrings++] = p;
	return p;
}

/* Free a parsed scenario that no device holds. Takes NULL. */
void
scenario_free(struct scenario *sc)
{
	size_t i;

	if (sc == NULL)
		return;
	for (i = 0; i < sc->nm; i++) {
		free(sc->m[i].name);
		free(sc->m[i].unit);
	}
	for (i = 0; i < sc->nf; i++)
		free(sc->f[i].v);
	for (i = 0; i < sc->nstrings; i++)
		free(sc->strings[i]);
	free(sc->strings);
	free(sc->m);
	free(sc->f);
	free(sc->path);
	free(sc);
}

/* Number of timed lines in the scenario. */
size_t
scenario_frames(const struct scenario *sc)
{
	return sc->nf;
}

static struct sc_metric *
sc_metric(struct scenario *sc, const char *name, size_t len, size_t *idx)
{
	size_t i;

	for (i = 0; i < sc->nm; i++)
		if (strlen(sc->m[i].name) == len &&
		    strncmp(sc->m[i].name, name, len) == 0) {
			*idx = i;
			return &sc->m[i];
		}
	if (sc->nm >= SC_MAX_METRICS)
		return NULL;
	sc->m = xreallocarray(sc->m, sc->nm + 1, sizeof(*sc->m));
	memset(&sc->m[sc->nm], 0, sizeof(sc->m[0]));
	sc->m[sc->nm].name = xstrndup(name, len);
	/* Frames already parsed get an unset value for the new metric. */
	for (i = 0; i < sc->nf; i++) {
		sc->f[i].v =
		    xreallocarray(sc->f[i].v, sc->nm + 1, sizeof(struct sc_value));
		memset(&sc->f[i].v[sc->nm], 0, sizeof(struct sc_value));
	}
	*idx = sc->nm;
	return &sc->m[sc->nm++];
}

struct sc_lexer {
	const char *p, *end;
};

static void
lex_space(struct sc_lexer *lx)
{
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
		lx->p++;
}

static int
lex_word(struct sc_lexer *lx, const char **w, size_t *len)
{
	lex_space(lx);
	*w = lx->p;
	while (lx->p < lx->end && !isspace((unsigned char)*lx->p) && *lx->p != '=' &&
	       *lx->p != '"')
		lx->p++;
	*len = (size_t)(lx->p - *w);
	return *len > 0 ? 0 : -1;
}

/* A double-quoted string with \" and \\ escapes; the result is kept in sc. */
static const char *
lex_quoted(struct sc_lexer *lx, struct scenario *sc, const char **err)
{
	char buf[1024];
	size_t n = 0;

	if (lx->p >= lx->end || *lx->p != '"') {
		*err = "expected a double-quoted string";
		return NULL;
	}
	lx->p++;
	while (lx->p < lx->end && *lx->p != '"') {
		char c = *lx->p++;
		if (c == '\\') {
			if (lx->p >= lx->end)
				break;
			c = *lx->p++;
		}
		if ((unsigned char)c < 0x20) {
			*err = "control character in a string";
			return NULL;
		}
		if (n + 1 >= sizeof(buf)) {
			*err = "string longer than 1023 bytes";
			return NULL;
		}
		buf[n++] = c;
	}
	if (lx->p >= lx->end) {
		*err = "unterminated string";
		return NULL;
	}
	lx->p++;
	if (!utf8_valid(buf, n)) {
		*err = "string is not valid UTF-8";
		return NULL;
	}
	return sc_keep(sc, buf, n);
}

static int
name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SC_MAX_NAME || !isalpha((unsigned char)s[0]))
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

static int
sc_kind(struct sc_metric *m, enum metric_kind kind, const char **err)
{
	if (!m->kind_set) {
		m->kind = kind;
		m->kind_set = 1;
		return 0;
	}
	if (m->kind != kind) {
		*err = "metric changes type (number, true/false, or text) from an "
		       "earlier line";
		return -1;
	}
	return 0;
}

/* One NAME=VALUE on a timed line. */
static int
sc_assign(struct sc_lexer *lx, struct scenario *sc, struct sc_frame *fr, const char **err)
{
	const char *w, *name;
	size_t len, nlen, idx;
	struct sc_metric *m;
	struct sc_value *v;

	if (lex_word(lx, &name, &nlen) == -1 || !name_ok(name, nlen)) {
		*err = "expected NAME=VALUE (names: letters, digits, _)";
		return -1;
	}
	if (lx->p >= lx->end || *lx->p != '=') {
		*err = "expected '=' after the metric name";
		return -1;
	}
	lx->p++;
	if ((m = sc_metric(sc, name, nlen, &idx)) == NULL) {
		*err = "too many metrics";
		return -1;
	}
	fr->v = xreallocarray(fr->v, sc->nm, sizeof(struct sc_value));
	v = &fr->v[idx];
	memset(v, 0, sizeof(*v));
	v->set = 1;
	if (lx->p < lx->end && *lx->p == '"') {
		if ((v->text = lex_quoted(lx, sc, err)) == NULL)
			return -1;
		return sc_kind(m, MK_TEXT, err);
	}
	if (lx->p < lx->end && *lx->p == '!') {
		lx->p++;
		if ((v->text = lex_quoted(lx, sc, err)) == NULL)
			return -1;
		v->invalid = 1;
		return 0;
	}
	if (lex_word(lx, &w, &len) == -1) {
		*err = "expected a value: a number, true, false, \"text\" or !\"reason\"";
		return -1;
	}
	if ((len == 4 && strncmp(w, "true", 4) == 0) ||
	    (len == 5 && strncmp(w, "false", 5) == 0)) {
		v->num = w[0] == 't';
		return sc_kind(m, MK_BOOL, err);
	} else {
		char tmp[64], *end;
		if (len >= sizeof(tmp)) {
			*err = "number too long";
			return -1;
		}
		memcpy(tmp, w, len);
		tmp[len] = '\0';
		errno = 0;
		v->num = strtod(tmp, &end);
		if (*end != '\0' || errno != 0 || !isfinite(v->num)) {
			*err = "expected a value: a number, true, false, \"text\" or "
			       "!\"reason\"";
			return -1;
		}
		return sc_kind(m, MK_NUMBER, err);
	}
}

static int
sc_line(struct scenario *sc, const char *line, size_t len, const char **err)
{
	struct sc_lexer lx = { line, line + len };
	const char *w;
	size_t wl;
	int64_t at;
	struct sc_frame *fr;
	char tmp[64];

	if (lex_word(&lx, &w, &wl) == -1) {
		if (lx.p >= lx.end)
			return 0; /* blank (a lone \r) */
		/* A line that starts with '=' or '"' is not blank: say so. */
		*err = "expected an offset (0, 30s, 2min), unit or end";
		return -1;
	}
	if (wl == 4 && strncmp(w, "unit", 4) == 0) {
		const char *name, *unit;
		size_t nl, ul, idx;
		struct sc_metric *m;
		if (lex_word(&lx, &name, &nl) == -1 || !name_ok(name, nl) ||
		    lex_word(&lx, &unit, &ul) == -1 || ul > 16) {
			*err = "expected: unit NAME UNIT";
			return -1;
		}
		if ((m = sc_metric(sc, name, nl, &idx)) == NULL) {
			*err = "too many metrics";
			return -1;
		}
		free(m->unit);
		m->unit = xstrndup(unit, ul);
		goto rest;
	}
	if (wl == 3 && strncmp(w, "end", 3) == 0) {
		if (lex_word(&lx, &w, &wl) == -1 || wl >= sizeof(tmp)) {
			*err = "expected: end DURATION";
			return -1;
		}
		memcpy(tmp, w, wl);
		tmp[wl] = '\0';
		if (duration_parse(tmp, &at) == -1 || at <= 0) {
			*err = "expected: end DURATION (e.g. end 90s)";
			return -1;
		}
		if (sc->nf > 0 && at <= sc->f[sc->nf - 1].at_ms) {
			*err = "end must come after the last timed line";
			return -1;
		}
		sc->end_ms = at;
		goto rest;
	}
	if (wl >= sizeof(tmp)) {
		*err = "expected an offset (0, 30s, 2min), unit or end";
		return -1;
	}
	memcpy(tmp, w, wl);
	tmp[wl] = '\0';
	if (duration_parse(tmp, &at) == -1) {
		*err = "expected an offset (0, 30s, 2min), unit or end";
		return -1;
	}
	if (sc->end_ms > 0) {
		*err = "timed line after end";
		return -1;
	}
	if (sc->nf > 0 && at < sc->f[sc->nf - 1].at_ms) {
		*err = "offsets must not go back in time";
		return -1;
	}
	if (sc->nf >= SC_MAX_FRAMES) {
		*err = "too many timed lines";
		return -1;
	}
	sc->f = xreallocarray(sc->f, sc->nf + 1, sizeof(*sc->f));
	fr = &sc->f[sc->nf];
	memset(fr, 0, sizeof(*fr));
	fr->at_ms = at;
	fr->v = xcalloc(sc->nm, sizeof(struct sc_value));
	if (sc->nf > 0) {
		/* Values carry forward; so does silence or failure. */
		memcpy(fr->v, sc->f[sc->nf - 1].v, sc->nm * sizeof(struct sc_value));
		fr->mode = sc->f[sc->nf - 1].mode;
		fr->reason = sc->f[sc->nf - 1].reason;
	}
	sc->nf++;
	for (;;) {
		lex_space(&lx);
		if (lx.p >= lx.end || *lx.p == '#')
			return 0;
		if (*lx.p == '!') {
			lx.p++;
			if (lex_word(&lx, &w, &wl) == -1) {
				*err = "expected !noreply, !fail \"reason\" or !answer";
				return -1;
			}
			if (wl == 7 && strncmp(w, "noreply", 7) == 0)
				fr->mode = FR_NOREPLY;
			else if (wl == 6 && strncmp(w, "answer", 6) == 0)
				fr->mode = FR_ANSWER;
			else if (wl == 4 && strncmp(w, "fail", 4) == 0) {
				lex_space(&lx);
				if ((fr->reason = lex_quoted(&lx, sc, err)) == NULL)
					return -1;
				fr->mode = FR_FAIL;
			} else {
				*err = "expected !noreply, !fail \"reason\" or !answer";
				return -1;
			}
			continue;
		}
		if (sc_assign(&lx, sc, &sc->f[sc->nf - 1], err) == -1)
			return -1;
		fr = &sc->f[sc->nf - 1];
	}
rest:
	lex_space(&lx);
	if (lx.p < lx.end && *lx.p != '#') {
		*err = "unexpected text at the end of the line";
		return -1;
	}
	return 0;
}

/*
 * Parse a scenario held in memory; name stands for the file in messages.
 * Returns NULL with "name:line: reason" in err.
 */
struct scenario *
scenario_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
	struct scenario *sc = xcalloc(1, sizeof(*sc));
	const char *p = text, *end = text + len, *nl, *why = NULL;
	unsigned long lineno = 0;
	size_t i;

	sc->path = xstrdup(name);
	sc->refs = 1;
	while (p < end) {
		const char *hash;
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			why = "NUL byte in the file";
			goto bad;
		}
		if (!utf8_valid(p, (size_t)(nl - p))) {
			why = "line is not valid UTF-8";
			goto bad;
		}
		hash = p;
		while (hash < nl && (*hash == ' ' || *hash == '\t'))
			hash++;
		if (hash < nl && *hash != '#' &&
		    sc_line(sc, p, (size_t)(nl - p) - (nl > p && nl[-1] == '\r'), &why) ==
		        -1)
			goto bad;
		p = nl + 1;
	}
	/* Metrics named after some frames were parsed are unset there already. */
	for (i = 0; i < sc->nf; i++)
		sc->f[i].v = xreallocarray(
		    sc->f[i].v, sc->nm ? sc->nm : 1, sizeof(struct sc_value));
	for (i = 0; i < sc->nm; i++)
		if (!sc->m[i].kind_set) {
			lineno = 0;
			snprintf(err, errlen, "%s: metric \"%s\" never gets a value",
			    name, sc->m[i].name);
			scenario_free(sc);
			return NULL;
		}
	if (sc->nf == 0) {
		snprintf(err, errlen, "%s: no timed lines", name);
		scenario_free(sc);
		return NULL;
	}
	return sc;
bad:
	snprintf(err, errlen, "%s:%lu: %s", name, lineno, why);
	scenario_free(sc);
	return NULL;
}

/* Load a scenario file, sharing an already parsed copy of the same version. */
static struct scenario *
scenario_get(const char *path, char *err, size_t errlen)
{
	struct scenario *sc;
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "scenario %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if (scenario_cache == NULL)
		scenario_cache = hmap_new();
	sc = hmap_get(scenario_cache, path);
	if (sc != NULL && sc->st_dev == st.st_dev && sc->st_ino == st.st_ino &&
	    sc->st_size == st.st_size && sc->st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    sc->st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
		close(fd);
		sc->refs++;
		return sc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SC_MAX_BYTES) {
		snprintf(err, errlen,
		    "scenario %s: not a regular file of at most %d bytes", path,
		    SC_MAX_BYTES);
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size &&
	       (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	sc = scenario_parse(buf, len, path, err, errlen);
	free(buf);
	if (sc == NULL)
		return NULL;
	sc->st_dev = st.st_dev;
	sc->st_ino = st.st_ino;
	sc->st_size = st.st_size;
	sc->st_mtim = st.st_mtim;
	hmap_put(scenario_cache, sc->path, sc);
	return sc;
}

static void
scenario_put(struct scenario *sc)
{
	if (sc == NULL || --sc->refs > 0)
		return;
	if (scenario_cache != NULL && hmap_get(scenario_cache, sc->path) == sc) {
		hmap_del(scenario_cache, sc->path);
		if (hmap_count(scenario_cache) == 0) {
			hmap_free(scenario_cache);
			scenario_cache = NULL;
		}
	}
	scenario_free(sc);
}

static void
replay_check(struct conf_ctx *ctx, config_setting_t *g, void *obj)
{
	struct replay_conf *rc = obj;
	char err[512];

	if (rc->scenario == NULL)
		return;
	if ((rc->sc = scenario_get(rc->scenario, err, sizeof(err))) == NULL) {
		conf_error(ctx, config_setting_get_member(g, "scenario"), "%s", err);
		return;
	}
	if (rc->loop && rc->sc->end_ms == 0)
		conf_error(ctx, config_setting_get_member(g, "scenario"),
		    "%s: a looping scenario needs an \"end DURATION\" line (or set loop "
		    "= "
		    "false)",
		    rc->scenario);
}

static void
replay_release(void *obj)
{
	struct replay_conf *rc = obj;

	scenario_put(rc->sc);
	rc->sc = NULL;
}

static int
replay_equal(const void *a, const void *b)
{
	/* The same path and the same version of the file share one parse. */
	return ((const struct replay_conf *)a)->sc == ((const struct replay_conf *)b)->sc;
}

static const struct conf_key replay_keys[] = {
	{ .name = "scenario",
	    .type = CT_PATH,
	    .off = offsetof(struct replay_conf, scenario),
	    .flags = CK_REQUIRED,
	    .help = "Scenario file to play (format: docs/replay.md)." },
	{ .name = "loop",
	    .type = CT_BOOL,
	    .off = offsetof(struct replay_conf, loop),
	    .def = "true",
	    .help =
	        "Start again after the scenario's `end`; false: stay at the last line." },
	{ .name = "speed",
	    .type = CT_FLOAT,
	    .off = offsetof(struct replay_conf, speed),
	    .min = 0.01,
	    .max = 1000,
	    .def = "1",
	    .help = "Time factor: 2 plays the scenario twice as fast." },
	{ 0 },
};

static const struct conf_table replay_table = {
	.name = "replay",
	.help = "Replay probe: plays a scenario file instead of talking to hardware "
	        "(tests, drills).",
	.size = sizeof(struct replay_conf),
	.keys = replay_keys,
	.check = replay_check,
	.release = replay_release,
	.equal = replay_equal,
};

static const struct sc_frame *
replay_frame(const struct replay_dev *rd)
{
	const struct scenario *sc = rd->sc;
	int64_t t = (int64_t)((double)(time_mono_ms() - rd->start_ms) * rd->speed);
	size_t lo = 0, hi = sc->nf;

	if (rd->loop && sc->end_ms > 0)
		t %= sc->end_ms;
	if (sc->f[0].at_ms > t)
		return NULL;
	/* The last frame at or before t. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (sc->f[mid].at_ms <= t)
			lo = mid;
		else
			hi = mid;
	}
	return &sc->f[lo];
}

static void
replay_answer(evutil_socket_t fd, short ev, void *arg)
{
	struct replay_dev *rd = arg;
	struct poll *p = rd->pending;
	const struct sc_frame *fr = replay_frame(rd);
	size_t i;

	(void)fd;
	(void)ev;
	rd->pending = NULL;
	if (p == NULL)
		return;
	if (fr != NULL && fr->mode == FR_FAIL) {
		poll_done(p, POLL_ERROR, "%s", fr->reason);
		return;
	}
	for (i = 0; fr != NULL && i < rd->sc->nm; i++) {
		const struct sc_metric *m = &rd->sc->m[i];
		const struct sc_value *v = &fr->v[i];
		if (!v->set)
			continue;
		if (v->invalid)
			poll_invalid(p, m->name, m->kind, m->unit, "%s", v->text);
		else if (m->kind == MK_TEXT)
			poll_text(p, m->name, v->text);
		else if (m->kind == MK_BOOL)
			poll_bool(p, m->name, v->num != 0);
		else
			poll_number(p, m->name, v->num, m->unit);
	}
	poll_done(p, POLL_OK, NULL);
}

static int
replay_start(struct device *dev)
{
	const struct replay_conf *rc = device_conf(dev)->probe_conf;
	struct replay_dev *rd = xcalloc(1, sizeof(*rd));

	rd->sc = rc->sc;
	rd->sc->refs++;
	rd->loop = rc->loop;
	rd->speed = rc->speed;
	rd->start_ms = time_mono_ms();
	rd->dev = dev;
	rd->ev = evtimer_new(device_base(dev), replay_answer, rd);
	if (rd->ev == NULL)
		fatalx("%s: evtimer_new", __func__);
	device_set_probe_data(dev, rd);
	return 0;
}

static void
replay_stop(struct device *dev)
{
	struct replay_dev *rd = device_probe_data(dev);

	if (rd == NULL)
		return;
	event_free(rd->ev);
	scenario_put(rd->sc);
	free(rd);
	device_set_probe_data(dev, NULL);
}

static void
replay_poll(struct device *dev, struct poll *p)
{
	struct replay_dev *rd = device_probe_data(dev);
	const struct sc_frame *fr = replay_frame(rd);
	struct timeval now = { 0, 0 };

	if (fr != NULL && fr->mode == FR_NOREPLY)
		return; /* the device is silent: the core's timeout ends this attempt */
	rd->pending = p;
	evtimer_add(rd->ev, &now);
}

static void
replay_cancel(struct device *dev, struct poll *p)
{
	struct replay_dev *rd = device_probe_data(dev);

	if (rd->pending == p) {
		evtimer_del(rd->ev);
		rd->pending = NULL;
	}
}

const struct probe_ops probe_replay = {
	.name = "replay",
	.help = "plays a scenario file",
	.conf = &replay_table,
	.start = replay_start,
	.stop = replay_stop,
	.poll = replay_poll,
	.cancel = replay_cancel,
};

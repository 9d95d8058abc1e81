/*
 * alerts/notify.c, the alerts engine, driven for real: a configuration from
 * conf_load_string(), alerts_configure() and alerts_start() on a temporary
 * state_dir, and mail really spooled, delivered to aiosmtpd on 127.0.0.1 and
 * read back from its Maildir.  The rest of the daemon is faked through
 * struct alerts_hooks: an incident store of JSON objects shaped like
 * detect_incident_json(), a device table, the operating mode, and beacon,
 * mail-path, journal and timeline hooks that record what they are given.
 *
 * Durations are short (group wait 0 to 1 s, repeat 0.5 s, escalation after
 * 1 s, the least the schema takes).  A test runs the loop until what it waits
 * for holds; where it shows that something does not happen, it runs the
 * loop for a bounded time and then asserts.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"
#include "tests/testutil.h"

#define ICT    "ict@example.org"
#define BOSS   "boss@example.org"
#define CHIEF  "chief@example.org"
#define ONCALL "oncall@example.org"
#define MAILS  64

/*
 * The configuration around the routes: one relay on the test's port, quick
 * retries, a beacon channel "lamp" on the device io1, a syslog channel "log"
 * on a socket in the test's folder and an exec channel "prog" that keeps
 * its environment and input there (exec.env, exec.in).  %s: state_dir, the
 * port, more of the mail group, the folder three times (replay scenario,
 * syslog socket, the program's files), routes.
 */
static const char *const conf_fmt =
    "site: { name = \"test\"; };\n"
    "daemon: { state_dir = \"%s\"; };\n"
    "mail: {\n"
    "  from = \"sonae@example.org\";\n"
    "  relays = ( { url = \"smtp://127.0.0.1:%d\"; timeout = \"5s\";\n"
    "    connect_timeout = \"2s\"; } );\n"
    "  retry = \"100ms\"; retry_max = \"200ms\";\n"
    "  %s\n"
    "};\n"
    "devices = ( { name = \"io1\"; kind = \"sensor\";\n"
    "  replay = { scenario = \"%s/x.replay\"; }; } );\n"
    "channels = (\n"
    "  { name = \"lamp\"; type = \"beacon\"; device = \"io1\"; point = \"lamp\";\n"
    "    value = \"1\"; clear = \"0\"; },\n"
    "  { name = \"log\"; type = \"syslog\"; socket = \"%s/log.sock\"; },\n"
    "  { name = \"prog\"; type = \"exec\"; command = [\"/bin/sh\", \"-c\",\n"
    "    \"env > $0/exec.env; cat > $0/exec.in\", \"%s\"]; }\n"
    ");\n"
    "routes = (\n%s\n);\n";

static const char *dir;
static int port;
static char *maildir;
static struct event_base *base;
static struct conf *conf;
static struct alerts *al;

/* The rest of the daemon, as the engine sees it through its hooks. */
struct beacon_write {
	char channel[64];
	char value[32];
};

static struct world {
	json_t *incidents; /* "ID" -> the incident, detect_incident_json()'s shape */
	const char *mode;
	json_t *notes;   /* [{id, event, text}] */
	json_t *journal; /* [{actor, event, data}] */
	struct beacon_write beacons[32];
	size_t nbeacons;
	int beacon_refuse; /* the beacon hook returns -1 */
	int downs, ups;    /* mail_path calls */
	/* mail_path raises and resolves the incident path_id, as detect.c does. */
	uint64_t path_id;
	json_t *runs;        /* what playbook_runs answers (a copy); NULL: NULL */
	uint64_t runs_asked; /* the incident it was last asked about */
} w;

static struct device_conf devices[5];

/* A reading at the opening, as detect.c keeps it in the snapshot. */
static json_t *
snapshot_json(void)
{
	return json_pack("{s:{s:f, s:s, s:s, s:s}}", "ups1.battery_voltage", "value",
	    51.5, "unit", "V", "quality", "ok", "time", "2026-11-26 03:00:00");
}

static json_t *
incident(uint64_t id)
{
	char key[32];

	snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
	return json_object_get(w.incidents, key);
}

/*
 * A new open incident in the fake store: rule, severity, devices
 * (comma-separated, or NULL).  Borrowed.
 */
static json_t *
inc_open(uint64_t id, const char *rule, const char *severity, const char *devs)
{
	json_t *d = json_array(), *o;
	char key[32], title[128], *list, *p, *save = NULL;

	if (devs != NULL) {
		list = xstrdup(devs);
		for (p = strtok_r(list, ",", &save); p != NULL;
		     p = strtok_r(NULL, ",", &save))
			json_array_append_new(d, json_string(p));
		free(list);
	}
	snprintf(
	    title, sizeof(title), "%s: test incident %llu", rule, (unsigned long long)id);
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:n, s:n, s:o, s:n, "
	              "s:[], s:n, s:n, s:b, s:n, s:b, s:o, s:[]}",
	    "id", (json_int_t)id, "rule", rule, "source", "rule", "title", title,
	    "severity", severity, "state", "open", "opened", "2026-11-26 03:00:00",
	    "opened_ms", (json_int_t)time_now_ms(), "acknowledged", "resolved", "devices",
	    d, "playbook", "folded", "merged_into", "maintenance", "flapping", 0,
	    "latency_us", "notified", 1, "snapshot", snapshot_json(), "timeline");
	ck_assert_ptr_nonnull(o);
	snprintf(key, sizeof(key), "%llu", (unsigned long long)id);
	json_object_set_new(w.incidents, key, o);
	return o;
}

/* detect.c decided to tell: what is "problem" or "recovery". */
static void
tell(uint64_t id, const char *what)
{
	json_t *o = incident(id);

	ck_assert_ptr_nonnull(o);
	alerts_incident(
	    al, id, json_integer_value(json_object_get(o, "opened_ms")), what);
}

static void
inc_ack(uint64_t id, const char *by)
{
	json_t *o = incident(id);

	json_object_set_new(o, "acknowledged",
	    json_pack("{s:s, s:s, s:I, s:s, s:s, s:n, s:n}", "by", by, "time",
	        "2026-11-26 03:00:01", "time_ms", (json_int_t)time_now_ms(), "text",
	        "on it", "kind", "normal", "expires", "expires_ms"));
	json_object_set_new(o, "state", json_string("acknowledged"));
}

static void
inc_unack(uint64_t id)
{
	json_t *o = incident(id);

	json_object_set_new(o, "acknowledged", json_null());
	json_object_set_new(o, "state", json_string("open"));
}

static void
inc_resolve(uint64_t id)
{
	json_t *o = incident(id);

	json_object_set_new(o, "resolved",
	    json_pack("{s:s, s:s, s:I, s:s}", "by", "sonaed", "time",
	        "2026-11-26 03:00:02", "time_ms", (json_int_t)time_now_ms(), "text",
	        "the condition cleared"));
	json_object_set_new(o, "state", json_string("resolved"));
}

/* The hooks. */
static json_t *
fake_incident(void *arg, uint64_t id)
{
	json_t *o = incident(id);

	ck_assert_ptr_eq(arg, &w);
	return o != NULL ? json_deep_copy(o) : NULL;
}

static json_t *
fake_incidents(void *arg)
{
	json_t *list = json_array(), *o;
	const char *key;

	(void)arg;
	json_object_foreach(w.incidents, key, o)
	{
		if (json_is_null(json_object_get(o, "resolved")))
			json_array_append_new(list, json_deep_copy(o));
	}
	return json_pack("{s:o}", "incidents", list);
}

static const char *
fake_mode(void *arg)
{
	(void)arg;
	return w.mode;
}

static const struct device_conf *
fake_device(void *arg, const char *name)
{
	size_t i;

	(void)arg;
	for (i = 0; i < NELEM(devices); i++)
		if (devices[i].name != NULL && strcmp(devices[i].name, name) == 0)
			return &devices[i];
	return NULL;
}

struct beacon_job {
	void (*done)(void *, int, const char *);
	void *darg;
};

static void
beacon_answer(evutil_socket_t fd, short ev, void *arg)
{
	struct beacon_job *j = arg;

	(void)fd;
	(void)ev;
	j->done(j->darg, 1, NULL);
	free(j);
}

/* Record the write; the answer follows on the loop, as a device's would. */
static int
fake_beacon(void *arg, const struct channel_conf *c, const char *value,
    void (*done)(void *, int, const char *), void *darg)
{
	struct beacon_job *j;
	struct timeval now = { 0, 0 };

	(void)arg;
	if (w.beacon_refuse)
		return -1;
	ck_assert_uint_lt(w.nbeacons, NELEM(w.beacons));
	snprintf(
	    w.beacons[w.nbeacons].channel, sizeof(w.beacons[0].channel), "%s", c->name);
	snprintf(w.beacons[w.nbeacons].value, sizeof(w.beacons[0].value), "%s", value);
	w.nbeacons++;
	j = xcalloc(1, sizeof(*j));
	j->done = done;
	j->darg = darg;
	ck_assert_int_eq(
	    event_base_once(base, -1, EV_TIMEOUT, beacon_answer, j, &now), 0);
	return 0;
}

static void
fake_mail_path(void *arg, int down, const char *reason)
{
	(void)arg;
	ck_assert_ptr_nonnull(reason);
	if (down)
		w.downs++;
	else
		w.ups++;
	if (w.path_id == 0)
		return;
	/* detect_mail_path(): the incident mail-undeliverable, told at once. */
	if (down) {
		inc_open(w.path_id, "mail-undeliverable", "critical", NULL);
		tell(w.path_id, "problem");
	} else {
		inc_resolve(w.path_id);
		tell(w.path_id, "recovery");
	}
}

static void
fake_journal(void *arg, const char *actor, const char *event, json_t *data)
{
	(void)arg;
	json_array_append_new(w.journal,
	    json_pack("{s:s, s:s, s:o}", "actor", actor, "event", event, "data", data));
}

static void
fake_note(void *arg, uint64_t id, const char *event, const char *text)
{
	(void)arg;
	json_array_append_new(w.notes, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
	                                   "event", event, "text", text));
}

/* The playbook engine: w.runs, {"runs": [RUN_SUMMARY...]}, or NULL. */
static json_t *
fake_playbook_runs(void *arg, uint64_t id)
{
	(void)arg;
	w.runs_asked = id;
	return w.runs != NULL ? json_deep_copy(w.runs) : NULL;
}

static const struct alerts_hooks hooks = {
	.incident = fake_incident,
	.incidents = fake_incidents,
	.mode = fake_mode,
	.device = fake_device,
	.beacon = fake_beacon,
	.mail_path = fake_mail_path,
	.journal = fake_journal,
	.note = fake_note,
	.playbook_runs = fake_playbook_runs,
};

/* A daemon without the playbook engine. */
static const struct alerts_hooks hooks_no_playbooks = {
	.incident = fake_incident,
	.incidents = fake_incidents,
	.mode = fake_mode,
	.device = fake_device,
	.beacon = fake_beacon,
	.mail_path = fake_mail_path,
	.journal = fake_journal,
	.note = fake_note,
};

/* Lines of incident id's timeline with that event (id 0: any incident). */
static size_t
notes(uint64_t id, const char *event)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(w.notes, i, v)
	{
		if ((id == 0 ||
		        (uint64_t)json_integer_value(json_object_get(v, "id")) == id) &&
		    strcmp(json_string_value(json_object_get(v, "event")), event) == 0)
			n++;
	}
	return n;
}

/* Journal entries with that event. */
static size_t
journaled(const char *event)
{
	size_t i, n = 0;
	json_t *v;

	json_array_foreach(w.journal, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "event")), event) == 0)
			n++;
	}
	return n;
}

/*
 * The engine.
 */
static int
kind(const char *name)
{
	int k;

	for (k = 0; device_kinds[k] != NULL; k++)
		if (strcmp(device_kinds[k], name) == 0)
			return k;
	ck_abort_msg("no device kind %s", name);
	return -1;
}

static void
setup(void)
{
	static const struct {
		const char *name, *kind;
		int availability;
	} table[] = {
		{ "ups1", "ups", 3 },
		{ "sw1", "switch", 2 },
		{ "env1", "sensor", 1 },
		{ "env2", "switch", 1 },
		{ "io1", "sensor", 1 },
	};
	size_t i;

	dir = testutil_tmpdir("check-notify");
	free(testutil_write(dir, "x.replay", "0 x=1\nend 1h\n"));
	port = testutil_free_port(SOCK_STREAM);
	base = event_base_new();
	memset(&w, 0, sizeof(w));
	w.incidents = json_object();
	w.notes = json_array();
	w.journal = json_array();
	w.mode = "normal";
	for (i = 0; i < NELEM(table); i++) {
		memset(&devices[i], 0, sizeof(devices[i]));
		devices[i].name = (char *)(uintptr_t)table[i].name;
		devices[i].kind = kind(table[i].kind);
		devices[i].availability = table[i].availability;
	}
}

static void
teardown(void)
{
	alerts_free(al);
	al = NULL;
	conf_free(conf);
	conf = NULL;
	event_base_free(base);
	base = NULL;
	json_decref(w.incidents);
	json_decref(w.notes);
	json_decref(w.journal);
	json_decref(w.runs);
	testutil_reap();
	testutil_rmdir();
	free(maildir);
	maildir = NULL;
}

/* The relay: aiosmtpd on the test's port. */
static void
relay_up(void)
{
	maildir = testutil_aiosmtpd(dir, port);
}

static struct conf *
load(const char *text)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *c = conf_load_string(text, "<notify>", &errs);

	ck_assert_msg(c != NULL, "%s", errs.n ? errs.v[0] : "?");
	conf_errors_clear(&errs);
	return c;
}

/* A new engine on conf with hooks h, started on its state_dir. */
static void
start_with(const struct alerts_hooks *h)
{
	char err[512] = "";

	al = alerts_new(base, h, &w);
	alerts_configure(al, conf);
	ck_assert_msg(alerts_start(al, err, sizeof(err)) == 0, "alerts_start: %s", err);
}

static void
start(void)
{
	start_with(&hooks);
}

/* The standard configuration, with more keys of the mail group, and routes. */
static void
engine(const char *mail, const char *routes)
{
	char *text;

	xasprintf(&text, conf_fmt, dir, port, mail, dir, dir, dir, routes);
	conf = load(text);
	free(text);
	start();
}

static json_int_t
status_int(const char *key)
{
	json_t *s = alerts_status_json(al);
	json_int_t v;

	ck_assert_msg(json_is_integer(json_object_get(s, key)), "status has no %s", key);
	v = json_integer_value(json_object_get(s, key));
	json_decref(s);
	return v;
}

/*
 * Waiting.
 */
static int
never(void *arg)
{
	(void)arg;
	return 0;
}

/* Run the loop for ms, for what must not happen. */
static void
run_for(int64_t ms)
{
	testutil_loop_until(base, never, NULL, ms);
}

static int
maildir_has(void *arg)
{
	return testutil_maildir_count(maildir) >= *(const size_t *)arg;
}

/* Run the loop until the Maildir holds n mails, at most ms. */
static void
wait_mails(size_t n, int64_t ms)
{
	ck_assert_msg(testutil_loop_until(base, maildir_has, &n, ms),
	    "%zu of %zu mails arrived (%lld queued)", testutil_maildir_count(maildir), n,
	    (long long)status_int("queued"));
}

/* Run the loop for ms: the Maildir still holds exactly n mails. */
static void
no_more_mail(size_t n, int64_t ms)
{
	run_for(ms);
	ck_assert_uint_eq(testutil_maildir_count(maildir), n);
}

struct note_wait {
	uint64_t id;
	const char *event;
	size_t n;
};

static int
noted(void *arg)
{
	const struct note_wait *nw = arg;

	return notes(nw->id, nw->event) >= nw->n;
}

static void
wait_note(uint64_t id, const char *event, size_t n, int64_t ms)
{
	struct note_wait nw = { id, event, n };

	ck_assert_msg(testutil_loop_until(base, noted, &nw, ms),
	    "incident %llu: %zu \"%s\" lines in the timeline, not %zu",
	    (unsigned long long)id, notes(id, event), event, n);
}

/* The beacon hook answered n times (the engine journals each answer). */
static int
beacons_answered(void *arg)
{
	return journaled("alert.channel") >= *(const size_t *)arg;
}

/* At least *arg mails were queued (the status' "mails"). */
static int
mails_queued(void *arg)
{
	return status_int("mails") >= *(const json_int_t *)arg;
}

/*
 * Reading the Maildir: headers unfolded, the base64 body decoded, in the
 * order the server stored them (Python's mailbox.Maildir names a file
 * TIME.MUSECPPID.QN.HOST, N counting up in its process).
 */
struct rmail {
	long q;
	long incident; /* X-Sonae-Incident; 0: none */
	char *subject, *msgid, *in_reply_to, *references, *rcpt, *body;
};

static struct rmail mv[MAILS];
static size_t mn;

static void
mails_free(void)
{
	size_t i;

	for (i = 0; i < mn; i++) {
		free(mv[i].subject);
		free(mv[i].msgid);
		free(mv[i].in_reply_to);
		free(mv[i].references);
		free(mv[i].rcpt);
		free(mv[i].body);
	}
	memset(mv, 0, sizeof(mv));
	mn = 0;
}

static char *
base64_decode(const char *text)
{
	size_t n = 0, i, pad = 0;
	char *in = xcalloc(strlen(text) + 1, 1);
	unsigned char *out;
	int len;

	for (i = 0; text[i] != '\0'; i++)
		if (!isspace((unsigned char)text[i]))
			in[n++] = text[i];
	while (pad < n && pad < 2 && in[n - 1 - pad] == '=')
		pad++;
	out = xcalloc(n / 4 * 3 + 4, 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	ck_assert_int_ge(len, 0);
	out[len - (int)pad] = '\0';
	free(in);
	return (char *)out;
}

/*
 * A header value with its RFC 2047 encoded-words (=?UTF-8?B?...?=, as
 * mail.c writes them) decoded; the space between two of them goes.
 */
static char *
words_decode(const char *v)
{
	static const char start[] = "=?UTF-8?B?";
	char *out = xstrdup(""), *tmp, *word, *text;
	const char *end, *next;

	while (*v != '\0') {
		if (strncasecmp(v, start, strlen(start)) != 0 ||
		    (end = strstr(v + strlen(start), "?=")) == NULL) {
			xasprintf(&tmp, "%s%c", out, *v++);
			free(out);
			out = tmp;
			continue;
		}
		word = xstrndup(v + strlen(start), (size_t)(end - v) - strlen(start));
		text = base64_decode(word);
		xasprintf(&tmp, "%s%s", out, text);
		free(out);
		free(word);
		free(text);
		out = tmp;
		v = end + 2;
		for (next = v; *next == ' ' || *next == '\t'; next++)
			continue;
		if (strncasecmp(next, start, strlen(start)) == 0)
			v = next;
	}
	return out;
}

/* One header field (name: value, already unfolded) into the mail. */
static void
header_set(struct rmail *m, const char *line)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "Subject", offsetof(struct rmail, subject) },
		{ "Message-ID", offsetof(struct rmail, msgid) },
		{ "In-Reply-To", offsetof(struct rmail, in_reply_to) },
		{ "References", offsetof(struct rmail, references) },
		{ "X-RcptTo", offsetof(struct rmail, rcpt) },
	};
	const char *colon = strchr(line, ':'), *v;
	size_t i;

	if (colon == NULL)
		return;
	for (v = colon + 1; *v == ' '; v++)
		continue;
	if ((size_t)(colon - line) == strlen("X-Sonae-Incident") &&
	    strncasecmp(line, "X-Sonae-Incident", (size_t)(colon - line)) == 0)
		m->incident = strtol(v, NULL, 10);
	for (i = 0; i < NELEM(fields); i++)
		if (strlen(fields[i].name) == (size_t)(colon - line) &&
		    strncasecmp(line, fields[i].name, (size_t)(colon - line)) == 0) {
			char **f = (char **)(void *)((char *)m + fields[i].off);
			free(*f);
			*f = words_decode(v);
		}
}

static void
mail_parse(struct rmail *m, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *hdr = NULL, *tmp, *body = xstrdup(""), *p, *q;
	size_t cap = 0;
	ssize_t len;
	int in_body = 0, b64 = 0;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) != -1) {
		line[strcspn(line, "\r\n")] = '\0';
		if (in_body) {
			xasprintf(&tmp, "%s%s\n", body, line);
			free(body);
			body = tmp;
			continue;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			/* Unfolding: the CRLF goes, the space stays. */
			ck_assert_ptr_nonnull(hdr);
			xasprintf(&tmp, "%s%s", hdr, line);
			free(hdr);
			hdr = tmp;
			continue;
		}
		if (hdr != NULL) {
			header_set(m, hdr);
			if (strcasecmp(hdr, "Content-Transfer-Encoding: base64") == 0)
				b64 = 1;
			free(hdr);
			hdr = NULL;
		}
		if (line[0] == '\0')
			in_body = 1;
		else
			hdr = xstrdup(line);
	}
	free(hdr);
	free(line);
	fclose(f);
	if (b64) {
		m->body = base64_decode(body);
		free(body);
	} else
		m->body = body;
	/* The text's line ends as written: the CRLF of the mail made LF. */
	for (p = q = m->body; *p != '\0'; p++)
		if (*p != '\r')
			*q++ = *p;
	*q = '\0';
	ck_assert_msg(m->subject != NULL, "%s: no Subject", path);
	ck_assert_msg(m->msgid != NULL, "%s: no Message-ID", path);
	ck_assert_msg(m->rcpt != NULL, "%s: no X-RcptTo", path);
}

/* Every mail in the Maildir into mv[0..mn), in the order they arrived. */
static void
mails_load(void)
{
	char *path = testutil_path(maildir, "new");
	DIR *d = opendir(path);
	struct dirent *e;
	struct rmail m;
	size_t i;

	mails_free();
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		const char *q;
		char *file;

		if (e->d_name[0] == '.')
			continue;
		ck_assert_uint_lt(mn, MAILS);
		q = strchr(e->d_name, 'Q');
		ck_assert_msg(q != NULL, "no Q in %s", e->d_name);
		memset(&m, 0, sizeof(m));
		m.q = strtol(q + 1, NULL, 10);
		file = testutil_path(path, e->d_name);
		mail_parse(&m, file);
		free(file);
		for (i = mn; i > 0 && mv[i - 1].q > m.q; i--)
			mv[i] = mv[i - 1];
		mv[i] = m;
		mn++;
	}
	closedir(d);
	free(path);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The envelope recipients, sorted, joined by ",": "boss@...,ict@...". */
static char *
rcpts(const struct rmail *m)
{
	char *list = xstrdup(m->rcpt), *p, *save = NULL, *v[16], *out = xstrdup(""), *tmp;
	size_t n = 0, i;

	for (p = strtok_r(list, ", ", &save); p != NULL;
	     p = strtok_r(NULL, ", ", &save)) {
		ck_assert_uint_lt(n, NELEM(v));
		v[n++] = p;
	}
	qsort(v, n, sizeof(v[0]), cmp_str);
	for (i = 0; i < n; i++) {
		xasprintf(&tmp, "%s%s%s", out, i ? "," : "", v[i]);
		free(out);
		out = tmp;
	}
	free(list);
	return out;
}

#define ck_assert_rcpt(m, want)                                                          \
	do {                                                                             \
		char *got_ = rcpts(m);                                                   \
		ck_assert_msg(strcmp(got_, (want)) == 0,                                 \
		    "mail \"%s\" went to %s, not %s", (m)->subject, got_, (want));       \
		free(got_);                                                              \
	} while (0)

#define ck_assert_has(hay, needle)                                                       \
	ck_assert_msg(                                                                   \
	    strstr((hay), (needle)) != NULL, "no \"%s\" in:\n%s", (needle), (hay))

#define ck_assert_hasnt(hay, needle)                                                     \
	ck_assert_msg(strstr((hay), (needle)) == NULL, "\"%s\" in:\n%s", (needle), (hay))

/* The mail about incident id that is the n-th (from 0) of those in mv. */
static const struct rmail *
mail_of(long id, size_t n)
{
	size_t i;

	for (i = 0; i < mn; i++)
		if (mv[i].incident == id && n-- == 0)
			return &mv[i];
	ck_abort_msg("no such mail about incident %ld", id);
	return NULL;
}

static size_t
mails_of(long id)
{
	size_t i, n = 0;

	for (i = 0; i < mn; i++)
		n += mv[i].incident == id;
	return n;
}

/*
 * 1. Routes: severity, rules and devices patterns, kinds, the least
 * availability class, modes; `continue` against the first match; an
 * incident no route matches is noted "unrouted" and told to nobody.
 */
static const char *const routes_text =
    "{ name = \"power\"; rules = [\"power-*\"]; to = [\"power@example.org\"];\n"
    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; continue = true; },\n"
    "{ name = \"crit\"; severity = [\"critical\"]; to = [\"crit@example.org\"];\n"
    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; },\n"
    "{ name = \"reduced\"; modes = [\"reduced\"]; to = [\"reduced@example.org\"];\n"
    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; },\n"
    "{ name = \"env\"; devices = [\"env*\"]; kinds = [\"sensor\"];\n"
    "  to = [\"env@example.org\"]; channels = [\"mail\"]; group_wait = 0; repeat = 0; "
    "},\n"
    "{ name = \"high\"; availability = 2; to = [\"high@example.org\"];\n"
    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; }";

START_TEST(notify_routes)
{
	static const struct {
		const char *rule, *severity, *devices, *mode;
		const char *to; /* NULL: unrouted */
	} cases[] = {
		/* power (continue), then crit: first match; high not reached. */
		{ "power-outage", "critical", "ups1", "normal",
		    "crit@example.org,power@example.org" },
		/* A rule that merely starts alike is not power-*. */
		{ "powerful", "critical", NULL, "normal", "crit@example.org" },
		/* Warning: not crit; an env* sensor. */
		{ "temp-high", "warning", "env1", "normal", "env@example.org" },
		/* env* but a switch of class 1: neither env nor high. */
		{ "link-down", "warning", "env2", "normal", NULL },
		/* A sensor not named env*: not env. */
		{ "temp-high", "warning", "io1", "normal", NULL },
		/* The least class 2 among its devices: one of class 2 is enough. */
		{ "link-down", "warning", "env2,sw1", "normal", "high@example.org" },
		/* In the mode reduced, reduced comes before env. */
		{ "temp-high", "warning", "env1", "reduced", "reduced@example.org" },
		/* Back to normal, no devices: high wants a class. */
		{ "other", "warning", NULL, "normal", NULL },
		/* An unknown device (not in the table): nothing but its name. */
		{ "other", "warning", "ghost", "normal", NULL },
	};
	size_t i, sent = 0;

	relay_up();
	engine("", routes_text);
	for (i = 0; i < NELEM(cases); i++) {
		uint64_t id = i + 1;
		w.mode = cases[i].mode;
		inc_open(id, cases[i].rule, cases[i].severity, cases[i].devices);
		tell(id, "problem");
		if (cases[i].to != NULL)
			wait_mails(++sent, 10000);
		else
			wait_note(id, "unrouted", 1, 5000);
	}
	no_more_mail(sent, 400);
	mails_load();
	for (i = 0; i < NELEM(cases); i++) {
		long id = (long)i + 1;
		if (cases[i].to == NULL) {
			ck_assert_msg(mails_of(id) == 0, "case %zu was mailed", i);
			ck_assert_uint_eq(notes(id, "mail"), 0);
			ck_assert_uint_eq(notes(id, "unrouted"), 1);
			continue;
		}
		ck_assert_msg(mails_of(id) == 1, "case %zu: %zu mails", i, mails_of(id));
		ck_assert_rcpt(mail_of(id, 0), cases[i].to);
		ck_assert_uint_eq(notes(id, "mail"), 1);
		ck_assert_uint_eq(notes(id, "unrouted"), 0);
	}
	/* The unrouted ones are not tracked; the others are, until they resolve. */
	ck_assert_int_eq(status_int("incidents"), (json_int_t)sent);
	ck_assert_int_eq(status_int("mails"), (json_int_t)sent);
	mails_free();
}
END_TEST

/*
 * 2. The group wait: what changed in the incident during the wait (a fold,
 * the severity raised) is in the one mail composed at its end, and the
 * routes are chosen again then.
 */
START_TEST(notify_group_wait)
{
	const struct rmail *m;
	json_t *o;
	int64_t t0;

	relay_up();
	engine("", "{ name = \"warn\"; severity = [\"warning\"]; to = [\"" ICT "\"];\n"
	           "  channels = [\"mail\"]; group_wait = \"800ms\"; repeat = 0; },\n"
	           "{ name = \"crit\"; severity = [\"critical\"]; to = [\"" BOSS "\"];\n"
	           "  channels = [\"mail\"]; group_wait = \"800ms\"; repeat = 0; }");
	t0 = time_now_ms();
	o = inc_open(1, "power-outage", "warning", "ups1");
	tell(1, "problem");
	run_for(200);
	ck_assert_int_eq(status_int("mails"), 0);
	ck_assert_int_eq(status_int("incidents"), 1);
	/* What detect.c does in the wait: fold, raise, tell again. */
	json_array_append_new(json_object_get(o, "folded"),
	    json_pack("{s:s, s:s, s:s, s:s}", "detector", "unreachable:sw1", "since",
	        "2026-11-26 03:00:03", "state", "active", "reason", "no answer to ping"));
	json_object_set_new(o, "severity", json_string("critical"));
	tell(1, "problem");
	run_for(200);
	ck_assert_int_eq(status_int("mails"), 0);
	wait_mails(1, 5000);
	ck_assert_int_ge(time_now_ms() - t0, 800);
	no_more_mail(1, 1000);
	mails_load();
	m = &mv[0];
	ck_assert_int_eq(m->incident, 1);
	ck_assert_str_eq(
	    m->subject, "[sonae test] CRITICAL #1: power-outage: test incident 1");
	/* Routes chosen at the end of the wait: crit, not warn. */
	ck_assert_rcpt(m, BOSS);
	ck_assert_has(m->body, "unreachable:sw1");
	ck_assert_has(m->body, "no answer to ping");
	ck_assert_has(m->body, "ups1.battery_voltage");
	ck_assert_has(m->body, "critical");
	/* The first mail is the thread's root. */
	ck_assert_msg(strncmp(m->msgid, "<incident.1.", 12) == 0, "%s", m->msgid);
	ck_assert_ptr_null(m->in_reply_to);
	ck_assert_uint_eq(notes(1, "mail"), 1);
	mails_free();
}
END_TEST

/* 3. A problem that came and went within the wait: one RESOLVED mail. */
START_TEST(notify_came_and_went)
{
	const struct rmail *m;

	relay_up();
	engine("", "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	           "  group_wait = \"1s\"; repeat = \"500ms\"; }");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	run_for(200);
	inc_resolve(1);
	tell(1, "recovery");
	wait_mails(1, 5000);
	/* No reminder, no second recovery: the track is gone. */
	no_more_mail(1, 1500);
	ck_assert_int_eq(status_int("incidents"), 0);
	mails_load();
	m = &mv[0];
	ck_assert_int_eq(m->incident, 1);
	ck_assert_str_eq(
	    m->subject, "[sonae test] RESOLVED #1: power-outage: test incident 1");
	ck_assert_has(m->body, "came and went");
	ck_assert_has(m->body, "the condition cleared");
	ck_assert_hasnt(m->body, "sonae ack");
	ck_assert_rcpt(m, ICT);
	mails_free();
}
END_TEST

/*
 * 4. After the first mail: a change of severity goes to everyone told so
 * far (an escalation step included) and to the routes that match now; the
 * recovery goes to all of them, threaded on the first mail.
 */
START_TEST(notify_update_and_recovery)
{
	const struct rmail *first, *esc, *upd, *rec;
	json_t *o;

	relay_up();
	engine("",
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"]; continue = "
	    "true;\n"
	    "  group_wait = 0; repeat = 0; escalate = ( { after = \"1s\"; to = [\"" BOSS
	    "\"]; } ); },\n"
	    "{ name = \"crit\"; severity = [\"critical\"]; to = [\"" ONCALL "\"];\n"
	    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; }");
	o = inc_open(1, "power-outage", "warning", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	wait_mails(2, 5000); /* the escalation step */
	json_object_set_new(o, "severity", json_string("critical"));
	tell(1, "problem");
	wait_mails(3, 5000);
	inc_resolve(1);
	tell(1, "recovery");
	wait_mails(4, 5000);
	no_more_mail(4, 500);
	ck_assert_int_eq(status_int("incidents"), 0);
	mails_load();
	first = &mv[0];
	esc = &mv[1];
	upd = &mv[2];
	rec = &mv[3];
	ck_assert_str_eq(
	    first->subject, "[sonae test] WARNING #1: power-outage: test incident 1");
	ck_assert_rcpt(first, ICT);
	ck_assert_ptr_null(first->in_reply_to);
	ck_assert_has(esc->body, "Escalation");
	ck_assert_rcpt(esc, BOSS "," ICT);
	ck_assert_str_eq(
	    upd->subject, "[sonae test] CRITICAL #1: power-outage: test incident 1");
	ck_assert_has(upd->body, "severity critical (was warning)");
	ck_assert_rcpt(upd, BOSS "," ICT "," ONCALL);
	ck_assert_str_eq(
	    rec->subject, "[sonae test] RESOLVED #1: power-outage: test incident 1");
	ck_assert_has(rec->body, "closes the thread");
	ck_assert_rcpt(rec, BOSS "," ICT "," ONCALL);
	/* One thread: the root is the first mail, the others point at it. */
	ck_assert_ptr_nonnull(esc->in_reply_to);
	ck_assert_str_eq(esc->in_reply_to, first->msgid);
	ck_assert_ptr_nonnull(upd->in_reply_to);
	ck_assert_str_eq(upd->in_reply_to, first->msgid);
	ck_assert_ptr_nonnull(rec->in_reply_to);
	ck_assert_str_eq(rec->in_reply_to, first->msgid);
	ck_assert_ptr_nonnull(rec->references);
	ck_assert_str_eq(rec->references, first->msgid);
	ck_assert_str_ne(upd->msgid, first->msgid);
	ck_assert_str_ne(rec->msgid, first->msgid);
	ck_assert_str_ne(rec->msgid, upd->msgid);
	mails_free();
}
END_TEST

/* 5. Reminders while unacknowledged; none while acknowledged; again after. */
START_TEST(notify_reminders)
{
	json_int_t n;
	size_t i;

	relay_up();
	engine("", "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	           "  group_wait = 0; repeat = \"500ms\"; }");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(3, 5000); /* the first and two reminders */
	inc_ack(1, "tanaka");
	n = status_int("mails");
	run_for(1500);
	ck_assert_int_eq(status_int("mails"), n);
	inc_unack(1);
	n++;
	ck_assert_msg(testutil_loop_until(base, mails_queued, &n, 1500),
	    "no reminder after the acknowledgement was cleared");
	wait_mails((size_t)n, 5000);
	mails_load();
	ck_assert_uint_eq(mn, (size_t)n);
	ck_assert_hasnt(mv[0].body, "Reminder");
	for (i = 1; i < mn; i++) {
		ck_assert_has(mv[i].body, "Reminder");
		ck_assert_rcpt(&mv[i], ICT);
		ck_assert_str_eq(mv[i].in_reply_to, mv[0].msgid);
	}
	/* The acknowledgement is in the reminder's text when it is there. */
	ck_assert_has(mv[mn - 1].body, "not yet");
	mails_free();
}
END_TEST

/*
 * A reload that turns reminders off (repeat 0, or the route gone) while one
 * is scheduled: no more reminders, and above all no reminder at every loop
 * turn.
 */
START_TEST(notify_reload_without_repeat)
{
	struct conf *old;
	json_int_t n;
	char *text;

	relay_up();
	engine("", "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	           "  group_wait = 0; repeat = \"500ms\"; }");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	n = status_int("mails");
	xasprintf(&text, conf_fmt, dir, port, "", dir, dir, dir,
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	    "  group_wait = 0; repeat = 0; }");
	old = conf;
	conf = load(text);
	free(text);
	alerts_configure(al, conf);
	conf_free(old);
	run_for(1500);
	ck_assert_int_eq(status_int("mails"), n);
	wait_mails((size_t)n, 5000);
	no_more_mail((size_t)n, 300);
	/* The recovery still goes to those told. */
	inc_resolve(1);
	tell(1, "recovery");
	wait_mails((size_t)n + 1, 5000);
}
END_TEST

/*
 * 6. Escalation: the steps of a route in order at their times, each adding
 * its people; an acknowledgement before a step stops escalation for good.
 */
START_TEST(notify_escalation)
{
	const struct rmail *m;
	int64_t t0, t;

	relay_up();
	engine("", "{ name = \"esc\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	           "  group_wait = 0; repeat = 0;\n"
	           "  escalate = ( { after = \"1s\"; to = [\"" BOSS "\"]; },\n"
	           "    { after = \"6s\"; to = [\"" CHIEF "\"]; } ); }");
	t0 = time_now_ms();
	inc_open(1, "power-outage", "critical", "ups1");
	inc_open(2, "link-down", "critical", "sw1");
	tell(1, "problem");
	tell(2, "problem");
	wait_mails(2, 5000);
	ck_assert_uint_eq(notes(0, "escalation"), 0);
	/* Step 1 of both, not before its time. */
	wait_note(1, "escalation", 1, 5000);
	wait_note(2, "escalation", 1, 5000);
	t = time_now_ms();
	ck_assert_int_ge(t - t0, 1000);
	ck_assert_msg(t - t0 < 5800,
	    "step 1 came %lld ms after the first mail: too slow "
	    "to acknowledge before step 2",
	    (long long)(t - t0));
	inc_ack(2, "suzuki");
	wait_mails(4, 5000);
	/* Step 2: incident 1 escalates, incident 2 stops. */
	wait_note(1, "escalation", 2, 10000);
	wait_note(2, "escalation-stopped", 1, 10000);
	ck_assert_int_ge(time_now_ms() - t0, 6000);
	wait_mails(5, 5000);
	/* For good: the acknowledgement cleared, still nothing. */
	inc_unack(2);
	no_more_mail(5, 1500);
	ck_assert_uint_eq(notes(2, "escalation"), 1);
	ck_assert_uint_eq(notes(2, "escalation-stopped"), 1);
	ck_assert_uint_eq(notes(1, "escalation"), 2);
	ck_assert_uint_eq(notes(1, "escalation-stopped"), 0);
	mails_load();
	ck_assert_uint_eq(mails_of(1), 3);
	ck_assert_uint_eq(mails_of(2), 2);
	ck_assert_rcpt(mail_of(1, 0), ICT);
	m = mail_of(1, 1);
	ck_assert_rcpt(m, BOSS "," ICT);
	ck_assert_has(m->body, "step 1 (route esc) adds 1 recipient.");
	m = mail_of(1, 2);
	ck_assert_rcpt(m, BOSS "," CHIEF "," ICT);
	ck_assert_has(m->body, "step 2 (route esc) adds 1 recipient.");
	ck_assert_rcpt(mail_of(2, 1), BOSS "," ICT);
	mails_free();
}
END_TEST

/*
 * 6b. The escalation clock starts when a route with steps first tells: a
 * warning told long ago that turns critical escalates `after` from the
 * update, not at once.
 */
START_TEST(notify_escalation_clock)
{
	json_t *o;
	int64_t t_update;

	relay_up();
	engine("", "{ name = \"crit\"; severity = [\"critical\"]; to = [\"" ICT "\"];\n"
	           "  channels = [\"mail\"]; group_wait = 0; repeat = 0;\n"
	           "  escalate = ( { after = \"2s\"; to = [\"" BOSS "\"]; } ); },\n"
	           "{ name = \"warn\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	           "  group_wait = 0; repeat = 0; }");
	o = inc_open(1, "inlet-temperature", "warning", "env1");
	tell(1, "problem");
	wait_mails(1, 5000);
	no_more_mail(1, 2500); /* a warning: no steps */
	json_object_set_new(o, "severity", json_string("critical"));
	tell(1, "problem");
	t_update = time_now_ms();
	wait_mails(2, 5000);
	no_more_mail(2, 1200); /* not at once: 2 s from the update */
	wait_note(1, "escalation", 1, 5000);
	ck_assert_int_ge(time_now_ms() - t_update, 2000);
	wait_mails(3, 5000);
	mails_load();
	ck_assert_rcpt(mail_of(1, 2), BOSS "," ICT);
	mails_free();
}
END_TEST

/*
 * 7. alerts.json: a new engine on the same state_dir goes on where the old
 * one stopped: an escalation that fell due while it was down goes out once,
 * a track whose incident resolved meanwhile sends its recovery once, rate
 * counters and held notifications survive into the digest.
 */
static int
spool_empty(void *arg)
{
	(void)arg;
	return status_int("queued") == 0;
}

/*
 * sonaed stops once the relay took every mail (a mail the Maildir has
 * whose acceptance the spool did not see yet would be sent again).
 */
static void
stop_when_sent(void)
{
	ck_assert(testutil_loop_until(base, spool_empty, NULL, 5000));
	alerts_free(al);
	al = NULL;
}

START_TEST(notify_persistence)
{
	const struct rmail *m;
	char *path, err[512];
	json_t *st;
	int64_t t0;
	size_t i;

	relay_up();
	engine("rate_limit = 2; rate_period = \"5s\";",
	    "{ name = \"esc\"; rules = [\"esc-*\"]; to = [\"" ICT "\"]; channels = "
	    "[\"mail\"];\n"
	    "  group_wait = 0; repeat = 0; escalate = ( { after = \"2s\"; to = [\"" BOSS
	    "\"]; } ); },\n"
	    "{ name = \"noisy\"; rules = [\"noisy-*\"]; to = [\"noisy@example.org\"];\n"
	    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; },\n"
	    "{ name = \"plain\"; to = [\"" CHIEF "\"]; channels = [\"mail\"];\n"
	    "  group_wait = 0; repeat = 0; }");
	t0 = time_now_ms();
	inc_open(1, "esc-power", "critical", "ups1");
	inc_open(2, "link-down", "warning", "sw1");
	inc_open(3, "noisy-a", "warning", NULL);
	inc_open(4, "noisy-b", "warning", NULL);
	inc_open(5, "noisy-c", "warning", NULL);
	for (i = 1; i <= 5; i++)
		tell(i, "problem");
	wait_mails(4, 5000); /* 5 is held back */
	ck_assert_int_eq(status_int("held"), 1);
	ck_assert_int_eq(status_int("incidents"), 5);
	ck_assert_msg(time_now_ms() - t0 < 1800, "too slow: the escalation is due");

	/* Down: incident 2 resolves, incident 1's step falls due. */
	ck_assert_msg(alerts_save(al, err, sizeof(err)) == 0, "alerts_save: %s", err);
	path = testutil_path(dir, "alerts.json");
	ck_assert_ptr_nonnull(st = json_load_file(path, 0, NULL));
	free(path);
	ck_assert_uint_eq(json_array_size(json_object_get(st, "tracks")), 5);
	json_decref(st);
	stop_when_sent();
	inc_resolve(2);
	while (time_now_ms() - t0 < 2300)
		run_for(100);

	start();
	ck_assert_int_eq(status_int("held"), 1);
	inc_open(6, "noisy-d", "warning", NULL);
	tell(6, "problem");
	wait_mails(6, 5000); /* the escalation and the recovery */
	ck_assert_int_eq(status_int("held"), 2);
	ck_assert_int_eq(status_int("incidents"), 5);
	/* The digest of 5 and 6 when the period of noisy@ is over. */
	wait_mails(7, 8000);
	ck_assert_int_ge(time_now_ms() - t0, 5000);
	ck_assert_int_eq(status_int("held"), 0);
	no_more_mail(7, 1000);
	mails_load();
	ck_assert_uint_eq(mails_of(1), 2);
	m = mail_of(1, 1);
	ck_assert_rcpt(m, BOSS "," ICT);
	ck_assert_has(m->body, "Escalation");
	ck_assert_str_eq(m->in_reply_to, mail_of(1, 0)->msgid);
	ck_assert_uint_eq(notes(1, "escalation"), 1);
	ck_assert_uint_eq(mails_of(2), 2);
	m = mail_of(2, 1);
	ck_assert_str_eq(
	    m->subject, "[sonae test] RESOLVED #2: link-down: test incident 2");
	ck_assert_rcpt(m, CHIEF);
	ck_assert_str_eq(m->in_reply_to, mail_of(2, 0)->msgid);
	ck_assert_uint_eq(mails_of(5), 0);
	ck_assert_uint_eq(mails_of(6), 0);
	m = mail_of(0, 0);
	ck_assert_str_eq(m->subject, "[sonae test] DIGEST: 2 held-back notifications");
	ck_assert_rcpt(m, "noisy@example.org");
	ck_assert_has(m->body, "#5: noisy-c");
	ck_assert_has(m->body, "#6: noisy-d");
	ck_assert_int_eq(status_int("incidents"), 5);
	mails_free();
}
END_TEST

/*
 * After a restart, a track whose incident is gone from the store (detect's
 * state lost) is dropped, and the beacon it held is switched off: no open
 * incident holds it any more.
 */
START_TEST(notify_restart_incident_gone)
{
	char err[512];
	size_t n = 1;

	engine("", "{ name = \"lamp\"; channels = [\"lamp\"]; group_wait = 0; repeat = "
	           "0; }");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	ck_assert(testutil_loop_until(base, beacons_answered, &n, 5000));
	ck_assert_uint_eq(w.nbeacons, 1);
	ck_assert_msg(alerts_save(al, err, sizeof(err)) == 0, "alerts_save: %s", err);
	alerts_free(al);
	al = NULL;
	json_object_clear(w.incidents);
	start();
	n = 2;
	ck_assert_msg(testutil_loop_until(base, beacons_answered, &n, 3000),
	    "the beacon was not cleared");
	ck_assert_uint_eq(w.nbeacons, 2);
	ck_assert_str_eq(w.beacons[1].value, "0");
	ck_assert_int_eq(status_int("incidents"), 0);
	run_for(300);
	ck_assert_uint_eq(w.nbeacons, 2);
}
END_TEST

/*
 * 8. The rate limit: 2 per 1 s; the third and fourth notification to one
 * recipient are held back and come as one digest after the period; another
 * recipient of the same notification gets it at once.
 */
START_TEST(notify_rate_limit)
{
	const struct rmail *m;
	json_int_t mails;
	int64_t t0;
	size_t i;

	relay_up();
	engine("rate_limit = 2; rate_period = \"1s\";",
	    "{ name = \"both\"; rules = [\"both-*\"]; to = [\"" ICT "\", \"" BOSS "\"];\n"
	    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; },\n"
	    "{ name = \"ict\"; to = [\"" ICT "\"]; channels = [\"mail\"]; group_wait = "
	    "0;\n"
	    "  repeat = 0; }");
	t0 = time_now_ms();
	inc_open(1, "noisy-a", "warning", NULL);
	inc_open(2, "noisy-b", "warning", NULL);
	inc_open(3, "both-c", "warning", NULL);
	inc_open(4, "noisy-d", "warning", NULL);
	for (i = 1; i <= 4; i++)
		tell(i, "problem");
	mails = 3;
	ck_assert(testutil_loop_until(base, mails_queued, &mails, 5000));
	ck_assert_int_eq(status_int("held"), 2);
	wait_mails(3, 5000);
	ck_assert_int_eq(status_int("mails"), 3);
	/* The digest, once the period is over. */
	wait_mails(4, 5000);
	ck_assert_int_ge(time_now_ms() - t0, 1000);
	ck_assert_int_eq(status_int("held"), 0);
	no_more_mail(4, 500);
	mails_load();
	ck_assert_rcpt(mail_of(1, 0), ICT);
	ck_assert_rcpt(mail_of(2, 0), ICT);
	ck_assert_rcpt(mail_of(3, 0), BOSS);
	ck_assert_uint_eq(mails_of(4), 0);
	m = &mv[3];
	ck_assert_int_eq(m->incident, 0);
	ck_assert_str_eq(m->subject, "[sonae test] DIGEST: 2 held-back notifications");
	ck_assert_rcpt(m, ICT);
	ck_assert_has(m->body, "2 notifications to " ICT " held back");
	ck_assert_has(m->body, "#3: both-c");
	ck_assert_has(m->body, "#4: noisy-d");
	ck_assert_hasnt(m->body, "#1:");
	mails_free();
}
END_TEST

/*
 * 9. The mail path: the relay refuses connections; with
 * down_after_failures 1 the hook says down once, however often delivery
 * fails; the relay back, it says up once, the queued mails go in their
 * order and then one DELAYED digest to those mailed meanwhile.  The hook
 * raises mail-undeliverable like detect.c, routed to the lamp and syslog.
 */
static int
path_up(void *arg)
{
	(void)arg;
	return w.ups > 0;
}

static int
path_down(void *arg)
{
	(void)arg;
	return w.downs > 0;
}

static int
syslog_socket(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/log.sock", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Every datagram waiting on fd, one line each. */
static char *
syslog_read(int fd)
{
	char buf[1100], *all = xstrdup(""), *tmp;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		xasprintf(&tmp, "%s%s\n", all, buf);
		free(all);
		all = tmp;
	}
	return all;
}

START_TEST(notify_mail_path)
{
	const struct rmail *m;
	char *log;
	int fd = syslog_socket();

	w.path_id = 100;
	engine("down_after_failures = 1;",
	    "{ name = \"mail-path\"; rules = [\"mail-undeliverable\"];\n"
	    "  channels = [\"lamp\", \"log\"]; group_wait = 0; repeat = 0; },\n"
	    "{ name = \"boss\"; rules = [\"b-*\"]; to = [\"" BOSS "\"]; channels = "
	    "[\"mail\"];\n"
	    "  group_wait = 0; repeat = 0; },\n"
	    "{ name = \"ict\"; to = [\"" ICT "\"]; channels = [\"mail\"]; group_wait = "
	    "0;\n"
	    "  repeat = 0; }");
	inc_open(1, "t-power", "critical", "ups1");
	tell(1, "problem");
	ck_assert_msg(testutil_loop_until(base, path_down, NULL, 10000),
	    "mail_path never said down");
	ck_assert_uint_eq(journaled("mail.down"), 1);
	/* Mailed while down: they wait behind the first. */
	inc_open(2, "t-link", "warning", "sw1");
	inc_open(3, "b-temp", "warning", "env1");
	tell(2, "problem");
	tell(3, "problem");
	run_for(1000);
	ck_assert_int_eq(w.downs, 1);
	ck_assert_int_eq(w.ups, 0);
	ck_assert_int_eq(status_int("queued"), 3);
	ck_assert_int_eq(status_int("mails"), 3);
	/* mail-undeliverable: the lamp and a syslog line, no mail. */
	ck_assert_uint_eq(w.nbeacons, 1);
	ck_assert_str_eq(w.beacons[0].value, "1");
	log = syslog_read(fd);
	ck_assert_has(log, "incident #100 problem critical: mail-undeliverable");
	free(log);

	relay_up();
	ck_assert_msg(
	    testutil_loop_until(base, path_up, NULL, 10000), "mail_path never said up");
	wait_mails(4, 10000);
	no_more_mail(4, 1000);
	ck_assert_int_eq(w.downs, 1);
	ck_assert_int_eq(w.ups, 1);
	ck_assert_uint_eq(journaled("mail.down"), 1);
	ck_assert_uint_eq(journaled("mail.up"), 1);
	mails_load();
	ck_assert_int_eq(mv[0].incident, 1);
	ck_assert_int_eq(mv[1].incident, 2);
	ck_assert_int_eq(mv[2].incident, 3);
	m = &mv[3];
	ck_assert_int_eq(m->incident, 0);
	ck_assert_str_eq(m->subject,
	    "[sonae test] DELAYED: 3 alert mails held while mail could not leave");
	ck_assert_rcpt(m, BOSS "," ICT);
	ck_assert_has(m->body, "#1 ");
	ck_assert_has(m->body, "#3 ");
	/* mail-undeliverable resolved: the lamp off, a syslog line. */
	ck_assert_uint_eq(w.nbeacons, 2);
	ck_assert_str_eq(w.beacons[1].value, "0");
	log = syslog_read(fd);
	ck_assert_has(log, "incident #100 recovery");
	free(log);
	ck_assert_int_eq(status_int("queued"), 0);
	close(fd);
	mails_free();
}
END_TEST

/*
 * The outage begins with a mail stuck (that is how it is noticed): when
 * nothing else is queued during it, its recipient still gets the DELAYED
 * digest, since that mail arrives late with its original Date.
 */
START_TEST(notify_mail_path_one_stuck)
{
	const struct rmail *m;

	engine("down_after_failures = 2;",
	    "{ name = \"ict\"; to = [\"" ICT "\"]; channels = [\"mail\"]; group_wait = "
	    "0;\n"
	    "  repeat = 0; }");
	inc_open(1, "t-power", "critical", "ups1");
	tell(1, "problem");
	ck_assert_msg(testutil_loop_until(base, path_down, NULL, 10000),
	    "mail_path never said down");
	relay_up();
	ck_assert_msg(
	    testutil_loop_until(base, path_up, NULL, 10000), "mail_path never said up");
	wait_mails(2, 10000);
	no_more_mail(2, 500);
	mails_load();
	ck_assert_int_eq(mv[0].incident, 1);
	m = &mv[1];
	ck_assert_str_eq(m->subject,
	    "[sonae test] DELAYED: 1 alert mail held while mail could not leave");
	ck_assert_rcpt(m, ICT);
	ck_assert_has(m->body, "#1 ");
	mails_free();
}
END_TEST

/*
 * 10. A beacon: on with the first incident routed to it, written again for
 * the second (each incident writes it once: harmless for a lamp already on,
 * and it turns one switched off by hand back on for the new incident), kept
 * on while one holds it, cleared with the last.
 */
START_TEST(notify_beacon)
{
	size_t n;
	json_t *o;

	engine("", "{ name = \"lamp\"; channels = [\"lamp\"]; group_wait = 0; repeat = "
	           "0; }");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	n = 1;
	ck_assert(testutil_loop_until(base, beacons_answered, &n, 5000));
	ck_assert_uint_eq(w.nbeacons, 1);
	ck_assert_str_eq(w.beacons[0].channel, "lamp");
	ck_assert_str_eq(w.beacons[0].value, "1");
	/* A change of severity does not write it again. */
	o = incident(1);
	json_object_set_new(o, "severity", json_string("warning"));
	tell(1, "problem");
	run_for(300);
	ck_assert_uint_eq(w.nbeacons, 1);

	inc_open(2, "link-down", "critical", "sw1");
	tell(2, "problem");
	n = 2;
	ck_assert(testutil_loop_until(base, beacons_answered, &n, 5000));
	ck_assert_uint_eq(w.nbeacons, 2);
	ck_assert_str_eq(w.beacons[1].value, "1");

	/* Incident 2 still holds it. */
	inc_resolve(1);
	tell(1, "recovery");
	run_for(400);
	ck_assert_uint_eq(w.nbeacons, 2);
	ck_assert_int_eq(status_int("incidents"), 1);

	inc_resolve(2);
	tell(2, "recovery");
	n = 3;
	ck_assert(testutil_loop_until(base, beacons_answered, &n, 5000));
	run_for(300);
	ck_assert_uint_eq(w.nbeacons, 3);
	ck_assert_str_eq(w.beacons[2].value, "0");
	ck_assert_int_eq(status_int("incidents"), 0);

	/* A beacon that cannot be written is journaled as failed. */
	w.beacon_refuse = 1;
	inc_open(3, "power-outage", "critical", "ups1");
	tell(3, "problem");
	n = 4;
	ck_assert(testutil_loop_until(base, beacons_answered, &n, 5000));
	o = json_object_get(
	    json_array_get(w.journal, json_array_size(w.journal) - 1), "data");
	ck_assert(json_is_false(json_object_get(o, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "channel")), "lamp");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "incident")), 3);
}
END_TEST

/*
 * 11. alerts_test(): to one address, or to every route's `to`; refused
 * without a mail path, before the spool is open, for a bad address, and
 * with nobody to send to.
 */
START_TEST(notify_test_mail)
{
	struct alerts *other;
	struct conf *c;
	char err[256], *text, *path;
	uint64_t id1 = 0, id2 = 0;

	relay_up();
	xasprintf(&text, conf_fmt, dir, port, "", dir, dir, dir,
	    "{ name = \"a\"; rules = [\"a-*\"]; to = [\"" ICT "\"]; channels = "
	    "[\"mail\"]; },\n"
	    "{ name = \"b\"; to = [\"" BOSS "\", \"" ICT "\"]; channels = [\"mail\"];\n"
	    "  escalate = ( { after = \"1s\"; to = [\"" CHIEF "\"]; } ); },\n"
	    "{ name = \"c\"; channels = [\"log\"]; }");
	conf = load(text);
	free(text);
	/* Before alerts_start(): no spool. */
	al = alerts_new(base, &hooks, &w);
	alerts_configure(al, conf);
	ck_assert_int_eq(alerts_test(al, NULL, "tanaka", &id1, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the spool is not open");
	alerts_free(al);
	start();

	ck_assert_int_eq(alerts_test(al, NULL, "tanaka", &id1, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    alerts_test(al, "duty@example.org", "suzuki", &id2, err, sizeof(err)), 0);
	ck_assert_uint_gt(id1, 0);
	ck_assert_uint_gt(id2, id1);
	ck_assert_int_eq(
	    alerts_test(al, "not an address", "x", NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"not an address\" is not a plain address (local@domain)");
	ck_assert_int_eq(
	    alerts_test(al, "a@b@example.org", "x", NULL, err, sizeof(err)), -1);
	ck_assert_has(err, "is not a plain address");
	wait_mails(2, 10000);
	no_more_mail(2, 300);
	ck_assert_uint_eq(journaled("alert.mail"), 2);
	mails_load();
	ck_assert_str_eq(mv[0].subject, "[sonae test] TEST: notification test by tanaka");
	/* Every route's `to`, once each; not the escalation steps. */
	ck_assert_rcpt(&mv[0], BOSS "," ICT);
	ck_assert_int_eq(mv[0].incident, 0);
	ck_assert_ptr_null(mv[0].in_reply_to);
	ck_assert_has(mv[0].body, "sonae notify-test");
	ck_assert_has(mv[0].body, "tanaka");
	ck_assert_str_eq(mv[1].subject, "[sonae test] TEST: notification test by suzuki");
	ck_assert_rcpt(&mv[1], "duty@example.org");
	mails_free();

	/* No mail group: no mail path. */
	path = testutil_path(dir, "other");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	xasprintf(&text,
	    "site: { name = \"test\"; };\n"
	    "daemon: { state_dir = \"%s\"; };\n"
	    "routes = ( { name = \"log\"; channels = [\"syslog\"]; } );\n",
	    path);
	free(path);
	c = load(text);
	free(text);
	other = alerts_new(base, &hooks, &w);
	alerts_configure(other, c);
	ck_assert_int_eq(alerts_start(other, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    alerts_test(other, "duty@example.org", "x", NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no mail path: `mail` needs `from` and `relays`");
	alerts_free(other);
	conf_free(c);

	/* A mail path, but no route mails anyone. */
	alerts_free(al);
	al = NULL;
	conf_free(conf);
	xasprintf(&text, conf_fmt, dir, port, "", dir, dir, dir,
	    "{ name = \"c\"; channels = [\"log\"]; }");
	conf = load(text);
	free(text);
	start();
	ck_assert_int_eq(alerts_test(al, NULL, "x", NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no recipient: no route has `to`; give --to ADDR");
}
END_TEST

/* 12. alerts_queue_json() and alerts_status_json(), with mail stuck. */
static int
delivery_down(void *arg)
{
	json_t *q = alerts_queue_json(al, 10);
	int down = json_is_true(json_object_get(json_object_get(q, "delivery"), "down"));

	(void)arg;
	json_decref(q);
	return down;
}

START_TEST(notify_json)
{
	static const char *const delivery_keys[] = { "queued", "in_flight", "down",
		"down_since", "down_reason", "consecutive_failures", "delivered",
		"failed", "refused", "last_error", "last_relay" };
	static const char *const msg_keys[] = { "id", "incident", "from", "rcpt",
		"created", "created_ms", "size", "attempts", "sending", "next_attempt",
		"next_attempt_ms", "last_try", "last_try_ms", "last_error",
		"last_relay" };
	static const char *const status_keys[] = { "queued", "mail_down", "incidents",
		"held", "mails" };
	json_t *q, *s, *d, *sp, *msg;
	char url[64], *text;
	size_t i;

	/* Before alerts_start(): no spool, no delivery. */
	xasprintf(&text, conf_fmt, dir, port, "down_after_failures = 1;", dir, dir, dir,
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"]; group_wait = "
	    "0; repeat = 0; }");
	conf = load(text);
	free(text);
	al = alerts_new(base, &hooks, &w);
	alerts_configure(al, conf);
	q = alerts_queue_json(al, 10);
	ck_assert_uint_eq(json_object_size(q), 2);
	ck_assert(json_is_null(json_object_get(q, "delivery")));
	ck_assert(json_is_null(json_object_get(q, "spool")));
	json_decref(q);
	s = alerts_status_json(al);
	ck_assert_uint_eq(json_object_size(s), NELEM(status_keys));
	ck_assert_int_eq(json_integer_value(json_object_get(s, "queued")), 0);
	ck_assert(json_is_false(json_object_get(s, "mail_down")));
	json_decref(s);
	alerts_free(al);

	/* Started, the relay refusing connections: one mail stuck. */
	start();
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	ck_assert_msg(testutil_loop_until(base, delivery_down, NULL, 10000),
	    "delivery never went down");
	/* The down mail path comes with the next loop turns. */
	run_for(100);
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	q = alerts_queue_json(al, 10);
	ck_assert_uint_eq(json_object_size(q), 2);
	d = json_object_get(q, "delivery");
	for (i = 0; i < NELEM(delivery_keys); i++)
		ck_assert_msg(json_object_get(d, delivery_keys[i]) != NULL,
		    "delivery has no %s", delivery_keys[i]);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "queued")), 1);
	ck_assert(json_is_true(json_object_get(d, "down")));
	ck_assert_int_gt(json_integer_value(json_object_get(d, "down_since")), 0);
	ck_assert_int_ge(json_integer_value(json_object_get(d, "failed")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "delivered")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "refused")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "last_relay")), url);
	ck_assert_str_ne(json_string_value(json_object_get(d, "last_error")), "");
	sp = json_object_get(q, "spool");
	ck_assert_int_eq(json_integer_value(json_object_get(sp, "count")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(sp, "messages")), 1);
	msg = json_array_get(json_object_get(sp, "messages"), 0);
	for (i = 0; i < NELEM(msg_keys); i++)
		ck_assert_msg(json_object_get(msg, msg_keys[i]) != NULL,
		    "message has no %s", msg_keys[i]);
	ck_assert_int_eq(json_integer_value(json_object_get(msg, "incident")), 1);
	ck_assert_str_eq(
	    json_string_value(json_object_get(msg, "from")), "sonae@example.org");
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(msg, "rcpt"), 0)), ICT);
	ck_assert_int_ge(json_integer_value(json_object_get(msg, "attempts")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(msg, "last_relay")), url);
	json_decref(q);
	/* max bounds the list, not the count. */
	q = alerts_queue_json(al, 0);
	sp = json_object_get(q, "spool");
	ck_assert_int_eq(json_integer_value(json_object_get(sp, "count")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(sp, "messages")), 0);
	json_decref(q);

	s = alerts_status_json(al);
	ck_assert_uint_eq(json_object_size(s), NELEM(status_keys));
	for (i = 0; i < NELEM(status_keys); i++)
		ck_assert_msg(json_object_get(s, status_keys[i]) != NULL,
		    "status has no %s", status_keys[i]);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "queued")), 1);
	ck_assert(json_is_true(json_object_get(s, "mail_down")));
	ck_assert_int_eq(json_integer_value(json_object_get(s, "incidents")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "held")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "mails")), 1);
	json_decref(s);
}
END_TEST

/*
 * Playbook notices (alerts_notice()).
 */
#define STEP       "Tell the staff"
#define TEXT       "UPS on battery: shut down tier 3\nthen report to the chief"
#define DRILL      "drill@example.org"
#define DRILL_LINE "訓練 / DRILL: nothing is wrong."

/* A notice of the playbook power-outage, run 7, by tanaka. */
static struct alerts_notice
notice_of(uint64_t incident, int severity)
{
	struct alerts_notice n = { 0 };

	n.incident = incident;
	n.playbook = "power-outage";
	n.run = 7;
	n.step_title = STEP;
	n.text = TEXT;
	n.severity = severity;
	n.actor = "tanaka";
	return n;
}

/* Addresses "a,b" into s (the caller frees it). */
static struct conf_strings *
addrs(struct conf_strings *s, const char *list)
{
	char *copy = xstrdup(list), *p, *save = NULL;

	memset(s, 0, sizeof(*s));
	for (p = strtok_r(copy, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save))
		conf_strings_add(s, p);
	free(copy);
	return s;
}

/* alerts_notice() must succeed: its spool id; its result in result. */
static uint64_t
notice_ok(const struct alerts_notice *n, char *result, size_t len)
{
	uint64_t id = 0;

	ck_assert_msg(
	    alerts_notice(al, n, &id, result, len) == 0, "alerts_notice: %s", result);
	return id;
}

/* alerts_notice() must refuse with why; nothing queued, nothing journaled. */
static void
notice_refused(const struct alerts_notice *n, const char *why)
{
	json_int_t mails = status_int("mails");
	size_t journal = journaled("notify.playbook");
	uint64_t id = 99;
	char result[256] = "";

	ck_assert_int_eq(alerts_notice(al, n, &id, result, sizeof(result)), -1);
	ck_assert_str_eq(result, why);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(status_int("mails"), mails);
	ck_assert_uint_eq(journaled("notify.playbook"), journal);
}

/* The last journal entry with that event, its data. */
static json_t *
journal_last(const char *event)
{
	json_t *v, *found = NULL;
	size_t i;

	json_array_foreach(w.journal, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "event")), event) == 0)
			found = v;
	}
	ck_assert_msg(found != NULL, "no %s in the journal", event);
	return json_object_get(found, "data");
}

static size_t
lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

static char *
file_text(const char *name)
{
	char *path = testutil_path(dir, name), *text = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_ge(getdelim(&text, &cap, '\0', f), 0);
	fclose(f);
	free(path);
	return text;
}

/* The n-th (from 0) mail in mv with that subject. */
static const struct rmail *
mail_subject_is(const char *subject, size_t n)
{
	size_t i;

	for (i = 0; i < mn; i++)
		if (strcmp(mv[i].subject, subject) == 0 && n-- == 0)
			return &mv[i];
	ck_abort_msg("no mail \"%s\"", subject);
	return NULL;
}

/*
 * 13. Without `to` the routes decide, as for a problem mail of the incident
 * at the notice's severity (continue, modes), with their syslog and exec
 * channels and never their beacons; without an incident only the routes
 * that ask nothing but the severity and the mode; nobody to tell is an
 * error.
 */
START_TEST(notify_notice_routes)
{
	struct alerts_notice n;
	const struct rmail *m;
	char result[256], want[256], *log, *env, *in;
	uint64_t id[4];
	size_t done = 1;
	json_t *j;
	int fd = syslog_socket();

	relay_up();
	engine("",
	    "{ name = \"reduced\"; modes = [\"reduced\"]; to = "
	    "[\"reduced@example.org\"];\n"
	    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; continue = true; },\n"
	    "{ name = \"power\"; rules = [\"power-*\"]; to = [\"power@example.org\"];\n"
	    "  channels = [\"mail\"]; group_wait = 0; repeat = 0; continue = true; },\n"
	    "{ name = \"crit\"; severity = [\"critical\"]; to = [\"crit@example.org\"];\n"
	    "  channels = [\"mail\", \"log\", \"prog\", \"lamp\"]; group_wait = 0; "
	    "repeat "
	    "= 0; },\n"
	    "{ name = \"ups\"; devices = [\"ups*\"]; to = [\"" ICT "\"]; channels = "
	    "[\"mail\"];\n"
	    "  group_wait = 0; repeat = 0; }");
	inc_open(1, "power-outage", "warning", "ups1");

	/* The incident's severity: power (continue), then ups. */
	n = notice_of(1, 0);
	id[0] = notice_ok(&n, result, sizeof(result));
	snprintf(want, sizeof(want), "queued #%llu to power@example.org, " ICT,
	    (unsigned long long)id[0]);
	ck_assert_str_eq(result, want);
	j = journal_last("notify.playbook");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "incident")), 1);
	ck_assert_str_eq(
	    json_string_value(json_object_get(j, "playbook")), "power-outage");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "run")), 7);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(j, "queued")), (json_int_t)id[0]);
	ck_assert(json_is_false(json_object_get(j, "drill")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "to")), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(
	        json_array_get(w.journal, json_array_size(w.journal) - 1), "actor")),
	    "tanaka");

	/* Critical: power, then crit (not ups), with crit's log and prog. */
	n = notice_of(1, CHECK_CRITICAL);
	id[1] = notice_ok(&n, result, sizeof(result));
	snprintf(want, sizeof(want),
	    "queued #%llu to power@example.org, crit@example.org; channels log, prog",
	    (unsigned long long)id[1]);
	ck_assert_str_eq(result, want);
	/* The program's end is journaled (alert.channel), as a beacon's answer. */
	ck_assert_msg(testutil_loop_until(base, beacons_answered, &done, 5000),
	    "the program never ended");
	ck_assert(json_is_true(json_object_get(journal_last("alert.channel"), "ok")));
	env = file_text("exec.env");
	ck_assert_has(env, "SONAE_EVENT=playbook\n");
	ck_assert_has(env, "SONAE_INCIDENT=1\n");
	ck_assert_has(env, "SONAE_SEVERITY=critical\n");
	ck_assert_has(env, "SONAE_TITLE=" STEP "\n");
	ck_assert_has(env, "SONAE_RULE=power-outage\n");
	ck_assert_has(env, "SONAE_DEVICES=ups1\n");
	ck_assert_has(env, "SONAE_PLAYBOOK=power-outage\n");
	ck_assert_has(env, "SONAE_RUN=7\n");
	ck_assert_has(env, "SONAE_SUBJECT=[sonae test] CRITICAL #1: " STEP "\n");
	free(env);
	in = file_text("exec.in");
	ck_assert_has(in, TEXT);
	ck_assert_has(in, "sonae run-status 7");
	free(in);

	/* Without an incident, a warning: no route asks only that. */
	n = notice_of(0, 0);
	notice_refused(
	    &n, "nobody to tell: no route takes a warning notice without an incident");
	/* Critical: crit, and in the mode reduced first reduced. */
	n = notice_of(0, CHECK_CRITICAL);
	id[2] = notice_ok(&n, result, sizeof(result));
	snprintf(want, sizeof(want),
	    "queued #%llu to crit@example.org; channels log, prog",
	    (unsigned long long)id[2]);
	ck_assert_str_eq(result, want);
	w.mode = "reduced";
	id[3] = notice_ok(&n, result, sizeof(result));
	ck_assert_has(result, "to reduced@example.org, crit@example.org;");
	ck_assert_uint_lt(id[0], id[1]);
	ck_assert_uint_lt(id[2], id[3]);
	done = 3;
	ck_assert_msg(testutil_loop_until(base, beacons_answered, &done, 5000),
	    "the programs never ended");

	wait_mails(4, 10000);
	no_more_mail(4, 300);
	mails_load();
	m = mail_subject_is("[sonae test] WARNING #1: " STEP, 0);
	ck_assert_rcpt(m, ICT ",power@example.org");
	ck_assert_int_eq(m->incident, 1);
	ck_assert_has(m->body, TEXT);
	ck_assert_has(m->body, "power-outage (run 7)");
	ck_assert_has(m->body, STEP);
	ck_assert_has(m->body, "sonae run-status 7\n");
	ck_assert_has(m->body, "sonae incident 1\n");
	m = mail_subject_is("[sonae test] CRITICAL #1: " STEP, 0);
	ck_assert_rcpt(m, "crit@example.org,power@example.org");
	m = mail_subject_is("[sonae test] CRITICAL playbook power-outage: " STEP, 0);
	ck_assert_rcpt(m, "crit@example.org");
	ck_assert_int_eq(m->incident, 0);
	ck_assert_ptr_null(m->in_reply_to);
	ck_assert_has(m->body, "sonae run-status 7\n");
	ck_assert_hasnt(m->body, "sonae incident");
	m = mail_subject_is("[sonae test] CRITICAL playbook power-outage: " STEP, 1);
	ck_assert_rcpt(m, "crit@example.org,reduced@example.org");
	/* Each critical notice on syslog, one line each; the lamp never. */
	log = syslog_read(fd);
	ck_assert_has(log,
	    "incident #1 playbook critical: " STEP ": UPS on battery: shut down tier 3 "
	    "then report to the chief (power-outage run 7)\n");
	ck_assert_has(log, "]: playbook critical: " STEP ": UPS on battery");
	ck_assert_uint_eq(lines(log), 3);
	free(log);
	ck_assert_uint_eq(w.nbeacons, 0);
	ck_assert_uint_eq(journaled("notify.playbook"), 4);
	/* In the incident's timeline, as its other mails are. */
	ck_assert_uint_eq(notes(1, "mail"), 2);
	close(fd);
	mails_free();
}
END_TEST

/*
 * 14. Explicit `to`: those addresses and nobody else, no channels; one
 * that is not a plain address refuses the notice, naming it.  In the
 * incident's thread: a reply to its root, also after the recovery.
 */
START_TEST(notify_notice_to_and_thread)
{
	struct conf_strings to;
	struct alerts_notice n;
	const struct rmail *root, *m;
	char result[256], want[256], *log;
	uint64_t id;
	int fd = syslog_socket();

	relay_up();
	engine("",
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\", \"log\"];\n"
	    "  group_wait = 0; repeat = 0; }");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	free(syslog_read(fd));

	n = notice_of(1, 0);
	n.to = addrs(&to, BOSS "," CHIEF);
	id = notice_ok(&n, result, sizeof(result));
	snprintf(want, sizeof(want), "queued #%llu to " BOSS ", " CHIEF,
	    (unsigned long long)id);
	ck_assert_str_eq(result, want);
	conf_strings_free(&to);

	n.to = addrs(&to, BOSS ",not an address");
	notice_refused(&n, "\"not an address\" is not a plain address (local@domain)");
	conf_strings_free(&to);
	n.to = addrs(&to, "a@b@example.org");
	notice_refused(&n, "\"a@b@example.org\" is not a plain address (local@domain)");
	conf_strings_free(&to);

	/* Empty `to`: the routes. */
	n.to = addrs(&to, "");
	notice_ok(&n, result, sizeof(result));
	ck_assert_has(result, "to " ICT "; channels log");
	conf_strings_free(&to);

	/* The recovery dropped the track: the notice is still in the thread. */
	inc_resolve(1);
	tell(1, "recovery");
	wait_mails(4, 5000);
	n.to = addrs(&to, CHIEF);
	notice_ok(&n, result, sizeof(result));
	conf_strings_free(&to);
	wait_mails(5, 5000);
	no_more_mail(5, 300);
	log = syslog_read(fd);
	/* The routed notice and the recovery: not the explicit ones. */
	ck_assert_uint_eq(lines(log), 2);
	ck_assert_has(log, "playbook critical: " STEP);
	free(log);
	mails_load();
	root = &mv[0];
	ck_assert_str_eq(
	    root->subject, "[sonae test] CRITICAL #1: power-outage: test incident 1");
	ck_assert_ptr_null(root->in_reply_to);
	m = mail_subject_is("[sonae test] CRITICAL #1: " STEP, 0);
	ck_assert_rcpt(m, BOSS "," CHIEF);
	ck_assert_ptr_nonnull(m->in_reply_to);
	ck_assert_str_eq(m->in_reply_to, root->msgid);
	ck_assert_ptr_nonnull(m->references);
	ck_assert_str_eq(m->references, root->msgid);
	ck_assert_str_ne(m->msgid, root->msgid);
	m = mail_subject_is("[sonae test] CRITICAL #1: " STEP, 1);
	ck_assert_rcpt(m, ICT);
	ck_assert_str_eq(m->in_reply_to, root->msgid);
	m = mail_subject_is("[sonae test] CRITICAL #1: " STEP, 2);
	ck_assert_rcpt(m, CHIEF);
	ck_assert_ptr_nonnull(m->in_reply_to);
	ck_assert_str_eq(m->in_reply_to, root->msgid);
	close(fd);
	mails_free();
}
END_TEST

/*
 * 15. Neither the group wait nor the rate limit holds a notice back, and it
 * takes no slot of the rate limit: queued at once while the incident's own
 * first mail still waits for its group, and while another incident's mail
 * to the same recipient is held.  It replies to the root without taking
 * it, so the first mail is still the root when it goes.
 */
START_TEST(notify_notice_not_held)
{
	struct alerts_notice n;
	const struct rmail *m;
	char result[256];
	json_int_t mails;
	size_t i;

	relay_up();
	engine("rate_limit = 1; rate_period = \"1h\";",
	    "{ name = \"slow\"; rules = [\"slow-*\"]; to = [\"" ICT "\"]; channels = "
	    "[\"mail\"];\n"
	    "  group_wait = \"30s\"; repeat = 0; },\n"
	    "{ name = \"fast\"; to = [\"" ICT "\"]; channels = [\"mail\"]; group_wait = "
	    "0;\n"
	    "  repeat = 0; }");
	inc_open(1, "slow-power", "critical", "ups1");
	tell(1, "problem");
	n = notice_of(1, 0);
	notice_ok(&n, result, sizeof(result));
	ck_assert_has(result, " to " ICT);
	/* The notice took no slot: incident 2 has it, 3 is held. */
	inc_open(2, "link-down", "warning", "sw1");
	inc_open(3, "link-down", "warning", "sw1");
	tell(2, "problem");
	tell(3, "problem");
	mails = 2;
	ck_assert(testutil_loop_until(base, mails_queued, &mails, 5000));
	run_for(200);
	ck_assert_int_eq(status_int("held"), 1);
	notice_ok(&n, result, sizeof(result));
	ck_assert_has(result, " to " ICT);
	wait_mails(3, 10000);
	ck_assert_int_eq(status_int("held"), 1);
	ck_assert_int_eq(status_int("mails"), 3);
	mails_load();
	ck_assert_uint_eq(mails_of(2), 1);
	ck_assert_uint_eq(mails_of(3), 0);
	/* Both notices, before incident 1's first mail: replies to its root. */
	ck_assert_uint_eq(mails_of(1), 2);
	for (i = 0; i < 2; i++) {
		m = mail_of(1, i);
		ck_assert_str_eq(m->subject, "[sonae test] CRITICAL #1: " STEP);
		ck_assert_rcpt(m, ICT);
		ck_assert_ptr_nonnull(m->in_reply_to);
		ck_assert_msg(strncmp(m->in_reply_to, "<incident.1.", 12) == 0, "%s",
		    m->in_reply_to);
		ck_assert_msg(strncmp(m->msgid, "<incident.", 10) != 0, "%s", m->msgid);
	}
	mails_free();
}
END_TEST

/*
 * 16. A drill: only to drill_to, whatever `to` and the routes say, the
 * subject prefixed, the body saying so first, outside the incident's
 * thread, no channels; refused without drill recipients, and where the
 * real notice would be refused.
 */
START_TEST(notify_notice_drill)
{
	struct conf_strings drill, to, empty = { NULL, 0 };
	struct alerts_notice n;
	const struct rmail *m;
	char result[256], want[256], *log;
	uint64_t id;
	json_t *j;
	int fd = syslog_socket();

	relay_up();
	engine("",
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\", \"log\"];\n"
	    "  group_wait = 0; repeat = 0; }");
	inc_open(1, "power-outage", "warning", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	free(syslog_read(fd));

	n = notice_of(1, 0);
	n.drill = 1;
	n.drill_to = addrs(&drill, DRILL);
	n.to = addrs(&to, BOSS);
	id = notice_ok(&n, result, sizeof(result));
	snprintf(want, sizeof(want),
	    "drill: queued #%llu to " DRILL " (a real run would tell " BOSS ")",
	    (unsigned long long)id);
	ck_assert_str_eq(result, want);
	j = journal_last("notify.playbook");
	ck_assert(json_is_true(json_object_get(j, "drill")));
	ck_assert_str_eq(
	    json_string_value(json_array_get(json_object_get(j, "to"), 0)), DRILL);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "to")), 1);
	conf_strings_free(&to);

	/* The routes: the drill says whom a real run would tell, nothing more. */
	n = notice_of(0, 0);
	n.drill = 1;
	n.drill_to = &drill;
	notice_ok(&n, result, sizeof(result));
	ck_assert_has(result, "(a real run would tell " ICT " and the channels log)");

	n.to = addrs(&to, "boss");
	notice_refused(&n, "\"boss\" is not a plain address (local@domain)");
	conf_strings_free(&to);
	n.to = NULL;
	n.drill_to = &empty;
	notice_refused(&n, "drill: no drill recipients (playbooks.drill_to)");
	n.drill_to = NULL;
	notice_refused(&n, "drill: no drill recipients (playbooks.drill_to)");
	conf_strings_free(&drill);

	wait_mails(3, 5000);
	no_more_mail(3, 300);
	log = syslog_read(fd);
	ck_assert_str_eq(log, "");
	free(log);
	mails_load();
	m = mail_subject_is("【訓練】[DRILL] [sonae test] WARNING #1: " STEP, 0);
	ck_assert_rcpt(m, DRILL);
	ck_assert_msg(strncmp(m->body, DRILL_LINE, strlen(DRILL_LINE)) == 0,
	    "the body does not begin with the drill:\n%s", m->body);
	ck_assert_has(m->body, "a real run would tell " BOSS ".\n");
	ck_assert_has(m->body, TEXT);
	ck_assert_ptr_null(m->in_reply_to);
	ck_assert_ptr_null(m->references);
	m = mail_subject_is(
	    "【訓練】[DRILL] [sonae test] WARNING playbook power-outage: " STEP, 0);
	ck_assert_rcpt(m, DRILL);
	ck_assert_int_eq(m->incident, 0);
	ck_assert_msg(strncmp(m->body, DRILL_LINE, strlen(DRILL_LINE)) == 0,
	    "the body does not begin with the drill:\n%s", m->body);
	close(fd);
	mails_free();
}
END_TEST

/*
 * 17. Refused: a notice without its parts, not UTF-8, a severity that is
 * neither, an unknown incident, before the spool is open, without a mail
 * path.
 */
START_TEST(notify_notice_refused)
{
	struct alerts_notice n;
	struct alerts *other;
	struct conf_strings to;
	struct conf *c;
	char result[256], *text, *path;

	xasprintf(&text, conf_fmt, dir, port, "", dir, dir, dir,
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"]; }");
	conf = load(text);
	free(text);
	al = alerts_new(base, &hooks, &w);
	alerts_configure(al, conf);
	n = notice_of(0, CHECK_WARNING);
	ck_assert_int_eq(alerts_notice(al, &n, NULL, result, sizeof(result)), -1);
	ck_assert_str_eq(result, "the spool is not open");
	alerts_free(al);
	start();
	inc_open(1, "power-outage", "warning", "ups1");

	n = notice_of(1, 0);
	n.playbook = NULL;
	notice_refused(&n, "a notice needs a playbook, a step title and a text");
	n = notice_of(1, 0);
	n.text = NULL;
	notice_refused(&n, "a notice needs a playbook, a step title and a text");
	n = notice_of(1, 0);
	n.step_title = "\xff\xfe";
	notice_refused(&n, "the notice is not valid UTF-8");
	n = notice_of(1, CHECK_UNKNOWN);
	notice_refused(&n, "severity 3: not warning, critical or the incident's");
	n = notice_of(99, 0);
	notice_refused(&n, "no incident #99");

	/* No mail group: explicit addresses have no way out. */
	path = testutil_path(dir, "other");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	xasprintf(&text,
	    "site: { name = \"test\"; };\n"
	    "daemon: { state_dir = \"%s\"; };\n"
	    "routes = ( { name = \"log\"; channels = [\"syslog\"]; } );\n",
	    path);
	free(path);
	c = load(text);
	free(text);
	other = alerts_new(base, &hooks, &w);
	alerts_configure(other, c);
	ck_assert_int_eq(alerts_start(other, result, sizeof(result)), 0);
	n = notice_of(1, 0);
	n.to = addrs(&to, ICT);
	ck_assert_int_eq(alerts_notice(other, &n, NULL, result, sizeof(result)), -1);
	ck_assert_str_eq(result, "no mail path: `mail` needs `from` and `relays`");
	conf_strings_free(&to);
	alerts_free(other);
	conf_free(c);
}
END_TEST

/*
 * 18. The incident mail shows the playbook runs: what a run waits for from
 * a human with the command that answers it, or the step under way; not the
 * drills; the requested playbook as before when the engine has no run (or
 * only drills), answers NULL, or is not there.
 */
static json_t *
run_json(int64_t id, int drill, const char *state, json_t *step, json_t *waiting)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:s, s:o, s:o}", "id",
	    (json_int_t)id, "playbook", "power-outage", "title_ja", "停電対応",
	    "title_en", "Power outage", "incident", (json_int_t)1, "drill", drill,
	    "state", state, "step", step != NULL ? step : json_null(), "waiting",
	    waiting);
}

static void
set_runs(json_t *runs)
{
	json_decref(w.runs);
	w.runs = runs != NULL ? json_pack("{s:o}", "runs", runs) : NULL;
}

static const char *const requested =
    "プレイブック / Playbook: power-outage (requested; its steps: sonae playbook "
    "power-outage)";

START_TEST(notify_playbook_runs)
{
	const struct rmail *m;
	json_t *o;
	uint64_t i;

	relay_up();
	engine("", "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	           "  group_wait = 0; repeat = 0; }");
	for (i = 1; i <= 5; i++) {
		o = inc_open(i, "power-outage", "critical", "ups1");
		json_object_set_new(o, "playbook", json_string("power-outage"));
	}

	/* 1: a drill (not shown) and a run waiting for a confirm. */
	set_runs(json_pack("[o, o]",
	    run_json(2, 1, "running",
	        json_pack("{s:s, s:s, s:s, s:s}", "id", "drillstep", "title",
	            "Drill step", "type", "confirm", "state", "waiting"),
	        json_pack("[{s:s, s:s, s:s, s:n, s:n, s:b}]", "id", "drillstep", "title",
	            "Drill step", "question", "Drill?", "deadline", "default", "unknown",
	            0)),
	    run_json(3, 0, "running",
	        json_pack("{s:s, s:s, s:s, s:s}", "id", "room", "title",
	            "Check the server room", "type", "confirm", "state", "waiting"),
	        json_pack("[{s:s, s:s, s:s, s:s, s:s, s:b}]", "id", "room", "title",
	            "Check the server room", "question",
	            "Is the air conditioning running?", "deadline",
	            "2026-11-26T03:15:00+09:00", "default", "no", "unknown", 0))));
	tell(1, "problem");
	wait_mails(1, 5000);
	ck_assert_uint_eq(w.runs_asked, 1);
	/* 2: a run whose step is under way. */
	set_runs(
	    json_pack("[o]", run_json(4, 0, "running",
	                         json_pack("{s:s, s:s, s:s, s:s}", "id", "tell", "title",
	                             STEP, "type", "notify", "state", "running"),
	                         json_array())));
	tell(2, "problem");
	wait_mails(2, 5000);
	ck_assert_uint_eq(w.runs_asked, 2);
	/* 3: a step nobody knows the outcome of (sonaed stopped during it). */
	set_runs(json_pack("[o]",
	    run_json(5, 0, "running",
	        json_pack("{s:s, s:s, s:s, s:s}", "id", "shut", "title",
	            "Shut down tier 3", "type", "shutdown-tier", "state", "unknown"),
	        json_pack("[{s:s, s:s, s:n, s:n, s:n, s:b}]", "id", "shut", "title",
	            "Shut down tier 3", "question", "deadline", "default", "unknown",
	            1))));
	tell(3, "problem");
	wait_mails(3, 5000);
	/* 4: no run; 5: drills only. */
	set_runs(NULL);
	tell(4, "problem");
	wait_mails(4, 5000);
	set_runs(json_pack("[o]", run_json(6, 1, "running", NULL, json_array())));
	tell(5, "problem");
	wait_mails(5, 5000);
	no_more_mail(5, 300);
	mails_load();

	m = mail_of(1, 0);
	ck_assert_has(m->body, "対応手順 / Playbook: power-outage (run 3, running)\n");
	ck_assert_has(m->body, "停電対応 / Power outage\n");
	ck_assert_has(m->body, "Waiting for an answer: Check the server room\n");
	ck_assert_has(m->body, "    Is the air conditioning running?\n");
	ck_assert_has(m->body, "期限 / Deadline: 2026-11-26T03:15:00+09:00 (then: no)\n");
	ck_assert_has(m->body, "sonae confirm 3 room -m \"TEXT\"");
	ck_assert_has(m->body, "sonae confirm 3 room --no -m \"TEXT\"");
	ck_assert_has(m->body, "sonae run-status 3\n");
	ck_assert_hasnt(m->body, "run 2");
	ck_assert_hasnt(m->body, "Drill");
	ck_assert_hasnt(m->body, "Next:");
	ck_assert_hasnt(m->body, requested);

	m = mail_of(2, 0);
	ck_assert_has(m->body, "対応手順 / Playbook: power-outage (run 4, running)\n");
	ck_assert_has(m->body, "次 / Next: " STEP " (running)\n");
	ck_assert_hasnt(m->body, "sonae confirm");
	ck_assert_hasnt(m->body, requested);

	m = mail_of(3, 0);
	ck_assert_has(m->body, "不明 / Unknown: Shut down tier 3: did it happen?");
	ck_assert_has(m->body, "sonae confirm 5 shut -m \"TEXT\"");
	ck_assert_has(m->body, "sonae confirm 5 shut --retry -m \"TEXT\"");

	ck_assert_has(mail_of(4, 0)->body, requested);
	ck_assert_hasnt(mail_of(4, 0)->body, "対応手順");
	ck_assert_has(mail_of(5, 0)->body, requested);
	ck_assert_hasnt(mail_of(5, 0)->body, "対応手順");
	mails_free();
}
END_TEST

/* Without the hook (no playbook engine): the requested playbook, as before. */
START_TEST(notify_playbook_runs_no_hook)
{
	char *text;
	json_t *o;

	relay_up();
	xasprintf(&text, conf_fmt, dir, port, "", dir, dir, dir,
	    "{ name = \"all\"; to = [\"" ICT "\"]; channels = [\"mail\"];\n"
	    "  group_wait = 0; repeat = 0; }");
	conf = load(text);
	free(text);
	start_with(&hooks_no_playbooks);
	set_runs(
	    json_pack("[o]", run_json(4, 0, "running",
	                         json_pack("{s:s, s:s, s:s, s:s}", "id", "tell", "title",
	                             STEP, "type", "notify", "state", "running"),
	                         json_array())));
	o = inc_open(1, "power-outage", "critical", "ups1");
	json_object_set_new(o, "playbook", json_string("power-outage"));
	tell(1, "problem");
	wait_mails(1, 5000);
	mails_load();
	ck_assert_has(mv[0].body, requested);
	ck_assert_hasnt(mv[0].body, "対応手順");
	ck_assert_uint_eq(w.runs_asked, 0);
	mails_free();
}
END_TEST

/*
 * 12. Routing by the operating mode: roster routes, the asset scope, the
 * daily digest.  A fake roster (struct world's away list) answers resolve()
 * as monitor/roster.c does: available staff with an address, on-duty falling
 * back to the deputies, everyone being the counted staff.
 */
#define AOKI    "aoki@example.org"
#define BABA    "baba@example.org"
#define CHIBA   "chiba@example.org"
#define DAN     "dan@example.org"
#define VENDOR  "vendor@example.org"
#define OUTSIDE "outside@example.org"

static const char *const roster_text =
    "staff = (\n"
    "  { id = \"aoki\"; name = \"Aoki\"; email = \"" AOKI
    "\"; roles = [\"on-duty\"]; },\n"
    "  { id = \"baba\"; name = \"Baba\"; email = \"" BABA "\"; roles = [\"deputy\"]; },\n"
    "  { id = \"chiba\"; name = \"Chiba\"; email = \"" CHIBA
    "\"; roles = [\"lead\"]; },\n"
    "  { id = \"dan\"; name = \"Dan\"; email = \"" DAN "\"; },\n"
    "  { id = \"ven\"; name = \"Vendor\"; email = \"" VENDOR "\"; roles = [\"vendor\"];\n"
    "    counted = false; }\n"
    ");\n"
    "modes = (\n"
    "  { name = \"normal\"; alert = [\"on-duty\", \"deputy\", \"role:lead\"];\n"
    "    escalate_after = \"2s\"; escalate_to = [\"" OUTSIDE "\"]; },\n"
    "  { name = \"reduced\"; absence = 20; alert = [\"everyone\"]; chain = false;\n"
    "    copy = [\"role:vendor\"]; escalate_after = \"1s\";\n"
    "    escalate_to = [\"" OUTSIDE "\"]; live_availability = 2; lower = \"digest\"; "
    "},\n"
    "  { name = \"minimum\"; absence = 40;\n"
    "    alert = [\"everyone\", \"role:lead\", \"role:vendor\"]; chain = false;\n"
    "    escalate_after = \"1s\"; escalate_to = [\"" OUTSIDE "\"];\n"
    "    live_availability = 3; lower = \"defer\"; }\n"
    ");\n";

static const char *const roster_route =
    "{ name = \"roster\"; roster = true; channels = [\"mail\"]; group_wait = 0; "
    "repeat = 0; }";

static struct conf_strings away; /* staff ids who are not available */
static json_t *deferred;         /* [{incident, what}] from the deferred hook */

static const struct mode_conf *
fake_mode_conf(void *arg)
{
	(void)arg;
	return conf_mode_named(conf, w.mode);
}

static void
staff_add(struct conf_strings *out, const struct staff_conf *s)
{
	if (s->email != NULL && !conf_strings_has(&away, s->id) &&
	    !conf_strings_has(out, s->email))
		conf_strings_add(out, s->email);
}

static void
role_add(struct conf_strings *out, const char *role)
{
	size_t i;

	for (i = 0; i < conf->staff.n; i++)
		if (conf_strings_has(&conf_staff(conf, i)->roles, role))
			staff_add(out, conf_staff(conf, i));
}

static size_t
fake_resolve(void *arg, const struct conf_strings *refs, struct conf_strings *out)
{
	size_t n0 = out->n, i, k, before;
	const char *r;

	(void)arg;
	for (i = 0; i < refs->n; i++) {
		r = refs->v[i];
		if (strcmp(r, "on-duty") == 0) {
			before = out->n;
			role_add(out, "on-duty");
			if (out->n == before)
				role_add(out, "deputy");
		} else if (strcmp(r, "deputy") == 0)
			role_add(out, "deputy");
		else if (strcmp(r, "everyone") == 0) {
			for (k = 0; k < conf->staff.n; k++)
				if (conf_staff(conf, k)->counted)
					staff_add(out, conf_staff(conf, k));
		} else if (strncmp(r, "role:", 5) == 0)
			role_add(out, r + 5);
		else if (strchr(r, '@') != NULL) {
			if (!conf_strings_has(out, r))
				conf_strings_add(out, r);
		} else if (conf_staff_named(conf, r) != NULL)
			staff_add(out, conf_staff_named(conf, r));
	}
	return out->n - n0;
}

static void
fake_deferred(void *arg, uint64_t incident, const char *what)
{
	(void)arg;
	json_array_append_new(deferred,
	    json_pack("{s:I, s:s}", "incident", (json_int_t)incident, "what", what));
}

static const struct alerts_hooks hooks_roster = {
	.incident = fake_incident,
	.incidents = fake_incidents,
	.mode = fake_mode,
	.device = fake_device,
	.beacon = fake_beacon,
	.mail_path = fake_mail_path,
	.journal = fake_journal,
	.note = fake_note,
	.playbook_runs = fake_playbook_runs,
	.mode_conf = fake_mode_conf,
	.resolve = fake_resolve,
	.deferred = fake_deferred,
};

/* The standard configuration with the roster above, and routes. */
static void
engine_roster(const char *routes)
{
	char *text, *all;

	xasprintf(&text, conf_fmt, dir, port, "", dir, dir, dir, routes);
	xasprintf(&all, "%s%s", text, roster_text);
	conf = load(all);
	free(text);
	free(all);
	deferred = json_array();
	start_with(&hooks_roster);
}

static void
roster_done(void)
{
	conf_strings_free(&away);
	json_decref(deferred);
	deferred = NULL;
}

/* The data of the nth journal entry of event (from 0). */
static json_t *
journal_data(const char *event, size_t nth)
{
	size_t i;
	json_t *v;

	json_array_foreach(w.journal, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "event")), event) == 0 &&
		    nth-- == 0)
			return json_object_get(v, "data");
	}
	ck_abort_msg("no journal entry %s", event);
	return NULL;
}

/* The first timeline line of incident id with event whose text has want. */
static int
noted_text(uint64_t id, const char *event, const char *want)
{
	size_t i;
	json_t *v;

	json_array_foreach(w.notes, i, v)
	{
		if ((uint64_t)json_integer_value(json_object_get(v, "id")) == id &&
		    strcmp(json_string_value(json_object_get(v, "event")), event) == 0 &&
		    strstr(json_string_value(json_object_get(v, "text")), want) != NULL)
			return 1;
	}
	return 0;
}

/*
 * Normal mode, a chain: on-duty first, the deputy 2 s later, the lead 2 s
 * after that, then escalate_to; an acknowledged incident stops its chain.
 */
START_TEST(notify_roster_chain)
{
	int64_t t0, t1;

	relay_up();
	engine_roster(roster_route);
	t0 = time_now_ms();
	inc_open(1, "power-outage", "critical", "ups1");
	inc_open(2, "link-down", "critical", "sw1");
	tell(1, "problem");
	tell(2, "problem");
	wait_mails(2, 5000);
	inc_ack(2, "aoki");
	wait_mails(3, 5000);
	t1 = time_now_ms();
	ck_assert_int_ge(t1 - t0, 2000);
	ck_assert_msg(
	    t1 - t0 < 3500, "the deputy was told after %lld ms", (long long)(t1 - t0));
	wait_mails(4, 5000);
	ck_assert_int_ge(time_now_ms() - t0, 4000);
	wait_mails(5, 5000);
	ck_assert_int_ge(time_now_ms() - t0, 6000);
	no_more_mail(5, 2500);
	ck_assert_uint_eq(notes(2, "escalation-stopped"), 1);
	ck_assert_uint_eq(notes(1, "roster"), 4);
	ck_assert(noted_text(1, "roster",
	    "mode normal, roster step 1 (alert 1 of 3, "
	    "on-duty): " AOKI));
	ck_assert(noted_text(1, "roster", "step 4 (escalate_to): " OUTSIDE));
	mails_load();
	ck_assert_uint_eq(mails_of(1), 4);
	ck_assert_uint_eq(mails_of(2), 1);
	ck_assert_rcpt(mail_of(1, 0), AOKI);
	ck_assert_rcpt(mail_of(2, 0), AOKI);
	ck_assert_rcpt(mail_of(1, 1), AOKI "," BABA);
	ck_assert_has(mail_of(1, 1)->body, "operating mode normal, roster step 2 adds 1");
	ck_assert_rcpt(mail_of(1, 2), AOKI "," BABA "," CHIBA);
	ck_assert_rcpt(mail_of(1, 3), AOKI "," BABA "," CHIBA "," OUTSIDE);
	ck_assert_str_eq(mail_of(1, 3)->in_reply_to, mail_of(1, 0)->msgid);
	mails_free();
	roster_done();
}
END_TEST

/*
 * Without a chain (reduced): everyone and the copy at once, escalate_to
 * after escalate_after.  The route's own `to` and `escalate` still apply.
 */
START_TEST(notify_roster_at_once)
{
	relay_up();
	engine_roster("{ name = \"roster\"; roster = true; to = [\"" ICT "\"];\n"
	              "  channels = [\"mail\"]; group_wait = 0; repeat = 0;\n"
	              "  escalate = ( { after = \"1500ms\"; to = [\"" BOSS "\"]; } ); }");
	w.mode = "reduced";
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	wait_mails(3, 5000);
	no_more_mail(3, 1500);
	mails_load();
	ck_assert_rcpt(mail_of(1, 0), AOKI "," BABA "," CHIBA "," DAN "," ICT "," VENDOR);
	ck_assert_rcpt(mail_of(1, 1),
	    AOKI "," BABA "," CHIBA "," DAN "," ICT "," OUTSIDE "," VENDOR);
	ck_assert_rcpt(mail_of(1, 2),
	    AOKI "," BABA "," BOSS "," CHIBA "," DAN "," ICT "," OUTSIDE "," VENDOR);
	ck_assert(noted_text(1, "roster", "(alert, all at once, with copy)"));
	mails_free();
	roster_done();
}
END_TEST

/*
 * `sonae notify-test` without --to: a roster route's people are those the
 * mode would tell first now (the one on duty in normal, everyone and the
 * copy in reduced).
 */
START_TEST(notify_roster_test_mail)
{
	char err[512];
	uint64_t id;

	relay_up();
	engine_roster(roster_route);
	ck_assert_msg(
	    alerts_test(al, NULL, "tester", &id, err, sizeof(err)) == 0, "%s", err);
	w.mode = "reduced";
	ck_assert_msg(
	    alerts_test(al, NULL, "tester", &id, err, sizeof(err)) == 0, "%s", err);
	wait_mails(2, 5000);
	mails_load();
	ck_assert_rcpt(&mv[0], AOKI);
	ck_assert_rcpt(&mv[1], AOKI "," BABA "," CHIBA "," DAN "," VENDOR);
	mails_free();
	roster_done();
}
END_TEST

/*
 * The mode changes while an incident is open: its next step is the new
 * mode's, when the new mode says (reduced steps after 1 s, normal after 2).
 */
START_TEST(notify_roster_mode_change)
{
	int64_t t0;

	relay_up();
	engine_roster(roster_route);
	t0 = time_now_ms();
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	w.mode = "reduced";
	alerts_mode_changed(al);
	wait_mails(2, 5000);
	ck_assert_msg(time_now_ms() - t0 < 1900,
	    "the step came after %lld ms: normal's time, not reduced's",
	    (long long)(time_now_ms() - t0));
	wait_mails(3, 5000);
	no_more_mail(3, 1500);
	mails_load();
	ck_assert_rcpt(mail_of(1, 0), AOKI);
	/* Not the deputy alone: everyone of reduced not told yet, and the copy. */
	ck_assert_rcpt(mail_of(1, 1), AOKI "," BABA "," CHIBA "," DAN "," VENDOR);
	ck_assert_has(mail_of(1, 1)->body, "operating mode reduced, roster step 2");
	ck_assert_rcpt(
	    mail_of(1, 2), AOKI "," BABA "," CHIBA "," DAN "," OUTSIDE "," VENDOR);
	mails_free();
	roster_done();
}
END_TEST

/*
 * Nobody of the chain available: everyone available is told; nobody at all:
 * noted and journaled once, and told when someone is available again.
 */
START_TEST(notify_roster_nobody)
{
	relay_up();
	engine_roster(roster_route);
	conf_strings_add(&away, "aoki");
	conf_strings_add(&away, "baba");
	conf_strings_add(&away, "chiba");
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	inc_ack(1, "dan");
	ck_assert(noted_text(1, "roster", "(everyone: nobody of alert or copy"));
	conf_strings_add(&away, "dan");
	inc_open(2, "link-down", "critical", "sw1");
	tell(2, "problem");
	wait_note(2, "roster", 1, 5000);
	ck_assert(
	    noted_text(2, "roster", "nobody available: told nobody from the roster"));
	ck_assert_uint_eq(journaled("alert.nobody"), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     journal_data("alert.nobody", 0), "incident")),
	    2);
	/* Looked for again after escalate_after: still nobody, said once. */
	run_for(2500);
	ck_assert_uint_eq(notes(2, "roster"), 1);
	ck_assert_uint_eq(journaled("alert.nobody"), 1);
	/* Baba is back: told at the next look, as the chain's first step. */
	conf_strings_free(&away);
	conf_strings_add(&away, "aoki");
	wait_note(2, "roster", 2, 5000);
	wait_mails(2, 5000);
	mails_load();
	ck_assert_rcpt(mail_of(1, 0), DAN);
	ck_assert_rcpt(mail_of(2, 0), BABA);
	mails_free();
	roster_done();
}
END_TEST

/* Read alerts.json (alerts_save() first). */
static json_t *
state_read(void)
{
	char *path = testutil_path(dir, "alerts.json"), err[512];
	json_t *st;

	ck_assert_msg(alerts_save(al, err, sizeof(err)) == 0, "alerts_save: %s", err);
	st = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(st);
	free(path);
	return st;
}

static void
state_write(json_t *st)
{
	char *path = testutil_path(dir, "alerts.json");

	ck_assert_int_eq(json_dump_file(st, path, 0), 0);
	free(path);
}

/*
 * Reduced watches classes 2 and up live: a class-1 problem waits for the
 * daily digest (timeline, journal, the deferred hook), one of class 3 and
 * one without devices are told.  alerts.json keeps the held problem and the
 * digest; the digest goes to the mode's people when due.
 */
START_TEST(notify_scope_digest)
{
	const struct rmail *m;
	json_t *st, *d, *data;
	int64_t due;

	relay_up();
	engine_roster("{ name = \"r\"; to = [\"" ICT "\"]; channels = [\"mail\"]; "
	              "group_wait = 0; repeat = 0; }");
	w.mode = "reduced";
	inc_open(1, "inlet-temperature", "warning", "env1");
	inc_open(2, "power-outage", "critical", "ups1,env1");
	inc_open(3, "declared:fire", "critical", NULL);
	tell(1, "problem");
	tell(2, "problem");
	tell(3, "problem");
	wait_mails(2, 5000);
	wait_note(1, "deferred", 1, 5000);
	no_more_mail(2, 500);
	ck_assert(noted_text(1, "deferred", "mode reduced watches availability class 2"));
	ck_assert(noted_text(1, "deferred", "in the daily digest"));
	ck_assert_uint_eq(journaled("alert.deferred"), 1);
	data = journal_data("alert.deferred", 0);
	ck_assert_int_eq(json_integer_value(json_object_get(data, "incident")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(data, "mode")), "reduced");
	ck_assert_int_eq(json_integer_value(json_object_get(data, "class")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(data, "how")), "digest");
	ck_assert_uint_eq(json_array_size(deferred), 1);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(deferred, 0), "what")),
	    "incident 1 (env1, class 1): daily digest");
	/* A new problem of it while held: still not told. */
	json_object_set_new(incident(1), "severity", json_string("critical"));
	tell(1, "problem");
	no_more_mail(2, 500);

	/* alerts.json: the held track and the digest, due at the next 08:30. */
	st = state_read();
	d = json_object_get(st, "digest");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "items")), 1);
	due = json_integer_value(json_object_get(d, "due_ms"));
	ck_assert_int_eq(
	    due, alerts_digest_next("Asia/Tokyo", "08:30",
	             json_integer_value(json_object_get(
	                 json_array_get(json_object_get(d, "items"), 0), "time_ms"))));
	ck_assert_int_gt(due, time_now_ms());
	ck_assert_int_le(due, time_now_ms() + 86400000);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(st, "tracks"), 0), "held")),
	    1);
	/* sonaed stops; the digest falls due; it starts again. */
	stop_when_sent();
	json_object_set_new(d, "due_ms", json_integer(time_now_ms() + 300));
	state_write(st);
	json_decref(st);
	start_with(&hooks_roster);
	wait_mails(3, 5000);
	no_more_mail(3, 800);
	mails_load();
	m = mail_of(0, 0);
	ck_assert_str_eq(
	    m->subject, "[sonae test] DIGEST: 1 lower-class problem (mode reduced)");
	ck_assert_rcpt(m, AOKI "," BABA "," CHIBA "," DAN "," VENDOR);
	ck_assert_has(m->body, "#1 inlet-temperature: test incident 1");
	ck_assert_has(m->body, "env1 (class 1)");
	ck_assert_has(m->body, "mode reduced");
	ck_assert_has(m->body, "Now:     open");
	ck_assert_uint_eq(mails_of(1), 0);
	mails_free();
	st = state_read();
	d = json_object_get(st, "digest");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "items")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "due_ms")), 0);
	json_decref(st);
	roster_done();
}
END_TEST

/*
 * Minimum defers what is below class 3: not mailed at all.  Back in normal,
 * what is still open is told then, as a problem, once; what resolved
 * meanwhile is not.
 */
START_TEST(notify_scope_defer_then_live)
{
	json_t *data;

	relay_up();
	engine_roster("{ name = \"r\"; to = [\"" ICT "\"]; channels = [\"mail\"]; "
	              "group_wait = 0; repeat = 0; }");
	w.mode = "minimum";
	inc_open(1, "link-down", "critical", "sw1");
	inc_open(2, "inlet-temperature", "warning", "env1");
	tell(1, "problem");
	tell(2, "problem");
	wait_note(1, "deferred", 1, 5000);
	wait_note(2, "deferred", 1, 5000);
	no_more_mail(0, 500);
	ck_assert(noted_text(1, "deferred", "deferred, not mailed"));
	ck_assert_uint_eq(journaled("alert.deferred"), 2);
	data = journal_data("alert.deferred", 0);
	ck_assert_str_eq(json_string_value(json_object_get(data, "how")), "defer");
	ck_assert_str_eq(json_string_value(json_object_get(data, "mode")), "minimum");
	ck_assert_int_eq(json_integer_value(json_object_get(data, "class")), 2);
	ck_assert_uint_eq(json_array_size(deferred), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(deferred, 0), "what")),
	    "incident 1 (sw1, class 2): deferred");
	/* Reduced watches class 2: incident 1 is told now, 2 still waits. */
	w.mode = "reduced";
	alerts_mode_changed(al);
	wait_mails(1, 3000);
	inc_resolve(2);
	tell(2, "recovery");
	wait_note(2, "deferred", 2, 3000);
	ck_assert(noted_text(2, "deferred", "resolved before it was told live"));
	w.mode = "normal";
	alerts_mode_changed(al);
	no_more_mail(1, 1000);
	mails_load();
	ck_assert_uint_eq(mails_of(1), 1);
	ck_assert_str_eq(mail_of(1, 0)->subject,
	    "[sonae test] CRITICAL #1: link-down: test incident 1");
	ck_assert_has(mail_of(1, 0)->body, "operating mode reduced watches this problem");
	ck_assert_rcpt(mail_of(1, 0), ICT);
	ck_assert_uint_eq(mails_of(2), 0);
	ck_assert(noted_text(1, "deferred", "told now: mode reduced watches class 2"));
	ck_assert_int_eq(status_int("incidents"), 1);
	mails_free();
	roster_done();
}
END_TEST

/*
 * alerts.json: the roster's step and clock survive a restart (the deputy is
 * next, not the on-duty again), and a file from before the roster (no held,
 * rstep, rclock_ms, digest) loads.
 */
START_TEST(notify_roster_state)
{
	json_t *st, *t;

	relay_up();
	engine_roster(roster_route);
	inc_open(1, "power-outage", "critical", "ups1");
	tell(1, "problem");
	wait_mails(1, 5000);
	st = state_read();
	t = json_array_get(json_object_get(st, "tracks"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "rstep")), 1);
	ck_assert_int_gt(json_integer_value(json_object_get(t, "rclock_ms")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "held")), 0);
	json_decref(st);
	stop_when_sent();
	start_with(&hooks_roster);
	wait_mails(2, 5000);
	mails_load();
	ck_assert_rcpt(mail_of(1, 1), AOKI "," BABA);
	mails_free();
	inc_ack(1, "baba");
	stop_when_sent();

	/* The file of an older sonaed: none of the new fields. */
	st = json_pack("{s:i, s:[{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, "
	               "s:b, s:s, s:[s], s:[s], s:[]}], s:[], s:{s:b, s:I, s:s, s:[], "
	               "s:i}}",
	    "version", 1, "tracks", "id", (json_int_t)1, "opened_ms",
	    json_integer_value(json_object_get(incident(1), "opened_ms")), "due_ms",
	    (json_int_t)0, "first_ms", (json_int_t)time_now_ms(), "esc_ms", (json_int_t)0,
	    "next_repeat_ms", (json_int_t)0, "step", (json_int_t)0, "stopped", 0,
	    "mailed_root", 1, "update", 0, "recovery", 0, "severity", "critical",
	    "routes", "roster", "to", AOKI, "beacons", "rates", "outage", "down", 0,
	    "since_ms", (json_int_t)0, "reason", "", "rcpts", "count", 0);
	ck_assert_ptr_nonnull(st);
	state_write(st);
	json_decref(st);
	start_with(&hooks_roster);
	ck_assert_int_eq(status_int("incidents"), 1);
	inc_resolve(1);
	tell(1, "recovery");
	wait_mails(3, 5000);
	mails_load();
	ck_assert_str_eq(mail_of(1, 2)->subject,
	    "[sonae test] RESOLVED #1: power-outage: test incident 1");
	ck_assert_rcpt(mail_of(1, 2), AOKI);
	mails_free();
	st = state_read();
	ck_assert_uint_eq(json_array_size(json_object_get(st, "tracks")), 0);
	ck_assert(json_is_array(json_object_get(json_object_get(st, "digest"), "items")));
	json_decref(st);
	roster_done();
}
END_TEST

/*
 * The next daily digest on the site's wall clock: Tokyo has no DST; in
 * Berlin 08:30 moves by an hour of UTC across the change, and a time the
 * spring-forward skips comes at the change.
 */
START_TEST(notify_digest_next)
{
	static const struct {
		const char *zone, *at, *after, *want; /* UTC, "YYYY-MM-DD HH:MM" */
	} cases[] = {
		{ "Asia/Tokyo", "08:30", "2026-11-26 00:00", "2026-11-26 23:30" },
		{ "Asia/Tokyo", "08:30", "2026-11-25 23:29", "2026-11-25 23:30" },
		{ "Asia/Tokyo", "08:30", "2026-11-25 23:30", "2026-11-26 23:30" },
		{ "Europe/Berlin", "08:30", "2026-10-24 07:00", "2026-10-25 07:30" },
		{ "Europe/Berlin", "08:30", "2026-10-25 08:00", "2026-10-26 07:30" },
		{ "Europe/Berlin", "08:30", "2027-03-27 08:00", "2027-03-28 06:30" },
		{ "Europe/Berlin", "02:30", "2027-03-27 12:00", "2027-03-28 01:00" },
		{ "America/New_York", "08:30", "2026-10-31 13:00", "2026-11-01 13:30" },
		{ "America/New_York", "08:30", "2026-11-01 12:00", "2026-11-01 13:30" },
		{ "UTC", "00:00", "2026-12-31 23:59", "2027-01-01 00:00" },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		struct tm tm = { 0 };
		int64_t after, want, got;
		char buf[64];
		ck_assert_ptr_nonnull(strptime(cases[i].after, "%Y-%m-%d %H:%M", &tm));
		after = (int64_t)timegm(&tm) * 1000;
		memset(&tm, 0, sizeof(tm));
		ck_assert_ptr_nonnull(strptime(cases[i].want, "%Y-%m-%d %H:%M", &tm));
		want = (int64_t)timegm(&tm) * 1000;
		got = alerts_digest_next(cases[i].zone, cases[i].at, after);
		ck_assert_msg(got == want, "%s %s after %s: %s UTC, not %s",
		    cases[i].zone, cases[i].at, cases[i].after,
		    time_format(got, buf, sizeof(buf)), cases[i].want);
	}
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("aiosmtpd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, notify_routes);
	tcase_add_test(tc, notify_group_wait);
	tcase_add_test(tc, notify_came_and_went);
	tcase_add_test(tc, notify_update_and_recovery);
	tcase_add_test(tc, notify_reminders);
	tcase_add_test(tc, notify_reload_without_repeat);
	tcase_add_test(tc, notify_escalation);
	tcase_add_test(tc, notify_escalation_clock);
	tcase_add_test(tc, notify_persistence);
	tcase_add_test(tc, notify_restart_incident_gone);
	tcase_add_test(tc, notify_rate_limit);
	tcase_add_test(tc, notify_mail_path);
	tcase_add_test(tc, notify_mail_path_one_stuck);
	tcase_add_test(tc, notify_beacon);
	tcase_add_test(tc, notify_test_mail);
	tcase_add_test(tc, notify_json);
	tcase_add_test(tc, notify_notice_routes);
	tcase_add_test(tc, notify_notice_to_and_thread);
	tcase_add_test(tc, notify_notice_not_held);
	tcase_add_test(tc, notify_notice_drill);
	tcase_add_test(tc, notify_notice_refused);
	tcase_add_test(tc, notify_playbook_runs);
	tcase_add_test(tc, notify_playbook_runs_no_hook);
	tcase_add_test(tc, notify_roster_chain);
	tcase_add_test(tc, notify_roster_at_once);
	tcase_add_test(tc, notify_roster_mode_change);
	tcase_add_test(tc, notify_roster_test_mail);
	tcase_add_test(tc, notify_roster_nobody);
	tcase_add_test(tc, notify_scope_digest);
	tcase_add_test(tc, notify_scope_defer_then_live);
	tcase_add_test(tc, notify_roster_state);
	tcase_add_test(tc, notify_digest_next);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(notify_suite());
}

/*
 * sonae: the operator's command.  A thin client of sonaed's control socket:
 * the grammar below is data, the daemon answers with JSON, and this file
 * renders it for people (or passes it through with --json).
 *
 * Exit status: 0 done, 1 refused or failed (one-line reason on stderr),
 * 2 usage.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "monitor/ctl/report.h"

#define DEFAULT_SOCKET  "/run/sonae/sonae.sock"
#define REPLY_TIMEOUT_S 60

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
};

struct opt {
	const char *name; /* "--since", "-m" */
	int has_arg;
	int local; /* changes what is shown, not what is asked: not sent */
};

struct cmd {
	const char *words;
	int min_args, max_args;
	const struct opt *opts;
	int (*render)(json_t *, const char *);
	const char *usage;
	const char *help;
};

static int render_status(json_t *, const char *);
static int render_devices(json_t *, const char *);
static int render_device(json_t *, const char *);
static int render_validate(json_t *, const char *);
static int render_audit(json_t *, const char *);
static int render_verify(json_t *, const char *);
static int render_traps(json_t *, const char *);
static int render_text(json_t *, const char *);
static int render_incidents(json_t *, const char *);
static int render_incident(json_t *, const char *);
static int render_checks(json_t *, const char *);
static int render_windows(json_t *, const char *);
static int render_queue(json_t *, const char *);
static int render_playbooks(json_t *, const char *);
static int render_playbook(json_t *, const char *);
static int render_runs(json_t *, const char *);
static int render_run_status(json_t *, const char *);
static int render_staff(json_t *, const char *);
static int render_mode(json_t *, const char *);
static int render_report(json_t *, const char *);

static const struct opt no_opts[] = { { NULL, 0, 0 } };
static const struct opt device_opts[] = { { "--history", 0, 0 }, { NULL, 0, 0 } };
static const struct opt audit_opts[] = { { "--since", 1, 0 }, { NULL, 0, 0 } };
static const struct opt incidents_opts[] = { { "--all", 0, 0 }, { NULL, 0, 0 } };
static const struct opt ack_opts[] = { { "--sticky", 0, 0 }, { "--expire", 1, 0 },
	{ "-m", 1, 0 }, { NULL, 0, 0 } };
static const struct opt declare_opts[] = { { "--severity", 1, 0 }, { "-m", 1, 0 },
	{ NULL, 0, 0 } };
static const struct opt text_opts[] = { { "-m", 1, 0 }, { NULL, 0, 0 } };
static const struct opt window_opts[] = { { "--device", 1, 0 }, { "--kind", 1, 0 },
	{ "--tag", 1, 0 }, { "--start", 1, 0 }, { "--end", 1, 0 }, { "--for", 1, 0 },
	{ "--every", 1, 0 }, { "-m", 1, 0 }, { NULL, 0, 0 } };
static const struct opt checks_opts[] = { { "--all", 0, 1 }, { NULL, 0, 0 } };
static const struct opt test_opts[] = { { "--to", 1, 0 }, { NULL, 0, 0 } };
/* --set repeats, as --device does: every one goes to the daemon, in order. */
static const struct opt run_opts[] = { { "--incident", 1, 0 }, { "--set", 1, 0 },
	{ "-m", 1, 0 }, { NULL, 0, 0 } };
static const struct opt drill_opts[] = { { "--set", 1, 0 }, { "-m", 1, 0 },
	{ NULL, 0, 0 } };
static const struct opt runs_opts[] = { { "--all", 0, 0 }, { NULL, 0, 0 } };
static const struct opt staff_set_opts[] = { { "--until", 1, 0 }, { "-m", 1, 0 },
	{ NULL, 0, 0 } };
static const struct opt confirm_opts[] = { { "--no", 0, 0 }, { "--retry", 0, 0 },
	{ "-m", 1, 0 }, { NULL, 0, 0 } };
/* Where the files go and which: here, not the daemon's business. */
static const struct opt report_opts[] = { { "-o", 1, 1 }, { "--format", 1, 1 },
	{ NULL, 0, 0 } };
static const struct opt inspection_opts[] = { { "--since", 1, 0 }, { "--until", 1, 0 },
	{ "-o", 1, 1 }, { "--format", 1, 1 }, { NULL, 0, 0 } };

static const struct cmd cmds[] = {
	{ "status", 0, 0, no_opts, render_status, "status",
	    "the site at a glance: devices by contact state and current problems" },
	{ "devices", 0, 0, no_opts, render_devices, "devices",
	    "every device, one line each" },
	{ "device", 1, 1, device_opts, render_device, "device NAME [--history]",
	    "one device: configuration, contact, every metric" },
	{ "validate", 0, 1, no_opts, render_validate, "validate [FILE]",
	    "check FILE here, or the daemon's own file as a reload would" },
	{ "audit verify", 0, 0, no_opts, render_verify, "audit verify",
	    "check the audit journal's hash chain" },
	{ "audit", 0, 0, audit_opts, render_audit, "audit [--since TIME]",
	    "the audit journal (TIME: 2026-11-25, 2026-11-25T09:00, or an age: 2h)" },
	{ "reload", 0, 0, no_opts, render_text, "reload",
	    "re-read the configuration (operators)" },
	{ "poll", 1, 1, no_opts, render_text, "poll NAME",
	    "poll a device now (operators)" },
	{ "traps", 0, 0, no_opts, render_traps, "traps",
	    "the SNMP trap receiver: address, counters, last trap" },
	{ "incidents", 0, 0, incidents_opts, render_incidents, "incidents [--all]",
	    "open incidents, one line each (--all: resolved ones too)" },
	{ "incident", 1, 1, no_opts, render_incident, "incident ID",
	    "one incident: state, acknowledgement, devices, snapshot, timeline" },
	{ "ack", 1, 1, ack_opts, render_text, "ack ID [--sticky | --expire TIME] -m TEXT",
	    "acknowledge an incident (operators); TIME: 2026-11-25T18:00 or in 2h" },
	{ "declare", 1, 1, declare_opts, render_text,
	    "declare KIND [--severity warning|critical] -m TEXT",
	    "open an incident by hand: pandemic, flood-warning, cyber... (operators)" },
	{ "resolve", 1, 1, text_opts, render_text, "resolve ID -m TEXT",
	    "resolve an incident (operators)" },
	{ "maintenance add", 0, 0, window_opts, render_text,
	    "maintenance add TARGETS TIMES [-m TEXT]",
	    "a maintenance window (operators): TARGETS --device NAME, --kind KIND, "
	    "--tag TAG;\n                             TIMES --start TIME (--end TIME "
	    "| --for DURATION) or --every SPEC --for DURATION" },
	{ "maintenance list", 0, 0, no_opts, render_windows, "maintenance list",
	    "maintenance windows, configured and added" },
	{ "maintenance remove", 1, 1, text_opts, render_text,
	    "maintenance remove ID [-m TEXT]",
	    "remove a maintenance window (operators)" },
	{ "checks", 0, 0, checks_opts, render_checks, "checks [--all]",
	    "detectors that are not ok (--all: every one)" },
	{ "queue", 0, 0, no_opts, render_queue, "queue",
	    "the mail spool: queued messages, attempts, last error; the relays' state" },
	{ "notify-test", 0, 0, test_opts, render_text, "notify-test [--to ADDR]",
	    "a real mail through the configured path to ADDR or every route's people "
	    "(operators)" },
	{ "playbooks", 0, 0, no_opts, render_playbooks, "playbooks",
	    "every playbook: triggers, steps, last run, last drill, runs under way" },
	{ "playbook", 1, 1, no_opts, render_playbook, "playbook NAME",
	    "one playbook: parameters and their values, steps, last runs" },
	{ "run", 1, 1, run_opts, render_text,
	    "run NAME [--incident ID] [--set NAME=VALUE]... -m TEXT",
	    "start a playbook (operators)" },
	{ "drill", 1, 1, drill_opts, render_text,
	    "drill NAME [--set NAME=VALUE]... [-m TEXT]",
	    "rehearse a playbook: nothing destructive runs (operators)" },
	{ "runs", 0, 0, runs_opts, render_runs, "runs [--all]",
	    "playbook runs under way or ended in the last 24 h (--all: every one kept)" },
	{ "run-status", 1, 1, no_opts, render_run_status, "run-status RUN",
	    "one run: its checklist, what waits for whom, its log" },
	{ "confirm", 2, 2, confirm_opts, render_text,
	    "confirm RUN STEP [--no | --retry] -m TEXT",
	    "answer a step that waits for a human (operators)" },
	{ "abort", 1, 1, text_opts, render_text, "abort RUN -m TEXT",
	    "stop a run (operators)" },
	{ "staff set", 2, 2, staff_set_opts, render_text,
	    "staff set ID available|unavailable [--until TIME] -m TEXT",
	    "a staff member's availability (operators); TIME: 2026-11-30T09:00 or "
	    "in 3d" },
	{ "staff", 0, 0, no_opts, render_staff, "staff",
	    "the roster: who is available, who is on duty now, the headcount" },
	{ "mode set", 1, 1, text_opts, render_text, "mode set NAME -m TEXT",
	    "declare an operating mode; it holds until mode auto (operators)" },
	{ "mode auto", 0, 0, text_opts, render_text, "mode auto [-m TEXT]",
	    "let the headcount choose the mode again (operators)" },
	{ "mode", 0, 0, no_opts, render_mode, "mode",
	    "the operating mode: why, since when, the headcount, every mode" },
	{ "report incident", 1, 1, report_opts, render_report,
	    "report incident ID [-o DIR] [--format html|md|both]",
	    "an incident's after-action report: DIR/incident-ID.html and .md" },
	{ "report drill", 1, 1, report_opts, render_report,
	    "report drill RUN [-o DIR] [--format html|md|both]",
	    "a drill's report (訓練): DIR/drill-RUN.html and .md" },
	{ "report inspection", 0, 0, inspection_opts, render_report,
	    "report inspection [--since TIME] [--until TIME] [-o DIR] [--format ...]",
	    "the self-inspection report (自己点検), the last 30 days unless given" },
	{ "report render", 1, 1, report_opts, render_report,
	    "report render FILE.json [-o DIR] [--format html|md|both]",
	    "render a report saved with sonae --json report ..., without a daemon" },
	{ NULL, 0, 0, NULL, NULL, NULL, NULL },
};

static int json_out;
static int opt_all;                   /* --all was given */
static const char *opt_dir = ".";     /* report -o DIR */
static const char *opt_format = NULL; /* report --format: html, md, both */

/* An option word: "-" and then a letter or "-" ("-1" and "-" are plain words). */
static int
is_option(const char *s)
{
	return s[0] == '-' && (s[1] == '-' || isalpha((unsigned char)s[1]));
}

static void NORETURN
usage(const char *fmt, ...)
{
	const struct cmd *c;

	if (fmt != NULL) {
		va_list ap;
		fprintf(stderr, "sonae: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, "\n");
	}
	fprintf(
	    stderr, "usage: sonae [-s SOCKET] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (c = cmds; c->words != NULL; c++)
		if (strlen(c->usage) <= 26)
			fprintf(stderr, "  %-26s %s\n", c->usage, c->help);
		else
			fprintf(stderr, "  %s\n  %-26s %s\n", c->usage, "", c->help);
	exit(EXIT_USAGE);
}

/* "2026-11-25T20:01:02.345+09:00" -> "2026-11-25 20:01:02" */
static const char *
when(json_t *v)
{
	static char buf[4][32];
	static int k;
	const char *s = json_string_value(v);
	char *b = buf[k++ % 4];

	if (s == NULL)
		return "-";
	snprintf(b, sizeof(buf[0]), "%.19s", s);
	if (strlen(b) > 10 && b[10] == 'T')
		b[10] = ' ';
	return b;
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static const char *
value_text(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	else if (json_is_number(v)) {
		double x = json_number_value(v);
		/* 18195200 bit/s, not 1.81952e+07: counters and rates read whole. */
		if (fabs(x) >= 1e6 && fabs(x) < 1e15)
			snprintf(buf, len, "%.0f", x);
		else
			snprintf(buf, len, "%.6g", x);
	} else
		snprintf(buf, len, "-");
	return buf;
}

/* A list of strings as "a, b, c" into buf ("-" if empty or absent). */
static const char *
joined(json_t *list, const char *sep, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(list) && off < len; i++) {
		const char *s = json_string_value(json_array_get(list, i));
		int n = snprintf(buf + off, len - off, "%s%s", off > 0 ? sep : "",
		    s != NULL ? s : "?");
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
	return buf;
}

/* A number of an object, or -1 when it is not there. */
static long long
integer(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The detection lines of status. */
static void
render_detection(json_t *det)
{
	json_t *inc = json_object_get(det, "incidents");
	json_t *obs = json_object_get(det, "observer");
	json_t *dets = json_object_get(det, "detectors");
	char buf[512];

	if (json_is_object(inc))
		printf("incidents %lld open (%lld critical, %lld warning), %lld "
		       "acknowledged\n",
		    integer(inc, "open"), integer(inc, "critical"),
		    integer(inc, "warning"), integer(inc, "acknowledged"));
	if (json_is_object(dets))
		printf("detectors %lld, %lld not ok; %lld maintenance windows\n",
		    integer(dets, "total"), integer(dets, "not_ok"),
		    integer(det, "windows"));
	if (json_is_true(json_object_get(obs, "ok")))
		printf("observer  ok\n");
	else if (json_is_false(json_object_get(obs, "ok")))
		printf("observer  NOT OK: %s\n",
		    joined(json_object_get(obs, "reasons"), "; ", buf, sizeof(buf)));
}

static int
render_status(json_t *o, const char *text)
{
	json_t *devs = json_object_get(o, "devices"), *p, *lr, *a;
	size_t i;
	long up = (long)json_integer_value(json_object_get(o, "uptime_s"));

	(void)text;
	printf("site      %s (%s)\n", str(o, "site"), str(o, "timezone"));
	printf("time      %s\n", when(json_object_get(o, "time")));
	printf("sonaed    %s, pid %lld, up %ldd %02ld:%02ld:%02ld\n", str(o, "version"),
	    (long long)json_integer_value(json_object_get(o, "pid")), up / 86400,
	    up % 86400 / 3600, up % 3600 / 60, up % 60);
	printf("config    %s\n", str(o, "config"));
	if (json_is_object(lr = json_object_get(o, "last_reload")))
		printf("reload    %s by %s: %s\n", when(json_object_get(lr, "time")),
		    str(lr, "actor"),
		    json_is_true(json_object_get(lr, "ok")) ? "accepted" : "REFUSED");
	printf("devices   %lld: %lld ok, %lld missed, %lld lost, %lld pending\n",
	    (long long)json_integer_value(json_object_get(devs, "total")),
	    (long long)json_integer_value(json_object_get(devs, "ok")),
	    (long long)json_integer_value(json_object_get(devs, "missed")),
	    (long long)json_integer_value(json_object_get(devs, "lost")),
	    (long long)json_integer_value(json_object_get(devs, "pending")));
	if (json_is_object(a = json_object_get(o, "audit")))
		printf("audit     %lld entries, head %.12s\n",
		    (long long)json_integer_value(json_object_get(a, "seq")),
		    str(a, "head"));
	render_detection(json_object_get(o, "detection"));
	if (json_is_object(a = json_object_get(o, "alerts")))
		printf("mail      %s%lld queued; incidents being told %lld; held by rate "
		       "limits %lld\n",
		    json_is_true(json_object_get(a, "mail_down"))
		        ? "CANNOT LEAVE THE SITE; "
		        : "",
		    integer(a, "queued"), integer(a, "incidents"), integer(a, "held"));
	if (json_is_object(a = json_object_get(o, "staffing"))) {
		json_t *hc = json_object_get(a, "headcount"),
		       *pend = json_object_get(a, "pending");
		printf("mode      %s (%s), %s; %lld of %lld staff absent (%lld%%)\n",
		    str(a, "mode"), str(a, "title"), str(a, "source"),
		    integer(hc, "absent"), integer(hc, "total"),
		    integer(hc, "absent_pct"));
		if (json_is_object(pend))
			printf("          stepping down to %s at %s\n", str(pend, "mode"),
			    when(json_object_get(pend, "at")));
	} else if (json_is_string(json_object_get(o, "mode")))
		printf("mode      %s\n", str(o, "mode"));
	if (json_is_object(a = json_object_get(o, "playbooks")))
		printf("playbooks %lld running (%lld drills); %lld steps wait for a "
		       "human%s\n",
		    integer(a, "running"), integer(a, "drills"), integer(a, "waiting"),
		    integer(a, "waiting") > 0 ? ": sonae runs" : "");
	p = json_object_get(o, "problems");
	if (json_array_size(p) == 0) {
		printf("problems  none\n");
		return EXIT_OK;
	}
	printf("problems\n");
	for (i = 0; i < json_array_size(p); i++) {
		json_t *e = json_array_get(p, i);
		printf("  %-16s %-7s since %s: %s\n", str(e, "device"), str(e, "contact"),
		    when(json_object_get(e, "since")), str(e, "reason"));
	}
	return EXIT_OK;
}

static int
render_devices(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "devices");
	size_t i;

	(void)text;
	printf("%-16s %-7s %-7s %-8s %-19s %7s  %s\n", "NAME", "KIND", "PROBE", "CONTACT",
	    "SINCE", "METRICS", "REASON");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *d = json_array_get(list, i);
		const char *reason = str(d, "reason");
		printf("%-16s %-7s %-7s %-8s %-19s %7lld  %s\n", str(d, "name"),
		    str(d, "kind"), str(d, "probe"), str(d, "contact"),
		    when(json_object_get(d, "since")),
		    (long long)json_integer_value(json_object_get(d, "metrics_count")),
		    strcmp(str(d, "contact"), "ok") == 0 ? "" : reason);
	}
	return EXIT_OK;
}

static int
render_device(json_t *d, const char *text)
{
	json_t *metrics = json_object_get(d, "metrics"),
	       *tags = json_object_get(d, "tags");
	char buf[300];
	size_t i, j;

	(void)text;
	printf("device       %s (%s, probe %s, availability %lld)\n", str(d, "name"),
	    str(d, "kind"), str(d, "probe"),
	    (long long)json_integer_value(json_object_get(d, "availability")));
	if (json_is_string(json_object_get(d, "description")))
		printf("description  %s\n", str(d, "description"));
	if (json_is_string(json_object_get(d, "location")))
		printf("location     %s\n", str(d, "location"));
	if (json_array_size(tags) > 0) {
		printf("tags        ");
		for (i = 0; i < json_array_size(tags); i++)
			printf(" %s", json_string_value(json_array_get(tags, i)));
		printf("\n");
	}
	printf("defined at   %s\n", str(d, "defined_at"));
	printf("polling      every %gs, timeout %gs, %lld retries, stale after %lld "
	       "missed\n",
	    json_number_value(json_object_get(d, "interval_s")),
	    json_number_value(json_object_get(d, "timeout_s")),
	    (long long)json_integer_value(json_object_get(d, "retries")),
	    (long long)json_integer_value(json_object_get(d, "stale_after")));
	printf("contact      %s since %s", str(d, "contact"),
	    when(json_object_get(d, "since")));
	if (json_is_string(json_object_get(d, "reason")))
		printf(" (%s)", str(d, "reason"));
	printf("\n");
	printf("polls        %lld, %lld missed; last ok %s, next %s\n",
	    (long long)json_integer_value(json_object_get(d, "polls")),
	    (long long)json_integer_value(json_object_get(d, "failures")),
	    when(json_object_get(d, "last_ok")), when(json_object_get(d, "next_poll")));
	if (json_integer_value(json_object_get(d, "traps")) > 0) {
		json_t *lt = json_object_get(d, "last_trap");
		printf("traps        %lld; last %s at %s\n",
		    (long long)json_integer_value(json_object_get(d, "traps")),
		    str(lt, "trap"), when(json_object_get(lt, "time")));
	}
	if (json_array_size(metrics) == 0) {
		printf("metrics      none yet\n");
		return EXIT_OK;
	}
	printf("\n%-20s %12s %-6s %-7s %8s  %s\n", "METRIC", "VALUE", "UNIT", "QUALITY",
	    "AGE", "REASON");
	for (i = 0; i < json_array_size(metrics); i++) {
		json_t *m = json_array_get(metrics, i), *h;
		const char *unit = json_string_value(json_object_get(m, "unit"));
		printf("%-20s %12s %-6s %-7s %7.1fs  %s\n", str(m, "name"),
		    value_text(json_object_get(m, "value"), buf, sizeof(buf)),
		    unit ? unit : "", str(m, "quality"),
		    json_number_value(json_object_get(m, "age_s")),
		    json_is_string(json_object_get(m, "reason")) ? str(m, "reason") : "");
		if ((h = json_object_get(m, "history")) != NULL &&
		    json_array_size(h) > 0) {
			printf("  history:");
			for (j = 0; j < json_array_size(h); j++)
				printf(" %s",
				    value_text(json_array_get(json_array_get(h, j), 1),
				        buf, sizeof(buf)));
			printf("\n");
		}
	}
	return EXIT_OK;
}

/* "3 of 5 available, 2 absent (40%)" */
static void
print_headcount(json_t *hc)
{
	printf("人員 / headcount  %lld of %lld available, %lld absent (%lld%%)\n",
	    integer(hc, "available"), integer(hc, "total"), integer(hc, "absent"),
	    integer(hc, "absent_pct"));
}

static int
render_staff(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "staff"), *sh = json_object_get(o, "shift");
	char roles[256], on[256], dep[256];
	size_t i;
	int w = 2;

	(void)text;
	print_headcount(json_object_get(o, "headcount"));
	if (json_is_object(sh))
		printf("当番 / on duty    %s (%s every %s for %s); deputy %s%s%s\n",
		    joined(json_object_get(sh, "on_duty"), ", ", on, sizeof(on)), "shift",
		    str(sh, "every"), str(sh, "for"),
		    joined(json_object_get(sh, "deputy"), ", ", dep, sizeof(dep)),
		    json_is_string(json_object_get(sh, "comment")) ? ": " : "",
		    json_is_string(json_object_get(sh, "comment")) ? str(sh, "comment")
		                                                   : "");
	else
		printf("当番 / on duty    no shift now: the roles on-duty and deputy\n");
	if (json_array_size(list) == 0) {
		printf("no staff configured (staff[] in the configuration)\n");
		return EXIT_OK;
	}
	for (i = 0; i < json_array_size(list); i++)
		if ((int)strlen(str(json_array_get(list, i), "id")) > w)
			w = (int)strlen(str(json_array_get(list, i), "id"));
	printf("\n%-*s %-11s %-19s %-7s %-24s %s\n", w, "ID", "STATE", "UNTIL", "DUTY",
	    "ROLES", "NAME");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);
		int avail = json_is_true(json_object_get(e, "available"));
		const char *duty = json_is_true(json_object_get(e, "on_duty")) ? "on-duty"
		                   : json_is_true(json_object_get(e, "deputy")) ? "deputy"
		                                                                : "-";
		printf("%-*s %-11s %-19s %-7s %-24s %s%s\n", w, str(e, "id"),
		    avail ? "available" : "UNAVAIL",
		    avail ? "-" : when(json_object_get(e, "until")), duty,
		    joined(json_object_get(e, "roles"), ",", roles, sizeof(roles)),
		    str(e, "name"),
		    json_is_true(json_object_get(e, "counted")) ? "" : " (not counted)");
		if (json_is_string(json_object_get(e, "why")))
			printf("%-*s   %s at %s: %s\n", w, "", str(e, "by"),
			    when(json_object_get(e, "since")), str(e, "why"));
	}
	return EXIT_OK;
}

static int
render_mode(json_t *o, const char *text)
{
	json_t *au = json_object_get(o, "auto"), *pend = json_object_get(au, "pending");
	json_t *modes = json_object_get(o, "modes"),
	       *def = json_object_get(o, "deferred");
	char told[512], esc[32];
	size_t i;

	(void)text;
	printf("体制 / mode       %s: %s\n", str(o, "mode"), str(o, "title"));
	printf("種別 / source     %s since %s by %s: %s\n", str(o, "source"),
	    when(json_object_get(o, "since")), str(o, "by"), str(o, "why"));
	if (json_is_true(json_object_get(au, "enabled")))
		printf("自動 / auto       on: the headcount asks for %s; hold %llds%s\n",
		    str(au, "target"), integer(au, "hold_s"),
		    strcmp(str(o, "source"), "declared") == 0
		        ? " (declared: sonae mode auto to follow it)"
		        : "");
	else
		printf("自動 / auto       off (staffing.auto): only declared modes\n");
	if (json_is_object(pend))
		printf("保留 / pending    step down to %s at %s (since %s)\n",
		    str(pend, "mode"), when(json_object_get(pend, "at")),
		    when(json_object_get(pend, "since")));
	print_headcount(json_object_get(o, "headcount"));
	printf("\n  %-12s %-7s %-6s %-8s %-4s %-6s %-10s %s\n", "MODE", "ABSENCE",
	    "ALERT", "ESCALATE", "LIVE", "LOWER", "INSPECTION", "TOLD NOW");
	for (i = 0; i < json_array_size(modes); i++) {
		json_t *m = json_array_get(modes, i);
		char absence[16];
		if (integer(m, "absence") > 0)
			snprintf(
			    absence, sizeof(absence), "%lld%%", integer(m, "absence"));
		else
			snprintf(absence, sizeof(absence), "-");
		printf("%s %-12s %-7s %-6s %-8s %-4lld %-6s %-10s %s\n",
		    json_is_true(json_object_get(m, "current")) ? "*" : " ",
		    str(m, "name"), absence,
		    json_is_true(json_object_get(m, "chain")) ? "chain" : "all",
		    duration_format(
		        integer(m, "escalate_after_s") * 1000, esc, sizeof(esc)),
		    integer(m, "live_availability"), str(m, "lower"),
		    str(m, "inspection"),
		    joined(json_object_get(m, "told_now"), ", ", told, sizeof(told)));
	}
	if (json_array_size(def) > 0) {
		printf("\n保留した作業 / deferred while %s lasts (%zu)\n", str(o, "mode"),
		    json_array_size(def));
		for (i = 0; i < json_array_size(def); i++) {
			json_t *e = json_array_get(def, i);
			printf("  %s  %s\n", when(json_object_get(e, "time")),
			    str(e, "what"));
		}
	}
	return EXIT_OK;
}

static int
render_validate(json_t *o, const char *text)
{
	json_t *errs = json_object_get(o, "errors");
	size_t i;

	(void)text;
	if (json_is_true(json_object_get(o, "ok"))) {
		printf("%s: ok\n", str(o, "config"));
		return EXIT_OK;
	}
	for (i = 0; i < json_array_size(errs); i++)
		fprintf(stderr, "%s\n", json_string_value(json_array_get(errs, i)));
	fprintf(stderr, "%s: %zu error%s\n", str(o, "config"), json_array_size(errs),
	    json_array_size(errs) == 1 ? "" : "s");
	return EXIT_FAILED;
}

static int
render_audit(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "entries");
	size_t i;

	(void)text;
	for (i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);
		char *detail;
		if (json_is_string(json_object_get(e, "invalid"))) {
			printf("(invalid line: %s)\n", str(e, "invalid"));
			continue;
		}
		detail = json_dumps(
		    json_object_get(e, "detail"), JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%6lld  %s  %-16s %-18s %s\n",
		    (long long)json_integer_value(json_object_get(e, "seq")),
		    when(json_object_get(e, "time")), str(e, "actor"), str(e, "action"),
		    detail != NULL ? detail : "");
		free(detail);
	}
	return EXIT_OK;
}

static int
render_verify(json_t *o, const char *text)
{
	json_t *head = json_object_get(o, "head");

	(void)text;
	if (json_is_true(json_object_get(o, "ok"))) {
		printf("%s: ok, %lld entries, head seq %lld %s\n", str(o, "journal"),
		    (long long)json_integer_value(json_object_get(o, "entries")),
		    (long long)json_integer_value(json_object_get(head, "seq")),
		    str(head, "hash"));
		return EXIT_OK;
	}
	fprintf(stderr, "%s:%lld: %s\n", str(o, "journal"),
	    (long long)json_integer_value(json_object_get(o, "line")), str(o, "problem"));
	return EXIT_FAILED;
}

static int
render_traps(json_t *o, const char *text)
{
	json_t *c = json_object_get(o, "counters"), *last = json_object_get(o, "last");

	(void)text;
	if (!json_is_true(json_object_get(o, "enabled"))) {
		printf("traps      no receiver (no traps group in the configuration)\n");
		return EXIT_OK;
	}
	printf("listen     %s\n", str(o, "listen"));
	if (json_is_string(json_object_get(o, "error")))
		printf("NOT MOVED  to %s: %s\n", str(o, "configured"), str(o, "error"));
	printf("received   %lld: %lld polled, %lld folded into a planned poll\n",
	    (long long)json_integer_value(json_object_get(c, "received")),
	    (long long)json_integer_value(json_object_get(c, "polled")),
	    (long long)json_integer_value(json_object_get(c, "coalesced")));
	printf("dropped    %lld unknown source, %lld bad community, %lld malformed, "
	       "%lld unsupported\n",
	    (long long)json_integer_value(json_object_get(c, "unknown_source")),
	    (long long)json_integer_value(json_object_get(c, "bad_community")),
	    (long long)json_integer_value(json_object_get(c, "malformed")),
	    (long long)json_integer_value(json_object_get(c, "unsupported")));
	if (json_is_object(last))
		printf("last       %s from %s at %s\n", str(last, "trap"),
		    str(last, "peer"), when(json_object_get(last, "time")));
	return EXIT_OK;
}

static int
render_text(json_t *o, const char *text)
{
	(void)o;
	printf("%s\n", text);
	return EXIT_OK;
}

static int
render_incidents(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "incidents");
	size_t i;

	(void)text;
	if (json_array_size(list) == 0) {
		printf("%s\n", opt_all ? "no incidents" : "no open incidents");
		return EXIT_OK;
	}
	printf("%5s %-8s %-12s %-19s %-24s %s\n", "ID", "SEVERITY", "STATE", "OPENED",
	    "RULE", "TITLE");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);
		printf("%5lld %-8s %-12s %-19s %-24s %s", integer(e, "id"),
		    str(e, "severity"), str(e, "state"),
		    when(json_object_get(e, "opened")), str(e, "rule"), str(e, "title"));
		if (json_is_true(json_object_get(e, "flapping")))
			printf(" (flapping)");
		if (json_is_integer(json_object_get(e, "merged_into")))
			printf(" (merged into %lld)", integer(e, "merged_into"));
		if (json_is_string(json_object_get(e, "maintenance")))
			printf(" (maintenance %s)", str(e, "maintenance"));
		printf("\n");
	}
	return EXIT_OK;
}

static int
render_incident(json_t *o, const char *text)
{
	json_t *ack = json_object_get(o, "acknowledged"),
	       *res = json_object_get(o, "resolved"),
	       *lat = json_object_get(o, "latency_us"),
	       *folded = json_object_get(o, "folded"),
	       *snap = json_object_get(o, "snapshot"),
	       *timeline = json_object_get(o, "timeline"), *v;
	const char *key;
	char buf[1024];
	size_t i;

	(void)text;
	printf("incident     %lld: %s\n", integer(o, "id"), str(o, "title"));
	printf("rule         %s (%s)\n", str(o, "rule"), str(o, "source"));
	printf("severity     %s\n", str(o, "severity"));
	printf("state        %s%s\n", str(o, "state"),
	    json_is_true(json_object_get(o, "flapping")) ? ", flapping" : "");
	printf("opened       %s\n", when(json_object_get(o, "opened")));
	if (json_is_number(lat))
		printf("detected in  %.3f ms\n", json_number_value(lat) / 1000.0);
	if (json_is_object(ack)) {
		printf("acknowledged by %s at %s", str(ack, "by"),
		    when(json_object_get(ack, "time")));
		if (strcmp(str(ack, "kind"), "sticky") == 0)
			printf(", sticky");
		else if (json_is_string(json_object_get(ack, "expires")))
			printf(", until %s", when(json_object_get(ack, "expires")));
		printf(": %s\n", str(ack, "text"));
	}
	if (json_is_object(res))
		printf("resolved     by %s at %s: %s\n", str(res, "by"),
		    when(json_object_get(res, "time")), str(res, "text"));
	printf("devices      %s\n",
	    joined(json_object_get(o, "devices"), ", ", buf, sizeof(buf)));
	if (json_is_string(json_object_get(o, "playbook")))
		printf("playbook     %s\n", str(o, "playbook"));
	if (json_is_string(json_object_get(o, "maintenance")))
		printf("maintenance  window %s\n", str(o, "maintenance"));
	if (json_is_integer(json_object_get(o, "merged_into")))
		printf("merged into  incident %lld\n", integer(o, "merged_into"));
	if (json_array_size(folded) > 0) {
		printf("\n%-32s %-9s %-19s %s\n", "DETECTOR", "STATE", "SINCE", "REASON");
		for (i = 0; i < json_array_size(folded); i++) {
			json_t *f = json_array_get(folded, i);
			printf("%-32s %-9s %-19s %s\n", str(f, "detector"),
			    str(f, "state"), when(json_object_get(f, "since")),
			    str(f, "reason"));
		}
	}
	if (json_object_size(snap) > 0) {
		printf("\n%-32s %12s %-6s %-7s %s\n", "METRIC (AT OPENING)", "VALUE",
		    "UNIT", "QUALITY", "TIME");
		json_object_foreach(snap, key, v)
		{
			const char *unit = json_string_value(json_object_get(v, "unit"));
			printf("%-32s %12s %-6s %-7s %s\n", key,
			    value_text(json_object_get(v, "value"), buf, sizeof(buf)),
			    unit != NULL ? unit : "", str(v, "quality"),
			    when(json_object_get(v, "time")));
		}
	}
	if (json_array_size(timeline) > 0) {
		printf("\ntimeline\n");
		for (i = 0; i < json_array_size(timeline); i++) {
			json_t *e = json_array_get(timeline, i);
			printf("  %s  %-16s %-18s %s\n", when(json_object_get(e, "time")),
			    str(e, "actor"), str(e, "event"),
			    json_is_string(json_object_get(e, "text")) ? str(e, "text")
			                                               : "");
		}
	}
	return EXIT_OK;
}

static int
render_checks(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "detectors");
	size_t i, nok = 0, shown = 0;

	(void)text;
	for (i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);
		char state[48];
		if (strcmp(str(e, "state"), "ok") == 0) {
			nok++;
			if (!opt_all)
				continue;
		}
		if (shown++ == 0)
			printf("%-32s %-11s %-16s %-19s %7s  %s\n", "DETECTOR", "SOURCE",
			    "STATE", "SINCE", "ATTEMPT", "REASON");
		snprintf(state, sizeof(state), "%s%s", str(e, "state"),
		    json_is_false(json_object_get(e, "hard")) ? " (soft)" : "");
		printf("%-32s %-11s %-16s %-19s %7lld  %s", str(e, "name"),
		    str(e, "source"), state, when(json_object_get(e, "since")),
		    integer(e, "attempt"),
		    json_is_string(json_object_get(e, "reason")) ? str(e, "reason") : "");
		if (json_is_true(json_object_get(e, "flapping")))
			printf(" (flapping, %.0f%%)",
			    json_number_value(json_object_get(e, "flap_pct")));
		if (json_is_integer(json_object_get(e, "incident")))
			printf(" (incident %lld)", integer(e, "incident"));
		printf("\n");
	}
	if (json_array_size(list) == 0)
		printf("no detectors\n");
	else if (!opt_all)
		printf("%s%zu of %zu detectors ok\n", shown > 0 ? "\n" : "", nok,
		    json_array_size(list));
	return EXIT_OK;
}

/* "2026-12-01 22:00:00 to 2026-12-02 02:00:00" or "sun 02:00 for 2h". */
static const char *
window_when(json_t *w, char *buf, size_t len)
{
	if (strcmp(str(w, "repeat"), "once") == 0)
		snprintf(buf, len, "%s to %s", when(json_object_get(w, "start")),
		    when(json_object_get(w, "end")));
	else
		snprintf(buf, len, "%s for %s", str(w, "every"), str(w, "for"));
	return buf;
}

/* "ups1,kind=ups,tag=server-room" */
static const char *
window_targets(json_t *w, char *buf, size_t len)
{
	static const char *const keys[] = { "devices", "kinds", "tags" };
	static const char *const prefix[] = { "", "kind=", "tag=" };
	size_t i, k, off = 0;

	buf[0] = '\0';
	for (k = 0; k < 3; k++) {
		json_t *l = json_object_get(w, keys[k]);
		for (i = 0; i < json_array_size(l) && off < len; i++) {
			const char *s = json_string_value(json_array_get(l, i));
			int n = snprintf(buf + off, len - off, "%s%s%s",
			    off > 0 ? "," : "", prefix[k], s != NULL ? s : "?");
			if (n < 0)
				break;
			off += (size_t)n;
		}
	}
	return buf;
}

static int
render_windows(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "windows");
	char a[128], b[512];
	size_t i;

	(void)text;
	if (json_array_size(list) == 0) {
		printf("no maintenance windows\n");
		return EXIT_OK;
	}
	printf("%-12s %-6s %-6s %-42s %-24s %-19s %s\n", "ID", "SOURCE", "ACTIVE", "WHEN",
	    "DEVICES", "NEXT CHANGE", "COMMENT");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *w = json_array_get(list, i);
		const char *comment = json_string_value(json_object_get(w, "comment"));
		/* Where it comes from: file:line, or who added it. */
		const char *from = json_string_value(json_object_get(w, "origin"));

		if (from == NULL)
			from = json_string_value(json_object_get(w, "created_by"));
		printf("%-12s %-6s %-6s %-42s %-24s %-19s %s", str(w, "id"),
		    str(w, "source"),
		    json_is_true(json_object_get(w, "active")) ? "yes" : "no",
		    window_when(w, a, sizeof(a)), window_targets(w, b, sizeof(b)),
		    when(json_object_get(w, "next_change")),
		    comment != NULL ? comment : "");
		if (from != NULL)
			printf("%s[%s]", comment != NULL ? " " : "", from);
		printf("\n");
	}
	return EXIT_OK;
}

static int
render_queue(json_t *o, const char *text)
{
	json_t *dl = json_object_get(o, "delivery");
	json_t *list = json_object_get(json_object_get(o, "spool"), "messages");
	char buf[512];
	size_t i;

	(void)text;
	if (json_is_true(json_object_get(dl, "down")))
		printf("mail      CANNOT LEAVE THE SITE: %s\n", str(dl, "down_reason"));
	else if (json_is_object(dl))
		printf("mail      ok\n");
	else
		printf("mail      no relays configured\n");
	if (json_is_object(dl))
		printf(
		    "delivered %lld, failed attempts %lld, refused %lld; last relay %s\n",
		    integer(dl, "delivered"), integer(dl, "failed"),
		    integer(dl, "refused"), str(dl, "last_relay"));
	if (json_array_size(list) == 0) {
		printf("no messages queued\n");
		return EXIT_OK;
	}
	printf("%-6s %-8s %-19s %-8s %-19s %-28s %s\n", "ID", "INCIDENT", "QUEUED",
	    "ATTEMPTS", "NEXT ATTEMPT", "TO", "LAST ERROR");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *m = json_array_get(list, i);
		long long inc = integer(m, "incident");
		char id[24];
		snprintf(id, sizeof(id), inc > 0 ? "#%lld" : "-", inc);
		printf("%-6lld %-8s %-19s %-8lld %-19s %-28s %s%s%s\n", integer(m, "id"),
		    id, when(json_object_get(m, "created")), integer(m, "attempts"),
		    json_is_true(json_object_get(m, "sending"))
		        ? "sending now"
		        : when(json_object_get(m, "next_attempt")),
		    joined(json_object_get(m, "rcpt"), ",", buf, sizeof(buf)),
		    str(m, "last_error"),
		    json_is_string(json_object_get(m, "last_relay")) ? " via " : "",
		    json_is_string(json_object_get(m, "last_relay"))
		        ? str(m, "last_relay")
		        : "");
	}
	return EXIT_OK;
}

/* "停電対応 / Power outage"; either alone when the other is missing. */
static const char *
titles(json_t *o, char *buf, size_t len)
{
	const char *ja = json_string_value(json_object_get(o, "title_ja"));
	const char *en = json_string_value(json_object_get(o, "title_en"));

	if (ja != NULL && en != NULL)
		snprintf(buf, len, "%s / %s", ja, en);
	else
		snprintf(buf, len, "%s", ja != NULL ? ja : en != NULL ? en : "-");
	return buf;
}

/* A run's state: "running", "done (drill)". */
static const char *
run_state(json_t *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", str(r, "state"),
	    json_is_true(json_object_get(r, "drill")) ? " (drill)" : "");
	return buf;
}

/* A playbook's last run or drill: "#3 done 2026-11-25 20:01:02", or none. */
static const char *
run_cell(json_t *r, int mark_drill, const char *none, char *buf, size_t len)
{
	char state[48];

	if (!json_is_object(r))
		snprintf(buf, len, "%s", none);
	else
		snprintf(buf, len, "#%lld %s %s", integer(r, "id"),
		    mark_drill ? run_state(r, state, sizeof(state)) : str(r, "state"),
		    when(json_object_get(r, "started")));
	return buf;
}

/* The ids of a list as "3,5": numbers, strings or objects' "id" ("-" if none). */
static const char *
ids(json_t *list, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(list) && off < len; i++) {
		json_t *v = json_array_get(list, i);
		int n;
		if (json_is_object(v))
			v = json_object_get(v, "id");
		if (json_is_integer(v))
			n = snprintf(buf + off, len - off, "%s%lld", off > 0 ? "," : "",
			    (long long)json_integer_value(v));
		else
			n = snprintf(buf + off, len - off, "%s%s", off > 0 ? "," : "",
			    json_is_string(v) ? json_string_value(v) : "?");
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
	return buf;
}

/* A duration for people: "38ms", "2.4s", "12min34s". */
static const char *
took(long long ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%lldms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
	else
		duration_format((ms + 500) / 1000 * 1000, buf, len);
	return buf;
}

/* A time of the day as "20:01:02" (day: "2026-11-25 ..."), of another day in full. */
static const char *
clock_of(json_t *v, const char *day)
{
	const char *w = when(v);

	if (strlen(w) == 19 && strncmp(w, day, 10) == 0)
		return w + 11;
	return w;
}

/* Add "; " and a part to the text in buf. */
static void PRINTFLIKE(3, 4) add_part(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;

	if (off > 0 && off + 2 < len) {
		memcpy(buf + off, "; ", 3);
		off += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

/* The cells of a line of playbooks; the title is the last one. */
#define PB_COLS 6

static void
playbook_cells(json_t *p, char cells[PB_COLS][256])
{
	snprintf(cells[0], 256, "%s", str(p, "name"));
	joined(json_object_get(p, "triggers"), ",", cells[1], 256);
	snprintf(cells[2], 256, "%lld", integer(p, "steps"));
	run_cell(json_object_get(p, "last_run"), 1, "never", cells[3], 256);
	run_cell(json_object_get(p, "last_drill"), 0, "never drilled", cells[4], 256);
	ids(json_object_get(p, "running"), cells[5], 256);
}

static int
render_playbooks(json_t *o, const char *text)
{
	static const char *const head[PB_COLS] = { "NAME", "TRIGGERS", "STEPS",
		"LAST RUN", "LAST DRILL", "RUNNING" };
	json_t *list = json_object_get(o, "playbooks");
	char cells[PB_COLS][256], title[512];
	int w[PB_COLS], k;
	size_t i;

	(void)text;
	if (json_array_size(list) == 0) {
		printf("no playbooks\n");
		return EXIT_OK;
	}
	/* Columns as wide as their widest cell; the titles last, as Japanese is
	 * wider on a terminal than its bytes. */
	for (k = 0; k < PB_COLS; k++)
		w[k] = (int)strlen(head[k]);
	for (i = 0; i < json_array_size(list); i++) {
		playbook_cells(json_array_get(list, i), cells);
		for (k = 0; k < PB_COLS; k++)
			if ((int)strlen(cells[k]) > w[k])
				w[k] = (int)strlen(cells[k]);
	}
	printf("%-*s %-*s %*s  %-*s %-*s %-*s %s\n", w[0], head[0], w[1], head[1], w[2],
	    head[2], w[3], head[3], w[4], head[4], w[5], head[5], "TITLE");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *p = json_array_get(list, i);
		playbook_cells(p, cells);
		printf("%-*s %-*s %*s  %-*s %-*s %-*s %s\n", w[0], cells[0], w[1],
		    cells[1], w[2], cells[2], w[3], cells[3], w[4], cells[4], w[5],
		    cells[5], titles(p, title, sizeof(title)));
	}
	return EXIT_OK;
}

/* Runs, one line each (RUN_SUMMARY), for runs and playbook NAME. */
static void
print_runs(json_t *list, int with_playbook)
{
	char state[48], inc[24], waiting[256], step[512];
	size_t i;

	printf("%5s ", "RUN");
	if (with_playbook)
		printf("%-22s ", "PLAYBOOK");
	printf("%-8s %-16s %-19s %-16s %s\n", "INCIDENT", "STATE", "STARTED", "WAITING",
	    "STEP");
	for (i = 0; i < json_array_size(list); i++) {
		json_t *r = json_array_get(list, i), *st = json_object_get(r, "step");
		if (integer(r, "incident") > 0)
			snprintf(inc, sizeof(inc), "#%lld", integer(r, "incident"));
		else
			snprintf(inc, sizeof(inc), "-");
		if (json_is_object(st))
			snprintf(step, sizeof(step), "%s: %s", str(st, "id"),
			    str(st, "title"));
		else
			snprintf(step, sizeof(step), "-");
		printf("%5lld ", integer(r, "id"));
		if (with_playbook)
			printf("%-22s ", str(r, "playbook"));
		printf("%-8s %-16s %-19s %-16s %s\n", inc,
		    run_state(r, state, sizeof(state)),
		    when(json_object_get(r, "started")),
		    ids(json_object_get(r, "waiting"), waiting, sizeof(waiting)), step);
	}
}

static int
render_playbook(json_t *o, const char *text)
{
	json_t *params = json_object_get(o, "parameters"),
	       *steps = json_object_get(o, "steps"), *runs = json_object_get(o, "runs");
	char buf[1024];
	size_t i, idw = 4;
	int destructive = 0;

	(void)text;
	printf("playbook     %s\n", str(o, "name"));
	printf("title        %s\n", titles(o, buf, sizeof(buf)));
	if (json_is_string(json_object_get(o, "description")))
		printf("description  %s\n", str(o, "description"));
	printf("file         %s\n", str(o, "file"));
	printf("triggers     %s\n",
	    joined(json_object_get(o, "triggers"), ", ", buf, sizeof(buf)));
	printf("triggered by %s\n",
	    joined(json_object_get(o, "triggered_by"), ", ", buf, sizeof(buf)));
	/* The values last: they may be Japanese, wider than their bytes. */
	if (json_array_size(params) > 0)
		printf("\n%-20s %-8s %s\n", "PARAMETER", "SOURCE", "VALUE (DESCRIPTION)");
	for (i = 0; i < json_array_size(params); i++) {
		json_t *p = json_array_get(params, i);
		printf("%-20s %-8s ", str(p, "name"), str(p, "source"));
		if (json_is_string(json_object_get(p, "source")))
			printf("%s",
			    value_text(json_object_get(p, "value"), buf, sizeof(buf)));
		else
			printf(
			    "none: a run gives it with --set %s=VALUE", str(p, "name"));
		if (json_is_string(json_object_get(p, "description")))
			printf(" (%s)", str(p, "description"));
		printf("\n");
	}
	for (i = 0; i < json_array_size(steps); i++) {
		json_t *s = json_array_get(steps, i);
		if (strlen(str(s, "id")) > idw)
			idw = strlen(str(s, "id"));
		destructive |= json_is_true(json_object_get(s, "destructive"));
	}
	printf("\nsteps%s\n",
	    destructive ? " (! destructive: a drill records it and runs nothing)" : "");
	for (i = 0; i < json_array_size(steps); i++) {
		json_t *s = json_array_get(steps, i);
		char d[32];
		buf[0] = '\0';
		if (json_is_string(json_object_get(s, "when")))
			add_part(buf, sizeof(buf), "when %s", str(s, "when"));
		if (integer(s, "timeout_ms") > 0)
			add_part(buf, sizeof(buf), "timeout %s",
			    duration_format(integer(s, "timeout_ms"), d, sizeof(d)));
		if (integer(s, "retries") > 0)
			add_part(buf, sizeof(buf), "retries %lld", integer(s, "retries"));
		if (json_is_string(json_object_get(s, "on_failure")))
			add_part(buf, sizeof(buf), "on failure %s", str(s, "on_failure"));
		printf("%3zu %s %-*s %-13s %s\n", i + 1,
		    json_is_true(json_object_get(s, "destructive")) ? "!" : " ", (int)idw,
		    str(s, "id"), str(s, "type"), str(s, "title"));
		if (buf[0] != '\0')
			printf("%*s%s\n", (int)idw + 21, "", buf);
	}
	if (json_array_size(runs) == 0)
		printf("\nnever run\n");
	else {
		printf("\nlast runs\n");
		print_runs(runs, 0);
	}
	return EXIT_OK;
}

static int
render_runs(json_t *o, const char *text)
{
	json_t *list = json_object_get(o, "runs");

	(void)text;
	if (json_array_size(list) == 0)
		printf("%s\n",
		    opt_all ? "no runs" : "no runs under way or ended in the last 24 h");
	else
		print_runs(list, 1);
	return EXIT_OK;
}

/* The checklist mark of a step of run-status. */
static const char *
step_mark(json_t *s)
{
	static const char *const marks[][2] = { { "done", "[x]" }, { "pending", "[ ]" },
		{ "running", "[>]" }, { "waiting", "[?]" }, { "failed", "[!]" },
		{ "skipped", "[-]" }, { "unknown", "[#]" } };
	const char *state = str(s, "state");
	size_t i;

	if (json_is_true(json_object_get(s, "would_run")))
		return "[~]";
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strcmp(state, marks[i][0]) == 0)
			return marks[i][1];
	return "[*]";
}

/* The entry of a run's "waiting" for a step, or NULL. */
static json_t *
waiting_for(json_t *run, const char *step)
{
	json_t *list = json_object_get(run, "waiting");
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (strcmp(str(json_array_get(list, i), "id"), step) == 0)
			return json_array_get(list, i);
	return NULL;
}

#define OUTPUT_LINES 5   /* of a step's output in run-status: the last ones */
#define OUTPUT_WIDTH 160 /* bytes of a line of it */
#define LOG_LINES    10  /* of a run's log in run-status: the last ones */

/*
 * A step's output, indented: its last OUTPUT_LINES lines, each cut at
 * OUTPUT_WIDTH bytes (on a character boundary), control characters as "?":
 * it is what a program wrote, not for the terminal to obey.
 */
static void
print_output(const char *out, long long run)
{
	const char *end = out + strlen(out), *p;
	size_t lines = 1, skip, col = 0;

	while (end > out && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (end == out)
		return;
	for (p = out; p < end; p++)
		lines += *p == '\n';
	skip = lines > OUTPUT_LINES ? lines - OUTPUT_LINES : 0;
	if (skip > 0)
		printf("      | (%zu earlier line%s: sonae --json run-status %lld)\n",
		    skip, skip == 1 ? "" : "s", run);
	for (p = out; skip > 0; p++)
		skip -= *p == '\n';
	printf("      | ");
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n') {
			printf("\n      | ");
			col = 0;
			continue;
		}
		if (col > OUTPUT_WIDTH)
			continue; /* cut */
		if (col == OUTPUT_WIDTH) {
			/* Never cut a character: stop at the start of the next one. */
			if ((c & 0xc0) == 0x80)
				putchar(c);
			else {
				printf("...");
				col++;
			}
			continue;
		}
		col++;
		if (c == 0xc2 && p + 1 < end && (unsigned char)p[1] >= 0x80 &&
		    (unsigned char)p[1] <= 0x9f) {
			putchar('?'); /* a C1 control */
			p++;
		} else if (c < 0x20 || c == 0x7f)
			putchar(c == '\t' ? ' ' : '?');
		else
			putchar(c);
	}
	printf("\n");
}

/* One line of the checklist, and what a human must do about it. */
static void
print_step(json_t *run, json_t *s, int idw, const char *day)
{
	json_t *started = json_object_get(s, "started"),
	       *ended = json_object_get(s, "ended");
	const char *state = str(s, "state"), *mark = step_mark(s), *id = str(s, "id");
	long long rid = integer(run, "id");
	char buf[1024], d[32];

	buf[0] = '\0';
	if (strcmp(mark, "[*]") == 0)
		add_part(buf, sizeof(buf), "state %s", state);
	if (json_is_string(started) && json_is_string(ended)) {
		char from[32];
		snprintf(from, sizeof(from), "%s", clock_of(started, day));
		if (strcmp(from, clock_of(ended, day)) == 0)
			add_part(buf, sizeof(buf), "%s", from);
		else
			add_part(
			    buf, sizeof(buf), "%s to %s", from, clock_of(ended, day));
		if (json_is_integer(json_object_get(s, "duration_ms")))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " (%s)",
			    took(integer(s, "duration_ms"), d, sizeof(d)));
	} else if (json_is_string(started))
		add_part(buf, sizeof(buf), "%s %s",
		    strcmp(state, "waiting") == 0   ? "asked"
		    : strcmp(state, "running") == 0 ? "since"
		                                    : "started",
		    clock_of(started, day));
	if (integer(s, "attempts") > 1)
		add_part(buf, sizeof(buf), "attempt %lld", integer(s, "attempts"));
	if (json_is_true(json_object_get(s, "would_run")))
		add_part(buf, sizeof(buf), "drill: not run");
	if (json_is_string(json_object_get(s, "result")))
		add_part(buf, sizeof(buf), "%s", str(s, "result"));
	if (json_is_string(json_object_get(s, "actor")))
		add_part(buf, sizeof(buf), "by %s", str(s, "actor"));
	printf(
	    "%s %-*s %s%s%s\n", mark, idw, id, str(s, "title"), buf[0] ? "  " : "", buf);
	if (strcmp(state, "waiting") == 0) {
		json_t *w = waiting_for(run, id);
		json_t *who = json_object_get(s, "who"),
		       *dl = json_object_get(s, "deadline");
		const char *q = json_string_value(json_object_get(s, "question"));
		char people[256];
		if (q == NULL)
			q = str(w, "question");
		if (!json_is_array(who))
			who = json_object_get(w, "who");
		if (!json_is_string(dl))
			dl = json_object_get(w, "deadline");
		printf("      %s: %s", joined(who, ", ", people, sizeof(people)), q);
		if (json_is_string(dl) && json_is_string(json_object_get(w, "default")))
			printf(" (answer by %s, else %s)", clock_of(dl, day),
			    str(w, "default"));
		else if (json_is_string(dl))
			printf(" (answer by %s)", clock_of(dl, day));
		printf("\n      yes: sonae confirm %lld %s -m TEXT\n", rid, id);
		printf("      no:  sonae confirm %lld %s --no -m TEXT\n", rid, id);
	} else if (strcmp(state, "unknown") == 0) {
		printf("      sonaed stopped while it ran: did it happen?\n");
		printf("      sonae confirm %lld %s -m TEXT (it happened) | --no (it did "
		       "not) | --retry (run it again)\n",
		    rid, id);
	}
	if (json_is_string(json_object_get(s, "output")))
		print_output(str(s, "output"), rid);
}

static int
render_run_status(json_t *o, const char *text)
{
	json_t *steps = json_object_get(o, "steps"), *log = json_object_get(o, "log"),
	       *pr = json_object_get(o, "progress");
	const char *reason = str(o, "reason");
	char buf[1024], day[32];
	size_t i, n, idw = 4;

	(void)text;
	if (json_is_true(json_object_get(o, "drill")))
		printf("【訓練】DRILL: nothing destructive runs\n");
	printf("run          %lld\n", integer(o, "id"));
	printf("playbook     %s (%s)\n", str(o, "playbook"), titles(o, buf, sizeof(buf)));
	if (integer(o, "incident") > 0)
		printf("incident     %lld\n", integer(o, "incident"));
	else
		printf("incident     none\n");
	printf("state        %s\n", run_state(o, buf, sizeof(buf)));
	printf("requested by %s\n", str(o, "requested_by"));
	printf("reason       %s\n", reason[0] != '\0' ? reason : "-");
	printf("started      %s\n", when(json_object_get(o, "started")));
	if (json_is_string(json_object_get(o, "ended")))
		printf("ended        %s\n", when(json_object_get(o, "ended")));
	if (json_is_object(pr))
		printf("progress     %lld of %lld steps done, %lld failed, %lld skipped, "
		       "%lld pending\n",
		    integer(pr, "done"), integer(pr, "total"), integer(pr, "failed"),
		    integer(pr, "skipped"), integer(pr, "pending"));
	snprintf(day, sizeof(day), "%s", when(json_object_get(o, "started")));
	for (i = 0; i < json_array_size(steps); i++)
		if (strlen(str(json_array_get(steps, i), "id")) > idw)
			idw = strlen(str(json_array_get(steps, i), "id"));
	if (json_array_size(steps) > 0)
		printf("\n");
	for (i = 0; i < json_array_size(steps); i++)
		print_step(o, json_array_get(steps, i), (int)idw, day);
	if ((n = json_array_size(log)) == 0)
		return EXIT_OK;
	if (n > LOG_LINES)
		printf("\nlog, the last %d of %zu lines (all: sonae --json run-status "
		       "%lld)\n",
		    LOG_LINES, n, integer(o, "id"));
	else
		printf("\nlog\n");
	for (i = n > LOG_LINES ? n - LOG_LINES : 0; i < n; i++) {
		json_t *e = json_array_get(log, i);
		printf("  %s  %-16s %-18s %s\n", when(json_object_get(e, "time")),
		    str(e, "actor"), str(e, "event"),
		    json_is_string(json_object_get(e, "text")) ? str(e, "text") : "");
	}
	return EXIT_OK;
}

/* validate FILE runs here, with no daemon: the same loader, the same messages. */
static int
validate_local(const char *path)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf = conf_load(path, &errs);
	json_t *list = json_array(), *o;
	size_t i;
	int rc;

	for (i = 0; i < errs.n; i++)
		json_array_append_new(list, json_string(errs.v[i]));
	o = json_pack(
	    "{s:s, s:b, s:o}", "config", path, "ok", conf != NULL, "errors", list);
	if (conf != NULL)
		json_object_set_new(
		    o, "devices", json_integer((json_int_t)conf->devices.n));
	conf_errors_clear(&errs);
	conf_free(conf);
	if (json_out) {
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		rc = json_is_true(json_object_get(o, "ok")) ? EXIT_OK : EXIT_FAILED;
	} else
		rc = render_validate(o, NULL);
	json_decref(o);
	return rc;
}

/* One file of a report, written whole or not at all; prints its path. */
static int
report_file(json_t *r, const char *base, enum report_format fmt)
{
	struct atomic_file af;
	char *path, err[512];
	int rc = EXIT_OK;

	xasprintf(&path, "%s%s%s.%s", opt_dir,
	    opt_dir[0] != '\0' && opt_dir[strlen(opt_dir) - 1] == '/' ? "" : "/", base,
	    fmt == REPORT_HTML ? "html" : "md");
	if (atomic_open(&af, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "sonae: %s\n", err);
		free(path);
		return EXIT_FAILED;
	}
	if (report_render(r, fmt, af.f, err, sizeof(err)) == -1) {
		atomic_abort(&af);
		fprintf(stderr, "sonae: %s: %s\n", path, err);
		rc = EXIT_FAILED;
	} else if (atomic_commit(&af, err, sizeof(err)) == -1) {
		fprintf(stderr, "sonae: %s\n", err);
		rc = EXIT_FAILED;
	} else
		printf("%s\n", path);
	free(path);
	return rc;
}

/*
 * A report's files in opt_dir, in the site's time zone: every time in them
 * is formatted here, from the report's Unix ms.
 */
static int
render_report(json_t *r, const char *text)
{
	json_t *site = json_object_get(r, "site");
	const char *zone = json_string_value(json_object_get(site, "timezone"));
	char base[64];
	int rc = EXIT_OK;

	(void)text;
	if (report_basename(r, base, sizeof(base)) == -1) {
		fprintf(stderr, "sonae: not a sonae report (no \"report\": incident, "
		                "drill or inspection)\n");
		return EXIT_FAILED;
	}
	if (zone != NULL && tz_apply(zone) == -1) {
		fprintf(stderr, "sonae: unknown time zone \"%s\": times in UTC\n", zone);
		tz_apply("UTC");
		json_object_set_new(site, "timezone", json_string("UTC"));
		report_basename(r, base, sizeof(base));
	}
	if (mkdir(opt_dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "sonae: %s: %s\n", opt_dir, strerror(errno));
		return EXIT_FAILED;
	}
	if (opt_format == NULL || strcmp(opt_format, "md") != 0)
		rc = report_file(r, base, REPORT_HTML);
	if (rc == EXIT_OK && (opt_format == NULL || strcmp(opt_format, "html") != 0))
		rc = report_file(r, base, REPORT_MD);
	return rc;
}

/* report render FILE: a saved report, with no daemon. */
static int
report_local(const char *path)
{
	json_error_t jerr;
	json_t *r;
	int rc;

	if ((r = json_load_file(path, 0, &jerr)) == NULL) {
		if (jerr.line > 0)
			fprintf(stderr, "sonae: %s:%d: %s\n", path, jerr.line, jerr.text);
		else
			fprintf(stderr, "sonae: %s: %s\n", path, jerr.text);
		return EXIT_FAILED;
	}
	if (json_out) {
		json_dumpf(r, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		rc = EXIT_OK;
	} else
		rc = render_report(r, NULL);
	json_decref(r);
	return rc;
}

static FILE *
connect_daemon(const char *path)
{
	struct sockaddr_un sun;
	struct timeval tv = { REPLY_TIMEOUT_S, 0 };
	int fd;
	FILE *f;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "sonae: socket path too long: %s\n", path);
		exit(EXIT_FAILED);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "sonae: cannot reach sonaed at %s: %s\n", path,
		    strerror(errno));
		exit(EXIT_FAILED);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((f = fdopen(fd, "r")) == NULL) {
		fprintf(stderr, "sonae: fdopen: %s\n", strerror(errno));
		exit(EXIT_FAILED);
	}
	return f;
}

/* Read "<status> <text>"; returns status, text in buf. */
static int
read_status(FILE *f, char **line, size_t *cap, const char **text)
{
	ssize_t n;
	char *end;
	long st;

	if ((n = getline(line, cap, f)) <= 0) {
		fprintf(
		    stderr, "sonae: sonaed closed the connection without an answer\n");
		exit(EXIT_FAILED);
	}
	if ((*line)[n - 1] == '\n')
		(*line)[n - 1] = '\0';
	st = strtol(*line, &end, 10);
	if (end == *line || (*end != ' ' && *end != '\0')) {
		fprintf(stderr, "sonae: unexpected answer: %s\n", *line);
		exit(EXIT_FAILED);
	}
	*text = *end == ' ' ? end + 1 : end;
	return (int)st;
}

static int
remote(const char *sock, int argc, char **argv, const struct cmd *c)
{
	char *req, *out, *line = NULL;
	const char *text;
	size_t cap = 0, off, len;
	ssize_t n;
	int st, rc;
	json_t *body = NULL;
	json_error_t jerr;
	FILE *f;

	if ((req = proto_join(argc, argv)) == NULL)
		usage("arguments must be single lines of UTF-8 text");
	f = connect_daemon(sock);
	xasprintf(&out, "HELLO %d\n%s\n", SONAE_PROTO_VERSION, req);
	free(req);
	/*
	 * A write that fails (the daemon refused us and closed) is not the
	 * end: its one-line reason is still there to read.
	 */
	for (off = 0, len = strlen(out); off < len; off += (size_t)n)
		if ((n = write(fileno(f), out + off, len - off)) <= 0)
			break;
	free(out);
	if ((st = read_status(f, &line, &cap, &text)) < 0) {
		fprintf(stderr, "sonae: %s\n", text);
		exit(st == ST_USAGE ? EXIT_USAGE : EXIT_FAILED);
	}
	if ((st = read_status(f, &line, &cap, &text)) < 0) {
		fprintf(stderr, "sonae: %s\n", text);
		free(line);
		fclose(f);
		return st == ST_USAGE ? EXIT_USAGE : EXIT_FAILED;
	}
	if (st >= 1) {
		char *status_text = xstrdup(text);
		n = getline(&line, &cap, f);
		if (n <= 0 || (body = json_loadb(line, (size_t)n, 0, &jerr)) == NULL) {
			fprintf(stderr, "sonae: unreadable answer from sonaed\n");
			exit(EXIT_FAILED);
		}
		free(line);
		line = status_text;
		text = line;
	}
	if (json_out && body != NULL) {
		json_dumpf(body, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		rc = json_is_false(json_object_get(body, "ok")) ? EXIT_FAILED : EXIT_OK;
	} else if (json_out) {
		json_t *o = json_pack("{s:s}", "result", text);
		json_dumpf(o, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(o);
		rc = EXIT_OK;
	} else
		rc = c->render(body, text);
	json_decref(body);
	free(line);
	fclose(f);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("SONAE_SOCKET");
	const struct cmd *c;
	char *req[PROTO_MAX_ARGS];
	int ch, nreq = 0, words, npos = 0, i;

	if (sock == NULL)
		sock = DEFAULT_SOCKET;
	/* A daemon that refuses us closes at once: read its reason, do not die. */
	signal(SIGPIPE, SIG_IGN);
	/* Options before the command only: "sonae device x --history" keeps its own. */
	while ((ch = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json_out = 1;
			break;
		case 'V':
			printf("sonae %s\n", SONAE_VERSION);
			return EXIT_OK;
		case 'h':
		default:
			usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(NULL);
	for (c = cmds; c->words != NULL; c++) {
		const char *sp = strchr(c->words, ' ');
		if (sp == NULL && strcmp(c->words, argv[0]) == 0) {
			words = 1;
			break;
		}
		if (sp != NULL && argc >= 2 &&
		    strlen(argv[0]) == (size_t)(sp - c->words) &&
		    strncmp(c->words, argv[0], (size_t)(sp - c->words)) == 0 &&
		    strcmp(sp + 1, argv[1]) == 0) {
			words = 2;
			break;
		}
	}
	if (c->words == NULL)
		usage("unknown command \"%s\"", argv[0]);
	for (i = 0; i < words; i++)
		req[nreq++] = argv[i];
	/* Positional arguments go first on the wire, then options. */
	for (i = words; i < argc; i++) {
		if (is_option(argv[i])) {
			const struct opt *o;
			for (o = c->opts; o->name != NULL; o++)
				if (strcmp(o->name, argv[i]) == 0)
					break;
			i += o->name != NULL && o->has_arg;
			continue;
		}
		if (++npos > c->max_args)
			usage("too many arguments (usage: sonae %s)", c->usage);
		if (nreq + 1 > PROTO_MAX_ARGS)
			usage("too many arguments");
		req[nreq++] = argv[i];
	}
	for (i = words; i < argc; i++) {
		const struct opt *o;
		if (strcmp(argv[i], "--json") == 0) {
			json_out = 1;
			continue;
		}
		if (is_option(argv[i])) {
			for (o = c->opts; o->name != NULL; o++)
				if (strcmp(o->name, argv[i]) == 0)
					break;
			if (o->name == NULL)
				usage("%s: unknown option %s (usage: sonae %s)", c->words,
				    argv[i], c->usage);
			if (o->has_arg && i + 1 >= argc)
				usage("%s needs a value", argv[i]);
			if (strcmp(o->name, "--all") == 0)
				opt_all = 1;
			if (strcmp(o->name, "-o") == 0)
				opt_dir = argv[i + 1];
			if (strcmp(o->name, "--format") == 0)
				opt_format = argv[i + 1];
			if (o->local) {
				i += o->has_arg;
				continue;
			}
			if (nreq + 2 > PROTO_MAX_ARGS)
				usage("too many arguments");
			req[nreq++] = argv[i];
			if (o->has_arg)
				req[nreq++] = argv[++i];
			continue;
		}
	}
	if (npos < c->min_args)
		usage("missing arguments (usage: sonae %s)", c->usage);
	if (strcmp(c->words, "validate") == 0 && npos == 1)
		return validate_local(req[words]);
	if (opt_format != NULL && strcmp(opt_format, "html") != 0 &&
	    strcmp(opt_format, "md") != 0 && strcmp(opt_format, "both") != 0)
		usage("--format is html, md or both (usage: sonae %s)", c->usage);
	if (strcmp(c->words, "report render") == 0)
		return report_local(req[words]);
	return remote(sock, nreq, req, c);
}

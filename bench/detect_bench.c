/*
 * The detection layer under load: RULES rules over METRICS metrics (devices
 * of ten metrics each), inside a real daemon (configuration loaded and
 * compiled by sonaed's loader, journal open), driven the way a probe drives
 * it: a poll's samples go into the store, then the engine is told the device
 * changed.  Measured with CLOCK_MONOTONIC around each call:
 *
 *   - the cost per sample update: a device's ten samples committed and every
 *     rule reading them evaluated, divided by ten; the same with the engine
 *     detached gives what the store alone costs, and the difference is the
 *     evaluation's;
 *   - the time from a sample's arrival to its incident being open: one
 *     sample crossing a rule's threshold, until the call returns with the
 *     incident open (its journal entry written); then back, resolved;
 *   - the state file written at the end of that loop turn (detect.json), and
 *     the peak resident memory.
 *
 * usage: detect_bench [-r RULES] [-m METRICS] [-u POLLS] [-i INCIDENTS] [-o FILE]
 */
#include <sys/resource.h>

#include <ftw.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"

#define PER_DEVICE 10

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1];
}

static void
die(const char *what)
{
	fprintf(stderr, "detect_bench: %s\n", what);
	exit(1);
}

/* The configuration: devices d00000.. with metrics m0..m9, and the rules. */
static char *
config(const char *dir, size_t ndev, size_t nrules)
{
	size_t cap = 256 + ndev * 160 + nrules * 160, len = 0, i;
	char *s = xmalloc(cap);

#define ADD(...) len += (size_t)snprintf(s + len, cap - len, __VA_ARGS__)
	ADD("site: { name = \"bench\"; };\n");
	ADD("daemon: { state_dir = \"%s/state\"; };\n", dir);
	ADD("control: { socket = \"%s/sonae.sock\"; };\n", dir);
	ADD("devices = (\n");
	for (i = 0; i < ndev; i++)
		ADD("{ name = \"d%05zu\"; kind = \"sensor\"; tags = [\"g%zu\"]; "
		    "interval = \"1d\"; replay = { scenario = \"x.replay\"; }; }%s\n",
		    i, i / 10, i + 1 < ndev ? "," : "");
	ADD(");\nrules = (\n");
	/*
	 * Seven in ten compare one metric, two in ten combine two metrics of a
	 * device, one in ten counts over a group of ten devices; every metric is
	 * read by about RULES / METRICS rules.
	 */
	for (i = 0; i < nrules; i++) {
		size_t dev = (i * 7919) % ndev, m = (i / ndev) % PER_DEVICE;
		switch (i % 10) {
		case 7:
		case 8:
			ADD("{ name = \"r%zu\"; when = \"d%05zu.m%zu > 50 && d%05zu.m%zu "
			    "< "
			    "-5\"; }",
			    i, dev, m, dev, (m + 1) % PER_DEVICE);
			break;
		case 9:
			ADD("{ name = \"r%zu\"; when = \"count(tag=g%zu, m%zu > 95) >= "
			    "3\"; "
			    "severity = \"warning\"; }",
			    i, dev / 10, m);
			break;
		default:
			ADD("{ name = \"r%zu\"; when = \"d%05zu.m%zu > 90\"; }", i, dev,
			    m);
		}
		ADD("%s\n", i + 1 < nrules ? "," : "");
	}
	ADD(");\n");
#undef ADD
	if (len >= cap)
		die("configuration buffer too small");
	return s;
}

#define NELEM_SERIES (1 << 20)
static struct series *series_of[NELEM_SERIES];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
poll_device(struct daemon *d, size_t dev, const double *v)
{
	struct sample smp = { .q = Q_OK };
	size_t k;

	smp.t_ms = time_now_ms();
	for (k = 0; k < PER_DEVICE; k++) {
		smp.num = v[k];
		series_update(series_of[dev * PER_DEVICE + k], &smp);
	}
	detect_device_changed(daemon_detect(d), daemon_device_at(d, dev));
}

static size_t
open_incidents(struct daemon *d)
{
	json_t *o = detect_incidents_json(daemon_detect(d), 0);
	size_t n = json_array_size(json_object_get(o, "incidents"));

	json_decref(o);
	return n;
}

int
main(int argc, char **argv)
{
	size_t nrules = 10000, nmetrics = 20000, npolls = 20000, ninc = 2000;
	size_t ndev, i, k;
	const char *out = NULL;
	char dir[] = "/tmp/sonae-detect-bench-XXXXXX", path[512], err[512], *text;
	struct conf_errors errs = { NULL, 0 };
	struct event_base *base;
	struct conf *conf;
	struct daemon *d;
	struct rusage ru;
	int64_t *upd, *store_only, *open_ns, *close_ns, *save_ns, t0, t_load;
	double v[PER_DEVICE];
	FILE *f;
	int c;

	while ((c = getopt(argc, argv, "r:m:u:i:o:")) != -1)
		switch (c) {
		case 'r':
			nrules = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			nmetrics = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			npolls = strtoul(optarg, NULL, 10);
			break;
		case 'i':
			ninc = strtoul(optarg, NULL, 10);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			die("usage: detect_bench [-r RULES] [-m METRICS] [-u POLLS] "
			    "[-i INCIDENTS] [-o FILE]");
		}
	ndev = nmetrics / PER_DEVICE;
	if (ndev < 10 || ndev * PER_DEVICE > NELEM_SERIES || nrules < 10)
		die("need 100 <= METRICS <= 1M and RULES >= 10");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	log_init(1, 0);
	tz_apply("Asia/Tokyo");
	snprintf(path, sizeof(path), "%s/x.replay", dir);
	if ((f = fopen(path, "w")) == NULL)
		die("x.replay");
	fputs("0 x=1\nend 1d\n", f);
	fclose(f);
	text = config(dir, ndev, nrules);
	snprintf(path, sizeof(path), "%s/sonae.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		die("sonae.conf");
	fputs(text, f);
	fclose(f);
	free(text);

	t0 = now_ns();
	if ((conf = conf_load(path, &errs)) == NULL)
		die(errs.n ? errs.v[0] : "configuration refused");
	base = event_base_new();
	if (daemon_prepare_state_dir(conf, getuid(), getgid(), err, sizeof(err)) == -1)
		die(err);
	d = daemon_new(base, conf, path);
	t_load = now_ns() - t0;
	if (daemon_start(d, err, sizeof(err)) == -1)
		die(err);
	for (i = 0; i < ndev; i++)
		for (k = 0; k < PER_DEVICE; k++) {
			char m[8];
			snprintf(m, sizeof(m), "m%zu", k);
			series_of[i * PER_DEVICE + k] = store_series(daemon_store(d),
			    device_name(daemon_device_at(d, i)), m, MK_NUMBER, NULL);
		}
	/* Everything read once: every rule evaluated, all OK. */
	memset(v, 0, sizeof(v));
	for (i = 0; i < ndev; i++)
		poll_device(d, i, v);
	if (open_incidents(d) != 0)
		die("incidents open after the first round");

	/* Polls that open nothing: values below every threshold. */
	upd = xcalloc(npolls, sizeof(*upd));
	store_only = xcalloc(npolls, sizeof(*store_only));
	srandom(42);
	for (i = 0; i < npolls; i++) {
		size_t dev = (size_t)random() % ndev;
		for (k = 0; k < PER_DEVICE; k++)
			v[k] = (double)(random() % 8000) / 100.0;
		t0 = now_ns();
		poll_device(d, dev, v);
		upd[i] = (now_ns() - t0) / PER_DEVICE;
	}
	if (open_incidents(d) != 0)
		die("incidents opened by values below every threshold");
	/* The same polls with the engine detached: the store's own cost. */
	store_set_watch(daemon_store(d), NULL, NULL);
	srandom(42);
	for (i = 0; i < npolls; i++) {
		size_t dev = (size_t)random() % ndev;
		struct sample smp = { .q = Q_OK, .t_ms = time_now_ms() };
		for (k = 0; k < PER_DEVICE; k++)
			v[k] = (double)(random() % 8000) / 100.0;
		t0 = now_ns();
		for (k = 0; k < PER_DEVICE; k++) {
			smp.num = v[k];
			series_update(series_of[dev * PER_DEVICE + k], &smp);
		}
		store_only[i] = (now_ns() - t0) / PER_DEVICE;
	}
	/* Reattach: a reconfiguration with the same file does it. */
	detect_configure(daemon_detect(d), daemon_conf(d));

	/* One sample over a one-metric rule's threshold: the incident opens. */
	open_ns = xcalloc(ninc, sizeof(*open_ns));
	close_ns = xcalloc(ninc, sizeof(*close_ns));
	save_ns = xcalloc(ninc, sizeof(*save_ns));
	for (i = 0; i < ninc; i++) {
		size_t r = (i * 10) % nrules, dev = (r * 7919) % ndev;
		size_t m = (r / ndev) % PER_DEVICE;
		struct sample smp = { .q = Q_OK, .t_ms = time_now_ms(), .num = 95 };
		size_t before = open_incidents(d);
		t0 = now_ns();
		series_update(series_of[dev * PER_DEVICE + m], &smp);
		detect_device_changed(daemon_detect(d), daemon_device_at(d, dev));
		open_ns[i] = now_ns() - t0;
		if (open_incidents(d) != before + 1)
			die("the incident did not open");
		/* The rest of the loop turn: journal synced, detect.json written. */
		t0 = now_ns();
		event_base_loop(base, EVLOOP_NONBLOCK);
		save_ns[i] = now_ns() - t0;
		smp.num = 0;
		smp.t_ms = time_now_ms();
		t0 = now_ns();
		series_update(series_of[dev * PER_DEVICE + m], &smp);
		detect_device_changed(daemon_detect(d), daemon_device_at(d, dev));
		close_ns[i] = now_ns() - t0;
		if (open_incidents(d) != before)
			die("the incident did not resolve");
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	getrusage(RUSAGE_SELF, &ru);

	qsort(upd, npolls, sizeof(*upd), cmp_i64);
	qsort(store_only, npolls, sizeof(*store_only), cmp_i64);
	qsort(open_ns, ninc, sizeof(*open_ns), cmp_i64);
	qsort(close_ns, ninc, sizeof(*close_ns), cmp_i64);
	qsort(save_ns, ninc, sizeof(*save_ns), cmp_i64);
	{
		json_t *st = detect_status_json(daemon_detect(d));
		json_t *o = json_pack(
		    "{s:I, s:I, s:I, s:I, s:f, s:{s:f, s:f, s:f}, "
		    "s:{s:f, s:f}, s:f, s:{s:f, s:f, s:f}, s:{s:f, s:f}, "
		    "s:{s:f, s:f}, s:I, s:O}",
		    "rules", (json_int_t)nrules, "metrics", (json_int_t)nmetrics, "polls",
		    (json_int_t)npolls, "incidents", (json_int_t)ninc, "load_ms",
		    (double)t_load / 1e6, "update_us", "median",
		    pct(upd, npolls, 50) / 1e3, "p99", pct(upd, npolls, 99) / 1e3, "max",
		    (double)upd[npolls - 1] / 1e3, "store_only_us", "median",
		    pct(store_only, npolls, 50) / 1e3, "p99",
		    pct(store_only, npolls, 99) / 1e3, "evaluation_median_us",
		    (pct(upd, npolls, 50) - pct(store_only, npolls, 50)) / 1e3, "open_us",
		    "median", pct(open_ns, ninc, 50) / 1e3, "p99",
		    pct(open_ns, ninc, 99) / 1e3, "max", (double)open_ns[ninc - 1] / 1e3,
		    "resolve_us", "median", pct(close_ns, ninc, 50) / 1e3, "p99",
		    pct(close_ns, ninc, 99) / 1e3, "turn_end_ms", "median",
		    pct(save_ns, ninc, 50) / 1e6, "p99", pct(save_ns, ninc, 99) / 1e6,
		    "max_rss_kb", (json_int_t)ru.ru_maxrss, "engine", st);
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s);
		if (out != NULL && (f = fopen(out, "w")) != NULL) {
			fprintf(f, "%s\n", s);
			fclose(f);
		}
		free(s);
		json_decref(st);
		json_decref(o);
	}
	daemon_shutdown(d);
	daemon_free(d);
	event_base_free(base);
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == -1)
		fprintf(stderr, "detect_bench: could not remove %s\n", dir);
	free(upd);
	free(store_only);
	free(open_ns);
	free(close_ns);
	free(save_ns);
	return 0;
}

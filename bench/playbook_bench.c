/*
 * The cost of a playbook run's checkpoint (bench/playbook.sh, bench/README.md).
 *
 * 1. pb_run_save() of runs of 8, 15 and 50 steps, as the engine calls it
 *    through a whole run: once when the run starts, before and after every
 *    step, once more when a confirm starts waiting or an exec step's program
 *    runs (pb_act_set_pid()), once when the run ends.
 *    The steps are the shipped playbooks' (power-outage: 8, battery-critical:
 *    15, and the first 50 steps of all eight in a row, loaded against the
 *    demo site), the record filled the way the engine and the step types
 *    fill it: the log's lines (start, step-start, exec, host, step-done,
 *    end), results, a program's output (~400 bytes) for exec and
 *    shutdown-tier steps, who answered a confirm, the run's parameters.
 *    Per save: wall (CLOCK_MONOTONIC), this thread's CPU, the file's size
 *    (bytes written); then the same records serialised alone (pb_run_json()
 *    and json_dumpf() into /dev/null, as pb_run_save() writes them; and
 *    json_dumps() into memory, for comparison); then a replica of atomic_open()/
 *    atomic_commit() with a timer on each system call (write, fsync of the
 *    file, rename, fsync of the folder), on the largest record of each size.
 *    And a run whose first step kept a program's output of 64 KiB (exec's
 *    default output_max), 1 MiB and 16 MiB (its largest), saved 10 times.
 * 2. The engine's own cost per step, driving pb_engine with fake hooks
 *    through playbooks of L no-op steps (`wait for = "0s"`: one timer per
 *    step on the loop; and `notify` to a hook that only answers "queued"),
 *    run after run, with checkpoints (pb_engine_start() on an empty
 *    state_dir) and without (pb_engine_start() not called: the engine
 *    writes nothing), interleaved in rounds in the same process: CPU
 *    (user, system) and wall per step, and their ratio.
 * 3. With -x: an exec step's spawn alone, child_run() of bench/pb_stamp with
 *    the environment a step gets, as step_exec.c calls it: from just before
 *    the call to the program's own CLOCK_REALTIME, and to its end reaped.
 *
 * Files go to DIR (default: a new folder in /tmp), removed at the end.
 *
 * usage: playbook_bench [-d DIR] [-n SAVES] [-L LENGTHS] [-k STEPS] [-r ROUNDS]
 *                       [-x PB_STAMP] [-K] [-o FILE]
 *   -n  saves per record size, at least (400)
 *   -L  playbook lengths for the engine, comma-separated (8,50,200)
 *   -k  steps per batch in the engine part (400)
 *   -r  rounds of the engine part (2)
 *   -x  bench/pb_stamp, built: also time its spawn alone, 200 times
 *   -K  keep DIR
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "alerts/alert.h"
#include "monitor/monitor.h"
#include "playbooks/engine.h"
#include "playbooks/playbook.h"
#include "playbooks/run.h"

#ifndef SONAE_ROOT
#define SONAE_ROOT "."
#endif

#define MAXLEN 16

static int64_t
clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile of sorted v, in the unit of v divided by div. */
static double
pct(const int64_t *v, size_t n, double p, double div)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1] / div;
}

static double
mean(const int64_t *v, size_t n, double div)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += (double)v[i];
	return n ? s / (double)n / div : 0;
}

static void die(const char *fmt, ...) PRINTFLIKE(1, 2);

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "playbook_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
rm_tree(const char *dir)
{
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == -1 && errno != ENOENT)
		fprintf(stderr, "playbook_bench: could not remove %s\n", dir);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF)
		die("%s: %s", path, strerror(errno));
}

static json_t *
jtimes(const int64_t *sorted, size_t n, double div)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50", pct(sorted, n, 50, div),
	    "p90", pct(sorted, n, 90, div), "p99", pct(sorted, n, 99, div), "max",
	    (double)sorted[n - 1] / div, "mean", mean(sorted, n, div));
}

/* Part 1: the checkpoint, save by save. */

static FILE *devnull;

struct tmpl {
	char id[80];
	int type;
	char title[256];
	char command[512]; /* exec: argv as text */
	size_t hosts;      /* shutdown-tier */
};

/* What a program printed: ~400 bytes, as a shutdown or a script prints. */
static const char OUTPUT[] =
    "Connection to 192.0.2.31 established.\n"
    "Broadcast message from root@app1 (Thu 2026-11-26 03:12:44 JST):\n"
    "The system will power off now!\n"
    "sonae: shutdown requested by playbook battery-critical, run 12\n"
    "Stopping services: postgresql nginx sonae-agent ... done\n"
    "Unmounting /srv/data ... done\n"
    "Connection to 192.0.2.31 closed by remote host.\n"
    "exit status 0 after 4.2 s\n";

/* The steps of playbook pb (ids suffixed with -N when suffix). */
static size_t
add_steps(struct tmpl *t, size_t at, size_t max, const struct playbook *pb, int suffix)
{
	size_t i, k;

	for (i = 0; i < pb->steps.n && at < max; i++, at++) {
		const struct pb_step *st = playbook_step(pb, i);
		struct tmpl *x = &t[at];
		memset(x, 0, sizeof(*x));
		if (suffix)
			snprintf(x->id, sizeof(x->id), "%s-%zu", st->id, at + 1);
		else
			snprintf(x->id, sizeof(x->id), "%s", st->id);
		x->type = st->type;
		snprintf(x->title, sizeof(x->title), "%s", st->title);
		for (k = 0; k < st->command.n; k++) {
			size_t len = strlen(x->command);
			snprintf(x->command + len, sizeof(x->command) - len, "%s%s",
			    k ? " " : "", st->command.v[k]);
		}
		x->hosts = st->hosts.n;
	}
	return at;
}

struct save_stats {
	int64_t *wall, *cpu, *bytes, *ser, *mem;
	size_t n, cap;
	size_t runs, saves_per_run;
	int64_t final_bytes, bytes_per_run;
	json_t *last; /* the largest record, for the replica */
};

static void
stats_add(struct save_stats *s, int64_t wall, int64_t cpu, int64_t bytes)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 512;
		s->wall = xreallocarray(s->wall, s->cap, sizeof(int64_t));
		s->cpu = xreallocarray(s->cpu, s->cap, sizeof(int64_t));
		s->bytes = xreallocarray(s->bytes, s->cap, sizeof(int64_t));
		s->ser = xreallocarray(s->ser, s->cap, sizeof(int64_t));
		s->mem = xreallocarray(s->mem, s->cap, sizeof(int64_t));
	}
	s->wall[s->n] = wall;
	s->cpu[s->n] = cpu;
	s->bytes[s->n] = bytes;
	s->ser[s->n] = 0;
	s->mem[s->n] = 0;
	s->n++;
}

static void
save(const char *dir, const struct pb_run *r, struct save_stats *s)
{
	char err[512], path[1024];
	int64_t t0, c0, wall, cpu;
	struct stat sb;
	json_t *o;
	char *text;

	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = mono_ns();
	if (pb_run_save(dir, r, err, sizeof(err)) == -1)
		die("pb_run_save: %s", err);
	wall = mono_ns() - t0;
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	snprintf(
	    path, sizeof(path), "%s/runs/%012llu.json", dir, (unsigned long long)r->id);
	if (stat(path, &sb) == -1)
		die("%s: %s", path, strerror(errno));
	stats_add(s, wall, cpu, (int64_t)sb.st_size);
	s->bytes_per_run += (int64_t)sb.st_size;
	/*
	 * The same record serialised alone, as pb_run_save() does (a jansson
	 * tree, json_dumpf() into a stdio FILE), into /dev/null: the save's
	 * CPU before any file system work; and into memory (json_dumps()).
	 */
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	o = pb_run_json(r);
	if (json_dumpf(o, devnull, JSON_COMPACT) == -1 || fputc('\n', devnull) == EOF ||
	    fflush(devnull) == EOF)
		die("/dev/null: %s", strerror(errno));
	json_decref(o);
	s->ser[s->n - 1] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	o = pb_run_json(r);
	text = json_dumps(o, JSON_COMPACT);
	s->mem[s->n - 1] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	free(text);
	json_decref(s->last);
	s->last = o;
}

static void note(struct pb_run *r, const char *actor, const char *event, const char *fmt,
    ...) PRINTFLIKE(4, 5);

static void
note(struct pb_run *r, const char *actor, const char *event, const char *fmt, ...)
{
	char text[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pb_run_note(r, time_now_ms(), actor, event, text);
}

/* One run through its steps, saved wherever the engine saves it. */
static void
one_run(const char *dir, uint64_t id, const char *name, const struct tmpl *t, size_t n,
    struct save_stats *s)
{
	const char **ids = xcalloc(n, sizeof(char *));
	size_t i, saves0 = s->n, h;
	struct pb_run *r;

	for (i = 0; i < n; i++)
		ids[i] = t[i].id;
	r = pb_run_new(id, name, ids, n, 42, 0, "sonaed", "incident 42 (ups-on-battery)",
	    time_now_ms());
	free(ids);
	json_object_set_new(r->params, "contact", json_string("ict@example.lg.jp"));
	json_object_set_new(r->params, "vendor_phone", json_string("0120-000-000"));
	json_object_set_new(r->params, "ups", json_string("ups1"));
	s->bytes_per_run = 0;
	note(r, "sonaed", "start", "incident 42 (ups-on-battery)");
	save(dir, r, s);
	for (i = 0; i < n; i++) {
		struct pb_step_run *sr = &r->steps[i];
		const char *type = pb_step_types[t[i].type];
		r->current = i;
		sr->state = PBS_RUNNING;
		sr->attempts = 1;
		sr->started_ms = time_now_ms();
		note(r, "sonaed", "step-start", "%s (%s): %s", sr->id, type, t[i].title);
		save(dir, r, s);
		switch (t[i].type) {
		case PB_NOTIFY:
			sr->result =
			    xstrdup("queued #1234 to ict@example.lg.jp, "
			            "facilities@example.lg.jp, soumu@example.lg.jp");
			break;
		case PB_EXEC:
			note(r, "sonaed", "exec", "%s: %s", sr->id, t[i].command);
			/* pb_act_set_pid(): the program's group, saved once it runs. */
			sr->pid = 4242;
			sr->pid_start = 123456789;
			save(dir, r, s);
			sr->pid = sr->pid_start = 0;
			sr->output = xstrdup(OUTPUT);
			sr->result = xstrdup("exit 0");
			break;
		case PB_WAIT:
			sr->result = xstrdup("!ups1.on_battery held (after 5min 12s)");
			break;
		case PB_CONFIRM:
			sr->state = PBS_WAITING;
			save(dir, r, s);
			sr->actor = xstrdup("tanaka");
			sr->result = xstrdup("yes (tanaka): 発電機は起動しました。"
			                     "サーバ室の空調も動いています");
			break;
		case PB_SHUTDOWN_TIER:
			for (h = 0; h < t[i].hosts; h++) {
				note(r, "sonaed", "host",
				    "app%zu: shutdown command: exit 0", h + 1);
				note(r, "sonaed", "host",
				    "app%zu: confirmed down after 41 s", h + 1);
			}
			sr->result = xstrdup("3 of 3 hosts down in 52 s: app1 (41 s), "
			                     "app2 (44 s), app3 (52 s)");
			break;
		case PB_SNMP_SET:
		case PB_MODBUS_WRITE:
			note(r, "sonaed", "write", "%s: sw1 1.3.6.1.2.1.2.2.1.7.24 i 2",
			    sr->id);
			sr->result = xstrdup("sw1 1.3.6.1.2.1.2.2.1.7.24 i 2: written, "
			                     "read back 2");
			break;
		case PB_SET_MODE:
			sr->result = xstrdup("operating mode is now disaster");
			break;
		default:
			sr->result = xstrdup("run 13 of power-outage done");
		}
		sr->state = PBS_DONE;
		sr->ended_ms = time_now_ms();
		note(r, sr->actor ? sr->actor : "sonaed", "step-done", "%s: %s", sr->id,
		    sr->result);
		save(dir, r, s);
	}
	r->current = n;
	r->state = PBR_DONE;
	r->ended_ms = time_now_ms();
	note(r, "sonaed", "end", "done: every step is over");
	save(dir, r, s);
	s->final_bytes = s->bytes[s->n - 1];
	s->saves_per_run = s->n - saves0;
	s->runs++;
	pb_run_free(r);
}

/* atomic_open() + atomic_commit()'s system calls, each timed. */
static json_t *
replica(const char *dir, const json_t *record, size_t times)
{
	int64_t *w = xcalloc(times, sizeof(int64_t)),
	        *fs = xcalloc(times, sizeof(int64_t));
	int64_t *rn = xcalloc(times, sizeof(int64_t)),
	        *ds = xcalloc(times, sizeof(int64_t));
	int64_t *all = xcalloc(times, sizeof(int64_t)), t0, t1;
	char *text = json_dumps(record, JSON_COMPACT), *path, *tmp, *runs;
	size_t len = strlen(text), i;
	json_t *o;
	int fd, dfd;

	xasprintf(&runs, "%s/runs", dir);
	xasprintf(&path, "%s/replica.json", runs);
	xasprintf(&tmp, "%s.tmp", path);
	for (i = 0; i < times; i++) {
		t0 = mono_ns();
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) ==
		        -1 ||
		    write(fd, text, len) != (ssize_t)len)
			die("%s: %s", tmp, strerror(errno));
		t1 = mono_ns();
		w[i] = t1 - t0;
		if (fsync(fd) == -1)
			die("fsync: %s", strerror(errno));
		close(fd);
		fs[i] = mono_ns() - t1;
		t1 = mono_ns();
		if (rename(tmp, path) == -1)
			die("rename: %s", strerror(errno));
		rn[i] = mono_ns() - t1;
		t1 = mono_ns();
		if ((dfd = open(runs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
		    fsync(dfd) == -1)
			die("%s: %s", runs, strerror(errno));
		close(dfd);
		ds[i] = mono_ns() - t1;
		all[i] = mono_ns() - t0;
	}
	qsort(w, times, sizeof(int64_t), cmp_i64);
	qsort(fs, times, sizeof(int64_t), cmp_i64);
	qsort(rn, times, sizeof(int64_t), cmp_i64);
	qsort(ds, times, sizeof(int64_t), cmp_i64);
	qsort(all, times, sizeof(int64_t), cmp_i64);
	o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "bytes", (json_int_t)len,
	    "times", (json_int_t)times, "open_write_ms", jtimes(w, times, 1e6),
	    "fsync_file_ms", jtimes(fs, times, 1e6), "rename_ms", jtimes(rn, times, 1e6),
	    "fsync_folder_ms", jtimes(ds, times, 1e6), "total_ms",
	    jtimes(all, times, 1e6));
	unlink(path);
	free(path);
	free(tmp);
	free(runs);
	free(text);
	free(w);
	free(fs);
	free(rn);
	free(ds);
	free(all);
	return o;
}

static json_t *
part_saves(const char *dir, size_t min_saves)
{
	static const struct {
		const char *label;
		const char *playbook; /* NULL: every playbook's steps in a row */
		size_t steps;
	} sizes[] = {
		{ "8 steps (power-outage)", "power-outage", 8 },
		{ "15 steps (battery-critical)", "battery-critical", 15 },
		{ "50 steps (the library's steps in a row)", NULL, 50 },
	};
	struct conf_errors errs = { NULL, 0 };
	struct tmpl t[64];
	char path[1024], sdir[1100];
	json_t *out = json_array();
	struct conf *demo;
	uint64_t id = 1;
	size_t z, i, n;

	snprintf(path, sizeof(path), "%s/etc/demo/sonae.conf", SONAE_ROOT);
	if ((demo = conf_load(path, &errs)) == NULL)
		die("%s: %s", path, errs.n ? errs.v[0] : "refused");
	snprintf(sdir, sizeof(sdir), "%s/saves", dir);
	if (mkdir(sdir, 0750) == -1)
		die("%s: %s", sdir, strerror(errno));
	for (z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		struct save_stats s;
		int64_t t0 = mono_ns();
		memset(&s, 0, sizeof(s));
		n = 0;
		for (i = 0; i < demo->playbooks.nloaded && n < sizes[z].steps; i++) {
			const struct playbook *pb = demo->playbooks.loaded[i];
			if (sizes[z].playbook == NULL)
				n = add_steps(t, n, sizes[z].steps, pb, 1);
			else if (strcmp(pb->name, sizes[z].playbook) == 0)
				n = add_steps(t, 0, sizes[z].steps, pb, 0);
		}
		if (n != sizes[z].steps)
			die("%s: found %zu steps", sizes[z].label, n);
		while (s.n < min_saves)
			one_run(sdir, id++,
			    sizes[z].playbook ? sizes[z].playbook : "library", t, n, &s);
		t0 = mono_ns() - t0;
		{
			int64_t total_bytes = 0;
			for (i = 0; i < s.n; i++)
				total_bytes += s.bytes[i];
			qsort(s.wall, s.n, sizeof(int64_t), cmp_i64);
			qsort(s.cpu, s.n, sizeof(int64_t), cmp_i64);
			qsort(s.bytes, s.n, sizeof(int64_t), cmp_i64);
			qsort(s.ser, s.n, sizeof(int64_t), cmp_i64);
			qsort(s.mem, s.n, sizeof(int64_t), cmp_i64);
			json_array_append_new(out,
			    json_pack(
			        "{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:{s:I, "
			        "s:I, s:f, s:I, s:I}, s:o}",
			        "record", sizes[z].label, "steps", (json_int_t)n, "runs",
			        (json_int_t)s.runs, "saves", (json_int_t)s.n,
			        "saves_per_run", (json_int_t)s.saves_per_run, "wall_ms",
			        jtimes(s.wall, s.n, 1e6), "cpu_us",
			        jtimes(s.cpu, s.n, 1e3), "serialise_cpu_us",
			        jtimes(s.ser, s.n, 1e3), "to_memory_cpu_us",
			        jtimes(s.mem, s.n, 1e3), "bytes", "first",
			        (json_int_t)s.bytes[0], "last", (json_int_t)s.final_bytes,
			        "mean", (double)total_bytes / (double)s.n, "per_run",
			        (json_int_t)s.bytes_per_run, "max",
			        (json_int_t)s.bytes[s.n - 1], "replica",
			        replica(sdir, s.last, 200)));
		}
		free(s.wall);
		free(s.cpu);
		free(s.bytes);
		free(s.ser);
		free(s.mem);
		json_decref(s.last);
	}
	conf_free(demo);
	return out;
}

/*
 * Part 1b: a run whose first step kept a program's output of SIZE bytes
 * (exec's output_max: 64 KiB unless set, at most 16 MiB): every later save
 * of the run writes it again.
 */
static json_t *
part_output(const char *dir)
{
	static const size_t sizes[] = { 64 << 10, 1 << 20, 16 << 20 };
	static const char *const ids[] = { "collect", "tell", "confirm", "shutdown",
		"wait", "inspect", "start", "exit" };
	json_t *out = json_array();
	char err[512], *sdir;
	size_t z, i, k;

	xasprintf(&sdir, "%s/output", dir);
	if (mkdir(sdir, 0750) == -1)
		die("%s: %s", sdir, strerror(errno));
	for (z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		struct pb_run *r = pb_run_new(z + 1, "power-outage", ids, 8, 42, 0,
		    "sonaed", "incident 42 (ups-on-battery)", time_now_ms());
		size_t times = 10;
		int64_t *wall = xcalloc(times, sizeof(int64_t)), t0;
		char *o = xmalloc(sizes[z] + 1);
		for (i = 0; i < sizes[z]; i++)
			o[i] = OUTPUT[i % (sizeof(OUTPUT) - 1)];
		o[sizes[z]] = '\0';
		r->steps[0].state = PBS_DONE;
		r->steps[0].output = o;
		r->steps[0].result = xstrdup("exit 0 (output truncated)");
		for (k = 0; k < times; k++) {
			t0 = mono_ns();
			if (pb_run_save(sdir, r, err, sizeof(err)) == -1)
				die("pb_run_save: %s", err);
			wall[k] = mono_ns() - t0;
		}
		qsort(wall, times, sizeof(int64_t), cmp_i64);
		json_array_append_new(out,
		    json_pack("{s:I, s:I, s:o}", "output_bytes", (json_int_t)sizes[z],
		        "saves", (json_int_t)times, "wall_ms", jtimes(wall, times, 1e6)));
		free(wall);
		pb_run_free(r);
	}
	free(sdir);
	return out;
}

/* Part 2: the engine, step by step, with and without checkpoints. */

struct fake {
	struct event_base *base;
	size_t ended, journal;
};

static void
fake_journal(void *arg, const char *actor, const char *event, json_t *data)
{
	struct fake *f = arg;

	(void)actor;
	f->journal++;
	json_decref(data);
	if (strcmp(event, "playbook.end") == 0) {
		f->ended++;
		event_base_loopbreak(f->base);
	}
}

static int
fake_notify(
    void *arg, const struct pb_notice *n, uint64_t *queued, char *result, size_t len)
{
	static uint64_t seq;

	(void)arg;
	(void)n;
	*queued = ++seq;
	snprintf(result, len, "queued as mail #%llu", (unsigned long long)seq);
	return 0;
}

static int
fake_eval(void *arg, const struct expr *x, char *why, size_t len)
{
	(void)arg;
	(void)x;
	(void)why;
	(void)len;
	return 1;
}

static const struct pb_hooks fake_hooks = {
	.eval = fake_eval,
	.notify = fake_notify,
	.journal = fake_journal,
};

static void
noop_playbook(const char *pbdir, const char *kind, size_t steps)
{
	size_t cap = 512 + steps * 200, len = 0, i;
	char *s = xmalloc(cap), *path;

	len += (size_t)snprintf(s + len, cap - len,
	    "name = \"noop-%s-%zu\";\ntitle_ja = \"空の手順\";\ntitle_en = \"No-op "
	    "steps\";\nsteps = (\n",
	    kind, steps);
	for (i = 0; i < steps; i++) {
		if (strcmp(kind, "wait") == 0)
			len += (size_t)snprintf(s + len, cap - len,
			    "\t{ id = \"s%zu\"; type = \"wait\"; title = \"Step %zu\"; "
			    "for = "
			    "\"0s\"; }%s\n",
			    i + 1, i + 1, i + 1 < steps ? "," : "");
		else
			len += (size_t)snprintf(s + len, cap - len,
			    "\t{ id = \"s%zu\"; type = \"notify\"; title = \"Step %zu\"; "
			    "text = \"${incident.title}: step %zu\"; }%s\n",
			    i + 1, i + 1, i + 1, i + 1 < steps ? "," : "");
	}
	snprintf(s + len, cap - len, ");\n");
	xasprintf(&path, "%s/noop-%s-%zu.conf", pbdir, kind, steps);
	write_file(path, s);
	free(path);
	free(s);
}

struct batch {
	int64_t wall, cpu, user, sys;
	size_t steps;
	int64_t record_bytes; /* the last run's record, ended */
};

static int64_t
tv_ns(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

/* runs runs of playbook name, back to back; state: NULL for no checkpoints. */
static void
batch(const char *site, const char *name, size_t runs, size_t len, const char *state,
    struct batch *b)
{
	struct conf_errors errs = { NULL, 0 };
	struct event_base *base = event_base_new();
	struct fake f = { base, 0, 0 };
	struct rusage r0, r1;
	struct pb_engine *e;
	struct conf *conf;
	char err[512];
	int64_t t0, c0;
	uint64_t run;
	size_t i;

	if ((conf = conf_load(site, &errs)) == NULL)
		die("%s: %s", site, errs.n ? errs.v[0] : "refused");
	e = pb_engine_new(base, &fake_hooks, &f);
	pb_engine_configure(e, conf);
	if (state != NULL) {
		if (mkdir(state, 0750) == -1)
			die("%s: %s", state, strerror(errno));
		if (pb_engine_start(e, state, err, sizeof(err)) == -1)
			die("pb_engine_start: %s", err);
	}
	getrusage(RUSAGE_SELF, &r0);
	c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = mono_ns();
	for (i = 0; i < runs; i++) {
		if (pb_engine_run(e, name, 0, 0, NULL, "bench", "playbook_bench", &run,
		        err, sizeof(err)) == -1)
			die("pb_engine_run: %s", err);
		while (f.ended < i + 1)
			if (event_base_dispatch(base) == -1)
				die("event_base_dispatch");
	}
	b->wall += mono_ns() - t0;
	b->cpu += clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
	getrusage(RUSAGE_SELF, &r1);
	b->user += tv_ns(r1.ru_utime) - tv_ns(r0.ru_utime);
	b->sys += tv_ns(r1.ru_stime) - tv_ns(r0.ru_stime);
	b->steps += runs * len;
	{
		json_t *st = pb_engine_runs_json(e, 1), *x;
		size_t k;
		json_array_foreach(json_object_get(st, "runs"), k,
		    x) if (strcmp(json_string_value(json_object_get(x, "state")),
		               "done") != 0) die("run %lld of %s is %s",
		    (long long)json_integer_value(json_object_get(x, "id")), name,
		    json_string_value(json_object_get(x, "state")));
		json_decref(st);
	}
	if (state != NULL) {
		struct stat sb;
		char *path;
		xasprintf(&path, "%s/runs/%012llu.json", state, (unsigned long long)run);
		if (stat(path, &sb) == -1)
			die("%s: %s", path, strerror(errno));
		b->record_bytes = (int64_t)sb.st_size;
		free(path);
	}
	pb_engine_free(e);
	conf_free(conf);
	event_base_free(base);
	if (state != NULL)
		rm_tree(state);
}

static json_t *
bjson(const struct batch *b)
{
	double n = (double)b->steps;

	return json_pack("{s:I, s:I, s:f, s:f, s:f, s:f}", "steps", (json_int_t)b->steps,
	    "record_bytes_at_end", (json_int_t)b->record_bytes, "cpu_us_per_step",
	    (double)b->cpu / n / 1e3, "user_us_per_step", (double)b->user / n / 1e3,
	    "sys_us_per_step", (double)b->sys / n / 1e3, "wall_us_per_step",
	    (double)b->wall / n / 1e3);
}

static json_t *
part_engine(const char *dir, const size_t *lens, size_t nlens, size_t steps, int rounds)
{
	static const char *const kinds[] = { "wait", "notify" };
	char pbdir[1100], site[1100], state[1100], *text;
	json_t *out = json_array();
	size_t l, k, seq = 0;
	int r;

	snprintf(pbdir, sizeof(pbdir), "%s/engine", dir);
	if (mkdir(pbdir, 0750) == -1)
		die("%s: %s", pbdir, strerror(errno));
	snprintf(pbdir, sizeof(pbdir), "%s/engine/playbooks", dir);
	if (mkdir(pbdir, 0750) == -1)
		die("%s: %s", pbdir, strerror(errno));
	for (l = 0; l < nlens; l++)
		for (k = 0; k < 2; k++)
			noop_playbook(pbdir, kinds[k], lens[l]);
	xasprintf(&text,
	    "site: { name = \"bench\"; };\n"
	    "daemon: { state_dir = \"%s/engine\"; };\n"
	    "control: { socket = \"%s/engine/sonae.sock\"; };\n"
	    "playbooks = { dir = \"%s\"; };\n",
	    dir, dir, pbdir);
	snprintf(site, sizeof(site), "%s/engine/sonae.conf", dir);
	write_file(site, text);
	free(text);
	for (l = 0; l < nlens; l++)
		for (k = 0; k < 2; k++) {
			struct batch off, on;
			char name[64];
			size_t runs = (steps + lens[l] - 1) / lens[l];
			memset(&off, 0, sizeof(off));
			memset(&on, 0, sizeof(on));
			snprintf(name, sizeof(name), "noop-%s-%zu", kinds[k], lens[l]);
			/* One run of each first: pages touched, files created. */
			batch(site, name, 1, lens[l], NULL, &(struct batch){ 0 });
			for (r = 0; r < rounds; r++) {
				batch(site, name, runs, lens[l], NULL, &off);
				snprintf(state, sizeof(state), "%s/engine/state-%zu", dir,
				    seq++);
				batch(site, name, runs, lens[l], state, &on);
			}
			json_array_append_new(out,
			    json_pack("{s:s, s:I, s:I, s:i, s:o, s:o, s:f, s:f}",
			        "playbook", name, "steps", (json_int_t)lens[l],
			        "runs_per_batch", (json_int_t)runs, "rounds", rounds,
			        "without_checkpoints", bjson(&off), "with_checkpoints",
			        bjson(&on), "cpu_ratio", (double)on.cpu / (double)off.cpu,
			        "wall_ratio", (double)on.wall / (double)off.wall));
		}
	return out;
}

/* Part 3: an exec step's spawn alone (child_run(), as step_exec.c calls it). */

struct spawn {
	struct event_base *base;
	int64_t before, prog, done;
	int ok;
};

static void
spawn_done(void *arg, const struct child_result *res)
{
	struct spawn *sp = arg;
	long long sec = 0;
	long nsec = 0;

	sp->done = clock_ns(CLOCK_REALTIME);
	sp->ok = res->exited && res->status == 0 && res->output != NULL &&
	         sscanf(res->output, "%lld.%ld", &sec, &nsec) == 2;
	sp->prog = (int64_t)sec * 1000000000 + nsec;
	event_base_loopbreak(sp->base);
}

static json_t *
part_spawn(const char *stamp, size_t times)
{
	static const char *const env[] = { "SONAE_RUN=12", "SONAE_PLAYBOOK=power-outage",
		"SONAE_STEP=stamp", "SONAE_DRILL=0", "SONAE_REQUESTED_BY=sonaed",
		"SONAE_SITE=bench", "SONAE_INCIDENT=42",
		"SONAE_INCIDENT_TITLE=UPS ups1 on battery",
		"SONAE_INCIDENT_SEVERITY=critical",
		"SONAE_PARAM_contact=ict@example.lg.jp", NULL };
	const char *argv[] = { stamp, NULL };
	int64_t *start = xcalloc(times, sizeof(int64_t)),
	        *end = xcalloc(times, sizeof(int64_t));
	struct event_base *base = event_base_new();
	struct child_opts o;
	struct spawn sp;
	char err[512];
	size_t i;
	json_t *out;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env = env;
	o.timeout_ms = 10000;
	for (i = 0; i < times + 5; i++) {
		memset(&sp, 0, sizeof(sp));
		sp.base = base;
		sp.before = clock_ns(CLOCK_REALTIME);
		if (child_run(base, &o, spawn_done, &sp, err, sizeof(err)) == -1)
			die("child_run: %s", err);
		while (sp.done == 0)
			event_base_dispatch(base);
		if (!sp.ok)
			die("%s did not print its time", stamp);
		if (i < 5)
			continue; /* the program in the page cache */
		start[i - 5] = sp.prog - sp.before;
		end[i - 5] = sp.done - sp.before;
	}
	qsort(start, times, sizeof(int64_t), cmp_i64);
	qsort(end, times, sizeof(int64_t), cmp_i64);
	out =
	    json_pack("{s:I, s:o, s:o}", "times", (json_int_t)times, "call_to_program_ms",
	        jtimes(start, times, 1e6), "call_to_reaped_ms", jtimes(end, times, 1e6));
	free(start);
	free(end);
	event_base_free(base);
	return out;
}

static const char *
fs_name(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) == -1)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53:
		return "ext4";
	case 0x01021994:
		return "tmpfs";
	case 0x58465342:
		return "xfs";
	case 0x9123683E:
		return "btrfs";
	default:
		return "other";
	}
}

static double
jd(const json_t *o, const char *a, const char *b)
{
	const json_t *x = json_object_get(o, a);

	return json_number_value(b != NULL ? json_object_get(x, b) : x);
}

/* The figures as a table (the JSON has them all). */
static void
print_table(const json_t *o)
{
	const json_t *x, *spawn = json_object_get(o, "spawn");
	size_t i;

	printf("checkpoint, pb_run_save() in %s (%s), per save (CPU: the thread's; ser.: "
	       "the same record into /dev/null as pb_run_save() writes it; mem.: "
	       "json_dumps()):\n",
	    json_string_value(json_object_get(o, "dir")),
	    json_string_value(json_object_get(o, "filesystem")));
	printf("  %-42s %6s %17s %7s %7s %7s %7s %9s\n", "record", "saves",
	    "wall p50/p99 ms", "CPU µs", "ser. µs", "mem. µs", "bytes", "per run");
	json_array_foreach(json_object_get(o, "saves"), i, x)
	{
		printf("  %-42s %6lld %8.2f / %6.2f %7.0f %7.0f %7.0f %7.0f %9lld\n",
		    json_string_value(json_object_get(x, "record")),
		    (long long)json_integer_value(json_object_get(x, "saves")),
		    jd(x, "wall_ms", "p50"), jd(x, "wall_ms", "p99"),
		    jd(x, "cpu_us", "p50"), jd(x, "serialise_cpu_us", "p50"),
		    jd(x, "to_memory_cpu_us", "p50"), jd(x, "bytes", "mean"),
		    (long long)json_integer_value(
		        json_object_get(json_object_get(x, "bytes"), "per_run")));
	}
	printf(
	    "  the same system calls, timed one by one (p50 ms): write, fsync, rename, "
	    "fsync of the folder\n");
	json_array_foreach(json_object_get(o, "saves"), i, x)
	{
		const json_t *r = json_object_get(x, "replica");
		printf("  %6lld bytes: %6.2f %6.2f %6.2f %6.2f  = %6.2f\n",
		    (long long)json_integer_value(json_object_get(r, "bytes")),
		    jd(r, "open_write_ms", "p50"), jd(r, "fsync_file_ms", "p50"),
		    jd(r, "rename_ms", "p50"), jd(r, "fsync_folder_ms", "p50"),
		    jd(r, "total_ms", "p50"));
	}
	printf("a save of a run whose step kept a program's output (p50 ms):");
	json_array_foreach(json_object_get(o, "kept_output"), i, x)
	    printf("  %lld KiB: %.2f",
	        (long long)json_integer_value(json_object_get(x, "output_bytes")) / 1024,
	        jd(x, "wall_ms", "p50"));
	printf("\n");
	printf("engine, per step (CPU user+sys, wall), without / with checkpoints:\n");
	json_array_foreach(json_object_get(o, "engine"), i, x)
	{
		const json_t *off = json_object_get(x, "without_checkpoints");
		const json_t *on = json_object_get(x, "with_checkpoints");
		printf("  %-18s CPU %7.1f / %7.1f µs (x%.0f)   wall %7.1f / %8.1f µs "
		       "(x%.0f)   record %lld bytes\n",
		    json_string_value(json_object_get(x, "playbook")),
		    jd(off, "cpu_us_per_step", NULL), jd(on, "cpu_us_per_step", NULL),
		    jd(x, "cpu_ratio", NULL), jd(off, "wall_us_per_step", NULL),
		    jd(on, "wall_us_per_step", NULL), jd(x, "wall_ratio", NULL),
		    (long long)json_integer_value(
		        json_object_get(on, "record_bytes_at_end")));
	}
	if (json_is_object(spawn))
		printf("exec spawn alone, child_run() -> program running: p50 %.2f  p99 "
		       "%.2f  "
		       "max %.2f ms; -> reaped: p50 %.2f ms\n",
		    jd(spawn, "call_to_program_ms", "p50"),
		    jd(spawn, "call_to_program_ms", "p99"),
		    jd(spawn, "call_to_program_ms", "max"),
		    jd(spawn, "call_to_reaped_ms", "p50"));
}

int
main(int argc, char **argv)
{
	size_t min_saves = 400, steps = 400, lens[MAXLEN], nlens = 0;
	const char *base_dir = NULL, *out = NULL, *stamp = NULL;
	char dir[1024], *p, *lenlist = NULL;
	int c, rounds = 2, keep = 0;
	json_t *o, *saves, *output, *engine, *spawn;
	char *s;
	FILE *f;

	while ((c = getopt(argc, argv, "d:n:L:k:r:x:Ko:")) != -1)
		switch (c) {
		case 'd':
			base_dir = optarg;
			break;
		case 'n':
			min_saves = strtoul(optarg, NULL, 10);
			break;
		case 'L':
			lenlist = optarg;
			break;
		case 'k':
			steps = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'x':
			stamp = optarg;
			break;
		case 'K':
			keep = 1;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			die("usage: playbook_bench [-d DIR] [-n SAVES] [-L LENGTHS] [-k "
			    "STEPS] [-r ROUNDS] [-x PB_STAMP] [-K] [-o FILE]");
		}
	for (p = lenlist ? lenlist : "8,50,200"; *p != '\0' && nlens < MAXLEN;) {
		char *end;
		lens[nlens++] = strtoul(p, &end, 10);
		if (end == p || lens[nlens - 1] == 0)
			die("-L: give lengths like 8,50,200");
		p = *end == ',' ? end + 1 : end;
	}
	if (min_saves < 2 || steps < 1 || rounds < 1)
		die("-n, -k and -r must be positive");
	snprintf(dir, sizeof(dir), "%s/sonae-playbook-bench-XXXXXX",
	    base_dir ? base_dir : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("%s: %s", dir, strerror(errno));
	umask(027);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		die("/dev/null: %s", strerror(errno));
	log_init(1, 0);
	tz_apply("Asia/Tokyo");

	saves = part_saves(dir, min_saves);
	output = part_output(dir);
	engine = part_engine(dir, lens, nlens, steps, rounds);
	spawn = stamp != NULL ? part_spawn(stamp, 200) : json_null();
	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "dir", dir, "filesystem",
	    fs_name(dir), "saves", saves, "kept_output", output, "engine", engine,
	    "spawn", spawn);
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	print_table(o);
	if (out != NULL && (f = fopen(out, "w")) != NULL) {
		fprintf(f, "%s\n", s);
		fclose(f);
	}
	free(s);
	json_decref(o);
	fclose(devnull);
	if (!keep)
		rm_tree(dir);
	return 0;
}

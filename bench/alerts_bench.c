/*
 * The mail spool and its delivery under load (issue 6, item 9): MESSAGES
 * rendered alert mails queued in a durable spool while the relay is down,
 * then delivered once it is back.  Everything runs in this process as the
 * daemon will run it: mail_render(), spool_add(), and a deliver engine with
 * its libcurl worker thread on an event loop that this program drives.
 *
 *   1. Queueing: MESSAGES mails (a Japanese subject and a ~1.5 kB mixed
 *      Japanese/ASCII body, one or two recipients, two mails per incident
 *      threaded by mail_thread_id()) rendered and queued with spool_add(),
 *      which fsyncs the file and the folder before it returns: the durable
 *      enqueue rate.  The engine is kicked once, at the first message, and
 *      its relay is a closed loopback port, so attempts fail on the spool's
 *      backoff (200 ms doubling to 1 s here) while the spool grows.  With
 *      -k it is kicked at every message queued instead.
 *   2. Memory while queued: VmRSS (/proc/self/status) and spool_memory() at
 *      0 and at each sample point, after the loop ran SETTLE ms at that size
 *      (more failed attempts).  One attempt through the transport comes
 *      before the sample at 0, so that it already holds what a first attempt
 *      sets up.
 *   3. Drain: aiosmtpd starts on that port (bench/alerts_sink.py, a handler
 *      that counts and checks what arrives): the relay returns.
 *      deliver_kick(), then the loop runs until the spool is empty.  Wall
 *      time, msgs/s, this process's CPU (getrusage: the loop and the libcurl
 *      worker) per message, split by thread, and the sink's CPU
 *      (/proc/PID/stat).  The sink must have received exactly MESSAGES
 *      messages (their recipients and bytes too), each once, in queue
 *      order; it also counts the connections (EHLO).
 *   4. Peers: the first PEER messages sent one process per message with
 *      swaks and with msmtp (what a Nagios- or Monit-style alert hook does),
 *      to the same sink; per-message wall time and CPU (the children's and
 *      the sink's), compared as ratios.
 *   5. Breakdown: BREAKDOWN messages sent with smtp_send() one after the
 *      other without the spool (the transport alone), and queued then taken
 *      out with spool_get() and spool_delivered() without SMTP (the spool's
 *      side of a drain).
 *
 * A table goes to stdout, the figures as JSON to FILE; sonae's log to stderr.
 *
 * usage: alerts_bench [-n MESSAGES] [-s N,N,...] [-p PEER] [-x swaks,msmtp]
 *        [-b BREAKDOWN] [-w SETTLE_MS] [-k] [-d BENCH_DIR] [-o FILE]
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"

#ifndef BENCH_DIR
#define BENCH_DIR "bench"
#endif
#define PYTHON      "/usr/bin/python3"
#define SITE        "本庁舎"
#define DOMAIN      "honcho.example.jp"
#define FROM        "sonae@honcho.example.jp"
#define RCPT1       "ict@honcho.example.jp"
#define RCPT2       "facility@honcho.example.jp"
#define TITLE       "UPS ups1 がバッテリー運転中 (停電)"
#define TITLE_BACK  "UPS ups1 商用電源に復帰"
#define BASE_MS     1795651200000LL /* 2026-11-26 09:00 +0900: same bytes every run */
#define MAX_SAMPLES 16
#define NELEM(a)    (sizeof(a) / sizeof((a)[0]))

extern char **environ;

static const struct spool_backoff backoff = { 200, 1000, 0 };

static struct {
	char dir[64];
	struct event_base *base;
	struct spool *sp;
	struct smtp *smtp;
	struct deliver *d;
	int port;
	pid_t sink;
	char stats[128];
	int down, up;
	size_t body_len;
	size_t *msg_len; /* of every message, by number */
	/* Drain. */
	size_t n, next_mark;
	int64_t t0, marks[11], deadline;
	long rss_peak;
	unsigned ticks;
	/* The transport alone. */
	char **msgs;
	size_t *lens, nsent, nok, want;
	const struct smtp_relay *relay;
} B;

/* Bytes of the first n messages. */
static size_t
bytes_of(size_t n)
{
	size_t i, sum = 0;

	for (i = 0; i < n; i++)
		sum += B.msg_len[i];
	return sum;
}

static int64_t
clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* user + system CPU of this process (every thread) or of its reaped children. */
static int64_t
rusage_ns(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* utime + stime of another process, from /proc/PID/stat. */
static int64_t
proc_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	        &st) != 2)
		return -1;
	return (int64_t)(ut + st) * (1000000000 / sysconf(_SC_CLK_TCK));
}

/*
 * How often a process went to sleep waiting (voluntary context switches):
 * this process's threads together (pid 0), or another process's one thread.
 * Each is a wake-up later, the price of a round trip on a VM.
 */
static long
sleeps(pid_t pid)
{
	char path[64], line[256];
	struct rusage ru;
	long v = -1;
	FILE *f;

	if (pid == 0) {
		getrusage(RUSAGE_SELF, &ru);
		return ru.ru_nvcsw;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* VmRSS (and VmHWM in *hwm) of this process in kB. */
static long
rss_kb(long *hwm)
{
	char line[256];
	long rss = -1, v;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			rss = v;
		else if (hwm != NULL && sscanf(line, "VmHWM: %ld", &v) == 1)
			*hwm = v;
	}
	fclose(f);
	return rss;
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
sink_stop(void)
{
	int i, status;

	if (B.sink <= 0)
		return;
	kill(B.sink, SIGTERM);
	for (i = 0; i < 200 && waitpid(B.sink, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 200) {
		kill(B.sink, SIGKILL);
		waitpid(B.sink, &status, 0);
	}
	B.sink = 0;
}

static void die(const char *, ...) PRINTFLIKE(1, 2) NORETURN;

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "alerts_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	sink_stop();
	if (B.dir[0] != '\0')
		fprintf(stderr, "alerts_bench: files kept in %s\n", B.dir);
	exit(1);
}

/* A TCP port of 127.0.0.1 that was free a moment ago; nothing listens on it. */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd, port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) == -1)
		die("free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
port_open(int port)
{
	struct sockaddr_in a;
	int fd, up;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return up;
}

/* Spawn argv with stdin from in (NULL: /dev/null), stdout and stderr to out. */
static pid_t
spawn(char *const argv[], char *const envp[], const char *in, const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, 0, in != NULL ? in : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(
	    &fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	e = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		die("spawn %s: %s", argv[0], strerror(e));
	return pid;
}

/* aiosmtpd with bench/alerts_sink.py's counting handler on B.port. */
static void
sink_start(const char *benchdir)
{
	char listen[32], log[128], pypath[1024], **envp;
	char *argv[] = { PYTHON, "-m", "aiosmtpd", "-n", "-l", listen, "-c",
		"alerts_sink.Count", B.stats, NULL };
	int64_t end = now_ns() + 10000000000LL;
	size_t n, i, k;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", B.port);
	snprintf(log, sizeof(log), "%s/sink.log", B.dir);
	snprintf(pypath, sizeof(pypath), "PYTHONPATH=%s", benchdir);
	for (n = 0; environ[n] != NULL; n++)
		;
	envp = xcalloc(n + 2, sizeof(*envp));
	envp[0] = pypath;
	for (i = 0, k = 1; i < n; i++)
		if (strncmp(environ[i], "PYTHONPATH=", 11) != 0)
			envp[k++] = environ[i];
	B.sink = spawn(argv, envp, NULL, log);
	free(envp);
	while (!port_open(B.port)) {
		if (now_ns() > end || waitpid(B.sink, NULL, WNOHANG) != 0) {
			B.sink = 0;
			die("aiosmtpd did not start on port %d (log: %s)", B.port, log);
		}
		usleep(20000);
	}
}

struct sink_stats {
	long messages, recipients, bytes, duplicates, out_of_order, unmarked;
	long sessions; /* EHLO commands: connections */
};

/* What the sink counted since the last call (it starts afresh). */
static void
sink_stats(struct sink_stats *s)
{
	int64_t end = now_ns() + 5000000000LL;
	json_error_t jerr;
	json_t *o;

	unlink(B.stats);
	kill(B.sink, SIGUSR1);
	while (access(B.stats, R_OK) == -1) {
		if (now_ns() > end)
			die("the sink did not write %s", B.stats);
		usleep(5000);
	}
	if ((o = json_load_file(B.stats, 0, &jerr)) == NULL)
		die("%s: %s", B.stats, jerr.text);
#define GET(f) s->f = (long)json_integer_value(json_object_get(o, #f))
	GET(messages);
	GET(recipients);
	GET(bytes);
	GET(duplicates);
	GET(out_of_order);
	GET(unmarked);
	GET(sessions);
#undef GET
	json_decref(o);
}

/*
 * Whether the sink got want messages, nrcpt recipients and nbytes bytes in
 * all, each message once, in order.
 */
static int
sink_ok(const struct sink_stats *s, size_t want, size_t nrcpt, size_t nbytes)
{
	return s->messages == (long)want && s->recipients == (long)nrcpt &&
	       s->bytes == (long)nbytes && s->duplicates == 0 && s->out_of_order == 0 &&
	       s->unmarked == 0;
}

/*
 * Mail number i (from 0): two per incident, the first opens its thread
 * (critical), the second answers it (resolved).  Odd incidents go to one
 * recipient, even ones to two.  Fixed dates: the same bytes every run.
 */
static char *rcpt_one[] = { RCPT1, NULL }, *rcpt_two[] = { RCPT1, RCPT2, NULL };

static void
rcpt_of(size_t i, struct conf_strings *rcpt)
{
	int two = (i / 2 + 1) % 2 == 0;

	rcpt->v = two ? rcpt_two : rcpt_one;
	rcpt->n = two ? 2 : 1;
}

static const char *const body_fmt =
    "本庁舎の UPS ups1 がバッテリー運転に切り替わりました（停電）。\n"
    "\n"
    "インシデント: #%llu\n"
    "重大度:       %s\n"
    "検知:         %s (ups1.on_battery == true が 2 回連続)\n"
    "サイト:       本庁舎 (honcho), 運用モード: 通常\n"
    "\n"
    "現在の値:\n"
    "  ups1.on_battery        true      (10 秒前から)\n"
    "  ups1.battery_charge    97 pct\n"
    "  ups1.runtime_left      41 min    (推定)\n"
    "  ups1.input_voltage     0.0 V     (通常 100 V)\n"
    "  ups1.output_load       38 pct\n"
    "  ups1.temperature       27.5 C\n"
    "  pdu-a.current          12.4 A\n"
    "  genset1.state          starting\n"
    "\n"
    "対応手順 (playbook ups-on-battery):\n"
    "  1. 発電機 genset1 が起動したか確認する。\n"
    "  2. 5 分以内に商用電源が戻らなければ、サーバ室の\n"
    "     重要でない機器から順に停止する (runbook/shutdown-order.md)。\n"
    "  3. 電力会社の停電情報を確認し、復旧見込みを記録する。\n"
    "\n"
    "経過:\n"
    "  09:00:00  ups1.on_battery が true に変化 (trap upsTrapOnBattery)\n"
    "  09:00:10  2 回連続で確認、インシデント開始\n"
    "  09:00:10  通知: ict, facility (メール)\n"
    "\n"
    "影響範囲:\n"
    "  サーバ室 A (ラック A1-A6), ネットワーク機器室, 防災センター\n"
    "  UPS の給電が止まると、これらの機器は順に停止します。\n"
    "\n"
    "確認: sonae ack %llu    詳細: sonae incident %llu\n"
    "-- \n"
    "sonae が自動送信しました。このメールには返信しないでください。\n"
    "sonae business-continuity monitor, site honcho, host mon1.honcho.example.jp\n";

static char *
render(size_t i, size_t *len, struct conf_strings *rcpt)
{
	uint64_t inc = (uint64_t)(i / 2 + 1);
	int first = i % 2 == 0;
	int64_t opened = BASE_MS + (int64_t)inc * 60000, date;
	char *subject, *thread, *msgid, *body, *msg, err[256], when[64];
	struct mail m;

	date = opened + (first ? 0 : 600000);
	rcpt_of(i, rcpt);
	subject = mail_subject(
	    SITE, first ? "critical" : "resolved", inc, first ? TITLE : TITLE_BACK);
	thread = mail_thread_id(DOMAIN, SITE, inc, opened);
	msgid = first ? xstrdup(thread) : mail_message_id(DOMAIN, inc, date, (uint32_t)i);
	xasprintf(&body, body_fmt, (unsigned long long)inc,
	    first ? "CRITICAL" : "RESOLVED", time_format(opened, when, sizeof(when)),
	    (unsigned long long)inc, (unsigned long long)inc);
	memset(&m, 0, sizeof(m));
	m.from = FROM;
	m.from_name = "sonae 本庁舎";
	m.to = *rcpt;
	m.subject = subject;
	m.body = body;
	m.message_id = msgid;
	m.thread_id = thread;
	m.incident = inc;
	m.date_ms = date;
	if ((msg = mail_render(&m, len, err, sizeof(err))) == NULL)
		die("mail_render: %s", err);
	B.body_len = strlen(body);
	free(subject);
	free(thread);
	free(msgid);
	free(body);
	return msg;
}

/* Run the loop for ms milliseconds. */
static void
run_for(int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) };

	event_base_loopexit(B.base, &tv);
	event_base_dispatch(B.base);
}

static void
on_updown(void *arg, int down, const char *reason)
{
	(void)arg;
	(void)reason;
	if (down)
		B.down++;
	else
		B.up++;
}

static json_int_t
deliver_int(const char *key)
{
	json_t *j = deliver_json(B.d);
	json_int_t v = json_integer_value(json_object_get(j, key));

	json_decref(j);
	return v;
}

/* Every 20 ms while draining: progress marks, the end; every 100 ms, memory. */
static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	size_t left = spool_count(B.sp), done = B.n - left;
	int64_t t = now_ns();
	long rss;

	(void)fd;
	(void)what;
	(void)arg;
	if (B.ticks++ % 5 == 0 && (rss = rss_kb(NULL)) > B.rss_peak)
		B.rss_peak = rss;
	while (B.next_mark <= 10 && done >= B.n * B.next_mark / 10)
		B.marks[B.next_mark++] = t - B.t0;
	if (left == 0 || t > B.deadline)
		event_base_loopbreak(B.base);
}

static void on_sent(void *, int, int, const char *);

/* The transport alone: message i of the rendered ones, with smtp_send(). */
static void
send_next(void)
{
	struct conf_strings rcpt;
	size_t i = B.nsent++;

	rcpt_of(i, &rcpt);
	if (smtp_send(B.smtp, B.relay, FROM, (const char *const *)rcpt.v, rcpt.n,
	        B.msgs[i], B.lens[i], on_sent, NULL) == -1)
		die("smtp_send: %s", strerror(errno));
}

static void
on_sent(void *arg, int ok, int permanent, const char *reason)
{
	(void)arg;
	(void)permanent;
	if (!ok)
		die("smtp_send: %s", reason);
	if (++B.nok == B.want)
		event_base_loopbreak(B.base);
	else
		send_next();
}

static void
on_warm_up(void *arg, int ok, int permanent, const char *reason)
{
	(void)permanent;
	(void)reason;
	if (ok)
		die("something accepts mail on the relay's port %d", B.port);
	*(int *)arg = 1;
}

/*
 * One attempt straight through the transport to the relay that is down, so
 * that the memory at 0 queued already holds what a first attempt sets up
 * (libcurl's state, the worker thread's malloc arena).
 */
static void
warm_up(void)
{
	char *rcpt[] = { RCPT1 }, msg[] = "Subject: warm-up\r\n\r\nx\r\n";
	int done = 0;

	if (smtp_send(B.smtp, B.relay, FROM, (const char *const *)rcpt, 1, msg,
	        strlen(msg), on_warm_up, &done) == -1)
		die("smtp_send: %s", strerror(errno));
	while (!done)
		event_base_loop(B.base, EVLOOP_ONCE);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1];
}

/* The absolute path of a program found in PATH, or NULL. */
static char *
which(const char *name)
{
	const char *path = getenv("PATH"), *p, *e;
	char buf[1024];

	for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0';
	     p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(e - p), p, name);
		if (access(buf, X_OK) == 0)
			return xstrdup(buf);
	}
	return NULL;
}

struct peer {
	const char *name;
	int ran, ok;
	int64_t wall_ns, cpu_ns, sink_ns;
	struct sink_stats got;
};

/*
 * Send the first n messages with one process of p each, as an alert hook
 * does: swaks reads the message from a file (--data @FILE), msmtp from its
 * standard input; both are given the server, port, envelope and EHLO name on
 * the command line.
 */
static void
run_peer(struct peer *p, size_t n)
{
	char *path = which(p->name), port[16], portopt[32], file[160], data[170];
	char log[160], *argv[20];
	struct conf_strings rcpt;
	int64_t t0, c0, s0;
	size_t i, j, rcpts = 0;
	int swaks = strcmp(p->name, "swaks") == 0, status, k;
	pid_t pid;

	if (path == NULL) {
		printf("%s: not installed, skipped\n", p->name);
		return;
	}
	snprintf(port, sizeof(port), "%d", B.port);
	snprintf(portopt, sizeof(portopt), "--port=%d", B.port);
	snprintf(log, sizeof(log), "%s/peer-%s.log", B.dir, p->name);
	sink_stats(&p->got); /* count afresh */
	t0 = now_ns();
	c0 = rusage_ns(RUSAGE_CHILDREN);
	s0 = proc_cpu_ns(B.sink);
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/peer/%06zu.eml", B.dir, i);
		snprintf(data, sizeof(data), "@%s", file);
		rcpt_of(i, &rcpt);
		rcpts += rcpt.n;
		k = 0;
		argv[k++] = path;
		if (swaks) {
			argv[k++] = "--server";
			argv[k++] = "127.0.0.1";
			argv[k++] = "--port";
			argv[k++] = port;
			argv[k++] = "--from";
			argv[k++] = FROM;
			argv[k++] = "--to";
			argv[k++] = rcpt.n == 2 ? RCPT1 "," RCPT2 : RCPT1;
			argv[k++] = "--helo";
			argv[k++] = "bench.example";
			argv[k++] = "--data";
			argv[k++] = data;
			argv[k++] = "--hide-all";
		} else {
			argv[k++] = "-C";
			argv[k++] = "/dev/null";
			argv[k++] = "--host=127.0.0.1";
			argv[k++] = portopt;
			argv[k++] = "--auth=off";
			argv[k++] = "--tls=off";
			argv[k++] = "--domain=bench.example";
			argv[k++] = "--from=" FROM;
			argv[k++] = "--";
			for (j = 0; j < rcpt.n; j++)
				argv[k++] = rcpt.v[j];
		}
		argv[k] = NULL;
		pid = spawn(argv, environ, swaks ? NULL : file, log);
		if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			die("%s failed on message %zu (log: %s)", p->name, i, log);
	}
	p->wall_ns = now_ns() - t0;
	p->cpu_ns = rusage_ns(RUSAGE_CHILDREN) - c0;
	p->sink_ns = proc_cpu_ns(B.sink) - s0;
	sink_stats(&p->got);
	/* swaks ends the data with one more CRLF of its own. */
	p->ok = sink_ok(&p->got, n, rcpts, bytes_of(n) + (swaks ? 2 * n : 0));
	p->ran = 1;
	free(path);
}

static size_t
parse_samples(const char *s, size_t *v, size_t max)
{
	size_t n = 0;
	char *end;

	while (*s != '\0') {
		if (n == max)
			die("at most %zu samples", max);
		v[n++] = strtoul(s, &end, 10);
		if (end == s || (*end != ',' && *end != '\0'))
			die("samples: a comma-separated list of counts");
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static json_t *
sink_json(const struct sink_stats *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "messages",
	    (json_int_t)s->messages, "recipients", (json_int_t)s->recipients, "bytes",
	    (json_int_t)s->bytes, "duplicates", (json_int_t)s->duplicates, "out_of_order",
	    (json_int_t)s->out_of_order, "unmarked", (json_int_t)s->unmarked, "sessions",
	    (json_int_t)s->sessions);
}

#define US(ns, n) ((double)(ns) / 1e3 / (double)(n))
#define MS(ns)    ((double)(ns) / 1e6)

int
main(int argc, char **argv)
{
	size_t n = 10000, peer_n = 200, brk_n = 1000, nsamp = 0, i, k, si = 0;
	size_t samp[MAX_SAMPLES], s_queued[MAX_SAMPLES + 1], s_mem[MAX_SAMPLES + 1];
	size_t bytes = 0, rcpts = 0, delivered, fails_before, brk_rcpts = 0, len;
	size_t drain_failed;
	long s_rss[MAX_SAMPLES + 1], s_fail[MAX_SAMPLES + 1], hwm = 0, rss_after;
	const char *out = NULL, *peers = "swaks,msmtp", *benchdir = BENCH_DIR;
	int64_t settle = 1500, *add_ns, t0, t_render = 0, t_add = 0, add_cpu = 0;
	int64_t wall, cpu, cpu_main, sink_cpu, c0, m0, s0;
	int64_t tr_wall = 0, tr_cpu = 0, tr_sink = 0, sp_wall = 0, sp_cpu = 0;
	long w0, ws0, wake = 0, wake_sink = 0, tr_wake = 0, tr_wake_sink = 0;
	struct peer pv[2] = { { .name = "swaks" }, { .name = "msmtp" } };
	struct sink_stats got, tr_got = { 0 };
	struct smtp_relay relay;
	char url[64], err[512], path[160], *msg, *s;
	struct conf_strings rcpt;
	struct event *tick;
	int c, kick_each = 0, ok, tr_ok = 1;
	uint64_t id, next;
	json_t *o, *js, *jp;
	FILE *f;

	while ((c = getopt(argc, argv, "n:s:p:x:b:w:kd:o:")) != -1)
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 's':
			nsamp = parse_samples(optarg, samp, MAX_SAMPLES);
			break;
		case 'p':
			peer_n = strtoul(optarg, NULL, 10);
			break;
		case 'x':
			peers = optarg;
			break;
		case 'b':
			brk_n = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			settle = strtol(optarg, NULL, 10);
			break;
		case 'k':
			kick_each = 1;
			break;
		case 'd':
			benchdir = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			die("usage: alerts_bench [-n MESSAGES] [-s N,N,...] [-p PEER] "
			    "[-x swaks,msmtp] [-b BREAKDOWN] [-w SETTLE_MS] [-k] "
			    "[-d BENCH_DIR] [-o FILE]");
		}
	if (n < 10)
		die("MESSAGES: at least 10");
	if (nsamp == 0) {
		samp[nsamp++] = n / 10;
		samp[nsamp++] = n / 2;
		samp[nsamp++] = n;
	}
	for (i = 0; i < nsamp; i++)
		if (samp[i] == 0 || samp[i] > n || (i > 0 && samp[i] <= samp[i - 1]))
			die("samples must grow, between 1 and MESSAGES");
	if (peer_n > n)
		peer_n = n;
	if (brk_n > n)
		brk_n = n;
	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	tz_apply("Asia/Tokyo");
	snprintf(B.dir, sizeof(B.dir), "/tmp/sonae-alerts-bench-XXXXXX");
	if (mkdtemp(B.dir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	snprintf(B.stats, sizeof(B.stats), "%s/sink.json", B.dir);

	B.base = event_base_new();
	if ((B.sp = spool_open(B.dir, &backoff, err, sizeof(err))) == NULL)
		die("%s", err);
	if ((B.smtp = smtp_new(B.base, err, sizeof(err))) == NULL)
		die("%s", err);
	B.port = free_port();
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d/bench.example", B.port);
	smtp_relay_init(&relay);
	relay.url = url;
	relay.timeout_ms = 10000;
	relay.connect_timeout_ms = 2000;
	B.relay = &relay;
	if ((B.d = deliver_new(B.base, B.sp, B.smtp, &relay, 1, err, sizeof(err))) ==
	    NULL)
		die("%s", err);
	deliver_set_callback(B.d, on_updown, NULL);

	/* 1 and 2: queue while the relay is down; memory at each sample. */
	add_ns = xcalloc(n, sizeof(*add_ns));
	B.msg_len = xcalloc(n, sizeof(*B.msg_len));
	warm_up();
	run_for(settle);
	s_queued[0] = 0;
	s_rss[0] = rss_kb(NULL);
	s_mem[0] = spool_memory(B.sp);
	s_fail[0] = 0;
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		msg = render(i, &len, &rcpt);
		t_render += now_ns() - t0;
		c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		t0 = now_ns();
		if (spool_add(B.sp, FROM, &rcpt, (uint64_t)(i / 2 + 1), msg, len,
		        time_now_ms(), &id, err, sizeof(err)) == -1)
			die("spool_add: %s", err);
		add_ns[i] = now_ns() - t0;
		add_cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
		t_add += add_ns[i];
		B.msg_len[i] = len;
		bytes += len;
		rcpts += rcpt.n;
		free(msg);
		/* The daemon kicks the engine when it queues a mail. */
		if (i == 0 || kick_each)
			deliver_kick(B.d);
		event_base_loop(B.base, EVLOOP_NONBLOCK);
		if (si < nsamp && i + 1 == samp[si]) {
			run_for(settle);
			si++;
			s_queued[si] = i + 1;
			s_rss[si] = rss_kb(NULL);
			s_mem[si] = spool_memory(B.sp);
			s_fail[si] = (long)deliver_int("failed");
		}
	}
	if (spool_count(B.sp) != n)
		die("%zu queued, not %zu", spool_count(B.sp), n);
	fails_before = (size_t)deliver_int("failed");
	if (B.down != 1 || fails_before < DELIVER_DOWN_FAILURES)
		die("the engine did not say once that alerts cannot leave the site");

	/* 3: the relay returns on the same port; drain. */
	sink_start(benchdir);
	sink_stats(&got);
	B.n = n;
	B.rss_peak = rss_kb(NULL);
	tick = event_new(B.base, -1, EV_PERSIST, on_drain_tick, NULL);
	event_add(tick, &(struct timeval){ 0, 20000 });
	B.t0 = now_ns();
	B.deadline = B.t0 + 900 * 1000000000LL;
	c0 = rusage_ns(RUSAGE_SELF);
	m0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	s0 = proc_cpu_ns(B.sink);
	w0 = sleeps(0);
	ws0 = sleeps(B.sink);
	deliver_kick(B.d);
	event_base_dispatch(B.base);
	wall = now_ns() - B.t0;
	cpu = rusage_ns(RUSAGE_SELF) - c0;
	cpu_main = clock_ns(CLOCK_THREAD_CPUTIME_ID) - m0;
	sink_cpu = proc_cpu_ns(B.sink) - s0;
	wake = sleeps(0) - w0;
	wake_sink = sleeps(B.sink) - ws0;
	event_del(tick);
	event_free(tick);
	rss_after = rss_kb(&hwm);
	if (spool_count(B.sp) != 0)
		die("drain: %zu of %zu left after 900 s", spool_count(B.sp), n);
	delivered = (size_t)deliver_int("delivered");
	sink_stats(&got);
	drain_failed = (size_t)deliver_int("failed") - fails_before;
	ok = sink_ok(&got, n, rcpts, bytes) && delivered == n && drain_failed == 0 &&
	     B.up == 1;

	/* 4: the peers, one process per message, the same bytes. */
	if (peer_n > 0 && strcmp(peers, "none") != 0) {
		snprintf(path, sizeof(path), "%s/peer", B.dir);
		if (mkdir(path, 0700) == -1)
			die("%s: %s", path, strerror(errno));
		for (i = 0; i < peer_n; i++) {
			msg = render(i, &len, &rcpt);
			snprintf(path, sizeof(path), "%s/peer/%06zu.eml", B.dir, i);
			if ((f = fopen(path, "w")) == NULL ||
			    fwrite(msg, 1, len, f) != len || fclose(f) != 0)
				die("%s: %s", path, strerror(errno));
			free(msg);
		}
		for (k = 0; k < NELEM(pv); k++)
			if (strstr(peers, pv[k].name) != NULL)
				run_peer(&pv[k], peer_n);
	}

	/* 5: the transport alone, then the spool's side of a drain alone. */
	if (brk_n > 0) {
		B.msgs = xcalloc(brk_n, sizeof(*B.msgs));
		B.lens = xcalloc(brk_n, sizeof(*B.lens));
		for (i = 0; i < brk_n; i++) {
			B.msgs[i] = render(i, &B.lens[i], &rcpt);
			brk_rcpts += rcpt.n;
		}
		B.want = brk_n;
		sink_stats(&tr_got);
		t0 = now_ns();
		c0 = rusage_ns(RUSAGE_SELF);
		s0 = proc_cpu_ns(B.sink);
		w0 = sleeps(0);
		ws0 = sleeps(B.sink);
		send_next();
		event_base_dispatch(B.base);
		tr_wall = now_ns() - t0;
		tr_cpu = rusage_ns(RUSAGE_SELF) - c0;
		tr_sink = proc_cpu_ns(B.sink) - s0;
		tr_wake = sleeps(0) - w0;
		tr_wake_sink = sleeps(B.sink) - ws0;
		sink_stats(&tr_got);
		tr_ok = sink_ok(&tr_got, brk_n, brk_rcpts, bytes_of(brk_n));

		for (i = 0; i < brk_n; i++) {
			rcpt_of(i, &rcpt);
			if (spool_add(B.sp, FROM, &rcpt, (uint64_t)(i / 2 + 1), B.msgs[i],
			        B.lens[i], time_now_ms(), NULL, err, sizeof(err)) == -1)
				die("spool_add: %s", err);
		}
		t0 = now_ns();
		c0 = rusage_ns(RUSAGE_SELF);
		for (id = spool_first(B.sp); id != 0; id = next) {
			struct spool_msg *m = spool_get(B.sp, id, err, sizeof(err));

			if (m == NULL)
				die("spool_get: %s", err);
			spool_msg_free(m);
			next = spool_next(B.sp, id);
			if (spool_delivered(B.sp, id, err, sizeof(err)) == -1)
				die("spool_delivered: %s", err);
		}
		sp_wall = now_ns() - t0;
		sp_cpu = rusage_ns(RUSAGE_SELF) - c0;
		for (i = 0; i < brk_n; i++)
			free(B.msgs[i]);
		free(B.msgs);
		free(B.lens);
	}

	/* The table. */
	qsort(add_ns, n, sizeof(*add_ns), cmp_i64);
	printf("%zu messages, %zu bytes each on average (body %zu bytes of UTF-8 "
	       "text), %zu recipients; spool in %s\n",
	    n, bytes / n, B.body_len, rcpts, B.dir);
	printf("\nqueueing (spool_add: write, fsync, rename, fsync of the folder)\n");
	printf("  %.0f msgs/s; per message median %.2f ms, p99 %.2f ms, max %.2f ms, "
	       "CPU %.0f us; mail_render %.1f us\n",
	    (double)n / ((double)t_add / 1e9), pct(add_ns, n, 50) / 1e6,
	    pct(add_ns, n, 99) / 1e6, (double)add_ns[n - 1] / 1e6, US(add_cpu, n),
	    US(t_render, n));
	printf("\nmemory while queued (relay down, %s)\n",
	    kick_each ? "the engine kicked at every message"
	              : "attempts failing on the backoff, at most 1 s apart");
	printf("  %8s %10s %14s %16s\n", "queued", "VmRSS kB", "spool_memory B",
	    "failed attempts");
	for (i = 0; i <= nsamp; i++)
		printf("  %8zu %10ld %14zu %16ld\n", s_queued[i], s_rss[i], s_mem[i],
		    s_fail[i]);
	printf("  growth per queued message: VmRSS %.1f B (0 to %zu), %.1f B (%zu to "
	       "%zu); index %.1f B\n",
	    (double)(s_rss[nsamp] - s_rss[0]) * 1024 / (double)n, n,
	    nsamp > 1 ? (double)(s_rss[nsamp] - s_rss[1]) * 1024 /
	                    (double)(s_queued[nsamp] - s_queued[1])
	              : 0.0,
	    s_queued[1], s_queued[nsamp], (double)(s_mem[nsamp] - s_mem[0]) / (double)n);
	printf("\ndrain (aiosmtpd back on the relay's port, deliver_kick)\n");
	printf("  %.2f s, %.0f msgs/s; CPU per message %.0f us (loop thread %.0f, "
	       "libcurl worker %.0f); sink %.0f us\n",
	    MS(wall) / 1e3, (double)n / (MS(wall) / 1e3), US(cpu, n), US(cpu_main, n),
	    US(cpu - cpu_main, n), US(sink_cpu, n));
	printf("  sleeps per message (each a wake-up): %.1f here, %.1f in the sink\n",
	    (double)wake / (double)n, (double)wake_sink / (double)n);
	printf("  first tenth %.0f msgs/s, last tenth %.0f msgs/s; VmRSS peak %ld kB, "
	       "after %ld kB, VmHWM %ld kB\n",
	    (double)(n / 10) / (MS(B.marks[1]) / 1e3),
	    (double)(n - n * 9 / 10) / (MS(B.marks[10] - B.marks[9]) / 1e3), B.rss_peak,
	    rss_after, hwm);
	printf("  sink: %ld messages, %ld recipients, %ld bytes, %ld duplicates, %ld "
	       "out of order: %s; %ld connections\n",
	    got.messages, got.recipients, got.bytes, got.duplicates, got.out_of_order,
	    ok ? "OK" : "WRONG", got.sessions);
	if (!ok)
		printf("  expected %zu messages, %zu recipients, %zu bytes; the engine "
		       "delivered %zu, failed %zu during the drain, said 'back' %d "
		       "times\n",
		    n, rcpts, bytes, delivered, drain_failed, B.up);
	printf("\none process per message, the first %zu messages, same sink\n", peer_n);
	printf("  %-22s %10s %12s %12s %10s\n", "", "wall/msg", "client CPU", "sink CPU",
	    "msgs/s");
	printf("  %-22s %7.2f ms %9.0f us %9.0f us %10.0f\n", "sonae (drain above)",
	    MS(wall) / (double)n, US(cpu, n), US(sink_cpu, n),
	    (double)n / (MS(wall) / 1e3));
	printf(
	    "  %-22s %10s %9.0f us\n", "sonae, with spool_add", "", US(cpu + add_cpu, n));
	for (k = 0; k < NELEM(pv); k++)
		if (pv[k].ran)
			printf("  %-22s %7.2f ms %9.0f us %9.0f us %10.0f  (wall x%.1f, "
			       "CPU x%.1f)%s\n",
			    pv[k].name, MS(pv[k].wall_ns) / (double)peer_n,
			    US(pv[k].cpu_ns, peer_n), US(pv[k].sink_ns, peer_n),
			    (double)peer_n / (MS(pv[k].wall_ns) / 1e3),
			    (MS(pv[k].wall_ns) / (double)peer_n) / (MS(wall) / (double)n),
			    US(pv[k].cpu_ns, peer_n) / US(cpu, n),
			    pv[k].ok ? "" : "  WRONG at the sink");
	if (brk_n > 0) {
		printf("\nbreakdown, %zu messages\n", brk_n);
		printf(
		    "  transport alone (smtp_send, one after another): %.2f ms/msg, CPU "
		    "%.0f us, sink %.0f us; sleeps %.1f here, %.1f in the sink%s\n",
		    MS(tr_wall) / (double)brk_n, US(tr_cpu, brk_n), US(tr_sink, brk_n),
		    (double)tr_wake / (double)brk_n, (double)tr_wake_sink / (double)brk_n,
		    tr_ok ? "" : "  WRONG at the sink");
		printf(
		    "  spool side alone (spool_get + spool_delivered): %.2f ms/msg, CPU "
		    "%.0f us\n",
		    MS(sp_wall) / (double)brk_n, US(sp_cpu, brk_n));
	}

	/* The figures. */
	js = json_array();
	for (i = 0; i <= nsamp; i++)
		json_array_append_new(js,
		    json_pack("{s:I, s:I, s:I, s:I}", "queued", (json_int_t)s_queued[i],
		        "vmrss_kb", (json_int_t)s_rss[i], "spool_memory",
		        (json_int_t)s_mem[i], "failed", (json_int_t)s_fail[i]));
	jp = json_object();
	for (k = 0; k < NELEM(pv); k++)
		if (pv[k].ran)
			json_object_set_new(jp, pv[k].name,
			    json_pack("{s:I, s:f, s:f, s:f, s:o, s:b}", "messages",
			        (json_int_t)peer_n, "wall_ms_per_msg",
			        MS(pv[k].wall_ns) / (double)peer_n, "cpu_us_per_msg",
			        US(pv[k].cpu_ns, peer_n), "sink_cpu_us_per_msg",
			        US(pv[k].sink_ns, peer_n), "sink", sink_json(&pv[k].got),
			        "verified", pv[k].ok));
	o = json_pack(
	    "{s:I, s:I, s:I, s:b, s:{s:f, s:f, s:f, s:f, s:f, s:f}, s:o, "
	    "s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:o, s:b}, "
	    "s:o}",
	    "messages", (json_int_t)n, "message_bytes_avg", (json_int_t)(bytes / n),
	    "recipients", (json_int_t)rcpts, "kick_each", kick_each, "queue",
	    "msgs_per_s", (double)n / ((double)t_add / 1e9), "add_ms_median",
	    pct(add_ns, n, 50) / 1e6, "add_ms_p99", pct(add_ns, n, 99) / 1e6,
	    "add_ms_max", (double)add_ns[n - 1] / 1e6, "add_cpu_us", US(add_cpu, n),
	    "render_us", US(t_render, n), "memory", js, "drain", "wall_s", MS(wall) / 1e3,
	    "msgs_per_s", (double)n / (MS(wall) / 1e3), "cpu_us_per_msg", US(cpu, n),
	    "loop_thread_us_per_msg", US(cpu_main, n), "worker_us_per_msg",
	    US(cpu - cpu_main, n), "sink_cpu_us_per_msg", US(sink_cpu, n),
	    "sleeps_per_msg", (double)wake / (double)n, "sink_sleeps_per_msg",
	    (double)wake_sink / (double)n, "last_tenth_msgs_per_s",
	    (double)(n - n * 9 / 10) / (MS(B.marks[10] - B.marks[9]) / 1e3),
	    "vmrss_peak_kb", (json_int_t)B.rss_peak, "vmrss_after_kb",
	    (json_int_t)rss_after, "vmhwm_kb", (json_int_t)hwm, "sink", sink_json(&got),
	    "verified", ok, "peers", jp);
	if (brk_n > 0)
		json_object_set_new(o, "breakdown",
		    json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:b, s:f, s:f}", "messages",
		        (json_int_t)brk_n, "transport_ms_per_msg",
		        MS(tr_wall) / (double)brk_n, "transport_cpu_us_per_msg",
		        US(tr_cpu, brk_n), "transport_sink_cpu_us_per_msg",
		        US(tr_sink, brk_n), "transport_sleeps_per_msg",
		        (double)tr_wake / (double)brk_n, "transport_sink_sleeps_per_msg",
		        (double)tr_wake_sink / (double)brk_n, "transport_verified", tr_ok,
		        "spool_ms_per_msg", MS(sp_wall) / (double)brk_n,
		        "spool_cpu_us_per_msg", US(sp_cpu, brk_n)));
	if (out != NULL) {
		if ((f = fopen(out, "w")) == NULL)
			die("%s: %s", out, strerror(errno));
		s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fprintf(f, "%s\n", s);
		fclose(f);
		free(s);
	}
	json_decref(o);

	deliver_free(B.d);
	smtp_free(B.smtp);
	spool_close(B.sp);
	event_base_free(B.base);
	sink_stop();
	free(add_ns);
	if (!ok || !tr_ok || (pv[0].ran && !pv[0].ok) || (pv[1].ran && !pv[1].ok)) {
		printf("\nWRONG: what arrived is not what was sent (files kept in %s)\n",
		    B.dir);
		return 1;
	}
	if (nftw(B.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == -1)
		fprintf(stderr, "alerts_bench: could not remove %s\n", B.dir);
	return 0;
}

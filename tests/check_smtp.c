/*
 * alerts/smtp.c against real relays on 127.0.0.1: aiosmtpd's own Mailbox
 * server, and tests/integration/smtp_server.py (STARTTLS, implicit TLS, AUTH,
 * refused recipients, a slow relay), started by each test and stopped by
 * their PID in the teardown.  Each test runs its own event loop until done
 * is called or a deadline of a few seconds passes.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "monitor/monitor.h"
#include "alerts/alert.h"
#include "tests/testutil.h"

#define PYTHON   "/usr/bin/python3"
#define USER     "sonae"
#define PASSWORD "Kd8#pq2!vX"

static const char *dir;

struct result {
	int called;
	int ok, permanent;
	size_t relay;
	char reason[640];
	struct smtp **free_me; /* free this client from inside done */
};

static void
on_done(void *arg, int ok, int permanent, const char *reason)
{
	struct result *r = arg;

	r->called++;
	r->ok = ok;
	r->permanent = permanent;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	if (r->free_me != NULL) {
		smtp_free(*r->free_me);
		*r->free_me = NULL;
	}
}

static void
on_done_any(void *arg, int ok, int permanent, size_t relay, const char *reason)
{
	struct result *r = arg;

	r->relay = relay;
	on_done(arg, ok, permanent, reason);
}

static void
setup(void)
{
	dir = testutil_tmpdir("check-smtp");
}

static void
teardown(void)
{
	testutil_reap();
	testutil_rmdir();
}

/* A 50 ms repeating timer on the loop: it fires only while the loop runs free. */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(*(int *)arg)++;
}

static struct event *
ticker_start(struct event_base *base, int *n)
{
	struct timeval tv = { 0, 50000 };
	struct event *ev = event_new(base, -1, EV_PERSIST, tick, n);

	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(event_add(ev, &tv), 0);
	return ev;
}

/* Wait for a whole "ready PORT" line per listener on fd. */
static void
peer_ready(int fd, int listeners)
{
	char buf[512];
	size_t len = 0;
	int64_t end = time_mono_ms() + 10000;
	const char *p;
	int seen = 0;

	while (seen < listeners) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = end - time_mono_ms();
		ssize_t n;

		ck_assert_msg(
		    left > 0, "the SMTP server did not say ready: %.*s", (int)len, buf);
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		ck_assert_msg(n > 0, "the SMTP server exited before it was ready");
		len += (size_t)n;
		buf[len] = '\0';
		for (seen = 0, p = buf; (p = strstr(p, "ready ")) != NULL; p++)
			if (strchr(p, '\n') != NULL)
				seen++;
	}
	close(fd);
}

/* Two free ports of 127.0.0.1, different from each other. */
static void
free_ports(int *a, int *b)
{
	*a = testutil_free_port(SOCK_STREAM);
	do
		*b = testutil_free_port(SOCK_STREAM);
	while (*b == *a);
}

/*
 * tests/integration/smtp_server.py into the Maildir dir/name.  tls: the
 * STARTTLS listener on port and an implicit TLS one on tls_port (if not 0),
 * with dir/cert.pem and AUTH; else plain.  extra: more options, NULL-ended.
 */
static char *
start_server(const char *name, int port, int tls, int tls_port, const char *const *extra)
{
	const char *src = getenv("SONAE_SRC");
	char *argv[32], *script, *maildir = testutil_path(dir, name);
	char *cert = testutil_path(dir, "cert.pem"), *key = testutil_path(dir, "key.pem");
	char sport[16], stls[16];
	size_t i = 0;
	int out;

	ck_assert_msg(src != NULL, "SONAE_SRC is not set");
	xasprintf(&script, "%s/tests/integration/smtp_server.py", src);
	snprintf(sport, sizeof(sport), "%d", port);
	snprintf(stls, sizeof(stls), "%d", tls_port);
	argv[i++] = (char *)PYTHON;
	argv[i++] = script;
	argv[i++] = (char *)"--maildir";
	argv[i++] = maildir;
	argv[i++] = (char *)"--port";
	argv[i++] = sport;
	if (tls) {
		argv[i++] = (char *)"--cert";
		argv[i++] = cert;
		argv[i++] = (char *)"--key";
		argv[i++] = key;
		argv[i++] = (char *)"--user";
		argv[i++] = (char *)USER;
		argv[i++] = (char *)"--password";
		argv[i++] = (char *)PASSWORD;
		if (tls_port != 0) {
			argv[i++] = (char *)"--tls-port";
			argv[i++] = stls;
		}
	} else
		argv[i++] = (char *)"--plain";
	for (; extra != NULL && *extra != NULL; extra++)
		argv[i++] = (char *)(uintptr_t)*extra;
	argv[i] = NULL;
	ck_assert_uint_lt(i, NELEM(argv));
	testutil_spawn(argv, &out);
	peer_ready(out, tls && tls_port != 0 ? 2 : 1);
	free(script);
	free(cert);
	free(key);
	return maildir;
}

/* A self-signed certificate for 127.0.0.1 in dir/cert.pem, dir/key.pem. */
static void
make_cert(void)
{
	char *cert = testutil_path(dir, "cert.pem"), *key = testutil_path(dir, "key.pem");
	char *argv[] = { (char *)"/usr/bin/openssl", (char *)"req", (char *)"-x509",
		(char *)"-newkey", (char *)"rsa:2048", (char *)"-nodes", (char *)"-days",
		(char *)"2", (char *)"-subj", (char *)"/CN=127.0.0.1", (char *)"-addext",
		(char *)"subjectAltName=IP:127.0.0.1", (char *)"-keyout", key,
		(char *)"-out", cert, NULL };
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "openssl req failed");
	free(cert);
	free(key);
}

/* The one mail in maildir/new, NUL-terminated (caller frees). */
static char *
maildir_read(const char *maildir)
{
	char *path = testutil_path(maildir, "new"), *file = NULL, *text;
	DIR *d = opendir(path);
	struct dirent *e;
	struct stat st;
	FILE *f;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			ck_assert_msg(file == NULL, "more than one mail in %s", path);
			file = testutil_path(path, e->d_name);
		}
	closedir(d);
	ck_assert_msg(file != NULL, "no mail in %s", path);
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	text = xmalloc((size_t)st.st_size + 1);
	ck_assert_uint_eq(fread(text, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	text[st.st_size] = '\0';
	fclose(f);
	free(file);
	free(path);
	return text;
}

/* The value of header name in the mail's header block, or NULL (caller frees). */
static char *
mail_header(const char *mail, const char *name)
{
	const char *end = strstr(mail, "\n\n"), *p = mail;
	size_t n = strlen(name);

	while (p != NULL && p < end) {
		if (strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ')
			return xstrndup(p + n + 2, strcspn(p + n + 2, "\n"));
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static void
assert_header(const char *mail, const char *name, const char *want)
{
	char *v = mail_header(mail, name);

	ck_assert_msg(v != NULL, "no %s header in:\n%s", name, mail);
	ck_assert_str_eq(v, want);
	free(v);
}

static void
relay_at(struct smtp_relay *r, char *url, size_t len, const char *scheme, int port)
{
	snprintf(url, len, "%s://127.0.0.1:%d", scheme, port);
	smtp_relay_init(r);
	r->url = url;
	r->timeout_ms = 4000;
}

static const char message[] = "From: sonae <sonae@example.org>\r\n"
                              "To: ict@example.org\r\n"
                              "Subject: power outage\r\n"
                              "MIME-Version: 1.0\r\n"
                              "Content-Type: text/plain; charset=UTF-8\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n"
                              "\r\n"
                              "停電: ups1 はバッテリー運転中です (残り 12 分)\r\n"
                              ".a line that starts with a dot\r\n"
                              "a line with a bare LF\n"
                              "end\r\n";
/* What the Maildir holds after the blank line: LF line ends, dots unstuffed. */
static const char stored_body[] = "停電: ups1 はバッテリー運転中です (残り 12 分)\n"
                                  ".a line that starts with a dot\n"
                                  "a line with a bare LF\n"
                                  "end\n";
static const char *const rcpt1[] = { "ict@example.org" };

static struct smtp *
client(struct event_base *base)
{
	char err[256] = "";
	struct smtp *smtp = smtp_new(base, err, sizeof(err));

	ck_assert_msg(smtp != NULL, "smtp_new: %s", err);
	return smtp;
}

/* Send message to relay r and run the loop until done (8 s at most). */
static void
send_one(struct event_base *base, struct smtp *smtp, const struct smtp_relay *r,
    const char *const *rcpt, size_t nrcpt, struct result *res)
{
	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(smtp_send(smtp, r, "sonae@example.org", rcpt, nrcpt, message,
	                     sizeof(message) - 1, on_done, res),
	    0);
	ck_assert_int_eq(res->called, 0); /* never inline */
	testutil_loop_until(base, testutil_flag_set, &res->called, 8000);
	ck_assert_msg(res->called == 1, "done called %d times", res->called);
}

/* 1. A UTF-8 message through aiosmtpd, byte for byte, with its envelope. */
START_TEST(plain_delivery)
{
	static const char *const rcpt[] = { "ict@example.org", "lead@example.org" };
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir, *mail, *body;
	int port = testutil_free_port(SOCK_STREAM);

	maildir = testutil_aiosmtpd(dir, port);
	relay_at(&r, url, sizeof(url), "smtp", port);
	send_one(base, smtp, &r, rcpt, NELEM(rcpt), &res);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(strncmp(res.reason, "250", 3) == 0, "reason: %s", res.reason);

	mail = maildir_read(maildir);
	assert_header(mail, "X-MailFrom", "sonae@example.org");
	assert_header(mail, "X-RcptTo", "ict@example.org, lead@example.org");
	assert_header(mail, "Subject", "power outage");
	ck_assert_ptr_nonnull(body = strstr(mail, "\n\n"));
	ck_assert_str_eq(body + 2, stored_body);

	/* Reported once: nothing more comes while the loop runs on. */
	{
		int never = 0;
		testutil_loop_until(base, testutil_flag_set, &never, 200);
	}
	ck_assert_int_eq(res.called, 1);
	smtp_free(smtp);
	event_base_free(base);
	free(mail);
	free(maildir);
}
END_TEST

/* 2. Nothing listening: a prompt failure that says so, not permanent. */
START_TEST(relay_refused)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64];
	int never = 0;

	relay_at(&r, url, sizeof(url), "smtp", testutil_free_port(SOCK_STREAM));
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(strcasestr(res.reason, "connection refused") != NULL, "reason: %s",
	    res.reason);
	testutil_loop_until(base, testutil_flag_set, &never, 200);
	ck_assert_int_eq(res.called, 1);
	smtp_free(smtp);
	event_base_free(base);
}
END_TEST

/* 2b. A relay that accepts the connection and never speaks: the timeout. */
START_TEST(relay_silent)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct event *ev;
	char url[64];
	int fd, ticks = 0;

	/* Listening, never accepting: the kernel completes the handshake. */
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	relay_at(&r, url, sizeof(url), "smtp", ntohs(a.sin_port));
	r.timeout_ms = 1000;
	ev = ticker_start(base, &ticks);
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(strstr(res.reason, "timed out") != NULL, "reason: %s", res.reason);
	/* About 20 ticks in the second the attempt took, had the loop run free. */
	ck_assert_msg(ticks >= 10, "the loop ticked %d times", ticks);
	event_free(ev);
	close(fd);
	smtp_free(smtp);
	event_base_free(base);
}
END_TEST

/*
 * 2c. A relay that takes 2 s to answer the end of DATA.  libcurl waits for
 * that answer inside one call (curl issue #8555): the loop must keep running
 * all the same.
 */
START_TEST(relay_slow)
{
	static const char *const extra[] = { "--delay-data", "2", NULL };
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	struct event *ev;
	char url[64], *maildir;
	int port = testutil_free_port(SOCK_STREAM), ticks = 0;

	maildir = start_server("slow", port, 0, 0, extra);
	relay_at(&r, url, sizeof(url), "smtp", port);
	ev = ticker_start(base, &ticks);
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	/* About 40 ticks in the 2 s the relay sat on the message. */
	ck_assert_msg(ticks >= 20, "the loop ticked %d times", ticks);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 1);
	event_free(ev);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* 3. Down, then 4xx, then a relay that takes it: the third one delivers. */
START_TEST(failover)
{
	static const char *const tempfail[] = { "--tempfail", "ict@example.org", NULL };
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r[3];
	struct result res;
	char url[3][64], *md_busy, *md_good, *mail;
	int busy, good;

	free_ports(&busy, &good);
	md_busy = start_server("busy", busy, 0, 0, tempfail);
	md_good = start_server("good", good, 0, 0, NULL);
	relay_at(&r[0], url[0], sizeof(url[0]), "smtp", testutil_free_port(SOCK_STREAM));
	relay_at(&r[1], url[1], sizeof(url[1]), "smtp", busy);
	relay_at(&r[2], url[2], sizeof(url[2]), "smtp", good);

	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(smtp_send_any(smtp, r, 3, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done_any, &res),
	    0);
	ck_assert_int_eq(res.called, 0);
	testutil_loop_until(base, testutil_flag_set, &res.called, 8000);
	ck_assert_int_eq(res.called, 1);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	ck_assert_uint_eq(res.relay, 2);
	ck_assert_uint_eq(testutil_maildir_count(md_busy), 0);
	mail = maildir_read(md_good);
	assert_header(mail, "X-RcptTo", "ict@example.org");
	free(mail);

	/* The last relay answers 4xx: its reason and its index. */
	relay_at(&r[1], url[1], sizeof(url[1]), "smtp", busy);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(smtp_send_any(smtp, r, 2, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done_any, &res),
	    0);
	testutil_loop_until(base, testutil_flag_set, &res.called, 8000);
	ck_assert_int_eq(res.called, 1);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_uint_eq(res.relay, 1);
	ck_assert_msg(strstr(res.reason, "450") != NULL, "reason: %s", res.reason);

	smtp_free(smtp);
	event_base_free(base);
	free(md_busy);
	free(md_good);
}
END_TEST

/* 3b. The brief's case exactly: first relay down, second up. */
START_TEST(failover_second)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r[2];
	struct result res;
	char url[2][64], *maildir;
	int down, up;

	free_ports(&down, &up);
	maildir = start_server("up", up, 0, 0, NULL);
	relay_at(&r[0], url[0], sizeof(url[0]), "smtp", down);
	relay_at(&r[1], url[1], sizeof(url[1]), "smtp", up);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(smtp_send_any(smtp, r, 2, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done_any, &res),
	    0);
	testutil_loop_until(base, testutil_flag_set, &res.called, 8000);
	ck_assert_int_eq(res.called, 1);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	ck_assert_uint_eq(res.relay, 1);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 1);

	/* Every relay down: the last one's reason, and its index. */
	r[1] = r[0];
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(smtp_send_any(smtp, r, 2, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done_any, &res),
	    0);
	testutil_loop_until(base, testutil_flag_set, &res.called, 8000);
	ck_assert_int_eq(res.called, 1);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_uint_eq(res.relay, 1);
	ck_assert_msg(
	    strcasestr(res.reason, "refused") != NULL, "reason: %s", res.reason);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* 3c. A 5xx refusal ends it: the next relay is not tried. */
START_TEST(failover_stops_on_5xx)
{
	static const char *const refuse[] = { "--refuse", "ict@example.org", NULL };
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r[2];
	struct result res;
	char url[2][64], *md_refuse, *md_good;
	int a, b;

	free_ports(&a, &b);
	md_refuse = start_server("refuse", a, 0, 0, refuse);
	md_good = start_server("good", b, 0, 0, NULL);
	relay_at(&r[0], url[0], sizeof(url[0]), "smtp", a);
	relay_at(&r[1], url[1], sizeof(url[1]), "smtp", b);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(smtp_send_any(smtp, r, 2, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done_any, &res),
	    0);
	testutil_loop_until(base, testutil_flag_set, &res.called, 8000);
	ck_assert_int_eq(res.called, 1);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 1);
	ck_assert_uint_eq(res.relay, 0);
	ck_assert_msg(strstr(res.reason, "550") != NULL, "reason: %s", res.reason);
	ck_assert_uint_eq(testutil_maildir_count(md_good), 0);
	smtp_free(smtp);
	event_base_free(base);
	free(md_refuse);
	free(md_good);
}
END_TEST

/* 4. A recipient refused with 550 is permanent; with 450 it is not. */
START_TEST(recipient_refused)
{
	static const char *const extra[] = { "--refuse", "nobody@example.org",
		"--tempfail", "busy@example.org", NULL };
	static const char *const nobody[] = { "ict@example.org", "nobody@example.org" };
	static const char *const busy[] = { "busy@example.org" };
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir;
	int port = testutil_free_port(SOCK_STREAM);

	maildir = start_server("refuse", port, 0, 0, extra);
	relay_at(&r, url, sizeof(url), "smtp", port);
	send_one(base, smtp, &r, nobody, NELEM(nobody), &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 1);
	ck_assert_msg(strstr(res.reason, "550") != NULL &&
	                  strstr(res.reason, "nobody@example.org") != NULL,
	    "reason: %s", res.reason);

	send_one(base, smtp, &r, busy, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(strstr(res.reason, "450") != NULL, "reason: %s", res.reason);
	/* No partial delivery to the recipients that were accepted. */
	ck_assert_uint_eq(testutil_maildir_count(maildir), 0);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* 5. STARTTLS with the CA file and AUTH: delivered, by LOGIN and by PLAIN. */
START_TEST(starttls_auth)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir, *mail, *cert;
	int port = testutil_free_port(SOCK_STREAM);

	make_cert();
	cert = testutil_path(dir, "cert.pem");
	maildir = start_server("tls", port, 1, 0, NULL);
	relay_at(&r, url, sizeof(url), "smtp", port);
	r.starttls = 1;
	r.ca_file = cert;
	r.user = USER;
	r.password = PASSWORD;
	r.login_options = "AUTH=LOGIN";
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	mail = maildir_read(maildir);
	assert_header(mail, "X-Auth", "LOGIN " USER);
	assert_header(mail, "X-MailFrom", "sonae@example.org");
	free(mail);

	/* libcurl picks among what the relay offers (PLAIN, as of 7.88). */
	r.login_options = NULL;
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 2);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
	free(cert);
}
END_TEST

/* 5b. A wrong password: refused with 535, not permanent (another relay may do). */
START_TEST(auth_rejected)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir, *cert;
	int port = testutil_free_port(SOCK_STREAM);

	make_cert();
	cert = testutil_path(dir, "cert.pem");
	maildir = start_server("tls", port, 1, 0, NULL);
	relay_at(&r, url, sizeof(url), "smtp", port);
	r.starttls = 1;
	r.ca_file = cert;
	r.user = USER;
	r.password = "not-the-password";
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(strcasestr(res.reason, "authentication") != NULL &&
	                  strstr(res.reason, "535") != NULL,
	    "reason: %s", res.reason);
	ck_assert_msg(strstr(res.reason, "not-the-password") == NULL, "%s", res.reason);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 0);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
	free(cert);
}
END_TEST

/* 5c. Verification on, no CA for the self-signed certificate: refused. */
START_TEST(tls_unverified)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir;
	int port, tls_port;

	make_cert();
	free_ports(&port, &tls_port);
	maildir = start_server("tls", port, 1, tls_port, NULL);
	relay_at(&r, url, sizeof(url), "smtp", port);
	r.starttls = 1;
	r.user = USER;
	r.password = PASSWORD;
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(
	    strstr(res.reason, "certificate") != NULL, "reason: %s", res.reason);

	/* The same over implicit TLS. */
	relay_at(&r, url, sizeof(url), "smtps", tls_port);
	r.user = USER;
	r.password = PASSWORD;
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_msg(
	    strstr(res.reason, "certificate") != NULL, "reason: %s", res.reason);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 0);

	/* insecure = 1 is the explicit way around it. */
	r.insecure = 1;
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* 5d. Implicit TLS (smtps://) with the CA file and AUTH. */
START_TEST(implicit_tls)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir, *mail, *cert;
	int port, tls_port;

	make_cert();
	cert = testutil_path(dir, "cert.pem");
	free_ports(&port, &tls_port);
	maildir = start_server("tls", port, 1, tls_port, NULL);
	relay_at(&r, url, sizeof(url), "smtps", tls_port);
	r.ca_file = cert;
	r.user = USER;
	r.password = PASSWORD;
	r.login_options = "AUTH=PLAIN";
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);
	mail = maildir_read(maildir);
	assert_header(mail, "X-Auth", "PLAIN " USER);
	free(mail);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
	free(cert);
}
END_TEST

/* 5e. STARTTLS required of a relay without it; a password never goes in clear. */
START_TEST(tls_required)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir;
	int port = testutil_free_port(SOCK_STREAM);

	maildir = start_server("plain", port, 0, 0, NULL);
	relay_at(&r, url, sizeof(url), "smtp", port);
	r.starttls = 1;
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_msg(strstr(res.reason, "STARTTLS") != NULL, "reason: %s", res.reason);

	r.starttls = 0;
	r.user = USER;
	r.password = PASSWORD;
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(
	    strstr(res.reason, "without TLS") != NULL, "reason: %s", res.reason);
	ck_assert_uint_eq(testutil_maildir_count(maildir), 0);
	smtp_free(smtp);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* base64 of len bytes of s (caller frees). */
static char *
b64(const char *s, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	return out;
}

/* The last 1000 bytes of log. */
static const char *
log_tail(const char *log)
{
	size_t len = strlen(log);

	return len > 1000 ? log + len - 1000 : log;
}

/* The start of the line of log that holds at. */
static const char *
log_line(const char *log, const char *at)
{
	while (at > log && at[-1] != '\n')
		at--;
	return at;
}

/* 6. The dialogue at verbosity 2: EHLO and AUTH shown, no credential. */
START_TEST(debug_log_hides_credentials)
{
	static const char plain[] = "\0" USER "\0" PASSWORD;
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64], *maildir, *cert, *logfile, *log, *secret[4];
	int port = testutil_free_port(SOCK_STREAM), fd, saved;
	size_t i;
	FILE *f;
	struct stat st;

	make_cert();
	cert = testutil_path(dir, "cert.pem");
	maildir = start_server("tls", port, 1, 0, NULL);
	relay_at(&r, url, sizeof(url), "smtp", port);
	r.starttls = 1;
	r.ca_file = cert;
	r.user = USER;
	r.password = PASSWORD;
	r.login_options = "AUTH=LOGIN";

	logfile = testutil_path(dir, "log");
	ck_assert_int_ge(fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	fflush(stderr);
	ck_assert_int_ge(saved = dup(2), 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	log_setverbose(2);
	send_one(base, smtp, &r, rcpt1, 1, &res);
	r.login_options = "AUTH=PLAIN";
	if (res.ok)
		send_one(base, smtp, &r, rcpt1, 1, &res);
	log_setverbose(0);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	ck_assert_msg(res.ok, "not delivered: %s", res.reason);

	ck_assert_ptr_nonnull(f = fopen(logfile, "r"));
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	log = xmalloc((size_t)st.st_size + 1);
	ck_assert_uint_eq(fread(log, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	log[st.st_size] = '\0';
	fclose(f);
	/* Check's messages are short: show the end of the log, or the line. */
	ck_assert_msg(
	    strstr(log, "> EHLO") != NULL, "no dialogue logged: ...%s", log_tail(log));
	ck_assert_msg(strstr(log, "> AUTH LOGIN [credentials not logged]") != NULL,
	    "no AUTH LOGIN line: ...%s", log_tail(log));
	ck_assert_msg(strstr(log, "> AUTH PLAIN [credentials not logged]") != NULL,
	    "no AUTH PLAIN line: ...%s", log_tail(log));
	secret[0] = xstrdup(PASSWORD);
	secret[1] = b64(PASSWORD, strlen(PASSWORD));
	secret[2] = b64(plain, sizeof(plain) - 1);
	secret[3] = b64(USER, strlen(USER)); /* AUTH LOGIN's first answer */
	for (i = 0; i < NELEM(secret); i++) {
		const char *at = strstr(log, secret[i]);
		ck_assert_msg(at == NULL, "\"%s\" logged: %.*s", secret[i],
		    (int)strcspn(log_line(log, at), "\n"), log_line(log, at));
		free(secret[i]);
	}
	/* Nor the message. */
	ck_assert_msg(strstr(log, "power outage") == NULL, "the message was logged");
	smtp_free(smtp);
	event_base_free(base);
	free(log);
	free(logfile);
	free(maildir);
	free(cert);
}
END_TEST

/* 7. smtp_free() with mails in flight and queued: each done once, cancelled. */
START_TEST(free_cancels)
{
	static const char *const extra[] = { "--delay-data", "6", NULL };
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result slow, fresh;
	char url[64], *maildir;
	int port = testutil_free_port(SOCK_STREAM), wait = 0;
	int64_t t0;

	maildir = start_server("slow", port, 0, 0, extra);
	relay_at(&r, url, sizeof(url), "smtp", port);
	r.timeout_ms = 20000;
	memset(&slow, 0, sizeof(slow));
	ck_assert_int_eq(smtp_send(smtp, &r, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done, &slow),
	    0);
	/* Long enough for the whole message to reach the relay, which sits on it. */
	testutil_loop_until(base, testutil_flag_set, &wait, 1000);
	ck_assert_int_eq(slow.called, 0);
	memset(&fresh, 0, sizeof(fresh));
	ck_assert_int_eq(smtp_send(smtp, &r, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done, &fresh),
	    0);
	t0 = time_mono_ms();
	smtp_free(smtp);
	/* libcurl was waiting for the relay's answer: cut off, not waited for. */
	ck_assert_msg(time_mono_ms() - t0 < 3000, "smtp_free took %lld ms",
	    (long long)(time_mono_ms() - t0));
	ck_assert_int_eq(slow.called, 1);
	ck_assert_int_eq(slow.ok, 0);
	ck_assert_int_eq(slow.permanent, 0);
	ck_assert_msg(strncmp(slow.reason, "cancelled", 9) == 0, "%s", slow.reason);
	ck_assert_int_eq(fresh.called, 1);
	ck_assert_int_eq(fresh.ok, 0);
	ck_assert_msg(strncmp(fresh.reason, "cancelled", 9) == 0, "%s", fresh.reason);
	testutil_loop_until(base, testutil_flag_set, &wait, 200);
	ck_assert_int_eq(slow.called, 1);
	ck_assert_int_eq(fresh.called, 1);
	event_base_free(base);
	free(maildir);
}
END_TEST

/* 7b. smtp_free() from inside a done callback, with another mail in flight. */
START_TEST(free_from_done)
{
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay down, silent;
	struct result first, second;
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char url[2][64];
	int fd;

	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	relay_at(&silent, url[0], sizeof(url[0]), "smtp", ntohs(a.sin_port));
	relay_at(&down, url[1], sizeof(url[1]), "smtp", testutil_free_port(SOCK_STREAM));

	memset(&second, 0, sizeof(second));
	ck_assert_int_eq(smtp_send(smtp, &silent, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done, &second),
	    0);
	memset(&first, 0, sizeof(first));
	first.free_me = &smtp;
	ck_assert_int_eq(smtp_send(smtp, &down, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, on_done, &first),
	    0);
	testutil_loop_until(base, testutil_flag_set, &first.called, 5000);
	ck_assert_int_eq(first.called, 1);
	ck_assert_ptr_null(smtp);
	ck_assert_int_eq(second.called, 1);
	ck_assert_msg(strncmp(second.reason, "cancelled", 9) == 0, "%s", second.reason);
	close(fd);
	event_base_free(base);
}
END_TEST

/* 8. Bad calls: -1 at once; bad addresses and relays: done, never inline. */
START_TEST(bad_arguments)
{
	static const char *const crlf[] = {
		"ict@example.org>\r\nRCPT TO:<x@example.org"
	};
	struct event_base *base = event_base_new();
	struct smtp *smtp = client(base);
	struct smtp_relay r;
	struct result res;
	char url[64];

	relay_at(&r, url, sizeof(url), "smtp", testutil_free_port(SOCK_STREAM));
	memset(&res, 0, sizeof(res));
	errno = 0;
	ck_assert_int_eq(smtp_send(smtp, &r, "sonae@example.org", rcpt1, 0, message,
	                     sizeof(message) - 1, on_done, &res),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(smtp_send(smtp, &r, NULL, rcpt1, 1, message, sizeof(message) - 1,
	                     on_done, &res),
	    -1);
	ck_assert_int_eq(smtp_send(smtp, &r, "sonae@example.org", rcpt1, 1, message,
	                     sizeof(message) - 1, NULL, &res),
	    -1);
	ck_assert_int_eq(smtp_send_any(smtp, &r, 0, "sonae@example.org", rcpt1, 1,
	                     message, sizeof(message) - 1, on_done_any, &res),
	    -1);

	/* SMTP command injection through an address. */
	send_one(base, smtp, &r, crlf, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 1);
	ck_assert_msg(strstr(res.reason, "invalid recipient") != NULL, "%s", res.reason);

	/* Credentials in the URL: refused, and not repeated in the reason. */
	snprintf(url, sizeof(url), "smtps://%s:%s@127.0.0.1:1", USER, PASSWORD);
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_int_eq(res.permanent, 0);
	ck_assert_msg(strstr(res.reason, "credentials") != NULL, "%s", res.reason);
	ck_assert_msg(strstr(res.reason, PASSWORD) == NULL, "%s", res.reason);

	snprintf(url, sizeof(url), "http://127.0.0.1:1");
	send_one(base, smtp, &r, rcpt1, 1, &res);
	ck_assert_int_eq(res.ok, 0);
	ck_assert_msg(strstr(res.reason, "smtp://") != NULL, "%s", res.reason);
	smtp_free(smtp);
	event_base_free(base);
}
END_TEST

static Suite *
smtp_suite(void)
{
	Suite *s = suite_create("smtp");
	TCase *tc = tcase_create("plain");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, plain_delivery);
	tcase_add_test(tc, relay_refused);
	tcase_add_test(tc, relay_silent);
	tcase_add_test(tc, relay_slow);
	tcase_add_test(tc, failover);
	tcase_add_test(tc, failover_second);
	tcase_add_test(tc, failover_stops_on_5xx);
	tcase_add_test(tc, recipient_refused);
	tcase_add_test(tc, free_cancels);
	tcase_add_test(tc, free_from_done);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	tc = tcase_create("tls");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, starttls_auth);
	tcase_add_test(tc, auth_rejected);
	tcase_add_test(tc, tls_unverified);
	tcase_add_test(tc, implicit_tls);
	tcase_add_test(tc, tls_required);
	tcase_add_test(tc, debug_log_hides_credentials);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(smtp_suite());
}

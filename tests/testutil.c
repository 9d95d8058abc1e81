/*
 * testutil: helpers shared by the Check unit suites; see testutil.h.
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
#include <signal.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

static char tmpdir[256];

/* nftw() callback: remove one entry (files first, then their folder). */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

const char *
testutil_tmpdir(const char *prefix)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", prefix);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	return tmpdir;
}

void
testutil_rmdir(void)
{
	if (tmpdir[0] == '\0')
		return;
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

char *
testutil_path(const char *dir, const char *name)
{
	char *path;

	xasprintf(&path, "%s/%s", dir, name);
	return path;
}

void
testutil_write_data(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_msg(fclose(f) == 0, "%s: %s", path, strerror(errno));
}

char *
testutil_write(const char *dir, const char *name, const char *text)
{
	char *path = testutil_path(dir, name);

	testutil_write_data(path, text, strlen(text));
	return path;
}

int
testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
testutil_free_port(int type)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Peers a suite starts (servers on loopback); testutil_reap() stops them. */
static pid_t peers[16];
static size_t npeers;

/*
 * Start argv (a peer: a server the test talks to); it dies with this
 * process (PR_SET_PDEATHSIG), so a failed test leaves nothing running.  out:
 * NULL, or gets the read end of a pipe on the peer's standard output.
 */
pid_t
testutil_spawn(char *const argv[], int *out)
{
	pid_t parent = getpid(), pid;
	int p[2] = { -1, -1 };

	ck_assert_uint_lt(npeers, NELEM(peers));
	if (out != NULL)
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if (out != NULL && dup2(p[1], 1) == -1)
			_exit(1);
		execv(argv[0], argv);
		_exit(127);
	}
	peers[npeers++] = pid;
	if (out != NULL) {
		close(p[1]);
		*out = p[0];
	}
	return pid;
}

/* Stop every peer started, by its PID, and wait for each. */
void
testutil_reap(void)
{
	int st;

	while (npeers > 0) {
		pid_t pid = peers[--npeers];
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
	}
}

/*
 * aiosmtpd (Debian's python3-aiosmtpd) on 127.0.0.1:port with its Mailbox
 * handler, storing into dir/aiosmtpd (returned; caller frees); ready once it
 * accepts a connection.
 */
char *
testutil_aiosmtpd(const char *dir, int port)
{
	char listen[64], *maildir = testutil_path(dir, "aiosmtpd");
	char *argv[] = { (char *)"/usr/bin/python3", (char *)"-m", (char *)"aiosmtpd",
		(char *)"-n", (char *)"-l", listen, (char *)"-c",
		(char *)"aiosmtpd.handlers.Mailbox", maildir, NULL };
	struct sockaddr_in a;
	int64_t end = time_mono_ms() + 10000;
	int fd, up = 0;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	testutil_spawn(argv, NULL);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (!up && time_mono_ms() < end) {
		ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
		up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (!up)
			usleep(50000);
	}
	ck_assert_msg(up, "aiosmtpd did not start on port %d", port);
	return maildir;
}

char *
testutil_smtp_server(
    const char *dir, const char *name, int port, const char *const *extra)
{
	const char *src = getenv("SONAE_SRC");
	char *argv[24], *script, *maildir = testutil_path(dir, name), sport[16];
	char buf[256];
	size_t i = 0, len = 0;
	int64_t end = time_mono_ms() + 10000;
	int out;

	ck_assert_msg(src != NULL, "SONAE_SRC is not set");
	xasprintf(&script, "%s/tests/integration/smtp_server.py", src);
	snprintf(sport, sizeof(sport), "%d", port);
	argv[i++] = (char *)"/usr/bin/python3";
	argv[i++] = script;
	argv[i++] = (char *)"--maildir";
	argv[i++] = maildir;
	argv[i++] = (char *)"--port";
	argv[i++] = sport;
	argv[i++] = (char *)"--plain";
	for (; extra != NULL && *extra != NULL; extra++) {
		ck_assert_uint_lt(i + 1, NELEM(argv));
		argv[i++] = (char *)(uintptr_t)*extra;
	}
	argv[i] = NULL;
	testutil_spawn(argv, &out);
	/* "ready PORT\n" once it serves. */
	while (memchr(buf, '\n', len) == NULL) {
		struct pollfd pfd = { out, POLLIN, 0 };
		int64_t left = end - time_mono_ms();
		ssize_t n;

		ck_assert_msg(left > 0, "smtp_server.py did not say ready");
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(out, buf + len, sizeof(buf) - 1 - len);
		ck_assert_msg(n > 0, "smtp_server.py exited before it was ready");
		len += (size_t)n;
	}
	buf[len] = '\0';
	ck_assert_msg(strncmp(buf, "ready ", 6) == 0, "smtp_server.py said %s", buf);
	close(out);
	free(script);
	return maildir;
}

/* The mails in maildir/new. */
size_t
testutil_maildir_count(const char *maildir)
{
	char *path = testutil_path(maildir, "new");
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
	}
	free(path);
	return n;
}

size_t
testutil_maildir_with(const char *maildir, const char *want)
{
	char *path = testutil_path(maildir, "new"), line[1024];
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *file;
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			file = testutil_path(path, e->d_name);
			ck_assert_ptr_nonnull(f = fopen(file, "r"));
			while (fgets(line, sizeof(line), f) != NULL && line[0] != '\n') {
				line[strcspn(line, "\r\n")] = '\0';
				if (strcmp(line, want) == 0) {
					n++;
					break;
				}
			}
			fclose(f);
			free(file);
		}
		closedir(d);
	}
	free(path);
	return n;
}

/*
 * Run the loop in 20 ms slices until cond(arg) holds or ms have passed;
 * returns cond(arg) at the end.
 */
int
testutil_loop_until(struct event_base *base, int (*cond)(void *), void *arg, int64_t ms)
{
	int64_t end = time_mono_ms() + ms;
	struct timeval tick = { 0, 20000 };

	while (!cond(arg) && time_mono_ms() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	return cond(arg);
}

/* For testutil_loop_until(): the int arg points at is not 0. */
int
testutil_flag_set(void *arg)
{
	return *(const int *)arg != 0;
}

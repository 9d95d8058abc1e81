/*
 * testutil: helpers shared by the Check unit suites (tests/check_*.c): a
 * temporary folder per test, writing files into it, and running a suite.
 */
#ifndef SONAE_TESTUTIL_H
#define SONAE_TESTUTIL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <check.h>

/* The number of elements of the array a. */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Create a new folder /tmp/PREFIX.XXXXXX, remember it and return its path. */
const char *testutil_tmpdir(const char *prefix);

/* Remove the folder made by testutil_tmpdir() with everything in it. */
void testutil_rmdir(void);

/* dir and name joined by a slash, as a new string (caller frees). */
char *testutil_path(const char *dir, const char *name);

/* Create or replace the file path with the len bytes at data, asserting each step. */
void testutil_write_data(const char *path, const void *data, size_t len);

/* Write text to dir/name (the folder must exist) and return that path (caller frees). */
char *testutil_write(const char *dir, const char *name, const char *text);

/*
 * A port of 127.0.0.1 free for the socket type (SOCK_DGRAM, SOCK_STREAM)
 * now: bound, read back and released, for a peer a test starts.
 */
int testutil_free_port(int type);

/* Run every test of the suite s and return main()'s exit status. */
int testutil_run(Suite *s);

/*
 * Peers on loopback for the suites that talk to real servers: started with
 * testutil_spawn() (they die with the test), stopped by PID with
 * testutil_reap() in the teardown.
 */
pid_t testutil_spawn(char *const argv[], int *out);
void testutil_reap(void);
char *testutil_aiosmtpd(const char *dir, int port);
/*
 * tests/integration/smtp_server.py --plain on 127.0.0.1:port, storing into
 * dir/NAME (returned; caller frees), with the options in extra (NULL-ended,
 * or NULL: none); ready once it said so.
 */
char *testutil_smtp_server(
    const char *dir, const char *name, int port, const char *const *extra);
size_t testutil_maildir_count(const char *maildir);
/* The mails in maildir/new with the header line line ("X-RcptTo: a@b"). */
size_t testutil_maildir_with(const char *maildir, const char *line);

struct event_base;
int testutil_loop_until(struct event_base *, int (*cond)(void *), void *arg, int64_t ms);
int testutil_flag_set(void *arg);

#endif

/*
 * spool.c: the durable mail spool.  Adding, reopening and iterating in id
 * order; the file format; delivery removing a message; the backoff sequence
 * (capped, deterministic jitter) and what is due when; leftover temporary
 * files and damaged files at open; 10,000 messages with a bounded index; a
 * child killed while it adds messages; the lock; `sonae queue`'s JSON.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts/alert.h"
#include "tests/testutil.h"

#define T0 1795564800000LL /* 2026-11-25 09:00:00 +0900 */

static const char *tmpdir;
static char *rcpt_v[] = { "tanaka@example.jp", "suzuki@example.jp", NULL };
static const struct conf_strings rcpt = { rcpt_v, 2 };
static const struct spool_backoff fast = { 100, 1000, 0 };

static void
setup(void)
{
	umask(022);
	tmpdir = testutil_tmpdir("check-spool");
	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
}

static void
teardown(void)
{
	testutil_rmdir();
}

/* The message numbered n: a few headers and a body, pad bytes long or more. */
static char *
make_msg(uint64_t n, size_t pad)
{
	char *m, *body = xmalloc(pad + 1);

	memset(body, 'a' + (int)(n % 26), pad);
	body[pad] = '\0';
	xasprintf(&m,
	    "Subject: =?UTF-8?B?5YGc6Zu7?= %llu\r\nMessage-ID: <m%llu@example.jp>\r\n\r\n"
	    "%s\r\n",
	    (unsigned long long)n, (unsigned long long)n, body);
	free(body);
	return m;
}

static struct spool *
open_ok(const char *dir, const struct spool_backoff *b)
{
	char err[512];
	struct spool *sp = spool_open(dir, b, err, sizeof(err));

	ck_assert_msg(sp != NULL, "%s", err);
	return sp;
}

static uint64_t
add_ok(struct spool *sp, uint64_t incident, const char *msg, int64_t now)
{
	char err[512];
	uint64_t id = 0;

	ck_assert_msg(spool_add(sp, "sonae@example.jp", &rcpt, incident, msg, strlen(msg),
	                  now, &id, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_gt(id, 0);
	return id;
}

/* Check that message id holds msg and its metadata. */
static void
check_msg(struct spool *sp, uint64_t id, uint64_t incident, const char *msg)
{
	char err[512];
	struct spool_msg *m = spool_get(sp, id, err, sizeof(err));

	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_uint_eq(m->id, id);
	ck_assert_uint_eq(m->incident, incident);
	ck_assert_str_eq(m->env_from, "sonae@example.jp");
	ck_assert_uint_eq(m->rcpt.n, 2);
	ck_assert_str_eq(m->rcpt.v[0], "tanaka@example.jp");
	ck_assert_str_eq(m->rcpt.v[1], "suzuki@example.jp");
	ck_assert_ptr_null(m->rcpt.v[2]);
	ck_assert_uint_eq(m->len, strlen(msg));
	ck_assert_int_eq(memcmp(m->data, msg, m->len), 0);
	spool_msg_free(m);
}

/* The names in the spool folder that end in suffix (or contain it). */
static int
count_files(const char *dir, const char *part)
{
	char *path = testutil_path(dir, "spool");
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strstr(de->d_name, part) != NULL)
			n++;
	closedir(d);
	free(path);
	return n;
}

static char *
spool_file(const char *dir, uint64_t id, const char *suffix)
{
	char *path;

	xasprintf(&path, "%s/spool/%012llu.msg%s", dir, (unsigned long long)id, suffix);
	return path;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

START_TEST(spool_add_reopen_order)
{
	char *msgs[5], *path, *data;
	struct spool *sp = open_ok(tmpdir, NULL);
	struct stat st;
	uint64_t id;
	size_t i, len;
	json_t *h;

	path = testutil_path(tmpdir, "spool");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0750);
	free(path);
	ck_assert_uint_eq(spool_count(sp), 0);
	ck_assert_uint_eq(spool_first(sp), 0);
	for (i = 0; i < 5; i++) {
		msgs[i] = make_msg(i + 1, 10 * i);
		ck_assert_uint_eq(add_ok(sp, 100 + i, msgs[i], T0 + (int64_t)i), i + 1);
	}
	ck_assert_uint_eq(spool_count(sp), 5);
	for (i = 0; i < 5; i++)
		check_msg(sp, i + 1, 100 + i, msgs[i]);

	/* The file: one line of JSON metadata, then the message as it is. */
	path = spool_file(tmpdir, 3, "");
	data = read_file(path, &len);
	ck_assert_ptr_nonnull(strchr(data, '\n'));
	*strchr(data, '\n') = '\0';
	h = json_loads(data, 0, NULL);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(json_integer_value(json_object_get(h, "sonae_spool")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(h, "id")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(h, "incident")), 102);
	ck_assert_str_eq(
	    json_string_value(json_object_get(h, "from")), "sonae@example.jp");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(h, "rcpt"), 1)),
	    "suzuki@example.jp");
	ck_assert_int_eq(json_integer_value(json_object_get(h, "created_ms")), T0 + 2);
	ck_assert_int_eq(json_integer_value(json_object_get(h, "attempts")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(h, "next_ms")), T0 + 2);
	ck_assert(json_is_null(json_object_get(h, "last_error")));
	ck_assert_uint_eq(
	    json_integer_value(json_object_get(h, "size")), strlen(msgs[2]));
	ck_assert_str_eq(data + strlen(data) + 1, msgs[2]);
	json_decref(h);
	free(data);
	free(path);
	spool_close(sp);

	/* Reopened: the same messages, in id order; new ids follow. */
	sp = open_ok(tmpdir, NULL);
	ck_assert_uint_eq(spool_count(sp), 5);
	for (i = 0, id = spool_first(sp); id != 0; id = spool_next(sp, id), i++) {
		ck_assert_uint_eq(id, i + 1);
		check_msg(sp, id, 100 + i, msgs[i]);
	}
	ck_assert_uint_eq(i, 5);
	ck_assert_uint_eq(add_ok(sp, 1, msgs[0], T0), 6);
	spool_close(sp);
	for (i = 0; i < 5; i++)
		free(msgs[i]);
}
END_TEST

/* The metadata alone: the same as spool_get()'s, without the bytes. */
START_TEST(spool_get_head_only)
{
	struct spool *sp = open_ok(tmpdir, NULL);
	char *msg = make_msg(7, 100), err[512];
	struct spool_msg *full, *head;
	uint64_t id = add_ok(sp, 7, msg, T0);

	ck_assert_ptr_nonnull(full = spool_get(sp, id, err, sizeof(err)));
	ck_assert_ptr_nonnull(head = spool_get_head(sp, id, err, sizeof(err)));
	ck_assert_ptr_null(head->data);
	ck_assert_uint_eq(head->len, 0);
	ck_assert_uint_eq(full->len, strlen(msg));
	ck_assert_uint_eq(head->incident, 7);
	ck_assert_int_eq(head->created_ms, full->created_ms);
	ck_assert_uint_eq(head->rcpt.n, 2);
	ck_assert_str_eq(head->rcpt.v[1], full->rcpt.v[1]);
	ck_assert_str_eq(head->env_from, full->env_from);
	spool_msg_free(full);
	spool_msg_free(head);
	ck_assert_ptr_null(spool_get_head(sp, id + 1, err, sizeof(err)));
	spool_close(sp);
	free(msg);
}
END_TEST

START_TEST(spool_delivered_removes)
{
	struct spool *sp = open_ok(tmpdir, NULL);
	char *msg = make_msg(1, 100), *path, err[512];
	uint64_t id;

	add_ok(sp, 1, msg, T0);
	add_ok(sp, 2, msg, T0);
	add_ok(sp, 3, msg, T0);
	ck_assert_int_eq(spool_delivered(sp, 2, err, sizeof(err)), 0);
	path = spool_file(tmpdir, 2, "");
	ck_assert_int_eq(access(path, F_OK), -1);
	free(path);
	ck_assert_uint_eq(spool_count(sp), 2);
	ck_assert_uint_eq(spool_first(sp), 1);
	ck_assert_uint_eq(spool_next(sp, 1), 3);
	ck_assert_uint_eq(spool_next(sp, 3), 0);
	ck_assert_ptr_null(spool_get(sp, 2, err, sizeof(err)));
	ck_assert_str_eq(err, "no message 2 in the spool");
	/* Never twice. */
	ck_assert_int_eq(spool_delivered(sp, 2, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no message 2 in the spool");
	spool_close(sp);

	sp = open_ok(tmpdir, NULL);
	ck_assert_uint_eq(spool_count(sp), 2);
	ck_assert_uint_eq(spool_first(sp), 1);
	ck_assert_uint_eq(spool_next(sp, 1), 3);
	/* The next id follows the largest one left. */
	ck_assert_uint_eq(add_ok(sp, 4, msg, T0), 4);
	for (id = spool_first(sp); id != 0; id = spool_first(sp))
		ck_assert_int_eq(spool_delivered(sp, id, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_count(sp), 0);
	ck_assert_int_eq(count_files(tmpdir, ".msg"), 0);
	spool_close(sp);
	free(msg);
}
END_TEST

static const struct {
	struct spool_backoff b;
	int attempts;
	uint32_t rnd;
	int64_t want;
} backoff_cases[] = {
	{ { 100, 1000, 0 }, 0, 0, 0 },
	{ { 100, 1000, 0 }, 1, 0, 100 },
	{ { 100, 1000, 0 }, 2, 0, 200 },
	{ { 100, 1000, 0 }, 3, 0, 400 },
	{ { 100, 1000, 0 }, 4, 0, 800 },
	{ { 100, 1000, 0 }, 5, 0, 1000 },
	{ { 100, 1000, 0 }, 6, 0, 1000 },
	{ { 100, 1000, 0 }, 70, 0xffffffffU, 1000 },
	{ { 100, 1000, 0 }, 2147483647, 0, 1000 },
	{ { 100, 1000, 20 }, 5, 0, 1000 },
	{ { 100, 1000, 20 }, 5, 0x80000000U, 900 },
	{ { 100, 1000, 20 }, 5, 0xffffffffU, 801 },
	{ { 100, 1000, 50 }, 1, 0x80000000U, 75 },
	{ { 100, 1000, 100 }, 1, 0xffffffffU, 1 },
	{ { 30000, 1800000, 20 }, 1, 0, 30000 },
	{ { 30000, 1800000, 20 }, 6, 0, 960000 },
	{ { 30000, 1800000, 20 }, 7, 0, 1800000 },
	{ { 30000, 1800000, 20 }, 7, 0x40000000U, 1710000 },
};

START_TEST(spool_backoff_table)
{
	ck_assert_int_eq(spool_backoff_delay(&backoff_cases[_i].b,
	                     backoff_cases[_i].attempts, backoff_cases[_i].rnd),
	    backoff_cases[_i].want);
}
END_TEST

/* The default: 30 s, doubling to 30 min, up to 20 % earlier. */
START_TEST(spool_backoff_defaults)
{
	ck_assert_int_eq(spool_backoff_delay(&spool_backoff_default, 1, 0), 30000);
	ck_assert_int_eq(spool_backoff_delay(&spool_backoff_default, 2, 0), 60000);
	ck_assert_int_eq(spool_backoff_delay(&spool_backoff_default, 7, 0), 1800000);
	ck_assert_int_eq(spool_backoff_delay(&spool_backoff_default, 9, 0xffffffffU),
	    1800000 - 359999);
}
END_TEST

/* Failed attempts: counted, spaced by the backoff, durable, and what is due when. */
START_TEST(spool_attempt_failed_backoff)
{
	static const int64_t want[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
	struct spool *sp = open_ok(tmpdir, &fast);
	char *msg = make_msg(1, 100), err[512];
	struct spool_msg *m;
	int64_t now = T0, next;
	size_t i;

	add_ok(sp, 7, msg, now);
	add_ok(sp, 8, msg, now);
	add_ok(sp, 9, msg, now);
	ck_assert_uint_eq(spool_first_due(sp, now), 1);
	for (i = 0; i < NELEM(want); i++) {
		ck_assert_int_eq(
		    spool_attempt_failed(sp, 1, "smtp://relay1.example.jp:25",
		        "421 4.3.2 service not available", now, 0, &next, err,
		        sizeof(err)),
		    0);
		ck_assert_int_eq(next, now + want[i]);
		/* Not due before its time: the others go first. */
		ck_assert_uint_eq(spool_first_due(sp, now), 2);
		ck_assert_uint_eq(spool_next_due(sp, 2, now), 3);
		ck_assert_uint_eq(spool_next_due(sp, 3, now), 0);
		ck_assert_uint_eq(spool_first_due(sp, next - 1), 2);
		ck_assert_uint_eq(spool_first_due(sp, next), 1);
		now = next;
	}
	ck_assert_int_eq(spool_attempt_failed(sp, 1, "smtp://relay2.example.jp:587",
	                     "connection refused", now, 0, &next, err, sizeof(err)),
	    0);
	ck_assert_int_eq(next, now + 1000);
	/* Nothing else due: the wake-up is the failed one's next attempt. */
	ck_assert_int_eq(spool_delivered(sp, 2, err, sizeof(err)), 0);
	ck_assert_int_eq(spool_delivered(sp, 3, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_first_due(sp, now), 0);
	ck_assert_int_eq(spool_next_wakeup(sp, now), next);
	spool_close(sp);

	/* Reopened: attempts, next attempt, last error and relay kept. */
	sp = open_ok(tmpdir, &fast);
	m = spool_get(sp, 1, err, sizeof(err));
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->attempts, (int)NELEM(want) + 1);
	ck_assert_int_eq(m->next_ms, next);
	ck_assert_int_eq(m->last_try_ms, now);
	ck_assert_int_eq(m->created_ms, T0);
	ck_assert_str_eq(m->last_error, "connection refused");
	ck_assert_str_eq(m->last_relay, "smtp://relay2.example.jp:587");
	ck_assert_uint_eq(m->len, strlen(msg));
	ck_assert_int_eq(memcmp(m->data, msg, m->len), 0);
	spool_msg_free(m);
	ck_assert_uint_eq(spool_first_due(sp, now), 0);
	ck_assert_uint_eq(spool_first_due(sp, next), 1);
	/* A relay answers again: everything is due at once. */
	spool_hurry(sp, now);
	ck_assert_uint_eq(spool_first_due(sp, now), 1);
	ck_assert_int_eq(spool_next_wakeup(sp, now), now);
	spool_close(sp);
	free(msg);
}
END_TEST

/* The caller's random number sets the jitter: the same number, the same time. */
START_TEST(spool_attempt_failed_jitter)
{
	static const struct spool_backoff b = { 100, 1000, 50 };
	struct spool *sp = open_ok(tmpdir, &b);
	char *msg = make_msg(1, 10), err[512];
	int64_t next;

	add_ok(sp, 1, msg, T0);
	ck_assert_int_eq(spool_attempt_failed(
	                     sp, 1, "r", "e", T0, 0x80000000U, &next, err, sizeof(err)),
	    0);
	ck_assert_int_eq(next, T0 + 75);
	ck_assert_int_eq(
	    spool_attempt_failed(sp, 1, "r", "e", T0, 0, &next, err, sizeof(err)), 0);
	ck_assert_int_eq(next, T0 + 200);
	ck_assert_int_eq(spool_attempt_failed(
	                     sp, 1, "r", "e", T0, 0xffffffffU, &next, err, sizeof(err)),
	    0);
	ck_assert_int_eq(next, T0 + 400 - 199);
	spool_close(sp);
	free(msg);
}
END_TEST

/* A clock set back further than the longest wait: the message is due, not stuck. */
START_TEST(spool_clock_set_back)
{
	struct spool *sp = open_ok(tmpdir, &fast);
	char *msg = make_msg(1, 10), err[512];
	int64_t next;

	add_ok(sp, 1, msg, T0);
	ck_assert_int_eq(
	    spool_attempt_failed(sp, 1, "r", "e", T0, 0, &next, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_first_due(sp, T0 + 50), 0);
	ck_assert_int_eq(spool_next_wakeup(sp, T0 + 50), T0 + 100);
	/* an hour back: next_ms is more than the cap (1 s) ahead */
	ck_assert_uint_eq(spool_first_due(sp, T0 - 3600000), 1);
	ck_assert_int_eq(spool_next_wakeup(sp, T0 - 3600000), T0 - 3600000);
	spool_close(sp);
	free(msg);
}
END_TEST

/* Error texts from relays are kept short, valid UTF-8, on one line. */
START_TEST(spool_error_text_cleaned)
{
	struct spool *sp = open_ok(tmpdir, &fast);
	char *msg = make_msg(1, 10), err[512], *longtext = xmalloc(2001);
	struct spool_msg *m;
	int64_t next;

	memset(longtext, 'x', 2000);
	longtext[2000] = '\0';
	add_ok(sp, 1, msg, T0);
	ck_assert_int_eq(
	    spool_attempt_failed(sp, 1, "relay\xff", "550 \xe5\x81 bad\r\nnext 停電", T0,
	        0, &next, err, sizeof(err)),
	    0);
	m = spool_get(sp, 1, err, sizeof(err));
	ck_assert_str_eq(m->last_error, "550 ?? bad  next 停電");
	ck_assert_str_eq(m->last_relay, "relay?");
	spool_msg_free(m);
	ck_assert_int_eq(
	    spool_attempt_failed(sp, 1, NULL, longtext, T0, 0, &next, err, sizeof(err)),
	    0);
	m = spool_get(sp, 1, err, sizeof(err));
	ck_assert_uint_eq(strlen(m->last_error), 512);
	ck_assert_str_eq(m->last_relay, "");
	spool_msg_free(m);
	spool_close(sp);
	free(longtext);
	free(msg);
}
END_TEST

/* A temporary file left by a crash before its rename was never queued. */
START_TEST(spool_leftover_tmp_removed)
{
	struct spool *sp = open_ok(tmpdir, NULL);
	char *msg = make_msg(1, 10), *path, *text, *hidden;

	add_ok(sp, 1, msg, T0);
	add_ok(sp, 2, msg, T0);
	spool_close(sp);
	/* As complete as a real one: only the rename is missing. */
	xasprintf(&text,
	    "{\"sonae_spool\":1,\"id\":3,\"incident\":3,\"from\":\"sonae@example.jp\","
	    "\"rcpt\":[\"tanaka@example.jp\"],\"created_ms\":1,\"attempts\":0,"
	    "\"next_ms\":1,\"last_try_ms\":0,\"last_error\":null,\"last_relay\":null,"
	    "\"size\":%zu}\n%s",
	    strlen(msg), msg);
	path = spool_file(tmpdir, 3, ".tmp");
	testutil_write_data(path, text, strlen(text));
	/* Files that are not the spool's are left alone. */
	hidden = testutil_path(tmpdir, "spool/.notes");
	testutil_write_data(hidden, "x", 1);
	sp = open_ok(tmpdir, NULL);
	ck_assert_uint_eq(spool_count(sp), 2);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(access(hidden, F_OK), 0);
	ck_assert_int_eq(count_files(tmpdir, ".tmp"), 0);
	ck_assert_uint_eq(add_ok(sp, 3, msg, T0), 3);
	check_msg(sp, 3, 3, msg);
	spool_close(sp);
	free(hidden);
	free(path);
	free(text);
	free(msg);
}
END_TEST

/* A file that does not read is set aside; the rest are kept, in order. */
START_TEST(spool_damaged_set_aside)
{
	struct spool *sp = open_ok(tmpdir, NULL);
	char *msgs[6], *path, *data, err[512];
	struct stat st;
	size_t i, len;
	uint64_t id;

	for (i = 0; i < 6; i++) {
		msgs[i] = make_msg(i + 1, 50);
		add_ok(sp, i + 1, msgs[i], T0);
	}
	spool_close(sp);
	/* 2: garbage */
	path = spool_file(tmpdir, 2, "");
	testutil_write_data(path, "garbage\n", 8);
	free(path);
	/* 3: cut short (a disk that lied) */
	path = spool_file(tmpdir, 3, "");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(truncate(path, st.st_size - (off_t)strlen(msgs[2]) / 2), 0);
	free(path);
	/* 4: metadata of another message (id 5's, copied over) */
	path = spool_file(tmpdir, 5, "");
	data = read_file(path, &len);
	free(path);
	path = spool_file(tmpdir, 4, "");
	testutil_write_data(path, data, len);
	free(path);
	free(data);
	/* 9: no metadata line at all */
	path = spool_file(tmpdir, 9, "");
	testutil_write_data(path, "{\"sonae_spool\":1", 16);
	free(path);

	sp = open_ok(tmpdir, NULL);
	ck_assert_uint_eq(spool_count(sp), 3);
	ck_assert_int_eq(count_files(tmpdir, ".damaged-"), 4);
	ck_assert_int_eq(count_files(tmpdir, "000000000002.msg.damaged-"), 1);
	ck_assert_int_eq(count_files(tmpdir, "000000000009.msg.damaged-"), 1);
	id = spool_first(sp);
	ck_assert_uint_eq(id, 1);
	check_msg(sp, id, 1, msgs[0]);
	ck_assert_uint_eq(id = spool_next(sp, id), 5);
	check_msg(sp, id, 5, msgs[4]);
	ck_assert_uint_eq(id = spool_next(sp, id), 6);
	check_msg(sp, id, 6, msgs[5]);
	ck_assert_uint_eq(spool_next(sp, id), 0);
	/* Ids of set-aside files are not given again. */
	ck_assert_uint_eq(add_ok(sp, 10, msgs[0], T0), 10);

	/* Damaged or removed under a running daemon: set aside, dropped. */
	path = spool_file(tmpdir, 5, "");
	testutil_write_data(path, "{}\n", 3);
	free(path);
	ck_assert_ptr_null(spool_get(sp, 5, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "000000000005.msg"));
	ck_assert_uint_eq(spool_count(sp), 3);
	ck_assert_int_eq(count_files(tmpdir, "000000000005.msg.damaged-"), 1);
	path = spool_file(tmpdir, 6, "");
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	ck_assert_int_eq(
	    spool_attempt_failed(sp, 6, "r", "e", T0, 0, NULL, err, sizeof(err)), -1);
	ck_assert_uint_eq(spool_count(sp), 2);
	spool_close(sp);
	sp = open_ok(tmpdir, NULL);
	ck_assert_uint_eq(spool_count(sp), 2);
	ck_assert_uint_eq(spool_first(sp), 1);
	ck_assert_uint_eq(spool_next(sp, 1), 10);
	spool_close(sp);
	for (i = 0; i < 6; i++)
		free(msgs[i]);
}
END_TEST

START_TEST(spool_add_refuses)
{
	static char *bad_v[] = { "tanaka@example.jp", "evil@example.jp>\r\nDATA", NULL };
	static const struct conf_strings bad = { bad_v, 2 }, none = { NULL, 0 };
	struct spool *sp = open_ok(tmpdir, NULL);
	struct conf_strings many;
	char err[512];
	uint64_t id = 0;
	size_t i;

	ck_assert_int_eq(
	    spool_add(sp, "not an address", &rcpt, 1, "m", 1, T0, &id, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "envelope sender: not an address: \"not an address\"");
	ck_assert_int_eq(spool_add(sp, "sonae@example.jp", &none, 1, "m", 1, T0, &id, err,
	                     sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "no recipient");
	ck_assert_int_eq(
	    spool_add(sp, "sonae@example.jp", &bad, 1, "m", 1, T0, &id, err, sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "recipient: not an address"));
	ck_assert_int_eq(
	    spool_add(sp, "sonae@example.jp", &rcpt, 1, "", 0, T0, &id, err, sizeof(err)),
	    -1);
	/* More recipients than a metadata line may hold: refused, not lost later. */
	many.n = 6000;
	many.v = xcalloc(many.n + 1, sizeof(char *));
	for (i = 0; i < many.n; i++)
		xasprintf(
		    &many.v[i], "someone.with.a.rather.long.name.%04zu@example.jp", i);
	ck_assert_int_eq(spool_add(sp, "sonae@example.jp", &many, 1, "m", 1, T0, &id, err,
	                     sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "too long"));
	conf_strings_free(&many);
	ck_assert_uint_eq(spool_count(sp), 0);
	ck_assert_int_eq(count_files(tmpdir, ".msg"), 0);
	/* The null sender (<>) is an envelope sender too. */
	ck_assert_int_eq(
	    spool_add(sp, "", &rcpt, 1, "m", 1, T0, &id, err, sizeof(err)), 0);
	spool_close(sp);
}
END_TEST

/* A message being delivered is not handed out again until its attempt ends. */
START_TEST(spool_busy_not_due)
{
	struct spool *sp = open_ok(tmpdir, &fast);
	char *msg = make_msg(1, 10), err[512];
	json_t *j;

	add_ok(sp, 1, msg, T0);
	add_ok(sp, 2, msg, T0);
	spool_set_busy(sp, 1, 1);
	ck_assert_uint_eq(spool_first_due(sp, T0), 2);
	spool_set_busy(sp, 2, 1);
	ck_assert_uint_eq(spool_first_due(sp, T0), 0);
	ck_assert_int_eq(spool_next_wakeup(sp, T0), INT64_MAX);
	spool_hurry(sp, T0);
	ck_assert_uint_eq(spool_first_due(sp, T0), 0);
	j = spool_json(sp, 10);
	ck_assert(json_is_true(json_object_get(
	    json_array_get(json_object_get(j, "messages"), 0), "sending")));
	json_decref(j);
	/* a failed attempt ends it; so does saying so */
	ck_assert_int_eq(
	    spool_attempt_failed(sp, 1, "r", "e", T0, 0, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_first_due(sp, T0 + 100), 1);
	spool_set_busy(sp, 2, 0);
	ck_assert_uint_eq(spool_first_due(sp, T0), 2);
	spool_set_busy(sp, 99, 1); /* not there: nothing happens */
	spool_close(sp);
	/* after a restart nothing is busy */
	sp = open_ok(tmpdir, &fast);
	ck_assert_uint_eq(spool_first_due(sp, T0 + 100), 1);
	spool_close(sp);
	free(msg);
}
END_TEST

/* Only names the spool makes are read: "1.msg" beside "000000000001.msg" is not. */
START_TEST(spool_foreign_names_ignored)
{
	static const char *const names[] = { "1.msg", "0000000000001.msg",
		"000000000007.eml", "000000000008.msgx", "99999999999999999999999.msg" };
	struct spool *sp = open_ok(tmpdir, NULL);
	char *msg = make_msg(1, 10), *path, *data;
	size_t i, len;

	add_ok(sp, 1, msg, T0);
	spool_close(sp);
	path = spool_file(tmpdir, 1, "");
	data = read_file(path, &len);
	free(path);
	for (i = 0; i < NELEM(names); i++) {
		char *p;
		xasprintf(&p, "%s/spool/%s", tmpdir, names[i]);
		testutil_write_data(p, data, len);
		free(p);
	}
	sp = open_ok(tmpdir, NULL);
	ck_assert_uint_eq(spool_count(sp), 1);
	ck_assert_uint_eq(spool_first(sp), 1);
	ck_assert_uint_eq(spool_next(sp, 1), 0);
	ck_assert_int_eq(count_files(tmpdir, "damaged"), 0);
	ck_assert_uint_eq(add_ok(sp, 2, msg, T0), 2);
	spool_close(sp);
	free(data);
	free(msg);
}
END_TEST

/* Two daemons never deliver from one spool. */
START_TEST(spool_locked)
{
	struct spool *sp = open_ok(tmpdir, NULL);
	char err[512];

	ck_assert_ptr_null(spool_open(tmpdir, NULL, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "in use by another process"));
	spool_close(sp);
	sp = open_ok(tmpdir, NULL);
	spool_close(sp);
	ck_assert_ptr_null(spool_open("/nonexistent/state", NULL, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/state/spool"));
}
END_TEST

START_TEST(spool_json_queue)
{
	struct spool *sp = open_ok(tmpdir, &fast);
	char *msg = make_msg(1, 10), err[512];
	json_t *j, *m;

	add_ok(sp, 12, msg, T0);
	add_ok(sp, 13, msg, T0 + 1000);
	add_ok(sp, 14, msg, T0 + 2000);
	ck_assert_int_eq(spool_attempt_failed(sp, 1, "smtp://relay1.example.jp",
	                     "421 try later", T0 + 5000, 0, NULL, err, sizeof(err)),
	    0);
	j = spool_json(sp, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 3);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "messages")), 2);
	m = json_array_get(json_object_get(j, "messages"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "incident")), 12);
	ck_assert_str_eq(
	    json_string_value(json_object_get(m, "from")), "sonae@example.jp");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(m, "rcpt"), 0)),
	    "tanaka@example.jp");
	ck_assert_str_eq(json_string_value(json_object_get(m, "created")),
	    "2026-11-25T09:00:00.000+09:00");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "created_ms")), T0);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(m, "next_attempt")),
	    "2026-11-25T09:00:05.100+09:00");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(m, "next_attempt_ms")), T0 + 5100);
	ck_assert_str_eq(
	    json_string_value(json_object_get(m, "last_error")), "421 try later");
	ck_assert_str_eq(json_string_value(json_object_get(m, "last_relay")),
	    "smtp://relay1.example.jp");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(m, "size")), (json_int_t)strlen(msg));
	m = json_array_get(json_object_get(j, "messages"), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "id")), 2);
	ck_assert(json_is_null(json_object_get(m, "last_error")));
	ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 0);
	json_decref(j);
	spool_close(sp);
	free(msg);
}
END_TEST

/*
 * 10,000 messages of 2 KB (20 MB queued) on a tmpfs when there is one (the
 * test is about memory and order, not the disk's fsync speed): the index
 * stays small, bodies are never held, order survives a reopen, delivering
 * half compacts the index.
 */
START_TEST(spool_ten_thousand)
{
	enum { N = 10000 };
	char shm[] = "/dev/shm/check-spool.XXXXXX", *msg, err[512], *cmd;
	const char *dir = mkdtemp(shm) != NULL ? shm : tmpdir;
	struct spool *sp = open_ok(dir, NULL);
	struct spool_msg *m;
	uint64_t id, i;

	for (i = 1; i <= N; i++) {
		msg = make_msg(i, 2000);
		ck_assert_msg(spool_add(sp, "sonae@example.jp", &rcpt, i, msg,
		                  strlen(msg), T0, &id, err, sizeof(err)) == 0,
		    "%s", err);
		ck_assert_uint_eq(id, i);
		free(msg);
	}
	ck_assert_uint_eq(spool_count(sp), N);
	/* The index: about 24 bytes a message, nowhere near the 20 MB queued. */
	ck_assert_uint_le(spool_memory(sp), (size_t)N * 64);
	spool_close(sp);

	sp = open_ok(dir, NULL);
	ck_assert_uint_eq(spool_count(sp), N);
	ck_assert_uint_le(spool_memory(sp), (size_t)N * 64);
	for (i = 0, id = spool_first(sp); id != 0; id = spool_next(sp, id))
		ck_assert_uint_eq(id, ++i);
	ck_assert_uint_eq(i, N);
	m = spool_get(sp, 4321, err, sizeof(err));
	ck_assert_ptr_nonnull(m);
	msg = make_msg(4321, 2000);
	ck_assert_str_eq(m->data, msg);
	free(msg);
	spool_msg_free(m);
	for (id = 1; id <= N; id += 2)
		ck_assert_int_eq(spool_delivered(sp, id, err, sizeof(err)), 0);
	ck_assert_uint_eq(spool_count(sp), N / 2);
	ck_assert_uint_le(spool_memory(sp), (size_t)N * 32);
	for (i = 0, id = spool_first_due(sp, T0); id != 0;
	     id = spool_next_due(sp, id, T0))
		ck_assert_uint_eq(id, 2 * ++i);
	ck_assert_uint_eq(i, N / 2);
	spool_close(sp);
	sp = open_ok(dir, NULL);
	ck_assert_uint_eq(spool_count(sp), N / 2);
	ck_assert_uint_eq(spool_first(sp), 2);
	spool_close(sp);
	if (dir == shm) {
		xasprintf(&cmd, "rm -rf %s", shm);
		ck_assert_int_eq(system(cmd), 0);
		free(cmd);
	}
}
END_TEST

/*
 * A crash between a message's write and its rename: the child queues three
 * messages, writes the fourth's temporary file (fsynced, complete) and dies.
 * The fourth was never queued, so it must never be delivered.
 */
START_TEST(spool_crash_before_rename)
{
	char *msg = make_msg(4, 100), *path;
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char err[512];
		struct spool *sp = spool_open(tmpdir, NULL, err, sizeof(err));
		uint64_t i, id;
		FILE *f;
		if (sp == NULL)
			_exit(2);
		for (i = 1; i <= 3; i++)
			if (spool_add(sp, "sonae@example.jp", &rcpt, i, msg, strlen(msg),
			        T0, &id, err, sizeof(err)) == -1)
				_exit(3);
		path = spool_file(tmpdir, 4, ".tmp");
		if ((f = fopen(path, "w")) == NULL)
			_exit(4);
		fprintf(f,
		    "{\"sonae_spool\":1,\"id\":4,\"incident\":4,\"from\":\"sonae@example."
		    "jp\","
		    "\"rcpt\":[\"tanaka@example.jp\"],\"created_ms\":1,\"attempts\":0,"
		    "\"next_ms\":1,\"last_try_ms\":0,\"last_error\":null,\"last_relay\":"
		    "null,\"size\":%zu}\n%s",
		    strlen(msg), msg);
		fflush(f);
		fsync(fileno(f));
		_exit(0); /* no close, no cleanup: a crash */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(count_files(tmpdir, ".msg.tmp"), 1);
	{
		struct spool *sp = open_ok(tmpdir, NULL);
		ck_assert_uint_eq(spool_count(sp), 3);
		ck_assert_uint_eq(spool_first(sp), 1);
		ck_assert_uint_eq(spool_next(sp, 3), 0);
		ck_assert_int_eq(count_files(tmpdir, ".msg.tmp"), 0);
		check_msg(sp, 3, 3, msg);
		spool_close(sp);
	}
	path = spool_file(tmpdir, 4, "");
	ck_assert_int_eq(access(path, F_OK), -1);
	free(path);
	free(msg);
}
END_TEST

/*
 * kill -9 at an arbitrary moment while a child queues messages as fast as it
 * can, telling the parent each id spool_add() confirmed.  After a reopen
 * every confirmed message is there, whole; at most one more (renamed, not
 * yet confirmed) is; no temporary file is left; new ids follow on.
 */
START_TEST(spool_kill_while_adding)
{
	static const int after[] = { 1, 7, 40, 150 };
	int fds[2], status, r;
	uint64_t got[1024], id, next, want_next;
	size_t n, k;
	struct spool *sp;
	char *msg;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char err[512];
		struct spool *csp = spool_open(tmpdir, NULL, err, sizeof(err));
		uint64_t cid;
		close(fds[0]);
		if (csp == NULL)
			_exit(2);
		for (;;) {
			char *m = make_msg(spool_count(csp) + 1, 3000);
			if (spool_add(csp, "sonae@example.jp", &rcpt, 1, m, strlen(m), T0,
			        &cid, err, sizeof(err)) == -1)
				_exit(3);
			free(m);
			if (write(fds[1], &cid, sizeof(cid)) != sizeof(cid))
				_exit(4);
		}
	}
	close(fds[1]);
	for (n = 0; n < (size_t)after[_i]; n++)
		ck_assert_int_eq(read(fds[0], &got[n], sizeof(got[n])), sizeof(got[n]));
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	while (n < NELEM(got) && (r = (int)read(fds[0], &got[n], sizeof(got[n]))) > 0) {
		ck_assert_int_eq(r, sizeof(got[n]));
		n++;
	}
	close(fds[0]);

	sp = open_ok(tmpdir, NULL);
	ck_assert_int_eq(count_files(tmpdir, ".tmp"), 0);
	ck_assert_uint_ge(spool_count(sp), n);
	ck_assert_uint_le(spool_count(sp), n + 1);
	for (k = 0; k < n; k++) {
		ck_assert_uint_eq(got[k], k + 1);
		msg = make_msg(k + 1, 3000);
		check_msg(sp, got[k], 1, msg);
		free(msg);
	}
	/* Whatever is there is whole and in order. */
	for (k = 0, id = spool_first(sp); id != 0; id = spool_next(sp, id)) {
		ck_assert_uint_eq(id, ++k);
		msg = make_msg(id, 3000);
		{
			char err[512];
			struct spool_msg *m = spool_get(sp, id, err, sizeof(err));
			ck_assert_msg(m != NULL, "%s", err);
			ck_assert_str_eq(m->data, msg);
			spool_msg_free(m);
		}
		free(msg);
	}
	want_next = spool_count(sp) + 1;
	msg = make_msg(0, 10);
	next = add_ok(sp, 1, msg, T0);
	ck_assert_uint_eq(next, want_next);
	free(msg);
	spool_close(sp);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool"), *big = tcase_create("big");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, spool_add_reopen_order);
	tcase_add_test(tc, spool_get_head_only);
	tcase_add_test(tc, spool_delivered_removes);
	tcase_add_loop_test(tc, spool_backoff_table, 0, NELEM(backoff_cases));
	tcase_add_test(tc, spool_backoff_defaults);
	tcase_add_test(tc, spool_attempt_failed_backoff);
	tcase_add_test(tc, spool_attempt_failed_jitter);
	tcase_add_test(tc, spool_clock_set_back);
	tcase_add_test(tc, spool_error_text_cleaned);
	tcase_add_test(tc, spool_leftover_tmp_removed);
	tcase_add_test(tc, spool_damaged_set_aside);
	tcase_add_test(tc, spool_add_refuses);
	tcase_add_test(tc, spool_busy_not_due);
	tcase_add_test(tc, spool_foreign_names_ignored);
	tcase_add_test(tc, spool_locked);
	tcase_add_test(tc, spool_json_queue);
	tcase_add_test(tc, spool_crash_before_rename);
	tcase_add_loop_test(tc, spool_kill_while_adding, 0, 4);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(big, setup, teardown);
	tcase_set_timeout(big, 240);
	tcase_add_test(big, spool_ten_thousand);
	suite_add_tcase(s, big);
	return s;
}

int
main(void)
{
	return testutil_run(spool_suite());
}

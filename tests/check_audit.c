/*
 * audit.c: the hash-chained journal.  Appending, reopening, verification
 * against edits, removals, reordering, replacement and truncation, torn last
 * lines, and reading with a time filter.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

#define NLINES 5

static const char *tmpdir;

static const char *const notes[NLINES] = {
	"\xe8\xa8\x93\xe7\xb7\xb4\xe9\x96\x8b\xe5\xa7\x8b",             /* 訓練開始 */
	"\xe5\x81\x9c\xe9\x9b\xbb\xe3\x81\xae\xe6\xa4\x9c\xe7\x9f\xa5", /* 停電の検知 */
	"UPS \xe3\x83\x90\xe3\x83\x83\xe3\x83\x86\xe3\x83\xaa\xe3\x83\xbc", /* UPS
	                                                                     * バッテリー
	                                                                     */
	"\xe5\xbe\xa9\xe9\x9b\xbb",                                         /* 復電 */
	"\xe8\xa8\x93\xe7\xb7\xb4\xe7\xb5\x82\xe4\xba\x86", /* 訓練終了 */
};

static void
setup(void)
{
	tmpdir = testutil_tmpdir("check-audit");
	ck_assert_int_eq(tz_apply("Asia/Tokyo"), 0);
}

static void
teardown(void)
{
	testutil_rmdir();
}

static char *
subdir(const char *name)
{
	char *dir = testutil_path(tmpdir, name);

	if (mkdir(dir, 0700) == -1)
		ck_assert_int_eq(errno, EEXIST);
	return dir;
}

static void
append_n(struct audit *a, int from, int to, const char *actor)
{
	int i;

	for (i = from; i < to; i++)
		ck_assert_int_eq(
		    audit_append(a, actor, "drill.note",
		        json_pack("{s:s, s:i}", "note", notes[i], "step", i + 1)),
		    0);
}

/* A journal of NLINES entries in tmpdir/name; returns its folder. */
static char *
make_journal(const char *name, const char *actor, char head[65])
{
	char err[512], *dir = subdir(name);
	struct audit *a = audit_open(dir, err, sizeof(err));

	ck_assert_msg(a != NULL, "%s", err);
	append_n(a, 0, NLINES, actor);
	ck_assert_uint_eq(audit_seq(a), NLINES);
	if (head != NULL)
		memcpy(head, audit_head(a), 65);
	audit_close(a);
	return dir;
}

/* The journal's lines, each with its newline; returns how many. */
static size_t
read_lines(const char *dir, char **lines, size_t max)
{
	char *path, *line = NULL;
	size_t cap = 0, n = 0;
	FILE *f;

	path = testutil_path(dir, "audit.jsonl");
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (n < max && getline(&line, &cap, f) != -1)
		lines[n++] = xstrdup(line);
	free(line);
	fclose(f);
	free(path);
	return n;
}

static void
free_lines(char **lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(lines[i]);
}

/* Write lines in the given order (indices, -1 ends) to tmpdir/name/audit.jsonl. */
static char *
write_copy(const char *name, char *const *lines, const int *order)
{
	char *dir = subdir(name), *path;
	FILE *f;

	path = testutil_path(dir, "audit.jsonl");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (; *order >= 0; order++)
		fputs(lines[*order], f);
	fclose(f);
	free(dir);
	return path;
}

START_TEST(audit_append_reopen_verify)
{
	struct audit_problem pb;
	unsigned long entries = 99;
	char err[512], head3[65], *dir = subdir("j"), *path;
	struct audit *a;
	json_t *all, *e;
	size_t i;

	a = audit_open(dir, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	ck_assert_uint_eq(audit_seq(a), 0);
	ck_assert_str_eq(audit_head(a),
	    "0000000000000000000000000000000000000000000000000000000000000000");
	path = testutil_path(dir, "audit.jsonl");
	ck_assert_str_eq(audit_path(a), path);
	append_n(a, 0, 3, "tanaka");
	ck_assert_uint_eq(audit_seq(a), 3);
	memcpy(head3, audit_head(a), sizeof(head3));
	ck_assert_uint_eq(strlen(head3), 64);
	audit_close(a);

	/* Reopened: the sequence and the chain go on from the last line. */
	a = audit_open(dir, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	ck_assert_uint_eq(audit_seq(a), 3);
	ck_assert_str_eq(audit_head(a), head3);
	append_n(a, 3, NLINES, "suzuki");
	ck_assert_uint_eq(audit_seq(a), NLINES);

	ck_assert_int_eq(
	    audit_verify(path, audit_seq(a), audit_head(a), &entries, &pb), 0);
	ck_assert_uint_eq(entries, NLINES);
	ck_assert_uint_eq(pb.line, 0);
	ck_assert_str_eq(pb.what, "");
	/* Without a head to compare with, too. */
	ck_assert_int_eq(audit_verify(path, 0, NULL, &entries, &pb), 0);
	ck_assert_uint_eq(entries, NLINES);

	/* What was written reads back, in order, chained. */
	all = audit_read(path, 0, 100);
	ck_assert_uint_eq(json_array_size(all), NLINES);
	json_array_foreach(all, i, e)
	{
		json_t *prev = i > 0 ? json_array_get(all, i - 1) : NULL;
		ck_assert_int_eq(
		    json_integer_value(json_object_get(e, "seq")), (json_int_t)i + 1);
		ck_assert_str_eq(json_string_value(json_object_get(e, "actor")),
		    i < 3 ? "tanaka" : "suzuki");
		ck_assert_str_eq(
		    json_string_value(json_object_get(e, "action")), "drill.note");
		ck_assert_str_eq(json_string_value(json_object_get(
		                     json_object_get(e, "detail"), "note")),
		    notes[i]);
		ck_assert_ptr_nonnull(
		    strstr(json_string_value(json_object_get(e, "time")), "+09:00"));
		ck_assert_str_eq(json_string_value(json_object_get(e, "prev")),
		    prev != NULL ? json_string_value(json_object_get(prev, "hash"))
		                 : "00000000000000000000000000000000000000000000000000000"
		                   "00000000000");
	}
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(all, 2), "hash")), head3);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(all, NLINES - 1), "hash")),
	    audit_head(a));
	json_decref(all);

	/* max keeps the newest. */
	all = audit_read(path, 0, 2);
	ck_assert_uint_eq(json_array_size(all), 2);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 0), "seq")), 4);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 1), "seq")), 5);
	json_decref(all);

	audit_close(a);
	audit_close(NULL);
	free(path);
	free(dir);
}
END_TEST

/*
 * Tampered copies of one journal: each must fail at the right line with the
 * right reason.  order lists the original lines (0-based) to write, after
 * the change to line `at` (0-based).
 */
enum tamper_change {
	T_NONE,
	T_EDIT,   /* one byte of the actor changed */
	T_SPLICE, /* the same line of another journal: a valid entry, another chain */
	T_JUNK,   /* not an entry at all */
};

static const struct {
	const char *what;
	int order[NLINES + 2];
	enum tamper_change change;
	int at;
	int check_head;     /* verify against the daemon's head (seq 5, hash) */
	unsigned long line; /* expected failing line (1-based) */
	unsigned long entries;
	const char *why;
} tamper[] = {
	{ "one byte of line 3 edited", { 0, 1, 2, 3, 4, -1 }, T_EDIT, 2, 1, 3, 2,
	    "content does not match its hash: the line was edited" },
	{ "line 3 removed", { 0, 1, 3, 4, -1 }, T_NONE, 0, 1, 3, 2,
	    "seq 4 where 3 was expected: entries were removed or reordered before it" },
	{ "lines 2 and 3 swapped", { 0, 2, 1, 3, 4, -1 }, T_NONE, 0, 1, 2, 1,
	    "seq 3 where 2 was expected: entries were removed or reordered before it" },
	{ "line 2 repeated", { 0, 1, 1, 2, 3, 4, -1 }, T_NONE, 0, 1, 3, 2,
	    "seq 2 where 3 was expected: lines were reordered or duplicated" },
	{ "line 3 replaced by a valid line of another journal", { 0, 1, 2, 3, 4, -1 },
	    T_SPLICE, 2, 1, 3, 2,
	    "seq 3 does not chain to the line before it: a line was replaced" },
	{ "last line dropped", { 0, 1, 2, 3, -1 }, T_NONE, 0, 1, 5, 4,
	    "the journal ends at seq 4 but the daemon last wrote seq 5: entries were "
	    "removed "
	    "or replaced at the end" },
	{ "last line replaced", { 0, 1, 2, 3, 4, -1 }, T_SPLICE, 4, 1, 5, 4,
	    "seq 5 does not chain to the line before it: a line was replaced" },
	{ "first line dropped", { 1, 2, 3, 4, -1 }, T_NONE, 0, 0, 1, 0,
	    "seq 2 where 1 was expected: entries were removed or reordered before it" },
	{ "a line that is not an entry", { 0, 1, 2, 3, 4, -1 }, T_JUNK, 3, 0, 4, 3,
	    "not a journal entry (no hash at the end)" },
};

START_TEST(audit_verify_tampered)
{
	char head[65], other_head[65], *dir, *odir, *lines[NLINES], *other[NLINES],
	    name[32];
	struct audit_problem pb;
	unsigned long entries;
	size_t i;

	dir = make_journal("orig", "tanaka", head);
	odir = make_journal("other", "sato", other_head);
	ck_assert_uint_eq(read_lines(dir, lines, NLINES), NLINES);
	ck_assert_uint_eq(read_lines(odir, other, NLINES), NLINES);
	for (i = 0; i < NELEM(tamper); i++) {
		char *copy[NLINES], *path, *p;
		int j, at = tamper[i].at;

		for (j = 0; j < NLINES; j++)
			copy[j] = xstrdup(lines[j]);
		switch (tamper[i].change) {
		case T_NONE:
			break;
		case T_EDIT:
			p = strstr(copy[at], "\"actor\":\"tanaka\"");
			ck_assert_ptr_nonnull(p);
			p[strlen("\"actor\":\"")] = 'T';
			break;
		case T_SPLICE:
			free(copy[at]);
			copy[at] = xstrdup(other[at]);
			break;
		case T_JUNK:
			free(copy[at]);
			copy[at] = xstrdup("{\"seq\":4}\n");
			break;
		}
		snprintf(name, sizeof(name), "copy%zu", i);
		path = write_copy(name, copy, tamper[i].order);
		ck_assert_msg(
		    audit_verify(path, tamper[i].check_head ? NLINES : 0,
		        tamper[i].check_head ? head : NULL, &entries, &pb) == -1,
		    "%s: verified", tamper[i].what);
		ck_assert_msg(pb.line == tamper[i].line,
		    "%s: line %lu, expected %lu (%s)", tamper[i].what, pb.line,
		    tamper[i].line, pb.what);
		ck_assert_msg(entries == tamper[i].entries,
		    "%s: %lu good entries, expected %lu", tamper[i].what, entries,
		    tamper[i].entries);
		ck_assert_msg(strcmp(pb.what, tamper[i].why) == 0, "%s: [%s]",
		    tamper[i].what, pb.what);
		free_lines(copy, NLINES);
		free(path);
	}
	/* The untouched original still verifies. */
	{
		char *path;
		path = testutil_path(dir, "audit.jsonl");
		ck_assert_int_eq(audit_verify(path, NLINES, head, &entries, &pb), 0);
		/* But not against another journal's head. */
		ck_assert_int_eq(
		    audit_verify(path, NLINES, other_head, &entries, &pb), -1);
		ck_assert_uint_eq(pb.line, NLINES + 1);
		free(path);
	}
	free_lines(lines, NLINES);
	free_lines(other, NLINES);
	free(dir);
	free(odir);
}
END_TEST

START_TEST(audit_torn_last_line_trimmed)
{
	char head[65], err[512], *dir = make_journal("torn", "tanaka", head), *path,
	                         *lines[NLINES];
	struct audit_problem pb;
	unsigned long entries;
	struct stat st0, st1;
	struct audit *a;
	FILE *f;

	path = testutil_path(dir, "audit.jsonl");
	ck_assert_int_eq(stat(path, &st0), 0);
	ck_assert_uint_eq(read_lines(dir, lines, NLINES), NLINES);
	/* A crash in the middle of the sixth write: half a line, no newline. */
	f = fopen(path, "a");
	fwrite(lines[4], 1, strlen(lines[4]) / 2, f);
	fclose(f);
	ck_assert_int_eq(audit_verify(path, 0, NULL, &entries, &pb), -1);
	ck_assert_uint_eq(pb.line, 6);

	a = audit_open(dir, err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	ck_assert_uint_eq(audit_seq(a), NLINES);
	ck_assert_str_eq(audit_head(a), head);
	ck_assert_int_eq(stat(path, &st1), 0);
	ck_assert_int_eq(st1.st_size, st0.st_size);
	ck_assert_int_eq(audit_verify(path, NLINES, head, &entries, &pb), 0);
	ck_assert_uint_eq(entries, NLINES);
	/* And the journal goes on from there. */
	append_n(a, 0, 1, "tanaka");
	ck_assert_uint_eq(audit_seq(a), NLINES + 1);
	ck_assert_int_eq(
	    audit_verify(path, audit_seq(a), audit_head(a), &entries, &pb), 0);
	ck_assert_uint_eq(entries, NLINES + 1);
	audit_close(a);
	free_lines(lines, NLINES);
	free(path);
	free(dir);
}
END_TEST

START_TEST(audit_open_refuses_bad_last_line)
{
	char err[512], *dir = make_journal("bad", "tanaka", NULL), *path, *want,
	               *lines[NLINES];
	static const int order[] = { 0, 1, 2, 3, 4, -1 };

	ck_assert_uint_eq(read_lines(dir, lines, NLINES), NLINES);
	{
		char *p = strstr(lines[4], "\"actor\":\"tanaka\"");
		ck_assert_ptr_nonnull(p);
		p[9] = 'X';
	}
	path = write_copy("bad", lines, order);
	ck_assert_ptr_null(audit_open(dir, err, sizeof(err)));
	xasprintf(&want,
	    "audit journal %s: last line: content does not match its hash: the "
	    "line was edited",
	    path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);
	free_lines(lines, NLINES);

	/* A folder that does not exist. */
	path = testutil_path(tmpdir, "none");
	ck_assert_ptr_null(audit_open(path, err, sizeof(err)));
	xasprintf(&want, "audit journal %s/audit.jsonl: No such file or directory", path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);
	free(dir);
}
END_TEST

START_TEST(audit_verify_missing_file)
{
	struct audit_problem pb;
	unsigned long entries = 7;
	char *path, *want;

	path = testutil_path(tmpdir, "none/audit.jsonl");
	/* No journal yet and nothing expected: fine. */
	ck_assert_int_eq(audit_verify(path, 0, NULL, &entries, &pb), 0);
	ck_assert_uint_eq(entries, 0);
	/* Expected but gone. */
	ck_assert_int_eq(audit_verify(path, 3, "00", &entries, &pb), -1);
	xasprintf(&want, "%s: No such file or directory", path);
	ck_assert_str_eq(pb.what, want);
	free(want);
	free(path);
}
END_TEST

START_TEST(audit_read_since)
{
	char err[512], *dir = subdir("since"), *path;
	struct audit *a = audit_open(dir, err, sizeof(err));
	int64_t sec, since;
	json_t *all;
	size_t i;

	ck_assert_msg(a != NULL, "%s", err);
	append_n(a, 0, 2, "tanaka");
	/* Entry times are read to the second: start the next ones in a new second. */
	sec = time_now_ms() / 1000;
	while (time_now_ms() / 1000 == sec)
		usleep(10000);
	since = (sec + 1) * 1000;
	append_n(a, 2, NLINES, "tanaka");
	path = testutil_path(dir, "audit.jsonl");

	all = audit_read(path, since, 100);
	ck_assert_uint_eq(json_array_size(all), 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		    json_integer_value(json_object_get(json_array_get(all, i), "seq")),
		    (json_int_t)i + 3);
	json_decref(all);

	/* Since and max together: the newest of those after since. */
	all = audit_read(path, since, 1);
	ck_assert_uint_eq(json_array_size(all), 1);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 0), "seq")), 5);
	json_decref(all);

	/* Nothing after a time in the future; everything with since 0. */
	all = audit_read(path, time_now_ms() + 3600000, 100);
	ck_assert_uint_eq(json_array_size(all), 0);
	json_decref(all);
	all = audit_read(path, 0, 100);
	ck_assert_uint_eq(json_array_size(all), NLINES);
	json_decref(all);

	/* A journal that does not exist reads as empty. */
	all = audit_read("/nonexistent/audit.jsonl", 0, 100);
	ck_assert(json_is_array(all));
	ck_assert_uint_eq(json_array_size(all), 0);
	json_decref(all);
	audit_close(a);
	free(path);
	free(dir);
}
END_TEST

START_TEST(audit_read_shows_bad_lines)
{
	char *dir = make_journal("show", "tanaka", NULL), *lines[NLINES], *path;
	static const int order[] = { 0, 1, 2, 3, 4, -1 };
	json_t *all, *bad;

	ck_assert_uint_eq(read_lines(dir, lines, NLINES), NLINES);
	free(lines[1]);
	lines[1] = xstrdup("garbage\n");
	path = write_copy("show", lines, order);
	all = audit_read(path, 0, 100);
	ck_assert_uint_eq(json_array_size(all), NLINES);
	bad = json_array_get(all, 1);
	ck_assert_str_eq(json_string_value(json_object_get(bad, "invalid")),
	    "not a journal entry (no hash at the end)");
	ck_assert_str_eq(json_string_value(json_object_get(bad, "line")), "garbage");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(all, 2), "seq")), 3);
	json_decref(all);
	free_lines(lines, NLINES);
	free(path);
	free(dir);
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, audit_append_reopen_verify);
	tcase_add_test(tc, audit_verify_tampered);
	tcase_add_test(tc, audit_torn_last_line_trimmed);
	tcase_add_test(tc, audit_open_refuses_bad_last_line);
	tcase_add_test(tc, audit_verify_missing_file);
	tcase_add_test(tc, audit_read_since);
	tcase_add_test(tc, audit_read_shows_bad_lines);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(audit_suite());
}

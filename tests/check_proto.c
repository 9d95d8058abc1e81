/*
 * proto.c: splitting request lines into words, joining words into lines.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "tests/testutil.h"

static const struct {
	const char *line;
	int argc;
	const char *argv[6];
} split_good[] = {
	{ "status", 1, { "status" } },
	{ "device ups1", 2, { "device", "ups1" } },
	{ "  device \t ups1  ", 2, { "device", "ups1" } },
	{ "audit verify", 2, { "audit", "verify" } },
	{ "note \"mains failed at 09:00\"", 2, { "note", "mains failed at 09:00" } },
	{ "say \"a \\\"quoted\\\" word\"", 2, { "say", "a \"quoted\" word" } },
	{ "path \"C:\\\\temp\\\\x\"", 2, { "path", "C:\\temp\\x" } },
	{ "note \"\xe8\xa8\x93\xe7\xb7\xb4 \xe9\x96\x8b\xe5\xa7\x8b\"", 2,
	    { "note", "\xe8\xa8\x93\xe7\xb7\xb4 \xe9\x96\x8b\xe5\xa7\x8b" } },
	{ "\xe8\xa8\x93\xe7\xb7\xb4", 1, { "\xe8\xa8\x93\xe7\xb7\xb4" } },
	{ "set key \"\" end", 4, { "set", "key", "", "end" } },
	{ "\"\"", 1, { "" } },
	{ "\"a\" \"b\"", 2, { "a", "b" } },
	{ "\"tab\there\"", 1, { "tab\there" } },
	{ "a=b,c:d/e", 1, { "a=b,c:d/e" } },
};

START_TEST(split_table)
{
	char *argv[PROTO_MAX_ARGS], err[128];
	size_t i;
	int argc, j;

	for (i = 0; i < NELEM(split_good); i++) {
		const char *line = split_good[i].line;

		err[0] = '\0';
		argc = -1;
		ck_assert_msg(
		    proto_split(line, strlen(line), argv, &argc, err, sizeof(err)) == 0,
		    "[%s] refused: %s", line, err);
		ck_assert_msg(argc == split_good[i].argc, "[%s]: %d words, expected %d",
		    line, argc, split_good[i].argc);
		for (j = 0; j < argc; j++)
			ck_assert_msg(strcmp(argv[j], split_good[i].argv[j]) == 0,
			    "[%s] word %d: [%s], expected [%s]", line, j + 1, argv[j],
			    split_good[i].argv[j]);
		proto_free_args(argv, argc);
	}
}
END_TEST

static const struct {
	const char *line;
	size_t len; /* 0: strlen */
	const char *err;
} split_bad[] = {
	{ "say \"abc", 0, "unterminated quote in word 2" },
	{ "say \"abc\\\"", 0, "unterminated quote in word 2" },
	{ "say \"abc\\", 0, "bad escape in word 2 (only \\\" and \\\\)" },
	{ "\"a\\nb\"", 0, "bad escape in word 1 (only \\\" and \\\\)" },
	{ "\"a\\tb\"", 0, "bad escape in word 1 (only \\\" and \\\\)" },
	{ "device\x01ups1", 0, "control character at byte 7" },
	{ "status\n", 0, "control character at byte 7" },
	{ "status\r", 0, "control character at byte 7" },
	{ "a\x7f", 0, "control character at byte 2" },
	{ "a\0b", 3, "control character at byte 2" },
	{ "note \"\x01\"", 0, "control character at byte 7" },
	{ "device \xff", 0, "request is not valid UTF-8" },
	{ "note \"\xe8\xa8\"", 0, "request is not valid UTF-8" },
	{ "note \xc0\xaf", 0, "request is not valid UTF-8" },
	{ "", 0, "empty request" },
	{ "   \t  ", 0, "empty request" },
	{ "note \"a\"b", 0, "text right after a closing quote in word 2" },
	{ "\"a\"\"b\"", 0, "text right after a closing quote in word 1" },
	{ "ab\"c\"", 0, "quote or backslash inside unquoted word 1" },
	{ "x a\\b", 0, "quote or backslash inside unquoted word 2" },
	{ "x y z ab\"", 0, "quote or backslash inside unquoted word 4" },
};

START_TEST(split_errors)
{
	char *argv[PROTO_MAX_ARGS], err[128];
	size_t i;
	int argc;

	for (i = 0; i < NELEM(split_bad); i++) {
		const char *line = split_bad[i].line;
		size_t len = split_bad[i].len ? split_bad[i].len : strlen(line);

		argc = 99;
		err[0] = '\0';
		ck_assert_msg(proto_split(line, len, argv, &argc, err, sizeof(err)) == -1,
		    "case %zu accepted", i);
		/* Nothing to free: a caller's proto_free_args(argv, argc) is harmless. */
		ck_assert_msg(argc == 0, "case %zu: argc %d after an error", i, argc);
		ck_assert_msg(strcmp(err, split_bad[i].err) == 0,
		    "case %zu: [%s], expected [%s]", i, err, split_bad[i].err);
	}
}
END_TEST

START_TEST(split_word_limit)
{
	char line[4 * (PROTO_MAX_ARGS + 1) + 1], *argv[PROTO_MAX_ARGS], err[128];
	size_t off = 0;
	int i, argc = 99;

	for (i = 0; i < PROTO_MAX_ARGS; i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "w%02d ", i);
	/* Exactly PROTO_MAX_ARGS words, trailing blank included. */
	ck_assert_int_eq(proto_split(line, off, argv, &argc, err, sizeof(err)), 0);
	ck_assert_int_eq(argc, PROTO_MAX_ARGS);
	ck_assert_str_eq(argv[0], "w00");
	ck_assert_str_eq(argv[PROTO_MAX_ARGS - 1], "w31");
	proto_free_args(argv, argc);

	/* One more: refused, and the 32 words already copied are freed (LSan). */
	off += (size_t)snprintf(line + off, sizeof(line) - off, "x");
	argc = 99;
	ck_assert_int_eq(proto_split(line, off, argv, &argc, err, sizeof(err)), -1);
	ck_assert_int_eq(argc, 0);
	ck_assert_str_eq(err, "more than 32 words");
}
END_TEST

START_TEST(split_error_after_words_frees)
{
	char *argv[PROTO_MAX_ARGS], err[128];
	const char *line = "one two three \"four";
	int argc = 99;

	/* Three words were copied before the error; LeakSanitizer checks they are freed.
	 */
	ck_assert_int_eq(
	    proto_split(line, strlen(line), argv, &argc, err, sizeof(err)), -1);
	ck_assert_int_eq(argc, 0);
	ck_assert_str_eq(err, "unterminated quote in word 4");
}
END_TEST

START_TEST(split_respects_len)
{
	char *argv[PROTO_MAX_ARGS], err[128];
	const char *line = "device ups1 trailing";
	int argc;

	ck_assert_int_eq(proto_split(line, 11, argv, &argc, err, sizeof(err)), 0);
	ck_assert_int_eq(argc, 2);
	ck_assert_str_eq(argv[1], "ups1");
	proto_free_args(argv, argc);
}
END_TEST

static const struct {
	int argc;
	const char *argv[4];
	const char *line;
} join_cases[] = {
	{ 1, { "status" }, "status" },
	{ 2, { "device", "ups1" }, "device ups1" },
	{ 2, { "note", "two words" }, "note \"two words\"" },
	{ 2, { "note", "" }, "note \"\"" },
	{ 2, { "note", "say \"hi\"" }, "note \"say \\\"hi\\\"\"" },
	{ 1, { "a\\b" }, "\"a\\\\b\"" },
	{ 1, { "tab\there" }, "\"tab\there\"" }, /* a tab is a blank, as in proto_split */
	{ 1, { "\xe8\xa8\x93\xe7\xb7\xb4" }, "\xe8\xa8\x93\xe7\xb7\xb4" },
	{ 0, { NULL }, "" },
};

START_TEST(join_table)
{
	size_t i;

	for (i = 0; i < NELEM(join_cases); i++) {
		char *line = proto_join(
		    join_cases[i].argc, (char *const *)(uintptr_t)join_cases[i].argv);
		ck_assert_ptr_nonnull(line);
		ck_assert_msg(strcmp(line, join_cases[i].line) == 0,
		    "case %zu: [%s], expected [%s]", i, line, join_cases[i].line);
		free(line);
	}
}
END_TEST

START_TEST(join_refuses_control_and_bad_utf8)
{
	static const char *const bad[] = { "two\nlines", "cr\r", "nul\x01", "del\x7f",
		"\xe8\xa8", "\xc0\xaf" };
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		char *argv[2] = { (char *)(uintptr_t) "note", (char *)(uintptr_t)bad[i] };
		ck_assert_msg(proto_join(2, argv) == NULL, "bad word %zu joined", i);
	}
}
END_TEST

/* A small deterministic generator, so that a failure can be replayed. */
static uint32_t
lcg(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

START_TEST(join_split_roundtrip)
{
	static const char *const pieces[] = { "a", "Z", "0", " ", "  ", "\"", "\\", "=",
		"#", "'", "\t", "\xe8\xa8\x93", "\xe7\xb7\xb4", "\xf0\x9f\x98\x80", "-",
		".", "{}" };
	uint32_t seed = 20261125;
	int round;

	for (round = 0; round < 2000; round++) {
		char words[8][64], *argv[8], *got[PROTO_MAX_ARGS], err[128], *line;
		int n = 1 + (int)(lcg(&seed) % 8), i, argc;

		for (i = 0; i < n; i++) {
			int parts = (int)(lcg(&seed) % 6),
			    p; /* 0 parts: the empty word */
			words[i][0] = '\0';
			for (p = 0; p < parts; p++)
				strcat(words[i], pieces[lcg(&seed) % NELEM(pieces)]);
			argv[i] = words[i];
		}
		line = proto_join(n, argv);
		ck_assert_msg(line != NULL, "round %d: join refused", round);
		ck_assert_msg(
		    proto_split(line, strlen(line), got, &argc, err, sizeof(err)) == 0,
		    "round %d: [%s] refused: %s", round, line, err);
		ck_assert_msg(argc == n, "round %d: [%s] gave %d words, expected %d",
		    round, line, argc, n);
		for (i = 0; i < n; i++)
			ck_assert_msg(strcmp(got[i], words[i]) == 0,
			    "round %d: [%s] word %d: [%s], expected [%s]", round, line,
			    i + 1, got[i], words[i]);
		proto_free_args(got, argc);
		free(line);
	}
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("split");
	tcase_add_test(tc, split_table);
	tcase_add_test(tc, split_errors);
	tcase_add_test(tc, split_word_limit);
	tcase_add_test(tc, split_error_after_words_frees);
	tcase_add_test(tc, split_respects_len);
	suite_add_tcase(s, tc);

	tc = tcase_create("join");
	tcase_add_test(tc, join_table);
	tcase_add_test(tc, join_refuses_control_and_bad_utf8);
	tcase_add_test(tc, join_split_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return testutil_run(proto_suite());
}

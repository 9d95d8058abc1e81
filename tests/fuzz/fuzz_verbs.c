/*
 * fuzz_verbs: the argument readers of the detection verbs (ack, declare,
 * maintenance add) and of staff set on a control line.  The words after the first are
 * offered to every reader.  Each either takes them or refuses with a reason and one of
 * the two usage codes; what it takes holds: an id of 1 or more, an expiry only for an
 * expiring ack and then in the next 366 days, a kind of a-z, 0-9 and "-", a text
 * verbs_check_text() accepts, a window that chooses devices and survives a JSON round
 * trip, and an --until only for someone unavailable and then in the next 366 days.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_verbs"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"

/* 2026-11-25T00:00:00Z, a fixed "now" so that failures reproduce. */
#define NOW        INT64_C(1795564800000)
#define EXPIRE_MAX (INT64_C(366) * 86400 * 1000)

static void
check_refusal(const char *reader, int r, const char *err)
{
	if (r != VERBS_BAD_USAGE && r != VERBS_BAD_VALUE)
		fuzz_fail("%s: returned %d", reader, r);
	if (err[0] == '\0')
		fuzz_fail("%s: refused without a reason", reader);
}

static void
check_text(const char *reader, const char *text, int required)
{
	char err[256];

	if (text == NULL) {
		if (required)
			fuzz_fail("%s: took no text", reader);
		return;
	}
	if (verbs_check_text(text, err, sizeof(err)) != 0)
		fuzz_fail("%s: took the text \"%s\": %s", reader, text, err);
}

static void
check_ack(int argc, char **argv)
{
	enum ack_kind kind;
	const char *text = NULL;
	char err[512] = "";
	uint64_t id = 0;
	int64_t exp = -1;
	int r;

	r = verbs_ack_args(argc, argv, NOW, &id, &kind, &exp, &text, err, sizeof(err));
	if (r != 0) {
		check_refusal("ack", r, err);
		return;
	}
	if (id < 1 || id > INT64_MAX)
		fuzz_fail("ack: id %llu", (unsigned long long)id);
	if (kind == ACK_EXPIRING) {
		if (exp <= NOW || exp - NOW > EXPIRE_MAX)
			fuzz_fail("ack: expires %lld, now %lld", (long long)exp,
			    (long long)NOW);
	} else if ((kind != ACK_NORMAL && kind != ACK_STICKY) || exp != 0)
		fuzz_fail("ack: kind %d with expiry %lld", (int)kind, (long long)exp);
	check_text("ack", text, 1);
}

static void
check_declare(int argc, char **argv)
{
	const char *kind = NULL, *text = NULL;
	enum check_state sev = CHECK_UNKNOWN;
	char err[512] = "";
	size_t len;
	int r;

	r = verbs_declare_args(argc, argv, &kind, &sev, &text, err, sizeof(err));
	if (r != 0) {
		check_refusal("declare", r, err);
		return;
	}
	len = strlen(kind);
	if (len < 1 || len > 32 ||
	    strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		fuzz_fail("declare: took the kind \"%s\"", kind);
	if (sev != CHECK_WARNING && sev != CHECK_CRITICAL)
		fuzz_fail("declare: severity %d", (int)sev);
	check_text("declare", text, 1);
}

static void
check_maintenance(int argc, char **argv)
{
	struct window *w = NULL, *back;
	char err[512] = "", *a_text, *b_text;
	json_t *a, *b;
	int r;

	r = verbs_maintenance_args(argc, argv, "Asia/Tokyo", NOW, &w, err, sizeof(err));
	if (r != 0) {
		if (w != NULL)
			fuzz_fail("maintenance: refused, with a window");
		check_refusal("maintenance", r, err);
		return;
	}
	if (w == NULL || w->id != NULL || w->created_by != NULL)
		fuzz_fail("maintenance: no window, or one with an id or an author");
	if (window_check(w, err, sizeof(err)) == -1)
		fuzz_fail("maintenance: a window that chooses nothing: %s", err);
	check_text("maintenance", w->comment, 0);
	w->id = xstrdup("fuzz");
	a = window_to_json(w);
	a_text = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
	if ((back = window_from_json(a, err, sizeof(err))) == NULL)
		fuzz_fail("maintenance: %s does not read back: %s", a_text, err);
	b = window_to_json(back);
	b_text = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
	if (strcmp(a_text, b_text) != 0)
		fuzz_fail("maintenance: %s came back as %s", a_text, b_text);
	free(a_text);
	free(b_text);
	json_decref(a);
	json_decref(b);
	window_free(back);
	window_free(w);
}

static void
check_staff_set(int argc, char **argv)
{
	const char *id = NULL, *text = NULL;
	char err[512] = "";
	int64_t until = -1;
	int available = -1, r;

	r = verbs_staff_set_args(
	    argc, argv, NOW, &id, &available, &until, &text, err, sizeof(err));
	if (r != 0) {
		check_refusal("staff set", r, err);
		return;
	}
	if (id == NULL || (available != 0 && available != 1))
		fuzz_fail("staff set: id %s, available %d", id ? id : "NULL", available);
	if (until != 0 && (available || until <= NOW || until - NOW > EXPIRE_MAX))
		fuzz_fail("staff set: until %lld, now %lld, available %d",
		    (long long)until, (long long)NOW, available);
	check_text("staff set", text, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[PROTO_MAX_ARGS], err[256];
	int argc;

	/* control.max_line is at most 65536: longer lines never reach the verbs. */
	if (size > 65536)
		return 0;
	if (getenv("TZ") == NULL && tz_apply("Asia/Tokyo") == -1)
		fuzz_fail("no tzdata");
	if (proto_split((const char *)data, size, argv, &argc, err, sizeof(err)) == -1)
		return 0;
	check_ack(argc - 1, argv + 1);
	check_declare(argc - 1, argv + 1);
	check_maintenance(argc - 1, argv + 1);
	check_staff_set(argc - 1, argv + 1);
	proto_free_args(argv, argc);
	if (strcmp(getenv("TZ"), "Asia/Tokyo") != 0)
		fuzz_fail("the process zone is now %s", getenv("TZ"));
	return 0;
}

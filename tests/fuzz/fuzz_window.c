/*
 * fuzz_window: maintenance windows from operator text and from stored JSON.
 * The input is up to four lines, start, end, every and for (an empty line is
 * "not given"); its first byte picks the zone.  Any text either makes a
 * window or is refused with a reason; a window that is made survives a JSON
 * round trip unchanged, and its next change is a real change.  The whole
 * input is also offered to window_from_json() when it is JSON.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_window"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"

/* 2026-11-25T00:00:00Z, a fixed "now" so that failures reproduce. */
#define NOW INT64_C(1795564800000)

static const char *const zones[] = { "Asia/Tokyo", "Europe/Berlin", "America/New_York",
	"Australia/Lord_Howe", "UTC" };

/* The window's changes are real: the state flips at each one, not before. */
static void
check_changes(const struct window *w)
{
	int64_t t = NOW;
	int i, state = window_active(w, t);

	for (i = 0; i < 4; i++) {
		int64_t next = window_next_change(w, t);

		if (next == -1)
			return;
		if (next <= t)
			fuzz_fail("next change %lld is not after %lld", (long long)next,
			    (long long)t);
		if (window_active(w, next - 1) != state ||
		    window_active(w, next) == state)
			fuzz_fail("no change at %lld", (long long)next);
		state = !state;
		t = next;
	}
}

static void
check_round_trip(struct window *w)
{
	char err[512] = "", *a_text, *b_text;
	struct window *back;
	json_t *a, *b;

	a = window_to_json(w);
	back = window_from_json(a, err, sizeof(err));
	a_text = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
	if (back == NULL)
		fuzz_fail("%s does not read back: %s", a_text, err);
	b = window_to_json(back);
	b_text = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
	if (strcmp(a_text, b_text) != 0)
		fuzz_fail("%s came back as %s", a_text, b_text);
	free(a_text);
	free(b_text);
	json_decref(a);
	json_decref(b);
	window_free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *field[4] = { NULL, NULL, NULL, NULL }, *p, err[512];
	struct window_text t;
	struct window *w;
	json_t *j;
	size_t i;

	if (size < 1 || size > 4096)
		return 0;
	if (getenv("TZ") == NULL && tz_apply("Asia/Tokyo") == -1)
		fuzz_fail("no tzdata");
	copy = xstrndup((const char *)data + 1, size - 1);
	for (i = 0, p = copy; i < 4 && p != NULL; i++) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		field[i] = *p != '\0' ? p : NULL;
		p = nl != NULL ? nl + 1 : NULL;
	}
	t.start = field[0];
	t.end = field[1];
	t.every = field[2];
	t.duration = field[3];
	err[0] = '\0';
	w = window_parse(&t, zones[data[0] % (sizeof(zones) / sizeof(zones[0]))], NOW,
	    err, sizeof(err));
	if (w == NULL && err[0] == '\0')
		fuzz_fail("refused without a reason");
	if (w != NULL) {
		w->id = xstrdup("fuzz");
		if (window_add_target(w, WT_DEVICE, "*", err, sizeof(err)) == -1)
			fuzz_fail("device \"*\" refused: %s", err);
		check_changes(w);
		check_round_trip(w);
		window_free(w);
	}
	free(copy);

	if ((j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL)) != NULL) {
		err[0] = '\0';
		if ((w = window_from_json(j, err, sizeof(err))) == NULL) {
			if (err[0] == '\0')
				fuzz_fail("JSON refused without a reason");
		} else {
			check_changes(w);
			check_round_trip(w);
			window_free(w);
		}
		json_decref(j);
	}
	if (strcmp(getenv("TZ"), "Asia/Tokyo") != 0)
		fuzz_fail("the process zone is now %s", getenv("TZ"));
	return 0;
}

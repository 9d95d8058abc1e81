/*
 * The control line protocol, shared by sonaed and the sonae CLI.
 *
 * A request is one line of words separated by blanks.  A word with blanks,
 * quotes or backslashes, or an empty word, is written in double quotes with
 * \" and \\ escapes.  Lines are UTF-8 without control characters.  The
 * reply is "<status> <text>" where status >= 0 is the number of lines that
 * follow (sonaed sends at most one: a JSON document) and status < 0 is an
 * error (ST_*).
 */
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

/*
 * Split a request line into at most PROTO_MAX_ARGS words (argv receives
 * copies).  Returns 0, or -1 with a reason in err and nothing allocated.
 */
int
proto_split(
    const char *line, size_t len, char **argv, int *argc, char *err, size_t errlen)
{
	const char *p = line, *end = line + len;
	char *word = NULL;
	size_t i;
	int n = 0;

	*argc = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errlen, "control character at byte %zu", i + 1);
			return -1;
		}
	}
	if (!utf8_valid(line, len)) {
		snprintf(err, errlen, "request is not valid UTF-8");
		return -1;
	}
	word = xmalloc(len + 1);
	for (;;) {
		size_t w = 0;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end)
			break;
		if (n >= PROTO_MAX_ARGS) {
			snprintf(err, errlen, "more than %d words", PROTO_MAX_ARGS);
			goto bad;
		}
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\') {
					if (++p >= end || (*p != '"' && *p != '\\')) {
						snprintf(err, errlen,
						    "bad escape in word %d (only \\\" "
						    "and \\\\)",
						    n + 1);
						goto bad;
					}
				}
				word[w++] = *p;
			}
			if (p >= end) {
				snprintf(
				    err, errlen, "unterminated quote in word %d", n + 1);
				goto bad;
			}
			p++;
			if (p < end && *p != ' ' && *p != '\t') {
				snprintf(err, errlen,
				    "text right after a closing quote in word %d", n + 1);
				goto bad;
			}
		} else {
			for (; p < end && *p != ' ' && *p != '\t'; p++) {
				if (*p == '"' || *p == '\\') {
					snprintf(err, errlen,
					    "quote or backslash inside unquoted word %d",
					    n + 1);
					goto bad;
				}
				word[w++] = *p;
			}
		}
		argv[n++] = xstrndup(word, w);
	}
	free(word);
	if (n == 0) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	*argc = n;
	return 0;
bad:
	free(word);
	proto_free_args(argv, n);
	return -1;
}

/* Free words from proto_split. */
void
proto_free_args(char **argv, int argc)
{
	int i;

	for (i = 0; i < argc; i++)
		free(argv[i]);
}

/*
 * Join words into a request line (no newline), quoting where needed.
 * Returns NULL if a word holds a control character other than a tab (a
 * message must be one line) or is not UTF-8.
 */
char *
proto_join(int argc, char *const *argv)
{
	size_t cap = 1, off = 0;
	char *out;
	int i;

	for (i = 0; i < argc; i++)
		cap += 2 * strlen(argv[i]) + 3;
	out = xmalloc(cap);
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		int quote = a[0] == '\0' || strpbrk(a, " \t\"\\") != NULL;
		const char *c;

		if (!utf8_valid(a, strlen(a))) {
			free(out);
			return NULL;
		}
		for (c = a; *c != '\0'; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
				free(out);
				return NULL;
			}
		if (i > 0)
			out[off++] = ' ';
		if (quote)
			out[off++] = '"';
		for (c = a; *c != '\0'; c++) {
			if (quote && (*c == '"' || *c == '\\'))
				out[off++] = '\\';
			out[off++] = *c;
		}
		if (quote)
			out[off++] = '"';
	}
	out[off] = '\0';
	return out;
}

/*
 * fuzz_report: the report renderer (monitor/ctl/report.c) on any JSON, as
 * `sonae report render FILE` reads it.  A document is rendered or refused
 * with a reason and nothing written; what is rendered is valid UTF-8, the
 * HTML is whole and holds no markup but ours (no "<script" whatever the text
 * says), and the Markdown no HTML but the line breaks it writes itself
 * (every other "<" is escaped, or in a fenced block of exact text).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_report"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"
#include "monitor/ctl/report.h"

static char *
render(json_t *r, enum report_format fmt, int *rc, size_t *len)
{
	char *buf = NULL, err[256];
	FILE *f = open_memstream(&buf, len);

	if (f == NULL)
		fuzz_fail("open_memstream");
	err[0] = '\0';
	*rc = report_render(r, fmt, f, err, sizeof(err));
	fclose(f);
	if (*rc == -1 && (err[0] == '\0' || *len != 0))
		fuzz_fail("refused without a reason, or with output");
	return buf;
}

/* Outside fenced code, a "<" of the Markdown that is not "<br>" or escaped. */
static const char *
md_markup(const char *md)
{
	const char *line = md, *end, *p;
	size_t fence = 0, ticks;

	while (*line != '\0') {
		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		for (ticks = 0; line + ticks < end && line[ticks] == '`'; ticks++)
			;
		if (fence == 0 && ticks >= 3)
			fence = ticks;
		else if (fence > 0 && ticks >= fence && line + ticks == end)
			fence = 0;
		else if (fence == 0)
			for (p = line; p < end; p++)
				if (*p == '<' && strncmp(p, "<br>", 4) != 0 &&
				    (p == md || p[-1] != '\\'))
					return p;
		line = *end != '\0' ? end + 1 : end;
	}
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int zoned;
	json_t *r;
	char *html, *md;
	const char *p;
	size_t hlen, mlen;
	int hrc, mrc;

	if (!zoned) {
		tz_apply("Asia/Tokyo");
		zoned = 1;
	}
	if ((r = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	html = render(r, REPORT_HTML, &hrc, &hlen);
	md = render(r, REPORT_MD, &mrc, &mlen);
	if (hrc != mrc)
		fuzz_fail("html %d, markdown %d", hrc, mrc);
	if (hrc == 0) {
		if (!utf8_valid(html, hlen) || !utf8_valid(md, mlen))
			fuzz_fail("not UTF-8");
		if (strstr(html, "<script") != NULL)
			fuzz_fail("a script element in the HTML");
		if (hlen < 8 || strcmp(html + hlen - 8, "</html>\n") != 0)
			fuzz_fail("the HTML does not end");
		if ((p = md_markup(md)) != NULL)
			fuzz_fail("markup in the Markdown: \"%.20s\"", p);
	}
	free(html);
	free(md);
	json_decref(r);
	return 0;
}

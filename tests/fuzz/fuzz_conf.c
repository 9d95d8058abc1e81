/*
 * fuzz_conf: the configuration loader (libconfig's parser, then the schema
 * walk, the probe sections and the cross-key checks) on any text.  A text is
 * taken with no errors or refused with at least one, never both.
 *
 * Inputs with @include are skipped: libconfig would open whatever file they
 * name.  Relative paths resolve against etc/examples (see CMakeLists.txt).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_conf"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"

#ifndef SONAE_FUZZ_CONF_NAME
#define SONAE_FUZZ_CONF_NAME "fuzz.conf"
#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	char *text;
	size_t i;

	if (size > 1024 * 1024)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	/* libconfig reads the text up to its first NUL; the directive is case-blind. */
	if (strcasestr(text, "@include") != NULL) {
		free(text);
		return 0;
	}
	conf = conf_load_string(text, SONAE_FUZZ_CONF_NAME, &errs);
	if (conf == NULL && errs.n == 0)
		fuzz_fail("refused without a reason");
	if (conf != NULL && errs.n != 0)
		fuzz_fail("taken with %zu errors, the first: %s", errs.n, errs.v[0]);
	for (i = 0; i < errs.n; i++)
		if (errs.v[i] == NULL || errs.v[i][0] == '\0')
			fuzz_fail("error %zu is empty", i + 1);
	if (conf != NULL && (conf->site.name == NULL || conf->control.socket == NULL))
		fuzz_fail("taken without site.name or control.socket");
	conf_free(conf);
	conf_errors_clear(&errs);
	free(text);
	return 0;
}

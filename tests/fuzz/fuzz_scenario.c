/*
 * fuzz_scenario: the replay probe's scenario parser on any bytes.  A
 * scenario is taken with at least one timed line, or refused with a reason
 * that names the file.
 */
#include <string.h>

#define FUZZ_NAME "fuzz_scenario"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"
#include "probes/probe.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *sc;
	char err[512];

	err[0] = '\0';
	sc = scenario_parse((const char *)data, size, "fuzz.replay", err, sizeof(err));
	if (sc == NULL) {
		if (strncmp(err, "fuzz.replay:", 12) != 0)
			fuzz_fail("refused with \"%s\"", err);
		return 0;
	}
	if (scenario_frames(sc) == 0)
		fuzz_fail("taken without a timed line");
	scenario_free(sc);
	return 0;
}

/*
 * fuzz_proto: the control line splitter.  Any bytes either split into words
 * or are refused with a reason; words that split join back into a line that
 * splits into the same words.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_proto"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[PROTO_MAX_ARGS], *again[PROTO_MAX_ARGS], err[256], *line;
	int argc = -1, argc2 = -1, i;

	/* control.max_line is at most 65536: longer lines never reach the splitter. */
	if (size > 65536)
		return 0;
	err[0] = '\0';
	if (proto_split((const char *)data, size, argv, &argc, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || argc != 0)
			fuzz_fail("refused without a reason, or with words left");
		return 0;
	}
	if (argc < 1 || argc > PROTO_MAX_ARGS)
		fuzz_fail("split into %d words", argc);
	if ((line = proto_join(argc, argv)) == NULL)
		fuzz_fail("words that split do not join");
	if (strchr(line, '\n') != NULL)
		fuzz_fail("joined line holds a newline");
	if (proto_split(line, strlen(line), again, &argc2, err, sizeof(err)) == -1)
		fuzz_fail("joined line \"%s\" does not split: %s", line, err);
	if (argc2 != argc)
		fuzz_fail("\"%s\": %d words, split again %d", line, argc, argc2);
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], again[i]) != 0)
			fuzz_fail("\"%s\": word %d \"%s\" came back as \"%s\"", line,
			    i + 1, argv[i], again[i]);
	proto_free_args(again, argc2);
	proto_free_args(argv, argc);
	free(line);
	return 0;
}

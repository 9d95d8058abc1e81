/*
 * What every libFuzzer target shares.  Define FUZZ_NAME (the target's name,
 * for its failure messages) before including this.
 */
#ifndef SONAE_FUZZ_H
#define SONAE_FUZZ_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "monitor/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A property broke: say which, and abort so libFuzzer keeps the input. */
static void NORETURN PRINTFLIKE(1, 2) fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", FUZZ_NAME);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

#endif

/*
 * The probe registry: a NULL-terminated table of every probe family.
 */
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

static const struct probe_ops *const probes[] = {
	&probe_replay,
	&probe_snmp,
	&probe_modbus,
	NULL,
};

/* Find a probe family by the name of its device section. */
const struct probe_ops *
probe_find(const char *name)
{
	size_t i;

	for (i = 0; probes[i] != NULL; i++)
		if (strcmp(probes[i]->name, name) == 0)
			return probes[i];
	return NULL;
}

/* The probe section names, comma-separated, for messages (caller frees). */
char *
probe_names(void)
{
	char *out = xstrdup(""), *tmp;
	size_t i;

	for (i = 0; probes[i] != NULL; i++) {
		xasprintf(&tmp, "%s%s%s", out, i ? ", " : "", probes[i]->name);
		free(out);
		out = tmp;
	}
	return out;
}

/* Document each probe's device section through the reference writer fn. */
void
probe_conf_doc(FILE *f, const char *prefix,
    void (*fn)(FILE *, const struct conf_table *, const char *))
{
	char name[256];
	size_t i;

	for (i = 0; probes[i] != NULL; i++) {
		snprintf(name, sizeof(name), "%s.%s", prefix, probes[i]->name);
		fn(f, probes[i]->conf, name);
	}
}

/*
 * modbus_write: drive modbus_write_point() (probes/probe.h) from the command
 * line, for tests/integration/test_modbus.py: load CONF, start DEVICE, write
 * VALUE to POINT, wait for the read-back.  Prints "ok", "failed: REASON" (exit
 * 1) or "refused" (exit 2: no such writable point, or the value does not fit).
 *
 *	modbus_write CONF DEVICE POINT VALUE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "monitor/monitor.h"
#include "probes/probe.h"

struct result {
	int done, ok;
	char reason[512];
};

static void
written(void *arg, int ok, const char *reason)
{
	struct result *r = arg;

	r->done = 1;
	r->ok = ok;
	snprintf(r->reason, sizeof(r->reason), "%s", reason != NULL ? reason : "");
}

int
main(int argc, char **argv)
{
	struct conf_errors errs = { NULL, 0 };
	struct result r = { 0, 0, "" };
	struct timeval tick = { 0, 10000 };
	struct event_base *base;
	struct store *store;
	struct device *dev = NULL;
	struct conf *conf;
	int64_t end;
	size_t i;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: modbus_write CONF DEVICE POINT VALUE\n");
		return 2;
	}
	log_init(1, 0);
	if ((conf = conf_load(argv[1], &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i]);
		return 2;
	}
	base = event_base_new();
	store = store_new(1);
	for (i = 0; i < conf->devices.n; i++)
		if (strcmp(conf_device(conf, i)->name, argv[2]) == 0)
			dev = device_new(base, store, conf_device(conf, i));
	if (dev == NULL || device_start(dev) == -1 ||
	    modbus_write_point(dev, argv[3], strtod(argv[4], NULL), written, &r) == -1) {
		printf("refused\n");
		rc = 2;
		goto out;
	}
	end = time_mono_ms() + 10000;
	while (!r.done && time_mono_ms() < end) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	if (r.done && r.ok)
		printf("ok\n");
	else
		printf("failed: %s\n", r.done ? r.reason : "no answer in 10 s");
	rc = r.done && r.ok ? 0 : 1;
out:
	device_free(dev);
	store_free(store);
	event_base_free(base);
	conf_free(conf);
	return rc;
}

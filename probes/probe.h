/*
 * Probes read devices.  Each probe family is one file exporting one
 * struct probe_ops; the core finds it by the name of the device's probe
 * section ("replay", later "snmp" and "modbus") and owns all timing: it calls
 * poll() once per attempt and the probe reports back exactly once through
 * poll_done() (monitor.h), unless the core cancels the attempt first.
 *
 * A probe never decides severity and never keeps pointers into the
 * configuration between calls: after a reload an unchanged device gets the
 * new (equal) configuration object and the old one is freed.
 */
#ifndef SONAE_PROBE_H
#define SONAE_PROBE_H

#include <stdio.h>

struct conf_table;
struct device;
struct poll;

struct probe_ops {
	const char *name;
	const char *help;
	const struct conf_table *conf; /* the device's section for this probe */
	/* Set up per-device state (device_set_probe_data); -1 refuses the device. */
	int (*start)(struct device *);
	/* Free per-device state; any attempt in flight was cancelled first. */
	void (*stop)(struct device *);
	/* Begin one attempt; report with poll_*() then poll_done(), never inline. */
	void (*poll)(struct device *, struct poll *);
	/* Forget an attempt that timed out; poll_done() must not follow. */
	void (*cancel)(struct device *, struct poll *);
};

/* probe.c */
const struct probe_ops *probe_find(const char *);
char *probe_names(void);
void probe_conf_doc(
    FILE *, const char *, void (*)(FILE *, const struct conf_table *, const char *));

/* replay.c */
extern const struct probe_ops probe_replay;
struct scenario;
struct scenario *scenario_parse(const char *, size_t, const char *, char *, size_t);
void scenario_free(struct scenario *);
size_t scenario_frames(const struct scenario *);

#endif

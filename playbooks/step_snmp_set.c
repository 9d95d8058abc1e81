/*
 * snmp-set: one object of a configured SNMP device written through its
 * probe (snmp_set(): the device's credentials, SNMPv3 included) and read
 * back.  Isolating the internet-connected segment (P8) is one:
 * ifAdminStatus.N = 2.
 */
#include <stdlib.h>

#include "playbooks/step_write.h"

static int
describe(struct pb_act *x, char **value, char *buf, size_t len)
{
	const struct pb_step *st = pb_act_step(x);
	char err[256], *oid = NULL;

	if (pb_act_expand(x, st->oid, &oid, err, sizeof(err)) == -1 ||
	    pb_act_expand(x, st->value, value, err, sizeof(err)) == -1) {
		free(oid);
		snprintf(buf, len, "%s", err);
		return -1;
	}
	snprintf(buf, len, "snmpset %s %s %s %s", st->device, oid, st->set_type, *value);
	free(oid);
	return 0;
}

static void
snmp_set_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	const struct pb_hooks *h = pb_act_hooks(x);
	char what[512], *value = NULL, *oid = NULL, err[256];
	struct pb_write *w;

	if (describe(x, &value, what, sizeof(what)) == -1 ||
	    pb_act_expand(x, st->oid, &oid, err, sizeof(err)) == -1) {
		free(value);
		pb_act_done(x, 0, "%s", what);
		return;
	}
	w = pb_write_new(x, what);
	if (h->snmp_set == NULL || h->snmp_set(pb_act_arg(x), st->device, oid,
	                               st->set_type[0], value, pb_write_done, w) == -1)
		pb_write_refused(x, w,
		    "the device cannot be written (not configured, or "
		    "not an SNMP device)");
	free(oid);
	free(value);
}

static int
snmp_set_would(struct pb_act *x, char *buf, size_t len)
{
	char *value = NULL;
	int rc = describe(x, &value, buf, len);

	free(value);
	return rc;
}

const struct pb_step_ops pb_snmp_set_ops = {
	.start = snmp_set_start,
	.cancel = pb_write_cancel,
	.would = snmp_set_would,
};

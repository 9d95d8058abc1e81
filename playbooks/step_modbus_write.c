/*
 * modbus-write: a writable point of a configured Modbus device (a siren, a
 * load-shedding relay) written through its probe (modbus_write_point(),
 * which refuses points not marked writable) and read back.
 */
#include "playbooks/step_write.h"

static void
modbus_write_start(struct pb_act *x)
{
	const struct pb_step *st = pb_act_step(x);
	const struct pb_hooks *h = pb_act_hooks(x);
	char what[512];
	struct pb_write *w;

	snprintf(what, sizeof(what), "%s.%s = %g", st->device, st->point, st->value_num);
	w = pb_write_new(x, what);
	if (h->modbus_write == NULL ||
	    h->modbus_write(pb_act_arg(x), st->device, st->point, st->value_num,
	        pb_write_done, w) == -1)
		pb_write_refused(x, w,
		    "the point cannot be written (not configured, not "
		    "writable, or not a Modbus device)");
}

static int
modbus_write_would(struct pb_act *x, char *buf, size_t len)
{
	const struct pb_step *st = pb_act_step(x);

	snprintf(buf, len, "write %s.%s = %g", st->device, st->point, st->value_num);
	return 0;
}

const struct pb_step_ops pb_modbus_write_ops = {
	.start = modbus_write_start,
	.cancel = pb_write_cancel,
	.would = modbus_write_would,
};

/*
 * fuzz_trap: the trap decoder (net-snmp's v1/v2c header and PDU parsers, the
 * RFC 3584 conversion, the classifier).  Any bytes either decode into a trap
 * whose fields are in bounds and whose kind is what the classifier says of
 * its OID, or are refused with a reason; nothing leaks either way.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#define FUZZ_NAME "fuzz_trap"
#include "tests/fuzz/fuzz.h"
#include "monitor/monitor.h"
#include "probes/probe.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trap_msg m;
	char why[256];
	int r;

	/* A UDP datagram is at most 65535 bytes: the receiver reads no more. */
	if (size > 65535)
		return 0;
	why[0] = '\0';
	r = trap_decode(data, size, &m, why, sizeof(why));
	if (r != 0) {
		if ((r != -1 && r != -2) || why[0] == '\0')
			fuzz_fail("refused (%d) without a reason", r);
		return 0;
	}
	if (m.version != SNMP_VERSION_1 && m.version != SNMP_VERSION_2c)
		fuzz_fail("decoded version %ld", m.version);
	if (m.oid_len == 0 || m.oid_len > MAX_OID_LEN)
		fuzz_fail("trap OID of %zu sub-identifiers", m.oid_len);
	if (m.community_len >= sizeof(m.community))
		fuzz_fail("community of %zu bytes", m.community_len);
	if (m.kind != trap_classify(m.oid, m.oid_len))
		fuzz_fail(
		    "kind %s is not what the classifier says", trap_kind_name(m.kind));
	if (memchr(m.detail, '\0', sizeof(m.detail)) == NULL ||
	    memchr(m.agent_addr, '\0', sizeof(m.agent_addr)) == NULL)
		fuzz_fail("unterminated text");
	return 0;
}

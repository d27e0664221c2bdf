// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: sockaccel.conf parsing. Any input must give 0 or -EINVAL with
 * a message, never a crash, a leak or undefined behaviour. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sa_config c;
	char err[512] = "";
	FILE *f;
	int ret;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	sa_config_defaults(&c);
	ret = sa_config_parse(f, "fuzz.conf", &c, err, sizeof(err));
	fclose(f);
	if (ret != 0 && (ret != -EINVAL || err[0] == '\0'))
		abort();	/* an error must be -EINVAL and say what */
	if (ret == 0) {
		if (c.n_ports > SA_PORT_RANGES_MAX || c.n_exclude > SA_PORT_RANGES_MAX ||
		    c.n_cidrs > SA_CIDRS_MAX)
			abort();
		for (unsigned int i = 0; i < c.n_ports; i++)
			if (c.ports[i].lo == 0 || c.ports[i].lo > c.ports[i].hi)
				abort();
	}
	return 0;
}

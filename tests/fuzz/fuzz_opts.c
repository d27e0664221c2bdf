// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: sockacceld's command line. The input is split at NUL bytes
 * into argv[1..]; parsing must never crash, and what it accepts must hold
 * the documented ranges. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockaccel.h"
#include "daemon_opts.h"

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf;
	struct sa_daemon_opts o;
	int argc = 1, ret;
	FILE *err;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "sockacceld";
	for (size_t i = 0; i <= size && argc <= MAX_ARGS; ) {
		argv[argc++] = &buf[i];
		i += strlen(&buf[i]) + 1;
	}
	argv[argc] = NULL;
	err = fopen("/dev/null", "w");
	ret = sa_daemon_opts_parse(argc, argv, &o, err ? err : stderr);
	if (err)
		fclose(err);
	if (ret != 0 && ret != -EINVAL)
		abort();
	if (ret == 0 && (o.max_conns < SA_MAX_CONNS_MIN || o.max_conns > SA_MAX_CONNS_MAX ||
			 o.pin_dir[0] != '/' || (o.cgroup[0] && o.cgroup[0] != '/')))
		abort();
	free(buf);
	return 0;
}

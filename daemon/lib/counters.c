// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "counters.h"

#define SA_CNT_DESC(e, n, h) [SA_CNT_##e] = { .name = n, .help = h },
const struct sa_counter_desc sa_counter_descs[SA_CNT_MAX] = {
	SA_COUNTERS(SA_CNT_DESC)
};
#undef SA_CNT_DESC

int sa_counters_read(int map_fd, __u64 out[SA_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct sa_counters *percpu;
	__u32 zero = 0;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, &zero, percpu) < 0) {
		err = -errno;
		goto cleanup;
	}
	memset(out, 0, sizeof(__u64) * SA_CNT_MAX);
	for (int cpu = 0; cpu < ncpu; cpu++)
		for (int i = 0; i < SA_CNT_MAX; i++)
			out[i] += percpu[cpu].c[i];
cleanup:
	free(percpu);
	return err;
}

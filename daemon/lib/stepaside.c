// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "stepaside.h"

static int by_first(const void *a, const void *b)
{
	const struct sa_stepaside_entry *x = a, *y = b;

	return x->val.first_ns < y->val.first_ns ? -1 : x->val.first_ns > y->val.first_ns;
}

int sa_stepaside_read(int fd, struct sa_stepaside_entry *out, unsigned int max)
{
	/* no entry has cgroup id 0, so the zero key gives the first one (a NULL
	 * key would too, but valgrind takes it for a bad pointer) */
	struct sa_stepaside_key key = {}, next;
	unsigned int n = 0;

	while (n < max && bpf_map_get_next_key(fd, &key, &next) == 0) {
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &out[n].val) < 0)
			continue;	/* evicted meanwhile */
		out[n].key = key;
		n++;
	}
	if (n < max && errno != ENOENT)
		return -errno;
	qsort(out, n, sizeof(*out), by_first);
	return (int)n;
}

const char *sa_syscall_name(__u32 nr, char *buf, size_t len)
{
#if defined(__x86_64__)
	static const struct { __u32 nr; const char *name; } names[] = {
		{ 275, "splice(2)" }, { 40, "sendfile(2)" }, { 55, "getsockopt(2) (zero-copy receive)" },
		{ 426, "io_uring" }, { 276, "tee(2)" },
	};
#elif defined(__aarch64__)
	static const struct { __u32 nr; const char *name; } names[] = {
		{ 76, "splice(2)" }, { 71, "sendfile(2)" }, { 209, "getsockopt(2) (zero-copy receive)" },
		{ 426, "io_uring" }, { 77, "tee(2)" },
	};
#else
	static const struct { __u32 nr; const char *name; } names[] = { { 0xffffffffu, "" } };
#endif
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == nr)
			return names[i].name;
	if (nr == 0xffffffffu)
		snprintf(buf, len, "no system call (a kernel worker)");
	else
		snprintf(buf, len, "system call %u", nr);
	return buf;
}

/* The process's cgroup v2 path, from /proc, when it still runs. */
static void proc_cgroup(__u32 tgid, char *buf, size_t len)
{
	char path[64], line[4096];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/cgroup", tgid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%.*s", (int)len - 1, line + 3);
			break;
		}
	fclose(f);
}

void sa_stepaside_describe(const struct sa_stepaside_entry *e, char *buf, size_t len)
{
	char comm[SA_COMM_LEN + 1], how[64], cg[512], stalled[96] = "";

	memcpy(comm, e->key.comm, SA_COMM_LEN);
	comm[SA_COMM_LEN] = '\0';
	proc_cgroup(e->key.tgid, cg, sizeof(cg));
	if (!cg[0])
		snprintf(cg, sizeof(cg), "id %llu", (unsigned long long)e->key.cgroup_id);
	if (e->val.stranded)
		snprintf(stalled, sizeof(stalled), "; %llu found redirected bytes queued and stall",
			 (unsigned long long)e->val.stranded);
	snprintf(buf, len, "'%s' (pid %u, cgroup %s) read %llu accelerated connection%s with %s%s",
		 comm, e->key.tgid, cg, (unsigned long long)e->val.splices,
		 e->val.splices == 1 ? "" : "s", sa_syscall_name(e->val.syscall, how, sizeof(how)),
		 stalled);
}

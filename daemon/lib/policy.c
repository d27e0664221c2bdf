// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "sockaccel.h"
#include "log.h"
#include "policy.h"

#define NPORTS 65536

struct local_entry {
	struct sa_lpm_key key;
	__u32 sources;		/* enum sa_local_source bits */
};

struct sa_policy {
	struct sa_policy_maps maps;
	struct local_entry *local;
	unsigned int n_local;
};

int sa_policy_new(const struct sa_policy_maps *m, struct sa_policy **out)
{
	struct sa_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->maps = *m;
	p->local = calloc(SA_LOCAL_ADDRS_MAX, sizeof(*p->local));
	if (!p->local) {
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void sa_policy_free(struct sa_policy *p)
{
	if (!p)
		return;
	free(p->local);
	free(p);
}

unsigned int sa_policy_local_count(const struct sa_policy *p)
{
	return p->n_local;
}

static void lpm_key(const struct sa_cidr *c, struct sa_lpm_key *k)
{
	memset(k, 0, sizeof(*k));
	if (c->family == SA_AF_INET) {
		/* IPv4 lives at ::ffff:0:0/96 in the trie, as the programs look it up */
		k->addr[2] = htonl(0xffff);
		k->addr[3] = c->addr[0];
		k->prefixlen = 96 + c->prefixlen;
	} else {
		memcpy(k->addr, c->addr, sizeof(k->addr));
		k->prefixlen = c->prefixlen;
	}
}

static int write_entry(struct sa_policy *p, const struct local_entry *e)
{
	if (e->sources)
		return bpf_map_update_elem(p->maps.local_addrs, &e->key, &e->sources, BPF_ANY) < 0 ?
		       -errno : 0;
	if (bpf_map_delete_elem(p->maps.local_addrs, &e->key) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Set or clear @source on one prefix, in the table and in the map. */
static int local_update(struct sa_policy *p, const struct sa_lpm_key *k, __u32 source, bool add)
{
	struct local_entry *e = NULL;
	int err;

	for (unsigned int i = 0; i < p->n_local && !e; i++)
		if (memcmp(&p->local[i].key, k, sizeof(*k)) == 0)
			e = &p->local[i];
	if (!e) {
		if (!add)
			return 0;
		if (p->n_local >= SA_LOCAL_ADDRS_MAX)
			return -E2BIG;
		e = &p->local[p->n_local++];
		e->key = *k;
		e->sources = 0;
	}
	if (add)
		e->sources |= source;
	else
		e->sources &= ~source;
	err = write_entry(p, e);
	if (!e->sources)
		*e = p->local[--p->n_local];	/* keep the table dense */
	return err;
}

int sa_policy_host_addr(struct sa_policy *p, const struct sa_cidr *a, bool add)
{
	struct sa_lpm_key k;

	lpm_key(a, &k);
	return local_update(p, &k, SA_LOCAL_HOST, add);
}

int sa_policy_sync(struct sa_policy *p)
{
	struct sa_lpm_key key, next, *stale;
	unsigned int n = 0;
	void *prev = NULL;
	int err = 0;

	/* collect the stale keys first: deleting while walking restarts the walk */
	stale = calloc(SA_LOCAL_ADDRS_MAX, sizeof(*stale));
	if (!stale)
		return -ENOMEM;
	while (n < SA_LOCAL_ADDRS_MAX &&
	       bpf_map_get_next_key(p->maps.local_addrs, prev, &next) == 0) {
		bool wanted = false;

		for (unsigned int i = 0; i < p->n_local && !wanted; i++)
			wanted = memcmp(&p->local[i].key, &next, sizeof(next)) == 0;
		if (!wanted)
			stale[n++] = next;
		key = next;
		prev = &key;
	}
	for (unsigned int i = 0; i < n; i++)
		bpf_map_delete_elem(p->maps.local_addrs, &stale[i]);
	for (unsigned int i = 0; i < p->n_local && !err; i++)
		err = write_entry(p, &p->local[i]);
	free(stale);
	return err;
}

__u32 sa_tcp_rmem_max(void)
{
	unsigned int lo, def, max = 6291456;	/* the kernel's default */
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_rmem", "re");

	if (f) {
		if (fscanf(f, "%u %u %u", &lo, &def, &max) != 3)
			max = 6291456;
		fclose(f);
	}
	return max;
}

static int apply_ports(int fd, const struct sa_config *c)
{
	__u32 *keys = calloc(NPORTS, sizeof(*keys));
	__u8 *vals = calloc(NPORTS, sizeof(*vals));
	__u32 n = NPORTS;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (__u32 port = 0; port < NPORTS; port++)
		keys[port] = port;
	for (unsigned int i = 0; i < c->n_ports; i++)
		memset(&vals[c->ports[i].lo], SA_PORT_INCLUDE,
		       (size_t)c->ports[i].hi - c->ports[i].lo + 1);
	for (unsigned int i = 0; i < c->n_exclude; i++)
		memset(&vals[c->exclude[i].lo], SA_PORT_EXCLUDE,
		       (size_t)c->exclude[i].hi - c->exclude[i].lo + 1);
	if (bpf_map_update_batch(fd, keys, vals, &n, NULL) < 0) {
		/* no batch ops on this kernel: one at a time */
		for (__u32 port = 0; port < NPORTS && !err; port++)
			if (bpf_map_update_elem(fd, &keys[port], &vals[port], BPF_ANY) < 0)
				err = -errno;
	}
cleanup:
	free(keys);
	free(vals);
	return err;
}

int sa_policy_apply_config(struct sa_policy *p, const struct sa_config *c)
{
	struct sa_ctl ctl = {};
	__u32 zero = 0;
	int err;

	err = apply_ports(p->maps.ports, c);
	if (err) {
		p_err("can't write the port policy map: %s", strerror(-err));
		return err;
	}
	/* withdraw the previous config's prefixes, then add this one's */
	for (unsigned int i = p->n_local; i-- > 0;)
		if (p->local[i].sources & SA_LOCAL_CONFIG)
			local_update(p, &p->local[i].key, SA_LOCAL_CONFIG, false);
	for (unsigned int i = 0; i < c->n_cidrs; i++) {
		struct sa_lpm_key k;

		lpm_key(&c->cidrs[i], &k);
		err = local_update(p, &k, SA_LOCAL_CONFIG, true);
		if (err) {
			p_err("can't add local_cidrs entry %u to the local_addrs map: %s (at most "
			      "%u prefixes in all)", i + 1, strerror(-err), SA_LOCAL_ADDRS_MAX);
			return err;
		}
	}
	/* the flags last: the port rules they refer to are in place */
	if (bpf_map_lookup_elem(p->maps.ctl, &zero, &ctl) < 0)
		return -errno;
	ctl.policy = (c->n_ports ? SA_POLICY_PORTS_LISTED : 0) | (c->ipv6 ? 0 : SA_POLICY_NO_IPV6);
	ctl.queue_limit = c->queue_limit ? c->queue_limit : sa_tcp_rmem_max();
	/* auto: near TCP's own point, so that a sender blocks or times out
	 * about where it would on TCP (docs/design.md, "Flow control") */
	ctl.flow_limit = c->flow_limit ? c->flow_limit : SA_FLOW_LIMIT_DEFAULT;
	if (bpf_map_update_elem(p->maps.ctl, &zero, &ctl, BPF_ANY) < 0) {
		err = -errno;
		p_err("can't write the policy flags: %s", strerror(-err));
		return err;
	}
	return 0;
}

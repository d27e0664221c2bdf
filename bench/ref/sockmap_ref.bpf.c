// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The benchmark's "ref" variant: the smallest sockmap fast path, as a
 * bpftool one-liner setup would load it. It is what issue 6's targets were
 * measured against, run here in the same rounds so sockaccel's extra work
 * per message (netns-safe keys, counters, policy, the memory bound) shows
 * up as a ratio. Not part of the product: IPv4 only, no netns cookie (so not
 * namespace-safe), no counters, no bound, no TFO check.
 *
 * Loaded by bench/run.sh with bpftool (prog loadall, cgroup attach,
 * prog attach msg_verdict); see bench/README.md.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct ref_key {
	__u32 sip;
	__u32 dip;
	__u32 sport;	/* host order */
	__u32 dport;	/* host order */
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct ref_key);
	__type(value, __u64);
} ref_hash SEC(".maps");

SEC("sockops")
int ref_sockops(struct bpf_sock_ops *ops)
{
	struct ref_key k = {};

	if (ops->family != 2 /* AF_INET */)
		return 1;
	if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    ops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	k.sip = ops->local_ip4;
	k.dip = ops->remote_ip4;
	k.sport = ops->local_port;
	k.dport = bpf_ntohl(ops->remote_port);
	bpf_sock_hash_update(ops, &ref_hash, &k, BPF_NOEXIST);
	return 1;
}

SEC("sk_msg")
int ref_msg(struct sk_msg_md *msg)
{
	struct ref_key k = {};

	if (msg->family != 2)
		return SK_PASS;
	k.sip = msg->remote_ip4;
	k.dip = msg->local_ip4;
	k.sport = bpf_ntohl(msg->remote_port);
	k.dport = msg->local_port;
	bpf_msg_redirect_hash(msg, &ref_hash, &k, BPF_F_INGRESS);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

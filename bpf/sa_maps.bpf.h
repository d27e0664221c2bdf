/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The feature switch, every map of sockaccel.bpf.c and the small accessors
 * of the counters and generation maps. The layouts are sockaccel.h's.
 * It defines them, so only sockaccel.bpf.c includes it (directly or
 * through the other sa_*.bpf.h).
 */
#ifndef __SA_MAPS_BPF_H
#define __SA_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "sockaccel.h"

/* The features the loader switched on (enum sa_feature). Set before load
 * and frozen, so the verifier prunes the code of every feature that is off:
 * a feature this kernel refuses costs only that feature. The only variable
 * in .rodata: the loader sets it by size. */
const volatile __u32 sa_features = 0;
#define HAS(f)	(sa_features & SA_FEAT_##f)

/* Demotion runs with either way of reading a psock (psock_read): plain
 * loads (DEMOTE) or bpf_probe_read_kernel (DEMOTE_READ). */
#define HAS_DEMOTION()	(HAS(DEMOTE) || HAS(DEMOTE_READ))

/* Every map is pinned by name under the pin dir and reused by later loads:
 * sockets keep the program they were inserted with, and that program must
 * keep seeing the same switch and counters as the newest one. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sa_layout);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} layout SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SA_MAX_CONNS_DEFAULT);	/* set by the loader */
	__type(key, struct sa_sock_key);
	__type(value, __u64);	/* 8: a syscall lookup returns the socket cookie */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sa_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sa_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctl SEC(".maps");

/* Per socket: has it fallen back to TCP, what has it redirected? Only ever
 * reached through the program's own socket (see "marks"). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sa_sk_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sk_state SEC(".maps");

/* Marks put on the other end of a connection (sockaccel.h, sa_sk_state). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SA_MAX_CONNS_DEFAULT);	/* set by the loader */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sa_sock_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} marks SEC(".maps");

/* Generation counters (enum sa_gen): each rises after a change to the hash
 * it names, so a socket looks that hash up only after a change. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SA_GENS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gens SEC(".maps");

/* Flow control: receivers' copied_seq as published after each recvmsg,
 * under the receiver's key; an entry exists while its sender waits on TCP. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SA_MAX_CONNS_DEFAULT);	/* set by the loader */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sa_sock_key);
	__type(value, struct sa_rx_seq);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rx_seq SEC(".maps");

/* Processes that read accelerated sockets other than by recvmsg
 * (sockaccel.h, sa_stepaside). LRU: a host with more such programs than
 * entries forgets the oldest, which then step aside again on first use. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SA_STEPASIDE_MAX);
	__type(key, struct sa_stepaside_key);
	__type(value, struct sa_stepaside);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stepaside SEC(".maps");

/* What the loaded programs run with; written by the loader only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sa_features);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} features SEC(".maps");

/* Non-loopback addresses that count as "on this host"; filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SA_LOCAL_ADDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sa_lpm_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} local_addrs SEC(".maps");

/* Port policy, one byte per port (enum sa_port_rule); filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

static __always_inline struct sa_counters *counters_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

/* Atomic although per-CPU: a softirq-side sockops run can interrupt a
 * process-context sk_msg run on the same CPU. */
static __always_inline void count(struct sa_counters *c, enum sa_counter i, __u64 n)
{
	if (c)
		__sync_fetch_and_add(&c->c[i], n);
}

/*
 * For the per-message counters, which sa_msg alone writes: sk_msg runs in
 * process context with migration disabled, so a softirq-side program never
 * writes these slots meanwhile, and a plain add spares two locked
 * instructions per message (two dependent locked adds: 11.5 ns on the
 * host measured, docs/performance.md; sa_msg's budget over the minimal
 * reference is 30 ns). On a fully preemptible kernel another
 * task's sa_msg may run between the load and the store on the same CPU and
 * one count is lost; the cost of a lock on every message is not worth that.
 */
static __always_inline void count_msg(struct sa_counters *c, enum sa_counter i, __u64 n)
{
	if (c)
		c->c[i] += n;
}

/* bpf_ktime_get_ns: tracing programs may not call the coarse clock */
static __always_inline __u32 now_units(void)
{
	return (__u32)(bpf_ktime_get_ns() >> 20);
}

static __always_inline __u32 gen_now(__u32 which)
{
	__u32 *g = bpf_map_lookup_elem(&gens, &which);

	return g ? *g : 0;
}

/* after the change it announces, so whoever sees the new value finds it */
static __always_inline void gen_bump(__u32 which)
{
	__u32 *g = bpf_map_lookup_elem(&gens, &which);

	if (g)
		__sync_fetch_and_add(g, 1);
}

#endif /* __SA_MAPS_BPF_H */

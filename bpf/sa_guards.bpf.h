/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The half-close guard, and the splice guard's helpers: who is reading
 * (the task's system call and its stepaside key) and the record of
 * processes that read accelerated sockets other than by recvmsg. The splice
 * guard's programs are sa_rx and sa_splice in sockaccel.bpf.c.
 */
#ifndef __SA_GUARDS_BPF_H
#define __SA_GUARDS_BPF_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sa_kernel.bpf.h"
#include "sa_maps.bpf.h"
#include "sa_key.bpf.h"
#include "sa_fallback.bpf.h"

/*
 * Half-close (HALFCLOSE), at the state callback into FIN_WAIT1: the
 * application shut down its write side, inside its own shutdown() or
 * close(), so before it can block in recv(). A blocking recv() in the map
 * returns EAGAIN on a wakeup without data (tcp_bpf_recvmsg waits once), and
 * the ACK of our FIN is such a wakeup (FIN_WAIT1 -> FIN_WAIT2). So the
 * connection moves to TCP (the peer stops redirecting into us) and this
 * socket leaves the map at once, which gives it tcp_recvmsg back, if that
 * loses nothing: its redirected queue is empty and nobody else holds its
 * psock (a peer redirect past its sk_psock_get, a send or read of another
 * thread). Otherwise it stays, marked, and demotion takes it out later.
 * Called after the mark, the reads see every redirect that was not stopped.
 */
static __always_inline void halfclose(struct bpf_sock_ops *ops)
{
	struct sa_sock_key key = {}, peer = {};
	struct sa_counters *c = counters_get();
	struct bpf_sock *sk = ops->sk;
	struct psock_view v;

	if (!sk || !own_psock(ops) || !SA_KEY_FILL(&key, ops, local, remote))
		return;
	key_mirror(&peer, &key);
	mark_connection(bpf_sk_storage_get(&sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE),
			&peer, c);
	if (!psock_read(own_psock(ops), &v) || !v.empty || v.refs != 1) {
		count(c, SA_CNT_HALFCLOSE_BUSY, 1);
		return;
	}
	/* our own key: a live socket owns its 4-tuple in its netns */
	if (bpf_map_delete_elem(&sock_hash, &key) == 0)
		count(c, SA_CNT_HALFCLOSE_DEMOTED, 1);
}

/* The reading task, as the stepaside hash names it. */
static __always_inline void reader_key(struct sa_stepaside_key *k)
{
	k->cgroup_id = bpf_get_current_cgroup_id();
	k->tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	bpf_get_current_comm(k->comm, sizeof(k->comm));
}

/* Has the reading process spliced from an accelerated socket before?
 * Asked once per watch of a receiver (SA_WATCH_ASKED). */
static __always_inline bool known_splicer(void)
{
	struct sa_stepaside_key k = {};

	reader_key(&k);
	return bpf_map_lookup_elem(&stepaside, &k) != NULL;
}

/* The reading task's system call number, or -1. */
static __always_inline long current_syscall(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	void *regs = (void *)bpf_task_pt_regs(t);

	if (!regs)
		return -1;
#if defined(__TARGET_ARCH_x86)
	return (long)((struct pt_regs___x86 *)regs)->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return ((struct pt_regs___arm64 *)regs)->syscallno;
#else
#error "the splice guard knows the system call numbers of x86_64 and arm64 only"
#endif
}

static __always_inline bool is_recvmsg_syscall(long nr)
{
#if defined(__TARGET_ARCH_x86)
	/* read, readv, recvfrom, recvmsg, recvmmsg */
	return nr == 0 || nr == 19 || nr == 45 || nr == 47 || nr == 299;
#else
	return nr == 63 || nr == 65 || nr == 207 || nr == 212 || nr == 243;
#endif
}

static __always_inline void record_stepaside(long nr, bool stranded)
{
	struct sa_stepaside_key k = {};
	struct sa_stepaside *v, first = {};

	reader_key(&k);
	v = bpf_map_lookup_elem(&stepaside, &k);
	if (!v) {
		first.first_ns = bpf_ktime_get_boot_ns();
		first.syscall = (__u32)nr;
		bpf_map_update_elem(&stepaside, &k, &first, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&stepaside, &k);
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->splices, 1);
	if (stranded)
		__sync_fetch_and_add(&v->stranded, 1);
}

#endif /* __SA_GUARDS_BPF_H */

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Falling back to TCP for good: the marks on both ends of a connection,
 * what a socket's psock holds, and demotion out of the map once that is
 * safe.
 */
#ifndef __SA_FALLBACK_BPF_H
#define __SA_FALLBACK_BPF_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sa_kernel.bpf.h"
#include "sa_maps.bpf.h"
#include "sa_key.bpf.h"

/* The "marks" hash part of fell_back(), for generation @gen. */
static __always_inline bool fell_back_asked(struct sa_sk_state *st, const struct sa_sock_key *k,
					    bool k_is_peer, __u32 gen)
{
	struct sa_sock_key mirror = {};
	const struct sa_sock_key *own = k;
	__u32 *m;

	if (k_is_peer) {
		key_mirror(&mirror, k);
		own = &mirror;
	}
	m = bpf_map_lookup_elem(&marks, own);
	if (m) {
		if (st) {
			st->fallback = *m;
			bpf_map_delete_elem(&marks, own);
		}
		return true;
	}
	if (st)
		st->marks_seen = gen;
	return false;
}

/* Known unmarked from its own storage alone: no key needed to say so. */
static __always_inline bool known_unmarked(const struct sa_sk_state *st)
{
	return st && !st->fallback && st->marks_seen == gen_now(SA_GEN_MARKS);
}

/*
 * Has this socket fallen back, by its own mark or one its peer put in
 * "marks"? @k is the socket's own key, or its peer's when @k_is_peer (what
 * sk_msg has at hand; the mirror is built only when the hash must be asked).
 * A peer's mark moves into the socket's own storage (and out of the hash)
 * the first time it is seen. Without storage the hash is asked every time,
 * so a mark is never missed.
 */
static __always_inline bool fell_back(struct sa_sk_state *st, const struct sa_sock_key *k,
				      bool k_is_peer)
{
	if (st && st->fallback)
		return true;
	if (known_unmarked(st))
		return false;
	return fell_back_asked(st, k, k_is_peer, gen_now(SA_GEN_MARKS));
}

/*
 * Move a connection to TCP for good, both directions, from the sender's
 * side: @st is the sender's storage, @peer the receiver's key. Each end
 * must stop redirecting into the other before either may leave the map
 * (demote_if_drained), so both get the same time; if the receiver's mark
 * cannot be stored (hash full), the sender's is untimed and never demotes.
 * The counter rises once per end newly marked.
 */
static __always_inline void mark_connection(struct sa_sk_state *st, const struct sa_sock_key *peer,
					    struct sa_counters *c)
{
	__u32 at = SA_FALLBACK_AT(now_units());
	struct sa_sock_key own = {};
	__u32 self_at = 1;
	long err;

	err = bpf_map_update_elem(&marks, peer, &at, BPF_NOEXIST);
	if (err == 0 || err == -17 /* EEXIST: marked already */) {
		if (err == 0)
			count(c, SA_CNT_FALLBACKS, 1);
		gen_bump(SA_GEN_MARKS);
		self_at = at;
	}
	if (st) {
		if (!st->fallback) {
			st->fallback = self_at;
			count(c, SA_CNT_FALLBACKS, 1);
		}
		return;
	}
	key_mirror(&own, peer);
	if (bpf_map_update_elem(&marks, &own, &self_at, BPF_NOEXIST) == 0)
		count(c, SA_CNT_FALLBACKS, 1);
}

/* The socket's own psock, from sk_user_data, or 0. */
static __always_inline unsigned long own_psock(struct bpf_sock_ops *ops)
{
	struct tcp_sock *tp = ops->sk ? bpf_skc_to_tcp_sock(ops->sk) : NULL;
	unsigned long ud;

	if (!tp)
		return 0;
	/* a tcp_sock starts with its struct sock */
	ud = (unsigned long)((struct sock *)tp)->sk_user_data;
	if (!(ud & SA_SK_USER_DATA_PSOCK))
		return 0;
	return ud & SA_SK_USER_DATA_PTRMASK;
}

/*
 * What a socket's psock holds: is its redirected queue empty (then leaving
 * the map purges nothing: sk_psock_drop zaps ingress_msg; a message is
 * unlinked only once fully read, so an empty list means all of it was), and
 * how many references it has (the map's own is one; every redirect into
 * the socket, and every send or read on it, holds another while it runs).
 * Plain loads (DEMOTE) or bpf_probe_read_kernel: no helper gets a pointer
 * walked out of a kernel struct.
 */
struct psock_view {
	bool empty;
	int refs;
};

static __always_inline bool psock_read(unsigned long psock, struct psock_view *v)
{
	unsigned long head, next = 0;
	int refs = 0;

	if (!psock)
		return false;
	head = psock + bpf_core_field_offset(struct sk_psock, ingress_msg);
#if SA_KFUNCS
	if (HAS(DEMOTE)) {
		struct sk_psock *p = bpf_rdonly_cast((void *)psock,
						     bpf_core_type_id_kernel(struct sk_psock));

		v->empty = (unsigned long)p->ingress_msg.next == head;
		v->refs = p->refcnt.refs.counter;
		return true;
	}
#endif
	if (bpf_probe_read_kernel(&next, sizeof(next), (void *)head) ||
	    bpf_probe_read_kernel(&refs, sizeof(refs),
				  (void *)(psock + bpf_core_field_offset(struct sk_psock,
									 refcnt.refs.counter))))
		return false;
	v->empty = next == head;
	v->refs = refs;
	return true;
}

static __always_inline bool own_redirected_queue_empty(struct bpf_sock_ops *ops)
{
	struct psock_view v;

	return psock_read(own_psock(ops), &v) && v.empty;
}

/*
 * Demotion, on every ACK of a socket inserted by us (BPF_SOCK_OPS_RTT_CB):
 * a socket whose connection fell back keeps paying the sockmap send and
 * receive paths while it stays in the map, which made bulk streams slower
 * than plain TCP. It leaves once (1) it is marked, so it redirects nothing
 * more; (2) the grace has passed, so a redirect from its peer (marked at the
 * same instant) that was past its verdict has landed; (3) its own redirected
 * queue is empty, so leaving loses nothing. Later peer messages miss the
 * lookup and go over TCP, after everything queued here was read: in order.
 */
static __always_inline void demote_if_drained(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct sa_sock_key key = {};
	struct sa_sk_state *st;
	__u32 age;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	/* the common case, every ACK of a connection still redirecting or
	 * started on TCP: leave before building the key */
	if (!st || known_unmarked(st) || !SA_KEY_FILL(&key, ops, local, remote) ||
	    !fell_back(st, &key, false) || !(st->fallback & SA_FALLBACK_TIMED))
		return;
	age = (now_units() - SA_FALLBACK_UNITS(st->fallback)) & SA_FALLBACK_UNIT_MASK;
	if (age < SA_DEMOTE_GRACE_UNITS || !own_redirected_queue_empty(ops))
		return;
	/* our own key: a live socket owns its 4-tuple in its netns */
	if (bpf_map_delete_elem(&sock_hash, &key) == 0)
		count(counters_get(), SA_CNT_DEMOTED, 1);
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_RTT_CB_FLAG);
}

#endif /* __SA_FALLBACK_BPF_H */

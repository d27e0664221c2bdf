/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Bounding what a receiver holds: the sticky bound (the peer's receive
 * memory or the sender's budget) and flow control, both sides of the
 * sender's switch between redirecting and TCP. The receiver's side is
 * sa_rx in sockaccel.bpf.c.
 */
#ifndef __SA_FLOW_BPF_H
#define __SA_FLOW_BPF_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sa_kernel.bpf.h"
#include "sa_maps.bpf.h"
#include "sa_key.bpf.h"
#include "sa_fallback.bpf.h"

/* A closing sender that waits on TCP takes its rx_seq entry with it. The
 * key is read first: read after the helper call, clang addressed the
 * context through a moved pointer, which the verifier refuses. */
static __always_inline void flow_forget(struct bpf_sock_ops *ops)
{
	struct sa_sock_key key = {}, peer = {};
	struct bpf_sock *sk = ops->sk;
	struct sa_sk_state *st;

	if (!sk || !SA_KEY_FILL(&key, ops, local, remote))
		return;
	st = bpf_sk_storage_get(&sk_state, sk, 0, 0);
	if (!st || !(st->flow & SA_FLOW_TCP))
		return;
	key_mirror(&peer, &key);
	bpf_map_delete_elem(&rx_seq, &peer);
	st->flow &= ~SA_FLOW_TCP;
}

/*
 * The splice guard's first half (SPLICE with FLOW): a new socket sends over
 * TCP until its receiver has read everything with recvmsg, exactly as flow
 * control comes back from TCP. A receiver that splices from the start (Go's
 * io.Copy between two connections, splicing proxies) thus never has
 * redirected bytes queued where splice cannot see them; sa_splice then
 * keeps its connection on TCP. On an insertion only, in softirq or the
 * connecting task, under the socket's lock.
 *
 * The peer does the same towards this socket, before or after, so the
 * socket watches itself as a receiver from the start (SA_WATCH_EXPECT).
 * Nothing global changes: a gens[SA_GEN_WATCH] bump here made every
 * accelerated socket of the host look rx_seq up once more on its next
 * recvmsg, for every new connection.
 */
static __always_inline void start_on_tcp(struct bpf_sock_ops *ops, const struct sa_sock_key *key,
					 struct sa_counters *c)
{
	struct sa_rx_seq unpublished = {};
	struct bpf_sock *sk = ops->sk;
	struct sa_sock_key peer = {};
	struct sa_sk_state *st;
	struct tcp_sock *tp;

	if (!sk)
		return;
	tp = bpf_skc_to_tcp_sock(sk);
	st = bpf_sk_storage_get(&sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!tp || !st)
		return;
	st->watched = SA_WATCH_ON | SA_WATCH_EXPECT;
	st->watch_seen = gen_now(SA_GEN_WATCH);
	key_mirror(&peer, key);
	if (bpf_map_update_elem(&rx_seq, &peer, &unpublished, BPF_ANY))
		return;	/* full: this direction redirects from the start */
	st->flow_seq = tp->write_seq;
	st->flow |= SA_FLOW_TCP;
	count(c, SA_CNT_STARTS_ON_TCP, 1);
}

/*
 * The peer's receive memory and buffer, after a redirect, by plain loads
 * through bpf_cast_to_kern_ctx (PEER_BOUND) or bpf_probe_read_kernel, the
 * context of an sk_msg program being the kernel's struct sk_msg
 * (PEER_READ). The peer is never handed to a helper: some kernels type it
 * untrusted. False when neither is loaded or there is no peer.
 */
static __always_inline bool peer_mem(struct sk_msg_md *msg, int *rmem, int *rcvbuf,
				     __u8 *locks)
{
	struct sock *peer = NULL;

#if SA_KFUNCS
	if (HAS(PEER_BOUND)) {
		struct sk_msg *kmsg = bpf_cast_to_kern_ctx(msg);

		peer = kmsg->sk_redir;
		if (!peer)
			return false;
		*rcvbuf = peer->sk_rcvbuf;
		*rmem = peer->sk_backlog.rmem_alloc.counter;
		*locks = peer->sk_userlocks;
		return true;
	}
#endif
	if (!HAS(PEER_READ) ||
	    bpf_probe_read_kernel(&peer, sizeof(peer),
				  (char *)msg + bpf_core_field_offset(struct sk_msg, sk_redir)) ||
	    !peer)
		return false;
	*rcvbuf = BPF_CORE_READ(peer, sk_rcvbuf);
	*rmem = BPF_CORE_READ(peer, sk_backlog.rmem_alloc.counter);
	*locks = BPF_CORE_READ(peer, sk_userlocks);
	return true;
}

/*
 * The sticky bound, after a redirect: if the peer now holds more than this,
 * the connection falls back to TCP for good, both directions. TCP's flow
 * control then blocks the sender, which redirection never does (the kernel
 * charges ingress redirects only against the global tcp_mem). It must be
 * sticky without flow control: the receiver reads its redirected queue
 * before anything TCP delivers, so switching back blindly would reorder the
 * stream. The bound is soft by the one message that crossed it, which is
 * already queued.
 */
static __always_inline int queue_limit(const struct sa_ctl *sw, int rcvbuf)
{
	/* sk_rcvbuf of a redirect-only receiver never grows (TCP autotuning
	 * sees no traffic), so the limit is at least what user space set:
	 * by default tcp_rmem's maximum, what TCP would let the socket hold */
	if (sw && (int)sw->queue_limit > rcvbuf)
		return (int)sw->queue_limit;
	return rcvbuf;
}

/*
 * Flow control, the sender's side (sockaccel.h, sa_flow_state). Going to
 * TCP: the receiver holds more than flow_limit. Coming back: some of our
 * bytes went over TCP since (write_seq moved; without it the receiver's
 * unchanged copied_seq would match at once and nothing would ever block),
 * and the receiver's copied_seq, as it stood when its last recvmsg returned,
 * equals our write_seq: it has read every TCP byte, which it could do only
 * after its redirected queue was empty, so the next redirect cannot overtake
 * anything. A value read inside a recvmsg would not do: a MSG_WAITALL read
 * still blocked in tcp_recvmsg would get later TCP bytes after the redirect.
 * Runs under the sender's socket lock, so write_seq stands still.
 */
static __always_inline __u32 flow_limit(const struct sa_ctl *sw)
{
	return sw && sw->flow_limit ? sw->flow_limit : SA_FLOW_LIMIT_DEFAULT;
}

static __always_inline __u32 own_write_seq(struct sk_msg_md *msg, bool *ok)
{
	struct bpf_sock *sk = msg->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;

	*ok = tp != NULL;
	return tp ? tp->write_seq : 0;
}

static __always_inline bool receiver_caught_up(__u32 wseq, struct sa_sk_state *st,
					       const struct sa_sock_key *peer)
{
	struct sa_rx_seq *e;
	__u64 v;

	if (wseq == st->flow_seq)
		return false;
	e = bpf_map_lookup_elem(&rx_seq, peer);
	if (!e)
		return false;
	v = *(volatile __u64 *)e;
	return (v >> 32) && (__u32)v == wseq;
}

/* Go over TCP until the receiver catches up; false if that cannot be
 * arranged (no room in rx_seq, no sequence number), the caller then falls
 * back for good. */
static __always_inline bool flow_to_tcp(struct sk_msg_md *msg, struct sa_sk_state *st,
					const struct sa_sock_key *peer)
{
	struct sa_rx_seq unpublished = {};
	__u32 wseq;
	bool ok;

	wseq = own_write_seq(msg, &ok);
	if (!ok || bpf_map_update_elem(&rx_seq, peer, &unpublished, BPF_ANY))
		return false;
	st->flow_seq = wseq;
	st->flow = SA_FLOW_TCP;
	gen_bump(SA_GEN_WATCH);
	return true;
}

/* The receiver, still watched, misses the entry at its next recvmsg and
 * stops publishing; a bump would make every other socket look too. */
static __always_inline void flow_to_redirect(struct sa_sk_state *st, const struct sa_sock_key *peer)
{
	st->flow = 0;
	bpf_map_delete_elem(&rx_seq, peer);
}

/* After a redirect: over flow_limit (or the SO_RCVBUF an application set:
 * its TCP window never grows past that either), go over TCP; if that
 * cannot be arranged, fall back for good. */
static __always_inline void flow_check(struct sk_msg_md *msg, struct sa_sk_state *st,
				       const struct sa_sock_key *peer, const struct sa_ctl *sw,
				       int rmem, int rcvbuf, __u8 locks, struct sa_counters *c)
{
	int limit = (int)flow_limit(sw);

	if ((locks & SA_SOCK_RCVBUF_LOCK) && rcvbuf < limit)
		limit = rcvbuf;
	if (rmem <= limit)
		return;
	if (flow_to_tcp(msg, st, peer))
		count(c, SA_CNT_FLOW_TO_TCP, 1);
	else
		mark_connection(st, peer, c);
}

/*
 * The path choice (SA_SMALL_STREAK), after a redirect whose receiver's
 * memory was read: true once this socket has sent SA_SMALL_STREAK small
 * messages in a row into a receiver that had others queued. Any other
 * message restarts the count; the store is skipped when it is already 0, so
 * large writes and ping-pong pay a compare.
 */
static __always_inline bool small_stream(struct sa_sk_state *st, __u32 size, int rmem)
{
	__u32 n;

	if (size > SA_SMALL_MSG || rmem < (int)SA_SMALL_QUEUED) {
		if (st->flow & SA_FLOW_SMALL_MASK)
			st->flow &= ~SA_FLOW_SMALL_MASK;
		return false;
	}
	n = (st->flow & SA_FLOW_SMALL_MASK) + SA_FLOW_SMALL_ONE;
	if (n >= SA_SMALL_STREAK * SA_FLOW_SMALL_ONE)
		return true;
	st->flow = (st->flow & ~SA_FLOW_SMALL_MASK) | n;
	return false;
}

/*
 * Where the peer cannot be read: the receiver holds at most what this
 * socket redirected, so a connection whose sender has redirected
 * queue_limit bytes falls back. A bound, at the price of long-lived
 * connections moving to TCP after that many bytes.
 */
static __always_inline bool budget_spent(struct sa_sk_state *st, struct sk_msg_md *msg,
					 const struct sa_ctl *sw)
{
	if (!st)
		return true;	/* nothing to count in: stay on the safe side */
	st->redirected += msg->size;	/* sk_msg runs under the socket lock */
	return sw && st->redirected > sw->queue_limit;
}

#endif /* __SA_FLOW_BPF_H */

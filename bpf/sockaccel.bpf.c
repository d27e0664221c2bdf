// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: put every newly established TCP socket whose peer is on this host
 * into sock_hash. sk_msg: hand each message straight to the peer socket's
 * ingress queue. See docs/design.md for the kernel facts behind each rule.
 * The programs are here; what they build on is in the sa_*.bpf.h headers
 * (BPF side only), and sockaccel.h is all that user space shares.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "sockaccel.h"
#include "sa_kernel.bpf.h"
#include "sa_maps.bpf.h"
#include "sa_key.bpf.h"
#include "sa_fallback.bpf.h"
#include "sa_flow.bpf.h"
#include "sa_guards.bpf.h"

/*
 * A TCP Fast Open child already holds the SYN's data in its normal receive
 * queue; once in the map, later redirected data would be read before it.
 * Every accepted socket is still SYN_RECV at this callback and
 * bytes_received is 0 for both kinds, so fastopen_rsk is the only tell.
 */
static __always_inline bool is_tfo_child(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct tcp_sock *tp;

	if (!sk)
		return false;
	tp = bpf_skc_to_tcp_sock(sk);
	return tp && tp->fastopen_rsk;
}

static __always_inline bool is_probe(struct bpf_sock *sk)
{
	return HAS(PROBE_MARK) && sk && sk->mark == SA_PROBE_MARK;
}

static __always_inline __u8 port_rule(__u32 port)
{
	__u8 *r = bpf_map_lookup_elem(&ports, &port);

	return r ? *r : SA_PORT_DEFAULT;
}

/*
 * Both ends of a connection see the same two ports, so they reach the same
 * answer: either port excluded means no; with a port list, either port
 * listed means yes.
 */
static __always_inline bool policy_allows(const struct sa_sock_key *k)
{
	struct sa_ctl *sw;
	__u32 zero = 0;
	__u8 a, b;

	sw = bpf_map_lookup_elem(&ctl, &zero);
	if (!sw)
		return true;
	if ((sw->policy & SA_POLICY_NO_IPV6) && k->family == SA_AF_INET6)
		return false;
	a = port_rule(k->sport);
	b = port_rule(k->dport);
	if (a == SA_PORT_EXCLUDE || b == SA_PORT_EXCLUDE)
		return false;
	if (sw->policy & SA_POLICY_PORTS_LISTED)
		return a == SA_PORT_INCLUDE || b == SA_PORT_INCLUDE;
	return true;
}

SEC("sockops")
int sa_sockops(struct bpf_sock_ops *ops)
{
	struct sa_sock_key key = {};
	struct sa_counters *c;
	__u32 op = ops->op, cb;
	long err;

	if (op == BPF_SOCK_OPS_STATE_CB) {
		if (HAS(HALFCLOSE) && ops->args[1] == BPF_TCP_FIN_WAIT1)
			halfclose(ops);
		if (HAS(FLOW) && ops->args[1] == BPF_TCP_CLOSE)
			flow_forget(ops);
		return 1;
	}
	if (op == BPF_SOCK_OPS_RTT_CB) {
		if (HAS_DEMOTION()) {
#ifdef SA_TEST_VERIFIER_REFUSES_DEMOTE
			/* the test build's real verifier refusal: out of the context */
			if (*(volatile __u32 *)((char *)ops + 4096) == 1)
				return 1;
#endif
			demote_if_drained(ops);
		}
		return 1;
	}
	if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (!SA_KEY_FILL(&key, ops, local, remote))
		return 1;

	c = counters_get();
	if (!peer_is_local(&key)) {
		count(c, SA_CNT_SKIP_REMOTE, 1);
		return 1;
	}
	if (!policy_allows(&key)) {
		count(c, SA_CNT_SKIP_POLICY, 1);
		return 1;
	}
	if (HAS(TFO) && op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && is_tfo_child(ops)) {
		count(c, SA_CNT_SKIP_TFO, 1);
		return 1;
	}

#ifdef SA_TEST_VARIANT
	count(c, SA_CNT_TEST_VARIANT, 1);
#endif
	err = bpf_sock_hash_update(ops, &sock_hash, &key, BPF_NOEXIST);
	switch (err) {
	case 0:
		count(c, is_probe(ops->sk) ? SA_CNT_PROBE_INSERTED : SA_CNT_INSERTED, 1);
		/* A mark can only be put on a socket in the map, so one under
		 * our key now is stale: left by a closed socket of the same
		 * 4-tuple. Only looked for once anything was ever marked. */
		if (gen_now(SA_GEN_MARKS))
			bpf_map_delete_elem(&marks, &key);
		/* An rx_seq entry under our key is not stale: the peer, inserted
		 * first, may have just made it (start_on_tcp). Closing senders
		 * remove theirs (flow_forget), and a sender overwrites one. */
		cb = ops->bpf_sock_ops_cb_flags;
		/* ACK callbacks come only while data goes over TCP, so while
		 * redirecting this costs nothing; demotion needs them */
		if (HAS_DEMOTION())
			cb |= BPF_SOCK_OPS_RTT_CB_FLAG;
		/* a few per connection: half-close and the end of flow control */
		if (HAS(HALFCLOSE) || HAS(FLOW))
			cb |= BPF_SOCK_OPS_STATE_CB_FLAG;
		if (cb != ops->bpf_sock_ops_cb_flags)
			bpf_sock_ops_cb_flags_set(ops, cb);
		if (HAS(SPLICE) && HAS(FLOW))
			start_on_tcp(ops, &key, c);
		else if (HAS(SPLICE) && ops->sk)
			/* what tells sa_splice the socket is ours */
			bpf_sk_storage_get(&sk_state, ops->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		break;
	case -7:	/* E2BIG: map full */
		count(c, SA_CNT_INSERT_FULL, 1);
		break;
	case -16:	/* EBUSY: the socket already has a psock with a program */
		count(c, SA_CNT_INSERT_BUSY, 1);
		break;
	case -17:	/* EEXIST */
		count(c, SA_CNT_INSERT_EXIST, 1);
		break;
	default:
		count(c, SA_CNT_INSERT_OTHER, 1);
		break;
	}
	return 1;
}

SEC("sk_msg")
int sa_msg(struct sk_msg_md *msg)
{
	struct sa_sock_key peer = {};
	struct sa_counters *c = counters_get();
	struct sa_sk_state *st = NULL;
	struct sa_ctl *sw;
	__u32 zero = 0;

	sw = bpf_map_lookup_elem(&ctl, &zero);
	if (sw && sw->draining) {
		count_msg(c, SA_CNT_MSG_DRAINING, 1);
		return SK_PASS;
	}
	if (!SA_KEY_FILL(&peer, msg, remote, local))
		return SK_PASS;
	if (msg->sk)
		st = bpf_sk_storage_get(&sk_state, msg->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (fell_back(st, &peer, true)) {
		count_msg(c, SA_CNT_MSG_FALLBACK, 1);
		return SK_PASS;
	}
	if (HAS(FLOW) && st && (st->flow & SA_FLOW_TCP)) {
		bool ok;
		__u32 wseq = own_write_seq(msg, &ok);

		if (!ok || !receiver_caught_up(wseq, st, &peer)) {
			count_msg(c, SA_CNT_MSG_FLOW_TCP, 1);
			count_msg(c, SA_CNT_BYTES_FLOW_TCP, msg->size);
			if (ok && wseq - st->flow_seq > SA_FLOW_GIVE_UP_BYTES) {
				/* in order: from now on everything goes over TCP */
				flow_to_redirect(st, &peer);
				mark_connection(st, &peer, c);
			}
			return SK_PASS;
		}
		flow_to_redirect(st, &peer);
		count(c, SA_CNT_FLOW_TO_REDIRECT, 1);
	}

	/* On a miss the helper returns SK_DROP; returning that would drop the
	 * data and fail the sender with EACCES. Always pass. */
#ifdef SA_TEST_VARIANT
	count(c, SA_CNT_TEST_VARIANT, 1);
#endif
	if (bpf_msg_redirect_hash(msg, &sock_hash, &peer, BPF_F_INGRESS) != SK_PASS) {
		count_msg(c, SA_CNT_MSG_PASSED, 1);
		return SK_PASS;
	}
	if (is_probe(msg->sk)) {
		count_msg(c, SA_CNT_PROBE_MSGS, 1);
	} else {
		count_msg(c, SA_CNT_MSG_REDIRECTED, 1);
		count_msg(c, SA_CNT_BYTES_REDIRECTED, msg->size);
	}
	if (HAS(PEER_BOUND) || HAS(PEER_READ)) {
		int rmem = 0, rcvbuf = 0;
		__u8 locks = 0;

		if (!peer_mem(msg, &rmem, &rcvbuf, &locks))
			return SK_PASS;
		/* the path choice only with flow control (>= 6.3): before 6.5
		 * sendfile and splice into a socket ran the program once per
		 * page (tcp_bpf_sendpage), so a message's size said nothing of
		 * the application's writes there */
		if (HAS(FLOW) && st && small_stream(st, msg->size, rmem)) {
			mark_connection(st, &peer, c);
			count(c, SA_CNT_SMALL_STREAMS, 1);
		} else if (HAS(FLOW) && st) {
			flow_check(msg, st, &peer, sw, rmem, rcvbuf, locks, c);
		} else if (rmem > queue_limit(sw, rcvbuf)) {
			mark_connection(st, &peer, c);
		}
		return SK_PASS;
	}
	if (HAS(BUDGET) && budget_spent(st, msg, sw))
		mark_connection(st, &peer, c);
	return SK_PASS;
}

/*
 * Flow control, the receiver's side: after each recvmsg of a socket whose
 * sender waits on TCP (it has an rx_seq entry), publish its copied_seq. Only
 * after the call returned is the value safe (see receiver_caught_up);
 * splice() does not pass here, so a spliced-from socket never publishes and
 * its sender stays on TCP: slower, never out of order.
 */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(sa_rx, struct sock *sk, int ret, int flags)
{
	struct sa_sock_key key = {};
	struct sa_sk_state *st;
	struct sa_rx_seq *e;
	struct tcp_sock *tp;
	__u32 gen;

	/* every recvmsg of the host passes here: leave at once unless the
	 * socket is in a sockmap */
	if (!HAS(FLOW) || !sk || !((unsigned long)sk->sk_user_data & SA_SK_USER_DATA_PSOCK))
		return 0;
	st = bpf_sk_storage_get(&sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	gen = gen_now(SA_GEN_WATCH);
	if (st->watch_seen == gen && !st->watched)
		return 0;
	if (!key_of_sock(sk, &key))
		return 0;
	e = bpf_map_lookup_elem(&rx_seq, &key);
	if (e)
		st->watched = SA_WATCH_ON | (st->watched & SA_WATCH_ASKED);
	else if (!(st->watched & SA_WATCH_EXPECT) || ret > 0)
		st->watched = 0;
	st->watch_seen = gen;
	/* every new connection is watched (start_on_tcp), so the reader is
	 * looked up once per watch, not on every read */
	if (e && HAS(SPLICE) && !st->fallback && !(st->watched & SA_WATCH_ASKED)) {
		struct sa_sock_key peer = {};

		st->watched |= SA_WATCH_ASKED;
		if (known_splicer()) {
			/* its sender keeps waiting on TCP, now for good */
			key_mirror(&peer, &key);
			mark_connection(st, &peer, counters_get());
			count(counters_get(), SA_CNT_SPLICE_LEARNED, 1);
			return 0;
		}
	}
	tp = e ? bpf_skc_to_tcp_sock(sk) : NULL;
	if (tp)
		*(volatile __u64 *)e = (1ULL << 32) | tp->copied_seq;
	return 0;
}

/*
 * The splice guard's second half (SPLICE): tcp_rcv_space_adjust fires
 * whenever a TCP receive queue is read, by recvmsg and by every other
 * reader (splice(2), sendfile(2) from a socket, TCP_ZEROCOPY_RECEIVE,
 * io_uring). Only recvmsg, through tcp_bpf_recvmsg, reads the redirected
 * queue too, so for a socket in the map any other reader moves the
 * connection to TCP, before it has missed anything if start_on_tcp kept
 * redirected bytes away until then. The reader is told apart by its system
 * call; one not known to be a recvmsg (a compat call, an io_uring worker)
 * counts as another reader: the connection is then merely slower.
 *
 * A reader that finds redirected bytes already queued (it read with recv,
 * its sender went back to redirecting, then it spliced) cannot be helped:
 * moving to TCP would hand splice later bytes ahead of the queued ones. That
 * connection is left as it is, so nothing is reordered; it stalls until the
 * queue is read by recvmsg. The process is recorded either way, and later
 * connections it reads stay on TCP (sa_rx).
 */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(sa_splice, struct sock *sk)
{
	struct sa_sock_key key = {}, peer = {};
	struct sa_counters *c;
	struct sa_sk_state *st;
	struct psock_view v;
	unsigned long ud;
	long nr;

	/* every TCP read of the host passes here: leave at once unless the
	 * socket is in a sockmap */
	if (!HAS(SPLICE) || !sk)
		return 0;
	ud = (unsigned long)sk->sk_user_data;
	if (!(ud & SA_SK_USER_DATA_PSOCK))
		return 0;
	nr = current_syscall();
	if (is_recvmsg_syscall(nr))
		return 0;
	/* ours only: sockops gave each socket it inserted its storage, and a
	 * socket in another program's sockmap (or another instance's) has none
	 * in this map */
	st = bpf_sk_storage_get(&sk_state, sk, 0, 0);
	if (!st || st->fallback || (st->flow & SA_FLOW_STRANDED) || !key_of_sock(sk, &key))
		return 0;
	c = counters_get();
	if (!psock_read(ud & SA_SK_USER_DATA_PTRMASK, &v))
		return 0;
	if (!v.empty) {
		st->flow |= SA_FLOW_STRANDED;
		count(c, SA_CNT_SPLICE_STRANDED, 1);
		record_stepaside(nr, true);
		return 0;
	}
	/* A redirect into this socket past its sk_psock_get holds a reference
	 * until its bytes are queued: moving to TCP now could let later TCP
	 * bytes overtake them. The next read decides (a blocked splice is
	 * woken by their arrival). */
	if (v.refs > 1)
		return 0;
	key_mirror(&peer, &key);
	mark_connection(st, &peer, c);
	count(c, SA_CNT_SPLICE_STEPASIDE, 1);
	record_stepaside(nr, false);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

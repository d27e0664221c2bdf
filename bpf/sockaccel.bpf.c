// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sockops: put every newly established TCP socket whose peer is on this host
 * into sock_hash. sk_msg: hand each message straight to the peer socket's
 * ingress queue. See docs/design.md for the kernel facts behind each rule.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "sockaccel.h"

/*
 * Minimal CO-RE view of the one kernel-internal field we read. libbpf
 * relocates the offset against the running kernel's BTF, so the build does
 * not depend on the build host's vmlinux.
 */
struct request_sock;
struct tcp_sock {
	struct request_sock *fastopen_rsk;
	__u32 write_seq;	/* flow control: what the sender queued to TCP */
	__u32 copied_seq;	/* ... and what the receiver has read of it */
} __attribute__((preserve_access_index));

/* The peer socket and its receive memory, for the per-connection bound.
 * Every level carries the attribute so the whole access path relocates. */
struct atomic___sa {
	int counter;
} __attribute__((preserve_access_index));

struct sock_backlog___sa {
	struct atomic___sa rmem_alloc;
} __attribute__((preserve_access_index));

/* A socket's own key, from the tracepoint's struct sock (flow control). */
struct in6_addr___sa {
	union {
		__u32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct net___sa {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct possible_net___sa {
	struct net___sa *net;
} __attribute__((preserve_access_index));

struct sock_common___sa {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct possible_net___sa skc_net;
	struct in6_addr___sa skc_v6_daddr;
	struct in6_addr___sa skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common___sa __sk_common;
	__u8 sk_userlocks;
	int sk_rcvbuf;
	struct sock_backlog___sa sk_backlog;
	void *sk_user_data;
} __attribute__((preserve_access_index));

struct sk_msg {
	struct sock *sk_redir;
} __attribute__((preserve_access_index));

/* For demotion: a socket's own redirected queue (struct sk_psock). */
struct list_head___sa {
	struct list_head___sa *next;
} __attribute__((preserve_access_index));

struct refcount_struct___sa {
	struct atomic___sa refs;
} __attribute__((preserve_access_index));

struct sk_psock {
	struct list_head___sa ingress_msg;
	struct refcount_struct___sa refcnt;
} __attribute__((preserve_access_index));

/* The reading task's system call, for the splice guard: the user registers
 * saved at kernel entry (bpf_task_pt_regs). One flavour per architecture;
 * a kernel without the field refuses only that feature. */
struct pt_regs___x86 {
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct pt_regs___arm64 {
	int syscallno;
} __attribute__((preserve_access_index));

/* sk_user_data's low bits are flags (SK_USER_DATA_* in include/net/sock.h);
 * a psock carries SK_USER_DATA_PSOCK. */
#define SA_SK_USER_DATA_PSOCK	4UL
#define SA_SK_USER_DATA_PTRMASK	(~7UL)
/* sk_userlocks: the application set SO_RCVBUF (SOCK_RCVBUF_LOCK, sock.h) */
#define SA_SOCK_RCVBUF_LOCK	2

#ifndef SA_NO_KFUNCS
/* Weak: an object that names them still loads where they are missing, as
 * long as the features that call them are off. Kernels before 6.2 refuse
 * even an unreachable call to an unresolved kfunc, hence the build without
 * them (sockaccel_nokfunc.bpf.o). */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define SA_KFUNCS 1
#else
#define SA_KFUNCS 0
#endif

/* The features the loader switched on (enum sa_feature). Set before load
 * and frozen, so the verifier prunes the code of every feature that is off:
 * a feature this kernel refuses costs only that feature. The only variable
 * in .rodata: the loader sets it by size. */
const volatile __u32 sa_features = 0;
#define HAS(f)	(sa_features & SA_FEAT_##f)

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

/* Ports: local_port is host order, remote_port is the network-order 16 bits
 * in the upper half of a u32. Both are loaded as u32: the verifier refuses
 * narrower loads of these fields. */
#define SA_PORT_local(ctx)	((ctx)->local_port)
#define SA_PORT_remote(ctx)	bpf_ntohl((ctx)->remote_port)

/*
 * Fill key @k from a bpf_sock_ops or sk_msg_md context, with SRC as the
 * key's source side ("local" for the socket itself, "remote" for its peer).
 * Both contexts name the fields alike; a macro keeps one copy of the rules.
 * IPv4-mapped IPv6 becomes AF_INET so that a dual-stack listener's child
 * matches an IPv4 client. Evaluates to false for non-IP families.
 */
#define SA_KEY_FILL(k, ctx, SRC, DST) ({					\
	bool ok_ = true;							\
	__u32 fam_ = (ctx)->family;						\
	if (fam_ == SA_AF_INET) {						\
		(k)->family = SA_AF_INET;					\
		(k)->sip[0] = (ctx)->SRC##_ip4;					\
		(k)->dip[0] = (ctx)->DST##_ip4;					\
	} else if (fam_ == SA_AF_INET6) {					\
		__u32 s0_ = (ctx)->SRC##_ip6[0], s1_ = (ctx)->SRC##_ip6[1];	\
		__u32 s2_ = (ctx)->SRC##_ip6[2];				\
		if (s0_ == 0 && s1_ == 0 && s2_ == bpf_htonl(0xffff)) {		\
			(k)->family = SA_AF_INET;				\
			(k)->sip[0] = (ctx)->SRC##_ip6[3];			\
			(k)->dip[0] = (ctx)->DST##_ip6[3];			\
		} else {							\
			(k)->family = SA_AF_INET6;				\
			(k)->sip[0] = s0_;					\
			(k)->sip[1] = s1_;					\
			(k)->sip[2] = s2_;					\
			(k)->sip[3] = (ctx)->SRC##_ip6[3];			\
			(k)->dip[0] = (ctx)->DST##_ip6[0];			\
			(k)->dip[1] = (ctx)->DST##_ip6[1];			\
			(k)->dip[2] = (ctx)->DST##_ip6[2];			\
			(k)->dip[3] = (ctx)->DST##_ip6[3];			\
		}								\
	} else {								\
		ok_ = false;							\
	}									\
	(k)->sport = SA_PORT_##SRC(ctx);					\
	(k)->dport = SA_PORT_##DST(ctx);					\
	(k)->netns = bpf_get_netns_cookie(ctx);					\
	ok_;									\
})

/* Is the key's destination (the peer) on this host? */
static __always_inline bool peer_is_local(const struct sa_sock_key *k)
{
	struct sa_lpm_key lk = {};

	if (k->family == SA_AF_INET) {
		if ((bpf_ntohl(k->dip[0]) >> 24) == 127)
			return true;
		lk.prefixlen = 128;
		lk.addr[2] = bpf_htonl(0xffff);
		lk.addr[3] = k->dip[0];
	} else {
		if (k->dip[0] == 0 && k->dip[1] == 0 && k->dip[2] == 0 &&
		    k->dip[3] == bpf_htonl(1))
			return true;
		lk.prefixlen = 128;
		lk.addr[0] = k->dip[0];
		lk.addr[1] = k->dip[1];
		lk.addr[2] = k->dip[2];
		lk.addr[3] = k->dip[3];
	}
	return bpf_map_lookup_elem(&local_addrs, &lk) != NULL;
}

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

/* The key of the socket at the other end of @k: the mirror image. */
static __always_inline void key_mirror(struct sa_sock_key *m, const struct sa_sock_key *k)
{
	m->netns = k->netns;
	m->family = k->family;
	m->sport = k->dport;
	m->dport = k->sport;
	m->sip[0] = k->dip[0];
	m->sip[1] = k->dip[1];
	m->sip[2] = k->dip[2];
	m->sip[3] = k->dip[3];
	m->dip[0] = k->sip[0];
	m->dip[1] = k->sip[1];
	m->dip[2] = k->sip[2];
	m->dip[3] = k->sip[3];
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
	struct sa_sock_key mirror = {};
	const struct sa_sock_key *own = k;
	__u32 gen, *m;

	if (st && st->fallback)
		return true;
	gen = gen_now(SA_GEN_MARKS);
	if (st && st->marks_seen == gen)
		return false;
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

	if (!sk || !SA_KEY_FILL(&key, ops, local, remote))
		return;
	st = bpf_sk_storage_get(&sk_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st || !fell_back(st, &key, false) || !(st->fallback & SA_FALLBACK_TIMED))
		return;
	age = (now_units() - SA_FALLBACK_UNITS(st->fallback)) & SA_FALLBACK_UNIT_MASK;
	if (age < SA_DEMOTE_GRACE_UNITS || !own_redirected_queue_empty(ops))
		return;
	/* our own key: a live socket owns its 4-tuple in its netns */
	if (bpf_map_delete_elem(&sock_hash, &key) == 0)
		count(counters_get(), SA_CNT_DEMOTED, 1);
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_RTT_CB_FLAG);
}

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

/* A closing sender that waits on TCP takes its rx_seq entry with it. */
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
	key_mirror(&peer, key);
	if (bpf_map_update_elem(&rx_seq, &peer, &unpublished, BPF_ANY))
		return;	/* full: this direction redirects from the start */
	st->flow_seq = tp->write_seq;
	st->flow |= SA_FLOW_TCP;
	gen_bump(SA_GEN_WATCH);
	count(c, SA_CNT_STARTS_ON_TCP, 1);
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
		if (HAS(DEMOTE) || HAS(DEMOTE_READ)) {
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
		if (HAS(DEMOTE) || HAS(DEMOTE_READ))
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
 * The sticky bound, after a redirect: if the peer now holds more than the
 * limit, the connection falls back to TCP for good, both directions. TCP's
 * flow control then blocks the sender, which redirection never does (the
 * kernel charges ingress redirects only against the global tcp_mem). It must
 * be sticky without flow control: the receiver reads its redirected queue
 * before anything TCP delivers, so switching back blindly would reorder the
 * stream. The bound is soft by the one message that crossed it, which is
 * already queued.
 */
static __always_inline bool peer_over_limit(struct sk_msg_md *msg, const struct sa_ctl *sw)
{
	int rmem = 0, limit = 0;
	__u8 locks = 0;

	if (!peer_mem(msg, &rmem, &limit, &locks))
		return false;
	/* sk_rcvbuf of a redirect-only receiver never grows (TCP autotuning
	 * sees no traffic), so the limit is at least what user space set:
	 * by default tcp_rmem's maximum, what TCP would let the socket hold */
	if (sw && (int)sw->queue_limit > limit)
		limit = (int)sw->queue_limit;
	return rmem > limit;
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

static __always_inline void flow_to_redirect(struct sa_sk_state *st, const struct sa_sock_key *peer)
{
	st->flow = 0;
	bpf_map_delete_elem(&rx_seq, peer);
	gen_bump(SA_GEN_WATCH);
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
		count(c, SA_CNT_MSG_DRAINING, 1);
		return SK_PASS;
	}
	if (!SA_KEY_FILL(&peer, msg, remote, local))
		return SK_PASS;
	if (msg->sk)
		st = bpf_sk_storage_get(&sk_state, msg->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (fell_back(st, &peer, true)) {
		count(c, SA_CNT_MSG_FALLBACK, 1);
		return SK_PASS;
	}
	if (HAS(FLOW) && st && (st->flow & SA_FLOW_TCP)) {
		bool ok;
		__u32 wseq = own_write_seq(msg, &ok);

		if (!ok || !receiver_caught_up(wseq, st, &peer)) {
			count(c, SA_CNT_MSG_FLOW_TCP, 1);
			count(c, SA_CNT_BYTES_FLOW_TCP, msg->size);
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
		count(c, SA_CNT_MSG_PASSED, 1);
		return SK_PASS;
	}
	if (is_probe(msg->sk)) {
		count(c, SA_CNT_PROBE_MSGS, 1);
	} else {
		count(c, SA_CNT_MSG_REDIRECTED, 1);
		count(c, SA_CNT_BYTES_REDIRECTED, msg->size);
	}
	if (HAS(FLOW) && st) {
		int rmem = 0, rcvbuf = 0, limit = (int)flow_limit(sw);
		__u8 locks = 0;

		if (!peer_mem(msg, &rmem, &rcvbuf, &locks))
			return SK_PASS;
		/* a receiver whose application set SO_RCVBUF holds no more than
		 * that on TCP either (its window never grows past it) */
		if ((locks & SA_SOCK_RCVBUF_LOCK) && rcvbuf < limit)
			limit = rcvbuf;
		if (rmem <= limit)
			return SK_PASS;
		if (flow_to_tcp(msg, st, &peer))
			count(c, SA_CNT_FLOW_TO_TCP, 1);
		else
			mark_connection(st, &peer, c);
		return SK_PASS;
	}
	if ((HAS(PEER_BOUND) || HAS(PEER_READ)) ? peer_over_limit(msg, sw) :
	    HAS(BUDGET) ? budget_spent(st, msg, sw) : false)
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
static __always_inline bool key_of_sock(struct sock *sk, struct sa_sock_key *k)
{
	struct sock_common___sa *c = &sk->__sk_common;
	__u32 fam = c->skc_family;

	if (fam == SA_AF_INET) {
		k->family = SA_AF_INET;
		k->sip[0] = c->skc_rcv_saddr;
		k->dip[0] = c->skc_daddr;
	} else if (fam == SA_AF_INET6) {
		__u32 s0 = c->skc_v6_rcv_saddr.in6_u.u6_addr32[0];
		__u32 s1 = c->skc_v6_rcv_saddr.in6_u.u6_addr32[1];
		__u32 s2 = c->skc_v6_rcv_saddr.in6_u.u6_addr32[2];

		if (s0 == 0 && s1 == 0 && s2 == bpf_htonl(0xffff)) {
			k->family = SA_AF_INET;
			k->sip[0] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[3];
			k->dip[0] = c->skc_v6_daddr.in6_u.u6_addr32[3];
		} else {
			k->family = SA_AF_INET6;
			k->sip[0] = s0;
			k->sip[1] = s1;
			k->sip[2] = s2;
			k->sip[3] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[3];
			k->dip[0] = c->skc_v6_daddr.in6_u.u6_addr32[0];
			k->dip[1] = c->skc_v6_daddr.in6_u.u6_addr32[1];
			k->dip[2] = c->skc_v6_daddr.in6_u.u6_addr32[2];
			k->dip[3] = c->skc_v6_daddr.in6_u.u6_addr32[3];
		}
	} else {
		return false;
	}
	k->sport = c->skc_num;
	k->dport = bpf_ntohs(c->skc_dport);
	k->netns = c->skc_net.net->net_cookie;
	return true;
}

/* The reading task, as the stepaside hash names it. */
static __always_inline void reader_key(struct sa_stepaside_key *k)
{
	k->cgroup_id = bpf_get_current_cgroup_id();
	k->tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	bpf_get_current_comm(k->comm, sizeof(k->comm));
}

/* Has the reading process spliced from an accelerated socket before?
 * Asked only while a receiver is watched, so rarely. */
static __always_inline bool known_splicer(void)
{
	struct sa_stepaside_key k = {};

	reader_key(&k);
	return bpf_map_lookup_elem(&stepaside, &k) != NULL;
}

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
	st->watched = e != NULL;
	st->watch_seen = gen;
	if (e && HAS(SPLICE) && !st->fallback && known_splicer()) {
		struct sa_sock_key peer = {};

		/* its sender keeps waiting on TCP, now for good */
		key_mirror(&peer, &key);
		mark_connection(st, &peer, counters_get());
		count(counters_get(), SA_CNT_SPLICE_LEARNED, 1);
		return 0;
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

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection keys (struct sa_sock_key): built from a program's context or
 * from a struct sock, mirrored to name the other end, and asked whether
 * their peer is on this host.
 */
#ifndef __SA_KEY_BPF_H
#define __SA_KEY_BPF_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sa_kernel.bpf.h"
#include "sa_maps.bpf.h"

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
 * The same key from a struct sock, for the tracepoints, which have no
 * context to fill it from: the rules of SA_KEY_FILL over the kernel's field
 * names.
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

#endif /* __SA_KEY_BPF_H */

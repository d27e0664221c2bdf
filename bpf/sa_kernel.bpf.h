/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel's internals as sockaccel.bpf.c sees them: CO-RE views of the
 * few fields it reads, the flag bits it tests, and the kfuncs it may call.
 * BPF side only; what user space shares is in sockaccel.h.
 */
#ifndef __SA_KERNEL_BPF_H
#define __SA_KERNEL_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

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

#endif /* __SA_KERNEL_BPF_H */

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Everything the BPF programs and user space share: map value and key
 * layouts, counter names, limits and the pinned layout version.
 * This is the only copy; both sides include it.
 *
 * Every struct here is the layout of a pinned map that outlives the process
 * that created it and is reused by later builds, so fields are fixed-width,
 * explicitly padded, and changing any of them means bumping
 * SA_LAYOUT_VERSION.
 */
#ifndef SOCKACCEL_H
#define SOCKACCEL_H

#ifdef __bpf__
/* BPF side gets __u32 & co. from linux/types.h via linux/bpf.h. */
#else
#include <linux/types.h>
#endif

/* Bump when any pinned map's key/value layout or meaning changes. */
#define SA_LAYOUT_MAGIC		0x53414343u	/* "SACC" */
#define SA_LAYOUT_VERSION	3u

#define SA_MAX_CONNS_DEFAULT	65536u
#define SA_MAX_CONNS_MIN	2u
#define SA_MAX_CONNS_MAX	4194304u	/* 4 Mi sockets */
#define SA_LOCAL_ADDRS_MAX	1024u
/* Room in the counters value so that adding a counter keeps the map compatible. */
#define SA_COUNTERS_CAP		64u

/* SO_MARK of the sockets "sockaccelctl status --probe" opens: their
 * insertions and messages are counted apart, so a probe leaves the
 * operator's counters as they were. */
#define SA_PROBE_MARK		0x5acc0b0eu

#define SA_AF_INET		2u
#define SA_AF_INET6		10u

/*
 * SOCKHASH key: one socket's own view of its connection.
 * Addresses are raw network-order words (IPv4 in [0], rest zero; IPv4-mapped
 * IPv6 normalised to AF_INET), ports host order, netns the netns cookie.
 * The sk_msg program looks up the peer with the mirror image.
 * Always zero the whole struct before filling it: the kernel hashes and
 * compares every byte, padding included.
 */
struct sa_sock_key {
	__u64 netns;
	__u32 sip[4];
	__u32 dip[4];
	__u32 sport;
	__u32 dport;
	__u32 family;
	__u32 pad;
};

/* LPM key of the local_addrs map: IPv4 stored as ::ffff:a.b.c.d, so an IPv4
 * /n prefix is prefixlen 96 + n. */
struct sa_lpm_key {
	__u32 prefixlen;
	__u32 addr[4];
};

/* Value of the one-entry "layout" map: written once by the loader, read
 * before anything else is touched. Its own layout never changes. */
enum sa_msg_attach {
	SA_MSG_ATTACH_NONE = 0,
	SA_MSG_ATTACH_LINK = 1,		/* BPF_LINK_TYPE_SOCKMAP, kernel >= 6.10 */
	SA_MSG_ATTACH_LEGACY = 2,	/* bpf_prog_attach to the map */
};

struct sa_layout {
	__u32 magic;
	__u32 version;
	__u32 msg_attach;	/* enum sa_msg_attach */
	__u32 reserved;
};

/* Value of the one-entry "ctl" map, read by the programs on every call. A
 * zeroed value is the normal running state. reserved[] keeps room for
 * settings later programs read without breaking the pinned map. */
enum sa_policy_flags {
	SA_POLICY_PORTS_LISTED	= 1 << 0,	/* only ports marked SA_PORT_INCLUDE */
	SA_POLICY_NO_IPV6	= 1 << 1,	/* leave IPv6 connections on TCP */
};

struct sa_ctl {
	__u32 draining;		/* 1: sk_msg passes everything to TCP */
	__u32 policy;		/* enum sa_policy_flags, read by sockops */
	__u32 queue_limit;	/* bytes a receiver may hold before its sender
				 * falls back to TCP (at least its sk_rcvbuf) */
	__u32 flow_limit;	/* flow control: redirected bytes a receiver may
				 * hold before its sender goes over TCP until
				 * the receiver has caught up */
	__u32 reserved[4];
};

/*
 * Per-socket state (SK_STORAGE). When one direction of a connection goes
 * over its queue limit, both sockets are marked: neither redirects again,
 * so the connection continues on TCP in order. Each socket later removes
 * itself from the SOCKHASH once its own redirected queue is empty, which
 * gives it back the plain TCP send and receive paths (see "demotion" in
 * docs/design.md).
 */
struct sa_sk_state {
	__u32 fallback;		/* 0: redirecting; otherwise this socket sends over
				 * TCP, for good: 1 (untimed: never demoted) or
				 * SA_FALLBACK_AT(t) */
	__u32 marks_seen;	/* gens[SA_GEN_MARKS] when "marks" was last looked at */
	__u64 redirected;	/* bytes this socket redirected (the budget) */
	__u32 flow;		/* enum sa_flow_state flags */
	__u32 flow_seq;		/* its write_seq when it went over TCP */
	__u32 watch_seen;	/* gens[SA_GEN_WATCH] when "rx_seq" was last looked at */
	__u32 watched;		/* enum sa_watch flags: this socket as a receiver */
};

/*
 * sa_sk_state.watched. Programs of layout 1 from before SA_WATCH_EXPECT
 * wrote 0 or 1 and read any non-zero value as "watched".
 */
enum sa_watch {
	SA_WATCH_ON	= 1 << 0,	/* publish copied_seq in rx_seq after each recvmsg */
	/* set at insertion, when the peer starts on TCP towards this socket:
	 * its rx_seq entry may not exist yet (the peer is inserted later), so
	 * a miss does not end the watch until data has arrived, which the
	 * peer can send only once inserted */
	SA_WATCH_EXPECT	= 1 << 1,
	/* the reading process was looked for in "stepaside" during this
	 * watch: once is enough, the connection's first reads decide */
	SA_WATCH_ASKED	= 1 << 2,
};

/*
 * Flow control (SA_FEAT_FLOW): a sender whose receiver holds more than
 * flow_limit redirected bytes sends over TCP, whose flow control then
 * applies, until the receiver has read everything it sent over TCP; then it
 * redirects again. "Has read everything" is the receiver's copied_seq, as it
 * stood when its last recvmsg returned (published in "rx_seq" under the
 * receiver's key by a tracepoint program), equal to the sender's write_seq:
 * redirected bytes move neither, so equality means no TCP byte is unread,
 * and the next redirected byte cannot overtake one.
 */
enum sa_flow_state {
	SA_FLOW_TCP	 = 1 << 0,	/* sending over TCP until the receiver catches up */
	/* this socket as a receiver: a splice found redirected bytes queued
	 * (counted once; see SA_FEAT_SPLICE) */
	SA_FLOW_STRANDED = 1 << 1,
	/* bits 8-15: small messages this socket sent in a row while its
	 * receiver had others queued (the path choice, see SA_SMALL_STREAK) */
	SA_FLOW_SMALL_ONE  = 1 << 8,
	SA_FLOW_SMALL_MASK = 0xff << 8,
};
/*
 * The path choice: a sender that keeps writing messages of at most
 * SA_SMALL_MSG while its receiver already holds SA_SMALL_QUEUED or more is
 * a stream of small writes, which loopback TCP coalesces into large
 * segments and sockmap hands over one by one (one program run, one sk_msg
 * and one wake-up of the reader each). After SA_SMALL_STREAK such messages
 * in a row its connection goes to TCP for good and demotes. Ping-pong never
 * qualifies: its receiver has read everything before the next message.
 * Only with flow control: before 6.5, sendfile and splice into a socket ran
 * sk_msg once per page, so a message's size said nothing of the writes.
 */
#define SA_SMALL_MSG	(8u << 10)
#define SA_SMALL_QUEUED	(16u << 10)
#define SA_SMALL_STREAK	64u
/* A receiver that has not caught up while its sender wrote this much over
 * TCP is slower than its writer for good (on one CPU the
 * woken writer runs before the reader has read it all): the connection then
 * falls back for good and demotes, so it runs at plain TCP's speed instead
 * of paying the sockmap paths on every TCP message. A reader that merely
 * pauses does not count: its writer is blocked meanwhile. */
#define SA_FLOW_GIVE_UP_BYTES	(32u << 20)

/* Written and read as one 64-bit word (little-endian: copied_seq low). */
struct sa_rx_seq {
	__u32 copied_seq;	/* the receiver's, when its last recvmsg returned */
	__u32 valid;		/* 0 until the receiver published once */
};
/* flow_limit = auto: with TCP's own buffers (~4 MiB on loopback) a sender
 * then blocks at about 1.5x where it would on plain TCP */
#define SA_FLOW_LIMIT_DEFAULT	(2u << 20)

/*
 * The "marks" hash: a mark one end of a connection put on the other end,
 * keyed by the marked socket's own sa_sock_key, value a fallback word as in
 * sa_sk_state. A program may hand only its own socket to a helper (the peer
 * pointer is untrusted on some kernels), so the peer's mark goes through a
 * map both ends can name. gens[SA_GEN_MARKS] rises after every mark, so a
 * socket looks the hash up only when something was marked since it last
 * looked.
 */
enum sa_gen {
	SA_GEN_MARKS = 0,	/* "marks" changed */
	SA_GEN_WATCH = 1,	/* "rx_seq" changed (flow control) */
	SA_GENS
};

/*
 * One word, so that a reader on another CPU never sees the flag without its
 * time: bit 1 says a time is present, bits 2..31 hold
 * bpf_ktime_get_coarse_ns() >> 20 (about a millisecond per unit), wrapping
 * every ~13 days, compared by masked difference.
 */
#define SA_FALLBACK_TIMED	2u
#define SA_FALLBACK_AT(units)	(SA_FALLBACK_TIMED | ((__u32)(units) << 2))
#define SA_FALLBACK_UNITS(v)	((v) >> 2)
#define SA_FALLBACK_UNIT_MASK	0x3fffffffu
/* How long a marked socket stays in the map at least: a peer redirect that
 * had passed its verdict when the mark was set must land (and be read)
 * before the socket may leave, or leaving would purge it. */
#define SA_DEMOTE_GRACE_UNITS	96u	/* ~100 ms */

/*
 * Optional features of the programs, each switched on at load time through
 * the read-only global sa_features, so the verifier never sees the code of a
 * feature that is off. The loader probes each one by loading it; see
 * daemon/lib/variant.c for what each one gives and what its absence costs.
 * Bits are layout: the "features" map records them.
 */
enum sa_feature {
	SA_FEAT_PEER_BOUND	= 1 << 0,	/* bound from the peer's receive memory */
	SA_FEAT_BUDGET		= 1 << 1,	/* bound by bytes redirected per socket */
	SA_FEAT_DEMOTE		= 1 << 2,	/* fallen-back sockets leave the map */
	SA_FEAT_TFO		= 1 << 3,	/* TCP Fast Open children stay on TCP */
	SA_FEAT_PROBE_MARK	= 1 << 4,	/* probe sockets counted apart */
	/* the same as PEER_BOUND and DEMOTE, reading kernel memory with
	 * bpf_probe_read_kernel where the kfuncs are missing (< 6.2) */
	SA_FEAT_PEER_READ	= 1 << 5,
	SA_FEAT_DEMOTE_READ	= 1 << 6,
	SA_FEAT_FLOW		= 1 << 7,	/* TCP's flow control (see sa_flow_state) */
	SA_FEAT_SPLICE		= 1 << 8,	/* splice readers step aside (sa_stepaside) */
	SA_FEAT_HALFCLOSE	= 1 << 9,	/* a half-closing socket leaves the map */
};
#define SA_FEAT_ANY_BOUND	(SA_FEAT_PEER_BOUND | SA_FEAT_PEER_READ | SA_FEAT_BUDGET | SA_FEAT_FLOW)
#define SA_FEAT_SLOTS		12u
#define SA_FEAT_REASON_LEN	200u

/* Value of the one-entry "features" map: what the programs in the pinned
 * links run with, written by the loader, read by sockaccelctl status. */
enum sa_features_flags {
	SA_FEATURES_UNBOUNDED_BY_CONFIG = 1 << 0,	/* memory_bound = off */
};

struct sa_features {
	__u32 wanted;		/* SA_FEAT_* the loader tried */
	__u32 loaded;		/* SA_FEAT_* the programs run with */
	__u32 refused;		/* SA_FEAT_* this kernel (or the test switch) refused */
	__u32 flags;		/* enum sa_features_flags */
	char kernel[64];	/* uname -r at load time */
	char reason[SA_FEAT_SLOTS][SA_FEAT_REASON_LEN];	/* by bit number: why refused */
};

/*
 * The "stepaside" hash (SA_FEAT_SPLICE): each process that read an
 * accelerated socket other than by recvmsg. sockacceld logs each command
 * and cgroup once; sockaccelctl status lists them. Later connections that
 * the same process reads stay on TCP.
 */
#define SA_STEPASIDE_MAX	1024u
#define SA_COMM_LEN		16u
struct sa_stepaside_key {
	__u64 cgroup_id;	/* of the reading task */
	__u32 tgid;
	__u32 pad;
	char comm[SA_COMM_LEN];
};

struct sa_stepaside {
	__u64 splices;		/* connections it spliced from (stepped aside) */
	__u64 stranded;		/* ... of them with redirected bytes already queued */
	__u64 first_ns;		/* bpf_ktime_get_boot_ns() of the first */
	__u32 syscall;		/* the first reader's system call number */
	__u32 pad;
};

/* Values of the "ports" array (one __u8 per port number). */
enum sa_port_rule {
	SA_PORT_DEFAULT = 0,
	SA_PORT_INCLUDE = 1,
	SA_PORT_EXCLUDE = 2,
};

/* Sources of a local_addrs entry (its value is a bitmask of them). */
enum sa_local_source {
	SA_LOCAL_HOST	= 1 << 0,	/* an address of this host, from rtnetlink */
	SA_LOCAL_CONFIG	= 1 << 1,	/* local_cidrs in sockaccel.conf */
};

/*
 * Counters: X(enum suffix, name, help). One per-CPU value of
 * SA_COUNTERS_CAP u64s; user space sums over CPUs. Append only: a counter's
 * slot is part of the pinned layout, and sockets keep the program version
 * they were inserted with, which counts into the old slots.
 */
#define SA_COUNTERS(X)								\
	X(INSERTED,	 "sockets_inserted",	"sockets added to the SOCKHASH")	\
	X(INSERT_FULL,	 "insert_full",		"insertions refused: map full (-E2BIG)") \
	X(INSERT_BUSY,	 "insert_busy",		"insertions refused: socket busy (-EBUSY)") \
	X(INSERT_EXIST,	 "insert_exist",	"insertions refused: key present (-EEXIST)") \
	X(INSERT_OTHER,	 "insert_other",	"insertions refused: other error")	\
	X(SKIP_REMOTE,	 "skipped_remote",	"sockets not inserted: peer not on this host") \
	X(SKIP_TFO,	 "skipped_tfo",		"sockets not inserted: TCP Fast Open child") \
	X(SKIP_POLICY,	 "skipped_policy",	"sockets not inserted: port or IPv6 policy") \
	X(MSG_REDIRECTED, "msgs_redirected",	"messages redirected to the peer socket") \
	X(MSG_PASSED,	 "msgs_passed",		"messages passed to TCP: peer not in the map") \
	X(MSG_DRAINING,	 "msgs_draining",	"messages passed to TCP: redirect switched off") \
	X(MSG_FALLBACK,	 "msgs_fallback",	"messages passed to TCP: the direction fell back") \
	X(FALLBACKS,	 "directions_fallen_back", "directions moved to TCP for good: a receiver went over its queue limit (both directions of its connection move)") \
	X(BYTES_REDIRECTED, "bytes_redirected",	"bytes redirected to the peer socket") \
	X(PROBE_INSERTED, "probe_sockets_inserted", "probe sockets added to the SOCKHASH") \
	X(PROBE_MSGS,	 "probe_msgs_redirected", "probe messages redirected")	\
	X(DEMOTED,	 "sockets_demoted",	"fallen-back sockets that left the map once their redirected queue was read") \
	X(FLOW_TO_TCP,	 "flow_switches_to_tcp", "flow control: a receiver held flow_limit bytes, its sender went over TCP") \
	X(FLOW_TO_REDIRECT, "flow_switches_to_redirect", "flow control: the receiver caught up, its sender redirects again") \
	X(MSG_FLOW_TCP,	 "msgs_flow_tcp",	"messages sent over TCP while a receiver caught up (flow control)") \
	X(BYTES_FLOW_TCP, "bytes_flow_tcp",	"bytes sent over TCP while a receiver caught up (flow control)") \
	X(STARTS_ON_TCP, "directions_started_on_tcp", "directions that began on TCP until their receiver had read with recvmsg (splice guard)") \
	X(SPLICE_STEPASIDE, "splice_stepaside",	"connections moved to TCP because a socket was read by splice(2) or another non-recvmsg reader") \
	X(SPLICE_STRANDED, "splice_stranded",	"splice readers that found redirected bytes queued: left redirecting so nothing is reordered; that connection stalls") \
	X(SPLICE_LEARNED, "splice_learned",	"connections kept on TCP because their reading process was seen splicing before") \
	X(HALFCLOSE_DEMOTED, "halfclose_demoted", "sockets that left the map when their application shut down its write side") \
	X(HALFCLOSE_BUSY, "halfclose_busy",	"half-closing sockets left in the map: redirected bytes unread or the psock in use") \
	X(SMALL_STREAMS, "small_write_streams", "connections moved to TCP for good: their sender kept writing small messages while its receiver had others queued (TCP coalesces them)")

#define SA_CNT_ENUM(e, name, help) SA_CNT_##e,
enum sa_counter {
	SA_COUNTERS(SA_CNT_ENUM)
	SA_CNT_MAX
};
#undef SA_CNT_ENUM

struct sa_counters {
	__u64 c[SA_COUNTERS_CAP];
};

/* The last slot is counted only by the test build of the programs
 * (-DSA_TEST_VARIANT, sockaccel_testv2.bpf.o), so an upgrade test can tell
 * which version handled a socket. */
#define SA_CNT_TEST_VARIANT	(SA_COUNTERS_CAP - 1)

#ifndef __bpf__
_Static_assert(sizeof(struct sa_sock_key) == 56, "sa_sock_key has implicit padding");
_Static_assert(sizeof(struct sa_lpm_key) == 20, "sa_lpm_key has implicit padding");
_Static_assert(sizeof(struct sa_layout) == 16, "sa_layout size is frozen");
_Static_assert(sizeof(struct sa_ctl) == 32, "sa_ctl has implicit padding");
_Static_assert(sizeof(struct sa_sk_state) == 32, "sa_sk_state has implicit padding");
_Static_assert(sizeof(struct sa_rx_seq) == 8, "sa_rx_seq has implicit padding");
_Static_assert(sizeof(struct sa_features) == 80 + SA_FEAT_SLOTS * SA_FEAT_REASON_LEN,
	       "sa_features has implicit padding");
_Static_assert(sizeof(struct sa_stepaside_key) == 32, "sa_stepaside_key has implicit padding");
_Static_assert(sizeof(struct sa_stepaside) == 32, "sa_stepaside has implicit padding");
_Static_assert(SA_CNT_MAX < SA_COUNTERS_CAP, "raise SA_COUNTERS_CAP and SA_LAYOUT_VERSION");
#endif

#endif /* SOCKACCEL_H */

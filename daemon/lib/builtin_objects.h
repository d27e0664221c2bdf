/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_BUILTIN_OBJECTS_H
#define SA_BUILTIN_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The built-in BPF objects. Both are built from bpf/sockaccel.bpf.c and
 * share every map layout and feature switch; the one without kfuncs is for
 * kernels before 6.2, which refuse an object naming an unknown kfunc even
 * where its call is unreachable. Without kfuncs, the peer_bound and demote
 * features are absent.
 */
const void *sa_bpf_object_bytes(bool kfuncs, size_t *sz);

#endif

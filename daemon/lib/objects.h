/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_OBJECTS_H
#define SA_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The built-in BPF objects. Both are built from bpf/sockaccel.bpf.c and
 * share every map layout; they differ only in the per-connection memory
 * bound, which needs the bpf_cast_to_kern_ctx kfunc (kernel >= 6.2).
 */
const void *sa_bpf_object_bytes(bool mem_bound, size_t *sz);

#endif

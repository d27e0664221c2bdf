// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The one place that includes the generated skeletons: only for the ELF
 * bytes they embed. */
#include "builtin_objects.h"
#include "sockaccel.skel.h"
#include "sockaccel_nokfunc.skel.h"

const void *sa_bpf_object_bytes(bool kfuncs, size_t *sz)
{
	return kfuncs ? sockaccel_bpf__elf_bytes(sz) : sockaccel_nokfunc_bpf__elf_bytes(sz);
}

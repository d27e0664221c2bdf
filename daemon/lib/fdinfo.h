/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_FDINFO_H
#define SA_FDINFO_H

#include <stdbool.h>
#include <linux/bpf.h>

/* The kinds of BPF object sockaccel pins (pins.h names which is which). */
enum sa_pin_kind { SA_PIN_MAP, SA_PIN_PROG, SA_PIN_LINK };

/* Not in the 6.1 UAPI headers Debian 12 ships; stable kernel ABI. */
#define SA_BPF_LINK_TYPE_SOCKMAP 14

/* Is @fd a BPF object of @kind? Decided from its anon inode name, because
 * bpf_obj_get_info_by_fd silently fills the struct of whatever it is. */
bool sa_fd_is(int fd, enum sa_pin_kind kind);
const char *sa_kind_name(enum sa_pin_kind kind);

int sa_link_info(int link_fd, struct bpf_link_info *info);
/* map_id of a sockmap link's info (the member is missing from old headers) */
__u32 sa_sockmap_link_map_id(const struct bpf_link_info *info);
__u32 sa_map_id(int map_fd);
__u32 sa_prog_id(int prog_fd);

/* Is program @prog_id attached to @target_fd (cgroup or map) for @type?
 * *@cnt, if not NULL, gets how many programs are. -errno on query failure. */
int sa_prog_attached(int target_fd, enum bpf_attach_type type, __u32 prog_id, __u32 *cnt);

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_CONFWATCH_H
#define SA_CONFWATCH_H

#include <limits.h>
#include <stdbool.h>
#include <linux/types.h>

/*
 * Notice that sockaccel.conf changed without a SIGHUP. A Kubernetes
 * ConfigMap volume makes the file a symlink chain (sockaccel.conf ->
 * ..data/sockaccel.conf, ..data -> ..2026_01_01_..) and updates it by
 * renaming a new ..data over the old one; an editor writes the file in
 * place or renames a temp file over it. All of these are events in the
 * file's own directory, so that directory is what is watched.
 *
 * Events say only that something there moved: whether the configuration
 * changed is decided by its bytes (through the whole symlink chain), so a
 * burst of events, or a rewrite with the same text, is one reload or none.
 */

/* An inotify fd (non-blocking, close-on-exec) watching the directory of
 * @path, whose name goes to @dir (PATH_MAX); or a negative errno with what
 * went wrong and the fix in @err. */
int sa_confwatch_open(const char *path, char *dir, char *err, size_t len);
/* Read the pending events: true when any could concern the file. Sets
 * *@gone when the directory itself went away (nothing is watched now). */
bool sa_confwatch_read(int fd, bool *gone);
/*
 * The fingerprint of @path's bytes now, through its symlinks (a missing
 * file has one too). Take it *before* loading the file: a change that
 * lands between the two then differs from it and is loaded at its own
 * event, instead of being taken for the version already loaded.
 */
__u64 sa_config_fingerprint(const char *path);

#endif

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A Kubernetes ConfigMap volume, done the way the kubelet does it, and the
 * policy in force read off the pinned map. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "testlib.h"
#include "testlib_priv.h"

int tl_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int tl_configmap_update(struct tl_configmap *cm, const char *text)
{
	char dir[PATH_MAX], file[PATH_MAX], tmp[PATH_MAX], data[PATH_MAX], name[32], old[PATH_MAX];
	int err;

	if (tl_pathf(old, "%s/..2026_%02u", cm->dir, cm->version))
		return -ENAMETOOLONG;
	cm->version++;
	snprintf(name, sizeof(name), "..2026_%02u", cm->version);
	if (tl_pathf(dir, "%s/%s", cm->dir, name) || tl_pathf(file, "%s/sockaccel.conf", dir) ||
	    tl_pathf(tmp, "%s/..data_tmp", cm->dir) || tl_pathf(data, "%s/..data", cm->dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755))
		return -errno;
	err = tl_write_file(file, text);
	if (err)
		return err;
	if (symlink(name, tmp) || rename(tmp, data))
		return -errno;
	tl_log("ConfigMap version %s: %s", name, text);
	if (cm->version == 1)
		return 0;
	/* the old version holds the one file; not tl_rm_rf, which refuses
	 * what looks like a mount point, as an overlayfs /tmp's files do (the
	 * VM tests' root) */
	if (tl_pathf(file, "%s/sockaccel.conf", old))
		return -ENAMETOOLONG;
	return unlink(file) || rmdir(old) ? -errno : 0;
}

int tl_configmap_create(struct tl_configmap *cm, const char *text)
{
	memset(cm, 0, sizeof(*cm));
	if (tl_tmp_path(cm->dir, "configmap") || tl_pathf(cm->conf, "%s/sockaccel.conf", cm->dir))
		return -ENAMETOOLONG;
	if (mkdir(cm->dir, 0755))
		return -errno;
	if (tl_configmap_update(cm, text))
		return -EIO;
	return symlink("..data/sockaccel.conf", cm->conf) ? -errno : 0;
}

int tl_port_map_state(const struct tl_pins *pins, __u16 port)
{
	struct tl_pair_opts o = { .family = TL_INET4, .server_port = port };
	struct tl_pair p = TL_PAIR_INIT;
	int a, b;

	if (tl_pair_make(&p, &o))
		return -EIO;
	a = tl_sock_map_state(pins->sock_hash, p.client);
	b = tl_sock_map_state(pins->sock_hash, p.server);
	tl_pair_close(&p);
	return a == b ? a : -EPROTO;
}

int tl_daemon_count_lines(struct tl_daemon *d, const char *needle)
{
	FILE *f = fopen(d->err_path, "re");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	tl_daemon_poll(d);
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) >= 0)
		n += strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return n;
}

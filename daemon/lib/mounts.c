// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "mounts.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static int unescape(const char *src, char *dst, size_t len)
{
	size_t n = 0;

	while (*src) {
		char c = *src++;

		if (c == '\\' && src[0] >= '0' && src[0] <= '7' && src[1] >= '0' &&
		    src[1] <= '7' && src[2] >= '0' && src[2] <= '7') {
			c = (char)((src[0] - '0') << 6 | (src[1] - '0') << 3 | (src[2] - '0'));
			src += 3;
		}
		if (n + 1 >= len)
			return -ENAMETOOLONG;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return 0;
}

int sa_mountinfo_find_nth(FILE *mountinfo, const char *fstype, unsigned int nth, char *buf,
			  size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;

	while (getline(&line, &cap, mountinfo) > 0) {
		char *save = NULL, *mnt = NULL, *tok;
		int field = 0;
		bool after_sep = false;

		line[strcspn(line, "\n")] = '\0';
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			field++;
			if (field == 5)
				mnt = tok;
			if (after_sep)
				break;
			if (field > 6 && strcmp(tok, "-") == 0)
				after_sep = true;
		}
		/* tok is now the filesystem type, the first field after "-" */
		if (after_sep && tok && mnt && strcmp(tok, fstype) == 0 && nth-- == 0) {
			err = unescape(mnt, buf, len);
			break;
		}
	}
	free(line);
	return err;
}

int sa_mountinfo_find(FILE *mountinfo, const char *fstype, char *buf, size_t len)
{
	return sa_mountinfo_find_nth(mountinfo, fstype, 0, buf, len);
}

int sa_mount_find_nth(const char *fstype, unsigned int nth, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int err;

	if (!f)
		return -errno;
	err = sa_mountinfo_find_nth(f, fstype, nth, buf, len);
	fclose(f);
	return err;
}

int sa_mount_find(const char *fstype, char *buf, size_t len)
{
	return sa_mount_find_nth(fstype, 0, buf, len);
}

enum sa_fs_kind sa_fs_kind(const char *path, long *magic)
{
	struct statfs sfs;

	if (statfs(path, &sfs) < 0)
		return SA_FS_MISSING;
	if (magic)
		*magic = (long)sfs.f_type;
	switch ((unsigned long)sfs.f_type) {
	case CGROUP2_SUPER_MAGIC:
		return SA_FS_CGROUP2;
	case CGROUP_SUPER_MAGIC:
		return SA_FS_CGROUP1;
	case BPF_FS_MAGIC:
		return SA_FS_BPF;
	default:
		return SA_FS_OTHER;
	}
}

int sa_cgroup_join(const char *cgroup)
{
	char path[PATH_MAX + 16];
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "0", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

int sa_cgroup_id(const char *path, __u64 *id)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*id = st.st_ino;
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* inotify on sockaccel.conf's directory, and the file's fingerprint. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>

#include "confwatch.h"

/* Everything that can replace the file or a link on its way: a ..data
 * swap is IN_MOVED_TO (or IN_CREATE) of "..data"; an in-place write is
 * IN_CLOSE_WRITE; an editor's rename is IN_MOVED_TO of the name. */
#define CONFWATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | \
			IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* FNV-1a 64 of the bytes, with the length folded in; not cryptographic,
 * it only has to tell one version of a small text file from the next. */
#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL
#define SUM_MISSING	0x6d697373696e6721ULL	/* no file, or unreadable */

__u64 sa_config_fingerprint(const char *path)
{
	__u64 h = FNV_OFFSET, n = 0;
	unsigned char buf[4096];
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);	/* follows every symlink */
	if (fd < 0)
		return SUM_MISSING ^ (__u64)errno;
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < got; i++)
			h = (h ^ buf[i]) * FNV_PRIME;
		n += (__u64)got;
	}
	if (got < 0)
		h = SUM_MISSING ^ (__u64)errno;
	close(fd);
	return h ^ (n * FNV_PRIME);
}

int sa_confwatch_open(const char *path, char *dir, char *err, size_t len)
{
	char tmp[PATH_MAX];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, PATH_MAX, "%s", dirname(tmp));
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, len, "can't create an inotify fd: %s (fs.inotify.max_user_instances "
			 "reached?)", strerror(errno));
		return ret;
	}
	if (inotify_add_watch(fd, dir, CONFWATCH_MASK) < 0) {
		ret = -errno;
		snprintf(err, len, "can't watch '%s' for changes of '%s': %s%s", dir, path,
			 strerror(errno), errno == ENOSPC ?
			 " (raise fs.inotify.max_user_watches)" : "");
		close(fd);
		return ret;
	}
	return fd;
}

bool sa_confwatch_read(int fd, bool *gone)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	*gone = false;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			/* any name, and an overflow too: the chain's links
			 * (..data, the timestamped dir) have names nothing
			 * here could know, and the fingerprint sorts it out */
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				*gone = true;
			else
				any = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return any;
}

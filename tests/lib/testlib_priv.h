/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the testlib_*.c files share, and nothing a test uses: the state
 * cleanup needs and the helpers more than one part calls. Tests include
 * testlib.h only.
 *
 * The cleanup code (tl_cleanup_all and what it calls) also runs from signal
 * handlers (SIGTERM, SIGINT, SIGHUP and the SIGALRM budget), so it sticks to
 * async-signal-safe calls on paths computed in tl_init().
 */
#ifndef SA_TESTLIB_PRIV_H
#define SA_TESTLIB_PRIV_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "counters.h"
#include "key.h"
#include "mounts.h"
#include "pins.h"
#include "variant.h"
#include "testlib.h"

#ifndef SOCKACCELD_PATH
#define SOCKACCELD_PATH "sockacceld"
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define TL_MAX_PIDS	64
#define TL_MAX_MOUNTS	4
#define TL_MAX_SYSCTLS	4
#define TL_DUMP_DAEMONS	3	/* logs of the last N daemons shown on failure */
#define TL_DUMP_TAIL	12288	/* bytes of each */

extern char **environ;

/* Everything cleanup needs, prepared in advance. */
struct tl_state {
	pid_t owner;
	atomic_int failures;
	atomic_int cleaning;
	long long t0;
	unsigned int budget;
	bool bpffs_mounted;
	bool cgroup_made;
	bool tmp_made;
	volatile pid_t pids[TL_MAX_PIDS];
	char mounts[TL_MAX_MOUNTS][PATH_MAX];
	struct {
		char path[128];
		char old[128];
		size_t old_len;
		volatile bool set;
	} sysctls[TL_MAX_SYSCTLS];
	int ndaemons;
	char cg_kill[PATH_MAX];
	char cg_events[PATH_MAX];
	char cg_procs[PATH_MAX];
	pthread_mutex_t log_lock;	/* held across fork(): no stdio lock is
					 * taken by another thread at that moment */
};
extern struct tl_state tl_st;

/* A record of getdents64(2), read raw: opendir() allocates, and the
 * cleanup must not. */
struct tl_dirent64 {
	__u64 d_ino;
	__s64 d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* testlib_core.c */
/*
 * fork() and exec @argv (execve with @envp, or execvp when @envp is NULL).
 * With @out >= 0 the child's stdout and stderr go to @out and @err, stdin
 * to @in when that is >= 0, and every other fd is closed; then @hook runs,
 * if any. The child dies with us; its pid is tracked for cleanup. Returns
 * the pid or -errno. The caller builds everything beforehand: a child of a
 * threaded parent must not allocate (other threads may hold malloc's or
 * stdio's locks).
 */
pid_t tl_spawn(char *const argv[], char *const envp[], int in, int out, int err,
	       tl_exec_hook hook, void *arg);
int tl_pidfd_of(pid_t pid);
/* Wait for child @pid (pidfd @pidfd, or -1) up to @timeout_ms. */
int tl_wait_pid(pid_t pid, int pidfd, int timeout_ms, int *status);
/* The whole file, NUL-terminated; *@len (if not NULL) gets its length,
 * which counts any NUL bytes inside it. NULL with errno set on failure. */
char *tl_read_file_len(const char *path, size_t *len);
char *tl_read_file(const char *path);

/* testlib_cleanup.c: all of it async-signal-safe */
/* Handle the signals that end a test, and exit, with tl_cleanup_all. */
void tl_cleanup_install(void);
void tl_cleanup_all(void);
/* In a freshly forked child: default signal handling, nothing blocked, die
 * with the parent. */
void tl_child_reset(pid_t parent);
/* Copy the tail of @path to stderr. */
void tl_ss_dump_file(const char *path);

#endif

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* mountinfo, kernel config and /proc/locks parsing, on fixed text. */
#include <errno.h>
#include <stdio.h>

#include "kconfig.h"
#include "mounts.h"
#include "pins.h"
#include "unit.h"

static FILE *text(const char *s)
{
	return fmemopen((void *)s, strlen(s), "r");
}

static void test_mountinfo(void)
{
	static const char hybrid[] =
		"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
		"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:5 master:1 - cgroup2 cgroup2 rw\n"
		"41 22 0:38 / /sys/fs/bpf rw - bpf bpf rw,mode=700\n";
	static const char escaped[] =
		"50 22 0:40 / /mnt/my\\040cg rw - cgroup2 none rw\n";
	static const char none[] = "30 22 0:27 / / rw - ext4 /dev/sda1 rw\n";
	static const char pod[] =
		"72 71 0:38 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n"
		"79 71 0:40 / /sys/fs/bpf rw,relatime - bpf bpf rw\n"
		"80 69 0:38 /../.. /host/sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";
	char buf[64];
	FILE *f;

	f = text(hybrid);
	CHECK_EQ(sa_mountinfo_find(f, "cgroup2", buf, sizeof(buf)), 0, "cgroup2 in hybrid");
	CHECK_STR(buf, "/sys/fs/cgroup/unified", "cgroup2 mount point");
	fclose(f);

	f = text(hybrid);
	CHECK_EQ(sa_mountinfo_find(f, "cgroup", buf, sizeof(buf)), 0, "v1 found");
	CHECK_STR(buf, "/sys/fs/cgroup/cpu", "first v1 hierarchy, not cgroup2");
	fclose(f);

	f = text(hybrid);
	CHECK_EQ(sa_mountinfo_find(f, "bpf", buf, sizeof(buf)), 0, "bpffs");
	CHECK_STR(buf, "/sys/fs/bpf", "bpffs mount point");
	fclose(f);

	f = text(escaped);
	CHECK_EQ(sa_mountinfo_find(f, "cgroup2", buf, sizeof(buf)), 0, "escaped");
	CHECK_STR(buf, "/mnt/my cg", "octal escape undone");
	fclose(f);

	f = text(none);
	CHECK_EQ(sa_mountinfo_find(f, "cgroup2", buf, sizeof(buf)), -ENOENT, "no cgroup2");
	fclose(f);

	f = text(hybrid);
	CHECK_EQ(sa_mountinfo_find(f, "cgroup2", buf, 8), -ENAMETOOLONG, "short buffer");
	fclose(f);

	/* a pod: its own cgroup namespace first, the host's hierarchy beside it */
	f = text(pod);
	CHECK_EQ(sa_mountinfo_find_nth(f, "cgroup2", 0, buf, sizeof(buf)), 0, "pod: first");
	CHECK_STR(buf, "/sys/fs/cgroup", "pod: its own namespace's view first");
	fclose(f);
	f = text(pod);
	CHECK_EQ(sa_mountinfo_find_nth(f, "cgroup2", 1, buf, sizeof(buf)), 0, "pod: second");
	CHECK_STR(buf, "/host/sys/fs/cgroup", "pod: the host's hierarchy (hostPath)");
	fclose(f);
	f = text(pod);
	CHECK_EQ(sa_mountinfo_find_nth(f, "cgroup2", 2, buf, sizeof(buf)), -ENOENT, "pod: no third");
	fclose(f);
}

static void test_kconfig(void)
{
	CHECK_EQ(sa_kconfig_scan_line("CONFIG_BPF_STREAM_PARSER=y\n", "CONFIG_BPF_STREAM_PARSER"),
		 'y', "set y");
	CHECK_EQ(sa_kconfig_scan_line("CONFIG_TLS=m\n", "CONFIG_TLS"), 'm', "module");
	CHECK_EQ(sa_kconfig_scan_line("# CONFIG_BPF_STREAM_PARSER is not set\n",
				      "CONFIG_BPF_STREAM_PARSER"), 'n', "not set");
	CHECK_EQ(sa_kconfig_scan_line("CONFIG_BPF_STREAM_PARSER_X=y\n",
				      "CONFIG_BPF_STREAM_PARSER"), 0, "prefix of another option");
	CHECK_EQ(sa_kconfig_scan_line("CONFIG_BPF=y\n", "CONFIG_BPF_STREAM_PARSER"), 0,
		 "unrelated line");
}

static void test_proc_locks(void)
{
	static const char locks[] =
		"1: POSIX  ADVISORY  WRITE 99 00:1f:1234 0 EOF\n"
		"2: FLOCK  ADVISORY  WRITE 4200 00:26:77 0 EOF\n"
		"2: -> FLOCK  ADVISORY  WRITE 4300 00:26:77 0 EOF\n"
		"3: FLOCK  ADVISORY  WRITE 5000 00:26:78 0 EOF\n";
	FILE *f;

	f = text(locks);
	CHECK_EQ(sa_proc_locks_holder(f, 0, 0x26, 77), 4200, "holder, not the waiter");
	fclose(f);
	f = text(locks);
	CHECK_EQ(sa_proc_locks_holder(f, 0, 0x1f, 1234), 0, "POSIX lock is not ours");
	fclose(f);
	f = text(locks);
	CHECK_EQ(sa_proc_locks_holder(f, 0, 0x26, 79), 0, "no lock on inode");
	fclose(f);
}

static void test_pin_names(void)
{
	char path[PATH_MAX];
	char longdir[PATH_MAX];

	CHECK(sa_pin_lookup("sock_hash") != NULL, "sock_hash is a pin");
	CHECK(sa_pin_lookup("link_sockops") && sa_pin_lookup("link_sockops")->kind == SA_PIN_LINK,
	      "link kind");
	CHECK(sa_pin_lookup("sock_hash" SA_PIN_TMP_SUFFIX) == NULL, "tmp name is not a pin");
	CHECK(sa_pin_lookup("foo") == NULL, "unknown name");
	CHECK(strchr(SA_PIN_TMP_SUFFIX, '.') == NULL, "bpffs refuses dots in names");
	for (unsigned int i = 0; i < sa_pins_cnt; i++)
		CHECK(strchr(sa_pins[i].name, '.') == NULL, "bpffs refuses dots in names");
	CHECK_EQ(sa_pin_path(path, "/sys/fs/bpf/sockaccel", "ctl"), 0, "join");
	CHECK_STR(path, "/sys/fs/bpf/sockaccel/ctl", "joined path");
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	CHECK_EQ(sa_pin_path(path, longdir, "ctl"), -ENAMETOOLONG, "too long");
}

int main(void)
{
	test_mountinfo();
	test_kconfig();
	test_proc_locks();
	test_pin_names();
	return unit_done("test_parsers");
}

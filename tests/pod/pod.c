// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The DaemonSet, simulated (deploy/kubernetes/daemonset.yaml): the built
 * image's rootfs run by sa_pod with only the pod's mounts (the host's bpffs,
 * the host's cgroup2 hierarchy read-only, a ConfigMap volume), its
 * capabilities (drop ALL, add BPF NET_ADMIN PERFMON), a read-only root, its
 * own cgroup, mount, PID, UTS and IPC namespaces and the host's network.
 *  1. least privilege: without any one of the three capabilities the daemon
 *     refuses to start, naming the capability;
 *  2. the pod accelerates host processes in the test cgroup, named as a
 *     path in the host's hierarchy: byte-exact, redirected; the exec probe
 *     (`sockaccelctl status --degraded-ok` inside the pod) passes and finds
 *     the attached cgroup through that mount; the pod's own preflight says
 *     its default cgroup is a namespace's;
 *  3. kill -9 of the pod: an open connection and a new one stay
 *     accelerated;
 *  4. a second pod adopts the pins: the same map, one sockops attachment;
 *  5. a ConfigMap update reloads the policy; an invalid one is refused;
 *  6. /metrics scraped from the host;
 *  7. uninstall: the pod stopped (DaemonSet deleted), the drain pod
 *     (deploy/kubernetes/uninstall) disables with bytes still queued:
 *     nothing lost, no pin, link, program or map left.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#include "exitcodes.h"
#include "pins.h"
#include "testlib.h"

#define POD_CAPS	"BPF,NET_ADMIN,PERFMON"
#define DRAIN_CAPS	"BPF,NET_ADMIN,SYS_ADMIN,SYS_PTRACE"
#define METRICS_PORT	29465
#define P_POLICY	23443	/* below the ephemeral range, apart from other tests' */
#define RELOAD_MS	10000
#define HELD_BYTES	(256 * 1024)

static char rootfs[PATH_MAX], pod_procs[PATH_MAX], host_cgroup[PATH_MAX];
static char bind_bpffs[PATH_MAX], bind_cgroup[PATH_MAX], bind_cm[PATH_MAX];
static struct tl_configmap cm;

static int run(const char *const *argv, int timeout_ms)
{
	int status;

	if (tl_run_cmd((char *const *)argv, timeout_ms, &status))
		return -1;
	return tl_exited_with(status, 0) ? 0 : -1;
}

/* The image as a runtime gets it: the OCI archive, unpacked by umoci. */
static int unpack_image(void)
{
	char oci[PATH_MAX], bundle[PATH_MAX], image[PATH_MAX + 32];
	const char *tar[] = { "/bin/tar", "-xf", SA_IMAGE_ARCHIVE, "-C", oci, NULL };
	const char *umoci[] = { "/usr/bin/umoci", "unpack", "--image", image, bundle, NULL };

	if (access(SA_IMAGE_ARCHIVE, R_OK)) {
		tl_log("FAIL: no image at %s (ctest runs image.build first; or "
		       "scripts/build-image.sh)", SA_IMAGE_ARCHIVE);
		return -1;
	}
	if (access("/usr/bin/umoci", X_OK)) {
		tl_log("FAIL: umoci missing (scripts/install-deps.sh installs it)");
		return -1;
	}
	if (tl_tmp_path(oci, "oci") || tl_tmp_path(bundle, "bundle") ||
	    tl_pathf(image, "%s:%s", oci, SA_IMAGE_TAG) || tl_pathf(rootfs, "%s/rootfs", bundle))
		return -1;
	if (mkdir(oci, 0755))
		return -1;
	return run(tar, 60000) || run(umoci, 120000) ? -1 : 0;
}

/* The pod's cgroup: under the test's, so cleanup removes it; the daemon
 * attaches to the test cgroup, named through the host's hierarchy as the
 * DaemonSet names it (/host/sys/fs/cgroup/...). */
static int pod_env(void)
{
	char pod_cg[PATH_MAX];

	if (tl_pathf(pod_cg, "%s/pod", tl_env.cgroup) ||
	    tl_pathf(pod_procs, "%s/cgroup.procs", pod_cg) ||
	    tl_pathf(host_cgroup, "--cgroup=/host/sys/fs/cgroup%s",
		     tl_env.cgroup + strlen(tl_env.cgroup2)) ||
	    tl_pathf(bind_bpffs, "%s:/sys/fs/bpf", tl_env.bpffs) ||
	    tl_pathf(bind_cgroup, "%s:/host/sys/fs/cgroup:ro", tl_env.cgroup2) ||
	    tl_pathf(bind_cm, "%s:/etc/sockaccel:ro", cm.dir))
		return -1;
	return mkdir(pod_cg, 0755) ? -1 : 0;
}

/* Start the DaemonSet's container with @caps; its arguments are the
 * manifest's, the pin dir being the test's bpffs seen at /sys/fs/bpf. */
static int pod_start(struct tl_daemon *d, const char *caps)
{
	const char *wrapper[] = { SA_POD_TOOL, "--rootfs", rootfs, "--cgroup-procs", pod_procs,
				  "--bind", bind_bpffs, "--bind", bind_cgroup, "--bind", bind_cm,
				  "--caps", caps, "--entrypoint", "/usr/sbin/sockacceld", "--",
				  NULL };
	char metrics[64];
	const char *args[] = { "--config=/etc/sockaccel/sockaccel.conf",
			       "--pin-dir=/sys/fs/bpf/pins", host_cgroup, metrics, NULL };

	snprintf(metrics, sizeof(metrics), "--metrics-listen=127.0.0.1:%d", METRICS_PORT);
	return tl_daemon_start_wrapped(d, wrapper, args, TL_D_RAW_ARGS | TL_D_NO_CONFIG);
}

/* The container's first process (sa_pod's child, PID 1 inside). */
static pid_t pod_pid1(const struct tl_daemon *d)
{
	char path[64];
	FILE *f;
	int pid = -1;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)d->pid, (int)d->pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

/* kubectl exec (and an exec probe): @argv inside the running pod; *@out
 * gets its stdout and stderr, one after the other. */
static int pod_exec(const struct tl_daemon *d, const char *const *argv, int *status, char **out)
{
	char *err = NULL;
	int ret;
	const char *cmd[16] = { SA_POD_TOOL, "--enter", NULL, "--caps", POD_CAPS, "--" };
	char pid[16];
	unsigned int n = 6;

	snprintf(pid, sizeof(pid), "%d", (int)pod_pid1(d));
	cmd[2] = pid;
	for (unsigned int i = 0; argv[i] && n < 15; i++)
		cmd[n++] = argv[i];
	cmd[n] = NULL;
	ret = tl_run_capture((char *const *)cmd, 30000, status, out, &err);
	if (!ret && *out && err) {
		char *both;

		if (asprintf(&both, "%s%s", *out, err) < 0)
			ret = -ENOMEM;
		else {
			free(*out);
			*out = both;
		}
	}
	free(err);
	return ret;
}

/* Without one of the pod's capabilities the daemon refuses, naming it. */
static const char *const least_privilege[][2] = {
	{ "NET_ADMIN,PERFMON", "CAP_BPF" },
	{ "BPF,PERFMON", "CAP_NET_ADMIN" },
	{ "BPF,NET_ADMIN", "CAP_PERFMON" },
};

/* A program id that no longer names a program (released asynchronously). */
static bool prog_gone(__u32 id)
{
	return TL_WAIT_FOR(({
		int fd = bpf_prog_get_fd_by_id(id);
		if (fd >= 0)
			close(fd);
		fd < 0;
	}), 5000);
}

int main(void)
{
	struct tl_daemon d1 = TL_DAEMON_INIT, d2 = TL_DAEMON_INIT, drain = TL_DAEMON_INIT;
	struct tl_pins pins = TL_PINS_INIT;
	struct tl_pair open_pair = TL_PAIR_INIT, held = TL_PAIR_INIT;
	struct tl_pair_opts po = { .family = TL_INET4 };
	__u64 c0[SA_CNT_MAX], c1[SA_CNT_MAX];
	__u32 map_id = 0, map_id2 = 0, sockops_prog = 0, msg_prog = 0, cnt = 0;
	static char page[65536];
	char *out = NULL;
	int status, code;
	const char *status_cmd[] = { "/usr/sbin/sockaccelctl", "--pin-dir=/sys/fs/bpf/pins",
				     "status", "--degraded-ok", NULL };
	const char *preflight_cmd[] = { "/usr/sbin/sockacceld", "--preflight", NULL };

	ASSERT_OK(tl_init("pod", TL_BUDGET_S), "tl_init");
	ASSERT_OK(unpack_image(), "unpack the image " SA_IMAGE_TAG);
	ASSERT_OK(tl_configmap_create(&cm, "max_conns = 4096\n"), "the ConfigMap volume");
	ASSERT_OK(pod_env(), "the pod's cgroup and mounts");

	/* 1. */
	for (unsigned int i = 0; i < 3; i++) {
		tl_log("the pod with %s only", least_privilege[i][0]);
		ASSERT_OK(pod_start(&d1, least_privilege[i][0]), "start a pod short of one capability");
		ASSERT_OK(tl_daemon_wait_exit(&d1, TL_READY_MS), "it exits");
		ASSERT_EXIT(d1.status, SA_EXIT_NO_PRIVILEGE, "a pod short of one capability");
		ASSERT_TRUE(tl_daemon_output_contains(&d1, least_privilege[i][1]),
			    "the refusal names the missing capability");
		ASSERT_FALSE(access(tl_env.pin_dir, F_OK) == 0, "nothing pinned by a refused start");
		tl_daemon_release(&d1);
		d1 = (struct tl_daemon)TL_DAEMON_INIT;
	}

	/* 2. */
	ASSERT_OK(pod_start(&d1, POD_CAPS), "start pod 1");
	ASSERT_OK(tl_daemon_wait_ready(&d1, TL_READY_MS), "pod 1 ready");
	ASSERT_OK(tl_pins_open(&pins), "open the pins from the host");
	ASSERT_TRUE(tl_new_conn_accelerated("pod 1", TL_INET4, 4 << 20, TL_WRITE_SEND),
		    "a host connection accelerated by the containerised daemon");
	ASSERT_OK(pod_exec(&d1, status_cmd, &status, &out), "exec probe in pod 1");
	ASSERT_EXIT(status, 0, "sockaccelctl status --degraded-ok in the pod (the probe)");
	ASSERT_TRUE(out && strstr(out, "/host/sys/fs/cgroup/"),
		    "status in the pod finds the attached cgroup in the host's hierarchy");
	free(out);
	out = NULL;
	ASSERT_OK(pod_exec(&d1, preflight_cmd, &status, &out), "preflight in pod 1");
	ASSERT_TRUE(out && strstr(out, "root of a cgroup namespace"),
		    "the pod's preflight: its default cgroup is a namespace's, not the host's");
	free(out);
	out = NULL;
	ASSERT_OK(tl_pin_id("sock_hash", &map_id), "map id");
	ASSERT_OK(tl_pin_link_prog_id(SA_PIN_LINK_SOCKOPS, &sockops_prog), "sockops prog id");
	ASSERT_OK(tl_pin_link_prog_id(SA_PIN_LINK_MSG, &msg_prog), "sk_msg prog id");
	ASSERT_OK(tl_pair_make(&open_pair, &po), "a connection kept open across the kill");

	/* 3. */
	ASSERT_OK(tl_daemon_stop(&d1, SIGKILL, TL_STOP_MS), "kill -9 pod 1");
	ASSERT_OK(tl_counters(&pins, c0), "counters");
	ASSERT_OK(tl_xfer(open_pair.client, true, 7, 1 << 20, 10000) ||
		  tl_xfer(open_pair.server, false, 7, 1 << 20, 10000), "1 MiB on the open one");
	ASSERT_OK(tl_counters(&pins, c1), "counters");
	ASSERT_TRUE(c1[SA_CNT_BYTES_REDIRECTED] - c0[SA_CNT_BYTES_REDIRECTED] >= 1 << 20,
		    "the open connection is still redirected with no pod");
	ASSERT_TRUE(tl_new_conn_accelerated("no pod", TL_INET4, 1 << 20, TL_WRITE_SEND),
		    "a new connection accelerated with no pod");

	/* 4. */
	ASSERT_OK(pod_start(&d2, POD_CAPS), "start pod 2");
	ASSERT_OK(tl_daemon_wait_ready(&d2, TL_READY_MS), "pod 2 ready");
	ASSERT_OK(tl_pin_id("sock_hash", &map_id2), "map id");
	ASSERT_EQ(map_id2, map_id, "pod 2 adopted the same map");
	ASSERT_OK(tl_cgroup_prog_count(BPF_CGROUP_SOCK_OPS, &cnt), "sockops programs");
	ASSERT_EQ(cnt, 1, "one sockops attachment after the second pod");
	ASSERT_TRUE(tl_new_conn_accelerated("pod 2", TL_INET4, 1 << 20, TL_WRITE_SEND),
		    "accelerated under pod 2");

	/* 5. */
	ASSERT_EQ(tl_port_map_state(&pins, P_POLICY), TL_IN_MAP, "port P accelerated");
	ASSERT_OK(tl_configmap_update(&cm, "max_conns = 4096\nexclude_ports = 23443\n"),
		  "ConfigMap update: exclude port P");
	ASSERT_TRUE(TL_WAIT_FOR(tl_daemon_count_lines(&d2, "policy updated") >= 1, RELOAD_MS),
		    "pod 2 reloaded the new ConfigMap");
	ASSERT_EQ(tl_port_map_state(&pins, P_POLICY), TL_NOT_IN_MAP, "port P excluded");
	ASSERT_OK(tl_configmap_update(&cm, "exclude_ports = 0\n"), "an invalid ConfigMap");
	ASSERT_TRUE(TL_WAIT_FOR(tl_daemon_count_lines(&d2, "previous policy stays in force") >= 1,
				RELOAD_MS), "the invalid version refused");
	ASSERT_EQ(tl_port_map_state(&pins, P_POLICY), TL_NOT_IN_MAP, "port P still excluded");

	/* 6. GET /metrics from the host, as a scraper on the node would */
	ASSERT_OK(tl_http_request("127.0.0.1", METRICS_PORT, "GET", "/metrics", &code, page,
				  sizeof(page)), "GET /metrics from the host");
	ASSERT_EQ(code, 200, "GET /metrics from the host");
	ASSERT_TRUE(strstr(page, "\nsockaccel_sockets_inserted_total ") != NULL,
		    "/metrics has the counters");
	ASSERT_TRUE(strstr(page, "\nsockaccel_map_entries ") != NULL, "/metrics has the gauges");

	/* 7. The DaemonSet deleted: the pod stops, the fast path stays. */
	ASSERT_OK(tl_daemon_stop(&d2, SIGTERM, TL_STOP_MS), "stop pod 2 (SIGTERM)");
	ASSERT_EXIT(d2.status, SA_EXIT_OK, "pod 2 after SIGTERM");
	ASSERT_OK(tl_pair_make(&held, &po), "a connection for the drain");
	ASSERT_OK(tl_xfer(held.client, true, 11, HELD_BYTES, 10000), "bytes sent, not yet read");
	{
		const char *wrapper[] = { SA_POD_TOOL, "--rootfs", rootfs, "--hostpid",
					  "--bind", bind_bpffs, "--caps", DRAIN_CAPS, "--entrypoint",
					  "/usr/sbin/sockaccelctl", "--", NULL };
		const char *args[] = { "--pin-dir=/sys/fs/bpf/pins", "disable", "--timeout", "30",
				       NULL };

		ASSERT_OK(tl_daemon_start_wrapped(&drain, wrapper, args,
						  TL_D_RAW_ARGS | TL_D_NO_CONFIG | TL_D_QUIET),
			  "the drain pod: sockaccelctl disable");
	}
	tl_sleep_ms(500);
	tl_daemon_poll(&drain);
	ASSERT_FALSE(drain.exited, "the drain waits for the receiver that holds bytes");
	ASSERT_OK(tl_xfer(held.server, false, 11, HELD_BYTES, 10000),
		  "the receiver reads every held byte, in order");
	ASSERT_OK(tl_daemon_wait_exit(&drain, 40000), "the drain finishes");
	ASSERT_EXIT(drain.status, 0, "sockaccelctl disable in the drain pod");
	ASSERT_FALSE(access(tl_env.pin_dir, F_OK) == 0, "no pin dir after the drain");
	tl_pins_close(&pins);	/* the test's own reference to the map */
	ASSERT_OK(tl_wait_cgroup_detached(&cnt, 5000), "no sockops on the cgroup");
	ASSERT_OK(tl_map_id_wait_gone(map_id, 5000), "the map is gone");
	ASSERT_TRUE(prog_gone(sockops_prog) && prog_gone(msg_prog), "the programs are gone");
	ASSERT_OK(tl_xfer(held.client, true, 12, 1 << 20, 10000) ||
		  tl_xfer(held.server, false, 12, 1 << 20, 10000),
		  "the drained connection goes on over TCP");
cleanup:
	if (tl_failures()) {
		tl_daemon_dump(&d1);
		tl_daemon_dump(&d2);
		tl_daemon_dump(&drain);
	}
	free(out);
	tl_pair_close(&open_pair);
	tl_pair_close(&held);
	tl_pins_close(&pins);
	tl_daemon_release(&drain);
	tl_daemon_release(&d2);
	tl_daemon_release(&d1);
	return tl_finish();
}

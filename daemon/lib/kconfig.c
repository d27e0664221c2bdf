// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <zlib.h>

#include "kconfig.h"

char sa_kconfig_scan_line(const char *line, const char *option)
{
	size_t n = strlen(option);

	if (strncmp(line, option, n) == 0 && line[n] == '=')
		return line[n + 1] == 'y' || line[n + 1] == 'm' ? line[n + 1] : 'n';
	if (strncmp(line, "# ", 2) == 0 && strncmp(line + 2, option, n) == 0 &&
	    strncmp(line + 2 + n, " is not set", 11) == 0)
		return 'n';
	return 0;
}

/* gzopen also reads an uncompressed file transparently. */
static int scan_file(const char *path, const char *option, char *val)
{
	char line[512];
	gzFile f = gzopen(path, "r");

	if (!f)
		return -1;
	*val = 'n';
	while (gzgets(f, line, sizeof(line))) {
		char v = sa_kconfig_scan_line(line, option);

		if (v) {
			*val = v;
			break;
		}
	}
	gzclose(f);
	return 0;
}

char sa_kconfig_get(const char *option, char *source, size_t source_len)
{
	char boot[300];
	struct utsname u;
	char val = 0;

	if (scan_file("/proc/config.gz", option, &val) == 0) {
		if (source)
			snprintf(source, source_len, "/proc/config.gz");
		return val;
	}
	if (uname(&u) == 0) {
		snprintf(boot, sizeof(boot), "/boot/config-%s", u.release);
		if (scan_file(boot, option, &val) == 0) {
			if (source)
				snprintf(source, source_len, "%s", boot);
			return val;
		}
	}
	return 0;
}

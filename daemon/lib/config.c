// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A small strict parser for sockaccel.conf: every error names the file,
 * the line, the key and what would have been accepted. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "sockaccel.h"
#include "config.h"
#include "parse.h"
#include "pins.h"

struct ctx {
	const char *file;
	unsigned int line;
	const char *key;
	char *err;
	size_t len;
};

__attribute__((format(printf, 3, 4)))
static int bad(struct ctx *x, const char *accepted, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (x->line)
		snprintf(x->err, x->len, "%s:%u: key '%s': %s; accepted: %s", x->file, x->line,
			 x->key ? x->key : "", what, accepted);
	else	/* a value from outside the file (a command-line option) */
		snprintf(x->err, x->len, "%s: %s; accepted: %s", x->file, what, accepted);
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

void sa_config_defaults(struct sa_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", SA_PIN_DIR_DEFAULT);
	c->max_conns = SA_MAX_CONNS_DEFAULT;
	c->ipv6 = true;
}

#define PATH_ACCEPTED "an absolute path"

static int parse_path(struct ctx *x, const char *v, char *out)
{
	int ret = sa_parse_abs_path(v, out);

	if (ret == -EINVAL)
		return bad(x, PATH_ACCEPTED, "'%s' is not absolute", v);
	if (ret)
		return bad(x, PATH_ACCEPTED, "too long");
	return 0;
}

#define PORTS_ACCEPTED "comma-separated ports and ranges 1-65535, e.g. 6379, 8000-8100"

static int parse_port(struct ctx *x, const char *s, __u16 *out)
{
	__u32 v;

	if (sa_parse_u32(s, 1, 65535, &v))
		return bad(x, PORTS_ACCEPTED, "'%s' is not a port", s);
	*out = (__u16)v;
	return 0;
}

static int parse_ports(struct ctx *x, char *v, struct sa_port_range *r, unsigned int *n)
{
	char *tok;

	*n = 0;
	/* strsep, not strtok: "80,,81" has an empty element, which is an error */
	while ((tok = strsep(&v, ","))) {
		char *dash;

		tok = trim(tok);
		if (*n >= SA_PORT_RANGES_MAX)
			return bad(x, PORTS_ACCEPTED, "more than %d entries", SA_PORT_RANGES_MAX);
		dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		if (parse_port(x, trim(tok), &r[*n].lo))
			return -EINVAL;
		r[*n].hi = r[*n].lo;
		if (dash && parse_port(x, trim(dash + 1), &r[*n].hi))
			return -EINVAL;
		if (r[*n].hi < r[*n].lo)
			return bad(x, PORTS_ACCEPTED, "range %u-%u is backwards", r[*n].lo, r[*n].hi);
		(*n)++;
	}
	if (*n == 0)
		return bad(x, PORTS_ACCEPTED, "empty list");
	return 0;
}

#define CIDRS_ACCEPTED "comma-separated IPv4 or IPv6 prefixes, e.g. 172.17.0.0/16, fd00::/8"

static int parse_cidrs(struct ctx *x, char *v, struct sa_cidr *c, unsigned int *n)
{
	char *tok;

	*n = 0;
	while ((tok = strsep(&v, ","))) {
		struct sa_cidr *e = &c[*n];
		char *slash;
		__u32 max;

		tok = trim(tok);
		if (*n >= SA_CIDRS_MAX)
			return bad(x, CIDRS_ACCEPTED, "more than %d entries", SA_CIDRS_MAX);
		memset(e, 0, sizeof(*e));
		slash = strchr(tok, '/');
		if (slash)
			*slash = '\0';
		if (inet_pton(AF_INET, tok, e->addr) == 1) {
			e->family = SA_AF_INET;
			max = 32;
		} else if (inet_pton(AF_INET6, tok, e->addr) == 1) {
			e->family = SA_AF_INET6;
			max = 128;
		} else {
			return bad(x, CIDRS_ACCEPTED, "'%s' is not an address", tok);
		}
		e->prefixlen = max;
		if (slash && sa_parse_u32(trim(slash + 1), 0, max, &e->prefixlen))
			return bad(x, CIDRS_ACCEPTED, "prefix length '%s' is not 0..%u", slash + 1,
				   max);
		(*n)++;
	}
	if (*n == 0)
		return bad(x, CIDRS_ACCEPTED, "empty list");
	return 0;
}

static int parse_bool(struct ctx *x, const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return bad(x, "yes, no, true, false, on, off, 1, 0", "'%s' is not a boolean", v);
	return 0;
}

/* "auto" (0) or bytes from 64 KiB to 1 GiB. */
static int parse_limit(struct ctx *x, const char *v, __u32 *out)
{
	if (!strcmp(v, "auto")) {
		*out = 0;
		return 0;
	}
	if (sa_parse_u32(v, 65536, 1u << 30, out))
		return bad(x, "auto, or bytes from 65536 to 1073741824", "'%s' is out of range", v);
	return 0;
}

#define LISTEN_ACCEPTED "off, or ADDRESS:PORT with an IPv4 address or a bracketed IPv6 one, " \
	"e.g. 127.0.0.1:9465, [::1]:9465"

/* "off", "a.b.c.d:port" or "[v6]:port"; the port 1-65535. */
static int parse_listen(struct ctx *x, char *v, struct sa_listen *l)
{
	char *host = v, *colon;
	__u32 port;

	memset(l, 0, sizeof(*l));
	if (!strcmp(v, "off"))
		return 0;
	colon = strrchr(v, ':');
	if (!colon)
		return bad(x, LISTEN_ACCEPTED, "'%s' has no port", v);
	*colon = '\0';
	if (sa_parse_u32(colon + 1, 1, 65535, &port))
		return bad(x, LISTEN_ACCEPTED, "'%s' is not a port", colon + 1);
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 2 || host[n - 1] != ']')
			return bad(x, LISTEN_ACCEPTED, "'%s' lacks its closing ']'", host);
		host[n - 1] = '\0';
		host++;
		if (inet_pton(AF_INET6, host, l->addr) != 1)
			return bad(x, LISTEN_ACCEPTED, "'%s' is not an IPv6 address", host);
		l->family = AF_INET6;
	} else if (inet_pton(AF_INET, host, l->addr) == 1) {
		l->family = AF_INET;
	} else {
		return bad(x, LISTEN_ACCEPTED, "'%s' is not an IPv4 address (IPv6 goes in [])",
			   host);
	}
	l->port = (__u16)port;
	return 0;
}

int sa_listen_parse(const char *text, const char *origin, struct sa_listen *l, char *err,
		    size_t len)
{
	struct ctx x = { .file = origin, .key = "metrics_listen", .err = err, .len = len };
	char v[64];

	if (snprintf(v, sizeof(v), "%s", text) >= (int)sizeof(v))
		return bad(&x, LISTEN_ACCEPTED, "'%s' is too long", text);
	return parse_listen(&x, v, l);
}

void sa_listen_format(const struct sa_listen *l, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (!l->family) {
		snprintf(buf, len, "off");
		return;
	}
	inet_ntop((int)l->family, l->addr, a, sizeof(a));
	snprintf(buf, len, l->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, l->port);
}

#define KEYS "cgroup, pin_dir, max_conns, ports, exclude_ports, local_cidrs, ipv6, queue_limit, " \
	"memory_bound, flow_limit, metrics_listen"

int sa_config_parse(FILE *f, const char *name, struct sa_config *c, char *err, size_t len)
{
	struct ctx x = { .file = name, .err = err, .len = len };
	unsigned int seen = 0;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;

	while (getline(&line, &cap, f) >= 0) {
		char *s, *eq, *key, *val;
		unsigned int bit;

		x.line++;
		x.key = NULL;
		s = line;
		s[strcspn(s, "#")] = '\0';
		s = trim(s);
		if (!*s)
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			ret = bad(&x, "key = value", "'%s' is not a setting", s);
			break;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		x.key = key;
		if (!*val) {
			ret = bad(&x, "a value after '='", "no value");
			break;
		}
		if (!strcmp(key, "cgroup")) {
			bit = 1;
			ret = parse_path(&x, val, c->cgroup);
		} else if (!strcmp(key, "pin_dir")) {
			bit = 2;
			ret = parse_path(&x, val, c->pin_dir);
		} else if (!strcmp(key, "max_conns")) {
			bit = 4;
			if (sa_parse_u32(val, SA_MAX_CONNS_MIN, SA_MAX_CONNS_MAX, &c->max_conns))
				ret = bad(&x, "a number from 2 to 4194304", "'%s' is out of range",
					  val);
		} else if (!strcmp(key, "ports")) {
			bit = 8;
			ret = parse_ports(&x, val, c->ports, &c->n_ports);
		} else if (!strcmp(key, "exclude_ports")) {
			bit = 16;
			ret = parse_ports(&x, val, c->exclude, &c->n_exclude);
		} else if (!strcmp(key, "local_cidrs")) {
			bit = 32;
			ret = parse_cidrs(&x, val, c->cidrs, &c->n_cidrs);
		} else if (!strcmp(key, "queue_limit")) {
			bit = 128;
			ret = parse_limit(&x, val, &c->queue_limit);
		} else if (!strcmp(key, "flow_limit")) {
			bit = 512;
			ret = parse_limit(&x, val, &c->flow_limit);
		} else if (!strcmp(key, "memory_bound")) {
			bit = 256;
			if (!strcmp(val, "auto"))
				c->unbounded = false;
			else if (!strcmp(val, "off"))
				c->unbounded = true;
			else
				ret = bad(&x, "auto, off", "'%s' is not a memory bound mode", val);
		} else if (!strcmp(key, "metrics_listen")) {
			bit = 1024;
			ret = parse_listen(&x, val, &c->metrics_listen);
		} else if (!strcmp(key, "ipv6")) {
			bit = 64;
			ret = parse_bool(&x, val, &c->ipv6);
		} else {
			ret = bad(&x, KEYS, "unknown key");
			break;
		}
		if (ret)
			break;
		if (seen & bit) {
			ret = bad(&x, "each key once", "set twice");
			break;
		}
		seen |= bit;
	}
	free(line);
	return ret;
}

int sa_config_load(const char *path, bool must_exist, struct sa_config *c, char *err,
		   size_t len)
{
	FILE *f;
	int ret;

	sa_config_defaults(c);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		ret = -errno;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = sa_config_parse(f, path, c, err, len);
	fclose(f);
	return ret;
}

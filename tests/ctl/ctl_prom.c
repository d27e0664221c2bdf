// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Prometheus text format checker for the sockaccelctl tests; see ctl_prom.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_prom.h"

#define PROM_LINE_MAX 4096

struct family {
	char *name;
	char *type;	/* NULL until its # TYPE line */
	bool help;
	bool samples;	/* a sample was seen */
	bool closed;	/* another metric's lines followed */
};

struct state {
	struct family *f;
	size_t nf;
	size_t cur;	/* family of the previous line, or (size_t)-1 */
	struct prom *p;
	char *err;
	size_t errlen;
	size_t line;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct state *s, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(s->err, s->errlen, "line %zu: %s", s->line, msg);
	return -EINVAL;
}

static bool name_start(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static bool name_char(char c, bool colon)
{
	return name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Length of the metric (@colon) or label name at @s; 0 if none. */
static size_t name_len(const char *s, bool colon)
{
	size_t n = 0;

	if (!name_start(s[0], colon))
		return 0;
	while (name_char(s[n], colon))
		n++;
	return n;
}

/* A Go ParseFloat-style value: a decimal float, NaN, +Inf or -Inf. */
static bool parse_value(const char *s, size_t n, double *out)
{
	char buf[64], *end;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strcmp(buf, "NaN") == 0) {
		*out = NAN;
		return true;
	}
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0) {
		*out = buf[0] == '+' ? INFINITY : -INFINITY;
		return true;
	}
	/* strtod also takes hex, "inf", "nan(...)", leading blanks: refuse those */
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", buf[i]))
			return false;
	errno = 0;
	*out = strtod(buf, &end);
	return *end == '\0' && end != buf && errno == 0;
}

static struct family *family_get(struct state *s, const char *name, size_t len, size_t *idx)
{
	struct family *tmp;

	for (size_t i = 0; i < s->nf; i++) {
		if (strlen(s->f[i].name) == len && memcmp(s->f[i].name, name, len) == 0) {
			*idx = i;
			return &s->f[i];
		}
	}
	tmp = realloc(s->f, (s->nf + 1) * sizeof(*tmp));
	if (!tmp)
		return NULL;
	s->f = tmp;
	memset(&s->f[s->nf], 0, sizeof(s->f[0]));
	s->f[s->nf].name = strndup(name, len);
	if (!s->f[s->nf].name)
		return NULL;
	*idx = s->nf;
	return &s->f[s->nf++];
}

/* Lines of one family must be contiguous. */
static int enter_family(struct state *s, size_t idx)
{
	if (s->cur != idx) {
		if (s->f[idx].closed)
			return bad(s, "lines of metric %s are not contiguous", s->f[idx].name);
		if (s->cur != (size_t)-1)
			s->f[s->cur].closed = true;
		s->cur = idx;
	}
	return 0;
}

static int comment_line(struct state *s, const char *l)
{
	const char *kw = l + 1, *name;
	size_t nl, idx;
	struct family *f;
	bool help;

	while (*kw == ' ' || *kw == '\t')
		kw++;
	if (strncmp(kw, "HELP ", 5) != 0 && strncmp(kw, "TYPE ", 5) != 0)
		return 0;	/* a plain comment */
	help = kw[0] == 'H';
	name = kw + 5;
	while (*name == ' ' || *name == '\t')
		name++;
	nl = name_len(name, true);
	if (!nl)
		return bad(s, "# %s without a valid metric name", help ? "HELP" : "TYPE");
	if (name[nl] != '\0' && name[nl] != ' ' && name[nl] != '\t')
		return bad(s, "invalid metric name in # %s", help ? "HELP" : "TYPE");
	f = family_get(s, name, nl, &idx);
	if (!f)
		return bad(s, "out of memory");
	if (enter_family(s, idx))
		return -EINVAL;
	if (help) {
		if (f->help)
			return bad(s, "second # HELP for %s", f->name);
		f->help = true;
		return 0;
	}
	{
		const char *t = name + nl;
		static const char *const types[] = { "counter", "gauge", "histogram", "summary",
						     "untyped" };
		bool known = false;

		while (*t == ' ' || *t == '\t')
			t++;
		for (unsigned int i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			known |= strcmp(t, types[i]) == 0;
		if (!known)
			return bad(s, "# TYPE %s has unknown type '%s'", f->name, t);
		if (f->type)
			return bad(s, "second # TYPE for %s", f->name);
		if (f->samples)
			return bad(s, "# TYPE for %s after its samples", f->name);
		f->type = strdup(t);
		if (!f->type)
			return bad(s, "out of memory");
		if (strcmp(t, "counter") == 0 &&
		    (nl < 6 || memcmp(name + nl - 6, "_total", 6) != 0))
			return bad(s, "counter %s does not end in _total", f->name);
	}
	return 0;
}

/* Labels: {name="value",...} with \\, \" and \n escapes; returns the
 * length up to and including '}', or 0 on error. */
static size_t labels_len(struct state *s, const char *l)
{
	const char *p = l + 1;

	for (;;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '}')
			return (size_t)(p + 1 - l);
		n = name_len(p, false);
		if (!n)
			return bad(s, "invalid label name"), 0;
		p += n;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			return bad(s, "expected '=' after a label name"), 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '"')
			return bad(s, "expected a quoted label value"), 0;
		while (*p && *p != '"') {
			if (*p == '\\') {
				if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
					return bad(s, "invalid escape in a label value"), 0;
				p++;
			}
			p++;
		}
		if (*p++ != '"')
			return bad(s, "unterminated label value"), 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return bad(s, "expected ',' or '}' in the labels"), 0;
	}
}

static const char *const suffixes[] = { "_bucket", "_sum", "_count" };

static int sample_line(struct state *s, const char *l)
{
	size_t nl = name_len(l, true), ll = 0, idx = 0, vlen;
	const char *p = l + nl, *v;
	struct family *f = NULL;
	struct prom_sample *tmp, *smp;
	double value, ts;

	if (!nl)
		return bad(s, "a sample line without a valid metric name: '%.60s'", l);
	if (*p == '{') {
		ll = labels_len(s, p);
		if (!ll)
			return -EINVAL;
		p += ll;
	}
	if (*p != ' ' && *p != '\t')
		return bad(s, "no blank between the metric name and its value");
	while (*p == ' ' || *p == '\t')
		p++;
	v = p;
	vlen = strcspn(v, " \t");
	if (!parse_value(v, vlen, &value))
		return bad(s, "value '%.*s' of %.*s is not a number", (int)vlen, v, (int)nl, l);
	p = v + vlen;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p) {
		size_t tl = strcspn(p, " \t");

		if (!parse_value(p, tl, &ts) || strspn(p + tl, " \t") != strlen(p + tl))
			return bad(s, "garbage after the value: '%.60s'", p);
	}

	/* its family: the exact name, or a histogram/summary's suffixed sample */
	for (size_t i = 0; i < s->nf && !f; i++)
		if (strlen(s->f[i].name) == nl && memcmp(s->f[i].name, l, nl) == 0)
			f = &s->f[i], idx = i;
	for (unsigned int k = 0; !f && k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
		size_t sl = strlen(suffixes[k]);

		if (nl <= sl || memcmp(l + nl - sl, suffixes[k], sl) != 0)
			continue;
		for (size_t i = 0; i < s->nf && !f; i++)
			if (strlen(s->f[i].name) == nl - sl && memcmp(s->f[i].name, l, nl - sl) == 0 &&
			    s->f[i].type && (strcmp(s->f[i].type, "histogram") == 0 ||
					     strcmp(s->f[i].type, "summary") == 0))
				f = &s->f[i], idx = i;
	}
	if (!f || !f->help || !f->type)
		return bad(s, "sample %.*s without a preceding # HELP and # TYPE", (int)nl, l);
	if (enter_family(s, idx))
		return -EINVAL;
	f->samples = true;
	if (strcmp(f->type, "counter") == 0 && !(value >= 0))
		return bad(s, "counter %s has value %g", f->name, value);

	for (size_t i = 0; i < s->p->n; i++)
		if (strlen(s->p->v[i].name) == nl && memcmp(s->p->v[i].name, l, nl) == 0 &&
		    strlen(s->p->v[i].labels) == (ll ? ll - 2 : 0) &&
		    memcmp(s->p->v[i].labels, l + nl + 1, ll ? ll - 2 : 0) == 0)
			return bad(s, "sample %.*s appears twice", (int)nl, l);
	tmp = realloc(s->p->v, (s->p->n + 1) * sizeof(*tmp));
	if (!tmp)
		return bad(s, "out of memory");
	s->p->v = tmp;
	smp = &s->p->v[s->p->n];
	smp->name = strndup(l, nl);
	smp->labels = ll ? strndup(l + nl + 1, ll - 2) : strdup("");
	smp->type = strdup(f->type);
	smp->value = value;
	if (!smp->name || !smp->labels || !smp->type) {
		free(smp->name);
		free(smp->labels);
		free(smp->type);
		return bad(s, "out of memory");
	}
	s->p->n++;
	return 0;
}

int prom_parse(const char *buf, size_t len, struct prom *p, char *err, size_t errlen)
{
	struct state s = { .cur = (size_t)-1, .p = p, .err = err, .errlen = errlen };
	const char *l = buf, *end = buf + len;
	char line[PROM_LINE_MAX];
	int ret = 0;

	memset(p, 0, sizeof(*p));
	if (errlen)
		err[0] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "empty output");
		return -EINVAL;
	}
	while (l < end && !ret) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		size_t n;

		s.line++;
		if (!nl) {
			ret = bad(&s, "the last line does not end with a newline (truncated?)");
			break;
		}
		n = (size_t)(nl - l);
		if (n >= sizeof(line)) {
			ret = bad(&s, "line longer than %d bytes", PROM_LINE_MAX);
			break;
		}
		memcpy(line, l, n);
		line[n] = '\0';
		if (memchr(l, '\0', n))
			ret = bad(&s, "NUL byte in the line");
		else if (strspn(line, " \t") == n)
			;	/* blank lines are allowed */
		else if (line[0] == '#')
			ret = comment_line(&s, line);
		else
			ret = sample_line(&s, line);
		l = nl + 1;
	}
	for (size_t i = 0; i < s.nf; i++) {
		if (!ret && !s.f[i].samples)
			ret = bad(&s, "# HELP/# TYPE for %s but no sample", s.f[i].name);
		free(s.f[i].name);
		free(s.f[i].type);
	}
	free(s.f);
	if (ret)
		prom_free(p);
	return ret;
}

void prom_free(struct prom *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].labels);
		free(p->v[i].type);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

const struct prom_sample *prom_find(const struct prom *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return &p->v[i];
	return NULL;
}

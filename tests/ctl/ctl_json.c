// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Strict JSON parser for the sockaccelctl tests; see ctl_json.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_json.h"

struct parser {
	const unsigned char *p, *start, *end;
	unsigned int depth;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void fail(struct parser *ps, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "at byte %zu of %zu: %s", (size_t)(ps->p - ps->start),
		 (size_t)(ps->end - ps->start), msg);
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct cj *new_value(struct parser *ps, enum cj_type t)
{
	struct cj *v = calloc(1, sizeof(*v));

	if (!v)
		fail(ps, "out of memory");
	else
		v->type = t;
	return v;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
		fail(ps, (size_t)(ps->end - ps->p) < n && memcmp(ps->p, word, (size_t)(ps->end - ps->p)) == 0
			 ? "truncated literal '%s'" : "invalid literal (expected '%s')", word);
		return false;
	}
	ps->p += n;
	return true;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static struct cj *parse_number(struct parser *ps)
{
	const unsigned char *s = ps->p;
	struct cj *v;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end) {
		fail(ps, "truncated number");
		return NULL;
	}
	if (*ps->p == '0') {
		ps->p++;
		if (ps->p < ps->end && is_digit(*ps->p)) {
			fail(ps, "leading zero in a number");
			return NULL;
		}
	} else if (is_digit(*ps->p)) {
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	} else {
		fail(ps, "invalid number");
		return NULL;
	}
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (ps->p >= ps->end || !is_digit(*ps->p)) {
			fail(ps, "no digit after the decimal point");
			return NULL;
		}
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || !is_digit(*ps->p)) {
			fail(ps, "no digit in the exponent");
			return NULL;
		}
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	v = new_value(ps, CJ_NUM);
	if (!v)
		return NULL;
	v->text = strndup((const char *)s, (size_t)(ps->p - s));
	if (!v->text) {
		free(v);
		fail(ps, "out of memory");
		return NULL;
	}
	v->d = strtod(v->text, NULL);
	return v;
}

static int hex4(struct parser *ps, unsigned int *out)
{
	unsigned int v = 0;

	if (ps->end - ps->p < 4) {
		fail(ps, "truncated \\u escape");
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		unsigned char c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else {
			ps->p--;
			fail(ps, "invalid hex digit in \\u escape");
			return -1;
		}
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned int cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* At the opening quote; returns the decoded string (malloc'd) and its length. */
static char *parse_string_raw(struct parser *ps, size_t *outlen)
{
	/* decoded text is never longer than the escaped text */
	size_t cap = 1, n = 0;
	const unsigned char *q;
	char *o;

	ps->p++;	/* the opening quote */
	for (q = ps->p; q < ps->end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < ps->end)
			q++;
	cap += (size_t)(q - ps->p);
	o = malloc(cap);
	if (!o) {
		fail(ps, "out of memory");
		return NULL;
	}
	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end) {
			fail(ps, "truncated string (no closing quote)");
			goto bad;
		}
		c = *ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c < 0x20) {
			fail(ps, "raw control character 0x%02x in a string", c);
			goto bad;
		}
		if (c == '\\') {
			unsigned int cp, lo;

			ps->p++;
			if (ps->p >= ps->end) {
				fail(ps, "truncated escape");
				goto bad;
			}
			c = *ps->p++;
			switch (c) {
			case '"': o[n++] = '"'; break;
			case '\\': o[n++] = '\\'; break;
			case '/': o[n++] = '/'; break;
			case 'b': o[n++] = '\b'; break;
			case 'f': o[n++] = '\f'; break;
			case 'n': o[n++] = '\n'; break;
			case 'r': o[n++] = '\r'; break;
			case 't': o[n++] = '\t'; break;
			case 'u':
				if (hex4(ps, &cp))
					goto bad;
				if (cp >= 0xdc00 && cp <= 0xdfff) {
					fail(ps, "lone low surrogate \\u%04x", cp);
					goto bad;
				}
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
						fail(ps, "high surrogate \\u%04x without its low half", cp);
						goto bad;
					}
					ps->p += 2;
					if (hex4(ps, &lo))
						goto bad;
					if (lo < 0xdc00 || lo > 0xdfff) {
						fail(ps, "high surrogate followed by \\u%04x", lo);
						goto bad;
					}
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				n += put_utf8(o + n, cp);
				break;
			default:
				ps->p--;
				fail(ps, "invalid escape '\\%c'", c);
				goto bad;
			}
			continue;
		}
		{
			size_t l = utf8_len(ps->p, ps->end);

			if (!l) {
				fail(ps, "invalid UTF-8 in a string");
				goto bad;
			}
			memcpy(o + n, ps->p, l);
			n += l;
			ps->p += l;
		}
	}
	o[n] = '\0';
	*outlen = n;
	return o;
bad:
	free(o);
	return NULL;
}

static struct cj *parse_value(struct parser *ps);

static bool push(struct parser *ps, struct cj *v, struct cj *item, char *key)
{
	struct cj **items = realloc(v->items, (v->n + 1) * sizeof(*items));
	char **keys;

	if (!items) {
		fail(ps, "out of memory");
		return false;
	}
	v->items = items;
	if (v->type == CJ_OBJ) {
		keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));
		if (!keys) {
			fail(ps, "out of memory");
			return false;
		}
		v->keys = keys;
		v->keys[v->n] = key;
	}
	v->items[v->n++] = item;
	return true;
}

static struct cj *parse_container(struct parser *ps, bool object)
{
	char close = object ? '}' : ']';
	struct cj *v = new_value(ps, object ? CJ_OBJ : CJ_ARR);

	if (!v)
		return NULL;
	if (++ps->depth > CJ_DEPTH_MAX) {
		fail(ps, "nesting deeper than %d", CJ_DEPTH_MAX);
		goto bad;
	}
	ps->p++;	/* '{' or '[' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct cj *item;
		size_t klen;

		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end) {
				fail(ps, "truncated object (expected a key)");
				goto bad;
			}
			if (*ps->p != '"') {
				fail(ps, "expected a string key, found '%c'", *ps->p);
				goto bad;
			}
			key = parse_string_raw(ps, &klen);
			if (!key)
				goto bad;
			if (strlen(key) != klen) {
				fail(ps, "object key contains \\u0000");
				free(key);
				goto bad;
			}
			for (size_t i = 0; i < v->n; i++) {
				if (strcmp(v->keys[i], key) == 0) {
					fail(ps, "duplicate key \"%s\"", key);
					free(key);
					goto bad;
				}
			}
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				fail(ps, ps->p >= ps->end ? "truncated object (expected ':')"
							  : "expected ':' after a key");
				free(key);
				goto bad;
			}
			ps->p++;
		}
		item = parse_value(ps);
		if (!item) {
			free(key);
			goto bad;
		}
		if (!push(ps, v, item, key)) {
			cj_free(item);
			free(key);
			goto bad;
		}
		skip_ws(ps);
		if (ps->p >= ps->end) {
			fail(ps, "truncated %s", object ? "object" : "array");
			goto bad;
		}
		if (*ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			if (ps->p < ps->end && *ps->p == close) {
				fail(ps, "trailing comma");
				goto bad;
			}
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			break;
		}
		fail(ps, "expected ',' or '%c', found '%c'", close, *ps->p);
		goto bad;
	}
	ps->depth--;
	return v;
bad:
	cj_free(v);
	return NULL;
}

static struct cj *parse_value(struct parser *ps)
{
	struct cj *v;

	skip_ws(ps);
	if (ps->p >= ps->end) {
		fail(ps, "truncated: expected a value");
		return NULL;
	}
	switch (*ps->p) {
	case '{':
		return parse_container(ps, true);
	case '[':
		return parse_container(ps, false);
	case '"':
		v = new_value(ps, CJ_STR);
		if (!v)
			return NULL;
		v->text = parse_string_raw(ps, &v->len);
		if (!v->text) {
			free(v);
			return NULL;
		}
		return v;
	case 't':
	case 'f': {
		bool is_true = *ps->p == 't';

		if (!literal(ps, is_true ? "true" : "false"))
			return NULL;
		v = new_value(ps, CJ_BOOL);
		if (v)
			v->b = is_true;
		return v;
	}
	case 'n':
		if (!literal(ps, "null"))
			return NULL;
		return new_value(ps, CJ_NULL);
	default:
		if (*ps->p == '-' || is_digit(*ps->p))
			return parse_number(ps);
		fail(ps, "unexpected character '%c' (0x%02x)", *ps->p >= 0x20 && *ps->p < 0x7f ?
		     *ps->p : '?', *ps->p);
		return NULL;
	}
}

struct cj *cj_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct parser ps = { .p = (const unsigned char *)buf, .start = (const unsigned char *)buf,
			     .end = (const unsigned char *)buf + len, .err = err, .errlen = errlen };
	struct cj *v;

	if (errlen)
		err[0] = '\0';
	v = parse_value(&ps);
	if (!v)
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fail(&ps, "trailing garbage after the value ('%c')",
		     *ps.p >= 0x20 && *ps.p < 0x7f ? *ps.p : '?');
		cj_free(v);
		return NULL;
	}
	return v;
}

void cj_free(struct cj *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		cj_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->text);
	free(v);
}

int cj_parse_lines(const char *buf, size_t len, struct cj ***out, size_t *n, char *err,
		   size_t errlen)
{
	struct cj **v = NULL, **tmp;
	size_t cnt = 0, line = 0;
	const char *p = buf, *end = buf + len;

	*out = NULL;
	*n = 0;
	if (errlen)
		err[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char sub[256];
		struct cj *one;

		line++;
		if (!nl) {
			snprintf(err, errlen, "line %zu: not terminated by a newline (truncated?)",
				 line);
			goto bad;
		}
		if (nl == p) {
			snprintf(err, errlen, "line %zu: empty", line);
			goto bad;
		}
		one = cj_parse(p, (size_t)(nl - p), sub, sizeof(sub));
		if (!one) {
			snprintf(err, errlen, "line %zu: %s", line, sub);
			goto bad;
		}
		tmp = realloc(v, (cnt + 1) * sizeof(*v));
		if (!tmp) {
			cj_free(one);
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
		v = tmp;
		v[cnt++] = one;
		p = nl + 1;
	}
	*out = v;
	*n = cnt;
	return 0;
bad:
	cj_lines_free(v, cnt);
	return -EINVAL;
}

void cj_lines_free(struct cj **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cj_free(v[i]);
	free(v);
}

const char *cj_type_name(enum cj_type t)
{
	static const char *const names[] = { "null", "boolean", "number", "string", "array",
					     "object" };

	return (unsigned int)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const struct cj *cj_get(const struct cj *v, const char *key)
{
	if (!v || v->type != CJ_OBJ)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return v->items[i];
	return NULL;
}

const struct cj *cj_path(const struct cj *v, const char *path)
{
	char key[128];

	while (v && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		v = cj_get(v, key);
		path += n;
		if (*path == '.')
			path++;
	}
	return v;
}

const char *cj_str(const struct cj *v)
{
	return v && v->type == CJ_STR ? v->text : NULL;
}

int cj_u64(const struct cj *v, __u64 *out)
{
	__u64 x = 0;

	if (!v || v->type != CJ_NUM)
		return -EINVAL;
	for (const char *c = v->text; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;	/* sign, fraction or exponent */
		if (x > (~0ULL - (__u64)(*c - '0')) / 10)
			return -ERANGE;
		x = x * 10 + (__u64)(*c - '0');
	}
	*out = x;
	return 0;
}

int cj_bool(const struct cj *v, bool *out)
{
	if (!v || v->type != CJ_BOOL)
		return -EINVAL;
	*out = v->b;
	return 0;
}

bool cj_array_has_substr(const struct cj *v, const char *needle)
{
	if (!v || v->type != CJ_ARR)
		return false;
	for (size_t i = 0; i < v->n; i++)
		if (cj_str(v->items[i]) && strstr(v->items[i]->text, needle))
			return true;
	return false;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The sockaccelctl tests' JSON checks on top of jansson; see ctl_json.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ctl_json.h"

/* jansson's value as our tree; NULL when out of memory. */
static struct cj *from_jansson(json_t *j)
{
	struct cj *v = calloc(1, sizeof(*v));
	char num[64];

	if (!v)
		return NULL;
	switch (json_typeof(j)) {
	case JSON_NULL:
		v->type = CJ_NULL;
		return v;
	case JSON_TRUE:
	case JSON_FALSE:
		v->type = CJ_BOOL;
		v->b = json_is_true(j);
		return v;
	case JSON_INTEGER:
		v->type = CJ_NUM;
		v->d = (double)json_integer_value(j);
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		v->text = strdup(num);
		break;
	case JSON_REAL:
		v->type = CJ_NUM;
		v->d = json_real_value(j);
		/* '#': always a '.', so cj_u64 refuses 1e3 as it was written */
		snprintf(num, sizeof(num), "%#.17g", v->d);
		v->text = strdup(num);
		break;
	case JSON_STRING:
		v->type = CJ_STR;
		v->len = json_string_length(j);
		v->text = malloc(v->len + 1);
		if (v->text) {
			memcpy(v->text, json_string_value(j), v->len);
			v->text[v->len] = '\0';
		}
		break;
	case JSON_ARRAY: {
		json_t *item;
		size_t i;

		v->type = CJ_ARR;
		v->items = calloc(json_array_size(j) + 1, sizeof(*v->items));
		if (!v->items)
			goto oom;
		json_array_foreach(j, i, item) {
			v->items[i] = from_jansson(item);
			if (!v->items[i])
				goto oom;
			v->n++;
		}
		return v;
	}
	case JSON_OBJECT: {
		size_t cnt = json_object_size(j) + 1;
		const char *key;
		json_t *item;

		v->type = CJ_OBJ;
		v->items = calloc(cnt, sizeof(*v->items));
		v->keys = calloc(cnt, sizeof(*v->keys));
		if (!v->items || !v->keys)
			goto oom;
		json_object_foreach(j, key, item) {
			v->keys[v->n] = strdup(key);
			v->items[v->n] = from_jansson(item);
			if (!v->keys[v->n] || !v->items[v->n]) {
				free(v->keys[v->n]);
				cj_free(v->items[v->n]);
				goto oom;
			}
			v->n++;
		}
		return v;
	}
	}
	if (v->text)
		return v;
oom:
	cj_free(v);
	return NULL;
}

struct cj *cj_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	/* DECODE_ANY: a bare scalar is a JSON text too (RFC 8259) */
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL;
	json_error_t e;
	struct cj *v;
	json_t *j;

	j = json_loadb(buf, len, flags, &e);
	if (!j) {
		snprintf(err, errlen, "at byte %d (line %d, column %d): %s", e.position, e.line,
			 e.column, e.text);
		return NULL;
	}
	v = from_jansson(j);
	json_decref(j);
	if (!v)
		snprintf(err, errlen, "out of memory");
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

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SA_PARSE_H
#define SA_PARSE_H

#include <linux/types.h>

/* The small parsers the command lines and sockaccel.conf share; each caller
 * words its own error around the errno these return. */

/* Strict decimal in [min, max]; -EINVAL or -ERANGE otherwise. */
int sa_parse_u32(const char *s, __u32 min, __u32 max, __u32 *out);

/*
 * @s as an absolute path without trailing slashes, into @out (PATH_MAX).
 * -EINVAL when it is not absolute; -ENAMETOOLONG when it leaves no room to
 * join a file name to it (pin names are joined to the pin dir).
 */
int sa_parse_abs_path(const char *s, char *out);

#endif

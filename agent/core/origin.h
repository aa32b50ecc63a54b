/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Web origins the local API trusts: the allowlist's canonical form and its rules. */
#ifndef UKEY_ORIGIN_H
#define UKEY_ORIGIN_H

#include <stddef.h>

/* Longest origin accepted ("https://" + a 253-byte host + ":65535"), plus NUL. */
#define UKEY_ORIGIN_MAX 280

/*
 * ukey_origin_normalize: the canonical form of a web origin, as browsers
 * send it in the Origin header: "scheme://host[:port]", scheme http or
 * https, host lower-case, the default port left out, no user, path (other
 * than "/"), query or fragment. Parsed with libcurl's URL API.
 * Returns 0 with the result in out, or -UKEY_E_USAGE for anything else
 * ("null", file://, a path, a wildcard …).
 */
int ukey_origin_normalize(const char *in, char *out, size_t size);

#endif

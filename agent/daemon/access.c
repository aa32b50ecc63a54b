/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The handshake rules and connection limits of ukeyd, without libwebsockets, so unit tests and fuzzers call them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "access.h"
#include "base/err.h"
#include "origin.h"

#define SUBPROTOCOL "ukey.v1"

/* Present, and no NUL byte inside: the copy is as long as what came on the wire. */
static bool present(const struct ukey_access_header *h)
{
	return h->value && h->len > 0;
}

static bool has_nul(const struct ukey_access_header *h)
{
	return h->value && strlen(h->value) != h->len;
}

/* The loopback names the agent may be reached under: an address only where it listens, localhost only on both. */
static size_t own_names(const struct ukey_access_policy *p, const char *names[static 3])
{
	size_t n = 0;

	if (p->ipv4)
		names[n++] = "127.0.0.1";
	if (p->ipv6)
		names[n++] = "[::1]";
	if (p->ipv4 && p->ipv6)
		names[n++] = "localhost";
	return n;
}

static bool host_is_own(const struct ukey_access_policy *p, const char *host, const char *scheme)
{
	const char *names[3];
	size_t n = own_names(p, names);
	char want[64];

	for (size_t i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%s%s:%d", scheme, names[i], p->port);
		if (strcmp(host, want) == 0)
			return true;
	}
	return false;
}

bool ukey_access_host_ok(const struct ukey_access_policy *p, const struct ukey_access_header *host)
{
	return present(host) && !has_nul(host) && host_is_own(p, host->value, "");
}

bool ukey_access_own_origin(const struct ukey_access_policy *p, const char *origin)
{
	return host_is_own(p, origin, "http://");
}

/* Sec-WebSocket-Protocol is a comma-separated list of tokens; ours must be one of them. */
static bool offers_subprotocol(const char *list)
{
	const char *s = list;

	while (*s) {
		size_t n;

		s += strspn(s, " \t,");
		n = strcspn(s, " \t,");
		if (n == strlen(SUBPROTOCOL) && strncmp(s, SUBPROTOCOL, n) == 0)
			return true;
		s += n;
	}
	return false;
}

static int refuse(const char **ret_why, int r, const char *why)
{
	*ret_why = why;
	return r;
}

int ukey_access_check(const struct ukey_access_policy *p, const struct ukey_access_handshake *h, char *ret_origin,
		      size_t size, const char **ret_why)
{
	const struct ukey_access_header *all[] = { &h->path,	&h->host,    &h->origin,  &h->authorization,
						   &h->upgrade, &h->version, &h->protocol };
	char origin[UKEY_ORIGIN_MAX];
	const char *auth;
	size_t token_len;
	int r;

	*ret_why = NULL;
	/* A NUL byte would end the copy early: "Origin: https://a.example\0.evil" must not read as a.example. */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (has_nul(all[i]))
			return refuse(ret_why, -UKEY_E_USAGE, "a NUL byte in a header");
	if (!present(&h->path) || strcmp(h->path.value, "/api") != 0)
		return refuse(ret_why, -EACCES, "path");
	/* RFC 6455 4.1: Upgrade: websocket and version 13; our subprotocol, so nothing else is spoken here. */
	if (!present(&h->upgrade) || strcasecmp(h->upgrade.value, "websocket") != 0)
		return refuse(ret_why, -UKEY_E_USAGE, "not a WebSocket upgrade");
	if (!present(&h->version) || strcmp(h->version.value, "13") != 0)
		return refuse(ret_why, -UKEY_E_USAGE, "WebSocket version not 13");
	if (!present(&h->protocol) || !offers_subprotocol(h->protocol.value))
		return refuse(ret_why, -UKEY_E_USAGE, "no \"" SUBPROTOCOL "\" subprotocol");
	if (!ukey_access_host_ok(p, &h->host))
		return refuse(ret_why, -EACCES, "host");

	if (present(&h->origin)) {
		if (ukey_origin_normalize(h->origin.value, origin, sizeof(origin)) < 0)
			return refuse(ret_why, -EACCES, "origin malformed");
		if (ukey_access_own_origin(p, origin))
			r = UKEY_ACCESS_OWN_PAGE;
		else if (p->origin_allowed && p->origin_allowed(p->userdata, origin) == 1)
			r = UKEY_ACCESS_PAGE;
		else
			return refuse(ret_why, -EACCES, "origin not allowed");
		if (strlen(origin) >= size)
			return refuse(ret_why, -EACCES, "origin too long");
		memcpy(ret_origin, origin, strlen(origin) + 1);
		return r;
	}

	/* No Origin: not a browser. Only a local program that can read the per-user token. */
	auth = present(&h->authorization) ? h->authorization.value : "";
	token_len = p->api_token ? strlen(p->api_token) : 0;
	if (token_len == 0 || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != token_len ||
	    CRYPTO_memcmp(auth + 7, p->api_token, token_len) != 0)
		return refuse(ret_why, -EACCES, "no origin and no valid API token");
	if (size == 0)
		return refuse(ret_why, -EACCES, "origin too long");
	ret_origin[0] = '\0';
	return UKEY_ACCESS_LOCAL;
}

bool ukey_access_share_ok(unsigned total, unsigned group, unsigned own, enum ukey_access_client kind)
{
	if (total >= UKEY_WS_MAX_CONNECTIONS ||
	    group >= (kind == UKEY_ACCESS_LOCAL ? UKEY_WS_MAX_LOCAL : UKEY_WS_MAX_PER_ORIGIN))
		return false;
	/* Everyone but the agent's own page together leaves the reserve free. */
	if (kind != UKEY_ACCESS_OWN_PAGE &&
	    (own > total || total - own >= UKEY_WS_MAX_CONNECTIONS - UKEY_WS_RESERVED_OWN))
		return false;
	return true;
}

static double seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void ukey_access_bucket_init(struct ukey_access_bucket *b, const struct timespec *now)
{
	b->tokens = UKEY_WS_RATE_BURST;
	b->at = *now;
}

bool ukey_access_bucket_take(struct ukey_access_bucket *b, const struct timespec *now)
{
	double dt = seconds(&b->at, now);

	/* A clock that went back (it is monotonic, but be safe) refills nothing. */
	if (dt > 0)
		b->tokens += dt * UKEY_WS_RATE_PER_SEC;
	b->at = *now;
	if (b->tokens > UKEY_WS_RATE_BURST)
		b->tokens = UKEY_WS_RATE_BURST;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

bool ukey_access_bucket_full(const struct ukey_access_bucket *b, const struct timespec *now)
{
	return b->tokens + seconds(&b->at, now) * UKEY_WS_RATE_PER_SEC >= UKEY_WS_RATE_BURST;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who may open ukeyd's API and how much of it one client may hold: the handshake rules as pure functions. */
#ifndef UKEY_ACCESS_H
#define UKEY_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/*
 * Connections (PROTOCOL.md, "Limits"): the whole agent; one web origin;
 * local programs (one group: they proved with the API token that they run
 * as this user, so the limit keeps pages from starving them, not them from
 * anything); kept free for the agent's own page.
 */
#define UKEY_WS_MAX_CONNECTIONS 128
#define UKEY_WS_MAX_PER_ORIGIN 32
#define UKEY_WS_RESERVED_OWN 16
#define UKEY_WS_MAX_LOCAL (UKEY_WS_MAX_CONNECTIONS - UKEY_WS_RESERVED_OWN)
/* Requests per second of one origin, all its connections together (token bucket). */
#define UKEY_WS_RATE_PER_SEC 20
#define UKEY_WS_RATE_BURST 40

/*
 * One request header as the client sent it: value is a NUL-terminated copy
 * (NULL: the header is absent), len its length on the wire. A copy shorter
 * than len held a NUL byte, which would cut the value short.
 */
struct ukey_access_header {
	const char *value;
	size_t len;
};

/* The handshake's request line path and headers. */
struct ukey_access_handshake {
	struct ukey_access_header path, host, origin, authorization, upgrade, version, protocol;
};

/* What the agent serves and trusts. */
struct ukey_access_policy {
	int port;
	bool ipv4, ipv6; /* listening on 127.0.0.1, on [::1] (the agent's own page is trusted only where it listens) */
	const char *api_token; /* what a local program without an Origin presents */
	/* The allowlist (the store): 1 allowed, 0 not, negative: cannot tell (refused). NULL: allows nothing. */
	int (*origin_allowed)(void *userdata, const char *origin);
	void *userdata;
};

/* Who a handshake that passed is. */
enum ukey_access_client {
	UKEY_ACCESS_LOCAL = 0, /* no Origin, the API token: a local program of this user */
	UKEY_ACCESS_PAGE = 1, /* an origin on the allowlist */
	UKEY_ACCESS_OWN_PAGE = 2, /* the agent's own page, on an address the agent listens on */
};

/*
 * ukey_access_host_ok: whether Host names an address the agent listens on,
 * with its port: "127.0.0.1:PORT" (IPv4), "[::1]:PORT" (IPv6), and
 * "localhost:PORT" only when it listens on both (a browser may take
 * localhost to either). DNS rebinding: a page on evil.example that
 * resolves to 127.0.0.1 still sends "Host: evil.example:PORT".
 */
bool ukey_access_host_ok(const struct ukey_access_policy *p, const struct ukey_access_header *host);

/* ukey_access_own_origin: whether a canonical origin is the agent's own page: http:// and a Host ukey_access_host_ok() accepts. */
bool ukey_access_own_origin(const struct ukey_access_policy *p, const char *origin);

/*
 * ukey_access_check: the WebSocket handshake rules (PROTOCOL.md, "Who may
 * connect"), all but the same-user check (that needs the socket).
 * Returns an enum ukey_access_client with the canonical origin in
 * ret_origin ("" for a local program); -UKEY_E_USAGE for a malformed
 * handshake (a NUL byte in a header, Upgrade not websocket, version not
 * 13, no "ukey.v1" subprotocol: HTTP 400); -EACCES for one that is not
 * allowed (path, Host, Origin, API token: HTTP 403). *ret_why: a static
 * phrase for the log, on failure.
 */
int ukey_access_check(const struct ukey_access_policy *p, const struct ukey_access_handshake *h, char *ret_origin,
		      size_t size, const char **ret_why);

/*
 * ukey_access_share_ok: whether one more connection of a client of this
 * kind fits. total: the agent's connections; group: those of the same
 * origin (local programs are one group); own: those of the agent's own
 * page. A web origin holds at most UKEY_WS_MAX_PER_ORIGIN, local programs
 * UKEY_WS_MAX_LOCAL, and all but the own page together leave
 * UKEY_WS_RESERVED_OWN free, so a page that opens connections in a loop
 * starves neither the others nor the agent's own page.
 */
bool ukey_access_share_ok(unsigned total, unsigned group, unsigned own, enum ukey_access_client kind);

/* A token bucket: UKEY_WS_RATE_PER_SEC a second, up to UKEY_WS_RATE_BURST. */
struct ukey_access_bucket {
	double tokens;
	struct timespec at;
};

/* ukey_access_bucket_init: a full bucket at now. */
void ukey_access_bucket_init(struct ukey_access_bucket *b, const struct timespec *now);

/* ukey_access_bucket_take: refill up to now, then take one token: true, or false when empty. */
bool ukey_access_bucket_take(struct ukey_access_bucket *b, const struct timespec *now);

/* ukey_access_bucket_full: whether the bucket has refilled completely by now (nothing to remember). */
bool ukey_access_bucket_full(const struct ukey_access_bucket *b, const struct timespec *now);

#endif

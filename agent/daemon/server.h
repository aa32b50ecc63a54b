/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukeyd's HTTP + WebSocket server on loopback: who may connect, limits, and the event loop. */
#ifndef UKEY_SERVER_H
#define UKEY_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "access.h" /* connections, rate */
#include "rpc.h" /* message size, depth */

/* Limits (PROTOCOL.md lists them for clients). */
#define UKEY_WS_MAX_IN_FLIGHT 8
#define UKEY_WS_IDLE_SECONDS 300
#define UKEY_WS_MESSAGE_SECONDS 10 /* from a message's first byte to its last */
#define UKEY_WS_HEADERS_SECONDS 3 /* from connect to the end of the request headers */
#define UKEY_WS_MAX_QUEUED (1024 * 1024) /* unsent bytes a slow client may hold before it is dropped */

struct ukey_server_config {
	int port; /* 0: any free port (tests); see ukey_server_port() */
	const char *web_dir; /* the page and the SDK */
	const char *state_dir; /* the origin allowlist lives in the store there */
	const char *module; /* PKCS#11 module for the API worker */
	const char *ca_url, *ca_trust; /* the CA (EST base URL, trust PEM) for renewal; NULL: not configured */
	const char *api_token; /* what local programs without an Origin must present */
	unsigned max_tries;
	unsigned poll_ms;
	unsigned session_idle_s; /* 0: the default (PROTOCOL.md) */
};

struct ukey_server;

/*
 * ukey_server_new: listen on 127.0.0.1 and, when the host has IPv6
 * loopback, on ::1 (both, or neither), and start the API worker.
 * -EADDRINUSE: the port is taken on one of them (by another program,
 * maybe another user's).
 */
int ukey_server_new(const struct ukey_server_config *cfg, struct ukey_server **ret);

/* ukey_server_port: the port listened on. */
int ukey_server_port(const struct ukey_server *srv);

/* ukey_server_run: serve until ukey_server_stop() (async-signal-safe) is called. Returns 0. */
int ukey_server_run(struct ukey_server *srv);

void ukey_server_stop(struct ukey_server *srv);

/* ukey_server_free: close everything. NULL-safe; returns NULL. */
struct ukey_server *ukey_server_free(struct ukey_server *srv);

#endif

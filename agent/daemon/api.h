/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukeyd's API methods and the worker thread that runs them, off the event loop. */
#ifndef UKEY_API_H
#define UKEY_API_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * Threads: the event loop (server.c) owns connections and never calls into
 * a token. It hands each request to ukey_api_submit(), which decides from
 * memory which key the request is about (its lane) and queues it. A small
 * pool of workers runs the requests: one key's requests in order (a PKCS#11
 * login is per application, so two PIN calls on one key must not
 * interleave), other keys' and key-less requests side by side, so a renewal
 * waiting on the CA stalls nothing else. Each reply is queued and the wake
 * callback (lws_cancel_service()) tells the loop to collect it with
 * ukey_api_take_reply(). A watcher thread keeps the keys' state in memory
 * (token.list and cert.list answer from it) and queues token.inserted /
 * token.removed; the device layer's threads queue device.changed and wake
 * the watcher. Internals and lock order: api-internal.h.
 */

/* A signing session's idle timeout when none is configured (PROTOCOL.md). */
#define UKEY_API_SESSION_IDLE_DEFAULT 600

struct ukey_api;

struct ukey_api_config {
	const char *module; /* PKCS#11 module path */
	const char *state_dir; /* the store (PIN journal, origins) */
	const char *ca_url, *ca_trust; /* the CA for renewal (copied); NULL: renew.start says it is not configured */
	unsigned max_tries; /* R-P1 */
	unsigned poll_ms; /* how often a module without slot events (SoftHSM2) is looked at */
	unsigned session_idle_s; /* a signing session ends after this long without a sign; 0: the default */
	int port; /* the port the server listens on, for agent.info */
	void (*wake)(void *userdata);
	void *userdata;
};

/* A reply for one connection, or a notification for all (conn_id 0). text is malloc'ed JSON. */
struct ukey_api_reply {
	uint64_t conn_id;
	char *text;
	size_t len;
	bool request_done; /* a reply to a request (not a notification): the connection may send another */
	struct ukey_api_reply *next;
};

/* ukey_api_start: load the module, open the store, start the worker. Returns 0 or a negative error. */
int ukey_api_start(const struct ukey_api_config *cfg, struct ukey_api **ret_api);

/* ukey_api_stop: stop the worker, free pending work and replies. NULL-safe; returns NULL. */
struct ukey_api *ukey_api_stop(struct ukey_api *api);

/*
 * ukey_api_submit: queue one parsed JSON-RPC request of a connection.
 * Takes ownership of req (the whole request object; its "pin" strings are
 * wiped when it is freed). origin may be NULL (a local program).
 */
void ukey_api_submit(struct ukey_api *api, uint64_t conn_id, const char *origin, cJSON *req);

/* ukey_api_request_free: wipe every string param (a PIN among them), then free the request. NULL-safe. */
void ukey_api_request_free(cJSON *req);

/* ukey_api_connected: greet a new connection (cert.expiring, renew.pending) before it can send a request. Event loop only. */
void ukey_api_connected(struct ukey_api *api, uint64_t conn_id);

/* ukey_api_disconnected: a connection closed: its signing sessions end (the key is logged out when no other uses it). */
void ukey_api_disconnected(struct ukey_api *api, uint64_t conn_id);

/*
 * ukey_api_call: run one checked request (what ukey_api_submit() takes) on
 * the calling thread, in its lane's absence of other work, and return the
 * reply's text (malloc'd), or NULL on ENOMEM. Notifications it queues are
 * dropped. For tests and the fuzz target of the methods, which need no
 * connection; the caller must not run it from two threads at once.
 */
char *ukey_api_call(struct ukey_api *api, uint64_t conn_id, const char *origin, cJSON *req);

/* ukey_api_take_reply: the oldest queued reply, or NULL. The caller frees it with ukey_api_reply_free(). */
struct ukey_api_reply *ukey_api_take_reply(struct ukey_api *api);

void ukey_api_reply_free(struct ukey_api_reply *reply);

/*
 * ukey_api_error_text: a JSON-RPC error response for id (may be NULL) with a
 * protocol-level code (-32700 parse, -32600 invalid request, -32080 busy,
 * -32081 rate limited). malloc'ed.
 */
char *ukey_api_error_text(const cJSON *id, int code, const char *data_id, const char *message);

#endif

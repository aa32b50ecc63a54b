/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libwebsockets side of ukeyd: loopback listeners, the handshake checks, limits, and reply delivery. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_CORE
#include "api.h"
#include "base/err.h"
#include "base/log.h"
#include "origin.h"
#include "server.h"
#include "store.h"

struct msg {
	struct msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

/* Per connection; lws allocates it for every HTTP or WebSocket connection of our protocol. */
struct conn {
	uint64_t id; /* 0 until the WebSocket is established */
	struct lws *wsi;
	struct conn *prev, *next;
	char origin[UKEY_ORIGIN_MAX]; /* canonical; empty for a local program */
	char *rx; /* the message being received, fragments joined */
	size_t rx_len;
	double bucket; /* rate limit tokens */
	struct timespec bucket_at;
	unsigned in_flight;
	struct msg *out, *out_tail;
	size_t out_bytes;
};

struct ukey_server {
	struct ukey_server_config cfg;
	struct lws_context *ctx;
	struct ukey_api *api;
	struct ukey_store *store; /* event loop only: the origin allowlist */
	struct conn *conns; /* event loop only: established WebSockets */
	unsigned nconns;
	uint64_t next_id;
	int port;
	volatile sig_atomic_t stop;
	struct lws_protocols protocols[2];
	struct lws_http_mount mount;
	struct lws_protocol_vhost_options headers[6];
};

static int header(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t size)
{
	int n = lws_hdr_total_length(wsi, h);

	if (n <= 0)
		return 0;
	if ((size_t)n >= size)
		return -1;
	return lws_hdr_copy(wsi, buf, (int)size, h) < 0 ? -1 : n;
}

/* DNS rebinding: a page whose name resolves to 127.0.0.1 still sends its own name as Host. */
static bool host_allowed(struct ukey_server *srv, struct lws *wsi)
{
	char host[128], want[64];
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };

	if (header(wsi, WSI_TOKEN_HOST, host, sizeof(host)) <= 0)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "%s:%d", names[i], srv->port);
		if (strcmp(host, want) == 0)
			return true;
	}
	return false;
}

/* The agent's own page, on any of its loopback names, is always allowed. */
static bool own_origin(struct ukey_server *srv, const char *origin)
{
	char want[64];
	static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "http://%s:%d", names[i], srv->port);
		if (strcmp(origin, want) == 0)
			return true;
	}
	return false;
}

/* Format an address as /proc/net/tcp{,6} prints it: the raw 32-bit words in %08X, then the port. */
static void proc_net_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		snprintf(buf, size, "%08X:%04X", in->sin_addr.s_addr, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		uint32_t w[4];

		memcpy(w, &in6->sin6_addr, sizeof(w));
		snprintf(buf, size, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], ntohs(in6->sin6_port));
	}
}

/*
 * The API is per user: a browser's Origin can be forged by any local
 * program, so the uid at the other end of the loopback connection must be
 * ours. TCP has no SO_PEERCRED; the kernel's socket table says who owns
 * the client's end. Returns 1 (ours), 0 (someone else's) or negative.
 */
static int peer_is_same_user(struct lws *wsi)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof(peer), llen = sizeof(local);
	char want_local[64], want_rem[64], line[512];
	int fd = lws_get_socket_fd(wsi), r = -ENOENT;
	FILE *f;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &plen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
		return -errno;
	if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	/* The client's socket: its local address is our peer, its remote address is us. */
	proc_net_addr(&peer, want_local, sizeof(want_local));
	proc_net_addr(&local, want_rem, sizeof(want_rem));
	f = fopen(peer.ss_family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6", "re");
	if (!f)
		return -errno;
	while (r == -ENOENT && fgets(line, sizeof(line), f)) {
		char loc[64], rem[64];
		unsigned long uid;

		if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %lu", loc, rem, &uid) == 3 &&
		    strcmp(loc, want_local) == 0 && strcmp(rem, want_rem) == 0)
			r = uid == (unsigned long)getuid();
	}
	fclose(f);
	return r;
}

/*
 * Who may open the API (PROTOCOL.md, "Who may connect"). On success the
 * connection's canonical origin is stored in c->origin (empty for a local
 * program that proved itself with the API token).
 */
static const char *handshake_refusal(struct ukey_server *srv, struct lws *wsi, struct conn *c)
{
	char buf[UKEY_ORIGIN_MAX + 16], origin[UKEY_ORIGIN_MAX];
	int n;

	if (header(wsi, WSI_TOKEN_GET_URI, buf, sizeof(buf)) <= 0 || strcmp(buf, "/api") != 0)
		return "path";
	if (srv->nconns >= UKEY_WS_MAX_CONNECTIONS)
		return "connection limit";
	if (!host_allowed(srv, wsi))
		return "host";
	if (peer_is_same_user(wsi) != 1)
		return "the client is not this user's";
	n = header(wsi, WSI_TOKEN_ORIGIN, buf, sizeof(buf));
	if (n < 0)
		return "origin too long";
	if (n > 0) {
		if (ukey_origin_normalize(buf, origin, sizeof(origin)) < 0)
			return "origin malformed";
		if (!own_origin(srv, origin) && (!srv->store || ukey_store_origin_allowed(srv->store, origin) != 1))
			return "origin not allowed";
		snprintf(c->origin, sizeof(c->origin), "%s", origin);
		return NULL;
	}
	/* No Origin: not a browser. Only a local program that can read the per-user token. */
	n = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, buf, sizeof(buf));
	if (n <= 7 || strncmp(buf, "Bearer ", 7) != 0 || strlen(buf + 7) != strlen(srv->cfg.api_token) ||
	    CRYPTO_memcmp(buf + 7, srv->cfg.api_token, strlen(srv->cfg.api_token)) != 0)
		return "no origin and no valid API token";
	c->origin[0] = '\0';
	return NULL;
}

static void conn_queue(struct conn *c, const char *text, size_t len)
{
	struct msg *m;

	if (c->out_bytes + len > UKEY_WS_MAX_QUEUED) {
		/* A client that does not read its replies is dropped rather than let it hold our memory. */
		log_debug("connection %llu: %zu bytes unread, closing", (unsigned long long)c->id, c->out_bytes);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return;
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out = m;
	c->out_tail = m;
	c->out_bytes += len;
	lws_callback_on_writable(c->wsi);
}

static void conn_error(struct conn *c, const cJSON *id, int code, const char *data_id, const char *message)
{
	char *text = ukey_api_error_text(id, code, data_id, message);

	if (text) {
		conn_queue(c, text, strlen(text));
		free(text);
	}
}

static bool rate_ok(struct conn *c)
{
	struct timespec now;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - c->bucket_at.tv_sec) + (double)(now.tv_nsec - c->bucket_at.tv_nsec) / 1e9;
	c->bucket_at = now;
	c->bucket += dt * UKEY_WS_RATE_PER_SEC;
	if (c->bucket > UKEY_WS_RATE_BURST)
		c->bucket = UKEY_WS_RATE_BURST;
	if (c->bucket < 1.0)
		return false;
	c->bucket -= 1.0;
	return true;
}

static int depth(const cJSON *item)
{
	int d = 0;
	const cJSON *child;

	cJSON_ArrayForEach(child, item)
	{
		int k = depth(child);

		if (k > d)
			d = k;
	}
	return (cJSON_IsObject(item) || cJSON_IsArray(item)) ? d + 1 : d;
}

/* One whole text message from a client: check it, then hand it to the worker. */
static void conn_message(struct ukey_server *srv, struct conn *c)
{
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithLengthOpts(c->rx, c->rx_len, &end, false), *id, *method, *params, *jsonrpc;

	/* One message is one request: "{req1}{req2}" or "{req} junk" must not run req1. */
	if (req && (size_t)(end - c->rx) < c->rx_len && strspn(end, " \t\r\n") != c->rx_len - (size_t)(end - c->rx)) {
		cJSON_Delete(req);
		req = NULL;
	}

	/* The message may hold a PIN: nothing of it stays in our buffers. */
	OPENSSL_cleanse(c->rx, c->rx_len);
	free(c->rx);
	c->rx = NULL;
	c->rx_len = 0;
	if (!req || depth(req) > UKEY_WS_MAX_DEPTH) {
		conn_error(c, NULL, -32700, "parse-error", "Not valid JSON, or nested too deep.");
		goto drop;
	}
	id = cJSON_GetObjectItemCaseSensitive(req, "id");
	method = cJSON_GetObjectItemCaseSensitive(req, "method");
	params = cJSON_GetObjectItemCaseSensitive(req, "params");
	jsonrpc = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
	if (!cJSON_IsObject(req) || !cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0 ||
	    !cJSON_IsString(method) || (params && !cJSON_IsObject(params)) ||
	    !(cJSON_IsNumber(id) || cJSON_IsString(id))) {
		conn_error(c, cJSON_IsNumber(id) || cJSON_IsString(id) ? id : NULL, -32600, "invalid-request",
			   "Not a JSON-RPC 2.0 request with an id, a method and object params.");
		goto drop;
	}
	/* Pages are rate limited; a local program that proved it runs as this user (API token) is not. */
	if (c->origin[0] && !rate_ok(c)) {
		conn_error(c, id, -32081, "rate-limited", "Too many requests: slow down.");
		goto drop;
	}
	if (c->in_flight >= UKEY_WS_MAX_IN_FLIGHT) {
		conn_error(c, id, -32080, "busy", "Too many requests in flight on this connection: wait for replies.");
		goto drop;
	}
	if (!params)
		cJSON_AddItemToObject(req, "params", cJSON_CreateObject());
	c->in_flight++;
	ukey_api_submit(srv->api, c->id, c->origin[0] ? c->origin : NULL, req);
	return;
drop:
	ukey_api_request_free(req);
}

static struct conn *conn_find(struct ukey_server *srv, uint64_t id)
{
	for (struct conn *c = srv->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void deliver_replies(struct ukey_server *srv)
{
	struct ukey_api_reply *reply;

	while ((reply = ukey_api_take_reply(srv->api))) {
		if (reply->conn_id == 0) {
			for (struct conn *c = srv->conns; c; c = c->next)
				conn_queue(c, reply->text, reply->len);
		} else {
			struct conn *c = conn_find(srv, reply->conn_id);

			if (c) {
				if (reply->request_done && c->in_flight > 0)
					c->in_flight--;
				conn_queue(c, reply->text, reply->len);
			}
		}
		ukey_api_reply_free(reply);
	}
}

static void conn_closed(struct ukey_server *srv, struct conn *c)
{
	if (c->id == 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	ukey_api_disconnected(srv->api, c->id);
	if (c->rx) {
		OPENSSL_cleanse(c->rx, c->rx_len);
		free(c->rx);
	}
	while (c->out) {
		struct msg *next = c->out->next;

		free(c->out);
		c->out = next;
	}
	c->id = 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct ukey_server *srv = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;
	const char *why;

	switch (reason) {
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
		/* The page and the SDK are public, but only under the agent's own names (DNS rebinding). */
		if (!host_allowed(srv, wsi)) {
			lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
			return -1;
		}
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		why = handshake_refusal(srv, wsi, c);
		if (why) {
			log_info("refused a WebSocket handshake: %s", why);
			lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		c->id = ++srv->next_id;
		c->wsi = wsi;
		c->bucket = UKEY_WS_RATE_BURST;
		clock_gettime(CLOCK_MONOTONIC, &c->bucket_at);
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, UKEY_WS_IDLE_SECONDS);
		ukey_api_connected(srv->api, c->id);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (lws_frame_is_binary(wsi))
			return -1;
		if (len > UKEY_WS_MAX_MESSAGE - c->rx_len) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
			return -1;
		}
		{
			char *grown = realloc(c->rx, c->rx_len + len + 1);

			if (!grown)
				return -1;
			c->rx = grown;
		}
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		c->rx[c->rx_len] = '\0';
		if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, UKEY_WS_IDLE_SECONDS);
			conn_message(srv, c);
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c->out) {
			struct msg *m = c->out;

			if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
				return -1;
			c->out = m->next;
			if (!c->out)
				c->out_tail = NULL;
			c->out_bytes -= m->len;
			free(m);
			if (c->out)
				lws_callback_on_writable(wsi);
		}
		return 0;
	case LWS_CALLBACK_CLOSED:
		conn_closed(srv, c);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		deliver_replies(srv);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void wake(void *userdata)
{
	struct ukey_server *srv = userdata;

	lws_cancel_service(srv->ctx);
}

static struct lws_vhost *listen_on(struct ukey_server *srv, const char *iface, bool ipv6, int port)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.vhost_name = iface;
	info.iface = iface;
	info.port = port;
	info.protocols = srv->protocols;
	info.mounts = &srv->mount;
	info.headers = srv->headers;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	/*
	 * libwebsockets 4.1 binds iface "127.0.0.1" to the WILDCARD address
	 * when the vhost may use IPv6 (seen with ss): IPv4 vhosts must say so.
	 */
	if (!ipv6)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	return lws_create_vhost(srv->ctx, &info);
}

/*
 * Fail closed: every listening TCP socket of this process on our port must
 * be bound to a loopback address, whatever the library did. A socket bound
 * anywhere else would expose the API to the network.
 */
static int check_loopback_only(int port)
{
	struct rlimit lim;
	int found = 0;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return -errno;
	for (int fd = 0; fd < (int)lim.rlim_cur && fd < 65536; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int listening = 0;
		socklen_t ilen = sizeof(listening);

		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || !listening)
			continue;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;

			if (ntohs(in->sin_port) != port)
				continue;
			if (ntohl(in->sin_addr.s_addr) != INADDR_LOOPBACK)
				return -EADDRNOTAVAIL;
			found++;
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			if (ntohs(in6->sin6_port) != port)
				continue;
			if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
				return -EADDRNOTAVAIL;
			found++;
		}
	}
	return found > 0 ? 0 : -EADDRNOTAVAIL;
}

int ukey_server_new(const struct ukey_server_config *cfg, struct ukey_server **ret)
{
	struct lws_context_creation_info info;
	struct ukey_api_config api_cfg;
	struct ukey_server *srv;
	struct lws_vhost *v4;
	int r;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->protocols[0] = (struct lws_protocols){
		.name = "ukey.v1",
		.callback = callback,
		.per_session_data_size = sizeof(struct conn),
		.rx_buffer_size = 16384,
	};
	srv->mount = (struct lws_http_mount){
		.mountpoint = "/",
		.mountpoint_len = 1,
		.origin = cfg->web_dir,
		.def = "index.html",
		.origin_protocol = LWSMPRO_FILE,
	};
	/* Every HTTP response: no sniffing, no framing, no referrer; the SDK may be imported by allowed portals. */
	srv->headers[0] =
		(struct lws_protocol_vhost_options){ &srv->headers[1], NULL, "x-content-type-options:", "nosniff" };
	srv->headers[1] = (struct lws_protocol_vhost_options){ &srv->headers[2], NULL, "x-frame-options:", "DENY" };
	srv->headers[2] =
		(struct lws_protocol_vhost_options){ &srv->headers[3], NULL, "referrer-policy:", "no-referrer" };
	srv->headers[3] =
		(struct lws_protocol_vhost_options){ &srv->headers[4], NULL, "access-control-allow-origin:", "*" };
	srv->headers[4] = (struct lws_protocol_vhost_options){
		NULL, NULL, "content-security-policy:",
		"default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; "
		"img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
		"form-action 'none'"
	};

	lws_set_log_level(
		ukey_log_enabled(UKEY_LOG_DEBUG, UKEY_LOG_MOD_CORE) ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = srv;
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		free(srv);
		return -ENOMEM;
	}
	/* Loopback only, never a wildcard address. Port 0: the kernel picks, and ::1 then gets the same one. */
	v4 = listen_on(srv, "127.0.0.1", false, cfg->port);
	if (!v4) {
		r = -EADDRINUSE;
		goto fail;
	}
	srv->port = lws_get_vhost_listen_port(v4);
	if (!listen_on(srv, "::1", true, srv->port))
		log_debug("no IPv6 loopback here: listening on 127.0.0.1 only");
	if ((r = check_loopback_only(srv->port)) < 0) {
		log_error("a listening socket is not on loopback: refusing to serve");
		goto fail;
	}

	/* The origin allowlist is read at every handshake; a store that cannot be read allows no origin. */
	if (cfg->state_dir && (r = ukey_store_open(cfg->state_dir, &srv->store)) < 0)
		log_warning("origin allowlist unreadable in '%s': %s; only the agent's own page may connect",
			    cfg->state_dir, ukey_strerror(r));
	api_cfg = (struct ukey_api_config){ .module = cfg->module,
					    .state_dir = cfg->state_dir,
					    .ca_url = cfg->ca_url,
					    .ca_trust = cfg->ca_trust,
					    .max_tries = cfg->max_tries,
					    .poll_ms = cfg->poll_ms,
					    .session_idle_s = cfg->session_idle_s,
					    .port = srv->port,
					    .wake = wake,
					    .userdata = srv };
	if ((r = ukey_api_start(&api_cfg, &srv->api)) < 0)
		goto fail;
	*ret = srv;
	return 0;
fail:
	ukey_server_free(srv);
	return r;
}

int ukey_server_port(const struct ukey_server *srv)
{
	return srv->port;
}

int ukey_server_run(struct ukey_server *srv)
{
	while (!srv->stop)
		if (lws_service(srv->ctx, 0) < 0)
			break;
	return 0;
}

void ukey_server_stop(struct ukey_server *srv)
{
	srv->stop = 1;
	lws_cancel_service(srv->ctx);
}

struct ukey_server *ukey_server_free(struct ukey_server *srv)
{
	if (!srv)
		return NULL;
	/* The worker goes first: it may still call wake(), which needs the context. */
	srv->api = ukey_api_stop(srv->api);
	lws_context_destroy(srv->ctx);
	ukey_store_free(srv->store);
	free(srv);
	return NULL;
}

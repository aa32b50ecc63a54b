/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libwebsockets side of ukeyd: loopback listeners, the handshake checks, limits, and reply delivery. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_WS
#include "access.h"
#include "api.h"
#include "base/err.h"
#include "base/log.h"
#include "origin.h"
#include "rpc.h"
#include "server.h"
#include "store.h"

struct msg {
	struct msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

/* The rate limit of one origin, shared by all its connections (PROTOCOL.md: per page, not per connection). */
struct origin_rate {
	struct origin_rate *next;
	unsigned refs; /* connections of this origin open now */
	struct ukey_access_bucket bucket;
	char origin[];
};

/* Per connection; lws allocates it for every HTTP or WebSocket connection of our protocol. */
struct conn {
	uint64_t id; /* 0 until the WebSocket is established */
	struct lws *wsi;
	struct conn *prev, *next;
	enum ukey_access_client kind;
	char origin[UKEY_ORIGIN_MAX]; /* canonical; empty for a local program */
	struct origin_rate *rate; /* NULL for a local program: not rate limited */
	char *rx; /* the message being received, fragments joined; may hold a PIN */
	size_t rx_len, rx_cap;
	struct timespec partial_since; /* when a message began to arrive and has not ended; 0: none */
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
	struct origin_rate *rates; /* event loop only: per-origin rate limits */
	struct ukey_access_policy policy; /* the addresses listened on, the API token, the allowlist */
	uint64_t next_id;
	int port;
	volatile sig_atomic_t stop;
	struct lws_protocols protocols[2];
	struct lws_http_mount mount;
	struct lws_protocol_vhost_options headers[4];
};

/*
 * One request header into buf: h->value NULL when absent, -1 when longer
 * than buf. h->len is lws's length of what came on the wire, so a NUL
 * byte inside (which ends the copy early) shows as strlen(value) < len.
 */
static int header(struct lws *wsi, enum lws_token_indexes t, char *buf, size_t size, struct ukey_access_header *h)
{
	int n = lws_hdr_total_length(wsi, t);

	h->value = NULL;
	h->len = 0;
	if (n <= 0)
		return 0;
	if ((size_t)n >= size || lws_hdr_copy(wsi, buf, (int)size, t) < 0)
		return -1;
	buf[n] = '\0';
	h->value = buf;
	h->len = (size_t)n;
	return 0;
}

/* DNS rebinding: a page whose name resolves to 127.0.0.1 still sends its own name as Host. */
static bool host_allowed(struct ukey_server *srv, struct lws *wsi)
{
	struct ukey_access_header host;
	char buf[128];

	return header(wsi, WSI_TOKEN_HOST, buf, sizeof(buf), &host) == 0 && ukey_access_host_ok(&srv->policy, &host);
}

static int origin_allowed(void *userdata, const char *origin)
{
	struct ukey_server *srv = userdata;

	return srv->store ? ukey_store_origin_allowed(srv->store, origin) : 0;
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

/* Connections now open of one origin ("" : local programs), and of the agent's own page. */
static void count_conns(struct ukey_server *srv, const char *origin, unsigned *ret_group, unsigned *ret_own)
{
	unsigned group = 0, own = 0;

	for (struct conn *c = srv->conns; c; c = c->next) {
		if (strcmp(c->origin, origin) == 0)
			group++;
		if (c->kind == UKEY_ACCESS_OWN_PAGE)
			own++;
	}
	*ret_group = group;
	*ret_own = own;
}

/*
 * Who may open the API (PROTOCOL.md, "Who may connect"). On success the
 * connection's kind and canonical origin are stored in c (the origin is
 * empty for a local program that proved itself with the API token).
 * Returns NULL, or why not with *ret_status the HTTP status to answer.
 */
static const char *handshake_refusal(struct ukey_server *srv, struct lws *wsi, struct conn *c, int *ret_status)
{
	enum { PATH, HOST, ORIGIN, AUTH, UPGRADE, VERSION, PROTOCOL, N };
	static const enum lws_token_indexes tokens[N] = { WSI_TOKEN_GET_URI, WSI_TOKEN_HOST,
							  WSI_TOKEN_ORIGIN,  WSI_TOKEN_HTTP_AUTHORIZATION,
							  WSI_TOKEN_UPGRADE, WSI_TOKEN_VERSION,
							  WSI_TOKEN_PROTOCOL };
	char bufs[N][UKEY_ORIGIN_MAX + 16], origin[UKEY_ORIGIN_MAX];
	struct ukey_access_handshake h;
	struct ukey_access_header *fields[N] = { &h.path,    &h.host,	 &h.origin,  &h.authorization,
						 &h.upgrade, &h.version, &h.protocol };
	unsigned group, own;
	const char *why;
	int kind;

	*ret_status = HTTP_STATUS_BAD_REQUEST;
	for (int i = 0; i < N; i++)
		if (header(wsi, tokens[i], bufs[i], sizeof(bufs[i]), fields[i]) < 0)
			return "a header too long";
	kind = ukey_access_check(&srv->policy, &h, origin, sizeof(origin), &why);
	if (kind < 0) {
		if (kind != -UKEY_E_USAGE)
			*ret_status = HTTP_STATUS_FORBIDDEN;
		return why;
	}
	*ret_status = HTTP_STATUS_FORBIDDEN;
	if (peer_is_same_user(wsi) != 1)
		return "the client is not this user's";
	count_conns(srv, origin, &group, &own);
	if (!ukey_access_share_ok(srv->nconns, group, own, (enum ukey_access_client)kind))
		return "connection limit (the agent's, or this origin's share)";
	c->kind = (enum ukey_access_client)kind;
	snprintf(c->origin, sizeof(c->origin), "%s", origin);
	return NULL;
}

/* The shared rate limit of an origin; limits of origins gone quiet long enough to be full again are dropped. */
static struct origin_rate *rate_ref(struct ukey_server *srv, const char *origin)
{
	struct origin_rate **pp = &srv->rates, *r;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	while ((r = *pp)) {
		if (strcmp(r->origin, origin) == 0) {
			r->refs++;
			return r;
		}
		if (r->refs == 0 && ukey_access_bucket_full(&r->bucket, &now)) {
			*pp = r->next;
			free(r);
			continue;
		}
		pp = &r->next;
	}
	r = calloc(1, sizeof(*r) + strlen(origin) + 1);
	if (!r)
		return NULL;
	strcpy(r->origin, origin);
	ukey_access_bucket_init(&r->bucket, &now);
	r->refs = 1;
	r->next = srv->rates;
	srv->rates = r;
	return r;
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

/* Drop the message buffer: it may hold a PIN. */
static void rx_clear(struct conn *c)
{
	if (c->rx) {
		OPENSSL_cleanse(c->rx, c->rx_cap);
		free(c->rx);
	}
	c->rx = NULL;
	c->rx_len = c->rx_cap = 0;
	c->partial_since = (struct timespec){ 0 };
}

/* Append a fragment; a buffer outgrown is wiped before it is freed (realloc would leave the old copy behind). */
static int rx_append(struct conn *c, const void *in, size_t len)
{
	if (len == 0)
		return 0; /* an empty frame: nothing to copy, and c->rx may still be NULL */
	if (len > UKEY_WS_MAX_MESSAGE - c->rx_len)
		return -EMSGSIZE;
	if (c->rx_len + len > c->rx_cap) {
		size_t cap = c->rx_cap ? c->rx_cap : 1024;
		char *grown;

		while (cap < c->rx_len + len)
			cap *= 2;
		if (cap > UKEY_WS_MAX_MESSAGE)
			cap = UKEY_WS_MAX_MESSAGE;
		grown = malloc(cap);
		if (!grown)
			return -ENOMEM;
		if (c->rx) {
			memcpy(grown, c->rx, c->rx_len);
			OPENSSL_cleanse(c->rx, c->rx_cap);
			free(c->rx);
		}
		c->rx = grown;
		c->rx_cap = cap;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	return 0;
}

/* One whole text message from a client: check it (rpc.c), then hand it to the worker. */
static void conn_message(struct ukey_server *srv, struct conn *c)
{
	struct ukey_rpc_error err;
	struct timespec now;
	cJSON *req = NULL;
	const cJSON *id;
	int r = ukey_rpc_parse(c->rx ? c->rx : "", c->rx_len, &req, &err);

	/* The message may hold a PIN: nothing of it stays in our buffers (the request's strings are wiped when freed). */
	rx_clear(c);
	if (r == -ENOMEM) {
		conn_error(c, NULL, -32000, "internal", "Out of memory.");
		return;
	}
	if (r < 0) {
		conn_error(c, err.id, err.code, err.data_id, err.message);
		cJSON_Delete(err.id);
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(req, "id");
	/* Pages are rate limited per origin; a local program that proved it runs as this user (API token) is not. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (c->rate && !ukey_access_bucket_take(&c->rate->bucket, &now)) {
		conn_error(c, id, -32081, "rate-limited", "Too many requests: slow down.");
		goto drop;
	}
	if (c->in_flight >= UKEY_WS_MAX_IN_FLIGHT) {
		conn_error(c, id, -32080, "busy", "Too many requests in flight on this connection: wait for replies.");
		goto drop;
	}
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
	if (c->rate)
		c->rate->refs--; /* kept until full again: closing and reopening must not refill it */
	ukey_api_disconnected(srv->api, c->id);
	rx_clear(c);
	while (c->out) {
		struct msg *next = c->out->next;

		free(c->out);
		c->out = next;
	}
	c->id = 0;
}

/*
 * A message must arrive whole within UKEY_WS_MESSAGE_SECONDS of its start,
 * or a client could hold a connection slot (and up to 256 KiB) by
 * trickling a frame it declared big. lws gives us no callback until its
 * 16 KiB buffer fills, so a timer looks at what it holds for the frame.
 */
static int conn_tick(struct conn *c, struct lws *wsi)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (c->rx_len == 0 && lws_remaining_packet_payload(wsi) == 0) {
		c->partial_since = (struct timespec){ 0 };
	} else if (c->partial_since.tv_sec == 0 && c->partial_since.tv_nsec == 0) {
		c->partial_since = now;
	} else if (now.tv_sec - c->partial_since.tv_sec >= UKEY_WS_MESSAGE_SECONDS) {
		log_debug("connection %llu: a message still incomplete after %d s, closing", (unsigned long long)c->id,
			  UKEY_WS_MESSAGE_SECONDS);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"too slow", 8);
		return -1;
	}
	lws_set_timer_usecs(wsi, LWS_USEC_PER_SEC / 2);
	return 0;
}

static int conn_receive(struct ukey_server *srv, struct conn *c, struct lws *wsi, void *in, size_t len)
{
	int r;

	if (lws_frame_is_binary(wsi)) {
		OPENSSL_cleanse(in, len);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
		return -1;
	}
	r = rx_append(c, in, len);
	/* in is libwebsockets' own receive buffer: the PIN must not stay there either. */
	OPENSSL_cleanse(in, len);
	if (r == -EMSGSIZE) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (r < 0)
		return -1;
	if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, UKEY_WS_IDLE_SECONDS);
		conn_message(srv, c);
	} else if (c->partial_since.tv_sec == 0 && c->partial_since.tv_nsec == 0) {
		clock_gettime(CLOCK_MONOTONIC, &c->partial_since);
	}
	return 0;
}

/*
 * The SDK may be imported by the pages that may use the API (an ES module
 * from another origin needs CORS), and nothing else is served cross-origin:
 * other sites cannot read the page, or even learn that ukeyd runs.
 */
static int add_cors(struct ukey_server *srv, struct lws *wsi, struct lws_process_html_args *args)
{
	char uri[64], buf[UKEY_ORIGIN_MAX + 16], origin[UKEY_ORIGIN_MAX];
	struct ukey_access_header h;
	unsigned char *p = (unsigned char *)args->p, *end = p + args->max_len;

	if (header(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri), &h) < 0 || !h.value || strcmp(uri, "/sdk/ukey.js") != 0)
		return 0;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"vary:", (const unsigned char *)"Origin", 6, &p,
					end))
		return 1;
	if (header(wsi, WSI_TOKEN_ORIGIN, buf, sizeof(buf), &h) == 0 && h.value && strlen(h.value) == h.len &&
	    ukey_origin_normalize(h.value, origin, sizeof(origin)) == 0 &&
	    (ukey_access_own_origin(&srv->policy, origin) || origin_allowed(srv, origin) == 1) &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
					(const unsigned char *)origin, (int)strlen(origin), &p, end))
		return 1;
	args->p = (char *)p;
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct ukey_server *srv = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;
	const char *why;
	int status;

	switch (reason) {
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
		/* The page and the SDK are public, but only under the agent's own names (DNS rebinding). */
		if (!host_allowed(srv, wsi)) {
			lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
			return -1;
		}
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* WebSocket only: an h2c upgrade would bypass the handshake checks and speak HTTP/2 here. */
		if (!in || strcasecmp(in, "websocket") != 0) {
			log_info("refused an upgrade to \"%.16s\"", in ? (const char *)in : "");
			lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		why = handshake_refusal(srv, wsi, c, &status);
		if (why) {
			log_info("refused a WebSocket handshake: %s", why);
			lws_return_http_status(wsi, (unsigned)status, NULL);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		/* Before the id: a connection without one is not in the list, and CLOSED leaves it alone. */
		if (c->kind != UKEY_ACCESS_LOCAL && !(c->rate = rate_ref(srv, c->origin)))
			return -1;
		c->id = ++srv->next_id;
		c->wsi = wsi;
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, UKEY_WS_IDLE_SECONDS);
		lws_set_timer_usecs(wsi, LWS_USEC_PER_SEC / 2);
		ukey_api_connected(srv->api, c->id);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return conn_receive(srv, c, wsi, in, len);
	case LWS_CALLBACK_TIMER:
		return c->id ? conn_tick(c, wsi) : 0;
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
	case LWS_CALLBACK_ADD_HEADERS:
		return add_cors(srv, wsi, in);
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

/* libwebsockets' own lines are debug lines: what matters (a port taken) ukeyd says once, in its own words. */
static void lws_log(int level, const char *line)
{
	(void)level;
	log_debug("libwebsockets: %.*s", (int)strcspn(line, "\n"), line);
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
	/*
	 * A client has this long for its request headers. libwebsockets 4.1
	 * swallows the line after a one-letter header name ("X: 1"), so such a
	 * request waits for an end that never comes: it is dropped after this
	 * instead of holding a header buffer for the default 10 s.
	 */
	info.timeout_secs_ah_idle = UKEY_WS_HEADERS_SECONDS;
	/*
	 * libwebsockets 4.1 binds iface "127.0.0.1" to the WILDCARD address
	 * when the vhost may use IPv6 (seen with ss): IPv4 vhosts must say so.
	 */
	if (!ipv6)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	return lws_create_vhost(srv->ctx, &info);
}

/* Whether this host has an IPv6 loopback address at all (a kernel booted with ipv6.disable=1 has none). */
static bool host_has_ipv6_loopback(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return false;
	r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return r == 0;
}

/*
 * Fail closed: every listening TCP socket of this process on our port must
 * be bound to a loopback address, whatever the library did. A socket bound
 * anywhere else would expose the API to the network. Counts the IPv4 and
 * IPv6 loopback listeners found.
 */
static int check_loopback_only(int port, unsigned *ret_v4, unsigned *ret_v6)
{
	struct rlimit lim;
	unsigned v4 = 0, v6 = 0;

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
			v4++;
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			if (ntohs(in6->sin6_port) != port)
				continue;
			if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
				return -EADDRNOTAVAIL;
			v6++;
		}
	}
	*ret_v4 = v4;
	*ret_v6 = v6;
	return 0;
}

/*
 * Listen on 127.0.0.1:port and, when the host has IPv6 loopback, on
 * [::1]:port, or not at all: half-bound, the other address could be
 * another user's server, and a page it serves there would pass for the
 * agent's own (localhost resolves to either). Port 0: the kernel picks
 * the IPv4 port and ::1 gets the same one.
 */
static int bind_all(struct ukey_server *srv, int port)
{
	struct lws_context_creation_info info;
	struct lws_vhost *v4;
	bool want_v6 = host_has_ipv6_loopback();
	unsigned n4 = 0, n6 = 0;
	int r;

	memset(&info, 0, sizeof(info));
	/* RFC 6455 8.1: invalid UTF-8 in a text frame closes with 1007 (a context option in libwebsockets 4.1). */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.user = srv;
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx)
		return -ENOMEM;
	v4 = listen_on(srv, "127.0.0.1", false, port);
	if (!v4) {
		r = -EADDRINUSE;
		goto fail;
	}
	srv->port = lws_get_vhost_listen_port(v4);
	if (want_v6 && !listen_on(srv, "::1", true, srv->port)) {
		r = -EADDRINUSE;
		goto fail;
	}
	if ((r = check_loopback_only(srv->port, &n4, &n6)) < 0) {
		log_error("a listening socket is not on loopback: refusing to serve");
		goto fail;
	}
	if (n4 == 0 || (want_v6 && n6 == 0)) {
		r = -EADDRINUSE;
		goto fail;
	}
	srv->policy.port = srv->port;
	srv->policy.ipv4 = true;
	srv->policy.ipv6 = want_v6;
	if (!want_v6)
		log_debug("no IPv6 loopback here: listening on 127.0.0.1 only, trusting http://127.0.0.1:%d only",
			  srv->port);
	return 0;
fail:
	lws_context_destroy(srv->ctx);
	srv->ctx = NULL;
	return r;
}

int ukey_server_new(const struct ukey_server_config *cfg, struct ukey_server **ret)
{
	struct ukey_api_config api_cfg;
	struct ukey_server *srv;
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
		.protocol =
			"ukey.v1", /* lws calls LWS_CALLBACK_ADD_HEADERS for a mount only when it names a protocol */
	};
	/*
	 * Every HTTP response: no sniffing, no framing, no referrer. No
	 * Access-Control-Allow-Origin here: add_cors() gives it to the SDK for
	 * allowed origins only.
	 */
	srv->headers[0] =
		(struct lws_protocol_vhost_options){ &srv->headers[1], NULL, "x-content-type-options:", "nosniff" };
	srv->headers[1] = (struct lws_protocol_vhost_options){ &srv->headers[2], NULL, "x-frame-options:", "DENY" };
	srv->headers[2] =
		(struct lws_protocol_vhost_options){ &srv->headers[3], NULL, "referrer-policy:", "no-referrer" };
	srv->headers[3] = (struct lws_protocol_vhost_options){
		NULL, NULL, "content-security-policy:",
		"default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; "
		"img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
		"form-action 'none'"
	};
	srv->policy.api_token = cfg->api_token;
	srv->policy.origin_allowed = origin_allowed;
	srv->policy.userdata = srv;
	/* A PIN passes through cJSON: every block it frees is wiped. */
	ukey_rpc_setup();

	lws_set_log_level(ukey_log_enabled(UKEY_LOG_DEBUG, UKEY_LOG_MOD_CORE) ? LLL_ERR | LLL_WARN | LLL_NOTICE : 0,
			  lws_log);
	/* Loopback only, never a wildcard address; a port the kernel picks is tried again if ::1 has it taken. */
	r = bind_all(srv, cfg->port);
	for (int i = 0; r == -EADDRINUSE && cfg->port == 0 && i < 8; i++)
		r = bind_all(srv, 0);
	if (r < 0) {
		free(srv);
		return r;
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
	while (srv->rates) {
		struct origin_rate *next = srv->rates->next;

		free(srv->rates);
		srv->rates = next;
	}
	free(srv);
	return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libwebsockets glue of the reference CA: request parsing with caps, one log line per request, responses. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "http.h"

/* Per connection (lws allocates and zeroes it); reset at the start of each request on a kept-alive connection. */
struct conn {
	bool active; /* a request is being handled */
	bool post;
	bool other_method; /* neither GET nor POST: refused with 405 */
	bool responded; /* resp is ready to send */
	bool close_after; /* the body was refused: close rather than read it */
	char path[REFCA_MAX_PATH];
	char serial[REFCA_SERIAL_HEX_MAX * 2 + 8];
	bool has_serial;
	char content_type[128];
	char auth[REFCA_MAX_AUTH];
	unsigned char *body;
	size_t body_len;
	struct refca_response resp;
};

struct server {
	struct refca_service *svc;
	struct lws_context *ctx;
};

static volatile sig_atomic_t stop;
static struct lws_context *signal_ctx;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void conn_reset(struct conn *c)
{
	if (c->auth[0])
		OPENSSL_cleanse(c->auth, sizeof(c->auth));
	free(c->body);
	refca_response_clear(&c->resp);
	memset(c, 0, sizeof(*c));
}

/* Copy a request header; too long (or absent) leaves buf empty and returns -1 (too long) or 0 (absent). */
static int header(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t size)
{
	int n = lws_hdr_total_length(wsi, h);

	buf[0] = '\0';
	if (n <= 0)
		return 0;
	if ((size_t)n >= size)
		return -1;
	if (lws_hdr_copy(wsi, buf, (int)size, h) < 0) {
		buf[0] = '\0';
		return -1;
	}
	return n;
}

static void log_request(struct lws *wsi, struct conn *c)
{
	char peer[64] = "", path[REFCA_MAX_PATH];
	size_t i;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	/* The path came from the network: only printable ASCII reaches the log. */
	for (i = 0; c->path[i] && i + 1 < sizeof(path); i++)
		path[i] = c->path[i] > 0x20 && c->path[i] < 0x7f ? c->path[i] : '?';
	path[i] = '\0';
	fprintf(stderr, "refca: %s %s \"%s\" -> %d %zu%s%s\n", peer,
		c->post		  ? "POST"
		: c->other_method ? "OTHER"
				  : "GET",
		path, c->resp.status, c->resp.body_len, c->resp.error ? " " : "", c->resp.error ? c->resp.error : "");
}

static void dispatch(struct server *srv, struct lws *wsi, struct conn *c)
{
	struct refca_request req = { 0 };
	SSL *ssl = lws_get_ssl(wsi);
	X509 *peer = ssl ? SSL_get1_peer_certificate(ssl) : NULL;

	req.post = c->post;
	req.path = c->path;
	req.query_serial = c->has_serial ? c->serial : NULL;
	req.content_type = c->content_type[0] ? c->content_type : NULL;
	req.authorization = c->auth[0] ? c->auth : NULL;
	req.body = c->body ? c->body : (const unsigned char *)"";
	req.body_len = c->body_len;
	req.client_cert = peer;
	refca_service_handle(srv->svc, &req, &c->resp);
	X509_free(peer);
	c->responded = true;
	lws_callback_on_writable(wsi);
}

static void refuse(struct lws *wsi, struct conn *c, int status, const char *id, const char *message)
{
	refca_error_response(&c->resp, status, id, message);
	c->responded = true;
	c->close_after = true;
	lws_callback_on_writable(wsi);
}

static int send_response(struct lws *wsi, struct conn *c)
{
	struct refca_response *r = &c->resp;
	size_t hdr_room = 1024;
	unsigned char *buf, *start, *p, *end;
	char num[32];
	int ok = 0;

	buf = malloc(LWS_PRE + hdr_room + r->body_len);
	if (!buf)
		return -1;
	start = p = buf + LWS_PRE;
	end = start + hdr_room - 1;
	if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->content_type ? r->content_type : "text/plain",
					r->body_len, &p, end))
		goto out;
	if (r->base64 && lws_add_http_header_by_name(wsi, (const unsigned char *)"content-transfer-encoding:",
						     (const unsigned char *)"base64", 6, &p, end))
		goto out;
	if (r->www_authenticate &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
					(const unsigned char *)"Basic realm=\"ukey-refca\", charset=\"UTF-8\"", 41, &p,
					end))
		goto out;
	if (r->retry_after > 0) {
		int n = snprintf(num, sizeof(num), "%ld", r->retry_after);

		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:", (const unsigned char *)num,
						n, &p, end))
			goto out;
	}
	if (r->order[0] && lws_add_http_header_by_name(wsi, (const unsigned char *)"x-ukey-order:",
						       (const unsigned char *)r->order, (int)strlen(r->order), &p, end))
		goto out;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:", (const unsigned char *)"no-store",
					8, &p, end))
		goto out;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	if (r->body_len) {
		memcpy(start, r->body, r->body_len);
		if (lws_write(wsi, start, r->body_len, LWS_WRITE_HTTP_FINAL) != (int)r->body_len)
			goto out;
	}
	ok = 1;
out:
	free(buf);
	return ok ? 0 : -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct server *srv = lws_context_user(lws_get_context(wsi));
	struct conn *c = user;
	char num[32];

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* TLS 1.2 at least; ask for a client certificate issued by this CA but do not require one. */
		SSL_CTX_set_min_proto_version(user, TLS1_2_VERSION);
		{
			STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
			X509_NAME *n = X509_NAME_dup(X509_get_subject_name(refca_ca_cert(srv->svc->ca)));

			if (names && n && sk_X509_NAME_push(names, n))
				SSL_CTX_set_client_CA_list(user, names);
			else {
				X509_NAME_free(n);
				sk_X509_NAME_free(names);
			}
		}
		return 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		/*
		 * Accept any client certificate at the TLS layer: an expired one
		 * must still reach simplereenroll (R-R4). The service verifies it
		 * against the CA and the state (refca_ca_verify_client).
		 */
		return 0;
	case LWS_CALLBACK_HTTP:
		if (!c)
			return -1;
		conn_reset(c);
		c->active = true;
		snprintf(c->path, sizeof(c->path), "%s", in ? (const char *)in : "");
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
			c->post = true;
		else if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
			c->other_method = true;
			refuse(wsi, c, 405, "method", "Only GET and POST are served.");
			return 0;
		}
		if (len >= sizeof(c->path)) {
			refuse(wsi, c, 414, "uri-too-long", "The path is too long.");
			return 0;
		}
		if (header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, c->auth, sizeof(c->auth)) < 0 ||
		    header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, c->content_type, sizeof(c->content_type)) < 0) {
			refuse(wsi, c, 431, "header-too-large", "A request header is too large.");
			return 0;
		}
		if (lws_get_urlarg_by_name(wsi, "serial=", c->serial, (int)sizeof(c->serial))) {
			memmove(c->serial, c->serial + 7, strlen(c->serial + 7) + 1);
			c->has_serial = true;
		}
		if (!c->post) {
			dispatch(srv, wsi, c);
			return 0;
		}
		/* POST: the body is read only when it is announced and small enough. */
		if (header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, num, sizeof(num)) <= 0) {
			refuse(wsi, c, 411, "length-required", "A POST needs a Content-Length.");
			return 0;
		}
		if (strspn(num, "0123456789") != strlen(num) || strlen(num) > 9 || atol(num) > REFCA_MAX_BODY) {
			refuse(wsi, c, 413, "body-too-large", "The request body is larger than 64 KiB.");
			return 0;
		}
		if (atol(num) == 0) {
			dispatch(srv, wsi, c);
			return 0;
		}
		/*
		 * lws 4.1 leaves "Expect: 100-continue" unanswered and the client
		 * then waits (curl: one second) before sending the body.
		 */
		if (header(wsi, WSI_TOKEN_HTTP_EXPECT, num, sizeof(num)) > 0 && strcasecmp(num, "100-continue") == 0) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			unsigned char out[LWS_PRE + sizeof(cont)];

			memcpy(out + LWS_PRE, cont, sizeof(cont) - 1);
			if (lws_write(wsi, out + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP_HEADERS) !=
			    (int)sizeof(cont) - 1)
				return -1;
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		if (!c || !c->active || c->responded)
			return 0;
		if (len > REFCA_MAX_BODY - c->body_len) {
			refuse(wsi, c, 413, "body-too-large", "The request body is larger than 64 KiB.");
			return 0;
		}
		{
			unsigned char *grown = realloc(c->body, c->body_len + len + 1);

			if (!grown)
				return -1;
			c->body = grown;
		}
		memcpy(c->body + c->body_len, in, len);
		c->body_len += len;
		c->body[c->body_len] = '\0';
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c && c->active && !c->responded)
			dispatch(srv, wsi, c);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!c || !c->responded)
			return 0;
		log_request(wsi, c);
		if (send_response(wsi, c) < 0 || c->close_after) {
			conn_reset(c);
			return -1;
		}
		conn_reset(c);
		if (lws_http_transaction_completed(wsi))
			return -1;
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (c)
			conn_reset(c);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Fail closed: every listening TCP socket of this process must be on 127.0.0.1 (as ukeyd checks its own). */
static int check_loopback_only(int port)
{
	struct rlimit lim;
	int found = 0;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return -errno;
	for (int fd = 0; fd < (int)lim.rlim_cur && fd < 65536; fd++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int listening = 0;
		socklen_t ilen = sizeof(listening);

		if (getsockname(fd, (struct sockaddr *)&ss, &slen) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || !listening)
			continue;
		if (ss.ss_family != AF_INET)
			return -EADDRNOTAVAIL;
		if (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) != INADDR_LOOPBACK)
			return -EADDRNOTAVAIL;
		if (ntohs(((struct sockaddr_in *)&ss)->sin_port) == port)
			found++;
	}
	return found > 0 ? 0 : -EADDRNOTAVAIL;
}

int refca_http_serve(struct refca_service *svc, const char *dir, int port)
{
	struct lws_context_creation_info info;
	struct lws_protocols protocols[2];
	struct sigaction sa = { .sa_handler = on_signal };
	struct server srv = { .svc = svc };
	char cert[PATH_MAX], key[PATH_MAX], url[64];
	struct lws_vhost *vh;
	int r = 0, bound;

	if ((size_t)snprintf(cert, sizeof(cert), "%s/server.pem", dir) >= sizeof(cert) ||
	    (size_t)snprintf(key, sizeof(key), "%s/server.key", dir) >= sizeof(key))
		return -ENAMETOOLONG;
	memset(protocols, 0, sizeof(protocols));
	protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = callback,
		.per_session_data_size = sizeof(struct conn),
		.rx_buffer_size = 0,
	};

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = &srv;
	srv.ctx = lws_create_context(&info);
	if (!srv.ctx)
		return -ENOMEM;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "refca";
	/* 127.0.0.1 only: lws 4.1 binds the wildcard for "127.0.0.1" unless IPv6 is off for the vhost. */
	info.iface = "127.0.0.1";
	info.port = port;
	info.protocols = protocols;
	info.ssl_cert_filepath = cert;
	info.ssl_private_key_filepath = key;
	info.ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	info.alpn = "http/1.1";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
		       LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
	vh = lws_create_vhost(srv.ctx, &info);
	if (!vh) {
		r = -EADDRINUSE;
		goto out;
	}
	bound = lws_get_vhost_listen_port(vh);
	if ((r = check_loopback_only(bound)) < 0) {
		fprintf(stderr, "refca: a listening socket is not on 127.0.0.1: refusing to serve\n");
		goto out;
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", bound);
	if ((r = refca_state_set_setting(svc->st, "base_url", url)) < 0)
		goto out;

	signal_ctx = srv.ctx;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("listening on %s/\n", url);
	fflush(stdout);
	while (!stop)
		if (lws_service(srv.ctx, 0) < 0)
			break;
	r = 0;
out:
	signal_ctx = NULL;
	lws_context_destroy(srv.ctx);
	return r;
}

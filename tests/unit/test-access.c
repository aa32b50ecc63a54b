/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of ukeyd's handshake rules and limits (access.c): own origins, NUL bytes, RFC 6455 headers, shares, rate. */
#define _GNU_SOURCE
#include "unit-test.h"

#include "access.h"
#include "base/err.h"
#include "origin.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int allow_portal(void *userdata, const char *origin)
{
	(void)userdata;
	return strcmp(origin, "https://portal.example") == 0;
}

static struct ukey_access_policy policy(bool ipv4, bool ipv6)
{
	return (struct ukey_access_policy){
		.port = 24801, .ipv4 = ipv4, .ipv6 = ipv6, .api_token = TOKEN, .origin_allowed = allow_portal
	};
}

static struct ukey_access_header hdr(const char *value)
{
	return (struct ukey_access_header){ value, value ? strlen(value) : 0 };
}

/* A good handshake of the agent's own page; cases change one field. */
static struct ukey_access_handshake good(const char *origin)
{
	return (struct ukey_access_handshake){
		.path = hdr("/api"),
		.host = hdr("127.0.0.1:24801"),
		.origin = hdr(origin),
		.upgrade = hdr("websocket"),
		.version = hdr("13"),
		.protocol = hdr("ukey.v1"),
	};
}

static int check(const struct ukey_access_policy *p, const struct ukey_access_handshake *h, char *origin)
{
	const char *why = NULL;
	int r = ukey_access_check(p, h, origin, UKEY_ORIGIN_MAX, &why);

	if (r < 0)
		assert_non_null(why);
	return r;
}

/* Issue 12, finding 1: the own page is trusted only on an address the agent listens on. */
static void own_origin_only_where_listening(void **state)
{
	struct ukey_access_policy both = policy(true, true), v4 = policy(true, false);
	char origin[UKEY_ORIGIN_MAX];
	struct ukey_access_handshake h;

	(void)state;
	for (const char *const *o = (const char *const[]){ "http://127.0.0.1:24801", "http://[::1]:24801",
							   "http://localhost:24801", NULL };
	     *o; o++) {
		h = good(*o);
		assert_int_equal(check(&both, &h, origin), UKEY_ACCESS_OWN_PAGE);
		assert_string_equal(origin, *o);
	}
	h = good("http://127.0.0.1:24801");
	assert_int_equal(check(&v4, &h, origin), UKEY_ACCESS_OWN_PAGE);
	/* Without ::1 another user may serve [::1]:PORT, and localhost may resolve there. */
	h = good("http://[::1]:24801");
	assert_int_equal(check(&v4, &h, origin), -EACCES);
	h = good("http://localhost:24801");
	assert_int_equal(check(&v4, &h, origin), -EACCES);
	assert_false(ukey_access_own_origin(&v4, "http://localhost:24801"));
	assert_false(ukey_access_own_origin(&both, "https://127.0.0.1:24801"));
	assert_false(ukey_access_own_origin(&both, "http://127.0.0.1:24802"));
}

static void host_only_where_listening(void **state)
{
	struct ukey_access_policy both = policy(true, true), v4 = policy(true, false);
	struct ukey_access_header h;

	(void)state;
	h = hdr("[::1]:24801");
	assert_true(ukey_access_host_ok(&both, &h));
	assert_false(ukey_access_host_ok(&v4, &h));
	h = hdr("localhost:24801");
	assert_true(ukey_access_host_ok(&both, &h));
	assert_false(ukey_access_host_ok(&v4, &h));
	h = hdr("127.0.0.1:24801");
	assert_true(ukey_access_host_ok(&v4, &h));
	h = hdr("evil.example:24801");
	assert_false(ukey_access_host_ok(&both, &h));
	h = hdr(NULL);
	assert_false(ukey_access_host_ok(&both, &h));
}

/* Issue 12, finding 2: a NUL byte in Origin, Authorization or Host cuts the copy short; refused (HTTP 400). */
static void nul_byte_in_header_refused(void **state)
{
	struct ukey_access_policy p = policy(true, true);
	static const char origin_nul[] = "https://portal.example\0.evil.example";
	static const char auth_nul[] = "Bearer " TOKEN "\0junk";
	static const char host_nul[] = "127.0.0.1:24801\0evil";
	char origin[UKEY_ORIGIN_MAX];
	struct ukey_access_handshake h;

	(void)state;
	h = good(NULL);
	h.origin = (struct ukey_access_header){ origin_nul, sizeof(origin_nul) - 1 };
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h = good(NULL);
	h.authorization = (struct ukey_access_header){ auth_nul, sizeof(auth_nul) - 1 };
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h = good("http://127.0.0.1:24801");
	h.host = (struct ukey_access_header){ host_nul, sizeof(host_nul) - 1 };
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	assert_false(ukey_access_host_ok(&p, &h.host));
	/* The same without the NUL passes (the token) or is only not allowed (the origin). */
	h = good(NULL);
	h.authorization = hdr("Bearer " TOKEN);
	assert_int_equal(check(&p, &h, origin), UKEY_ACCESS_LOCAL);
	assert_string_equal(origin, "");
}

/* Issue 12, finding 7: Upgrade websocket, version 13 and the ukey.v1 subprotocol, or HTTP 400. */
static void rfc6455_headers_required(void **state)
{
	struct ukey_access_policy p = policy(true, true);
	char origin[UKEY_ORIGIN_MAX];
	struct ukey_access_handshake h;

	(void)state;
	h = good("http://127.0.0.1:24801");
	h.version = hdr("8");
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h.version = hdr(NULL);
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h = good("http://127.0.0.1:24801");
	h.protocol = hdr(NULL);
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h.protocol = hdr("ukey.v2, chat");
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h.protocol = hdr("ukey.v10");
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h.protocol = hdr("chat, ukey.v1");
	assert_int_equal(check(&p, &h, origin), UKEY_ACCESS_OWN_PAGE);
	h = good("http://127.0.0.1:24801");
	h.upgrade = hdr("h2c");
	assert_int_equal(check(&p, &h, origin), -UKEY_E_USAGE);
	h.upgrade = hdr("WebSocket");
	assert_int_equal(check(&p, &h, origin), UKEY_ACCESS_OWN_PAGE);
}

static void origins_and_tokens(void **state)
{
	struct ukey_access_policy p = policy(true, true);
	char origin[UKEY_ORIGIN_MAX];
	struct ukey_access_handshake h;

	(void)state;
	h = good("HTTPS://Portal.Example:443");
	assert_int_equal(check(&p, &h, origin), UKEY_ACCESS_PAGE);
	assert_string_equal(origin, "https://portal.example");
	for (const char *const *o = (const char *const[]){ "https://evil.example", "null", "file://",
							   "http://127.0.0.1:24801.evil.example", NULL };
	     *o; o++) {
		h = good(*o);
		assert_int_equal(check(&p, &h, origin), -EACCES);
	}
	h = good(NULL);
	assert_int_equal(check(&p, &h, origin), -EACCES);
	h.authorization = hdr("Bearer " TOKEN "0");
	assert_int_equal(check(&p, &h, origin), -EACCES);
	h.authorization = hdr("bearer " TOKEN);
	assert_int_equal(check(&p, &h, origin), -EACCES);
	h = good("http://127.0.0.1:24801");
	h.path = hdr("/api/");
	assert_int_equal(check(&p, &h, origin), -EACCES);
	/* No allowlist callback: only the own page. */
	p.origin_allowed = NULL;
	h = good("https://portal.example");
	assert_int_equal(check(&p, &h, origin), -EACCES);
}

/* Issue 12, finding 3: one origin cannot take every connection; the own page keeps a reserve. */
static void connection_shares(void **state)
{
	const enum ukey_access_client page = UKEY_ACCESS_PAGE, own = UKEY_ACCESS_OWN_PAGE, local = UKEY_ACCESS_LOCAL;

	(void)state;
	assert_true(ukey_access_share_ok(0, 0, 0, page));
	assert_true(ukey_access_share_ok(31, 31, 0, page));
	assert_false(ukey_access_share_ok(32, UKEY_WS_MAX_PER_ORIGIN, 0, page));
	assert_false(ukey_access_share_ok(32, UKEY_WS_MAX_PER_ORIGIN, 32, own));
	/* Local programs are one group, with room for the benchmark's 100 clients, but not the own page's. */
	assert_true(ukey_access_share_ok(100, 100, 0, local));
	assert_false(ukey_access_share_ok(112, UKEY_WS_MAX_LOCAL, 0, local));
	/* 112 connections of others: another origin is refused, the own page still gets in. */
	assert_false(ukey_access_share_ok(112, 0, 0, page));
	assert_false(ukey_access_share_ok(112, 0, 0, local));
	assert_true(ukey_access_share_ok(112, 0, 0, own));
	assert_true(ukey_access_share_ok(127, 15, 15, own));
	assert_false(ukey_access_share_ok(UKEY_WS_MAX_CONNECTIONS, 0, 16, own));
	/* Own-page connections do not use up the others' part. */
	assert_true(ukey_access_share_ok(120, 0, 10, page));
}

/* Issue 12, finding 4: one bucket for all of an origin's connections: a burst of 40, then 20 a second. */
static void rate_bucket(void **state)
{
	struct ukey_access_bucket b;
	struct timespec t = { 100, 0 };
	int n = 0;

	(void)state;
	ukey_access_bucket_init(&b, &t);
	assert_true(ukey_access_bucket_full(&b, &t));
	while (ukey_access_bucket_take(&b, &t))
		n++;
	assert_int_equal(n, UKEY_WS_RATE_BURST);
	assert_false(ukey_access_bucket_full(&b, &t));
	t.tv_nsec = 500000000; /* half a second: 10 more */
	n = 0;
	while (ukey_access_bucket_take(&b, &t))
		n++;
	assert_int_equal(n, UKEY_WS_RATE_PER_SEC / 2);
	t.tv_sec += 2;
	assert_true(ukey_access_bucket_full(&b, &t));
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_origin_only_where_listening),
		cmocka_unit_test(host_only_where_listening),
		cmocka_unit_test(nul_byte_in_header_refused),
		cmocka_unit_test(rfc6455_headers_required),
		cmocka_unit_test(origins_and_tokens),
		cmocka_unit_test(connection_shares),
		cmocka_unit_test(rate_bucket),
	};

	return UNIT_MAIN("access", tests);
}

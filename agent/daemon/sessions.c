/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signing sessions: the PIN once (session.open), then sign many times; owned by one connection, never the PIN kept. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_WS
#include "api-internal.h"
#include "base/err.h"
#include "base/log.h"
#include "objects.h"

struct sign_session {
	char id[33]; /* 128 random bits in hex: not guessable, but ownership is what protects it (conn_id) */
	uint64_t conn_id;
	struct ukey_token_info token;
	struct ukey_session *s; /* the logged-in PKCS#11 session; NULL once ended */
	int ended; /* 0 while live; else why: -UKEY_E_TOKEN_REMOVED, -UKEY_E_SESSION_EXPIRED, -UKEY_E_NOT_LOGGED_IN */
	bool in_use; /* a worker signs with s now: whoever ends the session leaves s to that worker */
	bool orphan; /* its connection closed while a worker signed: that worker frees it */
	/* The key the last sign chose (key_id NULL: the unit's certificate), kept so each sign is one C_Sign. */
	struct ukey_sign_key key;
	char *key_id; /* the key_id it was chosen for; NULL: the default */
	bool has_key;
	struct timespec last_used; /* CLOCK_MONOTONIC */
	struct sign_session *next;
};

/* Close what is left of ss (its PKCS#11 session, if it still has one) and free it. No lock needed: ss is unlinked. */
static void session_free(struct sign_session *ss)
{
	ukey_session_free(ss->s);
	ukey_sign_key_clear(&ss->key);
	free(ss->key_id);
	OPENSSL_cleanse(ss->id, sizeof(ss->id));
	free(ss);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double last_used_s(const struct sign_session *ss)
{
	return (double)ss->last_used.tv_sec + (double)ss->last_used.tv_nsec / 1e9;
}

/* sessions_lock held. A session id is compared in constant time: it is a bearer secret within its connection. */
static struct sign_session **link_of(struct ukey_api *api, uint64_t conn_id, const char *id)
{
	size_t len = strlen(id);
	struct sign_session **pp;

	for (pp = &api->sessions; *pp; pp = &(*pp)->next)
		if ((*pp)->conn_id == conn_id && len == strlen((*pp)->id) && CRYPTO_memcmp((*pp)->id, id, len) == 0)
			break;
	return pp;
}

static struct sign_session *find(struct ukey_api *api, uint64_t conn_id, const char *id)
{
	return *link_of(api, conn_id, id);
}

static const char *reason_id(int reason)
{
	switch (-reason) {
	case UKEY_E_TOKEN_REMOVED:
		return "token-removed";
	case UKEY_E_SESSION_EXPIRED:
		return "idle-timeout";
	default:
		return "logged-out";
	}
}

/*
 * End ss (sessions_lock held): remember why for the owner, tell it, and hand
 * the PKCS#11 session back to be closed outside the lock (NULL while a worker
 * is signing with it: that worker closes it).
 */
static struct ukey_session *end(struct ukey_api *api, struct sign_session *ss, int reason)
{
	struct ukey_session *s = NULL;
	cJSON *p;

	if (ss->ended)
		return NULL;
	ss->ended = reason;
	if (!ss->in_use) {
		s = ss->s;
		ss->s = NULL;
		api->live_sessions--;
	}
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "session", ss->id);
	cJSON_AddStringToObject(p, "serial", ss->token.serial);
	cJSON_AddStringToObject(p, "reason", reason_id(reason));
	api_notify(api, ss->conn_id, "session.ended", p);
	log_debug("signing session on '%s' ended: %s", ss->token.serial, reason_id(reason));
	return s;
}

int sessions_add(struct ukey_api *api, uint64_t conn_id, const struct ukey_token_info *t, struct ukey_session *s,
		 char ret_id[33])
{
	struct sign_session *ss = calloc(1, sizeof(*ss));
	uint8_t raw[16];

	if (!ss || RAND_bytes(raw, sizeof(raw)) != 1) {
		free(ss);
		ukey_session_free(s);
		return ss ? -UKEY_E_INTERNAL : -ENOMEM;
	}
	ukey_json_hex(raw, sizeof(raw), ss->id, sizeof(ss->id));
	OPENSSL_cleanse(raw, sizeof(raw));
	ss->conn_id = conn_id;
	ss->token = *t;
	ss->s = s;
	clock_gettime(CLOCK_MONOTONIC, &ss->last_used);
	memcpy(ret_id, ss->id, sizeof(ss->id));
	pthread_mutex_lock(&api->sessions_lock);
	ss->next = api->sessions;
	api->sessions = ss;
	api->live_sessions++;
	pthread_mutex_unlock(&api->sessions_lock);
	/* The watcher's next wake-up must cover this session's idle timeout. */
	api_look_now(api);
	return 0;
}

int sessions_serial(struct ukey_api *api, uint64_t conn_id, const char *id, char serial[UKEY_P11_SERIAL_MAX])
{
	struct sign_session *ss;
	int r = -UKEY_E_SESSION_NOT_FOUND;

	pthread_mutex_lock(&api->sessions_lock);
	if ((ss = find(api, conn_id, id))) {
		snprintf(serial, UKEY_P11_SERIAL_MAX, "%s", ss->token.serial);
		r = 0;
	}
	pthread_mutex_unlock(&api->sessions_lock);
	return r;
}

int sessions_sign(struct ukey_api *api, struct ukey_core *core, uint64_t conn_id, const char *id,
		  enum ukey_sign_mech mech, const char *key_id, const uint8_t *input, size_t len, bool is_digest,
		  uint8_t **ret_sig, size_t *ret_len, struct ukey_sign_key *ret_key, struct ukey_failure *f)
{
	struct ukey_session *closing = NULL;
	struct sign_session *ss;
	struct ukey_token_info t;
	int r;

	pthread_mutex_lock(&api->sessions_lock);
	ss = find(api, conn_id, id);
	if (!ss || ss->in_use) {
		pthread_mutex_unlock(&api->sessions_lock);
		/* in_use cannot happen within one lane; refuse rather than share a PKCS#11 session between threads. */
		return ukey_failure_set(f, ss ? -UKEY_E_INTERNAL : -UKEY_E_SESSION_NOT_FOUND, NULL);
	}
	if (ss->ended) {
		r = ss->ended;
		pthread_mutex_unlock(&api->sessions_lock);
		return ukey_failure_set(f, r, NULL);
	}
	if (now_s() - last_used_s(ss) > api->cfg.session_idle_s) {
		closing = end(api, ss, -UKEY_E_SESSION_EXPIRED);
		pthread_mutex_unlock(&api->sessions_lock);
		ukey_session_free(closing);
		return ukey_failure_set(f, -UKEY_E_SESSION_EXPIRED, NULL);
	}
	ss->in_use = true;
	t = ss->token;
	pthread_mutex_unlock(&api->sessions_lock);

	/* ss's key fields are this worker's while in_use. */
	f->token = t;
	f->has_token = true;
	if (!ss->has_key || !ss->key_id != !key_id || (key_id && strcmp(ss->key_id, key_id) != 0)) {
		ukey_sign_key_clear(&ss->key);
		free(ss->key_id);
		ss->key_id = NULL;
		ss->has_key = false;
		r = ukey_core_sign_key(core, &t, mech, key_id, &ss->key, f);
		if (r == 0 && key_id && !(ss->key_id = strdup(key_id))) {
			ukey_sign_key_clear(&ss->key);
			r = ukey_failure_set(f, -ENOMEM, NULL);
		}
		ss->has_key = r == 0;
	} else {
		r = ukey_core_sign_key_check(&ss->key, mech, f);
	}
	if (r == 0)
		r = ukey_core_sign(core, ss->s, &ss->key, mech, input, len, is_digest, ret_sig, ret_len, f);
	if (r == 0 && (r = ukey_sign_key_copy(&ss->key, ret_key)) < 0)
		ukey_failure_set(f, r, NULL);

	pthread_mutex_lock(&api->sessions_lock);
	ss->in_use = false;
	if (ss->orphan) {
		struct sign_session **pp;

		for (pp = &api->sessions; *pp && *pp != ss; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = ss->next;
		if (ss->s)
			api->live_sessions--;
		pthread_mutex_unlock(&api->sessions_lock);
		session_free(ss);
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &ss->last_used);
	/* The key went away or logged us out (a wrong PIN elsewhere): the session is over; say so from now on. */
	if (r == -UKEY_E_TOKEN_REMOVED || r == -UKEY_E_NOT_LOGGED_IN)
		closing = end(api, ss, r);
	if (ss->ended && ss->s) {
		/* Ended while this worker signed: the PKCS#11 session is this worker's to close. */
		closing = ss->s;
		ss->s = NULL;
		api->live_sessions--;
		if (r == 0) {
			r = ss->ended;
			ukey_failure_set(f, r, NULL);
		}
	}
	pthread_mutex_unlock(&api->sessions_lock);
	ukey_session_free(closing);
	return r;
}

int sessions_close(struct ukey_api *api, uint64_t conn_id, const char *id)
{
	struct sign_session **pp, *ss;

	pthread_mutex_lock(&api->sessions_lock);
	pp = link_of(api, conn_id, id);
	ss = *pp;
	/* In use cannot happen within one lane; it is refused rather than freed under its worker. */
	if (ss && !ss->in_use) {
		*pp = ss->next;
		if (ss->s)
			api->live_sessions--;
	} else {
		ss = NULL;
	}
	pthread_mutex_unlock(&api->sessions_lock);
	if (!ss)
		return -UKEY_E_SESSION_NOT_FOUND;
	/* The key is logged out when this was the last session of ours on it (ukey_session_free). */
	session_free(ss);
	return 0;
}

void sessions_end_conn(struct ukey_api *api, uint64_t conn_id)
{
	struct sign_session **pp = &api->sessions, *gone = NULL;

	pthread_mutex_lock(&api->sessions_lock);
	while (*pp) {
		struct sign_session *ss = *pp;

		if (ss->conn_id != conn_id) {
			pp = &ss->next;
			continue;
		}
		/* A worker is signing with it: that worker frees it when done. */
		if (ss->in_use) {
			ss->orphan = true;
			ss->conn_id = 0;
			pp = &ss->next;
			continue;
		}
		*pp = ss->next;
		if (ss->s)
			api->live_sessions--;
		ss->next = gone;
		gone = ss;
	}
	pthread_mutex_unlock(&api->sessions_lock);
	while (gone) {
		struct sign_session *next = gone->next;

		session_free(gone);
		gone = next;
	}
}

void sessions_end_serial(struct ukey_api *api, const char *serial, int reason)
{
	struct ukey_session *closing[64];
	size_t n = 0;

	pthread_mutex_lock(&api->sessions_lock);
	for (struct sign_session *ss = api->sessions; ss; ss = ss->next) {
		struct ukey_session *s;

		if (strcmp(ss->token.serial, serial) != 0)
			continue;
		s = end(api, ss, reason);
		if (s && n < sizeof(closing) / sizeof(closing[0]))
			closing[n++] = s;
		else if (s)
			ukey_session_free(s); /* more than 64 on one key: rare enough to close under the lock */
	}
	pthread_mutex_unlock(&api->sessions_lock);
	for (size_t i = 0; i < n; i++)
		ukey_session_free(closing[i]);
}

unsigned sessions_expire(struct ukey_api *api)
{
	struct ukey_session *closing[64];
	double now = now_s(), next = 0;
	size_t n = 0;

	pthread_mutex_lock(&api->sessions_lock);
	for (struct sign_session *ss = api->sessions; ss; ss = ss->next) {
		double left;

		if (ss->ended || ss->in_use)
			continue;
		left = last_used_s(ss) + api->cfg.session_idle_s - now;
		if (left <= 0 && n < sizeof(closing) / sizeof(closing[0])) {
			struct ukey_session *s = end(api, ss, -UKEY_E_SESSION_EXPIRED);

			if (s)
				closing[n++] = s;
		} else if (left > 0 && (next == 0 || left < next)) {
			next = left;
		}
	}
	pthread_mutex_unlock(&api->sessions_lock);
	for (size_t i = 0; i < n; i++)
		ukey_session_free(closing[i]);
	return next > 0 ? (unsigned)next + 1 : 0;
}

unsigned sessions_count_conn(struct ukey_api *api, uint64_t conn_id)
{
	unsigned n = 0;

	pthread_mutex_lock(&api->sessions_lock);
	for (struct sign_session *ss = api->sessions; ss; ss = ss->next)
		n += ss->conn_id == conn_id;
	pthread_mutex_unlock(&api->sessions_lock);
	return n;
}

bool sessions_any_live(struct ukey_api *api)
{
	bool any;

	pthread_mutex_lock(&api->sessions_lock);
	any = api->live_sessions > 0;
	pthread_mutex_unlock(&api->sessions_lock);
	return any;
}

void sessions_free_all(struct ukey_api *api)
{
	while (api->sessions) {
		struct sign_session *next = api->sessions->next;

		session_free(api->sessions);
		api->sessions = next;
	}
	api->live_sessions = 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What ukeyd's API rooms share: the worker pool (api.c), the methods (methods.c), signing sessions (sessions.c),
 * and the tokens' state kept from events (tokens.c). */
#ifndef UKEY_API_INTERNAL_H
#define UKEY_API_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "core.h"
#include "p11.h"

/*
 * Threads and locks (taken in this order, never two of the same rank):
 *
 *   1. module_lock (rwlock): read while a job or the token watcher calls the
 *      module; write only to re-initialise it (ukey_p11_rescan), which
 *      closes every PKCS#11 session, so never while a signing session lives.
 *   2. lock: the job queue, the lanes, the replies, stop.
 *   2. tokens_lock: the token state (tokens.c).
 *   2. sessions_lock: the signing sessions (sessions.c).
 *
 * No lock of rank 2 is held across a PKCS#11 or SQLite call.
 *
 * A job runs on one of UKEY_API_WORKERS workers. Jobs about one key carry
 * its serial as their lane: a lane runs one job at a time, in order (a
 * PKCS#11 login is per application, so two PIN calls on one key must not
 * interleave); jobs on other lanes, and jobs without one, run side by side.
 */
#define UKEY_API_WORKERS 4

/* How many signing sessions one connection may hold (PROTOCOL.md). */
#define UKEY_API_MAX_SESSIONS_PER_CONN 8

#define UKEY_API_LANE_MAX UKEY_P11_SERIAL_MAX

/* Even with events, the watcher looks at the keys at least this often (seconds): a safety net, once an hour. */
#define UKEY_API_LOOK_MAX_S 3600

struct job;
struct sign_session;
struct token_entry;

/* A worker's own view: the shared module, its own store connection. */
struct api_worker {
	struct ukey_api *api;
	pthread_t thread;
	struct ukey_core core;
	bool module_held; /* holds module_lock for reading (during a job) */
	char lane[UKEY_API_LANE_MAX]; /* guarded by api->lock: the lane it runs now; "" none */
};

struct ukey_api {
	struct ukey_api_config cfg;
	char *module, *state_dir, *ca_url, *ca_trust;
	struct ukey_p11 *p11;
	pthread_rwlock_t module_lock;
	struct ukey_model_db *models; /* NULL when the model database cannot be read */
	struct ukey_device_watch *devices;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* a job came, or a lane was freed */
	struct job *jobs, *jobs_tail; /* guarded by lock */
	struct ukey_api_reply *replies, *replies_tail; /* guarded by lock */
	bool stop; /* guarded by lock */
	struct api_worker workers[UKEY_API_WORKERS];
	int nworkers;
	struct api_worker *caller; /* ukey_api_call()'s own context, made on first use */

	/* tokens.c */
	pthread_mutex_t tokens_lock;
	struct token_entry *tokens; /* guarded by tokens_lock */
	int ntokens; /* guarded by tokens_lock */
	char (*missing)[UKEY_P11_SERIAL_MAX]; /* watcher only: known keys the last look missed */
	int nmissing;
	pthread_t watcher;
	int wake_fd; /* eventfd: wakes the watcher (a device event, a change on a key, or stop) */
	struct ukey_core watch_core; /* the watcher's own store */
	struct ukey_core loop_core; /* the event loop's own store: the greeting of a new connection */

	/* sessions.c */
	pthread_mutex_t sessions_lock;
	struct sign_session *sessions; /* guarded by sessions_lock */
	unsigned live_sessions; /* guarded by sessions_lock: sessions with a PKCS#11 session open */
};

/* api.c */
/* api_error_doc: a JSON-RPC error response with a protocol-level code (ukey_api_error_text as a document). */
cJSON *api_error_doc(const cJSON *id, int code, const char *data_id, const char *message);
void api_notify(struct ukey_api *api, uint64_t conn_id, const char *method, cJSON *params);
void api_reply(struct ukey_api *api, uint64_t conn_id, cJSON *doc, bool request_done);
/* api_rescan: the core's rescan hook for a worker (drops and retakes its read lock). 1 when re-initialised. */
int api_rescan(void *userdata);
/*
 * api_rescan_now: re-initialise a module with fixed slots when no signing
 * session lives and no job uses the module (module_lock not held by the
 * caller). 1 when re-initialised, 0 when not needed or not allowed, -EBUSY
 * when a job holds the module (try again later).
 */
int api_rescan_now(struct ukey_api *api);
/*
 * api_lane_busy: a job about this key runs now. Reading a key's objects while
 * a job on the key writes or removes them is left to that job (it refreshes
 * the key's state when done): SoftHSM2 leaks objects read and removed at once.
 */
bool api_lane_busy(struct ukey_api *api, const char *serial);
/* api_look_now: wake the token watcher (a device event, or a job changed a key). */
void api_look_now(struct ukey_api *api);

/* methods.c: one request, on a worker, in its lane. */
void api_run_request(struct api_worker *w, uint64_t conn_id, const char *origin, const cJSON *req);
/* The lane of a request: the serial of the key it is about, "" for none (resolved from the token state). */
void api_request_lane(struct ukey_api *api, uint64_t conn_id, const cJSON *req, char lane[UKEY_API_LANE_MAX]);
/* A new connection: cert.expiring and renew.pending from the token state (memory) and the journal (core's store). */
void api_greet(struct ukey_api *api, struct ukey_core *core, uint64_t conn_id);

/* sessions.c */
/* A signing session opened with a logged-in PKCS#11 session s (taken over); *ret_id gets its id. */
int sessions_add(struct ukey_api *api, uint64_t conn_id, const struct ukey_token_info *t, struct ukey_session *s,
		 char ret_id[33]);
/* The serial of conn_id's session id, for its lane; -UKEY_E_SESSION_NOT_FOUND. */
int sessions_serial(struct ukey_api *api, uint64_t conn_id, const char *id, char serial[UKEY_P11_SERIAL_MAX]);
/* Sign in conn_id's session id (on its lane's worker). */
int sessions_sign(struct ukey_api *api, struct ukey_core *core, uint64_t conn_id, const char *id,
		  enum ukey_sign_mech mech, const char *key_id, const uint8_t *input, size_t len, bool is_digest,
		  uint8_t **ret_sig, size_t *ret_len, struct ukey_sign_key *ret_key, struct ukey_failure *f);
int sessions_close(struct ukey_api *api, uint64_t conn_id, const char *id);
/* End every session of a connection (closed), or of a key (removed, renewed: reason -UKEY_E_*). */
void sessions_end_conn(struct ukey_api *api, uint64_t conn_id);
void sessions_end_serial(struct ukey_api *api, const char *serial, int reason);
/* End sessions idle past their timeout; returns seconds until the next one would expire (0: none live). */
unsigned sessions_expire(struct ukey_api *api);
unsigned sessions_count_conn(struct ukey_api *api, uint64_t conn_id);
bool sessions_any_live(struct ukey_api *api);
void sessions_free_all(struct ukey_api *api);

/* tokens.c */
/* tokens_first_look: the state at start, before the first request is served (no notifications). */
void tokens_first_look(struct ukey_api *api);
void *tokens_watcher(void *userdata);
/* Look again at one key after a job changed it (PIN state, certificates). Needs module_lock for reading. */
void tokens_refresh(struct ukey_api *api, struct ukey_core *core, const char *serial);
/* token.list / cert.list from the kept state; the PIN state is read afresh from the caller's store. */
cJSON *tokens_list_json(struct ukey_api *api, struct ukey_core *core);
/* cert.list: the kept certificates, re-read first for a key whose certificate stamp moved. */
int tokens_certs_json(struct ukey_api *api, struct ukey_core *core, const char *selector, cJSON **ret,
		      struct ukey_failure *f);
/* The serial selector names in the kept state, or "" (not known: the job resolves it itself). */
void tokens_lane(struct ukey_api *api, const char *selector, char lane[UKEY_API_LANE_MAX]);
/* Each kept certificate whose renewal window is open, as cert.expiring params; and each kept token. */
void tokens_each_cert(struct ukey_api *api, void (*fn)(void *ud, cJSON *cert, const struct ukey_token_info *t),
		      void *ud);
void tokens_free(struct ukey_api *api);

#endif

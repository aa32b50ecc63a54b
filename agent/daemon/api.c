/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ukeyd's worker pool: requests queued by the event loop run on a few workers, one key's calls in order. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_WS
#include "api-internal.h"
#include "base/err.h"
#include "base/log.h"
#include "devices.h"
#include "model.h"
#include "objects.h"
#include "store.h"

enum job_kind {
	JOB_REQUEST,
	JOB_DISCONNECT, /* a connection closed: its signing sessions end */
};

struct job {
	enum job_kind kind;
	uint64_t conn_id;
	cJSON *req;
	char *origin;
	char lane[UKEY_API_LANE_MAX];
	struct job *next;
};

void api_reply(struct ukey_api *api, uint64_t conn_id, cJSON *doc, bool request_done)
{
	struct ukey_api_reply *reply = calloc(1, sizeof(*reply));
	char *text = cJSON_PrintUnformatted(doc);

	cJSON_Delete(doc);
	if (!reply || !text) {
		free(reply);
		free(text);
		return;
	}
	reply->conn_id = conn_id;
	reply->text = text;
	reply->len = strlen(text);
	reply->request_done = request_done;
	pthread_mutex_lock(&api->lock);
	if (api->replies_tail)
		api->replies_tail->next = reply;
	else
		api->replies = reply;
	api->replies_tail = reply;
	pthread_mutex_unlock(&api->lock);
	api->cfg.wake(api->cfg.userdata);
}

void api_notify(struct ukey_api *api, uint64_t conn_id, const char *method, cJSON *params)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "jsonrpc", "2.0");
	cJSON_AddStringToObject(doc, "method", method);
	cJSON_AddItemToObject(doc, "params", params);
	api_reply(api, conn_id, doc, false);
}

cJSON *api_error_doc(const cJSON *id, int code, const char *data_id, const char *message)
{
	cJSON *doc = cJSON_CreateObject(), *e, *data;

	cJSON_AddStringToObject(doc, "jsonrpc", "2.0");
	cJSON_AddItemToObject(doc, "id", id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
	e = cJSON_AddObjectToObject(doc, "error");
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	data = cJSON_AddObjectToObject(e, "data");
	cJSON_AddStringToObject(data, "id", data_id);
	return doc;
}

char *ukey_api_error_text(const cJSON *id, int code, const char *data_id, const char *message)
{
	cJSON *doc = api_error_doc(id, code, data_id, message);
	char *text = cJSON_PrintUnformatted(doc);

	cJSON_Delete(doc);
	return text;
}

void api_look_now(struct ukey_api *api)
{
	uint64_t one = 1;

	/* An eventfd: callable from any thread (device callbacks too), never blocks, coalesces. */
	if (write(api->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug_errno(-errno, "waking the token watcher");
}

bool api_lane_busy(struct ukey_api *api, const char *serial)
{
	bool busy = false;

	pthread_mutex_lock(&api->lock);
	for (int i = 0; i < api->nworkers && !busy; i++)
		busy = strcmp(api->workers[i].lane, serial) == 0;
	pthread_mutex_unlock(&api->lock);
	return busy;
}

int api_rescan_now(struct ukey_api *api)
{
	int r = 0;

	/*
	 * Never wait for the module: a job may hold it for as long as a CA takes
	 * to answer, and a waiting writer would hold up every other job's
	 * reader behind it. Busy: the caller tries again later.
	 */
	if (pthread_rwlock_trywrlock(&api->module_lock) != 0)
		return -EBUSY;
	/* Re-initialising closes every PKCS#11 session: never under a live signing session. */
	if (!sessions_any_live(api))
		r = ukey_p11_rescan(api->p11);
	pthread_rwlock_unlock(&api->module_lock);
	log_debug("module re-initialised: %d", r);
	return r;
}

int api_rescan(void *userdata)
{
	struct api_worker *w = userdata;
	int r;

	if (w->module_held)
		pthread_rwlock_unlock(&w->api->module_lock);
	/* A key asked for by name and not found: worth a short wait for the other jobs to let go of the module. */
	for (int i = 0; i < 20 && (r = api_rescan_now(w->api)) == -EBUSY; i++)
		usleep(25 * 1000);
	if (w->module_held)
		pthread_rwlock_rdlock(&w->api->module_lock);
	return r;
}

static void job_free(struct job *job)
{
	if (job->req)
		ukey_api_request_free(job->req);
	free(job->origin);
	free(job);
}

/* The first queued job whose lane no worker runs now (lock held). */
static struct job *take_job(struct ukey_api *api)
{
	struct job *prev = NULL;

	for (struct job *j = api->jobs; j; prev = j, j = j->next) {
		bool busy = false;

		for (int i = 0; j->lane[0] && i < api->nworkers && !busy; i++)
			busy = strcmp(api->workers[i].lane, j->lane) == 0;
		if (busy)
			continue;
		if (prev)
			prev->next = j->next;
		else
			api->jobs = j->next;
		if (api->jobs_tail == j)
			api->jobs_tail = prev;
		j->next = NULL;
		return j;
	}
	return NULL;
}

static void run_job(struct api_worker *w, struct job *job)
{
	struct ukey_api *api = w->api;

	pthread_rwlock_rdlock(&api->module_lock);
	w->module_held = true;
	switch (job->kind) {
	case JOB_REQUEST:
		api_run_request(w, job->conn_id, job->origin, job->req);
		break;
	case JOB_DISCONNECT:
		sessions_end_conn(api, job->conn_id);
		break;
	}
	w->module_held = false;
	pthread_rwlock_unlock(&api->module_lock);
}

static void *worker(void *userdata)
{
	struct api_worker *w = userdata;
	struct ukey_api *api = w->api;

	pthread_mutex_lock(&api->lock);
	for (;;) {
		struct job *job;

		while (!api->stop && !(job = take_job(api)))
			pthread_cond_wait(&api->cond, &api->lock);
		if (api->stop)
			break;
		snprintf(w->lane, sizeof(w->lane), "%s", job->lane);
		pthread_mutex_unlock(&api->lock);

		run_job(w, job);
		job_free(job);

		pthread_mutex_lock(&api->lock);
		w->lane[0] = '\0';
		/* A job waiting for this lane may go now. */
		pthread_cond_broadcast(&api->cond);
	}
	pthread_mutex_unlock(&api->lock);
	return NULL;
}

/* A key, reader or card came or went (device layer threads): tell every page, and look at the tokens now. */
static void on_device_event(void *userdata, const struct ukey_device_event *ev)
{
	struct ukey_api *api = userdata;

	api_notify(api, 0, "device.changed", ukey_json_device_event(ev));
	api_look_now(api);
}

static void load_models(struct ukey_api *api)
{
	char *msg = NULL;
	int r;

	if ((r = ukey_models_load(&api->models, &msg)) < 0) {
		log_warning("No device events and no diagnosis: the token model database cannot be used: %s",
			    msg ? msg : ukey_strerror(r));
		free(msg);
	}
}

static void start_device_watch(struct ukey_api *api)
{
	int r;

	if (!api->models)
		return;
	/* pcscd down is not fatal: the watch reports it and waits for pcscd to come back. */
	if ((r = ukey_device_watch_start(api->models, true, on_device_event, api, &api->devices, NULL)) < 0)
		log_warning("No device events: %s", ukey_strerror(r));
}

/* A core context over the shared module with a store connection of its own (SQLite: one per thread). */
static void core_init(struct ukey_api *api, struct ukey_core *core, void *rescan_userdata)
{
	*core = (struct ukey_core){
		.p11 = api->p11,
		.max_tries = api->cfg.max_tries,
		.module = api->module,
		.state_dir = api->state_dir,
		.ca_url = api->ca_url,
		.ca_trust = api->ca_trust,
		.models = api->models,
		.rescan = rescan_userdata ? api_rescan : NULL,
		.rescan_userdata = rescan_userdata,
	};
	/* Without a store the agent still lists keys; PIN methods then fail closed (R-P1). */
	core->store_error = api->state_dir ? ukey_store_open(api->state_dir, &core->store) : -UKEY_E_STATE_UNAVAILABLE;
}

static void stop_threads(struct ukey_api *api)
{
	pthread_mutex_lock(&api->lock);
	api->stop = true;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->lock);
	api_look_now(api);
	for (int i = 0; i < api->nworkers; i++)
		pthread_join(api->workers[i].thread, NULL);
	api->nworkers = 0;
}

int ukey_api_start(const struct ukey_api_config *cfg, struct ukey_api **ret_api)
{
	struct ukey_api *api = calloc(1, sizeof(*api));
	pthread_rwlockattr_t rwattr;
	int r;

	if (!api)
		return -ENOMEM;
	api->cfg = *cfg;
	api->module = strdup(cfg->module);
	api->state_dir = cfg->state_dir ? strdup(cfg->state_dir) : NULL;
	api->ca_url = cfg->ca_url ? strdup(cfg->ca_url) : NULL;
	api->ca_trust = cfg->ca_trust ? strdup(cfg->ca_trust) : NULL;
	if (!api->module || (cfg->state_dir && !api->state_dir) || (cfg->ca_url && !api->ca_url) ||
	    (cfg->ca_trust && !api->ca_trust)) {
		free(api->module);
		free(api->state_dir);
		free(api->ca_url);
		free(api->ca_trust);
		free(api);
		return -ENOMEM;
	}
	api->cfg.module = api->module;
	api->cfg.state_dir = api->state_dir;
	if (api->cfg.poll_ms == 0)
		api->cfg.poll_ms = 1000;
	if (api->cfg.session_idle_s == 0)
		api->cfg.session_idle_s = UKEY_API_SESSION_IDLE_DEFAULT;
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->cond, NULL);
	api->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (api->wake_fd < 0) {
		free(api->module);
		free(api->state_dir);
		free(api->ca_url);
		free(api->ca_trust);
		free(api);
		return -errno;
	}
	pthread_mutex_init(&api->tokens_lock, NULL);
	pthread_mutex_init(&api->sessions_lock, NULL);
	/* Writers first: a re-initialisation must not wait behind an endless stream of jobs. */
	pthread_rwlockattr_init(&rwattr);
	pthread_rwlockattr_setkind_np(&rwattr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&api->module_lock, &rwattr);
	pthread_rwlockattr_destroy(&rwattr);
	if ((r = ukey_p11_load(api->module, &api->p11)) < 0)
		goto fail;
	load_models(api); /* before the workers: they read them for diagnose */
	core_init(api, &api->watch_core, NULL);
	core_init(api, &api->loop_core, NULL);
	if (api->watch_core.store_error < 0)
		log_warning("PIN tries cannot be recorded in '%s': %s; PIN methods are refused",
			    api->state_dir ? api->state_dir : "(none)", ukey_strerror(api->watch_core.store_error));
	tokens_first_look(api);
	for (int i = 0; i < UKEY_API_WORKERS; i++) {
		struct api_worker *w = &api->workers[i];

		w->api = api;
		core_init(api, &w->core, w);
		if ((r = -pthread_create(&w->thread, NULL, worker, w)) < 0) {
			ukey_store_free(w->core.store);
			goto fail;
		}
		api->nworkers++;
	}
	start_device_watch(api); /* before the watcher: without device events it must poll */
	if ((r = -pthread_create(&api->watcher, NULL, tokens_watcher, api)) < 0)
		goto fail;
	*ret_api = api;
	return 0;
fail:
	ukey_device_watch_stop(api->devices);
	stop_threads(api);
	for (int i = 0; i < UKEY_API_WORKERS; i++)
		ukey_store_free(api->workers[i].core.store);
	ukey_store_free(api->watch_core.store);
	ukey_store_free(api->loop_core.store);
	tokens_free(api);
	ukey_model_db_free(api->models);
	ukey_p11_free(api->p11);
	close(api->wake_fd);
	free(api->module);
	free(api->state_dir);
	free(api->ca_url);
	free(api->ca_trust);
	free(api);
	return r;
}

struct ukey_api *ukey_api_stop(struct ukey_api *api)
{
	struct ukey_api_reply *reply;

	if (!api)
		return NULL;
	/* First the device threads: their callback takes api->lock and queues notifications. */
	ukey_device_watch_stop(api->devices);
	stop_threads(api);
	pthread_join(api->watcher, NULL);
	while (api->jobs) {
		struct job *next = api->jobs->next;

		job_free(api->jobs);
		api->jobs = next;
	}
	while ((reply = ukey_api_take_reply(api)))
		ukey_api_reply_free(reply);
	sessions_free_all(api);
	tokens_free(api);
	for (int i = 0; i < UKEY_API_WORKERS; i++)
		ukey_store_free(api->workers[i].core.store);
	ukey_store_free(api->watch_core.store);
	ukey_store_free(api->loop_core.store);
	if (api->caller)
		ukey_store_free(api->caller->core.store);
	free(api->caller);
	ukey_model_db_free(api->models);
	ukey_p11_free(api->p11);
	pthread_rwlock_destroy(&api->module_lock);
	pthread_cond_destroy(&api->cond);
	close(api->wake_fd);
	pthread_mutex_destroy(&api->lock);
	pthread_mutex_destroy(&api->tokens_lock);
	pthread_mutex_destroy(&api->sessions_lock);
	free(api->module);
	free(api->state_dir);
	free(api->ca_url);
	free(api->ca_trust);
	free(api);
	return NULL;
}

static void enqueue(struct ukey_api *api, struct job *job)
{
	pthread_mutex_lock(&api->lock);
	if (api->jobs_tail)
		api->jobs_tail->next = job;
	else
		api->jobs = job;
	api->jobs_tail = job;
	/* One job, one worker woken (a worker done with a lane wakes them all: a job may wait for that lane). */
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

static struct job *job_new(enum job_kind kind, uint64_t conn_id)
{
	struct job *job = calloc(1, sizeof(*job));

	if (job) {
		job->kind = kind;
		job->conn_id = conn_id;
	}
	return job;
}

void ukey_api_request_free(cJSON *req)
{
	cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params"), *v;

	/* Every string param, not only "pin" and "new_pin": a method added later may carry a secret too. */
	cJSON_ArrayForEach(v, params)
	{
		if (cJSON_IsString(v))
			OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
	}
	cJSON_Delete(req);
}

void ukey_api_submit(struct ukey_api *api, uint64_t conn_id, const char *origin, cJSON *req)
{
	struct job *job = job_new(JOB_REQUEST, conn_id);

	if (!job || (origin && !(job->origin = strdup(origin)))) {
		free(job);
		ukey_api_request_free(req);
		return;
	}
	job->req = req;
	/* Decided here, from memory: the key the request is about is its lane. */
	api_request_lane(api, conn_id, req, job->lane);
	enqueue(api, job);
}

void ukey_api_connected(struct ukey_api *api, uint64_t conn_id)
{
	/*
	 * Here, on the event loop, before the connection can send anything: its
	 * first reply comes after its greeting, whichever worker runs it. Memory
	 * and one journal read, no module call.
	 */
	api_greet(api, &api->loop_core, conn_id);
}

void ukey_api_disconnected(struct ukey_api *api, uint64_t conn_id)
{
	struct job *job;

	/* NULL: the server is closing its connections after the API stopped (every session is gone already). */
	if (!api || sessions_count_conn(api, conn_id) == 0)
		return;
	if ((job = job_new(JOB_DISCONNECT, conn_id)))
		enqueue(api, job);
}

char *ukey_api_call(struct ukey_api *api, uint64_t conn_id, const char *origin, cJSON *req)
{
	struct ukey_api_reply *reply, *mine = NULL, *others = NULL;
	char *text = NULL;

	if (!api->caller) {
		if (!(api->caller = calloc(1, sizeof(*api->caller)))) {
			ukey_api_request_free(req);
			return NULL;
		}
		api->caller->api = api;
		core_init(api, &api->caller->core, api->caller);
	}
	pthread_rwlock_rdlock(&api->module_lock);
	api->caller->module_held = true;
	api_run_request(api->caller, conn_id, origin, req);
	api->caller->module_held = false;
	pthread_rwlock_unlock(&api->module_lock);
	ukey_api_request_free(req);
	/* The reply to this request; everything else queued meanwhile goes back, in order, for others to take. */
	while ((reply = ukey_api_take_reply(api))) {
		if (!mine && reply->conn_id == conn_id && reply->request_done) {
			mine = reply;
			continue;
		}
		if (reply->conn_id == conn_id) {
			ukey_api_reply_free(reply);
			continue;
		}
		reply->next = others;
		others = reply;
	}
	while (others) {
		reply = others;
		others = reply->next;
		reply->next = NULL;
		pthread_mutex_lock(&api->lock);
		reply->next = api->replies;
		api->replies = reply;
		if (!api->replies_tail)
			api->replies_tail = reply;
		pthread_mutex_unlock(&api->lock);
	}
	if (mine) {
		text = mine->text;
		mine->text = NULL;
		ukey_api_reply_free(mine);
	}
	return text;
}

struct ukey_api_reply *ukey_api_take_reply(struct ukey_api *api)
{
	struct ukey_api_reply *reply;

	pthread_mutex_lock(&api->lock);
	reply = api->replies;
	if (reply) {
		api->replies = reply->next;
		if (!api->replies)
			api->replies_tail = NULL;
		reply->next = NULL;
	}
	pthread_mutex_unlock(&api->lock);
	return reply;
}

void ukey_api_reply_free(struct ukey_api_reply *reply)
{
	if (!reply)
		return;
	free(reply->text);
	free(reply);
}

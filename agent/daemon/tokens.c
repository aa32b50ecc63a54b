/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The keys' state kept in memory: refreshed on device events and after each call that changes a key. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_WS
#include "api-internal.h"
#include "base/err.h"
#include "base/log.h"
#include "objects.h"

/*
 * token.list and cert.list answer from here without a module call. The
 * watcher thread fills it: at start, on every device event (a key, reader
 * or card came or went), when a job changed a key (tokens_refresh), and for a
 * module that reports no slot events and fixes its slot list (SoftHSM2) by a
 * cheap look every poll interval: the token list (C_GetSlotList and
 * C_GetTokenInfo), with the certificates read again only for a key that is
 * new or whose token information changed.
 */
/* In look(): this key's kept certificates carry over (a count no read returns). */
#define KEEP (-1000)

struct token_entry {
	struct ukey_token_info token;
	struct ukey_cert_info *certs;
	int ncerts; /* < 0: unreadable */
	uint64_t stamp; /* ukey_p11_certs_stamp() when certs were read */
};

static void entry_clear(struct token_entry *e)
{
	ukey_cert_info_free_array(e->certs, e->ncerts > 0 ? (size_t)e->ncerts : 0);
	e->certs = NULL;
	e->ncerts = 0;
}

/* tokens_lock held */
static struct token_entry *find(struct ukey_api *api, const char *serial)
{
	for (int i = 0; i < api->ntokens; i++)
		if (strcmp(api->tokens[i].token.serial, serial) == 0)
			return &api->tokens[i];
	return NULL;
}

static bool same_token(const struct ukey_token_info *a, const struct ukey_token_info *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void read_certs(struct ukey_core *core, struct token_entry *e)
{
	if (ukey_p11_certs_stamp(core->p11, e->token.serial, &e->stamp) < 0)
		e->stamp = 0;
	e->ncerts = ukey_p11_certs(core->p11, e->token.serial, &e->certs);
	if (e->ncerts < 0)
		e->certs = NULL;
	log_debug("key '%s': %d certificates", e->token.serial, e->ncerts);
}

static cJSON *token_json(struct ukey_core *core, const struct token_entry *e)
{
	struct ukey_pin_state st;

	/* The PIN count is read afresh: another program (the CLI) may have used a try meanwhile. */
	ukey_pin_state(core->store, &e->token, core->max_tries, &st);
	return ukey_json_token(&e->token, &st, e->ncerts);
}

static bool is_missing(struct ukey_api *api, const char *serial)
{
	for (int i = 0; i < api->nmissing; i++)
		if (strcmp(api->missing[i], serial) == 0)
			return true;
	return false;
}

/*
 * Look at the keys now (watcher thread, module_lock held for reading) and
 * tell every connection what came and went. A key must be missing from two
 * looks in a row to count as removed: a module re-initialised while another
 * program writes the token (SoftHSM2 during a PIN attempt) may miss it once.
 */
static void look(struct ukey_api *api, struct ukey_core *core, bool announce)
{
	struct ukey_token_info *now = NULL;
	struct token_entry *next, *old;
	char(*missing)[UKEY_P11_SERIAL_MAX] = NULL;
	int n, nnext = 0, nold, nmissing = 0;
	cJSON **inserted;
	int ninserted = 0;

	n = ukey_p11_tokens(core->p11, &now);
	if (n < 0)
		return;
	pthread_mutex_lock(&api->tokens_lock);
	nold = api->ntokens;
	pthread_mutex_unlock(&api->tokens_lock);
	next = calloc((size_t)(n + nold + 1), sizeof(*next));
	inserted = calloc((size_t)n + 1, sizeof(*inserted));
	missing = calloc((size_t)nold + 1, sizeof(*missing));
	if (!next || !inserted || !missing) {
		free(next);
		free(inserted);
		free(missing);
		free(now);
		return;
	}
	/*
	 * Which keys are unchanged (their certificates carry over at the swap,
	 * under the lock: the kept state is never seen half-moved) and which are
	 * new or changed (read now, outside the lock).
	 */
	pthread_mutex_lock(&api->tokens_lock);
	for (int i = 0; i < n; i++) {
		struct token_entry *e = find(api, now[i].serial);

		next[nnext].token = now[i];
		next[nnext].ncerts = -1;
		if (e && same_token(&e->token, &now[i])) {
			next[nnext].ncerts = KEEP;
			next[nnext].stamp = e->stamp;
		} else if (e) {
			next[nnext].ncerts = -2; /* known, changed: read again */
		}
		nnext++;
	}
	old = api->tokens;
	pthread_mutex_unlock(&api->tokens_lock);

	for (int i = 0; i < nnext; i++) {
		bool is_new = next[i].ncerts == -1;
		uint64_t stamp = 0;

		/* A job on this key refreshes it when done (api_lane_busy): its objects are not read under it. */
		if (next[i].ncerts == KEEP && api_lane_busy(api, next[i].token.serial))
			continue;
		/* Unchanged token information: only a different stamp (another program wrote the key) costs a read. */
		if (next[i].ncerts == KEEP && ukey_p11_certs_stamp(core->p11, next[i].token.serial, &stamp) == 0 &&
		    stamp != next[i].stamp)
			next[i].ncerts = -2;
		if (next[i].ncerts == -1 || next[i].ncerts == -2) {
			read_certs(core, &next[i]);
			if (is_new && announce)
				inserted[ninserted++] = token_json(core, &next[i]);
		}
	}
	/* Known keys not seen now: gone after the second look; kept (and remembered as missing) after the first. */
	for (int i = 0; i < nold; i++) {
		bool seen = false;

		for (int k = 0; k < n && !seen; k++)
			seen = strcmp(now[k].serial, old[i].token.serial) == 0;
		if (seen)
			continue;
		if (announce && !is_missing(api, old[i].token.serial)) {
			snprintf(missing[nmissing++], UKEY_P11_SERIAL_MAX, "%s", old[i].token.serial);
			next[nnext].token = old[i].token;
			next[nnext].ncerts = KEEP;
			nnext++;
			continue;
		}
		if (announce) {
			cJSON *p = cJSON_CreateObject();

			cJSON_AddStringToObject(p, "serial", old[i].token.serial);
			cJSON_AddStringToObject(p, "label", old[i].token.label);
			api_notify(api, 0, "token.removed", p);
		}
		/* R-P2 aside, a pulled key ends its signing sessions: sign then says token-removed. */
		sessions_end_serial(api, old[i].token.serial, -UKEY_E_TOKEN_REMOVED);
	}
	pthread_mutex_lock(&api->tokens_lock);
	for (int i = 0; i < nnext; i++) {
		struct token_entry *e;

		if (next[i].ncerts != KEEP)
			continue;
		/* What the kept entry holds now (a job may have refreshed it meanwhile). */
		e = find(api, next[i].token.serial);
		next[i].certs = e ? e->certs : NULL;
		next[i].ncerts = e ? e->ncerts : -1;
		next[i].stamp = e ? e->stamp : 0;
		if (e) {
			e->certs = NULL;
			e->ncerts = 0;
		}
	}
	for (int i = 0; i < nold; i++)
		entry_clear(&old[i]);
	free(api->tokens);
	api->tokens = next;
	api->ntokens = nnext;
	pthread_mutex_unlock(&api->tokens_lock);
	free(api->missing);
	api->missing = missing;
	api->nmissing = nmissing;
	for (int i = 0; i < ninserted; i++)
		api_notify(api, 0, "token.inserted", inserted[i]);
	free(inserted);
	free(now);
}

void tokens_refresh(struct ukey_api *api, struct ukey_core *core, const char *serial)
{
	struct token_entry e = { 0 };
	struct token_entry *k;
	int r;

	if ((r = ukey_p11_token_info(core->p11, serial, &e.token)) < 0) {
		/* Gone: the watcher's next look says so to everyone. */
		api_look_now(api);
		return;
	}
	read_certs(core, &e);
	pthread_mutex_lock(&api->tokens_lock);
	if ((k = find(api, serial))) {
		entry_clear(k);
		*k = e;
		e.certs = NULL;
		e.ncerts = 0;
	}
	pthread_mutex_unlock(&api->tokens_lock);
	entry_clear(&e);
	if (!k)
		api_look_now(api);
}

cJSON *tokens_list_json(struct ukey_api *api, struct ukey_core *core)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "tokens");
	struct ukey_token_info *copy;
	int *ncerts, n;

	/* Copied out, so the store is read without the lock held. */
	pthread_mutex_lock(&api->tokens_lock);
	n = api->ntokens;
	copy = calloc((size_t)n + 1, sizeof(*copy));
	ncerts = calloc((size_t)n + 1, sizeof(*ncerts));
	for (int i = 0; copy && ncerts && i < n; i++) {
		copy[i] = api->tokens[i].token;
		ncerts[i] = api->tokens[i].ncerts;
	}
	pthread_mutex_unlock(&api->tokens_lock);
	for (int i = 0; copy && ncerts && i < n; i++) {
		struct token_entry e = { .token = copy[i], .ncerts = ncerts[i] };

		cJSON_AddItemToArray(arr, token_json(core, &e));
	}
	free(copy);
	free(ncerts);
	return o;
}

/* Re-read the certificates of kept keys whose stamp moved (another program wrote them): a few calls per key. */
static void freshen_certs(struct ukey_api *api, struct ukey_core *core)
{
	struct {
		char serial[UKEY_P11_SERIAL_MAX];
		uint64_t stamp;
	} * keys;
	int n;

	pthread_mutex_lock(&api->tokens_lock);
	n = api->ntokens;
	keys = calloc((size_t)n + 1, sizeof(*keys));
	for (int i = 0; keys && i < n; i++) {
		snprintf(keys[i].serial, sizeof(keys[i].serial), "%s", api->tokens[i].token.serial);
		keys[i].stamp = api->tokens[i].stamp;
	}
	pthread_mutex_unlock(&api->tokens_lock);
	for (int i = 0; keys && i < n; i++) {
		uint64_t stamp;

		if (api_lane_busy(api, keys[i].serial))
			continue; /* that job refreshes the key when done */
		if (ukey_p11_certs_stamp(core->p11, keys[i].serial, &stamp) == 0 && stamp != keys[i].stamp)
			tokens_refresh(api, core, keys[i].serial);
	}
	free(keys);
}

/*
 * The kept key selector names, by the same rule as everywhere
 * (ukey_p11_select: serial first, then label; NULL: the only one). Returns
 * its index or the selection error. tokens_lock held.
 */
static int kept_select(struct ukey_api *api, const char *selector)
{
	struct ukey_token_info *infos = calloc((size_t)api->ntokens + 1, sizeof(*infos));
	int i;

	if (!infos)
		return -ENOMEM;
	for (int k = 0; k < api->ntokens; k++)
		infos[k] = api->tokens[k].token;
	i = ukey_p11_select(infos, (size_t)api->ntokens, selector);
	free(infos);
	return i;
}

int tokens_certs_json(struct ukey_api *api, struct ukey_core *core, const char *selector, cJSON **ret,
		      struct ukey_failure *f)
{
	cJSON *o, *arr;
	time_t now = time(NULL);
	int sel = -1, r = 0;

	freshen_certs(api, core);

	pthread_mutex_lock(&api->tokens_lock);
	/* Every kept key's, or the one selector names; no key at all is no-token, as in `ukey certs`. */
	if ((selector || api->ntokens == 0) && (sel = kept_select(api, selector)) < 0)
		r = sel;
	o = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o, "certificates");
	for (int i = 0; r == 0 && i < api->ntokens; i++) {
		const struct token_entry *e = &api->tokens[i];

		if (sel >= 0 && i != sel)
			continue;
		for (int j = 0; j < e->ncerts; j++)
			cJSON_AddItemToArray(arr, ukey_json_cert(&e->token, &e->certs[j], now, true));
	}
	pthread_mutex_unlock(&api->tokens_lock);
	if (r < 0) {
		cJSON_Delete(o);
		return ukey_core_fail(core, selector, r, f);
	}
	*ret = o;
	return 0;
}

void tokens_lane(struct ukey_api *api, const char *selector, char lane[UKEY_API_LANE_MAX])
{
	int i;

	lane[0] = '\0';
	pthread_mutex_lock(&api->tokens_lock);
	if ((i = kept_select(api, selector)) >= 0)
		snprintf(lane, UKEY_API_LANE_MAX, "%s", api->tokens[i].token.serial);
	pthread_mutex_unlock(&api->tokens_lock);
}

void tokens_each_cert(struct ukey_api *api, void (*fn)(void *ud, cJSON *cert, const struct ukey_token_info *t),
		      void *ud)
{
	struct item {
		cJSON *cert;
		struct ukey_token_info token;
	} *items = NULL;
	size_t n = 0, cap = 0;
	time_t now = time(NULL);

	/* Collected under the lock, handed out without it (fn may read the store). */
	pthread_mutex_lock(&api->tokens_lock);
	for (int i = 0; i < api->ntokens; i++) {
		const struct token_entry *e = &api->tokens[i];

		for (int j = -1; j < e->ncerts; j++) {
			cJSON *c = NULL;

			if (j >= 0) {
				c = ukey_json_cert(&e->token, &e->certs[j], now, true);
				if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "renewal_open"))) {
					cJSON_Delete(c);
					continue;
				}
			}
			if (n == cap) {
				struct item *grown = realloc(items, (cap = cap ? 2 * cap : 8) * sizeof(*items));

				if (!grown) {
					cJSON_Delete(c);
					break;
				}
				items = grown;
			}
			items[n].cert = c;
			items[n].token = e->token;
			n++;
		}
	}
	pthread_mutex_unlock(&api->tokens_lock);
	for (size_t i = 0; i < n; i++)
		fn(ud, items[i].cert, &items[i].token);
	free(items);
}

void tokens_free(struct ukey_api *api)
{
	for (int i = 0; i < api->ntokens; i++)
		entry_clear(&api->tokens[i]);
	free(api->tokens);
	api->tokens = NULL;
	api->ntokens = 0;
	free(api->missing);
	api->missing = NULL;
	api->nmissing = 0;
}

void tokens_first_look(struct ukey_api *api)
{
	look(api, &api->watch_core, false);
}

/* The watcher's sleep: until woken (api_look_now, stop), the module's files change, or timeout_ms pass. */
static void sleep_until_something(struct ukey_api *api, struct ukey_p11_watch *watch, unsigned timeout_ms)
{
	struct pollfd fds[2] = { { .fd = api->wake_fd, .events = POLLIN },
				 { .fd = watch ? ukey_p11_watch_fd(watch) : -1, .events = POLLIN } };
	uint64_t n;

	if (poll(fds, watch ? 2 : 1, (int)timeout_ms) > 0 && (fds[0].revents & POLLIN))
		while (read(api->wake_fd, &n, sizeof(n)) > 0)
			;
}

static bool stopping(struct ukey_api *api)
{
	bool stop;

	pthread_mutex_lock(&api->lock);
	stop = api->stop;
	pthread_mutex_unlock(&api->lock);
	return stop;
}

void *tokens_watcher(void *userdata)
{
	struct ukey_api *api = userdata;
	struct ukey_p11_watch *watch = NULL;
	bool polled, rescan_due = false;
	int pending = 0; /* what the last drain after a look saw */

	/*
	 * How keys are seen to come and go, cheapest first: the module's token
	 * files (SoftHSM2, inotify), device events (USB hotplug, PC/SC), and only
	 * without either a look every poll interval.
	 */
	if (ukey_p11_needs_polling(api->p11) && ukey_p11_watch_open(api->p11, &watch) < 0)
		watch = NULL;
	polled = !watch && (ukey_p11_needs_polling(api->p11) || !api->devices);
	for (;;) {
		unsigned wait_ms, idle;
		int what = 0;

		idle = sessions_expire(api);
		/* Asleep until an event, a signing session's idle timeout, or (polled modules only) the next look. */
		wait_ms = polled ? api->cfg.poll_ms : UKEY_API_LOOK_MAX_S * 1000;
		/* A key missing from one look is gone only if the next one misses it too: that look comes soon. */
		if ((api->nmissing > 0 || rescan_due || pending) && api->cfg.poll_ms < wait_ms)
			wait_ms = api->cfg.poll_ms;
		if (idle && idle * 1000 < wait_ms)
			wait_ms = idle * 1000;
		sleep_until_something(api, watch, wait_ms);
		if (stopping(api))
			break;
		if (watch)
			what = ukey_p11_watch_drain(watch) | pending;
		pending = 0;
		log_debug("looking at the keys%s", what ? ": the module's token files changed" : "");
		/*
		 * A module with a fixed slot list is re-initialised to see keys come
		 * and go (never under a live signing session): polled, or when a
		 * token's directory came, went or is new (complete only once its
		 * files are). Objects changing on a known key need no re-initialisation.
		 */
		if ((polled || (what & UKEY_P11_WATCH_TOKENS) || rescan_due) && api_rescan_now(api) == -EBUSY) {
			/* A job is using the module (a renewal waiting on the CA): try again soon, never wait for it. */
			rescan_due = true;
		} else {
			rescan_due = false;
		}
		pthread_rwlock_rdlock(&api->module_lock);
		look(api, &api->watch_core, true);
		pthread_rwlock_unlock(&api->module_lock);
		/*
		 * Files that changed while we looked: another program still writing,
		 * or the module itself touching its files as we re-initialised it.
		 * Look once more, but after a pause: never a loop of our own making.
		 */
		if (watch)
			pending = ukey_p11_watch_drain(watch);
	}
	ukey_p11_watch_free(watch);
	return NULL;
}

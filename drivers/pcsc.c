/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PC/SC through pcsc-lite: the reader list, a SELECT with a deadline, and a watcher thread that outlives pcscd. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#include "base/err.h"
#define UKEY_LOG_MODULE UKEY_LOG_MOD_PCSC
#include "base/log.h"
#include "pcsc.h"

#define PNP_READER "\\\\?PnP?\\Notification"
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
/* How often ukey_pcsc_watch_stop repeats SCardCancel: a cancel that lands just before the thread enters
 * SCardGetStatusChange is a no-op in pcsc-lite (the context is not "cancellable" yet). */
#define STOP_RETRY_MS 50
#define MAX_RAPDU (256 + 2)

/* PKCS#15 application (ISO/IEC 7816-15), what OpenSC selects first on the CA's CCID tokens. */
static const uint8_t select_pkcs15[] = { 0x00, 0xA4, 0x04, 0x00, 0x0C, 0xA0, 0x00, 0x00, 0x00,
					 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35 };

/* The one place SCARD_* codes become ours; the unexpected one is logged and becomes a device error. */
static int err_from_scard(LONG rv, const char *call)
{
	switch (rv) {
	case SCARD_S_SUCCESS:
		return 0;
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
	case SCARD_F_COMM_ERROR:
	case SCARD_E_INVALID_HANDLE: /* the context died with pcscd */
		return -UKEY_E_PCSC_UNAVAILABLE;
	case SCARD_E_NO_SMARTCARD:
	case SCARD_W_REMOVED_CARD:
		return -UKEY_E_NO_TOKEN;
	case SCARD_E_UNKNOWN_READER:
	case SCARD_E_READER_UNAVAILABLE:
		return -UKEY_E_TOKEN_REMOVED;
	case SCARD_E_NO_MEMORY:
		return -ENOMEM;
	case SCARD_E_CANCELLED:
		return -UKEY_E_CANCELLED;
	case SCARD_E_TIMEOUT:
		return -ETIMEDOUT;
	case SCARD_E_SHARING_VIOLATION:
		return -EBUSY; /* another program holds the card exclusively */
	default:
		log_debug("%s: %s (0x%lx)", call, pcsc_stringify_error(rv), (unsigned long)rv);
		return -UKEY_E_TOKEN_FAILED;
	}
}

const char *ukey_card_state_name(enum ukey_card_state s)
{
	static const char *const names[] = {
		[UKEY_CARD_ABSENT] = "absent",
		[UKEY_CARD_PRESENT] = "present",
		[UKEY_CARD_MUTE] = "mute",
		[UKEY_CARD_UNAVAILABLE] = "unavailable",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *ukey_pcsc_event_name(enum ukey_pcsc_event_type t)
{
	static const char *const names[] = {
		[UKEY_PCSC_READER_ADDED] = "reader-added",   [UKEY_PCSC_READER_REMOVED] = "reader-removed",
		[UKEY_PCSC_CARD_INSERTED] = "card-inserted", [UKEY_PCSC_CARD_REMOVED] = "card-removed",
		[UKEY_PCSC_CARD_MUTE] = "card-mute",	     [UKEY_PCSC_SERVICE_DOWN] = "pcscd-down",
		[UKEY_PCSC_SERVICE_UP] = "pcscd-up",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

static enum ukey_card_state state_from_flags(DWORD ev)
{
	if (ev & (SCARD_STATE_UNAVAILABLE | SCARD_STATE_IGNORE | SCARD_STATE_UNKNOWN))
		return UKEY_CARD_UNAVAILABLE;
	if (ev & SCARD_STATE_MUTE)
		return UKEY_CARD_MUTE;
	if (ev & SCARD_STATE_PRESENT)
		return UKEY_CARD_PRESENT;
	return UKEY_CARD_ABSENT;
}

static void reader_from_state(struct ukey_pcsc_reader *r, const SCARD_READERSTATE *st)
{
	r->state = state_from_flags(st->dwEventState);
	r->in_use = (st->dwEventState & SCARD_STATE_INUSE) != 0;
	r->exclusive = (st->dwEventState & SCARD_STATE_EXCLUSIVE) != 0;
	r->atr_len = 0;
	if (r->state == UKEY_CARD_PRESENT || r->state == UKEY_CARD_MUTE) {
		r->atr_len = st->cbAtr <= sizeof(r->atr) ? st->cbAtr : sizeof(r->atr);
		memcpy(r->atr, st->rgbAtr, r->atr_len);
	}
}

/* The reader names of ctx, at most UKEY_PCSC_MAX_READERS, each shorter than UKEY_PCSC_READER_NAME_MAX. */
static int list_names(SCARDCONTEXT ctx, char (*names)[UKEY_PCSC_READER_NAME_MAX], size_t *ret_n)
{
	char buf[UKEY_PCSC_MAX_READERS * UKEY_PCSC_READER_NAME_MAX];
	DWORD len = sizeof(buf);
	size_t n = 0;
	LONG rv;

	rv = SCardListReaders(ctx, NULL, buf, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE) {
		*ret_n = 0;
		return 0;
	}
	if (rv != SCARD_S_SUCCESS)
		return err_from_scard(rv, "SCardListReaders");
	/* A multi-string: names separated by NUL, ended by an empty one. Trust nothing past len. */
	for (size_t off = 0; off < len && buf[off] && n < UKEY_PCSC_MAX_READERS;) {
		size_t l = strnlen(buf + off, len - off);

		if (l < UKEY_PCSC_READER_NAME_MAX) {
			memcpy(names[n], buf + off, l);
			names[n][l] = '\0';
			n++;
		}
		off += l + 1;
	}
	*ret_n = n;
	return 0;
}

static int establish(SCARDCONTEXT *ret)
{
	SCARDCONTEXT ctx = 0;
	LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);

	if (rv != SCARD_S_SUCCESS)
		return err_from_scard(rv == SCARD_F_INTERNAL_ERROR ? SCARD_E_NO_SERVICE : rv, "SCardEstablishContext");
	*ret = ctx;
	return 0;
}

/* The readers of ctx and the state of each now (st[i].szReader points into names). */
static int read_readers(SCARDCONTEXT ctx, char (*names)[UKEY_PCSC_READER_NAME_MAX], SCARD_READERSTATE *st,
			size_t *ret_n)
{
	size_t n = 0;
	LONG rv;
	int r;

	if ((r = list_names(ctx, names, &n)) < 0)
		return r;
	memset(st, 0, UKEY_PCSC_MAX_READERS * sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		st[i].szReader = names[i];
		st[i].dwCurrentState = SCARD_STATE_UNAWARE;
	}
	if (n) {
		rv = SCardGetStatusChange(ctx, 0, st, (DWORD)n);
		/* A timeout here only means nothing differs from "unaware"; the states are filled either way. */
		if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
			return err_from_scard(rv, "SCardGetStatusChange");
	}
	*ret_n = n;
	return 0;
}

int ukey_pcsc_list(struct ukey_pcsc_reader **ret, size_t *ret_n)
{
	char names[UKEY_PCSC_MAX_READERS][UKEY_PCSC_READER_NAME_MAX];
	SCARD_READERSTATE st[UKEY_PCSC_MAX_READERS];
	struct ukey_pcsc_reader *readers = NULL;
	SCARDCONTEXT ctx = 0;
	size_t n = 0;
	int r;

	if ((r = establish(&ctx)) < 0)
		return r;
	if ((r = read_readers(ctx, names, st, &n)) < 0 || n == 0)
		goto out;
	readers = calloc(n, sizeof(*readers));
	if (!readers) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(readers[i].name, names[i], sizeof(readers[i].name));
		reader_from_state(&readers[i], &st[i]);
	}
	r = 0;
out:
	SCardReleaseContext(ctx);
	if (r < 0)
		return r;
	*ret = readers;
	*ret_n = n;
	return 0;
}

/* A SELECT handed to a thread of its own; whoever lets go last (caller or worker) frees it. */
struct probe_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned refs; /* guarded by lock */
	bool done; /* guarded by lock */
	int r; /* guarded by lock: 0, or the connect/transmit failure */
	uint8_t resp[MAX_RAPDU];
	DWORD resp_len; /* guarded by lock */
	char reader[UKEY_PCSC_READER_NAME_MAX];
};

static void probe_job_unref(struct probe_job *job)
{
	bool last;

	pthread_mutex_lock(&job->lock);
	last = --job->refs == 0;
	pthread_mutex_unlock(&job->lock);
	if (last) {
		pthread_cond_destroy(&job->cond);
		pthread_mutex_destroy(&job->lock);
		free(job);
	}
}

static void *probe_worker(void *arg)
{
	struct probe_job *job = arg;
	uint8_t resp[MAX_RAPDU];
	DWORD resp_len = sizeof(resp), proto = 0;
	SCARDHANDLE card = 0;
	SCARDCONTEXT ctx = 0;
	LONG rv;
	int r;

	/* Its own context: libpcsclite locks a context during a call, and this call may never return. */
	if ((r = establish(&ctx)) < 0)
		goto report;
	rv = SCardConnect(ctx, job->reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
	if (rv == SCARD_S_SUCCESS) {
		rv = SCardTransmit(card, proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1, select_pkcs15,
				   sizeof(select_pkcs15), NULL, resp, &resp_len);
		r = err_from_scard(rv, "SCardTransmit");
		SCardDisconnect(card, SCARD_LEAVE_CARD);
	} else {
		r = err_from_scard(rv, "SCardConnect");
	}
	SCardReleaseContext(ctx);
report:
	pthread_mutex_lock(&job->lock);
	job->r = r;
	if (r == 0) {
		memcpy(job->resp, resp, resp_len);
		job->resp_len = resp_len;
	}
	job->done = true;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
	probe_job_unref(job);
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int job_new(const char *reader, struct probe_job **ret)
{
	struct probe_job *job = calloc(1, sizeof(*job));
	pthread_condattr_t ca;

	if (!job)
		return -ENOMEM;
	if (strlen(reader) >= sizeof(job->reader)) {
		free(job);
		return -UKEY_E_USAGE;
	}
	strcpy(job->reader, reader);
	pthread_mutex_init(&job->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->cond, &ca);
	pthread_condattr_destroy(&ca);
	job->refs = 2; /* the caller and the worker */
	*ret = job;
	return 0;
}

int ukey_pcsc_probe(const char *reader, unsigned timeout_ms, struct ukey_pcsc_probe *ret)
{
	struct ukey_pcsc_probe probe = { 0 };
	struct probe_job *job;
	struct timespec deadline;
	pthread_attr_t attr;
	pthread_t worker;
	uint64_t start = now_ms();
	int r;

	if ((r = job_new(reader, &job)) < 0)
		return r;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&worker, &attr, probe_worker, job);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		job->refs = 1;
		probe_job_unref(job);
		return r;
	}
	deadline_in(&deadline, timeout_ms);
	pthread_mutex_lock(&job->lock);
	while (!job->done && pthread_cond_timedwait(&job->cond, &job->lock, &deadline) != ETIMEDOUT)
		;
	if (job->done) {
		r = job->r;
		/* vpcd ends a transmit to a card pulled mid-way with success and 0 bytes: no SW1 SW2 is no answer. */
		if (r == 0 && job->resp_len >= 2) {
			probe.answered = true;
			probe.sw = (uint16_t)(job->resp[job->resp_len - 2] << 8 | job->resp[job->resp_len - 1]);
		}
	} else {
		log_debug("'%s' did not answer SELECT within %u ms: mute", reader, timeout_ms);
	}
	pthread_mutex_unlock(&job->lock);
	probe_job_unref(job);
	if (r < 0)
		return r;
	probe.ms = (unsigned)(now_ms() - start);
	*ret = probe;
	return 0;
}

/* What the watcher remembers of one reader between two SCardGetStatusChange calls. */
struct watched {
	char name[UKEY_PCSC_READER_NAME_MAX];
	DWORD state; /* dwEventState of the last call: the next call's dwCurrentState */
	struct ukey_pcsc_reader now;
};

struct ukey_pcsc_watch {
	pthread_t thread;
	ukey_pcsc_event_fn fn;
	void *userdata;
	bool probe;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* wakes the backoff sleep on stop */
	bool stop; /* guarded by lock */
	SCARDCONTEXT ctx; /* guarded by lock (read by stop for SCardCancel) */
	bool have_ctx; /* guarded by lock */
	/* Only the watch thread touches these. */
	struct watched readers[UKEY_PCSC_MAX_READERS];
	size_t n_readers;
	DWORD pnp_state;
	bool up; /* pcscd was reachable at the last look */
	bool reported_down;
};

static void emit(struct ukey_pcsc_watch *w, enum ukey_pcsc_event_type type, const struct ukey_pcsc_reader *r)
{
	struct ukey_pcsc_event ev = { .type = type };

	if (r) {
		ev.reader = r->name;
		ev.atr = r->atr_len ? r->atr : NULL;
		ev.atr_len = r->atr_len;
	}
	log_debug("event %s%s%s", ukey_pcsc_event_name(type), r ? " " : "", r ? r->name : "");
	w->fn(w->userdata, &ev);
}

static bool has_card(enum ukey_card_state s)
{
	return s == UKEY_CARD_PRESENT || s == UKEY_CARD_MUTE;
}

static bool stopping(struct ukey_pcsc_watch *w)
{
	bool stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

/* A card just seen: say so, then, when asked, find out whether it answers (pulled meanwhile is not mute). */
static void card_arrived(struct ukey_pcsc_watch *w, struct watched *rd)
{
	struct ukey_pcsc_probe probe;

	emit(w, UKEY_PCSC_CARD_INSERTED, &rd->now);
	if (rd->now.state == UKEY_CARD_MUTE) {
		emit(w, UKEY_PCSC_CARD_MUTE, &rd->now);
		return;
	}
	if (!w->probe || ukey_pcsc_probe(rd->name, UKEY_PCSC_PROBE_TIMEOUT_MS, &probe) < 0 || probe.answered)
		return;
	if (!stopping(w)) {
		SCARD_READERSTATE st = { .szReader = rd->name, .dwCurrentState = rd->state };
		SCARDCONTEXT ctx = 0;

		pthread_mutex_lock(&w->lock);
		ctx = w->ctx;
		pthread_mutex_unlock(&w->lock);
		if (SCardGetStatusChange(ctx, 0, &st, 1) == SCARD_E_TIMEOUT)
			emit(w, UKEY_PCSC_CARD_MUTE, &rd->now);
	}
}

/* One reader seen twice: card out, card in, card swapped between the two looks, or gone mute. */
static void card_diff(struct ukey_pcsc_watch *w, const struct ukey_pcsc_reader *before, struct watched *rd,
		      bool swapped)
{
	if (has_card(before->state) && (!has_card(rd->now.state) || swapped))
		emit(w, UKEY_PCSC_CARD_REMOVED, before);
	if ((!has_card(before->state) || swapped) && has_card(rd->now.state))
		card_arrived(w, rd);
	else if (before->state == UKEY_CARD_PRESENT && rd->now.state == UKEY_CARD_MUTE)
		emit(w, UKEY_PCSC_CARD_MUTE, &rd->now);
}

static void reader_changed(struct ukey_pcsc_watch *w, struct watched *rd, const SCARD_READERSTATE *st)
{
	struct ukey_pcsc_reader before = rd->now;
	/* pcsc-lite counts insertions and removals in the high 16 bits: two or more steps with a card at both looks
	 * means it was pulled and a card put back in between. */
	DWORD steps = (st->dwEventState >> 16) - (rd->state >> 16);

	reader_from_state(&rd->now, st);
	rd->state = st->dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
	card_diff(w, &before, rd, steps >= 2 && has_card(before.state) && has_card(rd->now.state));
}

/* Re-read the reader list: readers that left take their card with them; new readers may come with one. */
static int relist(struct ukey_pcsc_watch *w, SCARDCONTEXT ctx, bool report)
{
	char names[UKEY_PCSC_MAX_READERS][UKEY_PCSC_READER_NAME_MAX];
	SCARD_READERSTATE st[UKEY_PCSC_MAX_READERS];
	struct watched old[UKEY_PCSC_MAX_READERS];
	size_t n = 0, n_old = w->n_readers;
	int r;

	if ((r = read_readers(ctx, names, st, &n)) < 0)
		return r;
	memcpy(old, w->readers, sizeof(old));
	for (size_t i = 0; i < n; i++) {
		struct watched *rd = &w->readers[i];

		memcpy(rd->name, names[i], sizeof(rd->name));
		memcpy(rd->now.name, names[i], sizeof(rd->now.name));
		reader_from_state(&rd->now, &st[i]);
		rd->state = st[i].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
	}
	w->n_readers = n;
	if (!report)
		return 0;
	for (size_t j = 0; j < n_old; j++) {
		bool kept = false;

		for (size_t i = 0; i < n && !kept; i++)
			kept = strcmp(old[j].name, names[i]) == 0;
		if (!kept && has_card(old[j].now.state))
			emit(w, UKEY_PCSC_CARD_REMOVED, &old[j].now);
		if (!kept)
			emit(w, UKEY_PCSC_READER_REMOVED, &old[j].now);
	}
	for (size_t i = 0; i < n; i++) {
		struct watched *rd = &w->readers[i];
		const struct watched *was = NULL;

		for (size_t j = 0; j < n_old && !was; j++)
			if (strcmp(old[j].name, rd->name) == 0)
				was = &old[j];
		if (!was) {
			emit(w, UKEY_PCSC_READER_ADDED, &rd->now);
			if (has_card(rd->now.state))
				card_arrived(w, rd);
		} else {
			/* Back after pcscd was away (its counters restarted): what differs from the last look. */
			bool other = was->now.atr_len != rd->now.atr_len ||
				     memcmp(was->now.atr, rd->now.atr, rd->now.atr_len) != 0;

			card_diff(w, &was->now, rd, other && has_card(was->now.state) && has_card(rd->now.state));
		}
	}
	return 0;
}

static void release_ctx(struct ukey_pcsc_watch *w)
{
	pthread_mutex_lock(&w->lock);
	if (w->have_ctx)
		SCardReleaseContext(w->ctx);
	w->have_ctx = false;
	pthread_mutex_unlock(&w->lock);
}

/* Sleep ms unless stopped; false when stopped. */
static bool backoff_sleep(struct ukey_pcsc_watch *w, unsigned ms)
{
	struct timespec deadline;
	bool stop;

	deadline_in(&deadline, ms);
	pthread_mutex_lock(&w->lock);
	while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != ETIMEDOUT)
		;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return !stop;
}

/* Connected: wait for changes until pcscd goes away (returns its error) or stop (returns 0). */
static int watch_connected(struct ukey_pcsc_watch *w, SCARDCONTEXT ctx)
{
	for (;;) {
		SCARD_READERSTATE st[UKEY_PCSC_MAX_READERS + 1];
		size_t n = w->n_readers;
		bool relist_needed = false;
		LONG rv;
		int r;

		memset(st, 0, sizeof(st));
		for (size_t i = 0; i < n; i++) {
			st[i].szReader = w->readers[i].name;
			st[i].dwCurrentState = w->readers[i].state;
		}
		st[n].szReader = PNP_READER;
		st[n].dwCurrentState = w->pnp_state;
		if (stopping(w))
			return 0;
		rv = SCardGetStatusChange(ctx, INFINITE, st, (DWORD)n + 1);
		if (rv == SCARD_E_CANCELLED || stopping(w))
			return 0;
		if (rv == SCARD_E_TIMEOUT)
			continue;
		if (rv == SCARD_E_UNKNOWN_READER) {
			relist_needed = true;
		} else if (rv != SCARD_S_SUCCESS) {
			return err_from_scard(rv, "SCardGetStatusChange");
		}
		if (st[n].dwEventState & SCARD_STATE_CHANGED) {
			w->pnp_state = st[n].dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
			relist_needed = true;
		}
		for (size_t i = 0; i < n && !relist_needed; i++) {
			if (!(st[i].dwEventState & SCARD_STATE_CHANGED))
				continue;
			if (st[i].dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE))
				relist_needed = true; /* the reader left */
			else
				reader_changed(w, &w->readers[i], &st[i]);
		}
		if (relist_needed && (r = relist(w, ctx, true)) < 0)
			return r;
	}
}

static void *watch_thread(void *arg)
{
	struct ukey_pcsc_watch *w = arg;
	unsigned backoff = BACKOFF_FIRST_MS;

	while (!stopping(w)) {
		SCARD_READERSTATE pnp = { .szReader = PNP_READER, .dwCurrentState = SCARD_STATE_UNAWARE };
		SCARDCONTEXT ctx = 0;
		int r;

		if ((r = establish(&ctx)) == 0) {
			pthread_mutex_lock(&w->lock);
			w->ctx = ctx;
			w->have_ctx = true;
			pthread_mutex_unlock(&w->lock);
			SCardGetStatusChange(ctx, 0, &pnp, 1);
			w->pnp_state = pnp.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
			r = relist(w, ctx, w->up || w->reported_down);
		}
		if (r == 0) {
			if (w->reported_down)
				emit(w, UKEY_PCSC_SERVICE_UP, NULL);
			w->up = true;
			w->reported_down = false;
			backoff = BACKOFF_FIRST_MS;
			r = watch_connected(w, ctx);
		}
		release_ctx(w);
		if (r == 0)
			continue; /* stopped, or asked to start over */
		log_debug_errno(r, "pcscd unavailable: %s; retrying in %u ms", ukey_strerror(r), backoff);
		if (!w->reported_down) {
			emit(w, UKEY_PCSC_SERVICE_DOWN, NULL);
			w->reported_down = true;
		}
		if (!backoff_sleep(w, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	release_ctx(w);
	return NULL;
}

int ukey_pcsc_watch_start(bool probe, ukey_pcsc_event_fn fn, void *userdata, struct ukey_pcsc_watch **ret)
{
	struct ukey_pcsc_watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	SCARDCONTEXT ctx = 0;
	int r;

	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->userdata = userdata;
	w->probe = probe;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* The baseline is read here, so a change right after start is an event and not part of the first look. */
	if (establish(&ctx) == 0) {
		w->up = relist(w, ctx, false) == 0;
		SCardReleaseContext(ctx);
	}
	if (!w->up) {
		emit(w, UKEY_PCSC_SERVICE_DOWN, NULL);
		w->reported_down = true;
	}
	if ((r = -pthread_create(&w->thread, NULL, watch_thread, w)) < 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void ukey_pcsc_watch_stop(struct ukey_pcsc_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (;;) {
		struct timespec deadline;

		pthread_mutex_lock(&w->lock);
		if (w->have_ctx)
			SCardCancel(w->ctx);
		pthread_mutex_unlock(&w->lock);
		/* CLOCK_REALTIME for pthread_timedjoin_np; a short retry period makes the clock choice moot. */
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += STOP_RETRY_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(w->thread, NULL, &deadline) == 0)
			break;
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

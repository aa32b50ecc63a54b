/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PC/SC through pcsc-lite: readers, cards and ATRs, a card that does not answer, and a watcher that survives pcscd. */
#ifndef UKEY_PCSC_H
#define UKEY_PCSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UKEY_PCSC_ATR_MAX 33 /* ISO 7816-3 */
#define UKEY_PCSC_READER_NAME_MAX 128 /* pcsc-lite's MAX_READERNAME */
#define UKEY_PCSC_MAX_READERS 16 /* pcsc-lite's PCSCLITE_MAX_READERS_CONTEXTS */

/* How long a card may take to answer a SELECT before it counts as mute (a real reader gives up after the card's
 * waiting time; vpcd never does, see tests/fixtures/pcsc/README.md). */
#define UKEY_PCSC_PROBE_TIMEOUT_MS 2000

enum ukey_card_state {
	UKEY_CARD_ABSENT, /* reader empty */
	UKEY_CARD_PRESENT, /* a card with an ATR */
	UKEY_CARD_MUTE, /* PC/SC says the card did not answer the reset, or it did not answer an APDU in time */
	UKEY_CARD_UNAVAILABLE, /* the reader exists but cannot be used (pcscd lost it, or it is being set up) */
};

/* One reader and its card, as the reader list shows it now. */
struct ukey_pcsc_reader {
	char name[UKEY_PCSC_READER_NAME_MAX];
	enum ukey_card_state state;
	bool in_use; /* some program has the card connected */
	bool exclusive; /* some program holds it exclusively: nobody else can talk to it */
	uint8_t atr[UKEY_PCSC_ATR_MAX];
	size_t atr_len; /* 0 without a card */
};

/* What a SELECT through SCardTransmit showed. */
struct ukey_pcsc_probe {
	bool answered; /* a response with SW1 SW2 came back in time */
	uint16_t sw; /* when answered */
	unsigned ms; /* how long it took, or the deadline that passed */
};

/*
 * ukey_pcsc_list: every reader with its card (no PnP pseudo reader). *ret is
 * a malloc'd array (free()). Zero readers is success with *ret_n 0.
 * -UKEY_E_PCSC_UNAVAILABLE when pcscd is not running or not reachable.
 */
int ukey_pcsc_list(struct ukey_pcsc_reader **ret, size_t *ret_n);

/*
 * ukey_pcsc_probe: connect (shared) to the card in reader and send SELECT of
 * the PKCS#15 application; the card is mute when nothing comes back within
 * timeout_ms. The transmit runs on a thread of its own with its own PC/SC
 * context: a card that never answers leaves that thread blocked until the
 * card is pulled (it then ends and frees itself), never the caller.
 * Returns 0 with *ret filled (answered or not), -UKEY_E_NO_TOKEN when the
 * reader has no card, -UKEY_E_PCSC_UNAVAILABLE when pcscd is gone,
 * -EBUSY when another program holds the card exclusively, -UKEY_E_TOKEN_FAILED when the card refuses the
 * connection.
 */
int ukey_pcsc_probe(const char *reader, unsigned timeout_ms, struct ukey_pcsc_probe *ret);

enum ukey_pcsc_event_type {
	UKEY_PCSC_READER_ADDED,
	UKEY_PCSC_READER_REMOVED,
	UKEY_PCSC_CARD_INSERTED,
	UKEY_PCSC_CARD_REMOVED,
	UKEY_PCSC_CARD_MUTE, /* after CARD_INSERTED, when the card does not answer (only with probing on) */
	UKEY_PCSC_SERVICE_DOWN, /* pcscd went away or is not running; the watcher retries with backoff */
	UKEY_PCSC_SERVICE_UP, /* pcscd is reachable (again); changes since then follow as events */
};

/* One change. reader is NULL for SERVICE_*; atr_len is 0 when there is no ATR. Valid only during the call. */
struct ukey_pcsc_event {
	enum ukey_pcsc_event_type type;
	const char *reader;
	const uint8_t *atr;
	size_t atr_len;
};

typedef void (*ukey_pcsc_event_fn)(void *userdata, const struct ukey_pcsc_event *ev);

struct ukey_pcsc_watch;

/*
 * ukey_pcsc_watch_start: follow readers (through the \\?PnP?\Notification
 * pseudo reader) and cards on a thread of its own; fn runs on that thread.
 * The state at start is not reported as events except SERVICE_DOWN when
 * pcscd is not there (list first). The thread sleeps in
 * SCardGetStatusChange: idle costs no CPU. When pcscd goes away it reports
 * SERVICE_DOWN once and reconnects with backoff (0.2 s doubling to 5 s);
 * when pcscd is back it reports SERVICE_UP and the differences from before.
 * With probe, each inserted card gets ukey_pcsc_probe() and CARD_MUTE when
 * it does not answer.
 */
int ukey_pcsc_watch_start(bool probe, ukey_pcsc_event_fn fn, void *userdata, struct ukey_pcsc_watch **ret);

/* ukey_pcsc_watch_stop: wake the thread (SCardCancel), wait for it, free. NULL-safe; fn is not called after it. */
void ukey_pcsc_watch_stop(struct ukey_pcsc_watch *w);

/* ukey_card_state_name: "absent", "present", "mute", "unavailable". */
const char *ukey_card_state_name(enum ukey_card_state s);

/* ukey_pcsc_event_name: "reader-added", "card-inserted", "pcscd-down", … (stable: used in JSON). */
const char *ukey_pcsc_event_name(enum ukey_pcsc_event_type t);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token model database: USB VID:PID and ATR patterns → model, transport, PKCS#11 module, PIN limits, light. */
#ifndef UKEY_MODEL_H
#define UKEY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shipped database (drivers/models.conf), installed under $datadir/ukey; UKEY_MODELS overrides the path. */
#define UKEY_MODELS_FILE "models.conf"

/* Caps on hostile input: the file, one line, patterns per model, ATR length (ISO 7816-3: at most 33 bytes). */
#define UKEY_MODELS_MAX_SIZE (1024 * 1024)
#define UKEY_MODELS_MAX_LINE 1024
#define UKEY_MODEL_MAX_USB 32
#define UKEY_MODEL_MAX_ATR 32
#define UKEY_ATR_MAX 33

/* R-P1: the CA's tokens lock after 10 wrong PINs unless the model says otherwise. */
#define UKEY_MODEL_DEFAULT_PIN_RETRIES 10

enum ukey_transport {
	UKEY_TRANSPORT_UNKNOWN,
	UKEY_TRANSPORT_CCID, /* USB class 0x0B, read through pcscd + libccid */
	UKEY_TRANSPORT_HID, /* USB class 0x03, vendor module talks to hidraw */
	UKEY_TRANSPORT_MASS_STORAGE, /* USB class 0x08 (CD-ROM/disk tokens) */
	UKEY_TRANSPORT_VENDOR, /* USB class 0xFF, vendor module through libusb */
};

struct ukey_usb_id {
	uint16_t vid, pid;
};

struct ukey_atr_pattern {
	uint8_t atr[UKEY_ATR_MAX];
	uint8_t mask[UKEY_ATR_MAX]; /* all 0xff when the file gives no mask */
	size_t len; /* an ATR matches only with exactly this length */
};

/* One model; every string is owned by the database and lives until ukey_model_db_free(). */
struct ukey_model {
	const char *id; /* section name, e.g. "feitian-epass2003": stable, used in JSON and udev ENV{UKEY_MODEL} */
	const char *name; /* "ePass2003" */
	const char *vendor; /* "Feitian" */
	enum ukey_transport transport;
	const char *module; /* PKCS#11 module (file name or absolute path); NULL: the configured default */
	unsigned pin_retries; /* UKEY_MODEL_DEFAULT_PIN_RETRIES when not given */
	unsigned pin_min, pin_max; /* 0 when not known */
	const char *led_off, *led_blinking, *led_steady; /* what the indicator light means; NULL when not known */
	const char *source; /* where the entry comes from (required: no entry without a citation) */
	const struct ukey_usb_id *usb;
	size_t n_usb;
	const struct ukey_atr_pattern *atr;
	size_t n_atr;
};

struct ukey_model_db;

/*
 * ukey_model_db_parse: parse database text. On malformed input returns
 * -UKEY_E_MODEL_DB with the 1-based line in *ret_line (0: the file as a
 * whole) and a static English reason in *ret_reason, and writes nothing to
 * *ret. On success *ret is a new database (free with ukey_model_db_free).
 * -ENOMEM when out of memory.
 */
int ukey_model_db_parse(const char *text, size_t len, struct ukey_model_db **ret, unsigned *ret_line,
			const char **ret_reason);

/*
 * ukey_model_db_load: read and parse path, or when path is NULL $UKEY_MODELS,
 * else the installed database. On failure returns -UKEY_E_MODEL_DB (or
 * -errno from reading) and fills *ret_message, when not NULL, with a
 * malloc'd "FILE:LINE: reason" (caller frees).
 */
int ukey_model_db_load(const char *path, struct ukey_model_db **ret, char **ret_message);

/* ukey_model_db_free: NULL-safe. */
void ukey_model_db_free(struct ukey_model_db *db);

/* ukey_model_db_count / _get: iterate the models in file order. */
size_t ukey_model_db_count(const struct ukey_model_db *db);
const struct ukey_model *ukey_model_db_get(const struct ukey_model_db *db, size_t i);

/* ukey_model_by_usb: the model listing vid:pid, or NULL. */
const struct ukey_model *ukey_model_by_usb(const struct ukey_model_db *db, uint16_t vid, uint16_t pid);

/* ukey_model_by_atr: the first model with a pattern matching atr ((atr & mask) == (pattern & mask), same length), or NULL. */
const struct ukey_model *ukey_model_by_atr(const struct ukey_model_db *db, const uint8_t *atr, size_t len);

/* ukey_model_token_vendor: the vendor's name when vid is listed as a token vendor (an unknown device of theirs is
 * still reported as a possible token), else NULL. */
const char *ukey_model_token_vendor(const struct ukey_model_db *db, uint16_t vid);

/* ukey_transport_name: "ccid", "hid", "mass-storage", "vendor", "unknown". */
const char *ukey_transport_name(enum ukey_transport t);

#endif

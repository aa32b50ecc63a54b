/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One view of each physical key (USB device ↔ reader ↔ card ↔ PKCS#11 token) and one stream of its events. */
#ifndef UKEY_DEVICES_H
#define UKEY_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "p11.h"
#include "pcsc.h"
#include "usb.h"

/* What stands between a plugged-in key and a working one; several may apply. */
enum ukey_missing {
	UKEY_MISSING_PCSCD = 1 << 0, /* a smart-card (CCID) key is plugged in but pcscd is not running */
	UKEY_MISSING_DRIVER = 1 << 1, /* pcscd runs but shows no reader for the key: the CCID driver (libccid) */
	UKEY_MISSING_MODULE = 1 << 2, /* the model's PKCS#11 module is not installed */
	UKEY_MISSING_PERMISSION = 1 << 3, /* a HID or vendor-class key this user cannot open: the udev rule */
	UKEY_MISSING_TOKEN = 1 << 4, /* the card answers PC/SC but no PKCS#11 module shows a token for it */
};

/* ukey_missing_id: the stable id of one UKEY_MISSING_* bit ("pcscd", "driver", "module", "permission", "token"). */
const char *ukey_missing_id(unsigned bit);

/* ukey_missing_text: what is missing and what to do, one sentence (English; the caller translates). */
const char *ukey_missing_text(unsigned bit);

/* One physical key (or a reader, or a software token); absent parts are flagged by has_*. */
struct ukey_device {
	const struct ukey_model *model; /* NULL: unknown model */
	const char *token_vendor; /* for an unknown model: the vendor when it is a known token vendor */
	bool has_usb, has_reader, has_token;
	struct ukey_usb_device usb; /* strings owned by the list */
	struct ukey_pcsc_reader reader;
	struct ukey_token_info token;
	unsigned missing; /* enum ukey_missing bits */
};

struct ukey_device_list {
	struct ukey_device *devices;
	size_t n;
	int usb_error; /* < 0: USB could not be listed (the list then has no USB part) */
	int pcsc_error; /* < 0: pcscd not reachable */
	int p11_error; /* < 0: the PKCS#11 module could not list tokens (or none was given) */
};

/*
 * ukey_models_load: the model database: $UKEY_MODELS, else the copy next to
 * the program in a build tree (build/share/ukey), else the installed one.
 * Failure: -UKEY_E_MODEL_DB or -errno with *ret_message "FILE:LINE: reason".
 */
int ukey_models_load(struct ukey_model_db **ret, char **ret_message);

/* ukey_device_token_like: whether a USB device is worth showing: a known model, a CCID interface, or a token
 * vendor's device. */
bool ukey_device_token_like(const struct ukey_model_db *db, const struct ukey_usb_device *usb);

/*
 * ukey_devices_scan: look at USB, PC/SC and (when p11 is not NULL) PKCS#11
 * now and join them. Parts that cannot be looked at are reported in the
 * *_error fields, never as a failure of the whole: a technician needs the
 * rest. Returns 0 or -ENOMEM. Free with ukey_device_list_free.
 */
int ukey_devices_scan(const struct ukey_model_db *db, struct ukey_p11 *p11, struct ukey_device_list **ret);
void ukey_device_list_free(struct ukey_device_list *list);

/* ukey_module_installed: whether a PKCS#11 module (file name or path) is found where loaders look. */
bool ukey_module_installed(const char *module);

/* One event of the joined stream. Pointers are valid during the callback only. */
struct ukey_device_event {
	const char *event; /* "key-inserted", "key-removed", "reader-added", "reader-removed", "card-inserted",
			    * "card-removed", "card-mute", "pcscd-down", "pcscd-up" */
	double time; /* seconds since the epoch, when the layer below saw it */
	const struct ukey_model *model; /* NULL when not known */
	const char *reader; /* NULL for USB and pcscd events */
	const uint8_t *atr;
	size_t atr_len;
	const struct ukey_usb_device *usb; /* the key's USB device, when known */
};

typedef void (*ukey_device_event_fn)(void *userdata, const struct ukey_device_event *ev);

struct ukey_device_watch;

/*
 * ukey_device_watch_start: USB hotplug (token-like devices only) and PC/SC
 * changes as one stream; fn is called from the layers' threads, one call at
 * a time. USB hotplug missing is not fatal (PC/SC events still come; the
 * USB error is in *ret_usb_error when not NULL). With probe, cards are
 * asked a SELECT and "card-mute" follows when they do not answer.
 */
int ukey_device_watch_start(const struct ukey_model_db *db, bool probe, ukey_device_event_fn fn, void *userdata,
			    struct ukey_device_watch **ret, int *ret_usb_error);

/* ukey_device_watch_stop: stop both layers; fn is not called after it returns. NULL-safe. */
void ukey_device_watch_stop(struct ukey_device_watch *w);

#endif

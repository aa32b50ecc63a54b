/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The joined view of each physical key and its event stream, built from the USB, PC/SC and PKCS#11 layers. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "devices.h"

#define MAX_KEYS 64 /* USB keys remembered by a watch for joining card events; more is not a desk */

/* Where PKCS#11 modules live on Debian (p11-kit's module path, the multiarch dir, OpenSC's own place). */
static const char *const module_dirs[] = {
	"/usr/lib/x86_64-linux-gnu/pkcs11",
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib/pkcs11",
	"/usr/lib",
	"/usr/local/lib/pkcs11",
	"/usr/local/lib",
};

/* Marks a string for the message catalogue; the front end translates it. */
#define N_(s) (s)

static const struct {
	unsigned bit;
	const char *id, *text;
} missing_table[] = {
	{ UKEY_MISSING_PCSCD, "pcscd",
	  N_("pcscd is not running: start it with 'sudo systemctl start pcscd.socket' (install it with 'sudo apt "
	     "install pcscd')") },
	{ UKEY_MISSING_DRIVER, "driver",
	  N_("pcscd shows no reader for this key: install the CCID driver ('sudo apt install libccid'), then unplug "
	     "the key and plug it in again") },
	{ UKEY_MISSING_MODULE, "module",
	  N_("The PKCS#11 module for this model is not installed: install the key vendor's module") },
	{ UKEY_MISSING_PERMISSION, "permission",
	  N_("This user may not open the key: install ukey's udev rule (70-ukey.rules), then unplug the key and plug "
	     "it in again") },
	{ UKEY_MISSING_TOKEN, "token",
	  N_("The card answers but no PKCS#11 token shows for it: use the model's module with --module") },
};

const char *ukey_missing_id(unsigned bit)
{
	for (size_t i = 0; i < sizeof(missing_table) / sizeof(missing_table[0]); i++)
		if (missing_table[i].bit == bit)
			return missing_table[i].id;
	return "unknown";
}

const char *ukey_missing_text(unsigned bit)
{
	for (size_t i = 0; i < sizeof(missing_table) / sizeof(missing_table[0]); i++)
		if (missing_table[i].bit == bit)
			return missing_table[i].text;
	return "";
}

bool ukey_module_installed(const char *module)
{
	char path[PATH_MAX];

	if (strchr(module, '/'))
		return access(module, R_OK) == 0;
	for (size_t i = 0; i < sizeof(module_dirs) / sizeof(module_dirs[0]); i++)
		if (snprintf(path, sizeof(path), "%s/%s", module_dirs[i], module) < (int)sizeof(path) &&
		    access(path, R_OK) == 0)
			return true;
	return false;
}

int ukey_models_load(struct ukey_model_db **ret, char **ret_message)
{
	char exe[PATH_MAX], *slash, *path = NULL;
	struct stat st;
	ssize_t n;
	int r;

	/* In a build tree the database sits next to the programs (build/share/ukey), as the web page does. */
	if (!getenv("UKEY_MODELS") && (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/'))) {
			*slash = '\0';
			if (asprintf(&path, "%s/../share/ukey/%s", exe, UKEY_MODELS_FILE) < 0)
				return -ENOMEM;
			if (stat(path, &st) != 0) {
				free(path);
				path = NULL;
			}
		}
	}
	r = ukey_model_db_load(path, ret, ret_message);
	free(path);
	return r;
}

bool ukey_device_token_like(const struct ukey_model_db *db, const struct ukey_usb_device *usb)
{
	return ukey_model_by_usb(db, usb->vid, usb->pid) || (usb->classes & UKEY_USB_CLASS_CCID) ||
	       ukey_model_token_vendor(db, usb->vid);
}

/* pcscd names a USB reader "<driver's name> [<interface>] (<serial>) 00 00": the serial, else the product. */
static bool reader_is_usb(const char *reader, const struct ukey_usb_device *u)
{
	char needle[160];

	if (u->serial && *u->serial && snprintf(needle, sizeof(needle), "(%s)", u->serial) < (int)sizeof(needle) &&
	    strstr(reader, needle))
		return true;
	return u->product && *u->product && strncmp(reader, u->product, strlen(u->product)) == 0;
}

/* OpenSC copies the reader name into the 64-byte slot description, cut short if longer. */
static bool token_in_reader(const struct ukey_token_info *t, const char *reader)
{
	size_t l = strlen(t->slot_description);

	return l > 0 && strncmp(reader, t->slot_description, l) == 0;
}

static int usb_copy(struct ukey_usb_device *dst, const struct ukey_usb_device *src)
{
	*dst = *src;
	dst->manufacturer = src->manufacturer ? strdup(src->manufacturer) : NULL;
	dst->product = src->product ? strdup(src->product) : NULL;
	dst->serial = src->serial ? strdup(src->serial) : NULL;
	if ((src->manufacturer && !dst->manufacturer) || (src->product && !dst->product) ||
	    (src->serial && !dst->serial)) {
		ukey_usb_device_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

static void diagnose_missing(struct ukey_device_list *list, struct ukey_device *d)
{
	enum ukey_transport t = d->model ? d->model->transport : UKEY_TRANSPORT_UNKNOWN;

	if (d->has_usb && (d->usb.classes & UKEY_USB_CLASS_CCID) && !d->has_reader)
		d->missing |= list->pcsc_error < 0 ? UKEY_MISSING_PCSCD : UKEY_MISSING_DRIVER;
	/* A model's transport says who opens the device; an unknown one is judged by its interfaces. */
	bool direct = t == UKEY_TRANSPORT_HID || t == UKEY_TRANSPORT_VENDOR ||
		      (!d->model && d->has_usb && !(d->usb.classes & UKEY_USB_CLASS_CCID) &&
		       (d->usb.classes & (UKEY_USB_CLASS_HID | UKEY_USB_CLASS_VENDOR)));

	if (d->has_usb && direct && !d->usb.can_open)
		d->missing |= UKEY_MISSING_PERMISSION;
	if (d->model && d->model->module && !ukey_module_installed(d->model->module))
		d->missing |= UKEY_MISSING_MODULE;
	if (d->has_reader && d->reader.state == UKEY_CARD_PRESENT && !d->has_token && list->p11_error == 0 &&
	    d->has_usb)
		d->missing |= UKEY_MISSING_TOKEN;
}

int ukey_devices_scan(const struct ukey_model_db *db, struct ukey_p11 *p11, struct ukey_device_list **ret)
{
	struct ukey_device_list *list = calloc(1, sizeof(*list));
	struct ukey_usb_device *usb = NULL;
	struct ukey_pcsc_reader *readers = NULL;
	struct ukey_token_info *tokens = NULL;
	size_t n_usb = 0, n_readers = 0, n_tokens = 0;
	int r;

	if (!list)
		return -ENOMEM;
	list->usb_error = ukey_usb_list(&usb, &n_usb);
	if (list->usb_error < 0)
		n_usb = 0;
	list->pcsc_error = ukey_pcsc_list(&readers, &n_readers);
	if (list->pcsc_error < 0)
		n_readers = 0;
	list->p11_error = -UKEY_E_NO_TOKEN;
	if (p11) {
		r = ukey_p11_tokens(p11, &tokens);
		list->p11_error = r < 0 ? r : 0;
		n_tokens = r > 0 ? (size_t)r : 0;
	}
	/* At most one entry per USB device, reader and token. */
	list->devices = calloc(n_usb + n_readers + n_tokens + 1, sizeof(*list->devices));
	if (!list->devices) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_usb; i++) {
		struct ukey_device *d;

		if (!ukey_device_token_like(db, &usb[i]))
			continue;
		d = &list->devices[list->n++];
		d->has_usb = true;
		d->usb = usb[i];
		memset(&usb[i], 0, sizeof(usb[i])); /* the strings move to the list */
		d->model = ukey_model_by_usb(db, d->usb.vid, d->usb.pid);
		if (!d->model)
			d->token_vendor = ukey_model_token_vendor(db, d->usb.vid);
	}
	for (size_t i = 0; i < n_readers; i++) {
		struct ukey_device *d = NULL;
		const struct ukey_model *by_atr = ukey_model_by_atr(db, readers[i].atr, readers[i].atr_len);

		for (size_t j = 0; j < list->n && !d; j++)
			if (list->devices[j].has_usb && !list->devices[j].has_reader &&
			    reader_is_usb(readers[i].name, &list->devices[j].usb))
				d = &list->devices[j];
		if (!d)
			d = &list->devices[list->n++];
		d->has_reader = true;
		d->reader = readers[i];
		/* The card says best what it is; the USB ids name the model when the ATR is not in the database. */
		if (by_atr)
			d->model = by_atr;
	}
	for (size_t i = 0; i < n_tokens; i++) {
		struct ukey_device *d = NULL;

		for (size_t j = 0; j < list->n && !d; j++)
			if (list->devices[j].has_reader && !list->devices[j].has_token &&
			    token_in_reader(&tokens[i], list->devices[j].reader.name))
				d = &list->devices[j];
		if (!d)
			d = &list->devices[list->n++];
		d->has_token = true;
		d->token = tokens[i];
	}
	for (size_t j = 0; j < list->n; j++)
		diagnose_missing(list, &list->devices[j]);
	r = 0;
out:
	ukey_usb_list_free(usb, n_usb);
	free(readers);
	free(tokens);
	if (r < 0) {
		ukey_device_list_free(list);
		return r;
	}
	*ret = list;
	return 0;
}

void ukey_device_list_free(struct ukey_device_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		ukey_usb_device_clear(&list->devices[i].usb);
	free(list->devices);
	free(list);
}

struct ukey_device_watch {
	const struct ukey_model_db *db;
	ukey_device_event_fn fn;
	void *userdata;
	pthread_mutex_t lock; /* one callback at a time; guards keys */
	struct ukey_usb_device keys[MAX_KEYS]; /* guarded by lock: token-like USB devices now present */
	size_t n_keys;
	struct ukey_usb_watch *usb;
	struct ukey_pcsc_watch *pcsc;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_usb(void *userdata, bool arrived, const struct ukey_usb_device *dev)
{
	struct ukey_device_watch *w = userdata;
	struct ukey_device_event ev = { .event = arrived ? "key-inserted" : "key-removed", .time = now(), .usb = dev };

	if (!ukey_device_token_like(w->db, dev))
		return;
	ev.model = ukey_model_by_usb(w->db, dev->vid, dev->pid);
	pthread_mutex_lock(&w->lock);
	if (arrived && w->n_keys < MAX_KEYS) {
		if (usb_copy(&w->keys[w->n_keys], dev) == 0)
			w->n_keys++;
	} else if (!arrived) {
		for (size_t i = 0; i < w->n_keys; i++)
			if (strcmp(w->keys[i].port_path, dev->port_path) == 0) {
				ukey_usb_device_clear(&w->keys[i]);
				w->keys[i] = w->keys[--w->n_keys];
				break;
			}
	}
	w->fn(w->userdata, &ev);
	pthread_mutex_unlock(&w->lock);
}

static void on_pcsc(void *userdata, const struct ukey_pcsc_event *pe)
{
	struct ukey_device_watch *w = userdata;
	struct ukey_device_event ev = {
		.event = ukey_pcsc_event_name(pe->type),
		.time = now(),
		.reader = pe->reader,
		.atr = pe->atr,
		.atr_len = pe->atr_len,
	};

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; pe->reader && i < w->n_keys && !ev.usb; i++)
		if (reader_is_usb(pe->reader, &w->keys[i]))
			ev.usb = &w->keys[i];
	ev.model = ukey_model_by_atr(w->db, pe->atr, pe->atr_len);
	if (!ev.model && ev.usb)
		ev.model = ukey_model_by_usb(w->db, ev.usb->vid, ev.usb->pid);
	w->fn(w->userdata, &ev);
	pthread_mutex_unlock(&w->lock);
}

int ukey_device_watch_start(const struct ukey_model_db *db, bool probe, ukey_device_event_fn fn, void *userdata,
			    struct ukey_device_watch **ret, int *ret_usb_error)
{
	struct ukey_device_watch *w = calloc(1, sizeof(*w));
	struct ukey_usb_device *usb = NULL;
	size_t n_usb = 0;
	int r, usb_r;

	if (!w)
		return -ENOMEM;
	w->db = db;
	w->fn = fn;
	w->userdata = userdata;
	pthread_mutex_init(&w->lock, NULL);
	/* Keys already plugged in, so their card events can name the USB device too. */
	if (ukey_usb_list(&usb, &n_usb) == 0) {
		for (size_t i = 0; i < n_usb && w->n_keys < MAX_KEYS; i++)
			if (ukey_device_token_like(db, &usb[i]) && usb_copy(&w->keys[w->n_keys], &usb[i]) == 0)
				w->n_keys++;
		ukey_usb_list_free(usb, n_usb);
	}
	usb_r = ukey_usb_watch_start(on_usb, w, &w->usb);
	if (usb_r < 0)
		log_debug_errno(usb_r, "no USB hotplug: %s", ukey_strerror(usb_r));
	if ((r = ukey_pcsc_watch_start(probe, on_pcsc, w, &w->pcsc)) < 0) {
		ukey_device_watch_stop(w);
		return r;
	}
	if (ret_usb_error)
		*ret_usb_error = usb_r < 0 ? usb_r : 0;
	*ret = w;
	return 0;
}

void ukey_device_watch_stop(struct ukey_device_watch *w)
{
	if (!w)
		return;
	ukey_pcsc_watch_stop(w->pcsc);
	ukey_usb_watch_stop(w->usb);
	for (size_t i = 0; i < w->n_keys; i++)
		ukey_usb_device_clear(&w->keys[i]);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

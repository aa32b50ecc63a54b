/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `ukey devices` and `ukey watch`: every token-like USB device, reader and card, what is missing, and live events. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "cli.h"
#include "devices.h"
#include "i18n.h"
#include "objects.h"

static int load_models(struct cli *c, struct ukey_model_db **ret)
{
	char *msg = NULL;
	int r = ukey_models_load(ret, &msg);

	if (r < 0) {
		r = cli_fail(c, r, NULL, NULL, _("The token model database cannot be used: %s."),
			     msg ? cli_safe(msg) : ukey_strerror(r));
		free(msg);
	}
	return r;
}

static void print_atr(const uint8_t *atr, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", atr[i]);
}

static const char *state_words(enum ukey_card_state s)
{
	switch (s) {
	case UKEY_CARD_ABSENT:
		return _("no card");
	case UKEY_CARD_PRESENT:
		return _("card present");
	case UKEY_CARD_MUTE:
		return _("card does not answer (mute)");
	default:
		return _("reader unavailable");
	}
}

static void device_text(const struct ukey_device *d)
{
	if (d->model)
		printf("%s %s (%s)\n", cli_safe(d->model->vendor), cli_safe(d->model->name),
		       ukey_transport_name(d->model->transport));
	else if (d->has_usb && d->token_vendor)
		printf(_("Unknown model from token vendor %s\n"), cli_safe(d->token_vendor));
	else if (d->has_usb)
		printf("%s\n", _("Unknown model (smart-card class device)"));
	else if (d->has_reader)
		printf("%s\n", _("Reader"));
	else
		printf("%s\n", _("Token without a USB device (software or unmatched)"));
	if (d->has_usb) {
		printf("  %-7s %s  %04x:%04x", "USB", d->usb.port_path, d->usb.vid, d->usb.pid);
		if (d->usb.manufacturer)
			printf("  %s", cli_safe(d->usb.manufacturer));
		if (d->usb.product)
			printf("%s%s", d->usb.manufacturer ? " " : "  ", cli_safe(d->usb.product));
		if (d->usb.serial)
			printf(_("  serial %s"), cli_safe(d->usb.serial));
		if (!d->usb.descriptors_ok)
			printf(_("  (descriptors unreadable)"));
		putchar('\n');
	}
	if (d->has_reader) {
		printf("  %-7s %s: %s", _("reader"), cli_safe(d->reader.name), state_words(d->reader.state));
		if (d->reader.atr_len) {
			printf(", ATR ");
			print_atr(d->reader.atr, d->reader.atr_len);
		}
		if (d->reader.exclusive)
			printf(_(", held exclusively by another program"));
		putchar('\n');
	}
	if (d->has_token)
		printf(_("  %-7s \"%s\" serial %s (slot %lu)\n"), _("token"), cli_safe(d->token.label),
		       cli_safe(d->token.serial), d->token.slot_id);
	for (unsigned bit = 1; bit && bit <= d->missing; bit <<= 1)
		if (d->missing & bit)
			printf("  %-7s %s.\n", _("missing"), _(ukey_missing_text(bit)));
}

int cmd_devices(struct cli *c, int argc, char **argv)
{
	struct ukey_model_db *db = NULL;
	struct ukey_device_list *list = NULL;
	int r;

	if (argc > 1)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("'%s' takes no arguments: see 'ukey --help'."),
				argv[0]);
	if ((r = load_models(c, &db)) < 0)
		return r;
	/* A module that does not load is one more finding, not the end: USB and PC/SC are still worth showing. */
	if (!c->p11 && ukey_p11_load(c->cfg.module, &c->p11) < 0)
		c->p11 = NULL;
	if ((r = ukey_devices_scan(db, c->p11, &list)) < 0) {
		cli_fail_default(c, r);
		goto out;
	}
	if (c->json) {
		cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "devices"), *svc;

		for (size_t i = 0; i < list->n; i++)
			cJSON_AddItemToArray(arr, ukey_json_device(&list->devices[i]));
		svc = cJSON_AddObjectToObject(doc, "pcscd");
		cJSON_AddBoolToObject(svc, "running", list->pcsc_error == 0);
		if (list->pcsc_error < 0)
			cJSON_AddItemToObject(svc, "error", ukey_json_error_data(list->pcsc_error, NULL, NULL));
		svc = cJSON_AddObjectToObject(doc, "usb");
		cJSON_AddBoolToObject(svc, "available", list->usb_error == 0);
		if (list->usb_error < 0)
			cJSON_AddItemToObject(svc, "error", ukey_json_error_data(list->usb_error, NULL, NULL));
		cli_print_json(doc);
		goto out;
	}
	for (size_t i = 0; i < list->n; i++) {
		if (i)
			putchar('\n');
		device_text(&list->devices[i]);
	}
	if (list->n == 0)
		printf("%s\n", _("No key, reader or card found."));
	if (list->pcsc_error < 0)
		printf("\npcscd: %s.\n", _(ukey_strerror(list->pcsc_error)));
	if (list->usb_error < 0)
		printf("\nUSB: %s.\n", _(ukey_strerror(list->usb_error)));
out:
	ukey_device_list_free(list);
	ukey_model_db_free(db);
	return r;
}

struct watch_out {
	bool json;
};

static void event_text(const struct ukey_device_event *ev)
{
	char when[16];
	time_t secs = (time_t)ev->time;
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s.%03d  %-14s", when, (int)((ev->time - (double)secs) * 1000) % 1000, ev->event);
	if (ev->model)
		printf("  %s %s", cli_safe(ev->model->vendor), cli_safe(ev->model->name));
	if (ev->usb)
		printf("  usb %04x:%04x %s", ev->usb->vid, ev->usb->pid, ev->usb->port_path);
	if (ev->reader)
		printf("  \"%s\"", cli_safe(ev->reader));
	if (ev->atr_len) {
		printf("  ATR ");
		print_atr(ev->atr, ev->atr_len);
	}
	if (strcmp(ev->event, "pcscd-down") == 0)
		printf("  %s", _("pcscd is not running; waiting for it"));
	putchar('\n');
}

static void on_event(void *userdata, const struct ukey_device_event *ev)
{
	struct watch_out *out = userdata;

	if (out->json) {
		cJSON *o = ukey_json_device_event(ev);
		char *s = cJSON_PrintUnformatted(o);

		if (s)
			puts(s);
		free(s);
		cJSON_Delete(o);
	} else {
		event_text(ev);
	}
	fflush(stdout);
}

int cmd_watch(struct cli *c, int argc, char **argv)
{
	struct watch_out out = { .json = c->json };
	struct ukey_device_watch *w = NULL;
	struct ukey_model_db *db = NULL;
	sigset_t mask;
	int r, usb_r = 0, sig;

	if (argc > 1)
		return cli_fail(c, -UKEY_E_USAGE, NULL, NULL, _("'%s' takes no arguments: see 'ukey --help'."),
				argv[0]);
	if ((r = load_models(c, &db)) < 0)
		return r;
	/* The signals end the watch; block them before the threads start so only sigwait below sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (c->watch_seconds > 0)
		alarm(c->watch_seconds);
	if ((r = ukey_device_watch_start(db, c->watch_probe, on_event, &out, &w, &usb_r)) < 0) {
		cli_fail_default(c, r);
		goto out;
	}
	if (usb_r < 0 && !c->json)
		fprintf(stderr, _("ukey: USB hotplug is not available (%s); card events still show.\n"),
			_(ukey_strerror(usb_r)));
	/* The first line says the watch is set up: whatever changes from now on is an event (scripts wait for it). */
	if (c->json) {
		cJSON *o = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(o, "event", "watching");
		cJSON_AddBoolToObject(o, "usb_hotplug", usb_r == 0);
		s = cJSON_PrintUnformatted(o);
		if (s)
			puts(s);
		free(s);
		cJSON_Delete(o);
	} else {
		printf("%s\n", _("Watching for keys, readers and cards (Ctrl-C ends)."));
	}
	fflush(stdout);
	sigwait(&mask, &sig);
	r = 0;
out:
	ukey_device_watch_stop(w);
	ukey_model_db_free(db);
	return r;
}

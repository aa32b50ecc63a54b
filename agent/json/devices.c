/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON of the device layer: models, USB devices, readers, joined keys and their events (CLI and API alike). */
#include <stdio.h>
#include <string.h>

#include "devices.h"
#include "objects.h"

cJSON *ukey_json_model(const struct ukey_model *m)
{
	cJSON *o, *led;

	if (!m)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", m->id);
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddStringToObject(o, "vendor", m->vendor);
	cJSON_AddStringToObject(o, "transport", ukey_transport_name(m->transport));
	if (m->module)
		cJSON_AddStringToObject(o, "module", m->module);
	else
		cJSON_AddNullToObject(o, "module");
	cJSON_AddNumberToObject(o, "pin_retries", m->pin_retries);
	if (m->pin_min)
		cJSON_AddNumberToObject(o, "pin_min", m->pin_min);
	if (m->pin_max)
		cJSON_AddNumberToObject(o, "pin_max", m->pin_max);
	if (m->led_off || m->led_blinking || m->led_steady) {
		led = cJSON_AddObjectToObject(o, "led");
		if (m->led_off)
			cJSON_AddStringToObject(led, "off", m->led_off);
		if (m->led_blinking)
			cJSON_AddStringToObject(led, "blinking", m->led_blinking);
		if (m->led_steady)
			cJSON_AddStringToObject(led, "steady", m->led_steady);
	}
	return o;
}

static void add_usb_ids(cJSON *o, const struct ukey_usb_device *u)
{
	char id[8];

	snprintf(id, sizeof(id), "%04x", u->vid);
	cJSON_AddStringToObject(o, "vid", id);
	snprintf(id, sizeof(id), "%04x", u->pid);
	cJSON_AddStringToObject(o, "pid", id);
	cJSON_AddStringToObject(o, "port", u->port_path);
}

cJSON *ukey_json_usb(const struct ukey_usb_device *u)
{
	static const struct {
		unsigned bit;
		const char *name;
	} classes[] = {
		{ UKEY_USB_CLASS_CCID, "ccid" },
		{ UKEY_USB_CLASS_HID, "hid" },
		{ UKEY_USB_CLASS_MASS_STORAGE, "mass-storage" },
		{ UKEY_USB_CLASS_VENDOR, "vendor" },
		{ UKEY_USB_CLASS_OTHER, "other" },
	};
	cJSON *o = cJSON_CreateObject(), *arr;

	add_usb_ids(o, u);
	cJSON_AddNumberToObject(o, "bus", u->bus);
	cJSON_AddNumberToObject(o, "address", u->address);
	ukey_json_add_string_or_null(o, "manufacturer", u->manufacturer);
	ukey_json_add_string_or_null(o, "product", u->product);
	ukey_json_add_string_or_null(o, "serial", u->serial);
	arr = cJSON_AddArrayToObject(o, "classes");
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (u->classes & classes[i].bit)
			cJSON_AddItemToArray(arr, cJSON_CreateString(classes[i].name));
	cJSON_AddBoolToObject(o, "descriptors_ok", u->descriptors_ok);
	cJSON_AddBoolToObject(o, "can_open", u->can_open);
	cJSON_AddStringToObject(o, "devnode", u->devnode);
	return o;
}

static void add_atr(cJSON *o, const uint8_t *atr, size_t len)
{
	char hex[2 * UKEY_PCSC_ATR_MAX + 1];

	if (!len) {
		cJSON_AddNullToObject(o, "atr");
		return;
	}
	ukey_json_hex(atr, len, hex, sizeof(hex));
	cJSON_AddStringToObject(o, "atr", hex);
}

cJSON *ukey_json_reader(const struct ukey_pcsc_reader *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "state", ukey_card_state_name(r->state));
	cJSON_AddBoolToObject(o, "in_use", r->in_use);
	cJSON_AddBoolToObject(o, "exclusive", r->exclusive);
	add_atr(o, r->atr, r->atr_len);
	return o;
}

cJSON *ukey_json_device(const struct ukey_device *d)
{
	cJSON *o = cJSON_CreateObject(), *missing;

	cJSON_AddItemToObject(o, "model", ukey_json_model(d->model));
	ukey_json_add_string_or_null(o, "token_vendor", d->token_vendor);
	cJSON_AddItemToObject(o, "usb", d->has_usb ? ukey_json_usb(&d->usb) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "reader", d->has_reader ? ukey_json_reader(&d->reader) : cJSON_CreateNull());
	if (d->has_token) {
		cJSON *t = cJSON_AddObjectToObject(o, "token");

		cJSON_AddStringToObject(t, "label", d->token.label);
		cJSON_AddStringToObject(t, "serial", d->token.serial);
		cJSON_AddNumberToObject(t, "slot", (double)d->token.slot_id);
		cJSON_AddStringToObject(t, "slot_description", d->token.slot_description);
	} else {
		cJSON_AddNullToObject(o, "token");
	}
	missing = cJSON_AddArrayToObject(o, "missing");
	for (unsigned bit = 1; bit && bit <= d->missing; bit <<= 1)
		if (d->missing & bit) {
			cJSON *m = cJSON_CreateObject();

			cJSON_AddStringToObject(m, "id", ukey_missing_id(bit));
			cJSON_AddStringToObject(m, "text", ukey_missing_text(bit));
			cJSON_AddItemToArray(missing, m);
		}
	return o;
}

cJSON *ukey_json_device_event(const struct ukey_device_event *ev)
{
	cJSON *o = cJSON_CreateObject();
	char t[40], frac[8];
	time_t secs = (time_t)ev->time;

	/* Milliseconds: events of one insertion come tens of milliseconds apart. */
	ukey_json_time(secs, t);
	snprintf(frac, sizeof(frac), ".%03dZ", (int)((ev->time - (double)secs) * 1000) % 1000);
	if (strlen(t) > 0 && t[strlen(t) - 1] == 'Z')
		t[strlen(t) - 1] = '\0';
	strncat(t, frac, sizeof(t) - strlen(t) - 1);
	cJSON_AddStringToObject(o, "event", ev->event);
	cJSON_AddStringToObject(o, "time", t);
	cJSON_AddItemToObject(o, "model", ukey_json_model(ev->model));
	ukey_json_add_string_or_null(o, "reader", ev->reader);
	add_atr(o, ev->atr, ev->atr_len);
	if (ev->usb) {
		cJSON *u = cJSON_AddObjectToObject(o, "usb");

		add_usb_ids(u, ev->usb);
		ukey_json_add_string_or_null(u, "product", ev->usb->product);
		ukey_json_add_string_or_null(u, "serial", ev->usb->serial);
	} else {
		cJSON_AddNullToObject(o, "usb");
	}
	return o;
}

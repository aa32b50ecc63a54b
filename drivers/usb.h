/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* USB presence through libusb 1.0: list devices, follow hotplug, and say whether this user may open each one. */
#ifndef UKEY_USB_H
#define UKEY_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Interface classes seen on any interface of the device's active (or first) configuration. */
enum ukey_usb_class {
	UKEY_USB_CLASS_CCID = 1 << 0, /* 0x0B smart card */
	UKEY_USB_CLASS_HID = 1 << 1, /* 0x03 */
	UKEY_USB_CLASS_MASS_STORAGE = 1 << 2, /* 0x08 */
	UKEY_USB_CLASS_VENDOR = 1 << 3, /* 0xFF */
	UKEY_USB_CLASS_OTHER = 1 << 4, /* anything else (hubs, audio, …) */
};

/* What ukey knows of one USB device. Strings are NULL when the device has none or they cannot be read. */
struct ukey_usb_device {
	uint16_t vid, pid;
	uint8_t bus, address;
	char port_path[32]; /* "1-2.3": sysfs name, stable while the device stays in that port */
	char *manufacturer, *product, *serial; /* from sysfs (readable without opening the device) */
	unsigned classes; /* enum ukey_usb_class bits */
	bool descriptors_ok; /* false: the descriptors could not be read or are malformed */
	bool can_open; /* this user may open the device node (what a vendor module needs) */
	char devnode[32]; /* "/dev/bus/usb/001/004" */
};

/* ukey_usb_device_clear: free the strings of one device (the struct itself is the caller's). */
void ukey_usb_device_clear(struct ukey_usb_device *dev);

/*
 * ukey_usb_list: every USB device now present (hubs included; callers filter).
 * *ret is a malloc'd array of *ret_n devices; free with ukey_usb_list_free.
 * -UKEY_E_USB_UNAVAILABLE when libusb cannot be initialised (no usbfs/sysfs).
 */
int ukey_usb_list(struct ukey_usb_device **ret, size_t *ret_n);
void ukey_usb_list_free(struct ukey_usb_device *devs, size_t n);

/* A hotplug event: arrived true on insertion; dev is valid only during the call (copy what you keep). */
typedef void (*ukey_usb_event_fn)(void *userdata, bool arrived, const struct ukey_usb_device *dev);

struct ukey_usb_watch;

/*
 * ukey_usb_watch_start: follow insertions and removals on an event thread of
 * its own; fn runs on that thread. Devices present at start are NOT reported
 * (list them first). A removal carries the same fields as the insertion that
 * preceded it. Returns -UKEY_E_UNSUPPORTED when this libusb has no hotplug
 * support (the caller falls back to listing on demand) and
 * -UKEY_E_USB_UNAVAILABLE when libusb cannot start. Idle costs no CPU: the
 * thread sleeps in libusb's event handling until the kernel (udev netlink)
 * reports a change.
 */
int ukey_usb_watch_start(ukey_usb_event_fn fn, void *userdata, struct ukey_usb_watch **ret);

/* ukey_usb_watch_stop: stop the thread, wait for it, free. NULL-safe. fn is not called after it returns. */
void ukey_usb_watch_stop(struct ukey_usb_watch *w);

#endif

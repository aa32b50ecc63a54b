/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* USB presence through libusb 1.0: list devices, follow hotplug, and say whether this user may open each one. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libusb.h>

#define UKEY_LOG_MODULE UKEY_LOG_MOD_USB
#include "base/err.h"
#include "base/utf8.h"
#include "base/log.h"
#include "usb.h"

/*
 * A sysfs string attribute is the kernel's UTF-8 conversion of a string
 * descriptor: at most 126 UTF-16 units (a 254-byte descriptor), 3 bytes
 * each, plus the newline. Anything longer did not come from a kernel.
 */
#define UKEY_USB_MAX_STRING 384
/* USB allows 7 tiers below the root hub (USB 2.0 §4.1.1), so 7 port numbers at most. */
#define USB_MAX_PORT_DEPTH 7
#define SYSFS_USB_DEVICES "/sys/bus/usb/devices"
/*
 * The event thread sleeps in libusb until udev reports a change or
 * ukey_usb_watch_stop() interrupts it; the timeout only bounds how long a
 * missed interrupt could go unnoticed, so one wakeup an hour when idle.
 */
#define WATCH_IDLE_TIMEOUT_S 3600
/* After an unexpected libusb error in the event loop: wait before retrying, never spin. */
#define WATCH_ERROR_BACKOFF_NS 200000000L

/*
 * Lock order: none. A watch's device table is touched by
 * ukey_usb_watch_start() before the event thread exists, then only by the
 * event thread (hotplug callbacks run inside libusb_handle_events on it),
 * then by ukey_usb_watch_stop() after the join.
 */
struct ukey_usb_watch {
	libusb_context *ctx;
	libusb_hotplug_callback_handle handle;
	bool registered;
	pthread_t thread;
	bool thread_started;
	int completed; /* set once by ukey_usb_watch_stop(), read by libusb on the event thread */
	ukey_usb_event_fn fn;
	void *userdata;
	struct ukey_usb_device *present; /* what each device looked like when it arrived; keyed by bus + address */
	size_t n_present, cap_present;
};

/* One converter at the libusb boundary: the codes a caller can act on become ours, the rest is a bug report. */
static int err_from_libusb(int r)
{
	switch (r) {
	case LIBUSB_SUCCESS:
		return 0;
	case LIBUSB_ERROR_IO:
		return -EIO;
	case LIBUSB_ERROR_INVALID_PARAM:
		return -EINVAL;
	case LIBUSB_ERROR_ACCESS:
		return -EACCES;
	case LIBUSB_ERROR_NO_DEVICE:
		return -ENODEV;
	case LIBUSB_ERROR_NOT_FOUND:
		return -ENOENT;
	case LIBUSB_ERROR_BUSY:
		return -EBUSY;
	case LIBUSB_ERROR_TIMEOUT:
		return -ETIMEDOUT;
	case LIBUSB_ERROR_OVERFLOW:
		return -EOVERFLOW;
	case LIBUSB_ERROR_PIPE:
		return -EPIPE;
	case LIBUSB_ERROR_INTERRUPTED:
		return -EINTR;
	case LIBUSB_ERROR_NO_MEM:
		return -ENOMEM;
	case LIBUSB_ERROR_NOT_SUPPORTED:
		return -UKEY_E_UNSUPPORTED;
	default:
		log_debug("unexpected libusb error %d (%s)", r, libusb_error_name(r));
		return -UKEY_E_INTERNAL;
	}
}

/* A context of our own, never libusb's NULL default: a watch and a listing in one process must not share state. */
static int ctx_new(libusb_context **ret)
{
	libusb_context *ctx = NULL;
	int r;

	r = libusb_init(&ctx);
	if (r != LIBUSB_SUCCESS) {
		log_debug("libusb_init failed: %s", libusb_error_name(r));
		/* Whatever libusb's reason (no usbfs, no netlink socket for udev), USB cannot be listed. */
		return r == LIBUSB_ERROR_NO_MEM ? -ENOMEM : -UKEY_E_USB_UNAVAILABLE;
	}
	/* libusb 1.0.26 prints to stderr even when given a log callback: its own lines, "libusb: warning [...]". */
	if (ukey_log_enabled(UKEY_LOG_DEBUG, UKEY_LOG_MODULE))
		libusb_set_option(ctx, LIBUSB_OPTION_LOG_LEVEL, LIBUSB_LOG_LEVEL_WARNING);
	*ret = ctx;
	return 0;
}

/*
 * read_sysfs_string: one string attribute of a device, read from sysfs so
 * that no device I/O happens and no permission on the device node is
 * needed. *ret is NULL when the attribute is absent, empty, too long, not
 * UTF-8 or holds control characters (descriptors are hostile input; these
 * strings end up in JSON and on terminals). Fails only with -ENOMEM.
 */
static int read_sysfs_string(const char *port_path, const char *attr, char **ret)
{
	char path[sizeof(SYSFS_USB_DEVICES) + 32 + 32];
	char buf[UKEY_USB_MAX_STRING + 2];
	size_t len = 0;
	int fd;

	*ret = NULL;
	if ((size_t)snprintf(path, sizeof(path), SYSFS_USB_DEVICES "/%s/%s", port_path, attr) >= sizeof(path))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0; /* the device has no such string, or is gone */
	for (;;) {
		ssize_t n;

		if (len == sizeof(buf))
			break;
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);

	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0)
		return 0;
	if (len > UKEY_USB_MAX_STRING) {
		log_debug("%s of %s: longer than %d bytes, ignored", attr, port_path, UKEY_USB_MAX_STRING);
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x20 || c == 0x7F) {
			log_debug("%s of %s: control character 0x%02x, ignored", attr, port_path, c);
			return 0;
		}
	}
	if (!ukey_utf8_valid(buf, len, false)) {
		log_debug("%s of %s: not UTF-8, ignored", attr, port_path);
		return 0;
	}
	*ret = strndup(buf, len);
	return *ret ? 0 : -ENOMEM;
}

/* read_sysfs_uint: a small decimal attribute (busnum, devnum) of sysfs device NAME, or -1. */
static long read_sysfs_uint(const char *name, const char *attr)
{
	char path[sizeof(SYSFS_USB_DEVICES) + 256 + 16], buf[16], *end;
	ssize_t n;
	long v;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), SYSFS_USB_DEVICES "/%s/%s", name, attr) >= sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end != '\0' && *end != '\n') || v < 0 || v > 255)
		return -1;
	return v;
}

static bool sysfs_is(const char *name, uint8_t bus, uint8_t address)
{
	return read_sysfs_uint(name, "busnum") == bus && read_sysfs_uint(name, "devnum") == address;
}

/*
 * sysfs_name: the sysfs directory of the device at bus/address, normally
 * the port path libusb gives. libusb builds that path from the parent hubs
 * it managed to enumerate; with a hub missing it would name another port
 * and another device's strings would be read. So the candidate is checked
 * against busnum and devnum, and on a mismatch the directory is looked up.
 * Returns false when no directory matches (the strings then stay unknown).
 */
static bool sysfs_name(uint8_t bus, uint8_t address, char *name, size_t size)
{
	DIR *dir;
	struct dirent *de;
	bool found = false;

	if (sysfs_is(name, bus, address))
		return true;
	dir = opendir(SYSFS_USB_DEVICES);
	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		/* interfaces ("1-2:1.0") have no busnum; skip them without reading */
		if (de->d_name[0] == '.' || strchr(de->d_name, ':') || strlen(de->d_name) >= size)
			continue;
		found = sysfs_is(de->d_name, bus, address);
		if (found)
			snprintf(name, size, "%s", de->d_name);
	}
	closedir(dir);
	log_debug("%03u/%03u: libusb's port path does not name it in sysfs; %s", bus, address,
		  found ? name : "no sysfs directory matches");
	return found;
}

static unsigned class_bit(uint8_t class)
{
	switch (class) {
	case LIBUSB_CLASS_SMART_CARD:
		return UKEY_USB_CLASS_CCID;
	case LIBUSB_CLASS_HID:
		return UKEY_USB_CLASS_HID;
	case LIBUSB_CLASS_MASS_STORAGE:
		return UKEY_USB_CLASS_MASS_STORAGE;
	case LIBUSB_CLASS_VENDOR_SPEC:
		return UKEY_USB_CLASS_VENDOR;
	default:
		return UKEY_USB_CLASS_OTHER;
	}
}

/*
 * read_classes: the interface classes of the active configuration, or of the
 * first one when the device is unconfigured; returns whether the
 * descriptors are sound (descriptors_ok). libusb parses them with bounds
 * checks, but leniently: a configuration cut short inside an interface
 * comes back parsed, with fewer interfaces than it declared. So besides
 * libusb's verdict, every byte libusb accounted for (headers and "extra"
 * class descriptors) must add up to wTotalLength, and there must be an
 * interface. libusb itself drops devices whose device descriptor or
 * configuration header is unreadable; those never get here.
 */
static bool read_classes(libusb_device *d, unsigned *ret_classes)
{
	struct libusb_config_descriptor *config = NULL;
	unsigned classes = 0;
	size_t covered;
	bool ok;
	int r;

	r = libusb_get_active_config_descriptor(d, &config);
	if (r == LIBUSB_ERROR_NOT_FOUND)
		r = libusb_get_config_descriptor(d, 0, &config);
	if (r != LIBUSB_SUCCESS) {
		log_debug("%03u/%03u: no readable configuration descriptor: %s", libusb_get_bus_number(d),
			  libusb_get_device_address(d), libusb_error_name(r));
		return false;
	}
	covered = (size_t)config->bLength + (size_t)config->extra_length;
	for (uint8_t i = 0; i < config->bNumInterfaces; i++) {
		const struct libusb_interface *intf = &config->interface[i];

		for (int a = 0; a < intf->num_altsetting; a++) {
			const struct libusb_interface_descriptor *alt = &intf->altsetting[a];

			classes |= class_bit(alt->bInterfaceClass);
			covered += (size_t)alt->bLength + (size_t)alt->extra_length;
			for (uint8_t e = 0; e < alt->bNumEndpoints; e++)
				covered += (size_t)alt->endpoint[e].bLength + (size_t)alt->endpoint[e].extra_length;
		}
	}
	ok = config->bNumInterfaces > 0 && covered == config->wTotalLength;
	if (!ok)
		log_debug("%03u/%03u: configuration %u: %u interfaces, %zu of %u bytes parsed",
			  libusb_get_bus_number(d), libusb_get_device_address(d), config->bConfigurationValue,
			  config->bNumInterfaces, covered, config->wTotalLength);
	libusb_free_config_descriptor(config);
	*ret_classes = classes;
	return ok;
}

/* device_read: what we know of one libusb device. Fails only with -ENOMEM; missing parts stay empty. */
static int device_read(libusb_device *d, struct ukey_usb_device *ret)
{
	struct ukey_usb_device dev = { 0 };
	struct libusb_device_descriptor desc;
	uint8_t ports[USB_MAX_PORT_DEPTH];
	int n, r;

	dev.bus = libusb_get_bus_number(d);
	dev.address = libusb_get_device_address(d);
	/* Cached at enumeration; cannot fail since libusb 1.0.16. */
	if (libusb_get_device_descriptor(d, &desc) == LIBUSB_SUCCESS) {
		dev.vid = desc.idVendor;
		dev.pid = desc.idProduct;
	}

	/* "BUS-P1.P2…", "usbBUS" for a root hub (no port numbers): the sysfs name, checked by sysfs_name() below. */
	n = libusb_get_port_numbers(d, ports, (int)sizeof(ports));
	if (n > 0) {
		size_t off = (size_t)snprintf(dev.port_path, sizeof(dev.port_path), "%u-%u", dev.bus, ports[0]);

		for (int i = 1; i < n && off < sizeof(dev.port_path); i++)
			off += (size_t)snprintf(dev.port_path + off, sizeof(dev.port_path) - off, ".%u", ports[i]);
	} else {
		snprintf(dev.port_path, sizeof(dev.port_path), "usb%u", dev.bus);
	}
	snprintf(dev.devnode, sizeof(dev.devnode), "/dev/bus/usb/%03u/%03u", dev.bus, dev.address);

	dev.descriptors_ok = read_classes(d, &dev.classes);

	/*
	 * can_open: access(2) on the node rather than libusb_open(). Opening
	 * a usbfs node resumes an autosuspended device and costs device I/O
	 * on every listing; access(2) asks the kernel the same question
	 * open(O_RDWR) would (mode bits, the ACLs udev's uaccess grants, root's
	 * override) without touching the device. It checks the real uid,
	 * which is ours: ukey is never setuid. umockdev's preload library
	 * redirects access(2) (not faccessat) into the testbed, so the answer
	 * is the truth there too, for root and for other users alike.
	 */
	dev.can_open = access(dev.devnode, R_OK | W_OK) == 0;

	if (sysfs_name(dev.bus, dev.address, dev.port_path, sizeof(dev.port_path)) &&
	    ((r = read_sysfs_string(dev.port_path, "manufacturer", &dev.manufacturer)) < 0 ||
	     (r = read_sysfs_string(dev.port_path, "product", &dev.product)) < 0 ||
	     (r = read_sysfs_string(dev.port_path, "serial", &dev.serial)) < 0)) {
		ukey_usb_device_clear(&dev);
		return r;
	}
	*ret = dev;
	return 0;
}

void ukey_usb_device_clear(struct ukey_usb_device *dev)
{
	if (!dev)
		return;
	free(dev->manufacturer);
	free(dev->product);
	free(dev->serial);
	dev->manufacturer = dev->product = dev->serial = NULL;
}

void ukey_usb_list_free(struct ukey_usb_device *devs, size_t n)
{
	if (!devs)
		return;
	for (size_t i = 0; i < n; i++)
		ukey_usb_device_clear(&devs[i]);
	free(devs);
}

int ukey_usb_list(struct ukey_usb_device **ret, size_t *ret_n)
{
	libusb_context *ctx = NULL;
	libusb_device **list = NULL;
	struct ukey_usb_device *devs = NULL;
	size_t k = 0;
	ssize_t n;
	int r;

	assert(ret);
	assert(ret_n);

	if ((r = ctx_new(&ctx)) < 0)
		return r;
	n = libusb_get_device_list(ctx, &list);
	if (n < 0) {
		r = err_from_libusb((int)n);
		goto out;
	}
	/* never calloc(0): callers get a non-NULL array even when nothing is plugged in */
	devs = calloc(n > 0 ? (size_t)n : 1, sizeof(*devs));
	if (!devs) {
		r = -ENOMEM;
		goto out;
	}
	for (ssize_t i = 0; i < n; i++) {
		if ((r = device_read(list[i], &devs[k])) < 0)
			goto out;
		k++;
	}
	log_debug("%zu USB devices", k);
	*ret = devs;
	*ret_n = k;
	devs = NULL;
	r = 0;
out:
	ukey_usb_list_free(devs, k);
	if (list)
		libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	return r;
}

static struct ukey_usb_device *present_find(struct ukey_usb_watch *w, uint8_t bus, uint8_t address)
{
	for (size_t i = 0; i < w->n_present; i++)
		if (w->present[i].bus == bus && w->present[i].address == address)
			return &w->present[i];
	return NULL;
}

/* present_put: remember dev (taking its strings), replacing a stale entry with the same bus and address. */
static int present_put(struct ukey_usb_watch *w, struct ukey_usb_device *dev)
{
	struct ukey_usb_device *old = present_find(w, dev->bus, dev->address);

	if (old) {
		/* the kernel reuses an address only after the old device left: the entry is stale */
		ukey_usb_device_clear(old);
		*old = *dev;
		return 0;
	}
	if (w->n_present == w->cap_present) {
		size_t cap = w->cap_present ? w->cap_present * 2 : 16;
		struct ukey_usb_device *p = reallocarray(w->present, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->present = p;
		w->cap_present = cap;
	}
	w->present[w->n_present++] = *dev;
	return 0;
}

static void present_drop(struct ukey_usb_watch *w, struct ukey_usb_device *entry)
{
	ukey_usb_device_clear(entry);
	*entry = w->present[--w->n_present];
}

/* Runs on the event thread, inside libusb_handle_events. Returns 0: stay registered. */
static int LIBUSB_CALL hotplug_cb(libusb_context *ctx, libusb_device *d, libusb_hotplug_event event, void *userdata)
{
	struct ukey_usb_watch *w = userdata;
	struct ukey_usb_device dev, *known;
	int r;

	(void)ctx;
	if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED) {
		if ((r = device_read(d, &dev)) < 0) {
			log_debug_errno(r, "arrival of %03u/%03u not reported", libusb_get_bus_number(d),
					libusb_get_device_address(d));
			return 0;
		}
		log_debug("arrived: %04x:%04x at %s", dev.vid, dev.pid, dev.port_path);
		w->fn(w->userdata, true, &dev);
		if (present_put(w, &dev) < 0) {
			/* its removal will then be reported without the strings */
			log_debug("arrival of %s not remembered: out of memory", dev.port_path);
			ukey_usb_device_clear(&dev);
		}
		return 0;
	}
	if (event != LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT)
		return 0;

	known = present_find(w, libusb_get_bus_number(d), libusb_get_device_address(d));
	if (known) {
		log_debug("left: %04x:%04x at %s", known->vid, known->pid, known->port_path);
		w->fn(w->userdata, false, known);
		present_drop(w, known);
		return 0;
	}
	/* Never seen arrive (its arrival could not be read): report what libusb still knows. */
	if (device_read(d, &dev) < 0)
		return 0;
	log_debug("left (not seen arriving): %04x:%04x at %s", dev.vid, dev.pid, dev.port_path);
	w->fn(w->userdata, false, &dev);
	ukey_usb_device_clear(&dev);
	return 0;
}

static void *event_thread(void *arg)
{
	struct ukey_usb_watch *w = arg;

	while (!__atomic_load_n(&w->completed, __ATOMIC_ACQUIRE)) {
		struct timeval tv = { .tv_sec = WATCH_IDLE_TIMEOUT_S };
		int r;

		r = libusb_handle_events_timeout_completed(w->ctx, &tv, &w->completed);
		if (r == LIBUSB_SUCCESS || r == LIBUSB_ERROR_INTERRUPTED || r == LIBUSB_ERROR_TIMEOUT)
			continue;
		log_debug_errno(err_from_libusb(r), "libusb event handling failed");
		nanosleep(&(struct timespec){ .tv_nsec = WATCH_ERROR_BACKOFF_NS }, NULL);
	}
	return NULL;
}

/*
 * snapshot_present: remember the devices present at start without reporting
 * them, so that their removal carries their strings too (sysfs is gone by
 * then). Runs before the event thread exists.
 */
static int snapshot_present(struct ukey_usb_watch *w)
{
	libusb_device **list = NULL;
	ssize_t n;
	int r = 0;

	n = libusb_get_device_list(w->ctx, &list);
	if (n < 0)
		return err_from_libusb((int)n);
	for (ssize_t i = 0; i < n; i++) {
		struct ukey_usb_device dev;

		if ((r = device_read(list[i], &dev)) < 0)
			break;
		if ((r = present_put(w, &dev)) < 0) {
			ukey_usb_device_clear(&dev);
			break;
		}
	}
	libusb_free_device_list(list, 1);
	return r;
}

int ukey_usb_watch_start(ukey_usb_event_fn fn, void *userdata, struct ukey_usb_watch **ret)
{
	struct ukey_usb_watch *w;
	sigset_t all, saved;
	int r;

	assert(fn);
	assert(ret);

	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
		return -UKEY_E_UNSUPPORTED;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->userdata = userdata;
	if ((r = ctx_new(&w->ctx)) < 0)
		goto fail;

	/* Registered before the snapshot: a device arriving in between is reported rather than missed. */
	r = libusb_hotplug_register_callback(
		w->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, LIBUSB_HOTPLUG_NO_FLAGS,
		LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, hotplug_cb, w,
		&w->handle);
	if (r != LIBUSB_SUCCESS) {
		r = err_from_libusb(r);
		goto fail;
	}
	w->registered = true;
	if ((r = snapshot_present(w)) < 0)
		goto fail;

	/* The event thread takes no signals: the program's own threads decide what SIGTERM means. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	r = pthread_create(&w->thread, NULL, event_thread, w);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r != 0) {
		r = -r;
		goto fail;
	}
	w->thread_started = true;
	log_debug("watching USB hotplug (%zu devices present)", w->n_present);
	*ret = w;
	return 0;
fail:
	log_debug_errno(r, "USB watch not started");
	ukey_usb_watch_stop(w);
	return r;
}

void ukey_usb_watch_stop(struct ukey_usb_watch *w)
{
	if (!w)
		return;
	if (w->thread_started) {
		/* From fn this would wait for itself. */
		assert(!pthread_equal(pthread_self(), w->thread));
		__atomic_store_n(&w->completed, 1, __ATOMIC_RELEASE);
		/* Wakes the thread out of its wait; the request stays pending if it is not waiting yet. */
		libusb_interrupt_event_handler(w->ctx);
		pthread_join(w->thread, NULL);
	}
	if (w->registered)
		libusb_hotplug_deregister_callback(w->ctx, w->handle);
	if (w->ctx)
		libusb_exit(w->ctx);
	ukey_usb_list_free(w->present, w->n_present);
	free(w);
}

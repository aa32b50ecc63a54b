/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prints the udev rules for the tokens in the model database: `ukey-udev-rules drivers/models.conf > 70-ukey.rules`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "model.h"

static bool needs_uaccess(enum ukey_transport t)
{
	/* The user's vendor module opens these itself (libusb, hidraw); pcscd, running as its own user, opens CCID. */
	return t == UKEY_TRANSPORT_HID || t == UKEY_TRANSPORT_VENDOR;
}

static void print_rules(const struct ukey_model_db *db, FILE *f)
{
	size_t n = ukey_model_db_count(db), n_hid = 0;

	/* Fixed text, not the path given: the output must not depend on where the tree was checked out. */
	fputs("# SPDX-License-Identifier: LGPL-2.1-or-later\n"
	      "# Generated from drivers/models.conf by ukey-udev-rules; do not edit.\n"
	      "# Regenerate with `cmake --build build --target udev-rules`.\n"
	      "#\n"
	      "# A USB token of a known model gets ENV{UKEY_MODEL} (its id in models.conf) and ENV{UKEY_TOKEN}=\"1\",\n"
	      "# and plugging it in starts the user's ukeyd (TAG+=\"systemd\", SYSTEMD_USER_WANTS). Tokens whose vendor\n"
	      "# module talks to the device itself (transport hid or vendor) also get TAG+=\"uaccess\": logind gives the\n"
	      "# user at the seat access, and nobody else. CCID tokens get no uaccess: pcscd opens them. This file sorts\n"
	      "# before 73-seat-late.rules, which applies the uaccess tag.\n"
	      "\n"
	      "SUBSYSTEM!=\"usb|hidraw\", GOTO=\"ukey_end\"\n"
	      "ACTION!=\"add|change|bind\", GOTO=\"ukey_end\"\n"
	      "SUBSYSTEM==\"hidraw\", GOTO=\"ukey_hidraw\"\n"
	      "ENV{DEVTYPE}!=\"usb_device\", GOTO=\"ukey_end\"\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct ukey_model *m = ukey_model_db_get(db, i);

		if (m->transport == UKEY_TRANSPORT_HID)
			n_hid++;
		if (m->n_usb == 0)
			continue;
		fprintf(f, "\n# %s: %s (%s%s%s)\n", m->id, m->name, m->vendor ? m->vendor : "", m->vendor ? ", " : "",
			ukey_transport_name(m->transport));
		for (size_t k = 0; k < m->n_usb; k++)
			fprintf(f, "ATTR{idVendor}==\"%04x\", ATTR{idProduct}==\"%04x\", ENV{UKEY_MODEL}=\"%s\"%s\n",
				m->usb[k].vid, m->usb[k].pid, m->id,
				needs_uaccess(m->transport) ? ", TAG+=\"uaccess\"" : "");
	}
	fputs("\n"
	      "ENV{UKEY_MODEL}==\"?*\", ENV{UKEY_TOKEN}=\"1\", TAG+=\"systemd\", ENV{SYSTEMD_USER_WANTS}+=\"ukeyd.service\"\n"
	      "GOTO=\"ukey_end\"\n"
	      "\n"
	      "LABEL=\"ukey_hidraw\"\n",
	      f);
	if (n_hid == 0)
		fputs("# No model has transport hid.\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct ukey_model *m = ukey_model_db_get(db, i);

		if (m->transport != UKEY_TRANSPORT_HID)
			continue;
		/* The vendor module of a HID token opens /dev/hidraw*, a child of the USB device: match the parent's ids. */
		for (size_t k = 0; k < m->n_usb; k++)
			fprintf(f, "ATTRS{idVendor}==\"%04x\", ATTRS{idProduct}==\"%04x\", TAG+=\"uaccess\"\n",
				m->usb[k].vid, m->usb[k].pid);
	}
	fputs("\nLABEL=\"ukey_end\"\n", f);
}

int main(int argc, char **argv)
{
	struct ukey_model_db *db = NULL;
	char *message = NULL;
	int r;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: %s MODELS.CONF > 70-ukey.rules\n", argv[0]);
		return 2;
	}
	r = ukey_model_db_load(argv[1], &db, &message);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], message ? message : ukey_strerror(r));
		free(message);
		return 1;
	}
	print_rules(db, stdout);
	ukey_model_db_free(db);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the rules\n", argv[0]);
		return 1;
	}
	return 0;
}

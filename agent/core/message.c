/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table of error sentences every front end shows: what happened and what to do, in the user's language. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "core.h"
#include "i18n.h"

static const char *say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static const char *say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

static const char *wrong_pin(const struct ukey_failure *f, char *buf, size_t size)
{
	if (f->pin.locked)
		return say(buf, size, "%s",
			   _("Wrong PIN: that was the last try and the key is now locked (R-P1); unlocking is free, "
			     "online or at the service point (R-P3)."));
	if (f->pin.tries_left == 1)
		return say(buf, size, "%s", _("Wrong PIN: 1 try left; one more wrong PIN locks the key (R-P1)."));
	return say(buf, size, _("Wrong PIN: %u tries left before the key locks."), f->pin.tries_left);
}

static const char *locked(const struct ukey_failure *f, char *buf, size_t size)
{
	const char *label = f->has_token ? f->token.label : "";

	if (f->has_pin && f->pin.locked_by_token)
		return say(buf, size,
			   _("The key \"%s\" reports itself locked: even the right PIN is refused (R-P2) until it is "
			     "unlocked, which is free, online or at the service point (R-P3)."),
			   label);
	return say(buf, size,
		   _("The key \"%s\" is locked after %u consecutive wrong PINs: even the right PIN is refused (R-P2) "
		     "until it is unlocked, which is free, online or at the service point (R-P3)."),
		   label, f->has_pin ? f->pin.failures : UKEY_RULE_PIN_MAX_TRIES);
}

/* The sentence of the code alone, before anything the call was doing adds to it. */
static const char *sentence(const struct ukey_failure *f, char *buf, size_t size)
{
	switch (-f->r) {
	case UKEY_E_PIN_INCORRECT:
		return wrong_pin(f, buf, size);
	case UKEY_E_PIN_LOCKED:
		return locked(f, buf, size);
	case UKEY_E_NO_TOKEN:
		return say(buf, size, "%s", _("No USB key found: insert the key and try again."));
	case UKEY_E_TOKEN_NOT_FOUND:
		return say(buf, size,
			   _("No inserted key has the serial or label \"%s\": run 'ukey list' to see the keys."),
			   f->detail);
	case UKEY_E_TOKEN_AMBIGUOUS:
		return say(buf, size, "%s",
			   _("Several keys match: choose one by its serial (--token SERIAL, or \"token\" in the API; "
			     "see 'ukey list')."));
	case UKEY_E_TOKEN_REMOVED:
		if (f->pin_attempted)
			return say(
				buf, size,
				_("The key was removed during the PIN check: the try counts (%u left); insert the key "
				  "again and retry."),
				f->pin.tries_left);
		return say(buf, size, "%s", _("The key was removed during the operation: insert it again and retry."));
	case UKEY_E_TOKEN_FAILED:
		return say(buf, size, "%s",
			   _("The key did not answer correctly: remove it, insert it again and retry; if it keeps "
			     "failing, run 'ukey list' and bring the key to the service point."));
	case UKEY_E_MODULE_LOAD:
		return say(buf, size,
			   _("Cannot load the PKCS#11 module \"%s\": check the path given with --module or "
			     "UKEY_MODULE, or install the key's driver."),
			   f->detail);
	case UKEY_E_STATE_UNAVAILABLE:
		return say(buf, size,
			   _("Cannot record PIN tries in \"%s\": PIN entry is refused so that no try goes uncounted; "
			     "make the directory writable or choose another with --state-dir."),
			   f->detail);
	case UKEY_E_STATE_CORRUPT:
		return say(buf, size,
			   _("The state database \"%s\" is damaged or from a newer ukey: PIN entry is refused so that "
			     "no try goes uncounted; restore it, or move it aside to start afresh (the try counter "
			     "then restarts)."),
			   f->detail);
	case UKEY_E_PIN_INVALID:
		if (f->during == UKEY_DURING_PIN_CHANGE && f->pin_attempted)
			return say(buf, size, "%s",
				   _("The key refused the new PIN (length or characters): the PIN is unchanged."));
		return say(buf, size, "%s",
			   _("That PIN cannot be right (empty, too long, too short, not UTF-8, or with control "
			     "characters): it was not sent to the key and no try was used."));
	case UKEY_E_NO_TERMINAL:
		return say(buf, size, "%s",
			   _("No PIN was given: type it at a terminal, or pipe it as one line on standard input."));
	case UKEY_E_PIN_MISMATCH:
		return say(buf, size, "%s", _("The two new PINs differ: nothing was changed and no try was used."));
	case UKEY_E_CANCELLED:
		return say(buf, size, "%s", _("Cancelled: nothing was sent to the key."));
	case UKEY_E_UNSUPPORTED:
		return say(
			buf, size, "%s",
			_("This key cannot sign with that mechanism: use ecdsa-sha256 for an EC key, rsa-* for RSA."));
	case UKEY_E_CERT_UNREADABLE:
		return say(buf, size, "%s",
			   _("The key holds no readable certificate for its key pair: nothing to renew; see 'ukey "
			     "diagnose'."));
	case UKEY_E_CA_NOT_CONFIGURED:
		return say(buf, size, "%s",
			   _("No CA is configured: give --ca-url https://HOST:PORT/.well-known/est (and --ca-trust "
			     "CA.pem), or set ca-url in ukey.conf."));
	case UKEY_E_RENEW_NOT_OPEN:
		if (f->rule && strcmp(f->rule, "R-R5") == 0)
			return say(
				buf, size,
				_("The certificate expired %ld days ago: online renewal closed on %s; renewal now needs "
				  "documents and the CA's approval (R-R5)."),
				f->days, f->date);
		return say(buf, size,
			   _("Online renewal opens on %s, when fewer than 90 days are left (R-R2); %ld days are left "
			     "now."),
			   f->date, f->days);
	case UKEY_E_RENEW_PENDING: {
		char when[32] = "";
		struct tm tm;

		if (f->when && localtime_r(&f->when, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		return say(buf, size,
			   _("The CA holds the order%s%s (payment, or documents and approval): run 'ukey renew "
			     "--resume' after %s."),
			   f->detail[0] ? " " : "", f->detail, when);
	}
	case UKEY_E_SESSION_NOT_FOUND:
		return say(buf, size, "%s",
			   _("No such signing session on this connection: open one with session.open (the PIN once)."));
	case UKEY_E_SESSION_EXPIRED:
		return say(buf, size, "%s",
			   _("The signing session was idle too long and has ended: open a new one with the PIN."));
	case ENOMEM:
		return say(buf, size, "%s", _("Out of memory."));
	default:
		/* TRANSLATORS: a sentence from the error table, with the full stop of your language. */
		return say(buf, size, _("%s."), _(ukey_strerror(f->r)));
	}
}

const char *ukey_failure_message(const struct ukey_failure *f, char *buf, size_t size)
{
	if (f->during != UKEY_DURING_RENEW)
		return sentence(f, buf, size);
	switch (-f->r) {
	case UKEY_E_PIN_INCORRECT:
	case UKEY_E_PIN_LOCKED:
	case UKEY_E_RENEW_PENDING:
	case UKEY_E_RENEW_NOT_OPEN:
		return sentence(f, buf, size);
	case UKEY_E_CA_REFUSED:
		if (f->detail[0])
			return say(buf, size,
				   _("The CA refused the renewal: %s. The old certificate still works; 'ukey renew "
				     "--abort' drops this renewal."),
				   f->detail);
		break;
	default:
		break;
	}
	/* Any other failure mid-renewal: the journal keeps the old pair usable and knows where to go on. */
	return say(buf, size,
		   _("%s. The old certificate is still on the key; 'ukey renew --resume' carries on from here."),
		   _(ukey_strerror(f->r)));
}

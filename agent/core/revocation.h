/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Is a certificate revoked (R-V)? OCSP from its AIA, else the CRL from its CDP (cached until nextUpdate), verified. */
#ifndef UKEY_REVOCATION_H
#define UKEY_REVOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps on what a responder or a CRL server may send. Real CAs' CRLs run to a few MiB; an OCSP answer is small. */
#define UKEY_OCSP_MAX_RESPONSE (64 * 1024)
#define UKEY_CRL_MAX_SIZE (8 * 1024 * 1024)
/* A URL taken from a certificate longer than this is not followed. */
#define UKEY_REVOCATION_MAX_URL 1024
/* How many OCSP responders, and how many CRL locations, of one certificate are tried at most. */
#define UKEY_REVOCATION_MAX_URLS 2
/* One request, connect included; the connect alone. `ukey certs` waits at most this per source. */
#define UKEY_REVOCATION_TIMEOUT_S 10
#define UKEY_REVOCATION_CONNECT_TIMEOUT_S 5
/* Clocks differ: thisUpdate may lie this far in our future, nextUpdate this far in our past. */
#define UKEY_REVOCATION_SKEW_S 300
/* Information without a nextUpdate counts as fresh for this long after its thisUpdate. */
#define UKEY_REVOCATION_MAX_AGE_S 86400

enum ukey_revocation_status {
	UKEY_REVOCATION_UNKNOWN, /* never read as "good": why says what was missing */
	UKEY_REVOCATION_GOOD,
	UKEY_REVOCATION_REVOKED,
};

enum ukey_revocation_source {
	UKEY_REVOCATION_SOURCE_NONE,
	UKEY_REVOCATION_SOURCE_OCSP,
	UKEY_REVOCATION_SOURCE_CRL,
};

/* Why the status is unknown. Ordered: when both sources fail, the higher value is the one reported. */
enum ukey_revocation_why {
	UKEY_REVOCATION_WHY_NONE, /* the status is known */
	UKEY_REVOCATION_WHY_NO_URL, /* the certificate names no http(s) OCSP responder and no http(s) CRL */
	UKEY_REVOCATION_WHY_NO_ISSUER, /* the issuer's certificate is not in the trust (--ca-trust) */
	UKEY_REVOCATION_WHY_OFFLINE, /* --offline, and no fresh CRL in the cache */
	UKEY_REVOCATION_WHY_RESPONDER_UNKNOWN, /* the OCSP responder does not know the certificate, and no CRL */
	UKEY_REVOCATION_WHY_UNREACHABLE, /* the responder or CRL server did not answer (connect, timeout, HTTP error) */
	UKEY_REVOCATION_WHY_STALE, /* only out-of-date information (past its nextUpdate) */
	UKEY_REVOCATION_WHY_NOT_VERIFIABLE, /* an answer came but does not verify: signature, certificate, times */
};

/* RFC 5280 CRLReason codes as OCSP and CRLs carry them; -1: not given. */
#define UKEY_REVOCATION_REASON_NONE (-1)

struct ukey_revocation_result {
	enum ukey_revocation_status status;
	enum ukey_revocation_source source;
	enum ukey_revocation_why why;
	bool cached; /* the CRL came from the cache, not the network */
	time_t checked_at; /* when this check ran */
	time_t this_update; /* the source's thisUpdate; 0 with no source */
	time_t next_update; /* the source's nextUpdate; 0 when it gives none */
	time_t revoked_at; /* when revoked; 0 otherwise */
	int reason; /* CRLReason when revoked and given, else UKEY_REVOCATION_REASON_NONE */
};

struct ukey_revocation_config {
	const char *trust_pem; /* PEM of the CA certificates (ca-trust): issuers, OCSP signers, TLS; NULL: system */
	const char *state_dir; /* CRLs are cached in state_dir/crl/; NULL: no cache */
	bool offline; /* no network: the cache only */
	long timeout_s; /* per request; 0: UKEY_REVOCATION_TIMEOUT_S */
};

struct ukey_revocation;

/*
 * ukey_revocation_new: a checker with the trust loaded once. The strings in
 * cfg are copied. -UKEY_E_USAGE when trust_pem cannot be read as PEM
 * certificates; -ENOMEM. Free with ukey_revocation_free() (NULL-safe).
 * A checker is used by one thread at a time (its trust store carries the
 * verification time of the current check).
 */
int ukey_revocation_new(const struct ukey_revocation_config *cfg, struct ukey_revocation **ret);
void ukey_revocation_free(struct ukey_revocation *rv);

/*
 * ukey_revocation_check: the revocation status of the DER certificate at
 * now. OCSP first (the certificate's AIA responders, the answer verified:
 * signed by the issuer or its delegate chaining to the trust, our
 * certificate ID, our nonce when echoed, thisUpdate/nextUpdate around now);
 * when OCSP gives no answer, or "unknown", the CRL of its CDP (signed by the
 * issuer, complete, current), from the cache while before its nextUpdate,
 * else fetched and cached. Anything missing or failing gives
 * UKEY_REVOCATION_UNKNOWN with why — never GOOD. Blocks on the network up to
 * a few timeouts (none when offline). Returns 0 (the finding is in *ret),
 * -UKEY_E_CERT_UNREADABLE for DER that is not a certificate, or -ENOMEM.
 */
int ukey_revocation_check(struct ukey_revocation *rv, const uint8_t *der, size_t len, time_t now,
			  struct ukey_revocation_result *ret);

enum ukey_revocation_freshness {
	UKEY_REVOCATION_FRESH,
	UKEY_REVOCATION_NOT_YET, /* thisUpdate beyond our clock's skew: a wrong clock or a forged answer */
	UKEY_REVOCATION_EXPIRED, /* past nextUpdate (or, without one, older than UKEY_REVOCATION_MAX_AGE_S) */
};

/*
 * ukey_revocation_freshness: whether information with this thisUpdate and
 * nextUpdate (0: none) may be used at now. A cached CRL is reused while this
 * says FRESH; an OCSP answer or a fetched CRL must be FRESH to count.
 * next_update before this_update is EXPIRED.
 */
enum ukey_revocation_freshness ukey_revocation_freshness(time_t this_update, time_t next_update, time_t now);

/* ukey_revocation_cache_name: the cache file name of a CRL URL: lower-case hex SHA-256 of the URL + ".der". */
void ukey_revocation_cache_name(const char *url, char name[static 69]);

/* Stable ids for JSON: "good"/"revoked"/"unknown"; "ocsp"/"crl" (NULL for none); "no-url", "no-issuer",
 * "offline", "responder-unknown", "unreachable", "stale", "not-verifiable" (NULL for none); the RFC 5280
 * CRLReason names ("keyCompromise", …; NULL for none or an unknown code). */
const char *ukey_revocation_status_id(enum ukey_revocation_status s);
const char *ukey_revocation_source_id(enum ukey_revocation_source s);
const char *ukey_revocation_why_id(enum ukey_revocation_why w);
const char *ukey_revocation_reason_id(int reason);

#endif

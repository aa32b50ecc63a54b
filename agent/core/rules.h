/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CA's rule numbers (service-rules.md), in one place: every check and every sentence takes them from here. */
#ifndef UKEY_RULES_H
#define UKEY_RULES_H

/* R-P1: the key locks after 10 consecutive wrong PINs. Per-model limits may be stricter, never looser. */
#define UKEY_RULE_PIN_MAX_TRIES 10

/* R-R2: online renewal opens when fewer than 90 days are left … */
#define UKEY_RULE_RENEW_OPEN_DAYS 90

/* … and stays open until 365 days after expiry (R-R5 beyond). */
#define UKEY_RULE_RENEW_GRACE_DAYS 365

/* R-D6 and R-S3: the media fee of a replacement key, in CNY. */
#define UKEY_RULE_MEDIA_FEE_CNY 80

#endif

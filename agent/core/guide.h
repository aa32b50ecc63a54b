/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CA's services (R-S1…R-S8): where, what it costs, what to bring, what it does to the certificate. */
#ifndef UKEY_GUIDE_H
#define UKEY_GUIDE_H

#include <stdbool.h>
#include <stddef.h>

enum ukey_service_where {
	UKEY_WHERE_ON_SITE,
	UKEY_WHERE_ONLINE,
	UKEY_WHERE_ONLINE_OR_ON_SITE,
};

/* One line of text in both languages the portal's users read. */
struct ukey_text {
	const char *en;
	const char *zh;
};

struct ukey_service {
	const char *rule; /* "R-S1" … "R-S8" */
	const char *id; /* stable: "initial-issue", "unlock", … */
	struct ukey_text name;
	enum ukey_service_where where;
	struct ukey_text old_key; /* whether to bring the old USBKey */
	int fee_cny; /* the fee when it is one amount; -1 when it depends (see fee) */
	struct ukey_text fee;
	struct ukey_text effect; /* what happens to the certificate */
	bool paperwork; /* the on-site paperwork list applies */
	bool eseal_form; /* 《单位电子印章采样表》 too */
};

/* The service point's address, from the CA's manual. */
extern const struct ukey_text ukey_guide_address;

/* ukey_guide_services: the eight services, in rule order; *ret_n gets the count. Static data. */
const struct ukey_service *ukey_guide_services(size_t *ret_n);

/* ukey_guide_find: a service by rule ("R-S3", any case) or id ("loss"); NULL when none. */
const struct ukey_service *ukey_guide_find(const char *name);

/*
 * ukey_guide_paperwork: the documents to bring on site for s (empty for an
 * online-only service), NULL-terminated; static data.
 */
size_t ukey_guide_paperwork(const struct ukey_service *s, const struct ukey_text **ret, size_t max);

/* ukey_guide_where_id: "on-site", "online", "online-or-on-site". */
const char *ukey_guide_where_id(enum ukey_service_where w);

#endif

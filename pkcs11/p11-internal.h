/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the token layer shared by its own files and its tests; PKCS#11 types stay here. */
#ifndef UKEY_P11_INTERNAL_H
#define UKEY_P11_INTERNAL_H

#include <p11-kit/pkcs11.h>

#include "p11.h"

/*
 * ukey_err_from_ckr: the one converter from a module's CK_RV to ukey's
 * codes. Expected codes become ours; an unexpected one is logged at debug
 * level and becomes -UKEY_E_INTERNAL.
 */
int ukey_err_from_ckr(unsigned long rv);

/* ukey_p11_function_list: the module's raw function list (same instance libp11 uses). Owned by p11. */
CK_FUNCTION_LIST *ukey_p11_function_list(struct ukey_p11 *p11);

#endif

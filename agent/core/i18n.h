/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gettext for the front ends: messages are written in English and translated through catalogues (zh_CN first). */
#ifndef UKEY_I18N_H
#define UKEY_I18N_H

#include <libintl.h>

#define _(s) gettext(s)
#define N_(s) (s)

/* ukey_i18n_setup: set the locale and bind the "ukey" domain (build tree first, then the install prefix). */
void ukey_i18n_setup(void);

#endif

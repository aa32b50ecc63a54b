# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one browser test file for ctest (cmake -DNODE= -DTEST_FILE= -DJS_DIR= -DCHROMIUM= -P this):
# fails, never skips, when Chromium or playwright-core is missing; then as run-node-test.cmake.

if(NOT CHROMIUM OR CHROMIUM MATCHES "NOTFOUND$")
  message(FATAL_ERROR "chromium not found: the browser tests need Debian's Chromium (apt-get install chromium), then re-run cmake")
endif()
if(NOT EXISTS "${CHROMIUM}")
  message(FATAL_ERROR "${CHROMIUM} does not exist: install chromium (apt-get install chromium), then re-run cmake")
endif()
if(NOT EXISTS "${JS_DIR}/node_modules/playwright-core/package.json")
  message(FATAL_ERROR "${JS_DIR}/node_modules is missing the playwright-core package: run 'npm ci' in ${JS_DIR}")
endif()
include("${CMAKE_CURRENT_LIST_DIR}/../run-node-test.cmake")

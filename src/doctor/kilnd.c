/* SPDX-License-Identifier: Apache-2.0 */
/* kiln doctor: whether kilnd serves the state dir's socket, and whether it is this kiln's version. */
#include "doctor/doctor.h"

#include <jansson.h>
#include <string.h>

#include "kilnd/client.h"

#define TIMEOUT_MS 10000

/*
 * kilnd is not needed to run an enclave: kiln run --sim starts it when
 * missing, and both modes run without it (no logs, ps, stop or published
 * ports). So its absence is a warning in both modes. A kilnd older than
 * the "version" request answers "unknown op".
 */
int kiln_doc_kilnd(struct kiln_doc *d)
{
	json_t *reply = NULL;
	const char *v;
	int rc;

	if (!d->state_dir[0])
		return kiln_doc_add(d, "kilnd", KILN_DOC_BOTH, KILN_DOC_SKIP, NULL,
				    "kilnd: not asked: no state directory (XDG_RUNTIME_DIR is not "
				    "set; pass --state-dir)");
	rc = kilnd_client_call(d->state_dir, json_pack("{s:s}", "op", "version"), TIMEOUT_MS,
			       &reply);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return kiln_doc_add(d, "kilnd", KILN_DOC_BOTH, KILN_DOC_WARN,
				    "kilnd --state-dir DIR (kiln run --sim starts it itself; on a "
				    "Nitro parent run it as a service)",
				    "kilnd: not running (no %s/kilnd.sock): enclaves run without "
				    "logs, ps, stop or published ports", d->state_dir);
	if (rc < 0 && strstr(kiln_errmsg(), "unknown op"))
		return kiln_doc_add(d, "kilnd", KILN_DOC_BOTH, KILN_DOC_WARN,
				    "restart kilnd with this kiln's kilnd",
				    "kilnd: running (%s), older than this kiln %s (it has no "
				    "version request)", d->state_dir, KILN_VERSION);
	if (rc < 0)
		return kiln_doc_add(d, "kilnd", KILN_DOC_BOTH, KILN_DOC_WARN,
				    "restart kilnd", "kilnd: %s/kilnd.sock does not answer: %s",
				    d->state_dir, kiln_errmsg());
	v = json_string_value(json_object_get(reply, "version"));
	if (!v || strcmp(v, KILN_VERSION))
		rc = kiln_doc_add(d, "kilnd", KILN_DOC_BOTH, KILN_DOC_WARN,
				  "restart kilnd with this kiln's kilnd",
				  "kilnd: running (%s), version %s, this kiln is %s", d->state_dir,
				  v ? v : "unknown", KILN_VERSION);
	else
		rc = kiln_doc_add(d, "kilnd", KILN_DOC_BOTH, KILN_DOC_OK, NULL,
				  "kilnd: running (%s), version %s", d->state_dir, v);
	json_decref(reply);
	return rc;
}

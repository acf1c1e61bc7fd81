/* SPDX-License-Identifier: Apache-2.0 */
/* The kiln.yaml schema (docs/config.md); every field has a default. */
#include "config/schema.h"

#include <stddef.h>

static const char *const dns_modes[] = { "parent", "none", NULL };
static const char *const storage_modes[] = { "encrypted", "plain", NULL };
static const char *const storage_frontends[] = { "fuse", "nfs", NULL };
static const char *const key_sources[] = { "kms", "sim", NULL };
static const char *const cred_sources[] = { "imds", "static", NULL };

static const struct kiln_field resources[] = {
	{ "cpus", KF_INT, false, NULL, 1, 256, NULL, "2" },
	{ "memory_mib", KF_INT, false, NULL, 64, 4194304, NULL, "2048" },
	{ NULL },
};

static const struct kiln_field app[] = {
	{ "entrypoint", KF_STRLIST, false, NULL, 0, 0, NULL, NULL },
	{ "cmd", KF_STRLIST, false, NULL, 0, 0, NULL, NULL },
	{ "env", KF_STRLIST, false, NULL, 0, 0, NULL, "[]" },
	{ "workdir", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "user", KF_STR, false, NULL, 0, 0, NULL, NULL },
	/* true: the app may open AF_VSOCK, i.e. reach the parent's channels as kiln-init */
	{ "allow_vsock", KF_BOOL, false, NULL, 0, 0, NULL, "false" },
	{ NULL },
};

static const struct kiln_field ingress[] = {
	{ "port", KF_INT, true, NULL, 1, 65535, NULL, NULL },
	{ "host_port", KF_INT, false, NULL, 1, 65535, NULL, NULL },
	{ "proxy_protocol", KF_BOOL, false, NULL, 0, 0, NULL, "false" },
	{ NULL },
};

static const struct kiln_field egress[] = {
	{ "allow", KF_STRLIST, false, NULL, 0, 0, NULL, NULL },
	{ "deny", KF_STRLIST, false, NULL, 0, 0, NULL, "[]" },
	{ NULL },
};

static const struct kiln_field network[] = {
	{ "ingress", KF_OBJLIST, false, ingress, 0, 0, NULL, "[]" },
	{ "egress", KF_OBJ, false, egress, 0, 0, NULL, "{}" },
	{ "dns", KF_STR, false, NULL, 0, 0, dns_modes, "\"parent\"" },
	{ "idle_timeout_s", KF_INT, false, NULL, 1, 86400 * 7, NULL, "3600" },
	{ NULL },
};

static const struct kiln_field storage[] = {
	{ "path", KF_STR, true, NULL, 0, 0, NULL, NULL },
	{ "mode", KF_STR, false, NULL, 0, 0, storage_modes, "\"encrypted\"" },
	{ "key", KF_STR, false, NULL, 0, 0, key_sources, "\"kms\"" },
	/* key: kms: the KMS key (id, ARN or alias) that wraps the volume key */
	{ "kms_key_id", KF_STR, false, NULL, 0, 0, NULL, NULL },
	/* absent: FUSE when /dev/fuse works, else NFS (init/storage_nfs.h) */
	{ "frontend", KF_STR, false, NULL, 0, 0, storage_frontends, NULL },
	{ NULL },
};

static const struct kiln_field secrets[] = {
	{ "name", KF_STR, true, NULL, 0, 0, NULL, NULL },
	{ "kms_ciphertext", KF_STR, true, NULL, 0, 0, NULL, NULL },
	{ "to", KF_STR, false, NULL, 0, 0, NULL, "\"env\"" },
	{ "mode", KF_STR, false, NULL, 0, 0, NULL, "\"0400\"" },
	/* "uid[:gid]" or a name from the image's /etc/passwd; default: the app's user */
	{ "owner", KF_STR, false, NULL, 0, 0, NULL, NULL },
	/* checked against the ciphertext's key by KMS (Decrypt's KeyId) */
	{ "key_id", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "optional", KF_BOOL, false, NULL, 0, 0, NULL, "false" },
	{ NULL },
};

/* docs/secrets.md: static credentials land in the EIF; for kiln dev-kms only. */
static const struct kiln_field kms[] = {
	{ "region", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "endpoint", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "ca_bundle", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "credentials", KF_STR, false, NULL, 0, 0, cred_sources, "\"imds\"" },
	{ "access_key_id", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "secret_access_key", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "imds_endpoint", KF_STR, false, NULL, 0, 0, NULL, "\"http://169.254.169.254\"" },
	{ "timeout_s", KF_INT, false, NULL, 1, 600, NULL, "30" },
	{ "connections", KF_INT, false, NULL, 1, 16, NULL, "4" },
	{ NULL },
};

static const struct kiln_field attestation_api[] = {
	{ "listen", KF_STR, false, NULL, 0, 0, NULL, "\"127.0.0.1:50123\"" },
	{ NULL },
};

const struct kiln_field kiln_config_schema[] = {
	{ "version", KF_INT, true, NULL, 1, 1, NULL, NULL },
	{ "name", KF_STR, false, NULL, 0, 0, NULL, "\"app\"" },
	{ "image", KF_STR, false, NULL, 0, 0, NULL, NULL },
	{ "resources", KF_OBJ, false, resources, 0, 0, NULL, "{}" },
	{ "app", KF_OBJ, false, app, 0, 0, NULL, "{}" },
	{ "network", KF_OBJ, false, network, 0, 0, NULL, "{}" },
	{ "storage", KF_OBJLIST, false, storage, 0, 0, NULL, "[]" },
	{ "secrets", KF_OBJLIST, false, secrets, 0, 0, NULL, "[]" },
	{ "kms", KF_OBJ, false, kms, 0, 0, NULL, "{}" },
	{ "attestation_api", KF_OBJ, false, attestation_api, 0, 0, NULL, "{}" },
	{ NULL },
};

/* SPDX-License-Identifier: Apache-2.0 */
/* dev-kms key policies: the IAM-style JSON subset KMS key policies use, evaluated per request. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "devkms/devkms.h"

/*
 * How this works: a policy is {"Version", "Id", "Statement": [...]}; a
 * statement has Sid, Effect (Allow|Deny), Principal ("*" or {"AWS": ...}),
 * Action, Resource (string or list, '*' and '?' wildcards) and Condition
 * {OPERATOR: {KEY: value or list}} with StringEquals,
 * StringEqualsIgnoreCase or StringLike. Every caller is the account root
 * (arn:aws:iam::ACCOUNT:root). A statement applies when principal, action,
 * resource and every condition match; a condition key the request does not
 * carry never matches. Any applicable Deny denies; otherwise an applicable
 * Allow allows; otherwise the request is denied, naming the first condition
 * that kept an Allow from applying. Anything else (NotAction, other
 * operators, unknown fields) is refused when the policy is stored, so a
 * policy never means less than it says.
 */

static bool glob(const char *pat, const char *s, bool icase)
{
	for (;; pat++, s++) {
		if (*pat == '*') {
			while (*pat == '*')
				pat++;
			if (!*pat)
				return true;
			for (; *s; s++)
				if (glob(pat, s, icase))
					return true;
			return false;
		}
		if (!*s)
			return !*pat;
		if (!*pat)
			return false;
		if (*pat != '?' && (icase ? tolower((unsigned char)*pat) != tolower((unsigned char)*s)
					  : *pat != *s))
			return false;
	}
}

/* A string or a non-empty list of strings. */
static bool str_or_list(json_t *v)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return true;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return false;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return false;
	return true;
}

/* Does any string of v (string or list) match s? */
static bool any_match(json_t *v, const char *s, bool icase)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return glob(json_string_value(v), s, icase);
	json_array_foreach(v, i, e)
		if (glob(json_string_value(e), s, icase))
			return true;
	return false;
}

static const char *const operators[] = { "StringEquals", "StringEqualsIgnoreCase", "StringLike",
					  NULL };

static int check_condition(json_t *cond)
{
	const char *op, *key;
	json_t *m, *v;

	if (!json_is_object(cond))
		return kiln_err(EILSEQ, "Condition must be an object");
	json_object_foreach(cond, op, m) {
		bool known = false;
		for (int i = 0; operators[i]; i++)
			known |= !strcmp(op, operators[i]);
		if (!known)
			return kiln_err(EILSEQ, "condition operator %s is not supported by dev-kms", op);
		if (!json_is_object(m) || json_object_size(m) == 0)
			return kiln_err(EILSEQ, "condition %s must map keys to values", op);
		json_object_foreach(m, key, v)
			if (!str_or_list(v))
				return kiln_err(EILSEQ, "condition %s %s: values must be strings", op, key);
	}
	return 0;
}

static int check_principal(json_t *p)
{
	const char *k;
	json_t *v;

	if (json_is_string(p))
		return strcmp(json_string_value(p), "*") ? kiln_err(EILSEQ, "Principal must be \"*\" or an object") : 0;
	if (!json_is_object(p) || json_object_size(p) == 0)
		return kiln_err(EILSEQ, "Principal must be \"*\" or an object");
	json_object_foreach(p, k, v)
		if (!str_or_list(v))
			return kiln_err(EILSEQ, "Principal %s: values must be strings", k);
	return 0;
}

static int check_statement(json_t *st, size_t idx)
{
	const char *k;
	json_t *v;

	if (!json_is_object(st))
		return kiln_err(EILSEQ, "Statement %zu is not an object", idx);
	json_object_foreach(st, k, v) {
		int rc = 0;
		if (!strcmp(k, "Sid"))
			rc = json_is_string(v) ? 0 : kiln_err(EILSEQ, "Sid must be a string");
		else if (!strcmp(k, "Effect"))
			rc = json_is_string(v) && (!strcmp(json_string_value(v), "Allow") ||
						   !strcmp(json_string_value(v), "Deny"))
				     ? 0
				     : kiln_err(EILSEQ, "Effect must be Allow or Deny");
		else if (!strcmp(k, "Principal"))
			rc = check_principal(v);
		else if (!strcmp(k, "Action") || !strcmp(k, "Resource"))
			rc = str_or_list(v) ? 0 : kiln_err(EILSEQ, "%s must be a string or a list", k);
		else if (!strcmp(k, "Condition"))
			rc = check_condition(v);
		else
			rc = kiln_err(EILSEQ, "%s is not supported by dev-kms", k);
		if (rc < 0)
			return kiln_err_wrap(rc, "Statement %zu", idx);
	}
	if (!json_object_get(st, "Effect") || !json_object_get(st, "Principal") ||
	    !json_object_get(st, "Action"))
		return kiln_err(EILSEQ, "Statement %zu needs Effect, Principal and Action", idx);
	return 0;
}

/* Parse and check; *out is the policy's Statement list (a new reference). */
static int load(const char *text, json_t **root, json_t **stmts)
{
	json_error_t e;
	const char *k;
	json_t *v, *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

	if (!j || !json_is_object(j)) {
		json_decref(j);
		return kiln_err(EILSEQ, "policy is not a JSON object");
	}
	json_object_foreach(j, k, v)
		if (strcmp(k, "Version") && strcmp(k, "Id") && strcmp(k, "Statement")) {
			/* The message first: j owns k. */
			int rc = kiln_err(EILSEQ, "policy field %s is not supported by dev-kms", k);
			json_decref(j);
			return rc;
		}
	json_t *s = json_object_get(j, "Statement");
	if (json_is_object(s)) {
		json_t *arr = json_array();
		json_array_append(arr, s);
		json_object_set_new(j, "Statement", arr);
		s = arr;
	}
	if (!json_is_array(s) || json_array_size(s) == 0) {
		json_decref(j);
		return kiln_err(EILSEQ, "policy needs a Statement list");
	}
	size_t i;
	json_array_foreach(s, i, v) {
		int rc = check_statement(v, i);
		if (rc < 0) {
			json_decref(j);
			return rc;
		}
	}
	*root = j;
	*stmts = s;
	return 0;
}

int kiln_devkms_policy_check(const char *text)
{
	json_t *j, *s;
	int rc = load(text, &j, &s);

	if (rc == 0)
		json_decref(j);
	return rc;
}

static bool principal_match(json_t *p)
{
	const char *root = "arn:aws:iam::" KILN_DEVKMS_ACCOUNT ":root";
	json_t *aws;

	if (json_is_string(p))
		return true; /* "*" (checked) */
	aws = json_object_get(p, "AWS");
	return aws && (any_match(aws, root, false) || any_match(aws, KILN_DEVKMS_ACCOUNT, false));
}

/* The request's value for a condition key, or NULL when it carries none. */
static const char *context_value(const struct kiln_devkms_ctx *ctx, const char *key)
{
	static const char prefix[] = "kms:RecipientAttestation:";
	const size_t pl = sizeof(prefix) - 1;

	if (strncasecmp(key, prefix, pl))
		return NULL;
	key += pl;
	if (!strcasecmp(key, "ImageSha384"))
		return ctx->pcr_hex[0];
	if (strncasecmp(key, "PCR", 3) || !key[3] || strlen(key + 3) > 2)
		return NULL;
	int n = 0;
	for (const char *c = key + 3; *c; c++) {
		if (!isdigit((unsigned char)*c))
			return NULL;
		n = n * 10 + (*c - '0');
	}
	return n < 32 ? ctx->pcr_hex[n] : NULL;
}

/* All conditions hold? On the first that fails, *why names it. */
static bool conditions_hold(json_t *cond, const struct kiln_devkms_ctx *ctx, char *why, size_t n)
{
	const char *op, *key;
	json_t *m, *v;

	json_object_foreach(cond, op, m) {
		bool icase = !strcmp(op, "StringEqualsIgnoreCase");
		bool like = !strcmp(op, "StringLike");
		json_object_foreach(m, key, v) {
			const char *have = context_value(ctx, key);
			bool ok = false;
			if (!have) {
				snprintf(why, n, "%s missing%s", key,
					 ctx->has_document ? "" : " (the request carries no attestation document)");
				return false;
			}
			size_t i;
			json_t *e;
			json_t *one = json_is_string(v) ? v : NULL;
			if (one)
				ok = like ? glob(json_string_value(one), have, false)
					  : (icase ? !strcasecmp(json_string_value(one), have)
						   : !strcmp(json_string_value(one), have));
			json_array_foreach(v, i, e)
				ok |= like ? glob(json_string_value(e), have, false)
					   : (icase ? !strcasecmp(json_string_value(e), have)
						    : !strcmp(json_string_value(e), have));
			if (!ok) {
				snprintf(why, n, "%s mismatch", key);
				return false;
			}
		}
	}
	return true;
}

int kiln_devkms_policy_eval(const char *policy, const struct kiln_devkms_ctx *ctx)
{
	const char *user = "arn:aws:iam::" KILN_DEVKMS_ACCOUNT ":root";
	json_t *j, *stmts, *st;
	char why[256] = "", first_why[256] = "";
	bool allowed = false;
	size_t i;

	if (!policy)
		return 0; /* the default policy: the account may do everything */
	int rc = load(policy, &j, &stmts);
	if (rc < 0)
		return kiln_err(EACCES, "the key policy is invalid: %s", kiln_errmsg());
	json_array_foreach(stmts, i, st) {
		json_t *res = json_object_get(st, "Resource"), *cond = json_object_get(st, "Condition");
		if (!principal_match(json_object_get(st, "Principal")) ||
		    !any_match(json_object_get(st, "Action"), ctx->action, true) ||
		    (res && !any_match(res, ctx->key_arn, false)))
			continue;
		bool deny = !strcmp(json_string_value(json_object_get(st, "Effect")), "Deny");
		if (cond && !conditions_hold(cond, ctx, why, sizeof(why))) {
			if (!deny && !first_why[0])
				memcpy(first_why, why, sizeof(why));
			continue;
		}
		if (deny) {
			json_decref(j);
			return kiln_err(EACCES, "User: %s is not authorized to perform: %s on resource: %s with an explicit deny in a resource-based policy",
					user, ctx->action, ctx->key_arn);
		}
		allowed = true;
	}
	json_decref(j);
	if (allowed)
		return 0;
	return kiln_err(EACCES, "User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action%s%s%s",
			user, ctx->action, ctx->key_arn, ctx->action, first_why[0] ? " (" : "",
			first_why, first_why[0] ? ")" : "");
}

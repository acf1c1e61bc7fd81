/* SPDX-License-Identifier: Apache-2.0 */
/* Host name normalisation and suffix matching. */
#include "net/name.h"

#include <string.h>

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int kiln_name_norm(const char *s, size_t len, char *out)
{
	size_t label = 0;

	if (len && s[len - 1] == '.')
		len--;
	if (len == 0)
		return kiln_err(EINVAL, "empty host name");
	if (len > KILN_NAME_LEN)
		return kiln_err(EINVAL, "host name longer than %d bytes", KILN_NAME_LEN);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
		if (c == '.') {
			if (label == 0)
				return kiln_err(EINVAL, "empty label in host name");
			label = 0;
			continue;
		}
		if (!label_char(c))
			return kiln_err(EINVAL, "invalid character in host name");
		if (++label > 63)
			return kiln_err(EINVAL, "host name label longer than 63 bytes");
	}
	out[len] = '\0';
	return 0;
}

bool kiln_name_is_subdomain(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n == s)
		return !strcmp(name, suffix);
	return n > s && name[n - s - 1] == '.' && !strcmp(name + n - s, suffix);
}

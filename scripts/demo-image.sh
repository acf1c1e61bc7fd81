# SPDX-License-Identifier: Apache-2.0
# Builds the demo image (FROM scratch: busybox-static + a script) with buildah.
# Usage: demo_image OUT.tar   (needs tests/lib/common.sh sourced)
demo_image() {
	local out=$1 c mnt
	c=$(busybox_container)
	mnt=$(bah mount "$c")
	mkdir -p "$mnt/app"
	cat >"$mnt/app/hello.sh" <<'SH'
#!/bin/sh
echo "hello from inside the enclave image: $*"
echo "GREETING=$GREETING"
echo "workdir=$(pwd) uid=$(id -u)"
SH
	chmod 0755 "$mnt/app/hello.sh"
	bah umount "$c" >/dev/null
	bah config --entrypoint '["/app/hello.sh"]' --cmd '["world"]' --env GREETING=hi \
		--workingdir /app --created-by kiln-demo "$c"
	save_image "$c" kiln-demo "$out" ""
}

#!/gl/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# rdinit of the guest lab's EIF boots (guestlab_eif_lab): the parent's side in its own netns, then the EIF's /init as PID 1.
B=/gl/bin/busybox
$B mkdir -p /proc /dev
$B mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
$B mount -t proc proc /proc
$B --install -s /gl/bin
export PATH=/gl/bin
while read -r m; do
	insmod "/gl/modules/$m" || echo "GL FAIL boot: insmod $m"
done </gl/modules.list
ip link set lo up
echo "GL BOOTED $(uname -r)"
unshare -n sh /gl/parent.sh &
# The enclave boots once the parent's side is ready (as nitro-cli starts it after the listeners).
i=0
while [ ! -e /gl/ready ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
umount /proc
exec /init

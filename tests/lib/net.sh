# SPDX-License-Identifier: Apache-2.0
# Helpers for the networking tests: a private "parent" network namespace, real servers, images with curl.

# Re-exec the calling script in a fresh network namespace (the parent
# instance's network for this test): lo up, plus 198.18.0.0/24 (a
# benchmarking range) on lo, so addresses that are not loopback inside the
# enclave are served here by nginx, dnsmasq and kilnd, and the host's own
# network is never touched. Call before sourcing common.sh's $T users.
net_private_parent() { # "$0" "$@"
	if [ -z "${KILN_NET_NS:-}" ]; then
		unshare -n true 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
		KILN_NET_NS=1 exec unshare -n -- "$@"
	fi
	ip link set lo up
	for i in 1 2 3 4; do ip addr add "198.18.0.$i/32" dev lo; done
}

# Copy a dynamically linked program and its shared libraries into $mnt. A
# system program keeps its path; any other (the checkout's build/tools/...)
# needs a fixed in-image DEST, so the image does not depend on where the
# checkout is (under /tmp, the enclave's own tmpfs there would hide it).
copy_with_libs() { # mnt /path/to/bin [dest]
	local mnt=$1 bin=$2 dest=${3:-} lib
	if [ -z "$dest" ]; then
		case $bin in
		/usr/* | /bin/* | /sbin/*) dest=$bin ;;
		*) fail "copy_with_libs: give an in-image path for $bin (e.g. /usr/local/bin/$(basename "$bin"))" ;;
		esac
	fi
	mkdir -p "$mnt$(dirname "$dest")"
	cp -L "$bin" "$mnt$dest"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do # system libraries: no spaces
		mkdir -p "$mnt$(dirname "$lib")"
		cp -L "$lib" "$mnt$lib"
	done
}

# Wait until a TCP port accepts connections (bash /dev/tcp).
wait_port() { # host port
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	fail "nothing listens on $1:$2"
}

# nginx serving $1 on the given "listen" lines ($2...), as a test-owned process.
start_nginx() { # root listen...
	local root=$1 conf=$T/nginx.conf l listens=""
	shift
	for l in "$@"; do listens+="listen $l;"$'\n'; done
	mkdir -p "$T/nginx"
	cat >"$conf" <<EOF
daemon off;
pid $T/nginx/nginx.pid;
error_log stderr warn;
worker_processes 1;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	sendfile on;
	server {
		$listens
		ssl_certificate $T/tls/cert.pem;
		ssl_certificate_key $T/tls/key.pem;
		root $root;
	}
}
EOF
	nginx -c "$conf" -e stderr 2>>"$T/nginx.log" &
	defer "kill $! 2>/dev/null"
}

# A self-signed certificate for the names given, in $T/tls.
make_cert() { # name...
	local san="" n
	for n in "$@"; do san+="DNS:$n,"; done
	mkdir -p "$T/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -addext "subjectAltName=${san%,}" \
		-keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" 2>/dev/null
}

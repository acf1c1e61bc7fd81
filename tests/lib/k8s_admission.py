# SPDX-License-Identifier: Apache-2.0
# Drives a running kiln-webhook over HTTPS with AdmissionReviews shaped as the
# Kubernetes API reference shows; applies every patch with python3-jsonpatch
# and loads the result as a V1Pod with python3-kubernetes (validation on).
# Usage: k8s_admission.py PORT CAFILE  (Debian's /usr/bin/python3)
import base64
import copy
import http.client
import json
import socket
import ssl
import sys

import jsonpatch
from kubernetes import client

PORT, CA = int(sys.argv[1]), sys.argv[2]
CTX = ssl.create_default_context(cafile=CA)
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def conn():
    return http.client.HTTPSConnection("127.0.0.1", PORT, context=CTX, timeout=30)


def post(body, ctype="application/json", c=None, path="/mutate"):
    c = c or conn()
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    c.request("POST", path + "?timeout=10s", body=data, headers={"Content-Type": ctype})
    r = c.getresponse()
    return r.status, r.read().decode()


def review(pod, name="", op="CREATE", kind=("", "v1", "Pod", "pods")):
    g, v, k, res = kind
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": g, "version": v, "kind": k},
            "resource": {"group": g, "version": v, "resource": res},
            "requestKind": {"group": g, "version": v, "kind": k},
            "requestResource": {"group": g, "version": v, "resource": res},
            "name": name, "namespace": "shop", "operation": op,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                         "uid": "014fbff9a07c", "groups": ["system:serviceaccounts",
                                                           "system:authenticated"]},
            "object": pod, "oldObject": None, "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


class Resp:
    def __init__(self, d):
        self.data = json.dumps(d)


def as_v1pod(d):
    return client.ApiClient().deserialize(Resp(d), "V1Pod")


def admit(pod, what):
    """-> (response, patched pod dict or None)"""
    st, body = post(review(pod, pod["metadata"].get("name", "")))
    check(st == 200, f"{what}: status {st}: {body}")
    if st != 200:
        return None, None
    doc = json.loads(body)
    r = doc["response"]
    check(doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview",
          f"{what}: response envelope")
    check(r["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002", f"{what}: uid echoed")
    if "patch" not in r:
        return r, None
    check(r.get("patchType") == "JSONPatch", f"{what}: patchType")
    ops = json.loads(base64.b64decode(r["patch"]))
    patched = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(pod))
    as_v1pod(patched)  # raises on a Pod the client models refuse
    return r, patched


def pod(name="web", labels=None, ann=None, containers=None, **spec):
    meta = {"name": name, "namespace": "shop",
            "labels": {"enclave.kiln/managed": "true"} if labels is None else labels,
            "annotations": {"enclave.kiln/memory": "512Mi"} if ann is None else ann}
    if name is None:
        del meta["name"]
    s = {"containers": containers or [{"name": "web", "image": "registry.example/web:1",
                                       "resources": {"limits": {"cpu": "2"}}}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": s}


def enclave_ok(p, idx, what, cpus="2", pages="512Mi", hp="hugepages-2Mi"):
    v = as_v1pod(p)
    c = v.spec.containers[idx]
    lim, req = c.resources.limits, c.resources.requests
    check(lim.get("aws.ec2.nitro/nitro_enclaves") == "1", f"{what}: nitro device limit")
    check(req.get("aws.ec2.nitro/nitro_enclaves") == "1", f"{what}: nitro device request")
    check(lim.get(hp) == pages and req.get(hp) == pages, f"{what}: {hp} {lim} {req}")
    check(lim.get("cpu") == cpus, f"{what}: cpu limit {lim.get('cpu')}")
    mib = str(int(pages[:-2]) * (1024 if pages.endswith("Gi") else 1))
    check(c.args == ["--nitro", "--cpus", cpus, "--memory", mib], f"{what}: args {c.args}")
    check(any(m.name == "kiln-state" and m.mount_path == "/run/kiln" for m in c.volume_mounts),
          f"{what}: state mount")
    check(any(x.name == "kiln-state" and x.empty_dir and x.empty_dir.size_limit == "1Gi"
              for x in v.spec.volumes), f"{what}: emptyDir")
    check(v.spec.node_selector.get("aws-nitro-enclaves-k8s-dp") == "enabled", f"{what}: selector")
    check(any(t.key == "enclave.kiln/nitro" and t.effect == "NoSchedule"
              for t in v.spec.tolerations), f"{what}: toleration")
    check(v.metadata.annotations.get("enclave.kiln/mutated") == "v1", f"{what}: marked")
    return v


if len(sys.argv) > 3 and sys.argv[3] == "1g":
    # kiln-webhook --hugepages 1Gi --no-cpu-pairs --default-memory 1536Mi
    r, p = admit(pod(ann={}, containers=[{"name": "w", "image": "i",
                                          "resources": {"requests": {"cpu": "3"}}}]), "1Gi pod")
    check(r and r["allowed"] and p, "1Gi pod mutated")
    if p:
        enclave_ok(p, 0, "1Gi pod", cpus="3", pages="2Gi", hp="hugepages-1Gi")
    print(f"{len(FAILS)} failures")
    sys.exit(1 if FAILS else 0)

# 1. A plain Pod.
r, p1 = admit(pod(), "plain pod")
check(r and r["allowed"] and p1, "plain pod mutated")
if p1:
    enclave_ok(p1, 0, "plain pod")

# 2. A Deployment's Pod: generateName, owner, existing env/mounts/volumes/tolerations.
dep = pod(name=None, containers=[{
    "name": "nginx", "image": "registry.example/nginx-enclave:1.25",
    "env": [{"name": "TZ", "value": "UTC"}],
    "volumeMounts": [{"name": "kube-api-access-x", "mountPath":
                      "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
    "resources": {"limits": {"cpu": "4", "memory": "256Mi"}, "requests": {"memory": "128Mi"}},
    "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
    volumes=[{"name": "kube-api-access-x", "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
    tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                  "effect": "NoExecute", "tolerationSeconds": 300}],
    nodeSelector={"kubernetes.io/os": "linux"}, terminationGracePeriodSeconds=60)
dep["metadata"].update({"generateName": "nginx-7c5d8f9b4-", "ownerReferences": [{
    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nginx-7c5d8f9b4",
    "uid": "3c1a1c0e-1111-4e5e-9d4a-7b0d9c0e9a11", "controller": True,
    "blockOwnerDeletion": True}]})
dep["metadata"]["labels"].update({"app": "nginx", "pod-template-hash": "7c5d8f9b4"})
dep["metadata"]["annotations"].update({"enclave.kiln/min-memory": "72Mi"})
r, p2 = admit(dep, "deployment pod")
check(r and r["allowed"] and p2, "deployment pod mutated")
if p2:
    v = enclave_ok(p2, 0, "deployment pod", cpus="4")
    c = v.spec.containers[0]
    check([e.name for e in c.env] == ["TZ", "KILN_GRACE_SECONDS", "KILN_HUGEPAGES_MIB"],
          f"env kept: {c.env}")
    ref = c.env[2].value_from.resource_field_ref
    check(ref.resource == "limits.hugepages-2Mi" and ref.divisor == "1Mi",
          f"hugepages through the downward API: {ref}")
    check(c.env[1].value == "55", "grace period from terminationGracePeriodSeconds - 5")
    check(c.resources.limits["memory"] == "256Mi" and c.resources.requests["memory"] == "128Mi",
          "existing memory resources kept")
    check(len(v.spec.volumes) == 2 and len(v.spec.tolerations) == 2, "volumes/tolerations kept")
    check(v.spec.node_selector.get("kubernetes.io/os") == "linux", "node selector kept")
    check(v.metadata.generate_name == "nginx-7c5d8f9b4-", "generateName kept")

# 2b. Storage on a PersistentVolumeClaim (a StatefulSet's Pod): the claim's volume and mount
#     are kept as written, kiln-state is added beside them; the storage annotation is checked.
sts = pod(name="db-0", ann={"enclave.kiln/memory": "1Gi", "enclave.kiln/storage": "/data"},
          containers=[{"name": "db", "image": "registry.example/db-enclave:1",
                       "resources": {"limits": {"cpu": "2"}},
                       "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
          volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}])
r, p4 = admit(sts, "pvc pod")
check(r and r["allowed"] and p4, f"pvc pod mutated: {r}")
if p4:
    v = enclave_ok(p4, 0, "pvc pod", pages="1024Mi")
    c = v.spec.containers[0]
    check([(m.name, m.mount_path) for m in c.volume_mounts] ==
          [("data", "/data"), ("kiln-state", "/run/kiln")], f"pvc mount kept: {c.volume_mounts}")
    check(v.spec.volumes[0].persistent_volume_claim.claim_name == "data-db-0", "pvc volume kept")
    check(p4["spec"]["volumes"][0] == sts["spec"]["volumes"][0], "pvc volume bytes unchanged")
for what, mounts, vols, want in (
        ("storage without a mount", [], [], "mounts no volume at /data"),
        ("storage on an emptyDir", [{"name": "data", "mountPath": "/data"}],
         [{"name": "data", "emptyDir": {}}], "is not a persistentVolumeClaim"),
        ("storage read-only", [{"name": "data", "mountPath": "/data", "readOnly": True}],
         [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}], "is readOnly"),
        ("mount over kiln-state", [{"name": "data", "mountPath": "/run/kiln"}],
         [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}], "inside kilnd's state")):
    bad = copy.deepcopy(sts)
    bad["spec"]["containers"][0]["volumeMounts"] = mounts
    bad["spec"]["volumes"] = vols
    st, body = post(review(bad))
    r = json.loads(body)["response"] if st == 200 else {}
    check(r.get("allowed") is False and want in r.get("status", {}).get("message", ""),
          f"{what}: denied with '{want}': {st} {body}")

# 3. Init containers and a sidecar: the annotated container is the enclave.
side = pod(ann={"enclave.kiln/memory": "1Gi", "enclave.kiln/container": "app"}, containers=[
    {"name": "log-shipper", "image": "registry.example/fluent-bit:2", "args": ["-c", "/f.conf"]},
    {"name": "app", "image": "registry.example/app-enclave:3"}],
    initContainers=[{"name": "migrate", "image": "registry.example/migrate:3",
                     "command": ["/migrate"]}])
r, p3 = admit(side, "sidecar pod")
check(r and r["allowed"] and p3, "sidecar pod mutated")
if p3:
    v = enclave_ok(p3, 1, "sidecar pod", pages="1024Mi")
    check(v.spec.containers[0].resources is None and v.spec.containers[0].args == ["-c", "/f.conf"],
          "sidecar untouched")
    check(v.spec.init_containers[0].resources is None, "init container untouched")
    check(p3["spec"]["containers"][0] == side["spec"]["containers"][0], "sidecar bytes unchanged")

# 4. Already mutated: no second patch.
if p1:
    r, again = admit(p1, "already mutated")
    check(r and r["allowed"] and again is None, "already-mutated pod not patched again")

# 5. No label, label false, not CREATE: allowed, untouched.
for what, pd in (("no label", pod(labels={"app": "x"})),
                 ("label false", pod(labels={"enclave.kiln/managed": "false"}))):
    r, p = admit(pd, what)
    check(r and r["allowed"] and p is None, f"{what}: untouched")
st, body = post(review(pod(), op="UPDATE"))
check(st == 200 and "patch" not in json.loads(body)["response"], "UPDATE untouched")

# 6. Denied with a message kubectl shows.
for what, pd, want in (
        ("odd cpu", pod(containers=[{"name": "w", "image": "i", "resources": {"limits": {"cpu": "3"}}}]),
         "vCPUs come in pairs"),
        ("fractional cpu", pod(containers=[{"name": "w", "image": "i", "resources": {"limits": {"cpu": "1500m"}}}]),
         "whole number of vCPUs"),
        ("no memory", pod(ann={}), "enclave.kiln/memory is missing"),
        ("memory below min", pod(ann={"enclave.kiln/memory": "64Mi", "enclave.kiln/min-memory": "200Mi"}),
         "below what kiln run needs"),
        ("bad memory", pod(ann={"enclave.kiln/memory": "lots"}), "not a Kubernetes quantity"),
        ("command set", pod(containers=[{"name": "w", "image": "i", "command": ["/bin/sh"]}]),
         "sets command"),
        ("unknown container", pod(ann={"enclave.kiln/memory": "1Gi", "enclave.kiln/container": "nope"}),
         "does not have")):
    st, body = post(review(pd))
    r = json.loads(body)["response"] if st == 200 else {}
    check(st == 200 and r.get("allowed") is False and want in r.get("status", {}).get("message", ""),
          f"{what}: denied with '{want}': {st} {body}")
    check("patch" not in r, f"{what}: no patch with a denial")

# 6b. Workloads on /validate: the pod template is checked, never patched.
DEPLOY = ("apps", "v1", "Deployment", "deployments")


def deployment(tmpl):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": tmpl["metadata"], "spec": tmpl["spec"]}}}


for what, obj, kind, want in (
        ("deployment odd cpu", deployment(pod(containers=[
            {"name": "w", "image": "i", "resources": {"limits": {"cpu": "3"}}}])), DEPLOY,
         "pod template: container w: resources.limits.cpu is 3"),
        ("cronjob no memory", {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                               "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {
                                   "template": {"metadata": pod(ann={})["metadata"],
                                                "spec": pod()["spec"]}}}}},
         ("batch", "v1", "CronJob", "cronjobs"), "pod template: annotation enclave.kiln/memory")):
    st, body = post(review(obj, kind=kind), path="/validate")
    r = json.loads(body)["response"] if st == 200 else {}
    check(r.get("allowed") is False and want in r.get("status", {}).get("message", ""),
          f"{what}: denied with '{want}': {st} {body}")
for what, obj, kind, op in (("good deployment", deployment(pod()), DEPLOY, "UPDATE"),
                            ("unlabelled deployment", deployment(pod(labels={})), DEPLOY, "CREATE"),
                            ("pod on /validate", pod(), ("", "v1", "Pod", "pods"), "CREATE")):
    st, body = post(review(obj, kind=kind, op=op), path="/validate")
    r = json.loads(body)["response"] if st == 200 else {}
    check(r.get("allowed") is True and "patch" not in r, f"{what}: allowed, no patch: {st} {body}")

# 7. Malformed requests: 400/411/413/415/431 with a reason.
st, body = post(b'{"apiVersion": "admission.k8s.io/v1", "kind": ')
check(st == 400 and "malformed JSON" in body, f"malformed JSON: {st} {body}")
st, body = post({"apiVersion": "v1", "kind": "Pod"})
check(st == 400 and "admission.k8s.io/v1" in body, f"not a review: {st} {body}")
st, body = post({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}})
check(st == 400 and "uid" in body, f"no uid: {st} {body}")
st, body = post(review(pod()), ctype="text/plain")
check(st == 415 and "application/json" in body, f"wrong content type: {st} {body}")


def raw(head, body=b""):
    s = CTX.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=30),
                        server_hostname="127.0.0.1")
    s.sendall(head + body)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode(errors="replace")


out = raw(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 4194304\r\n\r\n")
check(out.startswith("HTTP/1.1 413") and "over the limit" in out, f"oversized body: {out[:200]}")
out = raw(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n")
check(out.startswith("HTTP/1.1 411"), f"chunked: {out[:200]}")
out = raw(b"POST /mutate HTTP/1.1\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
check(out.startswith("HTTP/1.1 431"), f"huge head: {out[:200]}")
out = raw(b"GARBAGE\r\n\r\n")
check(out.startswith("HTTP/1.1 400"), f"bad request line: {out[:200]}")

# An early answer (415) to a request whose body was not read must still arrive:
# the server drains before closing, else the unread bytes make close() a reset.
lost = 0
for _ in range(10):
    body = b"x" * 300000
    try:
        out = raw(b"POST /mutate HTTP/1.1\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body), body)
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        out = ""
    lost += not out.startswith("HTTP/1.1 415")
check(lost == 0, f"early 415 answers lost to a reset: {lost} of 10")

# 8. Keep-alive: several reviews on one connection.
c = conn()
for i in range(5):
    st, body = post(review(pod()), c=c)
    check(st == 200 and json.loads(body)["response"]["allowed"], f"keep-alive request {i}")

print(f"{len(FAILS)} failures")
sys.exit(1 if FAILS else 0)

# SPDX-License-Identifier: Apache-2.0
# Loads every object of a rendered chart (stdin) with python3-kubernetes'
# models (client-side validation on) and checks how the pieces fit together.
# Prints the webhook container's args, one per line, for the caller to run.
# Usage: helm_render.py ... | k8s_chart_check.py NAMESPACE VARIANT
import json
import sys

import yaml
from kubernetes import client

NS, VARIANT = sys.argv[1], sys.argv[2]
MODELS = {
    ("v1", "ServiceAccount"): "V1ServiceAccount", ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap", ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "DaemonSet"): "V1DaemonSet", ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): "V1MutatingWebhookConfiguration",
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): "V1ValidatingWebhookConfiguration",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
}
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what, file=sys.stderr)


class Resp:
    def __init__(self, d):
        self.data = json.dumps(d)


docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
objs = {}
for d in docs:
    key = (d.get("apiVersion"), d.get("kind"))
    if d["apiVersion"].startswith("cert-manager.io/"):
        check(d["kind"] in ("Issuer", "Certificate"), f"cert-manager kind {d['kind']}")
        obj = d  # a CRD: no model in the client; checked by hand below
    else:
        check(key in MODELS, f"unexpected object {key}")
        obj = client.ApiClient().deserialize(Resp(d), MODELS[key])
    objs.setdefault(d["kind"], []).append((d, obj))

dep_d, dep = objs["Deployment"][0]
pod_labels = dep.spec.template.metadata.labels
check(dep.spec.replicas == 2, "2 webhook replicas")
check(dep.spec.selector.match_labels.items() <= pod_labels.items(), "deployment selector")
c = dep.spec.template.spec.containers[0]
svc = objs["Service"][0][1]
check(svc.spec.selector.items() <= pod_labels.items(), "service selects the webhook pods")
check(svc.spec.ports[0].port == 443 and svc.spec.ports[0].target_port in [p.name for p in c.ports],
      "service port 443 -> a named container port")
pdb = objs["PodDisruptionBudget"][0][1]
check(pdb.spec.min_available == 1 and pdb.spec.selector.match_labels.items() <= pod_labels.items(),
      "PDB keeps one replica")
check(c.readiness_probe.http_get.path == "/readyz" and c.readiness_probe.http_get.scheme == "HTTPS",
      "readiness probe")
tls_vol = [v for v in dep.spec.template.spec.volumes if v.name == "tls"][0]

mwc_d, mwc = objs["MutatingWebhookConfiguration"][0]
w = mwc.webhooks[0]
check(w.failure_policy == "Fail" and 1 <= w.timeout_seconds <= 10, "failurePolicy Fail, short timeout")
check(w.side_effects == "None" and w.admission_review_versions == ["v1"], "sideEffects, v1 reviews")
check(w.object_selector.match_labels == {"enclave.kiln/managed": "true"}, "object selector: the label")
ex = w.namespace_selector.match_expressions[0]
check(ex.operator == "NotIn" and NS in ex.values and "kube-system" in ex.values,
      f"namespace selector excludes {NS} and kube-system: {ex.values}")
check(w.client_config.service.name == svc.metadata.name and w.client_config.service.path == "/mutate",
      "webhook calls the service's /mutate")
check(w.rules[0].operations == ["CREATE"] and w.rules[0].resources == ["pods"], "rules: pod CREATE")

vwc = objs["ValidatingWebhookConfiguration"][0][1]
vw = vwc.webhooks[0]
check(vw.failure_policy == "Ignore" and vw.client_config.service.path == "/validate" and
      1 <= vw.timeout_seconds <= 10, "templates webhook: advisory, /validate, short timeout")
check({r.api_groups[0] for r in vw.rules} == {"apps", "batch"} and
      "deployments" in vw.rules[0].resources, "templates webhook: workloads")
check(vw.namespace_selector.match_expressions[0].values == ex.values, "same namespaces excluded")
check((vwc.metadata.annotations or {}) == (mwc.metadata.annotations or {}) and
      vw.client_config.ca_bundle == w.client_config.ca_bundle, "same CA for both")

ann = mwc.metadata.annotations or {}
if VARIANT == "certmanager":
    check(ann.get("cert-manager.io/inject-ca-from") == f"{NS}/kiln-webhook", "CA injection")
    cert = [d for d, _ in objs["Certificate"]][0]
    check(cert["spec"]["secretName"] == tls_vol.secret.secret_name, "certificate -> mounted secret")
    check(f"{svc.metadata.name}.{NS}.svc" in cert["spec"]["dnsNames"], "certificate names the service")
    check("DaemonSet" in objs, "device plugin DaemonSet")
    check("ClusterRole" not in objs, "no node-setup RBAC when node setup is off")
else:
    check("cert-manager.io/inject-ca-from" not in ann and w.client_config.ca_bundle, "caBundle set")
    check("Certificate" not in objs, "no cert-manager objects")
    ds = {o.metadata.name: o for _, o in objs["DaemonSet"]}
    setup = ds["kiln-webhook-node-setup"]
    check(setup.spec.template.spec.host_pid and setup.spec.template.spec.service_account_name ==
          "kiln-webhook-node-setup", "node setup DaemonSet")
    role = objs["ClusterRole"][0][1]
    check(role.rules[0].resources == ["nodes"] and set(role.rules[0].verbs) == {"get", "patch"},
          "node setup may only get/patch nodes")
    cms = {o.metadata.name: o for _, o in objs["ConfigMap"]}
    with open(sys.argv[3], "w") as f:
        f.write(cms["kiln-webhook-node-setup-script"].data["node-setup.sh"])

for a in c.args:
    print(a)
sys.exit(1 if fails else 0)

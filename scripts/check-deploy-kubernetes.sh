#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/kubernetes, offline:
#
# 1. every core resource against the Kubernetes OpenAPI schemas bundled in
#    the PyPI package kubernetes-validate (strict: unknown fields fail), at
#    K8S_VERSION (default 1.30.0, the oldest the manifests need: the preStop
#    `sleep` action);
# 2. the kustomization: every resource it lists exists and every YAML file
#    is listed; rendered with `kubectl kustomize` when kubectl is there, and
#    the rendered output validated again;
# 3. what no schema knows: the ServiceMonitors (a CRD, so only a structural
#    check), selectors that select, named ports that exist, probes on the
#    proxy's /healthz, the security context, resources, replicas and
#    strategies, mounts, grace periods;
# 4. the plan in the proxy's ConfigMap with `strangler plan check`, when a
#    built binary is there (STRANGLER_BIN, else target/{debug,release}).
#
# Needs python3 with kubernetes-validate (pip install kubernetes-validate).
# Usage: scripts/check-deploy-kubernetes.sh [DIR]  (default deploy/kubernetes)
# Exit 0 when everything holds, 1 when a check fails, 2 when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-deploy/kubernetes}
k8s_version=${K8S_VERSION:-1.30.0}

if ! command -v kubernetes-validate >/dev/null; then
    echo "check-deploy-kubernetes: kubernetes-validate not found (pip install kubernetes-validate)" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail=0

# 3 (and the listing half of 2): structure and cross-references, in Python
# with the PyYAML that kubernetes-validate depends on. It also writes the
# ConfigMap's plan out for step 4 and lists the core files for step 1.
python3 - "$dir" "$tmp" <<'PY' || fail=1
import os, re, sys
import yaml

d, tmp = sys.argv[1], sys.argv[2]
errors = []
def err(where, msg):
    errors.append(f"{where}: {msg}")

kust = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
listed = kust.get("resources") or []
if len(set(listed)) != len(listed):
    err("kustomization.yaml", "a resource is listed twice")
files = sorted(f for f in os.listdir(d) if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml")
for r in listed:
    if not os.path.isfile(os.path.join(d, r)):
        err("kustomization.yaml", f"lists {r}, which does not exist")
for f in files:
    if f not in listed:
        err(f, "is not listed in kustomization.yaml's resources")

docs = []  # (file, doc)
for f in files:
    for doc in yaml.safe_load_all(open(os.path.join(d, f))):
        if doc is None:
            continue
        for key in ("apiVersion", "kind"):
            if key not in doc:
                err(f, f"a document without {key}")
        meta = doc.get("metadata") or {}
        if not meta.get("name"):
            err(f, "a document without metadata.name")
        if "namespace" in meta:
            err(f, f"{doc.get('kind')} {meta.get('name')} sets a namespace; the manifests are namespace-agnostic")
        docs.append((f, doc))

def kind(k):
    return [(f, x) for f, x in docs if x.get("kind") == k]

def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

deployments = kind("Deployment")
configmaps = {x["metadata"]["name"]: x for _, x in kind("ConfigMap")}
services = kind("Service")
external_secrets = set()

def pod_ports(dep):
    return {p["name"]: p["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", []) if "name" in p}

for f, dep in deployments:
    name = dep["metadata"]["name"]
    where = f"{f} ({name})"
    spec = dep["spec"]
    pod = spec["template"]
    labels = pod["metadata"].get("labels") or {}
    if not selects(spec["selector"].get("matchLabels"), labels):
        err(where, "spec.selector.matchLabels does not select the pod template's labels")
    pspec = pod["spec"]
    psc = pspec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        err(where, "pod securityContext.runAsNonRoot must be true")
    if not isinstance(psc.get("runAsUser"), int) or psc.get("runAsUser") == 0:
        err(where, "pod securityContext.runAsUser must be a non-zero UID")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        err(where, "pod securityContext.seccompProfile.type must be RuntimeDefault")
    if pspec.get("automountServiceAccountToken") is not False:
        err(where, "automountServiceAccountToken must be false (no API access needed)")
    volumes = {v["name"]: v for v in pspec.get("volumes", [])}
    for v in volumes.values():
        if "configMap" in v and v["configMap"]["name"] not in configmaps:
            err(where, f"volume {v['name']} names ConfigMap {v['configMap']['name']}, which no manifest defines")
        if "secret" in v:
            external_secrets.add(v["secret"]["secretName"])
    for c in pspec["containers"]:
        cw = f"{where} container {c['name']}"
        csc = c.get("securityContext") or {}
        if csc.get("readOnlyRootFilesystem") is not True:
            err(cw, "securityContext.readOnlyRootFilesystem must be true")
        if csc.get("allowPrivilegeEscalation") is not False:
            err(cw, "securityContext.allowPrivilegeEscalation must be false")
        if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
            err(cw, "securityContext.capabilities.drop must be [ALL]")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    err(cw, f"resources.{part}.{r} is missing")
        ports = {p["name"] for p in c.get("ports", []) if "name" in p}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            p = c.get(probe)
            if p:
                port = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    err(cw, f"{probe} names port {port}, which the container does not declare")
        mounts = [m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])]
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                err(cw, f"volumeMount {m['name']} has no volume")
            v = volumes.get(m["name"], {})
            if ("configMap" in v or "secret" in v) and "subPath" in m:
                err(cw, f"volumeMount {m['name']} uses subPath, which is never updated when the ConfigMap or Secret changes")
        for e in c.get("env", []):
            if e["name"] in ("STRANGLER_PLAN", "STRANGLER_ADMIN_TOKEN_FILE"):
                if not any(e.get("value", "").startswith(mp + "/") for mp in mounts):
                    err(cw, f"{e['name']}={e.get('value')} is not inside a mounted volume")
        args = c.get("args") or []
        component = labels.get("app.kubernetes.io/component")
        if component == "proxy":
            if args[:1] != ["proxy"]:
                err(cw, "the proxy container's args must start with `proxy`")
            if spec.get("replicas") != 3:
                err(where, "the proxy runs 3 replicas")
            ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
            if spec.get("strategy", {}).get("type") != "RollingUpdate" or ru.get("maxUnavailable") != 0 or ru.get("maxSurge") != 1:
                err(where, "the proxy rolls with RollingUpdate, maxUnavailable 0, maxSurge 1")
            for probe in ("readinessProbe", "livenessProbe"):
                g = (c.get(probe) or {}).get("httpGet") or {}
                if g.get("path") != "/healthz" or g.get("port") != "admin":
                    err(cw, f"{probe} must be httpGet /healthz on the admin port")
            if not any(a.startswith("--admin=0.0.0.0:") or a.startswith("--admin=[::]:") for a in args):
                err(cw, "--admin must listen on all addresses for the kubelet's probes")
            if not any(e["name"] == "STRANGLER_ADMIN_TOKEN_FILE" for e in c.get("env", [])) and not any(a.startswith("--admin-token-file") for a in args):
                err(cw, "the admin token must come from a file (STRANGLER_ADMIN_TOKEN_FILE or --admin-token-file)")
            # SIGTERM: 5 s of grace, then up to 10 s for requests in flight
            # (strangler-proxy's grace_period and graceful_shutdown_timeout).
            pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
            if pspec.get("terminationGracePeriodSeconds", 30) <= pre + 5 + 10:
                err(where, f"terminationGracePeriodSeconds must exceed preStop {pre} s + 5 s grace + 10 s drain")
        elif component == "sync":
            if args[:2] != ["sync", "run"] or not any(a.startswith("--service") for a in args):
                err(cw, "a sync container runs `sync run --service NAME`")
            if spec.get("replicas") != 1:
                err(where, "a sync runs exactly 1 replica")
            if (spec.get("strategy") or {}).get("type") != "Recreate":
                err(where, "a sync uses strategy Recreate (never two at once)")
        else:
            err(where, "pod label app.kubernetes.io/component must be proxy or sync")

proxy_deps = [x for _, x in deployments if x["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "proxy"]
if len(proxy_deps) != 1:
    err(d, f"expected one proxy Deployment, found {len(proxy_deps)}")
if not [x for _, x in deployments if x["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "sync"]:
    err(d, "no sync Deployment")

for f, svc in services:
    where = f"{f} ({svc['metadata']['name']})"
    sel = svc["spec"].get("selector") or {}
    targets = [x for _, x in deployments if selects(sel, x["spec"]["template"]["metadata"]["labels"])]
    if not targets:
        err(where, "the selector selects no Deployment's pods")
    for p in svc["spec"].get("ports", []):
        tp = p.get("targetPort")
        for t in targets:
            if isinstance(tp, str) and tp not in pod_ports(t):
                err(where, f"targetPort {tp} is no named port of {t['metadata']['name']}")

for f, pdb in kind("PodDisruptionBudget"):
    where = f"{f} ({pdb['metadata']['name']})"
    sel = (pdb["spec"].get("selector") or {}).get("matchLabels")
    targets = [x for _, x in deployments if selects(sel, x["spec"]["template"]["metadata"]["labels"])]
    if not targets:
        err(where, "the selector selects no Deployment's pods")
    for t in targets:
        m = pdb["spec"].get("minAvailable")
        if isinstance(m, int) and m >= t["spec"].get("replicas", 1):
            err(where, f"minAvailable {m} blocks every eviction of {t['metadata']['name']}")

# ServiceMonitor is a CRD (monitoring.coreos.com/v1): no bundled schema, so
# the fields it uses are checked here.
endpoint_keys = {"port", "path", "interval", "scrapeTimeout", "scheme", "authorization",
                 "bearerTokenSecret", "tlsConfig", "honorLabels", "relabelings", "metricRelabelings"}
monitors = kind("ServiceMonitor")
if not monitors:
    err(d, "no ServiceMonitor")
for f, sm in monitors:
    where = f"{f} ({sm['metadata']['name']})"
    if sm.get("apiVersion") != "monitoring.coreos.com/v1":
        err(where, "apiVersion must be monitoring.coreos.com/v1")
    spec = sm.get("spec") or {}
    unknown = set(spec) - {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels", "sampleLimit"}
    if unknown:
        err(where, f"unknown spec fields {sorted(unknown)}")
    sel = (spec.get("selector") or {}).get("matchLabels")
    targets = [x for _, x in services if selects(sel, x["metadata"].get("labels") or {})]
    if len(targets) != 1:
        err(where, f"spec.selector.matchLabels should select exactly one Service, selects {len(targets)}")
    endpoints = spec.get("endpoints") or []
    if not endpoints:
        err(where, "no endpoints")
    for ep in endpoints:
        unknown = set(ep) - endpoint_keys
        if unknown:
            err(where, f"unknown endpoint fields {sorted(unknown)}")
        for t in targets:
            if ep.get("port") not in {p.get("name") for p in t["spec"].get("ports", [])}:
                err(where, f"endpoint port {ep.get('port')} is no port name of Service {t['metadata']['name']}")
        if not str(ep.get("path", "")).startswith("/"):
            err(where, "endpoint path must start with /")
        auth = ep.get("authorization")
        if auth is not None:
            cred = auth.get("credentials") or {}
            if auth.get("type", "Bearer") != "Bearer" or not cred.get("name") or not cred.get("key"):
                err(where, "authorization needs type Bearer and credentials {name, key}")
            external_secrets.add(cred.get("name"))
    # The proxy's /metrics needs the admin token.
    if any(t["metadata"]["labels"].get("app.kubernetes.io/component") == "proxy" for t in targets):
        if not all("authorization" in ep for ep in endpoints):
            err(where, "the proxy's /metrics needs the admin token (endpoints[].authorization)")

# The proxy's plan, for `strangler plan check`.
for name, cm in configmaps.items():
    plan = (cm.get("data") or {}).get("strangler.toml")
    if plan is not None:
        with open(os.path.join(tmp, f"{name}.toml"), "w") as out:
            out.write(plan)
        if re.search(r"://[^/@\s:\"']+:[^/@\s\"']*@", plan):
            err(f"ConfigMap {name}", "a URL in the plan carries a password; ConfigMaps are not secret")

core = [f for f in files if all(x.get("apiVersion") != "monitoring.coreos.com/v1" for g, x in docs if g == f)]
with open(os.path.join(tmp, "core-files"), "w") as out:
    out.write("\n".join(os.path.join(d, f) for f in core) + "\n")

for e in errors:
    print(f"check-deploy-kubernetes: {e}", file=sys.stderr)
print(f"structure: {len(docs)} resources in {len(files)} files, "
      f"{len(monitors)} ServiceMonitors checked by hand; Secrets created outside: {', '.join(sorted(external_secrets))}")
sys.exit(1 if errors else 0)
PY

# 1: the schemas (ServiceMonitor files are left to the check above).
if [ -s "$tmp/core-files" ]; then
    mapfile -t core <"$tmp/core-files"
    if kubernetes-validate -k "$k8s_version" --strict --quiet "${core[@]}"; then
        echo "schemas: ${#core[@]} files valid against Kubernetes $k8s_version (kubernetes-validate, strict)"
    else
        fail=1
    fi
fi

# 2: render the kustomization.
if command -v kubectl >/dev/null; then
    if kubectl kustomize "$dir" >"$tmp/rendered.yaml"; then
        # The rendered stream holds the ServiceMonitors too, which
        # kubernetes-validate only warns about (no schema): --no-warn.
        if kubernetes-validate -k "$k8s_version" --strict --quiet --no-warn "$tmp/rendered.yaml"; then
            echo "kustomize: rendered $(grep -c '^kind:' "$tmp/rendered.yaml") resources, valid ($(kubectl version --client 2>/dev/null | grep -i kustomize || echo kubectl kustomize))"
        else
            fail=1
        fi
    else
        echo "check-deploy-kubernetes: kubectl kustomize $dir failed" >&2
        fail=1
    fi
else
    echo "kustomize: kubectl not found, not rendered (the listing was checked above)"
fi

# 4: the plan the proxy would serve.
bin=${STRANGLER_BIN:-}
if [ -z "$bin" ]; then
    for b in "${CARGO_TARGET_DIR:-target}/debug/strangler" "${CARGO_TARGET_DIR:-target}/release/strangler"; do
        if [ -x "$b" ]; then bin=$b; break; fi
    done
fi
shopt -s nullglob
plans=("$tmp"/*.toml)
if [ -n "$bin" ]; then
    for p in "${plans[@]}"; do
        if ! "$bin" plan check "$p" >/dev/null; then
            echo "check-deploy-kubernetes: the plan in ConfigMap $(basename "$p" .toml) does not validate:" >&2
            "$bin" plan check "$p" >&2 || true
            fail=1
        fi
    done
    echo "plan: ${#plans[@]} ConfigMap plan(s) checked with $bin plan check"
else
    echo "plan: no built strangler binary (set STRANGLER_BIN), ConfigMap plans not checked"
fi

if [ "$fail" -ne 0 ]; then
    echo "check-deploy-kubernetes: FAILED" >&2
    exit 1
fi
echo "check-deploy-kubernetes: ok"

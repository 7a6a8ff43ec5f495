#!/usr/bin/env bash
# Makes sure a Vulkan driver is present for the wgpu tests: when no ICD is
# installed (CI has no GPU), installs Mesa's lavapipe (a Vulkan driver on the CPU).
set -euo pipefail
if ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1 >&2

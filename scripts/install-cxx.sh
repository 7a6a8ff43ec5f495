#!/usr/bin/env bash
# Makes sure a C++20 compiler is present for the CUDA emulator checks
# (tools/cuda-emu, built with AddressSanitizer and UBSan): installs g++ (apt)
# when neither $CXX nor g++ is there. A missing compiler fails the test command.
set -euo pipefail
if command -v "${CXX:-g++}" >/dev/null; then
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends g++ >&2

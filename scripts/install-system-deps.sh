#!/usr/bin/env bash
# Installs the Debian packages the project needs when they are missing: Chromium (browser tests)
# and Noto CJK fonts (Chinese labels in charts and PDFs). Needs root or sudo; skips what is present.
# Safe to run twice at once (CI runs two test passes side by side): the second waits for the first.
set -euo pipefail
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
missing() {
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || installed fonts-noto-cjk || need+=(fonts-noto-cjk)
}
missing
[ ${#need[@]} -eq 0 ] && exit 0
exec 9>"${TMPDIR:-/tmp}/povertycloud-system-deps.lock"
flock 9
missing
[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing system packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
fc-cache -f >/dev/null 2>&1 || true

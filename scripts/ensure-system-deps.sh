#!/usr/bin/env bash
# Installs the Debian packages Tousu uses when any is missing:
#   postgresql              the tests start throwaway clusters (not the packaged one)
#   tesseract-ocr (+chi_sim, eng)   OCR for fax and scanned letters (intake)
#   chromium + fonts-wqy-zenhei     browser tests, HTML→PDF documents, CJK glyphs
#   fonts-arphic-gkai00mp, fonts-comic-neue   handwriting-style fonts for the generated
#                           fax corpus (tests fall back to WenQuanYi without them)
# Needs root (as on CI and the dev machines); elsewhere it says what to install
# and the tests that need a missing part skip themselves — except under CI
# (TOUSU_REQUIRE_POSTGRES=1 / CI=true), where they fail.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
[ -e /usr/share/tesseract-ocr/5/tessdata/chi_sim.traineddata ] || missing+=(tesseract-ocr-chi-sim)
[ -e /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] || missing+=(tesseract-ocr-eng)
command -v chromium >/dev/null || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
[ -e /usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf ] || missing+=(fonts-arphic-gkai00mp)
[ -e /usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf ] || missing+=(fonts-comic-neue)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} (Debian packages) …"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start their own throwaway cluster; the packaged one is not needed.
  (service postgresql stop || true) >/dev/null 2>&1
else
  echo "missing system packages: apt-get install ${missing[*]}" >&2
fi

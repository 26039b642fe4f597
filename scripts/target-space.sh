# Sourced by the test and bench scripts: keeps room on the disk that holds
# $CARGO_TARGET_DIR. Incremental-compilation caches only speed up rebuilds
# and grow with every edit (20 GiB after a few sessions here); when the disk
# has less than SPATE_TARGET_FREE_GIB_MIN free they are removed before the
# build, which otherwise fails mid-link with "No space left on device".
target_space_free_gib() {
  df -P -k "$1" 2>/dev/null | awk 'NR == 2 { print int($4 / 1048576) }'
}

target_space_ensure() {
  local dir="$CARGO_TARGET_DIR" min="${SPATE_TARGET_FREE_GIB_MIN:-15}" free
  mkdir -p "$dir"
  # A df that fails (an odd mount) leaves the check out, never the build.
  free="$(target_space_free_gib "$dir" || true)"
  [ -n "$free" ] || return 0
  if [ "$free" -lt "$min" ]; then
    echo "the disk of $dir has ${free} GiB free (under ${min}); removing its incremental-compilation caches" >&2
    rm -rf "$dir"/debug/incremental "$dir"/release/incremental
    free="$(target_space_free_gib "$dir" || true)"
    if [ -n "$free" ] && [ "$free" -lt "$min" ]; then
      echo "warning: still only ${free} GiB free on the disk of $dir; the build may run out of space" >&2
    fi
  fi
}

target_space_ensure

#!/usr/bin/env bash
# Makes the Rust release pinned in rust-toolchain.toml available to rustup without a download.
#
# rustup installs a pinned release it lacks from its own servers, which the project's machines
# cannot reach (only the package registries), while they do have that very release installed
# as `stable`. So when rustup has no toolchain under the pinned name, this links the name to an
# installed toolchain whose rustc is that release. `rustup toolchain link` refuses official
# names such as `1.95.0`, hence a symlink in $RUSTUP_HOME/toolchains, the layout rustup keeps
# its own toolchains in. Does nothing when the name is installed or rustup is absent (cargo is
# then whatever is on PATH). Fails, saying why, when no installed toolchain is that release.
#
# Usage: scripts/toolchain.sh   (every make target that runs cargo runs it first)
set -euo pipefail
cd "$(dirname "$0")/.."

channel=$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' rust-toolchain.toml)
if [ -z "$channel" ]; then
  echo "error: rust-toolchain.toml names no channel" >&2
  exit 1
fi
command -v rustup >/dev/null || exit 0

toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
for dir in "$toolchains"/*/; do
  dir=${dir%/}
  [ -x "$dir/bin/rustc" ] || continue
  # rustc -vV: "release: 1.95.0" and "host: x86_64-unknown-linux-gnu".
  info=$("$dir/bin/rustc" -vV 2>/dev/null) || continue
  host=$(sed -n 's/^host: //p' <<<"$info")
  pinned="$toolchains/$channel-$host"
  if [ -e "$pinned" ] || [ -L "$pinned" ]; then
    # Installed (or linked) already; an install that was cut short leaves a broken one.
    if [ "$("$pinned/bin/rustc" -vV 2>/dev/null | sed -n 's/^release: //p')" = "$channel" ]; then
      exit 0
    fi
    echo "error: $pinned is not a working Rust $channel (an install cut short?); remove it and run this again" >&2
    exit 1
  fi
  if [ "$(sed -n 's/^release: //p' <<<"$info")" = "$channel" ]; then
    ln -s "$dir" "$pinned"
    echo "rust-toolchain.toml pins Rust $channel: linked $(basename "$pinned") to the installed $(basename "$dir")"
    exit 0
  fi
done
echo "error: rust-toolchain.toml pins Rust $channel, and no installed toolchain is that release." >&2
echo "  With access to rustup's servers: rustup toolchain install $channel" >&2
exit 1

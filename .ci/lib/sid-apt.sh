# shellcheck shell=bash
# Sourced by .ci/fetch-httplib and .ci/fetch-llhttp: a private apt configuration that reads
# Debian sid's index into DIR, leaving the system's apt settings and sources untouched.
#   sid_apt_setup DIR KIND   (KIND: deb-src for source packages, deb for binary ones)
# Exports APT_CONFIG; the caller checks what it downloads against its own pin file.
sid_apt_setup() {
  local apt_dir=$1 kind=$2
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/src"
  echo "$kind [signed-by=$keyring] http://deb.debian.org/debian sid main" >"$apt_dir/sources.list"
  cat >"$apt_dir/apt.conf" <<CONF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/none";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
APT::Sandbox::User "root";
// What is downloaded is checked against a pinned SHA-256; a Release file past its
// Valid-Until (a machine clock ahead of the mirror, as in image builds) is not a reason to
// fail.
Acquire::Check-Valid-Until "false";
CONF
  export APT_CONFIG="$apt_dir/apt.conf"
  apt-get update -qq >"$apt_dir/update.log" 2>&1 || { cat "$apt_dir/update.log" >&2; return 1; }
}

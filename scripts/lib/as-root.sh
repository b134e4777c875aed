# Sourced by scripts/lab-setup.sh and scripts/test.sh: run the rest of the script as root.
#   ensure_root NAME KEEP_ENV SCRIPT [ARGS...]
# As root: returns and the script proceeds (a fresh Debian machine has no sudo, and needs none).
# Not root, sudo installed: re-runs `sh SCRIPT ARGS...` through sudo, keeping the environment
# variables named in KEEP_ENV (comma-separated). Neither: says what to do and exits 1.
ensure_root() {
  _er_name=$1 _er_keep=$2 _er_script=$3
  shift 3
  [ "$(id -u)" = 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    printf '%s: not root: re-running through sudo\n' "$_er_name" >&2
    exec sudo --preserve-env="$_er_keep" sh "$_er_script" "$@"
  fi
  printf '%s: error: must run as root (the LXC containers are privileged) and sudo is not installed: log in as root (or `su -`) and run it again, or install sudo\n' \
    "$_er_name" >&2
  exit 1
}

# shellcheck shell=bash
# Shared set-up for scripts/up and scripts/test: sourced, not run.
#
# Installs only what is missing (apt packages, the venv, npm assets), brings up a PostgreSQL
# cluster with PostGIS (or uses GEOGRID_DATABASE_URL), and creates a database with the
# extensions. Every step checks before it acts, so a second run takes seconds.

set -euo pipefail

GEOGRID_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$GEOGRID_ROOT/.state"
VENV="$GEOGRID_ROOT/.venv"
PG_VERSION_DEFAULT=15
DB_ROLE=geogrid
DB_PASSWORD=geogrid

mkdir -p "$STATE_DIR"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

pg_major() {
  # The PostgreSQL major version installed (Debian 12 ships 15), or the default to install.
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1 || true)
  echo "${v:-$PG_VERSION_DEFAULT}"
}

apt_install() {
  # apt_install PKG...: installs those not yet installed, with one 'apt-get update'.
  local missing=() p
  for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  if [ ! -f "$STATE_DIR/apt-updated" ] || [ -n "$(find "$STATE_DIR/apt-updated" -mmin +720 2>/dev/null)" ]; then
    "${SUDO[@]}" apt-get update -qq
    touch "$STATE_DIR/apt-updated"
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_system_packages() {
  # $1 = "serve" or "test": tests also need Chromium, GDAL's command-line tools and wrk
  # (tests/test_locate_bench.py runs bench/locate.py, which loads the server with wrk).
  local purpose="${1:-serve}" pkgs=(ca-certificates)
  command -v python3 >/dev/null || pkgs+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
  if [ -z "${GEOGRID_DATABASE_URL:-}" ]; then
    local v; v=$(pg_major)
    pkgs+=("postgresql-$v" "postgresql-$v-postgis-3" postgresql-client-common postgresql-common)
  fi
  if [ "$purpose" = test ]; then pkgs+=(chromium fonts-wqy-microhei gdal-bin wrk); fi
  apt_install "${pkgs[@]}"
  python3 - <<'PY' || die "geogrid needs Python >= 3.11 (found $(python3 --version))"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
}

stamp_matches() { [ -f "$STATE_DIR/$1" ] && [ "$(cat "$STATE_DIR/$1")" = "$2" ]; }

ensure_venv() {
  # $1 = "serve" (the package and what it imports) or "test" (also the dev extra: pytest,
  # esda, Playwright, linters...). A venv set up for tests serves too.
  local purpose="${1:-serve}" want stamp extras=""
  want=$(cat "$GEOGRID_ROOT/pyproject.toml" "$GEOGRID_ROOT/constraints.txt" | sha256sum | cut -c1-16)
  stamp=$(cat "$STATE_DIR/venv" 2>/dev/null || true)
  if [ -x "$VENV/bin/python" ]; then
    [ "$stamp" = "$want test" ] && return 0
    [ "$purpose" = serve ] && [ "$stamp" = "$want serve" ] && return 0
  fi
  [ "$purpose" = test ] && extras="[dev]"
  say "creating the Python environment in .venv for $purpose (pinned by constraints.txt)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q -c "$GEOGRID_ROOT/constraints.txt" -e "$GEOGRID_ROOT$extras" >&2
  echo "$want $purpose" > "$STATE_DIR/venv"
}

ensure_assets() {
  # Leaflet, jQuery, Bootstrap, Font Awesome... from the npm registry, served under /static.
  local want
  want=$(sha256sum "$GEOGRID_ROOT/package-lock.json" | cut -c1-16)
  if [ -d "$GEOGRID_ROOT/node_modules" ] && stamp_matches npm "$want"; then return 0; fi
  say "installing map assets from the npm registry (npm ci)"
  (cd "$GEOGRID_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$STATE_DIR/npm"
}

as_postgres() {
  # Run a command as the 'postgres' OS user: PostgreSQL refuses to run its server as root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres -- "$@"; fi
}

cluster_port() {
  local v; v=$(pg_major)
  pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="main" {print $3}' | head -n 1
}

ensure_cluster() {
  # Start (or create) the Debian cluster '<major> main'. Works when one already runs.
  local v port
  v=$(pg_major)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$v main"; then
    say "creating PostgreSQL cluster $v/main"
    "${SUDO[@]}" pg_createcluster "$v" main >&2
  fi
  port=$(cluster_port)
  if ! pg_lsclusters -h | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online; then
    say "starting PostgreSQL $v/main on port $port"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$v" main start >&2 \
      || "${SUDO[@]}" pg_ctlcluster "$v" main start >&2
  fi
  local i
  for i in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && return 0
    sleep 0.5
  done
  die "PostgreSQL $v/main did not accept connections on 127.0.0.1:$port (see /var/log/postgresql/)"
}

superuser_psql() {
  # psql as the cluster superuser over the local socket (peer auth, Debian's default),
  # falling back to TCP as 'postgres' where the server trusts it.
  local port; port=$(cluster_port)
  if as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@"
  else
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
  fi
}

ensure_database() {
  # ensure_database NAME [fresh]: role 'geogrid' owning database NAME with PostGIS; prints its URL.
  local db="$1" fresh="${2:-}" port
  port=$(cluster_port)
  if [ "$(superuser_psql -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='$DB_ROLE'")" != 1 ]; then
    superuser_psql -d postgres -c "CREATE ROLE $DB_ROLE LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
  fi
  if [ "$fresh" = fresh ]; then
    superuser_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  fi
  if [ "$(superuser_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
    say "creating database $db"
    superuser_psql -d postgres -c "CREATE DATABASE $db OWNER $DB_ROLE ENCODING 'UTF8' TEMPLATE template0"
  fi
  superuser_psql -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis" >&2 \
    || die "could not create the PostGIS extension in $db: is postgresql-$(pg_major)-postgis-3 installed?"
  echo "postgresql+psycopg://$DB_ROLE:$DB_PASSWORD@127.0.0.1:$port/$db"
}

ensure_postgis_template() {
  # A template database with PostGIS that the CREATEDB role can clone (tests need fresh
  # databases; only a superuser may install PostGIS in them).
  local name="${1:-geogrid_template_postgis}"
  if [ "$(superuser_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$name'")" != 1 ]; then
    superuser_psql -d postgres -c "CREATE DATABASE $name OWNER $DB_ROLE ENCODING 'UTF8' TEMPLATE template0"
    superuser_psql -d "$name" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis" >&2
    superuser_psql -d postgres -c "ALTER DATABASE $name IS_TEMPLATE true"
  fi
}

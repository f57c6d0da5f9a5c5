# shellcheck shell=bash
# Shared set-up for scripts/up and scripts/test: sourced, not run.
#
# Installs only what is missing (apt packages, the venv, npm assets), brings up a PostgreSQL
# cluster with PostGIS (or uses GEOGRID_DATABASE_URL), creates the two geogrid roles and a
# database with the extensions. Every step checks before it acts, so a second run takes seconds.
#
# Roles: 'geogrid_owner' owns the databases, the schema and the tables (migrations, the demo
# load); 'geogrid', the application's, owns nothing, may not create databases or roles, and
# gets plain DML on the tables from the owner (geogrid/storage/roles.py). Their passwords are
# generated once per cluster, kept by the cluster's postgres user beside its configuration
# (so every checkout on the machine shares them), and copied into the settings file that
# `geogrid` reads (.geogrid/geogrid.env, mode 0600). pg_hba.conf gets scram-sha-256 lines for
# the two roles before its own lines; nothing else in it changes.
#
# Overrides (defaults in brackets): GEOGRID_PG_CLUSTER [main], the Debian cluster to use or
# create; GEOGRID_PG_PORT, the port of a cluster created here [pg_createcluster's choice];
# GEOGRID_DATABASE_NAME [geogrid] and GEOGRID_TEST_DATABASE_NAME [geogrid_test];
# GEOGRID_ENV_FILE [.geogrid/geogrid.env], the settings file.

set -euo pipefail

GEOGRID_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$GEOGRID_ROOT/.state"
VENV="$GEOGRID_ROOT/.venv"
PG_VERSION_DEFAULT=15
PG_CLUSTER="${GEOGRID_PG_CLUSTER:-main}"
DB_ROLE=geogrid         # the application's role: DML only
DB_OWNER=geogrid_owner  # owns the databases, schema and tables
DB_NAME="${GEOGRID_DATABASE_NAME:-geogrid}"
TEST_DB_NAME="${GEOGRID_TEST_DATABASE_NAME:-geogrid_test}"
SETTINGS_FILE="${GEOGRID_ENV_FILE:-$GEOGRID_ROOT/.geogrid/geogrid.env}"

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
  pg_lsclusters -h 2>/dev/null | awk -v v="$v" -v c="$PG_CLUSTER" '$1==v && $2==c {print $3}' | head -n 1
}

ensure_cluster() {
  # Start (or create) the Debian cluster '<major> main' (GEOGRID_PG_CLUSTER). Works when one
  # already runs.
  local v port
  v=$(pg_major)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$v $PG_CLUSTER"; then
    say "creating PostgreSQL cluster $v/$PG_CLUSTER"
    "${SUDO[@]}" pg_createcluster ${GEOGRID_PG_PORT:+--port "$GEOGRID_PG_PORT"} "$v" "$PG_CLUSTER" >&2
  fi
  port=$(cluster_port)
  if ! pg_lsclusters -h | awk -v v="$v" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}' | grep -q online; then
    say "starting PostgreSQL $v/$PG_CLUSTER on port $port"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$v" "$PG_CLUSTER" start >&2 \
      || "${SUDO[@]}" pg_ctlcluster "$v" "$PG_CLUSTER" start >&2
  fi
  local i
  for i in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && return 0
    sleep 0.5
  done
  die "PostgreSQL $v/$PG_CLUSTER did not accept connections on 127.0.0.1:$port (see /var/log/postgresql/)"
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

new_password() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }

scram_verifier() {
  # scram_verifier < PASSWORD: what PostgreSQL stores for a scram-sha-256 password (RFC 5802
  # and 7677, as psql's \password computes it), so that the password itself never reaches the
  # server, nor its log.
  python3 -c '
import base64, hashlib, hmac, os, sys
password, salt, rounds = sys.stdin.read().strip().encode(), os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password, salt, rounds)
client = hmac.new(salted, b"Client Key", "sha256").digest()
server = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda raw: base64.b64encode(raw).decode()
print(f"SCRAM-SHA-256${rounds}:{b64(salt)}${b64(hashlib.sha256(client).digest())}:{b64(server)}")'
}

role_password() {
  # role_password ROLE: its password from the cluster's password file ('' when none yet).
  as_postgres cat "$PASSWORD_FILE" 2>/dev/null | sed -n "s/^$1=//p" | head -n 1 || true
}

ensure_roles() {
  # The owner and application roles with their attributes and generated passwords (SCRAM),
  # and pg_hba.conf lines that make them sign in with those passwords. Sets APP_PASSWORD and
  # OWNER_PASSWORD.
  local conf role
  conf=$(superuser_psql -d postgres -tAc 'SHOW config_file')
  # Kept by the postgres user beside the cluster's configuration, readable by it alone: one
  # password per role and cluster, which every checkout and both commands share (a new one
  # each time would lock the others out). pg_dropcluster leaves the file: a cluster made again
  # under the same name gets the same passwords, and the checkouts' settings files stay right.
  PASSWORD_FILE="$(dirname "$conf")/geogrid-passwords"
  for role in "$DB_OWNER" "$DB_ROLE"; do
    if [ -z "$(role_password "$role")" ]; then
      say "generating the password of the database role $role"
      printf '%s=%s\n' "$role" "$(new_password)" \
        | as_postgres sh -c 'umask 077; cat >> "$1"' sh "$PASSWORD_FILE"
    fi
  done
  OWNER_PASSWORD=$(role_password "$DB_OWNER")
  APP_PASSWORD=$(role_password "$DB_ROLE")
  [ -n "$OWNER_PASSWORD" ] && [ -n "$APP_PASSWORD" ] || die "could not read $PASSWORD_FILE"
  # Set again on every run (the same password: other checkouts' connections keep working), as
  # SCRAM verifiers through stdin: no password on a command line (ps) or in the server's log.
  local owner_verifier app_verifier
  owner_verifier=$(scram_verifier <<<"$OWNER_PASSWORD")
  app_verifier=$(scram_verifier <<<"$APP_PASSWORD")
  superuser_psql -d postgres >/dev/null <<SQL
SET client_min_messages = warning;
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY['$DB_OWNER', '$DB_ROLE']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE $DB_OWNER LOGIN CREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS
  PASSWORD '$owner_verifier';
ALTER ROLE $DB_ROLE LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS
  PASSWORD '$app_verifier';
-- the application may not act as the owner; the owner may end the application's sessions
-- (DROP DATABASE ... WITH (FORCE) of a database it owns)
SELECT format('REVOKE %I FROM %I', '$DB_OWNER', '$DB_ROLE')
WHERE pg_has_role('$DB_ROLE', '$DB_OWNER', 'MEMBER') \gexec
GRANT $DB_ROLE TO $DB_OWNER;
SQL
  ensure_hba
}

HBA_MARK="# geogrid (scripts/provision.sh): its roles sign in with their password (SCRAM)"

ensure_hba() {
  # Lines for the two roles before the file's own (the first matching line decides), for the
  # local socket and TCP on the loopback: scram-sha-256. Other lines, the postgres superuser's
  # included, stay as they are, so other tools on the machine keep working.
  local hba rules new errors
  hba=$(superuser_psql -d postgres -tAc 'SHOW hba_file')
  as_postgres grep -qxF "$HBA_MARK" "$hba" && return 0
  say "pg_hba.conf: the roles $DB_OWNER and $DB_ROLE sign in with scram-sha-256"
  rules=$(printf '%s\n' "$HBA_MARK" \
    "local   all   $DB_ROLE,$DB_OWNER                    scram-sha-256" \
    "host    all   $DB_ROLE,$DB_OWNER   127.0.0.1/32     scram-sha-256" \
    "host    all   $DB_ROLE,$DB_OWNER   ::1/128          scram-sha-256")
  as_postgres sh -c '[ -e "$1.before-geogrid" ] || cp -p "$1" "$1.before-geogrid"' sh "$hba"
  # before the first line that is neither blank nor a comment
  new=$(as_postgres env GEOGRID_HBA_RULES="$rules" awk '
    !done && $0 !~ /^[[:space:]]*(#|$)/ { print ENVIRON["GEOGRID_HBA_RULES"]; print ""; done = 1 }
    { print }
    END { if (!done) print ENVIRON["GEOGRID_HBA_RULES"] }' "$hba")
  printf '%s\n' "$new" | as_postgres sh -c 'cat > "$1"' sh "$hba"
  superuser_psql -d postgres -tAc 'SELECT pg_reload_conf()' >/dev/null
  errors=$(superuser_psql -d postgres -tAc 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL')
  [ "$errors" = 0 ] || die "$hba has errors now (the previous version is $hba.before-geogrid)"
}

database_url() {
  # database_url ROLE DB: the SQLAlchemy URL of DB as ROLE, with its password.
  local password="$APP_PASSWORD"
  [ "$1" = "$DB_OWNER" ] && password="$OWNER_PASSWORD"
  echo "postgresql+psycopg://$1:$password@127.0.0.1:$(cluster_port)/$2"
}

ensure_database() {
  # ensure_database NAME [fresh]: database NAME owned by the owner role, with PostGIS.
  local db="$1" fresh="${2:-}"
  if [ "$fresh" = fresh ]; then
    superuser_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  fi
  if [ "$(superuser_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
    say "creating database $db"
    superuser_psql -d postgres -c "CREATE DATABASE $db OWNER $DB_OWNER ENCODING 'UTF8' TEMPLATE template0"
  fi
  superuser_psql -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis" >&2 \
    || die "could not create the PostGIS extension in $db: is postgresql-$(pg_major)-postgis-3 installed?"
  give_to_owner "$db"
}

give_to_owner() {
  # give_to_owner DB: a database set up before the owner role existed (the application role
  # owned it and its tables) passes to the owner, the database and what the application role
  # owns in its schema. Only the owner creates in the schema (PostgreSQL 15 made that the
  # default; older clusters let everybody).
  local db="$1"
  superuser_psql -d "$db" >/dev/null <<SQL
SET client_min_messages = warning;
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), '$DB_OWNER')
FROM pg_database WHERE datname = current_database() AND datdba <> '$DB_OWNER'::regrole \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO \$\$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS name, CASE c.relkind WHEN 'v' THEN 'VIEW'
      WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relowner = '$DB_ROLE'::regrole
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  LOOP  -- a table takes its indexes and the sequences of its columns along
    EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.name, '$DB_OWNER');
  END LOOP;
  FOR r IN
    SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relowner = '$DB_ROLE'::regrole AND c.relkind = 'S'
  LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.name, '$DB_OWNER');
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proowner = '$DB_ROLE'::regrole
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, '$DB_OWNER');
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typowner = '$DB_ROLE'::regrole AND t.typtype IN ('e', 'd', 'r')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.name, '$DB_OWNER');
  END LOOP;
END
\$\$;
SQL
}

ensure_postgis_template() {
  # A template database with PostGIS that the owner role (CREATEDB) clones: tests need fresh
  # databases, and only a superuser may install PostGIS in them. Once it exists, nothing
  # connects to it here: a connection would make another test run's clone of it fail.
  local name="${1:-geogrid_template_postgis}" owner
  owner=$(superuser_psql -d postgres -tAc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname='$name'")
  if [ -z "$owner" ]; then
    superuser_psql -d postgres -c "CREATE DATABASE $name OWNER $DB_OWNER ENCODING 'UTF8' TEMPLATE template0"
    superuser_psql -d "$name" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis; REVOKE CREATE ON SCHEMA public FROM PUBLIC" >&2
    superuser_psql -d postgres -c "ALTER DATABASE $name IS_TEMPLATE true"
  elif [ "$owner" != "$DB_OWNER" ]; then  # made before the owner role existed
    superuser_psql -d postgres -c "ALTER DATABASE $name OWNER TO $DB_OWNER"
  fi
}

write_settings() {
  # write_settings FILE KEY=VALUE...: set those keys in FILE (the settings file `geogrid`
  # reads), keeping its other lines; created once, rewritten only when a value changes, always
  # mode 0600 in a directory of mode 0700. Values travel in the environment, never in argv.
  local file="$1" dir new
  shift
  dir=$(dirname "$file")
  mkdir -p "$dir"
  chmod 700 "$dir"
  new=$(GEOGRID_SETTINGS_LINES=$(printf '%s\n' "$@") awk '
    BEGIN {
      n = split(ENVIRON["GEOGRID_SETTINGS_LINES"], want, "\n")
      for (i = 1; i <= n; i++) { k = want[i]; sub(/=.*/, "", k); key[k] = want[i]; order[i] = k }
    }
    { k = $0; sub(/=.*/, "", k) }
    (k in key) { if (!(k in done)) print key[k]; done[k] = 1; next }
    { print }
    END { for (i = 1; i <= n; i++) if (!(order[i] in done)) print key[order[i]] }
  ' "$([ -f "$file" ] && echo "$file" || echo /dev/null)")
  if [ ! -f "$file" ] || [ "$(cat "$file")" != "$new" ]; then
    [ -f "$file" ] || say "writing the settings file $file (mode 0600: the database passwords)"
    (umask 077 && printf '%s\n' "$new" > "$file.new" && mv "$file.new" "$file")
  fi
  chmod 600 "$file"
}

ensure_settings_file() {
  # ensure_settings_file DB: the settings file names DB as the application role and as the owner.
  write_settings "$SETTINGS_FILE" \
    "# geogrid's settings (GEOGRID_* variables override them). scripts/up wrote the database lines." \
    "GEOGRID_DATABASE_URL=$(database_url "$DB_ROLE" "$1")" \
    "GEOGRID_DATABASE_OWNER_URL=$(database_url "$DB_OWNER" "$1")"
}

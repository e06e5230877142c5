#!/bin/bash
# Entrypoint of the lab's PostgreSQL 15 image (lab/images/postgresql.yaml), the part of the official image's
# docker-entrypoint.sh that roles/postgresql's StatefulSet relies on:
#   * arguments that start with "-" are postgres's (`args: [-c, config_file=…, -c, hba_file=…]`);
#   * an empty $PGDATA is initialised: initdb as the postgres superuser with the password of
#     $POSTGRES_PASSWORD_FILE (or $POSTGRES_PASSWORD) and $POSTGRES_INITDB_ARGS, then a server on the Unix socket
#     only (with the same arguments, so the mounted postgresql.conf and pg_hba.conf apply) runs the scripts of
#     /docker-entrypoint-initdb.d (*.sh executed when executable, sourced otherwise; *.sql through psql), and stops;
#   * then postgres runs in the foreground as PID 1's replacement.
# It runs as the uid the pod gives (999, the postgres user here as in the official image); as root it drops to it.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

mkdir -p "$PGDATA"
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
		POSTGRES_PASSWORD="$(< "$POSTGRES_PASSWORD_FILE")"
	fi
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "docker-entrypoint: the data directory is empty and no superuser password is given" \
			"(POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD)" >&2
		exit 1
	fi
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
	initdb --username=postgres --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") ${POSTGRES_INITDB_ARGS:-}
	unset POSTGRES_PASSWORD

	# the temporary server: the container's arguments, no TCP listener
	shift
	pg_ctl -D "$PGDATA" -w start -o "$(printf '%q ' "$@" -c listen_addresses='')"
	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					echo "docker-entrypoint: running $f"
					"$f"
				else
					echo "docker-entrypoint: sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi
				;;
			*.sql)
				echo "docker-entrypoint: running $f"
				psql -v ON_ERROR_STOP=1 --username postgres --no-password --dbname postgres -f "$f"
				;;
			*) echo "docker-entrypoint: ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop
	set -- postgres "$@"
	echo "docker-entrypoint: PostgreSQL initialised; starting"
fi

exec "$@"

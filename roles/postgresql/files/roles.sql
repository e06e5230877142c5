-- Create or correct one instance's owner, application and reporting roles, in one transaction (run by
-- community.postgresql.postgresql_query as the server's admin, after the governed_odoo.* settings of the
-- transaction were set from the task's named arguments). Every statement runs only when the catalog differs,
-- and is recorded in governed_odoo.changes (a JSON array read back by the task: empty means nothing changed);
-- governed_odoo.created lists the roles it created. Names and passwords are quoted with quote_ident and
-- quote_literal, never pasted into the text. No percent sign in this file: the module formats it with psycopg.
DO $governed_odoo$
DECLARE
  v_owner text := current_setting('governed_odoo.owner');
  v_app text := current_setting('governed_odoo.app');
  v_reporting text := current_setting('governed_odoo.reporting');
  v_flags text := ' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
  v_changes text[] := ARRAY[]::text[];
  v_created text[] := ARRAY[]::text[];
  v_login record;
  v_role record;
BEGIN
  -- The owner: NOLOGIN, not a superuser, no CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS.
  SELECT * INTO v_role FROM pg_catalog.pg_roles WHERE rolname = v_owner;
  IF NOT FOUND THEN
    EXECUTE 'CREATE ROLE ' || quote_ident(v_owner) || ' NOLOGIN' || v_flags;
    v_changes := v_changes || ('create role ' || v_owner || ' (NOLOGIN' || v_flags || ')');
    v_created := v_created || v_owner;
  ELSIF v_role.rolcanlogin OR v_role.rolsuper OR v_role.rolcreatedb OR v_role.rolcreaterole OR v_role.rolreplication
        OR v_role.rolbypassrls THEN
    EXECUTE 'ALTER ROLE ' || quote_ident(v_owner) || ' NOLOGIN' || v_flags;
    v_changes := v_changes || ('alter role ' || v_owner || ' NOLOGIN' || v_flags);
  END IF;

  -- The login roles: attributes, connection limit, exactly one database-independent setting, and the password
  -- when the role is created (an existing role's password is compared by postgresql_user, which can).
  FOR v_login IN
    SELECT * FROM (VALUES
      (v_app, 'governed_odoo.app_password', current_setting('governed_odoo.app_connection_limit')::int,
       'role', v_owner),
      (v_reporting, 'governed_odoo.reporting_password', current_setting('governed_odoo.reporting_connection_limit')::int,
       'default_transaction_read_only', 'on')
    ) AS l (name, password_setting, conn_limit, setting, value)
  LOOP
    SELECT * INTO v_role FROM pg_catalog.pg_roles WHERE rolname = v_login.name;
    IF NOT FOUND THEN
      EXECUTE 'CREATE ROLE ' || quote_ident(v_login.name) || ' LOGIN' || v_flags
        || ' CONNECTION LIMIT ' || v_login.conn_limit;
      BEGIN
        EXECUTE 'ALTER ROLE ' || quote_ident(v_login.name) || ' PASSWORD '
          || quote_literal(current_setting(v_login.password_setting));
      EXCEPTION WHEN OTHERS THEN
        -- re-raised without the statement, which holds the password
        RAISE EXCEPTION USING MESSAGE = 'could not set the password of role ' || v_login.name || ': ' || SQLERRM;
      END;
      v_changes := v_changes || ('create role ' || v_login.name || ' (LOGIN' || v_flags || ' CONNECTION LIMIT '
        || v_login.conn_limit || ' PASSWORD)');
      v_created := v_created || v_login.name;
    ELSE
      IF NOT v_role.rolcanlogin OR v_role.rolsuper OR v_role.rolcreatedb OR v_role.rolcreaterole
         OR v_role.rolreplication OR v_role.rolbypassrls THEN
        EXECUTE 'ALTER ROLE ' || quote_ident(v_login.name) || ' LOGIN' || v_flags;
        v_changes := v_changes || ('alter role ' || v_login.name || ' LOGIN' || v_flags);
      END IF;
      IF v_role.rolconnlimit <> v_login.conn_limit THEN
        EXECUTE 'ALTER ROLE ' || quote_ident(v_login.name) || ' CONNECTION LIMIT ' || v_login.conn_limit;
        v_changes := v_changes || ('alter role ' || v_login.name || ' CONNECTION LIMIT ' || v_login.conn_limit
          || ' (was ' || v_role.rolconnlimit || ')');
      END IF;
    END IF;
    IF coalesce(v_role.rolconfig, ARRAY[]::text[]) IS DISTINCT FROM ARRAY[v_login.setting || '=' || v_login.value] THEN
      IF v_role.rolconfig IS NOT NULL THEN
        EXECUTE 'ALTER ROLE ' || quote_ident(v_login.name) || ' RESET ALL';
      END IF;
      EXECUTE 'ALTER ROLE ' || quote_ident(v_login.name) || ' SET ' || quote_ident(v_login.setting) || ' = '
        || quote_literal(v_login.value);
      v_changes := v_changes || ('alter role ' || v_login.name || ' SET ' || v_login.setting || ' = ' || v_login.value
        || coalesce(' (was ' || array_to_string(v_role.rolconfig, ', ') || ')', ''));
    END IF;
  END LOOP;

  -- The application role is a member of the owner role (its sessions SET ROLE to it).
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                 WHERE m.roleid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = v_owner)
                   AND m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = v_app)) THEN
    EXECUTE 'GRANT ' || quote_ident(v_owner) || ' TO ' || quote_ident(v_app);
    v_changes := v_changes || ('grant ' || v_owner || ' to ' || v_app);
  END IF;

  PERFORM set_config('governed_odoo.changes', to_jsonb(v_changes)::text, true);
  PERFORM set_config('governed_odoo.created', to_jsonb(v_created)::text, true);
END
$governed_odoo$

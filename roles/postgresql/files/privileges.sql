-- Scope access to one instance's database, in one transaction in that database (run by
-- community.postgresql.postgresql_query as the server's admin, after the governed_odoo.* settings of the
-- transaction were set from the task's named arguments). Every GRANT or REVOKE runs only when the catalog
-- differs, and is recorded in governed_odoo.changes (a JSON array read back by the task: empty means nothing
-- changed). No percent sign in this file: the module formats it with psycopg.
--
-- The database ACL ends up exactly: owner CREATE, TEMPORARY, CONNECT; application role TEMPORARY, CONNECT;
-- reporting role CONNECT; PUBLIC nothing. On schema public PUBLIC has no CREATE and the reporting role has
-- USAGE; the reporting role may SELECT every table, view and materialized view in it, and the tables the owner
-- creates later (default privileges).
DO $governed_odoo$
DECLARE
  v_owner text := current_setting('governed_odoo.owner');
  v_app text := current_setting('governed_odoo.app');
  v_reporting text := current_setting('governed_odoo.reporting');
  v_owner_oid oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = v_owner);
  v_reporting_oid oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = v_reporting);
  v_db text := current_database();
  v_changes text[] := ARRAY[]::text[];
  v_grantee record;
  v_have text[];
  v_extra text[];
  v_missing text[];
  v_tables text[];
BEGIN
  IF v_owner_oid IS NULL OR v_reporting_oid IS NULL
     OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_app) THEN
    RAISE EXCEPTION USING MESSAGE = 'the roles ' || v_owner || ', ' || v_app || ' and ' || v_reporting
      || ' must exist before the privileges on database ' || v_db || ' are set';
  END IF;

  -- Database privileges, per grantee: revoke what is not declared, grant what is missing.
  FOR v_grantee IN
    SELECT * FROM (VALUES
      ('PUBLIC', 0::oid, ARRAY[]::text[]),
      (quote_ident(v_owner), v_owner_oid, ARRAY['CONNECT', 'CREATE', 'TEMPORARY']),
      (quote_ident(v_app), (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = v_app), ARRAY['CONNECT', 'TEMPORARY']),
      (quote_ident(v_reporting), v_reporting_oid, ARRAY['CONNECT'])
    ) AS g (name, role_oid, privs)
  LOOP
    SELECT coalesce(array_agg(DISTINCT a.privilege_type ORDER BY a.privilege_type), ARRAY[]::text[]),
           coalesce(array_agg(DISTINCT a.privilege_type ORDER BY a.privilege_type) FILTER (WHERE a.is_grantable),
                    ARRAY[]::text[])
      INTO v_have, v_extra
      FROM pg_catalog.pg_database d,
           LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
     WHERE d.datname = v_db AND a.grantee = v_grantee.role_oid;
    IF v_extra <> ARRAY[]::text[] AND v_grantee.role_oid <> v_owner_oid THEN
      EXECUTE 'REVOKE GRANT OPTION FOR ALL ON DATABASE ' || quote_ident(v_db) || ' FROM ' || v_grantee.name || ' CASCADE';
      v_changes := v_changes || ('revoke grant option for all on database ' || v_db || ' from ' || v_grantee.name);
    END IF;
    v_extra := ARRAY(SELECT unnest(v_have) EXCEPT SELECT unnest(v_grantee.privs) ORDER BY 1);
    v_missing := ARRAY(SELECT unnest(v_grantee.privs) EXCEPT SELECT unnest(v_have) ORDER BY 1);
    IF v_extra <> ARRAY[]::text[] THEN
      EXECUTE 'REVOKE ' || array_to_string(v_extra, ', ') || ' ON DATABASE ' || quote_ident(v_db)
        || ' FROM ' || v_grantee.name || ' CASCADE';
      v_changes := v_changes || ('revoke ' || array_to_string(v_extra, ', ') || ' on database ' || v_db
        || ' from ' || v_grantee.name);
    END IF;
    IF v_missing <> ARRAY[]::text[] THEN
      EXECUTE 'GRANT ' || array_to_string(v_missing, ', ') || ' ON DATABASE ' || quote_ident(v_db)
        || ' TO ' || v_grantee.name;
      v_changes := v_changes || ('grant ' || array_to_string(v_missing, ', ') || ' on database ' || v_db
        || ' to ' || v_grantee.name);
    END IF;
  END LOOP;

  -- Schema public: no CREATE for PUBLIC, USAGE for the reporting role (granted to it, not only through PUBLIC).
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
             WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE') THEN
    EXECUTE 'REVOKE CREATE ON SCHEMA public FROM PUBLIC';
    v_changes := v_changes || 'revoke create on schema public from PUBLIC'::text;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                 WHERE n.nspname = 'public' AND a.grantee = v_reporting_oid AND a.privilege_type = 'USAGE') THEN
    EXECUTE 'GRANT USAGE ON SCHEMA public TO ' || quote_ident(v_reporting);
    v_changes := v_changes || ('grant usage on schema public to ' || v_reporting);
  END IF;

  -- Tables the owner creates in schema public later: SELECT for the reporting role.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl d JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
                 WHERE n.nspname = 'public' AND d.defaclobjtype = 'r' AND d.defaclrole = v_owner_oid
                   AND aclcontains(d.defaclacl, makeaclitem(v_reporting_oid, v_owner_oid, 'SELECT', false))) THEN
    EXECUTE 'ALTER DEFAULT PRIVILEGES FOR ROLE ' || quote_ident(v_owner) || ' IN SCHEMA public GRANT SELECT ON TABLES TO '
      || quote_ident(v_reporting);
    v_changes := v_changes || ('alter default privileges for role ' || v_owner
      || ' in schema public grant select on tables to ' || v_reporting);
  END IF;

  -- Tables, views and materialized views that exist in schema public: SELECT for the reporting role.
  v_tables := ARRAY(
    SELECT quote_ident(c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
       AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                       WHERE a.grantee = v_reporting_oid AND a.privilege_type = 'SELECT')
     ORDER BY 1);
  IF v_tables <> ARRAY[]::text[] THEN
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO ' || quote_ident(v_reporting);
    v_changes := v_changes || ('grant select on all tables in schema public to ' || v_reporting || ' ('
      || cardinality(v_tables) || ' without it: ' || array_to_string(v_tables[1:5], ', ')
      || CASE WHEN cardinality(v_tables) > 5 THEN ', ...' ELSE '' END || ')');
  END IF;

  PERFORM set_config('governed_odoo.changes', to_jsonb(v_changes)::text, true);
END
$governed_odoo$

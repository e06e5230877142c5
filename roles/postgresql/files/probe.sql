-- State of one instance's database and roles, readable by the instance's own login roles (pg_catalog only).
SELECT
  (SELECT row_to_json(o) FROM (SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication,
          rolbypassrls, rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %(owner)s) o) AS owner,
  (SELECT row_to_json(a) FROM (SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication,
          rolbypassrls, rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %(app)s) a) AS app,
  (SELECT row_to_json(r) FROM (SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication,
          rolbypassrls, rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %(reporting)s) r) AS reporting,
  pg_has_role(%(app)s, %(owner)s, 'MEMBER') AS app_member,
  (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS db_owner,
  (SELECT datacl::text[] FROM pg_database WHERE datname = current_database()) AS db_acl,
  has_schema_privilege('public', 'public', 'CREATE') AS public_creates_in_schema,
  has_schema_privilege(%(reporting)s, 'public', 'USAGE') AS reporting_uses_schema,
  EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
          WHERE n.nspname = 'public' AND d.defaclobjtype = 'r' AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %(owner)s)
            AND aclcontains(d.defaclacl, makeaclitem((SELECT oid FROM pg_roles WHERE rolname = %(reporting)s),
                                                      d.defaclrole, 'SELECT', false))) AS reporting_default_select,
  COALESCE((SELECT bool_and(has_table_privilege(%(reporting)s, c.oid, 'SELECT')) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')),
           true) AS reporting_reads_all

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects USING (org_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE projects ALTER COLUMN budget SET NOT NULL;

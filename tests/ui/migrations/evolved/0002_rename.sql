ALTER TABLE projects RENAME COLUMN title TO name;
ALTER TABLE projects ADD COLUMN budget bigint;
ALTER TABLE projects DROP COLUMN legacy;
ALTER TABLE projects ADD COLUMN deleted_at timestamptz;
CREATE TABLE tasks (
    id uuid NOT NULL, org_id uuid NOT NULL, project_id uuid NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);

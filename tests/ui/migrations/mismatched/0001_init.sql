CREATE TABLE projects (
    id uuid NOT NULL,
    org_id uuid NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE tasks (
    id uuid NOT NULL,
    org_id uuid,
    project_id uuid NOT NULL REFERENCES projects_by_id (id),
    title text,
    estimate text NOT NULL,
    due timestamp,
    PRIMARY KEY (id)
);

CREATE TABLE comments (
    id uuid NOT NULL,
    org_id uuid NOT NULL,
    task_id uuid NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, task_id) REFERENCES tasks (org_id, id) ON DELETE CASCADE
);
